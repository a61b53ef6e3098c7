// The fork advice of madvise(2) as Linux 6.16 takes it: madvise_vma_behavior() (mm/madvise.c)
// sets or clears VM_DONTCOPY (MADV_DONTFORK, MADV_DOFORK) and VM_WIPEONFORK (MADV_WIPEONFORK,
// private anonymous memory only, and MADV_KEEPONFORK, refused for a VM_DROPPABLE VMA) through
// madvise_update_vma(), and dup_mmap() (mm/mmap.c) leaves a VM_DONTCOPY VMA out of the child and
// copies a VM_WIPEONFORK one empty. The expected values are LTP's:
// testcases/kernel/syscalls/madvise/madvise10.c (a 16 KiB private anonymous mapping of
// i % 3, wiped in the child and the grandchild, kept after MADV_KEEPONFORK, untouched by a zero
// length) and madvise02.c (MADV_WIPEONFORK on a shared file mapping, shared anonymous memory and
// a private file mapping is EINVAL).
import { describe, expect, it } from "vitest";
import type { Task } from "../../src/include/kernel";
import {
  MADV_DOFORK,
  MADV_DONTFORK,
  MADV_KEEPONFORK,
  MADV_WIPEONFORK,
  MAP_ANONYMOUS,
  MAP_DROPPABLE,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
  PTE_WRITE,
  VM_DONTCOPY,
  VM_WIPEONFORK,
} from "../../src/index";
import {
  boot,
  expectBytes,
  expectChildSignal,
  expectConsistent,
  expectErrno,
  folioAt,
  pteAt,
  run,
} from "../../src/testing/index";

const PAGE = 4096;
const MiB = 2 ** 20;
/** madvise10.c's MAP_SIZE. */
const MAP_SIZE = 16 * 1024;
const RW = PROT_READ | PROT_WRITE;

/** madvise10.c's pattern: byte i is i % 3. */
const ltpPattern = (size: number): Uint8Array => Uint8Array.from({ length: size }, (_, i) => i % 3);
const zeroes = (size: number): Uint8Array => new Uint8Array(size);

/** madvise10.c's mem_map(): a private anonymous mapping holding the pattern. */
const memMap = (p: Task, size = MAP_SIZE): number => {
  const addr = run(p.mmap(size, { flags: MAP_PRIVATE | MAP_ANONYMOUS, prot: RW, hugepage: false }));
  run(p.write(addr, ltpPattern(size)));
  return addr;
};

/** The VMAs of `[base, base + pages pages)` as [start, end, flags & mask] in pages from `base`. */
const maps = (p: Task, base: number, pages: number, mask: number): [number, number, number][] =>
  p
    .mm!.vmasIn(base, base + pages * PAGE)
    .map((v) => [(v.start - base) / PAGE, (v.end - base) / PAGE, v.flags & mask]);

describe("madvise(MADV_WIPEONFORK / MADV_KEEPONFORK) (LTP madvise10.c)", () => {
  it("MADV_WIPEONFORK zeroes memory in child; the parent keeps its bytes and its writable pages", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = memMap(p);
    run(p.madvise(addr, MAP_SIZE, MADV_WIPEONFORK));
    expect(p.mm!.findVma(addr)!.flags & VM_WIPEONFORK).toBe(VM_WIPEONFORK);
    const child = run(p.fork());
    const copy = child.mm!.findVma(addr)!;
    // dup_mmap(): the copy keeps the flag, has no anon_vma and no page mapped.
    expect([copy.start, copy.end, copy.flags & VM_WIPEONFORK, copy.anonVma]).toEqual([
      addr,
      addr + MAP_SIZE,
      VM_WIPEONFORK,
      null,
    ]);
    expect(copy.ptes.every((pte) => pte === 0)).toBe(true);
    expectBytes(run(child.read(addr, MAP_SIZE)), zeroes(MAP_SIZE));
    // Nothing was shared copy-on-write: the parent's pages stay its own, mapped once, writable.
    expect(folioAt(p, addr).mapcount).toBe(1);
    expect(pteAt(p, addr) & PTE_WRITE).toBe(PTE_WRITE);
    run(child.write(addr, new Uint8Array(MAP_SIZE).fill(0x42)));
    expectBytes(run(p.read(addr, MAP_SIZE)), ltpPattern(MAP_SIZE));
    expectConsistent(k);
  });

  it("MADV_WIPEONFORK with zero length does nothing: the child sees the pattern", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = memMap(p);
    run(p.madvise(addr, 0, MADV_WIPEONFORK));
    expect(p.mm!.findVma(addr)!.flags & VM_WIPEONFORK).toBe(0);
    const child = run(p.fork());
    expectBytes(run(child.read(addr, MAP_SIZE)), ltpPattern(MAP_SIZE));
    expectConsistent(k);
  });

  it("MADV_WIPEONFORK zeroes memory in grand-child, even after the child wrote it", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = memMap(p);
    run(p.madvise(addr, MAP_SIZE, MADV_WIPEONFORK));
    const child = run(p.fork());
    expectBytes(run(child.read(addr, MAP_SIZE)), zeroes(MAP_SIZE));
    run(child.write(addr, ltpPattern(MAP_SIZE)));
    const grandchild = run(child.fork());
    expect(grandchild.mm!.findVma(addr)!.flags & VM_WIPEONFORK).toBe(VM_WIPEONFORK);
    expectBytes(run(grandchild.read(addr, MAP_SIZE)), zeroes(MAP_SIZE));
    expectBytes(run(child.read(addr, MAP_SIZE)), ltpPattern(MAP_SIZE));
    expectConsistent(k);
  });

  it("MADV_KEEPONFORK will undo MADV_WIPEONFORK: the child gets the pattern", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = memMap(p);
    run(p.madvise(addr, MAP_SIZE, MADV_WIPEONFORK));
    run(p.madvise(addr, MAP_SIZE, MADV_KEEPONFORK));
    expect(p.mm!.findVma(addr)!.flags & VM_WIPEONFORK).toBe(0);
    const child = run(p.fork());
    expectBytes(run(child.read(addr, MAP_SIZE)), ltpPattern(MAP_SIZE));
    // Copied copy-on-write as any private page: mapped by both now.
    expect(folioAt(p, addr).mapcount).toBe(2);
    expectConsistent(k);
  });

  it("splits the VMA at the range's ends and merges it back (madvise_update_vma())", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = memMap(p, 10 * PAGE);
    run(p.madvise(addr + 3 * PAGE, 4 * PAGE, MADV_WIPEONFORK));
    expect(maps(p, addr, 10, VM_WIPEONFORK)).toEqual([
      [0, 3, 0],
      [3, 7, VM_WIPEONFORK],
      [7, 10, 0],
    ]);
    const child = run(p.fork());
    const read = run(child.read(addr, 10 * PAGE));
    const expected = ltpPattern(10 * PAGE);
    expected.fill(0, 3 * PAGE, 7 * PAGE);
    expectBytes(read, expected);
    run(p.madvise(addr, 10 * PAGE, MADV_KEEPONFORK));
    expect(maps(p, addr, 10, VM_WIPEONFORK)).toEqual([[0, 10, 0]]);
    expectBytes(run(p.read(addr, 10 * PAGE)), ltpPattern(10 * PAGE));
    expectConsistent(k);
  });
});

describe("madvise(MADV_WIPEONFORK / MADV_KEEPONFORK): EINVAL (LTP madvise02.c, madvise_vma_behavior())", () => {
  it("EINVAL for a shared file mapping, shared anonymous memory and a private file mapping; nothing changes", () => {
    const k = boot();
    const p = run(k.createProcess());
    const file = run(k.createFile("madvise02"));
    run(file.truncate(4 * PAGE));
    const file1 = run(p.mmap(4 * PAGE, { flags: MAP_SHARED, file, prot: PROT_READ }));
    const sharedAnon = run(p.mmap(4 * PAGE, { flags: MAP_SHARED | MAP_ANONYMOUS, prot: RW }));
    const file3 = run(p.mmap(4 * PAGE, { flags: MAP_PRIVATE, file, prot: RW }));
    for (const addr of [file1, sharedAnon, file3]) {
      const before = maps(p, addr, 4, ~0);
      expectErrno(p.madvise(addr, 4 * PAGE, MADV_WIPEONFORK), "EINVAL");
      expect(maps(p, addr, 4, ~0)).toEqual(before);
      // Part of the VMA: refused before any split.
      expectErrno(p.madvise(addr + PAGE, PAGE, MADV_WIPEONFORK), "EINVAL");
      expect(maps(p, addr, 4, ~0)).toEqual(before);
    }
    expectConsistent(k);
  });

  it("EINVAL for a private anonymous hugetlb mapping (a hugetlbfs file is behind it)", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "1"));
    const p = run(k.createProcess());
    const addr = run(p.mmap(2 * MiB, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
    run(p.write(addr, new Uint8Array([7])));
    expectErrno(p.madvise(addr, 2 * MiB, MADV_WIPEONFORK), "EINVAL");
    expect(p.mm!.findVma(addr)!.flags & VM_WIPEONFORK).toBe(0);
    const child = run(p.fork());
    expect(run(child.read(addr, 1))[0]).toBe(7);
    expectConsistent(k);
  });

  it("a range over a private then a shared VMA changes the first and fails at the second", () => {
    const k = boot();
    const p = run(k.createProcess());
    const base = 0x2000_0000;
    run(p.mmap(4 * PAGE, { addr: base, flags: MAP_PRIVATE | MAP_ANONYMOUS, prot: RW }));
    run(p.mmap(4 * PAGE, { addr: base + 4 * PAGE, flags: MAP_SHARED | MAP_ANONYMOUS, prot: RW }));
    expectErrno(p.madvise(base, 8 * PAGE, MADV_WIPEONFORK), "EINVAL");
    expect(maps(p, base, 8, VM_WIPEONFORK)).toEqual([
      [0, 4, VM_WIPEONFORK],
      [4, 8, 0],
    ]);
  });

  it("MADV_KEEPONFORK is EINVAL for a MAP_DROPPABLE VMA, whose VM_WIPEONFORK stays; MADV_WIPEONFORK is allowed", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4 * PAGE, { flags: MAP_ANONYMOUS | MAP_DROPPABLE, hugepage: false }));
    run(p.write(addr, ltpPattern(4 * PAGE)));
    expectErrno(p.madvise(addr, 4 * PAGE, MADV_KEEPONFORK), "EINVAL");
    expectErrno(p.madvise(addr + PAGE, PAGE, MADV_KEEPONFORK), "EINVAL");
    expect(maps(p, addr, 4, VM_WIPEONFORK)).toEqual([[0, 4, VM_WIPEONFORK]]);
    run(p.madvise(addr, 4 * PAGE, MADV_WIPEONFORK));
    expect(maps(p, addr, 4, VM_WIPEONFORK)).toEqual([[0, 4, VM_WIPEONFORK]]);
    const child = run(p.fork());
    expectBytes(run(child.read(addr, 4 * PAGE)), zeroes(4 * PAGE));
    expectConsistent(k);
  });
});

describe("madvise(MADV_DONTFORK / MADV_DOFORK): VM_DONTCOPY, left out by dup_mmap()", () => {
  it("the child has a hole there: a load is SIGSEGV (SEGV_MAPERR); the parent keeps its pages unshared", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = memMap(p, 4 * PAGE);
    run(p.madvise(addr, 4 * PAGE, MADV_DONTFORK));
    expect(p.mm!.findVma(addr)!.flags & VM_DONTCOPY).toBe(VM_DONTCOPY);
    const child = run(p.fork());
    expect(child.mm!.findVma(addr)).toBeUndefined();
    expect(child.mm!.mapCount).toBe(p.mm!.mapCount - 1);
    expect(folioAt(p, addr).mapcount).toBe(1);
    expect(pteAt(p, addr) & PTE_WRITE).toBe(PTE_WRITE);
    expectChildSignal(p, (c) => c.read(addr, 1), "SIGSEGV", "SEGV_MAPERR");
    expectBytes(run(p.read(addr, 4 * PAGE)), ltpPattern(4 * PAGE));
    // The hole is free in the child: a mapping there succeeds and reads zeroes.
    const again = run(child.mmap(4 * PAGE, { addr, flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    expect(again).toBe(addr);
    expectBytes(run(child.read(addr, 4 * PAGE)), zeroes(4 * PAGE));
    expectConsistent(k);
  });

  it("splits the VMA, and MADV_DOFORK merges it back and lets the next child have the pages", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = memMap(p, 10 * PAGE);
    run(p.madvise(addr + 2 * PAGE, 3 * PAGE, MADV_DONTFORK));
    expect(maps(p, addr, 10, VM_DONTCOPY)).toEqual([
      [0, 2, 0],
      [2, 5, VM_DONTCOPY],
      [5, 10, 0],
    ]);
    const child = run(p.fork());
    expect(maps(child, addr, 10, VM_DONTCOPY)).toEqual([
      [0, 2, 0],
      [5, 10, 0],
    ]);
    expectBytes(run(child.read(addr, 2 * PAGE)), ltpPattern(10 * PAGE).subarray(0, 2 * PAGE));
    expectBytes(
      run(child.read(addr + 5 * PAGE, 5 * PAGE)),
      ltpPattern(10 * PAGE).subarray(5 * PAGE),
    );
    run(p.madvise(addr, 10 * PAGE, MADV_DOFORK));
    expect(maps(p, addr, 10, VM_DONTCOPY)).toEqual([[0, 10, 0]]);
    const second = run(p.fork());
    expectBytes(run(second.read(addr, 10 * PAGE)), ltpPattern(10 * PAGE));
    expectConsistent(k);
  });

  it("a shared anonymous VMA left out: the child never maps its object, which the parent's munmap frees", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4 * PAGE, { flags: MAP_SHARED | MAP_ANONYMOUS, prot: RW }));
    run(p.write(addr, ltpPattern(4 * PAGE)));
    const mapping = p.mm!.findVma(addr)!.mapping!;
    run(p.madvise(addr, 4 * PAGE, MADV_DONTFORK));
    const child = run(p.fork());
    expect(child.mm!.findVma(addr)).toBeUndefined();
    expect([mapping.users, mapping.iMmap.size]).toEqual([1, 1]);
    const free = k.pageAlloc.nodeFreePages(0);
    run(p.munmap(addr, 4 * PAGE));
    expect(k.pageAlloc.nodeFreePages(0)).toBe(free + 4);
    expectConsistent(k);
  });

  it("MADV_DONTFORK wins over VM_WIPEONFORK: a droppable VMA given it is left out", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4 * PAGE, { flags: MAP_ANONYMOUS | MAP_DROPPABLE, hugepage: false }));
    run(p.madvise(addr, 4 * PAGE, MADV_DONTFORK));
    const child = run(p.fork());
    expect(child.mm!.findVma(addr)).toBeUndefined();
    expectConsistent(k);
  });

  it("a hugetlb VMA may be left out; a cut inside a huge page is EINVAL with nothing changed", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "2"));
    const p = run(k.createProcess());
    const addr = run(p.mmap(2 * MiB, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
    run(p.write(addr, new Uint8Array([7])));
    expectErrno(p.madvise(addr, PAGE, MADV_DONTFORK), "EINVAL");
    expect(p.mm!.findVma(addr)!.flags & VM_DONTCOPY).toBe(0);
    run(p.madvise(addr, 2 * MiB, MADV_DONTFORK));
    expectChildSignal(p, (c) => c.read(addr, 1), "SIGSEGV", "SEGV_MAPERR");
    expect(run(p.read(addr, 1))[0]).toBe(7);
    expectConsistent(k);
  });
});
