/**
 * Transparent huge pages: the policy switches.
 *
 * Models `include/linux/huge_mm.h` (`thp_vma_allowable_orders()`, the `huge_anon_orders_*`
 * bitmaps) and the sysfs switches of `mm/huge_memory.c`:
 * `/sys/kernel/mm/transparent_hugepage/enabled` and the per-size
 * `hugepages-<size>kB/enabled`; the shmem switches of `mm/shmem.c` (`shmem_enabled`, the per-size
 * `hugepages-<size>kB/shmem_enabled`, `shmem_allowable_huge_orders()`); and the per-size statistics of `count_mthp_stat()` behind
 * `hugepages-<size>kB/stats/`. What a THP does when it is split is in `mm/huge_memory.ts`.
 *
 * @module
 */

import { errno } from "../errno";
import { kstrtoull, sysfsStreq } from "../lib/kstrtox";
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
 * The huge page policy of shared anonymous memory: the choice of
 * `/sys/kernel/mm/transparent_hugepage/shmem_enabled` (`shmem_huge`, `mm/shmem.c`), by the names
 * `shmem_format_huge()` prints. `deny` forces huge pages off for every mount, `force` on for
 * every mount (PMD size only); the default is `never`.
 *
 * @category Memory and folios
 */
export type ShmemHuge = "always" | "within_size" | "advise" | "never" | "deny" | "force";
/**
 * A per-size shmem mTHP mode: the choice of `hugepages-<size>kB/shmem_enabled`
 * (`thpsize_shmem_enabled_store()`, `mm/shmem.c`), kept in the `huge_shmem_orders_*` bitmaps.
 *
 * @category Memory and folios
 */
export type ShmemMthpMode = "always" | "inherit" | "within_size" | "advise" | "never";

/**
 * The per-size mTHP statistics the model counts, by their file names under
 * `hugepages-<size>kB/stats/`: the items of `enum mthp_stat_item` (`include/linux/huge_mm.h`)
 * this model produces, named as `DEFINE_MTHP_STAT_ATTR()` (`mm/huge_memory.c`) names their files,
 * in the kernel's order. Linux keeps these per size only; `/proc/vmstat` has no such items.
 * Each is an event count but `nr_anon` and `nr_anon_partially_mapped`, gauges: the anonymous
 * folios of that size that exist now, and those of them marked partially mapped on the deferred
 * split queue (Linux 6.12 and later, {@link ThpSettings.modMthpStat}).
 *
 * @category Tracing and statistics
 */
export const MTHP_STAT_ITEMS = [
  "anon_fault_alloc",
  "anon_fault_fallback",
  "shmem_alloc",
  "shmem_fallback",
  "split",
  "split_failed",
  "split_deferred",
  "nr_anon",
  "nr_anon_partially_mapped",
] as const;

/** The statistics only sizes anonymous memory can use show (`anon_stats_attrs`). */
const ANON_STAT_ITEMS: ReadonlySet<MthpStatItem> = new Set([
  "anon_fault_alloc",
  "anon_fault_fallback",
  "nr_anon",
  "nr_anon_partially_mapped",
]);

/**
 * One per-size mTHP statistic (`enum mthp_stat_item`, `include/linux/huge_mm.h`).
 *
 * @category Tracing and statistics
 */
export type MthpStatItem = (typeof MTHP_STAT_ITEMS)[number];

const THP_MODES: readonly ThpMode[] = ["always", "madvise", "never"];
const MTHP_MODES: readonly MthpMode[] = ["always", "inherit", "madvise", "never"];
const SHMEM_HUGE: readonly ShmemHuge[] = [
  "always",
  "within_size",
  "advise",
  "never",
  "deny",
  "force",
];
const SHMEM_MTHP_MODES: readonly ShmemMthpMode[] = [
  "always",
  "inherit",
  "within_size",
  "advise",
  "never",
];

/**
 * The huge zero folio (`huge_zero_folio` and `huge_zero_refcount`, `mm/huge_memory.c`): one
 * PMD-size folio of zeros, allocated on first use, that read faults map with a huge PMD. It is
 * not on the LRU and has no mapcount; `refcount` counts the address spaces that use it
 * (`MMF_HUGE_ZERO_PAGE`, {@link MmStruct.hugeZeroPage}) plus one that only the shrinker puts.
 *
 * @category Memory and folios
 */
export class HugeZeroFolio {
  /** The folio's head PFN, or -1 while none is allocated. */
  pfn = -1;
  /** `huge_zero_refcount`: 0 while none is allocated, else the users plus the shrinker's 1. */
  refcount = 0;
}

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
  /**
   * The shmem policy, `shmem_enabled` (`shmem_huge`, `mm/shmem.c`): `never` by default, as
   * without `transparent_hugepage_shmem=` on the command line.
   */
  shmemEnabled: ShmemHuge = "never";
  /**
   * Mode of each shmem folio order, from 1 up to the PMD order (`huge_shmem_orders_*`,
   * `THP_ORDERS_ALL_FILE_DEFAULT`): the PMD order inherits `shmem_enabled`, the others are
   * `never`, as `shmem_init()` sets them.
   */
  readonly shmemOrderModes = new Map<number, ShmemMthpMode>();
  /**
   * `transparent_hugepage/use_zero_page` (the `TRANSPARENT_HUGEPAGE_USE_ZERO_PAGE_FLAG` bit of
   * `transparent_hugepage_flags`, `mm/huge_memory.c`): whether a read fault that could map a PMD
   * THP maps the huge zero folio instead. On by default, as in Linux.
   */
  useZeroPage = true;
  /**
   * `transparent_hugepage/khugepaged/max_ptes_none` (`khugepaged_max_ptes_none`,
   * `mm/khugepaged.c`, Linux 6.16): how many zero-filled pages a PMD THP may hold and still count
   * as used. `HPAGE_PMD_NR - 1` (511 with 4 KiB pages) by default (`khugepaged_init()`), which
   * turns the underused-THP split off (`thp_underused()`). khugepaged itself is not modelled:
   * nothing collapses, and only the deferred split shrinker reads it.
   */
  maxPtesNone: number;
  /** `mthp_stats` (`mm/huge_memory.c`): one row of counters per order, 0 to the PMD order. */
  private readonly mthpStats: Float64Array[];

  constructor(
    readonly pageSize: number,
    readonly pmdOrder: number,
    enabled: ThpMode,
  ) {
    this.enabled = enabled;
    this.maxPtesNone = 2 ** pmdOrder - 1;
    this.mthpStats = Array.from(
      { length: pmdOrder + 1 },
      () => new Float64Array(MTHP_STAT_ITEMS.length),
    );
    for (let order = 2; order <= pmdOrder; order++) {
      this.orderModes.set(order, order === pmdOrder ? "inherit" : "never");
    }
    for (let order = 1; order <= pmdOrder; order++) {
      this.shmemOrderModes.set(order, order === pmdOrder ? "inherit" : "never");
    }
  }

  /**
   * Counts one event for folios of `order`: `count_mthp_stat()` (`include/linux/huge_mm.h`),
   * which ignores order 0 and orders above the PMD order.
   */
  countMthpStat(order: number, item: MthpStatItem): void {
    this.modMthpStat(order, item, 1);
  }

  /**
   * Adds `delta` to one statistic of folios of `order`: `mod_mthp_stat()`
   * (`include/linux/huge_mm.h`), as the gauge `nr_anon` is kept: +1 for a new anonymous large
   * folio (`folio_add_new_anon_rmap()`, `__folio_migrate_mapping()` for a migration's
   * destination), -1 when one is freed (`free_pages_prepare()`) or split (`__split_unmapped_folio()`).
   * Ignores order 0 and orders above the PMD order, and hugetlb folios are never counted.
   */
  modMthpStat(order: number, item: MthpStatItem, delta: number): void {
    if (order <= 0 || order > this.pmdOrder) return;
    this.mthpStats[order]![MTHP_STAT_ITEMS.indexOf(item)]! += delta;
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

  /** Whether every shmem order's mode is `never` or `inherit`. */
  private shmemOrdersNeverOrInherit(): boolean {
    for (const mode of this.shmemOrderModes.values())
      if (mode !== "never" && mode !== "inherit") return false;
    return true;
  }

  /** Whether the PMD order, and it alone, has its shmem mode `inherit`. */
  private shmemInheritsPmdOnly(): boolean {
    for (const [order, mode] of this.shmemOrderModes)
      if ((mode === "inherit") !== (order === this.pmdOrder)) return false;
    return true;
  }

  /**
   * The folio orders a fault on shared anonymous memory may use, largest first; empty when only
   * base pages are allowed. Models `shmem_allowable_huge_orders()` with
   * `shmem_huge_global_enabled()` (`mm/shmem.c`, Linux 6.16) for a VMA that `vma_is_anon_shmem()`:
   * `VM_NOHUGEPAGE` or `shmem_enabled` `deny` allow none; `force` allows the `inherit` orders;
   * otherwise the `always` orders, the `within_size` orders whose block ends inside the object,
   * the `advise` orders under `MADV_HUGEPAGE`, and the `inherit` orders when the global policy
   * allows the PMD size (`always`; `within_size` when a PMD block at `index` ends inside the
   * object; `advise` under `MADV_HUGEPAGE`).
   *
   * @param vmFlags - the VMA's flags
   * @param index - the page offset of the fault in the object
   * @param sizePages - the object's size (`i_size`) in pages
   */
  shmemAllowableOrders(vmFlags: number, index: number, sizePages: number): number[] {
    if (vmFlags & VM_NOHUGEPAGE || this.shmemEnabled === "deny") return [];
    // shmem_enabled `never` with no order `always`, `within_size` or `advise` (the boot
    // settings): no order is allowed, found without building the lists below.
    if (this.shmemEnabled === "never" && this.shmemOrdersNeverOrInherit()) return [];
    const modes = [...this.shmemOrderModes].sort((a, b) => b[0] - a[0]);
    const having = (wanted: ShmemMthpMode): number[] =>
      modes.filter(([, mode]) => mode === wanted).map(([order]) => order);
    if (this.shmemEnabled === "force") return having("inherit");
    // shmem_get_orders_within_size(): the orders from the largest whose naturally aligned block
    // holding `index` ends inside i_size.
    const withinSize = (orders: number[]): number[] => {
      const fits = orders.findIndex((o) => Math.ceil((index + 1) / 2 ** o) * 2 ** o <= sizePages);
      return fits < 0 ? [] : orders.slice(fits);
    };
    const madvised = (vmFlags & VM_HUGEPAGE) !== 0;
    const pmd = [this.pmdOrder];
    const globalOn =
      this.shmemEnabled === "always" ||
      (this.shmemEnabled === "within_size" && withinSize(pmd).length > 0) ||
      ((this.shmemEnabled === "within_size" || this.shmemEnabled === "advise") && madvised);
    const allowed = new Set([
      ...having("always"),
      ...withinSize(having("within_size")),
      ...(madvised ? having("advise") : []),
      ...(globalOn ? having("inherit") : []),
    ]);
    return modes.map(([order]) => order).filter((order) => allowed.has(order));
  }

  /**
   * The sysfs attributes: `enabled` and `shmem_enabled`; for each anonymous order (2 to the PMD
   * order) `hugepages-<size>kB/enabled`; for each file order (1 to the PMD order,
   * `THP_ORDERS_ALL_FILE_DEFAULT`) `hugepages-<size>kB/shmem_enabled` (`mm/shmem.c`); and the
   * read-only `hugepages-<size>kB/stats/<item>` files, the `anon_*` ones for anonymous orders only
   * (`any_stats_attr_grp`, `anon_stats_attr_grp`, `mm/huge_memory.c`).
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
    dirs[""]!.use_zero_page = {
      mode: 0o644,
      show: () => `${this.useZeroPage ? 1 : 0}\n`,
      // single_hugepage_flag_store(): kstrtoul() base 10, whose error it returns; above 1 is
      // EINVAL.
      store: (text, count) => {
        const value = kstrtoull(text, 10);
        if (typeof value !== "bigint") return value;
        if (value > 1n) return errno("EINVAL", `use_zero_page: ${value} is neither 0 nor 1`);
        this.useZeroPage = value === 1n;
        return count;
      },
    };
    // max_ptes_none_store() (mm/khugepaged.c): kstrtoul() base 10; any error of it, or a value
    // above HPAGE_PMD_NR - 1, is EINVAL.
    dirs.khugepaged = {
      max_ptes_none: {
        mode: 0o644,
        show: () => `${this.maxPtesNone}\n`,
        store: (text, count) => {
          const value = kstrtoull(text, 10);
          const max = 2 ** this.pmdOrder - 1;
          if (typeof value !== "bigint")
            return errno("EINVAL", `max_ptes_none: ${JSON.stringify(text)} is not a number`);
          if (value > BigInt(max))
            return errno("EINVAL", `max_ptes_none: ${value} is above HPAGE_PMD_NR - 1 (${max})`);
          this.maxPtesNone = Number(value);
          return count;
        },
      },
    };
    dirs[""]!.shmem_enabled = {
      mode: 0o644,
      show: () => showChoice(SHMEM_HUGE, this.shmemEnabled),
      store: (text, count) => {
        // shmem_enabled_store(): at most 15 bytes, one trailing newline dropped, then an exact
        // name (shmem_parse_huge()); `force` only while the PMD order alone inherits.
        if (count + 1 > 16) return STORE_EINVAL;
        const huge = SHMEM_HUGE.find((m) => m === text.replace(/\n$/, ""));
        if (!huge) return STORE_EINVAL;
        if (huge === "force" && !this.shmemInheritsPmdOnly()) return STORE_EINVAL;
        this.shmemEnabled = huge;
        return count;
      },
    };
    for (const order of this.shmemOrderModes.keys()) {
      dirs[this.sizeName(order)] = {
        shmem_enabled: {
          mode: 0o644,
          show: () => showChoice(SHMEM_MTHP_MODES, this.shmemOrderModes.get(order)!),
          store: (text, count) => {
            // thpsize_shmem_enabled_store(): `inherit` of a non-PMD order is refused while
            // shmem_enabled is `force`.
            const mode = SHMEM_MTHP_MODES.find((m) => sysfsStreq(text, m));
            if (!mode) return STORE_EINVAL;
            if (mode === "inherit" && this.shmemEnabled === "force" && order !== this.pmdOrder)
              return STORE_EINVAL;
            this.shmemOrderModes.set(order, mode);
            return count;
          },
        },
      };
    }
    for (const order of this.orderModes.keys()) {
      dirs[this.sizeName(order)]!.enabled = {
        mode: 0o644,
        show: () => showChoice(MTHP_MODES, this.orderModes.get(order)!),
        store: (text, count) => {
          const mode = MTHP_MODES.find((m) => sysfsStreq(text, m));
          if (!mode) return STORE_EINVAL;
          this.orderModes.set(order, mode);
          return count;
        },
      };
    }
    // The statistics of every size (`any_stats_attr_grp`), and the anonymous ones for the
    // sizes anonymous memory can use (`anon_stats_attr_grp`).
    for (const order of this.shmemOrderModes.keys()) {
      const stats: Record<string, Attribute> = {};
      for (const item of MTHP_STAT_ITEMS) {
        if (ANON_STAT_ITEMS.has(item) && !this.orderModes.has(order)) continue;
        stats[item] = { mode: 0o444, show: () => `${this.mthpStat(order, item)}\n` };
      }
      dirs[`${this.sizeName(order)}/stats`] = stats;
    }
    return dirs;
  }
}
