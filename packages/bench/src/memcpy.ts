/**
 * Raw memcpy bandwidth: the machine's limit, measured in the same process as every experiment.
 */
import { CopyEngine, Kernel } from "@migrate-offload/core";
import { Effect } from "effect";
import { type Summary, summarize } from "./report";

/**
 * Copies `bytes` between two `SharedArrayBuffer`s with `TypedArray.set`, the primitive every copy
 * in the model uses, `runs` times after one warm-up copy; returns GB/s (10^9 bytes per second).
 */
export const measureMemcpy = (bytes: number, runs: number): Summary => {
  const src = new Uint8Array(new SharedArrayBuffer(bytes));
  const dst = new Uint8Array(new SharedArrayBuffer(bytes));
  for (let i = 0; i < bytes; i += 4096) src[i] = i & 0xff;
  dst.set(src);
  const rates: number[] = [];
  for (let r = 0; r < runs; r++) {
    const start = performance.now();
    dst.set(src);
    rates.push(bytes / ((performance.now() - start) / 1000) / 1e9);
  }
  return summarize(rates);
};

/** Raw memcpy on all threads: the copy engine copying one big range in equal parts. */
export const memcpyAllThreads = (bytes: number, runs: number, threads: number) =>
  Effect.gen(function* () {
    const kernel = yield* Kernel.boot({ nodes: [bytes + (16 << 20), bytes + (16 << 20)] });
    const src = kernel.mem.nodes[0]!.startPfn + 4096;
    const dst = kernel.mem.nodes[1]!.startPfn;
    kernel.mem.bytes(src, bytes / 4096).fill(3);
    const engine = new CopyEngine(kernel, { threads });
    const part = bytes / threads;
    const rates: number[] = [];
    for (let r = 0; r <= runs; r++) {
      engine.begin(threads);
      for (let t = 0; t < threads; t++) engine.push(t, src, dst, t * part, part, t);
      const start = performance.now();
      yield* engine.run();
      if (r > 0) rates.push(bytes / ((performance.now() - start) / 1000) / 1e9);
    }
    yield* engine.terminate();
    return summarize(rates);
  });
