/**
 * Sending signals and dying of them.
 *
 * Models the parts of `kernel/signal.c` (Linux 6.16) the model has. The OOM killer's `SIGKILL`:
 * `do_send_sig_info()` (`send_signal_locked()` → `complete_signal()`, which sets
 * `SIGNAL_GROUP_EXIT`, adds `SIGKILL` to every thread's pending set and wakes it,
 * `signal_wake_up()`). The `SIGSEGV` and `SIGBUS` a fault of the task's own access forces on it
 * (`force_sig_fault()`, `force_sig_mceerr()`, `include/signal.ts`), which no handler catches: the
 * model has no `sigaction()`, so each takes its default action, a core dump and the end of the
 * process. And `get_signal()`, which a task runs on its way back to user mode
 * (`exit_to_user_mode_loop()`, `kernel/entry/common.c`) and which, for a fatal signal, ends the
 * task (`do_group_exit()` → `do_exit()`, `kernel/exit.ts`), its exit code the signal's number.
 *
 * A task in user space when `SIGKILL` comes (no system call of its own in flight,
 * {@link TaskStruct.inSyscall} 0) is kicked into the kernel and dies there at once. One inside a
 * call keeps the signal pending ({@link TaskStruct.sigkillPending}): the call goes on until it
 * looks for the signal (`fatal_signal_pending()`, `include/signal.ts`) or returns, and the task
 * dies when its last call in flight returns ({@link Kernel.call}). A forced signal
 * ({@link TaskStruct.forcedSignal}) ends the task when the access that faulted returns; with
 * other calls of the task in flight, `do_group_exit()` sends them `SIGKILL`
 * (`zap_other_threads()`) and the task dies when the last returns. There is no `kill(2)`, no
 * handler and no mask: `SIGKILL` can be neither caught nor blocked, and the model blocks nothing.
 *
 * @module
 */
import { Effect } from "effect";
import type { Kernel } from "../include/kernel";
import { isGlobalInit, type TaskStruct } from "../include/sched";
import { SIGKILL } from "../include/signal";
import { doExit } from "./exit";
import { taskWorkRun } from "./task_work";

/**
 * `do_send_sig_info(SIGKILL, SEND_SIG_PRIV, task, PIDTYPE_TGID)` (`kernel/signal.c`, Linux 6.16):
 * makes `SIGKILL` pending for `task` ({@link TaskStruct.sigkillPending}) and wakes it. A task in
 * user space ({@link TaskStruct.inSyscall} 0) dies there and then, in the sender's call:
 * `get_signal()` → `do_exit(SIGKILL)` ({@link doExit}: its address space dropped, out of the
 * process table, exit code 9), and its `exit_task_work()` runs on {@link Kernel.systemWq}, as the
 * dying task runs it rather than the sender. A task inside a call of its own dies when that call
 * returns ({@link getSignal}). Returns true when the task died at once. Nothing for a task that
 * has exited.
 *
 * @category Processes
 */
export const doSendSigkill = (k: Kernel, task: TaskStruct): boolean => {
  if (task.exited) return false;
  task.sigkillPending = true;
  // signal_wake_up(): a task in a killable sleep wakes, and the sleep gives up (EINTR).
  task.wakeKillable?.();
  if (task.inSyscall > 0) return false;
  // signal_wake_up(): back in the kernel at once, the task takes the signal and exits.
  doExit(k, task, SIGKILL);
  k.systemWq.queue(`exit_task_work of ${task.pid}`, taskWorkRun(task));
  return true;
};

/**
 * `get_signal()` (`kernel/signal.c`, Linux 6.16) for a fatal signal, as a task runs it on its way
 * back to user mode from one of its calls. A task with a forced signal
 * ({@link TaskStruct.forcedSignal}) and other calls still in flight sends them `SIGKILL`
 * (`do_group_exit()` → `zap_other_threads()`): it is dying. When `task` has a fatal signal
 * pending and has left its last call ({@link TaskStruct.inSyscall} 0), it exits
 * (`do_group_exit()` → {@link doExit}), its exit code the forced signal's number, else
 * `SIGKILL`'s; its `exit_task_work()` is the task work the return runs next. The global init
 * (pid 1) that a fault signals panics the kernel instead (`do_exit()`: `Attempted to kill init!
 * exitcode=0x0000000b` for `SIGSEGV`), as nothing else may end it. Succeeds with whether the
 * task exited now.
 *
 * @category Processes
 */
export const getSignal = (k: Kernel, task: TaskStruct): Effect.Effect<boolean> =>
  Effect.suspend(() => {
    if (task.exited) return Effect.succeed(false);
    const forced = task.forcedSignal;
    if (forced && task.inSyscall > 0) task.sigkillPending = true;
    if (!(task.sigkillPending || forced) || task.inSyscall > 0) return Effect.succeed(false);
    const code = forced ? forced.signo : SIGKILL;
    if (isGlobalInit(task)) {
      const hex = code.toString(16).padStart(8, "0");
      return Effect.as(k.panic(`Attempted to kill init! exitcode=0x${hex}\n`), false);
    }
    doExit(k, task, code);
    return Effect.succeed(true);
  });
