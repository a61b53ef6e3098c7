// The user address space has the kernel's limits: TASK_SIZE, get_unmapped_area()'s ENOMEM, the
// overcommit heuristic, and what the model's page tables can hold, each checked before anything
// changes.
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import type { Task } from "../../src/include/kernel";
import { TASK_SIZE } from "../../src/include/page_64_types";
import {
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  MPOL_BIND,
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

/** What a failed call must leave as it was: the mappings and where the next one goes. */
const layout = (p: Task) => ({
  vmas: p.mm!.vmas.map((v) => [v.start, v.end]),
  cursor: p.mm!.mmapCursor,
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
    const all = run(p.mmap(128 * MiB));
    expect(all).toBe(before.cursor);
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
    expect(addr).toBe(before.cursor);
    await writeAndMove(p, addr, 2);
    expectConsistent(k);
  });

  it("maps, finds through the reverse map and migrates pages just below TASK_SIZE", async () => {
    const k = boot();
    const p = run(k.createProcess());
    // A process that has mapped its way up: its next range is far above 2^44.
    p.mm!.mmapCursor = TASK_SIZE - 64 * MiB;
    const addr = run(p.mmap(4 * MiB, { hugepage: false }));
    expect(addr).toBeGreaterThan(2 ** 46);
    expect(addr + 4 * MiB).toBeLessThanOrEqual(TASK_SIZE);
    await writeAndMove(p, addr + 3 * MiB, 3);
    const child = run(p.fork());
    await writeAndMove(child, addr + 3 * MiB, 4);
    expectBytes(run(p.read(addr + 3 * MiB, 4096)), pattern(4096, 3));
    expectConsistent(k);
  });

  it("ENOMEM when no range below TASK_SIZE is free; the search starts again from mmap_base", () => {
    const k = boot();
    const p = run(k.createProcess());
    const mm = p.mm!;
    mm.mmapBase = TASK_SIZE - 8 * MiB;
    mm.mmapCursor = mm.mmapBase;
    const first = run(p.mmap(4 * MiB));
    expect(first).toBe(2 ** 47 - 8 * MiB);
    const small = run(p.mmap(4096));
    const before = layout(p);
    expect(expectErrno(p.mmap(4 * MiB), "ENOMEM").message).toMatch(/no free range/);
    expect(layout(p)).toEqual(before);
    run(p.munmap(first, 4 * MiB));
    // Nothing fits above the cursor any more, so the range freed at mmap_base is reused.
    expect(run(p.mmap(4 * MiB))).toBe(first);
    // vm_unmapped_area() leaves no gap: the small mapping lay right above the first.
    expect(small).toBe(first + 4 * MiB);
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

  it("mlock, madvise and mbind: ENOMEM or EFAULT for a range reaching past what is mapped; mlock rounds its start down", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4 * 4096, { hugepage: false }));
    const flags = p.mm!.vmas.map((v) => [v.flags, v.policy]);
    expectErrno(p.mlock(addr, 2 ** 46), "ENOMEM");
    expectErrno(p.madvise(addr, 2 ** 46, MADV_HUGEPAGE), "ENOMEM");
    expectErrno(p.mbind(addr, 2 ** 46, MPOL_BIND, [1]), "EFAULT");
    expect(p.mm!.vmas.map((v) => [v.flags, v.policy])).toEqual(flags);
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
    expectErrno(p.write(addr + 3 * PAGE, new Uint8Array([1])), "EFAULT");
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
