// The page allocator's reserves below the min watermark, as Linux 6.16 has them
// (mm/page_alloc.c: gfp_to_alloc_flags(), __gfp_pfmemalloc_flags(), __zone_watermark_ok(),
// __alloc_pages_slowpath(), zone_statistics(); the ALLOC_* values of mm/internal.h).
import { Effect, Fiber } from "effect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  __GFP_COMP,
  __GFP_HIGH,
  __GFP_MEMALLOC,
  __GFP_MOVABLE,
  __GFP_NOMEMALLOC,
  __GFP_NORETRY,
  __GFP_NOWARN,
  __GFP_RECLAIM,
  __GFP_THISNODE,
  ALLOC_CPUSET,
  ALLOC_HIGHATOMIC,
  ALLOC_KSWAPD,
  ALLOC_MIN_RESERVE,
  ALLOC_NO_WATERMARKS,
  ALLOC_NON_BLOCK,
  ALLOC_OOM,
  ALLOC_RESERVES,
  ALLOC_WMARK_HIGH,
  ALLOC_WMARK_LOW,
  ALLOC_WMARK_MASK,
  ALLOC_WMARK_MIN,
  type AllocContext,
  BALLOON_GFP,
  GFP_ATOMIC,
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
  GFP_NOWAIT,
  GFP_TRANSHUGE,
  GFP_TRANSHUGE_LIGHT,
  gfpPfmemallocFlags,
  gfpToAllocFlags,
  PF_MEMALLOC,
  WMARK_LOW,
  WMARK_MIN,
} from "../../src/index";
import { boot, expectConsistent, expectErrno, run, runP, waitUntil } from "../../src/testing/index";

type Kernel = ReturnType<typeof boot>;

/**
 * One 16 MiB node: 4096 pages, min_free_kbytes = int_sqrt(16384 * 16) = 512, so the min watermark
 * is 512 KiB = 128 pages and the low one 128 + max(128 / 4, 4096 * 10 / 10000) = 160
 * (init_per_zone_wmark_min(), __setup_per_zone_wmarks()).
 */
const bootOne = () => boot({ nodes: ["16M"] });

/**
 * Takes order-0 pages from `nid` alone until `to` are left free, below the watermarks too
 * (`__GFP_MEMALLOC`).
 */
const drain = (k: Kernel, nid: number, to: number): void => {
  while (k.pageAlloc.nodeFreePages(nid) > to) {
    const pfn = k.pageAlloc.allocPages(nid, 0, __GFP_THISNODE | __GFP_MEMALLOC);
    expect(pfn).toBeGreaterThanOrEqual(0);
  }
};

/** Allocates order-0 pages on `nid` alone with `gfp` until one fails; the free pages left then. */
const allocUntilFail = (
  k: Kernel,
  nid: number,
  gfp: number,
  current: AllocContext | null = null,
): number => {
  while (k.pageAlloc.allocPages(nid, 0, gfp | __GFP_THISNODE, null, current) >= 0);
  return k.pageAlloc.nodeFreePages(nid);
};

describe("allocation flags (mm/internal.h, gfp_to_alloc_flags(), Linux 6.16)", () => {
  it("has the kernel's ALLOC_* values", () => {
    expect([ALLOC_WMARK_MIN, ALLOC_WMARK_LOW, ALLOC_WMARK_HIGH, ALLOC_WMARK_MASK]).toEqual([
      0, 1, 2, 3,
    ]);
    expect(ALLOC_NO_WATERMARKS).toBe(0x04);
    expect(ALLOC_OOM).toBe(0x08);
    expect(ALLOC_NON_BLOCK).toBe(0x10);
    expect(ALLOC_MIN_RESERVE).toBe(0x20);
    expect(ALLOC_CPUSET).toBe(0x40);
    expect(ALLOC_HIGHATOMIC).toBe(0x200);
    expect(ALLOC_KSWAPD).toBe(0x800);
    expect(ALLOC_RESERVES).toBe(0x10 | 0x20 | 0x200 | 0x08);
    expect(PF_MEMALLOC).toBe(0x800);
  });

  it("maps gfp masks as gfp_to_alloc_flags() does", () => {
    // A blocking allocation: the min watermark, the cpuset, kswapd.
    expect(gfpToAllocFlags(GFP_KERNEL, 0)).toBe(ALLOC_WMARK_MIN | ALLOC_CPUSET | ALLOC_KSWAPD);
    expect(gfpToAllocFlags(GFP_KERNEL | __GFP_HIGH, 0)).toBe(
      ALLOC_WMARK_MIN | ALLOC_CPUSET | ALLOC_KSWAPD | ALLOC_MIN_RESERVE,
    );
    // GFP_ATOMIC: ALLOC_MIN_RESERVE and ALLOC_NON_BLOCK, the cpuset ignored; ALLOC_HIGHATOMIC
    // above order 0.
    expect(gfpToAllocFlags(GFP_ATOMIC, 0)).toBe(
      ALLOC_WMARK_MIN | ALLOC_KSWAPD | ALLOC_MIN_RESERVE | ALLOC_NON_BLOCK,
    );
    expect(gfpToAllocFlags(GFP_ATOMIC, 3)).toBe(
      ALLOC_WMARK_MIN | ALLOC_KSWAPD | ALLOC_MIN_RESERVE | ALLOC_NON_BLOCK | ALLOC_HIGHATOMIC,
    );
    // GFP_NOWAIT is non-blocking but has no __GFP_HIGH: it keeps the cpuset, and no
    // ALLOC_HIGHATOMIC above order 0.
    expect(gfpToAllocFlags(GFP_NOWAIT, 2)).toBe(
      ALLOC_WMARK_MIN | ALLOC_CPUSET | ALLOC_KSWAPD | ALLOC_NON_BLOCK,
    );
    // __GFP_NOMEMALLOC: no ALLOC_NON_BLOCK (nor ALLOC_HIGHATOMIC), the cpuset still ignored.
    expect(gfpToAllocFlags(GFP_ATOMIC | __GFP_NOMEMALLOC, 1)).toBe(
      ALLOC_WMARK_MIN | ALLOC_KSWAPD | ALLOC_MIN_RESERVE,
    );
  });

  it("gives ALLOC_NO_WATERMARKS for __GFP_MEMALLOC or PF_MEMALLOC, never with __GFP_NOMEMALLOC (__gfp_pfmemalloc_flags())", () => {
    const task = { flags: PF_MEMALLOC, nid: 0 };
    expect(gfpPfmemallocFlags(GFP_KERNEL)).toBe(0);
    expect(gfpPfmemallocFlags(GFP_ATOMIC)).toBe(0);
    expect(gfpPfmemallocFlags(GFP_KERNEL | __GFP_MEMALLOC)).toBe(ALLOC_NO_WATERMARKS);
    expect(gfpPfmemallocFlags(GFP_KERNEL, task)).toBe(ALLOC_NO_WATERMARKS);
    expect(gfpPfmemallocFlags(GFP_KERNEL, { flags: 0, nid: 0 })).toBe(0);
    expect(gfpPfmemallocFlags(GFP_KERNEL | __GFP_MEMALLOC | __GFP_NOMEMALLOC)).toBe(0);
    expect(gfpPfmemallocFlags(GFP_KERNEL | __GFP_NOMEMALLOC, task)).toBe(0);
  });
});

describe("GFP masks (include/linux/gfp_types.h, Linux 6.16; mm/balloon.c, Linux 7.0)", () => {
  it("GFP_TRANSHUGE_LIGHT is GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOMEMALLOC | __GFP_NOWARN without __GFP_RECLAIM", () => {
    expect(GFP_TRANSHUGE_LIGHT).toBe(
      (GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOMEMALLOC | __GFP_NOWARN) & ~__GFP_RECLAIM,
    );
    expect(GFP_TRANSHUGE_LIGHT & __GFP_MOVABLE).toBe(__GFP_MOVABLE);
    // So neither THP mask ever takes the reserves, not even in a PF_MEMALLOC task, and the light
    // one gets no ALLOC_NON_BLOCK (gfp_to_alloc_flags()).
    const task = { flags: PF_MEMALLOC, nid: 0 };
    expect(gfpPfmemallocFlags(GFP_TRANSHUGE_LIGHT, task)).toBe(0);
    expect(gfpPfmemallocFlags(GFP_TRANSHUGE, task)).toBe(0);
    expect(gfpToAllocFlags(GFP_TRANSHUGE_LIGHT, 9)).toBe(ALLOC_WMARK_MIN | ALLOC_CPUSET);
  });

  it("the balloon allocates with GFP_HIGHUSER_MOVABLE | __GFP_NOMEMALLOC | __GFP_NORETRY | __GFP_NOWARN (balloon_page_alloc())", () => {
    expect(BALLOON_GFP).toBe(
      GFP_HIGHUSER_MOVABLE | __GFP_NOMEMALLOC | __GFP_NORETRY | __GFP_NOWARN,
    );
    // __GFP_NOMEMALLOC: a PF_MEMALLOC task's balloon allocation keeps to the watermarks.
    expect(gfpPfmemallocFlags(BALLOON_GFP, { flags: PF_MEMALLOC, nid: 0 })).toBe(0);
  });
});

describe("__zone_watermark_ok() with reserves (Linux 6.16)", () => {
  // Two 4 MiB nodes: min_free_kbytes = int_sqrt(8192 * 16) = 362, pages_min = 90, 45 per zone.
  // With the kernel's integer arithmetic: ALLOC_MIN_RESERVE leaves 45 - 45 / 2 = 23,
  // ALLOC_NON_BLOCK then 23 - 23 / 4 = 18, ALLOC_OOM halves what is left (23 - 11 = 12 alone,
  // 18 - 9 = 9 after both).
  it("lowers the mark by the kernel's halves and quarters", () => {
    const k = boot({ nodes: ["4M", "4M"] });
    const min = k.pageAlloc.zones[1]!.watermark[WMARK_MIN]!;
    expect(min).toBe(45);
    const lowest = (flags: number): number => {
      let free = 0;
      while (!k.pageAlloc.zoneWatermarkOk(1, 0, min, flags, free)) free++;
      return free - 1; // the last free count that fails: the effective mark
    };
    expect(lowest(0)).toBe(45);
    // ALLOC_NON_BLOCK alone (GFP_NOWAIT) gets none of the reserve.
    expect(lowest(ALLOC_NON_BLOCK)).toBe(45);
    expect(lowest(ALLOC_MIN_RESERVE)).toBe(23);
    expect(lowest(ALLOC_MIN_RESERVE | ALLOC_NON_BLOCK)).toBe(18);
    expect(lowest(ALLOC_OOM)).toBe(23);
    expect(lowest(ALLOC_MIN_RESERVE | ALLOC_NON_BLOCK | ALLOC_OOM)).toBe(9);
    // A block of order 2 needs its three further pages above the mark too.
    expect(k.pageAlloc.zoneWatermarkOk(1, 2, min, ALLOC_MIN_RESERVE, 23 + 3)).toBe(false);
    expect(k.pageAlloc.zoneWatermarkOk(1, 2, min, ALLOC_MIN_RESERVE, 24 + 3)).toBe(true);
  });

  it("never lets reserve flags raise the mark (property)", () => {
    const k = boot({ nodes: ["4M", "4M"] });
    fc.assert(
      fc.property(
        fc.nat(4096),
        fc.nat(4096),
        fc.subarray([ALLOC_OOM, ALLOC_NON_BLOCK, ALLOC_MIN_RESERVE, ALLOC_HIGHATOMIC]),
        (mark, free, bits) => {
          const flags = bits.reduce((a, b) => a | b, 0);
          if (k.pageAlloc.zoneWatermarkOk(0, 0, mark, 0, free)) {
            expect(k.pageAlloc.zoneWatermarkOk(0, 0, mark, flags, free)).toBe(true);
          }
        },
      ),
    );
  });
});

describe("the slow path's reserves (__alloc_pages_slowpath(), Linux 6.16)", () => {
  it("stops GFP_KERNEL at min, __GFP_HIGH at min/2, GFP_ATOMIC at 3/8 of min", () => {
    const k = bootOne();
    const zone = k.pageAlloc.zones[0]!;
    expect([zone.watermark[WMARK_MIN], zone.watermark[WMARK_LOW]]).toEqual([128, 160]);
    // A blocking allocation that has not reclaimed stops at the min watermark: free pages must
    // stay above it, so it fails with 128 left.
    expect(allocUntilFail(k, 0, GFP_KERNEL)).toBe(128);
    // GFP_NOWAIT cannot block but has no __GFP_HIGH: no reserve.
    expect(allocUntilFail(k, 0, GFP_NOWAIT)).toBe(128);
    // Between min/2 and min: __GFP_HIGH still succeeds, down to 128 - 128 / 2 = 64.
    expect(allocUntilFail(k, 0, GFP_KERNEL | __GFP_HIGH)).toBe(64);
    // __GFP_NOMEMALLOC takes ALLOC_NON_BLOCK away from GFP_ATOMIC: no further than 64.
    expect(allocUntilFail(k, 0, GFP_ATOMIC | __GFP_NOMEMALLOC)).toBe(64);
    // GFP_ATOMIC: 64 - 64 / 4 = 48, 37.5% of the min watermark.
    expect(allocUntilFail(k, 0, GFP_ATOMIC)).toBe(48);
    expectErrno(k.allocFolio(0, 0, GFP_ATOMIC), "ENOMEM");
    expectConsistent(k);
  });

  it("keeps the fast path at the low watermark: reserves only after kswapd is woken", () => {
    const k = bootOne();
    const woken: number[] = [];
    const alloc = k.pageAlloc as typeof k.pageAlloc & {
      wakeupKswapd: ((nid: number, order: number) => void) | null;
    };
    const wakeup = alloc.wakeupKswapd;
    alloc.wakeupKswapd = (nid, order) => {
      woken.push(nid);
      wakeup?.(nid, order);
    };
    drain(k, 0, 161);
    // Above the low watermark GFP_ATOMIC takes from the fast path and wakes nobody.
    expect(run(k.allocFolio(0, 0, GFP_ATOMIC)).nid).toBe(0);
    expect(woken).toEqual([]);
    // At it, the slow path wakes kswapd first, then dips into the reserve.
    expect(run(k.allocFolio(0, 0, GFP_ATOMIC)).nid).toBe(0);
    expect(woken).toEqual([0]);
  });

  it("lets __GFP_MEMALLOC and a PF_MEMALLOC task take every free page, unless __GFP_NOMEMALLOC", () => {
    const k = bootOne();
    const task = run(k.createProcess({ node: 0 }));
    drain(k, 0, 40);
    // Below even GFP_ATOMIC's reserve: only ALLOC_NO_WATERMARKS gets a page.
    expect(k.pageAlloc.allocPages(0, 0, GFP_ATOMIC)).toBe(-1);
    expect(k.pageAlloc.allocPages(0, 0, GFP_KERNEL | __GFP_MEMALLOC | __GFP_NOMEMALLOC)).toBe(-1);
    expect(k.pageAlloc.allocPages(0, 0, GFP_KERNEL, null, task)).toBe(-1);
    expect(k.pageAlloc.allocPages(0, 0, GFP_KERNEL | __GFP_MEMALLOC)).toBeGreaterThanOrEqual(0);
    expect(k.pageAlloc.nodeFreePages(0)).toBe(39);
    // memalloc_noreclaim_save(): the task may now allocate below the watermarks...
    task.flags |= PF_MEMALLOC;
    expect(k.pageAlloc.allocPages(0, 0, GFP_KERNEL | __GFP_NOMEMALLOC, null, task)).toBe(-1);
    expect(allocUntilFail(k, 0, GFP_KERNEL, task)).toBe(0);
    // ... until nothing at all is free.
    expectErrno(k.allocFolio(0, 0), "ENOMEM");
    expectConsistent(k);
  });

  it("lets a PF_MEMALLOC task's page fault take a page under the min watermark, and never reclaim", async () => {
    const k = bootOne();
    const task = run(k.createProcess({ node: 0 }));
    const addr = run(task.mmap(2 * 4096));
    drain(k, 0, 128);
    // At the min watermark with nothing to reclaim, an ordinary task's fault reclaims in vain
    // (allocstall_normal) and calls the OOM killer, which of the two tasks at badness 0 takes the
    // later (oom_evaluate_task(): a tie goes to the task found last): the faulting one itself.
    const other = run(k.createProcess({ node: 0 }));
    const stalls = k.vmstat.get("allocstall_normal");
    expectErrno(other.write(run(other.mmap(4096)), new Uint8Array([7])), "ESRCH");
    expect(k.vmstat.get("allocstall_normal")).toBeGreaterThan(stalls);
    expect([other.oomVictim, task.exited, k.vmstat.get("oom_kill")]).toEqual([true, false, 1]);
    task.flags |= PF_MEMALLOC;
    run(task.write(addr, new Uint8Array([7])));
    expect(k.pageAlloc.nodeFreePages(0)).toBe(127);
    expect(run(task.read(addr, 1))[0]).toBe(7);
    // With nothing free at all, its fault's allocation fails at once: a PF_MEMALLOC task does not
    // reclaim (__alloc_pages_slowpath(): "avoid recursion of direct reclaim"). The fault is
    // VM_FAULT_OOM, and pagefault_out_of_memory() (Linux 6.16: no OOM kill) sends the store
    // back to fault again, until a page is free.
    drain(k, 0, 1);
    const spare = k.pageAlloc.allocPages(0, 0, __GFP_THISNODE | __GFP_MEMALLOC);
    expect(k.pageAlloc.nodeFreePages(0)).toBe(0);
    const before = k.vmstat.get("allocstall_normal");
    const faults = k.vmstat.get("pgfault");
    const store = Effect.runFork(task.write(addr + 4096, new Uint8Array([8])));
    await runP(waitUntil(() => k.vmstat.get("pgfault") >= faults + 3));
    expect(store.pollUnsafe()).toBeUndefined();
    expect(k.vmstat.get("allocstall_normal")).toBe(before);
    k.memmap.refcount[spare] = 0;
    expect(k.pageAlloc.freePages(spare, 0)).toBe(true);
    await runP(Fiber.join(store));
    expect(run(task.read(addr + 4096, 1))[0]).toBe(8);
    expect(k.vmstat.get("oom_kill")).toBe(1);
    // A child inherits the flag (dup_task_struct()).
    expect(run(task.fork()).flags & PF_MEMALLOC).toBe(PF_MEMALLOC);
  });

  it("drops the nodemask for GFP_ATOMIC and for the PF_MEMALLOC reserves, keeps it otherwise", () => {
    const k = boot({ nodes: ["4M", "4M"] });
    const min = k.pageAlloc.zones[1]!.watermark[WMARK_MIN]!;
    drain(k, 1, 10);
    expect(min).toBe(45);
    // Node 1, the only node allowed, is under every reserve but the last: a blocking
    // allocation keeps to the nodemask and fails.
    expect(k.pageAlloc.allocPages(1, 0, GFP_KERNEL, [1])).toBe(-1);
    // GFP_ATOMIC drops ALLOC_CPUSET: its retry ignores the nodemask and takes from node 0, the
    // next of node 1's zonelist; a numa_miss for node 1.
    const miss = k.vmstat.get("numa_miss");
    const pfn = k.pageAlloc.allocPages(1, 0, GFP_ATOMIC, [1]);
    expect(k.mem.pfnToNid(pfn)).toBe(0);
    expect(k.vmstat.get("numa_miss")).toBe(miss + 1);
    // With node 0 as low, __GFP_MEMALLOC asked for node 1 within node 0 alone: the nodemask is
    // dropped for ALLOC_NO_WATERMARKS too, and node 1, first of its own zonelist, gives its page.
    drain(k, 0, 10);
    const memalloc = k.pageAlloc.allocPages(1, 0, GFP_KERNEL | __GFP_MEMALLOC, [0]);
    expect(k.mem.pfnToNid(memalloc)).toBe(1);
    expect(k.pageAlloc.nodeFreePages(1)).toBe(9);
    expectConsistent(k);
  });
});

describe("zone_statistics(): numa_local and numa_other (Linux 6.16)", () => {
  it("counts against the node of the allocating task's CPU", () => {
    const k = boot({ nodes: ["4M", "4M"] });
    const stat = (name: string) => k.vmstat.get(name);
    const before = ["numa_hit", "numa_local", "numa_other"].map(stat);
    // A task on node 1 that asks for node 0: numa_hit, and numa_other.
    expect(
      k.pageAlloc.allocPages(0, 0, GFP_KERNEL, null, { flags: 0, nid: 1 }),
    ).toBeGreaterThanOrEqual(0);
    expect(["numa_hit", "numa_local", "numa_other"].map(stat)).toEqual([
      before[0]! + 1,
      before[1]!,
      before[2]! + 1,
    ]);
    // A process on node 1 faults a page in with the default (local) policy: numa_local.
    const p = run(k.createProcess({ node: 1 }));
    const addr = run(p.mmap(4096));
    run(p.write(addr, new Uint8Array([1])));
    expect(run(p.nodeOf(addr))).toBe(1);
    expect(stat("numa_local")).toBe(before[1]! + 1);
    // Every allocation counts one of hit/miss and one of local/other.
    expect(stat("numa_hit") + stat("numa_miss")).toBe(stat("numa_local") + stat("numa_other"));
    expect(run(k.fs.read("/proc/vmstat"))).toMatch(
      /numa_foreign \d+\nnuma_local \d+\nnuma_other \d+\n/,
    );
  });
});
