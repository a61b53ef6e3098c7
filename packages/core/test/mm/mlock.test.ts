// mlock(), munlock(), mprotect() and madvise() over ranges with holes, and mlocking at fault time,
// as Linux 6.16 does them (mm/mlock.c, mm/mprotect.c, mm/madvise.c, mm/rmap.c). The hole cases
// follow LTP's mlock02 and mprotect01 (ENOMEM for a range that is not mapped), with the partial
// changes do_mprotect_pkey(), apply_vma_lock_flags() and madvise_walk_vmas() make before it.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  folioPut,
  folioReferenced,
  LRU_INACTIVE_ANON,
  LRU_INACTIVE_FILE,
  LRU_UNEVICTABLE,
  MADV_DONTNEED,
  MADV_DONTNEED_LOCKED,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_SHARED,
  mlockFolio,
  nrMlock,
  PG_mlocked,
  PG_swapbacked,
  PG_unevictable,
  PROT_READ,
  type Task,
  VM_LOCKED,
  VM_NOHUGEPAGE,
  VM_READ,
  VM_WRITE,
} from "../../src/index";
import {
  boot,
  expectChildSignal,
  expectConsistent,
  expectErrno,
  folioAt,
  pteAt,
  run,
  runP,
} from "../../src/testing/index";

const PAGE = 4096;
/** A free, PMD-aligned hint, so fault-around windows count from a PMD boundary. */
const PMD_ALIGNED_HINT = 0x7fff_0000_0000;

/** Whether the folio `pfn` is on node 0's LRU list `lru`. */
const onList = (task: Task, pfn: number, lru: number): boolean =>
  [...task.kernel.lru.lists[0]![lru]!].includes(pfn);

/** The `[start, end, flags]` of every VMA of `task`. */
const layout = (task: Task) => task.mm!.vmas.map((v) => [v.start, v.end, v.flags]);

// apply_vma_lock_flags() (mm/mlock.c, Linux 6.16) walks the VMAs and locks each one before the
// first hole, then returns -ENOMEM; do_mlock() populates only when that walk succeeded.
describe("mlock() and munlock() of a range with a hole", () => {
  it("lock the VMAs before the hole, mlocking the pages they map, fault nothing in, and return ENOMEM", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4 * PAGE, { hugepage: false }));
    run(p.write(addr, new Uint8Array([1])));
    run(p.munmap(addr + 2 * PAGE, PAGE));
    expectErrno(p.mlock(addr, 4 * PAGE), "ENOMEM");
    expect(p.mm!.findVma(addr)!.flags & VM_LOCKED).toBe(VM_LOCKED);
    expect(p.mm!.findVma(addr + 3 * PAGE)!.flags & VM_LOCKED).toBe(0);
    // mlock_vma_pages_range() mlocked the page that was there; __mm_populate() never ran.
    expect(folioAt(p, addr).mlocked).toBe(true);
    expect(onList(p, folioAt(p, addr).pfn, LRU_UNEVICTABLE)).toBe(true);
    expect(pteAt(p, addr + PAGE)).toBe(0);
    // A range whose start is not mapped changes nothing.
    const before = layout(p);
    expectErrno(p.mlock(addr + 2 * PAGE, 2 * PAGE), "ENOMEM");
    expect(layout(p)).toEqual(before);
    // munlock() walks the same way: the first VMA is unlocked, then ENOMEM at the hole.
    expectErrno(p.munlock(addr, 4 * PAGE), "ENOMEM");
    expect(p.mm!.findVma(addr)!.flags & VM_LOCKED).toBe(0);
    expect(folioAt(p, addr).mlocked).toBe(false);
    expect(onList(p, folioAt(p, addr).pfn, LRU_UNEVICTABLE)).toBe(false);
    expectConsistent(k);
  });

  // madvise_walk_vmas() (mm/madvise.c, Linux 6.16): "If the interval [start,end) covers some
  // unmapped address ranges, just ignore them, but return -ENOMEM at the end."
  it("madvise() goes on past the hole to the VMAs after it, then returns ENOMEM", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4 * PAGE));
    run(p.munmap(addr + PAGE, PAGE));
    expectErrno(p.madvise(addr, 4 * PAGE, MADV_NOHUGEPAGE), "ENOMEM");
    for (const at of [addr, addr + 2 * PAGE])
      expect(p.mm!.findVma(at)!.flags & VM_NOHUGEPAGE).toBe(VM_NOHUGEPAGE);
    // Nothing mapped in the whole range: ENOMEM, nothing to change.
    expectErrno(p.madvise(addr + PAGE, PAGE, MADV_NOHUGEPAGE), "ENOMEM");
    expectConsistent(k);
  });

  // do_mprotect_pkey() (mm/mprotect.c, Linux 6.16): mprotect_fixup() for each VMA in turn, -ENOMEM
  // at the first VMA that does not start where the last one ended.
  it("mprotect() changes the VMAs before the hole and returns ENOMEM; a range starting in a hole changes nothing", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4 * PAGE, { hugepage: false }));
    run(p.write(addr, new Uint8Array(4 * PAGE).fill(7)));
    run(p.munmap(addr + 2 * PAGE, PAGE));
    expectErrno(p.mprotect(addr, 4 * PAGE, PROT_READ), "ENOMEM");
    expect(p.mm!.findVma(addr)!.flags & (VM_READ | VM_WRITE)).toBe(VM_READ);
    expect(p.mm!.findVma(addr + 3 * PAGE)!.flags & (VM_READ | VM_WRITE)).toBe(VM_READ | VM_WRITE);
    // change_protection() write-protected the first VMA; the one past the hole is still writable.
    expectChildSignal(p, (c) => c.write(addr, new Uint8Array([1])), "SIGSEGV", "SEGV_ACCERR");
    run(p.write(addr + 3 * PAGE, new Uint8Array([1])));
    const before = layout(p);
    expectErrno(p.mprotect(addr + 2 * PAGE, 2 * PAGE, PROT_READ), "ENOMEM");
    expect(layout(p)).toEqual(before);
    expectConsistent(k);
  });
});

// __folio_add_file_rmap() → mlock_vma_folio() (mm/rmap.c, mm/internal.h, Linux 6.16): a small
// folio mapped into a VM_LOCKED VMA is mlocked and moved to the unevictable list, however the
// fault found it: read in by ->fault(), or already cached and mapped by fault-around
// (filemap_map_pages() → set_pte_range()). folio_add_lru_vma() → mlock_new_folio() does the same
// for a new anonymous folio.
describe("faults into a VM_LOCKED VMA", () => {
  it("mlock the cached page-cache folios a fault maps, fault-around included", () => {
    const k = boot();
    const file = run(k.createFile("data"));
    const w = run(k.createProcess());
    run(file.truncate(16 * PAGE));
    const wAddr = run(w.mmap(16 * PAGE, { flags: MAP_SHARED, file, addr: PMD_ALIGNED_HINT }));
    run(w.write(wAddr, new Uint8Array(16 * PAGE).fill(5)));
    run(w.munmap(wAddr, 16 * PAGE));
    const cached = file.folioAt(3)!.pfn;
    expect(onList(w, cached, LRU_INACTIVE_FILE)).toBe(true);
    const r = run(k.createProcess());
    const addr = run(r.mmap(16 * PAGE, { flags: MAP_SHARED, file, addr: PMD_ALIGNED_HINT }));
    // A hole at the end: the VMA before it is locked, and nothing is faulted in yet.
    run(r.munmap(addr + 15 * PAGE, PAGE));
    expectErrno(r.mlock(addr, 16 * PAGE), "ENOMEM");
    expect(pteAt(r, addr + 3 * PAGE)).toBe(0);
    expect(run(r.read(addr, 1))[0]).toBe(5);
    // The read mapped pages 0..14 (fault-around, cut at the VMA's end): each is mlocked.
    for (let i = 0; i < 15; i++) {
      const folio = folioAt(r, addr + i * PAGE);
      expect(folio.pfn).toBe(file.folioAt(i)!.pfn);
      expect(folio.mlocked).toBe(true);
      expect(onList(r, folio.pfn, LRU_UNEVICTABLE)).toBe(true);
    }
    // A folio only cached, not mapped into the locked VMA, stays evictable.
    expect(k.memmap.test(file.folioAt(15)!.pfn, PG_mlocked)).toBe(false);
    expectConsistent(k);
  });

  it("mlock a new anonymous folio (mlock_new_folio()), not the zero page", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4 * PAGE, { hugepage: false }));
    run(p.munmap(addr + 3 * PAGE, PAGE));
    expectErrno(p.mlock(addr, 4 * PAGE), "ENOMEM");
    run(p.write(addr, new Uint8Array([1])));
    expect(folioAt(p, addr).mlocked).toBe(true);
    expect(onList(p, folioAt(p, addr).pfn, LRU_UNEVICTABLE)).toBe(true);
    run(p.read(addr + PAGE, 1));
    expect(folioAt(p, addr + PAGE).pfn).toBe(k.zeroPfn);
    expectConsistent(k);
  });

  // Linux 6.16's rmap never mlocks a large folio (mlock_vma_folio() only where
  // !folio_test_large()); mlock() does, for a folio that lies whole in its range and is mapped
  // there (mlock_pte_range(), allow_mlock_munlock(), folio_within_range()).
  it("leave a large shmem folio evictable at the fault; mlock() of its range mlocks it", () => {
    const THP = "/sys/kernel/mm/transparent_hugepage";
    const k = boot();
    run(k.fs.write(`${THP}/hugepages-16kB/shmem_enabled`, "always"));
    const p = run(k.createProcess());
    const addr = run(p.mmap(8 * PAGE, { flags: MAP_SHARED | MAP_ANONYMOUS }));
    // mlock() locks the VMA, then populates it: the faults map two 16 KiB folios, not mlocked.
    run(p.mlock(addr, 8 * PAGE));
    const folio = folioAt(p, addr);
    expect(folio.order).toBe(2);
    expect(folio.mlocked).toBe(false);
    // A second mlock() of a locked VMA has nothing to do (mlock_fixup(): the same flags).
    run(p.mlock(addr, 8 * PAGE));
    expect(folioAt(p, addr).mlocked).toBe(false);
    expect(onList(p, folio.pfn, LRU_UNEVICTABLE)).toBe(false);
    // Reclaim's folio_referenced() restores the missed mlock: the locked VMA maps the folio whole
    // in one page table (folio_within_vma()); the walk stops there with nothing counted.
    expect(folioReferenced(k, folio.pfn)).toBe(0);
    expect(folioAt(p, addr).mlocked).toBe(true);
    expect(onList(p, folio.pfn, LRU_UNEVICTABLE)).toBe(true);
    // munlock() then mlock() of the first folio's range: mlock_vma_pages_range() mlocks it.
    run(p.munlock(addr, 8 * PAGE));
    expect(folioAt(p, addr).mlocked).toBe(false);
    run(p.mlock(addr, 4 * PAGE));
    expect(folioAt(p, addr).mlocked).toBe(true);
    expect(folioAt(p, addr + 4 * PAGE).mlocked).toBe(false);
    // A range that holds only part of a large folio does not mlock it, nor does reclaim: the
    // locked VMA maps two of its four pages; the young bits of all four PTEs are counted.
    run(p.mlock(addr + 4 * PAGE, 2 * PAGE));
    expect(folioAt(p, addr + 4 * PAGE).mlocked).toBe(false);
    expect(folioReferenced(k, folioAt(p, addr + 4 * PAGE).pfn)).toBe(4);
    expect(folioAt(p, addr + 4 * PAGE).mlocked).toBe(false);
    expectConsistent(k);
  });
});

/** The `unevictable_pgs_*` events and `nr_mlock` of `/proc/vmstat`. */
const mlockStats = (task: Task) => {
  const snap = task.kernel.vmstat.snapshot();
  return Object.fromEntries(
    Object.entries(snap).filter(
      ([name]) => name.startsWith("unevictable_pgs_") || name === "nr_mlock",
    ),
  );
};
const stats = (
  culled: number,
  rescued: number,
  mlocked: number,
  munlocked: number,
  cleared: number,
  stranded: number,
  nrMlockPages: number,
) => ({
  nr_mlock: nrMlockPages,
  unevictable_pgs_culled: culled,
  unevictable_pgs_scanned: 0,
  unevictable_pgs_rescued: rescued,
  unevictable_pgs_mlocked: mlocked,
  unevictable_pgs_munlocked: munlocked,
  unevictable_pgs_cleared: cleared,
  unevictable_pgs_stranded: stranded,
});

// mm/mlock.c (Linux 6.16): __mlock_folio() counts one more mlock of a folio on the unevictable
// list in folio->mlock_count; __munlock_folio() takes one off and makes the folio evictable only
// when none is left. mlock_folio() counts unevictable_pgs_mlocked and NR_MLOCK when it sets
// PG_mlocked, __mlock_folio() unevictable_pgs_culled when it moves the folio to the unevictable
// list; __munlock_folio() counts unevictable_pgs_munlocked and unevictable_pgs_rescued.
describe("mlock_count and the unevictable_pgs_* counters", () => {
  it("keep a page mapped by two locked VMAs mlocked until both are munlocked", () => {
    const k = boot();
    const file = run(k.createFile("data"));
    const p = run(k.createProcess());
    run(file.truncate(PAGE));
    const a = run(p.mmap(PAGE, { flags: MAP_SHARED, file }));
    const b = run(p.mmap(PAGE, { flags: MAP_SHARED, file }));
    run(p.write(a, new Uint8Array([9])));
    const pfn = folioAt(p, a).pfn;
    expect(mlockStats(p)).toEqual(stats(0, 0, 0, 0, 0, 0, 0));
    // mlock_vma_pages_range() mlocks the page a maps: PG_mlocked, culled, mlock_count 1.
    run(p.mlock(a, PAGE));
    expect(k.memmap.mlockCount[pfn]).toBe(1);
    expect(mlockStats(p)).toEqual(stats(1, 0, 1, 0, 0, 0, 1));
    // mlock() of b faults the page in: __folio_add_file_rmap() → mlock_vma_folio() counts one more.
    run(p.mlock(b, PAGE));
    expect(folioAt(p, b).pfn).toBe(pfn);
    expect(k.memmap.mlockCount[pfn]).toBe(2);
    expect(mlockStats(p)).toEqual(stats(1, 0, 1, 0, 0, 0, 1));
    // munlock() of a: one mlock left, still mlocked and unevictable.
    run(p.munlock(a, PAGE));
    expect(k.memmap.mlockCount[pfn]).toBe(1);
    expect(folioAt(p, a).mlocked).toBe(true);
    expect(onList(p, pfn, LRU_UNEVICTABLE)).toBe(true);
    expect(mlockStats(p)).toEqual(stats(1, 0, 1, 0, 0, 0, 1));
    // munlock() of b, the last: munlocked and rescued to the inactive file list.
    run(p.munlock(b, PAGE));
    expect(folioAt(p, a).mlocked).toBe(false);
    expect(k.memmap.test(pfn, PG_unevictable)).toBe(false);
    expect(onList(p, pfn, LRU_INACTIVE_FILE)).toBe(true);
    expect(mlockStats(p)).toEqual(stats(1, 1, 1, 1, 0, 0, 0));
    expectConsistent(k);
  });

  // __folio_remove_rmap() → munlock_vma_folio() (mm/rmap.c, mm/internal.h, Linux 6.16).
  it("munlock the page of a locked VMA when it is unmapped, before it is freed", () => {
    const k = boot();
    const file = run(k.createFile("data"));
    const p = run(k.createProcess());
    run(file.truncate(PAGE));
    const shared = run(p.mmap(PAGE, { flags: MAP_SHARED, file }));
    const anon = run(p.mmap(PAGE, { hugepage: false }));
    run(p.mlock(shared, PAGE));
    run(p.mlock(anon, PAGE));
    const cached = folioAt(p, shared).pfn;
    // Both faulted in by mlock(): the page-cache page mlocked through the rmap, the anonymous one
    // by mlock_new_folio(); 8 kB Mlocked.
    expect(mlockStats(p)).toEqual(stats(2, 0, 2, 0, 0, 0, 2));
    // meminfo_proc_show() (fs/proc/meminfo.c): Unevictable (the unevictable LRU lists) just
    // before Mlocked.
    expect(run(k.fs.read("/proc/meminfo"))).toContain(
      "Unevictable:           8 kB\nMlocked:               8 kB\n",
    );
    run(p.munmap(shared, PAGE));
    // The page stays cached, munlocked and evictable.
    expect(k.memmap.test(cached, PG_mlocked)).toBe(false);
    expect(onList(p, cached, LRU_INACTIVE_FILE)).toBe(true);
    expect(mlockStats(p)).toEqual(stats(2, 1, 2, 1, 0, 0, 1));
    // The anonymous page is munlocked by the unmap, so its free clears nothing.
    run(p.munmap(anon, PAGE));
    expect(mlockStats(p)).toEqual(stats(2, 2, 2, 2, 0, 0, 0));
    expect(run(k.fs.read("/proc/meminfo"))).toContain(
      "Unevictable:           0 kB\nMlocked:               0 kB\n",
    );
    expectConsistent(k);
  });

  // madvise_dontneed_free_valid_vma() (mm/madvise.c, Linux 6.16): VM_LOCKED is forbidden for
  // MADV_DONTNEED only; MADV_DONTNEED_LOCKED zaps the pages, __folio_remove_rmap() munlocking
  // them, and the VMA stays locked, so the next fault's page is mlocked (mlock_new_folio()).
  it("MADV_DONTNEED_LOCKED zaps an mlocked VMA's pages, munlocking them; the VMA stays locked", () => {
    const k = boot();
    const p = run(k.createProcess());
    const anon = run(p.mmap(2 * PAGE, { hugepage: false }));
    run(p.write(anon, new Uint8Array([7, 8])));
    run(p.mlock(anon, 2 * PAGE));
    expect(mlockStats(p)).toEqual(stats(2, 0, 2, 0, 0, 0, 2));
    expectErrno(p.madvise(anon, 2 * PAGE, MADV_DONTNEED), "EINVAL");
    expect(mlockStats(p)).toEqual(stats(2, 0, 2, 0, 0, 0, 2));
    // Each page munlocked as it is unmapped (munlocked, rescued), so its free clears nothing.
    run(p.madvise(anon, 2 * PAGE, MADV_DONTNEED_LOCKED));
    expect(mlockStats(p)).toEqual(stats(2, 2, 2, 2, 0, 0, 0));
    expect(pteAt(p, anon)).toBe(0);
    expect(p.mm!.findVma(anon)!.flags & VM_LOCKED).toBe(VM_LOCKED);
    run(p.write(anon, new Uint8Array([1])));
    expect([...run(p.read(anon, 2))]).toEqual([1, 0]);
    expect(folioAt(p, anon).mlocked).toBe(true);
    // The written page is a new mlocked one; the read of the second maps the zero page.
    expect(mlockStats(p)).toEqual(stats(3, 2, 3, 2, 0, 0, 1));
    expectConsistent(k);
  });

  // __page_cache_release() (mm/swap.c, Linux 6.16): a folio freed with PG_mlocked is munlocked
  // there and counted as unevictable_pgs_cleared.
  it("count unevictable_pgs_cleared for a folio freed while mlocked", () => {
    const k = boot();
    const p = run(k.createProcess());
    const pfn = k.pageAlloc.allocPages(0, 0, 0);
    k.memmap.set(pfn, PG_swapbacked);
    k.lru.folioAddLru(pfn);
    mlockFolio(k, pfn);
    expect(onList(p, pfn, LRU_UNEVICTABLE)).toBe(true);
    expect(nrMlock(k)).toBe(1);
    folioPut(k, pfn);
    expect(k.memmap.test(pfn, PG_mlocked | PG_unevictable)).toBe(false);
    expect(mlockStats(p)).toEqual(stats(1, 0, 1, 0, 1, 0, 0));
    expectConsistent(k);
  });

  // migrate_folio_unmap() → try_to_migrate() → munlock_vma_folio() munlocks the isolated old
  // folio, which still has PG_unevictable: unevictable_pgs_stranded. folio_migrate_flags() moves
  // PG_unevictable (not PG_mlocked) to the new folio; folio_add_lru() finds it evictable and
  // rescues it; remove_migration_pte() → mlock_vma_folio() mlocks it again and culls it to the
  // unevictable list (mm/migrate.c, mm/swap.c, mm/mlock.c, Linux 6.16). NR_MLOCK is unchanged.
  it("leave the new folio of a migrated mlocked page mlocked and the old one cleared", async () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(PAGE, { hugepage: false }));
    run(p.mlock(addr, PAGE));
    const old = folioAt(p, addr).pfn;
    expect(mlockStats(p)).toEqual(stats(1, 0, 1, 0, 0, 0, 1));
    const { status } = await runP(p.movePages(0, [addr], [1]));
    expect(status[0]).toBe(1);
    const moved = folioAt(p, addr);
    expect(moved.pfn).not.toBe(old);
    expect(moved.mlocked).toBe(true);
    expect(k.memmap.mlockCount[moved.pfn]).toBe(1);
    expect([...k.lru.lists[1]![LRU_UNEVICTABLE]!]).toContain(moved.pfn);
    expect(k.memmap.test(old, PG_mlocked | PG_unevictable)).toBe(false);
    expect(mlockStats(p)).toEqual(stats(2, 1, 2, 0, 0, 1, 1));
    // munlock() of the only locked VMA then makes the new folio evictable.
    run(p.munlock(addr, PAGE));
    expect([...k.lru.lists[1]![LRU_INACTIVE_ANON]!]).toContain(moved.pfn);
    expect(mlockStats(p)).toEqual(stats(2, 2, 2, 1, 0, 1, 0));
    expectConsistent(k);
  });

  // The general promise of folio->mlock_count (mm/mlock.c, Linux 6.16): a small page-cache folio
  // mapped by several VMAs stays mlocked while any of them is locked, and its count is the number
  // of locked VMAs; NR_MLOCK and the events balance (every mlocked is munlocked, every cull
  // rescued) once all are unlocked.
  it("keep a shared page mlocked exactly while some VMA mapping it is locked", () => {
    const step = fc.record({ vma: fc.nat(3), lock: fc.boolean() });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 16 }), (steps) => {
        const k = boot({ nodes: ["8M"] });
        const file = run(k.createFile("data"));
        const p = run(k.createProcess());
        run(file.truncate(PAGE));
        const addrs = [0, 1, 2, 3].map(() => run(p.mmap(PAGE, { flags: MAP_SHARED, file })));
        run(p.write(addrs[0]!, new Uint8Array([1])));
        for (const a of addrs) run(p.read(a, 1));
        const pfn = folioAt(p, addrs[0]!).pfn;
        const locked = new Set<number>();
        for (const { vma, lock } of [
          ...steps,
          ...[0, 1, 2, 3].map((v) => ({ vma: v, lock: false })),
        ]) {
          if (lock) {
            run(p.mlock(addrs[vma]!, PAGE));
            locked.add(vma);
          } else {
            run(p.munlock(addrs[vma]!, PAGE));
            locked.delete(vma);
          }
          expect(k.memmap.test(pfn, PG_mlocked)).toBe(locked.size > 0);
          expect(onList(p, pfn, LRU_UNEVICTABLE)).toBe(locked.size > 0);
          if (locked.size > 0) expect(k.memmap.mlockCount[pfn]).toBe(locked.size);
          expect(nrMlock(k)).toBe(locked.size > 0 ? 1 : 0);
        }
        const s = mlockStats(p);
        expect(s.unevictable_pgs_mlocked).toBe(s.unevictable_pgs_munlocked);
        expect(s.unevictable_pgs_culled).toBe(s.unevictable_pgs_rescued);
        expect(s.unevictable_pgs_stranded).toBe(0);
        expectConsistent(k);
      }),
      { numRuns: 40 },
    );
    // 40 boots and up to 20 mlock steps each: seconds on a loaded 2-vCPU machine.
  }, 30_000);
});
