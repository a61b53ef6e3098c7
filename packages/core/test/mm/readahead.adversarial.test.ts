import { Effect, Exit } from "effect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type File,
  type Kernel,
  MADV_HUGEPAGE,
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
  MAP_PRIVATE,
  MAP_SHARED,
  type Task,
} from "../../src/index";
import { filemapRemoveFolio, folioTrylock, folioUnlock } from "../../src/mm/filemap";
import { folioGet, folioPut } from "../../src/mm/swap";
import { boot, expectConsistent, fillNodeToMin, pteAt, run, runP } from "../../src/testing/index";

// Readahead at the min watermark against Linux 6.16 (mm/filemap.c, mm/readahead.c, mm/memory.c):
// every access reads the file's bytes, filemap_fault() counts PGMAJFAULT once for a fault whose
// page missed the page cache, and mm_account_fault() counts PGFAULT once per completed fault.
const PAGE = 4096;

/** The byte a page's offset `off` of the test file holds. */
const byteOf = (page: number, off: number): number => (page * 31 + off * 7 + 1) & 0xff;

/** A file of `pages` pages filled with {@link byteOf}, written back and unmapped. */
const writeFile = (k: Kernel, pages: number): Effect.Effect<File, unknown> =>
  Effect.gen(function* () {
    const file = yield* k.createFile("data");
    yield* file.truncate(pages * PAGE);
    const w = yield* k.createProcess();
    const at = yield* w.mmap(pages * PAGE, { flags: MAP_SHARED, file });
    const buf = new Uint8Array(pages * PAGE);
    for (let i = 0; i < pages; i++)
      for (const off of [0, 1, 100, PAGE - 1]) buf[i * PAGE + off] = byteOf(i, off);
    yield* w.write(at, buf);
    yield* file.fsync();
    yield* w.munmap(at, pages * PAGE);
    return file;
  });

const ADVICE = [MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_HUGEPAGE] as const;

type Op =
  | { readonly kind: "read"; readonly page: number }
  | { readonly kind: "willneed"; readonly page: number; readonly len: number }
  | { readonly kind: "advice"; readonly advice: number };

const op = (pages: number): fc.Arbitrary<Op> =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .integer({ min: 0, max: pages - 1 })
        .map((page) => ({ kind: "read" as const, page })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.integer({ min: 0, max: pages - 1 }), fc.integer({ min: 1, max: 64 }))
        .map(([page, len]) => ({
          kind: "willneed" as const,
          page,
          len: Math.min(len, pages - page),
        })),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(...ADVICE).map((advice) => ({ kind: "advice" as const, advice })),
    },
  );

const readOnce = async (
  k: Kernel,
  p: Task,
  file: File,
  addr: number,
  page: number,
): Promise<string | null> => {
  const at = addr + page * PAGE;
  const wasMapped = pteAt(p, at) !== 0;
  const wasCached = file.folioAt(page) !== null;
  const [faults, major] = [k.vmstat.get("pgfault"), k.vmstat.get("pgmajfault")];
  const exit = await Effect.runPromiseExit(p.read(at, PAGE));
  if (Exit.isFailure(exit)) return "failed";
  const buf = exit.value;
  for (const off of [0, 1, 100, PAGE - 1])
    if (buf[off] !== byteOf(page, off)) return `page ${page} byte ${off}: ${buf[off]}`;
  const df = k.vmstat.get("pgfault") - faults;
  const dm = k.vmstat.get("pgmajfault") - major;
  if (df !== (wasMapped ? 0 : 1))
    return `page ${page}: pgfault +${df} (mapped before: ${wasMapped})`;
  if (dm !== (wasMapped || wasCached ? 0 : 1))
    return `page ${page}: pgmajfault +${dm} (mapped ${wasMapped}, cached ${wasCached})`;
  return null;
};

describe("readahead near the min watermark, random access (adversarial)", () => {
  it("every read returns the file's bytes; one pgfault per completed fault, one pgmajfault per page-cache miss", async () => {
    let stalled = 0;
    await fc.assert(
      fc.asyncProperty(
        fc
          .integer({ min: 4, max: 160 })
          .chain((pages) =>
            fc.tuple(fc.constant(pages), fc.array(op(pages), { minLength: 1, maxLength: 25 })),
          ),
        fc.constantFrom(0, 64, 512),
        fc.boolean(),
        fc.constantFrom(4096, 16384, 65536),
        async ([pages, ops], cachedPages, priv, fab) => {
          const k = boot({ nodes: ["16M"], daemons: "on-demand" });
          const file = await runP(writeFile(k, pages));
          await runP(fillNodeToMin(k, cachedPages, true));
          // Evict the written file from the page cache: a hog faults in anonymous memory at the
          // min mark, and direct reclaim frees the oldest clean page cache, the file's first.
          const hog = run(k.createProcess());
          const h = run(hog.mmap((pages + 16) * PAGE));
          await Effect.runPromiseExit(hog.write(h, new Uint8Array((pages + 16) * PAGE).fill(3)));
          run(k.fs.write("/sys/kernel/debug/fault_around_bytes", String(fab)));
          const p = run(k.createProcess());
          const addr = run(p.mmap(pages * PAGE, { flags: priv ? MAP_PRIVATE : MAP_SHARED, file }));
          const stalls = k.vmstat.get("allocstall_normal");
          const why = JSON.stringify({ pages, cachedPages, priv, fab, ops });
          for (const o of ops) {
            if (p.exited) break;
            if (o.kind === "read") {
              const bad = await readOnce(k, p, file, addr, o.page);
              // The OOM killer may choose the reader: it dies, as a task in Linux would.
              if (bad === "failed") break;
              expect(bad, why).toBeNull();
            } else if (o.kind === "willneed") {
              await Effect.runPromiseExit(
                p.madvise(addr + o.page * PAGE, o.len * PAGE, MADV_WILLNEED),
              );
            } else {
              run(p.madvise(addr, pages * PAGE, o.advice));
            }
            expectConsistent(k);
          }
          if (k.vmstat.get("allocstall_normal") > stalls) stalled++;
        },
      ),
      { numRuns: 25, endOnFailure: true },
    );
    // Some runs took the allocator's slow path for their readahead.
    expect(stalled).toBeGreaterThan(0);
  }, 120_000);
});

describe("a retried fault (FAULT_FLAG_TRIED) that misses the page cache at the min mark (adversarial)", () => {
  const settle = async (n = 50) => {
    for (let i = 0; i < n; i++) await runP(Effect.yieldNow);
  };

  it.each([
    ["MADV_NORMAL (read-around)", MADV_NORMAL],
    ["MADV_SEQUENTIAL (page_cache_sync_ra(), no mmap_miss limit)", MADV_SEQUENTIAL],
  ])("%s: counts one major fault and ends, with nothing to reclaim", async (_, advice) => {
    const k = boot({ nodes: ["16M"], daemons: "on-demand" });
    const file = run(k.createFile("data"));
    run(file.truncate(64 * PAGE));
    const p = run(k.createProcess());
    const addr = run(p.mmap(64 * PAGE, { flags: MAP_SHARED, file }));
    // No fault-around: the retry's ->fault() is what maps the page.
    run(k.fs.write("/sys/kernel/debug/fault_around_bytes", "4096"));
    run(p.madvise(addr, 64 * PAGE, advice));
    // Page 40 alone in the page cache (force_page_cache_ra() of one page).
    run(p.madvise(addr + 40 * PAGE, PAGE, MADV_WILLNEED));
    // Nothing to reclaim: anonymous memory (no swap), then the first tries until they fail.
    const hog = run(k.createProcess());
    const h = run(hog.mmap(2048 * PAGE));
    await runP(hog.write(h, new Uint8Array(2048 * PAGE).fill(1)));
    while (k.pageAlloc.allocPages(0, 0, 0xcc0 /* GFP_KERNEL */) >= 0);
    const pfn = file.folioAt(40)!.pfn;
    expect(folioTrylock(k, pfn)).toBe(true);
    const major = k.vmstat.get("pgmajfault");
    const fiber = Effect.runFork(p.read(addr + 40 * PAGE, 1));
    await settle(5);
    // The first attempt found 40 cached but locked: VM_FAULT_RETRY, waiting for the lock.
    expect(k.folioWaiters.waiting(pfn)).toBe(1);
    expect(k.vmstat.get("pgmajfault")).toBe(major);
    // The lock is let go, and before the waiter runs the file is cut and grown again: the
    // retry (FAULT_FLAG_TRIED) misses the page cache, a major fault that reads around
    // (do_sync_mmap_readahead(), no mmap_lock dropped on a retry) with __GFP_NORETRY.
    // (What truncate_inode_pages_range() does under the folio lock, the file size then restored.)
    folioGet(k, pfn);
    filemapRemoveFolio(k, file.mapping, pfn);
    folioUnlock(k, pfn);
    folioPut(k, pfn);
    expect(file.folioAt(40)).toBeNull();
    await settle();
    // Linux: one PGMAJFAULT for the retry's miss; the readahead's slow path frees nothing and
    // the readahead ends (page_cache_ra_unbounded()); the fault's own allocation goes on.
    const done = fiber.pollUnsafe();
    const extraMajor = k.vmstat.get("pgmajfault") - major;
    if (!done) fiber.interruptUnsafe();
    expect({ done: done !== undefined, extraMajor }).toEqual({ done: true, extraMajor: 1 });
    // The retry's miss added one to mmap_miss (MADV_NORMAL only), and the
    // fault's own allocation (GFP_HIGHUSER_MOVABLE) called the OOM killer, which chose the hog.
    if (advice === MADV_NORMAL) expect(file.mapping.ra!.mmapMiss).toBe(1);
    expect(hog.exited).toBe(true);
    expect(file.folioAt(40)).not.toBeNull();
    expectConsistent(k);
  });
});
