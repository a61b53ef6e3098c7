import { Effect, Fiber } from "effect";
import { describe, expect, it } from "vitest";
import {
  defineMigratorModule,
  type Kernel,
  kstrtobool,
  type MigratorModule,
  MR_COMPACTION,
  MR_SYSCALL,
  migrateFoliosMcCopy,
} from "../../src/index";
import { boot, expectErrno, run } from "../../src/testing/index";

const DIR = "/sys/kernel/toy";
const MIGRATOR = "/sys/kernel/mm/migration/offload_migrator";
const runP = <A, E>(effect: Effect.Effect<A, E>): Promise<A> => Effect.runPromise(effect);
const errnoOf = <A, E>(effect: Effect.Effect<A, E>): Promise<string> =>
  runP(Effect.flip(effect)).then((error) => (error as { errno: string }).errno);

/** A driver built with the helper: it copies with the kernel's own copy. */
const toy = (k: Kernel, where: "parameters" | "sysfs" = "sysfs") => {
  const events: string[] = [];
  const mod: MigratorModule = defineMigratorModule(k, {
    name: "toy",
    sysfsDir: DIR,
    migrator: {
      name: "TOY",
      shouldBatch: (reason) => mod.allows(reason),
      offloadCopy: (dst, src) => Effect.sync(() => migrateFoliosMcCopy(k, dst, src)),
    },
    parseOffloading: kstrtobool,
    reasonMask: { file: "reasons", where, mode: 0o644, initial: 1 << MR_SYSCALL },
    attributes: { version: { mode: 0o444, show: () => "1\n" } },
    prepare: () => Effect.sync(() => void events.push("started")),
    exit: () => Effect.sync(() => events.push("exit")),
  });
  return { mod, events };
};

describe("defineMigratorModule: the skeleton of a migrator driver", () => {
  it("creates offloading, the driver's files and its reason mask, and offers the migrator", async () => {
    const k = boot();
    const { mod, events } = toy(k);
    const loaded = run(k.loadModule(mod.definition));
    expect(run(k.fs.list(DIR))).toEqual(["offloading", "reasons", "version"]);
    expect(run(k.fs.read(MIGRATOR))).toBe("[none] TOY\n");
    expect(mod.migrator.owner).toBe(loaded);
    expect(run(k.fs.read(`${DIR}/reasons`))).toBe("syscall_or_cpuset\n");
    expect([mod.allows(MR_SYSCALL), mod.allows(MR_COMPACTION)]).toEqual([true, false]);
    await runP(k.fs.write(`${DIR}/reasons`, "compaction"));
    expect([mod.allows(MR_SYSCALL), mod.allows(MR_COMPACTION)]).toEqual([false, true]);
    expect(await errnoOf(k.fs.write(`${DIR}/reasons`, "never"))).toBe("EINVAL");
    expect(await errnoOf(k.fs.write(`${DIR}/offloading`, "x"))).toBe("EINVAL");
    await runP(k.fs.write(`${DIR}/offloading`, "1"));
    expect([run(k.fs.read(`${DIR}/offloading`)), mod.offloading]).toEqual(["1\n", true]);
    expect(run(k.fs.read(MIGRATOR))).toBe("none [TOY]\n");
    expect(events).toEqual(["started"]);
    await runP(k.fs.write(`${DIR}/offloading`, "0"));
    await runP(k.unloadModule("toy"));
    expect(events).toEqual(["started", "exit"]);
    expect(k.fs.exists(DIR)).toBe(false);
    expect(run(k.fs.read(MIGRATOR))).toBe("[none]\n");
  });

  it("puts a reason mask kept as a module parameter under /sys/module/<name>/parameters", () => {
    const k = boot();
    const { mod } = toy(k, "parameters");
    run(k.loadModule(mod.definition));
    expect(run(k.fs.list(DIR))).toEqual(["offloading", "version"]);
    expect(run(k.fs.read("/sys/module/toy/parameters/reasons"))).toBe("syscall_or_cpuset\n");
  });

  it("serialises writes to offloading on the driver lock", async () => {
    const k = boot();
    const { mod, events } = toy(k);
    run(k.loadModule(mod.definition));
    await runP(k.fs.write(`${DIR}/offloading`, "1"));
    // A call into the migrator is in flight: switching it off waits for its grace period.
    const srcu = k.migrateOffload.srcu;
    const idx = srcu.readLock();
    const first = Effect.runFork(k.fs.write(`${DIR}/offloading`, "0"));
    const second = Effect.runFork(k.fs.write(`${DIR}/offloading`, "0"));
    const third = Effect.runFork(k.fs.write(`${DIR}/offloading`, "1"));
    await runP(Effect.promise(() => new Promise((r) => setTimeout(r, 20))));
    // The registry already reads "off", but the later writes wait for the first to return.
    expect(mod.offloading).toBe(false);
    expect([first, second, third].map((f) => f.pollUnsafe())).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
    srcu.readUnlock(idx);
    expect(await runP(Fiber.join(first))).toBe(1);
    expect(await runP(Fiber.join(second))).toBe(1);
    expect(await runP(Fiber.join(third))).toBe(1);
    expect(mod.offloading).toBe(true);
    expect(events).toEqual(["started", "started"]);
  });

  it("setOffloading waits for the driver lock", async () => {
    const k = boot();
    const { mod } = toy(k);
    run(k.loadModule(mod.definition));
    const taken = Effect.runFork(mod.lock.withPermit(Effect.never));
    await runP(Effect.yieldNow);
    const on = Effect.runFork(mod.setOffloading(true));
    await runP(Effect.yieldNow);
    expect([on.pollUnsafe(), mod.offloading]).toEqual([undefined, false]);
    await runP(Fiber.interrupt(taken));
    expect(await runP(Fiber.join(on))).toBe(0);
    expect(mod.offloading).toBe(true);
  });

  it("fails a load whose migrator name is taken with EEXIST and leaves no directory behind", () => {
    const k = boot();
    run(
      k.migrateOffload.addProvider({
        name: "TOY",
        owner: null,
        offloadCopy: () => Effect.succeed(-95),
      }),
    );
    const { mod } = toy(k, "parameters");
    expectErrno(k.loadModule(mod.definition), "EEXIST");
    expect(k.fs.exists(DIR)).toBe(false);
    expect(k.fs.exists("/sys/module/toy")).toBe(false);
    expect(k.modules.has("toy")).toBe(false);
    expect(k.migrateOffload.providerNames).toEqual(["TOY"]);
  });
});
