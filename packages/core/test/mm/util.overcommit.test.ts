// The overcommit policy of Linux 6.16: the vm.overcommit_* sysctls and the reserves
// (util_sysctl_table[], overcommit_policy_handler(), overcommit_ratio_handler(),
// overcommit_kbytes_handler(), mm/util.c; init_user_reserve(), init_admin_reserve(), mm/mmap.c),
// the commitment vm_committed_as with its limit vm_commit_limit() and __vm_enough_memory()
// (mm/util.c), and who charges it: accountable_mapping() and vms->nr_accounted (mm/vma.c),
// shmem_acct_size() (mm/shmem.c), mprotect_fixup() (mm/mprotect.c), acct_stack_growth()
// (mm/vma.c), dup_mmap() and exit_mmap(). The modes' cases follow LTP's overcommit_memory
// (testcases/kernel/mem/tunable/overcommit_memory.c).
//
// The machine is the default one: two 64 MiB nodes, 32768 pages of RAM, no swap. At boot
// 131068 kB are free (the zero page is taken), so both reserves are 131068 / 32 = 4095 kB, below
// their caps (128 MiB and 8 MiB): 1023 pages.
import { describe, expect, it } from "vitest";
import type { Kernel } from "../../src/include/kernel";
import {
  MADV_DONTFORK,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_GROWSDOWN,
  MAP_HUGETLB,
  MAP_NORESERVE,
  MAP_PRIVATE,
  MAP_SHARED,
  OVERCOMMIT_NEVER,
  PROT_READ,
  PROT_WRITE,
  VM_ACCOUNT,
  VM_NORESERVE,
  VM_WRITE,
} from "../../src/index";
import {
  boot,
  expectConsistent,
  expectErrno,
  expectSignal,
  pattern,
  run,
} from "../../src/testing/index";

const PAGE = 4096;
const MiB = 2 ** 20;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const VM = "/proc/sys/vm";

/** A line of `/proc/meminfo`, in kB (as a bigint: `CommitLimit` is an unsigned long). */
const meminfoKb = (k: Kernel, name: string): bigint => {
  const text = run(k.fs.read("/proc/meminfo"));
  const line = new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(text);
  if (!line) throw new Error(`no ${name} in /proc/meminfo`);
  return BigInt(line[1]!);
};
/** `Committed_AS`, in pages. */
const committed = (k: Kernel): number => Number(meminfoKb(k, "Committed_AS")) / 4;
/** `CommitLimit`, in pages. */
const commitLimit = (k: Kernel): number => Number(meminfoKb(k, "CommitLimit")) / 4;
const sysctl = (k: Kernel, name: string, value: string): number =>
  run(k.fs.write(`${VM}/${name}`, value));
const read = (k: Kernel, name: string): string => run(k.fs.read(`${VM}/${name}`));
/** The flags of the VMA at `addr`. */
const flagsAt = (k: Kernel, pid: number, addr: number): number =>
  k.tasks.get(pid)!.mm!.findVma(addr)!.flags;

describe("vm.overcommit_memory, overcommit_ratio, overcommit_kbytes and the reserves (mm/util.c)", () => {
  it("read their boot values; a write outside the range is EINVAL and changes nothing", () => {
    const k = boot();
    const files = [
      "overcommit_memory",
      "overcommit_ratio",
      "overcommit_kbytes",
      "user_reserve_kbytes",
      "admin_reserve_kbytes",
    ];
    const all = () => files.map((f) => read(k, f));
    expect(all()).toEqual(["0\n", "50\n", "0\n", "4095\n", "4095\n"]);
    // overcommit_policy_handler(): proc_dointvec_minmax() between SYSCTL_ZERO and SYSCTL_TWO.
    for (const bad of ["3", "-1", "2147483648", "abc", "1x", "+1", "1.5"])
      expectErrno(k.fs.write(`${VM}/overcommit_memory`, bad), "EINVAL");
    // proc_dointvec() for the ratio: any int, nothing else.
    for (const bad of ["2147483648", "-2147483649", "fifty", "1e3"])
      expectErrno(k.fs.write(`${VM}/overcommit_ratio`, bad), "EINVAL");
    // proc_doulongvec_minmax() for the three unsigned longs: no sign, at most 2^64 - 1.
    for (const file of ["overcommit_kbytes", "user_reserve_kbytes", "admin_reserve_kbytes"])
      for (const bad of ["-1", "-0", "18446744073709551616", "1k"])
        expectErrno(k.fs.write(`${VM}/${file}`, bad), "EINVAL");
    expect(all()).toEqual(["0\n", "50\n", "0\n", "4095\n", "4095\n"]);
    expect(sysctl(k, "overcommit_memory", "2\n")).toBe(2);
    expect(k.overcommitMemory).toBe(OVERCOMMIT_NEVER);
    expect(sysctl(k, "overcommit_memory", "0x1")).toBe(3);
    expect(read(k, "overcommit_memory")).toBe("1\n");
    sysctl(k, "user_reserve_kbytes", "18446744073709551615");
    sysctl(k, "admin_reserve_kbytes", "0");
    expect(all()).toEqual(["1\n", "50\n", "0\n", "18446744073709551615\n", "0\n"]);
  });

  it("overcommit_ratio and overcommit_kbytes exclude each other: a write to one zeroes the other", () => {
    const k = boot();
    sysctl(k, "overcommit_kbytes", "1000");
    expect([read(k, "overcommit_ratio"), read(k, "overcommit_kbytes")]).toEqual(["0\n", "1000\n"]);
    // A refused write zeroes nothing.
    expectErrno(k.fs.write(`${VM}/overcommit_ratio`, "x"), "EINVAL");
    expect(read(k, "overcommit_kbytes")).toBe("1000\n");
    // Any int is a ratio, a negative one too.
    sysctl(k, "overcommit_ratio", "-5");
    expect([read(k, "overcommit_ratio"), read(k, "overcommit_kbytes")]).toEqual(["-5\n", "0\n"]);
    sysctl(k, "overcommit_kbytes", "8");
    expectErrno(k.fs.write(`${VM}/overcommit_kbytes`, "-1"), "EINVAL");
    expect([read(k, "overcommit_ratio"), read(k, "overcommit_kbytes")]).toEqual(["0\n", "8\n"]);
    // An empty write parses nothing, returns 0 and so succeeds: the handler zeroes the other.
    expect(sysctl(k, "overcommit_ratio", "")).toBe(0);
    expect([read(k, "overcommit_ratio"), read(k, "overcommit_kbytes")]).toEqual(["0\n", "0\n"]);
  });

  it("CommitLimit is overcommit_ratio percent of RAM less the hugetlb pools, or overcommit_kbytes", () => {
    const k = boot();
    // (32768 - 0) * 50 / 100 pages.
    expect(commitLimit(k)).toBe(16384);
    expect(committed(k)).toBe(0);
    sysctl(k, "overcommit_ratio", "100");
    expect(commitLimit(k)).toBe(32768);
    sysctl(k, "nr_hugepages", "8");
    expect(read(k, "nr_hugepages")).toBe("8\n");
    expect(commitLimit(k)).toBe(32768 - 8 * 512);
    sysctl(k, "overcommit_ratio", "33");
    expect(commitLimit(k)).toBe(Math.floor((28672 * 33) / 100));
    // kbytes >> (PAGE_SHIFT - 10): whole pages only.
    sysctl(k, "overcommit_kbytes", "100003");
    expect(meminfoKb(k, "CommitLimit")).toBe(100000n);
    // A negative ratio is an unsigned long in the product, which wraps at 64 bits.
    sysctl(k, "overcommit_ratio", "-1");
    const pages = (2n ** 64n - 28672n) / 100n;
    expect(meminfoKb(k, "CommitLimit")).toBe((pages * 4n) % 2n ** 64n);
  });
});

describe("vm_committed_as: who charges it and who gives it back (OVERCOMMIT_GUESS)", () => {
  it("mmap() charges a private writable mapping (VM_ACCOUNT); munmap, partial too, and exit give it back", () => {
    const k = boot();
    const p = run(k.createProcess());
    const a = run(p.mmap(10 * PAGE, { prot: RW }));
    expect(committed(k)).toBe(10);
    expect(flagsAt(k, p.pid, a) & VM_ACCOUNT).toBe(VM_ACCOUNT);
    run(p.write(a, pattern(PAGE, 1)));
    run(p.munmap(a + 3 * PAGE, 4 * PAGE));
    expect(committed(k)).toBe(6);
    // Not accountable: read-only, MAP_NORESERVE, hugetlb (its reservations account for it).
    const ro = run(p.mmap(5 * PAGE, { prot: PROT_READ }));
    const nr = run(p.mmap(5 * PAGE, { prot: RW, flags: ANON | MAP_NORESERVE }));
    expect(flagsAt(k, p.pid, nr) & (VM_ACCOUNT | VM_NORESERVE)).toBe(VM_NORESERVE);
    sysctl(k, "nr_hugepages", "1");
    run(p.mmap(2 * MiB, { prot: RW, flags: ANON | MAP_HUGETLB }));
    expect(committed(k)).toBe(6);
    // A file: a private writable mapping is charged (its written pages become anonymous), a
    // shared one is not (its pages are the file's).
    const file = run(k.createFile("f"));
    run(file.truncate(4 * PAGE));
    const fp = run(p.mmap(4 * PAGE, { prot: RW, flags: MAP_PRIVATE, file }));
    run(p.mmap(4 * PAGE, { prot: RW, flags: MAP_SHARED, file }));
    expect(committed(k)).toBe(10);
    run(p.munmap(fp, 4 * PAGE));
    expect(committed(k)).toBe(6);
    expect(flagsAt(k, p.pid, ro) & VM_ACCOUNT).toBe(0);
    // Shared anonymous memory: shmem_acct_size() charges the object, not the VMA, and its
    // eviction with the last mapping gives it back; MAP_NORESERVE makes it uncharged.
    const s = run(p.mmap(7 * PAGE, { prot: RW, flags: MAP_SHARED | MAP_ANONYMOUS }));
    expect(committed(k)).toBe(13);
    expect(flagsAt(k, p.pid, s) & VM_ACCOUNT).toBe(0);
    run(p.write(s, pattern(PAGE, 2)));
    const child = run(p.fork());
    run(p.munmap(s, 7 * PAGE));
    // The child still maps the object (and has its own copy of the 6 charged pages).
    expect(committed(k)).toBe(13 + 6);
    run(child.exit());
    expect(committed(k)).toBe(6);
    run(p.mmap(7 * PAGE, { prot: RW, flags: MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE }));
    expect(committed(k)).toBe(6);
    run(p.exit());
    expect(committed(k)).toBe(0);
    expectConsistent(k);
  });

  it("a MAP_FIXED mapping takes over the charge of the VMAs it replaces, or gives it back", () => {
    const k = boot();
    const p = run(k.createProcess());
    const a = run(p.mmap(8 * PAGE, { prot: RW }));
    run(p.mmap(4 * PAGE, { addr: a + 2 * PAGE, prot: RW, flags: ANON | MAP_FIXED }));
    expect(committed(k)).toBe(8);
    run(p.mmap(4 * PAGE, { addr: a + 6 * PAGE, prot: PROT_READ, flags: ANON | MAP_FIXED }));
    expect(committed(k)).toBe(6);
    run(p.mmap(4 * PAGE, { addr: a + 6 * PAGE, prot: RW, flags: ANON | MAP_FIXED }));
    expect(committed(k)).toBe(10);
    run(p.munmap(a, 10 * PAGE));
    expect(committed(k)).toBe(0);
  });

  it("mprotect() charges a private VMA made writable once; an unwritten anonymous one made read-only gives it back", () => {
    const k = boot();
    const p = run(k.createProcess());
    const a = run(p.mmap(8 * PAGE, { prot: PROT_READ }));
    expect(committed(k)).toBe(0);
    run(p.mprotect(a, 8 * PAGE, RW));
    expect(committed(k)).toBe(8);
    expect(flagsAt(k, p.pid, a) & VM_ACCOUNT).toBe(VM_ACCOUNT);
    // No anon_vma yet: nothing was written, so the charge goes back with VM_ACCOUNT.
    run(p.mprotect(a, 4 * PAGE, PROT_READ));
    expect(committed(k)).toBe(4);
    expect(flagsAt(k, p.pid, a) & VM_ACCOUNT).toBe(0);
    run(p.mprotect(a, 4 * PAGE, RW));
    expect(committed(k)).toBe(8);
    expect(p.mm!.vmasIn(a, a + 8 * PAGE)).toHaveLength(1);
    // Once written, read-only keeps the charge, and writable again charges nothing more.
    run(p.write(a, pattern(PAGE, 3)));
    run(p.mprotect(a, 8 * PAGE, PROT_READ));
    expect(committed(k)).toBe(8);
    run(p.mprotect(a, 8 * PAGE, RW));
    expect(committed(k)).toBe(8);
    // A VM_NORESERVE VMA made writable is not charged.
    const n = run(p.mmap(3 * PAGE, { prot: PROT_READ, flags: ANON | MAP_NORESERVE }));
    run(p.mprotect(n, 3 * PAGE, RW));
    expect(committed(k)).toBe(8);
    expect(flagsAt(k, p.pid, n) & VM_ACCOUNT).toBe(0);
    // What merge.c's MAP_NORESERVE avoids: two read-only halves, one written (VM_ACCOUNT kept)
    // and one not (VM_ACCOUNT dropped), differ in their flags and stay two VMAs.
    const b = run(p.mmap(10 * PAGE, { prot: RW }));
    run(p.mprotect(b, 5 * PAGE, PROT_READ));
    run(p.write(b + 5 * PAGE, pattern(PAGE, 4)));
    run(p.mprotect(b + 5 * PAGE, 5 * PAGE, PROT_READ));
    expect(p.mm!.vmasIn(b, b + 10 * PAGE).map((v) => [v.start - b, v.flags & VM_ACCOUNT])).toEqual([
      [0, 0],
      [5 * PAGE, VM_ACCOUNT],
    ]);
    expect(committed(k)).toBe(8 + 5);
    expectConsistent(k);
  });

  it("fork() charges the child's copy of every VM_ACCOUNT VMA; the child's exit gives it back", () => {
    const k = boot();
    const p = run(k.createProcess());
    const a = run(p.mmap(10 * PAGE, { prot: RW }));
    run(p.mmap(5 * PAGE, { prot: PROT_READ }));
    run(p.mmap(3 * PAGE, { prot: RW, flags: ANON | MAP_NORESERVE }));
    run(p.write(a, pattern(PAGE, 5)));
    expect(committed(k)).toBe(10);
    const child = run(p.fork());
    expect(committed(k)).toBe(20);
    expect(flagsAt(k, child.pid, a) & VM_ACCOUNT).toBe(VM_ACCOUNT);
    run(child.munmap(a, 4 * PAGE));
    expect(committed(k)).toBe(16);
    run(child.exit());
    expect(committed(k)).toBe(10);
    // dup_mmap() skips a VM_DONTCOPY VMA (MADV_DONTFORK) before its charge.
    run(p.madvise(a, 4 * PAGE, MADV_DONTFORK));
    const second = run(p.fork());
    expect(committed(k)).toBe(16);
    run(second.exit());
    run(p.exit());
    expect(committed(k)).toBe(0);
  });

  it("a VM_NORESERVE shmem object is charged page by page as it is filled (shmem_acct_blocks()); its eviction gives them back", () => {
    const k = boot();
    const p = run(k.createProcess());
    const flags = MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE;
    const s = run(p.mmap(8 * PAGE, { prot: RW, flags }));
    expect(committed(k)).toBe(0);
    // shmem_alloc_and_add_folio() → shmem_inode_acct_blocks(): each new page of the object is
    // committed as it is allocated; a read of a hole allocates it too (shmem_fault()).
    run(p.write(s, pattern(3 * PAGE, 1)));
    expect(committed(k)).toBe(3);
    run(p.read(s + 5 * PAGE, 1));
    expect(committed(k)).toBe(4);
    // Pages already in the cache are charged once, whoever maps them.
    const child = run(p.fork());
    run(child.write(s, pattern(PAGE, 2)));
    run(child.write(s + 7 * PAGE, pattern(PAGE, 3)));
    expect(committed(k)).toBe(5);
    run(p.munmap(s, 8 * PAGE));
    expect(committed(k)).toBe(5);
    // The last mapping's munmap evicts the object: shmem_truncate_range() frees every page and
    // shmem_recalc_inode() gives their charge back.
    run(child.munmap(s, 8 * PAGE));
    expect(committed(k)).toBe(0);
    expectConsistent(k);
  });

  it("a stack's growth is charged (acct_stack_growth()); only a VM_ACCOUNT stack gives it back", () => {
    const k = boot();
    const p = run(k.createProcess());
    const top = 0x10_0000_0000;
    const flags = ANON | MAP_GROWSDOWN | MAP_FIXED;
    run(p.mmap(PAGE, { addr: top - PAGE, prot: RW, flags }));
    expect(committed(k)).toBe(1);
    run(p.write(top - 4 * PAGE, pattern(8, 1)));
    expect(p.mm!.findVma(top - PAGE)!.start).toBe(top - 4 * PAGE);
    expect(committed(k)).toBe(4);
    run(p.munmap(top - 4 * PAGE, 4 * PAGE));
    expect(committed(k)).toBe(0);
    // A read-only stack is not VM_ACCOUNT: its growth is committed all the same, and stays so.
    run(p.mmap(PAGE, { addr: top - PAGE, prot: PROT_READ, flags }));
    run(p.read(top - 3 * PAGE, 1));
    expect(committed(k)).toBe(2);
    run(p.munmap(top - 3 * PAGE, 3 * PAGE));
    expect(committed(k)).toBe(2);
  });
});

describe("the overcommit modes (__vm_enough_memory())", () => {
  // LTP overcommit_memory: commit_left = CommitLimit - Committed_AS; sum_total is RAM and swap.
  it("LTP overcommit_memory: NEVER refuses commit_left * 2 and grants commit_left / 2; GUESS refuses twice RAM, ALWAYS grants it", () => {
    const k = boot();
    const p = run(k.createProcess());
    const alloc = (bytes: number): void => {
      const addr = run(p.mmap(bytes, { prot: RW }));
      run(p.munmap(addr, bytes));
    };
    sysctl(k, "overcommit_memory", "2");
    const left = (commitLimit(k) - committed(k)) * PAGE;
    expect(left).toBe(16384 * PAGE);
    expectErrno(p.mmap(left * 2, { prot: RW }), "ENOMEM");
    expectErrno(p.mmap(commitLimit(k) * PAGE + PAGE, { prot: RW }), "ENOMEM");
    alloc(left / 2);
    const sumTotal = Number(meminfoKb(k, "MemTotal")) * 1024;
    sysctl(k, "overcommit_memory", "0");
    alloc(Number(meminfoKb(k, "MemFree")) * 512);
    expect(expectErrno(p.mmap(sumTotal * 2, { prot: RW }), "ENOMEM").message).toMatch(
      /65536 pages of committed memory exceed the 32768 pages of RAM and swap/,
    );
    sysctl(k, "overcommit_memory", "1");
    alloc(sumTotal / 2);
    alloc(sumTotal);
    const twice = run(p.mmap(sumTotal * 2, { prot: RW }));
    expect(committed(k)).toBe(65536);
    run(p.munmap(twice, sumTotal * 2));
    expect(committed(k)).toBe(0);
  });

  it("GUESS: a read-only shared anonymous mapping is charged all the same (shmem_acct_size() ignores the protection)", () => {
    const k = boot();
    const p = run(k.createProcess());
    // Twice RAM: refused as a shmem object, granted as a read-only private mapping.
    const twiceRam = 65536 * PAGE;
    expectErrno(p.mmap(twiceRam, { prot: PROT_READ, flags: MAP_SHARED | MAP_ANONYMOUS }), "ENOMEM");
    expect(k.addressSpaces.size).toBe(0);
    run(p.mmap(twiceRam, { prot: PROT_READ }));
    run(p.mmap(8 * PAGE, { prot: PROT_READ, flags: MAP_SHARED | MAP_ANONYMOUS }));
    expect(committed(k)).toBe(8);
  });

  it("NEVER: the commitment with the request must stay below CommitLimit less the admin and user reserves", () => {
    const k = boot();
    sysctl(k, "overcommit_memory", "2");
    const root = run(k.createProcess());
    // Root (CAP_SYS_ADMIN) with no mappings (total_vm 0, no user reserve): below 16384.
    expect(expectErrno(root.mmap(16384 * PAGE, { prot: RW }), "ENOMEM").message).toMatch(
      /OVERCOMMIT_NEVER/,
    );
    expect(committed(k)).toBe(0);
    expect(root.mm!.vmas).toHaveLength(0);
    const a = run(root.mmap(16383 * PAGE, { prot: RW }));
    expect(committed(k)).toBe(16383);
    // total_vm is 16383 now: the user reserve is min(16383 / 32, 1023) = 511 pages.
    expectErrno(root.mmap(PAGE, { prot: RW }), "ENOMEM");
    run(root.munmap(a, 16383 * PAGE));
    // Read-only mappings are not charged, but count in total_vm: 3200 / 32 = 100 pages kept.
    run(root.mmap(3200 * PAGE, { prot: PROT_READ }));
    expectErrno(root.mmap(16284 * PAGE, { prot: RW }), "ENOMEM");
    run(root.mmap(16283 * PAGE, { prot: RW }));
    run(root.exit());
    expect(committed(k)).toBe(0);
    // Without CAP_SYS_ADMIN the admin reserve (1023 pages) is kept back too.
    const user = run(k.createProcess({ uid: 1000 }));
    expectErrno(user.mmap(15361 * PAGE, { prot: RW }), "ENOMEM");
    run(user.mmap(15360 * PAGE, { prot: RW }));
    expect(committed(k)).toBe(15360);
    // The reserves are the sysctls': with none, the user gets the whole limit.
    run(user.exit());
    sysctl(k, "admin_reserve_kbytes", "0");
    sysctl(k, "user_reserve_kbytes", "0");
    const again = run(k.createProcess({ uid: 1000 }));
    run(again.mmap(PAGE, { prot: PROT_READ }));
    run(again.mmap(16383 * PAGE, { prot: RW }));
    expectErrno(again.mmap(PAGE, { prot: RW }), "ENOMEM");
  });

  it("NEVER ignores MAP_NORESERVE but for hugetlb; a VMA made VM_NORESERVE before stays uncharged", () => {
    const k = boot();
    const p = run(k.createProcess());
    const before = run(p.mmap(4 * PAGE, { prot: RW, flags: ANON | MAP_NORESERVE }));
    sysctl(k, "overcommit_memory", "2");
    const a = run(p.mmap(10 * PAGE, { prot: RW, flags: ANON | MAP_NORESERVE }));
    expect(flagsAt(k, p.pid, a) & (VM_ACCOUNT | VM_NORESERVE)).toBe(VM_ACCOUNT);
    const s = run(
      p.mmap(3 * PAGE, { prot: RW, flags: MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE }),
    );
    expect(flagsAt(k, p.pid, s) & VM_NORESERVE).toBe(0);
    expect(committed(k)).toBe(13);
    expectErrno(p.mmap(16384 * PAGE, { prot: RW, flags: ANON | MAP_NORESERVE }), "ENOMEM");
    const h = run(p.mmap(2 * MiB, { prot: RW, flags: ANON | MAP_HUGETLB | MAP_NORESERVE }));
    expect(flagsAt(k, p.pid, h) & VM_NORESERVE).toBe(VM_NORESERVE);
    expect(flagsAt(k, p.pid, before) & (VM_ACCOUNT | VM_NORESERVE)).toBe(VM_NORESERVE);
    run(p.munmap(s, 3 * PAGE));
    run(p.munmap(a, 10 * PAGE));
    expect(committed(k)).toBe(0);
  });

  it("NEVER: a shared anonymous MAP_FIXED mapping is charged with the VMAs it replaces still in total_vm; refused, it leaves the range empty", () => {
    const k = boot();
    sysctl(k, "overcommit_memory", "2");
    const p = run(k.createProcess());
    run(p.mmap(8000 * PAGE, { prot: RW }));
    const at = 0x10_0000_0000;
    run(p.mmap(3200 * PAGE, { addr: at, prot: PROT_READ, flags: ANON | MAP_FIXED }));
    // total_vm 11200 with the 3200 pages replaced: the user reserve is 350 pages, so 8000 + 8034
    // is not below 16384 - 350 (without them it would be 250, and the mapping would fit).
    const flags = MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED;
    expectErrno(p.mmap(8034 * PAGE, { addr: at, prot: RW, flags }), "ENOMEM");
    expect(p.mm!.findVmaIntersection(at, at + 8034 * PAGE)).toBeUndefined();
    expect(committed(k)).toBe(8000);
    expect(k.addressSpaces.size).toBe(0);
    run(p.mmap(8033 * PAGE, { addr: at, prot: RW, flags }));
    expect(committed(k)).toBe(16033);
  });

  it("NEVER: a VM_NORESERVE shmem page the policy refuses is SIGBUS (shmem_acct_blocks()'s -ENOSPC), with the faulting mm's user reserve", () => {
    const k = boot();
    const p = run(k.createProcess());
    // Made VM_NORESERVE while overcommit is allowed; NEVER then charges its pages one by one.
    const s = run(
      p.mmap(4 * PAGE, { prot: RW, flags: MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE }),
    );
    const child = run(p.fork());
    sysctl(k, "overcommit_memory", "2");
    run(p.mmap(15886 * PAGE, { prot: RW }));
    // p's total_vm is 15890: its user reserve is 496 pages, so it may commit below 15888.
    run(p.write(s, pattern(PAGE, 1)));
    expect(committed(k)).toBe(15887);
    // The child's total_vm is 4, its reserve 0: its page goes through.
    run(child.write(s + PAGE, pattern(PAGE, 2)));
    expect(committed(k)).toBe(15888);
    // shmem_get_folio_gfp() fails with -ENOSPC, which shmem_fault() turns into VM_FAULT_SIGBUS.
    const e = expectSignal(p.write(s + 2 * PAGE, pattern(PAGE, 3)), "SIGBUS", "BUS_ADRERR");
    expect([e.signo, e.addr, p.exitCode]).toEqual([7, s + 2 * PAGE, 7]);
    expect(committed(k)).toBe(2);
    expect([...run(child.read(s, 1)), ...run(child.read(s + PAGE, 1))]).toEqual([
      pattern(1, 1)[0],
      pattern(1, 2)[0],
    ]);
    run(child.exit());
    expect(committed(k)).toBe(0);
    expectConsistent(k);
  });

  it("NEVER: a VM_NORESERVE shmem THP whose 512 pages are refused falls back to a base page, neither counted (shmem_get_folio_gfp())", () => {
    const k = boot();
    run(k.fs.write("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "always"));
    const p = run(k.createProcess());
    const at = 0x10_0000_0000;
    const flags = MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED;
    const s = run(p.mmap(4 * MiB, { addr: at, prot: RW, flags }));
    const mapping = p.mm!.findVma(s)!.mapping!;
    const orderAt = (pgoff: number) => k.memmap.folioOrder(mapping.pages.get(pgoff)!);
    run(p.write(s, pattern(8, 1)));
    expect([orderAt(0), committed(k), k.vmstat.get("thp_file_alloc")]).toEqual([9, 512, 1]);
    sysctl(k, "overcommit_memory", "2");
    run(p.mmap(15000 * PAGE, { prot: RW }));
    // total_vm 16024: the user reserve is 500 pages, so 15512 may grow below 15884: by one page,
    // not by 512.
    const fallback = k.vmstat.get("thp_file_fallback");
    run(p.write(s + 2 * MiB, pattern(8, 2)));
    expect([orderAt(512), committed(k)]).toEqual([0, 15513]);
    expect([k.vmstat.get("thp_file_alloc"), k.vmstat.get("thp_file_fallback")]).toEqual([
      1,
      fallback,
    ]);
    run(p.exit());
    expect(committed(k)).toBe(0);
    expectConsistent(k);
  });

  it("NEVER: a fork refused a later VMA's charge gives back the earlier ones' and allocates no pid (copy_mm() before alloc_pid())", () => {
    const k = boot();
    sysctl(k, "overcommit_memory", "2");
    const p = run(k.createProcess());
    // Top-down: b lies below the read-only page, which keeps it from merging with a.
    const a = run(p.mmap(6000 * PAGE, { prot: RW }));
    run(p.mmap(PAGE, { prot: PROT_READ }));
    const b = run(p.mmap(4000 * PAGE, { prot: RW }));
    expect(b + 4001 * PAGE).toBe(a);
    run(p.write(a, pattern(PAGE, 1)));
    run(p.write(b, pattern(PAGE, 2)));
    // total_vm 10001, user reserve 312: dup_mmap() charges b (14000 < 16072), then a is refused.
    expect(expectErrno(p.fork(), "ENOMEM").message).toMatch(/6000 more pages would commit 20000/);
    expect(committed(k)).toBe(10000);
    expectErrno(p.fork(), "ENOMEM");
    expect(k.fs.exists(`/proc/${p.pid + 1}`)).toBe(false);
    run(p.munmap(a + 3000 * PAGE, 3000 * PAGE));
    const child = run(p.fork());
    expect(child.pid).toBe(p.pid + 1);
    expect(run(k.createProcess()).pid).toBe(p.pid + 2);
    expect(committed(k)).toBe(14000);
    expectConsistent(k);
  });

  it("NEVER: mprotect(), fork() and a shared anonymous mmap() are ENOMEM past the limit, nothing changed", () => {
    const k = boot();
    sysctl(k, "overcommit_memory", "2");
    const p = run(k.createProcess());
    const ro = run(p.mmap(9000 * PAGE, { prot: PROT_READ }));
    const rw = run(p.mmap(8000 * PAGE, { prot: RW }));
    run(p.write(rw, pattern(PAGE, 6)));
    expect(committed(k)).toBe(8000);
    // total_vm 17000: the user reserve is min(531, 1023); 8000 + 9000 is not below 16384 - 531.
    expectErrno(p.mprotect(ro, 9000 * PAGE, RW), "ENOMEM");
    expect(flagsAt(k, p.pid, ro) & (VM_WRITE | VM_ACCOUNT)).toBe(0);
    expect(committed(k)).toBe(8000);
    // The child's copy of the 8000 charged pages would commit 16000.
    const tasks = [...k.tasks.keys()];
    expectErrno(p.fork(), "ENOMEM");
    expect([...k.tasks.keys()]).toEqual(tasks);
    expect(committed(k)).toBe(8000);
    expectErrno(p.mmap(8000 * PAGE, { prot: RW, flags: MAP_SHARED | MAP_ANONYMOUS }), "ENOMEM");
    expect(committed(k)).toBe(8000);
    // Below the limit each goes through: 7852 more pages leave the commitment at 15852.
    run(p.mprotect(ro, 7852 * PAGE, RW));
    expect(committed(k)).toBe(15852);
    run(p.munmap(ro, 9000 * PAGE));
    // A MAP_FIXED mapping that replaces charged pages one for one needs no new charge.
    run(p.mmap(8000 * PAGE, { addr: rw, prot: RW, flags: ANON | MAP_FIXED }));
    expect(committed(k)).toBe(8000);
    expectErrno(p.mmap(16384 * PAGE, { prot: RW }), "ENOMEM");
    run(p.exit());
    expect(committed(k)).toBe(0);
    expectConsistent(k);
  });
});
