/**
 * Task credentials.
 *
 * Models `struct cred` (`include/linux/cred.h`): the real, effective, saved and filesystem user and
 * group ids and the permitted and effective capability sets, as `kernel/sys.c` changes them and
 * `kernel/ptrace.c` and `capable()` read them. One user namespace: every id is a `kuid_t` of the
 * initial namespace. Supplementary groups, securebits and the ambient and inheritable sets are not
 * modelled.
 *
 * @module
 */

/**
 * A task's credentials: `struct cred` (`include/linux/cred.h`). Immutable, as the kernel's are
 * once committed; a change builds a new one (`prepare_creds()` / `commit_creds()`,
 * `kernel/cred.c`).
 *
 * @category Processes
 */
export interface Cred {
  /** Real user id (`cred->uid`). */
  readonly uid: number;
  /** Real group id (`cred->gid`). */
  readonly gid: number;
  /** Saved set-user-id (`cred->suid`). */
  readonly suid: number;
  /** Saved set-group-id (`cred->sgid`). */
  readonly sgid: number;
  /** Effective user id (`cred->euid`). */
  readonly euid: number;
  /** Effective group id (`cred->egid`). */
  readonly egid: number;
  /** Filesystem user id (`cred->fsuid`): follows `euid` through every `set*uid()`. */
  readonly fsuid: number;
  /** Filesystem group id (`cred->fsgid`): follows `egid`. */
  readonly fsgid: number;
  /** Permitted capabilities (`cred->cap_permitted`), `CAP_*` numbers. */
  readonly capPermitted: ReadonlySet<number>;
  /** Effective capabilities (`cred->cap_effective`): what `capable()` checks. */
  readonly capEffective: ReadonlySet<number>;
}

/** The largest valid id: `(uid_t)-1` is "no change" and never a valid id (`uid_valid()`). */
export const ID_MAX = 0xffff_fffe;

/** `uid_valid()` / `gid_valid()` (`include/linux/uidgid.h`) of a number from user space. */
export const idValid = (id: number): boolean => Number.isInteger(id) && id >= 0 && id <= ID_MAX;
