import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { TASK_SIZE } from "../../src/include/page_64_types";
import {
  folioReferenced,
  MADV_HUGEPAGE,
  MADV_RANDOM,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_SHARED_VALIDATE,
  MPOL_BIND,
  MPOL_DEFAULT,
  MPOL_F_ADDR,
  MPOL_F_NODE,
  MPOL_INTERLEAVE,
  MPOL_PREFERRED,
  PG_locked,
  PROT_READ,
  PROT_SEM,
  PROT_WRITE,
  policyTarget,
  pteDirty,
  ptePfn,
  pteWrite,
  pteYoung,
  type Task,
  VM_WRITE,
} from "../../src/index";
import {
  boot,
  expectBytes,
  expectChildSignal,
  expectConsistent,
  expectErrno,
  fillNodeToMin,
  folioAt,
  mapPattern,
  pattern,
  pteAt,
  run,
  runP,
} from "../../src/testing/index";

const MiB = 2 ** 20;

describe("mmap and munmap", () => {
  it("rejects bad arguments with the kernel's errno and maps nothing", () => {
    const k = boot();
    const p = run(k.createProcess());
    expectErrno(p.mmap(0), "EINVAL");
    expectErrno(p.mmap(-4096), "EINVAL");
    expectErrno(p.mmap(4096, { flags: MAP_ANONYMOUS }), "EINVAL");
    expectErrno(p.mmap(4096, { flags: MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS }), "EINVAL");
    expectErrno(p.mmap(4096, { flags: MAP_PRIVATE }), "EBADF");
    // do_mmap() (mm/mmap.c): anonymous MAP_SHARED_VALIDATE is no map type; MAP_PRIVATE with an
    // unknown flag maps (test/mm/mmap.flags.test.ts).
    expectErrno(p.mmap(4096, { flags: MAP_SHARED_VALIDATE | MAP_ANONYMOUS | 0x1000000 }), "EINVAL");
    const file = run(k.createFile("f"));
    expectErrno(p.mmap(4096, { flags: MAP_SHARED, file, offset: 100 }), "EINVAL");
    expect(p.mm!.vmas).toHaveLength(0);
    const addr = run(p.mmap(8192));
    expectErrno(p.munmap(addr + 1, 4096), "EINVAL");
    expectErrno(p.munmap(addr, 0), "EINVAL");
    expect(p.mm!.vmas).toHaveLength(1);
  });

  it("aligns mappings of a PMD or more to the PMD size, rounds lengths up to pages", () => {
    const k = boot();
    const p = run(k.createProcess());
    const small = run(p.mmap(100));
    expect(p.mm!.findVma(small)!.end - small).toBe(4096);
    const big = run(p.mmap(4 * MiB));
    expect(big % (2 * MiB)).toBe(0);
  });

  it("splits VMAs on a partial munmap and frees exactly the unmapped pages", () => {
    const k = boot();
    const p = run(k.createProcess());
    const free = k.pageAlloc.nodeFreePages(0);
    const addr = mapPattern(p, 16 * 4096, 1, false);
    expect(k.pageAlloc.nodeFreePages(0)).toBe(free - 16);
    run(p.munmap(addr + 4 * 4096, 4 * 4096));
    expect(p.mm!.vmas).toHaveLength(2);
    expect(k.pageAlloc.nodeFreePages(0)).toBe(free - 12);
    // A load from the hole: SIGSEGV, SEGV_MAPERR (arch/x86/mm/fault.c, bad_area_nosemaphore()).
    expectChildSignal(p, (c) => c.read(addr + 5 * 4096, 1), "SIGSEGV", "SEGV_MAPERR");
    expectBytes(
      run(p.read(addr + 8 * 4096, 4096)),
      pattern(16 * 4096, 1).subarray(8 * 4096, 9 * 4096),
    );
    run(p.munmap(addr, 16 * 4096));
    expect(k.pageAlloc.nodeFreePages(0)).toBe(free);
    expectConsistent(k);
  });
});

describe("mprotect", () => {
  // do_mprotect_pkey() / mprotect_fixup() / change_protection() (mm/mprotect.c).
  it("splits VMAs, write-protects what loses PROT_WRITE, and faults writes back in once allowed", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = mapPattern(p, 8 * 4096, 2, false);
    const pfn = folioAt(p, addr + 2 * 4096).pfn;
    run(p.mprotect(addr + 2 * 4096, 2 * 4096, PROT_READ));
    expect(p.mm!.vmas).toHaveLength(3);
    // A store to the read-only piece: SIGSEGV, SEGV_ACCERR (bad_area_access_error()).
    expectChildSignal(
      p,
      (c) => c.write(addr + 2 * 4096, new Uint8Array([9])),
      "SIGSEGV",
      "SEGV_ACCERR",
    );
    expectBytes(run(p.read(addr, 8 * 4096)), pattern(8 * 4096, 2));
    run(p.mprotect(addr + 3 * 4096, 4096, 0));
    expectChildSignal(p, (c) => c.read(addr + 3 * 4096, 1), "SIGSEGV", "SEGV_ACCERR");
    // A zero length is no call at all (mprotect(2) returns 0).
    run(p.mprotect(addr, 0, 0));
    run(p.mprotect(addr, 8 * 4096, PROT_READ | PROT_WRITE));
    run(p.write(addr + 2 * 4096, new Uint8Array([9])));
    // do_wp_page() reused the exclusive page: no copy.
    expect(folioAt(p, addr + 2 * 4096).pfn).toBe(pfn);
    expect(k.vmstat.get("cow_fault")).toBe(0);
    expectConsistent(k);
  });

  // do_mprotect_pkey() (mm/mprotect.c, Linux 6.16) checks, in order: both grows flags (EINVAL),
  // an unaligned start (EINVAL), a zero length (returns 0), start + PAGE_ALIGN(len) <= start
  // (ENOMEM), then arch_validate_prot() (include/linux/mman.h; x86-64 keeps the generic one),
  // which allows PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM (0x8) and nothing else.
  it("accepts PROT_SEM, returns 0 for a zero length before it looks at prot, and checks the rest in do_mprotect_pkey()'s order", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = mapPattern(p, 2 * 4096, 4, false);
    const flags = p.mm!.findVma(addr)!.flags;
    expect(PROT_SEM).toBe(0x8);
    run(p.mprotect(addr, 2 * 4096, PROT_READ | PROT_WRITE | PROT_SEM));
    // PROT_SEM sets no VMA flag (calc_vm_prot_bits() has no bit for it).
    expect(p.mm!.findVma(addr)!.flags).toBe(flags);
    run(p.mprotect(addr, 4096, PROT_READ | PROT_SEM));
    expectChildSignal(p, (c) => c.write(addr, new Uint8Array([1])), "SIGSEGV", "SEGV_ACCERR");
    // A zero length returns 0 before the prot bits are checked.
    run(p.mprotect(addr, 0, 0x10));
    // ... but after the start is.
    expectErrno(p.mprotect(addr + 1, 0, PROT_READ), "EINVAL");
    // A negative length is a size_t that wraps: ENOMEM, before the prot bits are checked.
    expectErrno(p.mprotect(addr, -4096, 0x10), "ENOMEM");
    expectErrno(p.mprotect(addr, 4096, 0x10), "EINVAL");
    expect(p.mm!.findVma(addr + 4096)!.flags).toBe(flags);
    // prot is an unsigned long: a bit past 32, or a negative value, is unknown (EINVAL), not
    // dropped; with a zero length it is never looked at.
    expectErrno(p.mprotect(addr, 4096, 2 ** 32 + PROT_READ), "EINVAL");
    expectErrno(p.mprotect(addr, 4096, -(2 ** 32) + PROT_READ), "EINVAL");
    expect(p.mm!.findVma(addr + 4096)!.flags).toBe(flags);
    run(p.mprotect(addr, 0, 2 ** 32));
    expectConsistent(k);
  });

  // do_mprotect_pkey() (mm/mprotect.c, Linux 6.16) has no TASK_SIZE check: past the last VMA the
  // range is a hole like any other (`tmp < end` after the loop), so the VMAs below TASK_SIZE
  // change and the call returns -ENOMEM.
  it("changes the VMAs below TASK_SIZE of a range that reaches past it, then returns ENOMEM", () => {
    const k = boot();
    const p = run(k.createProcess());
    const top = TASK_SIZE - 2 * 4096;
    run(p.mmap(2 * 4096, { addr: top, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED }));
    run(p.write(top, pattern(2 * 4096, 6)));
    const e = expectErrno(p.mprotect(top, 4 * 4096, PROT_READ), "ENOMEM");
    expect(e.message).toContain(`not mapped at 0x${TASK_SIZE.toString(16)}`);
    expect(p.mm!.findVma(top)!.flags & VM_WRITE).toBe(0);
    expectChildSignal(p, (c) => c.write(top + 4096, new Uint8Array([1])), "SIGSEGV", "SEGV_ACCERR");
    expectBytes(run(p.read(top, 2 * 4096)), pattern(2 * 4096, 6));
    // A range that starts at or past TASK_SIZE meets no VMA: ENOMEM with nothing changed.
    expectErrno(p.mprotect(TASK_SIZE, 4096, PROT_READ | PROT_WRITE), "ENOMEM");
    expectErrno(p.mprotect(2 ** 52, 4096, PROT_READ | PROT_WRITE), "ENOMEM");
    expect(p.mm!.findVma(top)!.flags & VM_WRITE).toBe(0);
    // Made writable again, the same range changes the VMA back before the hole.
    expectErrno(p.mprotect(top, 2 ** 47, PROT_READ | PROT_WRITE), "ENOMEM");
    run(p.write(top + 4096, new Uint8Array([1])));
    expectConsistent(k);
  });

  // do_mprotect_pkey() (mm/mprotect.c, Linux 6.16) changes the VMAs before a hole, then returns
  // -ENOMEM; vma_modify_flags() → split_vma() refuses a cut inside a huge page
  // (hugetlb_vm_op_split(): -EINVAL), leaving that VMA as it was.
  it("stops at a hole with ENOMEM after changing the VMAs before it, and refuses to cut a hugetlb page", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = mapPattern(p, 4 * 4096, 3, false);
    run(p.munmap(addr + 2 * 4096, 4096));
    const after = p.mm!.vmas.map((v) => [
      v.start,
      v.end,
      v.start < addr + 4096 ? v.flags & ~VM_WRITE : v.flags,
    ]);
    expectErrno(p.mprotect(addr, 4 * 4096, PROT_READ), "ENOMEM");
    expect(p.mm!.vmas.map((v) => [v.start, v.end, v.flags])).toEqual(after);
    expectChildSignal(p, (c) => c.write(addr, new Uint8Array([1])), "SIGSEGV", "SEGV_ACCERR");
    run(p.write(addr + 3 * 4096, new Uint8Array([1])));
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "1"));
    const huge = run(p.mmap(2 * MiB, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
    const hugeFlags = p.mm!.findVma(huge)!.flags;
    expectErrno(p.mprotect(huge, 4096, PROT_READ), "EINVAL");
    expect(p.mm!.findVma(huge)!.flags).toBe(hugeFlags);
    // The same flags need no split: nothing to refuse (mprotect_fixup() returns early).
    run(p.mprotect(huge, 4096, PROT_READ | PROT_WRITE));
    run(p.mprotect(huge, 2 * MiB, PROT_READ));
    expectConsistent(k);
  });
});

describe("faults", () => {
  it("maps the shared zero page on a read of untouched anonymous memory", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(8192));
    const free = k.pageAlloc.totalFreePages();
    expect(run(p.read(addr, 8192)).every((b) => b === 0)).toBe(true);
    expect(folioAt(p, addr).pfn).toBe(k.zeroPfn);
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    run(p.write(addr, new Uint8Array([7])));
    expect(folioAt(p, addr).pfn).not.toBe(k.zeroPfn);
    expect([...run(p.read(addr, 2))]).toEqual([7, 0]);
    expect(k.vmstat.get("cow_fault")).toBe(1);
    expectConsistent(k);
  });

  // wp_page_copy() (mm/memory.c, Linux 6.16): folio_prealloc(..., pfn_is_zero) zeroes the new
  // page only for a write to the zero page, and copies nothing then; any other source is copied
  // whole (__wp_page_copy_user()) into a page allocated without __GFP_ZERO, never cleared first.
  // The frames here are reused ones a process filled with 0xee and unmapped.
  it("zeroes a copy-on-write page only when it replaces the zero page (wp_page_copy())", () => {
    const k = boot();
    const p = run(k.createProcess({ node: 0 }));
    const cleared: number[] = [];
    const clearPages = k.mem.clearPages.bind(k.mem);
    k.mem.clearPages = (pfn, nrPages) => {
      for (let i = 0; i < nrPages; i++) cleared.push(pfn + i);
      clearPages(pfn, nrPages);
    };
    const dirtyFrame = (): number => {
      const scratch = run(p.mmap(4096));
      run(p.write(scratch, new Uint8Array(4096).fill(0xee)));
      const frame = ptePfn(pteAt(p, scratch));
      run(p.munmap(scratch, 4096));
      return frame;
    };
    // A write to the zero page: a zeroed page.
    const zero = run(p.mmap(4096));
    run(p.read(zero, 1));
    expect(folioAt(p, zero).pfn).toBe(k.zeroPfn);
    let frame = dirtyFrame();
    cleared.length = 0;
    run(p.write(zero + 1, new Uint8Array([7])));
    expect(folioAt(p, zero).pfn).toBe(frame);
    expect(cleared).toEqual([frame]);
    const zeroed = new Uint8Array(4096);
    zeroed[1] = 7;
    expectBytes(run(p.read(zero, 4096)), zeroed);
    // A write to a page shared with a fork child: a copy, and no page cleared.
    const shared = mapPattern(p, 4096, 5, false);
    const child = run(p.fork());
    frame = dirtyFrame();
    cleared.length = 0;
    run(child.write(shared, new Uint8Array([1])));
    expect(folioAt(child, shared).pfn).toBe(frame);
    expect(cleared).toEqual([]);
    const copied = pattern(4096, 5);
    copied[0] = 1;
    expectBytes(run(child.read(shared, 4096)), copied);
    expectBytes(run(p.read(shared, 4096)), pattern(4096, 5));
    expect(k.vmstat.get("cow_fault")).toBe(2);
    expectConsistent(k);
  });

  it("faults in a PMD THP where the range is aligned and THP is allowed", () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = run(p.mmap(4 * MiB));
    run(p.write(addr + 5000, new Uint8Array([1])));
    const folio = folioAt(p, addr);
    expect(folio.order).toBe(9);
    // do_huge_pmd_anonymous_page() maps it with one huge PMD: folio_mapcount() and
    // folio_entire_mapcount() are 1, no page has a PTE mapcount, the mapping holds one reference.
    expect(folio.mapcount).toBe(1);
    expect(folio.entireMapcount).toBe(1);
    expect(k.memmap.mapcount[folio.pfn + 1]).toBe(0);
    expect(folio.refcount).toBe(1);
    expect(folio.anon).toBe(true);
    expect(k.vmstat.get("thp_fault_alloc")).toBe(1);
    expectConsistent(k);
  });

  it("gives shared anonymous memory the shmem orders, not the anonymous ones (shmem_allowable_huge_orders, Linux 6.16)", () => {
    const THP = "/sys/kernel/mm/transparent_hugepage";
    // The anonymous setting does not apply to shmem: shmem_enabled is "never" by default.
    const k = boot({ thp: { enabled: "always", sizes: { "64kB": "always" } } });
    const p = run(k.createProcess());
    const shared = { flags: MAP_SHARED | MAP_ANONYMOUS };
    const a = run(p.mmap(4 * MiB, shared));
    run(p.write(a, new Uint8Array([1])));
    expect(folioAt(p, a).order).toBe(0);
    expect(run(k.fs.read(`${THP}/shmem_enabled`))).toBe(
      "always within_size advise [never] deny force\n",
    );
    // shmem_init(): the PMD size inherits shmem_enabled, the other sizes (order 1 up) are never.
    expect(run(k.fs.read(`${THP}/hugepages-2048kB/shmem_enabled`))).toBe(
      "always [inherit] within_size advise never\n",
    );
    expect(run(k.fs.read(`${THP}/hugepages-8kB/shmem_enabled`))).toBe(
      "always inherit within_size advise [never]\n",
    );
    // "always" applies to the inherit orders: a PMD-size folio in the page cache.
    run(k.fs.write(`${THP}/shmem_enabled`, "always"));
    const b = run(p.mmap(4 * MiB, shared));
    run(p.write(b + 5000, new Uint8Array([1])));
    // do_shared_fault() maps the folio; it is a PMD-size shmem folio, counted as
    // shmem_alloc_and_add_folio() does (thp_file_alloc, not thp_fault_alloc).
    expect(folioAt(p, b + 5000).order).toBe(9);
    expect(folioAt(p, b + 5000).anon).toBe(false);
    expect(k.vmstat.get("thp_file_alloc")).toBe(1);
    expect(k.vmstat.get("thp_fault_alloc")).toBe(0);
    expect(run(k.fs.read(`${THP}/hugepages-2048kB/stats/shmem_alloc`))).toBe("1\n");
    // "advise" needs MADV_HUGEPAGE; a per-size "always" applies without it.
    run(k.fs.write(`${THP}/shmem_enabled`, "advise"));
    run(k.fs.write(`${THP}/hugepages-16kB/shmem_enabled`, "always"));
    const c = run(p.mmap(4 * MiB, shared));
    run(p.write(c, new Uint8Array([1])));
    expect(folioAt(p, c).order).toBe(2);
    const d = run(p.mmap(4 * MiB, shared));
    run(p.madvise(d, 4 * MiB, MADV_HUGEPAGE));
    run(p.write(d, new Uint8Array([1])));
    expect(folioAt(p, d).order).toBe(9);
    // "within_size": a block is used only if it ends inside i_size, the mapping's length. In a
    // 12 KiB object no 16 KiB block does; the 8 KiB one at the first 8 KiB-aligned page does
    // (order 1, a size only shmem has); the one page left over gets an order-0 folio.
    run(k.fs.write(`${THP}/hugepages-16kB/shmem_enabled`, "within_size"));
    run(k.fs.write(`${THP}/hugepages-8kB/shmem_enabled`, "within_size"));
    // (thp_vma_suitable_order() wants the VMA's start 8 KiB aligned: a 2-page mapping and its
    // guard page move the next placement by an odd number of pages.)
    let e = run(p.mmap(3 * 4096, shared));
    if ((e / 4096) % 2 === 1) {
      run(p.mmap(2 * 4096));
      e = run(p.mmap(3 * 4096, shared));
    }
    expect((e / 4096) % 2).toBe(0);
    run(p.write(e, new Uint8Array([1])));
    expect(folioAt(p, e).order).toBe(1);
    run(p.write(e + 2 * 4096, new Uint8Array([1])));
    expect(folioAt(p, e + 2 * 4096).order).toBe(0);
    expect(k.thp.mthpStat(1, "shmem_alloc")).toBe(1);
    // "deny" forces every size off, per-size "always" included.
    run(k.fs.write(`${THP}/shmem_enabled`, "deny"));
    const f = run(p.mmap(4 * MiB, shared));
    run(p.write(f, new Uint8Array([1])));
    expect(folioAt(p, f).order).toBe(0);
    expectConsistent(k);
  });

  it("parses shmem_enabled as shmem_enabled_store() and thpsize_shmem_enabled_store() do", () => {
    const THP = "/sys/kernel/mm/transparent_hugepage";
    const k = boot();
    expectErrno(k.fs.write(`${THP}/shmem_enabled`, "madvise"), "EINVAL");
    expectErrno(k.fs.write(`${THP}/shmem_enabled`, "never\n\n"), "EINVAL");
    expectErrno(k.fs.write(`${THP}/shmem_enabled`, " never"), "EINVAL");
    expectErrno(k.fs.write(`${THP}/hugepages-64kB/shmem_enabled`, "deny"), "EINVAL");
    run(k.fs.write(`${THP}/shmem_enabled`, "within_size\n"));
    expect(run(k.fs.read(`${THP}/shmem_enabled`))).toBe(
      "always [within_size] advise never deny force\n",
    );
    // shmem_parse_huge(): "force" only while the PMD size alone inherits.
    run(k.fs.write(`${THP}/hugepages-64kB/shmem_enabled`, "inherit"));
    expectErrno(k.fs.write(`${THP}/shmem_enabled`, "force"), "EINVAL");
    run(k.fs.write(`${THP}/hugepages-64kB/shmem_enabled`, "never"));
    run(k.fs.write(`${THP}/shmem_enabled`, "force"));
    // …and under "force" no other size may be set to inherit.
    expectErrno(k.fs.write(`${THP}/hugepages-64kB/shmem_enabled`, "inherit"), "EINVAL");
    run(k.fs.write(`${THP}/hugepages-2048kB/shmem_enabled`, "inherit"));
    expect(run(k.fs.read(`${THP}/shmem_enabled`))).toBe(
      "always within_size advise never deny [force]\n",
    );
    // Order 1 exists for shmem only: no anonymous "enabled" and no anon_* statistics there.
    expectErrno(k.fs.read(`${THP}/hugepages-8kB/enabled`), "ENOENT");
    expectErrno(k.fs.read(`${THP}/hugepages-8kB/stats/anon_fault_alloc`), "ENOENT");
    expect(run(k.fs.read(`${THP}/hugepages-8kB/stats/split`))).toBe("0\n");
  });

  it("caches only order-0 folios for a regular file, whatever the THP settings (no large folio support)", () => {
    const k = boot({ thp: { enabled: "always", sizes: { "64kB": "always" } } });
    run(k.fs.write("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "always"));
    const p = run(k.createProcess());
    const file = run(k.createFile("data"));
    run(file.truncate(4 * MiB));
    const addr = run(p.mmap(4 * MiB, { flags: MAP_SHARED, file, hugepage: true }));
    run(p.write(addr, new Uint8Array([1])));
    expect(folioAt(p, addr).order).toBe(0);
    expectConsistent(k);
  });

  it("uses mTHP sizes per the sysfs settings and MADV_HUGEPAGE, and falls back when memory is fragmented", () => {
    const k = boot({ thp: { enabled: "never", sizes: { "64kB": "madvise", "16kB": "always" } } });
    const p = run(k.createProcess());
    const aligned = (addr: number, size: number) => Math.ceil(addr / size) * size;
    const plain = run(p.mmap(MiB));
    run(p.write(aligned(plain, 65536), new Uint8Array([1])));
    expect(folioAt(p, aligned(plain, 65536)).order).toBe(2);
    // One page more than 1 MiB, just below `plain` (the top-down layout: `plain` ends at
    // mmap_base, 0x7ffff7fff000), so the VMA starts off a 16 KiB and a 64 KiB boundary.
    const advised = run(p.mmap(MiB + 4096));
    expect(advised).toBe(plain - MiB - 4096);
    run(p.madvise(advised, MiB + 4096, MADV_HUGEPAGE));
    run(p.write(aligned(advised, 65536), new Uint8Array([1])));
    expect(folioAt(p, aligned(advised, 65536)).order).toBe(4);
    // A block is used only where the naturally aligned run lies wholly inside the VMA: the 16 KiB
    // and 64 KiB runs around the VMA's first page start below it.
    expect([advised % 16384, advised % 65536].every((r) => r !== 0)).toBe(true);
    run(p.write(advised, new Uint8Array([1])));
    expect(folioAt(p, advised).order).toBe(0);
    const frag0 = run(k.fragment(0, 3));
    const frag1 = run(k.fragment(1, 3));
    const third = run(p.mmap(MiB, { hugepage: true }));
    run(p.write(aligned(third, 65536), new Uint8Array([1])));
    expect(folioAt(p, aligned(third, 65536)).order).toBe(2);
    // Linux counts mTHP fallbacks per size only (count_mthp_stat()), never in /proc/vmstat.
    expect(k.thp.mthpStat(4, "anon_fault_fallback")).toBeGreaterThanOrEqual(1);
    expect(
      Number(
        run(
          k.fs.read("/sys/kernel/mm/transparent_hugepage/hugepages-64kB/stats/anon_fault_fallback"),
        ),
      ),
    ).toBe(k.thp.mthpStat(4, "anon_fault_fallback"));
    expect(k.thp.mthpStat(2, "anon_fault_alloc")).toBe(2);
    expect(k.thp.mthpStat(4, "anon_fault_alloc")).toBe(1);
    expect(k.vmstat.snapshot()).not.toHaveProperty("mthp_fault_fallback");
    frag0.release();
    frag1.release();
    expectErrno(p.madvise(third + 1, 4096, MADV_HUGEPAGE), "EINVAL");
    expectErrno(p.madvise(third, 4096, 99), "EINVAL");
    expectConsistent(k);
  });

  it("places folios on the local node, or where mbind and set_mempolicy say", () => {
    const k = boot({ nodes: ["16M", "16M", "16M"] });
    const p = run(k.createProcess({ node: 2 }));
    const a = run(p.mmap(4 * 4096));
    run(p.write(a, new Uint8Array([1])));
    expect(run(p.nodeOf(a))).toBe(2);
    const b = run(p.mmap(4 * 4096));
    run(p.mbind(b, 4 * 4096, MPOL_BIND, [0]));
    run(p.write(b, new Uint8Array(4 * 4096).fill(1)));
    for (let i = 0; i < 4; i++) expect(run(p.nodeOf(b + i * 4096))).toBe(0);
    const c = run(p.mmap(4 * 4096));
    run(p.mbind(c, 4 * 4096, MPOL_INTERLEAVE, [0, 1]));
    run(p.write(c, new Uint8Array(4 * 4096).fill(1)));
    // interleave_nid(): the interleave index of anonymous memory is its virtual page number
    // (vm_pgoff is vm_start >> PAGE_SHIFT), so the nodes alternate from the page c is at.
    expect([0, 1, 2, 3].map((i) => run(p.nodeOf(c + i * 4096)))).toEqual(
      [0, 1, 2, 3].map((i) => [0, 1][(c / 4096 + i) % 2]),
    );
    run(p.setMempolicy(MPOL_PREFERRED, [1]));
    const d = run(p.mmap(4096));
    run(p.write(d, new Uint8Array([1])));
    expect(run(p.nodeOf(d))).toBe(1);
    expect(run(p.getMempolicy(0))).toEqual({ mode: MPOL_PREFERRED, nodes: [1] });
    expect(run(p.getMempolicy(MPOL_F_ADDR, b))).toEqual({ mode: MPOL_BIND, nodes: [0] });
    expectConsistent(k);
  });

  it("picks the node of a policy with no nodes as the kernel would: local, and none allowed when bound", () => {
    const distance = (a: number, b: number) => (a === b ? 10 : 20);
    expect(policyTarget({ mode: MPOL_PREFERRED, nodes: [] }, 1, 0, distance)).toEqual({
      nid: 1,
      nodemask: null,
    });
    expect(policyTarget({ mode: MPOL_BIND, nodes: [] }, 1, 0, distance)).toEqual({
      nid: 1,
      nodemask: [],
    });
    expect(policyTarget({ mode: MPOL_INTERLEAVE, nodes: [] }, 0, 3, distance)).toEqual({
      nid: 0,
      nodemask: null,
    });
    expect(policyTarget({ mode: MPOL_BIND, nodes: [0, 2] }, 1, 0, distance).nid).toBe(0);
  });

  it("never leaves a bound allocation's nodes: node 0 full, the OOM killer ends the task (CONSTRAINT_MEMORY_POLICY)", () => {
    const k = boot({ nodes: ["4M", "16M"] });
    const p = run(k.createProcess());
    const frag = run(k.fragment(0, 0));
    const addr = run(p.mmap(8 * MiB, { hugepage: false }));
    run(p.mbind(addr, 8 * MiB, MPOL_BIND, [0]));
    const node1 = k.pageAlloc.nodeFreePages(1);
    expectErrno(p.write(addr, new Uint8Array(8 * MiB)), "ESRCH");
    expect([p.oomVictim, k.vmstat.get("oom_kill")]).toEqual([true, 1]);
    expect(k.pageAlloc.nodeFreePages(1)).toBe(node1);
    frag.release();
  });

  it("checks mbind and get_mempolicy arguments", () => {
    const k = boot({ nodes: ["16M", "16M", 0] });
    const p = run(k.createProcess());
    const addr = run(p.mmap(8192));
    expectErrno(p.mbind(addr + 1, 4096, MPOL_BIND, [0]), "EINVAL");
    expectErrno(p.mbind(addr, 4096, 42, [0]), "EINVAL");
    expectErrno(p.mbind(addr, 4096, MPOL_BIND, [5]), "EINVAL");
    expectErrno(p.mbind(addr, 4096, MPOL_BIND, [2]), "EINVAL");
    expectErrno(p.mbind(addr, 4096, MPOL_BIND, []), "EINVAL");
    expectErrno(p.mbind(addr, 4096, MPOL_DEFAULT, [0]), "EINVAL");
    expectErrno(p.mbind(addr, 3 * 4096, MPOL_BIND, [0]), "EFAULT");
    expect(p.mm!.vmas).toHaveLength(1);
    expectErrno(p.getMempolicy(MPOL_F_NODE | MPOL_F_ADDR, addr + 3 * 4096), "EFAULT");
    expectErrno(p.getMempolicy(MPOL_F_NODE), "EINVAL");
    expectErrno(p.getMempolicy(64), "EINVAL");
    expectErrno(p.setMempolicy(MPOL_BIND, [9]), "EINVAL");
    expectErrno(p.setMempolicy(MPOL_BIND, 1 as never), "EFAULT");
    expectErrno(p.mbind(addr, 4096, MPOL_BIND, null as never), "EFAULT");
    expect(p.policy).toBeNull();
  });

  // A store sequence stops at its first faulting store (do_user_addr_fault(), SIGSEGV): the
  // bytes before the fault are written, as copy_to_user() and access_remote_vm() also stop at
  // the first fault. Linux values: 96 of 200 bytes land, SIGSEGV (11) at the end of the mapping,
  // si_code SEGV_ACCERR (2) on a read-only page, SEGV_MAPERR (1) in a hole
  // (include/uapi/asm-generic/siginfo.h); the child that faulted dies of it.
  it("stops a write at the first page not mapped writable, with the bytes before it written", () => {
    const k = boot();
    const p = run(k.createProcess());
    const ro = run(p.mmap(4096, { prot: PROT_READ }));
    const denied = expectChildSignal(
      p,
      (c) => c.write(ro, new Uint8Array([1])),
      "SIGSEGV",
      "SEGV_ACCERR",
    );
    expect([denied.signo, denied.siCode, denied.addr]).toEqual([11, 2, ro]);
    expect(run(p.read(ro, 1))[0]).toBe(0);
    // Shared, so that the parent sees what the child wrote before it died.
    const rw = run(p.mmap(4096, { flags: MAP_SHARED | MAP_ANONYMOUS }));
    expect(rw + 4096).toBe(ro);
    const error = expectChildSignal(
      p,
      (c) => c.write(rw + 4000, new Uint8Array(200).fill(3)),
      "SIGSEGV",
      "SEGV_ACCERR",
    );
    expect(error.addr).toBe(rw + 4096);
    expect(error.message).toContain(`0x${(rw + 4096).toString(16)}`);
    expect(run(p.read(rw + 4000, 96)).every((b) => b === 3)).toBe(true);
    // A read of a range with a hole faults the pages before the hole in, then fails there.
    const faults = k.vmstat.get("pgfault");
    const two = run(p.mmap(2 * 4096));
    run(p.munmap(two + 4096, 4096));
    const hole = expectChildSignal(p, (c) => c.read(two, 2 * 4096), "SIGSEGV", "SEGV_MAPERR");
    expect([hole.signo, hole.siCode, hole.addr, hole.addrLsb]).toEqual([11, 1, two + 4096, 0]);
    expect(k.vmstat.get("pgfault")).toBe(faults + 1);
    // Bad arguments are no access at all: errnos, and the process lives.
    expectErrno(p.read(rw, -1), "EINVAL");
    expectErrno(p.read(-5, 1), "EFAULT");
    expect(p.exited).toBe(false);
  });

  it("backs MAP_HUGETLB with PMD-sized hugetlb folios off the LRU, mapped by one huge PMD (hugetlb_fault())", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "2"));
    const p = run(k.createProcess());
    const addr = run(p.mmap(3 * MiB, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
    expect(p.mm!.findVma(addr)!.end - addr).toBe(4 * MiB);
    expect([...run(p.read(addr, 2))]).toEqual([0, 0]);
    const folio = folioAt(p, addr);
    expect(folio.hugetlb).toBe(true);
    expect(folio.order).toBe(9);
    expect(folio.lru).toBe(false);
    // One huge entry, no PTEs; it counts in the entire mapcount (hugetlb_add_new_anon_rmap()).
    const vma = p.mm!.findVma(addr)!;
    expect([...vma.pmds.keys()]).toEqual([addr]);
    expect(vma.ptes.every((pte) => pte === 0)).toBe(true);
    expect([folio.entireMapcount, folio.mapcount, folio.refcount]).toEqual([1, 1, 1]);
    expectErrno(p.munmap(addr, 4096), "EINVAL");
    expectConsistent(k);
  });

  it("mlocks by faulting pages in and marking them, and munlocks", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4 * 4096, { hugepage: false }));
    run(p.mlock(addr, 4 * 4096));
    expect(folioAt(p, addr).mlocked).toBe(true);
    expect(folioAt(p, addr + 3 * 4096).pfn).not.toBe(k.zeroPfn);
    run(p.munlock(addr, 4 * 4096));
    expect(folioAt(p, addr).mlocked).toBe(false);
    expectErrno(p.mlock(addr, 8 * 4096), "ENOMEM");
  });

  it("populates with MAP_POPULATE", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(
      p.mmap(3 * 4096, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, hugepage: false }),
    );
    for (let i = 0; i < 3; i++) expect(folioAt(p, addr + i * 4096).pfn).not.toBe(k.zeroPfn);
  });
});

describe("fork", () => {
  it("shares shared mappings, and makes private ones copy-on-write with mapcounts telling them apart", () => {
    const k = boot();
    const parent = run(k.createProcess({ uid: 1000 }));
    const priv = run(parent.mmap(2 * 4096, { hugepage: false }));
    const shared = run(parent.mmap(4096, { flags: MAP_SHARED | MAP_ANONYMOUS }));
    run(parent.write(priv, pattern(2 * 4096, 3)));
    run(parent.write(shared, new Uint8Array([1])));
    const child = run(parent.fork());
    expect(child.uid).toBe(1000);
    expect(folioAt(parent, priv).mapcount).toBe(2);
    expect(folioAt(parent, priv).pfn).toBe(folioAt(child, priv).pfn);
    run(child.write(priv, new Uint8Array([0xee])));
    expect(folioAt(parent, priv).mapcount).toBe(1);
    expect(folioAt(child, priv).mapcount).toBe(1);
    expect(run(parent.read(priv, 1))[0]).toBe(pattern(1, 3)[0]);
    expect(run(child.read(priv, 1))[0]).toBe(0xee);
    run(parent.write(priv + 4096, new Uint8Array([0xdd])));
    expect(run(child.read(priv + 4096, 1))[0]).toBe(pattern(2 * 4096, 3)[4096]);
    run(child.write(shared, new Uint8Array([2])));
    expect(run(parent.read(shared, 1))[0]).toBe(2);
    expect(folioAt(parent, shared).mapcount).toBe(2);
    expectConsistent(k);
    run(child.exit());
    expectErrno(child.exit(), "ESRCH");
    expectErrno(child.read(priv, 1), "ESRCH");
    expectConsistent(k);
  });

  it("lets the last mapper reuse a page on write after the other side exits", () => {
    const k = boot();
    const parent = run(k.createProcess());
    const addr = run(parent.mmap(4096));
    run(parent.write(addr, new Uint8Array([1])));
    const pfn = folioAt(parent, addr).pfn;
    const child = run(parent.fork());
    run(child.exit());
    run(parent.write(addr, new Uint8Array([2])));
    expect(folioAt(parent, addr).pfn).toBe(pfn);
  });

  it("copies no PTE of a VMA without an anon_vma (vma_needs_copy()): the child faults its pages in from the page cache", () => {
    const k = boot();
    const p = run(k.createProcess());
    const file = run(k.createFile("data"));
    const shared = run(p.mmap(2 * 4096, { flags: MAP_SHARED | MAP_ANONYMOUS }));
    run(file.truncate(5 * 4096));
    const readOnly = run(p.mmap(4096, { flags: MAP_PRIVATE, file }));
    const written = run(p.mmap(2 * 4096, { flags: MAP_PRIVATE, file, offset: 3 * 4096 }));
    const zero = run(p.mmap(4096, { hugepage: false }));
    run(p.write(shared, pattern(2 * 4096, 5)));
    run(p.read(readOnly, 1));
    run(p.read(written, 2 * 4096)); // both pages cached and mapped
    run(p.write(written, new Uint8Array([9]))); // the first copied on write: an anon_vma
    run(p.read(zero, 1)); // the zero page: no anon_vma
    const sharedRefs = folioAt(p, shared).refcount;
    const c = run(p.fork());
    const ptes = (addr: number) => [...c.mm!.findVma(addr)!.ptes];
    // Shared, private never written, private anonymous holding only the zero page: nothing copied.
    expect(ptes(shared)).toEqual([0, 0]);
    expect(ptes(readOnly)).toEqual([0]);
    expect(ptes(zero)).toEqual([0]);
    expect([folioAt(p, shared).mapcount, folioAt(p, shared).refcount]).toEqual([1, sharedRefs]);
    // A private file VMA with an anon_vma is copied whole, its page-cache page too.
    expect(ptes(written).every((pte) => pte !== 0)).toBe(true);
    expect(folioAt(c, written + 4096).pfn).toBe(folioAt(p, written + 4096).pfn);
    expect(folioAt(p, written + 4096).mapcount).toBe(2);
    expectConsistent(k);
    // The child's accesses fault the pages in: the same page-cache folios, the same bytes.
    expectBytes(run(c.read(shared, 2 * 4096)), pattern(2 * 4096, 5));
    expect(folioAt(c, shared).pfn).toBe(folioAt(p, shared).pfn);
    expect([folioAt(p, shared).mapcount, folioAt(p, shared).refcount]).toEqual([2, sharedRefs + 1]);
    expect(run(c.read(readOnly, 1))[0]).toBe(0);
    expect(folioAt(c, readOnly).pfn).toBe(folioAt(p, readOnly).pfn);
    expect(run(c.read(zero, 1))[0]).toBe(0);
    expect(run(c.read(written, 1))[0]).toBe(9);
    run(c.write(shared, new Uint8Array([0xcc])));
    expect(run(p.read(shared, 1))[0]).toBe(0xcc);
    expectConsistent(k);
    run(c.exit());
    expect(folioAt(p, shared).mapcount).toBe(1);
    expectConsistent(k);
  });

  it("migrates a shared page the child never touched by the one mapping there is; the child then faults in the new page", async () => {
    const k = boot();
    const p = run(k.createProcess({ node: 0 }));
    const addr = run(p.mmap(4096, { flags: MAP_SHARED | MAP_ANONYMOUS }));
    run(p.write(addr, new Uint8Array([7])));
    const c = run(p.fork());
    // Mapped once (the child has no PTE), so MPOL_MF_MOVE moves it: no EACCES (move_pages(2)).
    const r = await Effect.runPromise(p.movePages(0, [addr], [1]));
    expect([...r.status]).toEqual([1]);
    expect(c.mm!.findVma(addr)!.ptes[0]).toBe(0);
    expect(run(c.nodeOf(addr))).toBe(1);
    expect(folioAt(c, addr).pfn).toBe(folioAt(p, addr).pfn);
    expect(run(c.read(addr, 1))[0]).toBe(7);
    expect(folioAt(p, addr).mapcount).toBe(2);
    expectConsistent(k);
  });

  it("frees every page when all processes exit", () => {
    const k = boot({ thp: { enabled: "always" } });
    const free = k.pageAlloc.totalFreePages();
    const p = run(k.createProcess());
    const addr = mapPattern(p, 6 * MiB, 9);
    const c = run(p.fork());
    run(c.write(addr + MiB, new Uint8Array([1])));
    run(p.exit());
    run(c.exit());
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    expectConsistent(k);
  });
});

describe("files and the page cache", () => {
  // filemap_fault() → filemap_alloc_folio() (mm/filemap.c) allocates without __GFP_ZERO: the
  // file's ->read_folio() writes every byte, zeros for a hole (brd clears a sector it has no page
  // for). The frame a process just filled with 0xee and freed is reused for a hole of a file and
  // reads as zeros; the written-back page beside it reads as written.
  it("a page-cache folio read from the file's storage is filled whole by the read: a hole reads zeros in a reused frame", () => {
    const k = boot();
    const p = run(k.createProcess({ node: 0 }));
    const file = run(k.createFile("data"));
    file.mapping.backing!.write(1, new Uint8Array(4096).fill(0x5a));
    const anon = run(p.mmap(4096));
    run(p.write(anon, new Uint8Array(4096).fill(0xee)));
    const frame = ptePfn(pteAt(p, anon));
    run(p.munmap(anon, 4096));
    run(file.truncate(8192));
    const addr = run(p.mmap(8192, { flags: MAP_SHARED, file }));
    expectBytes(run(p.read(addr, 4096)), new Uint8Array(4096));
    expect(ptePfn(pteAt(p, addr))).toBe(frame);
    expectBytes(run(p.read(addr + 4096, 4096)), new Uint8Array(4096).fill(0x5a));
    expectConsistent(k);
  });

  it("shares page cache folios between shared mappings and keeps them cached after munmap", () => {
    const k = boot();
    const file = run(k.createFile("data"));
    expectErrno(k.createFile("data"), "EEXIST");
    const a = run(k.createProcess());
    const b = run(k.createProcess());
    run(file.truncate(8192));
    const x = run(a.mmap(8192, { flags: MAP_SHARED, file }));
    const y = run(b.mmap(4096, { flags: MAP_SHARED, file, offset: 4096 }));
    run(a.write(x + 4096 + 10, new Uint8Array([42])));
    expect(run(b.read(y + 10, 1))[0]).toBe(42);
    const folio = file.folioAt(1)!;
    expect(folio.dirty).toBe(true);
    expect(folio.anon).toBe(false);
    expect(folio.mapcount).toBe(2);
    expect(folio.refcount).toBe(3);
    run(a.munmap(x, 8192));
    run(b.munmap(y, 4096));
    // The write fault at page 1 read around itself (do_sync_mmap_readahead(), mm/filemap.c):
    // from page 0, cut at the end of the 2-page file.
    expect(file.cachedFolios).toBe(2);
    expect(file.folioAt(0)!.refcount).toBe(1);
    expect(file.folioAt(1)!.refcount).toBe(1);
    expectConsistent(k);
    run(file.truncate());
    expect(file.cachedFolios).toBe(0);
    expectConsistent(k);
  });

  it("copies on write in a private file mapping, leaving the file untouched", () => {
    const k = boot();
    const file = run(k.createFile("lib"));
    const w = run(k.createProcess());
    run(file.truncate(4096));
    const shared = run(w.mmap(4096, { flags: MAP_SHARED, file }));
    run(w.write(shared, new Uint8Array([5])));
    const p = run(k.createProcess());
    const priv = run(p.mmap(4096, { flags: MAP_PRIVATE, file }));
    expect(run(p.read(priv, 1))[0]).toBe(5);
    expect(folioAt(p, priv).pfn).toBe(file.folioAt(0)!.pfn);
    run(p.write(priv, new Uint8Array([6])));
    expect(folioAt(p, priv).anon).toBe(true);
    expect(run(w.read(shared, 1))[0]).toBe(5);
    expect(run(p.read(priv, 1))[0]).toBe(6);
    expectConsistent(k);
  });

  it("tracks dirty and writeback state of cached folios", () => {
    const k = boot();
    const file = run(k.createFile("log"));
    const p = run(k.createProcess());
    run(file.truncate(4096));
    const addr = run(p.mmap(4096, { flags: MAP_SHARED, file }));
    expect(file.startWriteback(0)).toBe(false);
    run(p.write(addr, new Uint8Array([1])));
    expect(file.startWriteback(0)).toBe(true);
    expect(file.folioAt(0)!.writeback).toBe(true);
    expect(file.folioAt(0)!.dirty).toBe(false);
    expect(file.endWriteback(0)).toBe(true);
    expect(file.folioAt(0)!.writeback).toBe(false);
  });

  it("frees a shared anonymous object with its last mapping", () => {
    const k = boot();
    const free = k.pageAlloc.totalFreePages();
    const p = run(k.createProcess());
    const addr = run(p.mmap(8 * 4096, { flags: MAP_SHARED | MAP_ANONYMOUS }));
    run(p.write(addr, pattern(8 * 4096, 2)));
    const c = run(p.fork());
    run(p.munmap(addr, 8 * 4096));
    expectBytes(run(c.read(addr, 8 * 4096)), pattern(8 * 4096, 2));
    run(c.munmap(addr, 8 * 4096));
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    expectConsistent(k);
  });
});

// do_read_fault() → do_fault_around() → filemap_map_pages() (mm/memory.c, mm/filemap.c, Linux
// 6.16): a read fault on a file or shmem mapping first maps the pages the page cache holds in the
// fault_around_bytes window (65536 bytes: 16 pages of 4 KiB) around it, aligned in the address
// space; write faults (do_shared_fault(), do_cow_fault()) map only their page.
describe("fault-around and finish_fault()", () => {
  const PAGE = 4096;
  /**
   * A free, PMD-aligned hint: the model's file mappings take no THP alignment of their own (the
   * top-down search puts a 2 MiB mapping at `mmap_base` - 2 MiB), and these windows are counted
   * from a PMD boundary.
   */
  const PMD_ALIGNED_HINT = 0x7fff_0000_0000;
  /** The pages of `[addr, addr + n pages)` that `task` maps, by page index. */
  const mapped = (task: Task, addr: number, n: number): number[] =>
    Array.from({ length: n }, (_, i) => i).filter((i) => pteAt(task, addr + i * PAGE) !== 0);
  const range = (from: number, to: number): number[] =>
    Array.from({ length: to - from }, (_, i) => from + i);

  it("maps the cached pages of the 64 KiB window around a read fault of a file, allocating none", () => {
    const k = boot();
    const file = run(k.createFile("data"));
    const w = run(k.createProcess());
    run(file.truncate(2 * MiB));
    const wAddr = run(w.mmap(2 * MiB, { flags: MAP_SHARED, file, addr: PMD_ALIGNED_HINT }));
    // MADV_RANDOM (VM_RAND_READ): the faults of both mappings read no more than their page.
    run(w.madvise(wAddr, 2 * MiB, MADV_RANDOM));
    // The writer caches the even pages 0..62 and page 33 (write faults: one page each).
    for (const i of [...range(0, 32).map((j) => 2 * j), 33])
      run(w.write(wAddr + i * PAGE, new Uint8Array([i])));
    expect(file.cachedFolios).toBe(33);
    expect(mapped(w, wAddr, 64)).toEqual(
      [...range(0, 32).map((j) => 2 * j), 33].sort((a, b) => a - b),
    );
    const r = run(k.createProcess());
    const addr = run(r.mmap(2 * MiB, { flags: MAP_SHARED, file, addr: PMD_ALIGNED_HINT }));
    expect(addr % (2 * MiB)).toBe(0);
    run(r.madvise(addr, 2 * MiB, MADV_RANDOM));
    const faults = k.vmstat.get("pgfault");
    expect(run(r.read(addr + 20 * PAGE, 1))[0]).toBe(20);
    // One fault mapped the even pages 16..30 (the window 16..31), nothing uncached.
    expect(k.vmstat.get("pgfault")).toBe(faults + 1);
    expect(mapped(r, addr, 64)).toEqual([16, 18, 20, 22, 24, 26, 28, 30]);
    expect(file.cachedFolios).toBe(33);
    for (const i of [16, 30]) {
      const folio = folioAt(r, addr + i * PAGE);
      expect(folio.pfn).toBe(file.folioAt(i)!.pfn);
      expect(folio.mapcount).toBe(2);
      expect(folio.refcount).toBe(3); // the page cache's, w's and r's
      expect(pteWrite(pteAt(r, addr + i * PAGE))).toBe(true);
      expect(pteDirty(pteAt(r, addr + i * PAGE))).toBe(false);
    }
    // The pages it mapped read without a fault.
    expect(run(r.read(addr + 30 * PAGE, 1))[0]).toBe(30);
    expect(k.vmstat.get("pgfault")).toBe(faults + 1);
    // An uncached page faults: the window (32..47) maps what is cached, then ->fault() caches
    // and maps the page.
    expectBytes(run(r.read(addr + 35 * PAGE, 1)), new Uint8Array(1));
    expect(k.vmstat.get("pgfault")).toBe(faults + 2);
    expect(mapped(r, addr + 32 * PAGE, 16)).toEqual([0, 1, 2, 3, 4, 6, 8, 10, 12, 14]);
    expect(file.cachedFolios).toBe(34);
    // A write fault maps its page only (do_shared_fault()).
    run(r.write(addr + 4 * PAGE, new Uint8Array([9])));
    expect(mapped(r, addr, 16)).toEqual([4]);
    expectConsistent(k);
  });

  it("maps around a read fault of a private file mapping read-only; a write copies its one page", () => {
    const k = boot();
    const file = run(k.createFile("lib"));
    const w = run(k.createProcess());
    run(file.truncate(2 * MiB));
    const wAddr = run(w.mmap(2 * MiB, { flags: MAP_SHARED, file, addr: PMD_ALIGNED_HINT }));
    run(w.write(wAddr, pattern(16 * PAGE, 3)));
    const p = run(k.createProcess());
    const addr = run(p.mmap(2 * MiB, { flags: MAP_PRIVATE, file, addr: PMD_ALIGNED_HINT }));
    expectBytes(
      run(p.read(addr + 5 * PAGE, PAGE)),
      pattern(16 * PAGE, 3).subarray(5 * PAGE, 6 * PAGE),
    );
    expect(mapped(p, addr, 32)).toEqual(range(0, 16));
    for (const i of range(0, 16)) {
      expect(pteWrite(pteAt(p, addr + i * PAGE))).toBe(false);
      expect(folioAt(p, addr + i * PAGE).pfn).toBe(file.folioAt(i)!.pfn);
    }
    // do_cow_fault() of a page not mapped yet: one anonymous page, no fault-around.
    const q = run(k.createProcess());
    const qAddr = run(q.mmap(2 * MiB, { flags: MAP_PRIVATE, file, addr: PMD_ALIGNED_HINT }));
    run(q.write(qAddr + 7 * PAGE, new Uint8Array([1])));
    expect(mapped(q, qAddr, 32)).toEqual([7]);
    expect(folioAt(q, qAddr + 7 * PAGE).anon).toBe(true);
    expectConsistent(k);
  });

  it("skips a locked folio (next_uptodate_folio()), and maps one page when fault_around_bytes is a page", () => {
    const k = boot();
    const file = run(k.createFile("data"));
    const w = run(k.createProcess());
    run(file.truncate(2 * MiB));
    const wAddr = run(w.mmap(2 * MiB, { flags: MAP_SHARED, file, addr: PMD_ALIGNED_HINT }));
    run(w.write(wAddr, new Uint8Array(16 * PAGE)));
    const locked = file.folioAt(3)!.pfn;
    k.memmap.set(locked, PG_locked);
    const r = run(k.createProcess());
    const addr = run(r.mmap(2 * MiB, { flags: MAP_SHARED, file, addr: PMD_ALIGNED_HINT }));
    run(r.read(addr, 1));
    expect(mapped(r, addr, 16)).toEqual(range(0, 16).filter((i) => i !== 3));
    k.memmap.clear(locked, PG_locked);
    // should_fault_around(): a single page implies no fault-around at all.
    run(k.fs.write("/sys/kernel/debug/fault_around_bytes", "4096"));
    expect(k.faultAroundPages).toBe(1);
    const s = run(k.createProcess());
    const sAddr = run(s.mmap(2 * MiB, { flags: MAP_SHARED, file, addr: PMD_ALIGNED_HINT }));
    run(s.read(sAddr + 9 * PAGE, 1));
    expect(mapped(s, sAddr, 16)).toEqual([9]);
    expectConsistent(k);
  });

  // set_pte_range() (mm/memory.c, Linux 6.16) builds each PTE with mk_pte() from x86's
  // vm_page_prot, which carries _PAGE_ACCESSED, and makes a prefaulted one old only where
  // arch_wants_old_prefaulted_pte(), false on x86: the pages fault-around maps are young, and
  // folio_referenced() (mm/rmap.c) finds them once.
  it("maps fault-around's pages young, so folio_referenced() counts them before any access", () => {
    const k = boot();
    const file = run(k.createFile("data"));
    const w = run(k.createProcess());
    run(file.truncate(16 * PAGE));
    const wAddr = run(w.mmap(16 * PAGE, { flags: MAP_SHARED, file, addr: PMD_ALIGNED_HINT }));
    run(w.write(wAddr, new Uint8Array(16 * PAGE)));
    run(w.munmap(wAddr, 16 * PAGE));
    const r = run(k.createProcess());
    const addr = run(r.mmap(16 * PAGE, { flags: MAP_SHARED, file, addr: PMD_ALIGNED_HINT }));
    run(r.read(addr, 1));
    expect(mapped(r, addr, 16)).toEqual(range(0, 16));
    // Page 9 was mapped by fault-around and never accessed.
    expect(pteYoung(pteAt(r, addr + 9 * PAGE))).toBe(true);
    const pfn = file.folioAt(9)!.pfn;
    expect(folioReferenced(k, pfn)).toBe(1);
    expect(pteYoung(pteAt(r, addr + 9 * PAGE))).toBe(false);
    expect(folioReferenced(k, pfn)).toBe(0);
    expectConsistent(k);
  });

  // fault_around_bytes_get()/fault_around_bytes_set() (mm/memory.c, Linux 6.16) through
  // debugfs_attr_write() → simple_attr_write() (fs/libfs.c): kstrtoull() base 0 of the first 23
  // bytes of a 24-byte set_buf; EINVAL past
  // PTRS_PER_PTE pages; rounddown_pow_of_two(max(val, PAGE_SIZE)).
  it("parses /sys/kernel/debug/fault_around_bytes as fault_around_bytes_set() does", () => {
    const file = "/sys/kernel/debug/fault_around_bytes";
    const k = boot();
    expect(run(k.fs.read(file))).toBe("65536\n");
    expect(k.faultAroundPages).toBe(16);
    const set = (text: string) => {
      run(k.fs.write(file, text));
      return run(k.fs.read(file));
    };
    expect(set("12288")).toBe("8192\n");
    expect(set("0")).toBe("4096\n");
    expect(set("100")).toBe("4096\n");
    expect(set("0x10000\n")).toBe("65536\n");
    expect(set("2097152")).toBe("2097152\n"); // PTRS_PER_PTE (512) pages
    expect(set("2101247")).toBe("2097152\n"); // 2101247 / 4096 is still 512
    expect(k.faultAroundPages).toBe(512);
    // Only the first 23 bytes are parsed: 0x…1000, not 0x…10000.
    expect(set(`0x${"0".repeat(17)}10000`)).toBe("4096\n");
    expectErrno(k.fs.write(file, "2101248"), "EINVAL");
    for (const bad of ["-1", " 4096", "4096 ", "4k", "\n"])
      expectErrno(k.fs.write(file, bad), "EINVAL");
    expectErrno(k.fs.write(file, "18446744073709551616"), "ERANGE");
    expect(run(k.fs.read(file))).toBe("4096\n");
    // debugfs_attr_write() is not sysfs_kf_write(): an empty write reaches simple_attr_write(),
    // whose kstrtoull("") is EINVAL (sysfs returns 0 without calling the store), and a write
    // longer than a page is counted whole, only its first 23 bytes parsed (up to the NUL here).
    expectErrno(k.fs.write(file, ""), "EINVAL");
    expect(run(k.fs.write(file, `8192\0${"x".repeat(5000)}`))).toBe(5005);
    expect(run(k.fs.read(file))).toBe("8192\n");
    expect(run(k.fs.write(file, "16384\n"))).toBe(6);
    // 16 KiB pages: 4 pages at boot, PTRS_PER_PTE 2048 (32 MiB); 64 KiB pages: one page, none
    // around.
    const k16 = boot({ pageSize: 16384 });
    expect(run(k16.fs.read(file))).toBe("65536\n");
    expect(k16.faultAroundPages).toBe(4);
    run(k16.fs.write(file, String(32 * MiB)));
    expect(k16.faultAroundPages).toBe(2048);
    expectErrno(k16.fs.write(file, String(32 * MiB + 16384)), "EINVAL");
    const k64 = boot({ pageSize: 65536 });
    expect(run(k64.fs.read(file))).toBe("65536\n");
    expect(k64.faultAroundPages).toBe(1);
  });

  // finish_fault() (mm/memory.c, Linux 6.16): a fault on anonymous shmem maps the whole large
  // folio when it lies within the VMA and the PTE table and all its PTEs are none; else the page.
  it("maps a whole shmem mTHP on its first fault, and one page where the folio leaves the VMA or a PTE is mapped", () => {
    const THP = "/sys/kernel/mm/transparent_hugepage";
    const k = boot();
    run(k.fs.write(`${THP}/hugepages-64kB/shmem_enabled`, "always"));
    run(k.fs.write(`${THP}/hugepages-128kB/shmem_enabled`, "always"));
    const p = run(k.createProcess());
    const addr = run(p.mmap(4 * MiB, { flags: MAP_SHARED | MAP_ANONYMOUS }));
    const c = run(p.fork());
    const d = run(p.fork());
    run(d.munmap(addr + 8 * PAGE, 4 * MiB - 8 * PAGE)); // d keeps pages 0..7
    const faults = k.vmstat.get("pgfault");
    run(p.write(addr + 5 * PAGE, new Uint8Array([1])));
    const folio = folioAt(p, addr);
    expect(folio.order).toBe(5); // 128 KiB: pages 0..31
    expect(mapped(p, addr, 64)).toEqual(range(0, 32));
    for (const i of range(0, 32)) {
      const pte = pteAt(p, addr + i * PAGE);
      expect(ptePfn(pte)).toBe(folio.pfn + i);
      expect(pteWrite(pte) && pteDirty(pte)).toBe(true);
    }
    expect(folio.mapcount).toBe(32);
    expect(folio.refcount).toBe(64); // 32 for the page cache, 32 for the PTEs
    run(p.write(addr, new Uint8Array(32 * PAGE).fill(2)));
    expect(k.vmstat.get("pgfault")).toBe(faults + 1);
    // c: a read maps the window 16..31 (fault-around); a write to page 3 then finds PTEs mapped
    // in the folio's range (pte_range_none() false) and maps its page alone.
    expect(run(c.read(addr + 20 * PAGE, 1))[0]).toBe(2);
    expect(mapped(c, addr, 64)).toEqual(range(16, 32));
    run(c.write(addr + 3 * PAGE, new Uint8Array([3])));
    expect(mapped(c, addr, 64)).toEqual([3, ...range(16, 32)]);
    // d: the folio reaches past d's VMA, so a write maps page 3 alone, and a read maps the
    // window clamped to the VMA (pages 0..7).
    run(d.write(addr + 3 * PAGE, new Uint8Array([4])));
    expect(mapped(d, addr, 8)).toEqual([3]);
    run(d.read(addr + 6 * PAGE, 1));
    expect(mapped(d, addr, 8)).toEqual(range(0, 8));
    expect(k.memmap.mapcount[folio.pfn + 3]).toBe(3);
    expect(k.memmap.mapcount[folio.pfn + 8]).toBe(1);
    expect(folio.mapcount).toBe(32 + 17 + 8);
    expectBytes(run(p.read(addr + 3 * PAGE, 1)), new Uint8Array([4]));
    // A first read fault maps the whole new folio too, read-write but clean.
    const q = run(k.createProcess());
    const qAddr = run(q.mmap(4 * MiB, { flags: MAP_SHARED | MAP_ANONYMOUS }));
    run(q.read(qAddr + 40 * PAGE, 1));
    expect(mapped(q, qAddr, 96)).toEqual(range(32, 64));
    expect(pteDirty(pteAt(q, qAddr + 40 * PAGE))).toBe(false);
    expectConsistent(k);
  });
});

describe("wp_page_copy() at the min watermark (mm/memory.c, Linux 6.16)", () => {
  const PAGE = 4096;
  /** Runs `effect` in a fiber and lets it go on for a while: its exit, or undefined if not done. */
  const settled = async <A, E>(effect: Effect.Effect<A, E>) => {
    const fiber = Effect.runFork(effect);
    for (let i = 0; i < 200 && !fiber.pollUnsafe(); i++) await runP(Effect.yieldNow);
    const exit = fiber.pollUnsafe();
    if (!exit) fiber.interruptUnsafe();
    return exit;
  };

  it.each([
    ["a private file page", true],
    ["an anonymous page shared with a child (fork)", false],
  ])(
    "the copy of %s takes the slow path: direct reclaim frees clean page cache",
    async (_, file) => {
      const k = boot({ nodes: ["16M"], daemons: "on-demand" });
      const p = run(k.createProcess());
      let addr: number;
      if (file) {
        const f = run(k.createFile("data"));
        run(f.truncate(PAGE));
        addr = run(p.mmap(PAGE, { flags: MAP_PRIVATE, file: f }));
        run(p.read(addr, 1));
      } else {
        addr = run(p.mmap(PAGE));
        run(p.write(addr, new Uint8Array([7])));
        run(p.fork());
      }
      // Clean page cache for direct reclaim to free, then the first tries until they fail.
      await runP(fillNodeToMin(k, 512, true));
      const [stalls, cows] = [k.vmstat.get("allocstall_normal"), k.vmstat.get("cow_fault")];
      // The write faults on the read-only PTE (do_wp_page() → wp_page_copy()): its
      // GFP_HIGHUSER_MOVABLE allocation fails its first tries and reclaims
      // (__alloc_pages_direct_reclaim(): one allocstall), then the copy is mapped.
      const exit = await settled(p.write(addr + 1, new Uint8Array([9])));
      expect(exit?._tag).toBe("Success");
      expect(k.vmstat.get("allocstall_normal")).toBe(stalls + 1);
      expect(k.vmstat.get("cow_fault")).toBe(cows + 1);
      expect(pteWrite(pteAt(p, addr))).toBe(true);
      expect(run(p.read(addr, 2))).toEqual(new Uint8Array([file ? 0 : 7, 9]));
      expectConsistent(k);
    },
  );
});
