/**
 * The hugetlb pool as the rest of the kernel sees it.
 *
 * Models `struct hstate` and `struct resv_map` of `include/linux/hugetlb.h`: the counters of one
 * huge page size, its per-node free lists, and the reservation map of a hugetlb mapping.
 * The pool's behaviour is `mm/hugetlb.ts`.
 *
 * @module
 */
import type { FolioList } from "../lib/list";
import type { AllocContext, AllocRequest } from "./mmzone";

/**
 * One huge page size and its pool. Models `struct hstate` (`include/linux/hugetlb.h`) with the
 * calls `folio_put()`, `migrate_pages()` and `alloc_contig_range()` make on it
 * (`free_huge_folio()`, `move_hugetlb_state()`, `isolate_or_dissolve_huge_folio()`, all
 * `mm/hugetlb.c`). Counts are in huge pages.
 *
 * @category Hugetlb
 */
export interface Hstate {
  /** `huge_page_order()`: the order of a huge page in base pages. */
  readonly order: number;
  /** `huge_page_size()`: the bytes of one huge page. */
  readonly size: number;
  /** The directory name under `/sys/kernel/mm/hugepages/` (`hugepages-2048kB`). */
  readonly name: string;
  /** `nr_huge_pages`: huge pages in the pool, free and in use, surplus included. */
  readonly nrHugePages: number;
  /** `free_huge_pages`: huge pages on the free lists. */
  readonly freeHugePages: number;
  /**
   * `resv_huge_pages`: free huge pages promised to mappings that have not faulted them yet. An
   * unsigned long in Linux, it goes below 0 (shown wrapped, as 2^64 - n) while a private owner
   * that gave a page's reservation back to its map ({@link Hstate.restoreReserve}) has returned
   * that reservation at `munmap()`, or consumed it by faulting the page again, and a forked child
   * still maps the old page.
   */
  readonly resvHugePages: number;
  /**
   * The head PFNs of the folios in use marked `HPG_restore_reserve` (`mm/hugetlb.c`): a private
   * owner's zap gave their reservation back to its map, and their free will add it to
   * `resv_huge_pages`.
   */
  readonly restoreReserve: ReadonlySet<number>;
  /** `surplus_huge_pages`: huge pages above the persistent pool, allocated under overcommit. */
  readonly surplusHugePages: number;
  /** `nr_overcommit_huge_pages`: how many surplus huge pages may exist at once. */
  readonly nrOvercommitHugePages: number;
  /** `nr_huge_pages_node[]`, by node id. */
  readonly nrHugePagesNode: readonly number[];
  /** `free_huge_pages_node[]`, by node id. */
  readonly freeHugePagesNode: readonly number[];
  /** `surplus_huge_pages_node[]`, by node id. */
  readonly surplusHugePagesNode: readonly number[];
  /** `hugepage_freelists[]`: the free huge pages of each node, linked through `folio->lru`. */
  readonly hugepageFreelists: readonly FolioList[];
  /**
   * `free_huge_folio()` (`mm/hugetlb.c`): a hugetlb folio's last reference is gone. A temporary
   * or surplus folio, or one with a poisoned page, leaves the pool for the buddy allocator; any
   * other goes back on its node's free list. A folio whose reservation a zap restored
   * (`HPG_restore_reserve`) first gives it back to `resv_huge_pages`.
   */
  freeHugeFolio(head: number): void;
  /**
   * `move_hugetlb_state()` (`mm/hugetlb.c`): after a successful migration of `src` to `dst`, a
   * temporary destination becomes a pool page and the source, about to be freed, becomes the
   * temporary one; a surplus count moves with it across nodes.
   */
  moveHugetlbState(src: number, dst: number): void;
  /**
   * `isolate_or_dissolve_huge_folio()` (`mm/hugetlb.c`), as `alloc_contig_range()`'s scan calls
   * it for the hugetlb folio at head PFN `head`: one in use is isolated onto `list` for migration
   * (`folio_isolate_hugetlb()`), a free one is replaced by a fresh huge page of its node and
   * dissolved into free base pages (`alloc_and_dissolve_hugetlb_folio()`), the pool's counts
   * unchanged. 0 when done (or `head` is no longer hugetlb), `-EBUSY` when an in-use folio cannot
   * be isolated, `-ENOMEM` for a gigantic folio or when no replacement can be allocated. The
   * replacement is allocated in `current` (the task clearing the range; null for a kernel thread
   * of the folio's node). With `rep`, the replacement's allocation is whole: null when its first
   * tries failed and its slow path must run first (see {@link HugetlbReplacement}); without it,
   * only the first tries.
   */
  isolateOrDissolveHugeFolio(
    head: number,
    list: FolioList,
    current?: AllocContext | null,
    rep?: HugetlbReplacement,
  ): number | null;
  /**
   * `alloc_and_dissolve_hugetlb_folio()` (`mm/hugetlb.c`): see
   * {@link Hstate.isolateOrDissolveHugeFolio}; a free folio is replaced and dissolved, one in use
   * is isolated onto `list`.
   */
  allocAndDissolveHugetlbFolio(
    head: number,
    list: FolioList,
    current?: AllocContext | null,
    rep?: HugetlbReplacement,
  ): number | null;
}

/**
 * The replacement huge page `alloc_and_dissolve_hugetlb_folio()` (`mm/hugetlb.c`, Linux 6.16)
 * allocates for a free hugetlb folio of a range `alloc_contig_range()` clears, while its caller's
 * scan waits: `alloc_buddy_hugetlb_folio()` with `htlb_alloc_mask() | __GFP_THISNODE |
 * __GFP_RETRY_MAYFAIL` on the folio's node, whose slow path reclaims and compacts there. The scan
 * is synchronous, so when the first tries fail the call fills in `request`, records `folio` and
 * gives null; the scan stops there, its caller runs `request` through `allocPagesSlowpath()`,
 * puts the page it got in `page` (-1 when none) and resumes the scan at the same place, whose
 * call for `folio` takes `page` (or fails with `-ENOMEM`) without trying again. A page the
 * resumed call does not take (the folio was freed or taken meanwhile) goes back to the buddy
 * allocator, as Linux's `free_new` path.
 *
 * @category Hugetlb
 */
export interface HugetlbReplacement {
  /** The allocation whose slow path must run, or null when none is wanted. */
  request: AllocRequest | null;
  /** The head PFN of the free hugetlb folio the allocation is for, or -1. */
  folio: number;
  /** The block the slow path got for `folio` (one reference), or -1. */
  page: number;
}

/**
 * The reservations of a hugetlb mapping. Models `struct resv_map` (`include/linux/hugetlb.h`),
 * by huge page index (`vma_hugecache_offset()`, file offset in huge pages). A private mapping's
 * owner keeps one in its VMA: the indices reserved at `mmap()` and not yet consumed by a fault
 * (the VMAs a split makes share it, as they share the kernel's). A shared mapping's is its
 * inode's region map: every index some mapping reserved, faulted or not (`region_chg()`,
 * `region_add()`), until the inode goes (`hugetlb_unreserve_pages()`).
 *
 * @category Hugetlb
 */
export class HugetlbResvMap {
  /** The indices: reserved and not yet faulted (private), or reserved (shared). */
  readonly reserved = new Set<number>();
}
