/**
 * A process's end.
 *
 * Models the part of `kernel/exit.c` (Linux 6.16) the model has: `do_exit()` dropping the task's
 * reference to its address space (`exit_mm()`, whose `mmput()` runs `exit_mmap()`, `mm/mmap.c`,
 * when it was the last: not while another task's `move_pages()` or `migrate_pages()` holds it) and
 * `release_task()` taking the task out of the process table and `/proc` (`proc_flush_pid()`).
 * The model has no threads, zombies or parents to notify: a task that exits is gone at once.
 * `exit()`, `SIGKILL` (`kernel/signal.ts`, which the OOM killer, `mm/oom_kill.ts`, sends) and the
 * `SIGSEGV` / `SIGBUS` of a fault end a process through here.
 *
 * @module
 */
import type { Kernel } from "../include/kernel";
import type { TaskStruct } from "../include/sched";
import { mmput } from "./fork";

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
 * `exit_mm()` (`kernel/exit.c`, Linux 6.16): detaches `task` from its address space
 * (`task->mm` becomes null) and drops the task's reference to it ({@link mmput}), which tears it
 * down when nothing else holds it.
 *
 * @category Processes
 */
export const exitMm = (k: Kernel, task: TaskStruct): void => {
  const mm = task.mm;
  if (!mm) return;
  task.mm = null;
  mmput(k, mm, task);
};

/**
 * `do_exit(code)` (`kernel/exit.c`): records `code` as the task's exit code
 * ({@link TaskStruct.exitCode}: 0 for `exit()`, the signal's number for a task a signal ended),
 * then {@link exitMm}, the task's memory policy put (`mpol_put_task_policy()`), then
 * {@link releaseTask}.
 *
 * @category Processes
 */
export const doExit = (k: Kernel, task: TaskStruct, code: number): void => {
  task.exitCode = code;
  exitMm(k, task);
  task.policy = null;
  releaseTask(k, task);
};
