/**
 * Transparent huge pages mapped by PMDs, and splitting them.
 *
 * Models `mm/huge_memory.c`: splitting a huge PMD into the 512 PTEs of a PTE-mapped THP
 * (`__split_huge_pmd()`, `split_huge_pmd_address()`, `vma_adjust_trans_huge()`; a file VMA's
 * PMD is zapped instead, and the huge zero folio's becomes 512 PTEs of the zero page), zapping one
 * (`zap_huge_pmd()`), the huge zero folio (`mm_get_huge_zero_folio()`, its shrinker), and
 * `split_huge_page_to_list_to_order()` on an isolated folio. Mapping a THP with a PMD at fault
 * time (`do_huge_pmd_anonymous_page()`, `do_huge_pmd_wp_page()`, `do_set_pmd()`) is in
 * `mm/memory.ts` with the other faults; a PMD's migration entry (`set_pmd_migration_entry()`,
 * `remove_migration_pmd()`) in `mm/rmap.ts` with the walk that calls it. The THP policy switches
 * are in `include/huge_mm.ts`.
 *
 * @module
 */
import { ERRNO } from "../errno";
import { __GFP_MOVABLE, __GFP_ZERO, GFP_TRANSHUGE } from "../include/gfp";
import type { Kernel } from "../include/kernel";
import { type MmStruct, VM_LOCKED, type Vma } from "../include/mm_types";
import {
  PG_has_hwpoisoned,
  PG_head,
  PG_hugetlb,
  PG_hwpoison,
  PG_lru,
  PG_mlocked,
  PG_partially_mapped,
  PG_unevictable,
} from "../include/page_flags";
import {
  isMigrationEntry,
  mkMigrationEntry,
  mkPte,
  PTE_DIRTY,
  PTE_SPECIAL,
  PTE_WRITE,
  PTE_YOUNG,
  pteDirty,
  ptePfn,
  ptePresent,
  pteSpecial,
  pteWrite,
  pteYoung,
} from "../include/pgtable";
import { DEFAULT_SEEKS, SHRINK_STOP, type Shrinker } from "../include/shrinker";
import type { FolioList } from "../lib/list";
import { folioMarkDirty, folioTrylock, folioUnlock } from "./filemap";
import { mlockVmaFolio, munlockVmaFolio } from "./mlock";
import { rmapWalkPmds, rmapWalkSlots, tryToUnmap } from "./rmap";
import { folioPut } from "./swap";

/** `HPAGE_PMD_SIZE` (`include/linux/huge_mm.h`): the bytes one huge PMD maps. */
export const hpagePmdSize = (k: Kernel): number => k.mem.pageSize * (1 << k.pmdOrder);

/**
 * `__split_huge_pmd_locked()` (`mm/huge_memory.c`, Linux 6.16): replaces the huge PMD at `haddr`
 * of `vma` by the PTEs of a page table, one per page of the folio, with the PMD's write and dirty
 * bits. A present PMD's entire mapcount becomes a mapcount on each page, and its one reference 512
 * (one per PTE mapping); a PMD migration entry becomes one migration entry per page. The folio
 * stays a large folio (a PTE-mapped THP). The huge zero folio's PMD becomes 512 read-only PTEs of
 * the zero page (`__split_huge_zero_page_pmd()`). The PTEs go into the page table deposited with
 * the huge PMD (`pgtable_trans_huge_withdrawn()`), which becomes the range's PTE table
 * (`MmStruct.pteTables`). In a file or shmem VMA (not `vma_is_anonymous()`) the PMD is just
 * zapped, leaving it none: the folio loses the mapping and its reference (a migration entry is
 * dropped), and faults map its pages again by PTE. Either way a present
 * PMD's mapping goes through `folio_remove_rmap_pmd()`, which munlocks the folio when `vma` is
 * `VM_LOCKED` (`munlock_vma_folio()`: a folio mapped by PTEs is not known to be mapped whole, and
 * reclaim or a split restores the mlock). Counts `thp_split_pmd`. Nothing happens without a huge
 * PMD there.
 */
export const splitHugePmd = (k: Kernel, vma: Vma, haddr: number): void => {
  const pmd = vma.pmds.get(haddr);
  if (pmd === undefined) return;
  const m = k.memmap;
  const nr = 1 << k.pmdOrder;
  const vpn = haddr / k.mem.pageSize;
  const first = vpn - vma.start / k.mem.pageSize;
  const head = ptePfn(pmd);
  k.vmstat.count("thp_split_pmd");
  vma.pmds.delete(haddr);
  if (vma.mapping) {
    vma.mm.tlb.flushRange(vpn, nr);
    if (isMigrationEntry(pmd)) return;
    if (pteDirty(pmd)) folioMarkDirty(k, head);
    m.entireMapcount[head]!--;
    m.folioSubLargeMapcount(head, 1, vma.mm.id);
    munlockVmaFolio(k, vma, head);
    folioPut(k, head);
    return;
  }
  vma.mm.pteTables.add(haddr);
  if (isHugeZeroPmd(k, pmd)) {
    for (let i = 0; i < nr; i++) vma.ptes[first + i] = mkPte(k.zeroPfn, PTE_SPECIAL | PTE_YOUNG);
    vma.mm.tlb.flushRange(vpn, nr);
    return;
  }
  if (isMigrationEntry(pmd)) {
    for (let i = 0; i < nr; i++)
      vma.ptes[first + i] = mkMigrationEntry(head + i, pteWrite(pmd), pteYoung(pmd), pteDirty(pmd));
    return;
  }
  // The PTEs keep the PMD's young bit (`pte_mkold()` only where the PMD was old).
  const bits = pmd & (PTE_WRITE | PTE_DIRTY | PTE_YOUNG);
  for (let i = 0; i < nr; i++) {
    vma.ptes[first + i] = mkPte(head + i, bits);
    m.mapcount[head + i]!++;
  }
  // __split_huge_pmd_locked(): the PTEs' rmap is added before the PMD's is removed.
  m.folioAddLargeMapcount(head, nr, vma.mm.id);
  m.entireMapcount[head]!--;
  m.folioSubLargeMapcount(head, 1, vma.mm.id);
  m.refcount[head]! += nr - 1;
  munlockVmaFolio(k, vma, head);
  vma.mm.tlb.flushRange(vpn, nr);
};

/**
 * `is_huge_zero_pmd()` (`include/linux/huge_mm.h`): whether a huge PMD maps the huge zero folio.
 *
 * @category Page tables
 */
export const isHugeZeroPmd = (k: Kernel, pmd: number): boolean =>
  ptePresent(pmd) && pteSpecial(pmd) && ptePfn(pmd) === k.hugeZero.pfn;

/**
 * The allocation `get_huge_zero_folio()` makes, as its caller's context makes it: given the GFP
 * flags and the order, the head PFN of the block, -1 when none could be had, or null when the
 * allocation stopped before its slow path to let the caller compact or reclaim directly (a fault
 * then returns `VM_FAULT_RETRY` and tries again).
 *
 * @category Page tables
 */
export type HugeZeroFolioAlloc = (gfp: number, order: number) => number | null;

/**
 * `get_huge_zero_folio()` (`mm/huge_memory.c`, Linux 6.16): takes a reference to the huge zero
 * folio, allocating it first when there is none: a zeroed PMD-size folio that is not movable,
 * `folio_alloc((GFP_TRANSHUGE | __GFP_ZERO) & ~__GFP_MOVABLE, HPAGE_PMD_ORDER)` through `alloc`,
 * counted as `thp_zero_page_alloc`, or `thp_zero_page_alloc_failed` when none could be had (false
 * then). `GFP_TRANSHUGE` carries `__GFP_DIRECT_RECLAIM`, so a fault's allocation may compact
 * directly before it fails; while `alloc` stops for that (null) nothing is counted and the result
 * is null. A new folio starts with two references, the caller's and the one only the shrinker
 * puts.
 */
const getHugeZeroFolio = (k: Kernel, alloc: HugeZeroFolioAlloc): boolean | null => {
  const zero = k.hugeZero;
  if (zero.refcount > 0) {
    zero.refcount++;
    return true;
  }
  const pfn = alloc((GFP_TRANSHUGE | __GFP_ZERO) & ~__GFP_MOVABLE, k.pmdOrder);
  if (pfn === null) return null;
  if (pfn < 0) {
    k.vmstat.count("thp_zero_page_alloc_failed");
    return false;
  }
  k.vmstat.count("thp_zero_page_alloc");
  zero.pfn = pfn;
  zero.refcount = 2;
  return true;
};

/**
 * `mm_get_huge_zero_folio()` (`mm/huge_memory.c`): the huge zero folio for an address space,
 * which takes one reference the first time (`MMF_HUGE_ZERO_PAGE`) and keeps it until
 * {@link mmPutHugeZeroFolio}. When the folio must be allocated, `alloc` allocates it (by default
 * the fast path on node 0: the caller knows the folio exists). Returns its head PFN, -1 when it
 * could not be allocated, or null when `alloc` stopped for direct compaction.
 */
export const mmGetHugeZeroFolio = (
  k: Kernel,
  mm: MmStruct,
  alloc: HugeZeroFolioAlloc = (gfp, order) => k.pageAlloc.allocPages(0, order, gfp, null),
): number | null => {
  if (mm.hugeZeroPage) return k.hugeZero.pfn;
  const got = getHugeZeroFolio(k, alloc);
  if (got !== true) return got === null ? null : -1;
  mm.hugeZeroPage = true;
  return k.hugeZero.pfn;
};

/**
 * `mm_put_huge_zero_folio()` (`mm/huge_memory.c`), when an address space is torn down
 * (`__mmput()`): puts its reference to the huge zero folio, if it took one. The folio itself
 * stays until the shrinker frees it ({@link shrinkHugeZeroFolioScan}).
 */
export const mmPutHugeZeroFolio = (k: Kernel, mm: MmStruct): void => {
  if (!mm.hugeZeroPage) return;
  mm.hugeZeroPage = false;
  k.hugeZero.refcount--;
};

/**
 * `shrink_huge_zero_folio_count()` (`mm/huge_memory.c`): the pages the huge zero folio's shrinker
 * could free, `HPAGE_PMD_NR` while only the shrinker's reference is left, else 0.
 *
 * @category Testing
 */
export const shrinkHugeZeroFolioCount = (k: Kernel): number =>
  k.hugeZero.refcount === 1 ? 1 << k.pmdOrder : 0;

/**
 * `shrink_huge_zero_folio_scan()` (`mm/huge_memory.c`): frees the huge zero folio when only the
 * shrinker's reference is left, returning the pages freed (`HPAGE_PMD_NR`), else 0. The next read
 * fault that wants it allocates it again. The model's reclaim runs no shrinkers, so a test that
 * counts the free pages after every user of the folio is gone runs this first, as memory pressure
 * (or `drop_caches`) would on Linux.
 *
 * @category Testing
 * @example
 * ```ts
 * import { Kernel, MAP_ANONYMOUS, MAP_PRIVATE } from "@migrate-offload/core";
 * import { shrinkHugeZeroFolioScan } from "@migrate-offload/core/testing";
 * import { Effect } from "effect";
 *
 * const kernel = await Effect.runPromise(Kernel.boot({ nodes: ["64M"], thp: { enabled: "always" } }));
 * const task = await Effect.runPromise(kernel.createProcess());
 * const addr = await Effect.runPromise(
 *   task.mmap(2 * 1024 * 1024, { flags: MAP_PRIVATE | MAP_ANONYMOUS }),
 * );
 * await Effect.runPromise(task.read(addr, 1)); // maps the huge zero folio
 * await Effect.runPromise(task.exit());
 * console.log(shrinkHugeZeroFolioScan(kernel)); // 512: the pages it freed
 * await Effect.runPromise(kernel.shutdown());
 * ```
 */
export const shrinkHugeZeroFolioScan = (k: Kernel): number => {
  const zero = k.hugeZero;
  if (zero.refcount !== 1) return 0;
  zero.refcount = 0;
  const pfn = zero.pfn;
  zero.pfn = -1;
  folioPut(k, pfn);
  return 1 << k.pmdOrder;
};

/**
 * `split_huge_pmd_address()` (`mm/huge_memory.c`): splits the huge PMD that covers `address` of
 * `vma`, if there is one.
 */
export const splitHugePmdAddress = (k: Kernel, vma: Vma, address: number): void => {
  const size = hpagePmdSize(k);
  splitHugePmd(k, vma, address - (address % size));
};

/**
 * `vma_adjust_trans_huge()` (`mm/huge_memory.c`): before `vma` is cut at `address`, splits the
 * huge PMD that the cut would go through; a cut at a PMD boundary leaves every huge PMD whole.
 */
export const vmaAdjustTransHuge = (k: Kernel, vma: Vma, address: number): void => {
  if (vma.pmds.size > 0 && address % hpagePmdSize(k) !== 0) splitHugePmdAddress(k, vma, address);
};

/**
 * `zap_huge_pmd()` (`mm/huge_memory.c`): clears the huge PMD at `haddr`. For a present one it
 * drops the entire mapcount, moves the dirty bit to a file folio, and returns the folio whose
 * reference the caller puts after the TLB flush; a migration entry is just cleared (the migration
 * that owns the folio finds nothing to restore), and so is the huge zero folio's PMD, which holds
 * no reference: -1 is returned for both.
 */
export const zapHugePmd = (k: Kernel, vma: Vma, haddr: number): number => {
  const pmd = vma.pmds.get(haddr)!;
  vma.pmds.delete(haddr);
  if (isMigrationEntry(pmd) || isHugeZeroPmd(k, pmd)) return -1;
  const m = k.memmap;
  const head = ptePfn(pmd);
  m.entireMapcount[head]!--;
  m.folioSubLargeMapcount(head, 1, vma.mm.id);
  if (pteDirty(pmd) && m.mapping[head]! > 0) folioMarkDirty(k, head);
  return head;
};

/**
 * Splits a large folio into order-0 folios. Models `split_huge_page_to_list_to_order(…, list, 0)`
 * (`__folio_split()`, `mm/huge_memory.c`, Linux 6.16) on a folio on which the caller holds one
 * extra reference: every huge PMD that maps it is split into PTEs first (the
 * `TTU_SPLIT_HUGE_PMD` of `unmap_folio()`, counting `thp_split_pmd`; a file or shmem VMA's PMD is
 * zapped). An anonymous folio's mappings then stay in place (Linux turns them into migration
 * entries and back, `remap_page()`); a page-cache folio is unmapped (`try_to_unmap()`), its pages
 * faulted back on demand, as `unmap_folio()` leaves file pages. Each page keeps its own mapcount
 * and gets one reference per mapping, one per page-cache entry and one standing for the caller's.
 *
 * Mlock follows the kernel's rmap calls: unmapping munlocks the folio once per PTE and per PMD
 * that a `VM_LOCKED` VMA mapped it by (`munlock_vma_folio()`), so a folio mlocked once loses
 * `PG_mlocked` before it is split; each new folio takes the old one's `PG_mlocked` and
 * `PG_unevictable` as they are then (`__split_folio_to_order()`), and remapping an anonymous
 * folio's pages mlocks each one a `VM_LOCKED` VMA maps again (`mlock_vma_folio()` from
 * `folio_add_anon_rmap_pte()`), counting `unevictable_pgs_mlocked` and, on the LRU,
 * `unevictable_pgs_culled`. Remapping maps a page that holds only zeroes to the shared zero page
 * instead, outside locked VMAs (`RMP_USE_SHARED_ZEROPAGE`, {@link tryToMapUnusedToZeropage}); a
 * page left with no mapping is freed by whoever drops the last reference.
 *
 * With a `list` (a folio the caller isolated) the new folios go on it, head first, off the LRU
 * (`lru_add_split_folio()` with a list); `folio_putback_lru()` later sets each one's
 * `mlock_count` to 0. With null the folio must be on the LRU and is split in place: the head stays
 * where it is with its `mlock_count`, and each other page goes on the LRU beside it, on the same
 * list, an unevictable one with an `mlock_count` of 0.
 *
 * Returns 0, `-EAGAIN` when someone else holds a reference (a pin), or `-EBUSY` for hugetlb.
 * Counts the split, or its failure, as `__folio_split()` does (PMD size in `/proc/vmstat`, every
 * size in its `hugepages-<size>kB/stats/`).
 */
export const splitFolio = (k: Kernel, head: number, list: FolioList | null): number => {
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
  const index = m.index[head]!;
  const anon = mapping < 0;
  // try_to_migrate_one(): folio_remove_rmap_pte() for each PTE of an anonymous folio.
  const eachPte = (visit: (vma: Vma, page: number, slot: number) => void) =>
    rmapWalkSlots(k, mapping, index, nr, (vma, slot, i) => {
      const pte = vma.ptes[slot]!;
      if (ptePresent(pte) && ptePfn(pte) === head + i) visit(vma, head + i, slot);
    });
  if (anon) eachPte((vma) => munlockVmaFolio(k, vma, head));
  rmapWalkPmds(k, mapping, index, nr, (vma, haddr, pmd) => {
    if (ptePfn(pmd) === head) splitHugePmd(k, vma, haddr);
  });
  if (mapping > 0) tryToUnmap(k, head, 0);
  // __folio_split(): off the deferred split queue, no longer partially mapped;
  // __split_unmapped_folio(): the old size loses an anonymous folio (the new ones are small, which
  // nr_anon does not count).
  k.deferredSplitQueue.delete(head);
  if (anon) k.thp.modMthpStat(order, "nr_anon", -1);
  if (m.test(head, PG_partially_mapped)) k.thp.modMthpStat(order, "nr_anon_partially_mapped", -1);
  const flags =
    m.flags[head]! & ~(PG_head | PG_has_hwpoisoned | PG_lru | PG_hwpoison | PG_partially_mapped);
  // lru_add_split_folio(): in place, each new folio goes on the LRU beside the head.
  const onLru = list ? 0 : PG_lru;
  const unevictable = (flags & PG_unevictable) !== 0;
  // The new folios are small: none keeps MM id slots (the kernel's were freed by the unmap).
  m.folioResetMmIds(head);
  // __split_folio_to_order(): every new folio takes the old one's last cpupid.
  const cpupid = m.lastCpupid[head]!;
  const cache = mapping > 0 ? k.addressSpaces.get(mapping) : undefined;
  for (let i = 0; i < nr; i++) {
    const page = head + i;
    m.compoundHead[page] = 0;
    m.lastCpupid[page] = cpupid;
    m.order[page] = 0;
    m.flags[page] = flags | onLru | (m.flags[page]! & PG_hwpoison);
    m.mapping[page] = mapping;
    m.index[page] = index + i;
    m.refcount[page] = m.mapcount[page]! + (mapping > 0 ? 1 : 0) + 1;
    cache?.pages.set(index + i, page);
    if (i === 0) {
      list?.moveTail(page);
      continue;
    }
    if (list) {
      list.addTail(page);
      continue;
    }
    // list_add_tail(&new_folio->lru, &folio->lru): just before the head, on its list.
    m.lru.insertBetween(page, m.lru.prev[head]! - 1, head);
    if (unevictable) m.mlockCount[page] = 0;
  }
  if (cache) cache.nrFolios += nr - 1;
  // remap_page() with RMP_USE_SHARED_ZEROPAGE: an anonymous folio's pages are mapped again, each
  // now a small folio, or the shared zero page where one holds only zeroes.
  if (anon) {
    eachPte((vma, page, slot) => {
      if (!tryToMapUnusedToZeropage(k, vma, page, slot)) mlockVmaFolio(k, vma, page);
    });
  }
  countSplit(k, order, true);
  return 0;
};

/** The page holds only zero bytes (`!memchr_inv(kaddr, 0, PAGE_SIZE)`). */
const pageZeroFilled = (k: Kernel, page: number): boolean => {
  const bytes = k.mem.bytes(page);
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 2);
  for (let i = 0; i < words.length; i++) if (words[i] !== 0) return false;
  return true;
};

/**
 * `try_to_map_unused_to_zeropage()` (`mm/migrate.c`, Linux 6.16), as `remap_page()` calls it for
 * each mapping of a page of a split anonymous folio: a page that holds only zeroes, is not
 * mlocked and is mapped in a VMA that is not `VM_LOCKED` is mapped by a read-only PTE of the
 * shared zero page instead (young, as `vm_page_prot` makes it on x86), dropping that mapping's
 * mapcount and reference, so that a page no longer mapped is freed after the split. A poisoned
 * page is left alone (its zero check would read the poison). True when it was so remapped.
 */
const tryToMapUnusedToZeropage = (k: Kernel, vma: Vma, page: number, slot: number): boolean => {
  const m = k.memmap;
  if (vma.flags & VM_LOCKED || m.test(page, PG_mlocked | PG_hwpoison)) return false;
  if (!pageZeroFilled(k, page)) return false;
  vma.ptes[slot] = mkPte(k.zeroPfn, PTE_SPECIAL | PTE_YOUNG);
  m.mapcount[page]!--;
  m.folioSubLargeMapcount(m.folioOf(page), 1, vma.mm.id);
  m.refcount[page]!--;
  vma.mm.tlb.flushPage(vma.start / k.mem.pageSize + slot);
  return true;
};

/**
 * Splits a locked large LRU folio on which the caller holds a reference, in place, as
 * `split_folio()` does (`split_huge_page_to_list_to_order()` with no list): {@link splitFolio}
 * with null, the new folios staying on the LRU; every page is unlocked, and `keep` keeps the
 * caller's reference (pages left with no user are freed). Returns `splitFolio()`'s result:
 * `-EAGAIN` when someone else holds a reference (an isolation for migration, a pin), the folio
 * then being as it was, still locked and holding the caller's reference.
 */
export const splitLruFolio = (k: Kernel, head: number, keep: number): number => {
  const m = k.memmap;
  // Off the LRU, someone isolated it, and their reference would fail the split.
  if (!m.test(head, PG_lru)) return -ERRNO.EAGAIN;
  const nr = m.folioNrPages(head);
  const split = splitFolio(k, head, null);
  if (split !== 0) return split;
  for (let page = head; page < head + nr; page++) {
    folioUnlock(k, page);
    if (page !== keep) folioPut(k, page);
  }
  return 0;
};

/**
 * `deferred_split_folio()` (`mm/huge_memory.c`, Linux 6.16): queues an anonymous folio of order 2
 * or more on the deferred split queue, at its tail, unless it is queued already. With
 * `partiallyMapped` (a folio that lost some of its mappings: `__folio_remove_rmap()`, migration's
 * unmap, memory failure's) it marks the folio {@link PG_partially_mapped} and, the first time,
 * counts `thp_deferred_split_page` (PMD size) and the size's `split_deferred`. Without it (a new
 * PMD THP at fault, `map_anon_folio_pmd()`) the folio is queued unmarked and counted nowhere,
 * for the shrinker's underused-THP split (`split_underused_thp`, on by default: "mm: split
 * underused THPs", 6.12).
 */
export const deferredSplitFolio = (k: Kernel, head: number, partiallyMapped: boolean): void => {
  const m = k.memmap;
  const order = m.folioOrder(head);
  if (order <= 1) return;
  if (partiallyMapped && !m.test(head, PG_partially_mapped)) {
    m.set(head, PG_partially_mapped);
    k.thp.modMthpStat(order, "nr_anon_partially_mapped", 1);
    if (order >= k.pmdOrder) k.vmstat.count("thp_deferred_split_page");
    k.thp.countMthpStat(order, "split_deferred");
  }
  k.deferredSplitQueue.add(head);
};

/**
 * The end of `__folio_remove_rmap()` (`mm/rmap.c`, Linux 6.16), after mappings of an anonymous
 * large folio were removed: when a page lost its last mapping (no huge PMD maps the folio) while
 * another page is still mapped, the folio is partially mapped and goes on the deferred split
 * queue ({@link deferredSplitFolio}).
 */
export const folioRemoveRmapDeferred = (k: Kernel, head: number): void => {
  const m = k.memmap;
  if (m.mapping[head]! >= 0 || m.folioOrder(head) <= 1 || m.test(head, PG_partially_mapped)) return;
  if (m.entireMapcount[head]! > 0 || !m.folioMapped(head)) return;
  const nr = m.folioNrPages(head);
  for (let i = 0; i < nr; i++) {
    if (m.mapcount[head + i] === 0) {
      deferredSplitFolio(k, head, true);
      return;
    }
  }
};

/**
 * `deferred_split_count()` (`mm/huge_memory.c`): the folios queued on node `nid`, the shrinker's
 * `count_objects`.
 */
export const deferredSplitCount = (k: Kernel, nid: number): number => {
  let n = 0;
  for (const head of k.deferredSplitQueue) if (k.mem.pfnToNid(head) === nid) n++;
  return n;
};

/**
 * `thp_underused()` (`mm/huge_memory.c`, Linux 6.16): does the folio hold more zero-filled pages
 * than `max_ptes_none` allows? Never while `max_ptes_none` is `HPAGE_PMD_NR - 1` (the default);
 * otherwise the pages are read in order until more than `max_ptes_none` are zero-filled (true)
 * or `HPAGE_PMD_NR - max_ptes_none` are not (false).
 */
const thpUnderused = (k: Kernel, head: number): boolean => {
  const maxPtesNone = k.thp.maxPtesNone;
  const hpagePmdNr = 2 ** k.pmdOrder;
  if (maxPtesNone === hpagePmdNr - 1) return false;
  let zero = 0;
  let filled = 0;
  const nr = k.memmap.folioNrPages(head);
  for (let i = 0; i < nr; i++) {
    if (pageZeroFilled(k, head + i)) {
      if (++zero > maxPtesNone) return true;
    } else if (++filled >= hpagePmdNr - maxPtesNone) {
      return false;
    }
  }
  return false;
};

/**
 * `deferred_split_scan()` (`mm/huge_memory.c`, Linux 6.16), the deferred split shrinker's
 * `scan_objects`, which reclaim runs under memory pressure: takes up to `nrToScan` folios of node
 * `nid` off the queue, in queue order. A partially mapped one ({@link PG_partially_mapped}) is
 * split to order 0 (`split_folio()`), its pages that no process maps being freed; one that is
 * locked, or cannot be split (someone else holds a reference), goes back on the queue. One queued
 * at fault is split only when {@link thpUnderused} says so, counting `thp_underused_split_page`;
 * the split maps its zero-filled pages to the shared zero page and frees them
 * (`RMP_USE_SHARED_ZEROPAGE`). Otherwise, or when its split fails, it counts as used and leaves
 * the queue for good. A folio being freed is just dropped. Returns the folios split.
 */
export const deferredSplitScan = (
  k: Kernel,
  nid: number,
  nrToScan = Number.POSITIVE_INFINITY,
): number => {
  const m = k.memmap;
  const batch: number[] = [];
  for (const head of k.deferredSplitQueue) {
    if (batch.length >= nrToScan) break;
    if (k.mem.pfnToNid(head) !== nid) continue;
    k.deferredSplitQueue.delete(head);
    if (m.refcount[head]! > 0) {
      m.refcount[head]!++; // folio_try_get()
      batch.push(head);
    } else if (m.testAndClear(head, PG_partially_mapped)) {
      k.thp.modMthpStat(m.folioOrder(head), "nr_anon_partially_mapped", -1);
    }
  }
  let split = 0;
  for (const head of batch) {
    const partiallyMapped = m.test(head, PG_partially_mapped);
    const underused = !partiallyMapped && thpUnderused(k, head);
    if ((partiallyMapped || underused) && folioTrylock(k, head)) {
      if (splitLruFolio(k, head, head) === 0) {
        split++;
        if (underused) k.vmstat.count("thp_underused_split_page");
        folioPut(k, head);
        continue;
      }
      folioUnlock(k, head);
    }
    // Not split: a partially mapped folio goes back on the queue; any other counts as used.
    if (partiallyMapped) k.deferredSplitQueue.add(head);
    folioPut(k, head);
  }
  return split;
};

/**
 * The deferred split shrinker, `thp-deferred_split` (`thp_shrinker_init()`, `mm/huge_memory.c`,
 * Linux 6.16): NUMA aware, `DEFAULT_SEEKS`, counting with {@link deferredSplitCount} and scanning
 * with {@link deferredSplitScan}, which says `SHRINK_STOP` when it split nothing and the node's
 * queue is empty. Reclaim runs it through `shrink_slab()` (`mm/shrinker.ts`).
 */
export const deferredSplitShrinker: Shrinker = {
  name: "thp-deferred_split",
  seeks: DEFAULT_SEEKS,
  batch: 0,
  countObjects: deferredSplitCount,
  scanObjects: (k, nid, nrToScan) => {
    const split = deferredSplitScan(k, nid, nrToScan);
    return split === 0 && deferredSplitCount(k, nid) === 0 ? SHRINK_STOP : split;
  },
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
