import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import {
  isSignalError,
  MAP_SHARED,
  PROT_READ,
  SI_CODE,
  SIGBUS,
  SIGKILL,
  SIGNO,
  SIGSEGV,
  SignalError,
} from "../../src/index";
import { doSendSigkill } from "../../src/kernel/signal";
import { boot, expectConsistent, expectErrno, expectSignal, run } from "../../src/testing/index";

const PAGE = 4096;

// The numbers a user sees in siginfo_t and in wait()'s status: include/uapi/asm-generic/signal.h
// (SIGBUS 7, SIGKILL 9, SIGSEGV 11 on x86) and include/uapi/asm-generic/siginfo.h (SEGV_MAPERR 1,
// SEGV_ACCERR 2, BUS_ADRERR 2, BUS_MCEERR_AR 4).
describe("signal numbers and si_code values", () => {
  it("are the kernel's", () => {
    expect([SIGBUS, SIGKILL, SIGSEGV]).toEqual([7, 9, 11]);
    expect(SIGNO).toEqual({ SIGBUS: 7, SIGKILL: 9, SIGSEGV: 11 });
    expect(SI_CODE).toEqual({ SEGV_MAPERR: 1, SEGV_ACCERR: 2, BUS_ADRERR: 2, BUS_MCEERR_AR: 4 });
    const e = new SignalError({
      signal: "SIGSEGV",
      reason: "SEGV_ACCERR",
      addr: 0x1000,
      addrLsb: 0,
      message: "m",
    });
    expect([e._tag, e.signo, e.siCode, isSignalError(e), isSignalError(new Error())]).toEqual([
      "SignalError",
      11,
      2,
      true,
      false,
    ]);
  });
});

// force_sig_fault() (kernel/signal.c) from do_user_addr_fault() (arch/x86/mm/fault.c, Linux 6.16);
// with no handler, get_signal() takes the default action of SIGSEGV and SIGBUS (a core dump, none
// written with RLIMIT_CORE 0) and do_group_exit(signr) ends the process with that exit code.
describe("a fault of the process's own access (force_sig_fault(), get_signal(), Linux 6.16)", () => {
  it("SIGSEGV SEGV_MAPERR at an unmapped address: the access fails with it, the process dies of it and its memory is freed", () => {
    const k = boot();
    const free = k.pageAlloc.nodeFreePages(0);
    const p = run(k.createProcess());
    const addr = run(p.mmap(4 * PAGE, { hugepage: false }));
    run(p.write(addr, new Uint8Array(4 * PAGE).fill(1)));
    run(p.munmap(addr + 2 * PAGE, 2 * PAGE));
    expect(k.pageAlloc.nodeFreePages(0)).toBeLessThan(free);
    // The store runs in address order: the first two pages are written, the third faults.
    const e = expectSignal(
      p.write(addr + PAGE, new Uint8Array(2 * PAGE)),
      "SIGSEGV",
      "SEGV_MAPERR",
    );
    expect([e.signo, e.siCode, e.addr, e.addrLsb]).toEqual([11, 1, addr + 2 * PAGE, 0]);
    expect(e.message).toBe(
      `address 0x${(addr + 2 * PAGE).toString(16)} is not mapped; SIGSEGV SEGV_MAPERR`,
    );
    expect([p.exited, p.exitCode, p.forcedSignal]).toEqual([true, SIGSEGV, e]);
    expect(k.findTask(p.pid)).toBeUndefined();
    expect(k.pageAlloc.nodeFreePages(0)).toBe(free);
    // Gone: any later call finds no process.
    expectErrno(p.read(addr, 1), "ESRCH");
    expectConsistent(k);
  });

  it("SIGSEGV SEGV_ACCERR on a page its VMA does not allow; bad arguments stay errnos and kill nobody", () => {
    const k = boot();
    const p = run(k.createProcess());
    const ro = run(p.mmap(PAGE, { prot: PROT_READ }));
    expectErrno(p.read(ro, -1), "EINVAL");
    expectErrno(p.write(-PAGE, new Uint8Array(1)), "EFAULT");
    expect(p.exited).toBe(false);
    expect(run(p.read(ro, 1))[0]).toBe(0);
    const e = expectSignal(p.write(ro + 5, new Uint8Array([1])), "SIGSEGV", "SEGV_ACCERR");
    expect([e.signo, e.siCode, e.addr]).toEqual([11, 2, ro + 5]);
    expect([p.exited, p.exitCode]).toEqual([true, 11]);
  });

  it("SIGBUS BUS_ADRERR past the end of a file (filemap_fault()'s VM_FAULT_SIGBUS; LTP mmap's SIGBUS past EOF)", () => {
    const k = boot();
    const file = run(k.createFile("data"));
    run(file.truncate(PAGE));
    const p = run(k.createProcess());
    const addr = run(p.mmap(2 * PAGE, { flags: MAP_SHARED, file }));
    run(p.write(addr, new Uint8Array([5])));
    const e = expectSignal(p.read(addr + PAGE + 8, 1), "SIGBUS", "BUS_ADRERR");
    expect([e.signo, e.siCode, e.addr, e.addrLsb]).toEqual([7, 2, addr + PAGE + 8, 0]);
    expect([p.exited, p.exitCode]).toEqual([true, SIGBUS]);
    expectConsistent(k);
  });

  it("the exit codes: 0 for exit(), 9 for the OOM killer's SIGKILL, the signal's number for a fault", () => {
    const k = boot();
    const a = run(k.createProcess());
    const b = run(k.createProcess());
    expect([a.exitCode, b.exitCode]).toEqual([null, null]);
    run(a.exit());
    expect(doSendSigkill(k, b)).toBe(true);
    expect([a.exitCode, b.exitCode]).toEqual([0, SIGKILL]);
    expect(b.forcedSignal).toBeNull();
  });

  // do_exit() (kernel/exit.c): "Attempted to kill init! exitcode=0x%08x"; force_sig_info_to_task()
  // clears SIGNAL_UNKILLABLE for a signal with the default action, so init dies of its own fault.
  it("init's fault panics the kernel: Attempted to kill init! exitcode=0x0000000b", async () => {
    const k = boot();
    const init = k.findTask(1)!;
    const e = await Effect.runPromise(Effect.flip(init.read(0x10000, 1)));
    expect(e).toMatchObject({
      _tag: "ErrnoError",
      errno: "ESHUTDOWN",
      message: "read: Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b",
    });
    expect(k.state).toBe("panicked");
  });
});
