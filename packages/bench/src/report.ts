/**
 * What every benchmark report shares: the machine it ran on, summary statistics, markdown tables
 * and the JSON file format documented in `docs/benchmarks.md`.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname } from "node:path";
import { max, mean, median, min, sampleStandardDeviation } from "simple-statistics";

/** The JSON schema identifier written into every result file. */
export const SCHEMA = "migrate-offload/bench@1";

/** Where the numbers came from. */
export interface MachineInfo {
  readonly node: string;
  readonly platform: string;
  readonly cpuModel: string;
  readonly cpus: number;
  readonly totalMemoryBytes: number;
}

/** The machine this process runs on. */
export const machineInfo = (): MachineInfo => ({
  node: process.version,
  platform: `${process.platform}-${process.arch}`,
  cpuModel: cpus()[0]?.model ?? "unknown",
  cpus: cpus().length,
  totalMemoryBytes: totalmem(),
});

/** Summary of repeated measurements of one quantity. */
export interface Summary {
  readonly n: number;
  readonly median: number;
  readonly mean: number;
  /** Sample standard deviation; 0 for a single sample. */
  readonly sd: number;
  readonly min: number;
  readonly max: number;
}

/**
 * A summary as every table prints it: the median, then the spread as the smallest and largest
 * sample, `1.23 (1.10–1.40)`; one sample prints alone. The median is the statistic every table,
 * chart and ratio uses, so that one outlying sample (a page-fault storm, a descheduled worker)
 * moves no number.
 */
export const formatSummary = (s: Summary, digits = 2): string =>
  s.n > 1
    ? `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`
    : s.median.toFixed(digits);

/** Summarises samples with simple-statistics. */
export const summarize = (samples: readonly number[]): Summary => ({
  n: samples.length,
  median: median([...samples]),
  mean: mean([...samples]),
  sd: samples.length > 1 ? sampleStandardDeviation([...samples]) : 0,
  min: min([...samples]),
  max: max([...samples]),
});

/**
 * A ratio to serial as the tables print it: the median over the repeats alone, or, with more
 * than one repeat, followed by the smallest and largest repeat's ratio, `0.98 (0.91–1.02)`.
 */
export const formatRatio = (ratio: number, repeats?: readonly number[]): string =>
  repeats && repeats.length > 1
    ? `${ratio.toFixed(2)} (${min([...repeats]).toFixed(2)}–${max([...repeats]).toFixed(2)})`
    : ratio.toFixed(2);

/** What a ratio table's caption adds when each cell was measured `repeats.length` times. */
export const repeatNote = (repeats?: readonly number[]): string =>
  repeats && repeats.length > 1
    ? `; with ${repeats.length} paired measurements per cell, the median of their ratios (the smallest and largest in brackets)`
    : "";

/**
 * The adaptive policies' decisions, one line per cell where a policy decided anything:
 * `dcbm 1 adaptive at 64: 2 taken, 41 declined`; empty when none did.
 */
export const formatDecisions = (
  cells: ReadonlyArray<{
    readonly copier: string;
    readonly where: string;
    readonly decisions?: { readonly taken: number; readonly declined: number };
  }>,
): string => {
  const lines = cells
    .filter((c) => c.decisions && c.decisions.taken + c.decisions.declined > 0)
    .map(
      (c) =>
        `- ${c.copier} at ${c.where}: ${c.decisions!.taken} taken, ${c.decisions!.declined} declined`,
    );
  return lines.length === 0
    ? ""
    : [
        "",
        "Batches the adaptive policies offloaded (taken) and declined, warm-ups included:",
        "",
        ...lines,
      ].join("\n");
};

/** A markdown table. */
export const markdownTable = (
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string => {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
};

/** One result file. */
export interface BenchResult<C, R> {
  readonly schema: typeof SCHEMA;
  readonly experiment: string;
  readonly date: string;
  readonly command: string;
  readonly machine: MachineInfo;
  readonly config: C;
  readonly results: R;
}

/** Wraps results in the common envelope. */
export const envelope = <C, R>(experiment: string, config: C, results: R): BenchResult<C, R> => ({
  schema: SCHEMA,
  experiment,
  date: new Date().toISOString(),
  command: process.argv.slice(2).join(" "),
  machine: machineInfo(),
  config,
  results,
});

/** Writes a result file, creating its folder. */
export const writeJson = (path: string, value: unknown): void => {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
};

/** Formats bytes as KiB/MiB/GiB. */
export const formatBytes = (bytes: number): string => {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`;
};
