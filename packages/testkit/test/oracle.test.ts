import { Effect } from "effect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { migrationScenarioArb, runMigrationScenario } from "../src/index";

describe("migrations over random workloads (property)", () => {
  it("every page reads back, lives where its status says, counters add up, nothing leaks", async () => {
    await fc.assert(
      fc.asyncProperty(migrationScenarioArb, async (scenario) => {
        const report = await Effect.runPromise(runMigrationScenario(scenario));
        expect(report.problems).toEqual([]);
      }),
      { numRuns: 120 },
    );
  }, 120_000);

  it("is deterministic: the same scenario observes the same result twice", async () => {
    await fc.assert(
      fc.asyncProperty(migrationScenarioArb, async (scenario) => {
        const a = await Effect.runPromise(runMigrationScenario(scenario));
        const b = await Effect.runPromise(runMigrationScenario(scenario));
        expect(b.observation).toEqual(a.observation);
      }),
      { numRuns: 20 },
    );
  }, 120_000);
});
