/**
 * Resource limits.
 *
 * Models the parts of `include/uapi/linux/resource.h` and `include/asm-generic/resource.h` that the
 * memory system calls read: `RLIMIT_MEMLOCK` (`signal->rlim[RLIMIT_MEMLOCK].rlim_cur`, here
 * `TaskStruct.rlimitMemlock`), its default {@link MLOCK_LIMIT} and {@link RLIM_INFINITY}. The
 * model has no `setrlimit()`: a task gets its limit when it is made (`TaskOptions.rlimitMemlock`)
 * and `fork()` copies it.
 *
 * @module
 */

/**
 * `MLOCK_LIMIT` (`include/uapi/linux/resource.h`, Linux 5.16+): the default `RLIMIT_MEMLOCK` of
 * every task, 8 MiB, in bytes (`INIT_RLIMITS`, `include/asm-generic/resource.h`). A task without
 * `CAP_IPC_LOCK` may have this many bytes of `VM_LOCKED` mappings (`mm->locked_vm`).
 *
 * @category Processes
 */
export const MLOCK_LIMIT = 8 * 2 ** 20;

/**
 * `RLIM_INFINITY` (`include/uapi/asm-generic/resource.h`): no limit. The kernel's `~0UL` is
 * `Infinity` here, so every byte count is below it.
 *
 * @category Processes
 */
export const RLIM_INFINITY = Number.POSITIVE_INFINITY;
