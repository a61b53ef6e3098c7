/**
 * The conformance harness's own speed: generated cases per second of `verifyMigrator` for each
 * migrator the project ships, with every fault class on. A case is two runs of one workload on
 * fresh kernels (serial and with the migrator) and every comparison between them.
 */
import { dcbmConformanceSubject } from "@migrate-offload/dcbm/testing";
import { mtcopyConformanceSubject } from "@migrate-offload/mtcopy/testing";
import {
  type MigratorSubject,
  moduleSubject,
  serialCopyModule,
  type VerifyReport,
  verifyMigrator,
} from "@migrate-offload/testkit";
import { reverseCopyModule } from "../../../docs/examples/reverse-copy-migrator";
import { envelope, formatSummary, markdownTable, type Summary, summarize } from "./report";

/**
 * The migrators measured, by the name the CLI knows them by. `hangMs` is how long a worker-based
 * driver waits on an engine before it gives up on it (mtcopy's copy deadline, dcbm's DMA
 * timeout), on the run's clock, which the harness moves there once an injected hang is all that
 * is left (so a hang costs about a millisecond, not `hangMs`); a real round that overruns it
 * falls back. Absent, the drivers' test settings (200 and 100 ms).
 */
export const CONFORMANCE_SUBJECTS: Readonly<Record<string, (hangMs?: number) => MigratorSubject>> =
  {
    serial_copy: () => moduleSubject(serialCopyModule, "serial_copy"),
    reverse_copy: () => moduleSubject(reverseCopyModule, "reverse_copy"),
    mtcopy: (hangMs = 200) => mtcopyConformanceSubject({ threads: 2, deadlineMs: hangMs }),
    dcbm: (hangMs = 100) =>
      dcbmConformanceSubject(
        { channels: 4, engines: 2, outOfOrder: true },
        { nrDmaChan: 4, timeoutMs: hangMs },
      ),
  };

/** One migrator's measurement. */
export interface ConformanceRow {
  readonly subject: string;
  /** Cases per timed call. */
  readonly cases: number;
  /** Seconds per call of `cases` cases. */
  readonly seconds: Summary;
  /**
   * CPU seconds per call, user and system, of every thread of the process (copy threads and the
   * runtime's own included): what a call costs a loaded machine, where wall time depends on the
   * load.
   */
  readonly cpuSeconds: Summary;
  /** Cases per second, from the median. */
  readonly casesPerSecond: number;
  /** What the last call covered: batches, marked and fallen-back folios, injected faults. */
  readonly coverage: Pick<VerifyReport, "batches" | "marked" | "fellBack" | "injected">;
}

/** What the conformance run measured. */
export interface ConformanceResults {
  readonly rows: readonly ConformanceRow[];
}

/**
 * Runs `verifyMigrator` with `cases` cases `runs` times for each named subject, then each of
 * `extra` (a user's modules, `--migrator`), seeds 1, 2, …
 */
export const runConformance = async (
  names: readonly string[],
  cases: number,
  runs: number,
  progress: (message: string) => void,
  hangMs?: number,
  extra: readonly MigratorSubject[] = [],
) => {
  const rows: ConformanceRow[] = [];
  const subjects = names.map((name) => {
    const make = CONFORMANCE_SUBJECTS[name];
    if (!make) throw new RangeError(`unknown migrator ${JSON.stringify(name)}`);
    return make(hangMs);
  });
  for (const subject of [...subjects, ...extra]) {
    const seconds: number[] = [];
    const cpuSeconds: number[] = [];
    const reports: VerifyReport[] = [];
    for (let run = 0; run < runs; run++) {
      progress(`${subject.name}: ${cases} cases, call ${run + 1} of ${runs}`);
      const start = performance.now();
      const cpu = process.cpuUsage();
      reports.push(await verifyMigrator(subject, { numRuns: cases, seed: run + 1 }));
      seconds.push((performance.now() - start) / 1000);
      const used = process.cpuUsage(cpu);
      cpuSeconds.push((used.user + used.system) / 1e6);
    }
    const report = reports.at(-1);
    if (!report) throw new RangeError(`runs must be at least 1, not ${runs}`);
    const summary = summarize(seconds);
    rows.push({
      subject: subject.name,
      cases,
      seconds: summary,
      cpuSeconds: summarize(cpuSeconds),
      casesPerSecond: cases / summary.median,
      coverage: {
        batches: report.batches,
        marked: report.marked,
        fellBack: report.fellBack,
        injected: report.injected,
      },
    });
  }
  const all = [...names, ...extra.map((subject) => subject.name)];
  return envelope("conformance", { subjects: all, cases, runs, hangMs }, { rows });
};

/** The table of a conformance run. */
export const formatConformance = (r: ConformanceResults): string =>
  markdownTable(
    [
      "migrator",
      "cases per call",
      "seconds, median (min–max)",
      "cases/s",
      "seconds per 1,000 cases",
      "CPU seconds per 1,000 cases",
      "batches / marked / fell back",
    ],
    r.rows.map((row) => [
      row.subject,
      String(row.cases),
      formatSummary(row.seconds, 1),
      row.casesPerSecond.toFixed(1),
      (1000 / row.casesPerSecond).toFixed(0),
      ((1000 * row.cpuSeconds.median) / row.cases).toFixed(0),
      `${row.coverage.batches} / ${row.coverage.marked} / ${row.coverage.fellBack}`,
    ]),
  );
