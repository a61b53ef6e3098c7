// What-if: the shipped profiles are what the fit gives from the seeds' numbers, and the model's
// predictions hold the arithmetic of the core's copy-cost functions. Nothing here is timed.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CopyCostProfile, parseCopyCostProfile } from "@migrate-offload/core";
import { describe, expect, it } from "vitest";
import { SEED_TABLES, seedCell, seedTable, V3_COPY_SHARE } from "../src/seed_tables";
import {
  dmaDescriptorCount,
  fitSeedProfile,
  GRACE_L3_BYTES,
  PCI_IOMMU_DMA_MAPPING,
  predictCallGbps,
  predictCopyShare,
  predictsShare,
  predictTable,
  readProfileFile,
  SEED_PROFILES,
  sourceCacheBytes,
  sourceWritebackBytes,
  type WhatifTable,
  whatifSummary,
  ZEN3_CCD_L3_BYTES,
} from "../src/whatif";

const profilePath = (name: string) => new URL(`../profiles/${name}.json`, import.meta.url).pathname;

describe("the seeds' tables", () => {
  it("hold the published numbers: v4 table 1b's 16 channels at 2 MiB, 66.86 GB/s; Grace mt_32 at 256 × 2 MiB, 92.28", () => {
    expect(seedCell("v4-1b", "dcbm 16", "2M")).toBe(66.86);
    expect(seedCell("grace-2m", "mt_32", "256")).toBe(92.28);
    expect(seedCell("v3-1b", "mtcopy 16", "2M")).toBe(35.89);
    for (const t of SEED_TABLES)
      for (const r of t.rows) expect(r.gbps.length, `${t.id}/${r.label}`).toBe(t.columns.length);
  });
});

describe("the shipped profiles", () => {
  it.each(SEED_PROFILES)("%s is the fit of the seeds' numbers, and parses", (name) => {
    const file = readProfileFile(profilePath(name));
    const fitted = fitSeedProfile(name);
    expect(file.profile).toEqual(parseCopyCostProfile(fitted.profile));
    expect(file.fittedOn).toEqual(fitted.fittedOn);
    expect(file.dmaMapping).toEqual(fitted.dmaMapping);
    expect(file.sourceCache).toEqual(fitted.sourceCache);
    expect(file.compaction).toEqual(fitted.compaction);
    expect(file.parameters).toEqual(fitted.parameters);
    expect(file.tables).toEqual(fitted.tables);
    const raw = JSON.parse(readFileSync(profilePath(name), "utf8"));
    expect(raw.source).toBe(fitted.source);
  });

  it("reproduces the cells a profile was fitted on exactly where the fit is exact", () => {
    const v4 = fitSeedProfile("v4-epyc-ptdma");
    // The PMD-mapped 2 MiB baseline cell fixes the CPU's bandwidth.
    const base = predictTable(
      v4.profile,
      seedTable("v4-1a"),
      v4.fittedOn,
      v4.dmaMapping,
      v4.sourceCache,
    );
    expect(base.cells[0]![5]!.predicted).toBeCloseTo(10.88, 1);
    // The 16-channel 2 MiB cell fixes the device's bandwidth; the per-call and per-batch costs,
    // fitted after it on the count table, take about 1 % off a 1 GB call.
    const dma = predictTable(
      v4.profile,
      seedTable("v4-1b"),
      v4.fittedOn,
      v4.dmaMapping,
      v4.sourceCache,
    );
    expect(Math.abs(dma.cells[5]![5]!.error)).toBeLessThan(0.02);
    expect(dma.cells[5]![5]!.fitted).toBe(true);
    expect(dma.cells[2]![5]!.fitted).toBe(false);
  });

  it("ties two PTDMA channels to one engine: the published 2 MiB column barely moves from one channel to two", () => {
    // v4 1b at 2 MiB: 12.64 GB/s on one channel, 14.40 on two, 27.16 on four. Two channels per
    // engine (fitted on the two-channel cell) predict four channels within 15 %, where free
    // engines for every channel predicted +82 %.
    for (const name of ["v4-epyc-ptdma", "v3-epyc-ptdma"] as const)
      expect(fitSeedProfile(name).profile.dma!.channelsPerEngine).toBe(2);
    const v4 = fitSeedProfile("v4-epyc-ptdma");
    const dma = predictTable(v4.profile, seedTable("v4-1b"), v4.fittedOn, v4.dmaMapping);
    expect(dma.cells[1]![5]!.fitted).toBe(true);
    expect(Math.abs(dma.cells[2]![5]!.error)).toBeLessThan(0.15);
  });

  it("gives a PTDMA channel the descriptors dcbm's mapping gives behind the IOMMU: v3's one-channel row within 15 % at every size, v4's flat past 64 KiB", () => {
    // dcbm maps each channel's folios with one dma_map_sgtable() and prepares a descriptor per
    // mapped segment; behind an IOMMU, __finalise_sg() (drivers/iommu/dma-iommu.c) merges them
    // up to dma_get_max_seg_size(), 64 KiB for a PCI device (pci_device_add()), and past it
    // (its unsigned-int wrap) into one segment a channel. One channel's published GB/s (v4 1b:
    // 2.63, 2.92, 3.16, 4.75, 7.38 from 4 KiB to 1 MiB) then follows descriptors per byte; a
    // descriptor per folio left 1 MiB at −42 %.
    for (const name of ["v4-epyc-ptdma", "v3-epyc-ptdma"] as const) {
      const f = fitSeedProfile(name);
      const dma = f.profile.dma!;
      expect(f.dmaMapping).toEqual({
        iommu: true,
        maxSegmentSize: 64 * 1024,
        segmentBoundaryMask: 0xffffffff,
      });
      // A descriptor costs microseconds, the CPU's share and the channel's together (v4 7.5, v3
      // 5.2); the DMA path's own per-folio CPU work fits below 0, so it is 0.
      expect(dma.descNs + dma.descCpuNs!).toBeGreaterThan(5000);
      expect(dma.descNs + dma.descCpuNs!).toBeLessThan(10000);
      expect(dma.folioCpuNs).toBe(0);
      const table = name === "v4-epyc-ptdma" ? "v4-1b" : "v3-1c";
      const one = predictTable(f.profile, seedTable(table), f.fittedOn, f.dmaMapping).cells[0]!;
      // Past 64 KiB a channel's table is one segment (__finalise_sg()'s unsigned wrap), so a
      // byte costs the same at every PTE-mapped size: as v3 publishes (4.57, 5.03, 4.69, 4.78
      // GB/s from 128 KiB to 1 MiB). v4's row climbs instead (4.75 at 256 KiB, 7.38 at 1 MiB,
      // where v3 has 4.78): the line through it passes between, over one and under the other.
      for (const c of one) {
        if (c.id === "v4-1b/dcbm 1/256K") expect(c.error, c.id).toBeGreaterThan(0.15);
        else if (c.id === "v4-1b/dcbm 1/1M") expect(c.error, c.id).toBeLessThan(-0.15);
        else expect(Math.abs(c.error), c.id).toBeLessThan(0.15);
      }
      const t = seedTable(table);
      const flat = one.filter((_, i) => {
        const bytes = t.columns[i]!.folioBytes;
        return bytes > 64 * 1024 && bytes < t.pmdBytes;
      });
      expect(flat.length).toBeGreaterThanOrEqual(2);
      for (const c of flat) expect(c.predicted / flat[0]!.predicted).toBeCloseTo(1, 1);
    }
  });

  it("predicts 1 GiB of 4 KiB folios on one channel as 16384 descriptors, one per 16 folios", () => {
    const p = fitSeedProfile("v4-epyc-ptdma").profile;
    const { kernel, dma } = { kernel: p.kernel, dma: p.dma! };
    const folios = 262144;
    // Two channels per engine, one channel used: it has the engine alone.
    const ns =
      kernel.callNs +
      folios * (kernel.folioNs + kernel.pteNs) +
      dma.setupNs +
      dma.chanNs +
      (folios / 16) * (dma.descNs + dma.descCpuNs!) +
      folios * (dma.pteNs + 4096 / dma.chanGbps) +
      dma.completionNs;
    expect(
      predictCallGbps(p, folios, 4096, 4096, { kind: "dma", channels: 1 }, PCI_IOMMU_DMA_MAPPING),
    ).toBeCloseTo((1 << 30) / ns, 9);
  });

  it("predicts 1 GiB of 2 MiB folios on one channel as one descriptor: __finalise_sg()'s unsigned-int wrap", () => {
    const p = fitSeedProfile("v4-epyc-ptdma").profile;
    const { kernel, dma } = { kernel: p.kernel, dma: p.dma! };
    expect(dmaDescriptorCount(PCI_IOMMU_DMA_MAPPING, 4096)!(512, 2 << 20)).toBe(1);
    const ns =
      kernel.callNs +
      512 * kernel.folioNs +
      dma.setupNs +
      dma.chanNs +
      dma.descCpuNs! +
      dma.descNs +
      512 * ((2 << 20) / dma.chanGbps) +
      dma.completionNs;
    expect(
      predictCallGbps(p, 512, 2 << 20, 4096, { kind: "dma", channels: 1 }, PCI_IOMMU_DMA_MAPPING),
    ).toBeCloseTo((1 << 30) / ns, 9);
    // Without the mapping, a descriptor per folio: 511 more.
    const perFolio = (1 << 30) / (ns + 511 * (dma.descNs + dma.descCpuNs!));
    expect(predictCallGbps(p, 512, 2 << 20, 4096, { kind: "dma", channels: 1 })).toBeCloseTo(
      perFolio,
      9,
    );
  });

  it("tells the misses that lie within the seed's own ±: v3 1c, 12 channels at 128 KiB, 16.00±4.41", () => {
    const v3 = fitSeedProfile("v3-epyc-ptdma");
    const tables = v3.tables.map((t) =>
      predictTable(v3.profile, seedTable(t), v3.fittedOn, v3.dmaMapping, v3.sourceCache),
    );
    const cell = (id: string) => tables.flatMap((t) => t.cells.flat()).find((c) => c.id === id)!;
    // Published 16.00±4.41 between 14.57 (512 KiB) and 13.95 (16 channels): missed beyond 15 %,
    // but within the ±.
    const wide = cell("v3-1c/dcbm 12/128K");
    expect(wide.spread).toBe(4.41);
    expect(wide.error).toBeLessThan(-0.15);
    expect(Math.abs(wide.predicted - wide.published)).toBeLessThanOrEqual(4.41);
    // Eight threads at 512 KiB, 14.96±3.29: a miss just outside its ±.
    const narrow = cell("v3-1b/mtcopy 8/512K");
    expect(narrow.error).toBeLessThan(-0.15);
    expect(Math.abs(narrow.predicted - narrow.published)).toBeGreaterThan(3.29);
    const s = whatifSummary(tables);
    const misses = tables
      .flatMap((t) => t.cells.flat())
      .filter((c) => !c.fitted && Math.abs(c.error) > 0.15);
    expect(s.missesWithSpread).toBe(misses.filter((c) => c.spread !== undefined).length);
    expect(s.missesWithinSpread).toBeGreaterThan(0);
    expect(s.missesWithinSpread).toBeLessThan(s.missesWithSpread);
    // v4 table 2 and Grace print no ±: their cells carry none.
    expect(predictTable(v3.profile, seedTable("v4-count")).cells[0]![0]!.spread).toBeUndefined();
  });

  it("splits a descriptor between the initiating CPU and the channel on the 16-channel 64 KiB cell", () => {
    // folios_copy_dma() (v4 patch 5) submits every channel's descriptors before it issues any:
    // the CPU's share does not shrink with the channels. Fitted on 16 channels at 64 KiB (a
    // descriptor per folio), it brings 8 channels at 64 KiB within 15 % (v4: +16 % without it).
    for (const [name, table] of [
      ["v4-epyc-ptdma", "v4-1b"],
      ["v3-epyc-ptdma", "v3-1c"],
    ] as const) {
      const f = fitSeedProfile(name);
      const dma = f.profile.dma!;
      // Under a microsecond of a 5–8 µs descriptor: v4 0.94 µs, v3 0.59 µs.
      expect(dma.descCpuNs!).toBeGreaterThan(500);
      expect(dma.descCpuNs!).toBeLessThan(1000);
      expect(f.fittedOn).toContain(`${table}/dcbm 16/64K`);
      const t = predictTable(f.profile, seedTable(table), f.fittedOn, f.dmaMapping, f.sourceCache);
      const cell = (id: string) => t.cells.flat().find((c) => c.id === id)!;
      expect(Math.abs(cell(`${table}/dcbm 16/64K`).error)).toBeLessThan(0.001);
      expect(Math.abs(cell(`${table}/dcbm 8/64K`).error)).toBeLessThan(0.15);
    }
  });

  it("reproduces the published tables: 42 of 43 held-out cells within 15 % (v4), 97 of 105 (v3), 82 of 100 (Grace)", () => {
    // The counts docs/benchmarks.md publishes; a change to the model or a fit that loses a cell
    // fails here. Parameters against cells: v4 12 parameters on 19 of 62 cells (and 2 more on 2
    // of the compaction run's 15 figures), v3 15 on 26 of 131, Grace 8 on 19 of 119.
    const expected = {
      "v4-epyc-ptdma": { within: 42, cells: 43, fitted: 21, parameters: 14 },
      "v3-epyc-ptdma": { within: 97, cells: 105, fitted: 26, parameters: 15 },
      grace: { within: 82, cells: 100, fitted: 19, parameters: 8 },
    };
    for (const name of SEED_PROFILES) {
      const f = fitSeedProfile(name);
      const tables = f.tables.map((t) =>
        predictTable(f.profile, seedTable(t), f.fittedOn, f.dmaMapping, f.sourceCache),
      );
      const s = whatifSummary(tables);
      expect({ within: s.within, cells: s.cells, fitted: f.fittedOn.length }).toEqual({
        within: expected[name].within,
        cells: expected[name].cells,
        fitted: expected[name].fitted,
      });
      expect(f.parameters.length, name).toBe(expected[name].parameters);
      expect(expected[name].parameters).toBeLessThan(expected[name].fitted);
    }
  });

  it("fits a second copy thread's share on v3's two threads at 2 MiB; the two- and four-thread rows follow", () => {
    // v3 table 1b at 2 MiB: 10.94, 17.80 and 31.41 GB/s on 1, 2 and 4 threads, 1 : 1.63 : 2.87,
    // each ± 0.13, 0.12, 1.14. Every thread at one thread's bandwidth up to memory's limit put
    // two threads at +21 % and four at +14 %, and the two-thread row +12 % on average.
    const v3 = fitSeedProfile("v3-epyc-ptdma");
    expect(v3.fittedOn).toContain("v3-1b/mtcopy 2/2M");
    expect(v3.profile.threads.scaling).toBeCloseTo(0.652, 3);
    const predict = (p: CopyCostProfile) =>
      predictTable(p, seedTable("v3-1b"), v3.fittedOn, v3.dmaMapping, v3.sourceCache);
    const t = predict(v3.profile);
    const cell = (id: string) => t.cells.flat().find((c) => c.id === id)!;
    expect(Math.abs(cell("v3-1b/mtcopy 2/2M").error)).toBeLessThan(1e-6);
    // Not fitted on: four threads at 2 MiB, +1 %; two at 64 KiB (7.68±0.12), +8 % (+17 % before).
    expect(cell("v3-1b/mtcopy 4/2M").error).toBeCloseTo(0.009, 3);
    expect(cell("v3-1b/mtcopy 2/64K").error).toBeCloseTo(0.075, 3);
    // The mean |error| of the two- and four-thread rows: 11.5 % and 6.8 % without the share,
    // 5.3 % and 4.9 % with it.
    const { scaling: _, ...linear } = v3.profile.threads;
    const before = predict({ ...v3.profile, threads: linear });
    const meanAbs = (w: WhatifTable, row: number) =>
      w.cells[row]!.reduce((a, c) => a + Math.abs(c.error), 0) / w.cells[row]!.length;
    expect(meanAbs(before, 1)).toBeCloseTo(0.115, 3);
    expect(meanAbs(t, 1)).toBeCloseTo(0.053, 3);
    expect(meanAbs(before, 2)).toBeCloseTo(0.068, 3);
    expect(meanAbs(t, 2)).toBeCloseTo(0.049, 3);
  });

  it("gives Grace's threads no such share: at 1024 × 2 MiB a folio's time is a straight line over 1/threads", () => {
    // ns per folio at 1024 × 2 MiB on 1, 2, 4, 8, 16 threads (7.90, 14.96, 27.62, 46.75,
    // 71.76 GB/s): the slopes between neighbours, 251, 257, 249 and 250 µs, agree within 3 %,
    // so every thread adds a whole thread's bandwidth there, and the fit leaves scaling out.
    const perFolio = (t: number) =>
      (2 * 1024 ** 3) / seedCell("grace-2m", `mt_${t}`, "1024") / 1024;
    const threads = [1, 2, 4, 8, 16];
    const slopes = threads
      .slice(1)
      .map((t, i) => (perFolio(threads[i]!) - perFolio(t)) / (1 / threads[i]! - 1 / t));
    for (const m of slopes) expect(m / slopes[0]!).toBeGreaterThan(0.97);
    for (const m of slopes) expect(m / slopes[0]!).toBeLessThan(1.03);
    expect(fitSeedProfile("grace").profile.threads.scaling).toBeUndefined();
  });

  it("counts the cells not fitted on and those within 15 %", () => {
    const v3 = fitSeedProfile("v3-epyc-ptdma");
    const tables = v3.tables.map((t) =>
      predictTable(v3.profile, seedTable(t), v3.fittedOn, v3.dmaMapping, v3.sourceCache),
    );
    const s = whatifSummary(tables);
    const all = tables.reduce((n, t) => n + t.cells.flat().length, 0);
    expect(s.cells).toBe(all - v3.fittedOn.length);
    expect(s.within).toBeLessThanOrEqual(s.cells);
    expect(Math.abs(s.worst!.error)).toBeGreaterThan(0.15);
  });
});

describe("the source cache: a call's dirty source in a Zen 3 CCD's 32 MiB L3", () => {
  const MiB = 1 << 20;
  const cache = { bytes: ZEN3_CCD_L3_BYTES, byteNs: 0.04 };

  it("writes back every cached source byte for a DMA engine, c² / cache for the initiator's copy, none for copy threads elsewhere", () => {
    expect(ZEN3_CCD_L3_BYTES).toBe(32 * MiB);
    const serial = { kind: "serial" } as const;
    const dma = { kind: "dma", channels: 1 } as const;
    // One 2 MiB folio: the CPU's fills displace a source line 1 time in 16.
    expect(sourceWritebackBytes(cache, 2 * MiB, serial)).toBe((2 * MiB * 2 * MiB) / (32 * MiB));
    expect(sourceWritebackBytes(cache, 2 * MiB, serial)).toBe(128 * 1024);
    // Copy threads on other CPUs: their fills land in their own cache, their reads leave the
    // line Owned (MOESI), not written back.
    expect(sourceWritebackBytes(cache, 32 * MiB, { kind: "threads", threads: 4 })).toBe(0);
    expect(sourceWritebackBytes(cache, 2 * MiB, dma)).toBe(2 * MiB);
    // 16 MiB: half the cache is source, half of it written back on the CPU; all of it for DMA.
    expect(sourceWritebackBytes(cache, 16 * MiB, serial)).toBe(8 * MiB);
    expect(sourceWritebackBytes(cache, 16 * MiB, dma)).toBe(16 * MiB);
    // Past the cache's size, the whole cache, whoever copies.
    for (const c of [serial, dma]) expect(sourceWritebackBytes(cache, 1 << 30, c)).toBe(32 * MiB);
  });

  it("adds byteNs per byte written back to a call: 8 × 2 MiB serial and on one DMA channel", () => {
    const f = fitSeedProfile("v4-epyc-ptdma");
    const p = f.profile;
    const c = f.sourceCache!;
    const serialNs =
      p.kernel.callNs + 8 * p.kernel.folioNs + (16 * MiB) / p.cpu.threadGbps + c.byteNs * 8 * MiB;
    expect(predictCallGbps(p, 8, 2 * MiB, 4096, { kind: "serial" }, f.dmaMapping, c)).toBeCloseTo(
      (16 * MiB) / serialNs,
      9,
    );
    const without = predictCallGbps(
      p,
      8,
      2 * MiB,
      4096,
      { kind: "dma", channels: 1 },
      f.dmaMapping,
    );
    const withCache = predictCallGbps(
      p,
      8,
      2 * MiB,
      4096,
      { kind: "dma", channels: 1 },
      f.dmaMapping,
      c,
    );
    expect((16 * MiB) / withCache - (16 * MiB) / without).toBeCloseTo(c.byteNs * 16 * MiB, 6);
  });

  it("fits the same write-back cost in both EPYC revisions, and brings their table 2 within 15 % from 8 to 64 folios", () => {
    // v4 table 2 and v3 table 2 (2 MiB folios by count): the published per-folio time is 30 %
    // above its large-count value from 8 to 64 folios (v4 baseline 253.6 µs a folio at 8, 277.4
    // at 16 against 193.5 at 8192), which no cost per call or per batch gives. Fitted on the
    // 16-folio (32 MiB) baseline cell of each revision, independently: 0.0375 ns/B (v4), 0.0385
    // (v3), 26 and 27 GB/s, about one CCD link's write bandwidth.
    const v4 = fitSeedProfile("v4-epyc-ptdma");
    const v3 = fitSeedProfile("v3-epyc-ptdma");
    expect(v4.sourceCache!.bytes).toBe(32 * MiB);
    expect(v4.fittedOn).toContain("v4-count/baseline/16");
    expect(v3.fittedOn).toContain("v3-count/baseline/16");
    expect(v4.sourceCache!.byteNs / v3.sourceCache!.byteNs).toBeCloseTo(1, 1);
    expect(1 / v4.sourceCache!.byteNs).toBeGreaterThan(20);
    expect(1 / v4.sourceCache!.byteNs).toBeLessThan(30);
    for (const [f, table, rows] of [
      [v4, "v4-count", ["baseline", "dcbm 1"]],
      [v3, "v3-count", ["baseline", "mtcopy 1", "dcbm 1"]],
    ] as const) {
      const t = predictTable(f.profile, seedTable(table), f.fittedOn, f.dmaMapping, f.sourceCache);
      for (const [r, row] of t.cells.entries())
        if ((rows as readonly string[]).includes(t.table.rows[r]!.label))
          for (const c of row.filter((c) => !c.fitted))
            expect(Math.abs(c.error), c.id).toBeLessThanOrEqual(0.15);
    }
  });

  it("leaves dcbm a per-batch set-up of a few µs: the one-folio DMA call's excess is the cache's write-back", () => {
    // One 2 MiB folio on one channel is 340 µs (v4), 54 µs more than on the CPU. A DMA read of
    // the 2 MiB the benchmark just wrote writes all of it back (79 µs at v4's byteNs), which was
    // the 74 µs "set-up" the fit found before the cache was modelled.
    for (const name of ["v4-epyc-ptdma", "v3-epyc-ptdma"] as const) {
      const dma = fitSeedProfile(name).profile.dma!;
      expect(dma.setupNs, name).toBeLessThan(10_000);
    }
  });
});

describe("readProfileFile: a profile file's dmaMapping", () => {
  const withMapping = (dmaMapping: unknown) => {
    const raw = JSON.parse(readFileSync(profilePath("v4-epyc-ptdma"), "utf8"));
    const dir = mkdtempSync(join(tmpdir(), "whatif-"));
    const path = join(dir, "p.json");
    writeFileSync(path, JSON.stringify({ ...raw, dmaMapping }));
    return path;
  };
  it("reads the device's IOMMU and dma_parms; refuses a wrong one, naming the field", () => {
    expect(readProfileFile(withMapping(PCI_IOMMU_DMA_MAPPING)).dmaMapping).toEqual(
      PCI_IOMMU_DMA_MAPPING,
    );
    expect(readProfileFile(withMapping(undefined)).dmaMapping).toBeUndefined();
    const bad = (m: unknown) => () => readProfileFile(withMapping(m));
    expect(bad({ ...PCI_IOMMU_DMA_MAPPING, iommu: 1 })).toThrow("dmaMapping.iommu");
    expect(bad({ ...PCI_IOMMU_DMA_MAPPING, maxSegmentSize: 0 })).toThrow(
      "dmaMapping.maxSegmentSize",
    );
    expect(bad({ ...PCI_IOMMU_DMA_MAPPING, maxSegmentSize: 2 ** 32 })).toThrow(
      "dmaMapping.maxSegmentSize",
    );
    expect(bad({ ...PCI_IOMMU_DMA_MAPPING, segmentBoundaryMask: 0xfffffffe })).toThrow(
      "dmaMapping.segmentBoundaryMask",
    );
    expect(bad("pci")).toThrow("dmaMapping.iommu");
  });

  it("reads the source cache; refuses a wrong one, naming the field", () => {
    const raw = JSON.parse(readFileSync(profilePath("v4-epyc-ptdma"), "utf8"));
    const write = (sourceCache: unknown) => {
      const path = join(mkdtempSync(join(tmpdir(), "whatif-")), "p.json");
      writeFileSync(path, JSON.stringify({ ...raw, sourceCache }));
      return path;
    };
    expect(readProfileFile(write({ bytes: 1 << 25, byteNs: -0.01 })).sourceCache).toEqual({
      bytes: 1 << 25,
      byteNs: -0.01,
    });
    expect(readProfileFile(write(undefined)).sourceCache).toBeUndefined();
    expect(() => readProfileFile(write({ bytes: 0, byteNs: 0 }))).toThrow("sourceCache.bytes");
    expect(() => readProfileFile(write({ bytes: 1.5, byteNs: 0 }))).toThrow("sourceCache.bytes");
    expect(() => readProfileFile(write({ bytes: 4096, byteNs: "x" }))).toThrow(
      "sourceCache.byteNs",
    );
    expect(() => readProfileFile(write({ bytes: 4096 }))).toThrow("sourceCache.byteNs");
    const read = { bytes: 1 << 25, byteNs: -0.01, effect: "initiatorRead" };
    expect(readProfileFile(write(read)).sourceCache).toEqual(read);
    expect(() => readProfileFile(write({ ...read, effect: "read" }))).toThrow("sourceCache.effect");
  });
});

describe("Grace's source cache: the initiator's copy reads a call that fits the 114 MB L3", () => {
  const MiB = 1 << 20;
  const serial = { kind: "serial" } as const;
  const cache = { bytes: GRACE_L3_BYTES, byteNs: -0.01, effect: "initiatorRead" } as const;

  it("reads every source byte of a call up to the cache's size on the initiator's copy, none past it, none on copy threads", () => {
    expect(GRACE_L3_BYTES).toBe(114 * MiB);
    // Zi Yan's 2 MiB table: 32 folios (64 MiB) fit, 64 (128 MiB) do not.
    expect(sourceCacheBytes(cache, 64 * MiB, serial)).toBe(64 * MiB);
    expect(sourceCacheBytes(cache, 114 * MiB, serial)).toBe(114 * MiB);
    expect(sourceCacheBytes(cache, 128 * MiB, serial)).toBe(0);
    expect(sourceCacheBytes(cache, 64 * MiB, { kind: "threads", threads: 1 })).toBe(0);
    expect(sourceCacheBytes(cache, 64 * MiB, { kind: "dma", channels: 1 })).toBe(0);
    // A write-back cache (the default effect) counts as sourceWritebackBytes() does.
    const zen3 = { bytes: ZEN3_CCD_L3_BYTES, byteNs: 0.04 };
    expect(sourceCacheBytes(zen3, 16 * MiB, serial)).toBe(
      sourceWritebackBytes(zen3, 16 * MiB, serial),
    );
  });

  it("fits the cache's read on the 64 MiB vanilla call of 64 KiB folios and memory's on the 2 GiB one; every vanilla cell not fitted on is then within 15 %", () => {
    // Zi Yan's Grace tables: vanilla rises to 10.23 GB/s at 32 × 2 MiB and falls to 9.40 at 64,
    // 8.31 from 512; the 64 KiB table's calls (at most 1024 × 64 KiB, 64 MiB) all fit the L3.
    const f = fitSeedProfile("grace");
    const c = f.sourceCache!;
    expect(c).toMatchObject({ bytes: GRACE_L3_BYTES, effect: "initiatorRead" });
    expect(c.byteNs).toBeLessThan(0);
    // A byte from the cache against one from memory: about 9.5 against 8.8 GB/s.
    const fromMemory = f.profile.cpu.threadGbps;
    const fromCache = 1 / (1 / fromMemory + c.byteNs);
    expect(fromMemory).toBeGreaterThan(8.5);
    expect(fromMemory).toBeLessThan(9);
    expect(fromCache).toBeGreaterThan(9.3);
    expect(fromCache).toBeLessThan(9.7);
    expect(f.fittedOn).toEqual(
      expect.arrayContaining(["grace-64k/vanilla/1024", "grace-2m/vanilla/1024"]),
    );
    // The one-folio 2 MiB call enters no fit: it is predicted (the per-call cost comes from the
    // 64 KiB row).
    expect(f.fittedOn).not.toContain("grace-2m/vanilla/1");
    for (const table of ["grace-64k", "grace-2m"]) {
      const t = predictTable(f.profile, seedTable(table), f.fittedOn, f.dmaMapping, c);
      const vanilla = t.cells[0]!;
      expect(Math.abs(vanilla.at(-1)!.error)).toBeLessThan(0.001);
      for (const cell of vanilla.filter((x) => !x.fitted))
        expect(Math.abs(cell.error), cell.id).toBeLessThanOrEqual(0.15);
    }
    // The model falls where the published row does, from 32 to 64 × 2 MiB (the call leaves the
    // cache), and copy threads take nothing from it.
    const at = (n: number, copier: Parameters<typeof predictCallGbps>[4]) =>
      predictCallGbps(f.profile, n, 2 * MiB, 65536, copier, undefined, c);
    expect(at(64, serial)).toBeLessThan(at(32, serial));
    const one = { kind: "threads", threads: 1 } as const;
    expect(at(32, one)).toBeCloseTo(predictCallGbps(f.profile, 32, 2 * MiB, 65536, one), 12);
  });
});

describe("predictCallGbps", () => {
  it("is the call's bytes over its per-call cost, kernel work and copy", () => {
    const p = parseCopyCostProfile(JSON.parse(readFileSync(profilePath("grace"), "utf8")));
    if (!("kernel" in p)) throw p;
    // One 2 MiB folio, serial: callNs + folioNs + 32 PTEs + 2 MiB / threadGbps (64 KiB pages:
    // an mTHP mapped by 32 PTEs).
    expect(p.kernel.pteNs).toBeGreaterThan(0);
    const ns =
      p.kernel.callNs + p.kernel.folioNs + 32 * p.kernel.pteNs + (2 << 20) / p.cpu.threadGbps;
    expect(predictCallGbps(p, 1, 2 << 20, 65536, { kind: "serial" })).toBeCloseTo(
      (2 << 20) / ns,
      9,
    );
    // Grace has no DMA engine: a DMA row predicts nothing (0 GB/s).
    expect(predictCallGbps(p, 1, 2 << 20, 65536, { kind: "dma", channels: 1 })).toBe(0);
  });
});

describe("predictCopyShare: v3's table of folio_copy()'s share of move_pages()", () => {
  it("is the copies' time over the call's, from the v3 profile's own terms, and within 15 % of the letter's four cells", () => {
    const file = readProfileFile(profilePath("v3-epyc-ptdma"));
    const p = file.profile;
    expect(predictsShare(file, V3_COPY_SHARE)).toBe(true);
    expect(predictsShare(readProfileFile(profilePath("grace")), V3_COPY_SHARE)).toBe(false);
    const cache = file.sourceCache!;
    const cells = predictCopyShare(p, V3_COPY_SHARE, file.fittedOn, cache);
    // A folio of s bytes: copy s / threadGbps (copyCallNs 0) and the dirty source lines the
    // copy displaces from the 32 MiB cache, c² / 32 MiB at byteNs each (c: the call's bytes, at
    // most the cache's); the kernel's work folioNs, plus pteNs per 4 KiB PTE below 2 MiB; the
    // call's cost once.
    const share = (n: number, s: number) => {
      const c = Math.min(n * s, 32 << 20);
      const copy = (n * s) / p.cpu.threadGbps + (cache.byteNs * c * c) / (32 << 20);
      const kernel = n * (p.kernel.folioNs + (s < 2 << 20 ? p.kernel.pteNs * (s / 4096) : 0));
      return copy / (p.kernel.callNs + kernel + copy);
    };
    expect(cells.map((c) => c.id)).toEqual([
      "v3-share/1/4K",
      "v3-share/1/2M",
      "v3-share/512/4K",
      "v3-share/512/2M",
    ]);
    for (const c of cells) {
      expect(c.predicted).toBeCloseTo(share(c.published.folios, c.published.folioBytes), 12);
      expect(c.fitted).toBe(false);
    }
    // The letter: <1 % and ~35 % at 4 KiB for 1 and 512 pages, ~66 % and ~97 % at 2 MiB.
    expect(cells[0]!.predicted).toBeLessThan(0.01);
    expect(cells[0]!.error).toBe(0);
    expect(cells.map((c) => Math.abs(c.error) <= 0.15)).toEqual([true, true, true, true]);
  });

  it("counts a '<' cell above its bound as a miss by how far above", () => {
    const p = fitSeedProfile("v3-epyc-ptdma").profile;
    // With no per-call cost, one 4 KiB page's copy is 378/(718 + 378) of the call: 34 %, far
    // above the letter's "<1 %".
    const [one] = predictCopyShare({ ...p, kernel: { ...p.kernel, callNs: 0 } }, V3_COPY_SHARE);
    expect(one!.predicted).toBeGreaterThan(0.3);
    expect(one!.error).toBeCloseTo((one!.predicted - 0.01) / 0.01, 12);
  });
});
