/**
 * The virtio balloon driver (drivers/virtio/virtio_balloon.c: fill_balloon, leak_balloon) over the
 * balloon core (mm/balloon.c, Linux 7.0).
 */
import { describe, expect, it } from "vitest";
import {
  type Kernel,
  PG_movable_ops,
  PG_offline,
  VIRTIO_BALLOON_ARRAY_PFNS_MAX,
  VirtioBalloon,
  WMARK_MIN,
} from "../../../src/index";
import { boot, expectConsistent, fillNodeToMin, run, runP } from "../../../src/testing/index";

describe("virtio_balloon", () => {
  it("fill_balloon() takes pages from the buddy allocator, at most VIRTIO_BALLOON_ARRAY_PFNS_MAX a call", () => {
    const k = boot();
    const free = k.pageAlloc.totalFreePages();
    const managed = k.pageAlloc.zones[0]!.managedPages;
    const vb = new VirtioBalloon(k);
    expect(run(vb.fillBalloon(1000))).toBe(VIRTIO_BALLOON_ARRAY_PFNS_MAX);
    expect(vb.numPages).toBe(256);
    expect(k.pageAlloc.totalFreePages()).toBe(free - 256);
    // Without VIRTIO_BALLOON_F_DEFLATE_ON_OOM the pages leave the managed count.
    expect(k.pageAlloc.zones[0]!.managedPages).toBe(managed - 256);
    expect(k.vmstat.get("balloon_inflate")).toBe(256);
    for (const page of vb.vbDevInfo.pages) {
      expect(k.memmap.test(page, PG_offline | PG_movable_ops)).toBe(true);
      expect(k.memmap.private[page]).toBe(vb.vbDevInfo.id);
      expect(k.memmap.refcount[page]).toBe(1);
      expect(vb.host.has(page)).toBe(true);
    }
    expect(k.vmstat.show()).toContain(
      "balloon_inflate 256\nballoon_deflate 0\nballoon_migrate 0\n",
    );
    expectConsistent(k);
  });

  it("leak_balloon() frees at most the balloon's pages and counts balloon_deflate", () => {
    const k = boot();
    const free = k.pageAlloc.totalFreePages();
    const vb = new VirtioBalloon(k, { deflateOnOom: true });
    const managed = k.pageAlloc.zones[0]!.managedPages;
    run(vb.fillBalloon(10));
    expect(k.pageAlloc.zones[0]!.managedPages).toBe(managed);
    expect(vb.leakBalloon(4)).toBe(4);
    expect(vb.leakBalloon(100)).toBe(6);
    expect(vb.leakBalloon(1)).toBe(0);
    expect(vb.numPages).toBe(0);
    expect(vb.host.size).toBe(0);
    expect(k.vmstat.get("balloon_deflate")).toBe(10);
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    expectConsistent(k);
  });

  it("fill_balloon() stops at the first page the allocator cannot give", async () => {
    const k = boot({ nodes: ["4M"] });
    const vb = new VirtioBalloon(k);
    let total = 0;
    for (let n = await runP(vb.fillBalloon(256)); n > 0; n = await runP(vb.fillBalloon(256)))
      total += n;
    // balloon_page_alloc() (GFP_HIGHUSER_MOVABLE) takes pages down to the min watermark.
    expect(k.pageAlloc.totalFreePages()).toBe(k.pageAlloc.zones[0]!.watermark[WMARK_MIN]);
    expect(vb.numPages).toBe(total);
    expect(run(vb.fillBalloon(1))).toBe(0);
    expectConsistent(k);
  });

  // balloon_page_alloc() (BALLOON_GFP: GFP_HIGHUSER_MOVABLE | __GFP_NOMEMALLOC | __GFP_NORETRY |
  // __GFP_NOWARN) in the inflating worker: when the first tries fail, __alloc_pages_slowpath()
  // (Linux 6.16) reclaims directly once, compacts nothing (order 0), and __GFP_NORETRY ends it
  // there: no retry, no OOM killer.
  describe("an inflation on a node at its min watermark takes one round of the slow path", () => {
    /** One 16 MiB node, `cached` clean page-cache pages on it, the rest taken down to min. */
    const full = async (cached: number) => {
      const k = boot({ nodes: ["16M"] });
      await runP(fillNodeToMin(k, cached));
      expect(k.pageAlloc.totalFreePages()).toBe(k.pageAlloc.zones[0]!.watermark[WMARK_MIN]);
      return k;
    };
    const delta = (k: Kernel) => {
      const before = k.vmstat.snapshot();
      return (item: string) => k.vmstat.get(item) - before[item]!;
    };

    it("reclaims clean page cache once and inflates the page", async () => {
      const k = await full(1000);
      const vb = new VirtioBalloon(k);
      const d = delta(k);
      expect(await runP(vb.fillBalloon(1))).toBe(1);
      expect(d("allocstall_normal")).toBe(1);
      expect(d("pgsteal_direct")).toBeGreaterThan(0);
      expect(d("compact_stall")).toBe(0);
      expect(d("balloon_inflate")).toBe(1);
      expectConsistent(k);
    });

    it("an injected failure of the page's first tries fails the whole allocation (should_fail_alloc_page() in prepare_alloc_pages()): no reclaim, nothing inflated", async () => {
      const k = await full(1000);
      const vb = new VirtioBalloon(k);
      expect(
        k.pageAlloc.failPageAlloc.arm({ times: 1, interval: 1, ignoreGfpReclaim: false }),
      ).toBeNull();
      const d = delta(k);
      expect(await runP(vb.fillBalloon(1))).toBe(0);
      expect(k.pageAlloc.failPageAlloc.failed).toBe(1);
      expect(d("allocstall_normal")).toBe(0);
      expect(d("balloon_inflate")).toBe(0);
      // The injection spent, the next inflation reclaims once and gets its page.
      expect(await runP(vb.fillBalloon(1))).toBe(1);
      expect(d("allocstall_normal")).toBe(1);
      expectConsistent(k);
    });

    it("with nothing to reclaim: one direct reclaim, no compaction, no OOM killer; nothing inflated", async () => {
      const k = await full(0);
      const vb = new VirtioBalloon(k);
      const d = delta(k);
      expect(await runP(vb.fillBalloon(4))).toBe(0);
      expect(d("allocstall_normal")).toBe(1);
      expect(d("compact_stall")).toBe(0);
      expect(d("balloon_inflate")).toBe(0);
      expect(vb.numPages).toBe(0);
      expectConsistent(k);
    });
  });
});
