/**
 * The users count of an address space.
 *
 * Models the part of `kernel/fork.c` (Linux 6.16) that keeps `mm->mm_users`: `get_task_mm()`,
 * which a caller working on another task's memory (`move_pages(2)`, `migrate_pages(2)`, through
 * `find_mm_struct()` and `kernel_migrate_pages()`) takes the address space with, and `mmput()`,
 * which drops it; the last `mmput()` tears the address space down (`__mmput()` → `exit_mmap()`).
 * A task's own reference is dropped by its exit (`exit_mm()`, `kernel/exit.ts`), so while such a
 * caller holds the address space its memory outlives the task, as on Linux; only the
 * `oom_reaper` (`mm/oom_kill.ts`) takes pages from it meanwhile.
 *
 * @module
 */
import type { Kernel } from "../include/kernel";
import type { MmStruct } from "../include/mm_types";
import { PF_KTHREAD, type TaskStruct } from "../include/sched";
import { exitMmap } from "../mm/mmap";

/**
 * `get_task_mm()` (`kernel/fork.c`, Linux 6.16): the address space of `task` with a reference
 * taken on it (`mmget()`: `mm_users` + 1), which the caller drops with {@link mmput}; null for a
 * kernel thread ({@link PF_KTHREAD}) and for a task that has exited (`exit_mm()` cleared `task->mm`).
 *
 * @category Processes
 */
export const getTaskMm = (task: TaskStruct): MmStruct | null => {
  const mm = task.exited || task.flags & PF_KTHREAD ? null : task.mm;
  if (mm) mm.mmUsers++;
  return mm;
};

/**
 * `mmput()` (`kernel/fork.c`, Linux 6.16): drops a reference to `mm` (`mm_users` − 1); the last
 * one runs `__mmput()`, which tears the address space down (`exit_mmap()`: every page unmapped
 * and freed unless something else holds it, the VMAs and page tables gone, `MMF_OOM_SKIP` set).
 * `current` is the task dropping the reference (null: none, as from a kernel worker): the
 * release of a shmem object whose last mapping goes is queued on it (`fput()` from
 * `exit_mmap()`).
 *
 * @category Processes
 */
export const mmput = (k: Kernel, mm: MmStruct, current: TaskStruct | null = null): void => {
  if (--mm.mmUsers === 0) exitMmap(k, mm, current);
};
