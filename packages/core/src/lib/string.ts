/**
 * Byte routines of `lib/string.c` that the model needs over shared memory.
 *
 * @module
 */

/** What {@link memzero} copies from: 64 KiB of zeroes. */
const ZEROES = new Uint8Array(64 * 1024);

/**
 * `memset(p, 0, n)` (`lib/string.c`; `clear_page()` over whole pages) for bytes `[start, end)` of
 * `dst`, which may be a view of a `SharedArrayBuffer`: it copies from a block of zeroes, as V8's
 * `fill()` stores into shared memory a byte at a time where `set()` copies words, an order of
 * magnitude faster.
 */
export const memzero = (dst: Uint8Array, start: number, end: number): void => {
  for (let at = start; at < end; at += ZEROES.length)
    dst.set(end - at < ZEROES.length ? ZEROES.subarray(0, end - at) : ZEROES, at);
};
