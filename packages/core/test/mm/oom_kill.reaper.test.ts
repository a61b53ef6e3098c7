// An OOM victim whose address space another task's move_pages(2) or migrate_pages(2) holds
// (Linux 6.16): find_mm_struct() / kernel_migrate_pages() take it with get_task_mm()
// (kernel/fork.c), the victim's exit_mm() (kernel/exit.c) drops only its own reference, so
// exit_mmap() (mm/mmap.c) runs at the caller's mmput(); meanwhile select_bad_process() aborts on
// the victim (oom_evaluate_task(): tsk_is_oom_victim() without MMF_OOM_SKIP), and the oom_reaper
// (mm/oom_kill.c) reaps the victim's private memory OOM_REAPER_DELAY (2 * HZ) after the kill
// (queue_oom_reaper(), wake_oom_reaper(), oom_reap_task(), __oom_reap_task_mm()), after which
// move_pages() reports -ENOENT for the reaped pages (folio_walk_start() finds no page).
import { Deferred, Effect, Fiber } from "effect";
import { TestClock } from "effect/testing";
import { describe, expect, it } from "vitest";
import {
  ERRNO,
  GFP_KERNEL,
  getMmRss,
  getTaskMm,
  type Kernel,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  type Migrator,
  type MmStruct,
  migrateFoliosMcCopy,
  mmput,
  OOM_REAPER_DELAY,
  OomConstraint,
  type OomControl,
  outOfMemory,
  ptePresent,
  selectBadProcess,
  type Task,
} from "../../src/index";
import {
  boot,
  expectBytes,
  expectConsistent,
  pagesOf,
  pattern,
  run,
  runP,
  waitUntil,
} from "../../src/testing/index";

const PAGE = 4096;

/** Every free page of the machine. */
const freePages = (k: Kernel): number =>
  k.pageAlloc.zones.reduce((sum, z) => sum + k.pageAlloc.nodeFreePages(z.nid), 0);

/** Takes every page kernel allocations may have on every node; returns them for freeing. */
const drain = (k: Kernel): number[] => {
  const taken: number[] = [];
  for (;;) {
    const pfn = k.pageAlloc.allocPages(0, 0, GFP_KERNEL);
    if (pfn < 0) return taken;
    taken.push(pfn);
  }
};

/** The oom_control of an order-0 allocation with no node mask. */
const control = (): OomControl => ({
  nodemask: null,
  gfpMask: GFP_KERNEL,
  order: 0,
  totalpages: 0,
  constraint: OomConstraint.NONE,
  chosen: null,
  chosenPoints: 0,
});

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

const writeAdj = (k: Kernel, target: Task, text: string) =>
  run(k.fs.write(`/proc/${target.pid}/oom_score_adj`, text, null));

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
    const oc = control();
    oc.totalpages = 4096;
    expect(selectBadProcess(k, oc)).toBe(false);
    expect(oc.chosen).toBe(big.p);
    expect(run(outOfMemory(k, control()))).toBe(true);
    expect(big.p.exited).toBe(true);
    expect(big.p.oomMm).toBe(mm);
    expect(k.oomReaper.victims.has(big.p)).toBe(true);
    // The victim holds its 200 pages (another holder keeps its mm): the scan aborts.
    const again = control();
    again.totalpages = 4096;
    expect(selectBadProcess(k, again)).toBe(true);
    expect(again.chosen).toBeNull();
    expect(run(outOfMemory(k, control()))).toBe(true);
    expect(next.p.exited).toBe(false);
    expect(k.vmstat.get("oom_kill")).toBe(1);
    // The holder's mmput() runs exit_mmap(), which sets MMF_OOM_SKIP: the victim is passed over,
    // and the next process is chosen.
    mmput(k, mm);
    expect(mm.oomSkip).toBe(true);
    const third = control();
    third.totalpages = 4096;
    expect(selectBadProcess(k, third)).toBe(false);
    expect(third.chosen).toBe(next.p);
    expect(run(outOfMemory(k, control()))).toBe(true);
    expect(next.p.exited).toBe(true);
    expect(k.vmstat.get("oom_kill")).toBe(2);
    expectConsistent(k);
    await runP(k.shutdown());
  });

  it("a victim whose mm nothing else holds is torn down in the kill, and arms no reaper timer", () => {
    const k = boot({ nodes: ["16M"] });
    const big = withPrivate(k, "big", 200, 4);
    const mm = big.p.mm!;
    expect(run(outOfMemory(k, control()))).toBe(true);
    expect([mm.mmUsers, mm.oomSkip, mm.oomReapQueued]).toEqual([0, true, true]);
    expect(k.oomReaper.victims.size).toBe(0);
  });
});

describe("the oom_reaper (mm/oom_kill.c, Linux 6.16)", () => {
  it("move_pages() holds the victim's mm mid-batch: the fault that killed it retries without a second kill until the reaper, OOM_REAPER_DELAY later, reaps the private pages, which then report -ENOENT; shared pages still move", async () => {
    expect(OOM_REAPER_DELAY).toBe(2000); // 2 * HZ
    const k = boot({ nodes: ["16M", "16M"] });
    const free0 = freePages(k);
    const big = withPrivate(k, "big", 64, 5);
    const shared = run(big.p.mmap(8 * PAGE, { flags: MAP_SHARED | MAP_ANONYMOUS }));
    run(big.p.write(shared, pattern(8 * PAGE, 6)));
    const small = withPrivate(k, "small", 4, 7);
    const mover = run(k.createProcess({ name: "mover", node: 0 }));
    writeAdj(k, mover, "-1000");
    writeAdj(k, small.p, "-1000");
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
    writeAdj(k, mover, "-1000");
    const mm = big.p.mm!;
    const gate = Deferred.makeUnsafe<void>();
    const reached = { n: 0 };
    run(k.migrateOffload.register(gatedMigrator(k, gate, reached)));
    await Effect.runPromise(
      Effect.gen(function* () {
        const moving = yield* Effect.forkChild(mover.migratePagesSyscall(big.p.pid, 64, [0], [1]));
        yield* waitUntil(() => reached.n === 1);
        expect(mm.mmUsers).toBe(2);
        expect(yield* outOfMemory(k, control())).toBe(true);
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
        expect(yield* outOfMemory(k, control())).toBe(true);
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
