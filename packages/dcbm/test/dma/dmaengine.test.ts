import { ERRNO, type Kernel } from "@migrate-offload/core";
import {
  boot,
  errnoOf,
  pattern,
  run,
  runP,
  sameBytes,
  waitUntil,
} from "@migrate-offload/core/testing";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import {
  DMA_COMPLETE,
  DMA_COMPLETION_NO_ORDER,
  DMA_CTRL_ACK,
  DMA_ERROR,
  DMA_FROM_DEVICE,
  DMA_IN_PROGRESS,
  DMA_MEMCPY,
  DMA_OUT_OF_ORDER,
  DMA_PREP_INTERRUPT,
  DMA_TO_DEVICE,
  DMA_TRANS_ABORTED,
  DMA_TRANS_NOERROR,
  DMA_TRANS_READ_FAILED,
  DMA_TRANS_WRITE_FAILED,
  type DmaAsyncTxDescriptor,
  type DmaChan,
  type DmaDevice,
  type DmaengineResult,
  dmaAsyncDeviceUnregister,
  dmaAsyncIssuePending,
  dmaCapSet,
  dmaengineGetDmaDevice,
  dmaenginePrepDmaMemcpy,
  dmaengineSubmit,
  dmaengineTerminateSync,
  dmaengineTxStatus,
  dmaHasCap,
  dmaMapSgtable,
  dmaReleaseChannel,
  dmaRequestChanByMask,
  dmaSubmitError,
  dmaUnmapSgtable,
  type SgTable,
  sgAllocTable,
  sgSetFolio,
} from "../../src/index";
import { dmaInjectFault, dmaReleaseStalled } from "../../src/testing";
import { addDevice } from "../helpers";

const MEMCPY = dmaCapSet(DMA_MEMCPY);

const request = (kernel: Kernel): DmaChan => {
  const chan = dmaRequestChanByMask(kernel, MEMCPY);
  if ("errno" in chan) throw new Error(chan.message);
  return chan;
};

/** Two folios of `pages` pages, the source filled, and one-entry tables mapped for the device. */
const buffers = (kernel: Kernel, device: DmaDevice, pages: number, seed = 1) => {
  const order = Math.log2(pages);
  const src = run(kernel.allocFolio(0, order));
  const dst = run(kernel.allocFolio(1, order));
  src.bytes().set(pattern(src.size, seed));
  const table = (pfn: number, dir: typeof DMA_TO_DEVICE | typeof DMA_FROM_DEVICE) => {
    const sgt = sgAllocTable(1) as SgTable;
    sgSetFolio(sgt, 0, pfn, pages * 4096);
    expect(dmaMapSgtable(device, sgt, dir)).toBe(0);
    return sgt;
  };
  return { src, dst, srcT: table(src.pfn, DMA_TO_DEVICE), dstT: table(dst.pfn, DMA_FROM_DEVICE) };
};

/** Prepares and submits `parts` equal descriptors over the tables; the last asks for an interrupt. */
const submitParts = (
  chan: DmaChan,
  srcT: SgTable,
  dstT: SgTable,
  parts: number,
  onDone: (i: number, r: DmaengineResult) => void,
  interruptEvery = false,
): DmaAsyncTxDescriptor[] => {
  const size = srcT.dmaLength[0]! / parts;
  return Array.from({ length: parts }, (_, i) => {
    const flags = DMA_CTRL_ACK | (interruptEvery || i === parts - 1 ? DMA_PREP_INTERRUPT : 0);
    const tx = dmaenginePrepDmaMemcpy(
      chan,
      dstT.dmaAddress[0]! + i * size,
      srcT.dmaAddress[0]! + i * size,
      size,
      flags,
    )!;
    tx.callback = (r) => onDone(i, r);
    expect(dmaSubmitError(dmaengineSubmit(tx))).toBe(0);
    return tx;
  });
};

describe("dmaengine: devices, channels and capabilities", () => {
  it("hands out free memcpy channels exclusively, ENODEV when none is left, and names them in sysfs", async () => {
    const kernel = boot();
    const device = addDevice(kernel, { channels: 2, engines: 1 });
    expect(dmaHasCap(DMA_MEMCPY, device.capMask)).toBe(true);
    expect(dmaHasCap(DMA_COMPLETION_NO_ORDER, device.capMask)).toBe(false);
    const a = request(kernel);
    const b = request(kernel);
    expect([a.name, b.name]).toEqual(["dma0chan0", "dma0chan1"]);
    const none = dmaRequestChanByMask(kernel, MEMCPY);
    expect("errno" in none && none.errno).toBe("ENODEV");
    expect(run(kernel.fs.read("/sys/class/dma/dma0chan1/in_use"))).toBe("1\n");
    expect(await errnoOf(dmaAsyncDeviceUnregister(kernel, device))).toBe("EBUSY");
    dmaReleaseChannel(b);
    expect(run(kernel.fs.read("/sys/class/dma/dma0chan1/in_use"))).toBe("0\n");
    expect(request(kernel)).toBe(b);
    // A capability no device has.
    const xor = dmaRequestChanByMask(kernel, dmaCapSet(1));
    expect("errno" in xor && xor.errno).toBe("ENODEV");
    dmaReleaseChannel(a);
    dmaReleaseChannel(b);
    expect(dmaengineGetDmaDevice(a)).toBe(device);
  });

  it("rejects a device with no channels", async () => {
    const kernel = boot();
    const { dmaAsyncDeviceRegister } = await import("../../src/index");
    expect(await errnoOf(dmaAsyncDeviceRegister(kernel, { channels: 0 }))).toBe("EINVAL");
    expect(await errnoOf(dmaAsyncDeviceRegister(kernel, { engines: 65 }))).toBe("EINVAL");
  });

  it("rejects a chunkBytes that is not a whole number of bytes from 1 up, registering nothing", async () => {
    const kernel = boot();
    const { dmaAsyncDeviceRegister } = await import("../../src/index");
    for (const chunkBytes of [0, -4096, 4096.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      const err = await Effect.runPromise(
        Effect.flip(dmaAsyncDeviceRegister(kernel, { channels: 1, engines: 1, chunkBytes })),
      );
      expect(err.errno).toBe("EINVAL");
      expect(err.message).toContain(
        `chunkBytes must be a whole number of bytes, 1..2^53-1, not ${chunkBytes}`,
      );
    }
    // Nothing was registered: no channel to hand out, and the next device is still dma0.
    expect("errno" in dmaRequestChanByMask(kernel, MEMCPY)).toBe(true);
    // Any whole length is taken, a page multiple or not.
    const device = addDevice(kernel, { channels: 1, engines: 1, chunkBytes: 4097 });
    expect(device.name).toBe("dma0");
    expect(device.chunkBytes).toBe(4097);
  });
});

describe("dmaengine: descriptors, cookies and completion", () => {
  it("copies nothing until issue_pending, then copies on an engine thread and calls back", async () => {
    const kernel = boot();
    const device = addDevice(kernel, { channels: 1, engines: 1 });
    const chan = request(kernel);
    const { src, dst, srcT, dstT } = buffers(kernel, device, 16);
    const results: DmaengineResult[] = [];
    const txs = submitParts(chan, srcT, dstT, 4, (_, r) => results.push(r));
    expect(txs.map((t) => t.cookie)).toEqual([1, 2, 3, 4]);
    expect(dmaengineTxStatus(chan, 4)).toBe(DMA_IN_PROGRESS);
    await runP(Effect.promise(() => new Promise((r) => setTimeout(r, 5))));
    expect(dst.bytes().every((b) => b === 0)).toBe(true);
    dmaAsyncIssuePending(chan);
    await runP(waitUntil(() => results.length === 4));
    expect(results.every((r) => r.result === DMA_TRANS_NOERROR && r.residue === 0)).toBe(true);
    expect(sameBytes(dst.bytes(), src.bytes())).toBe(true);
    expect(dmaengineTxStatus(chan, 4)).toBe(DMA_COMPLETE);
    expect(chan.completedCookie).toBe(4);
    expect(run(kernel.fs.read("/sys/class/dma/dma0chan0/memcpy_count"))).toBe("4\n");
    expect(run(kernel.fs.read("/sys/class/dma/dma0chan0/bytes_transferred"))).toBe(
      `${16 * 4096}\n`,
    );
    await runP(dmaengineTerminateSync(chan));
    dmaUnmapSgtable(device, srcT);
    dmaUnmapSgtable(device, dstT);
    dmaReleaseChannel(chan);
    expect(device.iommu!.mappings).toBe(0);
  });

  it("runs callbacks of descriptors without DMA_PREP_INTERRUPT only at an interrupt or a poll", async () => {
    const kernel = boot();
    const device = addDevice(kernel, { channels: 1, engines: 1, chunkBytes: 4096 });
    const chan = request(kernel);
    const { srcT, dstT } = buffers(kernel, device, 4);
    const seen: number[] = [];
    // No descriptor asks for an interrupt: nothing calls back by itself.
    const txs = submitParts(chan, srcT, dstT, 4, (i) => seen.push(i));
    for (const tx of txs) (tx as { flags: number }).flags = DMA_CTRL_ACK;
    dmaAsyncIssuePending(chan);
    await runP(waitUntil(() => txs.every((t) => t.result !== null)));
    expect(seen).toEqual([]);
    expect(device.interrupts).toBe(0);
    // Polling runs them, in completion order.
    expect(dmaengineTxStatus(chan, txs[3]!.cookie)).toBe(DMA_COMPLETE);
    expect(seen).toEqual([0, 1, 2, 3]);
    await runP(dmaengineTerminateSync(chan));
    dmaUnmapSgtable(device, srcT);
    dmaUnmapSgtable(device, dstT);
    dmaReleaseChannel(chan);
  });

  it("an in-order device completes a channel in cookie order even when a descriptor is held up", async () => {
    const kernel = boot();
    const device = addDevice(kernel, { channels: 1, engines: 2, chunkBytes: 4096 });
    const chan = request(kernel);
    const { src, dst, srcT, dstT } = buffers(kernel, device, 8);
    const order: number[] = [];
    dmaInjectFault(device, { kind: "hang", after: 2 });
    submitParts(chan, srcT, dstT, 8, (i) => order.push(i), true);
    dmaAsyncIssuePending(chan);
    await runP(waitUntil(() => order.length === 2 && device.chunksInFlight === 0));
    expect(dmaengineTxStatus(chan, 3)).toBe(DMA_IN_PROGRESS);
    expect(dmaengineTxStatus(chan, 8)).toBe(DMA_IN_PROGRESS);
    expect(order).toEqual([0, 1]);
    dmaReleaseStalled(device);
    await runP(waitUntil(() => order.length === 8));
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(sameBytes(dst.bytes(), src.bytes())).toBe(true);
    await runP(dmaengineTerminateSync(chan));
    dmaUnmapSgtable(device, srcT);
    dmaUnmapSgtable(device, dstT);
    dmaReleaseChannel(chan);
  });

  it("an out-of-order device can run the last descriptor's callback while an earlier one has not completed", async () => {
    const kernel = boot();
    const device = addDevice(kernel, {
      channels: 1,
      engines: 2,
      chunkBytes: 4096,
      outOfOrder: true,
    });
    expect(dmaHasCap(DMA_COMPLETION_NO_ORDER, device.capMask)).toBe(true);
    const chan = request(kernel);
    const { src, dst, srcT, dstT } = buffers(kernel, device, 4);
    const order: number[] = [];
    dmaInjectFault(device, { kind: "hang", after: 0 });
    const txs = submitParts(chan, srcT, dstT, 4, (i) => order.push(i));
    dmaAsyncIssuePending(chan);
    // The seed's driver counts only this callback: it would report the batch done here.
    await runP(waitUntil(() => order.includes(3)));
    expect(txs[0]!.result).toBeNull();
    expect(
      dst
        .bytes()
        .subarray(0, 4096)
        .every((b) => b === 0),
    ).toBe(true);
    expect(dmaengineTxStatus(chan, txs[0]!.cookie)).toBe(DMA_OUT_OF_ORDER);
    dmaReleaseStalled(device);
    await runP(waitUntil(() => txs.every((t) => t.result !== null)));
    dmaengineTxStatus(chan, txs[0]!.cookie);
    expect(order).toContain(0);
    expect(order.indexOf(0)).toBeGreaterThan(order.indexOf(3));
    expect(sameBytes(dst.bytes(), src.bytes())).toBe(true);
    await runP(dmaengineTerminateSync(chan));
    dmaUnmapSgtable(device, srcT);
    dmaUnmapSgtable(device, dstT);
    dmaReleaseChannel(chan);
  });

  it("terminate_sync drops what has not run, waits for what runs, and calls nobody back", async () => {
    const kernel = boot();
    const device = addDevice(kernel, { channels: 1, engines: 1, chunkBytes: 4096 });
    const chan = request(kernel);
    const { srcT, dstT } = buffers(kernel, device, 8);
    const seen: number[] = [];
    dmaInjectFault(device, { kind: "hang", after: 1 });
    const txs = submitParts(chan, srcT, dstT, 8, (i) => seen.push(i), true);
    dmaAsyncIssuePending(chan);
    await runP(waitUntil(() => seen.length === 1 && device.chunksInFlight === 0));
    expect(device.stalledDescriptors).toBe(1);
    await runP(dmaengineTerminateSync(chan));
    expect(device.stalledDescriptors).toBe(0);
    expect(txs.slice(1).every((t) => t.result === DMA_TRANS_ABORTED)).toBe(true);
    expect(dmaengineTxStatus(chan, 2)).toBe(DMA_ERROR);
    expect(dmaengineTxStatus(chan, 1)).toBe(DMA_COMPLETE);
    expect(seen).toEqual([0]);
    dmaUnmapSgtable(device, srcT);
    dmaUnmapSgtable(device, dstT);
    dmaReleaseChannel(chan);
  });

  it("prep, submit, engine and completion faults each fail what they hit and nothing else", async () => {
    const kernel = boot();
    const device = addDevice(kernel, { channels: 1, engines: 1, chunkBytes: 4096 });
    const chan = request(kernel);
    const { srcT, dstT } = buffers(kernel, device, 4);
    dmaInjectFault(device, { kind: "prep" });
    expect(dmaenginePrepDmaMemcpy(chan, dstT.dmaAddress[0]!, srcT.dmaAddress[0]!, 4096, 0)).toBe(
      null,
    );
    dmaInjectFault(device, { kind: "submit" });
    const tx = dmaenginePrepDmaMemcpy(chan, dstT.dmaAddress[0]!, srcT.dmaAddress[0]!, 4096, 0)!;
    expect(dmaSubmitError(dmaengineSubmit(tx))).toBe(-ERRNO.EIO);
    // Lengths the device cannot take.
    expect(dmaenginePrepDmaMemcpy(chan, dstT.dmaAddress[0]!, srcT.dmaAddress[0]!, 0, 0)).toBe(null);
    dmaInjectFault(device, { kind: "completion", after: 1 });
    dmaInjectFault(device, { kind: "worker", after: 2 });
    const results: number[] = [];
    const spawned = device.enginesSpawned;
    submitParts(
      chan,
      srcT,
      dstT,
      4,
      (i, r) => {
        results[i] = r.result;
      },
      true,
    );
    dmaAsyncIssuePending(chan);
    await runP(waitUntil(() => results.filter((r) => r !== undefined).length === 4));
    expect(results).toEqual([
      DMA_TRANS_NOERROR,
      DMA_TRANS_WRITE_FAILED,
      DMA_TRANS_ABORTED,
      DMA_TRANS_NOERROR,
    ]);
    expect(device.enginesSpawned).toBe(spawned + 1);
    expect(device.engines).toBe(1);
    await runP(dmaengineTerminateSync(chan));
    dmaUnmapSgtable(device, srcT);
    dmaUnmapSgtable(device, dstT);
    dmaReleaseChannel(chan);
    dmaInjectFault(device, { kind: "request" });
    const refused = dmaRequestChanByMask(kernel, MEMCPY);
    expect("errno" in refused && refused.errno).toBe("ENODEV");
  });

  it("fails a descriptor that reads a hwpoisoned page, and copies the rest", async () => {
    const kernel = boot();
    const device = addDevice(kernel, { channels: 1, engines: 1 });
    const chan = request(kernel);
    const { src, dst, srcT, dstT } = buffers(kernel, device, 4);
    run(kernel.injectMemoryError(src.pfn + 2));
    const results: number[] = [];
    submitParts(
      chan,
      srcT,
      dstT,
      4,
      (i, r) => {
        results[i] = r.result;
      },
      true,
    );
    dmaAsyncIssuePending(chan);
    await runP(waitUntil(() => results.filter((r) => r !== undefined).length === 4));
    expect(results).toEqual([0, 0, DMA_TRANS_READ_FAILED, 0]);
    expect(sameBytes(dst.bytes().subarray(12288), src.bytes().subarray(12288))).toBe(true);
    expect(
      dst
        .bytes()
        .subarray(8192, 12288)
        .every((b) => b === 0),
    ).toBe(true);
    await runP(dmaengineTerminateSync(chan));
    dmaUnmapSgtable(device, srcT);
    dmaUnmapSgtable(device, dstT);
    dmaReleaseChannel(chan);
  });
});

describe("dmaengine: scatter-gather and the IOMMU", () => {
  it("without an IOMMU (dma-direct) reaches memory at physical addresses; one in no memory fails its descriptor", async () => {
    const kernel = boot();
    const device = addDevice(kernel, { channels: 1, engines: 1, iommu: false });
    expect(device.iommu).toBeNull();
    const chan = request(kernel);
    const { src, dst, srcT, dstT } = buffers(kernel, device, 4);
    // dma_direct_map_sg() (kernel/dma/direct.c): the bus address is phys_to_dma() of the entry.
    expect([srcT.nents, srcT.dmaAddress[0], dstT.dmaAddress[0]]).toEqual([
      1,
      src.pfn * 4096,
      dst.pfn * 4096,
    ]);
    const results: number[] = [];
    const copy = (d: number, s: number, len: number) => {
      const tx = dmaenginePrepDmaMemcpy(chan, d, s, len, DMA_PREP_INTERRUPT)!;
      tx.callback = (r) => results.push(r.result);
      dmaengineSubmit(tx);
    };
    const beyond = kernel.mem.maxPfn * 4096;
    copy(dstT.dmaAddress[0]!, beyond, 4096);
    copy(beyond, srcT.dmaAddress[0]!, 4096);
    copy(dstT.dmaAddress[0]!, srcT.dmaAddress[0]!, 16384);
    dmaAsyncIssuePending(chan);
    await runP(waitUntil(() => results.length === 3));
    expect(results).toEqual([DMA_TRANS_READ_FAILED, DMA_TRANS_WRITE_FAILED, DMA_TRANS_NOERROR]);
    expect(sameBytes(dst.bytes(), src.bytes())).toBe(true);
    await runP(dmaengineTerminateSync(chan));
    dmaUnmapSgtable(device, srcT);
    dmaUnmapSgtable(device, dstT);
    expect([srcT.nents, dstT.nents]).toEqual([0, 0]);
    dmaReleaseChannel(chan);
  });

  it("faults, and moves no byte, for an address outside every mapping or against its direction", async () => {
    const kernel = boot();
    const device = addDevice(kernel, { channels: 1, engines: 1 });
    const chan = request(kernel);
    const { src, dst, srcT, dstT } = buffers(kernel, device, 4);
    const results: number[] = [];
    const copy = (d: number, s: number, len: number) => {
      const tx = dmaenginePrepDmaMemcpy(chan, d, s, len, DMA_PREP_INTERRUPT)!;
      tx.callback = (r) => results.push(r.result);
      dmaengineSubmit(tx);
    };
    copy(dstT.dmaAddress[0]!, srcT.dmaAddress[0]! + 8192, 16384); // runs past the source mapping
    copy(srcT.dmaAddress[0]!, srcT.dmaAddress[0]! + 4096, 4096); // writes a read-only mapping
    copy(dstT.dmaAddress[0]!, 12345, 4096); // not an IOVA at all
    copy(dstT.dmaAddress[0]!, srcT.dmaAddress[0]!, 4096); // fine
    dmaAsyncIssuePending(chan);
    await runP(waitUntil(() => results.length === 4));
    expect(results).toEqual([
      DMA_TRANS_READ_FAILED,
      DMA_TRANS_WRITE_FAILED,
      DMA_TRANS_READ_FAILED,
      DMA_TRANS_NOERROR,
    ]);
    expect(device.iommu!.faults).toBe(3);
    expect(sameBytes(dst.bytes().subarray(0, 4096), src.bytes().subarray(0, 4096))).toBe(true);
    expect(
      dst
        .bytes()
        .subarray(4096)
        .every((b) => b === 0),
    ).toBe(true);
    expect(sameBytes(src.bytes(), pattern(src.size, 1))).toBe(true);
    // Unmapped memory is out of reach too.
    await runP(dmaengineTerminateSync(chan));
    const stale = dstT.dmaAddress[0]!;
    dmaUnmapSgtable(device, dstT);
    copy(stale, srcT.dmaAddress[0]!, 4096);
    dmaAsyncIssuePending(chan);
    await runP(waitUntil(() => results.length === 5));
    expect(results[4]).toBe(DMA_TRANS_WRITE_FAILED);
    await runP(dmaengineTerminateSync(chan));
    dmaUnmapSgtable(device, srcT);
    dmaReleaseChannel(chan);
  });

  it("sixteen channels share two engines, and copies proceed while the initiating thread runs", async () => {
    const kernel = boot({ nodes: ["128M", "128M"] });
    const device = addDevice(kernel, { channels: 16, engines: 2, chunkBytes: 1 << 20 });
    const chans = Array.from({ length: 16 }, () => request(kernel));
    const sets = chans.map((_, i) => buffers(kernel, device, 512, i));
    let done = 0;
    chans.forEach((chan, i) => {
      submitParts(chan, sets[i]!.srcT, sets[i]!.dstT, 2, () => done++);
    });
    for (const chan of chans) dmaAsyncIssuePending(chan);
    // The initiating thread is free: it counts while the engines copy. Both descriptors of every
    // channel call back (the second one's interrupt runs the first one's callback too).
    let spins = 0;
    await runP(
      waitUntil(() => {
        spins++;
        return done === 32;
      }),
    );
    expect(spins).toBeGreaterThan(1);
    for (const [i, s] of sets.entries()) {
      expect(sameBytes(s.dst.bytes(), s.src.bytes()), `channel ${i}`).toBe(true);
      await runP(dmaengineTerminateSync(chans[i]!));
      dmaUnmapSgtable(device, s.srcT);
      dmaUnmapSgtable(device, s.dstT);
      dmaReleaseChannel(chans[i]!);
    }
    expect(device.enginesSpawned).toBe(2);
    expect(device.iommu!.mappings).toBe(0);
  });
});
