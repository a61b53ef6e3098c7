// The copy-cost model's arithmetic, on a hand-made profile with round numbers; every expectation
// is worked out by hand in the comment above it. Nothing here times anything.
import { fc, test } from "@fast-check/vitest";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import {
  type CopyCostProfile,
  calibrateCopyCost,
  calibratedLaneGbps,
  cpuCopyNs,
  dmaCopyNs,
  ErrnoError,
  type MmMigrateOffloadDecision,
  migrateKernelNs,
  OffloadPolicy,
  offloadDecision,
  parseCopyCostProfile,
  threadCopyNs,
} from "../../src/index";
import { boot } from "../../src/testing/index";

const KiB = 1024;
const MiB = 1024 * KiB;

const DMA = {
  channels: 16,
  engines: 16,
  chanGbps: 4,
  maxGbps: 64,
  setupNs: 5000,
  chanNs: 1000,
  folioCpuNs: 200,
  descNs: 300,
  pteNs: 0,
  completionNs: 10000,
};

const PROFILE: CopyCostProfile = {
  name: "fixed",
  kernel: { callNs: 1000, folioNs: 400, pteNs: 100, pmdBytes: 2 * MiB },
  cpu: { threadGbps: 4, memGbps: 10, copyCallNs: 100 },
  threads: { dispatchNs: 20000, threadNs: 1000 },
  dma: DMA,
};

const batch = (folios: number, folioBytes: number) => ({
  folios,
  bytes: folios * folioBytes,
  pageSize: 4096,
});

describe("migrateKernelNs: per-folio unmap/move/remap, mm/migrate.c", () => {
  it("adds a PTE's cost per base page of a PTE-mapped folio, none for a PMD-mapped one", () => {
    // 512 × (400 + 100·1) = 256000; 16 × (400 + 100·16) = 32000; 2 MiB: 16 × 400 = 6400.
    expect(migrateKernelNs(PROFILE, batch(512, 4 * KiB))).toBe(256000);
    expect(migrateKernelNs(PROFILE, batch(16, 64 * KiB))).toBe(32000);
    expect(migrateKernelNs(PROFILE, batch(16, 2 * MiB))).toBe(6400);
    expect(migrateKernelNs(PROFILE, batch(0, 4 * KiB))).toBe(0);
  });
});

describe("cpuCopyNs: folio_mc_copy() folio by folio, mm/util.c", () => {
  it("is the calls' cost plus the bytes over one thread's bandwidth", () => {
    // 512·100 + 2097152/4 = 51200 + 524288.
    expect(cpuCopyNs(PROFILE, batch(512, 4 * KiB))).toBe(575488);
  });
});

describe("dmaCopyNs: folios_copy_dma(), drivers/migrate_offload/dcbm/dcbm.c", () => {
  it("one channel, 512 × 4 KiB: every descriptor on one channel", () => {
    // initiator 5000 + 1000 + 512·200 = 108400; channel 512·(300 + 4096/4) = 677888; + 10000.
    expect(dmaCopyNs(PROFILE, batch(512, 4 * KiB), 1)).toEqual({
      ns: 796288,
      initiatorNs: 108400,
      channels: 1,
    });
  });
  it("16 channels, 16 × 2 MiB: one folio per channel, the device's bandwidth not reached", () => {
    // initiator 5000 + 16·1000 + 16·200 = 24200; slowest 300 + 524288 = 524588 > 32 MiB/64.
    expect(dmaCopyNs(PROFILE, batch(16, 2 * MiB), 16).ns).toBe(24200 + 524588 + 10000);
  });
  it("adds the channel's per-PTE cost for PTE-mapped folios only", () => {
    const ptes = { ...PROFILE, dma: { ...DMA, pteNs: 10 } };
    // 512 × 4 KiB, one channel: each descriptor 10 ns more (one PTE): 796288 + 5120.
    expect(dmaCopyNs(ptes, batch(512, 4 * KiB), 1).ns).toBe(801408);
    // 2 MiB is PMD-mapped: no PTE.
    expect(dmaCopyNs(ptes, batch(16, 2 * MiB), 16).ns).toBe(24200 + 524588 + 10000);
  });
  it("uses no more channels than folios, and channels beyond the engines queue", () => {
    // 3 folios on 8 channels: 3 channels.
    expect(dmaCopyNs(PROFILE, batch(3, 2 * MiB), 8).channels).toBe(3);
    // 16 channels on 2 engines: 8 rounds of one 524588 ns descriptor each.
    const twoEngines = { ...PROFILE, dma: { ...DMA, engines: 2 } };
    expect(dmaCopyNs(twoEngines, batch(16, 2 * MiB), 16).ns).toBe(24200 + 8 * 524588 + 10000);
  });
  it("channels that own an engine share its bandwidth, their own work overlapping", () => {
    // Two channels per engine: 16 × 2 MiB on 2 channels of one engine, 8 descriptors each, each
    // the longer of its own work (300 + 524288) and both channels' bytes (2 × 524288).
    const paired = { ...PROFILE, dma: { ...DMA, channelsPerEngine: 2 } };
    const initiator = 5000 + 2 * 1000 + 16 * 200;
    expect(dmaCopyNs(paired, batch(16, 2 * MiB), 2).ns).toBe(initiator + 8 * 1048576 + 10000);
    // One channel has its engine alone: 16 descriptors of 524588, as without sharing.
    expect(dmaCopyNs(paired, batch(16, 2 * MiB), 1).ns).toBe(
      dmaCopyNs(PROFILE, batch(16, 2 * MiB), 1).ns,
    );
    // A channel's own work longer than the engine's bytes: a PTE-mapped 64 KiB folio with
    // 10000 ns per PTE keeps each descriptor at 300 + 16·10000 + 16384, sharing or not.
    const slowPtes = { ...paired, dma: { ...paired.dma, pteNs: 10000 } };
    const alone = { ...slowPtes, dma: { ...slowPtes.dma, channelsPerEngine: 0 } };
    expect(dmaCopyNs(slowPtes, batch(16, 64 * KiB), 2).ns).toBe(
      dmaCopyNs(alone, batch(16, 64 * KiB), 2).ns,
    );
  });
});

describe("dmaCopyNs with the driver's descriptor count: dcbm prepares a descriptor per mapped segment", () => {
  // dcbm maps each channel's folios with one dma_map_sgtable() and prepares a descriptor per DMA
  // segment; the driver's mapping counts them (behind a PCI device's IOMMU, __finalise_sg() in
  // drivers/iommu/dma-iommu.c merges 4 KiB folios 16 to a 64 KiB segment). Here a hand-made count
  // stands in for it, so that the model's arithmetic is checked alone.
  const asked: Array<[number, number]> = [];
  const sixteenToOne = (folios: number, folioBytes: number) => {
    asked.push([folios, folioBytes]);
    return Math.ceil(folios / 16);
  };
  it("one channel, 512 × 4 KiB in 32 descriptors", () => {
    // initiator 5000 + 1000 + 512·200 = 108400; channel 32·300 + 512·1024 = 533888; + 10000.
    asked.length = 0;
    expect(dmaCopyNs(PROFILE, batch(512, 4 * KiB), 1, sixteenToOne)).toEqual({
      ns: 108400 + 533888 + 10000,
      initiatorNs: 108400,
      channels: 1,
    });
    expect(asked).toEqual([[512, 4 * KiB]]);
  });
  it("asks for the slowest channel's folios: 3 channels of 171, 171, 170 folios, 11 descriptors", () => {
    // ⌈512/3⌉ = 171 folios, ⌈171/16⌉ = 11 descriptors; initiator 5000 + 3·1000 + 512·200 = 110400;
    // channel 11·300 + 171·1024 = 178404.
    asked.length = 0;
    expect(dmaCopyNs(PROFILE, batch(512, 4 * KiB), 3, sixteenToOne).ns).toBe(
      110400 + 178404 + 10000,
    );
    expect(asked).toEqual([[171, 4 * KiB]]);
  });
  it("one descriptor for a whole channel: 16 × 2 MiB on one channel", () => {
    // initiator 5000 + 1000 + 16·200 = 9200; channel 1·300 + 16·524288 = 8388908; + 10000.
    expect(dmaCopyNs(PROFILE, batch(16, 2 * MiB), 1, () => 1).ns).toBe(9200 + 8388908 + 10000);
  });
  it("without a count, a descriptor per folio, as dma_direct_map_sg() gives", () => {
    expect(dmaCopyNs(PROFILE, batch(512, 4 * KiB), 1).ns).toBe(
      dmaCopyNs(PROFILE, batch(512, 4 * KiB), 1, (folios) => folios).ns,
    );
    // 108400 + 512·300 + 512·1024 + 10000.
    expect(dmaCopyNs(PROFILE, batch(512, 4 * KiB), 1).ns).toBe(796288);
  });
  it("offloadDecision passes the offload's count to the model", () => {
    const merged = offloadDecision(PROFILE, batch(512, 4 * KiB), {
      kind: "dma",
      channels: 1,
      descriptors: sixteenToOne,
    });
    expect(merged.offloadNs).toBe(108400 + 533888 + 10000);
  });
  it("a saved profile's maxSegmentBytes is no field of the model any more: ignored, as any other key", () => {
    const old = { ...PROFILE, dma: { ...DMA, maxSegmentBytes: 65536 } };
    expect(parseCopyCostProfile(JSON.parse(JSON.stringify(old)))).toEqual(PROFILE);
  });
});

describe("dmaCopyNs: every descriptor prepared and submitted on the initiating CPU first", () => {
  // folios_copy_dma() (v4 patch 5) runs submit_dma_transfers() for every channel's work, each
  // dmaengine_prep_dma_memcpy() and dmaengine_submit() per mapped segment, and only then
  // dma_async_issue_pending() on each channel: that CPU work does not shrink with more channels.
  const cpu = { ...PROFILE, dma: { ...DMA, descCpuNs: 50 } };
  it("adds descCpuNs for every channel's descriptors to the initiator: 5 × 2 MiB on 3 channels, 5 descriptors", () => {
    // Channels of 2, 2 and 1 folios, a descriptor per folio: 5. Initiator 5000 + 3·1000 + 5·200
    // + 5·50 = 9250; slowest channel 2·300 + 2·524288 = 1049176; + 10000.
    expect(dmaCopyNs(cpu, batch(5, 2 * MiB), 3)).toEqual({
      ns: 9250 + 1049176 + 10000,
      initiatorNs: 9250,
      channels: 3,
    });
  });
  it("counts each channel's own descriptors: 512 × 4 KiB on 3 channels, 16 folios a segment, 33", () => {
    // 171, 171 and 170 folios: 11 segments each. Initiator 110400 + 33·50 = 112050.
    const merged = (folios: number) => Math.ceil(folios / 16);
    expect(dmaCopyNs(cpu, batch(512, 4 * KiB), 3, merged).initiatorNs).toBe(112050);
    // One channel: 32 descriptors, 108400 + 32·50.
    expect(dmaCopyNs(cpu, batch(512, 4 * KiB), 1, merged).initiatorNs).toBe(110000);
  });
  it("is optional, 0 when absent, and any finite number of at least 0", () => {
    expect(dmaCopyNs(PROFILE, batch(5, 2 * MiB), 3).initiatorNs).toBe(9000);
    expect(parseCopyCostProfile(JSON.parse(JSON.stringify(cpu)))).toEqual(cpu);
    const half = { ...PROFILE, dma: { ...DMA, descCpuNs: 0.5 } };
    expect(parseCopyCostProfile(half)).toEqual(half);
    const bad = parseCopyCostProfile({ ...PROFILE, dma: { ...DMA, descCpuNs: -1 } });
    expect((bad as ErrnoError).message).toContain("dma.descCpuNs must be a finite number");
  });
});

describe("threadCopyNs: copy_page_lists_mt(), drivers/migoffcopy/mtcopy/copy_pages.c", () => {
  it("threads with no idle CPU share the initiator's: one thread's bandwidth plus dispatch", () => {
    // 1 CPU: 2097152/4 = 524288; dispatch 20000 + 4·1000.
    expect(threadCopyNs(PROFILE, batch(1, 2 * MiB), 4, 0)).toEqual({
      ns: 548288,
      initiatorNs: 24000,
    });
  });
  it("four threads on four CPUs stop at memory's bandwidth", () => {
    // min(4·4, 10) = 10 GB/s: 209715.2 + 24000.
    expect(threadCopyNs(PROFILE, batch(1, 2 * MiB), 4, 3).ns).toBeCloseTo(233715.2, 6);
  });
  it("whole folios dealt out: the thread with the most folios sets the time", () => {
    // 5 folios on 2 threads: 3 folios · 524288 = 1572864 > 10 MiB / 8 GB/s; + 20000 + 2000.
    expect(threadCopyNs(PROFILE, batch(5, 2 * MiB), 2, 7).ns).toBe(1594864);
  });
});

describe("threadCopyNs: threads that contend before memory's limit (threads.scaling)", () => {
  const at = (scaling: number) => ({ ...PROFILE, threads: { ...PROFILE.threads, scaling } });
  it("a second thread adds its share of a lone thread's bandwidth, and each runs at half the sum", () => {
    // 4 × 2 MiB on 2 threads at 0.5: together 4·(1 + 0.5) = 6 GB/s, each 3; the thread with 2
    // folios: 4194304/3 = 1398101.33 ns; + 20000 + 2·1000.
    expect(threadCopyNs(at(0.5), batch(4, 2 * MiB), 2, 1).ns).toBeCloseTo(1420101.333, 3);
    // Without the field, as at 1: each thread at 4 GB/s, 4194304/4 + 22000.
    expect(threadCopyNs(PROFILE, batch(4, 2 * MiB), 2, 1).ns).toBe(1070576);
    expect(threadCopyNs(at(1), batch(4, 2 * MiB), 2, 1)).toEqual(
      threadCopyNs(PROFILE, batch(4, 2 * MiB), 2, 1),
    );
  });
  it("four threads at 0.25 copy at 4·(1 + 3·0.25) = 7 GB/s, below memory's 10", () => {
    // One folio cut in four pieces: 2097152/7 = 299593.14; + 20000 + 4·1000.
    expect(threadCopyNs(at(0.25), batch(1, 2 * MiB), 4, 3).ns).toBeCloseTo(323593.143, 3);
    // Past memory's limit it does not matter: 8 threads at 0.9, 4·(1 + 6.3) = 29.2 > 10.
    expect(threadCopyNs(at(0.9), batch(1, 2 * MiB), 8, 7).ns).toBeCloseTo(
      2097152 / 10 + 20000 + 8000,
      6,
    );
  });
  it("leaves a lone thread, and threads sharing the initiator's one CPU, alone", () => {
    // One CPU: 2097152/4 + 20000 + 4·1000, as without the field.
    expect(threadCopyNs(at(0.25), batch(1, 2 * MiB), 4, 0).ns).toBe(548288);
    expect(threadCopyNs(at(0.25), batch(3, 2 * MiB), 1, 7).ns).toBe(3 * 524288 + 21000);
  });
  test.prop([
    fc.double({ min: 0.01, max: 1, noNaN: true }),
    fc.double({ min: 0.01, max: 1, noNaN: true }),
    fc.integer({ min: 1, max: 64 }),
    fc.integer({ min: 1, max: 32 }),
    fc.integer({ min: 0, max: 63 }),
  ])(
    "a larger share is never slower, and never faster than memory's limit",
    (a, b, folios, threads, idle) => {
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      const slow = threadCopyNs(at(lo), batch(folios, 2 * MiB), threads, idle).ns;
      const fast = threadCopyNs(at(hi), batch(folios, 2 * MiB), threads, idle).ns;
      expect(fast).toBeLessThanOrEqual(slow);
      expect(fast).toBeGreaterThanOrEqual(
        threadCopyNs(PROFILE, batch(folios, 2 * MiB), threads, idle).ns - 1e-6,
      );
    },
  );
  it("is optional, above 0 and at most 1", () => {
    expect(parseCopyCostProfile(JSON.parse(JSON.stringify(at(0.65))))).toEqual(at(0.65));
    for (const bad of [0, 1.5, -0.1, "x"]) {
      const e = parseCopyCostProfile({ ...PROFILE, threads: { ...PROFILE.threads, scaling: bad } });
      expect(e).toBeInstanceOf(ErrnoError);
      expect((e as ErrnoError).errno).toBe("EINVAL");
      expect((e as ErrnoError).message).toContain(
        "threads.scaling must be a finite number above 0 and at most 1",
      );
    }
  });
});

describe("offloadDecision: the adaptive policy", () => {
  it("declines 4 KiB folios on one channel (v4 table 1b: one channel is slower below 1 MiB)", () => {
    const d = offloadDecision(PROFILE, batch(512, 4 * KiB), { kind: "dma", channels: 1 });
    expect(d).toEqual({
      taken: false,
      cpuNs: 575488,
      offloadNs: 796288,
      initiatorNs: 108400,
      lanes: 1,
    });
  });
  it("takes 16 × 2 MiB on 16 channels", () => {
    const d = offloadDecision(PROFILE, batch(16, 2 * MiB), { kind: "dma", channels: 16 });
    expect(d.taken).toBe(true);
    expect(d.cpuNs).toBe(16 * 100 + 8388608);
    expect(d.offloadNs).toBe(558788);
  });
  it("declines threads with no idle CPU, takes them with three", () => {
    const b = batch(1, 2 * MiB);
    expect(offloadDecision(PROFILE, b, { kind: "threads", threads: 4, idleCpus: 0 }).taken).toBe(
      false,
    );
    expect(offloadDecision(PROFILE, b, { kind: "threads", threads: 4, idleCpus: 3 }).taken).toBe(
      true,
    );
  });
  it("declines an empty batch", () => {
    expect(offloadDecision(PROFILE, batch(0, 4096), { kind: "dma", channels: 4 }).taken).toBe(
      false,
    );
  });
});

/** A policy on the fixed profile in a fresh kernel, and the decision events it emits. */
const tracedPolicy = () => {
  const kernel = boot({ nodes: ["16M", "16M"] });
  const events: MmMigrateOffloadDecision[] = [];
  kernel.trace.subscribe((e) => {
    if (e.event === "mm_migrate_offload_decision") events.push(e);
  });
  const policy = new OffloadPolicy(
    kernel,
    "TEST",
    () => Effect.die(new Error("a fixed profile is never calibrated")),
    PROFILE,
  );
  return { events, policy };
};

describe("OffloadPolicy: decisions, counters, the trace event and the correction", () => {
  it("learns from offloads that cost more than predicted (not the first, cold one), and forgets a hundredth per decline", async () => {
    const { events, policy } = tracedPolicy();
    const b = batch(16, 2 * MiB);
    const dma = { kind: "dma", channels: 4 } as const;
    // 4 channels: 5000 + 4·1000 + 16·200, 4 descriptors of 300 + 524288 on the slowest, 10000:
    // 2120552 ns predicted against 8390208 on the CPU: taken.
    const first = await Effect.runPromise(policy.decide(b, dma));
    expect(first).toMatchObject({ taken: true, offloadNs: 2120552 });
    // The first offload starts cold and is not counted.
    policy.observe(first, 30 * 2120552);
    expect(policy.correction).toBe(1);
    // The next cost 30 times the prediction: held to 8, the correction moves halfway, to 4.5.
    policy.observe(first, 30 * 2120552);
    expect(policy.correction).toBe(4.5);
    // 2120552 × 4.5 = 9542484 > 8390208: declined, each decline taking 1 % of 3.5 off, until
    // 2120552 × (1 + 3.5 × 0.99^17) = 8376819 < 8390208: 17 declines, then taken.
    const second = await Effect.runPromise(policy.decide(b, dma));
    expect(second).toMatchObject({ taken: false, offloadNs: 2120552 * 4.5 });
    for (let i = 1; i < 17; i++)
      expect((await Effect.runPromise(policy.decide(b, dma))).taken).toBe(false);
    expect((await Effect.runPromise(policy.decide(b, dma))).taken).toBe(true);
    expect([policy.taken, policy.declined]).toEqual([2, 17]);
    expect(policy.correction).toBeCloseTo(1 + 3.5 * 0.99 ** 17, 9);
    expect(events.map((e) => e.correction).slice(0, 3)).toEqual([
      1,
      4.5,
      expect.closeTo(1 + 3.5 * 0.99, 9),
    ]);
  });

  it("forgets a hundredth of the correction only on the model's declines, not on a learner's", async () => {
    const kernel = boot({ nodes: ["16M", "16M"] });
    const policy = new OffloadPolicy(
      kernel,
      "TEST",
      () => Effect.die(new Error("a fixed profile is never calibrated")),
      PROFILE,
      { coldBatches: 0 },
    );
    const b = batch(16, 2 * MiB);
    const dma = { kind: "dma", channels: 4 } as const;
    // Measured both ways, the offload ten times cheaper: the CPU copy is tried to explore.
    for (let i = 0; i < 2; i++) {
      policy.batchDone({ batch: batch(16, 2 * MiB), batched: false, copied: false, ns: 10e6 });
      policy.batchDone({ batch: batch(16, 2 * MiB), batched: true, copied: true, ns: 1e6 });
    }
    policy.correction = 4;
    const d = await Effect.runPromise(policy.decide(b, dma));
    expect(d.taken).toBe(false);
    expect(policy.declined).toBe(1);
    expect(policy.correction).toBe(4);
  });

  it("offers: turns down a batch the model declines (counted, traced), offers one it would take or has no profile for (not counted)", () => {
    const kernel = boot({ nodes: ["16M", "16M"] });
    const events: MmMigrateOffloadDecision[] = [];
    kernel.trace.subscribe((e) => {
      if (e.event === "mm_migrate_offload_decision") events.push(e);
    });
    const dma = { kind: "dma", channels: 1 } as const;
    let calibrations = 0;
    const uncalibrated = new OffloadPolicy(kernel, "TEST", () => {
      calibrations++;
      return Effect.succeed(PROFILE);
    });
    // No profile yet: offered, so that offload_copy calibrates and decides; nothing counted.
    expect(uncalibrated.offers(batch(512, 4 * KiB), dma)).toBe(true);
    expect([calibrations, uncalibrated.taken, uncalibrated.declined, events.length]).toEqual([
      0, 0, 0, 0,
    ]);
    const policy = new OffloadPolicy(
      kernel,
      "TEST",
      () => Effect.die(new Error("a fixed profile is never calibrated")),
      PROFILE,
    );
    // One channel, 512 × 4 KiB: 5000 + 1000 + 512·200 on the CPU, 512·(300 + 1024), 10000:
    // 108400 + 677888 + 10000 = 796288 ns against 512·100 + 2097152/4 = 575488 on the CPU: turned
    // down, counted, traced.
    expect(policy.offers(batch(512, 4 * KiB), dma)).toBe(false);
    expect([policy.taken, policy.declined]).toEqual([0, 1]);
    expect(events).toMatchObject([{ taken: false, folios: 512, cpuNs: 575488, offloadNs: 796288 }]);
    // 16 × 2 MiB on 16 channels (taken, as offloadDecision says): offered, not counted here.
    expect(policy.offers(batch(16, 2 * MiB), { kind: "dma", channels: 16 })).toBe(true);
    expect([policy.taken, policy.declined, events.length]).toEqual([0, 1, 1]);
  });

  it("decides a run of batches of one shape as offloadDecision does, each with the correction of its turn, and a batch of another shape or lanes on its own", () => {
    const { events, policy } = tracedPolicy();
    const b = batch(512, 4 * KiB);
    const one = { kind: "dma", channels: 1 } as const;
    // 796288 ns on one channel against 575488 on the CPU (above): declined three times, the
    // correction of 2 losing a hundredth of its distance from 1 at each, 2 → 1.99 → 1.9801.
    policy.correction = 2;
    for (let i = 0; i < 3; i++) expect(policy.offers({ ...b }, one)).toBe(false);
    expect(events.map((e) => e.offloadNs)).toEqual([
      796288 * 2,
      expect.closeTo(796288 * 1.99, 6),
      expect.closeTo(796288 * 1.9801, 6),
    ]);
    expect(events.every((e) => e.cpuNs === 575488)).toBe(true);
    // The same bytes on 16 channels, then in 16 × 2 MiB on one: each its own prediction.
    const sixteen = offloadDecision(PROFILE, b, { kind: "dma", channels: 16 });
    policy.correction = 1;
    expect(policy.offers({ ...b }, { kind: "dma", channels: 16 })).toBe(sixteen.taken);
    const big = offloadDecision(PROFILE, batch(16, 2 * MiB), one);
    expect(policy.offers(batch(16, 2 * MiB), one)).toBe(big.taken);
    expect(events.slice(3).map((e) => e.offloadNs)).toEqual(
      [sixteen, big].filter((d) => !d.taken).map((d) => d.offloadNs),
    );
    // Threads: the idle CPUs are part of the shape (declined with none, taken with three).
    const threads = (idleCpus: number) => ({ kind: "threads", threads: 4, idleCpus }) as const;
    expect(policy.offers(batch(1, 2 * MiB), threads(0))).toBe(false);
    expect(policy.offers(batch(1, 2 * MiB), threads(3))).toBe(true);
  });
});

describe("OffloadPolicy: learning what batches really cost (batchDone)", () => {
  /** A policy on the fixed profile with one cold offload, not learned (the default is three). */
  const learningPolicy = (kernel: ReturnType<typeof boot>) =>
    new OffloadPolicy(
      kernel,
      "TEST",
      () => Effect.die(new Error("a fixed profile is never calibrated")),
      PROFILE,
      { coldBatches: 1 },
    );

  it("takes, once measured, a batch the model declines where the offloaded batches ran faster", async () => {
    const kernel = boot({ nodes: ["16M", "16M"] });
    const events: MmMigrateOffloadDecision[] = [];
    kernel.trace.subscribe((e) => {
      if (e.event === "mm_migrate_offload_decision") events.push(e);
    });
    const policy = learningPolicy(kernel);
    // One channel, 512 × 4 KiB: 796288 ns predicted against 575488 on the CPU (above): the model
    // declines. The batches report 1 ms by the CPU's per-folio copy, 0.4 ms offloaded (3 ms for
    // the first, cold one).
    const b = batch(512, 4 * KiB);
    const dma = { kind: "dma", channels: 1 } as const;
    const step = async (ns: (taken: boolean) => number) => {
      if (!policy.offers(b, dma)) {
        policy.batchDone({ batch: b, batched: false, copied: false, ns: ns(false) });
        return false;
      }
      const d = await Effect.runPromise(policy.decide(b, dma));
      policy.batchDone({ batch: b, batched: true, copied: d.taken, ns: ns(d.taken) });
      return d.taken;
    };
    const taken: boolean[] = [];
    taken.push(await step(() => 1e6));
    taken.push(await step(() => 1e6));
    taken.push(await step((t) => (t ? 3e6 : 1e6)));
    for (let i = 0; i < 3; i++) taken.push(await step((t) => (t ? 0.4e6 : 1e6)));
    expect(taken).toEqual([false, false, true, true, true, true]);
    // Declined twice in shouldBatch by the model (the CPU's two first samples), then the offload
    // tried (cold, then once more), then taken as measured; every offer decided in offloadCopy.
    expect(events.map((e) => [e.taken, e.basis])).toEqual([
      [false, "model"],
      [false, "model"],
      [true, "explore"],
      [true, "explore"],
      [true, "measured"],
      [true, "measured"],
    ]);
    expect([policy.taken, policy.declined]).toEqual([4, 2]);
    // The model's predictions ride along unchanged.
    expect(events.every((e) => e.cpuNs === 575488 && e.offloadNs === 796288)).toBe(true);
    expect(policy.learner.estimate(b)).toMatchObject({
      cpuNsPerByte: 1e6 / b.bytes,
      offloadNsPerByte: 0.4e6 / b.bytes,
    });
  });

  it("ties an offer to its own batch: one that ends without a copy leaves nothing for the next batch's offloadCopy", async () => {
    const kernel = boot({ nodes: ["16M", "16M"] });
    const events: MmMigrateOffloadDecision[] = [];
    kernel.trace.subscribe((e) => {
      if (e.event === "mm_migrate_offload_decision") events.push(e);
    });
    const policy = learningPolicy(kernel);
    const small = { kind: "dma", channels: 1 } as const;
    const wide = { kind: "dma", channels: 16 } as const;
    // 512 × 4 KiB on one channel, which the model declines (above): the CPU's two first samples,
    // fed as batchDone reports them, then the offload is offered to explore.
    for (let i = 0; i < 2; i++) {
      const b = batch(512, 4 * KiB);
      expect(policy.offers(b, small)).toBe(false);
      policy.batchDone({ batch: b, batched: false, copied: false, ns: 1e6 });
    }
    const explored = batch(512, 4 * KiB);
    expect(policy.offers(explored, small)).toBe(true);
    // Every folio of it failed to unmap: migrate_pages_batch() never called offloadCopy.
    policy.batchDone({ batch: explored, batched: true, copied: false, ns: 0.1e6 });
    // The next batch, 16 × 2 MiB on 16 channels, is offered on the model's word; its copy
    // decides on that, not on the exploration left behind.
    const next = batch(16, 2 * MiB);
    expect(policy.offers(next, wide)).toBe(true);
    const d = await Effect.runPromise(
      policy.decide({ folios: 16, bytes: 16 * 2 * MiB, pageSize: 4096 }, wide, next),
    );
    expect(d.taken).toBe(true);
    expect(events.map((e) => [e.folios, e.basis])).toEqual([
      [512, "model"],
      [512, "model"],
      [16, "model"],
    ]);
    // The exploration that never copied is over: the offload is still owed its first samples.
    expect(policy.learner.choose(batch(512, 4 * KiB), false)).toEqual({
      taken: true,
      basis: "explore",
    });
  });

  it("keeps declining, once measured, a batch whose offloads ran slower", async () => {
    const policy = learningPolicy(boot({ nodes: ["16M", "16M"] }));
    // 16 × 2 MiB on 4 channels: the model takes it (2120552 against 8390208 ns, above); the
    // offloads report 20 ms, the CPU's per-folio copy 8 ms.
    const b = batch(16, 2 * MiB);
    const dma = { kind: "dma", channels: 4 } as const;
    const choices: boolean[] = [];
    for (let i = 0; i < 40; i++) {
      const offered = policy.offers(b, dma);
      const d = offered ? await Effect.runPromise(policy.decide(b, dma)) : null;
      const copied = d?.taken === true;
      choices.push(copied);
      policy.batchDone({ batch: b, batched: offered, copied, ns: copied ? 20e6 : 8e6 });
    }
    // The model's offload three times (the cold one not learned), the CPU twice (tried, then
    // measured cheaper), the offload once more (nothing tried had cost more than the CPU yet),
    // then the CPU: that try cost 12 ms beyond the CPU's 8, counted with the learner's 1/10
    // margin as 22 - 8 = 14 ms, and the class's 96 ms must grow to 64 × 14 = 896 ms, 100 batches
    // of 8 ms, before the next.
    expect(choices.slice(0, 6)).toEqual([true, true, true, false, false, true]);
    expect(choices.slice(6).every((c) => !c)).toBe(true);
    expect(policy.learner.estimate(b)).toMatchObject({ totalNs: 96e6 + 34 * 8e6, regretNs: 14e6 });
  });
});

describe("calibratedLaneGbps: a copy lane's bandwidth from a calibration's timings", () => {
  it("is the bytes over the copy's round trip less an empty one, no faster than the initiating thread", () => {
    // 8 MiB in 900 µs less a 100 µs trip: 8388608 / 800000 = 10.48576 GB/s, under 25.
    expect(calibratedLaneGbps(8 * MiB, 900_000, 100_000, 25)).toBeCloseTo(10.48576, 10);
    // A trip that ran slow (850 µs): 8388608 / 50000 = 167.8 GB/s, held to the thread's 25.
    expect(calibratedLaneGbps(8 * MiB, 900_000, 850_000, 25)).toBe(25);
    // A trip slower than the copy: the difference is held to 1 ns, the bandwidth to 25.
    expect(calibratedLaneGbps(8 * MiB, 900_000, 950_000, 25)).toBe(25);
  });

  // A profile as calibrateCopyCost builds it from its timings: the kernel's work at 0, the DMA
  // device's set-up folded into the round trip (completionNs), a queued copy's cost per folio.
  const calibrated = (
    threadGbps: number,
    copyCallNs: number,
    tripNs: number,
    itemNs: number,
    laneGbps: number,
    engines: number,
  ): CopyCostProfile => ({
    name: "calibrated",
    kernel: { callNs: 0, folioNs: 0, pteNs: 0, pmdBytes: 2 * MiB },
    cpu: { threadGbps, memGbps: threadGbps * engines, copyCallNs },
    threads: { dispatchNs: tripNs, threadNs: itemNs },
    dma: {
      channels: 16,
      engines,
      chanGbps: laneGbps,
      maxGbps: laneGbps * engines,
      setupNs: 0,
      chanNs: 0,
      folioCpuNs: itemNs,
      descNs: 0,
      pteNs: 0,
      completionNs: tripNs,
    },
  });

  it("one DMA channel at 64 × 2 MiB: declined with the lane held to the thread, taken without", () => {
    // The timings of a calibration whose round trips ran slow: 25 GB/s thread, 50 ns a copy call,
    // an 850 µs trip, 4 × 2 MiB in 900 µs, 1 µs a queued copy, two CPUs.
    const lane = calibratedLaneGbps(8 * MiB, 900_000, 850_000, 25);
    const held = offloadDecision(calibrated(25, 50, 850_000, 1000, lane, 2), batch(64, 2 * MiB), {
      kind: "dma",
      channels: 1,
    });
    // CPU: 64·50 + 134217728/25 = 3200 + 5368709.12. One channel: 64·1000 + 5368709.12 + 850000.
    expect(held.cpuNs).toBeCloseTo(5371909.12, 3);
    expect(held.offloadNs).toBeCloseTo(6282709.12, 3);
    expect(held.taken).toBe(false);
    // Unheld, the same timings make the lane 167.8 GB/s: 64000 + 134217728/167.77216 + 850000
    // = 1714000 ns, a third of the CPU's, so every batch would be offloaded at the lane's real
    // speed: the correction (at most 8× a step) could not win that back in one observation.
    const unheld = offloadDecision(
      calibrated(25, 50, 850_000, 1000, (8 * MiB) / 50_000, 2),
      batch(64, 2 * MiB),
      { kind: "dma", channels: 1 },
    );
    expect(unheld.offloadNs).toBeCloseTo(1714000, 3);
    expect(unheld.taken).toBe(true);
  });

  test.prop([
    fc.double({ min: 1, max: 100, noNaN: true }),
    fc.double({ min: 0, max: 1000, noNaN: true }),
    fc.double({ min: 1, max: 1e6, noNaN: true }),
    fc.double({ min: 0, max: 1000, noNaN: true }),
    fc.double({ min: 1, max: 1e7, noNaN: true }),
    fc.double({ min: 0, max: 1e7, noNaN: true }),
    fc.integer({ min: 1, max: 64 }),
    fc.integer({ min: 1, max: 512 }),
  ])(
    "one calibrated DMA channel never pays for 1–512 × 2 MiB when a queued copy costs at least a CPU copy call",
    (threadGbps, copyCallNs, tripNs, extraNs, copyNs, emptyNs, engines, folios) => {
      const lane = calibratedLaneGbps(8 * MiB, copyNs, emptyNs, threadGbps);
      const p = calibrated(threadGbps, copyCallNs, tripNs, copyCallNs + extraNs, lane, engines);
      const d = offloadDecision(p, batch(folios, 2 * MiB), { kind: "dma", channels: 1 });
      // One channel copies every byte at no more than the thread's rate, after the same or
      // dearer per-folio work and a round trip the CPU copy does not make.
      expect(d.offloadNs).toBeGreaterThan(d.cpuNs);
      expect(d.taken).toBe(false);
    },
  );
});

describe("calibrateCopyCost: a short measurement on this machine", () => {
  it("gives a profile parseCopyCostProfile accepts, on pages it takes from and gives back to the allocator", async () => {
    const kernel = boot({ nodes: ["16M", "16M"] });
    const free = kernel.pageAlloc.nodeFreePages(0);
    const p = await Effect.runPromise(calibrateCopyCost(kernel, { dmaChannels: 4, dmaEngines: 2 }));
    expect(p.name).toBe("calibrated");
    expect(parseCopyCostProfile(JSON.parse(JSON.stringify(p)))).toEqual(p);
    expect(p.dma).toMatchObject({ channels: 4, engines: 2 });
    // A DMA lane of this machine is a CPU thread running the same copy: no faster than it.
    expect(p.dma!.chanGbps).toBeLessThanOrEqual(p.cpu.threadGbps);
    expect(kernel.pageAlloc.nodeFreePages(0)).toBe(free);
    expect(kernel.badPages).toEqual([]);
  }, 30_000);
});

describe("parseCopyCostProfile: a saved profile", () => {
  it("reads a profile back from its JSON, ignoring other keys", () => {
    const json = JSON.parse(JSON.stringify({ ...PROFILE, fittedOn: ["v4 1a"] }));
    expect(parseCopyCostProfile(json)).toEqual(PROFILE);
  });
  it("reads dma.channelsPerEngine when present, a whole number", () => {
    const paired = { ...PROFILE, dma: { ...DMA, channelsPerEngine: 2 } };
    expect(parseCopyCostProfile(JSON.parse(JSON.stringify(paired)))).toEqual(paired);
    const half = parseCopyCostProfile({ ...PROFILE, dma: { ...DMA, channelsPerEngine: 1.5 } });
    expect((half as ErrnoError).errno).toBe("EINVAL");
    expect((half as ErrnoError).message).toContain("dma.channelsPerEngine must be a whole number");
  });
  it("refuses a missing field, a zero bandwidth or a negative cost with EINVAL naming it", () => {
    const { folioCpuNs: _, ...dma } = DMA;
    const missing = parseCopyCostProfile({ ...PROFILE, dma });
    expect(missing).toBeInstanceOf(ErrnoError);
    expect((missing as ErrnoError).errno).toBe("EINVAL");
    expect((missing as ErrnoError).message).toContain("dma.folioCpuNs");
    const zero = parseCopyCostProfile({ ...PROFILE, cpu: { ...PROFILE.cpu, threadGbps: 0 } });
    expect((zero as ErrnoError).message).toContain("cpu.threadGbps");
    const negative = parseCopyCostProfile({
      ...PROFILE,
      threads: { ...PROFILE.threads, dispatchNs: -1 },
    });
    expect((negative as ErrnoError).message).toContain("threads.dispatchNs");
    expect(parseCopyCostProfile("fast")).toBeInstanceOf(ErrnoError);
  });
  it("takes a profile without a dma section: a machine with no DMA engine, where DMA never pays", () => {
    const { dma: _, ...noDma } = PROFILE;
    expect(parseCopyCostProfile(noDma)).toEqual(noDma);
    const d = offloadDecision(noDma, batch(16, 2 * MiB), { kind: "dma", channels: 16 });
    expect(d).toMatchObject({ taken: false, offloadNs: Number.POSITIVE_INFINITY, lanes: 0 });
  });
});
