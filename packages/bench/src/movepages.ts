/**
 * `move_pages()` throughput, after table 1a of the v4 cover letter: move a fixed amount of memory
 * between two nodes in folios of one size, and report GB/s against raw memcpy in the same run.
 */
import { Effect } from "effect";
import { measureMemcpy } from "./memcpy";
import { populatedKernel } from "./offload";
import { patternIntact } from "./pattern";
import { pingPongMovePages } from "./pingpong";
import {
  envelope,
  formatBytes,
  formatSummary,
  markdownTable,
  type Summary,
  summarize,
} from "./report";

/** Folio sizes of the seed's table, in bytes. */
export const SEED_FOLIO_SIZES = [4096, 16384, 65536, 262144, 1 << 20, 2 << 20];

/** What one folio size measured. */
export interface MovePagesRow {
  readonly folioBytes: number;
  readonly folios: number;
  /** GB/s of each measured `move_pages` call. */
  readonly gbps: Summary;
  /** Median GB/s over the median raw memcpy GB/s of the same run. */
  readonly ratioToMemcpy: number;
  /** Every byte read back unchanged after the last move. */
  readonly intact: boolean;
}

/** Results of a `movepages` run. */
export interface MovePagesResults {
  readonly memcpyGbps: Summary;
  readonly rows: readonly MovePagesRow[];
}

/** Measures one folio size: `runs` timed moves, alternating 0 → 1 and 1 → 0. */
const measureSize = (
  folioBytes: number,
  totalBytes: number,
  runs: number,
  memcpyMedian: number,
  batchPages: number | undefined,
) =>
  Effect.gen(function* () {
    const { proc, addr } = yield* populatedKernel(folioBytes, totalBytes, batchPages);
    const folios = totalBytes / folioBytes;
    const rates = yield* pingPongMovePages(proc, addr, totalBytes, folioBytes, runs);
    const intact = yield* patternIntact(proc, addr, totalBytes);
    const gbps = summarize(rates);
    return {
      folioBytes,
      folios,
      gbps,
      ratioToMemcpy: gbps.median / memcpyMedian,
      intact,
    } satisfies MovePagesRow;
  });

/** Runs the experiment over `sizes`. */
export const runMovePages = (
  totalBytes: number,
  sizes: readonly number[],
  runs: number,
  onProgress: (msg: string) => void,
  batchPages?: number,
) =>
  Effect.gen(function* () {
    onProgress(`memcpy ${formatBytes(totalBytes)} × ${runs}`);
    const memcpyGbps = measureMemcpy(totalBytes, runs);
    const rows: MovePagesRow[] = [];
    for (const size of sizes) {
      onProgress(`move_pages ${formatBytes(totalBytes)} in ${formatBytes(size)} folios × ${runs}`);
      rows.push(yield* measureSize(size, totalBytes, runs, memcpyGbps.median, batchPages));
    }
    const results: MovePagesResults = { memcpyGbps, rows };
    return envelope(
      "movepages",
      { totalBytes, sizes, runs, batchPages: batchPages ?? 512 },
      results,
    );
  });

/** The seed's table layout: one column per folio size. */
export const formatMovePages = (r: MovePagesResults): string => {
  const header = ["", ...r.rows.map((row) => formatBytes(row.folioBytes).replace(" ", ""))];
  return markdownTable(header, [
    ["move_pages GB/s, median (min–max)", ...r.rows.map((row) => formatSummary(row.gbps))],
    ["× raw memcpy", ...r.rows.map((row) => row.ratioToMemcpy.toFixed(2))],
    ["bytes intact", ...r.rows.map((row) => (row.intact ? "yes" : "NO"))],
  ]).concat(
    `\n\nraw memcpy on 1 thread, same run: ${formatSummary(r.memcpyGbps)} GB/s, median (min–max)`,
  );
};
