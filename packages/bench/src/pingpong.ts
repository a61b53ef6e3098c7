/**
 * The measurement every move_pages experiment shares: ping-pong a mapping between nodes 0 and 1.
 */
import { MPOL_MF_MOVE, type Task } from "@migrate-offload/core";
import { Effect } from "effect";

/**
 * Moves `bytes` at `addr` with one `move_pages` address per `folioBytes`, first one untimed round
 * trip (node 1, then back to 0), then `runs` timed calls alternating to node 1 and back. Returns
 * GB/s (10^9 bytes per second) per timed call; fails if a call leaves pages behind.
 */
export const pingPongMovePages = (
  proc: Task,
  addr: number,
  bytes: number,
  folioBytes: number,
  runs: number,
) =>
  Effect.gen(function* () {
    const pages = Float64Array.from(
      { length: bytes / folioBytes },
      (_, i) => addr + i * folioBytes,
    );
    const toNode = [new Int32Array(pages.length), new Int32Array(pages.length).fill(1)] as const;
    yield* proc.movePages(0, pages, toNode[1], MPOL_MF_MOVE);
    yield* proc.movePages(0, pages, toNode[0], MPOL_MF_MOVE);
    const rates: number[] = [];
    for (let r = 0; r < runs; r++) {
      const start = performance.now();
      const { rc } = yield* proc.movePages(0, pages, toNode[r % 2 === 0 ? 1 : 0], MPOL_MF_MOVE);
      const seconds = (performance.now() - start) / 1000;
      if (rc !== 0) return yield* Effect.fail(new Error(`move_pages left ${rc} pages behind`));
      rates.push(bytes / seconds / 1e9);
    }
    return rates;
  });
