/**
 * Running the shrinkers under memory pressure.
 *
 * Models `shrink_slab()` and `do_shrink_slab()` (`mm/shrinker.c`, Linux 6.16) for the shrinkers
 * the model registers at boot: the deferred split shrinker, `thp-deferred_split`
 * (`thp_shrinker_init()`, `mm/huge_memory.c`). Reclaim calls {@link shrinkSlab} for a node after
 * shrinking its LRU lists (`shrink_node_memcgs()`, `mm/vmscan.c`), at the pass's priority.
 *
 * @module
 */
import type { Kernel } from "../include/kernel";
import { SHRINK_STOP, type Shrinker } from "../include/shrinker";
import { deferredSplitShrinker } from "./huge_memory";

/**
 * `SHRINK_BATCH` (`mm/shrinker.c`): 128, the objects a shrinker without its own `batch` scans per
 * `scan_objects` call.
 */
const SHRINK_BATCH = 128;

/** The registered shrinkers (`shrinker_list`), in registration order. */
const SHRINKERS: readonly Shrinker[] = [deferredSplitShrinker];

/**
 * `shrinker`'s `nr_deferred` on kernel `k`, one count per node ({@link Kernel.shrinkerNrDeferred}),
 * made at zero on the shrinker's first pass.
 */
const deferredOf = (k: Kernel, shrinker: Shrinker): number[] => {
  let nodes = k.shrinkerNrDeferred.get(shrinker);
  if (!nodes) {
    nodes = k.mem.nodes.map(() => 0);
    k.shrinkerNrDeferred.set(shrinker, nodes);
  }
  return nodes;
};

/**
 * `do_shrink_slab()` (`mm/shrinker.c`): asks `shrinker` how many objects node `nid` has
 * (`freeable`) and scans `freeable >> priority` times `4 / seeks` of them plus the deferred work
 * `>> priority`, at most twice `freeable`, in batches while at least a batch, or everything, is
 * left. Work not done is deferred to the next call (at most twice `freeable`). Counts
 * `slabs_scanned`. Returns the objects freed.
 */
export const doShrinkSlab = (
  k: Kernel,
  shrinker: Shrinker,
  nid: number,
  priority: number,
): number => {
  const freeable = shrinker.countObjects(k, nid);
  if (freeable === 0) return 0;
  const deferred = deferredOf(k, shrinker);
  const nr = deferred[nid]!;
  deferred[nid] = 0; // xchg_nr_deferred()
  const delta = shrinker.seeks
    ? Math.floor(((freeable >> priority) * 4) / shrinker.seeks)
    : Math.floor(freeable / 2);
  let totalScan = Math.min((nr >> priority) + delta, 2 * freeable);
  const batchSize = shrinker.batch || SHRINK_BATCH;
  let freed = 0;
  let scanned = 0;
  while (totalScan >= batchSize || totalScan >= freeable) {
    const nrToScan = Math.min(batchSize, totalScan);
    const ret = shrinker.scanObjects(k, nid, nrToScan);
    if (ret === SHRINK_STOP) break;
    freed += ret;
    k.vmstat.count("slabs_scanned", nrToScan);
    totalScan -= nrToScan;
    scanned += nrToScan;
  }
  // add_nr_deferred(): the new work not done, less the old work done, at most 2 * freeable.
  deferred[nid]! += Math.min(Math.max(nr + delta - scanned, 0), 2 * freeable);
  return freed;
};

/**
 * `shrink_slab()` (`mm/shrinker.c`): runs every registered shrinker on node `nid` at `priority`
 * ({@link doShrinkSlab}). Returns the objects freed.
 */
export const shrinkSlab = (k: Kernel, nid: number, priority: number): number => {
  let freed = 0;
  for (const shrinker of SHRINKERS) freed += doShrinkSlab(k, shrinker, nid, priority);
  return freed;
};
