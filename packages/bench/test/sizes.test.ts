import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import { median } from "simple-statistics";
import { describe, expect, it } from "vitest";
import { throughputChart, writeSvg } from "../src/chart";
import { formatSizes, runSizes, sizesChartPoints } from "../src/sizes";

describe("sizes", () => {
  it("measures every copier at every size with both drivers loaded, keeps every byte, and charts it", async () => {
    const result = await Effect.runPromise(
      runSizes(
        { total: 8 << 20, sizes: [4096, 2 << 20], threads: [2], channels: [4], runs: 1 },
        () => false,
        () => {},
      ),
    );
    const r = result.results;
    expect(r.complete).toBe(true);
    expect(r.cells.map((c) => `${c.folioBytes} ${c.copier}`)).toEqual([
      "4096 serial",
      "4096 mtcopy 2",
      "4096 dcbm 4",
      "2097152 serial",
      "2097152 mtcopy 2",
      "2097152 dcbm 4",
    ]);
    expect(r.cells.every((c) => c.intact && c.gbps.n === 1)).toBe(true);
    const table = formatSizes(r);
    expect(table).toContain("| copier | 4 KiB | 2 MiB |");
    expect(table).toContain("| dcbm 4 |");
    const path = join(mkdtempSync(join(tmpdir(), "sizes-")), "sizes.svg");
    await writeSvg(
      path,
      throughputChart("t", "folio size (KiB)", sizesChartPoints(r), [
        { gbps: 10, label: "raw memcpy, 2 threads" },
      ]),
    );
    const svg = readFileSync(path, "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    for (const label of ["serial", "mtcopy 2", "dcbm 4", "raw memcpy"])
      expect(svg).toContain(label);
  }, 120_000);

  it("adds the adaptive rows beside the plain ones, each ratio to serial from its own kernel, the median of the repeats'", async () => {
    const result = await Effect.runPromise(
      runSizes(
        {
          total: 4 << 20,
          sizes: [2 << 20],
          threads: [2],
          channels: [4],
          runs: 1,
          repeat: 2,
          adaptive: true,
        },
        () => false,
        () => {},
      ),
    );
    const r = result.results;
    expect(r.cells.map((c) => c.copier)).toEqual([
      "serial",
      "mtcopy 2",
      "mtcopy adaptive",
      "dcbm 4",
      "dcbm 4 adaptive",
    ]);
    expect(r.cells.every((c) => c.intact)).toBe(true);
    for (const c of r.cells.slice(1)) {
      expect(c.ratios?.length).toBe(2);
      expect(c.vsSerial).toBe(median([...c.ratios!]));
    }
    const table = formatSizes(r);
    expect(table).toContain("| dcbm 4 adaptive |");
    expect(table).toContain("with 2 paired measurements per cell, the median of their ratios");
    expect(table).toContain("(÷ serial), the serial samples taken in the copier's own kernel");
  }, 120_000);

  it("stops between cells when told, and keeps what it measured", async () => {
    let cells = 0;
    const result = await Effect.runPromise(
      runSizes(
        { total: 4 << 20, sizes: [4096, 65536], threads: [1], channels: [1], runs: 1 },
        () => cells >= 2,
        (_label, step) => {
          if (step && step.index < step.of) cells++;
        },
      ),
    );
    expect(result.results.complete).toBe(false);
    expect(result.results.cells.length).toBe(2);
    expect(formatSizes(result.results)).toContain("Interrupted");
  }, 120_000);
});
