import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MemMap } from "../../src/include/mem_map";
import { colouredArray, L1_CACHE_BYTES } from "../../src/lib/cache";
import { FolioList, ListSpace } from "../../src/lib/list";

/** Where element 0 of an array sits within a 4 KiB page of its buffer, in cache lines. */
const lineInPage = (a: { byteOffset: number }): number => (a.byteOffset % 4096) / L1_CACHE_BYTES;

describe("colouredArray (SLAB's colour_off, mm/slab.c; L1_CACHE_BYTES, arch/x86/include/asm/cache.h)", () => {
  it("L1_CACHE_BYTES is x86-64's 64-byte line (1 << CONFIG_X86_L1_CACHE_SHIFT)", () => {
    expect(L1_CACHE_BYTES).toBe(64);
  });

  it("starts `colour` lines into its own zero-filled buffer and indexes as a plain array of `length`", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4096 }),
        fc.integer({ min: 0, max: 63 }),
        fc.boolean(),
        (length, colour, shared) => {
          const a = colouredArray(Int32Array, length, colour, shared);
          expect(a.length).toBe(length);
          expect(a.byteLength).toBe(length * 4);
          expect(a.byteOffset).toBe(colour * L1_CACHE_BYTES);
          expect(a.buffer instanceof SharedArrayBuffer).toBe(shared);
          expect(a.every((v) => v === 0)).toBe(true);
          // Nothing before element 0 is reachable through the array.
          if (length > 0) {
            a[0] = -1;
            a[length - 1] = 7;
            expect(
              new Int32Array(a.buffer, 0, colour * (L1_CACHE_BYTES / 4)).every((v) => v === 0),
            ).toBe(true);
          }
        },
      ),
    );
  });

  it("gives every per-PFN array of struct page a cache line of its own for the same PFN", () => {
    const m = new MemMap(1 << 12);
    const arrays = [
      m.flags,
      m.refcount,
      m.mapcount,
      m.entireMapcount,
      m.compoundHead,
      m.order,
      m.private,
      m.mapping,
      m.index,
      m.lastCpupid,
      m.lru.next,
      m.lru.prev,
    ];
    const lines = arrays.map(lineInPage);
    expect(new Set(lines).size).toBe(arrays.length);
    // The flags stay shared with the copy workers (PG_hwpoison for machine-check-safe copies).
    expect(m.flags.buffer instanceof SharedArrayBuffer).toBe(true);
  });

  it("keeps the list links' colours when the heads grow", () => {
    const space = new ListSpace(8, 9);
    const before = [lineInPage(space.next), lineInPage(space.prev)];
    const lists = Array.from({ length: 600 }, () => new FolioList(space));
    lists[599]!.addTail(3);
    expect([...lists[599]!]).toEqual([3]);
    expect([lineInPage(space.next), lineInPage(space.prev)]).toEqual(before);
    expect(before).toEqual([9, 10]);
  });
});
