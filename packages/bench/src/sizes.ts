/**
 * The folio-size sweep (v4 tables 1a and 1b, v3's multi-threaded and DMA tables): `move_pages`
 * throughput of the serial path, mtcopy at each thread count and dcbm at each channel count, by
 * folio size, against raw memcpy measured in the same process.
 */
import { availableParallelism } from "node:os";
import type { MigratorSubject } from "@migrate-offload/core/testing";
import { dcbmConformanceSubject } from "@migrate-offload/dcbm/testing";
import { mtcopyConformanceSubject } from "@migrate-offload/mtcopy/testing";
import { Effect } from "effect";
import type { ThroughputPoint } from "./chart";
import { measureMemcpy, memcpyAllThreads } from "./memcpy";
import { type GridCell, type GridResult, measureGrid } from "./offload";
import type { OnProgress } from "./progress";
import { envelope, formatBytes, markdownTable, type Summary } from "./report";

/** What the sweep runs. */
export interface SizesConfig {
  readonly total: number;
  readonly sizes: readonly number[];
  /** mtcopy thread counts. */
  readonly threads: readonly number[];
  /** dcbm channel counts (of a 16-channel device). */
  readonly channels: readonly number[];
  readonly runs: number;
}

/** One cell: a folio size and a copier. */
export interface SizesCell {
  readonly folioBytes: number;
  /** `serial`, `mtcopy N` or `dcbm N`. */
  readonly copier: string;
  readonly gbps: Summary;
  readonly vsSerial: number;
  readonly vsMemcpyAll: number;
  readonly intact: boolean;
}

/** What the sweep measured; `complete` is false when it was interrupted. */
export interface SizesResults {
  readonly memcpyOneThreadGbps: Summary;
  readonly memcpyAllThreadsGbps: Summary;
  readonly threadsOfAllThreadMemcpy: number;
  readonly cells: SizesCell[];
  complete: boolean;
}

const copiers = (config: SizesConfig): Array<[string, MigratorSubject | undefined]> => [
  ["serial", undefined],
  ...config.threads.map((threads): [string, MigratorSubject] => [
    `mtcopy ${threads}`,
    mtcopyConformanceSubject({ threads }),
  ]),
  ...config.channels.map((nrDmaChan): [string, MigratorSubject] => [
    `dcbm ${nrDmaChan}`,
    dcbmConformanceSubject({ channels: 16 }, { nrDmaChan }),
  ]),
];

/**
 * Runs the sweep. When `stop()` turns true it ends after the cell in progress, and the results
 * hold every cell measured so far, with `complete` false.
 */
export const runSizes = (config: SizesConfig, stop: () => boolean, onProgress: OnProgress) =>
  Effect.gen(function* () {
    const all = availableParallelism();
    onProgress(`raw memcpy, 1 thread and ${all} threads`);
    const r: SizesResults = {
      memcpyOneThreadGbps: measureMemcpy(config.total, config.runs),
      memcpyAllThreadsGbps: yield* memcpyAllThreads(config.total, config.runs, all),
      threadsOfAllThreadMemcpy: all,
      cells: [],
      complete: false,
    };
    const list = copiers(config);
    const grid: GridCell[] = config.sizes.flatMap((size) =>
      list.map(([copier, subject]) => ({
        row: copier,
        column: formatBytes(size),
        folioBytes: size,
        total: config.total,
        subject,
      })),
    );
    const measured: GridResult[] = [];
    const complete = yield* measureGrid(grid, config.runs, measured, stop, onProgress);
    // Each cell against the serial cell of its size, measured first.
    for (const m of measured) {
      const serial = measured.find((x) => x.folioBytes === m.folioBytes && x.row === "serial")!;
      r.cells.push({
        folioBytes: m.folioBytes,
        copier: m.row,
        gbps: m.gbps,
        vsSerial: m.gbps.median / serial.gbps.median,
        vsMemcpyAll: m.gbps.median / r.memcpyAllThreadsGbps.median,
        intact: m.intact,
      });
    }
    if (!complete) return envelope("sizes", config, r);
    r.complete = true;
    return envelope("sizes", config, r);
  });

const cell = (c: SizesCell) =>
  `${c.gbps.mean.toFixed(2)} ± ${c.gbps.sd.toFixed(2)} (${c.vsMemcpyAll.toFixed(2)})`;

/** Markdown: one row per copier, one column per folio size; GB/s mean ± sd (× all-thread memcpy). */
export const formatSizes = (r: SizesResults): string => {
  const sizes = [...new Set(r.cells.map((c) => c.folioBytes))];
  const names = [...new Set(r.cells.map((c) => c.copier))];
  const rows = names.map((name) => [
    name,
    ...sizes.map((size) => {
      const c = r.cells.find((x) => x.folioBytes === size && x.copier === name);
      return c ? cell(c) : "";
    }),
  ]);
  const memcpy = (s: Summary) => `${s.mean.toFixed(2)} ± ${s.sd.toFixed(2)}`;
  return [
    markdownTable(["copier", ...sizes.map(formatBytes)], rows),
    "",
    `GB/s, mean ± sd of the timed samples (× raw memcpy on ${r.threadsOfAllThreadMemcpy} threads, median over median).`,
    `Raw memcpy: ${memcpy(r.memcpyOneThreadGbps)} GB/s on 1 thread, ${memcpy(r.memcpyAllThreadsGbps)} GB/s on ${r.threadsOfAllThreadMemcpy}.`,
    r.complete ? "" : "Interrupted: the table holds the cells measured before it stopped.",
  ].join("\n");
};

/** The chart's points: the median of each cell, with its sd. */
export const sizesChartPoints = (r: SizesResults): ThroughputPoint[] =>
  r.cells.map((c) => ({
    x: c.folioBytes / 1024,
    copier: c.copier,
    gbps: c.gbps.median,
    sd: c.gbps.sd,
  }));
