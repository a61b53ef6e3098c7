// Writes to /proc/sys as proc_sys_call_handler() makes them (fs/proc/proc_sysctl.c, Linux 6.16):
// proc_sys_permission()/sysctl_perm()/test_perm() at open, the whole count handed to the
// handler (kvzalloc(count + 1), NUL-terminated), and the handler called for an empty write;
// the handlers' own checks (sysctl_numa_balancing()'s CAP_SYS_ADMIN, kernel/sched/core.c;
// sysctl_compaction_handler(), mm/compaction.c).
import { describe, expect, it } from "vitest";
import { CAP_SYS_ADMIN, type Kernel, type TraceEvent } from "../../src/index";
import { boot, expectErrno, run } from "../../src/testing/index";

const PAGE = 4096;

const events = (k: Kernel): TraceEvent[] => {
  const seen: TraceEvent[] = [];
  k.trace.subscribe((e) => seen.push(e));
  return seen;
};
const count = (seen: TraceEvent[], event: string) => seen.filter((e) => e.event === event).length;

describe("proc_sys_call_handler(): the whole count reaches the handler", () => {
  it("a write past PAGE_SIZE returns its whole count less what was left of PAGE_SIZE - 1", () => {
    const k = boot();
    const file = "/proc/sys/vm/max_map_count";
    // __do_proc_dointvec(): left = min(count, PAGE_SIZE - 1); *lenp -= left. 2 * PAGE_SIZE + 1
    // bytes of "7" and blanks: all PAGE_SIZE - 1 parsed bytes consumed, so the whole count.
    const blanks = `7${" ".repeat(2 * PAGE)}`;
    expect(run(k.fs.write(file, blanks))).toBe(2 * PAGE + 1);
    expect(k.maxMapCount).toBe(7);
    // "1 " then 2 * PAGE_SIZE bytes of x: 2 consumed, PAGE_SIZE - 3 left, 2 * PAGE_SIZE + 5 returned
    // (sysfs, cutting the write to PAGE_SIZE, would return 5).
    expect(run(k.fs.write(file, `1 ${"x".repeat(2 * PAGE)}`))).toBe(2 * PAGE + 2 - (PAGE - 3));
    expect(k.maxMapCount).toBe(1);
    // A number past the first PAGE_SIZE - 1 bytes is never seen: EINVAL, the value kept.
    expectErrno(k.fs.write(file, `${" ".repeat(PAGE)}9`), "EINVAL");
    expect(k.maxMapCount).toBe(1);
  });

  it("a write of KMALLOC_MAX_SIZE bytes or more is ENOMEM before the handler runs", () => {
    const k = boot();
    const file = "/proc/sys/vm/max_map_count";
    // KMALLOC_MAX_SIZE = PAGE_SIZE << MAX_PAGE_ORDER: 4 MiB on x86-64 (MAX_PAGE_ORDER 10).
    const max = PAGE << 10;
    // proc_sys_call_handler(): `if (count >= KMALLOC_MAX_SIZE)` -ENOMEM, nothing parsed.
    expectErrno(k.fs.write(file, `5${" ".repeat(max - 1)}`), "ENOMEM");
    expect(k.maxMapCount).toBe(65530);
    // One byte less is allocated and handed to the handler whole.
    expect(run(k.fs.write(file, `5${" ".repeat(max - 2)}`))).toBe(max - 1);
    expect(k.maxMapCount).toBe(5);
    // sysfs cuts its writes to PAGE_SIZE and has no such limit.
    expect(run(k.fs.write("/sys/kernel/mm/numa/demotion_enabled", `1${" ".repeat(max)}`))).toBe(
      PAGE,
    );
    run(k.shutdown());
  });

  it("an empty write calls the handler: proc_dointvec*() return 0 for !*lenp, nothing changed", () => {
    const k = boot();
    for (const file of [
      "/proc/sys/vm/max_map_count",
      "/proc/sys/vm/extfrag_threshold",
      "/proc/sys/vm/nr_hugepages",
      "/proc/sys/vm/nr_overcommit_hugepages",
      "/proc/sys/kernel/numa_balancing",
      "/proc/sys/kernel/numa_balancing_promote_rate_limit_MBps",
    ]) {
      const before = run(k.fs.read(file));
      expect(run(k.fs.write(file, ""))).toBe(0);
      expect(run(k.fs.read(file))).toBe(before);
    }
    run(k.shutdown());
  });

  it("compaction_proactiveness: an empty write wakes kcompactd while proactiveness is not 0", () => {
    const k = boot();
    const seen = events(k);
    const file = "/proc/sys/vm/compaction_proactiveness";
    // compaction_proactiveness_sysctl_handler(): proc_dointvec_minmax() returns 0, and 20 != 0.
    expect(run(k.fs.write(file, ""))).toBe(0);
    expect(count(seen, "mm_compaction_wakeup_kcompactd")).toBe(k.mem.nodes.length);
    expect(run(k.fs.read(file))).toBe("20\n");
    run(k.fs.write(file, "0"));
    seen.length = 0;
    expect(run(k.fs.write(file, ""))).toBe(0);
    expect(count(seen, "mm_compaction_wakeup_kcompactd")).toBe(0);
    run(k.shutdown());
  });
});

describe("sysctl_compaction_handler() on an empty write: sysctl_compact_memory decides", () => {
  it("EINVAL until a write left 1, then every empty write compacts every node and returns 0", () => {
    const k = boot();
    const seen = events(k);
    const file = "/proc/sys/vm/compact_memory";
    const nodes = k.mem.nodes.filter((n) => n.presentPages > 0).length;
    // sysctl_compact_memory is 0 at boot.
    expectErrno(k.fs.write(file, ""), "EINVAL");
    // proc_dointvec() stores 2 before the handler refuses it; an empty write still sees 2.
    expectErrno(k.fs.write(file, "2"), "EINVAL");
    expectErrno(k.fs.write(file, ""), "EINVAL");
    expect(count(seen, "mm_compaction_end")).toBe(0);
    expect(run(k.fs.write(file, "1\n"))).toBe(2);
    expect(count(seen, "mm_compaction_end")).toBe(nodes);
    expect(run(k.fs.write(file, ""))).toBe(0);
    expect(count(seen, "mm_compaction_end")).toBe(2 * nodes);
    // A write that fails to parse stores nothing: the 1 stays.
    expectErrno(k.fs.write(file, "x"), "EINVAL");
    expect(run(k.fs.write(file, ""))).toBe(0);
    expect(count(seen, "mm_compaction_end")).toBe(3 * nodes);
  });
});

describe("who may write: sysctl_perm() by the entry's mode, then the handler's own checks", () => {
  it("a user is held to the others' bits, group root to the group's: 0644 and 0200 are EACCES", () => {
    const k = boot();
    const user = run(k.createProcess({ uid: 1000 }));
    const groupRoot = run(k.createProcess({ uid: 1000, gid: 0 }));
    for (const task of [user, groupRoot]) {
      for (const [file, text] of [
        ["/proc/sys/kernel/numa_balancing", "1"],
        ["/proc/sys/vm/max_map_count", "100"],
        ["/proc/sys/vm/compact_memory", "1"],
        ["/proc/sys/vm/compact_memory", ""],
      ] as const) {
        expectErrno(k.fs.write(file, text, task), "EACCES");
      }
    }
    expect(k.maxMapCount).toBe(65530);
    // A user given CAP_SYS_ADMIN is still refused: no capability overrides the mode.
    const admin = run(k.createProcess({ uid: 1000, capabilities: [CAP_SYS_ADMIN] }));
    expectErrno(k.fs.write("/proc/sys/kernel/numa_balancing", "1", admin), "EACCES");
    run(k.shutdown());
  });

  it("root without CAP_SYS_ADMIN: numa_balancing is EPERM, even empty; max_map_count is written", () => {
    const k = boot();
    const file = "/proc/sys/kernel/numa_balancing";
    const bare = run(k.createProcess({ uid: 0, capabilities: [] }));
    expectErrno(k.fs.write(file, "1", bare), "EPERM");
    expectErrno(k.fs.write(file, "", bare), "EPERM");
    expect(run(k.fs.read(file))).toBe("0\n");
    // proc_dointvec_minmax() asks for no capability: root's owner bits are enough.
    expect(run(k.fs.write("/proc/sys/vm/max_map_count", "100", bare))).toBe(3);
    expect(k.maxMapCount).toBe(100);
    const root = run(k.createProcess({ uid: 0 }));
    expect(run(k.fs.write(file, "1", root))).toBe(1);
    expect(run(k.fs.read(file))).toBe("1\n");
    run(k.shutdown());
  });
});

describe("who may read: proc_sys_call_handler() checks sysctl_perm() with MAY_READ too", () => {
  // fs/proc/proc_sysctl.c (Linux 6.16): proc_sys_permission() at open and proc_sys_call_handler()
  // both ask sysctl_perm(head, table, MAY_READ) for a read; test_perm() holds euid 0 to the owner's
  // bits, egid 0 to the group's, anyone else to the others'. A refused open() is EACCES.
  const table = (k: Kernel) =>
    k.fs.registerSysctl("test", {
      owner_only: { mode: 0o600, show: () => "1\n", store: (_text, count) => count },
      group_read: { mode: 0o640, show: () => "2\n", store: (_text, count) => count },
    });

  it("a 0600 entry: root reads it; a user and group root get EACCES, with a capability or not", () => {
    const k = boot();
    table(k);
    const file = "/proc/sys/test/owner_only";
    expect(run(k.fs.read(file))).toBe("1\n");
    expect(run(k.fs.read(file, run(k.createProcess({ uid: 0 }))))).toBe("1\n");
    for (const task of [
      run(k.createProcess({ uid: 1000 })),
      run(k.createProcess({ uid: 1000, gid: 0 })),
      run(k.createProcess({ uid: 1000, capabilities: [CAP_SYS_ADMIN] })),
    ]) {
      expectErrno(k.fs.read(file, task), "EACCES");
    }
    run(k.shutdown());
  });

  it("a 0640 entry: group root reads it by the group's bits, a user does not", () => {
    const k = boot();
    table(k);
    const file = "/proc/sys/test/group_read";
    expect(run(k.fs.read(file, run(k.createProcess({ uid: 1000, gid: 0 }))))).toBe("2\n");
    expectErrno(k.fs.read(file, run(k.createProcess({ uid: 1000 }))), "EACCES");
    run(k.shutdown());
  });

  it("the kernel's own entries: a user reads 0644 max_map_count; compact_memory (0200) is EACCES", () => {
    const k = boot();
    const user = run(k.createProcess({ uid: 1000 }));
    expect(run(k.fs.read("/proc/sys/vm/max_map_count", user))).toBe("65530\n");
    // mode 0200: not even root may read it (test_perm() on the owner's bits, no capability).
    expectErrno(k.fs.read("/proc/sys/vm/compact_memory"), "EACCES");
    expectErrno(k.fs.read("/proc/sys/vm/compact_memory", user), "EACCES");
    run(k.shutdown());
  });
});
