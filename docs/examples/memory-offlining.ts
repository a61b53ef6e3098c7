import { Kernel, MAP_ANONYMOUS, MAP_PRIVATE, MPOL_BIND } from "@migrate-offload/core";
import { Effect } from "effect";

/** Offlines the memory block a process's pages live in, and onlines it again. */
export const memoryOffliningExample = Effect.gen(function* () {
  const kernel = yield* Kernel.boot({ nodes: ["64M", "64M"], sectionSize: "16M" });
  const sysfs = "/sys/devices/system/memory";
  const memTotal = Effect.map(kernel.fs.read("/proc/meminfo"), (text) => text.split("\n")[0]);
  const proc = yield* kernel.createProcess({ node: 1 });
  yield* proc.setMempolicy(MPOL_BIND, [1]);
  const addr = yield* proc.mmap(8 << 20, { flags: MAP_PRIVATE | MAP_ANONYMOUS });
  yield* proc.write(addr, new Uint8Array(8 << 20).fill(7)); // lands in memory7
  const blockSize = (yield* kernel.fs.read(`${sysfs}/block_size_bytes`)).trim();
  const before = yield* memTotal;
  yield* kernel.fs.write(`${sysfs}/memory7/state`, "offline");
  const state = (yield* kernel.fs.read(`${sysfs}/memory7/state`)).trim();
  const after = yield* memTotal;
  const node = yield* proc.nodeOf(addr);
  const intact = (yield* proc.read(addr, 8 << 20)).every((byte) => byte === 7);
  const migrated = kernel.vmstat.get("pgmigrate_success");
  // memory3 holds the zero page, a reserved page: it cannot be isolated.
  const memory3 = (yield* Effect.flip(kernel.fs.write(`${sysfs}/memory3/state`, "offline"))).errno;
  yield* kernel.fs.write(`${sysfs}/memory7/online`, "1");
  const back = yield* memTotal;
  yield* kernel.shutdown();
  return { blockSize, before, state, after, node, intact, migrated, memory3, back };
});
