// mlock(), munlock(), mprotect() and madvise() over ranges with holes, and mlocking at fault time,
// as Linux 6.16 does them (mm/mlock.c, mm/mprotect.c, mm/madvise.c, mm/rmap.c). The hole cases
// follow LTP's mlock02 and mprotect01 (ENOMEM for a range that is not mapped), with the partial
// changes do_mprotect_pkey(), apply_vma_lock_flags() and madvise_walk_vmas() make before it.
import { describe, expect, it } from "vitest";
import {
  folioReferenced,
  LRU_INACTIVE_FILE,
  LRU_UNEVICTABLE,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_SHARED,
  PG_mlocked,
  PROT_READ,
  type Task,
  VM_LOCKED,
  VM_NOHUGEPAGE,
  VM_READ,
  VM_WRITE,
} from "../../src/index";
import { boot, expectConsistent, expectErrno, folioAt, pteAt, run } from "../../src/testing/index";

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
    expectErrno(p.write(addr, new Uint8Array([1])), "EFAULT");
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
