/**
 * `/proc/vmstat`: the kernel's event counters and page-state gauges.
 *
 * Models `mm/vmstat.c` and `enum vm_event_item` (`include/linux/vm_event_item.h`) for the items
 * this model produces. Event counters only grow; gauges (`nr_free_pages`) are read live.
 *
 * @module
 */

/**
 * Event counters, by their `/proc/vmstat` names, in the kernel's order: the items of
 * `enum vm_event_item` (`include/linux/vm_event_item.h`) this model counts, named as
 * `vmstat_text` (`mm/vmstat.c`) prints them, after the NUMA allocation counters of
 * `enum numa_stat_item` (`numa_hit`, `numa_miss`, `numa_foreign`, `numa_local`, `numa_other`;
 * not `numa_interleave`) and the node counters of
 * `enum node_stat_item` (`include/linux/mmzone.h`) that only grow (`nr_vmscan_write`, `nr_vmscan_immediate_reclaim`, `pgpromote_*`, `pgdemote_*`). Counters Linux keeps per mTHP size only
 * (`count_mthp_stat()`) are not here: they are `ThpSettings.mthpStat` (`include/huge_mm.ts`).
 *
 * @category Tracing and statistics
 */
export const VM_EVENT_ITEMS = [
  // NUMA allocation counters (enum numa_stat_item, zone_statistics()), printed first.
  "numa_hit",
  "numa_miss",
  "numa_foreign",
  "numa_local",
  "numa_other",
  // Node counters (enum node_stat_item), printed before the events.
  "nr_vmscan_write",
  "nr_vmscan_immediate_reclaim",
  "pgpromote_success",
  "pgpromote_candidate",
  "pgdemote_kswapd",
  "pgdemote_direct",
  // Events (enum vm_event_item).
  "pgalloc_normal",
  "allocstall_normal",
  "pgactivate",
  "pgdeactivate",
  "pgfault",
  "pgmajfault",
  "pgrefill",
  "pgsteal_kswapd",
  "pgsteal_direct",
  "pgscan_kswapd",
  "pgscan_direct",
  "pgscan_anon",
  "pgscan_file",
  "pgsteal_anon",
  "pgsteal_file",
  "slabs_scanned",
  "kswapd_low_wmark_hit_quickly",
  "kswapd_high_wmark_hit_quickly",
  "pageoutrun",
  "pgrotated",
  "oom_kill",
  "numa_pte_updates",
  "numa_hint_faults",
  "numa_hint_faults_local",
  "numa_pages_migrated",
  "pgmigrate_success",
  "pgmigrate_fail",
  "thp_migration_success",
  "thp_migration_fail",
  "thp_migration_split",
  "compact_migrate_scanned",
  "compact_free_scanned",
  "compact_isolated",
  "compact_stall",
  "compact_fail",
  "compact_success",
  "compact_daemon_wake",
  "compact_daemon_migrate_scanned",
  "compact_daemon_free_scanned",
  "unevictable_pgs_culled",
  // check_move_unevictable_folios() (mm/vmscan.c) counts it when SHM_UNLOCK or a ramfs mapping
  // going away rescans its folios; nothing in the model marks a mapping unevictable that way,
  // so it stays 0, as on a machine that never uses them.
  "unevictable_pgs_scanned",
  "unevictable_pgs_rescued",
  "unevictable_pgs_mlocked",
  "unevictable_pgs_munlocked",
  "unevictable_pgs_cleared",
  "unevictable_pgs_stranded",
  "thp_fault_alloc",
  "thp_fault_fallback",
  "thp_file_alloc",
  "thp_file_fallback",
  "thp_file_mapped",
  "thp_split_page",
  "thp_split_page_failed",
  "thp_deferred_split_page",
  "thp_underused_split_page",
  "thp_split_pmd",
  "thp_zero_page_alloc",
  "thp_zero_page_alloc_failed",
  "balloon_inflate",
  "balloon_deflate",
  "balloon_migrate",
  "cow_fault",
] as const;

/**
 * The name of one event counter (`enum vm_event_item`, `include/linux/vm_event_item.h`).
 *
 * @category Tracing and statistics
 */
export type VmEventItem = (typeof VM_EVENT_ITEMS)[number];

const INDEX = new Map<VmEventItem, number>(VM_EVENT_ITEMS.map((name, i) => [name, i]));

/**
 * The index of an event counter in {@link VM_EVENT_ITEMS}: its `enum vm_event_item` value
 * (`include/linux/vm_event_item.h`) in the model's order, for {@link VmStat.countIndex}. A hot path
 * looks its items up once, as the kernel's `count_vm_events()` takes the enum's value.
 *
 * @category Tracing and statistics
 */
export const vmEventIndex = (item: VmEventItem): number => INDEX.get(item)!;

/**
 * One kernel's counters: the per-CPU event counters of `include/linux/vmstat.h` and the
 * `/proc/vmstat` file of `mm/vmstat.c`.
 *
 * @category Tracing and statistics
 */
export class VmStat {
  private readonly events = new Float64Array(VM_EVENT_ITEMS.length);

  /** @param gauges page-state items read live, such as `nr_free_pages`, printed first. */
  constructor(private readonly gauges: ReadonlyArray<readonly [string, () => number]>) {}

  /** Adds to an event counter (`count_vm_events()`, `include/linux/vmstat.h`). */
  count(item: VmEventItem, delta = 1): void {
    this.events[INDEX.get(item)!]! += delta;
  }

  /**
   * Adds to the event counter at `index` ({@link vmEventIndex}): {@link count} without the lookup
   * by name, for a path that counts on every allocation.
   */
  countIndex(index: number, delta = 1): void {
    this.events[index]! += delta;
  }

  /** The current value of an event counter or gauge. */
  get(item: VmEventItem | string): number {
    const i = INDEX.get(item as VmEventItem);
    if (i !== undefined) return this.events[i]!;
    const gauge = this.gauges.find(([name]) => name === item);
    return gauge ? gauge[1]() : 0;
  }

  /** Every item and its value, as `/proc/vmstat` lists them. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, read] of this.gauges) out[name] = read();
    VM_EVENT_ITEMS.forEach((name, i) => {
      out[name] = this.events[i]!;
    });
    return out;
  }

  /**
   * The text of `/proc/vmstat`: one `name value` line per item (`vmstat_show()`, `mm/vmstat.c`).
   */
  show(): string {
    return Object.entries(this.snapshot())
      .map(([name, value]) => `${name} ${value}\n`)
      .join("");
  }
}
