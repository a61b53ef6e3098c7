/**
 * Growing a stack VMA down.
 *
 * Models the stack part of `mm/vma.c` (Linux 6.16): `expand_downwards()` and
 * `acct_stack_growth()`, which a fault below a `VM_GROWSDOWN` VMA runs
 * (`lock_mm_and_find_vma()`, `mm/memory.c`), and `vm_start_gap()` (`include/linux/mm.h`), the
 * guard a free-range search keeps below such a VMA. The rest of `mm/vma.c` (splits, merges,
 * unmapping, the free-range searches) lives with `do_mmap()` in `mmap.ts`.
 *
 * @module
 */
import { type ErrnoError, errno } from "../errno";
import type { Kernel } from "../include/kernel";
import {
  MMAP_MIN_ADDR,
  VM_EXEC,
  VM_GROWSDOWN,
  VM_READ,
  VM_WRITE,
  type Vma,
} from "../include/mm_types";
import type { TaskStruct } from "../include/sched";
import { mlockFutureOk } from "./mlock";
import { anonVmaPrepare } from "./rmap";
import { kvmalloc, securityVmEnoughMemoryMm } from "./util";

/**
 * `_STK_LIM` (`include/uapi/linux/resource.h`): the default `RLIMIT_STACK`, 8 MiB, in bytes.
 * The model has no `setrlimit()`, so every task's stack rlimit is this.
 *
 * @category Address spaces
 */
export const STK_LIM = 8 * 2 ** 20;

/**
 * `stack_guard_gap` (`mm/mmap.c`, Linux 6.16) at its default, in pages: 256, what
 * `stack_guard_gap=` on the boot command line replaces ({@link Kernel.stackGuardGap}).
 *
 * @category Address spaces
 */
export const STACK_GUARD_GAP_PAGES = 256;

const hex = (n: number): string => `0x${n.toString(16)}`;

/**
 * `vm_start_gap()` (`include/linux/mm.h`, Linux 6.16): where the free range below `vma` must end.
 * For a `VM_GROWSDOWN` VMA, `stack_guard_gap` ({@link Kernel.stackGuardGap}) below its start (0
 * where that would go below address 0); for any other VMA its start.
 */
export const vmStartGap = (k: Kernel, vma: Vma): number =>
  vma.flags & VM_GROWSDOWN ? Math.max(0, vma.start - k.stackGuardGap) : vma.start;

/**
 * `vma_is_accessible()` (`include/linux/mm.h`): the VMA may be read, written or executed at all
 * (`VM_ACCESS_FLAGS`). A `PROT_NONE` VMA is not, and a stack may grow up to it.
 */
export const vmaIsAccessible = (flags: number): boolean =>
  (flags & (VM_READ | VM_WRITE | VM_EXEC)) !== 0;

/**
 * `acct_stack_growth()` (`mm/vma.c`, Linux 6.16): whether the stack `vma` of `task` may grow by
 * `grow` pages to `size` bytes. `ENOMEM` when the grown stack is larger than `RLIMIT_STACK`
 * (always {@link STK_LIM} in the model); when the stack is `VM_LOCKED` (mlocked, or made after
 * `mlockall(MCL_FUTURE)`) and the new pages would take the locked memory past `RLIMIT_MEMLOCK`
 * ({@link mlockFutureOk}); or when the overcommit policy refuses the pages
 * (`security_vm_enough_memory_mm()` → `__vm_enough_memory()`), which are otherwise committed for
 * good, `VM_ACCOUNT` or not: only a `VM_ACCOUNT` stack gives them back when it is unmapped. The
 * address-space rlimit
 * (`may_expand_vm()`) is unlimited in the model, and x86 has no hugetlb-only range
 * (`is_hugepage_only_range()`).
 */
const acctStackGrowth = (
  k: Kernel,
  task: TaskStruct,
  vma: Vma,
  size: number,
  grow: number,
): ErrnoError | null => {
  if (size > STK_LIM) {
    return errno("ENOMEM", `the stack would be ${size} bytes, more than RLIMIT_STACK ${STK_LIM}`);
  }
  if (!mlockFutureOk(k, task, vma.flags, grow * k.mem.pageSize)) {
    return errno(
      "ENOMEM",
      `the locked stack cannot grow by ${grow} pages: more than RLIMIT_MEMLOCK (${task.rlimitMemlock} bytes) would be locked`,
    );
  }
  return securityVmEnoughMemoryMm(k, task, vma.mm, grow);
};

/**
 * `expand_downwards()` (`mm/vma.c`, Linux 6.16): grows the `VM_GROWSDOWN` VMA `vma` down to the
 * page of `address`, which lies below its start, for a fault of `task` (`current`, whose limits
 * apply). Refused, with nothing changed: `EFAULT` for a
 * VMA without `VM_GROWSDOWN`; `EPERM` below `mmap_min_addr`; `ENOMEM` when the new start would be
 * less than `stack_guard_gap` ({@link Kernel.stackGuardGap}) above the end of the VMA below,
 * unless that one is itself `VM_GROWSDOWN` or not accessible (`PROT_NONE`); `ENOMEM` when the
 * growth is more pages than `vm_pgoff` counts (the start would wrap below 0), when
 * {@link acctStackGrowth} refuses it, or when the host cannot allocate the longer page table
 * (`vma_iter_prealloc()`). Once past the guard gap check the VMA has its anon_vma
 * (`anon_vma_prepare()`), even when a limit then refuses the growth. On success the VMA starts at
 * that page, its `vm_pgoff` lowered by the pages it grew (a `VM_LOCKED` stack's new pages count
 * in `mm->locked_vm`); the new pages are not yet faulted, and are mlocked as they are.
 */
export const expandDownwards = (
  k: Kernel,
  task: TaskStruct,
  vma: Vma,
  address: number,
): 0 | ErrnoError => {
  if (!(vma.flags & VM_GROWSDOWN)) {
    return errno("EFAULT", `VMA ${hex(vma.start)}-${hex(vma.end)} does not grow down`);
  }
  const pageSize = k.mem.pageSize;
  const addr = address - (address % pageSize);
  if (addr < MMAP_MIN_ADDR) {
    return errno("EPERM", `the stack cannot grow to ${hex(addr)}, below mmap_min_addr`);
  }
  if (addr >= vma.start) return 0;
  const prev = vma.mm.vmaPrev(vma);
  if (
    prev &&
    !(prev.flags & VM_GROWSDOWN) &&
    vmaIsAccessible(prev.flags) &&
    addr - prev.end < k.stackGuardGap
  ) {
    return errno(
      "ENOMEM",
      `the stack cannot grow to ${hex(addr)}: within stack_guard_gap (${k.stackGuardGap} bytes) of the VMA ending at ${hex(prev.end)}`,
    );
  }
  const size = vma.end - addr;
  const grow = (vma.start - addr) / pageSize;
  // vma_iter_prealloc(), then anon_vma_prepare(): both before the limits are checked, so a
  // refused growth leaves the VMA its anon_vma.
  const ptes = kvmalloc(() => new Uint32Array(vma.nrPages + grow));
  if (!ptes) return errno("ENOMEM", `no memory for a stack page table of ${size / pageSize} pages`);
  anonVmaPrepare(k, vma);
  if (grow > vma.pgoff) {
    return errno("ENOMEM", `the stack cannot grow by ${grow} pages below page offset 0`);
  }
  const refused = acctStackGrowth(k, task, vma, size, grow);
  if (refused) return refused;
  ptes.set(vma.ptes, grow);
  vma.ptes = ptes;
  vma.pgoff -= grow;
  vma.mm.vmaSetRange(vma, addr, vma.end);
  return 0;
};
