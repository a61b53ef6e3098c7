import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { formatSysfsFuzz, runSysfsFuzz, sysfsFuzzClean } from "../src/sysfs_fuzz";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url));

describe("the sysfs-fuzz experiment", () => {
  it("makes the writes asked for in whole runs, and prints its figures and a clean verdict", async () => {
    const result = await runSysfsFuzz({ writes: 120, seed: 7 });
    expect(result.experiment).toBe("sysfs-fuzz");
    expect(result.config).toMatchObject({ writes: 120, seed: 7, numRuns: 3, writesPerRun: 40 });
    const r = result.results;
    expect(r.writes).toBe(120);
    expect(sysfsFuzzClean(r)).toBe(true);
    const text = formatSysfsFuzz(r);
    for (const row of ["files fuzzed", "writes", "accepted", "refused", "migrations"])
      expect(text).toContain(`| ${row} |`);
    expect(text).toContain("| consistency | clean (3 of 3 runs checked) |");
    expect(text).toMatch(/^sysfs-fuzz: 120 writes to \d+ files, every one a success/m);
  }, 120_000);

  it.each([
    [["--writes", "0"], 'Invalid value for flag --writes: "0"'],
    [["--seed", "one"], 'Invalid value for flag --seed: "one"'],
  ])(
    "refuses %j with the reason",
    (args, reason) => {
      const r = spawnSync(
        process.execPath,
        ["--import", "tsx", "--conditions=@migrate-offload/source", cli, "sysfs-fuzz", ...args],
        { cwd: root, encoding: "utf8", timeout: 60_000 },
      );
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(reason);
      expect(r.stdout).toBe("");
    },
    60_000,
  );
});
