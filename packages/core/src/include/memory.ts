/**
 * Memory blocks: the units memory is onlined and offlined in.
 *
 * Models `include/linux/memory.h`: `struct memory_block` (one device under
 * `/sys/devices/system/memory/`), its states (`MEM_ONLINE`, `MEM_GOING_OFFLINE`, `MEM_OFFLINE`)
 * and the online types a write to its `state` file names (`MMOP_*`,
 * `include/linux/memory_hotplug.h`). The driver that registers the blocks is
 * `drivers/base/memory.ts`; offlining and onlining are `mm/memory_hotplug.ts`.
 *
 * @module
 */

/**
 * `MEM_ONLINE` (`include/linux/memory.h`): the block's pages are in the buddy allocator or in
 * use. `state` shows `online`.
 *
 * @category Memory hotplug
 */
export const MEM_ONLINE = 1 << 0;
/**
 * `MEM_GOING_OFFLINE` (`include/linux/memory.h`): `offline_pages()` is migrating the block's
 * pages out. `state` shows `going-offline`.
 *
 * @category Memory hotplug
 */
export const MEM_GOING_OFFLINE = 1 << 1;
/**
 * `MEM_OFFLINE` (`include/linux/memory.h`): the block's pages are out of the allocator; the
 * memory is gone from `MemTotal`. `state` shows `offline`.
 *
 * @category Memory hotplug
 */
export const MEM_OFFLINE = 1 << 2;

/**
 * `MMOP_OFFLINE` (`include/linux/memory_hotplug.h`): the online type the word `offline` names.
 *
 * @category Memory hotplug
 */
export const MMOP_OFFLINE = 0;
/**
 * `MMOP_ONLINE` (`include/linux/memory_hotplug.h`): online into the zone the kernel picks
 * (`online`).
 *
 * @category Memory hotplug
 */
export const MMOP_ONLINE = 1;
/**
 * `MMOP_ONLINE_KERNEL` (`include/linux/memory_hotplug.h`): online into a kernel zone
 * (`online_kernel`).
 *
 * @category Memory hotplug
 */
export const MMOP_ONLINE_KERNEL = 2;
/**
 * `MMOP_ONLINE_MOVABLE` (`include/linux/memory_hotplug.h`): online into `ZONE_MOVABLE`
 * (`online_movable`). The model has one zone per node, so the block joins that zone.
 *
 * @category Memory hotplug
 */
export const MMOP_ONLINE_MOVABLE = 3;

/**
 * `online_type_to_str[]` (`mm/memory_hotplug.c`): the words a `state` write may hold, indexed by
 * `MMOP_*`. `mhp_online_type_from_str()` compares a write with them (`sysfs_streq()`: a trailing
 * newline is ignored).
 *
 * @category Memory hotplug
 */
export const ONLINE_TYPE_TO_STR: readonly string[] = [
  "offline",
  "online",
  "online_kernel",
  "online_movable",
];

/**
 * One memory block. Models `struct memory_block` (`include/linux/memory.h`): the device
 * `/sys/devices/system/memory/memory<id>`, which covers `sections_per_block` memory sections
 * from `startSectionNr` on node `nid`.
 *
 * @category Memory hotplug
 */
export interface MemoryBlock {
  /** The block id, `memory_block_id(start_section_nr)`: the `<id>` of `memory<id>`. */
  readonly id: number;
  /** First section of the block (`start_section_nr`). */
  readonly startSectionNr: number;
  /** First PFN of the block (`section_nr_to_pfn(start_section_nr)`). */
  readonly startPfn: number;
  /** Pages the block spans (`memory_block_size_bytes() / PAGE_SIZE`). */
  readonly nrPages: number;
  /** The node the block belongs to (`nid`). */
  readonly nid: number;
  /** `MEM_ONLINE`, `MEM_GOING_OFFLINE` or `MEM_OFFLINE` (`state`). */
  state: number;
  /** The `MMOP_*` type the last online asked for (`online_type`). */
  onlineType: number;
}
