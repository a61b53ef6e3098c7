import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  copierOrder,
  THROUGHPUT_AXIS_TITLE,
  type ThroughputPoint,
  throughputChart,
  writeSvg,
} from "../src/chart";
import { formatGrid, type GridResults } from "../src/count";
import {
  ABOVE_LIMIT_MARK,
  allThreadLimit,
  beatsLimit,
  limitRatios,
  MEMCPY_MIN_BYTES,
  memcpyReferenceLines,
  memcpyWarnings,
} from "../src/memcpy";
import { formatSummary, summarize } from "../src/report";
import { formatSizes, type SizesResults, sizesWarnings } from "../src/sizes";

const point = (copier: string, x: number, gbps: number): ThroughputPoint => ({
  copier,
  x,
  gbps,
  min: gbps - 0.5,
  max: gbps + 0.5,
});

describe("throughput charts", () => {
  it("order copiers by family as they appear, then by number: dcbm 2 before dcbm 16", () => {
    expect(
      copierOrder(["serial", "mtcopy 16", "mtcopy 2", "dcbm 1", "dcbm 16", "dcbm 2", "mtcopy 1"]),
    ).toEqual(["serial", "mtcopy 1", "mtcopy 2", "mtcopy 16", "dcbm 1", "dcbm 2", "dcbm 16"]);
  });

  it("title the y axis with its unit, tick the measured sizes and draw the legend in numeric order", async () => {
    const points = [4, 64, 2048].flatMap((x) =>
      ["serial", "dcbm 1", "dcbm 16", "dcbm 2"].map((c, i) => point(c, x, 1 + i)),
    );
    const lines = memcpyReferenceLines(summarize([5, 6, 7]), summarize([9, 10, 11]), 2);
    const spec = throughputChart("t", "folio size (KiB)", points, lines);
    const text = JSON.stringify(spec);
    expect(text).toContain(JSON.stringify(THROUGHPUT_AXIS_TITLE));
    expect(THROUGHPUT_AXIS_TITLE).toContain("GB/s");
    expect(text).toContain('"values":[4,64,2048]');
    const path = join(mkdtempSync(join(tmpdir(), "chart-")), "c.svg");
    await writeSvg(path, spec);
    const svg = readFileSync(path, "utf8");
    // The legend's labels, in the order the SVG draws them.
    const legend = ["serial", "dcbm 1", "dcbm 2", "dcbm 16"].map((label) =>
      svg.indexOf(`>${label}</text>`),
    );
    expect(legend.every((at) => at >= 0)).toBe(true);
    expect([...legend].sort((a, b) => a - b)).toEqual(legend);
    for (const label of ["raw memcpy, 1 thread", "raw memcpy, 2 threads", "GB/s", "2048"])
      expect(svg).toContain(label);
  }, 60_000);
});

describe("the statistic of every table", () => {
  it("is the median with the min–max spread", () => {
    expect(formatSummary(summarize([3, 1, 2, 10]))).toBe("2.50 (1.00–10.00)");
    expect(formatSummary(summarize([4]), 1)).toBe("4.0");
  });

  it("warns of each cell above raw memcpy on all threads (its best run), by copier and place", () => {
    const one = summarize([4, 5, 6]);
    const all = summarize([8, 9, 10]);
    const warnings = memcpyWarnings(
      [
        { copier: "mtcopy 16", where: "2 MiB", gbps: summarize([9, 12, 13]) },
        { copier: "serial", where: "2 MiB", gbps: summarize([5, 6, 7]) },
      ],
      one,
      all,
      2,
    );
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('1 cell beat the line "raw memcpy, 2 threads" (best 10.00 GB/s)');
    expect(warnings[1]).toBe("  mtcopy 16 at 2 MiB: 12.00 GB/s");
    expect(memcpyWarnings([], one, all, 2)).toEqual([]);
  });

  it("says of a cell above the line whose call moves less than the line copies that its copy can stay in the caches", () => {
    const one = summarize([20, 21]);
    const all = summarize([22, 23.52]);
    const cells = [
      // One 2 MiB folio a call at 25.66 GB/s: above the line, and within the caches.
      { copier: "serial", where: "1", gbps: summarize([25.66]), bytes: 2 << 20 },
      // 2048 folios, 4 GiB a call, above the line too: no cache to blame.
      { copier: "dcbm 1", where: "2048", gbps: summarize([24]), bytes: 4 * 2 ** 30 },
      // Exactly at the line: not above it.
      { copier: "mtcopy 1", where: "8", gbps: summarize([23.52]), bytes: 16 << 20 },
    ];
    expect(beatsLimit(cells[0]!.gbps, one, all)).toBe(true);
    expect(beatsLimit(cells[2]!.gbps, one, all)).toBe(false);
    const warnings = memcpyWarnings(cells, one, all, 2);
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toContain(
      `2 cells beat the line "raw memcpy, 2 threads" (best 23.52 GB/s)`,
    );
    expect(warnings[0]).toContain(`marked ${ABOVE_LIMIT_MARK} in the tables`);
    expect(warnings[1]).toBe(
      `  serial at 1: 25.66 GB/s (2 MiB a call, less than the line's ${MEMCPY_MIN_BYTES / (1 << 20)} MiB: its copy can stay in the caches, the line's cannot)`,
    );
    expect(warnings[2]).toBe("  dcbm 1 at 2048: 24.00 GB/s");
    expect(limitRatios(summarize([25.66]), one, all)).toBe(`×1.22/×1.09 ${ABOVE_LIMIT_MARK}`);
    expect(limitRatios(summarize([23.52]), one, all)).toBe("×1.12/×1.00");
  });

  it("marks the count table's cells above the line and says why below it", () => {
    const one = summarize([20, 21]);
    const all = summarize([22, 23.52]);
    const cell = (row: string, column: string, median: number) => ({
      row,
      column,
      folioBytes: 2 << 20,
      total: Number(column) * (2 << 20),
      gbps: summarize([median]),
      intact: true,
    });
    const r: GridResults = {
      memcpyOneThreadGbps: one,
      memcpyAllThreadsGbps: all,
      threadsOfAllThreadMemcpy: 2,
      cells: [cell("serial", "1", 25.66), cell("serial", "8", 20), cell("mtcopy 1", "1", 9)],
      complete: true,
    };
    const table = formatGrid(r, "2 MiB folios");
    expect(table).toContain(`25.66 ×1.22/×1.09 ${ABOVE_LIMIT_MARK} |`);
    expect(table).toContain("20.00 ×0.95/×0.85 |");
    expect(table).toContain(`${ABOVE_LIMIT_MARK} 1 cell beat the line "raw memcpy, 2 threads"`);
    expect(table).toContain(
      "  serial at 1: 25.66 GB/s (2 MiB a call, less than the line's 128 MiB",
    );
    // No cell above the line: no mark and no note.
    const below = formatGrid({ ...r, cells: r.cells.slice(1) }, "2 MiB folios");
    expect(below).not.toContain(ABOVE_LIMIT_MARK);
  });

  it("marks the sizes table's cells above the line, and names a small total when it is given", () => {
    const one = summarize([20, 21]);
    const all = summarize([22, 23.52]);
    const cell = (copier: string, median: number) => ({
      folioBytes: 2 << 20,
      copier,
      gbps: summarize([median]),
      vsSerial: 1,
      vsMemcpyOne: median / 21,
      vsMemcpyAll: median / 23.52,
      intact: true,
    });
    const r: SizesResults = {
      memcpyOneThreadGbps: one,
      memcpyAllThreadsGbps: all,
      threadsOfAllThreadMemcpy: 2,
      cells: [cell("serial", 24), cell("mtcopy 2", 20)],
      complete: true,
    };
    // 64 MiB a call, under the line's 128 MiB.
    expect(sizesWarnings(r, 64 << 20)[1]).toBe(
      "  serial at 2 MiB: 24.00 GB/s (64 MiB a call, less than the line's 128 MiB: its copy can stay in the caches, the line's cannot)",
    );
    // 1 GiB a call, or no total given: the cell alone.
    expect(sizesWarnings(r, 1 << 30)[1]).toBe("  serial at 2 MiB: 24.00 GB/s");
    expect(sizesWarnings(r)[1]).toBe("  serial at 2 MiB: 24.00 GB/s");
    const table = formatSizes(r, 64 << 20);
    expect(table).toContain(`24.00 ×1.14/×1.02 ${ABOVE_LIMIT_MARK} |`);
    expect(table).toContain("20.00 ×0.95/×0.85 |");
    expect(table).toContain(`${ABOVE_LIMIT_MARK} 1 cell beat the line`);
  });

  it("takes the one-thread run as the all-thread limit when one thread copied faster (an oversubscribed machine)", () => {
    const one = summarize([11, 13]);
    const all = summarize([3, 5]);
    expect(allThreadLimit(one, all)).toBe(13);
    expect(limitRatios(summarize([6.5]), one, all)).toBe("×0.50/×0.50");
    const cells = [{ copier: "dcbm 4", where: "2 MiB", gbps: summarize([12]) }];
    expect(memcpyWarnings(cells, one, all, 2)).toEqual([]);
  });
});
