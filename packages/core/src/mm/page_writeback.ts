/**
 * Data-integrity writeback of a file's page cache.
 *
 * Models `write_cache_pages()` / `writeback_iter()` (`mm/page-writeback.c`, Linux 6.16) in
 * `WB_SYNC_ALL` mode over a whole file, as `fsync()` runs it (`file_write_and_wait_range()`,
 * `mm/filemap.c`): each dirty folio is written back under its lock.
 *
 * @module
 */
import { Effect } from "effect";
import type { Kernel } from "../include/kernel";
import type { AddressSpace } from "../include/mm_types";
import { PG_dirty } from "../include/page_flags";
import { PAGEVEC_SIZE } from "../include/pagevec";
import { filemapWriteFolio, folioBatchLocked, folioEndWriteback, mappingFolios } from "./filemap";
import { folioMkclean } from "./rmap";

/**
 * `folio_prepare_writeback()` + `folio_clear_dirty_for_io()` and the write (`mm/page-writeback.c`,
 * Linux 6.16) on a locked folio: nothing when it is no longer the file's (truncated, or moved by a
 * migration: the data-integrity writeback skips it) or no longer dirty (written meanwhile);
 * otherwise its writeback in flight is waited for (ended: the model's I/O takes no time), its
 * mappings are cleaned (`folio_mkclean()`), its dirty bit cleared and its bytes written to the
 * file's storage ({@link filemapWriteFolio}).
 */
const writebackFolio = (k: Kernel, mapping: AddressSpace, head: number): void => {
  const m = k.memmap;
  if (m.mapping[head] !== mapping.id || !m.test(head, PG_dirty)) return;
  folioEndWriteback(k, head);
  folioMkclean(k, head);
  m.clear(head, PG_dirty);
  filemapWriteFolio(k, mapping, head);
};

/**
 * `WB_SYNC_ALL` writeback of a whole file (`write_cache_pages()` / `writeback_iter()`,
 * `mm/page-writeback.c`, Linux 6.16), then the wait for what is under writeback
 * (`file_fdatawait_range()`, `mm/filemap.c`).
 *
 * The page offsets of the folios dirty now are tagged for writeback (`tag_pages_for_writeback()`,
 * `PAGECACHE_TAG_TOWRITE`): a folio dirtied later is left to a later writeback. The tagged folios
 * are taken in page-offset order, in batches of at most {@link PAGEVEC_SIZE}, each referenced
 * until its batch is done (`filemap_get_folios_tag()`); each is locked with `folio_lock()`,
 * sleeping while another task holds it (a migration mid-copy, a truncation, a memory failure) and
 * taking the lock in its turn in the handoff order (`FolioWaitQueue.lock()`), then written back
 * if it is still the file's and still dirty, and unlocked. A migration that meets the batch's
 * reference fails its move with `-EAGAIN` (`__migrate_folio()`). Last, every folio still under
 * writeback is waited for (its writeback ended). The whole is uninterruptible, as `folio_lock()`'s
 * sleep is: an interrupt waits for its end, so no lock or reference is left behind.
 */
export const writeCachePages = (k: Kernel, mapping: AddressSpace): Effect.Effect<void> =>
  Effect.uninterruptible(
    Effect.gen(function* () {
      const m = k.memmap;
      const tagged: number[] = [];
      for (const head of mappingFolios(mapping)) {
        if (m.test(head, PG_dirty)) tagged.push(m.index[head]!);
      }
      tagged.sort((a, b) => a - b);
      let at = 0;
      while (at < tagged.length) {
        // filemap_get_folios_tag(): the folios caching the tagged offsets now, each referenced.
        const batch: number[] = [];
        while (at < tagged.length && batch.length < PAGEVEC_SIZE) {
          const head = mapping.pages.get(tagged[at++]!);
          if (head !== undefined && !batch.includes(head)) batch.push(head);
        }
        yield* folioBatchLocked(k, batch, (head) => writebackFolio(k, mapping, head));
      }
      // file_fdatawait_range(): the writeback in flight completes.
      for (const head of mappingFolios(mapping)) folioEndWriteback(k, head);
    }),
  );
