// memory_failure() by page state, with the values of mm/memory-failure.c (Linux 6.13+):
// action_result() outcomes, the memory_failure_event tracepoint
// (include/trace/events/memory-failure.h), the per-node memory_failure/ counters
// (drivers/base/node.c) and num_poisoned_pages (/proc/meminfo HardwareCorrupted).
import { Effect, Fiber } from "effect";
import { describe, expect, it } from "vitest";
import {
  __GFP_THISNODE,
  ERRNO,
  isHwpoisonEntry,
  type Kernel,
  MADV_SOFT_OFFLINE,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  MF_SW_SIMULATED,
  MIGRATE_REASON_NAMES,
  MPOL_MF_MOVE,
  MR_MEMORY_FAILURE,
  MR_SYSCALL,
  PG_hwpoison,
  PG_locked,
  PG_lru,
  PROT_READ,
  PROT_WRITE,
  ptePfn,
  putbackMovablePages,
  type TraceEvent,
  WMARK_MIN,
} from "../../src/index";
import { folioTrylock, folioUnlock } from "../../src/mm/filemap";
import { folioPut } from "../../src/mm/swap";
import {
  boot,
  expectBytes,
  expectConsistent,
  expectErrno,
  expectSignal,
  folioAt,
  isolateRange,
  mapPattern,
  pattern,
  pteAt,
  recordingMigrator,
  run,
  runP,
} from "../../src/testing/index";

const events = (k: Kernel): TraceEvent[] => {
  const seen: TraceEvent[] = [];
  k.trace.subscribe((e) => {
    if (e.event === "memory_failure_event") seen.push(e);
  });
  return seen;
};
const nodeStats = (k: Kernel, nid: number): string[] =>
  ["total", "ignored", "failed", "delayed", "recovered"].map((f) =>
    run(k.fs.read(`/sys/devices/system/node/node${nid}/memory_failure/${f}`)).trim(),
  );

/**
 * A process with one 2 MiB hugetlb page mapped and written (`head`), events recorded: anonymous,
 * or with `MAP_SHARED` in `flags`, in a hugetlbfs file's page cache.
 */
const mappedHugePage = (flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB) => {
  const k = boot();
  const seen = events(k);
  run(k.fs.write("/proc/sys/vm/nr_hugepages", "1"));
  const p = run(k.createProcess());
  const addr = run(p.mmap(2 * 2 ** 20, { flags }));
  run(p.write(addr, new Uint8Array([1])));
  return { k, seen, p, addr, head: ptePfn(pteAt(p, addr)) };
};

describe("memory_failure(): free and unhandlable pages", () => {
  it("takes a free buddy page off the free lists: MF_MSG_BUDDY, MF_RECOVERED (take_page_off_buddy)", () => {
    // No kswapd: the pageblocks the allocation loop below claims would boost the watermark it
    // stops at (boost_watermark()).
    const k = boot({ daemons: "on-demand" });
    const seen = events(k);
    const pfn = k.pageAlloc.zones[1]!.startPfn + 5000;
    const free = k.pageAlloc.nodeFreePages(1);
    run(k.memoryFailure(pfn));
    expect(k.pageAlloc.nodeFreePages(1)).toBe(free - 1);
    expect(k.memmap.test(pfn, PG_hwpoison)).toBe(true);
    expect(seen).toEqual([
      { event: "memory_failure_event", pfn, type: "MF_MSG_BUDDY", result: "MF_RECOVERED" },
    ]);
    expect(nodeStats(k, 1)).toEqual(["1", "0", "0", "0", "1"]);
    expect(run(k.fs.read("/proc/meminfo"))).toMatch(/HardwareCorrupted:\s+4 kB/);
    // The allocator never hands it out: every free page of the node down to its min watermark
    // (where __alloc_pages() stops), none of them it.
    const taken: number[] = [];
    const alloc = () => k.pageAlloc.allocPages(1, 0, __GFP_THISNODE);
    for (let got = alloc(); got >= 0; got = alloc()) taken.push(got);
    expect(taken).toHaveLength(free - 1 - k.pageAlloc.zones[1]!.watermark[WMARK_MIN]);
    expect(taken).not.toContain(pfn);
  });

  it("ignores a kernel page (not on the LRU): MF_MSG_GET_HWPOISON, MF_IGNORED, EBUSY; it stays poisoned", () => {
    const k = boot();
    const seen = events(k);
    const folio = run(k.allocFolio(0, 0));
    expectErrno(k.memoryFailure(folio.pfn), "EBUSY");
    expect(folio.hwpoisoned).toBe(true);
    expect(k.numPoisonedPages).toBe(1);
    expect(seen.map((e) => e.event === "memory_failure_event" && [e.type, e.result])).toEqual([
      ["MF_MSG_GET_HWPOISON", "MF_IGNORED"],
    ]);
    expect(nodeStats(k, 0)).toEqual(["1", "1", "0", "0", "0"]);
    // A second error on it: MF_MSG_ALREADY_POISONED, MF_FAILED, -EHWPOISON, not counted again.
    expectErrno(k.memoryFailure(folio.pfn), "EHWPOISON");
    expect(seen.at(-1)).toMatchObject({ type: "MF_MSG_ALREADY_POISONED", result: "MF_FAILED" });
    expect(nodeStats(k, 0)[0]).toBe("1");
    expect(k.numPoisonedPages).toBe(1);
    expectErrno(k.memoryFailure(k.mem.maxPfn + 1), "ENXIO");
  });

  it("ignores a folio isolated for migration (off the LRU): MF_MSG_GET_HWPOISON, MF_IGNORED", () => {
    const k = boot();
    const seen = events(k);
    const p = run(k.createProcess());
    const addr = mapPattern(p, 4096, 1);
    const list = isolateRange(p, addr, 4096);
    expectErrno(k.memoryFailure(list.first), "EBUSY");
    expect(seen.at(-1)).toMatchObject({ type: "MF_MSG_GET_HWPOISON", result: "MF_IGNORED" });
    putbackMovablePages(k, list);
    // Still mapped: the error is met when the page is read, the machine check's SIGBUS (7),
    // BUS_MCEERR_AR (4), si_addr_lsb PAGE_SHIFT (12).
    const e = expectSignal(p.read(addr, 1), "SIGBUS", "BUS_MCEERR_AR");
    expect([e.signo, e.siCode, e.addr, e.addrLsb]).toEqual([7, 4, addr, 12]);
    expect([p.exited, p.exitCode]).toEqual([true, 7]);
  });

  it("ignores the zero page, mapped by a process but reserved", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4096));
    run(p.read(addr, 1)); // maps the zero page
    expectErrno(k.memoryFailure(k.zeroPfn, MF_SW_SIMULATED), "EBUSY");
    // unpoison_memory() (Linux 6.16) leaves a reserved page alone: -EBUSY, still poisoned, so
    // the zero page is never freed.
    expectErrno(k.unpoisonMemory(k.zeroPfn), "EBUSY");
    expect(k.memmap.test(k.zeroPfn, PG_hwpoison)).toBe(true);
    expect(k.numPoisonedPages).toBe(1);
  });
});

describe("memory_failure(): anonymous pages", () => {
  // The access is x86's do_sigbus() for VM_FAULT_HWPOISON: SIGBUS (7), BUS_MCEERR_AR (4), si_addr
  // the faulting address, si_addr_lsb PAGE_SHIFT (12) (include/uapi/asm-generic/siginfo.h); LTP
  // madvise07 expects its child to die of SIGBUS after MADV_HWPOISON.
  it("unmaps a page from every process with hwpoison entries; a later access gets SIGBUS BUS_MCEERR_AR", () => {
    const k = boot();
    const seen = events(k);
    const parent = run(k.createProcess());
    const addr = mapPattern(parent, 4 * 4096, 3);
    const child = run(parent.fork());
    const pfn = ptePfn(pteAt(parent, addr + 4096));
    const free = k.pageAlloc.nodeFreePages(0);
    run(k.memoryFailure(pfn));
    // Written, so dirty: MF_MSG_DIRTY_LRU; anonymous, so me_pagecache_clean() recovers it.
    expect(seen).toEqual([
      { event: "memory_failure_event", pfn, type: "MF_MSG_DIRTY_LRU", result: "MF_RECOVERED" },
    ]);
    for (const p of [parent, child]) {
      expect(isHwpoisonEntry(pteAt(p, addr + 4096))).toBe(true);
      expectBytes(run(p.read(addr, 4096)), pattern(4 * 4096, 3).subarray(0, 4096));
    }
    // The page was freed and kept out of the allocator.
    expect(k.pageAlloc.nodeFreePages(0)).toBe(free);
    expect(k.memmap.refcount[pfn]).toBe(0);
    // move_pages() finds no folio behind a hwpoison entry (folio_walk_start()): -ENOENT.
    const { status } = Effect.runSync(parent.movePages(0, [addr + 4096], [1], MPOL_MF_MOVE));
    expect(status[0]).toBe(-ERRNO.ENOENT);
    expectConsistent(k);
    // A load and a store each kill their process; the exits clear the entries without touching
    // the page.
    const err = expectSignal(child.read(addr + 4096, 1), "SIGBUS", "BUS_MCEERR_AR");
    expect([err.signo, err.siCode, err.addr, err.addrLsb]).toEqual([7, 4, addr + 4096, 12]);
    expect(err.message).toContain(`0x${(addr + 4096).toString(16)}`);
    const store = expectSignal(
      parent.write(addr + 4096 + 10, new Uint8Array([1])),
      "SIGBUS",
      "BUS_MCEERR_AR",
    );
    expect([store.addr, store.addrLsb]).toEqual([addr + 4096 + 10, 12]);
    expect([child.exitCode, parent.exitCode]).toEqual([7, 7]);
    expect(k.memmap.refcount[pfn]).toBe(0);
    expectConsistent(k);
  });

  it("reads an mlocked page's state from its flags: MF_MSG_DIRTY_MLOCKED_LRU (error_states[])", () => {
    const k = boot();
    const seen = events(k);
    const p = run(k.createProcess());
    const addr = mapPattern(p, 4096, 7);
    run(p.mlock(addr, 4096));
    const pfn = ptePfn(pteAt(p, addr));
    run(k.memoryFailure(pfn));
    expect(seen).toEqual([
      {
        event: "memory_failure_event",
        pfn,
        type: "MF_MSG_DIRTY_MLOCKED_LRU",
        result: "MF_RECOVERED",
      },
    ]);
    expectSignal(p.read(addr, 1), "SIGBUS", "BUS_MCEERR_AR");
    expectConsistent(k);
  });

  it("splits a THP first, then unmaps only the poisoned page (try_to_split_thp_page)", () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 2 * 2 ** 20, 5);
    const head = ptePfn(pteAt(p, addr));
    expect(k.memmap.folioOrder(head)).toBe(9);
    const splits = k.vmstat.get("thp_split_page");
    run(k.memoryFailure(head + 3));
    expect(k.vmstat.get("thp_split_page")).toBe(splits + 1);
    expect(k.memmap.folioOrder(head)).toBe(0);
    expect(isHwpoisonEntry(pteAt(p, addr + 3 * 4096))).toBe(true);
    const want = pattern(2 * 2 ** 20, 5);
    expectBytes(run(p.read(addr, 3 * 4096)), want.subarray(0, 3 * 4096));
    expectBytes(run(p.read(addr + 4 * 4096, 4096)), want.subarray(4 * 4096, 5 * 4096));
    // Only the poisoned page's access is SIGBUS, its si_addr_lsb a base page's (12).
    const e = expectSignal(p.read(addr + 3 * 4096, 1), "SIGBUS", "BUS_MCEERR_AR");
    expect([e.addr, e.addrLsb]).toEqual([addr + 3 * 4096, 12]);
    expectConsistent(k);
  });

  it("fails a THP that cannot be split (pinned): MF_MSG_UNSPLIT_THP, MF_FAILED, EHWPOISON", () => {
    const k = boot({ thp: { enabled: "always" } });
    const seen = events(k);
    const p = run(k.createProcess());
    const addr = mapPattern(p, 2 * 2 ** 20, 5);
    const head = ptePfn(pteAt(p, addr));
    k.memmap.refcount[head]!++; // a pin
    expectErrno(k.memoryFailure(head + 3), "EHWPOISON");
    expect(seen.at(-1)).toMatchObject({ type: "MF_MSG_UNSPLIT_THP", result: "MF_FAILED" });
    expect(k.memmap.folioOrder(head)).toBe(9);
    expect(nodeStats(k, 0)).toEqual(["1", "0", "1", "0", "0"]);
    // Still mapped by the huge PMD: the load is the machine check's SIGBUS, BUS_MCEERR_AR.
    expectSignal(p.read(addr + 3 * 4096, 1), "SIGBUS", "BUS_MCEERR_AR");
    k.memmap.refcount[head]!--;
    expectConsistent(k);
  });

  it("unmaps a whole hugetlb folio with hwpoison entries and dissolves it: MF_MSG_HUGE, MF_RECOVERED", () => {
    const { k, seen, p, addr, head } = mappedHugePage();
    const free = k.pageAlloc.nodeFreePages(0);
    run(k.memoryFailure(head + 7, MF_SW_SIMULATED));
    expect(seen.at(-1)).toMatchObject({ type: "MF_MSG_HUGE", result: "MF_RECOVERED" });
    expect(isHwpoisonEntry(pteAt(p, addr))).toBe(true);
    // VM_FAULT_HWPOISON_LARGE: si_addr_lsb the huge page's shift, 21 for 2 MiB.
    const e = expectSignal(p.read(addr, 1), "SIGBUS", "BUS_MCEERR_AR");
    expect([e.signo, e.siCode, e.addr, e.addrLsb]).toEqual([7, 4, addr, 21]);
    expect(k.pageAlloc.nodeFreePages(0)).toBe(free + 511);
    // The poisoned huge page left the pool (dissolved, __page_handle_poison()).
    expect(run(k.fs.read("/proc/sys/vm/nr_hugepages"))).toBe("0\n");
    // me_huge_page(): page_ref_inc() holds the poisoned page for good.
    expect(k.memmap.refcount[head + 7]).toBe(1);
    expect(k.numPoisonedPages).toBe(1);
    expectConsistent(k);
    // unpoison_memory(): PageHWPoisonTakenOff() -> put_page_back_buddy() drops that reference and
    // frees the page, 0; num_poisoned_pages_sub().
    run(k.unpoisonMemory(head + 7));
    expect(k.memmap.test(head + 7, PG_hwpoison)).toBe(false);
    expect(k.memmap.refcount[head + 7]).toBe(0);
    expect(k.pageAlloc.nodeFreePages(0)).toBe(free + 512);
    expect(k.numPoisonedPages).toBe(0);
    expect(run(k.fs.read("/proc/meminfo"))).toMatch(/HardwareCorrupted:\s+0 kB/);
    // Already unpoisoned: refused.
    expectErrno(k.unpoisonMemory(head + 7), "EBUSY");
    expectConsistent(k);
  });

  it("me_huge_page() on a huge page someone still holds drops its own reference: MF_MSG_HUGE, MF_FAILED", () => {
    const { k, seen, p, addr, head } = mappedHugePage();
    k.memmap.refcount[head]!++; // a pin
    expectErrno(k.memoryFailure(head + 7), "EBUSY");
    expect(seen.at(-1)).toMatchObject({ type: "MF_MSG_HUGE", result: "MF_FAILED" });
    // The folio was unmapped (its mapping's reference put) and memory_failure()'s own reference
    // put: only the pin is left; dissolve_free_hugetlb_folio() could not dissolve it.
    expect(k.memmap.refcount[head]).toBe(1);
    expect(k.memmap.folioOrder(head)).toBe(9);
    expect(isHwpoisonEntry(pteAt(p, addr))).toBe(true);
    // When the pin goes, the folio is dissolved with the poisoned page kept out.
    const free = k.pageAlloc.nodeFreePages(0);
    folioPut(k, head);
    expect(k.pageAlloc.nodeFreePages(0)).toBe(free + 511);
    expect(k.memmap.test(head + 7, PG_hwpoison)).toBe(true);
    expect(k.numPoisonedPages).toBe(1);
    expectConsistent(k);
  });
});

// me_huge_page() (mm/memory-failure.c, Linux 6.16) on a folio in a hugetlbfs file's page cache:
// truncate_error_folio() calls hugetlbfs_error_remove_folio() (fs/hugetlbfs/inode.c), which
// removes nothing, and filemap_release_folio() has nothing to release: MF_RECOVERED, the folio
// kept cached (extra_pins) with memory_failure()'s reference; has_extra_refcount() subtracts that
// reference and the cache's folio_nr_pages() ones. hugetlb_no_page() (mm/hugetlb.c) then refuses
// to map the cached folio (folio_test_hwpoison(): VM_FAULT_HWPOISON_LARGE).
describe("memory_failure(): a huge page in a hugetlbfs file's page cache (me_huge_page(), Linux 6.16)", () => {
  const sharedHugePage = () => {
    const page = mappedHugePage(MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB);
    // Forked before the error: the child has not faulted the shared page in yet.
    return { ...page, child: run(page.p.fork()) };
  };

  it("keeps the folio cached and poisoned: MF_MSG_HUGE, MF_RECOVERED, 0; a later fault on it gets SIGBUS", () => {
    const { k, seen, p, child, addr, head } = sharedHugePage();
    const mapping = p.mm!.findVma(addr)!.mapping!;
    run(k.memoryFailure(head + 7));
    expect(seen.at(-1)).toMatchObject({ type: "MF_MSG_HUGE", result: "MF_RECOVERED" });
    expect(isHwpoisonEntry(pteAt(p, addr))).toBe(true);
    const e = expectSignal(p.read(addr, 1), "SIGBUS", "BUS_MCEERR_AR");
    expect([e.addr, e.addrLsb]).toEqual([addr, 21]);
    // Still in the page cache: its 512 references and memory_failure()'s one.
    expect(mapping.pages.get(0)).toBe(head);
    expect(k.memmap.refcount[head]).toBe(512 + 1);
    expect(run(k.fs.read("/proc/sys/vm/nr_hugepages"))).toBe("1\n");
    expect(k.numPoisonedPages).toBe(1);
    // The child's first fault finds the poisoned folio in the cache and maps nothing
    // (VM_FAULT_HWPOISON_LARGE).
    expect(child.mm!.findVma(addr)!.pmds.size).toBe(0);
    const c = expectSignal(child.read(addr, 1), "SIGBUS", "BUS_MCEERR_AR");
    expect([c.addr, c.addrLsb]).toEqual([addr, 21]);
    expectConsistent(k);
  });

  it("a folio held beyond the cache and memory_failure() is failed: MF_MSG_HUGE, MF_FAILED, EBUSY, still cached", () => {
    const { k, seen, p, addr, head } = sharedHugePage();
    k.memmap.refcount[head]!++; // a pin
    expectErrno(k.memoryFailure(head + 7), "EBUSY");
    expect(seen.at(-1)).toMatchObject({ type: "MF_MSG_HUGE", result: "MF_FAILED" });
    expect(p.mm!.findVma(addr)!.mapping!.pages.get(0)).toBe(head);
    expect(k.memmap.refcount[head]).toBe(512 + 1 + 1);
  });
});

describe("memory_failure(): free huge pages (try_memory_failure_hugetlb(), Linux 6.16)", () => {
  const hugeFree = (k: Kernel): string =>
    run(k.fs.read("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"));
  /** A kernel with one free 2 MiB huge page (`head`, on node `nid`), its events recorded. */
  const onePool = () => {
    // No kswapd: a test that allocates the node down to its min watermark would stop at a
    // boosted one (boost_watermark()).
    const k = boot({ daemons: "on-demand" });
    const seen = events(k);
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "1"));
    const head = k.hstate.hugepageFreelists.flatMap((l) => [...l])[0]!;
    return { k, seen, head, nid: k.mem.pfnToNid(head) };
  };

  it("dissolves a free huge page and keeps the poisoned page out: MF_MSG_FREE_HUGE, MF_RECOVERED, 0", () => {
    const { k, seen, head, nid } = onePool();
    const pfn = head + 7;
    const free = k.pageAlloc.nodeFreePages(nid);
    // action_result() returns 0 for MF_RECOVERED.
    run(k.memoryFailure(pfn));
    expect(seen).toEqual([
      { event: "memory_failure_event", pfn, type: "MF_MSG_FREE_HUGE", result: "MF_RECOVERED" },
    ]);
    expect(nodeStats(k, nid)).toEqual(["1", "0", "0", "0", "1"]);
    // dissolve_free_hugetlb_folio(): the pool loses the page.
    expect(run(k.fs.read("/proc/sys/vm/nr_hugepages"))).toBe("0\n");
    expect(hugeFree(k)).toBe("0\n");
    // take_page_off_buddy() and page_ref_inc(): the poisoned page is held, the other 511 are free.
    expect(k.memmap.test(pfn, PG_hwpoison)).toBe(true);
    expect(k.memmap.refcount[pfn]).toBe(1);
    expect(k.pageAlloc.nodeFreePages(nid)).toBe(free + 511);
    expect(k.numPoisonedPages).toBe(1);
    expect(run(k.fs.read("/proc/meminfo"))).toMatch(/HardwareCorrupted:\s+4 kB/);
    expectConsistent(k);
    // The allocator never hands it out: every free page of the node down to its min watermark.
    const taken: number[] = [];
    const alloc = () => k.pageAlloc.allocPages(nid, 0, __GFP_THISNODE);
    for (let got = alloc(); got >= 0; got = alloc()) taken.push(got);
    expect(taken).toHaveLength(free + 511 - k.pageAlloc.zones[nid]!.watermark[WMARK_MIN]);
    expect(taken).not.toContain(pfn);
    // A second error on it: MF_MSG_ALREADY_POISONED, -EHWPOISON, not counted again.
    expectErrno(k.memoryFailure(pfn), "EHWPOISON");
    expect(k.numPoisonedPages).toBe(1);
  });

  it("fails when every free huge page is reserved: MF_MSG_FREE_HUGE, MF_FAILED, EBUSY; the page stays in its pool, never handed out", () => {
    const { k, seen, head, nid } = onePool();
    const p = run(k.createProcess());
    const HUGE = 2 * 2 ** 20;
    const addr = run(p.mmap(HUGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
    // available_huge_pages() is 0: dissolve_free_hugetlb_folio() is -EBUSY, so
    // __page_handle_poison() fails.
    expectErrno(k.memoryFailure(head + 3), "EBUSY");
    expect(seen).toEqual([
      {
        event: "memory_failure_event",
        pfn: head + 3,
        type: "MF_MSG_FREE_HUGE",
        result: "MF_FAILED",
      },
    ]);
    expect(nodeStats(k, nid)).toEqual(["1", "0", "1", "0", "0"]);
    expect(run(k.fs.read("/proc/sys/vm/nr_hugepages"))).toBe("1\n");
    expect(hugeFree(k)).toBe("1\n");
    expect(k.memmap.test(head + 3, PG_hwpoison)).toBe(true);
    expect(k.numPoisonedPages).toBe(1);
    expectConsistent(k);
    // Once the pool shrinks, the huge page is freed with its poisoned page kept out.
    run(p.munmap(addr, HUGE));
    const free = k.pageAlloc.nodeFreePages(nid);
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "0"));
    expect(k.pageAlloc.nodeFreePages(nid)).toBe(free + 511);
    expect(k.memmap.test(head + 3, PG_hwpoison)).toBe(true);
    expectConsistent(k);
  });

  it("a second error on another page of a huge page already poisoned: recorded and counted, MF_MSG_ALREADY_POISONED, EHWPOISON (folio_set_hugetlb_hwpoison(), Linux 6.16)", () => {
    const { k, seen, head, nid } = onePool();
    const p = run(k.createProcess());
    const HUGE = 2 * 2 ** 20;
    const addr = run(p.mmap(HUGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
    expectErrno(k.memoryFailure(head + 3), "EBUSY");
    seen.length = 0;
    // folio_test_set_hwpoison() was already set: the new raw page is added to the folio's
    // raw_hwp_list and num_poisoned_pages_inc()'d; try_memory_failure_hugetlb() gets -EHWPOISON
    // and reports MF_MSG_ALREADY_POISONED, which action_result() counts nowhere.
    expectErrno(k.memoryFailure(head + 5), "EHWPOISON");
    expect(seen).toEqual([
      {
        event: "memory_failure_event",
        pfn: head + 5,
        type: "MF_MSG_ALREADY_POISONED",
        result: "MF_FAILED",
      },
    ]);
    expect(k.numPoisonedPages).toBe(2);
    expect(run(k.fs.read("/proc/meminfo"))).toMatch(/HardwareCorrupted:\s+8 kB/);
    expect(nodeStats(k, nid)).toEqual(["1", "0", "1", "0", "0"]);
    // Not handled again: no second dissolve attempt, the page stays in its pool.
    expect(run(k.fs.read("/proc/sys/vm/nr_hugepages"))).toBe("1\n");
    expect(hugeFree(k)).toBe("1\n");
    // The same page again: -EHWPOISON, not counted.
    expectErrno(k.memoryFailure(head + 5), "EHWPOISON");
    expect(k.numPoisonedPages).toBe(2);
    expect(nodeStats(k, nid)).toEqual(["1", "0", "1", "0", "0"]);
    expectConsistent(k);
    // When the huge page is freed, both poisoned pages are kept out (folio_clear_hugetlb_hwpoison()).
    run(p.munmap(addr, HUGE));
    const free = k.pageAlloc.nodeFreePages(nid);
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "0"));
    expect(k.pageAlloc.nodeFreePages(nid)).toBe(free + 510);
    expect(k.memmap.test(head + 3, PG_hwpoison)).toBe(true);
    expect(k.memmap.test(head + 5, PG_hwpoison)).toBe(true);
    expectConsistent(k);
  });

  // unpoison_memory() (mm/memory-failure.c, Linux 6.16): once memory_failure() has handled an
  // error the hardware reported (no MF_SW_SIMULATED: hw_memory_failure), every unpoison is
  // -EOPNOTSUPP, the page staying poisoned; a software injected one leaves it working.
  it("unpoison is refused with EOPNOTSUPP after a hardware memory failure, not after a simulated one", () => {
    const k = boot();
    const zone = k.pageAlloc.zones.find((z) => z.nid === 1 && z.presentPages > 0)!;
    const [a, b] = [zone.startPfn + 1000, zone.startPfn + 1001];
    run(k.memoryFailure(a, MF_SW_SIMULATED));
    run(k.unpoisonMemory(a));
    expect(k.memmap.test(a, PG_hwpoison)).toBe(false);
    run(k.memoryFailure(a, MF_SW_SIMULATED));
    expect(k.hwMemoryFailure).toBe(false);
    run(k.memoryFailure(b)); // the hardware's
    expect(k.hwMemoryFailure).toBe(true);
    expectErrno(k.unpoisonMemory(a), "EOPNOTSUPP");
    expectErrno(k.unpoisonMemory(b), "EOPNOTSUPP");
    expect([k.memmap.test(a, PG_hwpoison), k.memmap.test(b, PG_hwpoison)]).toEqual([true, true]);
    expect(k.numPoisonedPages).toBe(2);
    expectConsistent(k);
    // hw_memory_failure is the machine's own: a kernel booted beside it still unpoisons.
    const other = boot();
    run(other.memoryFailure(a, MF_SW_SIMULATED));
    run(other.unpoisonMemory(a));
    expect([other.hwMemoryFailure, other.memmap.test(a, PG_hwpoison)]).toEqual([false, false]);
    expect(other.numPoisonedPages).toBe(0);
  });

  it("unpoison of the huge zero folio is EOPNOTSUPP", () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = run(p.mmap(2 * 2 ** 20));
    run(p.read(addr, 1)); // maps the huge zero folio
    expect(k.hugeZero.pfn).toBeGreaterThanOrEqual(0);
    expectErrno(k.unpoisonMemory(k.hugeZero.pfn + 3), "EOPNOTSUPP");
  });

  it("unpoisoning one page of a huge page with two errors clears both and uncounts both (unpoison_memory(): folio_free_raw_hwp(), Linux 6.16)", () => {
    const { k, head, nid } = onePool();
    const p = run(k.createProcess());
    run(p.mmap(2 * 2 ** 20, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
    expectErrno(k.memoryFailure(head + 3, MF_SW_SIMULATED), "EBUSY");
    expectErrno(k.memoryFailure(head + 5, MF_SW_SIMULATED), "EHWPOISON");
    expect(k.numPoisonedPages).toBe(2);
    // get_hwpoison_page(MF_UNPOISON) finds the free huge page (0): folio_free_raw_hwp(folio,
    // false) drops both raw_hwp_list entries, num_poisoned_pages_sub() each, and
    // folio_test_clear_hwpoison() clears the folio.
    run(k.unpoisonMemory(head + 5));
    expect(k.memmap.test(head + 3, PG_hwpoison)).toBe(false);
    expect(k.memmap.test(head + 5, PG_hwpoison)).toBe(false);
    expect(k.numPoisonedPages).toBe(0);
    expect(run(k.fs.read("/proc/meminfo"))).toMatch(/HardwareCorrupted:\s+0 kB/);
    // Nothing is left to unpoison through the other page: "already unpoisoned".
    expectErrno(k.unpoisonMemory(head + 3), "EBUSY");
    // A new error on the huge page is handled again rather than taken for a second one.
    expectErrno(k.memoryFailure(head + 7), "EBUSY");
    expect(k.numPoisonedPages).toBe(1);
    expect(nodeStats(k, nid)).toEqual(["2", "0", "2", "0", "0"]);
    expectConsistent(k);
  });

  it("a second error on another page of an in-use huge page whose unmapping failed: EHWPOISON, not handled again", () => {
    const { k, seen, head } = mappedHugePage();
    k.memmap.refcount[head]!++; // a pin: me_huge_page() finds an extra reference
    expectErrno(k.memoryFailure(head + 1), "EBUSY");
    expect(seen.at(-1)).toMatchObject({ type: "MF_MSG_HUGE", result: "MF_FAILED" });
    expectErrno(k.memoryFailure(head + 2), "EHWPOISON");
    expect(seen.at(-1)).toMatchObject({ type: "MF_MSG_ALREADY_POISONED", result: "MF_FAILED" });
    expect(seen).toHaveLength(2);
    expect(k.numPoisonedPages).toBe(2);
    expect(nodeStats(k, 0)).toEqual(["1", "0", "1", "0", "0"]);
    expect(k.memmap.folioOrder(head)).toBe(9);
    k.memmap.refcount[head]!--;
  });
});

describe("memory_failure(): page cache", () => {
  const mapFile = (dirty: boolean, shared = MAP_SHARED) => {
    const k = boot();
    const file = run(k.createFile("data"));
    const p = run(k.createProcess());
    run(file.truncate(2 * 4096));
    const addr = run(p.mmap(2 * 4096, { flags: shared, file, prot: PROT_READ | PROT_WRITE }));
    if (dirty) run(p.write(addr, new Uint8Array([9])));
    else run(p.read(addr, 1));
    run(p.read(addr + 4096, 1));
    return { k, file, p, addr, pfn: ptePfn(pteAt(p, addr)), seen: events(k) };
  };

  it("drops a clean file page from its file and unmaps it plainly: MF_MSG_CLEAN_LRU, MF_RECOVERED", () => {
    const { k, file, p, addr, pfn, seen } = mapFile(false);
    run(k.memoryFailure(pfn));
    expect(seen).toEqual([
      { event: "memory_failure_event", pfn, type: "MF_MSG_CLEAN_LRU", result: "MF_RECOVERED" },
    ]);
    expect(pteAt(p, addr)).toBe(0); // no hwpoison entry: the data is still in the file
    expect(file.folioAt(0)).toBeNull();
    expect(run(p.read(addr, 1))[0]).toBe(0); // faulted in again
    run(file.fsync());
    expectConsistent(k);
  });

  it("drops a dirty file page with EIO recorded for fsync, hwpoison entries for its mappers: MF_MSG_DIRTY_LRU", () => {
    const { k, file, p, addr, pfn, seen } = mapFile(true);
    run(k.memoryFailure(pfn));
    expect(seen).toEqual([
      { event: "memory_failure_event", pfn, type: "MF_MSG_DIRTY_LRU", result: "MF_RECOVERED" },
    ]);
    expect(isHwpoisonEntry(pteAt(p, addr))).toBe(true);
    expectSignal(p.read(addr, 1), "SIGBUS", "BUS_MCEERR_AR");
    expect(file.folioAt(0)).toBeNull();
    expect(file.folioAt(1)).not.toBeNull();
    // mapping_set_error(-EIO): reported once (file_check_and_advance_wb_err()).
    expectErrno(file.fsync(), "EIO");
    run(file.fsync());
    expectConsistent(k);
  });

  // memory_failure() (mm/memory-failure.c, Linux 6.16) sleeps in folio_lock() before it reads
  // the page's flags, and in folio_wait_writeback() before it unmaps the page.
  it("sleeps in folio_lock() on a locked page and handles it once the page is unlocked", async () => {
    const { k, p, addr, pfn, seen } = mapFile(true);
    // No periodic writeback (dirty_writeback_centisecs 0): the flusher runs from boot on the real
    // clock, and a wait below of dirty_expire_centisecs (30 s) on a loaded machine would let it
    // queue on the lock and write the page back, which would then be clean.
    run(k.fs.write("/proc/sys/vm/dirty_writeback_centisecs", "0"));
    expect(folioTrylock(k, pfn)).toBe(true);
    const handler = Effect.runFork(k.memoryFailure(pfn));
    await Effect.runPromise(Effect.yieldNow);
    expect(k.folioWaiters.waiting(pfn)).toBe(1);
    expect(seen).toEqual([]);
    expect(isHwpoisonEntry(pteAt(p, addr))).toBe(false); // still mapped: nothing done yet
    expect(k.memmap.test(pfn, PG_hwpoison)).toBe(true); // but marked (TestSetPageHWPoison)
    folioUnlock(k, pfn);
    await Effect.runPromise(Fiber.join(handler));
    expect(seen).toEqual([
      { event: "memory_failure_event", pfn, type: "MF_MSG_DIRTY_LRU", result: "MF_RECOVERED" },
    ]);
    expect(isHwpoisonEntry(pteAt(p, addr))).toBe(true);
    expect(k.memmap.test(pfn, PG_locked)).toBe(false);
    expectConsistent(k);
  });

  // A load of a page poisoned but still mapped is the machine check's: kill_me_maybe() calls
  // memory_failure(MF_ACTION_REQUIRED), which finds PG_hwpoison set and signals the address of
  // the PTE that maps the page (kill_accessing_process(), mm/memory-failure.c, Linux 6.16):
  // page aligned, not the byte loaded.
  it("a load of a poisoned page still mapped is SIGBUS BUS_MCEERR_AR at the page's address", async () => {
    const { k, p, addr, pfn } = mapFile(true);
    run(k.fs.write("/proc/sys/vm/dirty_writeback_centisecs", "0"));
    expect(folioTrylock(k, pfn)).toBe(true);
    const handler = Effect.runFork(k.memoryFailure(pfn));
    await Effect.runPromise(Effect.yieldNow);
    expect(k.memmap.test(pfn, PG_hwpoison)).toBe(true);
    expect(ptePfn(pteAt(p, addr))).toBe(pfn);
    const e = expectSignal(p.read(addr + 5, 1), "SIGBUS", "BUS_MCEERR_AR");
    expect(e).toMatchObject({ addr, addrLsb: 12 });
    folioUnlock(k, pfn);
    await Effect.runPromise(Fiber.join(handler));
    expectConsistent(k);
  });

  it("waits in folio_wait_writeback(), holding the lock, then drops the page written back: MF_MSG_CLEAN_LRU", async () => {
    const { k, file, p, addr, pfn, seen } = mapFile(true);
    expect(file.startWriteback(0)).toBe(true);
    const handler = Effect.runFork(k.memoryFailure(pfn));
    await Effect.runPromise(Effect.yieldNow);
    expect(k.folioWaiters.waiting(pfn)).toBe(1);
    expect(k.memmap.test(pfn, PG_locked)).toBe(true);
    expect(seen).toEqual([]);
    expect(ptePfn(pteAt(p, addr))).toBe(pfn);
    expect(file.endWriteback(0)).toBe(true);
    await Effect.runPromise(Fiber.join(handler));
    // Written back, the page is clean: it is dropped, unmapped plainly, and no EIO is recorded.
    expect(seen).toEqual([
      { event: "memory_failure_event", pfn, type: "MF_MSG_CLEAN_LRU", result: "MF_RECOVERED" },
    ]);
    expect(pteAt(p, addr)).toBe(0);
    expect(file.folioAt(0)).toBeNull();
    expect(run(p.read(addr, 1))[0]).toBe(9); // written back: read again from the file
    run(file.fsync());
    expectConsistent(k);
  });

  // me_pagecache_clean() truncates a clean page from its file ("temporary hole punch"); the next
  // fault reads the file's data again (filemap_fault() → filemap_read_folio()).
  it("rereads a clean page it dropped from the file: the bytes written back come back", () => {
    const k = boot();
    const seen = events(k);
    const file = run(k.createFile("data"));
    const p = run(k.createProcess());
    run(file.truncate(2 * 4096));
    const addr = run(p.mmap(2 * 4096, { flags: MAP_SHARED, file }));
    run(p.write(addr, pattern(2 * 4096, 5)));
    run(file.fsync());
    const pfn = ptePfn(pteAt(p, addr));
    run(k.memoryFailure(pfn));
    expect(seen).toEqual([
      { event: "memory_failure_event", pfn, type: "MF_MSG_CLEAN_LRU", result: "MF_RECOVERED" },
    ]);
    expect(pteAt(p, addr)).toBe(0);
    expectBytes(run(p.read(addr, 2 * 4096)), pattern(2 * 4096, 5));
    expect(file.folioAt(0)!.pfn).not.toBe(pfn); // a fresh page, the poisoned one kept out
    run(file.fsync());
    expectConsistent(k);
  });

  // me_pagecache_dirty(): what was written since the last writeback is lost. The mapper that had
  // the page gets SIGBUS (a hwpoison entry), fsync() reports EIO once (mapping_set_error()), and
  // a new mapping reads what the file holds: the data last written back.
  it("loses a dirty page's unwritten bytes: EIO, hwpoison entry; a new mapping reads what was written back", () => {
    const k = boot();
    const file = run(k.createFile("data"));
    const p = run(k.createProcess());
    run(file.truncate(2 * 4096));
    const addr = run(p.mmap(2 * 4096, { flags: MAP_SHARED, file }));
    run(p.write(addr, pattern(2 * 4096, 5)));
    run(file.fsync());
    run(p.write(addr, pattern(4096, 6))); // dirty again, not written back
    const pfn = ptePfn(pteAt(p, addr));
    run(k.memoryFailure(pfn));
    expect(k.memmap.test(pfn, PG_hwpoison)).toBe(true);
    expectSignal(p.read(addr, 1), "SIGBUS", "BUS_MCEERR_AR");
    const q = run(k.createProcess());
    const again = run(q.mmap(2 * 4096, { flags: MAP_SHARED, file }));
    expectBytes(run(q.read(again, 2 * 4096)), pattern(2 * 4096, 5));
    expectErrno(file.fsync(), "EIO");
    run(file.fsync());
    expectConsistent(k);
  });

  it("keeps a shmem page cached and poisoned, its mappings hwpoison entries (shmem_error_remove_folio)", () => {
    const k = boot();
    const seen = events(k);
    const p = run(k.createProcess());
    const addr = run(p.mmap(4096, { flags: MAP_SHARED | MAP_ANONYMOUS }));
    run(p.write(addr, new Uint8Array([4])));
    const pfn = ptePfn(pteAt(p, addr));
    run(k.memoryFailure(pfn));
    expect(seen.at(-1)).toMatchObject({ type: "MF_MSG_DIRTY_LRU", result: "MF_RECOVERED" });
    expect(isHwpoisonEntry(pteAt(p, addr))).toBe(true);
    expect(k.memmap.refcount[pfn]).toBe(1); // the page cache's
    expectSignal(p.read(addr, 1), "SIGBUS", "BUS_MCEERR_AR");
    expectConsistent(k);
  });
});

// soft_offline_page() (mm/memory-failure.c, Linux 6.16): the page's contents move away
// (MR_MEMORY_FAILURE) and the page is kept out with PG_hwpoison and one reference
// (page_handle_poison()); num_poisoned_pages counts it, the memory_failure/ statistics do not.
describe("soft_offline_page()", () => {
  const HUGE = 2 * 2 ** 20;
  const corrupted = (k: Kernel): string =>
    run(k.fs.read("/proc/meminfo"))
      .split("\n")
      .find((l) => l.startsWith("HardwareCorrupted"))!;
  const reasons = (k: Kernel): string[] => {
    const seen: string[] = [];
    k.trace.subscribe((e) => {
      if (e.event === "mm_migrate_pages") seen.push(MIGRATE_REASON_NAMES[e.reason]!);
    });
    return seen;
  };
  const store = (k: Kernel, pfn: number) =>
    k.fs.write("/sys/devices/system/memory/soft_offline_page", `0x${(pfn * 4096).toString(16)}`);
  /** A process with one anonymous page mapped at `addr` (`pfn`), filled with pattern `seed`. */
  const anonPage = (seed: number) => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = mapPattern(p, 4096, seed, false);
    return { k, p, addr, pfn: ptePfn(pteAt(p, addr)) };
  };

  it("takes a free page off the buddy allocator (soft_offline_free_page)", () => {
    const k = boot();
    const pfn = k.pageAlloc.zones[1]!.startPfn + 4321;
    const free = k.pageAlloc.nodeFreePages(1);
    run(store(k, pfn));
    expect(k.memmap.test(pfn, PG_hwpoison)).toBe(true);
    expect(k.memmap.refcount[pfn]).toBe(1);
    expect(k.pageAlloc.nodeFreePages(1)).toBe(free - 1);
    expect(k.numPoisonedPages).toBe(1);
    expect(corrupted(k)).toBe("HardwareCorrupted:     4 kB");
    expect(nodeStats(k, 1)).toEqual(["0", "0", "0", "0", "0"]);
    // "page already poisoned": 0, and nothing more is counted.
    run(store(k, pfn));
    expect(k.numPoisonedPages).toBe(1);
    expectConsistent(k);
  });

  it("migrates a page in use away with MR_MEMORY_FAILURE and keeps the old page out (madvise(MADV_SOFT_OFFLINE))", () => {
    const k = boot();
    const seen = reasons(k);
    const p = run(k.createProcess());
    const addr = mapPattern(p, 4 * 4096, 3, false);
    const old = ptePfn(pteAt(p, addr + 4096));
    const free = k.pageAlloc.totalFreePages();
    run(p.madvise(addr + 4096, 4096, MADV_SOFT_OFFLINE));
    const now = ptePfn(pteAt(p, addr + 4096));
    expect(now).not.toBe(old);
    expectBytes(run(p.read(addr, 4 * 4096)), pattern(4 * 4096, 3));
    expect(k.memmap.test(old, PG_hwpoison)).toBe(true);
    expect(k.memmap.refcount[old]).toBe(1);
    // One page allocated for the copy, none freed: the old one stays out.
    expect(k.pageAlloc.totalFreePages()).toBe(free - 1);
    expect(seen).toEqual(["memory_failure"]);
    expect(k.vmstat.get("pgmigrate_success")).toBe(1);
    expect(k.numPoisonedPages).toBe(1);
    expect(nodeStats(k, 0)).toEqual(["0", "0", "0", "0", "0"]);
    run(p.exit());
    expect(k.memmap.refcount[old]).toBe(1);
    expectConsistent(k);
  });

  // soft_offline_in_use_page(): a clean page-cache page nobody maps is not migrated but dropped
  // from its file ("invalidated", mapping_evict_folio()); page_handle_poison() keeps it out with
  // one reference, and the file's data is read again on the next fault.
  it("drops a clean, unmapped page-cache page instead of migrating it (mapping_evict_folio); the file reads it back", () => {
    const k = boot();
    const seen = reasons(k);
    const file = run(k.createFile("data"));
    const p = run(k.createProcess());
    run(file.truncate(4096));
    const addr = run(p.mmap(4096, { flags: MAP_SHARED, file }));
    run(p.write(addr, pattern(4096, 8)));
    run(file.fsync());
    run(p.munmap(addr, 4096));
    const old = file.folioAt(0)!.pfn;
    const free = k.pageAlloc.totalFreePages();
    run(k.softOfflinePage(old));
    expect(file.folioAt(0)).toBeNull();
    expect(seen).toEqual([]); // no migration
    expect(k.memmap.test(old, PG_hwpoison)).toBe(true);
    expect(k.memmap.refcount[old]).toBe(1);
    expect(k.pageAlloc.totalFreePages()).toBe(free); // the old page is neither freed nor replaced
    expect(k.numPoisonedPages).toBe(1);
    const again = run(p.mmap(4096, { flags: MAP_SHARED, file }));
    expectBytes(run(p.read(again, 4096)), pattern(4096, 8));
    expectConsistent(k);
  });

  // soft_offline_in_use_page() (mm/memory-failure.c, Linux 6.16) waits in folio_wait_writeback()
  // after folio_lock(), before it tries mapping_evict_folio(): a clean, unmapped page-cache page
  // under writeback is dropped once written back ("invalidated"), not migrated (as migrate_pages()
  // with MIGRATE_SYNC would, after its own wait).
  it("waits for writeback before mapping_evict_folio(): a page written back meanwhile is dropped, not migrated", async () => {
    const k = boot();
    const seen = reasons(k);
    const file = run(k.createFile("data"));
    const p = run(k.createProcess());
    run(file.truncate(4096));
    const addr = run(p.mmap(4096, { flags: MAP_SHARED, file }));
    run(p.write(addr, pattern(4096, 6)));
    run(p.munmap(addr, 4096));
    expect(file.startWriteback(0)).toBe(true);
    const old = file.folioAt(0)!.pfn;
    const offline = Effect.runFork(k.softOfflinePage(old));
    await Effect.runPromise(Effect.yieldNow);
    expect(k.folioWaiters.waiting(old)).toBe(1);
    expect(file.folioAt(0)!.pfn).toBe(old);
    expect(file.endWriteback(0)).toBe(true);
    await Effect.runPromise(Fiber.join(offline));
    expect(seen).toEqual([]); // no migration
    expect(file.folioAt(0)).toBeNull();
    expect(k.memmap.test(old, PG_hwpoison)).toBe(true);
    expect(k.memmap.refcount[old]).toBe(1);
    const again = run(p.mmap(4096, { flags: MAP_SHARED, file }));
    expectBytes(run(p.read(again, 4096)), pattern(4096, 6));
    expectConsistent(k);
  });

  // get_any_page() (mm/memory-failure.c, Linux 6.16) returns 1 with a reference on the folio
  // (__get_hwpoison_page(): folio_try_get()), held while soft_offline_in_use_page() sleeps in
  // folio_lock(). The process unmapping the page meanwhile leaves it in use, on the LRU, held by
  // that reference alone; isolate_folio_to_list() takes its own and the first is put, and
  // migrate_folio_unmap() finds the folio freed from under it (refcount 1): MIGRATEPAGE_SUCCESS,
  // and page_handle_poison() keeps the page out. 0, poisoned, one reference.
  it("holds the page across the folio_lock() sleep (get_any_page()'s reference): a page unmapped meanwhile is still offlined, 0", async () => {
    const { k, p, addr, pfn } = anonPage(5);
    expect(folioTrylock(k, pfn)).toBe(true);
    const offline = Effect.runFork(k.softOfflinePage(pfn));
    await Effect.runPromise(Effect.yieldNow);
    expect(k.folioWaiters.waiting(pfn)).toBe(1);
    // The mapping's reference and get_any_page()'s.
    expect(k.memmap.refcount[pfn]).toBe(2);
    run(p.munmap(addr, 4096));
    expect(k.memmap.refcount[pfn]).toBe(1);
    expect(k.memmap.test(pfn, PG_lru)).toBe(true);
    folioUnlock(k, pfn);
    await Effect.runPromise(Fiber.join(offline));
    expect(k.memmap.test(pfn, PG_hwpoison)).toBe(true);
    expect(k.memmap.refcount[pfn]).toBe(1);
    expect(k.numPoisonedPages).toBe(1);
    expectConsistent(k);
  });

  it("madvise(MADV_SOFT_OFFLINE) of an unhandlable page puts its get_user_pages_fast() reference: EIO, the page as it was", () => {
    const { k, p, addr, pfn } = anonPage(5);
    // Isolated by a migration: not on the LRU, so HWPoisonHandlable() is false.
    const list = isolateRange(p, addr, 4096);
    const before = k.memmap.refcount[pfn];
    expectErrno(p.madvise(addr, 4096, MADV_SOFT_OFFLINE), "EIO");
    expect(k.memmap.refcount[pfn]).toBe(before);
    expect(k.memmap.test(pfn, PG_hwpoison)).toBe(false);
    putbackMovablePages(k, list);
    expectConsistent(k);
  });

  it("splits a THP and offlines only the one page", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = mapPattern(p, HUGE, 4, true);
    expect(folioAt(p, addr).order).toBe(9);
    const old = ptePfn(pteAt(p, addr + 5 * 4096));
    run(k.softOfflinePage(old));
    expect(folioAt(p, addr).order).toBe(0);
    expect(ptePfn(pteAt(p, addr + 5 * 4096))).not.toBe(old);
    expect(ptePfn(pteAt(p, addr + 6 * 4096))).toBe(old + 1);
    expectBytes(run(p.read(addr, HUGE)), pattern(HUGE, 4));
    expect(k.numPoisonedPages).toBe(1);
    expectConsistent(k);
  });

  it("migrates a hugetlb page to a free huge page of the pool, then dissolves the old one", () => {
    const k = boot();
    const seen = reasons(k);
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "2"));
    const p = run(k.createProcess());
    const addr = run(p.mmap(HUGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
    run(p.write(addr, pattern(HUGE, 9)));
    const old = folioAt(p, addr).pfn;
    const free = k.pageAlloc.totalFreePages();
    run(p.madvise(addr, HUGE, MADV_SOFT_OFFLINE));
    expect(folioAt(p, addr).pfn).not.toBe(old);
    expect(folioAt(p, addr).hugetlb).toBe(true);
    expectBytes(run(p.read(addr, HUGE)), pattern(HUGE, 9));
    // The old huge page went back to its pool and was dissolved: the pool shrinks to one.
    expect(run(k.fs.read("/proc/sys/vm/nr_hugepages"))).toBe("1\n");
    expect(run(k.fs.read("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"))).toBe("0\n");
    expect(k.memmap.test(old, PG_hwpoison)).toBe(true);
    expect(k.pageAlloc.totalFreePages()).toBe(free + 511);
    expect(seen).toEqual(["memory_failure"]);
    expect(corrupted(k)).toBe("HardwareCorrupted:     4 kB");
    expectConsistent(k);
  });

  it("dissolves a free huge page of the pool, unless every free page is reserved (EBUSY)", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "1"));
    const head = k.hstate.hugepageFreelists.flatMap((l) => [...l])[0]!;
    const p = run(k.createProcess());
    const addr = run(p.mmap(HUGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
    // available_huge_pages() is 0: dissolve_free_hugetlb_folio() refuses.
    expectErrno(k.softOfflinePage(head + 3), "EBUSY");
    expect(k.memmap.test(head + 3, PG_hwpoison)).toBe(false);
    run(p.munmap(addr, HUGE));
    run(k.softOfflinePage(head + 3));
    expect(run(k.fs.read("/proc/sys/vm/nr_hugepages"))).toBe("0\n");
    expect(k.memmap.test(head + 3, PG_hwpoison)).toBe(true);
    expect(k.numPoisonedPages).toBe(1);
    expectConsistent(k);
  });

  it("EIO for a page it cannot handle (get_any_page(): kernel memory, the zero page, an isolated page)", () => {
    const k = boot();
    const kernelPage = run(k.allocFolio(0, 0));
    expectErrno(store(k, kernelPage.pfn), "EIO");
    expectErrno(k.softOfflinePage(k.zeroPfn), "EIO");
    const p = run(k.createProcess());
    const addr = run(p.mmap(4096));
    run(p.read(addr, 1)); // the zero page
    expectErrno(p.madvise(addr, 4096, MADV_SOFT_OFFLINE), "EIO");
    run(p.write(addr, new Uint8Array([1])));
    const list = isolateRange(p, addr, 4096);
    expectErrno(p.madvise(addr, 4096, MADV_SOFT_OFFLINE), "EIO");
    putbackMovablePages(k, list);
    expect(k.numPoisonedPages).toBe(0);
    expectErrno(k.softOfflinePage(k.mem.maxPfn + 10), "ENXIO");
    expectConsistent(k);
  });

  it("EBUSY for a hugetlb page a migration has isolated, with the caller's reference (MF_COUNT_INCREASED)", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "2"));
    const p = run(k.createProcess());
    const addr = run(p.mmap(HUGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
    run(p.write(addr, new Uint8Array([1])));
    const head = folioAt(p, addr).pfn;
    expect(k.hugetlbActive.isolate(head)).toBe(true);
    expectErrno(p.madvise(addr, HUGE, MADV_SOFT_OFFLINE), "EBUSY");
    // Without the caller's reference, get_hwpoison_hugetlb_folio() finds it busy: EIO.
    expectErrno(k.softOfflinePage(head), "EIO");
    k.hugetlbActive.putback(head);
    expect(k.numPoisonedPages).toBe(0);
    expectConsistent(k);
  });

  it("EBUSY when the migration fails (a pinned page), and the page stays in use", () => {
    const { k, p, addr, pfn } = anonPage(2);
    k.memmap.refcount[pfn]!++; // a pin: folio_expected_ref_count() does not cover it
    expectErrno(k.softOfflinePage(pfn), "EBUSY");
    expect(ptePfn(pteAt(p, addr))).toBe(pfn);
    expect(k.memmap.test(pfn, PG_hwpoison)).toBe(false);
    k.memmap.refcount[pfn]!--;
    expectBytes(run(p.read(addr, 4096)), pattern(4096, 2));
    expectConsistent(k);
  });

  it("parses the address as kstrtoull(buf, 0) does: EINVAL otherwise; the file is write-only", () => {
    const k = boot();
    const path = "/sys/devices/system/memory/soft_offline_page";
    expectErrno(k.fs.write(path, "page"), "EINVAL");
    expectErrno(k.fs.write(path, "-4096"), "EINVAL");
    expectErrno(k.fs.write(path, "99999999999999999999999"), "EINVAL");
    expectErrno(k.fs.read(path), "EACCES");
    const pfn = k.pageAlloc.zones[0]!.startPfn + 9000;
    run(k.fs.write(path, `${pfn * 4096}\n`)); // decimal
    expect(k.memmap.test(pfn, PG_hwpoison)).toBe(true);
  });

  it("a migrator sees the soft-offline batch when its reason mask includes memory_failure, and not otherwise", async () => {
    for (const mask of [1 << MR_MEMORY_FAILURE, 1 << MR_SYSCALL]) {
      const k = boot();
      const { migrator, reasons: batched, copies } = recordingMigrator(k);
      run(k.migrateOffload.register(migrator, mask));
      const p = run(k.createProcess());
      const addr = mapPattern(p, 4096, 6, false);
      await runP(p.madvise(addr, 4096, MADV_SOFT_OFFLINE));
      expectBytes(run(p.read(addr, 4096)), pattern(4096, 6));
      if (mask === 1 << MR_MEMORY_FAILURE) {
        expect(batched).toEqual([MR_MEMORY_FAILURE]);
        expect(copies()).toBe(1);
      } else {
        expect(batched).toEqual([]);
        expect(copies()).toBe(0);
      }
      await runP(k.shutdown());
    }
  });

  it("soft offline while another task moves the hugetlb pages (after LTP move_pages12): no crash, bytes intact, pool consistent", async () => {
    const k = boot();
    const N = 4;
    run(k.fs.write("/proc/sys/vm/nr_hugepages", `${4 * N}`));
    const p = run(k.createProcess());
    const addr = run(p.mmap(N * HUGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
    run(p.write(addr, pattern(N * HUGE, 12)));
    const pages = Array.from({ length: N }, (_, i) => addr + i * HUGE);
    const errors: string[] = [];
    const mover = Effect.gen(function* () {
      for (let i = 0; i < 8; i++) {
        yield* p.movePages(0, pages, new Array<number>(N).fill(i % 2 === 0 ? 1 : 0));
        yield* Effect.yieldNow;
      }
    });
    const offliner = Effect.gen(function* () {
      for (let i = 0; i < 4; i++) {
        // move_pages12 tolerates EBUSY and EINVAL from madvise.
        const r = yield* Effect.result(p.madvise(addr, N * HUGE, MADV_SOFT_OFFLINE));
        if (r._tag === "Failure" && r.failure.errno !== "EBUSY") errors.push(r.failure.errno);
        yield* Effect.yieldNow;
      }
    });
    await runP(Effect.all([mover, offliner], { concurrency: "unbounded" }));
    expect(errors).toEqual([]);
    expectBytes(run(p.read(addr, N * HUGE)), pattern(N * HUGE, 12));
    expect(k.numPoisonedPages).toBeGreaterThan(0);
    expectConsistent(k);
    run(p.exit());
    const h = k.hstate;
    expect(h.freeHugePages).toBe(h.nrHugePages);
    expect(h.resvHugePages).toBe(0);
    expectConsistent(k);
  });
});
