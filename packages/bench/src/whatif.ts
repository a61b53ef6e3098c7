/**
 * What-if: the copy-cost model of the core (`migrate_copy_cost.ts`), given a machine's profile,
 * predicts the seeds' tables; each prediction beside the published number, with its error.
 *
 * A `move_pages()` call of `n` folios of `s` bytes is predicted as the profile's per-call cost
 * plus, for each batch of at most 1 GiB (the series measures with `NR_MAX_BATCHED_MIGRATION` at
 * `HPAGE_PUD_NR`, v4 patch 6), the kernel work of its folios and the copy of its bytes by the
 * row's copier: the CPU folio by folio, `t` copy threads each on an idle CPU, or `c` DMA channels.
 *
 * The shipped profiles (`packages/bench/profiles/*.json`) are fitted from the seeds' own numbers
 * by {@link fitSeedProfile}: straight-line least squares (`simple-statistics`) on the cells its
 * `fittedOn` list names; every other cell is a prediction.
 */
import { readFileSync } from "node:fs";
import {
  type CopyCostProfile,
  cpuCopyNs,
  type DmaDescriptorCount,
  dmaCopyNs,
  migrateKernelNs,
  parseCopyCostProfile,
  threadCopyNs,
} from "@migrate-offload/core";
import {
  DMA_DEFAULT_MAX_SEG_SIZE,
  dmaMapSgtableSegments,
  IommuDomain,
  PCI_DEFAULT_SEG_BOUNDARY_MASK,
} from "@migrate-offload/dcbm";
import { linearRegression } from "simple-statistics";
import { markdownTable } from "./report";
import {
  SEED_TABLES,
  type SeedColumn,
  type SeedCompactionTable,
  type SeedCopier,
  type SeedShareCell,
  type SeedShareTable,
  type SeedTable,
  seedCell,
  seedTable,
  sizeLabel,
  V4_COMPACTION,
} from "./seed_tables";
import { type CompactionTerms, fitCompaction } from "./whatif_compaction";

const GiB = 1 << 30;
const MiB = 1 << 20;

/** The largest batch of one call: `HPAGE_PUD_NR` base pages of 4 KiB, as the series measured. */
export const BATCH_BYTES = GiB;

/**
 * How a machine's DMA device maps a channel's sg table, which sets how many descriptors dcbm
 * prepares (one per mapped segment): whether an IOMMU translates for it, and its `dma_parms`
 * (`struct device_dma_parameters`, `include/linux/device.h`).
 */
export interface DmaMapping {
  /** An IOMMU translates for the device: `iommu_dma_map_sg()` merges entries into segments. */
  readonly iommu: boolean;
  /** `dma_get_max_seg_size()`, bytes. */
  readonly maxSegmentSize: number;
  /** `dma_get_seg_boundary()`: no segment crosses a multiple of `mask + 1`. */
  readonly segmentBoundaryMask: number;
}

/**
 * The part of a call's source still in the initiating CPU's last-level cache when the call
 * starts: the benchmark writes its buffer just before it moves it, so the last `bytes` it wrote
 * (the cache's size) are cache lines the copy finds dirty in the cache rather than in memory.
 * With the default `effect`, each of them the copy makes the cache write back
 * ({@link sourceWritebackBytes}: all of them for a DMA engine's coherent reads, those its own
 * fills displace for the initiating CPU's copy) costs `byteNs`, serially: the dirty lines drain
 * through the one link of the cache's core complex (AMD Zen 3: a CCD's link to the I/O die). The
 * term is per call, up to the cache's size; so it weighs most on calls of about that size and
 * fades as larger calls amortise it. With `"initiatorRead"` (NVIDIA Grace), the initiator's own
 * copy reads a call that fits from the cache, `byteNs` (below 0) a byte.
 */
export interface SourceCache {
  /** The initiating CPU's last-level cache, bytes (the machine's specification, not fitted). */
  readonly bytes: number;
  /**
   * ns per byte the cache acts on (a finite number): written back, or, with `effect`
   * `"initiatorRead"`, read from the cache rather than memory (below 0: the time a byte saves).
   */
  readonly byteNs: number;
  /**
   * What the cache does to a call (absent: `"writeBack"`). `"writeBack"`: the dirty source lines
   * are written back ({@link sourceWritebackBytes}), as on the EPYC machines. `"initiatorRead"`:
   * the initiating CPU's own copy of a call no larger than the cache reads every source byte from
   * it, and of a larger call none ({@link sourceCacheBytes}), as on Grace.
   */
  readonly effect?: "writeBack" | "initiatorRead";
}

/** AMD Zen 3 EPYC (Milan): 32 MiB of L3 per core complex die, shared by its eight cores. */
export const ZEN3_CCD_L3_BYTES = 32 * MiB;

/**
 * NVIDIA Grace: 114 MB of L3 per CPU, shared by its cores (NVIDIA's data sheet; taken as MiB: the
 * seeds' Grace calls lie at 64 MiB and 128 MiB on either side of it, so both readings predict the
 * same).
 */
export const GRACE_L3_BYTES = 114 * MiB;

/**
 * A PCI device behind an IOMMU with the limits `pci_device_add()` (`drivers/pci/probe.c`) gives
 * every PCI device, 64 KiB segments within 4 GiB lines, which PTDMA's probe (`ptdma-pci.c`)
 * keeps: the seeds' EPYC machines, on whose x86 kernels the IOMMU translates device DMA by
 * default.
 */
export const PCI_IOMMU_DMA_MAPPING: DmaMapping = {
  iommu: true,
  maxSegmentSize: DMA_DEFAULT_MAX_SEG_SIZE,
  segmentBoundaryMask: PCI_DEFAULT_SEG_BOUNDARY_MASK,
};

/** Each mapping's counters, by base page size, so that a table's segments are counted once. */
const counters = new WeakMap<DmaMapping, Map<number, DmaDescriptorCount>>();

/**
 * A channel's descriptors on a device that maps as `mapping` does, with base pages of
 * `pageSize`: the segments dcbm's own `dma_map_sgtable()` gives the channel's table
 * (`dmaMapSgtableSegments()` of `@migrate-offload/dcbm`), each count computed once. Without a
 * mapping, one per folio (the core's default).
 */
export const dmaDescriptorCount = (
  mapping: DmaMapping | undefined,
  pageSize: number,
): DmaDescriptorCount | undefined => {
  if (!mapping) return undefined;
  const byPage = counters.get(mapping) ?? new Map<number, DmaDescriptorCount>();
  counters.set(mapping, byPage);
  let count = byPage.get(pageSize);
  if (count) return count;
  const device = {
    iommu: mapping.iommu ? new IommuDomain(pageSize) : null,
    dmaParms: {
      maxSegmentSize: mapping.maxSegmentSize,
      segmentBoundaryMask: mapping.segmentBoundaryMask,
    },
    pageSize,
  };
  const seen = new Map<string, number>();
  count = (folios, folioBytes) => {
    const key = `${folios}/${folioBytes}`;
    let n = seen.get(key);
    if (n === undefined) {
      n = dmaMapSgtableSegments(device, folios, folioBytes);
      if (n < 0) throw new Error(`${folios} folios of ${folioBytes} bytes cannot be mapped`);
      seen.set(key, n);
    }
    return n;
  };
  byPage.set(pageSize, count);
  return count;
};

/** A profile file: the profile, the tables it predicts, and the cells it was fitted on. */
export interface ProfileFile {
  readonly profile: CopyCostProfile;
  /** How its DMA device maps a channel's table; absent: a descriptor per folio. */
  readonly dmaMapping?: DmaMapping;
  /** The source bytes a call finds in the last-level cache; absent: none. */
  readonly sourceCache?: SourceCache;
  /** The compaction terms ({@link CompactionTerms}); absent: no compaction run predicted. */
  readonly compaction?: CompactionTerms;
  /** Table ids it predicts; all the seeds' tables when the file names none. */
  readonly tables: readonly string[];
  /** Cell ids (`table/row/column`) its numbers were fitted on. */
  readonly fittedOn: readonly string[];
  /** The profile fields (`section.field`) fitted on them; the others are constants. */
  readonly parameters: readonly string[];
  /** Where its numbers come from. */
  readonly source: string;
}

/**
 * Reads a profile file: a {@link CopyCostProfile} (as `parseCopyCostProfile` reads it) with
 * optional `dmaMapping`, `sourceCache`, `compaction`, `tables`, `fittedOn` and `source`.
 * Throws, naming what was wrong.
 */
export const readProfileFile = (path: string): ProfileFile => {
  const json = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  const profile = parseCopyCostProfile(json);
  if (!("kernel" in profile)) throw new Error(`${path}: ${profile.message}`);
  const strings = (key: string): string[] => {
    const v = json[key];
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string"))
      throw new Error(`${path}: ${key} must be a list of strings`);
    return v as string[];
  };
  const tables = strings("tables");
  for (const id of tables) seedTable(id);
  const dmaMapping = readDmaMapping(path, json.dmaMapping);
  const sourceCache = readSourceCache(path, json.sourceCache);
  const compaction = readCompactionTerms(path, json.compaction);
  return {
    profile,
    ...(dmaMapping ? { dmaMapping } : {}),
    ...(sourceCache ? { sourceCache } : {}),
    ...(compaction ? { compaction } : {}),
    tables: tables.length > 0 ? tables : SEED_TABLES.map((t) => t.id),
    fittedOn: strings("fittedOn"),
    parameters: strings("parameters"),
    source: typeof json.source === "string" ? json.source : "",
  };
};

/**
 * A profile file's `dmaMapping`: `iommu` a boolean, `maxSegmentSize` a whole number of 1 to
 * 2³²−1 bytes (`unsigned int` in `struct device_dma_parameters`), `segmentBoundaryMask` one less
 * than a power of two. Throws, naming the field.
 */
const readDmaMapping = (path: string, v: unknown): DmaMapping | undefined => {
  if (v === undefined) return undefined;
  const o = (typeof v === "object" && v !== null ? v : {}) as Record<string, unknown>;
  const { iommu, maxSegmentSize: max, segmentBoundaryMask: mask } = o;
  if (typeof iommu !== "boolean") throw new Error(`${path}: dmaMapping.iommu must be a boolean`);
  if (typeof max !== "number" || !Number.isInteger(max) || max < 1 || max > 2 ** 32 - 1)
    throw new Error(`${path}: dmaMapping.maxSegmentSize must be a whole number of 1 to 2^32-1`);
  if (typeof mask !== "number" || !Number.isInteger(mask) || mask < 0 || !isPow2(mask + 1))
    throw new Error(`${path}: dmaMapping.segmentBoundaryMask must be one less than a power of 2`);
  return { iommu, maxSegmentSize: max, segmentBoundaryMask: mask };
};

/**
 * A profile file's `sourceCache`: `bytes` a whole number above 0, `byteNs` a finite number (below
 * 0 where the cache is faster than memory). Throws, naming the field.
 */
const readSourceCache = (path: string, v: unknown): SourceCache | undefined => {
  if (v === undefined) return undefined;
  const o = (typeof v === "object" && v !== null ? v : {}) as Record<string, unknown>;
  const { bytes, byteNs } = o;
  if (typeof bytes !== "number" || !Number.isInteger(bytes) || bytes < 1)
    throw new Error(`${path}: sourceCache.bytes must be a whole number above 0`);
  if (typeof byteNs !== "number" || !Number.isFinite(byteNs))
    throw new Error(`${path}: sourceCache.byteNs must be a finite number`);
  const { effect } = o;
  if (effect !== undefined && effect !== "writeBack" && effect !== "initiatorRead")
    throw new Error(`${path}: sourceCache.effect must be "writeBack" or "initiatorRead"`);
  return { bytes, byteNs, ...(effect ? { effect } : {}) };
};

/**
 * A profile file's `compaction`: `scanNs` a finite number of at least 0, `hogIterationsPerNs` a
 * finite number above 0. Throws, naming the field.
 */
const readCompactionTerms = (path: string, v: unknown): CompactionTerms | undefined => {
  if (v === undefined) return undefined;
  const o = (typeof v === "object" && v !== null ? v : {}) as Record<string, unknown>;
  const { scanNs, hogIterationsPerNs: hog } = o;
  if (typeof scanNs !== "number" || !Number.isFinite(scanNs) || scanNs < 0)
    throw new Error(`${path}: compaction.scanNs must be a finite number of at least 0`);
  if (typeof hog !== "number" || !Number.isFinite(hog) || hog <= 0)
    throw new Error(`${path}: compaction.hogIterationsPerNs must be a finite number above 0`);
  return { scanNs, hogIterationsPerNs: hog };
};

/** Whether a profile file predicts a compaction table: it has the terms and the machine's tables. */
export const predictsCompaction = (file: ProfileFile, table: SeedCompactionTable): boolean =>
  file.compaction !== undefined && file.tables.some((id) => table.machine.includes(id));

/** Whether `n` is a power of two (exact for the safe integers). */
const isPow2 = (n: number): boolean => n >= 1 && 2 ** Math.round(Math.log2(n)) === n;

/**
 * Nanoseconds one batch of `folios` × `folioBytes` takes, `ns`: kernel work plus the copier's
 * copy, `copyNs`.
 */
const batchNs = (
  p: CopyCostProfile,
  folios: number,
  folioBytes: number,
  pageSize: number,
  copier: SeedCopier,
  dmaMapping: DmaMapping | undefined,
): { readonly ns: number; readonly copyNs: number } => {
  const b = { folios, bytes: folios * folioBytes, pageSize };
  const copy =
    copier.kind === "serial"
      ? cpuCopyNs(p, b)
      : copier.kind === "threads"
        ? threadCopyNs(p, b, copier.threads, copier.threads).ns
        : dmaCopyNs(p, b, copier.channels, dmaDescriptorCount(dmaMapping, pageSize)).ns;
  return { ns: migrateKernelNs(p, b) + copy, copyNs: copy };
};

/**
 * The predicted GB/s of one `move_pages()` call of `folios` × `folioBytes` by `copier` on a
 * machine with base pages of `pageSize`: bytes over the per-call cost plus every batch's time.
 * Threads are each given an idle CPU, as on the seeds' idle machines; DMA channels take the
 * descriptors the device's `dmaMapping` gives them (absent: one per folio); the call's first
 * `sourceCache.bytes` cost `sourceCache.byteNs` each more (absent: nothing).
 */
export const predictCallGbps = (
  p: CopyCostProfile,
  folios: number,
  folioBytes: number,
  pageSize: number,
  copier: SeedCopier,
  dmaMapping?: DmaMapping,
  sourceCache?: SourceCache,
): number =>
  (folios * folioBytes) /
  callNs(p, { folios, folioBytes, pageSize, copier, dmaMapping, sourceCache }).ns;

/**
 * Nanoseconds of one `move_pages()` call, `ns`, and of the copies in it, `copyNs`: the per-call
 * cost plus every batch's kernel work and copy ({@link batchNs}), plus the source cache's term on
 * the call's first bytes ({@link SourceCache}), counted with the copies.
 */
const callNs = (
  p: CopyCostProfile,
  call: {
    readonly folios: number;
    readonly folioBytes: number;
    readonly pageSize: number;
    readonly copier: SeedCopier;
    readonly dmaMapping?: DmaMapping | undefined;
    readonly sourceCache?: SourceCache | undefined;
  },
): { readonly ns: number; readonly copyNs: number } => {
  const { folios, folioBytes, pageSize, copier, dmaMapping, sourceCache } = call;
  const perBatch = Math.max(1, Math.floor(BATCH_BYTES / folioBytes));
  const cached = cacheNs(sourceCache, folios * folioBytes, copier);
  let ns = p.kernel.callNs + cached;
  let copyNs = cached;
  for (let left = folios; left > 0; left -= perBatch) {
    const b = batchNs(p, Math.min(perBatch, left), folioBytes, pageSize, copier, dmaMapping);
    ns += b.ns;
    copyNs += b.copyNs;
  }
  return { ns, copyNs };
};

/**
 * Bytes of a call's dirty source written back from the initiating CPU's cache while `copier`
 * copies the call's `bytes`. The cache holds the last `c = min(bytes, cache)` bytes the
 * benchmark wrote. A DMA engine's reads are coherent: each source line dirty in a CPU's cache is
 * written back for it, so all `c`. The initiating CPU's own copy reads them from its cache and
 * writes back only the ones its destination lines displace: each line it brings in displaces a
 * source line with the chance the source holds of the cache, `c / cache` (the cache's
 * replacement is not strict LRU), so `c² / cache`, the whole cache once the call is its size.
 * Copy threads run on other CPUs (the unbound workqueue's), whose fills land in their own core
 * complex's cache and whose reads take a dirty line without writing it back (MOESI's Owned
 * state): none.
 */
export const sourceWritebackBytes = (
  cache: SourceCache,
  bytes: number,
  copier: SeedCopier,
): number => {
  const c = Math.min(bytes, cache.bytes);
  if (copier.kind === "dma") return c;
  return copier.kind === "threads" ? 0 : (c * c) / cache.bytes;
};

/**
 * Bytes of a call's source the cache acts on while `copier` copies the call's `bytes`: those
 * written back ({@link sourceWritebackBytes}) for a `"writeBack"` cache. For an
 * `"initiatorRead"` one, the initiating CPU's own copy of a call no larger than the cache finds
 * every source byte in it (the benchmark wrote the buffer just before the call), and of a larger
 * call none: the benchmark wrote the source in the order the copy reads it, so by the time the
 * copy reaches a byte, the bytes written after it and read before it, the call's size in all,
 * have passed through the cache since. Copy threads, none: the Grace tables' thread rows show no
 * such gain (one copy thread is slower than the initiator's own copy at every count).
 */
export const sourceCacheBytes = (cache: SourceCache, bytes: number, copier: SeedCopier): number => {
  if (cache.effect !== "initiatorRead") return sourceWritebackBytes(cache, bytes, copier);
  return copier.kind === "serial" && bytes <= cache.bytes ? bytes : 0;
};

/** The source cache's term of a call: `byteNs` per byte it acts on (0 without a cache). */
const cacheNs = (cache: SourceCache | undefined, bytes: number, copier: SeedCopier): number =>
  cache ? cache.byteNs * sourceCacheBytes(cache, bytes, copier) : 0;

/** One predicted share beside the published one. */
export interface ShareCell {
  /** `table/folios/size`, as `v3-share/512/2M`. */
  readonly id: string;
  readonly published: SeedShareCell;
  /** The predicted share, 0 to 1. */
  readonly predicted: number;
  /**
   * `(predicted − published) / published` for an "about" cell; for a "below" cell, 0 when the
   * prediction is below the bound, else how far above it.
   */
  readonly error: number;
  readonly fitted: boolean;
}

/**
 * The copy's share of a `move_pages()` call of the serial path, as the model's own terms give
 * it: the copies' time ({@link cpuCopyNs}, folio by folio) over the call's (per-call cost, the
 * kernel's work and the copies), for each cell of a published share table; `fittedOn` marks the
 * cells a profile was fitted on; `sourceCache`, the machine's source cache ({@link SourceCache}),
 * whose term counts with the copies.
 */
export const predictCopyShare = (
  p: CopyCostProfile,
  table: SeedShareTable,
  fittedOn: readonly string[] = [],
  sourceCache?: SourceCache,
): ShareCell[] =>
  table.cells.map((cell) => {
    const id = `${table.id}/${cell.folios}/${sizeLabel(cell.folioBytes)}`;
    const t = callNs(p, {
      ...cell,
      pageSize: table.pageSize,
      copier: { kind: "serial" },
      sourceCache,
    });
    const predicted = t.copyNs / t.ns;
    const bound = cell.percent / 100;
    const error = cell.below
      ? Math.max(0, (predicted - bound) / bound)
      : (predicted - bound) / bound;
    return { id, published: cell, predicted, error, fitted: fittedOn.includes(id) };
  });

/** Whether a profile file predicts a share table: it predicts a GB/s table of the same machine. */
export const predictsShare = (file: ProfileFile, table: SeedShareTable): boolean =>
  file.tables.some((id) => table.machine.includes(id));

/**
 * Markdown: the share table, 4 KiB and 2 MiB across, the counts down, each cell `predicted /
 * published (error)`, then which cells were fitted on and how many are within 15 % (a "below"
 * cell when the prediction is below its bound).
 */
export const formatCopyShare = (table: SeedShareTable, cells: readonly ShareCell[]): string => {
  const sizes = [...new Set(table.cells.map((c) => c.folioBytes))];
  const counts = [...new Set(table.cells.map((c) => c.folios))];
  const text = (c: ShareCell) =>
    `${(c.predicted * 100).toFixed(c.predicted < 0.1 ? 2 : 1)} % / ${c.published.below ? "<" : "~"}${c.published.percent} % (${c.error >= 0 ? "+" : ""}${(c.error * 100).toFixed(0)} %)${c.fitted ? " *" : ""}`;
  const rows = counts.map((n) => [
    String(n),
    ...sizes.map((s) => {
      const c = cells.find((x) => x.published.folios === n && x.published.folioBytes === s);
      return c ? text(c) : "–";
    }),
  ]);
  const fitted = cells.filter((c) => c.fitted);
  const held = cells.filter((c) => !c.fitted);
  const within = held.filter((c) => Math.abs(c.error) <= 0.15).length;
  return [
    `**${table.title}** (${table.source}), the copy's time over the call's, predicted / published (error):`,
    "",
    markdownTable(["folios", ...sizes.map(sizeLabel)], rows),
    "",
    `${fitted.length > 0 ? `Fitted on: ${fitted.map((c) => c.id).join(", ")} (\\*); not fitted on: ` : "No cell was fitted on: "}${held.map((c) => c.id).join(", ")}. Of ${held.length} cells not fitted on, ${within} are within 15 % of the published share (a "<" cell: below it).`,
  ].join("\n");
};

/** One predicted cell beside the published one. */
export interface WhatifCell {
  readonly id: string;
  readonly published: number;
  readonly predicted: number;
  /** `(predicted − published) / published`. */
  readonly error: number;
  readonly fitted: boolean;
  /** The ± the seed prints beside the published number, GB/s; absent where it prints none. */
  readonly spread?: number;
}

/** One table's prediction. */
export interface WhatifTable {
  readonly table: SeedTable;
  readonly cells: WhatifCell[][];
}

/**
 * Predicts a seed table with a profile; `fittedOn` marks the cells the profile was fitted on;
 * `dmaMapping` is how its DMA device maps a channel's table; `sourceCache` the source bytes a
 * call finds in the cache.
 */
export const predictTable = (
  p: CopyCostProfile,
  table: SeedTable,
  fittedOn: readonly string[] = [],
  dmaMapping?: DmaMapping,
  sourceCache?: SourceCache,
): WhatifTable => ({
  table,
  cells: table.rows.map((row) =>
    table.columns.map((col, i) => {
      const id = `${table.id}/${row.label}/${col.label}`;
      const published = row.gbps[i]!;
      const predicted = predictCallGbps(
        p,
        col.folios,
        col.folioBytes,
        table.pageSize,
        row.copier,
        dmaMapping,
        sourceCache,
      );
      const spread = row.spread?.[i];
      return {
        id,
        published,
        predicted,
        error: (predicted - published) / published,
        fitted: fittedOn.includes(id),
        ...(spread === undefined ? {} : { spread }),
      };
    }),
  ),
});

/**
 * The error summary of predicted tables, over the cells not fitted on: how many, how many within
 * 15 %, the worst; and of the misses, how many the seed prints a ± for and how many of those lie
 * within it (`|predicted − published| ≤ ±`).
 */
export const whatifSummary = (
  tables: readonly WhatifTable[],
  within = 0.15,
): {
  cells: number;
  within: number;
  worst: WhatifCell | null;
  missesWithSpread: number;
  missesWithinSpread: number;
} => {
  const held = tables.flatMap((t) => t.cells.flat()).filter((c) => !c.fitted);
  const worst = held.reduce<WhatifCell | null>(
    (w, c) => (w === null || Math.abs(c.error) > Math.abs(w.error) ? c : w),
    null,
  );
  const misses = held.filter((c) => Math.abs(c.error) > within && c.spread !== undefined);
  return {
    cells: held.length,
    within: held.filter((c) => Math.abs(c.error) <= within).length,
    worst,
    missesWithSpread: misses.length,
    missesWithinSpread: misses.filter((c) => Math.abs(c.predicted - c.published) <= c.spread!)
      .length,
  };
};

/**
 * Markdown: per table, each cell as `predicted / published (error %)`, fitted cells starred;
 * then how many of the cells not fitted on are within 15 %.
 */
export const formatWhatif = (file: ProfileFile, tables: readonly WhatifTable[]): string => {
  const out: string[] = [
    `Profile: ${file.profile.name}${file.source ? ` (${file.source})` : ""}.`,
    "",
  ];
  for (const t of tables) {
    out.push(`**${t.table.title}** (${t.table.source}), GB/s predicted / published (error):`, "");
    out.push(
      markdownTable(
        [t.table.columns.length > 0 && t.table.id.includes("count") ? "folios" : "copier"].concat(
          t.table.columns.map((c) => c.label),
        ),
        t.table.rows.map((row, r) => [
          row.label,
          ...t.cells[r]!.map(
            (c) =>
              `${c.predicted.toFixed(2)} / ${c.published.toFixed(2)} (${c.error >= 0 ? "+" : ""}${(c.error * 100).toFixed(0)} %)${c.fitted ? " *" : ""}`,
          ),
        ]),
      ),
      "",
    );
  }
  const s = whatifSummary(tables);
  const all = tables.reduce((n, t) => n + t.cells.flat().length, 0);
  // The compaction terms are fitted on the compaction table, which formatCompaction prints.
  const parameters = file.parameters.filter((x) => !x.startsWith("compaction."));
  out.push(
    `${parameters.length > 0 ? `${parameters.length} parameters (${parameters.join(", ")}) fitted on ${all - s.cells} of ${all} cells. ` : ""}\\* fitted on. Of ${s.cells} cells not fitted on, ${s.within} are within 15 % of the published number${s.worst ? `; the worst is ${s.worst.id}, ${(s.worst.error * 100).toFixed(0)} %` : ""}.${s.missesWithSpread > 0 ? ` Of the ${s.missesWithSpread} misses where the seed prints a ±, the prediction is within it for ${s.missesWithinSpread}.` : ""}`,
  );
  return out.join("\n");
};

// ---------------------------------------------------------------------------------------------
// Fitting the seeds' machines.

/** A straight line through points: `{ m, b }` by least squares. */
const line = (points: Array<[number, number]>) => linearRegression(points);

/** ns a published call took. */
const callNsOf = (table: string, row: string, column: string): number => {
  const t = seedTable(table);
  const c = t.columns.find((x) => x.label === column)!;
  return (c.folios * c.folioBytes) / seedCell(table, row, column);
};

/** What a call costs beyond its folios: the per-call cost and the source cache's term. */
interface CallOverhead {
  readonly callNs: number;
  readonly sourceCache?: SourceCache;
}

/** ns a folio of a published cell took: the call's time less its overhead, over its folios. */
const folioNsOf = (table: string, row: string, column: string, o: CallOverhead): number => {
  const t = seedTable(table);
  const c = t.columns.find((x) => x.label === column)!;
  const copier = t.rows.find((r) => r.label === row)!.copier;
  const cached = cacheNs(o.sourceCache, c.folios * c.folioBytes, copier);
  return (callNsOf(table, row, column) - o.callNs - cached) / c.folios;
};

/**
 * `ns = folioNs + pteNs · pages + bytes / gbps` for PTE-mapped folios and `folioNs + bytes / gbps`
 * for PMD-mapped ones, through per-folio (bytes, ns) points by folio size: a line through the
 * PTE-mapped points (a folio's cost, and a byte's copy plus a PTE's share), and the PMD-mapped
 * point for the copy alone.
 */
const fitPteLine = (points: Array<[number, number]>, pmdBytes: number, pageSize: number) => {
  const pte = points.filter(([bytes]) => bytes < pmdBytes);
  const pmd = points.find(([bytes]) => bytes >= pmdBytes)!;
  // ns per byte against 1 / bytes: every point weighs by its relative error, not its size.
  const { m, b } = line(pte.map(([bytes, ns]) => [1 / bytes, ns / bytes]));
  const byteNs = (pmd[1] - m) / pmd[0];
  return { folioNs: m, pteNs: Math.max(0, (b - byteNs) * pageSize), gbps: 1 / byteNs };
};

/**
 * The kernel's per-folio and per-PTE work and the CPU's bandwidth, from a baseline row by folio
 * size at 1 GB per call, less each call's overhead `o` ({@link fitPteLine}).
 */
const fitSerial = (table: string, o: CallOverhead) => {
  const t = seedTable(table);
  const row = t.rows[0]!;
  const f = fitPteLine(
    t.columns.map((c) => [c.folioBytes, folioNsOf(table, row.label, c.label, o)]),
    t.pmdBytes,
    t.pageSize,
  );
  return {
    folioNs: f.folioNs,
    pteNs: f.pteNs,
    threadGbps: f.gbps,
    fittedOn: t.columns.map((c) => `${table}/${row.label}/${c.label}`),
  };
};

/**
 * The per-call cost and the source cache's `byteNs`, from three cells of a count table's row:
 * the first (one folio), the one whose call is the cache's size, and the last. The last two both
 * carry the whole cache term, so their difference is the folios' (a folio's time); what the
 * cache-sized call has beyond its folios, less what the one-folio call has, is the cache term
 * over the cache less one folio's bytes; the one-folio call's rest is the per-call cost (at
 * least 0: where it would fall below, the cache-sized call alone sets `byteNs`).
 */
const fitCallAndCache = (table: string, row: string, cacheBytes: number) => {
  const t = seedTable(table);
  const first = t.columns[0]!;
  const last = t.columns[t.columns.length - 1]!;
  const mid = t.columns.find((c) => c.folios * c.folioBytes === cacheBytes)!;
  const ns = (c: SeedColumn) => callNsOf(table, row, c.label);
  const folioNs = (ns(last) - ns(mid)) / (last.folios - mid.folios);
  const beyond = (c: SeedColumn) => ns(c) - c.folios * folioNs;
  const firstBytes = sourceWritebackBytes(
    { bytes: cacheBytes, byteNs: 0 },
    first.folios * first.folioBytes,
    seedTable(table).rows.find((r) => r.label === row)!.copier,
  );
  let byteNs = (beyond(mid) - beyond(first)) / (cacheBytes - firstBytes);
  let callNs = beyond(first) - byteNs * firstBytes;
  if (callNs < 0) {
    callNs = 0;
    byteNs = beyond(mid) / cacheBytes;
  }
  return {
    callNs,
    sourceCache: { bytes: cacheBytes, byteNs },
    fittedOn: [first, mid, last].map((c) => `${table}/${row}/${c.label}`),
  };
};

/** The per-call cost: the intercept of a line through a count table's first and last cells. */
const fitCall = (table: string, row: string) => {
  const t = seedTable(table);
  const first = t.columns[0]!;
  const last = t.columns[t.columns.length - 1]!;
  const { b } = line([
    [first.folios, callNsOf(table, row, first.label)],
    [last.folios, callNsOf(table, row, last.label)],
  ]);
  return {
    callNs: Math.max(0, b),
    fittedOn: [first, last].map((c) => `${table}/${row}/${c.label}`),
  };
};

/**
 * The DMA channels, from the one-channel row's per-folio times less the kernel work: dcbm maps a
 * channel's folios with one `dma_map_sgtable()` and prepares one descriptor per mapped segment,
 * counted by dcbm's own mapping on a device that maps as `mapping` does
 * ({@link dmaDescriptorCount}). A line through (descriptors per byte, ns per byte) for the
 * PTE-mapped sizes gives a descriptor's cost (slope) and a byte's (intercept: its copy and its
 * PTE's share); the
 * PMD-mapped 2 MiB cell, one descriptor and its bytes, the channel's bandwidth; the 16-channel
 * 2 MiB cell the device's. The DMA path's own per-folio CPU work is 0: fitted beside the
 * descriptors it comes out below 0 in both revisions, less than the CPU copy's per-folio share
 * the baseline row folds into the kernel's per-folio work.
 */
const fitDma = (
  table: string,
  kernelNs: (folioBytes: number) => number,
  mapping: DmaMapping,
  o: CallOverhead,
): { dma: NonNullable<CopyCostProfile["dma"]>; fittedOn: string[] } => {
  const t = seedTable(table);
  const onChannel = (i: number) =>
    folioNsOf(table, "dcbm 1", t.columns[i]!.label, o) - kernelNs(t.columns[i]!.folioBytes);
  const descriptors = dmaDescriptorCount(mapping, t.pageSize)!;
  // A channel's descriptors per folio: one batch holds a column's whole call.
  const perFolio = (i: number) => {
    const c = t.columns[i]!;
    const batch = Math.min(c.folios, Math.max(1, Math.floor(BATCH_BYTES / c.folioBytes)));
    return descriptors(batch, c.folioBytes) / batch;
  };
  const pte = t.columns.flatMap((c, i) => (c.folioBytes < t.pmdBytes ? [i] : []));
  const { m, b } = line(
    pte.map((i): [number, number] => {
      const s = t.columns[i]!.folioBytes;
      return [perFolio(i) / s, onChannel(i) / s];
    }),
  );
  const descNs = Math.max(0, m);
  const last = t.columns.length - 1;
  const big = t.columns[last]!;
  const chanGbps = big.folioBytes / Math.max(1e-9, onChannel(last) - perFolio(last) * descNs);
  const d16 = folioNsOf(table, "dcbm 16", big.label, o) - kernelNs(big.folioBytes);
  const maxGbps = big.folioBytes / Math.max(1e-9, d16);
  return {
    dma: {
      channels: 16,
      engines: 16,
      chanGbps,
      maxGbps: Math.max(chanGbps, maxGbps),
      setupNs: 0,
      chanNs: 0,
      folioCpuNs: 0,
      descNs,
      pteNs: Math.max(0, (b - 1 / chanGbps) * t.pageSize),
      completionNs: 0,
    },
    fittedOn: [
      ...t.columns.map((c) => `${table}/dcbm 1/${c.label}`),
      `${table}/dcbm 16/${big.label}`,
    ],
  };
};

/** The predicted GB/s of a table's column ({@link predictCallGbps} on its folios and size). */
const predictColumn = (
  p: CopyCostProfile,
  t: SeedTable,
  col: SeedColumn,
  copier: SeedCopier,
  mapping?: DmaMapping,
  cache?: SourceCache,
): number => predictCallGbps(p, col.folios, col.folioBytes, t.pageSize, copier, mapping, cache);

/**
 * A per-batch cost the per-folio terms leave over: a count table's one-folio cell less the
 * prediction without it.
 */
const leftover = (
  p: CopyCostProfile,
  table: string,
  row: string,
  copier: SeedCopier,
  mapping?: DmaMapping,
  cache?: SourceCache,
): number => {
  const t = seedTable(table);
  const c = t.columns[0]!;
  const predicted = (c.folios * c.folioBytes) / predictColumn(p, t, c, copier, mapping, cache);
  return Math.max(0, callNsOf(table, row, c.label) - predicted);
};

/**
 * How the device ties channels to engines ({@link CopyCostProfile} `dma.channelsPerEngine`): of
 * any free engine for any channel (0) or 1, 2, 4 or 8 channels owning each engine, the one whose
 * prediction of the two-channel 2 MiB cell is nearest the published number. With one channel
 * and sixteen fitted, two channels are the first cell that tells them apart.
 */
const fitChannelsPerEngine = (
  p: CopyCostProfile,
  table: string,
  mapping: DmaMapping,
  cache?: SourceCache,
) => {
  const t = seedTable(table);
  const big = t.columns[t.columns.length - 1]!;
  const published = seedCell(table, "dcbm 2", big.label);
  const error = (k: number) => {
    const q = { ...p, dma: { ...p.dma!, channelsPerEngine: k } };
    const g = predictColumn(q, t, big, { kind: "dma", channels: 2 }, mapping, cache);
    return Math.abs(g - published) / published;
  };
  const k = [0, 1, 2, 4, 8].reduce((best, k) => (error(k) < error(best) ? k : best), 0);
  return { channelsPerEngine: k, fittedOn: [`${table}/dcbm 2/${big.label}`] };
};

/**
 * The share, from 0 to 1, at which `gbps(share)` (a prediction, monotone in the share) meets
 * `published`, by bisection; 0 or 1 where every share's prediction lies on one side of it.
 */
const bisectShare = (gbps: (share: number) => number, published: number): number => {
  const rising = gbps(1) >= gbps(0);
  // More share is needed while the prediction is below the published number (rising), or
  // above it (falling).
  const more = (share: number) => (rising ? gbps(share) < published : gbps(share) > published);
  if (!more(0)) return 0;
  if (more(1)) return 1;
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (more(mid)) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
};

/**
 * How a descriptor's cost splits between the initiating CPU (`descCpuNs`: preparing and
 * submitting it, for every channel before any starts) and the channel (`descNs`). One channel
 * cannot tell them apart (the two run one after the other), so the one-channel fit gives their
 * sum; the CPU's share does not shrink with more channels and the channel's does. The split,
 * from 0 to all of it on the CPU, is the one whose prediction of the 16-channel cell at the
 * largest size that still takes a descriptor per segment of `maxSegmentSize` (64 KiB) is nearest
 * the published number (by bisection: more on the CPU, a slower prediction).
 */
const fitDescriptorSplit = (
  p: CopyCostProfile,
  table: string,
  mapping: DmaMapping,
  cache?: SourceCache,
) => {
  const t = seedTable(table);
  const col = t.columns.find((c) => c.folioBytes === mapping.maxSegmentSize)!;
  const published = seedCell(table, "dcbm 16", col.label);
  const total = p.dma!.descNs;
  const at = (share: number) => ({
    ...p,
    dma: { ...p.dma!, descNs: total * (1 - share), descCpuNs: total * share },
  });
  const gbps = (share: number) =>
    predictColumn(at(share), t, col, { kind: "dma", channels: 16 }, mapping, cache);
  return {
    dma: at(bisectShare(gbps, published)).dma,
    fittedOn: [`${table}/dcbm 16/${col.label}`],
  };
};

/**
 * How much a copy thread adds beside another ({@link CopyCostProfile} `threads.scaling`): the
 * share, from 0 to 1, whose prediction of the two-thread cell at the largest folio size (where
 * the kernel's work weighs least) is nearest the published number (by bisection: a larger share,
 * a faster prediction). One thread's row gives the lone thread's bandwidth; two are the first
 * cell that tells how much a second one adds.
 */
const fitThreadScaling = (p: CopyCostProfile, table: string, cache?: SourceCache) => {
  const t = seedTable(table);
  const big = t.columns[t.columns.length - 1]!;
  const published = seedCell(table, "mtcopy 2", big.label);
  const at = (scaling: number) => ({ ...p.threads, scaling });
  const gbps = (scaling: number) =>
    predictColumn(
      { ...p, threads: at(scaling) },
      t,
      big,
      { kind: "threads", threads: 2 },
      undefined,
      cache,
    );
  return {
    threads: at(bisectShare(gbps, published)),
    fittedOn: [`${table}/mtcopy 2/${big.label}`],
  };
};

/** A profile with every number fitted and the cells it was fitted on. */
export interface FittedProfile {
  readonly name: string;
  readonly source: string;
  readonly tables: readonly string[];
  readonly fittedOn: readonly string[];
  /** The profile fields fitted; the others are constants. */
  readonly parameters: readonly string[];
  readonly profile: CopyCostProfile;
  /** How the machine's DMA device maps a channel's table; absent: no DMA engine. */
  readonly dmaMapping?: DmaMapping;
  /** The source bytes a call finds in the cache; absent: none modelled. */
  readonly sourceCache?: SourceCache;
  /** The compaction terms; absent: the machine publishes no compaction run. */
  readonly compaction?: CompactionTerms;
}

const assemble = (
  name: string,
  source: string,
  tables: string[],
  fittedOn: string[],
  profile: Omit<CopyCostProfile, "name">,
  dmaMapping?: DmaMapping,
  sourceCache?: SourceCache,
  compaction?: CompactionTerms,
): Omit<FittedProfile, "parameters"> => ({
  name,
  source,
  tables,
  fittedOn,
  profile: { name, ...profile },
  ...(dmaMapping ? { dmaMapping } : {}),
  ...(sourceCache ? { sourceCache } : {}),
  ...(compaction ? { compaction } : {}),
});

/**
 * The EPYC machine's kernel work and CPU: {@link fitCallAndCache} on a count table's baseline
 * (the per-call cost and the source cache, 32 MiB of a Zen 3 CCD's L3), then {@link fitSerial}
 * on a baseline table by folio size less each call's overhead; 4 KiB pages, 2 MiB PMD.
 */
const fitEpycKernel = (bySize: string, byCount: string) => {
  const call = fitCallAndCache(byCount, "baseline", ZEN3_CCD_L3_BYTES);
  const serial = fitSerial(bySize, call);
  const kernel = {
    callNs: call.callNs,
    folioNs: serial.folioNs,
    pteNs: serial.pteNs,
    pmdBytes: 2 * MiB,
  };
  const kernelNs = (s: number) =>
    kernel.folioNs + (s < kernel.pmdBytes ? kernel.pteNs * (s / 4096) : 0);
  return { serial, call, kernel, kernelNs, cache: call.sourceCache };
};

/** The v4 machine (AMD Zen 3 EPYC, PTDMA): v4 tables 1a, 1b and 2. */
const fitV4 = (): Omit<FittedProfile, "parameters"> => {
  const { serial, call, kernel, kernelNs, cache } = fitEpycKernel("v4-1a", "v4-count");
  const mapping = PCI_IOMMU_DMA_MAPPING;
  const dma = fitDma("v4-1b", kernelNs, mapping, call);
  const base: Omit<CopyCostProfile, "name"> = {
    kernel,
    cpu: { threadGbps: serial.threadGbps, memGbps: serial.threadGbps, copyCallNs: 0 },
    threads: { dispatchNs: 0, threadNs: 0 },
    dma: dma.dma,
  };
  const setupNs = leftover(
    { name: "", ...base },
    "v4-count",
    "dcbm 1",
    { kind: "dma", channels: 1 },
    mapping,
    cache,
  );
  const withSetup = { ...base, dma: { ...dma.dma, setupNs } };
  const sharing = fitChannelsPerEngine({ name: "", ...withSetup }, "v4-1b", mapping, cache);
  const shared = {
    ...withSetup,
    dma: { ...withSetup.dma, channelsPerEngine: sharing.channelsPerEngine },
  };
  const split = fitDescriptorSplit({ name: "", ...shared }, "v4-1b", mapping, cache);
  const profile = { ...shared, dma: split.dma };
  const compaction = fitCompaction({ name: "v4-epyc-ptdma", ...profile }, V4_COMPACTION);
  return assemble(
    "v4-epyc-ptdma",
    "RFC v4 cover letter (001_f5dd2cc87105abe2.txt): AMD Zen 3 EPYC, 2 sockets, 32 cores, PTDMA",
    ["v4-1a", "v4-1b", "v4-count"],
    [
      ...serial.fittedOn,
      ...call.fittedOn,
      ...dma.fittedOn,
      "v4-count/dcbm 1/1",
      ...sharing.fittedOn,
      ...split.fittedOn,
      ...compaction.fittedOn,
    ],
    profile,
    mapping,
    cache,
    compaction.terms,
  );
};

/** The v3 machine (the same EPYC, an older kernel): v3 tables 1a, 1b, 1c and 2. */
const fitV3 = (): Omit<FittedProfile, "parameters"> => {
  const { serial, call, kernel, kernelNs, cache } = fitEpycKernel("v3-1a", "v3-count");
  const mapping = PCI_IOMMU_DMA_MAPPING;
  const dma = fitDma("v3-1c", kernelNs, mapping, call);
  // Memory's bandwidth: the 16-thread 2 MiB cell, all of its copy at that bandwidth.
  const mem = (2 * MiB) / (folioNsOf("v3-1b", "mtcopy 16", "2M", call) - kernelNs(2 * MiB));
  const base: Omit<CopyCostProfile, "name"> = {
    kernel,
    cpu: {
      threadGbps: serial.threadGbps,
      memGbps: Math.max(serial.threadGbps, mem),
      copyCallNs: 0,
    },
    threads: { dispatchNs: 0, threadNs: 0 },
    dma: dma.dma,
  };
  const p0 = { name: "", ...base };
  const dispatchNs = leftover(
    p0,
    "v3-count",
    "mtcopy 1",
    { kind: "threads", threads: 1 },
    undefined,
    cache,
  );
  const scaling = fitThreadScaling({ ...p0, threads: { dispatchNs, threadNs: 0 } }, "v3-1b", cache);
  const setupNs = leftover(p0, "v3-count", "dcbm 1", { kind: "dma", channels: 1 }, mapping, cache);
  const dmaFitted = { ...dma.dma, setupNs };
  const sharing = fitChannelsPerEngine(
    { name: "", ...base, dma: dmaFitted },
    "v3-1c",
    mapping,
    cache,
  );
  const split = fitDescriptorSplit(
    {
      name: "",
      ...base,
      threads: { dispatchNs, threadNs: 0 },
      dma: { ...dmaFitted, channelsPerEngine: sharing.channelsPerEngine },
    },
    "v3-1c",
    mapping,
    cache,
  );
  return assemble(
    "v3-epyc-ptdma",
    "RFC v3 cover letter (002_fb4c201677199b0f.txt): AMD Zen 3 EPYC, 2 sockets, 32 cores, PTDMA",
    ["v3-1a", "v3-1b", "v3-1c", "v3-count"],
    [
      ...serial.fittedOn,
      ...call.fittedOn,
      ...dma.fittedOn,
      "v3-1b/mtcopy 16/2M",
      "v3-count/mtcopy 1/1",
      ...scaling.fittedOn,
      "v3-count/dcbm 1/1",
      ...sharing.fittedOn,
      ...split.fittedOn,
    ],
    { ...base, threads: scaling.threads, dma: split.dma },
    mapping,
    cache,
  );
};

/**
 * Zi Yan's Grace machine (NVIDIA Grace, 2 sockets, 64 KiB base pages, no DMA engine).
 *
 * The copy threads separate the kernel's work from the copy: at the largest count, a folio takes
 * the initiator's kernel work plus its copy split over `t` threads, so a line through
 * (1/t, ns per folio) for mt_1 … mt_16 gives the kernel work (intercept) of each folio size. Two
 * sizes give the per-folio and the per-PTE work (a 2 MiB mTHP is 32 PTEs of 64 KiB, a 64 KiB
 * folio one). The 64 KiB vanilla row at its first and last counts gives the per-call cost; at the
 * last count, less the kernel work, the 2 GiB call of 2 MiB folios gives the CPU's bandwidth from
 * memory and the 64 MiB call of 64 KiB folios, which fits the L3, its bandwidth from the cache
 * (the source cache's `byteNs`, {@link sourceCacheBytes}); mt_32 at 256 × 2 MiB gives memory's
 * bandwidth; a line through mt_2 … mt_32 at one 2 MiB folio gives the dispatch (intercept) and
 * the per-thread cost (slope).
 */
const fitGrace = (): Omit<FittedProfile, "parameters"> => {
  const page = 64 * 1024;
  const c64 = fitCall("grace-64k", "vanilla");
  const last = (table: string) => {
    const t = seedTable(table);
    return t.columns[t.columns.length - 1]!;
  };
  const threadRows = [1, 2, 4, 8, 16];
  // The kernel's work per folio of a table's size: the intercept of ns per folio over 1/t.
  const kernelOf = (table: string) => {
    const col = last(table);
    const perFolio = (row: string) => (callNsOf(table, row, col.label) - c64.callNs) / col.folios;
    return {
      ns: line(threadRows.map((t) => [1 / t, perFolio(`mt_${t}`)])).b,
      vanillaNs: perFolio("vanilla"),
      bytes: col.folioBytes,
      fittedOn: ["vanilla", ...threadRows.map((t) => `mt_${t}`)].map(
        (r) => `${table}/${r}/${col.label}`,
      ),
    };
  };
  const k64 = kernelOf("grace-64k");
  const k2m = kernelOf("grace-2m");
  const ptes2m = k2m.bytes / page;
  const pteNs = Math.max(0, (k2m.ns - k64.ns) / (ptes2m - 1));
  const kernel = {
    callNs: c64.callNs,
    folioNs: Math.max(0, k64.ns - pteNs),
    pteNs,
    pmdBytes: 512 * MiB,
  };
  // The CPU's copy from memory: the 2 GiB vanilla call's folios less their kernel work.
  const byteNs = (k2m.vanillaNs - k2m.ns) / k2m.bytes;
  const threadGbps = 1 / byteNs;
  // From the cache: the 64 MiB vanilla call of 64 KiB folios, whose source all fits in the L3.
  const sourceCache: SourceCache = {
    bytes: GRACE_L3_BYTES,
    byteNs: (k64.vanillaNs - k64.ns) / k64.bytes - byteNs,
    effect: "initiatorRead",
  };
  const kernelNs2m = kernel.folioNs + kernel.pteNs * ptes2m;
  const mem =
    (2 * MiB) / ((callNsOf("grace-2m", "mt_32", "256") - kernel.callNs) / 256 - kernelNs2m);
  const cpu = { threadGbps, memGbps: Math.max(threadGbps, mem), copyCallNs: 0 };
  const p0: CopyCostProfile = { name: "", kernel, cpu, threads: { dispatchNs: 0, threadNs: 0 } };
  const pts = [2, 4, 8, 16, 32].map((t): [number, number] => [
    t,
    callNsOf("grace-2m", `mt_${t}`, "1") -
      (2 * MiB) / predictCallGbps(p0, 1, 2 * MiB, page, { kind: "threads", threads: t }),
  ]);
  const { m, b } = line(pts);
  return assemble(
    "grace",
    "Zi Yan's multi-threaded copy RFC (003_8fe54f2659d67c99.txt): NVIDIA Grace, 2 sockets, 64 KiB pages",
    ["grace-64k", "grace-2m"],
    [
      ...new Set([
        ...c64.fittedOn,
        ...k64.fittedOn,
        ...k2m.fittedOn,
        "grace-2m/mt_32/256",
        ...[2, 4, 8, 16, 32].map((t) => `grace-2m/mt_${t}/1`),
      ]),
    ],
    { kernel, cpu, threads: { dispatchNs: Math.max(0, b), threadNs: Math.max(0, m) } },
    undefined,
    sourceCache,
  );
};

/** The shipped profiles' names, each fitted by {@link fitSeedProfile}. */
export const SEED_PROFILES = ["v4-epyc-ptdma", "v3-epyc-ptdma", "grace"] as const;

/** The EPYC machines' fitted fields: the kernel, the CPU's bandwidth, the DMA device. */
const EPYC_PARAMETERS = [
  "kernel.callNs",
  "kernel.folioNs",
  "kernel.pteNs",
  "cpu.threadGbps",
  "dma.chanGbps",
  "dma.maxGbps",
  "dma.setupNs",
  "dma.descNs",
  "dma.descCpuNs",
  "dma.pteNs",
  "dma.channelsPerEngine",
  "sourceCache.byteNs",
];

/**
 * The profile fields each fit sets from the seeds' numbers; every other field is a constant
 * (the channel count, 0, the PMD size, memory's bandwidth as one thread's on v4, which
 * publishes no thread table).
 */
const FITTED_PARAMETERS: Record<(typeof SEED_PROFILES)[number], readonly string[]> = {
  "v4-epyc-ptdma": [...EPYC_PARAMETERS, "compaction.scanNs", "compaction.hogIterationsPerNs"],
  "v3-epyc-ptdma": [...EPYC_PARAMETERS, "cpu.memGbps", "threads.dispatchNs", "threads.scaling"],
  grace: [
    "kernel.callNs",
    "kernel.folioNs",
    "kernel.pteNs",
    "cpu.threadGbps",
    "cpu.memGbps",
    "threads.dispatchNs",
    "threads.threadNs",
    "sourceCache.byteNs",
  ],
};

/** Fits one of the seeds' machines from its published tables. */
export const fitSeedProfile = (name: (typeof SEED_PROFILES)[number]): FittedProfile => ({
  ...(name === "v4-epyc-ptdma" ? fitV4() : name === "v3-epyc-ptdma" ? fitV3() : fitGrace()),
  parameters: FITTED_PARAMETERS[name],
});

/**
 * A fitted profile as its JSON file: the profile's fields, then its DMA mapping, source, tables
 * and fittedOn.
 */
export const profileJson = (f: FittedProfile): string =>
  `${JSON.stringify(
    {
      ...f.profile,
      ...(f.dmaMapping ? { dmaMapping: f.dmaMapping } : {}),
      ...(f.sourceCache ? { sourceCache: f.sourceCache } : {}),
      ...(f.compaction ? { compaction: f.compaction } : {}),
      source: f.source,
      tables: f.tables,
      fittedOn: f.fittedOn,
      parameters: f.parameters,
    },
    null,
    2,
  )}\n`;
