/** The ten-line example of docs/conformance.md, as it appears there. */
import { verifyMigrator } from "@migrate-offload/testkit";
import { expect, it } from "vitest";
import { reverseCopyModule } from "../examples/reverse-copy-migrator";

it("reverse_copy is equivalent to the serial path", async () => {
  const report = await verifyMigrator(reverseCopyModule, { numRuns: 100 });
  expect(report.marked).toBeGreaterThan(0); // it really copied something
}, 120_000);
