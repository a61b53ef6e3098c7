// Compaction's pageblock skip hints and cached scanner positions (mm/compaction.c, Linux 6.16):
// isolation_suitable(), test_and_set_skip(), update_pageblock_skip(), update_cached_migrate(),
// reset_cached_positions(), __reset_isolation_suitable() and compaction_restarting(), with the
// PB_migrate_skip bit of include/linux/pageblock-flags.h and the zone's
// compact_cached_migrate_pfn[] / compact_cached_free_pfn (include/linux/mmzone.h).
import { Effect } from "effect";
import { TestClock } from "effect/testing";
import { describe, expect, it } from "vitest";
import {
  __GFP_COMP,
  __GFP_THISNODE,
  ALLOC_WMARK_MIN,
  allocPagesDirectCompact,
  CompactPriority,
  CompactResult,
  compactNode,
  compactZone,
  folioGet,
  folioPut,
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
  type Kernel,
  MIGRATE_ASYNC,
  MIGRATE_SYNC_LIGHT,
  PG_lru,
  resetIsolationSuitable,
  type TraceEvent,
} from "../../src/index";
import {
  boot,
  expectConsistent,
  fragmentNode,
  run,
  runP,
  waitUntil,
} from "../../src/testing/index";

/** Every event of the run. */
const record = (k: Kernel): TraceEvent[] => {
  const events: TraceEvent[] = [];
  k.trace.subscribe((e) => events.push(e));
  return events;
};

/** The pageblocks (first PFNs) one scanner's isolation events went through, in order. */
const blocks = (
  events: TraceEvent[],
  event: "mm_compaction_isolate_migratepages" | "mm_compaction_isolate_freepages",
): number[] => [
  ...new Set(events.flatMap((e) => (e.event === event ? [e.startPfn - (e.startPfn % 512)] : []))),
];

const begin = (events: TraceEvent[]) => {
  const e = events.find((e) => e.event === "mm_compaction_begin");
  return e && e.event === "mm_compaction_begin" ? [e.migratePfn, e.freePfn] : null;
};

/** A run's result when nothing could move: only the migration scanner looked. */
const movedNothing = (result: CompactResult, migrateScanned: number) => ({
  result,
  migrateScanned,
  freeScanned: 0,
  migrated: 0,
});

/** The skip hints of node `nid`'s pageblocks as a string of 0s and 1s, lowest block first. */
const hints = (k: Kernel, nid: number) =>
  Array.from(k.pageAlloc.zones[nid]!.pageblockSkip).join("");

/** kcompactd's run for order 9 (kcompactd_do_work()): sync-light, hints on, cached positions. */
const kcompactdRun = (k: Kernel, nid: number) =>
  runP(compactZone(k, nid, { order: 9, mode: MIGRATE_SYNC_LIGHT }));

/** A direct compaction's run at COMPACT_PRIO_SYNC_LIGHT (compact_zone_order()). */
const directRun = (k: Kernel, nid: number) =>
  runP(compactZone(k, nid, { order: 9, mode: MIGRATE_SYNC_LIGHT, directCompaction: true }));

/**
 * A 16 MiB node 1 (8 pageblocks of 512 pages) fragmented by {@link fragmentNode}: every other
 * page in use (the even PFNs, LRU pages), the odd ones free; then every LRU folio gets an extra
 * reference, as a pin would hold, so compaction can move nothing.
 */
const pinnedNode = async () => {
  const k = boot({ nodes: ["16M", "16M"] });
  const frag = await runP(fragmentNode(k, { nid: 1 }));
  const zone = k.pageAlloc.zones[1]!;
  const pinned: number[] = [];
  for (let pfn = zone.startPfn; pfn < zone.endPfn; pfn++) {
    if (k.memmap.test(pfn, PG_lru)) {
      folioGet(k, pfn);
      pinned.push(pfn);
    }
  }
  const release = async () => {
    for (const pfn of pinned) folioPut(k, pfn);
    await runP(frag.release());
    expectConsistent(k);
  };
  return { k, zone, release };
};

describe("cached scanner positions (compact_cached_migrate_pfn[], compact_cached_free_pfn)", () => {
  it("a second run starts where the first stopped: the migration scanner past the block it finished, the free scanner below the block it went through", async () => {
    const k = boot();
    const frag = await runP(fragmentNode(k, { nid: 1 }));
    const zone = k.pageAlloc.zones[1]!;
    // Node 1: PFNs 262144..278528, 32 pageblocks; the scanners start at the zone's ends.
    expect([zone.startPfn, zone.endPfn]).toEqual([262144, 278528]);
    expect(zone.compactCachedMigratePfn).toEqual([262144, 262144]);
    expect(zone.compactCachedFreePfn).toBe(278016);
    const events = record(k);
    const first = await kcompactdRun(k, 1);
    // Block 0's 256 pages went to the last block, which freed block 0: COMPACT_SUCCESS.
    expect(first).toEqual({
      result: CompactResult.SUCCESS,
      migrateScanned: 512,
      freeScanned: 512,
      migrated: 256,
    });
    expect(begin(events)).toEqual([262144, 278016]);
    expect(blocks(events, "mm_compaction_isolate_migratepages")).toEqual([262144]);
    expect(blocks(events, "mm_compaction_isolate_freepages")).toEqual([278016]);
    // The last call into block 0 isolated nothing and reached its end (262656):
    // update_cached_migrate() stores pageblock_end_pfn(262656), which for an aligned PFN is the
    // end of the next block, 263168. The free scanner went through its block to the end:
    // update_pageblock_skip() lowers the cached free PFN to the block below, 277504.
    expect(zone.compactCachedMigratePfn).toEqual([263168, 263168]);
    expect(zone.compactCachedFreePfn).toBe(277504);
    // Block 0 was marked when its first LRU folio was isolated (test_and_set_skip()), the last
    // block when the free scanner finished it.
    expect(hints(k, 1)).toBe(`1${"0".repeat(30)}1`);
    // Take the free block so that compaction has work again: a kernel folio of pageblock order.
    const taken = run(k.allocFolio(1, 9, GFP_KERNEL | __GFP_THISNODE));
    expect(taken.pfn).toBe(262144);
    events.length = 0;
    const second = await kcompactdRun(k, 1);
    expect(second.result).toBe(CompactResult.SUCCESS);
    expect(begin(events)).toEqual([263168, 277504]);
    expect(blocks(events, "mm_compaction_isolate_migratepages")).toEqual([263168]);
    expect(blocks(events, "mm_compaction_isolate_freepages")).toEqual([277504]);
    expect(zone.compactCachedMigratePfn).toEqual([264192, 264192]);
    expect(zone.compactCachedFreePfn).toBe(276992);
    // A full compaction (compact_node()) ignores the hints and the cached positions: it starts
    // at the zone's ends. The folio of pageblock order in block 0 is passed over without a look
    // (pageblock_skip_persistent(): suitable_migration_source() says no), so the first block
    // scanned is block 1, which no run had scanned yet.
    events.length = 0;
    await runP(compactNode(k, 1));
    expect(begin(events)).toEqual([262144, 278016]);
    expect(blocks(events, "mm_compaction_isolate_migratepages")[0]).toBe(262656);
    k.folioPut(taken);
    expect(await runP(frag.intact())).toBe(true);
    await runP(frag.release());
    expectConsistent(k);
  });
});

describe("the asynchronous and synchronous cached migration PFNs", () => {
  it("an async run moves compact_cached_migrate_pfn[0] only; the sync-light run after it starts at [1] and passes the block the async run marked", async () => {
    const k = boot();
    const frag = await runP(fragmentNode(k, { nid: 1 }));
    const zone = k.pageAlloc.zones[1]!;
    const events = record(k);
    const direct = (mode: typeof MIGRATE_ASYNC | typeof MIGRATE_SYNC_LIGHT) =>
      runP(
        compactZone(k, 1, { order: 9, mode, gfp: GFP_HIGHUSER_MOVABLE, directCompaction: true }),
      );
    const asyncRun = await direct(MIGRATE_ASYNC);
    expect(asyncRun).toEqual({
      result: CompactResult.SUCCESS,
      migrateScanned: 512,
      freeScanned: 512,
      migrated: 256,
    });
    // update_cached_migrate() raises [1] only for a run that is not MIGRATE_ASYNC.
    expect(zone.compactCachedMigratePfn).toEqual([263168, 262144]);
    const taken = run(k.allocFolio(1, 9, GFP_KERNEL | __GFP_THISNODE));
    expect(taken.pfn).toBe(262144);
    events.length = 0;
    const sync = await direct(MIGRATE_SYNC_LIGHT);
    expect(sync.result).toBe(CompactResult.SUCCESS);
    // It starts at [1], the zone's start, and passes block 0 (allocated now, its hint set when
    // the async run isolated its first LRU folio) for block 1.
    expect(begin(events)).toEqual([262144, 277504]);
    expect(blocks(events, "mm_compaction_isolate_migratepages")).toEqual([262656]);
    expect(hints(k, 1)).toBe(`11${"0".repeat(29)}1`);
    k.folioPut(taken);
    expect(await runP(frag.intact())).toBe(true);
    await runP(frag.release());
    expectConsistent(k);
  });
});

describe("pageblock skip hints (PB_migrate_skip)", () => {
  it("alloc_contig_range() neither heeds nor sets them, and leaves the cached positions (ignore_skip_hint, no_set_skip_hint)", async () => {
    const k = boot({ nodes: ["16M", "16M"] });
    const frag = await runP(fragmentNode(k, { nid: 1 }));
    const zone = k.pageAlloc.zones[1]!;
    // Every block marked, as runs that found nothing would leave them.
    for (let pfn = zone.startPfn; pfn < zone.endPfn; pfn += 512) zone.setPageblockSkip(pfn);
    const events = record(k);
    // Order 11 (8 MiB) is above MAX_PAGE_ORDER: alloc_contig_pages() clears a range by
    // isolate_migratepages_range() and migrate_pages(MR_CONTIG_RANGE).
    const folio = await runP(k.allocFolio(1, 11, __GFP_THISNODE));
    expect(folio.order).toBe(11);
    expect(blocks(events, "mm_compaction_isolate_migratepages").length).toBeGreaterThan(0);
    expect(k.vmstat.get("pgmigrate_success")).toBeGreaterThan(0);
    expect(hints(k, 1)).toBe("11111111");
    expect(zone.compactCachedMigratePfn).toEqual([262144, 262144]);
    expect(zone.compactCachedFreePfn).toBe(265728);
    k.folioPut(folio);
    expect(await runP(frag.intact())).toBe(true);
    await runP(frag.release());
    expectConsistent(k);
  });

  it("a block marked skip is not scanned again until reset_isolation_suitable() clears its hint", async () => {
    const { k, zone, release } = await pinnedNode();
    const first = await directRun(k, 1);
    // Nothing can move: the migration scanner goes through blocks 0..6 (7 × 512 pages) without
    // isolating, marking each at its end; block 7 is the free scanner's. The scanners meet:
    // COMPACT_COMPLETE (the run started at the zone's start, cc->whole_zone), the cached positions
    // back at the zone's ends, and compact_blockskip_flush set for a direct compaction.
    expect(first).toEqual(movedNothing(CompactResult.COMPLETE, 3584));
    expect(hints(k, 1)).toBe("11111110");
    expect(zone.compactBlockskipFlush).toBe(true);
    expect(zone.compactCachedMigratePfn).toEqual([262144, 262144]);
    // Again: every block is marked, nothing is scanned.
    const second = await directRun(k, 1);
    expect(second).toEqual(movedNothing(CompactResult.COMPLETE, 0));
    // kswapd's reset before it sleeps (kswapd_try_to_sleep()). The walk goes from both ends at
    // once and meets in the middle: from the start it samples every 8th page of blocks 0..3,
    // finds the pinned LRU pages (the even PFNs) and clears their hints; from the end it looks at
    // blocks 7..4 for free pages only, and its samples (PFNs zone_end - 1 - k × 512, then every
    // 8th page from the block's start: all even) miss the free pages, which are the odd PFNs.
    // With a source but no target, both scanners start where the walks met (the "no distance"
    // case): 264192 and 264191.
    resetIsolationSuitable(k, 1);
    expect(zone.compactBlockskipFlush).toBe(false);
    expect(hints(k, 1)).toBe("00001110");
    expect(zone.compactCachedMigratePfn).toEqual([264192, 264192]);
    expect(zone.compactCachedFreePfn).toBe(264191);
    expect(zone.compactInitMigratePfn).toBe(262144);
    // A second reset without a direct compaction's scanners meeting in between does nothing.
    zone.compactCachedFreePfn = 265728;
    resetIsolationSuitable(k, 1);
    expect(zone.compactCachedFreePfn).toBe(265728);
    zone.compactCachedFreePfn = 264191;
    // kcompactd starts there, and the scanners have met at once: partly skipped.
    const third = await kcompactdRun(k, 1);
    expect(third).toEqual(movedNothing(CompactResult.PARTIAL_SKIPPED, 0));
    expect(zone.compactBlockskipFlush).toBe(false);
    // The meeting reset the cached positions: the next run scans the four cleared blocks and
    // passes over the three still marked.
    const events = record(k);
    const fourth = await kcompactdRun(k, 1);
    expect(fourth).toEqual(movedNothing(CompactResult.COMPLETE, 2048));
    expect(blocks(events, "mm_compaction_isolate_migratepages")).toEqual([
      262144, 262656, 263168, 263680,
    ]);
    expect(hints(k, 1)).toBe("11111110");
    await release();
  });

  it("kswapd clears them when it goes to sleep on a balanced node (kswapd_try_to_sleep() → reset_isolation_suitable())", async () => {
    const { k, zone, release } = await pinnedNode();
    await directRun(k, 1);
    expect(hints(k, 1)).toBe("11111110");
    expect(zone.compactBlockskipFlush).toBe(true);
    await Effect.runPromise(
      Effect.gen(function* () {
        // kswapd() starts by trying to sleep: node 1 is balanced, so it resets first.
        yield* k.kswapd.run();
        yield* waitUntil(() => !zone.compactBlockskipFlush);
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expect(hints(k, 1)).toBe("00001110");
    expect(k.vmstat.get("pageoutrun")).toBe(0);
    await release();
    await runP(k.shutdown());
  });

  it("compaction_restarting(): after COMPACT_MAX_DEFER_SHIFT failures the deferred compaction clears the hints first", async () => {
    const { k, zone, release } = await pinnedNode();
    const gfp = GFP_HIGHUSER_MOVABLE | __GFP_COMP;
    const scanned: number[] = [];
    const results: CompactResult[] = [];
    const hintsBefore: string[] = [];
    while (results.length < 7) {
      const before = k.vmstat.get("compact_migrate_scanned");
      const marks = hints(k, 1);
      const { result } = await runP(
        allocPagesDirectCompact(
          k,
          gfp,
          9,
          1,
          [1],
          CompactPriority.SYNC_LIGHT,
          null,
          ALLOC_WMARK_MIN,
        ),
      );
      if (result === CompactResult.DEFERRED) continue;
      results.push(result);
      scanned.push(k.vmstat.get("compact_migrate_scanned") - before);
      hintsBefore.push(marks);
    }
    // The first failure marks blocks 0..6; the next five compactions (after 1, 3, 7, 15 and 31
    // deferred tries) find every block marked and scan nothing.
    expect(scanned.slice(0, 6)).toEqual([3584, 0, 0, 0, 0, 0]);
    expect(hintsBefore).toEqual(["00000000", ...Array<string>(6).fill("11111110")]);
    expect(results.slice(0, 6)).toEqual(Array<CompactResult>(6).fill(CompactResult.COMPLETE));
    // The seventh, after 63 deferred tries at compact_defer_shift 6, restarts: the reset clears
    // the hints its samples justify (blocks 0..3, as above), finds no target, and starts both
    // scanners where its walks met, so they meet at once: COMPACT_PARTIAL_SKIPPED.
    expect(zone.compactDeferShift).toBe(6);
    expect(results[6]).toBe(CompactResult.PARTIAL_SKIPPED);
    expect(scanned[6]).toBe(0);
    expect(hints(k, 1)).toBe("00001110");
    await release();
  });
});
