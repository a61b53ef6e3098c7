/**
 * What-if for compaction: the copy-cost model predicts v4's compaction run (wall time, the
 * compacting CPU's system, user and idle time, the hog's work, dcbm's copies) from the machine's
 * profile and two compaction terms, each prediction beside the published number.
 *
 * Compaction migrates the fragmented node's 4 KiB pages in batches of `COMPACT_CLUSTER_MAX`
 * (32, `isolate_migratepages_block()` in `mm/compaction.c` stops there) through
 * `migrate_pages()`: per batch the kernel's work on its folios ({@link migrateKernelNs}) and the
 * copy, on the CPU ({@link cpuCopyNs}) or on dcbm's one channel (`nr_dma_chan` is 1 by default,
 * v4 patch 5; {@link dmaCopyNs}), during which the compacting thread sleeps in
 * `wait_for_completion_timeout()`. Beside that, the scanners' work per page migrated
 * (`isolate_migratepages()`, `isolate_freepages()`, `compaction_alloc()`, and the allocation's
 * slow path around them), which the copy-cost model does not hold: `scanNs`, fitted on the idle
 * baseline's wall time. No source cache: the fragmenter wrote its 248 GB long before.
 *
 * Beside a CPU hog of equal weight pinned to the same CPU, CFS gives each half the CPU while
 * both are runnable, and the hog all of it while compaction sleeps on the DMA: the compacting
 * thread's CPU time `C` takes `2C`, its DMA waits `D` add `D`. The hog's loop runs at
 * `hogIterationsPerNs` of CPU time, fitted on the busy baseline's hog count.
 *
 * @module
 */
import {
  type CopyCostProfile,
  cpuCopyNs,
  type DmaDescriptorCount,
  dmaCopyNs,
  migrateKernelNs,
} from "@migrate-offload/core";
import { markdownTable } from "./report";
import type { SeedCompactionRow, SeedCompactionTable } from "./seed_tables";

/** The compaction terms of a profile file's `compaction` section. */
export interface CompactionTerms {
  /** Per page migrated: the migrate and free scanners and the allocation's slow path, ns. */
  readonly scanNs: number;
  /** The CPU hog's loop iterations per ns of CPU time it gets. */
  readonly hogIterationsPerNs: number;
}

/** One run's predicted times, ns: the compacting CPU's busy time, its DMA waits, the wall time. */
export interface CompactionRun {
  /** The compacting thread's CPU time. */
  readonly cpuNs: number;
  /** Its sleep in the DMA waits. */
  readonly waitNs: number;
  /** Elapsed. */
  readonly wallNs: number;
  /** The hog's CPU time (0 without one). */
  readonly hogNs: number;
}

/** dcbm's default channel count (`nr_dma_channels = 1`, v4 patch 5): the run sets none. */
export const DCBM_DEFAULT_CHANNELS = 1;

/**
 * Predicts one run of `table`: `row.migrated` pages (the run's own count, an input) in batches
 * of `table.batchFolios`; on dcbm's channels when `row.dma`, beside the hog when `row.busy`.
 * `descriptors` counts a channel's DMA descriptors as the machine's mapping does. Throws when the
 * profile has no DMA section and the row copies by DMA.
 */
export const predictCompactionRun = (
  p: CopyCostProfile,
  table: SeedCompactionTable,
  row: SeedCompactionRow,
  terms: CompactionTerms,
  descriptors?: DmaDescriptorCount,
): CompactionRun => {
  const folios = table.batchFolios;
  const batch = { folios, bytes: folios * table.folioBytes, pageSize: table.pageSize };
  const batches = row.migrated / folios;
  const kernelNs = migrateKernelNs(p, batch);
  let copyCpuNs = cpuCopyNs(p, batch);
  let copyWaitNs = 0;
  if (row.dma) {
    if (!p.dma) throw new Error(`${p.name} has no DMA engine to predict ${row.label}`);
    const d = dmaCopyNs(p, batch, DCBM_DEFAULT_CHANNELS, descriptors);
    copyCpuNs = d.initiatorNs;
    copyWaitNs = d.ns - d.initiatorNs;
  }
  const cpuNs = row.migrated * terms.scanNs + batches * (kernelNs + copyCpuNs);
  const waitNs = batches * copyWaitNs;
  const wallNs = (row.busy ? 2 * cpuNs : cpuNs) + waitNs;
  return { cpuNs, waitNs, wallNs, hogNs: row.busy ? wallNs - cpuNs : 0 };
};

/** The figures a compaction row publishes that the model predicts. */
export type CompactionMetric = "wall" | "sys" | "user" | "idle" | "hog" | "dmaCopies";

/** One predicted figure beside the published one. */
export interface CompactionCell {
  /** `table/row/metric`, as `v4-compaction/dma/wall`. */
  readonly id: string;
  readonly metric: CompactionMetric;
  readonly published: number;
  readonly predicted: number;
  /** `(predicted − published) / published`. */
  readonly error: number;
  readonly fitted: boolean;
}

/** The figures of a run, as the seed prints them: ms, %, counts. */
const figures = (
  row: SeedCompactionRow,
  run: CompactionRun,
  terms: CompactionTerms,
): Array<[CompactionMetric, number | undefined, number]> => [
  ["wall", row.wallMs, run.wallNs / 1e6],
  ["sys", row.sysPercent, (100 * run.cpuNs) / run.wallNs],
  ["user", row.userPercent, (100 * run.hogNs) / run.wallNs],
  ["idle", row.idlePercent, row.busy ? 0 : (100 * run.waitNs) / run.wallNs],
  ["hog", row.hogIterations, run.hogNs * terms.hogIterationsPerNs],
  ["dmaCopies", row.dmaCopies, row.dma ? row.migrated : 0],
];

/**
 * Predicts every figure of a compaction table the model speaks to: each row's wall time and
 * system time; user time, the hog's count beside a hog; idle time on an idle machine with DMA;
 * dcbm's copies (every batch offloaded: `MR_COMPACTION` is an offload reason, and the model has
 * no failed copies). Figures the seed prints as below 1 % (no hog's user time, a busy CPU's idle
 * time) are not scored: the model predicts 0 there and a relative error means nothing.
 */
export const predictCompactionTable = (
  p: CopyCostProfile,
  table: SeedCompactionTable,
  terms: CompactionTerms,
  fittedOn: readonly string[] = [],
  descriptors?: DmaDescriptorCount,
): CompactionCell[] =>
  table.rows.flatMap((row) => {
    const run = predictCompactionRun(p, table, row, terms, descriptors);
    return figures(row, run, terms).flatMap(([metric, published, predicted]) => {
      if (published === undefined || published < 1) return [];
      const id = `${table.id}/${row.label}/${metric}`;
      return [
        {
          id,
          metric,
          published,
          predicted,
          error: (predicted - published) / published,
          fitted: fittedOn.includes(id),
        },
      ];
    });
  });

/**
 * The compaction terms from two cells: `scanNs` from the idle baseline's wall time less the
 * batches' kernel work and CPU copy, per page; `hogIterationsPerNs` from the busy baseline's hog
 * count over the hog's predicted CPU time. Returns them and the cells fitted on.
 */
export const fitCompaction = (
  p: CopyCostProfile,
  table: SeedCompactionTable,
): { readonly terms: CompactionTerms; readonly fittedOn: readonly string[] } => {
  const idle = table.rows.find((r) => !r.dma && !r.busy)!;
  const busy = table.rows.find((r) => !r.dma && r.busy)!;
  const none = predictCompactionRun(p, table, idle, { scanNs: 0, hogIterationsPerNs: 0 });
  const scanNs = Math.max(0, (idle.wallMs * 1e6 - none.wallNs) / idle.migrated);
  const run = predictCompactionRun(p, table, busy, { scanNs, hogIterationsPerNs: 0 });
  return {
    terms: { scanNs, hogIterationsPerNs: busy.hogIterations! / run.hogNs },
    fittedOn: [`${table.id}/${idle.label}/wall`, `${table.id}/${busy.label}/hog`],
  };
};

/** How each metric prints: its unit and digits. */
const show: Record<CompactionMetric, (v: number) => string> = {
  wall: (v) => `${v.toFixed(0)} ms`,
  sys: (v) => `${v.toFixed(1)} %`,
  user: (v) => `${v.toFixed(1)} %`,
  idle: (v) => `${v.toFixed(1)} %`,
  hog: (v) => `${(v / 1e9).toFixed(1)} G`,
  dmaCopies: (v) => v.toFixed(0),
};

const METRICS: readonly CompactionMetric[] = ["wall", "sys", "user", "idle", "hog", "dmaCopies"];

/**
 * Markdown: the compaction table, a row per run and a column per figure, each `predicted /
 * published (error)`, fitted cells starred, then the cells fitted on and how many of the others
 * are within 15 %.
 */
export const formatCompactionPrediction = (
  table: SeedCompactionTable,
  cells: readonly CompactionCell[],
  terms: CompactionTerms,
): string => {
  const rows = table.rows.map((row) => [
    row.label,
    ...METRICS.map((m) => {
      const c = cells.find((x) => x.id === `${table.id}/${row.label}/${m}`);
      return c
        ? `${show[m](c.predicted)} / ${show[m](c.published)} (${c.error >= 0 ? "+" : ""}${(c.error * 100).toFixed(0)} %)${c.fitted ? " *" : ""}`
        : "–";
    }),
  ]);
  const fitted = cells.filter((c) => c.fitted);
  const held = cells.filter((c) => !c.fitted);
  const within = held.filter((c) => Math.abs(c.error) <= 0.15).length;
  return [
    `**${table.title}** (${table.source}), predicted / published (error); the pages migrated are each run's own count:`,
    "",
    markdownTable(["run", "wall", "sys", "user", "idle", "hog iterations", "DMA copies"], rows),
    "",
    `2 parameters (compaction.scanNs ${terms.scanNs.toFixed(0)} ns a page, compaction.hogIterationsPerNs ${terms.hogIterationsPerNs.toFixed(2)}) fitted on ${fitted.map((c) => c.id).join(", ")} (\\*); the rest is the profile's. Of ${held.length} cells not fitted on, ${within} are within 15 % of the published number ("–": not published, or below 1 %, where the model says 0).`,
  ].join("\n");
};
