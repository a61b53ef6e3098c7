/**
 * Sleepable RCU as its users see it.
 *
 * Models `struct srcu_struct` and the calls of `include/linux/srcu.h`: a reader enters a
 * read-side section and leaves it with the index it got; an updater waits for every reader that
 * began before it. The domain itself is `kernel/srcu.ts` (`kernel/rcu/srcutree.c`).
 *
 * @module
 */
import type { Effect } from "effect";

/**
 * One SRCU domain, as readers and updaters call it. Models `struct srcu_struct`
 * (`include/linux/srcutree.h`) and the calls of `include/linux/srcu.h`.
 *
 * @category Kernel
 */
export interface SrcuStruct {
  /** Grace periods completed. */
  readonly completed: number;
  /** Readers now in a section, over both indexes. */
  readonly activeReaders: number;
  /**
   * `srcu_read_lock()` (`include/linux/srcu.h`): enters a read-side section; returns the index to
   * unlock with.
   */
  readLock(): number;
  /** `srcu_read_unlock()` (`include/linux/srcu.h`): leaves a read-side section. */
  readUnlock(idx: number): void;
  /** Runs `effect` inside a read-side section, leaving it however the effect ends. */
  read<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R>;
  /**
   * `synchronize_srcu()` (`kernel/rcu/srcutree.c`): completes once every reader that began before
   * it has left.
   */
  synchronize(): Effect.Effect<void>;
}
