/**
 * The cost of the copy-offload registry: the idle fast path against the serial path, and the
 * SRCU read side plus dispatch of one batch with a migrator that does nothing.
 */

import {
  FolioList,
  Kernel,
  MIGRATE_REASONS_ALL,
  type Migrator,
  MR_COMPACTION,
} from "@migrate-offload/core";
import { Effect } from "effect";
import { pingPongMovePages } from "./pingpong";
import { envelope, formatSummary, markdownTable, type Summary, summarize } from "./report";

/** What the registry run measured. */
export interface RegistryResults {
  /** move_pages GB/s at 4 KiB with no migrator registered (the serial path). */
  readonly serialGbps: Summary;
  /** The same with a migrator registered whose reason mask allows nothing (the idle fast path). */
  readonly idleGbps: Summary;
  /** Median idle over median serial. */
  readonly idleRatio: number;
  /** Nanoseconds per batch: SRCU read side, shouldBatch, and dispatching a no-op offloadCopy. */
  readonly dispatchNsPerBatch: Summary;
  /** Nanoseconds per iteration of the same loop with no call into the registry. */
  readonly loopNsPerBatch: Summary;
}

const noop: Migrator = {
  name: "noop",
  owner: null,
  shouldBatch: () => true,
  offloadCopy: () => Effect.succeed(0),
};

/** move_pages of `bytes` in 4 KiB folios, alternating nodes; GB/s per timed call. */
const movePages4k = (bytes: number, runs: number, idle: boolean) =>
  Effect.gen(function* () {
    const kernel = yield* Kernel.boot({
      // The copy path alone: no kswapd or kcompactd in the background of the figure.
      daemons: "on-demand",
      nodes: [bytes + (32 << 20), bytes + (32 << 20)],
      thp: { enabled: "never" },
    });
    if (idle) yield* kernel.migrateOffload.register(noop, 0);
    const proc = yield* kernel.createProcess();
    const addr = yield* proc.mmap(bytes);
    yield* proc.write(addr, new Uint8Array(bytes).fill(7));
    const rates = yield* pingPongMovePages(proc, addr, bytes, 4096, runs);
    return rates;
  });

/** Nanoseconds per batch of `iterations` dispatches, `runs` times; and of an empty loop. */
const dispatch = (iterations: number, runs: number) =>
  Effect.gen(function* () {
    const kernel = yield* Kernel.boot({ nodes: ["16M"], daemons: "on-demand" }); // dispatch alone
    yield* kernel.migrateOffload.register(noop, MIGRATE_REASONS_ALL);
    const d = kernel.migrateOffload.copier!;
    const dst = new FolioList(kernel.memmap.lru);
    const src = new FolioList(kernel.memmap.lru);
    dst.addTail(100);
    src.addTail(200);
    const withRegistry: number[] = [];
    const bare: number[] = [];
    for (let r = 0; r < runs + 1; r++) {
      let start = performance.now();
      for (let i = 0; i < iterations; i++) {
        if (d.shouldBatch(MR_COMPACTION)) yield* d.copy(dst, src, 1, null);
      }
      const a = ((performance.now() - start) * 1e6) / iterations;
      start = performance.now();
      for (let i = 0; i < iterations; i++) yield* Effect.succeed(0);
      const b = ((performance.now() - start) * 1e6) / iterations;
      if (r > 0) {
        withRegistry.push(a);
        bare.push(b);
      }
    }
    return { withRegistry, bare };
  });

/** Runs the registry experiment. */
export const runRegistry = (bytes: number, runs: number, onProgress: (msg: string) => void) =>
  Effect.gen(function* () {
    const serial: number[] = [];
    const idle: number[] = [];
    // Alternate the two configurations so drift on a noisy machine hits both alike.
    for (let round = 0; round < 3; round++) {
      onProgress(`move_pages 4K, round ${round + 1}/3: serial, then idle registry`);
      serial.push(...(yield* movePages4k(bytes, runs, false)));
      idle.push(...(yield* movePages4k(bytes, runs, true)));
    }
    onProgress("SRCU + dispatch of a no-op migrator");
    const { withRegistry, bare } = yield* dispatch(200_000, runs);
    const serialGbps = summarize(serial);
    const idleGbps = summarize(idle);
    const results: RegistryResults = {
      serialGbps,
      idleGbps,
      idleRatio: idleGbps.median / serialGbps.median,
      dispatchNsPerBatch: summarize(withRegistry),
      loopNsPerBatch: summarize(bare),
    };
    return envelope("registry", { bytes, runs }, results);
  });

/** The measurement as markdown tables. */
export const formatRegistry = (r: RegistryResults): string =>
  [
    markdownTable(
      ["move_pages, 4 KiB folios", "GB/s, median (min–max)"],
      [
        ["serial path: no migrator", formatSummary(r.serialGbps)],
        ["idle fast path: migrator registered, reason mask none", formatSummary(r.idleGbps)],
        ["idle / serial", r.idleRatio.toFixed(3)],
      ],
    ),
    "",
    markdownTable(
      ["per batch", "ns, median (min–max)"],
      [
        [
          "SRCU read side + shouldBatch + no-op offloadCopy + accounting",
          formatSummary(r.dispatchNsPerBatch, 0),
        ],
        ["the same loop, one bare Effect step instead", formatSummary(r.loopNsPerBatch, 0)],
      ],
    ),
  ].join("\n");
