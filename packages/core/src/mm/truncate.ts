/**
 * Truncating a file's page cache.
 *
 * Models `truncate_setsize()`, `truncate_pagecache()` and `truncate_inode_pages_range()`
 * (`mm/truncate.c`, Linux 6.16): the file's mappings past the new end are zapped, then every
 * cached folio wholly past it is dropped under its lock, and the folio the new end falls in has
 * its part past the end zeroed (`truncate_inode_partial_folio()`). A first pass drops the folios it
 * can lock at once (`find_lock_entries()`); a second pass takes a reference on each folio left
 * (`find_get_entries()`), sleeps in `folio_lock()` until the holder (a migration, a memory
 * failure) unlocks it, and drops it if it is still the file's, until none is left past the end.
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
  folioLock,
  folioTrylock,
  folioUnlock,
  mappingFolios,
} from "./filemap";
import { zapPteRange } from "./memory";
import { folioPut } from "./swap";

/**
 * `unmap_mapping_range()` over the file's pages from page offset `first` to its end, with their
 * private copies (`even_cows`), or `unmap_mapping_folio()` over the folio `head`'s pages.
 */
const unmapMappingRange = (k: Kernel, mapping: AddressSpace, first: number, head = -1): void => {
  const m = k.memmap;
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
  if (k.memmap.folioMapped(head)) unmapMappingRange(k, mapping, k.memmap.index[head]!, head);
  filemapRemoveFolio(k, mapping, head);
};

/**
 * The file's cached folios that start at page offset `start` or later, in page-offset order, as
 * the page cache's walks find them (`find_lock_entries()` skips a folio that starts before).
 */
const cachedFolios = (k: Kernel, mapping: AddressSpace, start: number): number[] =>
  [...mappingFolios(mapping)]
    .filter((head) => k.memmap.index[head]! >= start)
    .sort((a, b) => k.memmap.index[a]! - k.memmap.index[b]!);

/**
 * The first loop of `truncate_inode_pages_range()` from page offset `start` to the end of the
 * file (`mm/truncate.c`, and of `shmem_undo_range()`, `mm/shmem.c`, Linux 6.16): every cached
 * folio there that locks at once (`find_lock_entries()`) and is not under writeback is dropped,
 * each referenced until its lock is dropped (`folio_batch_release()`). It never sleeps. Returns
 * whether no folio is left there; what is left, {@link truncateInodePagesWait} drops.
 */
export const truncateInodePagesTrylock = (k: Kernel, mapping: AddressSpace, start = 0): boolean => {
  const m = k.memmap;
  for (const head of cachedFolios(k, mapping, start)) {
    if (!folioTrylock(k, head)) continue;
    m.refcount[head]!++;
    if (!m.test(head, PG_writeback)) truncateInodeFolio(k, mapping, head);
    folioUnlock(k, head);
    folioPut(k, head);
  }
  return cachedFolios(k, mapping, start).length === 0;
};

/**
 * The second loop of `truncate_inode_pages_range()` from page offset `start` to the end of the
 * file (`mm/truncate.c`, and of `shmem_undo_range()`, `mm/shmem.c`, Linux 6.16): until no folio
 * is left there, takes a batch of them (`find_get_entries()`, at most `PAGEVEC_SIZE`), each referenced while the loop sleeps in
 * `folio_lock()` on it, and drops each that is still the file's once locked; a folio a
 * migration replaced meanwhile is found in a later batch. A folio under writeback is waited for
 * (its writeback ends then, the model's I/O taking no time). The loop is uninterruptible, as its
 * sleeps are: an interrupt waits for its end, so no lock or reference is left behind.
 */
export const truncateInodePagesWait = (
  k: Kernel,
  mapping: AddressSpace,
  start = 0,
): Effect.Effect<void> =>
  Effect.uninterruptible(
    Effect.gen(function* () {
      for (;;) {
        const batch = cachedFolios(k, mapping, start).slice(0, PAGEVEC_SIZE);
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
 * `truncate_inode_partial_folio()` (`mm/truncate.c`, Linux 6.16) for the folio the new end of the
 * file `lstart` (bytes, not page-aligned) falls in, found locked (`__filemap_get_folio()` with
 * `FGP_LOCK`, sleeping while another task holds it): its writeback is waited for (ended) and its
 * bytes from `lstart` to the folio's end are zeroed (`folio_zero_range()`); it stays cached and
 * mapped. A large folio is not split: its pages past the end stay, zeroed, and a fault on them
 * gets `SIGBUS`. Nothing when no folio caches that page.
 */
const truncatePartialFolio = (
  k: Kernel,
  mapping: AddressSpace,
  lstart: number,
): Effect.Effect<void> =>
  Effect.gen(function* () {
    const m = k.memmap;
    const pageSize = k.mem.pageSize;
    const head = mapping.pages.get(Math.floor(lstart / pageSize));
    if (head === undefined) return;
    m.refcount[head]!++;
    yield* folioLock(k, head);
    if (m.mapping[head] === mapping.id) {
      folioEndWriteback(k, head);
      const from = m.index[head]! * pageSize;
      k.mem.bytes(head, m.folioNrPages(head)).fill(0, lstart - from);
    }
    folioUnlock(k, head);
    folioPut(k, head);
  });

/**
 * `truncate_pagecache(inode, newsize)` (`mm/truncate.c`, Linux 6.16), which `truncate_setsize()`
 * runs once `i_size` is `newsize` (bytes): zaps every mapping of the file from the page past the
 * new end (`holebegin`, `round_up(newsize, PAGE_SIZE)`, with their private copies:
 * `unmap_mapping_range(..., even_cows)`), then drops every folio of its page cache wholly past
 * the new end and zeroes the rest of the folio the new end falls in
 * (`truncate_inode_pages_range()`: {@link truncateInodePagesTrylock}, the partial folio, then
 * {@link truncateInodePagesWait}), each under its lock, and zaps again what faulted back
 * meanwhile.
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
export const truncatePagecache = (
  k: Kernel,
  mapping: AddressSpace,
  newsize = 0,
): Effect.Effect<void> =>
  Effect.uninterruptible(
    Effect.gen(function* () {
      const start = Math.ceil(newsize / k.mem.pageSize);
      unmapMappingRange(k, mapping, start);
      // The writeback in flight completes while truncation waits for it.
      for (const head of cachedFolios(k, mapping, start)) folioEndWriteback(k, head);
      const done = truncateInodePagesTrylock(k, mapping, start);
      if (newsize % k.mem.pageSize !== 0) yield* truncatePartialFolio(k, mapping, newsize);
      if (!done) yield* truncateInodePagesWait(k, mapping, start);
      unmapMappingRange(k, mapping, start);
    }),
  );
