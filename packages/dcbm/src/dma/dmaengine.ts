/**
 * The dmaengine core: the list of DMA devices and channel allocation.
 *
 * Models `drivers/dma/dmaengine.c` as a client meets it: a {@link DmaDevice}
 * (`struct dma_device`) offers channels and a capability mask. A client asks for a channel by
 * capability with {@link dmaRequestChanByMask}, which takes a free channel for its exclusive use
 * or fails with `ENODEV`, and gives it back with {@link dmaReleaseChannel}. What it then does on
 * the channel is the interface of `include/linux/dmaengine.h` (`dmaengine_h.ts`).
 *
 * @module
 */
import { type ErrnoError, errno, type Kernel } from "@migrate-offload/core";
import type { DmaCapMask, DmaChan, DmaDeviceOps } from "./dmaengine_h";

/** The kernel's list of DMA devices (`dma_device_list`), one per kernel. */
export class DmaEngineCore {
  /** Registered devices, in registration order. */
  readonly devices: DmaDeviceOps[] = [];
  /** The next `dma<N>` number. */
  nextId = 0;
}

const cores = new WeakMap<Kernel, DmaEngineCore>();

/** The dmaengine core of a kernel (created on first use). */
export const dmaEngineCore = (kernel: Kernel): DmaEngineCore => {
  let core = cores.get(kernel);
  if (!core) {
    core = new DmaEngineCore();
    cores.set(kernel, core);
  }
  return core;
};

/**
 * `dma_request_chan_by_mask()`: takes a free channel, for exclusive use, of the first device
 * whose capabilities include `mask`. `ENODEV` when there is none.
 */
export const dmaRequestChanByMask = (kernel: Kernel, mask: DmaCapMask): DmaChan | ErrnoError => {
  for (const device of dmaEngineCore(kernel).devices) {
    if ((device.capMask & mask) !== mask) continue;
    const chan = device.channels.find((c) => c.clientCount === 0);
    if (!chan) continue;
    if (!device.allowRequest()) break;
    chan.clientCount = 1;
    return chan;
  }
  return errno("ENODEV", "dma_request_chan_by_mask: no free channel with those capabilities");
};

/** `dma_release_channel()`: gives the channel back; its descriptors must be terminated first. */
export const dmaReleaseChannel = (chan: DmaChan): void => {
  if (chan.clientCount === 0) throw new Error(`dma_release_channel: ${chan.name} is not held`);
  chan.device.freeChanResources(chan);
  chan.clientCount = 0;
};
