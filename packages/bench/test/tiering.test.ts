import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { writeSvg } from "../src/chart";
import { formatTiering, runTiering, TIERING_OFF, tieringChart } from "../src/tiering";

describe("tiering", () => {
  it("runs tiering off, serial, mtcopy and dcbm on a two-tier machine: every byte intact, nothing promoted with numa_balancing 0, promotions within the rate limit's windows", async () => {
    const config = {
      dramBytes: 16 << 20,
      slowBytes: 32 << 20,
      footprintBytes: 24 << 20,
      hotBytes: 1 << 20,
      phases: 2,
      phaseMs: 400,
      rateLimitMBps: 4,
      scanPeriodMs: 100,
      sampleMs: 100,
      runs: 1,
      threads: 2,
      channels: 4,
    };
    const r = (await Effect.runPromise(runTiering(config, () => {}))).results;
    expect(r.rows.map((row) => row.copier)).toEqual([
      TIERING_OFF,
      "serial",
      "mtcopy 2",
      "dcbm 4 ch",
    ]);
    const hotPages = config.hotBytes / 4096;
    for (const row of r.rows) {
      expect(row.intact).toBe(true);
      expect(row.waiting).toBeLessThanOrEqual(config.phases * hotPages);
      expect(row.promotedInPhase).toBeLessThanOrEqual(row.waiting);
      // should_numa_migrate_memory() (kernel/sched/fair.c): a promotion is a candidate first,
      // and a candidate is a hint fault (do_numa_page(), mm/memory.c).
      expect(row.promoted.median).toBeLessThanOrEqual(row.candidates.median);
      expect(row.candidates.median).toBeLessThanOrEqual(row.hintFaults.median);
      // numa_promotion_rate_limit(): at most the limit's candidates in each one-second window,
      // so at most two windows' worth within any second.
      expect(row.peakMBps.max).toBeLessThanOrEqual(2 * config.rateLimitMBps);
    }
    // numa_balancing 0: no scan, no hint fault, no promotion; every hot set stays on the slow
    // tier, where the fill's reclaim demoted it.
    const off = r.rows[0]!;
    expect(off.tiering).toBe(false);
    expect(off.hintFaults.max).toBe(0);
    expect(off.promoted.max).toBe(0);
    expect(off.waitMs).toBeNull();
    expect(off.progressVsOff).toBeNull();
    expect(r.rows.slice(1).every((row) => row.progressVsOff !== null)).toBe(true);
    const offSeries = r.series.filter((p) => p.copier === TIERING_OFF);
    expect(offSeries.length).toBeGreaterThan(0);
    expect(offSeries.every((p) => p.hotOnTopPercent === 0)).toBe(true);
    expect(new Set(r.series.map((p) => p.copier))).toEqual(
      new Set(r.rows.map((row) => row.copier)),
    );
    expect(r.series.every((p) => p.hotOnTopPercent >= 0 && p.hotOnTopPercent <= 100)).toBe(true);

    const table = formatTiering(r);
    expect(table).toContain("| tiering off |");
    expect(table).toContain("every byte intact after every run");
    const svg = join(mkdtempSync(join(tmpdir(), "tiering-")), "tiering.svg");
    await writeSvg(svg, tieringChart(r));
    const text = readFileSync(svg, "utf8");
    expect(text).toContain("<svg");
    expect(text).toContain("current hot set on DRAM, % of its pages");
    expect(text).toContain("mtcopy 2");
  }, 120_000);
});
