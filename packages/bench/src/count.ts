/**
 * Two sweeps over how much is moved, in the seeds' layouts: the folio-count sweep at 2 MiB of
 * v4 table 2 (serial against one DMA channel, here also one mtcopy thread), and the 64 KiB
 * base-page configuration of Zi Yan's Grace tables (`003_*.txt`: 64 KiB pages and 2 MiB mTHP,
 * serial against mtcopy by thread count). Both against raw memcpy of the same process.
 */
import { availableParallelism } from "node:os";
import type { MigratorSubject } from "@migrate-offload/core/testing";
import { Effect } from "effect";
import type { ThroughputPoint } from "./chart";
import { dcbmCopier, mtcopyCopier } from "./copiers";
import {
  ABOVE_LIMIT_MARK,
  betterReferences,
  limitRatios,
  measureReferences,
  memcpyWarnings,
} from "./memcpy";
import { type GridCell, type GridResult, measureGrid } from "./offload";
import type { OnProgress } from "./progress";
import {
  envelope,
  formatDecisions,
  formatRatio,
  formatSummary,
  markdownTable,
  repeatNote,
  type Summary,
} from "./report";

/** What a grid run measured; `complete` is false when it was interrupted. */
export interface GridResults {
  /** Raw memcpy on one thread: before or after the cells, whichever met the better best run. */
  memcpyOneThreadGbps: Summary;
  /** Raw memcpy on all threads: before or after the cells, whichever met the better best run. */
  memcpyAllThreadsGbps: Summary;
  readonly threadsOfAllThreadMemcpy: number;
  readonly cells: GridResult[];
  complete: boolean;
}

/** Measures raw memcpy on `bytes`, then the grid. */
const runGrid = (
  experiment: string,
  config: object,
  memcpyBytes: number,
  cells: readonly GridCell[],
  runs: number,
  stop: () => boolean,
  onProgress: OnProgress,
  repeat = 1,
) =>
  Effect.gen(function* () {
    const all = availableParallelism();
    onProgress(`raw memcpy, 1 thread and ${all} threads`);
    const before = yield* measureReferences(memcpyBytes, runs, all);
    const r: GridResults = {
      memcpyOneThreadGbps: before.oneThread,
      memcpyAllThreadsGbps: before.allThreads,
      threadsOfAllThreadMemcpy: all,
      cells: [],
      complete: false,
    };
    r.complete = yield* measureGrid(cells, runs, r.cells, stop, onProgress, repeat);
    if (r.complete) {
      onProgress(`raw memcpy again, 1 thread and ${all} threads`);
      const refs = betterReferences(before, yield* measureReferences(memcpyBytes, runs, all));
      r.memcpyOneThreadGbps = refs.oneThread;
      r.memcpyAllThreadsGbps = refs.allThreads;
    }
    return envelope(experiment, config, r);
  });

/**
 * The copiers of the count sweep: the serial path, one mtcopy thread, one DMA channel, and the
 * adaptive policies: mtcopy `auto` and one DMA channel `adaptive`.
 */
const countCopiers = (
  extra: readonly MigratorSubject[],
): Array<[string, MigratorSubject | undefined]> => [
  ["serial", undefined],
  ["mtcopy 1", mtcopyCopier(1)],
  ["dcbm 1", dcbmCopier(1)],
  ["mtcopy adaptive", mtcopyCopier("auto")],
  ["dcbm 1 adaptive", dcbmCopier(1, "adaptive")],
  ...extra.map((subject): [string, MigratorSubject] => [subject.name, subject]),
];

/** The folio counts of v4 table 2 and beyond, up to 16 GiB of 2 MiB folios per call. */
export const COUNT_SWEEP = [1, 8, 64, 256, 1024, 2048, 4096, 8192] as const;

/**
 * Bytes of memory a count-sweep cell takes: two nodes, each the folios plus 64 MiB of slack.
 */
export const countCellBytes = (count: number): number => 2 * (count * (2 << 20) + (64 << 20));

/** The raw memcpy reference's size: the largest call's bytes, at most 1 GiB (DRAM-bound beyond). */
const MEMCPY_REFERENCE_MAX = 1 << 30;

/**
 * The folio-count sweep at 2 MiB: `counts` folios per call; `extra` are further migrators (a
 * user's module, `--migrator`), measured after the drivers at each count; `repeat` paired
 * measurements of `runs` samples per cell, the ratio to serial the median of theirs.
 */
export const runCount = (
  counts: readonly number[],
  runs: number,
  stop: () => boolean,
  onProgress: OnProgress,
  extra: readonly MigratorSubject[] = [],
  repeat = 1,
) => {
  const folioBytes = 2 << 20;
  const cells = counts.flatMap((count) =>
    countCopiers(extra).map(([row, subject]) => ({
      row,
      column: String(count),
      folioBytes,
      total: count * folioBytes,
      subject,
    })),
  );
  const largest = Math.min(Math.max(...counts) * folioBytes, MEMCPY_REFERENCE_MAX);
  const migrators = extra.map((subject) => subject.name);
  return runGrid(
    "count",
    { counts, runs, repeat, migrators },
    largest,
    cells,
    runs,
    stop,
    onProgress,
    repeat,
  );
};

/** The 64 KiB base-page configuration: 64 KiB pages and 2 MiB mTHP, serial and mtcopy. */
export const runBase64k = (
  total: number,
  threads: readonly number[],
  runs: number,
  stop: () => boolean,
  onProgress: OnProgress,
) => {
  const copiers: Array<[string, MigratorSubject | undefined]> = [
    ["vanilla", undefined],
    ...threads.map((t): [string, MigratorSubject] => [`mt_${t}`, mtcopyCopier(t)]),
  ];
  const cells = [65536, 2 << 20].flatMap((folioBytes) =>
    copiers.map(([row, subject]) => ({
      row,
      column: folioBytes === 65536 ? "64 KiB pages" : "2 MiB mTHP",
      folioBytes,
      total,
      pageSize: 65536,
      subject,
    })),
  );
  return runGrid("base64k", { total, threads, runs }, total, cells, runs, stop, onProgress);
};

/** The count sweep's chart points: GB/s (median, min–max) against folios per call, per copier. */
export const countChartPoints = (r: GridResults): ThroughputPoint[] =>
  r.cells.map((c) => ({
    x: Number(c.column),
    copier: c.row,
    gbps: c.gbps.median,
    min: c.gbps.min,
    max: c.gbps.max,
  }));

/** A grid's cells above raw memcpy on all threads, as warnings. */
export const gridWarnings = (r: GridResults): string[] =>
  memcpyWarnings(
    r.cells.map((c) => ({ copier: c.row, where: c.column, gbps: c.gbps, bytes: c.total })),
    r.memcpyOneThreadGbps,
    r.memcpyAllThreadsGbps,
    r.threadsOfAllThreadMemcpy,
  );

/**
 * Markdown in the seeds' layout: one row per `column` value (a count, a folio size), one column
 * per copier; GB/s median (min–max) (× raw memcpy on all threads, median over median).
 */
export const formatGrid = (r: GridResults, firstHeader: string): string => {
  const columns = [...new Set(r.cells.map((c) => c.column))];
  const copiers = [...new Set(r.cells.map((c) => c.row))];
  const find = (column: string, copier: string) =>
    r.cells.find((x) => x.column === column && x.row === copier);
  const rows = columns.map((column) => [
    column,
    ...copiers.map((copier) => {
      const c = find(column, copier);
      if (!c) return "";
      const ratios = limitRatios(c.gbps, r.memcpyOneThreadGbps, r.memcpyAllThreadsGbps);
      return `${formatSummary(c.gbps)} ${ratios}${c.intact ? "" : " CORRUPT"}`;
    }),
  ]);
  // Each copier over the first copier (serial, vanilla) of its row, measured in the same run.
  const [base, ...others] = copiers;
  const vsBase = columns.map((column) => [
    column,
    ...others.map((copier) => {
      const c = find(column, copier);
      const b = base === undefined ? undefined : find(column, base);
      if (!c) return "";
      // Against the serial samples interleaved in the copier's own kernel, when it has them: the
      // median of the repeats' ratios.
      if (c.vsSerial !== undefined) return formatRatio(c.vsSerial, c.ratios);
      return b ? (c.gbps.median / b.gbps.median).toFixed(2) : "";
    }),
  ]);
  return [
    markdownTable([firstHeader, ...copiers], rows),
    "",
    `GB/s, median (min–max) of the timed samples; ×a/×b: the median against raw memcpy on 1 thread and on ${r.threadsOfAllThreadMemcpy} threads (each its best run).`,
    `Raw memcpy: ${formatSummary(r.memcpyOneThreadGbps)} GB/s on 1 thread, ${formatSummary(r.memcpyAllThreadsGbps)} GB/s on ${r.threadsOfAllThreadMemcpy}, median (min–max).`,
    // The cells marked above the all-thread line, said beside the table as on stderr.
    ...gridWarnings(r).map((line) => line.replace(/^warning: /, `${ABOVE_LIMIT_MARK} `)),
    "",
    `Each copier's median over ${base ?? "the first copier"}'s, the serial samples taken in the copier's own kernel between its samples${repeatNote(r.cells.find((c) => c.ratios)?.ratios)}:`,
    "",
    markdownTable([firstHeader, ...others], vsBase),
    formatDecisions(
      r.cells.map((c) => ({ ...c, copier: c.row, where: `${c.column} (${firstHeader})` })),
    ),
    r.complete ? "" : "Interrupted: the table holds the cells measured before it stopped.",
  ].join("\n");
};
