/**
 * dcbm as a conformance subject: what `verifyMigrator`, `verifyRegistryRaces` and
 * `stressMigrator` of `@migrate-offload/testkit` need to load it, with a DMA device of its own,
 * into a fresh kernel, take it out again, and inject DMA faults.
 *
 * @module
 */
import type { Kernel } from "@migrate-offload/core";
import type { MigratorSubject } from "@migrate-offload/core/testing";
import { Effect } from "effect";
import { DCBM_MODULE_NAME, DCBM_SYSFS_DIR, type DcbmOptions, dcbmDriver } from "./dcbm";
import { dmaAsyncDeviceRegister, dmaAsyncDeviceUnregister } from "./dma/dmaengine";
import { type DmaFault, dmaInjectFault } from "./dma/fault_inject";
import type { DmaDevice, DmaDeviceOptions } from "./dma/memcpy_device";

/**
 * Every step of the DMA path that can be made to fail: the `should_fail()` sites
 * (`lib/fault-inject.c`) of the dmaengine calls `drivers/migrate_offload/dcbm/dcbm.c` makes.
 *
 * @category Conformance
 */
export const DCBM_DMA_FAULTS: readonly DmaFault["kind"][] = [
  "request",
  "prep",
  "submit",
  "hang",
  "worker",
  "completion",
];

/**
 * The batch timeout {@link dcbmConformanceSubject} gives dcbm unless `options.timeoutMs` says
 * else, in milliseconds: an injected `hang` holds a descriptor until `folios_copy_dma()` gives
 * up on its `wait_for_completion_timeout()`, so every hang the harness injects costs this much,
 * where the driver's own default (`DCBM_TIMEOUT_MS`, the seed's 10 s) would cost 10 s. It
 * is long enough for any batch the testkit's workloads offer to complete on a loaded machine; a
 * batch that does not is terminated and falls back, which the harness checks like any other.
 *
 * @category Conformance
 */
export const DCBM_CONFORMANCE_TIMEOUT_MS = 250;

/**
 * A conformance subject for the testkit: dcbm with `options` on a DMA device with `device`.
 * Loading registers the device, loads the module and switches `offloading` on. Taking it out
 * switches it off, unloads the module, fails if a channel, IOMMU mapping (on a device an IOMMU
 * translates for), chunk or stalled descriptor was left behind or an engine thread was lost, and unregisters the device. Every
 * injected fault is a {@link DmaFault} at its first occurrence.
 *
 * The batch timeout (`options.timeoutMs`) defaults to {@link DCBM_CONFORMANCE_TIMEOUT_MS}, not
 * the driver's 10 s: it is the knob that bounds an injected `hang`. The device's `deadlineMs`
 * is another one: how long an engine thread may run one chunk before it is replaced. A hung
 * descriptor never reaches an engine thread, so that knob does not shorten it. To measure dcbm
 * on batches that take longer than the short timeout (benchmarks of gigabytes per call), pass
 * `{ timeoutMs: DCBM_TIMEOUT_MS }`.
 *
 * Models `insmod dcbm.ko` and `rmmod dcbm` of `drivers/migrate_offload/dcbm/dcbm.c`, with the DMA
 * device registered by `dma_async_device_register()` (`drivers/dma/dmaengine.c`).
 *
 * @category Conformance
 */
export const dcbmConformanceSubject = (
  device: DmaDeviceOptions = {},
  options: DcbmOptions = {},
): MigratorSubject => {
  const devices = new WeakMap<Kernel, DmaDevice>();
  const describe = [
    `${options.nrDmaChan ?? 1} of ${device.channels ?? 16} channels`,
    `${device.engines ?? "auto"} engines`,
    device.outOfOrder ? "out of order" : "",
    device.iommu === false ? "no IOMMU" : "",
    device.maxSegmentSize !== undefined ? `max_seg ${device.maxSegmentSize}` : "",
    options.completion ?? "interrupt",
  ];
  return {
    name: `dcbm (${describe.filter(Boolean).join(", ")})`,
    load: (kernel: Kernel) =>
      Effect.gen(function* () {
        const dma = yield* dmaAsyncDeviceRegister(kernel, device);
        devices.set(kernel, dma);
        yield* kernel.loadModule(
          dcbmDriver(kernel, { timeoutMs: DCBM_CONFORMANCE_TIMEOUT_MS, ...options }).module,
        );
        yield* kernel.fs.write(`${DCBM_SYSFS_DIR}/offloading`, "1");
      }),
    unload: (kernel: Kernel) =>
      Effect.gen(function* () {
        const dma = devices.get(kernel);
        if (!dma) return;
        const engines = dma.engines;
        yield* kernel.fs.write(`${DCBM_SYSFS_DIR}/offloading`, "0");
        yield* kernel.unloadModule(DCBM_MODULE_NAME);
        const left = {
          channels: dma.channelsInUse,
          mappings: dma.iommu?.mappings ?? 0,
          chunks: dma.chunksInFlight,
          stalled: dma.stalledDescriptors,
          enginesLost: engines - dma.engines,
        };
        if (Object.values(left).some((n) => n !== 0))
          return yield* Effect.die(
            new Error(`dcbm left resources behind: ${JSON.stringify(left)}`),
          );
        yield* dmaAsyncDeviceUnregister(kernel, dma);
        devices.delete(kernel);
      }),
    engineFaults: {
      kinds: DCBM_DMA_FAULTS,
      inject: (kernel: Kernel, kind: string) => {
        const dma = devices.get(kernel);
        if (dma) dmaInjectFault(dma, { kind: kind as DmaFault["kind"] });
      },
      waitingOnHang: (kernel: Kernel) => devices.get(kernel)?.waitingOnHang ?? false,
    },
  };
};
