// struct rw_semaphore (include/linux/rwsem.h, kernel/locking/rwsem.c, Linux 6.16) as mm->mmap_lock
// uses it (include/linux/mmap_lock.h): readers share it, a writer has it alone, a sleeper queued
// keeps the trylocks and new readers out (RWSEM_FLAG_WAITERS), and a release hands it to the
// writer, or the readers, at the head of the wait list.
import { Deferred, Effect, Fiber } from "effect";
import { describe, expect, it } from "vitest";
import {
  mmapReadLocked,
  mmapReadTrylock,
  mmapReadUnlock,
  RwSemaphore,
  withMmapReadLock,
  withMmapWriteLock,
} from "../../src/index";
import { boot, run, runP, waitUntil } from "../../src/testing/index";

describe("RwSemaphore (struct rw_semaphore, Linux 6.16)", () => {
  it("readers share it; a writer excludes readers and writers; the trylocks say so", () => {
    const sem = new RwSemaphore();
    expect([sem.tryRead(), sem.tryRead(), sem.readers]).toEqual([true, true, 2]);
    expect(sem.tryWrite()).toBe(false);
    sem.releaseRead();
    sem.releaseRead();
    expect(sem.tryWrite()).toBe(true);
    expect([sem.tryRead(), sem.tryWrite()]).toEqual([false, false]);
    sem.releaseWrite();
    expect([sem.readers, sem.writer, sem.contended]).toEqual([0, false, false]);
  });

  it("a queued writer keeps new readers and down_read_trylock() out; the release hands it over in order", async () => {
    const sem = new RwSemaphore();
    const order: string[] = [];
    expect(sem.tryRead()).toBe(true);
    await Effect.runPromise(
      Effect.gen(function* () {
        const writer = yield* Effect.forkChild(
          Effect.andThen(
            sem.write(),
            Effect.sync(() => order.push("writer")),
          ),
        );
        yield* waitUntil(() => sem.contended);
        // RWSEM_FLAG_WAITERS: the trylock fails although only a reader holds it.
        expect(sem.tryRead()).toBe(false);
        const reader = yield* Effect.forkChild(
          Effect.andThen(
            sem.read(),
            Effect.sync(() => order.push("reader")),
          ),
        );
        yield* waitUntil(() => true);
        expect(order).toEqual([]);
        sem.releaseRead(); // the last reader: the writer at the head gets it
        yield* waitUntil(() => order.length === 1);
        expect([sem.writer, sem.readers]).toEqual([true, 0]);
        sem.releaseWrite(); // then the reader behind it
        yield* Fiber.join(writer);
        yield* Fiber.join(reader);
        expect(order).toEqual(["writer", "reader"]);
        expect([sem.writer, sem.readers, sem.contended]).toEqual([false, 1, false]);
        sem.releaseRead();
      }),
    );
  });

  it("an interrupted sleeper leaves the list, and the readers it held back get in", async () => {
    const sem = new RwSemaphore();
    expect(sem.tryRead()).toBe(true);
    await Effect.runPromise(
      Effect.gen(function* () {
        const writer = yield* Effect.forkChild(sem.write());
        yield* waitUntil(() => sem.contended);
        const reader = yield* Effect.forkChild(sem.read());
        yield* waitUntil(() => true);
        yield* Fiber.interrupt(writer);
        yield* Fiber.join(reader);
        expect([sem.readers, sem.writer, sem.contended]).toEqual([2, false, false]);
      }),
    );
  });
});

describe("mmap_lock (include/linux/mmap_lock.h, Linux 6.16)", () => {
  it("withMmapWriteLock() holds it for writing across a yield; mmap_read_trylock() fails meanwhile and a reader waits", async () => {
    const k = boot({ daemons: "on-demand", nodes: ["16M"] });
    const mm = run(k.createProcess()).mm!;
    await Effect.runPromise(
      Effect.gen(function* () {
        const gate = Deferred.makeUnsafe<void>();
        const writer = yield* Effect.forkChild(withMmapWriteLock(mm, Deferred.await(gate)));
        yield* waitUntil(() => mm.mmapLock.writer);
        expect(mmapReadTrylock(mm)).toBe(false);
        const read = yield* Effect.forkChild(mmapReadLocked(mm, () => mm.mmapLock.readers));
        yield* waitUntil(() => true);
        expect(read.pollUnsafe()).toBeUndefined();
        yield* Deferred.succeed(gate, undefined);
        yield* Fiber.join(writer);
        expect(yield* Fiber.join(read)).toBe(1);
        expect(
          yield* withMmapReadLock(
            mm,
            Effect.sync(() => mmapReadTrylock(mm)),
          ),
        ).toBe(true);
        mmapReadUnlock(mm);
        expect([mm.mmapLock.readers, mm.mmapLock.writer]).toEqual([0, false]);
      }),
    );
    await runP(k.shutdown());
  });
});
