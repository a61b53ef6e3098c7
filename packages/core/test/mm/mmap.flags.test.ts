// mmap()'s flags as do_mmap() (mm/mmap.c, Linux 6.16) takes them: the switch on
// `flags & MAP_TYPE`, LEGACY_MAP_MASK (include/linux/mman.h) for a file's MAP_SHARED and
// MAP_SHARED_VALIDATE, and unknown flags ignored elsewhere. An anonymous MAP_HUGETLB mapping is a
// file mapping there: ksys_mmap_pgoff() backs it with a hugetlbfs file before do_mmap().
import { describe, expect, it } from "vitest";
import type { Kernel, Task } from "../../src/include/kernel";
import {
  MAP_ANONYMOUS,
  MAP_DROPPABLE,
  MAP_FIXED_NOREPLACE,
  MAP_GROWSDOWN,
  MAP_HUGE_1GB,
  MAP_HUGE_2MB,
  MAP_HUGE_SHIFT,
  MAP_HUGETLB,
  MAP_LOCKED,
  MAP_NONBLOCK,
  MAP_NORESERVE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_SHARED_VALIDATE,
  MAP_STACK,
  MAP_TYPE,
  PROT_EXEC,
  PROT_GROWSDOWN,
  PROT_GROWSUP,
  PROT_READ,
  PROT_SEM,
  PROT_WRITE,
  VM_EXEC,
  VM_GROWSDOWN,
  VM_LOCKED,
  VM_NOHUGEPAGE,
  VM_NORESERVE,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
} from "../../src/index";
import {
  boot,
  expectChildSignal,
  expectConsistent,
  expectErrno,
  expectSignal,
  folioAt,
  pattern,
  run,
  runP,
} from "../../src/testing/index";

const HUGE = 2 ** 21;
/** A bit no architecture gives a meaning (include/uapi/asm-generic/mman*.h, x86's asm/mman.h). */
const UNUSED = 0x1000000;
/** `MAP_SYNC` (include/uapi/asm-generic/mman.h): outside LEGACY_MAP_MASK; no model file has it. */
const MAP_SYNC = 0x80000;

/** nr, free, resv, surplus of the 2 MiB hstate, as sysfs shows them. */
const counters = (k: Kernel): number[] =>
  ["nr_hugepages", "free_hugepages", "resv_hugepages", "surplus_hugepages"].map((f) =>
    Number(run(k.fs.read(`/sys/kernel/mm/hugepages/hugepages-2048kB/${f}`)).trim()),
  );
const vmas = (p: Task) => p.mm!.vmas.map((v) => [v.start, v.end, v.flags]);

describe("mmap flags: do_mmap()'s MAP_TYPE switch and LEGACY_MAP_MASK (mm/mmap.c, Linux 6.16)", () => {
  it("MAP_PRIVATE takes unknown flags, anonymous or file, and ignores them", () => {
    const k = boot();
    const p = run(k.createProcess());
    const anon = run(p.mmap(8192, { flags: MAP_PRIVATE | MAP_ANONYMOUS | UNUSED }));
    run(p.write(anon, pattern(8192, 1)));
    expect([...run(p.read(anon, 8192))]).toEqual([...pattern(8192, 1)]);
    const file = run(k.createFile("f"));
    run(file.truncate(4096));
    run(p.mmap(4096, { flags: MAP_PRIVATE | UNUSED | MAP_SYNC, file, prot: PROT_READ }));
    expectConsistent(k);
  });

  it("anonymous MAP_SHARED takes unknown flags and stays shared", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4096, { flags: MAP_SHARED | MAP_ANONYMOUS | UNUSED }));
    expect(p.mm!.findVma(addr)!.flags & VM_SHARED).toBe(VM_SHARED);
    const child = run(p.fork());
    run(child.write(addr, pattern(4096, 2)));
    expect([...run(p.read(addr, 4096))]).toEqual([...pattern(4096, 2)]);
  });

  it("a file's MAP_SHARED drops flags outside LEGACY_MAP_MASK (MAP_SYNC, unknown bits)", () => {
    const k = boot();
    const p = run(k.createProcess());
    const file = run(k.createFile("f"));
    run(file.truncate(4096));
    const addr = run(
      p.mmap(4096, { flags: MAP_SHARED | MAP_SYNC | UNUSED, file, prot: PROT_READ | PROT_WRITE }),
    );
    expect(p.mm!.findVma(addr)!.flags & VM_SHARED).toBe(VM_SHARED);
    expectConsistent(k);
  });

  it("a file's MAP_SHARED_VALIDATE maps shared with legacy flags", () => {
    const k = boot();
    const p = run(k.createProcess());
    const file = run(k.createFile("f"));
    run(file.truncate(4096));
    const a = run(p.mmap(4096, { flags: MAP_SHARED_VALIDATE | MAP_POPULATE, file }));
    const b = run(p.mmap(4096, { flags: MAP_SHARED, file }));
    run(p.write(a, pattern(4096, 3)));
    expect([...run(p.read(b, 4096))]).toEqual([...pattern(4096, 3)]);
    expect(p.mm!.findVma(a)!.flags & VM_SHARED).toBe(VM_SHARED);
  });

  it("EOPNOTSUPP for a file's MAP_SHARED_VALIDATE with MAP_SYNC, an unknown bit or MAP_FIXED_NOREPLACE", () => {
    const k = boot();
    const p = run(k.createProcess());
    const file = run(k.createFile("f"));
    const before = vmas(p);
    for (const extra of [MAP_SYNC, UNUSED, MAP_FIXED_NOREPLACE]) {
      const addr = extra === MAP_FIXED_NOREPLACE ? 0x1000_0000 : 0;
      run(file.truncate(4096));
      expectErrno(p.mmap(4096, { flags: MAP_SHARED_VALIDATE | extra, file, addr }), "EOPNOTSUPP");
    }
    expect(vmas(p)).toEqual(before);
  });

  it("EINVAL for anonymous MAP_SHARED_VALIDATE, and for a type that is none of the four", () => {
    const k = boot();
    const p = run(k.createProcess());
    const file = run(k.createFile("f"));
    const before = vmas(p);
    expectErrno(p.mmap(4096, { flags: MAP_SHARED_VALIDATE | MAP_ANONYMOUS }), "EINVAL");
    for (const type of [0, 0x04, 0x05, 0x07, 0x09, MAP_TYPE]) {
      expectErrno(p.mmap(4096, { flags: type | MAP_ANONYMOUS }), "EINVAL");
      run(file.truncate(4096));
      expectErrno(p.mmap(4096, { flags: type, file }), "EINVAL");
    }
    // MAP_DROPPABLE is an anonymous type only: a file's is EINVAL.
    expectErrno(p.mmap(4096, { flags: MAP_DROPPABLE, file }), "EINVAL");
    expect(vmas(p)).toEqual(before);
  });

  it("anonymous MAP_DROPPABLE maps a private VM_DROPPABLE VMA (x86-64 has VM_DROPPABLE)", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4096, { flags: MAP_DROPPABLE | MAP_ANONYMOUS }));
    const vma = p.mm!.findVma(addr)!;
    expect([vma.droppable, vma.flags & VM_SHARED]).toEqual([true, 0]);
  });

  it("MAP_GROWSDOWN of private anonymous memory is followed: VM_GROWSDOWN (calc_vm_flag_bits())", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4096, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN }));
    expect(p.mm!.findVma(addr)!.flags & VM_GROWSDOWN).toBe(VM_GROWSDOWN);
  });

  it("MAP_LOCKED mlocks and populates the mapping (VM_LOCKED, do_mmap()'s *populate); a hugetlb one is populated, not VM_LOCKED", async () => {
    const k = boot();
    const p = run(k.createProcess());
    const before = k.vmstat.get("nr_mlock");
    const addr = await runP(
      p.mmap(4 * 4096, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, hugepage: false }),
    );
    expect(p.mm!.findVma(addr)!.flags & VM_LOCKED).toBe(VM_LOCKED);
    for (let i = 0; i < 4; i++) expect(folioAt(p, addr + i * 4096).mlocked).toBe(true);
    expect(k.vmstat.get("nr_mlock") - before).toBe(4);
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "1"));
    const huge = await runP(
      p.mmap(HUGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_LOCKED }),
    );
    expect(p.mm!.findVma(huge)!.flags & VM_LOCKED).toBe(0);
    expect(counters(k)).toEqual([1, 0, 0, 0]);
    expectConsistent(k);
  });

  it("MAP_POPULATE | MAP_NONBLOCK populates nothing; MAP_STACK maps VM_NOHUGEPAGE (Linux 6.7+), so a fault gets a base page", async () => {
    const k = boot();
    const p = run(k.createProcess());
    const flags = MAP_PRIVATE | MAP_ANONYMOUS;
    const lazy = await runP(p.mmap(2 * 4096, { flags: flags | MAP_POPULATE | MAP_NONBLOCK }));
    expect(p.mm!.findVma(lazy)!.ptes.every((pte) => pte === 0)).toBe(true);
    const stack = await runP(p.mmap(2 * HUGE, { flags: flags | MAP_STACK }));
    expect(p.mm!.findVma(stack)!.flags & VM_NOHUGEPAGE).toBe(VM_NOHUGEPAGE);
    const thp = k.vmstat.get("thp_fault_alloc");
    const at = stack + HUGE - (stack % HUGE);
    run(p.write(at, new Uint8Array([1])));
    expect(k.memmap.folioOrder(folioAt(p, at).pfn)).toBe(0);
    expect(k.vmstat.get("thp_fault_alloc")).toBe(thp);
    expectConsistent(k);
  });

  it("anonymous hugetlb goes the file way: MAP_SHARED_VALIDATE maps, with MAP_HUGE_2MB too", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "2"));
    const p = run(k.createProcess());
    const flags = MAP_SHARED_VALIDATE | MAP_ANONYMOUS | MAP_HUGETLB;
    const a = run(p.mmap(HUGE, { flags }));
    const b = run(p.mmap(HUGE, { flags: flags | MAP_HUGE_2MB }));
    expect(p.mm!.findVma(a)!.flags & VM_SHARED).toBe(VM_SHARED);
    expect(p.mm!.findVma(b)!.flags & VM_SHARED).toBe(VM_SHARED);
    expectConsistent(k);
  });

  it("hugetlb MAP_SHARED_VALIDATE: EOPNOTSUPP for MAP_SYNC or an unknown bit; MAP_DROPPABLE is EINVAL", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "2"));
    const p = run(k.createProcess());
    const flags = MAP_SHARED_VALIDATE | MAP_ANONYMOUS | MAP_HUGETLB;
    expectErrno(p.mmap(HUGE, { flags: flags | MAP_SYNC }), "EOPNOTSUPP");
    expectErrno(p.mmap(HUGE, { flags: flags | UNUSED }), "EOPNOTSUPP");
    // Both huge page sizes x86-64 has lie inside LEGACY_MAP_MASK (bits 26-30); a size with no
    // hstate is EINVAL before do_mmap() (ksys_mmap_pgoff()).
    expect((MAP_HUGE_1GB | MAP_HUGE_2MB) >>> MAP_HUGE_SHIFT).toBe(31);
    expectErrno(p.mmap(HUGE, { flags: flags | (32 << MAP_HUGE_SHIFT) }), "EINVAL");
    expectErrno(p.mmap(HUGE, { flags: MAP_DROPPABLE | MAP_ANONYMOUS | MAP_HUGETLB }), "EINVAL");
    expect(p.mm!.vmas).toHaveLength(0);
    // MAP_SHARED drops the unknown bit instead.
    run(p.mmap(HUGE, { flags: MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB | UNUSED | MAP_SYNC }));
    expect(counters(k)).toEqual([2, 2, 1, 0]);
    expectConsistent(k);
  });
});

// do_mmap() (mm/mmap.c, Linux 6.16) never checks prot: calc_vm_prot_bits() (include/linux/mman.h)
// turns PROT_READ, PROT_WRITE and PROT_EXEC into VM_ flags and, on x86-64, adds only protection
// key bits, so PROT_SEM, PROT_GROWSDOWN, PROT_GROWSUP and unknown bits map and set nothing.
describe("mmap prot: do_mmap() ignores bits calc_vm_prot_bits() does not translate (Linux 6.16)", () => {
  /** More than the 32768 pages of RAM boot() gives: the overcommit heuristic refuses it. */
  const BIG = 2 ** 28;
  const IGNORED = [
    PROT_SEM,
    PROT_GROWSDOWN,
    PROT_GROWSUP,
    PROT_GROWSDOWN | PROT_GROWSUP,
    0x10,
    2 ** 40,
  ];

  it("maps with PROT_SEM, PROT_GROWSDOWN, PROT_GROWSUP or unknown bits, with the flags the rest give", () => {
    const k = boot();
    const p = run(k.createProcess());
    const none = run(p.mmap(4096, { prot: 0 }));
    const rwx = run(p.mmap(4096, { prot: PROT_READ | PROT_WRITE | PROT_EXEC }));
    const noneFlags = p.mm!.findVma(none)!.flags;
    const rwxFlags = p.mm!.findVma(rwx)!.flags;
    expect(rwxFlags & (VM_READ | VM_WRITE | VM_EXEC)).toBe(VM_READ | VM_WRITE | VM_EXEC);
    for (const bits of IGNORED) {
      // PROT_SEM alone (LTP's mmap tests' 8) maps as PROT_NONE would: no access.
      const bare = run(p.mmap(4096, { prot: bits }));
      expect(p.mm!.findVma(bare)!.flags).toBe(noneFlags);
      expectChildSignal(p, (c) => c.read(bare, 1), "SIGSEGV", "SEGV_ACCERR");
      const addr = run(p.mmap(4096, { prot: PROT_READ | PROT_WRITE | PROT_EXEC | bits }));
      // PROT_GROWSDOWN gives no VM_GROWSDOWN: only MAP_GROWSDOWN does (calc_vm_flag_bits()).
      expect(p.mm!.findVma(addr)!.flags).toBe(rwxFlags);
      run(p.write(addr, pattern(4096, bits % 251)));
      expect([...run(p.read(addr, 4096))]).toEqual([...pattern(4096, bits % 251)]);
    }
    expectConsistent(k);
  });

  it("an ignored bit changes no overcommit charge: writable private memory is still charged", () => {
    const k = boot();
    const p = run(k.createProcess());
    expectErrno(p.mmap(BIG, { prot: PROT_READ | PROT_WRITE | PROT_SEM }), "ENOMEM");
    expect(p.mm!.vmas).toHaveLength(0);
    // Without PROT_WRITE there is nothing to charge (accountable_mapping()).
    const addr = run(p.mmap(BIG, { prot: PROT_SEM | 0x10 }));
    expect(p.mm!.findVma(addr)!.end - addr).toBe(BIG);
  });

  it("EINVAL for a prot that is no integer, before anything is mapped", () => {
    const k = boot();
    const p = run(k.createProcess());
    for (const prot of [1.5, Number.NaN, "rw" as never]) {
      expectErrno(p.mmap(4096, { prot }), "EINVAL");
    }
    expect(p.mm!.vmas).toHaveLength(0);
  });
});

describe("MAP_NORESERVE: VM_NORESERVE, no overcommit charge and no hugetlb reservation (Linux 6.16)", () => {
  /** More than the 32768 pages of RAM boot() gives: the overcommit heuristic refuses it. */
  const BIG = 2 ** 28;

  it("a private writable or shared anonymous mapping larger than RAM is not charged (accountable_mapping(), shmem_acct_size())", () => {
    const k = boot();
    const p = run(k.createProcess());
    for (const type of [MAP_PRIVATE, MAP_SHARED]) {
      expectErrno(p.mmap(BIG, { flags: type | MAP_ANONYMOUS }), "ENOMEM");
      const addr = run(p.mmap(BIG, { flags: type | MAP_ANONYMOUS | MAP_NORESERVE }));
      expect(p.mm!.findVma(addr)!.flags & VM_NORESERVE).toBe(VM_NORESERVE);
      run(p.write(addr + BIG - 4096, pattern(4096, 4)));
      expect([...run(p.read(addr + BIG - 4096, 4096))]).toEqual([...pattern(4096, 4)]);
    }
    expectConsistent(k);
  });

  it("mprotect() making a VM_NORESERVE mapping writable charges nothing (mprotect_fixup())", () => {
    const k = boot();
    const p = run(k.createProcess());
    const plain = run(p.mmap(BIG, { flags: MAP_PRIVATE | MAP_ANONYMOUS, prot: PROT_READ }));
    expectErrno(p.mprotect(plain, BIG, PROT_READ | PROT_WRITE), "ENOMEM");
    const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    const addr = run(p.mmap(BIG, { flags, prot: PROT_READ }));
    run(p.mprotect(addr, BIG, PROT_READ | PROT_WRITE));
    run(p.write(addr, pattern(4096, 5)));
  });

  it("hugetlb: no reservation at mmap, free_hugepages drops at each fault, SIGBUS once the pool is empty", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "2"));
    const p = run(k.createProcess());
    const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB;
    // Four huge pages cannot be reserved from a pool of two; without reserving, they map.
    expectErrno(p.mmap(4 * HUGE, { flags }), "ENOMEM");
    const addr = run(p.mmap(4 * HUGE, { flags: flags | MAP_NORESERVE }));
    expect(counters(k)).toEqual([2, 2, 0, 0]);
    run(p.write(addr, pattern(4096, 6)));
    expect(counters(k)).toEqual([2, 1, 0, 0]);
    run(p.write(addr + HUGE, pattern(4096, 7)));
    expect(counters(k)).toEqual([2, 0, 0, 0]);
    expect([...run(p.read(addr, 4096))]).toEqual([...pattern(4096, 6)]);
    // alloc_hugetlb_folio(): no reserved or free page and no surplus allowed → VM_FAULT_SIGBUS,
    // which x86's do_sigbus() sends as SIGBUS (7), BUS_ADRERR (2): the process dies of it (LTP
    // hugemmap and the selftests' hugetlb tests catch it in a forked child).
    const e = expectSignal(p.write(addr + 2 * HUGE, pattern(4096, 8)), "SIGBUS", "BUS_ADRERR");
    expect([e.signo, e.siCode, e.addr]).toEqual([7, 2, addr + 2 * HUGE]);
    expect([p.exited, p.exitCode]).toEqual([true, 7]);
    // Its exit gave both pages back.
    expect(counters(k)).toEqual([2, 2, 0, 0]);
    expectConsistent(k);
  });

  it("hugetlb: a VM_NORESERVE fault takes no page another mapping reserved (vma_has_reserves())", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "2"));
    const p = run(k.createProcess());
    const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB;
    const reserving = run(p.mmap(HUGE, { flags }));
    expect(counters(k)).toEqual([2, 2, 1, 0]);
    const noresv = run(p.mmap(2 * HUGE, { flags: flags | MAP_NORESERVE }));
    run(p.write(noresv, pattern(4096, 9)));
    expect(counters(k)).toEqual([2, 1, 1, 0]);
    // The last free page is promised to the reserving mapping: a fault elsewhere is SIGBUS.
    expectChildSignal(p, (c) => c.write(noresv + HUGE, pattern(4096, 10)), "SIGBUS", "BUS_ADRERR");
    run(p.write(reserving, pattern(4096, 11)));
    expect(counters(k)).toEqual([2, 0, 0, 0]);
    expectConsistent(k);
  });

  it("hugetlb: a shared VM_NORESERVE page enters the file's region map, so its release leaves resv_hugepages at 0", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "2"));
    const p = run(k.createProcess());
    const flags = MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB | MAP_NORESERVE;
    const addr = run(p.mmap(2 * HUGE, { flags }));
    expect(counters(k)).toEqual([2, 2, 0, 0]);
    run(p.write(addr, pattern(4096, 12)));
    expect(counters(k)).toEqual([2, 1, 0, 0]);
    // A fork child shares the page through the page cache.
    const child = run(p.fork());
    expect([...run(child.read(addr, 4096))]).toEqual([...pattern(4096, 12)]);
    run(child.exit());
    run(p.munmap(addr, 2 * HUGE));
    // hugetlb_unreserve_pages(): one region, one page freed: nothing to return.
    expect(counters(k)).toEqual([2, 2, 0, 0]);
    expectConsistent(k);
  });

  it("hugetlb: a VM_NORESERVE fault takes a surplus page when nr_overcommit_hugepages allows", () => {
    const k = boot();
    run(k.fs.write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_overcommit_hugepages", "1"));
    const p = run(k.createProcess());
    const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_NORESERVE;
    const addr = run(p.mmap(2 * HUGE, { flags }));
    expect(counters(k)).toEqual([0, 0, 0, 0]);
    run(p.write(addr, pattern(4096, 13)));
    expect(counters(k)).toEqual([1, 0, 0, 1]);
    expectSignal(p.write(addr + HUGE, pattern(4096, 14)), "SIGBUS", "BUS_ADRERR");
    expect([p.exited, p.exitCode]).toEqual([true, 7]);
    // The exit freed the surplus page.
    expect(counters(k)).toEqual([0, 0, 0, 0]);
    expectConsistent(k);
  });

  it("hugetlb fork: a VM_NORESERVE parent is no reservation owner, so its failed copy-on-write is SIGBUS", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "1"));
    const p = run(k.createProcess());
    const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_NORESERVE;
    const addr = run(p.mmap(HUGE, { flags }));
    run(p.write(addr, pattern(4096, 15)));
    const child = run(p.fork());
    // hugetlb_wp(): no page to copy into, and no HPAGE_RESV_OWNER to take it back
    // (unmap_ref_private()): the parent gets SIGBUS and dies of it, the child keeps the page.
    const e = expectSignal(p.write(addr, pattern(4096, 16)), "SIGBUS", "BUS_ADRERR");
    expect([e.signo, e.siCode, e.addr]).toEqual([7, 2, addr]);
    expect([p.exited, p.exitCode]).toEqual([true, 7]);
    expect([...run(child.read(addr, 4096))]).toEqual([...pattern(4096, 15)]);
    expect(counters(k)).toEqual([1, 0, 0, 0]);
    // The child, the page's one mapper now, reuses it on its write.
    run(child.write(addr, pattern(4096, 17)));
    expect(counters(k)).toEqual([1, 0, 0, 0]);
    run(child.exit());
    expect(counters(k)).toEqual([1, 1, 0, 0]);
    expectConsistent(k);
  });
});
