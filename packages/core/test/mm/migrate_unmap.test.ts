// migrate_folio_unmap() and fallback_migrate_folio() (mm/migrate.c, Linux 6.16+) in each mode:
// the destination is allocated (get_new_folio) before the source is locked; a locked source is
// -EAGAIN in MIGRATE_ASYNC (and in MIGRATE_SYNC_LIGHT when not uptodate, and in every mode for a
// task with PF_MEMALLOC: direct compaction), waited for otherwise;
// writeback is -EBUSY unless MIGRATE_SYNC, which waits; a dirty file folio of a filesystem
// without migrate_folio is -EBUSY in every mode (writeout() was removed in 6.16).
import { Effect, Fiber } from "effect";
import { describe, expect, it } from "vitest";
import {
  __GFP_THISNODE,
  ERRNO,
  type Kernel,
  MAP_SHARED,
  MIGRATE_ASYNC,
  MIGRATE_SYNC,
  MIGRATE_SYNC_LIGHT,
  type MigrateMode,
  MR_COMPACTION,
  MR_SYSCALL,
  migratePages,
  PF_MEMALLOC,
  PG_uptodate,
  putbackMovablePages,
  WMARK_MIN,
} from "../../src/index";
import { folioTrylock, folioUnlock } from "../../src/mm/filemap";
import { boot, expectConsistent, isolateRange, mapPattern, run } from "../../src/testing/index";

const toNode =
  (k: Kernel, nid: number) =>
  (src: number): number =>
    k.pageAlloc.allocPages(nid, k.memmap.folioOrder(src), 0x1);

const fill = (k: Kernel): number => k.pageAlloc.allocPages(1, 0, __GFP_THISNODE);

const MODES: ReadonlyArray<readonly [string, MigrateMode]> = [
  ["MIGRATE_ASYNC", MIGRATE_ASYNC],
  ["MIGRATE_SYNC_LIGHT", MIGRATE_SYNC_LIGHT],
  ["MIGRATE_SYNC", MIGRATE_SYNC],
];

const anonFolio = () => {
  const k = boot();
  const p = run(k.createProcess());
  const addr = mapPattern(p, 4096, 2);
  const list = isolateRange(p, addr, 4096);
  return { k, p, addr, list, src: list.first };
};

const migrate = (k: Kernel, list: ReturnType<typeof isolateRange>, mode: MigrateMode) => {
  const errors = new Map<number, number>();
  return {
    errors,
    fiber: Effect.runFork(migratePages(k, list, toNode(k, 1), null, mode, MR_SYSCALL, { errors })),
  };
};

describe("migrate_folio_unmap(): a locked source", () => {
  it("MIGRATE_ASYNC: -EAGAIN on every pass, the destination freed each time", async () => {
    const { k, list, src } = anonFolio();
    folioTrylock(k, src);
    const free = k.pageAlloc.nodeFreePages(1);
    const { errors, fiber } = migrate(k, list, MIGRATE_ASYNC);
    const r = await Effect.runPromise(Fiber.join(fiber));
    expect(r.rc).toBe(1);
    expect(errors.get(src)).toBe(-ERRNO.EAGAIN);
    expect(k.pageAlloc.nodeFreePages(1)).toBe(free);
    folioUnlock(k, src);
    putbackMovablePages(k, list);
    expectConsistent(k);
  });

  it("every mode: -ENOMEM before the lock is looked at, as get_new_folio() comes first", async () => {
    for (const [, mode] of MODES) {
      const { k, list, src } = anonFolio();
      folioTrylock(k, src);
      const held: number[] = []; // node 1 has no free page left above its min watermark
      for (let pfn = fill(k); pfn >= 0; pfn = fill(k)) held.push(pfn);
      expect(k.pageAlloc.nodeFreePages(1)).toBe(k.pageAlloc.zones[1]!.watermark[WMARK_MIN]);
      const { errors, fiber } = migrate(k, list, mode);
      const r = await Effect.runPromise(Fiber.join(fiber));
      expect(r.rc).toBe(-ERRNO.ENOMEM); // migrate_pages() returns the allocation failure
      expect(errors.get(src)).toBe(-ERRNO.ENOMEM);
      folioUnlock(k, src);
      for (const pfn of held) k.folioPut(k.folio(pfn));
      putbackMovablePages(k, list);
      expectConsistent(k);
    }
  });

  it("MIGRATE_SYNC_LIGHT waits for an uptodate folio but not for one that is not (-EAGAIN)", async () => {
    const { k, list, src } = anonFolio();
    folioTrylock(k, src);
    k.memmap.clear(src, PG_uptodate);
    const r = await Effect.runPromise(Fiber.join(migrate(k, list, MIGRATE_SYNC_LIGHT).fiber));
    expect(r.rc).toBe(1);
    k.memmap.set(src, PG_uptodate);
    const { fiber } = migrate(k, list, MIGRATE_SYNC_LIGHT);
    await Effect.runPromise(Effect.yieldNow);
    expect(k.memmap.test(src, PG_uptodate)).toBe(true);
    folioUnlock(k, src);
    const done = await Effect.runPromise(Fiber.join(fiber));
    expect(done.rc).toBe(0);
    expect(done.nrSucceeded).toBe(1);
    expectConsistent(k);
  });

  it("a task with PF_MEMALLOC (direct compaction) never waits for the lock, in any mode: -EAGAIN on every pass", async () => {
    for (const [, mode] of MODES) {
      const { k, list, src } = anonFolio();
      folioTrylock(k, src);
      const free = k.pageAlloc.nodeFreePages(1);
      const errors = new Map<number, number>();
      const current = { flags: PF_MEMALLOC, nid: 0 };
      const r = await Effect.runPromise(
        migratePages(k, list, toNode(k, 1), null, mode, MR_COMPACTION, { errors, current }),
      );
      expect(r.rc).toBe(1);
      expect(errors.get(src)).toBe(-ERRNO.EAGAIN);
      expect(k.pageAlloc.nodeFreePages(1)).toBe(free);
      // The same task without PF_MEMALLOC (kcompactd, a compact_memory write) waits for it.
      if (mode !== MIGRATE_ASYNC) {
        const fiber = Effect.runFork(
          migratePages(k, list, toNode(k, 1), null, mode, MR_COMPACTION, {
            current: { flags: 0, nid: 0 },
          }),
        );
        await Effect.runPromise(Effect.yieldNow);
        expect(k.pageAlloc.nodeFreePages(1)).toBe(free - 1);
        folioUnlock(k, src);
        const done = await Effect.runPromise(Fiber.join(fiber));
        expect(done.nrSucceeded).toBe(1);
      } else {
        folioUnlock(k, src);
        putbackMovablePages(k, list);
      }
      expectConsistent(k);
    }
  });

  it("MIGRATE_SYNC holds its destination while it waits for the lock", async () => {
    const { k, p, addr, list, src } = anonFolio();
    folioTrylock(k, src);
    const free = k.pageAlloc.nodeFreePages(1);
    const { fiber } = migrate(k, list, MIGRATE_SYNC);
    await Effect.runPromise(Effect.yieldNow);
    // Waiting in folio_lock(): the destination is already taken from node 1.
    expect(k.pageAlloc.nodeFreePages(1)).toBe(free - 1);
    folioUnlock(k, src);
    const r = await Effect.runPromise(Fiber.join(fiber));
    expect(r.nrSucceeded).toBe(1);
    expect(run(p.nodeOf(addr))).toBe(1);
    expect(k.pageAlloc.nodeFreePages(1)).toBe(free - 1);
    expectConsistent(k);
  });
});

describe("migrate_folio_unmap(): a source under writeback", () => {
  const underWriteback = () => {
    const k = boot();
    const p = run(k.createProcess());
    const file = run(k.createFile("log"));
    run(file.truncate(4096));
    const addr = run(p.mmap(4096, { flags: MAP_SHARED, file }));
    run(p.write(addr, new Uint8Array([9])));
    expect(file.startWriteback(0)).toBe(true);
    const list = isolateRange(p, addr, 4096);
    return { k, p, addr, file, list, src: list.first };
  };

  for (const [name, mode] of MODES.slice(0, 2)) {
    it(`${name}: -EBUSY at once, a permanent failure (no retry), the destination freed`, async () => {
      const { k, file, list, src } = underWriteback();
      const free = k.pageAlloc.nodeFreePages(1);
      const { errors, fiber } = migrate(k, list, mode);
      const r = await Effect.runPromise(Fiber.join(fiber));
      expect(r.rc).toBe(1);
      expect(errors.get(src)).toBe(-ERRNO.EBUSY);
      expect(r.stats.nrFailedPages).toBe(1);
      expect(k.pageAlloc.nodeFreePages(1)).toBe(free);
      expect(k.memmap.test(src, 1 << 0)).toBe(false); // unlocked (PG_locked is bit 0)
      file.endWriteback(0);
      putbackMovablePages(k, list);
      expectConsistent(k);
    });
  }

  it("MIGRATE_SYNC: waits for writeback holding the source's lock and the destination", async () => {
    const { k, p, addr, file, list, src } = underWriteback();
    const free = k.pageAlloc.nodeFreePages(1);
    const { fiber } = migrate(k, list, MIGRATE_SYNC);
    await Effect.runPromise(Effect.yieldNow);
    expect(k.pageAlloc.nodeFreePages(1)).toBe(free - 1);
    expect(folioTrylock(k, src)).toBe(false); // locked by the waiting migration
    file.endWriteback(0);
    const r = await Effect.runPromise(Fiber.join(fiber));
    expect(r.nrSucceeded).toBe(1);
    expect(file.folioAt(0)!.nid).toBe(1);
    expect(run(p.read(addr, 1))[0]).toBe(9);
    expectConsistent(k);
  });
});

describe("fallback_migrate_folio(): a dirty folio of a filesystem without migrate_folio", () => {
  for (const [name, mode] of MODES) {
    it(`${name}: -EBUSY, and the folio migrates once it is clean`, async () => {
      const k = boot();
      const p = run(k.createProcess());
      const file = run(k.createFile("f"));
      file.mapping.migrateFolio = false;
      run(file.truncate(4096));
      const addr = run(p.mmap(4096, { flags: MAP_SHARED, file }));
      run(p.write(addr, new Uint8Array([5])));
      const list = isolateRange(p, addr, 4096);
      const src = list.first;
      const { errors, fiber } = migrate(k, list, mode);
      const r = await Effect.runPromise(Fiber.join(fiber));
      expect(r.rc).toBe(1);
      expect(errors.get(src)).toBe(-ERRNO.EBUSY);
      expect(r.stats.nrFailedPages).toBe(1);
      putbackMovablePages(k, list);
      run(file.fsync());
      const again = isolateRange(p, addr, 4096);
      const done = await Effect.runPromise(Fiber.join(migrate(k, again, mode).fiber));
      expect(done.nrSucceeded).toBe(1);
      expect(run(p.read(addr, 1))[0]).toBe(5);
      expectConsistent(k);
    });
  }
});
