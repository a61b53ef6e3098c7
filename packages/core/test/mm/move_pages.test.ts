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
  type MovePagesResult,
  MPOL_BIND,
  MPOL_MF_MOVE,
  MPOL_MF_MOVE_ALL,
  MR_SYSCALL,
  migratePages,
  PG_lru,
  putbackMovablePages,
  type TraceEvent,
} from "../../src/index";
import {
  boot,
  expectBytes,
  expectConsistent,
  expectErrno,
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

  it("ENODEV for a node that does not exist or has no memory, and nothing moves", () => {
    const k = boot({ nodes: ["16M", "16M", 0] });
    const p = run(k.createProcess());
    const addr = run(p.mmap(8192));
    run(p.write(addr, new Uint8Array(8192).fill(1)));
    for (const bad of [2, 3, 64, -1])
      expectErrno(p.movePages(0, [addr, addr + 4096], [1, bad]), "ENODEV");
    expect(run(p.nodeOf(addr))).toBe(0);
  });

  it("EACCES for a node outside the cpuset", () => {
    const k = boot({ nodes: ["16M", "16M", "16M"] });
    const p = run(k.createProcess({ memsAllowed: [0, 1] }));
    const addr = run(p.mmap(4096));
    run(p.write(addr, new Uint8Array([1])));
    expectErrno(p.movePages(0, [addr], [2]), "EACCES");
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
    expect(k.tasks.size).toBe(0);
  });

  it("refuses mems outside the nodes with memory with EINVAL, and defaults to the nodes with memory", () => {
    const k = boot({ nodes: ["16M", 0, "16M"] });
    expectErrno(k.createProcess({ memsAllowed: [1] }), "EINVAL");
    expectErrno(k.createProcess({ memsAllowed: [0, 3] }), "EINVAL");
    expectErrno(k.createProcess({ memsAllowed: "0-1" as never }), "EINVAL");
    expect(k.tasks.size).toBe(0);
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
    expect(k.tasks.size).toBe(0);
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
    expect([...(await move(p, [addr], [1])).status]).toEqual([-ERRNO.EACCES]);
    expect([...(await move(p, [addr], [1], MPOL_MF_MOVE_ALL)).status]).toEqual([1]);
    expect(run(child.nodeOf(addr))).toBe(1);
    expect(run(child.read(addr, 1))[0]).toBe(7);
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

  it("reports -ENOMEM when the target node has no memory left, and returns the count not migrated", async () => {
    const k = boot({ nodes: ["16M", "4M"] });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 8 * MiB, 3, false);
    const pages = pagesOf(addr, 2048);
    const r = await move(
      p,
      pages,
      pages.map(() => 1),
    );
    const moved = [...r.status].filter((s) => s === 1).length;
    expect(moved).toBe(1024);
    expect([...r.status].filter((s) => s === -ERRNO.ENOMEM).length).toBe(1024);
    expect(r.rc).toBe(1024);
    expectBytes(run(p.read(addr, 8 * MiB)), pattern(8 * MiB, 3));
    expectConsistent(k);
  });

  it("reports -EBUSY for a dirty file page of a filesystem without migrate_folio (fallback_migrate_folio, Linux 6.16+), and moves it once clean", async () => {
    const k = boot();
    const p = run(k.createProcess());
    const file = run(k.createFile("f"));
    file.mapping.migrateFolio = false;
    const addr = run(p.mmap(4096, { flags: MAP_SHARED, file }));
    run(p.write(addr, new Uint8Array([1])));
    expect((await move(p, [addr], [1])).status[0]).toBe(-ERRNO.EBUSY);
    run(file.fsync());
    expect((await move(p, [addr], [1])).status[0]).toBe(1);
    expect(run(p.read(addr, 1))[0]).toBe(1);
    expectConsistent(k);
  });

  it("waits for writeback in MIGRATE_SYNC, then migrates", async () => {
    const k = boot();
    const p = run(k.createProcess());
    const file = run(k.createFile("log"));
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

  it("fails a pinned folio with -EAGAIN after every retry, and moves it once unpinned", async () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = mapPattern(p, 2 * 4096, 4, false);
    const pinned = folioAt(p, addr);
    k.memmap.refcount[pinned.pfn]!++;
    const r = await move(p, [addr, addr + 4096], [1, 1]);
    expect([...r.status]).toEqual([-ERRNO.EAGAIN, 1]);
    expect(r.rc).toBe(1);
    expect(k.vmstat.get("pgmigrate_fail")).toBeGreaterThan(0);
    expect(run(p.read(addr, 4096))).toEqual(pattern(2 * 4096, 4).subarray(0, 4096));
    k.folioPut(pinned);
    expect([...(await move(p, [addr], [1])).status]).toEqual([1]);
    expectBytes(run(p.read(addr, 2 * 4096)), pattern(2 * 4096, 4));
    expectConsistent(k);
  });

  it("fails a folio with a poisoned page with -EHWPOISON; it stays mapped, readable up to that page", async () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapPattern(p, 2 * MiB, 5);
    const small = run(p.mmap(4096, { hugepage: false }));
    run(p.write(small, new Uint8Array([3])));
    const head = folioAt(p, addr).pfn;
    run(k.injectMemoryError(head + 10));
    const r = await move(p, [addr, small], [1, 1]);
    expect([...r.status]).toEqual([-ERRNO.EHWPOISON, 1]);
    expect(folioAt(p, addr).pfn).toBe(head);
    expectBytes(run(p.read(addr, 10 * 4096)), pattern(2 * MiB, 5).subarray(0, 10 * 4096));
    expectErrno(p.read(addr + 10 * 4096, 1), "EHWPOISON");
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
