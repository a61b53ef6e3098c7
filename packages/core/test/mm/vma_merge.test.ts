import { describe, expect, it } from "vitest";
import type { Task } from "../../src/include/kernel";
import {
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_NORESERVE,
  MAP_PRIVATE,
  MAP_SHARED,
  MPOL_BIND,
  MPOL_MF_MOVE,
  PROT_READ,
  PROT_WRITE,
  VM_DONTEXPAND,
} from "../../src/index";
import {
  boot,
  expectBytes,
  expectConsistent,
  folioAt,
  mapPattern,
  pattern,
  run,
  runP,
} from "../../src/testing/index";

// VMA merging: vma_modify() -> vma_merge_existing_range() (mm/vma.c, Linux 6.16), as the
// selftests in tools/testing/selftests/mm/merge.c check it through PROCMAP_QUERY. The model's
// listing of a process's VMAs (its /proc/<pid>/maps) is mm.vmas.

const PAGE = 4096;
const MiB = 2 ** 20;
const RW = PROT_READ | PROT_WRITE;
/**
 * merge.c maps its mprotect() cases MAP_NORESERVE "so we don't hit merge failure due to lack of
 * VM_ACCOUNT flag by mistake": an unfaulted anonymous range made read-only loses VM_ACCOUNT
 * (mprotect_fixup()), a faulted one keeps it, and VMAs whose flags differ never merge.
 */
const RW_NORESERVE = { prot: RW, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE };

/** The process's VMAs as [start, end) pairs, offset from `base`, in pages (or other `unit`s). */
const maps = (p: Task, base: number, pages: number, unit = PAGE): [number, number][] =>
  p
    .mm!.vmasIn(base, base + pages * unit)
    .map((v) => [(v.start - base) / unit, (v.end - base) / unit]);

describe("vma_modify() merges a changed range with matching neighbours (mm/vma.c)", () => {
  // merge.c mprotect_unfaulted_left: the unfaulted RO prev takes the faulted range.
  it("mprotect_unfaulted_left: one VMA of 10 pages", () => {
    const k = boot();
    const p = run(k.createProcess());
    const ptr = run(p.mmap(10 * PAGE, RW_NORESERVE));
    run(p.mprotect(ptr, 5 * PAGE, PROT_READ));
    expect(maps(p, ptr, 10)).toEqual([
      [0, 5],
      [5, 10],
    ]);
    run(p.write(ptr + 5 * PAGE, new Uint8Array([0x78])));
    run(p.mprotect(ptr + 5 * PAGE, 5 * PAGE, PROT_READ));
    expect(maps(p, ptr, 10)).toEqual([[0, 10]]);
    const vma = p.mm!.findVma(ptr)!;
    expect(vma.nrPages).toBe(10);
    // dup_anon_vma(): the merged VMA took the faulted one's anon_vma, so rmap still finds the page.
    expect(vma.anonVma).not.toBeNull();
    expect(vma.anonVma!.vmas.has(vma)).toBe(true);
    expect(run(p.read(ptr + 5 * PAGE, 1))[0]).toBe(0x78);
    expectConsistent(k);
  });

  // merge.c mprotect_unfaulted_right: the unfaulted RO next takes the faulted range.
  it("mprotect_unfaulted_right: one VMA of 10 pages", () => {
    const k = boot();
    const p = run(k.createProcess());
    const ptr = run(p.mmap(10 * PAGE, RW_NORESERVE));
    run(p.mprotect(ptr + 5 * PAGE, 5 * PAGE, PROT_READ));
    run(p.write(ptr, new Uint8Array([0x78])));
    run(p.mprotect(ptr, 5 * PAGE, PROT_READ));
    expect(maps(p, ptr, 10)).toEqual([[0, 10]]);
    expect(run(p.read(ptr, 1))[0]).toBe(0x78);
    expectConsistent(k);
  });

  // merge.c mprotect_unfaulted_both, mprotect_faulted_left_unfaulted_right and
  // mprotect_unfaulted_left_faulted_right: prev, middle and next become one VMA of 9 pages.
  it.each([
    [
      "mprotect_unfaulted_both",
      [
        ["ro", 0],
        ["ro", 6],
        ["fault", 3],
      ],
    ],
    [
      "mprotect_faulted_left_unfaulted_right",
      [
        ["ro", 6],
        ["fault", 0],
        ["ro", 0],
      ],
    ],
    [
      "mprotect_unfaulted_left_faulted_right",
      [
        ["ro", 0],
        ["fault", 3],
        ["ro", 6],
      ],
    ],
  ] as const)("%s: one VMA of 9 pages", (_name, steps) => {
    const k = boot();
    const p = run(k.createProcess());
    const ptr = run(p.mmap(9 * PAGE, RW_NORESERVE));
    for (const [step, page] of steps) {
      if (step === "ro") run(p.mprotect(ptr + page * PAGE, 3 * PAGE, PROT_READ));
      else run(p.write(ptr + page * PAGE, new Uint8Array([0x78])));
    }
    expect(maps(p, ptr, 9)).toEqual([
      [0, 3],
      [3, 6],
      [6, 9],
    ]);
    run(p.mprotect(ptr + 3 * PAGE, 3 * PAGE, PROT_READ));
    expect(maps(p, ptr, 9)).toEqual([[0, 9]]);
    const faulted = steps.find(([step]) => step === "fault")![1];
    expect(run(p.read(ptr + faulted * PAGE, 1))[0]).toBe(0x78);
    expectConsistent(k);
  });

  // LTP mprotect: the protection of a split range restored, one VMA as before; the pages keep
  // their bytes, and migration finds every page of the merged VMA through the reverse map.
  it("an mprotect() that restores a split range's protection leaves one VMA; its pages still migrate", async () => {
    const k = boot({ nodes: ["64M", "64M"] });
    const p = run(k.createProcess({ node: 0 }));
    const addr = mapPattern(p, 16 * PAGE, 3);
    const table = p.mm!.findVma(addr)!.ptes.buffer;
    run(p.mprotect(addr + 4 * PAGE, 4 * PAGE, PROT_READ));
    expect(maps(p, addr, 16)).toEqual([
      [0, 4],
      [4, 8],
      [8, 16],
    ]);
    run(p.mprotect(addr + 4 * PAGE, 4 * PAGE, RW));
    expect(maps(p, addr, 16)).toEqual([[0, 16]]);
    // A split keeps halves of one page table, so the merge joins them back into one view.
    const vma = p.mm!.findVma(addr)!;
    expect(vma.ptes.buffer).toBe(table);
    expect(vma.ptes.length).toBe(16);
    expectBytes(run(p.read(addr, 16 * PAGE)), pattern(16 * PAGE, 3));
    await runP(p.mbind(addr, 16 * PAGE, MPOL_BIND, [1], MPOL_MF_MOVE));
    expect(k.vmstat.get("pgmigrate_success")).toBe(16);
    expectBytes(run(p.read(addr, 16 * PAGE)), pattern(16 * PAGE, 3));
    // mbind of the whole VMA gives it the policy without a split: still one VMA.
    expect(maps(p, addr, 16)).toEqual([[0, 16]]);
    expectConsistent(k);
  });

  // mprotect_fixup(): a range whose flags do not change is left alone, so nothing is split.
  it("an mprotect() to the protection a range has already neither splits nor merges", () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 4 * MiB, 5);
    run(p.mprotect(addr + MiB, PAGE, RW));
    expect(p.mm!.vmasIn(addr, addr + 4 * MiB).length).toBe(1);
    expect(k.vmstat.get("thp_split_pmd")).toBe(0);
  });

  // The huge PMDs of both sides move into the merged VMA; the one the split cut stays PTE-mapped.
  it("merged VMAs keep their huge PMDs, and a THP that was split stays PTE-mapped", () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 6 * MiB, 8);
    run(p.madvise(addr + 3 * MiB, MiB, MADV_NOHUGEPAGE));
    expect(k.vmstat.get("thp_split_pmd")).toBe(1);
    expect(p.mm!.vmasIn(addr, addr + 6 * MiB).length).toBe(3);
    run(p.madvise(addr + 3 * MiB, MiB, MADV_HUGEPAGE));
    // VM_HUGEPAGE is a different flag set from the neighbours' (neither bit): no merge yet.
    expect(p.mm!.vmasIn(addr, addr + 6 * MiB).length).toBe(3);
    run(p.madvise(addr, 6 * MiB, MADV_HUGEPAGE));
    const vmas = p.mm!.vmasIn(addr, addr + 6 * MiB);
    expect(vmas.length).toBe(1);
    expect([...vmas[0]!.pmds.keys()].sort((a, b) => a - b)).toEqual([addr, addr + 4 * MiB]);
    expect(folioAt(p, addr + 2 * MiB).order).toBe(9);
    expectBytes(run(p.read(addr, 6 * MiB)), pattern(6 * MiB, 8));
    expectConsistent(k);
  });

  // mlock_fixup() -> vma_modify_flags(): munlock of a locked middle restores one VMA.
  it("munlock of an mlocked range merges it back", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = mapPattern(p, 8 * PAGE, 2);
    run(p.mlock(addr + 2 * PAGE, 2 * PAGE));
    expect(maps(p, addr, 8)).toEqual([
      [0, 2],
      [2, 4],
      [4, 8],
    ]);
    run(p.munlock(addr + 2 * PAGE, 2 * PAGE));
    expect(maps(p, addr, 8)).toEqual([[0, 8]]);
    expectConsistent(k);
  });

  // mbind_range() -> vma_modify_policy(): the policies must be equal (mpol_equal()).
  it("mbind merges ranges with equal policies and keeps different ones apart", async () => {
    const k = boot({ nodes: ["64M", "64M"] });
    const p = run(k.createProcess({ node: 0 }));
    const addr = run(p.mmap(8 * PAGE));
    await runP(p.mbind(addr, 4 * PAGE, MPOL_BIND, [1]));
    expect(maps(p, addr, 8)).toEqual([
      [0, 4],
      [4, 8],
    ]);
    await runP(p.mbind(addr + 4 * PAGE, 2 * PAGE, MPOL_BIND, [0]));
    expect(maps(p, addr, 8)).toEqual([
      [0, 4],
      [4, 6],
      [6, 8],
    ]);
    await runP(p.mbind(addr + 4 * PAGE, 4 * PAGE, MPOL_BIND, [1]));
    expect(maps(p, addr, 8)).toEqual([[0, 8]]);
    run(p.write(addr + 7 * PAGE, new Uint8Array([1])));
    expect(run(p.nodeOf(addr + 7 * PAGE))).toBe(1);
    expectConsistent(k);
  });

  // merge.c forked_source_vma / forked_target_vma: a fork child's faulted VMA (linked to its
  // parent's anon_vma too) does not merge with an unfaulted neighbour, either way round; the
  // parent's own VMAs do (vma_had_uncowed_parents()).
  it("forked_source_vma / forked_target_vma: a fork child's faulted VMA does not merge with an unfaulted one", () => {
    const k = boot();
    const parent = run(k.createProcess());
    const ptr = run(parent.mmap(10 * PAGE, RW_NORESERVE));
    run(parent.mprotect(ptr + 5 * PAGE, 5 * PAGE, PROT_READ));
    run(parent.write(ptr, new Uint8Array([0x78])));
    const child = run(parent.fork());
    for (let i = 0; i < 5; i++) run(child.write(ptr + i * PAGE, new Uint8Array([1])));
    // Source forked: the child's faulted RW range becomes RO next to the unfaulted RO range.
    run(child.mprotect(ptr, 5 * PAGE, PROT_READ));
    expect(maps(child, ptr, 10)).toEqual([
      [0, 5],
      [5, 10],
    ]);
    // Target forked: the unfaulted range becomes RW next to the faulted one, now RW again.
    run(child.mprotect(ptr, 5 * PAGE, RW));
    run(child.mprotect(ptr + 5 * PAGE, 5 * PAGE, RW));
    expect(maps(child, ptr, 10)).toEqual([
      [0, 5],
      [5, 10],
    ]);
    // The parent's VMA has only its own anon_vma: it merges.
    run(parent.mprotect(ptr, 5 * PAGE, PROT_READ));
    expect(maps(parent, ptr, 10)).toEqual([[0, 10]]);
    expect(run(parent.read(ptr, 1))[0]).toBe(0x78);
    expect(run(child.read(ptr, 1))[0]).toBe(1);
    expectConsistent(k);
  });

  // hugetlbfs_file_mmap() (fs/hugetlbfs/inode.c) sets VM_DONTEXPAND on every hugetlb VMA, and
  // vma_merge_existing_range() (mm/vma.c, Linux 6.16) merges nothing whose flags hold any of
  // VM_SPECIAL: not even a merge that would only shrink the VMA. The same steps on anonymous
  // memory merge back to one VMA.
  it("hugetlb VMAs never merge (VM_DONTEXPAND is VM_SPECIAL); anonymous ones merge back to one", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "4"));
    const p = run(k.createProcess());
    const HUGE = 2 * MiB;
    const steps = (flags: number) => {
      const addr = run(p.mmap(4 * HUGE, { flags }));
      const spans = () => maps(p, addr, 4, HUGE);
      const seen: number[][][] = [];
      run(p.mprotect(addr + HUGE, HUGE, PROT_READ));
      seen.push(spans());
      // The first half of [2, 4) takes [1, 2)'s protection.
      run(p.mprotect(addr + 2 * HUGE, HUGE, PROT_READ));
      seen.push(spans());
      // [1, 3) back to its neighbours' protection.
      run(p.mprotect(addr + HUGE, 2 * HUGE, RW));
      seen.push(spans());
      run(p.write(addr + 2 * HUGE, new Uint8Array([9])));
      expect(run(p.read(addr + 2 * HUGE, 1))[0]).toBe(9);
      return { addr, seen };
    };
    const hugetlb = steps(MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB);
    expect(p.mm!.findVma(hugetlb.addr)!.flags & VM_DONTEXPAND).toBe(VM_DONTEXPAND);
    expect(hugetlb.seen).toEqual([
      [
        [0, 1],
        [1, 2],
        [2, 4],
      ],
      [
        [0, 1],
        [1, 2],
        [2, 3],
        [3, 4],
      ],
      [
        [0, 1],
        [1, 2],
        [2, 3],
        [3, 4],
      ],
    ]);
    const anon = steps(MAP_PRIVATE | MAP_ANONYMOUS);
    expect(p.mm!.findVma(anon.addr)!.flags & VM_DONTEXPAND).toBe(0);
    expect(anon.seen).toEqual([
      [
        [0, 1],
        [1, 2],
        [2, 4],
      ],
      [
        [0, 1],
        [1, 3],
        [3, 4],
      ],
      [[0, 4]],
    ]);
    expectConsistent(k);
  });

  // The middle of a hugetlb VMA made read-only and back: three VMAs stay (anonymous memory: one).
  it("hugetlb: mprotect of the middle and back leaves three VMAs", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "3"));
    const p = run(k.createProcess());
    const HUGE = 2 * MiB;
    const addr = run(p.mmap(3 * HUGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
    run(p.mprotect(addr + HUGE, HUGE, PROT_READ));
    run(p.mprotect(addr + HUGE, HUGE, RW));
    expect(maps(p, addr, 3, HUGE)).toEqual([
      [0, 1],
      [1, 2],
      [2, 3],
    ]);
    expectConsistent(k);
  });
});

// A new mapping: get_unmapped_area() places it against its neighbour (vm_unmapped_area() keeps
// no gap but a stack's), and __mmap_region() -> vma_merge_new_range() (mm/vma.c, Linux 6.16)
// extends a neighbour it can merge with (can_vma_merge_after() / can_vma_merge_before()). The
// layout is Linux's default, top-down (arch_get_unmapped_area_topdown()): the second mapping lies
// just below the first.
describe("mmap() merges a new mapping into a matching neighbour (vma_merge_new_range())", () => {
  it("two adjacent anonymous mmaps with the same protection become one VMA", () => {
    const k = boot();
    const p = run(k.createProcess());
    const a = run(p.mmap(5 * PAGE, { prot: RW }));
    const b = run(p.mmap(5 * PAGE, { prot: RW }));
    expect(b).toBe(a - 5 * PAGE);
    expect(maps(p, b, 10)).toEqual([[0, 10]]);
    expect(p.mm!.vmas.length).toBe(1);
    expectConsistent(k);
  });

  // is_mergeable_vma(): the flags differ (VM_WRITE), so the mappings touch but stay two.
  it("a PROT_READ mapping next to a PROT_READ|PROT_WRITE one stays a VMA of its own", () => {
    const k = boot();
    const p = run(k.createProcess());
    const a = run(p.mmap(5 * PAGE, { prot: RW }));
    const b = run(p.mmap(5 * PAGE, { prot: PROT_READ }));
    expect(b).toBe(a - 5 * PAGE);
    expect(maps(p, b, 10)).toEqual([
      [0, 5],
      [5, 10],
    ]);
    // Made the same by mprotect(), the two merge (vma_merge_existing_range()).
    run(p.mprotect(b, 5 * PAGE, RW));
    expect(maps(p, b, 10)).toEqual([[0, 10]]);
    expectConsistent(k);
  });

  // is_mergeable_anon_vma() case 2: the new range has no anon_vma and uses its faulted
  // neighbour's; the reverse map finds pages on both sides and they migrate.
  it("a new mapping extends a faulted neighbour; pages on both sides keep their data and migrate", async () => {
    const k = boot({ nodes: ["64M", "64M"] });
    const p = run(k.createProcess({ node: 0 }));
    const a = mapPattern(p, 4 * PAGE, 3);
    const b = run(p.mmap(4 * PAGE));
    expect(b).toBe(a - 4 * PAGE);
    expect(maps(p, b, 8)).toEqual([[0, 8]]);
    run(p.write(b, pattern(4 * PAGE, 4)));
    const vma = p.mm!.findVma(a)!;
    expect(vma.start).toBe(b);
    expect(vma.anonVma!.vmas.has(vma)).toBe(true);
    const r = await runP(p.movePages(0, [a, b + 3 * PAGE], [1, 1]));
    expect([...r.status]).toEqual([1, 1]);
    expectBytes(run(p.read(a, 4 * PAGE)), pattern(4 * PAGE, 3));
    expectBytes(run(p.read(b, 4 * PAGE)), pattern(4 * PAGE, 4));
    expectConsistent(k);
  });

  // THP: a PMD-aligned 2 MiB mapping (thp_get_unmapped_area_vmflags()) lands just below the
  // previous one and merges; the huge PMD already there stays, and the new half gets its own.
  it("a merged mapping keeps its neighbour's huge PMD and maps its own THP", () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const a = mapPattern(p, 2 * MiB, 5);
    const b = run(p.mmap(2 * MiB));
    expect(b).toBe(a - 2 * MiB);
    run(p.write(b, pattern(2 * MiB, 6)));
    const vmas = p.mm!.vmasIn(b, b + 4 * MiB);
    expect(vmas.length).toBe(1);
    expect([...vmas[0]!.pmds.keys()].sort((x, y) => x - y)).toEqual([b, a]);
    expect(folioAt(p, a).order).toBe(9);
    expect(folioAt(p, b).order).toBe(9);
    expectBytes(run(p.read(a, 2 * MiB)), pattern(2 * MiB, 5));
    expectBytes(run(p.read(b, 2 * MiB)), pattern(2 * MiB, 6));
    expectConsistent(k);
  });

  // Both neighbours at once: their anon_vmas agree (the two halves of one VMA), so the new range
  // joins prev and next is merged in too (can_vma_merge_right() with can_merge_left).
  it("a new mapping that fills a hole between two matching VMAs joins them into one", () => {
    const k = boot();
    const p = run(k.createProcess());
    const a = mapPattern(p, 12 * PAGE, 2);
    run(p.munmap(a + 4 * PAGE, 4 * PAGE));
    expect(maps(p, a, 12)).toEqual([
      [0, 4],
      [8, 12],
    ]);
    // The top-down search takes the highest free range below mmap_base that fits: the hole.
    expect(run(p.mmap(4 * PAGE))).toBe(a + 4 * PAGE);
    expect(maps(p, a, 12)).toEqual([[0, 12]]);
    const data = run(p.read(a, 12 * PAGE));
    expectBytes(data.subarray(0, 4 * PAGE), pattern(12 * PAGE, 2).subarray(0, 4 * PAGE));
    expectBytes(data.subarray(4 * PAGE, 8 * PAGE), new Uint8Array(4 * PAGE));
    expectBytes(data.subarray(8 * PAGE), pattern(12 * PAGE, 2).subarray(8 * PAGE));
    expectConsistent(k);
  });

  // merge.c forked_target_vma for a new range: a fork child's faulted VMA has its parent's
  // anon_vma too (vma_had_uncowed_parents()), so a new mapping next to it does not merge.
  it("a new mapping next to a fork child's faulted VMA stays a VMA of its own", () => {
    const k = boot();
    const parent = run(k.createProcess());
    const a = mapPattern(parent, 4 * PAGE, 1);
    const child = run(parent.fork());
    const b = run(child.mmap(4 * PAGE));
    expect(b).toBe(a - 4 * PAGE);
    expect(maps(child, b, 8)).toEqual([
      [0, 4],
      [4, 8],
    ]);
    // The parent's own faulted VMA has only its own anon_vma: it merges.
    expect(run(parent.mmap(4 * PAGE))).toBe(b);
    expect(maps(parent, b, 8)).toEqual([[0, 8]]);
    expectConsistent(k);
  });

  // is_mergeable_vma(): mpol_equal() against the new range's default (no) policy.
  it("a new mapping next to an mbind()ed VMA stays a VMA of its own", async () => {
    const k = boot({ nodes: ["64M", "64M"] });
    const p = run(k.createProcess({ node: 0 }));
    const a = run(p.mmap(4 * PAGE));
    await runP(p.mbind(a, 4 * PAGE, MPOL_BIND, [1]));
    const b = run(p.mmap(4 * PAGE));
    expect(b).toBe(a - 4 * PAGE);
    expect(maps(p, b, 8)).toEqual([
      [0, 4],
      [4, 8],
    ]);
    expectConsistent(k);
  });

  // Each shared anonymous mapping has its own shmem file (shmem_zero_setup()) and each
  // MAP_HUGETLB mapping its own hugetlbfs file (hugetlb_file_setup()): vm_file differs.
  it("shared anonymous and hugetlb mappings never merge with their neighbours", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "2"));
    const p = run(k.createProcess());
    const shared = { flags: MAP_SHARED | MAP_ANONYMOUS };
    const s1 = run(p.mmap(2 * PAGE, shared));
    const s2 = run(p.mmap(2 * PAGE, shared));
    expect(s2).toBe(s1 - 2 * PAGE);
    expect(maps(p, s2, 4)).toEqual([
      [0, 2],
      [2, 4],
    ]);
    const hugetlb = { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB };
    const h1 = run(p.mmap(2 * MiB, hugetlb));
    const h2 = run(p.mmap(2 * MiB, hugetlb));
    expect(h2).toBe(h1 - 2 * MiB);
    expect(p.mm!.vmasIn(h2, h2 + 4 * MiB).length).toBe(2);
    run(p.write(h2, new Uint8Array([7])));
    run(p.munmap(h1, 2 * MiB));
    expect(run(p.read(h2, 1))[0]).toBe(7);
    expectConsistent(k);
  });

  // can_vma_merge_before(): a file mapping joins the neighbour above it (top-down, the next VMA)
  // on the same file when the file offsets run on (vm_pgoff contiguous); another offset or
  // another file stays apart. Offsets mapped in increasing order do not run on downwards.
  it("file mappings merge only with the same file at the next offset", () => {
    const k = boot();
    const p = run(k.createProcess());
    const f = run(k.createFile("f"));
    const g = run(k.createFile("g"));
    const opts = (file: typeof f, offset: number) => ({
      flags: MAP_SHARED,
      file,
      offset,
      prot: PROT_READ,
    });
    const a = run(p.mmap(2 * PAGE, opts(f, 2 * PAGE)));
    const b = run(p.mmap(2 * PAGE, opts(f, 0)));
    expect(b).toBe(a - 2 * PAGE);
    expect(maps(p, b, 4)).toEqual([[0, 4]]);
    expect(p.mm!.findVma(a)!.pgoff).toBe(0);
    // Offset 8 pages below offset 0: the offsets do not run on.
    run(p.mmap(2 * PAGE, opts(f, 8 * PAGE)));
    // Another file whose offset would run on into offset 8 pages.
    const d = run(p.mmap(2 * PAGE, opts(g, 6 * PAGE)));
    expect(d).toBe(b - 4 * PAGE);
    expect(maps(p, d, 8)).toEqual([
      [0, 2],
      [2, 4],
      [4, 8],
    ]);
    expectConsistent(k);
  });
});
