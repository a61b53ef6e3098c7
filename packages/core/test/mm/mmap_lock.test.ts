// mm->mmap_lock (include/linux/mmap_lock.h, Linux 6.16) as the system calls take it: a fault
// holds it for reading (lock_mm_and_find_vma()) while it waits for a page under migration
// (migration_entry_wait()), so munmap()'s mmap_write_lock() waits until the fault is done, and a
// queued writer makes mmap_read_trylock() (the oom_reaper's) fail; move_pages(2) drops it after
// each look-up (add_page_for_migration(), mm/migrate.c), so its migration holds none, and
// __mm_populate() takes it only after mlock()'s write lock is gone (do_mlock(), mm/mlock.c).
import { Effect, Fiber } from "effect";
import { describe, expect, it } from "vitest";
import { mmapReadTrylock } from "../../src/index";
import { doSendSigkill } from "../../src/kernel/signal";
import {
  boot,
  expectBytes,
  expectConsistent,
  gatedMigrator,
  pagesOf,
  pattern,
  run,
  runP,
  waitUntil,
} from "../../src/testing/index";

const PAGE = 4096;

/** A process with 8 pages written on node 0, and another moving them to node 1, held at its copy. */
const heldMove = () => {
  const k = boot({ daemons: "on-demand", nodes: ["16M", "16M"] });
  const p = run(k.createProcess({ name: "owner", node: 0 }));
  const addr = run(p.mmap(8 * PAGE));
  run(p.write(addr, pattern(8 * PAGE, 31)));
  const mover = run(k.createProcess({ name: "mover", node: 0 }));
  const gated = gatedMigrator(k, null);
  run(k.migrateOffload.register(gated.migrator));
  return { k, p, addr, mover, gated, mm: p.mm! };
};

describe("mmap_lock around faults and system calls (Linux 6.16)", () => {
  it("munmap() waits while a fault holds the lock waiting for a page under migration, and mmap_read_trylock() fails meanwhile; the migration holds no lock", async () => {
    const { k, p, addr, mover, gated, mm } = heldMove();
    await Effect.runPromise(
      Effect.gen(function* () {
        const moving = yield* Effect.forkChild(
          mover.movePages(p.pid, pagesOf(addr, 8), Array(8).fill(1)),
        );
        yield* waitUntil(gated.copying);
        // move_pages() dropped the lock after its look-ups: nothing holds it.
        expect([mm.mmapLock.readers, mm.mmapLock.writer]).toEqual([0, false]);
        const reading = yield* Effect.forkChild(p.read(addr, PAGE));
        yield* waitUntil(() => p.migration.migrationEntryWaits === 1);
        expect(mm.mmapLock.readers).toBe(1);
        const unmapping = yield* Effect.forkChild(p.munmap(addr, 8 * PAGE));
        yield* waitUntil(() => mm.mmapLock.contended);
        // The writer waits: the VMA is still there, and a reader's trylock fails behind it.
        expect(mm.findVma(addr)).toBeDefined();
        expect(mmapReadTrylock(mm)).toBe(false);
        gated.open();
        expect((yield* Fiber.join(moving)).status).toEqual(new Int32Array(8).fill(1));
        expectBytes(yield* Fiber.join(reading), pattern(8 * PAGE, 31).subarray(0, PAGE));
        yield* Fiber.join(unmapping);
        expect(mm.findVma(addr)).toBeUndefined();
        expect([mm.mmapLock.readers, mm.mmapLock.writer, mm.mmapLock.contended]).toEqual([
          0,
          false,
          false,
        ]);
      }),
    );
    expectConsistent(k);
    await runP(k.shutdown());
  });

  // mmap_write_lock_killable() (__vm_munmap(), mm/mmap.c, Linux 6.16): SIGKILL wakes the
  // sleeper, which gives up with -EINTR; the task dies at the call's return (ESRCH in the model)
  // while the fault that holds the lock still waits. A non-killable sleeper would wait on.
  it("SIGKILL ends munmap()'s killable sleep for the write lock at once: the VMA stays, the lock is left to the fault that holds it", async () => {
    const { k, p, addr, mover, gated, mm } = heldMove();
    await Effect.runPromise(
      Effect.gen(function* () {
        const moving = yield* Effect.forkChild(
          mover.movePages(p.pid, pagesOf(addr, 8), Array(8).fill(1)),
        );
        yield* waitUntil(gated.copying);
        const reading = yield* Effect.forkChild(Effect.result(p.read(addr, PAGE)));
        yield* waitUntil(() => p.migration.migrationEntryWaits === 1);
        const unmapping = yield* Effect.forkChild(Effect.result(p.munmap(addr, 8 * PAGE)));
        yield* waitUntil(() => mm.mmapLock.contended);
        expect(p.wakeKillable).not.toBeNull();
        doSendSigkill(k, p);
        const unmapped = yield* Fiber.join(unmapping);
        // Woken and off the wait list before the fault let go: the VMA was never unmapped.
        expect(unmapped._tag).toBe("Failure");
        expect(mm.mmapLock.contended).toBe(false);
        expect(mm.mmapLock.readers).toBe(1);
        expect(mm.findVma(addr)).toBeDefined();
        expect(p.wakeKillable).toBeNull();
        gated.open();
        expect((yield* Fiber.join(moving)).status).toEqual(new Int32Array(8).fill(1));
        yield* Fiber.join(reading);
        expect(p.exited).toBe(true);
      }),
    );
    expectConsistent(k);
    await runP(k.shutdown());
  });

  it("a task with SIGKILL pending does not sleep for the lock in a killable take (down_write_killable()): EINTR at once", async () => {
    const { k, p, mm } = heldMove();
    expect(mm.mmapLock.tryRead()).toBe(true);
    const task = { sigkillPending: true, wakeKillable: null };
    const got = await Effect.runPromise(Effect.result(mm.mmapLock.lockKillable(true, task)));
    expect(got._tag).toBe("Failure");
    if (got._tag === "Failure") expect(got.failure.errno).toBe("EINTR");
    expect(mm.mmapLock.contended).toBe(false);
    // Without the signal the same take sleeps until the reader lets go.
    const sleeper = { sigkillPending: false, wakeKillable: null as (() => void) | null };
    const fiber = Effect.runFork(mm.mmapLock.lockKillable(true, sleeper));
    await runP(waitUntil(() => mm.mmapLock.contended));
    mm.mmapLock.releaseRead();
    await Effect.runPromise(Fiber.join(fiber));
    expect(mm.mmapLock.writer).toBe(true);
    mm.mmapLock.releaseWrite();
    expect(p.exited).toBe(false);
    await runP(k.shutdown());
  });

  it("mlock()'s populate faults under the read lock after the write lock is gone: a page under migration is waited for, with no deadlock", async () => {
    const { k, p, addr, mover, gated, mm } = heldMove();
    await Effect.runPromise(
      Effect.gen(function* () {
        const moving = yield* Effect.forkChild(
          mover.movePages(p.pid, pagesOf(addr, 8), Array(8).fill(1)),
        );
        yield* waitUntil(gated.copying);
        const locking = yield* Effect.forkChild(p.mlock(addr, 8 * PAGE));
        yield* waitUntil(() => p.migration.migrationEntryWaits === 1);
        expect([mm.mmapLock.readers, mm.mmapLock.writer]).toEqual([1, false]);
        gated.open();
        yield* Fiber.join(moving);
        yield* Fiber.join(locking);
        expect([mm.mmapLock.readers, mm.mmapLock.writer]).toEqual([0, false]);
        expect(yield* p.nodeOf(addr)).toBe(1);
      }),
    );
    expectConsistent(k);
    await runP(k.shutdown());
  });
});
