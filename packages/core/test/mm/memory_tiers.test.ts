import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import {
  Kernel,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MEMTIER_ADISTANCE_DRAM,
  MEMTIER_CHUNK_BITS,
  MEMTIER_DEFAULT_DAX_ADISTANCE,
  MPOL_BIND,
  NUMA_NO_NODE,
} from "../../src/index";
import {
  boot,
  expectConsistent,
  expectErrno,
  pattern,
  run,
  runP,
  sameBytes,
} from "../../src/testing/index";

const CXL = MEMTIER_DEFAULT_DAX_ADISTANCE;
const tierDir = "/sys/devices/virtual/memory_tiering";

describe("memory tiers (mm/memory-tiers.c)", () => {
  it("the kernel's abstract distances: DRAM 576 in tier 4, dax kmem 2880 in tier 22 (memory-tiers.h, dax/kmem.c)", () => {
    expect(MEMTIER_ADISTANCE_DRAM).toBe(576);
    expect(MEMTIER_ADISTANCE_DRAM >> MEMTIER_CHUNK_BITS).toBe(4);
    expect(CXL).toBe(2880);
    expect(CXL >> MEMTIER_CHUNK_BITS).toBe(22);
  });

  it("puts every DRAM node in memory_tier4, with no demotion target and every node top tier", () => {
    const k = boot();
    expect(run(k.fs.list(tierDir))).toEqual(["memory_tier4"]);
    expect(run(k.fs.read(`${tierDir}/memory_tier4/nodelist`))).toBe("0-1\n");
    expect(k.memoryTiers.nextDemotionNode(0)).toBe(NUMA_NO_NODE);
    expect(k.memoryTiers.allowedTargets(0)).toEqual([]);
    expect([0, 1].map((n) => k.memoryTiers.nodeIsToptier(n))).toEqual([true, true]);
    run(k.shutdown());
  });

  it("demotes each DRAM node to the nearest slow node, falls back to every lower node (establish_demotion_targets)", () => {
    // Two sockets, each with a CXL expander close to it.
    const k = boot({
      nodes: ["16M", "16M", { memory: "32M", adistance: CXL }, { memory: "32M", adistance: CXL }],
      distances: [
        [10, 21, 14, 24],
        [21, 10, 24, 14],
        [14, 24, 10, 26],
        [24, 14, 26, 10],
      ],
    });
    expect(run(k.fs.list(tierDir))).toEqual(["memory_tier22", "memory_tier4"]);
    expect(run(k.fs.read(`${tierDir}/memory_tier4/nodelist`))).toBe("0-1\n");
    expect(run(k.fs.read(`${tierDir}/memory_tier22/nodelist`))).toBe("2-3\n");
    const t = k.memoryTiers;
    expect([0, 1, 2, 3].map((n) => t.nextDemotionNode(n))).toEqual([2, 3, -1, -1]);
    expect(t.allowedTargets(0)).toEqual([2, 3]);
    expect(t.allowedTargets(2)).toEqual([]);
    // node_is_toptier(): the lowest tier with CPUs is the DRAM tier.
    expect([0, 1, 2, 3].map((n) => t.nodeIsToptier(n))).toEqual([true, true, false, false]);
    expect(t.tierOf(2)?.id).toBe(22);
    expect(expectErrno(k.fs.write(`${tierDir}/memory_tier4/nodelist`, "0"), "EACCES")).toBeTruthy();
    run(k.shutdown());
  });

  it("prefers every node at the best distance, taking them in turn where Linux picks at random (node_random)", () => {
    const k = boot({
      nodes: ["16M", { memory: "16M", adistance: CXL }, { memory: "16M", adistance: CXL }],
    });
    expect(k.memoryTiers.preferred(0)).toEqual([1, 2]);
    expect([1, 2, 3, 4].map(() => k.memoryTiers.nextDemotionNode(0))).toEqual([1, 2, 1, 2]);
    run(k.shutdown());
  });

  it("gives a memoryless node no tier; it counts as top tier (node_is_toptier with no memtier)", () => {
    const k = boot({ nodes: ["16M", 0, { memory: "16M", adistance: CXL }] });
    expect(k.memoryTiers.tierOf(1)).toBeUndefined();
    expect(k.memoryTiers.nodeIsToptier(1)).toBe(true);
    expect(k.memoryTiers.nextDemotionNode(0)).toBe(2);
    run(k.shutdown());
  });

  it("with no node that has CPUs, top_tier_adistance stays 0: no tier is top tier", () => {
    const k = boot({
      nodes: [
        { memory: "16M", adistance: 1000 },
        { memory: "16M", adistance: CXL },
      ],
    });
    expect(run(k.fs.list(tierDir))).toEqual(["memory_tier22", "memory_tier7"]);
    expect([0, 1].map((n) => k.memoryTiers.nodeIsToptier(n))).toEqual([false, false]);
    expect(k.memoryTiers.nextDemotionNode(0)).toBe(1);
    run(k.shutdown());
  });

  it("demotion_enabled is false at boot and parses as kstrtobool (numa_demotion_enabled)", () => {
    const k = boot();
    const file = "/sys/kernel/mm/numa/demotion_enabled";
    expect(run(k.fs.read(file))).toBe("false\n");
    for (const [text, value] of [
      ["1", true],
      ["0", false],
      ["on\n", true],
      ["off", false],
      ["Yes", true],
      ["n", false],
      ["true", true],
    ] as const) {
      run(k.fs.write(file, text));
      expect(run(k.fs.read(file))).toBe(`${value}\n`);
      expect(k.memoryTiers.demotionEnabled).toBe(value);
    }
    for (const bad of ["2", "maybe", "o", " 1"]) {
      expectErrno(k.fs.write(file, bad), "EINVAL");
      expect(run(k.fs.read(file))).toBe("true\n");
    }
    run(k.shutdown());
  });

  it("refuses a bad adistance with EINVAL, naming the node", async () => {
    for (const adistance of [-1, 1.5, 2 ** 31, Number.NaN, "576"]) {
      const error = await Effect.runPromise(
        Effect.flip(
          Kernel.boot({ nodes: ["16M", { memory: "16M", adistance: adistance as number }] }),
        ),
      );
      expect(error.errno).toBe("EINVAL");
      expect(error.message).toMatch(/node 1: adistance/);
    }
  });
});

/**
 * memtier_hotplug_callback() (mm/memory-tiers.c, Linux 6.16): MEM_OFFLINE of a node's last memory
 * runs clear_node_memory_tier() (and destroy_memory_tier() for a tier left empty), MEM_ONLINE of
 * its first runs set_node_memory_tier(); both then establish_demotion_targets().
 */
describe("memory tiers across memory hotplug (memtier_hotplug_callback)", () => {
  const MEM = "/sys/devices/system/memory";
  const PAGE = 4096;
  /**
   * 16 MiB sections: DRAM node 0 (memory0), CXL node 1 (memory1-2) near node 0, CXL node 2
   * (memory3-6) farther.
   */
  const threeNodes = () =>
    boot({
      daemons: "on-demand", // direct reclaim alone demotes in these tests
      sectionSize: "16M",
      nodes: ["16M", { memory: "32M", adistance: CXL }, { memory: "64M", adistance: CXL }],
      distances: [
        [10, 14, 24],
        [14, 10, 26],
        [24, 26, 10],
      ],
    });
  const setBlocks = async (k: Kernel, ids: number[], state: "online" | "offline") => {
    for (const id of ids) await runP(k.fs.write(`${MEM}/memory${id}/state`, state));
  };
  const nodelist = (k: Kernel, id: number) =>
    run(k.fs.read(`${tierDir}/memory_tier${id}/nodelist`));

  it("a node whose last block goes offline leaves its tier and stops being a demotion target; online, it is back", async () => {
    const k = threeNodes();
    const t = k.memoryTiers;
    expect(nodelist(k, 22)).toBe("1-2\n");
    expect(t.preferred(0)).toEqual([1]);
    expect(t.allowedTargets(0)).toEqual([1, 2]);

    // One of node 1's two blocks: the node keeps N_MEMORY, so no status change, nothing moves.
    await setBlocks(k, [1], "offline");
    expect(nodelist(k, 22)).toBe("1-2\n");
    expect(t.nextDemotionNode(0)).toBe(1);

    await setBlocks(k, [2], "offline");
    expect(k.nodeHasMemory(1)).toBe(false);
    expect(nodelist(k, 22)).toBe("2\n");
    expect(t.tierOf(1)).toBeUndefined();
    // establish_demotion_targets(): the best node of the tier below is now node 2.
    expect(t.preferred(0)).toEqual([2]);
    expect(t.nextDemotionNode(0)).toBe(2);
    expect(t.nextDemotionNode(1)).toBe(NUMA_NO_NODE);
    expect(t.allowedTargets(0)).toEqual([2]);
    // A node with no memtier counts as top tier (node_is_toptier()).
    expect(t.nodeIsToptier(1)).toBe(true);
    // Its memory type stays (node_memory_types[] is not cleared on offline).
    expect(t.adistance(1)).toBe(CXL);

    await setBlocks(k, [1], "online");
    expect(k.nodeHasMemory(1)).toBe(true);
    expect(nodelist(k, 22)).toBe("1-2\n");
    expect(t.tierOf(1)?.id).toBe(22);
    expect(t.preferred(0)).toEqual([1]);
    expect(t.allowedTargets(0)).toEqual([1, 2]);
    expect(t.nodeIsToptier(1)).toBe(false);
    // The second block joins a node already in N_MEMORY: no status change, the tier is as it is.
    await setBlocks(k, [2], "online");
    expect(nodelist(k, 22)).toBe("1-2\n");
    expectConsistent(k);
    await runP(k.shutdown());
  });

  it("a tier whose last node leaves is destroyed: its memory_tier<N> directory goes, and comes back on online (destroy_memory_tier, find_create_memory_tier)", async () => {
    const k = boot({
      sectionSize: "16M",
      nodes: ["32M", { memory: "32M", adistance: CXL }],
    });
    const t = k.memoryTiers;
    expect(run(k.fs.list(tierDir))).toEqual(["memory_tier22", "memory_tier4"]);
    expect(t.nextDemotionNode(0)).toBe(1);
    await setBlocks(k, [2, 3], "offline");
    expect(run(k.fs.list(tierDir))).toEqual(["memory_tier4"]);
    expect(k.fs.exists(`${tierDir}/memory_tier22`)).toBe(false);
    expectErrno(k.fs.read(`${tierDir}/memory_tier22/nodelist`), "ENOENT");
    expect(t.tiers.map((tier) => tier.id)).toEqual([4]);
    // The DRAM tier is now the last: no demotion target, no fallback.
    expect(t.nextDemotionNode(0)).toBe(NUMA_NO_NODE);
    expect(t.allowedTargets(0)).toEqual([]);

    await setBlocks(k, [3], "online");
    expect(run(k.fs.list(tierDir))).toEqual(["memory_tier22", "memory_tier4"]);
    expect(nodelist(k, 22)).toBe("1\n");
    expect(t.nextDemotionNode(0)).toBe(1);
    expect(t.allowedTargets(0)).toEqual([1]);
    expect([0, 1].map((n) => t.nodeIsToptier(n))).toEqual([true, false]);
    await runP(k.shutdown());
  });

  it("reclaim demotes to the target that remains once the nearest slow node is offline (demote_folio_list)", async () => {
    const k = threeNodes();
    await setBlocks(k, [1, 2], "offline");
    run(k.fs.write("/sys/kernel/mm/numa/demotion_enabled", "1"));
    const p = run(k.createProcess({ node: 0 }));
    run(p.setMempolicy(MPOL_BIND, [0]));
    const n = 5000; // more than node 0 holds (4096 pages)
    const addr = run(p.mmap(n * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    await runP(p.write(addr, pattern(n * PAGE, 7)));
    const nodes = Array.from({ length: n }, (_, i) => run(p.nodeOf(addr + i * PAGE)));
    const demoted = nodes.filter((nid) => nid === 2).length;
    expect(demoted).toBeGreaterThan(n - 4096);
    expect(nodes.every((nid) => nid === 0 || nid === 2)).toBe(true);
    expect(k.vmstat.get("pgdemote_direct")).toBe(demoted);
    expect(sameBytes(run(p.read(addr, n * PAGE)), pattern(n * PAGE, 7))).toBe(true);
    expectConsistent(k);
    await runP(k.shutdown());
  });

  it("with the only slow node offline, reclaim has no demotion target: anonymous pages are not scanned (can_demote() on node_demotion[].preferred)", async () => {
    const k = boot({ sectionSize: "16M", nodes: ["16M", { memory: "16M", adistance: CXL }] });
    await setBlocks(k, [1], "offline");
    run(k.fs.write("/sys/kernel/mm/numa/demotion_enabled", "1"));
    expect(k.memoryTiers.preferred(0)).toEqual([]);
    const p = run(k.createProcess({ node: 0 }));
    run(p.setMempolicy(MPOL_BIND, [0]));
    // OOM_SCORE_ADJ_MIN: when reclaim frees nothing the OOM killer passes over p and ends the
    // victim (8 resident pages on node 0; with no process to kill the kernel would panic,
    // out_of_memory()), and the writes stop there.
    run(k.fs.write(`/proc/${p.pid}/oom_score_adj`, "-1000"));
    const victim = run(k.createProcess({ node: 0, name: "victim" }));
    const v = run(victim.mmap(8 * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    run(victim.write(v, pattern(8 * PAGE, 99)));
    // Two mappings: one of 5000 pages would fail the overcommit heuristic against 4096 pages.
    const half = 2500;
    const maps = [0, 1].map(() => run(p.mmap(half * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS })));
    const at = (i: number) => maps[Math.floor(i / half)]! + (i % half) * PAGE;
    let written = 0;
    for (; written < 2 * half && !victim.exited; written++) {
      const r = await runP(Effect.exit(p.write(at(written), pattern(PAGE, written))));
      if (r._tag === "Failure") break;
    }
    expect([victim.exited, k.vmstat.get("oom_kill")]).toEqual([true, 1]);
    expect(written).toBeLessThan(4096);
    // get_scan_count(): anon lists are not scanned when anon pages cannot leave.
    expect(k.vmstat.get("pgscan_anon")).toBe(0);
    expect(k.vmstat.get("pgdemote_direct")).toBe(0);
    expect(k.vmstat.get("allocstall_normal")).toBeGreaterThan(0);
    for (let i = 0; i < written; i++) {
      expect(sameBytes(run(p.read(at(i), PAGE)), pattern(PAGE, i))).toBe(true);
    }
    await runP(k.shutdown());
  });
});
