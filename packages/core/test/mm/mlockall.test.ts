// mlockall(), munlockall() and mlock2() as Linux 6.16 runs them (mm/mlock.c): the flag checks,
// can_do_mlock(), mlockall()'s total_vm check against RLIMIT_MEMLOCK, apply_mlockall_flags() and
// mm->def_flags, MLOCK_ONFAULT / MCL_ONFAULT (VM_LOCKONFAULT, which populate_vma_page_range(),
// mm/gup.c, skips); do_mmap()'s mlock_future_ok() (mm/mmap.c) over def_flags; a locked stack's
// growth against RLIMIT_MEMLOCK (acct_stack_growth(), mm/vma.c). Expected values from LTP's
// mlockall01, mlockall02, mlock201, mlock202 and mlock203 (testcases/kernel/syscalls/).
import { describe, expect, it } from "vitest";
import {
  CAP_IPC_LOCK,
  MAP_ANONYMOUS,
  MAP_GROWSDOWN,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  MCL_CURRENT,
  MCL_FUTURE,
  MCL_ONFAULT,
  MLOCK_ONFAULT,
  mmLockedVm,
  nrMlock,
  PROT_WRITE,
  ptePresent,
  type Task,
  VM_LOCKED,
  VM_LOCKED_MASK,
  VM_LOCKONFAULT,
} from "../../src/index";
import {
  boot,
  expectConsistent,
  expectErrno,
  expectSignal,
  folioAt,
  pattern,
  pteAt,
  run,
} from "../../src/testing/index";

const PAGE = 4096;
/** The uid LTP switches its effective uid to (`getpwnam("nobody")`). */
const NOBODY = 65534;
const SHARED_ANON = MAP_SHARED | MAP_ANONYMOUS;

/** `seteuid(uid)`: `setresuid(-1, uid, -1)`, which drops or restores CAP_IPC_LOCK with it. */
const seteuid = (task: Task, uid: number) => run(task.setresuid(-1, uid, -1));

/** The VM_LOCKED_MASK bits of the VMA at `addr`. */
const lockBits = (task: Task, addr: number) => task.mm!.findVma(addr)!.flags & VM_LOCKED_MASK;

/** mincore(): how many of the `pages` pages from `addr` are present. */
const present = (task: Task, addr: number, pages: number) => {
  let n = 0;
  for (let i = 0; i < pages; i++) if (ptePresent(pteAt(task, addr + i * PAGE))) n++;
  return n;
};

describe("mlockall() errors (LTP mlockall02, mm/mlock.c)", () => {
  it("EINVAL for flags 0, MCL_ONFAULT alone and an unknown bit, before anything else", () => {
    const k = boot();
    const p = run(k.createProcess({ rlimitMemlock: 0, uid: 1000 }));
    for (const flags of [0, MCL_ONFAULT, 8, MCL_CURRENT | 8, -1, 1.5]) {
      expectErrno(p.mlockall(flags), "EINVAL");
    }
    expect(p.mm!.defFlags).toBe(0);
  });

  it("EPERM without CAP_IPC_LOCK when RLIMIT_MEMLOCK is 0 (can_do_mlock()), MCL_FUTURE too", () => {
    const k = boot();
    const p = run(k.createProcess({ rlimitMemlock: 0 }));
    const addr = run(p.mmap(PAGE));
    seteuid(p, NOBODY);
    expect(p.capable(CAP_IPC_LOCK)).toBe(false);
    expectErrno(p.mlockall(MCL_CURRENT), "EPERM");
    expectErrno(p.mlockall(MCL_FUTURE), "EPERM");
    expect([lockBits(p, addr), p.mm!.defFlags]).toEqual([0, 0]);
    seteuid(p, 0);
    run(p.mlockall(MCL_CURRENT));
    expect(lockBits(p, addr)).toBe(VM_LOCKED);
  });

  it("ENOMEM for MCL_CURRENT when total_vm passes the limit (7 bytes: 0 pages), nothing changed; MCL_FUTURE alone is not checked", () => {
    const k = boot();
    const p = run(k.createProcess({ rlimitMemlock: 7 }));
    const addr = run(p.mmap(PAGE));
    seteuid(p, NOBODY);
    const e = expectErrno(p.mlockall(MCL_CURRENT), "ENOMEM");
    expect(e.message).toMatch(/maps 1 pages, more than RLIMIT_MEMLOCK \(7 bytes, 0 pages\)/);
    expectErrno(p.mlockall(MCL_CURRENT | MCL_FUTURE), "ENOMEM");
    expect([lockBits(p, addr), p.mm!.defFlags]).toEqual([0, 0]);
    // MCL_FUTURE alone: no total_vm check; def_flags gets VM_LOCKED, and the next mmap() is then
    // refused by mlock_future_ok() with EAGAIN (1 page > 0).
    run(p.mlockall(MCL_FUTURE));
    expect(p.mm!.defFlags).toBe(VM_LOCKED);
    expect(lockBits(p, addr)).toBe(0);
    expectErrno(p.mmap(PAGE), "EAGAIN");
  });

  it("total_vm counts every VMA, locked or not: 2048 pages mapped pass the 8 MiB default, 2049 do not", () => {
    const k = boot();
    const p = run(k.createProcess({ uid: 1000 }));
    const a = run(p.mmap(2048 * PAGE, { prot: 0 }));
    run(p.mlockall(MCL_CURRENT));
    expect(mmLockedVm(p.mm!)).toBe(2048);
    run(p.munlockall());
    run(p.mmap(PAGE, { prot: 0 }));
    expectErrno(p.mlockall(MCL_CURRENT), "ENOMEM");
    expect(lockBits(p, a)).toBe(0);
  });
});

describe("mlockall() and munlockall() (LTP mlockall01, apply_mlockall_flags())", () => {
  it("MCL_CURRENT locks every VMA and faults it in, each folio mlocked; def_flags stay 0", () => {
    const k = boot();
    const p = run(k.createProcess());
    const a = run(p.mmap(4 * PAGE));
    const b = run(p.mmap(2 * PAGE, { flags: SHARED_ANON }));
    run(p.mlockall(MCL_CURRENT));
    expect([lockBits(p, a), lockBits(p, b), p.mm!.defFlags]).toEqual([VM_LOCKED, VM_LOCKED, 0]);
    expect([present(p, a, 4), present(p, b, 2)]).toEqual([4, 2]);
    expect(folioAt(p, a).mlocked).toBe(true);
    expect(nrMlock(k)).toBe(6);
    expect(mmLockedVm(p.mm!)).toBe(6);
    // A mapping made later is not locked.
    const c = run(p.mmap(PAGE));
    expect([lockBits(p, c), present(p, c, 1)]).toEqual([0, 0]);
    expectConsistent(k);
  });

  it("MCL_FUTURE leaves the VMAs as they are and locks and populates every later mapping", () => {
    const k = boot();
    const p = run(k.createProcess());
    const a = run(p.mmap(PAGE));
    run(p.mlockall(MCL_FUTURE));
    expect([p.mm!.defFlags, lockBits(p, a), present(p, a, 1)]).toEqual([VM_LOCKED, 0, 0]);
    // do_mmap(): vm_flags |= mm->def_flags, and VM_LOCKED asks for *populate = len.
    const b = run(p.mmap(3 * PAGE));
    expect([lockBits(p, b), present(p, b, 3), nrMlock(k)]).toEqual([VM_LOCKED, 3, 3]);
    // A hugetlb mapping is never locked (__mmap_complete() clears VM_LOCKED_MASK).
    run(k.fs.write("/proc/sys/vm/nr_hugepages", "1"));
    const huge = run(p.mmap(2 * 2 ** 20, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
    expect(lockBits(p, huge)).toBe(0);
    expectConsistent(k);
  });

  it("MCL_CURRENT | MCL_FUTURE, then munlockall() unlocks every VMA, munlocks the folios and clears def_flags", () => {
    const k = boot();
    const p = run(k.createProcess());
    const a = run(p.mmap(4 * PAGE));
    run(p.mlockall(MCL_CURRENT | MCL_FUTURE));
    const b = run(p.mmap(PAGE));
    expect([lockBits(p, a), lockBits(p, b), p.mm!.defFlags]).toEqual([
      VM_LOCKED,
      VM_LOCKED,
      VM_LOCKED,
    ]);
    expect(nrMlock(k)).toBe(5);
    run(p.munlockall());
    expect([lockBits(p, a), lockBits(p, b), p.mm!.defFlags]).toEqual([0, 0, 0]);
    expect([nrMlock(k), mmLockedVm(p.mm!)]).toEqual([0, 0]);
    expect(k.vmstat.get("unevictable_pgs_munlocked")).toBe(5);
    const c = run(p.mmap(PAGE));
    expect([lockBits(p, c), present(p, c, 1)]).toEqual([0, 0]);
    expectConsistent(k);
  });

  it("mlockall(MCL_CURRENT) after MCL_FUTURE clears def_flags (they are replaced, not added to)", () => {
    const k = boot();
    const p = run(k.createProcess());
    run(p.mlockall(MCL_FUTURE | MCL_ONFAULT));
    expect(p.mm!.defFlags).toBe(VM_LOCKED | VM_LOCKONFAULT);
    run(p.mlockall(MCL_CURRENT));
    expect(p.mm!.defFlags).toBe(0);
  });

  it("MCL_CURRENT | MCL_ONFAULT locks without populating: present folios are mlocked now, the rest as they fault", () => {
    const k = boot();
    const p = run(k.createProcess());
    const a = run(p.mmap(4 * PAGE));
    run(p.write(a, pattern(PAGE, 1)));
    run(p.mlockall(MCL_CURRENT | MCL_ONFAULT));
    expect(lockBits(p, a)).toBe(VM_LOCKED | VM_LOCKONFAULT);
    expect([present(p, a, 4), nrMlock(k), mmLockedVm(p.mm!)]).toEqual([1, 1, 4]);
    run(p.write(a + 2 * PAGE, pattern(PAGE, 2)));
    expect(folioAt(p, a + 2 * PAGE).mlocked).toBe(true);
    expect(nrMlock(k)).toBe(2);
    // MCL_FUTURE | MCL_ONFAULT: later mappings are VM_LOCKONFAULT and not populated.
    run(p.mlockall(MCL_FUTURE | MCL_ONFAULT));
    const b = run(p.mmap(2 * PAGE));
    expect([lockBits(p, b), present(p, b, 2)]).toEqual([VM_LOCKED | VM_LOCKONFAULT, 0]);
    expectConsistent(k);
  });

  it("fork() copies neither VM_LOCKED_MASK nor def_flags (dup_mmap(), mm_init())", () => {
    const k = boot();
    const p = run(k.createProcess());
    const a = run(p.mmap(PAGE));
    run(p.mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT));
    const child = run(p.fork());
    expect([lockBits(child, a), child.mm!.defFlags]).toEqual([0, 0]);
    expect(lockBits(p, a)).toBe(VM_LOCKED | VM_LOCKONFAULT);
  });
});

describe("mlock2() (LTP mlock201, mlock202, mlock203)", () => {
  // mlock201: an 8-page MAP_SHARED | MAP_ANONYMOUS PROT_WRITE mapping, `populate` pages written
  // first, mlock2(addr, lock * PAGE + offset, flag): VmLck grows by `vmlck` pages and mincore()
  // finds `resident` pages.
  const cases: Array<
    [populate: number, lock: number, offset: number, vmlck: number, resident: number, flag: number]
  > = [
    [0, 1, 0, 1, 1, 0],
    [0, 8, 0, 8, 8, 0],
    [0, 2, 1, 3, 3, 0],
    [0, 2, -1, 2, 2, 0],
    [0, 1, 0, 1, 0, MLOCK_ONFAULT],
    [4, 8, 0, 8, 4, MLOCK_ONFAULT],
    [1, 4, 1, 5, 1, MLOCK_ONFAULT],
    [4, 4, -1, 4, 4, MLOCK_ONFAULT],
  ];
  for (const [populate, lock, offset, vmlck, resident, flag] of cases) {
    it(`mlock201: ${populate} pages written, mlock2(${lock} pages ${offset >= 0 ? "+" : "-"} ${Math.abs(offset)}, ${flag}) locks ${vmlck} and leaves ${resident} present`, () => {
      const k = boot();
      const p = run(k.createProcess());
      const addr = run(p.mmap(8 * PAGE, { prot: PROT_WRITE, flags: SHARED_ANON }));
      if (populate) run(p.write(addr, new Uint8Array(populate * PAGE)));
      run(p.mlock2(addr, lock * PAGE + offset, flag));
      expect(mmLockedVm(p.mm!)).toBe(vmlck);
      expect(present(p, addr, 8)).toBe(resident);
      expect(nrMlock(k)).toBe(resident);
      run(p.munlock(addr, lock * PAGE + offset));
      expect([mmLockedVm(p.mm!), nrMlock(k)]).toEqual([0, 0]);
      expectConsistent(k);
    });
  }

  it("mlock202: EINVAL for an unknown flag, ENOMEM past the limit, EPERM at limit 0, ENOMEM for an unmapped range", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(PAGE, { prot: PROT_WRITE }));
    for (const flag of [-1, 2, MLOCK_ONFAULT | 2])
      expectErrno(p.mlock2(addr, PAGE, flag), "EINVAL");
    const small = run(k.createProcess({ rlimitMemlock: PAGE - 1 }));
    const s = run(small.mmap(PAGE, { prot: PROT_WRITE }));
    seteuid(small, NOBODY);
    expectErrno(small.mlock2(s, PAGE, 0), "ENOMEM");
    const none = run(k.createProcess({ rlimitMemlock: 0 }));
    const n = run(none.mmap(PAGE, { prot: PROT_WRITE }));
    seteuid(none, NOBODY);
    expectErrno(none.mlock2(n, PAGE, 0), "EPERM");
    const hole = run(p.mmap(8 * PAGE, { prot: 1 }));
    run(p.munmap(hole, 8 * PAGE));
    expectErrno(p.mlock2(hole + 4 * PAGE, PAGE, 0), "ENOMEM");
    expect(mmLockedVm(p.mm!)).toBe(0);
  });

  it("mlock203: mlock2(MLOCK_ONFAULT) then mlock2(0) of the same page counts it once, and one munlock() unlocks it", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(PAGE, { prot: PROT_WRITE }));
    run(p.write(addr, pattern(PAGE, 3)));
    run(p.mlock2(addr, PAGE, MLOCK_ONFAULT));
    expect([mmLockedVm(p.mm!), lockBits(p, addr)]).toEqual([1, VM_LOCKED | VM_LOCKONFAULT]);
    const head = folioAt(p, addr).pfn;
    expect(k.memmap.mlockCount[head]).toBe(1);
    run(p.mlock2(addr, PAGE, 0));
    // Locked before and after: mlock_fixup() only resets the flags, no second mlock.
    expect([mmLockedVm(p.mm!), lockBits(p, addr)]).toEqual([1, VM_LOCKED]);
    expect(k.memmap.mlockCount[head]).toBe(1);
    run(p.munlock(addr, PAGE));
    expect([mmLockedVm(p.mm!), nrMlock(k), folioAt(p, addr).mlocked]).toEqual([0, 0, false]);
    expectConsistent(k);
  });
});

describe("a VM_LOCKED stack grows within RLIMIT_MEMLOCK (acct_stack_growth() → mlock_future_ok())", () => {
  it("after mlockall(MCL_CURRENT | MCL_FUTURE) a stack grows to the limit, and a page past it is SIGSEGV (ENOMEM), the VMA unchanged", () => {
    const k = boot();
    // A 4-page limit: the stack's page and 3 more.
    const p = run(k.createProcess({ rlimitMemlock: 4 * PAGE, uid: 1000 }));
    run(p.mlockall(MCL_CURRENT | MCL_FUTURE));
    const top = run(p.mmap(PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN }));
    expect([lockBits(p, top), present(p, top, 1), mmLockedVm(p.mm!)]).toEqual([VM_LOCKED, 1, 1]);
    run(p.write(top - 3 * PAGE, pattern(PAGE, 4)));
    const vma = p.mm!.findVma(top)!;
    expect([vma.start, mmLockedVm(p.mm!)]).toEqual([top - 3 * PAGE, 4]);
    expect(folioAt(p, top - 3 * PAGE).mlocked).toBe(true);
    // A fork child inherits neither VM_LOCKED nor MCL_FUTURE: p itself faults, and dies.
    const e = expectSignal(p.write(top - 4 * PAGE, pattern(1, 5)), "SIGSEGV", "SEGV_MAPERR");
    expect(e.message).toMatch(/ENOMEM.*RLIMIT_MEMLOCK.*SIGSEGV/);
    expect([e.addr, p.exitCode, vma.start]).toEqual([top - 4 * PAGE, 11, top - 3 * PAGE]);
    // Unlocked, such a stack grows past the limit.
    const q = run(k.createProcess({ rlimitMemlock: 4 * PAGE, uid: 1000 }));
    const qtop = run(q.mmap(PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN }));
    run(q.write(qtop - 8 * PAGE, pattern(1, 6)));
    expect(q.mm!.findVma(qtop)!.start).toBe(qtop - 8 * PAGE);
    expectConsistent(k);
  });

  it("an mlock()ed stack is held to the limit too", () => {
    const k = boot();
    const p = run(k.createProcess({ rlimitMemlock: 2 * PAGE }));
    const top = run(p.mmap(PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN }));
    run(p.mlock(top, PAGE));
    seteuid(p, NOBODY);
    run(p.write(top - PAGE, pattern(1, 1)));
    // The child of a fork has no mlock()ed VMA (VM_LOCKED is not inherited): p itself faults.
    const e = expectSignal(p.write(top - 2 * PAGE, pattern(1, 2)), "SIGSEGV", "SEGV_MAPERR");
    expect([e.addr, p.exitCode]).toEqual([top - 2 * PAGE, 11]);
  });

  it("CAP_IPC_LOCK lifts the limit on an mlock()ed stack", () => {
    const k = boot();
    const p = run(k.createProcess({ rlimitMemlock: 2 * PAGE }));
    const top = run(p.mmap(PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN }));
    run(p.mlock(top, PAGE));
    run(p.write(top - PAGE, pattern(1, 1)));
    seteuid(p, 0);
    run(p.write(top - 2 * PAGE, pattern(1, 2)));
    expect([p.mm!.findVma(top)!.start, mmLockedVm(p.mm!)]).toEqual([top - 2 * PAGE, 3]);
  });
});
