/**
 * dcbm, the DMA Core Batch Migrator.
 *
 * Models `drivers/migrate_offload/dcbm/dcbm.c` of the series (v4 patch 5, with the v6 reason
 * mask): a module that, once `offloading` is set, registers the `DCBM` migrator and copies each
 * batch of folios with dmaengine memcpy channels. For one batch it:
 *
 * 1. takes up to `min(nr_dma_chan, nr_folios, 16)` channels with `dma_request_chan_by_mask()`
 *    (`-ENODEV` when it gets none);
 * 2. gives channel `i` of `c` the folios `[n·i/c, n·(i+1)/c)`, the seed's split;
 * 3. builds a source and a destination sg table per channel, one entry per folio, and maps each
 *    with one `dma_map_sgtable()` for the channel's device: behind an IOMMU the entries
 *    concatenate into DMA segments of up to `dma_get_max_seg_size()` (64 KiB on a PCI device)
 *    whatever their physical layout, without one each entry is a segment;
 * 4. walks the two mapped lists **by byte offset**, a descriptor ending wherever either side's
 *    segment ends. Both of Linux's mapping paths give the two tables the same segments (a
 *    destination folio is as long as its source, and neither path looks at where memory is), so
 *    this is one descriptor per segment, as the seed's loop prepares; the seed's `-EINVAL` for
 *    differing `nents` (which review asked about) cannot fire, and is not needed;
 * 5. prepares and submits those memcpy descriptors, issues them, and waits for every channel, for
 *    at most 10 s in all (`-ETIMEDOUT`);
 * 6. marks each destination folio whose every descriptor completed without error
 *    `FOLIO_CONTENT_COPIED`; the others stay unmarked and the migration core copies them on the
 *    CPU.
 *
 * Completion is tracked per descriptor: every descriptor has a callback, and on a device that
 * completes out of order (`DMA_COMPLETION_NO_ORDER`) every descriptor also asks for an interrupt.
 * The seed counted only the last descriptor's callback, which reordering makes fire early (raised
 * in review of v6). In `polling` mode no descriptor asks for an interrupt and the driver polls
 * `dmaengine_tx_status()` between turns of the event loop instead.
 *
 * Beyond the seed, a policy (`policy`: `always`, the seed's, by default, or `adaptive`): with
 * `adaptive` the driver offloads a batch only when the copy-cost model (`migrate_copy_cost.ts`
 * of the core) predicts its channels finish no later than the CPU copy, and otherwise declines it
 * (`-EOPNOTSUPP`, the CPU copy at no cost, as v5 allows); with the `learn` option (on by
 * default), once it has
 * measured batches like it both ways (each batch's wall time, from `batchDone`), it takes the
 * cheaper instead (`OffloadLearner` of the core). Each decision is counted (`batches_taken`,
 * `batches_declined`) and traced (`mm_migrate_offload_decision`).
 *
 * Every channel's resources are scoped: whatever path the batch takes, the channel is terminated,
 * its tables unmapped and freed, and the channel released, in that order, before the copy returns.
 *
 * The file follows `dcbm.c`: the driver's globals (`DcbmState`), `struct dma_work`, the
 * completion callback, the channel and sg-table set-up and teardown, the descriptor submission,
 * `folios_copy_dma()` and `dma_should_batch()`, the sysfs attributes, and the module
 * (`dcbm_init()` / `dcbm_exit()`, written by `defineMigratorModule`). Each function takes the
 * driver's state, as the C functions use its globals.
 *
 * @module
 */
import {
  type Attribute,
  type BatchOutcome,
  batchPairs,
  type CopyBatch,
  type CopyCostProfile,
  calibrateCopyCost,
  counterAttribute,
  type DmaDescriptorCount,
  defineMigratorModule,
  ERRNO,
  type FolioList,
  folioMarkContentCopied,
  type Kernel,
  kstrtobool,
  kstrtouint,
  type MigrateReason,
  type Migrator,
  type MigratorModule,
  type MigratorModuleDriver,
  type ModuleDefinition,
  MR_COMPACTION,
  MR_DEMOTION,
  MR_NUMA_MISPLACED,
  MR_SYSCALL,
  OffloadPolicy,
  sysfsStreq,
} from "@migrate-offload/core";
import { Effect, Option, type Scope } from "effect";
import { dmaMapSgtable, dmaMapSgtableSegments, dmaUnmapSgtable } from "./dma/dma_mapping";
import {
  dmaDevicesReady,
  dmaEngineCore,
  dmaReleaseChannel,
  dmaRequestChanByMask,
} from "./dma/dmaengine";
import {
  DMA_COMPLETION_NO_ORDER,
  DMA_CTRL_ACK,
  DMA_MEMCPY,
  DMA_PREP_INTERRUPT,
  DMA_TRANS_NOERROR,
  type DmaAsyncTxDescriptor,
  DmaChan,
  type DmaDeviceOps,
  dmaAsyncIssuePending,
  dmaCapSet,
  dmaengineGetDmaDevice,
  dmaenginePrepDmaMemcpy,
  dmaengineSubmit,
  dmaengineTerminateSync,
  dmaengineTxStatus,
  dmaHasCap,
  dmaSubmitError,
} from "./dma/dmaengine_h";
import { DMA_FROM_DEVICE, DMA_TO_DEVICE, type DmaDataDirection } from "./dma/iommu";
import { SgTable, sgAllocTable, sgFreeTable, sgSetFolio } from "./dma/scatterlist";

/**
 * `MAX_DMA_CHANNELS` (`drivers/migrate_offload/dcbm/dcbm.c`): the most channels one batch uses.
 *
 * @category DCBM driver
 */
export const MAX_DMA_CHANNELS = 16;
/**
 * The migrator's name, as `dma_migrator` (`drivers/migrate_offload/dcbm/dcbm.c`) spells it in its
 * `struct migrator`.
 *
 * @category DCBM driver
 */
export const DCBM_MIGRATOR_NAME = "DCBM";
/**
 * The module name: `KBUILD_MODNAME` of `drivers/migrate_offload/dcbm/dcbm.c`.
 *
 * @category DCBM driver
 */
export const DCBM_MODULE_NAME = "dcbm";
/**
 * The control directory: `kobject_create_and_add("dcbm", kernel_kobj)` in `dcbm_init()`
 * (`drivers/migrate_offload/dcbm/dcbm.c`).
 *
 * @category DCBM driver
 */
export const DCBM_SYSFS_DIR = "/sys/kernel/dcbm";
/**
 * How long one batch may wait for its channels, in milliseconds: the 10 s
 * `wait_for_completion_timeout()` of `folios_copy_dma()` (`drivers/migrate_offload/dcbm/dcbm.c`).
 *
 * @category DCBM driver
 */
export const DCBM_TIMEOUT_MS = 10_000;
/**
 * The reasons `dma_should_batch()` (`drivers/migrate_offload/dcbm/dcbm.c`) accepts: syscalls,
 * compaction, demotion, NUMA balancing.
 *
 * @category DCBM driver
 */
export const DCBM_DEFAULT_REASONS =
  (1 << MR_SYSCALL) | (1 << MR_COMPACTION) | (1 << MR_DEMOTION) | (1 << MR_NUMA_MISPLACED);

/**
 * How the driver learns that its descriptors completed: by `dma_completion_callback()`
 * (`drivers/migrate_offload/dcbm/dcbm.c`) on an interrupt, or (beyond the seed) by polling
 * `dmaengine_tx_status()`.
 *
 * @category DCBM driver
 */
export type DcbmCompletion = "interrupt" | "polling";

/**
 * Which batches the driver takes: `always`, every batch its reason mask allows, as
 * `folios_copy_dma()` (`drivers/migrate_offload/dcbm/dcbm.c`) does; or (beyond the seed)
 * `adaptive`, only those the copy-cost model predicts it copies no slower than the CPU.
 *
 * @category DCBM driver
 */
export type DcbmPolicy = "always" | "adaptive";

/**
 * Options of {@link dcbmDriver}: the initial `nr_dma_channels` and the batch timeout of
 * `drivers/migrate_offload/dcbm/dcbm.c`, and the completion mode.
 *
 * @category DCBM driver
 */
export interface DcbmOptions {
  /** Initial `nr_dma_chan` (default 1, as in the seed). */
  readonly nrDmaChan?: number;
  /** Initial completion mode (default `interrupt`). */
  readonly completion?: DcbmCompletion;
  /** The batch timeout in milliseconds (default {@link DCBM_TIMEOUT_MS}), on Effect's clock. */
  readonly timeoutMs?: number;
  /** Initial policy (default `always`, the seed's). */
  readonly policy?: DcbmPolicy;
  /**
   * The copy-cost profile `adaptive` decides with (a fixed or saved one, see
   * `parseCopyCostProfile` of the core); default: calibrated at the first `adaptive` batch.
   */
  readonly costProfile?: CopyCostProfile;
  /**
   * Whether `adaptive` learns from whole batches (`OffloadLearner` of the core: each batch's wall
   * time, from `batchDone`) and takes the cheaper once measured; default true. False: the
   * copy-cost model alone, which compares copy steps and declines the batches of small folios
   * whose batch flow with DMA beats the per-folio path although the copy alone does not
   * (docs/benchmarks.md).
   */
  readonly learn?: boolean;
}

/**
 * A dcbm driver built for one kernel: the module of `drivers/migrate_offload/dcbm/dcbm.c`
 * (`dcbm_init()` / `dcbm_exit()`), its `dma_migrator` and its counters.
 *
 * @category DCBM driver
 */
export interface DcbmDriver {
  /** The module definition, for `kernel.loadModule`. */
  readonly module: ModuleDefinition;
  /** The migrator, bound to its module once loaded. */
  readonly migrator: Migrator;
  /** `folios_migrated`: folios the DMA copied. */
  readonly foliosMigrated: number;
  /** `folios_failures`: folios of offered batches that fell back to the CPU. */
  readonly foliosFailures: number;
  /** `offloading`. */
  readonly offloading: boolean;
  /** The current policy. */
  readonly policy: DcbmPolicy;
  /** `adaptive`'s model: its profile and its taken and declined counters. */
  readonly offloadPolicy: OffloadPolicy;
}

/**
 * The driver's globals: `folios_migrated`, `folios_failures` and `nr_dma_channels` of `dcbm.c`,
 * the completion mode and timeout, and the module, which holds `offloading_enabled`, `dcbm_mutex`,
 * `dma_migrator` and the reason mask. One per {@link dcbmDriver}.
 */
interface DcbmState {
  readonly kernel: Kernel;
  /** `nr_dma_channels`: channels one batch asks for. */
  nrDmaChannels: number;
  /** How the driver learns that descriptors completed. */
  completion: DcbmCompletion;
  /** Whether `adaptive` learns from whole batches (the `learn` option). */
  readonly learn: boolean;
  /** How long one batch may wait, in milliseconds. */
  readonly timeoutMs: number;
  /** `folios_migrated`. */
  foliosMigrated: number;
  /** `folios_failures`. */
  foliosFailures: number;
  /** Which batches it takes. */
  policy: DcbmPolicy;
  /** The copy-cost model `adaptive` decides with, and its counters. */
  readonly offloadPolicy: OffloadPolicy;
  /** The module skeleton: `offloading`, the driver lock, the migrator, the reason mask. */
  readonly module: MigratorModule;
  /** {@link dmaDescriptors}' count and the device it counts for, made once per device. */
  descriptors: { readonly device: DmaDeviceOps; readonly count: DmaDescriptorCount } | null;
}

/** One channel's share of a batch. Models the seed's `struct dma_work`. */
interface DmaWork {
  readonly chan: DmaChan;
  /** First folio of the batch it copies, and how many. */
  readonly first: number;
  readonly count: number;
  /** `src_sgt`, `dst_sgt`: set once both are mapped (the seed's `mapped`). */
  src: SgTable | null;
  dst: SgTable | null;
  readonly descs: DmaAsyncTxDescriptor[];
  /** For each descriptor, the first and last folio (batch indices) it writes to. */
  readonly descFirst: number[];
  readonly descLast: number[];
  /** `pending`: descriptors whose callback has not run. */
  pending: number;
  /** 0, or why setting the channel up failed. */
  rc: number;
  /** `done`: wakes the waiter once `pending` drops to 0. */
  wake: (() => void) | null;
}

/** `dma_completion_callback()`: one of the work's descriptors completed. */
const dmaCompletionCallback = (work: DmaWork): void => {
  work.pending--;
  if (work.pending === 0) work.wake?.();
};

/**
 * `dma_request_chan_by_mask()` for one channel of the batch, which `cleanup_dma_work()` gives
 * back with `dma_release_channel()` when the batch's scope closes. `ENODEV` when none is free.
 */
const dmaRequestChanScoped = (dcbm: DcbmState) =>
  Effect.acquireRelease(
    Effect.sync(() => dmaRequestChanByMask(dcbm.kernel, dmaCapSet(DMA_MEMCPY))),
    (chan) => Effect.sync(() => (chan instanceof DmaChan ? dmaReleaseChannel(chan) : undefined)),
  );

/**
 * `dma_map_sgtable()` of one table for the channel's device; `cleanup_dma_work()` unmaps it
 * (when it was mapped) and frees it when the batch's scope closes.
 */
const dmaMapSgtableScoped = (chan: DmaChan, sgt: SgTable, direction: DmaDataDirection) =>
  Effect.acquireRelease(
    Effect.sync(() => dmaMapSgtable(dmaengineGetDmaDevice(chan), sgt, direction)),
    (rc) =>
      Effect.sync(() => {
        if (rc === 0) dmaUnmapSgtable(dmaengineGetDmaDevice(chan), sgt);
        sgFreeTable(sgt);
      }),
  );

/**
 * `setup_sg_tables()`: builds the work's source and destination tables, one entry per folio,
 * and maps both for the channel's device. 0, or a negative errno: `-ENOMEM` when a table cannot
 * be allocated or the IOMMU has no IOVA space left for it (its folios then stay unmarked). Once both are mapped the channel is terminated when the batch's scope closes,
 * before its tables are unmapped.
 */
const setupSgTables = (
  dcbm: DcbmState,
  work: DmaWork,
  srcs: Int32Array,
  dsts: Int32Array,
): Effect.Effect<number, never, Scope.Scope> =>
  Effect.gen(function* () {
    const m = dcbm.kernel.memmap;
    const pageSize = dcbm.kernel.mem.pageSize;
    const src = sgAllocTable(work.count);
    const dst = sgAllocTable(work.count);
    if (!(src instanceof SgTable)) return -ERRNO.ENOMEM;
    if (!(dst instanceof SgTable)) return -ERRNO.ENOMEM;
    for (let j = 0; j < work.count; j++) {
      const bytes = m.folioNrPages(srcs[work.first + j]!) * pageSize;
      sgSetFolio(src, j, srcs[work.first + j]!, bytes);
      sgSetFolio(dst, j, dsts[work.first + j]!, bytes);
    }
    const srcRc = yield* dmaMapSgtableScoped(work.chan, src, DMA_TO_DEVICE);
    if (srcRc !== 0) return srcRc;
    const dstRc = yield* dmaMapSgtableScoped(work.chan, dst, DMA_FROM_DEVICE);
    if (dstRc !== 0) return dstRc;
    yield* Effect.addFinalizer(() => dmaengineTerminateSync(work.chan));
    work.src = src;
    work.dst = dst;
    return 0;
  });

/**
 * `submit_dma_transfers()`: prepares and submits the work's memcpy descriptors. 0, or `-EIO`
 * when the device refuses one (its folios then stay unmarked).
 *
 * It walks both mapped lists **by byte offset**, so a descriptor ends wherever either side's DMA
 * segment does: one descriptor per segment, since both sides map alike, and right even if they
 * did not. Every descriptor has the completion callback; with interrupts, the last one asks for an interrupt, and on a device
 * that completes out of order every one does.
 */
const submitDmaTransfers = (dcbm: DcbmState, work: DmaWork, srcs: Int32Array): number => {
  const m = dcbm.kernel.memmap;
  const pageSize = dcbm.kernel.mem.pageSize;
  const src = work.src!;
  const dst = work.dst!;
  let total = 0;
  for (let j = 0; j < work.count; j++) total += src.length[j]!;
  const noOrder = dmaHasCap(DMA_COMPLETION_NO_ORDER, dmaengineGetDmaDevice(work.chan).capMask);
  const interrupt = dcbm.completion === "interrupt";
  const callback = () => dmaCompletionCallback(work);
  let si = 0;
  let di = 0;
  let sOff = 0;
  let dOff = 0;
  let folio = work.first;
  let folioEnd = m.folioNrPages(srcs[folio]!) * pageSize;
  for (let pos = 0; pos < total; ) {
    const len = Math.min(src.dmaLength[si]! - sOff, dst.dmaLength[di]! - dOff);
    const last = pos + len === total;
    const flags = DMA_CTRL_ACK | (interrupt && (last || noOrder) ? DMA_PREP_INTERRUPT : 0);
    const tx = dmaenginePrepDmaMemcpy(
      work.chan,
      dst.dmaAddress[di]! + dOff,
      src.dmaAddress[si]! + sOff,
      len,
      flags,
    );
    if (!tx) return -ERRNO.EIO;
    tx.callback = callback;
    const cookie = dmaengineSubmit(tx);
    if (dmaSubmitError(cookie)) return -ERRNO.EIO;
    work.pending++;
    work.descs.push(tx);
    while (folioEnd <= pos) folioEnd += m.folioNrPages(srcs[++folio]!) * pageSize;
    work.descFirst.push(folio);
    let lastFolio = folio;
    for (let end = folioEnd; end < pos + len; ) {
      end += m.folioNrPages(srcs[++lastFolio]!) * pageSize;
    }
    work.descLast.push(lastFolio);
    pos += len;
    sOff += len;
    dOff += len;
    if (sOff === src.dmaLength[si]) {
      si++;
      sOff = 0;
    }
    if (dOff === dst.dmaLength[di]) {
      di++;
      dOff = 0;
    }
  }
  return 0;
};

/**
 * The seed's `wait_for_completion()` on every channel: waits until each set-up work's
 * descriptors have all called back, woken by their callbacks, or, in `polling` mode, polling
 * `dmaengine_tx_status()` between turns of the event loop.
 */
const waitForDmaWork = (dcbm: DcbmState, works: readonly DmaWork[]): Effect.Effect<void> => {
  const busy = works.filter((w) => w.rc === 0 && w.pending > 0);
  if (busy.length === 0) return Effect.void;
  if (dcbm.completion === "interrupt") {
    return Effect.all(
      busy.map((w) =>
        Effect.callback<void>((resume) => {
          if (w.pending === 0) return resume(Effect.void);
          w.wake = () => resume(Effect.void);
          return Effect.sync(() => {
            w.wake = null;
          });
        }),
      ),
      { concurrency: "unbounded", discard: true },
    );
  }
  return Effect.callback<void>((resume) => {
    let timer: ReturnType<typeof setImmediate> | undefined;
    const tick = () => {
      let left = 0;
      for (const w of busy) {
        if (w.pending === 0) continue;
        dmaengineTxStatus(w.chan, w.descs[w.descs.length - 1]!.cookie);
        if (w.pending > 0) left++;
      }
      if (left === 0) resume(Effect.void);
      else timer = setImmediate(tick);
    };
    tick();
    return Effect.sync(() => {
      if (timer !== undefined) clearImmediate(timer);
    });
  });
};

/**
 * Marks every destination folio whose descriptors all completed without error
 * `FOLIO_CONTENT_COPIED`, counts the batch into `folios_migrated` and `folios_failures`, and
 * returns the batch's result: the first work's set-up error, `-ETIMEDOUT`, `-EIO` when a folio
 * was left unmarked, or 0.
 */
const dmaWorkComplete = (
  dcbm: DcbmState,
  works: readonly DmaWork[],
  dsts: Int32Array,
  timedOut: boolean,
): number => {
  const n = dsts.length;
  const failed = new Uint8Array(n);
  let rc = 0;
  for (const w of works) {
    if (w.rc !== 0) {
      failed.fill(1, w.first, w.first + w.count);
      rc ||= w.rc;
      continue;
    }
    w.descs.forEach((tx, k) => {
      if (tx.result !== DMA_TRANS_NOERROR) failed.fill(1, w.descFirst[k]!, w.descLast[k]! + 1);
    });
  }
  let copied = 0;
  for (let i = 0; i < n; i++) {
    if (failed[i]) continue;
    folioMarkContentCopied(dcbm.kernel, dsts[i]!);
    copied++;
  }
  dcbm.foliosMigrated += copied;
  dcbm.foliosFailures += n - copied;
  if (timedOut) rc ||= -ERRNO.ETIMEDOUT;
  if (copied < n) rc ||= -ERRNO.EIO;
  return rc;
};

/**
 * `folios_copy_dma()`, the migrator's `offload_copy`: copies one batch over up to
 * `min(nr_dma_chan, nr_folios, MAX_DMA_CHANNELS)` channels, channel `i` of `c` taking the folios
 * `[n·i/c, n·(i+1)/c)`. Several migrations may copy through the driver at once; each batch has
 * its own works and scope. With `adaptive`, `offered` (the batch `shouldBatch` offered) ties the
 * decision made there to this copy.
 */
const foliosCopyDma = (
  dcbm: DcbmState,
  dstList: FolioList,
  srcList: FolioList,
  count: number,
  offered?: CopyBatch,
): Effect.Effect<number> =>
  Effect.suspend(() => {
    const srcs = new Int32Array(count);
    const dsts = new Int32Array(count);
    let n = 0;
    for (const [dst, src] of batchPairs(dstList, srcList)) {
      dsts[n] = dst;
      srcs[n++] = src;
    }
    const want = Math.min(dcbm.nrDmaChannels, n, MAX_DMA_CHANNELS);
    if (dcbm.policy === "always") return foliosCopyDmaOn(dcbm, srcs, dsts, want);
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes += dcbm.kernel.memmap.folioNrPages(srcs[i]!);
    bytes *= dcbm.kernel.mem.pageSize;
    const now = { folios: n, bytes, pageSize: dcbm.kernel.mem.pageSize };
    return Effect.flatMap(
      dcbm.offloadPolicy.decide(
        now,
        { kind: "dma", channels: want, descriptors: dmaDescriptors(dcbm) },
        offered ?? now,
      ),
      (d) => {
        if (!d.taken) return Effect.succeed(-ERRNO.EOPNOTSUPP);
        const start = performance.now();
        return Effect.tap(foliosCopyDmaOn(dcbm, srcs, dsts, want), () =>
          Effect.sync(() => dcbm.offloadPolicy.observe(d, (performance.now() - start) * 1e6)),
        );
      },
    );
  });

/**
 * How the copy-cost model counts a channel's descriptors: the segments `dma_map_sgtable()` gives
 * its table on the first memcpy device, the one `dma_request_chan_by_mask()` tries first
 * ({@link dmaMapSgtableSegments}), for folios of the batch's mean size in whole pages. A table
 * too large to build (which `setup_sg_tables()` would fail with `-ENOMEM`) counts a descriptor
 * per folio; with no device, the model's default, a descriptor per folio.
 */
const dmaDescriptors = (dcbm: DcbmState): DmaDescriptorCount | undefined => {
  const device = dmaEngineCore(dcbm.kernel).devices.find((d) => dmaHasCap(DMA_MEMCPY, d.capMask));
  if (!device) return undefined;
  // One count per device, which remembers its last answer: a policy that declines batch after
  // batch of one shape builds no scratch table and no closure per batch.
  if (dcbm.descriptors?.device === device) return dcbm.descriptors.count;
  let last = { folios: 0, folioBytes: 0, segments: 0 };
  const count: DmaDescriptorCount = (folios, folioBytes) => {
    if (folios === last.folios && folioBytes === last.folioBytes) return last.segments;
    const bytes = Math.max(1, Math.round(folioBytes / device.pageSize)) * device.pageSize;
    const mapped = dmaMapSgtableSegments(device, folios, bytes);
    last = { folios, folioBytes, segments: mapped > 0 ? mapped : folios };
    return last.segments;
  };
  dcbm.descriptors = { device, count };
  return count;
};

/** Copies the batch gathered in `srcs`/`dsts` over up to `want` channels. */
const foliosCopyDmaOn = (
  dcbm: DcbmState,
  srcs: Int32Array,
  dsts: Int32Array,
  want: number,
): Effect.Effect<number> =>
  Effect.suspend(() => {
    const n = srcs.length;
    return Effect.scoped(
      Effect.gen(function* () {
        const chans: DmaChan[] = [];
        for (let i = 0; i < want; i++) {
          const chan = yield* dmaRequestChanScoped(dcbm);
          if (!(chan instanceof DmaChan)) break;
          chans.push(chan);
        }
        if (chans.length === 0) {
          dcbm.foliosFailures += n;
          return -ERRNO.ENODEV;
        }
        const works: DmaWork[] = [];
        chans.forEach((chan, i) => {
          const first = Math.floor((n * i) / chans.length);
          const count = Math.floor((n * (i + 1)) / chans.length) - first;
          if (count === 0) return;
          works.push({
            chan,
            first,
            count,
            src: null,
            dst: null,
            descs: [],
            descFirst: [],
            descLast: [],
            pending: 0,
            rc: 0,
            wake: null,
          });
        });
        for (const w of works) w.rc = yield* setupSgTables(dcbm, w, srcs, dsts);
        for (const w of works) if (w.rc === 0) w.rc = submitDmaTransfers(dcbm, w, srcs);
        for (const w of works) if (w.rc === 0) dmaAsyncIssuePending(w.chan);
        const waited = yield* Effect.timeoutOption(waitForDmaWork(dcbm, works), dcbm.timeoutMs);
        return dmaWorkComplete(dcbm, works, dsts, Option.isNone(waited));
      }),
    );
  });

/**
 * `dma_should_batch()`: whether the driver's reason mask allows batches of `reason`. With
 * `adaptive`, a batch the copy-cost model would decline is turned down here, before it is formed
 * (beyond the seed): its folios take the kernel's per-folio copy with no batch flow at all.
 */
const dmaShouldBatch = (dcbm: DcbmState, reason: MigrateReason, batch?: CopyBatch): boolean =>
  dcbm.module.allows(reason) &&
  (dcbm.policy === "always" ||
    batch === undefined ||
    dcbm.offloadPolicy.offers(batch, {
      kind: "dma",
      channels: Math.min(dcbm.nrDmaChannels, batch.folios, MAX_DMA_CHANNELS),
      descriptors: dmaDescriptors(dcbm),
    }));

/** `dma_migrator`: the `struct migrator` the module offers; its owner is set at load. */
const dmaMigrator = (dcbm: DcbmState): Omit<Migrator, "owner"> => ({
  name: DCBM_MIGRATOR_NAME,
  offloadCopy: (dst, src, count, batch) => foliosCopyDma(dcbm, dst, src, count, batch),
  shouldBatch: (reason, batch) => dmaShouldBatch(dcbm, reason, batch),
  // `adaptive` with `learn` learns what each batch it decided really cost, whoever copied it.
  // Without `learn` there is no batchDone: no batch pays to report its end.
  ...(dcbm.learn
    ? {
        batchDone: (outcome: BatchOutcome) => {
          if (dcbm.policy === "adaptive") dcbm.offloadPolicy.batchDone(outcome);
        },
      }
    : {}),
});

/** `nr_dma_chan_store()`: a number in `1..MAX_DMA_CHANNELS`. */
const nrDmaChanStore = (dcbm: DcbmState, text: string, count: number): number => {
  const value = kstrtouint(text);
  if (typeof value !== "number") return value.code;
  if (value < 1 || value > MAX_DMA_CHANNELS) return -ERRNO.EINVAL;
  dcbm.nrDmaChannels = value;
  return count;
};

/**
 * A file of named choices, as the kernel's `[always] madvise never` files print and parse them:
 * shows every choice with the current one in brackets; stores one of them (`sysfsStreq`, so a
 * trailing newline is allowed), anything else is `EINVAL`. `completion` and `policy`.
 */
const choiceAttribute = <T extends string>(
  choices: readonly T[],
  get: () => T,
  set: (choice: T) => void,
): Attribute => ({
  mode: 0o664,
  show: () => `${choices.map((c) => (c === get() ? `[${c}]` : c)).join(" ")}\n`,
  store: (text, count) => {
    const choice = choices.find((c) => sysfsStreq(text, c));
    if (choice === undefined) return -ERRNO.EINVAL;
    set(choice);
    return count;
  },
});

/**
 * `dcbm_attrs`: the files of `/sys/kernel/dcbm` beside `offloading`, which the module skeleton
 * adds: the two counters, `nr_dma_chan`, and (beyond the seed) `completion`, `policy` and the
 * policy's `batches_taken` and `batches_declined`.
 */
const dcbmAttributes = (dcbm: DcbmState): Record<string, Attribute> => ({
  folios_migrated: counterAttribute(
    () => dcbm.foliosMigrated,
    () => {
      dcbm.foliosMigrated = 0;
    },
  ),
  folios_failures: counterAttribute(
    () => dcbm.foliosFailures,
    () => {
      dcbm.foliosFailures = 0;
    },
  ),
  nr_dma_chan: {
    mode: 0o664,
    show: () => `${dcbm.nrDmaChannels}\n`,
    store: (text, count) => nrDmaChanStore(dcbm, text, count),
  },
  completion: choiceAttribute(
    ["interrupt", "polling"] as const,
    () => dcbm.completion,
    (c) => {
      dcbm.completion = c;
    },
  ),
  policy: choiceAttribute(
    ["always", "adaptive"] as const,
    () => dcbm.policy,
    (p) => {
      dcbm.policy = p;
    },
  ),
  ...dcbm.offloadPolicy.attributes(),
});

/**
 * `dcbm_init()` / `dcbm_exit()`: what the module skeleton needs to write them. Init creates
 * `/sys/kernel/dcbm` and the v6 module parameters under `/sys/module/dcbm/parameters/`
 * (`offloading`, `nr_dma_chan`, `reason_mask`, `folios_migrated`, `folios_failures`: the same
 * attributes as those of `/sys/kernel/dcbm`) and offers the migrator;
 * `offloading` parses with `kstrtobool()` and registers under the driver lock (`dcbm_mutex`);
 * exit switches offloading off under that lock and removes the directory.
 */
const dcbmModule = (dcbm: DcbmState): MigratorModuleDriver => ({
  name: DCBM_MODULE_NAME,
  sysfsDir: DCBM_SYSFS_DIR,
  migrator: dmaMigrator(dcbm),
  parseOffloading: kstrtobool,
  reasonMask: {
    file: "reason_mask",
    where: "parameters",
    mode: 0o644,
    initial: DCBM_DEFAULT_REASONS,
  },
  attributes: dcbmAttributes(dcbm),
  // v6: the controls are module parameters too, the same files under both directories.
  controlsAsParameters: ["offloading", "nr_dma_chan", "folios_migrated", "folios_failures"],
  // Switching offloading on fails, naming the file, when a DMA device's engine threads cannot
  // start: batches must never quietly fall back to the CPU because the engines never ran.
  prepare: () => dmaDevicesReady(dcbm.kernel),
});

/**
 * Builds the dcbm driver of `drivers/migrate_offload/dcbm/dcbm.c` (`module_init(dcbm_init)`) for
 * one kernel. Load it with `kernel.loadModule(driver.module)`, after registering a DMA device
 * with memcpy channels for it to request.
 *
 * @category DCBM driver
 *
 * @example
 * ```ts
 * import { Kernel } from "@migrate-offload/core";
 * import { dcbmDriver, dmaAsyncDeviceRegister } from "@migrate-offload/dcbm";
 * import { Effect } from "effect";
 *
 * await Effect.runPromise(
 *   Effect.scoped(
 *     Effect.gen(function* () {
 *       const kernel = yield* Kernel.make({ nodes: ["64M", "64M"] });
 *       yield* dmaAsyncDeviceRegister(kernel, { channels: 4 }); // dma0, four memcpy channels
 *       const driver = dcbmDriver(kernel);
 *       yield* kernel.loadModule(driver.module); // creates /sys/kernel/dcbm
 *       yield* kernel.fs.write("/sys/kernel/dcbm/nr_dma_chan", "4");
 *       yield* kernel.fs.write("/sys/kernel/dcbm/offloading", "1"); // registers DCBM
 *       console.log(kernel.migrateOffload.activeName); // "DCBM"
 *     }),
 *   ),
 * ); // shutdown unloads dcbm and stops the device's engine threads
 * ```
 */
export const dcbmDriver = (kernel: Kernel, options: DcbmOptions = {}): DcbmDriver => {
  const dcbm: DcbmState = {
    kernel,
    nrDmaChannels: options.nrDmaChan ?? 1,
    completion: options.completion ?? "interrupt",
    timeoutMs: options.timeoutMs ?? DCBM_TIMEOUT_MS,
    foliosMigrated: 0,
    foliosFailures: 0,
    policy: options.policy ?? "always",
    learn: options.learn ?? true,
    offloadPolicy: new OffloadPolicy(
      kernel,
      DCBM_MIGRATOR_NAME,
      () => calibrateCopyCost(kernel),
      options.costProfile,
    ),
    descriptors: null,
    // The skeleton is built from the state; the state's functions reach it only once loaded.
    get module() {
      return module;
    },
  };
  const module = defineMigratorModule(kernel, dcbmModule(dcbm));
  return {
    module: module.definition,
    get migrator() {
      return module.migrator;
    },
    get foliosMigrated() {
      return dcbm.foliosMigrated;
    },
    get foliosFailures() {
      return dcbm.foliosFailures;
    },
    get offloading() {
      return module.offloading;
    },
    get policy() {
      return dcbm.policy;
    },
    offloadPolicy: dcbm.offloadPolicy,
  };
};
