import { Clock, Effect, Fiber } from "effect";
import { describe, expect, it } from "vitest";
import { AdjustableClock } from "../src/index";

const on = <A>(clock: AdjustableClock, effect: Effect.Effect<A>) =>
  Effect.provideService(effect, Clock.Clock, clock);

describe("AdjustableClock: real time that the harness may move forward", () => {
  it("wakes the earliest sleeper when moved, and the clock reads the time moved", async () => {
    const clock = new AdjustableClock();
    const woke: string[] = [];
    const before = clock.currentTimeMillisUnsafe();
    const naps = Effect.runFork(
      on(
        clock,
        Effect.all(
          [
            Effect.sleep("20 seconds").pipe(Effect.tap(() => Effect.sync(() => woke.push("20 s")))),
            Effect.sleep("10 seconds").pipe(Effect.tap(() => Effect.sync(() => woke.push("10 s")))),
          ],
          { concurrency: "unbounded" },
        ),
      ),
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(clock.sleeping).toBe(2);
    expect(clock.skipToNextDeadline()).toBeGreaterThan(9_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(woke).toEqual(["10 s"]);
    expect(clock.sleeping).toBe(1);
    expect(clock.currentTimeMillisUnsafe() - before).toBeGreaterThanOrEqual(10_000);
    // The second nap had ten seconds left, not twenty.
    const second = clock.skipToNextDeadline();
    expect(second).toBeGreaterThan(9_000);
    expect(second).toBeLessThanOrEqual(10_000);
    await Effect.runPromise(Fiber.join(naps));
    expect(woke).toEqual(["10 s", "20 s"]);
    expect(clock.skippedMs).toBeGreaterThanOrEqual(19_000);
    expect(clock.skipToNextDeadline()).toBe(0);
  });

  it("wakes a sleeper at real time when nothing moves it", async () => {
    const clock = new AdjustableClock();
    await Effect.runPromise(on(clock, Effect.sleep("5 millis")));
    expect(clock.sleeping).toBe(0);
    expect(clock.skippedMs).toBe(0);
  });

  it("forgets a sleep that was interrupted: a timeout that lost its race leaves nothing asleep", async () => {
    const clock = new AdjustableClock();
    const done = await Effect.runPromise(
      on(clock, Effect.timeoutOption(Effect.succeed("done"), "1 minute")),
    );
    expect(done._tag).toBe("Some");
    expect(clock.sleeping).toBe(0);
    expect(clock.skipToNextDeadline()).toBe(0);
  });

  it("ends a timeout on Effect's Clock when moved, as the drivers' deadlines end (the TSDoc example)", async () => {
    const clock = new AdjustableClock();
    const nap = Effect.runPromise(on(clock, Effect.sleep("10 seconds")));
    expect(clock.skipToNextDeadline()).toBeGreaterThan(9_000);
    await nap;
    const waited = Effect.runPromise(on(clock, Effect.timeoutOption(Effect.never, "1 hour")));
    await new Promise((resolve) => setImmediate(resolve));
    clock.skipToNextDeadline();
    expect((await waited)._tag).toBe("None");
  });
});
