import { Effect, Result } from "effect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Task } from "../../src/include/kernel";
import type { Module } from "../../src/include/module";
import {
  type ErrnoError,
  type Kernel,
  MIGRATE_ASYNC,
  type Migrator,
  MR_COMPACTION,
  migrateFoliosMcCopy,
  migratePages,
  ptePfn,
} from "../../src/index";
import { FolioList } from "../../src/lib/list";
import {
  boot,
  expectBytes,
  expectConsistent,
  mapPattern,
  pattern,
  run,
} from "../../src/testing/index";

const DRIVERS = ["drvA", "drvB"] as const;
type Driver = (typeof DRIVERS)[number];
const PAGES = 16;

interface Model {
  loaded: Set<Driver>;
  active: Driver | null;
}

interface Real {
  k: Kernel;
  p: Task;
  addr: number;
  s: fc.Scheduler;
  migrators: Map<Driver, Migrator>;
  /** Calls into each driver's migrator that have not returned. */
  inFlight: Map<Driver, number>;
  /** Drivers whose unregistration has completed and that have not been registered again. */
  retired: Set<Driver>;
  violations: string[];
  pending: Promise<unknown>[];
}

const outcome = <A>(effect: Effect.Effect<A, ErrnoError>) =>
  Effect.runPromise(Effect.result(effect)).then((r) =>
    Result.isSuccess(r) ? "ok" : r.failure.errno,
  );

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
          yield* Effect.promise(() => r.s.schedule(Promise.resolve(), `${name} copy completes`));
          const rc = migrateFoliosMcCopy(r.k, dst, src);
          // Still pinned on the way out, and nobody has finished unregistering it meanwhile.
          enter("offloadCopy (returning)");
          r.inFlight.set(name, r.inFlight.get(name)! - 1);
          return rc;
        }),
    };
    r.migrators.set(name, migrator);
    return r.k.migrateOffload.addProvider(migrator);
  },
  exit: () =>
    Effect.suspend(() => {
      if ((r.inFlight.get(name) ?? 0) > 0)
        r.violations.push(`${name} unloaded with a call in flight`);
      return Effect.ignore(r.k.migrateOffload.removeProvider(r.migrators.get(name)!));
    }),
});

class Load implements fc.AsyncCommand<Model, Real> {
  constructor(readonly name: Driver) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const got = await outcome(r.k.loadModule(driver(r, this.name)));
    expect(got).toBe(m.loaded.has(this.name) ? "EEXIST" : "ok");
    m.loaded.add(this.name);
  }
  toString = () => `load(${this.name})`;
}

class Unload implements fc.AsyncCommand<Model, Real> {
  constructor(readonly name: Driver) {}
  check = (m: Readonly<Model>) => m.loaded.has(this.name);
  async run(m: Model, r: Real) {
    const got = await outcome(r.k.unloadModule(this.name));
    expect(got).toBe(m.active === this.name ? "EBUSY" : "ok");
    if (got === "ok") m.loaded.delete(this.name);
  }
  toString = () => `unload(${this.name})`;
}

class Register implements fc.AsyncCommand<Model, Real> {
  constructor(readonly name: Driver) {}
  check = (m: Readonly<Model>) => m.loaded.has(this.name);
  async run(m: Model, r: Real) {
    // Registration activates the migrator partway through: it may be called from then on.
    if (!m.active) r.retired.delete(this.name);
    const got = await outcome(r.k.migrateOffload.register(r.migrators.get(this.name)!));
    expect(got).toBe(m.active ? "EBUSY" : "ok");
    if (got === "ok") m.active = this.name;
  }
  toString = () => `register(${this.name})`;
}

class Unregister implements fc.AsyncCommand<Model, Real> {
  constructor(readonly name: Driver) {}
  check = (m: Readonly<Model>) => m.loaded.has(this.name);
  async run(m: Model, r: Real) {
    const got = await outcome(r.k.migrateOffload.unregister(r.migrators.get(this.name)!));
    expect(got).toBe(m.active === this.name ? "ok" : "EINVAL");
    if (got === "ok") {
      m.active = null;
      r.retired.add(this.name);
    }
  }
  toString = () => `unregister(${this.name})`;
}

class Switch implements fc.AsyncCommand<Model, Real> {
  constructor(readonly target: Driver | "none" | "bogus") {}
  check = () => true;
  async run(m: Model, r: Real) {
    const valid = this.target === "none" || (this.target !== "bogus" && m.loaded.has(this.target));
    const next = this.target === "none" ? null : (this.target as Driver);
    // The target may be called from the moment the switch activates it, before the write returns.
    if (valid && next) r.retired.delete(next);
    const got = await outcome(
      r.k.fs.write("/sys/kernel/mm/migration/offload_migrator", `${this.target}\n`),
    );
    expect(got).toBe(valid ? "ok" : "EINVAL");
    if (!valid) return;
    if (m.active && m.active !== next) r.retired.add(m.active);
    m.active = next;
  }
  toString = () => `switch(${this.target})`;
}

class Reasons implements fc.AsyncCommand<Model, Real> {
  constructor(readonly mask: string) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const got = await outcome(r.k.fs.write("/sys/kernel/mm/migration/offload_reasons", this.mask));
    expect(got).toBe(m.active ? "ok" : "ENODEV");
  }
  toString = () => `reasons(${this.mask})`;
}

/** Starts a migration of the whole region in the background; it runs on while later commands do. */
class Migrate implements fc.AsyncCommand<Model, Real> {
  constructor(readonly nid: number) {}
  check = () => true;
  async run(_m: Model, r: Real) {
    const { k, p, addr } = r;
    const list = new FolioList(k.memmap.lru);
    const vma = p.mm!.findVma(addr)!;
    for (let i = 0; i < PAGES; i++) {
      const head = k.memmap.folioOf(ptePfn(vma.ptes[i]!));
      if (k.lru.isolate(head)) list.addTail(head);
    }
    const nid = this.nid;
    r.pending.push(
      Effect.runPromise(
        migratePages(
          k,
          list,
          (src) => k.pageAlloc.allocPages(nid, k.memmap.folioOrder(src), 1),
          null,
          MIGRATE_ASYNC,
          MR_COMPACTION,
        ).pipe(
          Effect.tap(() =>
            Effect.sync(() => {
              for (const folio of list) {
                list.del(folio);
                k.lru.putback(folio);
              }
              list.release();
            }),
          ),
        ),
      ),
    );
  }
  toString = () => `migrate(→${this.nid})`;
}

const commands = [
  fc.constantFrom(...DRIVERS).map((d) => new Load(d)),
  fc.constantFrom(...DRIVERS).map((d) => new Unload(d)),
  fc.constantFrom(...DRIVERS).map((d) => new Register(d)),
  fc.constantFrom(...DRIVERS).map((d) => new Unregister(d)),
  fc.constantFrom<Driver | "none" | "bogus">(...DRIVERS, "none", "bogus").map((t) => new Switch(t)),
  fc.constantFrom("all", "compaction", "none", "demotion,damon").map((mask) => new Reasons(mask)),
  fc.constantFrom(0, 1).map((nid) => new Migrate(nid)),
  fc.constantFrom(0, 1).map((nid) => new Migrate(nid)),
];

describe("the registry under races (model-based, fc.commands + fc.scheduler)", () => {
  it("never calls a migrator after its unregistration returned, never unloads a module in use, never loses data", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.commands(commands, { maxCommands: 25 }),
        async (s, cmds) => {
          const k = boot();
          const p = run(k.createProcess());
          const addr = mapPattern(p, PAGES * 4096, 31, false);
          const real: Real = {
            k,
            p,
            addr,
            s,
            migrators: new Map(),
            inFlight: new Map(),
            retired: new Set(),
            violations: [],
            pending: [],
          };
          // Both drivers start loaded and drvA active, so that every command meets a live registry.
          for (const name of DRIVERS) run(k.loadModule(driver(real, name)));
          run(k.migrateOffload.register(real.migrators.get("drvA")!));
          const model: Model = { loaded: new Set<Driver>(DRIVERS), active: "drvA" };
          const finished = (async () => {
            // Commands run in order; the scheduler releases copy completions at moments it picks,
            // including while a command waits for one (a grace period waiting on a reader).
            await s.waitFor(fc.asyncModelRun(() => ({ model, real }), cmds));
            while (s.count() > 0) await s.waitAll();
            await Promise.all(real.pending);
            return "finished";
          })();
          // A deadlock would leave work waiting forever: report it rather than time out.
          const stuck = new Promise<string>((resolve) =>
            setTimeout(
              () =>
                resolve(
                  `stuck: ${s.count()} scheduled, ${k.migrateOffload.srcu.activeReaders} SRCU readers`,
                ),
              3000,
            ),
          );
          expect(await Promise.race([finished, stuck])).toBe("finished");
          expect(real.violations).toEqual([]);
          expectBytes(run(p.read(addr, PAGES * 4096)), pattern(PAGES * 4096, 31));
          expect(k.migrateOffload.srcu.activeReaders).toBe(0);
          expectConsistent(k);
        },
      ),
      { numRuns: 150 },
    );
  }, 120_000);
});
