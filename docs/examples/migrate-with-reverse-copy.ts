import {
  allocMigrationTarget,
  FolioList,
  isolateFoliosToList,
  Kernel,
  MIGRATE_SYNC,
  MR_COMPACTION,
  migratePages,
  putbackMovablePages,
} from "@migrate-offload/core";
import { reverseCopyModule } from "@migrate-offload/testkit";
import { Effect } from "effect";

/** Migrates four pages with the example migrator, named for this one call, not made active. */
export const migrateWithReverseCopy = Effect.scoped(
  Effect.gen(function* () {
    const kernel = yield* Kernel.make({ nodes: ["16M", "16M"] });
    yield* kernel.loadModule(reverseCopyModule(kernel)); // a provider, not the active migrator
    const proc = yield* kernel.createProcess({ node: 0 });
    const addr = yield* proc.mmap(4 * 4096);
    yield* proc.write(addr, new Uint8Array(4 * 4096).fill(5));
    // The folios behind the addresses, off the LRU and onto a list, as migrate_pages() wants them.
    const list = new FolioList(kernel.memmap.lru);
    yield* isolateFoliosToList(proc, [addr, addr + 4096, addr + 8192, addr + 12288], list);
    const { rc } = yield* migratePages(
      kernel,
      list,
      allocMigrationTarget(kernel, 1),
      null,
      MIGRATE_SYNC,
      MR_COMPACTION,
      { migrator: "reverse_copy" },
    );
    putbackMovablePages(kernel, list); // what did not move goes back to the LRU
    list.release();
    const { foliosCopied } = kernel.migrateOffload.counters("reverse_copy")!;
    return { rc, node: yield* proc.nodeOf(addr), foliosCopied };
  }),
);
