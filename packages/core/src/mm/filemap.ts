import { Effect } from "effect";
import type { Kernel } from "../include/kernel";
import type { AddressSpace } from "../include/mm_types";
import {
  PG_dirty,
  PG_locked,
  PG_swapbacked,
  PG_uptodate,
  PG_writeback,
} from "../include/page_flags";
import { folioPut } from "./swap";

/** `folio_trylock()`: locks the folio if it is unlocked; true on success. */
export const folioTrylock = (k: Kernel, head: number): boolean => {
  if (k.memmap.test(head, PG_locked)) return false;
  k.memmap.set(head, PG_locked);
  return true;
};

/**
 * `folio_lock()` (`include/linux/pagemap.h`, `__folio_lock()` in `mm/filemap.c`): sleeps until
 * the folio is unlocked, then locks it.
 */
export const folioLock = (k: Kernel, head: number): Effect.Effect<void> =>
  Effect.gen(function* () {
    while (!folioTrylock(k, head)) yield* k.folioWaiters.waitUnlocked(head);
  });

/** `folio_unlock()`: unlocks and wakes waiters. */
export const folioUnlock = (k: Kernel, head: number): void => {
  k.memmap.clear(head, PG_locked);
  k.folioWaiters.wake(head);
};

/** `filemap_get_folio()`: the head PFN caching `pgoff`, or -1. */
export const filemapGetFolio = (mapping: AddressSpace, pgoff: number): number =>
  mapping.pages.get(pgoff) ?? -1;

/**
 * `__filemap_add_folio()`: caches a freshly allocated folio (refcount 1, the allocation's) at
 * `pgoff`, which must be aligned to the folio's size. The cache takes one reference per page. The
 * caller still owns its allocation reference. A hugetlb folio is cached this way
 * (`hugetlb_add_to_page_cache()`, `mm/hugetlb.c`): it never goes on the LRU.
 */
export const addToPageCache = (
  k: Kernel,
  mapping: AddressSpace,
  head: number,
  pgoff: number,
): void => {
  const m = k.memmap;
  const nr = m.folioNrPages(head);
  m.mapping[head] = mapping.id;
  m.index[head] = pgoff;
  m.set(head, PG_uptodate | (mapping.shmem ? PG_swapbacked : 0));
  m.refcount[head]! += nr;
  for (let i = 0; i < nr; i++) mapping.pages.set(pgoff + i, head);
  mapping.nrFolios++;
};

/**
 * `filemap_add_folio()`: caches a freshly allocated folio ({@link addToPageCache}) and puts it on
 * the LRU.
 */
export const filemapAddFolio = (
  k: Kernel,
  mapping: AddressSpace,
  head: number,
  pgoff: number,
): void => {
  addToPageCache(k, mapping, head, pgoff);
  k.lru.add(head);
};

/**
 * Replaces `oldHead` by `newHead` in the page cache, moving the cache's references.
 * Models the `xas_store` loop of `__folio_migrate_mapping()`.
 */
export const filemapReplaceFolio = (
  k: Kernel,
  mapping: AddressSpace,
  oldHead: number,
  newHead: number,
): void => {
  const m = k.memmap;
  const nr = m.folioNrPages(oldHead);
  const pgoff = m.index[oldHead]!;
  for (let i = 0; i < nr; i++) mapping.pages.set(pgoff + i, newHead);
  m.refcount[newHead]! += nr;
  m.refcount[oldHead]! -= nr;
};

/**
 * `__filemap_remove_folio()` + `filemap_free_folio()`: drops a folio from the cache with the
 * cache's references. The folio must not be mapped.
 */
export const filemapRemoveFolio = (k: Kernel, mapping: AddressSpace, head: number): void => {
  const m = k.memmap;
  const nr = m.folioNrPages(head);
  const pgoff = m.index[head]!;
  for (let i = 0; i < nr; i++) mapping.pages.delete(pgoff + i);
  mapping.nrFolios--;
  m.clear(head, PG_dirty | PG_writeback);
  m.mapping[head] = 0;
  m.refcount[head]! -= nr - 1;
  folioPut(k, head);
};
