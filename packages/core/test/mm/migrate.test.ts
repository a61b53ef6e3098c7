import { Effect, Fiber } from "effect";
import { describe, expect, it } from "vitest";
import {
  type BatchCopier,
  type CopyBatch,
  ERRNO,
  FOLIO_CONTENT_COPIED,
  type Kernel,
  MIGRATE_ASYNC,
  MIGRATE_REASON_NAMES,
  MIGRATE_SYNC,
  MR_COMPACTION,
  MR_DAMON,
  MR_NUMA_MISPLACED,
  MR_SYSCALL,
  migrateFoliosMcCopy,
  migratePages,
  migratePagesBatch,
  NR_MAX_MIGRATE_PAGES_RETRY,
  newMigratePagesStats,
  ptePfn,
  putbackMovablePages,
} from "../../src/index";
import { FolioList } from "../../src/lib/list";
import { folioMcCopy } from "../../src/mm/copy_mc";
import {
  boot,
  expectBytes,
  expectConsistent,
  expectErrno,
  isolateRange,
  mapPattern,
  pattern,
  run,
} from "../../src/testing/index";

const MiB = 2 ** 20;

const toNode =
  (k: Kernel, nid: number) =>
  (src: number): number =>
    k.pageAlloc.allocPages(
      nid,
      k.memmap.folioOrder(src),
      0x1 | (k.memmap.folioOrder(src) ? 0x4 : 0),
    );

/** A batch copier that copies with the default mc copy and records what it was given. */
const recordingCopier = (
  k: Kernel,
  calls: number[],
  reasons: (r: number) => boolean = () => true,
): BatchCopier => ({
  shouldBatch: reasons,
  copy: (dst, src, count) =>
    Effect.sync(() => {
      calls.push(count);
      return migrateFoliosMcCopy(k, dst, src);
    }),
});

const setup = (pages = 64, thp = false) => {
  const k = boot({ thp: { enabled: thp ? "always" : "never" } });
  const p = run(k.createProcess());
  const addr = mapPattern(p, pages * 4096, 11);
  return { k, p, addr, bytes: pages * 4096 };
};

describe("migrate_pages()", () => {
  it("returns 0 and nr_succeeded on success, with every stat, counter and byte right", async () => {
    const { k, p, addr, bytes } = setup(1024, true);
    const list = isolateRange(p, addr, bytes);
    expect(list.count()).toBe(2);
    const r = await Effect.runPromise(
      migratePages(k, list, toNode(k, 1), null, MIGRATE_ASYNC, MR_COMPACTION),
    );
    expect(r.rc).toBe(0);
    expect(r.nrSucceeded).toBe(1024);
    expect(r.stats).toEqual({
      nrSucceeded: 1024,
      nrFailedPages: 0,
      nrThpSucceeded: 2,
      nrThpFailed: 0,
      nrThpSplit: 0,
      nrSplit: 0,
    });
    expect(list.isEmpty).toBe(true);
    expect(k.vmstat.get("thp_migration_success")).toBe(2);
    expect(run(p.nodeOf(addr + MiB))).toBe(1);
    expectBytes(run(p.read(addr, bytes)), pattern(bytes, 11));
    list.release();
    expectConsistent(k);
  });

  it("leaves failed folios on the list for putback, and returns how many failed", async () => {
    const { k, p, addr, bytes } = setup(8);
    const list = isolateRange(p, addr, bytes);
    const pinned = [list.first, k.memmap.lru.next[list.first]! - 1];
    for (const pfn of pinned) k.memmap.refcount[pfn]!++;
    const errors = new Map<number, number>();
    const r = await Effect.runPromise(
      migratePages(k, list, toNode(k, 1), null, MIGRATE_SYNC, MR_SYSCALL, { errors }),
    );
    expect(r.rc).toBe(2);
    expect(r.nrSucceeded).toBe(6);
    expect([...list]).toEqual(pinned);
    expect([...errors.values()]).toEqual([-ERRNO.EAGAIN, -ERRNO.EAGAIN]);
    expect(r.stats.nrFailedPages).toBe(2);
    putbackMovablePages(k, list);
    for (const pfn of pinned) k.memmap.refcount[pfn]!--;
    expectBytes(run(p.read(addr, bytes)), pattern(bytes, 11));
    list.release();
    expectConsistent(k);
  });

  it("fails the whole call with -ENOMEM (no split) for NUMA balancing when a THP has no destination", async () => {
    const { k, p, addr, bytes } = setup(512, true);
    const frag = run(k.fragment(1, 4));
    const list = isolateRange(p, addr, bytes);
    const r = await Effect.runPromise(
      migratePages(k, list, toNode(k, 1), null, MIGRATE_ASYNC, MR_NUMA_MISPLACED),
    );
    expect(r.rc).toBe(-ERRNO.ENOMEM);
    expect(r.stats.nrThpFailed).toBe(1);
    expect(r.stats.nrThpSplit).toBe(0);
    putbackMovablePages(k, list);
    frag.release();
    list.release();
    expectBytes(run(p.read(addr, bytes)), pattern(bytes, 11));
    expectConsistent(k);
  });

  it("counts a split 64 KiB mTHP as one failure, as migrate_pages_sync() adds nr_split", async () => {
    const k = boot({ thp: { enabled: "never", sizes: { "64kB": "always" } } });
    const p = run(k.createProcess());
    const region = run(p.mmap(MiB));
    const addr = Math.ceil(region / 65536) * 65536;
    run(p.write(addr, pattern(65536, 11)));
    const list = isolateRange(p, addr, 65536);
    expect([...list].map((head) => k.memmap.folioOrder(head))).toEqual([4]);
    // No order-4 destination; order-0 destinations for the first 8 pieces only.
    let left = 8;
    const newFolio = (src: number): number =>
      k.memmap.folioOrder(src) > 0 || left-- <= 0 ? -1 : toNode(k, 1)(src);
    const before = k.vmstat.snapshot();
    const r = await Effect.runPromise(
      migratePages(k, list, newFolio, null, MIGRATE_SYNC, MR_SYSCALL),
    );
    // Linux returns 1: the split folio is one failure (nr_split), and 8 pieces are still listed.
    expect(r.rc).toBe(1);
    expect(list.count()).toBe(8);
    expect(r.stats).toEqual({
      nrSucceeded: 8,
      nrFailedPages: 1,
      nrThpSucceeded: 0,
      nrThpFailed: 0,
      nrThpSplit: 0,
      nrSplit: 1,
    });
    const after = k.vmstat.snapshot();
    const delta = (name: string) => after[name]! - before[name]!;
    expect(delta("pgmigrate_success")).toBe(8);
    expect(delta("pgmigrate_fail")).toBe(1);
    expect(delta("thp_migration_success")).toBe(0);
    expect(delta("thp_migration_fail")).toBe(0);
    expect(delta("thp_migration_split")).toBe(0);
    // __folio_split(): thp_split_page is for PMD size only; every size counts in its own stats.
    expect(delta("thp_split_page")).toBe(0);
    expect(k.thp.mthpStat(4, "split")).toBe(1);
    expect(run(k.fs.read("/sys/kernel/mm/transparent_hugepage/hugepages-64kB/stats/split"))).toBe(
      "1\n",
    );
    putbackMovablePages(k, list);
    expect(run(p.nodeOf(addr))).toBe(1);
    expect(run(p.nodeOf(addr + 65536 - 4096))).toBe(0);
    expectBytes(run(p.read(addr, 65536)), pattern(65536, 11));
    list.release();
    expectConsistent(k);
  });

  it("rejects an unknown mode or reason", () => {
    const k = boot();
    const list = new FolioList(k.memmap.lru);
    expectErrno(
      migratePages(k, list, () => -1, null, 7 as never, MR_SYSCALL),
      "EINVAL",
    );
    expectErrno(
      migratePages(k, list, () => -1, null, MIGRATE_ASYNC, 10),
      "EINVAL",
    );
  });

  it("names every reason as the kernel does", () => {
    expect(MIGRATE_REASON_NAMES).toHaveLength(MR_DAMON + 1);
    expect(MIGRATE_REASON_NAMES[MR_SYSCALL]).toBe("syscall_or_cpuset");
    expect(MIGRATE_REASON_NAMES[MR_NUMA_MISPLACED]).toBe("numa_misplaced");
  });
});

describe("migrate_pages_batch(), called directly", () => {
  it("migrates an isolated list in one batched pass, as the guide's example calls it", async () => {
    const { k, p, addr, bytes } = setup(16);
    const list = isolateRange(p, addr, bytes);
    const ret = new FolioList(k.memmap.lru);
    const stats = newMigratePagesStats();
    const failed = await Effect.runPromise(
      migratePagesBatch(
        k,
        list,
        toNode(k, 1),
        null,
        MIGRATE_ASYNC,
        MR_SYSCALL,
        ret,
        null,
        stats,
        NR_MAX_MIGRATE_PAGES_RETRY,
      ),
    );
    expect(failed).toBe(0);
    expect(stats.nrSucceeded).toBe(16);
    expect(list.isEmpty).toBe(true);
    expect(ret.isEmpty).toBe(true);
    expect(run(p.nodeOf(addr))).toBe(1);
    expectBytes(run(p.read(addr, bytes)), pattern(bytes, 11));
    list.release();
    ret.release();
    expectConsistent(k);
  });

  it("refuses a bad mode, reason, pass count or migrator before touching anything", () => {
    const { k, p, addr, bytes } = setup(4);
    const list = isolateRange(p, addr, bytes);
    const ret = new FolioList(k.memmap.lru);
    const call = (mode: number, reason: number, nrPass: number, migrator?: string) =>
      Effect.runSync(
        Effect.flip(
          migratePagesBatch(
            k,
            list,
            toNode(k, 1),
            null,
            mode as never,
            reason as never,
            ret,
            null,
            newMigratePagesStats(),
            nrPass,
            { migrator },
          ),
        ),
      );
    expect(call(7, MR_SYSCALL, 1).errno).toBe("EINVAL");
    expect(call(MIGRATE_ASYNC, 99, 1).errno).toBe("EINVAL");
    expect(call(MIGRATE_ASYNC, MR_SYSCALL, 0).errno).toBe("EINVAL");
    expect(call(MIGRATE_ASYNC, MR_SYSCALL, 1, "nope").errno).toBe("EINVAL");
    expect(list.count()).toBe(4);
    expect(run(p.nodeOf(addr))).toBe(0);
    putbackMovablePages(k, list);
    list.release();
    ret.release();
    expectConsistent(k);
  });
});

describe("the batch-copy path", () => {
  it("hands offloadCopy and batchDone the very batch object shouldBatch was asked about", async () => {
    const { k, p, addr, bytes } = setup(8);
    const seen: { should: CopyBatch[]; copy: Array<CopyBatch | undefined>; done: CopyBatch[] } = {
      should: [],
      copy: [],
      done: [],
    };
    run(
      k.migrateOffload.register({
        name: "same-batch",
        owner: null,
        shouldBatch: (_reason, batch) => {
          if (batch) seen.should.push(batch);
          return true;
        },
        offloadCopy: (dst, src, _count, batch) =>
          Effect.sync(() => {
            seen.copy.push(batch);
            return migrateFoliosMcCopy(k, dst, src);
          }),
        batchDone: (outcome) => {
          seen.done.push(outcome.batch);
        },
      }),
    );
    const list = isolateRange(p, addr, bytes);
    const r = await Effect.runPromise(
      migratePages(k, list, toNode(k, 1), null, MIGRATE_ASYNC, MR_COMPACTION),
    );
    expect(r.rc).toBe(0);
    expect(seen.should).toHaveLength(1);
    expect(seen.copy[0]).toBe(seen.should[0]);
    expect(seen.done[0]).toBe(seen.should[0]);
    list.release();
    expectConsistent(k);
  });

  it("with no copier installed, batches nothing", async () => {
    const { k, p, addr, bytes } = setup(16);
    expect(k.migrateOffload.copier).toBeNull();
    const list = isolateRange(p, addr, bytes);
    const r = await Effect.runPromise(
      migratePages(k, list, toNode(k, 1), null, MIGRATE_ASYNC, MR_COMPACTION),
    );
    expect(r.rc).toBe(0);
    list.release();
  });

  it("offers eligible folios to the copier in batches of at most NR_MAX_BATCHED_MIGRATION pages, and skips their copy", async () => {
    const { k, p, addr, bytes } = setup(100);
    const calls: number[] = [];
    k.migrateOffload.installCopier(recordingCopier(k, calls));
    k.nrMaxBatchedMigration = 32;
    const list = isolateRange(p, addr, bytes);
    const r = await Effect.runPromise(
      migratePages(k, list, toNode(k, 1), null, MIGRATE_ASYNC, MR_COMPACTION),
    );
    expect(r.rc).toBe(0);
    expect(calls).toEqual([32, 32, 32, 4]);
    expectBytes(run(p.read(addr, bytes)), pattern(bytes, 11));
    for (let i = 0; i < 100; i++)
      expect(k.folio(ptePfn(p.mm!.vmas[0]!.ptes[i]!)).test(FOLIO_CONTENT_COPIED)).toBe(false);
    list.release();
    expectConsistent(k);
  });

  it("batches only the reasons the copier accepts, and never pinned or movable_ops folios", async () => {
    const { k, p, addr, bytes } = setup(8);
    const calls: number[] = [];
    k.migrateOffload.installCopier(recordingCopier(k, calls, (reason) => reason === MR_COMPACTION));
    let list = isolateRange(p, addr, bytes);
    await Effect.runPromise(migratePages(k, list, toNode(k, 1), null, MIGRATE_ASYNC, MR_SYSCALL));
    expect(calls).toEqual([]);
    list.release();
    list = isolateRange(p, addr, bytes);
    k.memmap.refcount[list.first]!++;
    const pinned = list.first;
    await Effect.runPromise(
      migratePages(k, list, toNode(k, 0), null, MIGRATE_ASYNC, MR_COMPACTION),
    );
    expect(calls).toEqual([7]);
    k.memmap.refcount[pinned]!--;
    putbackMovablePages(k, list);
    list.release();
    expectConsistent(k);
  });

  it("falls back per folio for destinations the copier left unmarked", async () => {
    const { k, p, addr, bytes } = setup(10);
    let offered = 0;
    k.migrateOffload.installCopier({
      shouldBatch: () => true,
      // Copies and marks every other folio only.
      copy: (dst, src, count) =>
        Effect.sync(() => {
          offered = count;
          let d = dst.first;
          let i = 0;
          for (const s of src) {
            if (i++ % 2 === 0 && folioMcCopy(k, d, s) === 0) k.memmap.set(d, FOLIO_CONTENT_COPIED);
            d = k.memmap.lru.next[d]! - 1;
          }
          return -ERRNO.EIO;
        }),
    });
    const list = isolateRange(p, addr, bytes);
    const r = await Effect.runPromise(
      migratePages(k, list, toNode(k, 1), null, MIGRATE_ASYNC, MR_COMPACTION),
    );
    expect(offered).toBe(10);
    expect(r.rc).toBe(0);
    expectBytes(run(p.read(addr, bytes)), pattern(bytes, 11));
    list.release();
    expectConsistent(k);
  });

  it("consumes the marker on first read, so an -EAGAIN retry copies afresh", async () => {
    const { k, p, addr } = setup(1);
    const src = ptePfn(p.mm!.vmas[0]!.ptes[0]!);
    let dstSeen = -1;
    k.migrateOffload.installCopier({
      shouldBatch: () => true,
      // Marks the destination without copying, then a pin appears before the move phase.
      copy: (dst) =>
        Effect.sync(() => {
          dstSeen = dst.first;
          k.memmap.set(dst.first, FOLIO_CONTENT_COPIED);
          k.memmap.refcount[src]!++;
          return 0;
        }),
    });
    const list = isolateRange(p, addr, 4096);
    const r = await Effect.runPromise(
      migratePages(k, list, toNode(k, 1), null, MIGRATE_ASYNC, MR_COMPACTION),
    );
    expect(r.rc).toBe(1);
    expect(k.memmap.test(dstSeen, FOLIO_CONTENT_COPIED)).toBe(false);
    k.memmap.refcount[src]!--;
    k.migrateOffload.installCopier(null);
    const r2 = await Effect.runPromise(
      migratePages(k, list, toNode(k, 1), null, MIGRATE_ASYNC, MR_COMPACTION),
    );
    expect(r2.rc).toBe(0);
    expectBytes(run(p.read(addr, 4096)), pattern(4096, 11));
    list.release();
    expectConsistent(k);
  });
});

describe("concurrency", () => {
  it("accesses during an asynchronous copy wait, and land in the new folio after it", async () => {
    const { k, p, addr, bytes } = setup(32);
    let release: () => void = () => {};
    k.migrateOffload.installCopier({
      shouldBatch: () => true,
      copy: (dst, src) =>
        Effect.callback<number>((resume) => {
          release = () => resume(Effect.succeed(migrateFoliosMcCopy(k, dst, src)));
        }),
    });
    const list = isolateRange(p, addr, bytes);
    const migration = Effect.runFork(
      migratePages(k, list, toNode(k, 1), null, MIGRATE_ASYNC, MR_COMPACTION),
    );
    await Effect.runPromise(Effect.yieldNow);
    const writer = Effect.runFork(p.write(addr + 5 * 4096, new Uint8Array([0xee])));
    const reader = Effect.runFork(p.read(addr + 9 * 4096, 4));
    await Effect.runPromise(Effect.yieldNow);
    expect(writer.pollUnsafe()).toBeUndefined();
    release();
    const r = await Effect.runPromise(Fiber.join(migration));
    await Effect.runPromise(Fiber.join(writer));
    expect(await Effect.runPromise(Fiber.join(reader))).toEqual(
      pattern(bytes, 11).subarray(9 * 4096, 9 * 4096 + 4),
    );
    expect(r.rc).toBe(0);
    const expected = pattern(bytes, 11);
    expected[5 * 4096] = 0xee;
    expectBytes(run(p.read(addr, bytes)), expected);
    expect(run(p.nodeOf(addr + 5 * 4096))).toBe(1);
    list.release();
    expectConsistent(k);
  });

  it("keeps every write while readers and writers hammer memory during ping-pong migration (selftests/mm/migration.c)", async () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    // Fewer pages than TLB entries, so that translations stay cached between rounds.
    const pages = 24;
    const addr = run(p.mmap(pages * 4096, { hugepage: false }));
    const thp = run(p.mmap(2 * MiB));
    run(p.write(addr, new Uint8Array(pages * 4096)));
    run(p.write(thp, new Uint8Array(8)));
    k.migrateOffload.installCopier({
      shouldBatch: () => true,
      copy: (dst, src) => Effect.yieldNow.pipe(Effect.map(() => migrateFoliosMcCopy(k, dst, src))),
    });
    const counters = new Uint32Array(pages + 1);
    const rounds = 40;
    const writer = Effect.gen(function* () {
      for (let round = 1; round <= rounds; round++) {
        for (let i = 0; i <= pages; i++) {
          const at = i < pages ? addr + i * 4096 + round * 4 : thp + round * 4096;
          yield* p.write(at, new Uint8Array(new Uint32Array([round * 1000 + i]).buffer));
          counters[i] = round;
          yield* Effect.yieldNow;
        }
      }
    });
    const reader = Effect.gen(function* () {
      for (let round = 0; round < rounds * 4; round++) {
        const i = round % pages;
        // Each round writes its own 4 bytes; a completed round's value never changes again.
        const seen = counters[i]!;
        const bytes = yield* p.read(addr + i * 4096 + seen * 4, 4);
        const v = new Uint32Array(bytes.slice().buffer)[0]!;
        if (seen > 0 && v !== seen * 1000 + i)
          return yield* Effect.die(new Error(`page ${i} round ${seen} read ${v}`));
        yield* Effect.yieldNow;
      }
    });
    const migrator = Effect.gen(function* () {
      let moves = 0;
      for (let round = 0; round < 12; round++) {
        const target = round % 2 === 0 ? 1 : 0;
        const addrs = [...Array.from({ length: pages }, (_, i) => addr + i * 4096), thp];
        const r = yield* p.movePages(
          0,
          addrs,
          addrs.map(() => target),
        );
        moves += [...r.status].filter((s) => s === target).length;
        yield* Effect.yieldNow;
      }
      return moves;
    });
    const [, , moves] = await Effect.runPromise(
      Effect.all([writer, reader, migrator], { concurrency: "unbounded" }),
    );
    expect(moves).toBeGreaterThan(pages * 6);
    for (let i = 0; i < pages; i++) {
      const bytes = run(p.read(addr + i * 4096 + rounds * 4, 4));
      expect(new Uint32Array(bytes.slice().buffer)[0]).toBe(rounds * 1000 + i);
    }
    expectConsistent(k);
  });

  it("keeps several migrate_pages() calls in flight on one kernel correct", async () => {
    const { k, p, addr, bytes } = setup(64);
    k.migrateOffload.installCopier({
      shouldBatch: () => true,
      copy: (dst, src) => Effect.yieldNow.pipe(Effect.map(() => migrateFoliosMcCopy(k, dst, src))),
    });
    const half = bytes / 2;
    const a = isolateRange(p, addr, half);
    const b = isolateRange(p, addr + half, half);
    const [ra, rb] = await Effect.runPromise(
      Effect.all(
        [
          migratePages(k, a, toNode(k, 1), null, MIGRATE_ASYNC, MR_COMPACTION),
          migratePages(k, b, toNode(k, 1), null, MIGRATE_SYNC, MR_SYSCALL),
        ],
        { concurrency: "unbounded" },
      ),
    );
    expect([ra.rc, rb.rc]).toEqual([0, 0]);
    expectBytes(run(p.read(addr, bytes)), pattern(bytes, 11));
    a.release();
    b.release();
    expectConsistent(k);
  });
});
