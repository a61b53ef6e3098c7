/**
 * What compaction's callers see: its results, priorities and tunables.
 *
 * Models `include/linux/compaction.h` (`enum compact_result`, `enum compact_priority`,
 * `compact_gap()`) and the sysctls of `mm/compaction.c`. The compactor itself is
 * `mm/compaction.ts`.
 *
 * @module
 */
import type { Effect } from "effect";
import type { ErrnoError } from "../errno";
import type { AllocRequest } from "./mmzone";

/**
 * `enum compact_result` (`include/linux/compaction.h`), in the kernel's order: a larger value is
 * further along, and `try_to_compact_pages()` keeps the largest of its zones'.
 *
 * @category Compaction
 */
export const CompactResult = {
  /** `COMPACT_NOT_SUITABLE_ZONE`: the fragmentation index says the zone lacks memory, not order. */
  NOT_SUITABLE_ZONE: 0,
  /** `COMPACT_SKIPPED`: too few free pages for compaction to have targets. */
  SKIPPED: 1,
  /** `COMPACT_DEFERRED`: recent failures defer compaction. */
  DEFERRED: 2,
  /** `COMPACT_NO_SUITABLE_PAGE`: no page of the order yet; an internal step, never returned. */
  NO_SUITABLE_PAGE: 3,
  /** `COMPACT_CONTINUE`: keep going. */
  CONTINUE: 4,
  /** `COMPACT_COMPLETE`: the scanners met over the whole zone. */
  COMPLETE: 5,
  /** `COMPACT_PARTIAL_SKIPPED`: the scanners met over part of the zone. */
  PARTIAL_SKIPPED: 6,
  /** `COMPACT_CONTENDED`: stopped early (a fatal signal: `SIGKILL`, the kernel shutting down). */
  CONTENDED: 7,
  /** `COMPACT_SUCCESS`: a free page of the order exists. */
  SUCCESS: 8,
} as const;

/**
 * One of the {@link CompactResult} values (`enum compact_result`, `include/linux/compaction.h`).
 *
 * @category Compaction
 */
export type CompactResult = (typeof CompactResult)[keyof typeof CompactResult];

/**
 * `compaction_status_string[]` (`include/trace/events/compaction.h`, through
 * `COMPACTION_STATUS`): each {@link CompactResult} as the trace events print it.
 *
 * @category Compaction
 */
export const COMPACTION_STATUS_NAMES: readonly string[] = [
  "not_suitable_zone",
  "skipped",
  "deferred",
  "no_suitable_page",
  "continue",
  "complete",
  "partial_skipped",
  "contended",
  "success",
];

/**
 * `enum compact_priority` (`include/linux/compaction.h`): how hard direct compaction tries. A
 * lower value tries harder: `COMPACT_PRIO_SYNC_FULL` (0) scans in `MIGRATE_SYNC_LIGHT` mode and
 * takes free pages from any pageblock, `COMPACT_PRIO_SYNC_LIGHT` (1, `DEF_COMPACT_PRIORITY`) is
 * `MIGRATE_SYNC_LIGHT`, `COMPACT_PRIO_ASYNC` (2, `INIT_COMPACT_PRIORITY`) is `MIGRATE_ASYNC`.
 *
 * @category Compaction
 */
export const CompactPriority = {
  /** `COMPACT_PRIO_SYNC_FULL` (`MIN_COMPACT_PRIORITY`). */
  SYNC_FULL: 0,
  /** `COMPACT_PRIO_SYNC_LIGHT` (`DEF_COMPACT_PRIORITY`, `MIN_COMPACT_COSTLY_PRIORITY`). */
  SYNC_LIGHT: 1,
  /** `COMPACT_PRIO_ASYNC` (`INIT_COMPACT_PRIORITY`). */
  ASYNC: 2,
} as const;

/**
 * One of the {@link CompactPriority} values (`enum compact_priority`).
 *
 * @category Compaction
 */
export type CompactPriority = (typeof CompactPriority)[keyof typeof CompactPriority];

/**
 * `COMPACT_CLUSTER_MAX` (`include/linux/compaction.h`, `SWAP_CLUSTER_MAX`): the most folios the
 * migration scanner isolates before migrating them.
 *
 * @category Compaction
 */
export const COMPACT_CLUSTER_MAX = 32;

/**
 * `PAGE_ALLOC_COSTLY_ORDER` (`include/linux/mmzone.h`): orders above it are costly; compaction
 * asks the fragmentation index before compacting for them.
 *
 * @category Compaction
 */
export const PAGE_ALLOC_COSTLY_ORDER = 3;

/**
 * `HPAGE_FRAG_CHECK_INTERVAL_MSEC` (`mm/compaction.c`): how often, in milliseconds, `kcompactd`
 * checks a node's fragmentation score for proactive compaction.
 *
 * @category Compaction
 */
export const HPAGE_FRAG_CHECK_INTERVAL_MSEC = 500;

/**
 * `COMPACT_MAX_DEFER_SHIFT` (`include/linux/compaction.h`): proactive compaction that made no
 * progress waits `HPAGE_FRAG_CHECK_INTERVAL_MSEC << 6` before its next check.
 *
 * @category Compaction
 */
export const COMPACT_MAX_DEFER_SHIFT = 6;

/**
 * `compact_gap()` (`include/linux/compaction.h`): the free pages compaction needs beyond the
 * watermark for an allocation of `order`: twice the request, for the copies in flight.
 *
 * @category Compaction
 */
export const compactGap = (order: number): number => 2 * 2 ** order;

/**
 * One slow-path allocation a fault asks for: what `__alloc_pages_slowpath()` (`mm/page_alloc.c`)
 * runs, with direct reclaim and direct compaction, between the failed first tries and the
 * fallback, for any order an allocation that may reclaim directly (`__GFP_DIRECT_RECLAIM`) asks.
 * The fault fills in {@link DirectCompact.request} and stops; the caller runs the slow path
 * (`allocPagesSlowpath()`, an Effect), keeps the page it got, and faults again, which takes
 * {@link DirectCompact.page} or, when the slow path failed, falls back to a smaller order (a base
 * page's fault fails with `ENOMEM`).
 *
 * @category Compaction
 */
export interface DirectCompact {
  /** The allocation to compact for: node, order, GFP flags, nodemask; null when none is wanted. */
  request: AllocRequest | null;
  /**
   * The orders the slow path ran for in this fault, one bit each (bit `n`: order `n`): a failure
   * at an order already tried falls back to the next order (for a base page, `ENOMEM`). Cleared
   * once the fault gets its folio.
   */
  tried: number;
  /**
   * The orders whose local-node-first try of a PMD-sized folio (`alloc_pages_mpol()`,
   * `mm/mempolicy.c`: `__GFP_THISNODE | __GFP_NORETRY`, slow path included) failed in this fault,
   * one bit each: the retried fault goes on to the allocation that may use other nodes. Cleared
   * with {@link DirectCompact.tried}.
   */
  thisNode: number;
  /** The block the slow path allocated for the retried fault, or -1. */
  page: number;
  /**
   * A folio a NUMA hinting fault isolated to move to `nid` (`do_numa_page()` →
   * `migrate_misplaced_folio()`), which the caller migrates before faulting again; null when none.
   */
  misplaced: { readonly folio: number; readonly nid: number } | null;
  /**
   * The rest of a readahead whose next folio's allocation asked for the slow path (`request`:
   * `page_cache_ra_unbounded()`'s `__GFP_NORETRY` allocation, `mm/readahead.ts`), which the
   * caller runs first once the slow path is done: it takes the page the slow path got (`page`)
   * and reads on, or ends the readahead there when it got none, as the failed allocation does in
   * Linux. Absent or null when none.
   */
  readahead?: (() => void) | null;
  /**
   * `fpin` (`maybe_unlock_mmap_for_io()`, `mm/internal.h`): this attempt of a file fault dropped
   * `mmap_lock` to read ahead, so it ends in `VM_FAULT_RETRY` once its folio is in the page
   * cache (`filemapFault()`). Cleared with {@link DirectCompact.tried}.
   */
  fpin?: boolean;
  /**
   * `FAULT_FLAG_TRIED` (`include/linux/mm_types.h`): the fault is being retried after a
   * `VM_FAULT_RETRY` that dropped the lock; it drops it no more and starts no asynchronous
   * readahead. Cleared once the access's page is mapped.
   */
  faultFlagTried?: boolean;
  /**
   * `VM_FAULT_MAJOR` (`include/linux/mm_types.h`): this attempt of a file fault missed the page
   * cache, so it counted `pgmajfault` and read ahead (`filemap_fault()`); the passes the model
   * makes of the same attempt after the slow path do neither again, as Linux's one pass does
   * them once, a `FAULT_FLAG_TRIED` attempt included. Cleared with {@link DirectCompact.tried}.
   */
  faultMajor?: boolean;
}

/**
 * A kernel's compaction: its tunables and its daemons. Models the sysctls and the per-node
 * `kcompactd` state of `mm/compaction.c` (`pg_data_t`'s `kcompactd_max_order`,
 * `proactive_compact_trigger`). `mm/compaction.ts` implements it.
 *
 * @category Compaction
 */
export interface Compaction {
  /** `/proc/sys/vm/compaction_proactiveness` (`sysctl_compaction_proactiveness`): 0..100, 20. */
  proactiveness: number;
  /** `/proc/sys/vm/extfrag_threshold` (`sysctl_extfrag_threshold`): 0..1000, 500. */
  extfragThreshold: number;
  /**
   * `wakeup_kcompactd()` (`mm/compaction.c`): asks node `nid`'s `kcompactd` to compact for
   * `order`; it wakes when the node has a daemon (`wq_has_sleeper()`) and compaction could help.
   */
  wakeup(nid: number, order: number): void;
  /**
   * `reset_isolation_suitable()` (`mm/compaction.c`, Linux 6.16), as `kswapd_try_to_sleep()`
   * (`mm/vmscan.c`) calls it before it naps: clears node `nid`'s pageblock skip hints where a
   * sample finds pages to move or free pages, and restarts the cached scanner positions, when a
   * direct compaction's scanners met there since the last reset (`compact_blockskip_flush`).
   */
  resetIsolationSuitable(nid: number): void;
  /**
   * `compaction_suitable()` (`mm/compaction.c`): whether compaction could make a free block of
   * `order` on node `nid` with `watermark` plus `compact_gap(order)` free base pages and, for a
   * costly order, a fragmentation index above `extfrag_threshold`. Reclaim asks it to know when
   * to stop and leave the rest to compaction (`compaction_ready()`, `should_continue_reclaim()`,
   * `mm/vmscan.c`). False for a node that does not exist.
   */
  suitable(nid: number, order: number, watermark: number): boolean;
  /**
   * `kcompactd_run()` for every node with memory now (`kcompactd_init()`, `mm/compaction.c`):
   * forks one daemon fiber per node, sleeping on the caller's `Clock` (`TestClock` in tests);
   * kernel shutdown stops them. `EBUSY` when they run already, as they do from boot unless the
   * kernel was booted with `daemons: "on-demand"` (`KernelConfig.daemons`).
   */
  run(): Effect.Effect<void, ErrnoError>;
  /**
   * `kcompactd_run()` (`mm/compaction.c`) for node `nid`, as `online_pages()` calls it: forks the
   * node's daemon on the caller's `Clock`, with `kcompactd_max_order` cleared (as `kcompactd()`
   * does); a proactive trigger left from while the node had none wakes it at once. Nothing when
   * the node has a daemon, or while the daemons do not run ({@link run} starts them).
   */
  runNode(nid: number): Effect.Effect<void>;
  /**
   * `kcompactd_stop()` (`mm/compaction.c`) for node `nid`, as `offline_pages()` calls it when the
   * node's last memory went offline: wakes the daemon (`kthread_stop()`), waits until it has
   * ended (a compaction in flight ends first) and clears `pgdat->kcompactd`. Nothing when the
   * node has no daemon.
   */
  stopNode(nid: number): Effect.Effect<void>;
  /** Whether node `nid` has a daemon (`pgdat->kcompactd` is not NULL). */
  hasDaemon(nid: number): boolean;
  /**
   * True between {@link run} and kernel shutdown; meanwhile each node with memory has its
   * daemon ({@link hasDaemon}).
   */
  readonly running: boolean;
}

/**
 * A fresh {@link DirectCompact}: no slow path asked for, no order tried, no page kept, nothing
 * to move, no readahead left.
 *
 * @category Compaction
 */
export const newDirectCompact = (): DirectCompact => ({
  request: null,
  tried: 0,
  thisNode: 0,
  page: -1,
  misplaced: null,
  readahead: null,
  fpin: false,
  faultFlagTried: false,
  faultMajor: false,
});

/**
 * A fault of an access is over (it has its folio, or the access goes on past it): the next fault
 * may take the slow path again for any order, the local-node-first requests included
 * (`dc.tried` and `dc.thisNode` cleared), and starts as a first attempt (`dc.fpin`,
 * `dc.faultFlagTried` and `dc.faultMajor` cleared).
 */
export const directCompactFaultDone = (dc: DirectCompact): void => {
  dc.tried = 0;
  dc.thisNode = 0;
  dc.fpin = false;
  dc.faultFlagTried = false;
  dc.faultMajor = false;
};
