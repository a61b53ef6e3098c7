/**
 * Model-based race tests of the copy-offload registry, for any migrator.
 *
 * {@link verifyRegistryRaces} drives a {@link MigratorSubject} with `fc.commands` (load, unload,
 * switch through `offload_migrator`, change `offload_reasons`, start migrations that run on in
 * the background) while `fc.scheduler` decides when each offloaded copy begins and when its
 * result returns to `migrate_pages_batch()`. It checks the registry's promises (after
 * `migrate_offload_unregister()` returns, the migrator is never called again; a module is never
 * unloaded or called while a call into it is in flight) through the `mm_migrate_offload`
 * tracepoint, and that no byte is lost.
 *
 * @module
 */
import {
  allocMigrationTarget,
  type BatchCopier,
  type ErrnoError,
  FolioList,
  type Kernel,
  Kernel as KernelClass,
  MIGRATE_ASYNC,
  MR_COMPACTION,
  migratePages,
  ptePfn,
  putbackMovablePages,
  type Task,
} from "@migrate-offload/core";
import { checkKernelConsistency } from "@migrate-offload/core/testing";
import { Effect, Result } from "effect";
import fc from "fast-check";
import { type MigratorSubject, serialCopyModule } from "./conformance";

const OFFLOAD_MIGRATOR = "/sys/kernel/mm/migration/offload_migrator";
const OFFLOAD_REASONS = "/sys/kernel/mm/migration/offload_reasons";
const REFERENCE = "serial_copy";

interface Model {
  loaded: boolean;
  /** The active provider: the subject's migrator, the reference, or none. */
  active: "subject" | "reference" | null;
}

interface Real {
  readonly k: Kernel;
  readonly p: Task;
  readonly addr: number;
  readonly pages: number;
  readonly s: fc.Scheduler;
  readonly subject: MigratorSubject;
  /** The subject's migrator name, learnt at its first load. */
  name: string | null;
  /** Migrators whose deactivation has returned and that have not been activated again. */
  readonly retired: Set<string>;
  readonly violations: string[];
  readonly pending: Promise<unknown>[];
}

const outcome = (effect: Effect.Effect<unknown, unknown>): Promise<string> =>
  Effect.runPromise(Effect.result(effect)).then((r) =>
    Result.isSuccess(r) ? "ok" : ((r.failure as ErrnoError).errno ?? String(r.failure)),
  );

const expectOutcome = (r: Real, what: string, got: string, want: string): void => {
  if (got !== want) r.violations.push(`${what}: expected ${want}, got ${got}`);
};

class Load implements fc.AsyncCommand<Model, Real> {
  /** Loading makes the subject active, which needs no other migrator active. */
  check = (m: Readonly<Model>) => !m.loaded && m.active === null;
  async run(m: Model, r: Real) {
    const before = new Set(r.k.migrateOffload.providerNames);
    // Loading activates the subject partway through: a migration waiting to copy may call it
    // from then on, before load returns.
    if (r.name) r.retired.delete(r.name);
    const got = await outcome(r.subject.load(r.k));
    expectOutcome(r, "load", got, "ok");
    if (got !== "ok") return;
    r.name ??= r.k.migrateOffload.providerNames.find((n) => !before.has(n)) ?? null;
    m.loaded = true;
    m.active = "subject";
    expectOutcome(r, "active after load", String(r.k.migrateOffload.activeName), String(r.name));
  }
  toString = () => "load";
}

class Unload implements fc.AsyncCommand<Model, Real> {
  check = (m: Readonly<Model>) => m.loaded;
  async run(m: Model, r: Real) {
    const got = await outcome(r.subject.unload(r.k));
    expectOutcome(r, "unload", got, "ok");
    if (got !== "ok") return;
    m.loaded = false;
    if (m.active === "subject") m.active = null;
    if (r.name) r.retired.add(r.name);
  }
  toString = () => "unload";
}

class Switch implements fc.AsyncCommand<Model, Real> {
  constructor(readonly target: "subject" | "reference" | "none") {}
  check = (m: Readonly<Model>) => this.target !== "subject" || m.loaded;
  async run(m: Model, r: Real) {
    const name = this.target === "subject" ? r.name : this.target === "none" ? "none" : REFERENCE;
    const next = this.target === "none" ? null : this.target;
    // The target may be called from the moment the switch activates it, before the write returns.
    if (next) r.retired.delete(next === "subject" ? r.name! : REFERENCE);
    const got = await outcome(r.k.fs.write(OFFLOAD_MIGRATOR, `${name}\n`));
    expectOutcome(r, `switch to ${name}`, got, "ok");
    if (got !== "ok") return;
    if (m.active && m.active !== next) r.retired.add(m.active === "subject" ? r.name! : REFERENCE);
    m.active = next;
  }
  toString = () => `switch(${this.target})`;
}

class Reasons implements fc.AsyncCommand<Model, Real> {
  constructor(readonly mask: string) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const got = await outcome(r.k.fs.write(OFFLOAD_REASONS, this.mask));
    expectOutcome(r, `offload_reasons ${this.mask}`, got, m.active ? "ok" : "ENODEV");
  }
  toString = () => `reasons(${this.mask})`;
}

/** Starts a compaction-style migration of the whole region; it runs on while later commands do. */
class Migrate implements fc.AsyncCommand<Model, Real> {
  constructor(readonly nid: number) {}
  check = () => true;
  async run(_m: Model, r: Real) {
    const { k, p, addr } = r;
    const list = new FolioList(k.memmap.lru);
    const vma = p.mm!.findVma(addr)!;
    for (let i = 0; i < r.pages; i++) {
      const head = k.memmap.folioOf(ptePfn(vma.ptes[i]!));
      if (k.lru.isolate(head)) list.addTail(head);
    }
    r.pending.push(
      Effect.runPromise(
        migratePages(
          k,
          list,
          allocMigrationTarget(k, this.nid),
          null,
          MIGRATE_ASYNC,
          MR_COMPACTION,
        ).pipe(
          Effect.ensuring(
            Effect.sync(() => {
              putbackMovablePages(k, list);
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
  fc.constant(new Load()),
  fc.constant(new Unload()),
  fc
    .constantFrom("subject" as const, "reference" as const, "none" as const)
    .map((t) => new Switch(t)),
  fc.constantFrom("all", "compaction", "none", "demotion,damon").map((mask) => new Reasons(mask)),
  fc.constantFrom(0, 1).map((nid) => new Migrate(nid)),
  fc.constantFrom(0, 1).map((nid) => new Migrate(nid)),
];

/** Options of {@link verifyRegistryRaces}. @category Races */
export interface RaceOptions {
  /** Command sequences to run; default 50. */
  readonly numRuns?: number;
  /** The most commands in one sequence; default 20. */
  readonly maxCommands?: number;
  /** The random seed, to reproduce a run; default random. */
  readonly seed?: number;
  /** Base pages in the migrated region; default 64 (with transparent huge pages off). */
  readonly pages?: number;
  /** A sequence still running after this many milliseconds is reported as stuck; default 10 s. */
  readonly stuckMs?: number;
}

const pattern = (length: number): Uint8Array => {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + (i >> 12)) & 0xff;
  return out;
};

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
export const verifyRegistryRaces = async (
  subject: MigratorSubject,
  options: RaceOptions = {},
): Promise<void> => {
  const pages = options.pages ?? 64;
  const stuckMs = options.stuckMs ?? 10_000;
  await fc.assert(
    fc.asyncProperty(
      fc.scheduler(),
      fc.commands(commands, { maxCommands: options.maxCommands ?? 20 }),
      async (s, cmds) => {
        const k = Effect.runSync(
          KernelClass.boot({ nodes: ["32M", "32M"], thp: { enabled: "never" } }),
        );
        const p = Effect.runSync(k.createProcess());
        const addr = Effect.runSync(p.mmap(pages * 4096));
        const bytes = pattern(pages * 4096);
        Effect.runSync(p.write(addr, bytes));
        const real: Real = {
          k,
          p,
          addr,
          pages,
          s,
          subject,
          name: null,
          retired: new Set(),
          violations: [],
          pending: [],
        };
        Effect.runSync(k.loadModule(serialCopyModule(k)));
        // Every offloaded copy begins, and returns, when the scheduler says.
        const unprobe = k.migrateOffload.interpose(
          (inner): BatchCopier => ({
            shouldBatch: inner.shouldBatch,
            copy: (dst, src, count, caller) =>
              Effect.promise(() => s.schedule(Promise.resolve(), "copy begins")).pipe(
                Effect.andThen(inner.copy(dst, src, count, caller)),
                Effect.tap(() =>
                  Effect.promise(() => s.schedule(Promise.resolve(), "copy returns")),
                ),
              ),
          }),
        );
        const unsubscribe = k.trace.subscribe((e) => {
          if (e.event !== "mm_migrate_offload" || e.op === "offload_copy_done") return;
          if (real.retired.has(e.migrator))
            real.violations.push(`${e.migrator}.${e.op} called after its deactivation returned`);
          const module = e.owner ? k.modules.get(e.owner) : undefined;
          if (e.owner && (module?.state !== "live" || module.refcnt < 1)) {
            real.violations.push(
              `${e.migrator}.${e.op} called while module ${e.owner} is ${module?.state ?? "unloaded"} with refcnt ${module?.refcnt ?? 0}`,
            );
          }
        });
        // The subject starts loaded and active, so that every command meets a live registry.
        const model: Model = { loaded: false, active: null };
        await new Load().run(model, real);
        const finished = (async () => {
          await s.waitFor(fc.asyncModelRun(() => ({ model, real }), cmds));
          for (;;) {
            if (s.count() > 0) await s.waitAll();
            const settled = await Promise.race([
              Promise.allSettled(real.pending).then(() => true),
              new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1)),
            ]);
            if (settled && s.count() === 0) break;
          }
          if (model.loaded) await new Unload().run(model, real);
          return "finished";
        })();
        let timer: ReturnType<typeof setTimeout> | undefined;
        const stuck = new Promise<string>((resolve) => {
          timer = setTimeout(
            () =>
              resolve(
                `stuck: ${s.count()} scheduled, ${k.migrateOffload.srcu.activeReaders} SRCU readers`,
              ),
            stuckMs,
          );
        });
        const end = await Promise.race([finished, stuck]);
        clearTimeout(timer);
        unsubscribe();
        if (typeof unprobe === "function") unprobe();
        const problems = [...real.violations];
        if (end !== "finished") problems.push(end);
        const now = Effect.runSync(p.read(addr, pages * 4096));
        if (!Buffer.from(now).equals(Buffer.from(bytes)))
          problems.push("the region's bytes changed");
        if (k.migrateOffload.srcu.activeReaders !== 0)
          problems.push(`${k.migrateOffload.srcu.activeReaders} SRCU readers remain`);
        problems.push(...checkKernelConsistency(k));
        // A run that finished shuts its kernel down (one stuck in a call would wait on it).
        if (end === "finished") {
          const down = await Effect.runPromise(
            Effect.match(k.shutdown(), { onFailure: (error) => error, onSuccess: () => null }),
          );
          if (down) problems.push(down.message);
        }
        if (problems.length) throw new Error(`${subject.name}:\n  ${problems.join("\n  ")}`);
      },
    ),
    { numRuns: options.numRuns ?? 50, seed: options.seed },
  );
};
