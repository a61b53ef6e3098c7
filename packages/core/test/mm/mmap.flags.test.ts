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
  MAP_HUGE_1GB,
  MAP_HUGE_2MB,
  MAP_HUGE_SHIFT,
  MAP_HUGETLB,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_SHARED_VALIDATE,
  MAP_TYPE,
  PROT_READ,
  PROT_WRITE,
  VM_SHARED,
} from "../../src/index";
import { boot, expectConsistent, expectErrno, pattern, run } from "../../src/testing/index";

const HUGE = 2 ** 21;
/** A bit no architecture gives a meaning (include/uapi/asm-generic/mman*.h, x86's asm/mman.h). */
const UNUSED = 0x1000000;
/** `MAP_SYNC` (include/uapi/asm-generic/mman.h): outside LEGACY_MAP_MASK; no model file has it. */
const MAP_SYNC = 0x80000;
/** `MAP_LOCKED` (include/uapi/asm-generic/mman.h), which the model does not follow. */
const MAP_LOCKED = 0x2000;

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
      expectErrno(p.mmap(4096, { flags: type, file }), "EINVAL");
    }
    // MAP_DROPPABLE is an anonymous type only: a file's is EINVAL.
    expectErrno(p.mmap(4096, { flags: MAP_DROPPABLE, file }), "EINVAL");
    expect(vmas(p)).toEqual(before);
  });

  it("EOPNOTSUPP for anonymous MAP_DROPPABLE, which the model does not follow", () => {
    const k = boot();
    const p = run(k.createProcess());
    expectErrno(p.mmap(4096, { flags: MAP_DROPPABLE | MAP_ANONYMOUS }), "EOPNOTSUPP");
    expect(p.mm!.vmas).toHaveLength(0);
  });

  it("EINVAL naming a flag Linux follows and the model does not (MAP_LOCKED)", () => {
    const k = boot();
    const p = run(k.createProcess());
    const e = expectErrno(
      p.mmap(4096, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED }),
      "EINVAL",
    );
    expect(e.message).toContain("0x2000");
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
