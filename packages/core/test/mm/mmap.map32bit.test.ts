// x86-64's MAP_32BIT as Linux 6.16 places it: arch_get_unmapped_area_topdown()
// (arch/x86/kernel/sys_x86_64.c) goes to the bottom-up arch_get_unmapped_area(), whose
// find_start_end() gives a 64-bit task the window [0x40000000, 0x80000000) (no PF_RANDOMIZE in
// the model, so no random offset); a free hint that ends by 0x80000000 is taken; no room is
// ENOMEM; MAP_FIXED returns the address asked for before any of that.
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import type { Task } from "../../src/include/kernel";
import {
  MAP_32BIT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
} from "../../src/index";
import {
  boot,
  expectBytes,
  expectConsistent,
  expectErrno,
  pattern,
  run,
} from "../../src/testing/index";

const MiB = 2 ** 20;
const GiB = 2 ** 30;
/** find_start_end(): begin and end of a 64-bit task's MAP_32BIT window. */
const BEGIN = 0x4000_0000;
const END = 0x8000_0000;
/** mmap_base() with 4 KiB pages, no randomization and the default 8 MiB stack rlimit. */
const MMAP_BASE = 0x7fff_f7ff_f000;
const ANON32 = MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT;

const layout = (p: Task) => p.mm!.vmas.map((v) => [v.start, v.end]);

describe("mmap(MAP_32BIT): arch_get_unmapped_area() in [1 GiB, 2 GiB) (arch/x86/kernel/sys_x86_64.c, Linux 6.16)", () => {
  it("places two mappings bottom-up from 0x40000000, while a plain mmap() stays top-down", async () => {
    const k = boot();
    const p = run(k.createProcess());
    const a = run(p.mmap(4096, { flags: ANON32 }));
    const b = run(p.mmap(3 * 4096, { flags: ANON32, prot: PROT_READ }));
    expect(a).toBe(BEGIN);
    // Different prot, so no merge: the next lowest free range, just above the first.
    expect(b).toBe(BEGIN + 4096);
    expect(run(p.mmap(4096))).toBe(MMAP_BASE - 4096);
    // The pages are real memory, and migrate as any others.
    run(p.write(a, pattern(4096, 7)));
    const r = await Effect.runPromise(p.movePages(0, [a], [1]));
    expect([...r.status]).toEqual([1]);
    expectBytes(run(p.read(a, 4096)), pattern(4096, 7));
    expectConsistent(k);
  });

  it("fills a hole in the window first (unmapped_area() is the lowest fit)", () => {
    const p = run(boot().createProcess());
    const a = run(p.mmap(4 * 4096, { flags: ANON32 }));
    run(p.munmap(a + 4096, 4096));
    expect(run(p.mmap(4096, { flags: ANON32, prot: PROT_READ }))).toBe(BEGIN + 4096);
  });

  it("ENOMEM for more than the 1 GiB window, and when the window is full, changing nothing", () => {
    const p = run(boot().createProcess());
    const before = layout(p);
    for (const length of [GiB + 4096, 2 * GiB, 2 * GiB + 4096]) {
      const error = expectErrno(p.mmap(length, { flags: ANON32, prot: PROT_READ }), "ENOMEM");
      expect(error.message).toMatch(/MAP_32BIT window 0x40000000-0x80000000/);
    }
    expect(layout(p)).toEqual(before);
    // Exactly 1 GiB fits (read-only, so the overcommit heuristic does not count it), and then
    // nothing more does.
    expect(run(p.mmap(GiB, { flags: ANON32, prot: PROT_READ }))).toBe(BEGIN);
    const full = layout(p);
    expectErrno(p.mmap(4096, { flags: ANON32 }), "ENOMEM");
    expect(layout(p)).toEqual(full);
  });

  it("takes a free hint that ends by 0x80000000, even below 1 GiB, and ignores one that does not", () => {
    const p = run(boot().createProcess());
    expect(run(p.mmap(4096, { addr: 0x1000_0000, flags: ANON32 }))).toBe(0x1000_0000);
    expect(run(p.mmap(4096, { addr: END - 4096, flags: ANON32 }))).toBe(END - 4096);
    // END - 4096 is taken now, and a hint past the window is not used: the lowest free range.
    expect(run(p.mmap(4096, { addr: END - 4096, flags: ANON32, prot: PROT_READ }))).toBe(BEGIN);
    expect(run(p.mmap(4096, { addr: 2 ** 40, flags: ANON32 }))).toBe(BEGIN + 4096);
  });

  it("with MAP_FIXED the address asked for wins", () => {
    const p = run(boot().createProcess());
    const at = 0x7000_0000_0000;
    expect(run(p.mmap(4096, { addr: at, flags: ANON32 | MAP_FIXED }))).toBe(at);
    expect(run(p.mmap(4096, { addr: 0x1000_0000, flags: ANON32 | MAP_FIXED }))).toBe(0x1000_0000);
  });

  it("keeps THP, shmem and hugetlb alignment inside the window", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "2"));
    const p = run(k.createProcess());
    // __thp_get_unmapped_area(): the padded search lands at 0x40000000, already PMD aligned, and
    // MMF_TOPDOWN still holds for the mm, so it returns ret + PMD_SIZE.
    expect(run(p.mmap(2 * MiB, { flags: ANON32, prot: PROT_READ }))).toBe(BEGIN + 2 * MiB);
    // A small mapping takes the lowest range, below it.
    expect(run(p.mmap(4096, { flags: ANON32 }))).toBe(BEGIN);
    // hugetlb: aligned to 2 MiB above what is taken.
    const huge = run(p.mmap(2 * MiB, { flags: ANON32 | MAP_HUGETLB }));
    expect(huge).toBe(BEGIN + 4 * MiB);
    // Shared anonymous memory: shmem_get_unmapped_area() searches the same window.
    const shared = run(p.mmap(4096, { flags: MAP_SHARED | MAP_ANONYMOUS | MAP_32BIT }));
    expect(shared).toBe(BEGIN + 4096);
    expectConsistent(k);
  });
});
