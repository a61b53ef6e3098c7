import type { Kernel } from "@migrate-offload/core";
import { migrationScenarioArb, runMigrationScenario } from "@migrate-offload/testkit";
import { Effect } from "effect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DCBM_SYSFS_DIR,
  type DmaDevice,
  type DmaFault,
  dcbmDriver,
  dmaAsyncDeviceRegister,
  dmaAsyncDeviceUnregister,
} from "../src/index";

const setupArb = fc.record({
  nrDmaChan: fc.integer({ min: 1, max: 16 }),
  channels: fc.integer({ min: 1, max: 16 }),
  engines: fc.integer({ min: 1, max: 3 }),
  outOfOrder: fc.boolean(),
  merge: fc.boolean(),
  chunkBytes: fc.constantFrom(4096, 65536, 8 << 20),
  completion: fc.constantFrom("interrupt" as const, "polling" as const),
});

const faultArb: fc.Arbitrary<DmaFault | null> = fc.option(
  fc.record({
    kind: fc.constantFrom(
      "request" as const,
      "prep" as const,
      "submit" as const,
      "hang" as const,
      "worker" as const,
      "completion" as const,
    ),
    after: fc.integer({ min: 0, max: 6 }),
  }),
  { nil: null },
);

describe("dcbm: equivalence with the serial path (property)", () => {
  it("ends every move_pages workload exactly as the serial path does, for any channels and any fault", async () => {
    const tally = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(migrationScenarioArb, setupArb, faultArb, async (scenario, setup, fault) => {
        let device: DmaDevice | null = null;
        const serial = await Effect.runPromise(runMigrationScenario(scenario));
        const offloaded = await Effect.runPromise(
          runMigrationScenario(scenario, {
            prepare: (kernel: Kernel) =>
              Effect.gen(function* () {
                device = yield* dmaAsyncDeviceRegister(kernel, {
                  channels: setup.channels,
                  engines: setup.engines,
                  outOfOrder: setup.outOfOrder,
                  chunkBytes: setup.chunkBytes,
                  iommu: { merge: setup.merge },
                });
                const driver = dcbmDriver(kernel, {
                  nrDmaChan: setup.nrDmaChan,
                  completion: setup.completion,
                  timeoutMs: 100,
                });
                yield* kernel.loadModule(driver.module);
                yield* kernel.fs.write(`${DCBM_SYSFS_DIR}/offloading`, "1");
                if (fault) device.inject(fault);
              }),
            cleanup: (kernel: Kernel) =>
              Effect.gen(function* () {
                const dma = device!;
                const counters = kernel.migrateOffload.counters("DCBM")!;
                const key = `${fault?.kind ?? "none"}:${counters.copyFailures > 0 ? "failed" : counters.batchesOffloaded > 0 ? "copied" : "idle"}`;
                tally.set(key, (tally.get(key) ?? 0) + 1);
                yield* kernel.fs.write(`${DCBM_SYSFS_DIR}/offloading`, "0");
                yield* kernel.unloadModule("dcbm");
                expect({
                  channels: dma.channelsInUse,
                  mappings: dma.iommu.mappings,
                  chunks: dma.chunksInFlight,
                  stalled: dma.stalledDescriptors,
                  engines: dma.engines,
                }).toEqual({
                  channels: 0,
                  mappings: 0,
                  chunks: 0,
                  stalled: 0,
                  engines: setup.engines,
                });
                yield* dmaAsyncDeviceUnregister(kernel, dma);
              }),
          }),
        );
        expect(offloaded.problems).toEqual([]);
        expect(offloaded.observation).toEqual(serial.observation);
      }),
      { numRuns: 60 },
    );
    // The runs reached offloaded copies and injected failures, not only idle paths.
    expect(tally.get("none:copied") ?? 0).toBeGreaterThan(0);
    expect([...tally.keys()].filter((k) => k.endsWith(":failed")).length).toBeGreaterThan(2);
  }, 240_000);
});
