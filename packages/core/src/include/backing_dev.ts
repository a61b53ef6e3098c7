/**
 * The writeback of dirty file pages by the flusher: the parts of `struct bdi_writeback`
 * (`include/linux/backing-dev-defs.h`) and of `fs/fs-writeback.c` that reclaim, page dirtying and
 * `/proc/sys/vm` reach. The flusher itself is `fs/fs_writeback.ts`.
 *
 * @module
 */
import type { Effect } from "effect";
import type { ErrnoError } from "../errno";
import type { AddressSpace } from "./mm_types";

/**
 * `enum wb_reason` (`include/linux/backing-dev-defs.h`): why writeback was started. The model
 * starts it for reclaim (`WB_REASON_VMSCAN`, `wakeup_flusher_threads()` from
 * `shrink_inactive_list()`) and for the periodic writeback of old data
 * (`WB_REASON_PERIODIC`, `wb_check_old_data_flush()`).
 *
 * @category Reclaim
 */
export type WbReason = "vmscan" | "periodic";

/**
 * `dirty_writeback_interval` (`mm/page-writeback.c`, Linux 6.16): 500 centiseconds between the
 * flusher's periodic writebacks (`/proc/sys/vm/dirty_writeback_centisecs`); 0 turns them off.
 *
 * @category Reclaim
 */
export const DIRTY_WRITEBACK_CENTISECS = 500;

/**
 * `dirty_expire_interval` (`mm/page-writeback.c`, Linux 6.16): 3000 centiseconds, the age past
 * which dirty data is written by the periodic writeback (`/proc/sys/vm/dirty_expire_centisecs`).
 *
 * @category Reclaim
 */
export const DIRTY_EXPIRE_CENTISECS = 3000;

/**
 * The flusher of the files' one `backing_dev_info` (`bdi->wb`, `struct bdi_writeback`,
 * `include/linux/backing-dev-defs.h`) and its worker (`wb_workfn()`, `fs/fs-writeback.c`,
 * Linux 6.16): a daemon fiber on Effect's `Clock` that writes dirty file pages back through the
 * file's writeback path (`write_cache_pages()`, `WB_SYNC_NONE`), woken by reclaim and every
 * `dirty_writeback_centisecs` while some file is dirty. Memory no device holds (shmem, hugetlb)
 * is on no flusher's list, as Linux's `noop_backing_dev_info` is not.
 *
 * @category Reclaim
 */
export interface BdiWriteback {
  /**
   * Whether the worker runs: from boot, or from {@link run} for a kernel booted with
   * `daemons: "on-demand"`, until {@link stop} or kernel shutdown.
   */
  readonly running: boolean;
  /**
   * `dirty_writeback_interval` in centiseconds (`/proc/sys/vm/dirty_writeback_centisecs`,
   * default {@link DIRTY_WRITEBACK_CENTISECS}): the period of the old-data writeback; 0 turns
   * it off.
   */
  dirtyWritebackCentisecs: number;
  /**
   * `dirty_expire_interval` in centiseconds (`/proc/sys/vm/dirty_expire_centisecs`, default
   * {@link DIRTY_EXPIRE_CENTISECS}): how old a file's dirty data must be for the periodic
   * writeback to write it.
   */
  dirtyExpireCentisecs: number;
  /**
   * `bdi_init()`'s worker as a kernel thread (the model's one flusher): starts it, asleep, on
   * the `Clock` of the calling fiber (`TestClock` in tests); kernel shutdown stops it. `EBUSY`
   * when it runs already, as it does from boot unless the kernel was booted with
   * `daemons: "on-demand"`.
   */
  run(): Effect.Effect<void, ErrnoError>;
  /**
   * Stops the worker (`wb_shutdown()`, without the final flush: the dirty data stays dirty) and
   * waits until it has ended; nothing when it does not run.
   */
  stop(): Effect.Effect<void>;
  /**
   * `wakeup_flusher_threads(reason)` (`fs/fs-writeback.c`, Linux 6.16): when some file is dirty
   * (`wb_has_dirty_io()`), asks the worker to write back every dirty page
   * (`wb_start_writeback()`: `WB_start_all`, handled by `wb_check_start_all()`) and wakes it.
   * Nothing when the worker does not run or nothing is dirty.
   */
  wakeupFlusherThreads(reason: WbReason): void;
  /**
   * `__mark_inode_dirty(inode, I_DIRTY_PAGES)` (`fs/fs-writeback.c`) for the file of `mapping`:
   * a file that was clean is stamped with the time (`inode->dirtied_when`, on the worker's
   * clock) and goes to the tail of the dirty list (`wb->b_dirty`); when it is the first dirty
   * file, the worker's periodic wake-up is armed (`wb_wakeup_delayed()`). Nothing for memory
   * no device holds, or a file dirty already.
   */
  markInodeDirty(mapping: AddressSpace): void;
  /**
   * What `writeback_single_inode()` (`fs/fs-writeback.c`, Linux 6.16) does for a file's
   * data-integrity writeback (`generic_file_fsync()` → `sync_inode_metadata()`): a file with no
   * dirty folio left loses `I_DIRTY_PAGES` and leaves the dirty list (`inode_io_list_del()`), so
   * the flusher has nothing more of it to look at. Nothing for a file still dirty.
   */
  inodeSynced(mapping: AddressSpace): void;
  /**
   * The files with dirty pages as the flusher knows them (`wb->b_dirty`, `b_io`, `b_more_io`),
   * oldest dirtied first.
   */
  readonly dirtyInodes: ReadonlySet<AddressSpace>;
  /**
   * Whether the worker waits for work (idle, or until its periodic wake-up): no writeback
   * pending or running. False when it does not run.
   */
  sleeping(): boolean;
}
