/**
 * Tracepoints: a subscribable stream of kernel events.
 *
 * Models the `migrate` trace events (`include/trace/events/migrate.h`): `mm_migrate_pages_start`
 * when `migrate_pages()` begins and `mm_migrate_pages` with its counts when it ends, and calls
 * into a copy-offload migrator (`mm_migrate_offload`), and each migration entry mapped again
 * (`remove_migration_pte`). Subscribers
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
 * that is not a boolean. The series defines no such tracepoint; it is what a kprobe
 * (`kernel/kprobes.c`) on the `struct migrator` callbacks (`include/linux/migrate_copy_offload.h`)
 * would show, and the testkit checks registry invariants with it.
 *
 * @category Tracing and statistics
 */
export interface MmMigrateOffload {
  /** The event's name. */
  readonly event: "mm_migrate_offload";
  readonly op: "should_batch" | "should_batch_failed" | "offload_copy" | "offload_copy_done";
  /** The migrator's name. */
  readonly migrator: string;
  /** Its owner module's name, or null. */
  readonly owner: string | null;
  /**
   * `offload_copy_done`: the return value (`-EIO` for a broken callback);
   * `should_batch_failed`: `-EIO`; otherwise 0.
   */
  readonly rc: number;
  /**
   * Why the callback is broken, for `should_batch_failed` and for an `offload_copy_done` of a
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
 * Every event this kernel emits: the `migrate` trace events (`include/trace/events/migrate.h`) and
 * the model's `mm_migrate_offload`.
 *
 * @category Tracing and statistics
 */
export type TraceEvent =
  | MmMigratePagesStart
  | MmMigratePages
  | MmMigrateOffload
  | MmMigrateOffloadDecision
  | RemoveMigrationPte
  | CopyWorkerEvent;

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
