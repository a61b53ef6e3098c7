/**
 * Reclaim: aging the LRU lists, demoting cold folios to a slower tier, evicting clean page cache,
 * and the `kswapd` daemons.
 *
 * Models `mm/vmscan.c`. `shrink_node()` scans each evictable list of a node's `lruvec` by its size
 * `>> priority` (`get_scan_count()`; anonymous lists only when their folios can go somewhere,
 * here only by demotion: the model has no swap). `shrink_active_list()` moves folios from the tail
 * of an active list to the inactive one, clearing the accessed bits it finds
 * (`folio_referenced()`), while the inactive list is too short (`inactive_is_low()`).
 * `shrink_inactive_list()` isolates folios from the tail of an inactive list and hands them to
 * `shrink_folio_list()`: a folio referenced since it was last looked at is activated
 * (`folio_check_references()`); a cold one is demoted when its node has a demotion target
 * (`demote_folio_list()`: `migrate_pages()` with `MR_DEMOTION`, `MIGRATE_ASYNC`, destinations from
 * `alloc_demote_folio()`), else evicted when it is clean page cache (unmapped, then dropped from
 * the cache: `__remove_mapping()`), else kept: anonymous memory with no demotion target has
 * nowhere to go (no swap). Reclaim writes no dirty file folio (Linux 6.16: `pageout()` no longer
 * calls `->writepage`): it activates it with `PG_reclaim`, and when every folio it took was dirty
 * and not queued for I/O it wakes the flusher (`wakeup_flusher_threads(WB_REASON_VMSCAN)`,
 * `fs/fs_writeback.ts`), which writes it back; a folio under writeback is activated with
 * `PG_reclaim`, and its writeback's end moves it to the tail of the inactive list
 * (`folio_rotate_reclaimable()`), where the next reclaim frees it. No byte is ever lost.
 *
 * Reclaim runs in two places, as in the kernel: `kswapd`, one daemon fiber per node on Effect's
 * `Clock`, woken when an allocation leaves its node under the low watermark (`wakeup_kswapd()`)
 * and reclaiming until the node is above its high watermark (`balance_pgdat()`); and direct
 * reclaim, when an allocation finds no free page at all (`__alloc_pages_direct_reclaim()` →
 * `try_to_free_pages()`).
 *
 * @module
 */
import { Deferred, Duration, Effect } from "effect";
import type { ErrnoError } from "../errno";
import { compactGap, PAGE_ALLOC_COSTLY_ORDER } from "../include/compaction";
import {
  __GFP_NOMEMALLOC,
  __GFP_NOWARN,
  __GFP_RECLAIM,
  __GFP_THISNODE,
  GFP_HIGHUSER_MOVABLE,
  GFP_NOWAIT,
} from "../include/gfp";
import type { Kernel } from "../include/kernel";
import type { NewFolioFn } from "../include/migrate";
import { MIGRATE_ASYNC, MR_DEMOTION } from "../include/migrate_mode";
import { type AllocContext, WMARK_HIGH, WMARK_MIN } from "../include/mmzone";
import {
  PG_active,
  PG_dirty,
  PG_hugetlb,
  PG_mlocked,
  PG_reclaim,
  PG_referenced,
  PG_swapbacked,
  PG_unevictable,
  PG_writeback,
} from "../include/page_flags";
import { PF_KSWAPD, PF_MEMALLOC, withMemallocNoreclaim } from "../include/sched";
import {
  type Kswapd,
  LRU_ACTIVE_ANON,
  LRU_ACTIVE_FILE,
  LRU_INACTIVE_ANON,
  LRU_INACTIVE_FILE,
} from "../include/swap";
import { type KthreadSlot, NodeKthreads } from "../kernel/kthread";
import { FolioList } from "../lib/list";
import { NUMA_NO_NODE } from "../lib/numa";
import { filemapRemoveFolio } from "./filemap";
import { migratePages } from "./migrate";
import { pageHasMovableOps } from "./migrate_movable_ops";
import { allocMigrationTarget } from "./move_pages";
import { folioReferenced, tryToUnmap } from "./rmap";
import { shrinkSlab } from "./shrinker";
import { folioPut } from "./swap";

/**
 * `DEF_PRIORITY` (`include/linux/mmzone.h`): 12. Reclaim scans `lru_size >> priority` folios of
 * each list, starting here and lowering the priority (scanning more) while it falls short.
 *
 * @category Reclaim
 */
export const DEF_PRIORITY = 12;

/**
 * `SWAP_CLUSTER_MAX` (`include/linux/swap.h`): 32, the pages reclaim handles at a time and what
 * direct reclaim tries to free.
 *
 * @category Reclaim
 */
export const SWAP_CLUSTER_MAX = 32;

/**
 * How long kswapd naps once its node is balanced before it sleeps for good (`HZ / 10` in
 * `kswapd_try_to_sleep()`, `mm/vmscan.c`): 100 ms.
 */
const KSWAPD_NAP_MS = 100;

/**
 * `MAX_RECLAIM_RETRIES` (`mm/internal.h`): 16. After that many `balance_pgdat()` runs in a row
 * that reclaimed nothing, kswapd gives the node up (`kswapd_failures`) until reclaim on it makes
 * progress again.
 */
const MAX_RECLAIM_RETRIES = 16;

/** `struct scan_control` (`mm/vmscan.c`): one reclaim pass's goal, priority and tallies. */
interface ScanControl {
  /** Pages to reclaim before stopping (`nr_to_reclaim`). */
  nrToReclaim: number;
  /** The order of the allocation reclaim runs for (`order`); 0 for kswapd here. */
  readonly order: number;
  /**
   * Set when a node was left alone because compaction can go ahead there already
   * (`compaction_ready`, for a costly order).
   */
  compactionReady: boolean;
  /** `lru_size >> priority` is scanned per list. */
  priority: number;
  /** Pages scanned (`nr_scanned`). */
  nrScanned: number;
  /** Pages reclaimed, demoted ones included (`nr_reclaimed`). */
  nrReclaimed: number;
  /** Whether kswapd runs it (`current_is_kswapd()`), for the `_kswapd` / `_direct` counters. */
  readonly kswapd: boolean;
  /**
   * Whether anonymous folios may be reclaimed (`may_swap`): off for kswapd's boosted reclaim,
   * which takes file folios only.
   */
  maySwap: boolean;
  /**
   * Whether dirty folios may be written back (`may_writepage`, `!laptop_mode`, which the model
   * does not have): off for kswapd's boosted reclaim and `reclaim_clean_pages_from_list()`. A
   * dirty file folio is never written by reclaim; this decides only whether kswapd keeps or
   * activates one it met before (`pageout()`).
   */
  readonly mayWritepage: boolean;
  /**
   * Pages of file folios isolated that were dirty and not under writeback (`nr.unqueued_dirty`),
   * reset with {@link nrFileTaken} at each pass of `shrink_node()`.
   */
  nrUnqueuedDirty: number;
  /** Pages isolated from the file lists (`nr.file_taken`). */
  nrFileTaken: number;
  /**
   * The task reclaiming (`current`), which demotion allocates in: kswapd, or the task in direct
   * reclaim; null when `try_to_free_pages()` is called with none (the demotions are then made as
   * by a kernel thread of the node reclaimed, with `PF_MEMALLOC`).
   */
  readonly current: AllocContext | null;
}

/**
 * `can_demote()` (`mm/vmscan.c`): demotion is on (`/sys/kernel/mm/numa/demotion_enabled`) and the
 * node has a demotion target.
 *
 * @category Reclaim
 */
export const canDemote = (k: Kernel, nid: number): boolean =>
  k.memoryTiers.demotionEnabled && k.memoryTiers.preferred(nid).length > 0;

/**
 * `can_reclaim_anon_pages()` (`mm/vmscan.c`): anonymous folios can leave the node. With no swap
 * in the model, only by demotion.
 */
const canReclaimAnonPages = (k: Kernel, nid: number): boolean => canDemote(k, nid);

/** `int_sqrt()` (`lib/math/int_sqrt.c`). */
const intSqrt = (x: number): number => Math.floor(Math.sqrt(x));

/**
 * `inactive_is_low()` (`mm/vmscan.c`): the inactive list is shorter than the active one divided
 * by the ratio `int_sqrt(10 * gb)` (1 below 1 GiB of the two together).
 */
const inactiveIsLow = (k: Kernel, nid: number, inactiveLru: number): boolean => {
  const inactive = k.lru.size(nid, inactiveLru);
  const active = k.lru.size(nid, inactiveLru + 1);
  const gb = (inactive + active) >> (30 - k.mem.pageShift);
  const ratio = gb ? intSqrt(10 * gb) : 1;
  return inactive * ratio < active;
};

/**
 * `isolate_lru_folios()` (`mm/vmscan.c`): takes folios from the tail of one list (the oldest)
 * onto `dst` until `nrToScan` pages were scanned. Returns the pages scanned.
 */
const isolateLruFolios = (
  k: Kernel,
  nid: number,
  lru: number,
  nrToScan: number,
  dst: FolioList,
): number => {
  const list = k.lru.lists[nid]![lru]!;
  let scanned = 0;
  while (scanned < nrToScan && !list.isEmpty) {
    const head = list.last;
    scanned += k.memmap.folioNrPages(head);
    k.lru.isolate(head);
    dst.addTail(head);
  }
  return scanned;
};

/**
 * `move_folios_to_lru()` (`mm/vmscan.c`): puts every folio of `list` back on the list its flags
 * name, dropping the isolation reference. Returns the pages moved.
 */
const moveFoliosToLru = (k: Kernel, list: FolioList): number => {
  let moved = 0;
  while (!list.isEmpty) {
    const head = list.first;
    list.del(head);
    moved += k.memmap.folioNrPages(head);
    k.lru.putback(head);
  }
  return moved;
};

/**
 * `shrink_active_list()` (`mm/vmscan.c`): moves up to `nrToScan` pages from the tail of an active
 * list to its inactive list, clearing their accessed bits on the way (the kernel keeps only
 * referenced executable file folios active, and the model maps no executables). Counts
 * `pgrefill` and `pgdeactivate`.
 */
const shrinkActiveList = (k: Kernel, nid: number, lru: number, nrToScan: number): void => {
  const hold = new FolioList(k.memmap.lru);
  try {
    const scanned = isolateLruFolios(k, nid, lru, nrToScan, hold);
    k.vmstat.count("pgrefill", scanned);
    for (const head of hold) {
      folioReferenced(k, head);
      k.memmap.clear(head, PG_active);
    }
    k.vmstat.count("pgdeactivate", moveFoliosToLru(k, hold));
  } finally {
    hold.release();
  }
};

/** What `folio_check_references()` (`mm/vmscan.c`) decides for a folio. */
enum FolioReferences {
  ACTIVATE,
  KEEP,
  RECLAIM,
  /** `FOLIOREF_RECLAIM_CLEAN`: reclaim it if it is clean; a dirty one is left to writeback. */
  RECLAIM_CLEAN,
}

/**
 * `folio_check_references()` (`mm/vmscan.c`): every mapped folio starts with the accessed bit its
 * first fault set, so one reference only earns `PG_referenced` and another trip around the
 * inactive list; a folio referenced again by then, or through several mappings, is activated. A
 * folio with no accessed bit is reclaimed, whether or not it had `PG_referenced`, though a file
 * folio that had it only if it is clean (`FOLIOREF_RECLAIM_CLEAN`). A folio whose mlock
 * `folio_referenced()` restored (a `VM_LOCKED` VMA maps it) is kept (`FOLIOREF_ACTIVATE`).
 */
const folioCheckReferences = (k: Kernel, head: number): FolioReferences => {
  const m = k.memmap;
  const referencedPtes = folioReferenced(k, head);
  const referencedFolio = m.testAndClear(head, PG_referenced);
  if (m.test(head, PG_mlocked)) return FolioReferences.ACTIVATE;
  if (referencedPtes > 0) {
    m.set(head, PG_referenced);
    if (referencedFolio || referencedPtes > 1) return FolioReferences.ACTIVATE;
    return FolioReferences.KEEP;
  }
  if (referencedFolio && !m.test(head, PG_swapbacked)) return FolioReferences.RECLAIM_CLEAN;
  return FolioReferences.RECLAIM;
};

/**
 * `alloc_demote_folio()` (`mm/vmscan.c`, Linux 6.16): a destination for a demoted folio, first on
 * the preferred target node alone (`__GFP_THISNODE`), then on any node of the tiers below
 * (`allowed`), nearest to the target first. `demote_folio_list()` asks with
 * `(GFP_HIGHUSER_MOVABLE & ~__GFP_RECLAIM) | __GFP_NOWARN | __GFP_NOMEMALLOC | GFP_NOWAIT`: no
 * direct reclaim, no warning, none of the reserves its reclaiming `current` could take (kswapd
 * and direct reclaim run with `PF_MEMALLOC`), but a target under its low watermark wakes its
 * kswapd (`__GFP_KSWAPD_RECLAIM`), so that it demotes or reclaims in turn instead of the hot pages
 * of the upper tier landing further down. `alloc_migration_target()` (`mm/migrate.c`) then makes
 * a large folio's flags those of a THP allocation: `__GFP_RECLAIM` cleared and `GFP_TRANSHUGE`
 * added, so a large folio's allocation wakes no kswapd, but may block: each of its two tries takes
 * the slow path when its first tries fail (`slowpath`), where the recursion check stops a
 * reclaimer with `PF_MEMALLOC` after the initial compaction a costly order gets (its
 * `__GFP_NOMEMALLOC` keeps it from the reserves that would skip it).
 */
const allocDemoteFolio = (
  k: Kernel,
  target: number,
  allowed: readonly number[],
  current: AllocContext | null,
): NewFolioFn => {
  const gfp =
    (GFP_HIGHUSER_MOVABLE & ~__GFP_RECLAIM) | __GFP_NOWARN | __GFP_NOMEMALLOC | GFP_NOWAIT;
  const reason = MR_DEMOTION;
  const thisNode = allocMigrationTarget(k, target, { gfp: gfp | __GFP_THISNODE, current, reason });
  const anyAllowed = allocMigrationTarget(k, target, { gfp, nmask: allowed, current, reason });
  // A large folio's first alloc_migration_target() goes through its slow path before the second.
  const blocks = (src: number) => k.memmap.folioOrder(src) > 0;
  const demote = (src: number): number => {
    const pfn = thisNode(src);
    return pfn >= 0 || blocks(src) ? pfn : anyAllowed(src);
  };
  return Object.assign(demote, {
    slowpath: (src: number) =>
      blocks(src)
        ? Effect.gen(function* () {
            const first = thisNode.slowpath?.(src);
            const pfn = first ? yield* first : -1;
            if (pfn >= 0) return pfn;
            const second = anyAllowed(src);
            if (second >= 0) return second;
            const slow = anyAllowed.slowpath?.(src);
            return slow ? yield* slow : -1;
          })
        : null,
  });
};

/**
 * `demote_folio_list()` (`mm/vmscan.c`): migrates the folios of `list` to the node's demotion
 * target (`next_demotion_node()`) and its fallbacks, `MIGRATE_ASYNC`, `MR_DEMOTION`, and counts
 * the pages in `PGDEMOTE_KSWAPD + reclaimer_offset()` as Linux 6.16's `shrink_inactive_list()`
 * does: `pgdemote_kswapd` for kswapd, `pgdemote_direct` for direct reclaim. The model has no
 * khugepaged, whose reclaim `reclaimer_offset()` counts in `pgdemote_khugepaged`.
 * Folios that did not move stay on `list`. Returns the pages demoted.
 */
const demoteFolioList = (
  k: Kernel,
  list: FolioList,
  nid: number,
  sc: ScanControl,
): Effect.Effect<number, ErrnoError> =>
  Effect.gen(function* () {
    const target = k.memoryTiers.nextDemotionNode(nid);
    if (target === NUMA_NO_NODE) return 0;
    const current = sc.current ?? { flags: PF_MEMALLOC, nid };
    const alloc = allocDemoteFolio(k, target, k.memoryTiers.allowedTargets(nid), current);
    const { nrSucceeded } = yield* migratePages(k, list, alloc, null, MIGRATE_ASYNC, MR_DEMOTION);
    k.vmstat.count(sc.kswapd ? "pgdemote_kswapd" : "pgdemote_direct", nrSucceeded);
    return nrSucceeded;
  });

/**
 * `__remove_mapping()` (`mm/vmscan.c`): drops an unmapped, clean page cache folio from its cache
 * when nothing but the cache and the isolation holds it, and frees it. False when someone else
 * holds a reference.
 */
const removeMapping = (k: Kernel, head: number): boolean => {
  const m = k.memmap;
  const nr = m.folioNrPages(head);
  if (m.refcount[head] !== 1 + nr || m.folioMapcount(head) !== 0) return false;
  const mapping = k.addressSpaces.get(m.mapping[head]!);
  if (!mapping) return false;
  filemapRemoveFolio(k, mapping, head);
  folioPut(k, head);
  return true;
};

/**
 * What `pageout()` (`mm/vmscan.c`) returns for a filesystem folio. `PAGE_SUCCESS` and
 * `PAGE_CLEAN` come only from the writeout of shmem and swap-cache folios
 * (`shmem_writeout()`, `swap_writeout()`), which the model, having no swap, never hands to it:
 * shmem without swap would be activated anyway (`AOP_WRITEPAGE_ACTIVATE`).
 */
enum Pageout {
  /** `PAGE_KEEP`: not written; the folio stays inactive. */
  KEEP,
  /** `PAGE_ACTIVATE`: it is not written here; the folio goes back active. */
  ACTIVATE,
}

/**
 * `pageout()` (`mm/vmscan.c`, Linux 6.16: since commit 84798514db50, "mm: Remove
 * swap_writepage() and shmem_writepage()", it writes only shmem and swap-cache folios) on an
 * isolated, unmapped, locked dirty file folio: `PAGE_KEEP` unless only the isolation and the
 * page cache hold it (`is_page_cache_freeable()`) and it still belongs to a file; otherwise
 * `PAGE_ACTIVATE`, for reclaim writes no filesystem folio: writeback is the flusher's
 * (`fs/fs_writeback.ts`), which reclaim wakes.
 */
const pageout = (k: Kernel, head: number): Pageout => {
  const m = k.memmap;
  const nr = m.folioNrPages(head);
  if (m.refcount[head] !== 1 + nr) return Pageout.KEEP;
  if (!k.addressSpaces.has(m.mapping[head]!)) return Pageout.KEEP;
  return Pageout.ACTIVATE;
};

/**
 * `struct reclaim_stat` (`include/linux/vmstat.h`): what one `shrink_folio_list()` found of the
 * dirty and writeback state of the file folios it was given, in pages.
 */
interface ReclaimStat {
  /** Dirty or under writeback (`nr_dirty`). */
  nrDirty: number;
  /** Dirty and not under writeback: not queued for I/O (`nr_unqueued_dirty`). */
  nrUnqueuedDirty: number;
  /** Under writeback with `PG_reclaim` already: met again before the I/O ended (`nr_congested`). */
  nrCongested: number;
  /** Under writeback, marked `PG_reclaim` and activated (`nr_writeback`). */
  nrWriteback: number;
  /** Under writeback and met by kswapd on a `PGDAT_WRITEBACK` node (`nr_immediate`). */
  nrImmediate: number;
}

const newReclaimStat = (): ReclaimStat => ({
  nrDirty: 0,
  nrUnqueuedDirty: 0,
  nrCongested: 0,
  nrWriteback: 0,
  nrImmediate: 0,
});

/**
 * `shrink_folio_list()` (`mm/vmscan.c`): decides the fate of each isolated folio of `list`
 * (oldest first). Referenced folios are activated (`pgactivate`) or kept; cold ones are demoted
 * when the node can demote, then, in a second pass over what did not move, clean page cache is
 * evicted, a `VM_DROPPABLE` VMA's folios are unmapped and dropped without swap (a dirty one is
 * freed when it is put back, as Linux frees it in `move_folios_to_lru()`), and everything else
 * kept. A folio under writeback is activated with `PG_reclaim` (case 2 of the writeback
 * checks: global reclaim, `writeback_throttling_sane()`; case 1, kswapd on a `PGDAT_WRITEBACK`
 * node, which the model does not flag, would activate it too). A dirty file folio, unmapped, is
 * not written (Linux 6.16): it is activated with `PG_reclaim` and counted in
 * `nr_vmscan_immediate_reclaim`, unless kswapd runs, the folio has `PG_reclaim` already and the
 * node is flagged `PGDAT_DIRTY`; then it is kept when it was referenced
 * (`FOLIOREF_RECLAIM_CLEAN`) or writeback is not allowed (`may_writepage`), and otherwise
 * activated by {@link pageout} (`may_enter_fs()` holds, the model having no `GFP_NOFS`). The
 * flusher writes it; its writeback's end moves it to the tail of the inactive list, where the
 * next reclaim frees it. The dirty and writeback state of the file folios (not anonymous lazyfree
 * ones, `folio_check_dirty_writeback()`) is tallied in `stat`. What is not reclaimed stays on
 * `list` for the caller to put back. Returns the pages reclaimed, demoted ones included. With
 * `ignoreReferences` every folio is taken as cold (`folio_check_references()` is not asked).
 */
const shrinkFolioList = (
  k: Kernel,
  list: FolioList,
  nid: number,
  sc: ScanControl,
  ignoreReferences = false,
  stat: ReclaimStat = newReclaimStat(),
): Effect.Effect<number, ErrnoError> =>
  Effect.gen(function* () {
    const m = k.memmap;
    const ret = new FolioList(m.lru);
    const demote = new FolioList(m.lru);
    let reclaimed = 0;
    let activated = 0;
    let doDemotePass = canDemote(k, nid);
    /** `activate_locked`: back to the active list (`pgactivate`), or an mlocked folio to the unevictable one. */
    const activate = (head: number, nr: number) => {
      if (!m.test(head, PG_mlocked)) {
        m.set(head, PG_active);
        activated += nr;
      }
      ret.addTail(head);
    };
    try {
      for (;;) {
        while (!list.isEmpty) {
          const head = list.first;
          list.del(head);
          const nr = m.folioNrPages(head);
          if (m.test(head, PG_mlocked)) {
            ret.addTail(head);
            continue;
          }
          // folio_check_dirty_writeback(): file folios only, not anonymous lazyfree ones.
          const fileFolio = !m.test(head, PG_swapbacked) && m.mapping[head]! > 0;
          const dirty = fileFolio && m.test(head, PG_dirty);
          const writeback = fileFolio && m.test(head, PG_writeback);
          if (dirty || writeback) stat.nrDirty += nr;
          if (dirty && !writeback) stat.nrUnqueuedDirty += nr;
          if (writeback && m.test(head, PG_reclaim)) stat.nrCongested += nr;
          if (m.test(head, PG_writeback)) {
            // Marked for immediate reclaim once written back, out of the way meanwhile.
            m.set(head, PG_reclaim);
            stat.nrWriteback += nr;
            activate(head, nr);
            continue;
          }
          const refs = ignoreReferences ? FolioReferences.RECLAIM : folioCheckReferences(k, head);
          if (refs === FolioReferences.ACTIVATE) {
            activate(head, nr);
            continue;
          }
          if (refs === FolioReferences.KEEP) {
            ret.addTail(head);
            continue;
          }
          if (doDemotePass) {
            demote.addTail(head);
            continue;
          }
          // Anonymous and shmem folios could only be swapped out: the model has no swap
          // (add_to_swap() fails), so they go back active.
          if (m.test(head, PG_swapbacked)) {
            activate(head, nr);
            continue;
          }
          if (m.folioMapcount(head) > 0) tryToUnmap(k, head, 0);
          // A lazyfree folio (anonymous, not swap-backed: a VM_DROPPABLE VMA's), unmapped by now,
          // is dirty (every one the model makes was written: a read fault maps the zero page): it
          // is activated, and freed when the caller puts it back with the last reference.
          if (m.folioMapcount(head) > 0 || (!fileFolio && m.test(head, PG_dirty))) {
            activate(head, nr);
            continue;
          }
          if (m.test(head, PG_dirty)) {
            // Only kswapd goes on to pageout(), and only with a folio it met before on a node
            // whose isolated file folios were all dirty (PGDAT_DIRTY): the rest wait for the
            // flusher, marked for immediate reclaim once written.
            if (!sc.kswapd || !m.test(head, PG_reclaim) || !k.kswapd.pgdatDirty.has(nid)) {
              k.vmstat.count("nr_vmscan_immediate_reclaim", nr);
              m.set(head, PG_reclaim);
              activate(head, nr);
              continue;
            }
            if (
              refs === FolioReferences.RECLAIM_CLEAN ||
              !sc.mayWritepage ||
              pageout(k, head) === Pageout.KEEP
            ) {
              ret.addTail(head);
              continue;
            }
            activate(head, nr);
            continue;
          }
          if (removeMapping(k, head)) reclaimed += nr;
          else ret.addTail(head);
        }
        if (demote.isEmpty) break;
        reclaimed += yield* demoteFolioList(k, demote, nid, sc);
        if (demote.isEmpty) break;
        // Folios that could not be demoted get the ordinary treatment.
        list.spliceTail(demote);
        doDemotePass = false;
      }
      k.vmstat.count("pgactivate", activated);
      list.spliceTail(ret);
      return reclaimed;
    } finally {
      // Nothing may stay on a local list: on failure the folios go back to `list` for the caller.
      list.spliceTail(demote);
      list.spliceTail(ret);
      demote.release();
      ret.release();
    }
  });

/**
 * `reclaim_clean_pages_from_list()` (`mm/vmscan.c`, Linux 6.16): frees the clean page cache among
 * the folios isolated on `list` rather than migrating it, as `alloc_contig_range()` does with
 * each batch (`__alloc_contig_migrate_range()`). The folios taken are those that are not hugetlb,
 * not swap-backed (`folio_is_file_lru()`), not dirty, not `movable_ops` pages and not
 * unevictable; they lose `PG_active` and go through `shrink_folio_list()` with their references
 * ignored, unmapping allowed (`may_unmap`), demotion as the node allows, under
 * `memalloc_noreclaim_save()`. What was not freed goes back on `list`, at its head. Returns the
 * base pages freed (demoted ones included); `nid` is the node of the range's zone, `current` the
 * task it runs in (demotions are allocated there; null: a kernel thread of `nid`).
 *
 * @category Reclaim
 */
export const reclaimCleanPagesFromList = (
  k: Kernel,
  nid: number,
  list: FolioList,
  current: AllocContext | null = null,
): Effect.Effect<number, ErrnoError> =>
  Effect.suspend(() => {
    const m = k.memmap;
    const clean = new FolioList(m.lru);
    for (const head of list) {
      if (
        !m.test(head, PG_hugetlb) &&
        !m.test(head, PG_swapbacked) &&
        !m.test(head, PG_dirty) &&
        !pageHasMovableOps(k, head) &&
        !m.test(head, PG_unevictable)
      ) {
        m.clear(head, PG_active);
        clean.moveTail(head);
      }
    }
    const sc: ScanControl = {
      nrToReclaim: 0,
      order: 0,
      compactionReady: false,
      priority: 0,
      nrScanned: 0,
      nrReclaimed: 0,
      mayWritepage: false,
      nrUnqueuedDirty: 0,
      nrFileTaken: 0,
      kswapd: false,
      maySwap: true,
      current,
    };
    return withMemallocNoreclaim(current, shrinkFolioList(k, clean, nid, sc, true)).pipe(
      Effect.ensuring(
        Effect.sync(() => {
          // list_splice(): what is left goes to the head of the caller's list.
          clean.spliceTail(list);
          list.spliceTail(clean);
          clean.release();
        }),
      ),
    );
  });

/**
 * `shrink_inactive_list()` (`mm/vmscan.c`): isolates up to `nrToScan` pages from the tail of an
 * inactive list, runs {@link shrinkFolioList} over them and puts back the survivors. Counts
 * `pgscan_kswapd` / `pgscan_direct` and `pgscan_anon` / `pgscan_file` for the pages scanned,
 * `pgsteal_*` likewise for the pages reclaimed, and emits `mm_vmscan_lru_shrink_inactive` when it
 * isolated anything.
 */
const shrinkInactiveList = (
  k: Kernel,
  nid: number,
  lru: number,
  nrToScan: number,
  sc: ScanControl,
): Effect.Effect<void, ErrnoError> =>
  Effect.gen(function* () {
    const list = new FolioList(k.memmap.lru);
    const anon = lru === LRU_INACTIVE_ANON;
    try {
      const scanned = isolateLruFolios(k, nid, lru, nrToScan, list);
      if (scanned === 0) return;
      k.vmstat.count(sc.kswapd ? "pgscan_kswapd" : "pgscan_direct", scanned);
      k.vmstat.count(anon ? "pgscan_anon" : "pgscan_file", scanned);
      sc.nrScanned += scanned;
      if (!anon) sc.nrFileTaken += scanned;
      const stat = newReclaimStat();
      const reclaimed = yield* shrinkFolioList(k, list, nid, sc, false, stat);
      k.vmstat.count(sc.kswapd ? "pgsteal_kswapd" : "pgsteal_direct", reclaimed);
      k.vmstat.count(anon ? "pgsteal_anon" : "pgsteal_file", reclaimed);
      sc.nrReclaimed += reclaimed;
      // Every folio taken was dirty and not queued for I/O: the flushers are not doing their
      // job (memory pressure pushed dirty folios to the end of the LRU before their data expired,
      // or they cannot keep up). Nudge them in case they are asleep.
      if (stat.nrUnqueuedDirty === scanned) k.writeback.wakeupFlusherThreads("vmscan");
      sc.nrUnqueuedDirty += stat.nrUnqueuedDirty;
      if (k.trace.enabled) {
        k.trace.emit({
          event: "mm_vmscan_lru_shrink_inactive",
          nid,
          nrScanned: scanned,
          nrReclaimed: reclaimed,
          priority: sc.priority,
          file: !anon,
          nrDirty: stat.nrDirty,
          nrWriteback: stat.nrWriteback,
          nrCongested: stat.nrCongested,
          nrImmediate: stat.nrImmediate,
        });
      }
    } finally {
      moveFoliosToLru(k, list);
      list.release();
    }
  });

/**
 * `shrink_list()` (`mm/vmscan.c`): an active list is aged only while its inactive list is low; an
 * inactive list is shrunk.
 */
const shrinkList = (
  k: Kernel,
  nid: number,
  lru: number,
  nrToScan: number,
  sc: ScanControl,
): Effect.Effect<void, ErrnoError> => {
  if (lru === LRU_ACTIVE_ANON || lru === LRU_ACTIVE_FILE) {
    if (inactiveIsLow(k, nid, lru - 1)) shrinkActiveList(k, nid, lru, nrToScan);
    return Effect.void;
  }
  return shrinkInactiveList(k, nid, lru, nrToScan, sc);
};

/** The evictable lists, in `for_each_evictable_lru()` order. */
const EVICTABLE = [LRU_INACTIVE_ANON, LRU_ACTIVE_ANON, LRU_INACTIVE_FILE, LRU_ACTIVE_FILE];

/**
 * `in_reclaim_compaction()` (`mm/vmscan.c`): reclaim for a costly order, or for any order above 0
 * once the priority fell below `DEF_PRIORITY - 2`, reclaims for compaction.
 */
const inReclaimCompaction = (sc: ScanControl): boolean =>
  sc.order > 0 && (sc.order > PAGE_ALLOC_COSTLY_ORDER || sc.priority < DEF_PRIORITY - 2);

/**
 * `should_continue_reclaim()` (`mm/vmscan.c`, Linux 6.16): after a pass over node `nid` that
 * reclaimed `nrReclaimed` pages, reclaim for compaction goes on until the allocation could succeed
 * or compaction could go ahead at the min watermark (`compaction_suitable()`), as long as the pass
 * reclaimed something and the inactive lists still hold more than `compact_gap(order)` pages.
 */
const shouldContinueReclaim = (
  k: Kernel,
  nid: number,
  nrReclaimed: number,
  sc: ScanControl,
): boolean => {
  if (!inReclaimCompaction(sc) || nrReclaimed === 0) return false;
  const zone = k.pageAlloc.zones[nid]!;
  const min = zone.wmarkPages(WMARK_MIN);
  if (k.pageAlloc.zoneWatermarkOk(nid, sc.order, min)) return false;
  if (k.compaction.suitable(nid, sc.order, min)) return false;
  let inactive = k.lru.size(nid, LRU_INACTIVE_FILE);
  if (canReclaimAnonPages(k, nid)) inactive += k.lru.size(nid, LRU_INACTIVE_ANON);
  return inactive > compactGap(sc.order);
};

/**
 * `shrink_node()` → `shrink_lruvec()` (`mm/vmscan.c`): scans each evictable list of the node by
 * `lru_size >> priority` pages (`get_scan_count()`, anonymous lists only when
 * `can_reclaim_anon_pages()`), `SWAP_CLUSTER_MAX` at a time, until the targets are met or enough
 * was reclaimed; then ages the active anonymous list if its inactive list is low. Reclaim for
 * compaction repeats that while {@link shouldContinueReclaim} says so.
 */
const shrinkNode = (k: Kernel, nid: number, sc: ScanControl): Effect.Effect<void, ErrnoError> =>
  Effect.gen(function* () {
    const reclaimedBefore = sc.nrReclaimed;
    for (;;) {
      const passBefore = sc.nrReclaimed;
      sc.nrUnqueuedDirty = 0;
      sc.nrFileTaken = 0;
      // get_scan_count(): SCAN_FILE when anonymous folios may not or cannot be reclaimed.
      const anon = sc.maySwap && canReclaimAnonPages(k, nid);
      const nr = EVICTABLE.map((lru) =>
        lru <= LRU_ACTIVE_ANON && !anon ? 0 : k.lru.size(nid, lru) >> sc.priority,
      );
      while (nr[0]! > 0 || nr[2]! > 0 || nr[3]! > 0) {
        for (const [i, lru] of EVICTABLE.entries()) {
          if (nr[i]! === 0) continue;
          const chunk = Math.min(nr[i]!, SWAP_CLUSTER_MAX);
          nr[i]! -= chunk;
          yield* shrinkList(k, nid, lru, chunk, sc);
        }
        if (sc.nrReclaimed >= sc.nrToReclaim) break;
      }
      if (anon && inactiveIsLow(k, nid, LRU_INACTIVE_ANON)) {
        shrinkActiveList(k, nid, LRU_ACTIVE_ANON, SWAP_CLUSTER_MAX);
      }
      // shrink_node_memcgs(): the shrinkers after the LRU lists, at the same priority. What they
      // free is not reclaimed LRU memory: only slab pages would count (reclaim_state), and the
      // model has none.
      shrinkSlab(k, nid, sc.priority);
      // Every file folio kswapd isolated was dirty and not queued for writeback: let it write.
      if (sc.kswapd && sc.nrUnqueuedDirty === sc.nrFileTaken) k.kswapd.pgdatDirty.add(nid);
      if (!shouldContinueReclaim(k, nid, sc.nrReclaimed - passBefore, sc)) break;
    }
    if (sc.nrReclaimed > reclaimedBefore) k.kswapd.nodeReclaimed(nid);
  });

/**
 * `compaction_ready()` (`mm/vmscan.c`, Linux 6.16): for reclaim on behalf of a costly order, is
 * node `nid` fine as it is? Yes when the allocation could already succeed at the min watermark,
 * or when compaction could go ahead with the high watermark plus `compact_gap(order)` free, and
 * for a costly order the low watermark's distance from the min one on top (`compaction_suitable()`,
 * Linux 6.15+): reclaim then leaves the node to compaction.
 */
const compactionReady = (k: Kernel, nid: number, order: number): boolean => {
  const zone = k.pageAlloc.zones[nid]!;
  if (k.pageAlloc.zoneWatermarkOk(nid, order, zone.wmarkPages(WMARK_MIN))) return true;
  return k.compaction.suitable(nid, order, zone.wmarkPages(WMARK_HIGH));
};

/**
 * The nodes an allocation's slow path walks (`for_each_zone_zonelist_nodemask()` over the
 * allocation's zonelist, one zone per node): the page allocator's
 * {@link PageAllocator.candidates}, `nid` alone with `__GFP_THISNODE`, else `nid` and its
 * fallbacks by distance (`zonelists[nid]`) that are in `nodemask` (all of them when null).
 * Read-only: without a node mask it is the allocator's own list.
 *
 * @category Reclaim
 */
export const allocNodes = (
  k: Kernel,
  gfp: number,
  nid: number,
  nodemask: readonly number[] | null,
): readonly number[] => k.pageAlloc.candidates(nid, gfp, nodemask);

/**
 * `zone_reclaimable_pages()` (`mm/vmscan.c`): the pages on the node's file LRU lists, plus its
 * anonymous ones when they can leave it (`can_reclaim_anon_pages()`: by demotion, as the model has
 * no swap).
 *
 * @category Reclaim
 */
export const zoneReclaimablePages = (k: Kernel, nid: number): number => {
  let nr = k.lru.size(nid, LRU_INACTIVE_FILE) + k.lru.size(nid, LRU_ACTIVE_FILE);
  if (canReclaimAnonPages(k, nid)) {
    nr += k.lru.size(nid, LRU_INACTIVE_ANON) + k.lru.size(nid, LRU_ACTIVE_ANON);
  }
  return nr;
};

/**
 * `should_reclaim_retry()` (`mm/page_alloc.c`, Linux 6.16): may the slow path go round again
 * after direct reclaim for an allocation of `order` with `gfp`? `noProgressLoops` (the slow path's
 * `no_progress_loops`, kept by the caller between calls) is reset when reclaim made progress for
 * an order up to `PAGE_ALLOC_COSTLY_ORDER`, and grows by one otherwise: a costly order counts every
 * round, since what reclaim freed need not make its block. Past `MAX_RECLAIM_RETRIES` (16) the
 * answer is no; before, yes when some node the allocation may use would pass the min watermark for
 * `order` with all its reclaimable pages ({@link zoneReclaimablePages}) counted as free
 * (`__zone_watermark_ok()` with the slow path's `allocFlags`, default 0, which also needs a free
 * block of the order). Before it says no, it gives a highatomic pageblock back to the
 * allocation's migrate type even if it is a zone's last (`unreserve_highatomic_pageblock()` with
 * force, Linux's "before OOM, exhaust highatomic_reserve"), and says yes when one was.
 *
 * @category Reclaim
 */
export const shouldReclaimRetry = (
  k: Kernel,
  gfp: number,
  order: number,
  nid: number,
  nodemask: readonly number[] | null,
  didSomeProgress: boolean,
  loops: { noProgressLoops: number },
  allocFlags = 0,
): boolean => {
  if (didSomeProgress && order <= PAGE_ALLOC_COSTLY_ORDER) loops.noProgressLoops = 0;
  else loops.noProgressLoops++;
  const retry =
    loops.noProgressLoops <= MAX_RECLAIM_RETRIES &&
    allocNodes(k, gfp, nid, nodemask).some((n) => {
      const zone = k.pageAlloc.zones[n];
      if (!zone) return false;
      const available = zoneReclaimablePages(k, n) + zone.freePages;
      return k.pageAlloc.zoneWatermarkOk(
        n,
        order,
        zone.wmarkPages(WMARK_MIN),
        allocFlags,
        available,
      );
    });
  // Before OOM, exhaust the highatomic reserve.
  return retry || k.pageAlloc.unreserveHighatomicPageblock(nid, gfp, nodemask, true);
};

/**
 * `try_to_free_pages()` (`mm/vmscan.c`, `do_try_to_free_pages()`, Linux 6.16): direct reclaim for
 * an allocation of `order` that found no free page. Shrinks the nodes the allocation may use
 * (`nid` first, then its fallbacks by distance, or `nid` alone with `__GFP_THISNODE`), lowering the
 * priority from `DEF_PRIORITY` until `SWAP_CLUSTER_MAX` pages were reclaimed. For a costly order
 * a node where compaction can go ahead already is left alone (`compaction_ready()`), and reclaim
 * stops after the pass that found one; on a node it shrinks, reclaim goes on until compaction
 * could run there (`should_continue_reclaim()`). Counts `allocstall_normal`. Returns the pages
 * reclaimed, or 1 when it reclaimed nothing but left a node to compaction. `current` is the task
 * reclaiming, which demotion allocates in (its CPU's node decides `numa_local` or `numa_other`);
 * its caller ({@link performReclaim}) has set `PF_MEMALLOC` on it. Null for none: the demotions
 * are then made as by a kernel thread of the node reclaimed.
 *
 * @category Reclaim
 */
export const tryToFreePages = (
  k: Kernel,
  gfp: number,
  order: number,
  nid: number,
  nodemask: readonly number[] | null,
  current: AllocContext | null = null,
): Effect.Effect<number, ErrnoError> =>
  Effect.gen(function* () {
    k.vmstat.count("allocstall_normal");
    const nodes = allocNodes(k, gfp, nid, nodemask);
    const sc: ScanControl = {
      nrToReclaim: SWAP_CLUSTER_MAX,
      maySwap: true,
      order,
      compactionReady: false,
      priority: DEF_PRIORITY,
      nrScanned: 0,
      nrReclaimed: 0,
      mayWritepage: true,
      nrUnqueuedDirty: 0,
      nrFileTaken: 0,
      kswapd: false,
      current,
    };
    reclaim: for (; sc.priority >= 0; sc.priority--) {
      for (const node of nodes) {
        if (!k.nodeHasMemory(node)) continue;
        // shrink_zones(): a costly order's node that compaction can serve is not reclaimed.
        if (order > PAGE_ALLOC_COSTLY_ORDER && compactionReady(k, node, order)) {
          sc.compactionReady = true;
          continue;
        }
        yield* shrinkNode(k, node, sc);
        if (sc.nrReclaimed >= sc.nrToReclaim) break reclaim;
      }
      if (sc.compactionReady) break;
    }
    if (sc.nrReclaimed) return sc.nrReclaimed;
    // Reclaim stopped to let compaction try: no progress to report, but no failure either.
    return sc.compactionReady ? 1 : 0;
  });

/**
 * `__perform_reclaim()` (`mm/page_alloc.c`): {@link tryToFreePages} with `PF_MEMALLOC` set on
 * `current` for its span only (`memalloc_noreclaim_save()` / `memalloc_noreclaim_restore()`):
 * what reclaim allocates meanwhile may go below the watermarks unless it asks `__GFP_NOMEMALLOC`,
 * and it does not recurse into reclaim. The flag is put back as it was, whatever the reclaim
 * ends in. Returns the pages reclaimed. Null `current`: a kernel thread of `nid`.
 *
 * @category Reclaim
 */
export const performReclaim = (
  k: Kernel,
  gfp: number,
  order: number,
  nid: number,
  nodemask: readonly number[] | null,
  current: AllocContext | null,
): Effect.Effect<number, ErrnoError> =>
  withMemallocNoreclaim(current, tryToFreePages(k, gfp, order, nid, nodemask, current));

/**
 * `kswapd_shrink_node()` (`mm/vmscan.c`, Linux 6.16): one pass of kswapd over node `nid` at
 * `sc.priority`, aiming at the high watermark's worth of pages (`nr_to_reclaim`: the boosted
 * `WMARK_HIGH`, at least `SWAP_CLUSTER_MAX`). True when the pass scanned at least that many pages,
 * or reclaimed that many: at full efficiency the watermark would be met without scanning harder.
 * The kernel also falls back to order 0 once it reclaimed `compact_gap(order)`; kswapd here
 * balances for order 0 throughout.
 */
const kswapdShrinkNode = (
  k: Kernel,
  nid: number,
  sc: ScanControl,
): Effect.Effect<boolean, ErrnoError> =>
  Effect.gen(function* () {
    const zone = k.pageAlloc.zones[nid]!;
    const managed = zone.managedPages > 0;
    sc.nrToReclaim = managed ? Math.max(zone.wmarkPages(WMARK_HIGH), SWAP_CLUSTER_MAX) : 0;
    const reclaimedBefore = sc.nrReclaimed;
    yield* shrinkNode(k, nid, sc);
    return Math.max(sc.nrScanned, sc.nrReclaimed - reclaimedBefore) >= sc.nrToReclaim;
  });

/**
 * One node's `kswapd` state (`pg_data_t`'s `kswapd`, `kswapd_wait`, `kswapd_order`,
 * `kswapd_failures`).
 */
interface KswapdNode extends KthreadSlot {
  /** The largest order a waker asked for (`kswapd_order`), passed on to `kcompactd`. */
  order: number;
  /** `balance_pgdat()` runs in a row that reclaimed nothing (`kswapd_failures`). */
  failures: number;
  /** Whether the daemon waits to be woken (`waitqueue_active(&pgdat->kswapd_wait)`). */
  sleeping: boolean;
  /** A wake-up the daemon has not seen yet. */
  woken: boolean;
  /** Completed to wake the daemon (`kswapd_wait`); replaced after each wake. */
  wait: Deferred.Deferred<void>;
  /**
   * The daemon as the allocator sees it: `PF_MEMALLOC | PF_KSWAPD`, set by `kswapd()` on itself,
   * on a CPU of its node (`set_cpus_allowed_ptr()` to `cpumask_of_node()`).
   */
  readonly current: AllocContext;
}

/**
 * A kernel's `kswapd` daemons (`mm/vmscan.c`): one per node with memory while they run, started
 * and stopped with the node's memory by hotplug ({@link runNode}, {@link stopNode}).
 *
 * @category Reclaim
 */
export class KswapdState implements Kswapd {
  private readonly nodes: KswapdNode[];
  readonly pgdatDirty = new Set<number>();
  /** The daemons, one per node with memory while they run. */
  private readonly threads: NodeKthreads;
  /**
   * Which watermark balances a node: `WMARK_HIGH`, or `WMARK_PROMO` while NUMA balancing runs in
   * memory tiering mode (`pgdat_balanced()`).
   */
  balanceMark: () => number = () => WMARK_HIGH;

  constructor(private readonly k: Kernel) {
    this.nodes = k.mem.nodes.map((n) => ({
      current: { flags: PF_MEMALLOC | PF_KSWAPD, nid: n.nid },
      order: 0,
      failures: 0,
      sleeping: false,
      woken: false,
      wait: Deferred.makeUnsafe<void>(),
      fiber: null,
      stopping: false,
    }));
    this.threads = new NodeKthreads(k, this.nodes, {
      name: "kswapd",
      // kswapd_run(): asleep from the start, as kswapd is once booted (a wake before the fiber
      // first runs is kept for it), with kswapd_order cleared (kswapd()).
      start: (nid) => {
        const node = this.nodes[nid]!;
        node.order = 0;
        node.woken = false;
        node.sleeping = true;
        node.wait = Deferred.makeUnsafe<void>();
        return this.daemon(nid);
      },
      // kthread_stop() wakes a sleeping daemon (a napping one counts
      // kswapd_low_wmark_hit_quickly, as the kernel's does).
      wake: (nid) => {
        const node = this.nodes[nid]!;
        if (!node.sleeping) return;
        node.sleeping = false;
        node.woken = true;
        Deferred.doneUnsafe(node.wait, Effect.void);
      },
      reset: (nid) => {
        const node = this.nodes[nid]!;
        node.sleeping = false;
        node.woken = false;
        node.wait = Deferred.makeUnsafe<void>();
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
   * `pgdat_balanced()` (`mm/vmscan.c`) for order 0: the node has its balance watermark free. The
   * kernel balances for the waker's order and falls back to order 0 once it reclaimed
   * `compact_gap(order)`; the model always balances for order 0 and leaves the order to
   * `kcompactd`, which it wakes when it goes to sleep.
   */
  private balanced(nid: number): boolean {
    const zone = this.k.pageAlloc.zones[nid]!;
    if (zone.managedPages === 0) return true;
    return this.k.pageAlloc.zoneWatermarkOk(nid, 0, zone.wmarkPages(this.balanceMark()));
  }

  /**
   * `prepare_kswapd_sleep()`: given up (`kswapd_failures`), or balanced, which clears the node's
   * `PGDAT_DIRTY` (`clear_pgdat_congested()`).
   */
  private mayRest(nid: number): boolean {
    if (this.nodes[nid]!.failures >= MAX_RECLAIM_RETRIES) return true;
    if (!this.balanced(nid)) return false;
    this.pgdatDirty.delete(nid);
    return true;
  }

  sleeping(nid: number): boolean {
    const node = this.nodes[nid];
    return node?.fiber != null && node.sleeping;
  }

  nodeReclaimed(nid: number): void {
    const node = this.nodes[nid];
    if (node) node.failures = 0;
  }

  failures(nid: number): number {
    return this.nodes[nid]?.failures ?? 0;
  }

  wakeup(nid: number, order: number): void {
    const node = this.nodes[nid];
    // managed_zone(): a node whose memory is all offline is passed over.
    if (!node || !this.running || this.k.pageAlloc.zones[nid]!.managedPages === 0) return;
    if (node.order < order) node.order = order;
    // waitqueue_active(): no daemon, or one at work, is not woken.
    if (!node.fiber || !node.sleeping) return;
    // A hopeless node, or a balanced one with no boost (pgdat_watermark_boosted()) to reclaim.
    const zone = this.k.pageAlloc.zones[nid]!;
    if (node.failures >= MAX_RECLAIM_RETRIES || (this.balanced(nid) && zone.watermarkBoost === 0))
      return;
    node.sleeping = false;
    node.woken = true;
    Deferred.doneUnsafe(node.wait, Effect.void);
  }

  /** Takes a pending wake-up; true when there was one. */
  private takeWake(node: KswapdNode): boolean {
    if (!node.woken) return false;
    node.woken = false;
    node.wait = Deferred.makeUnsafe<void>();
    return true;
  }

  /** Waits for a wake-up or `ms` milliseconds; true when woken. */
  private sleep(node: KswapdNode, ms: number | null): Effect.Effect<boolean> {
    if (this.takeWake(node)) return Effect.succeed(true);
    // A daemon asked to stop after its wake-up was sent does not nap again.
    if (node.stopping) return Effect.succeed(false);
    node.sleeping = true;
    const woken = Deferred.await(node.wait).pipe(Effect.as(true));
    const waited =
      ms === null
        ? woken
        : woken.pipe(
            Effect.timeoutOrElse({
              duration: Duration.millis(ms),
              orElse: () => Effect.succeed(false),
            }),
          );
    return Effect.map(waited, () => {
      node.sleeping = false;
      return this.takeWake(node);
    });
  }

  /**
   * `kswapd_try_to_sleep()` (`mm/vmscan.c`): once the node is balanced, a short nap (`HZ / 10`)
   * and then sleep until woken; a wake during the nap counts `kswapd_low_wmark_hit_quickly`, an
   * unbalanced node after it `kswapd_high_wmark_hit_quickly`, and either goes back to work.
   */
  private tryToSleep(nid: number): Effect.Effect<void> {
    const self = this;
    const node = this.nodes[nid]!;
    return Effect.gen(function* () {
      // A daemon asked to stop (kthread_should_stop()) does not try to sleep: it counts nothing.
      if (node.stopping) return;
      let wokenEarly = false;
      if (self.mayRest(nid)) {
        // Pages may be free to compact now: compaction's skip hints are cleared.
        self.k.compaction.resetIsolationSuitable(nid);
        if (node.order > 0) self.k.compaction.wakeup(nid, node.order);
        wokenEarly = yield* self.sleep(node, KSWAPD_NAP_MS);
      }
      if (!wokenEarly && self.mayRest(nid)) {
        node.order = 0;
        // kthread_stop() wakes the daemon; one asked to stop does not go to sleep again.
        if (!node.stopping) yield* self.sleep(node, null);
        return;
      }
      self.takeWake(node);
      self.k.vmstat.count(
        wokenEarly ? "kswapd_low_wmark_hit_quickly" : "kswapd_high_wmark_hit_quickly",
      );
    });
  }

  /**
   * `balance_pgdat()` (`mm/vmscan.c`, Linux 6.16): shrinks the node from `DEF_PRIORITY` down,
   * aiming each pass at the (boosted) high watermark's worth of pages (`kswapd_shrink_node()`),
   * until it is balanced. Counts `pageoutrun`. A pass lowers the priority unless it scanned at
   * least its `nr_to_reclaim` (or reclaimed that much) and reclaimed something
   * (`raise_priority`): the high watermark would then be met at that priority. A zone with a
   * watermark boost is reclaimed for it even when balanced (`nr_boost_reclaim`, the boost as it
   * was at the start): file folios only (no `may_swap`), the priority held at
   * `DEF_PRIORITY - 2`, stopping at the first pass that reclaims nothing; an unbalanced node drops
   * that and reclaims normally from `DEF_PRIORITY` again. A run that reclaimed nothing counts a
   * `kswapd_failures` unless it ended on a balanced node it had no boost to reclaim for (`out:`),
   * so a boosted run on a balanced node that finds nothing to reclaim counts one. Either way the
   * boost taken at the start is then taken off the zone and kcompactd is woken at
   * `pageblock_order` to defragment.
   */
  private balancePgdat(nid: number): Effect.Effect<void, ErrnoError> {
    const self = this;
    const k = this.k;
    const node = this.nodes[nid]!;
    return Effect.gen(function* () {
      k.vmstat.count("pageoutrun");
      const zone = k.pageAlloc.zones[nid]!;
      // The boost stays on the zone while kswapd works, so that allocations near the watermark
      // stall or reclaim directly until it is done.
      const zoneBoost = zone.managedPages > 0 ? zone.watermarkBoost : 0;
      let nrBoostReclaim = zoneBoost;
      let reclaimed = 0;
      let priority = DEF_PRIORITY;
      // Whether the run ended at `goto out`: balanced, with no boost left to reclaim for.
      let out = false;
      while (priority >= 1) {
        const balanced = self.balanced(nid);
        if (!balanced && nrBoostReclaim) {
          // restart: an unbalanced node is reclaimed for normally, the boost kept for later.
          nrBoostReclaim = 0;
          priority = DEF_PRIORITY;
          continue;
        }
        if (!nrBoostReclaim && balanced) {
          out = true;
          break;
        }
        // Boosted reclaim goes no lower than DEF_PRIORITY - 2, to avoid reclaim writeback.
        let raisePriority = !(nrBoostReclaim && priority === DEF_PRIORITY - 2);
        const sc: ScanControl = {
          nrToReclaim: 0,
          order: 0,
          compactionReady: false,
          priority,
          nrScanned: 0,
          nrReclaimed: 0,
          mayWritepage: !nrBoostReclaim,
          nrUnqueuedDirty: 0,
          nrFileTaken: 0,
          kswapd: true,
          current: node.current,
          maySwap: !nrBoostReclaim,
        };
        // Scanning enough to meet the high watermark at full efficiency needs no lower priority.
        if (yield* kswapdShrinkNode(k, nid, sc)) raisePriority = false;
        reclaimed += sc.nrReclaimed;
        // kthread_freezable_should_stop(): a daemon asked to stop ends its run here.
        if (node.stopping) break;
        nrBoostReclaim -= Math.min(nrBoostReclaim, sc.nrReclaimed);
        // A boost reclaim that made no progress stops: it could loop for ever otherwise.
        if (nrBoostReclaim && !sc.nrReclaimed) break;
        if (raisePriority || !sc.nrReclaimed) priority--;
      }
      if (!out && reclaimed === 0) node.failures++;
      if (zoneBoost) {
        zone.watermarkBoost -= Math.min(zone.watermarkBoost, zoneBoost);
        // There is likely space now: wake kcompactd to defragment pageblocks.
        k.compaction.wakeup(nid, zone.pageblockOrder);
      }
    });
  }

  /** `kswapd()` (`mm/vmscan.c`): one node's daemon loop. */
  private daemon(nid: number): Effect.Effect<void, ErrnoError> {
    const self = this;
    const k = this.k;
    const node = this.nodes[nid]!;
    return Effect.gen(function* () {
      for (;;) {
        yield* self.tryToSleep(nid);
        if (k.state !== "running" || node.stopping) return;
        // At work, off its wait queue (waitqueue_active() is false): so too a daemon started
        // asleep whose first look found its node short of the mark, and never slept.
        node.sleeping = false;
        yield* k.call("kswapd", self.balancePgdat(nid));
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

  stop(): Effect.Effect<void> {
    return this.threads.stopAll();
  }
}
