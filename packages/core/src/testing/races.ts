/**
 * The model-based race harness of the copy-offload registry: `fc.commands` (switch through
 * `offload_migrator`, change `offload_reasons`, start migrations that run on in the background,
 * and whatever a caller adds: load, unload, raw register) run while `fc.scheduler` decides when
 * each offloaded copy begins and when its result returns to `migrate_pages_batch()`.
 *
 * It checks the registry's promises through the `mm_migrate_offload` tracepoint (after a
 * migrator's deactivation returns it is never called again; a module is never called unless it
 * is live and pinned), that every command answers as the model says, that nothing deadlocks,
 * and that no byte of the migrated region is lost. `@migrate-offload/testkit`'s
 * `verifyRegistryRaces` runs it for one migrator; core's own tests run it with raw
 * `migrate_offload_register()` / `unregister()` commands.
 *
 * Not a kernel interface. It needs `fast-check`, an optional peer dependency of this package,
 * which it loads when {@link runRegistryRaces} is called.
 *
 * @module
 */
import { Effect, Result } from "effect";
import type { Arbitrary, AsyncCommand, Scheduler } from "fast-check";
import type { ErrnoError } from "../errno";
import type { Kernel, Task } from "../include/kernel";
import type { BatchCopier } from "../include/migrate_copy_offload";
import { MIGRATE_ASYNC, MR_COMPACTION } from "../include/migrate_mode";
import { Kernel as KernelClass } from "../init/main";
import { checkKernelConsistency } from "../mm/debug";
import { migratePages, putbackMovablePages } from "../mm/migrate";
import { allocMigrationTarget } from "../mm/move_pages";
import { isolateRange, pattern, run, sameBytes } from "./fixtures";

const OFFLOAD_MIGRATOR = "/sys/kernel/mm/migration/offload_migrator";
const OFFLOAD_REASONS = "/sys/kernel/mm/migration/offload_reasons";

/**
 * What the model of a race run tracks at the least; a harness's model may track more.
 *
 * @category Testing
 */
export interface RaceModel {
  /** The name of the migrator that should be active; null when none should be. */
  active: string | null;
  /** The names `offload_migrator` should list: the registered providers. */
  readonly providers: Set<string>;
}

/**
 * The real side of a race run: one kernel, one process and its region, the scheduler.
 *
 * @category Testing
 */
export interface RaceWorld {
  /** The kernel of this run, booted fresh for it. */
  readonly kernel: Kernel;
  /** The process whose region the migrations move. */
  readonly task: Task;
  /** Where the region starts. */
  readonly addr: number;
  /** How many base pages it has. */
  readonly pages: number;
  /** `fc.scheduler`'s scheduler: it releases every offloaded copy's start and return. */
  readonly scheduler: Scheduler;
  /** Names a command may use for a migrator known only once the run starts (`"subject"`). */
  readonly aliases: Map<string, string>;
  /** Migrators whose deactivation has returned and that have not been activated again. */
  readonly retired: Set<string>;
  /** What broke so far; the run fails with them at its end. */
  readonly violations: string[];
  /** Migrations started in the background, which the run waits for before its checks. */
  readonly pending: Promise<unknown>[];
}

/**
 * A race harness: the commands to generate, and how a run starts and ends.
 *
 * @category Testing
 */
export interface RaceHarness<M extends RaceModel, W extends RaceWorld> {
  /** Names what is tested in the error a failing run throws. */
  readonly name: string;
  /**
   * The command generators, in the order `fc.commands` gets them: a seed replays the same run
   * only with the same list.
   */
  readonly commands: ReadonlyArray<Arbitrary<AsyncCommand<M, W>>>;
  /**
   * Brings the fresh kernel to the state every command sequence starts from (loaded, active),
   * and returns the model of that state and the world the commands see: `world`, extended.
   */
  readonly start: (world: RaceWorld) => Promise<{ readonly model: M; readonly world: W }>;
  /** Runs once every command and migration has finished, before the checks; may unload. */
  readonly finish?: (model: M, world: W) => Promise<void>;
}

/**
 * Options of {@link runRegistryRaces}.
 *
 * @category Testing
 */
export interface RaceRunOptions {
  /** Command sequences to run; default 50. */
  readonly numRuns?: number;
  /** The most commands in one sequence; default 20. */
  readonly maxCommands?: number;
  /** fast-check's seed, to replay a reported run. */
  readonly seed?: number;
  /** Base pages in the migrated region; default 64 (with transparent huge pages off). */
  readonly pages?: number;
  /** A sequence still running after this many milliseconds is reported as stuck; default 10 s. */
  readonly stuckMs?: number;
}

/**
 * How a call ended: `"ok"`, or the errno name (or text) it failed with.
 *
 * @category Testing
 */
export const raceOutcome = (effect: Effect.Effect<unknown, unknown>): Promise<string> =>
  Effect.runPromise(Effect.result(effect)).then((r) =>
    Result.isSuccess(r) ? "ok" : ((r.failure as ErrnoError).errno ?? String(r.failure)),
  );

/**
 * Records a violation in `world` unless a call ended as the model says.
 *
 * @category Testing
 */
export const expectOutcome = (world: RaceWorld, what: string, got: string, want: string): void => {
  if (got !== want) world.violations.push(`${what}: expected ${want}, got ${got}`);
};

/**
 * Writes `offload_migrator`: `target` is a migrator's name, an alias of one in
 * {@link RaceWorld.aliases}, or `"none"`. The write must succeed exactly when the model lists
 * the target as a provider (or it is `"none"`).
 *
 * @category Testing
 */
export class RaceSwitch<M extends RaceModel = RaceModel> implements AsyncCommand<M, RaceWorld> {
  /**
   * @param target - what to switch to, as above.
   * @param allowed - when the command may run; always by default.
   */
  constructor(
    readonly target: string,
    private readonly allowed: (model: Readonly<M>) => boolean = () => true,
  ) {}
  /** Whether the command may run in this state of the model. */
  check(model: Readonly<M>): boolean {
    return this.allowed(model);
  }
  /** Runs the command on the kernel and checks its outcome against the model. */
  async run(model: M, world: RaceWorld): Promise<void> {
    const name = world.aliases.get(this.target) ?? this.target;
    const next = name === "none" ? null : name;
    const valid = next === null || model.providers.has(next);
    // The target may be called from the moment the switch activates it, before the write returns.
    if (valid && next) world.retired.delete(next);
    const got = await raceOutcome(world.kernel.fs.write(OFFLOAD_MIGRATOR, `${name}\n`));
    expectOutcome(world, `switch to ${name}`, got, valid ? "ok" : "EINVAL");
    if (got !== "ok") return;
    if (model.active && model.active !== next) world.retired.add(model.active);
    model.active = next;
  }
  /** How a reported command sequence shows the command. */
  toString(): string {
    return `switch(${this.target})`;
  }
}

/**
 * Writes `offload_reasons`, which must succeed exactly while a migrator is active.
 *
 * @category Testing
 */
export class RaceReasons implements AsyncCommand<RaceModel, RaceWorld> {
  /** @param mask - what to write, e.g. `"compaction"`. */
  constructor(readonly mask: string) {}
  /** Always: the command may run in any state. */
  check(): boolean {
    return true;
  }
  /** Runs the command on the kernel and checks its outcome against the model. */
  async run(model: RaceModel, world: RaceWorld): Promise<void> {
    const got = await raceOutcome(world.kernel.fs.write(OFFLOAD_REASONS, this.mask));
    expectOutcome(world, `offload_reasons ${this.mask}`, got, model.active ? "ok" : "ENODEV");
  }
  /** How a reported command sequence shows the command. */
  toString(): string {
    return `reasons(${this.mask})`;
  }
}

/**
 * Starts a compaction-style migration of the whole region; it runs on while later commands do.
 *
 * @category Testing
 */
export class RaceMigrate implements AsyncCommand<RaceModel, RaceWorld> {
  /** @param nid - the node to migrate to. */
  constructor(readonly nid: number) {}
  /** Always: the command may run in any state. */
  check(): boolean {
    return true;
  }
  /** Starts the migration and returns; the run waits for it to end before its checks. */
  async run(_model: RaceModel, world: RaceWorld): Promise<void> {
    const k = world.kernel;
    const list = isolateRange(world.task, world.addr, world.pages * k.mem.pageSize);
    world.pending.push(
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
  /** How a reported command sequence shows the command. */
  toString(): string {
    return `migrate(→${this.nid})`;
  }
}

/** fast-check, loaded on first use: an optional peer dependency of this package. */
const loadFastCheck = (): Promise<typeof import("fast-check")> =>
  import("fast-check").catch((cause: unknown) => {
    throw new Error(
      "runRegistryRaces needs fast-check, an optional peer dependency of @migrate-offload/core",
      { cause },
    );
  });

/** Every offloaded copy begins, and returns, when the scheduler says. */
const scheduleCopies = (k: Kernel, s: Scheduler) =>
  k.migrateOffload.interpose(
    (inner): BatchCopier => ({
      ...inner,
      copy: (dst, src, count, caller) =>
        Effect.promise(() => s.schedule(Promise.resolve(), "copy begins")).pipe(
          Effect.andThen(inner.copy(dst, src, count, caller)),
          Effect.tap(() => Effect.promise(() => s.schedule(Promise.resolve(), "copy returns"))),
        ),
    }),
  );

/** Reports every call into a retired migrator, or into a module that is not live and pinned. */
const watchCalls = (world: RaceWorld) =>
  world.kernel.trace.subscribe((e) => {
    if (e.event !== "mm_migrate_offload" || e.op === "offload_copy_done") return;
    if (world.retired.has(e.migrator))
      world.violations.push(`${e.migrator}.${e.op} called after its deactivation returned`);
    const module = e.owner ? world.kernel.modules.get(e.owner) : undefined;
    if (e.owner && (module?.state !== "live" || module.refcnt < 1)) {
      world.violations.push(
        `${e.migrator}.${e.op} called while module ${e.owner} is ${module?.state ?? "unloaded"} with refcnt ${module?.refcnt ?? 0}`,
      );
    }
  });

/**
 * Runs a {@link RaceHarness}: for each generated command sequence, a fresh two-node kernel with
 * a process whose region holds a {@link pattern}, the harness's start, the commands under
 * `fc.scheduler`, every migration to its end, the harness's finish, then the checks. Rejects
 * with fast-check's report (the shrunk sequence and its seed) and what broke.
 *
 * @category Testing
 */
export const runRegistryRaces = async <M extends RaceModel, W extends RaceWorld>(
  harness: RaceHarness<M, W>,
  options: RaceRunOptions = {},
): Promise<void> => {
  const fc = await loadFastCheck();
  const pages = options.pages ?? 64;
  const stuckMs = options.stuckMs ?? 10_000;
  await fc.assert(
    fc.asyncProperty(
      fc.scheduler(),
      fc.commands([...harness.commands], { maxCommands: options.maxCommands ?? 20 }),
      async (s, cmds) => {
        const k = run(KernelClass.boot({ nodes: ["32M", "32M"], thp: { enabled: "never" } }));
        const task = run(k.createProcess());
        const addr = run(task.mmap(pages * k.mem.pageSize));
        const bytes = pattern(pages * k.mem.pageSize, 0);
        run(task.write(addr, bytes));
        const base: RaceWorld = {
          kernel: k,
          task,
          addr,
          pages,
          scheduler: s,
          aliases: new Map(),
          retired: new Set(),
          violations: [],
          pending: [],
        };
        const unprobe = scheduleCopies(k, s);
        const unsubscribe = watchCalls(base);
        let timer: ReturnType<typeof setTimeout> | undefined;
        try {
          const { model, world } = await harness.start(base);
          const finished = (async () => {
            // Commands run in order; the scheduler releases copies at moments it picks,
            // including while a command waits for one (a grace period waiting on a reader).
            await s.waitFor(fc.asyncModelRun(() => ({ model, real: world }), cmds));
            for (;;) {
              if (s.count() > 0) await s.waitAll();
              const settled = await Promise.race([
                Promise.allSettled(world.pending).then(() => true),
                new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1)),
              ]);
              if (settled && s.count() === 0) break;
            }
            await harness.finish?.(model, world);
            return "finished";
          })();
          // A deadlock would leave work waiting forever: report it rather than time out.
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
          const problems = [...world.violations];
          if (end === "finished") {
            for (const r of await Promise.allSettled(world.pending))
              if (r.status === "rejected") problems.push(`a migration failed: ${r.reason}`);
          } else problems.push(end);
          if (!sameBytes(run(task.read(addr, bytes.length)), bytes))
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
          if (problems.length) throw new Error(`${harness.name}:\n  ${problems.join("\n  ")}`);
        } finally {
          clearTimeout(timer);
          unsubscribe();
          if (typeof unprobe === "function") unprobe();
        }
      },
    ),
    { numRuns: options.numRuns ?? 50, seed: options.seed },
  );
};
