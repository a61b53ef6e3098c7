import { describe, expect, it } from "vitest";
import { memzero } from "../../src/lib/string";

describe("memzero() (memset(p, 0, n), lib/string.c)", () => {
  it("zeroes exactly [start, end) of shared memory, across several blocks of its zeroes", () => {
    const bytes = new Uint8Array(new SharedArrayBuffer(200 * 1024)).fill(7);
    memzero(bytes, 3, 150 * 1024 + 5);
    expect(bytes[2]).toBe(7);
    expect(bytes.subarray(3, 150 * 1024 + 5).every((b) => b === 0)).toBe(true);
    expect(bytes[150 * 1024 + 5]).toBe(7);
    expect(bytes.subarray(150 * 1024 + 5).every((b) => b === 7)).toBe(true);
  });

  it("leaves everything as it was for an empty range", () => {
    const bytes = new Uint8Array(16).fill(1);
    memzero(bytes, 8, 8);
    expect([...bytes]).toEqual(new Array(16).fill(1));
  });
});
