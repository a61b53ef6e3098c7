/**
 * `@migrate-offload/testkit`: property-based conformance testing for page migration.
 *
 * - {@link verifyMigrator} proves a migrator equivalent to the serial path over random workloads
 *   and injected faults, and reports the smallest counterexample; {@link conformanceProperty} is
 *   the same property as a value, for `fc.assert` or `@fast-check/vitest`.
 * - {@link reverseCopyModule} is the example migrator of the guide, ready to load or verify.
 * - {@link verifyRegistryRaces} drives a migrator through load, switch, unload and concurrent
 *   migrations under `fc.scheduler`, checking the registry's promises.
 * - {@link stressMigrator} ping-pongs memory between nodes while readers and writers use it.
 * - The pieces are exported too: the workload generators ({@link scenarioArb}), the oracle
 *   ({@link runMigrationScenario}, {@link diffObservations}) and the copy audit
 *   ({@link auditCopies}), and the table of the kernel's callers of `migrate_pages()` the
 *   workloads drive ({@link MIGRATION_CALLERS}), memory tiering among them ({@link driveTiering}).
 *
 * @packageDocumentation
 */

// Audit: the probe around every batch copy, and the faults it injects at the batch boundary.
export {
  auditCopies,
  type CopyAudit,
  type FaultPlan,
  faultPlanArb,
  MIGRATOR_FAULT_KINDS,
  type MigratorFaultKind,
  newCopyAudit,
} from "./audit";
// Callers: the kernel's callers of migrate_pages() the workloads drive, one table entry each.
export {
  type CallerArgs,
  type CallerObservation,
  type CallerOutcome,
  type CallerRequest,
  type CallerRun,
  type CallerWorkload,
  callerRequestArb,
  checkAndReleaseCaller,
  diffCallerObservations,
  MIGRATION_CALLERS,
  type MigrationCaller,
  migrationCaller,
  type ReasonCounts,
  setupCaller,
} from "./callers";
// Clock: the clock of the run with the migrator, which the harness moves past an injected hang.
export { AdjustableClock } from "./clock";
// Conformance: a migrator against the serial path, the property itself for other runners, the
// subjects it loads, and the comparison of two runs' observations (`diffObservations`, part of
// the oracle).
export {
  type ConformanceCase,
  type ConformanceCoverage,
  type ConformanceOptions,
  type ConformanceProperty,
  type CoveredVerifyOptions,
  conformanceProperty,
  diffObservations,
  type EngineFaults,
  type FaultClass,
  MigratorConformanceError,
  type MigratorSubject,
  moduleSubject,
  serialCopyModule,
  type VerifyOptions,
  type VerifyReport,
  verifyMigrator,
  verifyMigratorCovered,
} from "./conformance";
// Examples: the migrator of docs/writing-a-migrator.md, and a broken one.
export { forgetfulCopyModule, reverseCopyModule } from "./examples";
// Oracle: run one scenario on a fresh kernel and check every observable promise.
export {
  type BalloonObservation,
  type Observation,
  runMigrationScenario,
  type ScenarioOptions,
  type ScenarioReport,
  scenarioPageBytes,
} from "./oracle";
export { pfnAt } from "./pages";
// Races: registration, switching and unloading against migrations in flight.
export { type RaceOptions, verifyRegistryRaces } from "./races";
// Stress: ping-pong migration under concurrent readers and writers.
export { type StressOptions, type StressReport, stressMigrator } from "./stress";
// Sysfs fuzz: every writable sysfs and procfs file written with valid values and junk.
export {
  formatSysfsFuzzFailure,
  fuzzSysfsWrites,
  type SysfsFuzzCommand,
  type SysfsFuzzDeviation,
  type SysfsFuzzFailure,
  type SysfsFuzzFileCount,
  type SysfsFuzzOptions,
  type SysfsFuzzReport,
} from "./sysfs_fuzz";
// Tiering: hot and cold sets on a machine with a slow tier, demoted by reclaim and promoted by
// NUMA balancing (the demotion, promotion and tiering callers).
export {
  driveTiering,
  TIERING_COUNTERS,
  type TieringPhases,
  type TieringResult,
  type TieringWorkload,
  tieringWorkloadArb,
} from "./tiering";
// Generators: random machines, mappings, page states and migration requests (fast-check).
export {
  allocFailureArb,
  type BalloonSpec,
  balloonArb,
  formatScenario,
  type MigrationRequest,
  type MigrationScenario,
  type MoveEntry,
  migrationRequestArb,
  migrationScenarioArb,
  type PageRef,
  type RegionKind,
  type RegionSpec,
  regionArb,
  type ScenarioArbOptions,
  scenarioArb,
} from "./workload";

/**
 * The version of the scenario format ({@link MigrationScenario}). The pack check imports it to
 * prove that the published package loads.
 *
 * @category Generators
 */
export const TESTKIT_FORMAT_VERSION = 5;
