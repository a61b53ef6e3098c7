import { Effect } from "effect";
import type { DirectCompact } from "../include/compaction";
import { __GFP_DIRECT_RECLAIM } from "../include/gfp";
import type { Kernel, Task } from "../include/kernel";
import { taskPolicyRequests } from "../include/mempolicy";
import { type AddressSpace, FileRaState, type Vma } from "../include/mm_types";
import {
  PG_dirty,
  PG_hwpoison,
  PG_locked,
  PG_readahead,
  PG_reclaim,
  PG_swapbacked,
  PG_uptodate,
  PG_writeback,
} from "../include/page_flags";
import { folioPut, folioRotateReclaimable } from "./swap";

/** `folio_trylock()`: locks the folio if it is unlocked; true on success. */
export const folioTrylock = (k: Kernel, head: number): boolean => {
  if (k.memmap.test(head, PG_locked)) return false;
  k.memmap.set(head, PG_locked);
  return true;
};

/**
 * `folio_lock()` (`include/linux/pagemap.h`, `__folio_lock()` in `mm/filemap.c`): locks the folio,
 * sleeping while another holds it; the holder's unlock hands the lock over
 * (`FolioWaitQueue.lock()`). The sleep is uninterruptible (`TASK_UNINTERRUPTIBLE`).
 */
export const folioLock = (k: Kernel, head: number): Effect.Effect<void> =>
  Effect.suspend(() =>
    folioTrylock(k, head) ? Effect.void : Effect.uninterruptible(k.folioWaiters.lock(head)),
  );

/** `folio_unlock()`: unlocks and wakes waiters. */
export const folioUnlock = (k: Kernel, head: number): void => {
  k.memmap.clear(head, PG_locked);
  k.folioWaiters.wake(head);
};

/**
 * `folio_end_writeback()` (`mm/filemap.c`, Linux 6.16): clears `PG_writeback` and wakes the
 * folio's waiters (`folio_wake_bit()`); false when the folio was not under writeback. A folio
 * reclaim marked `PG_reclaim` loses the mark and moves to the tail of its inactive list
 * ({@link folioRotateReclaimable}), for reclaim to free it next.
 */
export const folioEndWriteback = (k: Kernel, head: number): boolean => {
  if (!k.memmap.test(head, PG_writeback)) return false;
  if (k.memmap.testAndClear(head, PG_reclaim)) folioRotateReclaimable(k, head);
  k.memmap.clear(head, PG_writeback);
  k.folioWaiters.wake(head);
  return true;
};

/**
 * `VM_READAHEAD_PAGES` (`include/linux/pagemap.h`, Linux 6.16): `SZ_128K / PAGE_SIZE`, the
 * default `ra_pages` and `io_pages` of a backing device (`bdi_init()`, `mm/backing-dev.c`), so
 * the most pages one readahead reads: 32 with 4 KiB pages.
 *
 * @category Page cache
 */
export const vmReadaheadPages = (pageSize: number): number => Math.max(1, (128 * 1024) / pageSize);

/**
 * The readahead state of `mapping`'s open file (`file->f_ra`, {@link AddressSpace.ra}), set up
 * on first use as `file_ra_state_init()` (`mm/readahead.c`, Linux 6.16) does at `open()`:
 * `ra_pages` from the backing device ({@link vmReadaheadPages}), `prev_pos` -1.
 *
 * @category Page cache
 */
export const fileRaState = (k: Kernel, mapping: AddressSpace): FileRaState => {
  mapping.ra ??= new FileRaState(vmReadaheadPages(k.mem.pageSize));
  return mapping.ra;
};

/**
 * `filemap_alloc_folio()` (`mm/filemap.c`, Linux 6.16) with `alloc_pages_noprof()`
 * (`mm/mempolicy.c`): a page-cache folio of `order` with `gfp`, placed by the allocating task's
 * memory policy (`get_task_policy(current)`, at `NO_INTERLEAVE_INDEX`), never by the policy of a
 * VMA that maps the file (only shmem's folios follow that). The allocation's first tries
 * (`PageAllocator.allocPages()`), request after request. The slow path
 * (`__alloc_pages_slowpath()`) is the caller's: with `dc`, a request that may reclaim directly
 * and whose first tries fail fills `dc.request` (`PageAllocator.slowpathRequest()`) and -1 is
 * returned, for the caller to run it and allocate again with what it got (`dc.page`). Returns
 * the head PFN with one reference, or -1. Not zeroed: the read fills it.
 *
 * @category Page cache
 */
export const filemapAllocFolio = (
  k: Kernel,
  task: Task,
  gfp: number,
  order: number,
  dc?: DirectCompact,
): number => {
  const reqs = taskPolicyRequests(task, order, gfp, k.distance, k.pmdOrder);
  for (const req of reqs) {
    const head = k.pageAlloc.allocPages(req.nid, order, req.gfp, req.nodemask, task);
    if (head >= 0) return head;
    if (dc && req.gfp & __GFP_DIRECT_RECLAIM) {
      dc.request = k.pageAlloc.slowpathRequest(req);
      return -1;
    }
  }
  return -1;
};

/**
 * `page_cache_next_miss()` (`mm/filemap.c`, Linux 6.16): the first page offset from `index` on,
 * looking at `maxScan` of them, that the page cache does not hold; `index + maxScan` when it
 * holds them all.
 *
 * @category Page cache
 */
export const pageCacheNextMiss = (
  mapping: AddressSpace,
  index: number,
  maxScan: number,
): number => {
  for (let i = index; i < index + maxScan; i++) if (!mapping.pages.has(i)) return i;
  return index + maxScan;
};

/**
 * `page_cache_prev_miss()` (`mm/filemap.c`, Linux 6.16): the first page offset from `index`
 * down, looking at `maxScan` of them, that the page cache does not hold; the last one looked at
 * (`index - maxScan + 1`, cached) when it holds them all; -1 (`ULONG_MAX`) when it holds every
 * page down to offset 0 with scans left.
 *
 * @category Page cache
 */
export const pageCachePrevMiss = (
  mapping: AddressSpace,
  index: number,
  maxScan: number,
): number => {
  let i = index;
  for (let n = maxScan; n > 0; n--, i--) {
    if (i < 0) return -1;
    if (!mapping.pages.has(i)) return i;
    if (n === 1) break;
  }
  return i;
};

/**
 * `folio_mark_dirty()` (`mm/page-writeback.c`, Linux 6.16) on a folio whose dirtiness is found
 * (a write fault, or a dirty page-table entry moved to the folio): sets `PG_dirty`; for a page-cache
 * folio that was clean, `filemap_dirty_folio()` then marks its inode dirty
 * (`__mark_inode_dirty(I_DIRTY_PAGES)`, `fs/fs-writeback.c`: {@link BdiWriteback.markInodeDirty}),
 * which starts the clock of its dirty age and arms the flusher's periodic writeback. Nothing more
 * for a folio already dirty or one of anonymous memory.
 */
export const folioMarkDirty = (k: Kernel, head: number): void => {
  const m = k.memmap;
  if (m.test(head, PG_dirty)) return;
  m.set(head, PG_dirty);
  const id = m.mapping[head]!;
  if (id <= 0) return;
  const mapping = k.addressSpaces.get(id);
  if (mapping) k.writeback.markInodeDirty(mapping);
};

/** `filemap_get_folio()`: the head PFN caching `pgoff`, or -1. */
export const filemapGetFolio = (mapping: AddressSpace, pgoff: number): number =>
  mapping.pages.get(pgoff) ?? -1;

/**
 * `__filemap_add_folio()`: caches a freshly allocated folio (refcount 1, the allocation's) at
 * `pgoff`, which must be aligned to the folio's size. The cache takes one reference per page. The
 * caller still owns its allocation reference. A hugetlb folio is cached this way
 * (`hugetlb_add_to_page_cache()`, `mm/hugetlb.c`): it never goes on the LRU.
 */
export const addToPageCache = (
  k: Kernel,
  mapping: AddressSpace,
  head: number,
  pgoff: number,
): void => {
  const m = k.memmap;
  const nr = m.folioNrPages(head);
  m.mapping[head] = mapping.id;
  m.index[head] = pgoff;
  m.set(head, PG_uptodate | (mapping.shmem ? PG_swapbacked : 0));
  m.refcount[head]! += nr;
  for (let i = 0; i < nr; i++) mapping.pages.set(pgoff + i, head);
  mapping.nrFolios++;
};

/**
 * `filemap_add_folio()`: caches a freshly allocated folio ({@link addToPageCache}) and puts it on
 * the LRU.
 */
export const filemapAddFolio = (
  k: Kernel,
  mapping: AddressSpace,
  head: number,
  pgoff: number,
): void => {
  addToPageCache(k, mapping, head, pgoff);
  k.lru.folioAddLru(head);
};

/**
 * The bytes of the folio `head`, a view of its memory. A page-cache folio of a file with storage
 * is at most PMD-size, naturally aligned, so it never crosses a memory section.
 */
const folioBytes = (k: Kernel, head: number): Uint8Array =>
  k.mem.bytes(head, k.memmap.folioNrPages(head));

/**
 * `filemap_read_folio()` (`mm/filemap.c`, Linux 6.16) as `filemap_fault()` calls it on a folio
 * it just added to the page cache, and the read of each folio readahead adds (`read_pages()`,
 * `mm/readahead.c`): the file's `a_ops->read_folio()` fills each page of the folio from the
 * file's storage ({@link AddressSpace.backing}), with what was last written back there or zeros
 * where nothing was. Memory no device holds (shmem, hugetlbfs) has nothing to read: its new folio
 * stays as allocated, zeroed. The read is synchronous and cannot fail (the model has no I/O
 * errors).
 */
export const filemapReadFolio = (k: Kernel, mapping: AddressSpace, head: number): void =>
  mapping.backing?.read(k.memmap.index[head]!, folioBytes(k, head));

/**
 * The page offsets a fault may reach in `mapping`: `DIV_ROUND_UP(i_size_read(inode), PAGE_SIZE)`,
 * the `max_idx` of `filemap_fault()` (`mm/filemap.c`, Linux 6.16) and the bound of
 * `shmem_get_folio_gfp()`'s `SGP_CACHE` check (`mm/shmem.c`). A fault at or past it gets `SIGBUS`.
 */
export const filemapMaxIndex = (k: Kernel, mapping: AddressSpace): number =>
  Math.ceil(mapping.size / k.mem.pageSize);

/**
 * The write I/O of writeback (`->writepages()` submitting the folio's blocks, `mm/page-writeback.c`
 * and the filesystem): copies each page of the cached folio `head` to the file's storage
 * ({@link AddressSpace.backing}), which then holds what the page held at this moment. Nothing
 * for memory no device holds. As `block_write_full_folio()` (`fs/buffer.c`) and
 * `iomap_writepage_handle_eof()` (`fs/iomap/buffered-io.c`, Linux 6.16) do, a folio wholly at or
 * past `i_size` (a truncation racing with it) is not written, and the part of a folio that
 * straddles `i_size` past the end of the file is zeroed, in memory and so on the storage: what a
 * shared mapping stored there never reaches the file.
 */
export const filemapWriteFolio = (k: Kernel, mapping: AddressSpace, head: number): void => {
  if (!mapping.backing) return;
  const pos = k.memmap.index[head]! * k.mem.pageSize;
  if (pos >= mapping.size) return;
  const bytes = folioBytes(k, head);
  if (pos + bytes.length > mapping.size) bytes.fill(0, mapping.size - pos);
  mapping.backing.write(k.memmap.index[head]!, bytes);
};

/**
 * Replaces `oldHead` by `newHead` in the page cache, moving the cache's references.
 * Models the `xas_store` loop of `__folio_migrate_mapping()`.
 */
export const filemapReplaceFolio = (
  k: Kernel,
  mapping: AddressSpace,
  oldHead: number,
  newHead: number,
): void => {
  const m = k.memmap;
  const nr = m.folioNrPages(oldHead);
  const pgoff = m.index[oldHead]!;
  for (let i = 0; i < nr; i++) mapping.pages.set(pgoff + i, newHead);
  m.refcount[newHead]! += nr;
  m.refcount[oldHead]! -= nr;
};

/**
 * `__filemap_remove_folio()` + `filemap_free_folio()`: drops a folio from the cache with the
 * cache's references. The folio must not be mapped.
 */
export const filemapRemoveFolio = (k: Kernel, mapping: AddressSpace, head: number): void => {
  const m = k.memmap;
  const nr = m.folioNrPages(head);
  const pgoff = m.index[head]!;
  for (let i = 0; i < nr; i++) mapping.pages.delete(pgoff + i);
  mapping.nrFolios--;
  m.clear(head, PG_dirty | PG_writeback);
  m.mapping[head] = 0;
  m.refcount[head]! -= nr - 1;
  folioPut(k, head);
};

/**
 * The fault {@link filemapMapPages} serves: the parts of `struct vm_fault` it reads and the
 * `mm/memory.c` helpers it calls to fill page-table entries (`do_set_pmd()`, `set_pte_range()`),
 * which the fault path hands it as `vma->vm_ops->map_pages()` is handed the `vm_fault`.
 *
 * @category Page tables
 */
export interface MapPagesFault {
  /** The faulting VMA, a file or shmem mapping. */
  readonly vma: Vma;
  /** The faulting page's index in the VMA (`vmf->address`). */
  readonly slot: number;
  /**
   * `do_set_pmd()`: maps a PMD-size folio with one huge PMD over the fault's PMD range; false
   * when it may not (the folio is smaller, the VMA is not suitable, a PTE is mapped there).
   */
  readonly setPmd: (head: number) => boolean;
  /**
   * `set_pte_range()` with `folio_add_file_rmap_ptes()`: maps `nr` pages of one folio, from PFN
   * `page`, at VMA indices `slot` onwards, taking a mapcount and a reference for each.
   */
  readonly setPteRange: (slot: number, page: number, nr: number) => void;
}

/**
 * The head PFN of a folio {@link filemapMapPages} may map at `pgoff`, or -1. Models the checks
 * of `next_uptodate_folio()` (`mm/filemap.c`, Linux 6.16): a folio is cached there, a reference
 * can be had (`folio_try_get()`: the count is not frozen at 0), it is not locked (a folio under
 * migration or being read is), it is uptodate and not marked `PG_readahead` (its fault must come,
 * to read further ahead), it still belongs to `mapping`, and `pgoff` lies before the end of the
 * file (`maxIdx` pages).
 */
const nextUptodateFolio = (
  k: Kernel,
  mapping: AddressSpace,
  pgoff: number,
  maxIdx: number,
): number => {
  const head = mapping.pages.get(pgoff);
  if (head === undefined) return -1;
  const m = k.memmap;
  if (m.refcount[head] === 0 || m.test(head, PG_locked) || m.test(head, PG_readahead)) return -1;
  if (m.mapping[head] !== mapping.id || !m.test(head, PG_uptodate)) return -1;
  return pgoff < maxIdx ? head : -1;
};

/**
 * `filemap_map_pages()` (`mm/filemap.c`, Linux 6.16), the `map_pages` of a file or shmem VMA:
 * maps the pages of file offsets `[startPgoff, endPgoff]` that the page cache already holds,
 * allocating nothing, and returns whether the faulting page was among them (`VM_FAULT_NOPAGE`:
 * the fault is done). The first folio it may map, when PMD-size, is offered to `do_set_pmd()`
 * first (`filemap_map_pmd()`); if that maps it, the fault is done. Otherwise each folio's pages
 * in the range are mapped by PTEs (`filemap_map_folio_range()`,
 * `filemap_map_order0_folio()`), skipping a page with `PG_hwpoison` and any whose PTE is not
 * none. A folio is mapped only as {@link nextUptodateFolio} allows, and nothing at or past the
 * file's last page (`file_end`: `DIV_ROUND_UP(i_size, PAGE_SIZE) - 1`, {@link filemapMaxIndex}).
 * Every page of a regular file it looks at by PTE (mapped or not, but for a poisoned one) is a
 * page-cache hit that `mmap_miss` of the file's readahead state gives back, down to 0 (the model
 * keeps no `PG_workingset`, so no page is held back as recently evicted).
 *
 * @category Page tables
 */
export const filemapMapPages = (
  k: Kernel,
  vmf: MapPagesFault,
  startPgoff: number,
  endPgoff: number,
): boolean => {
  const { vma } = vmf;
  const mapping = vma.mapping!;
  const m = k.memmap;
  const maxIdx = filemapMaxIndex(k, mapping);
  const end = Math.min(endPgoff, maxIdx - 1);
  const faultPgoff = vma.pgoff + vmf.slot;
  let nopage = false;
  let first = true;
  let mmapMiss = 0;
  for (let pgoff = startPgoff; pgoff <= end; ) {
    const head = nextUptodateFolio(k, mapping, pgoff, maxIdx);
    if (head < 0) {
      pgoff++;
      continue;
    }
    if (first && vmf.setPmd(head)) {
      nopage = true;
      break;
    }
    first = false;
    const folioEnd = m.index[head]! + m.folioNrPages(head) - 1;
    const last = Math.min(folioEnd, end);
    // Runs of mappable pages, each mapped by one set_pte_range().
    let run = 0;
    for (let p = pgoff; p <= last + 1; p++) {
      const slot = p - vma.pgoff;
      const page = head + (p - m.index[head]!);
      const poisoned = p <= last && m.test(page, PG_hwpoison);
      if (p <= last && !poisoned) mmapMiss++;
      const ok = p <= last && !poisoned && vma.ptes[slot] === 0;
      if (ok) {
        run++;
        continue;
      }
      if (run > 0) {
        vmf.setPteRange(slot - run, page - run, run);
        if (faultPgoff >= p - run && faultPgoff < p) nopage = true;
      }
      run = 0;
    }
    pgoff = last + 1;
  }
  // filemap_map_pages()'s end: the hits it saw are taken off file->f_ra.mmap_miss.
  if (!mapping.shmem && mapping.ra)
    mapping.ra.mmapMiss = Math.max(0, mapping.ra.mmapMiss - mmapMiss);
  return nopage;
};

/**
 * The file's cached folios, each once (a large folio is cached under each of its page offsets),
 * in no particular order: what the page cache's walks (`filemap_get_folios()`) find.
 */
export const mappingFolios = (mapping: AddressSpace): Set<number> =>
  new Set(mapping.pages.values());

/**
 * A `folio_batch` worked on under each folio's lock (`mm/filemap.c`, Linux 6.16): every folio of
 * `batch` is referenced first (`find_get_entries()`, `filemap_get_folios_tag()`), then each in turn
 * is locked with `folio_lock()` (sleeping while another task holds it, taking the lock in its
 * handoff order), handed to `act` and unlocked, then handed to `unlocked` if given; last the
 * batch's references are dropped (`folio_batch_release()`).
 */
export const folioBatchLocked = (
  k: Kernel,
  batch: readonly number[],
  act: (head: number) => void,
  unlocked?: (head: number) => void,
): Effect.Effect<void> =>
  Effect.gen(function* () {
    const m = k.memmap;
    for (const head of batch) m.refcount[head]!++;
    for (const head of batch) {
      yield* folioLock(k, head);
      act(head);
      folioUnlock(k, head);
      unlocked?.(head);
    }
    for (const head of batch) folioPut(k, head);
  });
