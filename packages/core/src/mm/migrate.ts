/**
 * Page migration: `migrate_pages()` and the batched flow of the copy-offload series.
 *
 * Models `mm/migrate.c` with the restructuring of the copy-offload series (RFC v4 patches 1–3 and
 * the v6 per-folio marker):
 *
 * 1. **Unmap** each folio of a batch (`migrate_folio_unmap`): lock it, respect writeback per
 *    mode, allocate the destination, and replace its mappings by migration entries with the TLB
 *    flush deferred (`TTU_BATCH_FLUSH`).
 * 2. **Split** the unmapped folios into a batch list (eligible for offload: the reason is allowed,
 *    the refcount is the expected one, not a `movable_ops` page) and a single list. With no
 *    offload hook installed every folio is single and nothing else runs.
 * 3. **Flush** the TLBs once (`try_to_unmap_flush`).
 * 4. **Batch copy** the eligible folios. Whoever copies a destination marks it
 *    `FOLIO_CONTENT_COPIED` right after its copy succeeds.
 * 5. **Move** (`migrate_folio_move`): a marked destination skips its copy, and the marker is
 *    consumed on that first read, so an `-EAGAIN` retry copies afresh; an unmarked one is copied
 *    per folio with `folio_mc_copy`. Then mapping, flags and PTEs go to the new folio.
 * 6. **Undo** whatever is left: mappings back to the source, destinations freed.
 *
 * `migrate_pages()` cuts its list into batches of at most `NR_MAX_BATCHED_MIGRATION` base pages,
 * migrates hugetlb folios first on their own unbatched path, retries per mode, splits a large
 * folio whose destination cannot be allocated, and returns the number of folios not migrated or a
 * negative errno, with the kernel's `migrate_pages_stats`, `/proc/vmstat` counters and trace
 * events.
 *
 * The loops are plain synchronous code over typed arrays. Effect appears at the edges of a batch
 * only: the offload copy, and a synchronous-mode wait for a locked folio or for writeback.
 *
 * @module
 */
import { Effect, Exit } from "effect";
import { ERRNO, type ErrnoError, errno } from "../errno";
import { __GFP_DIRECT_RECLAIM } from "../include/gfp";
import type { Kernel, Task } from "../include/kernel";
import { folioXchgLastCpupid } from "../include/mem_map";
import {
  type FreeFolioFn,
  type MigratePagesResult,
  type MigratePagesStats,
  type NewFolioFn,
  newMigratePagesStats,
} from "../include/migrate";
import type { BatchCopier, CopyBatch } from "../include/migrate_copy_offload";
import {
  isMigrateReason,
  MIGRATE_ASYNC,
  MIGRATE_SYNC,
  MIGRATE_SYNC_LIGHT,
  type MigrateMode,
  type MigrateReason,
  MR_LONGTERM_PIN,
  MR_MEMORY_FAILURE,
  MR_NUMA_MISPLACED,
} from "../include/migrate_mode";
import type { AddressSpace } from "../include/mm_types";
import type { AllocContext, AllocRequest } from "../include/mmzone";
import { NUMA_BALANCING_MEMORY_TIERING } from "../include/numa_balancing";
import {
  FOLIO_CONTENT_COPIED,
  PG_active,
  PG_dirty,
  PG_hugetlb,
  PG_locked,
  PG_mlocked,
  PG_partially_mapped,
  PG_private,
  PG_readahead,
  PG_referenced,
  PG_swapbacked,
  PG_unevictable,
  PG_uptodate,
  PG_writeback,
} from "../include/page_flags";
import { PF_MEMALLOC } from "../include/sched";
import { TlbFlushBatch } from "../include/tlbflush";
import { FolioList } from "../lib/list";
import { folioMcCopy } from "./copy_mc";
import { filemapReplaceFolio, folioLock, folioTrylock, folioUnlock } from "./filemap";
import { deferredSplitFolio, splitFolio } from "./huge_memory";
import {
  isolateMovableOpsPage,
  migrateMovableOpsPage,
  pageHasMovableOps,
  putbackMovableOpsPage,
} from "./migrate_movable_ops";
import { removeMigrationPtes, TTU_BATCH_FLUSH, tryToMigrate } from "./rmap";
import { folioPut } from "./swap";

/**
 * `NR_MAX_MIGRATE_PAGES_RETRY` (`mm/migrate.c`): passes over a batch in `MIGRATE_ASYNC`, and for
 * hugetlb.
 *
 * @category Page migration
 */
export const NR_MAX_MIGRATE_PAGES_RETRY = 10;
/**
 * `NR_MAX_MIGRATE_ASYNC_RETRY` (`mm/migrate.c`): passes of the asynchronous first try of a
 * synchronous call.
 *
 * @category Page migration
 */
export const NR_MAX_MIGRATE_ASYNC_RETRY = 3;
/**
 * `NR_MAX_MIGRATE_SYNC_RETRY` (`mm/migrate.c`): passes of each folio's synchronous retry.
 *
 * @category Page migration
 */
export const NR_MAX_MIGRATE_SYNC_RETRY = NR_MAX_MIGRATE_PAGES_RETRY - NR_MAX_MIGRATE_ASYNC_RETRY;

/** `MIGRATEPAGE_SUCCESS`. */
const MIGRATEPAGE_SUCCESS = 0;
/** `MIGRATEPAGE_UNMAP`: unmapped, ready to move. */
const MIGRATEPAGE_UNMAP = 1;
/** Not a kernel code: the folio is locked or under writeback and a synchronous mode must wait. */
const MIGRATEPAGE_WAIT = 2;
/**
 * Not a kernel code: the destination's first tries failed and its allocation may block, so the
 * slow path's blocking steps (`NewFolioFn.slowpath`) must run before the folio is tried again.
 */
const MIGRATEPAGE_ALLOC = 3;

/** Kept in the destination's `private` between unmap and move (`PAGE_WAS_MAPPED`). */
const PAGE_WAS_MAPPED = 1;
/** `PAGE_WAS_MLOCKED`. */
const PAGE_WAS_MLOCKED = 2;

/**
 * Flags that follow a folio to its new place (`folio_migrate_flags`). Not `PG_mlocked`: the new
 * folio is mlocked again as `remove_migration_ptes()` maps it into each locked VMA.
 */
const MIGRATE_FLAGS =
  PG_uptodate |
  PG_referenced |
  PG_active |
  PG_unevictable |
  PG_swapbacked |
  PG_private |
  PG_readahead;

/**
 * `folio_expected_ref_count()` (`include/linux/mm.h`): the references a folio holds for its
 * mappings, its page-cache entries and its private data. Anything above this (plus the caller's
 * isolation reference) is a pin, and migration must not proceed.
 *
 * @category Page migration
 */
export const folioExpectedRefCount = (k: Kernel, head: number): number => {
  const m = k.memmap;
  const cache = m.mapping[head]! > 0 ? m.folioNrPages(head) : 0;
  return m.folioMapcount(head) + cache + (m.test(head, PG_private) ? 1 : 0);
};

/**
 * The (destination, source) head-PFN pairs of a batch, walking both lists in lockstep as a
 * migrator's `offload_copy` does (`list_first_entry()` / `list_next_entry()` on both,
 * `include/linux/list.h`). A helper of the model for migrator authors, with no kernel symbol: it
 * is the walk of `folios_mc_copy()` (`mm/util.c` in v4) and dcbm's `folios_copy_dma()`
 * (`drivers/migrate_offload/dcbm/dcbm.c`), as `struct migrator`
 * (`include/linux/migrate_copy_offload.h`) callbacks do it.
 *
 * @category Copy offload
 */
export const batchPairs = (dst: FolioList, src: FolioList): Array<readonly [number, number]> => {
  const pairs: Array<readonly [number, number]> = [];
  let d = dst.first;
  for (const s of src) {
    pairs.push([d, s]);
    d = dst.next(d);
  }
  return pairs;
};

/**
 * Marks a destination folio `FOLIO_CONTENT_COPIED`: call it right after its copy succeeded. The
 * marking step of the v6 series (`include/linux/migrate_copy_offload.h`), which sets the marker in
 * the destination's migration state; the model has no separate name for the kernel's setter.
 *
 * @category Copy offload
 */
export const folioMarkContentCopied = (k: Kernel, dst: number): void => {
  k.memmap.set(dst, FOLIO_CONTENT_COPIED);
};

/**
 * `migrate_folios_mc_copy()` (`folios_mc_copy()` in v4, `mm/util.c`, declared in
 * `include/linux/mm.h`): the default batch copy. Walks the destination and source lists in
 * lockstep, copying each folio with `folio_mc_copy()` (`mm/util.c`) and marking each destination
 * `FOLIO_CONTENT_COPIED` right after its copy succeeds. Stops at the first failure and returns
 * its errno; the folios not reached stay unmarked and fall back.
 *
 * @category Copy offload
 */
export const migrateFoliosMcCopy = (k: Kernel, dst: FolioList, src: FolioList): number => {
  const m = k.memmap;
  let d = dst.first;
  for (const s of src) {
    const rc = folioMcCopy(k, d, s);
    if (rc !== 0) return rc;
    m.set(d, FOLIO_CONTENT_COPIED);
    d = dst.next(d);
  }
  return 0;
};

/**
 * The `slowpath` of a destination allocator ({@link NewFolioFn}) for the allocation `req` made in
 * `current`: `__alloc_pages_slowpath()`'s blocking steps (`Kernel.allocPagesSlowpath()`) giving
 * the destination's PFN or -1; null when `req` may not block (no `__GFP_DIRECT_RECLAIM`).
 *
 * @category Page migration
 */
export const allocTargetSlowpath = (
  k: Kernel,
  req: AllocRequest,
  current: AllocContext | null,
): Effect.Effect<number, ErrnoError> | null =>
  req.gfp & __GFP_DIRECT_RECLAIM
    ? Effect.map(
        // Built right after the destination allocator's first tries failed: their injected
        // failure, if any, fails this allocation whole.
        k.allocPagesSlowpath(k.pageAlloc.slowpathRequest(req), current),
        (r) => r.page,
      )
    : null;

/** The state of one `migrate_pages()` call, shared by its batches. */
interface MigrateCall {
  readonly k: Kernel;
  readonly getNewFolio: NewFolioFn;
  readonly putNewFolio: FreeFolioFn | null;
  readonly reason: MigrateReason;
  readonly errors: Map<number, number> | null;
  /** The copier the caller named for this call, or null for the active one. */
  readonly copier: BatchCopier | null;
  /** The task that initiated the migration, charged for offloaded copies. */
  readonly caller: Task | null;
  /**
   * Linux's `current` while the call runs, whose `PF_MEMALLOC` the source's lock reads; null
   * for a task without it.
   */
  readonly current: AllocContext | null;
  /** The folio a synchronous mode must wait for, and the flag. */
  waitOn: number;
  waitBit: number;
  /**
   * The source whose destination was allocated before a wait, as the kernel holds it across
   * `folio_lock()` / `folio_wait_writeback()`: -1 for none. With it, the destination and whether
   * the source is still locked by this call.
   */
  heldSrc: number;
  heldDst: number;
  heldLocked: boolean;
  /** The slow path a source's destination waits for (`NewFolioFn.slowpath`), or null. */
  slowAlloc: Effect.Effect<number, ErrnoError> | null;
  /** The source whose slow path ran last and gave nothing: -1 for none. */
  slowFailed: number;
  /** Set by {@link takeDst}: whether the source it took a destination for is locked already. */
  takenLocked: boolean;
  /** Where `migrate_folio_unmap()` returns a destination (one per call, not one per batch). */
  readonly out: Int32Array;
}

/** A call's state before its first folio: nothing waited for, nothing held. */
const newMigrateCall = (
  k: Kernel,
  getNewFolio: NewFolioFn,
  putNewFolio: FreeFolioFn | null,
  reason: MigrateReason,
  extra: Pick<MigrateCall, "errors" | "copier" | "caller" | "current">,
): MigrateCall => ({
  k,
  getNewFolio,
  putNewFolio,
  reason,
  ...extra,
  waitOn: -1,
  waitBit: 0,
  heldSrc: -1,
  heldDst: -1,
  heldLocked: false,
  slowAlloc: null,
  slowFailed: -1,
  takenLocked: false,
  out: new Int32Array(1),
});

/**
 * 1 for a PMD-sized THP, which bumps the `nr_thp_*` stats and the `thp_migration_*` counters:
 * `folio_test_pmd_mappable()` (`include/linux/huge_mm.h`) as `migrate_pages_batch()`
 * (`mm/migrate.c`) tests it. Smaller large folios count only in `nr_split` and the page counts.
 */
const isThp = (k: Kernel, head: number): number =>
  k.memmap.folioOrder(head) >= k.pmdOrder && !k.memmap.test(head, PG_hugetlb) ? 1 : 0;

/**
 * Records that a synchronous mode must wait for `bit` to clear on `src` (for `PG_locked`, to take
 * the lock: `folio_lock()`), holding the destination `dst` (and the source's lock when `locked`)
 * across the wait, and says so.
 */
const mustWait = (
  c: MigrateCall,
  src: number,
  bit: number,
  dst: number,
  locked: boolean,
): number => {
  releaseHeld(c);
  c.waitOn = src;
  c.waitBit = bit;
  c.heldSrc = src;
  c.heldDst = dst;
  c.heldLocked = locked;
  return MIGRATEPAGE_WAIT;
};

/**
 * The destination for `src`: the one held across a wait for it (or got by the slow path), else a
 * new one from `get_new_folio()` (-1 when none); `c.takenLocked` says whether the source is
 * already locked by this call (a field, not a returned pair: this runs for every folio). When the
 * first tries fail and the allocation may block, `allowSlow` leaves the slow path in
 * `c.slowAlloc` (with -1: the destination waits for it); when that slow path gave nothing, the
 * next call for `src` is -1 with none (one allocation, as Linux makes one `__alloc_pages()`).
 */
const takeDst = (c: MigrateCall, src: number, allowSlow = false): number => {
  if (c.heldSrc !== src) {
    c.takenLocked = false;
    // The slow path ran for this very allocation and gave nothing: it failed.
    if (c.slowFailed === src) {
      c.slowFailed = -1;
      return -1;
    }
    const dst = c.getNewFolio(src);
    if (dst >= 0 || !allowSlow) return dst;
    c.slowAlloc = c.getNewFolio.slowpath?.(src) ?? null;
    return dst;
  }
  c.heldSrc = -1;
  c.takenLocked = c.heldLocked;
  return c.heldDst;
};

/**
 * Runs the slow path a source's destination waits for ({@link MIGRATEPAGE_ALLOC}): the page it
 * got is held for `src`'s next try, as a destination held across a wait is. An error there would
 * be the model's fault (the slow path's steps fail only on bad arguments): a defect.
 */
const runSlowAlloc = (c: MigrateCall, src: number): Effect.Effect<void> =>
  Effect.suspend(() => {
    const slow = c.slowAlloc;
    c.slowAlloc = null;
    if (!slow) return Effect.void;
    // The page it got is held in the same step as it comes: an interruption right after the
    // allocation finds it held, and the call's end gives it back.
    return Effect.uninterruptibleMask((restore) =>
      Effect.map(restore(Effect.orDie(slow)), (dst) => {
        if (dst < 0) {
          c.slowFailed = src;
          return;
        }
        releaseHeld(c);
        c.heldSrc = src;
        c.heldDst = dst;
        c.heldLocked = false;
      }),
    );
  });

/**
 * What a pass that stopped at `src` with `rc` needs before it starts over: the wait for
 * `c.waitOn` ({@link MIGRATEPAGE_WAIT}), or the slow path of `src`'s destination
 * ({@link MIGRATEPAGE_ALLOC}, {@link runSlowAlloc}). A locked source is waited for in
 * `folio_lock()` (`migrate_folio_unmap()`, `unmap_and_move_huge_page()`), queued behind the
 * lockers before it: the unlock that reaches it hands it the lock, which the retry then holds.
 */
const waitOrSlowAlloc = (c: MigrateCall, rc: number, src: number): Effect.Effect<void> => {
  if (rc !== MIGRATEPAGE_WAIT) return runSlowAlloc(c, src);
  if (c.waitBit !== PG_locked) return c.k.folioWaiters.waitBit(c.waitOn, c.waitBit);
  return Effect.uninterruptible(
    Effect.map(folioLock(c.k, c.waitOn), () => {
      c.heldLocked = true;
    }),
  );
};

/**
 * Gives back a destination held across a wait whose source was not retried, and the source's lock
 * when this call holds it: also what an interrupted call does with what it held across its wait
 * (`migrate_folio_undo_src()` / `migrate_folio_undo_dst()`).
 */
const releaseHeld = (c: MigrateCall): void => {
  if (c.heldSrc < 0) return;
  if (c.heldLocked) folioUnlock(c.k, c.heldSrc);
  c.heldSrc = -1;
  undoDst(c, c.heldDst);
};

/** Restores the source after a failure (`migrate_folio_undo_src`). */
const undoSrc = (c: MigrateCall, src: number, wasMapped: boolean, ret: FolioList | null): void => {
  if (wasMapped) removeMigrationPtes(c.k, src, src);
  folioUnlock(c.k, src);
  if (ret) ret.moveTail(src);
};

/** Releases an unused destination (`migrate_folio_undo_dst`). */
const undoDst = (c: MigrateCall, dst: number): void => {
  c.k.memmap.private[dst] = 0;
  c.k.memmap.clear(dst, FOLIO_CONTENT_COPIED);
  folioUnlock(c.k, dst);
  if (c.putNewFolio) c.putNewFolio(dst);
  else folioPut(c.k, dst);
};

/** Drops the isolation reference of a migrated source (`migrate_folio_done`). */
const migrateFolioDone = (c: MigrateCall, src: number): void => {
  if (c.reason !== MR_MEMORY_FAILURE) folioPut(c.k, src);
};

/**
 * `migrate_folio_unmap()`: locks the source, allocates the destination and unmaps the source.
 * Returns `MIGRATEPAGE_UNMAP` with `out[0]` set to the destination, `MIGRATEPAGE_SUCCESS` when the
 * folio was freed meanwhile, `MIGRATEPAGE_WAIT` when a synchronous mode must wait first, or a
 * negative errno. A permanent failure moves the source to `ret`.
 */
const migrateFolioUnmap = (
  c: MigrateCall,
  mode: MigrateMode,
  src: number,
  ret: FolioList,
  tlb: TlbFlushBatch,
  out: Int32Array,
): number => {
  const { k } = c;
  const m = k.memmap;
  if (m.refcount[src] === 1 && !pageHasMovableOps(k, src)) {
    // Freed from under us: only our isolation reference is left. A movable_ops page is its
    // owner's until freed, and goes to its owner's callback instead.
    if (c.heldSrc === src) releaseHeld(c);
    m.lru.del(src);
    migrateFolioDone(c, src);
    return MIGRATEPAGE_SUCCESS;
  }
  // The destination comes first, before the source's lock.
  const dst = takeDst(c, src, true);
  if (dst < 0) return c.slowAlloc ? MIGRATEPAGE_ALLOC : -ERRNO.ENOMEM;
  if (!c.takenLocked && !folioTrylock(k, src)) {
    // Never folio_lock() in a task with PF_MEMALLOC (direct compaction): the folio may be one
    // the task itself holds locked further up, for a read it is allocating for. In
    // MIGRATE_SYNC_LIGHT, never wait for a read to complete either.
    if (
      mode === MIGRATE_ASYNC ||
      (c.current !== null && c.current.flags & PF_MEMALLOC) ||
      (mode === MIGRATE_SYNC_LIGHT && !m.test(src, PG_uptodate))
    ) {
      undoDst(c, dst);
      return -ERRNO.EAGAIN;
    }
    return mustWait(c, src, PG_locked, dst, false);
  }
  if (m.test(src, PG_writeback)) {
    // Only MIGRATE_SYNC waits for writeback, holding the lock and the destination.
    if (mode === MIGRATE_SYNC) return mustWait(c, src, PG_writeback, dst, true);
    undoSrc(c, src, false, ret);
    undoDst(c, dst);
    return -ERRNO.EBUSY;
  }
  m.private[dst] = 0;
  folioTrylock(k, dst);
  if (pageHasMovableOps(k, src)) {
    // Mapped by nobody: nothing to unmap; its owner moves it (`migrate_movable_ops_page()`).
    m.private[dst] = m.test(src, PG_mlocked) ? PAGE_WAS_MLOCKED : 0;
    out[0] = dst;
    return MIGRATEPAGE_UNMAP;
  }
  let wasMapped = false;
  // Before the unmap, which munlocks the folio from each locked VMA (munlock_vma_folio()).
  const wasMlocked = m.test(src, PG_mlocked) ? PAGE_WAS_MLOCKED : 0;
  if (m.mapping[src] === 0) {
    if (m.test(src, PG_private)) {
      undoSrc(c, src, false, null);
      undoDst(c, dst);
      return -ERRNO.EAGAIN;
    }
  } else if (m.folioMapped(src)) {
    // try_to_migrate_one() removes PTEs one at a time: a large anonymous folio is partially
    // mapped on the way and __folio_remove_rmap() queues it for deferred split.
    if (tryToMigrate(k, src, mode === MIGRATE_ASYNC ? TTU_BATCH_FLUSH : 0, tlb)) {
      deferredSplitFolio(k, src, true);
    }
    wasMapped = true;
  }
  if (!m.folioMapped(src)) {
    m.private[dst] = (wasMapped ? PAGE_WAS_MAPPED : 0) | wasMlocked;
    out[0] = dst;
    return MIGRATEPAGE_UNMAP;
  }
  undoSrc(c, src, wasMapped, null);
  undoDst(c, dst);
  return -ERRNO.EAGAIN;
};

/**
 * `__folio_migrate_mapping()` + `folio_migrate_flags()`: the new folio takes the old one's place,
 * its flags and its last cpupid (the old folio's reset; none across memory tiers in memory tiering
 * mode).
 */
const migrateMappingAndFlags = (
  k: Kernel,
  cache: AddressSpace | undefined,
  dst: number,
  src: number,
): void => {
  const m = k.memmap;
  m.mapping[dst] = m.mapping[src]!;
  m.index[dst] = m.index[src]!;
  // A new anonymous large folio: its size's nr_anon (hugetlb folios are not counted).
  if (m.mapping[src]! < 0 && !m.test(src, PG_hugetlb))
    k.thp.modMthpStat(m.folioOrder(dst), "nr_anon", 1);
  if (cache) filemapReplaceFolio(k, cache, src, dst);
  if (m.testAndClear(src, PG_dirty)) m.set(dst, PG_dirty);
  m.set(dst, m.flags[src]! & MIGRATE_FLAGS);
  m.clear(src, PG_active | PG_unevictable | PG_private);
  // NUMA balancing's last fault goes with the folio, so that it does not move again at once; in
  // memory tiering mode not across tiers, where the field holds a slow-tier access time.
  let cpupid = folioXchgLastCpupid(m, src, -1);
  if (k.numaBalancing.mode & NUMA_BALANCING_MEMORY_TIERING) {
    const tiers = k.memoryTiers;
    if (tiers.nodeIsToptier(k.mem.pfnToNid(src)) !== tiers.nodeIsToptier(k.mem.pfnToNid(dst)))
      cpupid = -1;
  }
  folioXchgLastCpupid(m, dst, cpupid);
};

/**
 * `__migrate_folio()`: checks the references, copies unless the destination is marked
 * `FOLIO_CONTENT_COPIED` (consuming the marker), then moves mapping and flags.
 */
const migrateFolio = (
  k: Kernel,
  cache: AddressSpace | undefined,
  dst: number,
  src: number,
): number => {
  const m = k.memmap;
  const copied = m.testAndClear(dst, FOLIO_CONTENT_COPIED);
  if (m.refcount[src] !== folioExpectedRefCount(k, src) + 1) return -ERRNO.EAGAIN;
  if (!copied) {
    const rc = folioMcCopy(k, dst, src);
    if (rc !== 0) return rc;
  }
  migrateMappingAndFlags(k, cache, dst, src);
  return 0;
};

/**
 * `fallback_migrate_folio()`: for a filesystem without `migrate_folio` (Linux 6.16 and later,
 * after `writeout()` was removed). A dirty folio cannot be moved: `EBUSY` in every mode. A folio
 * with private data the filesystem will not release cannot either: `EAGAIN` in `MIGRATE_SYNC`,
 * `EBUSY` otherwise (`filemap_release_folio()`; the model's filesystems keep none).
 */
const fallbackMigrateFolio = (
  k: Kernel,
  cache: AddressSpace,
  mode: MigrateMode,
  dst: number,
  src: number,
): number => {
  if (k.memmap.test(src, PG_dirty)) return -ERRNO.EBUSY;
  if (k.memmap.test(src, PG_private)) return mode === MIGRATE_SYNC ? -ERRNO.EAGAIN : -ERRNO.EBUSY;
  return migrateFolio(k, cache, dst, src);
};

/** `move_to_new_folio()`: copies and transfers the folio to `dst`. */
const moveToNewFolio = (k: Kernel, mode: MigrateMode, dst: number, src: number): number => {
  const m = k.memmap;
  const mapping = m.mapping[src]!;
  if (mapping <= 0) return migrateFolio(k, undefined, dst, src);
  const cache = k.addressSpaces.get(mapping)!;
  const rc = cache.migrateFolio
    ? migrateFolio(k, cache, dst, src)
    : fallbackMigrateFolio(k, cache, mode, dst, src);
  if (rc === 0) m.mapping[src] = 0;
  return rc;
};

/**
 * `migrate_folio_move()`: moves an unmapped source to its destination and maps the destination
 * where the source was. On `-EAGAIN` both stay on their lists for the next pass; on another
 * failure the source is restored and moved to `ret`.
 */
const migrateFolioMove = (
  c: MigrateCall,
  mode: MigrateMode,
  src: number,
  dst: number,
  ret: FolioList,
): number => {
  const { k } = c;
  const m = k.memmap;
  const state = m.private[dst]!;
  if (pageHasMovableOps(k, src)) return movableOpsFolioMove(c, mode, src, dst, state, ret);
  const rc = moveToNewFolio(k, mode, dst, src);
  if (rc === -ERRNO.EAGAIN) return rc;
  m.lru.del(dst);
  if (rc !== 0) {
    undoSrc(c, src, (state & PAGE_WAS_MAPPED) !== 0, ret);
    undoDst(c, dst);
    return rc;
  }
  m.private[dst] = 0;
  if (m.test(dst, PG_hugetlb)) k.hugetlbActive.add(dst);
  else k.lru.folioAddLru(dst);
  if (state & PAGE_WAS_MAPPED) removeMigrationPtes(k, src, dst);
  return migrateFolioMoveDone(c, src, dst);
};

/** The end of a successful `migrate_folio_move()` (`out_unlock_both`): both references drop. */
const migrateFolioMoveDone = (c: MigrateCall, src: number, dst: number): number => {
  const { k } = c;
  folioUnlock(k, dst);
  folioPut(k, dst);
  k.memmap.lru.del(src);
  folioUnlock(k, src);
  migrateFolioDone(c, src);
  return 0;
};

/**
 * The movable_ops branch of `migrate_folio_move()`: the destination leaves its list
 * (`__migrate_folio_extract()`), the owner's `migrate_page` moves the page
 * (`migrate_movable_ops_page()`), and the destination goes back to its place for an `-EAGAIN`
 * retry or is freed, with the source moved to `ret`, on another failure.
 */
const movableOpsFolioMove = (
  c: MigrateCall,
  mode: MigrateMode,
  src: number,
  dst: number,
  state: number,
  ret: FolioList,
): number => {
  const { k } = c;
  const m = k.memmap;
  const prev = m.lru.prev[dst]! - 1;
  const next = m.lru.next[dst]! - 1;
  m.lru.del(dst);
  m.private[dst] = 0;
  const rc = migrateMovableOpsPage(k, dst, src, mode);
  if (rc === 0) return migrateFolioMoveDone(c, src, dst);
  if (rc === -ERRNO.EAGAIN) {
    m.lru.insertBetween(dst, prev, next);
    m.private[dst] = state;
    return rc;
  }
  undoSrc(c, src, false, ret);
  undoDst(c, dst);
  return rc;
};

/**
 * The batch `migrate_pages_batch()` is about to form from `from`, as a migrator's `shouldBatch`
 * sees it: every folio on the list and their bytes (the folios that fail to unmap or are not
 * eligible leave it smaller).
 */
const batchOf = (k: Kernel, from: FolioList): CopyBatch => {
  const m = k.memmap;
  let folios = 0;
  let pages = 0;
  for (let f = from.first; f >= 0; f = from.next(f)) {
    folios++;
    pages += m.folioNrPages(f);
  }
  return { folios, bytes: pages * k.mem.pageSize, pageSize: k.mem.pageSize };
};

/** Folio order for the batch-eligibility test: the v6 three conditions. */
const batchEligible = (k: Kernel, src: number): boolean =>
  !pageHasMovableOps(k, src) && k.memmap.refcount[src] === folioExpectedRefCount(k, src) + 1;

/** The counters `migrate_folios_move()` updates through its pointer arguments. */
interface MoveCounts {
  retry: number;
  thpRetry: number;
  nrFailed: number;
  nrRetryPages: number;
}

/**
 * `migrate_folios_move()` (`mm/migrate.c`): one move pass over a source list and its
 * destinations, in lockstep, counting each folio's outcome.
 */
const migrateFoliosMove = (
  c: MigrateCall,
  mode: MigrateMode,
  srcs: FolioList,
  dsts: FolioList,
  ret: FolioList,
  stats: MigratePagesStats,
  counts: MoveCounts,
): void => {
  const { k } = c;
  const m = k.memmap;
  let dst = dsts.first;
  for (const folio of srcs) {
    const nextDst = dsts.next(dst);
    const thp = isThp(k, folio);
    const nrPages = m.folioNrPages(folio);
    const rc = migrateFolioMove(c, mode, folio, dst, ret);
    if (rc === 0) {
      stats.nrSucceeded += nrPages;
      stats.nrThpSucceeded += thp;
    } else if (rc === -ERRNO.EAGAIN) {
      counts.retry++;
      counts.thpRetry += thp;
      counts.nrRetryPages += nrPages;
    } else {
      counts.nrFailed++;
      stats.nrThpFailed += thp;
      stats.nrFailedPages += nrPages;
      c.errors?.set(folio, rc);
    }
    dst = nextDst;
  }
};

/**
 * `migrate_folios_undo()` (`mm/migrate.c`): undoes what is left, folios that kept failing with
 * `-EAGAIN`; they go back unharmed.
 */
const migrateFoliosUndo = (
  c: MigrateCall,
  srcs: FolioList,
  dsts: FolioList,
  ret: FolioList,
): void => {
  const m = c.k.memmap;
  let dst = dsts.first;
  for (const folio of srcs) {
    const nextDst = dsts.next(dst);
    c.errors?.set(folio, -ERRNO.EAGAIN);
    dsts.del(dst);
    undoSrc(c, folio, (m.private[dst]! & PAGE_WAS_MAPPED) !== 0, ret);
    undoDst(c, dst);
    dst = nextDst;
  }
};

/**
 * One `migrate_pages_batch()` in progress: its arguments, the lists it forms and the counts of its
 * unmap passes, kept across a synchronous-mode wait or a destination's slow path.
 */
interface BatchCall {
  readonly c: MigrateCall;
  readonly from: FolioList;
  readonly mode: MigrateMode;
  readonly ret: FolioList;
  readonly split: FolioList | null;
  readonly stats: MigratePagesStats;
  readonly nrPass: number;
  readonly srcBatch: FolioList;
  readonly dstBatch: FolioList;
  readonly srcStd: FolioList;
  readonly dstStd: FolioList;
  readonly tlb: TlbFlushBatch;
  readonly offload: BatchCopier | null;
  /** The batch `shouldBatch` was asked about, handed on to the copy and to `batchDone`. */
  readonly batch: CopyBatch | undefined;
  /** Whether the migrator takes this batch (its `shouldBatch`). */
  readonly doBatch: boolean;
  /** Whether the migrator's copy completed with 0. */
  copied: boolean;
  /**
   * Whether the move passes (or the undo of an interruption) have run and released the lists:
   * an interruption seen later finds nothing to undo.
   */
  finished: boolean;
  nrBatch: number;
  pass: number;
  retry: number;
  thpRetry: number;
  nrFailed: number;
  nrRetryPages: number;
  rcSaved: number;
  lowMemory: boolean;
  /** The folio the unmap passes stopped at for a wait or its destination's slow path. */
  slowSrc: number;
}

/**
 * The unmap passes of `migrate_pages_batch()`: unmaps the folios of `from` into the batch and
 * single lists, counting each folio that cannot be unmapped. Returns {@link MIGRATEPAGE_WAIT}
 * when a synchronous mode must wait for `b.c.waitOn` first, or {@link MIGRATEPAGE_ALLOC} when the
 * destination of `b.slowSrc` must take its slow path first, with the pass to start over after
 * either; {@link MIGRATEPAGE_SUCCESS} when done.
 */
const unmapPasses = (b: BatchCall): number => {
  const { c, from, mode, ret, split, stats } = b;
  const { k } = c;
  const m = k.memmap;
  const nosplit = c.reason === MR_NUMA_MISPLACED;
  for (; b.pass < b.nrPass && b.retry; b.pass++) {
    b.retry = 0;
    b.thpRetry = 0;
    b.nrRetryPages = 0;
    for (const folio of from) {
      const thp = isThp(k, folio);
      const nrPages = m.folioNrPages(folio);
      // The rare folio on the deferred split queue that is partially mapped is split now,
      // counted as a failure, its pages migrated with the other split folios (Linux 6.10 and
      // later; 6.12+ checks folio_test_partially_mapped(): a THP queued at fault is not split).
      if (
        nrPages > 2 &&
        split &&
        k.deferredSplitQueue.has(folio) &&
        m.test(folio, PG_partially_mapped)
      ) {
        if (splitFolio(k, folio, split) === 0) {
          b.nrFailed++;
          stats.nrThpFailed += thp;
          stats.nrThpSplit += thp;
          stats.nrSplit++;
          continue;
        }
      }
      const rc = migrateFolioUnmap(c, mode, folio, ret, b.tlb, c.out);
      if (rc === MIGRATEPAGE_WAIT || rc === MIGRATEPAGE_ALLOC) {
        // The same pass starts over once the folio is woken or its destination allocated.
        b.retry = 1;
        b.slowSrc = folio;
        return rc;
      }
      if (rc === MIGRATEPAGE_UNMAP) {
        const dst = c.out[0]!;
        if (b.doBatch && batchEligible(k, folio)) {
          b.srcBatch.moveTail(folio);
          b.dstBatch.addTail(dst);
          b.nrBatch++;
        } else {
          b.srcStd.moveTail(folio);
          b.dstStd.addTail(dst);
        }
      } else if (rc === MIGRATEPAGE_SUCCESS) {
        stats.nrSucceeded += nrPages;
        stats.nrThpSucceeded += thp;
      } else if (rc === -ERRNO.EAGAIN) {
        b.retry++;
        b.thpRetry += thp;
        b.nrRetryPages += nrPages;
      } else if (rc === -ERRNO.ENOMEM) {
        b.nrFailed++;
        stats.nrThpFailed += thp;
        if (m.folioOrder(folio) > 0 && !nosplit) {
          const splitRc = split ? splitFolio(k, folio, split) : -ERRNO.EBUSY;
          if (splitRc === 0) {
            stats.nrThpSplit += thp;
            stats.nrSplit++;
            continue;
          }
          if (c.reason === MR_LONGTERM_PIN && splitRc === -ERRNO.EAGAIN) {
            b.retry++;
            b.thpRetry += thp;
            b.nrRetryPages += nrPages;
            b.nrFailed--;
            stats.nrThpFailed -= thp;
            continue;
          }
        }
        stats.nrFailedPages += nrPages + b.nrRetryPages;
        stats.nrThpFailed += b.thpRetry;
        c.errors?.set(folio, rc);
        b.rcSaved = rc;
        b.lowMemory = true;
        return MIGRATEPAGE_SUCCESS;
      } else {
        b.nrFailed++;
        stats.nrThpFailed += thp;
        stats.nrFailedPages += nrPages;
        c.errors?.set(folio, rc);
      }
    }
  }
  return MIGRATEPAGE_SUCCESS;
};

/**
 * The end of `migrate_pages_batch()`, after the unmap passes and the batch copy: the move passes
 * over both lists, retrying `-EAGAIN`, then the undo of what is left. Returns the call's result.
 */
const movePasses = (b: BatchCall): number => {
  const { c, mode, ret, stats, nrPass } = b;
  const counts: MoveCounts = { retry: 1, thpRetry: 0, nrFailed: b.nrFailed, nrRetryPages: 0 };
  for (let pass = 0; pass < nrPass && counts.retry; pass++) {
    counts.retry = 0;
    counts.thpRetry = 0;
    counts.nrRetryPages = 0;
    migrateFoliosMove(c, mode, b.srcBatch, b.dstBatch, ret, stats, counts);
    migrateFoliosMove(c, mode, b.srcStd, b.dstStd, ret, stats, counts);
  }
  const nrFailed = counts.nrFailed + counts.retry;
  stats.nrThpFailed += counts.thpRetry;
  stats.nrFailedPages += counts.nrRetryPages;
  migrateFoliosUndo(c, b.srcBatch, b.dstBatch, ret);
  migrateFoliosUndo(c, b.srcStd, b.dstStd, ret);
  // From here the batch is over: an interruption seen after this returns has nothing to undo.
  b.finished = true;
  b.srcBatch.release();
  b.dstBatch.release();
  b.srcStd.release();
  b.dstStd.release();
  return b.rcSaved || nrFailed;
};

/**
 * A result known now, or the effect that gives it when the work must suspend first (a wait, a
 * destination's slow path, a migrator's copy). Batches that need neither run as plain code, with
 * no effect made for them.
 */
type Step = number | Effect.Effect<number>;

/** The effect of a {@link Step}. */
const stepEffect = (step: Step): Effect.Effect<number> =>
  typeof step === "number" ? Effect.succeed(step) : step;

/**
 * `migrate_pages_batch()` from its unmap passes on: waits (in a synchronous mode) or runs a
 * destination's slow path and starts the pass over as often as a folio needs it, then flushes the
 * TLBs, copies the batch through the migrator and moves. Only a wait, a slow path and a
 * migrator's copy suspend; everything else runs in one synchronous step, whose result is returned
 * as it is.
 */
const runBatch = (b: BatchCall): Step => {
  const { c } = b;
  const rc = unmapPasses(b);
  if (rc === MIGRATEPAGE_WAIT || rc === MIGRATEPAGE_ALLOC) {
    return Effect.flatMap(waitOrSlowAlloc(c, rc, b.slowSrc), () => stepEffect(runBatch(b)));
  }
  releaseHeld(c);
  if (!b.lowMemory) {
    b.nrFailed += b.retry;
    b.stats.nrThpFailed += b.thpRetry;
    b.stats.nrFailedPages += b.nrRetryPages;
    if (b.retry) for (const folio of b.from) c.errors?.set(folio, -ERRNO.EAGAIN);
  }
  b.tlb.flush();
  if (b.srcBatch.isEmpty) return movePasses(b);
  // The copy is not cut short: a DMA engine or copy thread may still be writing a destination
  // (dcbm and mtcopy wait for their copies uninterruptibly, `wait_for_completion()`,
  // `flush_work()`). An interruption meanwhile takes effect once it is over: the batch is then
  // undone ({@link undoInterruptedBatch}) instead of moved.
  return Effect.map(
    Effect.uninterruptible(b.offload!.copy(b.dstBatch, b.srcBatch, b.nrBatch, c.caller, b.batch)),
    (rc) => {
      b.copied = rc === 0;
      return movePasses(b);
    },
  );
};

/**
 * What an interrupted `migrate_pages_batch()` leaves: the destination held across its wait is
 * given back with the source's lock ({@link releaseHeld}), the TLBs are flushed, and every folio
 * it had unmapped (for the batch or the single list) is restored, unlocked and put on `ret` with
 * its destination freed, as `migrate_folios_undo()` does for folios that kept failing. Nothing
 * stays locked, unmapped or allocated.
 */
const undoInterruptedBatch = (b: BatchCall): void => {
  if (b.finished) return;
  b.finished = true;
  const { c } = b;
  releaseHeld(c);
  c.slowAlloc = null;
  b.tlb.flush();
  migrateFoliosUndo(c, b.srcBatch, b.dstBatch, b.ret);
  migrateFoliosUndo(c, b.srcStd, b.dstStd, b.ret);
  b.srcBatch.release();
  b.dstBatch.release();
  b.srcStd.release();
  b.dstStd.release();
};

/**
 * The body of `migrate_pages_batch()` for a call whose arguments are known to be good; see
 * {@link migratePagesBatch}. Runs at once: the result, or the effect that finishes the batch
 * after a suspension.
 */
const batchStep = (
  c: MigrateCall,
  from: FolioList,
  mode: MigrateMode,
  ret: FolioList,
  split: FolioList | null,
  stats: MigratePagesStats,
  nrPass: number,
): Step => {
  const { k } = c;
  const space = k.memmap.lru;
  const offload = c.copier ?? k.migrateOffload.copier;
  // The migrator sees the batch about to be formed, so that one it would decline never
  // enters the batch flow: its folios take the per-folio copy, exactly as with no migrator.
  const batch = offload ? batchOf(k, from) : undefined;
  const start = offload?.batchDone ? performance.now() : 0;
  const b: BatchCall = {
    c,
    from,
    mode,
    ret,
    split,
    stats,
    nrPass,
    srcBatch: new FolioList(space),
    dstBatch: new FolioList(space),
    srcStd: new FolioList(space),
    dstStd: new FolioList(space),
    tlb: new TlbFlushBatch(),
    offload,
    batch,
    doBatch: offload && batch ? offload.shouldBatch(c.reason, batch) === true : false,
    copied: false,
    finished: false,
    nrBatch: 0,
    pass: 0,
    retry: 1,
    thpRetry: 0,
    nrFailed: 0,
    nrRetryPages: 0,
    rcSaved: 0,
    lowMemory: false,
    slowSrc: -1,
  };
  const ran = runBatch(b);
  // A batch that suspends can be interrupted there, holding folios: it undoes them.
  const step =
    typeof ran === "number"
      ? ran
      : Effect.onInterrupt(ran, () => Effect.sync(() => undoInterruptedBatch(b)));
  if (!(offload?.batchDone && batch)) return step;
  // The migrator hears how the batch ended, and how long it took, whoever copied it; an
  // interrupted batch too, so that what was decided for it is over. A batch that ran as plain
  // code (every declined one) reports with no closure made for it.
  if (typeof step === "number") {
    batchDone(b, start, false);
    return step;
  }
  return Effect.onExit(step, (exit) =>
    Effect.sync(() => batchDone(b, start, !Exit.isSuccess(exit))),
  );
};

/**
 * Tells the migrator of `b` how its batch ended: whether it was batched and copied, its wall
 * time since `start` (`performance.now()`, ms) in ns, and `interrupted` when it ended without
 * its result.
 */
const batchDone = (b: BatchCall, start: number, interrupted: boolean): void => {
  const ns = (performance.now() - start) * 1e6;
  const batch = b.batch!;
  b.offload!.batchDone?.(
    interrupted
      ? { batch, batched: b.doBatch, copied: b.copied, ns, interrupted }
      : { batch, batched: b.doBatch, copied: b.copied, ns },
  );
};

/** One `migrate_pages_sync()` call: its arguments, the list it retries on and its failures. */
interface SyncCall {
  readonly c: MigrateCall;
  readonly from: FolioList;
  /** Where each folio retried one at a time goes for its own batch. */
  readonly folios: FolioList;
  readonly mode: MigrateMode;
  readonly ret: FolioList;
  readonly split: FolioList;
  readonly stats: MigratePagesStats;
  nrFailed: number;
}

/**
 * The second half of `migrate_pages_sync()`: each folio left on `from`, moved to `folios` and
 * migrated by a `migrate_pages_batch()` of its own in the caller's synchronous mode, then put on
 * `ret` when it is still there. Gives `nrFailed` plus the folios not migrated, or the first
 * negative errno; the rest runs as an effect from the first batch that suspends. A function of
 * its own, not a closure: one is made per batch.
 */
const syncOneByOne = (s: SyncCall): Step => {
  while (!s.from.isEmpty) {
    s.folios.moveTail(s.from.first);
    const one = batchStep(
      s.c,
      s.folios,
      s.mode,
      s.ret,
      s.split,
      s.stats,
      NR_MAX_MIGRATE_SYNC_RETRY,
    );
    if (typeof one !== "number") {
      return Effect.flatMap(one, (rc) => stepEffect(syncOneDone(s, rc) ?? syncOneByOne(s)));
    }
    const end = syncOneDone(s, one);
    if (end !== null) return end;
  }
  return s.nrFailed;
};

/**
 * A folio's own batch gave `one`: the folio goes to `ret` if it is still there, and the call
 * ends with a negative errno (returned) or goes on (null) with the failures added up.
 */
const syncOneDone = (s: SyncCall, one: number): number | null => {
  s.ret.spliceTail(s.folios);
  if (one < 0) return one;
  s.nrFailed += one;
  return null;
};

/**
 * `migrate_pages_sync()` after its asynchronous batch gave `rc`: its stats join the call's, and
 * unless it failed whole the folios it left are tried one at a time ({@link syncOneByOne}).
 */
const syncAfterAsync = (s: SyncCall, astats: MigratePagesStats, rc: number): Step => {
  const { stats } = s;
  stats.nrSucceeded += astats.nrSucceeded;
  stats.nrThpSucceeded += astats.nrThpSucceeded;
  stats.nrThpSplit += astats.nrThpSplit;
  stats.nrSplit += astats.nrSplit;
  if (rc < 0) {
    stats.nrFailedPages += astats.nrFailedPages;
    stats.nrThpFailed += astats.nrThpFailed;
    s.ret.spliceTail(s.folios);
    return rc;
  }
  stats.nrThpFailed += astats.nrThpSplit;
  // Each large folio split counts as one failure, whatever its order: `nr_split` includes
  // `nr_thp_split` ("mm/migrate: correct nr_failed in migrate_pages_sync()"). The split
  // pieces are tried once more by `migrate_pages()`, whose result stays non-zero while any
  // of them is left on the list.
  s.from.spliceTail(s.folios);
  s.nrFailed = astats.nrSplit;
  return syncOneByOne(s);
};

/**
 * `migrate_pages_sync()` (`mm/migrate.c`): first one asynchronous batch, then every folio that
 * failed, one at a time, in the caller's synchronous mode. A large folio of any order that the
 * asynchronous batch split counts as one failed folio (`nr_split`), as it is not retried here.
 */
const migratePagesSync = (
  c: MigrateCall,
  from: FolioList,
  mode: MigrateMode,
  ret: FolioList,
  split: FolioList,
  stats: MigratePagesStats,
): Step => {
  const folios = new FolioList(c.k.memmap.lru);
  let step: Step;
  try {
    const s: SyncCall = { c, from, folios, mode, ret, split, stats, nrFailed: 0 };
    const astats = newMigratePagesStats();
    const first = batchStep(
      c,
      from,
      MIGRATE_ASYNC,
      folios,
      split,
      astats,
      NR_MAX_MIGRATE_ASYNC_RETRY,
    );
    step =
      typeof first === "number"
        ? syncAfterAsync(s, astats, first)
        : Effect.flatMap(first, (rc) => stepEffect(syncAfterAsync(s, astats, rc)));
  } catch (defect) {
    folios.release();
    throw defect;
  }
  // The list goes once the call is done, however it ends (at once when nothing suspended).
  if (typeof step === "number") {
    folios.release();
    return step;
  }
  return Effect.ensuring(
    step,
    Effect.sync(() => {
      // Interrupted: the folios its batches undid are on this list, and go to `ret`.
      ret.spliceTail(folios);
      folios.release();
    }),
  );
};

/** `unmap_and_move_huge_page()`: one hugetlb folio, unbatched. */
const unmapAndMoveHugePage = (
  c: MigrateCall,
  mode: MigrateMode,
  src: number,
  force: boolean,
  ret: FolioList,
): number => {
  const { k } = c;
  const m = k.memmap;
  if (m.refcount[src] === 1) {
    if (c.heldSrc === src) releaseHeld(c);
    m.lru.del(src);
    k.hugetlbActive.putback(src);
    return MIGRATEPAGE_SUCCESS;
  }
  const dst = takeDst(c, src, true);
  if (dst < 0) return c.slowAlloc ? MIGRATEPAGE_ALLOC : -ERRNO.ENOMEM;
  if (!c.takenLocked && !folioTrylock(k, src)) {
    if (force && mode === MIGRATE_SYNC) return mustWait(c, src, PG_locked, dst, false);
    if (c.putNewFolio) c.putNewFolio(dst);
    else folioPut(k, dst);
    return -ERRNO.EAGAIN;
  }
  folioTrylock(k, dst);
  let wasMapped = false;
  if (m.folioMapped(src)) {
    tryToMigrate(k, src, 0, null);
    wasMapped = true;
  }
  let rc = -ERRNO.EAGAIN;
  if (!m.folioMapped(src)) rc = moveToNewFolio(k, mode, dst, src);
  if (wasMapped) removeMigrationPtes(k, src, rc === 0 ? dst : src);
  folioUnlock(k, dst);
  folioUnlock(k, src);
  if (rc === 0) {
    k.hstates.find((h) => h.order === m.folioOrder(src))!.moveHugetlbState(src, dst);
    m.lru.del(src);
    k.hugetlbActive.putback(src);
    k.hugetlbActive.putback(dst);
    return rc;
  }
  if (rc !== -ERRNO.EAGAIN) ret.moveTail(src);
  if (c.putNewFolio) c.putNewFolio(dst);
  else folioPut(k, dst);
  return rc;
};

/** `migrate_hugetlbs()`: the hugetlb folios of `from`, each on its own, with retries. */
const migrateHugetlbs = (
  c: MigrateCall,
  from: FolioList,
  mode: MigrateMode,
  stats: MigratePagesStats,
  ret: FolioList,
): Effect.Effect<number> =>
  Effect.gen(function* () {
    const m = c.k.memmap;
    let retry = 1;
    let nrFailed = 0;
    let nrRetryPages = 0;
    hugetlbPasses: for (let pass = 0; pass < NR_MAX_MIGRATE_PAGES_RETRY && retry; pass++) {
      retry = 0;
      nrRetryPages = 0;
      for (const folio of from) {
        if (!m.test(folio, PG_hugetlb)) continue;
        const nrPages = m.folioNrPages(folio);
        const rc = unmapAndMoveHugePage(c, mode, folio, pass > 2, ret);
        if (rc === MIGRATEPAGE_WAIT || rc === MIGRATEPAGE_ALLOC) {
          // Wait for the folio, or run the destination's slow path, then try it again.
          yield* waitOrSlowAlloc(c, rc, folio);
          pass--;
          retry = 1;
          continue hugetlbPasses;
        }
        if (rc === -ERRNO.ENOMEM) {
          releaseHeld(c);
          stats.nrFailedPages += nrPages + nrRetryPages;
          c.errors?.set(folio, rc);
          return rc;
        }
        if (rc === -ERRNO.EAGAIN) {
          retry++;
          nrRetryPages += nrPages;
        } else if (rc === MIGRATEPAGE_SUCCESS) {
          stats.nrSucceeded += nrPages;
        } else {
          nrFailed++;
          stats.nrFailedPages += nrPages;
          c.errors?.set(folio, rc);
        }
      }
    }
    releaseHeld(c);
    nrFailed += retry;
    stats.nrFailedPages += nrRetryPages;
    if (retry)
      for (const folio of from) if (m.test(folio, PG_hugetlb)) c.errors?.set(folio, -ERRNO.EAGAIN);
    return nrFailed;
  });

/**
 * Options of {@link migratePages} beyond the kernel's arguments of `migrate_pages()`
 * (`mm/migrate.c`): the model's per-folio errors, per-caller migrator choice (an open question of
 * the series, `include/linux/migrate_copy_offload.h`) and CPU-time accounting.
 *
 * @category Page migration
 */
export interface MigratePagesOptions {
  /** Filled with the errno each failed folio ended with, by head PFN. */
  readonly errors?: Map<number, number>;
  /**
   * A registered copy-offload provider to use for this call instead of the active one (open
   * question 2 of the series). `EINVAL` when no provider has that name.
   */
  readonly migrator?: string;
  /** The task on whose behalf this runs; offloaded copy time is charged to it. */
  readonly caller?: Task;
  /**
   * Linux's `current` while the call runs, when its flags matter: a task that migrates with
   * `PF_MEMALLOC` set (direct compaction, `memalloc_noreclaim_save()`) never sleeps in
   * `folio_lock()` for a source another holds locked, in any mode (`migrate_folio_unmap()`,
   * `mm/migrate.c`): the folio fails with `-EAGAIN` as in `MIGRATE_ASYNC`. Absent: no
   * `PF_MEMALLOC`.
   */
  readonly current?: AllocContext | null;
}

/**
 * `migrate_pages()` (`mm/migrate.c`): migrates the isolated folios on `from` to destinations from
 * `getNewFolio`. Folios that could not be migrated are left on `from` for the caller to put back
 * (`putback_movable_pages()`, `mm/migrate.c`). Fails only for a bad mode or reason; kernel
 * failures are in `rc`.
 *
 * @category Page migration
 *
 * @example
 * ```ts
 * import {
 *   allocMigrationTarget,
 *   FolioList,
 *   Kernel,
 *   isolateFoliosToList,
 *   MIGRATE_SYNC,
 *   MR_SYSCALL,
 *   migratePages,
 *   putbackMovablePages,
 * } from "@migrate-offload/core";
 * import { Effect } from "effect";
 *
 * await Effect.runPromise(
 *   Effect.scoped(
 *     Effect.gen(function* () {
 *       const kernel = yield* Kernel.make({ nodes: ["64M", "64M"] });
 *       const proc = yield* kernel.createProcess({ node: 0 });
 *       const addr = yield* proc.mmap(4 * 4096);
 *       yield* proc.write(addr, new Uint8Array(4 * 4096).fill(9));
 *       // Isolate the folios behind the addresses, as a caller of migrate_pages() does.
 *       const list = new FolioList(kernel.memmap.lru);
 *       yield* isolateFoliosToList(proc, [addr, addr + 4096, addr + 8192, addr + 12288], list);
 *       const { rc, nrSucceeded } = yield* migratePages(
 *         kernel,
 *         list,
 *         allocMigrationTarget(kernel, 1),
 *         null,
 *         MIGRATE_SYNC,
 *         MR_SYSCALL,
 *       );
 *       putbackMovablePages(kernel, list); // what did not move goes back to the LRU
 *       list.release();
 *       console.log(rc, nrSucceeded); // 0 4: no folio left behind, four pages moved
 *       console.log(yield* proc.nodeOf(addr)); // 1
 *     }),
 *   ),
 * );
 * ```
 */
export const migratePages = (
  k: Kernel,
  from: FolioList,
  getNewFolio: NewFolioFn,
  putNewFolio: FreeFolioFn | null,
  mode: MigrateMode,
  reason: MigrateReason,
  options: MigratePagesOptions = {},
): Effect.Effect<MigratePagesResult, ErrnoError> =>
  k.call(
    "migrate_pages",
    Effect.suspend(() => {
      const extra = checkCall(k, "migrate_pages", mode, reason, options);
      if (extra instanceof Error) return Effect.fail(extra);
      return migratePagesChecked(k, from, getNewFolio, putNewFolio, mode, reason, extra);
    }),
  );

/** Checks what both entry points are given; the call's extras, or why they are bad. */
const checkCall = (
  k: Kernel,
  fn: string,
  mode: MigrateMode,
  reason: MigrateReason,
  options: MigratePagesOptions,
): Pick<MigrateCall, "errors" | "copier" | "caller" | "current"> | ErrnoError => {
  if (mode !== MIGRATE_ASYNC && mode !== MIGRATE_SYNC_LIGHT && mode !== MIGRATE_SYNC) {
    return errno("EINVAL", `${fn}: unknown mode ${mode}`);
  }
  if (!isMigrateReason(reason)) return errno("EINVAL", `${fn}: unknown reason ${reason}`);
  let copier: BatchCopier | null = null;
  if (options.migrator !== undefined) {
    copier = k.migrateOffload.copierFor(options.migrator);
    if (!copier) {
      return errno("EINVAL", `${fn}: no migrator named ${JSON.stringify(options.migrator)}`);
    }
  }
  return {
    errors: options.errors ?? null,
    copier,
    caller: options.caller ?? null,
    current: options.current ?? null,
  };
};

/**
 * `migrate_pages_batch()` (`mm/migrate.c`, as the copy-offload series restructures it): one pass
 * of the batched flow over up to `NR_MAX_BATCHED_MIGRATION` pages. It unmaps as many folios of
 * `from` as it can, splits them into the offload batch (the reason is allowed, the folio holds
 * only its expected references, it is not `movable_ops`) and the single list, flushes the TLBs
 * once, copies the batch through the active migrator (or the one `options.migrator` names) or the
 * CPU, then moves every folio, retrying `-EAGAIN` up to `nrPass` times.
 *
 * Preconditions, as the kernel's callers meet them:
 * - every folio on `from` is isolated (off the LRU or the hugetlb active list, with the isolation
 *   reference, as `isolate_folio_to_list()` leaves it) and not hugetlb: `migrate_pages()` sends
 *   hugetlb folios to `unmap_and_move_huge_page()` first;
 * - `getNewFolio` returns a fresh folio of the same order (-1 when it cannot), and `putNewFolio`
 *   takes back one that was not used (null frees it);
 * - `retFolios` receives folios that cannot be migrated; `splitFolios`, when not null,
 *   receives the pieces of large folios split on `-ENOMEM`.
 *
 * Returns the number of folios not migrated, or a negative errno (`-ENOMEM` stops the pass);
 * folios still on `from` are the caller's to put back. Fails with `EINVAL` for a bad mode,
 * reason, pass count or migrator name, before anything is touched.
 *
 * @category Page migration
 *
 * @example
 * ```ts
 * import {
 *   allocMigrationTarget,
 *   FolioList,
 *   Kernel,
 *   isolateFoliosToList,
 *   MIGRATE_ASYNC,
 *   MR_SYSCALL,
 *   migratePagesBatch,
 *   NR_MAX_MIGRATE_PAGES_RETRY,
 *   newMigratePagesStats,
 *   putbackMovablePages,
 * } from "@migrate-offload/core";
 * import { Effect } from "effect";
 *
 * await Effect.runPromise(
 *   Effect.scoped(
 *     Effect.gen(function* () {
 *       const kernel = yield* Kernel.make({ nodes: ["64M", "64M"] });
 *       const proc = yield* kernel.createProcess({ node: 0 });
 *       const addr = yield* proc.mmap(2 * 4096);
 *       yield* proc.write(addr, new Uint8Array(2 * 4096).fill(3));
 *       const list = new FolioList(kernel.memmap.lru);
 *       yield* isolateFoliosToList(proc, [addr, addr + 4096], list);
 *       const ret = new FolioList(kernel.memmap.lru);
 *       const stats = newMigratePagesStats();
 *       const failed = yield* migratePagesBatch(kernel, list, allocMigrationTarget(kernel, 1),
 *         null, MIGRATE_ASYNC, MR_SYSCALL, ret, null, stats, NR_MAX_MIGRATE_PAGES_RETRY);
 *       // The sources of the pages that moved were freed. What could not move is put back:
 *       list.spliceTail(ret);
 *       putbackMovablePages(kernel, list);
 *       list.release();
 *       ret.release();
 *       console.log(failed, stats.nrSucceeded); // 0 2
 *     }),
 *   ),
 * );
 * ```
 */
export const migratePagesBatch = (
  k: Kernel,
  from: FolioList,
  getNewFolio: NewFolioFn,
  putNewFolio: FreeFolioFn | null,
  mode: MigrateMode,
  reason: MigrateReason,
  retFolios: FolioList,
  splitFolios: FolioList | null,
  stats: MigratePagesStats,
  nrPass: number,
  options: MigratePagesOptions = {},
): Effect.Effect<number, ErrnoError> =>
  k.call(
    "migrate_pages_batch",
    Effect.suspend(() => {
      const extra = checkCall(k, "migrate_pages_batch", mode, reason, options);
      if (extra instanceof Error) return Effect.fail(extra);
      if (!Number.isSafeInteger(nrPass) || nrPass < 1) {
        return Effect.fail(errno("EINVAL", `migrate_pages_batch: nr_pass ${nrPass} is not >= 1`));
      }
      const c = newMigrateCall(k, getNewFolio, putNewFolio, reason, extra);
      // An interrupted batch undoes its folios onto `retFolios` ({@link batchStep}).
      return stepEffect(batchStep(c, from, mode, retFolios, splitFolios, stats, nrPass));
    }),
  );

const migratePagesChecked = (
  k: Kernel,
  from: FolioList,
  getNewFolio: NewFolioFn,
  putNewFolio: FreeFolioFn | null,
  mode: MigrateMode,
  reason: MigrateReason,
  extra: Pick<MigrateCall, "errors" | "copier" | "caller" | "current">,
): Effect.Effect<MigratePagesResult> =>
  Effect.suspend(() => {
    const space = k.memmap.lru;
    const c = newMigrateCall(k, getNewFolio, putNewFolio, reason, extra);
    const folios = new FolioList(space);
    const retFolios = new FolioList(space);
    const splitFolios = new FolioList(space);
    return Effect.ensuring(
      migratePagesLists(k, c, from, mode, reason, folios, retFolios, splitFolios),
      Effect.sync(() => {
        // However the call ends. Interrupted (at a wait, a destination's slow path or a
        // migrator's copy), it gives back what it held across the wait, and every folio it
        // had not migrated is on `from` again for the caller to put back; its batches have
        // undone their own folios already.
        releaseHeld(c);
        c.slowAlloc = null;
        from.spliceTail(folios);
        from.spliceTail(retFolios);
        from.spliceTail(splitFolios);
        folios.release();
        retFolios.release();
        splitFolios.release();
      }),
    );
  });

/** The body of {@link migratePagesChecked}, over the lists it made. */
const migratePagesLists = (
  k: Kernel,
  c: MigrateCall,
  from: FolioList,
  mode: MigrateMode,
  reason: MigrateReason,
  folios: FolioList,
  retFolios: FolioList,
  splitFolios: FolioList,
): Effect.Effect<MigratePagesResult> =>
  Effect.gen(function* () {
    const m = k.memmap;
    if (k.trace.enabled) k.trace.emit({ event: "mm_migrate_pages_start", mode, reason });
    const stats = newMigratePagesStats();
    let rcGather = yield* migrateHugetlbs(c, from, mode, stats, retFolios);
    while (rcGather >= 0) {
      let nrPages = 0;
      for (const folio of from) {
        if (m.test(folio, PG_hugetlb)) {
          retFolios.moveTail(folio);
          continue;
        }
        nrPages += m.folioNrPages(folio);
        folios.moveTail(folio);
        if (nrPages >= k.nrMaxBatchedMigration) break;
      }
      // A batch that never suspends gives its result here and now: no effect is run for it.
      const step =
        mode === MIGRATE_ASYNC
          ? batchStep(c, folios, mode, retFolios, splitFolios, stats, NR_MAX_MIGRATE_PAGES_RETRY)
          : migratePagesSync(c, folios, mode, retFolios, splitFolios, stats);
      const rc = typeof step === "number" ? step : yield* step;
      retFolios.spliceTail(folios);
      if (rc < 0) {
        rcGather = rc;
        retFolios.spliceTail(splitFolios);
        break;
      }
      if (!splitFolios.isEmpty) {
        // Split folios were counted as one failure already; try them once, asynchronously.
        const retried = batchStep(c, splitFolios, MIGRATE_ASYNC, retFolios, null, stats, 1);
        if (typeof retried !== "number") yield* retried;
        retFolios.spliceTail(splitFolios);
      }
      rcGather += rc;
      if (from.isEmpty) break;
    }
    retFolios.spliceTail(from);
    from.spliceTail(retFolios);
    if (from.isEmpty) rcGather = 0;

    k.vmstat.count("pgmigrate_success", stats.nrSucceeded);
    k.vmstat.count("pgmigrate_fail", stats.nrFailedPages);
    k.vmstat.count("thp_migration_success", stats.nrThpSucceeded);
    k.vmstat.count("thp_migration_fail", stats.nrThpFailed);
    k.vmstat.count("thp_migration_split", stats.nrThpSplit);
    if (k.trace.enabled) {
      k.trace.emit({
        event: "mm_migrate_pages",
        succeeded: stats.nrSucceeded,
        failed: stats.nrFailedPages,
        thpSucceeded: stats.nrThpSucceeded,
        thpFailed: stats.nrThpFailed,
        thpSplit: stats.nrThpSplit,
        largeSplit: stats.nrSplit,
        mode,
        reason,
      });
    }
    return { rc: rcGather, nrSucceeded: stats.nrSucceeded, stats };
  });

/**
 * `isolate_folio_to_list()` (`mm/migrate.c`): takes the folio at head PFN `head` off the LRU (or,
 * for hugetlb, off the active hugetlb list; for a movable_ops page, from its owner through
 * `isolate_movable_ops_page()`) with the isolation reference, and adds it to the back of `list`,
 * ready for {@link migratePages}. False when it cannot be isolated: it is on no such list (already
 * isolated, by this caller or another migration, or never added), or its owner refused, and `list`
 * is left as it was. {@link putbackMovablePages} undoes it.
 *
 * @category Page migration
 */
export const isolateFolioToList = (k: Kernel, head: number, list: FolioList): boolean => {
  const isolated = k.memmap.test(head, PG_hugetlb)
    ? k.hugetlbActive.isolate(head)
    : pageHasMovableOps(k, head)
      ? isolateMovableOpsPage(k, head, 0)
      : k.lru.isolate(head);
  if (isolated) list.addTail(head);
  return isolated;
};

/**
 * `putback_movable_pages()` (`mm/migrate.c`): returns every folio on the list to its LRU or
 * hugetlb list, and every movable_ops page to its owner (`putback_movable_ops_page()`).
 *
 * @category Page migration
 */
export const putbackMovablePages = (k: Kernel, list: FolioList): void => {
  for (const folio of list) {
    list.del(folio);
    if (k.memmap.test(folio, PG_hugetlb)) k.hugetlbActive.putback(folio);
    else if (pageHasMovableOps(k, folio)) putbackMovableOpsPage(k, folio);
    else k.lru.putback(folio);
  }
};
