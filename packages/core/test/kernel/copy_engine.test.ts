import { Effect, Fiber } from "effect";
import { TestClock } from "effect/testing";
import { afterEach, describe, expect, it } from "vitest";
import { CopyEngine, Kernel } from "../../src/index";
import {
  boot,
  collectGarbage,
  drainIdleCopyWorkers,
  expectBytes,
  idleCopyWorkers,
  liveCopyWorkers,
  pattern,
  run,
} from "../../src/testing/index";

const engines: CopyEngine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await Effect.runPromise(e.terminate());
});

const setup = (threads: number, options = {}) => {
  const k = boot();
  const engine = new CopyEngine(k, { threads, ...options });
  engines.push(engine);
  const src = run(k.allocFolio(0, 4));
  const dst = run(k.allocFolio(1, 4));
  src.bytes().set(pattern(src.size, 41));
  return { k, engine, src, dst };
};

const copyInChunks = (
  engine: CopyEngine,
  src: number,
  dst: number,
  bytes: number,
  chunks: number,
) => {
  engine.begin(chunks);
  const size = bytes / chunks;
  for (let i = 0; i < chunks; i++)
    expect(engine.push(i % engine.threads, src, dst, i * size, size, i)).toBe(true);
  return engine.run();
};

describe("CopyEngine: worker threads over the shared node buffers", () => {
  it("copies between node buffers on several workers, in chunks, byte for byte", async () => {
    const { engine, src, dst } = setup(3);
    await Effect.runPromise(copyInChunks(engine, src.pfn, dst.pfn, src.size, 6));
    for (let t = 0; t < 6; t++) expect(engine.tagFailed(t)).toBe(false);
    expectBytes(dst.bytes(), src.bytes());
    // Reused: a second job on the same workers.
    src.bytes().fill(9);
    await Effect.runPromise(copyInChunks(engine, src.pfn, dst.pfn, src.size, 4));
    expect(dst.bytes().every((b) => b === 9)).toBe(true);
    expect(engine.spawned).toBe(3);
  });

  it("fails the chunk that reads a poisoned page, and copies the others", async () => {
    const { k, engine, src, dst } = setup(2);
    run(k.injectMemoryError(src.pfn + 5));
    await Effect.runPromise(copyInChunks(engine, src.pfn, dst.pfn, src.size, 4));
    expect([0, 1, 2, 3].map((t) => engine.tagFailed(t))).toEqual([false, true, false, false]);
    expectBytes(dst.bytes().subarray(0, 4 * 4096), pattern(src.size, 41).subarray(0, 4 * 4096));
    expect(
      dst
        .bytes()
        .subarray(4 * 4096, 8 * 4096)
        .every((b) => b === 0),
    ).toBe(true);
  });

  for (const fault of ["crash", "exit", "hang"] as const) {
    it(`a worker that ${fault === "hang" ? "hangs past the deadline" : fault === "crash" ? "throws" : "exits"} fails only its own chunks, and is replaced`, async () => {
      const { engine, src, dst } = setup(2, { deadlineMs: 300 });
      engine.inject(1, fault);
      await Effect.runPromise(copyInChunks(engine, src.pfn, dst.pfn, src.size, 4));
      expect([0, 1, 2, 3].map((t) => engine.tagFailed(t))).toEqual([false, true, false, true]);
      expect(engine.replaced).toBe(1);
      expect(engine.spawned).toBe(3);
      // The pool is whole again: every chunk of the next job copies.
      src.bytes().fill(5);
      await Effect.runPromise(copyInChunks(engine, src.pfn, dst.pfn, src.size, 4));
      expect([0, 1, 2, 3].map((t) => engine.tagFailed(t))).toEqual([false, false, false, false]);
      expect(dst.bytes().every((b) => b === 5)).toBe(true);
    });
  }

  it("keeps a stopped engine's workers, and the next kernel's engine takes them and copies its own memory", async () => {
    const first = setup(2);
    await Effect.runPromise(
      copyInChunks(first.engine, first.src.pfn, first.dst.pfn, first.src.size, 2),
    );
    const idle = idleCopyWorkers();
    await Effect.runPromise(first.engine.terminate());
    expect(idleCopyWorkers()).toBe(idle + 2);
    // Were a kept worker still to serve the first kernel, this would reach its destination.
    first.src.bytes().fill(13);
    const firstDst = Uint8Array.from(first.dst.bytes());
    const second = setup(2);
    expect(idleCopyWorkers()).toBe(idle);
    second.src.bytes().fill(77);
    await Effect.runPromise(
      copyInChunks(second.engine, second.src.pfn, second.dst.pfn, second.src.size, 4),
    );
    expect(second.dst.bytes().every((b) => b === 77)).toBe(true);
    expectBytes(first.dst.bytes(), firstDst);
    expect(second.engine.spawned).toBe(2);
  });

  // A detached worker scavenges, which frees the views of a kernel it served briefly; one whose
  // heap collected while it served (its views may be old by then) collects the whole heap.
  it("a kept worker whose heap collected while it served still lets go of that kernel's memory", async () => {
    const k = run(Kernel.boot({ nodes: ["64M", "64M"] }));
    const engine = new CopyEngine(k, { threads: 1 });
    const src = run(k.allocFolio(0, 4));
    const dst = run(k.allocFolio(1, 4));
    src.bytes().set(pattern(src.size, 5));
    // Rounds of 4,096 copies of 16 bytes: each copy makes a view in the worker, enough to fill
    // its young generation many times over, so the kernel's buffers outlive collections there.
    const copies = 4096;
    for (let round = 0; round < 16; round++) {
      engine.begin(copies);
      let queued = 0;
      for (let i = 0; i < copies; i++)
        if (engine.push(0, src.pfn, dst.pfn, i * 16, 16, i)) queued++;
      expect(queued).toBe(copies);
      await Effect.runPromise(engine.run());
    }
    expectBytes(dst.bytes(), src.bytes());
    const nodeBytes = 128 * 2 ** 20;
    const before = process.memoryUsage().arrayBuffers;
    expect(before).toBeGreaterThanOrEqual(nodeBytes);
    await Effect.runPromise(k.shutdown());
    // The bytes leave the process once both threads have dropped them (see lifecycle.test.ts).
    let released = 0;
    for (let round = 0; round < 100 && released < nodeBytes; round++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      collectGarbage();
      released = before - process.memoryUsage().arrayBuffers;
    }
    expect(released).toBeGreaterThanOrEqual(nodeBytes);
  });

  // kernel/workqueue.c: a worker pool keeps an idle worker ready (may_start_working()), and
  // creates one before its last idle worker starts working (maybe_create_worker()).
  it("keeps one idle worker in reserve while engines take the idle ones, and a crashed worker's place is filled", async () => {
    await drainIdleCopyWorkers();
    const live = liveCopyWorkers();
    const { engine, src, dst } = setup(2);
    await Effect.runPromise(engine.ready());
    // Two threads for the engine, and the reserve (running, or still starting).
    expect(idleCopyWorkers()).toBe(1);
    expect(liveCopyWorkers()).toBe(live + 3);
    engine.inject(1, "crash");
    await Effect.runPromise(copyInChunks(engine, src.pfn, dst.pfn, src.size, 2));
    expect(engine.tagFailed(1)).toBe(true);
    expect(engine.replaced).toBe(1);
    // The lane has a worker again and the process still keeps one in reserve.
    expect(idleCopyWorkers()).toBe(1);
    await Effect.runPromise(copyInChunks(engine, src.pfn, dst.pfn, src.size, 2));
    expect([engine.tagFailed(0), engine.tagFailed(1)]).toEqual([false, false]);
    expectBytes(dst.bytes(), src.bytes());
    await Effect.runPromise(engine.terminate());
    expect(idleCopyWorkers()).toBe(3);
    await drainIdleCopyWorkers();
    expect(idleCopyWorkers()).toBe(0);
  });

  it('keeps a new thread that finished a round before its "online" message was read', async () => {
    await drainIdleCopyWorkers();
    const { engine, src, dst } = setup(1);
    engine.begin(1);
    expect(engine.push(0, src.pfn, dst.pfn, 0, src.size, 0)).toBe(true);
    const done: boolean[] = [];
    engine.startLane(0, (ok) => done.push(ok));
    // The thread starts, reads its buffers and serves the round while this thread blocks: the
    // round's end is read from shared memory, and the thread's "online" message stays unread.
    const nap = new Int32Array(new SharedArrayBuffer(4));
    for (let waited = 0; !engine.pollLane(0) && waited < 60_000; waited++)
      Atomics.wait(nap, 0, 0, 1);
    expect(done).toEqual([true]);
    expectBytes(dst.bytes(), src.bytes());
    await Effect.runPromise(engine.terminate());
    // The thread ran, so it is detached and kept, not stopped; its "online" started the reserve.
    expect(engine.spawned).toBe(1);
    expect(idleCopyWorkers()).toBe(2);
    await drainIdleCopyWorkers();
  });

  it("lets no copy thread outlive the engine: a lane a resize dropped is let go before terminate() ends", async () => {
    await drainIdleCopyWorkers();
    const { engine, src, dst } = setup(2);
    engine.begin(1);
    expect(engine.push(1, src.pfn, dst.pfn, 0, src.size, 0)).toBe(true);
    engine.startLane(1, () => {});
    // As above: lane 1's new thread serves the round with its "online" still unread, so letting
    // it go waits for that message first.
    const nap = new Int32Array(new SharedArrayBuffer(4));
    for (let waited = 0; !engine.pollLane(1) && waited < 60_000; waited++)
      Atomics.wait(nap, 0, 0, 1);
    engine.resize(1);
    await Effect.runPromise(engine.terminate());
    // Every thread still running is idle: none serves the stopped engine's kernel.
    expect(liveCopyWorkers()).toBe(idleCopyWorkers());
    await drainIdleCopyWorkers();
  });

  it("keeps a job's deadline on Effect's Clock, and says when a hung round is all that is in flight", async () => {
    const { engine, src, dst } = setup(2, { deadlineMs: 60_000 });
    await Effect.runPromise(engine.ready());
    engine.inject(1, "hang");
    expect(engine.waitingOnHang()).toBe(false);
    await Effect.runPromise(
      Effect.gen(function* () {
        const job = yield* Effect.forkChild(copyInChunks(engine, src.pfn, dst.pfn, src.size, 2));
        // Lane 0 copies; lane 1's worker met the hang and sits on it.
        while (!engine.waitingOnHang())
          yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 1)));
        expect([engine.busy(0), engine.busy(1)]).toEqual([false, true]);
        yield* TestClock.adjust("59 seconds");
        expect(engine.busy(1)).toBe(true);
        yield* TestClock.adjust("1 second");
        yield* Fiber.join(job);
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expect([engine.tagFailed(0), engine.tagFailed(1)]).toEqual([false, true]);
    expect(engine.replaced).toBe(1);
    expect(engine.waitingOnHang()).toBe(false);
    expectBytes(dst.bytes().subarray(0, src.size / 2), src.bytes().subarray(0, src.size / 2));
  });

  it("ends a round still running when its engine stops as failed, and stops its worker rather than keep it", async () => {
    const { engine, src, dst } = setup(1, { deadlineMs: 60_000 });
    engine.inject(0, "hang");
    const idle = idleCopyWorkers();
    engine.begin(1);
    engine.push(0, src.pfn, dst.pfn, 0, src.size, 0);
    const done: boolean[] = [];
    engine.startLane(0, (ok) => done.push(ok));
    expect(engine.busy(0)).toBe(true);
    await Effect.runPromise(engine.terminate());
    expect(done).toEqual([false]);
    expect(engine.tagFailed(0)).toBe(true);
    expect(idleCopyWorkers()).toBe(idle);
  });

  it("shrinking past a lane whose round is running ends the round as failed, and starts no worker for it", async () => {
    const { engine, src, dst } = setup(2, { deadlineMs: 60_000 });
    engine.inject(1, "hang");
    engine.begin(1);
    engine.push(1, src.pfn, dst.pfn, 0, src.size, 0);
    const done: boolean[] = [];
    engine.startLane(1, (ok) => done.push(ok));
    engine.resize(1);
    expect(done).toEqual([false]);
    expect(engine.threads).toBe(1);
    expect(engine.spawned).toBe(2);
  });

  it("refuses a descriptor past a lane's capacity, and resizes", async () => {
    const { engine } = setup(1, { capacity: 2 });
    engine.begin(3);
    expect(engine.push(0, 1, 2, 0, 4096, 0)).toBe(true);
    expect(engine.push(0, 1, 2, 0, 4096, 1)).toBe(true);
    expect(engine.push(0, 1, 2, 0, 4096, 2)).toBe(false);
    // A refused copy is never reported done.
    expect([engine.tagFailed(0), engine.tagFailed(1), engine.tagFailed(2)]).toEqual([
      false,
      false,
      true,
    ]);
    engine.resize(4);
    expect(engine.threads).toBe(4);
    engine.resize(2);
    expect(engine.threads).toBe(2);
  });

  it("names a lane it does not have with a RangeError", () => {
    const { engine } = setup(2);
    engine.begin(1);
    expect(() => engine.push(2, 1, 2, 0, 4096, 0)).toThrow(
      new RangeError("copy engine has no lane 2; it has 2"),
    );
    expect(() => engine.queued(-1)).toThrow(RangeError);
    expect(() => engine.startLane(7, () => {})).toThrow(RangeError);
    expect(engine.queued(1)).toBe(0);
  });
});
