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
import { allThreadLimit, limitRatios, memcpyReferenceLines, memcpyWarnings } from "../src/memcpy";
import { formatSummary, summarize } from "../src/report";

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

  it("takes the one-thread run as the all-thread limit when one thread copied faster (an oversubscribed machine)", () => {
    const one = summarize([11, 13]);
    const all = summarize([3, 5]);
    expect(allThreadLimit(one, all)).toBe(13);
    expect(limitRatios(summarize([6.5]), one, all)).toBe("×0.50/×0.50");
    const cells = [{ copier: "dcbm 4", where: "2 MiB", gbps: summarize([12]) }];
    expect(memcpyWarnings(cells, one, all, 2)).toEqual([]);
  });
});
