/**
 * Capabilities.
 *
 * Models the `CAP_*` numbers of `include/uapi/linux/capability.h` that the memory system calls
 * check, with `capable()` (`kernel/capability.c`) on the task.
 *
 * @module
 */

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
