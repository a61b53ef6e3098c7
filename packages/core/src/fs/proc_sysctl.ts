/**
 * The files of `/proc/sys`: who may read or write one, and what its handler is given.
 *
 * Models `fs/proc/proc_sysctl.c` (Linux 6.16): `proc_sys_permission()` at open, with
 * `sysctl_perm()` and `test_perm()`, and `proc_sys_call_handler()`, which for a write hands the handler
 * the whole write (`count + 1` bytes, NUL-terminated) and calls it even for an empty one. The
 * handlers parse with `kernel/sysctl.ts` and see no more than its first `PAGE_SIZE - 1` bytes.
 *
 * @module
 */
import { type ErrnoError, errno } from "../errno";
import type { TaskStruct } from "../include/sched";
import { inodeModeBits, mayMask, permissionSubject } from "./namei";

/**
 * `proc_sys_permission()` with `sysctl_perm()` and `test_perm()` (`fs/proc/proc_sysctl.c`) for a
 * `read` (`MAY_READ`) or `write` (`MAY_WRITE`) of a table entry of mode `mode`, as
 * `proc_sys_call_handler()` checks it again for either: an effective uid of 0 is held to the
 * owner's bits, an effective gid of 0 to the group's, anyone else to the others', and no
 * capability overrides them (a read-only entry is read-only to root with every capability, a
 * 0600 one unreadable to any other user). An access by no task of the model (`current` null) is
 * root's. Null when allowed, else `EACCES`, as `open()` fails (supplementary groups are not
 * modelled, so `in_egroup_p()` is the effective gid alone).
 */
export const sysctlPerm = (
  path: string,
  mode: number,
  op: "read" | "write",
  current: TaskStruct | null,
): ErrnoError | null => {
  const euid = current?.cred.euid ?? 0;
  const egid = current?.cred.egid ?? 0;
  if (inodeModeBits(mode, euid, egid) & mayMask(op)) return null;
  const who = permissionSubject(euid, egid);
  return errno("EACCES", `${path}: permission denied (${op} by ${who}, mode 0${mode.toString(8)})`);
};
