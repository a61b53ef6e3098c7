// struct rw_semaphore (include/linux/rwsem.h, kernel/locking/rwsem.c, Linux 6.16) as mm->mmap_lock
// uses it (include/linux/mmap_lock.h): readers share it, a writer has it alone, a sleeper queued
// keeps the trylocks and new readers out (RWSEM_FLAG_WAITERS), and a release hands it to the
// writer at the head of the wait list, or, when a reader is at the head, to every queued reader
// (rwsem_mark_wake(), at most MAX_READERS_WAKEUP).
import { Deferred, Effect, Fiber } from "effect";
import { describe, expect, it } from "vitest";
import {
  MAX_READERS_WAKEUP,
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

  it("a release that finds a reader first wakes every queued reader, skipping the writers between (rwsem_mark_wake())", async () => {
    const sem = new RwSemaphore();
    const order: string[] = [];
    expect(sem.tryWrite()).toBe(true);
    const take = (name: string, write: boolean) =>
      Effect.forkChild(
        Effect.andThen(
          write ? sem.write() : sem.read(),
          Effect.sync(() => order.push(name)),
        ),
      );
    await Effect.runPromise(
      Effect.gen(function* () {
        // Queue R1, W2, R3, W4, R5 behind the writer that holds it.
        const fibers = [];
        for (const [name, write] of [
          ["R1", false],
          ["W2", true],
          ["R3", false],
          ["W4", true],
          ["R5", false],
        ] as const) {
          fibers.push(yield* take(name, write));
          const queued = fibers.length;
          yield* waitUntil(() => sem.nrWaiting === queued);
        }
        sem.releaseWrite();
        yield* waitUntil(() => order.length === 3);
        // Linux 6.16 wakes R1, R3 and R5 together; W2 and W4 keep their places.
        expect(order).toEqual(["R1", "R3", "R5"]);
        expect([sem.readers, sem.writer]).toEqual([3, false]);
        sem.releaseRead();
        sem.releaseRead();
        sem.releaseRead();
        yield* waitUntil(() => order.length === 4);
        expect(order[3]).toBe("W2");
        sem.releaseWrite();
        yield* waitUntil(() => order.length === 5);
        expect(order[4]).toBe("W4");
        sem.releaseWrite();
        for (const f of fibers) yield* Fiber.join(f);
        expect([sem.readers, sem.writer, sem.contended]).toEqual([0, false, false]);
      }),
    );
  });

  it("wakes at most MAX_READERS_WAKEUP (256) readers at once", async () => {
    const sem = new RwSemaphore();
    expect(sem.tryWrite()).toBe(true);
    await Effect.runPromise(
      Effect.gen(function* () {
        const fibers = [];
        for (let i = 0; i < MAX_READERS_WAKEUP + 4; i++)
          fibers.push(yield* Effect.forkChild(sem.read()));
        yield* waitUntil(() => sem.nrWaiting === MAX_READERS_WAKEUP + 4);
        sem.releaseWrite();
        expect(sem.readers).toBe(256);
        expect(sem.contended).toBe(true);
        for (let i = 0; i < 256; i++) sem.releaseRead();
        expect(sem.readers).toBe(4);
        for (const f of fibers) yield* Fiber.join(f);
        for (let i = 0; i < 4; i++) sem.releaseRead();
        expect([sem.readers, sem.contended]).toEqual([0, false]);
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
