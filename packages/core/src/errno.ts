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
