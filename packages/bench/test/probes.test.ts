import { dcbmConformanceSubject } from "@migrate-offload/dcbm/testing";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { formatAmdahl, formatLatency, runAmdahl, runLatency } from "../src/probes";

describe("the probes inside one move_pages call", () => {
  it("amdahl: the folio copy is part of the copy step, which is part of the call, and bytes survive", async () => {
    const { results } = await Effect.runPromise(runAmdahl(3, () => {}));
    expect(results.rows.map((r) => `${r.folios} × ${r.folioBytes}`)).toEqual([
      "1 × 4096",
      "512 × 4096",
      "1 × 2097152",
      "512 × 2097152",
    ]);
    for (const row of results.rows) {
      expect(row.intact).toBe(true);
      expect(row.copyShare.min).toBeGreaterThan(0);
      expect(row.copyShare.max).toBeLessThan(1);
      expect(row.stepShare.median).toBeGreaterThanOrEqual(row.copyShare.median);
      expect(row.stepShare.max).toBeLessThan(1);
      expect(row.maxSpeedup).toBeCloseTo(1 / (1 - row.copyShare.median));
    }
    expect(formatAmdahl(results)).toContain("| 512 × 2 MiB |");
  }, 120_000);

  it("latency: the first folio is mapped again within the call, and every byte survives", async () => {
    const { results } = await Effect.runPromise(
      runLatency(
        64 << 20,
        [512, 16384],
        [
          ["serial", undefined],
          ["dcbm 4", dcbmConformanceSubject({ channels: 16 }, { nrDmaChan: 4 })],
        ],
        3,
        () => {},
      ),
    );
    expect(results.rows.map((r) => `${r.copier} ${r.batchPages}`)).toEqual([
      "serial 512",
      "serial 16384",
      "dcbm 4 512",
      "dcbm 4 16384",
    ]);
    for (const row of results.rows) {
      expect(row.intact).toBe(true);
      expect(row.firstFolioMs.min).toBeGreaterThan(0);
      expect(row.firstFolioMs.max).toBeLessThanOrEqual(row.callMs.max);
    }
    expect(formatLatency(results)).toContain("| dcbm 4 | 16384 |");
  }, 120_000);
});
