import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url));

/** Runs the bench CLI as a user would, and returns its exit status and stderr. */
const bench = (...args: string[]) => {
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", "--conditions=@migrate-offload/source", cli, ...args],
    { cwd: root, encoding: "utf8", timeout: 60_000 },
  );
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
};

describe("the bench CLI refuses bad arguments with the reason and the usage text", () => {
  it.each([
    [["nosuch"], 'unknown experiment "nosuch"'],
    [["count", "--counts", "0"], '--counts: "0" is not 1..8192'],
    [["count", "--counts", "8193"], '--counts: "8193" is not 1..8192'],
    [["count", "--runs", "two"], '--runs must be a positive integer, not "two"'],
    [["sizes", "--sizes", "3K"], "folio size 3072 must be a power of two"],
    [
      ["movepages", "--sizes", "8K"],
      "folio size 8192 must be a power of two from 4K to 2M (no 8K)",
    ],
    [["mtcopy", "--sizes", "64K", "--total", "96K"], "folio size 65536 must be a power of two"],
    [["latency", "--total", "3M"], "--total must be a multiple of 2M"],
    [["cpu", "--completion", "never"], "--completion must be interrupt or polling"],
    [["conformance", "--migrators", "nope"], '--migrators: unknown migrator "nope"'],
  ])(
    "%j",
    (args, reason) => {
      const r = bench(...args);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`error: ${reason}`);
      expect(r.stderr).toContain("usage: migrate-offload-bench <experiment> [options]");
      expect(r.stdout).toBe("");
    },
    60_000,
  );
});
