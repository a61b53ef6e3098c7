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
import { describe, expect, it } from "vitest";
import {
  __GFP_COMP,
  __GFP_THISNODE,
  allocContigRange,
  folioPut,
  GFP_KERNEL,
  type Kernel,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MIGRATE_ISOLATE,
  MPOL_BIND,
  MR_CONTIG_RANGE,
  PG_buddy,
  PG_hugetlb,
  PG_hwpoison,
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
