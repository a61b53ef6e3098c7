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

/** `trace_mm_migrate_pages_start(mode, reason)`. */
export interface MmMigratePagesStart {
  readonly event: "mm_migrate_pages_start";
  readonly mode: MigrateMode;
  readonly reason: MigrateReason;
}

/** `trace_mm_migrate_pages(...)`: the counts of one `migrate_pages()` call. */
export interface MmMigratePages {
  readonly event: "mm_migrate_pages";
  readonly succeeded: number;
  readonly failed: number;
  readonly thpSucceeded: number;
  readonly thpFailed: number;
  readonly thpSplit: number;
  readonly largeSplit: number;
  readonly mode: MigrateMode;
  readonly reason: MigrateReason;
}

/**
 * A call into a copy-offload migrator, emitted inside the SRCU read-side section that covers it:
 * `should_batch` and `offload_copy` as the call begins, `offload_copy_done` with its return
 * value as it ends, and `should_batch_failed` when `should_batch` threw or returned something
 * that is not a boolean. The series defines no such tracepoint; it is what a kprobe on the
 * migrator's callbacks would show, and the testkit checks registry invariants with it.
 */
export interface MmMigrateOffload {
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
 * `trace_remove_migration_pte(addr, pte, order)`: a migration entry replaced by a present PTE of
 * the new folio, as `remove_migration_ptes()` maps a migrated folio again.
 */
export interface RemoveMigrationPte {
  readonly event: "remove_migration_pte";
  /** The task-virtual address of the PTE. */
  readonly address: number;
  /** The page frame it now maps. */
  readonly pfn: number;
  /** The order of the folio mapped. */
  readonly order: number;
}

/** Every event this kernel emits. */
export type TraceEvent =
  | MmMigratePagesStart
  | MmMigratePages
  | MmMigrateOffload
  | RemoveMigrationPte;

/** One kernel's tracepoints. */
export class Tracepoints {
  private readonly subscribers = new Set<(event: TraceEvent) => void>();

  /** Calls `fn` for every event from now on; returns the function that unsubscribes. */
  subscribe(fn: (event: TraceEvent) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
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
