import { describe, expect, it } from "vitest";
import type { Task } from "../../src/include/kernel";
import {
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MPOL_BIND,
  MPOL_MF_MOVE,
  PROT_READ,
  PROT_WRITE,
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

/** The process's VMAs as [start, end) pairs, offset from `base`, in pages. */
const maps = (p: Task, base: number, pages: number): [number, number][] =>
  p
    .mm!.vmasIn(base, base + pages * PAGE)
    .map((v) => [(v.start - base) / PAGE, (v.end - base) / PAGE]);

describe("vma_modify() merges a changed range with matching neighbours (mm/vma.c)", () => {
  // merge.c mprotect_unfaulted_left: the unfaulted RO prev takes the faulted range.
  it("mprotect_unfaulted_left: one VMA of 10 pages", () => {
    const k = boot();
    const p = run(k.createProcess());
    const ptr = run(p.mmap(10 * PAGE, { prot: RW }));
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
    const ptr = run(p.mmap(10 * PAGE, { prot: RW }));
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
    const ptr = run(p.mmap(9 * PAGE, { prot: RW }));
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
    const ptr = run(parent.mmap(10 * PAGE, { prot: RW }));
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

  // can_merge_remove_vma(): a hugetlb VMA has a close hook (hugetlb_vm_op_close()), so a merge
  // that would delete it is not made; one that only shrinks it is.
  it("hugetlb: a merge that would remove a hugetlb VMA is not made; one that shrinks it is", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "4"));
    const p = run(k.createProcess());
    const HUGE = 2 * MiB;
    const addr = run(p.mmap(4 * HUGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
    const spans = () =>
      p
        .mm!.vmasIn(addr, addr + 4 * HUGE)
        .map((v) => [(v.start - addr) / HUGE, (v.end - addr) / HUGE]);
    run(p.mprotect(addr + HUGE, HUGE, PROT_READ));
    expect(spans()).toEqual([
      [0, 1],
      [1, 2],
      [2, 4],
    ]);
    // The first half of [2, 4) takes prev's protection: prev grows, that VMA shrinks.
    run(p.mprotect(addr + 2 * HUGE, HUGE, PROT_READ));
    expect(spans()).toEqual([
      [0, 1],
      [1, 3],
      [3, 4],
    ]);
    // [1, 3) back to its neighbours' protection: the merge would delete it, so none is made.
    run(p.mprotect(addr + HUGE, 2 * HUGE, RW));
    expect(spans()).toEqual([
      [0, 1],
      [1, 3],
      [3, 4],
    ]);
    run(p.write(addr + 2 * HUGE, new Uint8Array([9])));
    expect(run(p.read(addr + 2 * HUGE, 1))[0]).toBe(9);
    expectConsistent(k);
  });
});
