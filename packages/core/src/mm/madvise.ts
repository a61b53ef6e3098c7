/**
 * The advice of `madvise(2)` that acts on pages (those that only change VMA flags are
 * `setVmFlags`, `mm/mmap.ts`, with the checks some of them make of each VMA here).
 *
 * Models `madvise_dontneed_free()` of `mm/madvise.c` for `MADV_DONTNEED`: the range's pages are
 * zapped and the PTE tables it covers whole freed (`CONFIG_PT_RECLAIM`); a hugetlb VMA's whole huge
 * pages are zapped. Models
 * `madvise_willneed()` for `MADV_WILLNEED` on a file mapping: its pages are read into the page
 * cache (`mm/readahead.ts`). Models
 * `madvise_inject_error()` for `MADV_SOFT_OFFLINE`: for each page of
 * the range, the page is looked up as `get_user_pages_fast()` does (faulting it in for reading
 * when absent, waiting when it is under migration), and soft-offlined with `MF_COUNT_INCREASED`
 * (`soft_offline_page()`, `mm/memory_failure.ts`). A hugetlb page is one step of its whole size.
 *
 * @module
 */
import { Effect } from "effect";
import { type ErrnoError, errno } from "../errno";
import { CAP_SYS_ADMIN } from "../include/capability";
import { type DirectCompact, newDirectCompact } from "../include/compaction";
import type { Kernel, Task } from "../include/kernel";
import { VM_HUGETLB, VM_LOCKED, VM_SHARED, type Vma } from "../include/mm_types";
import { zapPageRangeSingle } from "./memory";
import { softOfflinePage } from "./memory_failure";
import { madviseWalkVmas } from "./mmap";
import { allocPagesSlowpath } from "./page_alloc";
import { forcePageCacheReadahead } from "./readahead";
import { folioGet, putSlowpathPage } from "./swap";

const hex = (n: number): string => `0x${n.toString(16)}`;

/**
 * `madvise_vma_behavior()`'s check of each VMA for `MADV_WIPEONFORK` (`mm/madvise.c`, Linux
 * 6.16): wipe-on-fork is for private anonymous memory only, so `EINVAL` for a VMA with a file
 * behind it (`vma->vm_file`: a file mapping, private or shared; a shared anonymous mapping, whose
 * shmem object is a file; a hugetlb mapping, which `ksys_mmap_pgoff()` backs with a hugetlbfs
 * file even when it is private and anonymous) or with `VM_SHARED`; null otherwise, a
 * `MAP_DROPPABLE` VMA included (it has the flag already).
 *
 * @category Address spaces
 */
export const madviseWipeonforkRefused = (vma: Vma): ErrnoError | null =>
  vma.mapping !== null || vma.flags & (VM_SHARED | VM_HUGETLB)
    ? errno(
        "EINVAL",
        `madvise(MADV_WIPEONFORK): the VMA ${hex(vma.start)}-${hex(vma.end)} is not private anonymous memory`,
      )
    : null;

/**
 * `madvise_vma_behavior()`'s check of each VMA for `MADV_KEEPONFORK` (`mm/madvise.c`, Linux
 * 6.16): `EINVAL` for a `VM_DROPPABLE` VMA ({@link Vma.droppable}), whose `VM_WIPEONFORK` came
 * with `mmap(MAP_DROPPABLE)` and stays; null otherwise.
 *
 * @category Address spaces
 */
export const madviseKeeponforkRefused = (vma: Vma): ErrnoError | null =>
  vma.droppable
    ? errno(
        "EINVAL",
        `madvise(MADV_KEEPONFORK): the VMA ${hex(vma.start)}-${hex(vma.end)} is MAP_DROPPABLE, which always wipes on fork`,
      )
    : null;

/**
 * `madvise(addr, length, MADV_DONTNEED)` or `MADV_DONTNEED_LOCKED` (`do_madvise()`,
 * `madvise_walk_vmas()` and `madvise_dontneed_free()`, `mm/madvise.c`, Linux 6.16): zaps the pages of each VMA in
 * `[addr, addr + length)` (`zap_page_range_single_batched()` with `even_cows` and `reclaim_pt`,
 * {@link zapPageRangeSingle}): a private anonymous page is gone (the next read maps zeros), a
 * file or shmem page stays cached and is faulted back; a PTE table the range covers whole is
 * freed, one it covers in part stays, so a later THP fault there falls back to a base page. The
 * length is rounded up to pages. In a hugetlb VMA only whole huge pages go
 * (`madvise_dontneed_free_valid_vma()`): the part of the range in it must start on a huge page
 * boundary, and its end is rounded down to one, so a part shorter than a huge page zaps nothing;
 * the zap (`__unmap_hugepage_range()`, `mm/hugetlb.ts`) frees a private mapping's page back to
 * the pool, its reservation restored when the pool has no surplus page (the next fault maps a
 * zeroed page), and leaves a shared mapping's page in its file's page cache (the next fault maps
 * it again, its data kept). `EINVAL` for an unaligned `addr` or a bad length, and, as
 * `madvise_dontneed_free_valid_vma()` refuses them, where the range meets a `VM_LOCKED` VMA or
 * starts inside a hugetlb VMA's huge page (the VMAs before it already zapped). Holes are skipped
 * and give `ENOMEM` at the end, the VMAs after them zapped. With `locked`
 * (`MADV_DONTNEED_LOCKED`) a `VM_LOCKED` VMA is zapped too, its pages munlocked as they are
 * unmapped (`munlock_vma_folio()`); it stays locked, so its next fault maps an mlocked page.
 *
 * @category Address spaces
 */
export const madviseDontneed = (
  k: Kernel,
  task: Task,
  addr: number,
  length: number,
  locked = false,
): 0 | ErrnoError => {
  const pageSize = k.mem.pageSize;
  return madviseWalkVmas(k, task, addr, length, (vma, from, to) => {
    if (vma.flags & VM_HUGETLB) {
      // madvise_dontneed_free_valid_vma(): whole huge pages from an aligned start only.
      const size = vma.hstate!.size;
      if (from % size !== 0) {
        return errno(
          "EINVAL",
          `madvise(MADV_DONTNEED): 0x${from.toString(16)} is not aligned to the hugetlb VMA's ${size / 1024} kB pages`,
        );
      }
      to -= to % size;
      if (to === from) return 0;
    } else if (vma.flags & VM_LOCKED && !locked) {
      return errno("EINVAL", `madvise(MADV_DONTNEED): 0x${from.toString(16)} is mlocked`);
    }
    zapPageRangeSingle(k, vma, (from - vma.start) / pageSize, (to - vma.start) / pageSize);
    return 0;
  });
};

/**
 * `madvise(addr, length, MADV_WILLNEED)` (`madvise_walk_vmas()` and `madvise_willneed()`,
 * `mm/madvise.c`, Linux 6.16): for each VMA of `[addr, addr + length)` that maps a regular file,
 * the file's pages under the range are read into the page cache now, as
 * `vfs_fadvise(POSIX_FADV_WILLNEED)` does (`generic_fadvise()`, `mm/fadvise.c`): from the page
 * holding the range's first byte to the one holding its last, through
 * `force_page_cache_readahead()` ({@link forcePageCacheReadahead}), which reads at most
 * `max(bdi->io_pages, ra_pages)` pages (32 with 4 KiB pages) per VMA, none past the end of the
 * file, and maps nothing. A readahead allocation the free lists cannot serve takes the
 * allocator's slow path (`allocPagesSlowpath()`: `__GFP_NORETRY`, one round of reclaim) and the
 * read goes on with the page it got, or ends there without one. Anonymous and shmem memory has
 * nothing to swap in (the model has no swap), and a hugetlb file's backing device is
 * `noop_backing_dev_info`, whose advice is ignored: nothing is done for them. The length is
 * rounded up to pages. `EINVAL` for an unaligned `addr` or a bad length; holes are skipped and
 * give `ENOMEM` at the end, the VMAs after them read.
 *
 * @category Address spaces
 */
export const madviseWillneed = (
  k: Kernel,
  task: Task,
  addr: number,
  length: number,
): Effect.Effect<void, ErrnoError> =>
  Effect.suspend(() => {
    const pageSize = k.mem.pageSize;
    const reads: Array<(dc: DirectCompact) => void> = [];
    const walked = madviseWalkVmas(k, task, addr, length, (vma, from, to) => {
      const mapping = vma.mapping;
      if (!mapping || mapping.shmem || vma.flags & VM_HUGETLB) return 0;
      const first = vma.pgoff + (from - vma.start) / pageSize;
      const nr = (to - from) / pageSize;
      reads.push((dc) => forcePageCacheReadahead(k, task, mapping, first, nr, dc));
      return 0;
    });
    const readAll = Effect.forEach(reads, (read) => readaheadWithSlowpath(k, task, read), {
      discard: true,
    });
    return walked === 0 ? readAll : Effect.andThen(readAll, Effect.fail(walked));
  });

/**
 * Runs `read`, a readahead outside a fault, to its end: each time an allocation stops it for the
 * slow path (`DirectCompact.request`), the slow path runs in `task` (`allocPagesSlowpath()`) and
 * the rest of the read (`DirectCompact.readahead`) goes on with the page it got. What it got and
 * the read did not take is given back.
 */
const readaheadWithSlowpath = (
  k: Kernel,
  task: Task,
  read: (dc: DirectCompact) => void,
): Effect.Effect<void, ErrnoError> => {
  const dc = newDirectCompact();
  const loop: Effect.Effect<void, ErrnoError> = Effect.suspend(() => {
    putSlowpathPage(k, dc);
    const req = dc.request;
    if (!req) return Effect.void;
    dc.request = null;
    return Effect.flatMap(allocPagesSlowpath(k, req, task), (r) => {
      dc.page = r.page;
      const rest = dc.readahead;
      dc.readahead = null;
      rest?.();
      return loop;
    });
  });
  return Effect.ensuring(
    Effect.suspend(() => {
      read(dc);
      return loop;
    }),
    Effect.sync(() => putSlowpathPage(k, dc)),
  );
};

/**
 * `madvise(addr, length, MADV_SOFT_OFFLINE)` (`do_madvise()` then `madvise_inject_error()`,
 * `mm/madvise.c`): soft-offlines every page of `[addr, addr + length)`, stopping at the first
 * failure. `EINVAL` for an unaligned `addr` or a range that wraps; `EPERM` without
 * `CAP_SYS_ADMIN`; `EFAULT` for an address with nothing mapped; then what `soft_offline_page()`
 * returns (`EBUSY`, `EIO`). A zero length does nothing. Each page is looked up with
 * `getUserPageFast` (the task's `get_user_pages_fast()`, which faults it in with the whole fault
 * path).
 *
 * @category Memory and folios
 */
export const madviseSoftOffline = (
  k: Kernel,
  task: Task,
  addr: number,
  length: number,
  getUserPageFast: (addr: number) => Effect.Effect<number, ErrnoError>,
): Effect.Effect<void, ErrnoError> =>
  Effect.gen(function* () {
    const pageSize = k.mem.pageSize;
    if (!Number.isSafeInteger(addr) || addr < 0 || addr % pageSize !== 0)
      return yield* Effect.fail(errno("EINVAL", `madvise: address ${addr} is not page aligned`));
    if (!Number.isSafeInteger(length) || length < 0)
      return yield* Effect.fail(errno("EINVAL", `madvise: length ${length} is not valid`));
    if (length === 0) return;
    if (!task.capable(CAP_SYS_ADMIN))
      return yield* Effect.fail(errno("EPERM", "madvise(MADV_SOFT_OFFLINE) needs CAP_SYS_ADMIN"));
    const end = addr + length;
    for (let start = addr; start < end; ) {
      // get_user_pages_fast(start, 1, 0): a read fault when absent; waits out a migration.
      const pfn = yield* getUserPageFast(start);
      // get_user_pages_fast()'s reference, which soft_offline_page() (MF_COUNT_INCREASED) puts.
      const head = k.memmap.folioOf(pfn);
      const size = k.memmap.folioNrPages(head) * pageSize;
      folioGet(k, head);
      yield* softOfflinePage(k, pfn, true, task);
      start += size;
    }
  });
