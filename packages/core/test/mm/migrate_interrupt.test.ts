// A migration interrupted where it suspends: the writeback wait and the folio_lock() sleep of
// MIGRATE_SYNC (migrate_folio_unmap(), unmap_and_move_huge_page(), mm/migrate.c, Linux 6.16), and
// a migrator's batch copy. Whatever it held across the wait (the source's lock, the destination
// allocated first) is given back, and every folio it had unmapped is restored and left on the
// caller's list, as migrate_folio_undo_src() / migrate_folio_undo_dst() / migrate_folios_undo()
// do for a folio that is not migrated. The sleeps themselves are uninterruptible on Linux
// (folio_lock() and folio_wait_writeback() sleep in TASK_UNINTERRUPTIBLE, the copy engines wait
// with wait_for_completion()), so the interruption takes effect once the lock is handed over or
// the copy is over, never in the middle.
import { Effect, Exit, Fiber } from "effect";
import { describe, expect, it } from "vitest";
import {
  allocMigrationTarget,
  type BatchOutcome,
  FolioList,
  isolateFolioToList,
  type Kernel,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MIGRATE_ASYNC,
  MIGRATE_SYNC,
  MR_COMPACTION,
  MR_SYSCALL,
  migratePages,
  migratePagesBatch,
  NR_MAX_MIGRATE_PAGES_RETRY,
  newMigratePagesStats,
  PG_locked,
  PG_writeback,
  putbackMovablePages,
  type Task,
} from "../../src/index";
import { folioEndWriteback, folioLock, folioTrylock, folioUnlock } from "../../src/mm/filemap";
import {
  boot,
  expectConsistent,
  folioAt,
  gatedMigrator,
  isolateRange,
  mapPattern,
  pattern,
  patternIntact,
  run,
  runP,
  waitUntil,
} from "../../src/testing/index";

const PAGE = 4096;
const MiB = 2 ** 20;

const setup = (pages: number) => {
  const k = boot();
  const p = run(k.createProcess());
  const addr = mapPattern(p, pages * PAGE, 5);
  const pfns = Array.from({ length: pages }, (_, i) => folioAt(p, addr + i * PAGE).pfn);
  return { k, p, addr, pfns };
};

/** Nothing locked, on a wait queue or left unmapped; every page where it was, on node 0. */
const expectUntouched = (k: Kernel, p: Task, addr: number, pfns: number[]): void => {
  pfns.forEach((pfn, i) => {
    expect(k.memmap.test(pfn, PG_locked)).toBe(false);
    expect(k.folioWaiters.waiting(pfn)).toBe(0);
    expect(folioAt(p, addr + i * PAGE).pfn).toBe(pfn);
  });
  expect(run(p.nodeOf(addr))).toBe(0);
  expect(patternIntact(p, addr, pfns.length * PAGE, 5)).toBe(true);
  expectConsistent(k);
};

/** Interrupts `fiber` and waits until the interruption has taken effect. */
const interrupt = <A, E>(fiber: Fiber.Fiber<A, E>): Promise<Exit.Exit<A, E>> =>
  runP(Effect.andThen(Fiber.interrupt(fiber), Fiber.await(fiber)));

describe("an interrupted migration gives back what it holds (migrate_folio_undo_src/dst)", () => {
  it("at the MIGRATE_SYNC writeback wait: the source's lock and destination are given back, the folios it had unmapped restored", async () => {
    const { k, p, addr, pfns } = setup(4);
    // The third folio is under writeback: the pass unmaps the first two, then waits holding the
    // third's lock and its destination (folio_wait_writeback() in migrate_folio_unmap()).
    k.memmap.set(pfns[2]!, PG_writeback);
    const free = k.pageAlloc.totalFreePages();
    const list = isolateRange(p, addr, 4 * PAGE);
    const ret = new FolioList(k.memmap.lru);
    const stats = newMigratePagesStats();
    const fiber = Effect.runFork(
      migratePagesBatch(
        k,
        list,
        allocMigrationTarget(k, 1),
        null,
        MIGRATE_SYNC,
        MR_SYSCALL,
        ret,
        null,
        stats,
        NR_MAX_MIGRATE_PAGES_RETRY,
      ),
    );
    await runP(waitUntil(() => k.folioWaiters.waiting(pfns[2]!) === 1));
    expect(k.memmap.test(pfns[0]!, PG_locked)).toBe(true);
    expect(k.pageAlloc.totalFreePages()).toBe(free - 3);
    expect(Exit.hasInterrupts(await interrupt(fiber))).toBe(true);
    // The unmapped folios went to `ret`, the one waited for stayed on `from`; none migrated.
    expect([...ret]).toEqual([pfns[0], pfns[1]]);
    expect([...list]).toEqual([pfns[2], pfns[3]]);
    expect(stats.nrSucceeded).toBe(0);
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    list.spliceTail(ret);
    putbackMovablePages(k, list);
    list.release();
    ret.release();
    folioEndWriteback(k, pfns[2]!);
    expectUntouched(k, p, addr, pfns);
  });

  it("at the folio_lock() sleep: the lock handed over is passed on to the next locker, nothing leaks", async () => {
    const { k, p, addr, pfns } = setup(2);
    const free = k.pageAlloc.totalFreePages();
    expect(folioTrylock(k, pfns[1]!)).toBe(true);
    const list = isolateRange(p, addr, 2 * PAGE);
    // migrate_pages() in MIGRATE_SYNC: the asynchronous first batch moves the unlocked folio,
    // the synchronous retry sleeps in folio_lock() for the other.
    const fiber = Effect.runFork(
      migratePages(k, list, allocMigrationTarget(k, 1), null, MIGRATE_SYNC, MR_SYSCALL),
    );
    await runP(waitUntil(() => k.folioWaiters.waiting(pfns[1]!) === 1));
    // Another locker queues behind it.
    const next = Effect.runFork(folioLock(k, pfns[1]!));
    const stopped = interrupt(fiber);
    await runP(Effect.yieldNow);
    // folio_lock() sleeps uninterruptibly: the call waits for the lock first.
    expect(fiber.pollUnsafe()).toBeUndefined();
    folioUnlock(k, pfns[1]!);
    expect(Exit.hasInterrupts(await stopped)).toBe(true);
    // The interrupted migration unlocked it at once: the next locker has it.
    await runP(Fiber.join(next));
    expect(k.memmap.test(pfns[1]!, PG_locked)).toBe(true);
    folioUnlock(k, pfns[1]!);
    // The first folio moved to node 1; the second is back on the caller's list, untouched.
    expect(run(p.nodeOf(addr))).toBe(1);
    expect([...list]).toEqual([pfns[1]]);
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    putbackMovablePages(k, list);
    list.release();
    expect(folioAt(p, addr + PAGE).pfn).toBe(pfns[1]);
    expect(k.folioWaiters.waiting(pfns[1]!)).toBe(0);
    expect(patternIntact(p, addr, 2 * PAGE, 5)).toBe(true);
    expectConsistent(k);
  });

  it("during a migrator's batch copy: the copy ends first, then the batch is undone, not moved", async () => {
    const { k, p, addr, pfns } = setup(8);
    const gated = gatedMigrator(k, run(k.loadModule({ name: "gated" })));
    const outcomes: BatchOutcome[] = [];
    run(
      k.migrateOffload.register({
        ...gated.migrator,
        batchDone: (outcome) => {
          outcomes.push(outcome);
        },
      }),
    );
    const free = k.pageAlloc.totalFreePages();
    const list = isolateRange(p, addr, 8 * PAGE);
    const fiber = Effect.runFork(
      migratePages(k, list, allocMigrationTarget(k, 1), null, MIGRATE_ASYNC, MR_COMPACTION),
    );
    await runP(waitUntil(gated.copying));
    const stopped = interrupt(fiber);
    for (let i = 0; i < 3; i++) await runP(Effect.yieldNow);
    // A copy engine may still be writing the destinations: they are not freed under it.
    expect(fiber.pollUnsafe()).toBeUndefined();
    expect(k.memmap.test(pfns[0]!, PG_locked)).toBe(true);
    gated.open();
    expect(Exit.hasInterrupts(await stopped)).toBe(true);
    // The migrator hears the batch ended interrupted, its folios undone: the interruption took
    // effect as the copy ended, before its result was taken, so the copy counts for nothing.
    expect(outcomes.map((o) => [o.batched, o.copied, o.interrupted])).toEqual([
      [true, false, true],
    ]);
    expect([...list]).toEqual(pfns);
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    putbackMovablePages(k, list);
    list.release();
    expectUntouched(k, p, addr, pfns);
  });

  it("at unmap_and_move_huge_page()'s folio_lock(): the hugetlb folio and its temporary destination go back", async () => {
    const k = boot();
    run(k.fs.write("/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages", "1"));
    const p = run(k.createProcess());
    const addr = run(p.mmap(2 * MiB, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
    run(p.write(addr, pattern(2 * MiB, 7)));
    const src = folioAt(p, addr).pfn;
    const free = k.pageAlloc.totalFreePages();
    expect(folioTrylock(k, src)).toBe(true);
    const list = new FolioList(k.memmap.lru);
    expect(isolateFolioToList(k, src, list)).toBe(true);
    const fiber = Effect.runFork(
      migratePages(k, list, allocMigrationTarget(k, 1), null, MIGRATE_SYNC, MR_SYSCALL),
    );
    // Three passes of -EAGAIN, then the forced pass sleeps in folio_lock() holding the
    // destination, a temporary huge page on node 1 (alloc_migrate_hugetlb_folio()).
    await runP(waitUntil(() => k.folioWaiters.waiting(src) === 1));
    expect(k.pageAlloc.totalFreePages()).toBe(free - 512);
    const stopped = interrupt(fiber);
    folioUnlock(k, src);
    expect(Exit.hasInterrupts(await stopped)).toBe(true);
    expect([...list]).toEqual([src]);
    expect(k.memmap.test(src, PG_locked)).toBe(false);
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    putbackMovablePages(k, list);
    list.release();
    expect(folioAt(p, addr).pfn).toBe(src);
    expect(patternIntact(p, addr, 2 * MiB, 7)).toBe(true);
    expectConsistent(k);
  });
});
