/**
 * The one signal the model delivers, as the code that sends it and the code that looks for it
 * see it.
 *
 * Models `SIGKILL` (`include/uapi/asm-generic/signal.h`) and `fatal_signal_pending()`
 * (`include/linux/sched/signal.h`, Linux 6.16). The OOM killer sends it (`__oom_kill_process()`,
 * `mm/oom_kill.ts`); `kernel/signal.ts` delivers it. A task in user space when it comes (no
 * system call of its own in flight) dies at once, as Linux's wakes and dies on its way back to
 * user mode; one inside a call keeps it pending (`Task.sigkillPending`) until the
 * call looks for it (`fatal_signal_pending()`) or returns, and only then exits.
 *
 * @module
 */
import { type ErrnoError, errno } from "../errno";
import type { AllocContext } from "./mmzone";

/**
 * `SIGKILL` (`include/uapi/asm-generic/signal.h`): the signal no task can catch, block or
 * ignore.
 *
 * @category Processes
 */
export const SIGKILL = 9;

/**
 * `fatal_signal_pending()` (`include/linux/sched/signal.h`, Linux 6.16): whether `task` has a
 * `SIGKILL` pending ({@link AllocContext.sigkillPending}), so that what it is doing in the kernel
 * should stop and let it die. False for null (a kernel thread's allocation, which takes no
 * signal) and for a task that has none.
 *
 * @category Processes
 */
export const fatalSignalPending = (task: AllocContext | null): boolean =>
  task?.sigkillPending === true;

/**
 * The error a call of a task killed by `SIGKILL` ends with, which the task never sees on Linux
 * (it dies before it returns to user mode): `ESRCH`, the process being gone, naming the OOM
 * killer when it sent the signal.
 *
 * @category Processes
 */
export const killedError = (task: {
  readonly pid: number;
  readonly oomVictim?: boolean;
}): ErrnoError =>
  errno(
    "ESRCH",
    `process ${task.pid} ${task.oomVictim ? "was killed by the OOM killer" : "was killed by SIGKILL"}`,
  );
