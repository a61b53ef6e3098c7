/**
 * Allocation flags.
 *
 * Models `include/linux/gfp_types.h` for the bits the page allocator here honours.
 *
 * @module
 */

/**
 * `__GFP_THISNODE` (`include/linux/gfp_types.h`): allocate on the requested node or fail; no
 * fallback to other nodes.
 *
 * @category Memory and folios
 */
export const __GFP_THISNODE = 1 << 0;
/** `__GFP_ZERO` (`include/linux/gfp_types.h`): return zeroed memory. @category Memory and folios */
export const __GFP_ZERO = 1 << 1;
/**
 * `__GFP_COMP` (`include/linux/gfp_types.h`): make a compound page (a large folio) when the order
 * is above 0.
 *
 * @category Memory and folios
 */
export const __GFP_COMP = 1 << 2;
/**
 * `__GFP_NOWARN` (`include/linux/gfp_types.h`): do not warn on failure.
 *
 * @category Memory and folios
 */
export const __GFP_NOWARN = 1 << 3;
/**
 * `__GFP_MOVABLE` (`include/linux/gfp_types.h`): the allocation can be migrated later.
 *
 * @category Memory and folios
 */
export const __GFP_MOVABLE = 1 << 4;
/**
 * `GFP_KERNEL` (`include/linux/gfp_types.h`): an ordinary kernel allocation.
 *
 * @category Memory and folios
 */
export const GFP_KERNEL = 0;
/**
 * `GFP_HIGHUSER_MOVABLE` (`include/linux/gfp_types.h`): user memory that may be migrated, as faults
 * and migration allocate.
 *
 * @category Memory and folios
 */
export const GFP_HIGHUSER_MOVABLE = __GFP_MOVABLE;
/** `GFP_TRANSHUGE` (`include/linux/gfp_types.h`): a THP allocation. @category Memory and folios */
export const GFP_TRANSHUGE = __GFP_MOVABLE | __GFP_COMP | __GFP_NOWARN;
