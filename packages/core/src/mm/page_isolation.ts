/**
 * Page isolation: fencing a PFN range off from the allocator while its pages are moved out.
 *
 * Models `mm/page_isolation.c` (Linux 6.16) for its two users: memory offlining (the
 * {@link MEMORY_OFFLINE} flag) and `alloc_contig_range()` (no flag): `has_unmovable_pages()`,
 * `start_isolate_page_range()` (each pageblock to `MIGRATE_ISOLATE`, so nothing is allocated from
 * it and what is freed in it stays there), `undo_isolate_page_range()` and
 * `test_pages_isolated()`. The range lies on one node, in whole pageblocks.
 *
 * @module
 */
import { type ErrnoError, errno } from "../errno";
import type { Kernel } from "../include/kernel";
import { MIGRATE_ISOLATE, MIGRATE_MOVABLE } from "../include/mmzone";
import {
  PG_buddy,
  PG_hugetlb,
  PG_hwpoison,
  PG_lru,
  PG_movable_ops,
  PG_offline,
  PG_reserved,
} from "../include/page_flags";

/**
 * `MEMORY_OFFLINE` (`include/linux/page-isolation.h`): the isolation is for memory offlining, so
 * hwpoisoned and `PageOffline` pages do not stand in its way ({@link hasUnmovablePages},
 * {@link testPagesIsolated}). `alloc_contig_range()` isolates without it.
 *
 * @category Memory hotplug
 */
export const MEMORY_OFFLINE = 0x1;

/**
 * `has_unmovable_pages()` (`mm/page_isolation.c`): the first page of `[start, end)` that keeps
 * the range from being isolated, with the kernel's reason, or null. A page is fine when it is
 * free (in the buddy, or with no reference left), an LRU folio (pinned or not: migration finds
 * out), a hugetlb folio (x86-64 migrates both its huge page sizes:
 * `hugepage_migration_supported()`), or a `movable_ops` page (a balloon's); with
 * {@link MEMORY_OFFLINE} in `isolFlags` also a hwpoisoned or a `PageOffline` page. Anything else
 * (kernel memory, a reserved page such as the zero page) is unmovable.
 *
 * @category Memory hotplug
 */
export const hasUnmovablePages = (
  k: Kernel,
  start: number,
  end: number,
  isolFlags: number,
): { readonly pfn: number; readonly reason: string } | null => {
  const m = k.memmap;
  for (let pfn = start; pfn < end; pfn++) {
    const flags = m.flags[pfn]!;
    if (flags & PG_reserved) return { pfn, reason: "Reserved page" };
    if (flags & PG_buddy) {
      pfn += 2 ** m.order[pfn]! - 1;
      continue;
    }
    const head = m.folioOf(pfn);
    const headFlags = m.flags[head]!;
    if (headFlags & (PG_hugetlb | PG_lru | PG_movable_ops)) {
      pfn = head + m.folioNrPages(head) - 1;
      continue;
    }
    if (m.refcount[head] === 0) continue;
    if (isolFlags & MEMORY_OFFLINE && flags & (PG_hwpoison | PG_offline)) continue;
    return { pfn, reason: "unmovable page" };
  }
  return null;
};

/**
 * `start_isolate_page_range()` (`mm/page_isolation.c`): makes every pageblock of `[start, end)`
 * `MIGRATE_ISOLATE` (`set_migratetype_isolate()`), moving its free blocks to the isolated lists,
 * or fails with `EBUSY` and changes nothing: when a pageblock is already isolated (by
 * `alloc_contig_range()` or an offline, say) or holds an unmovable page
 * ({@link hasUnmovablePages} with `isolFlags`: {@link MEMORY_OFFLINE} or 0).
 *
 * @category Memory hotplug
 */
export const startIsolatePageRange = (
  k: Kernel,
  start: number,
  end: number,
  isolFlags: number,
): ErrnoError | null => {
  const zone = k.pageAlloc.zones[k.mem.pfnToNid(start)]!;
  const nr = 2 ** k.pageAlloc.pageblockOrder;
  for (let pfn = start; pfn < end; pfn += nr) {
    if (zone.pageblockMigratetype(pfn) === MIGRATE_ISOLATE)
      return errno("EBUSY", `pageblock at pfn ${pfn} is already isolated`);
  }
  const busy = hasUnmovablePages(k, start, end, isolFlags);
  if (busy) return errno("EBUSY", `pfn ${busy.pfn}: ${busy.reason}`);
  k.pageAlloc.setMigratetype(start, end - start, MIGRATE_ISOLATE);
  return null;
};

/**
 * `undo_isolate_page_range()` (`mm/page_isolation.c`): gives every pageblock of `[start, end)`
 * back the movable type (`unset_migratetype_isolate()`), its free blocks moving with it.
 *
 * @category Memory hotplug
 */
export const undoIsolatePageRange = (k: Kernel, start: number, end: number): void => {
  k.pageAlloc.setMigratetype(start, end - start, MIGRATE_MOVABLE);
};

/**
 * `test_pages_isolated()` (`mm/page_isolation.c`): -1 when every pageblock of `[start, end)` is
 * isolated and every page in it is free in the buddy allocator or, with {@link MEMORY_OFFLINE} in
 * `isolFlags`, hwpoisoned (held or not: a soft-offlined page keeps its reference for good) or a
 * `PageOffline` page nobody holds; otherwise the first PFN that is not (the kernel's `-EBUSY`).
 *
 * @category Memory hotplug
 */
export const testPagesIsolated = (
  k: Kernel,
  start: number,
  end: number,
  isolFlags: number,
): number => {
  const m = k.memmap;
  const zone = k.pageAlloc.zones[k.mem.pfnToNid(start)]!;
  const nr = 2 ** k.pageAlloc.pageblockOrder;
  for (let pfn = start; pfn < end; pfn += nr)
    if (zone.pageblockMigratetype(pfn) !== MIGRATE_ISOLATE) return pfn;
  for (let pfn = start; pfn < end; pfn++) {
    const flags = m.flags[pfn]!;
    if (flags & PG_buddy) {
      pfn += 2 ** m.order[pfn]! - 1;
      continue;
    }
    // Offlining: a hwpoisoned page may be held for good (soft offline keeps its reference): it
    // is skipped whatever its count; a PageOffline page only once its driver let go of it.
    if (isolFlags & MEMORY_OFFLINE) {
      if (flags & PG_hwpoison) continue;
      if (flags & PG_offline && m.refcount[pfn] === 0) continue;
    }
    if (k.trace.enabled)
      k.trace.emit({ event: "test_pages_isolated", startPfn: start, endPfn: end, finPfn: pfn });
    return pfn;
  }
  if (k.trace.enabled)
    k.trace.emit({ event: "test_pages_isolated", startPfn: start, endPfn: end, finPfn: end });
  return -1;
};
