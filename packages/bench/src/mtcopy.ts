/**
 * mtcopy throughput: move_pages with the CPU_MT_COPY migrator at several thread counts and
 * `auto`, against the serial path and raw memcpy (one thread, and all threads), in one run.
 */

import { cpus } from "node:os";
import { CopyEngine, Kernel } from "@migrate-offload/core";
import { MTCOPY_SYSFS_DIR, mtcopyDriver, type ThreadPolicy } from "@migrate-offload/mtcopy";
import { Effect } from "effect";
import { allThreadLimit, measureMemcpy, memcpyAllThreads } from "./memcpy";
import { measureOffload } from "./offload";
import {
  envelope,
  formatBytes,
  formatSummary,
  markdownTable,
  type Summary,
  summarize,
} from "./report";

/** One cell: a folio size and a copier. */
export interface MtcopyCell {
  readonly folioBytes: number;
  /** "serial", or the thread policy. */
  readonly copier: string;
  readonly gbps: Summary;
  /** Median over the serial median at the same folio size. */
  readonly vsSerial: number;
  /** Median over the all-thread memcpy median. */
  readonly vsMemcpyAll: number;
  /** Batches the migrator declined (auto), out of all it was offered. */
  readonly declined: number;
  readonly offered: number;
  readonly intact: boolean;
}

/** Results of the mtcopy run. */
export interface MtcopyResults {
  readonly memcpyOneThreadGbps: Summary;
  readonly memcpyAllThreadsGbps: Summary;
  readonly threadsOfAllThreadMemcpy: number;
  /**
   * Microseconds for one round trip of a minimal job (one 64-byte copy per thread) through the
   * copy engine, by thread count: the dispatch cost a batch pays on top of its copies.
   */
  readonly dispatchUs: ReadonlyArray<{ readonly threads: number; readonly us: Summary }>;
  readonly cells: readonly MtcopyCell[];
}

const measure = (
  folioBytes: number,
  total: number,
  runs: number,
  policy: ThreadPolicy | "serial",
) =>
  Effect.gen(function* () {
    const on = policy !== "serial";
    const m = yield* measureOffload({
      folioBytes,
      total,
      runs,
      load: on
        ? (kernel) =>
            Effect.gen(function* () {
              yield* kernel.loadModule(mtcopyDriver(kernel, { threads: policy }).module);
              yield* kernel.fs.write(`${MTCOPY_SYSFS_DIR}/offloading`, "1");
            })
        : undefined,
      inspect: (kernel) => kernel.migrateOffload.counters("CPU_MT_COPY"),
      unload: on
        ? (kernel) =>
            Effect.gen(function* () {
              yield* kernel.fs.write(`${MTCOPY_SYSFS_DIR}/offloading`, "0");
              yield* kernel.unloadModule("mtcopy");
            })
        : undefined,
    });
    const counters = m.inspected;
    const offered = counters
      ? counters.batchesOffloaded + counters.batchesDeclined + counters.copyFailures
      : 0;
    return { gbps: m.gbps, intact: m.intact, declined: counters?.batchesDeclined ?? 0, offered };
  });

/** Round trips of a minimal job through the copy engine, per thread count. */
const dispatchCost = (threadCounts: readonly number[], rounds: number) =>
  Effect.gen(function* () {
    // The copy engine alone: no kswapd or kcompactd in the background of the figure.
    const kernel = yield* Kernel.boot({ nodes: ["16M", "16M"], daemons: "on-demand" });
    const src = kernel.mem.nodes[0]!.startPfn + 16;
    const dst = kernel.mem.nodes[1]!.startPfn;
    const out: Array<{ threads: number; us: Summary }> = [];
    for (const threads of threadCounts) {
      const engine = new CopyEngine(kernel, { threads });
      const samples: number[] = [];
      for (let r = 0; r < rounds + 50; r++) {
        engine.begin(threads);
        for (let t = 0; t < threads; t++) engine.push(t, src, dst, t * 64, 64, t);
        const start = performance.now();
        yield* engine.run();
        if (r >= 50) samples.push((performance.now() - start) * 1000);
      }
      yield* engine.terminate();
      out.push({ threads, us: summarize(samples) });
    }
    return out;
  });

/** Runs the experiment. */
export const runMtcopy = (
  total: number,
  sizes: readonly number[],
  policies: readonly ThreadPolicy[],
  runs: number,
  onProgress: (msg: string) => void,
) =>
  Effect.gen(function* () {
    const all = cpus().length;
    onProgress(`raw memcpy, 1 thread and ${all} threads`);
    const memcpyOneThreadGbps = measureMemcpy(total, runs);
    const memcpyAllThreadsGbps = yield* memcpyAllThreads(total, runs, all);
    onProgress("dispatch round trips");
    const dispatchUs = yield* dispatchCost(
      policies.filter((p): p is number => typeof p === "number"),
      2000,
    );
    const cells: MtcopyCell[] = [];
    for (const size of sizes) {
      onProgress(`${formatBytes(size)}: serial`);
      const serial = yield* measure(size, total, runs, "serial");
      for (const policy of ["serial" as const, ...policies]) {
        const m =
          policy === "serial"
            ? serial
            : yield* Effect.andThen(
                Effect.sync(() => onProgress(`${formatBytes(size)}: ${policy} threads`)),
                measure(size, total, runs, policy),
              );
        cells.push({
          folioBytes: size,
          copier: String(policy),
          gbps: m.gbps,
          vsSerial: m.gbps.median / serial.gbps.median,
          vsMemcpyAll: m.gbps.median / allThreadLimit(memcpyOneThreadGbps, memcpyAllThreadsGbps),
          declined: m.declined,
          offered: m.offered,
          intact: m.intact,
        });
      }
    }
    const results: MtcopyResults = {
      memcpyOneThreadGbps,
      memcpyAllThreadsGbps,
      threadsOfAllThreadMemcpy: all,
      dispatchUs,
      cells,
    };
    return envelope("mtcopy", { total, sizes, policies, runs }, results);
  });

/** Markdown: one row per copier, one column per folio size. */
export const formatMtcopy = (r: MtcopyResults): string => {
  const sizes = [...new Set(r.cells.map((c) => c.folioBytes))];
  const copiers = [...new Set(r.cells.map((c) => c.copier))];
  const cell = (copier: string, size: number) =>
    r.cells.find((c) => c.copier === copier && c.folioBytes === size)!;
  const header = ["copier", ...sizes.map((s) => formatBytes(s).replace(" ", ""))];
  return [
    "move_pages GB/s, median (min–max) [× serial]",
    "",
    markdownTable(
      header,
      copiers.map((c) => [
        c === "serial" ? "serial" : `mtcopy ${c}`,
        ...sizes.map((s) => {
          const x = cell(c, s);
          const declined =
            x.offered > 0 && x.declined > 0 ? `, ${x.declined}/${x.offered} declined` : "";
          return `${formatSummary(x.gbps)} [${x.vsSerial.toFixed(2)}${declined}]${x.intact ? "" : " CORRUPT"}`;
        }),
      ]),
    ),
    "",
    `raw memcpy, same run: 1 thread ${formatSummary(r.memcpyOneThreadGbps)} GB/s, ${r.threadsOfAllThreadMemcpy} threads ${formatSummary(r.memcpyAllThreadsGbps)} GB/s`,
    "",
    markdownTable(
      ["threads", "dispatch round trip µs, median (min–max)"],
      r.dispatchUs.map((d) => [String(d.threads), formatSummary(d.us, 1)]),
    ),
  ].join("\n");
};
