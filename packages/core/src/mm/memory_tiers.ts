/**
 * Memory tiers and demotion targets.
 *
 * Models `mm/memory-tiers.c`: each node with memory gets a memory type by its abstract distance
 * (`set_node_memory_tier()`; `default_dram_type`, `MEMTIER_ADISTANCE_DRAM`, unless the machine
 * description gives another, as the dax kmem driver or CXL's HMAT-based calculation would), the
 * types are grouped into tiers of `MEMTIER_CHUNK_SIZE` abstract distances
 * (`find_create_memory_tier()`), and `establish_demotion_targets()` gives each node its preferred
 * demotion nodes (the nearest nodes of the next lower tier) and its fallback (every node of the
 * tiers below), and finds the top tiers (`top_tier_adistance`: down to the lowest tier holding a
 * node with CPUs). The sysfs files are `/sys/devices/virtual/memory_tiering/memory_tier<N>/nodelist`
 * (`memory_tier_attrs`) and `/sys/kernel/mm/numa/demotion_enabled` (`numa_attr_group`).
 *
 * @module
 */
import { errno } from "../errno";
import type { Kernel } from "../include/kernel";
import {
  MEMTIER_CHUNK_BITS,
  MEMTIER_CHUNK_SIZE,
  type MemoryTier,
  type MemoryTiers,
} from "../include/memory_tiers";
import { kstrtobool } from "../lib/kstrtox";
import { formatNodeList } from "../lib/nodemask";
import { NUMA_NO_NODE } from "../lib/numa";

/** What the machine description says of one node's memory. */
export interface NodeMemoryType {
  /** The node's abstract distance; `MEMTIER_ADISTANCE_DRAM` for ordinary DRAM. */
  readonly adistance: number;
  /** Whether the node has CPUs (`N_CPU`): DRAM nodes do, memory-only devices do not. */
  readonly hasCpu: boolean;
}

/**
 * A kernel's memory tiers, built at boot (`memory_tier_late_init()` then
 * `establish_demotion_targets()`, `mm/memory-tiers.c`).
 *
 * @category Memory tiering
 */
export class MemoryTierState implements MemoryTiers {
  readonly tiers: readonly MemoryTier[];
  demotionEnabled = false;
  private readonly adist: readonly number[];
  private readonly nodeTier: readonly (MemoryTier | undefined)[];
  private readonly preferredNodes: readonly (readonly number[])[];
  /** `top_tier_adistance`: the last abstract distance of the lowest tier with a CPU node. */
  private readonly topTierAdistance: number;
  /** Which preferred node {@link nextDemotionNode} gives next, per node. */
  private readonly turn: number[];

  /**
   * @param types one entry per node, null for a node with no memory (not `N_MEMORY`)
   * @param distance `node_distance()`
   */
  constructor(
    types: readonly (NodeMemoryType | null)[],
    distance: (from: number, to: number) => number,
  ) {
    this.adist = types.map((t) => t?.adistance ?? -1);
    // find_create_memory_tier(): one tier per chunk of abstract distance, sorted.
    const byStart = new Map<number, number[]>();
    types.forEach((t, nid) => {
      if (!t) return;
      const start = (t.adistance >> MEMTIER_CHUNK_BITS) << MEMTIER_CHUNK_BITS;
      byStart.set(start, [...(byStart.get(start) ?? []), nid]);
    });
    const starts = [...byStart.keys()].sort((a, b) => a - b);
    const memory = types.flatMap((t, nid) => (t ? [nid] : []));
    // The lower_tier mask of each tier: N_MEMORY less its own and every higher tier's nodes.
    let lower = memory;
    this.tiers = starts.map((start) => {
      const nodes = byStart.get(start)!;
      lower = lower.filter((n) => !nodes.includes(n));
      return {
        id: start >> MEMTIER_CHUNK_BITS,
        adistanceStart: start,
        nodes,
        lowerTierMask: lower,
      };
    });
    this.nodeTier = types.map((_, nid) => this.tiers.find((tier) => tier.nodes.includes(nid)));
    // establish_demotion_targets(): the nearest nodes of the next tier down.
    this.preferredNodes = types.map((_, nid) => {
      const tier = this.nodeTier[nid];
      if (!tier) return [];
      const next = this.tiers[this.tiers.indexOf(tier) + 1];
      if (!next) return [];
      const best = Math.min(...next.nodes.map((n) => distance(nid, n)));
      return next.nodes.filter((n) => distance(nid, n) === best);
    });
    // The lowest tier with a node that has CPUs bounds the top tiers; with none,
    // top_tier_adistance keeps its initial 0 and only a tier starting at 0 is top tier.
    let top = 0;
    for (const tier of [...this.tiers].reverse()) {
      if (tier.nodes.some((n) => types[n]?.hasCpu)) {
        top = tier.adistanceStart + MEMTIER_CHUNK_SIZE - 1;
        break;
      }
    }
    this.topTierAdistance = top;
    this.turn = types.map(() => 0);
  }

  adistance(nid: number): number {
    return this.adist[nid] ?? -1;
  }

  tierOf(nid: number): MemoryTier | undefined {
    return this.nodeTier[nid];
  }

  preferred(nid: number): readonly number[] {
    return this.preferredNodes[nid] ?? [];
  }

  nextDemotionNode(nid: number): number {
    const preferred = this.preferred(nid);
    if (preferred.length === 0) return NUMA_NO_NODE;
    const at = this.turn[nid]! % preferred.length;
    this.turn[nid] = at + 1;
    return preferred[at]!;
  }

  allowedTargets(nid: number): readonly number[] {
    return this.nodeTier[nid]?.lowerTierMask ?? [];
  }

  nodeIsToptier(nid: number): boolean {
    const tier = this.nodeTier[nid];
    if (!tier) return true;
    return tier.adistanceStart <= this.topTierAdistance;
  }
}

/**
 * Creates the memory tiering files: `/sys/devices/virtual/memory_tiering/memory_tier<N>/nodelist`
 * (0444, the tier's nodes as a list) for every tier, as `find_create_memory_tier()` registers its
 * device, and `/sys/kernel/mm/numa/demotion_enabled` (0644: `true` or `false`; a write parses as
 * `kstrtobool()` does, anything else is `EINVAL`), as `numa_init_sysfs()` creates it
 * (`mm/memory-tiers.c`).
 *
 * @category Memory tiering
 */
export const memoryTierInitSysfs = (k: Kernel, tiers: MemoryTiers): void => {
  k.fs.mkdir("/sys/devices/virtual/memory_tiering");
  for (const tier of tiers.tiers) {
    k.fs.addAttributes(`/sys/devices/virtual/memory_tiering/memory_tier${tier.id}`, {
      nodelist: { mode: 0o444, show: () => `${formatNodeList(tier.nodes)}\n` },
    });
  }
  k.fs.addAttributes("/sys/kernel/mm/numa", {
    demotion_enabled: {
      mode: 0o644,
      show: () => `${tiers.demotionEnabled ? "true" : "false"}\n`,
      store: (text, count) => {
        const v = kstrtobool(text);
        if (v instanceof Error) {
          return errno("EINVAL", `demotion_enabled: ${JSON.stringify(text)} is not a boolean`);
        }
        tiers.demotionEnabled = v;
        return count;
      },
    },
  });
};
