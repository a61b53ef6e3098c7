import {
  type Kernel,
  MIGRATE_REASONS_ALL,
  type MigrateReason,
  MR_DEMOTION,
  MR_NUMA_MISPLACED,
} from "@migrate-offload/core";
import {
  type MigratorSubject,
  type RecordingMigrator,
  recordingMigrator,
} from "@migrate-offload/core/testing";
import { dcbmConformanceSubject } from "@migrate-offload/dcbm/testing";
import { mtcopyConformanceSubject } from "@migrate-offload/mtcopy/testing";
import { Effect } from "effect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  diffObservations,
  forgetfulCopyModule,
  formatScenario,
  type MigrationScenario,
  MigratorConformanceError,
  migrationCaller,
  moduleSubject,
  runMigrationScenario,
  scenarioArb,
  serialCopyModule,
  type TieringResult,
  type TieringWorkload,
  verifyMigrator,
} from "../src/index";
import { callerScenario } from "./scenarios";

/** Runs per subject in CI; `pnpm run conformance` raises it. */
const RUNS = Number(process.env.CONFORMANCE_RUNS ?? 6);
const TIERING = ["demotion", "promotion", "tiering"];

/** A workload that reaches every step: kswapd, the 1 MB/s rate limit, two scan periods. */
const workload: TieringWorkload = {
  coldPages: 1024,
  hotPages: 128,
  pressurePages: 512,
  chunkPages: 64,
  kswapd: true,
  rateLimitMBps: 1,
  hotThresholdMs: null,
  delaysMs: [0, 200],
  warmPages: 512,
};

/** A 16 MiB DRAM node 0 and a 64 MiB CXL node 1, a small anonymous region, and the caller. */
const scenario = (caller: string, w: TieringWorkload = workload): MigrationScenario =>
  callerScenario(
    { syscall: "caller", caller, nid: 0, fragment: null, tiering: w },
    { nodesMiB: [16, 64], slowTier: true, thp: "never" },
  );

const run = (s: MigrationScenario, prepare?: (k: Kernel) => Effect.Effect<void, unknown>) =>
  Effect.runPromise(runMigrationScenario(s, prepare ? { prepare } : {}));

const serialCopy = moduleSubject(serialCopyModule, "serial_copy");

describe("the tiering callers", () => {
  it("are in the caller table, on a machine with a slow tier", () => {
    expect(TIERING.map((c) => [migrationCaller(c).reason, migrationCaller(c).tiered])).toEqual([
      [MR_DEMOTION, true],
      [MR_NUMA_MISPLACED, true],
      [MR_DEMOTION, true],
    ]);
    // Every drawn tiering request has a workload, presses a DRAM node, and its machine ends with
    // the slow tier; the other callers' requests have neither.
    fc.assert(
      fc.property(scenarioArb({ callers: true, callersOnly: true }), (s) => {
        if (s.request.syscall !== "caller") return false;
        const tiered = migrationCaller(s.request.caller).tiered === true;
        expect(s.request.tiering !== undefined).toBe(tiered);
        expect(s.slowTier === true).toBe(tiered);
        if (!tiered) return true;
        expect(s.request.nid).toBeLessThan(s.nodesMiB.length - 1);
        expect(s.nodesMiB.at(-1)).toBe(64);
        expect(s.request.fragment).toBeNull();
        expect(formatScenario(s)).toMatch(/slow tier \(CXL\)[\s\S]*tiering workload: /);
        return true;
      }),
      { numRuns: 200, seed: 1 },
    );
  });
});

describe("the oracle drives demotion and promotion and observes the tiering counters", () => {
  it("demotion: direct reclaim, then kswapd, demote the cold set; the hot set stays on DRAM (mm/vmscan.c demote_folio_list())", async () => {
    const { observation: o, problems } = await run(scenario("demotion"));
    expect(problems).toEqual([]);
    expect(o.rc).toBe(0);
    const v = o.vmstat;
    // Every migration was a demotion, and every demoted page counts as reclaimed (pgsteal).
    expect(Object.keys(o.reasons ?? {})).toEqual(["demotion"]);
    expect(v.pgdemote_direct).toBeGreaterThan(0);
    expect(v.pgdemote_kswapd).toBeGreaterThan(0);
    expect(v.pgdemote_direct! + v.pgdemote_kswapd!).toBe(o.reasons?.demotion?.succeeded);
    expect(v.pgsteal_direct).toBe(v.pgdemote_direct);
    expect(v.pgsteal_kswapd).toBe(v.pgdemote_kswapd);
    expect(v.pgsteal_anon).toBe(v.pgmigrate_success);
    expect(v.allocstall_normal).toBeGreaterThan(0);
    expect(v.pageoutrun).toBeGreaterThan(0);
    // No NUMA balancing ran.
    expect([v.numa_pte_updates, v.numa_hint_faults, v.pgpromote_success]).toEqual([0, 0, 0]);
    const r = o.caller?.result as TieringResult;
    // The oldest cold pages went first; the hot set, read between every write, stayed.
    expect(r.nodes.cold).toMatch(/^1x\d+/);
    expect(r.nodes.hot).toBe("0x128");
  }, 60_000);

  it("promotion: hot pages of the slow tier are promoted at most 1 MB/s, 256 pages a second (kernel/sched/fair.c numa_promotion_rate_limit())", async () => {
    const { observation: o, problems } = await run(scenario("promotion"));
    expect(problems).toEqual([]);
    const v = o.vmstat;
    expect(Object.keys(o.reasons ?? {})).toEqual(["numa_misplaced"]);
    // Each period reads the hot set and the first 512 cold pages.
    const read = 128 + 512;
    const r = o.caller?.result as TieringResult;
    // The first window began at 0 and is still open at 1000 ms (now - start > 1000 is false):
    // the 256th candidate reaches the limit, so 255 are promoted; the next window takes 256.
    expect(r.promotedByPeriod).toEqual([255, 255 + 256]);
    expect(v.pgpromote_success).toBe(511);
    expect(v.numa_pages_migrated).toBe(511);
    // Every read page on the slow tier was a hot candidate in each period it was still there.
    expect(v.pgpromote_candidate).toBe(read + (read - 255));
    expect(v.numa_hint_faults).toBe(read + (read - 255));
    expect(v.numa_hint_faults_local).toBe(0);
    // The second scan skips the entries still PROT_NONE from the first (the cold pages never
    // read: change_pte_range() passes over pte_protnone()), and marks the 385 read pages that
    // were not promoted again.
    expect(v.numa_pte_updates).toBe(1152 + (read - 255));
    expect(v.pgdemote_direct! + v.pgdemote_kswapd!).toBe(0);
    // The hot set was read first; the cold pages never read stay on the slow tier.
    expect(r.nodes.hot).toBe("0x128");
    expect(r.nodes.cold).toBe(`0x${511 - 128},1x${1024 - (511 - 128)}`);
  }, 60_000);

  it("tiering: demoted pages that turn hot come back once the scratch memory is freed", async () => {
    const { observation: o, problems } = await run(scenario("tiering"));
    expect(problems).toEqual([]);
    const v = o.vmstat;
    expect(o.reasons?.demotion?.succeeded).toBe(v.pgdemote_direct! + v.pgdemote_kswapd!);
    expect(o.reasons?.numa_misplaced?.succeeded).toBe(v.pgpromote_success);
    expect(v.pgpromote_success).toBeGreaterThan(0);
    // Only the demoted part of the cold set was on the slow tier to be scanned and promoted.
    const r = o.caller?.result as TieringResult;
    expect(r.nodes.hot).toBe("0x128");
    expect(r.nodes.scratch).toBeUndefined(); // unmapped
  }, 60_000);

  it("each tiering caller ends with the kernel's batch copy exactly as on the serial path", async () => {
    for (const caller of TIERING) {
      const s = scenario(caller);
      const serial = await run(s);
      const batched = await run(s, serialCopy.load);
      expect(batched.problems).toEqual([]);
      expect(diffObservations(serial.observation, batched.observation)).toEqual([]);
      expect(batched.observation.caller?.result).toEqual(serial.observation.caller?.result);
    }
  }, 120_000);
});

describe("verifyMigrator over the tiering workloads", () => {
  const scenarios = { callers: TIERING, callersOnly: true };
  for (const [name, subject] of [
    ["serial_copy", serialCopy],
    ["mtcopy", mtcopyConformanceSubject({ threads: 2 })],
    ["dcbm", dcbmConformanceSubject({ channels: 2, engines: 1 })],
  ] as const) {
    it(`${name}: demotion and promotion, with every injected fault, end as on the serial path`, async () => {
      const report = await verifyMigrator(subject, { numRuns: RUNS, seed: 7, scenarios });
      expect(report.runs).toBe(RUNS);
      expect(report.batches).toBeGreaterThan(0);
    }, 300_000);
  }

  for (const caller of ["demotion", "promotion"]) {
    it(`catches the forgetful migrator under ${caller} alone`, async () => {
      const failure = await verifyMigrator(forgetfulCopyModule, {
        numRuns: 10,
        seed: 3,
        faults: [],
        scenarios: { callers: [caller], callersOnly: true },
        // Caught is what counts here: no shrinking of the workload's many sizes.
        endOnFailure: true,
      }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(failure).toBeInstanceOf(MigratorConformanceError);
      const error = failure as MigratorConformanceError;
      expect(error.message).toContain(`request: ${caller} on node`);
      // The copy it forgot left a page whose bytes differ, or a count that differs.
      expect(error.message).toMatch(/bytes differ|→/);
    }, 300_000);
  }
});

/** A recording migrator registered with a reason mask, what it was offered summed over cases. */
const recordingSubject = (
  mask: number,
  seen: { reasons: Set<MigrateReason>; copies: number },
): MigratorSubject => {
  const recorders = new WeakMap<Kernel, RecordingMigrator>();
  return {
    name: "recording",
    load: (k) =>
      Effect.suspend(() => {
        const recorder = recordingMigrator(k);
        recorders.set(k, recorder);
        return k.migrateOffload.register(recorder.migrator, mask);
      }),
    unload: (k) =>
      Effect.suspend(() => {
        const recorder = recorders.get(k);
        if (!recorder) return Effect.void;
        for (const reason of recorder.reasons) seen.reasons.add(reason);
        seen.copies += recorder.copies();
        return k.migrateOffload.unregister(recorder.migrator);
      }),
  };
};

describe("a migrator's reason mask under tiering (mm/migrate.c: only reasons in the mask are batched)", () => {
  const cases = [
    ["numa_misplaced", MR_NUMA_MISPLACED, MR_DEMOTION],
    ["demotion", MR_DEMOTION, MR_NUMA_MISPLACED],
  ] as const;
  for (const [name, excluded, other] of cases) {
    it(`a mask without ${name} is never offered its batches, and the other reason's still are`, async () => {
      const seen = { reasons: new Set<MigrateReason>(), copies: 0 };
      const report = await verifyMigrator(
        recordingSubject(MIGRATE_REASONS_ALL & ~(1 << excluded), seen),
        { numRuns: 4, seed: 4, faults: [], scenarios: { callers: ["tiering"], callersOnly: true } },
      );
      expect(report.compared).toBe(4);
      expect(seen.reasons.has(excluded)).toBe(false);
      expect(seen.reasons.has(other)).toBe(true);
      expect(seen.copies).toBeGreaterThan(0);
    }, 300_000);
  }

  it("kswapd started on a node under its high watermark reclaims before the wake write, in both runs (mm/vmscan.c kswapd(): prepare_kswapd_sleep() fails, balance_pgdat() at once)", async () => {
    // Case 3 of seed 4: direct reclaim leaves node 0 between its low and high watermarks (139
    // free, 130 and 156), so the daemon reclaims as soon as its fiber runs, which the run with
    // the subject (on a clock of its own, beside the serial run) and the serial run reached at
    // different points of the wake write until the phase waited for it.
    const seen = { reasons: new Set<MigrateReason>(), copies: 0 };
    const report = await verifyMigrator(recordingSubject(0, seen), {
      seed: 4,
      path: "3",
      numRuns: 1,
      endOnFailure: true,
      faults: [],
      scenarios: { callers: ["tiering"], callersOnly: true },
    });
    expect(report.compared).toBe(1);
    expect(seen.copies).toBe(0);
  }, 60_000);

  it("a mask of numa_misplaced alone is offered promotion's batches and no demotion's", async () => {
    const seen = { reasons: new Set<MigrateReason>(), copies: 0 };
    await verifyMigrator(recordingSubject(1 << MR_NUMA_MISPLACED, seen), {
      numRuns: 4,
      seed: 4,
      faults: [],
      scenarios: { callers: ["tiering"], callersOnly: true },
    });
    expect([...seen.reasons]).toEqual([MR_NUMA_MISPLACED]);
    expect(seen.copies).toBeGreaterThan(0);
  }, 300_000);
});
