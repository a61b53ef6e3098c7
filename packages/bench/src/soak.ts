/**
 * The soak: boot, use and shut down many kernels with each copier, and show that memory and
 * threads come back. Each round boots a two-node kernel, loads the copier, faults memory in,
 * moves it to node 1 with one engine fault injected, moves it back, checks every byte, and shuts
 * the kernel down. Memory is read after a full collection, so what it reports is what is still
 * reachable: a leak, not garbage waiting for the collector.
 */
import { Kernel, MPOL_MF_MOVE } from "@migrate-offload/core";
import {
  collectGarbage,
  drainIdleCopyWorkers,
  liveCopyWorkers,
  type MigratorSubject,
} from "@migrate-offload/core/testing";
import { dcbmConformanceSubject } from "@migrate-offload/dcbm/testing";
import { mtcopyConformanceSubject } from "@migrate-offload/mtcopy/testing";
import { Effect } from "effect";
import { patternIntact, writePattern } from "./pattern";
import type { OnProgress } from "./progress";
import { envelope, formatBytes, markdownTable } from "./report";

/** The copiers soaked, by name: none (the serial path) or a driver's conformance subject. */
export const SOAK_COPIERS: Readonly<Record<string, () => MigratorSubject | null>> = {
  serial: () => null,
  mtcopy: () => mtcopyConformanceSubject({ threads: 2, deadlineMs: 200 }),
  "dcbm in-order": () =>
    dcbmConformanceSubject({ channels: 4, engines: 2 }, { nrDmaChan: 4, timeoutMs: 100 }),
  "dcbm out-of-order": () =>
    dcbmConformanceSubject(
      { channels: 4, engines: 2, outOfOrder: true },
      { nrDmaChan: 4, timeoutMs: 100 },
    ),
};

/** What a soak is asked to do. */
export interface SoakConfig {
  /** Kernels booted and shut down per copier. */
  readonly rounds: number;
  /** Memory of each of the two nodes, bytes. */
  readonly nodeBytes: number;
  /** Bytes faulted in and moved each round. */
  readonly moveBytes: number;
  /** The copiers, by {@link SOAK_COPIERS} name. */
  readonly copiers: readonly string[];
}

/** Process memory at one moment, bytes. */
export interface MemorySample {
  /** `process.memoryUsage().arrayBuffers`: ArrayBuffer and SharedArrayBuffer bytes alive. */
  readonly arrayBuffers: number;
  /** Resident set size. */
  readonly rss: number;
}

/** What one copier's rounds did. */
export interface SoakRow {
  readonly copier: string;
  readonly rounds: number;
  /** Engine faults injected, by kind, over the rounds. */
  readonly faults: Readonly<Record<string, number>>;
  /** Rounds whose bytes all came back. */
  readonly intactRounds: number;
  /** Copy threads running after its rounds, every engine stopped (the idle pool included). */
  readonly threadsAfter: number;
}

/** What the soak measured. */
export interface SoakResults {
  readonly rows: SoakRow[];
  readonly start: MemorySample;
  readonly peak: MemorySample;
  readonly end: MemorySample;
  /** `end.arrayBuffers - start.arrayBuffers`, floored at 0. */
  readonly leakedBytes: number;
  /** Copy threads still running at the end, after the idle pool was drained. */
  readonly leakedThreads: number;
  /** One kernel's node memory: the tolerance the soak is judged by. */
  readonly kernelBytes: number;
  /** True when nothing leaked (within one kernel's memory) and every byte came back. */
  readonly ok: boolean;
}

/** Readings in a row that must not fall before {@link sample} takes one. */
const STABLE_READINGS = 4;

/**
 * Memory once what is unreachable has been given back. V8 frees ArrayBuffer memory on a
 * background thread after a collection, and a stopped copy thread's heap goes when the thread
 * has exited, so this collects every 50 ms until the reading has not fallen for
 * {@link STABLE_READINGS} readings in a row (at most 5 s): on a loaded machine that thread can
 * miss one 50 ms wait, and two equal readings in a row do not yet mean it is done.
 */
const sample: Effect.Effect<MemorySample> = Effect.promise(async () => {
  let lowest = Number.POSITIVE_INFINITY;
  let stable = 0;
  for (let i = 0; i < 100 && stable < STABLE_READINGS; i++) {
    collectGarbage();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const now = process.memoryUsage().arrayBuffers;
    if (now < lowest) {
      lowest = now;
      stable = 0;
    } else stable++;
  }
  const usage = process.memoryUsage();
  return { arrayBuffers: usage.arrayBuffers, rss: usage.rss };
});

const max = (a: MemorySample, b: MemorySample): MemorySample => ({
  arrayBuffers: Math.max(a.arrayBuffers, b.arrayBuffers),
  rss: Math.max(a.rss, b.rss),
});

/** One round: boot, load, move there with a fault injected, move back, check, shut down. */
const round = (
  config: SoakConfig,
  subject: MigratorSubject | null,
  fault: string | null,
): Effect.Effect<{ intact: boolean; peak: MemorySample }, unknown> =>
  Effect.gen(function* () {
    // The migrations alone: no kswapd or kcompactd beside them.
    const kernel = yield* Kernel.boot({
      nodes: [config.nodeBytes, config.nodeBytes],
      daemons: "on-demand",
    });
    if (subject) yield* subject.load(kernel);
    const proc = yield* kernel.createProcess({ node: 0 });
    const addr = yield* proc.mmap(config.moveBytes);
    yield* writePattern(proc, addr, config.moveBytes);
    const pages = Float64Array.from({ length: config.moveBytes / 4096 }, (_, i) => addr + i * 4096);
    if (subject && fault) subject.engineFaults?.inject(kernel, fault);
    yield* proc.movePages(0, pages, new Int32Array(pages.length).fill(1), MPOL_MF_MOVE);
    yield* proc.movePages(0, pages, new Int32Array(pages.length), MPOL_MF_MOVE);
    const intact = yield* patternIntact(proc, addr, config.moveBytes);
    const usage = process.memoryUsage();
    if (subject) yield* subject.unload(kernel);
    yield* kernel.shutdown();
    return { intact, peak: { arrayBuffers: usage.arrayBuffers, rss: usage.rss } };
  });

/**
 * Runs the soak: for each copier, `rounds` kernels booted, used with one injected engine fault
 * each (the copier's fault kinds in turn) and shut down. Memory is sampled after a full
 * collection at the start and the end; the peak is the highest reading taken while a kernel was
 * up. At the end the idle copy threads are stopped and every thread still running is a leak.
 */
export const runSoak = (config: SoakConfig, onProgress?: OnProgress) =>
  Effect.gen(function* () {
    const start = yield* sample;
    let peak = start;
    const rows: SoakRow[] = [];
    let intactAll = true;
    for (const [c, name] of config.copiers.entries()) {
      const make = SOAK_COPIERS[name];
      if (!make) return yield* Effect.fail(new Error(`unknown copier ${name}`));
      const kinds = make()?.engineFaults?.kinds ?? [];
      const faults: Record<string, number> = {};
      let intactRounds = 0;
      for (let r = 0; r < config.rounds; r++) {
        onProgress?.(`soak ${name}, round ${r + 1}`, {
          index: c * config.rounds + r,
          of: config.copiers.length * config.rounds,
        });
        const fault = kinds.length > 0 ? kinds[r % kinds.length]! : null;
        if (fault) faults[fault] = (faults[fault] ?? 0) + 1;
        const done = yield* round(config, make(), fault);
        peak = max(peak, done.peak);
        if (done.intact) intactRounds++;
      }
      intactAll &&= intactRounds === config.rounds;
      rows.push({
        copier: name,
        rounds: config.rounds,
        faults,
        intactRounds,
        threadsAfter: liveCopyWorkers(),
      });
    }
    onProgress?.("soak", {
      index: config.copiers.length * config.rounds,
      of: config.copiers.length * config.rounds,
    });
    yield* Effect.promise(drainIdleCopyWorkers);
    const end = yield* sample;
    const leakedBytes = Math.max(0, end.arrayBuffers - start.arrayBuffers);
    const leakedThreads = liveCopyWorkers();
    const kernelBytes = 2 * config.nodeBytes;
    return envelope("soak", config, {
      rows,
      start,
      peak: max(peak, end),
      end,
      leakedBytes,
      leakedThreads,
      kernelBytes,
      ok: intactAll && leakedBytes <= kernelBytes && leakedThreads === 0,
    } satisfies SoakResults);
  });

/** The soak's table, its memory at start, peak and end, and its one-line verdict. */
export const formatSoak = (r: SoakResults): string => {
  const table = markdownTable(
    ["copier", "rounds", "faults injected", "rounds intact", "copy threads after"],
    r.rows.map((row) => [
      row.copier,
      String(row.rounds),
      Object.entries(row.faults)
        .map(([kind, n]) => `${kind} ${n}`)
        .join(", ") || "none",
      `${row.intactRounds}/${row.rounds}`,
      String(row.threadsAfter),
    ]),
  );
  const memory = markdownTable(
    ["", "arrayBuffers", "RSS"],
    (["start", "peak", "end"] as const).map((at) => [
      at,
      formatBytes(r[at].arrayBuffers),
      formatBytes(r[at].rss),
    ]),
  );
  return `${table}\n\n${memory}\n\nsoak: leaked ${Math.round(r.leakedBytes / 2 ** 20)} MiB, ${r.leakedThreads} threads${r.ok ? "" : ` (FAILED: the limit is ${formatBytes(r.kernelBytes)} and 0 threads, every byte intact)`}\n`;
};
