import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { formatDemo, runDemo } from "../src/demo";

describe("demo", () => {
  it("faults memory in where policy says, moves it with move_pages, and every byte reads back", async () => {
    const report = await Effect.runPromise(runDemo(64 * 2 ** 20));
    expect(report.consistency).toEqual([]);
    expect(report.regions.every((r) => r.intact)).toBe(true);
    const bound = report.regions.find((r) => r.name.includes("node 1"))!;
    expect(Object.keys(bound.nodes)).toEqual(["1"]);
    expect(bound.folios).toEqual({ "2 MiB": 2 });
    expect(report.regions[1]!.folios).toEqual({ "64 KiB": 32 });
    expect(report.moved.every((r) => r.intact && Object.keys(r.nodes).join() === "1")).toBe(true);
    expect(report.movePages.rc).toBe(0);
    // One -EBUSY per large folio that started on node 0: 4 THPs and 32 mTHPs.
    expect(report.movePages.entries - report.movePages.onNode1).toBe(36);
    expect(report.vmstat.thp_migration_success).toBe(4);
    expect(formatDemo(report)).toContain("Kernel metadata consistent.");
  });
});
