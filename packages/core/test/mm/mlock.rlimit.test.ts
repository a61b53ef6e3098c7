// RLIMIT_MEMLOCK and CAP_IPC_LOCK, as Linux 6.16 checks them: can_do_mlock() and do_mlock()'s
// limit check with count_mm_mlocked_page_nr() (mm/mlock.c), mlock_future_ok() for
// mmap(MAP_LOCKED) (mm/mmap.c), the 8 MiB MLOCK_LIMIT default (include/uapi/linux/resource.h,
// Linux 5.16+). The EPERM and ENOMEM cases follow LTP's mlock02 (a root task with the limit set
// to 0 or to getpagesize() - 1 that drops its effective uid to nobody, and so CAP_IPC_LOCK).
import { Effect, Exit } from "effect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CAP_IPC_LOCK,
  MAP_ANONYMOUS,
  MAP_LOCKED,
  MAP_PRIVATE,
  MLOCK_LIMIT,
  mlockFutureOk,
  mmLockedVm,
  RLIM_INFINITY,
  type Task,
  VM_LOCKED,
} from "../../src/index";
import { boot, expectConsistent, expectErrno, folioAt, run } from "../../src/testing/index";

const PAGE = 4096;
/** The uid LTP's mlock02 switches its effective uid to (`getpwnam("nobody")`). */
const NOBODY = 65534;
const LOCKED_ANON = MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED;

/** `seteuid(uid)`: `setresuid(-1, uid, -1)`, which leaves the effective capabilities to match. */
const seteuid = (task: Task, uid: number) => run(task.setresuid(-1, uid, -1));

/** The `[start, end, flags]` of every VMA of `task`. */
const layout = (task: Task) => task.mm!.vmas.map((v) => [v.start, v.end, v.flags]);

describe("LTP mlock02: the caller without CAP_IPC_LOCK", () => {
  it("gets EPERM from mlock() when its RLIMIT_MEMLOCK is 0 (can_do_mlock()); root may still lock", () => {
    const k = boot();
    const p = run(k.createProcess({ rlimitMemlock: 0 }));
    const addr = run(p.mmap(PAGE, { prot: 1 }));
    seteuid(p, NOBODY);
    expect(p.capable(CAP_IPC_LOCK)).toBe(false);
    expectErrno(p.mlock(addr, PAGE), "EPERM");
    expect(p.mm!.findVma(addr)!.flags & VM_LOCKED).toBe(0);
    // A zero-length mlock() is EPERM too: can_do_mlock() comes before anything else.
    expectErrno(p.mlock(addr, 0), "EPERM");
    seteuid(p, 0);
    run(p.mlock(addr, PAGE));
    expect(p.mm!.findVma(addr)!.flags & VM_LOCKED).toBe(VM_LOCKED);
    expect(mmLockedVm(p.mm!)).toBe(1);
    expectConsistent(k);
  });

  it("gets ENOMEM from mlock() of one page when RLIMIT_MEMLOCK is getpagesize() - 1 (the limit rounds down to 0 pages)", () => {
    const k = boot();
    const p = run(k.createProcess({ rlimitMemlock: PAGE - 1 }));
    const addr = run(p.mmap(PAGE, { prot: 1 }));
    seteuid(p, NOBODY);
    const before = layout(p);
    expectErrno(p.mlock(addr, PAGE), "ENOMEM");
    expect(layout(p)).toEqual(before);
    expect(mmLockedVm(p.mm!)).toBe(0);
    seteuid(p, 0);
    run(p.mlock(addr, PAGE));
    expect(mmLockedVm(p.mm!)).toBe(1);
  });
});

describe("do_mlock() against the default RLIMIT_MEMLOCK (MLOCK_LIMIT, 8 MiB = 2048 pages)", () => {
  it("lets a non-root task lock 8 MiB, not a page more, counting a range already locked once", () => {
    const k = boot();
    const p = run(k.createProcess({ uid: 1000 }));
    expect(p.rlimitMemlock).toBe(MLOCK_LIMIT);
    expect(MLOCK_LIMIT).toBe(8 * 2 ** 20);
    const addr = run(p.mmap(MLOCK_LIMIT + 2 * PAGE, { hugepage: false }));
    run(p.mlock(addr, MLOCK_LIMIT));
    expect(mmLockedVm(p.mm!)).toBe(2048);
    expect(folioAt(p, addr + MLOCK_LIMIT - PAGE).mlocked).toBe(true);
    // locked_vm + len = 2049 pages > 2048: ENOMEM, nothing changed.
    const before = layout(p);
    expectErrno(p.mlock(addr + MLOCK_LIMIT, PAGE), "ENOMEM");
    expect(layout(p)).toEqual(before);
    // The same 8 MiB again: 4096 pages less the 2048 already locked (count_mm_mlocked_page_nr()).
    run(p.mlock(addr, MLOCK_LIMIT));
    // Shifted by a page: 2048 + 2048 - 2047 = 2049 > 2048.
    expectErrno(p.mlock(addr + PAGE, MLOCK_LIMIT), "ENOMEM");
    // An unaligned start grows the length to whole pages first: [addr, addr + 2 pages) is
    // locked already, so 2048 + 2 - 2 = 2048 passes.
    run(p.mlock(addr + 100, PAGE));
    // munlock() gives pages back to the limit.
    run(p.munlock(addr, PAGE));
    expect(mmLockedVm(p.mm!)).toBe(2047);
    run(p.mlock(addr + MLOCK_LIMIT, PAGE));
    expect(mmLockedVm(p.mm!)).toBe(2048);
    // munmap() of a locked page does too (vms_complete_munmap_vmas()).
    run(p.munmap(addr + PAGE, PAGE));
    expect(mmLockedVm(p.mm!)).toBe(2047);
    run(p.mlock(addr, PAGE));
    expect(mmLockedVm(p.mm!)).toBe(2048);
    expectConsistent(k);
  });

  it("puts no limit on a task with CAP_IPC_LOCK, whatever its uid, or on RLIM_INFINITY", () => {
    const k = boot();
    const capped = run(k.createProcess({ uid: 1000, capabilities: [CAP_IPC_LOCK] }));
    const a = run(capped.mmap(MLOCK_LIMIT + PAGE, { hugepage: false }));
    run(capped.mlock(a, MLOCK_LIMIT + PAGE));
    expect(mmLockedVm(capped.mm!)).toBe(2049);
    const unlimited = run(k.createProcess({ uid: 1000, rlimitMemlock: RLIM_INFINITY }));
    const b = run(unlimited.mmap(MLOCK_LIMIT + PAGE, { hugepage: false }));
    run(unlimited.mlock(b, MLOCK_LIMIT + PAGE));
    expect(mmLockedVm(unlimited.mm!)).toBe(2049);
    expectConsistent(k);
  });
});

describe("mmap(MAP_LOCKED): can_do_mlock() and mlock_future_ok() (do_mmap(), mm/mmap.c)", () => {
  it("is EAGAIN past the limit and EPERM with a limit of 0 for a non-root task, mapping nothing", () => {
    const k = boot();
    const p = run(k.createProcess({ uid: 1000 }));
    const addr = run(p.mmap(MLOCK_LIMIT, { flags: LOCKED_ANON, hugepage: false }));
    expect(p.mm!.findVma(addr)!.flags & VM_LOCKED).toBe(VM_LOCKED);
    expect(mmLockedVm(p.mm!)).toBe(2048);
    const before = layout(p);
    expectErrno(p.mmap(PAGE, { flags: LOCKED_ANON }), "EAGAIN");
    expect(layout(p)).toEqual(before);
    // Without MAP_LOCKED the mapping is no locked memory.
    run(p.mmap(PAGE));
    expect(mlockFutureOk(k, p, 0, PAGE)).toBe(true);
    expect(mlockFutureOk(k, p, VM_LOCKED, PAGE)).toBe(false);
    expect(mlockFutureOk(k, p, VM_LOCKED, PAGE - 1)).toBe(true);

    const zero = run(k.createProcess({ uid: 1000, rlimitMemlock: 0 }));
    expectErrno(zero.mmap(PAGE, { flags: LOCKED_ANON }), "EPERM");
    expect(zero.mm!.mapCount).toBe(0);
    // Root holds CAP_IPC_LOCK: neither check applies.
    const root = run(k.createProcess({ rlimitMemlock: 0 }));
    run(root.mmap(MLOCK_LIMIT + PAGE, { flags: LOCKED_ANON, hugepage: false }));
    expect(mmLockedVm(root.mm!)).toBe(2049);
    expectConsistent(k);
  });
});

describe("RLIMIT_MEMLOCK of a task", () => {
  it("is inherited by fork() (copy_signal()); the child's locked_vm starts at 0", () => {
    const k = boot();
    const p = run(k.createProcess({ uid: 1000, rlimitMemlock: 2 * PAGE }));
    const addr = run(p.mmap(2 * PAGE));
    run(p.mlock(addr, 2 * PAGE));
    const child = run(p.fork());
    expect(child.rlimitMemlock).toBe(2 * PAGE);
    expect(mmLockedVm(child.mm!)).toBe(0);
    run(child.mlock(addr, 2 * PAGE));
    expectErrno(child.mmap(PAGE, { flags: LOCKED_ANON }), "EAGAIN");
  });

  it("must be a non-negative integer or RLIM_INFINITY (EINVAL)", () => {
    const k = boot();
    for (const bad of [-1, 1.5, Number.NaN, "8M"]) {
      expectErrno(k.createProcess({ rlimitMemlock: bad as number }), "EINVAL");
    }
    expect([...k.tasks.keys()]).toEqual([1]); // init alone
  });

  it("bounds locked_vm by the limit through any mlock(), munlock(), munmap() and mmap(MAP_LOCKED); a refused call changes nothing (property)", () => {
    const op = fc.record({
      kind: fc.constantFrom("mlock", "munlock", "munmap", "mmap"),
      page: fc.nat(15),
      pages: fc.integer({ min: 1, max: 6 }),
    });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 12 }), fc.array(op, { maxLength: 12 }), (lim, ops) => {
        const k = boot({ nodes: ["16M"] });
        const p = run(k.createProcess({ uid: 1000, rlimitMemlock: lim * PAGE }));
        const base = run(p.mmap(16 * PAGE, { hugepage: false }));
        for (const { kind, page, pages } of ops) {
          const at = base + page * PAGE;
          const len = pages * PAGE;
          const before = layout(p);
          const exit = Effect.runSyncExit(
            kind === "mlock"
              ? p.mlock(at, len)
              : kind === "munlock"
                ? p.munlock(at, len)
                : kind === "munmap"
                  ? p.munmap(at, len)
                  : p.mmap(len, { flags: LOCKED_ANON }),
          );
          if (Exit.isFailure(exit)) {
            const found = Exit.findErrorOption(exit);
            const err = found._tag === "Some" ? (found.value as { errno?: string }) : {};
            // The limit's refusals come before anything changes.
            if (err.errno === "EPERM" || err.errno === "EAGAIN") expect(layout(p)).toEqual(before);
            if (kind === "mlock" && err.errno === "ENOMEM" && p.mm!.vmasIn(at, at + len).length) {
              const mapped = p
                .mm!.vmasIn(at, at + len)
                .reduce((n, v) => n + Math.min(at + len, v.end) - Math.max(at, v.start), 0);
              if (mapped === len) expect(layout(p)).toEqual(before);
            }
          }
          expect(mmLockedVm(p.mm!)).toBeLessThanOrEqual(lim);
        }
        expectConsistent(k);
      }),
      { numRuns: 30 },
    );
  });
});
