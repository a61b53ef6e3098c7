// The retry decisions of __alloc_pages_slowpath() (mm/page_alloc.c, Linux 6.16):
// should_compact_retry() with MAX_COMPACT_RETRIES (16, a quarter for a costly order) and its
// priority escalation down to MIN_COMPACT_COSTLY_PRIORITY / MIN_COMPACT_PRIORITY, and
// should_reclaim_retry() with MAX_RECLAIM_RETRIES (16) and its reclaimable-plus-free watermark check.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  __GFP_THISNODE,
  CompactPriority,
  CompactResult,
  GFP_HIGHUSER_MOVABLE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAX_COMPACT_RETRIES,
  MPOL_BIND,
  shouldCompactRetry,
  shouldReclaimRetry,
  type TraceEvent,
  tryToCompactPages,
  WMARK_MIN,
} from "../../src/index";
import { boot, bootNoProactive, runP } from "../../src/testing/index";
import { fragmentNode } from "../../src/testing/workloads";

const GFP = GFP_HIGHUSER_MOVABLE | __GFP_THISNODE;

describe("should_compact_retry()", () => {
  const k = boot({ nodes: ["16M"] });
  /** How many times in a row the slow path may retry when every compaction ends in `result`. */
  const retries = (order: number, result: CompactResult, priority: CompactPriority) => {
    const state = { priority, retries: 0 };
    let n = 0;
    while (shouldCompactRetry(k, GFP, order, 0, null, result, state)) n++;
    return { n, state };
  };

  it("never retries order 0", () => {
    expect(retries(0, CompactResult.SUCCESS, CompactPriority.ASYNC).n).toBe(0);
  });

  it("a costly order whose compaction succeeded retries MAX_COMPACT_RETRIES / 4 = 4 times at DEF_COMPACT_PRIORITY, which is its floor (MIN_COMPACT_COSTLY_PRIORITY)", () => {
    expect(MAX_COMPACT_RETRIES).toBe(16);
    const { n, state } = retries(9, CompactResult.SUCCESS, CompactPriority.SYNC_LIGHT);
    expect(n).toBe(4);
    expect(state.priority).toBe(CompactPriority.SYNC_LIGHT);
  });

  it("a costly order whose compaction failed retries only to raise the priority to sync-light", () => {
    expect(retries(9, CompactResult.COMPLETE, CompactPriority.SYNC_LIGHT).n).toBe(0);
    const { n, state } = retries(9, CompactResult.COMPLETE, CompactPriority.ASYNC);
    expect(n).toBe(1);
    expect(state.priority).toBe(CompactPriority.SYNC_LIGHT);
  });

  it("a non-costly order retries 16 successes per priority, then goes down to COMPACT_PRIO_SYNC_FULL (MIN_COMPACT_PRIORITY)", () => {
    // 16 at sync-light, one step down (retries reset), 16 at sync-full: 33.
    const { n, state } = retries(3, CompactResult.SUCCESS, CompactPriority.SYNC_LIGHT);
    expect(n).toBe(33);
    expect(state.priority).toBe(CompactPriority.SYNC_FULL);
    expect(retries(1, CompactResult.PARTIAL_SKIPPED, CompactPriority.ASYNC).n).toBe(2);
  });

  it("a skipped compaction retries while compaction_zonelist_suitable() holds, leaving the priority and count alone", async () => {
    const state = { priority: CompactPriority.SYNC_LIGHT as CompactPriority, retries: 3 };
    // A node with most of its memory free: min watermark plus compact_gap(9) is there.
    expect(shouldCompactRetry(k, GFP, 9, 0, null, CompactResult.SKIPPED, state)).toBe(true);
    expect(state).toEqual({ priority: CompactPriority.SYNC_LIGHT, retries: 3 });
    // Anonymous memory with no demotion target is not reclaimable: with the node filled to 100
    // pages over its min watermark, under min + compact_gap(9), there is nothing to hope for.
    const full = boot({ nodes: ["16M", "16M"] });
    const zone = full.pageAlloc.zones[1]!;
    const p = await runP(full.createProcess({ node: 1 }));
    await runP(p.setMempolicy(MPOL_BIND, [1]));
    const n = zone.freePages - zone.watermark[WMARK_MIN]! - 100;
    const addr = await runP(p.mmap(n * 4096, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    await runP(p.write(addr, new Uint8Array(n * 4096).fill(1)));
    expect(zone.freePages).toBe(zone.watermark[WMARK_MIN]! + 100);
    expect(shouldCompactRetry(full, GFP, 9, 1, null, CompactResult.SKIPPED, state)).toBe(false);
  });

  it("ends for any order and any run of results that are not skips, never going under its floor", () => {
    const results = fc.constantFrom(
      CompactResult.DEFERRED,
      CompactResult.COMPLETE,
      CompactResult.PARTIAL_SKIPPED,
      CompactResult.CONTENDED,
      CompactResult.SUCCESS,
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.constantFrom(CompactPriority.ASYNC, CompactPriority.SYNC_LIGHT),
        fc.infiniteStream(results),
        (order, priority, stream) => {
          const floor = order > 3 ? CompactPriority.SYNC_LIGHT : CompactPriority.SYNC_FULL;
          const state = { priority: priority as CompactPriority, retries: 0 };
          let n = 0;
          for (const result of stream) {
            if (!shouldCompactRetry(k, GFP, order, 0, null, result, state)) break;
            expect(state.priority).toBeGreaterThanOrEqual(floor);
            n++;
            // Each priority allows at most MAX_COMPACT_RETRIES successes and one step down.
            expect(n).toBeLessThanOrEqual(3 * (MAX_COMPACT_RETRIES + 1));
          }
        },
      ),
    );
  });
});

// should_compact_retry() looks for a fatal signal before anything else, and try_to_compact_pages()
// stops at the zone whose run one stopped (mm/page_alloc.c, mm/compaction.c, Linux 6.16): an OOM
// victim still inside its own call, SIGKILL pending, compacts no further.
describe("fatal_signal_pending() in the slow path's compaction (Linux 6.16)", () => {
  /** The allocating task as the allocator sees it, with or without SIGKILL pending. */
  const task = (nid: number, sigkillPending: boolean) => ({ flags: 0, nid, sigkillPending });

  it("should_compact_retry() never retries for a task with SIGKILL pending, whatever the result, leaving the priority and count alone", () => {
    const k = boot({ nodes: ["16M"] });
    for (const result of [
      CompactResult.SKIPPED,
      CompactResult.DEFERRED,
      CompactResult.COMPLETE,
      CompactResult.PARTIAL_SKIPPED,
      CompactResult.CONTENDED,
      CompactResult.SUCCESS,
    ]) {
      const state = { priority: CompactPriority.ASYNC as CompactPriority, retries: 0 };
      expect(shouldCompactRetry(k, GFP, 3, 0, null, result, state, task(0, true))).toBe(false);
      expect(state).toEqual({ priority: CompactPriority.ASYNC, retries: 0 });
      // The same task without the signal goes round again (a mostly free node: a skip is
      // compaction_zonelist_suitable(); the others step the priority down or count a success).
      expect(shouldCompactRetry(k, GFP, 3, 0, null, result, state, task(0, false))).toBe(true);
    }
  });

  it("try_to_compact_pages() for a task with SIGKILL pending: the run ends COMPACT_CONTENDED before it scans, and no further zone is tried", async () => {
    // No kcompactd: a daemon's run on the live clock would scan node 1 beside the call.
    const k = boot({ nodes: ["16M", "16M"], daemons: "on-demand" });
    await runP(fragmentNode(k, { nid: 1 }));
    const events: TraceEvent[] = [];
    k.trace.subscribe((e) => events.push(e));
    const gfp = GFP_HIGHUSER_MOVABLE;
    // Node 1 first: __compact_finished() sees the signal at once. Node 0, which has a free
    // order-9 block (COMPACT_SUCCESS, the larger result), is never looked at.
    const killed = await runP(
      tryToCompactPages(k, gfp, 9, 1, null, CompactPriority.SYNC_LIGHT, task(1, true)),
    );
    expect(killed).toEqual({ result: CompactResult.CONTENDED, page: -1 });
    expect(events.filter((e) => e.event === "mm_compaction_begin")).toHaveLength(1);
    expect(events.some((e) => e.event === "mm_compaction_isolate_migratepages")).toBe(false);
    expect(k.vmstat.get("compact_migrate_scanned")).toBe(0);
    // Without the signal node 1's run scans, and node 0's free block makes it COMPACT_SUCCESS.
    const alive = await runP(
      tryToCompactPages(k, gfp, 9, 1, null, CompactPriority.SYNC_LIGHT, task(1, false)),
    );
    expect(alive.result).toBe(CompactResult.SUCCESS);
    expect(k.vmstat.get("compact_migrate_scanned")).toBeGreaterThan(0);
  });
});

describe("should_reclaim_retry()", () => {
  it("counts every round of a costly order, progress or not, and stops after MAX_RECLAIM_RETRIES (16)", () => {
    const k = boot({ nodes: ["16M"] });
    const loops = { noProgressLoops: 0 };
    let n = 0;
    while (shouldReclaimRetry(k, GFP, 9, 0, null, true, loops)) n++;
    expect(n).toBe(16);
    expect(loops.noProgressLoops).toBe(17);
  });

  it("resets the count of a non-costly order when reclaim made progress", () => {
    const k = boot({ nodes: ["16M"] });
    const loops = { noProgressLoops: 10 };
    expect(shouldReclaimRetry(k, GFP, 3, 0, null, true, loops)).toBe(true);
    expect(loops.noProgressLoops).toBe(0);
    loops.noProgressLoops = 16;
    expect(shouldReclaimRetry(k, GFP, 3, 0, null, false, loops)).toBe(false);
  });

  it("says no when no node could pass the min watermark for the order with its reclaimable pages free", async () => {
    const k = bootNoProactive({ nodes: ["16M", "16M"] });
    // Node 1 fragmented by anonymous memory it cannot reclaim: no free order-9 block to hope for.
    await runP(fragmentNode(k, { nid: 1 }));
    expect(shouldReclaimRetry(k, GFP, 9, 1, null, true, { noProgressLoops: 0 })).toBe(false);
    // Order 0 passes there: enough is free above the min watermark.
    expect(shouldReclaimRetry(k, GFP, 0, 1, null, true, { noProgressLoops: 0 })).toBe(true);
  });
});
