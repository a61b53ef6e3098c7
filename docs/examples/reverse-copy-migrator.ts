/**
 * A complete small migrator: it copies each batch last folio first, declines batches too small
 * to be worth it, and is switched on and off through its own sysfs directory. The guide
 * `docs/writing-a-migrator.md` walks through it; the test suite loads it into a kernel and checks
 * that every migration with it ends exactly as the serial path does.
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

/** The module, for `kernel.loadModule(reverseCopyModule(kernel))`. */
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
