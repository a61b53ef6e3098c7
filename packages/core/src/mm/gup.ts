/**
 * Faulting in a range of an address space ahead of use.
 *
 * Models `populate_vma_page_range()` and `__mm_populate()` (`mm/gup.c`, Linux 6.16), which
 * `mmap(MAP_POPULATE)` (`mm_populate()`, ignoring errors) and `mlock()` (`do_mlock()`,
 * reporting them) run once the mapping or the lock is in place. Each page takes the whole fault
 * path, `__get_user_pages()` → `faultin_page()` → `handle_mm_fault()`. Here that is a resumable
 * step, like `accessVm()`: it stops where the fault wants the allocator's slow path (a
 * `DirectCompact` request, or a misplaced folio to move) or a folio under migration to be waited
 * for, and the caller (the task's fault loop) does that and calls again.
 *
 * @module
 */
import { errno } from "../errno";
import { directCompactFaultDone } from "../include/compaction";
import type { Kernel, Task } from "../include/kernel";
import { VM_LOCKONFAULT, VM_SHARED, VM_WRITE, type Vma } from "../include/mm_types";
import { type AccessProgress, translate, VM_FAULT_RETRY_ACCESS } from "./memory";
import { putSlowpathPage } from "./swap";

/**
 * `populate_vma_page_range()` (`mm/gup.c`, Linux 6.16): faults in the pages of `vma` from
 * `base + progress.done` up to `end` (page aligned, inside `vma`), advancing `progress.done`
 * (bytes from `base`) page by page. A private writable VMA takes write faults (`FOLL_WRITE`), so
 * copy-on-write breaks now; any other a read fault, which does not dirty a shared mapping.
 * Returns true once the range is done; false when it stopped: for the slow path or a misplaced
 * folio (`progress.compact`), for a folio under migration (`progress.waitPfn`), or at an error
 * (`progress.error`; `EFAULT` where the fault reported a poisoned page, as `vm_fault_to_errno()`
 * does without `FOLL_HWPOISON`). A `VM_LOCKONFAULT` VMA (`mlock2(MLOCK_ONFAULT)`,
 * `mlockall(MCL_ONFAULT)`) is done at once, nothing faulted in.
 */
export const populateVmaPageRange = (
  k: Kernel,
  task: Task,
  vma: Vma,
  base: number,
  end: number,
  progress: AccessProgress,
): boolean => {
  // A VM_LOCKONFAULT VMA is locked page by page as it faults; there is nothing to do here.
  if (vma.flags & VM_LOCKONFAULT) {
    progress.done = end - base;
    return true;
  }
  const pageSize = k.mem.pageSize;
  const write = (vma.flags & (VM_WRITE | VM_SHARED)) === VM_WRITE;
  while (base + progress.done < end) {
    const pfn = faultinPage(k, task, base + progress.done, write, progress);
    if (pfn === null) {
      const error = progress.error;
      if (error?.errno === "EHWPOISON")
        progress.error = errno("EFAULT", `populate: ${error.message}`);
      return false;
    }
    progress.done += pageSize;
  }
  return true;
};

/**
 * The page at `addr` as `__get_user_pages()` gets it (`follow_page_mask()`, then `faultin_page()`
 * → `handle_mm_fault()` with `FAULT_FLAG_ALLOW_RETRY`, `mm/gup.c`, Linux 6.16), as a step of the
 * caller's fault loop: returns the PFN once the page is mapped (for writing with `write`); null
 * when it stopped for the slow path or a misplaced folio (`progress.compact`), for a folio under
 * migration (`progress.waitPfn`), or at an error (`progress.error`).
 *
 * @category Address spaces
 */
export const faultinPage = (
  k: Kernel,
  task: Task,
  addr: number,
  write: boolean,
  progress: AccessProgress,
): number | null => {
  const pfn = translate(k, task, Math.floor(addr / k.mem.pageSize), write, progress.compact);
  if (pfn === VM_FAULT_RETRY_ACCESS) return null;
  if (typeof pfn !== "number") {
    progress.error = pfn;
    return null;
  }
  if (pfn < 0) {
    progress.waitPfn = k.memmap.folioOf(-pfn - 1);
    return null;
  }
  return pfn;
};

/**
 * `__mm_populate()` (`mm/gup.c`, Linux 6.16): faults in `[start, end)` (page aligned), VMA by
 * VMA (`find_vma_intersection()`), skipping holes, with {@link populateVmaPageRange}.
 * `progress.done` counts the bytes from `start` done or skipped, so a call resumes where the last
 * stopped. A fault's error with `ignoreErrors` (`mm_populate()`, as `mmap()` runs it) ends that
 * VMA only: the walk goes on at the next one, the error forgotten, and with it what the slow path
 * kept for the failed fault; without it (`mlock()`) the walk stops with `progress.error`. Stops,
 * as {@link populateVmaPageRange} does, for the slow path and migration waits.
 */
export const mmPopulate = (
  k: Kernel,
  task: Task,
  start: number,
  end: number,
  ignoreErrors: boolean,
  progress: AccessProgress,
): void => {
  const mm = task.mm!;
  while (start + progress.done < end) {
    const vma = mm.findVmaIntersection(start + progress.done, end);
    if (!vma) {
      progress.done = end - start;
      return;
    }
    const nend = Math.min(end, vma.end);
    progress.done = Math.max(start + progress.done, vma.start) - start;
    if (populateVmaPageRange(k, task, vma, start, nend, progress)) continue;
    if (!progress.error || !ignoreErrors) return;
    // "continue at next VMA": this fault is over, so is what it asked the slow path for.
    progress.error = null;
    putSlowpathPage(k, progress.compact);
    directCompactFaultDone(progress.compact);
    progress.done = nend - start;
  }
};
