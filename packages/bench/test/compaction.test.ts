import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { writeSvg } from "../src/chart";
import { compactionChart, formatCompaction, runCompaction } from "../src/compaction";

describe("compaction", () => {
  it("compacts a fragmented node with serial, mtcopy and dcbm, alone and beside the hog: same pages migrated, whole blocks freed, every byte intact", async () => {
    const r = await Effect.runPromise(runCompaction(16 << 20, 2, 4, 1, 1, () => {}));
    const rows = r.results.rows;
    expect(rows.map((row) => `${row.copier} ${row.load}`)).toEqual([
      "serial alone",
      "serial hog",
      "mtcopy 2 alone",
      "mtcopy 2 hog",
      "dcbm 4 ch alone",
      "dcbm 4 ch hog",
    ]);
    // fragmentNode leaves no free block of order 9 or more; a full compaction
    // (compact_node(), mm/compaction.c) moves every movable page and frees whole pageblocks.
    for (const row of rows) {
      expect(row.intact).toBe(true);
      expect(row.highOrderBefore).toBe(0);
      expect(row.highOrderAfter).toBeGreaterThan(0);
      expect(row.hogShare === null).toBe(row.load === "alone");
    }
    // Compaction is deterministic: every copier migrates the same pages to the same effect.
    expect(new Set(rows.map((row) => row.pagesMigrated)).size).toBe(1);
    expect(new Set(rows.map((row) => row.highOrderAfter)).size).toBe(1);
    expect(rows[0]!.pagesMigrated).toBeGreaterThan(0);
    const table = formatCompaction(r.results);
    expect(table).toContain("| serial | alone |");
    expect(table).toContain("kernel CPU time 99.4 % → 76.7 %");
    const svg = join(mkdtempSync(join(tmpdir(), "compaction-")), "compaction.svg");
    await writeSvg(svg, compactionChart(r.results));
    expect(readFileSync(svg, "utf8")).toContain("<svg");
  }, 120_000);
});
