/**
 * Capabilities.
 *
 * Models the `CAP_*` numbers of `include/uapi/linux/capability.h` that the memory system calls
 * check, with `capable()` (`kernel/capability.c`) on the task.
 *
 * @module
 */

/**
 * `CAP_DAC_OVERRIDE` (`include/uapi/linux/capability.h`): read or write any file whatever its
 * mode bits (`generic_permission()`, `fs/namei.c`).
 *
 * @category Processes
 */
export const CAP_DAC_OVERRIDE = 1;
/**
 * `CAP_DAC_READ_SEARCH` (`include/uapi/linux/capability.h`): read any file whatever its mode bits
 * (`generic_permission()`, `fs/namei.c`).
 *
 * @category Processes
 */
export const CAP_DAC_READ_SEARCH = 2;
/**
 * `CAP_SETGID` (`include/uapi/linux/capability.h`): set any group id.
 *
 * @category Processes
 */
export const CAP_SETGID = 6;
/**
 * `CAP_SETUID` (`include/uapi/linux/capability.h`): set any user id.
 *
 * @category Processes
 */
export const CAP_SETUID = 7;
/**
 * `CAP_IPC_LOCK` (`include/uapi/linux/capability.h`): lock memory past `RLIMIT_MEMLOCK`
 * (`can_do_mlock()`, `do_mlock()`, `mm/mlock.c`; `mlock_future_ok()`, `mm/mmap.c`).
 *
 * @category Processes
 */
export const CAP_IPC_LOCK = 14;
/**
 * `CAP_SYS_RAWIO` (`include/uapi/linux/capability.h`): needed to map below `mmap_min_addr`
 * (`cap_mmap_addr()`, `security/commoncap.c`).
 *
 * @category Processes
 */
export const CAP_SYS_RAWIO = 17;
/** `CAP_SYS_PTRACE` (`include/uapi/linux/capability.h`). @category Processes */
export const CAP_SYS_PTRACE = 19;
/** `CAP_SYS_ADMIN` (`include/uapi/linux/capability.h`). @category Processes */
export const CAP_SYS_ADMIN = 21;
/**
 * `CAP_SYS_NICE` (`include/uapi/linux/capability.h`): needed for `MPOL_MF_MOVE_ALL`.
 *
 * @category Processes
 */
export const CAP_SYS_NICE = 23;
/**
 * `CAP_SYS_RESOURCE` (`include/uapi/linux/capability.h`): needed to set a process's
 * `oom_score_adj` below its `oom_score_adj_min` (`__set_oom_adj()`, `fs/proc/base.c`).
 *
 * @category Processes
 */
export const CAP_SYS_RESOURCE = 24;
/**
 * `CAP_LAST_CAP` (`include/uapi/linux/capability.h`): the highest capability number,
 * `CAP_CHECKPOINT_RESTORE`.
 *
 * @category Processes
 */
export const CAP_LAST_CAP = 40;
/**
 * `CAP_FULL_SET` (`include/linux/capability.h`): every capability, what a process running as root
 * holds after `execve()` (`cap_bprm_creds_from_file()`, `security/commoncap.c`) unless securebits
 * say otherwise.
 *
 * @category Processes
 */
export const CAP_FULL_SET: readonly number[] = Array.from(
  { length: CAP_LAST_CAP + 1 },
  (_, i) => i,
);
