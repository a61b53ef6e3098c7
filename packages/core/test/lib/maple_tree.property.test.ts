// The VMA tree (lib/maple_tree.c's mtree_load(), mt_find(), mas_prev()/mas_next(),
// mas_empty_area() and mas_empty_area_rev(), as mm->mm_mt uses them) against a straightforward
// reference: a sorted array of ranges scanned from one end. Random layouts are built by
// insertions, erasures and in-place changes of bounds (a split's shrink, a merge's growth).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MapleTree } from "../../src/lib/maple_tree";

interface Range {
  start: number;
  end: number;
}

/** The free ranges from 0 up, clipped to `[min, max)`, in order: what the gap searches walk. */
const gapsOf = (sorted: readonly Range[], min: number, max: number): [number, number][] => {
  const out: [number, number][] = [];
  let from = 0;
  for (const r of [...sorted, null]) {
    const to = r ? r.start : Number.POSITIVE_INFINITY;
    const s = Math.max(from, min);
    const e = Math.min(to, max);
    if (s < e) out.push([s, e]);
    if (r) from = r.end;
  }
  return out;
};

type Op =
  | { op: "insert"; at: number; len: number }
  | { op: "erase"; pick: number }
  | { op: "shrink"; pick: number; by: number; top: boolean }
  | { op: "grow"; pick: number; by: number; top: boolean };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant("insert" as const),
      at: fc.nat(400),
      len: fc.integer({ min: 1, max: 12 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("erase" as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("shrink" as const),
      pick: fc.nat(),
      by: fc.integer({ min: 1, max: 6 }),
      top: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("grow" as const),
      pick: fc.nat(),
      by: fc.integer({ min: 1, max: 6 }),
      top: fc.boolean(),
    }),
  },
);

const queryArb = fc.record({
  min: fc.nat(420),
  width: fc.nat(420),
  size: fc.integer({ min: 1, max: 40 }),
  addr: fc.nat(420),
});

describe("MapleTree (the VMA tree) agrees with a linear scan", () => {
  it("load, find, range, prev/next and both gap searches, after every step of a random layout", () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { maxLength: 120 }),
        fc.array(queryArb, { minLength: 4, maxLength: 8 }),
        (ops, queries) => {
          const mt = new MapleTree<Range>();
          let ref: Range[] = [];
          const sort = () => ref.sort((a, b) => a.start - b.start);
          for (const step of ops) {
            if (step.op === "insert") {
              const r = { start: step.at, end: step.at + step.len };
              if (ref.some((o) => o.start < r.end && o.end > r.start)) {
                expect(() => mt.insert(r)).toThrow(RangeError);
                continue;
              }
              mt.insert(r);
              ref.push(r);
              sort();
            } else if (ref.length > 0) {
              const i = step.pick % ref.length;
              const r = ref[i]!;
              if (step.op === "erase") {
                mt.erase(r);
                ref = ref.filter((o) => o !== r);
                expect(() => mt.erase(r)).toThrow(RangeError);
              } else if (step.op === "shrink") {
                if (r.end - r.start <= step.by) continue;
                if (step.top) r.end -= step.by;
                else r.start += step.by;
                mt.adjust(r);
              } else {
                // Grow into free space only, as a merge does after its neighbour is gone.
                const floor = i > 0 ? ref[i - 1]!.end : 0;
                const ceil = i + 1 < ref.length ? ref[i + 1]!.start : Number.POSITIVE_INFINITY;
                if (step.top) r.end = Math.min(ceil, r.end + step.by);
                else r.start = Math.max(floor, r.start - step.by);
                mt.adjust(r);
              }
            }
            expect(mt.size).toBe(ref.length);
          }
          expect(mt.toArray()).toEqual(ref);
          for (const { min, width, size, addr } of queries) {
            const max = min + width;
            expect(mt.load(addr)).toBe(ref.find((r) => r.start <= addr && addr < r.end));
            expect(mt.find(min, max)).toBe(ref.find((r) => r.end > min && r.start < max));
            expect(mt.range(min, max)).toEqual(ref.filter((r) => r.end > min && r.start < max));
            const gaps = gapsOf(ref, min, max);
            const low = gaps.find(([s, e]) => e - s >= size);
            const high = gaps.findLast(([s, e]) => e - s >= size);
            expect(mt.emptyArea(min, max, size)).toEqual(
              low ? { start: low[0], end: low[1] } : null,
            );
            expect(mt.emptyAreaRev(min, max, size)).toEqual(
              high ? { start: high[0], end: high[1] } : null,
            );
            // Unbounded above, as the search from mmap_base down to the lowest address sees it.
            const top = gapsOf(ref, min, Number.POSITIVE_INFINITY).findLast(
              ([s, e]) => e - s >= size,
            );
            expect(mt.emptyAreaRev(min, Number.POSITIVE_INFINITY, size)?.start).toBe(top?.[0]);
          }
          for (const [i, r] of ref.entries()) {
            expect(mt.prev(r)).toBe(ref[i - 1]);
            expect(mt.next(r)).toBe(ref[i + 1]);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("refuses an empty range, and adjusting or erasing an entry it does not hold", () => {
    const mt = new MapleTree<Range>();
    expect(() => mt.insert({ start: 5, end: 5 })).toThrow(RangeError);
    expect(() => mt.adjust({ start: 1, end: 2 })).toThrow(RangeError);
    mt.insert({ start: 10, end: 20 });
    expect(() => mt.insert({ start: 19, end: 30 })).toThrow(/overlaps \[10, 20\)/);
    expect(mt.size).toBe(1);
    // The gap below the first entry starts at 0; the one above the last has no end.
    expect(mt.emptyArea(0, 100, 10)).toEqual({ start: 0, end: 10 });
    expect(mt.emptyArea(0, 100, 11)).toEqual({ start: 20, end: 100 });
    expect(mt.emptyAreaRev(0, 100, 81)).toBe(null);
  });
});
