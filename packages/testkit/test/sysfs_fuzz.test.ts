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
    const report = await fuzzSysfsWrites({
      drivers: [mtcopyConformanceSubject({ threads: 2 }), dcbmConformanceSubject({ engines: 1 })],
      numRuns: 2,
      writesPerRun: 10,
      seed: 523236143,
    });
    expect(report.failure).toBeNull();
    expect(report.refused.EINVAL ?? 0).toBeGreaterThan(0);
  }, 120_000);

  it("lets a procfs write be short: proc_dointvec() leaves what follows the number and its whitespace", async () => {
    // __do_proc_dointvec() (kernel/sysctl.c): after the number, proc_skip_spaces() skips "\n" but
    // not "x", and *lenp -= left, so "0101\nx" to extfrag_threshold writes 5 of its 6 bytes. This
    // seed makes that write (the seed follows the set of files: a new file, or a process's
    // /proc/<pid> files under another pid, draws other writes); a sysfs store must still return
    // its whole count.
    const report = await fuzzSysfsWrites({
      drivers: [mtcopyConformanceSubject({ threads: 2 }), dcbmConformanceSubject({ engines: 1 })],
      numRuns: 2,
      writesPerRun: 10,
      seed: 307,
    });
    expect(report.failure).toBeNull();
    expect(report.byFile["/proc/sys/vm/extfrag_threshold"]?.accepted ?? 0).toBeGreaterThan(0);
  }, 120_000);

  it('lets a debugfs write past PAGE_SIZE count whole and an empty one be refused: simple_attr_write() (fs/libfs.c) claims the whole input, and kstrtoull("") is EINVAL; debugfs is no kernfs', async () => {
    const fuzz = (seed: number) =>
      fuzzSysfsWrites({
        drivers: [mtcopyConformanceSubject({ threads: 2 }), dcbmConformanceSubject({ engines: 1 })],
        numRuns: 2,
        writesPerRun: 10,
        seed,
      });
    // This seed writes 4097 characters to fault_around_bytes, which returns 4097, not 4096.
    const long = await fuzz(761);
    expect(long.failure).toBeNull();
    expect(long.byFile["/sys/kernel/debug/fault_around_bytes"]?.accepted ?? 0).toBeGreaterThan(0);
    // This one writes "" to sched/numa_balancing/hot_threshold_ms, which refuses it (EINVAL).
    const empty = await fuzz(75);
    expect(empty.failure).toBeNull();
    const hot = "/sys/kernel/debug/sched/numa_balancing/hot_threshold_ms";
    expect(empty.byFile[hot]?.refused ?? 0).toBeGreaterThan(0);
  }, 240_000);

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
