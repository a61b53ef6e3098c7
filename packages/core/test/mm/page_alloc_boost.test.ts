// Watermark boosting (Linux 6.16): boost_watermark() and try_to_claim_block() (mm/page_alloc.c),
// wmark_pages() (include/linux/mmzone.h), rmqueue()'s ZONE_BOOSTED_WATERMARK wake-up, and
// balance_pgdat()'s boosted reclaim (mm/vmscan.c), which wakes kcompactd at pageblock_order.
import { Effect } from "effect";
import { TestClock } from "effect/testing";
import { describe, expect, it } from "vitest";
import {
  __GFP_HIGH,
  __GFP_KSWAPD_RECLAIM,
  __GFP_MEMALLOC,
  __GFP_MOVABLE,
  __GFP_THISNODE,
  type Kernel,
  MIGRATE_UNMOVABLE,
  type TraceEvent,
  WMARK_HIGH,
  WMARK_LOW,
  WMARK_MIN,
} from "../../src/index";
import { boot, expectErrno, run, runP, waitUntil } from "../../src/testing/index";

const MOVABLE = __GFP_MOVABLE | __GFP_THISNODE;
const FACTOR = "/proc/sys/vm/watermark_boost_factor";

/**
 * One 64 MiB node (16384 pages, pageblock_order 9: 512 pages) fragmented so that no free block
 * is larger than order 8; every free block lies in an unmovable pageblock, so a movable
 * allocation must claim an order-8 block: below a pageblock, which boosts. Its kswapd runs from
 * boot (`kswapd_init()`), unless booted with `daemons: "on-demand"`.
 */
const fragmented = (daemons: "boot" | "on-demand" = "boot"): { k: Kernel } => {
  const k = boot({ nodes: ["64M"], daemons });
  run(k.fragment(0, 8));
  const zone = k.pageAlloc.zones[0]!;
  expect(new Set(zone.pageblockType)).toEqual(new Set([MIGRATE_UNMOVABLE]));
  expect(zone.watermarkBoost).toBe(0);
  return { k };
};

describe("watermark boosting (boost_watermark(), mm/page_alloc.c, Linux 6.16)", () => {
  it("a claim below a pageblock adds 512 pages to every watermark, up to 150% of the high one", () => {
    const { k } = fragmented();
    const zone = k.pageAlloc.zones[0]!;
    // min_free_kbytes = int_sqrt(65536 KiB * 16) = 1024 KiB: 256 pages; low and high 64 apart.
    expect(zone.watermark.slice(0, 3)).toEqual([256, 320, 384]);
    expect(run(k.fs.read(FACTOR))).toBe("15000\n");
    // An order-8 movable allocation claims an order-8 unmovable block (try_to_claim_block()).
    expect(k.pageAlloc.allocPages(0, 8, MOVABLE)).toBeGreaterThanOrEqual(0);
    expect(zone.watermarkBoost).toBe(512); // pageblock_nr_pages
    expect([WMARK_MIN, WMARK_LOW, WMARK_HIGH].map((i) => zone.wmarkPages(i))).toEqual([
      768, 832, 896,
    ]);
    // Without ALLOC_KSWAPD the boost is raised but ZONE_BOOSTED_WATERMARK is not set.
    expect(zone.boostedWatermark).toBe(false);
    // The next claim: max_boost = mult_frac(384, 15000, 10000) = 576, above 512.
    expect(k.pageAlloc.allocPages(0, 8, MOVABLE)).toBeGreaterThanOrEqual(0);
    expect(zone.watermarkBoost).toBe(576);
    expect(k.pageAlloc.allocPages(0, 8, MOVABLE)).toBeGreaterThanOrEqual(0);
    expect(zone.watermarkBoost).toBe(576);
    run(k.shutdown());
  });

  it("raises no boost while kswapd does not run (only the model's kernels are without it)", () => {
    const { k } = fragmented();
    run(k.kswapd.stop());
    expect(k.pageAlloc.allocPages(0, 8, MOVABLE | __GFP_KSWAPD_RECLAIM)).toBeGreaterThanOrEqual(0);
    expect(k.pageAlloc.zones[0]!.watermarkBoost).toBe(0);
  });

  it("raises the boost from boot, as Linux does (kswapd_init() starts kswapd at boot)", () => {
    const k = boot({ nodes: ["64M"] });
    run(k.fragment(0, 8));
    const zone = k.pageAlloc.zones[0]!;
    expect(zone.watermarkBoost).toBe(0);
    expect(k.pageAlloc.allocPages(0, 8, MOVABLE)).toBeGreaterThanOrEqual(0);
    expect(zone.watermarkBoost).toBe(512); // pageblock_nr_pages
    run(k.shutdown());
  });

  it("no boost with watermark_boost_factor 0, nor on a zone of under four pageblocks", () => {
    const { k } = fragmented();
    const zone = k.pageAlloc.zones[0]!;
    expect(run(k.fs.write(FACTOR, "0\n"))).toBe(2);
    expect(k.pageAlloc.allocPages(0, 8, MOVABLE | __GFP_KSWAPD_RECLAIM)).toBeGreaterThanOrEqual(0);
    expect(zone.watermarkBoost).toBe(0);
    expect(zone.boostedWatermark).toBe(false);
    // A 4 MiB node: 1024 pages < 4 * 512.
    const small = boot({ nodes: ["4M", "4M"] });
    run(small.fragment(1, 8));
    expect(small.pageAlloc.allocPages(1, 8, MOVABLE)).toBeGreaterThanOrEqual(0);
    expect(small.pageAlloc.zones[1]!.watermarkBoost).toBe(0);
    run(small.shutdown());
    run(k.shutdown());
  });

  it("an order-0 __GFP_HIGH allocation at the min watermark ignores the boost (zone_watermark_fast())", () => {
    const { k } = fragmented();
    const zone = k.pageAlloc.zones[0]!;
    expect(k.pageAlloc.allocPages(0, 8, MOVABLE)).toBeGreaterThanOrEqual(0);
    expect(zone.watermarkBoost).toBeGreaterThanOrEqual(512);
    // Leave 200 pages free (__GFP_MEMALLOC: no watermark).
    while (zone.freePages > 200) {
      expect(k.pageAlloc.allocPages(0, 0, __GFP_MEMALLOC | __GFP_THISNODE)).toBeGreaterThanOrEqual(
        0,
      );
    }
    // Non-blocking __GFP_HIGH: ALLOC_MIN_RESERVE | ALLOC_NON_BLOCK at WMARK_MIN. The boosted min
    // (256 + 512 at least) halved and less a quarter is at least 288, above 200; the unboosted
    // 256 gives 96, below it, so the allocation succeeds.
    expect(k.pageAlloc.allocPages(0, 0, __GFP_HIGH | __GFP_THISNODE)).toBeGreaterThanOrEqual(0);
    // An order-1 one gets no such exception.
    expect(k.pageAlloc.allocPages(0, 1, __GFP_HIGH | __GFP_THISNODE)).toBe(-1);
    run(k.shutdown());
  });

  it("/proc/sys/vm/watermark_boost_factor: proc_dointvec_minmax from 0, EINVAL otherwise, keeping it", () => {
    const k = boot({ nodes: ["64M"] });
    for (const bad of ["-1", "abc", "2147483648", "5x", "1.5"])
      expectErrno(k.fs.write(FACTOR, bad), "EINVAL");
    expect(run(k.fs.read(FACTOR))).toBe("15000\n");
    run(k.fs.write(FACTOR, " 2147483647\n"));
    expect(run(k.fs.read(FACTOR))).toBe("2147483647\n");
  });

  it("rmqueue() wakes kswapd for a boost; its pass takes the boost off and wakes kcompactd at pageblock_order", async () => {
    // The daemons start on the TestClock below.
    const { k } = fragmented("on-demand");
    const zone = k.pageAlloc.zones[0]!;
    const events: TraceEvent[] = [];
    k.trace.subscribe((e) => {
      if (e.event === "mm_compaction_wakeup_kcompactd") events.push(e);
    });
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* k.kswapd.run();
        yield* k.compaction.run();
        yield* waitUntil(() => k.kswapd.sleeping(0));
        // Balanced: far above even the boosted high watermark, so only the boost wakes kswapd.
        expect(zone.freePages).toBeGreaterThan(896);
        expect(k.vmstat.get("pageoutrun")).toBe(0);
        expect(k.pageAlloc.allocPages(0, 8, MOVABLE | __GFP_KSWAPD_RECLAIM)).toBeGreaterThanOrEqual(
          0,
        );
        expect(zone.watermarkBoost).toBe(512);
        // rmqueue() cleared ZONE_BOOSTED_WATERMARK as it woke kswapd.
        expect(zone.boostedWatermark).toBe(false);
        expect(k.kswapd.sleeping(0)).toBe(false);
        yield* waitUntil(() => zone.watermarkBoost === 0);
      }).pipe(Effect.provide(TestClock.layer())),
    );
    // One boosted balance_pgdat() pass: nothing on the file LRU to reclaim, so it stops at once.
    expect(k.vmstat.get("pageoutrun")).toBe(1);
    // It left the loop at its break, not at `goto out` (the node is balanced, but boosted), and
    // reclaimed nothing: `if (!sc.nr_reclaimed) pgdat->kswapd_failures++` counts one.
    expect(k.kswapd.failures(0)).toBe(1);
    expect(events).toContainEqual({ event: "mm_compaction_wakeup_kcompactd", nid: 0, order: 9 });
    await runP(k.shutdown());
  });
});
