/**
 * Page and folio flags, one bit each in `struct page`'s flags word.
 *
 * Models `include/linux/page-flags.h` (the `PG_*` bits and the page types `PG_buddy`,
 * `PG_hugetlb`) for the flags migration needs. `FOLIO_CONTENT_COPIED` is the per-folio marker of
 * the copy-offload series: set on a destination folio right after its content was copied.
 *
 * @module
 */

/**
 * `PG_locked` (`include/linux/page-flags.h`): the folio is locked (`folio_lock()`,
 * `include/linux/pagemap.h`).
 *
 * @category Page flags
 */
export const PG_locked = 1 << 0;
/**
 * `PG_referenced` (`include/linux/page-flags.h`): the folio was accessed recently.
 *
 * @category Page flags
 */
export const PG_referenced = 1 << 1;
/**
 * `PG_uptodate` (`include/linux/page-flags.h`): the folio's content is valid.
 *
 * @category Page flags
 */
export const PG_uptodate = 1 << 2;
/**
 * `PG_dirty` (`include/linux/page-flags.h`): the folio differs from its backing store.
 *
 * @category Page flags
 */
export const PG_dirty = 1 << 3;
/** `PG_lru` (`include/linux/page-flags.h`): the folio is on an LRU list. @category Page flags */
export const PG_lru = 1 << 4;
/**
 * `PG_head` (`include/linux/page-flags.h`): the first page of a large folio (`folio_test_large()`).
 *
 * @category Page flags
 */
export const PG_head = 1 << 5;
/**
 * `PG_writeback` (`include/linux/page-flags.h`): the folio is being written back.
 *
 * @category Page flags
 */
export const PG_writeback = 1 << 6;
/**
 * `PG_mlocked` (`include/linux/page-flags.h`): the folio is mlocked (`VM_LOCKED`).
 *
 * @category Page flags
 */
export const PG_mlocked = 1 << 7;
/**
 * `PG_hwpoison` (`include/linux/page-flags.h`): this page has a hardware memory error.
 *
 * @category Page flags
 */
export const PG_hwpoison = 1 << 8;
/**
 * `MAGIC_HWPOISON` (`include/linux/page-flags.h`): the `page->private` of a poisoned page taken
 * out of the buddy allocator for good (`SetPageHWPoisonTakenOff()`), so that `unpoison_memory()`
 * knows to give it back (`put_page_back_buddy()`). "HWPS" in ASCII.
 *
 * @category Page flags
 */
export const MAGIC_HWPOISON = 0x48575053;
/**
 * `PG_reserved` (`include/linux/page-flags.h`): never allocated or freed, such as the shared zero
 * page.
 *
 * @category Page flags
 */
export const PG_reserved = 1 << 9;
/**
 * `PG_swapbacked` (`include/linux/page-flags.h`): anonymous or shmem memory.
 *
 * @category Page flags
 */
export const PG_swapbacked = 1 << 10;
/**
 * `PG_private` (`include/linux/page-flags.h`): the folio has filesystem private data
 * (`folio_get_private()`).
 *
 * @category Page flags
 */
export const PG_private = 1 << 11;
/**
 * `PG_movable_ops` (`include/linux/page-flags.h`, `PageMovableOps()`; Linux 6.17 and later): a
 * non-LRU page migrated through the `movable_operations` of its page type. Set by the owner
 * (`SetPageMovableOps()`, as `balloon_page_insert()` does), never cleared by it: it stays until
 * the page is freed. `page_has_movable_ops()` needs it together with a page type that has
 * movable_ops ({@link PG_offline}). Linux aliases it to `PG_uptodate`; the model gives it its own
 * bit. Before 6.17 the same fact was `PAGE_MAPPING_MOVABLE` in `page->mapping`
 * (`__PageMovable()`).
 *
 * @category Page flags
 */
export const PG_movable_ops = 1 << 12;
/**
 * The `PGTY_hugetlb` page type (`include/linux/page-flags.h`): a hugetlbfs folio.
 *
 * @category Page flags
 */
export const PG_hugetlb = 1 << 13;
/**
 * The `PGTY_buddy` page type (`include/linux/page-flags.h`): the first page of a free block in the
 * buddy allocator.
 *
 * @category Page flags
 */
export const PG_buddy = 1 << 14;
/**
 * `FOLIO_CONTENT_COPIED` (the v6 series, `include/linux/migrate_copy_offload.h`; v4's
 * `PAGE_ALREADY_COPIED` in `mm/migrate.c`): the destination's content was already copied (the
 * offload marker). The series keeps it in the destination's migration state beside
 * `PAGE_WAS_MAPPED` and `PAGE_WAS_MLOCKED`; the model keeps it in the flags word.
 *
 * @category Page flags
 */
export const FOLIO_CONTENT_COPIED = 1 << 15;
/**
 * `PG_has_hwpoisoned` (`include/linux/page-flags.h`): some page of this large folio is hwpoisoned
 * (kept on the head).
 *
 * @category Page flags
 */
export const PG_has_hwpoisoned = 1 << 16;

/**
 * `HPG_migratable` (`include/linux/hugetlb.h`): a hugetlb folio on the active list that may be
 * isolated for migration.
 *
 * @category Page flags
 */
export const PG_hugetlb_migratable = 1 << 17;

/**
 * The `PGTY_offline` page type (`include/linux/page-flags.h`, `PageOffline()`): a page the kernel
 * gave away, such as a page inflated in a memory balloon (`balloon_page_insert()`, `mm/balloon.c`).
 * With {@link PG_movable_ops} it is migrated through the movable_ops registered for the type
 * (`set_movable_ops(&balloon_mops, PGTY_offline)`). Cleared when the page is freed.
 *
 * @category Page flags
 */
export const PG_offline = 1 << 18;

/**
 * `PG_movable_ops_isolated` (`include/linux/page-flags.h`, `PageMovableOpsIsolated()`; Linux 6.17
 * and later, `PG_isolated` before): a movable_ops page isolated for migration. Owned by the
 * migration core: `isolate_movable_ops_page()` sets it, `putback_movable_ops_page()` and a
 * successful `migrate_movable_ops_page()` clear it (`mm/migrate.c`). Linux aliases it to
 * `PG_reclaim`; the model gives it its own bit.
 *
 * @category Page flags
 */
export const PG_movable_ops_isolated = 1 << 19;

/**
 * `PG_active` (`include/linux/page-flags.h`): the folio is on an active LRU list
 * (`LRU_ACTIVE_ANON` or `LRU_ACTIVE_FILE`). Reclaim sets it on a folio found referenced
 * (`pgactivate`) and clears it when aging moves the folio to the inactive list (`pgdeactivate`);
 * migration carries it to the new folio (`folio_migrate_flags()`). Cleared when the folio is freed.
 *
 * @category Page flags
 */
export const PG_active = 1 << 20;
/**
 * `PG_unevictable` (`include/linux/page-flags.h`): the folio is on (or, isolated, belongs to) the
 * unevictable LRU list (`LRU_UNEVICTABLE`). Set when an mlocked folio is put on the LRU
 * (`lru_add()`, `mm/swap.c`) or moved there (`__mlock_folio()`, `mm/mlock.c`), cleared when it
 * is rescued (`__munlock_folio()`) or freed; migration carries it to the new folio
 * (`folio_migrate_flags()`).
 *
 * @category Page flags
 */
export const PG_unevictable = 1 << 21;

/**
 * `PG_reclaim` (`include/linux/page-flags.h`): reclaim wants the folio freed as soon as its
 * writeback ends. `shrink_folio_list()` (`mm/vmscan.c`) sets it on a folio it met under writeback
 * or dirty and put back active (reclaim writes no file folio in Linux 6.16: the flusher does);
 * `folio_end_writeback()` (`mm/filemap.c`) clears it and moves the folio to the tail of its
 * inactive list (`folio_rotate_reclaimable()`, `mm/swap.c`), where reclaim looks next. The same
 * bit is {@link PG_readahead}, as in Linux.
 *
 * @category Page flags
 */
export const PG_reclaim = 1 << 22;

/**
 * `PG_readahead` (`include/linux/page-flags.h`, Linux 6.16): the same bit as {@link PG_reclaim}
 * (a folio read ahead is clean and not under writeback, where `PG_reclaim` means something).
 * Readahead sets it on the first folio of a window's asynchronous part
 * (`page_cache_ra_unbounded()`, `mm/readahead.c`); a fault that finds it starts the next
 * readahead (`do_async_mmap_readahead()`, `mm/filemap.c`), which clears it, and fault-around
 * leaves such a folio unmapped so that the fault comes (`next_uptodate_folio()`). Migration
 * carries it to the new folio (`folio_migrate_flags()`).
 *
 * @category Page flags
 */
export const PG_readahead = PG_reclaim;

/**
 * `PG_partially_mapped` (`include/linux/page-flags.h`, Linux 6.12+, on the folio's second page;
 * the model keeps it on the head): an anonymous large folio on the deferred split queue that is
 * partially mapped, queued by `deferred_split_folio(folio, true)`. A folio queued at fault
 * (`deferred_split_folio(folio, false)`) is queued without it, for the underused-THP split. Cleared
 * when the folio leaves the queue (split, freed).
 *
 * @category Page flags
 */
export const PG_partially_mapped = 1 << 23;

/**
 * Flag names by bit, for dumps (`%pGp`): `pageflag_names` (`mm/debug.c`), built from
 * `__def_pageflag_names` (`include/trace/events/mmflags.h`).
 *
 * @category Page flags
 */
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
  [PG_offline, "offline"],
  [PG_movable_ops_isolated, "movable_ops_isolated"],
  [PG_active, "active"],
  [PG_unevictable, "unevictable"],
  [PG_reclaim, "reclaim"],
  [PG_partially_mapped, "partially_mapped"],
];

/**
 * Formats a flags word the way `%pGp` does (`flags_string()`, `lib/vsprintf.c`):
 * `"uptodate|dirty|lru"`.
 *
 * @category Page flags
 */
export const formatPageFlags = (flags: number): string =>
  PAGE_FLAG_NAMES.filter(([bit]) => flags & bit)
    .map(([, name]) => name)
    .join("|");
