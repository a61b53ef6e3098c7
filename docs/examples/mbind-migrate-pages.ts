/**
 * The example of docs/callers.md ("mbind and migrate_pages(2)"): mbind(MPOL_MF_MOVE) moves a
 * range's pages to its new policy, migrate_pages(2) moves a process from one node set to another,
 * and a migrator whose reason mask holds only `mempolicy_mbind` sees the first and not the second.
 */
import {
  Kernel,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  type Migrator,
  MPOL_INTERLEAVE,
  MPOL_MF_MOVE,
  MPOL_MF_STRICT,
  MR_MEMPOLICY_MBIND,
  migrateFoliosMcCopy,
} from "@migrate-offload/core";
import { Effect } from "effect";
export const mbindExample = Effect.gen(function* () {
  const kernel = yield* Kernel.boot({ nodes: ["64M", "64M", "64M"] });
  const reasons: number[] = [];
  const recorder: Migrator = {
    name: "recorder",
    owner: null,
    shouldBatch: (reason) => reasons.push(reason) > 0,
    offloadCopy: (dst, src) => Effect.sync(() => migrateFoliosMcCopy(kernel, dst, src)),
  };
  yield* kernel.migrateOffload.register(recorder, 1 << MR_MEMPOLICY_MBIND);
  const proc = yield* kernel.createProcess({ node: 0 });
  const addr = yield* proc.mmap(8 * 4096, { flags: MAP_PRIVATE | MAP_ANONYMOUS });
  yield* proc.write(addr, new Uint8Array(8 * 4096).fill(42)); // node 0
  const nodes = () => Effect.forEach([0, 1, 2, 3], (i) => proc.nodeOf(addr + i * 4096));
  yield* proc.mbind(addr, 8 * 4096, MPOL_INTERLEAVE, [1, 2], MPOL_MF_MOVE | MPOL_MF_STRICT);
  const afterMbind = yield* nodes();
  const left = yield* proc.migratePagesSyscall(0, 64, [1, 2], [0, 1]); // 1 -> 0, then 2 -> 1
  const afterMigratePages = yield* nodes();
  const bytes = yield* proc.read(addr, 8 * 4096);
  const count = (name: string) => kernel.vmstat.get(name);
  yield* kernel.shutdown();
  return {
    afterMbind: afterMbind.join(" "),
    left,
    afterMigratePages: afterMigratePages.join(" "),
    migrated: count("pgmigrate_success"),
    asked: reasons.length,
    reason: reasons[0],
    intact: bytes.every((b) => b === 42),
  };
});
