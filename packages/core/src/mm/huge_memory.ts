/**
 * Transparent huge page settings: which folio orders a fault may allocate.
 *
 * Models the policy half of `mm/huge_memory.c`: the global
 * `/sys/kernel/mm/transparent_hugepage/enabled` switch and the per-size
 * `hugepages-<size>kB/enabled` switches of multi-size THP (mTHP), and
 * `thp_vma_allowable_orders()`, which combines them with a VMA's `MADV_HUGEPAGE` /
 * `MADV_NOHUGEPAGE` flags. The PMD size defaults to `inherit` and every smaller size to `never`,
 * as in the kernel.
 *
 * @module
 */
import { ERRNO } from "../errno";
import type { Attribute } from "../fs/kernfs";
import { STORE_EINVAL } from "../fs/kernfs";
import type { Kernel } from "../kernel";
import { sysfsStreq } from "../lib/kstrtox";
import type { FolioList } from "../lib/list";
import { VM_HUGEPAGE, VM_NOHUGEPAGE } from "../include/mm_types";
import { PG_has_hwpoisoned, PG_head, PG_hugetlb, PG_hwpoison, PG_lru } from "../include/page_flags";

/** The global THP mode (`transparent_hugepage/enabled`). */
export type ThpMode = "always" | "madvise" | "never";
/** A per-size mTHP mode (`hugepages-<size>kB/enabled`). */
export type MthpMode = "always" | "inherit" | "madvise" | "never";

const THP_MODES: readonly ThpMode[] = ["always", "madvise", "never"];
const MTHP_MODES: readonly MthpMode[] = ["always", "inherit", "madvise", "never"];

/** Renders a choice list with the current one in brackets, as sysfs does. */
const showChoice = (modes: readonly string[], current: string): string =>
  `${modes.map((m) => (m === current ? `[${m}]` : m)).join(" ")}\n`;

/** One kernel's THP policy. */
export class ThpSettings {
  /** The global mode. */
  enabled: ThpMode;
  /** Mode of each mTHP order, from 2 up to the PMD order (`huge_anon_orders_*`). */
  readonly orderModes = new Map<number, MthpMode>();

  constructor(
    readonly pageSize: number,
    readonly pmdOrder: number,
    enabled: ThpMode,
  ) {
    this.enabled = enabled;
    for (let order = 2; order <= pmdOrder; order++) {
      this.orderModes.set(order, order === pmdOrder ? "inherit" : "never");
    }
  }

  /** The `hugepages-<size>kB` directory name of an order. */
  sizeName(order: number): string {
    return `hugepages-${(this.pageSize << order) / 1024}kB`;
  }

  /**
   * The folio orders a fault in a VMA with `vmFlags` may use, largest first; empty when only base
   * pages are allowed. Models `thp_vma_allowable_orders()`.
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

  /** The sysfs attributes: `enabled`, and `hugepages-<size>kB/enabled` for each order. */
  attributes(): Record<string, Record<string, Attribute>> {
    const dirs: Record<string, Record<string, Attribute>> = {
      "": {
        enabled: {
          mode: 0o644,
          show: () => showChoice(THP_MODES, this.enabled),
          store: (text) => {
            const mode = THP_MODES.find((m) => sysfsStreq(text, m));
            if (!mode) return STORE_EINVAL;
            this.enabled = mode;
            return text.length;
          },
        },
      },
    };
    for (const order of this.orderModes.keys()) {
      dirs[this.sizeName(order)] = {
        enabled: {
          mode: 0o644,
          show: () => showChoice(MTHP_MODES, this.orderModes.get(order)!),
          store: (text) => {
            const mode = MTHP_MODES.find((m) => sysfsStreq(text, m));
            if (!mode) return STORE_EINVAL;
            this.orderModes.set(order, mode);
            return text.length;
          },
        },
      };
    }
    return dirs;
  }
}

/**
 * Splits an isolated large folio into order-0 folios and puts them all on `list`, head first.
 * Models `split_huge_page_to_list_to_order(…, 0)` on a folio the caller isolated (holding one
 * extra reference): mappings stay in place, each page keeps its own mapcount and gets one
 * reference per mapping, one per page-cache entry and the caller's isolation reference.
 * Returns 0, `-EAGAIN` when someone else holds a reference (a pin), or `-EBUSY` for hugetlb.
 */
export const splitFolio = (k: Kernel, head: number, list: FolioList): number => {
  const m = k.memmap;
  if (m.test(head, PG_hugetlb)) return -ERRNO.EBUSY;
  const nr = m.folioNrPages(head);
  const mapping = m.mapping[head]!;
  const cacheRefs = mapping > 0 ? nr : 0;
  if (m.refcount[head] !== m.folioMapcount(head) + cacheRefs + 1) return -ERRNO.EAGAIN;
  const flags = m.flags[head]! & ~(PG_head | PG_has_hwpoisoned | PG_lru | PG_hwpoison);
  const index = m.index[head]!;
  const cache = mapping > 0 ? k.addressSpaces.get(mapping) : undefined;
  for (let i = 0; i < nr; i++) {
    const page = head + i;
    m.compoundHead[page] = 0;
    m.order[page] = 0;
    m.flags[page] = flags | (m.flags[page]! & PG_hwpoison);
    m.mapping[page] = mapping;
    m.index[page] = index + i;
    m.refcount[page] = m.mapcount[page]! + (mapping > 0 ? 1 : 0) + 1;
    cache?.pages.set(index + i, page);
    if (i === 0) list.moveTail(page);
    else list.addTail(page);
  }
  if (cache) cache.nrFolios += nr - 1;
  k.vmstat.count("thp_split_page");
  return 0;
};
