import {
  batchPairs,
  ERRNO,
  folioMarkContentCopied,
  folioMcCopy,
  MIGRATE_ASYNC,
  MR_COMPACTION,
  PG_offline,
  setMovableOps,
} from "@migrate-offload/core";
import { Effect } from "effect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type MigrationScenario, migrationScenarioArb, runMigrationScenario } from "../src/index";

/** One written anonymous page and a balloon of four pages, two of them migrated to node 1. */
const balloonScenario = (ownerCopies: boolean): MigrationScenario => ({
  pageSize: 4096,
  nodesMiB: [16, 16],
  thp: "never",
  mthp: false,
  regions: [{ kind: "anon", pages: 1, hugepage: undefined, written: 1, read: 0, mlocked: false }],
  fork: false,
  pins: [],
  poison: [],
  writeback: [],
  fs: "migrate_folio",
  entries: [{ region: 0, page: 0, node: 1 }],
  request: { syscall: "migrate_pages", mode: MIGRATE_ASYNC, reason: MR_COMPACTION },
  fragmentOrder: undefined,
  allocFailure: undefined,
  balloon: {
    pages: 4,
    entries: [
      { page: 1, node: 1 },
      { page: 3, node: 1 },
      { page: 1, node: 0 },
    ],
    ownerCopies,
  },
});

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

  for (const ownerCopies of [false, true]) {
    it(`migrates balloon pages with the process's folios under MR_COMPACTION (${ownerCopies ? "an owner that copies" : "virtio"}): pgmigrate_success and balloon_migrate count them`, async () => {
      const report = await Effect.runPromise(runMigrationScenario(balloonScenario(ownerCopies)));
      expect(report.problems).toEqual([]);
      const o = report.observation;
      expect(o.rc).toBe(0);
      expect(o.status).toEqual([1]);
      // The third entry names a page the first already isolated: it isolates nothing.
      expect(o.balloon).toEqual({ status: [1, 1, null], nodes: [0, 0, 1, 1], isolated: 0 });
      expect(o.vmstat).toMatchObject({
        pgmigrate_success: 3,
        pgmigrate_fail: 0,
        balloon_migrate: 2,
        balloon_inflate: 0,
        balloon_deflate: 0,
      });
    });
  }

  it("reports an owner whose migrate_page loses the page from its balloon", async () => {
    const report = await Effect.runPromise(
      runMigrationScenario(balloonScenario(true), {
        // An owner that answers success without taking the new page into its balloon.
        beforeCall: (k) =>
          Effect.sync(() => {
            const balloonMops = k.movableOps.get(PG_offline)!;
            setMovableOps(k, null, PG_offline);
            setMovableOps(
              k,
              {
                isolatePage: (page, mode) => balloonMops.isolatePage(page, mode),
                putbackPage: (page) => balloonMops.putbackPage(page),
                migratePage: (_dst, src) => {
                  const b = k.balloonDevices.get(k.memmap.private[src]!)!;
                  b.isolatedPages--;
                  k.memmap.private[src] = 0;
                  k.memmap.refcount[src]!--;
                  return 0;
                },
              },
              PG_offline,
            );
          }),
      }),
    );
    expect(report.problems).toContain("balloon: 2 pages listed, 4 inflated");
    expect(report.problems).toContain("balloon_migrate +0, but 2 balloon pages moved");
  });

  it("reads every page back after the call and names the first whose bytes differ: a copy that should be zeroes and is not", async () => {
    // Page 0 holds the scenario's bytes; page 1 was faulted in by mlock() and holds zeroes. Both
    // move; the migrator copies each, then sets a byte in the copy of the page of zeroes.
    const scenario: MigrationScenario = {
      ...balloonScenario(false),
      regions: [
        { kind: "anon", pages: 2, hugepage: undefined, written: 1, read: 0, mlocked: true },
      ],
      entries: [
        { region: 0, page: 0, node: 1 },
        { region: 0, page: 1, node: 1 },
      ],
      request: { syscall: "move_pages", moveAll: false },
      balloon: undefined,
    };
    const report = await Effect.runPromise(
      runMigrationScenario(scenario, {
        prepare: (k) =>
          k.migrateOffload.register({
            name: "zero_scribbler",
            owner: null,
            shouldBatch: () => true,
            offloadCopy: (dst, src) =>
              Effect.sync(() => {
                for (const [d, s] of batchPairs(dst, src)) {
                  if (folioMcCopy(k, d, s) !== 0) return -ERRNO.EIO;
                  const bytes = k.mem.bytes(d);
                  if (bytes.every((b) => b === 0)) bytes[100] = 1;
                  folioMarkContentCopied(k, d);
                }
                return 0;
              }),
          }),
      }),
    );
    expect(report.observation.status).toEqual([1, 1]);
    const differ = report.problems.filter((p) => p.includes("bytes differ"));
    expect(differ).toHaveLength(1);
    expect(differ[0]).toMatch(/^pid \d+ region 0 page 1: bytes differ after the call$/);
  });

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
