// The user address space has the kernel's limits: TASK_SIZE, get_unmapped_area()'s ENOMEM, the
// overcommit heuristic, and what the model's page tables can hold, each checked before anything
// changes.
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import type { Task } from "../../src/include/kernel";
import { TASK_SIZE } from "../../src/include/page_64_types";
import {
  DEFAULT_MAX_MAP_COUNT,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  MPOL_BIND,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  VM_HUGEPAGE,
  VM_LOCKED,
  VM_NOHUGEPAGE,
} from "../../src/index";
import {
  boot,
  expectBytes,
  expectChildSignal,
  expectConsistent,
  expectErrno,
  pattern,
  run,
} from "../../src/testing/index";

const MiB = 2 ** 20;

/**
 * `mmap_base()` (arch/x86/mm/mmap.c) with 4 KiB pages, no randomization and the default 8 MiB
 * stack rlimit: TASK_SIZE less the 128 MiB least gap (8 MiB + the 1 MiB stack_guard_gap is less).
 */
const MMAP_BASE = 0x7fff_f7ff_f000;
/** `TASK_UNMAPPED_BASE` with 4 KiB pages: PAGE_ALIGN(TASK_SIZE / 3). */
const TASK_UNMAPPED_BASE = 0x2aaa_aaaa_b000;

/** What a failed call must leave as it was: the mappings and where the searches start. */
const layout = (p: Task) => ({
  vmas: p.mm!.vmas.map((v) => [v.start, v.end]),
  bases: [p.mm!.mmapBase, p.mm!.mmapLegacyBase],
});

/** Writes a page at `addr`, moves it to node 1, and checks it moved whole. */
const writeAndMove = async (p: Task, addr: number, seed: number) => {
  run(p.write(addr, pattern(4096, seed)));
  const r = await Effect.runPromise(p.movePages(0, [addr], [1]));
  expect([...r.status]).toEqual([1]);
  expectBytes(run(p.read(addr, 4096)), pattern(4096, seed));
};

describe("mmap: TASK_SIZE, get_unmapped_area() and the overcommit heuristic", () => {
  it("ENOMEM for a length that cannot fit below TASK_SIZE, before anything changes", () => {
    const k = boot();
    const p = run(k.createProcess());
    const before = layout(p);
    for (const length of [2 ** 47, TASK_SIZE, 2 ** 52]) {
      expect(expectErrno(p.mmap(length, { prot: PROT_READ }), "ENOMEM").message).toMatch(
        /TASK_SIZE 0x7ffffffff000/,
      );
    }
    expect(layout(p)).toEqual(before);
  });

  it("ENOMEM for a writable private mapping larger than all of memory (the overcommit heuristic)", async () => {
    const k = boot();
    const p = run(k.createProcess());
    const before = layout(p);
    for (let i = 0; i < 4; i++) {
      const error = expectErrno(p.mmap(2 ** 42), "ENOMEM");
      expect(error.message).toMatch(/exceed the 32768 pages of RAM and swap/);
    }
    expectErrno(p.mmap(2 ** 46), "ENOMEM");
    expectErrno(p.mmap(2 ** 40, { flags: MAP_SHARED | MAP_ANONYMOUS, prot: PROT_READ }), "ENOMEM");
    expect(layout(p)).toEqual(before);
    // A mapping of all of memory is still allowed: the heuristic refuses only what can never fit.
    // A multiple of the PMD size, it goes PMD aligned just under mmap_base.
    const all = run(p.mmap(128 * MiB));
    expect(all).toBe(Math.floor((MMAP_BASE - 128 * MiB) / (2 * MiB)) * 2 * MiB);
    await writeAndMove(p, all + 5 * 4096, 1);
    expectConsistent(k);
  });

  it("ENOMEM when the model cannot allocate the page table, and the next mapping goes where it would have", async () => {
    const k = boot();
    const p = run(k.createProcess());
    const before = layout(p);
    // A read-only mapping is not accounted, but 2^34 PTEs are more than a page table can hold.
    const error = expectErrno(p.mmap(2 ** 46, { prot: PROT_READ }), "ENOMEM");
    expect(error.message).toMatch(/no memory for a page table of 17179869184 entries/);
    expect(layout(p)).toEqual(before);
    const addr = run(p.mmap(4096));
    expect(addr).toBe(MMAP_BASE - 4096);
    await writeAndMove(p, addr, 2);
    expectConsistent(k);
  });

  it("maps, finds through the reverse map and migrates pages just below TASK_SIZE", async () => {
    const k = boot();
    const p = run(k.createProcess());
    // The top-down layout puts the first mapping just under mmap_base, 128 MiB below TASK_SIZE.
    const addr = run(p.mmap(4 * MiB, { hugepage: false }));
    expect(addr).toBeGreaterThan(2 ** 46);
    expect(addr + 4 * MiB).toBeLessThanOrEqual(TASK_SIZE);
    await writeAndMove(p, addr + 3 * MiB, 3);
    const child = run(p.fork());
    await writeAndMove(child, addr + 3 * MiB, 4);
    expectBytes(run(p.read(addr + 3 * MiB, 4096)), pattern(4096, 3));
    expectConsistent(k);
  });

  it("lays a process out top-down from mmap_base, as x86-64 does (arch_pick_mmap_layout())", () => {
    const k = boot();
    const p = run(k.createProcess());
    expect([p.mm!.mmapBase, p.mm!.mmapLegacyBase]).toEqual([MMAP_BASE, TASK_UNMAPPED_BASE]);
    // Each mapping goes into the highest free range below mmap_base: against the one above it.
    const a = run(p.mmap(3 * 4096, { prot: PROT_READ }));
    const b = run(p.mmap(5 * 4096));
    expect([a, b]).toEqual([MMAP_BASE - 3 * 4096, MMAP_BASE - 8 * 4096]);
    // A hole is filled first when it fits (the search walks the whole layout every time);
    // a range too big for it goes below everything.
    run(p.munmap(b + 4096, 2 * 4096));
    expect(run(p.mmap(3 * 4096, { prot: PROT_READ }))).toBe(b - 3 * 4096);
    expect(run(p.mmap(2 * 4096, { prot: PROT_READ }))).toBe(b + 4096);
    // A free hint is taken, page aligned down (round_hint_to_min(), then PAGE_MASK); one below
    // mmap_min_addr is raised to it; a taken one is not used.
    expect(run(p.mmap(4096, { addr: 0x1234_5678_9abc }))).toBe(0x1234_5678_9000);
    expect(run(p.mmap(4096, { addr: 4096 }))).toBe(0x1_0000);
    expect(run(p.mmap(4096, { addr: a }))).toBe(b - 4 * 4096);
    // A fork child has its parent's layout (dup_mmap() copies the mm).
    const child = run(p.fork());
    expect([child.mm!.mmapBase, child.mm!.mmapLegacyBase]).toEqual([MMAP_BASE, TASK_UNMAPPED_BASE]);
    expectConsistent(k);
  });

  it("mmap_base and TASK_UNMAPPED_BASE follow the page size (PAGE_ALIGN)", () => {
    for (const [pageSize, base, legacy] of [
      [16384, 0x7fff_f800_0000, 0x2aaa_aaaa_c000],
      [65536, 0x7fff_f800_0000, 0x2aaa_aaab_0000],
    ] as const) {
      const p = run(boot({ pageSize }).createProcess());
      expect([p.mm!.mmapBase, p.mm!.mmapLegacyBase]).toEqual([base, legacy]);
    }
  });

  it("falls back to the bottom-up search from TASK_UNMAPPED_BASE when nothing fits below mmap_base; ENOMEM when neither fits", () => {
    const k = boot();
    const p = run(k.createProcess());
    const mm = p.mm!;
    // A process whose room below mmap_base is 3 MiB above mmap_min_addr (as if its stack rlimit
    // left no more).
    mm.mmapBase = 0x1_0000 + 3 * MiB;
    const first = run(p.mmap(3 * MiB));
    expect(first).toBe(0x1_0000);
    // arch_get_unmapped_area_topdown() falls back to the bottom-up layout rather than fail: the
    // lowest free range from TASK_UNMAPPED_BASE up.
    const second = run(p.mmap(3 * MiB));
    expect(second).toBe(TASK_UNMAPPED_BASE);
    expect(run(p.mmap(4096))).toBe(TASK_UNMAPPED_BASE + 3 * MiB);
    const before = layout(p);
    const tooBig = TASK_SIZE - TASK_UNMAPPED_BASE;
    expect(expectErrno(p.mmap(tooBig, { prot: PROT_READ }), "ENOMEM").message).toMatch(
      /no free range/,
    );
    expect(layout(p)).toEqual(before);
    // The range freed below mmap_base is found again by the top-down search.
    run(p.munmap(first, 3 * MiB));
    expect(run(p.mmap(3 * MiB))).toBe(first);
    expectConsistent(k);
  });

  it("aligns to the PMD an anonymous private mapping whose length is a multiple of it, and no other (__get_unmapped_area(), Linux 6.16)", () => {
    const k = boot();
    const p = run(k.createProcess());
    const pmdDown = (addr: number) => Math.floor(addr / (2 * MiB)) * 2 * MiB;
    // thp_get_unmapped_area_vmflags(): the highest PMD-aligned place under mmap_base.
    const two = run(p.mmap(2 * MiB));
    expect(two).toBe(pmdDown(MMAP_BASE - 2 * MiB));
    expect(two).toBe(0x7fff_f7c0_0000);
    // Not a multiple of the PMD size (IS_ALIGNED(len, PMD_SIZE) fails): just below, unaligned.
    const three = run(p.mmap(3 * MiB, { prot: PROT_READ }));
    expect(three).toBe(two - 3 * MiB);
    expect(three % (2 * MiB)).not.toBe(0);
    // A file of the model's filesystem (no get_unmapped_area of its own): no alignment.
    const file = run(k.createFile("f"));
    run(file.truncate(2 * MiB));
    const f = run(p.mmap(2 * MiB, { flags: MAP_SHARED, file, prot: PROT_READ }));
    expect(f).toBe(three - 2 * MiB);
    expect(f % (2 * MiB)).not.toBe(0);
    // Shared anonymous memory (shmem_get_unmapped_area()): with shmem_enabled "never" and no
    // shmem mTHP size enabled there is no huge size, so no alignment.
    const shared = { flags: MAP_SHARED | MAP_ANONYMOUS, prot: PROT_READ };
    const s1 = run(p.mmap(2 * MiB, shared));
    expect(s1).toBe(f - 2 * MiB);
    expect(s1 % (2 * MiB)).not.toBe(0);
    // shmem_enabled "always": the PMD order inherits it, so the huge size is the PMD.
    run(k.fs.write("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "always"));
    const s2 = run(p.mmap(2 * MiB, shared));
    expect(s2).toBe(pmdDown(s1 - 2 * MiB));
    // Shorter than the huge size: left as the first search placed it, in the highest free
    // range: the 2 MiB less a page that the aligned `two` left under mmap_base.
    const s3 = run(p.mmap(MiB, shared));
    expect(s3).toBe(MMAP_BASE - MiB);
    // shmem_enabled "never" with hugepages-64kB/shmem_enabled "always": the highest order
    // enabled gives the alignment, 64 KiB.
    run(k.fs.write("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "never"));
    run(k.fs.write("/sys/kernel/mm/transparent_hugepage/hugepages-64kB/shmem_enabled", "always"));
    const s4 = run(p.mmap(MiB + 4096, shared));
    expect(s4 % 65536).toBe(0);
    expect(s4).toBe(Math.floor((s2 - MiB - 4096) / 65536) * 65536);
    const four = run(p.mmap(4 * MiB, { prot: PROT_READ }));
    expect(four).toBe(pmdDown(s4 - 4 * MiB));
    // With a hint there is no alignment: the hint is used when the range there is free.
    const hint = four - 16 * MiB + 4096;
    expect(run(p.mmap(2 * MiB, { addr: hint }))).toBe(hint);
    expectConsistent(k);
  });

  it("EOVERFLOW for a file offset past what a file offset can express", () => {
    const k = boot();
    const p = run(k.createProcess());
    const file = run(k.createFile("f"));
    expectErrno(
      p.mmap(8192, { flags: MAP_SHARED, file, offset: 2 ** 53 - 4096, prot: PROT_READ }),
      "EOVERFLOW",
    );
    expect(p.mm!.vmas).toHaveLength(0);
  });
});

describe("lengths the other calls cannot take", () => {
  it("munmap: EINVAL for a range past TASK_SIZE; nothing is unmapped", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(8192));
    expectErrno(p.munmap(addr, 2 ** 47), "EINVAL");
    expectErrno(p.munmap(TASK_SIZE + 4096, 4096), "EINVAL");
    expectErrno(p.munmap(addr, Number.MAX_SAFE_INTEGER), "EINVAL");
    expect(p.mm!.vmas).toHaveLength(1);
  });

  it("read and write: EFAULT past TASK_SIZE or over a hole, ENOMEM for a buffer the host cannot hold", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(8192));
    expectErrno(p.read(addr, 2 ** 40), "EFAULT");
    expectErrno(p.read(TASK_SIZE - 4096, 8192), "EFAULT");
    expectErrno(p.write(TASK_SIZE - 1, new Uint8Array(2)), "EFAULT");
    expectErrno(p.write(addr, "bytes" as never), "EFAULT");
    expectErrno(p.read(addr, 1.5), "EINVAL");
    // A read-only mapping of 8 GiB can be mapped, but not read into one buffer.
    const big = run(p.mmap(2 ** 33, { prot: PROT_READ }));
    const error = expectErrno(p.read(big, 2 ** 33), "ENOMEM");
    expect(error.message).toMatch(/no memory for the buffer/);
    expect([...run(p.read(big + 2 ** 32, 4))]).toEqual([0, 0, 0, 0]);
    expectConsistent(k);
  });

  it("readInto: the bytes read() returns, in the caller's buffer; EFAULT as read(); SIGSEGV at a hole, the bytes before it read", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4 * 4096));
    const bytes = pattern(4 * 4096, 7);
    run(p.write(addr, bytes));
    const buf = new Uint8Array(3 * 4096 + 10);
    run(p.readInto(addr + 100, buf));
    expectBytes(buf, run(p.read(addr + 100, buf.length)));
    expectBytes(buf, bytes.subarray(100, 100 + buf.length));
    expectErrno(p.readInto(TASK_SIZE - 4096, new Uint8Array(8192)), "EFAULT");
    expectErrno(p.readInto(addr, [1, 2] as never), "EFAULT");
    // A read that reaches the page after the mapping faults there (SEGV_MAPERR), after the loads
    // before it: the child's buffer holds the mapping's last page.
    const into = new Uint8Array(2 * 4096);
    expectChildSignal(p, (c) => c.readInto(addr + 3 * 4096, into), "SIGSEGV", "SEGV_MAPERR");
    expectBytes(into.subarray(0, 4096), bytes.subarray(3 * 4096));
    expect(into.subarray(4096).every((b) => b === 0)).toBe(true);
    expectConsistent(k);
  });

  // apply_vma_lock_flags() and madvise_walk_vmas() change the VMAs they reach before returning
  // -ENOMEM for the rest (Linux 6.16); do_mbind()'s queue_pages_range() checks the whole range
  // first and returns -EFAULT with nothing changed.
  it("mlock, madvise and mbind: ENOMEM or EFAULT for a range reaching past what is mapped; mlock rounds its start down", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4 * 4096, { hugepage: false }));
    const { flags, policy } = p.mm!.vmas[0]!;
    expectErrno(p.mbind(addr, 2 ** 46, MPOL_BIND, [1]), "EFAULT");
    expect(p.mm!.vmas.map((v) => [v.flags, v.policy])).toEqual([[flags, policy]]);
    expectErrno(p.mlock(addr, 2 ** 46), "ENOMEM");
    expectErrno(p.madvise(addr, 2 ** 46, MADV_HUGEPAGE), "ENOMEM");
    // MADV_HUGEPAGE clears the VM_NOHUGEPAGE the mapping had (hugepage_madvise()).
    expect(p.mm!.vmas.map((v) => v.flags)).toEqual([
      ((flags | VM_LOCKED | VM_HUGEPAGE) & ~VM_NOHUGEPAGE) >>> 0,
    ]);
    run(p.munlock(addr, 4 * 4096));
    // do_mlock() takes an unaligned start: the page it is in, and the length grown to match.
    run(p.mlock(addr + 100, 4096));
    expect(p.mm!.vmas.map((v) => v.end - v.start)).toEqual([8192, 8192]);
    run(p.munlock(addr + 100, 4096));
    expectConsistent(k);
  });

  it("move_pages: EFAULT for arrays whose length is not a count, ENOMEM for more entries than a status array holds", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4096));
    run(p.write(addr, new Uint8Array([9])));
    expectErrno(p.movePages(0, { length: -1 }, null), "EFAULT");
    expectErrno(p.movePages(0, { length: 2 ** 60 }, null), "EFAULT");
    expectErrno(p.movePages(0, { length: 2 ** 33 }, null), "ENOMEM");
    // nodes[1] cannot be read: do_pages_move() fails with EFAULT at entry 1, after migrating
    // the run queued before it (out_flush), so the page is on node 1.
    expectErrno(p.movePages(0, [addr, addr], [1]), "EFAULT");
    expect(run(p.nodeOf(addr))).toBe(1);
  });
});

// MAP_FIXED and MAP_FIXED_NOREPLACE (do_mmap(), __get_unmapped_area(), __mmap_region(),
// mm/mmap.c and mm/vma.c, Linux 6.16; LTP mmap17 for MAP_FIXED_NOREPLACE's EEXIST).
describe("mmap: MAP_FIXED, MAP_FIXED_NOREPLACE and the address hint", () => {
  const PAGE = 4096;
  const FIXED = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
  const spans = (p: Task, base: number, pages: number) =>
    p
      .mm!.vmasIn(base, base + pages * PAGE)
      .map((v) => [(v.start - base) / PAGE, (v.end - base) / PAGE]);

  it("MAP_FIXED replaces the middle of a mapping: zeroes there, the rest kept, one VMA again", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(8 * PAGE));
    run(p.write(addr, pattern(8 * PAGE, 3)));
    expect(run(p.mmap(2 * PAGE, { addr: addr + 3 * PAGE, flags: FIXED }))).toBe(addr + 3 * PAGE);
    // The old pages went with the unmap; the new range merged with both halves (vma_merge_new_range()).
    expect(spans(p, addr, 8)).toEqual([[0, 8]]);
    const data = run(p.read(addr, 8 * PAGE));
    const old = pattern(8 * PAGE, 3);
    expectBytes(data.subarray(0, 3 * PAGE), old.subarray(0, 3 * PAGE));
    expectBytes(data.subarray(3 * PAGE, 5 * PAGE), new Uint8Array(2 * PAGE));
    expectBytes(data.subarray(5 * PAGE), old.subarray(5 * PAGE));
    expectConsistent(k);
  });

  it("MAP_FIXED with another protection leaves three VMAs; the read-only middle cannot be written", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(8 * PAGE));
    run(p.mmap(2 * PAGE, { addr: addr + 3 * PAGE, flags: FIXED, prot: PROT_READ }));
    expect(spans(p, addr, 8)).toEqual([
      [0, 3],
      [3, 5],
      [5, 8],
    ]);
    // A store there is SIGSEGV, SEGV_ACCERR (arch/x86/mm/fault.c, bad_area_access_error()).
    expectChildSignal(
      p,
      (c) => c.write(addr + 3 * PAGE, new Uint8Array([1])),
      "SIGSEGV",
      "SEGV_ACCERR",
    );
    expectConsistent(k);
  });

  // __mmap_prepare() (mm/vma.c, Linux 6.16) gathers what a MAP_FIXED mapping replaces, cutting the
  // VMA at the range's start (vms_gather_munmap_vmas()), before the overcommit check; when that
  // refuses, vms_abort_munmap_vmas() reattaches the VMAs as cut, and nothing is unmapped.
  it("a MAP_FIXED mapping the overcommit heuristic refuses leaves the VMA it would replace cut, its pages mapped", () => {
    const k = boot();
    const p = run(k.createProcess());
    // Low enough that 4 TiB more still lies below TASK_SIZE.
    const addr = run(p.mmap(4 * PAGE, { addr: 0x10_0000_0000, flags: FIXED }));
    run(p.write(addr, pattern(4 * PAGE, 6)));
    const e = expectErrno(p.mmap(2 ** 42, { addr: addr + 2 * PAGE, flags: FIXED }), "ENOMEM");
    expect(e.message).toMatch(/RAM and swap/);
    expect(spans(p, addr, 4)).toEqual([
      [0, 2],
      [2, 4],
    ]);
    expectBytes(run(p.read(addr, 4 * PAGE)), pattern(4 * PAGE, 6));
    expectConsistent(k);
  });

  it("MAP_FIXED_NOREPLACE: EEXIST over a mapping, nothing changed; maps a free range", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4 * PAGE));
    const before = layout(p);
    const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE;
    expectErrno(p.mmap(2 * PAGE, { addr: addr + 3 * PAGE, flags }), "EEXIST");
    expect(layout(p)).toEqual(before);
    // Right after the mapping: free, so it is mapped there and merges.
    expect(run(p.mmap(2 * PAGE, { addr: addr + 4 * PAGE, flags }))).toBe(addr + 4 * PAGE);
    expect(spans(p, addr, 6)).toEqual([[0, 6]]);
    expectConsistent(k);
  });

  it("EINVAL for an unaligned MAP_FIXED address, ENOMEM past TASK_SIZE, EPERM below mmap_min_addr without CAP_SYS_RAWIO", () => {
    const k = boot();
    const user = run(k.createProcess({ uid: 1000 }));
    const before = layout(user);
    expectErrno(user.mmap(PAGE, { addr: 0x10_0000_0800, flags: FIXED }), "EINVAL");
    expectErrno(user.mmap(2 * PAGE, { addr: TASK_SIZE - PAGE, flags: FIXED }), "ENOMEM");
    expectErrno(user.mmap(PAGE, { addr: 0x1000, flags: FIXED }), "EPERM");
    expectErrno(user.mmap(PAGE, { addr: -PAGE, flags: FIXED }), "EINVAL");
    expect(layout(user)).toEqual(before);
    // A task with CAP_SYS_RAWIO may map below mmap_min_addr (cap_mmap_addr()).
    const root = run(k.createProcess());
    expect(run(root.mmap(PAGE, { addr: 0x1000, flags: FIXED }))).toBe(0x1000);
    expectConsistent(k);
  });

  it("hugetlb: EINVAL for a MAP_FIXED address off a huge page, or one that would cut a hugetlb VMA", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "2"));
    const p = run(k.createProcess());
    const huge = run(p.mmap(2 * MiB, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
    run(p.write(huge, new Uint8Array([5])));
    const free = () =>
      run(k.fs.read("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages")).trim();
    expect(free()).toBe("1");
    const before = layout(p);
    expectErrno(
      p.mmap(2 * MiB, {
        addr: huge + 2 * MiB + PAGE,
        flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_FIXED,
      }),
      "EINVAL",
    );
    expectErrno(p.mmap(PAGE, { addr: huge + PAGE, flags: FIXED }), "EINVAL");
    expect(layout(p)).toEqual(before);
    expect(run(p.read(huge, 1))[0]).toBe(5);
    // The whole huge page replaced by a small mapping: allowed, and the hugetlb page is freed.
    run(p.mmap(2 * MiB, { addr: huge, flags: FIXED }));
    expect(free()).toBe("2");
    expect(run(p.read(huge, 1))[0]).toBe(0);
    expectConsistent(k);
  });

  // generic_get_unmapped_area(): a hint whose range is free is used as it is; one that is taken
  // is not, and the search places the mapping instead.
  it("a free hint address is used; a taken one is not", () => {
    const k = boot();
    const p = run(k.createProcess());
    const hint = 0x20_0000_0000;
    expect(run(p.mmap(PAGE, { addr: hint }))).toBe(hint);
    const next = run(p.mmap(PAGE, { addr: hint }));
    expect(next).not.toBe(hint);
    expect(p.mm!.findVma(hint)!.nrPages).toBe(1);
    expectConsistent(k);
  });
});

// vm.max_map_count (Linux 6.16): sysctl_max_map_count, DEFAULT_MAX_MAP_COUNT = 65530
// (include/linux/mm.h), /proc/sys/vm/max_map_count (mmap_table[], mm/mmap.c); do_mmap()
// refuses when map_count > the limit (mm/mmap.c), split_vma() and vms_gather_munmap_vmas() when
// map_count >= the limit (mm/vma.c).
describe("mmap: vm.max_map_count", () => {
  const PAGE = 4096;
  const FIXED = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
  const BASE = 0x10_0000_0000;
  const LIMIT = 8;
  /** `n` three-page mappings two pages apart, none touching another: `n` VMAs from BASE. */
  const spread = (p: Task, n: number) => {
    for (let i = 0; i < n; i++) run(p.mmap(3 * PAGE, { addr: BASE + i * 5 * PAGE, flags: FIXED }));
  };
  const limited = () => {
    const k = boot();
    expect(run(k.fs.write("/proc/sys/vm/max_map_count", `${LIMIT}\n`))).toBe(2);
    const p = run(k.createProcess());
    expect(p.mm!.vmas.length).toBe(0);
    return { k, p };
  };
  const flagsOf = (p: Task) => p.mm!.vmas.map((v) => v.flags);

  it("/proc/sys/vm/max_map_count reads 65530 at boot; EINVAL for -1 or a non-number, keeping it", () => {
    const k = boot();
    const file = "/proc/sys/vm/max_map_count";
    expect(run(k.fs.read(file))).toBe("65530\n");
    expect(k.maxMapCount).toBe(65530);
    for (const bad of ["-1", "-1\n", "abc", "2147483648", "8x"])
      expectErrno(k.fs.write(file, bad), "EINVAL");
    expect(run(k.fs.read(file))).toBe("65530\n");
    run(k.fs.write(file, "0"));
    expect(run(k.fs.read(file))).toBe("0\n");
    run(k.fs.write(file, " 8\n"));
    expect(run(k.fs.read(file))).toBe("8\n");
  });

  it("do_mmap(): ENOMEM once map_count > the limit (so LIMIT + 1 VMAs fit), nothing mapped", () => {
    const { k, p } = limited();
    spread(p, LIMIT + 1);
    const before = layout(p);
    // A fresh range, a MAP_FIXED one, and one that would only grow a neighbour: all refused.
    expect(expectErrno(p.mmap(PAGE), "ENOMEM").message).toMatch(
      /9 VMAs, more than max_map_count 8/,
    );
    expectErrno(p.mmap(PAGE, { addr: BASE + 3 * PAGE, flags: FIXED }), "ENOMEM");
    expectErrno(p.mmap(PAGE, { addr: BASE - PAGE, flags: FIXED }), "ENOMEM");
    expect(layout(p)).toEqual(before);
    // Raising the limit through the file lets the next one in.
    run(k.fs.write("/proc/sys/vm/max_map_count", "9"));
    run(p.mmap(PAGE));
    expect(p.mm!.vmas.length).toBe(LIMIT + 2);
    expectConsistent(k);
  });

  it("split_vma(): an mprotect of a VMA's middle at the limit is ENOMEM with nothing changed", () => {
    const { k, p } = limited();
    spread(p, LIMIT);
    run(p.write(BASE + PAGE, pattern(PAGE, 7)));
    const before = layout(p);
    const flags = flagsOf(p);
    const e = expectErrno(p.mprotect(BASE + PAGE, PAGE, PROT_READ), "ENOMEM");
    expect(e.message).toMatch(/8 VMAs, max_map_count is 8/);
    // A cut at one end needs a split too.
    expectErrno(p.mprotect(BASE, PAGE, PROT_READ), "ENOMEM");
    // mlock_fixup() and mbind_range() pass the same ENOMEM on (vma_modify_flags(),
    // vma_modify_policy()); madvise_vma_behavior() turns it into EAGAIN.
    expectErrno(p.mlock(BASE + PAGE, PAGE), "ENOMEM");
    expect(expectErrno(p.mbind(BASE + PAGE, PAGE, MPOL_BIND, [1]), "ENOMEM").message).toMatch(
      /^mbind: split_vma: /,
    );
    expectErrno(p.madvise(BASE + PAGE, PAGE, MADV_NOHUGEPAGE), "EAGAIN");
    expect(layout(p)).toEqual(before);
    expect(flagsOf(p)).toEqual(flags);
    expectBytes(run(p.read(BASE + PAGE, PAGE)), pattern(PAGE, 7));
    // A whole VMA needs no split.
    run(p.mprotect(BASE, 3 * PAGE, PROT_READ));
    expect(p.mm!.vmas.length).toBe(LIMIT);
    expectConsistent(k);
  });

  it("split_vma(): one below the limit, the start split is made and the end split refused", () => {
    // vma_modify() splits at the range's start, then at its end; the first stays on error.
    const { k, p } = limited();
    spread(p, LIMIT - 1);
    const flags = p.mm!.vmas[0]!.flags;
    expectErrno(p.mprotect(BASE + PAGE, PAGE, PROT_READ), "ENOMEM");
    expect(p.mm!.vmas.length).toBe(LIMIT);
    expect(p.mm!.vmas.slice(0, 2).map((v) => [v.start - BASE, v.end - BASE, v.flags])).toEqual([
      [0, PAGE, flags],
      [PAGE, 3 * PAGE, flags],
    ]);
    expectConsistent(k);
  });

  it("vms_gather_munmap_vmas(): munmap of a VMA's middle at the limit is ENOMEM; its ends are not", () => {
    const { k, p } = limited();
    spread(p, LIMIT);
    run(p.write(BASE + PAGE, pattern(PAGE, 3)));
    const before = layout(p);
    expect(expectErrno(p.munmap(BASE + PAGE, PAGE), "ENOMEM").message).toMatch(/^munmap: /);
    // MAP_FIXED over the middle unmaps it first, through the same check.
    expectErrno(p.mmap(PAGE, { addr: BASE + PAGE, flags: FIXED, prot: PROT_READ }), "ENOMEM");
    expect(layout(p)).toEqual(before);
    expectBytes(run(p.read(BASE + PAGE, PAGE)), pattern(PAGE, 3));
    // Cutting off a VMA's first or last page leaves the count as it was: allowed.
    run(p.munmap(BASE, PAGE));
    run(p.munmap(BASE + 7 * PAGE, PAGE));
    expect(p.mm!.vmas.length).toBe(LIMIT);
    expectBytes(run(p.read(BASE + PAGE, PAGE)), pattern(PAGE, 3));
    // One below the limit, the middle goes and the count reaches it.
    run(p.munmap(BASE + 10 * PAGE, 3 * PAGE));
    run(p.munmap(BASE + 16 * PAGE, PAGE));
    expect(p.mm!.vmas.length).toBe(LIMIT);
    expectConsistent(k);
  });

  // At the boot limit, DEFAULT_MAX_MAP_COUNT = 65530: 65531 one-page mappings fit (do_mmap()
  // compares map_count > the limit), each placed top-down right below the one before
  // (unmapped_area_topdown()), and a hole is filled first. Tens of thousands of mmap() calls: a
  // second or more of work on a loaded machine.
  it("at the default limit: 65531 VMAs below mmap_base, then ENOMEM; a hole is filled first", () => {
    const k = boot();
    const p = run(k.createProcess());
    const top = p.mm!.mmapBase;
    // Alternate protections, so that no mapping merges into the one above it.
    const prot = (i: number) => (i % 2 ? PROT_READ : PROT_READ | PROT_WRITE);
    for (let i = 0; i <= DEFAULT_MAX_MAP_COUNT; i++) {
      const addr = run(p.mmap(PAGE, { prot: prot(i) }));
      // One expect() per call would cost more than the mmap() itself: check, then report.
      if (addr !== top - (i + 1) * PAGE) expect([i, addr - top]).toEqual([i, -(i + 1) * PAGE]);
    }
    expect(p.mm!.vmas.length).toBe(65531);
    expect(p.mm!.mapCount).toBe(65531);
    expect(expectErrno(p.mmap(PAGE), "ENOMEM").message).toMatch(
      /65531 VMAs, more than max_map_count 65530/,
    );
    // Unmapping one leaves a hole the next mapping of its size takes, as the highest free range.
    const hole = top - 40_000 * PAGE;
    run(p.munmap(hole, PAGE));
    expect(p.mm!.findVma(hole)).toBeUndefined();
    expect(run(p.mmap(PAGE, { prot: PROT_READ | PROT_EXEC }))).toBe(hole);
    expect(p.mm!.vmas.length).toBe(65531);
    expect(p.mm!.vmas.at(-1)!.end).toBe(top);
    expect(p.mm!.vmas[0]!.start).toBe(top - 65531 * PAGE);
    expectConsistent(k);
  }, 60_000);
});
