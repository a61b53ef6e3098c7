import {
  ERRNO,
  type Kernel,
  type Migrator,
  type ModuleDefinition,
  migrateFoliosMcCopy,
  pageHasMovableOps,
} from "@migrate-offload/core";
import { Effect } from "effect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  allocFailureArb,
  diffObservations,
  forgetfulCopyModule,
  MigratorConformanceError,
  moduleSubject,
  reverseCopyModule,
  runMigrationScenario,
  scenarioArb,
  serialCopyModule,
  stressMigrator,
  verifyMigrator,
  verifyMigratorCovered,
  verifyRegistryRaces,
} from "../src/index";

/** Runs per migrator in CI; `pnpm run conformance` raises it. */
const RUNS = Number(process.env.CONFORMANCE_RUNS ?? 40);
/** The replay path of a case, under seed -1517631987, where the batch path reorders retries. */
const REORDERED_CASE =
  "14:1:1:5:3:3:3:3:3:3:3:3:3:3:3:3:3:3:3:3:3:3:3:3:3:3:3:3:3:3:4:4:5:11:12:11:11:11:11:11:11:12:12:11:12:11:12:11:11:11:11:12:11:11:11:11:11:14:14:14:14:14:14:14:14:14:14:15:15:15:15:15:5:5:5:26:8:8:8:8:17:17:17:22:21:23:22:22:21:23:26:22:21:21:22:22:21:22:24:24:23:22:25:22:22:24:22:22:38:40:38:38:38:38:38:38:41:39:39:44:41:41:41:41:41:42:42";

/** What {@link recordingModule} saw over every case. */
interface Seen {
  batched: number;
  movableOps: number;
  balloonMigrated: number;
}

/**
 * A migrator that copies as the kernel does and records every source folio it is offered, and how
 * many of them are movable_ops pages; at unload it adds up the case's `balloon_migrate`.
 */
const recordingModule =
  (seen: Seen) =>
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
              for (const folio of src) {
                seen.batched++;
                if (pageHasMovableOps(kernel, folio)) seen.movableOps++;
              }
              return migrateFoliosMcCopy(kernel, dst, src);
            }),
        };
        return kernel.migrateOffload.addProvider(migrator);
      },
      exit: () => {
        seen.balloonMigrated += kernel.vmstat.get("balloon_migrate");
        return Effect.ignore(kernel.migrateOffload.removeProvider(migrator));
      },
    };
  };

describe("verifyMigrator", () => {
  it("proves a migrator equivalent with balloon pages present, and the migrator never sees one (v6: movable_ops pages are never batched)", async () => {
    const seen: Seen = { batched: 0, movableOps: 0, balloonMigrated: 0 };
    const report = await verifyMigrator(moduleSubject(recordingModule(seen), "recording"), {
      numRuns: RUNS,
      seed: 11,
      faults: [],
    });
    expect(report.runs).toBe(RUNS);
    // Balloon pages were migrated in these cases, through their owner, beside batched folios.
    expect(seen.balloonMigrated).toBeGreaterThan(0);
    expect(seen.batched).toBeGreaterThan(0);
    expect(seen.movableOps).toBe(0);
  }, 300_000);

  it("passes the kernel's own batch copy, under every fault class", async () => {
    const subject = moduleSubject(serialCopyModule, "serial_copy");
    const { known, fresh } = await verifyMigratorCovered(subject, { numRuns: RUNS });
    expect(known.seed).toBe(2);
    expect([known.runs, fresh.runs]).toEqual([RUNS, RUNS]);
    // The runs reached batches, copies and injected faults, not only idle paths.
    expect(known.batches).toBeGreaterThan(0);
    expect(known.marked).toBeGreaterThan(0);
    expect(Object.keys(known.injected).length).toBeGreaterThan(0);
  }, 300_000);

  it("runs a scenario that mlocks more than the default RLIMIT_MEMLOCK: its process is unlimited", async () => {
    // Three mlocked anonymous regions of 1 + 1024 + 1024 pages (2049 pages, past MLOCK_LIMIT's
    // 2048): the scenario's process runs as under `ulimit -l unlimited`, so mlock() succeeds.
    const report = await verifyMigrator(moduleSubject(serialCopyModule, "serial_copy"), {
      seed: 1,
      path: "222:0:0:0:0:2:1:1:1:1:3:4:4:4:5:5:6:6:6:7:7:7:7:7:7:7:7:7:7:7:7",
    });
    expect(report.runs).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it("lets the batch path reorder which folio meets an injected allocation failure, and counts the case", async () => {
    // A pinned file folio (not batch-eligible) and a hwpoisoned anonymous one (batched): the
    // batch path moves the poisoned one first, so the one-by-one sync retry meets the third
    // allocation, which fails, with the other folio than the serial path does.
    const report = await verifyMigrator(moduleSubject(serialCopyModule, "serial_copy"), {
      seed: -1517631987,
      path: REORDERED_CASE,
    });
    // Counted up front: the case was checked alone, not compared with the serial run.
    expect(report.checkedAlone).toBeGreaterThanOrEqual(1);
    expect(report.outOfMemoryCases).toBe(report.checkedAlone);
    expect(report.compared + report.checkedAlone).toBe(report.runs);
    expect(report.summary.split("\n")[0]).toBe(
      `serial_copy: ${report.runs} cases: ${report.compared} compared with the serial path, ${report.checkedAlone} checked alone (both runs out of memory on an injected allocation failure)`,
    );
  }, 60_000);

  it("a move_pages that fails as a whole ends alike on the serial and the batch path: same errno, statuses and memory (property)", async () => {
    // do_pages_move() (mm/migrate.c) returns migrate_pages()'s -ENOMEM and leaves the failed
    // run's statuses unwritten. With the kernel's own batch copy, every such call ends exactly as
    // on the serial path, compared in full (not only checked alone), and the property meets such
    // calls, not only calls that succeed.
    const subject = moduleSubject(serialCopyModule, "serial_copy");
    const scenarios = fc
      .tuple(scenarioArb({ migratePages: false }), allocFailureArb)
      .map(([scenario, allocFailure]) => ({ ...scenario, allocFailure }));
    let failedWhole = 0;
    await fc.assert(
      fc.asyncProperty(scenarios, async (scenario) => {
        const serial = await Effect.runPromise(runMigrationScenario(scenario));
        const batched = await Effect.runPromise(
          runMigrationScenario(scenario, { prepare: subject.load, cleanup: subject.unload }),
        );
        expect(serial.problems).toEqual([]);
        expect(batched.problems).toEqual([]);
        expect(diffObservations(serial.observation, batched.observation)).toEqual([]);
        if (serial.observation.rc === -ERRNO.ENOMEM) failedWhole++;
      }),
      { numRuns: 80, seed: 11 },
    );
    expect(failedWhole).toBeGreaterThan(0);
  }, 300_000);

  it("passes the example migrator of docs/writing-a-migrator.md", async () => {
    const { known } = await verifyMigratorCovered(reverseCopyModule, { numRuns: RUNS });
    expect(known.marked).toBeGreaterThan(0);
  }, 300_000);

  it("catches a migrator that marks a folio it did not copy, and reports the shrunk case", async () => {
    const failure = await verifyMigrator(forgetfulCopyModule, { numRuns: 200, seed: 42 }).then(
      () => null,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(MigratorConformanceError);
    const error = failure as MigratorConformanceError;
    expect(error.message).toContain("is marked content-copied, but its byte");
    expect(error.message).toContain("scenario:");
    expect(error.message).toContain("replay: verifyMigrator(subject, { seed: 42,");
    // The case replays from the reported seed and path alone.
    const again = await verifyMigrator(forgetfulCopyModule, { ...error.replay, numRuns: 1 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(again).toBeInstanceOf(MigratorConformanceError);
  }, 300_000);

  it("rejects a fault class the subject cannot inject", async () => {
    await expect(verifyMigrator(serialCopyModule, { faults: ["hang"] })).rejects.toThrow(
      "cannot inject hang",
    );
  });
});

describe("verifyRegistryRaces", () => {
  it("finds no race in the example migrator's registration, switching and unloading", async () => {
    await verifyRegistryRaces(moduleSubject(reverseCopyModule, "reverse_copy"), { numRuns: 60 });
  }, 120_000);

  it("lets a migration call the subject once loading has begun to activate it (a seed that once reported that as a race)", async () => {
    await verifyRegistryRaces(moduleSubject(reverseCopyModule, "reverse_copy"), {
      numRuns: 30,
      seed: 715786186,
    });
  }, 120_000);
});

describe("stressMigrator", () => {
  it("ping-pongs memory under readers and writers with the example migrator: nothing torn, stale or lost", async () => {
    const report = await stressMigrator(moduleSubject(reverseCopyModule, "reverse_copy"), {
      rounds: 8,
    });
    // Every page but the second of each THP, whose entry meets its folio isolated already.
    expect(report.pagesMigrated).toBe(8 * (1024 + 64 - 2));
    expect(report.writes).toBeGreaterThan(0);
    expect(report.reads).toBeGreaterThan(0);
  }, 120_000);

  it("catches the forgetful migrator", async () => {
    await expect(
      stressMigrator(moduleSubject(forgetfulCopyModule, "forgetful"), { rounds: 2 }),
    ).rejects.toThrow(/forgetful under stress:[\s\S]*(torn read|holds page|lost a write)/);
  }, 120_000);
});
