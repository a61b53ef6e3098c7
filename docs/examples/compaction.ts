import { Kernel, MAP_ANONYMOUS, MAP_PRIVATE, MPOL_BIND } from "@migrate-offload/core";
import { fragmentNode } from "@migrate-offload/core/testing";
import { Effect } from "effect";

/** Fragments node 1, faults a THP there before and after compact_memory, and counts. */
export const compactionExample = Effect.gen(function* () {
  // No kcompactd or kswapd: the counts are the faults' and the compact_memory write's alone.
  const kernel = yield* Kernel.boot({
    nodes: ["64M", "64M"],
    thp: { enabled: "always" },
    daemons: "on-demand",
  });
  const frag = yield* fragmentNode(kernel, { nid: 1, unmovableEvery: 512, pageCacheEvery: 8 });
  const before = (yield* kernel.fs.read("/proc/buddyinfo")).split("\n")[1];
  const proc = yield* kernel.createProcess({ node: 1 });
  yield* proc.setMempolicy(MPOL_BIND, [1]);
  const addr = yield* proc.mmap(4 << 20, { flags: MAP_PRIVATE | MAP_ANONYMOUS });
  yield* proc.write(addr, new Uint8Array(4096).fill(1)); // falls back: no order-9 block
  yield* kernel.fs.write("/proc/sys/vm/compact_memory", "1");
  const after = (yield* kernel.fs.read("/proc/buddyinfo")).split("\n")[1];
  yield* proc.write(addr + (2 << 20), new Uint8Array(4096).fill(2)); // a THP now
  const count = (name: string) => kernel.vmstat.get(name);
  const intact = yield* frag.intact();
  yield* kernel.shutdown();
  return {
    before,
    after,
    thpFaultFallback: count("thp_fault_fallback"),
    thpFaultAlloc: count("thp_fault_alloc"),
    compactStall: count("compact_stall"),
    migrated: count("pgmigrate_success"),
    intact,
  };
});
