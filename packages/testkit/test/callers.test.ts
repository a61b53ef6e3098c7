import {
  type Kernel,
  MIGRATE_REASONS_ALL,
  type Migrator,
  type ModuleDefinition,
  MR_COMPACTION,
  migrateFoliosMcCopy,
} from "@migrate-offload/core";
import { Effect } from "effect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  conformanceProperty,
  diffObservations,
  forgetfulCopyModule,
  MIGRATION_CALLERS,
  type MigrationScenario,
  MigratorConformanceError,
  moduleSubject,
  reverseCopyModule,
  runMigrationScenario,
  serialCopyModule,
  verifyMigrator,
} from "../src/index";
import { callerScenario } from "./scenarios";

/** Runs per subject in CI; `pnpm run conformance` raises it. */
const RUNS = Number(process.env.CONFORMANCE_RUNS ?? 24);

/** A small anonymous workload on node 0 of two 16 MiB nodes, and a caller request. */
const scenario = (
  caller: string,
  fragment: { unmovableEvery: number; pageCacheEvery: number } | null,
): MigrationScenario => callerScenario({ syscall: "caller", caller, nid: 0, fragment });

const run = (s: MigrationScenario, prepare?: (k: Kernel) => Effect.Effect<void, unknown>) =>
  Effect.runPromise(runMigrationScenario(s, prepare ? { prepare } : {}));

/** Loads the kernel's own batch copy as the active migrator. */
const serialCopy = moduleSubject(serialCopyModule, "serial_copy");

describe("the caller table", () => {
  it("lists every caller of migrate_pages() the model has, with its reason", () => {
    expect(MIGRATION_CALLERS.map((c) => [c.name, c.reason])).toEqual([
      ["compact_memory", 0], // MR_COMPACTION (include/linux/migrate_mode.h)
      ["node_compact", 0],
      ["thp_fault", 0],
      ["alloc_contig_pages", 6], // MR_CONTIG_RANGE
      ["demotion", 8], // MR_DEMOTION
      ["promotion", 5], // MR_NUMA_MISPLACED
      ["tiering", 8], // then MR_NUMA_MISPLACED
    ]);
  });
});

describe("the oracle drives each caller and observes it", () => {
  it("compact_memory on a fragmented node: compaction migrates for MR_COMPACTION and frees whole order-10 blocks (mm/compaction.c compact_nodes())", async () => {
    const { observation: o, problems } = await run(
      scenario("compact_memory", { unmovableEvery: 0, pageCacheEvery: 0 }),
    );
    expect(problems).toEqual([]);
    expect(o.rc).toBe(0);
    expect(o.vmstat.compact_isolated).toBeGreaterThan(0);
    expect(o.vmstat.pgmigrate_success).toBeGreaterThan(0);
    // Every page migrated was traced for the compaction reason, and for no other.
    expect(Object.keys(o.reasons ?? {})).toEqual(["compaction"]);
    expect(o.reasons?.compaction?.succeeded).toBe(o.vmstat.pgmigrate_success);
    // buddyinfo of node 0 afterwards: whole MAX_PAGE_ORDER blocks again.
    const buddy = o.caller?.result as number[][];
    expect(buddy[0]![10]).toBeGreaterThan(0);
  }, 60_000);

  it("a THP fault on a fragmented node compacts directly: compact_stall and compact_success, then thp_fault_alloc (mm/page_alloc.c __alloc_pages_direct_compact())", async () => {
    const { observation: o, problems } = await run(
      scenario("thp_fault", { unmovableEvery: 64, pageCacheEvery: 8 }),
    );
    expect(problems).toEqual([]);
    expect(o.vmstat).toMatchObject({
      compact_stall: 1,
      compact_success: 1,
      compact_fail: 0,
      thp_fault_alloc: 1,
      thp_fault_fallback: 0,
    });
    expect(o.reasons?.compaction?.succeeded).toBeGreaterThan(0);
  }, 60_000);

  it("alloc_contig_pages takes a free MAX_PAGE_ORDER + 1 range, and on a fragmented node migrates for MR_CONTIG_RANGE before failing with ENOMEM", async () => {
    const free = await run(scenario("alloc_contig_pages", null));
    expect(free.problems).toEqual([]);
    expect(free.observation.rc).toBe(0);
    // Naturally aligned to its order (11: 2048 pages of 4 KiB).
    const { pfn } = free.observation.caller!.result as { pfn: number };
    expect(pfn % 2048).toBe(0);
    const fragmented = await run(
      scenario("alloc_contig_pages", { unmovableEvery: 0, pageCacheEvery: 0 }),
    );
    expect(fragmented.problems).toEqual([]);
    expect(fragmented.observation.rc).toBe(-12);
    expect(fragmented.observation.reasons?.contig_range?.succeeded).toBeGreaterThan(0);
  }, 60_000);

  it("compaction is deterministic: with the batch copy every page ends in the same frame as on the serial path", async () => {
    for (const caller of ["compact_memory", "node_compact", "thp_fault"]) {
      const s = scenario(caller, { unmovableEvery: 64, pageCacheEvery: 8 });
      const serial = await run(s);
      const batched = await run(s, serialCopy.load);
      expect(serial.observation.vmstat.pgmigrate_success).toBeGreaterThan(0);
      expect(diffObservations(serial.observation, batched.observation)).toEqual([]);
      expect(batched.observation.caller?.pfns).toEqual(serial.observation.caller?.pfns);
    }
  }, 120_000);

  it("reports a caller's difference: another frame for a page, another result", () => {
    const s = {
      rc: 0,
      status: [],
      nodes: [],
      childNodes: null,
      vmstat: {},
      stats: {
        nrSucceeded: 0,
        nrFailedPages: 0,
        nrThpSucceeded: 0,
        nrThpFailed: 0,
        nrThpSplit: 0,
        nrSplit: 0,
      },
      freePages: [],
      balloon: null,
      reasons: { compaction: { succeeded: 2, failed: 0 } },
      caller: { name: "compact_memory", result: [[1]], pfns: [[10, 11]] },
    };
    const o = {
      ...s,
      reasons: { compaction: { succeeded: 1, failed: 1 } },
      caller: { name: "compact_memory", result: [[2]], pfns: [[10, 12]] },
    };
    expect(diffObservations(s, o)).toEqual([
      'mm_migrate_pages for compaction: {"succeeded":2,"failed":0} → {"succeeded":1,"failed":1}',
      "compact_memory result: [[1]] → [[2]]",
      "pfn of region 0 pages 1: 11 → 12",
    ]);
  });
});

describe("verifyMigrator under every caller", () => {
  for (const [name, subject] of [
    ["serial_copy", serialCopy],
    ["reverse_copy", moduleSubject(reverseCopyModule, "reverse_copy")],
  ] as const) {
    it(`${name}: every caller, every injected fault, ends as the serial path does`, async () => {
      const conformance = conformanceProperty(subject, {
        scenarios: { callers: true, callersOnly: true },
      });
      const seen = new Set<string>();
      const property = fc.asyncProperty(...conformance.arbitraries, (s, plan) => {
        if (s.request.syscall === "caller") seen.add(s.request.caller);
        return conformance.check(s, plan);
      });
      await fc.assert(property, { numRuns: RUNS, seed: 5 });
      expect([...seen].sort()).toEqual(MIGRATION_CALLERS.map((c) => c.name).sort());
      expect(conformance.coverage().marked).toBeGreaterThan(0);
    }, 300_000);
  }

  it("catches the forgetful migrator under compaction alone", async () => {
    const failure = await verifyMigrator(forgetfulCopyModule, {
      numRuns: 20,
      seed: 3,
      faults: [],
      scenarios: { callers: ["compact_memory", "node_compact"], callersOnly: true },
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(MigratorConformanceError);
    const error = failure as MigratorConformanceError;
    expect(error.counterexample?.[0].request.syscall).toBe("caller");
    // The copy audit sees the destination it marked but did not copy.
    expect(error.message).toMatch(/request: (compact_memory|node_compact) on node/);
  }, 120_000);
});

/** A migrator with a reason mask that copies as the kernel does and counts the batches it gets. */
const recordingModule =
  (mask: number, seen: { batches: number }) =>
  (kernel: Kernel): ModuleDefinition => {
    let migrator: Migrator;
    return {
      name: "recording",
      init: (module) => {
        migrator = {
          name: "recording",
          owner: module,
          shouldBatch: () => true,
          offloadCopy: (dst, src) =>
            Effect.sync(() => {
              seen.batches++;
              return migrateFoliosMcCopy(kernel, dst, src);
            }),
        };
        return kernel.migrateOffload.addProvider(migrator, mask);
      },
      exit: () => Effect.ignore(kernel.migrateOffload.removeProvider(migrator)),
    };
  };

describe("a migrator's reason mask, through the testkit", () => {
  const compaction = {
    callers: ["compact_memory", "node_compact", "thp_fault"],
    callersOnly: true,
  };
  it("a mask with compaction is offered compaction's batches (mm/migrate.c: the reason is in the migrator's mask)", async () => {
    const seen = { batches: 0 };
    const report = await verifyMigrator(
      moduleSubject(recordingModule(1 << MR_COMPACTION, seen), "recording"),
      { numRuns: 8, seed: 4, faults: [], scenarios: compaction },
    );
    expect(report.compared).toBe(8);
    expect(seen.batches).toBeGreaterThan(0);
    expect(report.batches).toBe(seen.batches);
  }, 120_000);

  it("a mask without compaction is offered none of them, and compaction still ends as on the serial path", async () => {
    const seen = { batches: 0 };
    const report = await verifyMigrator(
      moduleSubject(
        recordingModule(MIGRATE_REASONS_ALL & ~(1 << MR_COMPACTION), seen),
        "recording",
      ),
      { numRuns: 8, seed: 4, faults: [], scenarios: compaction },
    );
    expect(report.compared).toBe(8);
    expect(seen.batches).toBe(0);
    expect(report.batches).toBe(0);
  }, 120_000);
});
