/**
 * The byte pattern every experiment writes before it moves pages and checks after: each 4 KiB
 * page of the mapping holds one byte value derived from its offset, so a page copied to the
 * wrong place, lost, or copied short shows up. Written and checked in 64 MiB pieces, so that an
 * experiment over gigabytes needs no second copy of them outside the kernel's nodes.
 */
import type { Task } from "@migrate-offload/core";
import { Effect } from "effect";

const CHUNK = 64 << 20;

/** The byte every byte of the 4 KiB page at `offset` into the mapping holds. */
const pageByte = (offset: number): number => ((offset >>> 12) * 7 + 1) & 0xff;

/** The pattern of `length` bytes starting `offset` bytes into the mapping. */
const expected = (buf: Uint8Array, offset: number, length: number): Uint8Array => {
  const view = buf.subarray(0, length);
  for (let i = 0; i < length; i += 4096) view.fill(pageByte(offset + i), i, i + 4096);
  return view;
};

/** Writes the pattern over `bytes` at `addr` through the process. */
export const writePattern = (proc: Task, addr: number, bytes: number) =>
  Effect.gen(function* () {
    const buf = new Uint8Array(Math.min(bytes, CHUNK));
    for (let off = 0; off < bytes; off += CHUNK) {
      yield* proc.write(addr + off, expected(buf, off, Math.min(CHUNK, bytes - off)));
    }
  });

/** Whether every byte of `bytes` at `addr` still holds the pattern. */
export const patternIntact = (proc: Task, addr: number, bytes: number) =>
  Effect.gen(function* () {
    const buf = new Uint8Array(Math.min(bytes, CHUNK));
    for (let off = 0; off < bytes; off += CHUNK) {
      const length = Math.min(CHUNK, bytes - off);
      const got = yield* proc.read(addr + off, length);
      const want = expected(buf, off, length);
      if (!Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(want)) return false;
    }
    return true;
  });
