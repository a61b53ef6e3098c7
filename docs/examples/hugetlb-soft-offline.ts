import {
  Kernel,
  MADV_SOFT_OFFLINE,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MIGRATE_REASON_NAMES,
} from "@migrate-offload/core";
import { Effect } from "effect";

/** Sizes the hugetlb pool, maps and moves a huge page, then soft-offlines it. */
export const hugetlbSoftOfflineExample = Effect.gen(function* () {
  const kernel = yield* Kernel.boot({ nodes: ["64M", "64M"] });
  const pool = "/sys/kernel/mm/hugepages/hugepages-2048kB";
  const node = (nid: number, file: string) =>
    kernel.fs.read(`/sys/devices/system/node/node${nid}/hugepages/hugepages-2048kB/${file}`);
  yield* kernel.fs.write("/proc/sys/vm/nr_hugepages", "4"); // two per node, round-robin
  const proc = yield* kernel.createProcess({ node: 0 });
  const addr = yield* proc.mmap(2 << 20, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB });
  const reserved = (yield* kernel.fs.read(`${pool}/resv_hugepages`)).trim();
  yield* proc.write(addr, new Uint8Array(2 << 20).fill(7)); // the fault takes the reserved page
  yield* proc.movePages(0, [addr], [1]); // the destination is node 1's free huge page
  const afterMove = [
    (yield* node(0, "free_hugepages")).trim(),
    (yield* node(1, "free_hugepages")).trim(),
  ];
  const reasons: string[] = [];
  kernel.trace.subscribe((e) => {
    if (e.event === "mm_migrate_pages") reasons.push(MIGRATE_REASON_NAMES[e.reason]!);
  });
  yield* proc.madvise(addr, 2 << 20, MADV_SOFT_OFFLINE); // root holds CAP_SYS_ADMIN
  const bytes = yield* proc.read(addr, 2 << 20);
  const meminfo = (yield* kernel.fs.read("/proc/meminfo")).split("\n");
  const line = (name: string) => meminfo.find((l) => l.startsWith(name));
  yield* kernel.shutdown();
  return {
    reserved,
    afterMove: afterMove.join(" "),
    reason: reasons.join(" "),
    intact: bytes.every((b) => b === 7),
    total: line("HugePages_Total"),
    free: line("HugePages_Free"),
    corrupted: line("HardwareCorrupted"),
  };
});
