/**
 * The sysfs and procfs write fuzz: the testkit's `fuzzSysfsWrites` over a kernel with mtcopy and
 * dcbm (on a DMA device) loaded, at least `--writes` writes in runs of 50, and its figures as a
 * table: files fuzzed, writes, accepted, refused by errno, migrations, the consistency check.
 */
import { dcbmConformanceSubject } from "@migrate-offload/dcbm/testing";
import { mtcopyConformanceSubject } from "@migrate-offload/mtcopy/testing";
import {
  formatSysfsFuzzFailure,
  fuzzSysfsWrites,
  type SysfsFuzzReport,
} from "@migrate-offload/testkit";
import type { OnProgress } from "./progress";
import { envelope, markdownTable } from "./report";

/** Writes per run of the property: each run boots a fresh kernel. */
const WRITES_PER_RUN = 50;

/** What the fuzz is asked to do. */
export interface SysfsFuzzConfig {
  /** Writes wanted; the fuzz makes at least this many, in whole runs. */
  readonly writes: number;
  /** fast-check's seed; a fresh one when absent, which the results name. */
  readonly seed?: number;
}

/** The drivers every run loads, in order: mtcopy, then dcbm on a 16-channel DMA device. */
const drivers = () => [
  mtcopyConformanceSubject({ threads: 2 }),
  dcbmConformanceSubject({ channels: 16, engines: 2 }),
];

/**
 * Runs the fuzz: `ceil(writes / 50)` runs of up to 50 writes each, the same number in every run.
 * Resolves with the results in the common envelope; a broken promise is in `results.failure`.
 */
export const runSysfsFuzz = async (config: SysfsFuzzConfig, onProgress?: OnProgress) => {
  const numRuns = Math.ceil(config.writes / WRITES_PER_RUN);
  const writesPerRun = Math.ceil(config.writes / numRuns);
  const subjects = drivers();
  const report = await fuzzSysfsWrites({
    drivers: subjects,
    numRuns,
    writesPerRun,
    seed: config.seed,
    onRun: (run, of) => onProgress?.(`sysfs-fuzz, run ${run + 1}`, { index: run, of }),
  });
  onProgress?.("sysfs-fuzz", { index: numRuns, of: numRuns });
  return envelope(
    "sysfs-fuzz",
    { ...config, numRuns, writesPerRun, drivers: subjects.map((s) => s.name) },
    report,
  );
};

/** True when every promise held: no failure and every consistency check clean. */
export const sysfsFuzzClean = (r: SysfsFuzzReport): boolean =>
  r.failure === null && r.consistency.length === 0 && r.consistencyChecks === r.runs;

/** The fuzz's table, the deviations from the kernel's write path, any failure, and a verdict. */
export const formatSysfsFuzz = (r: SysfsFuzzReport): string => {
  const refused = Object.values(r.refused).reduce((a, b) => a + b, 0);
  const procfs = r.files.filter((f) => f.startsWith("/proc/")).length;
  const consistency =
    r.consistency.length === 0
      ? `clean (${r.consistencyChecks} of ${r.runs} runs checked)`
      : `${r.consistency.length} problems (${r.consistencyChecks} of ${r.runs} runs checked)`;
  const table = markdownTable(
    ["figure", "value"],
    [
      ["files fuzzed", `${r.files.length} (${r.files.length - procfs} sysfs, ${procfs} procfs)`],
      ["files seen", String(r.filesSeen)],
      ["runs", String(r.runs)],
      ["writes", String(r.writes)],
      ["accepted", String(r.accepted)],
      ["refused", String(refused)],
      ...Object.entries(r.refused).map(([errno, n]) => [`refused, ${errno}`, String(n)]),
      ["migrations", String(r.migrations)],
      ["consistency", consistency],
      ["seed", String(r.seed)],
    ],
  );
  const deviations =
    r.deviations.length === 0
      ? ""
      : `\n\nwhere the write path differs from the kernel's (not a broken promise):\n\n${markdownTable(
          ["rule", "file", "writes", "first"],
          r.deviations.map((d) => [d.rule, d.file, String(d.count), d.what.replaceAll("|", "\\|")]),
        )}`;
  const failure = r.failure ? `\n\nFAILED: ${formatSysfsFuzzFailure(r.failure)}` : "";
  const verdict = sysfsFuzzClean(r)
    ? `sysfs-fuzz: ${r.writes} writes to ${r.files.length} files, every one a success or a typed errno, nothing changed by a refusal, every byte intact, consistent`
    : "sysfs-fuzz: FAILED";
  return `${table}${deviations}${failure}\n\n${verdict}\n`;
};
