/**
 * Transparent huge pages: the policy switches.
 *
 * Models `include/linux/huge_mm.h` (`thp_vma_allowable_orders()`, the `huge_anon_orders_*`
 * bitmaps) and the sysfs switches of `mm/huge_memory.c`:
 * `/sys/kernel/mm/transparent_hugepage/enabled` and the per-size
 * `hugepages-<size>kB/enabled`, and the per-size statistics of `count_mthp_stat()` behind
 * `hugepages-<size>kB/stats/`. What a THP does when it is split is in `mm/huge_memory.ts`.
 *
 * @module
 */

import { sysfsStreq } from "../lib/kstrtox";
import { type Attribute, STORE_EINVAL } from "./kernfs";
import { VM_HUGEPAGE, VM_NOHUGEPAGE } from "./mm_types";

/**
 * The global THP mode: the choice of `/sys/kernel/mm/transparent_hugepage/enabled`
 * (`mm/huge_memory.c`), kept in the `TRANSPARENT_HUGEPAGE_FLAG` bits of
 * `transparent_hugepage_flags` (`include/linux/huge_mm.h`).
 *
 * @category Memory and folios
 */
export type ThpMode = "always" | "madvise" | "never";
/**
 * A per-size mTHP mode: the choice of `hugepages-<size>kB/enabled` (`mm/huge_memory.c`), kept
 * in the `huge_anon_orders_*` bitmaps.
 *
 * @category Memory and folios
 */
export type MthpMode = "always" | "inherit" | "madvise" | "never";

/**
 * The per-size mTHP statistics the model counts, by their file names under
 * `hugepages-<size>kB/stats/`: the items of `enum mthp_stat_item` (`include/linux/huge_mm.h`)
 * this model produces, named as `DEFINE_MTHP_STAT_ATTR()` (`mm/huge_memory.c`) names their files,
 * in the kernel's order. Linux keeps these per size only; `/proc/vmstat` has no such items.
 *
 * @category Tracing and statistics
 */
export const MTHP_STAT_ITEMS = [
  "anon_fault_alloc",
  "anon_fault_fallback",
  "split",
  "split_failed",
] as const;

/**
 * One per-size mTHP statistic (`enum mthp_stat_item`, `include/linux/huge_mm.h`).
 *
 * @category Tracing and statistics
 */
export type MthpStatItem = (typeof MTHP_STAT_ITEMS)[number];

const THP_MODES: readonly ThpMode[] = ["always", "madvise", "never"];
const MTHP_MODES: readonly MthpMode[] = ["always", "inherit", "madvise", "never"];

/** Renders a choice list with the current one in brackets, as sysfs does. */
const showChoice = (modes: readonly string[], current: string): string =>
  `${modes.map((m) => (m === current ? `[${m}]` : m)).join(" ")}\n`;

/**
 * One kernel's THP policy. Models the THP switches of `mm/huge_memory.c`
 * (`transparent_hugepage_flags`, `huge_anon_orders_always` / `_madvise` / `_inherit`) and
 * `thp_vma_allowable_orders()` (`include/linux/huge_mm.h`).
 *
 * @category Memory and folios
 */
export class ThpSettings {
  /** The global mode. */
  enabled: ThpMode;
  /**
   * Mode of each mTHP order, from 2 up to the PMD order (`huge_anon_orders_*`, `mm/huge_memory.c`).
   */
  readonly orderModes = new Map<number, MthpMode>();
  /** `mthp_stats` (`mm/huge_memory.c`): one row of counters per order, 0 to the PMD order. */
  private readonly mthpStats: Float64Array[];

  constructor(
    readonly pageSize: number,
    readonly pmdOrder: number,
    enabled: ThpMode,
  ) {
    this.enabled = enabled;
    this.mthpStats = Array.from(
      { length: pmdOrder + 1 },
      () => new Float64Array(MTHP_STAT_ITEMS.length),
    );
    for (let order = 2; order <= pmdOrder; order++) {
      this.orderModes.set(order, order === pmdOrder ? "inherit" : "never");
    }
  }

  /**
   * Counts one event for folios of `order`: `count_mthp_stat()` (`include/linux/huge_mm.h`),
   * which ignores order 0 and orders above the PMD order.
   */
  countMthpStat(order: number, item: MthpStatItem): void {
    if (order <= 0 || order > this.pmdOrder) return;
    this.mthpStats[order]![MTHP_STAT_ITEMS.indexOf(item)]!++;
  }

  /**
   * The value of one per-size statistic, as `hugepages-<size>kB/stats/<item>` shows it
   * (`sum_mthp_stat()`, `mm/huge_memory.c`); 0 for an order without statistics.
   */
  mthpStat(order: number, item: MthpStatItem): number {
    if (order <= 0 || order > this.pmdOrder) return 0;
    return this.mthpStats[order]![MTHP_STAT_ITEMS.indexOf(item)]!;
  }

  /** The `hugepages-<size>kB` directory name of an order. */
  sizeName(order: number): string {
    return `hugepages-${(this.pageSize << order) / 1024}kB`;
  }

  /**
   * The folio orders a fault in a VMA with `vmFlags` may use, largest first; empty when only base
   * pages are allowed. Models `thp_vma_allowable_orders()` (`include/linux/huge_mm.h`).
   */
  allowableOrders(vmFlags: number): number[] {
    if (vmFlags & VM_NOHUGEPAGE) return [];
    const madvised = (vmFlags & VM_HUGEPAGE) !== 0;
    const globalOn = this.enabled === "always" || (this.enabled === "madvise" && madvised);
    const orders: number[] = [];
    for (let order = this.pmdOrder; order >= 2; order--) {
      const mode = this.orderModes.get(order)!;
      if (
        mode === "always" ||
        (mode === "madvise" && madvised) ||
        (mode === "inherit" && globalOn)
      ) {
        orders.push(order);
      }
    }
    return orders;
  }

  /**
   * The sysfs attributes: `enabled`, and for each order `hugepages-<size>kB/enabled` and the
   * read-only `hugepages-<size>kB/stats/<item>` files (`stats_attr_grp`, `mm/huge_memory.c`).
   */
  attributes(): Record<string, Record<string, Attribute>> {
    const dirs: Record<string, Record<string, Attribute>> = {
      "": {
        enabled: {
          mode: 0o644,
          show: () => showChoice(THP_MODES, this.enabled),
          store: (text, count) => {
            const mode = THP_MODES.find((m) => sysfsStreq(text, m));
            if (!mode) return STORE_EINVAL;
            this.enabled = mode;
            return count;
          },
        },
      },
    };
    for (const order of this.orderModes.keys()) {
      dirs[this.sizeName(order)] = {
        enabled: {
          mode: 0o644,
          show: () => showChoice(MTHP_MODES, this.orderModes.get(order)!),
          store: (text, count) => {
            const mode = MTHP_MODES.find((m) => sysfsStreq(text, m));
            if (!mode) return STORE_EINVAL;
            this.orderModes.set(order, mode);
            return count;
          },
        },
      };
      const stats: Record<string, Attribute> = {};
      for (const item of MTHP_STAT_ITEMS) {
        stats[item] = { mode: 0o444, show: () => `${this.mthpStat(order, item)}\n` };
      }
      dirs[`${this.sizeName(order)}/stats`] = stats;
    }
    return dirs;
  }
}
