/**
 * The folio-size sweep (v4 tables 1a and 1b, v3's multi-threaded and DMA tables): `move_pages`
 * throughput of the serial path, mtcopy at each thread count and dcbm at each channel count, by
 * folio size, against raw memcpy measured in the same process.
 */
import { availableParallelism } from "node:os";
import type { MigratorSubject } from "@migrate-offload/core/testing";
import { Effect } from "effect";
import type { ThroughputPoint } from "./chart";
import { dcbmCopier, mtcopyCopier } from "./copiers";
import {
  ABOVE_LIMIT_MARK,
  allThreadLimit,
  betterReferences,
  measureReferences,
  memcpyWarnings,
} from "./memcpy";
import { type GridCell, type GridResult, measureGrid, type PolicyDecisions } from "./offload";
import type { OnProgress } from "./progress";
import {
  envelope,
  formatBytes,
  formatDecisions,
  formatRatio,
  formatSummary,
  markdownTable,
  repeatNote,
  type Summary,
} from "./report";

/** What the sweep runs. */
export interface SizesConfig {
  readonly total: number;
  readonly sizes: readonly number[];
  /** mtcopy thread counts. */
  readonly threads: readonly number[];
  /** dcbm channel counts (of a 16-channel device). */
  readonly channels: readonly number[];
  readonly runs: number;
  /**
   * Paired measurements per cell (default 1), each `runs` samples of the copier and `runs` of the
   * serial path; the ratio to serial is the median of their ratios.
   */
  readonly repeat?: number;
  /** Adds the adaptive rows: `mtcopy adaptive` (threads `auto`) and `dcbm N adaptive`. */
  readonly adaptive?: boolean;
}

/** One cell: a folio size and a copier. */
export interface SizesCell {
  readonly folioBytes: number;
  /** `serial`, `mtcopy N`, `dcbm N` or a user's migrator by its subject's name. */
  readonly copier: string;
  readonly gbps: Summary;
  /**
   * The copier's median over the serial path's: the median over the repeats of each one's ratio
   * to the serial samples taken between its own (the serial cell's median for the serial cell).
   */
  readonly vsSerial: number;
  /** Each repeat's ratio to serial; absent for the serial cell. */
  readonly ratios?: readonly number[];
  /** The adaptive policy's counters, warm-ups included, where the driver has them. */
  readonly decisions?: PolicyDecisions;
  /** The median against raw memcpy on one thread, its best run. */
  readonly vsMemcpyOne: number;
  /** The median against raw memcpy on all threads, its best run. */
  readonly vsMemcpyAll: number;
  readonly intact: boolean;
}

/** What the sweep measured; `complete` is false when it was interrupted. */
export interface SizesResults {
  /** Raw memcpy on one thread: before or after the cells, whichever met the better best run. */
  memcpyOneThreadGbps: Summary;
  /** Raw memcpy on all threads: before or after the cells, whichever met the better best run. */
  memcpyAllThreadsGbps: Summary;
  readonly threadsOfAllThreadMemcpy: number;
  readonly cells: SizesCell[];
  complete: boolean;
}

const copiers = (
  config: SizesConfig,
  extra: readonly MigratorSubject[],
): Array<[string, MigratorSubject | undefined]> => [
  ["serial", undefined],
  ...config.threads.map((threads): [string, MigratorSubject] => [
    `mtcopy ${threads}`,
    mtcopyCopier(threads),
  ]),
  ...(config.adaptive
    ? [["mtcopy adaptive", mtcopyCopier("auto")] as [string, MigratorSubject]]
    : []),
  ...config.channels.flatMap(
    (nrDmaChan): Array<[string, MigratorSubject]> => [
      [`dcbm ${nrDmaChan}`, dcbmCopier(nrDmaChan)],
      ...(config.adaptive
        ? [
            [`dcbm ${nrDmaChan} adaptive`, dcbmCopier(nrDmaChan, "adaptive")] as [
              string,
              MigratorSubject,
            ],
          ]
        : []),
    ],
  ),
  ...extra.map((subject): [string, MigratorSubject] => [subject.name, subject]),
];

/**
 * Runs the sweep. When `stop()` turns true it ends after the cell in progress, and the results
 * hold every cell measured so far, with `complete` false. `extra` are further migrators (a user's
 * module, `--migrator`), measured after the drivers at each size; the JSON's config names them.
 */
export const runSizes = (
  config: SizesConfig,
  stop: () => boolean,
  onProgress: OnProgress,
  extra: readonly MigratorSubject[] = [],
  experiment = "sizes",
) =>
  Effect.gen(function* () {
    const all = availableParallelism();
    onProgress(`raw memcpy, 1 thread and ${all} threads`);
    const before = yield* measureReferences(config.total, config.runs, all);
    const r: SizesResults = {
      memcpyOneThreadGbps: before.oneThread,
      memcpyAllThreadsGbps: before.allThreads,
      threadsOfAllThreadMemcpy: all,
      cells: [],
      complete: false,
    };
    const list = copiers(config, extra);
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
    const complete = yield* measureGrid(
      grid,
      config.runs,
      measured,
      stop,
      onProgress,
      config.repeat,
    );
    if (complete) {
      onProgress(`raw memcpy again, 1 thread and ${all} threads`);
      const refs = betterReferences(
        before,
        yield* measureReferences(config.total, config.runs, all),
      );
      r.memcpyOneThreadGbps = refs.oneThread;
      r.memcpyAllThreadsGbps = refs.allThreads;
    }
    // Each cell against the serial cell of its size, measured first.
    for (const m of measured) {
      const serial = measured.find((x) => x.folioBytes === m.folioBytes && x.row === "serial")!;
      r.cells.push({
        folioBytes: m.folioBytes,
        copier: m.row,
        gbps: m.gbps,
        // Against the serial samples interleaved in the copier's own kernel, when it has them.
        vsSerial: m.vsSerial ?? m.gbps.median / serial.gbps.median,
        ...(m.ratios ? { ratios: m.ratios } : {}),
        ...(m.decisions ? { decisions: m.decisions } : {}),
        vsMemcpyOne: m.gbps.median / r.memcpyOneThreadGbps.max,
        vsMemcpyAll: m.gbps.median / allThreadLimit(r.memcpyOneThreadGbps, r.memcpyAllThreadsGbps),
        intact: m.intact,
      });
    }
    r.complete = complete;
    // The JSON names the user's migrators beside the sweep's settings.
    return envelope(experiment, { ...config, migrators: extra.map((s) => s.name) }, r);
  });

const cell = (c: SizesCell) =>
  `${formatSummary(c.gbps)} ×${c.vsMemcpyOne.toFixed(2)}/×${c.vsMemcpyAll.toFixed(2)}${c.vsMemcpyAll > 1 ? ` ${ABOVE_LIMIT_MARK}` : ""}${c.intact ? "" : " CORRUPT"}`;

/**
 * Markdown: one row per copier, one column per folio size; GB/s median (min–max) and the median
 * against raw memcpy on one thread and on all threads; then each copier's median over the
 * serial path's, measured in the same run. `bytesPerCall` (the sweep's `total`), when given, lets
 * the note on cells above raw memcpy on all threads say when a call moves less than it copies.
 */
export const formatSizes = (r: SizesResults, bytesPerCall?: number): string => {
  const sizes = [...new Set(r.cells.map((c) => c.folioBytes))];
  const names = [...new Set(r.cells.map((c) => c.copier))];
  const rows = names.map((name) => [
    name,
    ...sizes.map((size) => {
      const c = r.cells.find((x) => x.folioBytes === size && x.copier === name);
      return c ? cell(c) : "";
    }),
  ]);
  const ratios = names
    .filter((name) => name !== "serial")
    .map((name) => [
      name,
      ...sizes.map((size) => {
        const c = r.cells.find((x) => x.folioBytes === size && x.copier === name);
        return c ? formatRatio(c.vsSerial, c.ratios) : "";
      }),
    ]);
  return [
    markdownTable(["copier", ...sizes.map(formatBytes)], rows),
    "",
    `GB/s, median (min–max) of the timed samples; ×a/×b: the median against raw memcpy on 1 thread and on ${r.threadsOfAllThreadMemcpy} threads (each its best run).`,
    `Raw memcpy: ${formatSummary(r.memcpyOneThreadGbps)} GB/s on 1 thread, ${formatSummary(r.memcpyAllThreadsGbps)} GB/s on ${r.threadsOfAllThreadMemcpy}, median (min–max).`,
    // The cells marked above the all-thread line, said beside the table as on stderr.
    ...sizesWarnings(r, bytesPerCall).map((line) =>
      line.replace(/^warning: /, `${ABOVE_LIMIT_MARK} `),
    ),
    "",
    `Each copier's median over the serial path's (÷ serial), the serial samples taken in the copier's own kernel between its samples${repeatNote(r.cells.find((c) => c.ratios)?.ratios)}:`,
    "",
    markdownTable(["copier", ...sizes.map(formatBytes)], ratios),
    formatDecisions(r.cells.map((c) => ({ ...c, where: formatBytes(c.folioBytes) }))),
    r.complete ? "" : "Interrupted: the table holds the cells measured before it stopped.",
  ].join("\n");
};

/** The chart's points: the median of each cell, with its min–max. */
export const sizesChartPoints = (r: SizesResults): ThroughputPoint[] =>
  r.cells.map((c) => ({
    x: c.folioBytes / 1024,
    copier: c.copier,
    gbps: c.gbps.median,
    min: c.gbps.min,
    max: c.gbps.max,
  }));

/**
 * The sizes sweep's cells above raw memcpy on all threads, as warnings; `bytesPerCall` (the
 * sweep's `total`), when given, as each cell's bytes a call.
 */
export const sizesWarnings = (r: SizesResults, bytesPerCall?: number): string[] =>
  memcpyWarnings(
    r.cells.map((c) => ({
      copier: c.copier,
      where: formatBytes(c.folioBytes),
      gbps: c.gbps,
      ...(bytesPerCall === undefined ? {} : { bytes: bytesPerCall }),
    })),
    r.memcpyOneThreadGbps,
    r.memcpyAllThreadsGbps,
    r.threadsOfAllThreadMemcpy,
  );
