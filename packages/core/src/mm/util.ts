/**
 * Allocation and accounting helpers of `mm/util.c`.
 *
 * - `kvmalloc()`: a large allocation that can fail, whose callers turn the failure into
 *   `-ENOMEM` and change nothing. The model's large allocations are `ArrayBuffer`s,
 *   `SharedArrayBuffer`s and typed arrays; the host refuses them with a `RangeError`, either
 *   because it has no memory for them ("Array buffer allocation failed") or because they are
 *   longer than a buffer can be ("Invalid array buffer length", "Invalid typed array length").
 * - The overcommit policy: the commitment (`vm_committed_as`, `vm_acct_memory()`,
 *   `vm_unacct_memory()`), its limit (`vm_commit_limit()`), the check every charge passes
 *   (`__vm_enough_memory()`, with `cap_vm_enough_memory()` of `security/commoncap.c` in front,
 *   `security_vm_enough_memory_mm()`) in the three modes `OVERCOMMIT_GUESS`,
 *   `OVERCOMMIT_ALWAYS` and `OVERCOMMIT_NEVER`, and the `/proc/sys/vm` files that tune it
 *   (`util_sysctl_table[]`, `init_user_reserve()` and `init_admin_reserve()` of `mm/mmap.c`).
 *
 * @module
 */
import { type ErrnoError, errno } from "../errno";
import { CAP_SYS_ADMIN } from "../include/capability";
import type { Kernel } from "../include/kernel";
import type { MmStruct } from "../include/mm_types";
import { OVERCOMMIT_ALWAYS, OVERCOMMIT_GUESS } from "../include/mman";
import type { TaskStruct } from "../include/sched";
import { procDointvecEntry, procDoulongvecEntry } from "../kernel/sysctl";

/**
 * True when `error` is the host refusing a buffer or typed-array allocation: the `RangeError`
 * V8 throws for a buffer it cannot allocate or a length it cannot represent. Any other error is a
 * bug and must not be mistaken for `-ENOMEM`. Models the `NULL` return of `kvmalloc()`
 * (`mm/util.c`).
 */
export const isAllocationFailure = (error: unknown): boolean =>
  error instanceof RangeError &&
  /allocation failed|invalid (typed )?array( buffer)? length|array buffer.*length/i.test(
    error.message,
  );

/**
 * Runs an allocation and returns what it made, or `null` when the host refused it (see
 * {@link isAllocationFailure}); any other exception propagates. Models `kvmalloc()`
 * (`mm/util.c`), whose `NULL` the caller turns into `-ENOMEM` before changing anything.
 *
 * For instance:
 *
 * ```ts
 * const ptes = kvmalloc(() => new Uint32Array(nrPages));
 * if (!ptes) return errno("ENOMEM", "no memory for the page table");
 * ```
 */
export const kvmalloc = <T>(allocate: () => T): T | null => {
  try {
    return allocate();
  } catch (error) {
    if (isAllocationFailure(error)) return null;
    throw error;
  }
};

/** `PAGE_SHIFT - 10`: the shift from KiB to pages. */
const kbShift = (k: Kernel): bigint => BigInt(Math.log2(k.mem.pageSize) - 10);

/** `totalram_pages()` (`include/linux/mm.h`): the pages the allocator manages, every zone's. */
const totalramPages = (k: Kernel): number =>
  k.pageAlloc.zones.reduce((sum, zone) => sum + zone.managedPages, 0);

/**
 * `hugetlb_total_pages()` (`mm/hugetlb.c`): the base pages of every hugetlb pool, free and in use.
 */
const hugetlbTotalPages = (k: Kernel): number =>
  k.hstates.reduce((sum, h) => sum + h.nrHugePages * 2 ** h.order, 0);

/**
 * `vm_commit_limit()` (`mm/util.c`, Linux 6.16): the pages `OVERCOMMIT_NEVER` lets be committed,
 * as an `unsigned long`: {@link Kernel.overcommitKbytes} in pages when it is not 0, else
 * {@link Kernel.overcommitRatio} percent of the RAM outside the hugetlb pools
 * (`(totalram_pages() - hugetlb_total_pages()) * ratio / 100`, the product wrapping at 64 bits as
 * C's does, so a negative ratio makes the limit huge), plus the swap pages (none in the model).
 * `CommitLimit:` of `/proc/meminfo`.
 *
 * @category Address spaces
 */
export const vmCommitLimit = (k: Kernel): bigint => {
  if (k.overcommitKbytes) return k.overcommitKbytes >> kbShift(k);
  const pages = BigInt.asUintN(64, BigInt(totalramPages(k) - hugetlbTotalPages(k)));
  return BigInt.asUintN(64, pages * BigInt.asUintN(64, BigInt(k.overcommitRatio))) / 100n;
};

/** `vm_acct_memory()` (`include/linux/mman.h`): commits `pages` more ({@link Kernel.vmCommittedAs}). */
export const vmAcctMemory = (k: Kernel, pages: number): void => {
  k.vmCommittedAs += pages;
};

/** `vm_unacct_memory()` (`include/linux/mman.h`): gives `pages` of the commitment back. */
export const vmUnacctMemory = (k: Kernel, pages: number): void => {
  k.vmCommittedAs -= pages;
};

/**
 * `vm_memory_committed()` (`mm/util.c`): the commitment, never below 0
 * (`percpu_counter_sum_positive()`). `Committed_AS:` of `/proc/meminfo`.
 *
 * @category Address spaces
 */
export const vmMemoryCommitted = (k: Kernel): number => Math.max(0, k.vmCommittedAs);

/**
 * `mm->total_vm` (`include/linux/mm_types.h`): the pages every VMA of `mm` spans, as
 * `vm_stat_account()` keeps them.
 */
const totalVm = (mm: MmStruct): number => mm.vmas.reduce((sum, vma) => sum + vma.nrPages, 0);

/**
 * `__vm_enough_memory()` (`mm/util.c`, Linux 6.16): commits `pages` more for the address space
 * `mm` (null for none) and says whether the overcommit mode ({@link Kernel.overcommitMemory})
 * grants them; null when it does, the pages then staying committed until the caller gives them
 * back ({@link vmUnacctMemory}). Refused with `ENOMEM`, nothing committed:
 * - `OVERCOMMIT_ALWAYS`: never.
 * - `OVERCOMMIT_GUESS`: when `pages` alone are more than RAM (`totalram_pages()`) and swap (none
 *   in the model) hold.
 * - `OVERCOMMIT_NEVER` (2, the only other value the sysctl takes): unless the commitment with `pages` stays below the commit limit
 *   ({@link vmCommitLimit}) less, for a caller without `CAP_SYS_ADMIN` (`capSysAdmin` false),
 *   {@link Kernel.adminReserveKbytes}, and less, for an `mm`, the smaller of 1/32 of its
 *   `total_vm` and {@link Kernel.userReserveKbytes}; the arithmetic is C's signed `long`.
 */
export const vmEnoughMemory = (
  k: Kernel,
  mm: MmStruct | null,
  pages: number,
  capSysAdmin: boolean,
): ErrnoError | null => {
  vmAcctMemory(k, pages);
  const mode = k.overcommitMemory;
  if (mode === OVERCOMMIT_ALWAYS) return null;
  let refused: string;
  if (mode === OVERCOMMIT_GUESS) {
    const totalram = totalramPages(k);
    if (pages <= totalram) return null;
    refused = `${pages} pages of committed memory exceed the ${totalram} pages of RAM and swap (overcommit heuristic)`;
  } else {
    const shift = kbShift(k);
    let allowed = BigInt.asIntN(64, vmCommitLimit(k));
    if (!capSysAdmin) allowed = BigInt.asIntN(64, allowed - (k.adminReserveKbytes >> shift));
    if (mm) {
      const reserve = BigInt.asIntN(64, k.userReserveKbytes >> shift);
      const share = BigInt(Math.floor(totalVm(mm) / 32));
      allowed = BigInt.asIntN(64, allowed - (share < reserve ? share : reserve));
    }
    const committed = BigInt(vmMemoryCommitted(k));
    if (committed < allowed) return null;
    refused = `${pages} more pages would commit ${committed}, not below the ${allowed} pages allowed (OVERCOMMIT_NEVER)`;
  }
  vmUnacctMemory(k, pages);
  return errno("ENOMEM", refused);
};

/**
 * `security_vm_enough_memory_mm()` (`security/security.c`) with the capability module's hook
 * (`cap_vm_enough_memory()`, `security/commoncap.c`, Linux 6.16): {@link vmEnoughMemory} of
 * `pages` for `mm`, with `CAP_SYS_ADMIN` taken from `current`, the task whose call commits them
 * (with none, the kernel's own credentials, which hold every capability).
 */
export const securityVmEnoughMemoryMm = (
  k: Kernel,
  current: TaskStruct | null,
  mm: MmStruct | null,
  pages: number,
): ErrnoError | null => vmEnoughMemory(k, mm, pages, current?.capable(CAP_SYS_ADMIN) ?? true);

/**
 * `init_user_reserve()` and `init_admin_reserve()` (`mm/mmap.c`, Linux 6.16), run at boot: the
 * user reserve becomes the smaller of 1/32 of the free memory and 128 MiB
 * ({@link Kernel.userReserveKbytes}), the admin reserve the smaller of 1/32 of it and 8 MiB
 * ({@link Kernel.adminReserveKbytes}), both in KiB.
 */
export const initReserves = (k: Kernel): void => {
  initUserReserve(k);
  initAdminReserve(k);
};

/** `K(global_zone_page_state(NR_FREE_PAGES))`: the free memory in KiB. */
const freeKbytes = (k: Kernel): bigint => BigInt(k.pageAlloc.totalFreePages()) << kbShift(k);

/** `SZ_128K` KiB: the user reserve's cap. */
const USER_RESERVE_MAX = 1n << 17n;
/** `SZ_8K` KiB: the admin reserve's cap. */
const ADMIN_RESERVE_MAX = 1n << 13n;

/** The rule of both reserves at boot: 1/32 of the free memory, at most `cap` KiB. */
const reserveKbytes = (k: Kernel, cap: bigint): bigint => {
  const share = freeKbytes(k) / 32n;
  return share < cap ? share : cap;
};

/** `init_user_reserve()` (`mm/mmap.c`): the smaller of 1/32 of the free memory and 128 MiB. */
const initUserReserve = (k: Kernel): void => {
  k.userReserveKbytes = reserveKbytes(k, USER_RESERVE_MAX);
};

/** `init_admin_reserve()` (`mm/mmap.c`): the smaller of 1/32 of the free memory and 8 MiB. */
const initAdminReserve = (k: Kernel): void => {
  k.adminReserveKbytes = reserveKbytes(k, ADMIN_RESERVE_MAX);
};

/**
 * `reserve_mem_notifier()` (`mm/mmap.c`, Linux 6.16), which memory hotplug notifies once a memory
 * block is online (`online`) or offline. Online: a reserve above 0 and below its cap (a value no
 * operator chose, presumably) is computed again from the free memory ({@link initReserves}'s
 * rule). Offline: a reserve larger than the free memory left is computed again.
 */
export const reserveMemNotifier = (k: Kernel, online: boolean): void => {
  if (online) {
    if (k.userReserveKbytes > 0n && k.userReserveKbytes < USER_RESERVE_MAX) initUserReserve(k);
    if (k.adminReserveKbytes > 0n && k.adminReserveKbytes < ADMIN_RESERVE_MAX) initAdminReserve(k);
    return;
  }
  const free = freeKbytes(k);
  if (k.userReserveKbytes > free) initUserReserve(k);
  if (k.adminReserveKbytes > free) initAdminReserve(k);
};

/**
 * Creates the overcommit files of `/proc/sys/vm` (`util_sysctl_table[]`, `mm/util.c`, Linux
 * 6.16), all 0644 and read as a decimal line:
 * - `overcommit_memory` ({@link Kernel.overcommitMemory}): an integer 0..2
 *   (`overcommit_policy_handler()`: `proc_dointvec_minmax()` with `SYSCTL_ZERO`, `SYSCTL_TWO`);
 * - `overcommit_ratio` ({@link Kernel.overcommitRatio}): any `int` (`proc_dointvec()`); a write
 *   that parses, an empty one included, zeroes `overcommit_kbytes` (`overcommit_ratio_handler()`);
 * - `overcommit_kbytes` ({@link Kernel.overcommitKbytes}): an `unsigned long`
 *   (`proc_doulongvec_minmax()`); a write that parses, an empty one included, zeroes
 *   `overcommit_ratio` (`overcommit_kbytes_handler()`);
 * - `user_reserve_kbytes` and `admin_reserve_kbytes` ({@link Kernel.userReserveKbytes},
 *   {@link Kernel.adminReserveKbytes}): an `unsigned long` (`proc_doulongvec_minmax()`).
 *
 * Every refused write is `EINVAL` and changes nothing. It also sets the reserves' boot values
 * (`init_user_reserve()`, `init_admin_reserve()`).
 *
 * @category Address spaces
 */
export const utilInitSysctl = (k: Kernel): void => {
  initReserves(k);
  const pageSize = k.mem.pageSize;
  k.fs.registerSysctl("vm", {
    // The policy is set last (after mm_compute_batch() and, for OVERCOMMIT_NEVER, the sync of
    // every CPU's share of vm_committed_as, which the model keeps exact).
    overcommit_memory: procDointvecEntry(
      "overcommit_memory",
      pageSize,
      () => k.overcommitMemory,
      (v) => {
        k.overcommitMemory = v;
      },
      { min: 0, max: 2 },
    ),
    overcommit_ratio: procDointvecEntry(
      "overcommit_ratio",
      pageSize,
      () => k.overcommitRatio,
      (v) => {
        k.overcommitRatio = v;
      },
      {
        written: () => {
          k.overcommitKbytes = 0n;
        },
      },
    ),
    overcommit_kbytes: procDoulongvecEntry(
      "overcommit_kbytes",
      pageSize,
      () => k.overcommitKbytes,
      (v) => {
        k.overcommitKbytes = v;
      },
      {
        written: () => {
          k.overcommitRatio = 0;
        },
      },
    ),
    user_reserve_kbytes: procDoulongvecEntry(
      "user_reserve_kbytes",
      pageSize,
      () => k.userReserveKbytes,
      (v) => {
        k.userReserveKbytes = v;
      },
    ),
    admin_reserve_kbytes: procDoulongvecEntry(
      "admin_reserve_kbytes",
      pageSize,
      () => k.adminReserveKbytes,
      (v) => {
        k.adminReserveKbytes = v;
      },
    ),
  });
};
