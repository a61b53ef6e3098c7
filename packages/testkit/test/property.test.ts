// The conformance property as a value (conformanceProperty), under fast-check's own runners and
// @fast-check/vitest, and fast-check's parameters passed through verifyMigrator.
import { test } from "@fast-check/vitest";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import {
  type ConformanceCase,
  conformanceProperty,
  forgetfulCopyModule,
  MigratorConformanceError,
  serialCopyModule,
  verifyMigrator,
} from "../src/index";

/** One fault class keeps these cases short; the full suites are in conformance.test.ts. */
const faults = ["copy-failure"] as const;

afterEach(() => fc.resetConfigureGlobal());

/** The shrunk failing case of the forgetful migrator, under seed 42 (docs/conformance.md). */
const forgetfulCase = async (): Promise<ConformanceCase> => {
  const error = await verifyMigrator(forgetfulCopyModule, { numRuns: 200, seed: 42 }).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MigratorConformanceError);
  return (error as MigratorConformanceError).counterexample as ConformanceCase;
};

describe("conformanceProperty", () => {
  it("runs under fc.assert with its parameters, and counts what its cases covered", async () => {
    const conformance = conformanceProperty(serialCopyModule, { faults });
    await fc.assert(conformance.property, { numRuns: 6, seed: 2 });
    const c = conformance.coverage();
    expect(c.cases).toBe(6);
    expect(c.compared + c.checkedAlone).toBe(6);
    expect(c.batches).toBeGreaterThan(0);
    expect(c.marked).toBeGreaterThan(0);
  }, 120_000);

  it("fails fc.assert for a migrator that marks a folio it did not copy", async () => {
    const conformance = conformanceProperty(forgetfulCopyModule, { faults });
    const error = await fc
      .assert(conformance.property, { numRuns: 200, seed: 42, endOnFailure: true })
      .then(
        () => null,
        (e: unknown) => e as Error,
      );
    expect(error?.message).toMatch(/^Property failed after \d+ tests/);
    // fast-check keeps the check's own error as the cause: the audit names batch and folio.
    expect((error?.cause as Error | undefined)?.message).toMatch(
      /batch \d+: folio \d+ of \d+ \(\d+ pages\) is marked content-copied, but its byte/,
    );
  }, 300_000);

  it("throws a TypeError for a fault class the subject cannot inject", () => {
    expect(() => conformanceProperty(serialCopyModule, { faults: ["hang"] })).toThrow(TypeError);
  });
});

describe("conformanceProperty under @fast-check/vitest", () => {
  const conformance = conformanceProperty(serialCopyModule, { faults });
  test.prop(conformance.arbitraries, { numRuns: 5, seed: 2 })(
    "the kernel's own batch copy ends every case as the serial path does",
    async (scenario, fault) => {
      await conformance.check(scenario, fault);
    },
    120_000,
  );
  it("ran the five cases through the exported check", () => {
    expect(conformance.coverage().cases).toBe(5);
  });
});

describe("verifyMigrator passes fast-check's parameters through", () => {
  it("takes numRuns from fc.configureGlobal when none is given", async () => {
    fc.configureGlobal({ numRuns: 3, seed: 2 });
    const report = await verifyMigrator(serialCopyModule, { faults });
    expect(report.runs).toBe(3);
    expect(report.seed).toBe(2);
    // A numRuns given wins over the global one.
    expect((await verifyMigrator(serialCopyModule, { faults, numRuns: 2 })).runs).toBe(2);
  }, 120_000);

  it("runs `examples` first", async () => {
    const known = await forgetfulCase();
    const error = await verifyMigrator(forgetfulCopyModule, {
      examples: [known],
      numRuns: 1,
      seed: 7,
    }).then(
      () => null,
      (e: unknown) => e as MigratorConformanceError,
    );
    expect(error?.message).toContain("found a case after 1 runs");
    // The kernel's copy passes the same example.
    const report = await verifyMigrator(serialCopyModule, { examples: [known], numRuns: 1 });
    expect(report.runs).toBe(1);
  }, 300_000);

  it("hands the run details to a reporter or an asyncReporter, as fc.assert does", async () => {
    const seen: number[] = [];
    await verifyMigrator(serialCopyModule, {
      faults,
      numRuns: 2,
      reporter: (details) => {
        seen.push(details.numRuns);
      },
    });
    await verifyMigrator(serialCopyModule, {
      faults,
      numRuns: 3,
      asyncReporter: async (details) => {
        seen.push(details.numRuns);
      },
    });
    expect(seen).toEqual([2, 3]);
  }, 120_000);

  it("ends the message with fast-check's own report when verbose, and skips shrinking with endOnFailure", async () => {
    const error = await verifyMigrator(forgetfulCopyModule, {
      numRuns: 200,
      seed: 42,
      verbose: 2,
      endOnFailure: true,
    }).then(
      () => null,
      (e: unknown) => e as MigratorConformanceError,
    );
    expect(error).toBeInstanceOf(MigratorConformanceError);
    expect(error!.message).toContain("shrank it 0 times");
    expect(error!.message).toMatch(/Property failed after \d+ tests/);
  }, 300_000);

  it("says so when interruptAfterTimeLimit stopped it before any case ran (fast-check fails such a run)", async () => {
    const error = await verifyMigrator(serialCopyModule, {
      faults,
      numRuns: 1000,
      interruptAfterTimeLimit: 0,
    }).then(
      () => null,
      (e: unknown) => e as MigratorConformanceError,
    );
    expect(error).toBeInstanceOf(MigratorConformanceError);
    expect(error!.message).toBe(
      "serialCopyModule: interrupted after 0 cases (interruptAfterTimeLimit 0 ms): nothing was verified",
    );
    expect(error!.counterexample).toBe(null);
  }, 120_000);
});
