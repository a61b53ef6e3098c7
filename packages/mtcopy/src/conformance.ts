/**
 * mtcopy as a conformance subject: what `verifyMigrator`, `verifyRegistryRaces` and
 * `stressMigrator` of `@migrate-offload/testkit` need to load it into a fresh kernel, take it out
 * again, and inject copy-thread faults.
 *
 * @module
 */
import type { Kernel } from "@migrate-offload/core";
import type { MigratorSubject } from "@migrate-offload/core/testing";
import { Effect } from "effect";
import {
  MTCOPY_MODULE_NAME,
  MTCOPY_SYSFS_DIR,
  type MtcopyDriver,
  type MtcopyOptions,
  mtcopyDriver,
} from "./mtcopy";

/**
 * Faults a copy thread can have injected: it throws, exits, or hangs past its deadline; a
 * `copy_page_work_queue_thread()` worker (`drivers/migoffcopy/mtcopy/copy_pages.c`) that fails.
 *
 * @category Conformance
 */
export const MTCOPY_THREAD_FAULTS = ["crash", "exit", "hang"] as const;

/**
 * The copy-thread deadline {@link mtcopyConformanceSubject} gives mtcopy unless
 * `options.deadlineMs` says else, in milliseconds: an injected `hang` holds a copy thread until
 * the deadline replaces it, so every hang the harness injects costs this much, where the
 * driver's default (10 s) would cost 10 s. It is long enough for a round of any batch the
 * testkit's workloads offer on a loaded machine; a round that overruns it is replaced and its
 * batch falls back, which the harness checks like any other.
 *
 * @category Conformance
 */
export const MTCOPY_CONFORMANCE_DEADLINE_MS = 250;

/**
 * A conformance subject for the testkit: mtcopy with `options`. Loading it switches `offloading`
 * on; taking it out switches it off, unloads the module and fails if the copy threads outlived
 * it. An injected fault lands on the last copy thread.
 *
 * The copy-thread deadline (`options.deadlineMs`) defaults to
 * {@link MTCOPY_CONFORMANCE_DEADLINE_MS}, not the driver's 10 s: it is the knob that bounds an
 * injected `hang`. To measure mtcopy on rounds that take longer (benchmarks of gigabytes per
 * call), pass a longer `deadlineMs`.
 *
 * Models `insmod` and `rmmod` of the module of `drivers/migoffcopy/mtcopy/copy_pages.c`, with its
 * `offloading` file.
 *
 * @category Conformance
 */
export const mtcopyConformanceSubject = (options: MtcopyOptions = {}): MigratorSubject => {
  const drivers = new WeakMap<Kernel, MtcopyDriver>();
  const sysfs = (kernel: Kernel, value: string) =>
    kernel.fs.write(`${MTCOPY_SYSFS_DIR}/offloading`, value);
  return {
    name: `mtcopy (${options.threads ?? 4} threads)`,
    load: (kernel: Kernel) =>
      Effect.gen(function* () {
        const driver = mtcopyDriver(kernel, {
          deadlineMs: MTCOPY_CONFORMANCE_DEADLINE_MS,
          ...options,
        });
        drivers.set(kernel, driver);
        yield* kernel.loadModule(driver.module);
        yield* sysfs(kernel, "1");
      }),
    unload: (kernel: Kernel) =>
      Effect.gen(function* () {
        yield* sysfs(kernel, "0");
        yield* kernel.unloadModule(MTCOPY_MODULE_NAME);
        if (drivers.get(kernel)?.engine)
          return yield* Effect.die(new Error("mtcopy's copy threads outlived its module"));
      }),
    engineFaults: {
      kinds: MTCOPY_THREAD_FAULTS,
      inject: (kernel: Kernel, kind: string) => {
        const engine = drivers.get(kernel)?.engine;
        if (engine)
          engine.inject(engine.threads - 1, kind as (typeof MTCOPY_THREAD_FAULTS)[number]);
      },
      waitingOnHang: (kernel: Kernel) => drivers.get(kernel)?.engine?.waitingOnHang() ?? false,
    },
  };
};
