/**
 * File readahead: reading a file's pages into the page cache ahead of the faults that will need
 * them.
 *
 * Models `mm/readahead.c` of Linux 6.16 as the model's file mappings use it: the readahead window
 * of an open file (`struct file_ra_state`, {@link FileRaState}), its synchronous start on a page
 * cache miss (`page_cache_sync_ra()`), its asynchronous push forward when a fault meets the
 * folio marked `PG_readahead` (`page_cache_async_ra()`), the window's ramp-up
 * (`get_init_ra_size()`, `get_next_ra_size()`), the forced read of `MADV_WILLNEED`
 * (`force_page_cache_ra()`) and the read itself (`page_cache_ra_unbounded()`). The model has no
 * `read()`, so `prev_pos` stays -1 and `FMODE_RANDOM` (`POSIX_FADV_RANDOM`) is never set.
 *
 * The model's regular files are those of a filesystem without large folio support
 * (`mapping_large_folio_support()` false): every readahead folio is order 0, as
 * `page_cache_ra_order()` falls back to `do_page_cache_ra()` for them. Readahead allocates with
 * `readahead_gfp_mask()`: the mapping's `GFP_HIGHUSER_MOVABLE` with `__GFP_NORETRY |
 * __GFP_NOWARN`, placed by the task's memory policy (`filemapAllocFolio()`). Where the free
 * lists have nothing, Linux's allocation takes the allocator's slow path, which for
 * `__GFP_NORETRY` at order 0 reclaims once and neither compacts nor retries nor calls the OOM
 * killer. The model's faults run the slow path between their passes (see `DirectCompact`), so a
 * readahead a fault runs stops there: it asks for the slow path (`DirectCompact.request`) and
 * leaves the rest of its read as `DirectCompact.readahead`, which the fault runs first once the
 * slow path is done, with the page it got; when it got none the readahead ends there, as
 * `page_cache_ra_unbounded()` does on a failed allocation. `MADV_WILLNEED` runs its readahead the
 * same way ({@link forcePageCacheReadahead}). A readahead given no `DirectCompact` takes the
 * first tries only.
 *
 * The I/O is synchronous in the model: each folio is read from the file's storage as it is added
 * (`read_pages()` then completes at once), so a folio read ahead is uptodate and unlocked when the
 * readahead returns.
 *
 * @module
 */
import type { DirectCompact } from "../include/compaction";
import { __GFP_NORETRY, __GFP_NOWARN, GFP_HIGHUSER_MOVABLE } from "../include/gfp";
import type { Kernel, Task } from "../include/kernel";
import type { AddressSpace, FileRaState } from "../include/mm_types";
import { PG_readahead, PG_writeback } from "../include/page_flags";
import {
  filemapAddFolio,
  filemapAllocFolio,
  filemapReadFolio,
  fileRaState,
  pageCacheNextMiss,
  pageCachePrevMiss,
  vmReadaheadPages,
} from "./filemap";

/**
 * `readahead_gfp_mask()` (`include/linux/pagemap.h`, Linux 6.16): the GFP flags of a readahead
 * allocation, the mapping's (`GFP_HIGHUSER_MOVABLE` for the model's files) with `__GFP_NORETRY`
 * (one light attempt at reclaim) and `__GFP_NOWARN`: readahead is optional.
 *
 * @category Page cache
 */
export const READAHEAD_GFP_MASK = GFP_HIGHUSER_MOVABLE | __GFP_NORETRY | __GFP_NOWARN;

/**
 * A readahead request. Models `struct readahead_control` (`include/linux/pagemap.h`): the file's
 * page cache and readahead state, the next page offset to read (`_index`), and the task the
 * readahead runs in (`current`), whose memory policy places the folios.
 *
 * @category Page cache
 */
export interface ReadaheadControl {
  readonly k: Kernel;
  readonly task: Task;
  readonly mapping: AddressSpace;
  readonly ra: FileRaState;
  /** `_index`: the page offset the next read starts at; each read moves it past what it did. */
  index: number;
  /**
   * The slow-path state of the fault or `madvise()` the readahead runs in: an allocation whose
   * first tries fail asks for the slow path there and stops the readahead until it is done
   * (`DirectCompact.readahead`). Absent: the first tries only, and a failure ends the readahead.
   */
  readonly dc?: DirectCompact;
  /**
   * True while the rest of a readahead that stopped for the slow path runs: its next allocation
   * is the page the slow path got (`dc.page`), or, with none, its end.
   */
  slowpathDone?: boolean;
}

/**
 * `DEFINE_READAHEAD()` (`include/linux/pagemap.h`): a readahead request of `task` on `mapping`
 * from page offset `index`, with the file's readahead state (`fileRaState()`), run in the fault
 * or call whose slow-path state is `dc` (see {@link ReadaheadControl.dc}).
 *
 * @category Page cache
 */
export const defineReadahead = (
  k: Kernel,
  task: Task,
  mapping: AddressSpace,
  index: number,
  dc?: DirectCompact,
): ReadaheadControl => ({ k, task, mapping, ra: fileRaState(k, mapping), index, dc });

/** `roundup_pow_of_two()` (`include/linux/log2.h`) of a positive count. */
const roundupPowOfTwo = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

/**
 * `get_init_ra_size()` (`mm/readahead.c`, Linux 6.16): the first window for a read of `size`
 * pages with at most `max`: the size rounded up to a power of two, times 4 when that is at most
 * `max / 32`, times 2 when at most `max / 4`, else `max`. With `max` 32: 1 page gives 4, 2 give
 * 4, 4 give 8, 8 give 16, 9 or more give 32.
 *
 * @category Page cache
 */
export const getInitRaSize = (size: number, max: number): number => {
  const newsize = roundupPowOfTwo(size);
  if (newsize <= Math.floor(max / 32)) return newsize * 4;
  if (newsize <= Math.floor(max / 4)) return newsize * 2;
  return max;
};

/**
 * `get_next_ra_size()` (`mm/readahead.c`, Linux 6.16): the window after one of `cur` pages, at
 * most `max`: 4 times it below `max / 16`, twice it up to `max / 2`, else `max`.
 *
 * @category Page cache
 */
export const getNextRaSize = (cur: number, max: number): number => {
  if (cur < Math.floor(max / 16)) return 4 * cur;
  if (cur <= Math.floor(max / 2)) return 2 * cur;
  return max;
};

/**
 * `ractl_max_pages()` (`mm/readahead.c`, Linux 6.16): the most pages this readahead may read, the
 * file's `ra_pages`, or up to the device's optimal I/O size (`bdi->io_pages`, which the model's
 * backing device has at its default, {@link vmReadaheadPages}) for a larger request.
 */
const ractlMaxPages = (rac: ReadaheadControl, reqSize: number): number => {
  const max = rac.ra.raPages;
  const ioPages = vmReadaheadPages(rac.k.mem.pageSize);
  return reqSize > max && ioPages > max ? Math.min(reqSize, ioPages) : max;
};

/**
 * A readahead folio's allocation: `filemapAllocFolio()` with {@link READAHEAD_GFP_MASK} (asking
 * for the slow path with `rac.dc`), or, right after the slow path ran for it, the page it got
 * (-1 when it got none).
 */
const readaheadAllocFolio = (rac: ReadaheadControl): number => {
  const dc = rac.dc;
  if (rac.slowpathDone && dc) {
    rac.slowpathDone = false;
    const page = dc.page;
    dc.page = -1;
    return page;
  }
  return filemapAllocFolio(rac.k, rac.task, READAHEAD_GFP_MASK, 0, dc);
};

/**
 * `page_cache_ra_unbounded()` (`mm/readahead.c`, Linux 6.16): reads `nrToRead` pages from
 * `rac.index` into the page cache, past the end of the file too. A page already cached is
 * skipped; each missing one gets a new order-0 folio (`filemapAllocFolio()` with
 * {@link READAHEAD_GFP_MASK}), which is added to the page cache and the LRU
 * (`filemapAddFolio()`) and read from the file (`filemapReadFolio()`). The folio at
 * `nrToRead - lookaheadSize` from the start, when it is new, is marked `PG_readahead` (none with
 * a `lookaheadSize` of 0 or above `nrToRead`). A failed allocation ends the readahead there; one
 * that asked for the slow path (with `rac.dc`) stops it there, the rest left as
 * `rac.dc.readahead` (cut at the file's end again when it runs, in case the file shrank
 * meanwhile). `rac.index` moves past the pages done. Returns the number of folios this call
 * read.
 *
 * @category Page cache
 */
export const pageCacheRaUnbounded = (
  rac: ReadaheadControl,
  nrToRead: number,
  lookaheadSize: number,
): number => {
  const { k, mapping } = rac;
  const index = rac.index;
  const mark = lookaheadSize <= nrToRead ? nrToRead - lookaheadSize : -1;
  let read = 0;
  let i = 0;
  for (; i < nrToRead; i++) {
    if (mapping.pages.has(index + i)) continue;
    const head = readaheadAllocFolio(rac);
    if (head < 0) break;
    filemapAddFolio(k, mapping, head, index + i);
    if (i === mark) k.memmap.set(head, PG_readahead);
    filemapReadFolio(k, mapping, head);
    // read_pages(): readahead_folio() drops the readahead's reference once the read is done.
    k.memmap.refcount[head]!--;
    read++;
  }
  rac.index = index + i;
  rac.slowpathDone = false;
  const dc = rac.dc;
  if (i < nrToRead && dc?.request) {
    // Page i's allocation waits for the slow path; the read goes on from it afterwards.
    const left = nrToRead - i;
    dc.readahead = () => {
      rac.slowpathDone = true;
      const nr = Math.min(left, pagesToEof(rac));
      pageCacheRaUnbounded(rac, nr, lookaheadSize - (left - nr));
    };
  }
  return read;
};

/** The pages from `rac.index` to the one that holds the file's last byte (`i_size`), or 0. */
const pagesToEof = (rac: ReadaheadControl): number => {
  const isize = rac.mapping.size;
  if (isize === 0) return 0;
  return Math.max(0, Math.floor((isize - 1) / rac.k.mem.pageSize) - rac.index + 1);
};

/**
 * `do_page_cache_ra()` (`mm/readahead.c`, Linux 6.16): {@link pageCacheRaUnbounded} cut at the
 * page that holds the file's last byte (`i_size`); nothing for an empty file or a start past its
 * end. Returns the number of folios read.
 *
 * @category Page cache
 */
export const doPageCacheRa = (
  rac: ReadaheadControl,
  nrToRead: number,
  lookaheadSize: number,
): number => {
  const nr = Math.min(nrToRead, pagesToEof(rac));
  return nr > 0 ? pageCacheRaUnbounded(rac, nr, lookaheadSize) : 0;
};

/**
 * `page_cache_ra_order()` (`mm/readahead.c`, Linux 6.16) for the readahead window `ra` from
 * `rac.index`, with folios of `newOrder` where the file allows large folios. The model's regular
 * files do not (`mapping_large_folio_support()` false), so it always falls back to order-0 folios:
 * {@link doPageCacheRa} of `ra.size` pages with the last `ra.asyncSize` marked asynchronous.
 *
 * @category Page cache
 */
export const pageCacheRaOrder = (rac: ReadaheadControl, ra: FileRaState, _newOrder: number) =>
  doPageCacheRa(rac, ra.size, ra.asyncSize);

/**
 * `force_page_cache_ra()` (`mm/readahead.c`, Linux 6.16): reads `nrToRead` pages from
 * `rac.index`, whatever the readahead state, at most `max(bdi->io_pages, ra->ra_pages)` of them
 * (32 with 4 KiB pages and the default device), with no `PG_readahead` mark
 * ({@link doPageCacheRa}). Linux reads in chunks of 2 MiB; the model's maximum, 128 KiB, is one
 * chunk. Returns the number of folios read.
 *
 * @category Page cache
 */
export const forcePageCacheRa = (rac: ReadaheadControl, nrToRead: number): number => {
  const maxPages = Math.max(vmReadaheadPages(rac.k.mem.pageSize), rac.ra.raPages);
  return doPageCacheRa(rac, Math.min(nrToRead, maxPages), 0);
};

/**
 * `force_page_cache_readahead()` (`include/linux/pagemap.h`, Linux 6.16), as
 * `generic_fadvise(POSIX_FADV_WILLNEED)` (`mm/fadvise.c`) calls it for `madvise(MADV_WILLNEED)`:
 * {@link forcePageCacheRa} of `nrToRead` pages of `mapping` from page offset `index`, in `task`.
 * With `dc` it stops where an allocation asks for the slow path, leaving the rest as
 * `dc.readahead` (see {@link pageCacheRaUnbounded}).
 *
 * @category Page cache
 */
export const forcePageCacheReadahead = (
  k: Kernel,
  task: Task,
  mapping: AddressSpace,
  index: number,
  nrToRead: number,
  dc?: DirectCompact,
): number => forcePageCacheRa(defineReadahead(k, task, mapping, index, dc), nrToRead);

/**
 * `page_cache_sync_ra()` (`mm/readahead.c`, Linux 6.16): a page-cache miss at `rac.index` for a
 * read of `reqCount` pages. With `ra_pages` 0 only the one page is read
 * ({@link forcePageCacheRa}). At offset 0, for a request above the most readahead may read, or
 * right after the previous `read()` (never, in the model), a new window starts at the miss:
 * {@link getInitRaSize} pages, of which all but the request are asynchronous (half, when the
 * window is no larger than the request). Otherwise the page cache is asked how many pages before
 * the miss it holds in a row (`page_cache_prev_miss()`): no more than the request makes this a
 * small random read, read as it is ({@link doPageCacheRa}, no mark, the state untouched); more
 * starts a window at the miss of that many pages plus the request (twice that many when the
 * file is cached from its start), at most the maximum, with one asynchronous page.
 *
 * @category Page cache
 */
export const pageCacheSyncRa = (rac: ReadaheadControl, reqCount: number): void => {
  const ra = rac.ra;
  const index = rac.index;
  if (!ra.raPages) {
    forcePageCacheRa(rac, 1);
    return;
  }
  const maxPages = ractlMaxPages(rac, reqCount);
  // prev_pos is -1 without a read(): (u64)-1 >> PAGE_SHIFT is never index or index - 1.
  const prevIndex = ra.prevPos < 0 ? -2 : Math.floor(ra.prevPos / rac.k.mem.pageSize);
  if (
    !index ||
    reqCount > maxPages ||
    (prevIndex >= 0 && index - prevIndex <= 1 && index >= prevIndex)
  ) {
    ra.start = index;
    ra.size = getInitRaSize(reqCount, maxPages);
    ra.asyncSize = ra.size > reqCount ? ra.size - reqCount : ra.size >> 1;
  } else {
    const miss = pageCachePrevMiss(rac.mapping, index - 1, maxPages);
    // contig_count = index - miss - 1, with ULONG_MAX (-1) for a file cached from offset 0.
    let contig = miss < 0 ? index : index - miss - 1;
    if (contig <= reqCount) {
      doPageCacheRa(rac, reqCount, 0);
      return;
    }
    if (miss < 0) contig *= 2;
    ra.start = index;
    ra.size = Math.min(contig + reqCount, maxPages);
    ra.asyncSize = 1;
  }
  rac.index = ra.start;
  pageCacheRaOrder(rac, ra, 0);
};

/**
 * `page_cache_async_ra()` (`mm/readahead.c`, Linux 6.16): a read of `reqCount` pages met, at
 * `rac.index`, the folio `head` marked `PG_readahead`. Nothing with `ra_pages` 0 or when the
 * folio is under writeback (where the bit means `PG_reclaim`); otherwise the mark is cleared.
 * When the folio is where the last window put its mark, the next window follows it, as large as
 * {@link getNextRaSize} makes it (never smaller than the last), all of it asynchronous. Otherwise
 * (interleaved reads) the page cache is asked where the cached run after the folio ends
 * (`page_cache_next_miss()`); a run longer than the maximum reads nothing, a shorter one starts
 * a window at its end, of its length plus the request, ramped up, all asynchronous. The window
 * is read with {@link pageCacheRaOrder}.
 *
 * @category Page cache
 */
export const pageCacheAsyncRa = (rac: ReadaheadControl, head: number, reqCount: number): void => {
  const { k, ra } = rac;
  if (!ra.raPages) return;
  if (k.memmap.test(head, PG_writeback)) return;
  k.memmap.clear(head, PG_readahead);
  const index = rac.index;
  const maxPages = ractlMaxPages(rac, reqCount);
  const order = k.memmap.folioOrder(head);
  const align = 2 ** order;
  const expected = ra.start + ra.size - ra.asyncSize;
  if (index === expected - (expected % align)) {
    ra.start += ra.size;
    ra.size = Math.max(ra.size, getNextRaSize(ra.size, maxPages));
    ra.asyncSize = ra.size;
  } else {
    const start = pageCacheNextMiss(rac.mapping, index + 1, maxPages);
    if (!start || start - index > maxPages) return;
    ra.start = start;
    ra.size = getNextRaSize(start - index + reqCount, maxPages);
    ra.asyncSize = ra.size;
  }
  rac.index = ra.start;
  pageCacheRaOrder(rac, ra, order + 2);
};
