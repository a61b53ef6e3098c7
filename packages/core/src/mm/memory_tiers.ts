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
 * (`memory_tier_attrs`) and `/sys/kernel/mm/numa/demotion_enabled` (`numa_attr_group`). A node
 * whose last memory goes offline leaves its tier, and comes back to it with its first memory
 * online (`memtier_hotplug_callback()`); the demotion targets are rebuilt each time.
 *
 * @module
 */
import { errno } from "../errno";
import type { Kernel } from "../include/kernel";
import { MEM_OFFLINE, MEM_ONLINE } from "../include/memory";
import {
  MEMTIER_ADISTANCE_DRAM,
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

/** A tier as the state keeps it: its nodes change as nodes go offline and online. */
interface Tier {
  readonly id: number;
  readonly adistanceStart: number;
  nodes: number[];
  lowerTierMask: number[];
}

/**
 * A kernel's memory tiers (`mm/memory-tiers.c`), built at boot (`memory_tier_late_init()` then
 * `establish_demotion_targets()`) and rebuilt when a node loses or regains its last memory
 * ({@link memtierHotplugCallback}).
 *
 * @category Memory tiering
 */
export class MemoryTierState implements MemoryTiers {
  demotionEnabled = false;
  /** `memory_tiers`: the tiers, sorted by `adistance_start`. */
  private tierList: Tier[] = [];
  /** `node_memory_types[]`: kept while a node is offline, as Linux keeps a node's memtype. */
  private readonly types: readonly (NodeMemoryType | null)[];
  /** `pgdat->memtier`. */
  private readonly nodeTier: (Tier | undefined)[];
  /** `node_demotion[].preferred`. */
  private preferredNodes: readonly (readonly number[])[] = [];
  /** `top_tier_adistance`: the last abstract distance of the lowest tier with a CPU node. */
  private topTierAdistance = 0;
  /** Which preferred node {@link nextDemotionNode} gives next, per node. */
  private readonly turn: number[];

  /**
   * @param types one entry per node, null for a node with no memory (not `N_MEMORY`)
   * @param distance `node_distance()`
   */
  constructor(
    types: readonly (NodeMemoryType | null)[],
    private readonly distance: (from: number, to: number) => number,
  ) {
    this.types = types;
    this.nodeTier = types.map(() => undefined);
    this.turn = types.map(() => 0);
    types.forEach((t, nid) => {
      if (t) this.setNodeMemoryTier(nid);
    });
    this.establishDemotionTargets();
  }

  get tiers(): readonly MemoryTier[] {
    return this.tierList;
  }

  /**
   * `set_node_memory_tier()` (`mm/memory-tiers.c`): puts `nid` in the tier of its memory type's
   * abstract distance, creating the tier (`find_create_memory_tier()`) when none covers it.
   * Returns the tier and whether it is new (its sysfs device is still to register). Call
   * {@link establishDemotionTargets} after.
   */
  setNodeMemoryTier(nid: number): { tier: MemoryTier; created: boolean } {
    // A node with no memory type yet gets DRAM's (default_dram_type, mt_calc_adistance()).
    const adist = this.types[nid]?.adistance ?? MEMTIER_ADISTANCE_DRAM;
    const start = (adist >> MEMTIER_CHUNK_BITS) << MEMTIER_CHUNK_BITS;
    let tier = this.tierList.find((t) => t.adistanceStart === start);
    const created = !tier;
    if (!tier) {
      tier = {
        id: start >> MEMTIER_CHUNK_BITS,
        adistanceStart: start,
        nodes: [],
        lowerTierMask: [],
      };
      this.tierList.push(tier);
      this.tierList.sort((a, b) => a.adistanceStart - b.adistanceStart);
    }
    if (!tier.nodes.includes(nid)) tier.nodes = [...tier.nodes, nid].sort((a, b) => a - b);
    this.nodeTier[nid] = tier;
    return { tier, created };
  }

  /**
   * `clear_node_memory_tier()` (`mm/memory-tiers.c`): takes `nid` out of its tier; a tier left
   * with no node is destroyed (`destroy_memory_tier()`). Returns the tier `nid` left and whether
   * it was destroyed, or null when `nid` was in none. Call {@link establishDemotionTargets} after.
   */
  clearNodeMemoryTier(nid: number): { tier: MemoryTier; destroyed: boolean } | null {
    const tier = this.nodeTier[nid];
    if (!tier) return null;
    this.nodeTier[nid] = undefined;
    tier.nodes = tier.nodes.filter((n) => n !== nid);
    const destroyed = tier.nodes.length === 0;
    if (destroyed) this.tierList = this.tierList.filter((t) => t !== tier);
    return { tier, destroyed };
  }

  /**
   * `establish_demotion_targets()` (`mm/memory-tiers.c`): gives each node in a tier the nearest
   * nodes of the next tier down as its preferred demotion targets, each tier the nodes of every
   * tier below it as its `lower_tier_mask`, and sets `top_tier_adistance` from the lowest tier
   * holding a node with CPUs (kept as it was when no tier holds one).
   */
  establishDemotionTargets(): void {
    this.preferredNodes = this.nodeTier.map((tier, nid) => {
      if (!tier) return [];
      const next = this.tierList[this.tierList.indexOf(tier) + 1];
      if (!next) return [];
      const best = Math.min(...next.nodes.map((n) => this.distance(nid, n)));
      return next.nodes.filter((n) => this.distance(nid, n) === best);
    });
    for (const tier of [...this.tierList].reverse()) {
      if (tier.nodes.some((n) => this.types[n]?.hasCpu)) {
        this.topTierAdistance = tier.adistanceStart + MEMTIER_CHUNK_SIZE - 1;
        break;
      }
    }
    // The lower_tier mask of each tier: the tiered nodes less its own and every higher tier's.
    let lower = this.tierList.flatMap((t) => t.nodes).sort((a, b) => a - b);
    for (const tier of this.tierList) {
      lower = lower.filter((n) => !tier.nodes.includes(n));
      tier.lowerTierMask = lower;
    }
  }

  adistance(nid: number): number {
    return this.types[nid]?.adistance ?? -1;
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

const TIER_ROOT = "/sys/devices/virtual/memory_tiering";

/** `device_register()` of a tier: its directory and `nodelist` (0444). */
const registerTierDevice = (k: Kernel, tier: MemoryTier): void => {
  k.fs.addAttributes(`${TIER_ROOT}/memory_tier${tier.id}`, {
    nodelist: { mode: 0o444, show: () => `${formatNodeList(tier.nodes)}\n` },
  });
};

/**
 * `memtier_hotplug_callback()` (`mm/memory-tiers.c`), the memory hotplug notifier, for a node
 * whose memory state changed (`status_change_nid`): on `MEM_OFFLINE` (the node's last memory
 * went offline) it takes the node out of its tier (`clear_node_memory_tier()`), removing the
 * tier's `memory_tier<N>` directory when it was the tier's last node (`destroy_memory_tier()`);
 * on `MEM_ONLINE` (its first memory came online) it puts the node back in the tier of its memory
 * type (`set_node_memory_tier()`, the same abstract distance it had), creating the tier and its
 * directory when none is there. Either way the demotion targets are rebuilt
 * (`establish_demotion_targets()`). Another action, or a node not in N_MEMORY on `MEM_ONLINE`,
 * changes nothing.
 *
 * @category Memory tiering
 */
export const memtierHotplugCallback = (k: Kernel, action: number, nid: number): void => {
  const tiers = k.memoryTiers;
  if (action === MEM_OFFLINE) {
    const cleared = tiers.clearNodeMemoryTier(nid);
    if (!cleared) return;
    if (cleared.destroyed) k.fs.remove(`${TIER_ROOT}/memory_tier${cleared.tier.id}`);
    tiers.establishDemotionTargets();
  } else if (action === MEM_ONLINE) {
    if (!k.nodeHasMemory(nid)) return;
    const set = tiers.setNodeMemoryTier(nid);
    if (set.created) registerTierDevice(k, set.tier);
    tiers.establishDemotionTargets();
  }
};

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
  k.fs.mkdir(TIER_ROOT);
  for (const tier of tiers.tiers) registerTierDevice(k, tier);
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
