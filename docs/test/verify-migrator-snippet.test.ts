/** The ten-line example of docs/conformance.md, as it appears there. */
import { reverseCopyModule, verifyMigrator } from "@migrate-offload/testkit";
import { expect, it } from "vitest";

it("reverse_copy is equivalent to the serial path", async () => {
  const report = await verifyMigrator(reverseCopyModule, { numRuns: 100 });
  expect(report.marked).toBeGreaterThan(0); // it really copied something
  expect(report.compared + report.checkedAlone).toBe(100); // compared, or checked alone
}, 120_000);
