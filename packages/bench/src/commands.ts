/**
 * The benchmark CLI's grammar: one command per experiment, each declaring the options it takes,
 * parsed by `effect/cli`. An option an experiment does not take is refused by name before
 * anything runs (`movepages --quick`: "Unrecognized flag: --quick in command
 * migrate-offload-bench movepages"); a value of the wrong shape is refused with the flag's name.
 * What the options mean is decided where the experiments run (`cli.ts`); an option left out
 * is `undefined`, and its default is the one its description states.
 */
import { parseSize } from "@migrate-offload/core";
import { Effect, FileSystem, Layer, Option, Path, Sink, Stdio, Stream, Terminal } from "effect";
import { CliConfig, CliOutput, Command, Flag, GlobalFlag } from "effect/cli";
import { ChildProcessSpawner } from "effect/process";

/** The program's name in usage lines. */
export const PROGRAM = "migrate-offload-bench";

/** Leaves a flag out to `undefined`. */
const optional = <A>(flag: Flag.Flag<A>): Flag.Flag<A | undefined> =>
  flag.pipe(Flag.optional, Flag.map(Option.getOrUndefined));

/** Bytes from a size with the kernel's suffixes (`4K`, `512M`, `1G`). */
const bytes = (text: string): number => {
  const value = parseSize(text);
  if (typeof value !== "number")
    throw new Error(`a size in bytes with K, M or G, such as 4K, 512M or 1G`);
  return value;
};

const reason = (error: unknown): string => (error as Error).message;

/** A size option: bytes, with K, M or G. */
const size = (name: string, description: string) =>
  optional(
    Flag.String(name).pipe(
      Flag.withMetavar("size"),
      Flag.mapTryCatch(bytes, reason),
      Flag.withDescription(description),
    ),
  );

/** A positive whole number. */
const count = (name: string, description: string) =>
  optional(
    Flag.Int(name).pipe(
      Flag.withMetavar("n"),
      Flag.filter(
        (n) => n > 0,
        (n) => `--${name} must be a positive integer, not ${n}`,
      ),
      Flag.withDescription(description),
    ),
  );

/** A comma-separated list of whole numbers from 1 to `max`. */
const numbers = (name: string, max: number, description: string) =>
  optional(
    Flag.String(name).pipe(
      Flag.withMetavar("list"),
      Flag.mapTryCatch(
        (text) =>
          text.split(",").map((t) => {
            const n = Number(t);
            if (!Number.isInteger(n) || n < 1 || n > max)
              throw new Error(
                `whole numbers 1..${max}, separated by commas; ${JSON.stringify(t)} is not one`,
              );
            return n;
          }),
        reason,
      ),
      Flag.withDescription(description),
    ),
  );

/** A comma-separated list of sizes. */
const sizes = (description: string) =>
  optional(
    Flag.String("sizes").pipe(
      Flag.withMetavar("list"),
      Flag.mapTryCatch((text) => text.split(",").map(bytes), reason),
      Flag.withDescription(description),
    ),
  );

const quick = (description: string) =>
  Flag.Boolean("quick").pipe(Flag.withDefault(false), Flag.withDescription(description));

const runs = (description: string) => count("runs", description);

/** Paired measurements per cell; the ratio to serial is the median of theirs. */
const repeat = (defaults: string) =>
  count(
    "repeat",
    `paired measurements per cell, each with its own warm-up; ÷ serial is the median of their ratios (default ${defaults}; 1 with --quick)`,
  );

const total = (defaults: string) =>
  size("total", `memory moved per call, bytes with K, M or G (default ${defaults})`);

const completion = optional(
  Flag.Literals("completion", ["interrupt", "polling"]).pipe(
    Flag.withDescription(
      "how the initiating thread learns a DMA batch is done (default interrupt)",
    ),
  ),
);

const engines = (defaults: string) =>
  count("engines", `engine threads behind the 16 DMA channels, at most 64 (default ${defaults})`);

/** `--migrator`, repeatable: a user's migrator module, measured beside the built-in copiers. */
const migrator = Flag.String("migrator").pipe(
  Flag.withMetavar("module"),
  Flag.atLeast(0),
  Flag.withDescription(
    "a migrator module to measure beside the others: a file path or package specifier, optionally #export; it exports a (kernel) => module definition, a defineMigratorModule result or a Migrator (repeatable)",
  ),
);

const out = optional(
  Flag.String("out").pipe(
    Flag.withMetavar("dir"),
    Flag.withDescription("where the JSON results and charts go (default bench-results)"),
  ),
);

/**
 * Every experiment: its summary (the command list), its description (`<experiment> --help`) and
 * the options it takes.
 */
export const EXPERIMENTS = {
  demo: {
    summary: "boot, move and check every byte; then sizes --quick and cpu --quick",
    description:
      "the main job: boot a 2-node kernel, fault memory in, move it with move_pages and check every byte; then the quick sizes and cpu runs with both drivers, their tables, and the chart",
    flags: { nodeSize: size("node-size", "memory per node, bytes (default 512M)"), out },
  },
  sizes: {
    summary: "move_pages GB/s by folio size: serial, mtcopy, dcbm, adaptive, --migrator; a chart",
    description:
      "move_pages throughput by folio size: serial, mtcopy by threads and adaptive (auto), dcbm by channels plain and adaptive, and any --migrator, against raw memcpy; writes <out>/sizes.svg; Ctrl-C keeps what it measured",
    flags: {
      quick: quick(
        "64M, sizes 4K,64K,2M, mtcopy 2 and adaptive, dcbm 4 plain and adaptive, 3 runs (under a minute)",
      ),
      total: total("256M; 64M with --quick"),
      sizes: sizes("folio sizes, bytes with K or M (default 4K,16K,64K,256K,1M,2M)"),
      threads: numbers("threads", 64, "mtcopy thread counts (default 1,2,4,8,16)"),
      channels: numbers("channels", 16, "dcbm channel counts (default 1,2,4,8,16)"),
      runs: runs(
        "timed samples per cell and repeat, of the copier and of serial (default 5; 3 with --quick)",
      ),
      repeat: repeat("3"),
      migrator,
      out,
    },
  },
  memmodel: {
    summary: "struct page bytes per base page and kernel boot time",
    description: "struct page bytes per base page and kernel boot time",
    flags: {
      nodeSize: size("node-size", "memory per node, bytes; 2 nodes (default 1G)"),
      pageSize: count("page-size", "base page size in bytes: 4096 (default) or 65536"),
      runs: runs("boots to time (default 7)"),
      out,
    },
  },
  movepages: {
    summary: "move_pages() GB/s by folio size, against raw memcpy (v4 table 1a)",
    description: "move_pages() throughput by folio size, against raw memcpy (v4 table 1a)",
    flags: {
      total: total("1G"),
      sizes: sizes("folio sizes, bytes with K or M (default 4K,16K,64K,256K,1M,2M)"),
      runs: runs("timed samples per size (default 5)"),
      batchPages: count(
        "batch-pages",
        "NR_MAX_BATCHED_MIGRATION, base pages (default 512, HPAGE_PMD_NR)",
      ),
      out,
    },
  },
  registry: {
    summary: "the copy-offload registry's cost: idle fast path, dispatch per batch",
    description:
      "the copy-offload registry's cost: idle fast path vs serial, SRCU + dispatch per batch",
    flags: {
      total: total("256M"),
      runs: runs("timed samples per configuration and round (default 5)"),
      out,
    },
  },
  mtcopy: {
    summary: "move_pages with mtcopy by thread count and auto",
    description: "move_pages with CPU_MT_COPY by thread count and auto, vs serial and raw memcpy",
    flags: {
      total: total("256M"),
      sizes: sizes("folio sizes, bytes with K or M (default 4K,64K,2M)"),
      threads: optional(
        Flag.String("threads").pipe(
          Flag.withMetavar("list"),
          Flag.mapTryCatch(
            (text) =>
              text.split(",").map((t) => {
                if (t === "auto") return "auto" as const;
                const n = Number(t);
                if (!Number.isInteger(n) || n < 1 || n > 64)
                  throw new Error(
                    `1..64 or auto, separated by commas; ${JSON.stringify(t)} is neither`,
                  );
                return n;
              }),
            reason,
          ),
          Flag.withDescription("thread policies, 1..64 or auto (default 1,2,4,8,16,auto)"),
        ),
      ),
      runs: runs("timed samples per cell (default 5)"),
      out,
    },
  },
  dcbm: {
    summary: "move_pages with dcbm by channel count",
    description: "move_pages with the DCBM migrator by channel count, vs serial and raw memcpy",
    flags: {
      total: total("1G"),
      sizes: sizes("folio sizes, bytes with K or M (default 4K,64K,2M)"),
      channels: numbers("channels", 16, "channels per batch (default 1,2,4,8,12,16)"),
      engines: engines("the CPUs"),
      completion,
      runs: runs("timed samples per cell (default 5)"),
      out,
    },
  },
  cpu: {
    summary: "a CPU hog on the initiating thread while serial and dcbm copy",
    description: "a CPU hog on the initiating thread while serial and dcbm move 2M folios",
    flags: {
      quick: quick("256M and 3 runs"),
      total: total("1G; 256M with --quick; a multiple of 2M"),
      channels: numbers("channels", 16, "channels per batch, one count (default 16)"),
      engines: engines("the CPUs less one, at least 1"),
      completion,
      runs: runs("timed calls per copier (default 5; 3 with --quick)"),
      out,
    },
  },
  count: {
    summary: "move_pages GB/s by folio count at 2 MiB (v4 table 2), plain and adaptive; a chart",
    description:
      "move_pages throughput by folio count at 2 MiB: serial, mtcopy 1, dcbm 1, mtcopy and dcbm 1 adaptive, and any --migrator (v4 table 2); writes <out>/count.svg; Ctrl-C keeps what it measured",
    flags: {
      quick: quick("counts 1,8,64 and 3 runs"),
      counts: numbers(
        "counts",
        8192,
        "folios per call (default 1,8,64,256,1024,2048,4096,8192, those whose two nodes fit in half the machine's memory; each must fit in 80 % of it)",
      ),
      runs: runs(
        "timed samples per cell and repeat, of the copier and of serial (default 5; 3 with --quick)",
      ),
      repeat: repeat("3"),
      migrator,
      out,
    },
  },
  amdahl: {
    summary: "the share of move_pages time spent copying, and the speedup it bounds",
    description:
      "the share of move_pages time spent copying, 1 and 512 folios of 4K and 2M, and the speedup it bounds (v3 cover letter)",
    flags: {
      quick: quick("7 runs"),
      runs: runs("timed calls per case, after a warm-up (default 51; 7 with --quick)"),
      out,
    },
  },
  latency: {
    summary: "how long the first folio of a batch stays unmapped, by batch size",
    description:
      "first-folio latency against NR_MAX_BATCHED_MIGRATION: how long the first folio of a batch stays unmapped, serial, mtcopy 2 and dcbm 4 at 2 MiB",
    flags: {
      quick: quick("64M, batches 512,32768, serial and dcbm 4, 3 runs"),
      total: total("512M; 64M with --quick; a multiple of 2M"),
      batchPages: numbers(
        "batch-pages",
        1 << 18,
        "batch sizes, base pages (default 512,4096,32768,262144)",
      ),
      runs: runs("timed samples per cell (default 5; 3 with --quick)"),
      out,
    },
  },
  base64k: {
    summary: "64 KiB base pages: 64 KiB folios and 2 MiB mTHP, vanilla and mtcopy",
    description:
      "64 KiB base pages: 64 KiB folios and 2 MiB mTHP, vanilla and mtcopy by threads (Zi Yan's Grace tables); Ctrl-C keeps what it measured",
    flags: {
      quick: quick("64M, mtcopy 2, 3 runs"),
      total: total("256M; 64M with --quick; a multiple of 2M"),
      threads: numbers("threads", 64, "mtcopy thread counts (default 1,2,4,8)"),
      runs: runs("timed samples per cell (default 5; 3 with --quick)"),
      out,
    },
  },
  compaction: {
    summary: "compact a fragmented node: serial, mtcopy, dcbm, alone and beside a CPU hog",
    description:
      "the v4 follow-up: fragment a node, compact it through node1/compact with the kernel's copy, mtcopy and dcbm, alone and beside hog threads on every CPU; wall time, the initiating thread's CPU time, time in offload_copy, pages migrated, free order >= 9 blocks before and after, the hog's progress against running alone; writes <out>/compaction.svg",
    flags: {
      quick: quick("64M nodes, 3 runs"),
      nodeSize: size(
        "node-size",
        "memory per node, bytes; 2 nodes (default 256M; 64M with --quick)",
      ),
      threads: count("threads", "mtcopy threads, at most 64 (default 2)"),
      channels: count("channels", "dcbm channels, at most 16 (default 4)"),
      hogs: count("hogs", "hog threads beside the compaction (default: one per CPU)"),
      runs: runs("compactions per copier and load, after a warm-up (default 5; 3 with --quick)"),
      out,
    },
  },
  tiering: {
    summary:
      "memory tiering with a moving hot set: promotion, demotion, waits; serial, mtcopy, dcbm",
    description:
      "a DRAM node and a slow node (a lower memory tier), demotion and kswapd on, NUMA balancing in memory tiering mode (numa_balancing 2) with its promotion rate limit, and a process whose hot set moves every phase, on the live clock: per copier (the kernel's copy, mtcopy, dcbm) promoted MB/s against the rate limit, demotions, hint faults, how long hot pages wait on the slow tier, copy time charged to the task, thread CPU time and accesses per second against a run with numa_balancing 0; writes <out>/tiering.svg",
    flags: {
      quick: quick("16M DRAM, 48M process, 4M hot set, 3 phases of 1.5 s, 1 run (under a minute)"),
      rateLimit: count(
        "rate-limit",
        "numa_balancing_promote_rate_limit_MBps, MB/s (default 8; 4 with --quick)",
      ),
      threads: count("threads", "mtcopy threads, at most 64 (default 2)"),
      channels: count("channels", "dcbm channels, at most 16 (default 4)"),
      runs: runs(
        "rounds, each a run per copier and one with tiering off (default 5; 1 with --quick)",
      ),
      out,
    },
  },
  scaling: {
    summary: "mtcopy at 1–16 threads and dcbm at 1–16 channels, at 4 KiB and 2 MiB",
    description:
      "move_pages throughput of mtcopy by thread count and dcbm by channel count (1,2,4,8,16), at 4 KiB and 2 MiB folios, against serial and raw memcpy; on a machine with fewer CPUs than threads it shows oversubscription; Ctrl-C keeps what it measured",
    flags: {
      quick: quick("32M, counts 1,4,16, 3 runs (about a minute)"),
      total: total("256M; 32M with --quick"),
      runs: runs("timed samples per cell (default 3)"),
      out,
    },
  },
  whatif: {
    summary: "the copy-cost model's prediction of the seeds' tables, from a machine profile",
    description:
      "predicts the seeds' tables (v4 1a, 1b and 2; v3 1a, 1b, 1c and 2; Zi Yan's Grace tables) from a hardware profile with the copy-cost model, each cell beside the published number with its error; measures nothing",
    flags: {
      profile: optional(
        Flag.String("profile").pipe(
          Flag.withMetavar("file"),
          Flag.withDescription(
            "a copy-cost profile, JSON (see docs/cost-model.md); default: the shipped profiles of the seeds' machines, packages/bench/profiles/*.json",
          ),
        ),
      ),
      out,
    },
  },
  all: {
    summary: "sizes, count, cpu, amdahl, latency and base64k in turn",
    description: "sizes, count, cpu, amdahl, latency and base64k, one after another",
    flags: { quick: quick("each with --quick: under a minute in all"), out },
  },
  soak: {
    summary: "boot, use and shut down kernels with each copier; leaks reported",
    description:
      'boots, uses and shuts down kernels with each copier, one engine fault a round, every byte checked; prints memory at start, peak and end and ends with "soak: leaked <n> MiB, <k> threads"',
    flags: {
      rounds: count("rounds", "kernels per copier (default 50; 5 with --quick)"),
      nodeSize: size(
        "node-size",
        "memory per node, bytes; 2 nodes (default 256M; 64M with --quick)",
      ),
      total: size(
        "total",
        "memory moved each round, bytes; whole pages, at most half of --node-size (default 64M; 16M with --quick)",
      ),
      quick: quick("5 rounds, 64M nodes, 16M moved"),
      out,
    },
  },
  "sysfs-fuzz": {
    summary: "valid and junk writes to every writable sysfs and procfs file",
    description:
      "writes valid values and junk to every writable sysfs and procfs file of a kernel with mtcopy and dcbm loaded, with migrations between: every write a success or a typed errno, nothing changed by a refusal, every byte intact, a clean consistency check",
    flags: {
      writes: count("writes", "writes, in runs of 50 on fresh kernels (default 10000)"),
      seed: optional(
        Flag.Int("seed").pipe(
          Flag.withMetavar("n"),
          Flag.withDescription("fast-check's seed, an integer (default: a fresh one, printed)"),
        ),
      ),
      out,
    },
  },
  conformance: {
    summary: "the testkit's verifyMigrator: cases per second, per migrator",
    description:
      "the testkit's verifyMigrator: generated cases per second, per migrator, the built-in ones and any --migrator",
    flags: {
      migrators: optional(
        Flag.String("migrators").pipe(
          Flag.withMetavar("list"),
          Flag.map((text) => text.split(",")),
          Flag.withDescription(
            "built-in migrators: serial_copy,reverse_copy,mtcopy,dcbm (default: all; none of them when --migrator is given alone)",
          ),
        ),
      ),
      cases: count("cases", "generated cases per call (default 1000)"),
      migrator,
      runs: runs("calls per migrator (default 1)"),
      hangMs: count(
        "hang-ms",
        "mtcopy's copy deadline and dcbm's DMA timeout in ms, on the run's clock, which the harness moves past an injected hang (default 200 and 100, as their tests use)",
      ),
      out,
    },
  },
} as const;

/** An experiment's name. */
export type Experiment = keyof typeof EXPERIMENTS;

/** What an experiment's options parse to; a missing option is `undefined`. */
export type ExperimentOptions<K extends Experiment> = {
  readonly [F in keyof (typeof EXPERIMENTS)[K]["flags"]]: (typeof EXPERIMENTS)[K]["flags"][F] extends Flag.Flag<
    infer A
  >
    ? A
    : never;
};

/**
 * One parsed command line: the experiment and its options. Options may be partial: `all` runs
 * each experiment with `--quick` and `--out` alone.
 */
export type Invocation = {
  readonly [K in Experiment]: {
    readonly experiment: K;
    readonly options: Partial<ExperimentOptions<K>>;
  };
}[Experiment];

/**
 * The command tree: `migrate-offload-bench <experiment> [options]`, each parsed command line
 * handed to `run`.
 */
export const benchCommand = <E>(run: (invocation: Invocation) => Effect.Effect<void, E>) => {
  const experiments = Object.keys(EXPERIMENTS) as Experiment[];
  const commands = experiments.map((name) =>
    Command.make(name, EXPERIMENTS[name].flags, (options) =>
      run({ experiment: name, options } as Invocation),
    ).pipe(
      Command.withDescription(EXPERIMENTS[name].description),
      Command.withShortDescription(EXPERIMENTS[name].summary),
    ),
  );
  return Command.make(PROGRAM).pipe(
    Command.withDescription(
      "The seeds' experiments on the model, measured against raw memcpy. Results go to --out as JSON (and SVG charts); tables print as markdown. `<experiment> --help` lists an experiment's options.",
    ),
    Command.withSubcommands(commands as [(typeof commands)[0], ...typeof commands]),
  );
};

/**
 * The services `effect/cli` runs on, over this process: the command line `args`, help written
 * through `write` (stdout by default), the reasons a command line was refused through
 * `writeError` (stderr by default), and the terminal's width. Colours only on a terminal. The
 * one built-in global flag is `--help`. The CLI reads no files and spawns nothing, so those two
 * services refuse.
 */
export const cliEnvironment = (
  args: readonly string[],
  write?: (text: string) => void,
  writeError?: (text: string) => void,
) => {
  const out = write ?? ((text: string) => process.stdout.write(text));
  const err = writeError ?? ((text: string) => process.stderr.write(text));
  const formatter = CliOutput.defaultFormatter({
    colors: write === undefined && process.stdout.isTTY === true,
  });
  const sink = (put: (text: string) => void) => () =>
    // biome-ignore lint/suspicious/useIterableCallbackReturn: Sink.forEach's callback returns an Effect by design.
    Sink.forEach((chunk: string | Uint8Array) =>
      Effect.sync(() => {
        put(typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk));
      }),
    );
  const unused = Effect.die(new Error("the bench CLI does not read the terminal"));
  return Layer.mergeAll(
    // --help alone: no version, shell completions, log level or interactive wizard to offer.
    CliConfig.layer({ builtIns: [GlobalFlag.Help] }),
    CliOutput.layerPresenter({
      present: (event) =>
        Effect.sync(() => {
          switch (event._tag) {
            case "Help":
              out(`${formatter.formatHelpDoc(event.helpDoc)}\n`);
              return;
            case "InvalidInvocation":
              err(`${formatter.formatHelpDoc(event.helpDoc)}\n`);
              err(`${formatter.formatErrors(event.errors)}\n`);
              return;
            case "Version":
              out(`${formatter.formatVersion(event.name, event.version)}\n`);
              return;
          }
        }),
    }),
    FileSystem.layerNoop({}),
    Path.layer,
    Layer.succeed(
      Stdio.Stdio,
      Stdio.make({
        args: Effect.succeed(args),
        stdout: sink(out),
        stderr: sink(err),
        stdin: Stream.empty,
      }),
    ),
    Layer.succeed(
      Terminal.Terminal,
      Terminal.make({
        columns: Effect.sync(() => process.stdout.columns ?? 100),
        rows: Effect.sync(() => process.stdout.rows ?? 24),
        size: unused,
        readInput: unused,
        readLine: unused,
        display: (text) => Effect.sync(() => out(text)),
      }),
    ),
    Layer.succeed(
      ChildProcessSpawner.ChildProcessSpawner,
      ChildProcessSpawner.make(() => Effect.die(new Error("the bench CLI spawns nothing"))),
    ),
  );
};
