// Compaction deferral: defer_compaction(), compaction_deferred() and compaction_defer_reset()
// (mm/compaction.c, Linux 6.16), as try_to_compact_pages(), __alloc_pages_direct_compact()
// (mm/page_alloc.c) and kcompactd_do_work() use them.
import { Effect } from "effect";
import { TestClock } from "effect/testing";
import { describe, expect, it } from "vitest";
import {
  __GFP_COMP,
  ALLOC_WMARK_MIN,
  allocPagesDirectCompact,
  COMPACT_MAX_DEFER_SHIFT,
  CompactPriority,
  CompactResult,
  GFP_HIGHUSER_MOVABLE,
  type Kernel,
  type TraceEvent,
} from "../../src/index";
import { boot, expectConsistent, run, runP, waitUntil } from "../../src/testing/index";

const GFP = GFP_HIGHUSER_MOVABLE | __GFP_COMP;

/** One direct compaction for `order` on node 1 at `prio`, as the slow path runs it. */
const direct = (k: Kernel, order: number, prio: CompactPriority) =>
  runP(allocPagesDirectCompact(k, GFP, order, 1, [1], prio, null, ALLOC_WMARK_MIN));

const deferEvents = (events: TraceEvent[]) =>
  events.flatMap((e) =>
    e.event === "mm_compaction_defer_compaction" ||
    e.event === "mm_compaction_deferred" ||
    e.event === "mm_compaction_defer_reset"
      ? [[e.event, e.order, e.considered, e.deferShift, e.orderFailed] as const]
      : [],
  );

/**
 * Two 16 MiB nodes with every free block above order 3 of node 1 taken and pinned: compaction
 * for a larger order runs there but cannot help. Records every trace event.
 */
const fragmented = () => {
  // kcompactd starts when the test says (compaction.run()), after its set-up.
  const k = boot({ daemons: "on-demand", nodes: ["16M", "16M"] });
  const frag = run(k.fragment(1, 3));
  const events: TraceEvent[] = [];
  k.trace.subscribe((e) => events.push(e));
  return { k, frag, zone: k.pageAlloc.zones[1]!, events };
};

describe("direct compaction deferral (defer_compaction(), compaction_deferred())", () => {
  // After the n-th sync-light failure compact_defer_shift is min(n, COMPACT_MAX_DEFER_SHIFT) and
  // compaction_deferred() skips until ++compact_considered reaches 1 << shift: 2^n - 1 skipped
  // tries, then one that compacts. Every try, skipped or not, counts compact_stall and
  // compact_fail: __alloc_pages_direct_compact() stops early only for COMPACT_SKIPPED.
  it("skips 1, 3, 7, 15, 31, 63, then 63 again between failed sync-light compactions; each counts compact_stall", async () => {
    const { k, frag, zone } = fragmented();
    const results: CompactResult[] = [];
    let compactions = 0;
    while (compactions < 8) {
      const { page, result } = await direct(k, 9, CompactPriority.SYNC_LIGHT);
      expect(page).toBe(-1);
      results.push(result);
      if (result !== CompactResult.DEFERRED) compactions++;
    }
    const skippedRuns: number[] = [];
    const ran: CompactResult[] = [];
    let skipped = 0;
    for (const r of results) {
      if (r === CompactResult.DEFERRED) skipped++;
      else {
        ran.push(r);
        skippedRuns.push(skipped);
        skipped = 0;
      }
    }
    expect(skippedRuns).toEqual([0, 1, 3, 7, 15, 31, 63, 63]);
    // Every run is COMPACT_PARTIAL_SKIPPED, not COMPACT_COMPLETE: node 1 does not start at PFN 0
    // and its compact_init_migrate_pfn is 0 (a new zone's) until __reset_isolation_suitable()
    // sets it, so cc->whole_zone stays false. The runs after the longest deferral restart
    // (compaction_restarting()): the failed runs' scanners met (compact_blockskip_flush), so the
    // reset walks the zone; its samples find no LRU page to start the migration scanner at (the
    // pinned blocks are not on the LRU), so both scanners start where the walks met, and meet
    // there at once.
    expect(ran).toEqual(Array<CompactResult>(8).fill(CompactResult.PARTIAL_SKIPPED));
    expect(zone.compactDeferShift).toBe(COMPACT_MAX_DEFER_SHIFT);
    expect(zone.compactConsidered).toBe(0);
    // compact_order_failed starts at 0 and defer_compaction() only lowers it.
    expect(zone.compactOrderFailed).toBe(0);
    expect(k.vmstat.get("compact_stall")).toBe(results.length);
    expect(k.vmstat.get("compact_fail")).toBe(results.length);
    expect(k.vmstat.get("compact_success")).toBe(0);
    frag.release();
    expectConsistent(k);
  });

  it("does not defer after asynchronous failures, nor at COMPACT_PRIO_SYNC_FULL", async () => {
    const { k, frag, zone } = fragmented();
    // try_to_compact_pages(): only a compaction above COMPACT_PRIO_ASYNC defers. (Partly
    // skipped: node 1's compact_init_migrate_pfn is still 0, so no run but a whole-zone one is
    // COMPACT_COMPLETE.)
    for (let i = 0; i < 3; i++) {
      expect((await direct(k, 9, CompactPriority.ASYNC)).result).toBe(
        CompactResult.PARTIAL_SKIPPED,
      );
    }
    expect([zone.compactDeferShift, zone.compactConsidered]).toEqual([0, 1]);
    expect((await direct(k, 9, CompactPriority.SYNC_LIGHT)).result).toBe(
      CompactResult.PARTIAL_SKIPPED,
    );
    expect(zone.compactDeferShift).toBe(1);
    // MIN_COMPACT_PRIORITY does not ask compaction_deferred(): it compacts, counts no
    // consideration, and defers further.
    expect((await direct(k, 9, CompactPriority.SYNC_FULL)).result).toBe(CompactResult.COMPLETE);
    expect([zone.compactDeferShift, zone.compactConsidered]).toEqual([2, 0]);
    expect((await direct(k, 9, CompactPriority.ASYNC)).result).toBe(CompactResult.DEFERRED);
    expect(k.vmstat.get("compact_stall")).toBe(6);
    frag.release();
    expectConsistent(k);
  });

  // __alloc_pages_direct_compact(): a page after compaction calls compaction_defer_reset() with
  // alloc_success, which clears considered and shift; try_to_compact_pages() has already raised
  // compact_order_failed to order + 1 on COMPACT_SUCCESS. Orders below it are never deferred.
  it("ends the deferral when a compaction gets its page (compaction_defer_reset()), and the trace shows each step", async () => {
    const { k, frag, zone, events } = fragmented();
    expect((await direct(k, 9, CompactPriority.SYNC_LIGHT)).result).toBe(
      CompactResult.PARTIAL_SKIPPED,
    );
    // compact_order_failed is 0: order 4 is deferred too.
    expect((await direct(k, 4, CompactPriority.SYNC_LIGHT)).result).toBe(CompactResult.DEFERRED);
    frag.release();
    // The memory is whole again, and the next try compacts: the order is free already.
    const got = await direct(k, 9, CompactPriority.SYNC_LIGHT);
    expect(got.result).toBe(CompactResult.SUCCESS);
    expect(got.page).toBeGreaterThanOrEqual(0);
    expect([zone.compactConsidered, zone.compactDeferShift, zone.compactOrderFailed]).toEqual([
      0, 0, 10,
    ]);
    expect(deferEvents(events)).toEqual([
      ["mm_compaction_defer_compaction", 9, 0, 1, 0],
      ["mm_compaction_deferred", 4, 1, 1, 0],
      // try_to_compact_pages(): COMPACT_SUCCESS, allocation not yet made.
      ["mm_compaction_defer_reset", 9, 2, 1, 10],
      // __alloc_pages_direct_compact(): the page was had.
      ["mm_compaction_defer_reset", 9, 0, 0, 10],
    ]);
    expect([k.vmstat.get("compact_stall"), k.vmstat.get("compact_fail")]).toEqual([3, 2]);
    expect(k.vmstat.get("compact_success")).toBe(1);
    k.folioPut(k.folio(got.page));
    expectConsistent(k);
  });
});

describe("kcompactd deferral (kcompactd_do_work())", () => {
  it("defers after a run that cannot help, and skips the next wake-up for that order", async () => {
    const { k, frag, zone, events } = fragmented();
    await Effect.runPromise(
      Effect.gen(function* () {
        run(k.fs.write("/proc/sys/vm/compaction_proactiveness", "0"));
        yield* k.compaction.run();
        k.compaction.wakeup(1, 9);
        yield* waitUntil(() => zone.compactDeferShift === 1);
        k.compaction.wakeup(1, 9);
        yield* waitUntil(() => k.vmstat.get("compact_daemon_wake") === 2);
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expect(deferEvents(events)).toEqual([
      ["mm_compaction_defer_compaction", 9, 0, 1, 0],
      ["mm_compaction_deferred", 9, 1, 1, 0],
    ]);
    expect(events.filter((e) => e.event === "mm_compaction_end")).toHaveLength(1);
    frag.release();
    await runP(k.shutdown());
  });
});
