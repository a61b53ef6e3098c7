/**
 * Model-based race tests of the copy-offload registry, for any migrator.
 *
 * {@link verifyRegistryRaces} drives a {@link MigratorSubject} with `fc.commands` (load, unload,
 * switch through `offload_migrator`, change `offload_reasons`, start migrations that run on in
 * the background) while `fc.scheduler` decides when each offloaded copy begins and when its
 * result returns to `migrate_pages_batch()`. It checks the registry's promises (after
 * `migrate_offload_unregister()` returns, the migrator is never called again; a module is never
 * unloaded or called while a call into it is in flight) through the `mm_migrate_offload`
 * tracepoint, and that no byte is lost. The harness is core's `runRegistryRaces`
 * (`@migrate-offload/core/testing`); this module adds the subject's load and unload and the
 * kernel's serial copy as the other migrator to switch to.
 *
 * @module
 */
import {
  expectOutcome,
  RaceMigrate,
  type RaceModel,
  RaceReasons,
  type RaceRunOptions,
  RaceSwitch,
  type RaceWorld,
  raceOutcome,
  runRegistryRaces,
} from "@migrate-offload/core/testing";
import { Effect } from "effect";
import fc from "fast-check";
import { type MigratorSubject, serialCopyModule } from "./conformance";

const REFERENCE = "serial_copy";

interface Model extends RaceModel {
  loaded: boolean;
}

interface Real extends RaceWorld {
  readonly subject: MigratorSubject;
}

class Load implements fc.AsyncCommand<Model, Real> {
  /** Loading makes the subject active, which needs no other migrator active. */
  check = (m: Readonly<Model>) => !m.loaded && m.active === null;
  async run(m: Model, r: Real) {
    const k = r.kernel;
    const before = new Set(k.migrateOffload.providerNames);
    const known = r.aliases.get("subject");
    // Loading activates the subject partway through: a migration waiting to copy may call it
    // from then on, before load returns.
    if (known) r.retired.delete(known);
    const got = await raceOutcome(r.subject.load(k));
    expectOutcome(r, "load", got, "ok");
    if (got !== "ok") return;
    const name = known ?? k.migrateOffload.providerNames.find((n) => !before.has(n)) ?? null;
    if (name) {
      r.aliases.set("subject", name);
      m.providers.add(name);
    }
    m.loaded = true;
    m.active = name;
    expectOutcome(r, "active after load", String(k.migrateOffload.activeName), String(name));
  }
  toString = () => "load";
}

class Unload implements fc.AsyncCommand<Model, Real> {
  check = (m: Readonly<Model>) => m.loaded;
  async run(m: Model, r: Real) {
    const got = await raceOutcome(r.subject.unload(r.kernel));
    expectOutcome(r, "unload", got, "ok");
    if (got !== "ok") return;
    const name = r.aliases.get("subject");
    m.loaded = false;
    if (name) {
      if (m.active === name) m.active = null;
      m.providers.delete(name);
      r.retired.add(name);
    }
  }
  toString = () => "unload";
}

const commands = [
  fc.constant(new Load()),
  fc.constant(new Unload()),
  fc
    .constantFrom("subject", "reference", "none")
    .map((t) => new RaceSwitch<Model>(t, (m) => t !== "subject" || m.loaded)),
  fc
    .constantFrom("all", "compaction", "none", "demotion,damon")
    .map((mask) => new RaceReasons(mask)),
  fc.constantFrom(0, 1).map((nid) => new RaceMigrate(nid)),
  fc.constantFrom(0, 1).map((nid) => new RaceMigrate(nid)),
];

/** Options of {@link verifyRegistryRaces}: those of core's `runRegistryRaces`. @category Races */
export type RaceOptions = RaceRunOptions;

/**
 * Races a migrator's registration, switching and unloading against migrations in flight, under
 * `fc.scheduler`; rejects with the shrunk command sequence and what broke.
 *
 * Checks the registry promises of the series (`mm/migrate_copy_offload.c`): once
 * `migrate_offload_unregister()` returns, the migrator is never called again (its SRCU grace
 * period), and its module is never unloaded or called while a call into it is in flight.
 *
 * @category Races
 */
export const verifyRegistryRaces = (
  subject: MigratorSubject,
  options: RaceOptions = {},
): Promise<void> =>
  runRegistryRaces<Model, Real>(
    {
      name: subject.name,
      commands,
      start: async (world) => {
        Effect.runSync(world.kernel.loadModule(serialCopyModule(world.kernel)));
        world.aliases.set("reference", REFERENCE);
        const real: Real = Object.assign(world, { subject });
        // The subject starts loaded and active, so that every command meets a live registry.
        const model: Model = { loaded: false, active: null, providers: new Set([REFERENCE]) };
        await new Load().run(model, real);
        return { model, world: real };
      },
      finish: async (model, real) => {
        if (model.loaded) await new Unload().run(model, real);
      },
    },
    options,
  );
