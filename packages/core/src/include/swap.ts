/**
 * The lists that isolation takes folios from (the LRU and the active hugetlb list), and reclaim.
 *
 * Models the LRU calls of `include/linux/swap.h` (`folio_add_lru()`, `folio_isolate_lru()`,
 * `folio_putback_lru()`) over `struct lruvec` and `enum lru_list` (`include/linux/mmzone.h`), the
 * hugetlb counterparts of `include/linux/hugetlb.h` (`folio_isolate_hugetlb()`,
 * `folio_putback_hugetlb()`), and `kswapd`'s interface (`wakeup_kswapd()`, `kswapd_run()`). The
 * lists themselves are `mm/swap.ts`; reclaim is `mm/vmscan.ts`.
 *
 * @module
 */
import type { Effect } from "effect";
import type { ErrnoError } from "../errno";
import type { FolioList } from "../lib/list";

/**
 * `LRU_INACTIVE_ANON` (`enum lru_list`, `include/linux/mmzone.h`): anonymous and shmem folios not
 * used lately, where reclaim looks first. A new anonymous folio starts here.
 *
 * @category Reclaim
 */
export const LRU_INACTIVE_ANON = 0;
/**
 * `LRU_ACTIVE_ANON` (`include/linux/mmzone.h`): anonymous and shmem folios in use (`PG_active`).
 *
 * @category Reclaim
 */
export const LRU_ACTIVE_ANON = 1;
/**
 * `LRU_INACTIVE_FILE` (`include/linux/mmzone.h`): page cache folios not used lately. A new page
 * cache folio starts here.
 *
 * @category Reclaim
 */
export const LRU_INACTIVE_FILE = 2;
/**
 * `LRU_ACTIVE_FILE` (`include/linux/mmzone.h`): page cache folios in use (`PG_active`).
 *
 * @category Reclaim
 */
export const LRU_ACTIVE_FILE = 3;
/**
 * `LRU_UNEVICTABLE` (`include/linux/mmzone.h`): folios reclaim must not take, here the mlocked
 * ones (`PG_mlocked`).
 *
 * @category Reclaim
 */
export const LRU_UNEVICTABLE = 4;
/**
 * `NR_LRU_LISTS` (`include/linux/mmzone.h`): 5, the lists of one `lruvec`.
 *
 * @category Reclaim
 */
export const NR_LRU_LISTS = 5;

/**
 * A list folios are isolated from for migration and put back on: the LRU calls of
 * `include/linux/swap.h` and their hugetlb counterparts of `include/linux/hugetlb.h`.
 *
 * @category Memory and folios
 */
export interface IsolationList {
  /**
   * Puts a folio on its list (`folio_add_lru()`, `mm/swap.c`, or a new hugetlb folio becoming
   * migratable).
   */
  add(head: number): void;
  /**
   * Takes a folio off its list with a reference (`folio_isolate_lru()`, `mm/vmscan.c`;
   * `folio_isolate_hugetlb()`, `mm/hugetlb.c`).
   * False when it is not on one: already isolated, or never added.
   */
  isolate(head: number): boolean;
  /**
   * Returns an isolated folio and drops the isolation reference (`folio_putback_lru()`,
   * `mm/vmscan.c`).
   */
  putback(head: number): void;
}

/**
 * The LRU lists of one kernel (`struct lruvec`, `include/linux/mmzone.h`): per node, one list per
 * `enum lru_list`, marked by `PG_lru`. A folio's list follows its flags (`folio_lru_list()`,
 * `include/linux/mm_inline.h`): mlocked ones are unevictable, the rest are anon (swap-backed) or
 * file, active (`PG_active`) or inactive. Folios are added at the head and reclaim takes them from
 * the tail, so the tail holds the oldest.
 *
 * @category Memory and folios
 */
export interface Lru extends IsolationList {
  /** Per node, the lists indexed by `LRU_INACTIVE_ANON` … `LRU_UNEVICTABLE`. */
  readonly lists: readonly (readonly FolioList[])[];
  /** Folios on a node's lists, counted by walking them; 0 for a node that does not exist. */
  count(nid: number): number;
  /**
   * `lruvec_lru_size()` (`mm/vmscan.c`): the pages (not folios) on one list of a node, counted by
   * walking it; 0 for a node that does not exist.
   */
  size(nid: number, lru: number): number;
  /**
   * `folio_add_lru()` and `lru_add()` (`mm/swap.c`, Linux 6.16): puts a folio that is off the LRU
   * on the list it belongs to, checking whether it is evictable. A folio that is not mlocked goes
   * on its evictable list, counting `unevictable_pgs_rescued` when it had `PG_unevictable`; an
   * mlocked one goes on the unevictable list, no longer active, with an `mlock_count` of 0, counting
   * `unevictable_pgs_culled` unless it had `PG_unevictable` already. `putback()`
   * (`folio_putback_lru()`) goes through here.
   */
  folioAddLru(head: number): void;
}

/**
 * A kernel's `kswapd` daemons, one per node with memory (`pgdat->kswapd`, `mm/vmscan.c`), and the
 * state reclaim keeps per node. Memory hotplug stops a node's daemon when its last memory goes
 * offline and starts one when memory comes online ({@link stopNode}, {@link runNode}), as
 * `offline_pages()` and `online_pages()` (`mm/memory_hotplug.c`) do. `mm/vmscan.ts` implements it.
 *
 * @category Reclaim
 */
export interface Kswapd {
  /**
   * Whether kswapd runs: between {@link run} and {@link stop} or kernel shutdown. Meanwhile each
   * node with memory has its daemon ({@link hasDaemon}); a node whose memory is all offline has
   * none.
   */
  readonly running: boolean;
  /**
   * `kswapd_run()` for every node with memory (`node_states[N_MEMORY]` now, not at boot): starts
   * the daemons as fibers on the `Clock` of the calling fiber (`TestClock` in tests); kernel
   * shutdown stops them. `EBUSY` when they run already, as they do from boot unless the kernel
   * was booted with `daemons: "on-demand"` (`KernelConfig.daemons`) or {@link stop} ended them.
   */
  run(): Effect.Effect<void, ErrnoError>;
  /**
   * `kswapd_run()` (`mm/vmscan.c`) for node `nid`, as `online_pages()` calls it: starts the
   * node's daemon, asleep, on the `Clock` of the calling fiber, with `kswapd_order` cleared (as
   * `kswapd()` does). Nothing when the node has a daemon, or while kswapd does not run (a
   * kernel booted with `daemons: "on-demand"` has none until {@link run}).
   */
  runNode(nid: number): Effect.Effect<void>;
  /**
   * `kswapd_stop()` (`mm/vmscan.c`) for node `nid`, as `offline_pages()` calls it when the node's
   * last memory went offline: wakes the daemon (`kthread_stop()`), waits until it has ended (a
   * reclaim pass in flight ends first) and clears `pgdat->kswapd`. The node's `kswapd_failures`
   * stay (they are the node's, not the thread's). Nothing when the node has no daemon.
   */
  stopNode(nid: number): Effect.Effect<void>;
  /** Whether node `nid` has a daemon (`pgdat->kswapd` is not NULL). */
  hasDaemon(nid: number): boolean;
  /**
   * `wakeup_kswapd()` (`mm/vmscan.c`): asks node `nid`'s daemon to reclaim until the node is above
   * its high watermark (`WMARK_HIGH`; `WMARK_PROMO` in NUMA balancing's memory tiering mode) for
   * an allocation of `order`. Nothing happens when the daemons do not run, the node has no
   * managed memory (`managed_zone()`), its daemon is gone or awake already
   * (`waitqueue_active()`), or the node is balanced.
   */
  wakeup(nid: number, order: number): void;
  /**
   * The nodes flagged `PGDAT_DIRTY` (`pgdat->flags`, `mm/vmscan.c`, Linux 6.16): a kswapd pass
   * over the node found every file folio it isolated dirty and not under writeback
   * (`sc->nr.unqueued_dirty == sc->nr.file_taken` in `shrink_node()`), which lets kswapd hand a
   * dirty file folio it meets marked `PG_reclaim` to `pageout()` (which, in Linux 6.16, writes
   * no filesystem folio: it activates it). Cleared when the node is balanced again
   * (`clear_pgdat_congested()` in `prepare_kswapd_sleep()`).
   */
  readonly pgdatDirty: Set<number>;
  /**
   * What `shrink_node()` (`mm/vmscan.c`) does when it reclaimed something on `nid`: resets the
   * node's `kswapd_failures`, so a daemon that had given the node up works on it again.
   */
  nodeReclaimed(nid: number): void;
  /**
   * Node `nid`'s `kswapd_failures` (`pg_data_t`, `include/linux/mmzone.h`): the `balance_pgdat()`
   * runs in a row that reclaimed nothing (`mm/vmscan.c`), reset by any reclaim that makes progress
   * on the node. From `MAX_RECLAIM_RETRIES` (16) on the node is hopeless: kswapd leaves it to
   * direct reclaim, and `/proc/zoneinfo` reports it `node_unreclaimable`. 0 for a node that does
   * not exist.
   */
  failures(nid: number): number;
  /**
   * Whether node `nid`'s daemon waits on its wait queue (`waitqueue_active(&pgdat->kswapd_wait)`,
   * `mm/vmscan.c`): napping or asleep, with no wake-up pending. False while it reclaims, and for a
   * node without a daemon.
   */
  sleeping(nid: number): boolean;
  /**
   * `kswapd_stop()` (`mm/vmscan.c`) for every node: ends the daemons, which finish no reclaim they
   * were in the middle of (a migration in flight ends first, as the thread's `kthread_stop()`
   * waits for it); {@link run} may start them again. Nothing happens when they do not run.
   */
  stop(): Effect.Effect<void>;
}

/**
 * The active hugetlb folios (`hstate->hugepage_activelist`, `include/linux/hugetlb.h`), marked
 * by `HPG_migratable`. Hugetlb folios are not on the LRU; migration isolates them from this list
 * instead.
 *
 * @category Memory and folios
 */
export interface HugetlbActive extends IsolationList {
  /** The list, linked through `folio->lru`. */
  readonly list: FolioList;
}
