import type { Kernel } from "@migrate-offload/core";
import {
  type MigratorSubject,
  stressMigrator,
  verifyMigrator,
  verifyRegistryRaces,
} from "@migrate-offload/testkit";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import {
  DCBM_SYSFS_DIR,
  type DmaDevice,
  type DmaDeviceOptions,
  type DmaFault,
  dcbmDriver,
  dmaAsyncDeviceRegister,
  dmaAsyncDeviceUnregister,
} from "../src/index";

/** Runs per configuration in CI; `pnpm run conformance` raises it. */
const RUNS = Number(process.env.CONFORMANCE_RUNS ?? 25);

const DMA_FAULTS: readonly DmaFault["kind"][] = [
  "request",
  "prep",
  "submit",
  "hang",
  "worker",
  "completion",
];

/**
 * dcbm on a DMA device of its own in each kernel: every injected DMA fault is an engine fault,
 * and taking it out checks that no channel, mapping, chunk or descriptor was left behind.
 */
const dcbmSubject = (
  nrDmaChan: number,
  device: DmaDeviceOptions,
  completion: "interrupt" | "polling" = "interrupt",
): MigratorSubject => {
  const devices = new WeakMap<Kernel, DmaDevice>();
  return {
    name: `dcbm (${nrDmaChan} of ${device.channels} channels, ${device.engines} engines${device.outOfOrder ? ", out of order" : ""}${device.iommu?.merge ? ", merging IOMMU" : ""}, ${completion})`,
    load: (kernel) =>
      Effect.gen(function* () {
        const dma = yield* dmaAsyncDeviceRegister(kernel, device);
        devices.set(kernel, dma);
        yield* kernel.loadModule(
          dcbmDriver(kernel, { nrDmaChan, completion, timeoutMs: 100 }).module,
        );
        yield* kernel.fs.write(`${DCBM_SYSFS_DIR}/offloading`, "1");
      }),
    unload: (kernel) =>
      Effect.gen(function* () {
        const dma = devices.get(kernel)!;
        yield* kernel.fs.write(`${DCBM_SYSFS_DIR}/offloading`, "0");
        yield* kernel.unloadModule("dcbm");
        expect({
          channels: dma.channelsInUse,
          mappings: dma.iommu.mappings,
          chunks: dma.chunksInFlight,
          stalled: dma.stalledDescriptors,
          engines: dma.engines,
        }).toEqual({ channels: 0, mappings: 0, chunks: 0, stalled: 0, engines: device.engines });
        yield* dmaAsyncDeviceUnregister(kernel, dma);
      }),
    engineFaults: {
      kinds: DMA_FAULTS,
      inject: (kernel, kind) => devices.get(kernel)!.inject({ kind: kind as DmaFault["kind"] }),
    },
  };
};

describe("dcbm: conformance with the serial path (verifyMigrator)", () => {
  const configurations: Array<[number, DmaDeviceOptions, "interrupt" | "polling"]> = [
    [1, { channels: 1, engines: 1 }, "interrupt"],
    [4, { channels: 4, engines: 2, outOfOrder: true, chunkBytes: 4096 }, "polling"],
    [16, { channels: 16, engines: 2, iommu: { merge: true }, chunkBytes: 65536 }, "interrupt"],
  ];
  for (const [nrDmaChan, device, completion] of configurations) {
    const subject = dcbmSubject(nrDmaChan, device, completion);
    it(`${subject.name}: every workload and every injected fault ends as the serial path does`, async () => {
      const report = await verifyMigrator(subject, { numRuns: RUNS });
      expect(report.marked).toBeGreaterThan(0);
      expect(Object.keys(report.injected).length).toBeGreaterThan(0);
    }, 300_000);
  }
});

describe("dcbm: registration, switching and unloading race migrations (verifyRegistryRaces)", () => {
  it("never calls it after it was switched off, never unloads it in use, never loses a byte", async () => {
    await verifyRegistryRaces(dcbmSubject(4, { channels: 4, engines: 2, outOfOrder: true }), {
      numRuns: 30,
    });
  }, 120_000);
});

describe("dcbm: ping-pong under readers and writers (stressMigrator)", () => {
  it("tears, loses and stales nothing while DMA channels copy", async () => {
    const report = await stressMigrator(
      dcbmSubject(8, { channels: 8, engines: 2, outOfOrder: true, chunkBytes: 65536 }),
      { rounds: 8 },
    );
    expect(report.writes).toBeGreaterThan(0);
    // Accesses met pages under migration and waited for them.
    expect(report.waits).toBeGreaterThan(0);
  }, 120_000);
});
