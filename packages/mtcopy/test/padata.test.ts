import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { padataDoMultithreaded } from "../src/index";

describe("padataDoMultithreaded", () => {
  it("covers the job exactly once, in aligned chunks of at least the minimum, on at most maxThreads threads (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 1, max: 16 }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 70 }),
        (start, size, align, minChunk, maxThreads) => {
          const chunks: Array<[number, number, number]> = [];
          const threads = padataDoMultithreaded(
            { start, size, align, minChunk, maxThreads },
            (a, b, t) => chunks.push([a, b, t]),
          );
          if (size === 0) {
            expect(chunks).toEqual([]);
            return;
          }
          expect(threads).toBeGreaterThanOrEqual(1);
          expect(threads).toBeLessThanOrEqual(maxThreads);
          let at = start;
          for (const [a, b, t] of chunks) {
            expect(a).toBe(at);
            expect(b).toBeGreaterThan(a);
            expect(t).toBeLessThan(threads);
            if (b !== start + size) {
              expect((b - start) % align).toBe(0);
              expect(b - a).toBeGreaterThanOrEqual(Math.min(minChunk, size));
            }
            at = b;
          }
          expect(at).toBe(start + size);
          const perThread = new Array(threads).fill(0);
          for (const [a, b, t] of chunks) perThread[t] += b - a;
          const chunk = Math.max(...chunks.map(([a, b]) => b - a));
          expect(Math.max(...perThread) - Math.min(...perThread)).toBeLessThanOrEqual(chunk);
        },
      ),
    );
  });

  it("uses one thread for a job smaller than two minimum chunks, and deals chunks round-robin", () => {
    const seen: string[] = [];
    expect(
      padataDoMultithreaded(
        { start: 0, size: 30, align: 1, minChunk: 16, maxThreads: 8 },
        (a, b, t) => seen.push(`${a}-${b}@${t}`),
      ),
    ).toBe(1);
    expect(seen).toEqual(["0-30@0"]);
    seen.length = 0;
    expect(
      padataDoMultithreaded(
        { start: 100, size: 64, align: 4, minChunk: 8, maxThreads: 2 },
        (a, b, t) => seen.push(`${a}-${b}@${t}`),
      ),
    ).toBe(2);
    expect(seen).toEqual([
      "100-108@0",
      "108-116@1",
      "116-124@0",
      "124-132@1",
      "132-140@0",
      "140-148@1",
      "148-156@0",
      "156-164@1",
    ]);
  });
});
