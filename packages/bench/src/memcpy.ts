/**
 * Raw memcpy bandwidth: the machine's limit, measured in the same process as every experiment.
 *
 * A limit no copier may beat: buffers of at least {@link MEMCPY_MIN_BYTES} (beyond any cache),
 * every thread copying at once on real worker threads, and the best of several runs
 * ({@link MEMCPY_MIN_RUNS} at least) taken as the limit, the median kept for the record.
 */
import { CopyEngine, Kernel } from "@migrate-offload/core";
import { Effect } from "effect";
import type { ReferenceLine } from "./chart";
import { type Summary, summarize } from "./report";

/** The smallest buffer the references copy: 128 MiB, beyond the last-level cache. */
export const MEMCPY_MIN_BYTES = 128 << 20;

/** The fewest timed runs a reference takes its best of. */
export const MEMCPY_MIN_RUNS = 5;

/** The reference's buffer for an experiment moving `bytes`: at least {@link MEMCPY_MIN_BYTES}, whole MiB. */
export const memcpyBytes = (bytes: number): number =>
  Math.ceil(Math.max(bytes, MEMCPY_MIN_BYTES) / (1 << 20)) * (1 << 20);

/**
 * Copies `bytes` between two `SharedArrayBuffer`s with `TypedArray.set`, the primitive every copy
 * in the model uses, `runs` times after one warm-up copy; returns GB/s (10^9 bytes per second). The
 * buffers are {@link memcpyBytes} of `bytes`, the runs at least {@link MEMCPY_MIN_RUNS}; the limit
 * is the summary's `max`.
 */
export const measureMemcpy = (requested: number, requestedRuns: number): Summary => {
  const bytes = memcpyBytes(requested);
  const runs = Math.max(requestedRuns, MEMCPY_MIN_RUNS);
  const src = new Uint8Array(new SharedArrayBuffer(bytes));
  const dst = new Uint8Array(new SharedArrayBuffer(bytes));
  for (let i = 0; i < bytes; i += 4096) src[i] = i & 0xff;
  dst.set(src);
  const rates: number[] = [];
  for (let r = 0; r < runs; r++) {
    const start = performance.now();
    dst.set(src);
    rates.push(bytes / ((performance.now() - start) / 1000) / 1e9);
  }
  return summarize(rates);
};

/**
 * Raw memcpy on all threads: `threads` worker threads of the copy engine each copying its equal
 * part of one range at the same time, over {@link memcpyBytes} of `bytes`, at least
 * {@link MEMCPY_MIN_RUNS} runs after a warm-up; the limit is the summary's `max`.
 */
export const memcpyAllThreads = (requested: number, requestedRuns: number, threads: number) =>
  Effect.gen(function* () {
    const bytes = memcpyBytes(requested);
    const runs = Math.max(requestedRuns, MEMCPY_MIN_RUNS);
    // The copies alone: no kswapd or kcompactd in the background of the figure.
    const kernel = yield* Kernel.boot({
      nodes: [bytes + (16 << 20), bytes + (16 << 20)],
      daemons: "on-demand",
    });
    const src = kernel.mem.nodes[0]!.startPfn + 4096;
    const dst = kernel.mem.nodes[1]!.startPfn;
    kernel.mem.bytes(src, bytes / 4096).fill(3);
    const engine = new CopyEngine(kernel, { threads });
    const part = Math.floor(bytes / threads / 4096) * 4096;
    const rates: number[] = [];
    for (let r = 0; r <= runs; r++) {
      engine.begin(threads);
      for (let t = 0; t < threads; t++) engine.push(t, src, dst, t * part, part, t);
      const start = performance.now();
      yield* engine.run();
      if (r > 0) rates.push((part * threads) / ((performance.now() - start) / 1000) / 1e9);
    }
    yield* engine.terminate();
    return summarize(rates);
  });

/**
 * The two raw memcpy references as chart rules, each labelled with what it measured: one
 * `TypedArray.set` on the main thread, and the copy engine on `threads` worker threads.
 */
export const memcpyReferenceLines = (
  oneThread: Summary,
  allThreads: Summary,
  threads: number,
): ReferenceLine[] => [
  { gbps: oneThread.max, label: "raw memcpy, 1 thread (best)" },
  { gbps: allThreadLimit(oneThread, allThreads), label: `raw memcpy, ${threads} threads (best)` },
];

/** A measured cell, as {@link memcpyWarnings} reads it. */
export interface CopierCell {
  readonly copier: string;
  /** Where in the sweep: a folio size, a folio count. */
  readonly where: string;
  readonly gbps: Summary;
  /**
   * Bytes one call moves, when known: a call that moves less than the references copy
   * ({@link MEMCPY_MIN_BYTES}) can copy within the caches, which the references copy beyond.
   */
  readonly bytes?: number;
}

/**
 * The mark a table puts after a cell whose median beats raw memcpy on all threads (its best
 * run); {@link memcpyWarnings} says below the table what it means.
 */
export const ABOVE_LIMIT_MARK = "⚠";

/** Whether a cell's median beats raw memcpy on all threads ({@link allThreadLimit}). */
export const beatsLimit = (gbps: Summary, oneThread: Summary, allThreads: Summary): boolean =>
  gbps.median > allThreadLimit(oneThread, allThreads);

/**
 * A warning naming each cell whose median beats raw memcpy on all threads (its best run): a first
 * line, then one line per cell; none when no cell does. The reference is measured in this
 * process on a loaded machine, over at least {@link MEMCPY_MIN_BYTES}: a copier above it says the
 * reference undershot, or (a cell whose call moves less, `bytes`) that the call copied within the
 * caches, not that a copier copies faster than memory, and its ratios above 1 read as such. Tables
 * mark the same cells with {@link ABOVE_LIMIT_MARK}.
 */
export const memcpyWarnings = (
  cells: readonly CopierCell[],
  oneThread: Summary,
  allThreads: Summary,
  threads: number,
): string[] => {
  const limit = allThreadLimit(oneThread, allThreads);
  const above = cells.filter((c) => beatsLimit(c.gbps, oneThread, allThreads));
  if (above.length === 0) return [];
  const cached = (c: CopierCell) =>
    c.bytes !== undefined && c.bytes < MEMCPY_MIN_BYTES
      ? ` (${formatMiB(c.bytes)} a call, less than the line's ${formatMiB(MEMCPY_MIN_BYTES)}: its copy can stay in the caches, the line's cannot)`
      : "";
  return [
    `warning: ${above.length} cell${above.length === 1 ? "" : "s"} beat the line "raw memcpy, ${threads} threads" (best ${limit.toFixed(2)} GB/s), marked ${ABOVE_LIMIT_MARK} in the tables. That line is one measurement of this process, not a bound: a ratio to it above 1 shows its error, or a copy made within the caches, not a copier faster than memory.`,
    ...above.map(
      (c) => `  ${c.copier} at ${c.where}: ${c.gbps.median.toFixed(2)} GB/s${cached(c)}`,
    ),
  ];
};

/** Bytes as MiB, whole or to two places (`2 MiB`, `0.06 MiB`). */
const formatMiB = (bytes: number): string => {
  const mib = bytes / (1 << 20);
  return `${Number.isInteger(mib) ? mib : mib.toFixed(2)} MiB`;
};

/**
 * A cell's median against both limits: `×a/×b`, a over raw memcpy on one thread, b over raw
 * memcpy on all threads (each limit its best run), followed by {@link ABOVE_LIMIT_MARK} when the
 * median beats the all-thread limit.
 */
export const limitRatios = (gbps: Summary, oneThread: Summary, allThreads: Summary): string =>
  `×${(gbps.median / oneThread.max).toFixed(2)}/×${(gbps.median / allThreadLimit(oneThread, allThreads)).toFixed(2)}${beatsLimit(gbps, oneThread, allThreads) ? ` ${ABOVE_LIMIT_MARK}` : ""}`;

/**
 * The all-thread limit: the best all-thread run, or the best one-thread run when that is faster
 * (on an oversubscribed machine one thread can beat every thread at once, and with up to N
 * threads the machine can do at least what one does). GB/s.
 */
export const allThreadLimit = (oneThread: Summary, allThreads: Summary): number =>
  Math.max(oneThread.max, allThreads.max);

/** The two references, one thread and all threads. */
export interface MemcpyReferences {
  readonly oneThread: Summary;
  readonly allThreads: Summary;
}

/** Measures both references over {@link memcpyBytes} of `bytes`, `threads` threads for the second. */
export const measureReferences = (bytes: number, runs: number, threads: number) =>
  Effect.gen(function* () {
    const oneThread = measureMemcpy(bytes, runs);
    const allThreads = yield* memcpyAllThreads(bytes, runs, threads);
    return { oneThread, allThreads } satisfies MemcpyReferences;
  });

/**
 * Both references measured before and after an experiment, each kept from the measurement whose
 * best run is higher: on a loaded machine the load comes and goes, and a limit taken at both ends
 * is likelier to have met a quiet moment.
 */
export const betterReferences = (a: MemcpyReferences, b: MemcpyReferences): MemcpyReferences => ({
  oneThread: a.oneThread.max >= b.oneThread.max ? a.oneThread : b.oneThread,
  allThreads: a.allThreads.max >= b.allThreads.max ? a.allThreads : b.allThreads,
});
