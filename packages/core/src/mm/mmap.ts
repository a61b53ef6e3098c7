/**
 * Creating, splitting, copying and tearing down memory mappings.
 *
 * Models `mm/mmap.c` and `mm/vma.c` (`do_mmap`, `do_munmap`, `split_vma`), `dup_mmap()` and
 * `anon_vma_fork()` from fork, and `exit_mmap()`. Mappings are anonymous private, anonymous
 * shared (shmem), file backed (shared or private), or hugetlb. Placement follows x86-64's
 * default top-down layout (`arch_pick_mmap_layout()`, `arch_get_unmapped_area_topdown()`), and
 * aligns an anonymous mapping whose length is a multiple of the PMD size to the PMD, as
 * `thp_get_unmapped_area()` does, so THP can map it whole.
 *
 * @module
 */
import { type ErrnoError, errno } from "../errno";
import { CAP_IPC_LOCK, CAP_SYS_RAWIO } from "../include/capability";
import type { MmapFile } from "../include/fs";
import { HugetlbResvMap } from "../include/hugetlb";
import type { Kernel, Task } from "../include/kernel";
import { type Mempolicy, mpolEqual } from "../include/mempolicy";
import {
  AddressSpace,
  AnonVma,
  MMAP_MIN_ADDR,
  type MmStruct,
  VM_ACCOUNT,
  VM_DONTCOPY,
  VM_DONTDUMP,
  VM_DONTEXPAND,
  VM_EXEC,
  VM_GROWSDOWN,
  VM_HUGEPAGE,
  VM_HUGETLB,
  VM_LOCKED,
  VM_LOCKED_MASK,
  VM_LOCKONFAULT,
  VM_NOHUGEPAGE,
  VM_NORESERVE,
  VM_READ,
  VM_SHARED,
  VM_SPECIAL,
  VM_WIPEONFORK,
  VM_WRITE,
  Vma,
} from "../include/mm_types";
import {
  MAP_32BIT,
  MAP_ANONYMOUS,
  MAP_DROPPABLE,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_GROWSDOWN,
  MAP_HUGE_1GB,
  MAP_HUGE_2MB,
  MAP_HUGE_MASK,
  MAP_HUGE_SHIFT,
  MAP_HUGETLB,
  MAP_LOCKED,
  MAP_NONBLOCK,
  MAP_NORESERVE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_SHARED_VALIDATE,
  MAP_STACK,
  MAP_TYPE,
  MCL_CURRENT,
  MCL_FUTURE,
  MCL_ONFAULT,
  OVERCOMMIT_NEVER,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
} from "../include/mman";
import { TASK_SIZE } from "../include/page_64_types";
import { isMigrationEntry, PTE_WRITE, ptePfn, ptePresent, pteSpecial } from "../include/pgtable";
import type { TaskStruct } from "../include/sched";
import { procDointvecEntry } from "../kernel/sysctl";
import { formatValue } from "../lib/bug";
import {
  hpagePmdSize,
  isHugeZeroPmd,
  mmGetHugeZeroFolio,
  mmPutHugeZeroFolio,
  vmaAdjustTransHuge,
} from "./huge_memory";
import {
  copyHugetlbPageRange,
  hstateSizelog,
  hugetlbEvictInode,
  hugetlbReservePages,
  hugetlbVmOpClose,
  type SurplusGather,
} from "./hugetlb";
import { freePgtables, zapPteRange } from "./memory";
import { canDoMlock, doMlockCheckLimit, mlockFutureOk, mlockVmaPagesRange } from "./mlock";
import { shmemEvictInode } from "./shmem";
import { kvmalloc, securityVmEnoughMemoryMm, vmUnacctMemory } from "./util";
import { STK_LIM, vmStartGap } from "./vma";

// The legacy flags of include/uapi/asm-generic/mman.h and mman-common.h that the model does not
// export: ignored by Linux (MAP_DENYWRITE, MAP_EXECUTABLE, MAP_UNINITIALIZED without CONFIG_MMU).
const MAP_DENYWRITE = 0x0800;
const MAP_EXECUTABLE = 0x1000;
const MAP_UNINITIALIZED = 0x4000000;

/**
 * `LEGACY_MAP_MASK` (`include/linux/mman.h`, Linux 6.16): the flags every file's `mmap()` takes
 * without `->mmap_validate`; `MAP_SHARED` of a file drops the others, `MAP_SHARED_VALIDATE`
 * refuses them with `EOPNOTSUPP`. As in the kernel, `MAP_HUGE_2MB | MAP_HUGE_1GB` and
 * `MAP_UNINITIALIZED` OR together into bits 26 to 30.
 */
const LEGACY_MAP_MASK =
  MAP_SHARED |
  MAP_PRIVATE |
  MAP_FIXED |
  MAP_ANONYMOUS |
  MAP_DENYWRITE |
  MAP_EXECUTABLE |
  MAP_UNINITIALIZED |
  MAP_GROWSDOWN |
  MAP_LOCKED |
  MAP_NORESERVE |
  MAP_POPULATE |
  MAP_NONBLOCK |
  MAP_STACK |
  MAP_HUGETLB |
  MAP_32BIT |
  MAP_HUGE_2MB |
  MAP_HUGE_1GB;

/**
 * `do_mmap()`'s switch on `flags & MAP_TYPE` (`mm/mmap.c`, Linux 6.16): whether the mapping is
 * shared, and the flags that go on. A file mapping (`fileBacked`: a file, or an anonymous hugetlb
 * mapping, which `ksys_mmap_pgoff()` backs with a hugetlbfs file) of type `MAP_SHARED` drops the
 * flags outside `LEGACY_MAP_MASK`, one of type `MAP_SHARED_VALIDATE` is `EOPNOTSUPP` with any
 * (no file of the model supports `MAP_SYNC`), one of type `MAP_PRIVATE` keeps them all; any file
 * mapping with `MAP_GROWSDOWN` (`VM_GROWSDOWN`) is then `EINVAL`. An anonymous mapping is
 * `MAP_SHARED` (`EINVAL` with `MAP_GROWSDOWN`), `MAP_PRIVATE` with any flags, or `MAP_DROPPABLE`
 * (`droppable`: private, `EINVAL` with `MAP_LOCKED`, `MAP_HUGETLB` or `MAP_GROWSDOWN`). Every
 * other type is `EINVAL`.
 */
const mmapType = (
  flags: number,
  fileBacked: boolean,
):
  | { readonly shared: boolean; readonly flags: number; readonly droppable?: boolean }
  | ErrnoError => {
  const type = flags & MAP_TYPE;
  // Built only when returned: an ErrnoError captures a stack.
  const growsdown = () =>
    errno(
      "EINVAL",
      `MAP_GROWSDOWN of a ${fileBacked ? "file (or hugetlb)" : "shared anonymous"} mapping`,
    );
  if (fileBacked && (type === MAP_SHARED || type === MAP_SHARED_VALIDATE)) {
    const kept = type === MAP_SHARED ? flags & LEGACY_MAP_MASK : flags;
    if (kept & ~LEGACY_MAP_MASK) {
      return errno(
        "EOPNOTSUPP",
        `MAP_SHARED_VALIDATE: the file does not support mmap flags ${hex((kept & ~LEGACY_MAP_MASK) >>> 0)}`,
      );
    }
    return kept & MAP_GROWSDOWN ? growsdown() : { shared: true, flags: kept };
  }
  if (type === MAP_PRIVATE) {
    return fileBacked && flags & MAP_GROWSDOWN ? growsdown() : { shared: false, flags };
  }
  if (!fileBacked && type === MAP_SHARED) {
    return flags & MAP_GROWSDOWN ? growsdown() : { shared: true, flags };
  }
  if (!fileBacked && type === MAP_DROPPABLE) {
    // "A locked or stack area makes no sense to be droppable", nor (for now) a hugetlb one.
    const refused = flags & (MAP_LOCKED | MAP_HUGETLB | MAP_GROWSDOWN);
    if (refused) {
      return errno(
        "EINVAL",
        `MAP_DROPPABLE with mmap flags ${hex(refused)} (locked, hugetlb, stack)`,
      );
    }
    return { shared: false, flags, droppable: true };
  }
  return errno(
    "EINVAL",
    fileBacked
      ? `mmap type ${hex(type)} of a file is none of MAP_SHARED, MAP_SHARED_VALIDATE, MAP_PRIVATE`
      : `mmap type ${hex(type)} of anonymous memory is none of MAP_SHARED, MAP_PRIVATE, MAP_DROPPABLE`,
  );
};

/** Arguments of `mmap` beyond the length. */
export interface MmapArgs {
  /** Where the mapping must start (`MAP_FIXED`, `MAP_FIXED_NOREPLACE`), else a hint; 0 for none. */
  readonly addr: number;
  readonly prot: number;
  readonly flags: number;
  readonly file: MmapFile | null;
  /** Byte offset into the file; page aligned. */
  readonly offset: number;
  /** `MADV_HUGEPAGE` (true) or `MADV_NOHUGEPAGE` (false) from the start; undefined for neither. */
  readonly hugepage: boolean | undefined;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/**
 * `calc_vm_prot_bits()` (`include/linux/mman.h`): the `VM_READ`, `VM_WRITE` and `VM_EXEC` flags
 * of `PROT_READ`, `PROT_WRITE` and `PROT_EXEC` (x86 has no arch bits to add without pkeys).
 */
export const calcVmProtBits = (prot: number): number =>
  (prot & PROT_READ ? VM_READ : 0) |
  (prot & PROT_WRITE ? VM_WRITE : 0) |
  (prot & PROT_EXEC ? VM_EXEC : 0);

/** Links a VMA into the structures that find it: its mm, its anon_vmas, its address space. */
const linkVma = (vma: Vma): void => {
  vma.mm.insertVma(vma);
  for (const anonVma of vma.anonVmaChain) anonVma.vmas.add(vma);
  if (vma.mapping) {
    vma.mapping.iMmap.add(vma);
    vma.mapping.users++;
  }
};

/**
 * Unlinks a VMA whose pages are already zapped; evicts a shmem object with its last user
 * ({@link shmemEvictInode}), whose sleeping part `current` (the task unlinking, null for none)
 * runs on its return.
 */
const unlinkVma = (k: Kernel, vma: Vma, current: TaskStruct | null): void => {
  hugetlbVmOpClose(k, vma);
  vma.mm.removeVma(vma);
  for (const anonVma of vma.anonVmaChain) {
    anonVma.vmas.delete(vma);
    if (anonVma.vmas.size === 0) k.anonVmas.delete(anonVma.id);
  }
  const mapping = vma.mapping;
  if (mapping) {
    mapping.iMmap.delete(vma);
    if (--mapping.users === 0 && mapping.shmem) {
      // The last fput() of the object: shmem_evict_inode(), its sleep deferred to the call's end.
      shmemEvictInode(k, mapping, current);
    } else if (mapping.users === 0 && mapping.hugetlbResv) {
      // The last close of an anonymous hugetlbfs file evicts its inode.
      hugetlbEvictInode(k, vma);
      k.addressSpaces.delete(mapping.id);
    }
  }
};

/**
 * `split_vma()`: cuts a VMA at `addr` (page aligned, strictly inside); returns the upper part.
 * A huge PMD the cut goes through is split into PTEs first (`vma_adjust_trans_huge()`); the two
 * parts keep their halves of the one page table and the huge PMDs on their side, so a split
 * allocates nothing and cannot fail half way.
 */
export const splitVma = (k: Kernel, vma: Vma, addr: number): Vma => {
  vmaAdjustTransHuge(k, vma, addr);
  const at = (addr - vma.start) / k.mem.pageSize;
  const upper = new Vma(
    vma.mm,
    addr,
    vma.end,
    vma.flags,
    vma.pgoff + at,
    vma.mapping,
    vma.ptes.subarray(at),
  );
  upper.anonVma = vma.anonVma;
  upper.anonVmaChain = [...vma.anonVmaChain];
  upper.policy = vma.policy;
  upper.hugetlbResv = vma.hugetlbResv;
  upper.hstate = vma.hstate;
  upper.droppable = vma.droppable;
  for (const [haddr, pmd] of vma.pmds) {
    if (haddr < addr) continue;
    upper.pmds.set(haddr, pmd);
    vma.pmds.delete(haddr);
  }
  for (const [haddr, pud] of vma.puds) {
    if (haddr < addr) continue;
    upper.puds.set(haddr, pud);
    vma.puds.delete(haddr);
  }
  vma.ptes = vma.ptes.subarray(0, at);
  vma.mm.vmaSetRange(vma, vma.start, addr);
  linkVma(upper);
  return upper;
};

/**
 * `split_vma()`'s check (`mm/vma.c`, Linux 6.16): a split adds a VMA, so it is refused with
 * `ENOMEM`, naming the call `what`, once `mm` holds `sysctl_max_map_count` VMAs
 * ({@link Kernel.maxMapCount}); null while there is room.
 */
const mapCountReached = (k: Kernel, mm: MmStruct, what: string): ErrnoError | null =>
  mm.mapCount >= k.maxMapCount
    ? errno(
        "ENOMEM",
        `${what}: the address space holds ${mm.mapCount} VMAs, max_map_count is ${k.maxMapCount}`,
      )
    : null;

/**
 * Creates `/proc/sys/vm/max_map_count` (0644; `mmap_table[]`, `mm/mmap.c`, Linux 6.16): shows
 * {@link Kernel.maxMapCount} and sets it from a decimal integer from 0 up
 * (`proc_dointvec_minmax()`); `EINVAL` for anything else. A lower limit than an address space
 * already holds removes nothing: only its next mmap or split is refused.
 *
 * @category Address spaces
 */
export const mmapInitSysctl = (k: Kernel): void => {
  k.fs.registerSysctl("vm", {
    max_map_count: procDointvecEntry(
      "max_map_count",
      k.mem.pageSize,
      () => k.maxMapCount,
      (v) => {
        k.maxMapCount = v;
      },
      { min: 0 },
    ),
  });
};

/** A validated, page-rounded range of user addresses. */
export interface PageRange {
  readonly start: number;
  readonly end: number;
}

/**
 * Checks a system call's `(addr, length)`: `addr` page aligned, `length` a non-negative integer
 * (positive unless `allowEmpty`), rounded up to whole pages. `EINVAL` naming the call otherwise.
 */
export const pageRange = (
  k: Kernel,
  call: string,
  start: number,
  length: number,
  allowEmpty: boolean,
): PageRange | ErrnoError => {
  const pageSize = k.mem.pageSize;
  if (!Number.isSafeInteger(start) || start < 0 || start % pageSize !== 0) {
    return errno("EINVAL", `${call}: address ${start} is not page aligned`);
  }
  if (!Number.isSafeInteger(length) || length < 0 || (length === 0 && !allowEmpty)) {
    return errno("EINVAL", `${call}: bad length ${length}`);
  }
  return { start, end: start + Math.ceil(length / pageSize) * pageSize };
};

/**
 * `hugetlb_vm_op_split()` (`mm/hugetlb.c`), the `may_split` hook `__split_vma()` asks first: a
 * hugetlb VMA may be cut only at a multiple of its huge page size. `EINVAL` for a cut of `vma` at
 * `addr` inside a huge page; null for any other VMA or cut.
 */
const hugetlbVmOpSplit = (vma: Vma, addr: number): ErrnoError | null =>
  vma.hstate && addr % vma.hstate.size
    ? errno(
        "EINVAL",
        `hugetlb VMA ${hex(vma.start)}-${hex(vma.end)} cannot be cut at ${hex(addr)}, inside a ${vma.hstate.size / 1024} KiB page`,
      )
    : null;

/**
 * How a system call that changes the VMAs of a range meets a hole in it: `stop` as
 * `do_mprotect_pkey()` (`mm/mprotect.c`) and `apply_vma_lock_flags()` (`mm/mlock.c`) do, which
 * return `ENOMEM` at the first hole after changing the VMAs before it; `skip` as
 * `madvise_walk_vmas()` (`mm/madvise.c`) does, which goes on past holes to the VMAs after them
 * and returns `ENOMEM` at the end; `pass` as `do_mbind()`'s `for_each_vma_range()` loop
 * (`mm/mempolicy.c`) does, which goes on past holes and is no error for them.
 */
export type VmaHoles = "stop" | "skip" | "pass";

/**
 * Visits the VMAs of `[start, end)` in address order, as the loops of `do_mprotect_pkey()`,
 * `apply_vma_lock_flags()`, `madvise_walk_vmas()` and `do_mbind()` (Linux 6.16) do: `visit` gets each VMA and
 * the part of the range it holds, `[from, to)`, and may change, split or merge it; the walk then
 * goes on from `to`. The first error `visit` returns ends the walk and is returned, the VMAs
 * before it staying changed. A hole is met as `holes` says ({@link VmaHoles}); a range whose
 * start, or any later part, is not mapped gives `ENOMEM` naming the hole (but for `pass`), after
 * the VMAs the walk reached were changed.
 */
export const walkVmaRange = (
  mm: MmStruct,
  start: number,
  end: number,
  holes: VmaHoles,
  visit: (vma: Vma, from: number, to: number) => 0 | ErrnoError,
): 0 | ErrnoError => {
  let cursor = start;
  let hole = -1;
  while (cursor < end) {
    const vma = mm.findVmaIntersection(cursor, end);
    if (!vma) break;
    if (vma.start > cursor) {
      if (hole < 0) hole = cursor;
      if (holes === "stop") break;
      cursor = vma.start;
    }
    const to = Math.min(end, vma.end);
    const error = visit(vma, cursor, to);
    if (error !== 0) return error;
    cursor = to;
  }
  if (hole < 0 && cursor < end) hole = cursor;
  if (hole < 0 || holes === "pass") return 0;
  return errno("ENOMEM", `range ${hex(start)}-${hex(end)} is not mapped at ${hex(hole)}`);
};

/**
 * `madvise_walk_vmas()` (`mm/madvise.c`, Linux 6.16) for one piece of advice: checks the range as
 * `madvise()` does ({@link pageRange}: `EINVAL` for an unaligned start or a bad length; nothing
 * to do for an empty one), then visits each VMA of `task`'s address space it meets with
 * {@link walkVmaRange}, skipping holes and giving `ENOMEM` for them at the end.
 */
export const madviseWalkVmas = (
  k: Kernel,
  task: Task,
  start: number,
  length: number,
  visit: (vma: Vma, from: number, to: number) => 0 | ErrnoError,
): 0 | ErrnoError => {
  const range = pageRange(k, "madvise", start, length, true);
  if (range instanceof Error) return range;
  if (range.end === start) return 0;
  return walkVmaRange(task.mm!, start, range.end, "skip", visit);
};

/** `vma_had_uncowed_parents()` (`mm/vma.c`): an anon_vma and more links than its own, as a fork child has. */
const vmaHadUncowedParents = (vma: Vma): boolean =>
  vma.anonVma !== null && vma.anonVmaChain.length !== 1;

/**
 * `is_mergeable_vma()` and `is_mergeable_anon_vma()` (`mm/vma.c`, Linux 6.16): whether `src`,
 * given `flags` and `policy`, may join its neighbour `tgt`. The same flags (`VM_DROPPABLE` too), policy
 * (`mpol_equal()`) and backing object (for a hugetlb mapping, the same reservation map, which
 * stands for its hugetlbfs file); and either the same anon_vma, or one side without one and the
 * other not a fork child (so a merge never widens a parent's anon_vma).
 */
const isMergeable = (tgt: Vma, src: Vma, flags: number, policy: Mempolicy | null): boolean => {
  if (tgt.flags !== flags || tgt.droppable !== src.droppable || !mpolEqual(tgt.policy, policy))
    return false;
  if (tgt.mapping !== src.mapping || tgt.hugetlbResv !== src.hugetlbResv) return false;
  if (!tgt.anonVma && src.anonVma) return !vmaHadUncowedParents(src);
  if (tgt.anonVma && !src.anonVma) return !vmaHadUncowedParents(tgt);
  return tgt.anonVma === src.anonVma;
};

/**
 * `can_merge_remove_vma()` (`mm/vma.c`): a merge may delete a VMA only if it has no `close` hook;
 * of the model's mappings, hugetlb ones have one (`hugetlb_vm_op_close()`).
 */
const canMergeRemoveVma = (vma: Vma): boolean => !(vma.flags & VM_HUGETLB);

/**
 * `commit_merge()` for two adjacent VMAs (`mm/vma.c`): `target` grows over `other`, which is
 * removed. The page tables join: two halves of one table (as a split leaves them) become one view
 * again, others are copied into a new table; the huge PMDs and PUDs move over as they are, and `target`
 * takes `other`'s anon_vma links when it has none (`dup_anon_vma()`), so the reverse map still
 * finds every page. Nothing is zapped or flushed: every translation stays what it was.
 */
const vmaAbsorb = (target: Vma, other: Vma): void => {
  const below = other.start < target.start;
  const [lo, hi] = below ? [other, target] : [target, other];
  const joined =
    lo.ptes.buffer === hi.ptes.buffer &&
    lo.ptes.byteOffset + lo.ptes.byteLength === hi.ptes.byteOffset
      ? new Uint32Array(lo.ptes.buffer, lo.ptes.byteOffset, lo.nrPages + hi.nrPages)
      : (() => {
          const table = new Uint32Array(lo.nrPages + hi.nrPages);
          table.set(lo.ptes);
          table.set(hi.ptes, lo.nrPages);
          return table;
        })();
  for (const [haddr, pmd] of other.pmds) target.pmds.set(haddr, pmd);
  for (const [haddr, pud] of other.puds) target.puds.set(haddr, pud);
  if (!target.anonVma && other.anonVma) target.anonVma = other.anonVma;
  for (const anonVma of other.anonVmaChain) {
    if (target.anonVmaChain.includes(anonVma)) continue;
    target.anonVmaChain.push(anonVma);
    anonVma.vmas.add(target);
  }
  // Unlink the removed VMA; its object, anon_vmas and reservations live on in target.
  other.mm.removeVma(other);
  for (const anonVma of other.anonVmaChain) anonVma.vmas.delete(other);
  if (other.mapping) {
    other.mapping.iMmap.delete(other);
    other.mapping.users--;
  }
  if (below) {
    target.mm.vmaSetRange(target, other.start, target.end);
    target.pgoff = other.pgoff;
  } else {
    target.mm.vmaSetRange(target, target.start, other.end);
  }
  target.ptes = joined;
};

/**
 * `vma_modify()` (`mm/vma.c`, Linux 6.16) for `[start, end)` inside `vma`: gives the range
 * `flags` and `policy`, merging it into a neighbour that then matches
 * (`vma_merge_existing_range()`) and otherwise splitting `vma` at the range's ends
 * (`split_vma()`). A range at the VMA's start joins the previous VMA if it ends where the range
 * begins, is mergeable ({@link isMergeable}) and its `vm_pgoff` runs on into the range's; one at
 * the VMA's end likewise joins the next; both at once also need the two neighbours' anon_vmas to
 * agree. Nothing merges when `flags` hold any of {@link VM_SPECIAL}, as every hugetlb VMA's do. A
 * merge that would remove a VMA with a `close` hook (hugetlb) is not made. `change`
 * runs on the range's own VMA after its attributes are set and before it merges, for what the
 * caller does to its entries. Returns the VMA that covers the range afterwards.
 *
 * A split is refused with `ENOMEM` when the address space already holds
 * `sysctl_max_map_count` VMAs (`split_vma()`, {@link Kernel.maxMapCount}), and with `EINVAL`
 * where it would cut a hugetlb VMA inside a huge page ({@link hugetlbVmOpSplit}). As in Linux, the split at the range's start comes first and the one
 * at its end second, so an allowed start split stays done when the end split is then refused;
 * the VMA keeps its attributes either way (they are set only after both splits).
 */
export const vmaModify = (
  k: Kernel,
  vma: Vma,
  start: number,
  end: number,
  flags: number,
  policy: Mempolicy | null,
  change?: (piece: Vma) => void,
): Vma | ErrnoError => {
  const pageSize = k.mem.pageSize;
  const pgoff = vma.pgoff + (start - vma.start) / pageSize;
  const leftSide = start === vma.start;
  const rightSide = end === vma.end;
  const plan = planMerge(vma, flags, policy, pgoff, (end - start) / pageSize, leftSide, rightSide);
  if (leftSide && rightSide && !canMergeRemoveVma(vma)) plan.left = plan.right = false;
  if (plan.left && plan.right && !canMergeRemoveVma(plan.next!)) plan.right = false;

  let piece = vma;
  if (!leftSide) {
    const refused = mapCountReached(k, piece.mm, "split_vma") ?? hugetlbVmOpSplit(piece, start);
    if (refused) return refused;
    piece = splitVma(k, piece, start);
  }
  if (!rightSide) {
    const refused = mapCountReached(k, piece.mm, "split_vma") ?? hugetlbVmOpSplit(piece, end);
    if (refused) return refused;
    splitVma(k, piece, end);
  }
  piece.flags = flags;
  piece.policy = policy;
  change?.(piece);
  return commitMerge(piece, plan);
};

/** Which touching neighbours a range may join: {@link planMerge}'s answer. */
interface MergePlan {
  readonly prev: Vma | undefined;
  readonly next: Vma | undefined;
  left: boolean;
  right: boolean;
}

/**
 * `can_vma_merge_left()` and `can_vma_merge_right()` (`mm/vma.c`, Linux 6.16) for the range of
 * `vma` that starts at file page `pgoff` and spans `pages` pages, given `flags` and `policy`:
 * whether it may join the VMA that ends where `vma` starts (only if the range reaches that side,
 * `leftSide`) and the one that starts where `vma` ends (`rightSide`). A neighbour must be
 * mergeable ({@link isMergeable}) with its `vm_pgoff` running on; both at once also need the two
 * neighbours' anon_vmas to agree. A range whose `flags` hold any of {@link VM_SPECIAL} (every
 * hugetlb VMA's `VM_DONTEXPAND`) joins neither: both `vma_merge_new_range()` and
 * `vma_merge_existing_range()` refuse it first.
 */
const planMerge = (
  vma: Vma,
  flags: number,
  policy: Mempolicy | null,
  pgoff: number,
  pages: number,
  leftSide: boolean,
  rightSide: boolean,
): MergePlan => {
  if (flags & VM_SPECIAL) return { prev: undefined, next: undefined, left: false, right: false };
  const before = vma.mm.vmaPrev(vma);
  const after = vma.mm.vmaNext(vma);
  const prev = before && before.end === vma.start ? before : undefined;
  const next = after && after.start === vma.end ? after : undefined;
  const left =
    leftSide &&
    prev !== undefined &&
    isMergeable(prev, vma, flags, policy) &&
    prev.pgoff + prev.nrPages === pgoff;
  const right =
    rightSide &&
    next !== undefined &&
    isMergeable(next, vma, flags, policy) &&
    next.pgoff === pgoff + pages &&
    (!left || !prev!.anonVma || !next.anonVma || prev!.anonVma === next.anonVma);
  return { prev, next, left, right };
};

/**
 * `commit_merge()` / `vma_expand()` (`mm/vma.c`): `piece` joins the neighbours `plan` allows
 * ({@link vmaAbsorb}); the previous VMA grows when it takes part. Returns the VMA that covers
 * `piece`'s range afterwards.
 */
const commitMerge = (piece: Vma, plan: MergePlan): Vma => {
  const { prev, next, left, right } = plan;
  let target = piece;
  if (left) {
    vmaAbsorb(prev!, piece);
    target = prev!;
  }
  if (right) {
    if (left) vmaAbsorb(target, next!);
    else {
      vmaAbsorb(next!, target);
      target = next!;
    }
  }
  return target;
};

/** `SIZE_128M` (`arch/x86/mm/mmap.c`): the least gap left between the stack and `mmap_base`. */
const SIZE_128M = 128 * 2 ** 20;

/**
 * `arch_pick_mmap_layout()` (`arch/x86/mm/mmap.c`, Linux 6.16) for a 64-bit task with the
 * default layout (`MMF_TOPDOWN`: no `ADDR_COMPAT_LAYOUT` personality, `vm.legacy_va_layout` 0)
 * and no randomization (the model has no ASLR: `PF_RANDOMIZE` is never set, so `arch_rnd()` and
 * `stack_maxrandom_size()` are 0). `mmapBase` is `mmap_base()`: `TASK_SIZE` less a gap of the
 * stack rlimit (the default `_STK_LIM`, 8 MiB; the model has no `setrlimit`) plus
 * `stackGuardGap` (`stack_guard_gap` in bytes, 256 pages by default), kept between 128 MiB and five sixths of `TASK_SIZE`, page
 * aligned up: `0x7ffff7fff000` with 4 KiB pages. `mmapLegacyBase` is `TASK_UNMAPPED_BASE`
 * (`__TASK_UNMAPPED_BASE()`, `arch/x86/include/asm/processor.h`): a third of `TASK_SIZE`, page
 * aligned up, `0x2aaaaaaab000` with 4 KiB pages. Both in bytes.
 */
export const archPickMmapLayout = (
  pageSize: number,
  stackGuardGap: number,
): { readonly mmapBase: number; readonly mmapLegacyBase: number } => {
  const pageAlign = (addr: number) => Math.ceil(addr / pageSize) * pageSize;
  const gap = Math.min(Math.max(STK_LIM + stackGuardGap, SIZE_128M), Math.floor(TASK_SIZE / 6) * 5);
  return {
    mmapBase: pageAlign(TASK_SIZE - gap),
    mmapLegacyBase: pageAlign(Math.floor(TASK_SIZE / 3)),
  };
};

/** `struct vm_unmapped_area_info` (`include/linux/mm.h`): what a search for a free range wants. */
interface UnmappedAreaInfo {
  /** Bytes. */
  readonly length: number;
  readonly lowLimit: number;
  readonly highLimit: number;
  /** The start's alignment in bytes: the page size, or a huge page size. */
  readonly align: number;
}

/**
 * `unmapped_area()` (`mm/vma.c`, Linux 6.16): the bottom-up search. The lowest free range in
 * `[max(lowLimit, mmap_min_addr), highLimit)` that holds `length` plus the worst alignment
 * overhead (`align_mask`); the start of that range, aligned up. -1 when none does (`-ENOMEM`).
 * The free ranges are the gaps of the VMA tree, found in O(log n) (`mas_empty_area()`,
 * `MapleTree.emptyArea`). A range just below a `VM_GROWSDOWN` VMA must also end at or below its
 * guard gap (`vm_start_gap()`, {@link vmStartGap}); when it does not, the search starts again
 * above that VMA.
 */
const unmappedArea = (k: Kernel, mm: MmStruct, info: UnmappedAreaInfo): number => {
  const need = info.length + info.align - k.mem.pageSize;
  let lo = Math.max(info.lowLimit, MMAP_MIN_ADDR);
  for (;;) {
    const gap = mm.mt.emptyArea(lo, info.highLimit, need);
    if (!gap) return -1;
    const start = Math.ceil(gap.start / info.align) * info.align;
    const next = mm.findVmaIntersection(gap.start, Number.POSITIVE_INFINITY);
    if (!next || !(next.flags & VM_GROWSDOWN) || vmStartGap(k, next) >= start + need - 1) {
      return start;
    }
    lo = next.end;
  }
};

/**
 * `unmapped_area_topdown()` (`mm/vma.c`, Linux 6.16): the top-down search. The highest free range
 * in `[max(lowLimit, mmap_min_addr), highLimit)` that holds `length` plus the worst alignment
 * overhead; the highest aligned start in it, so the mapping ends at (or just under) the range's
 * top and touches the mapping above. -1 when none does (`-ENOMEM`). The range is the VMA tree's
 * highest gap that fits (`mas_empty_area_rev()`, `MapleTree.emptyAreaRev`), found in O(log n).
 * When the VMA above the range is `VM_GROWSDOWN`, the range must end at its guard gap
 * (`vm_start_gap()`, {@link vmStartGap}): the search starts again with that as its top.
 */
const unmappedAreaTopdown = (k: Kernel, mm: MmStruct, info: UnmappedAreaInfo): number => {
  const need = info.length + info.align - k.mem.pageSize;
  const lo = Math.max(info.lowLimit, MMAP_MIN_ADDR);
  let hi = info.highLimit;
  for (;;) {
    const gap = hi > lo ? mm.mt.emptyAreaRev(lo, hi, need) : null;
    if (!gap) return -1;
    const next = mm.findVmaIntersection(gap.end, Number.POSITIVE_INFINITY);
    if (next && next.flags & VM_GROWSDOWN && vmStartGap(k, next) < gap.end) {
      hi = vmStartGap(k, next);
      continue;
    }
    const top = gap.end - info.length;
    return top - (top % info.align);
  }
};

/**
 * Whether a hint `addr` is taken for `len` bytes: asked for (not 0), below `end` (`TASK_SIZE`
 * unless `MAP_32BIT` narrows it) with the length, and free up to the next VMA's guard gap
 * (`find_vma()` finds nothing, or a VMA whose `vm_start_gap()` is at or past its end).
 */
const hintFree = (k: Kernel, mm: MmStruct, addr: number, len: number, end = TASK_SIZE): boolean => {
  if (addr === 0 || end - len < addr) return false;
  const next = mm.findVmaIntersection(addr, Number.POSITIVE_INFINITY);
  return !next || addr + len <= vmStartGap(k, next);
};

/** `find_start_end()`'s window for a 64-bit task's `MAP_32BIT` mapping: 1 GiB to 2 GiB. */
const MAP_32BIT_BEGIN = 0x40000000;
const MAP_32BIT_END = 0x80000000;

/**
 * `arch_get_unmapped_area()` (`arch/x86/kernel/sys_x86_64.c`, Linux 6.16): the bottom-up layout
 * in the window `find_start_end()` gives, `[TASK_UNMAPPED_BASE, TASK_SIZE)`, or for `MAP_32BIT`
 * `[0x40000000, 0x80000000)` (the model has no `PF_RANDOMIZE`, so that base stays put). A `hint`
 * (page aligned up) free below the window's end is taken, even below its start; else the lowest
 * free range in the window that fits ({@link unmappedArea}). -1 when nothing fits (`-ENOMEM`).
 */
const archGetUnmappedArea = (
  k: Kernel,
  mm: MmStruct,
  hint: number,
  len: number,
  align: number,
  map32bit: boolean,
): number => {
  const pageSize = k.mem.pageSize;
  const begin = map32bit ? MAP_32BIT_BEGIN : mm.mmapLegacyBase;
  const end = map32bit ? MAP_32BIT_END : TASK_SIZE;
  if (len > end) return -1;
  const up = Math.ceil(hint / pageSize) * pageSize;
  if (hintFree(k, mm, up, len, end)) return up;
  return unmappedArea(k, mm, { length: len, lowLimit: begin, highLimit: end, align });
};

/**
 * `arch_get_unmapped_area_topdown()` (`arch/x86/kernel/sys_x86_64.c`, Linux 6.16), which
 * `mm_get_unmapped_area_vmflags()` calls for an mm with `MMF_TOPDOWN`, as every mm of the model
 * has: a `hint` (page aligned down) that leaves the range free below `TASK_SIZE`
 * (`mmap_address_hint_valid()`), else the highest free range below `mmap_base` that fits
 * ({@link unmappedAreaTopdown}). When none does it falls back to `arch_get_unmapped_area()`, the
 * bottom-up layout ({@link archGetUnmappedArea}). A `MAP_32BIT` mapping (`map32bit`) goes
 * straight to the bottom-up layout in `[0x40000000, 0x80000000)`. `align` is the page size, or for
 * a hugetlb mapping its huge page size (`get_align_mask()`). -1 when nothing fits (`-ENOMEM`).
 */
const archGetUnmappedAreaTopdown = (
  k: Kernel,
  mm: MmStruct,
  hint: number,
  len: number,
  align: number,
  map32bit: boolean,
): number => {
  const pageSize = k.mem.pageSize;
  if (len > TASK_SIZE) return -1;
  if (map32bit) return archGetUnmappedArea(k, mm, hint, len, align, true);
  const down = hint - (hint % pageSize);
  if (hintFree(k, mm, down, len)) return down;
  const top = { length: len, lowLimit: pageSize, highLimit: mm.mmapBase, align };
  const addr = unmappedAreaTopdown(k, mm, top);
  if (addr >= 0) return addr;
  // Rather than fail the mmap(), try the bottom-up layout (a large stack rlimit can leave too
  // little room below mmap_base).
  return archGetUnmappedArea(k, mm, hint, len, align, false);
};

/**
 * `__thp_get_unmapped_area()` (`mm/huge_memory.c`, Linux 6.16) for anonymous memory (file offset
 * 0) and the PMD size: searches for `len` plus a PMD, then places the mapping at the PMD-aligned
 * address inside that padded range (its top one when the range starts aligned, as under
 * `MMF_TOPDOWN`), so THP can map it whole. -1 when the padded search fails; the caller then
 * searches without the padding (`thp_get_unmapped_area_vmflags()`). The search keeps the mmap
 * flags, so a `MAP_32BIT` one (`map32bit`) runs bottom-up from 1 GiB; the mm is still
 * `MMF_TOPDOWN`, so an aligned start there still moves up by a PMD (`0x40200000`, not
 * `0x40000000`).
 */
const thpGetUnmappedArea = (
  k: Kernel,
  mm: MmStruct,
  len: number,
  pmdSize: number,
  map32bit: boolean,
): number => {
  const ret = archGetUnmappedAreaTopdown(k, mm, 0, len + pmdSize, k.mem.pageSize, map32bit);
  if (ret < 0) return -1;
  const offSub = (pmdSize - (ret % pmdSize)) % pmdSize;
  return offSub === 0 ? ret + pmdSize : ret + offSub;
};

/**
 * `shmem_get_unmapped_area()` (`mm/shmem.c`, Linux 6.16) for a shared anonymous mapping (file
 * offset 0): the ordinary search first; then, unless `shmem_enabled` is `deny`, the hint was
 * taken, or no huge size applies, a search for `len` plus a huge page less a page, placed at the
 * huge-page-aligned address inside it. The huge size is that of the highest shmem order enabled
 * (`always`, `within_size` or `advise`, or `inherit` when `shmem_enabled` is not `never`), the
 * PMD size under `force` or when only `inherit` orders exist; with `shmem_enabled` `never` and no
 * order enabled there is none. A mapping shorter than the huge size, or already aligned, keeps
 * the first answer, as does one the padded search cannot place. Both searches keep the mmap
 * flags (`map32bit`: `MAP_32BIT`'s bottom-up window).
 */
const shmemGetUnmappedArea = (
  k: Kernel,
  mm: MmStruct,
  hint: number,
  len: number,
  map32bit: boolean,
): number => {
  const pageSize = k.mem.pageSize;
  const addr = archGetUnmappedAreaTopdown(k, mm, hint, len, pageSize, map32bit);
  const shmem = k.thp.shmemEnabled;
  if (addr < 0 || shmem === "deny" || addr === hint) return addr;
  let hpageSize = hpagePmdSize(k);
  if (shmem !== "force") {
    let order = 0;
    for (const [o, mode] of k.thp.shmemOrderModes) {
      const on = mode === "inherit" ? shmem !== "never" : mode !== "never";
      if (on) order = Math.max(order, o);
    }
    if (order > 0) hpageSize = pageSize * 2 ** order;
    if (shmem === "never" && order === 0) return addr;
  }
  if (len < hpageSize || addr % hpageSize === 0) return addr;
  const inflatedLen = len + hpageSize - pageSize;
  if (inflatedLen > TASK_SIZE) return addr;
  const inflated = archGetUnmappedAreaTopdown(k, mm, hint, inflatedLen, pageSize, map32bit);
  if (inflated < 0) return addr;
  const aligned = Math.ceil(inflated / hpageSize) * hpageSize;
  return aligned > TASK_SIZE - len ? addr : aligned;
};

/** Which `get_unmapped_area` a mapping's file (or its absence) chooses in `__get_unmapped_area()`. */
export type UnmappedAreaKind =
  | { readonly kind: "anon" }
  | { readonly kind: "shmem" }
  | { readonly kind: "file" }
  | { readonly kind: "hugetlb"; readonly size: number };

/**
 * `__get_unmapped_area()` (`mm/mmap.c`, Linux 6.16) on the default x86-64 layout: where a mapping
 * of `len` bytes goes without `MAP_FIXED`. `hint` is the address asked for (already through
 * `round_hint_to_min()`), 0 for none. By `how`:
 *
 * - `anon` (private anonymous): with no hint and a length that is a multiple of the PMD size,
 *   `thp_get_unmapped_area_vmflags()` places it PMD aligned ({@link thpGetUnmappedArea});
 *   otherwise, and when that fails, the top-down search.
 * - `shmem` (shared anonymous): `shmem_get_unmapped_area()` ({@link shmemGetUnmappedArea}).
 * - `file`: the model's files belong to a filesystem without a `get_unmapped_area` of its own
 *   (and without large folios), so the top-down search, unaligned.
 * - `hugetlb`: `hugetlb_get_unmapped_area()` (`fs/hugetlbfs/inode.c`): the hint aligned up to the
 *   huge page size, and the top-down search aligned to it.
 *
 * The top-down search ({@link archGetUnmappedAreaTopdown}) takes a free hint, else the highest
 * free range below `mmap_base` ({@link archPickMmapLayout}) that fits, so a new mapping touches
 * the one above it and a hole left by `munmap()` is filled first; when nothing fits there, the
 * bottom-up search from `TASK_UNMAPPED_BASE`. With `map32bit` (`MAP_32BIT`, a 64-bit task) every
 * kind searches bottom-up in `[0x40000000, 0x80000000)` instead ({@link archGetUnmappedArea}),
 * keeping its alignment. Ranges may touch the mappings around them, but end no closer than
 * `stack_guard_gap` below a `VM_GROWSDOWN` one (`vm_start_gap()`). `ENOMEM` for a length past
 * `TASK_SIZE` or when no range is free. Changes nothing.
 */
export const getUnmappedArea = (
  k: Kernel,
  mm: MmStruct,
  len: number,
  hint: number,
  how: UnmappedAreaKind,
  map32bit = false,
): number | ErrnoError => {
  if (len > TASK_SIZE) {
    return errno(
      "ENOMEM",
      `mmap of ${len} bytes: more than fits below TASK_SIZE ${hex(TASK_SIZE)}`,
    );
  }
  const pageSize = k.mem.pageSize;
  const pmdSize = pageSize * (1 << k.pmdOrder);
  let addr: number;
  if (how.kind === "shmem") addr = shmemGetUnmappedArea(k, mm, hint, len, map32bit);
  else if (how.kind === "hugetlb") {
    const addr0 = hint ? Math.ceil(hint / how.size) * how.size : 0;
    addr = archGetUnmappedAreaTopdown(k, mm, addr0, len, how.size, map32bit);
  } else if (how.kind === "anon" && !hint && len % pmdSize === 0) {
    addr = thpGetUnmappedArea(k, mm, len, pmdSize, map32bit);
    if (addr < 0) addr = archGetUnmappedAreaTopdown(k, mm, hint, len, pageSize, map32bit);
  } else addr = archGetUnmappedAreaTopdown(k, mm, hint, len, pageSize, map32bit);
  if (addr < 0 || addr > TASK_SIZE - len) {
    const where = map32bit
      ? `in the MAP_32BIT window ${hex(MAP_32BIT_BEGIN)}-${hex(MAP_32BIT_END)}`
      : `below TASK_SIZE ${hex(TASK_SIZE)}`;
    return errno("ENOMEM", `mmap of ${len} bytes: no free range ${where}`);
  }
  return addr;
};

/**
 * `vma_merge_new_range()` (`mm/vma.c`, Linux 6.16) as `__mmap_region()` calls it: `vma`, a new
 * mapping just linked with no pages, joins the VMA that ends where it starts
 * (`can_vma_merge_after()`) and the one that starts where it ends (`can_vma_merge_before()`)
 * when they are mergeable with it ({@link isMergeable}: the same flags, no policy, the same file
 * or none, an anon_vma that is not a fork child's) and their `vm_pgoff` runs on into its own;
 * both at once also need the two neighbours' anon_vmas to agree (`can_vma_merge_right()`). A
 * shared anonymous mapping has a file of its own (`shmem_zero_setup()`), so it never merges; nor
 * does a hugetlb one, whose `VM_DONTEXPAND` is {@link VM_SPECIAL}. Returns the VMA that covers the
 * new range.
 */
const vmaMergeNewRange = (vma: Vma): Vma =>
  commitMerge(vma, planMerge(vma, vma.flags, vma.policy, vma.pgoff, vma.nrPages, true, true));

/**
 * `round_hint_to_min()` (`mm/mmap.c`): a hint address page aligned down, and one below
 * `mmap_min_addr` raised to it; 0 (no hint) stays 0.
 */
const roundHintToMin = (hint: number, pageSize: number): number => {
  const addr = hint - (hint % pageSize);
  return addr && addr < MMAP_MIN_ADDR ? Math.ceil(MMAP_MIN_ADDR / pageSize) * pageSize : addr;
};

/**
 * `do_mmap()`: creates a mapping and returns its address. `prot` gives the VMA `VM_READ`,
 * `VM_WRITE` and `VM_EXEC` (`calc_vm_prot_bits()`); its other bits
 * (`PROT_SEM`, `PROT_GROWSDOWN`, `PROT_GROWSUP`, unknown ones) set nothing and are no error, as in
 * Linux 6.16. Every check comes
 * before anything changes: `EINVAL` for bad arguments, a map type other than `MAP_SHARED`, `MAP_PRIVATE` and (for
 * a file or a hugetlb mapping) `MAP_SHARED_VALIDATE`, or `MAP_GROWSDOWN` of a file, hugetlb or
 * shared mapping; `EOPNOTSUPP` for `MAP_SHARED_VALIDATE` with a flag outside `LEGACY_MAP_MASK`; other unknown flags are ignored, as Linux ignores them. `MAP_NORESERVE` gives
 * the VMA `VM_NORESERVE` unless the overcommit mode is `OVERCOMMIT_NEVER` (always for hugetlb):
 * no commit charge, and for hugetlb no reservation. `MAP_GROWSDOWN`
 * gives a private anonymous VMA `VM_GROWSDOWN`: a stack, which the task's accesses just below it
 * grow (`expandDownwards`). `MAP_DROPPABLE` makes a private anonymous VMA that is
 * `VM_DROPPABLE` ({@link Vma.droppable}), `VM_NORESERVE`, `VM_WIPEONFORK` and `VM_DONTDUMP`;
 * with `MAP_LOCKED`, `MAP_HUGETLB` or `MAP_GROWSDOWN` it is `EINVAL`. `EOVERFLOW` for a file offset past what it can express,
 * `ENOMEM` when no range below `TASK_SIZE` is free (`get_unmapped_area()`), when the overcommit
 * policy refuses the charge of a private writable mapping (which then gets `VM_ACCOUNT`) or of a
 * shared anonymous one's shmem object (`__vm_enough_memory()`: in the default
 * `OVERCOMMIT_GUESS` one larger than all of memory; the shmem refusal comes after `MAP_FIXED`
 * cleared the range, which stays empty), or when the host cannot allocate its page table. With `MAP_FIXED`
 * the mapping goes at `args.addr` and replaces what was there; `MAP_FIXED_NOREPLACE` fails with
 * `EEXIST` instead (see `mmapFixedArea` for the checks). Without them `args.addr` is a
 * hint. Once the range is known, `MAP_LOCKED` is `EPERM` when the task may not lock memory at
 * all (`can_do_mlock()`) and `EAGAIN` when the mapping would take its locked memory past
 * `RLIMIT_MEMLOCK` ({@link mlockFutureOk}), neither for a task with `CAP_IPC_LOCK`. The new VMA
 * then merges into a matching neighbour (`vmaMergeNewRange`). `MAP_POPULATE`
 * is not done here: the caller faults the range in once the mapping is made (`mm_populate()`,
 * after `do_mmap()` returns, {@link mmapPopulateLength}). A hugetlb
 * mapping whose reservation fails after `MAP_FIXED` unmapped the range leaves it empty, as
 * Linux does. With `gather`, the surplus huge pages a hugetlb reservation allocates take the
 * whole slow path: null, with no mapping made, when one needs it first (`gather.request`, see
 * `SurplusGather`); the caller runs it and calls again.
 */
export const doMmap = (
  k: Kernel,
  task: Task,
  length: number,
  args: MmapArgs,
  gather?: SurplusGather,
): number | ErrnoError | null => {
  const { prot, flags, file, offset } = args;
  const pageSize = k.mem.pageSize;
  if (!Number.isSafeInteger(length) || length <= 0) {
    return errno("EINVAL", `mmap length ${length} must be a positive integer`);
  }
  if (!Number.isInteger(flags) || !Number.isInteger(prot)) {
    return errno("EINVAL", `mmap flags ${flags} and prot ${prot} must be integers`);
  }
  if (!Number.isSafeInteger(args.addr) || args.addr < 0) {
    return errno("EINVAL", `mmap address ${args.addr} must be a non-negative integer`);
  }
  if (!Number.isSafeInteger(offset) || offset < 0 || offset % pageSize !== 0) {
    return errno("EINVAL", `mmap offset ${offset} is not a multiple of the page size ${pageSize}`);
  }
  const anonymous = (flags & MAP_ANONYMOUS) !== 0;
  if (!anonymous && !(file?.mapping instanceof AddressSpace)) {
    return errno("EBADF", "mmap of a file needs a file");
  }
  const hugetlb = (flags & MAP_HUGETLB) !== 0;
  // ksys_mmap_pgoff(): MAP_HUGETLB of a file that is not on hugetlbfs (the model has none).
  if (hugetlb && !anonymous) return errno("EINVAL", "MAP_HUGETLB of a file not on hugetlbfs");
  const hstate = hugetlb ? hstateSizelog(k, (flags >>> MAP_HUGE_SHIFT) & MAP_HUGE_MASK) : null;
  if (hugetlb && !hstate) {
    return errno(
      "EINVAL",
      `MAP_HUGETLB: no huge page size of 2^${(flags >>> MAP_HUGE_SHIFT) & MAP_HUGE_MASK} bytes`,
    );
  }
  const unit = hstate ? hstate.size : pageSize;
  const len = Math.ceil(length / unit) * unit;
  // pgoff + (len >> PAGE_SHIFT) overflowing an unsigned long: here, past an exact integer.
  if (!anonymous && offset + len > Number.MAX_SAFE_INTEGER) {
    return errno("EOVERFLOW", `mmap offset ${offset} + length ${len} overflows the file offset`);
  }
  const mm = task.mm!;
  // Too many mappings? Linux 6.16 compares with `>`: the count may reach the limit plus one.
  if (mm.mapCount > k.maxMapCount) {
    return errno(
      "ENOMEM",
      `mmap: the address space holds ${mm.mapCount} VMAs, more than max_map_count ${k.maxMapCount}`,
    );
  }
  const fixed = (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) !== 0;
  const how: UnmappedAreaKind = hstate
    ? { kind: "hugetlb", size: hstate.size }
    : !anonymous
      ? { kind: "file" }
      : flags & MAP_SHARED
        ? { kind: "shmem" }
        : { kind: "anon" };
  const start = fixed
    ? mmapFixedArea(task, args.addr, len, flags, unit)
    : getUnmappedArea(
        k,
        mm,
        len,
        roundHintToMin(args.addr, pageSize),
        how,
        (flags & MAP_32BIT) !== 0,
      );
  if (typeof start !== "number") return start;
  // MAP_LOCKED: can_do_mlock(), then mlock_future_ok() of the whole length (VM_LOCKED is set
  // from MAP_LOCKED or mm->def_flags whatever the mapping; __mmap_region() drops it later for
  // hugetlb).
  if (flags & MAP_LOCKED && !canDoMlock(task)) {
    return errno("EPERM", "mmap(MAP_LOCKED): RLIMIT_MEMLOCK is 0 and the task lacks CAP_IPC_LOCK");
  }
  if (!mlockFutureOk(k, task, (flags & MAP_LOCKED ? VM_LOCKED : 0) | mm.defFlags, len)) {
    const why = flags & MAP_LOCKED ? "mmap(MAP_LOCKED)" : "mmap after mlockall(MCL_FUTURE)";
    return errno(
      "EAGAIN",
      `${why} of ${len} bytes would lock more than RLIMIT_MEMLOCK (${task.rlimitMemlock} bytes)`,
    );
  }
  // The map type is checked once the range is known, as do_mmap() does after
  // __get_unmapped_area() and MAP_FIXED_NOREPLACE's EEXIST.
  const mapType = mmapType(flags, !anonymous || hugetlb);
  if (mapType instanceof Error) return mapType;
  const shared = mapType.shared;
  // __mmap_prepare(): MAP_FIXED gathers what it replaces first, cutting the VMAs at the range's
  // ends; a refusal after that (the overcommit check) leaves them cut, as
  // vms_abort_munmap_vmas() reattaches them.
  const replaced = fixed ? vmsGatherMunmapVmas(k, mm, start, start + len, "MAP_FIXED mmap") : [];
  if (replaced instanceof Error) return replaced;

  // calc_vm_prot_bits(): PROT_READ, PROT_WRITE and PROT_EXEC become VM_READ, VM_WRITE and
  // VM_EXEC; any other bit (PROT_SEM, PROT_GROWSDOWN, PROT_GROWSUP, an unknown one) sets no flag
  // and is no error.
  let vmFlags = calcVmProtBits(prot);
  if (shared) vmFlags |= VM_SHARED;
  // hugetlbfs_file_mmap(): a hugetlb mapping may never grow, so it never merges (VM_SPECIAL).
  if (hugetlb) vmFlags |= VM_HUGETLB | VM_DONTEXPAND;
  if (args.hugepage === true) vmFlags |= VM_HUGEPAGE;
  if (args.hugepage === false) vmFlags |= VM_NOHUGEPAGE;
  // MAP_NORESERVE is honoured while overcommit is not OVERCOMMIT_NEVER, and always for hugetlb
  // (which has strict accounting of its own, its reservations).
  if (mapType.flags & MAP_NORESERVE && (k.overcommitMemory !== OVERCOMMIT_NEVER || hugetlb)) {
    vmFlags |= VM_NORESERVE;
  }
  // calc_vm_flag_bits(): MAP_STACK is VM_NOHUGEPAGE (Linux 6.7+), MAP_GROWSDOWN VM_GROWSDOWN;
  // MAP_LOCKED is VM_LOCKED, which __mmap_region() clears again for a VM_SPECIAL (here: hugetlb)
  // VMA.
  if (mapType.flags & MAP_STACK) vmFlags |= VM_NOHUGEPAGE;
  if (mapType.flags & MAP_GROWSDOWN) vmFlags |= VM_GROWSDOWN;
  if (mapType.flags & MAP_LOCKED) vmFlags |= VM_LOCKED;
  // mm->def_flags: VM_LOCKED (and VM_LOCKONFAULT) after mlockall(MCL_FUTURE).
  vmFlags |= mm.defFlags;
  // __mmap_complete(): a hugetlb VMA is never locked.
  if (hugetlb) vmFlags &= ~VM_LOCKED_MASK;
  // MAP_DROPPABLE: VM_DROPPABLE, and as its pages may go at any time nothing is reserved for
  // them (VM_NORESERVE), and they survive neither a fork (VM_WIPEONFORK) nor a core dump.
  const droppable = mapType.droppable === true;
  if (droppable) vmFlags |= VM_NORESERVE | VM_WIPEONFORK | VM_DONTDUMP;
  // __mmap_prepare(): accountable_mapping(), a private writable mapping that is not
  // VM_NORESERVE (nor hugetlb, accounted by its reservations), is charged for its pages less
  // those of the VM_ACCOUNT VMAs it replaces, which it keeps charged (vms->nr_accounted = 0).
  const accountable = !hugetlb && (vmFlags & (VM_NORESERVE | VM_SHARED | VM_WRITE)) === VM_WRITE;
  let charged = 0;
  if (accountable) {
    charged = len / pageSize - nrAccounted(replaced);
    if (charged) {
      const refused = securityVmEnoughMemoryMm(k, task, mm, charged);
      if (refused) return refused;
    }
    vmFlags |= VM_ACCOUNT;
  }
  const ptes = kvmalloc(() => new Uint32Array(len / pageSize));
  if (!ptes) {
    vmUnacctMemory(k, charged);
    return errno(
      "ENOMEM",
      `mmap of ${len} bytes: no memory for a page table of ${len / pageSize} entries`,
    );
  }
  // shmem_zero_setup() → shmem_acct_size() for shared anonymous memory: the object is charged
  // for its size unless it is VM_NORESERVE, while the VMAs MAP_FIXED replaces still count in
  // total_vm (vms_complete_munmap_vmas() lowers it later).
  const shmemRefused =
    anonymous && shared && !hugetlb && !(vmFlags & VM_NORESERVE)
      ? securityVmEnoughMemoryMm(k, task, mm, len / pageSize)
      : null;
  // __mmap_region(): MAP_FIXED replaces what was there (vms_gather_munmap_vmas(), then
  // vms_clean_up_area() before the new mapping is set up); the charge of the VMAs it removes
  // goes back unless the new mapping took it over. A shmem refusal comes after the range was
  // cleared, so it stays empty, as vms_abort_munmap_vmas() leaves it.
  vmsCompleteMunmapVmas(k, replaced, task, !accountable);
  if (shmemRefused) return shmemRefused;

  let mapping: AddressSpace | null = null;
  let pgoff = start / pageSize;
  if (!anonymous) {
    mapping = file!.mapping;
    pgoff = offset / pageSize;
  } else if (shared && hugetlb) {
    // hugetlb_file_setup(): an unlinked hugetlbfs file with its inode's reservation map.
    mapping = new AddressSpace(k.nextId(), "/anon_hugepage (deleted)", false);
    mapping.hugetlbResv = new HugetlbResvMap();
    mapping.size = len;
    k.addressSpaces.set(mapping.id, mapping);
    pgoff = 0;
  } else if (shared) {
    // The shmem object, charged above unless VM_NORESERVE (shmem_inode_info.flags).
    mapping = new AddressSpace(k.nextId(), "/dev/zero (deleted)", true);
    mapping.shmemFlags = vmFlags & VM_NORESERVE;
    mapping.size = len;
    k.addressSpaces.set(mapping.id, mapping);
    pgoff = 0;
  }
  const vma = new Vma(mm, start, start + len, vmFlags, pgoff, mapping, ptes);
  vma.hstate = hstate;
  vma.droppable = droppable;
  if (hugetlb) {
    // hugetlbfs_file_mmap() → hugetlb_reserve_pages(): the pool must cover the whole mapping,
    // unless it is VM_NORESERVE (no reservation, and no reservation map of its own).
    // When it fails, a MAP_FIXED mapping leaves the range it replaced empty, as
    // vms_abort_munmap_vmas() does once the old VMAs are closed.
    const reserved = vmFlags & VM_NORESERVE ? 0 : hugetlbReservePages(k, vma, task, gather);
    if (reserved !== 0) {
      if (mapping) k.addressSpaces.delete(mapping.id);
      return reserved;
    }
  }
  linkVma(vma);
  vmaMergeNewRange(vma);
  return start;
};

/**
 * `do_munmap()`: removes every mapping in `[addr, addr + length)`. A hole is not an error;
 * `EINVAL` for an unaligned address, a zero length or a range past `TASK_SIZE`. Then the VMAs
 * are cut at the range's ends (`vms_gather_munmap_vmas()`, `vmsGatherMunmapVmas`): `ENOMEM`,
 * with nothing unmapped, for a range strictly inside one VMA when the address space already
 * holds `sysctl_max_map_count` VMAs; `EINVAL`, with nothing unmapped, where a cut falls inside a
 * huge page of a hugetlb VMA: at the start nothing is cut, at the end the start's cut stays.
 */
export const doMunmap = (k: Kernel, task: Task, addr: number, length: number): 0 | ErrnoError => {
  const range = pageRange(k, "munmap", addr, length, false);
  if (range instanceof Error) return range;
  // do_vmi_munmap(): a range that does not lie below TASK_SIZE is EINVAL.
  if (addr > TASK_SIZE || length > TASK_SIZE - addr) {
    return errno(
      "EINVAL",
      `munmap of ${hex(addr)}+${length} reaches past TASK_SIZE ${hex(TASK_SIZE)}`,
    );
  }
  const gathered = vmsGatherMunmapVmas(k, task.mm!, addr, range.end, "munmap");
  if (gathered instanceof Error) return gathered;
  vmsCompleteMunmapVmas(k, gathered, task, true);
  return 0;
};

/**
 * `vms_gather_munmap_vmas()` (`mm/vma.c`, Linux 6.16), the first half of unmapping
 * `[start, end)` (`do_vmi_align_munmap()`, and a `MAP_FIXED` `mmap()`'s `__mmap_prepare()`):
 * cuts the VMAs at the range's ends and returns those now inside it, in address order, still
 * linked; {@link vmsCompleteMunmapVmas} removes them. The cut at the start comes first: when
 * the range also ends inside that VMA (one VMA more afterwards) it is `ENOMEM` once `mm` holds
 * `sysctl_max_map_count` VMAs, and it is `EINVAL` inside a huge page of a hugetlb VMA
 * (`__split_vma()` asks `hugetlb_vm_op_split()`, {@link hugetlbVmOpSplit}); either way nothing
 * has changed. The cut at the end comes second, on the last VMA of the range, without the
 * count check (`__split_vma()`); when `hugetlb_vm_op_split()` refuses it the call is `EINVAL`
 * with the start's cut made and kept (`reattach_vmas()` puts the VMAs back, split) and nothing
 * unmapped. Errors name the call `what`.
 */
const vmsGatherMunmapVmas = (
  k: Kernel,
  mm: MmStruct,
  start: number,
  end: number,
  what: string,
): Vma[] | ErrnoError => {
  const first = mm.findVmaIntersection(start, end);
  if (!first) return [];
  if (start > first.start) {
    const full = end < first.end ? mapCountReached(k, mm, what) : null;
    if (full) return full;
    const refused = hugetlbVmOpSplit(first, start);
    if (refused) return errno(refused.errno, `${what}: ${refused.message}`);
    splitVma(k, first, start);
  }
  const vmas = mm.vmasIn(start, end);
  const last = vmas.at(-1)!;
  if (last.end > end) {
    const refused = hugetlbVmOpSplit(last, end);
    if (refused) return errno(refused.errno, `${what}: ${refused.message}`);
    splitVma(k, last, end);
  }
  return vmas;
};

/**
 * `vms->nr_accounted` (`vms_gather_munmap_vmas()`, `mm/vma.c`): the pages of the `VM_ACCOUNT`
 * VMAs among `vmas`.
 */
const nrAccounted = (vmas: readonly Vma[]): number =>
  vmas.reduce((sum, vma) => sum + (vma.flags & VM_ACCOUNT ? vma.nrPages : 0), 0);

/**
 * `vms_complete_munmap_vmas()` (`mm/vma.c`): zaps and unlinks the VMAs
 * {@link vmsGatherMunmapVmas} gathered, closing each (`remove_vma()`), frees the PTE tables
 * no VMA left needs (`free_pgtables()`, `freePgtables`) and, with `unaccount`, gives the
 * commitment of the `VM_ACCOUNT` ones back (`vm_unacct_memory(vms->nr_accounted)`; a `MAP_FIXED`
 * mapping that is itself charged keeps it). `current` is the task unmapping.
 */
const vmsCompleteMunmapVmas = (
  k: Kernel,
  vmas: readonly Vma[],
  current: TaskStruct | null,
  unaccount: boolean,
): void => {
  if (vmas.length === 0) return;
  if (unaccount) vmUnacctMemory(k, nrAccounted(vmas));
  const mm = vmas[0]!.mm;
  // vms_clear_ptes(): free_pgtables() between the neighbours the range leaves (vms->unmap_start:
  // prev->vm_end or FIRST_USER_ADDRESS; vms->unmap_end: next->vm_start or USER_PGTABLES_CEILING).
  const floor = mm.vmaPrev(vmas[0]!)?.end ?? 0;
  const ceiling = mm.vmaNext(vmas.at(-1)!)?.start ?? 0;
  for (const vma of vmas) {
    zapPteRange(k, vma, 0, vma.nrPages);
    unlinkVma(k, vma, current);
  }
  freePgtables(k, mm, vmas, floor, ceiling);
};

/**
 * The checks `get_unmapped_area()` and `do_mmap()` make on a `MAP_FIXED` or
 * `MAP_FIXED_NOREPLACE` address (`mm/mmap.c`, Linux 6.16): `ENOMEM` for a range that does not
 * lie below `TASK_SIZE`; `EINVAL` for an address not aligned to `unit` (the page, or the huge
 * page of a hugetlb mapping, `prepare_hugepage_range()`); `EPERM` below `mmap_min_addr` without
 * `CAP_SYS_RAWIO` (`cap_mmap_addr()`); `EEXIST` under `MAP_FIXED_NOREPLACE` where anything is
 * mapped. Returns the address; changes nothing. (Cutting what the range replaces comes later,
 * in `vmsGatherMunmapVmas`.)
 */
const mmapFixedArea = (
  task: Task,
  addr: number,
  len: number,
  flags: number,
  unit: number,
): number | ErrnoError => {
  const mm = task.mm!;
  if (len > TASK_SIZE - MMAP_MIN_ADDR || addr > TASK_SIZE - len) {
    return errno("ENOMEM", `mmap of ${hex(addr)}+${len} reaches past TASK_SIZE ${hex(TASK_SIZE)}`);
  }
  if (addr % unit !== 0) {
    return errno("EINVAL", `MAP_FIXED address ${hex(addr)} is not aligned to ${unit} bytes`);
  }
  if (addr < MMAP_MIN_ADDR && !task.capable(CAP_SYS_RAWIO)) {
    return errno("EPERM", `mmap at ${hex(addr)} below mmap_min_addr needs CAP_SYS_RAWIO`);
  }
  if (flags & MAP_FIXED_NOREPLACE && mm.findVmaIntersection(addr, addr + len)) {
    return errno("EEXIST", `MAP_FIXED_NOREPLACE: ${hex(addr)}+${len} is already mapped`);
  }
  return addr;
};

/**
 * `vma_needs_copy()` (`mm/memory.c`, Linux 6.16): whether `fork()` copies the page table of the
 * parent's `vma`. Only a VMA with an anon_vma is copied: it may hold anonymous pages (private
 * anonymous memory that was written, or a private file or hugetlb mapping that was), which exist
 * nowhere else. A shared mapping, or a private one never written (its pages are the page cache's,
 * or the zero page), is left empty in the child, which faults its pages in from the page cache
 * as it touches them. The VMA kinds Linux copies regardless (`VM_PFNMAP`, `VM_MIXEDMAP`, a
 * userfaultfd write-protected VMA) do not exist in the model.
 */
const vmaNeedsCopy = (vma: Vma): boolean => vma.anonVma !== null;

/**
 * `dup_mmap()` (`mm/mmap.c`, Linux 6.16): copies a parent's mappings into a child's fresh mm.
 * Every VMA but a `VM_DONTCOPY` one is copied, but
 * its page table only where {@link vmaNeedsCopy} says so (`copy_page_range()`): the child of a
 * VMA without an anon_vma starts with no page mapped and faults them in from the page cache.
 * Shared mappings stay shared.
 * Private pages become copy-on-write: write-protected in both, mapped by both, so each side's
 * next write gets its own copy; a huge PMD of an anonymous VMA is copied as one
 * (`copy_huge_pmd()`, `mm/huge_memory.c`), taking one more entire mapcount, or for the huge zero
 * folio the child's own reference to it (`mm_get_huge_zero_folio()`); a file or shmem VMA's huge
 * PMD is not copied, the child faulting the pages in again. Each private anonymous VMA of the child joins the parent's
 * anon_vmas and gets one of its own (`anon_vma_fork`). A copied VMA's PTE tables are copied,
 * those with no PTE left included (`copy_pte_range()`). `VM_LOCKED` and `VM_LOCKONFAULT` are not
 * inherited, nor `mm->def_flags`.
 * A `VM_DONTCOPY` VMA (`MADV_DONTFORK`) is not copied at all: the child has a hole there, so
 * an access to it faults as any unmapped address does; the child's VMA count, its anon_vmas and
 * the users of its file or shmem object do not count it, and nothing of its page table is
 * copied. A `VM_WIPEONFORK` VMA (a `MAP_DROPPABLE` one, or one given `MADV_WIPEONFORK`) is copied
 * empty, the flag kept: no anon_vma, no page table copied, so the child reads zeroes there.
 * The child's copy of each `VM_ACCOUNT` VMA (not a `VM_DONTCOPY` one) is charged to the
 * commitment again, with the capabilities of `current`, the forking task, and the parent's
 * `total_vm` for the user reserve.
 * `ENOMEM`, with nothing changed, when the host cannot allocate the child's page tables, or when
 * the overcommit policy refuses a VMA's charge (`security_vm_enough_memory_mm()`, the charges of
 * the VMAs before it given back).
 */
export const dupMmap = (
  k: Kernel,
  parent: MmStruct,
  child: MmStruct,
  current: TaskStruct,
): 0 | ErrnoError => {
  const m = k.memmap;
  // VM_DONTCOPY: the VMA is left out of the child (vma_iter_clear_gfp() on the duplicated tree).
  const copied = parent.vmas.filter((vma) => !(vma.flags & VM_DONTCOPY));
  // Every page table first: a fork that cannot have them all fails before anything is shared.
  const tables = kvmalloc(() => copied.map((vma) => new Uint32Array(vma.nrPages)));
  if (!tables) return errno("ENOMEM", "fork: no memory for the child's page tables");
  // The child's copy of each VM_ACCOUNT VMA is charged, in address order, against the parent's
  // address space (security_vm_enough_memory_mm(oldmm, len)); a refusal gives back what the
  // VMAs before it took (the failed child's exit_mmap()).
  let charged = 0;
  for (const vma of copied) {
    if (!(vma.flags & VM_ACCOUNT)) continue;
    const refused = securityVmEnoughMemoryMm(k, current, parent, vma.nrPages);
    if (refused) {
      vmUnacctMemory(k, charged);
      return errno("ENOMEM", `fork: ${refused.message}`);
    }
    charged += vma.nrPages;
  }
  child.mmapBase = parent.mmapBase;
  child.mmapLegacyBase = parent.mmapLegacyBase;
  child.dumpable = parent.dumpable; // mm_init() keeps the MMF_INIT_MASK bits of mm->flags
  for (const [i, vma] of copied.entries()) {
    const copy = new Vma(
      child,
      vma.start,
      vma.end,
      vma.flags & ~VM_LOCKED_MASK,
      vma.pgoff,
      vma.mapping,
      tables[i]!,
    );
    copy.policy = vma.policy;
    copy.hstate = vma.hstate;
    copy.droppable = vma.droppable;
    // VM_WIPEONFORK: the child's VMA starts clean, its anon_vma prepared at its first fault.
    const wipe = (vma.flags & VM_WIPEONFORK) !== 0;
    if (vma.anonVma && !wipe) {
      const own = new AnonVma(k.nextId());
      k.anonVmas.set(own.id, own);
      copy.anonVmaChain = [...vma.anonVmaChain, own];
      copy.anonVma = own;
    }
    linkVma(copy);
    // copy_page_range(): a VMA that vma_needs_copy() refuses is left for the child to fault in.
    if (!vmaNeedsCopy(vma) || wipe) continue;
    const cow = !(vma.flags & VM_SHARED);
    // copy_hugetlb_page_range() for a hugetlb VMA, whose pages are all mapped by huge entries.
    if (vma.flags & VM_HUGETLB) copyHugetlbPageRange(k, copy, vma);
    else {
      // copy_pmd_range(): every PTE table the VMA's range meets gets the child's own
      // (copy_pte_range()'s pte_alloc_map_lock()), its PTEs none or not.
      const size = hpagePmdSize(k);
      for (const haddr of parent.pteTables)
        if (haddr + size > vma.start && haddr < vma.end) child.pteTables.add(haddr);
      for (let [haddr, pmd] of vma.pmds) {
        // copy_huge_pmd(): "skip if can be re-fill on fault" for a VMA that is not anonymous.
        if (vma.mapping) continue;
        if (isHugeZeroPmd(k, pmd)) {
          // The folio exists (the parent holds it): this only takes the child's reference.
          mmGetHugeZeroFolio(k, child);
          copy.pmds.set(haddr, pmd);
          continue;
        }
        if (cow) {
          pmd &= ~PTE_WRITE;
          vma.pmds.set(haddr, pmd);
        }
        copy.pmds.set(haddr, pmd);
        if (isMigrationEntry(pmd)) continue;
        const head = ptePfn(pmd);
        m.entireMapcount[head]!++;
        m.folioAddLargeMapcount(head, 1, child.id);
        m.refcount[head]!++;
      }
    }
    for (let slot = 0; slot < vma.nrPages; slot++) {
      let pte = vma.ptes[slot]!;
      if (pte === 0) continue;
      if (cow) {
        pte &= ~PTE_WRITE;
        vma.ptes[slot] = pte;
      }
      copy.ptes[slot] = pte;
      if (isMigrationEntry(pte) || !ptePresent(pte) || pteSpecial(pte)) continue;
      const page = ptePfn(pte);
      m.mapcount[page]!++;
      m.folioAddLargeMapcount(m.folioOf(page), 1, child.id);
      m.refcount[m.folioOf(page)]!++;
    }
  }
  parent.tlb.flushAll();
  return 0;
};

/**
 * `exit_mmap()` (`mm/mmap.c`, Linux 6.16), which the last `mmput()` runs (`kernel/fork.ts`):
 * unmaps everything (`unmap_vmas()`), sets `MMF_OOM_SKIP` (the OOM killer and the `oom_reaper`
 * have nothing more to take), removes the VMAs and frees every PTE table (`free_pgtables()`);
 * then, as `__mmput()` does, puts the address space's reference to the huge zero folio
 * (`mm_put_huge_zero_folio()`). The pages of its `VM_ACCOUNT` VMAs leave the commitment
 * (`vm_unacct_memory(nr_accounted)`). `current` is the task that runs it (the last `mmput()`'s), on
 * which a shmem object's release is queued ({@link shmemEvictInode}); null for none.
 */
export const exitMmap = (k: Kernel, mm: MmStruct, current: TaskStruct | null = null): void => {
  for (const vma of mm.vmas) zapPteRange(k, vma, 0, vma.nrPages);
  mm.oomSkip = true;
  const vmas = [...mm.vmas];
  for (const vma of vmas) unlinkVma(k, vma, current);
  vmUnacctMemory(k, nrAccounted(vmas));
  mm.pteTables.clear(); // free_pgtables() over the whole address space
  mmPutHugeZeroFolio(k, mm);
};

/**
 * `madvise()` with an advice that only changes VMA flags (`madvise_walk_vmas()` and
 * `madvise_update_vma()`, `mm/madvise.c`, Linux 6.16): sets `set` and clears `clear` on every VMA
 * of `[start, start + length)` through {@link vmaModify}, so the range merges with neighbours that
 * then match. Holes are skipped: the VMAs after a hole change too, and the call then returns
 * `ENOMEM` ({@link walkVmaRange}). `EINVAL` for an unaligned start or bad length, changing
 * nothing, and where the range would cut a hugetlb VMA inside a huge page
 * (`hugetlb_vm_op_split()`), after the VMAs before it changed and, when only the range's end is
 * inside a huge page, after that VMA was split at the range's start ({@link vmaModify}).
 * `EAGAIN` where a split is refused because the address space holds `sysctl_max_map_count`
 * VMAs (`madvise_vma_behavior()` turns that `ENOMEM` into `EAGAIN`), at the same point.
 * `refuse`, when given, is the advice's own check of each VMA before it changes
 * (`madvise_vma_behavior()`'s, as for `MADV_WIPEONFORK`): the error it returns for a VMA ends the
 * walk there, that VMA unchanged and the VMAs before it changed.
 */
export const setVmFlags = (
  k: Kernel,
  task: Task,
  start: number,
  length: number,
  set: number,
  clear: number,
  refuse?: (vma: Vma) => ErrnoError | null,
): 0 | ErrnoError => {
  return madviseWalkVmas(k, task, start, length, (vma, from, to) => {
    const refused = refuse?.(vma);
    if (refused) return refused;
    const flags = (vma.flags | set) & ~clear;
    if (flags === vma.flags) return 0;
    const piece = vmaModify(k, vma, from, to, flags, vma.policy);
    if (!(piece instanceof Error)) return 0;
    // madvise_vma_behavior(): a split refused for want of room is EAGAIN.
    return errno(piece.errno === "ENOMEM" ? "EAGAIN" : piece.errno, `madvise: ${piece.message}`);
  });
};

/**
 * `mlock_fixup()` (`mm/mlock.c`, Linux 6.16) of `[from, to)` of `vma` to the flags `newflags`:
 * nothing for flags already so, nor for a hugetlb or `VM_DROPPABLE` VMA (never locked, never
 * counted). Otherwise the range gets the flags through {@link vmaModify}; a range locked before and
 * after (only `VM_LOCKONFAULT` changing) just changes its flags, any other has its folios mlocked
 * or munlocked (`mlock_vma_pages_range()`).
 */
const mlockFixup = (
  k: Kernel,
  vma: Vma,
  from: number,
  to: number,
  newflags: number,
): 0 | ErrnoError => {
  const oldflags = vma.flags;
  if (newflags === oldflags || oldflags & VM_HUGETLB || vma.droppable) return 0;
  const piece = vmaModify(k, vma, from, to, newflags, vma.policy);
  if (piece instanceof Error) return piece;
  if (!(newflags & oldflags & VM_LOCKED)) mlockVmaPagesRange(k, piece, from, to);
  return 0;
};

/**
 * `mlock()` and `mlock2()` (`vmFlags` {@link VM_LOCKED}, with {@link VM_LOCKONFAULT} for
 * `MLOCK_ONFAULT`) and `munlock()` (`vmFlags` 0): `do_mlock()`, `apply_vma_lock_flags()` and
 * `mlock_fixup()` (`mm/mlock.c`, Linux 6.16). The start is rounded down to its page and the
 * length grown by as much (`len = PAGE_ALIGN(len + offset_in_page(start))`), so an unaligned
 * range is not an error. Each VMA of the range has its `VM_LOCKED_MASK` bits replaced by
 * `vmFlags` ({@link mlockFixup}: through {@link vmaModify}, the folios it maps mlocked or
 * munlocked by `mlock_vma_pages_range()` unless it was locked and stays so); a hugetlb or
 * `VM_DROPPABLE` VMA is left as it is.
 * A hole ends the walk with `ENOMEM`, the VMAs before it staying changed ({@link walkVmaRange}).
 * Locking first asks `can_do_mlock()` ({@link canDoMlock}: `EPERM` when `RLIMIT_MEMLOCK` is 0
 * and the task lacks `CAP_IPC_LOCK`), then checks the range against the limit before anything
 * changes ({@link doMlockCheckLimit}: `ENOMEM` when the locked pages would exceed it).
 * Returns the page range changed; `mlock()` then faults it in (`__mm_populate(start, len, 0)`,
 * `mmPopulate()`, which skips a `VM_LOCKONFAULT` VMA), each new folio mlocked as it is mapped,
 * and returns a fault's error as `__mlock_posix_error_return()` turns it
 * (`mlockPosixErrorReturn()`). `EINVAL` for a bad address or length.
 */
export const applyVmaLockFlags = (
  k: Kernel,
  task: Task,
  addr: number,
  length: number,
  vmFlags: number,
): PageRange | ErrnoError => {
  const lock = (vmFlags & VM_LOCKED) !== 0;
  const call = lock ? "mlock" : "munlock";
  if (lock && !canDoMlock(task)) {
    return errno("EPERM", "mlock: RLIMIT_MEMLOCK is 0 and the task lacks CAP_IPC_LOCK");
  }
  const offset = Number.isSafeInteger(addr) && addr >= 0 ? addr % k.mem.pageSize : 0;
  const range = pageRange(k, call, addr - offset, length + offset, true);
  if (range instanceof Error) return range;
  const { start, end } = range;
  const over = lock ? doMlockCheckLimit(k, task, start, end) : null;
  if (over) return over;
  if (end === start) return range;
  const walked = walkVmaRange(task.mm!, start, end, "stop", (vma, from, to) =>
    mlockFixup(k, vma, from, to, (vma.flags & ~VM_LOCKED_MASK) | vmFlags),
  );
  return walked === 0 ? range : walked;
};

/**
 * `apply_mlockall_flags()` (`mm/mlock.c`, Linux 6.16), for `mlockall(flags)` and, with `flags`
 * 0, `munlockall()`: `mm->def_flags` ({@link MmStruct.defFlags}) loses its `VM_LOCKED_MASK`
 * bits and, with `MCL_FUTURE`, gets `VM_LOCKED` (and `VM_LOCKONFAULT` with `MCL_ONFAULT`); then,
 * unless `MCL_FUTURE` came without `MCL_CURRENT`, every VMA has its `VM_LOCKED_MASK` bits
 * replaced: by `VM_LOCKED` (with `VM_LOCKONFAULT` for `MCL_ONFAULT`) under `MCL_CURRENT`, by
 * nothing otherwise ({@link mlockFixup}). A VMA that cannot be changed (a split refused for
 * `sysctl_max_map_count`, or for want of host memory) is left as it is: the kernel ignores the
 * error.
 */
const applyMlockallFlags = (k: Kernel, mm: MmStruct, flags: number): void => {
  mm.defFlags &= ~VM_LOCKED_MASK;
  if (flags & MCL_FUTURE) {
    mm.defFlags |= VM_LOCKED | (flags & MCL_ONFAULT ? VM_LOCKONFAULT : 0);
    if (!(flags & MCL_CURRENT)) return;
  }
  const toAdd = flags & MCL_CURRENT ? VM_LOCKED | (flags & MCL_ONFAULT ? VM_LOCKONFAULT : 0) : 0;
  walkVmaRange(mm, 0, TASK_SIZE, "pass", (vma) => {
    mlockFixup(k, vma, vma.start, vma.end, (vma.flags & ~VM_LOCKED_MASK) | toAdd);
    return 0;
  });
};

/**
 * `mlockall()` (`mm/mlock.c`, Linux 6.16) up to its populate: `EINVAL` for flags that are 0, have
 * a bit other than `MCL_CURRENT`, `MCL_FUTURE` and `MCL_ONFAULT`, or are `MCL_ONFAULT` alone;
 * `EPERM` when the task may not lock memory ({@link canDoMlock}); `ENOMEM`, with nothing changed,
 * when `MCL_CURRENT` is asked by a task without `CAP_IPC_LOCK` whose address space maps more
 * pages (`mm->total_vm`, every VMA, locked or not) than `RLIMIT_MEMLOCK` in pages (rounded down).
 * Otherwise {@link applyMlockallFlags}. The caller then, for `MCL_CURRENT`, faults in the whole
 * address space ignoring errors (`mm_populate(0, TASK_SIZE)`; `VM_LOCKONFAULT` VMAs are skipped).
 */
export const doMlockall = (k: Kernel, task: Task, flags: number): 0 | ErrnoError => {
  if (
    !Number.isInteger(flags) ||
    flags === 0 ||
    flags & ~(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) ||
    flags === MCL_ONFAULT
  ) {
    return errno(
      "EINVAL",
      `mlockall: flags ${formatValue(flags)} must be MCL_CURRENT, MCL_FUTURE or both, optionally with MCL_ONFAULT`,
    );
  }
  if (!canDoMlock(task)) {
    return errno("EPERM", "mlockall: RLIMIT_MEMLOCK is 0 and the task lacks CAP_IPC_LOCK");
  }
  const mm = task.mm!;
  const limit = Math.floor(task.rlimitMemlock / k.mem.pageSize);
  if (flags & MCL_CURRENT && !task.capable(CAP_IPC_LOCK)) {
    let totalVm = 0;
    for (const vma of mm.vmas) totalVm += vma.nrPages;
    if (totalVm > limit) {
      return errno(
        "ENOMEM",
        `mlockall(MCL_CURRENT): the address space maps ${totalVm} pages, more than RLIMIT_MEMLOCK (${task.rlimitMemlock} bytes, ${limit} pages) without CAP_IPC_LOCK`,
      );
    }
  }
  applyMlockallFlags(k, mm, flags);
  return 0;
};

/**
 * `munlockall()` (`mm/mlock.c`, Linux 6.16): {@link applyMlockallFlags} with no flags, so
 * `mm->def_flags` loses `VM_LOCKED` and `VM_LOCKONFAULT` and every VMA is unlocked, its folios
 * munlocked. Never fails.
 */
export const doMunlockall = (k: Kernel, task: Task): 0 => {
  applyMlockallFlags(k, task.mm!, 0);
  return 0;
};

/**
 * The length `do_mmap()` (`mm/mmap.c`, Linux 6.16) asks its caller to populate
 * (`*populate`, run by `mm_populate()` once the mmap lock is dropped) for a mapping of `length`
 * bytes made with `flags` in an address space whose `mm->def_flags` are `defFlags`: the length
 * rounded up to the mapping's page size (`hstateSize`, the huge page size of a hugetlb mapping,
 * or the base page size) with `MAP_LOCKED` or `VM_LOCKED` in `defFlags` (`mlockall(MCL_FUTURE)`),
 * or with `MAP_POPULATE` but not `MAP_NONBLOCK`; else 0.
 */
export const mmapPopulateLength = (
  k: Kernel,
  length: number,
  flags: number,
  hstateSize: number | null,
  defFlags = 0,
): number => {
  const locked = flags & MAP_LOCKED || defFlags & VM_LOCKED;
  if (!locked && (flags & (MAP_POPULATE | MAP_NONBLOCK)) !== MAP_POPULATE) return 0;
  const unit = hstateSize ?? k.mem.pageSize;
  return Math.ceil(length / unit) * unit;
};
