import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Kernel } from "@migrate-offload/core";
import { Cause, Effect, Exit } from "effect";
import { CliError, Command } from "effect/cli";
import { describe, expect, it } from "vitest";
import { benchCommand, cliEnvironment, EXPERIMENTS, type Invocation } from "../src/commands";
import { runCount } from "../src/count";
import { runSizes } from "../src/sizes";
import { loadUserMigrator } from "../src/user_migrator";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url));

/**
 * Parses a command line as the CLI does, running nothing: the invocation it would run, or the
 * messages of the errors it was refused with, and what it printed (help, errors).
 */
const parse = async (args: readonly string[]) => {
  const invocations: Invocation[] = [];
  let printed = "";
  const command = benchCommand((invocation) => Effect.sync(() => invocations.push(invocation)));
  const exit = await Effect.runPromiseExit(
    Command.runWith(command, { version: "0" })(args).pipe(
      Effect.provide(
        cliEnvironment(
          args,
          (text) => {
            printed += text;
          },
          (text) => {
            printed += text;
          },
        ),
      ),
    ),
  );
  const errors: string[] = [];
  if (Exit.isFailure(exit)) {
    const error = Cause.squash(exit.cause);
    expect(CliError.isCliError(error)).toBe(true);
    const cli = error as CliError.CliError;
    for (const e of cli._tag === "ShowHelp" ? cli.errors : [cli]) errors.push(e.message);
  }
  return { invocation: invocations[0], errors, printed, ok: Exit.isSuccess(exit) };
};

/**
 * Every command line the documentation, the README, the CI script and the root scripts give:
 * `pnpm bench <args>` and `pnpm demo`, without placeholders (`<experiment>`).
 */
const documented = (): string[][] => {
  const files = [
    "README.md",
    "CHANGELOG.md",
    ".ci/run",
    ...[
      "architecture.md",
      "benchmarks.md",
      "conformance.md",
      "dependencies.md",
      "reliability.md",
      "writing-a-migrator.md",
    ].map((f) => `docs/${f}`),
  ];
  const lines = new Set<string>();
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(`${root}${file}`, "utf8");
    } catch {
      continue;
    }
    for (const m of text.matchAll(/pnpm (?:run )?(bench|demo)\b([^`#|)\n]*)/g)) {
      const args = m[1] === "demo" ? `demo${m[2]}` : m[2]!;
      if (!args.includes("<")) lines.add(args.trim());
    }
  }
  const scripts = JSON.parse(readFileSync(`${root}package.json`, "utf8")).scripts;
  lines.add(scripts.demo.replace(/^.* run cli /, ""));
  return [...lines].filter((l) => l !== "").map((l) => l.split(/\s+/));
};

describe("the bench CLI's grammar", () => {
  it("accepts every documented command line", async () => {
    const lines = documented();
    // The documentation gives at least one command line per experiment.
    expect(new Set(lines.map((l) => l[0]))).toEqual(
      new Set([...Object.keys(EXPERIMENTS), "--help"]),
    );
    for (const args of lines) {
      const r = await parse(args);
      expect({ args, errors: r.errors }).toEqual({ args, errors: [] });
    }
  }, 60_000);

  it("parses options to their units: sizes to bytes, lists to numbers", async () => {
    expect(
      (
        await parse([
          "sizes",
          "--quick",
          "--total",
          "512M",
          "--sizes",
          "4K,2M",
          "--threads",
          "1,16",
          "--migrator",
          "a.ts",
          "--migrator",
          "b#m",
        ])
      ).invocation,
    ).toEqual({
      experiment: "sizes",
      options: {
        quick: true,
        total: 512 << 20,
        sizes: [4096, 2 << 20],
        threads: [1, 16],
        migrator: ["a.ts", "b#m"],
      },
    });
    expect(
      (await parse(["count", "--quick", "--counts", "64", "--repeat", "5"])).invocation,
    ).toEqual({
      experiment: "count",
      options: { quick: true, counts: [64], repeat: 5, migrator: [] },
    });
    expect((await parse(["conformance", "--cases", "200"])).invocation).toEqual({
      experiment: "conformance",
      options: { cases: 200, migrator: [] },
    });
    expect((await parse(["mtcopy", "--threads", "2,auto"])).invocation?.options).toEqual({
      threads: [2, "auto"],
    });
    expect(
      (
        await parse([
          "compaction",
          "--quick",
          "--node-size",
          "128M",
          "--threads",
          "4",
          "--channels",
          "8",
          "--hogs",
          "1",
        ])
      ).invocation,
    ).toEqual({
      experiment: "compaction",
      options: { quick: true, nodeSize: 128 << 20, threads: 4, channels: 8, hogs: 1 },
    });
    // compaction takes one mtcopy thread count and one dcbm channel count, not lists.
    expect((await parse(["compaction", "--threads", "1,2"])).ok).toBe(false);
    expect((await parse(["compaction", "--hogs", "0"])).errors.join("\n")).toContain(
      "--hogs must be a positive integer, not 0",
    );
    expect(
      (
        await parse([
          "tiering",
          "--quick",
          "--rate-limit",
          "16",
          "--threads",
          "4",
          "--channels",
          "8",
          "--runs",
          "3",
        ])
      ).invocation,
    ).toEqual({
      experiment: "tiering",
      options: { quick: true, rateLimit: 16, threads: 4, channels: 8, runs: 3 },
    });
    expect((await parse(["tiering", "--rate-limit", "0"])).errors.join("\n")).toContain(
      "--rate-limit must be a positive integer, not 0",
    );
    expect((await parse(["tiering", "--total", "16M"])).ok).toBe(false);
    expect((await parse(["scaling", "--quick", "--total", "16M"])).invocation).toEqual({
      experiment: "scaling",
      options: { quick: true, total: 16 << 20 },
    });
    expect(
      (await parse(["whatif", "--profile", "packages/bench/profiles/grace.json"])).invocation,
    ).toEqual({
      experiment: "whatif",
      options: { profile: "packages/bench/profiles/grace.json" },
    });
  });

  it.each([
    [
      ["movepages", "--quick"],
      "Unrecognized flag: --quick in command migrate-offload-bench movepages",
    ],
    [["demo", "--total", "1G"], "Unrecognized flag: --total in command migrate-offload-bench demo"],
    [
      ["memmodel", "--quick"],
      "Unrecognized flag: --quick in command migrate-offload-bench memmodel",
    ],
    [
      ["dcbm", "--migrator", "x.ts"],
      "Unrecognized flag: --migrator in command migrate-offload-bench dcbm",
    ],
    [["all", "--runs", "3"], "Unrecognized flag: --runs in command migrate-offload-bench all"],
    [["sizes", "--nope"], "Unrecognized flag: --nope in command migrate-offload-bench sizes"],
    [["nosuch"], 'Unknown subcommand "nosuch"'],
    [["count", "--counts", "0"], 'whole numbers 1..8192, separated by commas; "0" is not one'],
    [["count", "--counts", "8193"], '"8193" is not one'],
    [["count", "--runs", "two"], 'Invalid value for flag --runs: "two"'],
    [["count", "--runs", "0"], "--runs must be a positive integer, not 0"],
    [["sizes", "--repeat", "0"], "--repeat must be a positive integer, not 0"],
    [
      ["movepages", "--repeat", "3"],
      "Unrecognized flag: --repeat in command migrate-offload-bench movepages",
    ],
    [["sizes", "--total", "5Q"], 'Invalid value for flag --total: "5Q"'],
    [["cpu", "--completion", "never"], 'Invalid value for flag --completion: "never"'],
    [["mtcopy", "--threads", "2,most"], '"most" is neither'],
    [["whatif", "--quick"], "Unrecognized flag: --quick in command migrate-offload-bench whatif"],
    [["scaling", "--runs", "0"], "--runs must be a positive integer, not 0"],
    [["scaling", "--channels", "2"], "Unrecognized flag: --channels"],
  ])("refuses %j: %s", async (args, reason) => {
    const r = await parse(args);
    expect(r.ok).toBe(false);
    expect(r.invocation).toBeUndefined();
    expect(r.errors.join("\n")).toContain(reason);
  });

  it("lists an experiment's options with their units and defaults under --help", async () => {
    const r = await parse(["sizes", "--help"]);
    expect(r.invocation).toBeUndefined();
    for (const line of [
      "--quick",
      "--total size",
      "memory moved per call, bytes with K, M or G (default 256M; 64M with --quick)",
      "--threads list",
      "mtcopy thread counts (default 1,2,4,8,16)",
      "--repeat n",
      "÷ serial is the median of their ratios (default 3; 1 with --quick)",
      "--migrator module",
      "--out dir",
    ])
      expect(r.printed).toContain(line);
  });
});

/** Runs the bench CLI as a user would, and returns its exit status and output. */
const bench = (...args: string[]) => {
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", "--conditions=@migrate-offload/source", cli, ...args],
    { cwd: root, encoding: "utf8", timeout: 60_000 },
  );
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
};

describe("the bench CLI refuses what an experiment cannot run, with exit status 2", () => {
  it.each([
    [
      ["movepages", "--quick"],
      "Unrecognized flag: --quick in command migrate-offload-bench movepages",
    ],
    [["sizes", "--sizes", "3K"], "error: folio size 3072 must be a power of two"],
    [["latency", "--total", "3M"], "error: --total must be a multiple of 2M"],
    [["conformance", "--migrators", "nope"], 'error: --migrators: unknown migrator "nope"'],
    [
      ["sizes", "--migrator", "docs/examples/quick-start.ts#nothing"],
      'error: --migrator docs/examples/quick-start.ts#nothing: it has no function export "nothing"',
    ],
  ])(
    "%j",
    (args, reason) => {
      const r = bench(...args);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(reason);
    },
    60_000,
  );
});

describe("--migrator", () => {
  it("measures a user's module (the reverse-copy example) beside serial, every byte intact", async () => {
    const subject = await loadUserMigrator("docs/examples/reverse-copy-migrator.ts", root);
    expect(subject.name).toBe("reverse-copy-migrator");
    const r = await Effect.runPromise(
      runSizes(
        { total: 4 << 20, sizes: [2 << 20], threads: [], channels: [], runs: 1 },
        () => false,
        () => {},
        [subject],
      ),
    );
    expect(r.config).toMatchObject({ migrators: ["reverse-copy-migrator"] });
    expect(r.results.cells.map((c) => [c.copier, c.intact])).toEqual([
      ["serial", true],
      ["reverse-copy-migrator", true],
    ]);
    const count = await Effect.runPromise(
      runCount(
        [2],
        1,
        () => false,
        () => {},
        [subject],
      ),
    );
    expect(count.config).toMatchObject({ migrators: ["reverse-copy-migrator"] });
    expect(count.results.cells.map((c) => [c.row, c.intact])).toEqual([
      ["serial", true],
      ["mtcopy 1", true],
      ["dcbm 1", true],
      ["mtcopy adaptive", true],
      ["dcbm 1 adaptive", true],
      ["reverse-copy-migrator", true],
    ]);
  }, 120_000);

  it("picks an export with #name, and refuses one that makes no migrator, saying what it made", async () => {
    const picked = await loadUserMigrator(
      "docs/examples/reverse-copy-migrator.ts#reverseCopyModule",
      root,
    );
    expect(picked.name).toBe("reverse-copy-migrator");
    const dir = mkdtempSync(join(tmpdir(), "migrator-"));
    writeFileSync(join(dir, "answer.mjs"), "export const answer = () => 42;\n");
    const subject = await loadUserMigrator("answer.mjs", dir);
    const kernel = await Effect.runPromise(Kernel.boot({ nodes: ["64M", "64M"] }));
    const exit = await Effect.runPromiseExit(subject.load(kernel));
    expect(Exit.isFailure(exit) && String(Cause.squash(exit.cause))).toContain(
      "--migrator answer.mjs: answer(kernel) returned neither a module definition",
    );
    await expect(loadUserMigrator("./no/such/file.ts", root)).rejects.toThrow("cannot import it");
  }, 60_000);
});
