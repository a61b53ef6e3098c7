/**
 * The benchmark CLI: `migrate-offload-bench <experiment> [options]`. The grammar (which
 * experiment takes which option) is `commands.ts`; this file runs what it parsed.
 */

import { availableParallelism, totalmem } from "node:os";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { MigratorSubject } from "@migrate-offload/core/testing";
import { Cause, Effect, Exit } from "effect";
import { CliError, Command } from "effect/cli";
import type { TopLevelSpec } from "vega-lite";
import { throughputChart, writeSvg } from "./chart";
import { benchCommand, cliEnvironment, type Invocation, PROGRAM } from "./commands";
import { compactionChart, defaultHogs, formatCompaction, runCompaction } from "./compaction";
import { CONFORMANCE_SUBJECTS, formatConformance, runConformance } from "./conformance";
import { dcbmCopier, mtcopyCopier } from "./copiers";
import {
  COUNT_SWEEP,
  countCellBytes,
  countChartPoints,
  formatGrid,
  type GridResults,
  gridWarnings,
  runBase64k,
  runCount,
} from "./count";
import { formatCpu, formatDcbm, runCpu, runDcbm } from "./dcbm";
import { formatDemo, runDemo } from "./demo";
import { memcpyReferenceLines } from "./memcpy";
import { formatMemModel, runMemModel } from "./memmodel";
import { formatMovePages, runMovePages, SEED_FOLIO_SIZES } from "./movepages";
import { formatMtcopy, runMtcopy } from "./mtcopy";
import { formatAmdahl, formatLatency, runAmdahl, runLatency } from "./probes";
import { type OnProgress, StderrProgress } from "./progress";
import { formatRegistry, runRegistry } from "./registry";
import { envelope, formatBytes, writeJson } from "./report";
import {
  countDrops,
  formatMissEvidence,
  formatReproducibility,
  missEvidence,
  missesOnDisputedCells,
  REVISION_PAIRS,
  revisionSummary,
  revisionTables,
} from "./reproducibility";
import { SEED_TABLES, seedTable, V3_COPY_SHARE, V4_COMPACTION } from "./seed_tables";
import {
  formatSizes,
  runSizes,
  type SizesConfig,
  type SizesResults,
  sizesChartPoints,
  sizesWarnings,
} from "./sizes";
import { formatSoak, runSoak, SOAK_COPIERS } from "./soak";
import { formatSysfsFuzz, runSysfsFuzz, sysfsFuzzClean } from "./sysfs_fuzz";
import { formatTiering, runTiering, type TieringConfig, tieringChart } from "./tiering";
import { loadUserMigrator, MigratorModuleError } from "./user_migrator";
import {
  dmaDescriptorCount,
  formatCopyShare,
  formatWhatif,
  type ProfileFile,
  predictCopyShare,
  predictsCompaction,
  predictsShare,
  predictTable,
  readProfileFile,
  SEED_PROFILES,
  whatifSummary,
} from "./whatif";
import { formatCompactionPrediction, predictCompactionTable } from "./whatif_compaction";

/** A command line that parsed but asks for something the experiment cannot do. */
class UsageError extends Error {
  override readonly name = "UsageError";
}

const fail = (message: string): never => {
  throw new UsageError(message);
};

/** Where the command was run: pnpm's scripts run in the package, and say where in INIT_CWD. */
const userCwd = (): string => process.env.INIT_CWD ?? process.cwd();

/** Where an experiment's file goes: under `--out`, relative to where the command was run. */
const outPath = (file: string): string => resolve(userCwd(), parsedOut, file);
let parsedOut = "bench-results";

/** Writes an experiment's JSON and says where. */
const save = (name: string, result: object): void => {
  const path = outPath(`${name}.json`);
  // The process's peak resident set so far (getrusage's ru_maxrss), in bytes.
  writeJson(path, { ...result, peakRssBytes: process.resourceUsage().maxRSS * 1024 });
  process.stdout.write(`\nJSON: ${path}\n`);
};

/** Prints an experiment's table and saves its JSON; a lost byte fails the run (exit code 1). */
const publish = (name: string, result: object, table: string, intact = true): void => {
  process.stdout.write(`${table}\n`);
  save(name, result);
  if (!intact) process.exitCode = 1;
};

/**
 * Refuses folio sizes the experiments cannot make: a base page, or an mTHP size (16 KiB to the
 * PMD size, a power of two) that divides `total`.
 */
const checkFolioSizes = (sizes: readonly number[], total: number): void => {
  for (const size of sizes) {
    const power = (size & (size - 1)) === 0;
    if (!(power && (size === 4096 || (size >= 16384 && size <= 2 << 20))) || total % size !== 0)
      fail(`folio size ${size} must be a power of two from 4K to 2M (no 8K) dividing --total`);
  }
};

/** The `sizes` presets. */
const QUICK_SIZES: SizesConfig = {
  total: 64 << 20,
  sizes: [4096, 65536, 2 << 20],
  threads: [2],
  channels: [4],
  runs: 3,
  repeat: 1,
  adaptive: true,
};
const FULL_SIZES: SizesConfig = {
  total: 256 << 20,
  sizes: [4096, 16384, 65536, 262144, 1 << 20, 2 << 20],
  threads: [1, 2, 4, 8, 16],
  channels: [1, 2, 4, 8, 16],
  runs: 5,
  repeat: 3,
  adaptive: true,
};

/** The `tiering` presets. */
const QUICK_TIERING: TieringConfig = {
  dramBytes: 16 << 20,
  slowBytes: 64 << 20,
  footprintBytes: 48 << 20,
  hotBytes: 4 << 20,
  phases: 3,
  phaseMs: 1500,
  rateLimitMBps: 4,
  scanPeriodMs: 250,
  sampleMs: 100,
  runs: 1,
  threads: 2,
  channels: 4,
};
const FULL_TIERING: TieringConfig = {
  dramBytes: 32 << 20,
  slowBytes: 128 << 20,
  footprintBytes: 96 << 20,
  hotBytes: 8 << 20,
  phases: 4,
  phaseMs: 3000,
  rateLimitMBps: 8,
  scanPeriodMs: 250,
  sampleMs: 100,
  runs: 5,
  threads: 2,
  channels: 4,
};

/**
 * Ctrl-C. An experiment that measures cell by cell sets `stoppable`: the first Ctrl-C lets the
 * cell in progress finish, and the experiment writes what it measured. Anywhere else, or at a
 * second Ctrl-C, the process ends at once with 130.
 */
let interrupted = false;
const stderrProgress = new StderrProgress();
let stoppable = false;
const stop = () => interrupted;
process.on("SIGINT", () => {
  stderrProgress.stop();
  if (!stoppable || interrupted) {
    process.stderr.write("\ninterrupted\n");
    process.exit(130);
  }
  interrupted = true;
  process.stderr.write(
    "… interrupted: finishing the cell in progress, then writing what was measured\n",
  );
});

/** Runs a cell-by-cell experiment with Ctrl-C keeping what it measured. */
const stoppably = async <A>(run: () => Promise<A>): Promise<A> => {
  stoppable = true;
  try {
    return await run();
  } finally {
    stoppable = false;
    stderrProgress.stop();
  }
};

/** Prints each warning on stderr, after the table it is about. */
const warn = (warnings: readonly string[]): void => {
  for (const line of warnings) process.stderr.write(`${line}\n`);
};

/** Imports every `--migrator` module, relative to where the command was run. */
const userMigrators = (specifiers: readonly string[] | undefined): Promise<MigratorSubject[]> =>
  Promise.all((specifiers ?? []).map((s) => loadUserMigrator(s, userCwd())));

/** Runs the size sweep; prints the table, writes the JSON and the chart, and says where. */
const sweepSizes = async (
  config: SizesConfig,
  progress: OnProgress,
  extra: readonly MigratorSubject[] = [],
  name = "sizes",
): Promise<SizesResults> => {
  const result = await stoppably(() =>
    Effect.runPromise(runSizes(config, stop, progress, extra, name)),
  );
  const r = result.results;
  publish(name, result, formatSizes(r, config.total));
  warn(sizesWarnings(r, config.total));
  await chart(
    name,
    throughputChart(
      `move_pages throughput by folio size, ${formatBytes(config.total)} per call`,
      "folio size (KiB)",
      sizesChartPoints(r),
      memcpyReferenceLines(
        r.memcpyOneThreadGbps,
        r.memcpyAllThreadsGbps,
        r.threadsOfAllThreadMemcpy,
      ),
    ),
  );
  return r;
};

/** Writes an experiment's chart as `<out>/<name>.svg` and says where. */
const chart = async (name: string, spec: TopLevelSpec): Promise<void> => {
  const path = outPath(`${name}.svg`);
  await writeSvg(path, spec);
  process.stdout.write(`chart: ${path}\n`);
};

/** Prints and saves a grid experiment (`count`, `base64k`); false when a byte was lost. */
const reportGrid = (
  name: string,
  result: { results: GridResults },
  firstHeader: string,
): boolean => {
  publish(name, result, formatGrid(result.results, firstHeader));
  if (!result.results.complete) process.exitCode = 130;
  return result.results.cells.every((c) => c.intact);
};

/** Runs one parsed command line. */
const runExperiment = async (invocation: Invocation): Promise<void> => {
  const progress = stderrProgress.report;
  parsedOut = invocation.options.out ?? "bench-results";
  switch (invocation.experiment) {
    case "demo": {
      const o = invocation.options;
      const report = await Effect.runPromise(runDemo(o.nodeSize ?? 512 << 20));
      process.stdout.write(`${formatDemo(report)}\n`);
      const ok =
        [...report.regions, ...report.moved].every((r) => r.intact) &&
        report.moved.every((r) => Object.keys(r.nodes).join() === "1") &&
        report.consistency.length === 0;
      if (!ok) process.exitCode = 1;
      // The quick suite: both drivers loaded, the size sweep and the CPU run.
      process.stdout.write("\n## move_pages by folio size, quick (sizes --quick)\n\n");
      const sizes = await sweepSizes(QUICK_SIZES, progress);
      if (!sizes.cells.every((c) => c.intact)) process.exitCode = 1;
      process.stdout.write("\n## The CPU while dcbm copies, quick (cpu --quick)\n\n");
      const cpu = await Effect.runPromise(
        runCpu(
          256 << 20,
          16,
          3,
          { engines: Math.max(1, availableParallelism() - 1), completion: "interrupt" },
          progress,
        ),
      );
      publish(
        "cpu",
        cpu,
        formatCpu(cpu.results),
        cpu.results.rows.every((row) => row.intact),
      );
      process.stdout.write(
        process.exitCode
          ? "\nSome bytes did not survive: see the tables.\n"
          : "\nEvery byte moved intact.\n",
      );
      return;
    }
    case "sizes": {
      const o = invocation.options;
      const base = o.quick ? QUICK_SIZES : FULL_SIZES;
      const config: SizesConfig = {
        total: o.total ?? base.total,
        sizes: o.sizes ?? base.sizes,
        threads: o.threads ?? base.threads,
        channels: o.channels ?? base.channels,
        runs: o.runs ?? base.runs,
        repeat: o.repeat ?? base.repeat,
        adaptive: true,
      };
      checkFolioSizes(config.sizes, config.total);
      const extra = await userMigrators(o.migrator);
      const r = await sweepSizes(config, progress, extra);
      if (!r.cells.every((c) => c.intact)) process.exitCode = 1;
      if (!r.complete) process.exitCode = 130;
      return;
    }
    case "memmodel": {
      const o = invocation.options;
      const nodeBytes = o.nodeSize ?? 1 << 30;
      const pageSize = o.pageSize ?? 4096;
      const result = await Effect.runPromise(
        runMemModel({ nodes: [nodeBytes, nodeBytes], pageSize }, o.runs ?? 7),
      );
      publish("memmodel", result, formatMemModel(result.results));
      return;
    }
    case "movepages": {
      const o = invocation.options;
      const total = o.total ?? 1 << 30;
      const sizes = o.sizes ?? SEED_FOLIO_SIZES;
      checkFolioSizes(sizes, total);
      const result = await Effect.runPromise(
        runMovePages(total, sizes, o.runs ?? 5, progress, o.batchPages ?? 512),
      );
      publish(
        "movepages",
        result,
        formatMovePages(result.results),
        result.results.rows.every((row) => row.intact),
      );
      return;
    }
    case "mtcopy": {
      const o = invocation.options;
      const total = o.total ?? 256 << 20;
      const sizes = o.sizes ?? [4096, 65536, 2 << 20];
      checkFolioSizes(sizes, total);
      const policies = o.threads ?? [1, 2, 4, 8, 16, "auto" as const];
      const result = await Effect.runPromise(
        runMtcopy(total, sizes, policies, o.runs ?? 5, progress),
      );
      publish(
        "mtcopy",
        result,
        formatMtcopy(result.results),
        result.results.cells.every((c) => c.intact),
      );
      return;
    }
    case "dcbm": {
      const o = invocation.options;
      const total = o.total ?? 1 << 30;
      const engines = o.engines ?? availableParallelism();
      if (engines > 64) return fail("--engines must be at most 64");
      const sizes = o.sizes ?? [4096, 65536, 2 << 20];
      checkFolioSizes(sizes, total);
      const device = { engines, completion: o.completion ?? "interrupt" } as const;
      const result = await Effect.runPromise(
        runDcbm(total, sizes, o.channels ?? [1, 2, 4, 8, 12, 16], o.runs ?? 5, device, progress),
      );
      publish(
        "dcbm",
        result,
        formatDcbm(result.results),
        result.results.cells.every((c) => c.intact),
      );
      return;
    }
    case "compaction": {
      const o = invocation.options;
      const nodeBytes = o.nodeSize ?? (o.quick ? 64 << 20 : 256 << 20);
      if (nodeBytes % (4 << 20) !== 0) return fail("--node-size must be a multiple of 4M");
      const threads = o.threads ?? 2;
      if (threads > 64) return fail("--threads must be at most 64");
      const channels = o.channels ?? 4;
      if (channels > 16) return fail("--channels must be at most 16");
      const result = await Effect.runPromise(
        runCompaction(
          nodeBytes,
          threads,
          channels,
          o.runs ?? (o.quick ? 3 : 5),
          o.hogs ?? defaultHogs(),
          progress,
        ),
      );
      publish(
        "compaction",
        result,
        formatCompaction(result.results),
        result.results.rows.every((row) => row.intact),
      );
      await chart("compaction", compactionChart(result.results));
      return;
    }
    case "tiering": {
      const o = invocation.options;
      const threads = o.threads ?? 2;
      if (threads > 64) return fail("--threads must be at most 64");
      const channels = o.channels ?? 4;
      if (channels > 16) return fail("--channels must be at most 16");
      const base = o.quick ? QUICK_TIERING : FULL_TIERING;
      const config: TieringConfig = {
        ...base,
        rateLimitMBps: o.rateLimit ?? base.rateLimitMBps,
        runs: o.runs ?? base.runs,
        threads,
        channels,
      };
      const result = await Effect.runPromise(runTiering(config, progress));
      publish(
        "tiering",
        result,
        formatTiering(result.results),
        result.results.rows.every((row) => row.intact),
      );
      await chart("tiering", tieringChart(result.results));
      return;
    }
    case "cpu": {
      const o = invocation.options;
      const total = o.total ?? (o.quick ? 256 << 20 : 1 << 30);
      const engines = o.engines ?? Math.max(1, availableParallelism() - 1);
      if (engines > 64) return fail("--engines must be at most 64");
      const channels = o.channels ?? [16];
      if (channels.length !== 1) return fail("cpu takes one --channels count");
      if (total % (2 << 20) !== 0) return fail("--total must be a multiple of 2M");
      const device = { engines, completion: o.completion ?? "interrupt" } as const;
      const result = await Effect.runPromise(
        runCpu(total, channels[0]!, o.runs ?? (o.quick ? 3 : 5), device, progress),
      );
      publish(
        "cpu",
        result,
        formatCpu(result.results),
        result.results.rows.every((row) => row.intact),
      );
      return;
    }
    case "registry": {
      const o = invocation.options;
      const result = await Effect.runPromise(
        runRegistry(o.total ?? 256 << 20, o.runs ?? 5, progress),
      );
      publish("registry", result, formatRegistry(result.results));
      return;
    }
    case "soak": {
      const o = invocation.options;
      const quick = o.quick === true;
      const nodeBytes = o.nodeSize ?? (quick ? 64 : 256) << 20;
      const moveBytes = o.total ?? (quick ? 16 : 64) << 20;
      if (moveBytes % 4096 !== 0 || moveBytes > nodeBytes / 2) {
        return fail(`--total must be whole pages and at most half of --node-size`);
      }
      const config = {
        rounds: o.rounds ?? (quick ? 5 : 50),
        nodeBytes,
        moveBytes,
        copiers: Object.keys(SOAK_COPIERS),
      };
      const result = await Effect.runPromise(runSoak(config, progress));
      publish("soak", result, formatSoak(result.results), result.results.ok);
      return;
    }
    case "sysfs-fuzz": {
      const o = invocation.options;
      const result = await runSysfsFuzz({ writes: o.writes ?? 10_000, seed: o.seed }, progress);
      stderrProgress.stop();
      publish(
        "sysfs-fuzz",
        result,
        formatSysfsFuzz(result.results),
        sysfsFuzzClean(result.results),
      );
      return;
    }
    case "conformance": {
      const o = invocation.options;
      const extra = await userMigrators(o.migrator);
      const names = o.migrators ?? (extra.length > 0 ? [] : Object.keys(CONFORMANCE_SUBJECTS));
      for (const name of names) {
        if (!(name in CONFORMANCE_SUBJECTS))
          return fail(
            `--migrators: unknown migrator ${JSON.stringify(name)}; the migrators are ${Object.keys(CONFORMANCE_SUBJECTS).join(", ")}`,
          );
      }
      const result = await runConformance(
        names,
        o.cases ?? 1000,
        o.runs ?? 1,
        progress,
        o.hangMs,
        extra,
      );
      publish("conformance", result, formatConformance(result.results));
      return;
    }
    case "count": {
      const o = invocation.options;
      const counts =
        o.counts ??
        (o.quick ? [1, 8, 64] : COUNT_SWEEP.filter((n) => countCellBytes(n) <= totalmem() / 2));
      for (const n of counts) {
        if (countCellBytes(n) > totalmem() * 0.8)
          return fail(
            `--counts: ${n} folios of 2 MiB need ${formatBytes(countCellBytes(n))} for two nodes, more than 80 % of this machine's ${formatBytes(totalmem())}`,
          );
      }
      const extra = await userMigrators(o.migrator);
      const runs = o.runs ?? (o.quick ? 3 : 5);
      const repeat = o.repeat ?? (o.quick ? 1 : 3);
      const result = await stoppably(() =>
        Effect.runPromise(runCount(counts, runs, stop, progress, extra, repeat)),
      );
      if (!reportGrid("count", result, "2 MiB folios")) process.exitCode = 1;
      const r = result.results;
      warn(gridWarnings(r));
      await chart(
        "count",
        throughputChart(
          "move_pages throughput by folio count, 2 MiB folios",
          "2 MiB folios per call",
          countChartPoints(r),
          memcpyReferenceLines(
            r.memcpyOneThreadGbps,
            r.memcpyAllThreadsGbps,
            r.threadsOfAllThreadMemcpy,
          ),
        ),
      );
      return;
    }
    case "base64k": {
      const o = invocation.options;
      const total = o.total ?? (o.quick ? 64 << 20 : 256 << 20);
      if (total % (2 << 20) !== 0) return fail("--total must be a multiple of 2M");
      const threads = o.threads ?? (o.quick ? [2] : [1, 2, 4, 8]);
      const runs = o.runs ?? (o.quick ? 3 : 5);
      const result = await stoppably(() =>
        Effect.runPromise(runBase64k(total, threads, runs, stop, progress)),
      );
      if (!reportGrid("base64k", result, "64 KiB base pages")) process.exitCode = 1;
      warn(gridWarnings(result.results));
      return;
    }
    case "amdahl": {
      const o = invocation.options;
      const result = await Effect.runPromise(runAmdahl(o.runs ?? (o.quick ? 7 : 51), progress));
      publish(
        "amdahl",
        result,
        formatAmdahl(result.results),
        result.results.rows.every((row) => row.intact),
      );
      return;
    }
    case "latency": {
      const o = invocation.options;
      const total = o.total ?? (o.quick ? 64 << 20 : 512 << 20);
      if (total % (2 << 20) !== 0) return fail("--total must be a multiple of 2M");
      const batches = o.batchPages ?? (o.quick ? [512, 32768] : [512, 4096, 32768, 262144]);
      const copiers: Array<[string, MigratorSubject | undefined]> = [
        ["serial", undefined],
        ...(o.quick ? [] : [["mtcopy 2", mtcopyCopier(2)] as [string, MigratorSubject]]),
        ["dcbm 4", dcbmCopier(4)],
      ];
      const runs = o.runs ?? (o.quick ? 3 : 5);
      const result = await Effect.runPromise(runLatency(total, batches, copiers, runs, progress));
      publish(
        "latency",
        result,
        formatLatency(result.results),
        result.results.rows.every((row) => row.intact),
      );
      return;
    }
    case "scaling": {
      const o = invocation.options;
      const lanes = o.quick ? [1, 4, 16] : [1, 2, 4, 8, 16];
      const config: SizesConfig = {
        // 256 MiB a call: source and destination together pass a server's last-level cache, so
        // no copier is measured copying from cache against a memcpy line measured beyond it.
        total: o.total ?? (o.quick ? 32 << 20 : 256 << 20),
        sizes: [4096, 2 << 20],
        threads: lanes,
        channels: lanes,
        runs: o.runs ?? 3,
      };
      checkFolioSizes(config.sizes, config.total);
      process.stdout.write(
        `${availableParallelism()} CPUs: with more threads or channels than CPUs this shows oversubscription, not scaling.\n\n`,
      );
      const r = await sweepSizes(config, progress, [], "scaling");
      if (!r.cells.every((c) => c.intact)) process.exitCode = 1;
      if (!r.complete) process.exitCode = 130;
      return;
    }
    case "whatif": {
      const o = invocation.options;
      const files = o.profile
        ? [resolve(userCwd(), o.profile)]
        : SEED_PROFILES.map((name) =>
            fileURLToPath(new URL(`../profiles/${name}.json`, import.meta.url)),
          );
      const results = files.map((path) => {
        let file: ProfileFile;
        try {
          file = readProfileFile(path);
        } catch (e) {
          return fail(`--profile ${path}: ${(e as Error).message}`);
        }
        const tables = file.tables.map((id) =>
          predictTable(
            file.profile,
            seedTable(id),
            file.fittedOn,
            file.dmaMapping,
            file.sourceCache,
          ),
        );
        process.stdout.write(`${formatWhatif(file, tables)}\n\n`);
        const evidence = missEvidence(tables);
        process.stdout.write(`${formatMissEvidence(evidence)}\n\n`);
        const copyShare = predictsShare(file, V3_COPY_SHARE)
          ? predictCopyShare(file.profile, V3_COPY_SHARE, file.fittedOn, file.sourceCache)
          : undefined;
        if (copyShare) process.stdout.write(`${formatCopyShare(V3_COPY_SHARE, copyShare)}\n\n`);
        const compaction =
          file.compaction && predictsCompaction(file, V4_COMPACTION)
            ? predictCompactionTable(
                file.profile,
                V4_COMPACTION,
                file.compaction,
                file.fittedOn,
                dmaDescriptorCount(file.dmaMapping, V4_COMPACTION.pageSize),
              )
            : undefined;
        if (compaction && file.compaction)
          process.stdout.write(
            `${formatCompactionPrediction(V4_COMPACTION, compaction, file.compaction)}\n\n`,
          );
        return {
          path,
          profile: file.profile,
          ...(file.dmaMapping ? { dmaMapping: file.dmaMapping } : {}),
          ...(file.sourceCache ? { sourceCache: file.sourceCache } : {}),
          fittedOn: file.fittedOn,
          parameters: file.parameters,
          tables,
          summary: whatifSummary(tables),
          missEvidence: evidence,
          ...(copyShare ? { copyShare } : {}),
          ...(compaction ? { compaction } : {}),
        };
      });
      const revisions = revisionTables();
      const drops = countDrops(SEED_TABLES);
      // Only profiles that predict a table the other revision publishes too.
      const paired = new Set(REVISION_PAIRS.flat());
      const misses = results
        .filter((r) => r.tables.some((t) => paired.has(t.table.id)))
        .map((r) => ({ profile: r.profile.name, ...missesOnDisputedCells(r.tables, revisions) }));
      process.stdout.write(`${formatReproducibility(revisions, drops, misses)}\n`);
      save(
        "whatif",
        envelope(
          "whatif",
          { profiles: files },
          {
            profiles: results,
            reproducibility: {
              tables: revisions,
              summary: revisionSummary(revisions),
              countDrops: drops,
              misses,
            },
          },
        ),
      );
      return;
    }
    case "all": {
      const { quick, out } = invocation.options;
      for (const experiment of ["sizes", "count", "cpu", "amdahl", "latency", "base64k"] as const) {
        if (interrupted) break;
        process.stdout.write(`\n## ${experiment}${quick ? " --quick" : ""}\n\n`);
        await runExperiment({ experiment, options: { quick, out } });
      }
      return;
    }
  }
};

/**
 * Parses the command line and runs the experiment. A refused command line exits with 2: a parse
 * error after the experiment's help (written by effect/cli), a combination the experiment cannot
 * run with `error: <why>` and where to look.
 */
const main = async (): Promise<void> => {
  const args = process.argv.slice(2);
  let experiment = args[0] ?? "";
  const command = benchCommand((invocation) => {
    experiment = invocation.experiment;
    return Effect.tryPromise({ try: () => runExperiment(invocation), catch: (e) => e });
  });
  const exit = await Effect.runPromiseExit(
    Command.runWith(command, { version: "0.1.0" })(args).pipe(Effect.provide(cliEnvironment(args))),
  );
  if (Exit.isSuccess(exit)) return;
  const error = Cause.squash(exit.cause);
  if (CliError.isCliError(error)) {
    // effect/cli has printed the help and the reason; no experiment given is a refusal too.
    process.exitCode = 2;
    return;
  }
  if (error instanceof UsageError || error instanceof MigratorModuleError) {
    process.stderr.write(`error: ${error.message}\n(see: ${PROGRAM} ${experiment} --help)\n`);
    process.exitCode = 2;
    return;
  }
  throw error;
};

await main();
