import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import {
  CAP_SYS_NICE,
  CAP_SYS_PTRACE,
  MAP_ANONYMOUS,
  MAP_SHARED,
  MPOL_MF_MOVE,
  MPOL_MF_MOVE_ALL,
  PR_GET_DUMPABLE,
  PR_SET_DUMPABLE,
  PTRACE_MODE_READ,
  PTRACE_MODE_READ_FSCREDS,
  PTRACE_MODE_READ_REALCREDS,
  ptraceMayAccess,
  SUID_DUMP_DISABLE,
  SUID_DUMP_USER,
} from "../../src/index";
import { boot, expectErrno, run } from "../../src/testing/index";

const NOBODY = 65534;

describe("ptrace_may_access (kernel/ptrace.c __ptrace_may_access)", () => {
  it("a task may inspect itself; a mode needs exactly one of FSCREDS and REALCREDS", () => {
    const k = boot();
    const p = run(k.createProcess({ uid: 1000 }));
    expect(ptraceMayAccess(p, p, PTRACE_MODE_READ_REALCREDS)).toBe(true);
    // "denying ptrace access check without PTRACE_MODE_*CREDS"
    expect(ptraceMayAccess(p, p, PTRACE_MODE_READ)).toBe(false);
    expect(ptraceMayAccess(p, p, PTRACE_MODE_READ_REALCREDS | PTRACE_MODE_READ_FSCREDS)).toBe(
      false,
    );
  });

  it("the caller's uid and gid must equal the target's real, effective and saved ids", () => {
    const k = boot();
    const caller = run(k.createProcess({ uid: 1000 }));
    const same = run(k.createProcess({ uid: 1000 }));
    const otherGroup = run(k.createProcess({ uid: 1000, gid: 100 }));
    const savedRoot = run(k.createProcess({ uid: 1000, suid: 0 }));
    const setgid = run(k.createProcess({ uid: 1000, egid: 5 }));
    expect(ptraceMayAccess(caller, same, PTRACE_MODE_READ_REALCREDS)).toBe(true);
    expect(ptraceMayAccess(caller, otherGroup, PTRACE_MODE_READ_REALCREDS)).toBe(false);
    expect(ptraceMayAccess(caller, savedRoot, PTRACE_MODE_READ_REALCREDS)).toBe(false);
    expect(ptraceMayAccess(caller, setgid, PTRACE_MODE_READ_REALCREDS)).toBe(false);
  });

  it("REALCREDS compares the caller's real uid, FSCREDS its filesystem uid", () => {
    const k = boot();
    // A set-user-id program: real uid 1001, effective (and fs) uid 1000.
    const suidProgram = run(k.createProcess({ uid: 1001, euid: 1000, gid: 1000 }));
    const target = run(k.createProcess({ uid: 1000 }));
    expect(ptraceMayAccess(suidProgram, target, PTRACE_MODE_READ_REALCREDS)).toBe(false);
    expect(ptraceMayAccess(suidProgram, target, PTRACE_MODE_READ_FSCREDS)).toBe(true);
  });

  it("the target must be dumpable (SUID_DUMP_USER) unless the caller has CAP_SYS_PTRACE", () => {
    const k = boot();
    const caller = run(k.createProcess({ uid: 1000 }));
    const target = run(k.createProcess({ uid: 1000 }));
    const tracer = run(k.createProcess({ uid: 2000, capabilities: [CAP_SYS_PTRACE] }));
    expect(run(target.prctl(PR_GET_DUMPABLE))).toBe(SUID_DUMP_USER);
    expect(run(target.prctl(PR_SET_DUMPABLE, SUID_DUMP_DISABLE))).toBe(0);
    expect(ptraceMayAccess(caller, target, PTRACE_MODE_READ_REALCREDS)).toBe(false);
    expect(ptraceMayAccess(tracer, target, PTRACE_MODE_READ_REALCREDS)).toBe(true);
    // prctl(PR_SET_DUMPABLE) takes SUID_DUMP_DISABLE or SUID_DUMP_USER only (kernel/sys.c).
    expectErrno(target.prctl(PR_SET_DUMPABLE, 2), "EINVAL");
    expect(run(target.prctl(PR_GET_DUMPABLE))).toBe(SUID_DUMP_DISABLE);
    // A kernel thread has no mm to be undumpable: ids decide alone.
    const kthread = run(k.createKernelThread("kworker"));
    expect(ptraceMayAccess(tracer, kthread, PTRACE_MODE_READ_REALCREDS)).toBe(true);
  });
});

describe("set*id (kernel/sys.c) and commit_creds (kernel/cred.c)", () => {
  it("setuid as root sets all three uids, drops every capability and clears dumpable", () => {
    const k = boot();
    const root = run(k.createProcess());
    run(root.setuid(NOBODY));
    expect(root.cred).toMatchObject({ uid: NOBODY, euid: NOBODY, suid: NOBODY, fsuid: NOBODY });
    expect(root.cred.capPermitted.size).toBe(0);
    expect(root.capable(CAP_SYS_NICE)).toBe(false);
    expect(run(root.prctl(PR_GET_DUMPABLE))).toBe(SUID_DUMP_DISABLE);
    // Back to root is refused: 0 is neither the real nor the saved uid.
    expectErrno(root.setuid(0), "EPERM");
    expectErrno(root.setuid(-5), "EINVAL");
  });

  it("seteuid (setresuid(-1, e, -1)) away from 0 clears the effective set; back restores it", () => {
    const k = boot();
    const root = run(k.createProcess());
    run(root.setresuid(-1, NOBODY, -1));
    expect(root.cred).toMatchObject({ uid: 0, euid: NOBODY, suid: 0 });
    expect(root.capable(CAP_SYS_NICE)).toBe(false);
    expect(root.cred.capPermitted.has(CAP_SYS_NICE)).toBe(true);
    run(root.setresuid(-1, 0, -1)); // 0 is the real uid: allowed without CAP_SETUID
    expect(root.capable(CAP_SYS_NICE)).toBe(true);
  });

  it("without CAP_SETUID each new id must be a current one (EPERM); unchanged ids are a no-op", () => {
    const k = boot();
    const p = run(k.createProcess({ uid: 1000, euid: 1001 }));
    expectErrno(p.setresuid(1002, -1, -1), "EPERM");
    run(p.setresuid(1001, 1000, 1000)); // swap real and effective
    expect(p.cred).toMatchObject({ uid: 1001, euid: 1000, suid: 1000 });
    expect(run(p.prctl(PR_GET_DUMPABLE))).toBe(SUID_DUMP_DISABLE); // euid changed
    run(p.prctl(PR_SET_DUMPABLE, 1));
    run(p.setresuid(-1, -1, -1));
    expect(run(p.prctl(PR_GET_DUMPABLE))).toBe(SUID_DUMP_USER);
    expectErrno(p.setresgid(7, -1, -1), "EPERM");
    run(p.setresgid(-1, -1, 1000));
    expectErrno(p.setresuid(-2, -1, -1), "EINVAL");
  });

  it("fork keeps the parent's credentials and dumpable mode", () => {
    const k = boot();
    const p = run(k.createProcess({ uid: 1000 }));
    run(p.prctl(PR_SET_DUMPABLE, 0));
    const child = run(p.fork());
    expect(child.cred).toBe(p.cred);
    expect(run(child.prctl(PR_GET_DUMPABLE))).toBe(SUID_DUMP_DISABLE);
  });
});

describe("LTP migrate_pages02 and move_pages11 credentials, through move_pages(2)", () => {
  const setup = () => {
    const k = boot();
    const root = run(k.createProcess());
    return { k, root };
  };

  it("migrate_pages02 other_process, no CAP_SYS_NICE: same uid after setuid(nobody) and PR_SET_DUMPABLE", () => {
    const { root } = setup();
    const child1 = run(root.fork());
    const addr = run(child1.mmap(4096));
    run(child1.write(addr, new Uint8Array([1])));
    run(child1.setuid(NOBODY)); // commit_creds() clears dumpable
    const child2 = run(root.fork());
    run(child2.setuid(NOBODY));
    // Without the test's prctl(PR_SET_DUMPABLE, 1) the undumpable child1 is refused.
    expectErrno(child2.movePages(child1.pid, [addr], [1], MPOL_MF_MOVE), "EPERM");
    run(child1.prctl(PR_SET_DUMPABLE, 1));
    const { status } = Effect.runSync(child2.movePages(child1.pid, [addr], [1], MPOL_MF_MOVE));
    expect([...status]).toEqual([1]);
    expect(run(child1.nodeOf(addr))).toBe(1);
  });

  it("migrate_pages02 other_process, CAP_SYS_NICE (root): may move an undumpable nobody's pages", () => {
    const { root } = setup();
    const child1 = run(root.fork());
    const addr = run(child1.mmap(4096));
    run(child1.write(addr, new Uint8Array([1])));
    run(child1.setuid(NOBODY));
    const child2 = run(root.fork());
    const { status } = Effect.runSync(child2.movePages(child1.pid, [addr], [1], MPOL_MF_MOVE));
    expect([...status]).toEqual([1]);
  });

  it("migrate_pages02 current_process, no CAP_SYS_NICE: after seteuid(nobody) a shared page stays (-EACCES)", () => {
    const { root } = setup();
    const shared = run(root.mmap(4096, { flags: MAP_SHARED | MAP_ANONYMOUS }));
    run(root.write(shared, new Uint8Array([1])));
    const child = run(root.fork());
    run(child.write(shared, new Uint8Array([1])));
    run(child.setresuid(-1, NOBODY, -1));
    // move_pages11: MPOL_MF_MOVE_ALL without CAP_SYS_NICE is EPERM.
    expectErrno(child.movePages(0, [shared], [1], MPOL_MF_MOVE_ALL), "EPERM");
    const { status } = Effect.runSync(child.movePages(0, [shared], [1], MPOL_MF_MOVE));
    expect(status[0]).toBe(-13); // -EACCES: mapped by two processes, no MPOL_MF_MOVE_ALL
    // As root again (seteuid(0)), MPOL_MF_MOVE_ALL moves it.
    run(child.setresuid(-1, 0, -1));
    const moved = Effect.runSync(child.movePages(0, [shared], [1], MPOL_MF_MOVE_ALL));
    expect(moved.status[0]).toBe(1);
  });
});
