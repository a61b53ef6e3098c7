import type { Kernel } from "@migrate-offload/core";
import {
  type MigratorSubject,
  stressMigrator,
  verifyMigrator,
  verifyRegistryRaces,
} from "@migrate-offload/testkit";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { MTCOPY_SYSFS_DIR, type MtcopyDriver, mtcopyDriver, type ThreadPolicy } from "../src/index";

/** Runs per thread count in CI; `pnpm run conformance` raises it. */
const RUNS = Number(process.env.CONFORMANCE_RUNS ?? 25);

/** Faults of the copy threads: a thread that throws, exits, or hangs past its deadline. */
const THREAD_FAULTS = ["crash", "exit", "hang"] as const;

/**
 * mtcopy with its copy threads: injected thread faults land on the last copy thread, and taking
 * it out checks that the engine was shut down.
 */
const mtcopySubject = (threads: ThreadPolicy): MigratorSubject => {
  const drivers = new WeakMap<Kernel, MtcopyDriver>();
  return {
    name: `mtcopy (${threads} threads)`,
    load: (kernel) =>
      Effect.gen(function* () {
        const driver = mtcopyDriver(kernel, { threads, deadlineMs: 200 });
        drivers.set(kernel, driver);
        yield* kernel.loadModule(driver.module);
        yield* kernel.fs.write(`${MTCOPY_SYSFS_DIR}/offloading`, "1");
      }),
    unload: (kernel) =>
      Effect.gen(function* () {
        yield* kernel.fs.write(`${MTCOPY_SYSFS_DIR}/offloading`, "0");
        yield* kernel.unloadModule("mtcopy");
        expect(drivers.get(kernel)!.engine).toBeNull();
      }),
    engineFaults: {
      kinds: THREAD_FAULTS,
      inject: (kernel, kind) => {
        const engine = drivers.get(kernel)!.engine!;
        engine.inject(engine.threads - 1, kind as (typeof THREAD_FAULTS)[number]);
      },
    },
  };
};

describe("mtcopy: conformance with the serial path (verifyMigrator)", () => {
  for (const threads of [1, 2, 8]) {
    const subject = mtcopySubject(threads);
    it(`${subject.name}: every workload and every injected fault ends as the serial path does`, async () => {
      const report = await verifyMigrator(subject, { numRuns: RUNS });
      expect(report.marked).toBeGreaterThan(0);
      expect(Object.keys(report.injected).length).toBeGreaterThan(0);
    }, 300_000);
  }
});

describe("mtcopy: registration, switching and unloading race migrations (verifyRegistryRaces)", () => {
  it("never calls it after it was switched off, never unloads it in use, never loses a byte", async () => {
    await verifyRegistryRaces(mtcopySubject(2), { numRuns: 30 });
  }, 120_000);
});

describe("mtcopy: ping-pong under readers and writers (stressMigrator)", () => {
  it("tears, loses and stales nothing while copy threads run", async () => {
    const report = await stressMigrator(mtcopySubject(2), { rounds: 8 });
    expect(report.writes).toBeGreaterThan(0);
    // Accesses met pages under migration and waited for them.
    expect(report.waits).toBeGreaterThan(0);
  }, 120_000);
});
