import { Deferred, Effect, Exit, Fiber } from "effect";
import { describe, expect, it } from "vitest";
import {
  CopyEngine,
  type ErrnoError,
  FolioList,
  Kernel,
  KernelPanic,
  MIGRATE_ASYNC,
  type Migrator,
  MPOL_MF_MOVE,
  MR_SYSCALL,
  migrateFoliosMcCopy,
  migratePages,
} from "../../src/index";
import { collectGarbage, idleCopyWorkers, liveCopyWorkers } from "../../src/testing/index";

const run = <A, E>(effect: Effect.Effect<A, E>): A => Effect.runSync(effect);
const errnoOf = <A>(effect: Effect.Effect<A, unknown>): string =>
  (Effect.runSync(Effect.flip(effect)) as ErrnoError).errno;
const errnoOfAsync = async <A>(effect: Effect.Effect<A, unknown>): Promise<string> =>
  ((await Effect.runPromise(Effect.flip(effect))) as ErrnoError).errno;

describe("kernel shutdown", () => {
  it("refuses every later call with ESHUTDOWN, drops processes, files and sysfs, and can be repeated", async () => {
    const k = run(Kernel.boot({ nodes: ["16M", "16M"] }));
    const p = run(k.createProcess());
    const addr = run(p.mmap(4096));
    run(p.write(addr, new Uint8Array([1])));
    run(k.createFile("f"));
    await Effect.runPromise(k.shutdown());
    expect(k.state).toBe("down");
    expect(k.tasks.size).toBe(0);
    expect(k.files.size).toBe(0);
    expect(k.fs.exists("/proc/vmstat")).toBe(false);
    expect(k.mem.sections).toEqual([]);
    expect(errnoOf(k.createProcess())).toBe("ESHUTDOWN");
    expect(errnoOf(k.createFile("g"))).toBe("ESHUTDOWN");
    expect(errnoOf(k.allocFolio(0, 0))).toBe("ESHUTDOWN");
    expect(errnoOf(p.read(addr, 1))).toBe("ESHUTDOWN");
    expect(errnoOf(p.write(addr, new Uint8Array([2])))).toBe("ESHUTDOWN");
    expect(errnoOf(p.mmap(4096))).toBe("ESHUTDOWN");
    expect(await errnoOfAsync(p.movePages(0, [addr], [1], MPOL_MF_MOVE))).toBe("ESHUTDOWN");
    expect(errnoOf(k.fs.read("/proc/vmstat"))).toBe("ESHUTDOWN");
    expect(errnoOf(k.fs.write("/sys/kernel/mm/migration/offload_migrator", "none"))).toBe(
      "ESHUTDOWN",
    );
    expect(errnoOf(k.loadModule({ name: "late" }))).toBe("ESHUTDOWN");
    const list = new FolioList(k.memmap.lru);
    expect(
      await errnoOfAsync(migratePages(k, list, () => -1, null, MIGRATE_ASYNC, MR_SYSCALL)),
    ).toBe("ESHUTDOWN");
    await Effect.runPromise(k.shutdown());
    expect(k.state).toBe("down");
  });

  it("switches offload off first, then unloads modules last-first, running their exits", async () => {
    const k = run(Kernel.boot({ nodes: ["16M", "16M"] }));
    const seen: string[] = [];
    const migrator: Migrator = {
      name: "m",
      owner: null,
      shouldBatch: () => true,
      offloadCopy: (dst, src) => Effect.sync(() => migrateFoliosMcCopy(k, dst, src)),
    };
    for (const name of ["first", "second", "third"]) {
      run(
        k.loadModule({
          name,
          exit: () =>
            Effect.sync(() => seen.push(`${name}:${k.migrateOffload.activeName ?? "none"}`)),
        }),
      );
    }
    run(k.migrateOffload.register(migrator));
    await Effect.runPromise(k.shutdown());
    expect(seen).toEqual(["third:none", "second:none", "first:none"]);
    expect(k.modules.size).toBe(0);
  });

  it("waits for a migration in flight, which finishes with every byte moved", async () => {
    const k = run(Kernel.boot({ nodes: ["16M", "16M"] }));
    const entered = run(Deferred.make<void>());
    const release = run(Deferred.make<void>());
    run(
      k.migrateOffload.register({
        name: "slow",
        owner: null,
        shouldBatch: () => true,
        offloadCopy: (dst, src) =>
          Effect.gen(function* () {
            yield* Deferred.succeed(entered, undefined);
            yield* Deferred.await(release);
            return migrateFoliosMcCopy(k, dst, src);
          }),
      }),
    );
    const p = run(k.createProcess());
    const addr = run(p.mmap(8 * 4096));
    run(p.write(addr, new Uint8Array(8 * 4096).fill(0x5a)));
    const pages = Array.from({ length: 8 }, (_, i) => addr + i * 4096);
    const move = Effect.runFork(
      p.movePages(
        0,
        pages,
        pages.map(() => 1),
        MPOL_MF_MOVE,
      ),
    );
    await Effect.runPromise(Deferred.await(entered));
    const down = Effect.runFork(k.shutdown());
    await Effect.runPromise(Effect.yieldNow);
    expect(down.pollUnsafe()).toBeUndefined();
    expect(k.state).toBe("stopping");
    expect(errnoOf(k.createProcess())).toBe("ESHUTDOWN");
    run(Deferred.succeed(release, undefined));
    const moved = await Effect.runPromise(Fiber.join(move));
    expect(moved.rc).toBe(0);
    expect([...moved.status]).toEqual(pages.map(() => 1));
    await Effect.runPromise(Fiber.join(down));
    expect(k.state).toBe("down");
  });

  it("shuts down when the scope of Kernel.make closes", async () => {
    let kernel: Kernel | undefined;
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          kernel = yield* Kernel.make({ nodes: ["16M"] });
          expect(kernel.state).toBe("running");
        }),
      ),
    );
    expect(kernel?.state).toBe("down");
  });

  it("shuts down at the end of an await using block", async () => {
    let kept: Kernel | undefined;
    {
      await using kernel = run(Kernel.boot({ nodes: ["16M"] }));
      kept = kernel;
    }
    expect(kept?.state).toBe("down");
  });

  it("lets go of the node memory, even while the kernel value is still held", async () => {
    const k = run(Kernel.boot({ nodes: ["64M", "64M"] }));
    const engine = new CopyEngine(k, { threads: 2 });
    const src = run(k.allocFolio(0, 4));
    const dst = run(k.allocFolio(1, 4));
    src.bytes().fill(7);
    engine.begin(2);
    engine.push(0, src.pfn, dst.pfn, 0, 32768, 0);
    engine.push(1, src.pfn, dst.pfn, 32768, 32768, 1);
    await Effect.runPromise(engine.run());
    expect(dst.bytes().every((b) => b === 7)).toBe(true);
    const refs = k.mem.sections.map((buffer) => new WeakRef(buffer!));
    const nodeBytes = 128 * 2 ** 20;
    const before = process.memoryUsage().arrayBuffers;
    expect(before).toBeGreaterThanOrEqual(nodeBytes);
    // The engine is never terminated by hand: shutdown stops it as one of the kernel's devices.
    await Effect.runPromise(k.shutdown());
    expect(idleCopyWorkers()).toBeGreaterThan(0);
    collectGarbage();
    expect(refs.filter((ref) => ref.deref() !== undefined)).toHaveLength(0);
    // Nor do the copy threads, now idle, hold it: the bytes are gone from the process. V8 frees a
    // shared buffer's backing store once every thread has dropped it, on a background sweeper, so
    // the count falls a little after the last collection: wait for it (at most 100 rounds).
    let released = before - process.memoryUsage().arrayBuffers;
    for (let round = 0; round < 100 && released < nodeBytes; round++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      collectGarbage();
      released = before - process.memoryUsage().arrayBuffers;
    }
    expect(released).toBeGreaterThanOrEqual(nodeBytes);
    expect(k.state).toBe("down");
  });

  it("refuses shutdown from inside one of the kernel's own calls with EDEADLK, and stays usable", async () => {
    const k = run(Kernel.boot({ nodes: ["16M", "16M"] }));
    const results: string[] = [];
    run(
      k.loadModule({
        name: "selfstop",
        init: () =>
          Effect.sync(() => {
            k.fs.addAttributes("/sys/kernel/selfstop", {
              stop: {
                mode: 0o200,
                store: (text) =>
                  Effect.match(k.shutdown(), {
                    onFailure: (error) => {
                      results.push(error.errno);
                      return text.length;
                    },
                    onSuccess: () => text.length,
                  }),
              },
            });
          }),
        exit: () =>
          Effect.match(k.shutdown(), {
            onFailure: (error) => void results.push(`exit:${error.errno}`),
            onSuccess: () => undefined,
          }),
      }),
    );
    await Effect.runPromise(k.fs.write("/sys/kernel/selfstop/stop", "1"));
    expect(results).toEqual(["EDEADLK"]);
    expect(k.state).toBe("running");
    // An exit run by shutdown that calls shutdown again is refused the same way.
    await Effect.runPromise(k.shutdown());
    expect(results).toEqual(["EDEADLK", "exit:EDEADLK"]);
    expect(k.state).toBe("down");
  });

  it("offers nothing new once down: registering a migrator or starting copy threads is ESHUTDOWN", async () => {
    const k = run(Kernel.boot({ nodes: ["16M"] }));
    await Effect.runPromise(k.shutdown());
    const migrator: Migrator = {
      name: "late",
      owner: null,
      shouldBatch: () => true,
      offloadCopy: () => Effect.succeed(0),
    };
    expect(errnoOf(k.migrateOffload.register(migrator))).toBe("ESHUTDOWN");
    expect(errnoOf(k.migrateOffload.addProvider(migrator))).toBe("ESHUTDOWN");
    const threads = liveCopyWorkers();
    expect(() => new CopyEngine(k, { threads: 1 })).toThrow(/shut down/);
    expect(liveCopyWorkers()).toBe(threads);
  });

  it("finishes every step when a module's exit returns garbage, and reports it with EBUSY", async () => {
    const k = run(Kernel.boot({ nodes: ["16M"] }));
    run(k.loadModule({ name: "bad", exit: (() => 42) as never }));
    run(k.loadModule({ name: "worse", exit: (() => Promise.resolve()) as never }));
    const error = (await Effect.runPromise(Effect.flip(k.shutdown()))) as ErrnoError;
    expect(error.errno).toBe("EBUSY");
    expect(error.message).toMatch(/module worse: .*module bad: /s);
    expect(k.state).toBe("down");
    expect(k.modules.size).toBe(0);
    expect(k.mem.sections).toEqual([]);
    // A later shutdown gives the same answer at once.
    expect(((await Effect.runPromise(Effect.flip(k.shutdown()))) as ErrnoError).errno).toBe(
      "EBUSY",
    );
  });

  it("answers the memory accessors with ESHUTDOWN after shutdown, not a TypeError", async () => {
    const k = run(Kernel.boot({ nodes: ["16M"] }));
    const folio = run(k.allocFolio(0, 0));
    await Effect.runPromise(k.shutdown());
    for (const touch of [
      () => k.mem.bytes(folio.pfn),
      () => folio.bytes(),
      () => k.mem.region(folio.pfn),
      () => k.folioPut(folio),
    ]) {
      expect(touch).toThrow(expect.objectContaining({ _tag: "ErrnoError", errno: "ESHUTDOWN" }));
    }
  });
});

// panic() (kernel/panic.c, Linux 6.16): never returns; panic_try_start() lets only the first
// panic halt the machine; the console line is "Kernel panic - not syncing: <message>" with the
// message's trailing newline dropped.
describe("kernel panic (Kernel.panic)", () => {
  it("halts the kernel with the first panic's message, refuses every later call with ESHUTDOWN naming it, and still shuts down", async () => {
    const k = run(Kernel.boot({ nodes: ["16M"] }));
    const p = run(k.createProcess());
    const addr = run(p.mmap(4096));
    run(p.write(addr, new Uint8Array([1])));
    expect(Effect.runSyncExit(k.panic("first\n"))).toEqual(Exit.die(new KernelPanic("first")));
    expect(new KernelPanic("first\n").text).toBe("Kernel panic - not syncing: first");
    expect([k.state, k.panicked]).toEqual(["panicked", "first"]);
    // A second panic stops where it is; the first one's message stays.
    expect(Effect.runSyncExit(k.panic("second"))).toEqual(Exit.die(new KernelPanic("second")));
    expect([k.state, k.panicked]).toEqual(["panicked", "first"]);
    const refused = Effect.runSync(Effect.flip(p.read(addr, 1))) as ErrnoError;
    expect([refused.errno, refused.message]).toEqual([
      "ESHUTDOWN",
      "read: Kernel panic - not syncing: first",
    ]);
    expect(errnoOf(k.createProcess())).toBe("ESHUTDOWN");
    expect(errnoOf(k.fs.read("/proc/vmstat"))).toBe("ESHUTDOWN");
    await Effect.runPromise(k.shutdown());
    expect([k.state, k.panicked]).toEqual(["down", "first"]);
    expect(k.tasks.size).toBe(0);
    expect(k.mem.sections).toEqual([]);
    // Shutting down again does nothing.
    await Effect.runPromise(k.shutdown());
    expect(k.state).toBe("down");
  });
});
