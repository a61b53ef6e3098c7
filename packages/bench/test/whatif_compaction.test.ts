// What-if for v4's compaction run: the copy-cost model's arithmetic per batch of
// COMPACT_CLUSTER_MAX 4 KiB folios, CFS's even split beside a hog, and the shipped v4 profile
// against the published run. Nothing here is timed.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { V4_COMPACTION } from "../src/seed_tables";
import {
  dmaDescriptorCount,
  fitSeedProfile,
  PCI_IOMMU_DMA_MAPPING,
  predictsCompaction,
  readProfileFile,
} from "../src/whatif";
import {
  DCBM_DEFAULT_CHANNELS,
  predictCompactionRun,
  predictCompactionTable,
} from "../src/whatif_compaction";

const profilePath = (name: string) => new URL(`../profiles/${name}.json`, import.meta.url).pathname;
const row = (label: string) => V4_COMPACTION.rows.find((r) => r.label === label)!;

describe("the v4 compaction table", () => {
  it("holds the published run: 16708 ms and 99.40 % sys idle, 32475 ms and 66022189744 hog iterations busy with DMA", () => {
    // 001_f5dd2cc87105abe2.txt, the compaction experiment: compaction_alloc() batches of
    // COMPACT_CLUSTER_MAX = SWAP_CLUSTER_MAX = 32 pages (include/linux/swap.h).
    expect(V4_COMPACTION.batchFolios).toBe(32);
    expect(row("baseline").wallMs).toBe(16708);
    expect(row("baseline").sysPercent).toBe(99.4);
    expect(row("busy-dma").wallMs).toBe(32475);
    expect(row("busy-dma").hogIterations).toBe(66022189744);
    expect(row("dma").dmaCopies).toBe(4623181);
    // dcbm's nr_dma_chan defaults to 1 (v4 patch 5); the run sets none.
    expect(DCBM_DEFAULT_CHANNELS).toBe(1);
  });
});

describe("predictCompactionRun", () => {
  const f = fitSeedProfile("v4-epyc-ptdma");
  const p = f.profile;
  const dma = p.dma!;
  const terms = f.compaction!;
  const descriptors = dmaDescriptorCount(f.dmaMapping, 4096);

  it("is the scanners' work per page plus each 32-folio batch's kernel work and CPU copy, idle", () => {
    const r = row("baseline");
    const batches = r.migrated / 32;
    const cpuNs =
      r.migrated * terms.scanNs +
      batches * (32 * (p.kernel.folioNs + p.kernel.pteNs) + (32 * 4096) / p.cpu.threadGbps);
    const run = predictCompactionRun(p, V4_COMPACTION, r, terms, descriptors);
    expect(run.cpuNs).toBeCloseTo(cpuNs, 3);
    expect(run.waitNs).toBe(0);
    expect(run.wallNs).toBe(run.cpuNs);
    expect(run.hogNs).toBe(0);
  });

  it("sleeps through one channel's transfer of two 64 KiB segments per batch with DMA, and shares the CPU evenly with a hog", () => {
    // 32 scattered 4 KiB pages behind the IOMMU: iommu_dma_map_sg() lays them out back to back
    // and __finalise_sg() merges them into 64 KiB segments (dma_get_max_seg_size() of a PCI
    // device): two descriptors.
    expect(descriptors!(32, 4096)).toBe(2);
    const r = row("busy-dma");
    const batches = r.migrated / 32;
    const initiator = dma.setupNs + 2 * dma.descCpuNs!;
    const transfer = 2 * dma.descNs + 32 * (dma.pteNs + 4096 / dma.chanGbps);
    const run = predictCompactionRun(p, V4_COMPACTION, r, terms, descriptors);
    expect(run.cpuNs).toBeCloseTo(
      r.migrated * terms.scanNs + batches * (32 * (p.kernel.folioNs + p.kernel.pteNs) + initiator),
      3,
    );
    expect(run.waitNs).toBeCloseTo(batches * transfer, 3);
    // CFS: half the CPU each while both run, the hog alone while compaction waits on the DMA.
    expect(run.wallNs).toBeCloseTo(2 * run.cpuNs + run.waitNs, 3);
    expect(run.hogNs).toBeCloseTo(run.cpuNs + run.waitNs, 3);
  });

  it("refuses a DMA run on a machine without a DMA engine", () => {
    const { dma: _, ...noDma } = p;
    expect(() => predictCompactionRun(noDma, V4_COMPACTION, row("dma"), terms)).toThrow(
      "no DMA engine",
    );
  });
});

describe("the shipped v4 profile against the compaction run", () => {
  const f = fitSeedProfile("v4-epyc-ptdma");
  const descriptors = dmaDescriptorCount(f.dmaMapping, 4096);

  it("is fitted on the idle baseline's wall time and the busy baseline's hog count, and predicts the other 13 figures within 15 %", () => {
    const cells = predictCompactionTable(
      f.profile,
      V4_COMPACTION,
      f.compaction!,
      f.fittedOn,
      descriptors,
    );
    expect(cells.filter((c) => c.fitted).map((c) => c.id)).toEqual([
      "v4-compaction/baseline/wall",
      "v4-compaction/busy-baseline/hog",
    ]);
    const held = cells.filter((c) => !c.fitted);
    expect(held.length).toBe(13);
    for (const c of held) expect(Math.abs(c.error), c.id).toBeLessThanOrEqual(0.15);
    // The scanners cost 2.5 µs a page migrated, twice the migration's own 1.1 µs; the hog's
    // loop, 3.7 iterations a ns, is one a cycle near the EPYC's boost clock.
    expect(f.compaction!.scanNs).toBeGreaterThan(2000);
    expect(f.compaction!.scanNs).toBeLessThan(3000);
    expect(f.compaction!.hogIterationsPerNs).toBeGreaterThan(3);
    expect(f.compaction!.hogIterationsPerNs).toBeLessThan(4.5);
  });

  it("tells the per-batch set-up apart: the 74 µs the fit found before the source cache would make the idle DMA run 60 % slow", () => {
    // The published idle DMA run is 2.2 s (13 %) slower than the baseline over 144467 batches:
    // 15 µs a batch, which the channel's transfer (29 µs) less the CPU copy (12 µs) gives with
    // a set-up of a few µs, and a 74 µs set-up cannot.
    const slow = { ...f.profile, dma: { ...f.profile.dma!, setupNs: 74_212 } };
    const cells = predictCompactionTable(slow, V4_COMPACTION, f.compaction!, [], descriptors);
    const wall = cells.find((c) => c.id === "v4-compaction/dma/wall")!;
    expect(wall.error).toBeGreaterThan(0.5);
    expect(f.profile.dma!.setupNs).toBeLessThan(10_000);
  });
});

describe("readProfileFile: a profile file's compaction terms", () => {
  const withTerms = (compaction: unknown) => {
    const raw = JSON.parse(readFileSync(profilePath("v4-epyc-ptdma"), "utf8"));
    const path = join(mkdtempSync(join(tmpdir(), "whatif-")), "p.json");
    writeFileSync(path, JSON.stringify({ ...raw, compaction }));
    return path;
  };

  it("reads them; refuses a wrong one, naming the field; only v4's profile predicts the run", () => {
    expect(readProfileFile(withTerms({ scanNs: 1, hogIterationsPerNs: 2 })).compaction).toEqual({
      scanNs: 1,
      hogIterationsPerNs: 2,
    });
    const bad = (t: unknown) => () => readProfileFile(withTerms(t));
    expect(bad({ scanNs: -1, hogIterationsPerNs: 2 })).toThrow("compaction.scanNs");
    expect(bad({ scanNs: 1, hogIterationsPerNs: 0 })).toThrow("compaction.hogIterationsPerNs");
    expect(bad("fast")).toThrow("compaction.scanNs");
    expect(predictsCompaction(readProfileFile(profilePath("v4-epyc-ptdma")), V4_COMPACTION)).toBe(
      true,
    );
    for (const name of ["v3-epyc-ptdma", "grace"])
      expect(predictsCompaction(readProfileFile(profilePath(name)), V4_COMPACTION), name).toBe(
        false,
      );
    expect(PCI_IOMMU_DMA_MAPPING.maxSegmentSize).toBe(64 * 1024);
  });
});
