/**
 * The benchmark CLI: `migrate-offload-bench <experiment> [options]`.
 */

import { availableParallelism, totalmem } from "node:os";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { parseSize as parseKernelSize } from "@migrate-offload/core";
import type { MigratorSubject } from "@migrate-offload/core/testing";
import { dcbmConformanceSubject } from "@migrate-offload/dcbm/testing";
import { mtcopyConformanceSubject } from "@migrate-offload/mtcopy/testing";
import { Effect } from "effect";
import type { TopLevelSpec } from "vega-lite";
import { throughputChart, writeSvg } from "./chart";
import { CONFORMANCE_SUBJECTS, formatConformance, runConformance } from "./conformance";
import {
  COUNT_SWEEP,
  countCellBytes,
  countChartPoints,
  formatGrid,
  type GridResults,
  runBase64k,
  runCount,
} from "./count";
import { formatCpu, formatDcbm, runCpu, runDcbm } from "./dcbm";
import { formatDemo, runDemo } from "./demo";
import { formatMemModel, runMemModel } from "./memmodel";
import { formatMovePages, runMovePages, SEED_FOLIO_SIZES } from "./movepages";
import { formatMtcopy, runMtcopy } from "./mtcopy";
import { formatAmdahl, formatLatency, runAmdahl, runLatency } from "./probes";
import { type OnProgress, StderrProgress } from "./progress";
import { formatRegistry, runRegistry } from "./registry";
import { formatBytes, writeJson } from "./report";
import {
  formatSizes,
  runSizes,
  type SizesConfig,
  type SizesResults,
  sizesChartPoints,
} from "./sizes";
import { formatSoak, runSoak, SOAK_COPIERS } from "./soak";
import { formatSysfsFuzz, runSysfsFuzz, sysfsFuzzClean } from "./sysfs_fuzz";

const USAGE = `usage: migrate-offload-bench <experiment> [options]

experiments:
  demo        the main job: boot a 2-node kernel, fault memory in, move it with move_pages and
              check every byte; then the quick sizes and cpu runs with both drivers, their
              tables, and the chart
                --node-size <size>   memory per node (default 512M)
  sizes       move_pages throughput by folio size: serial, mtcopy by threads, dcbm by channels,
              against raw memcpy; writes a chart (<out>/sizes.svg); Ctrl-C keeps what it measured
                --quick              64M, sizes 4K,64K,2M, mtcopy 2, dcbm 4, 3 runs (under a minute)
                --total <size>       memory moved per call (default 256M)
                --sizes <list>       folio sizes (default 4K,16K,64K,256K,1M,2M)
                --threads <list>     mtcopy thread counts (default 1,2,4,8,16)
                --channels <list>    dcbm channel counts (default 1,2,4,8,16)
                --runs <n>           timed samples per cell (default 5)
  memmodel    struct page bytes per base page and kernel boot time
                --node-size <size>   memory per node (default 1G); 2 nodes
                --page-size <bytes>  4096 (default) or 65536
                --runs <n>           boots to time (default 7)
  movepages   move_pages() throughput by folio size, against raw memcpy (v4 table 1a)
                --total <size>       memory moved per call (default 1G)
                --sizes <list>       folio sizes (default 4K,16K,64K,256K,1M,2M)
                --runs <n>           timed samples per size (default 5)
                --batch-pages <n>    NR_MAX_BATCHED_MIGRATION (default 512, HPAGE_PMD_NR)

  registry    the copy-offload registry's cost: idle fast path vs serial, SRCU + dispatch per batch
                --total <size>       memory moved per call (default 256M)
                --runs <n>           timed samples per configuration and round (default 5)

  mtcopy      move_pages with CPU_MT_COPY by thread count and auto, vs serial and raw memcpy
                --total <size>       memory moved per call (default 256M)
                --sizes <list>       folio sizes (default 4K,64K,2M)
                --threads <list>     thread policies (default 1,2,4,8,16,auto)
                --runs <n>           timed samples per cell (default 5)

  dcbm        move_pages with the DCBM migrator by channel count, vs serial and raw memcpy
                --total <size>       memory moved per call (default 1G)
                --sizes <list>       folio sizes (default 4K,64K,2M)
                --channels <list>    channels per batch (default 1,2,4,8,12,16)
                --engines <n>        engine threads behind the 16 channels (default: CPUs)
                --completion <mode>  interrupt (default) or polling
                --runs <n>           timed samples per cell (default 5)

  cpu         a CPU hog on the initiating thread while serial and dcbm move 2M folios
                --quick              256M and 3 runs
                --total <size>       memory moved per call (default 1G)
                --channels <n>       channels per batch (default 16)
                --engines <n>        engine threads (default: CPUs less one, at least 1)
                --completion <mode>  interrupt (default) or polling
                --runs <n>           timed calls per copier (default 5)

  count       move_pages throughput by folio count at 2 MiB: serial, mtcopy 1, dcbm 1 (v4 table 2);
              writes a chart (<out>/count.svg); Ctrl-C keeps what it measured
                --quick              counts 1,8,64 and 3 runs
                --counts <list>      folios per call (default: 1,8,64,256,1024,2048,4096,8192,
                                     those whose two nodes fit in half the machine's memory;
                                     at most 8192, and what fits in 80 % of it)
                --runs <n>           timed samples per cell (default 11)
  amdahl      the share of move_pages time spent copying, 1 and 512 folios of 4K and 2M, and the
              speedup it bounds (v3 cover letter)
                --quick              7 runs
                --runs <n>           timed calls per case, after a warm-up (default 51)
  latency     first-folio latency against NR_MAX_BATCHED_MIGRATION: how long the first folio of
              a batch stays unmapped, serial, mtcopy 2 and dcbm 4 at 2 MiB
                --quick              64M, batches 512,32768, serial and dcbm 4, 3 runs
                --total <size>       memory moved per call (default 512M)
                --batch-pages <list> batch sizes in base pages (default 512,4096,32768,262144)
                --runs <n>           timed samples per cell (default 5)
  base64k     64 KiB base pages: 64 KiB folios and 2 MiB mTHP, vanilla and mtcopy by threads
              (Zi Yan's Grace tables); Ctrl-C keeps what it measured
                --quick              64M, mtcopy 2, 3 runs
                --total <size>       memory moved per call (default 256M)
                --threads <list>     mtcopy thread counts (default 1,2,4,8)
                --runs <n>           timed samples per cell (default 5)
  all         sizes, count, cpu, amdahl, latency and base64k, one after another
                --quick              each with --quick: under a minute in all

  soak        boots, uses and shuts down kernels with each copier (serial, mtcopy, dcbm in order
              and out of order), one engine fault a round, every byte checked; prints memory at
              start, peak and end and ends with "soak: leaked <n> MiB, <k> threads"
                --rounds <n>         kernels per copier (default 50)
                --node-size <size>   memory per node (default 256M); 2 nodes
                --total <size>       memory moved each round (default 64M)
                --quick              5 rounds, 64M nodes, 16M moved

  sysfs-fuzz  writes valid values and junk to every writable sysfs and procfs file of a kernel
              with mtcopy and dcbm loaded, with migrations between (fast-check): every write a
              success or a typed errno, nothing changed by a refusal, every byte intact, and a
              clean consistency check
                --writes <n>         writes, in runs of 50 on fresh kernels (default 10000)
                --seed <n>           fast-check's seed (default: a fresh one, printed)

  conformance the testkit's verifyMigrator: generated cases per second, per migrator
                --migrators <list>   serial_copy,reverse_copy,mtcopy,dcbm (default: all)
                --cases <n>          cases per call (default 1000)
                --runs <n>           calls per migrator (default 1)
                --hang-ms <ms>       how long mtcopy and dcbm wait on a hung engine (default
                                     200 and 100, as their tests do)

common options:
  --out <dir>   where JSON results go (default bench-results)
  -h, --help    this text`;

const fail = (message: string): never => {
  process.stderr.write(`error: ${message}\n\n${USAGE}\n`);
  process.exit(2);
};

/** Where an experiment's file goes: under `--out`, relative to where the command was run. */
const outPath = (file: string): string =>
  resolve(process.env.INIT_CWD ?? process.cwd(), parsedOut, file);
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

/** Parses a size option, or reports it as a usage error. */
const parseSize = (text: string): number => {
  const bytes = parseKernelSize(text);
  return typeof bytes === "number"
    ? bytes
    : fail(`bad size ${JSON.stringify(text)}: ${bytes.message}`);
};

/** The `sizes` presets. */
const QUICK_SIZES: SizesConfig = {
  total: 64 << 20,
  sizes: [4096, 65536, 2 << 20],
  threads: [2],
  channels: [4],
  runs: 3,
};
const FULL_SIZES: SizesConfig = {
  total: 256 << 20,
  sizes: [4096, 16384, 65536, 262144, 1 << 20, 2 << 20],
  threads: [1, 2, 4, 8, 16],
  channels: [1, 2, 4, 8, 16],
  runs: 5,
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

/** Runs the size sweep; prints the table, writes the JSON and the chart, and says where. */
const sweepSizes = async (config: SizesConfig, progress: OnProgress): Promise<SizesResults> => {
  const result = await stoppably(() => Effect.runPromise(runSizes(config, stop, progress)));
  const r = result.results;
  publish("sizes", result, formatSizes(r));
  await chart(
    "sizes",
    throughputChart(
      `move_pages throughput by folio size, ${formatBytes(config.total)} per call`,
      "folio size (KiB)",
      sizesChartPoints(r),
      r.memcpyAllThreadsGbps.median,
      `raw memcpy, ${r.threadsOfAllThreadMemcpy} threads`,
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

const main = async (): Promise<void> => {
  let parsed: ReturnType<typeof parse>;
  const parse = () =>
    parseArgs({
      allowPositionals: true,
      options: {
        "node-size": { type: "string" },
        "page-size": { type: "string" },
        runs: { type: "string" },
        total: { type: "string" },
        sizes: { type: "string" },
        "batch-pages": { type: "string" },
        "hang-ms": { type: "string" },
        threads: { type: "string" },
        channels: { type: "string" },
        engines: { type: "string" },
        completion: { type: "string" },
        migrators: { type: "string" },
        quick: { type: "boolean" },
        counts: { type: "string" },
        cases: { type: "string" },
        rounds: { type: "string" },
        writes: { type: "string" },
        seed: { type: "string" },
        out: { type: "string", default: "bench-results" },
        help: { type: "boolean", short: "h" },
      },
    });
  try {
    parsed = parse();
  } catch (error) {
    return fail((error as Error).message);
  }
  const { values, positionals } = parsed;
  parsedOut = values.out;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const [experiment, ...extra] = positionals;
  if (!experiment) return fail("no experiment named");
  if (extra.length > 0) return fail(`unexpected arguments: ${extra.join(" ")}`);
  const positiveInt = (name: string, text: string | undefined, fallback: number) => {
    if (text === undefined) return fallback;
    const n = Number(text);
    return Number.isInteger(n) && n > 0
      ? n
      : fail(`--${name} must be a positive integer, not ${JSON.stringify(text)}`);
  };
  const progress = stderrProgress.report;
  const list = (name: string, text: string, max: number) =>
    text.split(",").map((t) => {
      const n = Number(t);
      return Number.isInteger(n) && n >= 1 && n <= max
        ? n
        : fail(`--${name}: ${JSON.stringify(t)} is not 1..${max}`);
    });
  const runOne = async (experiment: string): Promise<void> => {
    switch (experiment) {
      case "demo": {
        const nodeBytes = parseSize(values["node-size"] ?? "512M");
        const report = await Effect.runPromise(runDemo(nodeBytes));
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
        const base = values.quick ? QUICK_SIZES : FULL_SIZES;
        const config: SizesConfig = {
          total: values.total ? parseSize(values.total) : base.total,
          sizes: values.sizes ? values.sizes.split(",").map(parseSize) : base.sizes,
          threads: values.threads ? list("threads", values.threads, 64) : base.threads,
          channels: values.channels ? list("channels", values.channels, 16) : base.channels,
          runs: positiveInt("runs", values.runs, base.runs),
        };
        checkFolioSizes(config.sizes, config.total);
        const r = await sweepSizes(config, progress);
        if (!r.cells.every((c) => c.intact)) process.exitCode = 1;
        if (!r.complete) process.exitCode = 130;
        return;
      }
      case "memmodel": {
        const nodeBytes = parseSize(values["node-size"] ?? "1G");
        const pageSize = positiveInt("page-size", values["page-size"], 4096);
        const runs = positiveInt("runs", values.runs, 7);
        const result = await Effect.runPromise(
          runMemModel({ nodes: [nodeBytes, nodeBytes], pageSize }, runs),
        );
        publish("memmodel", result, formatMemModel(result.results));
        return;
      }
      case "movepages": {
        const total = parseSize(values.total ?? "1G");
        const sizes = values.sizes ? values.sizes.split(",").map(parseSize) : SEED_FOLIO_SIZES;
        checkFolioSizes(sizes, total);
        const runs = positiveInt("runs", values.runs, 5);
        const batchPages = positiveInt("batch-pages", values["batch-pages"], 512);
        const result = await Effect.runPromise(
          runMovePages(total, sizes, runs, progress, batchPages),
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
        const total = parseSize(values.total ?? "256M");
        const sizes = (values.sizes ?? "4K,64K,2M").split(",").map(parseSize);
        checkFolioSizes(sizes, total);
        const policies = (values.threads ?? "1,2,4,8,16,auto").split(",").map((t) => {
          if (t === "auto") return "auto" as const;
          const n = Number(t);
          return Number.isInteger(n) && n >= 1 && n <= 64
            ? n
            : fail(`--threads: ${JSON.stringify(t)} is not 1..64 or auto`);
        });
        const runs = positiveInt("runs", values.runs, 5);
        const result = await Effect.runPromise(runMtcopy(total, sizes, policies, runs, progress));
        publish(
          "mtcopy",
          result,
          formatMtcopy(result.results),
          result.results.cells.every((c) => c.intact),
        );
        return;
      }
      case "dcbm":
      case "cpu": {
        const quick = values.quick && experiment === "cpu";
        const total = parseSize(values.total ?? (quick ? "256M" : "1G"));
        const runs = positiveInt("runs", values.runs, quick ? 3 : 5);
        const completion = values.completion ?? "interrupt";
        if (completion !== "interrupt" && completion !== "polling") {
          return fail(
            `--completion must be interrupt or polling, not ${JSON.stringify(completion)}`,
          );
        }
        const cpus = availableParallelism();
        const engines = positiveInt(
          "engines",
          values.engines,
          experiment === "cpu" ? Math.max(1, cpus - 1) : cpus,
        );
        if (engines > 64) return fail("--engines must be at most 64");
        const channelCounts = (values.channels ?? (experiment === "cpu" ? "16" : "1,2,4,8,12,16"))
          .split(",")
          .map((t) => {
            const n = Number(t);
            return Number.isInteger(n) && n >= 1 && n <= 16
              ? n
              : fail(`--channels: ${JSON.stringify(t)} is not 1..16`);
          });
        const device = { engines, completion } as const;
        if (experiment === "cpu") {
          if (channelCounts.length !== 1) return fail("cpu takes one --channels count");
          if (total % (2 << 20) !== 0) return fail("--total must be a multiple of 2M");
          const result = await Effect.runPromise(
            runCpu(total, channelCounts[0]!, runs, device, progress),
          );
          publish(
            "cpu",
            result,
            formatCpu(result.results),
            result.results.rows.every((row) => row.intact),
          );
          return;
        }
        const sizes = (values.sizes ?? "4K,64K,2M").split(",").map(parseSize);
        checkFolioSizes(sizes, total);
        const result = await Effect.runPromise(
          runDcbm(total, sizes, channelCounts, runs, device, progress),
        );
        publish(
          "dcbm",
          result,
          formatDcbm(result.results),
          result.results.cells.every((c) => c.intact),
        );
        return;
      }
      case "registry": {
        const total = parseSize(values.total ?? "256M");
        const runs = positiveInt("runs", values.runs, 5);
        const result = await Effect.runPromise(runRegistry(total, runs, progress));
        publish("registry", result, formatRegistry(result.results));
        return;
      }
      case "soak": {
        const quick = values.quick === true;
        const nodeBytes = values["node-size"]
          ? parseSize(values["node-size"])
          : (quick ? 64 : 256) << 20;
        const moveBytes = values.total ? parseSize(values.total) : (quick ? 16 : 64) << 20;
        if (moveBytes % 4096 !== 0 || moveBytes > nodeBytes / 2) {
          return fail(`--total must be whole pages and at most half of --node-size`);
        }
        const config = {
          rounds: positiveInt("rounds", values.rounds, quick ? 5 : 50),
          nodeBytes,
          moveBytes,
          copiers: Object.keys(SOAK_COPIERS),
        };
        const result = await Effect.runPromise(runSoak(config, progress));
        publish("soak", result, formatSoak(result.results), result.results.ok);
        return;
      }
      case "sysfs-fuzz": {
        const writes = positiveInt("writes", values.writes, 10_000);
        const seed = values.seed === undefined ? undefined : Number(values.seed);
        if (seed !== undefined && !Number.isInteger(seed))
          return fail(`--seed must be an integer, not ${JSON.stringify(values.seed)}`);
        const result = await runSysfsFuzz({ writes, seed }, progress);
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
        const names = (values.migrators ?? Object.keys(CONFORMANCE_SUBJECTS).join(",")).split(",");
        for (const name of names) {
          if (!(name in CONFORMANCE_SUBJECTS))
            return fail(`--migrators: unknown migrator ${JSON.stringify(name)}`);
        }
        const cases = positiveInt("cases", values.cases, 1000);
        const runs = positiveInt("runs", values.runs, 1);
        const hangMs = values["hang-ms"] ? positiveInt("hang-ms", values["hang-ms"], 0) : undefined;
        const result = await runConformance(names, cases, runs, progress, hangMs);
        publish("conformance", result, formatConformance(result.results));
        return;
      }
      case "count": {
        const counts = values.counts
          ? list("counts", values.counts, 8192)
          : values.quick
            ? [1, 8, 64]
            : COUNT_SWEEP.filter((n) => countCellBytes(n) <= totalmem() / 2);
        for (const n of counts) {
          if (countCellBytes(n) > totalmem() * 0.8)
            return fail(
              `--counts: ${n} folios of 2 MiB need ${formatBytes(countCellBytes(n))} for two nodes, more than 80 % of this machine's ${formatBytes(totalmem())}`,
            );
        }
        const runs = positiveInt("runs", values.runs, values.quick ? 3 : 11);
        const result = await stoppably(() =>
          Effect.runPromise(runCount(counts, runs, stop, progress)),
        );
        if (!reportGrid("count", result, "2 MiB folios")) process.exitCode = 1;
        const r = result.results;
        await chart(
          "count",
          throughputChart(
            "move_pages throughput by folio count, 2 MiB folios",
            "2 MiB folios per call",
            countChartPoints(r),
            r.memcpyAllThreadsGbps.median,
            `raw memcpy, ${r.threadsOfAllThreadMemcpy} threads`,
          ),
        );
        return;
      }
      case "base64k": {
        const total = parseSize(values.total ?? (values.quick ? "64M" : "256M"));
        if (total % (2 << 20) !== 0) return fail("--total must be a multiple of 2M");
        const threads = values.threads
          ? list("threads", values.threads, 64)
          : values.quick
            ? [2]
            : [1, 2, 4, 8];
        const runs = positiveInt("runs", values.runs, values.quick ? 3 : 5);
        const result = await stoppably(() =>
          Effect.runPromise(runBase64k(total, threads, runs, stop, progress)),
        );
        if (!reportGrid("base64k", result, "64 KiB base pages")) process.exitCode = 1;
        return;
      }
      case "amdahl": {
        const runs = positiveInt("runs", values.runs, values.quick ? 7 : 51);
        const result = await Effect.runPromise(runAmdahl(runs, progress));
        publish(
          "amdahl",
          result,
          formatAmdahl(result.results),
          result.results.rows.every((row) => row.intact),
        );
        return;
      }
      case "latency": {
        const total = parseSize(values.total ?? (values.quick ? "64M" : "512M"));
        if (total % (2 << 20) !== 0) return fail("--total must be a multiple of 2M");
        const batches = values["batch-pages"]
          ? list("batch-pages", values["batch-pages"], 1 << 18)
          : values.quick
            ? [512, 32768]
            : [512, 4096, 32768, 262144];
        const copiers: Array<[string, MigratorSubject | undefined]> = [
          ["serial", undefined],
          ...(values.quick
            ? []
            : [
                ["mtcopy 2", mtcopyConformanceSubject({ threads: 2 })] as [string, MigratorSubject],
              ]),
          ["dcbm 4", dcbmConformanceSubject({ channels: 16 }, { nrDmaChan: 4 })],
        ];
        const runs = positiveInt("runs", values.runs, values.quick ? 3 : 5);
        const result = await Effect.runPromise(runLatency(total, batches, copiers, runs, progress));
        publish(
          "latency",
          result,
          formatLatency(result.results),
          result.results.rows.every((row) => row.intact),
        );
        return;
      }
      default:
        return fail(`unknown experiment ${JSON.stringify(experiment)}`);
    }
  };
  if (experiment !== "all") return runOne(experiment);
  for (const name of ["sizes", "count", "cpu", "amdahl", "latency", "base64k"]) {
    if (interrupted) break;
    process.stdout.write(`\n## ${name}${values.quick ? " --quick" : ""}\n\n`);
    await runOne(name);
  }
};

await main();
