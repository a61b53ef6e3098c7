import type { Kernel } from "@migrate-offload/core";
import { run, runP } from "@migrate-offload/core/testing";
import { afterEach } from "vitest";
import { type DmaDevice, type DmaDeviceOptions, dmaAsyncDeviceRegister } from "../src/index";

/** Devices started by a test, stopped after it. */
const devices: DmaDevice[] = [];
afterEach(async () => {
  for (const d of devices.splice(0)) await runP(d.shutdown());
});

/** Registers a DMA device on the kernel; it is shut down after the test. */
export const addDevice = (kernel: Kernel, options: DmaDeviceOptions = {}): DmaDevice => {
  const device = run(dmaAsyncDeviceRegister(kernel, options));
  devices.push(device);
  return device;
};
