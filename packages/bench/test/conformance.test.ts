import { describe, expect, it } from "vitest";
import { runConformance } from "../src/conformance";

describe("the conformance experiment", () => {
  it("refuses a migrator it does not know, and a run count below one, before measuring", async () => {
    await expect(runConformance(["nosuch"], 1, 1, () => {})).rejects.toThrow(
      new RangeError('unknown migrator "nosuch"'),
    );
    await expect(runConformance(["serial_copy"], 1, 0, () => {})).rejects.toThrow(
      new RangeError("runs must be at least 1, not 0"),
    );
  });
});
