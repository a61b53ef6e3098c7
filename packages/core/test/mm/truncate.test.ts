// truncate_pagecache() and truncate_inode_pages_range() (mm/truncate.c, Linux 6.16) against the
// other users of a folio's lock: folio_lock() (mm/filemap.c) sleeps uninterruptibly
// (TASK_UNINTERRUPTIBLE) and hands the lock over in the order the lockers slept
// (wake_page_function()); the truncation's second loop holds a reference on each folio it waits
// for (find_get_entries()) and runs to its end, dropping every folio, whatever signal comes.
import { Effect, Fiber } from "effect";
import { describe, expect, it } from "vitest";
import { MAP_SHARED, PG_locked } from "../../src/index";
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
  const addr = run(p.mmap(2 * PAGE, { flags: MAP_SHARED, file }));
  run(p.write(addr, pattern(2 * PAGE, 4)));
  run(file.fsync());
  run(p.munmap(addr, 2 * PAGE));
  const free = k.pageAlloc.totalFreePages();
  const [src, other] = [file.folioAt(0)!.pfn, file.folioAt(1)!.pfn];
  return { k, file, free, src: src!, other: other! };
};

describe("truncate_pagecache() and the folio lock", () => {
  // The sleep in folio_lock() is TASK_UNINTERRUPTIBLE and truncate_inode_pages_range() has no
  // way out of its second loop: an interrupt waits until the truncation is done. Every folio is
  // dropped and freed, the lock handed to the truncation is released, and its reference put.
  it("an interrupt of a truncation asleep in folio_lock() waits for its end: nothing leaked", async () => {
    const { k, file, free, src } = cachedFile();
    expect(folioTrylock(k, src)).toBe(true);
    const truncation = Effect.runFork(file.truncate());
    await settle();
    expect(k.folioWaiters.waiting(src)).toBe(1);
    const interrupted = Effect.runFork(Fiber.interrupt(truncation));
    await settle();
    // Still asleep: the interrupt cannot reach it.
    expect(interrupted.pollUnsafe()).toBeUndefined();
    expect(k.memmap.refcount[src]).toBe(2);
    folioUnlock(k, src);
    await runP(Fiber.join(interrupted));
    expect(file.cachedFolios).toBe(0);
    expect(file.mapping.backing!.nrPages).toBe(0);
    expect(k.memmap.test(src, PG_locked)).toBe(false);
    expect(k.memmap.refcount[src]).toBe(0);
    expect(k.folioWaiters.waiting(src)).toBe(0);
    expect(k.pageAlloc.totalFreePages()).toBe(free + 2);
    expectConsistent(k);
  });
});
