/**
 * Migration modes and reasons.
 *
 * Models `enum migrate_mode` (`include/linux/migrate_mode.h`) and `enum migrate_reason` with the
 * names the `migrate` tracepoints print for each reason (`include/trace/events/migrate.h`).
 *
 * @module
 */

/**
 * `MIGRATE_ASYNC` (`include/linux/migrate_mode.h`): never block; a locked or busy folio is retried
 * or skipped.
 *
 * @category Page migration
 */
export const MIGRATE_ASYNC = 0;
/**
 * `MIGRATE_SYNC_LIGHT` (`include/linux/migrate_mode.h`): may block on locks, not on writeback.
 *
 * @category Page migration
 */
export const MIGRATE_SYNC_LIGHT = 1;
/**
 * `MIGRATE_SYNC` (`include/linux/migrate_mode.h`): may block on locks and writeback.
 *
 * @category Page migration
 */
export const MIGRATE_SYNC = 2;

/**
 * A migration mode (`enum migrate_mode`, `include/linux/migrate_mode.h`).
 *
 * @category Page migration
 */
export type MigrateMode = typeof MIGRATE_ASYNC | typeof MIGRATE_SYNC_LIGHT | typeof MIGRATE_SYNC;

/**
 * Mode names as the tracepoints print them (`MIGRATE_MODE`, `include/trace/events/migrate.h`).
 *
 * @category Page migration
 */
export const MIGRATE_MODE_NAMES: Readonly<Record<MigrateMode, string>> = {
  [MIGRATE_ASYNC]: "MIGRATE_ASYNC",
  [MIGRATE_SYNC_LIGHT]: "MIGRATE_SYNC_LIGHT",
  [MIGRATE_SYNC]: "MIGRATE_SYNC",
};

/**
 * `MR_COMPACTION` (`include/linux/migrate_mode.h`): compaction (`mm/compaction.c`).
 *
 * @category Page migration
 */
export const MR_COMPACTION = 0;
/**
 * `MR_MEMORY_FAILURE` (`include/linux/migrate_mode.h`): soft offlining a failing page
 * (`mm/memory-failure.c`).
 *
 * @category Page migration
 */
export const MR_MEMORY_FAILURE = 1;
/**
 * `MR_MEMORY_HOTPLUG` (`include/linux/migrate_mode.h`): memory offlining (`mm/memory_hotplug.c`).
 *
 * @category Page migration
 */
export const MR_MEMORY_HOTPLUG = 2;
/**
 * `MR_SYSCALL` (`include/linux/migrate_mode.h`): `move_pages(2)`, `migrate_pages(2)` and cpuset
 * moves.
 *
 * @category Page migration
 */
export const MR_SYSCALL = 3;
/**
 * `MR_MEMPOLICY_MBIND` (`include/linux/migrate_mode.h`): `mbind(MPOL_MF_MOVE)` (`mm/mempolicy.c`).
 *
 * @category Page migration
 */
export const MR_MEMPOLICY_MBIND = 4;
/**
 * `MR_NUMA_MISPLACED` (`include/linux/migrate_mode.h`): NUMA balancing.
 *
 * @category Page migration
 */
export const MR_NUMA_MISPLACED = 5;
/**
 * `MR_CONTIG_RANGE` (`include/linux/migrate_mode.h`): `alloc_contig_range()`.
 *
 * @category Page migration
 */
export const MR_CONTIG_RANGE = 6;
/**
 * `MR_LONGTERM_PIN` (`include/linux/migrate_mode.h`): moving pages out of `ZONE_MOVABLE` or CMA
 * before a long-term pin (`mm/gup.c`).
 *
 * @category Page migration
 */
export const MR_LONGTERM_PIN = 7;
/**
 * `MR_DEMOTION` (`include/linux/migrate_mode.h`): memory tiering demotion.
 *
 * @category Page migration
 */
export const MR_DEMOTION = 8;
/**
 * `MR_DAMON` (`include/linux/migrate_mode.h`): DAMON-driven migration (`mm/damon/`).
 *
 * @category Page migration
 */
export const MR_DAMON = 9;
/** `MR_TYPES` (`include/linux/migrate_mode.h`): the number of reasons. @category Page migration */
export const MR_TYPES = 10;

/**
 * A migration reason (`enum migrate_reason`, `include/linux/migrate_mode.h`).
 *
 * @category Page migration
 */
export type MigrateReason = number;

/**
 * Each reason's kernel name, indexed by reason (`MIGRATE_REASON`,
 * `include/trace/events/migrate.h`).
 *
 * @category Page migration
 */
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

/**
 * True when `reason` is one of the `MR_*` values of `enum migrate_reason`
 * (`include/linux/migrate_mode.h`); the kernel checks it with `reason < MR_TYPES`.
 *
 * @category Page migration
 */
export const isMigrateReason = (reason: number): reason is MigrateReason =>
  Number.isInteger(reason) && reason >= 0 && reason < MR_TYPES;
