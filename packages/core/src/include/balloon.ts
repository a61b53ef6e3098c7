/**
 * The memory balloon's device descriptor.
 *
 * Models `struct balloon_dev_info` (`include/linux/balloon.h`, Linux 7.0; `balloon_compaction.h`
 * before): the pages a balloon driver has inflated (taken from the guest and handed to the host),
 * the count of those isolated for migration, and the driver's `migratepage` callback. The
 * behaviour (enqueue, dequeue, and the `movable_operations` migration calls) is `mm/balloon.ts`.
 *
 * @module
 */
import type { FolioList } from "../lib/list";
import type { MigrateMode } from "./migrate_mode";

/**
 * The driver's `migratepage` callback of `struct balloon_dev_info` (`include/linux/balloon.h`):
 * tells the host that `newpage` replaces `page` in the balloon. Both pages are PFNs of base pages.
 * Returns 0 when it did (the balloon core then moves its bookkeeping to `newpage` and frees
 * `page`), `-ENOENT` when `page` was deflated but `newpage` could not be inflated (the core frees
 * `page` and counts a deflation), `-EAGAIN` to be retried later, or another negative errno for a
 * permanent failure. The content of balloon pages means nothing to the guest, so a driver copies
 * it only if it keeps something there itself.
 *
 * @category Memory balloon
 */
export type BalloonMigratepage = (
  balloon: BalloonDevInfo,
  newpage: number,
  page: number,
  mode: MigrateMode,
) => number;

/**
 * `struct balloon_dev_info` (`include/linux/balloon.h`): one balloon device. Its pages carry the
 * `PGTY_offline` page type and `PG_movable_ops`, and their `page->private` names the device
 * ({@link BalloonDevInfo.id}) while they are on {@link BalloonDevInfo.pages} or isolated.
 *
 * @category Memory balloon
 */
export interface BalloonDevInfo {
  /** The value balloon pages keep in `page->private` (`balloon_page_device()`). */
  readonly id: number;
  /** `pages`: the inflated pages, linked through `page->lru`. */
  readonly pages: FolioList;
  /** `isolated_pages`: pages isolated for migration, on no list of the device. */
  isolatedPages: number;
  /** `migratepage`: the driver's callback (`CONFIG_BALLOON_MIGRATION`). */
  migratepage: BalloonMigratepage;
  /** `adjust_managed_page_count`: inflating takes pages out of the managed count. */
  adjustManagedPageCount: boolean;
}
