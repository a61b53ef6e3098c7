/**
 * Kernel error numbers as values.
 *
 * Models `include/uapi/asm-generic/errno-base.h` and `errno.h`: the kernel reports failure as a
 * negative errno, either as a function's return value or in a per-page status array. Here a
 * failure that crosses the API is an {@link ErrnoError}; places where the kernel writes a number
 * (a `move_pages` status, a sysfs `store` return) carry the negative number itself.
 *
 * @module
 */
import { Data, Effect } from "effect";

/**
 * The errno numbers this model can produce, by kernel name: the `E*` defines of
 * `include/uapi/asm-generic/errno-base.h` and `include/uapi/asm-generic/errno.h`.
 *
 * @category Errors
 */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  ENOEXEC: 8,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENOSPC: 28,
  ERANGE: 34,
  EDEADLK: 35,
  ENOSYS: 38,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
  ESHUTDOWN: 108,
  ETIMEDOUT: 110,
  EHWPOISON: 133,
} as const;

/**
 * The kernel name of an errno, such as `"EINVAL"`: one of the `E*` defines of
 * `include/uapi/asm-generic/errno-base.h` and `errno.h`.
 *
 * @category Errors
 */
export type ErrnoName = keyof typeof ERRNO;

const NAME_BY_NUMBER = new Map<number, ErrnoName>(
  (Object.keys(ERRNO) as ErrnoName[]).map((name) => [ERRNO[name], name]),
);

/**
 * A kernel error: the errno name and a sentence saying what was wrong.
 *
 * Models the kernel's `-E…` return convention for calls that fail as a whole (the numbers of
 * `include/uapi/asm-generic/errno-base.h` and `errno.h`, returned as `ERR_PTR()` or a negative
 * `int`, `include/linux/err.h`). It is an Effect tagged error, so it can be failed with, matched
 * by `_tag`, and yielded inside `Effect.gen`.
 *
 * @category Errors
 */
export class ErrnoError extends Data.TaggedError("ErrnoError")<{
  readonly errno: ErrnoName;
  readonly message: string;
}> {
  /** The negative errno number, as the kernel returns it (`-EINVAL` is `-22`). */
  get code(): number {
    return -ERRNO[this.errno];
  }
}

/**
 * Builds an {@link ErrnoError}: `errno("EINVAL", "threads must be 1..64")`. The model's
 * `return -EINVAL;`; no kernel symbol of its own (the numbers are those of
 * `include/uapi/asm-generic/errno-base.h` and `errno.h`).
 *
 * @category Errors
 */
export const errno = (name: ErrnoName, message: string): ErrnoError =>
  new ErrnoError({ errno: name, message });

/**
 * The kernel name of a (positive or negative) errno number; `undefined` if this model has none.
 * Models `errname()` (`lib/errname.c`).
 *
 * @category Errors
 */
export const errnoName = (code: number): ErrnoName | undefined =>
  NAME_BY_NUMBER.get(Math.abs(code));

/**
 * True when a synchronous kernel call returned an error value rather than its result. Models
 * `IS_ERR()` (`include/linux/err.h`).
 *
 * @category Errors
 */
export const isErrnoError = (value: unknown): value is ErrnoError => value instanceof ErrnoError;

/**
 * Lifts a synchronous kernel call that returns either its result or an {@link ErrnoError} into an
 * Effect. The call runs when the Effect runs, not before.
 *
 * An SDK helper that models no kernel symbol: it stands where the kernel's system-call boundary
 * does (`SYSCALL_DEFINEn()`, `include/linux/syscalls.h`), turning a negative return into a
 * failure the caller sees.
 *
 * @category Errors
 */
export const syscall = <A>(body: () => A | ErrnoError): Effect.Effect<A, ErrnoError> =>
  Effect.suspend(() => {
    const result = body();
    return result instanceof ErrnoError ? Effect.fail(result) : Effect.succeed(result);
  });

/**
 * The signal numbers this model delivers, by kernel name: the `SIG*` defines of
 * `include/uapi/asm-generic/signal.h` that x86 uses (`arch/x86/include/uapi/asm/signal.h` has the
 * same numbers).
 *
 * @category Errors
 */
export const SIGNO = {
  SIGBUS: 7,
  SIGKILL: 9,
  SIGSEGV: 11,
} as const;

/**
 * The kernel name of a signal this model delivers, such as `"SIGSEGV"`: one of {@link SIGNO}'s.
 *
 * @category Errors
 */
export type SignalName = keyof typeof SIGNO;

/**
 * The `si_code` values of the faults this model signals, by kernel name
 * (`include/uapi/asm-generic/siginfo.h`): `SEGV_MAPERR` (no mapping at the address),
 * `SEGV_ACCERR` (a mapping that does not allow the access), `BUS_ADRERR` (no page behind a
 * mapped address) and `BUS_MCEERR_AR` (a poisoned page, the access needing it now). Codes are
 * per signal: `SEGV_ACCERR` and `BUS_ADRERR` are both 2.
 *
 * @category Errors
 */
export const SI_CODE = {
  SEGV_MAPERR: 1,
  SEGV_ACCERR: 2,
  BUS_ADRERR: 2,
  BUS_MCEERR_AR: 4,
} as const;

/**
 * The kernel name of an `si_code` this model produces, such as `"SEGV_MAPERR"`.
 *
 * @category Errors
 */
export type SiCodeName = keyof typeof SI_CODE;

/**
 * A fault of the task's own access that the kernel answers with a signal: what the task's
 * `siginfo_t` would hold (`include/uapi/asm-generic/siginfo.h`), and a sentence saying why.
 *
 * Models `force_sig_fault()` and `force_sig_mceerr()` (`kernel/signal.c`, Linux 6.16) as x86's
 * page fault handler calls them (`do_user_addr_fault()`, `arch/x86/mm/fault.c`): `SIGSEGV` for an
 * address no VMA maps (`SEGV_MAPERR`) or one whose VMA does not allow the access (`SEGV_ACCERR`),
 * `SIGBUS` for a fault that found no page (`VM_FAULT_SIGBUS`: `BUS_ADRERR`) or a poisoned one
 * (`VM_FAULT_HWPOISON` / `VM_FAULT_HWPOISON_LARGE`: `BUS_MCEERR_AR`). The model's processes
 * have no handlers, so the default action follows: the process dies of the signal (its exit code
 * is {@link SignalError.signo}), and the access that faulted fails with this error. An Effect
 * tagged error like {@link ErrnoError}, matched by `_tag` `"SignalError"`.
 *
 * @category Errors
 */
export class SignalError extends Data.TaggedError("SignalError")<{
  /** `si_signo`: the signal's kernel name. */
  readonly signal: SignalName;
  /** `si_code`: the code's kernel name. */
  readonly reason: SiCodeName;
  /** `si_addr`: the address whose access faulted, in bytes. */
  readonly addr: number;
  /**
   * `si_addr_lsb`: for `BUS_MCEERR_AR`, log2 of the size of the memory lost around `addr` (12 for
   * a 4 KiB page, 21 for a 2 MiB huge page); 0 for the other codes.
   */
  readonly addrLsb: number;
  readonly message: string;
}> {
  /** `si_signo`, the signal number (`SIGSEGV` is 11, `SIGBUS` 7 on x86). */
  get signo(): number {
    return SIGNO[this.signal];
  }

  /** `si_code`, the number (`SEGV_MAPERR` is 1). */
  get siCode(): number {
    return SI_CODE[this.reason];
  }
}

/**
 * True when `value` is a {@link SignalError}: the access faulted and the task got the signal.
 *
 * @category Errors
 */
export const isSignalError = (value: unknown): value is SignalError => value instanceof SignalError;
