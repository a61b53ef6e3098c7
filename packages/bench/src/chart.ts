/**
 * Charts as SVG files, drawn with Vega-Lite and rendered by Vega without a browser or a canvas
 * (see `docs/dependencies.md` for why these two).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

/** One point of a throughput chart: the median of a cell's samples and their range. */
export interface ThroughputPoint {
  /** Where on the x axis: a folio size in KiB, a folio count. */
  readonly x: number;
  readonly copier: string;
  /** The median, GB/s (10^9 bytes per second). */
  readonly gbps: number;
  /** The slowest and the fastest sample, GB/s: drawn as an error bar. */
  readonly min: number;
  readonly max: number;
}

/** A horizontal reference line: a raw memcpy bandwidth and what it is. */
export interface ReferenceLine {
  readonly gbps: number;
  readonly label: string;
}

/** The y axis of every throughput chart: what is drawn and its unit. */
export const THROUGHPUT_AXIS_TITLE = "GB/s (10⁹ B/s): median, bars min–max";

/**
 * Copier names in reading order: families (`serial`, `mtcopy`, `dcbm`, …) in the order they first
 * appear, and within a family by the number in the name, so `dcbm 2` comes before `dcbm 16`.
 */
export const copierOrder = (names: Iterable<string>): string[] => {
  const unique = [...new Set(names)];
  const family = (name: string) => name.replace(/\s*\d+$/, "");
  const families = [...new Set(unique.map(family))];
  const collator = new Intl.Collator("en", { numeric: true });
  return unique.sort(
    (a, b) => families.indexOf(family(a)) - families.indexOf(family(b)) || collator.compare(a, b),
  );
};

/**
 * Throughput against a log-2 x axis (folio size, folio count) with a tick at each measured x, one
 * line per copier (legend in {@link copierOrder}), each point's min–max as an error bar, and the
 * raw memcpy bandwidths as dashed rules labelled with what they measured.
 */
export const throughputChart = (
  title: string,
  xTitle: string,
  points: readonly ThroughputPoint[],
  references: readonly ReferenceLine[],
): TopLevelSpec => {
  const order = copierOrder(points.map((p) => p.copier));
  const ticks = [...new Set(points.map((p) => p.x))].sort((a, b) => a - b);
  const color = {
    field: "copier",
    type: "nominal",
    title: null,
    sort: order,
    // Twenty distinct colours: a full sweep has eleven copiers.
    scale: { scheme: "tableau20", domain: order },
  } as const;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    width: 520,
    height: 300,
    resolve: { scale: { y: "shared" } },
    layer: [
      {
        data: { values: points.map((p) => ({ ...p })) },
        layer: [
          {
            mark: { type: "line", point: true },
            encoding: {
              x: {
                field: "x",
                type: "quantitative",
                scale: { type: "log", base: 2 },
                axis: { values: ticks, labelFlush: true },
                title: xTitle,
              },
              y: { field: "gbps", type: "quantitative", title: THROUGHPUT_AXIS_TITLE },
              color,
            },
          },
          {
            mark: "errorbar",
            encoding: {
              x: { field: "x", type: "quantitative" },
              y: { field: "min", type: "quantitative", title: THROUGHPUT_AXIS_TITLE },
              y2: { field: "max" },
              color,
            },
          },
        ],
      },
      {
        data: { values: references.map((r) => ({ ...r })) },
        layer: [
          {
            mark: { type: "rule", strokeDash: [6, 4] },
            encoding: { y: { field: "gbps", type: "quantitative" } },
          },
          {
            mark: { type: "text", align: "left", dx: 4, dy: -6 },
            encoding: {
              y: { field: "gbps", type: "quantitative" },
              x: { value: 0 },
              text: { field: "label", type: "nominal" },
            },
          },
        ],
      },
    ],
  };
};

/** Renders a Vega-Lite spec to SVG and writes it to `path`, creating its folder. */
export const writeSvg = async (path: string, spec: TopLevelSpec): Promise<void> => {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  const svg = await view.toSVG();
  view.finalize();
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, svg);
};
