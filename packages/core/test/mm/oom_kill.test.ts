// The OOM killer (mm/oom_kill.c, Linux 6.16) as __alloc_pages_may_oom() (mm/page_alloc.c) calls
// it: out_of_memory(), constrained_alloc(), select_bad_process() / oom_evaluate_task(),
// oom_badness() and oom_kill_process(); and /proc/<pid>/oom_score and oom_score_adj
// (proc_oom_score(), oom_score_adj_write() and __set_oom_adj(), fs/proc/base.c).
import { Deferred, Effect, Exit, Fiber, Result } from "effect";
import { TestClock } from "effect/testing";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  __GFP_NOMEMALLOC,
  ALLOC_NO_WATERMARKS,
  ALLOC_OOM,
  CAP_SYS_RESOURCE,
  constrainedAlloc,
  ERRNO,
  type ErrnoError,
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
  getMmRss,
  getTaskMm,
  gfpPfmemallocFlags,
  isGlobalInit,
  isMigrationEntry,
  type Kernel,
  KernelPanic,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  MAX_OOM_REAP_RETRIES,
  type Migrator,
  type MmStruct,
  MPOL_BIND,
  MPOL_MF_MOVE,
  MPOL_MF_MOVE_ALL,
  migrateFoliosMcCopy,
  mmput,
  OOM_REAP_RETRY_DELAY,
  OOM_REAPER_DELAY,
  OOM_SCORE_ADJ_MIN,
  OomConstraint,
  type OomControl,
  oomBadness,
  outOfMemory,
  PF_KTHREAD,
  PF_MEMALLOC,
  procOomScore,
  ptePresent,
  type SignalError,
  selectBadProcess,
  type Task,
  type TraceEvent,
  withMmapWriteLock,
} from "../../src/index";
import { folioTrylock, folioUnlock } from "../../src/mm/filemap";
import {
  boot,
  errnoOf,
  expectBytes,
  expectConsistent,
  expectErrno,
  pagesOf,
  pattern,
  run,
  runP,
  waitUntil,
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

/**
 * Takes every page kernel allocations may have (GFP_KERNEL's first tries) on every node, each down
 * to its min watermark; returns them for freeing.
 */
const drain = (k: Kernel): number[] => {
  const taken: number[] = [];
  for (;;) {
    const pfn = k.pageAlloc.allocPages(0, 0, GFP_KERNEL);
    if (pfn < 0) return taken;
    taken.push(pfn);
  }
};

/** {@link drain} of the one node: at its min watermark. */
const drainToMin = (k: Kernel): void => {
  drain(k);
  expect(k.pageAlloc.nodeFreePages(0)).toBe(128);
};

/**
 * A write fault of `p` at `where` that the OOM killer ends by killing `p` itself: the access
 * fails with ESRCH, naming the kill.
 */
const faultKillsSelf = async (p: Task, where: number): Promise<void> => {
  const err = await runP(Effect.flip(p.write(where, new Uint8Array([1]))));
  expect([(err as ErrnoError).errno, err.message]).toEqual([
    "ESRCH",
    `process ${p.pid} was killed by the OOM killer`,
  ]);
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

  // oom_unkillable_task() (mm/oom_kill.c) and get_task_mm() (kernel/fork.c) read PF_KTHREAD, not
  // task->mm: a kernel thread working in a process's address space (kthread_use_mm(),
  // kernel/kthread.c) is still never a candidate, and get_task_mm() gives it no mm.
  it("a kernel thread (PF_KTHREAD) is never chosen, even one using a process's mm (kthread_use_mm())", async () => {
    const k = bootOne();
    const total = k.pageAlloc.zones[0]!.managedPages;
    const { p } = await withResident(k, 100, 1, "a");
    const kthread = run(k.createKernelThread("kworker"));
    expect(kthread.flags & PF_KTHREAD).toBe(PF_KTHREAD);
    kthread.mm = p.mm;
    expect(oomBadness(k, kthread, total)).toBeNull();
    expect(getTaskMm(kthread)).toBeNull();
    expect(p.mm!.mmUsers).toBe(1);
    const oc = control(null);
    oc.totalpages = total;
    expect(selectBadProcess(k, oc)).toBe(false);
    expect(oc.chosen).toBe(p);
    expect(oc.chosenPoints).toBe(100);
    kthread.mm = null; // kthread_unuse_mm()
    expectConsistent(k);
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
    await faultKillsSelf(small.p, where);
    expect(k.vmstat.get("oom_kill")).toBe(1);
    expect(small.p.exited).toBe(true);
    expect(big.p.exited).toBe(false);
    expectBytes(run(big.p.read(big.addr, 2000 * PAGE)), pattern(2000 * PAGE, 5));
    expectConsistent(k);
  });

  // out_of_memory(): select_bad_process() found nothing, and for an allocation at the system
  // level (not sysrq, not a memory cgroup) Linux 6.16 calls panic("System is deadlocked on
  // memory\n") rather than loop in the allocator. The model used to fail the fault with ENOMEM.
  it("with no process to kill the kernel panics (System is deadlocked on memory): the fault's call and every later one fail with ESHUTDOWN naming it; shutdown still releases everything", async () => {
    const k = bootOne();
    const big = await withResident(k, 2000, 7, "big");
    const small = await withResident(k, 10, 8, "small");
    run(writeAdj(k, big.p, "-1000"));
    run(writeAdj(k, small.p, "-1000"));
    drainToMin(k);
    const where = run(small.p.mmap(PAGE));
    const err = expectErrno(small.p.write(where, new Uint8Array([1])), "ESHUTDOWN");
    expect(err.message).toBe("write: Kernel panic - not syncing: System is deadlocked on memory");
    expect([k.state, k.panicked]).toEqual(["panicked", "System is deadlocked on memory"]);
    expect(k.vmstat.get("oom_kill")).toBe(0);
    expect(big.p.exited || small.p.exited).toBe(false);
    // The panicking call unwound through its finalizers: the metadata is consistent.
    expectConsistent(k);
    // Nothing runs any more: a process's call, a kernel call, a procfs read.
    const panic = "Kernel panic - not syncing: System is deadlocked on memory";
    expect(expectErrno(big.p.read(big.addr, 1), "ESHUTDOWN").message).toBe(`read: ${panic}`);
    expect(expectErrno(k.createProcess(), "ESHUTDOWN").message).toBe(`clone: ${panic}`);
    expectErrno(k.fs.read("/proc/vmstat"), "ESHUTDOWN");
    expectErrno(k.allocFolio(0, 0), "ESHUTDOWN");
    await runP(k.shutdown());
    expect([k.state, k.panicked]).toEqual(["down", "System is deadlocked on memory"]);
    expect(k.tasks.size).toBe(0);
    expect(k.mem.sections).toEqual([]);
    expect(expectErrno(k.createProcess(), "ESHUTDOWN").message).toBe(`clone: ${panic}`);
  });

  it("a kernel allocation (folio_alloc(GFP_KERNEL)) with no process to kill panics too; the panic is the call's ESHUTDOWN", () => {
    const k = bootOne();
    drainToMin(k);
    const err = expectErrno(k.allocFolio(0, 0, GFP_KERNEL), "ESHUTDOWN");
    expect(err.message).toBe(
      "folio_alloc: Kernel panic - not syncing: System is deadlocked on memory",
    );
    expect(k.state).toBe("panicked");
  });

  // panic() → smp_send_stop() (kernel/panic.c, Linux 6.16): every other CPU halts where it is.
  it("a move_pages() blocked at its copy when another call panics the kernel changes nothing afterwards: its copy's end stops it with the panic (smp_send_stop()), no page moves, no counter or event", async () => {
    const k = boot({ daemons: "on-demand", nodes: ["16M", "16M"] });
    const mover = run(k.createProcess({ name: "mover", node: 0 }));
    const addr = run(mover.mmap(8 * PAGE));
    run(mover.write(addr, pattern(8 * PAGE, 22)));
    run(writeAdj(k, mover, "-1000"));
    const small = await withResident(k, 1, 23, "small");
    run(writeAdj(k, small.p, "-1000"));
    const where = run(small.p.mmap(PAGE));
    const ptes = () => Array.from(mover.mm!.findVma(addr)!.ptes.slice(0, 8));
    const events: string[] = [];
    const out = await Effect.runPromise(
      Effect.gen(function* () {
        const { gate, moving } = yield* holdOwnMove(k, mover, addr);
        drain(k);
        const fault = yield* Effect.flip(small.p.write(where, new Uint8Array([1])));
        expect(k.state).toBe("panicked");
        // What the machine looked like when it stopped: the 8 pages under migration.
        const vmstat = k.vmstat.snapshot();
        const entries = ptes();
        expect(entries.every(isMigrationEntry)).toBe(true);
        k.trace.subscribe((e) => {
          if (e.event.startsWith("mm_migrate")) events.push(e.event);
        });
        yield* Deferred.succeed(gate, undefined);
        const moved = yield* Effect.flip(Fiber.join(moving));
        return { fault, moved, vmstat, entries };
      }),
    );
    expect(out.fault.message).toBe(
      "write: Kernel panic - not syncing: System is deadlocked on memory",
    );
    expect([out.moved.errno, out.moved.message]).toEqual([
      "ESHUTDOWN",
      "move_pages: Kernel panic - not syncing: System is deadlocked on memory",
    ]);
    // The copy's end found the kernel halted: the migration went no further. The PTEs are the
    // migration entries they were, no page was freed or allocated, nothing counted or traced.
    expect(ptes()).toEqual(out.entries);
    expect(k.vmstat.snapshot()).toEqual(out.vmstat);
    expect(events).toEqual([]);
    await runP(k.shutdown());
    expect(k.state).toBe("down");
  });

  it("a call in flight when another call panics the kernel fails at its boundary with ESHUTDOWN naming the panic (panic() stops every CPU)", async () => {
    const k = boot({ nodes: ["16M", "16M"] });
    const mover = run(k.createProcess({ name: "mover", node: 0 }));
    const addr = run(mover.mmap(8 * PAGE));
    run(mover.write(addr, pattern(8 * PAGE, 20)));
    run(writeAdj(k, mover, "-1000"));
    const small = await withResident(k, 1, 21, "small");
    run(writeAdj(k, small.p, "-1000"));
    const where = run(small.p.mmap(PAGE));
    const out = await Effect.runPromise(
      Effect.gen(function* () {
        const { gate, moving } = yield* holdOwnMove(k, mover, addr);
        drain(k);
        const fault = yield* Effect.flip(small.p.write(where, new Uint8Array([1])));
        expect(k.state).toBe("panicked");
        yield* Deferred.succeed(gate, undefined);
        return { fault, moved: yield* Effect.flip(Fiber.join(moving)) };
      }),
    );
    expect(out.fault.message).toBe(
      "write: Kernel panic - not syncing: System is deadlocked on memory",
    );
    expect([out.moved.errno, out.moved.message]).toEqual([
      "ESHUTDOWN",
      "move_pages: Kernel panic - not syncing: System is deadlocked on memory",
    ]);
    await runP(k.shutdown());
    expect(k.state).toBe("down");
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

// vm_oom_kill_table[] (mm/oom_kill.c, Linux 6.16): panic_on_oom (proc_dointvec_minmax(),
// SYSCTL_ZERO..SYSCTL_TWO) read by check_panic_on_oom(), and oom_kill_allocating_task
// (proc_dointvec()) read by out_of_memory().
describe("/proc/sys/vm/panic_on_oom and oom_kill_allocating_task (Linux 6.16)", () => {
  const PANIC_ON_OOM = "/proc/sys/vm/panic_on_oom";
  const ALLOCATING = "/proc/sys/vm/oom_kill_allocating_task";

  /**
   * A node at its min watermark after `file` was set to `value`, with "big" (2000 resident pages)
   * and "small" (10, at `smallAdj`), and an unfaulted page of small's.
   */
  const exhausted = async (seed: number, file: string, value: string, smallAdj = "0") => {
    const k = bootOne();
    const big = await withResident(k, 2000, seed, "big");
    const small = await withResident(k, 10, seed + 1, "small");
    run(writeAdj(k, small.p, smallAdj));
    run(k.fs.write(file, value));
    drainToMin(k);
    return { k, big: big.p, small: small.p, where: run(small.p.mmap(PAGE)) };
  };

  it("read 0 at boot; panic_on_oom takes 0..2, oom_kill_allocating_task any int; EINVAL otherwise, the value unchanged", () => {
    const k = bootOne();
    expect(run(k.fs.read(PANIC_ON_OOM))).toBe("0\n");
    expect(run(k.fs.read(ALLOCATING))).toBe("0\n");
    expect(run(k.fs.write(PANIC_ON_OOM, "2\n"))).toBe(2);
    expect(k.panicOnOom).toBe(2);
    expectErrno(k.fs.write(PANIC_ON_OOM, "3"), "EINVAL");
    expectErrno(k.fs.write(PANIC_ON_OOM, "-1"), "EINVAL");
    expectErrno(k.fs.write(PANIC_ON_OOM, "1x"), "EINVAL");
    expect(run(k.fs.read(PANIC_ON_OOM))).toBe("2\n");
    expect(run(k.fs.write(ALLOCATING, "-7"))).toBe(2);
    expect(run(k.fs.read(ALLOCATING))).toBe("-7\n");
    expectErrno(k.fs.write(ALLOCATING, "2147483648"), "EINVAL");
    expect(k.oomKillAllocatingTask).toBe(-7);
  });

  it("panic_on_oom 1 panics an unconstrained OOM before any kill (Out of memory: system-wide panic_on_oom is enabled); a memory-policy OOM still kills", async () => {
    const k = boot({ nodes: ["16M", "16M"] });
    const a = run(k.createProcess({ node: 0 }));
    const b = run(k.createProcess({ node: 1 }));
    for (const p of [a, b]) {
      const addr = run(p.mmap(100 * PAGE));
      await runP(p.write(addr, pattern(100 * PAGE, p.pid)));
    }
    run(k.fs.write(PANIC_ON_OOM, "1"));
    // CONSTRAINT_MEMORY_POLICY: check_panic_on_oom() returns for 1, and the kill goes on.
    expect(Effect.runSyncExit(outOfMemory(k, control([1])))).toEqual(Exit.succeed(true));
    expect(k.vmstat.get("oom_kill")).toBe(1);
    expect(k.state).toBe("running");
    // CONSTRAINT_NONE: panic, no second kill.
    expect(Effect.runSyncExit(outOfMemory(k, control(null)))).toEqual(
      Exit.die(new KernelPanic("Out of memory: system-wide panic_on_oom is enabled\n")),
    );
    expect(k.vmstat.get("oom_kill")).toBe(1);
    expect(k.panicked).toBe("Out of memory: system-wide panic_on_oom is enabled");
  });

  it("panic_on_oom 2 panics every OOM, a memory-policy one too (Out of memory: compulsory panic_on_oom is enabled); a fault's call fails with ESHUTDOWN naming it", async () => {
    const k = boot({ nodes: ["16M", "16M"] });
    const a = run(k.createProcess({ node: 0 }));
    const addr = run(a.mmap(100 * PAGE));
    await runP(a.write(addr, pattern(100 * PAGE, 1)));
    run(k.fs.write(PANIC_ON_OOM, "2"));
    expect(Effect.runSyncExit(outOfMemory(k, control([1])))).toEqual(
      Exit.die(new KernelPanic("Out of memory: compulsory panic_on_oom is enabled\n")),
    );
    expect([k.vmstat.get("oom_kill"), a.exited]).toEqual([0, false]);
    // Through a fault, on a kernel of its own.
    const k2 = await exhausted(30, PANIC_ON_OOM, "2");
    const err = await runP(Effect.flip(k2.small.write(k2.where, new Uint8Array([1]))));
    expect([(err as ErrnoError).errno, err.message]).toEqual([
      "ESHUTDOWN",
      "write: Kernel panic - not syncing: Out of memory: compulsory panic_on_oom is enabled",
    ]);
    expect([k2.k.vmstat.get("oom_kill"), k2.big.exited, k2.small.exited]).toEqual([
      0,
      false,
      false,
    ]);
  });

  it("oom_kill_allocating_task kills the allocating process, not the one of highest badness; one at OOM_SCORE_ADJ_MIN, or a kernel thread's allocation, is left to select_bad_process()", async () => {
    const { k, big, small, where } = await exhausted(32, ALLOCATING, "1");
    await faultKillsSelf(small, where);
    expect([small.exited, big.exited, k.vmstat.get("oom_kill")]).toEqual([true, false, 1]);
    expectConsistent(k);
    // At OOM_SCORE_ADJ_MIN the allocating process may not be killed: big is chosen as usual.
    const two = await exhausted(34, ALLOCATING, "1", "-1000");
    await runP(two.small.write(two.where, new Uint8Array([2])));
    expect([two.small.exited, two.big.exited]).toEqual([false, true]);
    // A kernel thread's allocation has no current->mm: select_bad_process() again.
    const three = await exhausted(36, ALLOCATING, "1");
    three.k.folioPut(run(three.k.allocFolio(0, 0, GFP_KERNEL)));
    expect([three.small.exited, three.big.exited]).toEqual([false, true]);
  });
});

// The init process: kernel_init() → run_init_process() (init/main.c) starts pid 1; the OOM
// killer never takes it (oom_unkillable_task(): is_global_init(), mm/oom_kill.c; oom_badness()
// is LONG_MIN, so proc_oom_score() shows 0), and its exit panics (do_exit(), kernel/exit.c:
// "Attempted to kill init! exitcode=0x%08x\n"). Linux 6.16.
describe("the global init (is_global_init(), Linux 6.16)", () => {
  it("is started at boot: pid 1, named init, root's, with an empty address space; the first process created is pid 2", () => {
    const k = bootOne();
    const init = k.findTask(1)!;
    expect([init.pid, init.comm, init.uid, isGlobalInit(init)]).toEqual([1, "init", 0, true]);
    expect(init.mm!.vmas).toHaveLength(0);
    expect(k.fs.exists("/proc/1/oom_score_adj")).toBe(true);
    const p = run(k.createProcess());
    expect([p.pid, isGlobalInit(p)]).toEqual([2, false]);
    expect(run(k.createKernelThread("kt")).pid).toBe(3);
  });

  it("is never chosen, however much it holds: oom_badness() LONG_MIN, oom_score 0; the allocating process is killed instead, and with oom_kill_allocating_task init's own allocation kills another", async () => {
    const k = bootOne();
    const init = k.findTask(1)!;
    const held = run(init.mmap(2000 * PAGE));
    await runP(init.write(held, pattern(2000 * PAGE, 40)));
    expect(oomBadness(k, init, 4096)).toBeNull();
    expect(run(k.fs.read("/proc/1/oom_score"))).toBe("0\n");
    const oc = control(null);
    oc.totalpages = 4096;
    expect(selectBadProcess(k, oc)).toBe(false);
    expect(oc.chosen).toBeNull();
    const small = await withResident(k, 10, 41, "small");
    drainToMin(k);
    const where = run(small.p.mmap(PAGE));
    await faultKillsSelf(small.p, where);
    expect([init.exited, k.vmstat.get("oom_kill")]).toEqual([false, 1]);
    expectBytes(run(init.read(held, 2000 * PAGE)), pattern(2000 * PAGE, 40));
    // oom_kill_allocating_task passes over an allocating init (oom_unkillable_task(current)).
    const other = await withResident(k, 10, 42, "other");
    run(k.fs.write("/proc/sys/vm/oom_kill_allocating_task", "1"));
    drainToMin(k);
    const more = run(init.mmap(PAGE));
    await runP(init.write(more, new Uint8Array([3])));
    expect([init.exited, other.p.exited, k.vmstat.get("oom_kill")]).toEqual([false, true, 2]);
    expectConsistent(k);
  });

  it("exiting panics the kernel (Attempted to kill init! exitcode=0x00000000) before anything is released", async () => {
    const k = bootOne();
    const init = k.findTask(1)!;
    const addr = run(init.mmap(PAGE));
    run(init.write(addr, new Uint8Array([5])));
    const mm = init.mm!;
    const err = expectErrno(init.exit(), "ESHUTDOWN");
    expect(err.message).toBe(
      "exit: Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000000",
    );
    expect([k.state, k.panicked]).toEqual([
      "panicked",
      "Attempted to kill init! exitcode=0x00000000",
    ]);
    expect([init.exited, init.mm]).toEqual([false, mm]);
    expect(k.findTask(1)).toBe(init);
    await runP(k.shutdown());
    expect(k.state).toBe("down");
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
        // Nothing to kill: panic("System is deadlocked on memory\n"), which never returns.
        const exit = Effect.runSyncExit(outOfMemory(k, control(null)));
        if (want >= 0) expect(exit).toEqual(Exit.succeed(true));
        else expect(exit).toEqual(Exit.die(new KernelPanic("System is deadlocked on memory\n")));
        expect(k.state).toBe(want >= 0 ? "running" : "panicked");
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

// An OOM victim whose address space another task's move_pages(2) or migrate_pages(2) holds
// (Linux 6.16): find_mm_struct() / kernel_migrate_pages() take it with get_task_mm()
// (kernel/fork.c), the victim's exit_mm() (kernel/exit.c) drops only its own reference, so
// exit_mmap() (mm/mmap.c) runs at the caller's mmput(); meanwhile select_bad_process() aborts on
// the victim (oom_evaluate_task(): tsk_is_oom_victim() without MMF_OOM_SKIP), and the oom_reaper
// (mm/oom_kill.c) reaps the victim's private memory OOM_REAPER_DELAY (2 * HZ) after the kill
// (queue_oom_reaper(), wake_oom_reaper(), oom_reap_task(), __oom_reap_task_mm()), after which
// move_pages() reports -ENOENT for the reaped pages (folio_walk_start() finds no page).

/** select_bad_process() over one 16 MiB node's 4096 pages: whether it aborted, and whom it chose. */
const select = (k: Kernel) => {
  const oc = control(null, GFP_KERNEL);
  oc.totalpages = 4096;
  const aborted = selectBadProcess(k, oc);
  return { aborted, chosen: oc.chosen };
};

/** Every free page of the machine. */
const freePages = (k: Kernel): number =>
  k.pageAlloc.zones.reduce((sum, z) => sum + k.pageAlloc.nodeFreePages(z.nid), 0);

/** A process with `pages` private anonymous pages written with `seed`'s pattern. */
const withPrivate = (k: Kernel, name: string, pages: number, seed: number) => {
  const p = run(k.createProcess({ name, node: 0 }));
  const addr = run(p.mmap(pages * PAGE));
  run(p.write(addr, pattern(pages * PAGE, seed)));
  return { p, addr };
};

/** A migrator whose copies wait for `gate`; `reached` counts the copies that started. */
const gatedMigrator = (k: Kernel, gate: Deferred.Deferred<void>, reached = { n: 0 }): Migrator => ({
  name: "gated",
  owner: null,
  shouldBatch: () => true,
  offloadCopy: (dst, src) =>
    Effect.andThen(
      Effect.sync(() => reached.n++),
      Effect.andThen(
        Deferred.await(gate),
        Effect.sync(() => migrateFoliosMcCopy(k, dst, src)),
      ),
    ),
});

/**
 * A `move_pages(2)` of `p`'s 8 pages at `addr` to node 1 (pid 0: itself), forked and held at its
 * first copy by a {@link gatedMigrator}: its fiber, and the `gate` that lets it go on.
 */
const holdOwnMove = (k: Kernel, p: Task, addr: number) =>
  Effect.gen(function* () {
    const gate = Deferred.makeUnsafe<void>();
    const reached = { n: 0 };
    run(k.migrateOffload.register(gatedMigrator(k, gate, reached)));
    const moving = yield* Effect.forkChild(p.movePages(0, pagesOf(addr, 8), Array(8).fill(1)));
    yield* waitUntil(() => reached.n === 1);
    return { gate, moving };
  });

/** The pages of `[addr, addr + n pages)` that `mm` maps; a huge PMD counts its base pages. */
const mapped = (k: Kernel, mm: MmStruct, addr: number, n: number): number => {
  const vma = mm.findVma(addr)!;
  const first = (addr - vma.start) / PAGE;
  let count = 0;
  for (let i = first; i < first + n; i++) if (ptePresent(vma.ptes[i]!)) count++;
  for (const [haddr, pmd] of vma.pmds)
    if (haddr >= addr && haddr < addr + n * PAGE && ptePresent(pmd)) count += 1 << k.pmdOrder;
  return count;
};

describe("get_task_mm() / mmput() (kernel/fork.c, Linux 6.16)", () => {
  it("the victim's exit drops only its own reference: exit_mmap() runs at the last mmput()", () => {
    const k = boot({ nodes: ["16M"] });
    const free0 = freePages(k);
    const { p } = withPrivate(k, "victim", 32, 1);
    const mm = getTaskMm(p)!;
    expect(mm.mmUsers).toBe(2);
    run(p.exit());
    // exit_mm(): task->mm cleared, mm_users 2 → 1; the pages stay mapped in the held mm.
    expect(p.mm).toBeNull();
    expect(mm.mmUsers).toBe(1);
    expect(mm.oomSkip).toBe(false);
    expect(getMmRss(k, mm)).toBe(32);
    expect(freePages(k)).toBe(free0 - 32);
    expectConsistent(k);
    // get_task_mm() of an exited task finds no mm.
    expect(getTaskMm(p)).toBeNull();
    mmput(k, mm);
    // __mmput() → exit_mmap(): everything unmapped and freed, MMF_OOM_SKIP set.
    expect(mm.mmUsers).toBe(0);
    expect(mm.oomSkip).toBe(true);
    expect(mm.mapCount).toBe(0);
    expect(freePages(k)).toBe(free0);
    expectConsistent(k);
  });
});

describe("select_bad_process() with an earlier victim (oom_evaluate_task(), Linux 6.16)", () => {
  it("aborts on a victim whose mm lacks MMF_OOM_SKIP (no second kill, out_of_memory() true), and passes over one with it", async () => {
    const k = boot({ nodes: ["16M"] });
    const big = withPrivate(k, "big", 200, 2);
    const next = withPrivate(k, "next", 100, 3);
    const mm = getTaskMm(big.p)!;
    expect(select(k)).toEqual({ aborted: false, chosen: big.p });
    expect(run(outOfMemory(k, control(null, GFP_KERNEL)))).toBe(true);
    expect(big.p.exited).toBe(true);
    expect(big.p.oomMm).toBe(mm);
    expect(k.oomReaper.victims.has(big.p)).toBe(true);
    // The victim holds its 200 pages (another holder keeps its mm): the scan aborts.
    expect(select(k)).toEqual({ aborted: true, chosen: null });
    expect(run(outOfMemory(k, control(null, GFP_KERNEL)))).toBe(true);
    expect(next.p.exited).toBe(false);
    expect(k.vmstat.get("oom_kill")).toBe(1);
    // The holder's mmput() runs exit_mmap(), which sets MMF_OOM_SKIP: the victim is passed over,
    // and the next process is chosen.
    mmput(k, mm);
    expect(mm.oomSkip).toBe(true);
    expect(select(k)).toEqual({ aborted: false, chosen: next.p });
    expect(run(outOfMemory(k, control(null, GFP_KERNEL)))).toBe(true);
    expect(next.p.exited).toBe(true);
    expect(k.vmstat.get("oom_kill")).toBe(2);
    expectConsistent(k);
    await runP(k.shutdown());
  });

  it("refuses with ESHUTDOWN once the kernel has shut down: nobody killed, no oom_reaper started", async () => {
    const k = boot({ nodes: ["16M"] });
    const big = withPrivate(k, "big", 200, 5);
    await runP(k.shutdown());
    expect(k.state).toBe("down");
    expectErrno(outOfMemory(k, control(null, GFP_KERNEL)), "ESHUTDOWN");
    expect(big.p.exited).toBe(false);
    expect(k.oomReaper.victims.size).toBe(0);
    expect(k.vmstat.get("oom_kill")).toBe(0);
  });

  it("a victim whose mm nothing else holds is torn down in the kill, and arms no reaper timer", () => {
    const k = boot({ nodes: ["16M"] });
    const big = withPrivate(k, "big", 200, 4);
    const mm = big.p.mm!;
    expect(run(outOfMemory(k, control(null, GFP_KERNEL)))).toBe(true);
    expect([mm.mmUsers, mm.oomSkip, mm.oomReapQueued]).toEqual([0, true, true]);
    expect(k.oomReaper.victims.size).toBe(0);
  });

  // do_exit() of the victim: exit_mm() drops the last mapping of its shmem object, whose release
  // (fput() → task_work_add(victim)) the victim runs in exit_task_work() (kernel/exit.c), not the
  // task whose allocation killed it: the kill returns while the release waits in folio_lock().
  it("a victim's shmem release waits for a folio another task holds locked in the victim's own exit, not in the kill", async () => {
    const k = boot({ nodes: ["16M"] });
    const p = run(k.createProcess({ name: "victim" }));
    const addr = run(p.mmap(2 * PAGE, { flags: MAP_SHARED | MAP_ANONYMOUS }));
    run(p.write(addr, pattern(2 * PAGE, 3)));
    const mapping = p.mm!.findVma(addr)!.mapping!;
    const src = mapping.pages.get(0)!;
    expect(folioTrylock(k, src)).toBe(true);
    // Synchronous: the kill does not wait for the victim's release.
    expect(run(outOfMemory(k, control(null, GFP_KERNEL)))).toBe(true);
    expect(p.exited).toBe(true);
    for (let i = 0; i < 5; i++) await runP(Effect.yieldNow);
    expect(k.addressSpaces.get(mapping.id)).toBe(mapping);
    expect(mapping.pages.get(0)).toBe(src);
    expect(k.folioWaiters.waiting(src)).toBe(1);
    folioUnlock(k, src);
    for (let i = 0; i < 5; i++) await runP(Effect.yieldNow);
    expect(k.addressSpaces.has(mapping.id)).toBe(false);
    expect(k.memmap.refcount[src]).toBe(0);
    expect(p.taskWorks).toBeNull();
    expectConsistent(k);
  });

  // The victim's exit work sleeps in folio_lock() uninterruptibly (TASK_UNINTERRUPTIBLE): power
  // off waits for it before the memory goes, so it never touches the memory map afterwards.
  it("shutdown waits for a victim's exit work asleep in folio_lock()", async () => {
    const k = boot({ nodes: ["16M"] });
    const p = run(k.createProcess({ name: "victim" }));
    const addr = run(p.mmap(2 * PAGE, { flags: MAP_SHARED | MAP_ANONYMOUS }));
    run(p.write(addr, pattern(2 * PAGE, 3)));
    const src = p.mm!.findVma(addr)!.mapping!.pages.get(0)!;
    expect(folioTrylock(k, src)).toBe(true);
    expect(run(outOfMemory(k, control(null, GFP_KERNEL)))).toBe(true);
    for (let i = 0; i < 5; i++) await runP(Effect.yieldNow);
    expect(k.systemWq.pending()).toEqual([`exit_task_work of ${p.pid}`]);
    const down = Effect.runFork(k.shutdown());
    for (let i = 0; i < 5; i++) await runP(Effect.yieldNow);
    expect(down.pollUnsafe()).toBeUndefined();
    expect(k.folioWaiters.waiting(src)).toBe(1);
    folioUnlock(k, src);
    await runP(Fiber.join(down));
    expect(k.state).toBe("down");
    expect(p.taskWorks).toBeNull();
  });
});

describe("the oom_reaper (mm/oom_kill.c, Linux 6.16)", () => {
  it("move_pages() holds the victim's mm mid-batch: the fault that killed it retries without a second kill until the reaper, OOM_REAPER_DELAY later, reaps the private pages, which then report -ENOENT; shared pages still move", async () => {
    expect(OOM_REAPER_DELAY).toBe(2000); // 2 * HZ
    const k = boot({ daemons: "on-demand", nodes: ["16M", "16M"] });
    const free0 = freePages(k);
    const big = withPrivate(k, "big", 64, 5);
    const shared = run(big.p.mmap(8 * PAGE, { flags: MAP_SHARED | MAP_ANONYMOUS }));
    run(big.p.write(shared, pattern(8 * PAGE, 6)));
    const small = withPrivate(k, "small", 4, 7);
    const mover = run(k.createProcess({ name: "mover", node: 0 }));
    run(writeAdj(k, mover, "-1000"));
    run(writeAdj(k, small.p, "-1000"));
    const mm = big.p.mm!;
    const gate = Deferred.makeUnsafe<void>();
    const reached = { n: 0 };
    run(k.migrateOffload.register(gatedMigrator(k, gate, reached)));
    const priv = pagesOf(big.addr, 64);
    // Pages 0-7 to node 1 (one run, held at its copy); page 8 to node 0, where it is (the node
    // change ends the run); pages 9-63 to node 1; the shared pages to node 1.
    const pages = [...priv, ...pagesOf(shared, 8)];
    const nodes = pages.map((_, i) => (i === 8 ? 0 : 1));
    const where = run(small.p.mmap(PAGE));
    const out = await Effect.runPromise(
      Effect.gen(function* () {
        const moving = yield* Effect.forkChild(mover.movePages(big.p.pid, pages, nodes));
        yield* waitUntil(() => reached.n === 1);
        expect(mm.mmUsers).toBe(2); // the task's and find_mm_struct()'s
        const drained = drain(k);
        const fault = yield* Effect.forkChild(small.p.write(where, new Uint8Array([9])));
        yield* waitUntil(() => big.p.exited);
        // Killed: out of the process table, its mm held by move_pages(), nothing freed.
        expect(k.vmstat.get("oom_kill")).toBe(1);
        expect(mm.mmUsers).toBe(1);
        expect(getMmRss(k, mm)).toBe(72);
        expectConsistent(k);
        // The fault keeps retrying: every out_of_memory() aborts on the victim.
        yield* TestClock.adjust(`${OOM_REAPER_DELAY - 1} millis`);
        yield* waitUntil(() => true);
        expect(fault.pollUnsafe()).toBeUndefined();
        expect([mm.oomSkip, getMmRss(k, mm), k.vmstat.get("oom_kill")]).toEqual([false, 72, 1]);
        // wake_oom_reaper(): the 64 private pages are reaped (8 of them migration entries, whose
        // folios the migration still holds); the 8 shared pages stay.
        yield* TestClock.adjust("1 millis");
        yield* Fiber.join(fault);
        expect(mm.oomSkip).toBe(true);
        expect(getMmRss(k, mm)).toBe(8);
        expect(k.vmstat.get("oom_kill")).toBe(1);
        expect(k.oomReaper.victims.size).toBe(0);
        expect(mm.mapCount).toBe(2); // the VMAs stay
        expectConsistent(k);
        yield* Deferred.succeed(gate, undefined);
        const result = yield* Fiber.join(moving);
        return { drained, result };
      }).pipe(Effect.provide(TestClock.layer())),
    );
    const status = [...out.result.status];
    expect(out.result.rc).toBe(0);
    // The run held at its copy completed (node 1: its destinations, unmapped by the reaper, are
    // freed). Page 8's node change flushed that run before page 8 was looked up
    // (do_pages_move()), so it and the later private pages, reaped, are -ENOENT (the VMA is
    // there, the PTE none: folio_walk_start() finds no page); the shared pages moved.
    expect(status.slice(0, 8)).toEqual(Array(8).fill(1));
    expect(status.slice(8, 64)).toEqual(Array(56).fill(-ERRNO.ENOENT));
    expect(status.slice(64)).toEqual(Array(8).fill(1));
    // move_pages()'s mmput() was the last: exit_mmap() freed the rest.
    expect(mm.mmUsers).toBe(0);
    expect(mm.mapCount).toBe(0);
    expectBytes(run(small.p.read(where, 1)), new Uint8Array([9]));
    expectConsistent(k);
    for (const pfn of out.drained) k.folioPut(k.folio(pfn));
    run(small.p.exit());
    run(mover.exit());
    // No page leaked: every page is free again.
    expect(freePages(k)).toBe(free0);
    await runP(k.shutdown());
  });

  it("migrate_pages(2) holds the mm too; a victim that the holder's mmput() tears down before the timer is not reaped", async () => {
    const k = boot({ nodes: ["16M", "16M"] });
    const free0 = freePages(k);
    const big = withPrivate(k, "big", 32, 8);
    const mover = run(k.createProcess({ name: "mover", node: 0 }));
    run(writeAdj(k, mover, "-1000"));
    const mm = big.p.mm!;
    const gate = Deferred.makeUnsafe<void>();
    const reached = { n: 0 };
    run(k.migrateOffload.register(gatedMigrator(k, gate, reached)));
    await Effect.runPromise(
      Effect.gen(function* () {
        const moving = yield* Effect.forkChild(mover.migratePagesSyscall(big.p.pid, 64, [0], [1]));
        yield* waitUntil(() => reached.n === 1);
        expect(mm.mmUsers).toBe(2);
        expect(yield* outOfMemory(k, control(null, GFP_KERNEL))).toBe(true);
        expect(big.p.exited).toBe(true);
        expect(getMmRss(k, mm)).toBe(32);
        yield* Deferred.succeed(gate, undefined);
        // Every page moved (rc 0); kernel_migrate_pages()'s mmput() tears the mm down.
        expect(yield* Fiber.join(moving)).toBe(0);
        expect([mm.mmUsers, mm.oomSkip]).toEqual([0, true]);
        expect(freePages(k)).toBe(free0);
        // The timer still fires, finds MMF_OOM_SKIP (wake_oom_reaper()) and lets the victim go.
        expect(k.oomReaper.victims.has(big.p)).toBe(true);
        yield* TestClock.adjust(`${OOM_REAPER_DELAY} millis`);
        yield* waitUntil(() => k.oomReaper.victims.size === 0);
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expectConsistent(k);
    await runP(k.shutdown());
  });
});

/**
 * `big` (64 private pages) held inside a call of its own, a `move_pages()` of 8 of its pages to
 * node 1 whose copy waits for `gate`, then killed by `small`'s fault with every page taken: runs
 * `body` with the forked call and fault, and returns what the call and the fault ended with.
 */
const killInsideOwnCall = async (
  body: (s: {
    k: Kernel;
    big: { p: Task; addr: number };
    small: { p: Task; addr: number };
    where: number;
    gate: Deferred.Deferred<void>;
    fault: Fiber.Fiber<void, ErrnoError | SignalError>;
  }) => Effect.Effect<void, ErrnoError | SignalError>,
) => {
  const k = boot({ nodes: ["16M", "16M"] });
  const free0 = freePages(k);
  const big = withPrivate(k, "big", 64, 5);
  const small = withPrivate(k, "small", 4, 7);
  const mm = big.p.mm!;
  const where = run(small.p.mmap(PAGE));
  const out = await Effect.runPromise(
    Effect.gen(function* () {
      const { gate, moving } = yield* holdOwnMove(k, big.p, big.addr);
      const drained = drain(k);
      const fault = yield* Effect.forkChild(small.p.write(where, new Uint8Array([9])));
      yield* waitUntil(() => k.vmstat.get("oom_kill") === 1);
      // Killed, not yet dead: SIGKILL pending, still in the process table, its pages mapped.
      expect([big.p.oomVictim, big.p.sigkillPending, big.p.exited]).toEqual([true, true, false]);
      expect(k.findTask(big.p.pid)).toBe(big.p);
      expect(getMmRss(k, mm)).toBe(64);
      expect(k.oomReaper.victims.has(big.p)).toBe(true);
      // Another call of the dying process (another thread's) fails at once, running nothing.
      const killed = ["ESRCH", `process ${big.p.pid} was killed by the OOM killer`];
      const again = yield* Effect.flip(big.p.read(big.addr, 1));
      expect([(again as ErrnoError).errno, again.message]).toEqual(killed);
      // Nor is anything done in its name: an allocation, a write to /proc.
      const alloc = yield* Effect.flip(k.allocFolio(0, 0, GFP_KERNEL, big.p));
      expect([alloc.errno, alloc.message]).toEqual(killed);
      const adj = yield* Effect.flip(writeAdj(k, big.p, "0", big.p));
      expect([adj.errno, adj.message]).toEqual(killed);
      expect(big.p.oomScoreAdj).toBe(0);
      yield* body({ k, big, small, where, gate, fault });
      const moved = yield* Effect.flip(Fiber.join(moving));
      yield* Fiber.join(fault);
      return { drained, moved };
    }).pipe(Effect.provide(TestClock.layer())),
  );
  // The call never returns to user space: it fails with ESRCH, and the task exited on its
  // return (get_signal() → do_group_exit()); the last mmput() tore the mm down.
  expect([out.moved.errno, out.moved.message]).toEqual([
    "ESRCH",
    `process ${big.p.pid} was killed by the OOM killer`,
  ]);
  expect(big.p.exited).toBe(true);
  expect(k.findTask(big.p.pid)).toBeUndefined();
  expect([mm.mmUsers, mm.mapCount, mm.oomSkip]).toEqual([0, 0, true]);
  expect(k.vmstat.get("oom_kill")).toBe(1);
  expectBytes(run(small.p.read(where, 1)), new Uint8Array([9]));
  expectConsistent(k);
  for (const pfn of out.drained) k.folioPut(k.folio(pfn));
  run(small.p.exit());
  expect(freePages(k)).toBe(free0);
  await runP(k.shutdown());
};

// A fault's SIGSEGV is fatal with no handler: get_signal() → do_group_exit(SIGSEGV) kills the
// process's other threads (zap_other_threads(): SIGKILL) and the process exits with the fault's
// signal once the last of them is out (kernel/signal.c, kernel/exit.c, Linux 6.16).
describe("a forced signal while another call of the process is in flight (do_group_exit(), Linux 6.16)", () => {
  it("the faulting store fails with SIGSEGV at once; the other call is killed (ESRCH) and the process dies when it returns, exit code 11", async () => {
    const k = boot({ nodes: ["16M", "16M"] });
    const { p, addr } = withPrivate(k, "p", 16, 3);
    const moved = await Effect.runPromise(
      Effect.gen(function* () {
        const { gate, moving } = yield* holdOwnMove(k, p, addr);
        const e = yield* Effect.flip(p.write(0x10000, new Uint8Array([1])));
        expect(e).toMatchObject({ _tag: "SignalError", signal: "SIGSEGV", reason: "SEGV_MAPERR" });
        expect([p.exited, p.sigkillPending, p.forcedSignal]).toEqual([false, true, e]);
        yield* Deferred.succeed(gate, undefined);
        return yield* Effect.flip(Fiber.join(moving));
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expect(moved).toMatchObject({
      errno: "ESRCH",
      message: `process ${p.pid} was killed by SIGKILL`,
    });
    expect([p.exited, p.exitCode]).toEqual([true, 11]);
    expect(k.findTask(p.pid)).toBeUndefined();
    expectConsistent(k);
  });
});

// __oom_kill_process() (mm/oom_kill.c, Linux 6.16) sends SIGKILL (do_send_sig_info()); a victim
// inside the kernel dies only on its way back to user mode (exit_to_user_mode_loop() →
// get_signal() → do_group_exit()), and the oom_reaper exists for the victim that takes long.
describe("SIGKILL to a victim inside a call of its own (do_send_sig_info(), get_signal(), Linux 6.16)", () => {
  it("keeps its memory until the call returns: the fault that killed it retries without a second kill, then succeeds once the exit has freed it; the timer finds MMF_OOM_SKIP", async () => {
    await killInsideOwnCall(({ k, big, gate, fault }) =>
      Effect.gen(function* () {
        // Every out_of_memory() aborts on the victim, whose mm lacks MMF_OOM_SKIP.
        for (let i = 0; i < 20; i++) yield* Effect.yieldNow;
        expect(fault.pollUnsafe()).toBeUndefined();
        expect([k.vmstat.get("oom_kill"), big.p.exited]).toEqual([1, false]);
        // The copy ends, move_pages() returns, and the task dies: exit_mmap() frees everything.
        yield* Deferred.succeed(gate, undefined);
        yield* Fiber.join(fault);
        expect(big.p.exited).toBe(true);
        // wake_oom_reaper() finds MMF_OOM_SKIP and lets the victim go, reaping nothing.
        yield* TestClock.adjust(`${OOM_REAPER_DELAY} millis`);
        yield* waitUntil(() => k.oomReaper.victims.size === 0);
      }),
    );
  });

  it("is reaped OOM_REAPER_DELAY after the kill while its call is still in the kernel: the fault succeeds before the victim dies, which it does when the call returns", async () => {
    await killInsideOwnCall(({ k, big, gate, fault }) =>
      Effect.gen(function* () {
        const mm = big.p.mm!;
        yield* TestClock.adjust(`${OOM_REAPER_DELAY} millis`);
        yield* Fiber.join(fault);
        // The reaper took the 64 private pages (8 of them migration entries) from a live task.
        expect([mm.oomSkip, getMmRss(k, mm), big.p.exited]).toEqual([true, 0, false]);
        expect(big.p.sigkillPending).toBe(true);
        yield* Deferred.succeed(gate, undefined);
      }),
    );
  });
});

describe("__oom_reap_task_mm() (mm/oom_kill.c, Linux 6.16)", () => {
  it("reaps anonymous and private file VMAs, mlocked ones too; leaves shared, shmem and hugetlb VMAs", async () => {
    const k = boot({ nodes: ["64M"] });
    run(k.fs.write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "1"));
    const file = run(k.createFile("data"));
    const p = run(k.createProcess({ name: "victim" }));
    const anon = run(p.mmap(8 * PAGE));
    run(p.write(anon, pattern(8 * PAGE, 10)));
    const locked = run(p.mmap(8 * PAGE));
    run(p.mlock(locked, 8 * PAGE));
    run(p.write(locked, pattern(8 * PAGE, 11)));
    const shm = run(p.mmap(8 * PAGE, { flags: MAP_SHARED | MAP_ANONYMOUS }));
    run(p.write(shm, pattern(8 * PAGE, 12)));
    run(file.truncate(8 * PAGE));
    const fshared = run(p.mmap(8 * PAGE, { flags: MAP_SHARED, file }));
    run(p.write(fshared, pattern(8 * PAGE, 13)));
    // A private file mapping: pages 0-3 read (the page cache's), 4-7 written (copied on write).
    const fprivate = run(p.mmap(8 * PAGE, { flags: MAP_PRIVATE, file }));
    run(p.read(fprivate, 4 * PAGE));
    run(p.write(fprivate + 4 * PAGE, pattern(4 * PAGE, 14)));
    const huge = run(p.mmap(2 << 20, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
    run(p.write(huge, new Uint8Array([15])));
    const mm = getTaskMm(p)!;
    const free = freePages(k);
    await Effect.runPromise(
      Effect.gen(function* () {
        expect(yield* outOfMemory(k, control(null, GFP_KERNEL))).toBe(true);
        expect(p.exited).toBe(true);
        yield* TestClock.adjust(`${OOM_REAPER_DELAY} millis`);
        yield* waitUntil(() => k.oomReaper.victims.size === 0);
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expect(mm.oomSkip).toBe(true);
    expect(mapped(k, mm, anon, 8)).toBe(0);
    expect(mapped(k, mm, locked, 8)).toBe(0); // VM_LOCKED is no longer skipped (since 5.18)
    expect(mapped(k, mm, fprivate, 8)).toBe(0);
    expect(mapped(k, mm, shm, 8)).toBe(8);
    expect(mapped(k, mm, fshared, 8)).toBe(8);
    expect(mapped(k, mm, huge, 512)).toBe(512);
    // Freed: the anonymous, mlocked and copied-on-write pages; the file's stay in its page cache.
    expect(freePages(k) - free).toBe(8 + 8 + 4);
    expectConsistent(k);
    mmput(k, mm);
    // exit_mmap(): the shmem object's 8 pages go with its last mapping.
    expect(freePages(k) - free).toBe(8 + 8 + 4 + 8);
    expect(file.folioAt(0)).toBeDefined();
    expectConsistent(k);
    await runP(k.shutdown());
  });
});

// Inputs at the edges of the oom_reaper and mm_users work, each checked against Linux 6.16:
// mm/oom_kill.c (__oom_kill_process(), queue_oom_reaper(), wake_oom_reaper(), oom_reap_task(),
// __oom_reap_task_mm()), kernel/fork.c (get_task_mm(), mmput()), kernel/exit.c (exit_mm()) and
// mm/migrate.c (find_mm_struct(), kernel_move_pages()).
describe("the oom_reaper and mm_users at their edges (Linux 6.16)", () => {
  it("a PMD THP of the victim held mid-migration: the reaper clears its PMD migration entry, the migration frees its new folio, nothing leaks", async () => {
    const MiB = 1 << 20;
    const k = boot({ nodes: ["16M", "16M"], thp: { enabled: "always" } });
    const free0 = freePages(k);
    const p = run(k.createProcess({ name: "victim", node: 0 }));
    const raw = run(p.mmap(4 * MiB));
    const addr = Math.ceil(raw / (2 * MiB)) * 2 * MiB;
    run(p.write(addr, pattern(2 * MiB, 21)));
    const mm = p.mm!;
    expect(mm.findVma(addr)!.pmds.size).toBe(1);
    const mover = run(k.createProcess({ name: "mover", node: 0 }));
    run(writeAdj(k, mover, "-1000"));
    const gate = Deferred.makeUnsafe<void>();
    const reached = { n: 0 };
    run(k.migrateOffload.register(gatedMigrator(k, gate, reached)));
    const out = await Effect.runPromise(
      Effect.gen(function* () {
        const moving = yield* Effect.forkChild(mover.movePages(p.pid, [addr], [1]));
        yield* waitUntil(() => reached.n === 1);
        expect(yield* outOfMemory(k, control(null, GFP_KERNEL))).toBe(true);
        expect(p.exited).toBe(true);
        expect([mm.mmUsers, getMmRss(k, mm)]).toEqual([1, 512]); // the PMD migration entry counts
        yield* TestClock.adjust(`${OOM_REAPER_DELAY} millis`);
        yield* waitUntil(() => k.oomReaper.victims.size === 0);
        expect([mm.oomSkip, getMmRss(k, mm)]).toEqual([true, 0]);
        expectConsistent(k);
        yield* Deferred.succeed(gate, undefined);
        return yield* Fiber.join(moving);
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expect(out.rc).toBe(0);
    expect([...out.status]).toEqual([1]); // the folio moved; its mapping was gone
    expect([mm.mmUsers, mm.mapCount]).toEqual([0, 0]);
    expectConsistent(k);
    run(mover.exit());
    expect(freePages(k)).toBe(free0);
    await runP(k.shutdown());
  });

  it("move_pages(2) and migrate_pages(2) on a victim killed before the call: ESRCH (find_mm_struct(): find_get_task_by_vpid() finds no task)", async () => {
    const k = boot({ nodes: ["16M", "16M"] });
    const big = withPrivate(k, "big", 32, 22);
    const mover = run(k.createProcess({ name: "mover", node: 0 }));
    run(writeAdj(k, mover, "-1000"));
    expect(run(outOfMemory(k, control(null, GFP_KERNEL)))).toBe(true);
    expect(big.p.exited).toBe(true);
    expect(await errnoOf(mover.movePages(big.p.pid, [big.addr], [1]))).toBe("ESRCH");
    expect(await errnoOf(mover.movePages(big.p.pid, [big.addr], null))).toBe("ESRCH");
    expect(await errnoOf(mover.migratePagesSyscall(big.p.pid, 64, [0], [1]))).toBe("ESRCH");
    expectConsistent(k);
    await runP(k.shutdown());
  });

  it("an mm held twice (move_pages() and a get_task_mm()): the kill and the reap take nothing of the second holder's reference; exit_mmap() runs once, at the last mmput()", async () => {
    const k = boot({ nodes: ["16M", "16M"] });
    const free0 = freePages(k);
    const big = withPrivate(k, "big", 48, 23);
    const mover = run(k.createProcess({ name: "mover", node: 0 }));
    run(writeAdj(k, mover, "-1000"));
    const mm = getTaskMm(big.p)!; // the second holder
    const gate = Deferred.makeUnsafe<void>();
    const reached = { n: 0 };
    run(k.migrateOffload.register(gatedMigrator(k, gate, reached)));
    const out = await Effect.runPromise(
      Effect.gen(function* () {
        const moving = yield* Effect.forkChild(
          mover.movePages(big.p.pid, pagesOf(big.addr, 48), Array(48).fill(1)),
        );
        yield* waitUntil(() => reached.n === 1);
        expect(mm.mmUsers).toBe(3);
        expect(yield* outOfMemory(k, control(null, GFP_KERNEL))).toBe(true);
        expect(mm.mmUsers).toBe(2);
        yield* TestClock.adjust(`${OOM_REAPER_DELAY} millis`);
        yield* waitUntil(() => k.oomReaper.victims.size === 0);
        // Reaped: the 48 pages are unmapped (under migration: their entries cleared), the VMA stays.
        expect([mm.mmUsers, mm.oomSkip, getMmRss(k, mm), mm.mapCount]).toEqual([2, true, 0, 1]);
        yield* Deferred.succeed(gate, undefined);
        return yield* Fiber.join(moving);
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expect(out.rc).toBe(0);
    // The one run of 48 was isolated before the reap: it migrated, its mappings gone.
    expect([...out.status]).toEqual(Array(48).fill(1));
    // move_pages()'s mmput() is not the last: the VMA is still there.
    expect([mm.mmUsers, mm.mapCount]).toEqual([1, 1]);
    expectConsistent(k);
    mmput(k, mm);
    expect([mm.mmUsers, mm.mapCount]).toEqual([0, 0]);
    expectConsistent(k);
    run(mover.exit());
    expect(freePages(k)).toBe(free0);
    await runP(k.shutdown());
  });

  it("two kills in a row, the clock advanced part way: the first victim's timer finds MMF_OOM_SKIP (exit_mmap() ran), the second's reaps at its own OOM_REAPER_DELAY", async () => {
    const k = boot({ nodes: ["16M", "16M"] });
    const a = withPrivate(k, "a", 300, 24);
    const b = withPrivate(k, "b", 200, 25);
    const c = withPrivate(k, "c", 10, 26);
    const mmA = getTaskMm(a.p)!;
    const mmB = getTaskMm(b.p)!;
    await Effect.runPromise(
      Effect.gen(function* () {
        // t = 0: a (300 pages) is chosen; its mm is held, so it is queued.
        expect(yield* outOfMemory(k, control(null, GFP_KERNEL))).toBe(true);
        expect([a.p.exited, b.p.exited]).toEqual([true, false]);
        yield* TestClock.adjust("1500 millis");
        // t = 1500: still unreaped, the scan aborts on a.
        expect(select(k)).toEqual({ aborted: true, chosen: null });
        mmput(k, mmA); // exit_mmap(): MMF_OOM_SKIP
        // b is chosen now, a passed over; b's timer runs from t = 1500.
        expect(yield* outOfMemory(k, control(null, GFP_KERNEL))).toBe(true);
        expect(b.p.exited).toBe(true);
        expect(k.vmstat.get("oom_kill")).toBe(2);
        expect(new Set(k.oomReaper.victims)).toEqual(new Set([a.p, b.p]));
        // t = 2000: a's timer finds MMF_OOM_SKIP and lets a go; b is untouched.
        yield* TestClock.adjust("500 millis");
        yield* waitUntil(() => !k.oomReaper.victims.has(a.p));
        expect([mmB.oomSkip, getMmRss(k, mmB)]).toEqual([false, 200]);
        expect(select(k)).toEqual({ aborted: true, chosen: null });
        // t = 3499: one millisecond short of b's delay.
        yield* TestClock.adjust("1499 millis");
        yield* waitUntil(() => true);
        expect([mmB.oomSkip, getMmRss(k, mmB), k.oomReaper.victims.has(b.p)]).toEqual([
          false,
          200,
          true,
        ]);
        // t = 3500: b reaped; c is next.
        yield* TestClock.adjust("1 millis");
        yield* waitUntil(() => k.oomReaper.victims.size === 0);
        expect([mmB.oomSkip, getMmRss(k, mmB)]).toEqual([true, 0]);
        expect(select(k)).toEqual({ aborted: false, chosen: c.p });
      }).pipe(Effect.provide(TestClock.layer())),
    );
    mmput(k, mmB);
    expectConsistent(k);
    await runP(k.shutdown());
  });

  it("kernel shutdown with a reaper timer pending ends the timer: advancing the clock afterwards reaps nothing", async () => {
    const k = boot({ nodes: ["16M"] });
    const big = withPrivate(k, "big", 40, 27);
    const mm = getTaskMm(big.p)!;
    await Effect.runPromise(
      Effect.gen(function* () {
        expect(yield* outOfMemory(k, control(null, GFP_KERNEL))).toBe(true);
        expect(k.oomReaper.victims.has(big.p)).toBe(true);
        yield* TestClock.adjust("1000 millis");
        yield* k.shutdown();
        yield* TestClock.adjust(`${OOM_REAPER_DELAY} millis`);
        yield* waitUntil(() => true);
        // wake_oom_reaper() never ran: the victim is still queued, its mm unreaped.
        expect([k.oomReaper.victims.has(big.p), mm.oomSkip]).toEqual([true, false]);
      }).pipe(Effect.provide(TestClock.layer())),
    );
  });

  it("a victim with mlocked, shmem and hugetlb memory, held mid-migration: the reap munlocks what it unmaps (nr_mlock 0), the hugetlb pages wait for the last mmput(); /proc/meminfo ends as it began", async () => {
    const k = boot({ nodes: ["32M", "32M"] });
    run(k.fs.write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "2"));
    const free0 = freePages(k);
    const meminfo0 = run(k.fs.read("/proc/meminfo"));
    const p = run(k.createProcess({ name: "victim", node: 0 }));
    const locked = run(p.mmap(16 * PAGE));
    run(p.mlock(locked, 16 * PAGE));
    run(p.write(locked, pattern(16 * PAGE, 28)));
    const shm = run(p.mmap(8 * PAGE, { flags: MAP_SHARED | MAP_ANONYMOUS }));
    run(p.write(shm, pattern(8 * PAGE, 29)));
    const huge = run(p.mmap(2 << 20, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
    run(p.write(huge, new Uint8Array([30])));
    expect(k.vmstat.get("nr_mlock")).toBe(16);
    const mover = run(k.createProcess({ name: "mover", node: 0 }));
    run(writeAdj(k, mover, "-1000"));
    const mm = p.mm!;
    const gate = Deferred.makeUnsafe<void>();
    const reached = { n: 0 };
    run(k.migrateOffload.register(gatedMigrator(k, gate, reached)));
    const pages = [...pagesOf(locked, 16), ...pagesOf(shm, 8)];
    const out = await Effect.runPromise(
      Effect.gen(function* () {
        const moving = yield* Effect.forkChild(
          mover.movePages(p.pid, pages, Array(pages.length).fill(1)),
        );
        yield* waitUntil(() => reached.n === 1);
        expect(yield* outOfMemory(k, control(null, GFP_KERNEL))).toBe(true);
        yield* TestClock.adjust(`${OOM_REAPER_DELAY} millis`);
        yield* waitUntil(() => k.oomReaper.victims.size === 0);
        // The mlocked pages' migration entries are cleared; the shmem entries stay (a shared
        // VMA), and so does the hugetlb page.
        expect([k.vmstat.get("nr_mlock"), getMmRss(k, mm), mapped(k, mm, shm, 8)]).toEqual([
          0, 8, 0,
        ]);
        expect(run(k.fs.read("/proc/meminfo"))).toMatch(/^HugePages_Free: +1$/m);
        expectConsistent(k);
        yield* Deferred.succeed(gate, undefined);
        return yield* Fiber.join(moving);
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expect(out.rc).toBe(0);
    expect([...out.status]).toEqual(Array(24).fill(1));
    // move_pages()'s mmput() was the last: the hugetlb page went back to the pool.
    expect([mm.mmUsers, k.vmstat.get("nr_mlock")]).toEqual([0, 0]);
    expectConsistent(k);
    run(mover.exit());
    expect(freePages(k)).toBe(free0);
    expect(run(k.fs.read("/proc/meminfo"))).toBe(meminfo0);
    await runP(k.shutdown());
  });
  it("a task whose exit() ran while its fault waited on a held victim kills no one else (out_of_memory(): task_will_free_mem(current), mark_oom_victim())", async () => {
    const k = boot({ nodes: ["16M"] });
    const free0 = freePages(k);
    // big's memory is all shared: the reaper frees none of it.
    const big = run(k.createProcess({ name: "big", node: 0 }));
    const shm = run(big.mmap(64 * PAGE, { flags: MAP_SHARED | MAP_ANONYMOUS }));
    run(big.write(shm, pattern(64 * PAGE, 31)));
    const other = withPrivate(k, "other", 8, 32);
    const small = run(k.createProcess({ name: "small", node: 0 }));
    const where = run(small.mmap(PAGE));
    run(writeAdj(k, small, "-1000"));
    const mm = getTaskMm(big)!;
    const drained = drain(k);
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        const fault = yield* Effect.forkChild(small.write(where, new Uint8Array([9])));
        yield* waitUntil(() => big.exited);
        expect(k.vmstat.get("oom_kill")).toBe(1);
        // The fault retries (the scan aborts on big) while small exits.
        yield* small.exit();
        // The reap frees nothing and sets MMF_OOM_SKIP: the next out_of_memory() finds its
        // allocating task exiting, marks it a victim and kills no one (Linux 6.16).
        yield* TestClock.adjust(`${OOM_REAPER_DELAY} millis`);
        return yield* Effect.result(Fiber.join(fault));
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expect(Result.isFailure(result) && (result.failure as ErrnoError).errno).toBe("ESRCH");
    expect(Result.isFailure(result) && result.failure.message).toBe(
      `process ${small.pid} has exited`,
    );
    expect(k.vmstat.get("oom_kill")).toBe(1);
    expect(other.p.exited).toBe(false);
    expectConsistent(k);
    mmput(k, mm);
    for (const pfn of drained) k.folioPut(k.folio(pfn));
    run(other.p.exit());
    expect(freePages(k)).toBe(free0);
    await runP(k.shutdown());
  });
});

describe("OOM kills, the oom_reaper and get_task_mm() holders in any order (property)", () => {
  type Op =
    | { op: "move"; mover: number; target: number; node: number; all: boolean }
    | { op: "migrate"; mover: number; target: number; node: number }
    | { op: "open"; which: number }
    | { op: "oom" }
    | { op: "tick"; ms: number }
    | { op: "exit"; target: number }
    | { op: "write"; target: number; page: number }
    | { op: "hold"; target: number }
    | { op: "put"; which: number }
    | { op: "drain" }
    | { op: "relieve" };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      op: fc.constant("move" as const),
      mover: fc.nat(1),
      target: fc.nat(3),
      node: fc.nat(1),
      all: fc.boolean(),
    }),
    fc.record({
      op: fc.constant("migrate" as const),
      mover: fc.nat(1),
      target: fc.nat(3),
      node: fc.nat(1),
    }),
    fc.record({ op: fc.constant("open" as const), which: fc.nat(7) }),
    fc.record({ op: fc.constant("oom" as const) }),
    fc.record({
      op: fc.constant("tick" as const),
      ms: fc.constantFrom(1, 500, OOM_REAPER_DELAY - 1, OOM_REAPER_DELAY, 2500),
    }),
    fc.record({ op: fc.constant("exit" as const), target: fc.nat(3) }),
    fc.record({ op: fc.constant("write" as const), target: fc.nat(3), page: fc.nat(39) }),
    fc.record({ op: fc.constant("hold" as const), target: fc.nat(3) }),
    fc.record({ op: fc.constant("put" as const), which: fc.nat(3) }),
    fc.record({ op: fc.constant("drain" as const) }),
    fc.record({ op: fc.constant("relieve" as const) }),
  );

  it("faults, move_pages(2), migrate_pages(2), exits, get_task_mm()/mmput(), kills and clock advances in any interleaving leak no page and tear every mm down exactly once", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat(20), { minLength: 4, maxLength: 4 }),
        fc.array(op, { minLength: 1, maxLength: 25 }),
        async (sizes, ops) => {
          const k = boot({ nodes: ["16M", "16M"] });
          const free0 = freePages(k);
          // Each offloaded copy waits for its own gate until the end opens them all.
          let passAll = false;
          const gates: Deferred.Deferred<void>[] = [];
          run(
            k.migrateOffload.register({
              name: "gated",
              owner: null,
              shouldBatch: () => true,
              offloadCopy: (dst, src) =>
                Effect.suspend(() => {
                  const copy = Effect.sync(() => migrateFoliosMcCopy(k, dst, src));
                  if (passAll) return copy;
                  const gate = Deferred.makeUnsafe<void>();
                  gates.push(gate);
                  return Effect.andThen(Deferred.await(gate), copy);
                }),
            }),
          );
          const movers = [0, 1].map((i) => {
            const m = run(k.createProcess({ name: `mover${i}`, node: 0 }));
            run(writeAdj(k, m, "-1000"));
            return m;
          });
          const mms = new Set<MmStruct>();
          const targets = sizes.map((n, i) => {
            const p = run(k.createProcess({ name: `t${i}`, node: 0 }));
            const addr = run(p.mmap(40 * PAGE));
            if (n) run(p.write(addr, pattern(n * PAGE, i + 1)));
            const shm = run(p.mmap(4 * PAGE, { flags: MAP_SHARED | MAP_ANONYMOUS }));
            if (i % 2) run(p.write(shm, pattern(4 * PAGE, 9)));
            mms.add(p.mm!);
            return { p, addr, shm };
          });
          const held: MmStruct[] = [];
          const drained: number[] = [];
          const relieve = () => {
            for (const pfn of drained.splice(0)) k.folioPut(k.folio(pfn));
          };
          const calls: {
            fiber: Fiber.Fiber<unknown, ErrnoError | SignalError>;
            target: Task;
            moves: boolean;
          }[] = [];
          await Effect.runPromise(
            Effect.gen(function* () {
              for (const o of ops) {
                switch (o.op) {
                  case "move":
                  case "migrate": {
                    const t = targets[o.target]!;
                    const mover = movers[o.mover]!;
                    const call =
                      o.op === "move"
                        ? mover.movePages(
                            t.p.pid,
                            [...pagesOf(t.addr, 40), ...pagesOf(t.shm, 4)],
                            Array(44).fill(o.node),
                            o.all ? MPOL_MF_MOVE_ALL : MPOL_MF_MOVE,
                          )
                        : mover.migratePagesSyscall(t.p.pid, 64, [1 - o.node], [o.node]);
                    calls.push({ fiber: yield* Effect.forkChild(call), target: t.p, moves: true });
                    break;
                  }
                  case "open":
                    if (gates.length)
                      yield* Deferred.succeed(
                        gates.splice(o.which % gates.length, 1)[0]!,
                        undefined,
                      );
                    break;
                  case "oom":
                    // With every target dead and its mm done with, nothing can be chosen and the
                    // kernel panics (System is deadlocked on memory): a test of its own.
                    if (targets.some((t) => !t.p.exited))
                      yield* outOfMemory(k, control(null, GFP_KERNEL));
                    break;
                  case "tick":
                    yield* TestClock.adjust(`${o.ms} millis`);
                    break;
                  case "exit": {
                    const t = targets[o.target]!;
                    if (t.p.exited) break;
                    // Killed inside a call of its own (a write), SIGKILL pending: the process
                    // is dying and makes no more calls.
                    if (t.p.sigkillPending) {
                      expect((yield* Effect.flip(t.p.exit())).errno).toBe("ESRCH");
                    } else yield* t.p.exit();
                    break;
                  }
                  case "write": {
                    // A write may wait for a page under migration, or for the reaper: a call
                    // of its own.
                    const t = targets[o.target]!;
                    const write = t.p.write(t.addr + o.page * PAGE, new Uint8Array([7]));
                    calls.push({
                      fiber: yield* Effect.forkChild(write),
                      target: t.p,
                      moves: false,
                    });
                    break;
                  }
                  case "hold": {
                    const mm = getTaskMm(targets[o.target]!.p);
                    if (mm) held.push(mm);
                    break;
                  }
                  case "put":
                    if (held.length) mmput(k, held.splice(o.which % held.length, 1)[0]!);
                    break;
                  case "drain":
                    drained.push(...drain(k));
                    break;
                  case "relieve":
                    relieve();
                    break;
                }
                yield* waitUntil(() => true);
                expectConsistent(k);
              }
              relieve();
              passAll = true;
              for (const gate of gates.splice(0)) yield* Deferred.succeed(gate, undefined);
              yield* TestClock.adjust(`${OOM_REAPER_DELAY} millis`);
              // Every call returns first: a process killed inside two calls of its own exits
              // when the last of them returns (get_signal()), not at the first one's ESRCH.
              const results: {
                c: (typeof calls)[number];
                result: Result.Result<unknown, ErrnoError | SignalError>;
              }[] = [];
              for (const c of calls)
                results.push({ c, result: yield* Effect.result(Fiber.join(c.fiber)) });
              for (const t of targets) if (t.p.sigkillPending) expect(t.p.exited).toBe(true);
              for (const { c, result } of results) {
                if (Result.isSuccess(result)) continue;
                const f = result.failure;
                const code = f._tag === "ErrnoError" ? f.errno : f.signal;
                // A call that began after its target's end finds no process (find_mm_struct());
                // migrate_pages() fails with -ENOMEM where no target folio can be had; a write
                // of a killed process never returns (ESRCH).
                if (code === "ESRCH" && c.target.exited) continue;
                if (code === "ENOMEM" && c.moves) continue;
                throw new Error(`a call failed: ${code}`);
              }
              for (const mm of held.splice(0)) mmput(k, mm);
              yield* TestClock.adjust(`${OOM_REAPER_DELAY} millis`);
              yield* waitUntil(() => k.oomReaper.victims.size === 0);
            }).pipe(Effect.provide(TestClock.layer())),
          );
          expectConsistent(k);
          for (const t of targets) if (!t.p.exited) run(t.p.exit());
          for (const m of movers) run(m.exit());
          // __mmput() ran once for each: mm_users exactly 0, no VMA left, MMF_OOM_SKIP set.
          for (const mm of mms) expect([mm.mmUsers, mm.mapCount, mm.oomSkip]).toEqual([0, 0, true]);
          expect(freePages(k)).toBe(free0);
          expectConsistent(k);
          await runP(k.shutdown());
        },
      ),
      { numRuns: 25 },
    );
  }, 120_000);
});

// oom_reap_task() (mm/oom_kill.c, Linux 6.16): oom_reap_task_mm() takes the victim's mmap_lock
// with mmap_read_trylock() (include/linux/mmap_lock.h) and, failing, emits skip_task_reaping
// (include/trace/events/oom.h); the thread tries MAX_OOM_REAP_RETRIES (10) times with
// schedule_timeout_idle(HZ/10) (100 ms) after each failure, so the tenth failure at 900 ms is
// followed by one more sleep and the give-up at 1000 ms: "oom_reaper: unable to reap pid", and
// MMF_OOM_SKIP set all the same. oom_init() (a subsys_initcall) starts the thread at boot.
describe("oom_reap_task()'s retries on the mmap_lock (mm/oom_kill.c, Linux 6.16)", () => {
  /**
   * `big` (200 private pages, its mm held as another task's call would hold it) and `next`
   * (100), on one node, with a fiber holding `big`'s mmap_lock for writing until `release`.
   */
  const heldForWrite = () => {
    const k = boot({ daemons: "on-demand", nodes: ["16M"] });
    const big = withPrivate(k, "big", 200, 11);
    const next = withPrivate(k, "next", 100, 12);
    const mm = getTaskMm(big.p)!;
    const events: TraceEvent[] = [];
    k.trace.subscribe((e) => {
      if (e.event.endsWith("_task_reaping")) events.push(e);
    });
    return { k, big, next, mm, events };
  };

  it("a writer holds it throughout: 10 tries 100 ms apart fail, and 1000 ms after the timer the reaper gives up unreaped, with MMF_OOM_SKIP; the OOM killer then moves on", async () => {
    expect([MAX_OOM_REAP_RETRIES, OOM_REAP_RETRY_DELAY]).toEqual([10, 100]); // 10, HZ/10
    const { k, big, next, mm, events } = heldForWrite();
    const release = Deferred.makeUnsafe<void>();
    await Effect.runPromise(
      Effect.gen(function* () {
        const writer = yield* Effect.forkChild(withMmapWriteLock(mm, Deferred.await(release)));
        yield* waitUntil(() => mm.mmapLock.writer);
        expect(yield* outOfMemory(k, control(null, GFP_KERNEL))).toBe(true);
        expect(big.p.exited).toBe(true);
        yield* TestClock.adjust(`${OOM_REAPER_DELAY} millis`);
        yield* waitUntil(() => events.length === 1); // the first try, at the timer's end
        for (let tries = 2; tries <= MAX_OOM_REAP_RETRIES; tries++) {
          yield* TestClock.adjust(`${OOM_REAP_RETRY_DELAY} millis`);
          yield* waitUntil(() => events.length === tries);
        }
        expect(events).toEqual(Array(10).fill({ event: "skip_task_reaping", pid: big.p.pid }));
        // The sleep after the tenth failure: nothing more until it ends.
        yield* TestClock.adjust(`${OOM_REAP_RETRY_DELAY - 1} millis`);
        yield* waitUntil(() => true);
        expect([mm.oomSkip, k.oomReaper.victims.has(big.p)]).toEqual([false, true]);
        expect(select(k)).toEqual({ aborted: true, chosen: null });
        yield* TestClock.adjust("1 millis");
        yield* waitUntil(() => mm.oomSkip);
        expect(events.length).toBe(10);
        expect(k.oomReaper.unableToReap).toEqual([`${big.p.pid} (big)`]);
        expect(k.oomReaper.victims.size).toBe(0);
        // Not reaped: its 200 pages are still mapped, but the OOM killer passes it over.
        expect(getMmRss(k, mm)).toBe(200);
        expect(select(k)).toEqual({ aborted: false, chosen: next.p });
        yield* Deferred.succeed(release, undefined);
        yield* Fiber.join(writer);
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expect(mm.mmapLock.writer).toBe(false);
    mmput(k, mm);
    expectConsistent(k);
    await runP(k.shutdown());
  });

  it("the writer lets go after the second failure: the third try, 200 ms after the timer, takes the lock and reaps", async () => {
    const { k, big, mm, events } = heldForWrite();
    const release = Deferred.makeUnsafe<void>();
    await Effect.runPromise(
      Effect.gen(function* () {
        const writer = yield* Effect.forkChild(withMmapWriteLock(mm, Deferred.await(release)));
        yield* waitUntil(() => mm.mmapLock.writer);
        expect(yield* outOfMemory(k, control(null, GFP_KERNEL))).toBe(true);
        yield* TestClock.adjust(`${OOM_REAPER_DELAY + OOM_REAP_RETRY_DELAY} millis`);
        yield* waitUntil(() => events.length === 2);
        yield* TestClock.adjust(`${OOM_REAP_RETRY_DELAY / 2} millis`);
        yield* Deferred.succeed(release, undefined);
        yield* Fiber.join(writer);
        yield* waitUntil(() => true);
        expect(mm.oomSkip).toBe(false); // asleep until the next try
        yield* TestClock.adjust(`${OOM_REAP_RETRY_DELAY / 2} millis`);
        yield* waitUntil(() => mm.oomSkip);
        const pid = big.p.pid;
        expect(events).toEqual([
          { event: "skip_task_reaping", pid },
          { event: "skip_task_reaping", pid },
          { event: "start_task_reaping", pid },
          { event: "finish_task_reaping", pid },
        ]);
        expect(getMmRss(k, mm)).toBe(0);
        expect(k.oomReaper.unableToReap).toEqual([]);
        // The reaper's read lock is given back.
        expect([mm.mmapLock.readers, mm.mmapLock.writer]).toEqual([0, false]);
      }).pipe(Effect.provide(TestClock.layer())),
    );
    mmput(k, mm);
    expectConsistent(k);
    await runP(k.shutdown());
  });

  it("the oom_reaper thread runs from boot (oom_init()), with daemons from boot or on demand, and shutdown stops it", async () => {
    for (const daemons of ["boot", "on-demand"] as const) {
      const k = boot({ daemons, nodes: ["16M"] });
      expect(k.oomReaper.running).toBe(true);
      await runP(k.shutdown());
      expect(k.oomReaper.running).toBe(false);
    }
  });
});
