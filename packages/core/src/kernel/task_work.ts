/**
 * Work deferred to the end of a system call.
 *
 * Models `task_work_add()` and `task_work_run()` (`kernel/task_work.c`, Linux 6.16) as `fput()`
 * uses them (`fs/file_table.c`): the last reference to a file dropped in a context that may not
 * sleep (the `munmap()` or exit that removes a shmem object's last mapping, under the address
 * space's teardown) queues the file's release (`____fput()`), which runs on the way back to user
 * mode (`exit_to_user_mode_loop()`) or in `do_exit()` (`exit_task_work()`), where it may sleep.
 * The model keeps one queue per kernel, run when a system call of the kernel returns
 * ({@link Kernel.call}).
 *
 * @module
 */
import { Effect } from "effect";
import type { Kernel } from "../include/kernel";

/**
 * `task_work_add()` (`kernel/task_work.c`, Linux 6.16): queues `work` to run, in the order
 * queued, when the system call in progress returns ({@link taskWorkRun}).
 *
 * @category Processes
 */
export const taskWorkAdd = (k: Kernel, work: Effect.Effect<void>): void => {
  k.taskWorks.push(work);
};

/**
 * `task_work_run()` (`kernel/task_work.c`, Linux 6.16): runs the queued work, oldest first, and
 * what that work queues in turn, until the queue is empty.
 *
 * @category Processes
 */
export const taskWorkRun = (k: Kernel): Effect.Effect<void> =>
  Effect.suspend(() => {
    const work = k.taskWorks.shift();
    return work ? Effect.andThen(work, taskWorkRun(k)) : Effect.void;
  });
