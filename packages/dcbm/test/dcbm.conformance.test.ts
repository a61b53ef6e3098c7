import { type Kernel, MIGRATE_REASONS_ALL } from "@migrate-offload/core";
import {
  stressMigrator,
  verifyMigrator,
  verifyMigratorCovered,
  verifyRegistryRaces,
} from "@migrate-offload/testkit";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { dcbmConformanceSubject } from "../src/testing";

/** Runs per configuration in CI; `pnpm run conformance` raises it. */
const RUNS = Number(process.env.CONFORMANCE_RUNS ?? 25);

describe("dcbm: conformance with the serial path (verifyMigrator)", () => {
  const subjects = [
    dcbmConformanceSubject({ channels: 1, engines: 1 }, { nrDmaChan: 1, timeoutMs: 100 }),
    dcbmConformanceSubject(
      { channels: 4, engines: 2, outOfOrder: true, chunkBytes: 4096 },
      { nrDmaChan: 4, completion: "polling", timeoutMs: 100 },
    ),
    dcbmConformanceSubject(
      { channels: 16, engines: 2, iommu: false, chunkBytes: 65536 },
      { nrDmaChan: 16, timeoutMs: 100 },
    ),
  ];
  for (const subject of subjects) {
    it(`${subject.name}: every workload and every injected fault ends as the serial path does`, async () => {
      const { known } = await verifyMigratorCovered(subject, { numRuns: RUNS });
      expect(known.marked).toBeGreaterThan(0);
      expect(Object.keys(known.injected).length).toBeGreaterThan(0);
    }, 300_000);
  }
});

describe("dcbm: conformance under every caller of migrate_pages() (compaction, alloc_contig_pages, demotion, promotion)", () => {
  it("compacts and allocates contiguous ranges as the serial path does, every page to the same frame", async () => {
    const subject = dcbmConformanceSubject(
      { channels: 4, engines: 2, outOfOrder: true },
      { nrDmaChan: 4, timeoutMs: 100 },
    );
    const report = await verifyMigrator(subject, {
      numRuns: RUNS,
      seed: 5,
      scenarios: { callers: true, callersOnly: true },
    });
    expect(report.compared).toBeGreaterThan(0);
    expect(report.marked).toBeGreaterThan(0);
  }, 300_000);
});

describe("dcbm: conformance under the kernel's other callers (soft offline, memory offlining, mbind, migrate_pages(2), hugetlb)", () => {
  it("with every reason in reason_mask, moves their pages as the serial path does", async () => {
    const subject = dcbmConformanceSubject(
      { channels: 4, engines: 2, outOfOrder: true },
      { nrDmaChan: 4, timeoutMs: 100 },
    );
    // DCBM_DEFAULT_REASONS leaves memory_failure, memory_hotplug and mempolicy_mbind out.
    const everyReason = {
      ...subject,
      load: (kernel: Kernel) =>
        Effect.andThen(
          subject.load(kernel),
          kernel.fs.write("/sys/module/dcbm/parameters/reason_mask", `${MIGRATE_REASONS_ALL}`),
        ),
    };
    const report = await verifyMigrator(everyReason, {
      numRuns: RUNS,
      seed: 6,
      scenarios: {
        callers: ["soft_offline", "memory_offline", "mbind", "migrate_pages", "hugetlb_move"],
        callersOnly: true,
      },
    });
    expect(report.compared).toBeGreaterThan(0);
    expect(report.marked).toBeGreaterThan(0);
  }, 300_000);
});

describe("dcbm: the conformance subject's defaults", () => {
  // The default subject bounds an injected hang by DCBM_CONFORMANCE_TIMEOUT_MS, not the seed's
  // 10 s batch timeout: these ten cases, three of them hangs, fit in the 30 s budget of the test
  // (with the 10 s timeout two hangs took 52 s).
  it("gives up on a hung descriptor after the short batch timeout, and the batch falls back", async () => {
    const subject = dcbmConformanceSubject({ channels: 4, engines: 2 }, { nrDmaChan: 4 });
    const report = await verifyMigrator(subject, { faults: ["hang"], numRuns: 10, seed: 2 });
    expect(report.injected.hang).toBe(3);
    expect(report.compared).toBe(10);
  }, 30_000);

  // The harness runs the driver on a clock it moves to the batch timeout once the stalled
  // descriptors are all the device has left (EngineFaults.waitingOnHang), on an in-order device
  // (the stalled descriptor holds up its channel) and an out-of-order one: the same hangs, with
  // a ten-minute timeout, end in the same 30 s budget.
  for (const outOfOrder of [false, true]) {
    it(`moves the run's clock to the batch timeout of a hung descriptor rather than wait it out${outOfOrder ? " (out of order)" : ""}`, async () => {
      const subject = dcbmConformanceSubject(
        { channels: 4, engines: 2, outOfOrder },
        { nrDmaChan: 4, timeoutMs: 600_000 },
      );
      const report = await verifyMigrator(subject, { faults: ["hang"], numRuns: 10, seed: 2 });
      expect(report.injected.hang).toBe(3);
      expect(report.compared).toBe(10);
      expect(report.fellBack).toBeGreaterThan(0);
    }, 30_000);
  }
});

describe("dcbm: registration, switching and unloading race migrations (verifyRegistryRaces)", () => {
  it("never calls it after it was switched off, never unloads it in use, never loses a byte", async () => {
    const subject = dcbmConformanceSubject(
      { channels: 4, engines: 2, outOfOrder: true },
      { nrDmaChan: 4 },
    );
    await verifyRegistryRaces(subject, { numRuns: 30 });
  }, 120_000);
});

describe("dcbm: ping-pong under readers and writers (stressMigrator)", () => {
  it("tears, loses and stales nothing while DMA channels copy", async () => {
    const subject = dcbmConformanceSubject(
      { channels: 8, engines: 2, outOfOrder: true, chunkBytes: 65536 },
      { nrDmaChan: 8 },
    );
    const report = await stressMigrator(subject, { rounds: 8 });
    expect(report.writes).toBeGreaterThan(0);
    // Accesses met pages under migration and waited for them.
    expect(report.waits).toBeGreaterThan(0);
  }, 120_000);
});
