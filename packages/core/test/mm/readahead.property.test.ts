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
  PTE_WRITE,
  type Task,
} from "../../src/index";
import { boot, expectConsistent, fillNodeToMin, pteAt, run, runP } from "../../src/testing/index";

// Readahead at the min watermark against Linux 6.16 (mm/filemap.c, mm/readahead.c, mm/memory.c):
// every access reads the file's bytes, filemap_fault() counts PGMAJFAULT once for a fault whose
// page missed the page cache, and mm_account_fault() counts PGFAULT once per completed fault.
/** The page size of the run in progress: 4, 16 or 64 KiB (`boot({ pageSize })`). */
let PAGE = 4096;

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
  | { readonly kind: "advice"; readonly advice: number }
  | { readonly kind: "write"; readonly page: number; readonly value: number };

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
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.integer({ min: 0, max: pages - 1 }), fc.integer({ min: 0, max: 255 }))
        .map(([page, value]) => ({ kind: "write" as const, page, value })),
    },
  );

const readOnce = async (
  k: Kernel,
  p: Task,
  file: File,
  addr: number,
  page: number,
  written: ReadonlyMap<number, number>,
): Promise<string | null> => {
  const at = addr + page * PAGE;
  const wasMapped = pteAt(p, at) !== 0;
  const wasCached = file.folioAt(page) !== null;
  const [faults, major] = [k.vmstat.get("pgfault"), k.vmstat.get("pgmajfault")];
  const exit = await Effect.runPromiseExit(p.read(at, PAGE));
  if (Exit.isFailure(exit)) return "failed";
  const buf = exit.value;
  for (const off of [0, 1, 100, PAGE - 1])
    if (buf[off] !== (off === 1 ? (written.get(page) ?? byteOf(page, off)) : byteOf(page, off)))
      return `page ${page} byte ${off}: ${buf[off]}`;
  const df = k.vmstat.get("pgfault") - faults;
  const dm = k.vmstat.get("pgmajfault") - major;
  if (df !== (wasMapped ? 0 : 1))
    return `page ${page}: pgfault +${df} (mapped before: ${wasMapped})`;
  if (dm !== (wasMapped || wasCached ? 0 : 1))
    return `page ${page}: pgmajfault +${dm} (mapped ${wasMapped}, cached ${wasCached})`;
  return null;
};

describe("readahead near the min watermark, random access", () => {
  it("every read returns the file's bytes or the bytes written; one pgfault per completed fault, one pgmajfault per page-cache miss", async () => {
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
        fc.constantFrom(4096, 16384, 65536),
        async ([pages, ops], cachedPages0, priv, fab0, ps) => {
          // The same bytes of clean page cache, and a fault_around_bytes of at least a page.
          PAGE = ps;
          const cachedPages = Math.floor((cachedPages0 * 4096) / ps);
          const fab = Math.max(fab0, ps);
          const k = boot({ nodes: ["32M"], daemons: "on-demand", pageSize: ps });
          const file = await runP(writeFile(k, pages));
          await runP(fillNodeToMin(k, cachedPages, true));
          // Evict the written file from the page cache: a hog faults in anonymous memory at the
          // min mark, and direct reclaim frees the oldest clean page cache, the file's first.
          const hog = run(k.createProcess());
          const h = run(hog.mmap((pages + 16) * PAGE));
          await Effect.runPromiseExit(hog.write(h, new Uint8Array((pages + 16) * PAGE).fill(3)));
          run(k.fs.write("/sys/kernel/debug/fault_around_bytes", String(fab)));
          // Two processes map the file, each its own mapping; the ops alternate between them.
          const procs = [run(k.createProcess()), run(k.createProcess())];
          const addrs = procs.map((t) =>
            run(t.mmap(pages * PAGE, { flags: priv ? MAP_PRIVATE : MAP_SHARED, file })),
          );
          // The bytes written at offset 1 of a page: per process in private mappings.
          const writtens = [new Map<number, number>(), new Map<number, number>()];
          const stalls = k.vmstat.get("allocstall_normal");
          const why = JSON.stringify({ pages, cachedPages, priv, fab, ops });
          let idx = 0;
          for (const o of ops) {
            const who = (idx++ + ("page" in o ? o.page : 0)) % 2;
            const p = procs[who]!;
            const addr = addrs[who]!;
            const written = priv ? writtens[who]! : writtens[0]!;
            if (p.exited) break;
            if (o.kind === "read") {
              const bad = await readOnce(k, p, file, addr, o.page, written);
              // The OOM killer may choose the reader: it dies, as a task in Linux would.
              if (bad === "failed") break;
              expect(bad, why).toBeNull();
            } else if (o.kind === "write") {
              // A write fault: copy-on-write of the file page in a private mapping, the page
              // cache's folio made dirty in a shared one. One pgfault unless already writable.
              const at = addr + o.page * PAGE;
              const faults = k.vmstat.get("pgfault");
              const writable = (pteAt(p, at) & PTE_WRITE) !== 0;
              const exit = await Effect.runPromiseExit(p.write(at + 1, new Uint8Array([o.value])));
              if (Exit.isFailure(exit)) break;
              written.set(o.page, o.value);
              expect(k.vmstat.get("pgfault") - faults, why).toBe(writable ? 0 : 1);
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
