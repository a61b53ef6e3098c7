/**
 * Memory compaction: moving movable folios out of the way so that free pages join into
 * high-order blocks.
 *
 * Models `mm/compaction.c` (Linux 6.16): `compact_zone()` runs two scanners over a zone, the
 * migration scanner from the zone's start (`isolate_migratepages()`,
 * `isolate_migratepages_block()`) and the free scanner from its end (`isolate_freepages()`,
 * `isolate_freepages_block()`), until they meet or the wanted order is free
 * (`__compact_finished()`). Isolated folios go to `migrate_pages()` (`mm/migrate.ts`) with
 * `compaction_alloc()` / `compaction_free()` as the allocation callbacks and `MR_COMPACTION` as
 * the reason, so the copy-offload registry's reason mask, `should_batch` and the migrators see
 * compaction's batches as they see any other caller's.
 *
 * What starts it: `/proc/sys/vm/compact_memory` (`compact_nodes()`), a node's
 * `/sys/devices/system/node/node<N>/compact` (`compact_node()`), direct compaction from a failed
 * high-order allocation (`try_to_compact_pages()`, counted in `compact_stall`), and `kcompactd`,
 * one daemon fiber per node on Effect's `Clock`, woken by `wakeup_kcompactd()` and every
 * `HPAGE_FRAG_CHECK_INTERVAL_MSEC` for proactive compaction (`compaction_proactiveness`).
 * Direct compaction and `kcompactd` defer compaction for an order after it fails in a zone
 * (`defer_compaction()`, `compaction_deferred()`, `compaction_defer_reset()`): 1, 2, 4 … up to
 * 64 considerations are skipped.
 *
 * Runs leave hints for the next: a pageblock scanned without result gets its skip bit
 * (`PB_migrate_skip`, `isolation_suitable()`), and the scanners start where the last run left
 * them (`compact_cached_migrate_pfn[]`, `compact_cached_free_pfn`), back at the zone's ends when
 * they meet; `kswapd` clears the hints before it sleeps (`reset_isolation_suitable()`), and so
 * does a compaction retried after the longest deferral (`compaction_restarting()`). Full
 * compactions and `COMPACT_PRIO_SYNC_FULL` ignore both (`ignore_skip_hint`, `whole_zone`).
 *
 * A run for an order searches the free lists before its scanners walk
 * (`fast_isolate_freepages()`, `fast_find_migrateblock()`). Direct compaction captures the block
 * of its order that its own frees make in its zone (`compact_zone_order()`,
 * `struct capture_control`; `compaction_capture()` in `mm/page_alloc.ts`).
 *
 * Not modelled: `cc->finish_pageblock` (a block rescanned whole after a failed
 * migration). The migration
 * scanner isolates LRU folios and `movable_ops` pages (balloon pages, through their owner:
 * Linux 6.16's `isolate_movable_page()`, which the model has by its 6.17 name,
 * `isolate_movable_ops_page()`); for `alloc_contig_range()` it also takes hugetlb folios
 * (`isolate_or_dissolve_huge_folio()`). Nor what Linux 6.13–6.16 added for configurations the
 * model does not have: `vm.defrag_mode` (off by default: `kcompactd` and `__compact_finished()`
 * then behave as without it) and the check for free non-CMA pages before an asynchronous costly
 * compaction (there is no CMA).
 *
 * @module
 */
import { Deferred, Duration, Effect, Exit } from "effect";
import { ERRNO, type ErrnoError, errno } from "../errno";
import {
  COMPACT_CLUSTER_MAX,
  COMPACT_MAX_DEFER_SHIFT,
  COMPACTION_STATUS_NAMES,
  type Compaction,
  CompactPriority,
  CompactResult,
  compactGap,
  HPAGE_FRAG_CHECK_INTERVAL_MSEC,
  PAGE_ALLOC_COSTLY_ORDER,
} from "../include/compaction";
import { __GFP_COMP, GFP_KERNEL, gfpMigratetype } from "../include/gfp";
import type { HugetlbReplacement } from "../include/hugetlb";
import type { Kernel } from "../include/kernel";
import {
  MIGRATE_ASYNC,
  MIGRATE_SYNC,
  MIGRATE_SYNC_LIGHT,
  type MigrateMode,
  MR_COMPACTION,
} from "../include/migrate_mode";
import {
  type AllocContext,
  type CaptureControl,
  MIGRATE_MOVABLE,
  type MigrateType,
  WMARK_LOW,
  WMARK_MIN,
  type Zone,
} from "../include/mmzone";
import {
  PG_buddy,
  PG_head,
  PG_hugetlb,
  PG_locked,
  PG_lru,
  PG_movable_ops_isolated,
} from "../include/page_flags";
import { PF_MEMALLOC, withMemallocNoreclaim } from "../include/sched";
import { fatalSignalPending } from "../include/signal";
import { type KthreadSlot, NodeKthreads } from "../kernel/kthread";
import { procDointvecEntry, procDointvecMinmax } from "../kernel/sysctl";
import { FolioList } from "../lib/list";
import {
  hugetlbReplacementRelease,
  hugetlbReplacementSlowpath,
  newHugetlbReplacement,
} from "./hugetlb";
import { pfnToOnlinePage } from "./memory_hotplug";
import { folioExpectedRefCount, migratePages, putbackMovablePages } from "./migrate";
import { isolateMovableOpsPage, pageHasMovableOps } from "./migrate_movable_ops";
import { allocNodes, zoneReclaimablePages } from "./vmscan";

/**
 * `struct compact_control` (`mm/internal.h`): the state of one `compact_zone()` run.
 *
 * @category Compaction
 */
export interface CompactControl {
  /** The zone compacted. */
  readonly zone: Zone;
  /** The order wanted; -1 for a full compaction (`is_via_compact_memory()`). */
  readonly order: number;
  /** The migration mode of the run. */
  readonly mode: MigrateMode;
  /** The GFP flags of the allocation compacted for. */
  readonly gfp: number;
  /** The pageblock type the allocation wants (`gfp_migratetype()`). */
  readonly migratetype: MigrateType;
  /** Direct compaction from an allocation (`direct_compaction`). */
  readonly directCompaction: boolean;
  /**
   * The task the run's allocations are made in (`current`): `alloc_contig_range()`'s caller,
   * whose replacement huge pages it allocates, or the task compacting directly; null for a
   * kernel thread of the zone's node. A `SIGKILL` pending for it stops the run
   * (`fatal_signal_pending()`).
   */
  readonly current?: AllocContext | null;
  /** Proactive compaction by `kcompactd` (`proactive_compaction`). */
  readonly proactiveCompaction: boolean;
  /** Free-scanner targets need not be movable pageblocks (`ignore_block_suitable`). */
  readonly ignoreBlockSuitable: boolean;
  /** The pageblock skip hints are not consulted (`ignore_skip_hint`). */
  readonly ignoreSkipHint: boolean;
  /**
   * Neither skip hints nor the cached migration scanner position are written
   * (`no_set_skip_hint`): `alloc_contig_range()` isolates, it does not compact.
   */
  readonly noSetSkipHint: boolean;
  /**
   * The run scans the whole zone (`whole_zone`): from its first PFN and last pageblock rather
   * than the cached positions, or it started at or below `compact_init_migrate_pfn`. Its
   * scanners meeting is `COMPACT_COMPLETE`, otherwise `COMPACT_PARTIAL_SKIPPED`.
   */
  wholeZone: boolean;
  /**
   * The pageblock the migration scanner is in is scanned to its end (`finish_pageblock`, Linux
   * 6.2+: "mm/compaction: finish pageblocks on complete migration failure", and its 6.3 fixes):
   * set by {@link compactZone} when an iteration starts in the block it last migrated from, or
   * when an asynchronous or sync-light migration from a block left partly scanned failed. The
   * scan then passes no skip hint set since it began, does not stop at `COMPACT_CLUSTER_MAX`, and
   * marks the block skip and moves the cached position past it at the end, whatever it isolated.
   */
  finishPageblock: boolean;
  /** The folios isolated for migration (`migratepages`). */
  readonly migratepages: FolioList;
  /** Isolated free blocks by order (`freepages[]`), each a head PFN. */
  readonly freepages: number[][];
  /** Base pages on {@link migratepages} (`nr_migratepages`). */
  nrMigratepages: number;
  /** Base pages on {@link freepages} (`nr_freepages`). */
  nrFreepages: number;
  /** Where the migration scanner is (`migrate_pfn`). */
  migratePfn: number;
  /**
   * The lowest PFN `fast_find_migrateblock()` found a block at (`fast_start_pfn`): 0 until it
   * finds one, `Number.MAX_SAFE_INTEGER` (the kernel's `ULONG_MAX`) once the linear scan restarted
   * there.
   */
  fastStartPfn: number;
  /** Fast searches of the free lists that found nothing since the last that did (`fast_search_fail`). */
  fastSearchFail: number;
  /** The order `fast_isolate_freepages()` searches first (`search_order`). */
  searchOrder: number;
  /** Where the free scanner is (`free_pfn`): the start of the next pageblock it scans. */
  freePfn: number;
  /** Pages the migration scanner looked at (`total_migrate_scanned`). */
  totalMigrateScanned: number;
  /** Pages the free scanner looked at (`total_free_scanned`). */
  totalFreeScanned: number;
  /**
   * The run stopped early (`contended`): a fatal signal, the kernel shutting down or a `SIGKILL`
   * pending for the task compacting ({@link CompactControl.current}).
   */
  contended: boolean;
}

/**
 * `fatal_signal_pending(current)` as a compaction run sees it: a `SIGKILL` pending for the task
 * compacting, or the kernel shutting down (power-off kills every process).
 */
const compactFatalSignal = (k: Kernel, cc: CompactControl): boolean =>
  k.state !== "running" || fatalSignalPending(cc.current ?? null);

/** `is_via_compact_memory()`: a full compaction, from `compact_memory` or a node's `compact`. */
const isViaCompactMemory = (order: number): boolean => order === -1;

const pageblockNr = (k: Kernel): number => 2 ** k.pageAlloc.pageblockOrder;
const pageblockStart = (k: Kernel, pfn: number): number => pfn - (pfn % pageblockNr(k));
/** `pageblock_end_pfn()`: `ALIGN(pfn + 1, pageblock_nr_pages)`, so an aligned PFN gives the next block's end. */
const pageblockEnd = (k: Kernel, pfn: number): number => pageblockStart(k, pfn) + pageblockNr(k);

/**
 * `compaction_restarting()` (`mm/compaction.c`, Linux 6.16): compaction for `order` is tried
 * again after the longest deferral (`compact_defer_shift` at `COMPACT_MAX_DEFER_SHIFT` and all
 * `1 << 6` considerations used up), so the skip hints are to be cleared first.
 */
const compactionRestarting = (zone: Zone, order: number): boolean =>
  order >= zone.compactOrderFailed &&
  zone.compactDeferShift === COMPACT_MAX_DEFER_SHIFT &&
  zone.compactConsidered >= 2 ** zone.compactDeferShift;

/**
 * `isolation_suitable()` (`mm/compaction.c`): may a scanner look at `pfn`'s pageblock? Not when
 * its skip hint is set, unless the run ignores the hints.
 */
const isolationSuitable = (cc: CompactControl, pfn: number): boolean =>
  cc.ignoreSkipHint || !cc.zone.getPageblockSkip(pfn);

/** `reset_cached_positions()` (`mm/compaction.c`): the next run starts at the zone's ends. */
const resetCachedPositions = (k: Kernel, zone: Zone): void => {
  zone.compactCachedMigratePfn[0] = zone.startPfn;
  zone.compactCachedMigratePfn[1] = zone.startPfn;
  zone.compactCachedFreePfn = pageblockStart(k, zone.endPfn - 1);
};

/**
 * `pageblock_skip_persistent()` (`mm/compaction.c`): the page at `pfn` belongs to a compound
 * page (a THP, a hugetlb folio) of `pageblock_order` or more, whose pageblocks hold nothing to
 * isolate until it is freed: the migration scanner passes them over, and a reset keeps their hint.
 */
const pageblockSkipPersistent = (k: Kernel, pfn: number): boolean => {
  const m = k.memmap;
  const head = m.folioOf(pfn);
  return m.test(head, PG_head) && m.folioOrder(head) >= k.pageAlloc.pageblockOrder;
};

/**
 * `__reset_isolation_pfn()` (`mm/compaction.c`, Linux 6.16): clears the skip hint of `pfn`'s
 * pageblock when a sample of it (every `1 << PAGE_ALLOC_COSTLY_ORDER`-th page) finds an LRU page
 * (`checkSource`) or a free page (`checkTarget`); true when it did, or when both are checked and
 * the hint is clear already. A target must be a movable pageblock; offline memory and persistent
 * blocks ({@link pageblockSkipPersistent}) are left alone.
 */
const resetIsolationPfn = (
  k: Kernel,
  zone: Zone,
  pfn: number,
  checkSource: boolean,
  checkTarget: boolean,
): boolean => {
  const m = k.memmap;
  if (pfnToOnlinePage(k, pfn) === null) return false;
  if (pageblockSkipPersistent(k, pfn)) return false;
  if (checkSource && checkTarget && !zone.getPageblockSkip(pfn)) return true;
  if (!checkSource && checkTarget && zone.pageblockMigratetype(pfn) !== MIGRATE_MOVABLE) {
    return false;
  }
  const blockPfn = Math.max(pageblockStart(k, pfn), zone.startPfn);
  if (pfnToOnlinePage(k, blockPfn) !== null) pfn = blockPfn;
  const endPfn = Math.min(pageblockEnd(k, pfn) - 1, zone.endPfn - 1);
  if (pfnToOnlinePage(k, endPfn) === null) return false;
  for (; pfn <= endPfn; pfn += 2 ** PAGE_ALLOC_COSTLY_ORDER) {
    if (
      (checkSource && m.test(m.folioOf(pfn), PG_lru)) ||
      (checkTarget && m.flags[pfn]! & PG_buddy)
    ) {
      zone.clearPageblockSkip(pfn);
      return true;
    }
  }
  return false;
};

/**
 * `__reset_isolation_suitable()` (`mm/compaction.c`, Linux 6.16): when a direct compaction's
 * scanners met since the last reset (`compact_blockskip_flush`), walks the zone's pageblocks from
 * both ends at once, clearing the skip hint of each that a sample shows to be a migration source
 * (an LRU page) or target (a free page in a movable pageblock), and sets the cached positions and
 * `compact_init_migrate_pfn` / `compact_init_free_pfn` to the first source from the start and the
 * first target from the end (the end's walk steps down from the zone's last page, not a
 * pageblock's first). With no source below a target, both scanners start where the walks met.
 */
const resetIsolationSuitableZone = (k: Kernel, zone: Zone): void => {
  if (!zone.compactBlockskipFlush) return;
  zone.compactBlockskipFlush = false;
  const nr = pageblockNr(k);
  let migratePfn = zone.startPfn;
  let freePfn = zone.endPfn - 1;
  let resetMigrate = freePfn;
  let resetFree = migratePfn;
  let sourceSet = false;
  let freeSet = false;
  for (; migratePfn < freePfn; migratePfn += nr, freePfn -= nr) {
    if (resetIsolationPfn(k, zone, migratePfn, true, sourceSet) && migratePfn < resetMigrate) {
      sourceSet = true;
      resetMigrate = migratePfn;
      zone.compactInitMigratePfn = resetMigrate;
      zone.compactCachedMigratePfn[0] = resetMigrate;
      zone.compactCachedMigratePfn[1] = resetMigrate;
    }
    if (resetIsolationPfn(k, zone, freePfn, freeSet, true) && freePfn > resetFree) {
      freeSet = true;
      resetFree = freePfn;
      zone.compactInitFreePfn = resetFree;
      zone.compactCachedFreePfn = resetFree;
    }
  }
  // No distance left when no suitable block was found.
  if (resetMigrate >= resetFree) {
    zone.compactCachedMigratePfn[0] = migratePfn;
    zone.compactCachedMigratePfn[1] = migratePfn;
    zone.compactCachedFreePfn = freePfn;
  }
};

/**
 * `reset_isolation_suitable()` (`mm/compaction.c`, Linux 6.16): clears node `nid`'s pageblock skip
 * hints when a direct compaction's scanners met there since the last reset
 * (`compact_blockskip_flush`), as `kswapd` does before it sleeps (`kswapd_try_to_sleep()`,
 * `mm/vmscan.c`). kcompactd's and full compactions' runs do not ask for it.
 *
 * @category Compaction
 */
export const resetIsolationSuitable = (k: Kernel, nid: number): void => {
  const zone = k.pageAlloc.zones[nid];
  if (zone && zone.presentPages > 0 && zone.compactBlockskipFlush) {
    resetIsolationSuitableZone(k, zone);
  }
};

/**
 * `test_and_set_skip()` (`mm/compaction.c`): sets the skip hint of `pfn`'s pageblock unless the
 * run ignores or must not set hints; true when it was set already.
 */
const testAndSetSkip = (cc: CompactControl, pfn: number): boolean => {
  if (cc.ignoreSkipHint) return false;
  const skip = cc.zone.getPageblockSkip(pfn);
  if (!skip && !cc.noSetSkipHint) cc.zone.setPageblockSkip(pfn);
  return skip;
};

/**
 * `update_cached_migrate()` (`mm/compaction.c`): raises where the next run's migration scanner
 * starts to `pageblock_end_pfn(pfn)` (a pageblock past `pfn` when `pfn` is aligned, as the
 * kernel's macro gives), for asynchronous runs and, unless this one is asynchronous, for
 * synchronous ones.
 */
const updateCachedMigrate = (k: Kernel, cc: CompactControl, pfn: number): void => {
  if (cc.noSetSkipHint) return;
  const end = pageblockEnd(k, pfn);
  const cached = cc.zone.compactCachedMigratePfn;
  if (end > cached[0]) cached[0] = end;
  if (cc.mode !== MIGRATE_ASYNC && end > cached[1]) cached[1] = end;
};

/**
 * `update_pageblock_skip()` (`mm/compaction.c`): the free scanner went through the pageblock at
 * `blockPfn`: marks it to skip, and lowers where the next run's free scanner starts to `pfn`.
 */
const updatePageblockSkip = (cc: CompactControl, blockPfn: number, pfn: number): void => {
  if (cc.noSetSkipHint) return;
  cc.zone.setPageblockSkip(blockPfn);
  if (pfn < cc.zone.compactCachedFreePfn) cc.zone.compactCachedFreePfn = pfn;
};

/**
 * `fill_contig_page_info()` (`mm/vmstat.c`): free pages, free blocks, and free blocks big enough
 * for `order` (counted in blocks of that order).
 */
const contigPageInfo = (
  zone: Zone,
  order: number,
): { freePages: number; freeBlocksTotal: number; freeBlocksSuitable: number } => {
  let freePages = 0;
  let freeBlocksTotal = 0;
  let freeBlocksSuitable = 0;
  zone.nrFree.forEach((blocks, o) => {
    freeBlocksTotal += blocks;
    freePages += blocks * 2 ** o;
    if (o >= order) freeBlocksSuitable += blocks * 2 ** (o - order);
  });
  return { freePages, freeBlocksTotal, freeBlocksSuitable };
};

/**
 * `fragmentation_index()` (`__fragmentation_index()`, `mm/vmstat.c`): why an allocation of
 * `order` would fail, in thousandths: toward 0 for lack of memory, toward 1000 for external
 * fragmentation; -1000 when a block of the order is free; 0 with nothing free. What
 * `/sys/kernel/debug/extfrag/extfrag_index` shows and `extfrag_threshold` is compared with.
 *
 * @category Compaction
 */
export const fragmentationIndex = (zone: Zone, order: number): number => {
  const info = contigPageInfo(zone, order);
  if (info.freeBlocksTotal === 0) return 0;
  if (info.freeBlocksSuitable > 0) return -1000;
  const requested = 2 ** order;
  return (
    1000 -
    Math.floor((1000 + Math.floor((info.freePages * 1000) / requested)) / info.freeBlocksTotal)
  );
};

/**
 * `extfrag_for_order()` (`mm/vmstat.c`): the percentage of free memory in blocks smaller than
 * `order`; 0 with nothing free.
 *
 * @category Compaction
 */
export const extfragForOrder = (zone: Zone, order: number): number => {
  const info = contigPageInfo(zone, order);
  if (info.freePages === 0) return 0;
  return Math.floor(
    ((info.freePages - info.freeBlocksSuitable * 2 ** order) * 100) / info.freePages,
  );
};

/**
 * `fragmentation_score_node()` (`mm/compaction.c`): node `nid`'s fragmentation score, 0..100:
 * {@link extfragForOrder} at `COMPACTION_HPAGE_ORDER` (the PMD order) of each zone, weighted by
 * the zone's share of the node (`fragmentation_score_zone_weighted()`: the zone's present pages
 * over the node's, both less what is offline). One zone per node here.
 *
 * @category Compaction
 */
export const fragmentationScoreNode = (k: Kernel, nid: number): number => {
  const zone = k.pageAlloc.zones[nid];
  if (!zone || zone.managedPages === 0) return 0;
  // The zone's present pages over the node's (one zone: the same), both as offlining left them.
  const present = zone.presentPages;
  return Math.floor((present * extfragForOrder(zone, k.pmdOrder)) / (present + 1));
};

/**
 * `fragmentation_score_wmark()` (`mm/compaction.c`): the low (`low`) or high score watermark of
 * proactive compaction: `max(100 - proactiveness, 5)` and 10 above it, at most 100.
 *
 * @category Compaction
 */
export const fragmentationScoreWmark = (k: Kernel, low: boolean): number => {
  const wmarkLow = Math.max(100 - k.compaction.proactiveness, 5);
  return low ? wmarkLow : Math.min(wmarkLow + 10, 100);
};

const trace = (
  k: Kernel,
  zone: Zone,
  order: number,
  event: "finished" | "suitable",
  ret: number,
) => {
  if (k.trace.enabled) {
    k.trace.emit({
      event: `mm_compaction_${event}`,
      nid: zone.nid,
      order,
      ret: COMPACTION_STATUS_NAMES[ret]!,
    });
  }
};

/**
 * `__compaction_suitable()` (`mm/compaction.c`, Linux 6.16): are there free pages enough at order
 * 0 for compaction's migration targets? `watermark` plus `compact_gap(order)`, and for a costly
 * order the distance from the min to the low watermark on top, whatever watermark the caller
 * passed (Linux 6.15+). `freePages` defaults to the zone's free pages.
 */
const compactionSuitableFree = (
  k: Kernel,
  zone: Zone,
  order: number,
  watermark: number,
  freePages?: number,
): boolean => {
  let mark = watermark + compactGap(order);
  if (order > PAGE_ALLOC_COSTLY_ORDER) {
    mark += zone.wmarkPages(WMARK_LOW) - zone.wmarkPages(WMARK_MIN);
  }
  return k.pageAlloc.zoneWatermarkOk(zone.nid, 0, mark, 0, freePages);
};

/**
 * `compaction_suitable()` (`mm/compaction.c`, Linux 6.16): may compaction help an allocation of
 * `order` in this zone? The zone needs `watermark` plus `compact_gap(order)` free at order 0 (plus
 * the low watermark's distance from the min one for a costly order), so the migration targets
 * exist; for a costly order the fragmentation index must also be above `extfrag_threshold`, or
 * the failure is lack of memory. `watermark` defaults to what `compaction_suit_allocation_order()`
 * passes for direct compaction and `kcompactd` (`ALLOC_WMARK_MIN`): the min watermark; reclaim
 * passes its own (`compaction_ready()`: the high one; `should_continue_reclaim()`: the min one,
 * `mm/vmscan.c`). Emits `mm_compaction_suitable`.
 *
 * @category Compaction
 */
export const compactionSuitable = (
  k: Kernel,
  zone: Zone,
  order: number,
  watermark = zone.wmarkPages(WMARK_MIN),
): boolean => {
  let suitable = compactionSuitableFree(k, zone, order, watermark);
  let ret: number = CompactResult.SKIPPED;
  if (suitable) {
    ret = CompactResult.CONTINUE;
    if (order > PAGE_ALLOC_COSTLY_ORDER) {
      const fragindex = fragmentationIndex(zone, order);
      if (fragindex >= 0 && fragindex <= k.compaction.extfragThreshold) {
        suitable = false;
        ret = CompactResult.NOT_SUITABLE_ZONE;
      }
    }
  }
  trace(k, zone, order, "suitable", ret);
  return suitable;
};

/**
 * `compaction_suit_allocation_order()` (`mm/compaction.c`): `COMPACT_SUCCESS` when the order is
 * free above the min watermark already, `COMPACT_SKIPPED` when {@link compactionSuitable} says
 * no, `COMPACT_CONTINUE` otherwise.
 */
const compactionSuitAllocationOrder = (k: Kernel, zone: Zone, order: number): CompactResult => {
  if (k.pageAlloc.zoneWatermarkOk(zone.nid, order, zone.wmarkPages(WMARK_MIN))) {
    return CompactResult.SUCCESS;
  }
  return compactionSuitable(k, zone, order) ? CompactResult.CONTINUE : CompactResult.SKIPPED;
};

/**
 * `ISOLATE_ASYNC_MIGRATE` (`include/linux/mmzone.h`): the `isolate_mode_t` an asynchronous
 * compaction passes to a `movable_ops` page's owner.
 */
const ISOLATE_ASYNC_MIGRATE = 0x4;

/**
 * `skip_isolation_on_order()` (`mm/compaction.c`): large folios of the wanted order or more are
 * not worth moving, and a full compaction leaves pageblock-sized ones alone.
 */
const skipIsolationOnOrder = (k: Kernel, order: number, target: number): boolean =>
  (!isViaCompactMemory(target) && order >= target) || order >= k.pageAlloc.pageblockOrder;

/**
 * The end of one block's scan, as both scanners finish it: the `mm_compaction_isolate_*` trace
 * event and `count_compact_events(COMPACTISOLATED, ...)`.
 */
const isolated = (
  k: Kernel,
  event:
    | "mm_compaction_isolate_migratepages"
    | "mm_compaction_isolate_freepages"
    | "mm_compaction_fast_isolate_freepages",
  startPfn: number,
  endPfn: number,
  nrScanned: number,
  nrTaken: number,
): void => {
  if (k.trace.enabled) k.trace.emit({ event, startPfn, endPfn, nrScanned, nrTaken });
  if (nrTaken) k.vmstat.count("compact_isolated", nrTaken);
};

/**
 * `isolate_migratepages_block()` (`mm/compaction.c`, Linux 6.16): scans `[lowPfn, endPfn)` and
 * isolates what can move onto `cc.migratepages`, stopping just past the folio that brings
 * `cc.nrMigratepages` to `COMPACT_CLUSTER_MAX`: LRU folios, and `movable_ops` pages through their owner
 * (`isolate_movable_page()`; {@link isolateMovableOpsPage} follows its 6.17 name). Hugetlb folios are skipped by
 * compaction (whole, up to `MAX_PAGE_ORDER`); for `alloc_contig_range()` (`allocContig`) they go
 * to `isolate_or_dissolve_huge_folio()`: one in use is isolated, a free one is replaced and
 * dissolved, its pages then free; its `-ENOMEM` (a gigantic folio, no replacement) puts back
 * the list when this call had isolated something and stops the scan. Also skipped: free blocks (whole), large folios
 * {@link skipIsolationOnOrder} rejects, other pages not on the LRU (kernel memory, isolated
 * folios), pinned folios (more references than mappings, page cache and private data account
 * for), and locked folios in `MIGRATE_ASYNC`. An isolated folio's pages all count as scanned.
 * Every `COMPACT_CLUSTER_MAX` PFNs (each PFN that is a multiple of it) it looks for a fatal
 * signal (a `SIGKILL` pending for `cc.current`, the kernel shutting down): then it sets `cc.contended` and returns `-EINTR` at that PFN,
 * what it isolated left on the list, without the trace event.
 * A call that starts at the pageblock's first PFN stops at once when the block is marked skip
 * (`isolation_suitable()`); its first LRU folio marks the block (`test_and_set_skip()`), which
 * stops the scan when another had marked it, and a call that reaches the block's end having
 * isolated nothing marks it too and moves the zone's cached migration PFN past it
 * (`update_cached_migrate()`), unless `cc.noSetSkipHint`. With `cc.finishPageblock` it neither
 * stops on a hint found set at the first LRU folio nor at `COMPACT_CLUSTER_MAX`, and marks the
 * block and moves the cached PFN at its end even when it isolated something.
 * Returns where it stopped (also left in `cc.migratePfn`; after `-ENOMEM`, the hugetlb folio's
 * last page) and 0, `-ENOMEM` or `-EINTR`; counts `compact_isolated` and emits
 * `mm_compaction_isolate_migratepages`. With `rep`, a free
 * hugetlb folio's replacement is a whole allocation: when it must wait for its slow path, the scan
 * stops at the folio's page before counting it and returns `stop`; called again from there with
 * `stop` once the slow path ran, it goes on as the call blocked in
 * `alloc_and_dissolve_hugetlb_folio()` would, counting and tracing the block once.
 */
const isolateMigratepagesBlock = (
  k: Kernel,
  cc: CompactControl,
  lowPfn: number,
  endPfn: number,
  allocContig: boolean,
  rep?: HugetlbReplacement,
  stop?: BlockStop,
): { readonly pfn: number; readonly rc: number; readonly stop: BlockStop | null } => {
  const m = k.memmap;
  const startPfn = stop?.startPfn ?? lowPfn;
  let nrScanned = stop?.nrScanned ?? 0;
  let nrIsolated = stop?.nrIsolated ?? 0;
  let rc = 0;
  if (stop && rep) {
    // alloc_and_dissolve_hugetlb_folio()'s retry: a folio freed from under the allocation is no
    // longer the hugetlb folio here, and the new page goes back (free_new).
    const head = m.folioOf(lowPfn);
    if (m.flags[lowPfn]! & PG_buddy || !m.test(head, PG_hugetlb) || head !== rep.folio)
      hugetlbReplacementRelease(k, rep);
  }
  // A call resumed after a replacement's slow path has checked its first PFN already.
  const resumedPfn = stop ? lowPfn : -1;
  // The pageblock's first page when this call started there and its hint let it scan
  // (valid_page), and whether the hint was set on the first LRU folio (skip_updated).
  let validPage = -1;
  let skipUpdated = false;
  for (; lowPfn < endPfn; lowPfn++) {
    // Every COMPACT_CLUSTER_MAX PFNs, a fatal signal (SIGKILL pending, the kernel shutting down)
    // aborts the scan (fatal_pending): no trace event, and what this call isolated stays on the
    // list.
    if (lowPfn % COMPACT_CLUSTER_MAX === 0 && lowPfn !== resumedPfn && compactFatalSignal(k, cc)) {
      cc.contended = true;
      cc.totalMigrateScanned += nrScanned;
      if (nrIsolated) k.vmstat.count("compact_isolated", nrIsolated);
      cc.migratePfn = lowPfn;
      return { pfn: lowPfn, rc: -ERRNO.EINTR, stop: null };
    }
    nrScanned++;
    // Only a call that starts at the pageblock's first PFN checks its hint: one resumed after a
    // COMPACT_CLUSTER_MAX batch must not take the hint it set itself for a reason to stop.
    if (validPage < 0 && (lowPfn % pageblockNr(k) === 0 || lowPfn === cc.zone.startPfn)) {
      if (!isolationSuitable(cc, lowPfn)) {
        lowPfn = endPfn;
        break;
      }
      validPage = lowPfn;
    }
    let head = m.folioOf(lowPfn);
    // The base pages taken at this PFN: a hugetlb folio isolated here, or what the checks below
    // take; 0 until one is.
    let nr = 0;
    if (!(m.flags[lowPfn]! & PG_buddy) && m.test(head, PG_hugetlb)) {
      const order = m.folioOrder(head);
      const rest = head + 2 ** order - 1 - lowPfn;
      if (!allocContig) {
        if (order <= k.pageAlloc.maxOrder) {
          lowPfn += rest;
          nrScanned += rest;
        }
        continue;
      }
      const hstate = k.hstates.find((h) => h.order === order)!;
      const ret = hstate.isolateOrDissolveHugeFolio(head, cc.migratepages, cc.current ?? null, rep);
      if (ret === null) {
        // The replacement waits for its slow path: stop before this page counts.
        return { pfn: lowPfn, rc: 0, stop: { startPfn, nrScanned: nrScanned - 1, nrIsolated } };
      }
      if (ret < 0) {
        lowPfn += rest;
        nrScanned += rest;
        if (ret === -ERRNO.ENOMEM) {
          rc = ret;
          // isolate_fail with -ENOMEM: what this block isolated goes back (the whole list, as
          // putback_movable_pages() takes it), and the scan stops at the folio's last page: the
          // break skips the loop's increment.
          if (nrIsolated) {
            putbackMovablePages(k, cc.migratepages);
            cc.nrMigratepages = 0;
            nrIsolated = 0;
          }
          break;
        }
        continue;
      }
      if (m.test(head, PG_hugetlb)) {
        // Isolated onto the list (isolate_success_no_list).
        nr = 2 ** order;
        lowPfn += rest;
      } else {
        // Dissolved: its pages are free (buddy) pages of the isolated range now.
        head = m.folioOf(lowPfn);
      }
    }
    if (!nr) {
      const flags = m.flags[lowPfn]!;
      if (flags & PG_buddy) {
        const order = m.order[lowPfn]!;
        if (order > 0 && order <= k.pageAlloc.maxOrder) {
          lowPfn += 2 ** order - 1;
          nrScanned += 2 ** order - 1;
        }
        continue;
      }
      const folioNr = m.folioNrPages(head);
      if (m.test(head, PG_head) && !allocContig) {
        const order = m.folioOrder(head);
        if (skipIsolationOnOrder(k, order, cc.order)) {
          if (order <= k.pageAlloc.maxOrder) {
            nrScanned += head + folioNr - 1 - lowPfn;
            lowPfn = head + folioNr - 1;
          }
          continue;
        }
      }
      if (!m.test(head, PG_lru)) {
        if (
          !pageHasMovableOps(k, head) ||
          m.test(head, PG_movable_ops_isolated) ||
          !isolateMovableOpsPage(k, head, cc.mode === MIGRATE_SYNC ? 0 : ISOLATE_ASYNC_MIGRATE)
        )
          continue;
      } else {
        if (m.refcount[head]! > folioExpectedRefCount(k, head)) continue;
        if (cc.mode === MIGRATE_ASYNC && m.test(head, PG_locked)) continue;
        // The first LRU folio marks the block to skip for other runs; one marked already by
        // another run ends the scan of the block, unless this scan is to finish it.
        if (!skipUpdated && validPage >= 0) {
          skipUpdated = true;
          if (testAndSetSkip(cc, validPage) && !cc.finishPageblock) {
            lowPfn = endPfn;
            break;
          }
        }
        if (!k.lru.isolate(head)) continue;
      }
      cc.migratepages.addTail(head);
      nr = folioNr;
      lowPfn = head + folioNr - 1;
    }
    // isolate_success_no_list: the folio's other pages count as scanned.
    cc.nrMigratepages += nr;
    nrIsolated += nr;
    nrScanned += nr - 1;
    // Enough for one migrate_pages() call, unless the block is to be scanned to its end.
    if (cc.nrMigratepages >= COMPACT_CLUSTER_MAX && !cc.finishPageblock && !cc.contended) {
      lowPfn++;
      break;
    }
  }
  if (lowPfn > endPfn) lowPfn = endPfn;
  // The block scanned to its end without isolating anything, or finished: marked to skip (unless
  // its first LRU folio marked it), and the next run's migration scanner starts past it.
  if (lowPfn === endPfn && (!nrIsolated || cc.finishPageblock)) {
    if (!cc.noSetSkipHint && validPage >= 0 && !skipUpdated) cc.zone.setPageblockSkip(validPage);
    updateCachedMigrate(k, cc, lowPfn);
  }
  cc.totalMigrateScanned += nrScanned;
  isolated(k, "mm_compaction_isolate_migratepages", startPfn, lowPfn, nrScanned, nrIsolated);
  cc.migratePfn = lowPfn;
  return { pfn: lowPfn, rc, stop: null };
};

/**
 * Where {@link isolateMigratepagesBlock} stopped for a hugetlb replacement's slow path: the
 * block's first PFN, and the pages it had scanned and isolated before the folio's page.
 */
interface BlockStop {
  readonly startPfn: number;
  readonly nrScanned: number;
  readonly nrIsolated: number;
}

/**
 * The `struct compact_control` `alloc_contig_range()` (`alloc_contig_range_noprof()`,
 * `mm/page_alloc.c`, Linux 6.16) scans with: node `nid`'s zone, a full scan (`order` -1),
 * `MIGRATE_SYNC`, `alloc_contig`, isolating onto `list`; `current` is the task clearing the range,
 * in which replacement huge pages are allocated (null: a kernel thread of `nid`).
 *
 * @category Compaction
 */
export const allocContigCompactControl = (
  k: Kernel,
  nid: number,
  list: FolioList,
  current: AllocContext | null = null,
): CompactControl => ({
  zone: k.pageAlloc.zones[nid]!,
  order: -1,
  mode: MIGRATE_SYNC,
  gfp: GFP_KERNEL,
  migratetype: MIGRATE_MOVABLE,
  directCompaction: false,
  current,
  proactiveCompaction: false,
  ignoreBlockSuitable: true,
  ignoreSkipHint: true,
  noSetSkipHint: true,
  wholeZone: false,
  finishPageblock: false,
  migratepages: list,
  freepages: [],
  nrMigratepages: 0,
  nrFreepages: 0,
  migratePfn: 0,
  fastStartPfn: 0,
  fastSearchFail: 0,
  searchOrder: 0,
  freePfn: 0,
  totalMigrateScanned: 0,
  totalFreeScanned: 0,
  contended: false,
});

/**
 * `isolate_migratepages_range()` (`mm/compaction.c`, Linux 6.16): isolates onto
 * `cc.migratepages`, pageblock by pageblock from `startPfn` (the first and last pageblocks may be
 * partial), what `alloc_contig_range()` can move out of `[startPfn, endPfn)`: LRU folios (large
 * ones included), `movable_ops` pages, and hugetlb folios in use; free hugetlb folios are
 * replaced and dissolved on the way (`isolate_or_dissolve_huge_folio()`), each replacement one
 * whole allocation on the folio's node (`htlb_alloc_mask() | __GFP_THISNODE |
 * __GFP_RETRY_MAYFAIL`): when its first tries fail, the scan waits at the folio while its slow
 * path reclaims and compacts (`allocPagesSlowpath()`), then goes on. Stops once
 * `cc.nrMigratepages` reaches `COMPACT_CLUSTER_MAX` (32 base pages, or one large folio), leaving
 * the next PFN to scan in `cc.migratePfn`; each pageblock scanned counts `compact_isolated` and
 * emits one `mm_compaction_isolate_migratepages` (a 32-page batch ends it early). Gives 0, or
 * `-ENOMEM` when a hugetlb folio can be neither isolated nor replaced (a gigantic one, or no
 * replacement page): then the list was put back if that pageblock had isolated anything, and what
 * earlier pageblocks isolated is still on it, counted; or `-EINTR` when the kernel starts shutting
 * down during the scan (a fatal signal, looked for every `COMPACT_CLUSTER_MAX` PFNs), what was
 * isolated still on the list. `cc` is made by
 * {@link allocContigCompactControl}.
 *
 * @category Compaction
 */
export const isolateMigratepagesRange = (
  k: Kernel,
  cc: CompactControl,
  startPfn: number,
  endPfn: number,
): Effect.Effect<number> =>
  Effect.suspend(() => {
    const nr = pageblockNr(k);
    const rep = newHugetlbReplacement();
    return Effect.gen(function* () {
      let pfn = startPfn;
      let blockEnd = pageblockStart(k, pfn) + nr;
      for (; pfn < endPfn; pfn = blockEnd, blockEnd += nr) {
        blockEnd = Math.min(blockEnd, endPfn);
        let r = isolateMigratepagesBlock(k, cc, pfn, blockEnd, true, rep);
        while (r.stop) {
          yield* hugetlbReplacementSlowpath(k, rep, cc.current ?? null);
          r = isolateMigratepagesBlock(k, cc, r.pfn, blockEnd, true, rep, r.stop);
        }
        if (r.rc) return r.rc;
        if (cc.nrMigratepages >= COMPACT_CLUSTER_MAX) break;
      }
      return 0;
    }).pipe(Effect.ensuring(Effect.sync(() => hugetlbReplacementRelease(k, rep))));
  });

/**
 * `suitable_migration_source()` (`mm/compaction.c`): asynchronous direct compaction scans only
 * pageblocks of the allocation's kind (movable ones for a movable allocation); everything else
 * scans every pageblock.
 */
const suitableMigrationSource = (k: Kernel, cc: CompactControl, pfn: number): boolean => {
  if (pageblockSkipPersistent(k, pfn)) return false;
  if (cc.mode !== MIGRATE_ASYNC || !cc.directCompaction) return true;
  const blockMt = cc.zone.pageblockMigratetype(pfn);
  return cc.migratetype === MIGRATE_MOVABLE
    ? blockMt === MIGRATE_MOVABLE
    : blockMt === cc.migratetype;
};

/**
 * `freelist_scan_limit()` (`mm/compaction.c`): how many free-list entries a fast search looks at:
 * `COMPACT_CLUSTER_MAX` halved for each fast search of this run that failed in a row, plus one.
 */
const freelistScanLimit = (cc: CompactControl): number =>
  Math.floor(COMPACT_CLUSTER_MAX / 2 ** Math.min(63, cc.fastSearchFail)) + 1;

/**
 * `move_freelist_head()` (`mm/compaction.c`): turns a free list so that `freepage` comes first,
 * so the next reverse search starts past the entries this one looked at.
 */
const moveFreelistHead = (freelist: FolioList, freepage: number): void => {
  freelist.rotateToFront(freepage);
};

/**
 * `move_freelist_tail()` (`mm/compaction.c`): turns a free list so that `freepage` comes last,
 * so the next forward search starts past it.
 */
const moveFreelistTail = (freelist: FolioList, freepage: number): void => {
  const next = freelist.next(freepage);
  if (next >= 0) freelist.rotateToFront(next);
};

/** `update_fast_start_pfn()` (`mm/compaction.c`): the lowest block a fast search found. */
const updateFastStartPfn = (cc: CompactControl, pfn: number): void => {
  if (cc.fastStartPfn === Number.MAX_SAFE_INTEGER) return;
  if (!cc.fastStartPfn) cc.fastStartPfn = pfn;
  cc.fastStartPfn = Math.min(cc.fastStartPfn, pfn);
};

/**
 * `reinit_migrate_pfn()` (`mm/compaction.c`): after a failed fast search, the linear scan goes
 * back once to the lowest block an earlier fast search found.
 */
const reinitMigratePfn = (cc: CompactControl): number => {
  if (!cc.fastStartPfn || cc.fastStartPfn === Number.MAX_SAFE_INTEGER) return cc.migratePfn;
  cc.migratePfn = cc.fastStartPfn;
  cc.fastStartPfn = Number.MAX_SAFE_INTEGER;
  return cc.migratePfn;
};

/**
 * `fast_find_migrateblock()` (`mm/compaction.c`, Linux 6.16): where the migration scanner goes
 * next. For an order above `PAGE_ALLOC_COSTLY_ORDER` (and, in direct compaction, a movable
 * allocation), when the scanner is at a pageblock's start and the run heeds the skip hints, it
 * looks through the movable free lists from `order - 1` down to `PAGE_ALLOC_COSTLY_ORDER`, at
 * most {@link freelistScanLimit} entries, for a free block in the first half of the distance to
 * the free scanner (an eighth once the scanner has left the zone's start) whose pageblock is not
 * marked skip: a block already partly free, so fewer pages must move. The entry found goes to the
 * list's tail. Otherwise the scan goes on where it was (once back to the lowest block an earlier
 * search found), counting a failure. The entries looked at count as migration-scanned pages.
 */
const fastFindMigrateblock = (k: Kernel, cc: CompactControl): number => {
  const zone = cc.zone;
  let pfn = cc.migratePfn;
  if (cc.ignoreSkipHint) return pfn;
  // A block to be finished is not left for another.
  if (cc.finishPageblock) return pfn;
  if (pfn !== zone.startPfn && pfn !== pageblockStart(k, pfn)) return pfn;
  if (cc.order <= PAGE_ALLOC_COSTLY_ORDER) return pfn;
  if (cc.directCompaction && cc.migratetype !== MIGRATE_MOVABLE) return pfn;
  const limit = freelistScanLimit(cc);
  let nrScanned = 0;
  let distance = Math.floor((cc.freePfn - cc.migratePfn) / 2);
  if (cc.migratePfn !== zone.startPfn) distance = Math.floor(distance / 4);
  const highPfn = pageblockStart(k, cc.migratePfn + distance);
  let foundBlock = false;
  for (
    let order = cc.order - 1;
    order >= PAGE_ALLOC_COSTLY_ORDER && !foundBlock && nrScanned < limit;
    order--
  ) {
    if (!zone.nrFree[order]) continue;
    const freelist = zone.freeArea[order]![MIGRATE_MOVABLE]!;
    for (let freepage = freelist.first; freepage >= 0; freepage = freelist.next(freepage)) {
      if (nrScanned++ >= limit) {
        moveFreelistTail(freelist, freepage);
        break;
      }
      if (freepage < highPfn) {
        // Skipped lately: passed over, not moved (the walk would lose its place).
        if (zone.getPageblockSkip(freepage)) continue;
        moveFreelistTail(freelist, freepage);
        updateFastStartPfn(cc, freepage);
        pfn = Math.max(pageblockStart(k, freepage), zone.startPfn);
        cc.fastSearchFail = 0;
        foundBlock = true;
        break;
      }
    }
  }
  cc.totalMigrateScanned += nrScanned;
  if (!foundBlock) {
    cc.fastSearchFail++;
    pfn = reinitMigratePfn(cc);
  }
  return pfn;
};

/**
 * `isolate_migratepages()` (`mm/compaction.c`): from `cc.migratePfn`, finds the next pageblock
 * below the free scanner worth scanning (not marked skip, a suitable source: the cached PFN moves
 * past an unsuitable one) and isolates from it. `"success"` when something was
 * isolated (`ISOLATE_SUCCESS`), `"none"` (`ISOLATE_NONE`), or `"abort"` (`ISOLATE_ABORT`) when
 * the scan stopped for a fatal signal.
 */
const isolateMigratepages = (k: Kernel, cc: CompactControl): "success" | "none" | "abort" => {
  const nr = pageblockNr(k);
  // Where the last isolation stopped, or a block the free lists point to.
  let lowPfn = fastFindMigrateblock(k, cc);
  let blockStart = Math.max(pageblockStart(k, lowPfn), cc.zone.startPfn);
  let blockEnd = pageblockStart(k, lowPfn) + nr;
  // A block the fast search found is not marked skip: no need to look again.
  let fastFindBlock = lowPfn !== cc.migratePfn && !cc.fastSearchFail;
  for (
    ;
    blockEnd <= cc.freePfn;
    fastFindBlock = false, lowPfn = blockEnd, blockStart = blockEnd, blockEnd += nr
  ) {
    // The hint is checked once per block, where its scan starts.
    if (
      (lowPfn % nr === 0 || lowPfn === cc.zone.startPfn) &&
      !fastFindBlock &&
      !isolationSuitable(cc, blockStart)
    ) {
      continue;
    }
    // The cached position moves past blocks async direct compaction does not scan, in case none
    // is left between the scanners and they never meet.
    if (!suitableMigrationSource(k, cc, blockStart)) {
      updateCachedMigrate(k, cc, blockEnd);
      continue;
    }
    const r = isolateMigratepagesBlock(k, cc, lowPfn, blockEnd, false);
    if (r.rc) return "abort";
    lowPfn = r.pfn;
    break;
  }
  cc.migratePfn = lowPfn;
  return cc.nrMigratepages > 0 ? "success" : "none";
};

/** `compact_scanners_met()`: the scanners are in the same pageblock, or have crossed. */
const compactScannersMet = (k: Kernel, cc: CompactControl): boolean =>
  Math.floor(cc.freePfn / pageblockNr(k)) <= Math.floor(cc.migratePfn / pageblockNr(k));

/**
 * `suitable_migration_target()` (`mm/compaction.c`): the free scanner takes from movable
 * pageblocks only (unless told otherwise), and not from one whose first page starts a free block
 * as large as what compaction is building.
 */
const suitableMigrationTarget = (k: Kernel, cc: CompactControl, pfn: number): boolean => {
  const m = k.memmap;
  if (m.flags[pfn]! & PG_buddy) {
    const order = cc.order > 0 ? cc.order : k.pageAlloc.pageblockOrder;
    if (m.order[pfn]! >= order) return false;
  }
  if (cc.ignoreBlockSuitable) return true;
  return cc.zone.pageblockMigratetype(pfn) === MIGRATE_MOVABLE;
};

/**
 * `isolate_freepages_block()` (`mm/compaction.c`): takes the free blocks of `[start, endPfn)`
 * onto `cc.freepages` until there are as many free pages as pages to migrate, or the zone would
 * drop under its min watermark. Returns where it stopped; counts `compact_isolated` and emits
 * `mm_compaction_isolate_freepages`.
 */
const isolateFreepagesBlock = (
  k: Kernel,
  cc: CompactControl,
  start: number,
  endPfn: number,
  stride = 1,
): number => {
  const m = k.memmap;
  let nrScanned = 0;
  let totalIsolated = 0;
  let pfn = start;
  for (; pfn < endPfn; pfn += stride) {
    nrScanned++;
    if (!(m.flags[pfn]! & PG_buddy)) continue;
    const order = m.order[pfn]!;
    const isolated = k.pageAlloc.isolateFreePage(pfn, order);
    if (!isolated) break;
    nrScanned += isolated - 1;
    totalIsolated += isolated;
    cc.nrFreepages += isolated;
    cc.freepages[order]!.push(pfn);
    if (cc.nrMigratepages <= cc.nrFreepages) {
      pfn += isolated;
      break;
    }
    pfn += isolated - 1;
  }
  if (pfn > endPfn) pfn = endPfn;
  cc.totalFreeScanned += nrScanned;
  isolated(k, "mm_compaction_isolate_freepages", start, pfn, nrScanned, totalIsolated);
  return pfn;
};

/**
 * `fast_isolate_around()` (`mm/compaction.c`): after the fast search took a free block, the rest of
 * its pageblock is scanned for more while the run needs them (not in asynchronous direct
 * compaction), and the block is marked skip when scanned to its end.
 */
const fastIsolateAround = (k: Kernel, cc: CompactControl, pfn: number): void => {
  if (cc.nrFreepages >= cc.nrMigratepages) return;
  if (cc.directCompaction && cc.mode === MIGRATE_ASYNC) return;
  const start = Math.max(pageblockStart(k, pfn), cc.zone.startPfn);
  const end = Math.min(pageblockEnd(k, pfn), cc.zone.endPfn);
  const next = isolateFreepagesBlock(k, cc, start, end);
  if (next === end && !cc.noSetSkipHint) cc.zone.setPageblockSkip(start);
};

/**
 * `next_search_order()` (`mm/compaction.c`): the orders below `cc.order` round-robin from
 * `cc.searchOrder` down; -1 once the search came round, the start then moved one order down.
 */
const nextSearchOrder = (cc: CompactControl, order: number): number => {
  order--;
  if (order < 0) order = cc.order - 1;
  if (order === cc.searchOrder) {
    cc.searchOrder--;
    if (cc.searchOrder < 0) cc.searchOrder = cc.order - 1;
    return -1;
  }
  return order;
};

/**
 * `fast_isolate_freepages()` (`mm/compaction.c`, Linux 6.16): before the free scanner walks, a
 * short search of the movable free lists of the orders below `cc.order` (from `cc.searchOrder`,
 * round-robin) from their tails for a free block in the top quarter of the space between the
 * scanners, or failing that the highest one in the top half; at most half of
 * {@link freelistScanLimit} entries (half a pageblock when the free scanner starts), fewer for
 * each order and each candidate. The block found is isolated whole and the rest of its pageblock
 * scanned ({@link fastIsolateAround}); the list is turned so the next search starts past what this
 * one saw. None for a full compaction. A search that finds nothing counts a failure; when the free
 * scanner was starting, it moves to the highest block the search saw (or, for direct compaction,
 * to the bottom of the top half). The entries looked at count as free-scanned pages; emits
 * `mm_compaction_fast_isolate_freepages`.
 */
const fastIsolateFreepages = (k: Kernel, cc: CompactControl): void => {
  if (cc.order <= 0) return;
  const zone = cc.zone;
  const nr = pageblockNr(k);
  let limit = Math.max(1, freelistScanLimit(cc) >> 1);
  let nrScanned = 0;
  let totalIsolated = 0;
  let highest = 0;
  let page = -1;
  let scanStart = false;
  if (cc.freePfn >= zone.compactInitFreePfn) {
    limit = nr >> 1;
    scanStart = true;
  }
  const distance = cc.freePfn - cc.migratePfn;
  let lowPfn = pageblockStart(k, cc.freePfn - (distance >> 2));
  const minPfn = pageblockStart(k, cc.freePfn - (distance >> 1));
  if (minPfn > lowPfn) lowPfn = minPfn;
  cc.searchOrder = Math.min(cc.order - 1, cc.searchOrder);
  for (let order = cc.searchOrder; page < 0 && order >= 0; order = nextSearchOrder(cc, order)) {
    if (!zone.nrFree[order]) continue;
    const freelist = zone.freeArea[order]![MIGRATE_MOVABLE]!;
    let orderScanned = 0;
    let highPfn = 0;
    // The entry the walk stopped at; -1 when it went through the whole list.
    let freepage = -1;
    for (let fp = freelist.last; fp >= 0; fp = freelist.prev(fp)) {
      orderScanned++;
      nrScanned++;
      if (fp >= highest) highest = Math.max(pageblockStart(k, fp), zone.startPfn);
      if (fp >= lowPfn) {
        cc.fastSearchFail = 0;
        cc.searchOrder = order;
        page = fp;
        freepage = fp;
        break;
      }
      if (fp >= minPfn && fp > highPfn) {
        highPfn = fp;
        // A candidate shortens the search.
        limit >>= 1;
      }
      if (orderScanned >= limit) {
        freepage = fp;
        break;
      }
    }
    // The highest candidate when none was in the top quarter.
    if (page < 0 && highPfn) {
      page = highPfn;
      freepage = page;
    }
    if (freepage >= 0) moveFreelistHead(freelist, freepage);
    if (page >= 0) {
      const isolated = k.pageAlloc.isolateFreePage(page, order);
      if (isolated) {
        nrScanned += isolated - 1;
        totalIsolated += isolated;
        cc.nrFreepages += isolated;
        cc.freepages[order]!.push(page);
      } else {
        // Isolation failed (the watermark): the search ends.
        order = cc.searchOrder + 1;
        page = -1;
      }
    }
    if (cc.nrFreepages >= cc.nrMigratepages) break;
    // A smaller scan of the next order, so the whole search stays near the limit.
    if (orderScanned >= limit) limit = Math.max(1, limit >> 1);
  }
  isolated(k, "mm_compaction_fast_isolate_freepages", minPfn, cc.freePfn, nrScanned, totalIsolated);
  if (page < 0) {
    cc.fastSearchFail++;
    if (scanStart) {
      // The highest block seen above the top half's bottom, or, for direct compaction, that
      // bottom: pessimistic.
      if (highest >= minPfn) {
        page = highest;
        cc.freePfn = highest;
      } else if (cc.directCompaction && k.mem.pfnValid(minPfn) && minPfn >= zone.startPfn) {
        page = minPfn;
        cc.freePfn = minPfn;
      }
    }
  }
  if (highest && highest >= zone.compactCachedFreePfn) {
    highest -= nr;
    zone.compactCachedFreePfn = highest;
  }
  cc.totalFreeScanned += nrScanned;
  if (page < 0) return;
  fastIsolateAround(k, cc, page);
};

/**
 * `isolate_freepages()` (`mm/compaction.c`): the free scanner, from `cc.freePfn` down pageblock
 * by pageblock, passing over blocks marked skip and marking each it scans to the end
 * (`update_pageblock_skip()`, which also lowers the zone's cached free PFN), stopping above the migration scanner's pageblock or once it has isolated as
 * many free pages as there are pages to migrate. It runs only when {@link fastIsolateFreepages}
 * isolated nothing. Asynchronous compaction looks at every `COMPACT_CLUSTER_MAX`-th page of a
 * block, twice as sparsely after each block that yielded nothing (up to that stride), and at every
 * page again after one that yielded.
 */
const isolateFreepages = (k: Kernel, cc: CompactControl): void => {
  // A short search of the free lists first.
  fastIsolateFreepages(k, cc);
  if (cc.nrFreepages) return;
  const nr = pageblockNr(k);
  // Asynchronous compaction samples every COMPACT_CLUSTER_MAX-th page until a block yields.
  let stride = cc.mode === MIGRATE_ASYNC ? COMPACT_CLUSTER_MAX : 1;
  let isolateStart = cc.freePfn;
  let blockStart = pageblockStart(k, isolateStart);
  let blockEnd = Math.min(blockStart + nr, cc.zone.endPfn);
  const lowPfn = pageblockStart(k, cc.migratePfn) + nr;
  for (; blockStart >= lowPfn; blockEnd = blockStart, blockStart -= nr, isolateStart = blockStart) {
    if (blockStart < cc.zone.startPfn) break;
    if (!suitableMigrationTarget(k, cc, blockStart)) continue;
    // Isolation failed here lately: do not retry.
    if (!isolationSuitable(cc, blockStart)) continue;
    const nrBefore = cc.nrFreepages;
    const next = isolateFreepagesBlock(k, cc, Math.max(isolateStart, blockStart), blockEnd, stride);
    isolateStart = next;
    // A block scanned to its end is marked to skip.
    if (next === blockEnd) updatePageblockSkip(cc, blockStart, blockStart - nr);
    if (cc.nrFreepages >= cc.nrMigratepages) {
      if (isolateStart >= blockEnd) isolateStart = blockStart - nr;
      break;
    }
    if (isolateStart < blockEnd) break;
    // Back to every page once a block yielded, else sample more sparsely.
    stride = cc.nrFreepages > nrBefore ? 1 : Math.min(COMPACT_CLUSTER_MAX, stride << 1);
  }
  cc.freePfn = isolateStart;
};

/**
 * `compaction_alloc()` (`mm/compaction.c`): the destination for a folio being migrated: the
 * smallest isolated free block of its order or more, split down, the rest kept for later; the
 * free scanner runs once more when none is left. -1 when none can be found.
 */
const compactionAlloc =
  (k: Kernel, cc: CompactControl) =>
  (src: number): number => {
    const order = k.memmap.folioOrder(src);
    let start = order;
    const find = () => {
      for (start = order; start < cc.freepages.length; start++) {
        if (cc.freepages[start]!.length > 0) return true;
      }
      return false;
    };
    if (!find()) {
      isolateFreepages(k, cc);
      if (!find()) return -1;
    }
    const pfn = cc.freepages[start]!.pop()!;
    while (start > order) {
      start--;
      k.memmap.order[pfn + 2 ** start] = start;
      cc.freepages[start]!.push(pfn + 2 ** start);
    }
    cc.nrFreepages -= 2 ** order;
    k.pageAlloc.prepNewPage(pfn, order, order > 0 ? __GFP_COMP : 0);
    return pfn;
  };

/**
 * `compaction_free()` (`mm/compaction.c`): takes back a destination `migrate_pages()` did not use,
 * onto the isolated free blocks.
 */
const compactionFree =
  (k: Kernel, cc: CompactControl) =>
  (dst: number): void => {
    const m = k.memmap;
    const order = m.folioOrder(dst);
    if (--m.refcount[dst]! > 0) return;
    if (!k.pageAlloc.freePagesPrepare(dst, order)) return;
    cc.freepages[order]!.push(dst);
    cc.nrFreepages += 2 ** order;
  };

/**
 * `release_free_list()`: every isolated free block back to the buddy allocator. Returns the
 * highest PFN released, 0 when there was none.
 */
const releaseFreeList = (k: Kernel, cc: CompactControl): number => {
  let highPfn = 0;
  cc.freepages.forEach((blocks, order) => {
    for (const pfn of blocks) {
      k.pageAlloc.freePages(pfn, order);
      if (pfn > highPfn) highPfn = pfn;
    }
    blocks.length = 0;
  });
  cc.nrFreepages = 0;
  return highPfn;
};

/**
 * `kswapd_is_running()` (`mm/compaction.c`): node `nid` has a `kswapd` that is not waiting on its
 * wait queue (it reclaims, or a wake-up is pending for it).
 */
const kswapdIsRunning = (k: Kernel, nid: number): boolean =>
  k.kswapd.hasDaemon(nid) && !k.kswapd.sleeping(nid);

/**
 * `__compact_finished()` (`mm/compaction.c`, Linux 6.16): is the run done? Complete when the
 * scanners meet; for proactive compaction, partly skipped while the node's `kswapd` runs, and
 * done when the zone's score is under the low watermark; never early for a full compaction;
 * otherwise, at a pageblock boundary, success when a free block of the order is on the
 * allocation's lists or one it could claim from another type.
 */
const compactFinishedInner = (k: Kernel, cc: CompactControl): number => {
  if (cc.contended || compactFatalSignal(k, cc)) return CompactResult.CONTENDED;
  if (compactScannersMet(k, cc)) {
    // The next run starts anew; kswapd clears the skip hints when it next sleeps, if this was
    // for an allocation (kcompactd's own runs do not ask for it).
    resetCachedPositions(k, cc.zone);
    if (cc.directCompaction) cc.zone.compactBlockskipFlush = true;
    return cc.wholeZone ? CompactResult.COMPLETE : CompactResult.PARTIAL_SKIPPED;
  }
  if (cc.proactiveCompaction) {
    if (kswapdIsRunning(k, cc.zone.nid)) return CompactResult.PARTIAL_SKIPPED;
    const score = extfragForOrder(cc.zone, k.pmdOrder);
    return score > fragmentationScoreWmark(k, true)
      ? CompactResult.CONTINUE
      : CompactResult.SUCCESS;
  }
  if (isViaCompactMemory(cc.order)) return CompactResult.CONTINUE;
  if (cc.migratePfn % pageblockNr(k) !== 0) return CompactResult.CONTINUE;
  for (let order = cc.order; order <= k.pageAlloc.maxOrder; order++) {
    if (!cc.zone.freeArea[order]![cc.migratetype]!.isEmpty) return CompactResult.SUCCESS;
    if (k.pageAlloc.findSuitableFallback(cc.zone.nid, order, cc.migratetype, true) >= 0) {
      return CompactResult.SUCCESS;
    }
  }
  return CompactResult.NO_SUITABLE_PAGE;
};

/** `compact_finished()`: {@link compactFinishedInner} with its trace event. */
const compactFinished = (k: Kernel, cc: CompactControl): number => {
  const ret = compactFinishedInner(k, cc);
  trace(k, cc.zone, cc.order, "finished", ret);
  return ret === CompactResult.NO_SUITABLE_PAGE ? CompactResult.CONTINUE : ret;
};

/**
 * What a {@link compactZone} run is asked for: `struct compact_control`'s inputs.
 *
 * @category Compaction
 */
export interface CompactZoneOptions {
  /** The order wanted; -1 for a full compaction. */
  readonly order: number;
  /** The migration mode. */
  readonly mode: MigrateMode;
  /** The GFP flags of the allocation compacted for (`GFP_KERNEL` for a full compaction). */
  readonly gfp?: number;
  /** Direct compaction (`direct_compaction`). */
  readonly directCompaction?: boolean;
  /** Proactive compaction (`proactive_compaction`). */
  readonly proactiveCompaction?: boolean;
  /** `ignore_block_suitable`: `COMPACT_PRIO_SYNC_FULL` sets it. */
  readonly ignoreBlockSuitable?: boolean;
  /**
   * `ignore_skip_hint`: the pageblock skip hints are neither consulted nor set on an LRU folio's
   * isolation. Full compactions (`compact_node()`, proactive ones) and `COMPACT_PRIO_SYNC_FULL`
   * set it; false by default.
   */
  readonly ignoreSkipHint?: boolean;
  /**
   * `whole_zone`: the scanners start at the zone's ends, not where the last run left them
   * (`compact_cached_migrate_pfn[]`, `compact_cached_free_pfn`). Full compactions and
   * `COMPACT_PRIO_SYNC_FULL` set it; false by default.
   */
  readonly wholeZone?: boolean;
  /**
   * The task compacting (`current`), for direct compaction: a `SIGKILL` pending for it
   * (`fatal_signal_pending()`) ends the run `COMPACT_CONTENDED`, as the kernel shutting down
   * does. Absent or null: a kernel thread's run (`kcompactd`, a full compaction).
   */
  readonly current?: AllocContext | null;
}

/**
 * What one {@link compactZone} run did.
 *
 * @category Compaction
 */
export interface CompactZoneResult {
  /** How it ended (`enum compact_result`). */
  readonly result: CompactResult;
  /** Pages the migration scanner looked at (`total_migrate_scanned`). */
  readonly migrateScanned: number;
  /** Pages the free scanner looked at (`total_free_scanned`). */
  readonly freeScanned: number;
  /** Base pages migrated. */
  readonly migrated: number;
}

/**
 * `compact_zone()` (`mm/compaction.c`): compacts node `nid`'s zone. Unless this is a full
 * compaction (`order` -1), first checks {@link compactionSuitable}. Then, until
 * `__compact_finished()` says stop: isolate up to `COMPACT_CLUSTER_MAX` folios, migrate them with
 * `migrate_pages()` (`compaction_alloc()`, `compaction_free()`, the run's mode, `MR_COMPACTION`),
 * put back what did not move. An iteration that starts in the pageblock the last one migrated
 * from, or a failed asynchronous or sync-light migration from a block the scanner left part way
 * (rescanned at once), finishes the block (`cc->finish_pageblock`, {@link CompactControl}); a
 * `-ENOMEM` from `migrate_pages()` before the scanners met ends the run `COMPACT_CONTENDED`.
 * Isolated free pages go back at the end. Counts
 * `compact_migrate_scanned`, `compact_free_scanned` and `compact_isolated`; emits
 * `mm_compaction_begin`, `_end`, `_migratepages` and the isolation events.
 *
 * `capc` is direct compaction's capture control (`compact_zone_order()` sets it on the task,
 * `PageAllocator.setCaptureControl()`); null for every other caller. When a migration step
 * leaves a block captured for it (`capc->page`), the run stops there with `COMPACT_SUCCESS`,
 * unless that step ended it as contended.
 *
 * @category Compaction
 */
export const compactZone = (
  k: Kernel,
  nid: number,
  options: CompactZoneOptions,
  capc: CaptureControl | null = null,
): Effect.Effect<CompactZoneResult, ErrnoError> =>
  Effect.gen(function* () {
    const zone = k.pageAlloc.zones[nid];
    if (!zone)
      return yield* Effect.fail(errno("EINVAL", `compact_zone: node ${nid} does not exist`));
    const { order, mode } = options;
    const gfp = options.gfp ?? GFP_KERNEL;
    const done = (result: number): CompactZoneResult => ({
      result: result as CompactResult,
      migrateScanned: 0,
      freeScanned: 0,
      migrated: 0,
    });
    if (zone.managedPages === 0) return done(CompactResult.SKIPPED);
    if (!isViaCompactMemory(order)) {
      const ret = compactionSuitAllocationOrder(k, zone, order);
      if (ret !== CompactResult.CONTINUE) return done(ret);
    }
    // Retried after the longest deferral: clear the skip hints first.
    if (compactionRestarting(zone, order)) resetIsolationSuitableZone(k, zone);
    const sync = mode !== MIGRATE_ASYNC;
    // Where the scanners start: the zone's ends, or where the last run left them (reset to the
    // ends when out of the zone).
    let wholeZone = options.wholeZone ?? false;
    let migratePfn = zone.startPfn;
    let freePfn = pageblockStart(k, zone.endPfn - 1);
    if (!wholeZone) {
      migratePfn = zone.compactCachedMigratePfn[sync ? 1 : 0];
      freePfn = zone.compactCachedFreePfn;
      if (freePfn < zone.startPfn || freePfn >= zone.endPfn) {
        freePfn = pageblockStart(k, zone.endPfn - 1);
        zone.compactCachedFreePfn = freePfn;
      }
      if (migratePfn < zone.startPfn || migratePfn >= zone.endPfn) {
        migratePfn = zone.startPfn;
        zone.compactCachedMigratePfn[0] = migratePfn;
        zone.compactCachedMigratePfn[1] = migratePfn;
      }
      if (migratePfn <= zone.compactInitMigratePfn) wholeZone = true;
    }
    const cc: CompactControl = {
      zone,
      order,
      mode,
      gfp,
      migratetype: gfpMigratetype(gfp),
      directCompaction: options.directCompaction ?? false,
      proactiveCompaction: options.proactiveCompaction ?? false,
      ignoreBlockSuitable: options.ignoreBlockSuitable ?? false,
      ignoreSkipHint: options.ignoreSkipHint ?? false,
      noSetSkipHint: false,
      wholeZone,
      finishPageblock: false,
      migratepages: new FolioList(k.memmap.lru),
      freepages: Array.from({ length: k.pageAlloc.maxOrder + 1 }, () => []),
      nrMigratepages: 0,
      nrFreepages: 0,
      migratePfn,
      fastStartPfn: 0,
      fastSearchFail: 0,
      searchOrder: order,
      freePfn,
      totalMigrateScanned: 0,
      totalFreeScanned: 0,
      contended: false,
      current: options.current ?? null,
    };
    // An async run keeps the sync cached position with its own while the two are equal and it
    // finds nothing to isolate, so a sync run after it does not scan the same blocks again.
    let updateCached = !sync && zone.compactCachedMigratePfn[0] === zone.compactCachedMigratePfn[1];
    const edge = (event: "mm_compaction_begin" | "mm_compaction_end", status?: number) => {
      if (!k.trace.enabled) return;
      k.trace.emit({
        event,
        nid,
        zoneStart: zone.startPfn,
        migratePfn: cc.migratePfn,
        freePfn: cc.freePfn,
        zoneEnd: zone.endPfn,
        sync,
        ...(status === undefined ? {} : { status: COMPACTION_STATUS_NAMES[status]! }),
      });
    };
    edge("mm_compaction_begin");
    let ret = compactFinished(k, cc);
    let migrated = 0;
    // The pageblock the last isolation that found something ended in (`last_migrated_pfn`): 0
    // until one does, and again once the scanner has left its cc.order-aligned block.
    let lastMigratedPfn = 0;
    try {
      iterations: while (ret === CompactResult.CONTINUE) {
        // An iteration that starts in the block the last one migrated from scans it to its end,
        // so a block whose pages keep failing is marked skip rather than rescanned (with
        // last_migrated_pfn at 0, an iteration in the first block of a zone at PFN 0 does too).
        cc.finishPageblock =
          pageblockStart(k, lastMigratedPfn) === pageblockStart(k, cc.migratePfn);
        for (;;) {
          const isolate = isolateMigratepages(k, cc);
          if (isolate === "abort") {
            // A fatal signal in the scan: what it isolated goes back, unmigrated.
            ret = CompactResult.CONTENDED;
            cc.nrMigratepages = 0;
            putbackMovablePages(k, cc.migratepages);
            break iterations;
          }
          if (isolate === "none") {
            if (updateCached) zone.compactCachedMigratePfn[1] = zone.compactCachedMigratePfn[0];
            break;
          }
          updateCached = false;
          lastMigratedPfn = Math.max(zone.startPfn, pageblockStart(k, cc.migratePfn - 1));
          const isolated = cc.nrMigratepages;
          const r = yield* Effect.exit(
            migratePages(
              k,
              cc.migratepages,
              compactionAlloc(k, cc),
              compactionFree(k, cc),
              mode,
              MR_COMPACTION,
              // Direct compaction runs with PF_MEMALLOC (a kernel thread's too): it never sleeps
              // on a folio's lock.
              {
                current:
                  cc.current ??
                  (cc.directCompaction ? { flags: PF_MEMALLOC, nid: cc.zone.nid } : null),
              },
            ),
          );
          let err = 0;
          if (r._tag === "Failure") {
            // The kernel is shutting down: stop as a fatal signal stops compaction.
            cc.contended = true;
          } else {
            migrated += r.value.nrSucceeded;
            if (k.trace.enabled) {
              k.trace.emit({
                event: "mm_compaction_migratepages",
                nrMigrated: r.value.nrSucceeded,
                nrFailed: isolated - r.value.nrSucceeded,
              });
            }
            err = r.value.rc;
          }
          cc.nrMigratepages = 0;
          putbackMovablePages(k, cc.migratepages);
          if (err) {
            // No target page before the scanners met: stop (compact_finished() sees a meeting).
            if (err === -ERRNO.ENOMEM && !compactScannersMet(k, cc)) {
              ret = CompactResult.CONTENDED;
              break iterations;
            }
            // An asynchronous or sync-light migration from a block left partly scanned failed:
            // scan the rest of the block now, so it ends marked skip and the fast search does not
            // come back to it.
            if (
              pageblockStart(k, cc.migratePfn) !== cc.migratePfn &&
              !cc.ignoreSkipHint &&
              !cc.finishPageblock &&
              mode < MIGRATE_SYNC
            ) {
              cc.finishPageblock = true;
              // Draining the per-CPU lists cannot help a THP once a page failed.
              if (order === k.pmdOrder) lastMigratedPfn = 0;
              continue;
            }
          }
          // Stop if a page has been captured (before the drain check, Linux 6.3+).
          if (capc && capc.page >= 0 && !cc.contended) {
            ret = CompactResult.SUCCESS;
            break iterations;
          }
          break;
        }
        // check_drain: once the scanner has left the cc.order-aligned block it migrated from,
        // the pages freed there are drained (the model has no per-CPU lists: nothing to do), and
        // last_migrated_pfn is cleared until the next migration.
        if (order > 0 && lastMigratedPfn) {
          if (lastMigratedPfn < cc.migratePfn - (cc.migratePfn % 2 ** order)) lastMigratedPfn = 0;
        }
        ret = compactFinished(k, cc);
      }
    } finally {
      putbackMovablePages(k, cc.migratepages);
      cc.migratepages.release();
      // The next run's free scanner goes back up to the highest block released, so what this
      // run returned is not left behind; never down (the scanners may have met and reset it).
      if (cc.nrFreepages > 0) {
        const freePfn = pageblockStart(k, releaseFreeList(k, cc));
        if (freePfn > zone.compactCachedFreePfn) zone.compactCachedFreePfn = freePfn;
      }
    }
    k.vmstat.count("compact_migrate_scanned", cc.totalMigrateScanned);
    k.vmstat.count("compact_free_scanned", cc.totalFreeScanned);
    edge("mm_compaction_end", ret);
    return {
      result: ret as CompactResult,
      migrateScanned: cc.totalMigrateScanned,
      freeScanned: cc.totalFreeScanned,
      migrated,
    };
  });

/**
 * `compact_node()` (`mm/compaction.c`): a full compaction (order -1) of node `nid`'s zone,
 * `MIGRATE_SYNC`, or `MIGRATE_SYNC_LIGHT` and proactive for `kcompactd`'s proactive runs (which
 * count `compact_daemon_migrate_scanned` / `_free_scanned`). What a write to the node's `compact`
 * file runs.
 *
 * @category Compaction
 */
export const compactNode = (
  k: Kernel,
  nid: number,
  proactive = false,
): Effect.Effect<CompactZoneResult, ErrnoError> =>
  k.call(
    "compact_node",
    Effect.gen(function* () {
      const r = yield* compactZone(k, nid, {
        order: -1,
        mode: proactive ? MIGRATE_SYNC_LIGHT : MIGRATE_SYNC,
        gfp: GFP_KERNEL,
        proactiveCompaction: proactive,
        ignoreBlockSuitable: false,
        ignoreSkipHint: true,
        wholeZone: true,
      });
      if (proactive) {
        k.vmstat.count("compact_daemon_migrate_scanned", r.migrateScanned);
        k.vmstat.count("compact_daemon_free_scanned", r.freeScanned);
      }
      return r;
    }),
  );

/**
 * `compact_nodes()` (`mm/compaction.c`): {@link compactNode} on every node with memory, one after
 * the other; what writing 1 to `/proc/sys/vm/compact_memory` runs.
 *
 * @category Compaction
 */
export const compactNodes = (k: Kernel): Effect.Effect<void, ErrnoError> =>
  Effect.forEach(
    // populated_zone(): the nodes with memory now, not at boot.
    k.mem.nodes.filter((n) => k.nodeHasMemory(n.nid)),
    (n) => compactNode(k, n.nid),
    { discard: true },
  );

type DeferEvent =
  | "mm_compaction_defer_compaction"
  | "mm_compaction_deferred"
  | "mm_compaction_defer_reset";

const traceDefer = (k: Kernel, zone: Zone, order: number, event: DeferEvent): void => {
  if (k.trace.enabled) {
    k.trace.emit({
      event,
      nid: zone.nid,
      order,
      considered: zone.compactConsidered,
      deferShift: zone.compactDeferShift,
      orderFailed: zone.compactOrderFailed,
    });
  }
};

/**
 * `defer_compaction()` (`mm/compaction.c`, Linux 6.16): compaction for `order` failed in `zone`.
 * The count of compactions considered starts again, the shift grows by one up to
 * `COMPACT_MAX_DEFER_SHIFT`, so the next 1, 3, 7 … 63 compactions for this order or higher are
 * skipped, and the failed order drops to `order` if it was higher. Emits
 * `mm_compaction_defer_compaction`.
 */
const deferCompaction = (k: Kernel, zone: Zone, order: number): void => {
  zone.compactConsidered = 0;
  zone.compactDeferShift = Math.min(zone.compactDeferShift + 1, COMPACT_MAX_DEFER_SHIFT);
  if (order < zone.compactOrderFailed) zone.compactOrderFailed = order;
  traceDefer(k, zone, order, "mm_compaction_defer_compaction");
};

/**
 * `compaction_deferred()` (`mm/compaction.c`, Linux 6.16): should compaction for `order` be
 * skipped this time? Never below the failed order; otherwise each call counts one more
 * consideration, and the compaction is skipped (`mm_compaction_deferred`) until the count
 * reaches `1 << compact_defer_shift`, where it stays.
 */
const compactionDeferred = (k: Kernel, zone: Zone, order: number): boolean => {
  if (order < zone.compactOrderFailed) return false;
  const deferLimit = 2 ** zone.compactDeferShift;
  if (++zone.compactConsidered >= deferLimit) {
    zone.compactConsidered = deferLimit;
    return false;
  }
  traceDefer(k, zone, order, "mm_compaction_deferred");
  return true;
};

/**
 * `compaction_defer_reset()` (`mm/compaction.c`, Linux 6.16): compaction for `order` succeeded
 * in `zone`. When the allocation got its page (`allocSuccess`) the deferral ends (considered and
 * shift back to 0); either way the failed order rises above `order`. Emits
 * `mm_compaction_defer_reset`.
 */
const compactionDeferReset = (
  k: Kernel,
  zone: Zone,
  order: number,
  allocSuccess: boolean,
): void => {
  if (allocSuccess) {
    zone.compactConsidered = 0;
    zone.compactDeferShift = 0;
  }
  if (order >= zone.compactOrderFailed) zone.compactOrderFailed = order + 1;
  traceDefer(k, zone, order, "mm_compaction_defer_reset");
};

/**
 * `compact_zone_order()` (`mm/compaction.c`, Linux 6.16): direct compaction of node `nid`'s zone
 * for an allocation of `order` with `gfp` at priority `prio`, by `current` (null: a kernel
 * thread). For the run's length the task's capture control (`struct capture_control`) is set
 * (`current->capture_control`), so a block of the order that the task itself frees in the zone
 * comes to it (`compaction_capture()`); the captured block, -1 when none, comes back with the
 * result, which a capture makes `COMPACT_SUCCESS` however the run ended.
 */
const compactZoneOrder = (
  k: Kernel,
  nid: number,
  order: number,
  gfp: number,
  prio: CompactPriority,
  current: AllocContext | null,
): Effect.Effect<{ readonly result: CompactResult; readonly page: number }, ErrnoError> =>
  Effect.gen(function* () {
    const zone = k.pageAlloc.zones[nid];
    const capc: CaptureControl | null = zone
      ? { cc: { zone, order, migratetype: gfpMigratetype(gfp) }, page: -1 }
      : null;
    const run = compactZone(
      k,
      nid,
      {
        order,
        mode: prio === CompactPriority.ASYNC ? MIGRATE_ASYNC : MIGRATE_SYNC_LIGHT,
        gfp,
        directCompaction: true,
        ignoreBlockSuitable: prio === CompactPriority.SYNC_FULL,
        ignoreSkipHint: prio === CompactPriority.SYNC_FULL,
        wholeZone: prio === CompactPriority.SYNC_FULL,
        current,
      },
      capc,
    );
    k.pageAlloc.setCaptureControl(current, capc);
    // Hidden again before the captured page is read, whatever ended the run. A run that fails
    // or is interrupted hands its capture to no one: back to the free lists, so nothing leaks.
    const { result } = yield* Effect.onExit(run, (exit) =>
      Effect.sync(() => {
        k.pageAlloc.setCaptureControl(current, null);
        if (Exit.isFailure(exit) && capc && capc.page >= 0) {
          k.pageAlloc.freePages(capc.page, order);
          capc.page = -1;
        }
      }),
    );
    const page = capc?.page ?? -1;
    return { result: page >= 0 ? CompactResult.SUCCESS : result, page };
  });

/**
 * `try_to_compact_pages()` (`mm/compaction.c`, Linux 6.16): direct compaction for an allocation
 * of `order` with `gfp`, by `current` (null: a kernel thread of `nid`), over the nodes it may use
 * (node `nid` first, then its fallbacks, or `nid` alone with `__GFP_THISNODE`), at priority
 * `prio`: `MIGRATE_ASYNC` for `COMPACT_PRIO_ASYNC`, `MIGRATE_SYNC_LIGHT` otherwise. Above
 * `COMPACT_PRIO_SYNC_FULL` a zone whose earlier failures defer compaction for this order
 * (`compaction_deferred()`) is passed over, counting as `COMPACT_DEFERRED`. Each zone is compacted
 * by `compact_zone_order()`, which may capture a block for the allocation (see
 * `PageAllocator.setCaptureControl()`). Stops at the first zone that succeeds
 * (`compaction_defer_reset()`, the allocation not yet made); a zone a sync-light run went
 * through without success (`COMPACT_COMPLETE`, `COMPACT_PARTIAL_SKIPPED`) has compaction deferred
 * (`defer_compaction()`). A `SIGKILL` pending for `current` (`fatal_signal_pending()`) stops each
 * zone's run (`COMPACT_CONTENDED`) and the walk after the zone it stopped in. Returns the largest
 * result (`COMPACT_SKIPPED` when no zone could be compacted) and the captured block's first PFN
 * (`*capture`), -1 when none was captured.
 *
 * @category Compaction
 */
export const tryToCompactPages = (
  k: Kernel,
  gfp: number,
  order: number,
  nid: number,
  nodemask: readonly number[] | null,
  prio: CompactPriority,
  current: AllocContext | null = null,
): Effect.Effect<{ readonly result: CompactResult; readonly page: number }, ErrnoError> =>
  Effect.gen(function* () {
    let rc: number = CompactResult.SKIPPED;
    let capture = -1;
    for (const node of allocNodes(k, gfp, nid, nodemask)) {
      const zone = k.pageAlloc.zones[node];
      // The hardest priority compacts whatever earlier failures say.
      if (zone && prio > CompactPriority.SYNC_FULL && compactionDeferred(k, zone, order)) {
        rc = Math.max(rc, CompactResult.DEFERRED);
        continue;
      }
      const { result, page } = yield* compactZoneOrder(k, node, order, gfp, prio, current);
      capture = page;
      rc = Math.max(rc, result);
      if (!zone) continue;
      if (result === CompactResult.SUCCESS) {
        // Likely, not certain: the caller resets fully once the page is had.
        compactionDeferReset(k, zone, order, false);
        break;
      }
      // Asynchronous compaction gives up too easily to count as a failure.
      if (
        prio !== CompactPriority.ASYNC &&
        (result === CompactResult.COMPLETE || result === CompactResult.PARTIAL_SKIPPED)
      ) {
        deferCompaction(k, zone, order);
      }
      // A fatal signal stopped the run: no further zone (need_resched() is not modelled).
      if (fatalSignalPending(current)) break;
    }
    return { result: rc as CompactResult, page: capture };
  });

/**
 * `__alloc_pages_direct_compact()` (`mm/page_alloc.c`, Linux 6.16): runs {@link tryToCompactPages},
 * then takes the block compaction captured for it (`prep_new_page()`: no watermark check, no
 * `pgalloc_*` or `numa_*` count, as no free list was searched), or when there is none tries the
 * allocation again. Order 0 compacts nothing (`COMPACT_SKIPPED`, no page). Unless
 * compaction was skipped it counts `compact_stall`, then `compact_success` when the allocation
 * got its page (which ends the deferral of its zone: `compaction_defer_reset()` with
 * `alloc_success`; and clears its `compact_blockskip_flush`, so `kswapd` keeps the skip hints the
 * run left) or `compact_fail` when it did not. A compaction deferred in every zone
 * (`COMPACT_DEFERRED`) is not skipped: as in Linux 6.16 it counts `compact_stall` and, without a
 * page, `compact_fail`, though no zone was compacted. Returns the page (head PFN) or -1, and the
 * compaction result. `current` is the allocating task: it compacts with `PF_MEMALLOC` set
 * (`memalloc_noreclaim_save()`), restored before the allocation, which is made in it; null for a
 * kernel thread of `nid`. The allocation is `get_page_from_freelist()` with the slow path's
 * `allocFlags` (`ALLOC_*`), as Linux passes its `alloc_flags`.
 *
 * @category Compaction
 */
export const allocPagesDirectCompact = (
  k: Kernel,
  gfp: number,
  order: number,
  nid: number,
  nodemask: readonly number[] | null,
  prio: CompactPriority,
  current: AllocContext | null,
  allocFlags: number,
): Effect.Effect<{ readonly page: number; readonly result: CompactResult }, ErrnoError> =>
  Effect.gen(function* () {
    // Order 0 has nothing to compact for.
    if (!order) return { page: -1, result: CompactResult.SKIPPED };
    // memalloc_noreclaim_save(): the task compacts with PF_MEMALLOC, and allocates without it.
    const { result, page: captured } = yield* withMemallocNoreclaim(
      current,
      tryToCompactPages(k, gfp, order, nid, nodemask, prio, current),
    );
    if (result === CompactResult.SKIPPED) return { page: -1, result };
    k.vmstat.count("compact_stall");
    // The captured block first, else the free lists.
    if (captured >= 0) k.pageAlloc.prepNewPage(captured, order, gfp);
    const page =
      captured >= 0
        ? captured
        : k.pageAlloc.getPageFromFreelist(nid, order, gfp, allocFlags, nodemask, current);
    if (page >= 0) {
      const zone = k.pageAlloc.zones[k.mem.pfnToNid(page)];
      if (zone) {
        // The allocation got its page: kswapd need not clear the skip hints the run left.
        zone.compactBlockskipFlush = false;
        compactionDeferReset(k, zone, order, true);
      }
    }
    k.vmstat.count(page >= 0 ? "compact_success" : "compact_fail");
    return { page, result };
  });

/**
 * `MAX_COMPACT_RETRIES` (`mm/page_alloc.c`): 16, the times {@link shouldCompactRetry} lets a
 * non-costly allocation go round again after a compaction that succeeded without its page getting
 * the page (a quarter of that for a costly order).
 *
 * @category Compaction
 */
export const MAX_COMPACT_RETRIES = 16;

/**
 * `compaction_zonelist_suitable()` (`mm/compaction.c`, Linux 6.16): could compaction run on some
 * node the allocation may use if reclaim freed more? A node is suitable when its free pages plus
 * its reclaimable ones divided by `order` ({@link zoneReclaimablePages}: not all of them, so as not
 * to thrash for one high-order page) would pass `__compaction_suitable()`: the min watermark plus
 * `compact_gap(order)` at order 0, and the low watermark's distance from the min one for a costly
 * order.
 *
 * @category Compaction
 */
export const compactionZonelistSuitable = (
  k: Kernel,
  gfp: number,
  order: number,
  nid: number,
  nodemask: readonly number[] | null,
): boolean =>
  allocNodes(k, gfp, nid, nodemask).some((n) => {
    const zone = k.pageAlloc.zones[n];
    if (!zone) return false;
    const available = Math.floor(zoneReclaimablePages(k, n) / order) + zone.freePages;
    return compactionSuitableFree(k, zone, order, zone.wmarkPages(WMARK_MIN), available);
  });

/**
 * `should_compact_retry()` (`mm/page_alloc.c`, Linux 6.16, `CONFIG_COMPACTION`): may the slow path
 * go round again after its direct compaction ended in `result`? Never for order 0. A compaction
 * skipped for want of free base pages retries when reclaim could make it suitable
 * ({@link compactionZonelistSuitable}); one that succeeded but lost its page retries up to
 * {@link MAX_COMPACT_RETRIES} times (a quarter of that for a costly order), counted in
 * `state.retries`. Otherwise the priority is raised one step (`state.priority`, lower is harder),
 * the count reset, and the slow path retries, down to `MIN_COMPACT_COSTLY_PRIORITY`
 * (`COMPACT_PRIO_SYNC_LIGHT`) for a costly order and `MIN_COMPACT_PRIORITY`
 * (`COMPACT_PRIO_SYNC_FULL`) otherwise; there it gives up. Never either while a `SIGKILL` is
 * pending for the allocating task `current` (`fatal_signal_pending()`: an OOM victim inside a
 * call of its own), which is about to die; null for a kernel thread.
 *
 * @category Compaction
 */
export const shouldCompactRetry = (
  k: Kernel,
  gfp: number,
  order: number,
  nid: number,
  nodemask: readonly number[] | null,
  result: CompactResult,
  state: { priority: CompactPriority; retries: number },
  current: AllocContext | null = null,
): boolean => {
  if (!order) return false;
  if (fatalSignalPending(current)) return false;
  if (result === CompactResult.SKIPPED) {
    return compactionZonelistSuitable(k, gfp, order, nid, nodemask);
  }
  if (result === CompactResult.SUCCESS) {
    const maxRetries =
      order > PAGE_ALLOC_COSTLY_ORDER ? MAX_COMPACT_RETRIES / 4 : MAX_COMPACT_RETRIES;
    if (++state.retries <= maxRetries) return true;
  }
  const minPriority =
    order > PAGE_ALLOC_COSTLY_ORDER ? CompactPriority.SYNC_LIGHT : CompactPriority.SYNC_FULL;
  if (state.priority > minPriority) {
    state.priority = (state.priority - 1) as CompactPriority;
    state.retries = 0;
    return true;
  }
  return false;
};

/**
 * One node's `kcompactd` state (`pg_data_t`'s `kcompactd`, `kcompactd_*` and
 * `proactive_compact_trigger`).
 */
interface KcompactdNode extends KthreadSlot {
  maxOrder: number;
  proactiveTrigger: boolean;
  /** Completed to wake the daemon (`kcompactd_wait`); replaced after each wake. */
  wait: Deferred.Deferred<void>;
}

/**
 * A kernel's compaction: the sysctls and the per-node `kcompactd` daemons of `mm/compaction.c`.
 *
 * @category Compaction
 */
export class CompactionState implements Compaction {
  proactiveness = 20;
  extfragThreshold = 500;
  /**
   * `sysctl_compact_memory` (`mm/compaction.c`): the last value a write to
   * `/proc/sys/vm/compact_memory` parsed, whether 1 or not (`proc_dointvec()` stores it before
   * `sysctl_compaction_handler()` checks it); 0 at boot. An empty write is judged by it.
   */
  compactMemory = 0;
  private readonly nodes: KcompactdNode[];
  /** The daemons, one per node with memory while they run. */
  private readonly threads: NodeKthreads;

  constructor(private readonly k: Kernel) {
    this.nodes = k.mem.nodes.map(() => ({
      maxOrder: 0,
      proactiveTrigger: false,
      wait: Deferred.makeUnsafe<void>(),
      fiber: null,
      stopping: false,
    }));
    this.threads = new NodeKthreads(k, this.nodes, {
      name: "kcompactd",
      // kcompactd_run(): kcompactd() clears kcompactd_max_order. A proactive trigger set while
      // the node had no daemon is work already requested (kcompactd_work_requested()): the
      // first wait ends at once.
      start: (nid) => {
        const node = this.nodes[nid]!;
        node.maxOrder = 0;
        node.wait = Deferred.makeUnsafe<void>();
        if (node.proactiveTrigger) this.wake(nid);
        return this.daemon(nid);
      },
      wake: (nid) => this.wake(nid),
      reset: (nid) => {
        this.nodes[nid]!.wait = Deferred.makeUnsafe<void>();
      },
    });
  }

  get running(): boolean {
    return this.threads.enabled;
  }

  hasDaemon(nid: number): boolean {
    return this.threads.has(nid);
  }

  /**
   * `kcompactd_node_suitable()` (`mm/compaction.c`): would compaction for the node's wanted order
   * do anything?
   */
  private nodeSuitable(nid: number): boolean {
    const zone = this.k.pageAlloc.zones[nid]!;
    return (
      zone.managedPages > 0 &&
      compactionSuitAllocationOrder(this.k, zone, this.nodes[nid]!.maxOrder) ===
        CompactResult.CONTINUE
    );
  }

  private wake(nid: number): void {
    Deferred.doneUnsafe(this.nodes[nid]!.wait, Effect.void);
  }

  suitable(nid: number, order: number, watermark: number): boolean {
    const zone = this.k.pageAlloc.zones[nid];
    return zone !== undefined && compactionSuitable(this.k, zone, order, watermark);
  }

  wakeup(nid: number, order: number): void {
    const node = this.nodes[nid];
    if (!node || order <= 0) return;
    if (node.maxOrder < order) node.maxOrder = order;
    // wq_has_sleeper(): a node without a daemon is not woken.
    if (!node.fiber || !this.nodeSuitable(nid)) return;
    if (this.k.trace.enabled) {
      this.k.trace.emit({ event: "mm_compaction_wakeup_kcompactd", nid, order });
    }
    this.wake(nid);
  }

  resetIsolationSuitable(nid: number): void {
    resetIsolationSuitable(this.k, nid);
  }

  /** `compaction_proactiveness_sysctl_handler()`: a nonzero write wakes every daemon at once. */
  triggerProactive(): void {
    if (!this.proactiveness) return;
    this.nodes.forEach((node, nid) => {
      if (node.proactiveTrigger) return;
      node.proactiveTrigger = true;
      if (this.k.trace.enabled) {
        this.k.trace.emit({ event: "mm_compaction_wakeup_kcompactd", nid, order: -1 });
      }
      this.wake(nid);
    });
  }

  /**
   * `should_proactive_compact_node()`: proactiveness is not 0, the node's `kswapd` is not
   * running, and the score is above the high watermark.
   */
  private shouldProactiveCompactNode(nid: number): boolean {
    if (!this.proactiveness || kswapdIsRunning(this.k, nid)) return false;
    return fragmentationScoreNode(this.k, nid) > fragmentationScoreWmark(this.k, false);
  }

  /**
   * `kcompactd_do_work()`: compacts for the order the node was woken for, unless earlier failures
   * defer it (`compaction_deferred()`); a run that succeeds raises the failed order
   * (`compaction_defer_reset()`), one that goes through the zone without success defers
   * compaction (`defer_compaction()`).
   */
  private doWork(nid: number): Effect.Effect<void, ErrnoError> {
    const k = this.k;
    const node = this.nodes[nid]!;
    return Effect.gen(function* () {
      const order = node.maxOrder;
      if (k.trace.enabled) k.trace.emit({ event: "mm_compaction_kcompactd_wake", nid, order });
      k.vmstat.count("compact_daemon_wake");
      const zone = k.pageAlloc.zones[nid]!;
      if (
        !compactionDeferred(k, zone, order) &&
        compactionSuitAllocationOrder(k, zone, order) === CompactResult.CONTINUE
      ) {
        const r = yield* k.call(
          "kcompactd",
          compactZone(k, nid, { order, mode: MIGRATE_SYNC_LIGHT, gfp: GFP_KERNEL }),
        );
        // Sync-light, so it defers as sync direct compaction does.
        if (r.result === CompactResult.SUCCESS) {
          compactionDeferReset(k, zone, order, false);
        } else if (
          r.result === CompactResult.PARTIAL_SKIPPED ||
          r.result === CompactResult.COMPLETE
        ) {
          deferCompaction(k, zone, order);
        }
        k.vmstat.count("compact_daemon_migrate_scanned", r.migrateScanned);
        k.vmstat.count("compact_daemon_free_scanned", r.freeScanned);
      }
      if (node.maxOrder <= order) node.maxOrder = 0;
    });
  }

  /** `kcompactd()`: one node's daemon loop. */
  private daemon(nid: number): Effect.Effect<void, ErrnoError> {
    const self = this;
    const node = this.nodes[nid]!;
    const k = this.k;
    const defaultTimeout = HPAGE_FRAG_CHECK_INTERVAL_MSEC;
    return Effect.gen(function* () {
      let timeout = defaultTimeout;
      for (;;) {
        const woken = yield* Deferred.await(node.wait).pipe(
          Effect.as(true),
          Effect.timeoutOrElse({
            duration: Duration.millis(timeout),
            orElse: () => Effect.succeed(false),
          }),
        );
        if (woken) node.wait = Deferred.makeUnsafe<void>();
        // kthread_should_stop(): kcompactd_stop() woke the daemon to end it.
        if (k.state !== "running" || node.stopping) return;
        if (woken && (node.maxOrder > 0 || node.proactiveTrigger) && !node.proactiveTrigger) {
          yield* self.doWork(nid);
          timeout = defaultTimeout;
          continue;
        }
        timeout = defaultTimeout;
        if (self.shouldProactiveCompactNode(nid)) {
          const prev = fragmentationScoreNode(k, nid);
          yield* compactNode(k, nid, true);
          if (fragmentationScoreNode(k, nid) >= prev) {
            timeout = defaultTimeout * 2 ** COMPACT_MAX_DEFER_SHIFT;
          }
        }
        node.proactiveTrigger = false;
      }
    });
  }

  run(): Effect.Effect<void, ErrnoError> {
    return this.threads.runAll();
  }

  runNode(nid: number): Effect.Effect<void> {
    return this.threads.runNode(nid);
  }

  stopNode(nid: number): Effect.Effect<void> {
    return this.threads.stopNode(nid);
  }
}

/**
 * Creates compaction's files: `/proc/sys/vm/compact_memory` (0200; writing 1 compacts every node,
 * anything else is `EINVAL`, and an empty write does as the last value written did), `/proc/sys/vm/compaction_proactiveness` (0644, 0..100),
 * `/proc/sys/vm/extfrag_threshold` (0644, 0..1000) and `/sys/devices/system/node/node<N>/compact`
 * (0200; any write compacts the node), as `kcompactd_init()`, `vm_compaction[]` and
 * `compaction_register_node()` (`mm/compaction.c`) do.
 *
 * @category Compaction
 */
export const compactionInitSysfs = (k: Kernel, state: CompactionState): void => {
  k.fs.registerSysctl("vm", {
    compact_memory: {
      mode: 0o200,
      store: (text, count) => {
        // sysctl_compaction_handler(): proc_dointvec() stores what it parsed (an empty write
        // parses nothing and leaves the last value), then compacts only if that is 1.
        const v = procDointvecMinmax("compact_memory", text, count, k.mem.pageSize);
        if (v instanceof Error) return v;
        if (v) state.compactMemory = v.value;
        if (state.compactMemory !== 1) {
          return errno(
            "EINVAL",
            `compact_memory: only 1 is accepted, not ${state.compactMemory}${v ? "" : " (the last value written)"}`,
          );
        }
        return Effect.as(compactNodes(k), v?.consumed ?? 0);
      },
    },
    compaction_proactiveness: {
      mode: 0o644,
      show: () => `${state.proactiveness}\n`,
      store: (text, count) => {
        const v = procDointvecMinmax(
          "compaction_proactiveness",
          text,
          count,
          k.mem.pageSize,
          0,
          100,
        );
        if (v instanceof Error) return v;
        // compaction_proactiveness_sysctl_handler(): every write that parses, an empty one
        // included, wakes kcompactd while proactiveness is not 0.
        if (v) state.proactiveness = v.value;
        state.triggerProactive();
        return v?.consumed ?? 0;
      },
    },
    extfrag_threshold: procDointvecEntry(
      "extfrag_threshold",
      k.mem.pageSize,
      () => state.extfragThreshold,
      (v) => {
        state.extfragThreshold = v;
      },
      { min: 0, max: 1000 },
    ),
  });
  for (const node of k.mem.nodes) {
    k.fs.addAttributes(`/sys/devices/system/node/node${node.nid}`, {
      compact: {
        mode: 0o200,
        store: (_text, count) => Effect.as(compactNode(k, node.nid), count),
      },
    });
  }
};
