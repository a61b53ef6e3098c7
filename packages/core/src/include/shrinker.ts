/**
 * Shrinkers: caches outside the LRU lists that reclaim asks to give memory back.
 *
 * Models `struct shrinker` and `struct shrink_control` (`include/linux/shrinker.h`) for the
 * callbacks this model has. Reclaim (`shrink_slab()`, `mm/shrinker.ts`) asks each shrinker how
 * many objects it could free on a node (`count_objects`) and tells it to scan some
 * (`scan_objects`).
 *
 * @module
 */
import type { Kernel } from "./kernel";

/**
 * `DEFAULT_SEEKS` (`include/linux/shrinker.h`): 2, what `shrinker_alloc()` gives a shrinker's
 * `seeks`, the cost of recreating one of its objects; reclaim scans `4 / seeks` times the
 * priority's share of a cache.
 */
export const DEFAULT_SEEKS = 2;

/**
 * `SHRINK_STOP` (`include/linux/shrinker.h`): what `scan_objects` returns when it can do no more
 * this round. The kernel's value is `~0UL - 1`; the model's is -1, which no count can be.
 */
export const SHRINK_STOP = -1;

/**
 * One NUMA-aware shrinker (`struct shrinker` with `SHRINKER_NUMA_AWARE`,
 * `include/linux/shrinker.h`): its callbacks take the node the `shrink_control` names.
 */
export interface Shrinker {
  /** The name `shrinker_alloc()` gets (`/sys/kernel/debug/shrinker/<name>-<id>`). */
  readonly name: string;
  /** `seeks`: {@link DEFAULT_SEEKS} unless the shrinker says otherwise. */
  readonly seeks: number;
  /** `batch`: objects per `scan_objects` call; 0 for `SHRINK_BATCH` (128). */
  readonly batch: number;
  /** `count_objects`: the objects it could free on node `nid`. */
  countObjects(k: Kernel, nid: number): number;
  /**
   * `scan_objects`: scans up to `nrToScan` objects of node `nid`; returns the objects freed, or
   * {@link SHRINK_STOP}.
   */
  scanObjects(k: Kernel, nid: number, nrToScan: number): number;
}
