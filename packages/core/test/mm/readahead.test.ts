import { Effect, Fiber } from "effect";
import { describe, expect, it } from "vitest";
import {
  type File,
  GFP_KERNEL,
  getInitRaSize,
  getNextRaSize,
  type Kernel,
  MADV_HUGEPAGE,
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  MMAP_LOTSAMISS,
  MPOL_BIND,
  PG_readahead,
  PG_writeback,
  ptePfn,
  type Task,
  VM_RAND_READ,
  VM_SEQ_READ,
} from "../../src/index";
import { filemapRemoveFolio, folioTrylock, folioUnlock } from "../../src/mm/filemap";
import { folioGet, folioPut } from "../../src/mm/swap";
import { boot, expectConsistent, fillNodeToMin, pteAt, run, runP } from "../../src/testing/index";

// File readahead of Linux 6.16 (mm/readahead.c, mm/filemap.c) with 4 KiB pages:
// VM_READAHEAD_PAGES = SZ_128K / PAGE_SIZE = 32 (include/linux/pagemap.h), the ra_pages of a
// file on the default backing device.
const PAGE = 4096;
const RA_PAGES = 32;
/** A free, PMD-aligned hint, so that fault-around windows count from a PMD boundary. */
const HINT = 0x7fff_0000_0000;

/** The page offsets of `file` its page cache holds, sorted. */
const cached = (file: File, pages: number): number[] =>
  Array.from({ length: pages }, (_, i) => i).filter((i) => file.folioAt(i) !== null);
/** The page offsets of `file` whose cached folio is marked `PG_readahead`. */
const marked = (k: Kernel, file: File, pages: number): number[] =>
  cached(file, pages).filter((i) => k.memmap.test(file.folioAt(i)!.pfn, PG_readahead));
/** The pages of `[addr, addr + n pages)` that `task` maps, by page index. */
const mapped = (task: Task, addr: number, n: number): number[] =>
  Array.from({ length: n }, (_, i) => i).filter((i) => pteAt(task, addr + i * PAGE) !== 0);
const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from }, (_, i) => from + i);
const settle = async () => {
  for (let i = 0; i < 5; i++) await runP(Effect.yieldNow);
};

/** A file of `pages` pages that a new process maps shared, in `k`. */
const mapFile = (k: Kernel, pages: number) => {
  const file = run(k.createFile("data"));
  run(file.truncate(pages * PAGE));
  const p = run(k.createProcess());
  const addr = run(p.mmap(pages * PAGE, { flags: MAP_SHARED, file }));
  return { file, p, addr };
};

/** A kernel with a file of `pages` pages mapped shared by a new process. */
const setup = (pages: number, size = pages * PAGE) => {
  const k = boot();
  const file = run(k.createFile("data"));
  run(file.truncate(size));
  const p = run(k.createProcess({ node: 0 }));
  const addr = run(p.mmap(pages * PAGE, { flags: MAP_SHARED, file, addr: HINT }));
  return { k, file, p, addr };
};

describe("get_init_ra_size() and get_next_ra_size() (mm/readahead.c, Linux 6.16)", () => {
  it("ramp the window up to ra_pages", () => {
    // roundup_pow_of_two(size) * 4 up to max / 32, * 2 up to max / 4, else max.
    expect([1, 2, 3, 4, 8, 9, 32, 64].map((n) => getInitRaSize(n, RA_PAGES))).toEqual([
      4, 4, 8, 8, 16, 32, 32, 32,
    ]);
    // 4 * cur below max / 16, 2 * cur up to max / 2, else max.
    expect([1, 2, 4, 16, 17, 32].map((n) => getNextRaSize(n, RA_PAGES))).toEqual([
      4, 4, 8, 32, 32, 32,
    ]);
  });
});

describe("filemap_fault() read-around (do_sync_mmap_readahead(), mm/filemap.c, Linux 6.16)", () => {
  it("a miss reads ra_pages pages from ra_pages / 2 before the fault, marks the async quarter, counts pgmajfault", () => {
    const { k, file, p, addr } = setup(256);
    const major = k.vmstat.get("pgmajfault");
    run(p.read(addr + 100 * PAGE, 1));
    expect(k.vmstat.get("pgmajfault")).toBe(major + 1);
    // ra->start = 100 - 16 = 84, ra->size = 32, ra->async_size = 32 / 4 = 8: the mark on
    // 84 + 32 - 8 = 108.
    expect(cached(file, 256)).toEqual(range(84, 116));
    expect(marked(k, file, 256)).toEqual([108]);
    // The first attempt dropped mmap_lock to read (maybe_unlock_mmap_for_io()) and returned
    // VM_FAULT_RETRY; the retry (FAULT_FLAG_TRIED) maps by fault-around the cached pages of its
    // fault_around_bytes window (64 KiB: 96..111) but the marked 108, and gives their hits back
    // to mmap_miss. The rest wait in the page cache, on the LRU.
    expect(mapped(p, addr, 256)).toEqual(range(96, 112).filter((i) => i !== 108));
    expect(file.folioAt(90)!.refcount).toBe(1);
    expect(file.mapping.ra).toMatchObject({ start: 84, size: 32, asyncSize: 8, mmapMiss: 0 });
    // A fault near the start reads from offset 0.
    run(p.read(addr + 3 * PAGE, 1));
    expect(cached(file, 84)).toEqual(range(0, 32));
    expect(k.vmstat.get("pgmajfault")).toBe(major + 2);
    expectConsistent(k);
  });

  it("stops at the end of the file (do_page_cache_ra()); the mark moves in with the cut", () => {
    const { k, file, p, addr } = setup(16, 10 * PAGE + 1);
    run(p.read(addr + 5 * PAGE, 1));
    // 11 pages hold the file's bytes: the window 0..31 is cut to 0..10, and
    // page_cache_ra_unbounded() marks nr_to_read - lookahead_size = 11 - 8 = 3.
    expect(cached(file, 16)).toEqual(range(0, 11));
    expect(marked(k, file, 16)).toEqual([3]);
    // A lookahead longer than what is left marks nothing: MADV_WILLNEED reads with none.
    const g = setup(4);
    run(g.p.read(g.addr, 1));
    expect(cached(g.file, 4)).toEqual(range(0, 4));
    expect(marked(g.k, g.file, 4)).toEqual([]);
    expectConsistent(k);
  });

  it("fault-around leaves the PG_readahead folio unmapped; its fault pushes the window on (page_cache_async_ra())", () => {
    const { k, file, p, addr } = setup(256);
    run(p.read(addr + 100 * PAGE, 1));
    const major = k.vmstat.get("pgmajfault");
    // A read of page 101 maps the cached pages of its 16-page window 96..111 but 108
    // (next_uptodate_folio() skips a folio marked PG_readahead); no ->fault(), no major fault.
    run(p.read(addr + 101 * PAGE, 1));
    expect(mapped(p, addr + 96 * PAGE, 16)).toEqual(range(0, 16).filter((i) => i !== 12));
    // filemap_map_pages() gave back 15 hits: mmap_miss 1 goes to 0.
    expect(file.mapping.ra!.mmapMiss).toBe(0);
    // The fault on 108 finds it cached: the window it marks (start 84 + size 32 - async 8)
    // moves on to 116, get_next_ra_size(32) = 32 pages, all asynchronous, the mark on 116.
    run(p.read(addr + 108 * PAGE, 1));
    expect(k.vmstat.get("pgmajfault")).toBe(major);
    expect(cached(file, 256)).toEqual(range(84, 148));
    expect(marked(k, file, 256)).toEqual([116]);
    expect(file.mapping.ra).toMatchObject({ start: 116, size: 32, asyncSize: 32 });
    // Reading on, each mark reads the next 32 pages.
    run(p.read(addr + 116 * PAGE, 1));
    expect(cached(file, 256)).toEqual(range(84, 180));
    expect(marked(k, file, 256)).toEqual([148]);
    expectConsistent(k);
  });

  it("a mark met after another stream moved the window: the cached run after it sizes the next (page_cache_next_miss())", () => {
    const { k, file, p, addr } = setup(256);
    run(p.read(addr + 100 * PAGE, 1));
    run(p.read(addr + 200 * PAGE, 1));
    expect(file.mapping.ra).toMatchObject({ start: 184, size: 32, asyncSize: 8 });
    expect(marked(k, file, 256)).toEqual([108, 208]);
    // 108 is not where the window's mark is (184 + 32 - 8 = 208): page_cache_next_miss(109, 32)
    // finds 116 uncached, so ra->start = 116 and ra->size = get_next_ra_size(116 - 108 + 32) = 32,
    // all asynchronous.
    run(p.read(addr + 108 * PAGE, 1));
    expect(file.mapping.ra).toMatchObject({ start: 116, size: 32, asyncSize: 32 });
    expect(cached(file, 256)).toEqual([...range(84, 148), ...range(184, 216)]);
    expect(marked(k, file, 256)).toEqual([116, 208]);
    expectConsistent(k);
  });

  it("a mark on a folio under writeback is PG_reclaim: nothing is read", () => {
    const { k, file, p, addr } = setup(256);
    run(p.read(addr + 100 * PAGE, 1));
    const pfn = file.folioAt(108)!.pfn;
    k.memmap.set(pfn, PG_writeback);
    run(p.read(addr + 108 * PAGE, 1));
    expect(cached(file, 256)).toEqual(range(84, 116));
    expect(k.memmap.test(pfn, PG_readahead)).toBe(true);
    k.memmap.clear(pfn, PG_writeback);
    expectConsistent(k);
  });

  it("reads nothing ahead once mmap_miss passes MMAP_LOTSAMISS (100)", () => {
    const { k, file, p, addr } = setup(102 * 33 + 32);
    // No fault-around (should_fault_around()): nothing gives misses back.
    run(k.fs.write("/sys/kernel/debug/fault_around_bytes", "4096"));
    // Misses 33 pages apart: each reads its own 32 pages, as long as mmap_miss <= 100.
    for (let j = 0; j < MMAP_LOTSAMISS; j++) run(p.read(addr + (16 + 33 * j) * PAGE, 1));
    expect(file.cachedFolios).toBe(MMAP_LOTSAMISS * RA_PAGES);
    expect(file.mapping.ra!.mmapMiss).toBe(MMAP_LOTSAMISS);
    const at = 16 + 33 * MMAP_LOTSAMISS;
    run(p.read(addr + at * PAGE, 1));
    expect(file.mapping.ra!.mmapMiss).toBe(MMAP_LOTSAMISS + 1);
    expect(file.cachedFolios).toBe(MMAP_LOTSAMISS * RA_PAGES + 1);
    expect(cached(file, at + 32).slice(-1)).toEqual([at]);
    // Each hit (do_async_mmap_readahead()) takes one miss back: after two, the next miss counts
    // 100, not above MMAP_LOTSAMISS, and reads around itself again.
    run(p.read(addr + (at - 32) * PAGE, 1));
    run(p.read(addr + (at - 31) * PAGE, 1));
    expect(file.mapping.ra!.mmapMiss).toBe(MMAP_LOTSAMISS - 1);
    run(p.read(addr + (at + 33) * PAGE, 1));
    expect(file.mapping.ra!.mmapMiss).toBe(MMAP_LOTSAMISS);
    expect(file.cachedFolios).toBe(MMAP_LOTSAMISS * RA_PAGES + 1 + RA_PAGES);
    expect(cached(file, at + 80).slice(-RA_PAGES)).toEqual(range(at + 17, at + 49));
    expectConsistent(k);
  });
});

describe("madvise() readahead advice (mm/madvise.c, Linux 6.16)", () => {
  it("MADV_RANDOM sets VM_RAND_READ: a fault reads its one page; MADV_NORMAL reads around again", () => {
    const { k, file, p, addr } = setup(256);
    run(p.madvise(addr, 256 * PAGE, MADV_RANDOM));
    expect(p.mm!.findVma(addr)!.flags & (VM_RAND_READ | VM_SEQ_READ)).toBe(VM_RAND_READ);
    const major = k.vmstat.get("pgmajfault");
    run(p.read(addr + 100 * PAGE, 1));
    expect(cached(file, 256)).toEqual([100]);
    expect(k.vmstat.get("pgmajfault")).toBe(major + 1);
    run(p.madvise(addr, 256 * PAGE, MADV_NORMAL));
    expect(p.mm!.findVma(addr)!.flags & (VM_RAND_READ | VM_SEQ_READ)).toBe(0);
    run(p.read(addr + 200 * PAGE, 1));
    expect(cached(file, 256)).toEqual([100, ...range(184, 216)]);
    expectConsistent(k);
  });

  it("MADV_SEQUENTIAL sets VM_SEQ_READ: page_cache_sync_ra() of ra_pages, not read-around", () => {
    const { k, file, p, addr } = setup(256);
    run(p.madvise(addr, 256 * PAGE, MADV_SEQUENTIAL));
    expect(p.mm!.findVma(addr)!.flags & (VM_RAND_READ | VM_SEQ_READ)).toBe(VM_SEQ_READ);
    // At offset 0: get_init_ra_size(32, 32) = 32 pages from the fault, async_size 32 >> 1 = 16.
    run(p.read(addr, 1));
    expect(cached(file, 256)).toEqual(range(0, 32));
    expect(marked(k, file, 256)).toEqual([16]);
    // A miss elsewhere with no cached run before it (page_cache_prev_miss()) is a small random
    // read: 32 pages from the fault, no mark, the window untouched.
    run(p.read(addr + 100 * PAGE, 1));
    expect(cached(file, 256)).toEqual([...range(0, 32), ...range(100, 132)]);
    expect(marked(k, file, 256)).toEqual([16]);
    expect(file.mapping.ra).toMatchObject({ start: 0, size: 32, asyncSize: 16 });
    // MADV_SEQUENTIAL keeps ra_pages at VM_READAHEAD_PAGES (only POSIX_FADV_SEQUENTIAL doubles
    // it, mm/fadvise.c).
    expect(file.mapping.ra!.raPages).toBe(RA_PAGES);
    // The mark on 16 moves the window to 32..63.
    run(p.read(addr + 16 * PAGE, 1));
    expect(cached(file, 100)).toEqual(range(0, 64));
    expect(marked(k, file, 256)).toEqual([32]);
    expectConsistent(k);
  });

  it("MADV_HUGEPAGE reads two PMD sizes from the PMD-aligned offset below the fault, the mark a PMD size in", () => {
    const { k, file, p, addr } = setup(1024);
    run(p.madvise(addr, 1024 * PAGE, MADV_HUGEPAGE));
    run(p.read(addr + 700 * PAGE, 1));
    // ractl._index = 700 & ~(HPAGE_PMD_NR - 1) = 512, ra->size = 2 * HPAGE_PMD_NR = 1024 with
    // async_size 512, in order-0 folios (no large folio support): do_page_cache_ra() cuts the read
    // at the file's end to 512 pages, and page_cache_ra_unbounded() marks 512 + 512 - 512.
    expect(cached(file, 1024)).toEqual(range(512, 1024));
    expect(marked(k, file, 1024)).toEqual([512]);
    run(p.read(addr + 10 * PAGE, 1));
    // From 0: 1024 pages; the page to mark (512) was cached already, so no new mark.
    expect(file.cachedFolios).toBe(1024);
    expect(marked(k, file, 1024)).toEqual([512]);
    expectConsistent(k);
  });

  it("MADV_WILLNEED reads the range's file pages into the page cache, at most 32, mapping none", () => {
    const { k, file, p, addr } = setup(256);
    const major = k.vmstat.get("pgmajfault");
    // force_page_cache_ra(): max(bdi->io_pages, ra_pages) = 32 pages from the range's start.
    run(p.madvise(addr + 10 * PAGE, 100 * PAGE, MADV_WILLNEED));
    expect(cached(file, 256)).toEqual(range(10, 42));
    expect(marked(k, file, 256)).toEqual([]);
    expect(mapped(p, addr, 256)).toEqual([]);
    expect(file.folioAt(10)!.refcount).toBe(1);
    // The pages are then minor faults.
    run(p.read(addr + 20 * PAGE, 1));
    expect(k.vmstat.get("pgmajfault")).toBe(major);
    expectConsistent(k);
  });

  it("MADV_WILLNEED on a mapping at a file offset reads that offset's pages, none past the end", () => {
    const k = boot();
    const file = run(k.createFile("data"));
    run(file.truncate(40 * PAGE));
    const p = run(k.createProcess());
    const addr = run(p.mmap(16 * PAGE, { flags: MAP_PRIVATE, file, offset: 30 * PAGE }));
    run(p.madvise(addr, 16 * PAGE, MADV_WILLNEED));
    expect(cached(file, 64)).toEqual(range(30, 40));
    // Anonymous memory has nothing to read (no swap): no error, no page.
    const anon = run(p.mmap(4 * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    run(p.madvise(anon, 4 * PAGE, MADV_WILLNEED));
    expect(mapped(p, anon, 4)).toEqual([]);
    expectConsistent(k);
  });
});

describe("filemap_fault()'s folio: placement, lock and reference (mm/filemap.c, Linux 6.16)", () => {
  it("with the node at its min mark, the read-around reclaims once (__GFP_NORETRY) and reads its whole window; one major fault", async () => {
    const k = boot({ nodes: ["16M"], daemons: "on-demand" });
    // Clean page cache for direct reclaim to free, unmapped, then GFP_KERNEL's first tries until
    // they fail: the node sits at its min watermark.
    await runP(fillNodeToMin(k, 512, true));
    const { file, p, addr } = mapFile(k, 64);
    const [major, stalls] = [k.vmstat.get("pgmajfault"), k.vmstat.get("allocstall_normal")];
    await runP(p.read(addr + 40 * PAGE, 1));
    // The read-around's first allocation (__GFP_NORETRY) fails its first tries and reclaims once
    // (__alloc_pages_direct_reclaim(): one allocstall); what that freed serves the rest of the
    // window, 40 - 16 = 24 to 55, the faulting page among them. The fault counts one major fault.
    expect(k.vmstat.get("allocstall_normal")).toBe(stalls + 1);
    expect(k.vmstat.get("pgmajfault")).toBe(major + 1);
    expect(cached(file, 64)).toEqual(range(24, 56));
    expect(marked(k, file, 64)).toEqual([48]);
    expectConsistent(k);
  });

  it("a readahead whose slow path frees nothing ends there without the OOM killer; the fault's own page calls it", async () => {
    const k = boot({ nodes: ["16M"], daemons: "on-demand" });
    // Nothing to reclaim (anonymous memory, no swap): a hog, then GFP_KERNEL's first tries until
    // they fail, so the node sits at its min watermark.
    const hog = run(k.createProcess());
    const h = run(hog.mmap(2048 * PAGE));
    await runP(hog.write(h, new Uint8Array(2048 * PAGE).fill(1)));
    while (k.pageAlloc.allocPages(0, 0, GFP_KERNEL) >= 0);
    const { file, p, addr } = mapFile(k, 64);
    const [kills, stalls] = [k.vmstat.get("oom_kill"), k.vmstat.get("allocstall_normal")];
    await runP(p.read(addr + 40 * PAGE, 1));
    // The read-around's first folio (__GFP_NORETRY) reclaims once, gets nothing and never calls
    // the OOM killer (__alloc_pages_slowpath(): `if (gfp_mask & __GFP_NORETRY) goto nopage`): the
    // readahead ends. The faulting page's own allocation (GFP_HIGHUSER_MOVABLE) reclaims and then
    // kills the hog (__alloc_pages_may_oom()); only that page is read.
    expect(k.vmstat.get("oom_kill")).toBe(kills + 1);
    expect(hog.exited).toBe(true);
    expect(k.vmstat.get("allocstall_normal")).toBeGreaterThanOrEqual(stalls + 2);
    expect(cached(file, 64)).toEqual([40]);
    expect(mapped(p, addr, 64)).toEqual([40]);
    expectConsistent(k);
  });

  it("MADV_WILLNEED at the min mark reclaims once (__GFP_NORETRY) and reads the range", async () => {
    const k = boot({ nodes: ["16M"], daemons: "on-demand" });
    await runP(fillNodeToMin(k, 512, true));
    const { file, p, addr } = mapFile(k, 64);
    const stalls = k.vmstat.get("allocstall_normal");
    await runP(p.madvise(addr + 8 * PAGE, 16 * PAGE, MADV_WILLNEED));
    expect(k.vmstat.get("allocstall_normal")).toBe(stalls + 1);
    expect(cached(file, 64)).toEqual(range(8, 24));
    expect(mapped(p, addr, 64)).toEqual([]);
    expectConsistent(k);
  });

  it("counts one pgfault for a major fault that dropped mmap_lock and retried (mm_account_fault())", () => {
    const { k, p, addr } = setup(64);
    const [faults, major] = [k.vmstat.get("pgfault"), k.vmstat.get("pgmajfault")];
    run(p.read(addr + 40 * PAGE, 1));
    // The first attempt returned VM_FAULT_RETRY (not counted); the retry completed (counted).
    expect(k.vmstat.get("pgfault")).toBe(faults + 1);
    expect(k.vmstat.get("pgmajfault")).toBe(major + 1);
    expect(mapped(p, addr, 64)).toEqual(range(32, 48));
    // The pages fault-around mapped read with no fault.
    run(p.read(addr + 33 * PAGE, 1));
    expect(k.vmstat.get("pgfault")).toBe(faults + 1);
    // MADV_RANDOM reads no more ahead, so nothing drops the lock and the fault has one attempt:
    // fault-around maps the cached 49..55 (48 is marked), then ->fault() reads and maps 60.
    run(p.madvise(addr, 64 * PAGE, MADV_RANDOM));
    run(p.read(addr + 60 * PAGE, 1));
    expect(k.vmstat.get("pgfault")).toBe(faults + 2);
    expect(mapped(p, addr + 48 * PAGE, 16)).toEqual([1, 2, 3, 4, 5, 6, 7, 12]);
    expectConsistent(k);
  });

  it("places page-cache folios by the task's policy, not the VMA's (filemap_alloc_folio())", () => {
    const { k, file, p, addr } = setup(64);
    run(p.mbind(addr, 64 * PAGE, MPOL_BIND, [1]));
    run(p.read(addr + 20 * PAGE, 1));
    for (const i of cached(file, 64)) expect(k.mem.pfnToNid(file.folioAt(i)!.pfn)).toBe(0);
    // A private mapping's copy-on-write page is anonymous: the VMA's policy places it.
    const q = run(k.createProcess({ node: 0 }));
    const priv = run(q.mmap(64 * PAGE, { flags: MAP_PRIVATE, file }));
    run(q.mbind(priv, 64 * PAGE, MPOL_BIND, [1]));
    run(q.write(priv + 20 * PAGE, new Uint8Array([1])));
    expect(k.mem.pfnToNid(ptePfn(pteAt(q, priv + 20 * PAGE)))).toBe(1);
    expect(k.mem.pfnToNid(file.folioAt(20)!.pfn)).toBe(0);
    expectConsistent(k);
  });

  it("waits for a page-cache folio another task holds locked, then maps it (lock_folio_maybe_drop_mmap())", async () => {
    const { k, file, p, addr } = setup(64);
    run(p.madvise(addr, 64 * PAGE, MADV_WILLNEED));
    const pfn = file.folioAt(5)!.pfn;
    expect(folioTrylock(k, pfn)).toBe(true);
    const fiber = Effect.runFork(p.read(addr + 5 * PAGE, 1));
    await settle();
    // Fault-around mapped the window's other pages (next_uptodate_folio() skips a locked folio);
    // filemap_fault() found 5 locked, dropped its reference and waits.
    expect(k.folioWaiters.waiting(pfn)).toBe(1);
    expect(mapped(p, addr, 16)).toEqual(range(0, 16).filter((i) => i !== 5));
    expect(file.folioAt(5)!.refcount).toBe(1);
    folioUnlock(k, pfn);
    await runP(Fiber.join(fiber));
    expect(mapped(p, addr, 16)).toEqual(range(0, 16));
    expect(file.folioAt(5)!.refcount).toBe(2);
    expectConsistent(k);
  });
});

describe("a retried fault (FAULT_FLAG_TRIED) that misses the page cache at the min mark", () => {
  it.each([
    ["MADV_NORMAL (read-around)", MADV_NORMAL],
    ["MADV_SEQUENTIAL (page_cache_sync_ra(), no mmap_miss limit)", MADV_SEQUENTIAL],
    ["MADV_HUGEPAGE (two PMD sizes, no mmap_miss limit)", MADV_HUGEPAGE],
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
    while (k.pageAlloc.allocPages(0, 0, GFP_KERNEL) >= 0);
    const pfn = file.folioAt(40)!.pfn;
    expect(folioTrylock(k, pfn)).toBe(true);
    const major = k.vmstat.get("pgmajfault");
    const fiber = Effect.runFork(p.read(addr + 40 * PAGE, 1));
    await settle();
    // The first attempt found 40 cached but locked: VM_FAULT_RETRY, waiting for the lock.
    expect(k.folioWaiters.waiting(pfn)).toBe(1);
    expect(k.vmstat.get("pgmajfault")).toBe(major);
    // The folio leaves the page cache under its lock, as truncate_inode_pages_range() takes it
    // out (the file then grown back to its size), and the lock is let go: the retry
    // (FAULT_FLAG_TRIED) misses the page cache, a major fault that reads around
    // (filemap_fault() → do_sync_mmap_readahead(), mm/filemap.c, Linux 6.16; no mmap_lock is
    // dropped on a retry) with __GFP_NORETRY.
    folioGet(k, pfn);
    filemapRemoveFolio(k, file.mapping, pfn);
    folioUnlock(k, pfn);
    folioPut(k, pfn);
    expect(file.folioAt(40)).toBeNull();
    for (let i = 0; i < 10; i++) await settle();
    // Linux: one PGMAJFAULT for the retry's miss; the readahead's slow path frees nothing and
    // the readahead ends (page_cache_ra_unbounded()); the fault's own allocation goes on.
    const done = fiber.pollUnsafe();
    const extraMajor = k.vmstat.get("pgmajfault") - major;
    if (!done) fiber.interruptUnsafe();
    expect({ done: done !== undefined, extraMajor }).toEqual({ done: true, extraMajor: 1 });
    // The retry's miss added one to mmap_miss (MADV_NORMAL only), and the fault's own allocation
    // (GFP_HIGHUSER_MOVABLE) called the OOM killer, which chose the hog.
    if (advice === MADV_NORMAL) expect(file.mapping.ra!.mmapMiss).toBe(1);
    expect(hog.exited).toBe(true);
    expect(file.folioAt(40)).not.toBeNull();
    expectConsistent(k);
  });
});
