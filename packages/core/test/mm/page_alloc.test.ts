import { Effect } from "effect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  __GFP_KSWAPD_RECLAIM,
  __GFP_MEMALLOC,
  __GFP_MOVABLE,
  __GFP_THISNODE,
  __GFP_ZERO,
  allocNodes,
  type Kernel,
  MIGRATE_MOVABLE,
  MIGRATE_UNMOVABLE,
  type MmPageAllocExtfrag,
  PG_buddy,
  PG_locked,
  VirtioBalloon,
  WMARK_LOW,
  WMARK_MIN,
} from "../../src/index";
import type { BuddyAllocator } from "../../src/mm/page_alloc";
import {
  boot,
  checkKernelConsistency,
  expectConsistent,
  expectErrno,
  run,
} from "../../src/testing/index";

/** Three 4 MiB nodes; node 0's zonelist is 0, 2, 1 (node 2 is nearer than node 1). */
const bootThreeNodes = () =>
  boot({
    nodes: ["4M", "4M", "4M"],
    distances: [
      [10, 30, 20],
      [30, 10, 20],
      [20, 20, 10],
    ],
  });

describe("buddy allocator", () => {
  it("starts with every page of every node free, minus the zero page", () => {
    const k = boot({ nodes: ["64M", "32M"] });
    expect(k.pageAlloc.nodeFreePages(0)).toBe(16384 - 1);
    expect(k.pageAlloc.nodeFreePages(1)).toBe(8192);
    // MAX_PAGE_ORDER is 10 with 4 KiB pages (ARCH_FORCE_MAX_ORDER, include/linux/mmzone.h).
    expect(k.pageAlloc.maxOrder).toBe(10);
    expect(k.pageAlloc.pageblockOrder).toBe(9);
    expectConsistent(k);
  });

  it("allocates naturally aligned blocks on the requested node and frees them back exactly", () => {
    const k = boot();
    const before = k.pageAlloc.nodeFreePages(1);
    const folio = run(k.allocFolio(1, 9));
    expect(folio.nid).toBe(1);
    expect(folio.order).toBe(9);
    expect(folio.pfn % 512).toBe(0);
    expect(folio.refcount).toBe(1);
    expect(k.pageAlloc.nodeFreePages(1)).toBe(before - 512);
    k.folioPut(folio);
    expect(k.pageAlloc.nodeFreePages(1)).toBe(before);
    expect(k.pageAlloc.largestFreeOrder(1)).toBe(10);
    expectConsistent(k);
  });

  it("fails with ENOMEM when no block of the order is left, and EINVAL for a bad node or order", () => {
    const k = boot({ nodes: ["4M", "4M"] });
    expectErrno(k.allocFolio(0, 11, __GFP_THISNODE), "ENOMEM");
    expectErrno(k.allocFolio(2, 0), "EINVAL");
    expectErrno(k.allocFolio(-1, 0), "EINVAL");
    expectErrno(k.allocFolio(0, 19), "EINVAL");
    expectErrno(k.allocFolio(0, 1.5), "EINVAL");
    expectConsistent(k);
  });

  it("falls back to the nearest other node unless __GFP_THISNODE is given", () => {
    const k = bootThreeNodes();
    expect(k.pageAlloc.zonelists[0]).toEqual([0, 2, 1]);
    // __GFP_THISNODE: node 0 only, down to its min watermark (the slow path's ALLOC_WMARK_MIN).
    const min = k.pageAlloc.zones[0]!.watermark[WMARK_MIN];
    const held = [];
    while (k.pageAlloc.nodeFreePages(0) > min) held.push(run(k.allocFolio(0, 0, __GFP_THISNODE)));
    expect(k.pageAlloc.nodeFreePages(0)).toBe(min);
    expectErrno(k.allocFolio(0, 0, __GFP_THISNODE), "ENOMEM");
    expect(run(k.allocFolio(0, 0)).nid).toBe(2);
  });

  // for_each_zone_zonelist_nodemask() over node_zonelist() (mm/page_alloc.c): the zonelist by
  // distance, kept to the node mask; __GFP_THISNODE's zonelist holds the node alone.
  it("candidates(): the zonelist by distance, kept to the node mask in zonelist order, or the node alone with __GFP_THISNODE; the slow path walks the same", () => {
    const k = bootThreeNodes();
    const pa = k.pageAlloc;
    expect(pa.candidates(0, 0, null)).toEqual([0, 2, 1]);
    expect(pa.candidates(0, 0, [1, 0])).toEqual([0, 1]);
    expect(pa.candidates(0, 0, [1])).toEqual([1]);
    expect(pa.candidates(0, __GFP_THISNODE, [1])).toEqual([0]);
    expect(pa.candidates(1, __GFP_THISNODE, null)).toEqual([1]);
    expect(pa.candidates(3, 0, null)).toEqual([]);
    // The slow path's walk is the allocator's own list: nothing copied per retry.
    expect(allocNodes(k, 0, 0, null)).toBe(pa.candidates(0, 0, null));
    expect(allocNodes(k, 0, 0, null)).toBe(pa.zonelists[0]);
    expect(allocNodes(k, 0, 0, [2])).toEqual([2]);
  });

  // get_page_from_freelist() (mm/page_alloc.c, Linux 6.16): the fast path (ALLOC_WMARK_LOW)
  // passes a node under its low watermark over for the next of the zonelist, waking no kswapd;
  // only when every node is under it does __alloc_pages_slowpath() wake kswapd on each
  // (wake_all_kswapds()) and take from the first node above its min watermark. zone_statistics():
  // numa_hit on the preferred node, numa_miss and numa_foreign elsewhere; pgalloc_normal in pages.
  it("passes a node under its low watermark over for the next (numa_miss), and wakes kswapd only when all are", () => {
    const k = bootThreeNodes();
    const woken: number[] = [];
    // The allocator's wakeup_kswapd() hook, watched on its way to kswapd.
    const alloc = k.pageAlloc as BuddyAllocator;
    const wakeup = alloc.wakeupKswapd;
    alloc.wakeupKswapd = (nid, order) => {
      woken.push(nid);
      wakeup?.(nid, order);
    };
    const mark = (nid: number, wmark: typeof WMARK_LOW | typeof WMARK_MIN) =>
      k.pageAlloc.zones[nid]!.watermark[wmark];
    const drain = (nid: number, to: number) => {
      while (k.pageAlloc.nodeFreePages(nid) > to) run(k.allocFolio(nid, 0, __GFP_THISNODE));
    };
    const stat = (name: string) => k.vmstat.get(name);
    const hit = stat("numa_hit");
    const pgalloc = stat("pgalloc_normal");
    expect(run(k.allocFolio(0, 2)).nid).toBe(0);
    expect(stat("numa_hit")).toBe(hit + 1);
    expect(stat("pgalloc_normal")).toBe(pgalloc + 4);
    // Node 0 at its low watermark: the next allocation for it comes from node 2, its nearest.
    drain(0, mark(0, WMARK_LOW));
    expect(run(k.allocFolio(0, 0, __GFP_KSWAPD_RECLAIM)).nid).toBe(2);
    expect([stat("numa_miss"), stat("numa_foreign")]).toEqual([1, 1]);
    expect(woken).toEqual([]);
    // Every node at its low watermark: kswapd is woken on each, in zonelist order, and node 0
    // gives the page from above its min watermark.
    drain(2, mark(2, WMARK_LOW));
    drain(1, mark(1, WMARK_LOW));
    const hits = stat("numa_hit");
    expect(run(k.allocFolio(0, 0, __GFP_KSWAPD_RECLAIM)).nid).toBe(0);
    expect(woken).toEqual([0, 2, 1]);
    expect(stat("numa_hit")).toBe(hits + 1);
    expect(k.pageAlloc.nodeFreePages(0)).toBe(mark(0, WMARK_LOW) - 1);
    // With a nodemask, the preferred node is the first allowed one: numa_hit there.
    const misses = stat("numa_miss");
    expect(k.pageAlloc.allocPages(0, 0, 0, [1])).toBeGreaterThanOrEqual(0);
    expect(stat("numa_miss")).toBe(misses);
    expectConsistent(k);
  });

  it("answers for a node that does not exist: nothing free, nothing to give, nothing on its LRU", () => {
    const k = boot();
    expect(k.pageAlloc.nodeFreePages(2)).toBe(0);
    expect(k.pageAlloc.largestFreeOrder(-1)).toBe(-1);
    expect(k.pageAlloc.allocPages(2, 0, 0)).toBe(-1);
    expect(k.pageAlloc.allocPages(7, 0, __GFP_THISNODE)).toBe(-1);
    expect(k.lru.count(2)).toBe(0);
    expectConsistent(k);
  });

  it("zeroes with __GFP_ZERO", () => {
    const k = boot();
    const folio = run(k.allocFolio(0, 2));
    folio.bytes().fill(0xaa);
    k.folioPut(folio);
    const again = run(k.allocFolio(0, 2, __GFP_ZERO));
    expect(again.pfn).toBe(folio.pfn);
    expect(again.bytes().every((b) => b === 0)).toBe(true);
  });

  it("hands a 2 MiB block out again as it was left, and zeroed with __GFP_ZERO (post_alloc_hook(), clear_page())", () => {
    const k = boot();
    const first = run(k.allocFolio(0, 9));
    first.bytes().fill(0x5a);
    k.folioPut(first);
    // No init_on_alloc: a block handed out before keeps its bytes.
    const again = run(k.allocFolio(0, 9));
    expect(again.pfn).toBe(first.pfn);
    expect(again.bytes().every((b) => b === 0x5a)).toBe(true);
    k.folioPut(again);
    const zeroed = run(k.allocFolio(0, 9, __GFP_ZERO));
    expect(zeroed.pfn).toBe(first.pfn);
    expect(zeroed.bytes().every((b) => b === 0)).toBe(true);
    expectConsistent(k);
  });

  it("refuses a double free as bad_page does, and frees nothing", () => {
    const k = boot();
    const folio = run(k.allocFolio(0, 0));
    k.folioPut(folio);
    const free = k.pageAlloc.nodeFreePages(0);
    expect(k.memmap.test(folio.pfn, PG_buddy)).toBe(true);
    expect(k.pageAlloc.freePages(folio.pfn, 0)).toBe(false);
    expect(k.pageAlloc.nodeFreePages(0)).toBe(free);
    expect(k.badPages).toEqual([{ pfn: folio.pfn, reason: "page is already free (double free)" }]);
    expect(checkKernelConsistency(k)).toHaveLength(1);
  });

  it.each([
    ["mapcount", "nonzero mapcount"],
    ["mapping", "non-NULL mapping"],
    ["locked", "PAGE_FLAGS_CHECK_AT_FREE flag(s) set"],
    ["buddy", "page is already free (double free)"],
  ] as const)(
    "refuses a large folio whose tail page has a bad %s, naming that page, and changes nothing (bad_page(), page_bad_reason())",
    (field, reason) => {
      const k = boot();
      const folio = run(k.allocFolio(0, 2));
      const m = k.memmap;
      const tail = folio.pfn + 2;
      const free = k.pageAlloc.nodeFreePages(0);
      m.refcount[folio.pfn] = 0;
      if (field === "mapcount") m.mapcount[tail] = 1;
      else if (field === "mapping") m.mapping[tail] = 7;
      else if (field === "locked") m.set(tail, PG_locked);
      else m.set(tail, PG_buddy);
      const before = [m.flags, m.compoundHead, m.mapping, m.index, m.private].map((a) =>
        Array.from(a.subarray(folio.pfn, folio.pfn + 4)),
      );
      expect(k.pageAlloc.freePages(folio.pfn, 2)).toBe(false);
      expect(k.badPages).toEqual([{ pfn: tail, reason }]);
      expect(k.pageAlloc.nodeFreePages(0)).toBe(free);
      expect(
        [m.flags, m.compoundHead, m.mapping, m.index, m.private].map((a) =>
          Array.from(a.subarray(folio.pfn, folio.pfn + 4)),
        ),
      ).toEqual(before);
    },
  );

  it("reads the tails' current arrays after a per-page array is replaced (free_page_is_bad())", () => {
    const k = boot();
    const m = k.memmap;
    // A first 2 MiB free reads the tails by their bytes, through views it keeps.
    k.folioPut(run(k.allocFolio(0, 9)));
    // The flags array replaced by a copy: the check reads the array the memory map holds now.
    Object.defineProperty(m, "flags", { value: Uint32Array.from(m.flags) });
    const folio = run(k.allocFolio(0, 9));
    const tail = folio.pfn + 300;
    m.refcount[folio.pfn] = 0;
    m.set(tail, PG_locked);
    expect(k.pageAlloc.freePages(folio.pfn, 9)).toBe(false);
    expect(k.badPages).toEqual([{ pfn: tail, reason: "PAGE_FLAGS_CHECK_AT_FREE flag(s) set" }]);
  });

  it("checks every tail of a 2 MiB folio: a bad field on any one of the 511 is reported, naming that page, and a tail's anon mapping is not (free_page_is_bad(), page_bad_reason(); property)", () => {
    // mm/page_alloc.c: free_pages_prepare() runs free_tail_page_prepare() and free_page_is_bad()
    // on every tail when the page checks are on; a mapping <= 0 (none, or an anon_vma) passes.
    const k = boot();
    const folio = run(k.allocFolio(0, 9));
    const m = k.memmap;
    m.refcount[folio.pfn] = 0;
    const fields = [
      ["mapcount", "nonzero mapcount"],
      ["mapping", "non-NULL mapping"],
      ["locked", "PAGE_FLAGS_CHECK_AT_FREE flag(s) set"],
      ["buddy", "page is already free (double free)"],
      ["lru", "still on a list"],
    ] as const;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 511 }),
        fc.constantFrom(...fields),
        fc.option(fc.integer({ min: 1, max: 511 }), { nil: 0 }),
        (tail, [field, reason], anon) => {
          const pfn = folio.pfn + tail;
          const saved = [
            m.flags[pfn]!,
            m.mapcount[pfn]!,
            m.mapping[pfn]!,
            m.lru.next[pfn]!,
          ] as const;
          const savedAnon = m.mapping[folio.pfn + anon]!;
          if (anon !== 0 && anon !== tail) m.mapping[folio.pfn + anon] = -3;
          if (field === "mapcount") m.mapcount[pfn] = 1;
          else if (field === "mapping") m.mapping[pfn] = 7;
          else if (field === "locked") m.set(pfn, PG_locked);
          else if (field === "buddy") m.set(pfn, PG_buddy);
          else m.lru.next[pfn] = pfn + 2;
          const free = k.pageAlloc.nodeFreePages(0);
          k.badPages.length = 0;
          expect(k.pageAlloc.freePages(folio.pfn, 9)).toBe(false);
          expect(k.badPages).toEqual([{ pfn, reason }]);
          expect(k.pageAlloc.nodeFreePages(0)).toBe(free);
          [m.flags[pfn], m.mapcount[pfn], m.mapping[pfn], m.lru.next[pfn]] = saved;
          m.mapping[folio.pfn + anon] = savedAnon;
        },
      ),
      { numRuns: 60 },
    );
    // With every field back, the folio frees; with an anon mapping on a tail too.
    m.mapping[folio.pfn + 5] = -3;
    k.badPages.length = 0;
    expect(k.pageAlloc.freePages(folio.pfn, 9)).toBe(true);
    expect(k.badPages).toEqual([]);
    expectConsistent(k);
  });

  it("fragments a node on purpose so no free block exceeds the order, and undoes it", () => {
    const k = boot();
    const before = k.pageAlloc.nodeFreePages(1);
    const frag = run(k.fragment(1, 3));
    expect(k.pageAlloc.largestFreeOrder(1)).toBe(3);
    expect(frag.pinnedPages).toBeGreaterThan(0);
    expectErrno(k.allocFolio(1, 4, __GFP_THISNODE), "ENOMEM");
    k.folioPut(run(k.allocFolio(1, 3, __GFP_THISNODE)));
    frag.release();
    frag.release();
    expectErrno(k.fragment(7, 3), "EINVAL");
    expect(k.pageAlloc.largestFreeOrder(1)).toBe(10);
    expect(k.pageAlloc.nodeFreePages(1)).toBe(before);
    expectConsistent(k);
  });

  it("never hands out one frame twice, and free restores the counts exactly (property)", () => {
    const k = boot({ nodes: ["8M", "8M"] });
    const initial = [k.pageAlloc.nodeFreePages(0), k.pageAlloc.nodeFreePages(1)];
    const step = fc.oneof(
      fc.record({
        alloc: fc.constant(true),
        nid: fc.nat(1),
        order: fc.nat(10),
        thisnode: fc.boolean(),
      }),
      fc.record({ alloc: fc.constant(false), which: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const owned = new Map<number, number>();
        const owner = new Int32Array(k.mem.maxPfn).fill(-1);
        for (const s of steps) {
          if (s.alloc) {
            const r = Effect.runSyncExit(
              k.allocFolio(s.nid, s.order, s.thisnode ? __GFP_THISNODE : 0),
            );
            if (r._tag === "Failure") continue;
            const folio = r.value;
            if (s.thisnode) expect(folio.nid).toBe(s.nid);
            for (let i = 0; i < folio.nrPages; i++) {
              expect(owner[folio.pfn + i]).toBe(-1);
              owner[folio.pfn + i] = folio.pfn;
            }
            owned.set(folio.pfn, folio.nrPages);
          } else if (owned.size > 0) {
            const pfn = [...owned.keys()][s.which % owned.size]!;
            for (let i = 0; i < owned.get(pfn)!; i++) owner[pfn + i] = -1;
            owned.delete(pfn);
            k.folioPut(k.folio(pfn));
          }
        }
        for (const pfn of owned.keys()) k.folioPut(k.folio(pfn));
        expect([k.pageAlloc.nodeFreePages(0), k.pageAlloc.nodeFreePages(1)]).toEqual(initial);
        expectConsistent(k);
      }),
      { numRuns: 60 },
    );
  });
});

describe("fallback to another migrate type (__rmqueue(), mm/page_alloc.c, Linux 6.16)", () => {
  // No reclaim flags, so nothing wakes kswapd; __GFP_MEMALLOC lets the small node go below its
  // watermarks (ALLOC_NO_WATERMARKS), so only the free lists decide.
  const UNMOVABLE = __GFP_THISNODE | __GFP_MEMALLOC;
  const MOVABLE = __GFP_MOVABLE | __GFP_THISNODE | __GFP_MEMALLOC;

  /**
   * Node 1 of two 4 MiB nodes: two pageblocks of 512 pages, both made MIGRATE_UNMOVABLE, so no
   * movable page is free. Pageblock 0 is taken whole by an unmovable order-9 block; pageblock 1
   * is split by unmovable allocations of `orders` (the first of order 0).
   */
  const unmovableNode = (orders: readonly number[]) => {
    const k = boot({ nodes: ["4M", "4M"] });
    const zone = k.pageAlloc.zones[1]!;
    k.pageAlloc.setMigratetype(zone.startPfn, zone.endPfn - zone.startPfn, MIGRATE_UNMOVABLE);
    const events: MmPageAllocExtfrag[] = [];
    k.trace.subscribe((e) => {
      if (e.event === "mm_page_alloc_extfrag") events.push(e);
    });
    expect(k.pageAlloc.allocPages(1, 9, UNMOVABLE)).toBe(zone.startPfn);
    for (const order of orders)
      expect(k.pageAlloc.allocPages(1, order, UNMOVABLE)).toBeGreaterThan(0);
    expect(events).toEqual([]);
    return { k, zone, events, base: zone.startPfn + 512 };
  };

  it("a movable allocation claims a mostly free unmovable pageblock whole (try_to_claim_block())", () => {
    // Pageblock 1 holds one unmovable page: 511 free >= 1 << (pageblock_order - 1).
    const { k, zone, events, base } = unmovableNode([0]);
    // __rmqueue_claim() finds the largest fallback block first, order 8 at base + 256, converts
    // the pageblock and takes the smallest movable block: the order-0 buddy at base + 1.
    expect(k.pageAlloc.allocPages(1, 0, MOVABLE)).toBe(base + 1);
    expect([...zone.pageblockType]).toEqual([MIGRATE_UNMOVABLE, MIGRATE_MOVABLE]);
    expect(events).toEqual([
      {
        event: "mm_page_alloc_extfrag",
        pfn: base + 1,
        allocOrder: 0,
        fallbackOrder: 8,
        allocMigratetype: MIGRATE_MOVABLE,
        fallbackMigratetype: MIGRATE_UNMOVABLE,
        changeOwnership: true,
      },
    ]);
    // The claimed block's other free pages are movable now: the next one needs no fallback.
    expect(k.pageAlloc.allocPages(1, 0, MOVABLE)).toBe(base + 2);
    expect(events).toHaveLength(1);
    expectConsistent(k);
  });

  it("a movable allocation steals the smallest block of a mostly used pageblock, whose type stays (__rmqueue_steal())", () => {
    // Pageblock 1 keeps free only its order-0 buddy at base + 1 and an order-6 block at
    // base + 64: 65 free pages, under the 256 a claim needs.
    const { k, zone, events, base } = unmovableNode([0, 8, 7, 5, 4, 3, 2, 1]);
    expect(k.pageAlloc.nodeFreePages(1)).toBe(65);
    // __rmqueue_claim() tries the order-6 block (largest first) and fails try_to_claim_block();
    // at order 3 should_try_claim_block() refuses a movable allocation (-2) and the scan stops.
    // __rmqueue_steal() then takes the smallest block: order 0, not the order-6 block 6.10's
    // __rmqueue_fallback() took.
    expect(k.pageAlloc.allocPages(1, 0, MOVABLE)).toBe(base + 1);
    expect([...zone.pageblockType]).toEqual([MIGRATE_UNMOVABLE, MIGRATE_UNMOVABLE]);
    expect(events).toEqual([
      {
        event: "mm_page_alloc_extfrag",
        pfn: base + 1,
        allocOrder: 0,
        fallbackOrder: 0,
        allocMigratetype: MIGRATE_MOVABLE,
        fallbackMigratetype: MIGRATE_UNMOVABLE,
        changeOwnership: false,
      },
    ]);
    // The next steal splits the order-6 block and leaves its halves on the unmovable lists.
    expect(k.pageAlloc.allocPages(1, 0, MOVABLE)).toBe(base + 64);
    expect(events.at(-1)).toMatchObject({ fallbackOrder: 6, changeOwnership: false });
    expect(zone.freeArea[5]![MIGRATE_UNMOVABLE]!.isEmpty).toBe(false);
    expect(zone.freeArea[5]![MIGRATE_MOVABLE]!.isEmpty).toBe(true);
    expectConsistent(k);
  });

  /**
   * Node 1 with pageblock 0 taken by an unmovable order-9 block and pageblock 1 holding, at its
   * start, what `place` puts there while the block is movable; the pageblock is then made
   * MIGRATE_UNMOVABLE and its order-8 block at base + 256 allocated unmovable, so that the free
   * pages left are base + place()'s pages .. base + 256.
   */
  const movableInUnmovable = (place: (k: Kernel) => void) => {
    const k = boot({ nodes: ["4M", "4M"] });
    const zone = k.pageAlloc.zones[1]!;
    const base = zone.startPfn + 512;
    k.pageAlloc.setMigratetype(zone.startPfn, 512, MIGRATE_UNMOVABLE);
    expect(k.pageAlloc.allocPages(1, 9, UNMOVABLE)).toBe(zone.startPfn);
    place(k);
    k.pageAlloc.setMigratetype(base, 512, MIGRATE_UNMOVABLE);
    expect(k.pageAlloc.allocPages(1, 8, UNMOVABLE)).toBe(base + 256);
    return { k, zone, base };
  };

  // prep_move_freepages_block() (mm/page_alloc.c, Linux 6.16) counts as movable every page with
  // PageLRU() or __PageMovable() (page_has_movable_ops() from 6.17): a balloon page in the block
  // makes 255 free + 1 movable = 256 = 1 << (pageblock_order - 1), enough for
  // try_to_claim_block() to claim it for a movable allocation.
  it("counts a balloon page as movable when deciding to claim a pageblock (prep_move_freepages_block())", () => {
    const { k, zone, base } = movableInUnmovable((k) => {
      const balloon = new VirtioBalloon(k, { nid: 1 });
      expect(run(balloon.fillBalloon(1))).toBe(1);
      expect([...balloon.vbDevInfo.pages]).toEqual([k.pageAlloc.zones[1]!.startPfn + 512]);
    });
    expect(k.pageAlloc.nodeFreePages(1)).toBe(255);
    expect(k.pageAlloc.allocPages(1, 0, MOVABLE)).toBe(base + 1);
    expect([...zone.pageblockType]).toEqual([MIGRATE_UNMOVABLE, MIGRATE_MOVABLE]);
    expectConsistent(k);
  });

  // PageLRU() tests the head page (PF_HEAD), so each page of a large LRU folio counts: an
  // order-7 folio on the LRU and the 128 free pages after it are 256, and the block is claimed.
  it("counts every page of a large LRU folio as movable when deciding to claim a pageblock", () => {
    const { k, zone, base } = movableInUnmovable((k) => {
      const folio = run(k.allocFolio(1, 7, MOVABLE));
      expect(folio.pfn).toBe(k.pageAlloc.zones[1]!.startPfn + 512);
      k.lru.folioAddLru(folio.pfn);
    });
    expect(k.pageAlloc.nodeFreePages(1)).toBe(128);
    expect(k.pageAlloc.allocPages(1, 0, MOVABLE)).toBe(base + 128);
    expect([...zone.pageblockType]).toEqual([MIGRATE_UNMOVABLE, MIGRATE_MOVABLE]);
    expectConsistent(k);
  });

  // The same block with one free page fewer than half is only stolen from: the balloon page is
  // what decides.
  it("steals from the pageblock without the balloon page's count (255 < 256)", () => {
    const { k, zone, base } = movableInUnmovable((k) => {
      expect(k.pageAlloc.allocPages(1, 0, UNMOVABLE)).toBe(k.pageAlloc.zones[1]!.startPfn + 512);
    });
    expect(k.pageAlloc.allocPages(1, 0, MOVABLE)).toBe(base + 1);
    expect([...zone.pageblockType]).toEqual([MIGRATE_UNMOVABLE, MIGRATE_UNMOVABLE]);
    expectConsistent(k);
  });

  it("find_suitable_fallback(): -2 for a movable order too small to claim, -1 when no fallback block is free", () => {
    const { k, base } = unmovableNode([0]);
    expect(base).toBeGreaterThan(0);
    // should_try_claim_block(): from pageblock_order / 2 = 4 up a movable allocation may claim.
    expect(k.pageAlloc.findSuitableFallback(1, 4, MIGRATE_MOVABLE, true)).toBe(MIGRATE_UNMOVABLE);
    expect(k.pageAlloc.findSuitableFallback(1, 3, MIGRATE_MOVABLE, true)).toBe(-2);
    expect(k.pageAlloc.findSuitableFallback(1, 3, MIGRATE_MOVABLE)).toBe(MIGRATE_UNMOVABLE);
    expect(k.pageAlloc.findSuitableFallback(1, 3, MIGRATE_UNMOVABLE, true)).toBe(-1);
    expect(k.pageAlloc.findSuitableFallback(1, 9, MIGRATE_MOVABLE, true)).toBe(-1);
  });
});
