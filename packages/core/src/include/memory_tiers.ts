/**
 * Memory tiers: what each node's memory is, and where its cold pages go.
 *
 * Models `include/linux/memory-tiers.h`: the abstract distance (`adistance`) of a memory type,
 * the tiers it is grouped into (`MEMTIER_CHUNK_BITS`), and the calls reclaim and NUMA balancing
 * make on them (`next_demotion_node()`, `node_get_allowed_targets()`, `node_is_toptier()`,
 * `numa_demotion_enabled`). The tiers are built by `mm/memory_tiers.ts`.
 *
 * @module
 */

/**
 * `MEMTIER_CHUNK_BITS` (`include/linux/memory-tiers.h`): a tier covers `2^7` (128) abstract
 * distance values; a node's tier is its `adistance >> MEMTIER_CHUNK_BITS`.
 *
 * @category Memory tiering
 */
export const MEMTIER_CHUNK_BITS = 7;

/**
 * `MEMTIER_CHUNK_SIZE` (`include/linux/memory-tiers.h`): 128, the abstract distances one tier
 * covers.
 *
 * @category Memory tiering
 */
export const MEMTIER_CHUNK_SIZE = 1 << MEMTIER_CHUNK_BITS;

/**
 * `MEMTIER_ADISTANCE_DRAM` (`include/linux/memory-tiers.h`): 576 (4.5 chunks), the abstract
 * distance of ordinary DRAM (`default_dram_type`), which puts DRAM in tier 4, `memory_tier4`.
 * Every node not declared otherwise has it.
 *
 * @category Memory tiering
 */
export const MEMTIER_ADISTANCE_DRAM = 4 * MEMTIER_CHUNK_SIZE + (MEMTIER_CHUNK_SIZE >> 1);

/**
 * `MEMTIER_DEFAULT_DAX_ADISTANCE` (`drivers/dax/kmem.c`): 2880, five times DRAM's, the abstract
 * distance the dax kmem driver gives persistent memory or CXL memory it onlines as a NUMA node
 * when firmware reports no performance for it (tier 22, `memory_tier22`).
 *
 * @category Memory tiering
 */
export const MEMTIER_DEFAULT_DAX_ADISTANCE = MEMTIER_ADISTANCE_DRAM * 5;

/**
 * One memory tier (`struct memory_tier`, `mm/memory-tiers.c`): the nodes whose memory types fall
 * in one chunk of abstract distance, shown as `/sys/devices/virtual/memory_tiering/memory_tier<id>`.
 *
 * @category Memory tiering
 */
export interface MemoryTier {
  /** The tier's device id: its first abstract distance `>> MEMTIER_CHUNK_BITS`. */
  readonly id: number;
  /** The first abstract distance the tier covers (`adistance_start`). */
  readonly adistanceStart: number;
  /** Its nodes, ascending (`get_memtier_nodemask()`). */
  readonly nodes: readonly number[];
  /**
   * Every node of the tiers below this one (`lower_tier_mask`): where demotion from this tier
   * may fall back to.
   */
  readonly lowerTierMask: readonly number[];
}

/**
 * A kernel's memory tiers (`memory_tiers`, `node_demotion[]`, `top_tier_adistance` of
 * `mm/memory-tiers.c`), built at boot from the nodes' abstract distances as
 * `memory_tier_late_init()` and `establish_demotion_targets()` build them, and changed when a
 * node's last memory goes offline or its first comes online (`memtier_hotplug_callback()`).
 * `mm/memory_tiers.ts` implements it.
 *
 * @category Memory tiering
 */
export interface MemoryTiers {
  /** The tiers, fastest (lowest abstract distance) first. */
  readonly tiers: readonly MemoryTier[];
  /**
   * `/sys/kernel/mm/numa/demotion_enabled` (`numa_demotion_enabled`): whether reclaim may demote
   * instead of evicting. False at boot.
   */
  demotionEnabled: boolean;
  /**
   * A node's abstract distance (its memory type's `adistance`, kept while its memory is
   * offline); -1 for a node that had no memory at boot.
   */
  adistance(nid: number): number;
  /** The tier a node is in (`pgdat->memtier`); undefined for a node with no memory. */
  tierOf(nid: number): MemoryTier | undefined;
  /**
   * `node_demotion[nid].preferred` (`mm/memory-tiers.c`): the nodes of the next lower tier at the
   * smallest distance from `nid`; empty at the end of the demotion path.
   */
  preferred(nid: number): readonly number[];
  /**
   * `next_demotion_node()` (`mm/memory-tiers.c`): the node cold pages of `nid` are demoted to,
   * one of {@link preferred}, or `NUMA_NO_NODE` (-1). The kernel picks among several preferred
   * nodes at random (`node_random()`); the model takes them in turn, so a run repeats exactly.
   */
  nextDemotionNode(nid: number): number;
  /**
   * `node_get_allowed_targets()` (`mm/memory-tiers.c`): every node of the tiers below `nid`'s
   * (its tier's `lower_tier_mask`), the fallback of a demotion whose preferred node is full.
   */
  allowedTargets(nid: number): readonly number[];
  /**
   * `node_is_toptier()` (`mm/memory-tiers.c`): whether `nid` is in a tier at or above the lowest
   * tier that holds a node with CPUs (`top_tier_adistance`). Pages on a top-tier node are never
   * promoted. A node with no memory counts as top tier.
   */
  nodeIsToptier(nid: number): boolean;
  /**
   * `set_node_memory_tier()` (`mm/memory-tiers.c`): puts `nid` in the tier of its memory type,
   * creating the tier when none covers its abstract distance (`find_create_memory_tier()`).
   * Returns the tier and whether it was created. The demotion targets are unchanged until
   * {@link establishDemotionTargets}.
   */
  setNodeMemoryTier(nid: number): { tier: MemoryTier; created: boolean };
  /**
   * `clear_node_memory_tier()` (`mm/memory-tiers.c`): takes `nid` out of its tier, destroying a
   * tier it leaves empty (`destroy_memory_tier()`). Returns the tier left and whether it was
   * destroyed, or null when `nid` was in no tier. The demotion targets are unchanged until
   * {@link establishDemotionTargets}.
   */
  clearNodeMemoryTier(nid: number): { tier: MemoryTier; destroyed: boolean } | null;
  /**
   * `establish_demotion_targets()` (`mm/memory-tiers.c`): recomputes every node's preferred
   * demotion nodes, every tier's `lower_tier_mask` and `top_tier_adistance` from the tiers as
   * they are now.
   */
  establishDemotionTargets(): void;
}
