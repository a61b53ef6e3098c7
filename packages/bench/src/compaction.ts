/**
 * compaction: the v4 follow-up experiment. Fragment a node (`fragmentNode`), then compact it
 * through its `compact` file, with the kernel's copy on the initiating thread, `mtcopy` and
 * `dcbm`, each alone and beside a CPU hog, and report wall time, the initiating thread's CPU
 * time, the time in `offload_copy`, pages migrated, free blocks of order ≥ 9 before and after,
 * and the hog's progress against running alone.
 *
 * The hog is `hogs` worker threads (default: one per CPU), each a busy loop counting iterations
 * in shared memory: every CPU is busy, so the thread that compacts shares its CPU with a hog, as
 * the seed's hog shared the CPU of the compacting task. Its progress during a compaction is
 * compared with its progress alone just before.
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { type BatchCopier, Kernel, type KernelConfig } from "@migrate-offload/core";
import { fragmentNode, type MigratorSubject } from "@migrate-offload/core/testing";
import { Effect } from "effect";
import type { TopLevelSpec } from "vega-lite";
import { serialAndDrivers } from "./copiers";
import {
  envelope,
  formatBytes,
  formatSummary,
  markdownTable,
  type Summary,
  summarize,
} from "./report";

/** The seed's figures (v4 cover letter, compaction beside a CPU hog), for the table. */
export const SEED_COMPACTION = {
  idle: { wallChangePercent: 13, cpuSharePercent: { vanilla: 99.4, dma: 76.7 } },
  busy: { wallChangePercent: -2.3, hogMorePercent: 6 },
} as const;

/** One copier's measurements, alone or beside the hog. */
export interface CompactionRow {
  readonly copier: string;
  /** "alone" or "hog". */
  readonly load: "alone" | "hog";
  /** Wall time of the compaction, ms. */
  readonly wallMs: Summary;
  /** CPU time of the initiating thread during it, ms (Linux; empty elsewhere). */
  readonly threadCpuMs: Summary | null;
  /** The initiating thread's CPU time over the wall time. */
  readonly threadCpuShare: Summary | null;
  /** Wall time inside the batch-copy step (`offload_copy`), ms. */
  readonly copyMs: Summary;
  /** Base pages migrated per compaction (`pgmigrate_success`). */
  readonly pagesMigrated: number;
  /** Free blocks of order ≥ 9 on the node, before and after (`/proc/buddyinfo`). */
  readonly highOrderBefore: number;
  readonly highOrderAfter: number;
  /** Hog iterations per second during the compaction, over its rate alone just before. */
  readonly hogShare: Summary | null;
  /** Every byte of the fragmenting workload intact after each compaction. */
  readonly intact: boolean;
}

/** Results of a `compaction` run. */
export interface CompactionResults {
  readonly nodeBytes: number;
  readonly hogs: number;
  readonly rows: readonly CompactionRow[];
}

/** The hog's worker: a busy loop adding to a shared counter until told to stop. */
const HOG_SOURCE = `
const { workerData } = require("node:worker_threads");
const counts = new Int32Array(workerData.counts);
const stop = new Int32Array(workerData.stop);
let x = 1;
while (Atomics.load(stop, 0) === 0) {
  for (let i = 0; i < 20000; i++) x = (x * 1103515245 + 12345) % 2147483648;
  Atomics.add(counts, workerData.index, 1);
}
`;

/** `hogs` busy worker threads; `count()` reads their iterations so far. */
const startHogs = async (hogs: number) => {
  const counts = new SharedArrayBuffer(4 * hogs);
  const stop = new SharedArrayBuffer(4);
  const workers = Array.from(
    { length: hogs },
    (_, index) => new Worker(HOG_SOURCE, { eval: true, workerData: { counts, stop, index } }),
  );
  await Promise.all(workers.map((w) => new Promise((r) => w.once("online", r))));
  const view = new Int32Array(counts);
  const exited = Promise.all(workers.map((w) => new Promise((r) => w.once("exit", r))));
  return {
    count: () => view.reduce((s, n) => s + n, 0),
    /** Stops every hog and waits for its thread to end; calling it again waits as well. */
    stop: async () => {
      Atomics.store(new Int32Array(stop), 0, 1);
      await exited;
    },
  };
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The main thread's CPU time so far, ms, from `/proc/self/task/<pid>/stat`; null off Linux. */
export const mainThreadCpuMs = (): number | null => {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime, fields 14 and 15 of stat(5), in clock ticks of 10 ms (USER_HZ 100).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
};

/** Free blocks of order 9 and above on node `nid`. */
const highOrderBlocks = (k: Kernel, nid: number): number =>
  k.pageAlloc.zones[nid]!.nrFree.slice(9).reduce((s, n) => s + n, 0);

/** What one compaction measured. */
interface Sample {
  wallMs: number;
  cpuMs: number | null;
  copyMs: number;
  pages: number;
  before: number;
  after: number;
  hogShare: number | null;
  intact: boolean;
}

/**
 * One compaction on a fresh kernel of two nodes of `nodeBytes`: node 1 fragmented, the copier
 * loaded, then `node1/compact` written, beside the hogs when given.
 */
const compactOnce = (
  nodeBytes: number,
  subject: MigratorSubject,
  hogs: number,
): Effect.Effect<Sample, unknown> =>
  Effect.scoped(
    Effect.gen(function* () {
      // The written compaction alone: no kcompactd or kswapd beside it.
      const config: KernelConfig = {
        nodes: [nodeBytes, nodeBytes],
        thp: { enabled: "never" },
        daemons: "on-demand",
      };
      const k = yield* Kernel.make(config);
      const frag = yield* fragmentNode(k, { nid: 1, unmovableEvery: 512, pageCacheEvery: 8 });
      yield* subject.load(k);
      let copyMs = 0;
      const remove = k.migrateOffload.interpose(
        (copier: BatchCopier): BatchCopier => ({
          ...copier,
          copy: (dst, src, count, caller) => {
            const start = performance.now();
            return Effect.tap(copier.copy(dst, src, count, caller), () =>
              Effect.sync(() => {
                copyMs += performance.now() - start;
              }),
            );
          },
        }),
      );
      if (typeof remove !== "function") return yield* Effect.fail(remove);
      const before = highOrderBlocks(k, 1);
      const migratedBefore = k.vmstat.get("pgmigrate_success");
      // Stopped however the compaction ends, so that no hog outlives a failed run.
      const hog =
        hogs > 0
          ? yield* Effect.acquireRelease(
              Effect.promise(() => startHogs(hogs)),
              (h) => Effect.promise(() => h.stop()),
            )
          : null;
      let soloRate = 0;
      if (hog) {
        // The hog alone first: its rate with nothing else to share the CPUs with.
        const n0 = hog.count();
        const t0 = performance.now();
        yield* Effect.promise(() => sleep(300));
        soloRate = (hog.count() - n0) / (performance.now() - t0);
      }
      const n1 = hog?.count() ?? 0;
      const cpu0 = mainThreadCpuMs();
      const start = performance.now();
      yield* k.fs.write("/sys/devices/system/node/node1/compact", "1");
      const wallMs = performance.now() - start;
      const cpu1 = mainThreadCpuMs();
      const hogShare = hog ? (hog.count() - n1) / wallMs / soloRate : null;
      if (hog) yield* Effect.promise(() => hog.stop());
      remove();
      const sample: Sample = {
        wallMs,
        cpuMs: cpu0 === null || cpu1 === null ? null : cpu1 - cpu0,
        copyMs,
        pages: k.vmstat.get("pgmigrate_success") - migratedBefore,
        before,
        after: highOrderBlocks(k, 1),
        hogShare,
        intact: yield* frag.intact(),
      };
      yield* subject.unload(k);
      yield* frag.release();
      return sample;
    }),
  );

/**
 * Runs the experiment: for each copier, `runs` compactions alone and `runs` beside `hogs` hog
 * threads, each on a fresh kernel of two nodes of `nodeBytes`, after one warm-up compaction.
 */
export const runCompaction = (
  nodeBytes: number,
  threads: number,
  channels: number,
  runs: number,
  hogs: number,
  onProgress: (msg: string) => void,
) =>
  Effect.gen(function* () {
    const rows: CompactionRow[] = [];
    for (const [copier, subject] of serialAndDrivers(threads, channels)) {
      for (const load of ["alone", "hog"] as const) {
        onProgress(`compaction: ${copier}, ${load === "alone" ? "alone" : `beside ${hogs} hogs`}`);
        const samples: Sample[] = [];
        for (let r = 0; r <= runs; r++) {
          const s = yield* compactOnce(nodeBytes, subject, load === "hog" ? hogs : 0);
          if (r > 0) samples.push(s);
        }
        const cpu = samples.flatMap((s) => (s.cpuMs === null ? [] : [s.cpuMs]));
        rows.push({
          copier,
          load,
          wallMs: summarize(samples.map((s) => s.wallMs)),
          threadCpuMs: cpu.length ? summarize(cpu) : null,
          threadCpuShare: cpu.length
            ? summarize(samples.map((s) => (s.cpuMs ?? 0) / s.wallMs))
            : null,
          copyMs: summarize(samples.map((s) => s.copyMs)),
          pagesMigrated: samples[0]!.pages,
          highOrderBefore: samples[0]!.before,
          highOrderAfter: samples[0]!.after,
          hogShare: load === "hog" ? summarize(samples.map((s) => s.hogShare!)) : null,
          intact: samples.every((s) => s.intact),
        });
      }
    }
    const results: CompactionResults = { nodeBytes, hogs, rows };
    return envelope("compaction", { nodeBytes, threads, channels, runs, hogs }, results);
  });

const percent = (s: Summary) =>
  `${(s.median * 100).toFixed(1)} % (${(s.min * 100).toFixed(1)}–${(s.max * 100).toFixed(1)} %)`;

/** The wall-time change of a row against the serial row of the same load, in percent. */
const wallChange = (r: CompactionResults, row: CompactionRow): number => {
  const serial = r.rows.find((x) => x.copier === "serial" && x.load === row.load)!;
  return (row.wallMs.median / serial.wallMs.median - 1) * 100;
};

/** Markdown for a `compaction` run, with the seed's figures beside ours. */
export const formatCompaction = (r: CompactionResults): string =>
  [
    `compaction of a fragmented ${formatBytes(r.nodeBytes)} node (node1/compact), alone and beside ${r.hogs} hog threads; medians (min–max)`,
    "",
    markdownTable(
      [
        "copier",
        "load",
        "wall ms",
        "wall vs serial",
        "thread CPU ms",
        "thread CPU / wall",
        "in offload_copy ms",
        "pages migrated",
        "order ≥ 9 free: before → after",
        "hog progress vs alone",
      ],
      r.rows.map((row) => {
        const change = wallChange(r, row);
        return [
          row.copier,
          row.load === "alone" ? "alone" : `${r.hogs} hogs`,
          formatSummary(row.wallMs, 0),
          row.copier === "serial" ? "—" : `${change >= 0 ? "+" : ""}${change.toFixed(1)} %`,
          row.threadCpuMs ? formatSummary(row.threadCpuMs, 0) : "n/a",
          row.threadCpuShare ? percent(row.threadCpuShare) : "n/a",
          formatSummary(row.copyMs, 0),
          `${row.pagesMigrated}${row.intact ? "" : " CORRUPT"}`,
          `${row.highOrderBefore} → ${row.highOrderAfter}`,
          row.hogShare ? percent(row.hogShare) : "—",
        ];
      }),
    ),
    "",
    `the seed (v4 cover letter, DMA against vanilla): idle, wall time +${SEED_COMPACTION.idle.wallChangePercent} % and kernel CPU time ${SEED_COMPACTION.idle.cpuSharePercent.vanilla} % → ${SEED_COMPACTION.idle.cpuSharePercent.dma} %; busy, wall time ${SEED_COMPACTION.busy.wallChangePercent} % and the hog did ${SEED_COMPACTION.busy.hogMorePercent} % more work`,
  ].join("\n");

/** A bar chart of wall time per copier, alone and beside the hog, min–max as error bars. */
export const compactionChart = (r: CompactionResults): TopLevelSpec => {
  const values = r.rows.map((row) => ({
    copier: row.copier,
    load: row.load === "alone" ? "alone" : `beside ${r.hogs} hogs`,
    median: row.wallMs.median,
    min: row.wallMs.min,
    max: row.wallMs.max,
  }));
  const x = { field: "copier", type: "nominal", title: null, sort: null } as const;
  const y = "compaction wall time, ms: median, bars min–max";
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: `Compacting a fragmented ${formatBytes(r.nodeBytes)} node`,
    data: { values },
    facet: { column: { field: "load", type: "nominal", title: null } },
    spec: {
      width: 240,
      height: 260,
      layer: [
        { mark: "bar", encoding: { x, y: { field: "median", type: "quantitative", title: y } } },
        {
          mark: "errorbar",
          encoding: {
            x,
            y: { field: "min", type: "quantitative", title: y },
            y2: { field: "max" },
          },
        },
      ],
    },
  };
};

/** The default hog count: one per CPU. */
export const defaultHogs = (): number => availableParallelism();
