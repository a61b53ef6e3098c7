import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kernel } from "@migrate-offload/core";
import { Effect } from "effect";
import { median } from "simple-statistics";
import { describe, expect, it } from "vitest";
import { throughputChart, writeSvg } from "../src/chart";
import {
  COUNT_SWEEP,
  countCellBytes,
  countChartPoints,
  formatGrid,
  runBase64k,
  runCount,
} from "../src/count";
import { patternIntact, writePattern } from "../src/pattern";

describe("count and base64k", () => {
  it("count measures serial, mtcopy 1, dcbm 1 and both adaptive policies at each count, every copier paired with serial, and every byte survives", async () => {
    const r = await Effect.runPromise(
      runCount(
        [1, 4],
        1,
        () => false,
        () => {},
      ),
    );
    expect(r.results.complete).toBe(true);
    expect(r.results.cells.map((c) => `${c.column} ${c.row} ${c.total}`)).toEqual([
      "1 serial 2097152",
      "1 mtcopy 1 2097152",
      "1 dcbm 1 2097152",
      "1 mtcopy adaptive 2097152",
      "1 dcbm 1 adaptive 2097152",
      "4 serial 8388608",
      "4 mtcopy 1 8388608",
      "4 dcbm 1 8388608",
      "4 mtcopy adaptive 8388608",
      "4 dcbm 1 adaptive 8388608",
    ]);
    expect(r.results.cells.every((c) => c.intact && c.gbps.n === 1)).toBe(true);
    // Every copier's cell timed serial in its own kernel too; the serial cell did not.
    expect(r.results.cells.map((c) => c.serialGbps?.n ?? 0)).toEqual([
      0, 1, 1, 1, 1, 0, 1, 1, 1, 1,
    ]);
    const table = formatGrid(r.results, "2 MiB folios");
    expect(table).toContain(
      "| 2 MiB folios | serial | mtcopy 1 | dcbm 1 | mtcopy adaptive | dcbm 1 adaptive |",
    );
    expect(table).toContain("×a/×b: the median against raw memcpy on 1 thread and on");
    const path = join(mkdtempSync(join(tmpdir(), "count-")), "count.svg");
    const points = countChartPoints(r.results);
    expect(points.map((p) => p.x)).toEqual([1, 1, 1, 1, 1, 4, 4, 4, 4, 4]);
    await writeSvg(
      path,
      throughputChart("t", "folios", points, [{ gbps: 10, label: "raw memcpy, 2 threads" }]),
    );
    const svg = readFileSync(path, "utf8");
    for (const label of ["serial", "mtcopy 1", "dcbm 1", "raw memcpy", "folios"])
      expect(svg).toContain(label);
  }, 120_000);

  it("repeats each cell's paired measurement and takes ÷ serial as the median of the repeats' ratios", async () => {
    const r = await Effect.runPromise(
      runCount(
        [1],
        1,
        () => false,
        () => {},
        [],
        3,
      ),
    );
    expect(r.config).toMatchObject({ counts: [1], runs: 1, repeat: 3 });
    const [serial, ...copiers] = r.results.cells;
    // The serial cell: three warm-ups of one sample each, no ratio of its own.
    expect([serial!.gbps.n, serial!.ratios, serial!.vsSerial]).toEqual([3, undefined, undefined]);
    for (const c of copiers) {
      // One copier and one serial sample per repeat, each repeat's ratio over its own serial one.
      expect([c.gbps.n, c.serialGbps?.n, c.ratios?.length]).toEqual([3, 3, 3]);
      expect(c.vsSerial).toBe(median([...c.ratios!]));
      expect(c.intact).toBe(true);
    }
    const table = formatGrid(r.results, "2 MiB folios");
    expect(table).toContain(
      "with 3 paired measurements per cell, the median of their ratios (the smallest and largest in brackets)",
    );
    // The adaptive policies decided every batch of every copier call (one batch a call), and the
    // table lists their counters; the plain drivers decide nothing.
    const [, , mtAuto, dcbmAdaptive] = copiers;
    for (const c of [mtAuto!, dcbmAdaptive!])
      expect(c.decisions!.taken + c.decisions!.declined).toBeGreaterThan(0);
    expect(copiers[1]!.decisions).toEqual({ taken: 0, declined: 0 });
    expect(table).toContain(
      `- dcbm 1 adaptive at 1 (2 MiB folios): ${dcbmAdaptive!.decisions!.taken} taken, ${dcbmAdaptive!.decisions!.declined} declined`,
    );
    expect(table).not.toContain("- dcbm 1 at");
    // Each ratio printed as median (smallest–largest) of the three.
    const mt = copiers[0]!;
    const [lo, hi] = [Math.min(...mt.ratios!), Math.max(...mt.ratios!)];
    expect(table).toContain(
      `| 1 | ${mt.vsSerial!.toFixed(2)} (${lo.toFixed(2)}–${hi.toFixed(2)}) |`,
    );
  }, 120_000);

  it("base64k moves 64 KiB pages and 2 MiB mTHP of a 64 KiB-page kernel intact", async () => {
    const r = await Effect.runPromise(
      runBase64k(
        4 << 20,
        [2],
        1,
        () => false,
        () => {},
      ),
    );
    expect(r.results.cells.map((c) => `${c.column}: ${c.row}`)).toEqual([
      "64 KiB pages: vanilla",
      "64 KiB pages: mt_2",
      "2 MiB mTHP: vanilla",
      "2 MiB mTHP: mt_2",
    ]);
    expect(r.results.cells.every((c) => c.intact)).toBe(true);
  }, 120_000);

  it("the count sweep's memory need is two nodes of the folios and slack each", () => {
    expect(countCellBytes(1024)).toBe(2 * 2 ** 31 + (128 << 20));
    expect(COUNT_SWEEP.at(-1)).toBe(8192);
  });
});

describe("the byte pattern", () => {
  it("reads back intact, and a single changed byte anywhere is caught", async () => {
    const bytes = (64 << 20) + (2 << 20); // two pieces, the second short
    const kernel = await Effect.runPromise(Kernel.boot({ nodes: ["128M"] }));
    const proc = await Effect.runPromise(kernel.createProcess());
    const addr = await Effect.runPromise(proc.mmap(bytes));
    await Effect.runPromise(writePattern(proc, addr, bytes));
    expect(await Effect.runPromise(patternIntact(proc, addr, bytes))).toBe(true);
    for (const offset of [0, 4095, 4096 + 17, (64 << 20) + 5, bytes - 1]) {
      const [before] = await Effect.runPromise(proc.read(addr + offset, 1));
      await Effect.runPromise(proc.write(addr + offset, Uint8Array.of((before! + 1) & 0xff)));
      expect(await Effect.runPromise(patternIntact(proc, addr, bytes))).toBe(false);
      await Effect.runPromise(proc.write(addr + offset, Uint8Array.of(before!)));
    }
    expect(await Effect.runPromise(patternIntact(proc, addr, bytes))).toBe(true);
  }, 60_000);
});
