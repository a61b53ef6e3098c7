/**
 * The measurement every move_pages experiment shares: ping-pong a mapping between nodes 0 and 1.
 */
import { MPOL_MF_MOVE, type Task } from "@migrate-offload/core";
import { Effect } from "effect";

/** Untimed warm-up: round trips until this many ms have passed (at least one round trip). */
const WARM_UP_MS = 100;
/** A timed sample lasts at least about this long: short calls are timed several in a row. */
const SAMPLE_MS = 20;

/**
 * Moves `bytes` at `addr` with one `move_pages` address per `folioBytes`, alternately to node 1
 * and back to node 0. First untimed round trips, at least two and until 100 ms have passed, so
 * that short calls are not timed cold; then `runs` timed samples. A sample is one call, or as
 * many calls in a row as fill about 20 ms when one call is shorter (a 2 MiB call takes a few
 * hundred microseconds, near the timer's and the scheduler's noise). A call's length is taken
 * from the warm-up's round trips after the first, which pays one-time set-up such as a
 * migrator's calibration. Returns GB/s (10^9 bytes per
 * second) per sample; fails if a call leaves pages behind. `beforeSample(r)`, when given, runs
 * untimed before sample `r` (to switch a migrator on or off between samples).
 */
export const pingPongMovePages = (
  proc: Task,
  addr: number,
  bytes: number,
  folioBytes: number,
  runs: number,
  beforeSample?: (r: number) => Effect.Effect<void, unknown>,
) =>
  Effect.gen(function* () {
    const pages = Float64Array.from(
      { length: bytes / folioBytes },
      (_, i) => addr + i * folioBytes,
    );
    const toNode0 = new Int32Array(pages.length);
    const toNode1 = new Int32Array(pages.length).fill(1);
    let calls = 0;
    const move = () =>
      Effect.flatMap(
        proc.movePages(0, pages, ++calls % 2 ? toNode1 : toNode0, MPOL_MF_MOVE),
        ({ rc }) =>
          rc === 0 ? Effect.void : Effect.fail(new Error(`move_pages left ${rc} pages behind`)),
      );
    const warmStart = performance.now();
    // The first round trip pays what happens once (a migrator calibrating its cost model at its
    // first batch takes milliseconds): it is not counted in a call's length, or a sample of a
    // short call would be a single call, timed among the timer's and the scheduler's noise.
    yield* move();
    yield* move();
    const countedStart = performance.now();
    const countedFrom = calls;
    while (performance.now() - warmStart < WARM_UP_MS || calls === countedFrom) {
      yield* move();
      yield* move();
    }
    const perCall = (performance.now() - countedStart) / (calls - countedFrom);
    const repeat = Math.max(1, Math.ceil(SAMPLE_MS / perCall));
    const rates: number[] = [];
    for (let r = 0; r < runs; r++) {
      if (beforeSample) {
        yield* beforeSample(r);
        // One untimed round trip after the switch, so that no sample pays for it.
        yield* move();
        yield* move();
      }
      const start = performance.now();
      for (let i = 0; i < repeat; i++) yield* move();
      const seconds = (performance.now() - start) / 1000;
      rates.push((bytes * repeat) / seconds / 1e9);
    }
    return rates;
  });
