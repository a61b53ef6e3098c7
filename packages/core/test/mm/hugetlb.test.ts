// The hugetlb pool (mm/hugetlb.c, Linux 6.16): set_max_huge_pages() over the nodes,
// hugetlb_reserve_pages() at mmap, the counters of /proc/meminfo (hugetlb_report_meminfo()) and
// sysfs, overcommit, and a hugetlb folio's migration target from the pool
// (alloc_hugetlb_folio_nodemask()). Expected values after LTP's hugemmap counters test
// (testcases/kernel/mem/hugetlb/hugemmap/hugemmap10.c) and tools/testing/selftests/mm.
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import {
  __GFP_COMP,
  __GFP_NOWARN,
  allocContigPages,
  allocContigRange,
  CAP_SYS_NICE,
  ERRNO,
  GFP_HIGHUSER_MOVABLE,
  GFP_USER,
  gfpMigratetype,
  htlbAllocMask,
  type Kernel,
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGE_1GB,
  MAP_HUGE_2MB,
  MAP_HUGE_SHIFT,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  MIGRATE_UNMOVABLE,
  MPOL_BIND,
  MPOL_MF_MOVE,
  MPOL_MF_MOVE_ALL,
  maxFolioOrder,
  PG_hugetlb,
  PROT_READ,
  pteWrite,
  startIsolatePageRange,
  type Task,
  type TraceEvent,
  undoIsolatePageRange,
  VM_HUGEPAGE,
  VM_LOCKED,
  VM_WRITE,
  type Vma,
  WMARK_MIN,
} from "../../src/index";
import {
  boot,
  bootNoProactive,
  expectBytes,
  expectChildSignal,
  expectConsistent,
  expectErrno,
  expectSignal,
  folioAt,
  pattern,
  run,
  runP,
} from "../../src/testing/index";
import { fragmentNode } from "../../src/testing/workloads";

const MiB = 2 ** 20;
const HUGE = 2 * MiB;
const GLOBAL = "/sys/kernel/mm/hugepages/hugepages-2048kB";
const node = (nid: number) => `/sys/devices/system/node/node${nid}/hugepages/hugepages-2048kB`;

const read = (k: Kernel, path: string): string => run(k.fs.read(path)).trim();
/** nr, free, resv, surplus of the global hstate, as sysfs shows them. */
const counters = (k: Kernel): number[] =>
  ["nr_hugepages", "free_hugepages", "resv_hugepages", "surplus_hugepages"].map((f) =>
    Number(read(k, `${GLOBAL}/${f}`)),
  );
/** nr, free, surplus of one node. */
const nodeCounters = (k: Kernel, nid: number): number[] =>
  ["nr_hugepages", "free_hugepages", "surplus_hugepages"].map((f) =>
    Number(read(k, `${node(nid)}/${f}`)),
  );
const hugetlbLines = (k: Kernel): string[] =>
  run(k.fs.read("/proc/meminfo"))
    .split("\n")
    .filter(
      (l) => l.startsWith("HugePages_") || l.startsWith("Hugepagesize") || l.startsWith("Hugetlb"),
    );
const mapHuge = (k: Kernel, n: number) => {
  const p = run(k.createProcess());
  return { p, addr: run(p.mmap(n * HUGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB })) };
};

describe("the hugetlb pool: nr_hugepages (set_max_huge_pages)", () => {
  it("starts empty, and /proc/meminfo prints the pool as hugetlb_report_meminfo() does", () => {
    const k = boot();
    expect(hugetlbLines(k)).toEqual([
      "HugePages_Total:       0",
      "HugePages_Free:        0",
      "HugePages_Rsvd:        0",
      "HugePages_Surp:        0",
      "Hugepagesize:       2048 kB",
      "Hugetlb:               0 kB",
    ]);
    // x86-64 registers the PMD size and, with gbpages, the PUD size (hugetlb_add_hstate()).
    expect(run(k.fs.list("/sys/kernel/mm/hugepages"))).toEqual([
      "hugepages-1048576kB",
      "hugepages-2048kB",
    ]);
    expect(run(k.fs.list(GLOBAL))).toEqual([
      "free_hugepages",
      "nr_hugepages",
      "nr_overcommit_hugepages",
      "resv_hugepages",
      "surplus_hugepages",
    ]);
    expect(run(k.fs.list(node(1)))).toEqual([
      "free_hugepages",
      "nr_hugepages",
      "surplus_hugepages",
    ]);
  });

  it("grows round-robin over the nodes (for_each_node_mask_to_alloc) and shrinks from the free cursor", () => {
    const k = boot();
    const free = k.pageAlloc.totalFreePages();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "5"));
    expect(read(k, "/proc/sys/vm/nr_hugepages")).toBe("5");
    expect(counters(k)).toEqual([5, 5, 0, 0]);
    expect([nodeCounters(k, 0), nodeCounters(k, 1)]).toEqual([
      [3, 3, 0],
      [2, 2, 0],
    ]);
    expect(k.pageAlloc.totalFreePages()).toBe(free - 5 * 512);
    expect(hugetlbLines(k)).toEqual([
      "HugePages_Total:       5",
      "HugePages_Free:        5",
      "HugePages_Rsvd:        0",
      "HugePages_Surp:        0",
      "Hugepagesize:       2048 kB",
      "Hugetlb:           10240 kB",
    ]);
    expect(run(k.fs.read("/sys/devices/system/node/node1/meminfo"))).toContain(
      "Node 1 HugePages_Total:     2\nNode 1 HugePages_Free:      2\nNode 1 HugePages_Surp:      0\n",
    );
    // The free cursor starts at the first node: 5 → 2 frees one from node 0, then node 1.
    run(k.fs.write(`${GLOBAL}/nr_hugepages`, "3"));
    expect([nodeCounters(k, 0), nodeCounters(k, 1)]).toEqual([
      [2, 2, 0],
      [1, 1, 0],
    ]);
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "0"));
    expect(counters(k)).toEqual([0, 0, 0, 0]);
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    expectConsistent(k);
  });

  it("a node's nr_hugepages sets that node's count only (__nr_hugepages_store_common)", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "2"));
    run(k.fs.write(`${node(1)}/nr_hugepages`, "4"));
    expect([nodeCounters(k, 0), nodeCounters(k, 1)]).toEqual([
      [1, 1, 0],
      [4, 4, 0],
    ]);
    expect(counters(k)).toEqual([5, 5, 0, 0]);
    run(k.fs.write(`${node(0)}/nr_hugepages`, "0"));
    expect(counters(k)).toEqual([4, 4, 0, 0]);
    expectConsistent(k);
  });

  it("reads back what was achieved when memory runs out: 31 + 31 huge pages of two 64 MiB nodes", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "1000000"));
    // The pool's allocations stop at each node's min watermark (181 pages; __alloc_pages()
    // takes no page that would leave fewer free): node 1's last 2 MiB block is refused, and
    // node 0, whose zero page breaks one of its 32 blocks, keeps that block's 511 pages and
    // gets 31 too.
    expect(k.pageAlloc.zones.map((z) => z.watermark[WMARK_MIN])).toEqual([181, 181]);
    expect([nodeCounters(k, 0)[0], nodeCounters(k, 1)[0]]).toEqual([31, 31]);
    expect(read(k, "/proc/sys/vm/nr_hugepages")).toBe("62");
    expectConsistent(k);
  });

  it("fails bad writes as kstrtoul() and proc_doulongvec_minmax() do, changing nothing", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "1"));
    for (const path of [`${GLOBAL}/nr_hugepages`, `${node(0)}/nr_hugepages`]) {
      expectErrno(k.fs.write(path, "abc"), "EINVAL");
      expectErrno(k.fs.write(path, "-1"), "EINVAL");
      expectErrno(k.fs.write(path, "2 pages"), "EINVAL");
      expectErrno(k.fs.write(path, "0x2"), "EINVAL"); // base 10
      expectErrno(k.fs.write(path, "18446744073709551616"), "ERANGE");
    }
    expectErrno(k.fs.write("/proc/sys/vm/nr_hugepages", "many"), "EINVAL");
    expectErrno(k.fs.write(`${GLOBAL}/nr_overcommit_hugepages`, "x"), "EINVAL");
    for (const f of ["free_hugepages", "resv_hugepages", "surplus_hugepages"])
      expectErrno(k.fs.write(`${GLOBAL}/${f}`, "1"), "EACCES");
    expect(counters(k)).toEqual([1, 1, 0, 0]);
  });

  it("compacts directly when the node has no free 2 MiB block (__GFP_RETRY_MAYFAIL), and gets its pages", async () => {
    const k = bootNoProactive();
    const frag = await runP(fragmentNode(k, { nid: 1 }));
    expect(k.pageAlloc.zones[1]!.nrFree.slice(9).every((n) => n === 0)).toBe(true);
    await runP(k.fs.write(`${node(1)}/nr_hugepages`, "4"));
    expect(nodeCounters(k, 1)).toEqual([4, 4, 0]);
    expect(k.vmstat.get("compact_stall")).toBeGreaterThan(0);
    expect(k.vmstat.get("compact_success")).toBeGreaterThan(0);
    expect(await runP(frag.intact())).toBe(true);
    expectConsistent(k);
  });
  // __alloc_pages_slowpath() (mm/page_alloc.c, Linux 6.16) for alloc_buddy_hugetlb_folio()'s
  // __GFP_RETRY_MAYFAIL: the node is fragmented and short of free pages for compaction, with clean
  // page cache to reclaim. Direct reclaim (allocstall_normal) goes on while compaction could not
  // run yet (should_continue_reclaim(), mm/vmscan.c): compaction_suitable() at the min watermark,
  // which for a costly order adds the low watermark's distance from the min one (Linux 6.15+,
  // __compaction_suitable(), mm/compaction.c), so reclaim stops only once the low watermark plus
  // compact_gap(9) is free. The compaction that follows runs and gets the page: one direct
  // reclaim, one compact_stall, one compact_success.
  it("grows the pool through __GFP_RETRY_MAYFAIL's slow path: reclaim goes on until a costly compaction can run (should_continue_reclaim())", async () => {
    const k = bootNoProactive();
    const frag = await runP(fragmentNode(k, { nid: 1 }));
    const zone = k.pageAlloc.zones[1]!;
    const [min, low] = [zone.watermark[0]!, zone.watermark[1]!];
    // Clean page cache on node 1 leaves 200 pages fewer free than compaction needs to run for
    // order 9 (the low watermark plus compact_gap(9), compaction_suitable()).
    const needed = low + 2 * 512;
    const reader = run(k.createProcess({ node: 1 }));
    run(reader.setMempolicy(MPOL_BIND, [1]));
    const file = run(k.createFile("cache"));
    const n = zone.freePages - (needed - 200);
    run(file.truncate(n * 4096));
    const cache = run(reader.mmap(n * 4096, { flags: MAP_SHARED, file }));
    await runP(reader.read(cache, n * 4096));
    run(reader.munmap(cache, n * 4096));
    expect(zone.freePages).toBe(needed - 200);
    const names = ["compact_stall", "compact_success", "compact_fail", "allocstall_normal"];
    const before = names.map((name) => k.vmstat.get(name));
    // The free pages each time a compaction begins, with the direct reclaims made by then.
    const begins: [number, number][] = [];
    k.trace.subscribe((e) => {
      if (e.event === "mm_compaction_begin")
        begins.push([zone.freePages, k.vmstat.get("allocstall_normal") - before[3]!]);
    });
    await runP(k.fs.write(`${node(1)}/nr_hugepages`, "1"));
    expect(nodeCounters(k, 1)).toEqual([1, 1, 0]);
    // One direct reclaim, until compaction_suitable(min) holds for order 9: the low watermark
    // plus compact_gap(9), more than the min one plus the gap. Then one compaction, which gets
    // the block. One stall, one direct reclaim.
    expect(begins.length).toBe(1);
    expect(begins[0]![0]).toBeGreaterThan(needed);
    expect(begins[0]![1]).toBe(1);
    expect(names.map((name, i) => k.vmstat.get(name) - before[i]!)).toEqual([1, 1, 0, 1]);
    expect(min + 2 * 512).toBeLessThan(needed);
    expect(await runP(frag.intact())).toBe(true);
    expectConsistent(k);
  });

  it("a node whose memory is all offline is not in the pool's nodes: nr_hugepages allocates on node 0 alone, no direct reclaim on node 1 (__nr_hugepages_store_common(): N_MEMORY)", async () => {
    const k = boot({ nodes: ["64M", "64M"], sectionSize: "16M" });
    // Node 1's four 16 MiB blocks offline: its zone has no present pages, it leaves N_MEMORY.
    for (const id of [4, 5, 6, 7]) {
      await runP(k.fs.write(`/sys/devices/system/memory/memory${id}/state`, "offline"));
    }
    expect(k.nodeHasMemory(1)).toBe(false);
    const stalls = k.vmstat.get("allocstall_normal");
    await runP(k.fs.write(`${GLOBAL}/nr_hugepages`, "4"));
    // The round-robin covers node 0 only: no allocation on node 1 goes to its slow path (which
    // would count an allocstall on the empty node's direct reclaim).
    expect(run(k.fs.read(`${node(0)}/nr_hugepages`))).toBe("4\n");
    expect(run(k.fs.read(`${node(1)}/nr_hugepages`))).toBe("0\n");
    expect(k.vmstat.get("allocstall_normal") - stalls).toBe(0);
    expectConsistent(k);
  });
});

describe("MAP_HUGETLB: reservations (hugetlb_reserve_pages) and faults", () => {
  it("reserves at mmap, consumes at fault, returns at munmap (LTP hugemmap10's counters)", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "3"));
    const { p, addr } = mapHuge(k, 2);
    expect(counters(k)).toEqual([3, 3, 2, 0]);
    run(p.write(addr, pattern(4096, 1)));
    expect(counters(k)).toEqual([3, 2, 1, 0]);
    const folio = folioAt(p, addr);
    expect(folio.hugetlb).toBe(true);
    expect([...run(p.read(addr + 4096, 4))]).toEqual([0, 0, 0, 0]);
    // The unreserved third page may still be faulted by another mapping; a fourth may not.
    expectErrno(p.mmap(2 * HUGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }), "ENOMEM");
    expect(counters(k)).toEqual([3, 2, 1, 0]);
    run(p.munmap(addr, 2 * HUGE));
    expect(counters(k)).toEqual([3, 3, 0, 0]);
    expectConsistent(k);
  });

  it("hands out the huge page freed last first: enqueue_hugetlb_folio() puts it at the head of its node's free list (list_move()), dequeue_hugetlb_folio_node_exact() takes from the head", () => {
    const k = boot({ nodes: ["64M"] });
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "3"));
    const a = mapHuge(k, 1);
    const b = mapHuge(k, 1);
    const c = mapHuge(k, 1);
    const pfnOf = (m: ReturnType<typeof mapHuge>) => {
      run(m.p.write(m.addr, new Uint8Array([1])));
      return folioAt(m.p, m.addr).pfn;
    };
    const pfns = [pfnOf(a), pfnOf(b), pfnOf(c)];
    expect(new Set(pfns).size).toBe(3);
    expect(counters(k)).toEqual([3, 0, 0, 0]);
    // Freed in the order b, a, c: the free list reads c, a, b from its head.
    run(b.p.munmap(b.addr, HUGE));
    run(a.p.munmap(a.addr, HUGE));
    run(c.p.munmap(c.addr, HUGE));
    expect(counters(k)).toEqual([3, 3, 0, 0]);
    // The next faults get c's page, then a's, then b's (a tail-queued list would give b's first).
    const maps = [mapHuge(k, 1), mapHuge(k, 1), mapHuge(k, 1)];
    const again = maps.map(pfnOf);
    expect(again).toEqual([pfns[2], pfns[0], pfns[1]]);
    // Shrinking the pool takes from the head as well (remove_pool_hugetlb_folio(): the list's
    // first entry): freed in the order 0, 1, 2, the page of maps[2] leaves the pool.
    for (const m of maps) run(m.p.munmap(m.addr, HUGE));
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "2"));
    expect(counters(k)).toEqual([2, 2, 0, 0]);
    expect(k.memmap.test(again[2]!, PG_hugetlb)).toBe(false);
    const last = [mapHuge(k, 1), mapHuge(k, 1)].map(pfnOf);
    expect(last).toEqual([again[1], again[0]]);
    expectConsistent(k);
  });

  it("a fault passes over a free huge page in an isolated pageblock (dequeue_hugetlb_folio_node_exact()'s is_migrate_isolate_page(), Linux 6.16): it takes the next one, and the first again once the range is given back", () => {
    const k = boot({ nodes: ["64M"] });
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "2"));
    const [first, second] = [...k.hstate.hugepageFreelists[0]!];
    const fault = () => {
      const m = mapHuge(k, 1);
      run(m.p.write(m.addr, new Uint8Array([1])));
      return m;
    };
    // alloc_contig_range() or memory offlining clearing the first page's pageblock.
    expect(startIsolatePageRange(k, first!, first! + 512, 0)).toBeNull();
    const a = fault();
    expect(folioAt(a.p, a.addr).pfn).toBe(second);
    expect(counters(k)).toEqual([2, 1, 0, 0]);
    undoIsolatePageRange(k, first!, first! + 512);
    const b = fault();
    expect(folioAt(b.p, b.addr).pfn).toBe(first);
    expect(counters(k)).toEqual([2, 0, 0, 0]);
    expectConsistent(k);
  });

  it("fails with ENOMEM when the pool is empty, and when it cannot cover the mapping", () => {
    const k = boot();
    const p = run(k.createProcess());
    expectErrno(p.mmap(HUGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }), "ENOMEM");
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "1"));
    expectErrno(p.mmap(2 * HUGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }), "ENOMEM");
    expect(p.mm!.vmas).toEqual([]);
    expect(counters(k)).toEqual([1, 1, 0, 0]);
  });

  it("overcommits with surplus pages that leave when unmapped (gather_surplus_pages)", () => {
    const k = boot();
    const free = k.pageAlloc.totalFreePages();
    run(k.fs.write("/proc/sys/vm/nr_overcommit_hugepages", "2"));
    expect(read(k, `${GLOBAL}/nr_overcommit_hugepages`)).toBe("2");
    const { p, addr } = mapHuge(k, 2);
    expect(counters(k)).toEqual([2, 2, 2, 2]);
    run(p.write(addr, new Uint8Array([1])));
    expect(counters(k)).toEqual([2, 1, 1, 2]);
    expectErrno(p.mmap(HUGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }), "ENOMEM");
    run(p.munmap(addr, 2 * HUGE));
    expect(counters(k)).toEqual([0, 0, 0, 0]);
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    expectConsistent(k);
  });

  it("nr_overcommit_hugepages keeps the unsigned long written, 2^64 - 1 included, and surplus pages still come under it (hugetlb_overcommit_handler(), Linux 6.16)", () => {
    const k = boot();
    const ULONG_MAX = "18446744073709551615";
    run(k.fs.write("/proc/sys/vm/nr_overcommit_hugepages", ULONG_MAX));
    expect(read(k, "/proc/sys/vm/nr_overcommit_hugepages")).toBe(ULONG_MAX);
    expect(read(k, `${GLOBAL}/nr_overcommit_hugepages`)).toBe(ULONG_MAX);
    const { p, addr } = mapHuge(k, 2);
    expect(counters(k)).toEqual([2, 2, 2, 2]);
    run(p.munmap(addr, 2 * HUGE));
    // Exact below 2^64 too (sysfs: kstrtoul()), and a limit of one surplus page still holds.
    run(k.fs.write(`${GLOBAL}/nr_overcommit_hugepages`, "18446744073709551614"));
    expect(read(k, "/proc/sys/vm/nr_overcommit_hugepages")).toBe("18446744073709551614");
    run(k.fs.write("/proc/sys/vm/nr_overcommit_hugepages", "1"));
    expectErrno(p.mmap(2 * HUGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }), "ENOMEM");
    expect(counters(k)).toEqual([0, 0, 0, 0]);
    // nr_hugepages reads the pool's size, whatever was asked (hugetlb_sysctl_handler_common()).
    run(k.fs.write("/proc/sys/vm/nr_hugepages", ULONG_MAX));
    expect(read(k, "/proc/sys/vm/nr_hugepages")).toBe(String(counters(k)[0]));
    expectConsistent(k);
  });

  it("shrinking below the pages in use turns them into surplus pages, freed when unmapped", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "2"));
    const { p, addr } = mapHuge(k, 1);
    run(p.write(addr, new Uint8Array([1])));
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "0"));
    expect(counters(k)).toEqual([1, 0, 0, 1]);
    expect(read(k, "/proc/sys/vm/nr_hugepages")).toBe("1");
    run(p.exit());
    expect(counters(k)).toEqual([0, 0, 0, 0]);
    expectConsistent(k);
  });

  it("faults on the node the policy binds to (huge_node())", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "2"));
    const p = run(k.createProcess({ node: 0 }));
    run(p.setMempolicy(MPOL_BIND, [1]));
    const addr = run(p.mmap(HUGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
    run(p.write(addr, new Uint8Array([1])));
    expect(folioAt(p, addr).nid).toBe(1);
    expect([nodeCounters(k, 0), nodeCounters(k, 1)]).toEqual([
      [1, 1, 0],
      [1, 0, 0],
    ]);
  });
});

// gather_surplus_pages() (mm/hugetlb.c, Linux 6.16) allocates surplus pages with NUMA_NO_NODE,
// "because we use numa_mem_id() down the road" (alloc_buddy_hugetlb_folio()), within
// policy_mbind_nodemask() & cpuset_current_mems_allowed; hugetlb_acct_memory() then compares the
// reservation with allowed_mems_nr(), the free huge pages of those nodes only.
describe("hugetlb reservations: the mapping task's node and MPOL_BIND policy", () => {
  const mapIn = (p: Task) => p.mmap(HUGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB });

  it("allocates a surplus page on the node the mapping task runs on", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_overcommit_hugepages", "1"));
    const p = run(k.createProcess({ node: 1 }));
    run(mapIn(p));
    expect([nodeCounters(k, 0), nodeCounters(k, 1)]).toEqual([
      [0, 0, 0],
      [1, 1, 1],
    ]);
    expectConsistent(k);
  });

  it("allocates a surplus page on the MPOL_BIND node, where the fault then finds it", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_overcommit_hugepages", "1"));
    const p = run(k.createProcess({ node: 0 }));
    run(p.setMempolicy(MPOL_BIND, [1]));
    const addr = run(mapIn(p));
    expect(counters(k)).toEqual([1, 1, 1, 1]);
    expect([nodeCounters(k, 0), nodeCounters(k, 1)]).toEqual([
      [0, 0, 0],
      [1, 1, 1],
    ]);
    run(p.write(addr, new Uint8Array([7])));
    expect(folioAt(p, addr).nid).toBe(1);
    expect(counters(k)).toEqual([1, 0, 0, 1]);
    expectConsistent(k);
  });

  it("refuses a reservation with ENOMEM when the free huge pages lie outside the MPOL_BIND nodes (allowed_mems_nr())", () => {
    const k = boot();
    run(k.fs.write(`${node(0)}/nr_hugepages`, "1"));
    const p = run(k.createProcess({ node: 0 }));
    run(p.setMempolicy(MPOL_BIND, [1]));
    expectErrno(mapIn(p), "ENOMEM");
    expect(counters(k)).toEqual([1, 1, 0, 0]);
    // Without the policy the node-0 page covers it.
    const q = run(k.createProcess({ node: 1 }));
    run(mapIn(q));
    expect(counters(k)).toEqual([1, 1, 1, 0]);
    expectConsistent(k);
  });
});

describe("migrating hugetlb folios: the destination comes from the target node's pool", () => {
  it("move_pages dequeues a free huge page on the target node; the source goes back to its node's free list", async () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "2"));
    const { p, addr } = mapHuge(k, 1);
    run(p.write(addr, pattern(HUGE, 5)));
    expect(folioAt(p, addr).nid).toBe(0);
    const free = k.pageAlloc.totalFreePages();
    const r = await runP(p.movePages(0, [addr], [1]));
    expect([...r.status]).toEqual([1]);
    expect(folioAt(p, addr).nid).toBe(1);
    expectBytes(run(p.read(addr, HUGE)), pattern(HUGE, 5));
    expect([nodeCounters(k, 0), nodeCounters(k, 1)]).toEqual([
      [1, 1, 0],
      [1, 0, 0],
    ]);
    // Nothing came from, or went back to, the buddy allocator.
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    expect(k.vmstat.get("pgmigrate_success")).toBe(512);
    expectConsistent(k);
  });

  it("a free huge page promised to a reservation is not taken: the destination is a fresh one", async () => {
    const k = boot();
    run(k.fs.write(`${node(0)}/nr_hugepages`, "1"));
    run(k.fs.write(`${node(1)}/nr_hugepages`, "1"));
    const { p, addr } = mapHuge(k, 2);
    run(p.write(addr, new Uint8Array([7])));
    expect(counters(k)).toEqual([2, 1, 1, 0]);
    const r = await runP(p.movePages(0, [addr], [1]));
    expect([...r.status]).toEqual([1]);
    // The reserved page of node 1 stays free; the pool keeps two pages, now both on node 1.
    expect(counters(k)).toEqual([2, 1, 1, 0]);
    expect([nodeCounters(k, 0), nodeCounters(k, 1)]).toEqual([
      [0, 0, 0],
      [2, 1, 0],
    ]);
    expect([...run(p.read(addr, 1))]).toEqual([7]);
    expectConsistent(k);
  });
});

describe("hugetlb pages are mapped by one huge entry (hugetlb_fault)", () => {
  const pmdOf = (p: ReturnType<typeof mapHuge>["p"], addr: number) =>
    p.mm!.findVma(addr)!.pmds.get(addr);

  it("a private fault maps one huge PMD, read-only for a read (hugetlb_no_page()), made writable by a write (hugetlb_wp() reuse)", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "1"));
    const { p, addr } = mapHuge(k, 1);
    expect([...run(p.read(addr + HUGE - 1, 1))]).toEqual([0]);
    const vma = p.mm!.findVma(addr)!;
    expect(vma.ptes.every((pte) => pte === 0)).toBe(true);
    expect(pteWrite(pmdOf(p, addr)!)).toBe(false);
    const folio = folioAt(p, addr);
    run(p.write(addr + 5, new Uint8Array([9])));
    // The same page, now writable: this mapping alone maps it.
    expect(folioAt(p, addr).pfn).toBe(folio.pfn);
    expect(pteWrite(pmdOf(p, addr)!)).toBe(true);
    expect([folio.entireMapcount, folio.refcount]).toEqual([1, 1]);
    expect(counters(k)).toEqual([1, 0, 0, 0]);
    expectConsistent(k);
  });

  it("fork shares the huge PMD copy-on-write; the child's write copies the whole huge page (LTP fork-cow: C1 stays the parent's)", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "3"));
    const { p, addr } = mapHuge(k, 1);
    const C1 = new Uint8Array(new Uint32Array([0x1234abcd]).buffer);
    const C2 = new Uint8Array(new Uint32Array([~0x1234abcd >>> 0]).buffer);
    run(p.write(addr, C1));
    run(p.write(addr + HUGE - 4, C1));
    const child = run(p.fork());
    const folio = folioAt(p, addr);
    expect(folioAt(child, addr).pfn).toBe(folio.pfn);
    expect([folio.entireMapcount, folio.mapcount, folio.refcount]).toEqual([2, 2, 2]);
    expect(pteWrite(pmdOf(p, addr)!)).toBe(false);
    expect(pteWrite(pmdOf(child, addr)!)).toBe(false);
    run(child.write(addr, C2));
    // The child has no reservation: its copy takes a free page nobody reserved.
    expect(counters(k)).toEqual([3, 1, 0, 0]);
    const copy = folioAt(child, addr);
    expect(copy.pfn).not.toBe(folio.pfn);
    expect(copy.hugetlb).toBe(true);
    expect([...run(child.read(addr, 4))]).toEqual([...C2]);
    expect([...run(child.read(addr + HUGE - 4, 4))]).toEqual([...C1]);
    expect([...run(p.read(addr, 4))]).toEqual([...C1]);
    expect([folio.entireMapcount, folio.refcount]).toEqual([1, 1]);
    // The parent maps its page alone again: its write reuses it.
    run(p.write(addr, C2));
    expect(folioAt(p, addr).pfn).toBe(folio.pfn);
    expect(counters(k)).toEqual([3, 1, 0, 0]);
    run(child.exit());
    expect(counters(k)).toEqual([3, 2, 0, 0]);
    run(p.munmap(addr, HUGE));
    expect(counters(k)).toEqual([3, 3, 0, 0]);
    expectConsistent(k);
  });

  it("the owner's copy-on-write with no free page takes the page from its child (unmap_ref_private()); the child's next access gets SIGBUS (hugetlb_no_page(): VM_FAULT_SIGBUS for HPAGE_RESV_UNMAPPED)", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "1"));
    const { p, addr } = mapHuge(k, 1);
    run(p.write(addr, new Uint8Array([1])));
    const child = run(p.fork());
    expect(folioAt(child, addr).mapcount).toBe(2);
    run(p.write(addr, new Uint8Array([2])));
    const folio = folioAt(p, addr);
    expect([folio.entireMapcount, folio.refcount]).toEqual([1, 1]);
    expect(pmdOf(child, addr)).toBeUndefined();
    expect(child.mm!.findVma(addr)!.hugetlbResvUnmapped).toBe(true);
    // x86's do_sigbus(): SIGBUS (7), BUS_ADRERR (2) at the address; the child dies of it.
    const e = expectSignal(child.read(addr, 1), "SIGBUS", "BUS_ADRERR");
    expect([e.signo, e.siCode, e.addr]).toEqual([7, 2, addr]);
    expect(e.message).toContain("HPAGE_RESV_UNMAPPED");
    expect([child.exited, child.exitCode]).toEqual([true, 7]);
    expect([...run(p.read(addr, 1))]).toEqual([2]);
    expect(counters(k)).toEqual([1, 0, 0, 0]);
    expectConsistent(k);
  });

  it("a child's copy-on-write with no free page gets SIGBUS (hugetlb_wp(): vmf_error(-ENOSPC)) and leaves the page shared", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "1"));
    const { p, addr } = mapHuge(k, 1);
    run(p.write(addr, new Uint8Array([1])));
    const child = run(p.fork());
    // alloc_hugetlb_folio()'s -ENOSPC is VM_FAULT_SIGBUS, not VM_FAULT_OOM: a grandchild's write
    // is SIGBUS, BUS_ADRERR, and kills it; the others keep sharing the page.
    expectChildSignal(child, (c) => c.write(addr, new Uint8Array([2])), "SIGBUS", "BUS_ADRERR");
    expect(folioAt(p, addr).entireMapcount).toBe(2);
    expect([...run(child.read(addr, 1))]).toEqual([1]);
    expectConsistent(k);
  });

  it("a forked child's first fault on a page the parent reserved gets SIGBUS, not ENOMEM; mlock() turns it into ENOMEM (alloc_hugetlb_folio()'s -ENOSPC → VM_FAULT_SIGBUS → vm_fault_to_errno()'s -EFAULT → __mlock_posix_error_return())", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "1"));
    const { p, addr } = mapHuge(k, 1);
    const child = run(p.fork());
    // The one free page is the parent's reservation: the child has none (no HPAGE_RESV_OWNER) and
    // the pool has no page nobody reserved, nor a surplus allowed (nr_overcommit_hugepages 0).
    expect(counters(k)).toEqual([1, 1, 1, 0]);
    // A load is SIGBUS, BUS_ADRERR (in a child of the child, which dies of it); mlock()'s
    // populate gets the errno vm_fault_to_errno() gives VM_FAULT_SIGBUS, -EFAULT, as ENOMEM.
    expectChildSignal(child, (c) => c.read(addr, 1), "SIGBUS", "BUS_ADRERR");
    expect(expectErrno(child.mlock(addr, HUGE), "ENOMEM").message).toContain("SIGBUS");
    expect(counters(k)).toEqual([1, 1, 1, 0]);
    // The parent's fault consumes its reservation.
    run(p.write(addr, new Uint8Array([7])));
    expect(counters(k)).toEqual([1, 0, 0, 0]);
    expectConsistent(k);
  });

  it("MAP_HUGE_2MB names the default size; a size with no pool is EINVAL (hstate_sizelog())", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "1"));
    const p = run(k.createProcess());
    const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB;
    const addr = run(p.mmap(HUGE, { flags: flags | MAP_HUGE_2MB }));
    expect(p.mm!.findVma(addr)!.end - addr).toBe(HUGE);
    expectErrno(p.mmap(HUGE, { flags: flags | (22 << MAP_HUGE_SHIFT) }), "EINVAL");
    expect(counters(k)).toEqual([1, 1, 1, 0]);
  });
});

describe("shared hugetlb mappings (MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB)", () => {
  const SHARED = MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB;

  it("reserve per inode, share their pages across fork, and return what no fault used when the last mapping goes", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "4"));
    const p = run(k.createProcess());
    const addr = run(p.mmap(2 * HUGE, { flags: SHARED }));
    expect(counters(k)).toEqual([4, 4, 2, 0]);
    run(p.write(addr, pattern(4096, 3)));
    // The fault consumed one reservation; a shared mapping's page is writable from the start.
    expect(counters(k)).toEqual([4, 3, 1, 0]);
    const vma = p.mm!.findVma(addr)!;
    expect(vma.mapping!.name).toBe("/anon_hugepage (deleted)");
    expect(pteWrite(vma.pmds.get(addr)!)).toBe(true);
    const child = run(p.fork());
    // vma_needs_copy() (mm/memory.c): a shared mapping has no anon_vma, so fork copies none of
    // its entries; the child's first read faults the page in from the hugetlbfs page cache.
    expect(child.mm!.findVma(addr)!.pmds.size).toBe(0);
    expect(folioAt(p, addr).entireMapcount).toBe(1);
    expectBytes(run(child.read(addr, 4096)), pattern(4096, 3));
    expect(folioAt(child, addr).pfn).toBe(folioAt(p, addr).pfn);
    expect(counters(k)).toEqual([4, 3, 1, 0]);
    // The child's write lands in the shared page, and its fault of the second page too.
    run(child.write(addr + 1, new Uint8Array([0xaa])));
    run(child.write(addr + HUGE, new Uint8Array([0xbb])));
    expect(counters(k)).toEqual([4, 2, 0, 0]);
    expect([...run(p.read(addr + 1, 1))]).toEqual([0xaa]);
    expect([...run(p.read(addr + HUGE, 1))]).toEqual([0xbb]);
    expect([folioAt(p, addr).entireMapcount, folioAt(p, addr + HUGE).entireMapcount]).toEqual([
      2, 2,
    ]);
    // The parent's munmap leaves the file, its pages and its reservations with the child.
    run(p.munmap(addr, 2 * HUGE));
    expect(counters(k)).toEqual([4, 2, 0, 0]);
    run(child.exit());
    expect(counters(k)).toEqual([4, 4, 0, 0]);
    expectConsistent(k);
  });

  it("an unfaulted shared mapping returns its reservations at munmap (hugetlb_unreserve_pages())", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "2"));
    const p = run(k.createProcess());
    const addr = run(p.mmap(2 * HUGE, { flags: SHARED }));
    expect(counters(k)).toEqual([2, 2, 2, 0]);
    expectErrno(p.mmap(HUGE, { flags: SHARED }), "ENOMEM");
    expect(k.addressSpaces.size).toBe(1);
    run(p.munmap(addr, 2 * HUGE));
    expect(counters(k)).toEqual([2, 2, 0, 0]);
    expect(k.addressSpaces.size).toBe(0);
    expectConsistent(k);
  });

  it("migrating a shared hugetlb folio remaps it in every process (rmap over i_mmap)", async () => {
    const k = boot();
    run(k.fs.write(`${node(0)}/nr_hugepages`, "1"));
    run(k.fs.write(`${node(1)}/nr_hugepages`, "1"));
    const p = run(k.createProcess({ node: 0, capabilities: [CAP_SYS_NICE] }));
    const addr = run(p.mmap(HUGE, { flags: SHARED }));
    run(p.write(addr, pattern(HUGE, 8)));
    const child = run(p.fork());
    // The child maps the page by touching it (fork copies no entry of a shared mapping).
    run(child.read(addr, 1));
    const old = folioAt(p, addr);
    expect(old.nid).toBe(0);
    // Mapped twice: only MPOL_MF_MOVE_ALL moves it (add_page_for_migration()).
    expect([...(await runP(p.movePages(0, [addr], [1]))).status]).toEqual([-ERRNO.EACCES]);
    const r = await runP(p.movePages(0, [addr], [1], MPOL_MF_MOVE_ALL));
    expect([...r.status]).toEqual([1]);
    const moved = folioAt(p, addr);
    expect(moved.nid).toBe(1);
    expect(folioAt(child, addr).pfn).toBe(moved.pfn);
    expect([moved.entireMapcount, moved.refcount]).toEqual([2, 2 + 512]);
    expectBytes(run(child.read(addr, HUGE)), pattern(HUGE, 8));
    expect([nodeCounters(k, 0), nodeCounters(k, 1)]).toEqual([
      [1, 1, 0],
      [1, 0, 0],
    ]);
    expectConsistent(k);
  });
});

describe("gigantic pages: the 1 GiB pool (alloc_contig_pages) and huge PUD mappings", () => {
  const GiB = 2 ** 30;
  const GIGA = "/sys/kernel/mm/hugepages/hugepages-1048576kB";
  const gnode = (nid: number) =>
    `/sys/devices/system/node/node${nid}/hugepages/hugepages-1048576kB`;
  const giga = (k: Kernel): number[] =>
    ["nr_hugepages", "free_hugepages", "resv_hugepages", "surplus_hugepages"].map((f) =>
      Number(read(k, `${GIGA}/${f}`)),
    );

  it("htlb_alloc_mask() (include/linux/hugetlb.h, Linux 6.16): GFP_HIGHUSER_MOVABLE for the PMD size, GFP_HIGHUSER for the gigantic one (hugepage_movable_supported()), both with __GFP_COMP | __GFP_NOWARN", () => {
    const k = boot({ nodes: ["2G", "1G"] });
    const [pmd, pud] = k.hstates;
    expect(pud!.order).toBe(18);
    expect(htlbAllocMask(pmd!)).toBe(__GFP_COMP | __GFP_NOWARN | GFP_HIGHUSER_MOVABLE);
    // GFP_HIGHUSER is GFP_USER | __GFP_HIGHMEM; the model has no highmem zone.
    expect(htlbAllocMask(pud!)).toBe(__GFP_COMP | __GFP_NOWARN | GFP_USER);
    expect(gfpMigratetype(htlbAllocMask(pud!))).toBe(MIGRATE_UNMOVABLE);
  });

  it("grows per node with alloc_contig_pages(); HugePages_* stay the default pool's while Hugetlb counts both; no overcommit", () => {
    // Node 0's first GiB holds the zero page, so its gigantic page is its second GiB.
    const k = boot({ nodes: ["2G", "1G"] });
    const free = k.pageAlloc.totalFreePages();
    run(k.fs.write(`${gnode(0)}/nr_hugepages`, "1"));
    run(k.fs.write(`${gnode(1)}/nr_hugepages`, "1"));
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "1"));
    expect(giga(k)).toEqual([2, 2, 0, 0]);
    expect(["nr_hugepages", "free_hugepages"].map((f) => read(k, `${gnode(1)}/${f}`))).toEqual([
      "1",
      "1",
    ]);
    expect(hugetlbLines(k)).toEqual([
      "HugePages_Total:       1",
      "HugePages_Free:        1",
      "HugePages_Rsvd:        0",
      "HugePages_Surp:        0",
      "Hugepagesize:       2048 kB",
      `Hugetlb:         ${2 * 1048576 + 2048} kB`,
    ]);
    expect(k.pageAlloc.totalFreePages()).toBe(free - 2 * 262144 - 512);
    // nr_overcommit_hugepages_store(): a gigantic pool has no surplus pages (Linux 6.16).
    expectErrno(k.fs.write(`${GIGA}/nr_overcommit_hugepages`, "1"), "EINVAL");
    // Growing past what the nodes hold reads back what was achieved.
    run(k.fs.write(`${GIGA}/nr_hugepages`, "5"));
    expect(giga(k)).toEqual([2, 2, 0, 0]);
    run(k.fs.write(`${GIGA}/nr_hugepages`, "0"));
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "0"));
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    expectConsistent(k);
  });

  // MAX_FOLIO_ORDER (include/linux/mmzone.h) without SPARSEMEM_VMEMMAP is a section's order: a
  // folio may not span sections, and alloc_contig_range() refuses a larger order with -EINVAL.
  it("finds no gigantic page in sections smaller than one: the pool stays empty, and alloc_contig_range() refuses the folio", async () => {
    const k = boot({ nodes: ["2G", "1G"], sectionSize: "128M" });
    expect([k.pudOrder, maxFolioOrder(k)]).toEqual([18, 15]);
    const free = k.pageAlloc.totalFreePages();
    run(k.fs.write(`${gnode(0)}/nr_hugepages`, "1"));
    expect(read(k, `${gnode(0)}/nr_hugepages`)).toBe("0");
    expect(giga(k)).toEqual([0, 0, 0, 0]);
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    const first = k.mem.nodes[0]!.startPfn;
    const refused = await runP(Effect.flip(allocContigRange(k, first, 18, GFP_USER | __GFP_COMP)));
    expect([refused.errno, refused.message]).toEqual([
      "EINVAL",
      "alloc_contig_range: order 18 is above MAX_FOLIO_ORDER 15: a folio may not span memory sections",
    ]);
    expect(await runP(allocContigPages(k, 18, GFP_USER | __GFP_COMP, 0))).toBe(-1);
    // A folio of a section's order is still had.
    const head = await runP(allocContigPages(k, 15, GFP_USER | __GFP_COMP, 0));
    expect(head).toBeGreaterThanOrEqual(first);
    expect(head % 2 ** 15).toBe(0);
    expectConsistent(k);
  });

  it("MAP_HUGE_1GB maps a 1 GiB page by one huge PUD; fork shares it; move_pages moves it to the target node's pool page", async () => {
    const k = boot({ nodes: ["2G", "1G"] });
    run(k.fs.write(`${gnode(0)}/nr_hugepages`, "1"));
    run(k.fs.write(`${gnode(1)}/nr_hugepages`, "1"));
    const p = run(k.createProcess({ node: 0, capabilities: [CAP_SYS_NICE] }));
    const flags = MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_1GB;
    // A length is rounded up to the huge page size, and the mapping aligned to it.
    const addr = run(p.mmap(4096, { flags }));
    expect(addr % GiB).toBe(0);
    const vma = p.mm!.findVma(addr)!;
    expect(vma.end - addr).toBe(GiB);
    expect(giga(k)).toEqual([2, 2, 1, 0]);
    expectErrno(p.munmap(addr, HUGE), "EINVAL");
    run(p.write(addr, pattern(4096, 1)));
    run(p.write(addr + GiB - 4096, pattern(4096, 2)));
    expect(giga(k)).toEqual([2, 1, 0, 0]);
    expect([...vma.puds.keys()]).toEqual([addr]);
    expect(vma.pmds.size).toBe(0);
    const folio = folioAt(p, addr);
    expect([folio.order, folio.nid, folio.hugetlb]).toEqual([18, 0, true]);
    const child = run(p.fork());
    // Fork copies no entry of a shared mapping (vma_needs_copy()): the child's read maps the page.
    expect(child.mm!.findVma(addr)!.puds.size).toBe(0);
    expect(folio.entireMapcount).toBe(1);
    run(child.read(addr + GiB - 1, 1));
    expect(folioAt(child, addr + GiB - 1).pfn).toBe(folio.pfn);
    expect(folio.entireMapcount).toBe(2);
    const seen: TraceEvent[] = [];
    const unsubscribe = k.trace.subscribe((e) => seen.push(e));
    const r = await runP(p.movePages(0, [addr + 12345], [1], MPOL_MF_MOVE_ALL));
    expect([...r.status]).toEqual([1]);
    const moved = folioAt(child, addr);
    expect([moved.order, moved.nid, moved.entireMapcount]).toEqual([18, 1, 2]);
    expect(folioAt(p, addr).pfn).toBe(moved.pfn);
    // try_to_migrate_one() and remove_migration_pte() trace a hugetlb entry as a PTE of its order.
    unsubscribe();
    const events = seen.filter(
      (e) => e.event === "set_migration_pte" || e.event === "remove_migration_pte",
    );
    expect(events.map((e) => [e.event, (e as { order: number }).order])).toEqual([
      ["set_migration_pte", 18],
      ["set_migration_pte", 18],
      ["remove_migration_pte", 18],
      ["remove_migration_pte", 18],
    ]);
    expectBytes(run(child.read(addr, 4096)), pattern(4096, 1));
    expectBytes(run(p.read(addr + GiB - 4096, 4096)), pattern(4096, 2));
    // The source went back to node 0's free list.
    expect(["0", "1"].map((n) => read(k, `${gnode(Number(n))}/free_hugepages`))).toEqual([
      "1",
      "0",
    ]);
    expect(k.vmstat.get("pgmigrate_success")).toBe(262144);
    expectConsistent(k);
    run(child.exit());
    run(p.exit());
    expect(giga(k)).toEqual([2, 2, 0, 0]);
    expectConsistent(k);
    // The fault zeroes a real GiB (folio_zero_user()) and the migration copies one: seconds of
    // work on a loaded machine, not a hang.
  }, 60_000);
});

describe("hugetlb VMAs are cut at their huge page size only (hugetlb_vm_op_split())", () => {
  // mlock_fixup() (mm/mlock.c, Linux 6.16) never locks a hugetlb VMA ("don't set VM_LOCKED"), so
  // mlock() of part of one splits nothing and succeeds, populating the range.
  it("madvise and mbind of part of a huge page fail with EINVAL, changing nothing; mlock leaves the VMA as it is; mbind's move takes its destination from the pool", async () => {
    const k = boot();
    run(k.fs.write(`${node(0)}/nr_hugepages`, "2"));
    run(k.fs.write(`${node(1)}/nr_hugepages`, "2"));
    const p = run(k.createProcess({ node: 0 }));
    const addr = run(p.mmap(2 * HUGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
    run(p.write(addr, pattern(8, 4)));
    run(p.mlock(addr, 4096));
    expect(p.mm!.vmas[0]!.flags & VM_LOCKED).toBe(0);
    expect(folioAt(p, addr).mlocked).toBe(false);
    expectErrno(p.madvise(addr + 4096, 4096, MADV_HUGEPAGE), "EINVAL");
    expectErrno(p.mbind(addr, HUGE + 4096, MPOL_BIND, [1], MPOL_MF_MOVE), "EINVAL");
    expect(p.mm!.vmas.length).toBe(1);
    expect(folioAt(p, addr).nid).toBe(0);
    // A whole huge page moves to a free page of node 1's pool (alloc_hugetlb_folio_nodemask()).
    const free = k.pageAlloc.totalFreePages();
    run(p.mbind(addr, HUGE, MPOL_BIND, [1], MPOL_MF_MOVE));
    expect(folioAt(p, addr).nid).toBe(1);
    expectBytes(run(p.read(addr, 8)), pattern(8, 4));
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    expect([nodeCounters(k, 0), nodeCounters(k, 1)]).toEqual([
      [2, 2, 0],
      [2, 1, 0],
    ]);
    expect(counters(k)).toEqual([4, 3, 1, 0]);
    expectConsistent(k);
  });
});

// vma_modify() (mm/vma.c, Linux 6.16) splits a VMA at the range's start first (split_vma(),
// new_below) and at its end second, and __split_vma() asks vm_ops->may_split
// (hugetlb_vm_op_split(): -EINVAL off a huge page boundary) before each. So a start inside a huge
// page leaves the hugetlb VMA whole, while an end inside one comes after the start split, which
// stays. The callers stop at that error with the VMAs before it changed: do_mprotect_pkey() →
// mprotect_fixup() (mm/mprotect.c), madvise_walk_vmas() → madvise_update_vma() (mm/madvise.c),
// do_mbind() → mbind_range() (mm/mempolicy.c; nothing is migrated then).
describe("a refused hugetlb cut leaves the splits and changes Linux's vma_modify() made", () => {
  const cases: {
    call: string;
    apply: (p: Task, addr: number, length: number) => ReturnType<Task["mprotect"]>;
    attr: (v: Vma) => string;
    before: string;
    after: string;
  }[] = [
    {
      call: "mprotect(PROT_READ)",
      apply: (p, addr, length) => p.mprotect(addr, length, PROT_READ),
      attr: (v) => (v.flags & VM_WRITE ? "rw" : "r"),
      before: "rw",
      after: "r",
    },
    {
      call: "madvise(MADV_HUGEPAGE)",
      apply: (p, addr, length) => p.madvise(addr, length, MADV_HUGEPAGE),
      attr: (v) => (v.flags & VM_HUGEPAGE ? "hugepage" : "-"),
      before: "-",
      after: "hugepage",
    },
    {
      call: "mbind(MPOL_BIND, [1])",
      apply: (p, addr, length) => p.mbind(addr, length, MPOL_BIND, [1], 0),
      attr: (v) => (v.policy ? `bind:${v.policy.nodes.join(",")}` : "default"),
      before: "default",
      after: "bind:1",
    },
  ];
  for (const { call, apply, attr, before: old, after: set } of cases) {
    it(`${call}: an unaligned start splits nothing; an aligned start's split stays when the end is refused; earlier VMAs keep their change`, () => {
      const k = boot();
      run(k.fs.write("/proc/sys/vm/nr_hugepages", "2"));
      const p = run(k.createProcess());
      const huge = run(p.mmap(2 * HUGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
      const page = 4096;
      const low = huge - 4 * page;
      // An ordinary VMA of four pages right below the hugetlb one.
      expect(
        run(p.mmap(4 * page, { addr: low, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED })),
      ).toBe(low);
      const list = () => p.mm!.vmas.map((v) => [v.start - huge, v.end - huge, attr(v)]);
      const start = list();
      expect(start).toEqual([
        [-4 * page, 0, old],
        [0, 2 * HUGE, old],
      ]);
      // A start inside a huge page: the first split is refused, nothing is cut or changed.
      expectErrno(apply(p, huge + page, HUGE), "EINVAL");
      expect(list()).toEqual(start);
      // An aligned start and an end inside a huge page: the split at the start is made and stays;
      // the end's is refused, and both halves keep the old attributes.
      expectErrno(apply(p, huge + HUGE, page), "EINVAL");
      expect(list()).toEqual([
        [-4 * page, 0, old],
        [0, HUGE, old],
        [HUGE, 2 * HUGE, old],
      ]);
      // From inside the ordinary VMA to inside the second huge page: the ordinary VMA is split
      // and its tail changed, the first hugetlb VMA changed whole, then the cut is refused.
      expectErrno(apply(p, low + page, 4 * page + HUGE + page), "EINVAL");
      expect(list()).toEqual([
        [-4 * page, -3 * page, old],
        [-3 * page, 0, set],
        [0, HUGE, set],
        [HUGE, 2 * HUGE, old],
      ]);
      expectConsistent(k);
    });
  }
});

// do_vmi_align_munmap() → vms_gather_munmap_vmas() (mm/vma.c, Linux 6.16), for munmap() and for
// what a MAP_FIXED mmap() replaces (__mmap_prepare()): the first VMA is cut at the range's start
// first (__split_vma(), new_below), then the last at its end; __split_vma() asks
// hugetlb_vm_op_split() (-EINVAL off a huge page boundary) before each. A refused start cut
// leaves everything as it was; a refused end cut leaves the start's cut made
// (reattach_vmas() puts the gathered VMAs back, split) and unmaps nothing. Only the VMAs actually
// cut are asked: a hugetlb VMA the range covers whole is unmapped whatever the range's ends.
describe("munmap and MAP_FIXED cut hugetlb VMAs as vms_gather_munmap_vmas() does", () => {
  const page = 4096;
  const cases: {
    call: string;
    apply: (p: Task, addr: number, length: number) => ReturnType<Task["munmap"]>;
    /** The VMAs left by the second test, relative to the hugetlb VMA, in pages. */
    after: [number, number][];
  }[] = [
    { call: "munmap", apply: (p, addr, length) => p.munmap(addr, length), after: [[-4, -3]] },
    {
      call: "MAP_FIXED mmap",
      // The new anonymous mapping merges with the ordinary VMA's remaining first page.
      after: [[-4, HUGE / page]],
      apply: (p, addr, length) =>
        Effect.asVoid(p.mmap(length, { addr, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED })),
    },
  ];
  for (const { call, apply, after } of cases) {
    it(`${call}: an unaligned start cuts nothing; an aligned start's cut stays when the end is refused; nothing is unmapped`, () => {
      const k = boot();
      run(k.fs.write("/proc/sys/vm/nr_hugepages", "2"));
      const p = run(k.createProcess());
      const huge = run(p.mmap(2 * HUGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
      const low = huge - 4 * page;
      run(p.mmap(4 * page, { addr: low, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED }));
      run(p.write(low, pattern(4 * page, 1)));
      run(p.write(huge, pattern(8, 2)));
      run(p.write(huge + HUGE, pattern(8, 3)));
      const list = () => p.mm!.vmas.map((v) => [v.start - huge, v.end - huge]);
      expect(list()).toEqual([
        [-4 * page, 0],
        [0, 2 * HUGE],
      ]);
      // Start inside a huge page: the first cut is refused.
      expectErrno(apply(p, huge + page, HUGE), "EINVAL");
      expect(list()).toEqual([
        [-4 * page, 0],
        [0, 2 * HUGE],
      ]);
      // Start inside the ordinary VMA, end inside the hugetlb one: the ordinary VMA's cut is
      // made and stays, the hugetlb VMA's is refused.
      expectErrno(apply(p, low + page, 3 * page + HUGE + page), "EINVAL");
      expect(list()).toEqual([
        [-4 * page, -3 * page],
        [-3 * page, 0],
        [0, 2 * HUGE],
      ]);
      // Aligned start, end inside a huge page: the cut at the start stays.
      expectErrno(apply(p, huge + HUGE, page), "EINVAL");
      expect(list()).toEqual([
        [-4 * page, -3 * page],
        [-3 * page, 0],
        [0, HUGE],
        [HUGE, 2 * HUGE],
      ]);
      // Nothing was unmapped: every byte is still there, and both huge pages are in use.
      expectBytes(run(p.read(low, 4 * page)), pattern(4 * page, 1));
      expectBytes(run(p.read(huge, 8)), pattern(8, 2));
      expectBytes(run(p.read(huge + HUGE, 8)), pattern(8, 3));
      expect(counters(k)).toEqual([2, 0, 0, 0]);
      expectConsistent(k);
    });

    it(`${call}: a range from inside an ordinary VMA over a whole hugetlb VMA is not refused`, () => {
      const k = boot();
      run(k.fs.write("/proc/sys/vm/nr_hugepages", "2"));
      const p = run(k.createProcess());
      const huge = run(p.mmap(HUGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
      const low = huge - 4 * page;
      run(p.mmap(4 * page, { addr: low, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED }));
      run(p.write(huge, pattern(8, 2)));
      expect(counters(k)).toEqual([2, 1, 0, 0]);
      // [low + page, huge + HUGE): only the ordinary VMA is cut (at an unaligned address).
      run(apply(p, low + page, 3 * page + HUGE));
      expect(p.mm!.vmas.map((v) => [(v.start - huge) / page, (v.end - huge) / page])).toEqual(
        after,
      );
      // The huge page went back to the pool.
      expect(counters(k)).toEqual([2, 2, 0, 0]);
      expectConsistent(k);
    });
  }
});

// madvise(MADV_DONTNEED) of hugetlb mappings: madvise_dontneed_free_valid_vma() (mm/madvise.c)
// takes whole huge pages from a huge-page-aligned start, its end rounded down; the zap is
// __unmap_hugepage_range() (mm/hugetlb.c, Linux 6.16), which restores a private owner's
// reservation when the pool has no surplus page (free_huge_folio() raises resv_huge_pages for an
// HPG_restore_reserve folio). free_hugepages after tools/testing/selftests/mm/hugetlb-madvise.c
// (MIN_FREE_PAGES 20, NR_HUGE_PAGES 10); resv_hugepages from that code.
describe("madvise(MADV_DONTNEED) of hugetlb mappings (selftests/mm/hugetlb-madvise.c)", () => {
  const NR = 10;
  const pmdOf = (p: Task, addr: number) => p.mm!.findVma(addr)?.pmds.get(addr);
  /** write_fault_pages(): writes i at the start of huge page i. */
  const writeFaultPages = (p: Task, addr: number) => {
    for (let i = 0; i < NR; i++) run(p.write(addr + i * HUGE, new Uint8Array([i + 1])));
  };
  const firstBytes = (p: Task, addr: number) =>
    Array.from({ length: NR }, (_, i) => run(p.read(addr + i * HUGE, 1))[0]);
  const pool20 = () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "20"));
    return k;
  };

  it("an unaligned start is EINVAL; the end is rounded down to the huge page size (all but the last page freed, their reservations back)", () => {
    const k = pool20();
    const { p, addr } = mapHuge(k, NR);
    expect(counters(k)).toEqual([20, 20, 10, 0]);
    writeFaultPages(p, addr);
    expect(counters(k)).toEqual([20, 10, 0, 0]);
    // "addr is not huge page size aligned and should fail"
    expectErrno(p.madvise(addr + 4096, NR * HUGE - 4096, MADV_DONTNEED), "EINVAL");
    expect(counters(k)).toEqual([20, 10, 0, 0]);
    // "should free all but last page in mapping": free_hugepages - 1.
    run(p.madvise(addr, (NR - 1) * HUGE + 4096, MADV_DONTNEED));
    expect(counters(k)).toEqual([20, 19, 9, 0]);
    expect(hugetlbLines(k)).toContain("HugePages_Rsvd:        9");
    expect(pmdOf(p, addr)).toBeUndefined();
    expect(pmdOf(p, addr + (NR - 1) * HUGE)).toBeDefined();
    // A private page comes back zeroed from a restored reservation; the last page kept its data.
    expect(firstBytes(p, addr)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, NR]);
    expect(counters(k)).toEqual([20, 10, 0, 0]);
    // A range shorter than a huge page zaps nothing (madvise_dontneed_free(): start == end).
    run(p.madvise(addr, HUGE - 4096, MADV_DONTNEED));
    expect(pmdOf(p, addr)).toBeDefined();
    run(p.munmap(addr, NR * HUGE));
    expect(counters(k)).toEqual([20, 20, 0, 0]);
    expectConsistent(k);
  });

  it("a private anonymous mapping: every page freed and re-reserved, the refault zeroed", () => {
    const k = pool20();
    const { p, addr } = mapHuge(k, NR);
    run(p.write(addr + 100, pattern(4096, 3)));
    writeFaultPages(p, addr);
    expect(counters(k)).toEqual([20, 10, 0, 0]);
    run(p.madvise(addr, NR * HUGE, MADV_DONTNEED));
    // "should free all pages in mapping": free_hugepages.
    expect(counters(k)).toEqual([20, 20, 10, 0]);
    expect([...run(p.read(addr + 100, 8))]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(counters(k)).toEqual([20, 19, 9, 0]);
    writeFaultPages(p, addr);
    expect(counters(k)).toEqual([20, 10, 0, 0]);
    run(p.munmap(addr, NR * HUGE));
    expect(counters(k)).toEqual([20, 20, 0, 0]);
    expectConsistent(k);
  });

  it("a hole before or after the VMA is ENOMEM, the VMA zapped whole huge pages up to the rounded-down end (madvise_walk_vmas())", () => {
    const k = pool20();
    const { p, addr: base } = mapHuge(k, NR + 2);
    run(p.munmap(base, HUGE));
    run(p.munmap(base + (NR + 1) * HUGE, HUGE));
    const addr = base + HUGE;
    writeFaultPages(p, addr);
    expect(counters(k)).toEqual([20, 10, 0, 0]);
    // "addr before mapping should fail": the hole is skipped, [addr, addr + 10H - 4K) rounds
    // down to 9 huge pages, which go.
    expectErrno(p.madvise(addr - 4096, NR * HUGE, MADV_DONTNEED), "ENOMEM");
    expect(counters(k)).toEqual([20, 19, 9, 0]);
    writeFaultPages(p, addr);
    // "addr + length after mapping should fail": all 10 go first.
    expectErrno(p.madvise(addr, NR * HUGE + 4096, MADV_DONTNEED), "ENOMEM");
    expect(counters(k)).toEqual([20, 20, 10, 0]);
    run(p.munmap(addr, NR * HUGE));
    expect(counters(k)).toEqual([20, 20, 0, 0]);
    expectConsistent(k);
  });

  it("a shared mapping's pages stay in the page cache: no page freed, the refault maps the same page with its data", () => {
    const k = pool20();
    const p = run(k.createProcess());
    const flags = MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB;
    const addr = run(p.mmap(NR * HUGE, { flags }));
    writeFaultPages(p, addr);
    const pfn = folioAt(p, addr).pfn;
    expect(counters(k)).toEqual([20, 10, 0, 0]);
    // "madvise should not free any pages": free_hugepages - NR_HUGE_PAGES.
    run(p.madvise(addr, NR * HUGE, MADV_DONTNEED));
    expect(counters(k)).toEqual([20, 10, 0, 0]);
    expect(pmdOf(p, addr)).toBeUndefined();
    expect(firstBytes(p, addr)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(folioAt(p, addr).pfn).toBe(pfn);
    expect(counters(k)).toEqual([20, 10, 0, 0]);
    run(p.munmap(addr, NR * HUGE));
    expect(counters(k)).toEqual([20, 20, 0, 0]);
    expectConsistent(k);
  });

  it("a page a forked child still maps keeps its reservation in the owner's map; resv_hugepages rises when the child lets it go (HPG_restore_reserve)", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "2"));
    const { p, addr } = mapHuge(k, 1);
    run(p.write(addr, new Uint8Array([5])));
    const child = run(p.fork());
    expect(counters(k)).toEqual([2, 1, 0, 0]);
    run(p.madvise(addr, HUGE, MADV_DONTNEED));
    expect(counters(k)).toEqual([2, 1, 0, 0]);
    expect([...run(child.read(addr, 1))]).toEqual([5]);
    run(child.exit());
    expect(counters(k)).toEqual([2, 2, 1, 0]);
    expect([...run(p.read(addr, 1))]).toEqual([0]);
    expect(counters(k)).toEqual([2, 1, 0, 0]);
    run(p.munmap(addr, HUGE));
    expect(counters(k)).toEqual([2, 2, 0, 0]);
    expectConsistent(k);
  });

  it("the owner's munmap() restores the reservation of a page its child still maps, then hugetlb_vm_op_close() returns it: resv_hugepages wraps below 0 until the child lets the page go", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "2"));
    const { p, addr } = mapHuge(k, 1);
    run(p.write(addr, new Uint8Array([5])));
    const child = run(p.fork());
    run(p.munmap(addr, HUGE));
    // unsigned long resv_huge_pages - 1, printed with %lu.
    expect(read(k, `${GLOBAL}/resv_hugepages`)).toBe("18446744073709551615");
    expect(hugetlbLines(k)).toContain("HugePages_Rsvd:    18446744073709551615");
    expect(k.hstate.restoreReserve.size).toBe(1);
    expectConsistent(k);
    run(child.exit());
    expect(counters(k)).toEqual([2, 2, 0, 0]);
    expect(k.hstate.restoreReserve.size).toBe(0);
    expectConsistent(k);
  });

  const ULONG_MAX = "18446744073709551615";
  const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB;
  /**
   * 4 persistent huge pages, 40 overcommit, on one node (free_huge_folio() dissolves a freed folio
   * when its node has a surplus page), a process, and the pool counters as sysfs prints them.
   */
  const overcommitPool = () => {
    const k = boot({ nodes: ["64M"] });
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "4"));
    run(k.fs.write("/proc/sys/vm/nr_overcommit_hugepages", "40"));
    const raw = () =>
      ["nr_hugepages", "free_hugepages", "resv_hugepages", "surplus_hugepages"].map((f) =>
        read(k, `${GLOBAL}/${f}`),
      );
    return { k, raw, p: run(k.createProcess()) };
  };

  // The owner zaps a page its child maps, then faults the index again: alloc_hugetlb_folio() finds
  // the reservation in the owner's map (vma_needs_reservation() 0, gbl_chg 0) and drops
  // resv_huge_pages unconditionally, below 0 while the old folio's HPG_restore_reserve increment
  // waits for the child; with no free page left the reserved fault takes a surplus page
  // (alloc_buddy_hugetlb_folio_with_mpol()) and still consumes the reservation. Each folio's free
  // gives its increment back, and hugetlb_vm_op_close() the owner's restored reservations.
  it("the owner's refault of a page its children still map consumes the restored reservation (resv_hugepages wraps), a surplus page standing in when none is free; all of it comes back at exit", () => {
    const { k, raw, p } = overcommitPool();
    const a = run(p.mmap(HUGE, { flags }));
    const b = run(p.mmap(2 * HUGE, { flags }));
    const readAll = (t: Task) => [a, b, b + HUGE].map((addr) => run(t.read(addr, 1))[0]);
    run(p.write(a, new Uint8Array([7])));
    expect(readAll(p)).toEqual([7, 0, 0]);
    expect(raw()).toEqual(["4", "1", "0", "0"]);
    const c1 = run(p.fork());
    run(p.madvise(a, HUGE, MADV_DONTNEED));
    expect(raw()).toEqual(["4", "1", "0", "0"]);
    // The refault dequeues the last free page on the restored reservation.
    expect(readAll(p)).toEqual([0, 0, 0]);
    expect(raw()).toEqual(["4", "0", ULONG_MAX, "0"]);
    expect(hugetlbLines(k)).toContain(`HugePages_Rsvd:    ${ULONG_MAX}`);
    const c2 = run(p.fork());
    run(p.madvise(a, HUGE, MADV_DONTNEED));
    expect(raw()).toEqual(["4", "0", ULONG_MAX, "0"]);
    // No free page: a surplus one, the reservation consumed all the same.
    expect(readAll(p)).toEqual([0, 0, 0]);
    expect(raw()).toEqual(["5", "0", "18446744073709551614", "1"]);
    expect(k.hstate.restoreReserve.size).toBe(2);
    expect(readAll(c1)).toEqual([7, 0, 0]);
    expect(readAll(c2)).toEqual([0, 0, 0]);
    const c3 = run(p.fork());
    expectConsistent(k);
    run(c3.exit());
    expect(raw()).toEqual(["5", "0", "18446744073709551614", "1"]);
    // c2's exit frees the first refault's folio: its increment back, and as its node has a
    // surplus page it leaves the pool (free_huge_folio()).
    run(c2.exit());
    expect(raw()).toEqual(["4", "0", ULONG_MAX, "0"]);
    run(c1.exit());
    expect(raw()).toEqual(["4", "1", "0", "0"]);
    expect(k.hstate.restoreReserve.size).toBe(0);
    run(p.exit());
    expect(raw()).toEqual(["4", "4", "0", "0"]);
    expectConsistent(k);
  });

  // gather_surplus_pages() computes what it needs from the wrapped unsigned counter (ULONG_MAX + 2
  // - 1 free: 0, nothing to gather), then hugetlb_acct_memory()'s allowed_mems_nr() check finds
  // fewer free pages than asked for and gives the reservations back (return_unused_surplus_pages()).
  it("while resv_hugepages is wrapped below 0, mmap() of more huge pages than are free fails with ENOMEM despite overcommit; as many as are free succeed", () => {
    const { k, raw, p } = overcommitPool();
    const a = run(p.mmap(HUGE, { flags }));
    const b = run(p.mmap(HUGE, { flags }));
    run(p.write(a, new Uint8Array([7])));
    run(p.write(b, new Uint8Array([8])));
    const child = run(p.fork());
    run(p.madvise(a, HUGE, MADV_DONTNEED));
    expect([...run(p.read(a, 1))]).toEqual([0]);
    expect(raw()).toEqual(["4", "1", ULONG_MAX, "0"]);
    expectErrno(p.mmap(2 * HUGE, { flags }), "ENOMEM");
    expect(raw()).toEqual(["4", "1", ULONG_MAX, "0"]);
    const c = run(p.mmap(HUGE, { flags }));
    expect(raw()).toEqual(["4", "1", "0", "0"]);
    expect([...run(child.read(a, 1))]).toEqual([7]);
    run(child.exit());
    expect(raw()).toEqual(["4", "2", "1", "0"]);
    expect([...run(p.read(c, 1))]).toEqual([0]);
    expect(raw()).toEqual(["4", "1", "0", "0"]);
    run(p.exit());
    expect(raw()).toEqual(["4", "4", "0", "0"]);
    expectConsistent(k);
  });

  it("a child's DONTNEED of its copy restores nothing (no HPAGE_RESV_OWNER); with surplus pages in the pool the owner's reservation is not restored either, the page leaving the pool", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "2"));
    const { p, addr } = mapHuge(k, 1);
    run(p.write(addr, new Uint8Array([1])));
    const child = run(p.fork());
    run(child.write(addr, new Uint8Array([2])));
    expect(counters(k)).toEqual([2, 0, 0, 0]);
    run(child.madvise(addr, HUGE, MADV_DONTNEED));
    expect(counters(k)).toEqual([2, 1, 0, 0]);
    run(child.exit());
    run(p.munmap(addr, HUGE));

    const o = boot();
    run(o.fs.write("/proc/sys/vm/nr_overcommit_hugepages", "2"));
    const m = mapHuge(o, 2);
    expect(counters(o)).toEqual([2, 2, 2, 2]);
    run(m.p.write(m.addr, new Uint8Array([1])));
    run(m.p.write(m.addr + HUGE, new Uint8Array([1])));
    expect(counters(o)).toEqual([2, 0, 0, 2]);
    // h->surplus_huge_pages != 0: no restore; free_huge_folio() frees the surplus page.
    run(m.p.madvise(m.addr, HUGE, MADV_DONTNEED));
    expect(counters(o)).toEqual([1, 0, 0, 1]);
    // The refault has no reservation: a new surplus page under nr_overcommit_hugepages.
    expect([...run(m.p.read(m.addr, 1))]).toEqual([0]);
    expect(counters(o)).toEqual([2, 0, 0, 2]);
    run(m.p.munmap(m.addr, 2 * HUGE));
    expect(counters(o)).toEqual([0, 0, 0, 0]);
    expectConsistent(o);
  });
});
