/**
 * Files as the memory system calls see them.
 *
 * Models the parts of `struct file` and `struct inode` (`include/linux/fs.h`) that page migration
 * meets: a named file whose pages live in an {@link AddressSpace}, and the writeback life cycle of
 * a cached folio. The file itself is `fs/inode.ts`.
 *
 * @module
 */
import type { Effect } from "effect";
import type { ErrnoError } from "../errno";
import type { Folio } from "./folio";
import type { AddressSpace } from "./mm_types";

/**
 * What `mmap` maps when it is not anonymous: a file's page cache. Models the `f_mapping` of
 * `struct file` (`include/linux/fs.h`) that `do_mmap()` (`mm/mmap.c`) maps.
 *
 * @category Address spaces
 */
export interface MmapFile {
  /** The file's page cache. */
  readonly mapping: AddressSpace;
}

/**
 * A file that can be mapped: a name and a page cache. Models `struct file` and its
 * `struct inode` (`include/linux/fs.h`).
 *
 * @category Address spaces
 */
export interface File extends MmapFile {
  /** The file's name. */
  readonly name: string;
  /**
   * The cached folio holding page offset `pgoff`, or null (`filemap_get_folio()`,
   * `include/linux/pagemap.h`).
   */
  folioAt(pgoff: number): Folio | null;
  /**
   * Starts writeback of the folio at `pgoff`: clears dirty and sets writeback
   * (`folio_clear_dirty_for_io` + `folio_start_writeback`, `mm/page-writeback.c`), and submits
   * the write: the file's storage ({@link AddressSpace.backing}) takes the folio's bytes as they
   * are now, and a page-cache miss reads them back. False when it is not cached or not dirty.
   */
  startWriteback(pgoff: number): boolean;
  /** Completes writeback of the folio at `pgoff` (`folio_end_writeback()`, `mm/filemap.c`). */
  endWriteback(pgoff: number): boolean;
  /**
   * `fsync()` (`vfs_fsync()`, `fs/sync.c`): writes every dirty folio back to the file's storage
   * ({@link AddressSpace.backing}) and fails with `EIO`, once, when a write-back error was recorded
   * on the file since the last call (`file_check_and_advance_wb_err()`, `mm/filemap.c`): for
   * example a dirty page lost to `memory_failure()`. Writeback in flight is waited for
   * (`WB_SYNC_ALL`): it ends, and a folio written again under it is written back too. Each folio
   * is written under its lock (`folio_lock()`): one another task holds locked (a migration
   * mid-copy, a truncation) is waited for. It cannot be interrupted.
   */
  fsync(): Effect.Effect<void, ErrnoError>;
  /** Folios in the page cache. */
  readonly cachedFolios: number;
  /**
   * Truncates the file to nothing: drops the whole page cache, unmapping it first
   * (`truncate_pagecache(inode, 0)`, `mm/truncate.c`, Linux 6.16), and frees the file's blocks on
   * its storage, which then read as zeros. A folio under writeback is waited for
   * (`folio_wait_writeback()` in `truncate_inode_pages_range()`): its writeback ends, and a
   * migration or memory failure waiting on it goes on. A folio another task holds locked (a
   * migration moving it, a memory failure handling it) is waited for in `folio_lock()`, with a
   * reference held meanwhile, as the kernel's second pass (`find_get_entries()`) holds one: a
   * migration that finds it fails the folio's move with `-EAGAIN` and gives the folio back. The
   * truncation completes once every folio is dropped; it cannot be interrupted (the sleep is
   * `TASK_UNINTERRUPTIBLE`): an interrupt waits for its end.
   */
  truncate(): Effect.Effect<void>;
}
