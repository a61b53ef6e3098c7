/**
 * Changing a task's credentials.
 *
 * Models `commit_creds()` (`kernel/cred.c`), the `set*id()` calls of `kernel/sys.c`
 * (`__sys_setuid()`, `__sys_setresuid()`, `__sys_setresgid()`), the capability fix-up they ask of
 * `security/commoncap.c` (`cap_task_fix_setuid()` → `cap_emulate_setxuid()`, without securebits)
 * and `prctl(PR_{GET,SET}_DUMPABLE)`. Limits on process counts (`RLIMIT_NPROC`) and user
 * namespaces are out of scope.
 *
 * @module
 */
import { type ErrnoError, errno } from "../errno";
import { CAP_SETGID, CAP_SETUID } from "../include/capability";
import { type Cred, idValid } from "../include/cred";
import { type MmStruct, SUID_DUMP_DISABLE } from "../include/mm_types";
import { PR_GET_DUMPABLE, PR_SET_DUMPABLE } from "../include/sched";

/** What `commit_creds()` changes: a task's credentials and the dumpability of its mm. */
export interface CredTask {
  cred: Cred;
  readonly mm: MmStruct | null;
}

/** -1 as an id argument: leave that id as it is. */
const KEEP = -1;

/**
 * `commit_creds()` (`kernel/cred.c`): installs `next`. When the effective or filesystem ids change,
 * or capabilities are gained, the address space stops being dumpable (`set_dumpable(mm,
 * suid_dumpable)`, the sysctl's default 0).
 */
export const commitCreds = (task: CredTask, next: Cred): void => {
  const old = task.cred;
  const gained = [...next.capPermitted].some((c) => !old.capPermitted.has(c));
  if (
    task.mm &&
    (old.euid !== next.euid ||
      old.egid !== next.egid ||
      old.fsuid !== next.fsuid ||
      old.fsgid !== next.fsgid ||
      gained)
  ) {
    task.mm.dumpable = SUID_DUMP_DISABLE;
  }
  task.cred = next;
};

/** `cap_emulate_setxuid()` (`security/commoncap.c`): the capability sets after a uid change. */
const capEmulateSetxuid = (old: Cred, next: Cred): Cred => {
  let { capPermitted, capEffective } = next;
  const wasRoot = old.uid === 0 || old.euid === 0 || old.suid === 0;
  if (wasRoot && next.uid !== 0 && next.euid !== 0 && next.suid !== 0) {
    capPermitted = new Set();
    capEffective = new Set();
  }
  if (old.euid === 0 && next.euid !== 0) capEffective = new Set();
  if (old.euid !== 0 && next.euid === 0) capEffective = new Set(capPermitted);
  return { ...next, capPermitted, capEffective };
};

/** One of the task's current ids of a kind (real, effective, saved). */
const isCurrent = (id: number, ids: readonly number[]): boolean => id === KEEP || ids.includes(id);

/** `__sys_setuid()` (`kernel/sys.c`). */
export const sysSetuid = (task: CredTask, uid: number): 0 | ErrnoError => {
  if (!idValid(uid)) return errno("EINVAL", `setuid: ${uid} is not a valid uid`);
  const old = task.cred;
  let next: Cred;
  if (old.capEffective.has(CAP_SETUID)) next = { ...old, uid, suid: uid, euid: uid, fsuid: uid };
  else if (uid === old.uid || uid === old.suid) next = { ...old, euid: uid, fsuid: uid };
  else return errno("EPERM", `setuid: ${uid} is neither the real nor the saved uid, no CAP_SETUID`);
  commitCreds(task, capEmulateSetxuid(old, next));
  return 0;
};

/** The ids one `set*res*id()` call changes: real, effective, saved and the filesystem id. */
type IdKey = "uid" | "euid" | "suid" | "fsuid" | "gid" | "egid" | "sgid" | "fsgid";
interface IdKind {
  readonly call: string;
  readonly ids: readonly [IdKey, IdKey, IdKey];
  readonly fs: IdKey;
  readonly cap: number;
  /** The capability fix-up of the change (`security_task_fix_setuid()`), if any. */
  readonly fixup: ((old: Cred, next: Cred) => Cred) | null;
}

/**
 * `__sys_setresuid()` / `__sys_setresgid()` (`kernel/sys.c`): -1 leaves an id unchanged;
 * `EINVAL` for an id that is not valid; a call that changes nothing returns at once; a new id
 * that is none of the current three needs the capability (`EPERM`). The filesystem id follows
 * the effective one.
 */
const setres = (
  task: CredTask,
  kind: IdKind,
  args: readonly [number, number, number],
): 0 | ErrnoError => {
  const old = task.cred;
  const current = kind.ids.map((key) => old[key]);
  for (const id of args) {
    if (id !== KEEP && !idValid(id))
      return errno("EINVAL", `${kind.call}: ${id} is not a valid id`);
  }
  if (args.every((id, i) => id === KEEP || id === current[i])) return 0;
  if (args.some((id) => !isCurrent(id, current)) && !old.capEffective.has(kind.cap)) {
    return errno(
      "EPERM",
      `${kind.call}: an id that is none of the current ones needs the capability`,
    );
  }
  const ids: Partial<Record<IdKey, number>> = {};
  kind.ids.forEach((key, i) => {
    ids[key] = args[i] === KEEP ? old[key] : args[i];
  });
  ids[kind.fs] = ids[kind.ids[1]];
  const next: Cred = { ...old, ...ids };
  commitCreds(task, kind.fixup ? kind.fixup(old, next) : next);
  return 0;
};

const UIDS: IdKind = {
  call: "setresuid",
  ids: ["uid", "euid", "suid"],
  fs: "fsuid",
  cap: CAP_SETUID,
  fixup: capEmulateSetxuid,
};
const GIDS: IdKind = {
  call: "setresgid",
  ids: ["gid", "egid", "sgid"],
  fs: "fsgid",
  cap: CAP_SETGID,
  fixup: null,
};

/** `__sys_setresuid()` (`kernel/sys.c`). */
export const sysSetresuid = (
  task: CredTask,
  ruid: number,
  euid: number,
  suid: number,
): 0 | ErrnoError => setres(task, UIDS, [ruid, euid, suid]);

/** `__sys_setresgid()` (`kernel/sys.c`). */
export const sysSetresgid = (
  task: CredTask,
  rgid: number,
  egid: number,
  sgid: number,
): 0 | ErrnoError => setres(task, GIDS, [rgid, egid, sgid]);

/** `prctl(PR_GET_DUMPABLE)` / `prctl(PR_SET_DUMPABLE, arg)` (`kernel/sys.c`). */
export const sysPrctl = (task: CredTask, option: number, arg: number): number | ErrnoError => {
  const mm = task.mm;
  if (option === PR_GET_DUMPABLE) return mm ? mm.dumpable : SUID_DUMP_DISABLE;
  if (option !== PR_SET_DUMPABLE) return errno("EINVAL", `prctl: option ${option} is not modelled`);
  if (arg !== 0 && arg !== 1)
    return errno("EINVAL", `prctl: PR_SET_DUMPABLE takes 0 or 1, not ${arg}`);
  if (mm) mm.dumpable = arg;
  return 0;
};
