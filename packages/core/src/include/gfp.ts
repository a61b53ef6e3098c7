/**
 * Allocation flags.
 *
 * Models `include/linux/gfp_types.h` for the bits the page allocator here honours.
 *
 * @module
 */
import { type ErrnoError, errno } from "../errno";
import {
  MIGRATE_MOVABLE,
  MIGRATE_RECLAIMABLE,
  MIGRATE_UNMOVABLE,
  type MigrateType,
} from "./mmzone";

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
 * `__GFP_RECLAIMABLE` (`include/linux/gfp_types.h`): kernel memory that reclaim can free (slab
 * caches marked `SLAB_RECLAIM_ACCOUNT`); it goes to `MIGRATE_RECLAIMABLE` pageblocks.
 *
 * @category Memory and folios
 */
export const __GFP_RECLAIMABLE = 1 << 5;
/**
 * `__GFP_DIRECT_RECLAIM` (`include/linux/gfp_types.h`): the caller may enter direct reclaim and
 * direct compaction (`__alloc_pages_direct_compact()`, `mm/page_alloc.c`) when a high-order
 * allocation fails.
 *
 * @category Memory and folios
 */
export const __GFP_DIRECT_RECLAIM = 1 << 6;
/**
 * `__GFP_KSWAPD_RECLAIM` (`include/linux/gfp_types.h`): wake the node's background reclaim and
 * compaction (`kswapd`, then `wakeup_kcompactd()`) when the allocation fails.
 *
 * @category Memory and folios
 */
export const __GFP_KSWAPD_RECLAIM = 1 << 7;
/**
 * `__GFP_NORETRY` (`include/linux/gfp_types.h`): give up after one light attempt at direct
 * compaction.
 *
 * @category Memory and folios
 */
export const __GFP_NORETRY = 1 << 8;
/**
 * `__GFP_RETRY_MAYFAIL` (`include/linux/gfp_types.h`): try hard (direct compaction at every
 * priority) but fail rather than loop; what the hugetlb pool and soft offline ask with.
 *
 * @category Memory and folios
 */
export const __GFP_RETRY_MAYFAIL = 1 << 9;
/**
 * `__GFP_HIGH` (`include/linux/gfp_types.h`): a high-priority allocation that may dip into half
 * of the min watermark's reserve (`ALLOC_MIN_RESERVE` in `gfp_to_alloc_flags()`,
 * `mm/page_alloc.c`); part of `GFP_ATOMIC`.
 *
 * @category Memory and folios
 */
export const __GFP_HIGH = 1 << 10;
/**
 * `__GFP_MEMALLOC` (`include/linux/gfp_types.h`): the allocation may take every free page,
 * ignoring the watermarks (`ALLOC_NO_WATERMARKS` from `__gfp_pfmemalloc_flags()`,
 * `mm/page_alloc.c`), as a task with `PF_MEMALLOC` may; for allocations that free memory.
 *
 * @category Memory and folios
 */
export const __GFP_MEMALLOC = 1 << 11;
/**
 * `__GFP_NOMEMALLOC` (`include/linux/gfp_types.h`): no access to the reserves below the
 * watermarks. It wins over `__GFP_MEMALLOC` and `PF_MEMALLOC` (`__gfp_pfmemalloc_flags()`), and
 * keeps a non-blocking allocation from the extra quarter `ALLOC_NON_BLOCK` gives
 * (`gfp_to_alloc_flags()`, `mm/page_alloc.c`).
 *
 * @category Memory and folios
 */
export const __GFP_NOMEMALLOC = 1 << 12;
/**
 * `__GFP_RECLAIM` (`include/linux/gfp_types.h`): direct and background reclaim both.
 *
 * @category Memory and folios
 */
export const __GFP_RECLAIM = __GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM;
/**
 * `__GFP_BITS_MASK` (`include/linux/gfp_types.h`): every GFP flag the model knows; a mask with
 * other bits set is refused (`EINVAL`), where Linux warns about the bits it does not expect.
 *
 * @category Memory and folios
 */
export const __GFP_BITS_MASK = (1 << 13) - 1;
/**
 * Whether `gfp` is a mask of the flags {@link __GFP_BITS_MASK} covers: `EINVAL` (saying so) for
 * anything else, a negative number, a fraction, or a number with bits above the 32 JavaScript's
 * bitwise operators see (2^40 would otherwise read as 0). What the model's allocation entry
 * points check their flags with.
 *
 * @category Memory and folios
 */
export const checkGfpMask = (gfp: number): ErrnoError | null =>
  Number.isInteger(gfp) && gfp >= 0 && gfp <= __GFP_BITS_MASK && (gfp & ~__GFP_BITS_MASK) === 0
    ? null
    : errno("EINVAL", `gfp mask ${gfp} has bits outside __GFP_BITS_MASK`);
/**
 * `GFP_KERNEL` (`include/linux/gfp_types.h`): an ordinary kernel allocation: unmovable, and it
 * may reclaim and compact.
 *
 * @category Memory and folios
 */
export const GFP_KERNEL = __GFP_RECLAIM;
/**
 * `GFP_ATOMIC` (`include/linux/gfp_types.h`, Linux 6.16): an allocation that cannot sleep and must
 * not fail lightly: `__GFP_HIGH | __GFP_KSWAPD_RECLAIM`. Without `__GFP_DIRECT_RECLAIM` it is
 * non-blocking, so the slow path lets it go down to 37.5% of the min watermark (half for
 * `__GFP_HIGH`, a quarter of the rest for `ALLOC_NON_BLOCK`, `__zone_watermark_ok()`).
 *
 * @category Memory and folios
 */
export const GFP_ATOMIC = __GFP_HIGH | __GFP_KSWAPD_RECLAIM;
/**
 * `GFP_NOWAIT` (`include/linux/gfp_types.h`, Linux 6.16): an allocation that cannot sleep but
 * wakes kswapd: `__GFP_KSWAPD_RECLAIM`. It is non-blocking (`ALLOC_NON_BLOCK`), but without
 * `__GFP_HIGH` that gives it none of the min watermark's reserve.
 *
 * @category Memory and folios
 */
export const GFP_NOWAIT = __GFP_KSWAPD_RECLAIM;
/**
 * `GFP_KERNEL_ACCOUNT`'s reclaimable sibling as slab caches of dentries and inodes allocate
 * (`GFP_KERNEL | __GFP_RECLAIMABLE`, `mm/slab.h`'s `kmalloc_reclaimable`): kernel memory in
 * `MIGRATE_RECLAIMABLE` pageblocks.
 *
 * @category Memory and folios
 */
export const GFP_KERNEL_RECLAIMABLE = GFP_KERNEL | __GFP_RECLAIMABLE;
/**
 * `GFP_HIGHUSER_MOVABLE` (`include/linux/gfp_types.h`): user memory that may be migrated, as faults
 * and migration allocate.
 *
 * @category Memory and folios
 */
export const GFP_HIGHUSER_MOVABLE = __GFP_MOVABLE | __GFP_RECLAIM;
/**
 * `GFP_USER` (`include/linux/gfp_types.h`): user memory the kernel needs to reach, allocated with
 * reclaim; unmovable unless `__GFP_MOVABLE` is added, as soft offline's migration target adds it.
 *
 * @category Memory and folios
 */
export const GFP_USER = __GFP_RECLAIM;
/**
 * `GFP_TRANSHUGE_LIGHT` (`include/linux/gfp_types.h`): a THP allocation that neither reclaims nor
 * compacts, and takes no emergency reserves (`__GFP_NOMEMALLOC`, so not even a `PF_MEMALLOC`
 * task's); what a fault in a VMA without `MADV_HUGEPAGE` asks for under the default `defrag`
 * setting, `madvise` (`vma_thp_gfp_mask()`, `mm/huge_memory.c`).
 *
 * @category Memory and folios
 */
export const GFP_TRANSHUGE_LIGHT = __GFP_MOVABLE | __GFP_COMP | __GFP_NOMEMALLOC | __GFP_NOWARN;
/**
 * `GFP_TRANSHUGE` (`include/linux/gfp_types.h`): a THP allocation that may compact directly; a
 * fault in a `MADV_HUGEPAGE` VMA asks for it under `defrag=madvise`.
 *
 * @category Memory and folios
 */
export const GFP_TRANSHUGE = GFP_TRANSHUGE_LIGHT | __GFP_DIRECT_RECLAIM;

/**
 * `gfp_migratetype()` (`include/linux/gfp.h`): the pageblock type an allocation asks for:
 * `MIGRATE_MOVABLE` for `__GFP_MOVABLE`, `MIGRATE_RECLAIMABLE` for `__GFP_RECLAIMABLE`,
 * `MIGRATE_UNMOVABLE` otherwise.
 *
 * @category Memory and folios
 */
export const gfpMigratetype = (gfp: number): MigrateType =>
  gfp & __GFP_MOVABLE
    ? MIGRATE_MOVABLE
    : gfp & __GFP_RECLAIMABLE
      ? MIGRATE_RECLAIMABLE
      : MIGRATE_UNMOVABLE;
