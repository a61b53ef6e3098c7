/**
 * A shmem object's end.
 *
 * Models `shmem_evict_inode()` (`mm/shmem.c`, Linux 6.16) for the model's shmem objects (shared
 * anonymous mappings): when the last mapping goes, the object's commit charge is given back
 * (`shmem_unacct_size()`, or the charge of its pages for a `VM_NORESERVE` one,
 * `shmem_recalc_inode()`, `mm/shmem_acct.ts`), and its page cache is dropped whole
 * (`shmem_truncate_range(inode, 0, -1)`, `shmem_undo_range()`) under each folio's lock, then
 * the object is gone.
 *
 * @module
 */
import { Effect } from "effect";
import type { Kernel } from "../include/kernel";
import { type AddressSpace, VM_NORESERVE } from "../include/mm_types";
import { PF_KTHREAD, type TaskStruct } from "../include/sched";
import { taskWorkAdd } from "../kernel/task_work";
import { shmemRecalcInode } from "./shmem_acct";
import { truncateInodePagesTrylock, truncateInodePagesWait } from "./truncate";
import { vmUnacctMemory } from "./util";

/**
 * `shmem_evict_inode()` (`mm/shmem.c`, Linux 6.16), which the last `fput()` of a shmem object
 * runs (`__fput()` → `iput()` → `evict()`): gives the object's commit charge back
 * (`shmem_unacct_size()`, unless it was made `VM_NORESERVE`), drops every folio of its page cache
 * and then the object (`Kernel.addressSpaces`), once its pages are gone giving back the charge a
 * `VM_NORESERVE` object took for them ({@link shmemRecalcInode}). Its folios that lock at once go now (`shmem_undo_range()`'s
 * first loop, {@link truncateInodePagesTrylock}); a folio another task holds locked (a migration
 * moving it) is waited for in `folio_lock()` with a reference held (the second loop,
 * {@link truncateInodePagesWait}), which a migration of it finds (`-EAGAIN`) until it gives the
 * folio back. As on Linux, where `fput()` queues the release on `current` with
 * `task_work_add()`, that wait runs when `current` (the task whose `munmap()`, exit or `mmput()`
 * removed the last mapping) returns from its call or runs `exit_task_work()`
 * ({@link taskWorkAdd}): the address space's teardown never sleeps, no other task's call runs or
 * waits for it, and the object lives until its last folio is dropped. With no task (`current`
 * null), a kernel thread ({@link PF_KTHREAD}) or a task past `exit_task_work()`, the release goes
 * to a kernel worker instead (`delayed_fput()`, `fs/file_table.c`, on {@link Kernel.systemWq}),
 * which nobody's call waits for and kernel shutdown flushes.
 */
export const shmemEvictInode = (
  k: Kernel,
  mapping: AddressSpace,
  current: TaskStruct | null,
): void => {
  const evict = (): void => {
    // shmem_undo_range()'s shmem_recalc_inode(): the page cache is empty now, so every page the
    // object counted leaves it, a VM_NORESERVE object's commitment with them.
    shmemRecalcInode(k, mapping, 0);
    k.addressSpaces.delete(mapping.id);
  };
  // shmem_unacct_size(): the object's size leaves the commitment first, unless it was never
  // charged (VM_NORESERVE).
  const unacct = (): void => {
    if (!(mapping.shmemFlags & VM_NORESERVE)) {
      vmUnacctMemory(k, Math.ceil(mapping.size / k.mem.pageSize));
    }
  };
  if (truncateInodePagesTrylock(k, mapping)) {
    unacct();
    evict();
    return;
  }
  const release = Effect.andThen(
    Effect.sync(unacct),
    Effect.andThen(truncateInodePagesWait(k, mapping), Effect.sync(evict)),
  );
  // fput(): never on a kernel thread, which does not return to user mode to run it.
  if (current && !(current.flags & PF_KTHREAD) && taskWorkAdd(current, release)) return;
  // delayed_fput(): a kworker (schedule_delayed_work(&delayed_fput_work)) runs the release, on the
  // kernel's workqueue, which shutdown flushes.
  k.systemWq.queue("delayed_fput", release);
};
