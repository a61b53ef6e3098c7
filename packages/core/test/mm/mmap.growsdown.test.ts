// MAP_GROWSDOWN stacks as Linux 6.16 grows them: do_mmap() gives a private anonymous mapping
// VM_GROWSDOWN (mm/mmap.c), a fault just below it runs lock_mm_and_find_vma() (mm/memory.c) →
// expand_downwards() and acct_stack_growth() (mm/vma.c), and the free-range searches keep
// stack_guard_gap below it (vm_start_gap(), unmapped_area_topdown(), unmapped_area()). The
// expected layouts are LTP's mmap18 (testcases/kernel/syscalls/mmap/mmap18.c).
import { describe, expect, it } from "vitest";
import type { Task } from "../../src/include/kernel";
import {
  ERRNO,
  Kernel,
  MADV_DONTNEED,
  MAP_32BIT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_GROWSDOWN,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  MPOL_MF_MOVE,
  PROT_EXEC,
  PROT_GROWSDOWN,
  PROT_GROWSUP,
  PROT_READ,
  VM_EXEC,
  VM_GROWSDOWN,
  VM_READ,
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
  patternIntact,
  run,
  runP,
} from "../../src/testing/index";

const PAGE = 4096;
/** stack_guard_gap at its default (mm/mmap.c): 256 pages. */
const GAP = 256 * PAGE;
/** PTHREAD_STACK_MIN of glibc on x86-64, as mmap18 aligns it: 16 KiB. */
const PTHREAD_STACK = 16384;
/** mmap18's stack_size: 8 * PTHREAD_STACK_MIN. */
const STACK_SIZE = 8 * PTHREAD_STACK;
/** _STK_LIM (include/uapi/linux/resource.h): RLIMIT_STACK's default, 8 MiB. */
const STK_LIM = 8 * 2 ** 20;

/** `PROT_NONE` (include/uapi/asm-generic/mman-common.h). */
const PROT_NONE = 0;
const GROWS = MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN;

/** mmap18's allocate_stack(): the stack's lowest address, the stack mapped at the top. */
const allocateStack = (p: Task, stackSize: number, mappedSize: number): number => {
  const reserved = 256 * PAGE + stackSize;
  const start = run(p.mmap(reserved));
  run(p.munmap(start, reserved));
  run(p.mmap(mappedSize, { addr: start + reserved - mappedSize, flags: MAP_FIXED | GROWS }));
  return start + reserved - stackSize;
};

/** What mmap18's recursion does to the stack: a store in every page, top down, to `bottom`. */
const growTo = (p: Task, top: number, bottom: number): void => {
  for (let at = top - PAGE; at >= bottom; at -= PAGE) run(p.write(at, pattern(8, at / PAGE)));
};

/**
 * Maps a one-page stack above the one-page VMA at `below`, the guard gap and 4 pages apart, and
 * checks the gap is exact: `address - prev->vm_end < stack_guard_gap` is refused one page short
 * of it, and the stack grows to it.
 */
const expectExactGap = (p: Task, below: number): void => {
  const stack = below + PAGE + GAP + 4 * PAGE;
  run(p.mmap(PAGE, { addr: stack, flags: MAP_FIXED | GROWS }));
  expectChildSignal(
    p,
    (c) => c.write(below + PAGE + GAP - PAGE, pattern(1, 1)),
    "SIGSEGV",
    "SEGV_MAPERR",
  );
  expect(p.mm!.findVma(stack)!.start).toBe(stack);
  run(p.write(below + PAGE + GAP, pattern(1, 2)));
  expect(p.mm!.findVma(stack)!.start).toBe(below + PAGE + GAP);
};

describe("MAP_GROWSDOWN (do_mmap(), expand_downwards(), Linux 6.16; LTP mmap18)", () => {
  it("a private anonymous mapping gets VM_GROWSDOWN; shared, file and hugetlb ones are EINVAL", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(PAGE, { flags: GROWS }));
    expect(p.mm!.findVma(addr)!.flags & VM_GROWSDOWN).toBe(VM_GROWSDOWN);
    const before = p.mm!.vmas.length;
    const file = run(k.createFile("f"));
    expectErrno(p.mmap(PAGE, { flags: MAP_SHARED | MAP_ANONYMOUS | MAP_GROWSDOWN }), "EINVAL");
    run(file.truncate(PAGE));
    expectErrno(p.mmap(PAGE, { flags: MAP_PRIVATE | MAP_GROWSDOWN, file }), "EINVAL");
    expectErrno(p.mmap(PAGE, { flags: MAP_SHARED | MAP_GROWSDOWN, file }), "EINVAL");
    expectErrno(p.mmap(2 ** 21, { flags: GROWS | MAP_HUGETLB }), "EINVAL");
    expect(p.mm!.vmas).toHaveLength(before);
  });

  for (const mapped of [PTHREAD_STACK, STACK_SIZE / 2]) {
    it(`grow_stack_success(${STACK_SIZE}, ${mapped}): the stack grows into the unmapped region`, () => {
      const k = boot();
      const p = run(k.createProcess());
      const bottom = allocateStack(p, STACK_SIZE, mapped);
      const top = bottom + STACK_SIZE;
      run(p.write(top - PAGE, pattern(PAGE, 7)));
      growTo(p, top, bottom);
      const vma = p.mm!.findVma(bottom)!;
      expect([vma.start, vma.end, vma.flags & VM_GROWSDOWN]).toEqual([bottom, top, VM_GROWSDOWN]);
      // An anonymous VMA's vm_pgoff is its start page: expand_downwards() lowers it as it grows.
      expect(vma.pgoff).toBe(bottom / PAGE);
      expect(p.mm!.vmas).toHaveLength(1);
      // What the stack held stays where it was; the new pages hold what was stored in them.
      expect([...run(p.read(top - PAGE + 8, 8))]).toEqual([...pattern(PAGE, 7).subarray(8, 16)]);
      expect([...run(p.read(bottom, 8))]).toEqual([...pattern(8, bottom / PAGE)]);
      expectConsistent(k);
    });

    it(`grow_stack_fail(${STACK_SIZE}, ${mapped}): a page mapped where the stack grows is SIGSEGV`, () => {
      const k = boot();
      const p = run(k.createProcess());
      const bottom = allocateStack(p, STACK_SIZE, mapped);
      const top = bottom + STACK_SIZE;
      run(p.mmap(PAGE, { addr: bottom, flags: MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS }));
      // The first page below the mapped part is less than 256 pages above that page's end.
      // mmap18's child dies of SIGSEGV (11), SEGV_MAPERR (1): expand_stack() refused.
      const e = expectChildSignal(
        p,
        (c) => c.write(top - mapped - PAGE, pattern(8, 1)),
        "SIGSEGV",
        "SEGV_MAPERR",
      );
      expect([e.signo, e.siCode, e.addr]).toEqual([11, 1, top - mapped - PAGE]);
      expect(e.message).toContain("stack_guard_gap");
      expect(p.mm!.findVma(top - 1)!.start).toBe(top - mapped);
      expectConsistent(k);
    });
  }

  it("stack_guard_gap is exact: 256 pages above the VMA below grows, 255 does not", () => {
    const k = boot();
    const p = run(k.createProcess());
    const below = 0x1000_0000;
    run(p.mmap(PAGE, { addr: below, flags: MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS }));
    expectExactGap(p, below);
  });

  it("no gap is kept from a PROT_NONE VMA or another VM_GROWSDOWN VMA below (vma_is_accessible())", () => {
    const k = boot();
    const p = run(k.createProcess());
    for (const [base, below] of [
      [0x1000_0000, { prot: PROT_NONE, flags: MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS }],
      [0x2000_0000, { flags: MAP_FIXED | GROWS }],
    ] as const) {
      run(p.mmap(PAGE, { addr: base, ...below }));
      const stack = base + 4 * PAGE;
      run(p.mmap(PAGE, { addr: stack, flags: MAP_FIXED | GROWS }));
      run(p.write(base + PAGE, pattern(1, 3)));
      expect(p.mm!.findVma(base + PAGE)!.start).toBe(base + PAGE);
      expect(p.mm!.findVma(base + PAGE)!.end).toBe(stack + PAGE);
    }
  });

  // vma_is_accessible() is VM_READ, VM_WRITE or VM_EXEC (VM_ACCESS_FLAGS): an execute-only VMA
  // below keeps its guard gap, and x86's access_error() lets a read fault in it (no pkeys).
  it("an execute-only VMA below keeps the gap (vma_is_accessible(): VM_EXEC)", () => {
    const k = boot();
    const p = run(k.createProcess());
    const below = 0x1000_0000;
    run(
      p.mmap(PAGE, {
        addr: below,
        prot: PROT_EXEC,
        flags: MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS,
      }),
    );
    expect(p.mm!.findVma(below)!.flags & (VM_READ | VM_WRITE | VM_EXEC)).toBe(VM_EXEC);
    expectExactGap(p, below);
    expect([...run(p.read(below, 4))]).toEqual([0, 0, 0, 0]);
    expectChildSignal(p, (c) => c.write(below, pattern(1, 3)), "SIGSEGV", "SEGV_ACCERR");
    // VM_EXEC is a flag like the others: a PROT_READ neighbour and a PROT_READ | PROT_EXEC one
    // do not merge (vma_merge_new_range() needs equal flags).
    const lib = 0x2000_0000;
    const fixed = MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS;
    run(p.mmap(PAGE, { addr: lib, prot: PROT_READ, flags: fixed }));
    run(p.mmap(PAGE, { addr: lib + PAGE, prot: PROT_READ | PROT_EXEC, flags: fixed }));
    expect(p.mm!.findVma(lib)!.end).toBe(lib + PAGE);
    // mprotect(PROT_NONE) takes VM_EXEC away: the stack may then grow right up to the VMA.
    run(p.mprotect(below, PAGE, PROT_NONE));
    expect(p.mm!.findVma(below)!.flags & VM_EXEC).toBe(0);
    run(p.write(below + PAGE, pattern(1, 4)));
    expect(p.mm!.findVma(below + PAGE)!.start).toBe(below + PAGE);
  });

  it("stack_guard_gap= at boot sets the gap (cmdline_parse_stack_guard_gap(), in pages)", () => {
    const k = boot({ stackGuardGap: 4 });
    expect(k.stackGuardGap).toBe(4 * PAGE);
    const p = run(k.createProcess());
    run(p.mmap(PAGE, { addr: 0x1000_0000, flags: MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS }));
    run(p.mmap(PAGE, { addr: 0x1000_0000 + 16 * PAGE, flags: MAP_FIXED | GROWS }));
    expectChildSignal(
      p,
      (c) => c.write(0x1000_0000 + 4 * PAGE, pattern(1, 1)),
      "SIGSEGV",
      "SEGV_MAPERR",
    );
    run(p.write(0x1000_0000 + 5 * PAGE, pattern(1, 1)));
    expect(p.mm!.findVma(0x1000_0000 + 5 * PAGE)!.flags & VM_GROWSDOWN).toBe(VM_GROWSDOWN);
    for (const bad of [-1, 1.5, Number.NaN]) {
      expectErrno(Kernel.boot({ nodes: ["64M"], stackGuardGap: bad }), "EINVAL");
    }
  });

  it("RLIMIT_STACK (8 MiB) bounds the grown VMA: size > rlimit is refused (acct_stack_growth())", () => {
    const k = boot();
    const p = run(k.createProcess());
    const top = 0x4000_0000;
    run(p.mmap(PAGE, { addr: top - PAGE, flags: MAP_FIXED | GROWS }));
    expectChildSignal(
      p,
      (c) => c.write(top - STK_LIM - PAGE, pattern(1, 1)),
      "SIGSEGV",
      "SEGV_MAPERR",
    );
    expect(p.mm!.findVma(top - PAGE)!.start).toBe(top - PAGE);
    run(p.write(top - STK_LIM, pattern(1, 1)));
    expect(p.mm!.findVma(top - PAGE)!.start).toBe(top - STK_LIM);
    expectSignal(p.write(top - STK_LIM - PAGE, pattern(1, 1)), "SIGSEGV", "SEGV_MAPERR");
    expect([p.exited, p.exitCode]).toEqual([true, 11]);
  });

  // The read's buffer holds only what the stack could grow to: a read far below it fails where
  // the growth would pass RLIMIT_STACK (SIGSEGV), not for a buffer of the whole length (ENOMEM).
  it("a read of 64 GiB from far below the stack is SIGSEGV (past RLIMIT_STACK), the stack unchanged", () => {
    const k = boot();
    const p = run(k.createProcess());
    const top = 0x100_0000_0000;
    run(p.mmap(PAGE, { addr: top - PAGE, flags: MAP_FIXED | GROWS }));
    const e = expectChildSignal(p, (c) => c.read(top - 2 ** 37, 2 ** 36), "SIGSEGV", "SEGV_MAPERR");
    expect(e.addr).toBe(top - 2 ** 37);
    expect(p.mm!.findVma(top - PAGE)!.start).toBe(top - PAGE);
  });

  it("mmap_min_addr: a stack does not grow below 0x10000", () => {
    const k = boot();
    const p = run(k.createProcess());
    run(p.mmap(PAGE, { addr: 0x1_0000, flags: MAP_FIXED | GROWS }));
    const e = expectChildSignal(p, (c) => c.write(0xf000, pattern(1, 1)), "SIGSEGV", "SEGV_MAPERR");
    expect(e.message).toContain("mmap_min_addr");
    expect(p.mm!.findVma(0x1_0000)!.start).toBe(0x1_0000);
  });

  it("a read that starts below the stack grows it and reads zeroes", () => {
    const k = boot();
    const p = run(k.createProcess());
    const stack = 0x3000_0000;
    run(p.mmap(PAGE, { addr: stack, flags: MAP_FIXED | GROWS }));
    run(p.write(stack, pattern(PAGE, 5)));
    const bytes = run(p.read(stack - 2 * PAGE, 3 * PAGE));
    expect(bytes.subarray(0, 2 * PAGE).every((b) => b === 0)).toBe(true);
    expect([...bytes.subarray(2 * PAGE)]).toEqual([...pattern(PAGE, 5)]);
    expect(p.mm!.findVma(stack)!.start).toBe(stack - 2 * PAGE);
  });

  // find_vma() in lock_mm_and_find_vma() (mm/memory.c) returns the first VMA that ends above the
  // address, however far above it starts: a load that does not reach the stack grows it too.
  it("a read wholly below the stack grows it and reads zeroes, as a read in the hole of a split stack grows the half above", () => {
    const k = boot();
    const p = run(k.createProcess());
    const stack = 0x3000_0000;
    run(p.mmap(PAGE, { addr: stack, flags: MAP_FIXED | GROWS }));
    expect([...run(p.read(stack - 4 * PAGE, 8))]).toEqual(Array(8).fill(0));
    expect([p.mm!.findVma(stack)!.start, p.mm!.findVma(stack)!.pgoff]).toEqual([
      stack - 4 * PAGE,
      (stack - 4 * PAGE) / PAGE,
    ]);
    // munmap() splits the stack; both halves keep VM_GROWSDOWN (split_vma()), so the upper one
    // grows into the hole up to the lower one without a guard gap, and the two are not merged
    // (expand_downwards() merges nothing).
    const base = 0x4000_0000;
    run(p.mmap(8 * PAGE, { addr: base, flags: MAP_FIXED | GROWS }));
    run(p.write(base, pattern(8 * PAGE, 4)));
    run(p.munmap(base + 2 * PAGE, 3 * PAGE));
    expect([...run(p.read(base + 2 * PAGE, 8))]).toEqual(Array(8).fill(0));
    const halves = p.mm!.vmas.filter((v) => v.start >= base);
    expect(halves.map((v) => [v.start, v.end, v.flags & VM_GROWSDOWN])).toEqual([
      [base, base + 2 * PAGE, VM_GROWSDOWN],
      [base + 2 * PAGE, base + 8 * PAGE, VM_GROWSDOWN],
    ]);
    expect(patternIntact(p, base, 2 * PAGE, 4)).toBe(true);
    expect([...run(p.read(base + 5 * PAGE, 8))]).toEqual([
      ...pattern(8 * PAGE, 4).subarray(5 * PAGE, 5 * PAGE + 8),
    ]);
    expectConsistent(k);
  });

  // x86's do_user_addr_fault() runs lock_mm_and_find_vma(), which grows the stack, before
  // access_error() looks at the VMA's protection: the piece grows, then the access is SIGSEGV.
  it("a fault below a PROT_NONE piece of the stack grows that piece, then fails the access check", () => {
    const k = boot();
    const p = run(k.createProcess());
    const stack = 0x3000_0000;
    run(p.mmap(4 * PAGE, { addr: stack, flags: MAP_FIXED | GROWS }));
    run(p.mprotect(stack, PAGE, PROT_NONE));
    // SEGV_ACCERR (2), not SEGV_MAPERR: the address was in a VMA, the piece grown to it, when
    // access_error() refused the store.
    const e = expectSignal(p.write(stack - PAGE, pattern(8, 1)), "SIGSEGV", "SEGV_ACCERR");
    expect([e.signo, e.siCode, e.addr]).toEqual([11, 2, stack - PAGE]);
    expect([p.exited, p.exitCode]).toEqual([true, 11]);
    expectConsistent(k);
  });

  // get_user_pages() no longer grows stacks (gup_vma_lookup(), Linux 6.5+); move_pages() looks
  // its VMA up with vma_lookup(); madvise() advises the mapped part and then reports the hole
  // (madvise_walk_vmas()); mlock() needs a VMA at the start (apply_vma_lock_flags()).
  it("move_pages(), madvise() and mlock() below the stack do not grow it", async () => {
    const k = boot();
    const p = run(k.createProcess());
    const stack = 0x3000_0000;
    run(p.mmap(PAGE, { addr: stack, flags: MAP_FIXED | GROWS }));
    run(p.write(stack, pattern(PAGE, 6)));
    const { status } = await runP(p.movePages(0, [stack - PAGE], [1], MPOL_MF_MOVE));
    expect(status[0]).toBe(-ERRNO.EFAULT);
    expectErrno(p.mlock(stack - PAGE, 2 * PAGE), "ENOMEM");
    expectErrno(p.madvise(stack - PAGE, 2 * PAGE, MADV_DONTNEED), "ENOMEM");
    expect(p.mm!.vmas.map((v) => [v.start, v.end])).toEqual([[stack, stack + PAGE]]);
    expect(run(p.read(stack, PAGE)).every((b) => b === 0)).toBe(true); // zapped by MADV_DONTNEED
    expectConsistent(k);
  });

  // A fault in a PMD range the grown stack now covers whole, with no page table there yet, maps a
  // PMD THP (__thp_vma_allowable_orders() has no VM_GROWSDOWN rule; only a temporary exec stack
  // is refused). The grown VMA then forks, is partly unmapped and exits like any other.
  it("growth that covers an aligned PMD range gets a PMD THP there with THP enabled always", () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const top = 0x3040_0000; // 2 MiB aligned
    run(p.mmap(PAGE, { addr: top, flags: MAP_FIXED | GROWS }));
    run(p.write(top, pattern(PAGE, 3)));
    run(p.write(top - 2 ** 21, pattern(3 * PAGE, 4)));
    expect(p.mm!.vmas.map((v) => [v.start, v.end])).toEqual([[top - 2 ** 21, top + PAGE]]);
    expect(folioAt(p, top - 2 ** 21).nrPages).toBe(512);
    const child = run(p.fork());
    run(child.write(top - 2 ** 21 + PAGE, pattern(8, 5)));
    run(p.munmap(top - 2 ** 21 + 8 * PAGE, PAGE));
    expectConsistent(k);
    expect(patternIntact(p, top - 2 ** 21, 3 * PAGE, 4)).toBe(true);
    run(child.exit());
    expectConsistent(k);
  });

  it("a fork child's stack keeps VM_GROWSDOWN and grows on its own", () => {
    const k = boot();
    const p = run(k.createProcess());
    const stack = 0x3000_0000;
    run(p.mmap(PAGE, { addr: stack, flags: MAP_FIXED | GROWS }));
    const child = run(p.fork());
    run(child.write(stack - PAGE, pattern(1, 9)));
    expect(child.mm!.findVma(stack)!.start).toBe(stack - PAGE);
    expect(p.mm!.findVma(stack)!.start).toBe(stack);
    expectConsistent(k);
  });
});

describe("free-range searches keep stack_guard_gap below a VM_GROWSDOWN VMA (vm_start_gap())", () => {
  it("top-down: the next mapping ends 256 pages below the stack, not against it", () => {
    const k = boot();
    const p = run(k.createProcess());
    const stack = run(p.mmap(PAGE, { flags: GROWS }));
    const next = run(p.mmap(PAGE));
    expect(next).toBe(stack - GAP - PAGE);
    // Against an ordinary VMA it touches.
    expect(run(p.mmap(PAGE))).toBe(next - PAGE);
  });

  it("a hint in the guard gap is not taken; MAP_FIXED there is", () => {
    const k = boot();
    const p = run(k.createProcess());
    const stack = 0x3000_0000;
    run(p.mmap(PAGE, { addr: stack, flags: MAP_FIXED | GROWS }));
    const hinted = run(p.mmap(PAGE, { addr: stack - PAGE }));
    expect(hinted).not.toBe(stack - PAGE);
    const free = run(p.mmap(PAGE, { addr: stack - GAP - PAGE }));
    expect(free).toBe(stack - GAP - PAGE);
    run(p.mmap(PAGE, { addr: stack - 2 * PAGE, flags: MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS }));
    expect(p.mm!.findVma(stack - 2 * PAGE)).toBeDefined();
  });

  it("bottom-up (MAP_32BIT): a range that would end in the gap moves above the stack", () => {
    const k = boot();
    const p = run(k.createProcess());
    // The MAP_32BIT window starts at 1 GiB; a stack 8 pages above its start leaves too little room.
    const stack = 0x4000_0000 + 8 * PAGE;
    run(p.mmap(PAGE, { addr: stack, flags: MAP_FIXED | GROWS }));
    const addr = run(p.mmap(PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT }));
    expect(addr).toBe(stack + PAGE);
  });
});

describe("mprotect(PROT_GROWSDOWN) (do_mprotect_pkey(), mm/mprotect.c, Linux 6.16)", () => {
  it("extends the range down to the stack's start; EINVAL for a VMA that does not grow down", () => {
    const k = boot();
    const p = run(k.createProcess());
    const stack = 0x3000_0000;
    run(p.mmap(4 * PAGE, { addr: stack, flags: MAP_FIXED | GROWS }));
    run(p.mprotect(stack + 2 * PAGE, PAGE, PROT_READ | PROT_GROWSDOWN));
    expect(p.mm!.vmas.map((v) => [v.start, v.end, v.flags & (VM_READ | VM_WRITE)])).toEqual([
      [stack, stack + 3 * PAGE, VM_READ],
      [stack + 3 * PAGE, stack + 4 * PAGE, VM_READ | VM_WRITE],
    ]);
    const plain = run(
      p.mmap(2 * PAGE, { addr: 0x4000_0000, flags: MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS }),
    );
    expectErrno(p.mprotect(plain + PAGE, PAGE, PROT_READ | PROT_GROWSDOWN), "EINVAL");
    // x86-64 has no VM_GROWSUP; both flags at once are EINVAL; a range that meets no VMA, ENOMEM.
    expectErrno(p.mprotect(plain, PAGE, PROT_READ | PROT_GROWSUP), "EINVAL");
    expectErrno(p.mprotect(plain, PAGE, PROT_GROWSDOWN | PROT_GROWSUP), "EINVAL");
    expectErrno(p.mprotect(0x5000_0000, PAGE, PROT_READ | PROT_GROWSDOWN), "ENOMEM");
    expect(p.mm!.findVma(plain)!.flags & VM_WRITE).toBe(VM_WRITE);
  });

  // do_mprotect_pkey() takes the first VMA the range meets (vma_find(start, end)) and with
  // PROT_GROWSDOWN starts at its start: a range that begins in the hole below the stack is
  // accepted, one that ends at or below the stack is ENOMEM, as is the hole without the flag.
  it("a range from the hole below the stack starts at the stack's start; one ending below it is ENOMEM", () => {
    const k = boot();
    const p = run(k.createProcess());
    const stack = 0x3000_0000;
    run(p.mmap(4 * PAGE, { addr: stack, flags: MAP_FIXED | GROWS }));
    expectErrno(p.mprotect(stack - PAGE, 3 * PAGE, PROT_READ), "ENOMEM");
    expectErrno(p.mprotect(stack - 2 * PAGE, 2 * PAGE, PROT_READ | PROT_GROWSDOWN), "ENOMEM");
    run(p.mprotect(stack - PAGE, 3 * PAGE, PROT_READ | PROT_GROWSDOWN));
    expect(p.mm!.vmas.map((v) => [v.start, v.end, v.flags & (VM_READ | VM_WRITE)])).toEqual([
      [stack, stack + 2 * PAGE, VM_READ],
      [stack + 2 * PAGE, stack + 4 * PAGE, VM_READ | VM_WRITE],
    ]);
  });
});
