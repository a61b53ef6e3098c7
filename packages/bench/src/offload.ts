/**
 * What the offload experiments share: a kernel whose faults allocate folios of one size, a
 * populated mapping, a migrator loaded as its module, and timed ping-pong `move_pages` calls.
 */
import {
  type ErrnoError,
  Kernel,
  type KernelConfig,
  type MthpMode,
  type SignalError,
  type Task,
} from "@migrate-offload/core";
import type { MigratorSubject } from "@migrate-offload/core/testing";
import { Effect } from "effect";
import { median } from "simple-statistics";
import { patternIntact, writePattern } from "./pattern";
import { pingPongMovePages } from "./pingpong";
import type { OnProgress } from "./progress";
import { type Summary, summarize } from "./report";

/**
 * The THP settings that make every fault in an aligned mapping allocate folios of `order`, for a
 * base page size.
 */
export const thpFor = (order: number, pageSize = 4096): KernelConfig["thp"] => {
  if (order === 0) return { enabled: "never" };
  const pmdOrder = Math.log2(pageSize / 8);
  const sizes: Record<string, MthpMode> = {};
  sizes[`${(pageSize * 2 ** order) / 1024}kB`] = "always";
  if (order !== pmdOrder) sizes[`${(pageSize * 2 ** pmdOrder) / 1024}kB`] = "never";
  return { enabled: "never", sizes };
};

/** How to run one offload measurement. */
export interface OffloadRun<A> {
  readonly folioBytes: number;
  readonly total: number;
  readonly runs: number;
  /** Base page size; default 4 KiB. */
  readonly pageSize?: number;
  /** `NR_MAX_BATCHED_MIGRATION`; default `HPAGE_PUD_NR` of 4 KiB pages, as the series measures. */
  readonly batchPages?: number;
  /** Loads and switches on the migrator under test; absent for the serial path. */
  readonly load?: (kernel: Kernel) => Effect.Effect<void, unknown>;
  /** Reads what the experiment wants to know, after the timed calls. */
  readonly inspect: (kernel: Kernel) => A;
  /** Switches the migrator off and unloads it. */
  readonly unload?: (kernel: Kernel) => Effect.Effect<void, unknown>;
  /**
   * Also times the serial path in the same kernel, its samples interleaved with the migrator's
   * (copier, serial, serial, copier, …; the migrator switched off and on through
   * `offload_migrator`), so that a ratio to serial compares samples taken moments apart.
   */
  readonly pairedSerial?: boolean;
  /**
   * Paired measurements to make in the kernel, one after another (default 1): each its own
   * warm-up and `runs` samples of the copier and `runs` of the serial path. The ratio to serial
   * is the median of their ratios, so that a burst of load through one of them moves no number.
   */
  readonly repeat?: number;
}

/** What a copier's measurement gives: its samples and, paired with serial, its ratios to it. */
export interface PairedResults {
  /** Every timed sample of the copier (of every repeat), GB/s. */
  readonly gbps: Summary;
  /** Paired: every serial sample taken in the copier's kernel between its own, GB/s. */
  readonly serialGbps?: Summary;
  /**
   * Paired: each repeat's ratio to serial, the copier's median over the median of the serial
   * samples of the same repeat.
   */
  readonly ratios?: readonly number[];
  /** Paired: the median of `ratios` (simple-statistics), the copier's ratio to serial. */
  readonly vsSerial?: number;
  /** Paired, a driver's: its adaptive policy's counters after the timed calls, warm-ups included. */
  readonly decisions?: PolicyDecisions;
  readonly intact: boolean;
}

/** What {@link measureOffload} measured, and what the experiment's `inspect` read. */
export interface OffloadMeasurement<A> extends PairedResults {
  readonly inspected: A;
}

/** An adaptive policy's counters: batches it offloaded and batches it declined to the CPU. */
export interface PolicyDecisions {
  readonly taken: number;
  readonly declined: number;
}

/** Where the drivers keep their adaptive policy's counters: dcbm's, then mtcopy's. */
const POLICY_DIRS = ["/sys/kernel/dcbm", "/sys/kernel/cpu_mt"] as const;

/**
 * The counters `batches_taken` and `batches_declined` of the driver loaded in `kernel`, when it
 * has them; undefined for the serial path and a migrator without them.
 */
const policyDecisions = (kernel: Kernel) =>
  Effect.gen(function* () {
    for (const dir of POLICY_DIRS) {
      if (!kernel.fs.exists(`${dir}/batches_taken`)) continue;
      const taken = Number(yield* kernel.fs.read(`${dir}/batches_taken`));
      const declined = Number(yield* kernel.fs.read(`${dir}/batches_declined`));
      return { taken, declined } satisfies PolicyDecisions;
    }
    return undefined;
  });

/** What {@link populatedKernel} boots: the kernel, the process, its mapping and one address per folio. */
export interface PopulatedKernel {
  readonly kernel: Kernel;
  readonly proc: Task;
  readonly addr: number;
  readonly pages: Float64Array;
}

/**
 * A kernel of two nodes, each `bytes` plus 64 MiB, whose faults allocate folios of `folioBytes`
 * on base pages of `pageSize` (default 4 KiB), with batches of `batchPages`
 * (`NR_MAX_BATCHED_MIGRATION`; the kernel's default when absent); one process on node 0 has
 * `bytes` mapped and filled with the byte pattern. `pages` holds one address per folio, for
 * `move_pages`.
 */
export const populatedKernel = (
  folioBytes: number,
  bytes: number,
  batchPages: number | undefined,
  pageSize = 4096,
): Effect.Effect<PopulatedKernel, ErrnoError | SignalError> =>
  Effect.gen(function* () {
    const kernel = yield* Kernel.boot({
      // The copy path alone: no kswapd or kcompactd in the background of the figure.
      daemons: "on-demand",
      pageSize,
      nodes: [bytes + (64 << 20), bytes + (64 << 20)],
      thp: thpFor(Math.log2(folioBytes / pageSize), pageSize),
    });
    if (batchPages !== undefined) kernel.nrMaxBatchedMigration = batchPages;
    const proc = yield* kernel.createProcess({ node: 0 });
    const addr = yield* proc.mmap(bytes);
    yield* writePattern(proc, addr, bytes);
    const pages = Float64Array.from(
      { length: bytes / folioBytes },
      (_, i) => addr + i * folioBytes,
    );
    return { kernel, proc, addr, pages };
  });

/**
 * Boots a kernel sized for `total` bytes per node, with batches of up to `HPAGE_PUD_NR` pages
 * (the series' patch 6), fills a mapping with a per-page pattern, ping-pongs it between the nodes
 * and checks every byte afterwards.
 */
export const measureOffload = <A>(
  run: OffloadRun<A>,
): Effect.Effect<OffloadMeasurement<A>, unknown> =>
  Effect.gen(function* () {
    const { folioBytes, total } = run;
    const { kernel, proc, addr } = yield* populatedKernel(
      folioBytes,
      total,
      run.batchPages ?? 1 << 18,
      run.pageSize,
    );
    if (run.load) yield* run.load(kernel);
    const repeat = run.repeat ?? 1;
    if (!(run.load && run.pairedSerial)) {
      const rates: number[] = [];
      for (let i = 0; i < repeat; i++)
        rates.push(...(yield* pingPongMovePages(proc, addr, total, folioBytes, run.runs)));
      const intact = yield* patternIntact(proc, addr, total);
      const inspected = run.inspect(kernel);
      if (run.unload) yield* run.unload(kernel);
      return { gbps: summarize(rates), intact, inspected };
    }
    // The migrator's name: the bracketed entry of offload_migrator ("none [DCBM]").
    const listed = yield* kernel.fs.read(OFFLOAD_MIGRATOR);
    const active = /\[([^\]]+)\]/.exec(listed)?.[1] ?? "none";
    const serialSample = (r: number) => r % 4 === 1 || r % 4 === 2;
    const copierRates: number[] = [];
    const serialRates: number[] = [];
    const ratios: number[] = [];
    for (let i = 0; i < repeat; i++) {
      const rates = yield* pingPongMovePages(proc, addr, total, folioBytes, 2 * run.runs, (r) =>
        Effect.asVoid(kernel.fs.write(OFFLOAD_MIGRATOR, serialSample(r) ? "none" : active)),
      );
      const copier = rates.filter((_, r) => !serialSample(r));
      const serial = rates.filter((_, r) => serialSample(r));
      copierRates.push(...copier);
      serialRates.push(...serial);
      ratios.push(median(copier) / median(serial));
    }
    yield* kernel.fs.write(OFFLOAD_MIGRATOR, active);
    const decisions = yield* policyDecisions(kernel);
    const intact = yield* patternIntact(proc, addr, total);
    const inspected = run.inspect(kernel);
    if (run.unload) yield* run.unload(kernel);
    return {
      gbps: summarize(copierRates),
      ...(decisions ? { decisions } : {}),
      serialGbps: summarize(serialRates),
      ratios,
      vsSerial: median(ratios),
      intact,
      inspected,
    };
  });

/** The registry's control file: the active migrator in brackets; writing a name activates it. */
const OFFLOAD_MIGRATOR = "/sys/kernel/mm/migration/offload_migrator";

/** One cell of a grid of offload measurements. */
export interface GridCell {
  /** What the tables call the cell's row and column. */
  readonly row: string;
  readonly column: string;
  readonly folioBytes: number;
  readonly total: number;
  readonly pageSize?: number;
  /** The copier: absent for the serial path. */
  readonly subject?: MigratorSubject;
}

/** A measured cell (the serial path's cell has no ratios). */
export interface GridResult extends PairedResults {
  readonly row: string;
  readonly column: string;
  readonly folioBytes: number;
  readonly total: number;
}

/**
 * Measures each cell in turn with {@link measureOffload} (a copier's cell with the serial path
 * paired in the same kernel, `repeat` paired measurements of `runs` samples each), appending to
 * `out` as it goes so that an interrupted run (`stop()` true between cells) keeps what it
 * measured. Returns whether it ran to the end.
 */
export const measureGrid = (
  cells: readonly GridCell[],
  runs: number,
  out: GridResult[],
  stop: () => boolean,
  onProgress: OnProgress,
  repeat = 1,
) =>
  Effect.gen(function* () {
    for (const [i, cell] of cells.entries()) {
      if (stop()) return false;
      onProgress(`${cell.column}: ${cell.row}`, { index: i, of: cells.length });
      const m = yield* measureOffload({
        folioBytes: cell.folioBytes,
        total: cell.total,
        runs,
        pageSize: cell.pageSize,
        load: cell.subject?.load,
        unload: cell.subject?.unload,
        inspect: () => null,
        pairedSerial: true,
        repeat,
      });
      const { inspected: _, ...results } = m;
      out.push({
        row: cell.row,
        column: cell.column,
        folioBytes: cell.folioBytes,
        total: cell.total,
        ...results,
      });
    }
    onProgress("every cell measured", { index: cells.length, of: cells.length });
    return true;
  });
