/**
 * Files: an inode and its page cache.
 *
 * Models the parts of `struct inode` / `struct file` that page migration meets: a named file whose
 * pages live in an {@link AddressSpace}, and the writeback life cycle of a cached folio
 * (`folio_clear_dirty_for_io`, `folio_start_writeback`, `folio_end_writeback` from
 * `mm/page-writeback.c`). Writeback copies a folio's bytes to the file's storage
 * (`AddressSpace.backing`), which a later page-cache miss reads back; content never written back
 * reads as zeros, like a sparse file.
 *
 * @module
 */

import { Effect } from "effect";
import { type ErrnoError, errno, syscall } from "../errno";
import type { BdiWriteback } from "../include/backing_dev";
import type { BackingStore } from "../include/backing_store";
import { Folio } from "../include/folio";
import type { File } from "../include/fs";
import type { Kernel } from "../include/kernel";
import type { AddressSpace } from "../include/mm_types";
import { PG_dirty, PG_writeback } from "../include/page_flags";
import { formatValue } from "../lib/bug";
import { filemapGetFolio, filemapWriteFolio, folioEndWriteback } from "../mm/filemap";
import { writeCachePages } from "../mm/page_writeback";
import { folioMkclean } from "../mm/rmap";
import { truncatePagecache } from "../mm/truncate";

/** A file and its inode: the {@link File} a kernel creates. */
export class Inode implements File {
  constructor(
    private readonly kernel: Kernel,
    /** The file's name. */
    readonly name: string,
    /** Its page cache (`inode->i_mapping`). */
    readonly mapping: AddressSpace,
  ) {}

  /** The cached folio holding page offset `pgoff`, or null (`filemap_get_folio`). */
  folioAt(pgoff: number): Folio | null {
    const head = filemapGetFolio(this.mapping, pgoff);
    return head < 0 ? null : new Folio(this.kernel, head);
  }

  /**
   * Starts writeback of the folio at `pgoff`: clears dirty and sets writeback
   * (`folio_clear_dirty_for_io` + `folio_start_writeback`), and submits the write: the file's
   * storage takes the folio's bytes as they are now ({@link filemapWriteFolio}); a write to the
   * folio under writeback dirties it again and reaches the storage at its own writeback. The
   * mappings are cleaned and write-protected first (`folio_mkclean()`), their dirty bits
   * moving to the folio. False when it is not cached or not dirty.
   */
  startWriteback(pgoff: number): boolean {
    const head = filemapGetFolio(this.mapping, pgoff);
    const m = this.kernel.memmap;
    if (head < 0) return false;
    if (folioMkclean(this.kernel, head)) m.set(head, PG_dirty);
    if (!m.testAndClear(head, PG_dirty)) return false;
    m.set(head, PG_writeback);
    filemapWriteFolio(this.kernel, this.mapping, head);
    return true;
  }

  /** Completes writeback of the folio at `pgoff` ({@link folioEndWriteback}). */
  endWriteback(pgoff: number): boolean {
    const head = filemapGetFolio(this.mapping, pgoff);
    return head >= 0 && folioEndWriteback(this.kernel, head);
  }

  /** The write-back error state this file has seen (`file->f_wb_err`, `errseq_sample()`). */
  private wbErrSample = 0;

  /**
   * `fsync()` (`vfs_fsync()`, `fs/sync.c`): writes every dirty folio back to the file's storage
   * and waits for the writeback in flight ({@link writeCachePages}, `WB_SYNC_ALL`), then reports
   * `EIO` once for write-back errors recorded on the file since the last call
   * (`file_check_and_advance_wb_err()`, `mm/filemap.c`), such as a dirty page lost to a memory
   * error. Each dirty folio is written under its lock: a folio another task holds locked (a
   * migration mid-copy, a truncation, a memory failure) is waited for in `folio_lock()`, in the
   * lock's handoff order, and written once it is unlocked, if it is still the file's. A folio
   * under writeback is waited for first (`folio_prepare_writeback()`, `mm/page-writeback.c`): its
   * bytes reached the storage when it started, so the wait ends it ({@link folioEndWriteback}),
   * and a folio dirtied again since is written too. A file left clean leaves the flusher's dirty
   * list (`writeback_single_inode()`, {@link BdiWriteback.inodeSynced}). It cannot be
   * interrupted: an interrupt waits for the writeback's end.
   */
  fsync(): Effect.Effect<void, ErrnoError> {
    return Effect.andThen(
      writeCachePages(this.kernel, this.mapping),
      syscall(() => {
        this.kernel.writeback.inodeSynced(this.mapping);
        if (this.mapping.wbErrSeq === this.wbErrSample) return undefined;
        this.wbErrSample = this.mapping.wbErrSeq;
        return errno("EIO", `fsync: a write-back error was recorded on ${this.name}`);
      }),
    );
  }

  /** Folios in the page cache. */
  get cachedFolios(): number {
    return this.mapping.nrFolios;
  }

  /** The file's size in bytes (`i_size_read()`): 0 at creation, then what {@link truncate} set. */
  get size(): number {
    return this.mapping.size;
  }

  /**
   * `ftruncate(fd, length)` (`do_truncate()`, `fs/open.c`, with the filesystem's `setattr()`
   * running `truncate_setsize()`, `mm/truncate.c`, Linux 6.16): sets the file's size to `length`
   * bytes (`i_size_write()`), then drops the page cache past it, unmapping it first
   * ({@link truncatePagecache}): folios wholly past the new end go, the one it falls in has its
   * bytes past it zeroed. Its blocks on the storage past the new end are freed and read as zeros
   * ({@link BackingStore.truncate}). Growing the file reads zeros in the new part, a hole. A folio
   * under writeback is waited for (`folio_wait_writeback()`); its bytes reached the storage when
   * the writeback started, so the wait ends it ({@link folioEndWriteback}), waking whoever else
   * waits on it. A folio another task holds locked (a migration, a memory failure) is waited for
   * in `folio_lock()`, holding a reference to it meanwhile. It cannot be interrupted
   * (`TASK_UNINTERRUPTIBLE`): an interrupt waits until the page cache and the blocks past the end
   * are gone.
   *
   * Fails with `EINVAL` for a length that is not an integer >= 0 (`do_sys_ftruncate()`'s
   * `length < 0`), changing nothing.
   */
  truncate(length = 0): Effect.Effect<void, ErrnoError> {
    return Effect.suspend(() => {
      if (!Number.isSafeInteger(length) || length < 0)
        return Effect.fail(
          errno(
            "EINVAL",
            `ftruncate: the length must be an integer >= 0, not ${formatValue(length)}`,
          ),
        );
      return Effect.uninterruptible(
        Effect.sync(() => {
          this.mapping.size = length;
        }).pipe(
          Effect.andThen(truncatePagecache(this.kernel, this.mapping, length)),
          Effect.andThen(Effect.sync(() => this.mapping.backing?.truncate(length))),
        ),
      );
    });
  }
}
