/**
 * Sleepable read-copy update.
 *
 * Models SRCU (`kernel/rcu/srcutree.c`): readers mark their critical sections with
 * `srcu_read_lock()` / `srcu_read_unlock()`, which count readers on the current of two indexes;
 * `synchronize_srcu()` flips the index and waits until every reader on the old one has left, so
 * it returns only after every reader that started before it has finished. Grace periods run
 * one at a time, as the kernel serializes them. A reader may sleep (here: suspend on an Effect)
 * inside its section.
 *
 * @module
 */
import { Effect, Semaphore } from "effect";
import type { SrcuStruct } from "../include/srcu";

/**
 * One SRCU domain: models `struct srcu_struct` (`include/linux/srcutree.h`) and its
 * implementation in `kernel/rcu/srcutree.c`.
 *
 * @category Kernel
 */
export class Srcu implements SrcuStruct {
  /** The index new readers take: 0 or 1, flipped by each grace period. */
  private index: 0 | 1 = 0;
  /** Readers in a section, by the index they took. */
  private readonly readers: [number, number] = [0, 0];
  /** Grace periods waiting for an index's readers to drain, by index. */
  private readonly drained: [Array<() => void>, Array<() => void>] = [[], []];
  private readonly gpMutex = Semaphore.makeUnsafe(1);
  /** Grace periods completed. */
  completed = 0;

  /** `srcu_read_lock()` (`include/linux/srcu.h`): enters a read-side section; returns the index to unlock with. */
  readLock(): 0 | 1 {
    const idx = this.index;
    this.readers[idx]++;
    return idx;
  }

  /**
   * `srcu_read_unlock()` (`include/linux/srcu.h`): leaves a read-side section. A `RangeError` for an index no
   * {@link readLock} returns (the kernel's `WARN_ON_ONCE(idx & ~0x1)`).
   */
  readUnlock(idx: number): void {
    if (idx !== 0 && idx !== 1) throw new RangeError(`srcu_read_unlock: bad index ${idx}`);
    if (--this.readers[idx] === 0 && this.drained[idx].length > 0) {
      // Only a grace period in progress has waiters: a read section alone allocates nothing.
      const waiters = this.drained[idx].splice(0);
      for (const wake of waiters) wake();
    }
  }

  /** Runs `effect` inside a read-side section, leaving it however the effect ends. */
  read<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return Effect.uninterruptibleMask((restore) => {
      const idx = this.readLock();
      return Effect.onExit(restore(effect), () => Effect.sync(() => this.readUnlock(idx)));
    });
  }

  /** Readers now in a section, over both indexes. */
  get activeReaders(): number {
    return this.readers[0] + this.readers[1];
  }

  /**
   * `synchronize_srcu()` (`kernel/rcu/srcutree.c`): completes once every reader that began before
   * it has left.
   */
  synchronize(): Effect.Effect<void> {
    return this.gpMutex.withPermit(
      Effect.suspend(() => {
        const old = this.index;
        this.index = old === 0 ? 1 : 0;
        return Effect.callback<void>((resume) => {
          if (this.readers[old] === 0) resume(Effect.void);
          else this.drained[old].push(() => resume(Effect.void));
        });
      }).pipe(
        Effect.tap(() =>
          Effect.sync(() => {
            this.completed++;
          }),
        ),
      ),
    );
  }
}
