// The hugetlb pool (mm/hugetlb.c, Linux 6.16): set_max_huge_pages() over the nodes,
// hugetlb_reserve_pages() at mmap, the counters of /proc/meminfo (hugetlb_report_meminfo()) and
// sysfs, overcommit, and a hugetlb folio's migration target from the pool
// (alloc_hugetlb_folio_nodemask()). Expected values after LTP's hugemmap counters test
// (testcases/kernel/mem/hugetlb/hugemmap/hugemmap10.c) and tools/testing/selftests/mm.
import { describe, expect, it } from "vitest";
import {
  type Kernel,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MPOL_BIND,
  WMARK_MIN,
} from "../../src/index";
import {
  boot,
  expectBytes,
  expectConsistent,
  expectErrno,
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
    expect(run(k.fs.list("/sys/kernel/mm/hugepages"))).toEqual(["hugepages-2048kB"]);
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
    const k = boot();
    const frag = await runP(fragmentNode(k, { nid: 1 }));
    expect(k.pageAlloc.zones[1]!.nrFree.slice(9).every((n) => n === 0)).toBe(true);
    await runP(k.fs.write(`${node(1)}/nr_hugepages`, "4"));
    expect(nodeCounters(k, 1)).toEqual([4, 4, 0]);
    expect(k.vmstat.get("compact_stall")).toBeGreaterThan(0);
    expect(k.vmstat.get("compact_success")).toBeGreaterThan(0);
    expect(await runP(frag.intact())).toBe(true);
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
