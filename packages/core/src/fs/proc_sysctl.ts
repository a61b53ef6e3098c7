/**
 * The files of `/proc/sys`: who may write one, and what its handler is given.
 *
 * Models the write side of `fs/proc/proc_sysctl.c` (Linux 6.16): `proc_sys_permission()` at open,
 * with `sysctl_perm()` and `test_perm()`, and `proc_sys_call_handler()`, which hands the handler
 * the whole write (`count + 1` bytes, NUL-terminated) and calls it even for an empty one. The
 * handlers parse with `kernel/sysctl.ts` and see no more than its first `PAGE_SIZE - 1` bytes.
 *
 * @module
 */
import { type ErrnoError, errno } from "../errno";
import type { TaskStruct } from "../include/sched";

/** `MAY_WRITE` (`include/linux/fs.h`): the permission bit a write asks for. */
const MAY_WRITE = 2;

/**
 * True when `parts`, a path split at its slashes, names something under `/proc/sys`: a file
 * `proc_sys_call_handler()` writes rather than sysfs.
 */
export const isProcSysPath = (parts: readonly string[]): boolean =>
  parts[0] === "proc" && parts[1] === "sys";

/**
 * `proc_sys_permission()` with `sysctl_perm()` and `test_perm()` (`fs/proc/proc_sysctl.c`) for a
 * write (`MAY_WRITE`) to a table entry of mode `mode`: an effective uid of 0 is held to the owner's
 * bits, an effective gid of 0 to the group's, anyone else to the others', and no capability
 * overrides them (a read-only entry is read-only to root with every capability). A write by no task of the model (`current` null) is root's. Null when allowed, else
 * `EACCES`, as `open()` fails (supplementary groups are not modelled, so `in_egroup_p()` is the
 * effective gid alone).
 */
export const sysctlPerm = (
  path: string,
  mode: number,
  current: TaskStruct | null,
): ErrnoError | null => {
  const euid = current?.cred.euid ?? 0;
  const egid = current?.cred.egid ?? 0;
  const bits = euid === 0 ? mode >> 6 : egid === 0 ? mode >> 3 : mode;
  if (bits & MAY_WRITE) return null;
  const who = euid === 0 ? "root" : egid === 0 ? "group root" : `uid ${euid}`;
  return errno("EACCES", `${path}: permission denied (write by ${who}, mode 0${mode.toString(8)})`);
};
