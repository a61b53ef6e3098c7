import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { formatSoak, runSoak, SOAK_COPIERS } from "../src/soak";

describe("soak", () => {
  it("boots, uses and shuts down kernels with every copier, and gets all memory and threads back", async () => {
    const result = await Effect.runPromise(
      runSoak({
        rounds: 3,
        nodeBytes: 16 << 20,
        moveBytes: 4 << 20,
        copiers: Object.keys(SOAK_COPIERS),
      }),
    );
    const r = result.results;
    expect(r.rows.map((row) => row.copier)).toEqual([
      "serial",
      "mtcopy",
      "dcbm in-order",
      "dcbm out-of-order",
    ]);
    for (const row of r.rows) expect(row.intactRounds).toBe(3);
    // Every driver round had one engine fault injected.
    for (const row of r.rows.slice(1)) {
      expect(Object.values(row.faults).reduce((a, b) => a + b, 0)).toBe(3);
    }
    expect(r.leakedThreads).toBe(0);
    expect(r.leakedBytes).toBeLessThanOrEqual(r.kernelBytes);
    expect(r.ok).toBe(true);
    expect(formatSoak(r)).toMatch(/^soak: leaked \d+ MiB, 0 threads$/m);
  }, 60_000);
});
