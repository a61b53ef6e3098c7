// The kernel calls into user code at a migrator's callbacks: whatever they do, it must release
// its locks, keep every byte, and answer with the kernel's errno.
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import type { Kernel, Task } from "../../src/include/kernel";
import {
  ERRNO,
  type ErrnoName,
  errno,
  FOLIO_CONTENT_COPIED,
  type Migrator,
  type MmMigrateOffload,
  type ModuleDefinition,
  migrateFoliosMcCopy,
  migratorFromPromise,
  type TraceEvent,
} from "../../src/index";
import {
  boot,
  expectBytes,
  expectConsistent,
  expectErrno,
  pattern,
  run,
} from "../../src/testing/index";

const PAGES = 8;
const BYTES = PAGES * 4096;

/** A process with eight written pages on node 0, and a module owning a migrator built by `make`. */
const setup = (
  make: (k: Kernel) => Pick<Migrator, "offloadCopy" | "shouldBatch" | "batchDone">,
) => {
  const k = boot({ thp: { enabled: "never" } });
  const p = run(k.createProcess());
  const addr = run(p.mmap(BYTES));
  run(p.write(addr, pattern(BYTES, 5)));
  const owner = run(k.loadModule({ name: "brokendrv" }));
  const migrator: Migrator = { name: "broken", owner, shouldBatch: () => true, ...make(k) };
  run(k.migrateOffload.register(migrator));
  const events: MmMigrateOffload[] = [];
  k.trace.subscribe((e: TraceEvent) => {
    if (e.event === "mm_migrate_offload") events.push(e);
  });
  return { k, p, addr, events };
};

const moveAll = (p: Task, addr: number, node: number) =>
  Effect.runPromise(
    p.movePages(
      0,
      Array.from({ length: PAGES }, (_, i) => addr + i * 4096),
      Array(PAGES).fill(node),
    ),
  );

/** The broken callback was traced once, as `-EIO`, with what it did. */
const expectTracedOnce = (
  events: readonly MmMigrateOffload[],
  op: MmMigrateOffload["op"],
  message: RegExp,
) => {
  const traced = events.filter((e) => e.op === op);
  expect(traced).toHaveLength(1);
  expect(traced[0]!.rc).toBe(-ERRNO.EIO);
  expect(traced[0]!.error).toMatch(message);
};

/** After the broken call: nothing is held, the kernel answers, and the module goes. */
const expectUsable = (k: Kernel, p: Task, addr: number) => {
  expect(k.migrateOffload.srcu.activeReaders).toBe(0);
  expectBytes(run(p.read(addr, BYTES)), pattern(BYTES, 5));
  expectConsistent(k);
  run(k.fs.write("/sys/kernel/mm/migration/offload_migrator", "none"));
  expect(k.migrateOffload.activeName).toBeNull();
  run(k.unloadModule("brokendrv"));
  expect(k.modules.has("brokendrv")).toBe(false);
};

describe("offloadCopy is a boundary: a broken one is a copy failure with -EIO", () => {
  const broken: Array<[string, (k: Kernel) => Migrator["offloadCopy"], RegExp]> = [
    [
      "throws synchronously",
      () => () => {
        throw new Error("driver bug");
      },
      /offloadCopy threw Error: driver bug/,
    ],
    ["returns undefined", () => () => undefined as never, /returned undefined, not an Effect/],
    ["returns a number", () => () => 0 as never, /returned 0, not an Effect/],
    ["returns a string", () => () => "0" as never, /returned "0", not an Effect/],
    [
      "returns a Promise",
      () => () => Promise.resolve(0) as never,
      /returned a Promise, not an Effect/,
    ],
    [
      "returns an Effect that dies",
      () => () => Effect.die(new RangeError("bad index")),
      /died with RangeError: bad index/,
    ],
    ["returns an Effect that fails", () => () => Effect.fail("no") as never, /failed with "no"/],
    [
      "returns an Effect that yields something that is not an Effect",
      () => () =>
        Effect.gen(function* () {
          yield* "x" as unknown as Effect.Effect<void>;
          return 0;
        }) as never,
      /offloadCopy's Effect died with .*Not a valid effect/,
    ],
    [
      "completes with a positive number",
      () => () => Effect.succeed(3),
      /completed with 3, not 0 or a negative errno/,
    ],
    [
      "completes with a string",
      () => () => Effect.succeed("0" as never),
      /completed with "0", not 0 or a negative errno/,
    ],
    [
      "completes with undefined",
      () => () => Effect.void as never,
      /completed with undefined, not 0 or a negative errno/,
    ],
    [
      "marks every folio, then throws",
      (k) => (dst) => {
        for (const folio of dst) k.memmap.set(folio, FOLIO_CONTENT_COPIED);
        throw new Error("after marking");
      },
      /threw Error: after marking/,
    ],
  ];

  for (const [what, offloadCopy, message] of broken) {
    it(`${what}: every folio moves by the CPU copy, counted and traced; nothing hangs`, async () => {
      const { k, p, addr, events } = setup((k) => ({ offloadCopy: offloadCopy(k) }));
      const r = await moveAll(p, addr, 1);
      expect(r.rc).toBe(0);
      expect([...r.status]).toEqual(Array(PAGES).fill(1));
      expect(k.migrateOffload.counters("broken")).toEqual({
        batchesOffloaded: 0,
        foliosCopied: 0,
        foliosFallenBack: PAGES,
        batchesDeclined: 0,
        copyFailures: 1,
        shouldBatchFailures: 0,
        batchDoneFailures: 0,
      });
      expectTracedOnce(events, "offload_copy_done", message);
      expectUsable(k, p, addr);
    });
  }

  it("a rejected promise through migratorFromPromise is -EIO, and the batch falls back", async () => {
    const k = boot({ thp: { enabled: "never" } });
    const p = run(k.createProcess());
    const addr = run(p.mmap(BYTES));
    run(p.write(addr, pattern(BYTES, 5)));
    const owner = run(k.loadModule({ name: "brokendrv" }));
    run(
      k.migrateOffload.register(
        migratorFromPromise({
          name: "broken",
          owner,
          shouldBatch: () => true,
          offloadCopy: () => Promise.reject(new Error("no")),
        }),
      ),
    );
    const r = await moveAll(p, addr, 1);
    expect([...r.status]).toEqual(Array(PAGES).fill(1));
    expect(k.migrateOffload.counters("broken")).toMatchObject({ copyFailures: 1 });
    expectUsable(k, p, addr);
  });

  it("a well-behaved negative errno keeps the marks of the folios it did copy", async () => {
    const { k, p, addr } = setup((k) => ({
      offloadCopy: (dst, src) =>
        Effect.sync(() => {
          migrateFoliosMcCopy(k, dst, src);
          return -ERRNO.EIO;
        }),
    }));
    expect((await moveAll(p, addr, 1)).rc).toBe(0);
    expect(k.migrateOffload.counters("broken")).toMatchObject({
      foliosCopied: PAGES,
      foliosFallenBack: 0,
      copyFailures: 1,
    });
    expectUsable(k, p, addr);
  });
});

describe("shouldBatch is a boundary: a broken one means no batch for that call", () => {
  const broken: Array<[string, Migrator["shouldBatch"], RegExp]> = [
    [
      "throws",
      () => {
        throw new TypeError("no reasons");
      },
      /shouldBatch threw TypeError: no reasons/,
    ],
    ["returns undefined", () => undefined as never, /returned undefined, not a boolean/],
    ["returns a number", () => 1 as never, /returned 1, not a boolean/],
    ["returns a string", () => "yes" as never, /returned "yes", not a boolean/],
  ];
  for (const [what, shouldBatch, message] of broken) {
    it(`${what}: the pages move on the CPU without offloadCopy, counted and traced`, async () => {
      let copies = 0;
      const { k, p, addr, events } = setup((k) => ({
        shouldBatch,
        offloadCopy: (dst, src) =>
          Effect.sync(() => {
            copies++;
            return migrateFoliosMcCopy(k, dst, src);
          }),
      }));
      const r = await moveAll(p, addr, 1);
      expect([...r.status]).toEqual(Array(PAGES).fill(1));
      expect(copies).toBe(0);
      expect(k.migrateOffload.counters("broken")).toMatchObject({
        batchesOffloaded: 0,
        copyFailures: 0,
        shouldBatchFailures: 1,
      });
      expectTracedOnce(events, "should_batch_failed", message);
      expect(run(k.fs.read("/sys/kernel/mm/migration/offload_stats"))).toContain(
        "should_batch_failures 1",
      );
      expectUsable(k, p, addr);
    });
  }
});

describe("batchDone is a boundary: one that throws leaves the batch done", () => {
  it("the pages move by the offload, the throw is counted and traced", async () => {
    const { k, p, addr, events } = setup((k) => ({
      offloadCopy: (dst, src) => Effect.sync(() => migrateFoliosMcCopy(k, dst, src)),
      batchDone: () => {
        throw new RangeError("no outcome");
      },
    }));
    const r = await moveAll(p, addr, 1);
    expect(r.rc).toBe(0);
    expect([...r.status]).toEqual(Array(PAGES).fill(1));
    expect(k.migrateOffload.counters("broken")).toMatchObject({
      batchesOffloaded: 1,
      foliosCopied: PAGES,
      batchDoneFailures: 1,
    });
    expectTracedOnce(events, "batch_done_failed", /batchDone threw RangeError: no outcome/);
    expect(run(k.fs.read("/sys/kernel/mm/migration/offload_stats"))).toContain(
      "batch_done_failures 1",
    );
    expectUsable(k, p, addr);
  });
});

describe("a module's init and exit are a boundary", () => {
  const MIGRATOR = "/sys/kernel/mm/migration/offload_migrator";
  /** A module whose init offers a migrator and then does `then`. */
  const withInit = (k: Kernel, then: () => unknown): ModuleDefinition => ({
    name: "flaky",
    init: (module) => {
      run(k.migrateOffload.addProvider({ ...copier(k), owner: module }));
      k.fs.addAttributes("/sys/module/flaky/parameters", { p: { mode: 0o444, show: () => "1\n" } });
      return then() as never;
    },
  });
  const copier = (k: Kernel): Migrator => ({
    name: "flaky",
    owner: null,
    shouldBatch: () => true,
    offloadCopy: (dst, src) => Effect.sync(() => migrateFoliosMcCopy(k, dst, src)),
  });

  const brokenInits: Array<[string, () => unknown, ErrnoName, RegExp]> = [
    [
      "throws",
      () => {
        throw new Error("probe failed");
      },
      "EIO",
      /module flaky: init threw Error: probe failed/,
    ],
    ["returns undefined", () => undefined, "EIO", /init returned undefined, not an Effect/],
    ["returns a number", () => 0, "EIO", /init returned 0, not an Effect/],
    ["returns a string", () => "ok", "EIO", /init returned "ok", not an Effect/],
    [
      "returns an Effect that dies",
      () => Effect.die(new Error("oops")),
      "EIO",
      /init's Effect died with Error: oops/,
    ],
    [
      "returns an Effect that fails with a non-errno",
      () => Effect.fail("bad"),
      "EIO",
      /init's Effect failed with "bad"/,
    ],
    [
      "fails with an errno of its own",
      () => Effect.fail(errno("ENODEV", "no device")),
      "ENODEV",
      /no device/,
    ],
  ];
  for (const [what, then, name, message] of brokenInits) {
    it(`an init that ${what} fails the load with ${name} and unloads the module as do_init_module() does`, () => {
      const k = boot();
      const error = expectErrno(k.loadModule(withInit(k, then)), name);
      expect(error.message).toMatch(message);
      expect(k.modules.has("flaky")).toBe(false);
      expect(k.fs.exists("/sys/module/flaky")).toBe(false);
      // What it registered went with it: the name is free, and nothing lists it.
      expect(k.migrateOffload.providerNames).toEqual([]);
      expect(run(k.fs.read(MIGRATOR))).toBe("[none]\n");
      // The same name loads again, works, and unloads.
      const module = run(k.loadModule(withInit(k, () => Effect.void)));
      expect(module.state).toBe("live");
      run(k.fs.write(MIGRATOR, "flaky"));
      run(k.fs.write(MIGRATOR, "none"));
      run(k.unloadModule("flaky"));
      expect(k.migrateOffload.providerNames).toEqual([]);
    });
  }

  const brokenExits: Array<[string, () => unknown]> = [
    [
      "throws",
      () => {
        throw new Error("teardown failed");
      },
    ],
    ["returns undefined", () => undefined],
    ["returns a number", () => 1],
    ["returns an Effect that dies", () => Effect.die(new Error("oops"))],
    ["returns an Effect that fails", () => Effect.fail(errno("EBUSY", "still busy"))],
  ];
  for (const [what, exit] of brokenExits) {
    it(`an exit that ${what} still completes the unload, and what the module left registered goes`, () => {
      const k = boot();
      let migrator!: Migrator;
      const definition: ModuleDefinition = {
        name: "flaky",
        init: (module) => {
          migrator = { ...copier(k), owner: module };
          return k.migrateOffload.addProvider(migrator);
        },
        exit: exit as never,
      };
      run(k.loadModule(definition));
      run(k.unloadModule("flaky"));
      expect(k.modules.has("flaky")).toBe(false);
      expect(k.fs.exists("/sys/module/flaky")).toBe(false);
      expect(k.migrateOffload.providerNames).toEqual([]);
      expect(run(k.loadModule(definition)).state).toBe("live");
      run(k.unloadModule("flaky"));
    });
  }

  it("refuses a malformed definition with EINVAL before anything is loaded", () => {
    const k = boot();
    expectErrno(k.loadModule(null as never), "EINVAL");
    expectErrno(k.loadModule({ name: 5 } as never), "EINVAL");
    expectErrno(k.loadModule({ name: "x", init: 5 } as never), "EINVAL");
    expectErrno(k.loadModule({ name: "x", exit: "no" } as never), "EINVAL");
    expectErrno(k.loadModule({ name: "has space" }), "EINVAL");
    expect(k.modules.size).toBe(0);
  });
});
