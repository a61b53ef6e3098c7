/**
 * Two experiments that look inside one `move_pages` call through the kernel's probes rather
 * than timing it whole:
 *
 * - `amdahl`, the copy-share analysis of the v3 cover letter (`002_*.txt`): the fraction of the
 *   call's time spent copying folios, and the speedup that bounds;
 * - `latency`, first-folio latency against batch size, asked for in review of v5: how long the
 *   first folio of a batch stays unmapped when the whole batch is copied before any folio moves.
 */
import {
  type BatchCopier,
  type FolioList,
  type Kernel,
  MPOL_MF_MOVE,
  migrateFoliosMcCopy,
  type Task,
} from "@migrate-offload/core";
import type { MigratorSubject } from "@migrate-offload/core/testing";
import { moduleSubject, serialCopyModule } from "@migrate-offload/testkit";
import { Effect } from "effect";
import { populatedKernel } from "./offload";
import { patternIntact } from "./pattern";
import {
  envelope,
  formatBytes,
  formatSummary,
  markdownTable,
  type Summary,
  summarize,
} from "./report";

/** One `move_pages` of `pages` to `node`; fails if a page stayed behind. */
const moveTo = (proc: Task, pages: Float64Array, node: number) =>
  Effect.gen(function* () {
    const { rc } = yield* proc.movePages(
      0,
      pages,
      new Int32Array(pages.length).fill(node),
      MPOL_MF_MOVE,
    );
    if (rc !== 0) return yield* Effect.fail(new Error(`move_pages left ${rc} pages behind`));
  });

/**
 * Untimed round trips until the code is warm: at least one, then more until 200 ms or 100 round
 * trips have passed, so that a call of a few microseconds is not timed while still cold.
 */
const warmUp = (proc: Task, pages: Float64Array) =>
  Effect.gen(function* () {
    const start = performance.now();
    for (let i = 0; i < 100 && (i === 0 || performance.now() - start < 200); i++) {
      yield* moveTo(proc, pages, 1);
      yield* moveTo(proc, pages, 0);
    }
  });

/** One row of the copy-share analysis. */
export interface AmdahlRow {
  readonly folioBytes: number;
  readonly folios: number;
  /** Wall time of one call, ms. */
  readonly callMs: Summary;
  /** F: the fraction of the call spent copying folios (`migrate_folios_mc_copy()` itself). */
  readonly copyShare: Summary;
  /**
   * The fraction of the call in the batch copy step as a migrator sees it: the copy plus the
   * registry's dispatch (SRCU read side, `should_batch`, the Effect, the counters).
   */
  readonly stepShare: Summary;
  /** `1 / (1 - F)`: the call's speedup with an infinitely fast copy. */
  readonly maxSpeedup: number;
  /** `1 / ((1 - F) + F / 7.5)`: with the 7.5 × copy speedup the v3 letter measured for DMA. */
  readonly speedupAtSeedDma: number;
  readonly intact: boolean;
}

/** The v3 cover letter's copy shares, for the table. */
const SEED_SHARE: Record<string, string> = {
  "4 KiB×1": "<1 %",
  "4 KiB×512": "~35 %",
  "2 MiB×1": "~66 %",
  "2 MiB×512": "~97 %",
};

/**
 * The copy share of `move_pages` for 1 and 512 folios of 4 KiB and 2 MiB. The kernel's own copy
 * (`migrate_folios_mc_copy()`) runs as the migrator so that every copy of the call happens in the
 * batch copy step; the migrator times the copy itself, and the copy interposer times the step
 * around it (the registry's dispatch included). Batches hold up to `HPAGE_PUD_NR` pages.
 */
export const runAmdahl = (runs: number, onProgress: (msg: string) => void) =>
  Effect.gen(function* () {
    const rows: AmdahlRow[] = [];
    for (const folioBytes of [4096, 2 << 20]) {
      for (const folios of [1, 512]) {
        onProgress(`amdahl: ${folios} × ${formatBytes(folioBytes)}`);
        const bytes = folioBytes * folios;
        const { kernel, proc, addr, pages } = yield* populatedKernel(folioBytes, bytes, 1 << 18);
        let copyMs = 0;
        let stepMs = 0;
        const timedCopy = (k: Kernel, dst: FolioList, src: FolioList) => {
          const start = performance.now();
          const rc = migrateFoliosMcCopy(k, dst, src);
          copyMs += performance.now() - start;
          return rc;
        };
        const subject = moduleSubject((k) => serialCopyModule(k, timedCopy), "serial_copy");
        yield* subject.load(kernel);
        const unprobe = kernel.migrateOffload.interpose(
          (inner): BatchCopier => ({
            ...inner,
            copy: (dst, src, count, caller) =>
              Effect.suspend(() => {
                const start = performance.now();
                return Effect.tap(inner.copy(dst, src, count, caller), () =>
                  Effect.sync(() => {
                    stepMs += performance.now() - start;
                  }),
                );
              }),
          }),
        );
        const calls: number[] = [];
        const shares: number[] = [];
        const steps: number[] = [];
        yield* warmUp(proc, pages);
        for (let r = 0; r < runs; r++) {
          copyMs = 0;
          stepMs = 0;
          const start = performance.now();
          yield* moveTo(proc, pages, r % 2 === 0 ? 1 : 0);
          const ms = performance.now() - start;
          calls.push(ms);
          shares.push(copyMs / ms);
          steps.push(stepMs / ms);
        }
        if (typeof unprobe === "function") unprobe();
        const intact = yield* patternIntact(proc, addr, bytes);
        yield* subject.unload(kernel);
        const share = summarize(shares);
        rows.push({
          folioBytes,
          folios,
          callMs: summarize(calls),
          copyShare: share,
          stepShare: summarize(steps),
          maxSpeedup: 1 / (1 - share.median),
          speedupAtSeedDma: 1 / (1 - share.median + share.median / 7.5),
          intact,
        });
      }
    }
    return envelope("amdahl", { runs }, { rows });
  });

/** The copy-share table, beside the v3 cover letter's shares. */
export const formatAmdahl = (r: { rows: readonly AmdahlRow[] }): string =>
  markdownTable(
    [
      "folios",
      "call ms, median (min–max)",
      "folio copy share F, median (min–max)",
      "copy step with dispatch, median",
      "max speedup 1/(1−F)",
      "speedup with a 7.5 × copy",
      "the v3 letter's share",
    ],
    r.rows.map((row) => {
      const key = `${formatBytes(row.folioBytes)}×${row.folios}`;
      return [
        `${row.folios} × ${formatBytes(row.folioBytes)}${row.intact ? "" : " CORRUPT"}`,
        formatSummary(row.callMs, 3),
        `${(row.copyShare.median * 100).toFixed(1)} % (${(row.copyShare.min * 100).toFixed(1)}–${(row.copyShare.max * 100).toFixed(1)})`,
        `${(row.stepShare.median * 100).toFixed(1)} %`,
        row.maxSpeedup.toFixed(2),
        row.speedupAtSeedDma.toFixed(2),
        SEED_SHARE[key] ?? "",
      ];
    }),
  );

/** One row of the latency experiment. */
export interface LatencyRow {
  readonly copier: string;
  /** `NR_MAX_BATCHED_MIGRATION`, base pages. */
  readonly batchPages: number;
  /** From the call's start to its first `remove_migration_pte` or `remove_migration_pmd`, ms. */
  readonly firstFolioMs: Summary;
  /** The whole call, ms. */
  readonly callMs: Summary;
  readonly intact: boolean;
}

/**
 * First-folio latency against batch size: `bytes` of 2 MiB folios moved by one `move_pages`
 * call, with `NR_MAX_BATCHED_MIGRATION` set to each of `batches`; the latency is the time from
 * the call's `mm_migrate_pages_start` to its first `remove_migration_pte` or
 * `remove_migration_pmd` (a PMD-mapped THP), the moment the first folio is mapped again.
 */
export const runLatency = (
  bytes: number,
  batches: readonly number[],
  copiers: ReadonlyArray<readonly [string, MigratorSubject | undefined]>,
  runs: number,
  onProgress: (msg: string) => void,
) =>
  Effect.gen(function* () {
    const rows: LatencyRow[] = [];
    for (const [copier, subject] of copiers) {
      for (const batchPages of batches) {
        onProgress(`latency: ${copier}, batches of ${batchPages} pages`);
        const setup = yield* populatedKernel(2 << 20, bytes, batchPages);
        const { kernel, proc, addr, pages } = setup;
        if (subject) yield* subject.load(kernel);
        yield* warmUp(proc, pages);
        const first: number[] = [];
        const calls: number[] = [];
        for (let r = 0; r < runs; r++) {
          let start = -1;
          let mapped = -1;
          const unsubscribe = kernel.trace.subscribe((e) => {
            if (e.event === "mm_migrate_pages_start" && start < 0) start = performance.now();
            const remapped =
              e.event === "remove_migration_pte" || e.event === "remove_migration_pmd";
            if (remapped && mapped < 0) {
              mapped = performance.now();
              unsubscribe();
            }
          });
          const callStart = performance.now();
          yield* moveTo(proc, pages, r % 2 === 0 ? 1 : 0);
          calls.push(performance.now() - callStart);
          unsubscribe();
          first.push(mapped - start);
        }
        const intact = yield* patternIntact(proc, addr, bytes);
        if (subject) yield* subject.unload(kernel);
        rows.push({
          copier,
          batchPages,
          firstFolioMs: summarize(first),
          callMs: summarize(calls),
          intact,
        });
      }
    }
    return envelope(
      "latency",
      { bytes, batches, copiers: copiers.map(([c]) => c), runs },
      { rows },
    );
  });

/** The latency table: one row per copier and batch size. */
export const formatLatency = (r: { rows: readonly LatencyRow[] }): string =>
  markdownTable(
    [
      "copier",
      "batch (pages)",
      "first folio mapped again, ms median (min–max)",
      "whole call, ms median (min–max)",
      "first / whole",
    ],
    r.rows.map((row) => [
      `${row.copier}${row.intact ? "" : " CORRUPT"}`,
      String(row.batchPages),
      formatSummary(row.firstFolioMs),
      formatSummary(row.callMs),
      (row.firstFolioMs.median / row.callMs.median).toFixed(2),
    ]),
  );
