import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import {
  Kernel,
  MEMTIER_ADISTANCE_DRAM,
  MEMTIER_CHUNK_BITS,
  MEMTIER_DEFAULT_DAX_ADISTANCE,
  NUMA_NO_NODE,
} from "../../src/index";
import { boot, expectErrno, run } from "../../src/testing/index";

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
