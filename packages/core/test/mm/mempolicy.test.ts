import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { CAP_SYS_NICE } from "../../src/include/capability";
import type { Task } from "../../src/include/kernel";
import {
  __GFP_THISNODE,
  type Folio,
  FolioList,
  isolateFoliosToList,
  MADV_SOFT_OFFLINE,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  MIGRATE_SYNC,
  type Migrator,
  MPOL_BIND,
  MPOL_DEFAULT,
  MPOL_F_ADDR,
  MPOL_F_MEMS_ALLOWED,
  MPOL_F_NODE,
  MPOL_F_NUMA_BALANCING,
  MPOL_F_RELATIVE_NODES,
  MPOL_F_STATIC_NODES,
  MPOL_INTERLEAVE,
  MPOL_LOCAL,
  MPOL_MF_LAZY,
  MPOL_MF_MOVE,
  MPOL_MF_MOVE_ALL,
  MPOL_MF_STRICT,
  MPOL_PREFERRED,
  MR_MEMPOLICY_MBIND,
  MR_SYSCALL,
  migrateFoliosMcCopy,
  PROT_WRITE,
  ptePfn,
  putbackMovablePages,
  type TraceEvent,
} from "../../src/index";
import {
  boot,
  expectConsistent,
  expectErrno,
  fillNodeToMin,
  mapPattern,
  pagesOf,
  patternIntact,
  pteAt,
  run,
  runP,
} from "../../src/testing/index";

const PAGE = 4096;
const MiB = 2 ** 20;

const nodesOf = (p: Task, addr: number, n: number): number[] =>
  pagesOf(addr, n).map((a) => run(p.nodeOf(a)));

const migrateEvents = (k: ReturnType<typeof boot>): TraceEvent[] => {
  const events: TraceEvent[] = [];
  k.trace.subscribe((e) => {
    if (e.event === "mm_migrate_pages") events.push(e);
  });
  return events;
};

describe("mbind(2) with MPOL_MF_MOVE (do_mbind, mm/mempolicy.c)", () => {
  it("moves the pages off the new policy's nodes through migrate_pages(MIGRATE_SYNC, MR_MEMPOLICY_MBIND)", async () => {
    const k = boot();
    const p = run(k.createProcess({ node: 0 }));
    const addr = mapPattern(p, 8 * PAGE, 1);
    const events = migrateEvents(k);
    await runP(p.mbind(addr, 8 * PAGE, MPOL_BIND, [1], MPOL_MF_MOVE));
    expect(nodesOf(p, addr, 8)).toEqual(Array(8).fill(1));
    expect(events.map((e) => e.event === "mm_migrate_pages" && [e.reason, e.mode])).toEqual([
      [MR_MEMPOLICY_MBIND, MIGRATE_SYNC],
    ]);
    expect(k.vmstat.get("pgmigrate_success")).toBe(8);
    expect(run(p.getMempolicy(MPOL_F_ADDR, addr))).toEqual({ mode: MPOL_BIND, nodes: [1] });
    expect(patternIntact(p, addr, 8 * PAGE, 1)).toBe(true);
    expectConsistent(k);
  });

  it("without a move flag sets the policy and leaves the pages where they are", async () => {
    const k = boot();
    const p = run(k.createProcess({ node: 0 }));
    const addr = mapPattern(p, 4 * PAGE, 2);
    await runP(p.mbind(addr, 4 * PAGE, MPOL_BIND, [1]));
    expect(nodesOf(p, addr, 4)).toEqual([0, 0, 0, 0]);
    expect(k.vmstat.get("pgmigrate_success")).toBe(0);
  });

  it("MPOL_MF_STRICT alone: EIO for a misplaced page, and the policy is not set (queue_folios_pte_range)", async () => {
    const k = boot();
    const p = run(k.createProcess({ node: 0 }));
    const addr = mapPattern(p, 4 * PAGE, 3);
    expect(
      await runP(Effect.flip(p.mbind(addr, 4 * PAGE, MPOL_BIND, [1], MPOL_MF_STRICT))),
    ).toMatchObject({ errno: "EIO" });
    expect(run(p.getMempolicy(MPOL_F_ADDR, addr))).toEqual({ mode: MPOL_DEFAULT, nodes: [] });
    expect(nodesOf(p, addr, 4)).toEqual([0, 0, 0, 0]);
    // Every page already on the nodes: no error.
    await runP(p.mbind(addr, 4 * PAGE, MPOL_BIND, [0], MPOL_MF_STRICT));
    expect(run(p.getMempolicy(MPOL_F_ADDR, addr))).toEqual({ mode: MPOL_BIND, nodes: [0] });
    // MPOL_DEFAULT drops MPOL_MF_STRICT.
    await runP(p.mbind(addr, 4 * PAGE, MPOL_DEFAULT, [], MPOL_MF_STRICT));
  });

  it("MPOL_MF_STRICT | MPOL_MF_MOVE: EIO when a page could not be queued, after the others moved and the policy is set", async () => {
    const k = boot();
    const p = run(k.createProcess({ node: 0 }));
    const addr = mapPattern(p, 4 * PAGE, 4);
    // Another caller holds the third page's folio isolated: migrate_folio_add() fails for it.
    const held = new FolioList(k.memmap.lru);
    run(isolateFoliosToList(p, [addr + 2 * PAGE], held));
    expect(
      await runP(
        Effect.flip(p.mbind(addr, 4 * PAGE, MPOL_BIND, [1], MPOL_MF_MOVE | MPOL_MF_STRICT)),
      ),
    ).toMatchObject({ errno: "EIO" });
    expect(nodesOf(p, addr, 4)).toEqual([1, 1, 0, 1]);
    expect(run(p.getMempolicy(MPOL_F_ADDR, addr))).toEqual({ mode: MPOL_BIND, nodes: [1] });
    // Without MPOL_MF_STRICT the same call succeeds: pages that stay are no error.
    await runP(p.mbind(addr, 4 * PAGE, MPOL_BIND, [1], MPOL_MF_MOVE));
    expect(nodesOf(p, addr, 4)).toEqual([1, 1, 0, 1]);
    putbackMovablePages(k, held);
    held.release();
    await runP(p.mbind(addr, 4 * PAGE, MPOL_BIND, [1], MPOL_MF_MOVE | MPOL_MF_STRICT));
    expect(nodesOf(p, addr, 4)).toEqual([1, 1, 1, 1]);
    expect(patternIntact(p, addr, 4 * PAGE, 4)).toBe(true);
    expectConsistent(k);
  });

  it("MPOL_MF_STRICT | MPOL_MF_MOVE: EIO when migrate_pages() leaves a page (no memory on the node)", async () => {
    const k = boot();
    const p = run(k.createProcess({ node: 0 }));
    const addr = mapPattern(p, 2 * PAGE, 5);
    const held: Folio[] = [];
    for (;;) {
      const f = Effect.runSyncExit(k.allocFolio(1, 0, __GFP_THISNODE));
      if (f._tag === "Failure") break;
      held.push(f.value);
    }
    expect(
      await runP(
        Effect.flip(p.mbind(addr, 2 * PAGE, MPOL_BIND, [1], MPOL_MF_MOVE | MPOL_MF_STRICT)),
      ),
    ).toMatchObject({ errno: "EIO" });
    expect(nodesOf(p, addr, 2)).toEqual([0, 0]);
    for (const f of held) k.folioPut(f);
    expect(patternIntact(p, addr, 2 * PAGE, 5)).toBe(true);
    expectConsistent(k);
  });

  it("skips shared pages without MPOL_MF_MOVE_ALL, and that is no failure even with MPOL_MF_STRICT (migrate_folio_add)", async () => {
    const k = boot();
    const p = run(k.createProcess({ node: 0, uid: 1000 }));
    const addr = run(p.mmap(PAGE, { flags: MAP_SHARED | MAP_ANONYMOUS }));
    run(p.write(addr, new Uint8Array([9])));
    const child = run(p.fork());
    run(child.read(addr, 1));
    await runP(p.mbind(addr, PAGE, MPOL_BIND, [1], MPOL_MF_MOVE | MPOL_MF_STRICT));
    expect(run(p.nodeOf(addr))).toBe(0);
    // MPOL_MF_MOVE_ALL needs CAP_SYS_NICE (EPERM), and moves it with it.
    expectErrno(p.mbind(addr, PAGE, MPOL_BIND, [1], MPOL_MF_MOVE_ALL), "EPERM");
    const nice = run(k.createProcess({ node: 0, uid: 1000, capabilities: [CAP_SYS_NICE] }));
    const a2 = run(nice.mmap(PAGE, { flags: MAP_SHARED | MAP_ANONYMOUS }));
    run(nice.write(a2, new Uint8Array([8])));
    const c2 = run(nice.fork());
    run(c2.read(a2, 1));
    await runP(nice.mbind(a2, PAGE, MPOL_BIND, [1], MPOL_MF_MOVE_ALL));
    expect(run(c2.nodeOf(a2))).toBe(1);
    expect(run(c2.read(a2, 1))[0]).toBe(8);
    expectConsistent(k);
  });

  it("MPOL_INTERLEAVE sends each misplaced folio to the node of its interleave index (alloc_migration_target_by_mpol)", async () => {
    const k = boot({ nodes: ["32M", "32M", "32M"] });
    const p = run(k.createProcess({ node: 0 }));
    const addr = mapPattern(p, 8 * PAGE, 6);
    const onPolicyNode = mapPattern(p, 2 * PAGE, 7);
    run(p.mbind(onPolicyNode, 2 * PAGE, MPOL_BIND, [1], MPOL_MF_MOVE));
    await runP(p.mbind(addr, 8 * PAGE, MPOL_INTERLEAVE, [1, 2], MPOL_MF_MOVE));
    // An anonymous folio's index is its virtual page number: node [1, 2][vpn % 2], as a fresh
    // mapping with the same policy faults its pages in.
    const expected = (base: number) => pagesOf(base, 8).map((a) => [1, 2][(a / PAGE) % 2]);
    expect(nodesOf(p, addr, 8)).toEqual(expected(addr));
    const fresh = run(p.mmap(8 * PAGE));
    run(p.mbind(fresh, 8 * PAGE, MPOL_INTERLEAVE, [1, 2]));
    run(p.write(fresh, new Uint8Array(8 * PAGE).fill(1)));
    expect(nodesOf(p, fresh, 8)).toEqual(expected(fresh));
    // Only folios off the policy's nodes move (MPOL_MF_INVERT): those on node 1 stay there.
    const before = k.vmstat.get("pgmigrate_success");
    await runP(p.mbind(onPolicyNode, 2 * PAGE, MPOL_INTERLEAVE, [1, 2], MPOL_MF_MOVE));
    expect(nodesOf(p, onPolicyNode, 2)).toEqual([1, 1]);
    expect(k.vmstat.get("pgmigrate_success")).toBe(before);
    expect(patternIntact(p, addr, 8 * PAGE, 6)).toBe(true);
    expectConsistent(k);
  });

  it("moves a PMD-mapped THP whole; a partial range splits the VMA and the PMD and still moves the whole folio", async () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess({ node: 0 }));
    const addr = mapPattern(p, 4 * MiB, 7, true);
    const thp = addr + ((2 * MiB - (addr % (2 * MiB))) % (2 * MiB));
    const before = k.vmstat.get("pgmigrate_success");
    await runP(p.mbind(thp, 2 * MiB, MPOL_BIND, [1], MPOL_MF_MOVE));
    expect(k.vmstat.get("pgmigrate_success") - before).toBe(512);
    expect(run(p.nodeOf(thp + 2 * MiB - PAGE))).toBe(1);
    const vma = p.mm!.findVma(thp)!;
    expect(vma.pmds.has(thp)).toBe(true);
    // Back to node 0 for the first half only: the huge PMD is split at the VMA boundary, and the
    // folio, isolated whole, moves whole.
    await runP(p.mbind(thp, MiB, MPOL_BIND, [0], MPOL_MF_MOVE));
    expect(p.mm!.findVma(thp)!.end).toBe(thp + MiB);
    expect(p.mm!.findVma(thp)!.pmds.size).toBe(0);
    expect(run(p.nodeOf(thp))).toBe(0);
    expect(run(p.nodeOf(thp + MiB))).toBe(0);
    expect(patternIntact(p, addr, 4 * MiB, 7)).toBe(true);
    expectConsistent(k);
  });

  it("moves a hugetlb page into the bound node's pool (alloc_migration_target_by_mpol() takes alloc_hugetlb_folio_nodemask())", async () => {
    const k = boot();
    const pool = (nid: number, file: string) =>
      run(k.fs.read(`/sys/devices/system/node/node${nid}/hugepages/hugepages-2048kB/${file}`));
    await runP(k.fs.write("/proc/sys/vm/nr_hugepages", "2")); // one per node, round-robin
    const p = run(k.createProcess({ node: 0 }));
    const addr = run(p.mmap(2 * MiB, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
    run(p.write(addr, new Uint8Array(2 * MiB).fill(0x33)));
    expect(run(p.nodeOf(addr))).toBe(0);
    await runP(p.mbind(addr, 2 * MiB, MPOL_BIND, [1], MPOL_MF_MOVE | MPOL_MF_STRICT));
    expect(run(p.nodeOf(addr))).toBe(1);
    // The destination was node 1's free huge page; the source went back to node 0's pool.
    expect([pool(0, "nr_hugepages"), pool(0, "free_hugepages")]).toEqual(["1\n", "1\n"]);
    expect([pool(1, "nr_hugepages"), pool(1, "free_hugepages")]).toEqual(["1\n", "0\n"]);
    expect(run(p.read(addr, 2 * MiB)).every((b) => b === 0x33)).toBe(true);
    expectConsistent(k);
    run(p.exit());
    expect(pool(1, "free_hugepages")).toBe("1\n");
    expectConsistent(k);
  });

  it("checks its arguments in do_mbind()'s order", async () => {
    const k = boot();
    const p = run(k.createProcess({ node: 0, uid: 1000 }));
    const addr = mapPattern(p, 4 * PAGE, 8);
    // Mode before nodes before flags before MPOL_MF_MOVE_ALL's capability before the range.
    expectErrno(
      p.mbind(addr + 1, PAGE, 42, null as never, MPOL_MF_MOVE_ALL | MPOL_MF_LAZY),
      "EINVAL",
    );
    expectErrno(p.mbind(addr + 1, PAGE, MPOL_BIND, null as never, MPOL_MF_LAZY), "EFAULT");
    expectErrno(p.mbind(addr + 1, PAGE, MPOL_BIND, [1], MPOL_MF_MOVE_ALL | MPOL_MF_LAZY), "EINVAL");
    expectErrno(p.mbind(addr + 1, PAGE, MPOL_BIND, [1], MPOL_MF_LAZY), "EINVAL"); // not in MPOL_MF_VALID
    expectErrno(p.mbind(addr + 1, PAGE, MPOL_BIND, [1], 1 << 4), "EINVAL");
    expectErrno(p.mbind(addr + 1, PAGE, MPOL_BIND, [1], MPOL_MF_MOVE_ALL), "EPERM");
    expectErrno(p.mbind(addr + 1, PAGE, MPOL_BIND, [1], MPOL_MF_MOVE), "EINVAL");
    // A length of 0 returns before mpol_new() looks at the nodes.
    await runP(p.mbind(addr, 0, MPOL_BIND, [], MPOL_MF_MOVE));
    expectErrno(p.mbind(addr, PAGE, MPOL_BIND, [], MPOL_MF_MOVE), "EINVAL");
    expectErrno(p.mbind(addr, PAGE, MPOL_BIND, [64]), "EINVAL"); // past MAX_NUMNODES
    expectErrno(
      p.mbind(addr, PAGE, MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES | MPOL_BIND, [1]),
      "EINVAL",
    );
    // A hole: EFAULT, changing nothing; MPOL_DEFAULT may span holes (MPOL_MF_DISCONTIG_OK).
    run(p.munmap(addr + PAGE, PAGE));
    expectErrno(p.mbind(addr, 4 * PAGE, MPOL_BIND, [1], MPOL_MF_MOVE), "EFAULT");
    expect(nodesOf(p, addr, 1)).toEqual([0]);
    await runP(p.mbind(addr, 4 * PAGE, MPOL_DEFAULT, [], MPOL_MF_MOVE));
    // A range with no VMA at all is EFAULT even for MPOL_DEFAULT.
    run(p.munmap(addr, 4 * PAGE));
    expectErrno(p.mbind(addr, 4 * PAGE, MPOL_DEFAULT, []), "EFAULT");
  });
});

describe("migrate_pages(2) (kernel_migrate_pages, do_migrate_pages, mm/mempolicy.c)", () => {
  it("LTP migrate_pages01: sane nodes 0, ESRCH for pid -1 and an unused pid, EINVAL for maxnode -1 and an invalid node, EFAULT for a bad mask, EPERM for another user's process", async () => {
    const k = boot();
    const root = run(k.createProcess({ node: 0 }));
    expect(await runP(root.migratePagesSyscall(0, 64, [0], [0]))).toBe(0);
    expectErrno(root.migratePagesSyscall(-1, 64, [0], [0]), "ESRCH");
    expectErrno(root.migratePagesSyscall(32769, 64, [0], [0]), "ESRCH");
    expectErrno(root.migratePagesSyscall(0, -1, [0], [0]), "EINVAL");
    expectErrno(root.migratePagesSyscall(0, 64, -1 as never, -1 as never), "EFAULT");
    expectErrno(root.migratePagesSyscall(0, 64, [0], [2]), "EINVAL"); // node 2 does not exist
    const nobody = run(k.createProcess({ uid: 65534 }));
    expectErrno(nobody.migratePagesSyscall(root.pid, 64, [0], [0]), "EPERM");
  });

  it("reads the masks as get_nodes() does: maxnode - 1 bits, at most a page of them, none past MAX_NUMNODES", async () => {
    const k = boot();
    const p = run(k.createProcess({ node: 0 }));
    const addr = mapPattern(p, PAGE, 9);
    // maxnode 0 wraps to ULONG_MAX: past a page of bits.
    expectErrno(p.migratePagesSyscall(0, 0, [0], [1]), "EINVAL");
    // NULL masks and maxnode 1 read no node: the new mask is empty.
    expectErrno(p.migratePagesSyscall(0, 1, [0], [1]), "EINVAL");
    expectErrno(p.migratePagesSyscall(0, 64, null, null), "EINVAL");
    // maxnode 2 reads node 0 only.
    expectErrno(p.migratePagesSyscall(0, 2, [0], [1]), "EINVAL");
    expect(await runP(p.migratePagesSyscall(0, 2, [0, 1], [0, 1]))).toBe(0);
    expectErrno(p.migratePagesSyscall(0, 4096 * 8 + 2, [0], [1]), "EINVAL");
    expectErrno(p.migratePagesSyscall(0, 128, [0, 64], [1]), "EINVAL");
    expect(await runP(p.migratePagesSyscall(0, 4096 * 8 + 1, [0], [1]))).toBe(0);
    expect(run(p.nodeOf(addr))).toBe(1);
    // Node 64 is past maxnode 65 - 1: not read.
    expect(await runP(p.migratePagesSyscall(0, 65, [1, 64], [0]))).toBe(0);
    expect(run(p.nodeOf(addr))).toBe(0);
  });

  it("LTP migrate_pages02: a process moves its private pages both ways, and shared ones only with CAP_SYS_NICE", async () => {
    for (const nice of [true, false]) {
      const k = boot();
      const parent = run(k.createProcess({ node: 0 }));
      const priv = mapPattern(parent, PAGE, 10);
      const events = migrateEvents(k);
      expect(await runP(parent.migratePagesSyscall(0, 64, [0, 1], [1]))).toBe(0);
      expect(run(parent.nodeOf(priv))).toBe(1);
      expect(await runP(parent.migratePagesSyscall(0, 64, [0, 1], [0]))).toBe(0);
      expect(run(parent.nodeOf(priv))).toBe(0);
      expect(new Set(events.map((e) => e.event === "mm_migrate_pages" && e.reason))).toEqual(
        new Set([MR_SYSCALL]),
      );
      const shared = run(parent.mmap(PAGE, { flags: MAP_SHARED | MAP_ANONYMOUS }));
      run(parent.write(shared, new Uint8Array([1])));
      expect(await runP(parent.migratePagesSyscall(0, 64, [0, 1], [1]))).toBe(0);
      expect(run(parent.nodeOf(shared))).toBe(1);
      const child = run(parent.fork());
      const childPriv = mapPattern(child, PAGE, 11);
      run(child.write(shared, new Uint8Array([1])));
      if (!nice) run(child.setresuid(65534, 65534, 65534));
      // Skipped shared pages are not counted as failures.
      expect(await runP(child.migratePagesSyscall(0, 64, [0, 1], [0]))).toBe(0);
      expect(run(child.nodeOf(childPriv))).toBe(0);
      expect(run(parent.nodeOf(shared))).toBe(nice ? 0 : 1);
      expect(run(parent.read(shared, 1))[0]).toBe(1);
      expectConsistent(k);
    }
  });

  it("LTP migrate_pages02: another process's pages, by a privileged caller or one of the same uid", async () => {
    const k = boot();
    const target = run(k.createProcess({ node: 0, uid: 1000 }));
    const addr = mapPattern(target, 2 * PAGE, 12);
    const peer = run(k.createProcess({ uid: 1000 }));
    expect(await runP(peer.migratePagesSyscall(target.pid, 64, [0], [1]))).toBe(0);
    expect(nodesOf(target, addr, 2)).toEqual([1, 1]);
    const root = run(k.createProcess());
    expect(await runP(root.migratePagesSyscall(target.pid, 64, [1], [0]))).toBe(0);
    expect(nodesOf(target, addr, 2)).toEqual([0, 0]);
    expect(patternIntact(target, addr, 2 * PAGE, 12)).toBe(true);
  });

  it("EPERM for new nodes outside the target's cpuset without CAP_SYS_NICE; EINVAL when none is in the caller's", async () => {
    const k = boot();
    const target = run(k.createProcess({ node: 0, uid: 1000, memsAllowed: [0] }));
    const peer = run(k.createProcess({ uid: 1000 }));
    expectErrno(peer.migratePagesSyscall(target.pid, 64, [0], [1]), "EPERM");
    const confined = run(k.createProcess({ uid: 0, memsAllowed: [0] }));
    expectErrno(confined.migratePagesSyscall(target.pid, 64, [0], [1]), "EINVAL");
    // With CAP_SYS_NICE the target's cpuset does not limit the caller.
    const addr = mapPattern(target, PAGE, 13);
    const root = run(k.createProcess());
    expect(await runP(root.migratePagesSyscall(target.pid, 64, [0], [1]))).toBe(0);
    expect(run(target.nodeOf(addr))).toBe(1);
  });

  it("pairs the nodes as do_migrate_pages() does, so no page moves twice", async () => {
    const k = boot({ nodes: ["32M", "32M", "32M"] });
    // Pages on node 0, then pages on node 1.
    const proc = run(k.createProcess({ node: 0 }));
    const a0 = mapPattern(proc, 4 * PAGE, 14);
    run(proc.setMempolicy(MPOL_BIND, [1]));
    const a1 = mapPattern(proc, 4 * PAGE, 15);
    run(proc.setMempolicy(MPOL_DEFAULT, []));
    const events = migrateEvents(k);
    // [0,1] -> [1,2]: 1 -> 2 first (2 is no source), then 0 -> 1.
    expect(await runP(proc.migratePagesSyscall(0, 64, [0, 1], [1, 2]))).toBe(0);
    expect(nodesOf(proc, a0, 4)).toEqual([1, 1, 1, 1]);
    expect(nodesOf(proc, a1, 4)).toEqual([2, 2, 2, 2]);
    expect(k.vmstat.get("pgmigrate_success")).toBe(8);
    expect(events.length).toBe(2);
    // Different sizes: a source that is also a destination stays ([0-2] -> [1]: 0 and 2 move).
    expect(await runP(proc.migratePagesSyscall(0, 64, [0, 1, 2], [1]))).toBe(0);
    expect(nodesOf(proc, a0, 4)).toEqual([1, 1, 1, 1]);
    expect(nodesOf(proc, a1, 4)).toEqual([1, 1, 1, 1]);
    expect(k.vmstat.get("pgmigrate_success")).toBe(12);
    expect(patternIntact(proc, a0, 4 * PAGE, 14)).toBe(true);
    expect(patternIntact(proc, a1, 4 * PAGE, 15)).toBe(true);
    expectConsistent(k);
  });

  it("returns the number of folios not moved: those it could not isolate, and those migrate_pages() left", async () => {
    const k = boot();
    const p = run(k.createProcess({ node: 0 }));
    const addr = mapPattern(p, 4 * PAGE, 16);
    const held = new FolioList(k.memmap.lru);
    run(isolateFoliosToList(p, [addr, addr + PAGE], held));
    expect(await runP(p.migratePagesSyscall(0, 64, [0], [1]))).toBe(2);
    expect(nodesOf(p, addr, 4)).toEqual([0, 0, 1, 1]);
    putbackMovablePages(k, held);
    held.release();
    expectConsistent(k);
  });
});

describe("a migrator's reason mask decides which of these callers it sees", () => {
  it("mbind's batches only with mempolicy_mbind in the mask, migrate_pages(2)'s only with syscall", async () => {
    for (const mask of [1 << MR_MEMPOLICY_MBIND, 1 << MR_SYSCALL]) {
      const k = boot();
      const reasons: number[] = [];
      const m: Migrator = {
        name: "recorder",
        owner: null,
        shouldBatch: (reason) => {
          reasons.push(reason);
          return true;
        },
        offloadCopy: (dst, src) => Effect.sync(() => migrateFoliosMcCopy(k, dst, src)),
      };
      run(k.migrateOffload.register(m, mask));
      const p = run(k.createProcess({ node: 0 }));
      const addr = mapPattern(p, 8 * PAGE, 17);
      await runP(p.mbind(addr, 8 * PAGE, MPOL_BIND, [1], MPOL_MF_MOVE));
      expect(reasons).toEqual(mask === 1 << MR_MEMPOLICY_MBIND ? [MR_MEMPOLICY_MBIND] : []);
      reasons.length = 0;
      run(p.mbind(addr, 8 * PAGE, MPOL_DEFAULT, []));
      expect(await runP(p.migratePagesSyscall(0, 64, [1], [0]))).toBe(0);
      expect(reasons).toEqual(mask === 1 << MR_SYSCALL ? [MR_SYSCALL] : []);
      expect(patternIntact(p, addr, 8 * PAGE, 17)).toBe(true);
      await runP(k.shutdown());
    }
  });
});

describe("set_mempolicy(2) and get_mempolicy(2) (kernel_set_mempolicy, do_get_mempolicy)", () => {
  it("validates the mode flags as sanitize_mpol_flags() and mpol_new() do", () => {
    const k = boot();
    const p = run(k.createProcess());
    expectErrno(
      p.setMempolicy(MPOL_BIND | MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES, [0]),
      "EINVAL",
    );
    expectErrno(p.setMempolicy(MPOL_INTERLEAVE | MPOL_F_NUMA_BALANCING, [0]), "EINVAL");
    run(p.setMempolicy(MPOL_BIND | MPOL_F_NUMA_BALANCING, [0]));
    expectErrno(p.setMempolicy(7, [0]), "EINVAL"); // MPOL_MAX
    expectErrno(p.setMempolicy(5, [0]), "EINVAL"); // MPOL_PREFERRED_MANY: not modelled
    expectErrno(p.setMempolicy(MPOL_PREFERRED | MPOL_F_STATIC_NODES, []), "EINVAL");
    run(p.setMempolicy(MPOL_PREFERRED, []));
    expect(run(p.getMempolicy(0))).toEqual({ mode: MPOL_LOCAL, nodes: [] });
    expectErrno(p.setMempolicy(MPOL_LOCAL, [0]), "EINVAL");
    expectErrno(p.setMempolicy(MPOL_LOCAL | MPOL_F_STATIC_NODES, []), "EINVAL");
    expectErrno(p.setMempolicy(MPOL_DEFAULT, [0]), "EINVAL");
  });

  it("cuts the nodes down to the cpuset's (mpol_set_nodemask), maps relative nodes onto them, and reports the nodes as given", () => {
    const k = boot();
    const p = run(k.createProcess({ memsAllowed: [1] }));
    run(p.setMempolicy(MPOL_BIND, [0, 1]));
    expect(run(p.getMempolicy(0))).toEqual({ mode: MPOL_BIND, nodes: [1] });
    expectErrno(p.setMempolicy(MPOL_BIND, [0]), "EINVAL");
    run(p.setMempolicy(MPOL_BIND | MPOL_F_RELATIVE_NODES, [0]));
    expect(p.policy).toMatchObject({ mode: MPOL_BIND, nodes: [1] });
    expect(run(p.getMempolicy(0))).toEqual({
      mode: MPOL_BIND,
      nodes: [0],
      flags: MPOL_F_RELATIVE_NODES,
    });
    const addr = run(p.mmap(PAGE));
    run(p.write(addr, new Uint8Array([1])));
    expect(run(p.nodeOf(addr))).toBe(1);
  });

  it("get_mempolicy: MPOL_F_MEMS_ALLOWED alone, an address only with MPOL_F_ADDR", () => {
    const k = boot();
    const p = run(k.createProcess({ node: 1, memsAllowed: [1] }));
    expect(run(p.getMempolicy(MPOL_F_MEMS_ALLOWED))).toEqual({ mode: MPOL_DEFAULT, nodes: [1] });
    expectErrno(p.getMempolicy(MPOL_F_MEMS_ALLOWED | MPOL_F_NODE), "EINVAL");
    const addr = run(p.mmap(PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    expectErrno(p.getMempolicy(0, addr), "EINVAL");
    run(p.write(addr, new Uint8Array([1])));
    expect(run(p.getMempolicy(MPOL_F_NODE | MPOL_F_ADDR, addr))).toBe(1);
  });

  it("MPOL_F_NODE | MPOL_F_ADDR faults the page in as get_user_pages_fast() does: the slow path when memory is short (lookup_node())", async () => {
    const k = boot({ nodes: ["16M"], daemons: "on-demand" });
    // Clean page cache for direct reclaim to free, then the first tries until they fail.
    await runP(fillNodeToMin(k, 512, true));
    const p = run(k.createProcess());
    const addr = run(p.mmap(PAGE));
    const stalls = k.vmstat.get("allocstall_normal");
    // The read fault of an untouched page maps the zero page; a private file page needs a folio.
    const file = run(k.createFile("data"));
    run(file.truncate(PAGE));
    const f = run(p.mmap(PAGE, { flags: MAP_SHARED, file }));
    expect(await runP(p.getMempolicy(MPOL_F_NODE | MPOL_F_ADDR, f))).toBe(0);
    expect(k.vmstat.get("allocstall_normal")).toBeGreaterThan(stalls);
    expect(file.folioAt(0)).not.toBeNull();
    expect(run(p.getMempolicy(MPOL_F_NODE | MPOL_F_ADDR, addr))).toBe(0);
    expectConsistent(k);
  });

  it("MPOL_F_NODE | MPOL_F_ADDR fails with EFAULT where get_user_pages_fast() does: a poisoned page, a VMA without VM_READ", async () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(PAGE));
    run(p.write(addr, new Uint8Array([1])));
    run(k.memoryFailure(ptePfn(pteAt(p, addr))));
    // The fault is VM_FAULT_HWPOISON; vm_fault_to_errno() makes it -EFAULT without FOLL_HWPOISON,
    // which get_user_pages_fast() never takes (mm/gup.c, include/linux/mm.h, Linux 6.16): so
    // lookup_node() and madvise_inject_error() return -EFAULT, not -EHWPOISON.
    expectErrno(p.getMempolicy(MPOL_F_NODE | MPOL_F_ADDR, addr), "EFAULT");
    expectErrno(p.madvise(addr, PAGE, MADV_SOFT_OFFLINE), "EFAULT");
    // check_vma_flags(): a read look-up without FOLL_FORCE needs VM_READ, which a PROT_WRITE-only
    // mapping lacks (a user read of it works on x86).
    const w = run(p.mmap(PAGE, { prot: PROT_WRITE }));
    expect(run(p.read(w, 1))).toEqual(new Uint8Array([0]));
    expectErrno(p.getMempolicy(MPOL_F_NODE | MPOL_F_ADDR, w), "EFAULT");
    // ... but only from the slow path: the read above mapped the zero page, which gup_fast()
    // leaves to it (pte_special()). Once written, the page's PTE is present and, on x86,
    // readable (protection_map[VM_WRITE] is PAGE_COPY), so the lockless walk takes it without
    // looking at the VMA.
    run(p.write(w, new Uint8Array([2])));
    expect(run(p.getMempolicy(MPOL_F_NODE | MPOL_F_ADDR, w))).toBe(0);
    // A PROT_NONE page is not accessible to gup_fast() (pte_access_permitted()): EFAULT again.
    run(p.mprotect(w, PAGE, 0));
    expectErrno(p.getMempolicy(MPOL_F_NODE | MPOL_F_ADDR, w), "EFAULT");
    expect(p.exited).toBe(false);
    expectConsistent(k);
  });
});
