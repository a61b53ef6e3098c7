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
import { type DirectCompact, directCompactFaultDone } from "../include/compaction";
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
 * Each of these reads (not the `VM_RAND_READ`, `ra_pages` 0 or {@link MMAP_LOTSAMISS} returns)
 * first drops `mmap_lock` in a fault that may be retried (`maybe_unlock_mmap_for_io()`, which
 * returns the pinned file, `fpin`): the return value says so, true when it read. With `dc`, a
 * readahead allocation whose first tries fail stops the read for the slow path
 * (`DirectCompact.readahead`, see `mm/readahead.ts`).
 *
 * @category Page cache
 */
export const doSyncMmapReadahead = (
  k: Kernel,
  task: Task,
  vma: Vma,
  pgoff: number,
  dc?: DirectCompact,
): boolean => {
  const mapping = vma.mapping!;
  const rac = defineReadahead(k, task, mapping, pgoff, dc);
  const ra = rac.ra;
  if (vma.flags & VM_HUGEPAGE) {
    const nr = 2 ** k.pmdOrder;
    rac.index = pgoff - (pgoff % nr);
    ra.size = vma.flags & VM_RAND_READ ? nr : 2 * nr;
    ra.asyncSize = nr;
    pageCacheRaOrder(rac, ra, k.pmdOrder);
    return true;
  }
  if (vma.flags & VM_RAND_READ || !ra.raPages) return false;
  if (vma.flags & VM_SEQ_READ) {
    pageCacheSyncRa(rac, ra.raPages);
    return true;
  }
  if (ra.mmapMiss < MMAP_LOTSAMISS * 10) ra.mmapMiss++;
  if (ra.mmapMiss > MMAP_LOTSAMISS) return false;
  ra.start = Math.max(0, pgoff - Math.floor(ra.raPages / 2));
  ra.size = ra.raPages;
  ra.asyncSize = Math.floor(ra.raPages / 4);
  rac.index = ra.start;
  pageCacheRaOrder(rac, ra, 0);
  return true;
};

/**
 * `do_async_mmap_readahead()` (`mm/filemap.c`, Linux 6.16): a fault at page offset `pgoff` of
 * `vma`'s file found the folio `head` cached. Nothing for `VM_RAND_READ` or `ra_pages` 0;
 * otherwise the hit takes one off `mmap_miss`, and a folio marked `PG_readahead` starts the next
 * readahead ({@link pageCacheAsyncRa} of `ra_pages` pages), run in `task` with `dc` (see
 * {@link doSyncMmapReadahead}), after dropping `mmap_lock` in a fault that may be retried.
 * Returns true when it read (and so dropped the lock: `fpin`).
 *
 * @category Page cache
 */
export const doAsyncMmapReadahead = (
  k: Kernel,
  task: Task,
  vma: Vma,
  head: number,
  pgoff: number,
  dc?: DirectCompact,
): boolean => {
  const mapping = vma.mapping!;
  const ra = fileRaState(k, mapping);
  if (vma.flags & VM_RAND_READ || !ra.raPages) return false;
  if (ra.mmapMiss) ra.mmapMiss--;
  if (!k.memmap.test(head, PG_readahead)) return false;
  pageCacheAsyncRa(defineReadahead(k, task, mapping, pgoff, dc), head, ra.raPages);
  return true;
};

/**
 * `filemap_fault()` (`mm/filemap.c`, Linux 6.16), the `->fault()` of a regular file's VMA, for
 * the page at offset `pgoff` of `vma`'s file, in `task`, after the caller checked `pgoff`
 * against the file's end. A cached folio is referenced and, unless the fault is a retry
 * (`FAULT_FLAG_TRIED`), offered to {@link doAsyncMmapReadahead}. A miss counts `pgmajfault` and
 * reads ahead ({@link doSyncMmapReadahead}); then the page cache is looked up again, and what
 * readahead did not bring is allocated by `alloc` (the fault's own allocation, with the fault's
 * GFP flags and slow path; -1 when it got nothing), added to the page cache and read
 * (`__filemap_get_folio(FGP_CREAT)`, `filemap_read_folio()`).
 *
 * The folio is then locked (`lock_folio_maybe_drop_mmap()`): one another task holds locked is
 * not mapped, its reference dropped, and the fault returns `-(head + 1)`, for the caller to wait
 * until it is unlocked and fault again (`VM_FAULT_RETRY`). A locked folio no longer in the file
 * (`folio->mapping` changed: truncated or migrated away) is let go and looked up again.
 *
 * `dc` is the state of a fault that may be retried (`FAULT_FLAG_ALLOW_RETRY`: a user access's,
 * a populate's) across the passes the model makes of it (see `DirectCompact`). A fault whose
 * readahead read dropped `mmap_lock` for it (`fpin`, {@link DirectCompact.fpin}), so once its
 * folio is in the page cache, locked and checked, it lets the folio go and returns
 * `VM_FAULT_RETRY`, and the access faults again with `FAULT_FLAG_TRIED`
 * ({@link DirectCompact.faultFlagTried}), which maps the page then, with its neighbours when
 * fault-around finds them cached. A pass after the slow path ran for this fault's folio or
 * readahead counts and reads nothing again, a `FAULT_FLAG_TRIED` attempt's included: a miss
 * marks the attempt {@link DirectCompact.faultMajor}. A wait for a locked folio is such a retry
 * too.
 * Without `dc` nothing is dropped and the fault maps its page at once.
 *
 * Returns the head PFN of the locked folio, on which the fault holds a reference (the caller maps
 * it, then unlocks it and drops the reference); `-(head + 1)` to wait; `"retry"`
 * (`VM_FAULT_RETRY`) to fault again, after the slow path when `dc` asks for it, else at once;
 * null when `alloc` got no folio.
 *
 * @category Page cache
 */
export const filemapFault = (
  k: Kernel,
  task: Task,
  vma: Vma,
  pgoff: number,
  alloc: (pgoff: number) => number,
  dc?: DirectCompact,
): number | "retry" | null => {
  const mapping = vma.mapping!;
  // A pass after the slow path ran for this attempt's folio or readahead: the first counted and
  // read ahead, as Linux's one pass does (a FAULT_FLAG_TRIED attempt's too, which sets no fpin).
  const again = dc !== undefined && (dc.tried !== 0 || dc.fpin === true || dc.faultMajor === true);
  const tried = dc?.faultFlagTried === true;
  let head = filemapGetFolio(mapping, pgoff);
  if (head >= 0) {
    folioGet(k, head);
    if (!again && !tried) {
      const read = doAsyncMmapReadahead(k, task, vma, head, pgoff, dc);
      if (dc && read) dc.fpin = true;
      if (dc?.request) {
        folioPut(k, head);
        return "retry";
      }
    }
  } else if (!again) {
    k.vmstat.count("pgmajfault");
    if (dc) dc.faultMajor = true;
    // maybe_unlock_mmap_for_io() drops the lock on a fault's first attempt only.
    const read = doSyncMmapReadahead(k, task, vma, pgoff, dc);
    if (dc && read && !tried) dc.fpin = true;
    if (dc?.request) return "retry";
  }
  // The allocation below ends this pass's use of dc; whether the lock was dropped is kept here.
  const dropped = dc?.fpin === true;
  for (;;) {
    if (head < 0) {
      head = filemapGetFolio(mapping, pgoff);
      if (head >= 0) {
        folioGet(k, head);
      } else {
        head = alloc(pgoff);
        if (head < 0) return dc?.request ? "retry" : null;
        filemapAddFolio(k, mapping, head, pgoff);
        filemapReadFolio(k, mapping, head);
      }
    }
    if (!folioTrylock(k, head)) {
      folioPut(k, head);
      if (dc) faultRetryTried(dc);
      return -(head + 1);
    }
    if (k.memmap.mapping[head] !== mapping.id) {
      folioUnlock(k, head);
      folioPut(k, head);
      head = -1;
      continue;
    }
    if (!dc || !dropped) return head;
    // The lock was dropped for the readahead: the folio waits in the page cache for the retry.
    folioUnlock(k, head);
    folioPut(k, head);
    faultRetryTried(dc);
    return "retry";
  }
};

/**
 * A fault attempt that returns `VM_FAULT_RETRY` after dropping `mmap_lock` (or waiting for a
 * folio lock): it is over, and the access faults again with `FAULT_FLAG_TRIED`
 * (`do_user_addr_fault()`, `faultin_page()`).
 */
const faultRetryTried = (dc: DirectCompact): void => {
  directCompactFaultDone(dc);
  dc.faultFlagTried = true;
};
