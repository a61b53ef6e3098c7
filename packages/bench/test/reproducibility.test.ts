// The seeds' own reproducibility: v4 against v3 on the cells both publish, and the published
// count rows that fall. Every value is the seeds' (001_f5dd2cc87105abe2.txt, RFC v4 cover letter,
// PERFORMANCE RESULTS 1a/1b/2; 002_fb4c201677199b0f.txt, RFC v3 cover letter, tables 1a/1c/2;
// 003_8fe54f2659d67c99.txt, Zi Yan's Grace tables). Nothing here is timed.
import { describe, expect, it } from "vitest";
import {
  countDrops,
  formatMissEvidence,
  missEvidence,
  missEvidenceSummary,
  missesOnDisputedCells,
  REVISION_PAIRS,
  revisionSummary,
  revisionTable,
  revisionTables,
} from "../src/reproducibility";
import { SEED_TABLES, seedTable } from "../src/seed_tables";
import {
  fitSeedProfile,
  predictCallGbps,
  predictTable,
  SEED_PROFILES,
  type WhatifTable,
} from "../src/whatif";

const cell = (t: ReturnType<typeof revisionTable>, id: string) => {
  const c = t.cells.flat().find((x) => x.id === id);
  if (!c) throw new Error(`no cell ${id}`);
  return c;
};

describe("the seeds' published ±", () => {
  it("sits beside every mean of the tables that print one, and nowhere else", () => {
    for (const t of SEED_TABLES)
      for (const r of t.rows) {
        const prints = !t.id.startsWith("grace") && t.id !== "v4-count";
        expect(r.spread === undefined, `${t.id}/${r.label}`).toBe(!prints);
        if (r.spread) expect(r.spread.length).toBe(r.gbps.length);
      }
    // v4 1b, 16 channels at 1 MiB: 18.04±7.11; v3 2, baseline at 1 folio: 7.96±2.22.
    expect(seedTable("v4-1b").rows[5]!.spread![4]).toBe(7.11);
    expect(seedTable("v3-count").rows[0]!.spread![0]).toBe(2.22);
  });
});

describe("v4 against v3", () => {
  it("pairs the tables of the same configurations, and shares 6 + 36 + 18 cells", () => {
    const [base, dma, count] = revisionTables();
    expect(REVISION_PAIRS.map(([a, b]) => `${a}:${b}`)).toEqual([
      "v4-1a:v3-1a",
      "v4-1b:v3-1c",
      "v4-count:v3-count",
    ]);
    // v3 1a also has 128K and 512K; v4 2 also has 1024 folios; v3 2 also has an mtcopy row.
    expect(base!.columns).toEqual(["4K", "16K", "64K", "256K", "1M", "2M"]);
    expect(dma!.rows).toEqual(["dcbm 1", "dcbm 2", "dcbm 4", "dcbm 8", "dcbm 12", "dcbm 16"]);
    expect(count!.rows).toEqual(["baseline", "dcbm 1"]);
    expect(count!.columns).toEqual(["1", "8", "16", "32", "64", "256", "512", "2048", "8192"]);
    expect(revisionSummary([base!, dma!, count!]).cells).toBe(60);
  });

  it("gives each cell's change: one channel at 1 MiB, 7.38±0.18 against 4.78±0.34, +54 %, intervals apart", () => {
    const dma = revisionTable("v4-1b", "v3-1c");
    const mib = cell(dma, "dcbm 1/1M");
    expect(mib.v4).toEqual({ gbps: 7.38, spread: 0.18 });
    expect(mib.v3).toEqual({ gbps: 4.78, spread: 0.34 });
    expect(mib.change).toBeCloseTo((7.38 - 4.78) / 4.78, 12);
    // 7.38 − 4.78 = 2.60 > 0.18 + 0.34.
    expect(mib.disjoint).toBe(true);
    // 16 channels at 1 MiB: 18.04±7.11 against 15.44±4.65, +17 %, but well inside the ±.
    const wide = cell(dma, "dcbm 16/1M");
    expect(wide.change).toBeCloseTo(0.1684, 4);
    expect(wide.disjoint).toBe(false);
  });

  it("prints no interval verdict where v4 table 2 prints no ±", () => {
    const count = revisionTable("v4-count", "v3-count");
    const dip = cell(count, "baseline/16");
    // 7.56 (v4) against 7.54±0.61 (v3): the dip at 16 folios is in both revisions.
    expect(dip.v4).toEqual({ gbps: 7.56 });
    expect(dip.change).toBeCloseTo(0.02 / 7.54, 12);
    expect(dip.disjoint).toBeUndefined();
  });

  it("summarises: 3 of 60 cells more than 15 % apart, the largest one channel at 1 MiB", () => {
    const s = revisionSummary(revisionTables());
    // Over 15 %: dcbm 1 at 1 MiB (+54 %), dcbm 16 at 1 MiB (+17 %), dcbm 1 at 32 × 2 MiB
    // (11.73 against 10.17, +15.3 %).
    expect(s.over15).toBe(3);
    expect(s.largest).toEqual({ table: "v4-1b", id: "dcbm 1/1M", change: (7.38 - 4.78) / 4.78 });
    // Intervals apart: dcbm 1 at 1 MiB and dcbm 2 at 1 MiB (8.05±0.05 against 7.21±0.73).
    expect(s.withSpread).toBe(42);
    expect(s.disjoint).toBe(2);
    expect(s.medianAbs).toBeGreaterThan(0);
    expect(s.medianAbs).toBeLessThan(s.meanAbs);
  });

  it("refuses two tables that share no cell", () => {
    expect(() => revisionTable("v4-1a", "grace-2m")).toThrow("share no cell");
  });
});

describe("falling count rows", () => {
  const drops = countDrops(SEED_TABLES);
  const find = (table: string, row: string, from: number) =>
    drops.find((d) => d.table === table && d.row === row && d.from === from);

  it("flags the baseline's dip at 16 × 2 MiB in both revisions, within one batch", () => {
    const v4 = find("v4-count", "baseline", 8)!;
    expect(v4).toMatchObject({
      to: 16,
      sameBatches: true,
      otherRevision: { table: "v3-count", falls: true },
    });
    expect(v4.change).toBeCloseTo((7.56 - 8.27) / 8.27, 12);
    expect(v4.withinSpread).toBeUndefined();
    // v3: 8.20±0.75 → 7.54±0.61, a fall smaller than the two ± together.
    expect(find("v3-count", "baseline", 8)).toMatchObject({
      withinSpread: true,
      sameBatches: true,
    });
  });

  it("tells a fall across a batch boundary: 512 → 1024 × 2 MiB is one batch of 1 GiB, then two", () => {
    expect(find("v4-count", "baseline", 512)).toMatchObject({ to: 1024, sameBatches: false });
  });

  it("flags Grace's fall past 256 × 2 MiB on 32 threads, 92.28 → 75.21, within one batch", () => {
    const d = find("grace-2m", "mt_32", 256)!;
    expect(d.change).toBeCloseTo((75.21 - 92.28) / 92.28, 12);
    expect(d.sameBatches).toBe(true);
    expect(d.otherRevision).toBeUndefined();
  });

  it("flags nothing in a rising row: v4 table 2's DMA column rises from 6.17 to 12.82", () => {
    expect(drops.filter((d) => d.table === "v4-count" && d.row === "dcbm 1")).toEqual([]);
    // Only count tables: the by-size tables are never read as counts.
    expect(new Set(drops.map((d) => d.table))).toEqual(
      new Set(["v4-count", "v3-count", "grace-64k", "grace-2m"]),
    );
    for (const d of drops) expect(d.change).toBeLessThan(0);
  });
});

describe("the model against the falls", () => {
  it("predicts a rise at every published fall, with each shipped profile", () => {
    // Counts per call, per batch, per folio and per byte: within one number of batches the
    // per-call and per-batch costs weigh less the more folios share them.
    const profiles = SEED_PROFILES.map((n) => fitSeedProfile(n));
    for (const d of countDrops(SEED_TABLES)) {
      const t = seedTable(d.table);
      const f = profiles.find((p) => p.tables.includes(d.table))!;
      const row = t.rows.find((r) => r.label === d.row)!;
      const at = (n: number) =>
        predictCallGbps(
          f.profile,
          n,
          t.columns[0]!.folioBytes,
          t.pageSize,
          row.copier,
          f.dmaMapping,
        );
      expect(at(d.to), `${d.table}/${d.row} ${d.from} → ${d.to}`).toBeGreaterThanOrEqual(
        at(d.from),
      );
    }
  });
});

describe("misses on disputed cells", () => {
  it("counts a profile's misses the other revision publishes more than 15 % away", () => {
    const miss = (id: string, error: number, fitted = false) => ({
      id,
      published: 1,
      predicted: 1 + error,
      error,
      fitted,
    });
    const predicted = [
      {
        table: seedTable("v4-1b"),
        cells: [
          [
            miss("v4-1b/dcbm 1/1M", -0.42, true), // fitted on: not a miss
            miss("v4-1b/dcbm 16/1M", -0.19), // v3 publishes it 17 % away
            miss("v4-1b/dcbm 1/64K", 0.3), // v3 publishes it 4 % away
            miss("v4-1b/dcbm 2/2M", -0.1), // within 15 %
          ],
        ],
      },
    ] as WhatifTable[];
    expect(missesOnDisputedCells(predicted, revisionTables())).toEqual({
      misses: 2,
      disputed: ["v4-1b/dcbm 16/1M"],
    });
  });
});

describe("the misses against the published numbers", () => {
  const predictedBy = (name: (typeof SEED_PROFILES)[number]) => {
    const f = fitSeedProfile(name);
    return f.tables.map((id) =>
      predictTable(f.profile, seedTable(id), f.fittedOn, f.dmaMapping, f.sourceCache),
    );
  };

  it("names a neighbour that falls where the prediction does not, on the side the miss errs", () => {
    const at = (id: string, published: number, predicted: number, fitted = false) => ({
      id,
      published,
      predicted,
      error: (predicted - published) / published,
      fitted,
    });
    const t = {
      table: seedTable("v3-1b"),
      cells: [
        // mtcopy 1: 10 at 4K, 13 at 16K (a miss predicted low), 12 at 64K (falls: predicted to
        // rise to 11), 9 at 128K (a miss predicted high, below 12: the fall accounts for it).
        [
          at("a/1/4K", 10, 10),
          at("a/1/16K", 13, 10.5),
          at("a/1/64K", 12, 11),
          at("a/1/128K", 9, 11.5),
        ],
        // mtcopy 2: 12 at 16K, below mtcopy 1's 13 while the prediction rises to 10.6.
        [at("a/2/4K", 10, 10), at("a/2/16K", 12, 10.6), at("a/2/64K", 12, 14.5, true)],
      ],
    } as unknown as WhatifTable;
    const e = missEvidence([t]);
    expect(e.map((m) => m.id)).toEqual(["a/1/16K", "a/1/128K"]);
    // 13 at 16K, predicted 10.5 (−19 %): 64K (12) and mtcopy 2 (12) fall below it while the
    // prediction rises; against 12 it would be −12.5 %. 4K (10, below it) errs the other way.
    expect(e[0]!.against).toEqual([
      {
        id: "a/1/64K",
        axis: "size",
        published: [13, 12],
        predicted: [10.5, 11],
        error: (10.5 - 12) / 12,
      },
      {
        id: "a/2/16K",
        axis: "lanes",
        published: [13, 12],
        predicted: [10.5, 10.6],
        error: (10.5 - 12) / 12,
      },
    ]);
    // 9 at 128K, predicted 11.5 (+28 %): 64K published above it (12), predicted below (11);
    // against 12 it would be −4 %.
    expect(e[1]!.against).toEqual([
      {
        id: "a/1/64K",
        axis: "size",
        published: [12, 9],
        predicted: [11, 11.5],
        error: (11.5 - 12) / 12,
      },
    ]);
    expect(e[1]!.withinSpread).toBeUndefined();
    expect(missEvidenceSummary(e)).toEqual({
      misses: 2,
      withinSpread: 0,
      byFall: 2,
      neither: [],
    });
  });

  it("names no neighbour the prediction falls to as well", () => {
    const at = (id: string, published: number, predicted: number) => ({
      id,
      published,
      predicted,
      error: (predicted - published) / published,
      fitted: false,
    });
    const t = {
      table: seedTable("v4-count"),
      cells: [[at("b/1", 10, 7), at("b/8", 9, 6.5)]],
    } as unknown as WhatifTable;
    // 10 → 9 published, 7 → 6.5 predicted: the model falls too, so the fall tells nothing.
    expect(missEvidence([t]).map((m) => m.against)).toEqual([[], []]);
  });

  it("tells why each shipped profile misses: v4's one miss within its ±, every v3 miss within the ± or a fall, Grace's four by a fall", () => {
    // v4 1b, 16 channels at 1 MiB: 18.04±7.11 published, 14.67 predicted.
    expect(missEvidenceSummary(missEvidence(predictedBy("v4-epyc-ptdma")))).toEqual({
      misses: 1,
      withinSpread: 1,
      byFall: 0,
      neither: [],
    });
    const v3 = missEvidence(predictedBy("v3-epyc-ptdma"));
    // v3 1b and 1c: seven within the published ± (each 2.6 to 4.4 GB/s wide); the eighth,
    // 8 threads at 512 KiB, is published above its 1 MiB neighbour.
    expect(missEvidenceSummary(v3)).toEqual({
      misses: 8,
      withinSpread: 7,
      byFall: 6,
      neither: [],
    });
    // mtcopy 8 at 512 KiB: 14.96±3.29, then 12.84 at 1 MiB; 11.57 predicted is −10 % of 12.84.
    const m = v3.find((x) => x.id === "v3-1b/mtcopy 8/512K")!;
    expect(m.withinSpread).toBe(false);
    expect(m.against[0]!.id).toBe("v3-1b/mtcopy 8/1M");
    expect(m.against[0]!.published).toEqual([14.96, 12.84]);
    expect(m.against[0]!.error).toBeCloseTo(-0.099, 3);
    const grace = missEvidenceSummary(missEvidence(predictedBy("grace")));
    expect(grace.misses).toBe(18);
    expect(grace.withinSpread).toBe(0);
    // mt_1 at 16 and 256 × 2 MiB, mt_16 at 8 (below mt_8's 33.96), mt_32 at 512 (75.21 after
    // 92.28 at 256, within one batch).
    expect(grace.byFall).toBe(4);
    expect(grace.neither).toHaveLength(14);
    expect(formatMissEvidence(missEvidence(predictedBy("v4-epyc-ptdma")))).toContain(
      "Of 1 miss: 1 within the published ±, 0 within 15 % had the published numbers not fallen at a neighbour, 0 neither.",
    );
  });
});
