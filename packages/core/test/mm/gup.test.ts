// Populating a range ahead of use: populate_vma_page_range() and __mm_populate() (mm/gup.c,
// Linux 6.16), as mmap(MAP_POPULATE) runs them (do_mmap()'s *populate, then mm_populate() →
// __mm_populate(addr, len, 1) after mmap_write_unlock(), vm_mmap_pgoff(), mm/util.c) and mlock()
// does (do_mlock() → __mm_populate(start, len, 0), __mlock_posix_error_return(), mm/mlock.c).
// Each populate fault is a __get_user_pages() → faultin_page() → handle_mm_fault(): the whole
// fault path, the allocator's slow path (__alloc_pages_slowpath(): direct reclaim, compaction,
// the OOM killer) and migration_entry_wait() included.
import { Effect, Fiber } from "effect";
import { describe, expect, it } from "vitest";
import {
  GFP_KERNEL,
  getMmRss,
  type Kernel,
  MAP_ANONYMOUS,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
  type Task,
  VM_LOCKED,
} from "../../src/index";
import { folioTrylock, folioUnlock } from "../../src/mm/filemap";
import { removeMigrationPtes, tryToMigrate } from "../../src/mm/rmap";
import {
  boot,
  expectBytes,
  expectConsistent,
  expectErrno,
  expectSignal,
  folioAt,
  mapPattern,
  pattern,
  run,
  runP,
  waitUntil,
} from "../../src/testing/index";

const PAGE = 4096;
const POPULATE = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE;

/**
 * One 16 MiB node: 4096 pages, min watermark 128 pages (init_per_zone_wmark_min(),
 * __setup_per_zone_wmarks()). Takes every page GFP_KERNEL's first tries may have: the node is
 * left at its min watermark, below which a user fault's first tries fail.
 */
const bootAtMin = (setup: (k: Kernel) => void) => {
  // No kswapd: direct reclaim alone frees the page cache the population needs.
  const k = boot({ nodes: ["16M"], daemons: "on-demand" });
  setup(k);
  while (k.pageAlloc.allocPages(0, 0, GFP_KERNEL) >= 0);
  expect(k.pageAlloc.nodeFreePages(0)).toBe(128);
  return k;
};

/** A process with `pages` anonymous pages written (resident). */
const withResident = (k: Kernel, pages: number, name: string): Task => {
  const p = run(k.createProcess({ name }));
  mapPattern(p, pages * PAGE, pages);
  return p;
};

/**
 * A node at its min watermark with no page cache, and two processes of anonymous memory (no
 * swap: nothing reclaimable): "big" with 2000 pages, "small" with 10, their oom_score_adj set.
 */
const bigAndSmall = (bigAdj: number, smallAdj: number) => {
  let big!: Task;
  let small!: Task;
  const k = bootAtMin((k) => {
    big = withResident(k, 2000, "big");
    small = withResident(k, 10, "small");
    for (const [p, adj] of [
      [big, bigAdj],
      [small, smallAdj],
    ] as const)
      run(k.fs.write(`/proc/${p.pid}/oom_score_adj`, String(adj)));
  });
  return { k, big, small };
};

describe("mmap(MAP_POPULATE): mm_populate() → __mm_populate(addr, len, 1) (Linux 6.16)", () => {
  it("at the min watermark with clean page cache: direct reclaim frees it and every page is populated (allocstall_normal)", async () => {
    let cached = 0;
    let p!: Task;
    const k = bootAtMin((k) => {
      p = run(k.createProcess({ name: "p" }));
      // 256 clean page-cache pages, unmapped: what direct reclaim may take.
      const file = run(k.createFile("cache"));
      run(file.truncate(256 * PAGE));
      const at = run(p.mmap(256 * PAGE, { flags: MAP_SHARED, prot: PROT_READ, file }));
      for (let i = 0; i < 256; i++) run(p.read(at + i * PAGE, 1));
      run(p.munmap(at, 256 * PAGE));
      cached = file.mapping.nrFolios;
    });
    expect(cached).toBe(256);
    const rss = getMmRss(k, p.mm!);
    const addr = await runP(p.mmap(16 * PAGE, { flags: POPULATE, hugepage: false }));
    // The first fault's first tries fail; its slow path reclaims directly, once
    // (try_to_free_pages() counts allocstall), SWAP_CLUSTER_MAX pages or more, and the slow
    // path's retries at ALLOC_WMARK_MIN serve the faults after it.
    expect(k.vmstat.get("allocstall_normal")).toBe(1);
    expect(k.vmstat.get("pgsteal_direct")).toBeGreaterThanOrEqual(32);
    expect(k.vmstat.get("oom_kill")).toBe(0);
    // All 16 pages are mapped now (write faults: a private writable mapping, FOLL_WRITE).
    expect(getMmRss(k, p.mm!) - rss).toBe(16);
    const faults = k.vmstat.get("pgfault");
    await runP(p.write(addr, pattern(16 * PAGE, 3)));
    expect(k.vmstat.get("pgfault")).toBe(faults);
    expectBytes(run(p.read(addr, 16 * PAGE)), pattern(16 * PAGE, 3));
    expectConsistent(k);
  });

  // out_of_memory() with no process to kill: panic("System is deadlocked on memory\n") (Linux
  // 6.16), which never returns; the model used to fail the fault with ENOMEM here.
  it("with nothing reclaimable and every process at oom_score_adj -1000: the first populate fault panics the kernel, and mmap() fails with ESHUTDOWN naming the panic", async () => {
    const { k, big, small } = bigAndSmall(-1000, -1000);
    const err = await runP(Effect.flip(small.mmap(8 * PAGE, { flags: POPULATE, hugepage: false })));
    expect([err.errno, err.message]).toEqual([
      "ESHUTDOWN",
      "mmap: Kernel panic - not syncing: System is deadlocked on memory",
    ]);
    expect(k.state).toBe("panicked");
    expect(k.vmstat.get("oom_kill")).toBe(0);
    expect(k.vmstat.get("allocstall_normal")).toBeGreaterThan(0);
    expect(big.exited || small.exited).toBe(false);
    expectConsistent(k);
  });

  // A populate's fault and the task's own store differ on VM_FAULT_OOM: __get_user_pages() hands
  // vm_fault_to_errno()'s -ENOMEM to its caller; x86's do_user_addr_fault() calls
  // pagefault_out_of_memory(), which (Linux 5.16 on) kills nobody, and the store faults again,
  // for as long as the allocation fails (mm/oom_kill.c, arch/x86/mm/fault.c, Linux 6.16).
  it("a fault that fails with ENOMEM (an injected allocation failure, fail_page_alloc): mmap() succeeds with nothing populated, mlock() reports EAGAIN, and the access retries until the allocation succeeds", async () => {
    const k = boot({ nodes: ["16M"] });
    const small = withResident(k, 10, "small");
    const rss = getMmRss(k, small.mm!);
    expect(k.pageAlloc.failPageAlloc.arm({ times: -1, ignoreGfpReclaim: false })).toBeNull();
    // __mm_populate(..., 1): the fault's -ENOMEM ends the VMA's part and is forgotten.
    const addr = await runP(small.mmap(8 * PAGE, { flags: POPULATE, hugepage: false }));
    expect(small.mm!.findVma(addr)!.end).toBe(addr + 8 * PAGE);
    expect(getMmRss(k, small.mm!)).toBe(rss);
    expect(k.vmstat.get("oom_kill")).toBe(0);
    // mlock() reports the fault's -ENOMEM, as __mlock_posix_error_return() turns it: EAGAIN.
    expectErrno(small.mlock(addr, 8 * PAGE), "EAGAIN");
    // The store faults again and again while every allocation fails, neither failing nor killing.
    const faults = k.vmstat.get("pgfault");
    const store = Effect.runFork(small.write(addr, new Uint8Array([1])));
    await runP(waitUntil(() => k.vmstat.get("pgfault") >= faults + 3));
    expect(store.pollUnsafe()).toBeUndefined();
    expect(k.pageAlloc.failPageAlloc.arm({ times: 0 })).toBeNull();
    await runP(Fiber.join(store));
    expect(getMmRss(k, small.mm!)).toBe(rss + 1);
    expect([small.exited, k.vmstat.get("oom_kill")]).toEqual([false, 0]);
    expectConsistent(k);
  });

  it("a task the OOM killer ends while it populates fails with ESRCH, as its accesses do", async () => {
    const { k, big, small } = bigAndSmall(-1000, 0);
    // out_of_memory() passes over big (OOM_SCORE_ADJ_MIN) and chooses the allocating task.
    const err = await runP(Effect.flip(small.mmap(8 * PAGE, { flags: POPULATE, hugepage: false })));
    expect([err.errno, err.message]).toEqual([
      "ESRCH",
      `process ${small.pid} was killed by the OOM killer`,
    ]);
    expect(k.vmstat.get("oom_kill")).toBe(1);
    expect(small.exited).toBe(true);
    expect(big.exited).toBe(false);
    expectConsistent(k);
  });
});

describe("mlock(): do_mlock() → __mm_populate(start, len, 0) (Linux 6.16)", () => {
  // follow_page_mask() finds no page at a migration entry; faultin_page() → do_swap_page() →
  // migration_entry_wait() waits for the folio, and __get_user_pages() tries the page again.
  it("waits for a page under migration, then faults it in and returns", async () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = mapPattern(p, 4 * PAGE, 5, false);
    const src = folioAt(p, addr + 2 * PAGE).pfn;
    expect(folioTrylock(k, src)).toBe(true);
    tryToMigrate(k, src, 0, null);
    let locked = false;
    const locking = Effect.runFork(
      Effect.tap(
        p.mlock(addr, 4 * PAGE),
        Effect.sync(() => {
          locked = true;
        }),
      ),
    );
    await Effect.runPromise(Effect.yieldNow);
    expect(k.folioWaiters.waiting(src)).toBe(1);
    expect(locked).toBe(false);
    // Finish the migration to a new page, as migrate_folio_move() would.
    const dst = run(k.allocFolio(0, 0));
    k.mem.copyPages(dst.pfn, src, 1);
    k.memmap.mapping[dst.pfn] = k.memmap.mapping[src]!;
    k.memmap.index[dst.pfn] = k.memmap.index[src]!;
    expect(removeMigrationPtes(k, src, dst.pfn)).toBe(1);
    folioUnlock(k, src);
    await Effect.runPromise(Fiber.join(locking));
    expect(locked).toBe(true);
    expect(p.migration.migrationEntryWaits).toBe(1);
    expect(folioAt(p, addr + 2 * PAGE).pfn).toBe(dst.pfn);
    expectBytes(run(p.read(addr, 4 * PAGE)), pattern(4 * PAGE, 5));
  });

  // populate_vma_page_range() sets no FOLL_HWPOISON, so faultin_page()'s vm_fault_to_errno()
  // turns do_swap_page()'s VM_FAULT_HWPOISON into -EFAULT, which mlock() reports as ENOMEM; a
  // load of the same page is SIGBUS BUS_MCEERR_AR (x86's do_sigbus()), which ends the process.
  it("meets a poisoned page's hwpoison entry: EFAULT from the fault, ENOMEM from mlock()", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = mapPattern(p, 4 * PAGE, 7, false);
    run(k.memoryFailure(folioAt(p, addr + PAGE).pfn));
    const err = expectErrno(p.mlock(addr, 4 * PAGE), "ENOMEM");
    expect(err.message).toContain("poisoned page");
    // The VMA stays locked (the walk changed it before the populate), as on Linux.
    expect(p.mm!.findVma(addr)!.flags & VM_LOCKED).toBe(VM_LOCKED);
    const load = expectSignal(p.read(addr + PAGE, 1), "SIGBUS", "BUS_MCEERR_AR");
    expect([load.signo, load.siCode, load.addr, load.addrLsb]).toEqual([7, 4, addr + PAGE, 12]);
  });
});

// x86's access_error() (arch/x86/mm/fault.c, Linux 6.16) lets a read fault any VMA that
// vma_is_accessible(): page tables cannot deny a read where they allow a write. populate reads
// such a VMA with FOLL_FORCE (populate_vma_page_range()).
describe("a PROT_WRITE-only mapping is readable on x86", () => {
  it("reads, MAP_POPULATE populates it and mlock() succeeds; PROT_NONE (0) still faults: SIGSEGV SEGV_ACCERR", async () => {
    const k = boot();
    const p = run(k.createProcess());
    const flags = MAP_SHARED | MAP_ANONYMOUS;
    const addr = await runP(p.mmap(2 * PAGE, { flags: flags | MAP_POPULATE, prot: PROT_WRITE }));
    expect(folioAt(p, addr).pfn).not.toBe(k.zeroPfn);
    run(p.write(addr, new Uint8Array([5, 6])));
    expect([...run(p.read(addr, 2))]).toEqual([5, 6]);
    await runP(p.mlock(addr, 2 * PAGE));
    expect(p.mm!.findVma(addr)!.flags & VM_LOCKED).toBe(VM_LOCKED);
    const none = await runP(p.mmap(PAGE, { flags, prot: 0 }));
    expectSignal(p.read(none, 1), "SIGSEGV", "SEGV_ACCERR");
    expectConsistent(k);
  });
});
