/**
 * The migrator conformance harness: {@link verifyMigrator} proves a migrator equivalent to the
 * kernel's serial copy over random workloads and injected faults, and reports the smallest case
 * where it is not.
 *
 * Each generated case runs twice on fresh kernels, side by side: once with no migrator (the serial
 * path, where nothing is batched) and once with the migrator under test loaded and active, its
 * every batch audited ({@link auditCopies}). The two runs must observe the same thing: return value and
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
  SectionPool,
} from "@migrate-offload/core";
import type { MigratorSubject } from "@migrate-offload/core/testing";
import { Clock, Effect } from "effect";
import fc from "fast-check";
import {
  auditCopies,
  type CopyAudit,
  type FaultPlan,
  faultPlanArb,
  MIGRATOR_FAULT_KINDS,
  newCopyAudit,
} from "./audit";
import { diffCallerObservations } from "./callers";
import { AdjustableClock } from "./clock";
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

/**
 * One generated case of the conformance property: a workload and the fault injected into it
 * (null: none).
 *
 * @category Conformance
 */
export type ConformanceCase = [scenario: MigrationScenario, fault: FaultPlan | null];

/**
 * Options of {@link conformanceProperty}: what to generate and inject, and how long a case may
 * run.
 *
 * @category Conformance
 */
export interface ConformanceOptions {
  /**
   * Fault classes to inject: the migrator faults of {@link MIGRATOR_FAULT_KINDS},
   * `"alloc-failure"` (`fail_page_alloc` and fragmentation), and the subject's engine fault kinds.
   * Default: all of them.
   */
  readonly faults?: readonly FaultClass[];
  /**
   * Workload knobs: base page sizes, region kinds, requests, entries. Requests through the
   * kernel's other callers of `migrate_pages()` (compaction, `alloc_contig_pages()`, soft offline,
   * memory offlining, `mbind(2)`, `migrate_pages(2)`, hugetlb: `MIGRATION_CALLERS`) are off by
   * default, so that a seed and a replay path draw the cases they always drew: turn them on with
   * `{ callers: true }` (about one case in four), `{ callers: true, callersOnly: true }` (every
   * case), or a list of caller names.
   */
  readonly scenarios?: ScenarioArbOptions;
  /**
   * The harness's own deadline for one run of a case, in milliseconds (default 60 s): a run still
   * going after it fails the case as a hang. It does not bound an injected engine hang: that ends
   * at the driver's own deadline (mtcopy's `deadlineMs`, dcbm's `timeoutMs`), on the run's clock,
   * which the harness moves there at once when the subject says the hang is all that holds the run
   * up (`EngineFaults.waitingOnHang`); without that, the hang waits the deadline out in real time.
   */
  readonly timeoutMs?: number;
}

/**
 * Options of {@link verifyMigrator}: those of {@link conformanceProperty}, and any
 * `fc.Parameters` of fast-check, passed through to its runner (`numRuns`, `seed`, `path`,
 * `verbose`, `examples`, `interruptAfterTimeLimit`, `endOnFailure`, `reporter` or
 * `asyncReporter`...). Parameters not given come from `fc.configureGlobal`; `numRuns` defaults
 * to 50 when neither says.
 *
 * @category Conformance
 */
export interface VerifyOptions extends ConformanceOptions, fc.Parameters<ConformanceCase> {}

/**
 * What the cases checked so far covered, as {@link ConformanceProperty.coverage} counts them.
 *
 * @category Conformance
 */
export interface ConformanceCoverage {
  /** Cases checked (a shrinking step or a replay is a case too). */
  readonly cases: number;
  /** Cases whose run with the migrator was compared with the serial run. */
  readonly compared: number;
  /**
   * Cases where both runs ran out of memory on an injected allocation failure: not compared with
   * the serial run, each run's own promises checked alone (see {@link verifyMigrator}).
   */
  readonly checkedAlone: number;
  /** Batches offered to the migrator. */
  readonly batches: number;
  /** Destinations it marked content-copied, and ones that fell back. */
  readonly marked: number;
  readonly fellBack: number;
  /** Faults injected, by kind. */
  readonly injected: Readonly<Record<string, number>>;
}

/** What a passing verification covered. @category Conformance */
export interface VerifyReport {
  readonly subject: string;
  /** Cases run: {@link VerifyReport.compared} plus {@link VerifyReport.checkedAlone}. */
  readonly runs: number;
  /** Cases whose run with the migrator was compared with the serial run. */
  readonly compared: number;
  /**
   * Cases where both runs ran out of memory on an injected allocation failure, which were not
   * compared with the serial run and had only each run's own promises checked (see
   * {@link verifyMigrator}).
   */
  readonly checkedAlone: number;
  /** The same count as {@link VerifyReport.checkedAlone}, under its earlier name. */
  readonly outOfMemoryCases: number;
  readonly seed: number;
  /** Whether `interruptAfterTimeLimit` stopped the run before `numRuns` cases. */
  readonly interrupted: boolean;
  /** Batches offered to the migrator over all cases. */
  readonly batches: number;
  /** Destinations it marked content-copied, and ones that fell back. */
  readonly marked: number;
  readonly fellBack: number;
  /** Faults injected, by kind. */
  readonly injected: Readonly<Record<string, number>>;
  /**
   * The report as text, starting with the cases compared and checked alone, e.g.
   * `reverse_copy: 100 cases: 62 compared with the serial path, 38 checked alone (both runs out
   * of memory)`.
   */
  readonly summary: string;
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
  if (show(serial.balloon) !== show(other.balloon))
    lines.push(`balloon: ${show(serial.balloon)} → ${show(other.balloon)}`);
  lines.push(...diffCallerObservations(serial, other));
  return lines;
};

/** How often a run with an injected engine fault asks whether only a hang holds it up, in ms. */
const HANG_POLL_MS = 1;

const withTimeout = <A>(promise: Promise<A>, ms: number, what: string): Promise<A> => {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
};

/** What the cases checked so far covered. */
interface Totals {
  cases: number;
  checkedAlone: number;
  batches: number;
  marked: number;
  fellBack: number;
  injected: Map<string, number>;
}

/** One case: the serial run, the audited run with the subject, and everything compared. */
const checkCase = async (
  subject: MigratorSubject,
  scenario: MigrationScenario,
  plan: FaultPlan | null,
  timeoutMs: number,
  totals: Totals,
  sectionPool: SectionPool,
): Promise<void> => {
  // The two runs boot kernels of their own and share nothing, so they run side by side: the
  // serial run's work fills the offloaded run's waits on its copy threads (a thread's start and
  // detach, a round, an injected hang's deadline).
  const serialRun = withTimeout(
    Effect.runPromise(runMigrationScenario(scenario, { sectionPool })),
    timeoutMs,
    "the serial run",
  );
  const audit: CopyAudit = newCopyAudit();
  let removeProbe: (() => void) | null = null;
  // The run with the subject keeps time on a clock of its own. Once an engine fault is injected,
  // whenever the subject says an injected hang is all that holds it up, the clock moves to its
  // next deadline (the driver's, or a daemon's before it) instead of waiting for it: as if the
  // process had been held up that long there, which a loaded machine does too.
  const clock = new AdjustableClock();
  let watching = false;
  let watch: ReturnType<typeof setTimeout> | undefined;
  const stopWatch = () => {
    watching = false;
    clearTimeout(watch);
  };
  const watchHangs = (kernel: Kernel) => {
    const waitingOnHang = subject.engineFaults?.waitingOnHang;
    if (!waitingOnHang || watching) return;
    watching = true;
    const poll = () => {
      // Moving the clock can run the rest of the call, its clean-up included, before it returns.
      if (waitingOnHang(kernel)) clock.skipToNextDeadline();
      if (watching) watch = setTimeout(poll, HANG_POLL_MS);
    };
    watch = setTimeout(poll, HANG_POLL_MS);
  };
  const offloadedRun = withTimeout(
    Effect.runPromise(
      Effect.provideService(
        runMigrationScenario(scenario, {
          sectionPool,
          prepare: subject.load,
          beforeCall: (kernel) =>
            Effect.sync(() => {
              const engine = subject.engineFaults;
              const inject =
                engine &&
                ((kind: string) => {
                  engine.inject(kernel, kind);
                  watchHangs(kernel);
                });
              const probe = kernel.migrateOffload.interpose(
                auditCopies(kernel, audit, plan, inject),
              );
              if (typeof probe === "function") removeProbe = probe;
            }),
          cleanup: (kernel) =>
            Effect.suspend(() => {
              stopWatch();
              removeProbe?.();
              return subject.unload(kernel);
            }),
        }),
        Clock.Clock,
        clock,
      ),
    ),
    timeoutMs,
    `the run with ${subject.name}`,
  ).finally(stopWatch);
  // Both settle before either verdict is taken, so that neither kernel outlives the case.
  const [serialDone, offloadedDone] = await Promise.allSettled([serialRun, offloadedRun]);
  if (serialDone.status === "rejected") throw serialDone.reason;
  if (offloadedDone.status === "rejected") throw offloadedDone.reason;
  const serial = serialDone.value;
  const offloaded = offloadedDone.value;
  totals.batches += audit.batches;
  totals.marked += audit.marked;
  totals.fellBack += audit.fellBack;
  if (audit.injected)
    totals.injected.set(audit.injected, (totals.injected.get(audit.injected) ?? 0) + 1);
  const ranOutOfMemory = (o: Observation) =>
    o.rc === -ERRNO.ENOMEM || o.status.includes(-ERRNO.ENOMEM);
  const outOfMemory =
    scenario.allocFailure !== undefined &&
    ranOutOfMemory(serial.observation) &&
    ranOutOfMemory(offloaded.observation);
  totals.cases++;
  if (outOfMemory) totals.checkedAlone++;
  const diff = outOfMemory ? [] : diffObservations(serial.observation, offloaded.observation);
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
 * The conformance property, for a fast-check runner of your own: what {@link verifyMigrator}
 * runs, as a value. Read more there.
 *
 * @category Conformance
 */
export interface ConformanceProperty {
  /** The subject it checks. */
  readonly subject: MigratorSubject;
  /** The generators of one case: the workload, and the fault to inject (or null). */
  readonly arbitraries: [fc.Arbitrary<MigrationScenario>, fc.Arbitrary<FaultPlan | null>];
  /**
   * Checks one case: runs it on the serial path and with the migrator (its batches audited, the
   * fault injected) on fresh kernels, and rejects with what differed or which promise broke.
   */
  readonly check: (scenario: MigrationScenario, fault: FaultPlan | null) => Promise<void>;
  /** `fc.asyncProperty(...arbitraries, check)`, for `fc.assert(property, params)`. */
  readonly property: fc.IAsyncProperty<ConformanceCase>;
  /** What the cases checked so far covered. */
  readonly coverage: () => ConformanceCoverage;
}

/**
 * Builds the conformance property of a migrator without running it: the arbitraries, the
 * check of one case, and the two as an `fc.IAsyncProperty`, so that a suite can run it with
 * `fc.assert(property, params)` or with `@fast-check/vitest`'s `test.prop(arbitraries)(name,
 * check)` and keep the copy audit, the fault plans and the out-of-memory rule of
 * {@link verifyMigrator}. `subject` is a module factory or a {@link MigratorSubject}. Throws a
 * `TypeError` for a fault class the subject cannot inject. The kernel's other callers of
 * `migrate_pages()` join the workloads with `scenarios: { callers: true }`; they are off by
 * default ({@link ConformanceOptions.scenarios}).
 *
 * @category Conformance
 *
 * @example
 * ```ts
 * import { conformanceProperty, serialCopyModule } from "@migrate-offload/testkit";
 * import fc from "fast-check";
 *
 * const conformance = conformanceProperty(serialCopyModule, { faults: ["copy-failure"] });
 * await fc.assert(conformance.property, { numRuns: 5, seed: 2 });
 * const { compared, checkedAlone, batches } = conformance.coverage();
 * console.log(compared + checkedAlone, batches > 0); // 5 true: five cases, and they offered batches
 * ```
 */
export const conformanceProperty = (
  subject: MigratorSubject | ((kernel: Kernel) => ModuleDefinition),
  options: ConformanceOptions = {},
): ConformanceProperty => {
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
  const totals: Totals = {
    cases: 0,
    checkedAlone: 0,
    batches: 0,
    marked: 0,
    fellBack: 0,
    injected: new Map(),
  };
  const timeoutMs = options.timeoutMs ?? 60_000;
  // The cases' kernels boot on the memory of those that shut down before them.
  const sectionPool = new SectionPool();
  const check = (scenario: MigrationScenario, plan: FaultPlan | null) =>
    checkCase(s, scenario, plan, timeoutMs, totals, sectionPool);
  return {
    subject: s,
    arbitraries: [scenarios, plans],
    check,
    property: fc.asyncProperty(scenarios, plans, check),
    coverage: () => ({
      cases: totals.cases,
      compared: totals.cases - totals.checkedAlone,
      checkedAlone: totals.checkedAlone,
      batches: totals.batches,
      marked: totals.marked,
      fellBack: totals.fellBack,
      injected: Object.fromEntries(totals.injected),
    }),
  };
};

/**
 * The text of a report: first how many cases were compared with the serial path and how many
 * were checked alone, then the seed and what the migrator was offered and injected.
 */
const summarize = (r: Omit<VerifyReport, "summary">): string =>
  [
    `${r.subject}: ${r.runs} cases${r.interrupted ? " (interrupted)" : ""}: ${r.compared} compared with the serial path, ${r.checkedAlone} checked alone (both runs out of memory on an injected allocation failure)`,
    `seed ${r.seed}; batches offered: ${r.batches}; marked content-copied: ${r.marked}; fell back: ${r.fellBack}`,
    `faults injected: ${
      Object.entries(r.injected)
        .map(([kind, n]) => `${kind} ${n}`)
        .join(", ") || "none"
    }`,
  ].join("\n");

/**
 * Proves a migrator equivalent to the serial path with fast-check: for every generated workload
 * and injected fault, the run with the migrator ends exactly as the serial run does, keeps every
 * byte, and leaks nothing. Resolves with what it covered; rejects with a
 * {@link MigratorConformanceError} whose message shows the shrunk case and what differed.
 *
 * Pass a module factory (its init must register the migrator with `addProvider`) or a
 * {@link MigratorSubject} for drivers that need more set-up or support engine faults. The
 * options take fast-check's own parameters too, passed through; `numRuns` comes from
 * `fc.configureGlobal` when not given, else 50. A `reporter` or `asyncReporter` gets the run
 * details as `fc.assert` would give them; a failure still rejects afterwards. With `verbose`,
 * the error message ends with fast-check's own report.
 *
 * One exception is the series' own: when both runs run out of memory on an injected allocation
 * failure (`fail_page_alloc` fails the Nth allocation), which entry meets the failure depends on
 * the order folios are processed in, and the batch path changes that order as the series does.
 * It moves batch-eligible folios before the others, so the folios that failed reach
 * `migrate_pages_sync()`'s one-by-one retry in another order. In such a case the two runs may
 * differ in which entry failed with which errno; each run's own promises (every byte intact,
 * every page where its status says, nothing leaked) are still checked, and the report counts
 * these cases in `checkedAlone`, beside the `compared` ones, and says so on its first line
 * (`summary`).
 *
 * The workloads migrate through `move_pages(2)` and direct `migrate_pages()` calls by default.
 * The kernel's other callers (compaction, `alloc_contig_pages()`, soft offline, memory
 * offlining, `mbind(2)`, `migrate_pages(2)`, hugetlb) are off by default so that pinned seeds
 * replay: pass `scenarios: { callers: true }` to add them, `callersOnly: true` for nothing else
 * ({@link ConformanceOptions.scenarios}).
 *
 * To run the property under another runner (`fc.assert`, `@fast-check/vitest`), build it with
 * {@link conformanceProperty}.
 *
 * @category Conformance
 *
 * @example
 * ```ts
 * import { reverseCopyModule, verifyMigrator } from "@migrate-offload/testkit";
 *
 * // A module factory whose init registers its migrator with `addProvider`:
 * const report = await verifyMigrator(reverseCopyModule, { numRuns: 10, seed: 2 });
 * console.log(report.summary);
 * // reverseCopyModule: 10 cases: 9 compared with the serial path, 1 checked alone (both runs
 * // out of memory on an injected allocation failure)
 * // seed 2; batches offered: 10; marked content-copied: 7; fell back: 8
 * // faults injected: copy-failure 1, partial-copy 2, decline 1
 * ```
 */
export const verifyMigrator = async (
  subject: MigratorSubject | ((kernel: Kernel) => ModuleDefinition),
  options: VerifyOptions = {},
): Promise<VerifyReport> => {
  const { faults, scenarios, timeoutMs, ...given } = options;
  const conformance = conformanceProperty(subject, { faults, scenarios, timeoutMs });
  const s = conformance.subject;
  // Keys given as undefined would hide fc.configureGlobal's values.
  const params = Object.fromEntries(
    Object.entries(given).filter(([, v]) => v !== undefined),
  ) as fc.Parameters<ConformanceCase>;
  const numRuns = params.numRuns ?? fc.readConfigureGlobal()?.numRuns ?? 50;
  const details = await fc.check(conformance.property, { ...params, numRuns });
  const reporter = details.runConfiguration.asyncReporter ?? details.runConfiguration.reporter;
  if (reporter) await reporter(details);
  if (details.failed && details.counterexample === null) {
    // fast-check fails a run that ran no case, or (markInterruptAsFailure) any interrupted one.
    throw new MigratorConformanceError(
      `${s.name}: interrupted after ${details.numRuns} cases (interruptAfterTimeLimit ${details.runConfiguration.interruptAfterTimeLimit} ms): ${details.numRuns === 0 ? "nothing was verified" : "markInterruptAsFailure is set"}`,
      null,
      { seed: details.seed, path: undefined },
    );
  }
  if (details.failed) {
    const example = details.counterexample as ConformanceCase | null;
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
      ...(details.runConfiguration.verbose ? ["", fc.defaultReportMessage(details)] : []),
    ].join("\n");
    throw new MigratorConformanceError(text, example, {
      seed: details.seed,
      path: details.counterexamplePath ?? undefined,
    });
  }
  const c = conformance.coverage();
  const report = {
    subject: s.name,
    runs: c.cases,
    compared: c.compared,
    checkedAlone: c.checkedAlone,
    outOfMemoryCases: c.checkedAlone,
    seed: details.seed,
    interrupted: details.interrupted,
    batches: c.batches,
    marked: c.marked,
    fellBack: c.fellBack,
    injected: c.injected,
  };
  return { ...report, summary: summarize(report) };
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
