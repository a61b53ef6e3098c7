/**
 * alloc_contig_range() and alloc_contig_pages() (mm/page_alloc.c, Linux 6.16) over a range that
 * holds hugetlb folios and balloon (movable_ops) pages:
 *
 * - start_isolate_page_range() without MEMORY_OFFLINE: has_unmovable_pages() (mm/page_isolation.c)
 *   lets hugetlb folios (hugepage_migration_supported() on x86-64) and movable_ops pages pass, but
 *   not a hwpoisoned page that is still held;
 * - isolate_migratepages_block() with cc->alloc_contig (mm/compaction.c) isolates movable_ops
 *   pages and calls isolate_or_dissolve_huge_folio() (mm/hugetlb.c) for hugetlb folios: one in use
 *   is isolated and migrated, a free one is replaced by a fresh huge page of its node and
 *   dissolved (alloc_and_dissolve_hugetlb_folio()); replace_free_hugepage_folios() does the same
 *   for a migrated folio's source that went back to the pool; a gigantic folio, or no page for
 *   the replacement, is -ENOMEM, and alloc_contig_range() fails with it;
 * - alloc_contig_pages() does not even try a range with a hugetlb folio in it
 *   (pfn_range_valid_contig(), since Linux 6.3; 6.19 relaxes it for smaller hugetlb folios).
 */
import { Effect, Fiber } from "effect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  __GFP_BITS_MASK,
  __GFP_COMP,
  __GFP_HIGH,
  __GFP_MEMALLOC,
  __GFP_MOVABLE,
  __GFP_NOMEMALLOC,
  __GFP_NORETRY,
  __GFP_NOWARN,
  __GFP_RECLAIMABLE,
  __GFP_RETRY_MAYFAIL,
  __GFP_THISNODE,
  __GFP_ZERO,
  allocContigPages,
  allocContigRange,
  dissolveFreeHugetlbFolio,
  ERRNO,
  FolioList,
  folioGet,
  folioPut,
  GFP_KERNEL,
  htlbAllocMask,
  hugetlbReplacementSlowpath,
  type Kernel,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  MIGRATE_ISOLATE,
  MPOL_BIND,
  MR_CONTIG_RANGE,
  newHugetlbReplacement,
  PG_buddy,
  PG_hugetlb,
  PG_hwpoison,
  PG_lru,
  PROT_READ,
  PROT_WRITE,
  replaceFreeHugepageFolios,
  startIsolatePageRange,
  undoIsolatePageRange,
  VirtioBalloon,
} from "../../src/index";
import {
  boot,
  errnoOf,
  expectBytes,
  expectConsistent,
  folioAt,
  pattern,
  run,
  runP,
} from "../../src/testing/index";

const MiB = 2 ** 20;
/** An order-12 range: 16 MiB, above MAX_PAGE_ORDER, what alloc_contig_range() is for. */
const ORDER = 12;
const NR = 2 ** ORDER;
const NODE1_2M = "/sys/devices/system/node/node1/hugepages/hugepages-2048kB";

const read = (k: Kernel, path: string): string => run(k.fs.read(path)).trim();

/** Node 1's 2 MiB pool as its sysfs files read: nr_hugepages, free_hugepages, surplus_hugepages. */
const pool1 = (k: Kernel): string[] =>
  ["nr_hugepages", "free_hugepages", "surplus_hugepages"].map((f) => read(k, `${NODE1_2M}/${f}`));

/**
 * Node 1 (64 MiB: four order-12 ranges) with a pool of four 2 MiB pages, one of them mapped by a
 * process bound to node 1, and a balloon of eight pages on node 1. On a fresh node all of them
 * lie in its last 16 MiB; the first three ranges are then taken by alloc_contig_range() itself.
 */
const setup = async () => {
  const k = boot({ nodes: ["64M", "64M"] });
  run(k.fs.write(`${NODE1_2M}/nr_hugepages`, "4"));
  const proc = run(k.createProcess({ node: 1 }));
  run(proc.setMempolicy(MPOL_BIND, [1]));
  const addr = run(proc.mmap(2 * MiB, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
  run(proc.write(addr, pattern(2 * MiB, 5)));
  const inUse = folioAt(proc, addr).pfn;
  const balloon = new VirtioBalloon(k, { nid: 1 });
  expect(run(balloon.fillBalloon(8))).toBe(8);
  const base = k.pageAlloc.zones[1]!.startPfn;
  const last = base + 3 * NR;
  const inLast = (pfn: number) => pfn >= last && pfn < last + NR;
  const freeHuge = [...k.hstate.hugepageFreelists[1]!];
  expect(freeHuge).toHaveLength(3);
  expect([inUse, ...freeHuge, ...balloon.vbDevInfo.pages].every(inLast)).toBe(true);
  // The other three ranges: allocated (a kernel allocation, not movable) and kept.
  const pins: number[] = [];
  for (let i = 0; i < 3; i++)
    pins.push(await runP(allocContigRange(k, base + i * NR, ORDER, GFP_KERNEL | __GFP_COMP)));
  expect(pins).toEqual([base, base + NR, base + 2 * NR]);
  expect(pool1(k)).toEqual(["4", "3", "0"]);
  return { k, proc, addr, inUse, freeHuge, balloon, last, inLast, pins };
};

describe("alloc_contig_range() and alloc_contig_pages() refuse what they cannot take", () => {
  it("refuses a bad order, start, node or alignment with EINVAL, and the buddy lists stay whole", async () => {
    const k = boot({ nodes: ["32M", "32M"], sectionSize: "32M" });
    const free = k.pageAlloc.totalFreePages();
    const first = k.mem.nodes[0]!.startPfn;
    const last = k.mem.nodes[0]!.startPfn + k.mem.nodes[0]!.presentPages;
    const COMP = GFP_KERNEL | __GFP_COMP;
    const refused = async (
      effect: Effect.Effect<number, { readonly errno: string; readonly message: string }>,
    ) => {
      const error = await runP(Effect.flip(effect));
      return `${error.errno}: ${error.message}`;
    };
    expect([
      await refused(allocContigRange(k, first, Number.NaN, COMP)),
      await refused(allocContigRange(k, first, -1, GFP_KERNEL)),
      await refused(allocContigRange(k, first, 2.5, GFP_KERNEL)),
      await refused(allocContigRange(k, -1, 4, GFP_KERNEL)),
      await refused(allocContigRange(k, Number.NaN, 4, GFP_KERNEL)),
      await refused(allocContigRange(k, k.mem.maxPfn, 4, GFP_KERNEL)),
      await refused(allocContigRange(k, first + 1, 4, COMP)),
      await refused(allocContigRange(k, last - 8, 4, GFP_KERNEL)),
      await refused(allocContigRange(k, first, 40, GFP_KERNEL)),
      await refused(allocContigPages(k, Number.NaN, COMP, 0)),
      await refused(allocContigPages(k, -1, COMP, 0)),
      await refused(allocContigPages(k, 4, COMP, 2)),
    ]).toEqual([
      "EINVAL: alloc_contig_range: order NaN is not a whole number of at least 0",
      "EINVAL: alloc_contig_range: order -1 is not a whole number of at least 0",
      "EINVAL: alloc_contig_range: order 2.5 is not a whole number of at least 0",
      "EINVAL: alloc_contig_range: pfn -1 has no memory behind it",
      "EINVAL: alloc_contig_range: pfn NaN has no memory behind it",
      `EINVAL: alloc_contig_range: pfn ${k.mem.maxPfn} has no memory behind it`,
      `EINVAL: alloc_contig_range: pfn ${first + 1} is not aligned to a folio of order 4`,
      `EINVAL: alloc_contig_range: pfns ${last - 8}-${last + 7} reach past node 0's last pfn ${last - 1}`,
      `EINVAL: alloc_contig_range: pfns ${first}-${first + 2 ** 40 - 1} reach past node 0's last pfn ${last - 1}`,
      "EINVAL: alloc_contig_pages: order NaN is not a whole number of at least 0",
      "EINVAL: alloc_contig_pages: order -1 is not a whole number of at least 0",
      "EINVAL: alloc_contig_pages: node 2 does not exist (2 nodes)",
    ]);
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    expectConsistent(k);
  });
});

describe("alloc_contig_range() over hugetlb folios and balloon pages (Linux 6.16)", () => {
  it("alloc_contig_pages() skips a range holding hugetlb folios (pfn_range_valid_contig()): nothing moves", async () => {
    const { k, balloon, inUse, freeHuge } = await setup();
    const migrated = k.vmstat.get("pgmigrate_success");
    // The only range left on node 1 holds hugetlb folios: folio_alloc_gigantic() gets nothing.
    expect(await errnoOf(k.allocFolio(1, ORDER, __GFP_THISNODE))).toBe("ENOMEM");
    expect(k.vmstat.get("pgmigrate_success")).toBe(migrated);
    expect(k.vmstat.get("balloon_migrate")).toBe(0);
    expect(pool1(k)).toEqual(["4", "3", "0"]);
    expect([...k.hstate.hugepageFreelists[1]!]).toEqual(freeHuge);
    expect(k.memmap.test(inUse, PG_hugetlb)).toBe(true);
    expect(balloon.vbDevInfo.isolatedPages).toBe(0);
    expectConsistent(k);
  });

  it("a free hugetlb folio with no page on its node to replace it: ENOMEM, pool and balloon as they were", async () => {
    const { k, balloon, last, freeHuge } = await setup();
    const free = k.pageAlloc.nodeFreePages(1);
    // alloc_and_dissolve_hugetlb_folio() allocates with __GFP_THISNODE; node 1's only free
    // memory is inside the isolated range. The balloon pages isolated before it go back.
    expect(await errnoOf(allocContigRange(k, last, ORDER, GFP_KERNEL))).toBe("ENOMEM");
    expect(pool1(k)).toEqual(["4", "3", "0"]);
    expect([...k.hstate.hugepageFreelists[1]!]).toEqual(freeHuge);
    expect(balloon.vbDevInfo.isolatedPages).toBe(0);
    expect(balloon.numPages).toBe(8);
    expect(k.vmstat.get("balloon_migrate")).toBe(0);
    expect(k.pageAlloc.nodeFreePages(1)).toBe(free);
    expect(k.pageAlloc.zones[1]!.pageblockType.every((t) => t !== MIGRATE_ISOLATE)).toBe(true);
    expectConsistent(k);
  });

  it("ENOMEM midway (isolate_migratepages_range()): the balloon pageblock's 8 pages were isolated and counted in compact_isolated, then put back; the failing scan ends at the folio's last page", async () => {
    const { k, balloon, last, freeHuge, inUse } = await setup();
    const head = Math.min(...freeHuge);
    expect(head).toBeLessThan(inUse);
    const balloonBlock = Math.min(...balloon.vbDevInfo.pages);
    expect(balloonBlock % 512).toBe(0);
    expect([...balloon.vbDevInfo.pages].every((pfn) => pfn < balloonBlock + 512)).toBe(true);
    const isolatedBefore = k.vmstat.get("compact_isolated");
    const scans: [number, number, number, number][] = [];
    k.trace.subscribe((e) => {
      if (e.event === "mm_compaction_isolate_migratepages")
        scans.push([e.startPfn, e.endPfn, e.nrScanned, e.nrTaken]);
    });
    expect(await errnoOf(allocContigRange(k, last, ORDER, GFP_KERNEL))).toBe("ENOMEM");
    // One isolate_migratepages_range() call: 8 pages are under COMPACT_CLUSTER_MAX, so it goes
    // on pageblock by pageblock up to the free huge page. The first pageblock starts an order-10
    // free block, counted whole (1024 pages); the second scans that block's other half page by
    // page. The replacement's slow path compacts node 1 meanwhile (its own scans come between);
    // the hugetlb pageblock's scan then ends with -ENOMEM at the folio's last page, the break
    // skipping the loop's increment: 512 scanned, nothing taken.
    const expected: [number, number, number, number][] = [];
    for (let b = last; b < head; b += 512)
      expected.push([b, b + 512, b === last ? 1024 : 512, b === balloonBlock ? 8 : 0]);
    expect(scans.slice(0, expected.length)).toEqual(expected);
    expect(scans.at(-1)).toEqual([head, head + 511, 512, 0]);
    // The balloon pages were counted when their pageblock was scanned (count_compact_events());
    // the slow path's compaction took nothing.
    expect(scans.reduce((s, e) => s + e[3], 0)).toBe(8);
    expect(k.vmstat.get("compact_isolated") - isolatedBefore).toBe(8);
    // __alloc_contig_migrate_range() put them back (ret < 0): not migrated.
    expect(balloon.vbDevInfo.isolatedPages).toBe(0);
    expect(k.vmstat.get("balloon_migrate")).toBe(0);
    expect(pool1(k)).toEqual(["4", "3", "0"]);
    expectConsistent(k);
  });

  it("migrates the hugetlb folio in use and the balloon pages, replaces the free huge pages: the pool keeps 4 and 3 on node 1", async () => {
    const { k, proc, addr, balloon, last, inLast, inUse, pins } = await setup();
    // Room on node 1 outside the range for the replacements and the moved pages.
    folioPut(k, pins[0]!);
    const events: { reason: number; succeeded: number }[] = [];
    k.trace.subscribe((e) => {
      if (e.event === "mm_migrate_pages") events.push({ reason: e.reason, succeeded: e.succeeded });
    });
    const migrated = k.vmstat.get("pgmigrate_success");
    expect(await runP(allocContigRange(k, last, ORDER, GFP_KERNEL | __GFP_COMP))).toBe(last);
    // The range is one allocated folio now.
    expect(k.memmap.folioOrder(last)).toBe(ORDER);
    expect(k.memmap.refcount[last]).toBe(1);
    expect(k.memmap.test(last, PG_buddy)).toBe(false);
    // nr_hugepages, free_hugepages and surplus_hugepages of node 1 as before: the three free huge
    // pages were replaced on node 1 (alloc_and_dissolve_hugetlb_folio()), the one in use moved to
    // one of them and its source, back in the pool, was replaced too
    // (replace_free_hugepage_folios()).
    expect(pool1(k)).toEqual(["4", "3", "0"]);
    expect(read(k, "/proc/sys/vm/nr_hugepages")).toBe("4");
    const moved = folioAt(proc, addr).pfn;
    expect(moved).not.toBe(inUse);
    expect(inLast(moved)).toBe(false);
    expect(k.mem.pfnToNid(moved)).toBe(1);
    expect(k.memmap.test(moved, PG_hugetlb)).toBe(true);
    expectBytes(run(proc.read(addr, 2 * MiB)), pattern(2 * MiB, 5));
    for (const head of k.hstate.hugepageFreelists[1]!) expect(inLast(head)).toBe(false);
    // The balloon keeps its 8 pages, none isolated, all moved out (balloon_page_migrate()).
    expect(balloon.numPages).toBe(8);
    expect(balloon.vbDevInfo.isolatedPages).toBe(0);
    expect([...balloon.vbDevInfo.pages].some(inLast)).toBe(false);
    expect(k.vmstat.get("balloon_migrate")).toBe(8);
    // migrate_pages() for MR_CONTIG_RANGE moved 512 + 8 base pages: pgmigrate_success counts a
    // hugetlb folio's pages (migrate_hugetlbs()) and each movable_ops page.
    expect(k.vmstat.get("pgmigrate_success") - migrated).toBe(520);
    expect(events.every((e) => e.reason === MR_CONTIG_RANGE)).toBe(true);
    expect(events.reduce((s, e) => s + e.succeeded, 0)).toBe(520);
    expect(k.pageAlloc.zones[1]!.pageblockType.every((t) => t !== MIGRATE_ISOLATE)).toBe(true);
    expectConsistent(k);
    folioPut(k, last);
    expectConsistent(k);
  });

  it("a gigantic hugetlb folio in the range is ENOMEM at once (isolate_or_dissolve_huge_folio()): the 1 GiB pool as it was", async () => {
    const k = boot({ nodes: ["2G", "1G"] });
    const GIGA0 = "/sys/devices/system/node/node0/hugepages/hugepages-1048576kB";
    run(k.fs.write(`${GIGA0}/nr_hugepages`, "1"));
    const head = [...k.hstates.find((h) => h.order === 18)!.hugepageFreelists[0]!][0]!;
    expect(k.memmap.test(head, PG_hugetlb)).toBe(true);
    const free = k.pageAlloc.nodeFreePages(0);
    // A 16 MiB range inside the free 1 GiB page: has_unmovable_pages() lets it pass (x86-64
    // migrates 1 GiB hugetlb folios), the scan gives up on it with -ENOMEM.
    expect(await errnoOf(allocContigRange(k, head + NR, ORDER, GFP_KERNEL))).toBe("ENOMEM");
    expect(["nr_hugepages", "free_hugepages"].map((f) => read(k, `${GIGA0}/${f}`))).toEqual([
      "1",
      "1",
    ]);
    expect(k.memmap.test(head, PG_hugetlb)).toBe(true);
    expect(k.pageAlloc.nodeFreePages(0)).toBe(free);
    expect(k.pageAlloc.zones[0]!.pageblockType.every((t) => t !== MIGRATE_ISOLATE)).toBe(true);
    expectConsistent(k);
  });

  it("a soft-offlined page (hwpoisoned, still held) is unmovable without MEMORY_OFFLINE: EBUSY, nothing moved", async () => {
    const k = boot({ nodes: ["64M", "64M"] });
    const base = k.pageAlloc.zones[1]!.startPfn;
    const pfn = base + NR + 1234;
    run(
      k.fs.write("/sys/devices/system/memory/soft_offline_page", `0x${(pfn * 4096).toString(16)}`),
    );
    expect(k.memmap.test(pfn, PG_hwpoison)).toBe(true);
    expect(k.memmap.refcount[pfn]).toBe(1);
    const free = k.pageAlloc.nodeFreePages(1);
    expect(await errnoOf(allocContigRange(k, base + NR, ORDER, GFP_KERNEL))).toBe("EBUSY");
    expect(k.pageAlloc.nodeFreePages(1)).toBe(free);
    expect(k.pageAlloc.zones[1]!.pageblockType.every((t) => t !== MIGRATE_ISOLATE)).toBe(true);
    // The range next to it has no such page.
    expect(await runP(allocContigRange(k, base + 2 * NR, ORDER, GFP_KERNEL | __GFP_COMP))).toBe(
      base + 2 * NR,
    );
    expectConsistent(k);
  });
});

// alloc_and_dissolve_hugetlb_folio() (mm/hugetlb.c, Linux 6.16) replaces a free hugetlb folio with
// alloc_buddy_hugetlb_folio(h, htlb_alloc_mask(h) | __GFP_THISNODE, nid, NULL, NULL): one
// __alloc_pages() of GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOWARN | __GFP_THISNODE |
// __GFP_RETRY_MAYFAIL on the folio's node, whose slow path reclaims and compacts there while the
// scan that met the folio (isolate_migratepages_block() → isolate_or_dissolve_huge_folio(), or
// replace_free_hugepage_folios()) waits. No page: -ENOMEM, which isolate_migratepages_block()
// turns into the end of the scan (isolate_fail: what the block isolated goes back) and
// alloc_contig_range() into its failure with -ENOMEM (__alloc_contig_migrate_range()'s
// `ret && ret != -EBUSY`; replace_free_hugepage_folios()'s `if (ret) goto done`).
describe("a hugetlb replacement page takes the slow path on the folio's node (Linux 6.16)", () => {
  const PAGE = 4096;
  const ORDER_2M = 9;
  /**
   * Two 16 MiB nodes; node 1 with `pool` 2 MiB pool pages, then its free memory given to `cached`
   * clean page-cache pages of a task bound to it and to kernel allocations (`GFP_KERNEL |
   * __GFP_THISNODE` first tries until they fail): no free 2 MiB block is left on node 1, and only
   * reclaim can make one.
   */
  const setup = async (cached: number, pool = 1, inUse = false) => {
    // No kswapd: the slow path's direct reclaim alone frees node 1's page cache.
    const k = boot({ nodes: ["16M", "16M"], daemons: "on-demand" });
    run(k.fs.write(`${NODE1_2M}/nr_hugepages`, String(pool)));
    const q = run(k.createProcess({ node: 1 }));
    run(q.setMempolicy(MPOL_BIND, [1]));
    const addr = inUse
      ? run(q.mmap(2 * MiB, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }))
      : 0;
    if (inUse) run(q.write(addr, pattern(2 * MiB, 9)));
    if (cached) {
      const file = run(k.createFile("cache"));
      run(file.truncate(cached * PAGE));
      const c = run(q.mmap(cached * PAGE, { flags: MAP_SHARED, prot: PROT_READ, file }));
      await runP(q.read(c, cached * PAGE));
    }
    while (k.pageAlloc.allocPages(1, 0, GFP_KERNEL | __GFP_THISNODE) >= 0);
    expect(k.pageAlloc.allocPages(1, ORDER_2M, GFP_KERNEL | __GFP_THISNODE)).toBe(-1);
    return { k, q, addr };
  };
  /** The counters the slow path and the scan add to, as deltas from now. */
  const delta = (k: Kernel) => {
    const before = k.vmstat.snapshot();
    return (item: string) => k.vmstat.get(item) - before[item]!;
  };
  /** The `mm_compaction_isolate_migratepages` events of scans that start at `pfn`. */
  const scansFrom = (k: Kernel, pfn: number) => {
    const events: { endPfn: number; nrScanned: number; nrTaken: number }[] = [];
    k.trace.subscribe((e) => {
      if (e.event === "mm_compaction_isolate_migratepages" && e.startPfn === pfn)
        events.push({ endPfn: e.endPfn, nrScanned: e.nrScanned, nrTaken: e.nrTaken });
    });
    return events;
  };

  it("compaction's scan (isolate_or_dissolve_huge_folio()): the slow path reclaims node 1's page cache, the folio is replaced on node 1 and dissolved, and the range is allocated", async () => {
    const { k } = await setup(3000);
    const [head] = [...k.hstate.hugepageFreelists[1]!];
    const d = delta(k);
    const scans = scansFrom(k, head!);
    // Before, the replacement took only the first tries here: ENOMEM.
    expect(await runP(allocContigRange(k, head!, ORDER_2M, GFP_KERNEL | __GFP_COMP))).toBe(head);
    expect(k.memmap.folioOrder(head!)).toBe(ORDER_2M);
    expect(k.memmap.refcount[head!]).toBe(1);
    // nr_hugepages, free_hugepages, surplus_hugepages of node 1 as before, the new page on node 1
    // outside the range.
    expect(pool1(k)).toEqual(["1", "1", "0"]);
    const [fresh] = [...k.hstate.hugepageFreelists[1]!];
    expect(k.mem.pfnToNid(fresh!)).toBe(1);
    expect(fresh! >= head! + 512 || fresh! < head!).toBe(true);
    // One direct reclaim (__perform_reclaim()) made the 2 MiB block; no OOM killer.
    expect(d("allocstall_normal")).toBe(1);
    expect(d("pgsteal_direct")).toBeGreaterThanOrEqual(512);
    // The block is scanned once, as by the call that waited in alloc_and_dissolve_hugetlb_folio():
    // 1 page, then the dissolved folio's 511 others as one free order-9 block; nothing isolated.
    expect(scans).toEqual([{ endPfn: head! + 512, nrScanned: 512, nrTaken: 0 }]);
    expect(d("compact_isolated")).toBe(0);
    expect(k.pageAlloc.zones[1]!.pageblockType.every((t) => t !== MIGRATE_ISOLATE)).toBe(true);
    expectConsistent(k);
    folioPut(k, head!);
    expectConsistent(k);
  });

  it("compaction's scan with nothing to reclaim: one direct reclaim, no OOM killer (__GFP_RETRY_MAYFAIL, __GFP_THISNODE), -ENOMEM: alloc_contig_range() fails with ENOMEM, the pool and node 1 as they were", async () => {
    const { k } = await setup(0);
    const [head] = [...k.hstate.hugepageFreelists[1]!];
    const free = k.pageAlloc.nodeFreePages(1);
    const d = delta(k);
    const scans = scansFrom(k, head!);
    expect(await errnoOf(allocContigRange(k, head!, ORDER_2M, GFP_KERNEL))).toBe("ENOMEM");
    expect(d("allocstall_normal")).toBe(1);
    expect(pool1(k)).toEqual(["1", "1", "0"]);
    expect([...k.hstate.hugepageFreelists[1]!]).toEqual([head]);
    expect(k.memmap.test(head!, PG_hugetlb)).toBe(true);
    expect(k.pageAlloc.nodeFreePages(1)).toBe(free);
    // One scan of the block, stopped at the folio: its 512 pages counted once.
    expect(scans).toHaveLength(1);
    expect(scans[0]!.nrScanned).toBe(512);
    expect(scans[0]!.nrTaken).toBe(0);
    expect(k.pageAlloc.zones[1]!.pageblockType.every((t) => t !== MIGRATE_ISOLATE)).toBe(true);
    expectConsistent(k);
  });

  it("replace_free_hugepage_folios() over an isolated range: the slow path gets the replacement, 0; with nothing to reclaim, -ENOMEM and the folio stays", async () => {
    for (const [cached, rc] of [
      [3000, 0],
      [0, -ERRNO.ENOMEM],
    ] as const) {
      const { k } = await setup(cached);
      const [head] = [...k.hstate.hugepageFreelists[1]!];
      const d = delta(k);
      expect(startIsolatePageRange(k, head!, head! + 512, 0)).toBeNull();
      expect(await runP(replaceFreeHugepageFolios(k, head!, head! + 512))).toBe(rc);
      undoIsolatePageRange(k, head!, head! + 512);
      expect(d("allocstall_normal")).toBe(1);
      expect(pool1(k)).toEqual(["1", "1", "0"]);
      expect(k.memmap.test(head!, PG_hugetlb)).toBe(rc !== 0);
      expect(k.memmap.test(head!, PG_buddy)).toBe(rc === 0);
      expectConsistent(k);
    }
  });

  it("alloc_and_dissolve_hugetlb_folio()'s retry after the slow path: a folio grabbed meanwhile is isolated, one freed from under it is left, and either way the new page goes back (free_new)", async () => {
    for (const meanwhile of ["grabbed", "dissolved"] as const) {
      const { k, q } = await setup(3000);
      const [head] = [...k.hstate.hugepageFreelists[1]!];
      const list = new FolioList(k.memmap.lru);
      const rep = newHugetlbReplacement();
      // The first tries fail: the request is the kernel's, on the folio's node.
      expect(k.hstate.isolateOrDissolveHugeFolio(head!, list, null, rep)).toBeNull();
      expect(rep.request).toEqual({
        nid: 1,
        order: ORDER_2M,
        gfp: htlbAllocMask(k.hstate) | __GFP_THISNODE | __GFP_RETRY_MAYFAIL,
        nodemask: null,
        failedByInjection: false,
      });
      expect(rep.folio).toBe(head);
      await runP(hugetlbReplacementSlowpath(k, rep));
      expect(rep.page).toBeGreaterThanOrEqual(0);
      let addr = 0;
      if (meanwhile === "grabbed") {
        addr = run(q.mmap(2 * MiB, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
        run(q.write(addr, new Uint8Array([1])));
        expect(folioAt(q, addr).pfn).toBe(head);
      } else {
        expect(dissolveFreeHugetlbFolio(k, head!)).toBe(0);
      }
      const free = k.pageAlloc.nodeFreePages(1);
      expect(k.hstate.isolateOrDissolveHugeFolio(head!, list, null, rep)).toBe(0);
      expect(k.pageAlloc.nodeFreePages(1)).toBe(free + 512);
      expect(rep).toEqual({ request: null, folio: -1, page: -1 });
      expect([...list]).toEqual(meanwhile === "grabbed" ? [head] : []);
      for (const folio of list) {
        list.del(folio);
        k.hugetlbActive.putback(folio);
      }
      expect(pool1(k)).toEqual(meanwhile === "grabbed" ? ["1", "0", "0"] : ["0", "0", "0"]);
      expectConsistent(k);
    }
  });

  it("a hugetlb folio in use: moved to node 1's free pool page, its source back in the pool replaced after the slow path reclaims (pool 2 and 1 on node 1 as before)", async () => {
    const { k, q, addr } = await setup(2500, 2, true);
    const inUse = folioAt(q, addr).pfn;
    expect(pool1(k)).toEqual(["2", "1", "0"]);
    const d = delta(k);
    expect(await runP(allocContigRange(k, inUse, ORDER_2M, GFP_KERNEL | __GFP_COMP))).toBe(inUse);
    const moved = folioAt(q, addr).pfn;
    expect(moved).not.toBe(inUse);
    expect(k.mem.pfnToNid(moved)).toBe(1);
    expectBytes(run(q.read(addr, 2 * MiB)), pattern(2 * MiB, 9));
    expect(pool1(k)).toEqual(["2", "1", "0"]);
    expect(d("allocstall_normal")).toBe(1);
    expect(d("pgmigrate_success")).toBe(512);
    expectConsistent(k);
    folioPut(k, inUse);
    expectConsistent(k);
  });
});

// __alloc_contig_migrate_range() (mm/page_alloc.c, Linux 6.16) migrates a range in batches: while
// the range is not scanned or the list not empty, an empty list is refilled by
// isolate_migratepages_range(cc, pfn, end) (mm/compaction.c), which scans pageblock by pageblock
// from cc->migrate_pfn and stops once cc->nr_migratepages reaches COMPACT_CLUSTER_MAX (32), the
// block scan ending just past that folio (isolate_migratepages_block(): `++low_pfn; break`), each
// block scan counting compact_isolated and emitting one mm_compaction_isolate_migratepages; the
// batch goes to migrate_pages(). `tries` counts only rounds that left folios on the list in a row,
// reset by each new batch: the fifth is -EBUSY, which alloc_contig_range() lets through to
// test_pages_isolated(), EBUSY there.
describe("alloc_contig_range() migrates in batches of COMPACT_CLUSTER_MAX, pageblock by pageblock (Linux 6.16)", () => {
  const PAGE = 4096;
  /**
   * Node 1 (64 MiB) with `n` anonymous pages of a task bound to node 1, written with their index;
   * on a fresh node they are one run of PFNs starting on an order-10 boundary.
   */
  const anon = (n: number) => {
    const k = boot({ nodes: ["64M", "64M"] });
    const p = run(k.createProcess({ node: 1 }));
    run(p.setMempolicy(MPOL_BIND, [1]));
    const addr = run(p.mmap(n * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    for (let i = 0; i < n; i++) run(p.write(addr + i * PAGE, new Uint8Array([i & 0xff])));
    const first = folioAt(p, addr).pfn;
    expect(first % 1024).toBe(0);
    for (let i = 0; i < n; i++) expect(folioAt(p, addr + i * PAGE).pfn).toBe(first + i);
    expect(k.memmap.folioNrPages(first)).toBe(1);
    return { k, p, addr, first };
  };
  type Ev = [startPfn: number, endPfn: number, nrScanned: number, nrTaken: number];
  /** The scans (`mm_compaction_isolate_migratepages`) and the `migrate_pages()` rounds, in order. */
  const record = (k: Kernel) => {
    const scans: Ev[] = [];
    const rounds: [succeeded: number, failed: number][] = [];
    k.trace.subscribe((e) => {
      if (e.event === "mm_compaction_isolate_migratepages")
        scans.push([e.startPfn, e.endPfn, e.nrScanned, e.nrTaken]);
      if (e.event === "mm_migrate_pages") rounds.push([e.succeeded, e.failed]);
    });
    return { scans, rounds };
  };

  it("600 pages over two pageblocks: 19 scans of 32 pages, 32, ..., then 24 and the free rest; 19 migrate_pages() rounds; compact_isolated 600", async () => {
    const { k, p, addr, first } = await anon(600);
    const isolatedBefore = k.vmstat.get("compact_isolated");
    const { scans, rounds } = record(k);
    expect(await runP(allocContigRange(k, first, 10, GFP_KERNEL | __GFP_COMP))).toBe(first);
    // Pageblock 0 holds pages 0..511: 16 batches of 32, the 16th ending at the block's end; the
    // next call starts pageblock 1 (pages 512..599): two batches of 32, then 24 pages and the
    // block's free pages to its end, 448 scanned.
    const expected: Ev[] = [];
    for (let i = 0; i < 18; i++) expected.push([first + 32 * i, first + 32 * (i + 1), 32, 32]);
    expected.push([first + 576, first + 1024, 448, 24]);
    expect(scans).toEqual(expected);
    // One migrate_pages() per batch: 19 rounds, more than five, none failed.
    expect(rounds).toEqual([...Array(18).fill([32, 0]), [24, 0]]);
    expect(k.vmstat.get("compact_isolated") - isolatedBefore).toBe(600);
    for (let i = 0; i < 600; i += 37) {
      expect(
        folioAt(p, addr + i * PAGE).pfn >= first + 1024 || folioAt(p, addr + i * PAGE).pfn < first,
      ).toBe(true);
      expect([...run(p.read(addr + i * PAGE, 1))]).toEqual([i & 0xff]);
    }
    expectConsistent(k);
    folioPut(k, first);
    expectConsistent(k);
  });

  it("clean page cache in a batch is freed, not migrated (reclaim_clean_pages_from_list()); a dirty page is migrated", async () => {
    const k = boot({ nodes: ["64M", "64M"] });
    const p = run(k.createProcess({ node: 1 }));
    run(p.setMempolicy(MPOL_BIND, [1]));
    const file = run(k.createFile("cache"));
    run(file.truncate(40 * PAGE));
    const c = run(p.mmap(40 * PAGE, { flags: MAP_SHARED, prot: PROT_READ | PROT_WRITE, file }));
    await runP(p.read(c, 40 * PAGE));
    run(p.write(c + 5 * PAGE, new Uint8Array([7])));
    const first = folioAt(p, c).pfn;
    expect(first % 1024).toBe(0);
    for (let i = 0; i < 40; i++) expect(folioAt(p, c + i * PAGE).pfn).toBe(first + i);
    const migrated = k.vmstat.get("pgmigrate_success");
    const isolatedBefore = k.vmstat.get("compact_isolated");
    const { scans, rounds } = record(k);
    expect(await runP(allocContigRange(k, first, 10, GFP_KERNEL | __GFP_COMP))).toBe(first);
    // Two batches: 32 pages, then 8 and the rest of the range. Of the first, the 31 clean pages
    // are unmapped and dropped from the page cache (shrink_folio_list() with
    // ignore_references), the dirty one migrated; the second is all clean: migrate_pages() of an
    // empty list.
    expect(scans).toEqual([
      [first, first + 32, 32, 32],
      [first + 32, first + 512, 480, 8],
      [first + 512, first + 1024, 512, 0],
    ]);
    expect(rounds).toEqual([
      [1, 0],
      [0, 0],
    ]);
    expect(k.vmstat.get("pgmigrate_success") - migrated).toBe(1);
    expect(k.vmstat.get("compact_isolated") - isolatedBefore).toBe(40);
    // The dirty page moved with its byte; a clean one reads back from the file (zeros) into a
    // new page cache page outside the range.
    expect([...run(p.read(c + 5 * PAGE, 1))]).toEqual([7]);
    expect([...run(p.read(c + 6 * PAGE, 1))]).toEqual([0]);
    for (const i of [5, 6, 39]) {
      const pfn = folioAt(p, c + i * PAGE).pfn;
      expect(pfn < first || pfn >= first + 1024).toBe(true);
    }
    expectConsistent(k);
    folioPut(k, first);
    expectConsistent(k);
  });

  it("a fatal signal between batches (the kernel shutting down): -EINTR, the next batch never isolated, the range's pageblocks movable again", async () => {
    const { k, p, addr, first } = await anon(100);
    const { scans, rounds } = record(k);
    let down: Fiber.Fiber<void, unknown> | null = null;
    k.trace.subscribe((e) => {
      if (e.event === "mm_migrate_pages" && !down) down = Effect.runFork(k.shutdown());
    });
    // __alloc_contig_migrate_range() checks fatal_signal_pending() before each batch; -EINTR is
    // not -EBUSY, so alloc_contig_range() returns it.
    expect(await errnoOf(allocContigRange(k, first, 10, GFP_KERNEL | __GFP_COMP))).toBe("EINTR");
    expect(scans).toEqual([[first, first + 32, 32, 32]]);
    expect(rounds).toEqual([[32, 0]]);
    for (let i = 32; i < 100; i++) expect(folioAt(p, addr + i * PAGE).pfn).toBe(first + i);
    expect(k.pageAlloc.zones[1]!.pageblockType.every((t) => t !== MIGRATE_ISOLATE)).toBe(true);
    await runP(Fiber.join(down!));
    expect(k.state).toBe("down");
  });

  // The caller's own SIGKILL is the same fatal signal (fatal_signal_pending(current), Linux 6.16):
  // an OOM victim still inside its call stops there too, the kernel running on.
  it("SIGKILL pending for the caller between batches: -EINTR, the next batch never isolated, the range's pageblocks movable again", async () => {
    const { k, p, addr, first } = await anon(100);
    const { scans, rounds } = record(k);
    const caller = { flags: 0, nid: 1, sigkillPending: false };
    k.trace.subscribe((e) => {
      if (e.event === "mm_migrate_pages") caller.sigkillPending = true;
    });
    const err = await runP(
      Effect.flip(allocContigRange(k, first, 10, GFP_KERNEL | __GFP_COMP, caller)),
    );
    expect(err.errno).toBe("EINTR");
    expect(err.message).toContain("a fatal signal: SIGKILL is pending for the caller");
    expect(scans).toEqual([[first, first + 32, 32, 32]]);
    expect(rounds).toEqual([[32, 0]]);
    for (let i = 32; i < 100; i++) expect(folioAt(p, addr + i * PAGE).pfn).toBe(first + i);
    expect(k.pageAlloc.zones[1]!.pageblockType.every((t) => t !== MIGRATE_ISOLATE)).toBe(true);
    expect(k.state).toBe("running");
    expectConsistent(k);
  });

  it("a fatal signal during a long scan that isolates little (isolate_migratepages_block() looks every COMPACT_CLUSTER_MAX PFNs): -EINTR at the next pageblock's first PFN, nothing migrated", async () => {
    // 20 pages in pageblock 0, then 80 in pageblock 1 (pages 20..519 unmapped): pageblock 0's
    // scan isolates 20, fewer than a batch, so the same isolate_migratepages_range() call goes on
    // into pageblock 1.
    const { k, p, addr, first } = await anon(600);
    run(p.munmap(addr + 20 * PAGE, 500 * PAGE));
    const isolatedBefore = k.vmstat.get("compact_isolated");
    const { scans, rounds } = record(k);
    let down: Fiber.Fiber<void, unknown> | null = null;
    k.trace.subscribe((e) => {
      if (e.event === "mm_compaction_isolate_migratepages" && !down)
        down = Effect.runFork(k.shutdown());
    });
    expect(await errnoOf(allocContigRange(k, first, 10, GFP_KERNEL | __GFP_COMP))).toBe("EINTR");
    // The kernel starts shutting down once pageblock 0 is scanned (512 PFNs, 20 isolated). At
    // pageblock 1's first PFN (a multiple of COMPACT_CLUSTER_MAX) the scan finds the fatal signal
    // and stops (fatal_pending: no trace event for it); isolate_migratepages_range() returns
    // -EINTR, __alloc_contig_migrate_range() breaks out before migrate_pages() and puts the 20
    // pages back. Looking only before each batch, pageblock 1's scan would have gone on to take 12
    // more pages and migrated all 32.
    expect(scans).toEqual([[first, first + 512, 512, 20]]);
    expect(rounds).toEqual([]);
    expect(k.vmstat.get("compact_isolated") - isolatedBefore).toBe(20);
    for (let i = 0; i < 20; i++) {
      expect(folioAt(p, addr + i * PAGE).pfn).toBe(first + i);
      expect(k.memmap.test(first + i, PG_lru)).toBe(true);
    }
    for (let i = 520; i < 600; i++) expect(folioAt(p, addr + i * PAGE).pfn).toBe(first + i);
    expect(k.pageAlloc.zones[1]!.pageblockType.every((t) => t !== MIGRATE_ISOLATE)).toBe(true);
    await runP(Fiber.join(down!));
    expect(k.state).toBe("down");
  });

  it("a page pinned after isolation fails its batch five rounds in a row: -EBUSY, the rest of the range not scanned, alloc_contig_range() EBUSY", async () => {
    const { k, p, addr, first } = await anon(100);
    const isolatedBefore = k.vmstat.get("compact_isolated");
    const { scans, rounds } = record(k);
    // A reference taken once the first batch is isolated (a racing get_user_pages()):
    // folio_migrate_mapping() finds more references than it expects, -EAGAIN every time.
    const pinned = first + 6;
    let pins = 0;
    k.trace.subscribe((e) => {
      if (e.event === "mm_compaction_isolate_migratepages" && !pins++) folioGet(k, pinned);
    });
    expect(await errnoOf(allocContigRange(k, first, 10, GFP_KERNEL | __GFP_COMP))).toBe("EBUSY");
    // One scan: the first 32 pages. The batch: 31 moved, the pinned one failed, then four more
    // rounds (tries 1..4) of the pinned page alone; the fifth try is -EBUSY.
    expect(scans).toEqual([[first, first + 32, 32, 32]]);
    expect(rounds).toEqual([
      [31, 1],
      [0, 1],
      [0, 1],
      [0, 1],
      [0, 1],
    ]);
    expect(k.vmstat.get("compact_isolated") - isolatedBefore).toBe(32);
    // The pinned page went back to the LRU; pages 32..99 were never isolated and stay put.
    expect(k.memmap.test(pinned, PG_lru)).toBe(true);
    expect(folioAt(p, addr + 6 * PAGE).pfn).toBe(pinned);
    for (let i = 32; i < 100; i++) expect(folioAt(p, addr + i * PAGE).pfn).toBe(first + i);
    expect(k.pageAlloc.zones[1]!.pageblockType.every((t) => t !== MIGRATE_ISOLATE)).toBe(true);
    folioPut(k, pinned);
    expectConsistent(k);
  });
});

describe("alloc_contig_range()'s gfp flags (__alloc_contig_verify_gfp_mask(), mm/page_alloc.c, Linux 6.16)", () => {
  /** The flags of the model it refuses with -EINVAL: no __GFP_NORETRY, no reserves. */
  const REFUSED: readonly (readonly [number, string])[] = [
    [__GFP_NORETRY, "__GFP_NORETRY"],
    [__GFP_HIGH, "__GFP_HIGH"],
    [__GFP_MEMALLOC, "__GFP_MEMALLOC"],
    [__GFP_NOMEMALLOC, "__GFP_NOMEMALLOC"],
  ];
  const refusedMask = REFUSED.reduce((m, [flag]) => m | flag, 0);

  /** The error of a call that must fail. */
  const refusal = (k: Kernel, start: number, gfp: number) =>
    Effect.runPromise(Effect.flip(allocContigRange(k, start, ORDER, gfp)));

  /** What a refused call must leave as it was. */
  const snapshot = (k: Kernel, start: number) => ({
    free: k.pageAlloc.nodeFreePages(1),
    migrated: k.vmstat.get("pgmigrate_success"),
    pool: pool1(k),
    freeHuge: [...k.hstate.hugepageFreelists[1]!],
    isolated: Array.from({ length: NR / 512 }, (_, i) =>
      k.pageAlloc.zones[1]!.pageblockMigratetype(start + i * 512),
    ).filter((mt) => mt === MIGRATE_ISOLATE).length,
  });

  it("EINVAL naming the flag for __GFP_NORETRY, __GFP_HIGH, __GFP_MEMALLOC, __GFP_NOMEMALLOC; nothing moves", async () => {
    const { k, last, balloon, inUse } = await setup();
    const before = snapshot(k, last);
    for (const [flag, name] of REFUSED) {
      const err = await refusal(k, last, GFP_KERNEL | flag);
      expect(err.errno).toBe("EINVAL");
      expect(err.message).toContain(name);
    }
    expect(snapshot(k, last)).toEqual(before);
    expect(k.memmap.test(inUse, PG_hugetlb)).toBe(true);
    expect(balloon.vbDevInfo.isolatedPages).toBe(0);
    expect(k.vmstat.get("balloon_migrate")).toBe(0);
    expectConsistent(k);
  });

  it("any mask holding a refused flag is EINVAL and changes nothing (property)", async () => {
    const { k, last } = await setup();
    const before = snapshot(k, last);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: __GFP_BITS_MASK }),
        fc.integer({ min: 1, max: refusedMask }).map((r) => r & refusedMask),
        async (gfp, refused) => {
          fc.pre(refused !== 0);
          const mask = gfp | refused;
          const err = await refusal(k, last, mask);
          expect(err.errno).toBe("EINVAL");
          for (const [flag, name] of REFUSED)
            expect(err.message.includes(name)).toBe((mask & flag) !== 0);
        },
      ),
      { numRuns: 50 },
    );
    expect(snapshot(k, last)).toEqual(before);
  });

  it("the placement and mobility hints are ignored and the allowed modifiers taken: the range is allocated", async () => {
    const k = boot({ nodes: ["64M", "64M"] });
    const base = k.pageAlloc.zones[1]!.startPfn;
    const gfp =
      GFP_KERNEL |
      __GFP_THISNODE |
      __GFP_MOVABLE |
      __GFP_RECLAIMABLE |
      __GFP_COMP |
      __GFP_NOWARN |
      __GFP_ZERO |
      __GFP_RETRY_MAYFAIL;
    expect(await runP(allocContigRange(k, base, ORDER, gfp))).toBe(base);
    expect(k.memmap.test(base, PG_buddy)).toBe(false);
    expectConsistent(k);
  });

  it("alloc_contig_pages() and folio_alloc_gigantic() get nothing with a refused flag (NULL: ENOMEM), and nothing moves", async () => {
    const k = boot({ nodes: ["64M", "64M"] });
    const base = k.pageAlloc.zones[1]!.startPfn;
    const before = snapshot(k, base);
    expect(
      await runP(allocContigPages(k, ORDER, GFP_KERNEL | __GFP_THISNODE | __GFP_HIGH, 1)),
    ).toBe(-1);
    expect(await errnoOf(k.allocFolio(1, ORDER, __GFP_THISNODE | __GFP_NORETRY))).toBe("ENOMEM");
    expect(snapshot(k, base)).toEqual(before);
    // The same call without it gets the node's first range.
    expect(await runP(allocContigPages(k, ORDER, GFP_KERNEL | __GFP_THISNODE, 1))).toBe(base);
    expectConsistent(k);
  });
});
