import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { CAP_SYS_NICE, CAP_SYS_PTRACE } from "../../src/include/capability";
import type { Task } from "../../src/include/kernel";
import {
  allocMigrationTarget,
  ERRNO,
  FolioList,
  isolateFoliosToList,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  MIGRATE_SYNC,
  MOVE_PAGES_STATUS_UNWRITTEN,
  type MovePagesResult,
  MPOL_BIND,
  MPOL_MF_MOVE,
  MPOL_MF_MOVE_ALL,
  MR_SYSCALL,
  migratePages,
  PG_lru,
  PROT_READ,
  putbackMovablePages,
  type TraceEvent,
  WMARK_MIN,
} from "../../src/index";
import {
  boot,
  expectBytes,
  expectConsistent,
  expectErrno,
  expectSignal,
  folioAt,
  mapPattern,
  pagesOf,
  pattern,
  run,
  runP,
} from "../../src/testing/index";

const MiB = 2 ** 20;
const move = (
  p: Task,
  pages: number[],
  nodes: number[] | null,
  flags = MPOL_MF_MOVE,
  pid = 0,
): Promise<MovePagesResult> => Effect.runPromise(p.movePages(pid, pages, nodes, flags));

describe("move_pages: whole-call errors, in the kernel's order", () => {
  it("EINVAL for unknown flags, before anything else", () => {
    const k = boot();
    const p = run(k.createProcess());
    expectErrno(p.movePages(999, [0], [1], 0x8), "EINVAL");
  });

  it("EPERM for MPOL_MF_MOVE_ALL without CAP_SYS_NICE, before the pid is looked up", () => {
    const k = boot();
    const p = run(k.createProcess({ uid: 1000 }));
    expectErrno(p.movePages(999, [0], [1], MPOL_MF_MOVE_ALL), "EPERM");
  });

  it("lets root move every page: a process of uid 0 holds CAP_SYS_NICE unless told otherwise", async () => {
    const k = boot();
    const root = run(k.createProcess({ uid: 0 }));
    expect(root.capable(CAP_SYS_NICE)).toBe(true);
    expect(root.capable(CAP_SYS_PTRACE)).toBe(true);
    const addr = run(root.mmap(4096));
    run(root.write(addr, new Uint8Array([7])));
    expect((await runP(root.movePages(0, [addr], [1], MPOL_MF_MOVE_ALL))).status[0]).toBe(1);
    // Told otherwise: root without CAP_SYS_NICE is refused, as after capset() drops it.
    const limited = run(k.createProcess({ uid: 0, capabilities: [] }));
    expectErrno(limited.movePages(0, [addr], [1], MPOL_MF_MOVE_ALL), "EPERM");
    // Nobody else holds it by default.
    expect(run(k.createProcess({ uid: 1000 })).capable(CAP_SYS_NICE)).toBe(false);
  });

  it("ESRCH for no such process", () => {
    const k = boot();
    const p = run(k.createProcess());
    expectErrno(p.movePages(999, [0], [1]), "ESRCH");
  });

  it("EPERM for another user's process without CAP_SYS_PTRACE; allowed with it or for the same user", async () => {
    const k = boot();
    const alice = run(k.createProcess({ uid: 1000 }));
    const bob = run(k.createProcess({ uid: 1001 }));
    const admin = run(k.createProcess({ uid: 1002, capabilities: [CAP_SYS_PTRACE] }));
    const alice2 = run(k.createProcess({ uid: 1000 }));
    const addr = run(alice.mmap(4096));
    run(alice.write(addr, new Uint8Array([1])));
    expectErrno(bob.movePages(alice.pid, [addr], [1]), "EPERM");
    // CAP_SYS_NICE, which the man page still names, does not stand in for ptrace access since
    // Linux 4.13 (kernel_move_pages() → find_mm_struct() → ptrace_may_access()): refused.
    const nice = run(k.createProcess({ uid: 1003, capabilities: [CAP_SYS_NICE] }));
    expectErrno(nice.movePages(alice.pid, [addr], [1]), "EPERM");
    expectErrno(nice.movePages(alice.pid, [addr], [1], MPOL_MF_MOVE_ALL), "EPERM");
    expect(run(alice.nodeOf(addr))).toBe(0);
    expect((await move(admin, [addr], null, 0, alice.pid)).status[0]).toBe(0);
    expect((await move(alice2, [addr], [1], MPOL_MF_MOVE, alice.pid)).status[0]).toBe(1);
  });

  it("EINVAL for a process with no mm", () => {
    const k = boot();
    const p = run(k.createProcess());
    const kthread = run(k.createKernelThread("kworker"));
    expectErrno(p.movePages(kthread.pid, [0], [1]), "EINVAL");
  });

  it("EFAULT for a bad array", () => {
    const k = boot();
    const p = run(k.createProcess());
    expectErrno(p.movePages(0, [0, 4096], [1]), "EFAULT");
    expectErrno(p.movePages(0, [Number.NaN], [1]), "EFAULT");
    expectErrno(p.movePages(0, null as never, [1]), "EFAULT");
  });

  it("ENODEV for a node that does not exist or has no memory, after the entries before it moved", () => {
    const k = boot({ nodes: ["16M", "16M", 0] });
    const p = run(k.createProcess());
    const addr = run(p.mmap(8192));
    run(p.write(addr, new Uint8Array(8192).fill(1)));
    for (const bad of [2, 3, 64, -1]) {
      run(p.movePages(0, [addr], [0]));
      expectErrno(p.movePages(0, [addr, addr + 4096], [1, bad]), "ENODEV");
      // do_pages_move() meets the bad node at entry 1 and flushes the run before it (out_flush).
      expect(run(p.nodeOf(addr))).toBe(1);
      expect(run(p.nodeOf(addr + 4096))).toBe(0);
    }
  });

  it("ENODEV midway on a two-node machine: [0, 0] to [1, 7] moves the first page", () => {
    const k = boot({ nodes: ["16M", "16M"] });
    const p = run(k.createProcess());
    const addr = run(p.mmap(8192));
    run(p.write(addr, new Uint8Array(8192).fill(1)));
    expectErrno(p.movePages(0, [addr, addr + 4096], [1, 7]), "ENODEV");
    expect(run(p.nodeOf(addr))).toBe(1);
    expect(run(p.nodeOf(addr + 4096))).toBe(0);
    expectConsistent(k);
  });

  it("ENODEV before anything is queued changes nothing; a run already flushed stays moved", () => {
    const k = boot({ nodes: ["16M", "16M"] });
    const p = run(k.createProcess());
    const addr = run(p.mmap(3 * 4096));
    run(p.write(addr, new Uint8Array(3 * 4096).fill(1)));
    expectErrno(p.movePages(0, [addr, addr + 4096], [7, 1]), "ENODEV");
    expect(run(p.nodeOf(addr + 4096))).toBe(0);
    // Entry 1 ends the first run (node change), entry 2 fails: both runs before it moved.
    expectErrno(p.movePages(0, [addr, addr + 4096, addr + 8192], [1, 0, -1]), "ENODEV");
    expect([addr, addr + 4096, addr + 8192].map((a) => run(p.nodeOf(a)))).toEqual([1, 0, 0]);
    expectConsistent(k);
  });

  it("EACCES for a node outside the cpuset", () => {
    const k = boot({ nodes: ["16M", "16M", "16M"] });
    const p = run(k.createProcess({ memsAllowed: [0, 1] }));
    const addr = run(p.mmap(4096));
    run(p.write(addr, new Uint8Array([1])));
    expectErrno(p.movePages(0, [addr], [2]), "EACCES");
    expect(run(p.nodeOf(addr))).toBe(0);
    // Met at entry 1, after entry 0 was queued: the queued run still moves (out_flush).
    const second = run(p.mmap(4096));
    run(p.write(second, new Uint8Array([2])));
    expectErrno(p.movePages(0, [addr, second], [1, 2]), "EACCES");
    expect(run(p.nodeOf(addr))).toBe(1);
    expect(run(p.nodeOf(second))).toBe(0);
  });
});

/** A caller-initialised status array: every entry the call does not write stays `-99`. */
const SENTINEL = -99;
const sentinels = (n: number) => new Int32Array(n).fill(SENTINEL);
/** The errno a failed call ends with, or "ok". */
const outcome = (e: Effect.Effect<unknown, { readonly errno: string }>) =>
  Effect.runSync(Effect.match(e, { onFailure: (err) => err.errno, onSuccess: () => "ok" }));
const migrateCalls = (events: readonly TraceEvent[]) =>
  events.filter((e) => e.event === "mm_migrate_pages_start").length;

describe("move_pages: runs and flushes, as do_pages_move() (mm/migrate.c) makes them", () => {
  it("two pages on node 0 to [1, 7] on a two-node machine: the first moves, the call fails with ENODEV, status[0] is 1", () => {
    const k = boot({ nodes: ["16M", "16M"] });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 2 * 4096, 1, false);
    const status = sentinels(2);
    // Entry 1's node 7 does not exist: out_flush migrates the run [0] and stores its status.
    expect(outcome(p.movePages(0, [addr, addr + 4096], [1, 7], MPOL_MF_MOVE, status))).toBe(
      "ENODEV",
    );
    expect([...status]).toEqual([1, SENTINEL]);
    expect([run(p.nodeOf(addr)), run(p.nodeOf(addr + 4096))]).toEqual([1, 0]);
    expectBytes(run(p.read(addr, 2 * 4096)), pattern(2 * 4096, 1));
    expectConsistent(k);
  });

  it("flushes a run when the node changes and when an entry is not queued (its status stored first)", () => {
    const k = boot({ nodes: ["16M", "16M"] });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 4 * 4096, 2, false);
    const events: TraceEvent[] = [];
    const off = k.trace.subscribe((e) => events.push(e));
    // [0, 1] to node 1; the node changes at entry 2, already on node 0 (status 0, nothing
    // queued); entry 3 starts a new run. Two migrate_pages() calls.
    const r = run(p.movePages(0, pagesOf(addr, 4), [1, 1, 0, 1], MPOL_MF_MOVE, sentinels(4)));
    off();
    expect(r.rc).toBe(0);
    expect([...r.status]).toEqual([1, 1, 0, 1]);
    expect(migrateCalls(events)).toBe(2);
    expect(pagesOf(addr, 4).map((a) => run(p.nodeOf(a)))).toEqual([1, 1, 0, 1]);
    expectConsistent(k);
  });

  it("stops at a run that fails: rc counts its failures and the entries not attempted; statuses beyond stay as the caller set them", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = mapPattern(p, 5 * 4096, 3, false);
    const pinned = folioAt(p, addr + 4096);
    k.memmap.refcount[pinned.pfn]!++;
    // Runs: [0, 1] to node 1 (entry 1 pinned, -EAGAIN after every retry), then [2..4] to node 0.
    // The first run fails one page: rc = 1 + 3 entries never attempted (5984fabb6e82), and no
    // status is written (move_pages_and_store_status() stores only a run that all migrated).
    const status = [SENTINEL, SENTINEL, SENTINEL, SENTINEL, SENTINEL];
    const r = run(p.movePages(0, pagesOf(addr, 5), [1, 1, 0, 0, 0], MPOL_MF_MOVE, status));
    expect(r.rc).toBe(4);
    expect(r.status).toBe(status);
    expect(status).toEqual(Array(5).fill(SENTINEL));
    // Entry 0 of the failed run did migrate, and stays moved.
    expect(pagesOf(addr, 5).map((a) => run(p.nodeOf(a)))).toEqual([1, 0, 0, 0, 0]);
    k.folioPut(pinned);
    expectBytes(run(p.read(addr, 5 * 4096)), pattern(5 * 4096, 3));
    expectConsistent(k);
  });

  it("a run that fails at an entry that is not queued: that entry's status is written and not counted", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = mapPattern(p, 4 * 4096, 4, false);
    const pinned = folioAt(p, addr);
    k.memmap.refcount[pinned.pfn]!++;
    const status = sentinels(5);
    // Entry 2 has no mapping: its -EFAULT is stored, then the run [0, 1] fails one page.
    // rc = 1 failure + entries 3 and 4, not attempted (do_pages_move()'s err--).
    const r = run(
      p.movePages(
        0,
        [addr, addr + 4096, 0, addr + 2 * 4096, addr + 3 * 4096],
        [1, 1, 1, 1, 1],
        MPOL_MF_MOVE,
        status,
      ),
    );
    expect(r.rc).toBe(3);
    expect([...status]).toEqual([SENTINEL, SENTINEL, -ERRNO.EFAULT, SENTINEL, SENTINEL]);
    expect(pagesOf(addr, 4).map((a) => run(p.nodeOf(a)))).toEqual([0, 1, 0, 0]);
    k.folioPut(pinned);
    expectConsistent(k);
  });

  it("out_flush before each whole-call error met midway: ENODEV, EACCES (cpuset), EFAULT (pages, nodes)", () => {
    const k = boot({ nodes: ["16M", "16M", "16M"] });
    const p = run(k.createProcess({ memsAllowed: [0, 1] }));
    const addr = mapPattern(p, 3 * 4096, 5, false);
    const cases: ReadonlyArray<readonly [string, ArrayLike<number>, ArrayLike<number>]> = [
      ["ENODEV", [addr, addr + 4096, addr + 8192], [1, 1, 5]],
      ["EACCES", [addr, addr + 4096, addr + 8192], [1, 1, 2]],
      ["EFAULT", [addr, addr + 4096, Number.NaN], [1, 1, 1]],
      ["EFAULT", [addr, addr + 4096, addr + 8192], [1, 1]],
    ];
    for (const [errnoName, pages, nodes] of cases) {
      run(p.movePages(0, pagesOf(addr, 3), [0, 0, 0]));
      const status = sentinels(3);
      expect(outcome(p.movePages(0, pages, nodes, MPOL_MF_MOVE, status))).toBe(errnoName);
      // The run [0, 1] queued before entry 2 migrated and its statuses were stored.
      expect([...status]).toEqual([1, 1, SENTINEL]);
      expect(pagesOf(addr, 3).map((a) => run(p.nodeOf(a)))).toEqual([1, 1, 0]);
    }
    expectBytes(run(p.read(addr, 3 * 4096)), pattern(3 * 4096, 5));
    expectConsistent(k);
  });

  it("a whole-call error at entry 0 changes nothing; one after a flushed run keeps that run's statuses", () => {
    const k = boot({ nodes: ["16M", "16M"] });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 3 * 4096, 6, false);
    const first = sentinels(2);
    expect(outcome(p.movePages(0, [addr, addr + 4096], [7, 1], MPOL_MF_MOVE, first))).toBe(
      "ENODEV",
    );
    expect([...first]).toEqual([SENTINEL, SENTINEL]);
    // Entry 1 ends the first run (node change), entry 2 fails: both runs before it are stored.
    const status = sentinels(3);
    expect(outcome(p.movePages(0, pagesOf(addr, 3), [1, 0, -1], MPOL_MF_MOVE, status))).toBe(
      "ENODEV",
    );
    expect([...status]).toEqual([1, 0, SENTINEL]);
    expect(pagesOf(addr, 3).map((a) => run(p.nodeOf(a)))).toEqual([1, 0, 0]);
    expectConsistent(k);
  });

  it("fails with migrate_pages()'s ENOMEM, leaving the failed run's statuses and those after it as they were", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = mapPattern(p, 3 * 4096, 7, false);
    // The first destination allocation succeeds (run [0]), the second (run [2]) fails: a small
    // folio with no destination makes migrate_pages() return -ENOMEM, and do_pages_move()
    // returns it (move_pages_and_store_status() stores nothing for the run).
    expect(
      k.pageAlloc.failPageAlloc.arm({ times: 1, interval: 2, ignoreGfpReclaim: false }),
    ).toBeNull();
    const status = sentinels(3);
    expect(outcome(p.movePages(0, pagesOf(addr, 3), [1, 0, 1], MPOL_MF_MOVE, status))).toBe(
      "ENOMEM",
    );
    expect([...status]).toEqual([1, 0, SENTINEL]);
    expect(pagesOf(addr, 3).map((a) => run(p.nodeOf(a)))).toEqual([1, 0, 0]);
    expectBytes(run(p.read(addr, 3 * 4096)), pattern(3 * 4096, 7));
    expectConsistent(k);
  });

  it("EFAULT when a status cannot be written (store_status()), after the run it belongs to migrated", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = mapPattern(p, 2 * 4096, 8, false);
    const short = new Int32Array(1).fill(SENTINEL);
    const failed = Effect.runSync(
      Effect.flip(p.movePages(0, pagesOf(addr, 2), [1, 1], MPOL_MF_MOVE, short)),
    );
    expect([failed.errno, failed.message]).toEqual([
      "EFAULT",
      "move_pages: status[1] cannot be written",
    ]);
    expect([...short]).toEqual([1]);
    expect(pagesOf(addr, 2).map((a) => run(p.nodeOf(a)))).toEqual([1, 1]);
    // A frozen array takes no write at all; an entry already on its node is stored first.
    expect(
      outcome(p.movePages(0, [addr], [1], MPOL_MF_MOVE, Object.freeze([SENTINEL]) as never)),
    ).toBe("EFAULT");
    expectConsistent(k);
  });

  it("do_pages_stat() reads and writes 16 entries at a time: a bad address fails its chunk, earlier chunks are written", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = mapPattern(p, 20 * 4096, 9, false);
    const pages: number[] = pagesOf(addr, 20);
    pages[18] = Number.NaN;
    const status = sentinels(20);
    expect(outcome(p.movePages(0, pages, null, 0, status))).toBe("EFAULT");
    expect([...status]).toEqual([...Array(16).fill(0), ...Array(4).fill(SENTINEL)]);
    // The same with a status array too short for the last chunk: the entries that fit are written.
    const short = sentinels(18);
    expect(outcome(p.movePages(0, pagesOf(addr, 20), null, 0, short))).toBe("EFAULT");
    expect([...short]).toEqual(Array(18).fill(0));
    // Without a caller array the call fills a fresh one.
    expect([...run(p.movePages(0, pagesOf(addr, 2), null)).status]).toEqual([0, 0]);
  });

  it("fills the caller's number[] and returns it", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = mapPattern(p, 2 * 4096, 10, false);
    const status = [SENTINEL, SENTINEL, SENTINEL];
    const r = run(p.movePages(0, [addr, 0, addr + 4096], [1, 1, 1], MPOL_MF_MOVE, status));
    expect(r.status).toBe(status);
    // Entry 1 is not queued: its -EFAULT is stored and the run [0] flushed; [2] is a new run.
    expect(status).toEqual([1, -ERRNO.EFAULT, 1]);
    expect(r.rc).toBe(0);
  });
});

describe("calls by and on an exited process", () => {
  it("ESRCH for every call an exited process makes, and for calls that name it; nothing changes", () => {
    const k = boot();
    const victim = run(k.createProcess());
    const addr = run(victim.mmap(4096));
    run(victim.write(addr, new Uint8Array([7])));
    const dead = run(k.createProcess());
    const own = run(dead.mmap(4096));
    run(dead.exit());
    // A dead task makes no system call: not on another process, not on itself.
    expectErrno(dead.movePages(victim.pid, [addr], [1]), "ESRCH");
    expectErrno(dead.movePages(0, [own], [1]), "ESRCH");
    expectErrno(dead.setMempolicy(MPOL_BIND, [1]), "ESRCH");
    expectErrno(dead.mmap(4096), "ESRCH");
    expectErrno(dead.munmap(own, 4096), "ESRCH");
    expectErrno(dead.mbind(own, 4096, MPOL_BIND, [1]), "ESRCH");
    expectErrno(dead.getMempolicy(0), "ESRCH");
    expectErrno(dead.mlock(own, 4096), "ESRCH");
    expectErrno(dead.madvise(own, 4096, MADV_HUGEPAGE), "ESRCH");
    expectErrno(dead.read(own, 1), "ESRCH");
    expectErrno(dead.write(own, new Uint8Array([1])), "ESRCH");
    expectErrno(dead.fork(), "ESRCH");
    expectErrno(dead.exit(), "ESRCH");
    expect(dead.policy).toBeNull();
    // Reaped, it is gone from the process table: find_task_by_vpid() finds nothing.
    expectErrno(victim.movePages(dead.pid, [own], [1]), "ESRCH");
    expect(run(victim.nodeOf(addr))).toBe(0);
    expect(run(victim.read(addr, 1))[0]).toBe(7);
    expectConsistent(k);
  });
});

describe("cpusets", () => {
  it("refuses empty mems with ENOSPC, as a cpuset with no mems cannot hold a task", () => {
    const k = boot();
    const error = expectErrno(k.createProcess({ memsAllowed: [] }), "ENOSPC");
    expect(error.message).toMatch(/no mems/);
    expect([...k.tasks.keys()]).toEqual([1]); // init alone
  });

  it("refuses mems outside the nodes with memory with EINVAL, and defaults to the nodes with memory", () => {
    const k = boot({ nodes: ["16M", 0, "16M"] });
    expectErrno(k.createProcess({ memsAllowed: [1] }), "EINVAL");
    expectErrno(k.createProcess({ memsAllowed: [0, 3] }), "EINVAL");
    expectErrno(k.createProcess({ memsAllowed: "0-1" as never }), "EINVAL");
    expect([...k.tasks.keys()]).toEqual([1]); // init alone
    const p = run(k.createProcess());
    expect(p.memsAllowed).toEqual([0, 2]);
    expect(run(p.fork()).memsAllowed).toEqual([0, 2]);
  });

  it("refuses malformed task options with EINVAL", () => {
    const k = boot();
    expectErrno(k.createProcess(null as never), "EINVAL");
    expectErrno(k.createProcess({ capabilities: 5 as never }), "EINVAL");
    expectErrno(k.createProcess({ capabilities: [-1] }), "EINVAL");
    expectErrno(k.createProcess({ name: 42 as never }), "EINVAL");
    expectErrno(k.createProcess({ node: 9 }), "EINVAL");
    expect([...k.tasks.keys()]).toEqual([1]); // init alone
  });
});

describe("move_pages: per-page status", () => {
  it("reports the node, -EFAULT for no mapping or the zero page, -ENOENT for not present", async () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4 * 4096, { hugepage: false }));
    run(p.write(addr, new Uint8Array([1])));
    run(p.read(addr + 4096, 1));
    const r = await move(p, [addr, addr + 4096, addr + 2 * 4096, addr + 100 * 4096], [1, 1, 1, 1]);
    expect([...r.status]).toEqual([1, -ERRNO.EFAULT, -ERRNO.ENOENT, -ERRNO.EFAULT]);
    expect(r.rc).toBe(0);
    expect(run(p.nodeOf(addr))).toBe(1);
    const q = await move(p, [addr, addr + 4096, addr + 2 * 4096], null, 0);
    expect([...q.status]).toEqual([1, -ERRNO.EFAULT, -ERRNO.ENOENT]);
  });

  it("reports pages already on the target node as that node, without migrating them", async () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4096));
    run(p.write(addr, new Uint8Array([1])));
    const pfn = folioAt(p, addr).pfn;
    const r = await move(p, [addr], [0]);
    expect([...r.status]).toEqual([0]);
    expect(folioAt(p, addr).pfn).toBe(pfn);
    expect(k.vmstat.get("pgmigrate_success")).toBe(0);
  });

  it("reports -EACCES for shared pages without MPOL_MF_MOVE_ALL, and moves them with it", async () => {
    const k = boot();
    const p = run(k.createProcess({ capabilities: [CAP_SYS_NICE] }));
    const addr = run(p.mmap(4096, { flags: MAP_SHARED | MAP_ANONYMOUS }));
    run(p.write(addr, new Uint8Array([7])));
    const child = run(p.fork());
    // Fork copies no PTE of a shared mapping (vma_needs_copy()): the child's read maps the page,
    // which is then mapped twice.
    expect(run(child.read(addr, 1))[0]).toBe(7);
    expect([...(await move(p, [addr], [1])).status]).toEqual([-ERRNO.EACCES]);
    expect([...(await move(p, [addr], [1], MPOL_MF_MOVE_ALL)).status]).toEqual([1]);
    expect(run(child.nodeOf(addr))).toBe(1);
    expect(run(child.read(addr, 1))[0]).toBe(7);
    expectConsistent(k);
  });

  // __add_folio_for_migration() (mm/migrate.c, Linux 6.16) tests folio_maybe_mapped_shared()
  // (include/linux/mm.h), the folio, not the page: a THP a child still maps in part is maybe
  // shared at every address, the page the child unmapped (mapcount 1) included.
  it("reports -EACCES for every page of a THP another process maps in part (folio_maybe_mapped_shared())", async () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 2 * MiB, 3);
    const child = run(p.fork());
    run(child.munmap(addr, 4096));
    const head = folioAt(p, addr).pfn;
    expect(k.memmap.pageMapcount(head)).toBe(1);
    expect([...(await move(p, [addr], [1])).status]).toEqual([-ERRNO.EACCES]);
    expect(folioAt(p, addr).pfn).toBe(head);
    // Mapped by the parent alone again, it moves.
    run(child.exit());
    expect([...(await move(p, [addr], [1])).status]).toEqual([1]);
    expect(folioAt(p, addr).order).toBe(9);
    expectBytes(run(p.read(addr, 2 * MiB)), pattern(2 * MiB, 3));
    expectConsistent(k);
  });

  // folio_add_return_large_mapcount() / folio_sub_return_large_mapcount() (include/linux/rmap.h,
  // Linux 6.16, CONFIG_MM_ID): a large folio has two MM id slots; a third mm gets none, and the
  // "maybe mapped shared" bit set then is cleared only when a slot that frees up, or an mm with no
  // slot, leaves one slot holding every mapping. Here the parent's and C1's slots free up while C2,
  // slotless, maps the folio once; C2's PMD split (__split_huge_pmd_locked(): 512 PTEs added before
  // the PMD is removed) gives C2 slot 0 with 512 of 513 mappings, so the bit stays, and with
  // mapcount 512 folio_maybe_mapped_shared() is true: -EACCES, though C2 alone maps the folio.
  it("reports -EACCES for a THP only one process maps once three did (the sticky MM id shared bit)", async () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess({ capabilities: [CAP_SYS_NICE] }));
    const addr = mapPattern(p, 2 * MiB, 5);
    const head = folioAt(p, addr).pfn;
    const c1 = run(p.fork());
    const c2 = run(p.fork());
    expect(k.memmap.folioMmIdsShared(head)).toBe(true);
    run(p.munmap(addr, 2 * MiB));
    run(c1.munmap(addr, 2 * MiB));
    expect(k.memmap.folioMmIdsShared(head)).toBe(true);
    run(c2.mprotect(addr, MiB, PROT_READ));
    expect(folioAt(c2, addr).pfn).toBe(head);
    expect(folioAt(c2, addr).order).toBe(9);
    expect(k.memmap.folioMapcount(head)).toBe(512);
    expect(k.memmap.folioMmIdsShared(head)).toBe(true);
    expect([...(await move(c2, [addr], [1])).status]).toEqual([-ERRNO.EACCES]);
    expect(folioAt(c2, addr).pfn).toBe(head);
    expect([...(await move(c2, [addr], [1], MPOL_MF_MOVE_ALL)).status]).toEqual([1]);
    expectBytes(run(c2.read(addr, 2 * MiB)), pattern(2 * MiB, 5));
    expectConsistent(k);
  });

  // With two mms the slots are exact both ways: the folio is maybe shared while both map it, and
  // not once either one unmaps it all (its slot frees and the other slot holds every mapping).
  for (const leaver of ["child", "parent"] as const) {
    it(`two mms: maybe shared while both map a THP, exclusive once the ${leaver} unmaps it (rmap.h MM id slots)`, async () => {
      const k = boot({ thp: { enabled: "always" } });
      const p = run(k.createProcess());
      const addr = mapPattern(p, 2 * MiB, 6);
      run(p.mprotect(addr, MiB, PROT_READ)); // PTE-mapped: mapcount 512 in each mm
      const head = folioAt(p, addr).pfn;
      const child = run(p.fork());
      expect(k.memmap.folioMapcount(head)).toBe(1024);
      expect(k.memmap.folioMmIdsShared(head)).toBe(true);
      expect([...(await move(p, [addr], [1])).status]).toEqual([-ERRNO.EACCES]);
      expect([...(await move(child, [addr + MiB], [1])).status]).toEqual([-ERRNO.EACCES]);
      const [gone, stays] = leaver === "child" ? [child, p] : [p, child];
      run(gone.munmap(addr, 2 * MiB));
      expect(k.memmap.folioMapcount(head)).toBe(512);
      expect(k.memmap.folioMmIdsShared(head)).toBe(false);
      expect([...(await move(stays, [addr], [1])).status]).toEqual([1]);
      expectBytes(run(stays.read(addr, 2 * MiB)), pattern(2 * MiB, 6));
      expectConsistent(k);
    });
  }

  // The order the mms leave in matters: with the parent in slot 0, C1 in slot 1 and C2 slotless,
  // C2's unmap leaves 1024 mappings, not all the parent's 512 (the bit stays), and C1's then frees
  // slot 1 with the parent's slot holding all 512: the bit is cleared and the parent's THP moves.
  it("clears the MM id shared bit when a freed slot leaves one slot holding every mapping", async () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 2 * MiB, 7);
    run(p.mprotect(addr, MiB, PROT_READ));
    const head = folioAt(p, addr).pfn;
    const c1 = run(p.fork());
    const c2 = run(p.fork());
    run(c2.munmap(addr, 2 * MiB));
    expect(k.memmap.folioMapcount(head)).toBe(1024);
    expect(k.memmap.folioMmIdsShared(head)).toBe(true);
    run(c1.munmap(addr, 2 * MiB));
    expect(k.memmap.folioMmIdsShared(head)).toBe(false);
    expect([...(await move(p, [addr], [1])).status]).toEqual([1]);
    expectConsistent(k);
  });

  it("reports -EBUSY for a second address in a folio already queued", async () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 2 * MiB, 1);
    const r = await move(p, [addr, addr + 4096], [1, 1]);
    expect([...r.status]).toEqual([1, -ERRNO.EBUSY]);
    expect(run(p.nodeOf(addr + 4096))).toBe(1);
    expectBytes(run(p.read(addr, 2 * MiB)), pattern(2 * MiB, 1));
  });

  it("fails with ENOMEM when the target node has no memory left; the pages moved before stay moved", async () => {
    const k = boot({ nodes: ["16M", "4M"] });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 8 * MiB, 3, false);
    const pages = pagesOf(addr, 2048);
    // migrate_pages() returns -ENOMEM for a small folio with no destination, and do_pages_move()
    // returns that errno: the call fails and writes no status of the run.
    const failed = Effect.match(
      p.movePages(
        0,
        pages,
        pages.map(() => 1),
      ),
      { onFailure: (e) => e.errno, onSuccess: () => "ok" },
    );
    expect(await Effect.runPromise(failed)).toBe("ENOMEM");
    // Node 1's 1024 pages, less the 28 under its min watermark, where allocations stop.
    expect(k.pageAlloc.zones[1]!.watermark[WMARK_MIN]).toBe(28);
    const moved = pages.filter((a) => run(p.nodeOf(a)) === 1).length;
    expect(moved).toBe(1024 - 28);
    expectBytes(run(p.read(addr, 8 * MiB)), pattern(8 * MiB, 3));
    expectConsistent(k);
  });

  it("does not migrate a dirty file page of a filesystem without migrate_folio (-EBUSY in fallback_migrate_folio, Linux 6.16+): rc 1, status unwritten; it moves once clean", async () => {
    const k = boot();
    const p = run(k.createProcess());
    const file = run(k.createFile("f"));
    file.mapping.migrateFolio = false;
    run(file.truncate(4096));
    const addr = run(p.mmap(4096, { flags: MAP_SHARED, file }));
    run(p.write(addr, new Uint8Array([1])));
    // A run that fails is not written back to the statuses (do_pages_move(), Linux 4.17+).
    const dirty = await move(p, [addr], [1]);
    expect([dirty.rc, dirty.status[0], run(p.nodeOf(addr))]).toEqual([
      1,
      MOVE_PAGES_STATUS_UNWRITTEN,
      0,
    ]);
    run(file.fsync());
    const clean = await move(p, [addr], [1]);
    expect([clean.rc, clean.status[0]]).toEqual([0, 1]);
    expect(run(p.read(addr, 1))[0]).toBe(1);
    expectConsistent(k);
  });

  it("waits for writeback in MIGRATE_SYNC, then migrates", async () => {
    const k = boot();
    const p = run(k.createProcess());
    const file = run(k.createFile("log"));
    run(file.truncate(4096));
    const addr = run(p.mmap(4096, { flags: MAP_SHARED, file }));
    run(p.write(addr, new Uint8Array([9])));
    expect(file.startWriteback(0)).toBe(true);
    const pending = move(p, [addr], [1]);
    await Effect.runPromise(Effect.yieldNow);
    expect(run(p.nodeOf(addr))).toBe(0);
    file.endWriteback(0);
    expect([...(await pending).status]).toEqual([1]);
    expect(file.folioAt(0)!.nid).toBe(1);
    expect(run(p.read(addr, 1))[0]).toBe(9);
  });

  it("fails a pinned folio (-EAGAIN) after every retry, leaving the run's statuses unwritten, and moves it once unpinned", async () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = mapPattern(p, 2 * 4096, 4, false);
    const pinned = folioAt(p, addr);
    k.memmap.refcount[pinned.pfn]!++;
    const r = await move(p, [addr, addr + 4096], [1, 1]);
    // The run [addr, addr + 4096] failed one page: rc counts it, and no status of the run is
    // written, though the second page moved (move_pages_and_store_status()).
    expect([...r.status]).toEqual([MOVE_PAGES_STATUS_UNWRITTEN, MOVE_PAGES_STATUS_UNWRITTEN]);
    expect(r.rc).toBe(1);
    expect(run(p.nodeOf(addr))).toBe(0);
    expect(run(p.nodeOf(addr + 4096))).toBe(1);
    expect(k.vmstat.get("pgmigrate_fail")).toBeGreaterThan(0);
    expect(run(p.read(addr, 4096))).toEqual(pattern(2 * 4096, 4).subarray(0, 4096));
    k.folioPut(pinned);
    expect([...(await move(p, [addr], [1])).status]).toEqual([1]);
    expectBytes(run(p.read(addr, 2 * 4096)), pattern(2 * 4096, 4));
    expectConsistent(k);
  });

  it("stops at the first run that fails: returns its failures plus the entries not attempted, their statuses unwritten", async () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = mapPattern(p, 4 * 4096, 6, false);
    const pinned = folioAt(p, addr);
    k.memmap.refcount[pinned.pfn]!++;
    // The node changes at entry 1: the run [0] fails, so entries 1..3 are never attempted.
    const r = await move(p, pagesOf(addr, 4), [1, 0, 1, 1]);
    expect(r.rc).toBe(1 + 3);
    expect([...r.status]).toEqual(Array(4).fill(MOVE_PAGES_STATUS_UNWRITTEN));
    expect(pagesOf(addr, 4).map((a) => run(p.nodeOf(a)))).toEqual([0, 0, 0, 0]);
    // Entry 2 has no mapping: its status is stored first, then the run [0, 1] fails one page;
    // entry 3 is not attempted, and entry 2 is not counted.
    const r2 = await move(p, [addr, addr + 4096, 0, addr + 3 * 4096], [1, 1, 1, 1]);
    expect(r2.rc).toBe(1 + 1);
    expect([...r2.status]).toEqual([
      MOVE_PAGES_STATUS_UNWRITTEN,
      MOVE_PAGES_STATUS_UNWRITTEN,
      -ERRNO.EFAULT,
      MOVE_PAGES_STATUS_UNWRITTEN,
    ]);
    expect(pagesOf(addr, 4).map((a) => run(p.nodeOf(a)))).toEqual([0, 1, 0, 0]);
    k.folioPut(pinned);
    expectBytes(run(p.read(addr, 4 * 4096)), pattern(4 * 4096, 6));
    expectConsistent(k);
  });

  it("fails a folio with a poisoned page (-EHWPOISON); it stays mapped, readable up to that page", async () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 2 * MiB, 5);
    const small = run(p.mmap(4096, { hugepage: false }));
    run(p.write(small, new Uint8Array([3])));
    const head = folioAt(p, addr).pfn;
    run(k.injectMemoryError(head + 10));
    const r = await move(p, [addr, small], [1, 1]);
    expect([...r.status]).toEqual([MOVE_PAGES_STATUS_UNWRITTEN, MOVE_PAGES_STATUS_UNWRITTEN]);
    expect(r.rc).toBe(1);
    expect(run(p.nodeOf(small))).toBe(1);
    expect(folioAt(p, addr).pfn).toBe(head);
    expectBytes(run(p.read(addr, 10 * 4096)), pattern(2 * MiB, 5).subarray(0, 10 * 4096));
    // Still mapped: the load is the machine check's SIGBUS, BUS_MCEERR_AR.
    expectSignal(p.read(addr + 10 * 4096, 1), "SIGBUS", "BUS_MCEERR_AR");
    expectConsistent(k);
  });
});

describe("move_pages: batching, splitting, hugetlb, counters", () => {
  it("migrates consecutive entries with the same node as one batch, and counts in /proc/vmstat", async () => {
    const k = boot({ nodes: ["16M", "16M", "16M"] });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 6 * 4096, 6, false);
    const events: TraceEvent[] = [];
    k.trace.subscribe((e) => events.push(e));
    const r = await move(p, pagesOf(addr, 6), [1, 1, 1, 2, 2, 1]);
    expect([...r.status]).toEqual([1, 1, 1, 2, 2, 1]);
    const ends = events.filter((e) => e.event === "mm_migrate_pages");
    expect(ends.map((e) => (e.event === "mm_migrate_pages" ? e.succeeded : 0))).toEqual([3, 2, 1]);
    expect(events[0]).toEqual({ event: "mm_migrate_pages_start", mode: 2, reason: 3 });
    expect(k.vmstat.get("pgmigrate_success")).toBe(6);
    expectBytes(run(p.read(addr, 6 * 4096)), pattern(6 * 4096, 6));
  });

  it("splits a THP whose 2 MiB destination cannot be allocated, and migrates its pages", async () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 2 * MiB, 7);
    const frag = run(k.fragment(1, 8));
    const r = await move(p, [addr], [1]);
    expect([...r.status]).toEqual([1]);
    expect(k.vmstat.get("thp_migration_split")).toBe(1);
    expect(k.vmstat.get("thp_split_page")).toBe(1);
    expect(folioAt(p, addr).order).toBe(0);
    expect(run(p.nodeOf(addr + MiB))).toBe(1);
    expectBytes(run(p.read(addr, 2 * MiB)), pattern(2 * MiB, 7));
    frag.release();
    expectConsistent(k);
  });

  it("migrates hugetlb folios on their own path, the pool page moving to the target node", async () => {
    const k = boot();
    // One huge page in the pool, on node 0; node 1 has none free, so the destination is a fresh
    // temporary huge page there (alloc_migrate_hugetlb_folio()), which move_hugetlb_state() makes
    // the pool page while the source, temporary now, goes back to the buddy allocator.
    run(k.fs.write("/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages", "1"));
    const p = run(k.createProcess());
    const addr = run(p.mmap(2 * MiB, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
    run(p.write(addr, pattern(2 * MiB, 8)));
    const before = folioAt(p, addr).pfn;
    const r = await move(p, [addr], [1]);
    expect([...r.status]).toEqual([1]);
    const after = folioAt(p, addr);
    expect(after.pfn).not.toBe(before);
    expect(after.hugetlb).toBe(true);
    expect(after.order).toBe(9);
    expectBytes(run(p.read(addr, 2 * MiB)), pattern(2 * MiB, 8));
    expectConsistent(k);
    const node = (nid: number, file: string) =>
      run(k.fs.read(`/sys/devices/system/node/node${nid}/hugepages/hugepages-2048kB/${file}`));
    expect([node(0, "nr_hugepages"), node(1, "nr_hugepages")]).toEqual(["0\n", "1\n"]);
    run(p.exit());
    expect([node(1, "free_hugepages"), node(1, "surplus_hugepages")]).toEqual(["1\n", "0\n"]);
    // The zero page and the pool's one huge page are all that is not free.
    expect(k.pageAlloc.totalFreePages()).toBe(
      k.pageAlloc.zones.reduce((s, z) => s + z.managedPages, 0) - 1 - 512,
    );
  });

  it("moves file pages with their page cache, keeping them shared", async () => {
    const k = boot();
    const file = run(k.createFile("shared.dat"));
    const a = run(k.createProcess({ capabilities: [CAP_SYS_NICE] }));
    const b = run(k.createProcess());
    run(file.truncate(4 * 4096));
    const x = run(a.mmap(4 * 4096, { flags: MAP_SHARED, file }));
    const y = run(b.mmap(4 * 4096, { flags: MAP_SHARED, file }));
    run(a.write(x, pattern(4 * 4096, 9)));
    run(b.read(y, 4 * 4096));
    const r = await move(a, pagesOf(x, 4), [1, 1, 1, 1], MPOL_MF_MOVE_ALL);
    expect([...r.status]).toEqual([1, 1, 1, 1]);
    expect(file.folioAt(2)!.nid).toBe(1);
    expect(folioAt(b, y + 2 * 4096).pfn).toBe(file.folioAt(2)!.pfn);
    run(a.write(x + 5, new Uint8Array([0xab])));
    expect(run(b.read(y + 5, 1))[0]).toBe(0xab);
    expectConsistent(k);
  });
});

describe("isolateFoliosToList: the folios behind user addresses, for migrate_pages()", () => {
  const list = (k: ReturnType<typeof boot>) => new FolioList(k.memmap.lru);

  it("isolates each folio once, off the LRU, and migratePages moves them (isolate_folio_to_list, mm/migrate.c)", async () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const huge = mapPattern(p, 2 * MiB, 7);
    const small = mapPattern(p, 2 * 4096, 8, false);
    const l = list(k);
    // Three addresses in one THP queue it once (mempolicy.c's queue_folios_pte_range skips a
    // folio it already queued); two small pages are two folios.
    expect(
      run(isolateFoliosToList(p, [huge, huge + 4096, huge + MiB, small, small + 4096], l)),
    ).toBe(3);
    expect(l.count()).toBe(3);
    for (const head of l) expect(k.memmap.test(head, PG_lru)).toBe(false);
    const { rc } = await runP(
      migratePages(k, l, allocMigrationTarget(k, 1), null, MIGRATE_SYNC, MR_SYSCALL),
    );
    expect(rc).toBe(0);
    expect(l.isEmpty).toBe(true);
    l.release();
    expect(run(p.nodeOf(huge))).toBe(1);
    expect(run(p.nodeOf(small + 4096))).toBe(1);
    expectBytes(run(p.read(huge, 2 * MiB)), pattern(2 * MiB, 7));
    expectBytes(run(p.read(small, 2 * 4096)), pattern(2 * 4096, 8));
    expectConsistent(k);
  });

  it("fails with the errno move_pages(2) gives the same address, leaving the list and the LRU as they were", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = mapPattern(p, 2 * 4096, 9, false);
    const untouched = run(p.mmap(4096, { hugepage: false }));
    const zero = run(p.mmap(4096, { hugepage: false }));
    run(p.read(zero, 1)); // a read fault maps the zero page
    const l = list(k);
    const cases: Array<[number, "EFAULT" | "ENOENT"]> = [
      [0x1000, "EFAULT"], // no VMA: do_pages_move()'s -EFAULT
      [zero, "EFAULT"], // the zero page: follow_page(FOLL_DUMP) refuses it
      [untouched, "ENOENT"], // nothing faulted in
    ];
    for (const [bad, name] of cases) {
      const error = expectErrno(isolateFoliosToList(p, [addr, addr + 4096, bad], l), name);
      expect(error.message).toContain(bad.toString(16));
      expect(l.isEmpty).toBe(true);
      expect(k.memmap.test(folioAt(p, addr).pfn, PG_lru)).toBe(true);
      expect(k.memmap.test(folioAt(p, addr + 4096).pfn, PG_lru)).toBe(true);
    }
    l.release();
    expectConsistent(k);
  });

  it("fails with EBUSY for a folio already isolated, and puts back the ones this call took", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = mapPattern(p, 2 * 4096, 10, false);
    const first = list(k);
    expect(run(isolateFoliosToList(p, [addr + 4096], first))).toBe(1);
    const second = list(k);
    expectErrno(isolateFoliosToList(p, [addr, addr + 4096], second), "EBUSY");
    expect(second.isEmpty).toBe(true);
    expect(k.memmap.test(folioAt(p, addr).pfn, PG_lru)).toBe(true);
    putbackMovablePages(k, first);
    first.release();
    second.release();
    expectConsistent(k);
  });

  it("fails with EINVAL for a kernel thread, which has no memory", () => {
    const k = boot();
    const thread = run(k.createKernelThread("kworker"));
    const l = list(k);
    expectErrno(isolateFoliosToList(thread, [0x1000], l), "EINVAL");
    l.release();
  });
});
