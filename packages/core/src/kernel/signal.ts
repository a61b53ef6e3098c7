/**
 * Sending `SIGKILL` and dying of it.
 *
 * Models the part of `kernel/signal.c` (Linux 6.16) the OOM killer uses: `do_send_sig_info()`
 * with `SIGKILL` (`send_signal_locked()` → `complete_signal()`, which sets `SIGNAL_GROUP_EXIT`,
 * adds `SIGKILL` to every thread's pending set and wakes it, `signal_wake_up()`), and
 * `get_signal()`, which a task runs on its way back to user mode (`exit_to_user_mode_loop()`,
 * `kernel/entry/common.c`) and which, for a fatal signal, ends the task (`do_group_exit()` →
 * `do_exit()`, `kernel/exit.ts`). A task in user space when the signal comes (no system call of
 * its own in flight, {@link TaskStruct.inSyscall} 0) is kicked into the kernel and dies there at
 * once. One inside a call keeps the signal pending ({@link TaskStruct.sigkillPending}): the call
 * goes on until it looks for the signal (`fatal_signal_pending()`, `include/signal.ts`) or
 * returns, and the task dies when its last call in flight returns ({@link Kernel.call}). There
 * are no handlers, masks or other signals: `SIGKILL` can be neither caught nor blocked.
 *
 * @module
 */
import type { Kernel } from "../include/kernel";
import type { TaskStruct } from "../include/sched";
import { doExit } from "./exit";
import { taskWorkRun } from "./task_work";

/**
 * `do_send_sig_info(SIGKILL, SEND_SIG_PRIV, task, PIDTYPE_TGID)` (`kernel/signal.c`, Linux 6.16):
 * makes `SIGKILL` pending for `task` ({@link TaskStruct.sigkillPending}) and wakes it. A task in
 * user space ({@link TaskStruct.inSyscall} 0) dies there and then, in the sender's call:
 * `get_signal()` → `do_exit()` ({@link doExit}: its address space dropped, out of the process
 * table), and its `exit_task_work()` runs on {@link Kernel.systemWq}, as the dying task runs it
 * rather than the sender. A task inside a call of its own dies when that call returns
 * ({@link getSignal}). Returns true when the task died at once. Nothing for a task that has
 * exited.
 *
 * @category Processes
 */
export const doSendSigkill = (k: Kernel, task: TaskStruct): boolean => {
  if (task.exited) return false;
  task.sigkillPending = true;
  if (task.inSyscall > 0) return false;
  // signal_wake_up(): back in the kernel at once, the task takes the signal and exits.
  doExit(k, task);
  k.systemWq.queue(`exit_task_work of ${task.pid}`, taskWorkRun(task));
  return true;
};

/**
 * `get_signal()` (`kernel/signal.c`, Linux 6.16) for a fatal signal, as a task runs it on its way
 * back to user mode: when `task` has `SIGKILL` pending and has left its last system call
 * ({@link TaskStruct.inSyscall} 0), it exits (`do_group_exit()` → {@link doExit}); its
 * `exit_task_work()` is the task work the return runs next. Returns whether it exited now.
 *
 * @category Processes
 */
export const getSignal = (k: Kernel, task: TaskStruct): boolean => {
  if (!task.sigkillPending || task.exited || task.inSyscall > 0) return false;
  doExit(k, task);
  return true;
};
