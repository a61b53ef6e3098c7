import { Effect } from "effect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Module } from "../../src/include/module";
import { type Migrator, migrateFoliosMcCopy } from "../../src/index";
import {
  RaceMigrate,
  type RaceModel,
  RaceReasons,
  RaceSwitch,
  type RaceWorld,
  raceOutcome,
  run,
  runRegistryRaces,
} from "../../src/testing/index";

const DRIVERS = ["drvA", "drvB"] as const;
type Driver = (typeof DRIVERS)[number];

interface Real extends RaceWorld {
  readonly migrators: Map<Driver, Migrator>;
  /** Calls into each driver's migrator that have not returned. */
  readonly inFlight: Map<Driver, number>;
}

/** A driver module whose migrator copies for real, at a moment the scheduler picks. */
const driver = (r: Real, name: Driver) => ({
  name,
  init: (module: Module) => {
    const enter = (what: string) => {
      if (r.retired.has(name))
        r.violations.push(`${name}.${what} called after its unregistration returned`);
      if (module.state !== "live" || module.refcnt < 1) {
        r.violations.push(
          `${name}.${what} called while its module is ${module.state} with refcnt ${module.refcnt}`,
        );
      }
    };
    const migrator: Migrator = {
      name,
      owner: module,
      shouldBatch: () => {
        enter("shouldBatch");
        return true;
      },
      offloadCopy: (dst, src) =>
        Effect.gen(function* () {
          enter("offloadCopy");
          r.inFlight.set(name, (r.inFlight.get(name) ?? 0) + 1);
          yield* Effect.promise(() =>
            r.scheduler.schedule(Promise.resolve(), `${name} copy completes`),
          );
          const rc = migrateFoliosMcCopy(r.kernel, dst, src);
          // Still pinned on the way out, and nobody has finished unregistering it meanwhile.
          enter("offloadCopy (returning)");
          r.inFlight.set(name, (r.inFlight.get(name) ?? 0) - 1);
          return rc;
        }),
    };
    r.migrators.set(name, migrator);
    return r.kernel.migrateOffload.addProvider(migrator);
  },
  exit: () =>
    Effect.suspend(() => {
      if ((r.inFlight.get(name) ?? 0) > 0)
        r.violations.push(`${name} unloaded with a call in flight`);
      const migrator = r.migrators.get(name);
      return migrator
        ? Effect.ignore(r.kernel.migrateOffload.removeProvider(migrator))
        : Effect.void;
    }),
});

/** The driver's migrator, which its module's init has made. */
const migratorOf = (r: Real, name: Driver): Migrator => {
  const migrator = r.migrators.get(name);
  if (!migrator) throw new Error(`${name} was never loaded`);
  return migrator;
};

class Load implements fc.AsyncCommand<RaceModel, Real> {
  constructor(readonly name: Driver) {}
  check = () => true;
  async run(m: RaceModel, r: Real) {
    const got = await raceOutcome(r.kernel.loadModule(driver(r, this.name)));
    expect(got).toBe(m.providers.has(this.name) ? "EEXIST" : "ok");
    m.providers.add(this.name);
  }
  toString = () => `load(${this.name})`;
}

class Unload implements fc.AsyncCommand<RaceModel, Real> {
  constructor(readonly name: Driver) {}
  check = (m: Readonly<RaceModel>) => m.providers.has(this.name);
  async run(m: RaceModel, r: Real) {
    const got = await raceOutcome(r.kernel.unloadModule(this.name));
    expect(got).toBe(m.active === this.name ? "EBUSY" : "ok");
    if (got === "ok") m.providers.delete(this.name);
  }
  toString = () => `unload(${this.name})`;
}

/** `migrate_offload_register()` called directly, as a driver's init may. */
class Register implements fc.AsyncCommand<RaceModel, Real> {
  constructor(readonly name: Driver) {}
  check = (m: Readonly<RaceModel>) => m.providers.has(this.name);
  async run(m: RaceModel, r: Real) {
    // Registration activates the migrator partway through: it may be called from then on.
    if (!m.active) r.retired.delete(this.name);
    const got = await raceOutcome(r.kernel.migrateOffload.register(migratorOf(r, this.name)));
    expect(got).toBe(m.active ? "EBUSY" : "ok");
    if (got === "ok") m.active = this.name;
  }
  toString = () => `register(${this.name})`;
}

/** `migrate_offload_unregister()` called directly, as a driver's exit may. */
class Unregister implements fc.AsyncCommand<RaceModel, Real> {
  constructor(readonly name: Driver) {}
  check = (m: Readonly<RaceModel>) => m.providers.has(this.name);
  async run(m: RaceModel, r: Real) {
    const got = await raceOutcome(r.kernel.migrateOffload.unregister(migratorOf(r, this.name)));
    expect(got).toBe(m.active === this.name ? "ok" : "EINVAL");
    if (got === "ok") {
      m.active = null;
      r.retired.add(this.name);
    }
  }
  toString = () => `unregister(${this.name})`;
}

const commands = [
  fc.constantFrom(...DRIVERS).map((d) => new Load(d)),
  fc.constantFrom(...DRIVERS).map((d) => new Unload(d)),
  fc.constantFrom(...DRIVERS).map((d) => new Register(d)),
  fc.constantFrom(...DRIVERS).map((d) => new Unregister(d)),
  fc.constantFrom(...DRIVERS, "none", "bogus").map((t) => new RaceSwitch(t)),
  fc
    .constantFrom("all", "compaction", "none", "demotion,damon")
    .map((mask) => new RaceReasons(mask)),
  fc.constantFrom(0, 1).map((nid) => new RaceMigrate(nid)),
  fc.constantFrom(0, 1).map((nid) => new RaceMigrate(nid)),
];

describe("the registry under races (model-based, fc.commands + fc.scheduler)", () => {
  it("never calls a migrator after its unregistration returned, never unloads a module in use, never loses data", async () => {
    await runRegistryRaces(
      {
        name: "raw register and unregister",
        commands,
        start: async (world) => {
          const real: Real = Object.assign(world, { migrators: new Map(), inFlight: new Map() });
          // Both drivers start loaded and drvA active, so that every command meets a live registry.
          for (const name of DRIVERS) run(real.kernel.loadModule(driver(real, name)));
          run(real.kernel.migrateOffload.register(migratorOf(real, "drvA")));
          const model: RaceModel = { providers: new Set<string>(DRIVERS), active: "drvA" };
          return { model, world: real };
        },
      },
      { numRuns: 150, maxCommands: 25, pages: 16, stuckMs: 3000 },
    );
  }, 120_000);
});
