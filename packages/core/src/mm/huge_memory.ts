/**
 * Splitting transparent huge pages.
 *
 * Models `split_huge_page_to_list_to_order()` of `mm/huge_memory.c` on an isolated folio. The THP
 * policy switches are in `include/huge_mm.ts`.
 *
 * @module
 */
import { ERRNO } from "../errno";
import type { Kernel } from "../include/kernel";
import { PG_has_hwpoisoned, PG_head, PG_hugetlb, PG_hwpoison, PG_lru } from "../include/page_flags";
import type { FolioList } from "../lib/list";

/**
 * Splits an isolated large folio into order-0 folios and puts them all on `list`, head first.
 * Models `split_huge_page_to_list_to_order(…, 0)` on a folio the caller isolated (holding one
 * extra reference): mappings stay in place, each page keeps its own mapcount and gets one
 * reference per mapping, one per page-cache entry and the caller's isolation reference.
 * Returns 0, `-EAGAIN` when someone else holds a reference (a pin), or `-EBUSY` for hugetlb.
 * Counts the split, or its failure, as `__folio_split()` does (PMD size in `/proc/vmstat`, every
 * size in its `hugepages-<size>kB/stats/`).
 */
export const splitFolio = (k: Kernel, head: number, list: FolioList): number => {
  const m = k.memmap;
  if (m.test(head, PG_hugetlb)) return -ERRNO.EBUSY;
  const nr = m.folioNrPages(head);
  const mapping = m.mapping[head]!;
  const cacheRefs = mapping > 0 ? nr : 0;
  const order = m.folioOrder(head);
  if (m.refcount[head] !== m.folioMapcount(head) + cacheRefs + 1) {
    countSplit(k, order, false);
    return -ERRNO.EAGAIN;
  }
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
  countSplit(k, order, true);
  return 0;
};

/**
 * Counts a split of a folio of `order`, as the end of `__folio_split()` (`mm/huge_memory.c`)
 * does: `thp_split_page` or `thp_split_page_failed` in `/proc/vmstat` for a PMD-sized folio only,
 * `split` or `split_failed` in the folio size's mTHP statistics for every order.
 */
const countSplit = (k: Kernel, order: number, ok: boolean): void => {
  if (order >= k.pmdOrder) k.vmstat.count(ok ? "thp_split_page" : "thp_split_page_failed");
  k.thp.countMthpStat(order, ok ? "split" : "split_failed");
};

/**
 * Creates `/sys/kernel/mm/transparent_hugepage/` with `enabled` and a `hugepages-<size>kB/`
 * directory per mTHP size (`hugepage_init_sysfs()`, `mm/huge_memory.c`).
 */
export const hugepageInitSysfs = (k: Kernel): void => {
  for (const [dir, attrs] of Object.entries(k.thp.attributes())) {
    k.fs.addAttributes(`/sys/kernel/mm/transparent_hugepage/${dir}`, attrs);
  }
};
