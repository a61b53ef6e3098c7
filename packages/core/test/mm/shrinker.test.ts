import { describe, expect, it } from "vitest";
import { DEFAULT_SEEKS, SHRINK_STOP, type Shrinker } from "../../src/include/shrinker";
import { doShrinkSlab } from "../../src/mm/shrinker";
import { boot } from "../../src/testing/index";

/** A cache of `objects` on every node, all in use: each scan frees none, and records its size. */
const busyCache = (objects: number, stop = false) => {
  const scans: number[] = [];
  const shrinker: Shrinker = {
    name: "busy",
    seeks: DEFAULT_SEEKS,
    batch: 0,
    countObjects: () => objects,
    scanObjects: (_k, _nid, nrToScan) => {
      scans.push(nrToScan);
      return stop ? SHRINK_STOP : 0;
    },
  };
  return { shrinker, scans };
};

describe("do_shrink_slab (mm/shrinker.c, Linux 6.16)", () => {
  it("scans (freeable >> priority) * 4 / seeks in SHRINK_BATCH (128) pieces and defers the rest, per node", () => {
    const k = boot({ nodes: ["16M", "16M"] });
    const { shrinker, scans } = busyCache(1000);
    // DEF_PRIORITY: 1000 >> 12 is 0, nothing to scan and nothing deferred.
    expect(doShrinkSlab(k, shrinker, 0, 12)).toBe(0);
    expect(scans).toEqual([]);
    // Priority 2: delta = 250 * 4 / 2 = 500; batches of 128 while at least 128 are left: 384
    // scanned, 116 deferred (nr_deferred = 0 + 500 - 384).
    doShrinkSlab(k, shrinker, 0, 2);
    expect(scans).toEqual([128, 128, 128]);
    expect(k.vmstat.get("slabs_scanned")).toBe(384);
    expect(k.shrinkerNrDeferred.get(shrinker)).toEqual([116, 0]);
    // Again: total_scan = (116 >> 2) + 500 = 529, four batches; 116 + 500 - 512 = 104 deferred.
    scans.length = 0;
    doShrinkSlab(k, shrinker, 0, 2);
    expect(scans).toEqual([128, 128, 128, 128]);
    expect(k.shrinkerNrDeferred.get(shrinker)).toEqual([104, 0]);
    // Node 1 has its own nr_deferred, still 0: 500 asked, three batches.
    scans.length = 0;
    doShrinkSlab(k, shrinker, 1, 2);
    expect(scans).toEqual([128, 128, 128]);
    expect(k.shrinkerNrDeferred.get(shrinker)).toEqual([104, 116]);
    // Node 0's 104 deferred: at priority 0, total_scan = 104 + 2000 capped at 2 * 1000, scanned
    // while a batch is left: 15 batches, 80 left over.
    scans.length = 0;
    doShrinkSlab(k, shrinker, 0, 0);
    expect(scans).toEqual(Array(15).fill(128));
    expect(k.vmstat.get("slabs_scanned")).toBe(384 + 512 + 384 + 1920);
    // 104 + 2000 - 1920 = 184 deferred on node 0.
    expect(k.shrinkerNrDeferred.get(shrinker)).toEqual([184, 116]);
    // nr_deferred is the kernel's own: on a kernel booted beside it the shrinker starts at 0.
    const other = boot({ nodes: ["16M", "16M"] });
    scans.length = 0;
    doShrinkSlab(other, shrinker, 0, 2);
    expect(scans).toEqual([128, 128, 128]);
    expect(other.shrinkerNrDeferred.get(shrinker)).toEqual([116, 0]);
  });

  it("scans a cache smaller than a batch whole once total_scan reaches freeable, and stops at SHRINK_STOP", () => {
    const k = boot({ nodes: ["16M"] });
    const small = busyCache(3);
    // 3 >> 1 = 1: delta 2 < 3, nothing scanned, 2 deferred; at priority 0: (2 >> 0) + 6, capped
    // at 6, is at least freeable: one scan of 6 (min(SHRINK_BATCH, total_scan)).
    doShrinkSlab(k, small.shrinker, 0, 1);
    expect(small.scans).toEqual([]);
    doShrinkSlab(k, small.shrinker, 0, 0);
    expect(small.scans).toEqual([6]);
    const stopping = busyCache(1000, true);
    doShrinkSlab(k, stopping.shrinker, 0, 0);
    expect(stopping.scans).toEqual([128]); // SHRINK_STOP: no more calls, nothing counted
    expect(k.vmstat.get("slabs_scanned")).toBe(6);
    // Each shrinker has its own nr_deferred, though both are named "busy": the small cache's
    // 2 + 6 - 6 = 2; the stopped one's 0 + 2000 - 0, at most 2 * 1000.
    expect(k.shrinkerNrDeferred.get(small.shrinker)).toEqual([2]);
    expect(k.shrinkerNrDeferred.get(stopping.shrinker)).toEqual([2000]);
  });
});
