/**
 * Migration modes and reasons.
 *
 * Models `enum migrate_mode` (`include/linux/migrate_mode.h`) and `enum migrate_reason` with the
 * names the `migrate` tracepoints print for each reason (`include/trace/events/migrate.h`).
 *
 * @module
 */

/** `MIGRATE_ASYNC`: never block; a locked or busy folio is retried or skipped. */
export const MIGRATE_ASYNC = 0;
/** `MIGRATE_SYNC_LIGHT`: may block on locks, not on writeback. */
export const MIGRATE_SYNC_LIGHT = 1;
/** `MIGRATE_SYNC`: may block on locks and writeback. */
export const MIGRATE_SYNC = 2;

/** A migration mode (`enum migrate_mode`). */
export type MigrateMode = typeof MIGRATE_ASYNC | typeof MIGRATE_SYNC_LIGHT | typeof MIGRATE_SYNC;

/** Mode names as the tracepoints print them. */
export const MIGRATE_MODE_NAMES: Readonly<Record<MigrateMode, string>> = {
  [MIGRATE_ASYNC]: "MIGRATE_ASYNC",
  [MIGRATE_SYNC_LIGHT]: "MIGRATE_SYNC_LIGHT",
  [MIGRATE_SYNC]: "MIGRATE_SYNC",
};

/** `MR_COMPACTION`. */
export const MR_COMPACTION = 0;
/** `MR_MEMORY_FAILURE`. */
export const MR_MEMORY_FAILURE = 1;
/** `MR_MEMORY_HOTPLUG`. */
export const MR_MEMORY_HOTPLUG = 2;
/** `MR_SYSCALL`: `move_pages(2)`, `migrate_pages(2)` and cpuset moves. */
export const MR_SYSCALL = 3;
/** `MR_MEMPOLICY_MBIND`. */
export const MR_MEMPOLICY_MBIND = 4;
/** `MR_NUMA_MISPLACED`: NUMA balancing. */
export const MR_NUMA_MISPLACED = 5;
/** `MR_CONTIG_RANGE`: `alloc_contig_range()`. */
export const MR_CONTIG_RANGE = 6;
/** `MR_LONGTERM_PIN`. */
export const MR_LONGTERM_PIN = 7;
/** `MR_DEMOTION`: memory tiering demotion. */
export const MR_DEMOTION = 8;
/** `MR_DAMON`. */
export const MR_DAMON = 9;
/** `MR_TYPES`: the number of reasons. */
export const MR_TYPES = 10;

/** A migration reason (`enum migrate_reason`). */
export type MigrateReason = number;

/** Each reason's kernel name, indexed by reason (`MIGRATE_REASON` in the trace header). */
export const MIGRATE_REASON_NAMES: readonly string[] = [
  "compaction",
  "memory_failure",
  "memory_hotplug",
  "syscall_or_cpuset",
  "mempolicy_mbind",
  "numa_misplaced",
  "contig_range",
  "longterm_pin",
  "demotion",
  "damon",
];

/** True when `reason` is one of the `MR_*` values. */
export const isMigrateReason = (reason: number): reason is MigrateReason =>
  Number.isInteger(reason) && reason >= 0 && reason < MR_TYPES;
