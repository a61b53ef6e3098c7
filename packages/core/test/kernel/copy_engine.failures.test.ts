import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { CopyEngine, type ErrnoError, Kernel, type TraceEvent } from "../../src/index";

const run = <A, E>(effect: Effect.Effect<A, E>): A => Effect.runSync(effect);
const boot = () => run(Kernel.boot({ nodes: ["16M", "16M"] }));

describe("copy threads that fail are never quiet", () => {
  it("a missing entry file fails ready() with ENOENT naming the file, counted and traced", async () => {
    const k = boot();
    const events: TraceEvent[] = [];
    k.trace.subscribe((e) => events.push(e));
    const missing = pathToFileURL(join(tmpdir(), "no-such-dir", "copy-worker.mjs"));
    const engine = new CopyEngine(k, { threads: 2, workerUrl: missing });
    const error = (await Effect.runPromise(Effect.flip(engine.ready()))) as ErrnoError;
    expect(error.errno).toBe("ENOENT");
    expect(error.message).toContain(missing.href);
    expect(engine.workerErrors).toBeGreaterThanOrEqual(1);
    expect(engine.lastWorkerError).toMatch(/Cannot find module|not found/i);
    expect(events.some((e) => e.event === "copy_worker" && e.what === "error")).toBe(true);
    await Effect.runPromise(engine.terminate());
    await Effect.runPromise(k.shutdown());
  });

  it("an entry that fails to load fails ready() with ENOEXEC naming the file", async () => {
    const k = boot();
    const dir = mkdtempSync(join(tmpdir(), "copy-worker-"));
    const broken = join(dir, "copy-worker.mjs");
    writeFileSync(broken, "throw new Error('this entry cannot load');\n");
    const engine = new CopyEngine(k, { threads: 1, workerUrl: pathToFileURL(broken) });
    const error = (await Effect.runPromise(Effect.flip(engine.ready()))) as ErrnoError;
    expect(error.errno).toBe("ENOEXEC");
    expect(error.message).toContain(pathToFileURL(broken).href);
    expect(error.message).toContain("this entry cannot load");
    await Effect.runPromise(engine.terminate());
    await Effect.runPromise(k.shutdown());
  });

  it("a worker that crashes or exits mid-copy is counted and traced with its message", async () => {
    const k = boot();
    const events: TraceEvent[] = [];
    k.trace.subscribe((e) => events.push(e));
    const engine = new CopyEngine(k, { threads: 1 });
    await Effect.runPromise(engine.ready());
    const src = run(k.allocFolio(0, 0));
    const dst = run(k.allocFolio(1, 0));
    for (const fault of ["crash", "exit"] as const) {
      engine.begin(1);
      engine.push(0, src.pfn, dst.pfn, 0, 4096, 0);
      engine.inject(0, fault);
      await Effect.runPromise(engine.run());
      expect(engine.tagFailed(0)).toBe(true);
    }
    expect(engine.workerErrors).toBe(1);
    expect(engine.lastWorkerError).toBe("injected copy-worker crash");
    expect(engine.workerExits).toBe(2);
    const traced = events.filter((e) => e.event === "copy_worker");
    expect(traced.map((e) => (e.event === "copy_worker" ? e.what : ""))).toEqual([
      "error",
      "exit",
      "exit",
    ]);
    await Effect.runPromise(engine.terminate());
    await Effect.runPromise(k.shutdown());
  });

  it("an entry that loads but never says it runs fails ready() with ETIMEDOUT after the start deadline", async () => {
    const k = boot();
    const dir = mkdtempSync(join(tmpdir(), "copy-worker-"));
    const silent = join(dir, "copy-worker.mjs");
    writeFileSync(
      silent,
      'import { parentPort } from "node:worker_threads";\nparentPort.on("message", () => {});\n',
    );
    const engine = new CopyEngine(k, {
      threads: 1,
      startDeadlineMs: 200,
      workerUrl: pathToFileURL(silent),
    });
    const error = (await Effect.runPromise(Effect.flip(engine.ready()))) as ErrnoError;
    expect(error.errno).toBe("ETIMEDOUT");
    expect(error.message).toContain("did not start within 200 ms");
    expect(error.message).toContain(pathToFileURL(silent).href);
    await Effect.runPromise(engine.terminate());
    await Effect.runPromise(k.shutdown());
  });

  it("a thread that exits between rounds is replaced at once, so the next round copies", async () => {
    const k = boot();
    // The shipped entry, changed to exit a little after it finishes its first round: idle.
    const dir = mkdtempSync(join(tmpdir(), "copy-worker-"));
    const entry = join(dir, "copy-worker.mjs");
    const shipped = readFileSync(
      new URL("../../src/kernel/copy-worker.mjs", import.meta.url),
      "utf8",
    );
    writeFileSync(
      entry,
      shipped.replace(
        "Atomics.notify(control, DONE);",
        "Atomics.notify(control, DONE);\n    for (const t = Date.now(); Date.now() - t < 50; );\n    process.exit(3);",
      ),
    );
    const engine = new CopyEngine(k, { threads: 1, workerUrl: pathToFileURL(entry) });
    await Effect.runPromise(engine.ready());
    const src = run(k.allocFolio(0, 0));
    const dst = run(k.allocFolio(1, 0));
    const copy = async (value: number) => {
      src.bytes().fill(value);
      engine.begin(1);
      engine.push(0, src.pfn, dst.pfn, 0, 4096, 0);
      await Effect.runPromise(engine.run());
      return !engine.tagFailed(0) && dst.bytes().every((b) => b === value);
    };
    expect(await copy(1)).toBe(true);
    // Wait (by events, not time) until the engine has seen the exit and put a thread in its place.
    while (engine.workerExits === 0) await new Promise((resolve) => setImmediate(resolve));
    expect(engine.replaced).toBe(1);
    await Effect.runPromise(engine.ready());
    expect(await copy(2)).toBe(true);
    await Effect.runPromise(engine.terminate());
    await Effect.runPromise(k.shutdown());
  });
});
