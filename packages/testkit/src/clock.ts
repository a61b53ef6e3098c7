/**
 * A clock for runs whose waits the harness may cut short: real time, plus however far the harness
 * has moved it forward. What the conformance harness gives the run with the migrator, so that an
 * injected hang costs the time to notice it, not the driver's whole deadline.
 *
 * @module
 */
import { type Clock, Duration, Effect } from "effect";

/** The longest delay one timer takes (a larger one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A fiber asleep on the clock: when it wakes (on this clock's monotonic milliseconds). */
interface Sleeper {
  readonly at: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  wake: () => void;
}

/**
 * An Effect `Clock` that runs at real time and that its owner may move forward
 * ({@link AdjustableClock.skipToNextDeadline}): every fiber asleep on it wakes when its deadline
 * comes, by real time or by a move, in deadline order. Moving it is what would happen if the
 * process were held up for that long at that moment, so a run on it meets no timing a run on the
 * real clock could not. Unlike Effect's `TestClock`, nothing waits for its owner: daemons (kswapd,
 * kcompactd) nap and wake at real time as on the default clock. No kernel symbol: it stands where
 * jiffies stand, for one run the harness drives.
 *
 * Provide it to a run with `Effect.provideService(run, Clock.Clock, clock)`; fibers the run forks
 * inherit it.
 *
 * @category Conformance
 *
 * @example
 * ```ts
 * import { AdjustableClock } from "@migrate-offload/testkit";
 * import { Clock, Effect } from "effect";
 *
 * const clock = new AdjustableClock();
 * const nap = Effect.runPromise(Effect.provideService(Effect.sleep("10 seconds"), Clock.Clock, clock));
 * clock.skipToNextDeadline(); // about 10 000: the nap ends now
 * await nap;
 * ```
 */
export class AdjustableClock implements Clock.Clock {
  /** Milliseconds the clock has been moved forward, in all. */
  private offsetMs = 0;
  private readonly sleepers = new Set<Sleeper>();

  /** Milliseconds the clock has been moved forward beyond real time, in all. */
  get skippedMs(): number {
    return this.offsetMs;
  }

  /** Fibers asleep on the clock now. */
  get sleeping(): number {
    return this.sleepers.size;
  }

  /** This clock's monotonic time in milliseconds: `performance.now()`, moved. */
  private now(): number {
    return performance.now() + this.offsetMs;
  }

  currentTimeMillisUnsafe(): number {
    return Date.now() + this.offsetMs;
  }

  readonly currentTimeMillis: Effect.Effect<number> = Effect.sync(() =>
    this.currentTimeMillisUnsafe(),
  );

  currentTimeNanosUnsafe(): bigint {
    return BigInt(Math.round((performance.timeOrigin + this.now()) * 1e6));
  }

  readonly currentTimeNanos: Effect.Effect<bigint> = Effect.sync(() =>
    this.currentTimeNanosUnsafe(),
  );

  monotonicTimeNanosUnsafe(): bigint {
    return process.hrtime.bigint() + BigInt(Math.round(this.offsetMs * 1e6));
  }

  readonly monotonicTimeNanos: Effect.Effect<bigint> = Effect.sync(() =>
    this.monotonicTimeNanosUnsafe(),
  );

  sleep(duration: Duration.Duration): Effect.Effect<void> {
    const ms = Duration.toMillis(duration);
    if (ms <= 0) return Effect.yieldNow;
    if (!Number.isFinite(ms)) return Effect.never;
    return Effect.callback<void>((resume) => {
      const sleeper: Sleeper = {
        at: this.now() + ms,
        timer: undefined,
        wake: () => {
          clearTimeout(sleeper.timer);
          this.sleepers.delete(sleeper);
          resume(Effect.void);
        },
      };
      this.sleepers.add(sleeper);
      this.arm(sleeper);
      return Effect.sync(() => {
        clearTimeout(sleeper.timer);
        this.sleepers.delete(sleeper);
      });
    });
  }

  /** Sets `sleeper`'s real timer for what is left of its sleep on this clock. */
  private arm(sleeper: Sleeper): void {
    clearTimeout(sleeper.timer);
    const left = sleeper.at - this.now();
    sleeper.timer = setTimeout(
      () => (this.now() >= sleeper.at ? sleeper.wake() : this.arm(sleeper)),
      Math.min(Math.max(0, left), MAX_TIMER_MS),
    );
  }

  /**
   * Moves the clock forward to the earliest deadline of the fibers asleep on it, and wakes every
   * fiber whose deadline has come, earliest first; the others sleep on for what is left of their
   * sleep. Returns how many milliseconds it moved (0: no fiber sleeps, or one was due already).
   */
  skipToNextDeadline(): number {
    let next = Number.POSITIVE_INFINITY;
    for (const sleeper of this.sleepers) next = Math.min(next, sleeper.at);
    if (next === Number.POSITIVE_INFINITY) return 0;
    const skipped = Math.max(0, next - this.now());
    this.offsetMs += skipped;
    const now = this.now();
    const due = [...this.sleepers].filter((s) => s.at <= now).sort((a, b) => a.at - b.at);
    for (const sleeper of due) sleeper.wake();
    for (const sleeper of this.sleepers) this.arm(sleeper);
    return skipped;
  }
}
