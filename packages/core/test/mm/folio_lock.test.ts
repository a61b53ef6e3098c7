// The users of a folio's lock against each other (Linux 6.16): folio_lock() (mm/filemap.c)
// sleeps uninterruptibly (TASK_UNINTERRUPTIBLE) and hands the lock over in the order the lockers
// slept (wake_page_function()). truncate_inode_pages_range()'s second loop (mm/truncate.c) holds
// a reference on each folio it waits for (find_get_entries()) and runs to its end, dropping every
// folio, whatever signal comes; memory_failure() and soft_offline_page() (mm/memory-failure.c)
// sleep there too, holding get_hwpoison_page()'s / get_any_page()'s reference.
import { Effect, Fiber } from "effect";
import { describe, expect, it } from "vitest";
import {
  type Kernel,
  MAP_SHARED,
  MF_SW_SIMULATED,
  PG_hwpoison,
  PG_locked,
  type TraceEvent,
} from "../../src/index";
import { folioTrylock, folioUnlock } from "../../src/mm/filemap";
import { boot, expectConsistent, pattern, run, runP } from "../../src/testing/index";

const PAGE = 4096;

const settle = async () => {
  for (let i = 0; i < 5; i++) await runP(Effect.yieldNow);
};

/** A file of two written pages, written back and unmapped: its page cache alone holds them. */
const cachedFile = () => {
  const k = boot({ nodes: ["16M", "16M"] });
  const file = run(k.createFile("data"));
  const p = run(k.createProcess({ node: 0 }));
  run(file.truncate(2 * PAGE));
  const addr = run(p.mmap(2 * PAGE, { flags: MAP_SHARED, file }));
  run(p.write(addr, pattern(2 * PAGE, 4)));
  run(file.fsync());
  run(p.munmap(addr, 2 * PAGE));
  const free = k.pageAlloc.totalFreePages();
  const [src, other] = [file.folioAt(0)!.pfn, file.folioAt(1)!.pfn];
  return { k, file, free, src: src!, other: other! };
};

/** The memory_failure_event trace events of `k` from now on. */
const failureEvents = (k: Kernel): TraceEvent[] => {
  const seen: TraceEvent[] = [];
  k.trace.subscribe((e) => {
    if (e.event === "memory_failure_event") seen.push(e);
  });
  return seen;
};

type Cached = ReturnType<typeof cachedFile>;

/**
 * Starts `call` while another task holds `src` locked, interrupts it once it sleeps on the page,
 * and checks that the interrupt cannot reach it; then unlocks the page and waits for the
 * interrupted call's end.
 */
const interruptAsleep = async (
  { k, src }: Cached,
  call: Effect.Effect<unknown, unknown>,
  refcount: number,
) => {
  expect(folioTrylock(k, src)).toBe(true);
  const sleeper = Effect.runFork(call);
  await settle();
  expect(k.memmap.refcount[src]).toBe(refcount);
  const interrupted = Effect.runFork(Fiber.interrupt(sleeper));
  await settle();
  // Still asleep: the interrupt cannot reach it.
  expect(interrupted.pollUnsafe()).toBeUndefined();
  folioUnlock(k, src);
  await runP(Fiber.join(interrupted));
};

/**
 * `src` poisoned, unlocked and out of the file; the file then truncates, freeing its other page
 * and never the poisoned one.
 */
const expectPoisonedGone = ({ k, file, free, src }: Cached): void => {
  expect(k.memmap.test(src, PG_locked)).toBe(false);
  expect(k.memmap.test(src, PG_hwpoison)).toBe(true);
  expect(k.folioWaiters.waiting(src)).toBe(0);
  expect(file.folioAt(0)).toBeNull();
  run(file.truncate());
  expect(k.pageAlloc.totalFreePages()).toBe(free + 1);
  expectConsistent(k);
};

describe("truncate_pagecache() and the folio lock", () => {
  // The sleep in folio_lock() is TASK_UNINTERRUPTIBLE and truncate_inode_pages_range() has no
  // way out of its second loop: an interrupt waits until the truncation is done. Every folio is
  // dropped and freed, the lock handed to the truncation is released, and its reference put.
  it("an interrupt of a truncation asleep in folio_lock() waits for its end: nothing leaked", async () => {
    const cached = cachedFile();
    const { k, file, free, src } = cached;
    await interruptAsleep(cached, file.truncate(), 2);
    expect(file.cachedFolios).toBe(0);
    expect(file.mapping.backing!.nrPages).toBe(0);
    expect(k.memmap.test(src, PG_locked)).toBe(false);
    expect(k.memmap.refcount[src]).toBe(0);
    expect(k.folioWaiters.waiting(src)).toBe(0);
    expect(k.pageAlloc.totalFreePages()).toBe(free + 2);
    expectConsistent(k);
  });
});

describe("two truncations of one file", () => {
  // Both sleep in folio_lock() on the locked folio, each holding find_get_entries()'s reference
  // (refcount 3 with the page cache's). The unlock hands the lock to the first, which drops the
  // folio from the cache; its unlock hands it to the second, which finds the folio no longer the
  // file's (truncate_inode_folio(): -EIO, ignored) and only puts its reference: the page is freed
  // once, and both return.
  it("two truncations asleep on one folio: the first drops it, the second finds it gone; freed once", async () => {
    const { k, file, free, src } = cachedFile();
    expect(folioTrylock(k, src)).toBe(true);
    const first = Effect.runFork(file.truncate());
    await settle();
    const second = Effect.runFork(file.truncate());
    await settle();
    expect(k.folioWaiters.waiting(src)).toBe(2);
    expect(k.memmap.refcount[src]).toBe(3);
    folioUnlock(k, src);
    await runP(Fiber.join(first));
    await runP(Fiber.join(second));
    expect(file.cachedFolios).toBe(0);
    expect(k.memmap.refcount[src]).toBe(0);
    expect(k.memmap.test(src, PG_locked)).toBe(false);
    expect(k.folioWaiters.waiting(src)).toBe(0);
    expect(k.pageAlloc.totalFreePages()).toBe(free + 2);
    expectConsistent(k);
  });
});

describe("memory_failure() and soft_offline_page() asleep in folio_lock()", () => {
  // memory_failure() sleeps in folio_lock() (TASK_UNINTERRUPTIBLE) holding get_hwpoison_page()'s
  // reference: an interrupt waits for its end. The clean, unmapped page-cache page is dropped from
  // its file (me_pagecache_clean(): MF_MSG_CLEAN_LRU, MF_RECOVERED) and never freed; the lock is
  // free, and the file truncates.
  it("an interrupt of memory_failure() asleep in folio_lock() waits for its end: MF_RECOVERED, nothing leaked", async () => {
    const cached = cachedFile();
    const seen = failureEvents(cached.k);
    await interruptAsleep(cached, cached.k.memoryFailure(cached.src), 2);
    expect(seen).toEqual([
      {
        event: "memory_failure_event",
        pfn: cached.src,
        type: "MF_MSG_CLEAN_LRU",
        result: "MF_RECOVERED",
      },
    ]);
    expectPoisonedGone(cached);
  });

  // soft_offline_in_use_page() sleeps in folio_lock() (TASK_UNINTERRUPTIBLE) holding
  // get_any_page()'s reference: an interrupt waits for its end. The clean, unmapped page-cache
  // page is invalidated (mapping_evict_folio(), "invalidated") and poisoned with one reference
  // held for good (page_handle_poison()); the other page truncates and is freed.
  it("an interrupt of soft_offline_page() asleep on a locked page waits for its end: invalidated, nothing leaked", async () => {
    const cached = cachedFile();
    await interruptAsleep(cached, cached.k.softOfflinePage(cached.src), 2);
    expect(cached.k.memmap.refcount[cached.src]).toBe(1);
    expectPoisonedGone(cached);
  });
});

// soft_offline_in_use_page() (mm/memory-failure.c, Linux 6.16) sleeps in folio_lock() holding
// get_any_page()'s reference, as truncate_inode_pages_range()'s second loop (mm/truncate.c) does
// holding find_get_entries()'s: the unlock hands the lock to whichever slept first
// (wake_page_function()). Soft offline first: it finds the truncation's reference, so
// mapping_evict_folio() declines (refcount 3 > 2), and its unlock hands the lock to the
// truncation, which drops the folio from the file; the soft offline's migration (MIGRATE_SYNC,
// MR_MEMORY_FAILURE) then finds only its isolation reference ("Folio was freed from under us"),
// which counts as migrated, and page_handle_poison() keeps the page: 0. Truncation first: it
// drops the folio before the soft offline runs, which migrates it the same way. Either way the
// page ends poisoned with the one reference held for good, and the file's other page is freed.
describe("soft_offline_page() and a truncation asleep on one folio's lock", () => {
  it.each([
    { first: "soft offline", cachedAtMigration: null },
    { first: "truncation", cachedAtMigration: 0 },
  ])(
    "they take the lock in the order they slept: $first first; the soft offline succeeds (0), the page poisoned",
    async ({ first, cachedAtMigration }) => {
      const cached = cachedFile();
      const { k, file, src } = cached;
      const atMigration: number[] = [];
      const succeeded: number[] = [];
      k.trace.subscribe((e) => {
        if (e.event === "mm_migrate_pages_start") atMigration.push(file.cachedFolios);
        if (e.event === "mm_migrate_pages") succeeded.push(e.succeeded);
      });
      expect(folioTrylock(k, src)).toBe(true);
      const offline = () => Effect.runFork(k.softOfflinePage(src));
      const early = first === "soft offline" ? offline() : null;
      await settle();
      const truncation = Effect.runFork(file.truncate());
      await settle();
      const late = early ?? offline();
      await settle();
      expect(k.folioWaiters.waiting(src)).toBe(2);
      // The page cache's reference, get_any_page()'s and the truncation's.
      expect(k.memmap.refcount[src]).toBe(3);
      folioUnlock(k, src);
      await runP(Fiber.join(late));
      await runP(Fiber.join(truncation));
      // Handed the lock second, the soft offline migrates a folio the file no longer holds (the
      // other page's went in the truncation's first pass). Handed it first, it starts migrating
      // while the truncation, handed the lock by its unlock, may or may not have run.
      expect(atMigration).toHaveLength(1);
      if (cachedAtMigration !== null) expect(atMigration).toEqual([cachedAtMigration]);
      expect(succeeded).toEqual([1]);
      expect(k.vmstat.get("pgmigrate_success")).toBe(1);
      expect(k.vmstat.get("pgmigrate_fail")).toBe(0);
      expect(k.numPoisonedPages).toBe(1);
      expect(k.memmap.refcount[src]).toBe(1);
      expect(file.cachedFolios).toBe(0);
      expectPoisonedGone(cached);
    },
  );
});

// memory_failure() and soft_offline_page() (mm/memory-failure.c, Linux 6.16) each run under
// mf_mutex, which they hold while they sleep in folio_lock(): the second to come waits for the
// first to end, and marks nothing meanwhile (TestSetPageHWPoison() comes after mutex_lock()).
describe("mf_mutex: memory_failure() and soft_offline_page() on one locked page", () => {
  // Soft offline first: it takes the lock once unlocked, invalidates the clean, unmapped
  // page-cache page (mapping_evict_folio(): "invalidated") and poisons it; memory_failure() then
  // finds it poisoned: MF_MSG_ALREADY_POISONED, MF_FAILED, EHWPOISON.
  it("soft offline first: it invalidates the page, memory_failure() finds it poisoned (EHWPOISON)", async () => {
    const cached = cachedFile();
    const { k, src } = cached;
    const seen = failureEvents(k);
    expect(folioTrylock(k, src)).toBe(true);
    const offline = Effect.runFork(k.softOfflinePage(src));
    await settle();
    const failure = Effect.runFork(Effect.exit(k.memoryFailure(src)));
    await settle();
    // memory_failure() waits for mf_mutex, not for the folio: nothing marked yet.
    expect(k.folioWaiters.waiting(src)).toBe(1);
    expect(k.memmap.test(src, PG_hwpoison)).toBe(false);
    expect(seen).toEqual([]);
    folioUnlock(k, src);
    await runP(Fiber.join(offline));
    const exit = await runP(Fiber.join(failure));
    expect(exit._tag).toBe("Failure");
    expect(JSON.stringify(exit)).toContain("EHWPOISON");
    expect(seen).toEqual([
      {
        event: "memory_failure_event",
        pfn: src,
        type: "MF_MSG_ALREADY_POISONED",
        result: "MF_FAILED",
      },
    ]);
    expect(k.memmap.refcount[src]).toBe(1);
    expectPoisonedGone(cached);
  });

  // unpoison_memory() (mm/memory-failure.c, Linux 6.16) takes mf_mutex past its pfn_valid()
  // check: while a soft offline sleeps in folio_lock() holding it, an unpoison of another page
  // (a free page memory_failure() took off the buddy lists, MF_MSG_BUDDY) waits, and clears the
  // mark only once the soft offline is done; the page then goes back to the allocator
  // (put_page_back_buddy()).
  it("unpoison_memory() waits for mf_mutex while a soft offline sleeps in folio_lock()", async () => {
    const cached = cachedFile();
    const { k, src } = cached;
    const zone = k.pageAlloc.zones.find((z) => z.nid === 1 && z.presentPages > 0)!;
    const freePfn = zone.startPfn + 1000;
    run(k.memoryFailure(freePfn, MF_SW_SIMULATED));
    const nodeFree = k.pageAlloc.nodeFreePages(1);
    expect(folioTrylock(k, src)).toBe(true);
    const offline = Effect.runFork(k.softOfflinePage(src));
    await settle();
    const unpoison = Effect.runFork(k.unpoisonMemory(freePfn));
    await settle();
    expect(unpoison.pollUnsafe()).toBeUndefined();
    expect(k.memmap.test(freePfn, PG_hwpoison)).toBe(true);
    expect(k.numPoisonedPages).toBe(1);
    folioUnlock(k, src);
    await runP(Fiber.join(offline));
    await runP(Fiber.join(unpoison));
    expect(k.memmap.test(freePfn, PG_hwpoison)).toBe(false);
    expect(k.pageAlloc.nodeFreePages(1)).toBe(nodeFree + 1);
    // The soft-offlined page stays poisoned and counted.
    expect(k.numPoisonedPages).toBe(1);
    expect(k.memmap.refcount[src]).toBe(1);
    expectPoisonedGone(cached);
  });

  // memory_failure() first: it drops the clean page-cache page (MF_MSG_CLEAN_LRU, MF_RECOVERED);
  // soft_offline_page() then finds it poisoned ("page already poisoned") and succeeds.
  it("memory_failure() first: MF_RECOVERED, then soft offline finds the page poisoned and succeeds", async () => {
    const cached = cachedFile();
    const { k, src } = cached;
    const seen = failureEvents(k);
    expect(folioTrylock(k, src)).toBe(true);
    const failure = Effect.runFork(k.memoryFailure(src));
    await settle();
    const offline = Effect.runFork(k.softOfflinePage(src));
    await settle();
    expect(k.folioWaiters.waiting(src)).toBe(1);
    folioUnlock(k, src);
    await runP(Fiber.join(failure));
    await runP(Fiber.join(offline));
    expect(seen).toEqual([
      { event: "memory_failure_event", pfn: src, type: "MF_MSG_CLEAN_LRU", result: "MF_RECOVERED" },
    ]);
    expectPoisonedGone(cached);
  });
});
