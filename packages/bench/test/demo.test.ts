import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { formatDemo, runDemo } from "../src/demo";

describe("demo", () => {
  it("faults memory in where policy says, and every byte reads back", async () => {
    const report = await Effect.runPromise(runDemo(64 * 2 ** 20));
    expect(report.consistency).toEqual([]);
    expect(report.regions.every((r) => r.intact)).toBe(true);
    const bound = report.regions.find((r) => r.name.includes("node 1"))!;
    expect(Object.keys(bound.nodes)).toEqual(["1"]);
    expect(bound.folios).toEqual({ "2 MiB": 2 });
    expect(report.regions[1]!.folios).toEqual({ "64 KiB": 32 });
    expect(formatDemo(report)).toContain("Kernel metadata consistent.");
  });
});
