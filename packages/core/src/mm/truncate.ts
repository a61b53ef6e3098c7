/**
 * Truncating a file's page cache.
 *
 * Models `truncate_pagecache()` and `truncate_inode_pages_range()` (`mm/truncate.c`, Linux 6.16)
 * for a truncation to size 0: the file's mappings are zapped, then every cached folio is dropped
 * under its lock. A first pass drops the folios it can lock at once (`find_lock_entries()`); a
 * second pass takes a reference on each folio left (`find_get_entries()`), sleeps in
 * `folio_lock()` until the holder (a migration, a memory failure) unlocks it, and drops it if it
 * is still the file's, until the cache is empty.
 *
 * @module
 */
import { Effect } from "effect";
import type { Kernel } from "../include/kernel";
import type { AddressSpace } from "../include/mm_types";
import { PG_writeback } from "../include/page_flags";
import { PAGEVEC_SIZE } from "../include/pagevec";
import {
  filemapRemoveFolio,
  folioBatchLocked,
  folioEndWriteback,
  folioTrylock,
  folioUnlock,
  mappingFolios,
} from "./filemap";
import { zapPteRange } from "./memory";
import { folioPut } from "./swap";

/**
 * `unmap_mapping_range()` over the folio's pages, `unmap_mapping_folio()` when `head` is given,
 * else over the whole file with its private copies (`even_cows`).
 */
const unmapMappingRange = (k: Kernel, mapping: AddressSpace, head = -1): void => {
  const m = k.memmap;
  const first = head < 0 ? 0 : m.index[head]!;
  const end = head < 0 ? Number.POSITIVE_INFINITY : first + m.folioNrPages(head);
  for (const vma of mapping.iMmap) {
    const from = Math.max(0, first - vma.pgoff);
    const to = Math.min(vma.nrPages, end - vma.pgoff);
    if (from < to) zapPteRange(k, vma, from, to);
  }
};

/**
 * `truncate_inode_folio()` (`mm/truncate.c`) on a locked folio: nothing when it is no longer the
 * file's (the kernel's `-EIO`, which truncation ignores: a migration moved it or a memory failure
 * dropped it meanwhile); otherwise unmapped again if a fault mapped it since
 * (`truncate_cleanup_folio()`) and dropped from the page cache with its references.
 */
const truncateInodeFolio = (k: Kernel, mapping: AddressSpace, head: number): void => {
  if (k.memmap.mapping[head] !== mapping.id) return;
  if (k.memmap.folioMapped(head)) unmapMappingRange(k, mapping, head);
  filemapRemoveFolio(k, mapping, head);
};

/** The file's cached folios in page-offset order, as the page cache's walks find them. */
const cachedFolios = (k: Kernel, mapping: AddressSpace): number[] =>
  [...mappingFolios(mapping)].sort((a, b) => k.memmap.index[a]! - k.memmap.index[b]!);

/**
 * The first loop of `truncate_inode_pages_range()` over the whole file (`mm/truncate.c`, and of
 * `shmem_undo_range()`, `mm/shmem.c`, Linux 6.16): every cached folio that locks at once
 * (`find_lock_entries()`) and is not under writeback is dropped, each referenced until its lock
 * is dropped (`folio_batch_release()`). It never sleeps. Returns whether the cache is empty after
 * it; what is left, {@link truncateInodePagesWait} drops.
 */
export const truncateInodePagesTrylock = (k: Kernel, mapping: AddressSpace): boolean => {
  const m = k.memmap;
  for (const head of cachedFolios(k, mapping)) {
    if (!folioTrylock(k, head)) continue;
    m.refcount[head]!++;
    if (!m.test(head, PG_writeback)) truncateInodeFolio(k, mapping, head);
    folioUnlock(k, head);
    folioPut(k, head);
  }
  return mapping.pages.size === 0;
};

/**
 * The second loop of `truncate_inode_pages_range()` over the whole file (`mm/truncate.c`, and of
 * `shmem_undo_range()`, `mm/shmem.c`, Linux 6.16): until the cache is empty, takes a batch of its
 * folios (`find_get_entries()`, at most `PAGEVEC_SIZE`), each referenced while the loop sleeps in
 * `folio_lock()` on it, and drops each that is still the file's once locked; a folio a
 * migration replaced meanwhile is found in a later batch. A folio under writeback is waited for
 * (its writeback ends then, the model's I/O taking no time). The loop is uninterruptible, as its
 * sleeps are: an interrupt waits for its end, so no lock or reference is left behind.
 */
export const truncateInodePagesWait = (k: Kernel, mapping: AddressSpace): Effect.Effect<void> =>
  Effect.uninterruptible(
    Effect.gen(function* () {
      for (;;) {
        const batch = cachedFolios(k, mapping).slice(0, PAGEVEC_SIZE);
        if (batch.length === 0) break;
        yield* folioBatchLocked(k, batch, (head) => {
          // folio_wait_writeback(): written back since the first look, its I/O completes now.
          folioEndWriteback(k, head);
          truncateInodeFolio(k, mapping, head);
        });
      }
    }),
  );

/**
 * `truncate_pagecache(inode, 0)` (`mm/truncate.c`, Linux 6.16): zaps every mapping of the file
 * (`unmap_mapping_range()`), then drops every folio of its page cache
 * (`truncate_inode_pages_range()`: {@link truncateInodePagesTrylock}, then
 * {@link truncateInodePagesWait}), each under its lock, and zaps again what faulted back meanwhile.
 *
 * A folio under writeback is waited for (`folio_wait_writeback()`); the model's I/O takes no time,
 * so its writeback ends then ({@link folioEndWriteback}), waking whoever else waits on it. A folio
 * another task holds locked is waited for in `folio_lock()`, holding a reference all the while
 * (`find_get_entries()`): a migration of it meanwhile finds that reference and fails its move with
 * `-EAGAIN` (`__migrate_folio()`), a memory failure on it reports it still referenced
 * (`has_extra_refcount()`); the unlock hands the lock to the truncation, which drops the folio
 * unless it is no longer the file's. The wait is uninterruptible, as `folio_lock()`'s is, and so
 * is the whole truncation: an interrupt waits for its end.
 */
export const truncatePagecache = (k: Kernel, mapping: AddressSpace): Effect.Effect<void> =>
  Effect.uninterruptible(
    Effect.gen(function* () {
      unmapMappingRange(k, mapping);
      // The writeback in flight completes while truncation waits for it.
      for (const head of cachedFolios(k, mapping)) folioEndWriteback(k, head);
      if (!truncateInodePagesTrylock(k, mapping)) yield* truncateInodePagesWait(k, mapping);
      unmapMappingRange(k, mapping);
    }),
  );
