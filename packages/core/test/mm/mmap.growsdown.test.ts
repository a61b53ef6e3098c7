// MAP_GROWSDOWN stacks as Linux 6.16 grows them: do_mmap() gives a private anonymous mapping
// VM_GROWSDOWN (mm/mmap.c), a fault just below it runs lock_mm_and_find_vma() (mm/memory.c) →
// expand_downwards() and acct_stack_growth() (mm/vma.c), and the free-range searches keep
// stack_guard_gap below it (vm_start_gap(), unmapped_area_topdown(), unmapped_area()). The
// expected layouts are LTP's mmap18 (testcases/kernel/syscalls/mmap/mmap18.c).
import { describe, expect, it } from "vitest";
import type { Task } from "../../src/include/kernel";
import {
  Kernel,
  MAP_32BIT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_GROWSDOWN,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_GROWSDOWN,
  PROT_GROWSUP,
  PROT_READ,
  VM_GROWSDOWN,
  VM_READ,
  VM_WRITE,
} from "../../src/index";
import { boot, expectConsistent, expectErrno, pattern, run } from "../../src/testing/index";

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

describe("MAP_GROWSDOWN (do_mmap(), expand_downwards(), Linux 6.16; LTP mmap18)", () => {
  it("a private anonymous mapping gets VM_GROWSDOWN; shared, file and hugetlb ones are EINVAL", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(PAGE, { flags: GROWS }));
    expect(p.mm!.findVma(addr)!.flags & VM_GROWSDOWN).toBe(VM_GROWSDOWN);
    const before = p.mm!.vmas.length;
    const file = run(k.createFile("f"));
    expectErrno(p.mmap(PAGE, { flags: MAP_SHARED | MAP_ANONYMOUS | MAP_GROWSDOWN }), "EINVAL");
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
      const e = expectErrno(p.write(top - mapped - PAGE, pattern(8, 1)), "EFAULT");
      expect(e.message).toContain("SIGSEGV");
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
    const stack = below + PAGE + GAP + 4 * PAGE;
    run(p.mmap(PAGE, { addr: stack, flags: MAP_FIXED | GROWS }));
    // address - prev->vm_end < stack_guard_gap is refused: one page short of the gap.
    expectErrno(p.write(below + PAGE + GAP - PAGE, pattern(1, 1)), "EFAULT");
    expect(p.mm!.findVma(stack)!.start).toBe(stack);
    run(p.write(below + PAGE + GAP, pattern(1, 2)));
    expect(p.mm!.findVma(stack)!.start).toBe(below + PAGE + GAP);
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

  it("stack_guard_gap= at boot sets the gap (cmdline_parse_stack_guard_gap(), in pages)", () => {
    const k = boot({ stackGuardGap: 4 });
    expect(k.stackGuardGap).toBe(4 * PAGE);
    const p = run(k.createProcess());
    run(p.mmap(PAGE, { addr: 0x1000_0000, flags: MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS }));
    run(p.mmap(PAGE, { addr: 0x1000_0000 + 16 * PAGE, flags: MAP_FIXED | GROWS }));
    expectErrno(p.write(0x1000_0000 + 4 * PAGE, pattern(1, 1)), "EFAULT");
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
    expectErrno(p.write(top - STK_LIM - PAGE, pattern(1, 1)), "EFAULT");
    expect(p.mm!.findVma(top - PAGE)!.start).toBe(top - PAGE);
    run(p.write(top - STK_LIM, pattern(1, 1)));
    expect(p.mm!.findVma(top - PAGE)!.start).toBe(top - STK_LIM);
    expectErrno(p.write(top - STK_LIM - PAGE, pattern(1, 1)), "EFAULT");
  });

  it("mmap_min_addr: a stack does not grow below 0x10000", () => {
    const k = boot();
    const p = run(k.createProcess());
    run(p.mmap(PAGE, { addr: 0x1_0000, flags: MAP_FIXED | GROWS }));
    const e = expectErrno(p.write(0xf000, pattern(1, 1)), "EFAULT");
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
});
