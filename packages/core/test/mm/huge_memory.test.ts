import { Effect, Fiber } from "effect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Kernel, Task } from "../../src/include/kernel";
import type { TraceEvent } from "../../src/include/trace";
import {
  isMigrationEntry,
  LRU_UNEVICTABLE,
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MPOL_MF_MOVE,
  PG_mlocked,
  PG_partially_mapped,
  PROT_READ,
  PROT_WRITE,
  pteDirty,
  ptePfn,
  ptePresent,
  pteSpecial,
  pteWrite,
} from "../../src/index";
import { folioTrylock, folioUnlock } from "../../src/mm/filemap";
import {
  deferredSplitCount,
  deferredSplitScan,
  isHugeZeroPmd,
  shrinkHugeZeroFolioCount,
  shrinkHugeZeroFolioScan,
  splitLruFolio,
} from "../../src/mm/huge_memory";
import { removeMigrationPtes, tryToMigrate } from "../../src/mm/rmap";
import { folioPut } from "../../src/mm/swap";
import {
  boot,
  expectBytes,
  expectChildSignal,
  expectConsistent,
  expectErrno,
  folioAt,
  mapPattern,
  pattern,
  pteAt,
  run,
  runP,
} from "../../src/testing/index";

const MiB = 2 ** 20;
const PAGE = 4096;
const THP = "/sys/kernel/mm/transparent_hugepage";
const EFAULT = 14;

/** Counts the trace events by name while `body` runs. */
const countEvents = async (k: Kernel, body: () => Promise<unknown>) => {
  const counts: Record<string, number> = {};
  const off = k.trace.subscribe((e: TraceEvent) => {
    counts[e.event] = (counts[e.event] ?? 0) + 1;
  });
  try {
    await body();
  } finally {
    off();
  }
  return (name: string) => counts[name] ?? 0;
};

/** The VMA of `task` at `addr`. */
const vmaAt = (task: Task, addr: number) => task.mm!.findVma(addr)!;

/** The PTEs of `task` in `[addr, addr + bytes)` that are present and name a page of `head`. */
const ptesInto = (task: Task, addr: number, bytes: number, head: number): number => {
  const vma = vmaAt(task, addr);
  let n = 0;
  for (let at = addr; at < addr + bytes; at += PAGE) {
    const pte = vma.ptes[(at - vma.start) / PAGE]!;
    if (ptePresent(pte) && task.kernel.memmap.folioOf(ptePfn(pte)) === head) n++;
  }
  return n;
};

/** A private anonymous mapping of `bytes` (PMD-aligned when it holds a PMD). */
const mapAnon = (task: Task, bytes: number, hugepage?: boolean): number =>
  run(task.mmap(bytes, { flags: MAP_PRIVATE | MAP_ANONYMOUS, hugepage }));

/** Takes memory on every node so that no free block of more than `order` is left. */
const fragmentAll = (k: Kernel, order: number) =>
  k.mem.nodes.map((_, nid) => run(k.fragment(nid, order)));

/** A kernel whose shmem gets PMD-size folios (`shmem_enabled` "always"). */
const shmemKernel = (): Kernel => {
  const k = boot();
  run(k.fs.write(`${THP}/shmem_enabled`, "always"));
  return k;
};

/** A shared anonymous (shmem) mapping of `bytes`, filled with `pattern(bytes, seed)`. */
const mapShmem = (task: Task, bytes: number, seed: number, prot?: number): number => {
  const addr = run(task.mmap(bytes, { flags: MAP_SHARED | MAP_ANONYMOUS }));
  run(task.write(addr, pattern(bytes, seed)));
  if (prot !== undefined) run(task.mprotect(addr, bytes, prot));
  return addr;
};

describe("PMD-mapped THPs", () => {
  // do_huge_pmd_anonymous_page() (mm/huge_memory.c): one huge PMD, folio_entire_mapcount() 1.
  it("maps a PMD-size THP fault with one huge PMD and no PTEs", () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 2 * MiB, 1);
    const vma = vmaAt(p, addr);
    expect([...vma.pmds.keys()]).toEqual([addr]);
    expect(vma.ptes.every((pte) => pte === 0)).toBe(true);
    const folio = folioAt(p, addr + 300 * PAGE);
    expect(folio.pfn).toBe(ptePfn(vma.pmds.get(addr)!));
    expect(folio.order).toBe(9);
    expect(folio.entireMapcount).toBe(1);
    expect(folio.mapcount).toBe(1);
    expect(k.memmap.pageMapcount(folio.pfn + 300)).toBe(1);
    expect(k.vmstat.get("thp_fault_alloc")).toBe(1);
    // Loads and stores reach the page at the address's offset in the folio.
    expect(ptePfn(pteAt(p, addr + 300 * PAGE))).toBe(folio.pfn + 300);
    run(p.write(addr + 300 * PAGE + 5, new Uint8Array([0xab])));
    expect(k.mem.bytes(folio.pfn + 300)[5]).toBe(0xab);
    expectConsistent(k);
  });

  it("maps with PTEs where the VMA cannot hold an aligned PMD, or THP is off for it", () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    // thp_vma_allowable_order(): a VMA smaller than a PMD gets no PMD-size folio.
    const small = mapPattern(p, MiB, 2);
    expect(vmaAt(p, small).pmds.size).toBe(0);
    const off = mapPattern(p, 2 * MiB, 3, false);
    expect(vmaAt(p, off).pmds.size).toBe(0);
    expect(folioAt(p, off).order).toBe(0);
    expectConsistent(k);
  });

  // set_pmd_migration_entry() / remove_migration_pmd() (mm/huge_memory.c), counted by the
  // set_migration_pmd / remove_migration_pmd events of include/trace/events/thp.h.
  // try_to_migrate_one() calls set_pmd_migration_entry() for a file folio too, and
  // remove_migration_pmd() maps the new one with folio_add_file_rmap_pmd(); the page cache then
  // names the new folio (__folio_migrate_mapping()).
  it.each([
    ["a private anonymous THP", false],
    ["a shmem THP", true],
  ])("migrates a PMD-mapped THP through one PMD migration entry: %s", async (_, shmem) => {
    const k = shmem ? shmemKernel() : boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = shmem ? mapShmem(p, 2 * MiB, 4) : mapPattern(p, 2 * MiB, 4);
    const src = folioAt(p, addr).pfn;
    const events = await countEvents(k, () => runP(p.movePages(0, [addr + 7 * PAGE], [1])));
    expect(events("set_migration_pmd")).toBe(1);
    expect(events("remove_migration_pmd")).toBe(1);
    expect(events("set_migration_pte")).toBe(0);
    expect(events("remove_migration_pte")).toBe(0);
    expect(k.vmstat.get("thp_migration_success")).toBe(1);
    expect(k.vmstat.get("pgmigrate_success")).toBe(512);
    const dst = folioAt(p, addr);
    expect(dst.pfn).not.toBe(src);
    expect(dst.nid).toBe(1);
    expect(dst.order).toBe(9);
    expect(dst.entireMapcount).toBe(1);
    // The PMD's reference, and a shmem folio's 512 page-cache references.
    expect(dst.refcount).toBe(shmem ? 513 : 1);
    const vma = vmaAt(p, addr);
    if (shmem) expect(vma.mapping!.pages.get(vma.pgoff)).toBe(dst.pfn);
    expect([...vma.pmds.keys()]).toEqual([addr]);
    expectBytes(run(p.read(addr, 2 * MiB)), pattern(2 * MiB, 4));
    expectConsistent(k);
  });

  // pmd_migration_entry_wait() (mm/migrate.c): an access that meets a PMD migration entry waits
  // for the folio and retries.
  it("makes an access to a PMD under migration wait until the folio is unlocked", async () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 2 * MiB, 5);
    const src = folioAt(p, addr).pfn;
    expect(folioTrylock(k, src)).toBe(true);
    tryToMigrate(k, src, 0, null);
    const pmd = vmaAt(p, addr).pmds.get(addr)!;
    expect(isMigrationEntry(pmd)).toBe(true);
    expect(ptePfn(pmd)).toBe(src);
    expect(k.memmap.folioMapped(src)).toBe(false);
    const writer = Effect.runFork(p.write(addr + 9 * PAGE, new Uint8Array([9])));
    const reader = Effect.runFork(p.read(addr + 9 * PAGE, 1));
    await Effect.runPromise(Effect.yieldNow);
    expect(k.folioWaiters.waiting(src)).toBe(2);
    const dst = run(k.allocFolio(1, 9));
    k.mem.copyPages(dst.pfn, src, 512);
    k.memmap.mapping[dst.pfn] = k.memmap.mapping[src]!;
    k.memmap.index[dst.pfn] = k.memmap.index[src]!;
    expect(removeMigrationPtes(k, src, dst.pfn)).toBe(1);
    folioUnlock(k, src);
    await Effect.runPromise(Fiber.join(writer));
    expect((await Effect.runPromise(Fiber.join(reader)))[0]).toBe(9);
    expect(k.mem.bytes(dst.pfn + 9)[0]).toBe(9);
    expect(k.mem.bytes(src + 9)[0]).toBe(pattern(2 * MiB, 5)[9 * PAGE]);
    expect(p.migration.migrationEntryWaits).toBeGreaterThan(0);
  });

  // copy_huge_pmd() (mm/huge_memory.c): a fork copies a PMD migration entry, made readable in
  // both mms; remove_migration_pmd() maps both back read-only, one entire mapcount each.
  it("copies a PMD migration entry at fork, readable in both, and restores both", () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 2 * MiB, 11);
    const src = folioAt(p, addr).pfn;
    tryToMigrate(k, src, 0, null);
    expect(pteWrite(vmaAt(p, addr).pmds.get(addr)!)).toBe(true);
    const c = run(p.fork());
    for (const t of [p, c]) {
      const entry = vmaAt(t, addr).pmds.get(addr)!;
      expect(isMigrationEntry(entry) && !pteWrite(entry)).toBe(true);
    }
    expect(removeMigrationPtes(k, src, src)).toBe(2);
    expect(k.folio(src).entireMapcount).toBe(2);
    expect(k.folio(src).refcount).toBe(2);
    expect(pteWrite(vmaAt(c, addr).pmds.get(addr)!)).toBe(false);
    expectBytes(run(c.read(addr, 2 * MiB)), pattern(2 * MiB, 11));
    expectConsistent(k);
  });

  // __split_huge_pmd() (mm/huge_memory.c) from vma_adjust_trans_huge() in the munmap's
  // split_vma(): the folio stays a large folio mapped by the 511 PTEs left. Partially mapped, it
  // goes on the deferred split queue (__folio_remove_rmap(), mm/rmap.c, Linux 6.16), and
  // migrate_pages_batch() (mm/migrate.c, Linux 6.10+) splits such a folio before migrating it.
  it("splits the PMD on a partial munmap; the partially mapped THP is queued, and migration splits it first", async () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 2 * MiB, 6);
    const head = folioAt(p, addr).pfn;
    run(p.munmap(addr + 100 * PAGE, PAGE));
    expect(k.vmstat.get("thp_split_pmd")).toBe(1);
    expect(k.vmstat.get("thp_split_page")).toBe(0);
    expect(vmaAt(p, addr).pmds.size).toBe(0);
    const folio = k.folio(head);
    expect(folio.order).toBe(9);
    expect(folio.entireMapcount).toBe(0);
    expect(folio.mapcount).toBe(511);
    expect(folio.refcount).toBe(511);
    expect(k.memmap.mapcount[head + 100]).toBe(0);
    expect(
      ptesInto(p, addr, 100 * PAGE, head) + ptesInto(p, addr + 101 * PAGE, 411 * PAGE, head),
    ).toBe(511);
    // deferred_split_folio(folio, true): thp_deferred_split_page and split_deferred, once.
    expect(k.vmstat.get("thp_deferred_split_page")).toBe(1);
    expect(
      run(k.fs.read("/sys/kernel/mm/transparent_hugepage/hugepages-2048kB/stats/split_deferred")),
    ).toBe("1\n");
    expect(deferredSplitCount(k, 0)).toBe(1);
    expectConsistent(k);

    const events = await countEvents(k, () => runP(p.movePages(0, [addr], [1])));
    expect(events("set_migration_pte")).toBe(511);
    expect(events("remove_migration_pte")).toBe(511);
    expect(events("set_migration_pmd")).toBe(0);
    // Split first: one split, counted as a THP migration failure (migrate_pages_sync() adds
    // nr_thp_split to nr_thp_failed), and the 511 mapped pages migrated one by one; the unmapped
    // page is freed by the split.
    expect(k.vmstat.get("thp_split_page")).toBe(1);
    expect(k.vmstat.get("thp_migration_split")).toBe(1);
    expect(k.vmstat.get("thp_migration_success")).toBe(0);
    // 512: the unmapped page, held only by the isolation, counts as migrated too
    // (migrate_folio_unmap(): "Folio was freed from under us").
    expect(k.vmstat.get("pgmigrate_success")).toBe(512);
    expect(deferredSplitCount(k, 0)).toBe(0);
    expect(k.memmap.refcount[head + 100]).toBe(0);
    const dst = folioAt(p, addr);
    expect(dst.order).toBe(0);
    expect(dst.nid).toBe(1);
    expect(folioAt(p, addr + 511 * PAGE).nid).toBe(1);
    const expected = pattern(2 * MiB, 6);
    expectBytes(run(p.read(addr, 100 * PAGE)), expected.subarray(0, 100 * PAGE));
    expectBytes(run(p.read(addr + 101 * PAGE, 411 * PAGE)), expected.subarray(101 * PAGE));
    expectConsistent(k);
  });

  // deferred_split_scan() (mm/huge_memory.c, Linux 6.16): the shrinker splits the queued folios;
  // a folio freed while queued leaves the queue (folio_unqueue_deferred_split()).
  it("splits queued folios when the deferred split shrinker runs, and requeues a locked one", () => {
    const k = boot({ thp: { enabled: "always", sizes: { "64kB": "always" } } });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 4 * MiB, 8);
    const a = folioAt(p, addr).pfn;
    const b = folioAt(p, addr + 2 * MiB).pfn;
    const nid = k.mem.pfnToNid(a);
    // MADV_DONTNEED-like zaps of part of each: both partially mapped.
    run(p.munmap(addr + 4 * PAGE, 4 * PAGE));
    run(p.munmap(addr + 2 * MiB, PAGE));
    expect(k.vmstat.get("thp_deferred_split_page")).toBe(2);
    expect(deferredSplitCount(k, nid)).toBe(2);
    const free = k.pageAlloc.nodeFreePages(nid);
    expect(folioTrylock(k, b)).toBe(true);
    expect(deferredSplitScan(k, nid)).toBe(1);
    // a split: its 4 unmapped pages freed; b locked: back on the queue, whole.
    expect(k.memmap.folioOrder(a)).toBe(0);
    expect(k.vmstat.get("thp_split_page")).toBe(1);
    expect(k.pageAlloc.nodeFreePages(nid)).toBe(free + 4);
    expect(k.memmap.folioOrder(b)).toBe(9);
    expect(deferredSplitCount(k, nid)).toBe(1);
    folioUnlock(k, b);
    expect(deferredSplitScan(k, nid)).toBe(1);
    expect(deferredSplitCount(k, nid)).toBe(0);
    expect(k.vmstat.get("thp_deferred_split_page")).toBe(2); // counted once per folio
    const want = pattern(4 * MiB, 8);
    expectBytes(run(p.read(addr, 4 * PAGE)), want.subarray(0, 4 * PAGE));
    expectBytes(run(p.read(addr + 8 * PAGE, PAGE)), want.subarray(8 * PAGE, 9 * PAGE));
    expectBytes(
      run(p.read(addr + 2 * MiB + PAGE, PAGE)),
      want.subarray(2 * MiB + PAGE, 2 * MiB + 2 * PAGE),
    );
    // A fully unmapped folio is never queued; a queued one that is freed leaves the queue.
    const c = mapPattern(p, 2 * MiB, 9);
    run(p.munmap(c, 2 * MiB));
    // 64 KiB mTHPs (the PMD size needs a 2 MiB block), at the first 64 KiB-aligned address.
    const d = Math.ceil(mapPattern(p, MiB, 3) / (16 * PAGE)) * 16 * PAGE;
    const small = folioAt(p, d).pfn;
    expect(k.memmap.folioOrder(small)).toBe(4);
    run(p.munmap(d, PAGE));
    expect(k.thp.mthpStat(4, "split_deferred")).toBe(1);
    expect(k.vmstat.get("thp_deferred_split_page")).toBe(2); // PMD size only
    expect(k.deferredSplitQueue.has(small)).toBe(true);
    run(p.munmap(d + PAGE, 15 * PAGE));
    expect(k.deferredSplitQueue.has(small)).toBe(false);
    expectConsistent(k);
  });

  // An mlocked THP through a PMD split and a folio split, as Linux 6.16 does them:
  // __split_huge_pmd_locked() ends with folio_remove_rmap_pmd(), whose munlock_vma_folio()
  // (mm/internal.h) munlocks the folio in a VM_LOCKED VMA; __folio_split() (mm/huge_memory.c)
  // munlocks once per PTE it unmaps, copies PG_mlocked/PG_unevictable as they then are
  // (__split_folio_to_order()), keeps the new folios on the LRU beside the head
  // (lru_add_split_folio()), and remap_page() mlocks each page a locked VMA maps again
  // (__folio_add_anon_rmap() -> mlock_vma_folio(), mm/rmap.c; __mlock_folio(), mm/mlock.c).
  it("munlocks an mlocked THP when its PMD is split, and mlocks each mapped page when the folio is split", () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 2 * MiB, 5);
    run(p.mlock(addr, 2 * MiB));
    const head = folioAt(p, addr).pfn;
    const nid = k.mem.pfnToNid(head);
    const stat = (name: string) => k.vmstat.get(name);
    expect(stat("unevictable_pgs_mlocked")).toBe(512);
    expect(stat("unevictable_pgs_culled")).toBe(512);
    expect(stat("nr_mlock")).toBe(512);
    // munmap() of one page: split_vma() splits the PMD in the locked VMA, munlocking the folio
    // (mlock_count 1 -> 0: munlocked and rescued to the inactive anon list), now partially mapped.
    run(p.munmap(addr + 100 * PAGE, PAGE));
    expect(stat("unevictable_pgs_munlocked")).toBe(512);
    expect(stat("unevictable_pgs_rescued")).toBe(512);
    expect(stat("nr_mlock")).toBe(0);
    expect(k.memmap.test(head, PG_mlocked)).toBe(false);
    expect(deferredSplitCount(k, nid)).toBe(1);
    expect(deferredSplitScan(k, nid)).toBe(1);
    // The 511 mapped pages, small folios now, each mlocked again with an mlock_count of 1 and
    // culled from the inactive list; the unmapped page was freed, never mlocked (no
    // unevictable_pgs_cleared).
    expect(stat("unevictable_pgs_mlocked")).toBe(512 + 511);
    expect(stat("unevictable_pgs_culled")).toBe(512 + 511);
    expect(stat("unevictable_pgs_munlocked")).toBe(512);
    expect(stat("unevictable_pgs_cleared")).toBe(0);
    expect(stat("nr_mlock")).toBe(511);
    const meminfo = run(k.fs.read("/proc/meminfo"));
    expect(meminfo).toContain(`Unevictable:    ${String(511 * 4).padStart(8)} kB\n`);
    expect(meminfo).toContain(`Mlocked:        ${String(511 * 4).padStart(8)} kB\n`);
    for (const page of [head, head + 99, head + 101, head + 511]) {
      expect(k.memmap.folioOrder(page)).toBe(0);
      expect(k.memmap.test(page, PG_mlocked)).toBe(true);
      expect(k.memmap.mlockCount[page]).toBe(1);
      expect([...k.lru.lists[nid]![LRU_UNEVICTABLE]!]).toContain(page);
    }
    // One mlock each: munlock of one page munlocks and rescues just it.
    run(p.munlock(addr + 511 * PAGE, PAGE));
    expect(stat("unevictable_pgs_munlocked")).toBe(513);
    expect(stat("unevictable_pgs_rescued")).toBe(513);
    expect(stat("nr_mlock")).toBe(510);
    expect(k.memmap.test(head + 511, PG_mlocked)).toBe(false);
    expect(k.memmap.test(head + 510, PG_mlocked)).toBe(true);
    expectBytes(run(p.read(addr, 100 * PAGE)), pattern(2 * MiB, 5).subarray(0, 100 * PAGE));
    expectConsistent(k);
  });

  // __folio_split() (mm/huge_memory.c, Linux 6.16) remaps a split anonymous folio with
  // RMP_USE_SHARED_ZEROPAGE: try_to_map_unused_to_zeropage() (mm/migrate.c) maps each page that
  // holds only zeroes to the shared zero page, read-only, and the page, unmapped, is freed; not in
  // a VM_LOCKED VMA nor for an mlocked page.
  it("maps the zero-filled pages of a split THP to the shared zero page and frees them", () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapAnon(p, 2 * MiB);
    run(p.write(addr, new Uint8Array([1])));
    run(p.write(addr + 10 * PAGE, new Uint8Array([2])));
    const head = folioAt(p, addr).pfn;
    const nid = k.mem.pfnToNid(head);
    expect(k.memmap.folioOrder(head)).toBe(9);
    run(p.munmap(addr + 100 * PAGE, PAGE));
    const free = k.pageAlloc.nodeFreePages(nid);
    expect(deferredSplitScan(k, nid)).toBe(1);
    // 509 zero-filled pages remapped and freed, and the unmapped one: 510.
    expect(k.pageAlloc.nodeFreePages(nid)).toBe(free + 510);
    const zero = pteAt(p, addr + 5 * PAGE);
    expect(ptePresent(zero) && pteSpecial(zero) && !pteWrite(zero)).toBe(true);
    expect(ptePfn(zero)).toBe(k.zeroPfn);
    expect(ptePfn(pteAt(p, addr + 511 * PAGE))).toBe(k.zeroPfn);
    expect(folioAt(p, addr).pfn).toBe(head);
    expect(folioAt(p, addr + 10 * PAGE).pfn).toBe(head + 10);
    expect(k.memmap.refcount[head + 5]).toBe(0);
    const want = new Uint8Array(2 * PAGE);
    want[0] = 1;
    expectBytes(run(p.read(addr, 2 * PAGE)), want);
    expect(run(p.read(addr + 10 * PAGE, 1))[0]).toBe(2);
    // A write to a zero-page address copies on write into a new page.
    run(p.write(addr + 5 * PAGE, new Uint8Array([3])));
    expect(run(p.read(addr + 5 * PAGE, 1))[0]).toBe(3);
    expectConsistent(k);

    // In a VM_LOCKED VMA every page is mapped back as it was, and stays mlocked.
    const locked = mapAnon(p, 2 * MiB);
    run(p.write(locked, new Uint8Array([1])));
    run(p.mlock(locked, 2 * MiB));
    const lockedHead = folioAt(p, locked).pfn;
    run(p.munmap(locked + 100 * PAGE, PAGE));
    const before = k.pageAlloc.nodeFreePages(nid);
    expect(deferredSplitScan(k, nid)).toBe(1);
    expect(k.pageAlloc.nodeFreePages(nid)).toBe(before + 1);
    expect(folioAt(p, locked + 5 * PAGE).pfn).toBe(lockedHead + 5);
    expect(k.memmap.test(lockedHead + 5, PG_mlocked)).toBe(true);
    expectConsistent(k);
  });

  it("splits the PMD when madvise or mlock covers half of it, and not at a PMD boundary", () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 4 * MiB, 7);
    run(p.madvise(addr, MiB, MADV_NOHUGEPAGE));
    expect(k.vmstat.get("thp_split_pmd")).toBe(1);
    expect(vmaAt(p, addr).pmds.size).toBe(0);
    // The second PMD lies wholly in the upper VMA (1 MiB to 4 MiB) and stays whole.
    expect(vmaAt(p, addr + MiB).ptes.length).toBe(768);
    expect([...vmaAt(p, addr + MiB).pmds.keys()]).toEqual([addr + 2 * MiB]);
    run(p.mlock(addr + 2 * MiB, 2 * MiB));
    expect(k.vmstat.get("thp_split_pmd")).toBe(1);
    expect(k.memmap.test(folioAt(p, addr + 2 * MiB).pfn, PG_mlocked)).toBe(true);
    // A range that has VM_LOCKED already is left alone (mlock_fixup(): newflags == oldflags), so
    // nothing is split; munlock of one page changes the flags and splits the PMD around it.
    run(p.mlock(addr + 3 * MiB, PAGE));
    expect(k.vmstat.get("thp_split_pmd")).toBe(1);
    run(p.munlock(addr + 3 * MiB, PAGE));
    expect(k.vmstat.get("thp_split_pmd")).toBe(2);
    expectBytes(run(p.read(addr, 4 * MiB)), pattern(4 * MiB, 7));
    expectConsistent(k);
  });

  // mprotect_fixup() -> split_vma() -> vma_adjust_trans_huge(); change_huge_pmd() keeps a PMD
  // wholly inside the range whole and write-protects it.
  it("splits the PMD when mprotect covers half of it; a whole PMD is write-protected in place", async () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 4 * MiB, 9);
    const first = folioAt(p, addr).pfn;
    run(p.mprotect(addr, MiB, PROT_READ));
    expect(k.vmstat.get("thp_split_pmd")).toBe(1);
    expect(k.folio(first).order).toBe(9);
    expect(k.folio(first).mapcount).toBe(512);
    expectChildSignal(p, (c) => c.write(addr, new Uint8Array([1])), "SIGSEGV", "SEGV_ACCERR");
    run(p.write(addr + MiB, new Uint8Array([1])));
    run(p.mprotect(addr + 2 * MiB, 2 * MiB, PROT_READ));
    expect(k.vmstat.get("thp_split_pmd")).toBe(1);
    const pmd = vmaAt(p, addr + 2 * MiB).pmds.get(addr + 2 * MiB)!;
    expect(ptePresent(pmd) && !pteWrite(pmd)).toBe(true);
    expectChildSignal(
      p,
      (c) => c.write(addr + 3 * MiB, new Uint8Array([1])),
      "SIGSEGV",
      "SEGV_ACCERR",
    );
    // Writable again: the write fault reuses the exclusive THP (do_huge_pmd_wp_page()).
    run(p.mprotect(addr + 2 * MiB, 2 * MiB, PROT_READ | PROT_WRITE));
    run(p.write(addr + 3 * MiB, new Uint8Array([2])));
    expect(k.vmstat.get("thp_split_pmd")).toBe(1);
    expect(pteWrite(vmaAt(p, addr + 2 * MiB).pmds.get(addr + 2 * MiB)!)).toBe(true);
    // The PTE-mapped THP, read-only in part, still migrates as one folio.
    expect((await runP(p.movePages(0, [addr], [1]))).status[0]).toBe(1);
    expect(folioAt(p, addr).order).toBe(9);
    expect(folioAt(p, addr + MiB).pfn).toBe(folioAt(p, addr).pfn);
    const expected = pattern(4 * MiB, 9);
    expected[MiB] = 1;
    expected[3 * MiB] = 2;
    expectBytes(run(p.read(addr, 4 * MiB)), expected);
    expectConsistent(k);
  });

  // copy_huge_pmd() at fork, then do_huge_pmd_wp_page(): a shared THP is split and one page
  // copied; once the other mm is gone the PMD is reused in place.
  it("copies a huge PMD at fork and splits it on a copy-on-write fault", () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 2 * MiB, 8);
    const head = folioAt(p, addr).pfn;
    const c = run(p.fork());
    expect(k.folio(head).entireMapcount).toBe(2);
    expect(k.folio(head).refcount).toBe(2);
    run(c.write(addr + 3 * PAGE, new Uint8Array([1])));
    expect(k.vmstat.get("thp_split_pmd")).toBe(1);
    expect(k.vmstat.get("cow_fault")).toBe(1);
    expect(k.folio(head).entireMapcount).toBe(1);
    expect(k.folio(head).mapcount).toBe(1 + 511);
    expect(folioAt(c, addr + 3 * PAGE).order).toBe(0);
    expect(run(p.read(addr + 3 * PAGE, 1))[0]).toBe(pattern(2 * MiB, 8)[3 * PAGE]);
    run(c.exit());
    expect(k.folio(head).mapcount).toBe(1);
    run(p.write(addr, new Uint8Array([2])));
    expect(k.vmstat.get("thp_split_pmd")).toBe(1);
    expect(vmaAt(p, addr).pmds.get(addr)).toBeDefined();
    expectConsistent(k);
  });

  it("keeps the checker consistent and every byte intact under THPs, partial unmaps, forks and migrations (property)", async () => {
    const step = fc.oneof(
      fc.record({ t: fc.constant("map" as const), pmds: fc.integer({ min: 1, max: 2 }) }),
      fc.record({ t: fc.constant("write" as const), page: fc.nat(), seed: fc.nat(255) }),
      fc.record({
        t: fc.constant("unmap" as const),
        page: fc.nat(),
        pages: fc.integer({ min: 1, max: 3 }),
      }),
      fc.record({ t: fc.constant("migrate" as const), page: fc.nat(), node: fc.nat(1) }),
      fc.record({
        t: fc.constant("protect" as const),
        page: fc.nat(),
        pages: fc.integer({ min: 1, max: 600 }),
      }),
      fc.record({ t: fc.constant("fork" as const) }),
      fc.record({ t: fc.constant("exit" as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 14 }), async (steps) => {
        const k = boot({ thp: { enabled: "always" } });
        const procs: { task: Task; pages: Map<number, Uint8Array> }[] = [
          { task: run(k.createProcess()), pages: new Map() },
        ];
        for (const s of steps) {
          const proc = procs[procs.length - 1]!;
          const p = proc.task;
          const pages = [...proc.pages.keys()];
          const at = pages.length ? pages[(s as { page?: number }).page! % pages.length]! : -1;
          if (s.t === "map") {
            const bytes = s.pmds * 2 * MiB;
            const addr = mapPattern(p, bytes, s.pmds);
            const data = pattern(bytes, s.pmds);
            for (let i = 0; i < bytes; i += PAGE) proc.pages.set(addr + i, data.slice(i, i + PAGE));
          } else if (s.t === "write" && at >= 0) {
            const data = pattern(PAGE, s.seed);
            run(p.write(at, data));
            proc.pages.set(at, data);
          } else if (s.t === "unmap" && at >= 0) {
            run(p.munmap(at, s.pages * PAGE));
            for (let i = 0; i < s.pages; i++) proc.pages.delete(at + i * PAGE);
          } else if (s.t === "migrate" && at >= 0) {
            // add_page_for_migration(): a page already on the node stays; else a page mapped
            // more than once needs MPOL_MF_MOVE_ALL (-EACCES).
            const pfn = ptePfn(pteAt(p, at));
            const stays = k.folio(k.memmap.folioOf(pfn)).nid === s.node;
            const shared = k.memmap.pageMapcount(pfn) > 1;
            const result = await runP(p.movePages(0, [at], [s.node]));
            expect(result.status[0]).toBe(stays || !shared ? s.node : -13);
          } else if (s.t === "protect" && at >= 0) {
            // Read-only and back over a run of mapped pages: the VMA splits (and a huge PMD a
            // cut goes through), the entries lose their write bit, and later writes fault.
            let n = 1;
            while (n < s.pages && proc.pages.has(at + n * PAGE)) n++;
            run(p.mprotect(at, n * PAGE, PROT_READ));
            run(p.mprotect(at, n * PAGE, PROT_READ | PROT_WRITE));
          } else if (s.t === "fork" && procs.length < 3) {
            const copy = new Map([...proc.pages].map(([a, d]) => [a, new Uint8Array(d)]));
            procs.push({ task: run(p.fork()), pages: copy });
          } else if (s.t === "exit" && procs.length > 1) {
            run(p.exit());
            procs.pop();
          }
          expectConsistent(k);
        }
        for (const { task, pages } of procs) {
          for (const [addr, data] of pages) expectBytes(run(task.read(addr, PAGE)), data);
        }
        expectConsistent(k);
      }),
      { numRuns: 25 },
    );
  }, 120_000);
});

describe("the huge zero folio", () => {
  // do_huge_pmd_anonymous_page() (mm/huge_memory.c, Linux 6.16): a read fault where a PMD THP is
  // allowed maps the huge zero folio with a huge PMD (set_huge_zero_folio()), allocated once
  // (get_huge_zero_folio(): thp_zero_page_alloc), shared by every address space, and counted
  // neither as a THP fault nor in any mapcount.
  it("maps a read fault in a THP-eligible VMA with one huge PMD of the huge zero folio, shared by every mm", () => {
    const k = boot({ thp: { enabled: "always" } });
    expect(run(k.fs.read(`${THP}/use_zero_page`))).toBe("1\n");
    const p = run(k.createProcess());
    const addr = mapAnon(p, 2 * MiB);
    expectBytes(run(p.read(addr + 300 * PAGE, 2 * PAGE)), new Uint8Array(2 * PAGE));
    const pmd = vmaAt(p, addr).pmds.get(addr)!;
    expect(isHugeZeroPmd(k, pmd)).toBe(true);
    expect(pteWrite(pmd)).toBe(false);
    const zero = k.folio(ptePfn(pmd));
    expect(zero.pfn).toBe(k.hugeZero.pfn);
    expect(zero.order).toBe(9);
    expect(zero.entireMapcount).toBe(0);
    expect(zero.mapcount).toBe(0);
    expect(vmaAt(p, addr).ptes.every((pte) => pte === 0)).toBe(true);
    // The page at the address's offset in the folio, as folio_walk_start() sees it.
    expect(ptePfn(pteAt(p, addr + 300 * PAGE))).toBe(zero.pfn + 300);
    expect(k.vmstat.get("thp_zero_page_alloc")).toBe(1);
    expect(k.vmstat.get("thp_fault_alloc")).toBe(0);
    // huge_zero_refcount: this mm's reference (MMF_HUGE_ZERO_PAGE) and the shrinker's.
    expect(p.mm!.hugeZeroPage).toBe(true);
    expect(k.hugeZero.refcount).toBe(2);
    // A second mm takes a reference to the same folio; nothing is allocated again.
    const q = run(k.createProcess());
    const other = mapAnon(q, 4 * MiB);
    run(q.read(other + 3 * MiB, 1));
    expect(ptePfn(vmaAt(q, other).pmds.get(other + 2 * MiB)!)).toBe(zero.pfn);
    expect(k.vmstat.get("thp_zero_page_alloc")).toBe(1);
    expect(k.hugeZero.refcount).toBe(3);
    // More reads in the same mm take nothing more.
    run(q.read(other, 1));
    expect(k.hugeZero.refcount).toBe(3);
    expectConsistent(k);
  });

  it("maps the 4 KiB zero page where no PMD THP is allowed or fits", () => {
    const k = boot({ thp: { enabled: "madvise" } });
    const p = run(k.createProcess());
    // thp_vma_allowable_order(): "madvise" without MADV_HUGEPAGE allows no PMD THP.
    const plain = mapAnon(p, 2 * MiB);
    run(p.read(plain, 1));
    expect(vmaAt(p, plain).pmds.size).toBe(0);
    expect(ptePfn(pteAt(p, plain))).toBe(k.zeroPfn);
    // thp_vma_suitable_order(): a VMA smaller than a PMD.
    const small = mapAnon(p, MiB, true);
    run(p.read(small, 1));
    expect(vmaAt(p, small).pmds.size).toBe(0);
    expect(ptePfn(pteAt(p, small))).toBe(k.zeroPfn);
    // With MADV_HUGEPAGE the PMD-size range gets the huge zero folio.
    const advised = mapAnon(p, 2 * MiB, true);
    run(p.read(advised, 1));
    expect(isHugeZeroPmd(k, vmaAt(p, advised).pmds.get(advised)!)).toBe(true);
    expect(k.vmstat.get("thp_zero_page_alloc")).toBe(1);
    expectConsistent(k);
  });

  // single_hugepage_flag_store() (mm/huge_memory.c): kstrtoul() base 10, whose error it returns,
  // and EINVAL above 1; the show is "%d\n".
  it("parses use_zero_page as the kernel's store does", () => {
    const k = boot();
    const file = `${THP}/use_zero_page`;
    for (const bad of ["2", "-1", "yes", " 1", "0x1", "1 "])
      expectErrno(k.fs.write(file, bad), "EINVAL");
    expectErrno(k.fs.write(file, "18446744073709551616"), "ERANGE");
    expect(run(k.fs.read(file))).toBe("1\n");
    run(k.fs.write(file, "0\n"));
    expect(run(k.fs.read(file))).toBe("0\n");
    expect(k.thp.useZeroPage).toBe(false);
    run(k.fs.write(file, "+01"));
    expect(run(k.fs.read(file))).toBe("1\n");
  });

  // do_huge_pmd_anonymous_page() with use_zero_page 0: a read fault allocates and maps a PMD THP
  // as a write does (thp_fault_alloc); it falls back to the 4 KiB zero page, not to an mTHP.
  it("allocates a PMD THP for a read fault when use_zero_page is 0", () => {
    const k = boot({ thp: { enabled: "always", sizes: { "64kB": "always" } } });
    run(k.fs.write(`${THP}/use_zero_page`, "0"));
    const p = run(k.createProcess());
    const addr = mapAnon(p, 2 * MiB);
    expectBytes(run(p.read(addr, PAGE)), new Uint8Array(PAGE));
    const folio = folioAt(p, addr);
    expect(folio.order).toBe(9);
    expect(folio.anon).toBe(true);
    expect(folio.entireMapcount).toBe(1);
    expect(pteWrite(vmaAt(p, addr).pmds.get(addr)!)).toBe(true);
    expect(k.vmstat.get("thp_fault_alloc")).toBe(1);
    expect(k.vmstat.get("thp_zero_page_alloc")).toBe(0);
    expect(k.hugeZero.pfn).toBe(-1);
    // No PMD block left: the read falls back (thp_fault_fallback) to the zero page.
    const held = fragmentAll(k, 8);
    const other = mapAnon(p, 2 * MiB);
    run(p.read(other + 70 * PAGE, 1));
    expect(k.vmstat.get("thp_fault_fallback")).toBe(1);
    expect(ptePfn(pteAt(p, other + 70 * PAGE))).toBe(k.zeroPfn);
    for (const f of held) f.release();
    expectConsistent(k);
  });

  // get_huge_zero_folio(): thp_zero_page_alloc_failed when no PMD block can be had;
  // do_huge_pmd_anonymous_page() then counts thp_fault_fallback and the fault maps the zero page.
  it("counts thp_zero_page_alloc_failed and maps the 4 KiB zero page when the folio cannot be allocated", () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const held = fragmentAll(k, 8);
    const addr = mapAnon(p, 2 * MiB);
    run(p.read(addr, 1));
    expect(k.vmstat.get("thp_zero_page_alloc_failed")).toBe(1);
    expect(k.vmstat.get("thp_zero_page_alloc")).toBe(0);
    expect(k.vmstat.get("thp_fault_fallback")).toBe(1);
    expect(vmaAt(p, addr).pmds.size).toBe(0);
    expect(ptePfn(pteAt(p, addr))).toBe(k.zeroPfn);
    expect(p.mm!.hugeZeroPage).toBe(false);
    for (const f of held) f.release();
    expectConsistent(k);
  });

  // do_huge_zero_wp_pmd() (mm/huge_memory.c, Linux 6.13+): a write to the huge zero PMD gets a
  // PMD THP of its own, mapped writable in the PMD's place (thp_fault_alloc); nothing is split.
  it("replaces the huge zero PMD by a new PMD THP on a write", () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapAnon(p, 2 * MiB);
    run(p.read(addr, 1));
    const zero = k.hugeZero.pfn;
    run(p.write(addr + 5 * PAGE + 1, new Uint8Array([7])));
    const pmd = vmaAt(p, addr).pmds.get(addr)!;
    expect(isHugeZeroPmd(k, pmd)).toBe(false);
    expect(pteWrite(pmd)).toBe(true);
    const folio = folioAt(p, addr);
    expect(folio.order).toBe(9);
    expect(folio.anon).toBe(true);
    expect(folio.entireMapcount).toBe(1);
    expect(k.vmstat.get("thp_fault_alloc")).toBe(1);
    expect(k.vmstat.get("thp_split_pmd")).toBe(0);
    // Not queued for the underused-THP split: in Linux 6.16 only __do_huge_pmd_anonymous_page()
    // queues a new THP (do_huge_zero_wp_pmd() does since commit 2a1351cd4176, after 6.16).
    expect(deferredSplitCount(k, 0)).toBe(0);
    const expected = new Uint8Array(2 * MiB);
    expected[5 * PAGE + 1] = 7;
    expectBytes(run(p.read(addr, 2 * MiB)), expected);
    // The huge zero folio stays zeros (what LTP thp04, CVE-2017-1000405, checks), and the mm
    // keeps its reference until it goes.
    expect(k.mem.bytes(zero + 5)[1]).toBe(0);
    expect(k.hugeZero.refcount).toBe(2);
    expectConsistent(k);
  });

  // do_huge_pmd_wp_page(): when do_huge_zero_wp_pmd() gets no THP (thp_fault_fallback), the PMD
  // is split (__split_huge_zero_page_pmd(): 512 read-only PTEs of the zero page, thp_split_pmd)
  // and do_wp_page() copies the one page.
  it("splits the huge zero PMD into zero-page PTEs and copies one page when no THP can be had", () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapAnon(p, 2 * MiB);
    run(p.read(addr, 1));
    const held = fragmentAll(k, 8);
    run(p.write(addr + 9 * PAGE, new Uint8Array([3])));
    expect(k.vmstat.get("thp_fault_fallback")).toBe(1);
    expect(k.vmstat.get("thp_split_pmd")).toBe(1);
    const vma = vmaAt(p, addr);
    expect(vma.pmds.size).toBe(0);
    let zeroPtes = 0;
    for (let i = 0; i < 512; i++) {
      const pte = vma.ptes[i]!;
      if (ptePresent(pte) && pteSpecial(pte) && ptePfn(pte) === k.zeroPfn && !pteWrite(pte))
        zeroPtes++;
    }
    expect(zeroPtes).toBe(511);
    const page = folioAt(p, addr + 9 * PAGE);
    expect(page.order).toBe(0);
    expect(page.anon).toBe(true);
    expect(pteWrite(pteAt(p, addr + 9 * PAGE))).toBe(true);
    const expected = new Uint8Array(2 * MiB);
    expected[9 * PAGE] = 3;
    expectBytes(run(p.read(addr, 2 * MiB)), expected);
    for (const f of held) f.release();
    expectConsistent(k);
  });

  // add_folio_for_migration() / do_pages_stat_array() (mm/migrate.c, Linux 6.16): the huge zero
  // folio is is_huge_zero_folio(), -EFAULT in the status; nothing migrates it.
  it("is -EFAULT to move_pages and never moves", async () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapAnon(p, 2 * MiB);
    run(p.read(addr, 1));
    const zero = k.hugeZero.pfn;
    const stat = await runP(p.movePages(0, [addr, addr + 100 * PAGE], null));
    expect([...stat.status]).toEqual([-EFAULT, -EFAULT]);
    const moved = await runP(p.movePages(0, [addr + 7 * PAGE], [1], MPOL_MF_MOVE));
    expect([...moved.status]).toEqual([-EFAULT]);
    expect(k.vmstat.get("pgmigrate_success")).toBe(0);
    expect(k.hugeZero.pfn).toBe(zero);
    expect(ptePfn(vmaAt(p, addr).pmds.get(addr)!)).toBe(zero);
    expectConsistent(k);
  });

  // copy_huge_pmd(): a fork copies the huge zero PMD and takes the child's reference
  // (mm_get_huge_zero_folio()); __mmput() puts each (mm_put_huge_zero_folio()), and the shrinker
  // frees the folio once only its own reference is left (shrink_huge_zero_folio_count/_scan()).
  it("is shared at fork, put at exit, and freed by its shrinker once unused", () => {
    const k = boot({ thp: { enabled: "always" } });
    const free = k.pageAlloc.totalFreePages();
    const p = run(k.createProcess());
    const addr = mapAnon(p, 2 * MiB);
    run(p.read(addr, 1));
    const c = run(p.fork());
    expect(isHugeZeroPmd(k, vmaAt(c, addr).pmds.get(addr)!)).toBe(true);
    expect(c.mm!.hugeZeroPage).toBe(true);
    expect(k.hugeZero.refcount).toBe(3);
    // The child's write gets its own THP; the parent still maps the huge zero folio.
    run(c.write(addr, new Uint8Array([1])));
    expect(isHugeZeroPmd(k, vmaAt(p, addr).pmds.get(addr)!)).toBe(true);
    expect(run(p.read(addr, 1))[0]).toBe(0);
    expectConsistent(k);
    expect(shrinkHugeZeroFolioCount(k)).toBe(0);
    expect(shrinkHugeZeroFolioScan(k)).toBe(0);
    run(c.exit());
    expect(k.hugeZero.refcount).toBe(2);
    run(p.exit());
    expect(k.hugeZero.refcount).toBe(1);
    expectConsistent(k);
    expect(shrinkHugeZeroFolioCount(k)).toBe(512);
    expect(shrinkHugeZeroFolioScan(k)).toBe(512);
    expect(k.hugeZero.pfn).toBe(-1);
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    // The next user allocates it again.
    const q = run(k.createProcess());
    run(q.read(mapAnon(q, 2 * MiB), 1));
    expect(k.vmstat.get("thp_zero_page_alloc")).toBe(2);
    expectConsistent(k);
  });

  // __split_huge_pmd() from vma_adjust_trans_huge() and zap_pmd_range(): a cut or a partial unmap
  // turns the huge zero PMD into zero-page PTEs; a whole one is just cleared (zap_huge_pmd()).
  it("splits into zero-page PTEs on a partial munmap or mprotect, and zaps whole", () => {
    const k = boot({ thp: { enabled: "always", sizes: {} } });
    const p = run(k.createProcess());
    const addr = mapAnon(p, 6 * MiB);
    for (let at = addr; at < addr + 6 * MiB; at += 2 * MiB) run(p.read(at, 1));
    expect(vmaAt(p, addr).pmds.size).toBe(3);
    run(p.munmap(addr + 10 * PAGE, PAGE));
    expect(k.vmstat.get("thp_split_pmd")).toBe(1);
    expect(ptePfn(pteAt(p, addr + 11 * PAGE))).toBe(k.zeroPfn);
    run(p.mprotect(addr + 2 * MiB, 4 * PAGE, PROT_READ));
    expect(k.vmstat.get("thp_split_pmd")).toBe(2);
    expect(ptePfn(pteAt(p, addr + 2 * MiB + 5 * PAGE))).toBe(k.zeroPfn);
    run(p.munmap(addr + 4 * MiB, 2 * MiB));
    expect(k.vmstat.get("thp_split_pmd")).toBe(2);
    expectBytes(
      run(p.read(addr + 11 * PAGE, 4 * MiB - 11 * PAGE)),
      new Uint8Array(4 * MiB - 11 * PAGE),
    );
    expect(k.hugeZero.refcount).toBe(2);
    expectConsistent(k);
  });

  it("gives a MADV_HUGEPAGE range the huge zero folio too", () => {
    const k = boot({ thp: { enabled: "madvise" } });
    const p = run(k.createProcess());
    const addr = mapAnon(p, 2 * MiB);
    run(p.madvise(addr, 2 * MiB, MADV_HUGEPAGE));
    run(p.read(addr, 1));
    expect(isHugeZeroPmd(k, vmaAt(p, addr).pmds.get(addr)!)).toBe(true);
    expectConsistent(k);
  });
});

describe("PMD-mapped shmem THPs", () => {
  // finish_fault() / filemap_map_pages() -> do_set_pmd() (mm/memory.c, Linux 6.16): a PMD-size
  // shmem folio in a suitably aligned VMA is mapped by one huge PMD, writable in a shared writable
  // mapping and dirty after a write; folio_add_file_rmap_pmd() takes the entire mapcount and a
  // reference; thp_file_mapped counts it.
  it("maps a PMD-size shmem folio with one huge PMD (do_set_pmd)", () => {
    const k = shmemKernel();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4 * MiB, { flags: MAP_SHARED | MAP_ANONYMOUS }));
    run(p.write(addr + 5000, new Uint8Array([9])));
    const vma = vmaAt(p, addr);
    expect([...vma.pmds.keys()]).toEqual([addr]);
    expect(vma.ptes.every((pte) => pte === 0)).toBe(true);
    const pmd = vma.pmds.get(addr)!;
    expect(pteWrite(pmd) && pteDirty(pmd)).toBe(true);
    const folio = folioAt(p, addr + 5000);
    expect(folio.pfn).toBe(ptePfn(pmd));
    expect(folio.order).toBe(9);
    expect(folio.anon).toBe(false);
    expect(folio.entireMapcount).toBe(1);
    expect(folio.mapcount).toBe(1);
    // One reference for the PMD and one per page-cache entry (512).
    expect(folio.refcount).toBe(513);
    expect(k.vmstat.get("thp_file_alloc")).toBe(1);
    expect(k.vmstat.get("thp_file_mapped")).toBe(1);
    // Every page of the range is mapped now: no further fault for them.
    const faults = k.vmstat.get("pgfault");
    run(p.write(addr + 511 * PAGE, new Uint8Array([8])));
    expect(k.vmstat.get("pgfault")).toBe(faults);
    expect(k.mem.bytes(folio.pfn + 511)[0]).toBe(8);
    // The second PMD range is a second folio and a second PMD.
    run(p.read(addr + 3 * MiB, 1));
    expect(vma.pmds.size).toBe(2);
    expect(pteWrite(vma.pmds.get(addr + 2 * MiB)!)).toBe(true);
    expect(k.vmstat.get("thp_file_mapped")).toBe(2);
    expectConsistent(k);
  });

  // do_set_pmd() maps with vma->vm_page_prot: read-only in a read-only mapping.
  it("maps read-only where the mapping is read-only", () => {
    const k = shmemKernel();
    const p = run(k.createProcess());
    const addr = run(p.mmap(2 * MiB, { flags: MAP_SHARED | MAP_ANONYMOUS, prot: PROT_READ }));
    expectBytes(run(p.read(addr, PAGE)), new Uint8Array(PAGE));
    const pmd = vmaAt(p, addr).pmds.get(addr)!;
    expect(pteWrite(pmd)).toBe(false);
    expect(pteDirty(pmd)).toBe(false);
    expect(k.vmstat.get("thp_file_mapped")).toBe(1);
    expectConsistent(k);
  });

  // copy_huge_pmd() skips a VMA that is not anonymous ("can be re-fill on fault"): the child
  // gets no PMD and faults the folio in with its own (another entire mapcount).
  // vma_thp_disabled(): with MADV_NOHUGEPAGE do_set_pmd() refuses and the page is PTE-mapped,
  // with the rest of its fault-around window (do_fault_around(), fault_around_bytes 65536: the 16
  // pages 0..15).
  it("is not copied at fork: the child refaults it, by PMD, or by PTE under MADV_NOHUGEPAGE", () => {
    const k = shmemKernel();
    const p = run(k.createProcess());
    const addr = mapShmem(p, 2 * MiB, 1);
    const head = folioAt(p, addr).pfn;
    const c = run(p.fork());
    expect(vmaAt(c, addr).pmds.size).toBe(0);
    expect(k.folio(head).entireMapcount).toBe(1);
    expectConsistent(k);
    expectBytes(
      run(c.read(addr + 7 * PAGE, PAGE)),
      pattern(2 * MiB, 1).subarray(7 * PAGE, 8 * PAGE),
    );
    expect(ptePfn(vmaAt(c, addr).pmds.get(addr)!)).toBe(head);
    expect(k.folio(head).entireMapcount).toBe(2);
    expect(k.vmstat.get("thp_file_mapped")).toBe(2);
    const d = run(p.fork());
    run(d.madvise(addr, 2 * MiB, MADV_NOHUGEPAGE));
    run(d.read(addr + 7 * PAGE, 1));
    expect(vmaAt(d, addr).pmds.size).toBe(0);
    expect(ptePfn(pteAt(d, addr + 7 * PAGE))).toBe(head + 7);
    expect(k.memmap.mapcount[head + 7]).toBe(1);
    for (let i = 0; i < 16; i++) expect(ptePfn(pteAt(d, addr + i * PAGE))).toBe(head + i);
    expect(pteAt(d, addr + 16 * PAGE)).toBe(0);
    // Two entire mappings (p and c) and the 16 PTEs of d.
    expect(k.folio(head).mapcount).toBe(18);
    expect(k.vmstat.get("thp_file_mapped")).toBe(2);
    run(c.exit());
    run(d.exit());
    expect(k.folio(head).entireMapcount).toBe(1);
    expectConsistent(k);
  });

  // __split_huge_pmd_locked() (mm/huge_memory.c, Linux 6.16) for a VMA that is not anonymous:
  // the PMD is zapped (counted as thp_split_pmd); the folio stays whole in the page cache and
  // faults map its pages again by PTE where no PMD fits.
  it("zaps the PMD on a partial munmap; the folio stays whole in the page cache", () => {
    const k = shmemKernel();
    const p = run(k.createProcess());
    const addr = mapShmem(p, 2 * MiB, 2);
    const head = folioAt(p, addr).pfn;
    run(p.munmap(addr + 100 * PAGE, PAGE));
    expect(k.vmstat.get("thp_split_pmd")).toBe(1);
    expect(vmaAt(p, addr).pmds.size).toBe(0);
    const folio = k.folio(head);
    expect(folio.order).toBe(9);
    expect(folio.entireMapcount).toBe(0);
    expect(folio.mapcount).toBe(0);
    expect(folio.refcount).toBe(512);
    expect(vmaAt(p, addr).ptes.every((pte) => pte === 0)).toBe(true);
    expectConsistent(k);
    const expected = pattern(2 * MiB, 2);
    expectBytes(run(p.read(addr, 100 * PAGE)), expected.subarray(0, 100 * PAGE));
    expectBytes(run(p.read(addr + 101 * PAGE, 411 * PAGE)), expected.subarray(101 * PAGE));
    expect(ptePresent(pteAt(p, addr + 3 * PAGE))).toBe(true);
    expect(ptePfn(pteAt(p, addr + 3 * PAGE))).toBe(head + 3);
    expect(k.folio(head).mapcount).toBe(511);
    expect(k.vmstat.get("thp_file_mapped")).toBe(1);
    expectConsistent(k);
  });

  // unmap_folio() (mm/huge_memory.c, Linux 6.16) removes a file folio's mappings with
  // try_to_unmap(), and remap_page() restores anonymous ones only: the split shmem THP's pages are
  // all unmapped, and faults map them back, now order-0 folios, by PTE.
  it("leaves a split shmem THP's pages unmapped, to be faulted back by PTE", () => {
    const k = shmemKernel();
    const p = run(k.createProcess());
    const addr = mapShmem(p, 2 * MiB, 5);
    const head = folioAt(p, addr).pfn;
    // A second mapping by PTE: a child whose VMA has VM_NOHUGEPAGE.
    const c = run(p.fork());
    run(c.madvise(addr, 2 * MiB, MADV_NOHUGEPAGE));
    run(c.read(addr + 7 * PAGE, 1));
    expect(ptePfn(pteAt(c, addr + 7 * PAGE))).toBe(head + 7);
    k.memmap.refcount[head]!++; // the caller's reference
    expect(folioTrylock(k, head)).toBe(true);
    expect(splitLruFolio(k, head, head)).toBe(0);
    folioPut(k, head);
    expect(k.vmstat.get("thp_split_pmd")).toBe(1);
    expect(k.vmstat.get("thp_split_page")).toBe(1);
    const vma = vmaAt(p, addr);
    expect(vma.pmds.size).toBe(0);
    expect(vma.ptes.every((pte) => pte === 0)).toBe(true);
    expect(vmaAt(c, addr).ptes.every((pte) => pte === 0)).toBe(true);
    for (let i = 0; i < 512; i++) expect(k.memmap.mapcount[head + i]).toBe(0);
    expectConsistent(k);
    expectBytes(run(p.read(addr, 2 * MiB)), pattern(2 * MiB, 5));
    expect(run(c.read(addr + 7 * PAGE, 1))[0]).toBe(pattern(2 * MiB, 5)[7 * PAGE]);
    expect(ptePfn(pteAt(p, addr + 3 * PAGE))).toBe(head + 3);
    expect(k.folio(head + 3).order).toBe(0);
    expect(k.vmstat.get("thp_file_mapped")).toBe(1);
    expectConsistent(k);
  });

  // change_huge_pmd() write-protects a whole PMD in place; a cut through it zaps it. A write to
  // the write-protected PMD of a shared mapping: wp_huge_pmd() splits (zaps) it, and
  // do_shared_fault() -> finish_fault() -> do_set_pmd() maps it again, writable and dirty.
  it("write-protects a whole PMD in place, zaps it on a partial mprotect, and refaults it on a write", () => {
    const k = shmemKernel();
    const p = run(k.createProcess());
    const addr = mapShmem(p, 4 * MiB, 3);
    run(p.mprotect(addr, 2 * MiB, PROT_READ));
    expect(k.vmstat.get("thp_split_pmd")).toBe(0);
    expect(pteWrite(vmaAt(p, addr).pmds.get(addr)!)).toBe(false);
    run(p.mprotect(addr, 2 * MiB, PROT_READ | PROT_WRITE));
    run(p.write(addr + 9 * PAGE, new Uint8Array([5])));
    expect(k.vmstat.get("thp_split_pmd")).toBe(1);
    const pmd = vmaAt(p, addr).pmds.get(addr)!;
    expect(pteWrite(pmd) && pteDirty(pmd)).toBe(true);
    expect(k.vmstat.get("thp_file_mapped")).toBe(3);
    run(p.mprotect(addr + 3 * MiB, PAGE, PROT_READ));
    expect(k.vmstat.get("thp_split_pmd")).toBe(2);
    // The mprotect() that restored the first PMD's protection merged the VMAs back into one
    // (vma_modify()), so the cut leaves the first PMD in place and zaps only the second.
    expect(vmaAt(p, addr + 2 * MiB).pmds.has(addr + 2 * MiB)).toBe(false);
    expect(vmaAt(p, addr).pmds.has(addr)).toBe(true);
    const expected = pattern(4 * MiB, 3);
    expected[9 * PAGE] = 5;
    expectBytes(run(p.read(addr, 4 * MiB)), expected);
    expectConsistent(k);
  });
});

// pmd_none() (include/linux/pgtable.h, Linux 6.16): __handle_mm_fault() calls create_huge_pmd()
// (do_huge_pmd_anonymous_page(), the huge zero folio) only where the PMD is none, and
// do_set_pmd() backs off where it is not. A PTE table stays under a PMD once a PTE was installed
// in its range (do_anonymous_page()'s pte_alloc()), whatever is later zapped, until
// free_pgtables() at munmap (free_pgd_range()'s floor and ceiling) or, on x86_64 with
// CONFIG_PT_RECLAIM (default y since 6.14), a MADV_DONTNEED that zaps the whole PMD range
// (zap_pte_range() with reclaim_pt_is_enabled(), try_to_free_pte(), mm/pt_reclaim.c).
describe("PTE tables under a PMD: a huge PMD only where the PMD is none", () => {
  const PMD = 2 * MiB;
  const thpKernel = () => boot({ thp: { enabled: "always" } });
  /** A 2 MiB private anonymous VMA whose first page was faulted as a base page (VM_NOHUGEPAGE), then made THP-eligible. */
  const tableLeft = (k: Kernel) => {
    const p = run(k.createProcess());
    const addr = mapAnon(p, PMD, false);
    run(p.write(addr, new Uint8Array([0xab])));
    expect(folioAt(p, addr).order).toBe(0);
    expect(p.mm!.pteTables.has(addr)).toBe(true);
    run(p.madvise(addr, PMD, MADV_HUGEPAGE));
    return { p, addr };
  };

  it("MADV_DONTNEED of the one page leaves the table: the next faults get a base page and the 4 KiB zero page (thp_fault_alloc unchanged); of the whole range frees it and a THP follows", () => {
    const k = thpKernel();
    const { p, addr } = tableLeft(k);
    run(p.madvise(addr, PAGE, MADV_DONTNEED));
    expect(pteAt(p, addr)).toBe(0);
    expect(p.mm!.pteTables.has(addr)).toBe(true);
    const alloc = k.vmstat.get("thp_fault_alloc");
    const fallback = k.vmstat.get("thp_fault_fallback");
    run(p.write(addr + 10 * PAGE, new Uint8Array([1])));
    expect(folioAt(p, addr + 10 * PAGE).order).toBe(0);
    // A read maps the 4 KiB zero page, not the huge zero folio; the zapped page reads zeros.
    expect([...run(p.read(addr, 2))]).toEqual([0, 0]);
    expect(pteSpecial(pteAt(p, addr))).toBe(true);
    expect(vmaAt(p, addr).pmds.size).toBe(0);
    // create_huge_pmd() was never called: neither counter moves.
    expect(k.vmstat.get("thp_fault_alloc")).toBe(alloc);
    expect(k.vmstat.get("thp_fault_fallback")).toBe(fallback);
    expectConsistent(k);

    // The whole PMD range: zap_pte_range() covers it all and its table is freed.
    run(p.madvise(addr, PMD, MADV_DONTNEED));
    expect(p.mm!.pteTables.has(addr)).toBe(false);
    run(p.write(addr + 10 * PAGE, new Uint8Array([2])));
    expect(folioAt(p, addr).order).toBe(9);
    expect([...vmaAt(p, addr).pmds.keys()]).toEqual([addr]);
    expect(k.vmstat.get("thp_fault_alloc")).toBe(alloc + 1);
    expectConsistent(k);
  });

  it("MADV_DONTNEED of a range that covers a PMD range in part keeps its table (reclaim_pt_is_enabled(): end - start >= PMD_SIZE)", () => {
    const k = thpKernel();
    const { p, addr } = tableLeft(k);
    run(p.madvise(addr, PMD - PAGE, MADV_DONTNEED));
    expect(p.mm!.pteTables.has(addr)).toBe(true);
    run(p.write(addr, new Uint8Array([1])));
    expect(folioAt(p, addr).order).toBe(0);
    expectConsistent(k);
  });

  it("munmap of the faulted page keeps the table the rest of the VMA still uses (free_pgd_range()'s ceiling); munmap and remap of the whole range frees it, and a THP fault succeeds", () => {
    const k = thpKernel();
    const { p, addr } = tableLeft(k);
    // The hole [addr, addr + PAGE): the VMA above starts inside the same PMD range.
    run(p.munmap(addr, PAGE));
    expect(p.mm!.pteTables.has(addr)).toBe(true);
    run(p.mmap(PAGE, { addr, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED }));
    run(p.madvise(addr, PMD, MADV_HUGEPAGE));
    expect(vmaAt(p, addr).end).toBe(addr + PMD); // merged back into one VMA
    expect(vmaAt(p, addr).ptes.every((pte) => pte === 0)).toBe(true);
    const alloc = k.vmstat.get("thp_fault_alloc");
    run(p.write(addr + 100 * PAGE, new Uint8Array([1])));
    expect(folioAt(p, addr + 100 * PAGE).order).toBe(0);
    expect(k.vmstat.get("thp_fault_alloc")).toBe(alloc);
    // No VMA is left in the PMD range: free_pgtables() frees its table.
    run(p.munmap(addr, PMD));
    expect(p.mm!.pteTables.has(addr)).toBe(false);
    const again = run(p.mmap(PMD, { addr, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED }));
    expect(again).toBe(addr);
    run(p.write(addr + 100 * PAGE, new Uint8Array([2])));
    expect(folioAt(p, addr).order).toBe(9);
    expect(k.vmstat.get("thp_fault_alloc")).toBe(alloc + 1);
    expectConsistent(k);
  });

  it("munmap of a VMA whose PMD range the VMA below shares keeps the table (free_pgd_range()'s floor), freed with the last VMA there", () => {
    const k = thpKernel();
    const p = run(k.createProcess());
    const addr = mapAnon(p, PMD, false);
    // Two VMAs in one PMD range: the lower half read-only.
    run(p.mprotect(addr, MiB, PROT_READ));
    run(p.write(addr + MiB, new Uint8Array([1])));
    expect(p.mm!.pteTables.has(addr)).toBe(true);
    run(p.munmap(addr + MiB, MiB));
    expect(p.mm!.pteTables.has(addr)).toBe(true);
    run(p.munmap(addr, MiB));
    expect(p.mm!.pteTables.has(addr)).toBe(false);
    expectConsistent(k);
  });

  it("fork copies the table of a range whose PTEs were all zapped (copy_pte_range()): the child's fault there gets a base page", () => {
    const k = thpKernel();
    const { p, addr } = tableLeft(k);
    run(p.madvise(addr, PAGE, MADV_DONTNEED));
    const child = run(p.fork());
    expect(child.mm!.pteTables.has(addr)).toBe(true);
    run(child.write(addr + 5 * PAGE, new Uint8Array([1])));
    expect(folioAt(child, addr + 5 * PAGE).order).toBe(0);
    expectConsistent(k);
  });

  it("MADV_DONTNEED: EINVAL in an mlocked VMA, ENOMEM for a hole after zapping past it", () => {
    const k = thpKernel();
    const p = run(k.createProcess());
    const addr = mapAnon(p, 4 * PAGE, false);
    run(p.write(addr, new Uint8Array(4 * PAGE).fill(7)));
    run(p.munmap(addr + PAGE, PAGE));
    // madvise_walk_vmas(): the hole is skipped and reported at the end; both sides are zapped.
    expectErrno(p.madvise(addr, 4 * PAGE, MADV_DONTNEED), "ENOMEM");
    expect([...run(p.read(addr, 1)), ...run(p.read(addr + 2 * PAGE, 1))]).toEqual([0, 0]);
    run(p.mlock(addr + 2 * PAGE, 2 * PAGE));
    run(p.write(addr + 2 * PAGE, new Uint8Array([9])));
    // madvise_dontneed_free_valid_vma(): VM_LOCKED is refused.
    expectErrno(p.madvise(addr + 2 * PAGE, PAGE, MADV_DONTNEED), "EINVAL");
    expect([...run(p.read(addr + 2 * PAGE, 1))]).toEqual([9]);
    expectErrno(p.madvise(addr + 1, PAGE, MADV_DONTNEED), "EINVAL");
    expectConsistent(k);
  });
});

// The per-size gauge nr_anon (mm/huge_memory.c, Linux 6.12 and later): folio_add_new_anon_rmap()
// adds one for a new anonymous large folio, __folio_migrate_mapping() one for a migration's
// destination, free_pages_prepare() takes one off when a folio is freed and
// __split_unmapped_folio() when it is split. hugetlb folios are never counted.
describe("hugepages-<size>kB/stats/nr_anon and nr_anon_partially_mapped", () => {
  const nrAnon = (k: Kernel, size: string) =>
    run(k.fs.read(`${THP}/hugepages-${size}/stats/nr_anon`));

  it("counts the anonymous folios of each size that exist: faults add, migration keeps, unmap and split take off", async () => {
    const k = boot({ thp: { enabled: "always", sizes: { "64kB": "always" } } });
    const p = run(k.createProcess());
    const thp = mapPattern(p, 2 * MiB, 1);
    expect(folioAt(p, thp).order).toBe(9);
    expect(nrAnon(k, "2048kB")).toBe("1\n");
    expect(nrAnon(k, "64kB")).toBe("0\n");
    // Order 1 holds no anonymous folio: its directory has no nr_anon (anon_stats_attrs).
    expectErrno(k.fs.read(`${THP}/hugepages-8kB/stats/nr_anon`), "ENOENT");
    const small = run(p.mmap(256 * 1024));
    const mthp = Math.ceil(small / 65536) * 65536;
    run(p.write(mthp, new Uint8Array([7])));
    expect(folioAt(p, mthp).order).toBe(4);
    expect(nrAnon(k, "64kB")).toBe("1\n");
    expectConsistent(k);

    // Migrated: the destination is counted, the freed source taken off.
    await runP(p.movePages(0, [thp, mthp], [1, 1]));
    expect(k.mem.pfnToNid(folioAt(p, thp).pfn)).toBe(1);
    expect(nrAnon(k, "2048kB")).toBe("1\n");
    expect(nrAnon(k, "64kB")).toBe("1\n");
    expectConsistent(k);

    // Split (the partly unmapped THP, by the deferred split shrinker): the 2 MiB size loses it.
    run(p.madvise(thp, 4 * PAGE, MADV_DONTNEED));
    // deferred_split_folio(folio, true): marked partially mapped, nr_anon_partially_mapped 1.
    expect(run(k.fs.read(`${THP}/hugepages-2048kB/stats/nr_anon_partially_mapped`))).toBe("1\n");
    expectConsistent(k);
    expect(deferredSplitScan(k, 1, 10)).toBe(1);
    expect(run(k.fs.read(`${THP}/hugepages-2048kB/stats/nr_anon_partially_mapped`))).toBe("0\n");
    expect(folioAt(p, thp + 4 * PAGE).order).toBe(0);
    expect(nrAnon(k, "2048kB")).toBe("0\n");
    // Unmapped and freed.
    run(p.munmap(small, 256 * 1024));
    expect(nrAnon(k, "64kB")).toBe("0\n");
    expectConsistent(k);
  });
});

// Linux 6.12+ ("mm: introduce a pageflag for partially mapped folios", "mm: split underused
// THPs"), as in 6.16: every new anonymous PMD THP goes on the deferred split queue at fault
// (deferred_split_folio(folio, false) from map_anon_folio_pmd()), unmarked and uncounted; the
// shrinker (deferred_split_scan()) splits one that thp_underused() finds to hold more than
// khugepaged/max_ptes_none zero-filled pages (Documentation/admin-guide/mm/transhuge.rst,
// thp_underused_split_page), and drops any other unmarked one from the queue.
describe("the underused-THP split (thp_underused(), max_ptes_none)", () => {
  /** A 4 MiB anonymous mapping of two PMD THPs whose first `filled[i]` pages hold 1s. */
  const twoThps = (k: Kernel, filled: [number, number]) => {
    const p = run(k.createProcess());
    const addr = run(p.mmap(4 * MiB, { prot: PROT_READ | PROT_WRITE }));
    run(p.write(addr, new Uint8Array(filled[0] * PAGE).fill(1)));
    run(p.write(addr + 2 * MiB, new Uint8Array(filled[1] * PAGE).fill(1)));
    const heads = [folioAt(p, addr).pfn, folioAt(p, addr + 2 * MiB).pfn] as const;
    for (const head of heads) expect(k.memmap.folioOrder(head)).toBe(9);
    return { p, addr, heads, nid: k.mem.pfnToNid(heads[0]) };
  };

  it("a THP fault queues the new THP unmarked: no thp_deferred_split_page, no split_deferred; with max_ptes_none at its default 511 the shrinker keeps it whole and drops it from the queue", () => {
    const k = boot({ thp: { enabled: "always" } });
    expect(run(k.fs.read(`${THP}/khugepaged/max_ptes_none`))).toBe("511\n");
    const { heads, nid } = twoThps(k, [1, 1]);
    for (const head of heads) {
      expect(k.deferredSplitQueue.has(head)).toBe(true);
      expect(k.memmap.test(head, PG_partially_mapped)).toBe(false);
    }
    expect(deferredSplitCount(k, nid)).toBe(2);
    expect(k.vmstat.get("thp_deferred_split_page")).toBe(0);
    expect(run(k.fs.read(`${THP}/hugepages-2048kB/stats/split_deferred`))).toBe("0\n");
    // thp_underused() is false at HPAGE_PMD_NR - 1 whatever the pages hold (511 zero-filled
    // here): neither is split, and both leave the queue as used.
    expect(deferredSplitScan(k, nid)).toBe(0);
    for (const head of heads) expect(k.memmap.folioOrder(head)).toBe(9);
    expect(deferredSplitCount(k, nid)).toBe(0);
    expect(k.vmstat.get("thp_underused_split_page")).toBe(0);
    expect(k.vmstat.get("thp_split_page")).toBe(0);
    expectConsistent(k);
  });

  it("with max_ptes_none 409, a THP of 410 zero-filled pages is split (thp_underused_split_page) and its zero-filled pages freed to the shared zero page; one of 409 is used and stays whole", () => {
    const k = boot({ thp: { enabled: "always" } });
    run(k.fs.write(`${THP}/khugepaged/max_ptes_none`, "409"));
    // 103 filled pages reach HPAGE_PMD_NR - max_ptes_none (512 - 409): used. 102 filled leave
    // 410 zero-filled, more than 409: underused.
    const { p, addr, heads, nid } = twoThps(k, [103, 102]);
    const free = k.pageAlloc.nodeFreePages(nid);
    expect(deferredSplitScan(k, nid)).toBe(1);
    expect(k.memmap.folioOrder(heads[0])).toBe(9);
    expect(k.memmap.folioOrder(heads[1])).toBe(0);
    expect(k.vmstat.get("thp_underused_split_page")).toBe(1);
    expect(k.vmstat.get("thp_split_page")).toBe(1);
    expect(k.vmstat.get("thp_deferred_split_page")).toBe(0);
    expect(deferredSplitCount(k, nid)).toBe(0);
    // remap_page() with RMP_USE_SHARED_ZEROPAGE: the 410 zero-filled pages are mapped to the
    // shared zero page and freed.
    expect(k.pageAlloc.nodeFreePages(nid)).toBe(free + 410);
    const zeroPte = pteAt(p, addr + 2 * MiB + 102 * PAGE);
    expect([pteSpecial(zeroPte), ptePfn(zeroPte), pteWrite(zeroPte)]).toEqual([
      true,
      k.zeroPfn,
      false,
    ]);
    expect(ptePfn(pteAt(p, addr + 2 * MiB + 101 * PAGE))).toBe(heads[1] + 101);
    const want = new Uint8Array(103 * PAGE);
    want.fill(1, 0, 102 * PAGE);
    expectBytes(run(p.read(addr + 2 * MiB, 103 * PAGE)), want);
    expectConsistent(k);
  });

  it("a partially mapped THP is marked, counted once, and split by the shrinker whatever max_ptes_none says", () => {
    const k = boot({ thp: { enabled: "always" } });
    const { p, addr, heads, nid } = twoThps(k, [512, 512]);
    run(p.munmap(addr + 100 * PAGE, PAGE));
    expect(k.memmap.test(heads[0], PG_partially_mapped)).toBe(true);
    expect(k.vmstat.get("thp_deferred_split_page")).toBe(1);
    expect(deferredSplitScan(k, nid)).toBe(1);
    expect(k.memmap.folioOrder(heads[0])).toBe(0);
    expect(k.memmap.test(heads[0], PG_partially_mapped)).toBe(false);
    expect(k.vmstat.get("thp_underused_split_page")).toBe(0);
    // The other, fully mapped and full: used, off the queue, whole.
    expect(k.memmap.folioOrder(heads[1])).toBe(9);
    expect(deferredSplitCount(k, nid)).toBe(0);
    expectConsistent(k);
  });

  // max_ptes_none_store() (mm/khugepaged.c, Linux 6.16): kstrtoul() base 10; any error of it,
  // or a value above HPAGE_PMD_NR - 1, is EINVAL; the show is "%u\n".
  it("parses khugepaged/max_ptes_none as the kernel's store does", () => {
    const k = boot();
    const file = `${THP}/khugepaged/max_ptes_none`;
    for (const bad of ["512", "-1", "abc", " 1", "0x1", "18446744073709551616"])
      expectErrno(k.fs.write(file, bad), "EINVAL");
    expect(run(k.fs.read(file))).toBe("511\n");
    run(k.fs.write(file, "0\n"));
    expect(run(k.fs.read(file))).toBe("0\n");
    expect(k.thp.maxPtesNone).toBe(0);
    run(k.fs.write(file, "+511"));
    expect(run(k.fs.read(file))).toBe("511\n");
  });
});
