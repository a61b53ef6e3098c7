/**
 * Raw memcpy bandwidth: the machine's limit, measured in the same process as every experiment.
 */
import { CopyEngine, Kernel } from "@migrate-offload/core";
import { Effect } from "effect";
import type { ReferenceLine } from "./chart";
import { type Summary, summarize } from "./report";

/**
 * Copies `bytes` between two `SharedArrayBuffer`s with `TypedArray.set`, the primitive every copy
 * in the model uses, `runs` times after one warm-up copy; returns GB/s (10^9 bytes per second).
 */
export const measureMemcpy = (bytes: number, runs: number): Summary => {
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

/** Raw memcpy on all threads: the copy engine copying one big range in equal parts. */
export const memcpyAllThreads = (bytes: number, runs: number, threads: number) =>
  Effect.gen(function* () {
    const kernel = yield* Kernel.boot({ nodes: [bytes + (16 << 20), bytes + (16 << 20)] });
    const src = kernel.mem.nodes[0]!.startPfn + 4096;
    const dst = kernel.mem.nodes[1]!.startPfn;
    kernel.mem.bytes(src, bytes / 4096).fill(3);
    const engine = new CopyEngine(kernel, { threads });
    const part = bytes / threads;
    const rates: number[] = [];
    for (let r = 0; r <= runs; r++) {
      engine.begin(threads);
      for (let t = 0; t < threads; t++) engine.push(t, src, dst, t * part, part, t);
      const start = performance.now();
      yield* engine.run();
      if (r > 0) rates.push(bytes / ((performance.now() - start) / 1000) / 1e9);
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
  { gbps: oneThread.median, label: "raw memcpy, 1 thread" },
  { gbps: allThreads.median, label: `raw memcpy, ${threads} threads` },
];

/** A measured cell, as {@link memcpyWarnings} reads it. */
export interface CopierCell {
  readonly copier: string;
  /** Where in the sweep: a folio size, a folio count. */
  readonly where: string;
  readonly gbps: Summary;
}

/**
 * A warning naming each cell whose median beats raw memcpy on all threads: a first line, then one
 * line per cell; none when no cell does. That reference is one measurement, on one buffer pair,
 * in this process: a copier above it says the reference undershot, not that a copier copies
 * faster than memory, and its ratios above 1 read as such.
 */
export const memcpyWarnings = (
  cells: readonly CopierCell[],
  allThreads: Summary,
  threads: number,
): string[] => {
  const above = cells.filter((c) => c.gbps.median > allThreads.median);
  if (above.length === 0) return [];
  return [
    `warning: ${above.length} cell${above.length === 1 ? "" : "s"} beat the line "raw memcpy, ${threads} threads" (${allThreads.median.toFixed(2)} GB/s). That line is one measurement of this process, not a bound: a ratio to it above 1 shows its error, not a copier faster than memory.`,
    ...above.map((c) => `  ${c.copier} at ${c.where}: ${c.gbps.median.toFixed(2)} GB/s`),
  ];
};
