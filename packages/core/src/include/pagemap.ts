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
import { KernelPanic } from "./panic";

/**
 * Tasks waiting for a folio flag to clear. Models the folio wait hash table
 * (`folio_waitqueue()`, `folio_wait_bit()`, `mm/filemap.c`): waiting for `PG_locked` is
 * `folio_wait_locked()` (`include/linux/pagemap.h`), for `PG_writeback`
 * `folio_wait_writeback()` (`mm/page-writeback.c`).
 *
 * @category Memory and folios
 */
export class FolioWaitQueue {
  private readonly waiters = new Map<number, Waiter[]>();

  /**
   * `flags` is the memory map's page flags; `halted` the kernel, by its panic message: a sleeper
   * woken after a panic stops there (`smp_send_stop()`), dying with the panic, any lock handed to
   * it passed on.
   */
  constructor(
    private readonly flags: Uint32Array,
    private readonly halted: { readonly panicked: string | null } = { panicked: null },
  ) {}

  /** After a sleep: nothing goes on once the kernel has panicked (`smp_send_stop()`). */
  private resumed(slept: boolean): Effect.Effect<void> {
    return Effect.suspend(() => {
      const panicked = this.halted.panicked;
      return !slept || panicked === null ? Effect.void : Effect.die(new KernelPanic(panicked));
    });
  }

  private add(head: number, waiter: Waiter): void {
    let list = this.waiters.get(head);
    if (!list) {
      list = [];
      this.waiters.set(head, list);
    }
    list.push(waiter);
  }

  /**
   * Completes once `bit` is clear on `head` (`folio_wait_bit()`, `mm/filemap.c`). Interrupted,
   * it leaves the queue; woken after a panic, it dies with it.
   */
  waitBit(head: number, bit: number): Effect.Effect<void> {
    return Effect.suspend(() => {
      let slept = false;
      const wait = Effect.callback<void>((resume) => {
        if (!(this.flags[head]! & bit)) {
          resume(Effect.void);
          return;
        }
        slept = true;
        const waiter: Waiter = { bit, exclusive: false, resume: () => resume(Effect.void) };
        this.add(head, waiter);
        return Effect.sync(() => this.remove(head, waiter));
      });
      return Effect.andThen(
        wait,
        Effect.suspend(() => this.resumed(slept)),
      );
    });
  }

  /** Takes `waiter` off the queue of `head`, if it is still there. */
  private remove(head: number, waiter: Waiter): void {
    const list = this.waiters.get(head);
    const at = list?.indexOf(waiter) ?? -1;
    if (at < 0) return;
    list!.splice(at, 1);
    if (list!.length === 0) this.waiters.delete(head);
  }

  /** Completes once `head` is not locked (`folio_wait_locked()`, `include/linux/pagemap.h`). */
  waitUnlocked(head: number): Effect.Effect<void> {
    return this.waitBit(head, PG_locked);
  }

  /**
   * The sleep of `folio_lock()` (`__folio_lock()`: `folio_wait_bit_common()` with `EXCLUSIVE`,
   * `mm/filemap.c`): completes holding `PG_locked` on `head`. It takes the lock at once when it is
   * free; otherwise it queues behind the other lockers, and the unlock that reaches it sets the
   * bit on its behalf before waking it (the lock handoff of `wake_page_function()`), so nobody
   * takes the lock in between; the woken locker runs after the unlocking task's current step, as
   * a task woken on Linux runs once scheduled while its waker goes on. Interrupted before the
   * handoff, it leaves the queue; interrupted after it, before it ran, it passes the lock on as an
   * unlock would (to the next locker queued, or nobody), so the lock is never left held by a
   * fiber that is gone. Woken after a panic, it passes the lock on the same way and dies with
   * the panic.
   */
  lock(head: number): Effect.Effect<void> {
    return Effect.suspend(() => {
      // Whether PG_locked is this locker's: taken at once, or handed over by an unlock.
      let owned = false;
      let slept = false;
      const sleep = Effect.callback<void>((resume) => {
        if (!(this.flags[head]! & PG_locked)) {
          this.flags[head]! |= PG_locked;
          owned = true;
          resume(Effect.void);
          return;
        }
        // Woken, it runs once the unlocking task goes on (`try_to_wake_up()` makes it runnable;
        // the waker keeps its CPU): the rest of the waker's step comes first.
        slept = true;
        const waiter: Waiter = {
          bit: PG_locked,
          exclusive: true,
          resume: () => {
            owned = true;
            resume(Effect.yieldNow);
          },
        };
        this.add(head, waiter);
        return Effect.sync(() => this.remove(head, waiter));
      });
      const passOn = () => {
        this.flags[head]! &= ~PG_locked;
        this.wake(head);
      };
      return Effect.onInterrupt(sleep, () =>
        Effect.sync(() => {
          if (owned) passOn();
        }),
      ).pipe(
        Effect.andThen(
          Effect.suspend(() => {
            if (!slept || this.halted.panicked === null) return Effect.void;
            passOn();
            return this.resumed(true);
          }),
        ),
      );
    });
  }

  /**
   * Wakes the waiters on `head` whose bit is now clear (`folio_wake_bit()`, `mm/filemap.c`): the
   * lock, when free, goes to the first locker in the queue ({@link lock}), the others stay queued.
   */
  wake(head: number): void {
    // No waiter on any folio (the common case): no lookup, as `folio_unlock()` skips the wake-up
    // when `PG_waiters` is clear.
    if (this.waiters.size === 0) return;
    const list = this.waiters.get(head);
    if (!list) return;
    const woken: Waiter[] = [];
    const still: Waiter[] = [];
    for (const w of list) {
      // An exclusive waiter woken takes PG_locked, so no later one in the loop finds it clear.
      if (w.exclusive && !(this.flags[head]! & PG_locked)) {
        this.flags[head]! |= PG_locked;
        woken.push(w);
      } else if (!w.exclusive && !(this.flags[head]! & w.bit)) {
        woken.push(w);
      } else {
        still.push(w);
      }
    }
    if (still.length > 0) this.waiters.set(head, still);
    else this.waiters.delete(head);
    for (const w of woken) w.resume();
  }

  /** Waiters on `head`, for tests. */
  waiting(head: number): number {
    return this.waiters.get(head)?.length ?? 0;
  }
}

/** A task asleep on a folio's bit; an `exclusive` one waits to take `PG_locked` (`folio_lock()`). */
interface Waiter {
  readonly bit: number;
  readonly exclusive: boolean;
  readonly resume: () => void;
}
