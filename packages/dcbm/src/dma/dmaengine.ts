/**
 * The dmaengine core: the list of DMA devices, their registration, and channel allocation.
 *
 * Models `drivers/dma/dmaengine.c`:
 *
 * - {@link dmaAsyncDeviceRegister} adds a device (`struct dma_device`) to the kernel's list,
 *   names it `dma<N>` and gives each of its channels `/sys/class/dma/dma<N>chan<M>/` with the
 *   `dma` class's files; {@link dmaAsyncDeviceUnregister} takes it out again, `EBUSY` while a
 *   client holds one of its channels.
 * - A client asks for a channel by capability with {@link dmaRequestChanByMask}, which takes a
 *   free channel of a registered device for its exclusive use or fails with `ENODEV`, and gives
 *   it back with {@link dmaReleaseChannel}.
 *
 * What a client then does on the channel is the interface of `include/linux/dmaengine.h`
 * (`dmaengine_h.ts`).
 *
 * @module
 */
import { type Attribute, type ErrnoError, errno, type Kernel } from "@migrate-offload/core";
import { Effect } from "effect";
import type { DmaCapMask, DmaChan, DmaDeviceOps } from "./dmaengine_h";
import { dmaShouldFail } from "./fault_inject";
import { DmaDevice, type DmaDeviceOptions } from "./memcpy_device";

/**
 * The kernel's list of DMA devices: `dma_device_list` (`drivers/dma/dmaengine.c`), one per kernel.
 *
 * @category dmaengine core
 */
export class DmaEngineCore {
  /** Registered devices, in registration order. */
  readonly devices: DmaDeviceOps[] = [];
  /** The next `dma<N>` number. */
  nextId = 0;
}

const cores = new WeakMap<Kernel, DmaEngineCore>();

/**
 * The dmaengine core of a kernel, created on first use: its `dma_device_list` and `dma_ida`
 * (`drivers/dma/dmaengine.c`).
 *
 * @category dmaengine core
 */
export const dmaEngineCore = (kernel: Kernel): DmaEngineCore => {
  let core = cores.get(kernel);
  if (!core) {
    core = new DmaEngineCore();
    cores.set(kernel, core);
  }
  return core;
};

/**
 * Completes once every DMA device registered on `kernel` has its engines running; fails with the
 * first device's error otherwise. Not a kernel call: what a client learns in Linux when a
 * provider's probe failed and it never registered (`-EPROBE_DEFER`, `-ENODEV` from
 * `dma_request_chan()`), here asked of devices whose engine threads start after registration.
 *
 * @category dmaengine core
 */
export const dmaDevicesReady = (kernel: Kernel): Effect.Effect<void, ErrnoError> =>
  Effect.forEach(dmaEngineCore(kernel).devices, (device) => device.ready(), { discard: true });

/**
 * `dma_request_chan_by_mask()`: takes a free channel, for exclusive use, of the first device
 * whose capabilities include `mask`. `ENODEV` when there is none.
 *
 * Models `dma_request_chan_by_mask()` (`drivers/dma/dmaengine.c`).
 *
 * @category dmaengine core
 */
export const dmaRequestChanByMask = (kernel: Kernel, mask: DmaCapMask): DmaChan | ErrnoError => {
  for (const device of dmaEngineCore(kernel).devices) {
    if ((device.capMask & mask) !== mask) continue;
    const chan = device.channels.find((c) => c.clientCount === 0);
    if (!chan) continue;
    if (dmaShouldFail(device, "request")) break;
    chan.clientCount = 1;
    return chan;
  }
  return errno("ENODEV", "dma_request_chan_by_mask: no free channel with those capabilities");
};

/**
 * `dma_release_channel()` (`drivers/dma/dmaengine.c`): gives the channel back; its descriptors must
 * be terminated first.
 *
 * @category dmaengine core
 */
export const dmaReleaseChannel = (chan: DmaChan): void => {
  if (chan.clientCount === 0) throw new Error(`dma_release_channel: ${chan.name} is not held`);
  chan.device.freeChanResources(chan);
  chan.clientCount = 0;
};

/** The most channels, and engine threads, one device may have. */
const DMA_DEVICE_MAX_CHANNELS = 64;

/** A channel's directory in the `dma` class: `/sys/class/dma/dma<N>chan<M>`. */
const dmaChanSysfsDir = (chan: DmaChan): string => `/sys/class/dma/${chan.name}`;

/** `dma_dev_attrs`: the read-only files of a channel's directory. */
const dmaChanAttributes = (chan: DmaChan): Record<string, Attribute> => ({
  in_use: { mode: 0o444, show: () => `${chan.clientCount}\n` },
  memcpy_count: { mode: 0o444, show: () => `${chan.memcpyCount}\n` },
  bytes_transferred: { mode: 0o444, show: () => `${chan.bytesTransferred}\n` },
});

/** How each registered device leaves its kernel's device list (`device_unregister()`). */
const kernelDevices = new WeakMap<DmaDevice, () => void>();

/**
 * `dma_async_device_register()`: registers a memcpy DMA controller on `kernel`, names it
 * `dma<N>` and adds `/sys/class/dma/dma<N>chan<M>/` for every channel. The controller is the
 * model's one provider, {@link DmaDevice}, built here from `options` with its engine threads
 * started, as its driver's probe builds it before registering. `EINVAL` for a channel or engine
 * count outside 1..64, a `maxSegmentSize` outside 1..2³²−1 (an `unsigned int`), a `chunkBytes`
 * that is not a whole number of bytes from 1 up (any length: an engine takes whole descriptors,
 * at least one, up to that many bytes, so no page multiple is needed), or a
 * `segmentBoundaryMask` that is not one less than a power of two of at least a page. A refused
 * device starts no engine thread and takes no name.
 *
 * Models `dma_async_device_register()` (`drivers/dma/dmaengine.c`).
 *
 * @category dmaengine core
 */
export const dmaAsyncDeviceRegister = (
  kernel: Kernel,
  options: DmaDeviceOptions = {},
): Effect.Effect<DmaDevice, ErrnoError> =>
  Effect.suspend(() => {
    const bad = (n: number | undefined) =>
      n !== undefined && (!Number.isInteger(n) || n < 1 || n > DMA_DEVICE_MAX_CHANNELS);
    if (bad(options.channels) || bad(options.engines)) {
      return Effect.fail(
        errno(
          "EINVAL",
          `a DMA device needs 1..${DMA_DEVICE_MAX_CHANNELS} channels and engines, got ${JSON.stringify(options)}`,
        ),
      );
    }
    const maxSeg = options.maxSegmentSize;
    if (maxSeg !== undefined && (!Number.isInteger(maxSeg) || maxSeg < 1 || maxSeg > 2 ** 32 - 1)) {
      return Effect.fail(
        errno("EINVAL", `a DMA device's maxSegmentSize must be 1..2^32-1 bytes, not ${maxSeg}`),
      );
    }
    const chunk = options.chunkBytes;
    if (chunk !== undefined && (!Number.isSafeInteger(chunk) || chunk < 1)) {
      return Effect.fail(
        errno(
          "EINVAL",
          `a DMA device's chunkBytes must be a whole number of bytes, 1..2^53-1, not ${chunk}`,
        ),
      );
    }
    const mask = options.segmentBoundaryMask;
    if (
      mask !== undefined &&
      (!Number.isInteger(mask) ||
        !Number.isInteger(Math.log2(mask + 1)) ||
        mask + 1 < kernel.mem.pageSize)
    ) {
      return Effect.fail(
        errno(
          "EINVAL",
          `a DMA device's segmentBoundaryMask must be one less than a power of two of at least a page, not ${mask}`,
        ),
      );
    }
    if (kernel.state !== "running") {
      return Effect.fail(errno("ESHUTDOWN", "dma_async_device_register: the kernel has shut down"));
    }
    const core = dmaEngineCore(kernel);
    const device = new DmaDevice(kernel, options);
    device.name = `dma${core.nextId++}`;
    core.devices.push(device);
    for (const chan of device.channels) {
      kernel.fs.addAttributes(dmaChanSysfsDir(chan), dmaChanAttributes(chan));
    }
    kernelDevices.set(
      device,
      kernel.registerDevice({
        name: device.name,
        shutdown: () => dmaAsyncDeviceUnregister(kernel, device),
      }),
    );
    return Effect.succeed(device);
  });

/**
 * `dma_async_device_unregister()`: removes the device and its channels' directories, then stops
 * its engines, as its driver's remove does. `EBUSY` while a client holds one of its channels,
 * `ENODEV` when it is not registered.
 *
 * Models `dma_async_device_unregister()` (`drivers/dma/dmaengine.c`).
 *
 * @category dmaengine core
 */
export const dmaAsyncDeviceUnregister = (
  kernel: Kernel,
  device: DmaDevice,
): Effect.Effect<void, ErrnoError> =>
  Effect.suspend(() => {
    const core = dmaEngineCore(kernel);
    const at = core.devices.indexOf(device);
    if (at < 0) return Effect.fail(errno("ENODEV", `${device.name} is not registered`));
    if (device.channelsInUse > 0) {
      return Effect.fail(
        errno("EBUSY", `${device.name} has ${device.channelsInUse} channels in use`),
      );
    }
    core.devices.splice(at, 1);
    kernelDevices.get(device)?.();
    kernelDevices.delete(device);
    for (const chan of device.channels) kernel.fs.remove(dmaChanSysfsDir(chan));
    return device.shutdown();
  });
