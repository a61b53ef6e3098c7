import { Kernel } from "@migrate-offload/core";
import { mtcopyDriver } from "@migrate-offload/mtcopy";
import { Effect } from "effect";

/** Boots a machine, migrates 4 MiB of huge pages with mtcopy, and says where they ended up. */
export const quickStart = Effect.gen(function* () {
  const kernel = yield* Kernel.boot({ nodes: ["256M", "256M"], thp: { enabled: "always" } });
  yield* kernel.loadModule(mtcopyDriver(kernel, { threads: 2 }).module);
  yield* kernel.fs.write("/sys/kernel/cpu_mt/offloading", "1");
  const proc = yield* kernel.createProcess({ node: 0 });
  const addr = yield* proc.mmap(4 << 20);
  yield* proc.write(addr, new Uint8Array(4 << 20).fill(42));
  const pages = [addr, addr + (2 << 20)]; // one address per 2 MiB folio
  const { rc, status } = yield* proc.movePages(0, pages, [1, 1]);
  const bytes = yield* proc.read(addr, 4 << 20);
  yield* kernel.fs.write("/sys/kernel/cpu_mt/offloading", "0");
  yield* kernel.unloadModule("mtcopy");
  return { rc, status: [...status], intact: bytes.every((b) => b === 42) };
});
