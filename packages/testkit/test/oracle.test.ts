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

  it("refuses a scenario that refers to a page outside its regions", async () => {
    const [scenario] = fc.sample(migrationScenarioArb, { numRuns: 1, seed: 7 });
    if (!scenario) throw new Error("fast-check sampled nothing");
    const region = scenario.regions.length;
    const error = await Effect.runPromise(
      Effect.flip(runMigrationScenario({ ...scenario, pins: [{ region, page: 0 }] })),
    );
    expect(error).toEqual(
      new RangeError(`scenario refers to page 0 of region ${region}; it has ${region} regions`),
    );
  });
});
