// The high-order atomic reserves of the page allocator, as Linux 6.16 has them (mm/page_alloc.c):
// reserve_highatomic_pageblock() after an ALLOC_HIGHATOMIC allocation in
// get_page_from_freelist(), rmqueue_buddy()'s MIGRATE_HIGHATOMIC lists, the free highatomic pages
// __zone_watermark_unusable_free() hides from an allocation without ALLOC_RESERVES,
// unreserve_highatomic_pageblock() in should_reclaim_retry(), and __free_one_page()'s
// migratetype_is_mergeable() rule.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  __GFP_COMP,
  __GFP_MEMALLOC,
  __GFP_RETRY_MAYFAIL,
  __GFP_THISNODE,
  allocPagesSlowpath,
  GFP_ATOMIC,
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
  GFP_NOWAIT,
  MAP_SHARED,
  MIGRATE_HIGHATOMIC,
  MIGRATE_MOVABLE,
  MIGRATE_UNMOVABLE,
  PROT_READ,
  shouldReclaimRetry,
  WMARK_HIGH,
  WMARK_LOW,
  WMARK_MIN,
} from "../../src/index";
import { boot, expectConsistent, run, runP } from "../../src/testing/index";

type Kernel = ReturnType<typeof boot>;

const ATOMIC = GFP_ATOMIC | __GFP_THISNODE;

/** The pageblocks of each type on node 0, as `/proc/pagetypeinfo`'s last table prints them. */
const blockCounts = (k: Kernel): number[] =>
  run(k.fs.read("/proc/pagetypeinfo"))
    .split("\n")
    .filter((l) => l.startsWith("Node 0, zone"))
    .at(-1)!
    .split(/\s+/)
    .slice(4, 9)
    .map(Number);

/**
 * One 256 MiB node: 65536 pages, min_free_kbytes = int_sqrt(262144 * 16) = 2048, so the min
 * watermark is 512 pages, low 512 + max(512 / 4, 65536 * 10 / 10000) = 640, high 768
 * (init_per_zone_wmark_min(), __setup_per_zone_wmarks()); pageblocks of 512 pages. Taken down to
 * 600 free pages, under the low watermark, by order-0 `__GFP_MEMALLOC` allocations, which leave
 * pageblock 0 with 88 free pages (blocks of order 3, 4 and 6) and pageblock 1 wholly free, both
 * unmovable.
 */
const underLow = () => {
  const k = boot({ nodes: ["256M"] });
  const zone = k.pageAlloc.zones[0]!;
  expect(zone.managedPages).toBe(65536);
  expect([
    zone.watermark[WMARK_MIN],
    zone.watermark[WMARK_LOW],
    zone.watermark[WMARK_HIGH],
  ]).toEqual([512, 640, 768]);
  const held: number[] = [];
  while (k.pageAlloc.nodeFreePages(0) > 600) {
    held.push(k.pageAlloc.allocPages(0, 0, __GFP_THISNODE | __GFP_MEMALLOC));
  }
  expect(zone.nrFreeByType[9]![MIGRATE_UNMOVABLE]).toBe(1);
  return { k, zone, held };
};

/** Allocates order-0 pages on node 0 with `gfp` until one fails; the free pages left then. */
const allocUntilFail = (k: Kernel, gfp: number): number => {
  while (k.pageAlloc.allocPages(0, 0, gfp | __GFP_THISNODE) >= 0);
  return k.pageAlloc.nodeFreePages(0);
};

/** `underLow()` with both pageblocks reserved, as the first test leaves it: 1024 pages. */
const bothReserved = () => {
  const s = underLow();
  s.k.pageAlloc.allocPages(0, 4, ATOMIC);
  s.k.pageAlloc.allocPages(0, 1, ATOMIC);
  expect(s.zone.nrReservedHighatomic).toBe(1024);
  // Every free page is in the reserve now.
  expect(s.zone.nrFreeHighatomic).toBe(s.zone.freePages);
  return s;
};

describe("reserve_highatomic_pageblock() (mm/page_alloc.c, Linux 6.16)", () => {
  it("reserves the pageblock of a GFP_ATOMIC high-order allocation the slow path served, up to 1% of the zone rounded up to pageblocks, and serves the next ones from it first", () => {
    const { k, zone, held } = underLow();
    expect(blockCounts(k)).toEqual([128, 0, 0, 0, 0]);
    // Order 4, above the per-CPU lists' orders: rmqueue_buddy() finds no highatomic block and
    // takes the smallest unmovable one, in pageblock 0, which it reserves with its 72 free pages.
    const first = k.pageAlloc.allocPages(0, 4, ATOMIC);
    expect(zone.pageblockMigratetype(first)).toBe(MIGRATE_HIGHATOMIC);
    expect(first >> 9).toBe(0);
    expect(zone.nrReservedHighatomic).toBe(512);
    expect(zone.nrFreeHighatomic).toBe(88 - 16);
    expect(blockCounts(k)).toEqual([127, 0, 0, 1, 0]);
    // The next order-4 GFP_ATOMIC allocation takes from the reserve first, though the free
    // order-9 unmovable block could serve it; the block is highatomic already (not mergeable),
    // so nothing more is reserved.
    const second = k.pageAlloc.allocPages(0, 4, ATOMIC);
    expect(zone.pageblockMigratetype(second)).toBe(MIGRATE_HIGHATOMIC);
    expect(zone.nrFreeByType[9]![MIGRATE_UNMOVABLE]).toBe(1);
    expect(zone.nrReservedHighatomic).toBe(512);
    // Order 1 is a per-CPU list order: the lists' refill (__rmqueue() of its own type) comes
    // first and splits pageblock 1, which becomes the second reserved pageblock. 1% of 65536 is
    // 655, ALIGN()ed to 1024: the limit.
    const third = k.pageAlloc.allocPages(0, 1, ATOMIC);
    expect(third >> 9).toBe(1);
    expect(zone.nrReservedHighatomic).toBe(1024);
    expect(blockCounts(k)).toEqual([126, 0, 0, 2, 0]);
    // With its own lists empty, the next one comes from the reserve (rmqueue_buddy()).
    const fourth = k.pageAlloc.allocPages(0, 1, ATOMIC);
    expect(zone.pageblockMigratetype(fourth)).toBe(MIGRATE_HIGHATOMIC);
    // Two buddies freed in another pageblock make an order-1 unmovable block: an allocation from
    // it would be reserved, but the reserve is at its limit.
    const pair = held.find((p) => p >> 9 >= 2 && p % 2 === 0 && held.includes(p + 1))!;
    k.folioPut(k.folio(pair));
    k.folioPut(k.folio(pair + 1));
    expect(k.pageAlloc.allocPages(0, 1, ATOMIC)).toBe(pair);
    expect(zone.pageblockMigratetype(pair)).toBe(MIGRATE_UNMOVABLE);
    expect(zone.nrReservedHighatomic).toBe(1024);
    expectConsistent(k);
  });

  it("reserves nothing from the fast path (no ALLOC_HIGHATOMIC above the low watermark), nor in a zone whose 1% is under a pageblock", () => {
    const big = boot({ nodes: ["256M"] });
    const pfn = big.pageAlloc.allocPages(0, 4, ATOMIC);
    expect(big.pageAlloc.zones[0]!.pageblockMigratetype(pfn)).not.toBe(MIGRATE_HIGHATOMIC);
    expect(big.pageAlloc.zones[0]!.nrReservedHighatomic).toBe(0);
    // 16 MiB: 4096 pages, 1% is 40, under a pageblock of 512: no reserve at all (Linux 6.8 on).
    const small = boot({ nodes: ["16M"] });
    const zone = small.pageAlloc.zones[0]!;
    while (small.pageAlloc.nodeFreePages(0) > 150) {
      small.pageAlloc.allocPages(0, 0, __GFP_THISNODE | __GFP_MEMALLOC);
    }
    // Under the low watermark (160), over GFP_ATOMIC's 48: the slow path serves it.
    expect(small.pageAlloc.allocPages(0, 1, ATOMIC)).toBeGreaterThanOrEqual(0);
    expect(zone.nrReservedHighatomic).toBe(0);
    expect(blockCounts(small)[3]).toBe(0);
    expectConsistent(small);
  });
});

describe("the reserve and the watermarks (__zone_watermark_unusable_free(), rmqueue_buddy(), Linux 6.16)", () => {
  it("a GFP_KERNEL allocation counts no free highatomic page; GFP_NOWAIT and GFP_ATOMIC (ALLOC_RESERVES) count and take them", () => {
    const { k } = bothReserved();
    expect(k.pageAlloc.nodeFreePages(0)).toBe(582);
    // 582 free, all reserved: 582 - 582 = 0 usable, not over the min watermark of 512.
    expect(k.pageAlloc.allocPages(0, 0, GFP_KERNEL | __GFP_THISNODE)).toBe(-1);
    expect(k.pageAlloc.zoneWatermarkOk(0, 0, 0)).toBe(false);
    // ALLOC_NON_BLOCK is one of ALLOC_RESERVES: the reserve counts, and rmqueue_buddy() lets an
    // order-0 non-blocking allocation take it when its own lists are empty; down to the min mark.
    expect(allocUntilFail(k, GFP_NOWAIT)).toBe(512);
    // GFP_ATOMIC: 512 - 256 - 64 = 192 (37.5% of the min watermark).
    expect(allocUntilFail(k, GFP_ATOMIC)).toBe(192);
    expectConsistent(k);
  });

  it("a GFP_KERNEL allocation stops at the min watermark plus the reserve's free pages", () => {
    const { k, zone, held } = underLow();
    k.pageAlloc.allocPages(0, 4, ATOMIC);
    expect(zone.nrFreeHighatomic).toBe(72);
    // Give back 300 pages outside the reserved pageblock 0.
    for (const pfn of held.filter((p) => p >> 9 >= 2).slice(0, 300)) k.folioPut(k.folio(pfn));
    expect(k.pageAlloc.nodeFreePages(0)).toBe(584 + 300);
    expect(allocUntilFail(k, GFP_KERNEL)).toBe(512 + 72);
    expect(zone.nrFreeHighatomic).toBe(72);
    expectConsistent(k);
  });
});

describe("unreserve_highatomic_pageblock() (mm/page_alloc.c, Linux 6.16)", () => {
  it("without force keeps a zone's last reserved pageblock; should_reclaim_retry() forces it out before it gives up, and retries then", () => {
    const { k, zone } = bothReserved();
    const pa = k.pageAlloc;
    // __alloc_pages_direct_reclaim()'s drain: one pageblock back to the allocation's type.
    expect(pa.unreserveHighatomicPageblock(0, GFP_HIGHUSER_MOVABLE, null, false)).toBe(true);
    expect(zone.nrReservedHighatomic).toBe(512);
    expect(blockCounts(k)).toEqual([126, 1, 0, 1, 0]);
    expect(pa.unreserveHighatomicPageblock(0, GFP_HIGHUSER_MOVABLE, null, false)).toBe(false);
    expect(zone.nrReservedHighatomic).toBe(512);
    // should_reclaim_retry() past MAX_RECLAIM_RETRIES (16): "before OOM, exhaust
    // highatomic_reserve", and retry since a block moved.
    const loops = { noProgressLoops: 16 };
    expect(shouldReclaimRetry(k, GFP_KERNEL, 0, 0, null, false, loops)).toBe(true);
    expect(loops.noProgressLoops).toBe(17);
    expect(zone.nrReservedHighatomic).toBe(0);
    expect(zone.nrFreeHighatomic).toBe(0);
    expect(blockCounts(k)).toEqual([127, 1, 0, 0, 0]);
    expect(shouldReclaimRetry(k, GFP_KERNEL, 0, 0, null, false, loops)).toBe(false);
    expectConsistent(k);
  });

  it("after a direct reclaim that made progress but no page, the slow path gives back one pageblock and keeps the last (__alloc_pages_direct_reclaim(), force=false)", async () => {
    const k = boot({ daemons: "on-demand", nodes: ["256M"] });
    const zone = k.pageAlloc.zones[0]!;
    // 1000 clean page-cache pages for direct reclaim to free.
    const q = run(k.createProcess({ node: 0 }));
    const file = run(k.createFile("cache"));
    run(file.truncate(1000 * 4096));
    const c = run(q.mmap(1000 * 4096, { flags: MAP_SHARED, prot: PROT_READ, file }));
    run(q.read(c, 1000 * 4096));
    while (k.pageAlloc.nodeFreePages(0) > 600) {
      k.pageAlloc.allocPages(0, 0, __GFP_THISNODE | __GFP_MEMALLOC);
    }
    for (let i = 0; i < 8 && zone.nrReservedHighatomic < 1024; i++) {
      k.pageAlloc.allocPages(0, 1, ATOMIC);
    }
    expect(zone.nrReservedHighatomic).toBe(1024);
    const before = k.vmstat.snapshot();
    const r = await runP(
      allocPagesSlowpath(k, { nid: 0, order: 0, gfp: GFP_KERNEL | __GFP_THISNODE, nodemask: null }),
    );
    // One round: reclaim freed page cache, too little to clear the min watermark with the
    // reserve's free pages left out; one pageblock went back to GFP_KERNEL's unmovable type, and
    // the page came from it. The zone's last reserved pageblock stays.
    expect(k.vmstat.get("allocstall_normal") - before.allocstall_normal!).toBe(1);
    expect(k.vmstat.get("pgsteal_direct") - before.pgsteal_direct!).toBeGreaterThan(0);
    expect(r.page).toBeGreaterThanOrEqual(0);
    expect(zone.pageblockMigratetype(r.page)).toBe(MIGRATE_UNMOVABLE);
    expect(zone.nrReservedHighatomic).toBe(512);
    expect(blockCounts(k)[3]).toBe(1);
    expectConsistent(k);
  });

  it("a costly __GFP_RETRY_MAYFAIL allocation unreserves the pageblocks before it fails; a costly one without it stops first", async () => {
    const { k, zone } = bothReserved();
    const slowpath = (gfp: number) =>
      runP(allocPagesSlowpath(k, { nid: 0, order: 4, gfp: gfp | __GFP_THISNODE, nodemask: null }));
    // Order 4 is costly (above PAGE_ALLOC_COSTLY_ORDER): without __GFP_RETRY_MAYFAIL the slow path
    // stops after one reclaim and compaction, never reaching should_reclaim_retry().
    expect(await slowpath(GFP_KERNEL)).toEqual({ page: -1, outOfMemory: false });
    expect(zone.nrReservedHighatomic).toBe(1024);
    // With it, nothing to reclaim: should_reclaim_retry() gives one pageblock back to
    // GFP_KERNEL's unmovable type per call, until 582 - 15 free pages clear the min watermark
    // with no highatomic page left unusable.
    const r = await slowpath(GFP_KERNEL | __GFP_RETRY_MAYFAIL);
    expect(r.page).toBeGreaterThanOrEqual(0);
    expect(zone.nrReservedHighatomic).toBe(0);
    expect(blockCounts(k)).toEqual([128, 0, 0, 0, 0]);
    expect(zone.pageblockMigratetype(r.page)).toBe(MIGRATE_UNMOVABLE);
    expectConsistent(k);
  });
});

describe("__free_one_page() and the reserve (migratetype_is_mergeable(), Linux 6.16)", () => {
  it("a wholly free highatomic pageblock does not merge with its free unmovable buddy", () => {
    const { k, zone, held } = underLow();
    const a = k.pageAlloc.allocPages(0, 4, ATOMIC | __GFP_COMP);
    expect(zone.pageblockMigratetype(a)).toBe(MIGRATE_HIGHATOMIC);
    // Free everything pageblock 0 holds: it is a whole free pageblock again.
    k.folioPut(k.folio(a));
    for (const pfn of held.filter((p) => p >> 9 === 0)) k.folioPut(k.folio(pfn));
    expect(zone.nrFreeByType[9]![MIGRATE_HIGHATOMIC]).toBe(1);
    expect(zone.nrFreeByType[9]![MIGRATE_UNMOVABLE]).toBe(1);
    expect(zone.nrFree[10]).toBe(0);
    expect(zone.pageblockMigratetype(512)).toBe(MIGRATE_UNMOVABLE);
    // Forced out of the reserve (its last pageblock), the free order-9 block moves to the movable
    // list whole, and the reserve is empty.
    expect(k.pageAlloc.unreserveHighatomicPageblock(0, GFP_HIGHUSER_MOVABLE, null, true)).toBe(
      true,
    );
    expect(zone.pageblockMigratetype(0)).toBe(MIGRATE_MOVABLE);
    expect(zone.nrFreeByType[9]![MIGRATE_MOVABLE]).toBe(1);
    expect(zone.nrReservedHighatomic).toBe(0);
    expectConsistent(k);
  });
});

describe("the reserve's bounds (reserve_highatomic_pageblock(), unreserve_highatomic_pageblock(), Linux 6.16)", () => {
  it("whatever is allocated, freed and unreserved, the reserve is whole pageblocks, never above ALIGN(1% of the zone), and every reserved pageblock is highatomic", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("atomic" as const), order: fc.integer({ min: 1, max: 4 }) }),
      fc.record({ kind: fc.constant("kernel" as const), order: fc.integer({ min: 0, max: 2 }) }),
      fc.record({ kind: fc.constant("free" as const), at: fc.nat() }),
      fc.record({ kind: fc.constant("unreserve" as const), force: fc.boolean() }),
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 30 }), (ops) => {
        const { k, zone, held } = underLow();
        const pa = k.pageAlloc;
        const mine: Array<readonly [number, number]> = [];
        for (const o of ops) {
          if (o.kind === "atomic" || o.kind === "kernel") {
            const gfp = (o.kind === "atomic" ? GFP_ATOMIC : GFP_KERNEL) | __GFP_THISNODE;
            const pfn = pa.allocPages(0, o.order, gfp | __GFP_COMP);
            if (pfn >= 0) mine.push([pfn, o.order]);
          } else if (o.kind === "free") {
            const pool = mine.length ? mine.map(([p]) => p) : held;
            const i = o.at % pool.length;
            k.folioPut(k.folio(pool[i]!));
            if (mine.length) mine.splice(i, 1);
            else held.splice(i, 1);
          } else pa.unreserveHighatomicPageblock(0, GFP_HIGHUSER_MOVABLE, null, o.force);
          const blocks = zone.pageblockType.filter((t) => t === MIGRATE_HIGHATOMIC).length;
          expect(zone.nrReservedHighatomic % 512).toBe(0);
          expect(zone.nrReservedHighatomic).toBeLessThanOrEqual(1024);
          expect(zone.nrReservedHighatomic).toBe(blocks * 512);
        }
        expectConsistent(k);
      }),
      { numRuns: 8 },
    );
  });
});
