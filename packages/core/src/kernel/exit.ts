/**
 * A process's end.
 *
 * Models the part of `kernel/exit.c` (Linux 6.16) the model has: `do_exit()` tearing the address
 * space down (`exit_mm()`, whose last `mmput()` runs `exit_mmap()`, `mm/mmap.c`) and
 * `release_task()` taking the task out of the process table and `/proc` (`proc_flush_pid()`).
 * The model has no signals, threads, zombies or parents to notify: a task that exits is gone at
 * once. `exit()` and the OOM killer (`mm/oom_kill.ts`) end a process through here.
 *
 * @module
 */
import type { Kernel } from "../include/kernel";
import type { TaskStruct } from "../include/sched";
import { exitMmap } from "../mm/mmap";

/**
 * `release_task()` (`kernel/exit.c`): marks `task` exited and takes it out of the process table
 * and out of `/proc` (`proc_flush_pid()`). Its address space is left as it is.
 *
 * @category Processes
 */
export const releaseTask = (k: Kernel, task: TaskStruct): void => {
  task.exited = true;
  k.tasks.delete(task.pid);
  k.fs.remove(`/proc/${task.pid}`);
};

/**
 * `do_exit()` (`kernel/exit.c`): unmaps the whole address space, freeing what only it held
 * (`exit_mm()`, `exit_mmap()`), then {@link releaseTask}.
 *
 * @category Processes
 */
export const doExit = (k: Kernel, task: TaskStruct): void => {
  if (task.mm) exitMmap(k, task.mm);
  releaseTask(k, task);
};
