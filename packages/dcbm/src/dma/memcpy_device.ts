/**
 * A memcpy DMA controller: channels served by engine threads over the kernel's memory.
 *
 * Models what a dmaengine provider driver does (`drivers/dma/ptdma`, `drivers/dma/idxd`, the
 * `virt-dma` helpers): it owns the channels, keeps each channel's submitted and issued
 * descriptors, feeds issued work to its engines, and reports completion.
 *
 * The engines are the worker threads of a {@link CopyEngine}, and their number is independent of
 * the channel count: 16 channels on a 2-core machine share 2 engines. An engine takes a *chunk*
 * of one channel's issued descriptors (up to `chunkBytes`), translates every bus address first,
 * through the device's {@link IommuDomain} when an IOMMU translates for it, or as a physical
 * address when none does (dma-direct): a descriptor that faults, or that reaches no memory, moves
 * no byte and fails with `DMA_TRANS_READ_FAILED` or `DMA_TRANS_WRITE_FAILED`. It copies the rest
 * on its thread while the initiating thread runs on. A source page that is hwpoisoned fails its
 * descriptor (`DMA_TRANS_READ_FAILED`); an engine thread that dies fails its chunk
 * (`DMA_TRANS_ABORTED`) and is replaced.
 *
 * Ordering: a channel of an in-order device has at most one chunk running, so its descriptors
 * complete in cookie order. A device with `DMA_COMPLETION_NO_ORDER` runs a channel's chunks on
 * every free engine at once, so they complete in any order.
 *
 * Faults are injected from outside, through the fault-injection module (`fault_inject.ts`): each
 * step that can fail asks it whether this occurrence fails, and a descriptor submitted with a
 * fault plays it out when it runs.
 *
 * @module
 */
import { availableParallelism } from "node:os";
import { CopyEngine, ERRNO, type ErrnoError, type Kernel } from "@migrate-offload/core";
import { Effect } from "effect";
import { dmaToPhys } from "./direct";
import {
  type DeviceDmaParameters,
  DMA_DEFAULT_MAX_SEG_SIZE,
  PCI_DEFAULT_SEG_BOUNDARY_MASK,
} from "./dma_mapping_h";
import {
  DMA_COMPLETE,
  DMA_COMPLETION_NO_ORDER,
  DMA_ERROR,
  DMA_IN_PROGRESS,
  DMA_MEMCPY,
  DMA_OUT_OF_ORDER,
  DMA_PREP_INTERRUPT,
  DMA_PRIVATE,
  DMA_TRANS_ABORTED,
  DMA_TRANS_NOERROR,
  DMA_TRANS_READ_FAILED,
  DMA_TRANS_WRITE_FAILED,
  DmaAsyncTxDescriptor,
  type DmaCapMask,
  DmaChan,
  type DmaCookie,
  type DmaDeviceOps,
  type DmaengineTxResult,
  type DmaStatus,
  dmaCapSet,
} from "./dmaengine_h";
import {
  dmaFaultSetReleaseStalled,
  dmaFaultSubmitted,
  dmaShouldFail,
  dmaTxFault,
  dmaTxFaultClear,
} from "./fault_inject";
import { IommuDomain } from "./iommu";

/**
 * The longest memcpy descriptor, in bytes: the 32-bit `length` of a PTDMA descriptor
 * (`struct ptdma_desc`, `drivers/dma/amd/ptdma/ptdma.h`). `pt_prep_dma_memcpy()` sets no other
 * limit; longer lengths are refused here rather than truncated.
 */
const DMA_DEVICE_MAX_LEN = 2 ** 32 - 1;

/**
 * Options of a {@link DmaDevice}: what a provider's probe (`pt_dmaengine_register()`,
 * `drivers/dma/ptdma/ptdma-dmaengine.c`) reads from its hardware.
 *
 * @category Memcpy DMA device
 */
export interface DmaDeviceOptions {
  /** Memcpy channels (default 16). */
  readonly channels?: number;
  /** Engine threads (default: the smaller of the channel count and the machine's CPUs). */
  readonly engines?: number;
  /** Completes descriptors out of order (`DMA_COMPLETION_NO_ORDER`), as Intel DSA may. */
  readonly outOfOrder?: boolean;
  /**
   * Bytes of one channel's work an engine takes at a time (default 8 MiB): whole descriptors, at
   * least one, up to this many bytes. A whole number from 1 up; `dmaAsyncDeviceRegister()` refuses
   * another with `EINVAL`.
   */
  readonly chunkBytes?: number;
  /**
   * Whether an IOMMU translates for the device (default true): its DMA ops are `iommu_dma_ops`
   * and mapping a table goes through `iommu_dma_map_sg()` (`drivers/iommu/dma-iommu.c`), which
   * concatenates entries into segments. `false`: no IOMMU, or an identity domain (`iommu=pt`),
   * and mapping is direct (`dma_direct_map_sg()`, `kernel/dma/direct.c`), one segment per
   * entry. The default is what the series' PTDMA machine class runs: x86 kernels translate
   * device DMA by default (`IOMMU_DEFAULT_DMA_LAZY`), and the what-if profiles
   * (their `dmaMapping`) assume that merging.
   */
  readonly iommu?: boolean;
  /**
   * `dma_set_max_seg_size()`: the device's `max_segment_size`, 1..2³²−1 bytes (default 65536,
   * what `pci_device_add()` gives every PCI device; PTDMA's probe keeps it).
   */
  readonly maxSegmentSize?: number;
  /**
   * `dma_set_seg_boundary()`: the device's `segment_boundary_mask`, one less than a power of two
   * of at least a page (default `0xffffffff`, what `pci_device_add()` gives every PCI device).
   */
  readonly segmentBoundaryMask?: number;
  /** How long an engine thread may take over a chunk before it is replaced (default 10 s). */
  readonly deadlineMs?: number;
  /**
   * The engine threads' entry file (default: the one `@migrate-offload/core` ships, as
   * `@migrate-offload/core/copy-worker.mjs`); see `CopyEngineOptions.workerUrl`.
   */
  readonly workerUrl?: string | URL;
}

/** Per-channel device state: the descriptor lists of a `virt_dma_chan`, and cookie history. */
interface ChanState {
  submitted: DmaAsyncTxDescriptor[];
  issued: DmaAsyncTxDescriptor[];
  head: number;
  stalled: DmaAsyncTxDescriptor[];
  /** An in-order channel held up by a stalled descriptor. */
  blocked: boolean;
  /** Chunks of the channel running on engines. */
  inflight: number;
  /** On the device's ready ring. */
  queued: boolean;
  /** Bumped by terminate: chunks started before it report nothing. */
  epoch: number;
  /** Completed cookies above `completed_cookie`. */
  doneAbove: Set<number>;
  /** Cookies that completed with an error (or were aborted). */
  errored: Set<number>;
  /** Completed descriptors whose callbacks have not run. */
  unreported: DmaAsyncTxDescriptor[];
  /** Terminations waiting for the running chunks to stop. */
  waiters: Array<() => void>;
}

const freshState = (): ChanState => ({
  submitted: [],
  issued: [],
  head: 0,
  stalled: [],
  blocked: false,
  inflight: 0,
  queued: false,
  epoch: 0,
  doneAbove: new Set(),
  errored: new Set(),
  unreported: [],
  waiters: [],
});

/**
 * What stopped a chunk's descriptor before its engine thread: nothing, a fault reading or writing
 * (an IOMMU fault, or an address in no memory), or more physically separate pieces than a ring
 * holds.
 */
const IOMMU_OK = 0;
const IOMMU_READ_FAULT = 1;
const IOMMU_WRITE_FAULT = 2;
const RING_OVERFLOW = 3;

/** One channel's descriptors running on one engine. */
interface Chunk {
  readonly chan: DmaChan;
  readonly state: ChanState;
  readonly epoch: number;
  readonly descs: DmaAsyncTxDescriptor[];
  /** For each descriptor, the IOMMU fault its translation met, if any. */
  readonly iommuFaults: number[];
  readonly tagBase: number;
}

/**
 * A memcpy DMA controller with its channels and engines. Models a `struct dma_device` provider with
 * `struct virt_dma_chan` channels (`drivers/dma/virt-dma.h`), as
 * `drivers/dma/ptdma/ptdma-dmaengine.c` builds one.
 *
 * @category Memcpy DMA device
 */
export class DmaDevice implements DmaDeviceOps {
  /** `dev_name()`, set at registration. */
  name = "";
  /** `cap_mask`. */
  readonly capMask: DmaCapMask;
  /** The channels. */
  readonly channels: DmaChan[];
  /** The IOMMU domain that translates for the device, or null: dma-direct. */
  readonly iommu: IommuDomain | null;
  /** `dev->dma_parms`: its segment limits. */
  readonly dmaParms: DeviceDmaParameters;
  /** The kernel's base page size. */
  readonly pageSize: number;
  /** Whether descriptors may complete out of order. */
  readonly outOfOrder: boolean;
  /** Bytes of one channel an engine takes at a time. */
  readonly chunkBytes: number;
  /** Interrupts raised: completions that ran callbacks on their own. */
  interrupts = 0;
  private readonly engine: CopyEngine;
  private readonly capacity: number;
  private readonly sectionBytes: number;
  private readonly mem: Kernel["mem"];
  /** After a successful {@link translate}: bytes contiguous in both spaces from that address. */
  private run = 0;
  private readonly states: ChanState[];
  private readonly lanes: (Chunk | null)[];
  private readonly readyChans: DmaChan[] = [];
  private kicking = false;
  private rekick = false;
  // Scratch for translating one descriptor into physically contiguous pieces.
  private pieceSrc = new Float64Array(64);
  private pieceDst = new Float64Array(64);
  private pieceLen = new Float64Array(64);

  constructor(kernel: Kernel, options: DmaDeviceOptions = {}) {
    const channels = options.channels ?? 16;
    const engines = options.engines ?? Math.min(channels, availableParallelism());
    this.pageSize = kernel.mem.pageSize;
    this.sectionBytes = kernel.mem.pagesPerSection * kernel.mem.pageSize;
    this.mem = kernel.mem;
    // The IOMMU maps pages of the CPU's size, as its page-table format does when it can.
    this.iommu = options.iommu === false ? null : new IommuDomain(this.pageSize);
    this.dmaParms = {
      maxSegmentSize: options.maxSegmentSize ?? DMA_DEFAULT_MAX_SEG_SIZE,
      segmentBoundaryMask: options.segmentBoundaryMask ?? PCI_DEFAULT_SEG_BOUNDARY_MASK,
    };
    this.outOfOrder = options.outOfOrder ?? false;
    this.chunkBytes = options.chunkBytes ?? 8 * 2 ** 20;
    let mask = dmaCapSet(DMA_PRIVATE, dmaCapSet(DMA_MEMCPY));
    if (this.outOfOrder) mask = dmaCapSet(DMA_COMPLETION_NO_ORDER, mask);
    this.capMask = mask;
    this.channels = Array.from({ length: channels }, (_, i) => new DmaChan(this, i));
    this.states = this.channels.map(freshState);
    // A ring holds a segment of the longest size mapping merges to even when every page of it is
    // a piece of its own (up to 65536 pieces). A descriptor that needs more pieces fails.
    this.capacity = Math.min(
      2 ** 16,
      Math.max(4096, Math.ceil(this.dmaParms.maxSegmentSize / this.pageSize) + 2),
    );
    this.engine = new CopyEngine(kernel, {
      threads: engines,
      capacity: this.capacity,
      maxTags: engines * this.capacity,
      deadlineMs: options.deadlineMs,
      workerUrl: options.workerUrl,
    });
    this.lanes = Array.from({ length: engines }, () => null);
    dmaFaultSetReleaseStalled(this, () => this.releaseStalled());
  }

  /** Engine threads. */
  get engines(): number {
    return this.engine.threads;
  }

  /** Engine threads started over the device's life, replacements included. */
  get enginesSpawned(): number {
    return this.engine.spawned;
  }

  /** Channels a client holds. */
  get channelsInUse(): number {
    return this.channels.filter((c) => c.clientCount > 0).length;
  }

  /** Chunks running on engines now. */
  get chunksInFlight(): number {
    return this.lanes.filter((l) => l !== null).length;
  }

  /** Descriptors held back, stalled, by an injected `hang`. */
  get stalledDescriptors(): number {
    return this.states.reduce((n, s) => n + s.stalled.length, 0);
  }

  /**
   * True while descriptors held by an injected `hang` are all the device has left to finish: no
   * chunk runs on an engine thread, no completion waits to be reported, and every channel with
   * issued descriptors left is held up behind a stalled one. Nothing but its client's timeout
   * (`wait_for_completion_timeout()` in dcbm) ends that client's wait. A test hook with no kernel
   * symbol, beside the `hang` fault it follows: a harness whose clock it may move skips the wait
   * (`@migrate-offload/testkit`'s conformance runs).
   */
  get waitingOnHang(): boolean {
    if (this.chunksInFlight > 0) return false;
    let stalled = false;
    for (const st of this.states) {
      if (st.unreported.length > 0) return false;
      if (st.head < st.issued.length && !st.blocked) return false;
      if (st.stalled.length > 0) stalled = true;
    }
    return stalled;
  }

  /** Lets descriptors held by a `hang` fault run after all, in their channel's order. */
  private releaseStalled(): void {
    this.channels.forEach((chan, i) => {
      const st = this.states[i]!;
      if (st.stalled.length === 0) return;
      st.issued = [...st.stalled, ...st.issued.slice(st.head)];
      st.head = 0;
      st.stalled = [];
      st.blocked = false;
      this.enqueue(chan, st);
    });
    this.kick();
  }

  /**
   * `device_prep_dma_memcpy`: null on a channel not held, a length of 0 or above what a
   * descriptor holds (2³²−1 bytes), or an injected fault.
   */
  prepMemcpy(
    chan: DmaChan,
    dst: number,
    src: number,
    len: number,
    flags: number,
  ): DmaAsyncTxDescriptor | null {
    if (chan.clientCount === 0 || !(len > 0) || len > DMA_DEVICE_MAX_LEN) return null;
    if (dmaShouldFail(this, "prep")) return null;
    return new DmaAsyncTxDescriptor(chan, dst, src, len, flags);
  }

  /** `tx_submit`: the next cookie, or `-EIO` from an injected fault. */
  submit(tx: DmaAsyncTxDescriptor): DmaCookie {
    if (tx.cookie > 0) return -ERRNO.EINVAL;
    if (dmaShouldFail(this, "submit")) return -ERRNO.EIO;
    const chan = tx.chan;
    chan.cookie++;
    tx.cookie = chan.cookie;
    dmaFaultSubmitted(this, tx);
    this.states[chan.chanId]!.submitted.push(tx);
    return tx.cookie;
  }

  /** `device_issue_pending`: the submitted descriptors become eligible to run. */
  issuePending(chan: DmaChan): void {
    const st = this.states[chan.chanId]!;
    if (st.submitted.length === 0) return;
    for (const tx of st.submitted) st.issued.push(tx);
    st.submitted.length = 0;
    this.enqueue(chan, st);
    this.kick();
  }

  /** `device_tx_status`: reaps finished chunks, runs due callbacks, then reports on `cookie`. */
  txStatus(chan: DmaChan, cookie: DmaCookie): DmaStatus {
    this.poll();
    const st = this.states[chan.chanId]!;
    this.runCallbacks(st);
    if (this.outOfOrder) return DMA_OUT_OF_ORDER;
    if (st.errored.has(cookie)) return DMA_ERROR;
    if (cookie <= chan.completedCookie || st.doneAbove.has(cookie)) return DMA_COMPLETE;
    return DMA_IN_PROGRESS;
  }

  /** Checks every engine for a finished chunk without waiting for its wake-up. */
  poll(): void {
    for (let lane = 0; lane < this.lanes.length; lane++) {
      if (this.lanes[lane]) this.engine.pollLane(lane);
    }
  }

  /** `device_terminate_all` then `device_synchronize`. */
  terminateSync(chan: DmaChan): Effect.Effect<void> {
    return Effect.suspend(() => {
      const st = this.states[chan.chanId]!;
      st.epoch++;
      const dropped = [...st.submitted, ...st.issued.slice(st.head), ...st.stalled];
      st.submitted = [];
      st.issued = [];
      st.head = 0;
      st.stalled = [];
      st.blocked = false;
      for (const tx of dropped) this.complete(chan, st, tx, DMA_TRANS_ABORTED, false);
      st.unreported = [];
      if (st.inflight === 0) return Effect.void;
      return Effect.callback<void>((resume) => {
        st.waiters.push(() => resume(Effect.void));
      });
    });
  }

  /** `device_free_chan_resources`: the channel must have nothing running. */
  freeChanResources(chan: DmaChan): void {
    const st = this.states[chan.chanId]!;
    if (st.inflight > 0 || st.head < st.issued.length || st.submitted.length > 0) {
      throw new Error(`${chan.name} released with transfers still queued or running`);
    }
    this.states[chan.chanId] = freshState();
    chan.cookie = 0;
    chan.completedCookie = 0;
  }

  /** Stops the engine threads; the device cannot be used afterwards. */
  shutdown(): Effect.Effect<void> {
    return this.engine.terminate();
  }

  /**
   * Completes once every engine thread is running; fails, naming the entry file, when one could
   * not start. Registration waits for it, as a provider's probe fails when its hardware does not
   * answer.
   */
  ready(): Effect.Effect<void, ErrnoError> {
    return this.engine.ready();
  }

  private enqueue(chan: DmaChan, st: ChanState): void {
    if (st.queued) return;
    st.queued = true;
    this.readyChans.push(chan);
  }

  private dispatchable(st: ChanState): boolean {
    return !st.blocked && st.head < st.issued.length && (this.outOfOrder || st.inflight === 0);
  }

  /** Gives every idle engine a chunk of the next ready channel, round robin. */
  private kick(): void {
    if (this.kicking) {
      this.rekick = true;
      return;
    }
    this.kicking = true;
    try {
      do {
        this.rekick = false;
        for (let lane = 0; lane < this.lanes.length; lane++) {
          if (this.lanes[lane] !== null) continue;
          let chan: DmaChan | null = null;
          while (this.readyChans.length > 0 && !chan) {
            const next = this.readyChans.shift()!;
            const st = this.states[next.chanId]!;
            st.queued = false;
            if (this.dispatchable(st)) chan = next;
          }
          if (!chan) break;
          this.dispatch(lane, chan);
        }
      } while (this.rekick);
    } finally {
      this.kicking = false;
    }
  }

  /**
   * A device access at bus address `addr`, for writing or reading: the physical byte address,
   * with {@link run} set to the bytes contiguous from there, or -1. Through the IOMMU when one
   * translates (a fault is counted there); otherwise the address is physical, and it must lie in
   * memory.
   */
  private translate(addr: number, write: boolean): number {
    if (this.iommu) {
      const phys = this.iommu.translate(addr, write);
      this.run = this.iommu.run;
      return phys;
    }
    const phys = dmaToPhys(addr);
    const pfn = Math.floor(phys / this.pageSize);
    if (!this.mem.pfnValid(pfn)) return -1;
    const section = pfn >>> this.mem.pfnSectionShift;
    this.run = this.mem.sections[section]!.byteLength - (phys - section * this.sectionBytes);
    return phys;
  }

  /**
   * Splits a descriptor into physically contiguous pieces within one memory section each, into
   * the scratch arrays. Returns the count, -1 for a fault reading, -2 for a fault writing.
   */
  private plan(tx: DmaAsyncTxDescriptor): number {
    let n = 0;
    for (let done = 0; done < tx.len; n++) {
      const s = this.translate(tx.src + done, false);
      if (s < 0) return -1;
      const sRun = this.run;
      const d = this.translate(tx.dst + done, true);
      if (d < 0) return -2;
      const len = Math.min(
        tx.len - done,
        sRun,
        this.run,
        this.sectionBytes - (s % this.sectionBytes),
        this.sectionBytes - (d % this.sectionBytes),
      );
      if (n === this.pieceLen.length) {
        const grow = (a: Float64Array) => {
          const b = new Float64Array(a.length * 2);
          b.set(a);
          return b;
        };
        this.pieceSrc = grow(this.pieceSrc);
        this.pieceDst = grow(this.pieceDst);
        this.pieceLen = grow(this.pieceLen);
      }
      this.pieceSrc[n] = s;
      this.pieceDst[n] = d;
      this.pieceLen[n] = len;
      done += len;
    }
    return n;
  }

  private dispatch(lane: number, chan: DmaChan): void {
    const st = this.states[chan.chanId]!;
    const tagBase = lane * this.capacity;
    const ps = this.pageSize;
    this.engine.clearTags(tagBase, this.capacity);
    const descs: DmaAsyncTxDescriptor[] = [];
    const iommuFaults: number[] = [];
    let bytes = 0;
    let kill = false;
    while (st.head < st.issued.length && descs.length < this.capacity) {
      const tx = st.issued[st.head]!;
      const injected = dmaTxFault(tx);
      if (injected === "hang") {
        st.head++;
        dmaTxFaultClear(tx);
        st.stalled.push(tx);
        if (!this.outOfOrder) {
          st.blocked = true;
          break;
        }
        continue;
      }
      if (descs.length > 0 && bytes + tx.len > this.chunkBytes) break;
      let pieces = this.plan(tx);
      const tag = tagBase + descs.length;
      let iommuFault = IOMMU_OK;
      if (pieces > this.capacity) {
        pieces = 0;
        iommuFault = RING_OVERFLOW;
      } else if (pieces > this.capacity - this.engine.queued(lane)) break;
      if (pieces < 0) iommuFault = pieces === -1 ? IOMMU_READ_FAULT : IOMMU_WRITE_FAULT;
      if (iommuFault !== IOMMU_OK) this.engine.clearTags(tag, 1);
      for (let i = 0; i < pieces; i++) {
        const s = this.pieceSrc[i]!;
        const d = this.pieceDst[i]!;
        this.engine.pushCopy(
          lane,
          Math.floor(s / ps),
          s % ps,
          Math.floor(d / ps),
          d % ps,
          this.pieceLen[i]!,
          tag,
        );
      }
      // A descriptor the IOMMU stopped never reaches its engine thread.
      if (iommuFault === IOMMU_OK && injected === "worker") kill = true;
      descs.push(tx);
      iommuFaults.push(iommuFault);
      st.head++;
      bytes += tx.len;
    }
    if (st.head === st.issued.length) {
      st.issued.length = 0;
      st.head = 0;
    }
    if (descs.length === 0) return;
    this.lanes[lane] = { chan, state: st, epoch: st.epoch, descs, iommuFaults, tagBase };
    st.inflight++;
    if (this.dispatchable(st)) this.enqueue(chan, st);
    if (this.engine.queued(lane) === 0) {
      this.finish(lane, true);
      return;
    }
    if (kill) this.engine.inject(lane, "crash");
    this.engine.startLane(lane, (ok) => this.finish(lane, ok));
  }

  /** An engine finished (or lost) its chunk: complete its descriptors, then feed it again. */
  private finish(lane: number, ok: boolean): void {
    const chunk = this.lanes[lane];
    if (!chunk) return;
    this.lanes[lane] = null;
    const { chan, state: st } = chunk;
    st.inflight--;
    const live = chunk.epoch === st.epoch;
    let interrupt = false;
    for (let i = 0; i < chunk.descs.length; i++) {
      const tx = chunk.descs[i]!;
      const iommuFault = chunk.iommuFaults[i]!;
      let result: DmaengineTxResult = DMA_TRANS_NOERROR;
      if (!ok || iommuFault === RING_OVERFLOW) result = DMA_TRANS_ABORTED;
      else if (iommuFault === IOMMU_READ_FAULT || this.engine.tagFailed(chunk.tagBase + i))
        result = DMA_TRANS_READ_FAILED;
      else if (iommuFault === IOMMU_WRITE_FAULT || dmaTxFault(tx) === "completion")
        result = DMA_TRANS_WRITE_FAILED;
      this.complete(chan, st, tx, result, live);
      if (result === DMA_TRANS_NOERROR) {
        chan.memcpyCount++;
        chan.bytesTransferred += tx.len;
      }
      if ((tx.flags & DMA_PREP_INTERRUPT) !== 0 || result !== DMA_TRANS_NOERROR) interrupt = true;
    }
    if (live && interrupt) {
      this.interrupts++;
      this.runCallbacks(st);
    }
    if (st.inflight === 0 && st.waiters.length > 0) {
      const waiters = st.waiters;
      st.waiters = [];
      for (const wake of waiters) wake();
    }
    if (this.dispatchable(st)) this.enqueue(chan, st);
    this.kick();
  }

  /** Records a descriptor's end: its result, and the channel's cookie history. */
  private complete(
    chan: DmaChan,
    st: ChanState,
    tx: DmaAsyncTxDescriptor,
    result: DmaengineTxResult,
    report: boolean,
  ): void {
    tx.result = result;
    const cookie = tx.cookie;
    if (cookie <= 0) return;
    if (result !== DMA_TRANS_NOERROR) st.errored.add(cookie);
    if (cookie === chan.completedCookie + 1) {
      chan.completedCookie = cookie;
      while (st.doneAbove.delete(chan.completedCookie + 1)) chan.completedCookie++;
    } else st.doneAbove.add(cookie);
    if (report) st.unreported.push(tx);
  }

  /** Runs the callbacks of the channel's completed descriptors, in completion order. */
  private runCallbacks(st: ChanState): void {
    if (st.unreported.length === 0) return;
    const done = st.unreported;
    st.unreported = [];
    for (const tx of done) {
      const result = tx.result ?? DMA_TRANS_ABORTED;
      tx.callback?.({ result, residue: result === DMA_TRANS_NOERROR ? 0 : tx.len });
    }
  }
}
