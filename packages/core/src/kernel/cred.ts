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

/** Checks one `set*res*id()` triple: `EINVAL` for a bad id, else whether an id is new. */
const checkTriple = (
  call: string,
  ids: readonly [number, number, number],
  old: readonly number[],
): ErrnoError | boolean => {
  for (const id of ids) {
    if (id !== KEEP && !idValid(id)) return errno("EINVAL", `${call}: ${id} is not a valid id`);
  }
  return ids.some((id) => !isCurrent(id, old));
};

/** `__sys_setresuid()` (`kernel/sys.c`): -1 leaves an id unchanged. */
export const sysSetresuid = (
  task: CredTask,
  ruid: number,
  euid: number,
  suid: number,
): 0 | ErrnoError => {
  const old = task.cred;
  const fresh = checkTriple("setresuid", [ruid, euid, suid], [old.uid, old.euid, old.suid]);
  if (typeof fresh !== "boolean") return fresh;
  if (
    (ruid === KEEP || ruid === old.uid) &&
    (euid === KEEP || euid === old.euid) &&
    (suid === KEEP || suid === old.suid)
  ) {
    return 0;
  }
  if (fresh && !old.capEffective.has(CAP_SETUID)) {
    return errno("EPERM", "setresuid: a new uid needs CAP_SETUID");
  }
  const e = euid === KEEP ? old.euid : euid;
  const next: Cred = {
    ...old,
    uid: ruid === KEEP ? old.uid : ruid,
    euid: e,
    suid: suid === KEEP ? old.suid : suid,
    fsuid: e,
  };
  commitCreds(task, capEmulateSetxuid(old, next));
  return 0;
};

/** `__sys_setresgid()` (`kernel/sys.c`): -1 leaves an id unchanged. */
export const sysSetresgid = (
  task: CredTask,
  rgid: number,
  egid: number,
  sgid: number,
): 0 | ErrnoError => {
  const old = task.cred;
  const fresh = checkTriple("setresgid", [rgid, egid, sgid], [old.gid, old.egid, old.sgid]);
  if (typeof fresh !== "boolean") return fresh;
  if (
    (rgid === KEEP || rgid === old.gid) &&
    (egid === KEEP || egid === old.egid) &&
    (sgid === KEEP || sgid === old.sgid)
  ) {
    return 0;
  }
  if (fresh && !old.capEffective.has(CAP_SETGID)) {
    return errno("EPERM", "setresgid: a new gid needs CAP_SETGID");
  }
  const e = egid === KEEP ? old.egid : egid;
  commitCreds(task, {
    ...old,
    gid: rgid === KEEP ? old.gid : rgid,
    egid: e,
    sgid: sgid === KEEP ? old.sgid : sgid,
    fsgid: e,
  });
  return 0;
};

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
