/**
 * The signals the model delivers, as the code that sends them and the code that looks for them
 * see them.
 *
 * Models `SIGKILL`, `SIGBUS` and `SIGSEGV` (`include/uapi/asm-generic/signal.h`),
 * `fatal_signal_pending()` and the `force_sig_fault()` / `force_sig_mceerr()` that
 * `include/linux/sched/signal.h` declares (Linux 6.16). The OOM killer sends `SIGKILL`
 * (`__oom_kill_process()`, `mm/oom_kill.ts`); `kernel/signal.ts` delivers it. A task in user space
 * when it comes (no system call of its own in flight) dies at once, as Linux's wakes and dies on
 * its way back to user mode; one inside a call keeps it pending (`Task.sigkillPending`) until the
 * call looks for it (`fatal_signal_pending()`) or returns, and only then exits. A fault of the
 * task's own access forces `SIGSEGV` or `SIGBUS` on it (`Task.forcedSignal`, x86's
 * `do_user_addr_fault()`, `mm/memory.ts`); with no handler, the task dies of it when the access
 * returns. There is no `kill(2)`, no handler (`sigaction(2)`) and no mask.
 *
 * @module
 */
import { type ErrnoError, errno, SIGNO, type SiCodeName, SignalError } from "../errno";
import type { AllocContext } from "./mmzone";

/**
 * `SIGKILL` (`include/uapi/asm-generic/signal.h`): the signal no task can catch, block or
 * ignore.
 *
 * @category Processes
 */
export const SIGKILL = SIGNO.SIGKILL;

/**
 * `SIGBUS` (`include/uapi/asm-generic/signal.h`; 7 on x86): a fault that found no page behind a
 * mapped address, or a poisoned one. Its default action dumps core and ends the process.
 *
 * @category Processes
 */
export const SIGBUS = SIGNO.SIGBUS;

/**
 * `SIGSEGV` (`include/uapi/asm-generic/signal.h`; 11): an access to an address no VMA maps, or
 * one its VMA does not allow. Its default action dumps core and ends the process.
 *
 * @category Processes
 */
export const SIGSEGV = SIGNO.SIGSEGV;

/**
 * The part of a task (`struct task_struct`'s pending signals) that {@link forceSigFault} and
 * {@link forceSigMceerr} read and write.
 *
 * @category Processes
 */
export interface SignalTarget {
  /** `SIGKILL` pending: the task is dying already. */
  readonly sigkillPending: boolean;
  /** The signal a fault forced, pending until the task takes it. */
  forcedSignal: SignalError | null;
}

/** `force_sig_info_to_task()`: queues `info` unless the task already dies of another signal. */
const forceSigInfo = (task: SignalTarget, info: SignalError): SignalError => {
  if (!task.sigkillPending && task.forcedSignal === null) task.forcedSignal = info;
  return info;
};

/**
 * `force_sig_fault()` (`kernel/signal.c`, Linux 6.16), as x86's page fault handler calls it for
 * the task's own access at `addr`: queues `signal` with `si_code` `reason` and `si_addr` `addr`
 * on `task` ({@link SignalTarget.forcedSignal}) and returns it, for the access to fail with. With
 * no handler installed the default action applies: the task dies of it on its way back to user
 * mode (`get_signal()`, `kernel/signal.ts`). A task already dying of `SIGKILL`, or with a forced
 * signal pending, keeps that one: the first fatal signal decides the exit.
 *
 * @category Processes
 */
export const forceSigFault = (
  task: SignalTarget,
  signal: "SIGSEGV" | "SIGBUS",
  reason: SiCodeName,
  addr: number,
  message: string,
): SignalError =>
  forceSigInfo(task, new SignalError({ signal, reason, addr, addrLsb: 0, message }));

/**
 * `force_sig_mceerr()` (`kernel/signal.c`, Linux 6.16) with `BUS_MCEERR_AR`, as x86's
 * `do_sigbus()` (`arch/x86/mm/fault.c`) calls it for `VM_FAULT_HWPOISON` (`lsb` `PAGE_SHIFT`) or
 * `VM_FAULT_HWPOISON_LARGE` (the huge page's shift): `SIGBUS` with `si_addr` `addr` and
 * `si_addr_lsb` `lsb`, forced as {@link forceSigFault} forces it.
 *
 * @category Processes
 */
export const forceSigMceerr = (
  task: SignalTarget,
  addr: number,
  lsb: number,
  message: string,
): SignalError =>
  forceSigInfo(
    task,
    new SignalError({ signal: "SIGBUS", reason: "BUS_MCEERR_AR", addr, addrLsb: lsb, message }),
  );

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
