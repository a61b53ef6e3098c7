/**
 * tiering: memory tiering under a moving hot set. A machine with a DRAM node and a slow node (a
 * CXL-like node with the dax kmem driver's abstract distance, so a lower tier), demotion on,
 * kswapd running, and NUMA balancing in memory tiering mode (`numa_balancing` 2) with its
 * promotion rate limit. One process fills more memory than DRAM holds, so reclaim demotes its
 * oldest pages; then it touches a hot set that moves to a new part of its memory every phase,
 * and NUMA balancing promotes each hot set while reclaim demotes the one before. Everything runs
 * on the live clock: the scanner, kswapd and the workload share this thread's event loop.
 *
 * Each copier (the kernel's copy as a migrator, mtcopy, dcbm) runs the same workload, and so does
 * a run with tiering off (`numa_balancing` 0), whose progress is the reference. The run reports
 * promotions against the rate limit, demotions, hint faults, how long each hot page waited on
 * the slow tier (from the phase start to the promotion that mapped it on DRAM, both read on the
 * kernel's clock), the copy time charged to the task (`Task.migration.offloadCopyMs`: promotions
 * run in the faulting task), the thread's CPU time, and the workload's accesses per second.
 */
import {
  Kernel,
  type KernelConfig,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MEMTIER_DEFAULT_DAX_ADISTANCE,
  MPOL_BIND,
  MPOL_DEFAULT,
  ptePfn,
  type Task,
  WMARK_HIGH,
} from "@migrate-offload/core";
import { type MigratorSubject, pattern, pteAt, sameBytes } from "@migrate-offload/core/testing";
import { Clock, Effect } from "effect";
import { quantile } from "simple-statistics";
import type { TopLevelSpec } from "vega-lite";
import { mainThreadCpuMs } from "./compaction";
import { serialAndDrivers } from "./copiers";
import {
  envelope,
  formatBytes,
  formatSummary,
  markdownTable,
  type Summary,
  summarize,
} from "./report";

const PAGE = 4096;
const MiB = 1 << 20;

/** What a `tiering` run does. */
export interface TieringConfig {
  /** The DRAM node's memory, bytes. */
  readonly dramBytes: number;
  /** The slow node's memory, bytes. */
  readonly slowBytes: number;
  /** The process's memory, bytes: more than DRAM, so that reclaim demotes. */
  readonly footprintBytes: number;
  /** The hot set of one phase, bytes. */
  readonly hotBytes: number;
  /** Phases; phase i's hot set is the i-th `hotBytes` of the process's memory. */
  readonly phases: number;
  /** How long each phase lasts, ms. */
  readonly phaseMs: number;
  /** `numa_balancing_promote_rate_limit_MBps`, MB/s (MiB, as the kernel reads it). */
  readonly rateLimitMBps: number;
  /** `scan_period_min_ms`: how often the scanner marks the slow tier's pages. */
  readonly scanPeriodMs: number;
  /** How often the hot set's placement is sampled for the chart, ms. */
  readonly sampleMs: number;
  /** Runs per copier (each beside a run with tiering off). */
  readonly runs: number;
  /** mtcopy's threads. */
  readonly threads: number;
  /** dcbm's channels. */
  readonly channels: number;
}

/** One point of the chart: the share of the current hot set on the top tier. */
export interface TieringPoint {
  readonly copier: string;
  /** Seconds since the workload began. */
  readonly seconds: number;
  /** Hot pages of the current phase on the DRAM node, percent. */
  readonly hotOnTopPercent: number;
}

/** One copier's measurements over its runs. */
export interface TieringRow {
  readonly copier: string;
  /** False for the run with `numa_balancing` 0. */
  readonly tiering: boolean;
  /** Promoted MB/s over the workload (`pgpromote_success` pages, MiB). */
  readonly promotedMBps: Summary;
  /**
   * The most promoted in any second of the workload, MB/s: `pgpromote_success` read at each
   * sample, the largest rise between two samples at most 1 s apart.
   */
  readonly peakMBps: Summary;
  /** `pgpromote_success`, pages per run. */
  readonly promoted: Summary;
  /** `pgpromote_candidate`, pages per run. */
  readonly candidates: Summary;
  /** `pgdemote_kswapd + pgdemote_direct` during the workload, pages per run. */
  readonly demoted: Summary;
  /** `numa_hint_faults`, per run. */
  readonly hintFaults: Summary;
  /**
   * How long hot pages waited on the slow tier, ms, pooled over the runs: each page of a phase's
   * hot set that was on the slow tier when the phase began, from then to its promotion.
   */
  readonly waitMs: { readonly n: number; readonly median: number; readonly p90: number } | null;
  /** Hot pages that began a phase on the slow tier, and how many of them were promoted in it. */
  readonly waiting: number;
  readonly promotedInPhase: number;
  /** Copy time charged to the task (promotions), ms per run. */
  readonly taskCopyMs: Summary;
  /** The thread's CPU time during the workload, ms per run (Linux; null elsewhere). */
  readonly threadCpuMs: Summary | null;
  /** The workload's accesses per second. */
  readonly accessesPerSecond: Summary;
  /** Accesses per second over the tiering-off run's of the same round. */
  readonly progressVsOff: Summary | null;
  /** Every byte of the process's memory intact after each run. */
  readonly intact: boolean;
}

/** Results of a `tiering` run. */
export interface TieringResults {
  readonly config: TieringConfig;
  readonly rows: readonly TieringRow[];
  /** The first run of each copier, sampled every `sampleMs`. */
  readonly series: readonly TieringPoint[];
}

/** What one run measured. */
interface Sample {
  promoted: number;
  peakPages: number;
  candidates: number;
  demoted: number;
  hintFaults: number;
  waits: number[];
  waiting: number;
  seconds: number;
  accesses: number;
  taskCopyMs: number;
  cpuMs: number | null;
  points: TieringPoint[];
  intact: boolean;
}

/** The name of the run with tiering off. */
export const TIERING_OFF = "tiering off";

/** Lets the event loop run: timers (the scanner, kswapd's naps) and the copy threads' replies. */
const yieldToLoop = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)));

/** Accesses between two turns of the event loop. */
const ACCESSES_PER_TURN = 64;

/** Bytes each access reads: one cache line. */
const ACCESS_BYTES = 64;

/** The node a page of `task` is on now, read from its page table (no fault, no accessed bit). */
const nodeOfPage = (k: Kernel, task: Task, addr: number): number =>
  k.mem.pfnToNid(ptePfn(pteAt(task, addr)));

/**
 * One run on a fresh kernel: fill, then the phases, with `subject` loaded (null: the kernel's
 * own copy) and `numa_balancing` 2 or 0.
 */
const runOnce = (
  c: TieringConfig,
  copier: string,
  subject: MigratorSubject | null,
  tiering: boolean,
  keepPoints: boolean,
): Effect.Effect<Sample, unknown> =>
  Effect.scoped(
    Effect.gen(function* () {
      const config: KernelConfig = {
        nodes: [c.dramBytes, { memory: c.slowBytes, adistance: MEMTIER_DEFAULT_DAX_ADISTANCE }],
        thp: { enabled: "never" },
        // kswapd starts below, once demotion is enabled; no kcompactd beside the tiering.
        daemons: "on-demand",
      };
      const k = yield* Kernel.make(config);
      // The kernel's clock, which the scanner and kswapd run on: the live clock here.
      const clock = yield* Clock.clockWith((cl) => Effect.succeed(cl));
      const now = () => clock.currentTimeMillisUnsafe();
      yield* k.fs.write("/sys/kernel/mm/numa/demotion_enabled", "1");
      yield* k.kswapd.run();
      const p = yield* k.createProcess({ node: 0 });
      // Bound to DRAM for the fill, so that reclaim makes room by demoting (with the default
      // policy the allocator would place the rest on the slow node and leave the oldest pages on
      // DRAM); the default policy again once the fill is done.
      yield* p.setMempolicy(MPOL_BIND, [0]);
      const addr = yield* p.mmap(c.footprintBytes, { flags: MAP_PRIVATE | MAP_ANONYMOUS });
      const data = pattern(c.footprintBytes, 17);
      // First touch, a MiB at a time: node 0 fills, and reclaim demotes the oldest pages.
      for (let off = 0; off < c.footprintBytes; off += MiB) {
        yield* p.write(addr + off, data.subarray(off, Math.min(off + MiB, c.footprintBytes)));
        yield* yieldToLoop;
      }
      // kswapd finishes on its own; the copier comes after the fill, so that every run starts
      // with the same pages on each node (an offloaded demotion is slower, and the pages it did
      // not demote in time would fall back to the slow node in another order).
      const dram = k.pageAlloc.zones[0]!;
      for (let i = 0; i < 1000 && dram.freePages < dram.watermark[WMARK_HIGH]!; i++) {
        yield* yieldToLoop;
      }
      yield* p.setMempolicy(MPOL_DEFAULT, []);
      if (subject) yield* subject.load(k);
      const debugfs = "/sys/kernel/debug/sched/numa_balancing";
      yield* k.fs.write(
        "/proc/sys/kernel/numa_balancing_promote_rate_limit_MBps",
        `${c.rateLimitMBps}`,
      );
      yield* k.fs.write(`${debugfs}/scan_delay_ms`, "0");
      yield* k.fs.write(`${debugfs}/scan_period_min_ms`, `${c.scanPeriodMs}`);
      yield* k.fs.write("/proc/sys/kernel/numa_balancing", tiering ? "2" : "0");
      yield* k.numaBalancing.run();

      const hotPages = c.hotBytes / PAGE;
      const hotAddr = (phase: number, i: number) => addr + (phase * hotPages + i) * PAGE;
      // Hot pages of the current phase still on the slow tier, by page index: since when.
      const waiting = new Map<number, number>();
      const waits: number[] = [];
      let waitingTotal = 0;
      const unsubscribe = k.trace.subscribe((e) => {
        // A migration entry of a waiting page replaced by a DRAM page: its promotion (nothing
        // else moves a slow-tier page to node 0; a failed one restores the slow-tier page).
        if (e.event !== "remove_migration_pte" || k.mem.pfnToNid(e.pfn) !== 0) return;
        const index = (e.address - addr) / PAGE;
        const since = waiting.get(index);
        if (since === undefined) return;
        waiting.delete(index);
        waits.push(now() - since);
      });
      yield* Effect.addFinalizer(() => Effect.sync(() => void unsubscribe()));

      const before = k.vmstat.snapshot();
      const copyBefore = p.migration.offloadCopyMs;
      const cpu0 = mainThreadCpuMs();
      const start = now();
      const points: TieringPoint[] = [];
      // pgpromote_success at each sample: [ms since start, pages].
      const promotions: Array<readonly [number, number]> = [];
      const sample = (phase: number, t: number): number => {
        promotions.push([t, k.vmstat.get("pgpromote_success") - (before.pgpromote_success ?? 0)]);
        let onTop = 0;
        for (let i = 0; i < hotPages; i++) if (nodeOfPage(k, p, hotAddr(phase, i)) === 0) onTop++;
        if (keepPoints)
          points.push({
            copier,
            seconds: t / 1000,
            hotOnTopPercent: (onTop / hotPages) * 100,
          });
        return onTop;
      };
      let phase = -1;
      let nextSample = 0;
      let accesses = 0;
      let cursor = 0;
      const total = c.phases * c.phaseMs;
      for (;;) {
        const t = now() - start;
        if (t >= total) break;
        const current = Math.floor(t / c.phaseMs);
        if (current !== phase) {
          // A new phase: the hot pages on the slow tier start waiting now.
          phase = current;
          waiting.clear();
          for (let i = 0; i < hotPages; i++) {
            const index = phase * hotPages + i;
            if (nodeOfPage(k, p, addr + index * PAGE) !== 0) waiting.set(index, now());
          }
          waitingTotal += waiting.size;
          cursor = 0;
        }
        if (t >= nextSample) {
          sample(phase, t);
          nextSample += c.sampleMs;
        }
        for (let n = 0; n < ACCESSES_PER_TURN; n++) {
          const line = (accesses % (PAGE / ACCESS_BYTES)) * ACCESS_BYTES;
          yield* p.read(hotAddr(phase, cursor) + line, ACCESS_BYTES);
          cursor = (cursor + 1) % hotPages;
          accesses++;
        }
        yield* yieldToLoop;
      }
      const seconds = (now() - start) / 1000;
      const cpu1 = mainThreadCpuMs();
      sample(phase, now() - start);
      const after = k.vmstat.snapshot();
      const delta = (name: string) => (after[name] ?? 0) - (before[name] ?? 0);
      // The check below reads every page, promoting the slow tier's: not part of the workload.
      unsubscribe();
      const intact = sameBytes(yield* p.read(addr, c.footprintBytes), data);
      const result: Sample = {
        promoted: delta("pgpromote_success"),
        peakPages: peakPerSecond(promotions),
        candidates: delta("pgpromote_candidate"),
        demoted: delta("pgdemote_kswapd") + delta("pgdemote_direct"),
        hintFaults: delta("numa_hint_faults"),
        waits,
        waiting: waitingTotal,
        seconds,
        accesses,
        taskCopyMs: p.migration.offloadCopyMs - copyBefore,
        cpuMs: cpu0 === null || cpu1 === null ? null : cpu1 - cpu0,
        points,
        intact,
      };
      if (subject) yield* subject.unload(k);
      return result;
    }),
  );

/** The largest rise of a counter between two readings `[ms, value]` at most a second apart. */
const peakPerSecond = (readings: ReadonlyArray<readonly [number, number]>): number => {
  let peak = 0;
  for (let i = 0, j = 0; j < readings.length; j++) {
    while (readings[j]![0] - readings[i]![0] > 1000) i++;
    peak = Math.max(peak, readings[j]![1] - readings[i]![1]);
  }
  return peak;
};

/** Summarises the samples of one copier into its row. */
const toRow = (
  copier: string,
  tiering: boolean,
  samples: readonly Sample[],
  off: readonly Sample[] | null,
): TieringRow => {
  const waits = samples.flatMap((s) => s.waits);
  const cpu = samples.flatMap((s) => (s.cpuMs === null ? [] : [s.cpuMs]));
  const rate = (s: Sample) => s.accesses / s.seconds;
  return {
    copier,
    tiering,
    promotedMBps: summarize(samples.map((s) => (s.promoted * PAGE) / MiB / s.seconds)),
    peakMBps: summarize(samples.map((s) => (s.peakPages * PAGE) / MiB)),
    promoted: summarize(samples.map((s) => s.promoted)),
    candidates: summarize(samples.map((s) => s.candidates)),
    demoted: summarize(samples.map((s) => s.demoted)),
    hintFaults: summarize(samples.map((s) => s.hintFaults)),
    waitMs: waits.length
      ? { n: waits.length, median: quantile(waits, 0.5), p90: quantile(waits, 0.9) }
      : null,
    waiting: samples.reduce((n, s) => n + s.waiting, 0),
    promotedInPhase: waits.length,
    taskCopyMs: summarize(samples.map((s) => s.taskCopyMs)),
    threadCpuMs: cpu.length === samples.length ? summarize(cpu) : null,
    accessesPerSecond: summarize(samples.map(rate)),
    progressVsOff: off ? summarize(samples.map((s, i) => rate(s) / rate(off[i]!))) : null,
    intact: samples.every((s) => s.intact),
  };
};

/**
 * Runs the experiment: `runs` rounds, each a run with tiering off and one per copier with tiering
 * on, every run on a fresh kernel; a copier's progress is compared with the off run of its round.
 */
export const runTiering = (c: TieringConfig, onProgress: (msg: string) => void) =>
  Effect.gen(function* () {
    const copiers = serialAndDrivers(c.threads, c.channels);
    const off: Sample[] = [];
    const on = copiers.map(() => [] as Sample[]);
    // Each round starts one later in the list, so that no copier always runs first (with the
    // JIT cold) or right after the same neighbour (and its garbage).
    const order = [-1, ...copiers.keys()];
    for (let r = 0; r < c.runs; r++) {
      for (let j = 0; j < order.length; j++) {
        const i = order[(j + r) % order.length]!;
        const name = i < 0 ? TIERING_OFF : copiers[i]![0];
        onProgress(`tiering: round ${r + 1} of ${c.runs}, ${name}`);
        if (i < 0) off.push(yield* runOnce(c, TIERING_OFF, null, false, r === 0));
        else on[i]!.push(yield* runOnce(c, name, copiers[i]![1], true, r === 0));
      }
    }
    const rows = [
      toRow(TIERING_OFF, false, off, null),
      ...copiers.map(([name], i) => toRow(name, true, on[i]!, off)),
    ];
    const series = [...off, ...on.flat()].flatMap((s) => s.points);
    const results: TieringResults = { config: c, rows, series };
    return envelope("tiering", c, results);
  });

const percent = (s: Summary) =>
  `${(s.median * 100).toFixed(0)} % (${(s.min * 100).toFixed(0)}–${(s.max * 100).toFixed(0)})`;

/** Markdown for a `tiering` run. */
export const formatTiering = (r: TieringResults): string => {
  const c = r.config;
  return [
    `memory tiering: ${formatBytes(c.dramBytes)} DRAM + ${formatBytes(c.slowBytes)} slow node, a ${formatBytes(c.footprintBytes)} process, a ${formatBytes(c.hotBytes)} hot set moving ${c.phases} times every ${c.phaseMs} ms; rate limit ${c.rateLimitMBps} MB/s; medians (min–max) of ${c.runs} run${c.runs > 1 ? "s" : ""}`,
    "",
    markdownTable(
      [
        "copier",
        "promoted MB/s: mean, peak 1 s (limit)",
        "promoted pages",
        "candidates",
        "demoted pages",
        "hint faults",
        "hot page wait on slow tier ms: median, p90 (promoted/waiting)",
        "copy ms charged to the task",
        "thread CPU ms",
        "accesses/s",
        "progress vs tiering off",
      ],
      r.rows.map((row) => [
        row.copier,
        `${formatSummary(row.promotedMBps, 2)}, ${formatSummary(row.peakMBps, 2)} (${c.rateLimitMBps})`,
        formatSummary(row.promoted, 0),
        formatSummary(row.candidates, 0),
        formatSummary(row.demoted, 0),
        formatSummary(row.hintFaults, 0),
        row.waitMs
          ? `${row.waitMs.median.toFixed(0)}, ${row.waitMs.p90.toFixed(0)} (${row.promotedInPhase}/${row.waiting})`
          : `— (0/${row.waiting})`,
        formatSummary(row.taskCopyMs, 1),
        row.threadCpuMs ? formatSummary(row.threadCpuMs, 0) : "n/a",
        formatSummary(row.accessesPerSecond, 0),
        row.progressVsOff ? percent(row.progressVsOff) : "—",
      ]),
    ),
    "",
    r.rows.every((row) => row.intact)
      ? "every byte intact after every run"
      : `CORRUPT: ${r.rows
          .filter((row) => !row.intact)
          .map((row) => row.copier)
          .join(", ")}`,
  ].join("\n");
};

/** The share of each phase's hot set on the top tier over time, a line per copier. */
export const tieringChart = (r: TieringResults): TopLevelSpec => {
  const order = [...new Set(r.series.map((p) => p.copier))];
  const phases = Array.from({ length: r.config.phases - 1 }, (_, i) => ({
    seconds: ((i + 1) * r.config.phaseMs) / 1000,
  }));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: `Hot set on the top tier, ${formatBytes(r.config.hotBytes)} moving every ${r.config.phaseMs / 1000} s (dashed: a new phase)`,
    width: 560,
    height: 280,
    layer: [
      {
        data: { values: r.series.map((p) => ({ ...p })) },
        mark: { type: "line", interpolate: "step-after" },
        encoding: {
          x: { field: "seconds", type: "quantitative", title: "time since the workload began, s" },
          y: {
            field: "hotOnTopPercent",
            type: "quantitative",
            title: "current hot set on DRAM, % of its pages",
            scale: { domain: [0, 100] },
          },
          color: {
            field: "copier",
            type: "nominal",
            title: "copier",
            sort: order,
            scale: { domain: order },
          },
        },
      },
      {
        data: { values: phases },
        mark: { type: "rule", strokeDash: [4, 4], color: "gray" },
        encoding: { x: { field: "seconds", type: "quantitative" } },
      },
    ],
  };
};
