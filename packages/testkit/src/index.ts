/**
 * `@migrate-offload/testkit`: property-based conformance testing for page migration.
 *
 * Today it holds the random migration workloads ({@link migrationScenarioArb}) and the oracle that
 * runs one and checks every promise ({@link runMigrationScenario}). The migrator conformance
 * suite builds on them.
 *
 * @packageDocumentation
 */
export * from "./oracle";
export * from "./workload";

/** The version of the scenario format. */
export const TESTKIT_FORMAT_VERSION = 1;
