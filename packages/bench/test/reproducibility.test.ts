// The seeds' own reproducibility: v4 against v3 on the cells both publish, and the published
// count rows that fall. Every value is the seeds' (001_f5dd2cc87105abe2.txt, RFC v4 cover letter,
// PERFORMANCE RESULTS 1a/1b/2; 002_fb4c201677199b0f.txt, RFC v3 cover letter, tables 1a/1c/2;
// 003_8fe54f2659d67c99.txt, Zi Yan's Grace tables). Nothing here is timed.
import { describe, expect, it } from "vitest";
import {
  countDrops,
  missesOnDisputedCells,
  REVISION_PAIRS,
  revisionSummary,
  revisionTable,
  revisionTables,
} from "../src/reproducibility";
import { SEED_TABLES, seedTable } from "../src/seed_tables";
import { fitSeedProfile, predictCallGbps, SEED_PROFILES, type WhatifTable } from "../src/whatif";

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
