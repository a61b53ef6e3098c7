/**
 * Who may open a file: the permission check of a path walk's last step.
 *
 * Models `generic_permission()` with `acl_permission_check()` and `capable_wrt_inode_uidgid()`
 * (`fs/namei.c`, Linux 6.16) for the model's pseudo-file inodes, which are all owned by root
 * (uid 0, gid 0, as sysfs, debugfs and `/proc/sys` files are). No ACLs are modelled.
 *
 * @module
 */
import { type ErrnoError, errno } from "../errno";
import { CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH } from "../include/capability";
import type { TaskStruct } from "../include/sched";

/**
 * `MAY_EXEC`, `MAY_WRITE` and `MAY_READ` (`include/linux/fs.h`): the permission bits an access
 * asks for (`MAY_EXEC` on a directory: search it).
 */
const MAY_EXEC = 1;
const MAY_WRITE = 2;
const MAY_READ = 4;

/** The owner of every sysfs, debugfs and `/proc/sys` inode: uid 0, gid 0. */
const ROOT_OWNER = { uid: 0, gid: 0 } as const;

/**
 * The three bits of `mode` that apply, on an inode owned by `owner` (root's by default), to a
 * task whose user id is `uid` and group id `gid`, in the low bits: the owner's for the owner's
 * uid, the group's for its gid, the others' for anyone else (`acl_permission_check()` with the
 * fsuid and fsgid, and `/proc/sys`'s `test_perm()` with the effective ids; supplementary groups
 * are not modelled, so `in_group_p()` is the one gid alone).
 */
export const inodeModeBits = (
  mode: number,
  uid: number,
  gid: number,
  owner: { readonly uid: number; readonly gid: number } = ROOT_OWNER,
): number => (uid === owner.uid ? mode >> 6 : gid === owner.gid ? mode >> 3 : mode);

/** The `MAY_*` bit of a `read`, a `write` or a directory `search`. */
export const mayMask = (op: "read" | "write" | "search"): number =>
  op === "read" ? MAY_READ : op === "write" ? MAY_WRITE : MAY_EXEC;

/** Who a task with these ids is, for an `EACCES` message. */
export const permissionSubject = (uid: number, gid: number): string =>
  uid === 0 ? "root" : gid === 0 ? "group root" : `uid ${uid}`;

/**
 * `generic_permission()` (`fs/namei.c`, Linux 6.16) on a regular file of mode `mode` owned by
 * `owner` (root's by default), for a `read` (`MAY_READ`) or `write` (`MAY_WRITE`) open by
 * `current`: allowed when the bits of `current`'s class grant it (the owner's for the owner's
 * fsuid, the group's for its fsgid, else the others'), or else when `current` holds
 * `CAP_DAC_OVERRIDE` (either access), or `CAP_DAC_READ_SEARCH` for a read. A `search` is
 * `MAY_EXEC` on a directory (a path walk through it, `may_lookup()`), which `CAP_DAC_READ_SEARCH`
 * also allows. Null when allowed, else `EACCES` naming the file, the access, who asked and the
 * mode. No task (`current` null) is root with every capability.
 */
export const genericPermission = (
  path: string,
  mode: number,
  op: "read" | "write" | "search",
  current: TaskStruct | null,
  owner: { readonly uid: number; readonly gid: number } = ROOT_OWNER,
): ErrnoError | null => {
  const fsuid = current?.cred.fsuid ?? 0;
  const fsgid = current?.cred.fsgid ?? 0;
  if (inodeModeBits(mode, fsuid, fsgid, owner) & mayMask(op)) return null;
  const caps = current?.cred.capEffective;
  if (!caps || caps.has(CAP_DAC_OVERRIDE)) return null;
  if (op !== "write" && caps.has(CAP_DAC_READ_SEARCH)) return null;
  return errno(
    "EACCES",
    `${path}: permission denied (${op} by ${permissionSubject(fsuid, fsgid)}, mode 0${mode.toString(8)})`,
  );
};
