import { Effect, Fiber } from "effect";
import { TestClock } from "effect/testing";
import { describe, expect, it } from "vitest";
import {
  __GFP_THISNODE,
  CompactResult,
  compactGap,
  compactionSuitable,
  compactionZonelistSuitable,
  compactNode,
  compactZone,
  extfragForOrder,
  type Folio,
  fragmentationIndex,
  fragmentationScoreNode,
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
  GFP_KERNEL_RECLAIMABLE,
  type Kernel,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  MIGRATE_RECLAIMABLE,
  MIGRATE_SYNC,
  MPOL_BIND,
  MR_COMPACTION,
  MR_SYSCALL,
  PF_MEMALLOC,
  type TraceEvent,
  VirtioBalloon,
  WMARK_HIGH,
  WMARK_LOW,
  WMARK_MIN,
} from "../../src/index";
import { isHugeZeroPmd } from "../../src/mm/huge_memory";
import {
  boot,
  bootNoProactive,
  errnoOf,
  expectConsistent,
  expectErrno,
  folioAt,
  fragmentNode,
  recordingMigrator,
  run,
  runP,
  waitUntil,
} from "../../src/testing/index";

const MiB = 2 ** 20;

/** Every event of the run, for sums the kernel's counters must equal. */
const record = (k: Kernel): TraceEvent[] => {
  const events: TraceEvent[] = [];
  k.trace.subscribe((e) => events.push(e));
  return events;
};

const sum = (events: TraceEvent[], event: string, field: "nrScanned" | "nrTaken"): number =>
  events.reduce(
    (s, e) =>
      e.event === event && field in e ? s + (e as unknown as Record<string, number>)[field]! : s,
    0,
  );

/** A process bound to `nid` whose next write to a fresh 2 MiB-aligned range is a THP fault. */
const thpFaulter = (k: Kernel, nid: number, hugepage = false) =>
  Effect.gen(function* () {
    const proc = yield* k.createProcess({ node: nid });
    yield* proc.setMempolicy(MPOL_BIND, [nid]);
    const flags = MAP_PRIVATE | MAP_ANONYMOUS;
    const addr = yield* proc.mmap(8 * MiB, hugepage ? { flags, hugepage } : { flags });
    return { proc, addr };
  });

const delta = (k: Kernel) => {
  const before = k.vmstat.snapshot();
  return (item: string) => k.vmstat.get(item) - before[item]!;
};

describe("the buddy allocator's orders and pageblocks", () => {
  it("prints /proc/buddyinfo as frag_show_print() does: 11 orders, each %6lu and a space", () => {
    // 4 MiB nodes: one MAX_PAGE_ORDER (10) block each; the zero page split node 0's down.
    const k = boot({ nodes: ["4M", "4M"] });
    expect(run(k.fs.read("/proc/buddyinfo"))).toBe(
      "Node 0, zone   Normal      1      1      1      1      1      1      1      1      1      1      0 \n" +
        "Node 1, zone   Normal      0      0      0      0      0      0      0      0      0      0      1 \n",
    );
  });

  it("an unmovable allocation claims the movable block it falls back to, a movable one claims it back (__rmqueue_fallback)", () => {
    const k = boot({ nodes: ["4M", "4M"] });
    const blocks = () =>
      run(k.fs.read("/proc/pagetypeinfo"))
        .split("\n")
        .filter((l) => l.startsWith("Node 1, zone"))[0];
    // pagetypeinfo_showblockcount_print(): Unmovable Movable Reclaimable HighAtomic Isolate.
    expect(blocks()).toBe(
      "Node 1, zone   Normal            0            2            0            0            0 ",
    );
    const kernelPage = run(k.allocFolio(1, 0, GFP_KERNEL | __GFP_THISNODE));
    // The order-10 block was above pageblock_order: both its pageblocks became unmovable.
    expect(blocks()).toBe(
      "Node 1, zone   Normal            2            0            0            0            0 ",
    );
    const userPage = k.pageAlloc.allocPages(1, 0, GFP_HIGHUSER_MOVABLE | __GFP_THISNODE);
    // The largest unmovable block, order 9, is a whole pageblock: claimed for movable.
    expect(blocks()).toBe(
      "Node 1, zone   Normal            1            1            0            0            0 ",
    );
    expect(k.pageAlloc.zones[1]!.pageblockMigratetype(userPage)).toBe(1);
    expect(k.pageAlloc.zones[1]!.pageblockMigratetype(kernelPage.pfn)).toBe(0);
    k.folioPut(kernelPage);
    k.folioPut(k.folio(userPage));
    expect(k.pageAlloc.largestFreeOrder(1)).toBe(10);
    expectConsistent(k);
  });

  it("puts GFP_KERNEL_RECLAIMABLE memory in a reclaimable pageblock (gfp_migratetype)", () => {
    const k = boot({ nodes: ["4M", "4M"] });
    const folio = run(k.allocFolio(1, 0, GFP_KERNEL_RECLAIMABLE | __GFP_THISNODE));
    expect(k.pageAlloc.zones[1]!.pageblockMigratetype(folio.pfn)).toBe(MIGRATE_RECLAIMABLE);
    const blocks = run(k.fs.read("/proc/pagetypeinfo"))
      .split("\n")
      .filter((l) => l.startsWith("Node 1, zone"))[0];
    expect(blocks).toBe(
      "Node 1, zone   Normal            0            0            2            0            0 ",
    );
    k.folioPut(folio);
    expectConsistent(k);
  });

  it("prints /proc/pagetypeinfo's header and free counts per type (pagetypeinfo_show)", () => {
    const k = boot({ nodes: ["4M", "4M"] });
    const lines = run(k.fs.read("/proc/pagetypeinfo")).split("\n");
    expect(lines.slice(0, 4)).toEqual([
      "Page block order: 9",
      "Pages per block:  512",
      "",
      "Free pages count per migrate type at order       0      1      2      3      4      5      6      7      8      9     10 ",
    ]);
    expect(lines).toContain(
      "Node    1, zone   Normal, type      Movable      0      0      0      0      0      0      0      0      0      0      1 ",
    );
    expectErrno(k.fs.write("/proc/pagetypeinfo", "1"), "EACCES");
  });

  it("allocates folios above MAX_PAGE_ORDER with alloc_contig_pages, migrating what is in the way (MR_CONTIG_RANGE)", async () => {
    const k = bootNoProactive({ nodes: ["64M", "64M"] });
    const events = record(k);
    const frag = await runP(fragmentNode(k, { nid: 1 }));
    const d = delta(k);
    // Order 12 (16 MiB) is above MAX_PAGE_ORDER: no free list holds it.
    const folio = await runP(k.allocFolio(1, 12, __GFP_THISNODE));
    expect(folio.order).toBe(12);
    expect(folio.pfn % 4096).toBe(0);
    expect(d("pgmigrate_success")).toBeGreaterThan(0);
    const reasons = events.flatMap((e) => (e.event === "mm_migrate_pages" ? [e.reason] : []));
    expect(new Set(reasons)).toEqual(new Set([6])); // MR_CONTIG_RANGE
    expect(await runP(frag.intact())).toBe(true);
    const free = k.pageAlloc.nodeFreePages(1);
    k.folioPut(folio);
    expect(k.pageAlloc.nodeFreePages(1)).toBe(free + 4096);
    // Order 19 is above the PUD order; 13 does not fit among unmovable pages everywhere.
    expectErrno(k.allocFolio(1, 19), "EINVAL");
    const pinned = run(k.fragment(0, 8));
    expect(await errnoOf(k.allocFolio(0, 11, __GFP_THISNODE))).toBe("ENOMEM");
    pinned.release();
    await runP(frag.release());
    expectConsistent(k);
  });
});

describe("compaction (mm/compaction.c)", () => {
  it("a THP fault on a fragmented node falls back; after compact_memory the next one gets a THP, bytes intact", async () => {
    const k = bootNoProactive({ thp: { enabled: "always" } });
    const frag = await runP(fragmentNode(k, { nid: 1, unmovableEvery: 512, pageCacheEvery: 8 }));
    expect(k.pageAlloc.largestFreeOrder(1)).toBeLessThan(9);
    const { proc, addr } = await runP(thpFaulter(k, 1));
    const d = delta(k);
    await runP(proc.write(addr, new Uint8Array(4096).fill(7)));
    // No MADV_HUGEPAGE: GFP_TRANSHUGE_LIGHT, no direct compaction, a fallback.
    expect(d("thp_fault_fallback")).toBe(1);
    expect(d("thp_fault_alloc")).toBe(0);
    expect(d("compact_stall")).toBe(0);

    const events = record(k);
    expect(await runP(k.fs.write("/proc/sys/vm/compact_memory", "1"))).toBe(1);
    expect(k.pageAlloc.largestFreeOrder(1)).toBeGreaterThanOrEqual(9);
    await runP(proc.write(addr + 2 * MiB, new Uint8Array(4096).fill(8)));
    expect(d("thp_fault_alloc")).toBe(1);
    expect(await runP(frag.intact())).toBe(true);
    expect([...run(proc.read(addr, 4096))].every((b) => b === 7)).toBe(true);

    // The counters are what the scanners' trace events add up to (isolate_*_block() and
    // compact_zone() count them so); compact_memory is no allocation: no stall, success or fail.
    expect(d("compact_migrate_scanned")).toBe(
      sum(events, "mm_compaction_isolate_migratepages", "nrScanned"),
    );
    expect(d("compact_free_scanned")).toBe(
      sum(events, "mm_compaction_isolate_freepages", "nrScanned"),
    );
    expect(d("compact_isolated")).toBe(
      sum(events, "mm_compaction_isolate_migratepages", "nrTaken") +
        sum(events, "mm_compaction_isolate_freepages", "nrTaken"),
    );
    expect(d("compact_migrate_scanned")).toBeGreaterThan(0);
    expect(d("pgmigrate_success")).toBe(
      events.reduce((s, e) => (e.event === "mm_compaction_migratepages" ? s + e.nrMigrated : s), 0),
    );
    expect(d("pgmigrate_success")).toBeGreaterThan(0);
    expect(d("compact_stall") + d("compact_success") + d("compact_fail")).toBe(0);
    // compact_nodes(): one full (order -1), synchronous compact_zone() per node with memory.
    const ends = events.filter((e) => e.event === "mm_compaction_end");
    expect(
      ends.map((e) => (e.event === "mm_compaction_end" ? [e.nid, e.sync, e.status] : [])),
    ).toEqual([
      [0, true, "complete"],
      [1, true, "complete"],
    ]);
    // Every batch went through migrate_pages() as MR_COMPACTION, MIGRATE_SYNC.
    for (const e of events) {
      if (e.event === "mm_migrate_pages") expect([e.reason, e.mode]).toEqual([MR_COMPACTION, 2]);
    }
    await runP(frag.release());
    expectConsistent(k);
  });

  it("compact_memory takes 1 only (sysctl_compaction_handler), and cannot be read", () => {
    const k = boot();
    for (const bad of ["0", "2", "-1", "x", "1x"]) {
      expectErrno(k.fs.write("/proc/sys/vm/compact_memory", bad), "EINVAL");
    }
    expectErrno(k.fs.read("/proc/sys/vm/compact_memory"), "EACCES");
    expect(k.vmstat.get("compact_migrate_scanned")).toBe(0);
  });

  it("node<N>/compact compacts that node only (sysfs_compact_node)", async () => {
    const k = bootNoProactive();
    const frag = await runP(fragmentNode(k, { nid: 1 }));
    const events = record(k);
    await runP(k.fs.write("/sys/devices/system/node/node0/compact", "1"));
    expect(k.pageAlloc.largestFreeOrder(1)).toBeLessThan(9);
    await runP(k.fs.write("/sys/devices/system/node/node1/compact", "anything"));
    expect(k.pageAlloc.largestFreeOrder(1)).toBe(10);
    expect(
      events
        .filter((e) => e.event === "mm_compaction_begin")
        .map((e) => e.event === "mm_compaction_begin" && e.nid),
    ).toEqual([0, 1]);
    expect(await runP(frag.intact())).toBe(true);
    expectErrno(k.fs.read("/sys/devices/system/node/node1/compact"), "EACCES");
    await runP(frag.release());
    expectConsistent(k);
  });

  it("the migration scanner takes balloon pages through their owner (isolate_movable_ops_page()): balloon_migrate counts them", async () => {
    const k = bootNoProactive({ nodes: ["64M", "64M"] });
    const frag = await runP(fragmentNode(k, { nid: 1 }));
    // On the fragmented node the balloon's pages fill holes at the zone's low end, where the
    // migration scanner starts.
    const balloon = new VirtioBalloon(k, { nid: 1 });
    expect(run(balloon.fillBalloon(64))).toBe(64);
    const before = [...balloon.vbDevInfo.pages];
    const zone = k.pageAlloc.zones[1]!;
    const half = zone.startPfn + (zone.endPfn - zone.startPfn) / 2;
    expect(before.every((pfn) => pfn < half)).toBe(true);
    const events = record(k);
    await runP(k.fs.write("/sys/devices/system/node/node1/compact", "1"));
    // isolate_migratepages_block() isolates movable_ops pages as it does LRU folios;
    // balloon_page_migrate() moves each to the free scanner's page and counts balloon_migrate.
    expect(k.vmstat.get("balloon_migrate")).toBe(64);
    expect(balloon.numPages).toBe(64);
    expect(balloon.vbDevInfo.isolatedPages).toBe(0);
    expect([...balloon.vbDevInfo.pages].every((pfn) => pfn >= half)).toBe(true);
    const compacted = events.reduce(
      (s, e) => (e.event === "mm_compaction_migratepages" ? s + e.nrMigrated : s),
      0,
    );
    expect(compacted).toBeGreaterThanOrEqual(64);
    expect(await runP(frag.intact())).toBe(true);
    await runP(frag.release());
    expectConsistent(k);
  });

  it("a THP fault in a MADV_HUGEPAGE VMA compacts directly: compact_stall and compact_success, and gets its THP", async () => {
    const k = bootNoProactive({ thp: { enabled: "madvise" } });
    const frag = await runP(fragmentNode(k, { nid: 1, unmovableEvery: 256 }));
    const { proc, addr } = await runP(thpFaulter(k, 1, true));
    const d = delta(k);
    const events = record(k);
    // __alloc_pages_direct_compact() compacts with PF_MEMALLOC set on the task
    // (memalloc_noreclaim_save()) and restores it before the allocation.
    const memallocWhileCompacting: number[] = [];
    k.trace.subscribe((e) => {
      if (e.event === "mm_compaction_begin") memallocWhileCompacting.push(proc.flags & PF_MEMALLOC);
    });
    await runP(proc.write(addr, new Uint8Array(4096).fill(3)));
    expect(memallocWhileCompacting).toEqual([PF_MEMALLOC]);
    expect(proc.flags & PF_MEMALLOC).toBe(0);
    expect(d("compact_stall")).toBe(1);
    expect(d("compact_success")).toBe(1);
    expect(d("compact_fail")).toBe(0);
    expect(d("thp_fault_alloc")).toBe(1);
    expect(d("thp_fault_fallback")).toBe(0);
    // INIT_COMPACT_PRIORITY first: asynchronous, for order 9, and it sufficed.
    const begins = events.filter((e) => e.event === "mm_compaction_begin");
    expect(begins.map((e) => e.event === "mm_compaction_begin" && e.sync)).toEqual([false]);
    // The last migration freed a whole movable pageblock in the task's own context: the block
    // went to it (compaction_capture()), and compact_zone() stopped on capc->page before
    // compact_finished() was asked again, so the last answer it gave was to go on, and the run
    // ended COMPACT_SUCCESS (Linux 6.16, mm/compaction.c, mm/page_alloc.c).
    const finished = events.filter((e) => e.event === "mm_compaction_finished").at(-1);
    expect(finished).toMatchObject({ order: 9, ret: "continue" });
    const end = events.filter((e) => e.event === "mm_compaction_end").at(-1);
    expect(end).toMatchObject({ status: "success" });
    expect(await runP(frag.intact())).toBe(true);
    await runP(frag.release());
    expectConsistent(k);
  });

  // get_huge_zero_folio() (mm/huge_memory.c, Linux 6.16) allocates the huge zero folio with
  // (GFP_TRANSHUGE | __GFP_ZERO) & ~__GFP_MOVABLE: __GFP_DIRECT_RECLAIM, so the slow path compacts
  // directly for it (an unmovable order-9 allocation), whatever the VMA's defrag flags.
  it("a read fault compacts directly for the huge zero folio (GFP_TRANSHUGE), even where a THP write would not", async () => {
    const k = bootNoProactive({ thp: { enabled: "always" } });
    const frag = await runP(fragmentNode(k, { nid: 1, unmovableEvery: 256 }));
    const { proc, addr } = await runP(thpFaulter(k, 1));
    const d = delta(k);
    const events = record(k);
    // A write asks with GFP_TRANSHUGE_LIGHT (no MADV_HUGEPAGE): no compaction, a fallback.
    await runP(proc.write(addr + 2 * MiB, new Uint8Array(1)));
    expect(d("compact_stall")).toBe(0);
    expect(d("thp_fault_fallback")).toBe(1);
    await runP(proc.read(addr, 1));
    // INIT_COMPACT_PRIORITY (async) scans only unmovable pageblocks for an unmovable allocation
    // (suitable_migration_source()) and fails; DEF_COMPACT_PRIORITY (sync-light) gets the block.
    const begins = events.filter((e) => e.event === "mm_compaction_begin");
    expect(begins.map((e) => e.event === "mm_compaction_begin" && [e.nid, e.sync])).toEqual([
      [1, false],
      [1, true],
    ]);
    // Direct reclaim ran between them (__alloc_pages_slowpath()), but left node 1 alone: half of
    // it is free, above its high watermark plus compact_gap(9) (compaction_ready()).
    expect(d("allocstall_normal")).toBe(1);
    expect(d("pgscan_direct")).toBe(0);
    expect(d("compact_stall")).toBe(2);
    expect(d("compact_fail")).toBe(1);
    expect(d("compact_success")).toBe(1);
    expect(d("thp_zero_page_alloc")).toBe(1);
    expect(d("thp_zero_page_alloc_failed")).toBe(0);
    expect(d("thp_fault_fallback")).toBe(1);
    expect(isHugeZeroPmd(k, proc.mm!.findVma(addr)!.pmds.get(addr)!)).toBe(true);
    expect(k.mem.pfnToNid(k.hugeZero.pfn)).toBe(1);
    expect(await runP(frag.intact())).toBe(true);
    await runP(frag.release());
    expectConsistent(k);
  });

  // __alloc_pages_slowpath() (mm/page_alloc.c, Linux 6.16) for a costly order with
  // __GFP_DIRECT_RECLAIM: INIT_COMPACT_PRIORITY compaction, then __alloc_pages_direct_reclaim(),
  // then compaction at DEF_COMPACT_PRIORITY. try_to_free_pages() reclaims a node that is not
  // compaction_ready(): here node 1 has its low watermark plus compact_gap(9) plus one page free,
  // enough for compaction to run (compaction_suitable() at the low watermark for a costly order)
  // but under the high watermark plus the gap that would let reclaim skip it.
  it("the slow path reclaims between its two compactions where compaction cannot go ahead yet (compaction_ready())", async () => {
    const k = bootNoProactive({ thp: { enabled: "always" } });
    const frag = await runP(fragmentNode(k, { nid: 1, unmovableEvery: 256 }));
    const zone = k.pageAlloc.zones[1]!;
    expect(zone.watermark.slice(0, 3)).toEqual([181, 226, 271]);
    const target = zone.watermark[1]! + 2 * 512 + 1; // low + compact_gap(9) + 1: 1251 pages
    // Clean page cache on node 1 takes the rest, unmapped again: what reclaim can free.
    const reader = run(k.createProcess({ node: 1 }));
    run(reader.setMempolicy(MPOL_BIND, [1]));
    const file = run(k.createFile("cache"));
    const n = zone.freePages - target;
    run(file.truncate(n * 4096));
    const cache = run(reader.mmap(n * 4096, { flags: MAP_SHARED, file }));
    run(reader.madvise(cache, n * 4096, MADV_NOHUGEPAGE));
    await runP(reader.read(cache, n * 4096));
    run(reader.munmap(cache, n * 4096));
    const { proc, addr } = await runP(thpFaulter(k, 1));
    expect(zone.freePages).toBe(1251);
    const d = delta(k);
    const stalls: [boolean, number][] = [];
    k.trace.subscribe((e) => {
      if (e.event === "mm_compaction_begin")
        stalls.push([e.sync, k.vmstat.get("allocstall_normal")]);
    });
    await runP(proc.read(addr, 1)); // the huge zero folio: an unmovable order-9 allocation
    // Async compaction, one direct reclaim, sync-light compaction: in that order.
    expect(stalls).toEqual([
      [false, 0],
      [true, 1],
    ]);
    expect(d("allocstall_normal")).toBe(1);
    // At least SWAP_CLUSTER_MAX pages, all of them the clean page cache (node 1 has no demotion
    // target for its anonymous memory); one pass, since compaction could go ahead after it
    // (should_continue_reclaim()).
    expect(d("pgsteal_direct")).toBeGreaterThanOrEqual(32);
    expect(d("pgsteal_file")).toBe(d("pgsteal_direct"));
    expect(d("pgscan_anon")).toBe(0);
    expect(d("compact_stall")).toBe(2);
    expect(d("compact_fail")).toBe(1);
    expect(d("compact_success")).toBe(1);
    expect(d("thp_zero_page_alloc")).toBe(1);
    expect(k.mem.pfnToNid(k.hugeZero.pfn)).toBe(1);
    expect(await runP(frag.intact())).toBe(true);
    await runP(frag.release());
    expectConsistent(k);
  });

  it("direct compaction skips a node short of memory by the fragmentation index, unless extfrag_threshold is lowered; then it fails (compact_fail)", async () => {
    // No kswapd: the counts are the faults' own direct reclaim and compaction.
    const k = boot({ thp: { enabled: "madvise" }, daemons: "on-demand" });
    // Unmovable order-8 blocks held in every other place: nothing compaction can move.
    const pinned = run(k.fragment(1, 8));
    const zone = k.pageAlloc.zones[1]!;
    const index = fragmentationIndex(zone, 9);
    expect(index).toBeGreaterThanOrEqual(0);
    expect(index).toBeLessThanOrEqual(500);
    const { proc, addr } = await runP(thpFaulter(k, 1, true));
    const d = delta(k);
    await runP(proc.write(addr, new Uint8Array(4096)));
    expect(d("compact_stall")).toBe(0); // COMPACT_SKIPPED: not counted
    // Without __GFP_NORETRY a skipped compaction does not end the slow path: direct reclaim runs
    // (the node is not compaction_ready()), finds nothing to free, and compaction is skipped again.
    expect(d("allocstall_normal")).toBe(1);
    expect(d("pgsteal_direct")).toBe(0);
    expect(d("thp_fault_fallback")).toBe(1);
    expectErrno(k.fs.write("/proc/sys/vm/extfrag_threshold", "1001"), "EINVAL");
    expect(run(k.fs.read("/proc/sys/vm/extfrag_threshold"))).toBe("500\n");
    run(k.fs.write("/proc/sys/vm/extfrag_threshold", "0"));
    await runP(proc.write(addr + 2 * MiB, new Uint8Array(4096)));
    // alloc_pages_mpol() (mm/mempolicy.c) tries node 1 alone first (__GFP_THISNODE |
    // __GFP_NORETRY): async compaction, direct reclaim, async compaction again; then the
    // allocation bound to node 1: async, direct reclaim, sync-light. Each compaction a stall that
    // found no page; each reclaim left the node alone: compaction could go ahead there now
    // (compaction_ready()). With the first write's reclaim: 3.
    expect(d("allocstall_normal")).toBe(3);
    expect(d("pgscan_direct")).toBe(0);
    expect(d("compact_stall")).toBe(4);
    expect(d("compact_fail")).toBe(4);
    expect(d("compact_success")).toBe(0);
    expect(d("thp_fault_fallback")).toBe(2);
    pinned.release();
    expectConsistent(k);
  });

  it("computes the fragmentation index and score as mm/vmstat.c does", () => {
    const k = boot({ nodes: ["4M", "4M"] });
    const zone = k.pageAlloc.zones[0]!; // one free block of each order 0..9: 1023 pages
    expect(fragmentationIndex(zone, 9)).toBe(-1000);
    // 1000 - (1000 + 1023 * 1000 / 1024) / 10 = 1000 - 1999 / 10
    expect(fragmentationIndex(zone, 10)).toBe(801);
    expect(extfragForOrder(zone, 9)).toBe(49); // (1023 - 512) * 100 / 1023
    expect(fragmentationScoreNode(k, 0)).toBe(48); // 49 * 1024 / 1025
    expect(fragmentationIndex(k.pageAlloc.zones[1]!, 3)).toBe(-1000);
  });

  it("weighs a zone's score by its present pages as offlining left them (fragmentation_score_zone_weighted(): zone->present_pages / (node_present_pages + 1))", async () => {
    // Node 1: one 16 MiB block (4096 pages) and a partial one of 64 pages (256 KiB).
    const k = boot({ nodes: ["16M", "16640K"], sectionSize: "16M" });
    const zone = k.pageAlloc.zones[1]!;
    expect(zone.presentPages).toBe(4160);
    await runP(k.fs.write("/sys/devices/system/memory/memory1/state", "offline"));
    expect(zone.presentPages).toBe(64);
    // 64 free pages, no free PMD-order block: extfrag 100; 64 * 100 / 65 = 98 (the pages present
    // at boot, 4160 * 100 / 4161, would give 99).
    expect(extfragForOrder(zone, 9)).toBe(100);
    expect(fragmentationScoreNode(k, 1)).toBe(98);
  });

  it("returns COMPACT_SUCCESS at once when the order is free, and COMPACT_SKIPPED under the watermark (compaction_suitable)", async () => {
    const k = boot();
    const ok = await runP(compactZone(k, 1, { order: 9, mode: MIGRATE_SYNC }));
    expect(ok.result).toBe(CompactResult.SUCCESS);
    const held = [];
    while (k.pageAlloc.nodeFreePages(1) > 256) held.push(run(k.allocFolio(1, 0, __GFP_THISNODE)));
    expect(k.pageAlloc.largestFreeOrder(1)).toBeLessThan(9);
    const skipped = await runP(compactZone(k, 1, { order: 9, mode: MIGRATE_SYNC }));
    expect(skipped.result).toBe(CompactResult.SKIPPED);
    for (const f of held) k.folioPut(f);
  });

  // __compaction_suitable() (mm/compaction.c, Linux 6.15+, "push watermark into
  // compaction_suitable() callers"): the caller passes the watermark (reclaim's
  // compaction_ready() the high one, should_continue_reclaim() and compaction_zonelist_suitable()
  // the min one), and a costly order adds low - min on top of it and compact_gap(order).
  it("compaction_suitable() and compaction_zonelist_suitable() add low - min to the caller's watermark for a costly order (__compaction_suitable(), Linux 6.15+)", () => {
    const k = boot();
    const zone = k.pageAlloc.zones[1]!;
    const [min, low, high] = [WMARK_MIN, WMARK_LOW, WMARK_HIGH].map((i) => zone.wmarkPages(i));
    const boost = low! - min!;
    expect(boost).toBeGreaterThan(2);
    const gap = compactGap(4);
    const held: Folio[] = [];
    /** Holds order-0 pages of node 1 until `free` are left (order-4 blocks stay free). */
    const fillTo = (free: number) => {
      while (zone.freePages > free) held.push(run(k.allocFolio(1, 0, __GFP_THISNODE)));
      while (zone.freePages < free) k.folioPut(held.pop()!);
      expect(zone.freePages).toBe(free);
      expect(k.pageAlloc.largestFreeOrder(1)).toBeGreaterThanOrEqual(4);
    };
    const GFP = GFP_HIGHUSER_MOVABLE | __GFP_THISNODE;
    // Between high + gap and high + gap + (low - min): compaction_ready()'s check says no.
    fillTo(high! + gap + Math.floor(boost / 2));
    expect(k.compaction.suitable(1, 4, high!)).toBe(false);
    // A non-costly order has no boost: high + compact_gap(3) is there.
    expect(k.compaction.suitable(1, 3, high!)).toBe(true);
    fillTo(high! + gap + boost + 1);
    expect(k.compaction.suitable(1, 4, high!)).toBe(true);
    // compaction_zonelist_suitable(): min + gap + (low - min), with nothing reclaimable here.
    fillTo(min! + gap + Math.floor(boost / 2));
    expect(compactionZonelistSuitable(k, GFP, 4, 1, null)).toBe(false);
    expect(compactionSuitable(k, zone, 4)).toBe(false);
    fillTo(low! + gap + 1);
    expect(compactionZonelistSuitable(k, GFP, 4, 1, null)).toBe(true);
    expect(compactionSuitable(k, zone, 4)).toBe(true);
    for (const f of held) k.folioPut(f);
  });

  it("a fatal signal (the kernel shutting down) found by the migration scanner: COMPACT_CONTENDED, nothing scanned or migrated (isolate_migratepages_block() -EINTR, ISOLATE_ABORT)", async () => {
    const k = boot();
    await runP(fragmentNode(k, { nid: 1 }));
    const events = record(k);
    let down: Fiber.Fiber<void, unknown> | null = null;
    // The kernel starts shutting down just after compact_finished() said go on, before the
    // migration scanner's first PFN: the zone's first, a multiple of COMPACT_CLUSTER_MAX, where
    // isolate_migratepages_block() looks for a fatal signal, sets cc->contended and returns -EINTR
    // (fatal_pending: no isolate trace event). isolate_migratepages() gives ISOLATE_ABORT, and
    // compact_zone() ends COMPACT_CONTENDED without migrating.
    k.trace.subscribe((e) => {
      if (e.event === "mm_compaction_finished" && !down) down = Effect.runFork(k.shutdown());
    });
    const r = await runP(compactZone(k, 1, { order: -1, mode: MIGRATE_SYNC }));
    expect(r).toEqual({
      result: CompactResult.CONTENDED,
      migrateScanned: 0,
      freeScanned: 0,
      migrated: 0,
    });
    expect(events.filter((e) => e.event === "mm_compaction_isolate_migratepages")).toEqual([]);
    expect(events.filter((e) => e.event === "mm_migrate_pages")).toEqual([]);
    await runP(Fiber.join(down!));
    expect(k.state).toBe("down");
  });

  it("a migrator sees compaction's batches when its reason mask includes compaction, and not otherwise", async () => {
    for (const mask of [1 << MR_COMPACTION, 1 << MR_SYSCALL]) {
      const k = boot();
      const recorder = recordingMigrator(k);
      run(k.migrateOffload.register(recorder.migrator, mask));
      const frag = await runP(fragmentNode(k, { nid: 1 }));
      await runP(k.fs.write("/proc/sys/vm/compact_memory", "1"));
      expect(k.vmstat.get("pgmigrate_success")).toBeGreaterThan(0);
      if (mask === 1 << MR_COMPACTION) {
        expect(recorder.reasons.length).toBeGreaterThan(0);
        expect(new Set(recorder.reasons)).toEqual(new Set([MR_COMPACTION]));
        expect(recorder.copies()).toBeGreaterThan(0);
      } else {
        expect(recorder.reasons).toEqual([]);
        expect(recorder.copies()).toBe(0);
      }
      expect(await runP(frag.intact())).toBe(true);
      await runP(frag.release());
      await runP(k.shutdown());
    }
  });
});

describe("kcompactd", () => {
  it("compacts when woken (wakeup_kcompactd), counting compact_daemon_*, and stops at shutdown", async () => {
    // The daemons start on the TestClock below.
    const k = boot({ daemons: "on-demand" });
    const frag = await runP(fragmentNode(k, { nid: 1 }));
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        run(k.fs.write("/proc/sys/vm/compaction_proactiveness", "0"));
        yield* k.compaction.run();
        expect(k.compaction.running).toBe(true);
        expectErrno(k.compaction.run(), "EBUSY");
        k.compaction.wakeup(1, 9);
        yield* waitUntil(
          () => k.vmstat.get("compact_daemon_wake") === 1 && k.pageAlloc.largestFreeOrder(1) >= 9,
        );
        yield* waitUntil(() => k.vmstat.get("compact_daemon_migrate_scanned") > 0);
        const wake = k.vmstat.get("compact_daemon_wake");
        // Asleep again: time passes, nothing is proactive (proactiveness 0), nothing runs.
        yield* TestClock.adjust("5000 millis");
        return { wake, after: k.vmstat.get("compact_daemon_wake") };
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expect(result).toEqual({ wake: 1, after: 1 });
    expect(k.vmstat.get("compact_daemon_free_scanned")).toBeGreaterThan(0);
    // kcompactd compacts for order 9, not the whole zone: no compact_memory counters of its own.
    expect(await runP(frag.intact())).toBe(true);
    await runP(frag.release());
    await runP(k.shutdown());
    expect(k.compaction.running).toBe(false);
  });

  it("compacts proactively every HPAGE_FRAG_CHECK_INTERVAL_MSEC while the score is above the high watermark", async () => {
    // The daemons start on the TestClock below.
    const k = boot({ daemons: "on-demand" });
    const frag = await runP(fragmentNode(k, { nid: 1 }));
    // Proactiveness 20: watermarks 80 and 90 (fragmentation_score_wmark()).
    expect(run(k.fs.read("/proc/sys/vm/compaction_proactiveness"))).toBe("20\n");
    expect(fragmentationScoreNode(k, 1)).toBeGreaterThan(90);
    const seen = await Effect.runPromise(
      Effect.gen(function* () {
        yield* k.compaction.run();
        yield* TestClock.adjust("499 millis");
        const early = k.vmstat.get("compact_daemon_migrate_scanned");
        yield* TestClock.adjust("1 millis");
        yield* waitUntil(() => fragmentationScoreNode(k, 1) <= 80);
        return early;
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expect(seen).toBe(0);
    expect(k.vmstat.get("compact_daemon_migrate_scanned")).toBeGreaterThan(0);
    expect(k.vmstat.get("compact_daemon_wake")).toBe(0); // a timeout, not a wake
    expectErrno(k.fs.write("/proc/sys/vm/compaction_proactiveness", "101"), "EINVAL");
    expectErrno(k.fs.write("/proc/sys/vm/compaction_proactiveness", "-1"), "EINVAL");
    expect(run(k.fs.read("/proc/sys/vm/compaction_proactiveness"))).toBe("20\n");
    expect(await runP(frag.intact())).toBe(true);
    await runP(frag.release());
    await runP(k.shutdown());
  });

  // __compact_finished() (mm/compaction.c, Linux 6.16): a proactive run returns
  // COMPACT_PARTIAL_SKIPPED while kswapd_is_running(pgdat) (the node's kswapd is not waiting on
  // its queue); should_proactive_compact_node() is false then too. The run here starts from
  // inside kswapd's reclaim (its mm_vmscan_lru_shrink_inactive event), while kswapd works.
  it("skips proactive compaction while the node's kswapd runs: COMPACT_PARTIAL_SKIPPED, nothing migrated", async () => {
    // The daemons start on the TestClock below.
    const k = boot({ daemons: "on-demand" });
    const frag = await runP(fragmentNode(k, { nid: 1, pageCacheEvery: 4 }));
    const zone = k.pageAlloc.zones[1]!;
    const held: Folio[] = [];
    while (k.pageAlloc.zoneWatermarkOk(1, 0, zone.wmarkPages(WMARK_HIGH))) {
      held.push(run(k.allocFolio(1, 0, __GFP_THISNODE)));
    }
    expect(fragmentationScoreNode(k, 1)).toBeGreaterThan(80);
    const seen: [boolean, CompactResult, number][] = [];
    k.trace.subscribe((e) => {
      if (e.event !== "mm_vmscan_lru_shrink_inactive" || e.nid !== 1 || seen.length) return;
      const r = run(compactNode(k, 1, true));
      seen.push([k.kswapd.sleeping(1), r.result, r.migrated]);
    });
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* k.kswapd.run();
        k.kswapd.nodeReclaimed(1);
        k.kswapd.wakeup(1, 0);
        yield* waitUntil(() => seen.length > 0);
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expect(seen).toEqual([[false, CompactResult.PARTIAL_SKIPPED, 0]]);
    expect(k.vmstat.get("compact_daemon_migrate_scanned")).toBe(0);
    for (const f of held) k.folioPut(f);
    expect(await runP(frag.intact())).toBe(true);
    await runP(frag.release());
    await runP(k.shutdown());
  });

  it("wakes at once when compaction_proactiveness is written (compaction_proactiveness_sysctl_handler)", async () => {
    // The daemons start on the TestClock below.
    const k = boot({ daemons: "on-demand" });
    const frag = await runP(fragmentNode(k, { nid: 1 }));
    const events = record(k);
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* k.compaction.run();
        // No time passes on the TestClock: only the write's wake-up can start it.
        yield* k.fs.write("/proc/sys/vm/compaction_proactiveness", "30");
        yield* waitUntil(() => fragmentationScoreNode(k, 1) <= 70);
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expect(
      events
        .filter((e) => e.event === "mm_compaction_wakeup_kcompactd")
        .map((e) => e.event === "mm_compaction_wakeup_kcompactd" && [e.nid, e.order]),
    ).toEqual([
      [0, -1],
      [1, -1],
    ]);
    expect(k.vmstat.get("compact_daemon_migrate_scanned")).toBeGreaterThan(0);
    expect(await runP(frag.intact())).toBe(true);
    await runP(frag.release());
    await runP(k.shutdown());
  });
});

// alloc_anon_folio() (mm/memory.c) tries each allowed mTHP order with the VMA's gfp, and each may
// compact directly once (__alloc_pages_direct_compact()); when neither the PMD order nor a 64 KiB
// mTHP can be had, the fault falls back to a base page. Each retried fault starts again at the
// largest order, so an order compacted for once must fall back at once.
describe("a THP fault with mTHP sizes on a node compaction cannot help", () => {
  it("compacts at most once per order, then falls back to a base page", async () => {
    const k = boot({ nodes: ["16M", "16M"], thp: { enabled: "always" } });
    run(k.fs.write("/sys/kernel/mm/transparent_hugepage/hugepages-64kB/enabled", "always"));
    // Every free block above order 3 of node 1 taken and pinned: no 16-page block can be made.
    const frag = run(k.fragment(1, 3));
    const p = run(k.createProcess({ node: 1 }));
    run(p.setMempolicy(MPOL_BIND, [1]));
    const pmd = 2 * MiB;
    const addr = run(p.mmap(2 * pmd, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    run(p.madvise(addr, 2 * pmd, MADV_HUGEPAGE));
    const aligned = Math.ceil(addr / pmd) * pmd;
    const events = record(k);
    await runP(p.write(aligned, new Uint8Array([1])));
    expect(folioAt(p, aligned).order).toBe(0);
    // Two orders above PAGE_ALLOC_COSTLY_ORDER (9 and 4), each tried once. Order 9 compacts; its
    // sync-light failure defers compaction for every order (compact_order_failed is still 0), so
    // order 4's one try is COMPACT_DEFERRED, which Linux 6.16's __alloc_pages_direct_compact()
    // still counts in compact_stall and compact_fail (only COMPACT_SKIPPED is not counted).
    const runs = events.filter((e) => e.event === "mm_compaction_end").length;
    const deferred = events.filter((e) => e.event === "mm_compaction_deferred");
    expect(deferred.map((e) => e.event === "mm_compaction_deferred" && e.order)).toEqual([4]);
    expect(k.vmstat.get("compact_stall")).toBe(runs + 1);
    expect(k.vmstat.get("compact_stall")).toBeLessThanOrEqual(2 * 2 + 1);
    expect(k.vmstat.get("compact_fail")).toBe(k.vmstat.get("compact_stall"));
    expect(k.vmstat.get("thp_fault_fallback")).toBeGreaterThan(0);
    frag.release();
    expectConsistent(k);
  });
});
