/**
 * Automatic NUMA balancing: its modes, tunables and the calls the fault path makes on it.
 *
 * Models `include/linux/sched/sysctl.h` (`NUMA_BALANCING_*`), `include/linux/sched/numa_balancing.h`
 * and the tunables of `kernel/sched/fair.c` (`sysctl_numa_balancing_*`). The scanner and the
 * migrate decision are `kernel/sched/fair.ts`.
 *
 * @module
 */
import type { Effect } from "effect";
import type { ErrnoError } from "../errno";
import type { Vma } from "./mm_types";
import type { TaskStruct } from "./sched";

/**
 * `NUMA_BALANCING_DISABLED` (`include/linux/sched/sysctl.h`): 0, no NUMA hinting faults.
 *
 * @category NUMA balancing
 */
export const NUMA_BALANCING_DISABLED = 0;
/**
 * `NUMA_BALANCING_NORMAL` (`include/linux/sched/sysctl.h`): bit 0, move pages to the node of the
 * task that uses them.
 *
 * @category NUMA balancing
 */
export const NUMA_BALANCING_NORMAL = 0x1;
/**
 * `NUMA_BALANCING_MEMORY_TIERING` (`include/linux/sched/sysctl.h`): bit 1, promote hot pages of
 * slow-tier nodes to the top tier, within a rate limit.
 *
 * @category NUMA balancing
 */
export const NUMA_BALANCING_MEMORY_TIERING = 0x2;

/**
 * A kernel's NUMA balancing (`sysctl_numa_balancing_mode` and the tunables of
 * `kernel/sched/fair.c`, the per-node promotion state of `pg_data_t`: `nbp_rl_*`, `nbp_th_*`,
 * `nbp_threshold`). `kernel/sched/fair.ts` implements it.
 *
 * @category NUMA balancing
 */
export interface NumaBalancing {
  /** `/proc/sys/kernel/numa_balancing` (`sysctl_numa_balancing_mode`): 0..4, 0 at boot. */
  mode: number;
  /** `scan_delay_ms` (`sysctl_numa_balancing_scan_delay`): 1000, before a task's first scan. */
  scanDelayMs: number;
  /** `scan_period_min_ms` (`sysctl_numa_balancing_scan_period_min`): 1000, between scans. */
  scanPeriodMinMs: number;
  /** `scan_period_max_ms` (`sysctl_numa_balancing_scan_period_max`): 60000. */
  scanPeriodMaxMs: number;
  /** `scan_size_mb` (`sysctl_numa_balancing_scan_size`): 256, the memory one scan marks. */
  scanSizeMb: number;
  /**
   * `hot_threshold_ms` (`sysctl_numa_balancing_hot_threshold`): 1000; a slow-tier page faulting
   * sooner than this after its scan is hot.
   */
  hotThresholdMs: number;
  /**
   * `/proc/sys/kernel/numa_balancing_promote_rate_limit_MBps`
   * (`sysctl_numa_balancing_promote_rate_limit`): 65536, the promotion candidates allowed per
   * second and target node, in MB.
   */
  promoteRateLimitMBps: number;
  /** Whether the scanner runs (between {@link run} and kernel shutdown). */
  readonly running: boolean;
  /**
   * Starts the scanner: every `scan_period_min_ms` on the `Clock` of the calling fiber, each
   * process's `task_numa_work()` marks its next `scan_size_mb` of memory for NUMA hinting faults.
   * Kernel shutdown stops it. `EBUSY` when it runs already.
   */
  run(): Effect.Effect<void, ErrnoError>;
  /**
   * `task_numa_work()` (`kernel/sched/fair.c`) for one process, now: marks its next
   * `scan_size_mb` of mapped memory `PROT_NONE` (`change_prot_numa()`), from where its last scan
   * stopped. Returns the PTEs updated. Nothing while {@link mode} is 0, nor when the address
   * space's `mmap_lock` cannot be taken for reading (`mmap_read_trylock()`, Linux 6.16).
   */
  taskNumaWork(task: TaskStruct): number;
  /**
   * `numa_migrate_check()` (`mm/memory.c`) → `mpol_misplaced()` → `should_numa_migrate_memory()`
   * (`kernel/sched/fair.c`): where a NUMA hinting fault by `task` on the folio `head` in `vma`
   * should move it, or `NUMA_NO_NODE`. Counts `pgpromote_candidate` for a hot slow-tier page.
   */
  migrateCheck(task: TaskStruct, vma: Vma, head: number): number;
}
