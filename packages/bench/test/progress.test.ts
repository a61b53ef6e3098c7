import { afterEach, describe, expect, it, vi } from "vitest";
import { StderrProgress } from "../src/progress";

describe("progress on stderr", () => {
  afterEach(() => vi.restoreAllMocks());

  const capture = () => {
    const written: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    return written;
  };

  it("without a terminal, says each step on its own line, grid cells numbered from 1", () => {
    const written = capture();
    const p = new StderrProgress(false);
    p.report("raw memcpy");
    p.report("4 KiB: serial", { index: 0, of: 2 });
    p.report("4 KiB: dcbm 4", { index: 1, of: 2 });
    p.report("every cell measured", { index: 2, of: 2 });
    expect(written).toEqual([
      "… raw memcpy\n",
      "… [1/2] 4 KiB: serial\n",
      "… [2/2] 4 KiB: dcbm 4\n",
    ]);
  });

  it("on a terminal, draws a bar with the cell in progress and ends it when the grid is done", () => {
    const written = capture();
    const p = new StderrProgress(true);
    p.report("2 MiB: mtcopy 2", { index: 1, of: 4 });
    p.report("every cell measured", { index: 4, of: 4 });
    p.report("cpu: serial");
    const text = written.join("");
    expect(text).toContain("1/4 cells");
    expect(text).toContain("2 MiB: mtcopy 2");
    expect(text.trimEnd().endsWith("… cpu: serial")).toBe(true);
  });
});
