/**
 * The commit charge of a shmem object's pages.
 *
 * Models the block accounting of `mm/shmem.c` (Linux 6.16) for the model's shmem objects (shared
 * anonymous mappings): an object made `VM_NORESERVE` was not charged for its size
 * (`shmem_acct_size()`), so each page it gets is committed as it is allocated
 * (`shmem_inode_acct_blocks()` → `shmem_acct_blocks()`), and the pages it has lost leave the
 * commitment when the object next counts them (`shmem_recalc_inode()` →
 * `shmem_inode_unacct_blocks()` → `shmem_unacct_blocks()`): at its next allocation, and when it
 * is evicted. The internal mount behind shared anonymous memory has no block limit
 * (`sbinfo->max_blocks` 0) and the model no quotas, so the commitment is all these helpers keep.
 *
 * @module
 */
import { type ErrnoError, errno } from "../errno";
import type { Kernel } from "../include/kernel";
import { type AddressSpace, VM_NORESERVE } from "../include/mm_types";
import type { TaskStruct } from "../include/sched";
import { securityVmEnoughMemoryMm, vmUnacctMemory } from "./util";

/**
 * `shmem_inode_acct_blocks()` (`mm/shmem.c`, Linux 6.16) for `pages` new pages of the shmem
 * object `mapping`, allocated by `current`: for a `VM_NORESERVE` object
 * ({@link AddressSpace.shmemFlags}), `shmem_acct_blocks()` commits them
 * (`security_vm_enough_memory_mm(current->mm, pages)`, the overcommit policy of `current`'s
 * address space and capabilities), and a refusal is `ENOSPC`, nothing committed, which a fault
 * turns into `SIGBUS`; an object charged for its size commits nothing more. Null when the pages
 * may be added; the caller then counts them with {@link shmemRecalcInode}.
 *
 * @category Address spaces
 */
export const shmemInodeAcctBlocks = (
  k: Kernel,
  current: TaskStruct,
  mapping: AddressSpace,
  pages: number,
): ErrnoError | null => {
  if (!(mapping.shmemFlags & VM_NORESERVE)) return null;
  const refused = securityVmEnoughMemoryMm(k, current, current.mm, pages);
  return refused
    ? errno("ENOSPC", `${mapping.name}: ${pages} more pages not committed: ${refused.message}`)
    : null;
};

/**
 * `shmem_recalc_inode()` (`mm/shmem.c`, Linux 6.16): counts `alloced` new pages of the shmem
 * object `mapping` in {@link AddressSpace.shmemAlloced}, then finds the pages it counts that its
 * page cache no longer holds (`info->alloced - info->swapped - nrpages`; the model has no swap)
 * and forgets them, giving their commitment back when the object is `VM_NORESERVE`
 * (`shmem_inode_unacct_blocks()`).
 *
 * @category Address spaces
 */
export const shmemRecalcInode = (k: Kernel, mapping: AddressSpace, alloced: number): void => {
  mapping.shmemAlloced += alloced;
  const freed = mapping.shmemAlloced - mapping.pages.size;
  if (freed <= 0) return;
  mapping.shmemAlloced -= freed;
  if (mapping.shmemFlags & VM_NORESERVE) vmUnacctMemory(k, freed);
};
