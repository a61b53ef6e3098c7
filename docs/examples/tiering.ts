import {
  Kernel,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MEMTIER_DEFAULT_DAX_ADISTANCE,
  MPOL_BIND,
  MPOL_DEFAULT,
} from "@migrate-offload/core";
import { Effect } from "effect";

/** Demotes the cold pages of a full DRAM node to CXL memory, then promotes the ones read again. */
export const tieringExample = Effect.gen(function* () {
  const kernel = yield* Kernel.boot({
    nodes: ["16M", { memory: "64M", adistance: MEMTIER_DEFAULT_DAX_ADISTANCE }],
    daemons: "on-demand", // direct reclaim alone demotes here: no kswapd beside it
  });
  const tiers = "/sys/devices/virtual/memory_tiering";
  const dram = (yield* kernel.fs.read(`${tiers}/memory_tier4/nodelist`)).trim();
  const cxl = (yield* kernel.fs.read(`${tiers}/memory_tier22/nodelist`)).trim();
  yield* kernel.fs.write("/sys/kernel/mm/numa/demotion_enabled", "1");
  const proc = yield* kernel.createProcess({ node: 0 });
  yield* proc.setMempolicy(MPOL_BIND, [0]);
  const size = 5000 * 4096; // more than node 0's 4096 pages
  const data = new Uint8Array(size).map((_, i) => i % 251);
  const addr = yield* proc.mmap(size, { flags: MAP_PRIVATE | MAP_ANONYMOUS });
  yield* proc.write(addr, data); // direct reclaim demotes the oldest pages to node 1
  const firstPage = yield* proc.nodeOf(addr);
  const lastPage = yield* proc.nodeOf(addr + size - 4096);
  // Room on node 0, then NUMA balancing in memory tiering mode: one scan of the process marks
  // its pages on node 1 PROT_NONE (what kernel.numaBalancing.run() does every scan period).
  yield* proc.munmap(addr + size - 1000 * 4096, 1000 * 4096);
  yield* proc.setMempolicy(MPOL_DEFAULT, []);
  yield* kernel.fs.write("/proc/sys/kernel/numa_balancing", "2");
  const marked = kernel.numaBalancing.taskNumaWork(proc);
  const count = (name: string) => kernel.vmstat.get(name);
  yield* proc.read(addr, 64 * 4096); // hint faults: the first 64 pages are hot
  const promotedFirst = count("pgpromote_success");
  const firstPageNow = yield* proc.nodeOf(addr);
  const all = yield* proc.read(addr, size - 1000 * 4096); // every demoted page is hot now
  const result = {
    dram,
    cxl,
    firstPage,
    lastPage,
    demoted: count("pgdemote_direct"),
    marked,
    promotedFirst,
    firstPageNow,
    promoted: count("pgpromote_success"),
    intact: all.every((b, i) => b === i % 251),
  };
  yield* kernel.shutdown();
  return result;
});
