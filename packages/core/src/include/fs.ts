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
  /** The file's size in bytes (`i_size_read()`): 0 at creation, then what {@link truncate} set. */
  readonly size: number;
  /**
   * `ftruncate(fd, length)` (`do_truncate()`, `fs/open.c`; `truncate_setsize()` and
   * `truncate_pagecache(inode, length)`, `mm/truncate.c`, Linux 6.16): sets the file's size
   * (`i_size`) to `length` bytes, 0 by default. A file is created empty: it must be sized before
   * its pages are faulted, for a fault on a page at or past `DIV_ROUND_UP(i_size, PAGE_SIZE)`
   * is `SIGBUS` with `BUS_ADRERR` (`filemap_fault()` returns `VM_FAULT_SIGBUS`); `mmap()` past the end is allowed. Shrinking zaps the mappings past
   * the new end, drops the cached folios wholly past it and zeroes the bytes past it in the folio
   * it falls in, then frees the storage's blocks past it, which then read as zeros; growing
   * leaves a hole that reads as zeros.
   *
   * A folio under writeback is waited for (`folio_wait_writeback()` in
   * `truncate_inode_pages_range()`): its writeback ends, and a migration or memory failure waiting
   * on it goes on. A folio another task holds locked (a migration moving it, a memory failure
   * handling it) is waited for in `folio_lock()`, with a reference held meanwhile, as the
   * kernel's second pass (`find_get_entries()`) holds one: a migration that finds it fails the
   * folio's move with `-EAGAIN` and gives the folio back. The truncation completes once every
   * folio past the end is dropped; it cannot be interrupted (the sleep is
   * `TASK_UNINTERRUPTIBLE`): an interrupt waits for its end.
   *
   * Fails with `EINVAL` for a length that is not an integer >= 0, changing nothing.
   */
  truncate(length?: number): Effect.Effect<void, ErrnoError>;
}
