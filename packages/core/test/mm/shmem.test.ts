// shmem_evict_inode() (mm/shmem.c, Linux 6.16): the last fput() of a shmem object, which the
// munmap() or exit that removes its last mapping queues for the return to user mode (fput():
// task_work_add(), fs/file_table.c; do_exit() runs exit_task_work() after exit_mm()), drops its
// page cache with shmem_undo_range(): the folios that lock at once first (find_lock_entries()),
// then each one left, referenced, after folio_lock() (find_get_entries()). The call returns once
// every folio is gone. fput() queues on current (task_work_add(current, ..., TWA_RESUME)), so the
// release runs in the task that dropped the last mapping, at its return to user mode
// (resume_user_mode_work(), kernel/entry/common.c) or exit (exit_task_work(), kernel/exit.c); no
// other task runs or waits for it. Without a task, for a kernel thread (PF_KTHREAD), or after
// exit_task_work(), fput() hands it to a kworker (delayed_fput(), fs/file_table.c).
import { Deferred, Effect, Fiber } from "effect";
import { describe, expect, it } from "vitest";
import type { AddressSpace } from "../../src/include/mm_types";
import { type Kernel, MAP_ANONYMOUS, MAP_SHARED, PF_KTHREAD, PG_locked } from "../../src/index";
import { getTaskMm, mmput } from "../../src/kernel/fork";
import { taskWorkAdd, taskWorkRun } from "../../src/kernel/task_work";
import { folioTrylock, folioUnlock } from "../../src/mm/filemap";
import { boot, expectConsistent, gatedMigrator, pattern, run, runP } from "../../src/testing/index";

const PAGE = 4096;

const settle = async () => {
  for (let i = 0; i < 5; i++) await runP(Effect.yieldNow);
};

/** Two written pages of a shared anonymous mapping of a process on node 0 of two nodes. */
const shmemPages = () => {
  const k = boot({ nodes: ["16M", "16M"] });
  const p = run(k.createProcess({ node: 0 }));
  const free = k.pageAlloc.totalFreePages();
  const addr = run(p.mmap(2 * PAGE, { flags: MAP_SHARED | MAP_ANONYMOUS }));
  run(p.write(addr, pattern(2 * PAGE, 5)));
  const mapping = p.mm!.findVma(addr)!.mapping!;
  const [src, other] = [0, 1].map((i) => mapping.pages.get(i)!);
  return { k, p, free, addr, mapping, src: src!, other: other! };
};

/**
 * The eviction mid-way: the other folio dropped and freed, `src` still cached in the object, which
 * is still live, and the eviction asleep in folio_lock() on it.
 */
const expectEvictionWaiting = (
  k: Kernel,
  mapping: AddressSpace,
  src: number,
  other: number,
): void => {
  expect(mapping.pages.has(1)).toBe(false);
  expect(k.memmap.refcount[other]).toBe(0);
  expect(mapping.pages.get(0)).toBe(src);
  expect(k.addressSpaces.get(mapping.id)).toBe(mapping);
  expect(k.folioWaiters.waiting(src)).toBe(1);
};

describe("shmem_evict_inode(): the last mapping's munmap() or exit", () => {
  // A migration holds the folio mid-copy; the munmap() of the last mapping drops the other folio
  // at once and sleeps in folio_lock() on this one with a reference, so the move fails with
  // -EAGAIN (__migrate_folio()) until the migration gives the folio back (migrate_folios_undo());
  // the unlock hands the lock to the eviction, which drops it, and the migration's synchronous
  // retry finds only its own reference ("Folio was freed from under us"): move_pages() reports
  // node 1, pgmigrate_success 1. munmap() returns once the object is gone.
  it("munmap() waits for the lock of a folio a migration holds mid-copy, then drops it; the migration finds it freed", async () => {
    const { k, p, free, addr, mapping, src, other } = shmemPages();
    const gated = gatedMigrator(k, run(k.loadModule({ name: "gated" })));
    run(k.migrateOffload.register(gated.migrator));
    const moved = Effect.runFork(p.movePages(0, [addr], [1]));
    while (!gated.copying()) await runP(Effect.yieldNow);
    expect(k.memmap.test(src, PG_locked)).toBe(true);
    const unmapped = Effect.runFork(p.munmap(addr, 2 * PAGE));
    await settle();
    // The unlocked folio went at once; the locked one is waited for, referenced, in folio_lock().
    expect(unmapped.pollUnsafe()).toBeUndefined();
    expect(p.mm!.findVma(addr)).toBeUndefined();
    expectEvictionWaiting(k, mapping, src, other);
    // The page cache's reference, the migration's isolation and the eviction's.
    expect(k.memmap.refcount[src]).toBe(3);
    gated.open();
    await runP(Fiber.join(unmapped));
    const r = await runP(Fiber.join(moved));
    expect(r.rc).toBe(0);
    expect([...r.status]).toEqual([1]);
    expect(k.vmstat.get("pgmigrate_success")).toBe(1);
    expect(k.vmstat.get("pgmigrate_fail")).toBe(0);
    expect(mapping.pages.size).toBe(0);
    expect(k.addressSpaces.has(mapping.id)).toBe(false);
    expect(k.memmap.refcount[src]).toBe(0);
    expect(k.memmap.test(src, PG_locked)).toBe(false);
    expect(k.folioWaiters.waiting(src)).toBe(0);
    expect(p.taskWorks).toEqual([]);
    run(k.migrateOffload.unregister(gated.migrator));
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    expectConsistent(k);
  });

  // do_exit(): exit_mm() tears the address space down (the last mmput(), exit_mmap()), and
  // exit_task_work() then runs the object's release, which sleeps in folio_lock() until the
  // folio's holder unlocks it.
  it("exit() of the last user waits for a locked folio, then the object is gone", async () => {
    const { k, p, free, mapping, src, other } = shmemPages();
    // Another task holds the folio locked (as a memory failure handling it would).
    expect(folioTrylock(k, src)).toBe(true);
    const exited = Effect.runFork(p.exit());
    await settle();
    expect(exited.pollUnsafe()).toBeUndefined();
    expect(p.mm).toBeNull();
    expectEvictionWaiting(k, mapping, src, other);
    // The page cache's reference and the eviction's.
    expect(k.memmap.refcount[src]).toBe(2);
    folioUnlock(k, src);
    await runP(Fiber.join(exited));
    expect(mapping.pages.size).toBe(0);
    expect(k.addressSpaces.has(mapping.id)).toBe(false);
    expect(k.memmap.refcount[src]).toBe(0);
    expect(k.memmap.test(src, PG_locked)).toBe(false);
    // exit_task_work() ran: the queue is closed (work_exited).
    expect(p.taskWorks).toBeNull();
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    expectConsistent(k);
  });

  it("munmap() of the last mapping with nothing locked drops the object before it returns, queueing nothing", () => {
    const { k, p, free, addr, mapping } = shmemPages();
    run(p.munmap(addr, 2 * PAGE));
    expect(mapping.pages.size).toBe(0);
    expect(k.addressSpaces.has(mapping.id)).toBe(false);
    expect(p.taskWorks).toEqual([]);
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    expectConsistent(k);
  });

  // task_work_add(current, ...): the release is queued on the task that unmapped, so another
  // task's system call neither runs it nor waits for it (Linux 6.16 fput(), task_work_run()).
  it("another task's call returns at once while the munmap() of the last mapping waits for a migration's folio", async () => {
    const { k, p, free, addr, mapping, src, other } = shmemPages();
    const q = run(k.createProcess({ node: 0 }));
    const qAddr = run(q.mmap(PAGE));
    const gated = gatedMigrator(k, run(k.loadModule({ name: "gated" })));
    run(k.migrateOffload.register(gated.migrator));
    const moved = Effect.runFork(p.movePages(0, [addr], [1]));
    while (!gated.copying()) await runP(Effect.yieldNow);
    const unmapped = Effect.runFork(p.munmap(addr, 2 * PAGE));
    await settle();
    expect(unmapped.pollUnsafe()).toBeUndefined();
    expectEvictionWaiting(k, mapping, src, other);
    // The other task's calls run to their end synchronously: nothing of p's is run in them.
    run(q.write(qAddr, pattern(PAGE, 9)));
    expect(run(q.read(qAddr, PAGE))).toEqual(pattern(PAGE, 9));
    run(q.munmap(qAddr, PAGE));
    expect(q.taskWorks).toEqual([]);
    // p's release still waits on the folio, the object still lives.
    expect(unmapped.pollUnsafe()).toBeUndefined();
    expectEvictionWaiting(k, mapping, src, other);
    gated.open();
    await runP(Fiber.join(unmapped));
    expect((await runP(Fiber.join(moved))).rc).toBe(0);
    expect(k.addressSpaces.has(mapping.id)).toBe(false);
    expect(p.taskWorks).toEqual([]);
    run(k.migrateOffload.unregister(gated.migrator));
    run(q.exit());
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    expectConsistent(k);
  });

  // fput() without a task to queue on (a kernel-internal mmput(), current null): delayed_fput()
  // in a kworker, which no call waits for.
  it("an mmput() without a task tears the mm down at once; the release waits for the folio in a worker of its own", async () => {
    const { k, p, free, mapping, src, other } = shmemPages();
    const mm = getTaskMm(p)!;
    run(p.exit());
    expect(mm.mmUsers).toBe(1);
    expect(folioTrylock(k, src)).toBe(true);
    mmput(k, mm);
    expect(mm.vmas.length).toBe(0);
    await settle();
    expectEvictionWaiting(k, mapping, src, other);
    folioUnlock(k, src);
    await settle();
    expect(k.addressSpaces.has(mapping.id)).toBe(false);
    expect(k.memmap.refcount[src]).toBe(0);
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    expectConsistent(k);
  });

  // delayed_fput() runs on system_wq (kernel/workqueue.c): power-off flushes it
  // (flush_workqueue()) before the memory goes, so the release never touches a memory map the
  // kernel has released; it waits in folio_lock() uninterruptibly, and shutdown with it.
  it("shutdown waits for a delayed_fput() release asleep in folio_lock(), then finishes", async () => {
    const { k, p, mapping, src } = shmemPages();
    const mm = getTaskMm(p)!;
    run(p.exit());
    expect(folioTrylock(k, src)).toBe(true);
    mmput(k, mm);
    await settle();
    expect(k.systemWq.pending()).toEqual(["delayed_fput"]);
    const down = Effect.runFork(k.shutdown());
    await settle();
    expect(down.pollUnsafe()).toBeUndefined();
    expect(k.state).toBe("stopping");
    expect(k.folioWaiters.waiting(src)).toBe(1);
    folioUnlock(k, src);
    await runP(Fiber.join(down));
    expect(k.state).toBe("down");
    expect(k.systemWq.pending()).toEqual([]);
    expect(mapping.pages.size).toBe(0);
  });

  // fput() (fs/file_table.c, Linux 6.16) queues with task_work_add() only when current lacks
  // PF_KTHREAD: a kernel thread (kthread_create(), kernel/kthread.c) never returns to user mode,
  // so its release goes to delayed_fput(). Here a kernel thread's move_pages() holds the mm of a
  // process that exits mid-copy; its mmput() drops the last reference (exit_mmap()), and the
  // shmem release, waiting in folio_lock() for a folio another task holds, runs in the worker.
  it("a kernel thread's move_pages() that drops the last mm returns at once; the release waits in delayed_fput()", async () => {
    const { k, p, free, addr, mapping, other } = shmemPages();
    const kthread = run(k.createKernelThread("kworker"));
    expect(kthread.flags & PF_KTHREAD).toBe(PF_KTHREAD);
    const gated = gatedMigrator(k, run(k.loadModule({ name: "gated" })));
    run(k.migrateOffload.register(gated.migrator));
    // Another task holds the second folio locked (as a memory failure handling it would).
    expect(folioTrylock(k, other)).toBe(true);
    const moved = Effect.runFork(kthread.movePages(p.pid, [addr], [1]));
    while (!gated.copying()) await runP(Effect.yieldNow);
    const mm = p.mm!;
    run(p.exit());
    // move_pages() holds the last reference (get_task_mm()): the address space is still up.
    expect(mm.mmUsers).toBe(1);
    expect(k.addressSpaces.get(mapping.id)).toBe(mapping);
    gated.open();
    // move_pages() ends with mmput(), the last: exit_mmap() queues the release as it must.
    while (mm.mmUsers > 0) await runP(Effect.yieldNow);
    await settle();
    // The call returned while the other folio is still locked (it did not wait for the release).
    expect(moved.pollUnsafe()).toBeDefined();
    const r = await runP(Fiber.join(moved));
    expect(r.rc).toBe(0);
    expect([...r.status]).toEqual([1]);
    // It returned with the mm torn down, nothing queued on the thread, and the release
    // asleep in folio_lock() on the locked folio in a worker of its own.
    expect(mm.mmUsers).toBe(0);
    expect(mm.vmas.length).toBe(0);
    expect(kthread.taskWorks).toEqual([]);
    await settle();
    expect(mapping.pages.has(0)).toBe(false);
    expect(mapping.pages.get(1)).toBe(other);
    expect(k.addressSpaces.get(mapping.id)).toBe(mapping);
    expect(k.folioWaiters.waiting(other)).toBe(1);
    folioUnlock(k, other);
    await settle();
    expect(mapping.pages.size).toBe(0);
    expect(k.addressSpaces.has(mapping.id)).toBe(false);
    expect(k.memmap.refcount[other]).toBe(0);
    expect(k.memmap.test(other, PG_locked)).toBe(false);
    run(k.migrateOffload.unregister(gated.migrator));
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    expectConsistent(k);
  });

  // exit_task_work() closes the queue (work_exited): task_work_add() fails with -ESRCH.
  it("no work is queued on a task after its exit", () => {
    const { p } = shmemPages();
    run(p.exit());
    expect(p.taskWorks).toBeNull();
    expect(taskWorkAdd(p, Effect.void)).toBe(false);
  });

  // task_work_run() (kernel/task_work.c) is run by the task alone, so one run takes the queue at a
  // time. Here a run already in progress (as the OOM killer's exit forks one) sleeps in a work it
  // took; the exit's exit_task_work() waits for it instead of finding the queue empty and closing
  // it, and the exit returns only after that work ends.
  it("a second task_work_run() waits for the run in progress before the queue closes", async () => {
    const { p } = shmemPages();
    const gate = Deferred.makeUnsafe<void>();
    const ran: string[] = [];
    expect(
      taskWorkAdd(
        p,
        Effect.andThen(
          Deferred.await(gate),
          Effect.sync(() => ran.push("W")),
        ),
      ),
    ).toBe(true);
    const first = Effect.runFork(taskWorkRun(p));
    await settle();
    expect(p.taskWorkActive).not.toBeNull();
    const exited = Effect.runFork(p.exit());
    await settle();
    expect(exited.pollUnsafe()).toBeUndefined();
    expect(p.taskWorks).toEqual([]);
    Deferred.doneUnsafe(gate, Effect.void);
    await runP(Fiber.join(exited));
    await runP(Fiber.join(first));
    expect(ran).toEqual(["W"]);
    expect(p.taskWorks).toBeNull();
    expect(p.taskWorkActive).toBeNull();
  });

  // task_work_run() runs current's queue only (resume_user_mode_work(), kernel/entry/common.c).
  it("a task's queued work runs at the return of that task's next call, never of another task's or a kernel-internal call", () => {
    const { k, p } = shmemPages();
    const q = run(k.createProcess({ node: 0 }));
    const ran: string[] = [];
    const work = Effect.sync(() => {
      ran.push("p's work");
    });
    expect(taskWorkAdd(p, work)).toBe(true);
    run(q.getMempolicy(0));
    run(k.fs.read("/proc/vmstat"));
    expect(ran).toEqual([]);
    expect(p.taskWorks).toHaveLength(1);
    run(p.getMempolicy(0));
    expect(ran).toEqual(["p's work"]);
    expect(p.taskWorks).toEqual([]);
  });
});
