import { Deferred, Effect, Fiber } from "effect";
import fc from "fast-check";
import * as TE from "fp-ts/lib/TaskEither.js";
import { describe, expect, it } from "vitest";
import { migratorFromTaskEither } from "../../src/fp-ts";
import type { Task } from "../../src/include/kernel";
import type { Module } from "../../src/include/module";
import {
  type BatchOutcome,
  batchPairs,
  ERRNO,
  FOLIO_CONTENT_COPIED,
  folioMarkContentCopied,
  formatReasonMask,
  type Kernel,
  MIGRATE_ASYNC,
  MIGRATE_REASONS_ALL,
  type Migrator,
  MR_COMPACTION,
  MR_DEMOTION,
  MR_SYSCALL,
  MR_TYPES,
  migrateFoliosMcCopy,
  migratePages,
  migratorFromPromise,
  parseReasonMask,
} from "../../src/index";
import { Srcu } from "../../src/kernel/srcu";
import { folioMcCopy } from "../../src/mm/copy_mc";
import {
  boot,
  expectBytes,
  expectConsistent,
  expectErrno,
  isolateRange,
  mapPattern,
  pattern,
  run,
} from "../../src/testing/index";

/** A migrator that copies with the default mc copy, for the given reasons. */
const copier = (
  k: Kernel,
  name: string,
  owner: Module | null = null,
  calls = { n: 0 },
): Migrator => ({
  name,
  owner,
  shouldBatch: () => true,
  offloadCopy: (dst, src) =>
    Effect.sync(() => {
      calls.n++;
      return migrateFoliosMcCopy(k, dst, src);
    }),
});

const setup = (pages = 16) => {
  const k = boot();
  const p = run(k.createProcess());
  const addr = mapPattern(p, pages * 4096, 21, false);
  return { k, p, addr, bytes: pages * 4096 };
};

const migrate = (k: Kernel, p: Task, addr: number, bytes: number, nid: number, options = {}) =>
  Effect.gen(function* () {
    const list = isolateRange(p, addr, bytes);
    const r = yield* migratePages(
      k,
      list,
      (src) => k.pageAlloc.allocPages(nid, k.memmap.folioOrder(src), 1),
      null,
      MIGRATE_ASYNC,
      MR_COMPACTION,
      { caller: p, ...options },
    );
    list.release();
    return r;
  });

describe("struct migrator and registration", () => {
  it("rejects a migrator without offloadCopy, or with a bad name, with EINVAL", () => {
    const k = boot();
    const r = k.migrateOffload;
    expectErrno(r.register({ name: "x", owner: null } as never), "EINVAL");
    expectErrno(r.register(null as never), "EINVAL");
    expectErrno(r.register({ ...copier(k, "a"), name: "" }), "EINVAL");
    expectErrno(r.register({ ...copier(k, "a"), name: "x".repeat(33) }), "EINVAL");
    // char name[32] holds 31 bytes and the terminating NUL.
    expectErrno(r.register({ ...copier(k, "a"), name: "x".repeat(32) }), "EINVAL");
    expectErrno(r.register({ ...copier(k, "a"), name: "é".repeat(16) }), "EINVAL");
    expectErrno(r.register({ ...copier(k, "a"), name: "two words" }), "EINVAL");
    expectErrno(r.register({ ...copier(k, "a"), name: "none" }), "EINVAL");
    expect(r.activeName).toBeNull();
    run(r.register({ ...copier(k, "a"), name: "x".repeat(31) }));
    expect(r.activeName).toBe("x".repeat(31));
  });

  it("allows exactly one active migrator: EBUSY for a second, EINVAL when another unregisters", () => {
    const k = boot();
    const a = copier(k, "a");
    const b = copier(k, "b");
    run(k.migrateOffload.start(a));
    expectErrno(k.migrateOffload.register(b), "EBUSY");
    expectErrno(k.migrateOffload.unregister(b), "EINVAL");
    expect(k.migrateOffload.copier).toBe(k.migrateOffload.dispatcher);
    run(k.migrateOffload.stop(a));
    expect(k.migrateOffload.copier).toBeNull();
    expectErrno(k.migrateOffload.unregister(a), "EINVAL");
    run(k.migrateOffload.register(b));
    expect(k.migrateOffload.activeName).toBe("b");
  });

  it("pins the owner module while active; ENODEV when the owner cannot be pinned", async () => {
    const k = boot();
    const release = await Effect.runPromise(Deferred.make<void>());
    let migrator!: Migrator;
    const owner = run(
      k.loadModule({
        name: "drv",
        init: (module) => {
          migrator = copier(k, "drv", module);
          return k.migrateOffload.addProvider(migrator);
        },
        exit: () =>
          Effect.andThen(
            Deferred.await(release),
            Effect.ignore(k.migrateOffload.removeProvider(migrator)),
          ),
      }),
    );
    expect(k.migrateOffload.providerNames).toEqual(["drv"]);
    run(k.migrateOffload.register(migrator));
    expect(owner.refcnt).toBe(1);
    expect(run(k.fs.read("/sys/module/drv/refcnt"))).toBe("1\n");
    expectErrno(k.unloadModule("drv"), "EBUSY");
    run(k.migrateOffload.unregister(migrator));
    expect(owner.refcnt).toBe(0);
    // While the module's exit runs it is going, and cannot be pinned.
    const unloading = Effect.runFork(k.unloadModule("drv"));
    await Effect.runPromise(Effect.yieldNow);
    expect(owner.state).toBe("going");
    expect(run(k.fs.read("/sys/module/drv/initstate"))).toBe("going\n");
    expectErrno(k.migrateOffload.register(migrator), "ENODEV");
    await Effect.runPromise(Deferred.succeed(release, undefined));
    await Effect.runPromise(Fiber.join(unloading));
    expect(k.modules.has("drv")).toBe(false);
    expect(k.migrateOffload.providerNames).toEqual([]);
    expect(k.fs.exists("/sys/module/drv")).toBe(false);
    expectErrno(k.unloadModule("drv"), "ENOENT");
    expectErrno(k.loadModule({ name: "bad name" }), "EINVAL");
  });
});

describe("the reason policy", () => {
  it("parses and prints masks as kernel reason names, round trip (property)", () => {
    expect(formatReasonMask(parseReasonMask("compaction,demotion") as number)).toBe(
      "compaction,demotion",
    );
    expect(parseReasonMask("all\n")).toBe(MIGRATE_REASONS_ALL);
    expect(parseReasonMask("none")).toBe(0);
    expect(parseReasonMask("demotion,compaction")).toBe((1 << MR_COMPACTION) | (1 << MR_DEMOTION));
    for (const bad of ["", "compaction,", "bogus", "compaction,,demotion", "All"]) {
      expect((parseReasonMask(bad) as { errno: string }).errno).toBe("EINVAL");
    }
    fc.assert(
      fc.property(fc.integer({ min: 0, max: (1 << MR_TYPES) - 1 }), (mask) => {
        expect(parseReasonMask(formatReasonMask(mask))).toBe(mask);
      }),
    );
  });

  it("parses a raw number of MR_* bits too, as v6 does, and refuses a bit that is no reason", () => {
    const both = (1 << MR_COMPACTION) | (1 << MR_DEMOTION);
    expect(parseReasonMask(`${both}\n`)).toBe(both);
    expect(parseReasonMask(`0x${both.toString(16)}`)).toBe(both);
    expect(parseReasonMask("0")).toBe(0);
    expect((parseReasonMask(`${1 << MR_TYPES}`) as { errno: string }).errno).toBe("EINVAL");
    expect((parseReasonMask("4294967296") as { errno: string }).errno).toBe("ERANGE");
    expect((parseReasonMask("-1") as { errno: string }).errno).toBe("EINVAL");
    expect((parseReasonMask("12abc") as { errno: string }).errno).toBe("EINVAL");
  });

  it("offloads a batch only when the mask allows the reason and shouldBatch agrees; default no", async () => {
    const { k, p, addr, bytes } = setup();
    const calls = { n: 0 };
    const withDefault: Migrator = {
      name: "lazy",
      owner: null,
      offloadCopy: copier(k, "lazy", null, calls).offloadCopy,
    };
    run(k.migrateOffload.register(withDefault));
    await Effect.runPromise(migrate(k, p, addr, bytes, 1));
    expect(calls.n).toBe(0);
    run(k.migrateOffload.unregister(withDefault));
    const picky: Migrator = {
      ...copier(k, "picky", null, calls),
      shouldBatch: (reason) => reason !== MR_SYSCALL,
    };
    run(k.migrateOffload.register(picky, 1 << MR_SYSCALL));
    await Effect.runPromise(migrate(k, p, addr, bytes, 0));
    expect(calls.n).toBe(0);
    run(k.migrateOffload.setReasonMask(MIGRATE_REASONS_ALL));
    await Effect.runPromise(migrate(k, p, addr, bytes, 1));
    expect(calls.n).toBe(1);
    expectBytes(run(p.read(addr, bytes)), pattern(bytes, 21));
  });

  it("shouldBatch sees the batch about to be formed; one it turns down never reaches offloadCopy and moves by the per-folio copy", async () => {
    const { k, p, addr, bytes } = setup(16);
    const calls = { n: 0 };
    const seen: unknown[] = [];
    const big: Migrator = {
      ...copier(k, "big", null, calls),
      // Only batches of at least 32 folios: the 16 base pages here are turned down.
      shouldBatch: (_reason, batch) => {
        seen.push(batch);
        return batch !== undefined && batch.folios >= 32;
      },
    };
    run(k.migrateOffload.register(big));
    const moved = await Effect.runPromise(migrate(k, p, addr, bytes, 1));
    expect(moved).toMatchObject({ rc: 0, nrSucceeded: 16 });
    // One batch of MR_COMPACTION (16 pages < NR_MAX_BATCHED_MIGRATION): asked once, with its
    // 16 folios of 4 KiB.
    expect(seen).toEqual([{ folios: 16, bytes: 16 * 4096, pageSize: 4096 }]);
    expect(calls.n).toBe(0);
    expect(k.migrateOffload.counters("big")).toMatchObject({
      batchesOffloaded: 0,
      batchesDeclined: 0,
      foliosCopied: 0,
      foliosFallenBack: 0,
    });
    for (let i = 0; i < 16; i++) expect(run(p.nodeOf(addr + i * 4096))).toBe(1);
    expectBytes(run(p.read(addr, bytes)), pattern(bytes, 21));
    expectConsistent(k);
  });

  it("batchDone hears how each batch it was asked about ended: turned down, offloaded, or declined in offloadCopy", async () => {
    const { k, p, addr, bytes } = setup(16);
    const outcomes: BatchOutcome[] = [];
    // The first batch turned down in shouldBatch, the second copied, the third declined in
    // offloadCopy (-EOPNOTSUPP: the CPU copies it in the batch flow).
    let asked = 0;
    let copies = 0;
    const m: Migrator = {
      ...copier(k, "told"),
      shouldBatch: () => ++asked !== 1,
      offloadCopy: (dst, src) =>
        Effect.sync(() => (++copies === 1 ? migrateFoliosMcCopy(k, dst, src) : -ERRNO.EOPNOTSUPP)),
      batchDone: (outcome) => {
        outcomes.push(outcome);
      },
    };
    run(k.migrateOffload.register(m));
    for (const nid of [1, 0, 1])
      expect(await Effect.runPromise(migrate(k, p, addr, bytes, nid))).toMatchObject({ rc: 0 });
    const batch = { folios: 16, bytes: 16 * 4096, pageSize: 4096 };
    expect(outcomes.map(({ ns: _, ...o }) => o)).toEqual([
      { batch, batched: false, copied: false },
      { batch, batched: true, copied: true },
      { batch, batched: true, copied: false },
    ]);
    for (const o of outcomes) expect(o.ns).toBeGreaterThanOrEqual(0);
    expectBytes(run(p.read(addr, bytes)), pattern(bytes, 21));
    expectConsistent(k);
  });
});

describe("batchDone goes to the migrator the batch was formed under", () => {
  it("the copier has a batchDone only while the active migrator has one", async () => {
    const k = boot();
    const quiet = copier(k, "dcbm");
    const told: Migrator = { ...copier(k, "CPU_MT_COPY"), batchDone: () => {} };
    run(k.migrateOffload.addProvider(quiet));
    run(k.migrateOffload.addProvider(told));
    await Effect.runPromise(k.migrateOffload.switchTo("dcbm"));
    expect(k.migrateOffload.copier!.batchDone).toBeUndefined();
    expect(k.migrateOffload.copierFor("dcbm")!.batchDone).toBeUndefined();
    await Effect.runPromise(k.migrateOffload.switchTo("CPU_MT_COPY"));
    expect(k.migrateOffload.copier!.batchDone).toBeTypeOf("function");
    expect(k.migrateOffload.copierFor("CPU_MT_COPY")!.batchDone).toBeTypeOf("function");
  });

  it("a migrator switched to after shouldBatch hears nothing of the batch, nor does the old one", async () => {
    const k = boot();
    const heard: string[] = [];
    const told = (name: string): Migrator => ({
      ...copier(k, name),
      shouldBatch: () => true,
      batchDone: () => {
        heard.push(name);
      },
    });
    const a = told("dcbm");
    const b = told("CPU_MT_COPY");
    run(k.migrateOffload.addProvider(a));
    run(k.migrateOffload.addProvider(b));
    await Effect.runPromise(k.migrateOffload.switchTo("dcbm"));
    const batch = { folios: 16, bytes: 16 * 4096, pageSize: 4096 };
    const outcome = { batch, batched: true, copied: true, ns: 1e6 };
    // Formed and ended under dcbm: dcbm hears it.
    k.migrateOffload.copier!.shouldBatch(MR_SYSCALL, batch);
    k.migrateOffload.copier!.batchDone?.(outcome);
    // Formed under dcbm, ended after the switch to CPU_MT_COPY: no one hears it.
    const formed = { ...batch };
    k.migrateOffload.copier!.shouldBatch(MR_SYSCALL, formed);
    await Effect.runPromise(k.migrateOffload.switchTo("CPU_MT_COPY"));
    k.migrateOffload.copier!.batchDone?.({ ...outcome, batch: formed });
    expect(heard).toEqual(["dcbm"]);
  });

  it("batches formed before the earlier ones ended are each told once, in any order of their ends", async () => {
    const k = boot();
    const heard: number[] = [];
    const m: Migrator = {
      ...copier(k, "CPU_MT_COPY"),
      shouldBatch: () => true,
      batchDone: (o) => {
        heard.push(o.batch.folios);
      },
    };
    run(k.migrateOffload.addProvider(m));
    await Effect.runPromise(k.migrateOffload.switchTo("CPU_MT_COPY"));
    const c = k.migrateOffload.copier!;
    const batches = [1, 2, 3, 4].map((folios) => ({
      folios,
      bytes: folios * 4096,
      pageSize: 4096,
    }));
    // Four batches in flight at once (four callers), ending out of order: 2, 4, 1, 3.
    for (const b of batches) c.shouldBatch(MR_SYSCALL, b);
    for (const i of [1, 3, 0, 2])
      c.batchDone?.({ batch: batches[i]!, batched: true, copied: true, ns: 1e6 });
    // A second report of a batch already told is no one's.
    c.batchDone?.({ batch: batches[1]!, batched: true, copied: true, ns: 1e6 });
    // A batch never formed is no one's either.
    c.batchDone?.({
      batch: { folios: 9, bytes: 9 * 4096, pageSize: 4096 },
      batched: false,
      copied: false,
      ns: 1e6,
    });
    expect(heard).toEqual([2, 4, 1, 3]);
  });
});

describe("the control files", () => {
  it("lists providers with the active one in brackets, and switches atomically on write", async () => {
    const k = boot();
    const path = "/sys/kernel/mm/migration/offload_migrator";
    expect(run(k.fs.read(path))).toBe("[none]\n");
    const a = copier(k, "dcbm");
    const b = copier(k, "CPU_MT_COPY");
    run(k.migrateOffload.addProvider(a));
    run(k.migrateOffload.addProvider(b));
    expect(run(k.fs.read(path))).toBe("[none] dcbm CPU_MT_COPY\n");
    expect(await Effect.runPromise(k.fs.write(path, "CPU_MT_COPY\n"))).toBe(12);
    expect(run(k.fs.read(path))).toBe("none dcbm [CPU_MT_COPY]\n");
    await Effect.runPromise(k.fs.write(path, "dcbm"));
    expect(k.migrateOffload.activeName).toBe("dcbm");
    const err = expectErrno(k.fs.write(path, "dma"), "EINVAL");
    expect(err.message).toContain(path);
    expect(k.migrateOffload.activeName).toBe("dcbm");
    expectErrno(k.migrateOffload.removeProvider(a), "EBUSY");
    await Effect.runPromise(k.fs.write(path, "none"));
    expect(run(k.fs.read(path))).toBe("[none] dcbm CPU_MT_COPY\n");
    expect(k.migrateOffload.copier).toBeNull();
  });

  it("reads and writes the active migrator's reason mask, refusing bad input unchanged", () => {
    const k = boot();
    const path = "/sys/kernel/mm/migration/offload_reasons";
    expect(run(k.fs.read(path))).toBe("none\n");
    expectErrno(k.fs.write(path, "compaction"), "ENODEV");
    run(k.migrateOffload.register(copier(k, "m"), (1 << MR_COMPACTION) | (1 << MR_DEMOTION)));
    expect(run(k.fs.read(path))).toBe("compaction,demotion\n");
    run(k.fs.write(path, "numa_misplaced,damon\n"));
    expect(run(k.fs.read(path))).toBe("numa_misplaced,damon\n");
    expectErrno(k.fs.write(path, "numa_misplaced,bogus"), "EINVAL");
    expect(run(k.fs.read(path))).toBe("numa_misplaced,damon\n");
    run(k.fs.write(path, "all"));
    expect(run(k.fs.read(path))).toBe("all\n");
    expectErrno(k.migrateOffload.setReasonMask(1 << 12), "EINVAL");
  });
});

describe("fallback rules and counters (a test migrator)", () => {
  type Behaviour = "copy" | "fail" | "decline" | "partial" | "crash";
  const testMigrator = (k: Kernel, behaviour: Behaviour): Migrator => ({
    name: `test-${behaviour}`,
    owner: null,
    shouldBatch: () => true,
    offloadCopy: (dst, src) =>
      Effect.suspend(() => {
        if (behaviour === "fail") return Effect.succeed(-ERRNO.EIO);
        if (behaviour === "decline") return Effect.succeed(-ERRNO.EOPNOTSUPP);
        if (behaviour === "crash") return Effect.die(new Error("driver bug"));
        let d = dst.first;
        let i = 0;
        for (const s of src) {
          if ((behaviour === "copy" || i++ % 3 === 0) && folioMcCopy(k, d, s) === 0)
            k.memmap.set(d, FOLIO_CONTENT_COPIED);
          d = k.memmap.lru.next[d]! - 1;
        }
        return Effect.succeed(behaviour === "copy" ? 0 : -ERRNO.EIO);
      }),
  });

  for (const behaviour of ["copy", "fail", "decline", "partial", "crash"] as const) {
    it(`${behaviour}: the outcome equals the serial path, and the counters say what happened`, async () => {
      const serial = setup(12);
      const serialResult = await Effect.runPromise(
        migrate(serial.k, serial.p, serial.addr, serial.bytes, 1),
      );
      const { k, p, addr, bytes } = setup(12);
      const m = testMigrator(k, behaviour);
      run(k.migrateOffload.register(m));
      const r = await Effect.runPromise(migrate(k, p, addr, bytes, 1));
      expect(r).toEqual(serialResult);
      expectBytes(run(p.read(addr, bytes)), run(serial.p.read(serial.addr, serial.bytes)));
      expect(k.vmstat.snapshot()).toEqual(serial.k.vmstat.snapshot());
      const c = k.migrateOffload.counters(m.name)!;
      const expected = {
        copy: {
          batchesOffloaded: 1,
          foliosCopied: 12,
          foliosFallenBack: 0,
          batchesDeclined: 0,
          copyFailures: 0,
          shouldBatchFailures: 0,
          batchDoneFailures: 0,
        },
        fail: {
          batchesOffloaded: 0,
          foliosCopied: 0,
          foliosFallenBack: 12,
          batchesDeclined: 0,
          copyFailures: 1,
          shouldBatchFailures: 0,
          batchDoneFailures: 0,
        },
        decline: {
          batchesOffloaded: 0,
          foliosCopied: 0,
          foliosFallenBack: 12,
          batchesDeclined: 1,
          copyFailures: 0,
          shouldBatchFailures: 0,
          batchDoneFailures: 0,
        },
        partial: {
          batchesOffloaded: 0,
          foliosCopied: 4,
          foliosFallenBack: 8,
          batchesDeclined: 0,
          copyFailures: 1,
          shouldBatchFailures: 0,
          batchDoneFailures: 0,
        },
        crash: {
          batchesOffloaded: 0,
          foliosCopied: 0,
          foliosFallenBack: 12,
          batchesDeclined: 0,
          copyFailures: 1,
          shouldBatchFailures: 0,
          batchDoneFailures: 0,
        },
      }[behaviour];
      expect(c).toEqual(expected);
      expect(p.migration.offloadBatches).toBe(1);
      expect(run(k.fs.read("/sys/kernel/mm/migration/offload_stats"))).toContain(
        `${m.name} batches_offloaded ${expected.batchesOffloaded} folios_copied ${expected.foliosCopied}`,
      );
      expectConsistent(k);
    });
  }

  it("hangs until released: unregister waits for the in-flight copy, and the old migrator is never called again", async () => {
    const { k, p, addr, bytes } = setup(8);
    const gate = await Effect.runPromise(Deferred.make<void>());
    let calls = 0;
    const owner = run(k.loadModule({ name: "slowdrv" }));
    const m: Migrator = {
      name: "slow",
      owner,
      shouldBatch: () => {
        calls++;
        return true;
      },
      offloadCopy: (dst, src) =>
        Effect.andThen(
          Effect.sync(() => calls++),
          Effect.andThen(
            Deferred.await(gate),
            Effect.sync(() => migrateFoliosMcCopy(k, dst, src)),
          ),
        ),
    };
    run(k.migrateOffload.register(m));
    const migration = Effect.runFork(migrate(k, p, addr, bytes, 1));
    await Effect.runPromise(Effect.yieldNow);
    expect(k.migrateOffload.srcu.activeReaders).toBe(1);
    const unregister = Effect.runFork(k.migrateOffload.unregister(m));
    await Effect.runPromise(Effect.yieldNow);
    expect(unregister.pollUnsafe()).toBeUndefined();
    expect(owner.refcnt).toBe(1);
    expect(k.migrateOffload.copier).toBeNull();
    await Effect.runPromise(Deferred.succeed(gate, undefined));
    expect((await Effect.runPromise(Fiber.join(migration))).rc).toBe(0);
    await Effect.runPromise(Fiber.join(unregister));
    expect(owner.refcnt).toBe(0);
    const before = calls;
    await Effect.runPromise(migrate(k, p, addr, bytes, 0));
    expect(calls).toBe(before);
    expectBytes(run(p.read(addr, bytes)), pattern(bytes, 21));
  });

  it("lets a caller name a registered provider for its own call", async () => {
    const { k, p, addr, bytes } = setup(8);
    const active = { n: 0 };
    const chosen = { n: 0 };
    run(k.migrateOffload.register(copier(k, "active", null, active)));
    run(k.migrateOffload.addProvider(copier(k, "chosen", null, chosen)));
    await Effect.runPromise(migrate(k, p, addr, bytes, 1, { migrator: "chosen" }));
    expect([active.n, chosen.n]).toEqual([0, 1]);
    await Effect.runPromise(migrate(k, p, addr, bytes, 0));
    expect([active.n, chosen.n]).toEqual([1, 1]);
    expectErrno(migrate(k, p, addr, bytes, 1, { migrator: "nope" }), "EINVAL");
    expectBytes(run(p.read(addr, bytes)), pattern(bytes, 21));
  });

  it("charges copy time to the initiating task, not to others", async () => {
    const { k, p, addr, bytes } = setup(4);
    const other = run(k.createProcess());
    run(k.migrateOffload.register(copier(k, "m")));
    await Effect.runPromise(migrate(k, p, addr, bytes, 1));
    expect(p.migration.offloadBatches).toBe(1);
    expect(p.migration.offloadCopyMs).toBeGreaterThanOrEqual(0);
    expect(other.migration).toEqual({
      offloadBatches: 0,
      offloadCopyMs: 0,
      migrationEntryWaits: 0,
    });
  });
});

describe("adapters for authors who do not use Effect", () => {
  it("fromPromise and fromTaskEither copy and mark; a rejection falls back", async () => {
    for (const make of [
      (k: Kernel) =>
        migratorFromPromise({
          name: "promise",
          owner: null,
          shouldBatch: () => true,
          offloadCopy: async (dst, src) => migrateFoliosMcCopy(k, dst, src),
        }),
      (k: Kernel) =>
        migratorFromTaskEither({
          name: "taskeither",
          owner: null,
          shouldBatch: () => true,
          offloadCopy: (dst, src) => () =>
            Promise.resolve(
              migrateFoliosMcCopy(k, dst, src) === 0
                ? { _tag: "Right", right: undefined }
                : { _tag: "Left", left: -ERRNO.EIO },
            ) as never,
        }),
      (_k: Kernel) =>
        migratorFromPromise({
          name: "rejects",
          owner: null,
          shouldBatch: () => true,
          offloadCopy: () => Promise.reject(new Error("no")),
        }),
      (_k: Kernel) =>
        migratorFromTaskEither({
          name: "left",
          owner: null,
          shouldBatch: () => true,
          offloadCopy: () => TE.left(ERRNO.EOPNOTSUPP),
        }),
    ]) {
      const { k, p, addr, bytes } = setup(4);
      const m = make(k);
      run(k.migrateOffload.register(m));
      expect((await Effect.runPromise(migrate(k, p, addr, bytes, 1))).rc).toBe(0);
      expectBytes(run(p.read(addr, bytes)), pattern(bytes, 21));
      const c = k.migrateOffload.counters(m.name)!;
      if (m.name === "rejects") expect(c.copyFailures).toBe(1);
      else if (m.name === "left") expect(c.batchesDeclined).toBe(1);
      else expect(c.foliosCopied).toBe(4);
    }
  });

  /**
   * Migrates four pages to node 1 through a `migratorFromPromise` migrator whose callback copies
   * and marks every folio it can, then resolves to `resolved`; the bytes must arrive either way.
   * Returns the migrator's counters.
   */
  const migrateThroughPromise = async (resolved: () => unknown) => {
    const { k, p, addr, bytes } = setup(4);
    const m = migratorFromPromise({
      name: "promised",
      owner: null,
      shouldBatch: () => true,
      offloadCopy: async (dst, src) => {
        for (const [d, s] of batchPairs(dst, src))
          if (folioMcCopy(k, d, s) === 0) folioMarkContentCopied(k, d);
        return resolved() as never;
      },
    });
    run(k.migrateOffload.register(m));
    expect((await Effect.runPromise(migrate(k, p, addr, bytes, 1))).rc).toBe(0);
    expectBytes(run(p.read(addr, bytes)), pattern(bytes, 21));
    return k.migrateOffload.counters("promised");
  };

  it("fromPromise: an async callback that ends without return copied the batch (0, not a failure)", async () => {
    // What `async (dst, src) => { ...copy and mark... }` resolves to.
    expect(await migrateThroughPromise(() => undefined)).toMatchObject({
      batchesOffloaded: 1,
      foliosCopied: 4,
      foliosFallenBack: 0,
      copyFailures: 0,
    });
  });

  it("fromPromise: resolving to null or a positive number is a broken callback: -EIO, every folio falls back", async () => {
    for (const value of [null, 3]) {
      expect(await migrateThroughPromise(() => value)).toMatchObject({
        foliosCopied: 0,
        foliosFallenBack: 4,
        copyFailures: 1,
      });
    }
  });
});

describe("SRCU", () => {
  it("synchronize waits for readers that began before it, not for later ones", async () => {
    const srcu = new Srcu();
    const early = srcu.readLock();
    const sync = Effect.runFork(srcu.synchronize());
    await Effect.runPromise(Effect.yieldNow);
    const late = srcu.readLock();
    expect(sync.pollUnsafe()).toBeUndefined();
    srcu.readUnlock(early);
    await Effect.runPromise(Fiber.join(sync));
    expect(srcu.completed).toBe(1);
    const second = Effect.runFork(srcu.synchronize());
    await Effect.runPromise(Effect.yieldNow);
    expect(second.pollUnsafe()).toBeUndefined();
    srcu.readUnlock(late);
    await Effect.runPromise(Fiber.join(second));
    expect(srcu.activeReaders).toBe(0);
  });

  it("refuses to unlock an index no read lock returned, counting nothing", () => {
    const srcu = new Srcu();
    const idx = srcu.readLock();
    expect(() => srcu.readUnlock(2)).toThrow(new RangeError("srcu_read_unlock: bad index 2"));
    expect(srcu.activeReaders).toBe(1);
    srcu.readUnlock(idx);
    expect(srcu.activeReaders).toBe(0);
  });
});
