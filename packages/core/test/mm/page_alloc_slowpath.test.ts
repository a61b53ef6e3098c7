// __alloc_pages_slowpath() (mm/page_alloc.c, Linux 6.16) for every allocation that may reclaim
// directly, whatever its order and caller: the initial INIT_COMPACT_PRIORITY compaction for a
// costly or non-movable order, direct reclaim then compaction at DEF_COMPACT_PRIORITY, the
// __GFP_NORETRY / costly cuts, should_reclaim_retry() and should_compact_retry(), and
// __alloc_pages_may_oom(), whose OOM killer (mm/oom_kill.ts) finds no process to kill here, so the
// kernel panics (out_of_memory(): panic("System is deadlocked on memory\n")).
import { Effect, Exit } from "effect";
import { describe, expect, it } from "vitest";
import {
  __GFP_MEMALLOC,
  __GFP_NOMEMALLOC,
  __GFP_NORETRY,
  __GFP_RETRY_MAYFAIL,
  __GFP_THISNODE,
  type AllocRequest,
  allocPagesSlowpath,
  type ErrnoError,
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
  GFP_NOWAIT,
  type Kernel,
  KernelPanic,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  MEMTIER_DEFAULT_DAX_ADISTANCE,
  MPOL_BIND,
  PF_MEMALLOC,
  PROT_READ,
  type TaskStruct,
} from "../../src/index";
import {
  boot,
  expectConsistent,
  expectErrno,
  expectSignal,
  fillNodeToMin,
  folioAt,
  pattern,
  run,
  runP,
} from "../../src/testing/index";

/**
 * One 16 MiB node: 4096 pages, min watermark 128 pages, low 160, high 192
 * (init_per_zone_wmark_min(), __setup_per_zone_wmarks()).
 */
const bootOne = () => boot({ nodes: ["16M"] });

const PAGE = 4096;

/** The counters the slow path's steps add to, as deltas from now. */
const delta = (k: Kernel) => {
  const before = k.vmstat.snapshot();
  return (item: string) => k.vmstat.get(item) - before[item]!;
};

/**
 * Gives the node's free memory to `cached` clean page-cache pages (a file mapping read through),
 * then to kernel allocations (`GFP_KERNEL`'s first tries until they fail).
 */
const fillNode = (k: Kernel, cached: number): Promise<void> => runP(fillNodeToMin(k, cached));

/** Takes base pages with `GFP_KERNEL`'s first tries until they fail: the node at its min mark. */
const drainToMin = (k: Kernel): void => {
  while (k.pageAlloc.allocPages(0, 0, GFP_KERNEL) >= 0);
  expect(k.pageAlloc.nodeFreePages(0)).toBe(128);
};

const slowpath = (
  k: Kernel,
  gfp: number,
  order: number,
  current: TaskStruct | null = null,
  nid = 0,
) => {
  const req: AllocRequest = { nid, order, gfp, nodemask: null };
  return runP(allocPagesSlowpath(k, req, current));
};

/**
 * Runs the slow path as {@link slowpath} does, for an allocation that reaches the OOM killer with
 * no process to kill: out_of_memory() panics ("System is deadlocked on memory"), so the Effect
 * dies with that KernelPanic, and the kernel is left panicked.
 */
const slowpathPanics = async (k: Kernel, gfp: number, order: number): Promise<void> => {
  const req: AllocRequest = { nid: 0, order, gfp, nodemask: null };
  const exit = await Effect.runPromiseExit(allocPagesSlowpath(k, req));
  expect(exit).toEqual(Exit.die(new KernelPanic("System is deadlocked on memory\n")));
  expect([k.state, k.panicked]).toEqual(["panicked", "System is deadlocked on memory"]);
};

describe("__alloc_pages_slowpath() with nothing to reclaim (Linux 6.16)", () => {
  it("GFP_KERNEL order 0: one direct reclaim, no compaction (order 0), should_reclaim_retry() says no, then out_of_memory(), with no process to kill, panics", async () => {
    const k = bootOne();
    drainToMin(k);
    const d = delta(k);
    await slowpathPanics(k, GFP_KERNEL, 0);
    expect(d("allocstall_normal")).toBe(1);
    expect(d("pgscan_direct")).toBe(0);
    expect(d("compact_stall")).toBe(0);
    expectConsistent(k);
  });

  it("__GFP_THISNODE, __GFP_RETRY_MAYFAIL and __GFP_NORETRY reclaim once and fail without reaching the OOM killer (__alloc_pages_may_oom())", async () => {
    const k = bootOne();
    drainToMin(k);
    for (const flag of [__GFP_THISNODE, __GFP_RETRY_MAYFAIL, __GFP_NORETRY]) {
      const d = delta(k);
      expect(await slowpath(k, GFP_KERNEL | flag, 0)).toEqual({ page: -1, outOfMemory: false });
      expect(d("allocstall_normal")).toBe(1);
    }
  });

  it("a costly order never reaches the OOM killer: without __GFP_RETRY_MAYFAIL it stops after one reclaim and compaction, with it when should_reclaim_retry() says no", async () => {
    const k = bootOne();
    drainToMin(k);
    for (const gfp of [GFP_KERNEL, GFP_KERNEL | __GFP_RETRY_MAYFAIL]) {
      const d = delta(k);
      expect(await slowpath(k, gfp, 4)).toEqual({ page: -1, outOfMemory: false });
      expect(d("allocstall_normal")).toBe(1);
      // 128 free pages are under compaction_suitable()'s low mark + compact_gap(4) = 192:
      // both compactions are skipped, and a skipped one counts no stall.
      expect(d("compact_stall")).toBe(0);
    }
  });

  it("GFP_NOWAIT does nothing more, and a PF_MEMALLOC task does not reclaim (no recursion): neither reaches the OOM killer", async () => {
    const k = bootOne();
    drainToMin(k);
    const task = run(k.createProcess({ node: 0 }));
    task.flags |= PF_MEMALLOC;
    const d = delta(k);
    expect(await slowpath(k, GFP_NOWAIT, 0)).toEqual({ page: -1, outOfMemory: false });
    expect(await slowpath(k, GFP_KERNEL | __GFP_NOMEMALLOC, 0, task)).toEqual({
      page: -1,
      outOfMemory: false,
    });
    expect(d("allocstall_normal")).toBe(0);
    // Without __GFP_NOMEMALLOC the retry's reserves (ALLOC_NO_WATERMARKS) give it a page.
    const got = await slowpath(k, GFP_KERNEL, 0, task);
    expect(got.page).toBeGreaterThanOrEqual(0);
    expect(d("allocstall_normal")).toBe(0);
    k.pageAlloc.freePages(got.page, 0);
    // __GFP_MEMALLOC alone does the same for a task without the flag.
    const reserve = await slowpath(k, GFP_KERNEL | __GFP_MEMALLOC, 0);
    expect(reserve.page).toBeGreaterThanOrEqual(0);
  });

  it("Kernel.allocFolio without __GFP_DIRECT_RECLAIM fails with ENOMEM and reclaims nothing; with GFP_KERNEL it reclaims directly, then the OOM killer, with no process to kill, panics (ESHUTDOWN naming it)", () => {
    const k = bootOne();
    drainToMin(k);
    const d = delta(k);
    expectErrno(k.allocFolio(0, 0), "ENOMEM");
    expect(d("allocstall_normal")).toBe(0);
    const err = expectErrno(k.allocFolio(0, 0, GFP_KERNEL), "ESHUTDOWN");
    expect(err.message).toBe(
      "folio_alloc: Kernel panic - not syncing: System is deadlocked on memory",
    );
    expect(d("allocstall_normal")).toBe(1);
  });
});

describe("__alloc_pages_slowpath() for a non-costly order on a node compaction cannot help (Linux 6.16)", () => {
  /** A node whose free half is in order-1 blocks between pinned ones: no block above order 1. */
  const fragmented = () => {
    const k = bootOne();
    const frag = k.pageAlloc.fragment(0, 1);
    expect(k.pageAlloc.largestFreeOrder(0)).toBe(1);
    return { k, frag };
  };

  it("a movable order-2 allocation skips the initial compaction: one reclaim, one DEF_COMPACT_PRIORITY compaction, then the OOM killer's point (a panic: no process to kill)", async () => {
    const { k, frag } = fragmented();
    const d = delta(k);
    await slowpathPanics(k, GFP_HIGHUSER_MOVABLE, 2);
    expect(d("allocstall_normal")).toBe(1);
    expect(d("compact_stall")).toBe(1);
    expect(d("compact_fail")).toBe(1);
    frag.release();
    expectConsistent(k);
  });

  it("an unmovable order-2 allocation compacts first at INIT_COMPACT_PRIORITY, then reclaims and compacts again", async () => {
    const { k, frag } = fragmented();
    const d = delta(k);
    await slowpathPanics(k, GFP_KERNEL, 2);
    expect(d("compact_stall")).toBe(2);
    expect(d("compact_fail")).toBe(2);
    expect(d("allocstall_normal")).toBe(1);
    frag.release();
    expectConsistent(k);
  });

  it("__GFP_NORETRY cuts a non-costly order only after the retry's reclaim and compaction, short of the OOM killer", async () => {
    const { k, frag } = fragmented();
    const n = delta(k);
    expect(await slowpath(k, GFP_KERNEL | __GFP_NORETRY, 2)).toEqual({
      page: -1,
      outOfMemory: false,
    });
    expect(n("compact_stall")).toBe(2);
    expect(n("allocstall_normal")).toBe(1);
    frag.release();
    expectConsistent(k);
  });
});

// alloc_anon_folio() (mm/memory.c, Linux 6.16) tries each enabled mTHP order with
// vma_thp_gfp_mask(): under defrag=madvise GFP_TRANSHUGE for a MADV_HUGEPAGE VMA, whose movable
// non-costly orders get one reclaim and one compaction before the OOM killer (GFP_TRANSHUGE has
// no __GFP_NORETRY, and an order up to PAGE_ALLOC_COSTLY_ORDER reaches __alloc_pages_may_oom()'s
// out_of_memory(), which with no process to kill here panics), and GFP_TRANSHUGE_LIGHT
// otherwise: no slow path, and the fault falls back order by order.
describe("an mTHP fault on a node with no free block above order 1", () => {
  const mthpSetup = () => {
    const k = boot({ nodes: ["16M"], thp: { enabled: "always" } });
    const thp = "/sys/kernel/mm/transparent_hugepage";
    run(k.fs.write(`${thp}/hugepages-2048kB/enabled`, "never"));
    run(k.fs.write(`${thp}/hugepages-32kB/enabled`, "always"));
    run(k.fs.write(`${thp}/hugepages-16kB/enabled`, "always"));
    const frag = k.pageAlloc.fragment(0, 1);
    const p = run(k.createProcess({ node: 0 }));
    run(p.setMempolicy(MPOL_BIND, [0]));
    // OOM_SCORE_ADJ_MIN: an order up to 3 that reaches the OOM killer finds no process to kill
    // (p would otherwise be its only candidate).
    run(k.fs.write(`/proc/${p.pid}/oom_score_adj`, "-1000"));
    const size = 256 * 1024;
    const base = run(p.mmap(size, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    // 32 KiB-aligned, so both mTHP sizes fit around it.
    const addr = Math.ceil(base / (32 * 1024)) * 32 * 1024;
    return { k, frag, p, base, size, addr };
  };

  it("in a MADV_HUGEPAGE VMA (GFP_TRANSHUGE): the 32 KiB order gets one direct reclaim and one compaction, then the OOM killer, which with no process to kill panics: the fault's call fails with ESHUTDOWN naming it, no order falls back", async () => {
    const { k, frag, p, base, size, addr } = mthpSetup();
    run(p.madvise(base, size, MADV_HUGEPAGE));
    const d = delta(k);
    const err = await runP(Effect.flip(p.write(addr, new Uint8Array([1]))));
    expect([(err as ErrnoError).errno, err.message]).toEqual([
      "ESHUTDOWN",
      "write: Kernel panic - not syncing: System is deadlocked on memory",
    ]);
    expect(d("allocstall_normal")).toBe(1);
    expect(d("compact_stall")).toBe(1);
    expect(d("compact_fail")).toBe(1);
    // panic() never returns: alloc_anon_folio() counts no fallback.
    expect(k.thp.mthpStat(3, "anon_fault_fallback")).toBe(0);
    expect(k.thp.mthpStat(2, "anon_fault_fallback")).toBe(0);
    frag.release();
    expectConsistent(k);
  });

  it("without MADV_HUGEPAGE (GFP_TRANSHUGE_LIGHT): no reclaim, no compaction; each order falls back, and a base page is mapped", async () => {
    const { k, frag, p, addr } = mthpSetup();
    const d = delta(k);
    await runP(p.write(addr, new Uint8Array([1])));
    expect(folioAt(p, addr).order).toBe(0);
    // Each order tried once and counted once: 32 KiB (order 3), then 16 KiB (order 2).
    expect(k.thp.mthpStat(3, "anon_fault_fallback")).toBe(1);
    expect(k.thp.mthpStat(2, "anon_fault_fallback")).toBe(1);
    expect(k.thp.mthpStat(3, "anon_fault_alloc") + k.thp.mthpStat(2, "anon_fault_alloc")).toBe(0);
    frag.release();
    expectConsistent(k);
    expect(d("allocstall_normal")).toBe(0);
    expect(d("compact_stall")).toBe(0);
  });
});

// alloc_migration_target() (mm/migrate.c, Linux 6.16): a move_pages(2) destination is a
// GFP_HIGHUSER_MOVABLE | __GFP_THISNODE allocation, which may reclaim directly on the target node.
describe("a migration target takes the slow path", () => {
  /** Two nodes; node 1 at its min watermark, holding `cached` clean page-cache pages. */
  const fullTarget = (cached: number) => {
    const k = boot({ nodes: ["16M", "16M"] });
    if (cached) {
      const q = run(k.createProcess({ node: 1 }));
      run(q.setMempolicy(MPOL_BIND, [1]));
      const file = run(k.createFile("cache"));
      run(file.truncate(cached * PAGE));
      const c = run(q.mmap(cached * PAGE, { flags: MAP_SHARED, prot: PROT_READ, file }));
      run(q.read(c, cached * PAGE));
    }
    while (k.pageAlloc.allocPages(1, 0, GFP_KERNEL | __GFP_THISNODE) >= 0);
    // min_free_kbytes = int_sqrt(32768 * 16) = 724: 181 pages, 90 for each 16 MiB zone.
    expect(k.pageAlloc.nodeFreePages(1)).toBe(90);
    const p = run(k.createProcess({ node: 0 }));
    const addr = run(p.mmap(PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    run(p.write(addr, new Uint8Array(PAGE).fill(5)));
    return { k, p, addr };
  };

  it("reclaims the target node's clean page cache and moves the page there", async () => {
    const { k, p, addr } = fullTarget(1000);
    const d = delta(k);
    const { status } = await runP(p.movePages(0, [addr], [1]));
    expect(status[0]).toBe(1);
    expect(d("allocstall_normal")).toBe(1);
    expect(d("pgsteal_direct")).toBeGreaterThan(0);
    expect(d("pgmigrate_success")).toBe(1);
    expect(run(p.read(addr, PAGE)).every((b) => b === 5)).toBe(true);
    expectConsistent(k);
  });

  it("with nothing to reclaim there: one direct reclaim, then ENOMEM (__GFP_THISNODE: no OOM killer; migrate_pages()'s -ENOMEM fails the call)", () => {
    const { k, p, addr } = fullTarget(0);
    const d = delta(k);
    expectErrno(p.movePages(0, [addr], [1]), "ENOMEM");
    expect(d("allocstall_normal")).toBe(1);
    expect(d("pgmigrate_success")).toBe(0);
    expectConsistent(k);
  });
});

// alloc_demote_folio() (mm/vmscan.c, Linux 6.16): two alloc_migration_target() calls, first on the
// target node alone, each of which allocates a large folio with GFP_TRANSHUGE. Under reclaim's
// PF_MEMALLOC a costly order still gets __alloc_pages_slowpath()'s initial compaction (its
// __GFP_NOMEMALLOC keeps the reserves, which would skip it, away); the recursion check then stops
// it before reclaim.
describe("demotion of a THP to a node with no free 2 MiB block", () => {
  it("compacts the target once per alloc_migration_target() call, reclaims nothing more, then splits the THP and demotes its pages", async () => {
    const k = boot({
      nodes: ["16M", { memory: "64M", adistance: MEMTIER_DEFAULT_DAX_ADISTANCE }],
      thp: { enabled: "madvise" },
      daemons: "on-demand", // no kcompactd or kswapd beside the counted direct compaction
    });
    run(k.fs.write("/sys/kernel/mm/numa/demotion_enabled", "1"));
    // The slow tier's free memory in order-3 blocks between pinned ones: compaction is suitable
    // (fragmentation index above extfrag_threshold) but cannot make an order-9 block.
    const frag = k.pageAlloc.fragment(1, 3);
    const p = run(k.createProcess({ node: 0 }));
    run(p.setMempolicy(MPOL_BIND, [0]));
    const PMD = 2 * 1024 * 1024;
    const region = run(p.mmap(2 * PMD, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    run(p.madvise(region, 2 * PMD, MADV_HUGEPAGE));
    const thp = Math.ceil(region / PMD) * PMD;
    await runP(p.write(thp, new Uint8Array([1])));
    expect(folioAt(p, thp).order).toBe(9);
    const d = delta(k);
    // More base pages than DRAM has left: the fault reclaims, and the THP, oldest, is demoted.
    const n = 4000;
    const a = run(p.mmap(n * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    await runP(p.write(a, pattern(n * PAGE, 2)));
    expect(d("allocstall_normal")).toBe(1);
    expect(d("compact_stall")).toBe(2);
    expect(d("compact_fail")).toBe(2);
    expect(d("thp_migration_fail")).toBe(1);
    expect(d("thp_migration_split")).toBe(1);
    expect(d("pgdemote_direct")).toBe(512);
    expect(run(p.nodeOf(thp))).toBe(1);
    expect(run(p.read(thp, 1))[0]).toBe(1);
    frag.release();
    expectConsistent(k);
  });
});

// alloc_migration_target() for a hugetlb source (mm/migrate.c, Linux 6.16):
// alloc_hugetlb_folio_nodemask() dequeues a free pool page, else allocates a fresh temporary one
// (alloc_migrate_hugetlb_folio() → alloc_buddy_hugetlb_folio(): htlb_alloc_mask() |
// __GFP_THISNODE (move_pages) | __GFP_COMP | __GFP_NOWARN | __GFP_RETRY_MAYFAIL), one
// __alloc_pages() whose slow path reclaims and compacts as those flags allow.
describe("a hugetlb migration destination from the buddy allocator takes the slow path", () => {
  const HUGE = 2 * 1024 * 1024;
  const HP = "/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages";
  /** A huge page on node 0, node 1 with no free 2 MiB block, holding `cached` clean page-cache pages. */
  const setup = async (cached: number) => {
    // No kswapd: the slow path's direct reclaim alone frees node 1's page cache.
    const k = boot({ nodes: ["16M", "16M"], daemons: "on-demand" });
    run(k.fs.write(HP, "1"));
    const q = run(k.createProcess({ node: 1 }));
    run(q.setMempolicy(MPOL_BIND, [1]));
    if (cached) {
      const file = run(k.createFile("cache"));
      run(file.truncate(cached * PAGE));
      const c = run(q.mmap(cached * PAGE, { flags: MAP_SHARED, prot: PROT_READ, file }));
      await runP(q.read(c, cached * PAGE));
    }
    while (k.pageAlloc.allocPages(1, 0, GFP_KERNEL | __GFP_THISNODE) >= 0);
    const p = run(k.createProcess({ node: 0 }));
    const addr = run(p.mmap(HUGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
    run(p.write(addr, new Uint8Array(PAGE).fill(7)));
    return { k, p, addr };
  };

  it("reclaims node 1's page cache until a 2 MiB block is free, and moves the huge page there (no compaction: compaction_suitable() says skip)", async () => {
    const { k, p, addr } = await setup(3900);
    const d = delta(k);
    const { status } = await runP(p.movePages(0, [addr], [1]));
    expect(status[0]).toBe(1);
    expect(folioAt(p, addr).nid).toBe(1);
    expect(d("allocstall_normal")).toBe(1);
    expect(d("pgsteal_direct")).toBeGreaterThanOrEqual(512);
    expect(d("compact_stall")).toBe(0);
    expect(d("pgmigrate_success")).toBe(512);
    expect(run(p.read(addr, PAGE)).every((b) => b === 7)).toBe(true);
    expectConsistent(k);
  });

  it("with nothing to reclaim: one direct reclaim, no OOM killer (__GFP_RETRY_MAYFAIL, __GFP_THISNODE), ENOMEM", async () => {
    const { k, p, addr } = await setup(0);
    const d = delta(k);
    expectErrno(p.movePages(0, [addr], [1]), "ENOMEM");
    expect(d("allocstall_normal")).toBe(1);
    expect(d("pgmigrate_success")).toBe(0);
    expect(folioAt(p, addr).nid).toBe(0);
    expectConsistent(k);
  });

  it("an injected failure of the destination's first tries fails its whole allocation (should_fail_alloc_page() in prepare_alloc_pages()): no reclaim, no compaction, ENOMEM, as for every other allocation", async () => {
    const { k, p, addr } = await setup(3900);
    // min-order 9: of the call's allocations only the 2 MiB destination qualifies.
    expect(
      k.pageAlloc.failPageAlloc.arm({ times: 1, minOrder: 9, ignoreGfpReclaim: false }),
    ).toBeNull();
    const d = delta(k);
    expectErrno(p.movePages(0, [addr], [1]), "ENOMEM");
    expect(k.pageAlloc.failPageAlloc.failed).toBe(1);
    expect(d("allocstall_normal")).toBe(0);
    expect(d("compact_stall")).toBe(0);
    expect(d("pgmigrate_success")).toBe(0);
    expect(folioAt(p, addr).nid).toBe(0);
    expect(run(p.read(addr, PAGE)).every((b) => b === 7)).toBe(true);
    // The injection spent, the same move reclaims node 1's page cache and succeeds.
    const { status } = await runP(p.movePages(0, [addr], [1]));
    expect(status[0]).toBe(1);
    expect(d("allocstall_normal")).toBe(1);
    expect(folioAt(p, addr).nid).toBe(1);
    expectConsistent(k);
  });
});

// alloc_hugetlb_folio() (mm/hugetlb.c, Linux 6.16) for a fault no reservation covers (a forked
// child's copy-on-write) with no free pool page: alloc_buddy_hugetlb_folio_with_mpol() →
// alloc_surplus_hugetlb_folio(), one __alloc_pages() of htlb_alloc_mask() | __GFP_COMP |
// __GFP_NOWARN | __GFP_RETRY_MAYFAIL, whose slow path reclaims and compacts while the fault
// waits.
describe("a surplus huge page for a fault takes the slow path", () => {
  const HUGE = 2 * 1024 * 1024;
  /** A parent's private huge page shared with its child; the node's free memory gone to `cached` page-cache pages and kernel allocations. */
  const setup = async (cached: number) => {
    // No kswapd: the slow path's direct reclaim alone frees the page cache.
    const k = boot({ nodes: ["16M"], daemons: "on-demand" });
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "1"));
    run(k.fs.write("/proc/sys/vm/nr_overcommit_hugepages", "1"));
    const p = run(k.createProcess());
    const addr = run(p.mmap(HUGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
    run(p.write(addr, new Uint8Array([1])));
    const child = run(p.fork());
    await fillNode(k, cached);
    return { k, p, child, addr };
  };
  const surplus = (k: Kernel) =>
    Number(run(k.fs.read("/sys/kernel/mm/hugepages/hugepages-2048kB/surplus_hugepages")));

  it("the child's copy-on-write reclaims page cache until a 2 MiB block is free and gets its surplus page", async () => {
    const { k, p, child, addr } = await setup(3000);
    const d = delta(k);
    await runP(child.write(addr, new Uint8Array([2])));
    expect(surplus(k)).toBe(1);
    expect(d("allocstall_normal")).toBe(1);
    expect(d("pgsteal_direct")).toBeGreaterThanOrEqual(512);
    expect(d("compact_stall")).toBe(0);
    expect(folioAt(child, addr).pfn).not.toBe(folioAt(p, addr).pfn);
    expect([...run(child.read(addr, 1))]).toEqual([2]);
    expect([...run(p.read(addr, 1))]).toEqual([1]);
    expectConsistent(k);
  });

  it("with nothing to reclaim: one direct reclaim, no OOM killer (__GFP_RETRY_MAYFAIL), the fault fails (alloc_hugetlb_folio()'s -ENOSPC, VM_FAULT_SIGBUS: SIGBUS BUS_ADRERR, the child dies of it) and the page stays the parent's", async () => {
    const { k, p, child, addr } = await setup(0);
    const before = folioAt(p, addr).pfn;
    const d = delta(k);
    const e = expectSignal(child.write(addr, new Uint8Array([2])), "SIGBUS", "BUS_ADRERR");
    expect([e.signo, e.siCode, e.addr]).toEqual([7, 2, addr]);
    expect([child.exited, child.exitCode]).toEqual([true, 7]);
    expect(surplus(k)).toBe(0);
    expect(d("allocstall_normal")).toBe(1);
    expect(folioAt(p, addr).pfn).toBe(before);
    expectConsistent(k);
  });
});

// gather_surplus_pages() (mm/hugetlb.c, Linux 6.16) at mmap(MAP_HUGETLB) with an empty pool and
// nr_overcommit_hugepages > 0: hugetlb_lock dropped, each surplus page is
// alloc_surplus_hugetlb_folio(h, htlb_alloc_mask(h), ...) → alloc_buddy_hugetlb_folio(), one
// __alloc_pages() of GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOWARN | __GFP_RETRY_MAYFAIL whose
// slow path reclaims and compacts while mmap() waits; one that fails fails the reservation with
// -ENOMEM, the pages gathered before it freed.
describe("a surplus huge page for a reservation at mmap() takes the slow path", () => {
  const HUGE = 2 * 1024 * 1024;
  const GLOBAL = "/sys/kernel/mm/hugepages/hugepages-2048kB";
  /** nr, free, resv, surplus of the pool, as sysfs shows them. */
  const counters = (k: Kernel): number[] =>
    ["nr_hugepages", "free_hugepages", "resv_hugepages", "surplus_hugepages"].map((f) =>
      Number(run(k.fs.read(`${GLOBAL}/${f}`))),
    );
  /**
   * An empty pool that may overcommit `overcommit` pages; the node's free memory gone to `cached`
   * page-cache pages and kernel allocations, but for one free 2 MiB block with `spare` (a pool
   * page allocated first and freed back to the buddy allocator at the end).
   */
  const setup = async (cached: number, overcommit: number, spare = false) => {
    // No kswapd: the slow path's direct reclaim alone frees the page cache.
    const k = boot({ nodes: ["16M"], daemons: "on-demand" });
    run(k.fs.write("/proc/sys/vm/nr_overcommit_hugepages", String(overcommit)));
    if (spare) run(k.fs.write("/proc/sys/vm/nr_hugepages", "1"));
    await fillNode(k, cached);
    if (spare) run(k.fs.write("/proc/sys/vm/nr_hugepages", "0"));
    return { k, p: run(k.createProcess()) };
  };
  const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB;

  it("mmap() reclaims page cache until a 2 MiB block is free and reserves the surplus page it gets", async () => {
    const { k, p } = await setup(3000, 1);
    const d = delta(k);
    const addr = await runP(p.mmap(HUGE, { flags }));
    expect(counters(k)).toEqual([1, 1, 1, 1]);
    expect(d("allocstall_normal")).toBe(1);
    expect(d("pgsteal_direct")).toBeGreaterThanOrEqual(512);
    expect(d("compact_stall")).toBe(0);
    // The fault consumes the reservation; munmap gives the surplus page back.
    await runP(p.write(addr, new Uint8Array([7])));
    expect(counters(k)).toEqual([1, 0, 0, 1]);
    run(p.munmap(addr, HUGE));
    expect(counters(k)).toEqual([0, 0, 0, 0]);
    expectConsistent(k);
  });

  it("two surplus pages: the first from the first tries, kept while the second's slow path reclaims (gather_surplus_pages()'s surplus_list across its retry)", async () => {
    const { k, p } = await setup(2500, 2, true);
    const d = delta(k);
    const addr = await runP(p.mmap(2 * HUGE, { flags }));
    expect(counters(k)).toEqual([2, 2, 2, 2]);
    expect(d("allocstall_normal")).toBe(1);
    expect(d("pgsteal_direct")).toBeGreaterThanOrEqual(512);
    run(p.munmap(addr, 2 * HUGE));
    expect(counters(k)).toEqual([0, 0, 0, 0]);
    expectConsistent(k);
  });

  it("with nothing to reclaim: one direct reclaim, no OOM killer (__GFP_RETRY_MAYFAIL), ENOMEM with nothing reserved and no mapping", async () => {
    const { k, p } = await setup(0, 1);
    const d = delta(k);
    const free = k.pageAlloc.totalFreePages();
    expectErrno(p.mmap(HUGE, { flags }), "ENOMEM");
    expect(counters(k)).toEqual([0, 0, 0, 0]);
    expect(d("allocstall_normal")).toBe(1);
    expect(p.mm!.vmas).toEqual([]);
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    expectConsistent(k);
  });

  it("an injected failure of the surplus page's first tries fails its whole allocation (should_fail_alloc_page() in prepare_alloc_pages()): no reclaim, ENOMEM, nothing reserved", async () => {
    const { k, p } = await setup(3000, 1);
    expect(
      k.pageAlloc.failPageAlloc.arm({ times: 1, minOrder: 9, ignoreGfpReclaim: false }),
    ).toBeNull();
    const d = delta(k);
    expectErrno(p.mmap(HUGE, { flags }), "ENOMEM");
    expect(k.pageAlloc.failPageAlloc.failed).toBe(1);
    expect(counters(k)).toEqual([0, 0, 0, 0]);
    expect(d("allocstall_normal")).toBe(0);
    expect(p.mm!.vmas).toEqual([]);
    // The injection spent, the same mmap() reclaims page cache and reserves its page.
    await runP(p.mmap(HUGE, { flags }));
    expect(counters(k)).toEqual([1, 1, 1, 1]);
    expect(d("allocstall_normal")).toBe(1);
    expectConsistent(k);
  });

  it("a second page the slow path cannot get fails the reservation with ENOMEM; the first, gathered, goes back to the buddy allocator", async () => {
    const { k, p } = await setup(0, 2, true);
    const d = delta(k);
    const free = k.pageAlloc.totalFreePages();
    expectErrno(p.mmap(2 * HUGE, { flags }), "ENOMEM");
    expect(counters(k)).toEqual([0, 0, 0, 0]);
    expect(d("allocstall_normal")).toBe(1);
    expect(p.mm!.vmas).toEqual([]);
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    expectConsistent(k);
  });
});

describe("__alloc_pages_slowpath()'s arguments", () => {
  it("EINVAL, saying what was wrong, for an order, node, gfp mask or node mask that is not one, through both entry points; allocFolio refuses the same gfp masks", () => {
    const k = bootOne();
    const req: AllocRequest = { nid: 0, order: 0, gfp: GFP_KERNEL, nodemask: null };
    const bad: [Partial<AllocRequest>, RegExp][] = [
      [{ order: -1 }, /order -1 is outside 0\.\.10/],
      [{ order: 1.5 }, /order 1\.5/],
      [{ order: Number.NaN }, /order NaN/],
      [{ order: 11 }, /order 11/],
      [{ nid: 99 }, /node 99 does not exist/],
      [{ nid: -1 }, /node -1 does not exist/],
      [{ gfp: -1 }, /gfp mask -1/],
      [{ gfp: 2 ** 40 }, /gfp mask 1099511627776/],
      [{ nodemask: [0.5] }, /node mask/],
    ];
    for (const [change, message] of bad) {
      const r = { ...req, ...change };
      expect(expectErrno(allocPagesSlowpath(k, r), "EINVAL").message).toMatch(message);
      expect(expectErrno(k.allocPagesSlowpath(r), "EINVAL").message).toMatch(message);
    }
    for (const gfp of [-1, 2 ** 40]) {
      expect(expectErrno(k.allocFolio(0, 0, gfp), "EINVAL").message).toMatch(/gfp mask/);
    }
    expectConsistent(k);
  });

  it("a node mask that allows no node of the zonelist is nopage before any reclaim, never the OOM killer's point (no preferred zoneref in __alloc_pages_slowpath())", async () => {
    const k = bootOne();
    drainToMin(k);
    const d = delta(k);
    for (const nodemask of [[], [7]]) {
      const r = await runP(allocPagesSlowpath(k, { nid: 0, order: 0, gfp: GFP_KERNEL, nodemask }));
      expect(r).toEqual({ page: -1, outOfMemory: false });
    }
    expect(d("allocstall_normal")).toBe(0);
  });

  it("an injected failure of another allocation does not skip this one's reclaim: the request carries its own first tries' result (should_fail_alloc_page())", async () => {
    const k = bootOne();
    drainToMin(k);
    expect(
      k.pageAlloc.failPageAlloc.arm({ times: 1, interval: 1, ignoreGfpReclaim: false }),
    ).toBeNull();
    expect(k.pageAlloc.allocPages(0, 0, GFP_KERNEL)).toBe(-1);
    expect(k.pageAlloc.failedByInjection).toBe(true);
    const d = delta(k);
    // The one whose first tries were failed gives up at once...
    const req: AllocRequest = {
      nid: 0,
      order: 0,
      gfp: GFP_KERNEL,
      nodemask: null,
      failedByInjection: true,
    };
    expect(await runP(allocPagesSlowpath(k, req))).toEqual({ page: -1, outOfMemory: false });
    expect(d("allocstall_normal")).toBe(0);
    // ...while a direct call for an unrelated allocation reclaims and reaches the OOM point
    // (where, with no process to kill, the kernel panics).
    await slowpathPanics(k, GFP_KERNEL, 0);
    expect(d("allocstall_normal")).toBe(1);
  });
});
