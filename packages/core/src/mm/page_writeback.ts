/**
 * Writeback of a file's page cache.
 *
 * Models `write_cache_pages()` / `writeback_iter()` (`mm/page-writeback.c`, Linux 6.16) over a
 * whole file, in `WB_SYNC_ALL` mode as `fsync()` runs it (`file_write_and_wait_range()`,
 * `mm/filemap.c`) and in `WB_SYNC_NONE` mode as the flusher runs it (`fs/fs_writeback.ts`): each
 * dirty folio is written back under its lock.
 *
 * @module
 */
import { Effect } from "effect";
import type { Kernel } from "../include/kernel";
import type { AddressSpace } from "../include/mm_types";
import { PG_dirty, PG_writeback } from "../include/page_flags";
import { PAGEVEC_SIZE } from "../include/pagevec";
import { filemapWriteFolio, folioBatchLocked, folioEndWriteback, mappingFolios } from "./filemap";
import { folioMkclean } from "./rmap";

/**
 * `enum writeback_sync_modes` (`include/linux/writeback.h`): `WB_SYNC_NONE`, the flusher's
 * writeback, which does not wait for a folio under writeback (it skips it); `WB_SYNC_ALL`, data
 * integrity (`fsync()`), which waits for it and for everything written.
 *
 * @category Reclaim
 */
export type WbSyncMode = "none" | "all";

/**
 * `folio_prepare_writeback()` + `folio_clear_dirty_for_io()` (`mm/page-writeback.c`, Linux 6.16)
 * on a locked folio: false when it is no longer the file's (truncated, or moved by a migration) or
 * no longer dirty (written meanwhile), or, for `WB_SYNC_NONE`, under writeback. Otherwise a
 * writeback in flight is waited for (ended: the model's I/O takes no time), its mappings are
 * cleaned (`folio_mkclean()`) and its dirty bit cleared: true, for the caller to write it.
 */
const prepareWriteback = (
  k: Kernel,
  mapping: AddressSpace,
  head: number,
  sync: WbSyncMode,
): boolean => {
  const m = k.memmap;
  if (m.mapping[head] !== mapping.id || !m.test(head, PG_dirty)) return false;
  if (m.test(head, PG_writeback)) {
    if (sync === "none") return false;
    folioEndWriteback(k, head);
  }
  folioMkclean(k, head);
  m.clear(head, PG_dirty);
  return true;
};

/**
 * Writeback of a whole file (`write_cache_pages()` / `writeback_iter()`, `mm/page-writeback.c`,
 * Linux 6.16); for `WB_SYNC_ALL`, then the wait for what is under writeback
 * (`file_fdatawait_range()`, `mm/filemap.c`). Returns the pages written.
 *
 * The page offsets of the folios dirty now are taken (for `WB_SYNC_ALL` tagged for writeback,
 * `tag_pages_for_writeback()`, `PAGECACHE_TAG_TOWRITE`): a folio dirtied later is left to a later
 * writeback. The folios are taken in page-offset order, in batches of at most
 * {@link PAGEVEC_SIZE}, each referenced until its batch is done (`filemap_get_folios_tag()`); each
 * is locked with `folio_lock()`, sleeping while another task holds it (a migration mid-copy, a
 * truncation, a memory failure) and taking the lock in its turn in the handoff order
 * (`FolioWaitQueue.lock()`), then written back if it is still the file's and still dirty, and
 * unlocked. A migration that meets the batch's reference fails its move with `-EAGAIN`
 * (`__migrate_folio()`).
 *
 * `WB_SYNC_ALL` writes each folio's bytes to the storage under its lock ({@link filemapWriteFolio})
 * and last waits for every folio still under writeback (its writeback ended). `WB_SYNC_NONE`
 * skips a folio under writeback; it writes a folio as the filesystem's `->writepages()` does:
 * `folio_start_writeback()` (`PG_writeback`), the bytes to the storage, the unlock, and the I/O's
 * completion at once, as on a RAM disk (`folio_end_writeback()`, {@link folioEndWriteback}), which
 * moves a folio reclaim marked `PG_reclaim` to the tail of its inactive list
 * (`folio_rotate_reclaimable()`). The whole is uninterruptible, as `folio_lock()`'s sleep is: an
 * interrupt waits for its end, so no lock or reference is left behind.
 */
export const writeCachePages = (
  k: Kernel,
  mapping: AddressSpace,
  sync: WbSyncMode = "all",
): Effect.Effect<number> =>
  Effect.uninterruptible(
    Effect.gen(function* () {
      const m = k.memmap;
      const tagged: number[] = [];
      for (const head of mappingFolios(mapping)) {
        if (m.test(head, PG_dirty)) tagged.push(m.index[head]!);
      }
      tagged.sort((a, b) => a - b);
      let written = 0;
      const started = new Set<number>();
      const write = (head: number) => {
        if (!prepareWriteback(k, mapping, head, sync)) return;
        written += m.folioNrPages(head);
        if (sync === "all") {
          filemapWriteFolio(k, mapping, head);
          return;
        }
        m.set(head, PG_writeback);
        filemapWriteFolio(k, mapping, head);
        started.add(head);
      };
      // The bio's completion, after the unlock: folio_end_writeback().
      const complete = (head: number) => {
        if (started.delete(head)) folioEndWriteback(k, head);
      };
      let at = 0;
      while (at < tagged.length) {
        // filemap_get_folios_tag(): the folios caching the tagged offsets now, each referenced.
        const batch: number[] = [];
        while (at < tagged.length && batch.length < PAGEVEC_SIZE) {
          const head = mapping.pages.get(tagged[at++]!);
          if (head !== undefined && !batch.includes(head)) batch.push(head);
        }
        yield* folioBatchLocked(k, batch, write, complete);
      }
      // file_fdatawait_range(): the writeback in flight completes.
      if (sync === "all") for (const head of mappingFolios(mapping)) folioEndWriteback(k, head);
      return written;
    }),
  );
