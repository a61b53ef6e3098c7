// The task an allocation runs in (`current`), as every caller hands it to the allocator:
// zone_statistics() (mm/page_alloc.c, Linux 6.16) counts NUMA_HIT on the preferred node (else
// NUMA_MISS), and NUMA_LOCAL when the page is on numa_node_id(), the node of the allocating CPU
// (else NUMA_OTHER). A system call allocates in its caller, a sysfs or procfs store in the
// writer (kernfs_fop_write_iter() runs the store in the writing task).
import { Effect, Fiber } from "effect";
import { describe, expect, it } from "vitest";
import {
  type Kernel,
  MADV_SOFT_OFFLINE,
  MPOL_BIND,
  memallocNoreclaimRestore,
  memallocNoreclaimSave,
  PF_MEMALLOC,
  type Task,
  withMemallocNoreclaim,
} from "../../src/index";
import { boot, expectErrno, folioAt, pattern, run, runP, sameBytes } from "../../src/testing/index";

const PAGE = 4096;
const STATS = ["numa_hit", "numa_miss", "numa_local", "numa_other"] as const;
type Numa = Record<(typeof STATS)[number], number>;
const numa = (k: Kernel): Numa =>
  Object.fromEntries(STATS.map((s) => [s, k.vmstat.get(s)])) as Numa;
/** What the NUMA counters gained since `before`. */
const gained = (k: Kernel, before: Numa): Numa =>
  Object.fromEntries(STATS.map((s) => [s, k.vmstat.get(s) - before[s]])) as Numa;

/** `n` pages of `p` written with a pattern; their addresses. */
const written = async (p: Task, n: number, seed: number): Promise<number[]> => {
  const addr = run(p.mmap(n * PAGE));
  await runP(p.write(addr, pattern(n * PAGE, seed)));
  return Array.from({ length: n }, (_, i) => addr + i * PAGE);
};

describe("move_pages(2) allocates its destinations in the calling task (alloc_migration_target())", () => {
  it("a task on node 0 moving its pages to node 1 counts numa_hit and numa_other", async () => {
    const k = boot({ nodes: ["16M", "16M"] });
    const p = run(k.createProcess({ node: 0 }));
    const pages = await written(p, 8, 1);
    expect(pages.map((a) => run(p.nodeOf(a)))).toEqual(Array(8).fill(0));
    const before = numa(k);
    const { status } = await runP(p.movePages(0, pages, Array(8).fill(1)));
    expect([...status]).toEqual(Array(8).fill(1));
    // Node 1 is the preferred node (__GFP_THISNODE): a hit; the CPU is on node 0: other.
    expect(gained(k, before)).toEqual({ numa_hit: 8, numa_miss: 0, numa_local: 0, numa_other: 8 });
    expect(sameBytes(run(p.read(pages[0]!, 8 * PAGE)), pattern(8 * PAGE, 1))).toBe(true);
  });

  it("a task on node 1 moving its pages from node 0 to node 1 counts numa_local", async () => {
    const k = boot({ nodes: ["16M", "16M"] });
    const p = run(k.createProcess({ node: 1 }));
    run(p.setMempolicy(MPOL_BIND, [0]));
    const pages = await written(p, 8, 2);
    expect(pages.map((a) => run(p.nodeOf(a)))).toEqual(Array(8).fill(0));
    const before = numa(k);
    const { status } = await runP(p.movePages(0, pages, Array(8).fill(1)));
    expect([...status]).toEqual(Array(8).fill(1));
    expect(gained(k, before)).toEqual({ numa_hit: 8, numa_miss: 0, numa_local: 8, numa_other: 0 });
  });
});

describe("migrate_pages(2) allocates in the calling task (migrate_to_node())", () => {
  it("a task on node 0 moving its pages to node 1 counts numa_other; on node 1, numa_local", async () => {
    for (const [cpuNode, local, other] of [
      [0, 0, 6],
      [1, 6, 0],
    ] as const) {
      const k = boot({ nodes: ["16M", "16M"] });
      const p = run(k.createProcess({ node: cpuNode }));
      run(p.setMempolicy(MPOL_BIND, [0]));
      const pages = await written(p, 6, 3);
      const before = numa(k);
      expect(await runP(p.migratePagesSyscall(0, 64, [0], [1]))).toBe(0);
      expect(pages.map((a) => run(p.nodeOf(a)))).toEqual(Array(6).fill(1));
      expect(gained(k, before)).toEqual({
        numa_hit: 6,
        numa_miss: 0,
        numa_local: local,
        numa_other: other,
      });
    }
  });
});

describe("a sysfs store runs in the writing task (kernfs_fop_write_iter())", () => {
  const ROOT = "/sys/devices/system/memory";

  it("offlining a block of node 1: its pages land on node 0, local to a writer on node 0", async () => {
    // Two 64 MiB nodes in 16 MiB blocks: memory4-7 are node 1's. The pages move to node 0, the
    // one other node with memory: do_migrate_range()'s nodemask, whose first node is the
    // preferred one (first_zones_zonelist()), so each is a numa_hit.
    for (const writer of [0, null] as const) {
      const k = boot({ nodes: ["64M", "64M"], sectionSize: "16M" });
      const p = run(k.createProcess({ node: 1 }));
      run(p.setMempolicy(MPOL_BIND, [1]));
      const pages = await written(p, 4, 4);
      const id = Math.floor(folioAt(p, pages[0]!).pfn / k.mem.pagesPerSection);
      expect(k.memoryBlocks[id]!.nid).toBe(1);
      const inBlock = pages.filter(
        (a) => Math.floor(folioAt(p, a).pfn / k.mem.pagesPerSection) === id,
      ).length;
      const current = writer === null ? null : run(k.createProcess({ node: writer }));
      const before = numa(k);
      expect(await runP(k.fs.write(`${ROOT}/memory${id}/state`, "offline", current))).toBe(7);
      // A writer on node 0 allocates locally; with no writing task the store runs as a kernel
      // thread of the block's node, for which node 0 is other.
      expect(gained(k, before)).toEqual({
        numa_hit: inBlock,
        numa_miss: 0,
        numa_local: writer === 0 ? inBlock : 0,
        numa_other: writer === 0 ? 0 : inBlock,
      });
      expect(sameBytes(run(p.read(pages[0]!, 4 * PAGE)), pattern(4 * PAGE, 4))).toBe(true);
    }
  });

  it("nr_hugepages of node 0 written by a task on node 1 counts numa_other for each huge page", async () => {
    const k = boot({ nodes: ["16M", "16M"] });
    const file = "/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages";
    const p = run(k.createProcess({ node: 1 }));
    let before = numa(k);
    // alloc_pool_huge_folio(): __GFP_THISNODE on node 0, one allocation per huge page.
    await runP(k.fs.write(file, "2", p));
    expect(run(k.fs.read(file))).toBe("2\n");
    expect(gained(k, before)).toEqual({ numa_hit: 2, numa_miss: 0, numa_local: 0, numa_other: 2 });
    before = numa(k);
    await runP(k.fs.write(file, "3", run(k.createProcess({ node: 0 }))));
    expect(gained(k, before)).toEqual({ numa_hit: 1, numa_miss: 0, numa_local: 1, numa_other: 0 });
  });

  it("ESRCH for a writer that has exited, before the store runs", async () => {
    const k = boot({ nodes: ["16M", "16M"] });
    const file = "/proc/sys/vm/nr_hugepages";
    const p = run(k.createProcess({ node: 1 }));
    await runP(p.exit());
    expectErrno(k.fs.write(file, "1", p), "ESRCH");
    expect(run(k.fs.read(file))).toBe("0\n");
  });
});

describe("soft offline allocates in its caller (soft_offline_in_use_page())", () => {
  it("madvise(MADV_SOFT_OFFLINE) by a task on node 1 of its page on node 0 counts numa_other", async () => {
    const k = boot({ nodes: ["16M", "16M"] });
    const p = run(k.createProcess({ node: 1 }));
    run(p.setMempolicy(MPOL_BIND, [0]));
    const [addr] = await written(p, 1, 5);
    const before = numa(k);
    await runP(p.madvise(addr!, PAGE, MADV_SOFT_OFFLINE));
    // alloc_migration_target() from the page's own node, with no __GFP_THISNODE: node 0 has
    // room, so a hit there, other to the CPU on node 1.
    expect(run(p.nodeOf(addr!))).toBe(0);
    expect(gained(k, before)).toEqual({ numa_hit: 1, numa_miss: 0, numa_local: 0, numa_other: 1 });
    expect(k.vmstat.get("numa_hit") + k.vmstat.get("numa_miss")).toBe(
      k.vmstat.get("numa_local") + k.vmstat.get("numa_other"),
    );
  });
});

describe("Kernel.allocFolio() in a task (folio_alloc())", () => {
  it("counts against the task's node; a kernel thread of the node counts numa_local", () => {
    const k = boot({ nodes: ["16M", "16M"] });
    const p = run(k.createProcess({ node: 1 }));
    let before = numa(k);
    const a = run(k.allocFolio(0, 2, 0, p));
    expect(k.mem.pfnToNid(a.pfn)).toBe(0);
    expect(gained(k, before)).toEqual({ numa_hit: 1, numa_miss: 0, numa_local: 0, numa_other: 1 });
    before = numa(k);
    const b = run(k.allocFolio(0, 2));
    expect(gained(k, before)).toEqual({ numa_hit: 1, numa_miss: 0, numa_local: 1, numa_other: 0 });
    k.folioPut(a);
    k.folioPut(b);
  });

  it("ESRCH for a task that has exited, with nothing allocated", async () => {
    const k = boot({ nodes: ["16M", "16M"] });
    const p = run(k.createProcess({ node: 1 }));
    await runP(p.exit());
    const free = k.pageAlloc.nodeFreePages(0);
    expectErrno(k.allocFolio(0, 0, 0, p), "ESRCH");
    expect(k.pageAlloc.nodeFreePages(0)).toBe(free);
  });
});

describe("memalloc_noreclaim_save() / memalloc_noreclaim_restore() (include/linux/sched/mm.h)", () => {
  it("sets PF_MEMALLOC and restores it as it was, so nested sections keep the outer one's", () => {
    const task = { flags: 0x40 };
    const outer = memallocNoreclaimSave(task);
    expect(outer).toBe(0);
    expect(task.flags).toBe(0x40 | PF_MEMALLOC);
    const inner = memallocNoreclaimSave(task);
    expect(inner).toBe(PF_MEMALLOC);
    memallocNoreclaimRestore(task, inner);
    expect(task.flags).toBe(0x40 | PF_MEMALLOC);
    memallocNoreclaimRestore(task, outer);
    expect(task.flags).toBe(0x40);
  });

  it("withMemallocNoreclaim() holds PF_MEMALLOC for the effect's span only, and puts it back as it was after a success, a failure or an interruption", async () => {
    const task = { flags: 0x40 };
    const seen = Effect.sync(() => task.flags);
    // Set from the start, not when the Effect is built.
    const wrapped = withMemallocNoreclaim(task, seen);
    expect(task.flags).toBe(0x40);
    expect(Effect.runSync(wrapped)).toBe(0x40 | PF_MEMALLOC);
    expect(task.flags).toBe(0x40);
    const failed = withMemallocNoreclaim(task, Effect.fail("ENOMEM"));
    expect(Effect.runSync(Effect.flip(failed))).toBe("ENOMEM");
    expect(task.flags).toBe(0x40);
    // Forked, it runs at once up to its first suspension: the never-ending effect.
    const fiber = Effect.runFork(withMemallocNoreclaim(task, Effect.never));
    expect(task.flags).toBe(0x40 | PF_MEMALLOC);
    await Effect.runPromise(Fiber.interrupt(fiber));
    expect(task.flags).toBe(0x40);
    // Nested in a section that set it already: the outer one's flag stays.
    const outer = memallocNoreclaimSave(task);
    expect(Effect.runSync(withMemallocNoreclaim(task, seen))).toBe(0x40 | PF_MEMALLOC);
    expect(task.flags).toBe(0x40 | PF_MEMALLOC);
    memallocNoreclaimRestore(task, outer);
    // No task (a kernel thread): the effect alone.
    expect(Effect.runSync(withMemallocNoreclaim(null, Effect.succeed(1)))).toBe(1);
  });
});
