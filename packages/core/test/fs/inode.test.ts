// A file's storage behind its page cache: writeback (folio_start_writeback(), fsync()) copies a
// folio's bytes to it, a page-cache miss reads them back (filemap_fault() →
// filemap_read_folio(), mm/filemap.c), and pages never written back read as zeros, like holes.
// A dirty page lost to a memory error loses what was written since its last writeback
// (me_pagecache_dirty(), mm/memory-failure.c: mapping_set_error(-EIO), fsync() reports it once).
import { Effect, Fiber } from "effect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { File } from "../../src/include/fs";
import type { Kernel, Task } from "../../src/include/kernel";
import {
  __GFP_THISNODE,
  BackingStore,
  isErrnoError,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  MIGRATE_SYNC,
  MR_SYSCALL,
  migratePages,
  PG_dirty,
  PG_locked,
  PG_writeback,
  putbackMovablePages,
} from "../../src/index";
import { folioTrylock, folioUnlock } from "../../src/mm/filemap";
import {
  boot,
  expectBytes,
  expectChildSignal,
  expectConsistent,
  expectErrno,
  gatedMigrator,
  isolateRange,
  pattern,
  run,
  runP,
} from "../../src/testing/index";

const PAGE = 4096;

/** Runs `f`, which must throw an errno error named `name`. */
const expectThrownErrno = (f: () => unknown, name: string): void => {
  try {
    f();
  } catch (error) {
    expect(isErrnoError(error) && error.errno).toBe(name);
    return;
  }
  throw new Error(`expected ${name}, but the call succeeded`);
};
const ZEROS = new Uint8Array(PAGE);

/**
 * Maps `file`'s first `pages` pages shared in `task`, runs `body` on the address, unmaps. The file
 * is first grown to cover them (`ftruncate()`), as a fault past `i_size` gets `SIGBUS`.
 */
const withMap = <A>(task: Task, file: File, pages: number, body: (addr: number) => A): A => {
  if (file.size < pages * PAGE) run(file.truncate(pages * PAGE));
  const addr = run(task.mmap(pages * PAGE, { flags: MAP_SHARED, file }));
  try {
    return body(addr);
  } finally {
    run(task.munmap(addr, pages * PAGE));
  }
};

/** A kernel of one small node (enough for a few pages: no reclaim), a file and a process. */
const setup = (): { k: Kernel; file: File; p: Task } => {
  const k = boot({ nodes: ["16M"] });
  return { k, file: run(k.createFile("data")), p: run(k.createProcess()) };
};

describe("a file's storage (a_ops->read_folio, writeback)", () => {
  it("stores only the pages written back: nothing for pages merely dirtied or never written", () => {
    const { k, file, p } = setup();
    const store = file.mapping.backing!;
    withMap(p, file, 4, (addr) => {
      run(p.write(addr, pattern(PAGE, 1)));
      run(p.write(addr + 2 * PAGE, pattern(PAGE, 2)));
      run(p.read(addr + 3 * PAGE, 1)); // cached, clean, never written
    });
    expect(store.nrPages).toBe(0);
    expect(file.startWriteback(0)).toBe(true);
    expect(store.nrPages).toBe(1);
    expect(file.endWriteback(0)).toBe(true);
    run(file.fsync());
    expect(store.nrPages).toBe(2); // pages 0 and 2; page 3 was clean, page 1 never cached
    expectConsistent(k);
  });

  it("writes the bytes the folio holds when the write is submitted (folio_start_writeback)", () => {
    const { k, file, p } = setup();
    withMap(p, file, 1, (addr) => {
      run(p.write(addr, pattern(PAGE, 3)));
      expect(file.startWriteback(0)).toBe(true);
      // Written again under writeback: the write-protected PTE faults, the folio is dirty again.
      run(p.write(addr, pattern(PAGE, 4)));
    });
    expect(file.endWriteback(0)).toBe(true);
    expect(file.folioAt(0)!.dirty).toBe(true);
    // The second write was never written back: a memory error loses it, and the file holds the
    // first.
    run(k.memoryFailure(file.folioAt(0)!.pfn));
    withMap(p, file, 1, (addr) => expectBytes(run(p.read(addr, PAGE)), pattern(PAGE, 3)));
    expectErrno(file.fsync(), "EIO");
    expectConsistent(k);
  });

  it("rereads a clean page soft offline dropped (mapping_evict_folio)", () => {
    const { k, file, p } = setup();
    withMap(p, file, 2, (addr) => run(p.write(addr, pattern(2 * PAGE, 4))));
    run(file.fsync());
    const pfn = file.folioAt(1)!.pfn;
    run(k.softOfflinePage(pfn));
    expect(file.folioAt(1)).toBeNull(); // clean and unmapped: invalidated, not migrated
    withMap(p, file, 2, (addr) => expectBytes(run(p.read(addr, 2 * PAGE)), pattern(2 * PAGE, 4)));
    expectConsistent(k);
  });

  it("truncation frees the file's blocks: it reads as zeros afterwards", () => {
    const { k, file, p } = setup();
    withMap(p, file, 2, (addr) => run(p.write(addr, pattern(2 * PAGE, 5))));
    run(file.fsync());
    run(file.truncate());
    expect(file.cachedFolios).toBe(0);
    expect(file.mapping.backing!.nrPages).toBe(0);
    withMap(p, file, 2, (addr) =>
      expectBytes(run(p.read(addr, 2 * PAGE)), new Uint8Array(2 * PAGE)),
    );
    expectConsistent(k);
  });

  // fsync() is WB_SYNC_ALL writeback (file_write_and_wait_range(), mm/filemap.c, Linux 6.16): a
  // folio under writeback is waited for (folio_prepare_writeback(), mm/page-writeback.c) and, if
  // dirtied again meanwhile, written once more; so what was written before fsync() returned 0 is
  // on the storage, and a memory error on the now clean page loses nothing (no EIO).
  it("fsync() waits for writeback in flight and writes a folio dirtied under it", async () => {
    const { k, file, p } = setup();
    run(file.truncate(PAGE));
    const addr = run(p.mmap(PAGE, { flags: MAP_SHARED, file }));
    run(p.write(addr, pattern(PAGE, 1)));
    expect(file.startWriteback(0)).toBe(true);
    run(p.write(addr, pattern(PAGE, 2)));
    run(file.fsync());
    const pfn = file.folioAt(0)!.pfn;
    expect(k.memmap.test(pfn, PG_writeback)).toBe(false);
    expect(file.endWriteback(0)).toBe(false);
    const stored = new Uint8Array(PAGE);
    file.mapping.backing!.read(0, stored);
    expectBytes(stored, pattern(PAGE, 2));
    run(p.munmap(addr, PAGE));
    await runP(k.memoryFailure(pfn));
    run(file.fsync());
    withMap(p, file, 1, (at) => expectBytes(run(p.read(at, PAGE)), pattern(PAGE, 2)));
    expectConsistent(k);
  });

  // truncate_inode_pages_range() (mm/truncate.c, Linux 6.16) waits for each folio's writeback
  // (folio_wait_writeback()) before it drops the folio, and folio_end_writeback() wakes everyone
  // else waiting on it: a move_pages() (MIGRATE_SYNC, migrate_folio_unmap()) and a
  // memory_failure() (folio_wait_writeback()) waiting on the folio finish.
  it("truncation waits for writeback: a move_pages() and a memory_failure() waiting on it finish", async () => {
    const k = boot({ nodes: ["16M", "16M"] });
    const file = run(k.createFile("data"));
    const p = run(k.createProcess({ node: 0 }));
    run(file.truncate(2 * PAGE));
    const addr = run(p.mmap(2 * PAGE, { flags: MAP_SHARED, file }));
    run(p.write(addr, pattern(2 * PAGE, 6)));
    expect(file.startWriteback(0)).toBe(true);
    expect(file.startWriteback(1)).toBe(true);
    const pfn = file.folioAt(1)!.pfn;
    const moved = runP(p.movePages(0, [addr], [1]));
    const failed = runP(k.memoryFailure(pfn));
    await new Promise((resolve) => setImmediate(resolve));
    await runP(file.truncate());
    // The migration finished before the truncation dropped its new folio: status is node 1.
    expect([...(await moved).status]).toEqual([1]);
    await failed;
    expect(k.memmap.test(pfn, PG_writeback)).toBe(false);
    expect(file.cachedFolios).toBe(0);
    expect(file.mapping.backing!.nrPages).toBe(0);
    // i_size is 0 now: a read gets SIGBUS (filemap_fault(), VM_FAULT_SIGBUS); grown again
    // (ftruncate()), the file reads zeros: its blocks were freed.
    expectChildSignal(p, (c) => c.read(addr, 2 * PAGE), "SIGBUS", "BUS_ADRERR");
    run(file.truncate(2 * PAGE));
    expectBytes(run(p.read(addr, 2 * PAGE)), new Uint8Array(2 * PAGE));
    expectConsistent(k);
  });

  // truncate_inode_pages_range() (mm/truncate.c, Linux 6.16) sleeps in folio_lock() on a folio a
  // migration holds, with the reference find_get_entries() took. The migration's move then finds
  // that reference (__migrate_folio(): folio_ref_count() != expected, -EAGAIN) and, its passes
  // spent, gives the folio back (migrate_folios_undo()); the unlock hands the lock to the
  // truncation, which drops the folio. The migration's synchronous retry finds only its own
  // reference left (migrate_folio_unmap(): "Folio was freed from under us"), which counts as
  // migrated: move_pages() reports the node asked for, and the page goes back to the allocator.
  it("truncation waits for the lock of a folio a migration holds mid-copy, then drops it; the migration finds it freed", async () => {
    const k = boot({ nodes: ["16M", "16M"] });
    const file = run(k.createFile("data"));
    const p = run(k.createProcess({ node: 0 }));
    run(file.truncate(2 * PAGE));
    const addr = run(p.mmap(2 * PAGE, { flags: MAP_SHARED, file }));
    run(p.write(addr, pattern(2 * PAGE, 7)));
    run(file.fsync());
    const free = k.pageAlloc.totalFreePages();
    const src = file.folioAt(0)!.pfn;
    const other = file.folioAt(1)!.pfn;
    const gated = gatedMigrator(k, run(k.loadModule({ name: "gated" })));
    run(k.migrateOffload.register(gated.migrator));
    const moved = Effect.runFork(p.movePages(0, [addr], [1]));
    while (!gated.copying()) await runP(Effect.yieldNow);
    expect(k.memmap.test(src, PG_locked)).toBe(true);
    const truncation = Effect.runFork(file.truncate());
    for (let i = 0; i < 5; i++) await runP(Effect.yieldNow);
    // The unlocked folio went in the first pass; the locked one waits, referenced, in folio_lock().
    expect(truncation.pollUnsafe()).toBeUndefined();
    expect(file.folioAt(1)).toBeNull();
    expect(k.memmap.refcount[other]).toBe(0);
    expect(file.folioAt(0)!.pfn).toBe(src);
    expect(k.folioWaiters.waiting(src)).toBe(1);
    // The page cache's reference, the migration's isolation and the truncation's.
    expect(k.memmap.refcount[src]).toBe(3);
    gated.open();
    await runP(Fiber.join(truncation));
    const r = await runP(Fiber.join(moved));
    expect(r.rc).toBe(0);
    expect([...r.status]).toEqual([1]);
    expect(k.vmstat.get("pgmigrate_success")).toBe(1);
    expect(k.vmstat.get("pgmigrate_fail")).toBe(0);
    expect(file.cachedFolios).toBe(0);
    expect(k.memmap.refcount[src]).toBe(0);
    expect(k.memmap.test(src, PG_locked)).toBe(false);
    expect(k.folioWaiters.waiting(src)).toBe(0);
    // The mapping went with the truncation, and i_size with it: a read gets SIGBUS
    // (filemap_fault()); grown again (ftruncate()), the file reads as zeros, nothing else moved.
    expectChildSignal(p, (c) => c.read(addr, 2 * PAGE), "SIGBUS", "BUS_ADRERR");
    run(file.truncate(2 * PAGE));
    expectBytes(run(p.read(addr, 2 * PAGE)), new Uint8Array(2 * PAGE));
    expect(run(p.nodeOf(addr))).toBe(0);
    run(p.munmap(addr, 2 * PAGE));
    run(file.truncate());
    expect(k.pageAlloc.totalFreePages()).toBe(free + 2);
    expectConsistent(k);
  });

  // fsync() is WB_SYNC_ALL writeback (writeback_iter(), mm/page-writeback.c, Linux 6.16): it
  // takes each tagged folio with a reference (filemap_get_folios_tag()) and sleeps in
  // folio_lock() on it (writeback_get_folio()). A migration holding the folio locked mid-copy
  // makes it wait; the migration's move then finds fsync's reference (__migrate_folio(): -EAGAIN)
  // and, its passes spent, gives the folio back unlocked, which hands the lock to fsync. fsync
  // writes the folio, still the file's and dirty, to the storage and drops its reference; the
  // migration's synchronous retry then moves it (move_pages() status: node 1).
  it("fsync() sleeps in folio_lock() on a dirty folio a migration holds mid-copy, then writes it", async () => {
    const k = boot({ nodes: ["16M", "16M"] });
    const file = run(k.createFile("data"));
    const p = run(k.createProcess({ node: 0 }));
    run(file.truncate(PAGE));
    const addr = run(p.mmap(PAGE, { flags: MAP_SHARED, file }));
    run(p.write(addr, pattern(PAGE, 5)));
    const src = file.folioAt(0)!.pfn;
    expect(k.memmap.test(src, PG_dirty)).toBe(true);
    const gated = gatedMigrator(k, run(k.loadModule({ name: "gated" })));
    run(k.migrateOffload.register(gated.migrator));
    const moved = Effect.runFork(p.movePages(0, [addr], [1]));
    while (!gated.copying()) await runP(Effect.yieldNow);
    expect(k.memmap.test(src, PG_locked)).toBe(true);
    const synced = Effect.runFork(file.fsync());
    for (let i = 0; i < 5; i++) await runP(Effect.yieldNow);
    // Asleep in folio_lock(), referenced: nothing written yet.
    expect(synced.pollUnsafe()).toBeUndefined();
    expect(k.folioWaiters.waiting(src)).toBe(1);
    expect(k.memmap.test(src, PG_dirty)).toBe(true);
    expect(file.mapping.backing!.nrPages).toBe(0);
    gated.open();
    await runP(Fiber.join(synced));
    const r = await runP(Fiber.join(moved));
    expect(r.rc).toBe(0);
    expect([...r.status]).toEqual([1]);
    // What fsync() wrote is what the page held: the storage reads it back after a truncation.
    expect(file.mapping.backing!.nrPages).toBe(1);
    const dst = file.folioAt(0)!.pfn;
    expect(dst).not.toBe(src);
    expect(k.memmap.test(dst, PG_dirty)).toBe(false);
    expect(k.folioWaiters.waiting(src)).toBe(0);
    expectBytes(run(p.read(addr, PAGE)), pattern(PAGE, 5));
    run(p.munmap(addr, PAGE));
    expectConsistent(k);
  });

  // folio_lock() sleeps as an exclusive waiter (folio_wait_bit_common() with EXCLUSIVE,
  // mm/filemap.c, Linux 6.16) and folio_unlock() hands the lock to the first one queued
  // (wake_page_function()); both truncate_inode_pages_range() (mm/truncate.c) and a MIGRATE_SYNC
  // migrate_folio_unmap() (mm/migrate.c) sleep there, so the first to sleep takes the lock first.
  // Truncation first: it drops the folio, and the migration's wake-up finds only its isolation
  // reference ("Folio was freed from under us"), which counts as migrated (pgmigrate_success 1).
  // Migration first: it takes the lock with the truncation's reference still held, so each of its
  // NR_MAX_MIGRATE_SYNC_RETRY move passes fails with -EAGAIN (__migrate_folio()) and it gives the
  // folio back (migrate_folios_undo()): migrate_pages() returns 1, pgmigrate_fail 1; that unlock
  // hands the lock to the truncation, which drops the folio once it is put back.
  it.each([
    { first: "truncation", rc: 0, success: 1, fail: 0 },
    { first: "migration", rc: 1, success: 0, fail: 1 },
  ])(
    "a truncation and a migration waiting on a folio's lock take it in the order they slept: $first first",
    async ({ first, rc, success, fail }) => {
      const k = boot({ nodes: ["16M", "16M"] });
      const file = run(k.createFile("data"));
      const p = run(k.createProcess({ node: 0 }));
      run(file.truncate(PAGE));
      const addr = run(p.mmap(PAGE, { flags: MAP_SHARED, file }));
      run(p.write(addr, pattern(PAGE, 3)));
      run(file.fsync());
      const free = k.pageAlloc.totalFreePages();
      const list = isolateRange(p, addr, PAGE);
      const src = list.first;
      // Another task holds the folio locked (as a memory failure handling it would).
      expect(folioTrylock(k, src)).toBe(true);
      const settle = async () => {
        for (let i = 0; i < 5; i++) await runP(Effect.yieldNow);
      };
      const toNode1 = (folio: number) =>
        k.pageAlloc.allocPages(1, k.memmap.folioOrder(folio), __GFP_THISNODE);
      const startMigration = () =>
        Effect.runFork(migratePages(k, list, toNode1, null, MIGRATE_SYNC, MR_SYSCALL));
      const early = first === "migration" ? startMigration() : null;
      await settle();
      const truncation = Effect.runFork(file.truncate());
      await settle();
      const migration = early ?? startMigration();
      await settle();
      expect(k.folioWaiters.waiting(src)).toBe(2);
      folioUnlock(k, src);
      const r = await runP(Fiber.join(migration));
      expect(r.rc).toBe(rc);
      putbackMovablePages(k, list);
      await runP(Fiber.join(truncation));
      expect(k.vmstat.get("pgmigrate_success")).toBe(success);
      expect(k.vmstat.get("pgmigrate_fail")).toBe(fail);
      expect(file.cachedFolios).toBe(0);
      expect(k.memmap.refcount[src]).toBe(0);
      expect(k.memmap.test(src, PG_locked)).toBe(false);
      expect(k.folioWaiters.waiting(src)).toBe(0);
      // i_size is 0 now: a read gets SIGBUS (filemap_fault(), VM_FAULT_SIGBUS); grown again
      // (ftruncate()), the file reads zeros: its blocks were freed.
      expectChildSignal(p, (c) => c.read(addr, PAGE), "SIGBUS", "BUS_ADRERR");
      run(file.truncate(PAGE));
      expectBytes(run(p.read(addr, PAGE)), ZEROS);
      run(p.munmap(addr, PAGE));
      run(file.truncate());
      expect(k.pageAlloc.totalFreePages()).toBe(free + 1);
      expectConsistent(k);
    },
  );

  it("EINVAL for a bad page offset, a buffer of part of a page, or a bad page size; nothing stored", () => {
    const store = new BackingStore(PAGE);
    store.write(1, pattern(PAGE, 9));
    expectThrownErrno(() => store.write(-1, new Uint8Array(PAGE)), "EINVAL");
    expectThrownErrno(() => store.write(0.5, new Uint8Array(PAGE)), "EINVAL");
    expectThrownErrno(() => store.write(0, new Uint8Array(PAGE + 1)), "EINVAL");
    expectThrownErrno(() => store.read(Number.NaN, new Uint8Array(PAGE)), "EINVAL");
    expectThrownErrno(() => store.read(0, new Uint8Array(100)), "EINVAL");
    expectThrownErrno(() => store.discard(-2), "EINVAL");
    expectThrownErrno(() => new BackingStore(3000), "EINVAL");
    expect(store.nrPages).toBe(1);
    const page = new Uint8Array(PAGE);
    store.read(1, page);
    expectBytes(page, pattern(PAGE, 9));
  });

  it("has no storage for shmem: its pages live only in the page cache", () => {
    const { p } = setup();
    const addr = run(p.mmap(PAGE, { flags: MAP_SHARED | MAP_ANONYMOUS }));
    expect(p.mm!.findVma(addr)!.mapping!.backing).toBeNull();
  });
});

type Op =
  | { op: "write"; page: number; seed: number }
  | { op: "read"; page: number }
  | { op: "writeback"; page: number }
  | { op: "fsync" }
  | { op: "memoryFailure"; page: number }
  | { op: "softOffline"; page: number };

const PAGES = 4;
const page = fc.integer({ min: 0, max: PAGES - 1 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant("write" as const), page, seed: fc.integer({ min: 1, max: 200 }) }),
  fc.record({ op: fc.constant("read" as const), page }),
  fc.record({ op: fc.constant("writeback" as const), page }),
  fc.constant({ op: "fsync" as const }),
  fc.record({ op: fc.constant("memoryFailure" as const), page }),
  fc.record({ op: fc.constant("softOffline" as const), page }),
);

describe("a file's storage: property", () => {
  // The file against a model of it: what each page holds (a pattern seed, 0 for zeros), what
  // its storage holds, and which cached pages are dirty. Every read matches the model: written
  // back bytes are never lost, whatever drops the page, and only a dirty page a memory error
  // takes loses what it held, with EIO from the next fsync().
  it("never loses written-back bytes; a memory error loses only unwritten ones, with EIO", () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 25 }), (ops) => {
        const { k, file, p } = setup();
        const held = new Array<number>(PAGES).fill(0);
        const stored = new Array<number>(PAGES).fill(0);
        const dirty = new Array<boolean>(PAGES).fill(false);
        let lost = false;
        const bytes = (seed: number) => (seed === 0 ? ZEROS : pattern(PAGE, seed));
        for (const o of ops) {
          switch (o.op) {
            case "write":
              withMap(p, file, PAGES, (addr) => run(p.write(addr + o.page * PAGE, bytes(o.seed))));
              held[o.page] = o.seed;
              dirty[o.page] = true;
              break;
            case "read":
              withMap(p, file, PAGES, (addr) =>
                expectBytes(run(p.read(addr + o.page * PAGE, PAGE)), bytes(held[o.page]!)),
              );
              break;
            case "writeback": {
              const started = file.startWriteback(o.page);
              expect(started).toBe(dirty[o.page]);
              if (started) expect(file.endWriteback(o.page)).toBe(true);
              stored[o.page] = held[o.page]!;
              dirty[o.page] = false;
              break;
            }
            case "fsync":
              if (lost) expectErrno(file.fsync(), "EIO");
              else run(file.fsync());
              lost = false;
              stored.splice(0, PAGES, ...held);
              dirty.fill(false);
              break;
            case "memoryFailure": {
              const folio = file.folioAt(o.page);
              if (!folio) break;
              run(k.memoryFailure(folio.pfn));
              expect(file.folioAt(o.page)).toBeNull();
              if (dirty[o.page]) lost = true;
              held[o.page] = stored[o.page]!;
              dirty[o.page] = false;
              break;
            }
            case "softOffline": {
              const folio = file.folioAt(o.page);
              if (folio) run(k.softOfflinePage(folio.pfn));
              break;
            }
          }
        }
        withMap(p, file, PAGES, (addr) => {
          for (let i = 0; i < PAGES; i++)
            expectBytes(run(p.read(addr + i * PAGE, PAGE)), bytes(held[i]!));
        });
        expectConsistent(k);
      }),
      { numRuns: 40 },
    );
    // Forty kernels booted and checked: seconds on a loaded machine.
  }, 60_000);
});

// A regular file's size (inode->i_size): 0 at creat(), set by ftruncate() (do_truncate(),
// fs/open.c → truncate_setsize(), mm/truncate.c, Linux 6.16). filemap_fault() (mm/filemap.c)
// returns VM_FAULT_SIGBUS for a page index >= DIV_ROUND_UP(i_size, PAGE_SIZE), which x86 delivers
// as SIGBUS (7) with BUS_ADRERR (2) at the faulting address (do_sigbus(), arch/x86/mm/fault.c;
// include/uapi/asm-generic/siginfo.h); mmap() past the end is allowed (do_mmap() does not look at
// i_size). Each access runs in a forked child, which dies of the signal.
describe("a file's size (i_size, ftruncate(), SIGBUS past the end)", () => {
  const expectSigbus = (
    p: Task,
    at: number,
    access: (c: Task) => Effect.Effect<unknown, unknown>,
  ) => {
    const e = expectChildSignal(p, access, "SIGBUS", "BUS_ADRERR");
    expect([e.signo, e.siCode, e.addr]).toEqual([7, 2, at]);
    expect(e.message).toMatch(/past its end/);
  };

  it("an empty file maps but every access gets SIGBUS, a shared write and a private copy-on-write too", () => {
    const { k, file, p } = setup();
    expect(file.size).toBe(0);
    const shared = run(p.mmap(2 * PAGE, { flags: MAP_SHARED, file }));
    const priv = run(p.mmap(PAGE, { flags: MAP_PRIVATE, file }));
    expectSigbus(p, shared, (c) => c.read(shared, 1));
    expectSigbus(p, shared + PAGE, (c) => c.write(shared + PAGE, new Uint8Array([1])));
    expectSigbus(p, priv, (c) => c.write(priv, new Uint8Array([1])));
    expect(file.cachedFolios).toBe(0);
    expectConsistent(k);
  });

  it("a fault reaches DIV_ROUND_UP(i_size, PAGE_SIZE) pages: 4196 bytes are 2 pages, page 2 gets SIGBUS", () => {
    const { k, file, p } = setup();
    run(file.truncate(PAGE + 100));
    expect(file.size).toBe(PAGE + 100);
    const addr = run(p.mmap(3 * PAGE, { flags: MAP_SHARED, file }));
    expectBytes(run(p.read(addr, 2 * PAGE)), new Uint8Array(2 * PAGE));
    expectSigbus(p, addr + 2 * PAGE, (c) => c.read(addr + 2 * PAGE, 1));
    expect(file.cachedFolios).toBe(2);
    expectConsistent(k);
  });

  // truncate_pagecache(inode, 4196): unmap_mapping_range() from holebegin = round_up(4196,
  // PAGE_SIZE) = page 2, with private copies (even_cows); truncate_inode_pages_range() drops the
  // folio of page 2 and zeroes bytes 100..4095 of page 1 (truncate_inode_partial_folio());
  // ext4_block_truncate_page() zeroes them on the disk too. Growing back reads zeros there.
  it("shrinking drops the pages past the end, zeroes the tail of the last page and frees the blocks past it", () => {
    const { k, file, p } = setup();
    run(file.truncate(3 * PAGE));
    const addr = run(p.mmap(3 * PAGE, { flags: MAP_SHARED, file }));
    const priv = run(p.mmap(3 * PAGE, { flags: MAP_PRIVATE, file }));
    run(p.write(addr, pattern(3 * PAGE, 5)));
    run(file.fsync());
    run(p.write(priv + 2 * PAGE, new Uint8Array([9]))); // a private copy of page 2
    expect(file.mapping.backing!.nrPages).toBe(3);
    run(file.truncate(PAGE + 100));
    expect(file.size).toBe(PAGE + 100);
    expect(file.cachedFolios).toBe(2);
    expect(file.mapping.backing!.nrPages).toBe(2);
    expectSigbus(p, addr + 2 * PAGE, (c) => c.read(addr + 2 * PAGE, 1));
    expectSigbus(p, priv + 2 * PAGE, (c) => c.read(priv + 2 * PAGE, 1));
    const kept = pattern(3 * PAGE, 5).slice(0, 2 * PAGE);
    kept.fill(0, PAGE + 100);
    expectBytes(run(p.read(addr, 2 * PAGE)), kept);
    const stored = new Uint8Array(2 * PAGE);
    file.mapping.backing!.read(0, stored);
    expectBytes(stored, kept);
    run(file.truncate(3 * PAGE));
    const grown = new Uint8Array(2 * PAGE);
    grown.set(kept.subarray(PAGE));
    expectBytes(run(p.read(addr + PAGE, 2 * PAGE)), grown);
    expectConsistent(k);
  });

  // block_write_full_folio() (fs/buffer.c) and iomap_writepage_handle_eof() (fs/iomap/
  // buffered-io.c) zero the part of a folio past i_size before writing it: what a shared mapping
  // stores past the end never reaches the file, and growing the file reads zeros there.
  it("writeback zeroes the bytes past the end in the last page: growing the file reads zeros there", () => {
    const { k, file, p } = setup();
    run(file.truncate(100));
    const addr = run(p.mmap(PAGE, { flags: MAP_SHARED, file }));
    run(p.write(addr, pattern(PAGE, 3)));
    run(file.fsync());
    const expected = pattern(PAGE, 3);
    expected.fill(0, 100);
    const stored = new Uint8Array(PAGE);
    file.mapping.backing!.read(0, stored);
    expectBytes(stored, expected);
    run(file.truncate(PAGE));
    expectBytes(run(p.read(addr, PAGE)), expected);
    expectConsistent(k);
  });

  it("EINVAL for a length that is negative or not an integer; nothing changes", () => {
    const { k, file } = setup();
    run(file.truncate(PAGE));
    for (const length of [-1, 1.5, Number.NaN, 2 ** 53])
      expectErrno(file.truncate(length), "EINVAL");
    expect(file.size).toBe(PAGE);
    expectConsistent(k);
  });
});
