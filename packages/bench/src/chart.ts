/**
 * Charts as SVG files, drawn with Vega-Lite and rendered by Vega without a browser or a canvas
 * (see `docs/dependencies.md` for why these two).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

/** One point of a throughput chart. */
export interface ThroughputPoint {
  /** Where on the x axis: a folio size in KiB, a folio count. */
  readonly x: number;
  readonly copier: string;
  readonly gbps: number;
  /** The run's spread: median ± sd is drawn as an error bar. */
  readonly sd: number;
}

/**
 * Throughput against a log-2 x axis (folio size, folio count), one line per copier, with the
 * machine's raw memcpy bandwidth as a dashed rule: the limit every copier is measured against.
 */
export const throughputChart = (
  title: string,
  xTitle: string,
  points: readonly ThroughputPoint[],
  memcpyGbps: number,
  memcpyLabel: string,
): TopLevelSpec => ({
  $schema: "https://vega.github.io/schema/vega-lite/v6.json",
  title,
  width: 520,
  height: 300,
  resolve: { scale: { y: "shared" } },
  layer: [
    {
      data: {
        values: points.map((p) => ({ ...p, low: Math.max(0, p.gbps - p.sd), high: p.gbps + p.sd })),
      },
      layer: [
        {
          mark: { type: "line", point: true },
          encoding: {
            x: {
              field: "x",
              type: "quantitative",
              scale: { type: "log", base: 2 },
              title: xTitle,
            },
            y: { field: "gbps", type: "quantitative", title: "GB/s (median)" },
            // Twenty distinct colours: a full sweep has eleven copiers.
            color: {
              field: "copier",
              type: "nominal",
              title: null,
              scale: { scheme: "tableau20" },
            },
          },
        },
        {
          mark: "errorbar",
          encoding: {
            x: { field: "x", type: "quantitative" },
            y: { field: "low", type: "quantitative", title: null },
            y2: { field: "high" },
            color: { field: "copier", type: "nominal" },
          },
        },
      ],
    },
    {
      data: { values: [{ gbps: memcpyGbps, label: memcpyLabel }] },
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
});

/** Renders a Vega-Lite spec to SVG and writes it to `path`, creating its folder. */
export const writeSvg = async (path: string, spec: TopLevelSpec): Promise<void> => {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  const svg = await view.toSVG();
  view.finalize();
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, svg);
};
