/**
 * The copy step's cost model: how long a batch of folios takes to copy on the initiating CPU,
 * on copy threads, or on DMA channels, and whether offloading it pays.
 *
 * The series leaves "when does offload pay" open (v3 cover letter's open questions, Zi Yan's
 * TODO 3 "a runtime check to decide when to use multi-threaded folio copy", v5's "a migrator may
 * decline a batch too small to pay for its set-up"). Its own tables say DMA beats the CPU only
 * from about eight 2 MiB folios per batch, and a one-channel DMA copy is slower than the CPU at
 * every folio size below 1 MiB. This module turns those observations into arithmetic that a
 * driver runs per batch, in `offload_copy` (`include/linux/migrate_copy_offload.h`), before it
 * takes the batch.
 *
 * Units throughout: nanoseconds, bytes, and GB/s (10^9 bytes per second, which is bytes per
 * nanosecond, so `bytes / gbps` is nanoseconds).
 *
 * The model of one batch of `n` folios of `s` bytes (`S = n·s`):
 * - kernel work, the same whoever copies (unmap, move the mapping, remap):
 *   `n·(folioNs + pteNs·ptes(s))`, where `ptes(s)` is the folio's base pages when it is mapped
 *   by PTEs and 0 when one PMD maps it (`s ≥ pmdBytes`);
 * - the CPU copy, folio by folio (`folio_mc_copy()`, `mm/util.c`): `n·copyCallNs + S/threadGbps`;
 * - copy threads (`mtcopy`): `dispatchNs + t·threadNs +` the slowest thread's copy, where the
 *   `t` threads run on `c ≤ idleCpus + 1` CPUs (the initiator sleeps while it waits), each of
 *   them at `threadGbps·(1 + scaling·(c − 1))/c` (a lone thread at `threadGbps`, each further one
 *   adding `scaling` of it), and together copy no faster than `memGbps`;
 * - DMA channels (`dcbm`): `setupNs + c·chanNs + n·folioCpuNs + D·descCpuNs` on the initiating
 *   CPU (`D` every channel's descriptors, prepared and submitted before any starts), then the
 *   slowest channel's work on `c = min(channels, n, nr_chan)` channels served by `engines`
 *   engines, together no faster than `maxGbps`, then `completionNs` to learn it is done. A
 *   channel's work: `descNs` per descriptor, and `pteNs·ptes(s) + s/chanGbps` per folio; a
 *   descriptor per DMA segment of the channel's mapped table, as the driver's mapping counts
 *   them (the offload's `descriptors`), or per folio.
 *
 * @module
 */
import { availableParallelism } from "node:os";
import { Effect } from "effect";
import { type ErrnoError, errno } from "../errno";
import { GFP_KERNEL } from "../include/gfp";
import type { Kernel } from "../include/kernel";
import type { Attribute } from "../include/kernfs";
import type { BatchOutcome, CopyBatch } from "../include/migrate_copy_offload";
import { CopyEngine } from "../kernel/copy_engine";
import {
  type OffloadBasis,
  OffloadLearner,
  type OffloadLearnerOptions,
} from "./migrate_copy_learn";

/**
 * A machine's copy costs: the parameters of the copy-cost model. Every field is a finite number
 * of at least 0; bandwidths, channel and engine counts are above 0.
 *
 * @category Copy offload
 */
export interface CopyCostProfile {
  /** Where the numbers come from: `calibrated`, `fixed`, a machine's name. */
  readonly name: string;
  /** Kernel work per call and per folio, the same for every copier. */
  readonly kernel: {
    /** Per `move_pages()` call: the syscall, the page walk set-up, the LRU drain. */
    readonly callNs: number;
    /** Per folio: isolate, unmap, move the mapping, remap. */
    readonly folioNs: number;
    /** Per base page of a PTE-mapped folio (one PTE to clear and to set again). */
    readonly pteNs: number;
    /** Folios this large or larger are mapped by one PMD (2 MiB on x86-64). */
    readonly pmdBytes: number;
  };
  /** The initiating CPU's copy. */
  readonly cpu: {
    /** One thread's copy bandwidth, GB/s. */
    readonly threadGbps: number;
    /** All threads' copy bandwidth together, GB/s: memory's limit. */
    readonly memGbps: number;
    /** The cost of one folio's copy call beyond its bytes. */
    readonly copyCallNs: number;
  };
  /** Copy threads (`mtcopy`). */
  readonly threads: {
    /** Per batch: waking the threads and waiting for the last. */
    readonly dispatchNs: number;
    /** Per thread used. */
    readonly threadNs: number;
    /**
     * Of a lone copy thread's bandwidth (`cpu.threadGbps`), the share each further thread running
     * beside it adds, above 0 and at most 1 (absent: 1, every thread at `threadGbps` up to
     * `memGbps`): the threads contend for the memory system before they reach its limit, so `c`
     * threads together copy at `threadGbps·(1 + scaling·(c − 1))`, each at a `c`-th of it.
     * Optional.
     */
    readonly scaling?: number;
  };
  /** DMA channels (`dcbm`); absent on a machine without a DMA engine, where DMA never pays. */
  readonly dma?: {
    /** Channels the device offers. */
    readonly channels: number;
    /** Engines behind the channels: at most this many channels copy at once. */
    readonly engines: number;
    /**
     * How the device ties channels to engines. Absent (or 0): any free engine serves any channel,
     * so `c` channels on `engines` engines run in `ceil(c / engines)` rounds, as the memcpy DMA
     * device of `@migrate-offload/dcbm` does. A number `k`: each engine owns `k` channels, handed
     * out in order by `dma_request_chan()` (`drivers/dma/dmaengine.c`), so the first `k` channels
     * a client takes share one engine's bandwidth (a channel alone has all of it); a controller
     * whose queues sit behind a shared engine, as the PTDMA tables suggest.
     */
    readonly channelsPerEngine?: number;
    /** One channel's bandwidth, GB/s. */
    readonly chanGbps: number;
    /** The device's bandwidth, all channels together, GB/s. */
    readonly maxGbps: number;
    /** Per batch, on the initiating CPU. */
    readonly setupNs: number;
    /** Per channel used, on the initiating CPU: request, build and map its sg tables. */
    readonly chanNs: number;
    /** Per folio, on the initiating CPU: its sg entries, descriptor preparation and submission. */
    readonly folioCpuNs: number;
    /**
     * Per descriptor, on the initiating CPU: `dmaengine_prep_dma_memcpy()` and
     * `dmaengine_submit()`, for every channel's descriptors before any channel starts. Optional
     * (0 when absent).
     */
    readonly descCpuNs?: number;
    /** Per descriptor, on the channel (a descriptor per folio, or per merged segment). */
    readonly descNs: number;
    /** Per base page of a PTE-mapped folio, on the channel (its pages' translations). */
    readonly pteNs: number;
    /** From the last descriptor's completion to the initiator running again (interrupt latency). */
    readonly completionNs: number;
  };
}

/**
 * DMA descriptors one channel takes for `folios` folios of `folioBytes` each: the DMA segments
 * the driver's `dma_map_sgtable()` gives the channel's table (dcbm prepares one descriptor per
 * segment), counted by the driver's own mapping code (`dmaMapSgtableSegments()` of
 * `@migrate-offload/dcbm`). Returns a whole number of at least 1.
 *
 * @category Copy offload
 */
export type DmaDescriptorCount = (folios: number, folioBytes: number) => number;

/**
 * Who would copy the batch: copy threads (with the CPUs idle for them) or DMA channels, with how
 * the channels' mapping counts descriptors (absent: one per folio, as `dma_direct_map_sg()`
 * gives one segment per sg entry).
 *
 * @category Copy offload
 */
export type CopyOffload =
  | { readonly kind: "threads"; readonly threads: number; readonly idleCpus: number }
  | {
      readonly kind: "dma";
      readonly channels: number;
      readonly descriptors?: DmaDescriptorCount;
    };

/**
 * A policy's verdict on one batch, with the predictions behind it.
 *
 * @category Copy offload
 */
export interface OffloadDecision {
  /** True: offload; false: decline (`-EOPNOTSUPP`), the CPU copies. */
  readonly taken: boolean;
  /** Predicted copy on the initiating CPU, ns. */
  readonly cpuNs: number;
  /** Predicted offloaded copy, dispatch to completion, ns. */
  readonly offloadNs: number;
  /** Of `offloadNs`, what keeps the initiating CPU busy, ns. */
  readonly initiatorNs: number;
  /** Threads or channels the offload would use. */
  readonly lanes: number;
}

/** The most channels one dcbm batch uses (`MAX_DMA_CHANNELS`, `dcbm.c`). */
const MAX_BATCH_CHANNELS = 16;

/** Base pages a folio of `folioBytes` maps by PTEs: 0 when one PMD maps it. */
const ptesOf = (p: CopyCostProfile, folioBytes: number, pageSize: number): number =>
  folioBytes >= p.kernel.pmdBytes ? 0 : Math.max(1, Math.round(folioBytes / pageSize));

/**
 * The kernel work of migrating a batch, whoever copies it: unmap, move the mapping, remap
 * (`migrate_folio_unmap()` and `migrate_folio_move()`, `mm/migrate.c`), ns. For instance, 512
 * folios of 4 KiB at 400 ns per folio and 100 ns per PTE: 512 × 500 = 256000 ns.
 *
 * @category Copy offload
 */
export const migrateKernelNs = (p: CopyCostProfile, b: CopyBatch): number =>
  b.folios === 0
    ? 0
    : b.folios * (p.kernel.folioNs + p.kernel.pteNs * ptesOf(p, b.bytes / b.folios, b.pageSize));

/**
 * The copy on the initiating CPU, folio by folio (`folio_mc_copy()`, `mm/util.c`), ns.
 *
 * @category Copy offload
 */
export const cpuCopyNs = (p: CopyCostProfile, b: CopyBatch): number =>
  b.folios * p.cpu.copyCallNs + b.bytes / p.cpu.threadGbps;

/**
 * The copy on copy threads, the mtcopy driver's split (`drivers/migoffcopy/mtcopy/copy_pages.c`):
 * fewer folios than threads cuts each folio in one piece per thread, otherwise whole folios are
 * dealt out; the threads running at once share `threadGbps·(1 + scaling·(c − 1))` for `c` of
 * them (`threads.scaling`, absent: 1), at most `memGbps`. Returns the wall time and the
 * initiator's share (the dispatch), ns.
 *
 * @category Copy offload
 */
export const threadCopyNs = (
  p: CopyCostProfile,
  b: CopyBatch,
  threads: number,
  idleCpus: number,
): { readonly ns: number; readonly initiatorNs: number } => {
  const t = Math.max(1, threads);
  const cpus = Math.max(1, Math.min(t, Math.floor(idleCpus) + 1));
  // The threads running at once contend: a lone one copies at threadGbps, each further one adds
  // `scaling` of it, and each runs at its share of the sum.
  const running = p.cpu.threadGbps * (1 + (p.threads.scaling ?? 1) * (cpus - 1));
  const together = Math.min(running, p.cpu.memGbps);
  const slowest =
    b.folios >= t ? (Math.ceil(b.folios / t) * b.bytes) / b.folios / (running / cpus) : 0;
  // Oversubscribed threads share their CPUs: the batch takes at least its bytes over them.
  const copy = Math.max(slowest, b.bytes / together);
  const initiatorNs = p.threads.dispatchNs + t * p.threads.threadNs;
  return { ns: initiatorNs + copy, initiatorNs };
};

/** A descriptor per folio: `dma_direct_map_sg()` (`kernel/dma/direct.c`), no IOMMU merging. */
const descriptorPerFolio: DmaDescriptorCount = (folios) => folios;

/**
 * The copy on DMA channels, dcbm's split (`folios_copy_dma()`, `drivers/migrate_offload/dcbm/dcbm.c`):
 * `c = min(channels, folios, nr_chan, 16)` channels, channel `i` taking folios
 * `[n·i/c, n·(i+1)/c)`, one descriptor per mapped segment: `descriptors(⌈n/c⌉, s)` for the
 * slowest channel, as the driver's mapping counts them (default: one per folio). Returns the
 * wall time, the channels used, and
 * the initiator's share (set-up, per-channel and per-folio CPU work), ns. A profile without a
 * `dma` section predicts an infinite time on no channel.
 *
 * @category Copy offload
 */
export const dmaCopyNs = (
  p: CopyCostProfile,
  b: CopyBatch,
  channels: number,
  descriptors: DmaDescriptorCount = descriptorPerFolio,
): { readonly ns: number; readonly initiatorNs: number; readonly channels: number } => {
  if (!p.dma) return { ns: Number.POSITIVE_INFINITY, initiatorNs: 0, channels: 0 };
  const c = Math.max(1, Math.min(channels, b.folios, p.dma.channels, MAX_BATCH_CHANNELS));
  const s = b.folios === 0 ? 0 : b.bytes / b.folios;
  const bytesNs = s / p.dma.chanGbps;
  // Channels that own an engine share its bandwidth: a channel's own work (its descriptors, its
  // pages' translations) overlaps the engine moving the other channels' bytes, so a channel
  // takes the longer of its own work and its engine's bytes for every sharing channel.
  // Otherwise c channels on `engines` free engines run in rounds.
  const k = p.dma.channelsPerEngine ?? 0;
  const sharing = k > 0 ? Math.min(c, k) : 1;
  const rounds = k > 0 ? 1 : Math.ceil(c / Math.min(c, p.dma.engines));
  const folios = Math.ceil(b.folios / c);
  const own =
    (folios > 0 ? descriptors(folios, s) : 0) * p.dma.descNs +
    folios * (p.dma.pteNs * ptesOf(p, s, b.pageSize) + bytesNs);
  const slowest = Math.max(own, folios * sharing * bytesNs) * rounds;
  const transfer = Math.max(slowest, b.bytes / p.dma.maxGbps);
  // Every channel's descriptors are prepared and submitted on the initiating CPU before any
  // channel is started (`submit_dma_transfers()` for each work, then `dma_async_issue_pending()`
  // for each): channels of ⌈n/c⌉ and ⌊n/c⌋ folios.
  const descCpuNs = p.dma.descCpuNs ?? 0;
  const long = b.folios % c;
  const short = Math.floor(b.folios / c);
  const allDescriptors =
    descCpuNs > 0
      ? long * (folios > 0 ? descriptors(folios, s) : 0) +
        (c - long) * (short > 0 ? descriptors(short, s) : 0)
      : 0;
  const initiatorNs =
    p.dma.setupNs + c * p.dma.chanNs + b.folios * p.dma.folioCpuNs + allDescriptors * descCpuNs;
  return { ns: initiatorNs + transfer + p.dma.completionNs, initiatorNs, channels: c };
};

/**
 * The adaptive policy: offload `b` only when the model predicts the offloaded copy finishes no
 * later than the CPU copy (a tie goes to the offload, which frees the initiating CPU without
 * making the call slower). An empty batch is declined.
 *
 * For instance, `offloadDecision(profile, { folios: 512, bytes: 512 * 4096, pageSize: 4096 },
 * { kind: "dma", channels: 1 }).taken` is false on the v4 machine's profile: one DMA channel
 * does not pay for 512 folios of 4 KiB.
 *
 * @category Copy offload
 */
export const offloadDecision = (
  p: CopyCostProfile,
  b: CopyBatch,
  offload: CopyOffload,
): OffloadDecision => {
  const cpuNs = cpuCopyNs(p, b);
  const o =
    offload.kind === "threads"
      ? {
          ...threadCopyNs(p, b, offload.threads, offload.idleCpus),
          channels: Math.max(1, offload.threads),
        }
      : dmaCopyNs(p, b, offload.channels, offload.descriptors);
  return {
    taken: b.folios > 0 && o.ns <= cpuNs,
    cpuNs,
    offloadNs: o.ns,
    initiatorNs: o.initiatorNs,
    lanes: o.channels,
  };
};

/** The profile's fields, by section, for {@link parseCopyCostProfile}. */
const FIELDS = {
  kernel: ["callNs", "folioNs", "pteNs", "pmdBytes"],
  cpu: ["threadGbps", "memGbps", "copyCallNs"],
  threads: ["dispatchNs", "threadNs"],
  dma: [
    "channels",
    "engines",
    "chanGbps",
    "maxGbps",
    "setupNs",
    "chanNs",
    "folioCpuNs",
    "descNs",
    "pteNs",
    "completionNs",
  ],
} as const;

/** Fields a profile may leave out, by section. */
const OPTIONAL: Partial<Record<keyof typeof FIELDS, readonly string[]>> = {
  threads: ["scaling"],
  dma: ["channelsPerEngine", "descCpuNs"],
};

/** Fields that must be at most 1: shares. */
const AT_MOST_ONE = new Set(["scaling"]);

/** Fields that must be whole numbers. */
const WHOLE = new Set(["channelsPerEngine"]);

/** Fields that must be above 0, not only at least 0. */
const POSITIVE = new Set([
  "scaling",
  "pmdBytes",
  "threadGbps",
  "memGbps",
  "channels",
  "engines",
  "chanGbps",
  "maxGbps",
]);

/**
 * Reads a profile from parsed JSON (a saved profile, `JSON.parse` of its file). Every field of
 * {@link CopyCostProfile} must be present and a finite number, at least 0 (bandwidths and counts
 * above 0), except the whole `dma` section, `dma.channelsPerEngine` (a whole number when present),
 * `dma.descCpuNs` and `threads.scaling` (above 0 and at most 1 when present), which may be left out; `name` a string. Other keys (a `fittedOn` note, a source) are ignored.
 *
 * @returns the profile, or `EINVAL` naming the first field that is missing or wrong.
 *
 * @category Copy offload
 */
export const parseCopyCostProfile = (json: unknown): CopyCostProfile | ErrnoError => {
  if (typeof json !== "object" || json === null)
    return errno("EINVAL", "a copy-cost profile is a JSON object");
  const o = json as Record<string, unknown>;
  if (typeof o.name !== "string") return errno("EINVAL", "profile field name must be a string");
  for (const [section, keys] of Object.entries(FIELDS)) {
    const part = o[section];
    if (section === "dma" && part === undefined) continue;
    if (typeof part !== "object" || part === null)
      return errno("EINVAL", `profile section ${section} is missing`);
    const optional = OPTIONAL[section as keyof typeof FIELDS] ?? [];
    for (const key of [...keys, ...optional]) {
      const v = (part as Record<string, unknown>)[key];
      if (v === undefined && optional.includes(key)) continue;
      if (
        typeof v !== "number" ||
        !Number.isFinite(v) ||
        v < 0 ||
        (POSITIVE.has(key) && v === 0) ||
        (WHOLE.has(key) && !Number.isInteger(v)) ||
        (AT_MOST_ONE.has(key) && v > 1)
      )
        return errno(
          "EINVAL",
          `profile field ${section}.${key} must be a ${WHOLE.has(key) ? "whole" : "finite"} number ${POSITIVE.has(key) ? "above" : "of at least"} 0${AT_MOST_ONE.has(key) ? " and at most 1" : ""}, not ${JSON.stringify(v)}`,
        );
    }
  }
  const pick = (section: keyof typeof FIELDS) => {
    const part = o[section] as Record<string, number>;
    const keys = [...FIELDS[section], ...(OPTIONAL[section] ?? [])].filter(
      (k) => part[k] !== undefined,
    );
    return Object.fromEntries(keys.map((k) => [k, part[k]])) as never;
  };
  return {
    name: o.name,
    kernel: pick("kernel"),
    cpu: pick("cpu"),
    threads: pick("threads"),
    ...(o.dma === undefined ? {} : { dma: pick("dma") }),
  };
};

/**
 * Options of {@link calibrateCopyCost}.
 *
 * @category Copy offload
 */
export interface CalibrateOptions {
  /** Copy threads to measure (a driver's own engine); default: a one-thread engine of its own. */
  readonly engine?: CopyEngine;
  /** DMA channels the profile offers (default 16). */
  readonly dmaChannels?: number;
  /** Engines behind them (default: the machine's CPUs, as the memcpy DMA device's default). */
  readonly dmaEngines?: number;
}

/** Best (shortest) of `runs` timings of `f`, ms. */
const best = (runs: number, f: () => void): number => {
  let min = Number.POSITIVE_INFINITY;
  for (let r = 0; r < runs; r++) {
    const start = performance.now();
    f();
    min = Math.min(min, performance.now() - start);
  }
  return min;
};

/** Copies of the block a lane's bandwidth is measured over, so that its bytes outweigh a round trip. */
const LANE_COPIES = 4;

/**
 * A copy lane's bandwidth from a calibration's timings, GB/s: `bytes` copied in `copyNs` on one
 * lane, less the `tripNs` an empty round trip takes, and no faster than the initiating thread's
 * `threadGbps`. A lane of this machine's copy engines (an mtcopy copy thread, a channel of the
 * memcpy DMA device) is a CPU thread running the same copy, so a faster lane is the difference of
 * two noisy times, not a faster copier: a round trip that ran slow leaves `copyNs - tripNs` near 0
 * and the bandwidth unbounded, and a policy that believes it offloads batches 10× slower than it
 * predicts, beyond what its correction (at most 8×) can win back.
 *
 * For instance, 8 MiB in 900 µs with a 100 µs round trip is 8388608 / 800000 = 10.49 GB/s; the
 * same with a 850 µs round trip, 8388608 / 50000 = 168 GB/s, is held to a 25 GB/s thread.
 *
 * @param bytes - bytes the lane copied in the timed round trip.
 * @param copyNs - the round trip that copied them, ns.
 * @param tripNs - a round trip that copies (almost) nothing, ns.
 * @param threadGbps - the initiating thread's copy bandwidth, GB/s, above 0.
 * @returns GB/s, above 0 and at most `threadGbps`.
 *
 * @category Copy offload
 */
export const calibratedLaneGbps = (
  bytes: number,
  copyNs: number,
  tripNs: number,
  threadGbps: number,
): number => Math.min(threadGbps, bytes / Math.max(1, copyNs - tripNs));

/**
 * Measures this machine's copy costs, in a few milliseconds: the initiating thread's copy
 * bandwidth (`TypedArray.set` over 4 MiB of `SharedArrayBuffer`, best of 3) and the cost of a
 * 4 KiB copy call beyond its bytes; then, on a copy engine, one round trip (dispatch and
 * completion), one thread's bandwidth over four copies of a 2 MiB block (no faster than the
 * initiating thread's, {@link calibratedLaneGbps}) and the cost of one more queued copy,
 * each the median of 5: the CPU at its best against the offload at its typical, so that the
 * policy errs towards the CPU copy. The engine copies between two blocks it takes from the page allocator and
 * gives back, so no page in use is touched.
 *
 * What it does not measure it leaves out: the kernel's per-call and per-folio work (0: the
 * policy compares copy steps only, where they cancel), the DMA device's set-up (folded into the
 * round trip), and the all-thread memory bandwidth (the threads' bandwidth times the CPUs, an
 * upper bound). Tests pass a fixed profile instead.
 *
 * @returns the profile, named `calibrated`; `ENOMEM` when the allocator has no 2 MiB or 64 KiB
 *   block on node 0, or the engine's start failure.
 *
 * @category Copy offload
 */
export const calibrateCopyCost = (
  kernel: Kernel,
  options: CalibrateOptions = {},
): Effect.Effect<CopyCostProfile, ErrnoError> =>
  Effect.gen(function* () {
    const cpus = availableParallelism();
    // The initiating thread: bandwidth over 4 MiB, and a 4 KiB call's cost beyond its bytes.
    const big = 4 << 20;
    const src = new Uint8Array(new SharedArrayBuffer(big));
    const dst = new Uint8Array(new SharedArrayBuffer(big));
    src.fill(1);
    dst.set(src);
    const threadGbps = big / (best(3, () => dst.set(src)) * 1e6);
    const calls = 256;
    const small = best(3, () => {
      for (let i = 0; i < calls; i++) dst.set(src.subarray(i * 4096, (i + 1) * 4096), i * 4096);
    });
    const copyCallNs = Math.max(0, (small * 1e6 - (calls * 4096) / threadGbps) / calls);
    // The engine: pages from the allocator, never a page in use.
    const pageSize = kernel.mem.pageSize;
    let order = Math.min(kernel.pageAlloc.maxOrder, Math.log2((2 << 20) / pageSize));
    // __free_pages(): drop the allocation's one reference, then give the block back.
    const free = (pfn: number, o: number) => {
      kernel.memmap.refcount[pfn] = 0;
      kernel.pageAlloc.freePages(pfn, o);
    };
    let a = -1;
    let b = -1;
    for (; order >= 0; order--) {
      a = kernel.pageAlloc.allocPages(0, order, GFP_KERNEL);
      b = a < 0 ? -1 : kernel.pageAlloc.allocPages(0, order, GFP_KERNEL);
      if (a >= 0 && b >= 0) break;
      if (a >= 0) free(a, order);
      a = -1;
    }
    if (a < 0 || b < 0) return yield* errno("ENOMEM", "no free blocks to calibrate the copy on");
    const block = pageSize << order;
    const own = options.engine ? null : new CopyEngine(kernel, { threads: 1, maxTags: 64 });
    const engine = options.engine ?? own!;
    // `copies` copies of `length` bytes, each `stride` bytes after the last (0: the same bytes).
    const round = (copies: number, length: number, stride = length) =>
      Effect.gen(function* () {
        engine.begin(1);
        for (let i = 0; i < copies; i++)
          engine.pushCopy(0, a, i * stride, b, i * stride, length, 0);
        const start = performance.now();
        yield* engine.run();
        return (performance.now() - start) * 1e6;
      });
    // The offload's costs are the middle of 5 round trips, not the best: a policy that must never
    // be slower than the CPU reads the CPU's side at its best and the offload's at its typical.
    const typical = (copies: number, length: number, stride = length) =>
      Effect.gen(function* () {
        const times: number[] = [];
        for (let r = 0; r < 5; r++) times.push(yield* round(copies, length, stride));
        return times.sort((x, y) => x - y)[2]!;
      });
    const measured = yield* Effect.gen(function* () {
      if (own) yield* own.ready();
      const tripNs = yield* typical(1, 64);
      const blockNs = yield* typical(LANE_COPIES, block, 0);
      const laneGbps = calibratedLaneGbps(LANE_COPIES * block, blockNs, tripNs, threadGbps);
      const items = Math.min(32, block / 4096);
      const itemsNs = yield* typical(items, 4096);
      const itemNs = Math.max(0, (itemsNs - tripNs - (items * 4096) / laneGbps) / (items - 1 || 1));
      return { tripNs, laneGbps, itemNs };
    }).pipe(
      Effect.ensuring(
        Effect.gen(function* () {
          if (own) yield* own.terminate();
          free(a, order);
          free(b, order);
        }),
      ),
    );
    const engines = options.dmaEngines ?? cpus;
    return {
      name: "calibrated",
      kernel: { callNs: 0, folioNs: 0, pteNs: 0, pmdBytes: 2 << 20 },
      cpu: { threadGbps, memGbps: threadGbps * cpus, copyCallNs },
      threads: { dispatchNs: measured.tripNs, threadNs: measured.itemNs },
      dma: {
        channels: options.dmaChannels ?? MAX_BATCH_CHANNELS,
        engines,
        chanGbps: measured.laneGbps,
        maxGbps: measured.laneGbps * engines,
        setupNs: 0,
        chanNs: 0,
        folioCpuNs: measured.itemNs,
        descNs: 0,
        pteNs: 0,
        completionNs: measured.tripNs,
      },
    };
  });

/** Whether two offloads are the same lanes: threads and idle CPUs, or channels and descriptor count. */
const sameOffload = (a: CopyOffload, b: CopyOffload): boolean =>
  a.kind === "threads"
    ? b.kind === "threads" && a.threads === b.threads && a.idleCpus === b.idleCpus
    : b.kind === "dma" && a.channels === b.channels && a.descriptors === b.descriptors;

/**
 * A counter as a sysfs file: reads the count; writing anything resets it. Models dcbm's
 * `folios_migrated_show()` / `folios_migrated_store()` (`drivers/migrate_offload/dcbm/dcbm.c`).
 *
 * @category Copy offload
 */
export const counterAttribute = (read: () => number, reset: () => void): Attribute => ({
  mode: 0o664,
  show: () => `${read()}\n`,
  store: (_text, count) => {
    reset();
    return count;
  },
});

/**
 * A migrator's adaptive policy: the profile it decides with (a fixed or saved one, or one
 * calibrated on first use), what it learned from the batches it decided ({@link learner}), its
 * taken and declined counters, and the trace event of each decision. One per driver; both
 * drivers use it.
 *
 * A batch of a class the policy has measured nothing of is decided by the copy-cost model; once
 * `migrate_pages_batch()` has reported batches of the class both ways ({@link batchDone}), by
 * what they really cost, whole batches, kernel work included ({@link OffloadLearner}). The model
 * predicts the copy step alone, at the CPU's bandwidth in the caches, and where the per-folio
 * copy slows the kernel's other per-folio steps, the batch flow with an offloaded copy can win
 * although the copy alone does not.
 *
 * @category Copy offload
 */
export class OffloadPolicy {
  /** Batches the policy offloaded. */
  taken = 0;
  /** Batches the policy declined to the CPU copy. */
  declined = 0;
  /**
   * What the offloads it took really cost over what the model predicted for them: starts at 1,
   * moves halfway to each observed ratio ({@link observe}), and each declined batch takes a
   * hundredth of its distance from 1 off again, so that a policy that learned to decline tries once
   * more, a hundred or so batches later. Offload predictions are multiplied by it before they are compared with the CPU's.
   */
  correction = 1;
  /** What the policy learned from the batches it decided, per class of batch. */
  readonly learner: OffloadLearner;
  private profile: CopyCostProfile | null;
  /**
   * The basis of each batch {@link offers} offered, by the batch object it was asked about, for
   * {@link decide} to take when that very batch reaches `offloadCopy`. A batch that ends without
   * a copy (every folio failed to unmap, or the call was interrupted) leaves its entry to the
   * garbage collector: no other batch can take it.
   */
  private readonly offered = new WeakMap<CopyBatch, OffloadBasis>();

  /**
   * @param kernel - the kernel whose batches it decides, whose tracepoints it emits on.
   * @param migrator - the migrator's name, in the trace event.
   * @param calibrate - measures a profile on first use, when none was given.
   * @param profile - a fixed or saved profile; none: calibrate on the first decision.
   * @param learning - the learner's options ({@link OffloadLearnerOptions}).
   */
  constructor(
    private readonly kernel: Kernel,
    private readonly migrator: string,
    private readonly calibrate: () => Effect.Effect<CopyCostProfile, ErrnoError>,
    profile?: CopyCostProfile,
    learning?: OffloadLearnerOptions,
  ) {
    this.profile = profile ?? null;
    this.learner = new OffloadLearner(learning);
  }

  /** The profile decisions use; null until calibrated. */
  get costProfile(): CopyCostProfile | null {
    return this.profile;
  }

  /**
   * Decides one batch: calibrates first when there is no profile yet (a failed calibration
   * declines the batch, and the next batch tries again), predicts with the model, scales the
   * offload's prediction by {@link correction}, chooses ({@link OffloadLearner.choose}: the
   * model's choice, what the batch's class measured, or an exploration), then counts the decision
   * and emits `mm_migrate_offload_decision` with its prediction. A batch {@link offers} offered on
   * what its class measured, or to explore, is taken as offered: `offered` is the object
   * `offers()` was asked about (the `batch` argument of the migrator's `offloadCopy`; by default
   * `batch` itself), and an offer is taken by its own batch only, once. The returned `offloadNs`
   * is the scaled one.
   */
  decide(
    batch: CopyBatch,
    offload: CopyOffload,
    offered: CopyBatch = batch,
  ): Effect.Effect<OffloadDecision> {
    const policy = this;
    return Effect.gen(function* () {
      if (!policy.profile) {
        const measured = yield* Effect.exit(policy.calibrate());
        if (measured._tag === "Failure") {
          policy.declined++;
          return { taken: false, cpuNs: 0, offloadNs: 0, initiatorNs: 0, lanes: 0 };
        }
        policy.profile = measured.value;
      }
      const basis = policy.offered.get(offered);
      policy.offered.delete(offered);
      const p = policy.predict(policy.profile, batch, offload, basis, offered);
      return policy.record(batch, offload, p);
    });
  }

  /**
   * Decides a batch before it is formed, for the migrator's `shouldBatch`: false when the policy
   * declines it ({@link decide}'s choice), counted and traced as {@link decide} does, so that the
   * batch never enters the batch flow; true when it takes it, or when there is no profile yet (the
   * batch is then offered, and {@link decide} in `offloadCopy` calibrates, decides and counts it).
   * A batch it offers is not counted here: `offloadCopy` takes it in {@link decide}.
   */
  offers(batch: CopyBatch, offload: CopyOffload): boolean {
    if (!this.profile) return true;
    const prediction = this.predict(this.profile, batch, offload);
    if (prediction.d.taken) {
      this.offered.set(batch, prediction.basis);
      return true;
    }
    this.record(batch, offload, prediction);
    return false;
  }

  /**
   * Tells the policy how a batch it was asked about ended (the migrator's `batchDone`): the
   * learner learns what the batch's choice cost ({@link OffloadLearner.learn}).
   */
  batchDone(outcome: BatchOutcome): void {
    this.learner.learn(outcome);
  }

  /**
   * The model's prediction with the offload's scaled by {@link correction}, and the choice: the
   * learner's (for `learned`, the batch object its outcome will be reported with), or taken when
   * the batch was offered (`offered`, its basis then).
   */
  private predict(
    profile: CopyCostProfile,
    batch: CopyBatch,
    offload: CopyOffload,
    offered?: OffloadBasis,
    learned: CopyBatch = batch,
  ): {
    readonly raw: OffloadDecision;
    readonly d: OffloadDecision;
    readonly basis: OffloadBasis;
  } {
    const raw = this.modelDecision(profile, batch, offload);
    const offloadNs = raw.offloadNs * this.correction;
    const modelTakes = batch.folios > 0 && offloadNs <= raw.cpuNs;
    // A batch offered as measured or explored is taken as offered; one the model offered is
    // decided again on what it holds, as with no learning.
    const choice =
      offered !== undefined && offered !== "model"
        ? { taken: batch.folios > 0, basis: offered }
        : batch.folios > 0
          ? this.learner.choose(learned, modelTakes)
          : { taken: false, basis: "model" as const };
    return { raw, d: { ...raw, offloadNs, taken: choice.taken }, basis: choice.basis };
  }

  /**
   * {@link offloadDecision} for `batch`, or the last one when the batch and the offload are the
   * same shape as the last (the same folios, bytes, threads and idle CPUs, or channels and
   * descriptor count), on the same profile: a run of batches of one shape, declined one after
   * another, pays for the arithmetic (and dcbm's descriptor count) once.
   */
  private modelDecision(
    profile: CopyCostProfile,
    batch: CopyBatch,
    offload: CopyOffload,
  ): OffloadDecision {
    const last = this.lastModel;
    if (
      last !== null &&
      last.profile === profile &&
      last.folios === batch.folios &&
      last.bytes === batch.bytes &&
      last.pageSize === batch.pageSize &&
      sameOffload(last.offload, offload)
    )
      return last.raw;
    const raw = offloadDecision(profile, batch, offload);
    this.lastModel = {
      profile,
      folios: batch.folios,
      bytes: batch.bytes,
      pageSize: batch.pageSize,
      offload,
      raw,
    };
    return raw;
  }

  /** The last {@link modelDecision} and what it was asked. */
  private lastModel: {
    readonly profile: CopyCostProfile;
    readonly folios: number;
    readonly bytes: number;
    readonly pageSize: number;
    readonly offload: CopyOffload;
    readonly raw: OffloadDecision;
  } | null = null;

  /**
   * Counts a decision, moves the correction towards 1 on a decline the model made (not one the
   * learner made, as measured or to explore), and traces it.
   */
  private record(
    batch: CopyBatch,
    offload: CopyOffload,
    {
      raw,
      d,
      basis,
    }: { readonly raw: OffloadDecision; readonly d: OffloadDecision; readonly basis: OffloadBasis },
  ): OffloadDecision {
    if (d.taken) this.taken++;
    else {
      this.declined++;
      // Only the model's decline is one the correction may have caused: a learner's says
      // nothing of the prediction.
      if (basis === "model") this.correction = 1 + (this.correction - 1) * 0.99;
    }
    if (this.kernel.trace.enabled)
      this.kernel.trace.emit({
        event: "mm_migrate_offload_decision",
        migrator: this.migrator,
        taken: d.taken,
        folios: batch.folios,
        bytes: batch.bytes,
        lanes: d.lanes,
        idleCpus: offload.kind === "threads" ? offload.idleCpus : 0,
        cpuNs: d.cpuNs,
        offloadNs: d.offloadNs,
        initiatorNs: d.initiatorNs,
        correction: d.offloadNs / (raw.offloadNs || 1),
        basis,
      });
    return d;
  }

  /**
   * Tells the policy what an offload it took really cost, dispatch to completion, ns: the
   * correction moves halfway to `actualNs` over the model's prediction for that batch, that ratio
   * held within 1/8–8 so that one stall cannot silence the offload for long. The first offload,
   * which starts cold, is not counted.
   */
  observe(d: OffloadDecision, actualNs: number): void {
    const predicted = d.offloadNs / this.correction;
    if (!(predicted > 0) || !(actualNs >= 0)) return;
    // The first offload starts cold (copy threads waking, code not yet compiled): not counted.
    if (!this.warm) {
      this.warm = true;
      return;
    }
    const ratio = Math.min(8, Math.max(1 / 8, actualNs / predicted));
    this.correction = (this.correction + ratio) / 2;
  }

  /** Whether an offload has been observed yet (the first, cold one is not counted). */
  private warm = false;

  /**
   * The two counters as sysfs files, `batches_taken` and `batches_declined`: a count, and
   * writing anything resets it (as dcbm's `folios_migrated_store()` does).
   */
  attributes(): Record<string, Attribute> {
    return {
      batches_taken: counterAttribute(
        () => this.taken,
        () => {
          this.taken = 0;
        },
      ),
      batches_declined: counterAttribute(
        () => this.declined,
        () => {
          this.declined = 0;
        },
      ),
    };
  }
}
