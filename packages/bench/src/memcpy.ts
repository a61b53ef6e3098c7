/**
 * Raw memcpy bandwidth: the machine's limit, measured in the same process as every experiment.
 */
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
