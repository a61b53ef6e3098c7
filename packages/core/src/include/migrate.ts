/**
 * What a caller of page migration passes and gets back.
 *
 * Models `include/linux/migrate.h`: the allocation callbacks (`new_folio_t`, `free_folio_t`),
 * `struct migrate_pages_stats` of `mm/migrate.c`, and the results of `migrate_pages()` and
 * `move_pages(2)`, and `struct movable_operations`. The migration itself is `mm/migrate.ts`.
 *
 * @module
 */
import type { Effect } from "effect";
import type { ErrnoError } from "../errno";
import type { MigrateMode } from "./migrate_mode";

/**
 * `struct migrate_pages_stats` (`mm/migrate.c`): counts of one `migrate_pages()` call.
 *
 * @category Page migration
 */
export interface MigratePagesStats {
  /** Base pages migrated (`nr_succeeded`). */
  nrSucceeded: number;
  /** Base pages that failed (`nr_failed_pages`); folios never tried are not counted. */
  nrFailedPages: number;
  /** PMD-sized THPs migrated (`nr_thp_succeeded`). */
  nrThpSucceeded: number;
  /** PMD-sized THPs that failed (`nr_thp_failed`). */
  nrThpFailed: number;
  /** PMD-sized THPs split to be migrated page by page (`nr_thp_split`). */
  nrThpSplit: number;
  /** Large folios of any size split (`nr_split`). */
  nrSplit: number;
}

/**
 * A `migrate_pages_stats` of zeros, as `migrate_pages()` (`mm/migrate.c`) starts one with
 * `memset(&stats, 0, sizeof(stats))`.
 *
 * @category Page migration
 */
export const newMigratePagesStats = (): MigratePagesStats => ({
  nrSucceeded: 0,
  nrFailedPages: 0,
  nrThpSucceeded: 0,
  nrThpFailed: 0,
  nrThpSplit: 0,
  nrSplit: 0,
});

/**
 * `new_folio_t` (`include/linux/migrate.h`): allocates the destination for a source head PFN; -1
 * (NULL) when it cannot. The call makes the allocation's first tries (`PageAllocator.allocPages()`);
 * when they fail and the allocation may block, `slowpath` (if any) gives the blocking steps of
 * `__alloc_pages_slowpath()` for the same source as an Effect, which `migrate_pages()` runs before
 * it gives up on the source: the destination, or -1. It returns null when the allocation may not
 * block (no `__GFP_DIRECT_RECLAIM`): the first tries' -1 stands.
 *
 * @category Page migration
 */
export type NewFolioFn = ((src: number) => number) & {
  /**
   * The blocking steps of the allocation for `src` (`__alloc_pages_slowpath()`), to run after the
   * call gave -1: the destination, or -1; null when the allocation may not block.
   */
  readonly slowpath?: (src: number) => Effect.Effect<number, ErrnoError> | null;
};
/**
 * `free_folio_t` (`include/linux/migrate.h`): takes back a destination that was not used.
 *
 * @category Page migration
 */
export type FreeFolioFn = (dst: number) => void;

/**
 * What `migrate_pages()` (`mm/migrate.c`) returns: its return value, and what it writes through
 * `ret_succeeded` and into its `migrate_pages_stats`.
 *
 * @category Page migration
 */
export interface MigratePagesResult {
  /** Folios not migrated, or a negative errno (the kernel's return value). */
  readonly rc: number;
  /** Base pages migrated (`*ret_succeeded`). */
  readonly nrSucceeded: number;
  /** The call's `migrate_pages_stats`. */
  readonly stats: MigratePagesStats;
}

/**
 * The status array `move_pages(2)` fills, one `int` per entry: the caller's own (`int *status`),
 * as an `Int32Array` or a plain array of numbers. The call writes only the entries it reaches; an
 * entry past the array's end is a status that cannot be written (`put_user()` faults), and the
 * call fails with `EFAULT` there.
 *
 * @category Page migration
 */
export type MovePagesStatus = Int32Array | number[];

/**
 * What `move_pages(2)` returns: the kernel's return value and the status array it fills
 * (`kernel_move_pages()` and `do_pages_move()`, `mm/migrate.c`).
 *
 * @typeParam S - the status array: the caller's, when it passed one, else a fresh `Int32Array`.
 * @category Page migration
 */
export interface MovePagesResult<S extends MovePagesStatus = Int32Array> {
  /**
   * 0, or the number of pages not migrated: the failures of the run whose migration failed plus
   * the entries after it that were never attempted.
   */
  readonly rc: number;
  /**
   * One entry per page: its node or a negative errno where the call wrote it; where it did not
   * (a page of the run whose migration failed, or one after it), what the array held before:
   * {@link MOVE_PAGES_STATUS_UNWRITTEN} in a fresh array. The caller's own array when it passed
   * one, so the statuses written before a whole-call failure can be read there too.
   */
  readonly status: S;
}

/**
 * `struct movable_operations` (`include/linux/migrate.h`): how the owner of a non-LRU movable page
 * (a balloon, zsmalloc) lets migration isolate, move and put back its pages. The migration core
 * calls these with the page locked; the page is a base page (PFN).
 *
 * - `isolatePage(page, mode)`: take the page out of the owner's bookkeeping for migration; false
 *   when it cannot be isolated now (for instance, the owner already released it). `mode` is an
 *   `isolate_mode_t` (`include/linux/mmzone.h`), passed through.
 * - `migratePage(dst, src, mode)`: move the isolated `src` to the locked, fresh `dst`. The owner
 *   decides what moves: its bookkeeping, and the content only if it keeps any there. 0 on success
 *   (the owner then dropped its reference to `src` and holds one on `dst`); `-EAGAIN` for a
 *   temporary failure, retried; any other negative errno is a permanent failure, after which the
 *   page stays isolated and is put back.
 * - `putbackPage(page)`: return an isolated page that was not migrated to the owner.
 *
 * The migration core, not the owner, sets and clears `PG_movable_ops_isolated`.
 *
 * @category Page migration
 */
export interface MovableOperations {
  /** `isolate_page`: true when the page was taken out of the owner's lists. */
  isolatePage(page: number, mode: number): boolean;
  /** `migrate_page`: 0, or a negative errno (`-EAGAIN` retries). */
  migratePage(dst: number, src: number, mode: MigrateMode): number;
  /** `putback_page`: the isolated page goes back to its owner. */
  putbackPage(page: number): void;
}

/**
 * What each entry of the fresh status array `move_pages(2)` makes, when the caller passes none,
 * holds until the call writes it: `INT32_MIN`, neither a node nor an errno. The kernel leaves the
 * entries it does not reach as the caller's array held them (`do_pages_move()`, `mm/migrate.c`,
 * stores a run's statuses only once the whole run migrated). Not a kernel symbol.
 *
 * @category Page migration
 */
export const MOVE_PAGES_STATUS_UNWRITTEN = -0x80000000;
