/**
 * dcbm: move_pages throughput with the DCBM migrator by channel count, against the serial path
 * and raw memcpy in the same run; and how much CPU the initiating thread keeps while DMA copies
 * (after the compaction run with a CPU hog in the v4 cover letter).
 */
import { availableParallelism } from "node:os";
import { type Kernel, MPOL_MF_MOVE } from "@migrate-offload/core";
import type { DcbmDriver, DmaDevice } from "@migrate-offload/dcbm";
import {
  DCBM_SYSFS_DIR,
  type DcbmCompletion,
  type DmaDeviceOptions,
  dcbmDriver,
  dmaAsyncDeviceRegister,
  dmaAsyncDeviceUnregister,
} from "@migrate-offload/dcbm";
import { Effect } from "effect";
import { allThreadLimit, measureMemcpy, memcpyAllThreads } from "./memcpy";
import { measureOffload, populatedKernel } from "./offload";
import { patternIntact } from "./pattern";
import {
  envelope,
  formatBytes,
  formatSummary,
  markdownTable,
  type Summary,
  summarize,
} from "./report";

/** The device every dcbm measurement uses, unless told otherwise. */
export interface DcbmBenchDevice {
  /** Engine threads behind the channels. */
  readonly engines: number;
  /** Completion mode of the driver. */
  readonly completion: DcbmCompletion;
}

/** One cell: a folio size and a copier (serial or a channel count). */
export interface DcbmCell {
  readonly folioBytes: number;
  /** "serial", or the channel count. */
  readonly copier: string;
  readonly gbps: Summary;
  readonly vsSerial: number;
  readonly vsMemcpyAll: number;
  readonly vsMemcpyOne: number;
  /** Folios the DMA copied and folios that fell back, over the whole cell. */
  readonly foliosMigrated: number;
  readonly foliosFailures: number;
  readonly intact: boolean;
}

/** Results of the throughput run. */
export interface DcbmResults {
  readonly device: DcbmBenchDevice;
  readonly memcpyOneThreadGbps: Summary;
  readonly memcpyAllThreadsGbps: Summary;
  readonly threadsOfAllThreadMemcpy: number;
  readonly cells: readonly DcbmCell[];
}

/** A device and a driver loaded for one measurement. */
interface LoadedDcbm {
  readonly dma: DmaDevice;
  readonly driver: DcbmDriver;
}

/** Loads a 16-channel device and dcbm on `kernel`, with `channels` channels per batch. */
const loadDcbm = (
  kernel: Kernel,
  channels: number,
  device: DcbmBenchDevice,
  extra: DmaDeviceOptions = {},
): Effect.Effect<LoadedDcbm, unknown> =>
  Effect.gen(function* () {
    const dma = yield* dmaAsyncDeviceRegister(kernel, {
      channels: 16,
      engines: device.engines,
      ...extra,
    });
    const driver = dcbmDriver(kernel, { nrDmaChan: channels, completion: device.completion });
    yield* kernel.loadModule(driver.module);
    yield* kernel.fs.write(`${DCBM_SYSFS_DIR}/offloading`, "1");
    return { dma, driver };
  });

const unloadDcbm = (kernel: Kernel, loaded: LoadedDcbm) =>
  Effect.gen(function* () {
    yield* kernel.fs.write(`${DCBM_SYSFS_DIR}/offloading`, "0");
    yield* kernel.unloadModule("dcbm");
    yield* dmaAsyncDeviceUnregister(kernel, loaded.dma);
  });

const measure = (
  folioBytes: number,
  total: number,
  runs: number,
  channels: number | "serial",
  device: DcbmBenchDevice,
) =>
  Effect.gen(function* () {
    let loaded: LoadedDcbm | null = null;
    const m = yield* measureOffload({
      folioBytes,
      total,
      runs,
      load:
        channels === "serial"
          ? undefined
          : (kernel) =>
              Effect.map(loadDcbm(kernel, channels, device), (l) => {
                loaded = l;
              }),
      inspect: () => ({
        migrated: loaded?.driver.foliosMigrated ?? 0,
        failures: loaded?.driver.foliosFailures ?? 0,
      }),
      unload: channels === "serial" ? undefined : (kernel) => unloadDcbm(kernel, loaded!),
    });
    return m;
  });

/** Runs the throughput experiment. */
export const runDcbm = (
  total: number,
  sizes: readonly number[],
  channelCounts: readonly number[],
  runs: number,
  device: DcbmBenchDevice,
  onProgress: (msg: string) => void,
) =>
  Effect.gen(function* () {
    const all = availableParallelism();
    onProgress(`raw memcpy, 1 thread and ${all} threads`);
    const memcpyOneThreadGbps = measureMemcpy(total, runs);
    const memcpyAllThreadsGbps = yield* memcpyAllThreads(total, runs, all);
    const cells: DcbmCell[] = [];
    for (const size of sizes) {
      let serial: Summary | null = null;
      for (const copier of ["serial" as const, ...channelCounts]) {
        onProgress(
          `${formatBytes(size)}: ${copier === "serial" ? "serial" : `${copier} channels`}`,
        );
        const m = yield* measure(size, total, runs, copier, device);
        serial ??= m.gbps;
        cells.push({
          folioBytes: size,
          copier: String(copier),
          gbps: m.gbps,
          vsSerial: m.gbps.median / serial.median,
          vsMemcpyAll: m.gbps.median / allThreadLimit(memcpyOneThreadGbps, memcpyAllThreadsGbps),
          vsMemcpyOne: m.gbps.median / memcpyOneThreadGbps.max,
          foliosMigrated: m.inspected.migrated,
          foliosFailures: m.inspected.failures,
          intact: m.intact,
        });
      }
    }
    const results: DcbmResults = {
      device,
      memcpyOneThreadGbps,
      memcpyAllThreadsGbps,
      threadsOfAllThreadMemcpy: all,
      cells,
    };
    return envelope("dcbm", { total, sizes, channelCounts, runs, device }, results);
  });

/** Markdown: one row per copier, one column per folio size. */
export const formatDcbm = (r: DcbmResults): string => {
  const sizes = [...new Set(r.cells.map((c) => c.folioBytes))];
  const copiers = [...new Set(r.cells.map((c) => c.copier))];
  const cell = (copier: string, size: number) =>
    r.cells.find((c) => c.copier === copier && c.folioBytes === size)!;
  return [
    `move_pages GB/s, median (min–max) [× serial, × ${r.threadsOfAllThreadMemcpy}-thread memcpy]; ${r.device.engines} engine threads, ${r.device.completion} completion`,
    "",
    markdownTable(
      ["copier", ...sizes.map((s) => formatBytes(s).replace(" ", ""))],
      copiers.map((c) => [
        c === "serial" ? "serial" : `dcbm ${c} ch`,
        ...sizes.map((s) => {
          const x = cell(c, s);
          const fell = x.foliosFailures > 0 ? `, ${x.foliosFailures} fell back` : "";
          return `${formatSummary(x.gbps)} [${x.vsSerial.toFixed(2)}, ${x.vsMemcpyAll.toFixed(2)}${fell}]${x.intact ? "" : " CORRUPT"}`;
        }),
      ]),
    ),
    "",
    `raw memcpy, same run: 1 thread ${formatSummary(r.memcpyOneThreadGbps)} GB/s, ${r.threadsOfAllThreadMemcpy} threads ${formatSummary(r.memcpyAllThreadsGbps)} GB/s`,
  ].join("\n");
};

/** One row of the CPU-availability run. */
export interface CpuRow {
  readonly copier: string;
  /** Wall time of one move_pages call, ms. */
  readonly wallMs: Summary;
  /** Hog iterations per second during the call, over the hog's solo rate. */
  readonly hogShare: Summary;
  /** Folios migrated per call, and how many of them the DMA copied. */
  readonly folios: number;
  readonly offloaded: number;
  readonly intact: boolean;
}

/** Results of the CPU-availability run. */
export interface CpuResults {
  readonly total: number;
  readonly folioBytes: number;
  /** Hog iterations per second with nothing else running. */
  readonly hogSoloPerSecond: Summary;
  readonly rows: readonly CpuRow[];
}

/** A CPU-bound task on the event loop: fixed slices of arithmetic, one per turn of the loop. */
const startHog = () => {
  let iterations = 0;
  let running = true;
  let sink = 0;
  const slice = () => {
    if (!running) return;
    let x = iterations + 1;
    for (let i = 0; i < 20_000; i++) x = (x * 1103515245 + 12345) % 2147483648;
    sink ^= x;
    iterations++;
    setImmediate(slice);
  };
  setImmediate(slice);
  return {
    stop: () => {
      running = false;
      return { iterations, sink };
    },
  };
};

const sleep = (ms: number) => Effect.promise(() => new Promise((r) => setTimeout(r, ms)));

/** The hog alone for `ms`: iterations per second. */
const hogSolo = (ms: number) =>
  Effect.gen(function* () {
    const hog = startHog();
    const start = performance.now();
    yield* sleep(ms);
    const { iterations } = hog.stop();
    return iterations / ((performance.now() - start) / 1000);
  });

/**
 * Runs the CPU-availability experiment: `total` bytes of 2 MiB folios moved by one `move_pages`
 * call while the hog runs on the same event loop, serial and with dcbm, `runs` calls each.
 */
export const runCpu = (
  total: number,
  channels: number,
  runs: number,
  device: DcbmBenchDevice,
  onProgress: (msg: string) => void,
) =>
  Effect.gen(function* () {
    const folioBytes = 2 << 20;
    const solo: number[] = [];
    const rows: CpuRow[] = [];
    for (const copier of ["serial", `dcbm ${channels} ch`]) {
      onProgress(`cpu: ${copier}`);
      const { kernel, proc, addr, pages } = yield* populatedKernel(folioBytes, total, 1 << 18);
      const loaded = copier === "serial" ? null : yield* loadDcbm(kernel, channels, device);
      const walls: number[] = [];
      const shares: number[] = [];
      for (let r = 0; r <= runs; r++) {
        const soloRate = yield* hogSolo(150);
        const node = new Int32Array(pages.length).fill(r % 2 === 0 ? 1 : 0);
        const hog = startHog();
        const start = performance.now();
        const { rc } = yield* proc.movePages(0, pages, node, MPOL_MF_MOVE);
        const seconds = (performance.now() - start) / 1000;
        const { iterations } = hog.stop();
        if (rc !== 0) return yield* Effect.fail(new Error(`move_pages left ${rc} pages behind`));
        if (r === 0) continue;
        solo.push(soloRate);
        walls.push(seconds * 1000);
        shares.push(iterations / seconds / soloRate);
      }
      const intact = yield* patternIntact(proc, addr, total);
      const offloaded = loaded ? loaded.driver.foliosMigrated / (runs + 1) : 0;
      if (loaded) yield* unloadDcbm(kernel, loaded);
      rows.push({
        copier,
        wallMs: summarize(walls),
        hogShare: summarize(shares),
        folios: pages.length,
        offloaded,
        intact,
      });
    }
    const results: CpuResults = { total, folioBytes, hogSoloPerSecond: summarize(solo), rows };
    return envelope("cpu", { total, channels, runs, device }, results);
  });

/** Markdown for the CPU-availability run. */
export const formatCpu = (r: CpuResults): string =>
  [
    `CPU hog on the initiating thread while move_pages moves ${formatBytes(r.total)} of ${formatBytes(r.folioBytes)} folios`,
    "",
    markdownTable(
      [
        "copier",
        "wall ms, median (min–max)",
        "hog progress vs solo, median (min–max)",
        "folios",
        "DMA-copied",
      ],
      r.rows.map((row) => [
        row.copier,
        formatSummary(row.wallMs, 1),
        `${(row.hogShare.median * 100).toFixed(0)} % (${(row.hogShare.min * 100).toFixed(0)}–${(row.hogShare.max * 100).toFixed(0)} %)`,
        String(row.folios),
        `${row.offloaded}${row.intact ? "" : " CORRUPT"}`,
      ]),
    ),
  ].join("\n");
