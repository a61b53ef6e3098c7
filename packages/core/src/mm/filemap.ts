/**
 * The page cache, folio locking and writeback state.
 *
 * Models `mm/filemap.c`: folios are found in an address space by page offset
 * (`filemap_get_folio`), added (`filemap_add_folio`) and removed (`__filemap_remove_folio`).
 * The page cache holds one reference per base page of each folio. `folio_lock()` /
 * `folio_unlock()` and `folio_wait_locked()` are here too: an access that meets a migration
 * entry waits until the folio being migrated is unlocked (`migration_entry_wait`).
 *
 * @module
 */
import { Effect } from "effect";
import type { Kernel } from "../kernel";
import type { AddressSpace } from "../include/mm_types";
import { PG_dirty, PG_locked, PG_swapbacked, PG_uptodate, PG_writeback } from "../include/page_flags";
import { folioPut } from "./swap";

/**
 * Tasks waiting for a folio flag to clear. Models the folio wait hash table
 * (`folio_waitqueue`, `folio_wait_bit`): waiting for `PG_locked` is `folio_wait_locked()`, for
 * `PG_writeback` `folio_wait_writeback()`.
 */
export class FolioWaitQueue {
  private readonly waiters = new Map<number, Array<{ bit: number; resume: () => void }>>();

  constructor(private readonly flags: Uint32Array) {}

  /** Completes once `bit` is clear on `head` (`folio_wait_bit`). */
  waitBit(head: number, bit: number): Effect.Effect<void> {
    return Effect.callback<void>((resume) => {
      if (!(this.flags[head]! & bit)) {
        resume(Effect.void);
        return;
      }
      let list = this.waiters.get(head);
      if (!list) {
        list = [];
        this.waiters.set(head, list);
      }
      list.push({ bit, resume: () => resume(Effect.void) });
    });
  }

  /** Completes once `head` is not locked (`folio_wait_locked`). */
  waitUnlocked(head: number): Effect.Effect<void> {
    return this.waitBit(head, PG_locked);
  }

  /** Wakes the waiters on `head` whose bit is now clear (`folio_wake_bit`). */
  wake(head: number): void {
    const list = this.waiters.get(head);
    if (!list) return;
    const still = list.filter((w) => this.flags[head]! & w.bit);
    if (still.length > 0) this.waiters.set(head, still);
    else this.waiters.delete(head);
    for (const w of list) if (!(this.flags[head]! & w.bit)) w.resume();
  }

  /** Waiters on `head`, for tests. */
  waiting(head: number): number {
    return this.waiters.get(head)?.length ?? 0;
  }
}

/** `folio_trylock()`: locks the folio if it is unlocked; true on success. */
export const folioTrylock = (k: Kernel, head: number): boolean => {
  if (k.memmap.test(head, PG_locked)) return false;
  k.memmap.set(head, PG_locked);
  return true;
};

/** `folio_unlock()`: unlocks and wakes waiters. */
export const folioUnlock = (k: Kernel, head: number): void => {
  k.memmap.clear(head, PG_locked);
  k.folioWaiters.wake(head);
};

/** `filemap_get_folio()`: the head PFN caching `pgoff`, or -1. */
export const filemapGetFolio = (mapping: AddressSpace, pgoff: number): number =>
  mapping.pages.get(pgoff) ?? -1;

/**
 * `filemap_add_folio()`: caches a freshly allocated folio (refcount 1, the allocation's) at
 * `pgoff`, which must be aligned to the folio's size. The cache takes one reference per page and
 * puts the folio on the LRU. The caller still owns its allocation reference.
 */
export const filemapAddFolio = (
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
