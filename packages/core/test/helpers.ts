import { Effect, Exit } from "effect";
import { expect } from "vitest";
import type { KernelConfig } from "../src/include/kernel";
import { ErrnoError, type ErrnoName, Kernel } from "../src/index";
import { checkKernelConsistency } from "../src/testing/index";

/** Runs a synchronous kernel call, throwing its error. */
export const run = <A, E>(effect: Effect.Effect<A, E>): A => Effect.runSync(effect);

/** Boots a kernel; two 64 MiB nodes unless told otherwise. */
export const boot = (config: Partial<KernelConfig> = {}): Kernel =>
  run(Kernel.boot({ nodes: ["64M", "64M"], ...config }));

/** Asserts the call fails with this errno, and returns the error. */
export const expectErrno = <A>(
  effect: Effect.Effect<A, ErrnoError>,
  name: ErrnoName,
): ErrnoError => {
  const exit = Effect.runSyncExit(effect);
  if (Exit.isSuccess(exit)) throw new Error(`expected ${name}, but the call succeeded`);
  const error = Exit.findErrorOption(exit);
  const value = error._tag === "Some" ? error.value : undefined;
  expect(value).toBeInstanceOf(ErrnoError);
  expect((value as ErrnoError).errno).toBe(name);
  return value as ErrnoError;
};

/** Asserts the kernel's metadata is consistent. */
export const expectConsistent = (k: Kernel): void => {
  expect(checkKernelConsistency(k)).toEqual([]);
};

/** A deterministic byte pattern for a page-sized chunk. */
export const pattern = (length: number, seed: number): Uint8Array => {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return out;
};

/** Asserts two byte arrays are equal; on a mismatch, names the first differing offset. */
export const expectBytes = (actual: Uint8Array, expected: Uint8Array): void => {
  if (
    Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(
      Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength),
    )
  ) {
    return;
  }
  expect(actual.length).toBe(expected.length);
  let i = 0;
  while (actual[i] === expected[i]) i++;
  expect({ offset: i, byte: actual[i] }).toEqual({ offset: i, byte: expected[i] });
};
