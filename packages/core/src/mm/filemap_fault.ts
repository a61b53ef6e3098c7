/**
 * The page fault of a regular file's mapping: `filemap_fault()` and its readahead
 * (`do_sync_mmap_readahead()`, `do_async_mmap_readahead()`) of `mm/filemap.c`, Linux 6.16.
 *
 * A fault that misses the page cache is a major fault (`VM_FAULT_MAJOR`, counted in
 * `/proc/vmstat` as `pgmajfault`) and reads ahead before it looks again: around itself
 * (read-around: `ra_pages` pages from `ra_pages / 2` before it, the last quarter asynchronous),
 * as a sequential read does for a `VM_SEQ_READ` VMA, a PMD-aligned pair of PMD sizes for a
 * `VM_HUGEPAGE` one, nothing for a `VM_RAND_READ` one or once the file's `mmap_miss` passes
 * {@link MMAP_LOTSAMISS}. A fault that finds its folio cached and marked `PG_readahead` pushes the
 * readahead window forward. The fault then takes a reference on the folio and its lock, and checks
 * that it still belongs to the file; a folio another task holds locked (a migration moving it, a
 * truncation) is waited for and the fault retried (`lock_folio_maybe_drop_mmap()`).
 *
 * @module
 */
import type { Kernel, Task } from "../include/kernel";
import { VM_HUGEPAGE, VM_RAND_READ, VM_SEQ_READ, type Vma } from "../include/mm_types";
import { PG_readahead } from "../include/page_flags";
import {
  filemapAddFolio,
  filemapGetFolio,
  filemapReadFolio,
  fileRaState,
  folioTrylock,
  folioUnlock,
} from "./filemap";
import { defineReadahead, pageCacheAsyncRa, pageCacheRaOrder, pageCacheSyncRa } from "./readahead";
import { folioGet, folioPut } from "./swap";

/**
 * `MMAP_LOTSAMISS` (`mm/filemap.c`, Linux 6.16): once a file's `mmap_miss` (faults that missed
 * the page cache, less the pages fault-around and cached faults found) is above 100, its faults
 * stop reading around themselves.
 *
 * @category Page cache
 */
export const MMAP_LOTSAMISS = 100;

/**
 * `do_sync_mmap_readahead()` (`mm/filemap.c`, Linux 6.16): the readahead of a fault at page
 * offset `pgoff` of `vma`'s file that missed the page cache, run in `task`. A `VM_HUGEPAGE` VMA
 * reads from the PMD-aligned offset below the fault two PMD sizes (one with `VM_RAND_READ`), the
 * last PMD size asynchronous, whatever the readahead state (`CONFIG_TRANSPARENT_HUGEPAGE`; the
 * model's files take order-0 folios, see `mm/readahead.ts`). Otherwise nothing for `VM_RAND_READ`
 * or `ra_pages` 0; a `VM_SEQ_READ` VMA reads as a sequential read of `ra_pages` pages
 * ({@link pageCacheSyncRa}). Any other counts a miss in `mmap_miss` (up to
 * `MMAP_LOTSAMISS * 10`) and, unless that is above {@link MMAP_LOTSAMISS}, reads around the
 * fault: `ra_pages` pages from `pgoff - ra_pages / 2` (from 0 near the start), the last
 * `ra_pages / 4` asynchronous (with 4 KiB pages: 32 pages from 16 before the fault, the mark on
 * the 25th).
 *
 * @category Page cache
 */
export const doSyncMmapReadahead = (k: Kernel, task: Task, vma: Vma, pgoff: number): void => {
  const mapping = vma.mapping!;
  const rac = defineReadahead(k, task, mapping, pgoff);
  const ra = rac.ra;
  if (vma.flags & VM_HUGEPAGE) {
    const nr = 2 ** k.pmdOrder;
    rac.index = pgoff - (pgoff % nr);
    ra.size = vma.flags & VM_RAND_READ ? nr : 2 * nr;
    ra.asyncSize = nr;
    pageCacheRaOrder(rac, ra, k.pmdOrder);
    return;
  }
  if (vma.flags & VM_RAND_READ || !ra.raPages) return;
  if (vma.flags & VM_SEQ_READ) {
    pageCacheSyncRa(rac, ra.raPages);
    return;
  }
  if (ra.mmapMiss < MMAP_LOTSAMISS * 10) ra.mmapMiss++;
  if (ra.mmapMiss > MMAP_LOTSAMISS) return;
  ra.start = Math.max(0, pgoff - Math.floor(ra.raPages / 2));
  ra.size = ra.raPages;
  ra.asyncSize = Math.floor(ra.raPages / 4);
  rac.index = ra.start;
  pageCacheRaOrder(rac, ra, 0);
};

/**
 * `do_async_mmap_readahead()` (`mm/filemap.c`, Linux 6.16): a fault at page offset `pgoff` of
 * `vma`'s file found the folio `head` cached. Nothing for `VM_RAND_READ` or `ra_pages` 0;
 * otherwise the hit takes one off `mmap_miss`, and a folio marked `PG_readahead` starts the next
 * readahead ({@link pageCacheAsyncRa} of `ra_pages` pages), run in `task`.
 *
 * @category Page cache
 */
export const doAsyncMmapReadahead = (
  k: Kernel,
  task: Task,
  vma: Vma,
  head: number,
  pgoff: number,
): void => {
  const mapping = vma.mapping!;
  const ra = fileRaState(k, mapping);
  if (vma.flags & VM_RAND_READ || !ra.raPages) return;
  if (ra.mmapMiss) ra.mmapMiss--;
  if (k.memmap.test(head, PG_readahead))
    pageCacheAsyncRa(defineReadahead(k, task, mapping, pgoff), head, ra.raPages);
};

/**
 * `filemap_fault()` (`mm/filemap.c`, Linux 6.16), the `->fault()` of a regular file's VMA, for
 * the page at offset `pgoff` of `vma`'s file, in `task`, after the caller checked `pgoff`
 * against the file's end. A cached folio is referenced and, unless `retried`, offered to
 * {@link doAsyncMmapReadahead}. A miss counts `pgmajfault` and reads ahead
 * ({@link doSyncMmapReadahead}), unless `retried`; then the page cache is looked up again, and
 * what readahead did not bring is allocated by `alloc` (the fault's own allocation, with the
 * fault's GFP flags and slow path; -1 when it got nothing), added to the page cache and read
 * (`__filemap_get_folio(FGP_CREAT)`, `filemap_read_folio()`).
 *
 * The folio is then locked (`lock_folio_maybe_drop_mmap()`): one another task holds locked is
 * not mapped, its reference dropped, and the fault returns `-(head + 1)`, for the caller to wait
 * until it is unlocked and fault again (`VM_FAULT_RETRY`). A locked folio no longer in the file
 * (`folio->mapping` changed: truncated or migrated away) is let go and looked up again.
 *
 * `retried` is a fault the model retries after running the allocator's slow path for it: its
 * first pass counted the major fault and read ahead, as Linux's one pass does, so it does
 * neither again.
 *
 * Returns the head PFN of the locked folio, on which the fault holds a reference (the caller maps
 * it, then unlocks it and drops the reference); `-(head + 1)` to wait; null when `alloc` got no
 * folio.
 *
 * @category Page cache
 */
export const filemapFault = (
  k: Kernel,
  task: Task,
  vma: Vma,
  pgoff: number,
  retried: boolean,
  alloc: (pgoff: number) => number,
): number | null => {
  const mapping = vma.mapping!;
  let head = filemapGetFolio(mapping, pgoff);
  if (head >= 0) {
    folioGet(k, head);
    if (!retried) doAsyncMmapReadahead(k, task, vma, head, pgoff);
  } else if (!retried) {
    k.vmstat.count("pgmajfault");
    doSyncMmapReadahead(k, task, vma, pgoff);
  }
  for (;;) {
    if (head < 0) {
      head = filemapGetFolio(mapping, pgoff);
      if (head >= 0) {
        folioGet(k, head);
      } else {
        head = alloc(pgoff);
        if (head < 0) return null;
        filemapAddFolio(k, mapping, head, pgoff);
        filemapReadFolio(k, mapping, head);
      }
    }
    if (!folioTrylock(k, head)) {
      folioPut(k, head);
      return -(head + 1);
    }
    if (k.memmap.mapping[head] === mapping.id) return head;
    folioUnlock(k, head);
    folioPut(k, head);
    head = -1;
  }
};
