import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TLB_ENTRIES, Tlb } from "../../src/include/tlbflush";

describe("Tlb.flushRange (flush_tlb_range(), arch/x86/include/asm/tlbflush.h)", () => {
  it("drops exactly the cached translations inside the range, whatever its width against the TLB", () => {
    fc.assert(
      fc.property(
        // Cached pages around the range and across both of its ends.
        fc
          .tuple(fc.integer({ min: 0, max: 2048 }), fc.integer({ min: 0, max: 1024 }))
          .chain(([vpn, nr]) =>
            fc.tuple(
              fc.array(fc.integer({ min: Math.max(0, vpn - 8), max: vpn + nr + 8 }), {
                maxLength: 2 * TLB_ENTRIES,
              }),
              fc.constant(vpn),
              fc.constant(nr),
            ),
          ),
        ([filled, vpn, nr]) => {
          const tlb = new Tlb();
          for (const v of filled) tlb.fill(v, v + 1);
          const cached = [...new Set(filled)].filter((v) => tlb.lookup(v) !== undefined);
          tlb.flushRange(vpn, nr);
          for (const v of cached) {
            const inRange = v >= vpn && v < vpn + nr;
            expect(tlb.lookup(v)).toBe(inRange ? undefined : v + 1);
          }
          expect(tlb.size).toBe(cached.filter((v) => v < vpn || v >= vpn + nr).length);
          // A range flush is not a full flush.
          expect(tlb.flushes).toBe(0);
        },
      ),
    );
  });

  it("flushes a PMD's 512 pages from a full TLB, keeping the entries outside it", () => {
    const tlb = new Tlb();
    for (let v = 0; v < TLB_ENTRIES; v++) tlb.fill(480 + v, v);
    tlb.flushRange(0, 512);
    expect(tlb.size).toBe(TLB_ENTRIES - 32);
    expect(tlb.lookup(511)).toBeUndefined();
    expect(tlb.lookup(512)).toBe(32);
  });
});
