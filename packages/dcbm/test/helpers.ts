import { Kernel } from "@migrate-offload/core";
import { Effect } from "effect";
import { afterEach } from "vitest";
import { type DmaDevice, type DmaDeviceOptions, dmaAsyncDeviceRegister } from "../src/index";

/** Runs a synchronous kernel call, throwing its error. */
export const run = <A, E>(e: Effect.Effect<A, E>): A => Effect.runSync(e);
/** Runs an asynchronous one. */
export const runP = <A, E>(e: Effect.Effect<A, E>): Promise<A> => Effect.runPromise(e);
/** The errno name an effect fails with. */
export const errnoOf = <A, E>(e: Effect.Effect<A, E>): Promise<string> =>
  runP(Effect.flip(e)).then((err) => (err as { errno: string }).errno);

/** Devices started by a test, stopped after it. */
const devices: DmaDevice[] = [];
afterEach(async () => {
  for (const d of devices.splice(0)) await runP(d.shutdown());
});

/** Boots a two-node kernel (64 MiB each unless told) with THP as asked. */
export const bootKernel = (thp: "always" | "never" = "never", nodes = ["64M", "64M"]): Kernel =>
  run(Kernel.boot({ nodes, thp: { enabled: thp } }));

/** Registers a DMA device on the kernel; it is shut down after the test. */
export const addDevice = (kernel: Kernel, options: DmaDeviceOptions = {}): DmaDevice => {
  const device = run(dmaAsyncDeviceRegister(kernel, options));
  devices.push(device);
  return device;
};

/** A deterministic pattern. */
export const fill = (n: number, seed: number): Uint8Array => {
  // A plain loop: \`Uint8Array.from\` with a mapping function takes about a second per 16 MiB.
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 13 + seed + (i >> 12)) & 0xff;
  return out;
};

/** Byte-for-byte equality, reported as a boolean so failures stay short. */
export const same = (a: Uint8Array, b: Uint8Array): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
