// The OOM killer (mm/oom_kill.c, Linux 6.16) as __alloc_pages_may_oom() (mm/page_alloc.c) calls
// it: out_of_memory(), constrained_alloc(), select_bad_process() / oom_evaluate_task(),
// oom_badness() and oom_kill_process(); and /proc/<pid>/oom_score and oom_score_adj
// (proc_oom_score(), oom_score_adj_write() and __set_oom_adj(), fs/proc/base.c).
import { Effect } from "effect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  __GFP_NOMEMALLOC,
  ALLOC_NO_WATERMARKS,
  ALLOC_OOM,
  CAP_SYS_RESOURCE,
  constrainedAlloc,
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
  getMmRss,
  gfpPfmemallocFlags,
  type Kernel,
  MPOL_BIND,
  OOM_SCORE_ADJ_MIN,
  OomConstraint,
  type OomControl,
  oomBadness,
  outOfMemory,
  PF_MEMALLOC,
  procOomScore,
  selectBadProcess,
  type Task,
} from "../../src/index";
import {
  boot,
  errnoOf,
  expectBytes,
  expectConsistent,
  expectErrno,
  pattern,
  run,
  runP,
} from "../../src/testing/index";

const PAGE = 4096;

/**
 * One 16 MiB node: 4096 pages (all managed: totalram_pages() 4096), min watermark 128 pages
 * (init_per_zone_wmark_min(), __setup_per_zone_wmarks()).
 */
const bootOne = () => boot({ nodes: ["16M"] });

/** A process with `pages` anonymous pages written (resident), and where they are. */
const withResident = async (k: Kernel, pages: number, seed: number, name: string) => {
  const p = run(k.createProcess({ name }));
  const addr = run(p.mmap(Math.max(pages, 1) * PAGE));
  if (pages) await runP(p.write(addr, pattern(pages * PAGE, seed)));
  return { p, addr };
};

/** Takes every page kernel allocations may have (GFP_KERNEL's first tries): the node at its min. */
const drainToMin = (k: Kernel): void => {
  while (k.pageAlloc.allocPages(0, 0, GFP_KERNEL) >= 0);
  expect(k.pageAlloc.nodeFreePages(0)).toBe(128);
};

/** The oom_control of an order-0 allocation with `nodemask` (null: none). */
const control = (
  nodemask: readonly number[] | null,
  gfpMask = GFP_HIGHUSER_MOVABLE,
): OomControl => ({
  nodemask,
  gfpMask,
  order: 0,
  totalpages: 0,
  constraint: OomConstraint.NONE,
  chosen: null,
  chosenPoints: 0,
});

const writeAdj = (k: Kernel, target: Task, text: string, writer: Task | null = null) =>
  k.fs.write(`/proc/${target.pid}/oom_score_adj`, text, writer);

describe("oom_badness() (mm/oom_kill.c, Linux 6.16)", () => {
  it("is get_mm_rss() plus oom_score_adj × ⌊totalpages / 1000⌋, and LONG_MIN (null) at OOM_SCORE_ADJ_MIN", async () => {
    const k = bootOne();
    const total = k.pageAlloc.zones[0]!.managedPages;
    expect(total).toBe(4096);
    const { p } = await withResident(k, 100, 1, "a");
    expect(getMmRss(k, p.mm!)).toBe(100);
    // ⌊4096 / 1000⌋ = 4 pages per unit of oom_score_adj.
    expect(oomBadness(k, p, total)).toBe(100);
    p.oomScoreAdj = 500;
    expect(oomBadness(k, p, total)).toBe(100 + 500 * 4);
    p.oomScoreAdj = -999;
    expect(oomBadness(k, p, total)).toBe(100 - 999 * 4); // negative, and still a candidate
    p.oomScoreAdj = OOM_SCORE_ADJ_MIN;
    expect(oomBadness(k, p, total)).toBeNull();
    // A kernel thread (no mm) is never a candidate.
    const kthread = run(k.createKernelThread("kworker"));
    expect(oomBadness(k, kthread, total)).toBeNull();
  });

  it("counts a PMD-mapped THP as HPAGE_PMD_NR pages and the zero page as nothing (get_mm_rss())", async () => {
    const k = boot({ nodes: ["64M"], thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const thp = run(p.mmap(2 << 20, { addr: 16 << 20, hugepage: true }));
    await runP(p.write(thp, new Uint8Array([1])));
    const zero = run(p.mmap(4 * PAGE));
    await runP(p.read(zero, 4 * PAGE)); // read faults map the shared zero page
    expect(getMmRss(k, p.mm!)).toBe(512);
  });

  it("/proc/<pid>/oom_score is (1000 + badness × 1000 / totalpages) × 2 / 3, 0 at OOM_SCORE_ADJ_MIN (proc_oom_score())", async () => {
    const k = bootOne();
    const { p } = await withResident(k, 1000, 2, "a");
    // badness 1000: (1000 + 1000 × 1000 / 4096) × 2 / 3 = (1000 + 244) × 2 / 3 = 829.
    expect(procOomScore(k, p)).toBe(829);
    expect(run(k.fs.read(`/proc/${p.pid}/oom_score`))).toBe("829\n");
    run(writeAdj(k, p, "-500"));
    // badness 1000 - 2000 = -1000: (1000 + ⌈-244.1⌉) × 2 / 3 = 756 × 2 / 3 = 504.
    expect(run(k.fs.read(`/proc/${p.pid}/oom_score`))).toBe("504\n");
    run(writeAdj(k, p, "-1000"));
    expect(run(k.fs.read(`/proc/${p.pid}/oom_score`))).toBe("0\n");
  });
});

describe("out_of_memory() from __alloc_pages_may_oom() (Linux 6.16)", () => {
  it("a fault of the small process that finds memory exhausted kills the big one, then succeeds; oom_kill 1", async () => {
    const k = bootOne();
    const big = await withResident(k, 2000, 3, "big");
    const small = await withResident(k, 10, 4, "small");
    drainToMin(k);
    const where = run(small.p.mmap(PAGE));
    const before = k.vmstat.get("oom_kill");
    // The fault's base page: reclaim finds nothing (anonymous memory, no swap), so
    // out_of_memory() picks the highest oom_badness(), big's 2000 against small's 10.
    await runP(small.p.write(where, new Uint8Array([7])));
    expect(k.vmstat.get("oom_kill") - before).toBe(1);
    expect(run(k.fs.read("/proc/vmstat"))).toMatch(/^oom_kill 1$/m);
    expect(big.p.exited).toBe(true);
    expect(big.p.oomVictim).toBe(true);
    expect(small.p.exited).toBe(false);
    expect(run(small.p.read(where, 1))).toEqual(new Uint8Array([7]));
    // The victim's 2000 pages went back to the buddy allocator, and the fault took one.
    expect(k.pageAlloc.nodeFreePages(0)).toBe(128 + 2000 - 1);
    // A dead process: gone from the process table and /proc; its calls and calls on it fail
    // with ESRCH (find_task_by_vpid() finds nothing for move_pages(2)).
    expect(k.findTask(big.p.pid)).toBeUndefined();
    expect(k.fs.exists(`/proc/${big.p.pid}`)).toBe(false);
    expectErrno(big.p.read(big.addr, 1), "ESRCH");
    expect(await errnoOf(small.p.movePages(big.p.pid, [big.addr], null))).toBe("ESRCH");
    expectConsistent(k);
  });

  it("a process with oom_score_adj -1000 (OOM_SCORE_ADJ_MIN) is never chosen: the allocating task is, and its access ends with ESRCH", async () => {
    const k = bootOne();
    const big = await withResident(k, 2000, 5, "big");
    run(writeAdj(k, big.p, "-1000"));
    const small = await withResident(k, 10, 6, "small");
    drainToMin(k);
    const where = run(small.p.mmap(PAGE));
    const err = await runP(Effect.flip(small.p.write(where, new Uint8Array([1]))));
    expect([err.errno, err.message]).toEqual([
      "ESRCH",
      `process ${small.p.pid} was killed by the OOM killer`,
    ]);
    expect(k.vmstat.get("oom_kill")).toBe(1);
    expect(small.p.exited).toBe(true);
    expect(big.p.exited).toBe(false);
    expectBytes(run(big.p.read(big.addr, 2000 * PAGE)), pattern(2000 * PAGE, 5));
    expectConsistent(k);
  });

  it("with no process to kill the fault fails with ENOMEM as before, and nothing is counted", async () => {
    const k = bootOne();
    const big = await withResident(k, 2000, 7, "big");
    const small = await withResident(k, 10, 8, "small");
    run(writeAdj(k, big.p, "-1000"));
    run(writeAdj(k, small.p, "-1000"));
    drainToMin(k);
    const where = run(small.p.mmap(PAGE));
    expectErrno(small.p.write(where, new Uint8Array([1])), "ENOMEM");
    expect(k.vmstat.get("oom_kill")).toBe(0);
    expect(big.p.exited || small.p.exited).toBe(false);
    expectConsistent(k);
  });

  it("oom_score_adj outranks size: +1000 on the small process makes it the victim of a kernel allocation", async () => {
    const k = bootOne();
    const big = await withResident(k, 2000, 9, "big");
    const small = await withResident(k, 10, 10, "small");
    run(writeAdj(k, small.p, "1000"));
    drainToMin(k);
    // small: 10 + 1000 × 4 = 4010 > big's 2000. A kernel thread's folio_alloc(GFP_KERNEL).
    const folio = run(k.allocFolio(0, 0, GFP_KERNEL));
    expect(small.p.exited).toBe(true);
    expect(big.p.exited).toBe(false);
    k.folioPut(folio);
    expectConsistent(k);
  });
});

describe("constrained_alloc() (mm/oom_kill.c, Linux 6.16)", () => {
  it("a node mask that leaves a node with memory out is CONSTRAINT_MEMORY_POLICY, over the mask's present pages", () => {
    const k = boot({ nodes: ["16M", "32M"] });
    const oc = control([1]);
    expect(constrainedAlloc(k, oc)).toBe(OomConstraint.MEMORY_POLICY);
    expect(oc.totalpages).toBe(8192);
    const all = control([0, 1]);
    expect(constrainedAlloc(k, all)).toBe(OomConstraint.NONE);
    expect(all.totalpages).toBe(4096 + 8192);
  });

  it("a memory-policy OOM passes over a process bound (MPOL_BIND) to other nodes (mempolicy_in_oom_domain())", async () => {
    const k = boot({ nodes: ["16M", "16M"] });
    const bound = run(k.createProcess({ node: 0 }));
    run(bound.setMempolicy(MPOL_BIND, [0]));
    const a = run(bound.mmap(2000 * PAGE));
    await runP(bound.write(a, pattern(2000 * PAGE, 11)));
    const other = run(k.createProcess({ node: 1 }));
    const b = run(other.mmap(100 * PAGE));
    await runP(other.write(b, pattern(100 * PAGE, 12)));
    const oc = control([1]);
    expect(k.vmstat.get("oom_kill")).toBe(0);
    expect(run(outOfMemory(k, oc, null))).toBe(true);
    // bound (2000 pages, MPOL_BIND to node 0) is out of the node-1 domain: other is chosen.
    expect(oc.constraint).toBe(OomConstraint.MEMORY_POLICY);
    expect(oc.chosen).toBe(other);
    expect(bound.exited).toBe(false);
    expect(other.exited).toBe(true);
  });
});

describe("/proc/<pid>/oom_score_adj (oom_score_adj_write(), __set_oom_adj(), fs/proc/base.c)", () => {
  it("parses with kstrtoint() after strstrip(), and rejects values outside -1000..1000 with EINVAL", () => {
    const k = bootOne();
    const p = run(k.createProcess());
    expect(run(k.fs.read(`/proc/${p.pid}/oom_score_adj`))).toBe("0\n");
    expect(run(writeAdj(k, p, " 0x10\n"))).toBe(6);
    expect(p.oomScoreAdj).toBe(16);
    expect(run(writeAdj(k, p, "-1000"))).toBe(5);
    expect(run(k.fs.read(`/proc/${p.pid}/oom_score_adj`))).toBe("-1000\n");
    expectErrno(writeAdj(k, p, "1001"), "EINVAL");
    expectErrno(writeAdj(k, p, "-1001"), "EINVAL");
    expectErrno(writeAdj(k, p, "12abc"), "EINVAL");
    // proc_reg_write() calls the handler for an empty write too: kstrtoint("") is EINVAL.
    expectErrno(writeAdj(k, p, ""), "EINVAL");
    expectErrno(writeAdj(k, p, "99999999999"), "ERANGE");
    expect(p.oomScoreAdj).toBe(-1000);
    // Only PROC_NUMBUF - 1 = 12 bytes are read: "            5" is 12 spaces, then the 5 is cut.
    expectErrno(writeAdj(k, p, `${" ".repeat(12)}5`), "EINVAL");
  });

  it("going below oom_score_adj_min needs CAP_SYS_RESOURCE (EACCES), whose holder sets the minimum too; fork() inherits both", () => {
    const k = bootOne();
    const user = run(k.createProcess({ uid: 1000 }));
    run(writeAdj(k, user, "500", user));
    run(writeAdj(k, user, "100", user)); // lowering, but not below oom_score_adj_min 0
    expect(user.oomScoreAdj).toBe(100);
    expectErrno(writeAdj(k, user, "-1", user), "EACCES");
    expect(user.oomScoreAdj).toBe(100);
    const stranger = run(k.createProcess({ uid: 2000, capabilities: [CAP_SYS_RESOURCE] }));
    expectErrno(writeAdj(k, user, "-1", stranger), "EACCES"); // not its file, no CAP_DAC_OVERRIDE
    const admin = run(k.createProcess({ uid: 1000, capabilities: [CAP_SYS_RESOURCE] }));
    run(writeAdj(k, user, "-1", admin));
    expect([user.oomScoreAdj, user.oomScoreAdjMin]).toEqual([-1, -1]);
    const root = run(k.createProcess({ uid: 0 }));
    run(writeAdj(k, user, "-300", root));
    expect([user.oomScoreAdj, user.oomScoreAdjMin]).toEqual([-300, -300]);
    run(writeAdj(k, user, "-300", user));
    expectErrno(writeAdj(k, user, "-301", user), "EACCES");
    const child = run(user.fork());
    expect([child.oomScoreAdj, child.oomScoreAdjMin]).toEqual([-300, -300]);
  });
});

describe("select_bad_process() and oom_kill_process() (property)", () => {
  it("choose the highest oom_badness(), the last of equal points, never OOM_SCORE_ADJ_MIN; the kill frees the victim's pages and counts oom_kill", () => {
    const proc = fc.record({
      pages: fc.integer({ min: 0, max: 40 }),
      adj: fc.oneof(fc.constant(OOM_SCORE_ADJ_MIN), fc.integer({ min: -1000, max: 1000 })),
    });
    fc.assert(
      fc.property(fc.array(proc, { minLength: 1, maxLength: 5 }), (procs) => {
        const k = bootOne();
        const tasks = procs.map(({ pages, adj }, i) => {
          const p = run(k.createProcess());
          const addr = run(p.mmap(41 * PAGE));
          if (pages) run(p.write(addr, pattern(pages * PAGE, i)));
          run(writeAdj(k, p, `${adj}`));
          return p;
        });
        // oom_evaluate_task() by hand: ⌊4096 / 1000⌋ = 4 pages per unit of oom_score_adj.
        let want = -1;
        let best = Number.NEGATIVE_INFINITY;
        procs.forEach(({ pages, adj }, i) => {
          if (adj === OOM_SCORE_ADJ_MIN || pages + adj * 4 < best) return;
          best = pages + adj * 4;
          want = i;
        });
        const oc = control(null);
        oc.totalpages = 4096;
        expect(selectBadProcess(k, oc)).toBe(false);
        expect(oc.chosen).toBe(want < 0 ? null : tasks[want]);
        const free = k.pageAlloc.nodeFreePages(0);
        expect(run(outOfMemory(k, control(null)))).toBe(want >= 0);
        expect(k.vmstat.get("oom_kill")).toBe(want < 0 ? 0 : 1);
        expect(tasks.map((t) => t.exited)).toEqual(tasks.map((_, i) => i === want));
        if (want >= 0) expect(k.pageAlloc.nodeFreePages(0) - free).toBe(procs[want]!.pages);
        expectConsistent(k);
      }),
      { numRuns: 25 },
    );
  });
});

describe("oom_reserves_allowed() in __gfp_pfmemalloc_flags() (mm/page_alloc.c, Linux 6.16)", () => {
  it("gives an OOM victim ALLOC_OOM, unless __GFP_NOMEMALLOC; PF_MEMALLOC's ALLOC_NO_WATERMARKS comes first", () => {
    const victim = { flags: 0, nid: 0, oomVictim: true };
    expect(gfpPfmemallocFlags(GFP_KERNEL, victim)).toBe(ALLOC_OOM);
    expect(gfpPfmemallocFlags(GFP_KERNEL | __GFP_NOMEMALLOC, victim)).toBe(0);
    expect(gfpPfmemallocFlags(GFP_KERNEL, { ...victim, flags: PF_MEMALLOC })).toBe(
      ALLOC_NO_WATERMARKS,
    );
    expect(gfpPfmemallocFlags(GFP_KERNEL, { flags: 0, nid: 0 })).toBe(0);
  });
});
