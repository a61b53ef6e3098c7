import { type Attribute, kstrtouint, STORE_EINVAL } from "@migrate-offload/core";
import type { MigratorSubject } from "@migrate-offload/core/testing";
import { dcbmConformanceSubject } from "@migrate-offload/dcbm/testing";
import { mtcopyConformanceSubject } from "@migrate-offload/mtcopy/testing";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { formatSysfsFuzzFailure, fuzzSysfsWrites } from "../src/index";

/** A fixed seed, so that the run is the same every time. */
const SEED = 20240611;

/**
 * A subject that only adds one attribute file under `/sys/kernel/planted`, made afresh for each
 * kernel, so that no state leaks from one run to the next.
 */
const plantedSubject = (name: string, attribute: () => Attribute): MigratorSubject => ({
  name: `planted ${name}`,
  load: (kernel) =>
    Effect.sync(() => {
      kernel.fs.addAttributes("/sys/kernel/planted", { [name]: attribute() });
    }),
  unload: (kernel) =>
    Effect.sync(() => {
      kernel.fs.remove("/sys/kernel/planted");
    }),
});

/** The fuzz over a kernel with one planted file and nothing else loaded: 40 runs of 20 writes. */
const fuzzPlanted = (name: string, attribute: () => Attribute, options: { hangMs?: number } = {}) =>
  fuzzSysfsWrites({
    drivers: [plantedSubject(name, attribute)],
    numRuns: 40,
    writesPerRun: 20,
    seed: SEED,
    // Aimed at the planted driver's file among the kernel's many writable ones.
    files: (path) => path.startsWith("/sys/kernel/planted/"),
    ...options,
  });

/** The fuzz over a kernel with mtcopy and dcbm loaded, 2 runs of 10 writes from `seed`. */
const fuzzBothDrivers = (seed: number) =>
  fuzzSysfsWrites({
    drivers: [mtcopyConformanceSubject({ threads: 2 }), dcbmConformanceSubject({ engines: 1 })],
    numRuns: 2,
    writesPerRun: 10,
    seed,
  });

describe("fuzzSysfsWrites", () => {
  it("writes every writable file of a kernel with mtcopy and dcbm, and every promise holds", async () => {
    const report = await fuzzSysfsWrites({
      drivers: [
        mtcopyConformanceSubject({ threads: 2 }),
        dcbmConformanceSubject({ channels: 16, engines: 1 }),
      ],
      numRuns: 6,
      writesPerRun: 100,
      seed: SEED,
    });
    expect(report.failure).toBeNull();
    expect(report.runs).toBe(6);
    expect(report.writes).toBe(600);
    const refused = Object.values(report.refused).reduce((a, b) => a + b, 0);
    expect(report.accepted + refused).toBe(600);
    expect(report.accepted).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
    expect(report.migrations).toBeGreaterThan(0);
    expect(report.consistencyChecks).toBe(6);
    expect(report.consistency).toEqual([]);
    // The files of both drivers and of the registry were found, and every one was written.
    expect(report.files).toEqual(
      expect.arrayContaining([
        "/sys/kernel/mm/migration/offload_migrator",
        "/sys/kernel/mm/migration/offload_reasons",
        "/sys/kernel/mm/transparent_hugepage/enabled",
        "/sys/kernel/cpu_mt/offloading",
        "/sys/kernel/cpu_mt/threads",
        "/sys/kernel/dcbm/offloading",
        "/sys/kernel/dcbm/nr_dma_chan",
        "/sys/module/dcbm/parameters/reason_mask",
      ]),
    );
    expect(report.files.every((f) => f.startsWith("/sys/") || f.startsWith("/proc/"))).toBe(true);
    expect(report.filesSeen).toBeGreaterThan(report.files.length);
    expect(Object.keys(report.byFile)).toEqual(report.files);
    const unwritten = report.files.filter((f) => (report.byFile[f]?.writes ?? 0) === 0);
    expect(unwritten).toEqual([]);
  }, 120_000);

  it("lets a procfs handler refuse an empty write: compact_memory after a value other than 1", async () => {
    // sysctl_compaction_handler() (mm/compaction.c): proc_dointvec() stores nothing for an empty
    // write, then the handler refuses it with EINVAL while the last value written is not 1. Only
    // kernfs answers an empty write with 0 itself (sysfs_kf_write()). This seed makes that write.
    const report = await fuzzBothDrivers(523236143);
    expect(report.failure).toBeNull();
    expect(report.refused.EINVAL ?? 0).toBeGreaterThan(0);
  }, 120_000);

  it("lets a procfs write be short: proc_dointvec() leaves what follows the number and its whitespace", async () => {
    // __do_proc_dointvec() (kernel/sysctl.c): after the number, proc_skip_spaces() skips "\n" but
    // not ",", and *lenp -= left, so "0x2b\n," to extfrag_threshold writes 5 of its 6 bytes. The
    // writes go to that file alone, so the seed does not follow the set of files (a new file, or
    // a process's /proc/<pid> files under another pid, would draw other writes); this seed makes
    // that write. A sysfs store must still return its whole count.
    const report = await fuzzSysfsWrites({
      drivers: [mtcopyConformanceSubject({ threads: 2 }), dcbmConformanceSubject({ engines: 1 })],
      numRuns: 2,
      writesPerRun: 10,
      seed: 6,
      files: (path) => path === "/proc/sys/vm/extfrag_threshold",
    });
    expect(report.failure).toBeNull();
    expect(report.byFile["/proc/sys/vm/extfrag_threshold"]?.accepted ?? 0).toBeGreaterThan(0);
  }, 120_000);

  // debugfs_attr_write() → simple_attr_write() (fs/libfs.c): the first 23 bytes are parsed with
  // kstrtoull() base 0, so an empty write is EINVAL, and a write the set callback accepts returns
  // its whole length, past PAGE_SIZE too ("claim we got the whole input"). Aimed at the debugfs
  // files under /sys/kernel/debug, with no driver loaded.
  const fuzzDebugfs = (seed: number) =>
    fuzzSysfsWrites({
      drivers: [],
      numRuns: 4,
      writesPerRun: 25,
      seed,
      files: (path) => path.startsWith("/sys/kernel/debug/"),
    });

  it("lets a debugfs file refuse an empty write: simple_attr_write()'s kstrtoull() gives EINVAL", async () => {
    // This seed's first run writes "" to /sys/kernel/debug/sched/numa_balancing/scan_size_mb.
    const report = await fuzzDebugfs(5);
    expect(report.failure).toBeNull();
    expect(report.runs).toBe(4);
    expect(report.refused.EINVAL ?? 0).toBeGreaterThan(0);
  }, 120_000);

  it("lets a debugfs write count past PAGE_SIZE: simple_attr_write() claims the whole input", async () => {
    // This seed writes 4097 "0"s to /sys/kernel/debug/sched/numa_balancing/scan_size_mb: 0 is
    // parsed from the first 23 bytes and the write returns 4097.
    const report = await fuzzDebugfs(3);
    expect(report.failure).toBeNull();
    expect(report.runs).toBe(4);
    expect(
      report.byFile["/sys/kernel/debug/sched/numa_balancing/scan_size_mb"]?.accepted ?? 0,
    ).toBeGreaterThan(0);
  }, 120_000);

  it("reports a store that changes its state before it refuses the value, with the write", async () => {
    const report = await fuzzPlanted("limit", () => {
      let limit = 0;
      return {
        mode: 0o644,
        show: () => `${limit}\n`,
        store: (text) => {
          const value = kstrtouint(text);
          if (typeof value !== "number") return value.code;
          limit = value; // set before the range check: the bug
          return value > 8 ? STORE_EINVAL : text.length;
        },
      };
    });
    const failure = report.failure;
    expect(failure).not.toBeNull();
    expect(failure?.message).toMatch(
      /^write of ".*" to \/sys\/kernel\/planted\/limit was refused with EINVAL but changed \/sys\/kernel\/planted\/limit: /,
    );
    // Shrunk to the one write that shows it.
    expect(failure?.commands).toHaveLength(1);
    expect(failure?.commands[0]).toMatchObject({
      kind: "write",
      file: "/sys/kernel/planted/limit",
    });
    expect(formatSysfsFuzzFailure(failure!)).toContain("replay: fuzzSysfsWrites(");
    expect(report.runs).toBe(failure?.runsBeforeFailure);
  }, 120_000);

  it("reports a store that throws instead of returning an errno", async () => {
    const report = await fuzzPlanted("strict", () => ({
      mode: 0o644,
      show: () => "0\n",
      store: (text) => {
        if (text.includes("x")) throw new TypeError(`cannot parse ${text}`);
        return STORE_EINVAL;
      },
    }));
    expect(report.failure?.message).toMatch(
      /^write of ".*x.*" to \/sys\/kernel\/planted\/strict ended in a defect: /s,
    );
    expect(report.failure?.commands).toHaveLength(1);
  }, 120_000);

  it("reports a store that never returns, and still shuts the kernel down", async () => {
    const report = await fuzzPlanted(
      "stuck",
      () => ({
        mode: 0o644,
        show: () => "0\n",
        store: (text) => (text.includes("x") ? Effect.never : STORE_EINVAL),
      }),
      { hangMs: 100 },
    );
    expect(report.failure?.message).toMatch(
      /^write of ".*x.*" to \/sys\/kernel\/planted\/stuck did not end within 100 ms$/s,
    );
    expect(report.failure?.commands).toHaveLength(1);
  }, 120_000);
});
