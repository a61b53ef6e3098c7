// For generated workloads, one callback of a migrator driver misbehaves: shouldBatch, offloadCopy,
// the module's init or exit, or the store behind its sysfs `offloading` file. It throws, returns
// garbage, returns an Effect that dies or yields garbage, or (offloadCopy through
// migratorFromPromise) rejects.
// Whatever it does, the kernel stays usable: every byte intact, the consistency check clean,
// offload switched to none, the module unloaded, and every call answers (none hangs).
import { Effect, Exit } from "effect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Task } from "../../src/include/kernel";
import {
  defineMigratorModule,
  ERRNO,
  type ErrnoError,
  Kernel,
  kstrtobool,
  type Migrator,
  type MmMigrateOffload,
  type ModuleDefinition,
  MR_SYSCALL,
  migrateFoliosMcCopy,
  migratorFromPromise,
} from "../../src/index";
import { checkKernelConsistency, pattern, run } from "../../src/testing/index";

const PAGE = 4096;
const DIR = "/sys/kernel/flaky";
const MIGRATOR = "/sys/kernel/mm/migration/offload_migrator";

type Callback = "shouldBatch" | "offloadCopy" | "init" | "exit" | "store";
type Misdeed = "throws" | "undefined" | "number" | "string" | "dies" | "yields" | "rejects";

/** What a misbehaving callback gives back, or throws. */
const misbehave = (misdeed: Misdeed): unknown => {
  switch (misdeed) {
    case "throws":
      throw new Error("driver bug");
    case "undefined":
      return undefined;
    case "number":
      return 7;
    case "string":
      return "ok";
    case "dies":
      return Effect.die(new Error("driver bug"));
    case "yields":
      // A generator that yields a value that is not an Effect: the runtime kills its fiber.
      return Effect.gen(function* () {
        yield* "garbage" as unknown as Effect.Effect<void>;
      });
    case "rejects":
      // Only offloadCopy rejects, through migratorFromPromise; elsewhere this is garbage.
      return 7;
  }
};

interface Case {
  /** The callback that misbehaves, or none. */
  readonly callback: Callback | "none";
  readonly misdeed: Misdeed;
}

/** A driver whose callbacks all behave. */
const HEALTHY: Case = { callback: "none", misdeed: "throws" };

/**
 * The flaky driver: a migrator module built with the kernel's skeleton, whose one callback in
 * `c` misbehaves.
 */
const flakyDriver = (k: Kernel, c: Case) => {
  const broken = (callback: Callback) => c.callback === callback;
  const copy: Pick<Migrator, "offloadCopy"> =
    broken("offloadCopy") && c.misdeed === "rejects"
      ? migratorFromPromise({
          name: "FLAKY",
          owner: null,
          offloadCopy: () => Promise.reject(new Error("driver bug")),
        })
      : {
          offloadCopy: (dst, src) =>
            broken("offloadCopy")
              ? (misbehave(c.misdeed) as never)
              : Effect.sync(() => migrateFoliosMcCopy(k, dst, src)),
        };
  const mod = defineMigratorModule(k, {
    name: "flaky",
    sysfsDir: DIR,
    migrator: {
      name: "FLAKY",
      shouldBatch: () => (broken("shouldBatch") ? (misbehave(c.misdeed) as never) : true),
      ...copy,
    },
    parseOffloading: (text) =>
      broken("store") ? (misbehave(c.misdeed) as never) : kstrtobool(text),
    reasonMask: { file: "reasons", where: "sysfs", mode: 0o644, initial: 1 << MR_SYSCALL },
    exit: () => (broken("exit") ? (misbehave(c.misdeed) as never) : Effect.void),
  });
  // init and exit misbehave after the skeleton has done its part, as a driver's own code would.
  const definition: ModuleDefinition = {
    name: "flaky",
    init: (module) => {
      run(mod.definition.init!(module));
      return broken("init") ? (misbehave(c.misdeed) as never) : Effect.void;
    },
    exit: (module) => mod.definition.exit!(module),
  };
  return { mod, definition };
};

interface Region {
  readonly pages: number;
  readonly hugepage: boolean;
}

const regions = fc.array(
  fc.record({ pages: fc.integer({ min: 1, max: 24 }), hugepage: fc.boolean() }),
  { minLength: 1, maxLength: 3 },
);
/** Moves: each picks pages of one region (by a seed) and a node. */
const moves = fc.array(
  fc.record({
    region: fc.nat(),
    first: fc.nat(),
    count: fc.integer({ min: 1, max: 32 }),
    node: fc.integer({ min: 0, max: 1 }),
  }),
  { minLength: 1, maxLength: 4 },
);
const cases = fc.record({
  callback: fc.constantFrom<Callback>("shouldBatch", "offloadCopy", "init", "exit", "store"),
  misdeed: fc.constantFrom<Misdeed>(
    "throws",
    "undefined",
    "number",
    "string",
    "dies",
    "yields",
    "rejects",
  ),
});

const errnoOf = (exit: Exit.Exit<unknown, ErrnoError>): string | null =>
  Exit.isSuccess(exit)
    ? null
    : ((Exit.findErrorOption(exit) as { value?: ErrnoError }).value?.errno ?? "defect");

/** Every byte of every region reads as written. */
const intact = (p: Task, mapped: ReadonlyArray<{ addr: number; bytes: Uint8Array }>): boolean =>
  mapped.every(({ addr, bytes }) => Buffer.from(run(p.read(addr, bytes.length))).equals(bytes));

describe("a misbehaving driver callback leaves the kernel usable (property)", () => {
  it("keeps every byte, a consistent kernel, and a module that unloads, whatever one callback does", async () => {
    await fc.assert(
      fc.asyncProperty(
        cases,
        regions,
        moves,
        fc.constantFrom<"never" | "always">("never", "always"),
        async (c, layout, steps, thp) => {
          const k = run(Kernel.boot({ nodes: ["16M", "16M"], thp: { enabled: thp } }));
          const p = run(k.createProcess());
          const mapped = layout.map((r: Region, i) => {
            const bytes = pattern(r.pages * PAGE, i + 1);
            const addr = run(p.mmap(bytes.length, { hugepage: r.hugepage }));
            run(p.write(addr, bytes));
            return { addr, bytes };
          });
          const events: MmMigrateOffload[] = [];
          k.trace.subscribe((e) => {
            if (e.event === "mm_migrate_offload") events.push(e);
          });

          // Load. A broken init fails the load with EIO and leaves nothing; the healthy driver
          // then loads under the same name.
          const flaky = flakyDriver(k, c);
          const loaded = await Effect.runPromiseExit(k.loadModule(flaky.definition));
          if (c.callback === "init") {
            expect(errnoOf(loaded)).toBe("EIO");
            expect(k.modules.has("flaky")).toBe(false);
            expect(k.fs.exists("/sys/module/flaky")).toBe(false);
            expect(k.migrateOffload.providerNames).toEqual([]);
          } else {
            expect(errnoOf(loaded)).toBeNull();
          }
          if (c.callback === "init") run(k.loadModule(flakyDriver(k, HEALTHY).definition));

          // Switch offloading on through the driver's file; a broken store is EIO and changes
          // nothing, and the registry's own file still switches to it.
          const on = await Effect.runPromiseExit(k.fs.write(`${DIR}/offloading`, "1"));
          if (c.callback === "store") {
            expect(errnoOf(on)).toBe("EIO");
            expect(k.migrateOffload.activeName).toBeNull();
            await Effect.runPromise(k.fs.write(MIGRATOR, "FLAKY"));
          } else {
            expect(errnoOf(on)).toBeNull();
          }
          expect(k.migrateOffload.activeName).toBe("FLAKY");

          // The workload: every call answers, and every page ends on a node or with an errno.
          for (const step of steps) {
            const { addr, bytes } = mapped[step.region % mapped.length]!;
            const pages = bytes.length / PAGE;
            const first = step.first % pages;
            const count = Math.min(step.count, pages - first);
            const addrs = Array.from({ length: count }, (_, i) => addr + (first + i) * PAGE);
            const r = await Effect.runPromise(p.movePages(0, addrs, Array(count).fill(step.node)));
            expect(r.rc).toBeGreaterThanOrEqual(0);
            for (const s of r.status) expect(s === step.node || s < 0).toBe(true);
          }
          expect(k.migrateOffload.srcu.activeReaders).toBe(0);
          expect(intact(p, mapped)).toBe(true);
          expect(checkKernelConsistency(k)).toEqual([]);

          // Whatever the broken callback did, it was counted and traced where it was called.
          const counters = k.migrateOffload.counters("FLAKY")!;
          if (c.callback === "shouldBatch") {
            expect(events.some((e) => e.op === "offload_copy")).toBe(false);
            expect(counters.shouldBatchFailures).toBe(
              events.filter((e) => e.op === "should_batch_failed").length,
            );
          }
          if (c.callback === "offloadCopy") {
            const done = events.filter((e) => e.op === "offload_copy_done");
            expect(done.every((e) => e.rc === -ERRNO.EIO)).toBe(true);
            if (c.misdeed !== "rejects") expect(done.every((e) => e.error)).toBe(true);
            expect(counters.copyFailures).toBe(done.length);
            expect(counters.foliosCopied).toBe(0);
          }

          // Offload switches to none, and the module unloads, even with a broken exit.
          await Effect.runPromise(k.fs.write(MIGRATOR, "none"));
          expect(k.migrateOffload.activeName).toBeNull();
          await Effect.runPromise(k.unloadModule("flaky"));
          expect(k.modules.has("flaky")).toBe(false);
          expect(k.fs.exists("/sys/module/flaky")).toBe(false);
          expect(k.migrateOffload.providerNames).toEqual([]);

          // And the kernel goes on: the same module loads again, and pages still move whole.
          run(k.loadModule(flakyDriver(k, HEALTHY).definition));
          const { addr, bytes } = mapped[0]!;
          const back = await Effect.runPromise(
            p.movePages(
              0,
              Array.from({ length: bytes.length / PAGE }, (_, i) => addr + i * PAGE),
              Array(bytes.length / PAGE).fill(0),
            ),
          );
          expect(back.rc).toBeGreaterThanOrEqual(0);
          expect(intact(p, mapped)).toBe(true);
          expect(checkKernelConsistency(k)).toEqual([]);
        },
      ),
      { numRuns: 80 },
    );
    // 80 kernels, each loading and unloading a module with copy threads: seconds, not vitest's
    // default 5 s budget, on a loaded 2-core machine.
  }, 120_000);
});
