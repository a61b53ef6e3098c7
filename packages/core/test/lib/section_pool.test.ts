import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import {
  __GFP_ZERO,
  errno,
  Kernel,
  type Kernel as KernelType,
  SectionPool,
  WMARK_MIN,
} from "../../src/index";

const boot = (sectionPool?: SectionPool, nodes: string[] = ["16M"]) =>
  Effect.runSync(Kernel.boot({ nodes, sectionSize: "16M", sectionPool }));

/**
 * Every page the allocator hands out (it keeps its min watermark), taken without __GFP_ZERO, and
 * whether each reads as zeroes.
 */
const takeEveryFreePage = (k: KernelType, gfp = 0): { pages: number[]; nonZero: number[] } => {
  const nonZero: number[] = [];
  const pages: number[] = [];
  for (
    let pfn = k.pageAlloc.allocPages(0, 0, gfp);
    pfn >= 0;
    pfn = k.pageAlloc.allocPages(0, 0, gfp)
  ) {
    pages.push(pfn);
    if (k.mem.bytes(pfn).some((b) => b !== 0)) nonZero.push(pfn);
  }
  return { pages, nonZero };
};

describe("SectionPool: kernels that boot on the memory of kernels that shut down", () => {
  it("the next kernel boots on the buffer the last one gave back, and every page it hands out reads as fresh memory (zeroes)", async () => {
    const pool = new SectionPool();
    const first = boot(pool);
    const buffer = first.mem.sections[0];
    const p = Effect.runSync(first.createProcess());
    const addr = Effect.runSync(p.mmap(64 * 4096));
    Effect.runSync(p.write(addr, new Uint8Array(64 * 4096).fill(0xa5)));
    // A page handed out, written and freed: on the free lists with its bytes still there.
    const freed = first.pageAlloc.allocPages(0, 0, 0);
    first.mem.bytes(freed).fill(0x5a);
    first.memmap.refcount[freed] = 0;
    expect(first.pageAlloc.freePages(freed, 0)).toBe(true);
    await Effect.runPromise(first.shutdown());
    expect(pool.bytes).toBe(16 * 2 ** 20);

    const second = boot(pool);
    expect(second.mem.sections[0]).toBe(buffer);
    expect(pool.bytes).toBe(0);
    // Allocations without __GFP_ZERO see zeroes too, as on a buffer fresh from the host.
    const zone = second.pageAlloc.zones[0]!;
    const free = zone.freePages;
    const { pages, nonZero } = takeEveryFreePage(second);
    expect(pages.length).toBe(free - zone.watermark[WMARK_MIN]!);
    expect(pages).toContain(freed);
    expect(nonZero).toEqual([]);
    await Effect.runPromise(second.shutdown());
  });

  it("a page the fragmenter held in between (it neither reads nor writes it) still reads as zeroes when a user gets it", async () => {
    const pool = new SectionPool();
    const first = boot(pool);
    const p = Effect.runSync(first.createProcess());
    const addr = Effect.runSync(p.mmap(256 * 4096));
    Effect.runSync(p.write(addr, new Uint8Array(256 * 4096).fill(0xa5)));
    await Effect.runPromise(first.shutdown());

    const second = boot(pool);
    // Every free page taken by the fragmenter, every other one given back at once and the rest
    // on release: the stale pages the first kernel wrote among them.
    const fragmentation = Effect.runSync(second.fragment(0, 0));
    expect(fragmentation.pinnedPages).toBeGreaterThan(128);
    fragmentation.release();
    const { pages, nonZero } = takeEveryFreePage(second);
    expect(pages.length).toBeGreaterThan(256);
    expect(nonZero).toEqual([]);
    await Effect.runPromise(second.shutdown());
  });

  it("__GFP_ZERO still clears a page handed out before in the same kernel (clear_page())", () => {
    const k = boot(new SectionPool());
    const pfn = k.pageAlloc.allocPages(0, 0, 0);
    k.mem.bytes(pfn).fill(7);
    k.memmap.refcount[pfn] = 0;
    expect(k.pageAlloc.freePages(pfn, 0)).toBe(true);
    const { pages, nonZero } = takeEveryFreePage(k, __GFP_ZERO);
    expect(pages).toContain(pfn);
    expect(nonZero).toEqual([]);
  });

  it("a kernel whose shutdown could not stop a device keeps its memory out of the pool", async () => {
    const pool = new SectionPool();
    const k = boot(pool);
    k.registerDevice({ name: "stuck", shutdown: () => Effect.fail(errno("EBUSY", "stuck")) });
    const exit = await Effect.runPromiseExit(k.shutdown());
    expect(exit._tag).toBe("Failure");
    expect(pool.bytes).toBe(0);
  });

  it("keeps no buffer over maxBufferBytes and no more than maxBytes in all", async () => {
    const pool = new SectionPool(16 * 2 ** 20, 16 * 2 ** 20);
    const big = Effect.runSync(
      Kernel.boot({ nodes: ["32M"], sectionSize: "32M", sectionPool: pool }),
    );
    await Effect.runPromise(big.shutdown());
    expect(pool.bytes).toBe(0);
    const two = boot(pool, ["16M", "16M"]);
    await Effect.runPromise(two.shutdown());
    expect(pool.bytes).toBe(16 * 2 ** 20);
  });

  it("refuses a sectionPool that is not a SectionPool (EINVAL)", () => {
    const exit = Effect.runSyncExit(
      Kernel.boot({ nodes: ["16M"], sectionPool: {} as unknown as SectionPool }),
    );
    expect(exit._tag).toBe("Failure");
    expect(JSON.stringify(exit)).toContain("EINVAL");
  });
});
