import { Effect } from "effect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { __GFP_THISNODE, __GFP_ZERO, PG_buddy } from "../../src/index";
import {
  boot,
  checkKernelConsistency,
  expectConsistent,
  expectErrno,
  run,
} from "../../src/testing/index";

describe("buddy allocator", () => {
  it("starts with every page of every node free, minus the zero page", () => {
    const k = boot({ nodes: ["64M", "32M"] });
    expect(k.pageAlloc.nodeFreePages(0)).toBe(16384 - 1);
    expect(k.pageAlloc.nodeFreePages(1)).toBe(8192);
    // MAX_PAGE_ORDER is 10 with 4 KiB pages (ARCH_FORCE_MAX_ORDER, include/linux/mmzone.h).
    expect(k.pageAlloc.maxOrder).toBe(10);
    expect(k.pageAlloc.pageblockOrder).toBe(9);
    expectConsistent(k);
  });

  it("allocates naturally aligned blocks on the requested node and frees them back exactly", () => {
    const k = boot();
    const before = k.pageAlloc.nodeFreePages(1);
    const folio = run(k.allocFolio(1, 9));
    expect(folio.nid).toBe(1);
    expect(folio.order).toBe(9);
    expect(folio.pfn % 512).toBe(0);
    expect(folio.refcount).toBe(1);
    expect(k.pageAlloc.nodeFreePages(1)).toBe(before - 512);
    k.folioPut(folio);
    expect(k.pageAlloc.nodeFreePages(1)).toBe(before);
    expect(k.pageAlloc.largestFreeOrder(1)).toBe(10);
    expectConsistent(k);
  });

  it("fails with ENOMEM when no block of the order is left, and EINVAL for a bad node or order", () => {
    const k = boot({ nodes: ["4M", "4M"] });
    expectErrno(k.allocFolio(0, 11, __GFP_THISNODE), "ENOMEM");
    expectErrno(k.allocFolio(2, 0), "EINVAL");
    expectErrno(k.allocFolio(-1, 0), "EINVAL");
    expectErrno(k.allocFolio(0, 19), "EINVAL");
    expectErrno(k.allocFolio(0, 1.5), "EINVAL");
    expectConsistent(k);
  });

  it("falls back to the nearest other node unless __GFP_THISNODE is given", () => {
    const k = boot({
      nodes: ["4M", "4M", "4M"],
      distances: [
        [10, 30, 20],
        [30, 10, 20],
        [20, 20, 10],
      ],
    });
    expect(k.pageAlloc.zonelists[0]).toEqual([0, 2, 1]);
    const held = [];
    while (k.pageAlloc.nodeFreePages(0) > 0) held.push(run(k.allocFolio(0, 0, __GFP_THISNODE)));
    expectErrno(k.allocFolio(0, 0, __GFP_THISNODE), "ENOMEM");
    expect(run(k.allocFolio(0, 0)).nid).toBe(2);
  });

  it("answers for a node that does not exist: nothing free, nothing to give, nothing on its LRU", () => {
    const k = boot();
    expect(k.pageAlloc.nodeFreePages(2)).toBe(0);
    expect(k.pageAlloc.largestFreeOrder(-1)).toBe(-1);
    expect(k.pageAlloc.allocPages(2, 0, 0)).toBe(-1);
    expect(k.pageAlloc.allocPages(7, 0, __GFP_THISNODE)).toBe(-1);
    expect(k.lru.count(2)).toBe(0);
    expectConsistent(k);
  });

  it("zeroes with __GFP_ZERO", () => {
    const k = boot();
    const folio = run(k.allocFolio(0, 2));
    folio.bytes().fill(0xaa);
    k.folioPut(folio);
    const again = run(k.allocFolio(0, 2, __GFP_ZERO));
    expect(again.pfn).toBe(folio.pfn);
    expect(again.bytes().every((b) => b === 0)).toBe(true);
  });

  it("refuses a double free as bad_page does, and frees nothing", () => {
    const k = boot();
    const folio = run(k.allocFolio(0, 0));
    k.folioPut(folio);
    const free = k.pageAlloc.nodeFreePages(0);
    expect(k.memmap.test(folio.pfn, PG_buddy)).toBe(true);
    expect(k.pageAlloc.freePages(folio.pfn, 0)).toBe(false);
    expect(k.pageAlloc.nodeFreePages(0)).toBe(free);
    expect(k.badPages).toEqual([{ pfn: folio.pfn, reason: "page is already free (double free)" }]);
    expect(checkKernelConsistency(k)).toHaveLength(1);
  });

  it("fragments a node on purpose so no free block exceeds the order, and undoes it", () => {
    const k = boot();
    const before = k.pageAlloc.nodeFreePages(1);
    const frag = run(k.fragment(1, 3));
    expect(k.pageAlloc.largestFreeOrder(1)).toBe(3);
    expect(frag.pinnedPages).toBeGreaterThan(0);
    expectErrno(k.allocFolio(1, 4, __GFP_THISNODE), "ENOMEM");
    k.folioPut(run(k.allocFolio(1, 3, __GFP_THISNODE)));
    frag.release();
    frag.release();
    expectErrno(k.fragment(7, 3), "EINVAL");
    expect(k.pageAlloc.largestFreeOrder(1)).toBe(10);
    expect(k.pageAlloc.nodeFreePages(1)).toBe(before);
    expectConsistent(k);
  });

  it("never hands out one frame twice, and free restores the counts exactly (property)", () => {
    const k = boot({ nodes: ["8M", "8M"] });
    const initial = [k.pageAlloc.nodeFreePages(0), k.pageAlloc.nodeFreePages(1)];
    const step = fc.oneof(
      fc.record({
        alloc: fc.constant(true),
        nid: fc.nat(1),
        order: fc.nat(10),
        thisnode: fc.boolean(),
      }),
      fc.record({ alloc: fc.constant(false), which: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const owned = new Map<number, number>();
        const owner = new Int32Array(k.mem.maxPfn).fill(-1);
        for (const s of steps) {
          if (s.alloc) {
            const r = Effect.runSyncExit(
              k.allocFolio(s.nid, s.order, s.thisnode ? __GFP_THISNODE : 0),
            );
            if (r._tag === "Failure") continue;
            const folio = r.value;
            if (s.thisnode) expect(folio.nid).toBe(s.nid);
            for (let i = 0; i < folio.nrPages; i++) {
              expect(owner[folio.pfn + i]).toBe(-1);
              owner[folio.pfn + i] = folio.pfn;
            }
            owned.set(folio.pfn, folio.nrPages);
          } else if (owned.size > 0) {
            const pfn = [...owned.keys()][s.which % owned.size]!;
            for (let i = 0; i < owned.get(pfn)!; i++) owner[pfn + i] = -1;
            owned.delete(pfn);
            k.folioPut(k.folio(pfn));
          }
        }
        for (const pfn of owned.keys()) k.folioPut(k.folio(pfn));
        expect([k.pageAlloc.nodeFreePages(0), k.pageAlloc.nodeFreePages(1)]).toEqual(initial);
        expectConsistent(k);
      }),
      { numRuns: 60 },
    );
  });
});
