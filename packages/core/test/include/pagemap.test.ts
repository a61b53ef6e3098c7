/**
 * The folio wait queue (include/linux/pagemap.h, mm/filemap.c, Linux 6.16): folio_lock() sleeps
 * as an exclusive waiter (folio_wait_bit_common() with EXCLUSIVE), and folio_unlock() hands the
 * lock to the first one queued (wake_page_function() sets PG_locked for it), so nobody takes the
 * lock between the unlock and the waiter's wake-up; folio_wait_locked() waiters only watch.
 */
import { Effect, Fiber } from "effect";
import { describe, expect, it } from "vitest";
import { PG_locked } from "../../src/index";
import { folioLock, folioTrylock, folioUnlock } from "../../src/mm/filemap";
import { boot, run, runP } from "../../src/testing/index";

describe("FolioWaitQueue (folio_lock(), folio_unlock())", () => {
  it("hands the lock to the first locker queued; the next waits for its unlock", async () => {
    const k = boot();
    const head = run(k.allocFolio(0, 0)).pfn;
    const order: string[] = [];
    expect(folioTrylock(k, head)).toBe(true);
    const locker = (name: string) =>
      Effect.runFork(
        Effect.andThen(
          folioLock(k, head),
          Effect.sync(() => order.push(name)),
        ),
      );
    const first = locker("first");
    const second = locker("second");
    const watcher = Effect.runFork(
      Effect.andThen(
        k.folioWaiters.waitUnlocked(head),
        Effect.sync(() => order.push("watcher")),
      ),
    );
    await runP(Effect.yieldNow);
    expect(k.folioWaiters.waiting(head)).toBe(3);
    folioUnlock(k, head);
    // Handed over: still locked, now by the first locker; a trylock in between fails.
    expect(k.memmap.test(head, PG_locked)).toBe(true);
    expect(folioTrylock(k, head)).toBe(false);
    await runP(Fiber.join(first));
    expect(order).toEqual(["first"]);
    expect(k.folioWaiters.waiting(head)).toBe(2);
    folioUnlock(k, head);
    await runP(Fiber.join(second));
    expect(order).toEqual(["first", "second"]);
    // The watcher saw the folio unlocked only now, once it was handed to nobody.
    expect(watcher.pollUnsafe()).toBeUndefined();
    folioUnlock(k, head);
    await runP(Fiber.join(watcher));
    expect(order).toEqual(["first", "second", "watcher"]);
    expect(k.folioWaiters.waiting(head)).toBe(0);
    expect(k.memmap.test(head, PG_locked)).toBe(false);
  });

  it("a locker interrupted before the handoff leaves the queue: the lock goes to the next", async () => {
    const k = boot();
    const head = run(k.allocFolio(0, 0)).pfn;
    expect(folioTrylock(k, head)).toBe(true);
    const gone = Effect.runFork(k.folioWaiters.lock(head));
    const next = Effect.runFork(folioLock(k, head));
    await runP(Effect.yieldNow);
    await runP(Fiber.interrupt(gone));
    expect(k.folioWaiters.waiting(head)).toBe(1);
    folioUnlock(k, head);
    await runP(Fiber.join(next));
    expect(k.memmap.test(head, PG_locked)).toBe(true);
    folioUnlock(k, head);
    expect(k.memmap.test(head, PG_locked)).toBe(false);
  });

  // folio_wait_bit_common() (mm/filemap.c, Linux 6.16): a locker the unlock handed the lock to
  // (WQ_FLAG_DONE) owns it, signal or not. One interrupted after the handoff, before it ran,
  // cannot take it: it passes the lock on as its unlock would, to the next locker queued, so the
  // lock is neither leaked nor lost to the queue.
  it("a locker interrupted after the handoff passes the lock to the next one queued", async () => {
    const k = boot();
    const head = run(k.allocFolio(0, 0)).pfn;
    expect(folioTrylock(k, head)).toBe(true);
    const gone = Effect.runFork(k.folioWaiters.lock(head));
    const next = Effect.runFork(k.folioWaiters.lock(head));
    await runP(Effect.yieldNow);
    expect(k.folioWaiters.waiting(head)).toBe(2);
    folioUnlock(k, head);
    // Handed to the first locker, which has not run yet.
    expect(k.folioWaiters.waiting(head)).toBe(1);
    await runP(Fiber.interrupt(gone));
    await runP(Fiber.join(next));
    expect(k.memmap.test(head, PG_locked)).toBe(true);
    expect(k.folioWaiters.waiting(head)).toBe(0);
    folioUnlock(k, head);
    expect(k.memmap.test(head, PG_locked)).toBe(false);
    // Nobody queued: interrupted after the handoff, the lock is just free.
    expect(folioTrylock(k, head)).toBe(true);
    const alone = Effect.runFork(k.folioWaiters.lock(head));
    await runP(Effect.yieldNow);
    folioUnlock(k, head);
    await runP(Fiber.interrupt(alone));
    expect(k.memmap.test(head, PG_locked)).toBe(false);
  });
});
