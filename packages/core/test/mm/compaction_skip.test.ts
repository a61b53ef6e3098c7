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
  type Folio,
  folioGet,
  folioPut,
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
  type Kernel,
  MIGRATE_ASYNC,
  MIGRATE_MOVABLE,
  MIGRATE_SYNC_LIGHT,
  PG_lru,
  resetIsolationSuitable,
  type TraceEvent,
} from "../../src/index";
import {
  boot,
  bootNoProactive,
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

/** The pages one kind of isolation event says were scanned. */
const sum = (events: TraceEvent[], event: string): number =>
  events.reduce((s, e) => (e.event === event && "nrScanned" in e ? s + e.nrScanned : s), 0);

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
 * Takes node `nid`'s free blocks above order 0 as kernel memory (what {@link fragmentNode} leaves
 * at the end of its churn), so that `fast_find_migrateblock()` finds no partly free pageblock and
 * the migration scanner goes linearly. Returns the blocks taken, to free.
 */
const takeFreeBlocks = (k: Kernel, nid: number): Folio[] => {
  const zone = k.pageAlloc.zones[nid]!;
  const taken: Folio[] = [];
  for (let order = zone.nrFree.length - 1; order > 0; order--) {
    while (zone.nrFree[order]! > 0)
      taken.push(run(k.allocFolio(nid, order, GFP_KERNEL | __GFP_THISNODE)));
  }
  return taken;
};

/**
 * A 16 MiB node 1 (8 pageblocks of 512 pages) fragmented by {@link fragmentNode}: every other
 * page in use (the even PFNs, LRU pages), the odd ones free; then every LRU folio gets an extra
 * reference, as a pin would hold, so compaction can move nothing. No daemon runs until a test
 * starts one (`kswapd.run()`): the hints stay as the test's own runs leave them.
 */
const pinnedNode = async () => {
  const k = boot({ nodes: ["16M", "16M"], daemons: "on-demand" });
  const frag = await runP(fragmentNode(k, { nid: 1 }));
  const zone = k.pageAlloc.zones[1]!;
  const taken = takeFreeBlocks(k, 1);
  const pinned: number[] = [];
  for (let pfn = zone.startPfn; pfn < zone.endPfn; pfn++) {
    if (k.memmap.test(pfn, PG_lru)) {
      folioGet(k, pfn);
      pinned.push(pfn);
    }
  }
  const release = async () => {
    for (const pfn of pinned) folioPut(k, pfn);
    for (const folio of taken) k.folioPut(folio);
    await runP(frag.release());
    expectConsistent(k);
  };
  return { k, zone, release };
};

describe("cached scanner positions (compact_cached_migrate_pfn[], compact_cached_free_pfn)", () => {
  it("a second run starts where the first stopped: the migration scanner past the block it finished; the fast free search moves the free scanner's", async () => {
    const k = bootNoProactive();
    const frag = await runP(fragmentNode(k, { nid: 1 }));
    const zone = k.pageAlloc.zones[1]!;
    const leftovers = takeFreeBlocks(k, 1);
    // Node 1: PFNs 262144..278528, 32 pageblocks. A new zone's cached positions are 0 (a zeroed
    // struct zone; Documentation/mm/physical_memory.rst: compact_init_migrate_pfn "initialized to
    // 0 at boot time"); outside the zone, compact_zone() puts the scanners at its ends and stores
    // those.
    expect([zone.startPfn, zone.endPfn]).toEqual([262144, 278528]);
    expect(zone.compactCachedMigratePfn).toEqual([0, 0]);
    expect(zone.compactCachedFreePfn).toBe(0);
    expect([zone.compactInitMigratePfn, zone.compactInitFreePfn]).toEqual([0, 0]);
    const events = record(k);
    const first = await kcompactdRun(k, 1);
    // Block 0's 256 pages moved, which freed block 0: COMPACT_SUCCESS. The first call isolated
    // COMPACT_CLUSTER_MAX (32) folios; the next iteration starts in the block it migrated from
    // (pageblock_start_pfn(last_migrated_pfn) == pageblock_start_pfn(iteration_start_pfn),
    // compact_zone(), Linux 6.16), so cc->finish_pageblock takes the other 224 in one call. Each
    // batch found its targets by fast_isolate_freepages(): the tail of the order-0 free list,
    // 277505, is in the top quarter; fast_isolate_around() then scans block 30 from its start
    // for the rest: 64 pages for 32 free ones, then the whole block for the other 224, plus the
    // one list entry each search looked at.
    expect(first).toEqual({
      result: CompactResult.SUCCESS,
      migrateScanned: 512,
      freeScanned: 2 + 64 + 512,
      migrated: 256,
    });
    const taken0 = events.flatMap((e) =>
      e.event === "mm_compaction_isolate_migratepages" ? [e.nrTaken] : [],
    );
    expect(taken0).toEqual([32, 224]);
    expect(begin(events)).toEqual([262144, 278016]);
    expect(blocks(events, "mm_compaction_isolate_migratepages")).toEqual([262144]);
    expect(blocks(events, "mm_compaction_isolate_freepages")).toEqual([277504]);
    // The finishing call reached block 0's end (262656) and, finishing it, moved the cached
    // position although it isolated something: update_cached_migrate() stores
    // pageblock_end_pfn(262656), which for an aligned PFN is the end of the next block, 263168.
    // The fast search saw nothing at or above the cached free PFN (its highest block, 277504, is
    // below 278016), so that stays.
    expect(zone.compactCachedMigratePfn).toEqual([263168, 263168]);
    expect(zone.compactCachedFreePfn).toBe(278016);
    // Block 0 was marked when its first LRU folio was isolated (test_and_set_skip()), block 30
    // when fast_isolate_around() scanned it to its end.
    expect(hints(k, 1)).toBe(`1${"0".repeat(29)}10`);
    // Take the free block so that compaction has work again: a kernel folio of pageblock order.
    const taken = run(k.allocFolio(1, 9, GFP_KERNEL | __GFP_THISNODE));
    expect(taken.pfn).toBe(262144);
    events.length = 0;
    const second = await kcompactdRun(k, 1);
    expect(second.result).toBe(CompactResult.SUCCESS);
    // It starts where the first left off: block 2. Its fast searches take from the last block,
    // whose pages now end the order-0 list; seeing a page at the cached free PFN's block, the
    // search lowers that to the block below (compact_cached_free_pfn = highest - pageblock).
    expect(begin(events)).toEqual([263168, 278016]);
    expect(blocks(events, "mm_compaction_isolate_migratepages")).toEqual([263168]);
    expect(blocks(events, "mm_compaction_isolate_freepages")).toEqual([278016]);
    expect(zone.compactCachedMigratePfn).toEqual([264192, 264192]);
    expect(zone.compactCachedFreePfn).toBe(277504);
    expect(hints(k, 1)).toBe(`101${"0".repeat(27)}11`);
    // A full compaction (compact_node()) ignores the hints and the cached positions: it starts
    // at the zone's ends. The folio of pageblock order in block 0 is passed over without a look
    // (pageblock_skip_persistent(): suitable_migration_source() says no), so the first block
    // scanned is block 1, which no run had scanned yet.
    events.length = 0;
    await runP(compactNode(k, 1));
    expect(begin(events)).toEqual([262144, 278016]);
    expect(blocks(events, "mm_compaction_isolate_migratepages")[0]).toBe(262656);
    k.folioPut(taken);
    for (const folio of leftovers) k.folioPut(folio);
    expect(await runP(frag.intact())).toBe(true);
    await runP(frag.release());
    expectConsistent(k);
  });
});

describe("the asynchronous and synchronous cached migration PFNs", () => {
  it("an async run moves compact_cached_migrate_pfn[0] only; the sync-light run after it starts at [1] and passes the block the async run marked", async () => {
    const k = bootNoProactive();
    const frag = await runP(fragmentNode(k, { nid: 1 }));
    const zone = k.pageAlloc.zones[1]!;
    const leftovers = takeFreeBlocks(k, 1);
    const events = record(k);
    const direct = (mode: typeof MIGRATE_ASYNC | typeof MIGRATE_SYNC_LIGHT) =>
      runP(
        compactZone(k, 1, { order: 9, mode, gfp: GFP_HIGHUSER_MOVABLE, directCompaction: true }),
      );
    const asyncRun = await direct(MIGRATE_ASYNC);
    // Asynchronous direct compaction takes its targets one by one from the order-0 list's tail
    // (fast_isolate_around() does not scan on for it): 256 searches of one entry each.
    expect(asyncRun).toEqual({
      result: CompactResult.SUCCESS,
      migrateScanned: 512,
      freeScanned: 256,
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
    // the async run isolated its first LRU folio) for block 1, which the kernel memory taken at
    // its end keeps from being freed, then block 2.
    expect(begin(events)).toEqual([262144, 278016]);
    expect(blocks(events, "mm_compaction_isolate_migratepages")).toEqual([262656, 263168]);
    expect(hints(k, 1)).toBe(`111${"0".repeat(28)}1`);
    k.folioPut(taken);
    for (const folio of leftovers) k.folioPut(folio);
    expect(await runP(frag.intact())).toBe(true);
    await runP(frag.release());
    expectConsistent(k);
  });
});

describe("pageblock skip hints (PB_migrate_skip)", () => {
  it("alloc_contig_range() neither heeds nor sets them, and leaves the cached positions (ignore_skip_hint, no_set_skip_hint)", async () => {
    const k = bootNoProactive({ nodes: ["16M", "16M"] });
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
    // As the new zone had them: 0 (no compaction ran).
    expect(zone.compactCachedMigratePfn).toEqual([0, 0]);
    expect(zone.compactCachedFreePfn).toBe(0);
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
    // COMPACT_PARTIAL_SKIPPED, not COMPLETE: the run started at the zone's start, but a zone not
    // at PFN 0 has compact_init_migrate_pfn 0 until its first __reset_isolation_suitable(), so
    // cc->whole_zone stays false (migrate_pfn <= compact_init_migrate_pfn, compact_zone()). The
    // cached positions go back to the zone's ends, and compact_blockskip_flush is set for a
    // direct compaction.
    expect(first).toEqual(movedNothing(CompactResult.PARTIAL_SKIPPED, 3584));
    expect(hints(k, 1)).toBe("11111110");
    expect(zone.compactBlockskipFlush).toBe(true);
    expect(zone.compactCachedMigratePfn).toEqual([262144, 262144]);
    // Again: every block is marked, nothing is scanned.
    const second = await directRun(k, 1);
    expect(second).toEqual(movedNothing(CompactResult.PARTIAL_SKIPPED, 0));
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
    // Partly skipped, not complete: node 1's compact_init_migrate_pfn is 0 until a reset, so no
    // run is a whole-zone one (see above).
    expect(results.slice(0, 6)).toEqual(
      Array<CompactResult>(6).fill(CompactResult.PARTIAL_SKIPPED),
    );
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

describe("the fast searches (fast_find_migrateblock(), fast_isolate_freepages())", () => {
  it("kcompactd's run starts in the pageblock a free order-7 block points to, and takes its targets from the order-0 list's tail in the top quarter", async () => {
    const k = bootNoProactive();
    const frag = await runP(fragmentNode(k, { nid: 1 }));
    const zone = k.pageAlloc.zones[1]!;
    // What the churn left above order 0, all in block 1 (262656..263167).
    const movable = (order: number) => [...zone.freeArea[order]![MIGRATE_MOVABLE]!];
    expect([1, 2, 6, 7].map(movable)).toEqual([[262970], [262972], [262976], [263040]]);
    const events = record(k);
    const r = await kcompactdRun(k, 1);
    // fast_find_migrateblock(): order 9 > PAGE_ALLOC_COSTLY_ORDER; from order 8 down to 3 the
    // first movable free block below the first half of the scanners' distance
    // (pageblock_start_pfn(262144 + 15872 / 2) = 269824) is the order-7 one at 263040: the scan
    // starts at its pageblock, 262656, the one entry it looked at counted as scanned. Block 1 has
    // 157 pages in use; moving them frees it: 32 in the first batch (COMPACT_CLUSTER_MAX), then
    // the other 125 in one, as the next iteration starts in the block the first migrated from
    // and finishes it (cc->finish_pageblock, compact_zone(), Linux 6.16).
    expect(begin(events)).toEqual([262144, 278016]);
    expect(blocks(events, "mm_compaction_isolate_migratepages")).toEqual([262656]);
    const migrateCalls = events.flatMap((e) =>
      e.event === "mm_compaction_isolate_migratepages"
        ? [[e.startPfn, e.endPfn, e.nrScanned, e.nrTaken]]
        : [],
    );
    expect(migrateCalls).toEqual([
      [262656, 262719, 63, 32],
      [262719, 263168, 449, 125],
    ]);
    // Free pages: 5 + 64 for the first batch, 1 + 314 for the second (below).
    expect(r).toEqual({
      result: CompactResult.SUCCESS,
      migrateScanned: 1 + 512,
      freeScanned: 5 + 64 + 1 + 314,
      migrated: 157,
    });
    // fast_isolate_freepages(): from search_order 8 round-robin down, at most 256 entries at the
    // scan's start; orders 7, 6, 2 and 1 show one entry each below the top half, then the
    // order-0 list's tail, 277505, is in the top quarter (at or above 273920): taken, 5 looked at.
    const fast = events.flatMap((e) =>
      e.event === "mm_compaction_fast_isolate_freepages"
        ? [[e.startPfn, e.endPfn, e.nrScanned, e.nrTaken]]
        : [],
    );
    // The second batch's search finds the list's new tail at once.
    expect(fast).toEqual([
      [270336, 278016, 5, 1],
      [270336, 278016, 1, 1],
    ]);
    // The rest of each batch came from around it, block 30: 31 free pages in its first 64, then
    // 124 more up to 277818.
    const around = events.flatMap((e) =>
      e.event === "mm_compaction_isolate_freepages"
        ? [[e.startPfn, e.endPfn, e.nrScanned, e.nrTaken]]
        : [],
    );
    expect(around).toEqual([
      [277504, 277568, 64, 31],
      [277504, 277818, 314, 124],
    ]);
    expect(blocks(events, "mm_compaction_isolate_freepages")).toEqual([277504]);
    expect(k.vmstat.get("compact_free_scanned")).toBe(
      sum(events, "mm_compaction_isolate_freepages") +
        sum(events, "mm_compaction_fast_isolate_freepages"),
    );
    expect(await runP(frag.intact())).toBe(true);
    await runP(frag.release());
    expectConsistent(k);
  });
});

describe("a new zone's cached positions (zeroed struct zone)", () => {
  // Linux 6.16 sets nothing in compact_cached_*_pfn or compact_init_*_pfn before the first
  // compaction (Documentation/mm/physical_memory.rst: compact_init_migrate_pfn "initialized to 0
  // at boot time"). compact_zone() takes a cached PFN outside [zone_start_pfn, zone_end_pfn) for
  // unset: a zone that starts at PFN 0 has none.
  it("a zone at PFN 0: the first run finds both scanners at 0, met: COMPACT_COMPLETE with nothing scanned, and the cached positions reset to the zone's ends", async () => {
    const k = boot({ daemons: "on-demand" });
    const zone = k.pageAlloc.zones[0]!;
    expect([zone.startPfn, zone.endPfn]).toEqual([0, 16384]);
    expect([...zone.compactCachedMigratePfn, zone.compactCachedFreePfn]).toEqual([0, 0, 0]);
    const frag = await runP(fragmentNode(k, { nid: 0 }));
    const leftovers = takeFreeBlocks(k, 0);
    expect([...zone.compactCachedMigratePfn, zone.compactCachedFreePfn]).toEqual([0, 0, 0]);
    const events = record(k);
    const first = await kcompactdRun(k, 0);
    // migrate_pfn 0 and free_pfn 0 are inside the zone, so they stand; 0 <= compact_init_migrate_pfn
    // (0) makes it a whole-zone run; compact_finished() finds the scanners met
    // (compact_scanners_met(): free_pfn's block <= migrate_pfn's) before any isolation.
    expect(begin(events)).toEqual([0, 0]);
    expect(first).toEqual(movedNothing(CompactResult.COMPLETE, 0));
    expect(events.filter((e) => e.event === "mm_compaction_finished")).toMatchObject([
      { ret: "complete" },
    ]);
    // reset_cached_positions(): the zone's start and its last pageblock.
    expect([...zone.compactCachedMigratePfn, zone.compactCachedFreePfn]).toEqual([0, 0, 15872]);
    // kcompactd's run is not a direct compaction: no compact_blockskip_flush.
    expect(zone.compactBlockskipFlush).toBe(false);
    // The next run starts there and compacts.
    events.length = 0;
    const second = await kcompactdRun(k, 0);
    expect(begin(events)).toEqual([0, 15872]);
    expect(second.result).toBe(CompactResult.SUCCESS);
    expect(second.migrated).toBeGreaterThan(0);
    for (const folio of leftovers) k.folioPut(folio);
    expect(await runP(frag.intact())).toBe(true);
    await runP(frag.release());
    expectConsistent(k);
  });

  it("a zone not at PFN 0 (node 1): the first run puts the scanners at its ends and stores them, but is no whole-zone run until a reset sets compact_init_migrate_pfn", async () => {
    const { k, zone, release } = await pinnedNode();
    expect([zone.startPfn, zone.endPfn]).toEqual([262144, 266240]);
    expect([...zone.compactCachedMigratePfn, zone.compactCachedFreePfn]).toEqual([0, 0, 0]);
    const events = record(k);
    const first = await kcompactdRun(k, 1);
    // Both cached PFNs are below zone_start_pfn: migrate_pfn = 262144, free_pfn =
    // pageblock_start_pfn(266239) = 265728, written back to the zone.
    expect(begin(events)).toEqual([262144, 265728]);
    // 262144 > compact_init_migrate_pfn (0): not cc->whole_zone, so the scanners meeting after
    // blocks 0..6 (nothing could move) is COMPACT_PARTIAL_SKIPPED.
    expect(first).toEqual(movedNothing(CompactResult.PARTIAL_SKIPPED, 3584));
    expect([zone.compactInitMigratePfn, zone.compactInitFreePfn]).toEqual([0, 0]);
    await release();
  });
});

describe("cc->finish_pageblock (compact_zone(), Linux 6.16)", () => {
  // "mm/compaction: finish pageblocks on complete migration failure" (6.2) and its 6.3 fixes: a
  // failed migration (migrate_pages() > 0) in MIGRATE_ASYNC or MIGRATE_SYNC_LIGHT from a block
  // the scanner left part way (!pageblock_aligned(migrate_pfn)) rescans the rest of the block at
  // once (goto rescan: no compact_finished() in between), isolating past COMPACT_CLUSTER_MAX,
  // and the block ends marked skip with the cached position past it.
  it("a folio pinned while its batch migrates fails: the rest of the block is isolated in one call before compact_finished() looks again", async () => {
    const k = bootNoProactive();
    const frag = await runP(fragmentNode(k, { nid: 1 }));
    const zone = k.pageAlloc.zones[1]!;
    const leftovers = takeFreeBlocks(k, 1);
    const events = record(k);
    // The first batch's first folio gets a reference once it is isolated, as a GUP pin racing
    // with compaction would take: its migration fails (-EAGAIN until the retries run out).
    let pinned = -1;
    k.trace.subscribe((e) => {
      if (pinned < 0 && e.event === "mm_compaction_isolate_migratepages") {
        pinned = e.startPfn;
        folioGet(k, pinned);
      }
    });
    const r = await kcompactdRun(k, 1);
    folioPut(k, pinned);
    expect(pinned).toBe(262144);
    const seq = events.flatMap((e) => {
      if (e.event === "mm_compaction_isolate_migratepages") return [`isolate ${e.nrTaken}`];
      if (e.event === "mm_compaction_migratepages")
        return [`migrate ${e.nrMigrated}/${e.nrFailed}`];
      if (e.event === "mm_compaction_finished") return [`finished ${e.ret}`];
      return [];
    });
    // The first batch: 32 isolated, 31 moved, the pinned one failed. The rescan takes the other
    // 224 in one call, with no compact_finished() between; block 0 still holds the pinned page,
    // so the run goes on to block 1 (finish_pageblock false there: last_migrated_pfn was cleared,
    // pageblock order being COMPACTION_HPAGE_ORDER, then set to block 0).
    expect(seq.slice(0, 5)).toEqual([
      "finished no_suitable_page",
      "isolate 32",
      "migrate 31/1",
      "isolate 224",
      "migrate 224/0",
    ]);
    expect(r.result).toBe(CompactResult.SUCCESS);
    // Block 0 is marked (its first LRU folio's test_and_set_skip()), and the cached position
    // moved past it at the rescan's end: pageblock_end_pfn(262656) = 263168, at least.
    expect(zone.getPageblockSkip(262144)).toBe(true);
    expect(zone.compactCachedMigratePfn[1]).toBeGreaterThanOrEqual(263168);
    for (const folio of leftovers) k.folioPut(folio);
    expect(await runP(frag.intact())).toBe(true);
    await runP(frag.release());
    expectConsistent(k);
  });
});
