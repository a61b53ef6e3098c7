// The users of a folio's lock, interleaved at random (Linux 6.16): truncation
// (truncate_inode_pages_range(), mm/truncate.c), move_pages() (MIGRATE_SYNC, mm/migrate.c),
// memory_failure() and soft_offline_page() (mm/memory-failure.c), writes that fault pages back
// in, writeback and fsync(), another task holding folios locked, and interrupts of the calls
// that sleep uninterruptibly (TASK_UNINTERRUPTIBLE). folio_lock() hands the lock
// over in the order the lockers slept (wake_page_function(), mm/filemap.c): whatever the order,
// every call ends once the holder lets go, no folio stays locked or waited on, the kernel's
// metadata stays consistent, and once the file is unmapped and truncated every page is free again
// but the poisoned ones, which are never freed.
import { Effect, Fiber } from "effect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAP_SHARED, PG_hwpoison, PG_locked, PG_writeback, type TaskStruct } from "../../src/index";
import { folioTrylock, folioUnlock } from "../../src/mm/filemap";
import { boot, expectConsistent, pattern, run, runP } from "../../src/testing/index";

const PAGE = 4096;
const PAGES = 3;

type Op =
  | { op: "lock" | "unlock" | "move" | "failure" | "offline" | "write" | "writeback"; page: number }
  | { op: "truncate" | "fsync" | "interrupt" };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constantFrom(
      "lock" as const,
      "unlock" as const,
      "move" as const,
      "failure" as const,
      "offline" as const,
      "write" as const,
      "writeback" as const,
    ),
    page: fc.integer({ min: 0, max: PAGES - 1 }),
  }),
  fc.record({ op: fc.constantFrom("truncate" as const, "fsync" as const, "interrupt" as const) }),
);

const settle = async () => {
  for (let i = 0; i < 4; i++) await runP(Effect.yieldNow);
};

describe("folio lock users interleaved", () => {
  it("any interleaving ends with no folio locked or waited on, consistent, no page leaked", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 14 }), async (ops) => {
        const k = boot({ nodes: ["16M", "16M"] });
        const file = run(k.createFile("data"));
        const p = run(k.createProcess({ node: 0 }));
        const free = k.pageAlloc.totalFreePages();
        run(file.truncate(PAGES * PAGE));
        const addr = run(p.mmap(PAGES * PAGE, { flags: MAP_SHARED, file }));
        run(p.write(addr, pattern(PAGES * PAGE, 1)));
        const held = new Set<number>();
        const calls: Array<Fiber.Fiber<unknown, unknown>> = [];
        // The calls that cannot be interrupted, as their sleeps are TASK_UNINTERRUPTIBLE.
        const uninterruptible: Array<Fiber.Fiber<unknown, unknown>> = [];
        const children: TaskStruct[] = [];
        const fork = (e: Effect.Effect<unknown, unknown>) => {
          const call = Effect.runFork(Effect.exit(e));
          calls.push(call);
          return call;
        };
        for (const o of ops) {
          const at = "page" in o ? addr + o.page * PAGE : addr;
          const head = "page" in o ? (file.folioAt(o.page)?.pfn ?? -1) : -1;
          switch (o.op) {
            case "lock":
              if (head >= 0 && !held.has(head) && folioTrylock(k, head)) held.add(head);
              break;
            case "unlock":
              if (held.delete(head)) folioUnlock(k, head);
              break;
            case "move":
              fork(
                p.movePages(0, [at], [1 - run(p.nodeOf(at).pipe(Effect.orElseSucceed(() => 0)))]),
              );
              break;
            case "failure":
              if (head >= 0) uninterruptible.push(fork(k.memoryFailure(head)));
              break;
            case "offline":
              if (head >= 0) uninterruptible.push(fork(k.softOfflinePage(head)));
              break;
            case "write": {
              // A store that faults past the end after a truncation, or on a poisoned page, is
              // SIGBUS and kills its process: a child of p stores, through the same shared
              // mapping of the file.
              const child = run(p.fork());
              children.push(child);
              fork(child.write(at, pattern(PAGE, 2)));
              break;
            }
            case "writeback":
              file.startWriteback(o.page);
              break;
            case "truncate":
              uninterruptible.push(fork(file.truncate()));
              break;
            case "interrupt": {
              // Interrupting waits for the call's end: fork it, as a signal sender goes on.
              const last = uninterruptible.at(-1);
              if (last) calls.push(Effect.runFork(Fiber.interrupt(last)));
              break;
            }
            case "fsync":
              fork(file.fsync());
              break;
          }
          await settle();
        }
        for (const head of held) folioUnlock(k, head);
        // The writeback in flight completes.
        for (let pg = 0; pg < PAGES; pg++) file.endWriteback(pg);
        for (const call of calls) await runP(Fiber.await(call));
        for (const child of children) if (!child.exited) run(child.exit());
        run(p.munmap(addr, PAGES * PAGE));
        await runP(file.truncate());
        expect(file.cachedFolios).toBe(0);
        const poisoned: number[] = [];
        const stuck: number[] = [];
        for (let pfn = 0; pfn < k.memmap.refcount.length; pfn++) {
          if (k.memmap.test(pfn, PG_locked | PG_writeback) || k.folioWaiters.waiting(pfn) > 0)
            stuck.push(pfn);
          if (k.memmap.test(pfn, PG_hwpoison)) poisoned.push(pfn);
        }
        expect(stuck).toEqual([]);
        expect(poisoned).toHaveLength(k.numPoisonedPages);
        expectConsistent(k);
        expect(k.pageAlloc.totalFreePages()).toBe(free - poisoned.length);
      }),
      { numRuns: 60 },
    );
  }, 120_000);
});
