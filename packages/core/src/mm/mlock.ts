/**
 * Mlocked folios.
 *
 * Models the folio side of `mm/mlock.c` (Linux 6.16): `mlock_folio()` and `munlock_folio()`, which
 * set or clear `PG_mlocked` and move a folio on the LRU between its evictable list and the
 * unevictable one (`__mlock_folio()`, `__munlock_folio()`); `mlock_vma_folio()`
 * (`mm/internal.h`), which the reverse map calls when it maps a folio into a `VM_LOCKED` VMA; and
 * `mlock_vma_pages_range()` / `mlock_pte_range()`, which `mlock()` and `munlock()` run over the
 * pages a VMA already maps. The system calls themselves (`apply_vma_lock_flags()`, `do_mlock()`)
 * are `applyVmaLockFlags()` in `mm/mmap.ts`, beside the other walks that change VMAs.
 *
 * A folio on the unevictable list counts its mlocks in `folio->mlock_count` (here
 * `MemMap.mlockCount`): each `VM_LOCKED` VMA that maps or mlocks it adds one, each munlock or unmap
 * from one takes one away, and it goes back to an evictable list at the last. `NR_MLOCK` (the
 * pages with `PG_mlocked`, `nr_mlock` in `/proc/vmstat`, `Mlocked:` in `/proc/meminfo`) and the
 * `unevictable_pgs_*` events follow the kernel's.
 *
 * The locked-memory limit: `can_do_mlock()` and the `RLIMIT_MEMLOCK` check of `do_mlock()`
 * ({@link canDoMlock}, {@link doMlockCheckLimit}), over `mm->locked_vm` ({@link mmLockedVm}), and
 * `mlock_future_ok()` (`mm/mmap.c`, {@link mlockFutureOk}) for mappings and stack growth yet to
 * come.
 *
 * @module
 */
import { type ErrnoError, errno } from "../errno";
import { CAP_IPC_LOCK } from "../include/capability";
import type { Kernel } from "../include/kernel";
import { type MmStruct, VM_LOCKED, type Vma } from "../include/mm_types";
import { PG_active, PG_lru, PG_mlocked, PG_unevictable } from "../include/page_flags";
import { ptePfn, ptePresent, pteSpecial } from "../include/pgtable";
import type { TaskStruct } from "../include/sched";

/**
 * `mlock_folio()` and `__mlock_folio()` (`mm/mlock.c`, Linux 6.16): marks the folio `PG_mlocked`
 * (a folio newly so adds its pages to `NR_MLOCK` and `unevictable_pgs_mlocked`). A folio on an
 * evictable LRU list moves to the unevictable one, no longer active, with an `mlock_count` of 1
 * (`unevictable_pgs_culled`); one on the unevictable list counts one more mlock. A folio off the
 * LRU (isolated) is left for `lru_add()` to place when it is put back.
 *
 * @category Reclaim
 */
export const mlockFolio = (k: Kernel, head: number): void => {
  const m = k.memmap;
  const nr = m.folioNrPages(head);
  if (!m.test(head, PG_mlocked)) {
    m.set(head, PG_mlocked);
    k.vmstat.count("unevictable_pgs_mlocked", nr);
  }
  if (!m.test(head, PG_lru)) return;
  if (m.test(head, PG_unevictable)) {
    m.mlockCount[head]!++;
    return;
  }
  m.lru.del(head);
  m.clear(head, PG_active);
  m.set(head, PG_unevictable);
  m.mlockCount[head] = 1;
  k.lru.add(head);
  k.vmstat.count("unevictable_pgs_culled", nr);
};

/**
 * `mlock_new_folio()` and `__mlock_new_folio()` (`mm/mlock.c`, Linux 6.16), which
 * `folio_add_lru_vma()` (`mm/swap.c`) calls for a new folio faulted into a `VM_LOCKED` VMA: the
 * folio, not yet on the LRU, is marked `PG_mlocked` (`NR_MLOCK`, `unevictable_pgs_mlocked`) and
 * goes on the unevictable list with an `mlock_count` of 1 (`unevictable_pgs_culled`).
 *
 * @category Reclaim
 */
export const mlockNewFolio = (k: Kernel, head: number): void => {
  const m = k.memmap;
  const nr = m.folioNrPages(head);
  m.set(head, PG_mlocked | PG_unevictable);
  m.clear(head, PG_active);
  m.mlockCount[head] = 1;
  k.vmstat.count("unevictable_pgs_mlocked", nr);
  k.vmstat.count("unevictable_pgs_culled", nr);
  k.lru.add(head);
};

/**
 * `munlock_folio()` and `__munlock_folio()` (`mm/mlock.c`, Linux 6.16): takes one mlock off a
 * folio. A folio on the unevictable list with mlocks left after that stays mlocked. Otherwise
 * `PG_mlocked` is cleared (`NR_MLOCK` less its pages), counted as `unevictable_pgs_munlocked`, or
 * `unevictable_pgs_stranded` when the folio is off the LRU with `PG_unevictable` (isolated from
 * the unevictable list: `lru_add()` rescues it when it is put back); a folio on the unevictable
 * list then moves back to its evictable list (inactive), counted as `unevictable_pgs_rescued`.
 *
 * @category Reclaim
 */
export const munlockFolio = (k: Kernel, head: number): void => {
  const m = k.memmap;
  const nr = m.folioNrPages(head);
  const onLru = m.test(head, PG_lru);
  const unevictable = m.test(head, PG_unevictable);
  if (onLru && unevictable) {
    // The count may undercount (lru_add() resets it): then this munlock is taken as the last.
    if (m.mlockCount[head]! > 0) m.mlockCount[head]!--;
    if (m.mlockCount[head]! > 0) return;
  }
  if (m.testAndClear(head, PG_mlocked)) {
    k.vmstat.count(
      onLru || !unevictable ? "unevictable_pgs_munlocked" : "unevictable_pgs_stranded",
      nr,
    );
  }
  if (onLru && unevictable) {
    m.lru.del(head);
    m.clear(head, PG_unevictable);
    k.lru.add(head);
    k.vmstat.count("unevictable_pgs_rescued", nr);
  }
};

/**
 * `NR_MLOCK` (`enum zone_stat_item`, `include/linux/mmzone.h`): the pages of every folio with
 * `PG_mlocked`, as `/proc/vmstat` (`nr_mlock`) and `/proc/meminfo` (`Mlocked:`) show them. The
 * kernel adjusts the counter wherever `PG_mlocked` is set or cleared; the model counts the flag.
 *
 * @category Reclaim
 */
export const nrMlock = (k: Kernel): number => {
  const m = k.memmap;
  let pages = 0;
  // Each node's pages, not every PFN its sections span: a section may be larger than its node's
  // memory (1 GiB sections under 16 MiB nodes by default), and a flag is only set on a page.
  for (const { startPfn, presentPages } of k.mem.nodes) {
    for (let pfn = startPfn; pfn < startPfn + presentPages; pfn++) {
      if (m.flags[pfn]! & PG_mlocked && m.folioOf(pfn) === pfn) pages += m.folioNrPages(pfn);
    }
  }
  return pages;
};

/**
 * `munlock_vma_folio()` (`mm/internal.h`, Linux 6.16) as `__folio_remove_rmap()` (`mm/rmap.c`)
 * calls it after unmapping a folio (some of its pages, or a PMD) from `vma`: a folio unmapped from
 * a `VM_LOCKED` VMA is munlocked ({@link munlockFolio}), whatever its size; if another locked VMA
 * still maps a large folio whole, reclaim restores its mlock.
 *
 * @category Reclaim
 */
export const munlockVmaFolio = (k: Kernel, vma: Vma, head: number): void => {
  if (vma.flags & VM_LOCKED) munlockFolio(k, head);
};

/**
 * `mlock_vma_folio()` (`mm/internal.h`, Linux 6.16) as `__folio_add_anon_rmap()` and
 * `__folio_add_file_rmap()` (`mm/rmap.c`) call it after mapping a folio into `vma`: mlocks a
 * small folio mapped into a `VM_LOCKED` VMA ({@link mlockFolio}). A large folio is left alone
 * there, since the rmap cannot tell whether the VMA maps it whole; `mlock()` and reclaim deal with
 * it.
 */
export const mlockVmaFolio = (k: Kernel, vma: Vma, head: number): void => {
  if (vma.flags & VM_LOCKED && k.memmap.folioOrder(head) === 0) mlockFolio(k, head);
};

/**
 * `mlock_vma_pages_range()` and `mlock_pte_range()` (`mm/mlock.c`, Linux 6.16): after
 * `mlock_fixup()` set or cleared `VM_LOCKED` on `vma`, mlocks ({@link mlockFolio}) or munlocks
 * ({@link munlockFolio}) every folio it maps in `[start, end)` (bytes): a folio mapped by a huge
 * PMD (not the huge zero folio); a small folio by its PTE; a large folio mapped by PTEs, when
 * mlocking, only where all its pages lie in `[start, end)` and are mapped there in order
 * (`allow_mlock_munlock()`, `folio_within_range()`), and when munlocking wherever a page of it is
 * mapped. The zero page is skipped. A hugetlb VMA never gets here (`mlock_fixup()` leaves it).
 */
export const mlockVmaPagesRange = (k: Kernel, vma: Vma, start: number, end: number): void => {
  const m = k.memmap;
  const lock = (vma.flags & VM_LOCKED) !== 0;
  const apply = (head: number) => (lock ? mlockFolio(k, head) : munlockFolio(k, head));
  const pageSize = k.mem.pageSize;
  const pmdSize = pageSize * (1 << k.pmdOrder);
  for (const [haddr, pmd] of vma.pmds) {
    if (haddr < end && haddr + pmdSize > start && ptePresent(pmd) && !pteSpecial(pmd))
      apply(ptePfn(pmd));
  }
  const first = (start - vma.start) / pageSize;
  const last = (end - vma.start) / pageSize;
  for (let slot = first; slot < last; slot++) {
    const pte = vma.ptes[slot]!;
    if (!ptePresent(pte) || pteSpecial(pte)) continue;
    const page = ptePfn(pte);
    const head = m.folioOf(page);
    const nr = m.folioNrPages(head);
    if (nr === 1 || !lock) {
      apply(head);
      continue;
    }
    // A large folio to mlock: once, at its first page, if every page of it is mapped here in order.
    if (page !== head || slot + nr > last) continue;
    let whole = true;
    for (let i = 1; i < nr && whole; i++) {
      const next = vma.ptes[slot + i]!;
      whole = ptePresent(next) && ptePfn(next) === head + i;
    }
    if (whole) apply(head);
  }
};

/**
 * `__mlock_posix_error_return()` (`mm/mlock.c`, Linux 6.16): the error `mlock()` returns for a
 * fault's error while it populates the range: `EFAULT` becomes `ENOMEM` (a range with pages
 * that cannot be locked), `ENOMEM` becomes `EAGAIN` (some of it could not be locked for want of
 * memory); any other error stays.
 */
export const mlockPosixErrorReturn = (err: ErrnoError): ErrnoError => {
  if (err.errno === "EFAULT") return errno("ENOMEM", `mlock: ${err.message}`);
  if (err.errno === "ENOMEM") return errno("EAGAIN", `mlock: ${err.message}`);
  return err;
};

/**
 * `can_do_mlock()` (`mm/mlock.c`, Linux 6.16): whether `task` may lock memory at all: its
 * `RLIMIT_MEMLOCK` ({@link TaskStruct.rlimitMemlock}) is not 0, or it has `CAP_IPC_LOCK`.
 * `mlock()` and `mmap(MAP_LOCKED)` fail with `EPERM` where it may not.
 *
 * @category Address spaces
 */
export const canDoMlock = (task: TaskStruct): boolean =>
  task.rlimitMemlock !== 0 || task.capable(CAP_IPC_LOCK);

/**
 * `mm->locked_vm` (`include/linux/mm_types.h`): the pages of the address space's `VM_LOCKED`
 * VMAs. The kernel keeps a counter that `mlock_fixup()`, `__mmap_region()`, the unmap and stack
 * growth adjust; the model counts the flag, which gives the same number (no hugetlb VMA is ever
 * `VM_LOCKED`, a `VM_DROPPABLE` one only from `mm->def_flags` as the kernel counts it, and the
 * model pins no pages through `account_locked_vm()`).
 *
 * @category Address spaces
 */
export const mmLockedVm = (mm: MmStruct): number => {
  let pages = 0;
  for (const vma of mm.vmas) if (vma.flags & VM_LOCKED) pages += vma.nrPages;
  return pages;
};

/**
 * `count_mm_mlocked_page_nr()` (`mm/mlock.c`, Linux 6.16): the pages of `[start, end)` (bytes,
 * page aligned) that `VM_LOCKED` VMAs already cover, which a new `mlock()` of the range does not
 * count again.
 */
const countMmMlockedPageNr = (mm: MmStruct, start: number, end: number, pageSize: number) => {
  let bytes = 0;
  for (const vma of mm.vmasIn(start, end)) {
    if (vma.flags & VM_LOCKED) bytes += Math.min(end, vma.end) - Math.max(start, vma.start);
  }
  return bytes / pageSize;
};

/**
 * The `RLIMIT_MEMLOCK` check of `do_mlock()` (`mm/mlock.c`, Linux 6.16) for an `mlock()` of
 * `[start, end)` (bytes, page aligned) by `task`: the range's pages plus `mm->locked_vm`
 * ({@link mmLockedVm}), less those of the range already locked (`count_mm_mlocked_page_nr()`),
 * may not exceed the limit in pages (`rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT`, rounded down) unless
 * the task has `CAP_IPC_LOCK`. `ENOMEM` when they do; null when the range may be locked. A task
 * that may not lock at all ({@link canDoMlock}) is the caller's `EPERM`.
 *
 * @category Address spaces
 */
export const doMlockCheckLimit = (
  k: Kernel,
  task: TaskStruct,
  start: number,
  end: number,
): ErrnoError | null => {
  if (task.capable(CAP_IPC_LOCK)) return null;
  const pageSize = k.mem.pageSize;
  const mm = task.mm!;
  const limit = Math.floor(task.rlimitMemlock / pageSize);
  let locked = (end - start) / pageSize + mmLockedVm(mm);
  if (locked > limit) locked -= countMmMlockedPageNr(mm, start, end, pageSize);
  if (locked <= limit) return null;
  return errno(
    "ENOMEM",
    `mlock: ${locked} pages locked would exceed RLIMIT_MEMLOCK (${task.rlimitMemlock} bytes, ${limit} pages) without CAP_IPC_LOCK`,
  );
};

/**
 * `mlock_future_ok()` (`mm/mmap.c`, Linux 6.16): whether `task` may add `bytes` of memory with
 * the VMA flags `flags` to its locked memory. Always when `flags` lacks `VM_LOCKED` or the task
 * has `CAP_IPC_LOCK`; otherwise only when `bytes` in whole pages (rounded down) plus
 * `mm->locked_vm` ({@link mmLockedVm}) stay within `RLIMIT_MEMLOCK` in pages
 * ({@link TaskStruct.rlimitMemlock}, rounded down). `do_mmap()` fails with `EAGAIN` where not,
 * for `MAP_LOCKED` or an address space whose `mm->def_flags` has `VM_LOCKED`
 * (`mlockall(MCL_FUTURE)`); a locked stack's growth (`acct_stack_growth()`, `mm/vma.c`) with
 * `ENOMEM`. The kernel keeps it in `mm/mmap.c`; it lives here with the other limit checks.
 *
 * @category Address spaces
 */
export const mlockFutureOk = (
  k: Kernel,
  task: TaskStruct,
  flags: number,
  bytes: number,
): boolean => {
  if (!(flags & VM_LOCKED) || task.capable(CAP_IPC_LOCK)) return true;
  const pageSize = k.mem.pageSize;
  const locked = Math.floor(bytes / pageSize) + mmLockedVm(task.mm!);
  return locked <= Math.floor(task.rlimitMemlock / pageSize);
};
