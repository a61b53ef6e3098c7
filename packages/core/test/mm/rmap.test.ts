import { Effect, Fiber } from "effect";
import { describe, expect, it } from "vitest";
import { TlbFlushBatch } from "../../src/include/tlbflush";
import {
  folioReferenced,
  isMigrationEntry,
  MAP_ANONYMOUS,
  MAP_SHARED,
  PG_dirty,
  PG_hwpoison,
  pteDirty,
  ptePfn,
  pteWrite,
  pteYoung,
} from "../../src/index";
import { copyMcPages, folioMcCopy } from "../../src/mm/copy_mc";
import { folioTrylock, folioUnlock } from "../../src/mm/filemap";
import { splitHugePmd } from "../../src/mm/huge_memory";
import {
  folioMappings,
  removeMigrationPtes,
  TTU_BATCH_FLUSH,
  tryToMigrate,
} from "../../src/mm/rmap";
import {
  boot,
  expectBytes,
  expectChildSignal,
  expectConsistent,
  expectErrno,
  mapPattern,
  pattern,
  pteAt,
  run,
} from "../../src/testing/index";

describe("rmap", () => {
  it("finds every mapping of anonymous folios across fork, and of shared file folios", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4096));
    run(p.write(addr, new Uint8Array([1])));
    const c = run(p.fork());
    const head = ptePfn(pteAt(p, addr));
    expect(folioMappings(k, head).map((m) => [m.vma.mm.id, m.address])).toEqual([
      [p.mm!.id, addr],
      [c.mm!.id, addr],
    ]);
    const s = run(p.mmap(4096, { flags: MAP_SHARED | MAP_ANONYMOUS }));
    run(p.write(s, new Uint8Array([1])));
    const c2 = run(p.fork());
    // vma_needs_copy(): fork copies no PTE of a shared mapping; the child's read maps the page.
    expect(folioMappings(k, ptePfn(pteAt(p, s)))).toHaveLength(1);
    run(c2.read(s, 1));
    expect(folioMappings(k, ptePfn(pteAt(p, s)))).toHaveLength(2);
    run(c2.munmap(s, 4096));
    expect(folioMappings(k, ptePfn(pteAt(p, s)))).toHaveLength(1);
  });

  it("try_to_migrate turns mappings into migration entries; remove_migration_ptes restores them", () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 2 * 2 ** 20, 4);
    const c = run(p.fork());
    const head = ptePfn(pteAt(p, addr));
    const refs = k.memmap.refcount[head]!;
    tryToMigrate(k, head, 0, null);
    expect(k.memmap.folioMapped(head)).toBe(false);
    // One huge PMD in each mm (copy_huge_pmd() at fork), one set_pmd_migration_entry() each.
    expect(k.memmap.refcount[head]).toBe(refs - 2);
    expect(isMigrationEntry(pteAt(p, addr + 4096))).toBe(true);
    expect(isMigrationEntry(pteAt(c, addr))).toBe(true);
    const dst = run(k.allocFolio(1, 9));
    k.mem.copyPages(dst.pfn, head, 512);
    k.memmap.mapping[dst.pfn] = k.memmap.mapping[head]!;
    k.memmap.index[dst.pfn] = k.memmap.index[head]!;
    expect(removeMigrationPtes(k, head, dst.pfn)).toBe(2);
    expect(ptePfn(pteAt(c, addr + 8192))).toBe(dst.pfn + 2);
    expect(run(c.nodeOf(addr))).toBe(1);
    expectBytes(run(p.read(addr, 2 * 2 ** 20)), pattern(2 * 2 ** 20, 4));
  });

  it("batched unmapping leaves stale TLB entries until try_to_unmap_flush", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4096));
    run(p.write(addr, new Uint8Array([1])));
    expect(p.mm!.tlb.size).toBe(1);
    const head = ptePfn(pteAt(p, addr));
    const batch = new TlbFlushBatch();
    tryToMigrate(k, head, TTU_BATCH_FLUSH, batch);
    expect(batch.flushRequired).toBe(true);
    // Until the flush, the stale translation still reaches the old page, as on hardware.
    run(p.write(addr, new Uint8Array([2])));
    expect(k.mem.bytes(head)[0]).toBe(2);
    batch.flush();
    expect(p.mm!.tlb.size).toBe(0);
    expect(batch.flushRequired).toBe(false);
    removeMigrationPtes(k, head, head);
    expect(run(p.read(addr, 1))[0]).toBe(2);
    expectConsistent(k);
  });

  it("an access that meets a migration entry waits until the folio is unlocked", async () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4096));
    run(p.write(addr, new Uint8Array([1])));
    const src = ptePfn(pteAt(p, addr));
    expect(folioTrylock(k, src)).toBe(true);
    expect(folioTrylock(k, src)).toBe(false);
    tryToMigrate(k, src, 0, null);
    const writer = Effect.runFork(p.write(addr, new Uint8Array([7])));
    const reader = Effect.runFork(p.read(addr, 1));
    await Effect.runPromise(Effect.yieldNow);
    expect(k.folioWaiters.waiting(src)).toBe(2);
    const dst = run(k.allocFolio(1, 0));
    k.mem.copyPages(dst.pfn, src, 1);
    k.memmap.mapping[dst.pfn] = k.memmap.mapping[src]!;
    k.memmap.index[dst.pfn] = k.memmap.index[src]!;
    removeMigrationPtes(k, src, dst.pfn);
    folioUnlock(k, src);
    await Effect.runPromise(Fiber.join(writer));
    expect((await Effect.runPromise(Fiber.join(reader)))[0]).toBe(7);
    // The write landed in the new folio, never in the source after its copy.
    expect(dst.bytes()[0]).toBe(7);
    expect(k.mem.bytes(src)[0]).toBe(1);
  });
});

describe("hardware poison", () => {
  it("fails accesses to the poisoned page only, and machine-check copies stop before it", () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 2 * 2 ** 20, 5);
    const head = ptePfn(pteAt(p, addr));
    run(k.injectMemoryError(head + 3));
    expectErrno(k.injectMemoryError(head + 3), "EHWPOISON");
    expectErrno(k.injectMemoryError(k.mem.maxPfn + 1), "ENXIO");
    expect(k.folio(head).hwpoisoned).toBe(true);
    expectBytes(run(p.read(addr, 3 * 4096)), pattern(2 * 2 ** 20, 5).subarray(0, 3 * 4096));
    expectBytes(
      run(p.read(addr + 4 * 4096, 4)),
      pattern(2 * 2 ** 20, 5).subarray(4 * 4096, 4 * 4096 + 4),
    );
    // A load of the poisoned page: the machine check's SIGBUS, BUS_MCEERR_AR, in a child of p.
    expectChildSignal(p, (c) => c.read(addr + 3 * 4096, 1), "SIGBUS", "BUS_MCEERR_AR");
    const dst = run(k.allocFolio(1, 9));
    expect(folioMcCopy(k, dst.pfn, head)).toBe(-133);
    expectBytes(dst.bytes().subarray(0, 3 * 4096), pattern(2 * 2 ** 20, 5).subarray(0, 3 * 4096));
    expect(
      dst
        .bytes()
        .subarray(3 * 4096, 4 * 4096)
        .every((b) => b === 0),
    ).toBe(true);
    expect(copyMcPages(k, dst.pfn, head, 3)).toBe(0);
    expect(copyMcPages(k, dst.pfn, head, 512)).toBe(509 * 4096);
    expect(run(k.fs.read("/proc/meminfo"))).toMatch(/HardwareCorrupted:\s+4 kB/);
  });

  it("keeps a poisoned page out of the allocator when its folio is freed", () => {
    const k = boot();
    const folio = run(k.allocFolio(0, 2));
    const free = k.pageAlloc.nodeFreePages(0);
    run(k.injectMemoryError(folio.pfn + 1));
    k.folioPut(folio);
    expect(k.pageAlloc.nodeFreePages(0)).toBe(free + 3);
    expect(k.pageAlloc.zones[0]!.poisonedPages).toBe(1);
    expect(k.memmap.test(folio.pfn + 1, PG_hwpoison)).toBe(true);
    // unpoison_memory() (Linux 6.16): nobody holds it, so the mark is cleared and it is free
    // again (the order-2 folio went to the buddy allocator whole; put_page_back_buddy()).
    run(k.unpoisonMemory(folio.pfn + 1));
    expect(k.memmap.test(folio.pfn + 1, PG_hwpoison)).toBe(false);
    expect(k.pageAlloc.nodeFreePages(0)).toBe(free + 4);
    expect(k.pageAlloc.zones[0]!.poisonedPages).toBe(0);
    expect(k.numPoisonedPages).toBe(0);
    expectConsistent(k);
  });

  it("unpoisons a page in use by one reference: that reference is taken for the poison's and the page freed (unpoison_memory(), Linux 6.16)", () => {
    const k = boot();
    const folio = run(k.allocFolio(0, 0));
    run(k.injectMemoryError(folio.pfn));
    const free = k.pageAlloc.nodeFreePages(0);
    // get_hwpoison_page(MF_UNPOISON) takes a second reference (1): folio_put(), then
    // TestClearPageHWPoison() and folio_put() again, which frees the page.
    run(k.unpoisonMemory(folio.pfn));
    expect(folio.hwpoisoned).toBe(false);
    expect(k.memmap.refcount[folio.pfn]).toBe(0);
    expect(k.pageAlloc.nodeFreePages(0)).toBe(free + 1);
    expect(k.numPoisonedPages).toBe(0);
    expectConsistent(k);
    expectErrno(k.unpoisonMemory(folio.pfn), "EBUSY");
    // A latent error needs a page in use: a free one would be handed out again.
    expectErrno(k.injectMemoryError(k.pageAlloc.zones[1]!.startPfn + 5000), "EBUSY");
  });
});

// __folio_remove_rmap() (mm/rmap.c, Linux 6.16): try_to_migrate_one() and try_to_unmap_one()
// remove a large folio's PTEs one at a time (folio_remove_rmap_pte()); after the first, a page
// has lost its last mapping while the others are still mapped, so the anonymous folio is
// partially mapped and deferred_split_folio() queues it. A huge PMD goes at once
// (set_pmd_migration_entry() -> folio_remove_rmap_pmd(): every page unmapped, none partially).
describe("try_to_migrate() and the deferred split queue", () => {
  const MiB = 2 ** 20;
  const PAGE = 4096;

  it("queues a PTE-mapped mTHP it unmaps (split_deferred 1); the freed source leaves the queue", async () => {
    const k = boot({ nodes: ["64M", "64M"], thp: { sizes: { "64kB": "always" } } });
    const p = run(k.createProcess({ node: 0 }));
    const addr = mapPattern(p, 2 * MiB, 6);
    const src = k.memmap.folioOf(ptePfn(pteAt(p, addr)));
    expect(k.memmap.folioOrder(src)).toBe(4);
    // One address per folio: move_pages() isolates the whole folio for its first page.
    const { rc, status } = await Effect.runPromise(p.movePages(0, [addr], [1], 0));
    expect(rc).toBe(0);
    expect([...status]).toEqual([1]);
    expect(k.memmap.folioOrder(k.memmap.folioOf(ptePfn(pteAt(p, addr))))).toBe(4);
    expect(k.thp.mthpStat(4, "split_deferred")).toBe(1);
    expect(k.vmstat.get("thp_deferred_split_page")).toBe(0); // PMD size only
    // migrate_folio_move() freed the source: folio_unqueue_deferred_split().
    expect(k.deferredSplitQueue.has(src)).toBe(false);
    expect(k.deferredSplitQueue.size).toBe(0);
    expectBytes(run(p.read(addr, 2 * MiB)), pattern(2 * MiB, 6));
    expectConsistent(k);
  });

  it("returns true for a PTE-mapped large folio, false for a huge PMD or a base page", () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 4 * MiB, 7);
    const pmdMapped = k.memmap.folioOf(ptePfn(pteAt(p, addr)));
    expect(k.memmap.entireMapcount[pmdMapped]).toBe(1);
    expect(tryToMigrate(k, pmdMapped, 0, null)).toBe(false);
    removeMigrationPtes(k, pmdMapped, pmdMapped);
    // mprotect() of half of the second THP splits its PMD: a PTE-mapped THP.
    run(p.mprotect(addr + 2 * MiB, MiB, 1));
    const pteMapped = k.memmap.folioOf(ptePfn(pteAt(p, addr + 2 * MiB)));
    expect(k.memmap.entireMapcount[pteMapped]).toBe(0);
    expect(tryToMigrate(k, pteMapped, 0, null)).toBe(true);
    removeMigrationPtes(k, pteMapped, pteMapped);
    const base = mapPattern(p, PAGE, 1);
    expect(tryToMigrate(k, k.memmap.folioOf(ptePfn(pteAt(p, base))), 0, null)).toBe(false);
    removeMigrationPtes(
      k,
      k.memmap.folioOf(ptePfn(pteAt(p, base))),
      k.memmap.folioOf(ptePfn(pteAt(p, base))),
    );
    expectConsistent(k);
  });

  it("a PMD-mapped THP migrates unqueued; a PTE-mapped one is counted in thp_deferred_split_page", async () => {
    const k = boot({ nodes: ["64M", "64M"], thp: { enabled: "always" } });
    const p = run(k.createProcess({ node: 0 }));
    const addr = mapPattern(p, 4 * MiB, 2);
    await Effect.runPromise(p.movePages(0, [addr], [1], 0));
    expect(k.vmstat.get("thp_migration_success")).toBe(1);
    expect(k.vmstat.get("thp_deferred_split_page")).toBe(0);
    run(p.mprotect(addr + 2 * MiB, MiB, 1));
    expect(k.vmstat.get("thp_split_pmd")).toBe(1);
    await Effect.runPromise(p.movePages(0, [addr + 2 * MiB], [1], 0));
    expect(k.vmstat.get("thp_migration_success")).toBe(2);
    expect(k.vmstat.get("thp_deferred_split_page")).toBe(1);
    expect(k.deferredSplitQueue.size).toBe(0);
    expectBytes(run(p.read(addr, 4 * MiB)), pattern(4 * MiB, 2));
    expectConsistent(k);
  });
});

// Linux 6.16 on x86 (migration_entry_supports_ad()): try_to_migrate_one() (mm/rmap.c) and
// set_pmd_migration_entry() (mm/huge_memory.c) make the migration entry young and dirty when the
// mapping was (make_migration_entry_young(), make_migration_entry_dirty()); remove_migration_pte()
// (mm/migrate.c) and remove_migration_pmd() map the new folio old unless the entry was young, and
// dirty when the entry was and the folio is.
describe("migration entries keep the young and dirty bits", () => {
  const MiB = 2 ** 20;
  const cases = [
    { name: "a base page", bytes: 4096, thp: "never", pmd: false },
    { name: "a PMD-mapped THP", bytes: 2 * MiB, thp: "always", pmd: true },
  ] as const;

  for (const { name, bytes, thp, pmd } of cases) {
    it(`${name} accessed before migration comes back young, dirty and writable; folio_referenced() counts it`, async () => {
      const k = boot({ nodes: ["64M", "64M"], thp: { enabled: thp } });
      const p = run(k.createProcess({ node: 0 }));
      const addr = mapPattern(p, bytes, 3);
      const src = k.memmap.folioOf(ptePfn(pteAt(p, addr)));
      expect(k.memmap.entireMapcount[src]).toBe(pmd ? 1 : 0);
      expect(pteYoung(pteAt(p, addr)) && pteDirty(pteAt(p, addr))).toBe(true);
      const { rc, status } = await Effect.runPromise(p.movePages(0, [addr], [1], 0));
      expect(rc).toBe(0);
      expect([...status]).toEqual([1]);
      const pte = pteAt(p, addr);
      const dst = k.memmap.folioOf(ptePfn(pte));
      expect(dst).not.toBe(src);
      expect(k.memmap.entireMapcount[dst]).toBe(pmd ? 1 : 0);
      expect(pteYoung(pte)).toBe(true);
      expect(pteDirty(pte)).toBe(true);
      expect(pteWrite(pte)).toBe(true);
      // One young mapping (one PTE, or one huge PMD): folio_referenced() finds it and clears it.
      expect(folioReferenced(k, dst)).toBe(1);
      expect(pteYoung(pteAt(p, addr))).toBe(false);
      expectBytes(run(p.read(addr, bytes)), pattern(bytes, 3));
      expectConsistent(k);
    });

    it(`${name} left idle before migration comes back old; folio_referenced() finds nothing`, async () => {
      const k = boot({ nodes: ["64M", "64M"], thp: { enabled: thp } });
      const p = run(k.createProcess({ node: 0 }));
      const addr = mapPattern(p, bytes, 5);
      const src = k.memmap.folioOf(ptePfn(pteAt(p, addr)));
      expect(folioReferenced(k, src)).toBe(1);
      expect(pteYoung(pteAt(p, addr))).toBe(false);
      await Effect.runPromise(p.movePages(0, [addr], [1], 0));
      const pte = pteAt(p, addr);
      expect(k.memmap.folioOf(ptePfn(pte))).not.toBe(src);
      expect(pteYoung(pte)).toBe(false);
      // The dirty bit does not depend on the young one.
      expect(pteDirty(pte)).toBe(true);
      expect(folioReferenced(k, k.memmap.folioOf(ptePfn(pte)))).toBe(0);
      // The next access sets the bit again.
      run(p.read(addr, 1));
      expect(pteYoung(pteAt(p, addr))).toBe(true);
      expectConsistent(k);
    });
  }

  it("try_to_migrate() keeps the bits in the entry and marks the folio dirty; undoing restores them", () => {
    const k = boot({ thp: { enabled: "never" } });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 2 * 4096, 9);
    const young = ptePfn(pteAt(p, addr));
    const old = ptePfn(pteAt(p, addr + 4096));
    expect(folioReferenced(k, old)).toBe(1);
    tryToMigrate(k, young, 0, null);
    tryToMigrate(k, old, 0, null);
    const youngEntry = pteAt(p, addr);
    const oldEntry = pteAt(p, addr + 4096);
    expect(isMigrationEntry(youngEntry) && isMigrationEntry(oldEntry)).toBe(true);
    expect([pteYoung(youngEntry), pteDirty(youngEntry), pteWrite(youngEntry)]).toEqual([
      true,
      true,
      true,
    ]);
    expect([pteYoung(oldEntry), pteDirty(oldEntry), pteWrite(oldEntry)]).toEqual([
      false,
      true,
      true,
    ]);
    expect(k.memmap.test(young, PG_dirty) && k.memmap.test(old, PG_dirty)).toBe(true);
    expect(removeMigrationPtes(k, young, young)).toBe(1);
    expect(removeMigrationPtes(k, old, old)).toBe(1);
    expect([pteYoung(pteAt(p, addr)), pteDirty(pteAt(p, addr))]).toEqual([true, true]);
    expect([pteYoung(pteAt(p, addr + 4096)), pteDirty(pteAt(p, addr + 4096))]).toEqual([
      false,
      true,
    ]);
  });

  it("a dirty entry comes back clean when the folio is no longer dirty (folio_test_dirty())", () => {
    const k = boot({ thp: { enabled: "never" } });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 4096, 2);
    const pfn = ptePfn(pteAt(p, addr));
    tryToMigrate(k, pfn, 0, null);
    expect(pteDirty(pteAt(p, addr))).toBe(true);
    k.memmap.clear(pfn, PG_dirty);
    removeMigrationPtes(k, pfn, pfn);
    expect(pteDirty(pteAt(p, addr))).toBe(false);
    expect(pteYoung(pteAt(p, addr))).toBe(true);
  });

  it("a PMD migration entry split into PTE migration entries passes the bits on (__split_huge_pmd_locked())", () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 2 * MiB, 4);
    const head = ptePfn(pteAt(p, addr));
    tryToMigrate(k, head, 0, null);
    splitHugePmd(k, p.mm!.findVma(addr)!, addr);
    for (const off of [0, 4096, 2 * MiB - 4096]) {
      const entry = pteAt(p, addr + off);
      expect(isMigrationEntry(entry)).toBe(true);
      expect([pteYoung(entry), pteDirty(entry), pteWrite(entry)]).toEqual([true, true, true]);
    }
    expect(removeMigrationPtes(k, head, head)).toBe(512);
    expect(pteYoung(pteAt(p, addr + 4096)) && pteDirty(pteAt(p, addr + 4096))).toBe(true);
    expectBytes(run(p.read(addr, 2 * MiB)), pattern(2 * MiB, 4));
  });
});
