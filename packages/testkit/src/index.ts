/**
 * `@migrate-offload/testkit`: property-based conformance testing for page migration.
 *
 * - {@link verifyMigrator} proves a migrator equivalent to the serial path over random workloads
 *   and injected faults, and reports the smallest counterexample.
 * - {@link verifyRegistryRaces} drives a migrator through load, switch, unload and concurrent
 *   migrations under `fc.scheduler`, checking the registry's promises.
 * - {@link stressMigrator} ping-pongs memory between nodes while readers and writers use it.
 * - The pieces are exported too: the workload generators ({@link scenarioArb}), the oracle
 *   ({@link runMigrationScenario}, {@link diffObservations}) and the copy audit
 *   ({@link auditCopies}).
 *
 * @packageDocumentation
 */
export * from "./audit";
export * from "./conformance";
export * from "./oracle";
export * from "./races";
export * from "./stress";
export * from "./workload";

/** The version of the scenario format. */
export const TESTKIT_FORMAT_VERSION = 2;
