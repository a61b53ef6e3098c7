/**
 * The size of a user address space on x86-64.
 *
 * Models `TASK_SIZE_MAX` of `arch/x86/include/asm/page_64_types.h` with 4-level paging
 * (`__VIRTUAL_MASK_SHIFT` = 47) and `TASK_SIZE` of `arch/x86/include/asm/processor.h` for a
 * 64-bit task: user mappings lie below it, and `get_unmapped_area()` fails with `ENOMEM` for a
 * length that cannot fit under it.
 *
 * @module
 */

/**
 * `TASK_SIZE_MAX`: `(1 << 47) - PAGE_SIZE`, the top of user space with 4-level paging.
 *
 * @category Address spaces
 */
export const TASK_SIZE_MAX = 0x7fff_ffff_f000;

/**
 * `TASK_SIZE`: the top of a 64-bit task's user address space; no mapping reaches above it.
 *
 * @category Address spaces
 */
export const TASK_SIZE = TASK_SIZE_MAX;
