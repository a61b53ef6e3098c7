/**
 * The published throughput tables of the series, as data: what `whatif` predicts and what its
 * profiles are fitted on. Every number is copied from the seed named in the table's `source`
 * (GB/s, the mean, and the ± the seed prints beside it where it prints one).
 */

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Who copied a row: the serial path, N copy threads, or N DMA channels. */
export type SeedCopier =
  | { readonly kind: "serial" }
  | { readonly kind: "threads"; readonly threads: number }
  | { readonly kind: "dma"; readonly channels: number };

/** One column: the folio size and how many folios one `move_pages()` call moved. */
export interface SeedColumn {
  readonly label: string;
  readonly folioBytes: number;
  readonly folios: number;
}

/** One row: a copier and its published GB/s per column. */
export interface SeedRow {
  readonly label: string;
  readonly copier: SeedCopier;
  readonly gbps: readonly number[];
  /**
   * The ± the seed prints beside each mean, GB/s (the seeds do not say whether it is a standard
   * deviation or a range); absent where the table prints none (v4 table 2, Zi Yan's Grace tables).
   */
  readonly spread?: readonly number[];
}

/** A published table. */
export interface SeedTable {
  /** Short id, used in cell ids `table/row/column`. */
  readonly id: string;
  readonly title: string;
  /** The seed file and the table in it. */
  readonly source: string;
  /** Base page size of the machine, bytes. */
  readonly pageSize: number;
  /** Folios this large or larger are PMD-mapped. */
  readonly pmdBytes: number;
  readonly columns: readonly SeedColumn[];
  readonly rows: readonly SeedRow[];
}

/** A folio size as the seeds' tables label it: `4K`, `2M`. */
export const sizeLabel = (bytes: number): string =>
  bytes >= MiB ? `${bytes / MiB}M` : `${bytes / KiB}K`;

const bySize = (sizes: readonly number[], total = GiB): SeedColumn[] =>
  sizes.map((s) => ({
    label: sizeLabel(s),
    folioBytes: s,
    folios: total / s,
  }));

const byCount = (counts: readonly number[], folioBytes: number): SeedColumn[] =>
  counts.map((n) => ({ label: String(n), folioBytes, folios: n }));

const serial: SeedCopier = { kind: "serial" };
const dma = (channels: number): SeedCopier => ({ kind: "dma", channels });
const threads = (n: number): SeedCopier => ({ kind: "threads", threads: n });

const V4_SIZES = [4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, MiB, 2 * MiB];
const V3_SIZES = [4 * KiB, 16 * KiB, 64 * KiB, 128 * KiB, 256 * KiB, 512 * KiB, MiB, 2 * MiB];
const GRACE_ROWS = (values: number[][]): SeedRow[] =>
  ["vanilla", "mt_1", "mt_2", "mt_4", "mt_8", "mt_16", "mt_32"].map((label, i) => ({
    label,
    copier: i === 0 ? serial : threads(2 ** (i - 1)),
    gbps: values.map((row) => row[i]!),
  }));

/** The seeds' tables. */
export const SEED_TABLES: readonly SeedTable[] = [
  {
    id: "v4-1a",
    title: "v4 table 1a: baseline by folio size, 1 GB per call",
    source: "001_f5dd2cc87105abe2.txt, PERFORMANCE RESULTS 1a",
    pageSize: 4096,
    pmdBytes: 2 * MiB,
    columns: bySize(V4_SIZES),
    rows: [
      {
        label: "baseline",
        copier: serial,
        gbps: [3.55, 5.66, 6.16, 7.12, 6.93, 10.88],
        spread: [0.19, 0.3, 0.09, 0.83, 0.09, 0.19],
      },
    ],
  },
  {
    id: "v4-1b",
    title: "v4 table 1b: dcbm by channel count and folio size, 1 GB per call",
    source: "001_f5dd2cc87105abe2.txt, PERFORMANCE RESULTS 1b",
    pageSize: 4096,
    pmdBytes: 2 * MiB,
    columns: bySize(V4_SIZES),
    rows: (
      [
        [1, [2.63, 2.92, 3.16, 4.75, 7.38, 12.64], [0.26, 0.09, 0.13, 0.7, 0.18, 0.07]],
        [2, [3.2, 4.68, 5.16, 7.42, 8.05, 14.4], [0.12, 0.17, 0.36, 1.0, 0.05, 0.1]],
        [4, [3.78, 6.45, 7.36, 9.7, 11.68, 27.16], [0.16, 0.06, 0.18, 0.11, 2.37, 0.2]],
        [8, [4.32, 8.2, 9.45, 12.99, 13.18, 46.17], [0.24, 0.45, 0.26, 2.87, 0.08, 0.67]],
        [12, [4.35, 8.8, 11.65, 15.46, 14.69, 60.89], [0.16, 0.09, 2.71, 4.95, 4.1, 0.68]],
        [16, [4.4, 9.25, 11.02, 13.56, 18.04, 66.86], [0.19, 0.13, 0.26, 0.15, 7.11, 0.81]],
      ] as const
    ).map(([c, gbps, spread]) => ({ label: `dcbm ${c}`, copier: dma(c), gbps, spread })),
  },
  {
    id: "v4-count",
    title: "v4 table 2: 2 MiB folios by count per call, one DMA channel",
    source: "001_f5dd2cc87105abe2.txt, PERFORMANCE RESULTS 2",
    pageSize: 4096,
    pmdBytes: 2 * MiB,
    columns: byCount([1, 8, 16, 32, 64, 256, 512, 1024, 2048, 8192], 2 * MiB),
    rows: [
      {
        label: "baseline",
        copier: serial,
        gbps: [7.34, 8.27, 7.56, 8.39, 9.37, 10.58, 10.78, 10.77, 10.87, 10.84],
      },
      {
        label: "dcbm 1",
        copier: dma(1),
        gbps: [6.17, 8.85, 9.12, 11.73, 12.18, 12.5, 12.68, 12.76, 12.81, 12.82],
      },
    ],
  },
  {
    id: "v3-1a",
    title: "v3 table 1a: baseline by folio size, 1 GB per call",
    source: "002_fb4c201677199b0f.txt, table 1a",
    pageSize: 4096,
    pmdBytes: 2 * MiB,
    columns: bySize(V3_SIZES),
    rows: [
      {
        label: "baseline",
        copier: serial,
        gbps: [3.73, 5.53, 5.9, 6.34, 6.5, 6.86, 6.92, 10.67],
        spread: [0.33, 0.36, 0.56, 0.08, 0.05, 0.61, 0.71, 0.36],
      },
    ],
  },
  {
    id: "v3-1b",
    title: "v3 table 1b: mtcopy by thread count and folio size, 1 GB per call",
    source: "002_fb4c201677199b0f.txt, table 1b",
    pageSize: 4096,
    pmdBytes: 2 * MiB,
    columns: bySize(V3_SIZES),
    rows: (
      [
        [
          1,
          [3.84, 5.23, 6.01, 6.34, 7.16, 7.12, 7.1, 10.94],
          [0.1, 0.31, 0.55, 0.6, 1.0, 0.78, 0.86, 0.13],
        ],
        [
          2,
          [4.04, 6.72, 7.68, 8.15, 8.45, 9.29, 9.87, 17.8],
          [0.19, 0.38, 0.12, 0.06, 0.09, 0.17, 1.01, 0.12],
        ],
        [
          4,
          [4.72, 8.41, 10.08, 11.44, 10.45, 12.6, 12.38, 31.41],
          [0.21, 0.7, 1.67, 2.42, 0.17, 1.97, 1.73, 1.14],
        ],
        [
          8,
          [4.91, 8.62, 10.4, 13.94, 11.03, 14.96, 12.84, 33.5],
          [0.28, 0.13, 0.2, 3.75, 0.61, 3.29, 0.63, 3.29],
        ],
        [
          12,
          [4.84, 8.75, 10.16, 10.92, 11.72, 14.02, 14.09, 34.7],
          [0.24, 0.08, 0.26, 0.22, 0.14, 2.51, 2.65, 2.38],
        ],
        [
          16,
          [4.77, 8.95, 10.36, 11.03, 11.58, 13.88, 13.0, 35.89],
          [0.22, 0.69, 0.26, 0.22, 0.3, 2.71, 0.75, 2.07],
        ],
      ] as const
    ).map(([t, gbps, spread]) => ({ label: `mtcopy ${t}`, copier: threads(t), gbps, spread })),
  },
  {
    id: "v3-1c",
    title: "v3 table 1c: dcbm by channel count and folio size, 1 GB per call",
    source: "002_fb4c201677199b0f.txt, table 1c",
    pageSize: 4096,
    pmdBytes: 2 * MiB,
    columns: bySize(V3_SIZES),
    rows: (
      [
        [
          1,
          [2.75, 2.86, 3.28, 4.57, 5.03, 4.69, 4.78, 12.5],
          [0.19, 0.13, 0.2, 0.72, 0.62, 0.25, 0.34, 0.24],
        ],
        [
          2,
          [3.35, 4.57, 5.35, 6.71, 7.4, 7.38, 7.21, 14.23],
          [0.19, 0.19, 0.55, 0.71, 1.07, 0.61, 0.73, 0.34],
        ],
        [
          4,
          [4.01, 6.36, 7.71, 9.4, 10.27, 10.6, 12.35, 26.84],
          [0.17, 0.26, 0.89, 1.35, 1.96, 1.42, 2.64, 0.91],
        ],
        [
          8,
          [4.46, 7.74, 9.72, 10.88, 12.12, 15.62, 13.29, 45.27],
          [0.16, 0.13, 1.29, 0.16, 2.54, 3.96, 2.65, 2.6],
        ],
        [
          12,
          [4.6, 8.9, 11.26, 16.0, 14.9, 14.57, 13.79, 59.94],
          [0.22, 0.84, 2.19, 4.41, 4.38, 2.84, 3.18, 4.19],
        ],
        [
          16,
          [4.61, 9.08, 11.14, 13.95, 13.69, 15.47, 15.44, 63.69],
          [0.25, 0.79, 1.75, 3.85, 3.39, 3.44, 4.65, 5.01],
        ],
      ] as const
    ).map(([c, gbps, spread]) => ({ label: `dcbm ${c}`, copier: dma(c), gbps, spread })),
  },
  {
    id: "v3-count",
    title: "v3 table 2: 2 MiB folios by count per call, one thread or channel",
    source: "002_fb4c201677199b0f.txt, table 2",
    pageSize: 4096,
    pmdBytes: 2 * MiB,
    columns: byCount([1, 8, 16, 32, 64, 256, 512, 2048, 8192], 2 * MiB),
    rows: [
      {
        label: "baseline",
        copier: serial,
        gbps: [7.96, 8.2, 7.54, 8.68, 9.08, 10.53, 10.59, 10.86, 10.84],
        spread: [2.22, 0.75, 0.61, 0.77, 1.03, 0.39, 0.29, 0.26, 0.18],
      },
      {
        label: "mtcopy 1",
        copier: threads(1),
        gbps: [6.43, 8.82, 9.06, 10.11, 10.12, 10.77, 10.81, 11.05, 11.12],
        spread: [0.66, 1.1, 0.95, 0.42, 0.44, 0.28, 0.19, 0.05, 0.05],
      },
      {
        label: "dcbm 1",
        copier: dma(1),
        gbps: [6.52, 8.88, 9.03, 10.17, 11.21, 12.43, 12.61, 12.75, 12.81],
        spread: [0.45, 0.54, 0.62, 0.5, 0.24, 0.12, 0.07, 0.03, 0.02],
      },
    ],
  },
  {
    id: "grace-64k",
    title: "Zi Yan's Grace table: 64 KiB folios on 64 KiB base pages, by count",
    source: "003_8fe54f2659d67c99.txt, 64KB table",
    pageSize: 64 * KiB,
    pmdBytes: 512 * MiB,
    columns: byCount([32, 256, 512, 768, 1024], 64 * KiB),
    rows: GRACE_ROWS([
      [5.43, 4.9, 5.65, 7.31, 7.6, 8.61, 6.43],
      [6.95, 6.89, 9.28, 14.67, 22.41, 23.39, 23.93],
      [7.88, 7.26, 10.15, 17.53, 27.82, 27.88, 33.93],
      [7.65, 7.42, 10.46, 18.59, 28.65, 29.67, 30.76],
      [7.46, 8.01, 10.9, 17.77, 27.04, 32.18, 38.8],
    ]),
  },
  {
    id: "grace-2m",
    title: "Zi Yan's Grace table: 2 MiB mTHP on 64 KiB base pages, by count",
    source: "003_8fe54f2659d67c99.txt, 2MB mTHP table",
    pageSize: 64 * KiB,
    pmdBytes: 512 * MiB,
    columns: byCount([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1024], 2 * MiB),
    rows: GRACE_ROWS([
      [5.94, 2.9, 6.9, 8.56, 11.16, 8.76, 6.41],
      [7.67, 5.57, 7.11, 12.48, 17.37, 15.68, 14.1],
      [8.01, 6.04, 10.25, 20.14, 22.52, 27.79, 25.28],
      [8.42, 7.0, 11.41, 24.73, 33.96, 32.62, 39.55],
      [9.41, 6.91, 12.23, 27.51, 43.95, 49.15, 51.38],
      [10.23, 7.15, 13.03, 29.52, 49.49, 69.98, 71.51],
      [9.4, 7.37, 13.88, 30.38, 52.0, 76.89, 79.41],
      [8.59, 7.23, 14.2, 28.39, 49.98, 78.27, 90.18],
      [8.43, 7.16, 14.59, 28.14, 48.78, 76.88, 92.28],
      [8.31, 7.78, 14.4, 26.2, 43.31, 63.91, 75.21],
      [8.3, 7.86, 14.83, 27.41, 46.25, 69.85, 81.31],
      [8.31, 7.9, 14.96, 27.62, 46.75, 71.76, 83.84],
    ]),
  },
];

/** A table by id. */
export const seedTable = (id: string): SeedTable => {
  const t = SEED_TABLES.find((x) => x.id === id);
  if (!t) throw new Error(`no seed table ${id}`);
  return t;
};

/** A published cell's GB/s, by table id, row label and column label. */
export const seedCell = (table: string, row: string, column: string): number => {
  const t = seedTable(table);
  const r = t.rows.find((x) => x.label === row);
  const c = t.columns.findIndex((x) => x.label === column);
  if (!r || c < 0) throw new Error(`no seed cell ${table}/${row}/${column}`);
  return r.gbps[c]!;
};

/**
 * One cell of a published share: "about `percent` %", or "below `percent` %" (`below`), as the
 * seed prints it (`~66%`, `<1%`).
 */
export interface SeedShareCell {
  /** Folios one `move_pages()` call moved (the letter's "N pages"). */
  readonly folios: number;
  readonly folioBytes: number;
  readonly percent: number;
  readonly below: boolean;
}

/** A published table of shares of a call's time, and the machine it was measured on. */
export interface SeedShareTable {
  /** Short id, used in cell ids `table/folios/size`. */
  readonly id: string;
  readonly title: string;
  readonly source: string;
  /** The GB/s tables of the same machine: a profile that predicts one of them predicts this. */
  readonly machine: readonly string[];
  readonly pageSize: number;
  readonly cells: readonly SeedShareCell[];
}

/**
 * v3's copy share: "Percentage of folio_copy() overheads in move_pages(N pages) syscall time",
 * 1 and 512 folios of 4 KiB and of 2 MiB, on the EPYC machine of v3's tables (the cover letter's
 * Amdahl analysis, before the series: the kernel's own copy, folio by folio).
 */
export const V3_COPY_SHARE: SeedShareTable = {
  id: "v3-share",
  title: "v3 cover letter: folio_copy()'s share of a move_pages() call",
  source: "002_fb4c201677199b0f.txt, Percentage of folio_copy() overheads in move_pages(N pages)",
  machine: ["v3-1a", "v3-1b", "v3-1c", "v3-count"],
  pageSize: 4096,
  cells: [
    { folios: 1, folioBytes: 4 * KiB, percent: 1, below: true },
    { folios: 1, folioBytes: 2 * MiB, percent: 66, below: false },
    { folios: 512, folioBytes: 4 * KiB, percent: 35, below: false },
    { folios: 512, folioBytes: 2 * MiB, percent: 97, below: false },
  ],
};

/** One run of a published compaction table: who copied, beside a CPU hog or not, and its figures. */
export interface SeedCompactionRow {
  /** The seed's mode: `baseline`, `dma`, `busy-baseline`, `busy-dma`. */
  readonly label: string;
  /** Whether dcbm copied the batches (a patched kernel with offloading on). */
  readonly dma: boolean;
  /** Whether a CPU hog shared the compacting CPU. */
  readonly busy: boolean;
  /** Elapsed time of all the allocations, ms. */
  readonly wallMs: number;
  /** Pages migrated (`pgmigrate_success` delta). */
  readonly migrated: number;
  /** Folios dcbm copied (its `folios_migrated` counter); absent on the baseline kernel. */
  readonly dmaCopies?: number;
  /** The hog's loop count; absent without a hog. */
  readonly hogIterations?: number;
  /** The pinned CPU's user, system and idle time, % of the run (`/proc/stat`). */
  readonly userPercent: number;
  readonly sysPercent: number;
  readonly idlePercent: number;
}

/** A published compaction run: how it was driven and its rows. */
export interface SeedCompactionTable {
  /** Short id, used in cell ids `table/row/metric`. */
  readonly id: string;
  readonly title: string;
  readonly source: string;
  /** The GB/s tables of the same machine: a profile that predicts one of them predicts this. */
  readonly machine: readonly string[];
  readonly pageSize: number;
  /** Bytes of each folio migrated: the fragmenter's base pages. */
  readonly folioBytes: number;
  /** Folios per `migrate_pages()` batch: `COMPACT_CLUSTER_MAX`, `SWAP_CLUSTER_MAX` (32). */
  readonly batchFolios: number;
  readonly rows: readonly SeedCompactionRow[];
}

/**
 * v4's compaction run (the cover letter's reply with the compaction experiment): node 1 of the
 * EPYC machine fragmented (half of every 2 MiB region's 4 KiB pages freed, evenly spaced), then 16384 order-9 allocations by a module
 * looping on `alloc_pages_node()` on CPU 32, each compacting (`__alloc_pages_slowpath()` →
 * `try_to_compact_pages()` → `compact_zone()` → `migrate_pages()`, `MR_COMPACTION`); idle, and
 * beside a CPU hog pinned to the same CPU.
 */
export const V4_COMPACTION: SeedCompactionTable = {
  id: "v4-compaction",
  title: "v4 compaction: 16384 order-9 allocations on a fragmented node, idle and beside a CPU hog",
  source: "001_f5dd2cc87105abe2.txt, the compaction experiment's results",
  machine: ["v4-1a", "v4-1b", "v4-count"],
  pageSize: 4096,
  folioBytes: 4096,
  batchFolios: 32,
  rows: [
    {
      label: "baseline",
      dma: false,
      busy: false,
      wallMs: 16708,
      migrated: 4563506,
      userPercent: 0,
      sysPercent: 99.4,
      idlePercent: 0.29,
    },
    {
      label: "dma",
      dma: true,
      busy: false,
      wallMs: 18887,
      migrated: 4622952,
      dmaCopies: 4623181,
      userPercent: 0,
      sysPercent: 76.65,
      idlePercent: 22.55,
    },
    {
      label: "busy-baseline",
      dma: false,
      busy: true,
      wallMs: 33256,
      migrated: 4599846,
      hogIterations: 62300165085,
      userPercent: 49.9,
      sysPercent: 49.75,
      idlePercent: 0.06,
    },
    {
      label: "busy-dma",
      dma: true,
      busy: true,
      wallMs: 32475,
      migrated: 4602750,
      dmaCopies: 4604672,
      hogIterations: 66022189744,
      userPercent: 56.32,
      sysPercent: 42.97,
      idlePercent: 0.06,
    },
  ],
};
