/**
 * Example migrators, as modules: {@link reverseCopyModule}, the complete small migrator of
 * `docs/writing-a-migrator.md`, and {@link forgetfulCopyModule}, a broken one that shows what
 * {@link verifyMigrator} reports. Both register with `addProvider`, so either is a subject for
 * the harnesses as it stands.
 *
 * @module
 */
import {
  batchPairs,
  ERRNO,
  folioMarkContentCopied,
  folioMcCopy,
  type Kernel,
  kstrtobool,
  kstrtouint,
  type Migrator,
  type ModuleDefinition,
  MR_NUMA_MISPLACED,
} from "@migrate-offload/core";
import { Effect } from "effect";

/**
 * A complete small migrator, as a module: it copies each batch last folio first, declines
 * batches of fewer than `min_batch` folios (`-EOPNOTSUPP`), and is switched on and off through
 * its own sysfs directory, `/sys/kernel/reverse_copy` (`enabled`, `min_batch`, parsed with
 * `kstrtobool()` and `kstrtouint()` as a driver's store callbacks do). Its init adds the migrator
 * as a provider (`kernel.migrateOffload.addProvider`, listed in `offload_migrator`) for every reason
 * but `MR_NUMA_MISPLACED`. The guide `docs/writing-a-migrator.md` walks through it.
 *
 * @category Examples
 *
 * @example
 * ```ts
 * import { Kernel } from "@migrate-offload/core";
 * import { reverseCopyModule } from "@migrate-offload/testkit";
 * import { Effect } from "effect";
 *
 * await Effect.runPromise(
 *   Effect.scoped(
 *     Effect.gen(function* () {
 *       const kernel = yield* Kernel.make({ nodes: ["16M", "16M"] });
 *       yield* kernel.loadModule(reverseCopyModule(kernel));
 *       yield* kernel.fs.write("/sys/kernel/reverse_copy/enabled", "1");
 *       console.log(yield* kernel.fs.read("/sys/kernel/mm/migration/offload_migrator"));
 *       // "none [reverse_copy]\n"
 *     }),
 *   ),
 * );
 * ```
 */
export const reverseCopyModule = (kernel: Kernel): ModuleDefinition => {
  let minBatch = 2;
  let migrator: Migrator;
  const dir = "/sys/kernel/reverse_copy";
  return {
    name: "reverse_copy",
    init: (module) => {
      migrator = {
        name: "reverse_copy",
        owner: module,
        // NUMA balancing migrates one folio at a time: not worth a batch.
        shouldBatch: (reason) => reason !== MR_NUMA_MISPLACED,
        offloadCopy: (dst, src, count) =>
          Effect.sync(() => {
            // Declining is not a failure: the kernel copies these folios itself.
            if (count < minBatch) return -ERRNO.EOPNOTSUPP;
            const pairs = batchPairs(dst, src);
            for (let i = pairs.length - 1; i >= 0; i--) {
              const [d, s] = pairs[i]!;
              // A poisoned source fails this folio; the ones not marked fall back, one by one.
              if (folioMcCopy(kernel, d, s) !== 0) return -ERRNO.EIO;
              folioMarkContentCopied(kernel, d);
            }
            return 0;
          }),
      };
      kernel.fs.addAttributes(dir, {
        min_batch: {
          mode: 0o644,
          show: () => `${minBatch}\n`,
          store: (text) => {
            const value = kstrtouint(text);
            if (typeof value !== "number") return value.code;
            if (value < 1) return -ERRNO.EINVAL;
            minBatch = value;
            return text.length;
          },
        },
        enabled: {
          mode: 0o644,
          show: () => `${kernel.migrateOffload.activeName === migrator.name ? 1 : 0}\n`,
          store: (text) => {
            const on = kstrtobool(text);
            if (typeof on !== "boolean") return on.code;
            // Writing the state it is already in is a no-op, as the drivers' offloading files do.
            if (on === (kernel.migrateOffload.activeName === migrator.name)) return text.length;
            const change = on
              ? kernel.migrateOffload.register(migrator)
              : kernel.migrateOffload.unregister(migrator);
            return change.pipe(
              Effect.match({ onFailure: (e) => e.code, onSuccess: () => text.length }),
            );
          },
        },
      });
      return kernel.migrateOffload.addProvider(migrator);
    },
    exit: () =>
      Effect.ignore(kernel.migrateOffload.removeProvider(migrator)).pipe(
        Effect.tap(() => Effect.sync(() => kernel.fs.remove(dir))),
      ),
  };
};

/**
 * A deliberately broken migrator, as a module: it forgets to copy the last folio of every batch
 * but marks it content-copied anyway, the one mistake that loses data. It takes every batch of
 * every reason. {@link verifyMigrator} rejects it, and `stressMigrator` sees torn reads;
 * `docs/conformance.md` shows the report.
 *
 * @category Examples
 */
export const forgetfulCopyModule = (kernel: Kernel): ModuleDefinition => {
  let migrator: Migrator;
  return {
    name: "forgetful",
    init: (module) => {
      migrator = {
        name: "forgetful",
        owner: module,
        shouldBatch: () => true,
        offloadCopy: (dst, src) =>
          Effect.sync(() => {
            const pairs = batchPairs(dst, src);
            for (const [i, [d, s]] of pairs.entries()) {
              if (i < pairs.length - 1 && folioMcCopy(kernel, d, s) !== 0) return -ERRNO.EIO;
              folioMarkContentCopied(kernel, d);
            }
            return 0;
          }),
      };
      return kernel.migrateOffload.addProvider(migrator);
    },
    exit: () => Effect.ignore(kernel.migrateOffload.removeProvider(migrator)),
  };
};
