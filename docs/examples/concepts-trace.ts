import { Kernel } from "@migrate-offload/core";
import { mtcopyDriver } from "@migrate-offload/mtcopy";
import { Effect } from "effect";

/**
 * Moves one 2 MiB THP with mtcopy and lists the tracepoints the migration passed, in order, a
 * run of the same event as one line with its count.
 */
export const traceOneMigration = Effect.gen(function* () {
  const kernel = yield* Kernel.boot({ nodes: ["64M", "64M"], thp: { enabled: "always" } });
  yield* kernel.loadModule(mtcopyDriver(kernel, { threads: 1 }).module);
  yield* kernel.fs.write("/sys/kernel/cpu_mt/offloading", "1");
  const proc = yield* kernel.createProcess({ node: 0 });
  const addr = yield* proc.mmap(2 << 20);
  yield* proc.write(addr, new Uint8Array(2 << 20).fill(7));
  const seen: Array<[event: string, times: number]> = [];
  const stop = kernel.trace.subscribe((e) => {
    const name = e.event === "mm_migrate_offload" ? `${e.event}: ${e.op}` : e.event;
    const last = seen.at(-1);
    if (last?.[0] === name) last[1]++;
    else seen.push([name, 1]);
  });
  yield* proc.movePages(0, [addr], [1]);
  stop();
  yield* kernel.fs.write("/sys/kernel/cpu_mt/offloading", "0");
  yield* kernel.unloadModule("mtcopy");
  return seen;
});
