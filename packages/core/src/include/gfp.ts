/**
 * Allocation flags.
 *
 * Models `include/linux/gfp_types.h` for the bits the page allocator here honours.
 *
 * @module
 */

/** `__GFP_THISNODE`: allocate on the requested node or fail; no fallback to other nodes. */
export const __GFP_THISNODE = 1 << 0;
/** `__GFP_ZERO`: return zeroed memory. */
export const __GFP_ZERO = 1 << 1;
/** `__GFP_COMP`: make a compound page (a large folio) when the order is above 0. */
export const __GFP_COMP = 1 << 2;
/** `__GFP_NOWARN`: do not warn on failure. */
export const __GFP_NOWARN = 1 << 3;
/** `__GFP_MOVABLE`: the allocation can be migrated later. */
export const __GFP_MOVABLE = 1 << 4;
/** `GFP_KERNEL`: an ordinary kernel allocation. */
export const GFP_KERNEL = 0;
/** `GFP_HIGHUSER_MOVABLE`: user memory that may be migrated, as faults and migration allocate. */
export const GFP_HIGHUSER_MOVABLE = __GFP_MOVABLE;
/** `GFP_TRANSHUGE`: a THP allocation. */
export const GFP_TRANSHUGE = __GFP_MOVABLE | __GFP_COMP | __GFP_NOWARN;
