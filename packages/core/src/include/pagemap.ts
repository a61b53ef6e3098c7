/**
 * Waiting on a folio flag.
 *
 * Models the folio wait queue of `include/linux/pagemap.h` and `mm/filemap.c`
 * (`folio_wait_bit()`, `folio_wake_bit()`).
 *
 * @module
 */
import { Effect } from "effect";
import { PG_locked } from "./page_flags";

/**
 * Tasks waiting for a folio flag to clear. Models the folio wait hash table
 * (`folio_waitqueue()`, `folio_wait_bit()`, `mm/filemap.c`): waiting for `PG_locked` is
 * `folio_wait_locked()` (`include/linux/pagemap.h`), for `PG_writeback`
 * `folio_wait_writeback()` (`mm/page-writeback.c`).
 *
 * @category Memory and folios
 */
export class FolioWaitQueue {
  private readonly waiters = new Map<number, Array<{ bit: number; resume: () => void }>>();

  constructor(private readonly flags: Uint32Array) {}

  /** Completes once `bit` is clear on `head` (`folio_wait_bit()`, `mm/filemap.c`). */
  waitBit(head: number, bit: number): Effect.Effect<void> {
    return Effect.callback<void>((resume) => {
      if (!(this.flags[head]! & bit)) {
        resume(Effect.void);
        return;
      }
      let list = this.waiters.get(head);
      if (!list) {
        list = [];
        this.waiters.set(head, list);
      }
      list.push({ bit, resume: () => resume(Effect.void) });
    });
  }

  /** Completes once `head` is not locked (`folio_wait_locked()`, `include/linux/pagemap.h`). */
  waitUnlocked(head: number): Effect.Effect<void> {
    return this.waitBit(head, PG_locked);
  }

  /** Wakes the waiters on `head` whose bit is now clear (`folio_wake_bit()`, `mm/filemap.c`). */
  wake(head: number): void {
    // No waiter on any folio (the common case): no lookup, as `folio_unlock()` skips the wake-up
    // when `PG_waiters` is clear.
    if (this.waiters.size === 0) return;
    const list = this.waiters.get(head);
    if (!list) return;
    const still = list.filter((w) => this.flags[head]! & w.bit);
    if (still.length > 0) this.waiters.set(head, still);
    else this.waiters.delete(head);
    for (const w of list) if (!(this.flags[head]! & w.bit)) w.resume();
  }

  /** Waiters on `head`, for tests. */
  waiting(head: number): number {
    return this.waiters.get(head)?.length ?? 0;
  }
}
