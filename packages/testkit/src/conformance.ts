/**
 * The migrator conformance harness: {@link verifyMigrator} proves a migrator equivalent to the
 * kernel's serial copy over random workloads and injected faults, and reports the smallest case
 * where it is not.
 *
 * Each generated case runs twice on fresh kernels: once with no migrator (the serial path, where
 * nothing is batched) and once with the migrator under test loaded and active, its every batch
 * audited ({@link auditCopies}). The two runs must observe the same thing: return value and
 * statuses, the node of every page through every mapping, `/proc/vmstat` deltas and
 * `migrate_pages_stats`, and free pages per node. Each run must also keep every promise on its
 * own: every byte reads back, counters add up, metadata is consistent, nothing leaks.
 *
 * @module
 */
import {
  ERRNO,
  type FolioList,
  type Kernel,
  MIGRATE_REASONS_ALL,
  type Migrator,
  type ModuleDefinition,
  migrateFoliosMcCopy,
} from "@migrate-offload/core";
import type { MigratorSubject } from "@migrate-offload/core/testing";
import { Effect } from "effect";
import fc from "fast-check";
import {
  auditCopies,
  type CopyAudit,
  type FaultPlan,
  faultPlanArb,
  MIGRATOR_FAULT_KINDS,
  newCopyAudit,
} from "./audit";
import { type Observation, runMigrationScenario } from "./oracle";
import {
  formatScenario,
  type MigrationScenario,
  type ScenarioArbOptions,
  scenarioArb,
} from "./workload";

/**
 * The subject for a module whose init registers its migrator as a provider (`addProvider`): load
 * the module, then make that provider active through `offload_migrator`; to take it out, switch
 * to `none` and unload the module.
 *
 * @category Conformance
 */
export const moduleSubject = (
  makeModule: (kernel: Kernel) => ModuleDefinition,
  name?: string,
): MigratorSubject => {
  const modules = new WeakMap<Kernel, { module: string; migrator: string | null }>();
  return {
    name: name ?? (makeModule.name || "module"),
    load: (kernel) =>
      Effect.gen(function* () {
        const before = new Set(kernel.migrateOffload.providerNames);
        const module = yield* kernel.loadModule(makeModule(kernel));
        const added = kernel.migrateOffload.providerNames.filter((n) => !before.has(n));
        modules.set(kernel, { module: module.name, migrator: added[0] ?? null });
        if (kernel.migrateOffload.activeName === null) {
          if (added.length !== 1) {
            return yield* Effect.die(
              new Error(
                `module ${module.name} added ${added.length} migrators (${added.join(", ")}); one is needed`,
              ),
            );
          }
          yield* kernel.fs.write("/sys/kernel/mm/migration/offload_migrator", added[0]!);
        }
      }),
    unload: (kernel) =>
      Effect.gen(function* () {
        const loaded = modules.get(kernel);
        if (!loaded) return;
        if (kernel.migrateOffload.activeName === loaded.migrator)
          yield* kernel.fs.write("/sys/kernel/mm/migration/offload_migrator", "none");
        yield* kernel.unloadModule(loaded.module);
        modules.delete(kernel);
      }),
  };
};

/**
 * The kernel's own batch copy (`migrate_folios_mc_copy()`) as a migrator module that takes every
 * batch: the reference subject. Verifying it proves the batched path equivalent to the unbatched
 * serial path. `copy` replaces the batch copy, for a caller that wraps the kernel's (to time it,
 * say); it returns 0 or a negative errno as `migrate_folios_mc_copy()` does.
 *
 * @category Conformance
 */
export const serialCopyModule = (
  kernel: Kernel,
  copy: (kernel: Kernel, dst: FolioList, src: FolioList) => number = migrateFoliosMcCopy,
): ModuleDefinition => {
  let migrator: Migrator;
  return {
    name: "serial_copy",
    init: (module) => {
      migrator = {
        name: "serial_copy",
        owner: module,
        shouldBatch: () => true,
        offloadCopy: (dst, src) => Effect.sync(() => copy(kernel, dst, src)),
      };
      return kernel.migrateOffload.addProvider(migrator, MIGRATE_REASONS_ALL);
    },
    exit: () => Effect.ignore(kernel.migrateOffload.removeProvider(migrator)),
  };
};

export type { EngineFaults, MigratorSubject } from "@migrate-offload/core/testing";

/**
 * Fault classes of {@link verifyMigrator}: the {@link MigratorFaultKind}s, `"alloc-failure"`
 * (`fail_page_alloc` and fragmentation), or an engine fault kind of the subject.
 *
 * @category Conformance
 */
export type FaultClass = "copy-failure" | "partial-copy" | "decline" | "alloc-failure" | string;

/** Options of {@link verifyMigrator}. @category Conformance */
export interface VerifyOptions {
  /** Cases to generate; default 50. */
  readonly numRuns?: number;
  /** The random seed, to reproduce a run; default random. */
  readonly seed?: number;
  /** The path of a reported counterexample, with its seed, to replay only that case. */
  readonly path?: string;
  /**
   * Fault classes to inject: the migrator faults of {@link MIGRATOR_FAULT_KINDS},
   * `"alloc-failure"` (`fail_page_alloc` and fragmentation), and the subject's engine fault kinds.
   * Default: all of them.
   */
  readonly faults?: readonly FaultClass[];
  /** Workload knobs: base page sizes, region kinds, requests, entries. */
  readonly scenarios?: ScenarioArbOptions;
  /** A case still running after this many milliseconds is reported as a hang; default 60 s. */
  readonly timeoutMs?: number;
}

/** What a passing verification covered. @category Conformance */
export interface VerifyReport {
  readonly subject: string;
  readonly runs: number;
  readonly seed: number;
  /** Batches offered to the migrator over all cases. */
  readonly batches: number;
  /** Destinations it marked content-copied, and ones that fell back. */
  readonly marked: number;
  readonly fellBack: number;
  /** Faults injected, by kind. */
  readonly injected: Readonly<Record<string, number>>;
  /**
   * Cases where both runs ran out of memory on an injected allocation failure (`-ENOMEM`: a
   * `move_pages` that failed as a whole, or a folio's `migrate_pages()` error); they are compared
   * like every other case.
   */
  readonly outOfMemoryCases: number;
}

/**
 * A migrator that is not equivalent to the serial path: the report says where and how, with the
 * shrunk counterexample and the seed and path that replay it.
 *
 * @category Conformance
 */
export class MigratorConformanceError extends Error {
  constructor(
    message: string,
    /** The shrunk scenario and fault. */
    readonly counterexample: readonly [MigrationScenario, FaultPlan | null] | null,
    /** The seed and path that replay it through {@link VerifyOptions}. */
    readonly replay: { readonly seed: number; readonly path: string | undefined },
  ) {
    super(message);
    this.name = "MigratorConformanceError";
  }
}

const show = (v: unknown): string => JSON.stringify(v);

/**
 * The differences between two observations, one readable line each (empty when equal): how a run
 * with a migrator strayed from the serial run.
 *
 * @category Oracle
 */
export const diffObservations = (serial: Observation, other: Observation): string[] => {
  const lines: string[] = [];
  if (serial.rc !== other.rc) lines.push(`return value: ${serial.rc} → ${other.rc}`);
  const n = Math.max(serial.status.length, other.status.length);
  for (let i = 0; i < n; i++) {
    if (serial.status[i] !== other.status[i])
      lines.push(`status[${i}]: ${serial.status[i]} → ${other.status[i]}`);
  }
  const nodes = (label: string, a: Observation["nodes"] | null, b: Observation["nodes"] | null) => {
    if (show(a) === show(b)) return;
    if (!a || !b) {
      lines.push(`${label}: ${show(a)} → ${show(b)}`);
      return;
    }
    for (const [r, pages] of a.entries()) {
      for (const [p, node] of pages.entries()) {
        const got = b[r]?.[p];
        if (node !== got) lines.push(`${label} of region ${r} page ${p}: ${node} → ${got}`);
      }
    }
  };
  nodes("node", serial.nodes, other.nodes);
  nodes("node (child)", serial.childNodes, other.childNodes);
  for (const [name, value] of Object.entries(serial.vmstat)) {
    if (other.vmstat[name] !== value)
      lines.push(`/proc/vmstat ${name}: +${value} → +${other.vmstat[name]}`);
  }
  for (const [name, value] of Object.entries(serial.stats)) {
    const got = (other.stats as unknown as Record<string, number>)[name];
    if (got !== value) lines.push(`migrate_pages_stats.${name}: ${value} → ${got}`);
  }
  serial.freePages.forEach((free, nid) => {
    if (other.freePages[nid] !== free)
      lines.push(`free pages on node ${nid}: ${free} → ${other.freePages[nid]}`);
  });
  return lines;
};

const withTimeout = <A>(promise: Promise<A>, ms: number, what: string): Promise<A> => {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
};

/** One case: the serial run, the audited run with the subject, and everything compared. */
const checkCase = async (
  subject: MigratorSubject,
  scenario: MigrationScenario,
  plan: FaultPlan | null,
  timeoutMs: number,
  totals: {
    batches: number;
    marked: number;
    fellBack: number;
    injected: Map<string, number>;
    outOfMemory: number;
  },
): Promise<void> => {
  const serial = await withTimeout(
    Effect.runPromise(runMigrationScenario(scenario)),
    timeoutMs,
    "the serial run",
  );
  const audit: CopyAudit = newCopyAudit();
  let removeProbe: (() => void) | null = null;
  const offloaded = await withTimeout(
    Effect.runPromise(
      runMigrationScenario(scenario, {
        prepare: subject.load,
        beforeCall: (kernel) =>
          Effect.sync(() => {
            const engine = subject.engineFaults;
            const probe = kernel.migrateOffload.interpose(
              auditCopies(kernel, audit, plan, engine && ((kind) => engine.inject(kernel, kind))),
            );
            if (typeof probe === "function") removeProbe = probe;
          }),
        cleanup: (kernel) =>
          Effect.suspend(() => {
            removeProbe?.();
            return subject.unload(kernel);
          }),
      }),
    ),
    timeoutMs,
    `the run with ${subject.name}`,
  );
  totals.batches += audit.batches;
  totals.marked += audit.marked;
  totals.fellBack += audit.fellBack;
  if (audit.injected)
    totals.injected.set(audit.injected, (totals.injected.get(audit.injected) ?? 0) + 1);
  const ranOutOfMemory = (o: Observation) =>
    o.rc === -ERRNO.ENOMEM || o.status.includes(-ERRNO.ENOMEM);
  if (
    scenario.allocFailure !== undefined &&
    ranOutOfMemory(serial.observation) &&
    ranOutOfMemory(offloaded.observation)
  )
    totals.outOfMemory++;
  // A run that fails as a whole (move_pages returning migrate_pages()'s -ENOMEM) is compared like
  // any other: the same errno, the same statuses written before it, the same memory.
  const diff = diffObservations(serial.observation, offloaded.observation);
  const problems = [...audit.problems, ...offloaded.problems];
  if (serial.problems.length === 0 && diff.length === 0 && problems.length === 0) return;
  const section = (title: string, lines: readonly string[]) =>
    lines.length ? [`${title}:`, ...lines.map((l) => `  ${l}`)] : [];
  throw new Error(
    [
      ...section("differences (serial → migrator)", diff),
      ...section(`broken promises with ${subject.name}`, problems),
      ...section("broken promises on the serial path (a kernel-model bug)", serial.problems),
      `batches offered: ${audit.batches}; marked content-copied: ${audit.marked}; fell back: ${audit.fellBack}`,
    ].join("\n"),
  );
};

/**
 * Proves a migrator equivalent to the serial path with fast-check: for every generated workload
 * and injected fault, the run with the migrator ends exactly as the serial run does, keeps every
 * byte, and leaks nothing. Resolves with what it covered; rejects with a
 * {@link MigratorConformanceError} whose message shows the shrunk case and what differed.
 *
 * Pass a module factory (its init must register the migrator with `addProvider`) or a
 * {@link MigratorSubject} for drivers that need more set-up or support engine faults.
 *
 * A run that ends on an injected allocation failure (`fail_page_alloc` fails the Nth
 * allocation) is compared like any other: a `move_pages` that fails with `ENOMEM` must fail with
 * it on both paths, having written the same statuses and moved the same pages. The report counts
 * these cases in `outOfMemoryCases`.
 *
 * @category Conformance
 *
 * @example
 * ```ts
 * import { serialCopyModule, verifyMigrator } from "@migrate-offload/testkit";
 *
 * // A module factory whose init registers its migrator with `addProvider`:
 * const report = await verifyMigrator((kernel) => serialCopyModule(kernel), { numRuns: 20 });
 * report.batches; // batches offered to the migrator over every case
 * ```
 */
export const verifyMigrator = async (
  subject: MigratorSubject | ((kernel: Kernel) => ModuleDefinition),
  options: VerifyOptions = {},
): Promise<VerifyReport> => {
  const s = typeof subject === "function" ? moduleSubject(subject) : subject;
  const engineKinds = s.engineFaults?.kinds ?? [];
  const faults = options.faults ?? [...MIGRATOR_FAULT_KINDS, "alloc-failure", ...engineKinds];
  const unknown = faults.filter(
    (f) =>
      !MIGRATOR_FAULT_KINDS.includes(f as never) &&
      f !== "alloc-failure" &&
      !engineKinds.includes(f),
  );
  if (unknown.length) throw new TypeError(`${s.name} cannot inject ${unknown.join(", ")}`);
  const scenarios = scenarioArb({
    ...options.scenarios,
    allocFailures: options.scenarios?.allocFailures ?? faults.includes("alloc-failure"),
  });
  const plans = faultPlanArb(faults.filter((f) => f !== "alloc-failure"));
  const totals = {
    batches: 0,
    marked: 0,
    fellBack: 0,
    injected: new Map<string, number>(),
    outOfMemory: 0,
  };
  const timeoutMs = options.timeoutMs ?? 60_000;
  const details = await fc.check(
    fc.asyncProperty(scenarios, plans, (scenario, plan) =>
      checkCase(s, scenario, plan, timeoutMs, totals),
    ),
    { numRuns: options.numRuns ?? 50, seed: options.seed, path: options.path, endOnFailure: false },
  );
  if (details.failed) {
    const example = details.counterexample as [MigrationScenario, FaultPlan | null] | null;
    const cause =
      details.errorInstance instanceof Error
        ? details.errorInstance.message
        : String(details.errorInstance);
    const [scenario, plan] = example ?? [null, null];
    const text = [
      `${s.name} is not equivalent to the serial path: fast-check found a case after ${details.numRuns} runs and shrank it ${details.numShrinks} times.`,
      "",
      "scenario:",
      ...(scenario ? formatScenario(scenario).split("\n") : ["(none)"]).map((l) => `  ${l}`),
      `  fault: ${plan ? `${plan.kind} at batch ${plan.batch}` : "none"}`,
      "",
      cause,
      "",
      `replay: verifyMigrator(subject, { seed: ${details.seed}, path: ${show(details.counterexamplePath)} })`,
    ].join("\n");
    throw new MigratorConformanceError(text, example, {
      seed: details.seed,
      path: details.counterexamplePath ?? undefined,
    });
  }
  return {
    subject: s.name,
    runs: details.numRuns,
    seed: details.seed,
    batches: totals.batches,
    marked: totals.marked,
    fellBack: totals.fellBack,
    outOfMemoryCases: totals.outOfMemory,
    injected: Object.fromEntries(totals.injected),
  };
};

/** Options of {@link verifyMigratorCovered}. @category Conformance */
export interface CoveredVerifyOptions extends Omit<VerifyOptions, "seed" | "path"> {
  /** A seed whose cases are known to reach copies and injected faults; default 2. */
  readonly coverageSeed?: number;
}

/**
 * {@link verifyMigrator} twice, as a CI suite wants it: first on a fixed seed whose cases are
 * known to offer batches, copy and inject faults, then on a fresh seed, so that every run also
 * meets cases never seen before. Both must pass. Resolves with both reports: assert coverage
 * (`marked`, `injected`) on `known`, where it cannot miss by chance.
 *
 * @category Conformance
 */
export const verifyMigratorCovered = async (
  migrator: Parameters<typeof verifyMigrator>[0],
  options: CoveredVerifyOptions = {},
): Promise<{ readonly known: VerifyReport; readonly fresh: VerifyReport }> => {
  const { coverageSeed = 2, ...rest } = options;
  const known = await verifyMigrator(migrator, { ...rest, seed: coverageSeed });
  const fresh = await verifyMigrator(migrator, rest);
  return { known, fresh };
};
