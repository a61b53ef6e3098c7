/**
 * Tracepoints: a subscribable stream of kernel events.
 *
 * Models the `migrate` trace events (`include/trace/events/migrate.h`): `mm_migrate_pages_start`
 * when `migrate_pages()` begins and `mm_migrate_pages` with its counts when it ends, and calls
 * into a copy-offload migrator (`mm_migrate_offload`), and each migration entry installed
 * (`set_migration_pte`) and mapped again (`remove_migration_pte`); the `thp` events of a
 * PMD-mapped THP's migration entry (`set_migration_pmd`, `remove_migration_pmd`,
 * `include/trace/events/thp.h`); and `memory_failure_event`
 * (`include/trace/events/memory-failure.h`) for each outcome of `memory_failure()`. Subscribers
 * are called synchronously, in order; with none, emitting costs one size check.
 *
 * @module
 */
import type { MigrateMode, MigrateReason } from "./migrate_mode";

/**
 * `trace_mm_migrate_pages_start(mode, reason)`: the `mm_migrate_pages_start` event
 * (`include/trace/events/migrate.h`), as `migrate_pages()` (`mm/migrate.c`) begins.
 *
 * @category Tracing and statistics
 */
export interface MmMigratePagesStart {
  /** The event's name. */
  readonly event: "mm_migrate_pages_start";
  /** The call's migration mode. */
  readonly mode: MigrateMode;
  /** The call's migration reason. */
  readonly reason: MigrateReason;
}

/**
 * `trace_mm_migrate_pages(...)`: the `mm_migrate_pages` event (`include/trace/events/migrate.h`),
 * with the counts of one `migrate_pages()` (`mm/migrate.c`) call.
 *
 * @category Tracing and statistics
 */
export interface MmMigratePages {
  /** The event's name. */
  readonly event: "mm_migrate_pages";
  /** Base pages migrated (`succeeded`). */
  readonly succeeded: number;
  /** Base pages that failed (`failed`). */
  readonly failed: number;
  /** PMD-sized THPs migrated (`thp_succeeded`). */
  readonly thpSucceeded: number;
  /** PMD-sized THPs that failed (`thp_failed`). */
  readonly thpFailed: number;
  /** PMD-sized THPs split (`thp_split`). */
  readonly thpSplit: number;
  /** Large folios of any size split (`large_split`). */
  readonly largeSplit: number;
  /** The call's migration mode. */
  readonly mode: MigrateMode;
  /** The call's migration reason. */
  readonly reason: MigrateReason;
}

/**
 * A call into a copy-offload migrator, emitted inside the SRCU read-side section that covers it:
 * `should_batch` and `offload_copy` as the call begins, `offload_copy_done` with its return
 * value as it ends, and `should_batch_failed` when `should_batch` threw or returned something
 * that is not a boolean, and `batch_done_failed` when `batchDone` threw. The series defines no such tracepoint; it is what a kprobe
 * (`kernel/kprobes.c`) on the `struct migrator` callbacks (`include/linux/migrate_copy_offload.h`)
 * would show, and the testkit checks registry invariants with it.
 *
 * @category Tracing and statistics
 */
export interface MmMigrateOffload {
  /** The event's name. */
  readonly event: "mm_migrate_offload";
  readonly op:
    | "should_batch"
    | "should_batch_failed"
    | "offload_copy"
    | "offload_copy_done"
    | "batch_done_failed";
  /** The migrator's name. */
  readonly migrator: string;
  /** Its owner module's name, or null. */
  readonly owner: string | null;
  /**
   * `offload_copy_done`: the return value (`-EIO` for a broken callback);
   * `should_batch_failed` and `batch_done_failed`: `-EIO`; otherwise 0.
   */
  readonly rc: number;
  /**
   * Why the callback is broken, for `should_batch_failed`, `batch_done_failed` and for an `offload_copy_done` of a
   * callback that threw, returned no Effect, failed or died, or returned garbage: what it threw
   * or returned. Absent when the callback behaved.
   */
  readonly error?: string;
}

/**
 * A migrator's adaptive policy deciding one batch: whether it copies the batch itself or declines
 * it to the CPU copy, with the copy-cost model's prediction for both. The series defines no such
 * tracepoint (its open question of when offload pays, v3 cover letter and Zi Yan's TODO 3); it is
 * the `trace_printk()` a driver would add to `offload_copy` (`include/linux/migrate_copy_offload.h`).
 * Times are nanoseconds of the copy step alone.
 *
 * @category Tracing and statistics
 */
export interface MmMigrateOffloadDecision {
  /** The event's name. */
  readonly event: "mm_migrate_offload_decision";
  /** The migrator's name. */
  readonly migrator: string;
  /** True when the migrator copies the batch, false when it declines it (`-EOPNOTSUPP`). */
  readonly taken: boolean;
  /** Folios in the batch. */
  readonly folios: number;
  /** Bytes in the batch. */
  readonly bytes: number;
  /** Threads or channels the offload would use. */
  readonly lanes: number;
  /** CPUs the policy counted idle. */
  readonly idleCpus: number;
  /** Predicted nanoseconds of the copy on the initiating CPU, folio by folio. */
  readonly cpuNs: number;
  /** Predicted nanoseconds of the offloaded copy, dispatch to completion. */
  readonly offloadNs: number;
  /** Predicted nanoseconds the initiating CPU stays busy with the offload. */
  readonly initiatorNs: number;
  /**
   * What the policy's earlier offloads really cost over their predictions: `offloadNs` is the
   * model's prediction times this (1 until an offload has been observed).
   */
  readonly correction: number;
  /**
   * Why: `model`, the predictions above (the policy has measured nothing of batches like this);
   * `measured`, the cheaper of what such batches really cost each way; `explore`, the other way,
   * tried to learn what it costs (`OffloadLearner`).
   */
  readonly basis: "model" | "measured" | "explore";
}

/**
 * `trace_remove_migration_pte(addr, pte, order)`: a migration entry replaced by a present PTE of
 * the new folio, as `remove_migration_ptes()` (`mm/migrate.c`) maps a migrated folio again. The
 * `remove_migration_pte` event (`include/trace/events/migrate.h`).
 *
 * @category Tracing and statistics
 */
export interface RemoveMigrationPte {
  /** The event's name. */
  readonly event: "remove_migration_pte";
  /** The task-virtual address of the PTE. */
  readonly address: number;
  /** The page frame it now maps. */
  readonly pfn: number;
  /** The order of the folio mapped. */
  readonly order: number;
}

/**
 * `trace_set_migration_pte(addr, pte, order)`: a present PTE replaced by a migration entry, as
 * `try_to_migrate_one()` (`mm/rmap.c`) unmaps a folio for migration. The `set_migration_pte`
 * event (`include/trace/events/migrate.h`).
 *
 * @category Tracing and statistics
 */
export interface SetMigrationPte {
  /** The event's name. */
  readonly event: "set_migration_pte";
  /** The task-virtual address of the PTE. */
  readonly address: number;
  /** The page frame the migration entry names. */
  readonly pfn: number;
  /** The order of the folio unmapped. */
  readonly order: number;
}

/**
 * `trace_set_migration_pmd(addr, pmd)` / `trace_remove_migration_pmd(addr, pmd)`: the
 * `migration_pmd` events (`include/trace/events/thp.h`). `set_migration_pmd` when
 * `set_pmd_migration_entry()` (`mm/huge_memory.c`) replaces a huge PMD by one migration entry,
 * `remove_migration_pmd` when `remove_migration_pmd()` maps the new (or old) folio with one huge
 * PMD again.
 *
 * @category Tracing and statistics
 */
export interface MigrationPmd {
  /** The event's name. */
  readonly event: "set_migration_pmd" | "remove_migration_pmd";
  /** The task-virtual, PMD-aligned address the entry maps. */
  readonly address: number;
  /** The entry written, in the model's encoding (`pgtable.ts`). */
  readonly pmd: number;
}

/**
 * A copy thread of a copy engine threw or exited. Not a kernel tracepoint: what a workqueue's
 * `pr_warn` and a driver's `dev_err` would print when a kworker or a DMA engine dies
 * (`kernel/workqueue.c`), as an event a test or a tool can count.
 *
 * @category Tracing and statistics
 */
export interface CopyWorkerEvent {
  /** The event's name. */
  readonly event: "copy_worker";
  /** What happened: an error thrown in the thread, or the thread's exit. */
  readonly what: "error" | "exit";
  /** The engine lane the thread served. */
  readonly lane: number;
  /** The thread's entry file. */
  readonly entry: string;
  /** The error's message, or the exit code. */
  readonly message: string;
}

/**
 * The `compaction` trace events (`include/trace/events/compaction.h`) that follow one
 * `compact_zone()` run (`mm/compaction.c`): `mm_compaction_begin` and `mm_compaction_end` with
 * the zone's span and the scanners' positions, `mm_compaction_isolate_migratepages` and
 * `mm_compaction_isolate_freepages` per block scanned (`mm_compaction_fast_isolate_freepages` per
 * free-list search), `mm_compaction_migratepages` per
 * `migrate_pages()` call, `mm_compaction_finished` / `mm_compaction_suitable` with the decision,
 * `mm_compaction_kcompactd_wake` / `mm_compaction_wakeup_kcompactd` for the daemon, and the
 * deferral events `mm_compaction_defer_compaction`, `_deferred` and `_defer_reset`.
 *
 * @category Tracing and statistics
 */
export type MmCompactionEvent =
  | {
      /** `mm_compaction_begin` or `mm_compaction_end`. */
      readonly event: "mm_compaction_begin" | "mm_compaction_end";
      /** The zone's node. */
      readonly nid: number;
      /** `zone_start`: the zone's first PFN. */
      readonly zoneStart: number;
      /** `migrate_pfn`: where the migration scanner is. */
      readonly migratePfn: number;
      /** `free_pfn`: where the free scanner is. */
      readonly freePfn: number;
      /** `zone_end`: one past the zone's last PFN. */
      readonly zoneEnd: number;
      /** `sync`: the mode is not `MIGRATE_ASYNC`. */
      readonly sync: boolean;
      /** `status` of `mm_compaction_end` (`compaction_status_string`); absent at begin. */
      readonly status?: string;
    }
  | {
      /**
       * `mm_compaction_isolate_migratepages`, `mm_compaction_isolate_freepages`, or
       * `mm_compaction_fast_isolate_freepages` (the free-list search: `startPfn` is the lowest PFN
       * it would take, `endPfn` the free scanner's).
       */
      readonly event:
        | "mm_compaction_isolate_migratepages"
        | "mm_compaction_isolate_freepages"
        | "mm_compaction_fast_isolate_freepages";
      /** `start_pfn`: where the block's scan began. */
      readonly startPfn: number;
      /** `end_pfn`: where it stopped. */
      readonly endPfn: number;
      /** `nr_scanned`: pages looked at. */
      readonly nrScanned: number;
      /** `nr_taken`: pages isolated. */
      readonly nrTaken: number;
    }
  | {
      /** `mm_compaction_migratepages`. */
      readonly event: "mm_compaction_migratepages";
      /** `nr_migrated`: pages migrated by one `migrate_pages()` call. */
      readonly nrMigrated: number;
      /** `nr_failed`: pages isolated but not migrated. */
      readonly nrFailed: number;
    }
  | {
      /** `mm_compaction_finished` or `mm_compaction_suitable`. */
      readonly event: "mm_compaction_finished" | "mm_compaction_suitable";
      /** The zone's node. */
      readonly nid: number;
      /** The order compacted for; -1 for a full compaction. */
      readonly order: number;
      /** `ret` (`compaction_status_string`). */
      readonly ret: string;
    }
  | {
      /** `mm_compaction_kcompactd_wake` or `mm_compaction_wakeup_kcompactd`. */
      readonly event: "mm_compaction_kcompactd_wake" | "mm_compaction_wakeup_kcompactd";
      /** The node. */
      readonly nid: number;
      /** The order asked for; -1 for a proactive trigger. */
      readonly order: number;
    }
  | {
      /**
       * `mm_compaction_defer_compaction` (`defer_compaction()`), `mm_compaction_deferred`
       * (`compaction_deferred()` skipping a compaction) or `mm_compaction_defer_reset`
       * (`compaction_defer_reset()`), with the zone's state after the change
       * (`mm_compaction_defer_template`).
       */
      readonly event:
        | "mm_compaction_defer_compaction"
        | "mm_compaction_deferred"
        | "mm_compaction_defer_reset";
      /** The zone's node. */
      readonly nid: number;
      /** The order compacted for. */
      readonly order: number;
      /** `considered`: `zone->compact_considered`. */
      readonly considered: number;
      /** `defer_shift`: `zone->compact_defer_shift` (the trace prints `limit`, `1 << defer_shift`). */
      readonly deferShift: number;
      /** `order_failed`: `zone->compact_order_failed`. */
      readonly orderFailed: number;
    };

/**
 * Every event this kernel emits: the `migrate` trace events (`include/trace/events/migrate.h`), the
 * `migration_pmd` events of `include/trace/events/thp.h`, the `compaction` events and the model's `mm_migrate_offload`.
 *
 * @category Tracing and statistics
 */
/**
 * `trace_memory_failure_event(pfn, type, result)`: the `memory_failure_event` event
 * (`include/trace/events/memory-failure.h`), one per `action_result()` (`mm/memory-failure.c`).
 *
 * @category Tracing and statistics
 */
export interface MemoryFailureEvent {
  /** The event's name. */
  readonly event: "memory_failure_event";
  /** The poisoned page. */
  readonly pfn: number;
  /** The state it was found in: an `enum mf_action_page_type` name (`include/linux/mm.h`). */
  readonly type: string;
  /** What became of it: an `enum mf_result` name (`include/linux/mm.h`). */
  readonly result: "MF_IGNORED" | "MF_FAILED" | "MF_DELAYED" | "MF_RECOVERED";
}

/**
 * `trace_test_pages_isolated(start_pfn, end_pfn, fin_pfn)`: the `test_pages_isolated` event
 * (`include/trace/events/page_isolation.h`), one per check of an isolated range that got past its
 * pageblocks (`test_pages_isolated()`, `mm/page_isolation.c`); memory offlining makes one per
 * pass. The check failed when `finPfn` is below `endPfn` (the event prints `ret=fail`).
 *
 * @category Tracing and statistics
 */
export interface TestPagesIsolatedEvent {
  readonly event: "test_pages_isolated";
  /** The range's first PFN. */
  readonly startPfn: number;
  /** One past its last PFN. */
  readonly endPfn: number;
  /** The first PFN that is neither free nor skipped, or `endPfn` when every page is. */
  readonly finPfn: number;
}

/**
 * `trace_mm_page_alloc_extfrag(page, alloc_order, fallback_order, alloc_migratetype,
 * fallback_migratetype)`: the `mm_page_alloc_extfrag` event (`include/trace/events/kmem.h`), one
 * per allocation that took its block from another migrate type's free list
 * (`__rmqueue_claim()`, `__rmqueue_steal()`, `mm/page_alloc.c`, Linux 6.16).
 *
 * @category Tracing and statistics
 */
export interface MmPageAllocExtfrag {
  readonly event: "mm_page_alloc_extfrag";
  /** The first PFN of the allocated block. */
  readonly pfn: number;
  /** The order asked for (`alloc_order`). */
  readonly allocOrder: number;
  /** The order of the free block it came from (`fallback_order`). */
  readonly fallbackOrder: number;
  /** The allocation's migrate type (`alloc_migratetype`, a `MIGRATE_*` value). */
  readonly allocMigratetype: number;
  /** The type of the free list it took from (`fallback_migratetype`). */
  readonly fallbackMigratetype: number;
  /**
   * `change_ownership`: the block's pageblock now has the allocation's type (it was claimed), as
   * `get_pageblock_migratetype(page) == alloc_migratetype` reads after the allocation.
   */
  readonly changeOwnership: boolean;
}

/**
 * `trace_mm_vmscan_lru_shrink_inactive(nid, nr_scanned, nr_reclaimed, stat, priority, file)`: the
 * `mm_vmscan_lru_shrink_inactive` event (`include/trace/events/vmscan.h`), one per
 * `shrink_inactive_list()` call that isolated something (`mm/vmscan.c`, Linux 6.16), from kswapd
 * and direct reclaim alike. The model reports the kernel's counts and priority; the
 * `reclaim_stat` breakdown (dirty, writeback, activated, kept...) it does not.
 *
 * @category Tracing and statistics
 */
export interface MmVmscanLruShrinkInactive {
  readonly event: "mm_vmscan_lru_shrink_inactive";
  /** The node reclaimed. */
  readonly nid: number;
  /** Pages isolated from the inactive list (`nr_scanned`). */
  readonly nrScanned: number;
  /** Pages reclaimed of them, demoted ones included (`nr_reclaimed`). */
  readonly nrReclaimed: number;
  /** The reclaim pass's priority (`sc->priority`): `lru_size >> priority` was scanned. */
  readonly priority: number;
  /** The file list (`RECLAIM_WB_FILE` in `flags`) rather than the anonymous one. */
  readonly file: boolean;
  /** Pages of the isolated file folios that were dirty or under writeback (`stat->nr_dirty`). */
  readonly nrDirty: number;
  /** Pages of them under writeback, marked for immediate reclaim (`stat->nr_writeback`). */
  readonly nrWriteback: number;
  /** Pages of them under writeback that had `PG_reclaim` already (`stat->nr_congested`). */
  readonly nrCongested: number;
  /**
   * Pages of them under writeback met by kswapd with `PG_reclaim` on a node flagged
   * `PGDAT_WRITEBACK` (`stat->nr_immediate`); 0 in the model, which does not flag it.
   */
  readonly nrImmediate: number;
}

/**
 * The `oom_reaper`'s events of `include/trace/events/oom.h` (Linux 6.16), each naming the
 * victim's pid: `skip_task_reaping` for a try that could not take the address space's
 * `mmap_lock` (`mmap_read_trylock()` failed) or found it torn down already (`MMF_OOM_SKIP`),
 * `start_task_reaping` and `finish_task_reaping` around a reap (`oom_reap_task_mm()`,
 * `mm/oom_kill.c`).
 *
 * @category Tracing and statistics
 */
export interface OomReapingEvent {
  readonly event: "skip_task_reaping" | "start_task_reaping" | "finish_task_reaping";
  /** The victim's pid. */
  readonly pid: number;
}

/** Every event a kernel's tracepoints emit. @category Tracing and statistics */
export type TraceEvent =
  | MemoryFailureEvent
  | MmMigratePagesStart
  | MmMigratePages
  | MmMigrateOffload
  | SetMigrationPte
  | MmMigrateOffloadDecision
  | RemoveMigrationPte
  | MigrationPmd
  | CopyWorkerEvent
  | MmCompactionEvent
  | MmPageAllocExtfrag
  | MmVmscanLruShrinkInactive
  | OomReapingEvent
  | TestPagesIsolatedEvent;

/**
 * One kernel's tracepoints. Models the tracepoint machinery (`include/linux/tracepoint.h`,
 * `kernel/tracepoint.c`) for the events of (`include/trace/events/migrate.h`): subscribing is
 * registering a probe.
 *
 * @category Tracing and statistics
 */
export class Tracepoints {
  private readonly subscribers = new Set<(event: TraceEvent) => void>();

  /**
   * Calls `fn` for every event from now on; returns the function that unsubscribes
   * (`tracepoint_probe_register()`, `kernel/tracepoint.c`).
   */
  subscribe(fn: (event: TraceEvent) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  /** Drops every subscriber (at kernel shutdown). */
  clear(): void {
    this.subscribers.clear();
  }

  /** Emits an event to every subscriber. */
  emit(event: TraceEvent): void {
    for (const fn of this.subscribers) fn(event);
  }

  /** True when anyone listens; callers skip building events otherwise. */
  get enabled(): boolean {
    return this.subscribers.size > 0;
  }
}
