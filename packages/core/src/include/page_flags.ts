/**
 * Page and folio flags, one bit each in `struct page`'s flags word.
 *
 * Models `include/linux/page-flags.h` (the `PG_*` bits and the page types `PG_buddy`,
 * `PG_hugetlb`) for the flags migration needs. `FOLIO_CONTENT_COPIED` is the per-folio marker of
 * the copy-offload series: set on a destination folio right after its content was copied.
 *
 * @module
 */

/** `PG_locked`: the folio is locked (`folio_lock`). */
export const PG_locked = 1 << 0;
/** `PG_referenced`. */
export const PG_referenced = 1 << 1;
/** `PG_uptodate`: the folio's content is valid. */
export const PG_uptodate = 1 << 2;
/** `PG_dirty`: the folio differs from its backing store. */
export const PG_dirty = 1 << 3;
/** `PG_lru`: the folio is on an LRU list. */
export const PG_lru = 1 << 4;
/** `PG_head`: the first page of a large folio (`folio_test_large`). */
export const PG_head = 1 << 5;
/** `PG_writeback`: the folio is being written back. */
export const PG_writeback = 1 << 6;
/** `PG_mlocked`: the folio is mlocked (`VM_LOCKED`). */
export const PG_mlocked = 1 << 7;
/** `PG_hwpoison`: this page has a hardware memory error. */
export const PG_hwpoison = 1 << 8;
/** `PG_reserved`: never allocated or freed, such as the shared zero page. */
export const PG_reserved = 1 << 9;
/** `PG_swapbacked`: anonymous or shmem memory. */
export const PG_swapbacked = 1 << 10;
/** `PG_private`: the folio has filesystem private data (`folio_get_private`). */
export const PG_private = 1 << 11;
/** `PG_movable_ops`: a non-LRU page migrated through `movable_operations` (zsmalloc, balloon). */
export const PG_movable_ops = 1 << 12;
/** The `PGTY_hugetlb` page type: a hugetlbfs folio. */
export const PG_hugetlb = 1 << 13;
/** The `PGTY_buddy` page type: the first page of a free block in the buddy allocator. */
export const PG_buddy = 1 << 14;
/** `FOLIO_CONTENT_COPIED`: the destination's content was already copied (the offload marker). */
export const FOLIO_CONTENT_COPIED = 1 << 15;
/** `PG_has_hwpoisoned`: some page of this large folio is hwpoisoned (kept on the head). */
export const PG_has_hwpoisoned = 1 << 16;

/** `HPG_migratable`: a hugetlb folio on the active list that may be isolated for migration. */
export const PG_hugetlb_migratable = 1 << 17;

/** Flag names by bit, for dumps (`%pGp`). */
export const PAGE_FLAG_NAMES: ReadonlyArray<readonly [number, string]> = [
  [PG_locked, "locked"],
  [PG_referenced, "referenced"],
  [PG_uptodate, "uptodate"],
  [PG_dirty, "dirty"],
  [PG_lru, "lru"],
  [PG_head, "head"],
  [PG_writeback, "writeback"],
  [PG_mlocked, "mlocked"],
  [PG_hwpoison, "hwpoison"],
  [PG_reserved, "reserved"],
  [PG_swapbacked, "swapbacked"],
  [PG_private, "private"],
  [PG_movable_ops, "movable_ops"],
  [PG_hugetlb, "hugetlb"],
  [PG_buddy, "buddy"],
  [FOLIO_CONTENT_COPIED, "content_copied"],
  [PG_has_hwpoisoned, "has_hwpoisoned"],
  [PG_hugetlb_migratable, "hugetlb_migratable"],
];

/** Formats a flags word the way `%pGp` does: `"uptodate|dirty|lru"`. */
export const formatPageFlags = (flags: number): string =>
  PAGE_FLAG_NAMES.filter(([bit]) => flags & bit)
    .map(([, name]) => name)
    .join("|");
