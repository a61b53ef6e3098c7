/**
 * Work deferred to a task's return from its system call.
 *
 * Models `task_work_add()` and `task_work_run()` (`kernel/task_work.c`, Linux 6.16) as `fput()`
 * uses them (`fs/file_table.c`): the last reference to a file dropped in a context that may not
 * sleep (the `munmap()` or exit that removes a shmem object's last mapping, under the address
 * space's teardown) queues the file's release (`____fput()`) on the task that dropped it
 * (`current->task_works`), which runs it on its way back to user mode
 * (`resume_user_mode_work()`, `kernel/entry/common.c`: {@link Kernel.call} of that task) or in
 * `do_exit()` (`exit_task_work()`, after `exit_mm()`), where it may sleep. Another task's call
 * neither runs nor waits for it. Once an exiting task has run its work, its queue is closed
 * (`work_exited`) and `task_work_add()` fails: `fput()` then hands the release to a kernel
 * worker (`delayed_fput()`), as it does when there is no task to queue on and for a kernel
 * thread (`PF_KTHREAD`), which never returns to user mode.
 *
 * @module
 */
import { Deferred, Effect } from "effect";
import type { TaskStruct } from "../include/sched";

/**
 * `task_work_add()` (`kernel/task_work.c`, Linux 6.16) with `TWA_RESUME`: queues `work` on
 * `task` ({@link TaskStruct.taskWorks}) to run, in the order queued, when the task returns from
 * its system call or exits ({@link taskWorkRun}). False, queueing nothing, when the task has
 * already run its exit's work (`-ESRCH`: the queue is `work_exited`).
 *
 * @category Processes
 */
export const taskWorkAdd = (task: TaskStruct, work: Effect.Effect<void>): boolean => {
  if (task.taskWorks === null) return false;
  task.taskWorks.push(work);
  return true;
};

/**
 * `task_work_run()` (`kernel/task_work.c`, Linux 6.16): runs `task`'s queued work, oldest first,
 * and what that work queues in turn, until the queue is empty. For a task that has exited
 * (`PF_EXITING`, here {@link TaskStruct.exited}) this is `exit_task_work()`: the empty queue is
 * then closed (`work_exited`, {@link TaskStruct.taskWorks} null), so no work is queued on the
 * task again. Nothing for a task whose queue is closed.
 *
 * One runner at a time, as on Linux, where only the task itself runs its work (`xchg()` takes
 * the whole list): a second runner (the return of a call the task made while the OOM killer's
 * exit runs its work) waits for the first ({@link TaskStruct.taskWorkActive}), then runs what was
 * queued meanwhile; so it returns only once no work taken before it is still running, and only
 * the runner that finds the queue empty closes it.
 *
 * @category Processes
 */
export const taskWorkRun = (task: TaskStruct): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (task.taskWorks === null) return Effect.void;
    const active = task.taskWorkActive;
    if (active) return Effect.andThen(Deferred.await(active), taskWorkRun(task));
    const done = Deferred.makeUnsafe<void>();
    task.taskWorkActive = done;
    return Effect.ensuring(
      drain(task),
      Effect.sync(() => {
        task.taskWorkActive = null;
        Deferred.doneUnsafe(done, Effect.void);
      }),
    );
  });

/** The active runner's loop: the queue's work until it is empty, then closes an exited one's. */
const drain = (task: TaskStruct): Effect.Effect<void> =>
  Effect.suspend(() => {
    const works = task.taskWorks;
    if (works === null) return Effect.void;
    const work = works.shift();
    if (work) return Effect.andThen(work, drain(task));
    if (task.exited) task.taskWorks = null;
    return Effect.void;
  });
