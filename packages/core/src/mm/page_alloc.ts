import { Buffer } from "node:buffer";
import { Effect, Fiber } from "effect";
import { ERRNO, type ErrnoError, errno, errnoName } from "../errno";
import { CompactPriority, CompactResult, PAGE_ALLOC_COSTLY_ORDER } from "../include/compaction";
import {
  __GFP_COMP,
  __GFP_DIRECT_RECLAIM,
  __GFP_HIGH,
  __GFP_KSWAPD_RECLAIM,
  __GFP_MEMALLOC,
  __GFP_MOVABLE,
  __GFP_NOMEMALLOC,
  __GFP_NORETRY,
  __GFP_NOWARN,
  __GFP_RECLAIM,
  __GFP_RECLAIMABLE,
  __GFP_RETRY_MAYFAIL,
  __GFP_THISNODE,
  __GFP_ZERO,
  checkGfpMask,
  gfpMigratetype,
} from "../include/gfp";
import type { ThpSettings } from "../include/huge_mm";
import type { Kernel } from "../include/kernel";
import { type MemMap, pageCpupidResetLast } from "../include/mem_map";
import { MIGRATE_SYNC, MR_CONTIG_RANGE } from "../include/migrate_mode";
import type {
  AllocContext,
  AllocRequest,
  BadPageHandler,
  CaptureControl,
  Fragmentation,
  PageAllocator,
  PhysicalMemory,
  SlowpathResult,
} from "../include/mmzone";
import {
  MIGRATE_HIGHATOMIC,
  MIGRATE_ISOLATE,
  MIGRATE_MOVABLE,
  MIGRATE_PCPTYPES,
  MIGRATE_RECLAIMABLE,
  MIGRATE_UNMOVABLE,
  type MigrateType,
  WMARK_HIGH,
  WMARK_LOW,
  WMARK_MIN,
  WMARK_PROMO,
  Zone,
} from "../include/mmzone";
import { OomConstraint, type OomControl } from "../include/oom";
import {
  FOLIO_CONTENT_COPIED,
  MAGIC_HWPOISON,
  PG_buddy,
  PG_has_hwpoisoned,
  PG_head,
  PG_hugetlb,
  PG_hwpoison,
  PG_locked,
  PG_lru,
  PG_reserved,
  PG_writeback,
} from "../include/page_flags";
import { stopIfPanicked } from "../include/panic";
import { PF_KTHREAD, PF_MEMALLOC } from "../include/sched";
import { fatalSignalPending } from "../include/signal";
import type { Tracepoints } from "../include/trace";
import { vmEventIndex } from "../include/vmstat";
import { procDointvecEntry } from "../kernel/sysctl";
import { FailPageAlloc } from "../lib/fault_inject";
import { FolioList } from "../lib/list";
import {
  allocContigCompactControl,
  allocPagesDirectCompact,
  isolateMigratepagesRange,
  shouldCompactRetry,
} from "./compaction";
import { replaceFreeHugepageFolios } from "./hugetlb";
import { migratePages, putbackMovablePages } from "./migrate";
import { memmapPageHasMovableOps } from "./migrate_movable_ops";
import { allocMigrationTarget } from "./move_pages";
import { outOfMemory } from "./oom_kill";
import { startIsolatePageRange, testPagesIsolated, undoIsolatePageRange } from "./page_isolation";
import {
  allocNodes,
  performReclaim,
  reclaimCleanPagesFromList,
  shouldReclaimRetry,
} from "./vmscan";

/** Flags that must be clear when a page is freed (`PAGE_FLAGS_CHECK_AT_FREE`). */
const FLAGS_CHECK_AT_FREE = PG_locked | PG_lru | PG_writeback | PG_reserved | PG_buddy;

/**
 * `page_expected_state()` (`mm/page_alloc.c`) as `free_pages_prepare()` asks it of every page of
 * a block: no flag of `PAGE_FLAGS_CHECK_AT_FREE` (`PG_buddy` among them), no mapcount, no
 * mapping, on no list. The memmap's arrays are passed, read once by the caller, so that this
 * stays small enough to be inlined in the loop over a 2 MiB folio's 511 tail pages; a head page
 * is also tested for its entire mapcount and refcount. `badReason()` names the failed test.
 */
const pageExpectedState = (
  flags: Uint32Array,
  mapcount: Int32Array,
  mapping: Int32Array,
  linked: Int32Array,
  pfn: number,
): boolean =>
  (flags[pfn]! & FLAGS_CHECK_AT_FREE) === 0 &&
  mapcount[pfn] === 0 &&
  mapping[pfn]! <= 0 &&
  linked[pfn] === 0;

/**
 * From this many pages up, the per-page fields of a block are set with `TypedArray.fill`; below
 * it a loop is cheaper than the calls (a 2 MiB folio's 512 pages take fill, a 64 KiB one's 16 the
 * loop).
 */
const FILL_MIN_PAGES = 64;

/**
 * From this many pages up, `free_pages_prepare()` tests the tails' fields by comparing each
 * field's run with zeroes (four `Buffer.compare()` calls, about 55 ns each) rather than reading
 * them page by page (about 0.8 ns a page): the two cost the same near 300 pages, and a 2 MiB
 * folio's 511 tails take a third of the loop's time in the move_pages() bench's profile.
 */
const COMPARE_MIN_PAGES = 512;

/** What a run of 32-bit per-page fields is compared with: 16 KiB of zeroes, 4,096 pages' worth. */
const ZERO_FIELDS = Buffer.alloc(16 * 1024);

/**
 * Whether the 32-bit fields of pages `[from, to)` in `bytes` (a view of a whole per-page array)
 * are all 0: compared with zeroes by `memcmp()` (`Buffer.compare()`), 4,096 pages at a time.
 */
const fieldsZero = (bytes: Buffer, from: number, to: number): boolean => {
  for (let at = from * 4, end = to * 4; at < end; at += ZERO_FIELDS.length) {
    const n = Math.min(ZERO_FIELDS.length, end - at);
    if (bytes.compare(ZERO_FIELDS, 0, n, at, at + n) !== 0) return false;
  }
  return true;
};

/** A `Buffer` over the whole of a per-page array's bytes. */
const bytesOf = (a: Int32Array | Uint32Array): Buffer =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/**
 * A `Buffer` over a per-page array's bytes ({@link bytesOf}), made again only when the array was
 * replaced (the LRU links' array is when the list heads outgrow it, `ListSpace`, and a view of
 * an old array would read stale bytes): the array is compared by identity, with none of the
 * `Buffer`'s own getters read on a free.
 */
class FieldBytes {
  #of: Int32Array | Uint32Array | null = null;
  #bytes: Buffer = ZERO_FIELDS;

  /** The view over `a`'s bytes. */
  of(a: Int32Array | Uint32Array): Buffer {
    if (a !== this.#of) {
      this.#of = a;
      this.#bytes = bytesOf(a);
    }
    return this.#bytes;
  }
}
/**
 * `fallbacks[]` (`mm/page_alloc.c`): the types an allocation may steal from, in order, when its
 * own free lists are empty.
 */
const FALLBACKS: readonly (readonly MigrateType[])[] = [
  [MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE], // MIGRATE_UNMOVABLE
  [MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE], // MIGRATE_MOVABLE
  [MIGRATE_UNMOVABLE, MIGRATE_MOVABLE], // MIGRATE_RECLAIMABLE
];

/** `watermark_scale_factor` (`mm/page_alloc.c`): 10, i.e. 0.1% of the zone. */
const WATERMARK_SCALE_FACTOR = 10;

/** The counters of `zone_statistics()` and `rmqueue()`, by index (`enum numa_stat_item`, `PGALLOC`). */
const NUMA_HIT = vmEventIndex("numa_hit");
const NUMA_MISS = vmEventIndex("numa_miss");
const NUMA_FOREIGN = vmEventIndex("numa_foreign");
const NUMA_LOCAL = vmEventIndex("numa_local");
const NUMA_OTHER = vmEventIndex("numa_other");
const PGALLOC_NORMAL = vmEventIndex("pgalloc_normal");

/** `int_sqrt()` (`lib/math/int_sqrt.c`): the integer square root. */
const intSqrt = (x: number): number => Math.floor(Math.sqrt(x));

/**
 * `watermark_boost_factor`'s default (`mm/page_alloc.c`): 15000, i.e. a boost of up to 150% of
 * the high watermark.
 *
 * @category Memory and folios
 */
export const WATERMARK_BOOST_FACTOR = 15000;

/**
 * `ALLOC_WMARK_MIN` (`mm/internal.h`): check against the min watermark (`WMARK_MIN`); the low two
 * bits of the allocation flags index `zone->_watermark[]`.
 *
 * @category Memory and folios
 */
export const ALLOC_WMARK_MIN = WMARK_MIN;
/** `ALLOC_WMARK_LOW` (`mm/internal.h`): check against the low watermark. @category Memory and folios */
export const ALLOC_WMARK_LOW = WMARK_LOW;
/** `ALLOC_WMARK_HIGH` (`mm/internal.h`): check against the high watermark. @category Memory and folios */
export const ALLOC_WMARK_HIGH = WMARK_HIGH;
/**
 * `ALLOC_NO_WATERMARKS` (`mm/internal.h`): check no watermark at all; what `__GFP_MEMALLOC` and
 * `PF_MEMALLOC` give (`__gfp_pfmemalloc_flags()`, `mm/page_alloc.c`).
 *
 * @category Memory and folios
 */
export const ALLOC_NO_WATERMARKS = 0x04;
/** `ALLOC_WMARK_MASK` (`mm/internal.h`): the watermark bits. @category Memory and folios */
export const ALLOC_WMARK_MASK = ALLOC_NO_WATERMARKS - 1;
/**
 * `ALLOC_OOM` (`mm/internal.h`, with an MMU): an OOM victim's allocation, which may go a further
 * half below the mark (`__zone_watermark_ok()`): what {@link gfpPfmemallocFlags} gives a task the
 * OOM killer chose, for the allocation it still has in flight.
 *
 * @category Memory and folios
 */
export const ALLOC_OOM = 0x08;
/**
 * `ALLOC_NON_BLOCK` (`mm/internal.h`, Linux 6.16): the caller cannot block (no
 * `__GFP_DIRECT_RECLAIM`, no `__GFP_NOMEMALLOC`); with `ALLOC_MIN_RESERVE` it takes a quarter
 * more off the halved mark (`__zone_watermark_ok()`), alone nothing.
 *
 * @category Memory and folios
 */
export const ALLOC_NON_BLOCK = 0x10;
/**
 * `ALLOC_MIN_RESERVE` (`mm/internal.h`): `__GFP_HIGH` was given; the mark is halved
 * (`__zone_watermark_ok()`).
 *
 * @category Memory and folios
 */
export const ALLOC_MIN_RESERVE = 0x20;
/**
 * `ALLOC_CPUSET` (`mm/internal.h`): keep to the cpuset's (and the policy's) nodes; a non-blocking
 * `__GFP_HIGH` allocation drops it, and the slow path then tries every node of the zonelist.
 *
 * @category Memory and folios
 */
export const ALLOC_CPUSET = 0x40;
/**
 * `ALLOC_HIGHATOMIC` (`mm/internal.h`): a non-blocking `__GFP_HIGH` allocation above order 0 may
 * count `MIGRATE_HIGHATOMIC` blocks (`__zone_watermark_ok()`), takes from them first
 * (`rmqueue_buddy()`), and reserves the pageblock it was served from
 * (`reserve_highatomic_pageblock()`, `mm/page_alloc.c`).
 *
 * @category Memory and folios
 */
export const ALLOC_HIGHATOMIC = 0x200;
/**
 * `ALLOC_KSWAPD` (`mm/internal.h`): the allocation wakes kswapd (`__GFP_KSWAPD_RECLAIM`).
 *
 * @category Memory and folios
 */
export const ALLOC_KSWAPD = 0x800;
/**
 * `ALLOC_RESERVES` (`mm/internal.h`): the flags that allow an allocation below the min watermark.
 *
 * @category Memory and folios
 */
export const ALLOC_RESERVES = ALLOC_NON_BLOCK | ALLOC_MIN_RESERVE | ALLOC_HIGHATOMIC | ALLOC_OOM;

/**
 * `gfp_to_alloc_flags()` (`mm/page_alloc.c`, Linux 6.16): the allocation flags the slow path
 * (`__alloc_pages_slowpath()`) checks the zones with: the min watermark and the cpuset, plus
 * `ALLOC_MIN_RESERVE` for `__GFP_HIGH` and `ALLOC_KSWAPD` for `__GFP_KSWAPD_RECLAIM`. Without
 * `__GFP_DIRECT_RECLAIM` the caller cannot block: `ALLOC_NON_BLOCK` (and `ALLOC_HIGHATOMIC` above
 * order 0 with `__GFP_HIGH`, as the stable fix 6a204d4b14c9 has it; 6.16 as released set it
 * without `__GFP_HIGH` too) unless `__GFP_NOMEMALLOC`, and a non-blocking `__GFP_HIGH`
 * allocation drops `ALLOC_CPUSET`. (Linux also gives a blocking allocation of a realtime task
 * `ALLOC_MIN_RESERVE`; the model's tasks have no scheduling class. CMA and `defrag_mode` are not
 * modelled.)
 *
 * @example
 * ```ts
 * import {
 *   ALLOC_KSWAPD,
 *   ALLOC_MIN_RESERVE,
 *   ALLOC_NON_BLOCK,
 *   ALLOC_WMARK_MIN,
 *   GFP_ATOMIC,
 *   gfpToAllocFlags,
 * } from "@migrate-offload/core";
 *
 * // GFP_ATOMIC: half the min watermark for __GFP_HIGH, a quarter of the rest more as it cannot
 * // block; the cpuset is ignored (no ALLOC_CPUSET).
 * const flags = gfpToAllocFlags(GFP_ATOMIC, 0);
 * console.log(flags === (ALLOC_WMARK_MIN | ALLOC_KSWAPD | ALLOC_MIN_RESERVE | ALLOC_NON_BLOCK)); // true
 * ```
 *
 * @category Memory and folios
 */
export const gfpToAllocFlags = (gfp: number, order: number): number => {
  let flags = ALLOC_WMARK_MIN | ALLOC_CPUSET;
  if (gfp & __GFP_HIGH) flags |= ALLOC_MIN_RESERVE;
  if (gfp & __GFP_KSWAPD_RECLAIM) flags |= ALLOC_KSWAPD;
  if (!(gfp & __GFP_DIRECT_RECLAIM)) {
    if (!(gfp & __GFP_NOMEMALLOC)) {
      flags |= ALLOC_NON_BLOCK;
      if (order > 0 && flags & ALLOC_MIN_RESERVE) flags |= ALLOC_HIGHATOMIC;
    }
    // The cpuset's mems are ignored rather than fail a GFP_ATOMIC-like allocation.
    if (flags & ALLOC_MIN_RESERVE) flags &= ~ALLOC_CPUSET;
  }
  return flags;
};

/**
 * `__gfp_pfmemalloc_flags()` (`mm/page_alloc.c`, Linux 6.16): the reserve flags the slow path's
 * retry uses instead of {@link gfpToAllocFlags}: none for `__GFP_NOMEMALLOC`, which wins;
 * `ALLOC_NO_WATERMARKS` for `__GFP_MEMALLOC` or an allocating task with `PF_MEMALLOC`; else 0.
 * An OOM victim that has none of these gets `ALLOC_OOM` (`oom_reserves_allowed()`). The model has
 * no interrupt context (every allocation with a task is the task's).
 *
 * @category Memory and folios
 */
export const gfpPfmemallocFlags = (gfp: number, current: AllocContext | null = null): number => {
  if (gfp & __GFP_NOMEMALLOC) return 0;
  if (gfp & __GFP_MEMALLOC) return ALLOC_NO_WATERMARKS;
  if (current && current.flags & PF_MEMALLOC) return ALLOC_NO_WATERMARKS;
  if (current?.oomVictim) return ALLOC_OOM;
  return 0;
};

/** The buddy allocator of one kernel: the {@link PageAllocator} every kernel has. */
export class BuddyAllocator implements PageAllocator {
  /** One zone per node, by node id. */
  readonly zones: readonly Zone[];
  /** The largest block order (`MAX_PAGE_ORDER`): the architecture's, capped at the section size. */
  readonly maxOrder: number;
  /** `pageblock_order` (`include/linux/pageblock-flags.h`): the PMD order, capped at `maxOrder`. */
  readonly pageblockOrder: number;
  /** `min_free_kbytes` (`mm/page_alloc.c`), from `init_per_zone_wmark_min()`. */
  readonly minFreeKbytes: number;
  /**
   * `watermark_boost_factor` (`mm/page_alloc.c`, `/proc/sys/vm/watermark_boost_factor`): the
   * most {@link boostWatermark} may add to a zone's watermarks, in ten-thousandths of its high
   * watermark; 0 turns boosting off. {@link WATERMARK_BOOST_FACTOR} at boot.
   */
  watermarkBoostFactor = WATERMARK_BOOST_FACTOR;
  /** Node fallback order for each node (`node_zonelists`): the node first, then by distance. */
  readonly zonelists: readonly (readonly number[])[];
  /**
   * Each node's list of itself alone (`ZONELIST_NOFALLBACK`, `build_thisnode_zonelists()`): what
   * an allocation with `__GFP_THISNODE` tries.
   */
  private readonly thisNodeZonelists: readonly (readonly number[])[];
  /** `fail_page_alloc`: injected allocation failures. */
  readonly failPageAlloc: FailPageAlloc;
  /**
   * `wakeup_kswapd()` (`mm/vmscan.c`), set once reclaim exists: called with the node and order
   * of an allocation allowed to wake kswapd (`__GFP_KSWAPD_RECLAIM`) that left its node under the
   * low watermark.
   */
  wakeupKswapd: ((nid: number, order: number) => void) | null = null;
  /**
   * Whether the kswapd daemons run (`Kswapd.running`), set once reclaim exists. Linux always runs
   * them; a kernel booted with `daemons: "on-demand"` starts without them, and raises no watermark
   * boost then, as nothing would take it back off ({@link boostWatermark}).
   */
  kswapdRunning: (() => boolean) | null = null;
  /**
   * `count_vm_events()` and `__count_numa_events()` (`include/linux/vmstat.h`), set once the
   * counters exist: what an allocation counts (`numa_*`, `pgalloc_normal`), by the item's index
   * (`vmEventIndex()`), looked up once.
   */
  countVmEvent: ((index: number, delta: number) => void) | null = null;
  /** The kernel's tracepoints, set once they exist: where `mm_page_alloc_extfrag` goes. */
  trace: Tracepoints | null = null;
  /** Whether the last {@link allocPages} failed by fault injection (see `PageAllocator`). */
  failedByInjection = false;
  /**
   * `current->capture_control` of each task compacting directly now, by its fiber (the model's
   * `current` in the free path), with the task as its allocation has it.
   */
  readonly #captureControls = new WeakMap<
    object,
    { readonly task: AllocContext | null; readonly capc: CaptureControl }
  >();
  /** How many fibers have a capture control set: none, and a free looks no further. */
  #capturing = 0;

  constructor(
    private readonly mem: PhysicalMemory,
    private readonly memmap: MemMap,
    maxOrder: number,
    pageblockOrder: number,
    distance: (from: number, to: number) => number,
    private readonly badPage: BadPageHandler,
    /** Where a freed anonymous large folio is taken off its size's `nr_anon`. */
    private readonly thp: ThpSettings,
  ) {
    this.maxOrder = maxOrder;
    this.pageblockOrder = pageblockOrder;
    this.failPageAlloc = new FailPageAlloc(mem.pageSize);
    this.zones = mem.nodes.map(
      (n) =>
        new Zone(n.nid, n.startPfn, n.startPfn + n.presentPages, memmap, maxOrder, pageblockOrder),
    );
    const ids = mem.nodes.map((n) => n.nid);
    this.zonelists = ids.map((nid) =>
      [...ids].sort((a, b) => distance(nid, a) - distance(nid, b) || a - b),
    );
    this.thisNodeZonelists = ids.map((nid) => [nid]);
    for (const zone of this.zones) {
      for (let pfn = zone.startPfn; pfn < zone.endPfn; ) {
        let order = maxOrder;
        while (
          order > 0 &&
          ((pfn & ((1 << order) - 1)) !== 0 || pfn + (1 << order) > zone.endPfn)
        ) {
          order--;
        }
        this.addToFreeList(zone, pfn, order);
        zone.managedPages += 1 << order;
        pfn += 1 << order;
      }
    }
    // init_per_zone_wmark_min() and __setup_per_zone_wmarks() (mm/page_alloc.c).
    const lowmemPages = this.zones.reduce((sum, z) => sum + z.managedPages, 0);
    const lowmemKbytes = (lowmemPages * mem.pageSize) / 1024;
    this.minFreeKbytes = Math.min(Math.max(intSqrt(lowmemKbytes * 16), 128), 262144);
    const pagesMin = this.minFreeKbytes >> (mem.pageShift - 10);
    for (const zone of this.zones) {
      const min = Math.floor((pagesMin * zone.managedPages) / lowmemPages);
      const step = Math.max(
        min >> 2,
        Math.floor((zone.managedPages * WATERMARK_SCALE_FACTOR) / 10000),
      );
      zone.watermark[WMARK_MIN] = min;
      zone.watermark[WMARK_LOW] = min + step;
      zone.watermark[WMARK_HIGH] = min + 2 * step;
      zone.watermark[WMARK_PROMO] = min + 3 * step;
    }
  }

  /** `__add_to_free_list()`: on the list of the block's pageblock type. */
  private addToFreeList(zone: Zone, pfn: number, order: number): void {
    const mt = zone.pageblockMigratetype(pfn);
    this.memmap.flags[pfn] = PG_buddy;
    this.memmap.order[pfn] = order;
    zone.freeArea[order]![mt]!.add(pfn);
    zone.nrFree[order]!++;
    zone.nrFreeByType[order]![mt]!++;
    zone.freePages += 1 << order;
    if (mt === MIGRATE_HIGHATOMIC) zone.nrFreeHighatomic += 1 << order;
  }

  /** `__del_page_from_free_list()`. */
  private delFromFreeList(zone: Zone, pfn: number, order: number): void {
    const mt = zone.pageblockMigratetype(pfn);
    zone.freeArea[order]![mt]!.del(pfn);
    this.memmap.flags[pfn] = 0;
    zone.nrFree[order]!--;
    zone.nrFreeByType[order]![mt]!--;
    zone.freePages -= 1 << order;
    if (mt === MIGRATE_HIGHATOMIC) zone.nrFreeHighatomic -= 1 << order;
  }

  /**
   * `set_pageblock_migratetype()` over every pageblock of a range, moving the free blocks in it to
   * the new type's lists (`move_freepages()` with `change_pageblock_range()`, `mm/page_alloc.c`).
   */
  private setPageblockRange(zone: Zone, pfn: number, nrPages: number, mt: MigrateType): void {
    const end = Math.min(pfn + nrPages, zone.endPfn);
    const moved: Array<readonly [number, number]> = [];
    for (let p = pfn; p < end; ) {
      if (this.memmap.flags[p]! & PG_buddy) {
        const order = this.memmap.order[p]!;
        this.delFromFreeList(zone, p, order);
        moved.push([p, order]);
        p += 1 << order;
      } else p++;
    }
    const first = (pfn - zone.startPfn) >> this.pageblockOrder;
    const last = (end - 1 - zone.startPfn) >> this.pageblockOrder;
    zone.pageblockType.fill(mt, first, last + 1);
    for (const [p, order] of moved) this.addToFreeList(zone, p, order);
  }

  /** `expand()`: gives back the halves of a block split down from `high` to `low`. */
  private expand(zone: Zone, pfn: number, low: number, high: number): void {
    while (high > low) {
      high--;
      this.addToFreeList(zone, pfn + (1 << high), high);
    }
  }

  /** `__rmqueue_smallest()`: the smallest free block of at least `order` of type `mt`, split. */
  private rmqueueSmallest(zone: Zone, order: number, mt: MigrateType): number {
    for (let current = order; current <= this.maxOrder; current++) {
      const pfn = zone.freeArea[current]![mt]!.first;
      if (pfn < 0) continue;
      this.delFromFreeList(zone, pfn, current);
      this.expand(zone, pfn, order, current);
      return pfn;
    }
    return -1;
  }

  /**
   * `should_try_claim_block()` (`mm/page_alloc.c`, Linux 6.16): is a free block of `order` worth
   * trying to claim its whole pageblock for an allocation of `startType`? Always from half a
   * pageblock up; below that only for unmovable and reclaimable allocations, which would
   * otherwise pollute the block for good. A movable allocation takes a small block without
   * claiming (compaction can move it out later).
   */
  private shouldTryClaimBlock(order: number, startType: MigrateType): boolean {
    if (order >= this.pageblockOrder) return true;
    // pageblock_order / 2 in C's integer division: 4 for a pageblock order of 9.
    if (order >= this.pageblockOrder >> 1) return true;
    return startType === MIGRATE_RECLAIMABLE || startType === MIGRATE_UNMOVABLE;
  }

  /**
   * `find_suitable_fallback()` (`mm/page_alloc.c`, Linux 6.16): the first type in
   * `fallbacks[startType]` with a free block of `order` on node `nid`, or -1 when none has one.
   * With `claimable`, -2 (before looking) when an allocation of `startType` would not try to
   * claim the pageblock of a block that small, so a caller scanning down the orders can stop.
   */
  findSuitableFallback(
    nid: number,
    order: number,
    startType: MigrateType,
    claimable = false,
  ): MigrateType {
    const zone = this.zones[nid];
    if (!zone || startType >= MIGRATE_PCPTYPES) return -1;
    if (claimable && !this.shouldTryClaimBlock(order, startType)) return -2;
    for (const mt of FALLBACKS[startType]!) {
      if (!zone.freeArea[order]![mt]!.isEmpty) return mt;
    }
    return -1;
  }

  /**
   * `try_to_claim_block()` (`mm/page_alloc.c`, Linux 6.16): takes the free block `pfn` of
   * `currentOrder` (on `blockType`'s list) for an allocation of `order` and `startType` by making
   * its pageblock the allocation's. A block of a pageblock or more becomes the allocation's
   * whole; a smaller one only when its pageblock lies inside the zone
   * (`prep_move_freepages_block()`) and at least half of it is free or alike: movable pages for a
   * movable allocation, the pages in use that are not movable when an unmovable or reclaimable
   * allocation claims a movable block, none otherwise. A page counts as movable, as
   * `prep_move_freepages_block()` assumes without isolating it, when its folio is on the LRU
   * (`PageLRU()` tests the head, so every page of a large folio counts) or it has movable_ops (a
   * balloon page; `__PageMovable()` in 6.16, `page_has_movable_ops()` from 6.17). Below a
   * pageblock it first raises the zone's boost ({@link boostWatermark}) and, for an allocation
   * with `ALLOC_KSWAPD`, sets `ZONE_BOOSTED_WATERMARK`, whether the claim then succeeds or not.
   * Returns the allocated PFN, or -1 with nothing else changed.
   */
  private tryToClaimBlock(
    zone: Zone,
    pfn: number,
    currentOrder: number,
    order: number,
    startType: MigrateType,
    blockType: MigrateType,
    allocFlags: number,
  ): number {
    if (currentOrder >= this.pageblockOrder) {
      this.delFromFreeList(zone, pfn, currentOrder);
      this.setPageblockRange(zone, pfn, 1 << currentOrder, startType);
      this.expand(zone, pfn, order, currentOrder);
      return pfn;
    }
    // A claim below a pageblock fragments: boost the watermarks so kswapd reclaims and kcompactd
    // defragments, even when the node is balanced otherwise; whether or not the claim succeeds.
    if (this.boostWatermark(zone) && allocFlags & ALLOC_KSWAPD) zone.boostedWatermark = true;
    const pbNr = 1 << this.pageblockOrder;
    const start = pfn & ~(pbNr - 1);
    const end = start + pbNr;
    // Only the zone's lock is held: a pageblock straddling the zone's edge is left alone.
    if (start < zone.startPfn || end > zone.endPfn) return -1;
    let freePages = 0;
    let movablePages = 0;
    for (let p = start; p < end; p++) {
      const flags = this.memmap.flags[p]!;
      if (flags & PG_buddy) {
        freePages += 1 << this.memmap.order[p]!;
        p += (1 << this.memmap.order[p]!) - 1;
      } else if (
        this.memmap.flags[this.memmap.folioOf(p)]! & PG_lru ||
        memmapPageHasMovableOps(this.memmap, p)
      ) {
        movablePages++;
      }
    }
    const alike =
      startType === MIGRATE_MOVABLE
        ? movablePages
        : blockType === MIGRATE_MOVABLE
          ? pbNr - (freePages + movablePages)
          : 0;
    if (freePages + alike < 1 << (this.pageblockOrder - 1)) return -1;
    this.setPageblockRange(zone, start, pbNr, startType);
    return this.rmqueueSmallest(zone, order, startType);
  }

  /**
   * `boost_watermark()` (`mm/page_alloc.c`, Linux 6.16): raises `zone`'s watermark boost by a
   * pageblock (`pageblock_nr_pages`), up to `watermark_boost_factor` ten-thousandths of its high
   * watermark (`mult_frac()`) but at least a pageblock. False, and no boost, when the factor is 0,
   * when the zone manages fewer than four pageblocks, or while its high watermark is still 0; and
   * while kswapd does not run, which only the model allows ({@link kswapdRunning}).
   */
  private boostWatermark(zone: Zone): boolean {
    if (!this.watermarkBoostFactor) return false;
    // Only kswapd takes a boost off: without it (a model-only state) none is raised.
    if (!this.kswapdRunning?.()) return false;
    const pbNr = 1 << this.pageblockOrder;
    // Small zones are unlikely to gain from it, and could run out of memory at once.
    if (pbNr * 4 > zone.managedPages) return false;
    // mult_frac(x, n, d): (x / d) * n + ((x % d) * n) / d, in integers.
    const high = zone.watermark[WMARK_HIGH];
    const factor = this.watermarkBoostFactor;
    let maxBoost =
      Math.floor(high / 10000) * factor + Math.floor(((high % 10000) * factor) / 10000);
    if (!maxBoost) return false;
    maxBoost = Math.max(pbNr, maxBoost);
    zone.watermarkBoost = Math.min(zone.watermarkBoost + pbNr, maxBoost);
    return true;
  }

  /** `trace_mm_page_alloc_extfrag()`: an allocation of `startType` fell back to `fallback`. */
  private traceExtfrag(
    zone: Zone,
    pfn: number,
    order: number,
    currentOrder: number,
    startType: MigrateType,
    fallback: MigrateType,
  ): void {
    if (!this.trace?.enabled) return;
    this.trace.emit({
      event: "mm_page_alloc_extfrag",
      pfn,
      allocOrder: order,
      fallbackOrder: currentOrder,
      allocMigratetype: startType,
      fallbackMigratetype: fallback,
      changeOwnership:
        zone.pageblockType[(pfn - zone.startPfn) >> this.pageblockOrder] === startType,
    });
  }

  /**
   * `__rmqueue_claim()` (`mm/page_alloc.c`, Linux 6.16): the largest free block of a fallback
   * type first, down to `order`, whose pageblock {@link tryToClaimBlock} can make the
   * allocation's; it stops at the first order too small to claim (`find_suitable_fallback()`
   * gives -2). The model never sets `ALLOC_NOFRAGMENT` (docs/memory-model.md), so the scan goes
   * down to the order asked for, not only to `pageblock_order`.
   */
  private rmqueueClaim(
    zone: Zone,
    order: number,
    startType: MigrateType,
    allocFlags: number,
  ): number {
    for (let current = this.maxOrder; current >= order; current--) {
      const fallback = this.findSuitableFallback(zone.nid, current, startType, true);
      if (fallback === -1) continue;
      if (fallback === -2) break;
      const block = zone.freeArea[current]![fallback]!.first;
      const pfn = this.tryToClaimBlock(
        zone,
        block,
        current,
        order,
        startType,
        fallback,
        allocFlags,
      );
      if (pfn >= 0) {
        this.traceExtfrag(zone, pfn, order, current, startType, fallback);
        return pfn;
      }
    }
    return -1;
  }

  /**
   * `__rmqueue_steal()` (`mm/page_alloc.c`, Linux 6.16): the smallest free block of a fallback
   * type of at least `order`, split, its pageblock keeping its type: how movable pages end up
   * scattered through unmovable pageblocks until compaction moves them.
   */
  private rmqueueSteal(zone: Zone, order: number, startType: MigrateType): number {
    for (let current = order; current <= this.maxOrder; current++) {
      const fallback = this.findSuitableFallback(zone.nid, current, startType);
      if (fallback < 0) continue;
      const pfn = zone.freeArea[current]![fallback]!.first;
      this.delFromFreeList(zone, pfn, current);
      this.expand(zone, pfn, order, current);
      this.traceExtfrag(zone, pfn, order, current, startType, fallback);
      return pfn;
    }
    return -1;
  }

  /**
   * `__rmqueue()` (`mm/page_alloc.c`, Linux 6.16): tries the modes of `enum rmqueue_mode` in
   * order of rising fragmentation risk: `RMQUEUE_NORMAL` (the type's own lists,
   * `__rmqueue_smallest()`), `RMQUEUE_CMA` (nothing here: the model has no CMA areas),
   * `RMQUEUE_CLAIM` ({@link rmqueueClaim}) and `RMQUEUE_STEAL` ({@link rmqueueSteal}, which
   * `ALLOC_NOFRAGMENT` would forbid; the model never sets it). Every call starts at
   * `RMQUEUE_NORMAL`: the model has no per-CPU lists, so no `rmqueue_bulk()` carries the mode
   * from one page to the next.
   */
  private rmqueue(zone: Zone, order: number, mt: MigrateType, allocFlags: number): number {
    const pfn = this.rmqueueSmallest(zone, order, mt);
    if (pfn >= 0) return pfn;
    const claimed = this.rmqueueClaim(zone, order, mt, allocFlags);
    return claimed >= 0 ? claimed : this.rmqueueSteal(zone, order, mt);
  }

  /** `PageAllocator.candidates()`: the nodes an allocation may use, in the order it tries them. */
  candidates(nid: number, gfp: number, nodemask: readonly number[] | null): readonly number[] {
    if (gfp & __GFP_THISNODE) return this.thisNodeZonelists[nid] ?? [nid];
    const list = this.zonelists[nid] ?? [];
    return nodemask ? list.filter((n) => nodemask.includes(n)) : list;
  }

  /**
   * Allocates 2^order pages. Models `__alloc_pages(gfp, order, nid, nodemask)` (`mm/page_alloc.c`,
   * Linux 6.16): returns the first PFN with a refcount of one, or -1 (the kernel's `NULL`). With
   * `__GFP_COMP` and an order above 0 the block becomes a large folio. `order` must already be
   * valid; a node that does not exist has nothing to give (-1). `current` is the allocating task
   * (its `PF_MEMALLOC` and its CPU's node); with none, the allocation runs on a CPU of `nid`, as a
   * node's kernel threads do.
   *
   * The nodes are tried in the order of `nid`'s zonelist (by distance, `build_zonelists()`),
   * only `nid` with `__GFP_THISNODE`, only those in `nodemask` when one is given. The fast path
   * (`get_page_from_freelist()` with `ALLOC_WMARK_LOW`, and of the other flags only
   * `ALLOC_KSWAPD`, `alloc_flags_nofragment()`) takes from the first node whose free pages stay
   * above its low watermark (`zone_watermark_fast()`), so a node under it passes the allocation to
   * the next. When every node is under it, the slow path (`__alloc_pages_slowpath()`) wakes the
   * nodes' kswapd (`wake_all_kswapds()`, for `__GFP_KSWAPD_RECLAIM`) and tries them again with
   * {@link gfpToAllocFlags}: down to the min watermark, half of it with `__GFP_HIGH`, 37.5% of
   * it for a non-blocking `__GFP_HIGH` allocation (`GFP_ATOMIC`). Its retry then applies the
   * reserves of {@link gfpPfmemallocFlags} (`__GFP_MEMALLOC` or `PF_MEMALLOC`: no watermark, while
   * `__GFP_NOMEMALLOC` forbids it), and drops `nodemask` for those and for a non-blocking
   * `__GFP_HIGH` allocation (no `ALLOC_CPUSET`). Direct reclaim and compaction come next, in
   * {@link allocPagesSlowpath}, for a caller that may block. Each allocation counts in `numa_hit` when it lands on the preferred node (the
   * first node of the zonelist the nodemask allows) and in `numa_miss` and `numa_foreign` when
   * not, and in `numa_local` when it lands on the node of the allocating CPU and `numa_other`
   * when not (`zone_statistics()`), and its pages in `pgalloc_normal`.
   */
  allocPages(
    nid: number,
    order: number,
    gfp: number,
    nodemask: readonly number[] | null = null,
    current: AllocContext | null = null,
  ): number {
    // should_fail_alloc_page() (prepare_alloc_pages()): the whole allocation fails, slow path
    // included.
    this.failedByInjection =
      this.failPageAlloc.armed &&
      this.failPageAlloc.shouldFail(order, (gfp & __GFP_DIRECT_RECLAIM) !== 0);
    if (this.failedByInjection) return -1;
    const zonelist = this.candidates(nid, gfp, nodemask);
    if (zonelist.length === 0) return -1;
    // numa_node_id(): the node of the CPU the allocation runs on.
    const cpuNid = current?.nid ?? nid;
    // __alloc_frozen_pages_noprof(): ALLOC_WMARK_LOW, plus ALLOC_KSWAPD (alloc_flags_nofragment();
    // its ALLOC_NOFRAGMENT would choose no other block with one zone per node, see
    // docs/memory-model.md).
    const fastFlags = ALLOC_WMARK_LOW | (gfp & __GFP_KSWAPD_RECLAIM ? ALLOC_KSWAPD : 0);
    const fast = this.getPageFromZonelist(order, gfp, fastFlags, zonelist, cpuNid);
    if (fast >= 0) return fast;
    // __alloc_pages_slowpath(): the precise flags, after waking kswapd.
    let allocFlags = gfpToAllocFlags(gfp, order);
    if (allocFlags & ALLOC_KSWAPD) for (const n of zonelist) this.wakeupKswapd?.(n, order);
    const slow = this.getPageFromZonelist(order, gfp, allocFlags, zonelist, cpuNid);
    if (slow >= 0) return slow;
    // The retry: the reserves, and the nodemask dropped when memory policies may be ignored.
    const reserveFlags = gfpPfmemallocFlags(gfp, current);
    if (reserveFlags) allocFlags = reserveFlags | (allocFlags & ALLOC_KSWAPD);
    if (!reserveFlags && (allocFlags & ALLOC_CPUSET || nodemask === null)) return -1;
    const everyNode = this.candidates(nid, gfp, null);
    if (allocFlags & ALLOC_KSWAPD) for (const n of everyNode) this.wakeupKswapd?.(n, order);
    return this.getPageFromZonelist(order, gfp, allocFlags, everyNode, cpuNid);
  }

  /** `PageAllocator.slowpathRequest()`: `req` with this allocator's {@link failedByInjection}. */
  slowpathRequest(req: AllocRequest): AllocRequest {
    // prepare_alloc_pages()'s should_fail_alloc_page() failed this __alloc_pages() whole.
    return { ...req, failedByInjection: this.failedByInjection };
  }

  /**
   * `get_page_from_freelist()` (`mm/page_alloc.c`, Linux 6.16) with the caller's allocation flags,
   * over the nodes an allocation from `nid` may use ({@link candidates}): what
   * {@link allocPagesSlowpath} tries after each of its steps. -1 when no node has the block within
   * the flags' watermark, or the order is above `maxOrder`.
   */
  getPageFromFreelist(
    nid: number,
    order: number,
    gfp: number,
    allocFlags: number,
    nodemask: readonly number[] | null = null,
    current: AllocContext | null = null,
  ): number {
    if (order > this.maxOrder) return -1;
    const zonelist = this.candidates(nid, gfp, nodemask);
    if (zonelist.length === 0) return -1;
    return this.getPageFromZonelist(order, gfp, allocFlags, zonelist, current?.nid ?? nid);
  }

  /**
   * `get_page_from_freelist()` (`mm/page_alloc.c`): a block from the first node of `zonelist`
   * whose zone passes the watermark `allocFlags` name (`zone_watermark_fast()`), or from the first
   * with the block at all under `ALLOC_NO_WATERMARKS`; counted by `zone_statistics()`. After an
   * `ALLOC_HIGHATOMIC` allocation, {@link reserveHighatomicPageblock}.
   */
  private getPageFromZonelist(
    order: number,
    gfp: number,
    allocFlags: number,
    zonelist: readonly number[],
    cpuNid: number,
  ): number {
    const preferred = zonelist[0]!;
    for (const candidate of zonelist) {
      const zone = this.zones[candidate];
      if (!zone) continue;
      if (!(allocFlags & ALLOC_NO_WATERMARKS) && !this.zoneWatermarkFast(zone, order, allocFlags))
        continue;
      const pfn = this.allocFromZone(candidate, order, gfp, allocFlags);
      if (pfn < 0) continue;
      this.zoneStatistics(preferred, candidate, cpuNid, order);
      // A high-order atomic allocation: keep its pageblock for the next ones.
      if (allocFlags & ALLOC_HIGHATOMIC) this.reserveHighatomicPageblock(zone, pfn, order);
      return pfn;
    }
    return -1;
  }

  /**
   * `zone_watermark_fast()` (`mm/page_alloc.c`, Linux 6.16): the zone passes the (boosted)
   * watermark `allocFlags` name; failing that, an order-0 `ALLOC_MIN_RESERVE` allocation at the
   * min watermark is checked against the unboosted min watermark, as the boost stops at it.
   */
  private zoneWatermarkFast(zone: Zone, order: number, allocFlags: number): boolean {
    const i = allocFlags & ALLOC_WMARK_MASK;
    if (this.zoneWatermarkOk(zone.nid, order, zone.wmarkPages(i), allocFlags)) return true;
    return (
      order === 0 &&
      (allocFlags & ALLOC_MIN_RESERVE) !== 0 &&
      zone.watermarkBoost > 0 &&
      i === WMARK_MIN &&
      this.zoneWatermarkOk(zone.nid, 0, zone.watermark[WMARK_MIN], allocFlags)
    );
  }

  /**
   * `zone_statistics()` and the `PGALLOC` count of `rmqueue()` (`mm/page_alloc.c`): one
   * allocation of `order` from node `nid` for an allocation that preferred `preferred`, made on a
   * CPU of node `cpuNid`.
   */
  private zoneStatistics(preferred: number, nid: number, cpuNid: number, order: number): void {
    const count = this.countVmEvent;
    if (!count) return;
    if (nid === preferred) count(NUMA_HIT, 1);
    else {
      count(NUMA_MISS, 1);
      count(NUMA_FOREIGN, 1);
    }
    count(nid === cpuNid ? NUMA_LOCAL : NUMA_OTHER, 1);
    count(PGALLOC_NORMAL, 1 << order);
  }

  /**
   * `rmqueue()` (`mm/page_alloc.c`, Linux 6.16) from one zone, with no watermark check. An order
   * the per-CPU lists serve (`pcp_allowed_order()`: up to `PAGE_ALLOC_COSTLY_ORDER`, and the PMD
   * order, which is the model's `pageblock_order`) first tries what refilling them would take
   * (`rmqueue_pcplist()` through `rmqueue_bulk()`: {@link rmqueue} of the allocation's type; the
   * model keeps no pages on such lists). Then `rmqueue_buddy()`: an `ALLOC_HIGHATOMIC`
   * allocation takes from the `MIGRATE_HIGHATOMIC` lists first; failing that {@link rmqueue},
   * and when that fails too an `ALLOC_OOM` or `ALLOC_NON_BLOCK` allocation may still take a
   * highatomic block. An allocation with `ALLOC_KSWAPD` that finds `ZONE_BOOSTED_WATERMARK` set
   * clears it and wakes the node's kswapd for order 0, whether or not it got its block.
   */
  private allocFromZone(
    nid: number,
    order: number,
    gfp: number,
    allocFlags: number,
    used = true,
  ): number {
    const zone = this.zones[nid];
    if (!zone || zone.freePages < 1 << order || order > this.maxOrder) return -1;
    const mt = gfpMigratetype(gfp);
    // rmqueue() fails only when neither the type's lists nor its fallbacks hold a block of the
    // order (nothing claimed, nothing boosted): a second try would find the same.
    const pcp = order <= PAGE_ALLOC_COSTLY_ORDER || order === this.pageblockOrder;
    let pfn = pcp ? this.rmqueue(zone, order, mt, allocFlags) : -1;
    if (pfn < 0 && allocFlags & ALLOC_HIGHATOMIC) {
      pfn = this.rmqueueSmallest(zone, order, MIGRATE_HIGHATOMIC);
    }
    if (pfn < 0 && !pcp) pfn = this.rmqueue(zone, order, mt, allocFlags);
    if (pfn < 0 && allocFlags & (ALLOC_OOM | ALLOC_NON_BLOCK)) {
      pfn = this.rmqueueSmallest(zone, order, MIGRATE_HIGHATOMIC);
    }
    if (allocFlags & ALLOC_KSWAPD && zone.boostedWatermark) {
      zone.boostedWatermark = false;
      this.wakeupKswapd?.(nid, 0);
    }
    if (pfn < 0) return pfn;
    this.prepNewPage(pfn, order, gfp, used);
    return pfn;
  }

  /**
   * `reserve_highatomic_pageblock()` (`mm/page_alloc.c`, Linux 6.16), after an
   * `ALLOC_HIGHATOMIC` allocation of `order` at `pfn` succeeded: makes the pageblock it came from
   * `MIGRATE_HIGHATOMIC`, its free blocks moved to that type's lists (`move_freepages_block()`),
   * and counts a pageblock in `nr_reserved_highatomic`; an allocation of a pageblock or more has
   * its own pageblocks retyped (`change_pageblock_range()`) and counted. Nothing when 1% of the
   * zone's managed pages is less than a pageblock, when the reserve has reached that 1% rounded
   * up to whole pageblocks, when the block is not of a mergeable type (already highatomic, or
   * isolated), or when its pageblock crosses the zone's edge.
   */
  private reserveHighatomicPageblock(zone: Zone, pfn: number, order: number): void {
    const pbNr = 1 << this.pageblockOrder;
    const onePercent = Math.floor(zone.managedPages / 100);
    if (onePercent < pbNr) return;
    // ALIGN(): up to whole pageblocks.
    const maxManaged = Math.ceil(onePercent / pbNr) * pbNr;
    if (zone.nrReservedHighatomic >= maxManaged) return;
    if (zone.pageblockMigratetype(pfn) >= MIGRATE_PCPTYPES) return;
    if (order < this.pageblockOrder) {
      const start = pfn & ~(pbNr - 1);
      // prep_move_freepages_block(): a pageblock straddling the zone's edge is left alone.
      if (start < zone.startPfn || start + pbNr > zone.endPfn) return;
      this.setPageblockRange(zone, start, pbNr, MIGRATE_HIGHATOMIC);
      zone.nrReservedHighatomic += pbNr;
    } else {
      this.setPageblockRange(zone, pfn, 1 << order, MIGRATE_HIGHATOMIC);
      zone.nrReservedHighatomic += 1 << order;
    }
  }

  /**
   * `unreserve_highatomic_pageblock()` (`mm/page_alloc.c`, Linux 6.16): over the nodes an
   * allocation from `nid` may use, the first zone whose reserve may shrink (without `force`, one
   * that holds more than a pageblock) gives the pageblock of its lowest-order free highatomic
   * block back to `gfp`'s migrate type (a block of a pageblock or more: its own pageblocks), and
   * its `nr_reserved_highatomic` shrinks by a pageblock (or the block's size). True when a block
   * was moved.
   */
  unreserveHighatomicPageblock(
    nid: number,
    gfp: number,
    nodemask: readonly number[] | null,
    force: boolean,
  ): boolean {
    const pbNr = 1 << this.pageblockOrder;
    const mt = gfpMigratetype(gfp);
    for (const n of this.candidates(nid, gfp, nodemask)) {
      const zone = this.zones[n];
      if (!zone) continue;
      // Keep at least one pageblock unless memory pressure is really high.
      if (!force && zone.nrReservedHighatomic <= pbNr) continue;
      for (let order = 0; order <= this.maxOrder; order++) {
        const block = zone.freeArea[order]![MIGRATE_HIGHATOMIC]!.first;
        if (block < 0) continue;
        const size = Math.max(pbNr, 1 << order);
        zone.nrReservedHighatomic -= Math.min(size, zone.nrReservedHighatomic);
        // To the allocation's type, not through the stealing heuristics.
        if (order < this.pageblockOrder) {
          this.setPageblockRange(zone, block & ~(pbNr - 1), pbNr, mt);
        } else this.setPageblockRange(zone, block, 1 << order, mt);
        return true;
      }
    }
    return false;
  }

  /**
   * `post_alloc_hook()` and `prep_compound_page()` (`mm/page_alloc.c`): makes a block taken off
   * the free lists (or isolated by compaction) an allocated page of `order` with one reference.
   * With `used` false (the fragmenter's blocks, whose bytes nothing reads or writes) the memory
   * does not note the pages as handed out: a pooled buffer's stale page is zeroed when a user gets
   * it, and a page still zero is not compared with zeroes at shutdown.
   */
  prepNewPage(pfn: number, order: number, gfp: number, used = true): void {
    const m = this.memmap;
    const nr = 1 << order;
    m.refcount[pfn] = 1;
    m.order[pfn] = order;
    if (order > 0 && gfp & __GFP_COMP) {
      m.flags[pfn] = PG_head;
      if (nr < FILL_MIN_PAGES) for (let i = 1; i < nr; i++) m.compoundHead[pfn + i] = pfn + 1;
      else m.compoundHead.fill(pfn + 1, pfn + 1, pfn + nr);
    }
    if (used) this.mem.allocated(pfn, nr, (gfp & __GFP_ZERO) !== 0);
  }

  /**
   * `page_bad_reason()` (`mm/page_alloc.c`): why a page that failed `free_pages_prepare()`'s
   * check (`pageExpectedState()`, and for a head its entire mapcount and refcount) must not be
   * freed, the first test it fails named.
   */
  private badReason(pfn: number, isHead: boolean): string {
    const m = this.memmap;
    const flags = m.flags[pfn]!;
    if (flags & PG_buddy) return "page is already free (double free)";
    if (m.mapcount[pfn] !== 0) return "nonzero mapcount";
    if (isHead && m.entireMapcount[pfn] !== 0) return "nonzero entire_mapcount";
    if (isHead && m.refcount[pfn] !== 0) return "nonzero _refcount";
    if (m.mapping[pfn]! > 0) return "non-NULL mapping";
    if (flags & FLAGS_CHECK_AT_FREE) return "PAGE_FLAGS_CHECK_AT_FREE flag(s) set";
    return "still on a list";
  }

  /**
   * Frees 2^order pages starting at `pfn` (`__free_pages`): the caller has dropped the last
   * reference. Returns false, and frees nothing, when the pages are in a state that must not be
   * freed; that is reported through the bad-page handler, as `bad_page()` reports and leaks them.
   * A block above `maxOrder` (a folio from `alloc_contig_pages()`) goes back in `maxOrder` pieces,
   * as `free_contig_range()` gives it back.
   */
  freePages(pfn: number, order: number): boolean {
    const poisoned = this.memmap.flags[pfn]! & (PG_has_hwpoisoned | PG_hwpoison);
    if (!this.freePagesPrepare(pfn, order)) return false;
    const m = this.memmap;
    const nr = 1 << order;
    const zone = this.zones[this.mem.pfnToNid(pfn)]!;
    if (!poisoned) {
      const piece = Math.min(order, this.maxOrder);
      for (let at = pfn; at < pfn + nr; at += 1 << piece) this.freeOne(zone, at, piece);
      return true;
    }
    // A block with a poisoned page: free the good pages one by one, keep the bad ones out, as
    // take_page_off_buddy() leaves them.
    for (let i = 0; i < nr; i++) {
      if (m.flags[pfn + i]! & PG_hwpoison) {
        m.private[pfn + i] = MAGIC_HWPOISON;
        zone.poisonedPages++;
      } else this.freeOne(zone, pfn + i, 0);
    }
    return true;
  }

  /**
   * `take_page_off_buddy()` (`mm/page_alloc.c`): removes the free page `pfn` from the buddy
   * allocator for good, splitting the free block that holds it and freeing the rest
   * (`break_down_buddy_pages()`). The page keeps only `PG_hwpoison` and counts in the zone's
   * poisoned pages, as a freed poisoned page does, and is marked taken off
   * (`SetPageHWPoisonTakenOff()`: `private` is `MAGIC_HWPOISON`). False when `pfn` is in no free
   * block.
   */
  takePageOffBuddy(pfn: number): boolean {
    const m = this.memmap;
    const zone = this.zones[this.mem.pfnToNid(pfn)];
    if (!zone) return false;
    for (let order = 0; order <= this.maxOrder; order++) {
      const start = pfn & ~((1 << order) - 1);
      if (start < zone.startPfn) break;
      if (!(m.flags[start]! & PG_buddy) || m.order[start] !== order) continue;
      this.delFromFreeList(zone, start, order);
      // break_down_buddy_pages(): halve the block, keeping the half without the page free.
      let base = start;
      for (let half = order - 1; half >= 0; half--) {
        const size = 1 << half;
        const target = pfn < base + size ? base : base + size;
        this.addToFreeList(zone, target === base ? base + size : base, half);
        base = target;
      }
      m.flags[pfn] = PG_hwpoison;
      m.order[pfn] = 0;
      m.private[pfn] = MAGIC_HWPOISON;
      zone.poisonedPages++;
      return true;
    }
    return false;
  }

  /**
   * `put_page_back_buddy()` (`mm/page_alloc.c`): gives a poisoned page taken out of the allocator
   * back to it. The reference memory failure holds on it is dropped (a page kept out when it was
   * freed holds none), the taken-off mark and `PG_hwpoison` cleared and the page freed. False,
   * changing nothing, for a page that was not taken off or that someone else holds.
   */
  putPageBackBuddy(pfn: number): boolean {
    const m = this.memmap;
    if (m.private[pfn] !== MAGIC_HWPOISON || m.refcount[pfn]! > 1) return false;
    const zone = this.zones[this.mem.pfnToNid(pfn)]!;
    m.refcount[pfn] = 0;
    m.private[pfn] = 0; // ClearPageHWPoisonTakenOff()
    m.flags[pfn] = 0; // TestClearPageHWPoison()
    zone.poisonedPages--;
    this.freeOne(zone, pfn, 0);
    return true;
  }

  /** `Buffer`s over the memmap's flags, mapcounts, mappings and LRU links, for `fieldsZero()`. */
  readonly #flagsBytes = new FieldBytes();
  readonly #mapcountBytes = new FieldBytes();
  readonly #mappingBytes = new FieldBytes();
  readonly #linkedBytes = new FieldBytes();

  /**
   * `free_pages_prepare()` (`mm/page_alloc.c`): checks that 2^order pages at `pfn` may be freed
   * and clears what an allocated page carries (an anonymous folio's mapping first, taking it off
   * its size's `nr_anon`; compound head, mapping, flags but hwpoison, the
   * head's last cpupid: `page_cpupid_reset_last()`), so
   * the block can go back to a free list. False, with the bad page reported and nothing changed,
   * when they must not be freed.
   */
  freePagesPrepare(pfn: number, order: number): boolean {
    const m = this.memmap;
    const end = pfn + (1 << order);
    const { flags, mapcount, mapping } = m;
    // An anonymous folio loses its anon_vma here, and its size one nr_anon.
    if (mapping[pfn]! < 0) {
      this.thp.modMthpStat(order, "nr_anon", -1);
      mapping[pfn] = 0;
    }
    const linked = m.lru.next;
    if (
      !pageExpectedState(flags, mapcount, mapping, linked, pfn) ||
      m.entireMapcount[pfn] !== 0 ||
      m.refcount[pfn] !== 0
    ) {
      this.badPage(pfn, this.badReason(pfn, true));
      return false;
    }
    // The tail pages (511 of a 2 MiB folio) in one pass over the fields pageExpectedState() tests:
    // a tail with all of them 0 (nearly always every tail) passes and carries no flag. Only when
    // one is not are the tails walked again, for the first that fails and its reason, and for the
    // flags they carry.
    // From COMPARE_MIN_PAGES up, each field's run is compared with zeroes by memcmp() instead.
    let any = 0;
    if (end - pfn < COMPARE_MIN_PAGES) {
      for (let p = pfn + 1; p < end; p++)
        any |= flags[p]! | mapcount[p]! | mapping[p]! | linked[p]!;
    } else {
      // A view is made again whenever its array was replaced (FieldBytes).
      const zero =
        fieldsZero(this.#flagsBytes.of(flags), pfn + 1, end) &&
        fieldsZero(this.#mapcountBytes.of(mapcount), pfn + 1, end) &&
        fieldsZero(this.#mappingBytes.of(mapping), pfn + 1, end) &&
        fieldsZero(this.#linkedBytes.of(linked), pfn + 1, end);
      any = zero ? 0 : 1;
    }
    let tailFlags = 0;
    if (any !== 0) {
      for (let p = pfn + 1; p < end; p++) {
        if (!pageExpectedState(flags, mapcount, mapping, linked, p)) {
          this.badPage(p, this.badReason(p, false));
          return false;
        }
        tailFlags |= flags[p]!;
      }
    }
    if (end - pfn < FILL_MIN_PAGES) {
      for (let p = pfn; p < end; p++) {
        m.compoundHead[p] = 0;
        mapping[p] = 0;
        m.index[p] = 0;
        m.private[p] = 0;
        flags[p]! &= PG_hwpoison;
      }
    } else {
      m.compoundHead.fill(0, pfn, end);
      mapping.fill(0, pfn, end);
      m.index.fill(0, pfn, end);
      m.private.fill(0, pfn, end);
      flags[pfn]! &= PG_hwpoison;
      // Tails with no flag but PG_hwpoison (nearly always all of them) keep their flags as they are.
      if (tailFlags & ~PG_hwpoison) for (let p = pfn + 1; p < end; p++) flags[p]! &= PG_hwpoison;
    }
    flags[pfn]! &= ~(PG_head | FOLIO_CONTENT_COPIED);
    pageCpupidResetLast(m, pfn);
    m.order[pfn] = order;
    return true;
  }

  setCaptureControl(task: AllocContext | null, capc: CaptureControl | null): void {
    const current = Fiber.getCurrent();
    if (!current) return;
    const had = this.#captureControls.has(current);
    if (capc) this.#captureControls.set(current, { task, capc });
    else this.#captureControls.delete(current);
    this.#capturing += Number(capc !== null) - Number(had);
  }

  /**
   * `task_capc()` (`mm/page_alloc.c`, Linux 6.16): the running task's capture control, if it may
   * capture a block freed in `zone`: it is compacting `zone` directly, has captured nothing yet,
   * and is not a kernel thread (`PF_KTHREAD`; a compaction without a task is one).
   */
  private taskCapc(zone: Zone): CaptureControl | null {
    if (this.#capturing === 0) return null;
    const current = Fiber.getCurrent();
    const entry = current ? this.#captureControls.get(current) : undefined;
    if (!entry?.task || entry.task.flags & PF_KTHREAD) return null;
    const { capc } = entry;
    return capc.page < 0 && capc.cc.zone === zone ? capc : null;
  }

  /**
   * `compaction_capture()` (`mm/page_alloc.c`, Linux 6.16): takes the free block of `order` at
   * `pfn`, of pageblock type `mt`, for the compaction `capc` is for, when the order is the one it
   * compacts for; never an isolated block (nor a CMA one: the model has none), nor, below
   * `pageblock_order`, a movable block for an allocation that is not movable. A block of another
   * type than the allocation's is traced as a fallback (`mm_page_alloc_extfrag`, Linux 6.15+).
   */
  private compactionCapture(
    capc: CaptureControl | null,
    zone: Zone,
    pfn: number,
    order: number,
    mt: MigrateType,
  ): boolean {
    if (!capc || order !== capc.cc.order) return false;
    if (mt === MIGRATE_ISOLATE) return false;
    if (order < this.pageblockOrder && mt === MIGRATE_MOVABLE) {
      if (capc.cc.migratetype !== MIGRATE_MOVABLE) return false;
    }
    if (mt !== capc.cc.migratetype) {
      this.traceExtfrag(zone, pfn, capc.cc.order, order, capc.cc.migratetype, mt);
    }
    capc.page = pfn;
    return true;
  }

  /**
   * Puts a block on its free list, merging with free buddies (`__free_one_page`). Above
   * `pageblock_order` a buddy of another mergeable type is retyped to the freed block's type; a
   * pageblock of a type that is not mergeable (`migratetype_is_mergeable()`: isolated or
   * highatomic) merges with no block of another type. Below `MAX_PAGE_ORDER`, before each merge,
   * the block as it is may go to the running task's direct compaction instead
   * ({@link compactionCapture}), and then to no free list.
   */
  private freeOne(zone: Zone, pfn: number, order: number): void {
    const m = this.memmap;
    const mt = zone.pageblockMigratetype(pfn);
    const capc = this.taskCapc(zone);
    while (order < this.maxOrder) {
      if (this.compactionCapture(capc, zone, pfn, order, mt)) return;
      const buddy = pfn ^ (1 << order);
      if (buddy < zone.startPfn || buddy + (1 << order) > zone.endPfn) break;
      if (!(m.flags[buddy]! & PG_buddy) || m.order[buddy] !== order) break;
      if (order >= this.pageblockOrder) {
        const buddyMt = zone.pageblockMigratetype(buddy);
        if (buddyMt !== mt) {
          if (mt >= MIGRATE_PCPTYPES || buddyMt >= MIGRATE_PCPTYPES) break;
          this.delFromFreeList(zone, buddy, order);
          zone.pageblockType.fill(
            mt,
            (buddy - zone.startPfn) >> this.pageblockOrder,
            (buddy + (1 << order) - zone.startPfn) >> this.pageblockOrder,
          );
          pfn = Math.min(pfn, buddy);
          order++;
          continue;
        }
      }
      this.delFromFreeList(zone, buddy, order);
      pfn = Math.min(pfn, buddy);
      order++;
    }
    this.addToFreeList(zone, pfn, order);
  }

  /**
   * `__zone_watermark_ok()` (`mm/page_alloc.c`, Linux 6.16): would a zone with `freePages` free
   * (its own by default) keep more than `mark` pages free after an allocation of `order`, and does
   * it hold a free block of that order in a type an allocation may take? `allocFlags` lower the
   * mark for the reserves (`ALLOC_RESERVES`): `ALLOC_MIN_RESERVE` takes half off, and with
   * `ALLOC_NON_BLOCK` a quarter of the rest more; `ALLOC_OOM` half of what is left (integer
   * halves and quarters, as the kernel's `long` arithmetic). Without any of `ALLOC_RESERVES` the
   * free pages of the `MIGRATE_HIGHATOMIC` lists (`nr_free_highatomic`) do not count
   * (`__zone_watermark_unusable_free()`); the model has no CMA, and `lowmem_reserve` is 0 with
   * one zone per node. False for a node that does not exist.
   */
  zoneWatermarkOk(
    nid: number,
    order: number,
    mark: number,
    allocFlags = 0,
    freePages?: number,
  ): boolean {
    const zone = this.zones[nid];
    if (!zone) return false;
    // __zone_watermark_unusable_free(): the pages past the first of the block, and the free
    // highatomic pages for an allocation that may not use the reserves.
    let unusable = (1 << order) - 1;
    if (!(allocFlags & ALLOC_RESERVES)) unusable += zone.nrFreeHighatomic;
    const free = (freePages ?? zone.freePages) - unusable;
    let min = mark;
    if (allocFlags & ALLOC_RESERVES) {
      if (allocFlags & ALLOC_MIN_RESERVE) {
        min -= Math.floor(min / 2);
        if (allocFlags & ALLOC_NON_BLOCK) min -= Math.floor(min / 4);
      }
      if (allocFlags & ALLOC_OOM) min -= Math.floor(min / 2);
    }
    if (free <= min) return false;
    if (order === 0) return true;
    for (let o = order; o <= this.maxOrder; o++) {
      for (let mt = 0; mt < MIGRATE_PCPTYPES; mt++)
        if (!zone.freeArea[o]![mt]!.isEmpty) return true;
      if (
        allocFlags & (ALLOC_HIGHATOMIC | ALLOC_OOM) &&
        !zone.freeArea[o]![MIGRATE_HIGHATOMIC]!.isEmpty
      )
        return true;
    }
    return false;
  }

  /**
   * `__isolate_free_page()` (`mm/page_alloc.c`): takes the free block of `order` at `pfn` off its
   * free list for compaction, unless that would leave the zone under its min watermark. Returns
   * the pages taken (`1 << order`) or 0. The block keeps its order in `memmap.order`, with no
   * reference; {@link prepNewPage} makes it a folio, {@link freePages} gives it back.
   */
  isolateFreePage(pfn: number, order: number): number {
    const zone = this.zones[this.mem.pfnToNid(pfn)]!;
    if (zone.pageblockMigratetype(pfn) !== MIGRATE_ISOLATE) {
      if (!this.zoneWatermarkOk(zone.nid, 0, zone.watermark[WMARK_MIN] + (1 << order))) return 0;
    }
    this.delFromFreeList(zone, pfn, order);
    this.memmap.order[pfn] = order;
    return 1 << order;
  }

  /**
   * Sets the migrate type of every pageblock in `[pfn, pfn + nrPages)` and moves the free blocks
   * there to the new type's lists (`set_pageblock_migratetype()` with `move_freepages_block()`,
   * `mm/page_alloc.c`; `MIGRATE_ISOLATE` is what `start_isolate_page_range()`,
   * `mm/page_isolation.c`, sets). The range lies in one zone.
   */
  setMigratetype(pfn: number, nrPages: number, mt: MigrateType): void {
    this.setPageblockRange(this.zones[this.mem.pfnToNid(pfn)]!, pfn, nrPages, mt);
  }

  /**
   * `__offline_isolated_pages()` (`mm/page_alloc.c`): takes every free block of the isolated
   * range `[start, end)` off its free list for good and marks its pages reserved, as memory
   * offlining leaves them; hwpoisoned pages and `PageOffline` pages nobody holds are skipped.
   * Returns the pages taken. Every other page of the range must already be free
   * (`test_pages_isolated()`).
   */
  offlineIsolatedPages(start: number, end: number): number {
    const m = this.memmap;
    const zone = this.zones[this.mem.pfnToNid(start)]!;
    let taken = 0;
    for (let pfn = start; pfn < end; ) {
      if (!(m.flags[pfn]! & PG_buddy)) {
        pfn++;
        continue;
      }
      const nr = 2 ** m.order[pfn]!;
      this.delFromFreeList(zone, pfn, m.order[pfn]!);
      for (let i = 0; i < nr; i++) m.flags[pfn + i] = PG_reserved;
      taken += nr;
      pfn += nr;
    }
    return taken;
  }

  /** Free base pages on a node (`node_page_state(NR_FREE_PAGES)`); 0 for a node that does not exist. */
  nodeFreePages(nid: number): number {
    return this.zones[nid]?.freePages ?? 0;
  }

  /** Free base pages on every node together. */
  totalFreePages(): number {
    let total = 0;
    for (const z of this.zones) total += z.freePages;
    return total;
  }

  /** The largest order with a free block on a node, or -1 when the node has none. */
  largestFreeOrder(nid: number): number {
    const zone = this.zones[nid];
    if (!zone) return -1;
    for (let order = this.maxOrder; order >= 0; order--) if (zone.nrFree[order]! > 0) return order;
    return -1;
  }

  /**
   * Fragments a node on purpose: afterwards no free block on it is larger than `order`. It takes
   * every block of that order the node has, then frees every other one, so no two free blocks are
   * buddies. About half the node stays free. What compaction tests and the THP fallback need.
   */
  fragment(nid: number, order: number): Fragmentation {
    const held: number[] = [];
    // Every block, below the watermarks too (as an ALLOC_NO_WATERMARKS allocation may).
    // A test aid, not an allocation the kernel makes: the boost its fallbacks raise is undone.
    const zone = this.zones[nid];
    const boost = zone?.watermarkBoost ?? 0;
    // Nothing reads or writes the blocks' bytes while they are held: the memory does not count
    // them as handed out, so that a pooled buffer's stale page is zeroed only when a user gets it,
    // and a page still zero is not compared with zeroes when the kernel shuts down.
    for (let pfn = this.allocFromZone(nid, order, 0, 0, false); pfn >= 0; ) {
      held.push(pfn);
      pfn = this.allocFromZone(nid, order, 0, 0, false);
    }
    if (zone) zone.watermarkBoost = boost;
    const pinned: number[] = [];
    for (const pfn of held) if ((pfn >> order) & 1) pinned.push(pfn);
    for (const pfn of held) if (!((pfn >> order) & 1)) this.releaseBlock(pfn, order);
    let released = false;
    return {
      nid,
      order,
      pinnedPages: pinned.length << order,
      // The loop is a method's: V8 keeps a function's optimized code only while a closure of it
      // lives, so a loop in this closure, made for each call, was compiled again after every
      // whole-heap collection.
      release: () => {
        if (released) return;
        released = true;
        this.releaseBlocks(pinned, order);
      },
    };
  }

  private releaseBlocks(pfns: readonly number[], order: number): void {
    for (const pfn of pfns) this.releaseBlock(pfn, order);
  }

  private releaseBlock(pfn: number, order: number): void {
    this.memmap.refcount[pfn] = 0;
    this.freePages(pfn, order);
  }
}

/**
 * The argument checks of the model's allocation entry points: `EINVAL` for a node that does not
 * exist, or an order that is not an integer in 0..`max` (`MAX_PAGE_ORDER` by default), saying
 * which. Linux's callers pass valid ones (`__alloc_pages()` warns on an order above
 * `MAX_PAGE_ORDER` and fails).
 */
export const checkAllocArgs = (
  k: Kernel,
  nid: number,
  order: number,
  max = k.pageAlloc.maxOrder,
): ErrnoError | null => {
  if (!k.nodeExists(nid)) return errno("EINVAL", `node ${nid} does not exist`);
  if (!Number.isInteger(order) || order < 0 || order > max) {
    return errno("EINVAL", `order ${order} is outside 0..${max}`);
  }
  return null;
};

/** {@link checkAllocArgs} and {@link checkGfpMask} for a slow-path request, and its node mask. */
const checkAllocRequest = (k: Kernel, req: AllocRequest): ErrnoError | null => {
  const { nid, order, gfp, nodemask } = req;
  const bad = checkAllocArgs(k, nid, order) ?? checkGfpMask(gfp);
  if (bad) return bad;
  if (
    nodemask !== null &&
    (!Array.isArray(nodemask) || !nodemask.every((n) => Number.isInteger(n) && n >= 0))
  ) {
    return errno("EINVAL", `node mask ${JSON.stringify(nodemask)} is not a list of node ids`);
  }
  return null;
};

/**
 * `__alloc_pages_may_oom()` (`mm/page_alloc.c`, Linux 6.16): one more try at the high watermark
 * (`ALLOC_WMARK_HIGH | ALLOC_CPUSET`, without `__GFP_DIRECT_RECLAIM`), then, except for a costly
 * order or with `__GFP_RETRY_MAYFAIL` or `__GFP_THISNODE` (the OOM killer may not free memory on
 * one node), the OOM killer (`out_of_memory()`, {@link outOfMemory}); `progress` when it killed
 * or found a victim still freeing memory (`did_some_progress`), `outOfMemory` when it was
 * called. When no process can be killed the OOM killer panics the kernel, and the allocation
 * never returns. (`PF_DUMPCORE`, lowmem zones and suspended storage do not arise in the model;
 * nor does a busy `oom_lock`.) An allocation still in flight once the kernel has begun to shut
 * down, or after another call panicked it, kills nobody: no progress. Any other failure of the
 * OOM killer fails the allocation with it.
 */
const allocPagesMayOom = (
  k: Kernel,
  req: AllocRequest,
  nodemask: readonly number[] | null,
  current: AllocContext | null,
): Effect.Effect<SlowpathResult & { readonly progress: boolean }, ErrnoError> =>
  Effect.suspend((): Effect.Effect<SlowpathResult & { readonly progress: boolean }, ErrnoError> => {
    const { nid, order, gfp } = req;
    const page = k.pageAlloc.getPageFromFreelist(
      nid,
      order,
      gfp & ~__GFP_DIRECT_RECLAIM,
      ALLOC_WMARK_HIGH | ALLOC_CPUSET,
      nodemask,
      current,
    );
    if (page >= 0) return Effect.succeed({ page, outOfMemory: false, progress: false });
    const oom = order <= PAGE_ALLOC_COSTLY_ORDER && !(gfp & (__GFP_RETRY_MAYFAIL | __GFP_THISNODE));
    if (!oom) return Effect.succeed({ page: -1, outOfMemory: false, progress: false });
    const oc: OomControl = {
      nodemask,
      gfpMask: gfp,
      order,
      totalpages: 0,
      constraint: OomConstraint.NONE,
      chosen: null,
      chosenPoints: 0,
    };
    // Only a kernel that no longer runs (shut down, or panicked by another call) is no progress;
    // any other failure is the caller's to see, and a panic here is no failure: it never returns.
    const killed = Effect.catchIf(
      outOfMemory(k, oc, current),
      (e) => e.errno === "ESHUTDOWN",
      () => Effect.succeed(false),
    );
    return Effect.map(killed, (progress) => ({
      page: -1,
      outOfMemory: true,
      progress,
    }));
  });

/**
 * `__alloc_pages_slowpath()` (`mm/page_alloc.c`, Linux 6.16) from where the first tries of
 * `PageAllocator.allocPages()` (the fast path, the min watermark after waking kswapd, the
 * reserves) left the allocation `req`: the steps that need `__GFP_DIRECT_RECLAIM`, which every
 * caller that may block runs, whatever the order (a fault's base page and mTHP, a THP and the
 * huge zero folio, a hugetlb pool page, `Kernel.allocFolio`). Driven by the gfp flags, the order
 * and `current`'s `PF_MEMALLOC` alone:
 *
 * 1. without `__GFP_DIRECT_RECLAIM`, nothing (`nopage`); nor when those first tries failed by
 *    fault injection (`req.failedByInjection`, which the caller's request carries from
 *    `PageAllocator.slowpathRequest()` right after them: `should_fail_alloc_page()` fails the
 *    whole allocation); nor when no node is a candidate (`nodemask` allows none of `req.nid`'s
 *    zonelist: no preferred zoneref, `nopage` before any OOM point);
 * 2. for a costly order (above `PAGE_ALLOC_COSTLY_ORDER`), or an order above 0 that is not
 *    movable, direct compaction at `INIT_COMPACT_PRIORITY` (`MIGRATE_ASYNC`) first, unless the
 *    allocation may take the reserves (`__gfp_pfmemalloc_flags()`); a costly `__GFP_NORETRY`
 *    allocation then stops when it was skipped or deferred, and compacts only asynchronously
 *    from here on;
 * 3. `retry:` kswapd woken again, the reserves of {@link gfpPfmemallocFlags} (the node mask
 *    dropped with them or without `ALLOC_CPUSET`), one more try;
 * 4. a task with `PF_MEMALLOC` stops here (no reclaim recursion);
 * 5. direct reclaim (`__alloc_pages_direct_reclaim()`: `__perform_reclaim()` with `PF_MEMALLOC`,
 *    then, when it made progress, a try, and another after unreserving a highatomic pageblock
 *    a zone can spare: `unreserve_highatomic_pageblock()` without force), then direct compaction at `compact_priority`
 *    (`DEF_COMPACT_PRIORITY`, `MIGRATE_SYNC_LIGHT`, at first; order 0 does not compact) and a try;
 * 6. `__GFP_NORETRY` stops; so does a costly order without `__GFP_RETRY_MAYFAIL`;
 * 7. back to 3 while `should_reclaim_retry()` says so ({@link shouldReclaimRetry}), or while
 *    reclaim made progress and `should_compact_retry()` does ({@link shouldCompactRetry}: for a
 *    non-costly order 16 retries per priority, down to `COMPACT_PRIO_SYNC_FULL`);
 * 8. `__alloc_pages_may_oom()`: one try at the high watermark, then the OOM killer
 *    (`out_of_memory()`, `mm/oom_kill.ts`; see {@link SlowpathResult.outOfMemory}): when it
 *    killed a process, back to 3 with `no_progress_loops` reset (an OOM victim's own allocation
 *    that already had `ALLOC_OOM` fails instead); when nothing could be killed, the kernel
 *    panics (`System is deadlocked on memory`): the Effect dies with a `KernelPanic`, and the
 *    system call it is part of fails with `ESHUTDOWN` naming the panic.
 *
 * Counts what its steps count: `compact_stall` and `compact_success` / `compact_fail` per
 * compaction that ran, `allocstall_normal`, `pgscan_direct` and `pgsteal_direct` per reclaim,
 * `oom_kill` per process killed. `current` is the allocating task (null: a kernel thread of
 * `req.nid`); it reclaims and compacts with `PF_MEMALLOC` set, which is put back before each
 * try.
 * `EINVAL` (nothing done) for a node that does not exist, an order that is not an integer in
 * 0..`MAX_PAGE_ORDER`, a `gfp` that is not a mask of `__GFP_BITS_MASK`'s flags, or a node mask
 * that is not a list of node ids.
 *
 * @example
 * ```ts
 * import { __GFP_THISNODE, allocPagesSlowpath, GFP_KERNEL, Kernel } from "@migrate-offload/core";
 * import { Effect } from "effect";
 *
 * await Effect.runPromise(
 *   Effect.scoped(
 *     Effect.gen(function* () {
 *       const k = yield* Kernel.make({ nodes: ["16M"] });
 *       const app = yield* k.createProcess();
 *       const addr = yield* app.mmap(100 * 4096);
 *       yield* app.write(addr, new Uint8Array(100 * 4096)); // 100 resident anonymous pages
 *       // Take every page the fast path and the min watermark allow.
 *       while (k.pageAlloc.allocPages(0, 0, GFP_KERNEL) >= 0);
 *       // __GFP_THISNODE never reaches the OOM killer: nothing to reclaim, no page.
 *       const t = yield* allocPagesSlowpath(k, {
 *         nid: 0,
 *         order: 0,
 *         gfp: GFP_KERNEL | __GFP_THISNODE,
 *         nodemask: null,
 *       });
 *       console.log(t.page, t.outOfMemory); // -1 false
 *       // GFP_KERNEL does: it kills the process, and its pages make the next try succeed.
 *       const r = yield* allocPagesSlowpath(k, { nid: 0, order: 0, gfp: GFP_KERNEL, nodemask: null });
 *       console.log(r.page >= 0, app.exited); // true true
 *     }),
 *   ),
 * );
 * ```
 *
 * @category Memory and folios
 */
export const allocPagesSlowpath = (
  k: Kernel,
  req: AllocRequest,
  current: AllocContext | null = null,
): Effect.Effect<SlowpathResult, ErrnoError> =>
  Effect.gen(function* () {
    const bad = checkAllocRequest(k, req);
    if (bad) return yield* Effect.fail(bad);
    const { nid, order, gfp } = req;
    const pa = k.pageAlloc;
    const nopage: SlowpathResult = { page: -1, outOfMemory: false };
    const got = (page: number): SlowpathResult => ({ page, outOfMemory: false });
    // No zone the node mask allows (no preferred zoneref): nopage, before the OOM point.
    if (allocNodes(k, gfp, nid, req.nodemask).length === 0) return nopage;
    // An injected failure fails the whole __alloc_pages() (prepare_alloc_pages()).
    if (!(gfp & __GFP_DIRECT_RECLAIM) || req.failedByInjection) return nopage;
    const costly = order > PAGE_ALLOC_COSTLY_ORDER;
    let allocFlags = gfpToAllocFlags(gfp, order);
    let nodemask = req.nodemask;
    const compact = { priority: CompactPriority.SYNC_LIGHT as CompactPriority, retries: 0 };
    let compactResult: CompactResult = CompactResult.SKIPPED;
    /** `__alloc_pages_direct_compact()` with the slow path's flags and node mask as they are now. */
    const directCompact = (prio: CompactPriority) =>
      allocPagesDirectCompact(k, gfp, order, nid, nodemask, prio, current, allocFlags);
    if (
      (costly || (order > 0 && gfpMigratetype(gfp) !== MIGRATE_MOVABLE)) &&
      !gfpPfmemallocFlags(gfp, current)
    ) {
      const first = yield* directCompact(CompactPriority.ASYNC);
      if (first.page >= 0) return got(first.page);
      compactResult = first.result;
      if (costly && gfp & __GFP_NORETRY) {
        if (compactResult === CompactResult.SKIPPED || compactResult === CompactResult.DEFERRED) {
          return nopage;
        }
        // Reclaim and compaction are worth trying, but sync compaction could be very expensive.
        compact.priority = CompactPriority.ASYNC;
      }
    }
    const reclaim = { noProgressLoops: 0 };
    for (;;) {
      // retry: keep kswapd awake while looping; the reserves may apply now.
      if (allocFlags & ALLOC_KSWAPD) {
        for (const n of allocNodes(k, gfp, nid, nodemask)) k.kswapd.wakeup(n, order);
      }
      const reserveFlags = gfpPfmemallocFlags(gfp, current);
      if (reserveFlags) allocFlags = reserveFlags | (allocFlags & ALLOC_KSWAPD);
      if (!(allocFlags & ALLOC_CPUSET) || reserveFlags) nodemask = null;
      let page = pa.getPageFromFreelist(nid, order, gfp, allocFlags, nodemask, current);
      if (page >= 0) return got(page);
      // Avoid recursion of direct reclaim.
      if (current && current.flags & PF_MEMALLOC) return nopage;
      const progress = yield* performReclaim(k, gfp, order, nid, nodemask, current);
      if (progress > 0) {
        page = pa.getPageFromFreelist(nid, order, gfp, allocFlags, nodemask, current);
        if (page >= 0) return got(page);
        // __alloc_pages_direct_reclaim(): the pages may sit in highatomic reserves; give one
        // back (keeping a zone's last) and try once more.
        pa.unreserveHighatomicPageblock(nid, gfp, nodemask, false);
        page = pa.getPageFromFreelist(nid, order, gfp, allocFlags, nodemask, current);
        if (page >= 0) return got(page);
      }
      const c = yield* directCompact(compact.priority);
      if (c.page >= 0) return got(c.page);
      compactResult = c.result;
      if (gfp & __GFP_NORETRY) return nopage;
      if (costly && !(gfp & __GFP_RETRY_MAYFAIL)) return nopage;
      if (shouldReclaimRetry(k, gfp, order, nid, nodemask, progress > 0, reclaim, allocFlags)) {
        continue;
      }
      if (
        progress > 0 &&
        shouldCompactRetry(k, gfp, order, nid, nodemask, compactResult, compact, current)
      ) {
        continue;
      }
      const oom = yield* allocPagesMayOom(k, req, nodemask, current);
      if (oom.page >= 0) return got(oom.page);
      const failed: SlowpathResult = { page: -1, outOfMemory: oom.outOfMemory };
      // Avoid allocations with no watermarks from looping endlessly.
      if (current?.oomVictim && (allocFlags & ALLOC_OOM || gfp & __GFP_NOMEMALLOC)) return failed;
      // Retry as long as the OOM killer is making progress.
      if (!oom.progress) return failed;
      reclaim.noProgressLoops = 0;
      // should_reclaim_retry()'s cond_resched() on the next round: while an earlier victim's
      // memory is still held (the OOM killer chose no one), the holder, the oom_reaper and its
      // timer run before this allocation tries again. After a panic it goes no further.
      yield* Effect.yieldNow;
      yield* stopIfPanicked(k);
    }
  });

/**
 * `__alloc_contig_migrate_range()`'s (`mm/page_alloc.c`) tries: a batch `migrate_pages()` left
 * folios of is retried until this many rounds failed in a row, then the range is `-EBUSY`.
 */
const CONTIG_MIGRATE_TRIES = 5;

/**
 * Creates `/proc/sys/vm/watermark_boost_factor` (0644; `page_alloc_sysctl_table[]`,
 * `mm/page_alloc.c`, Linux 6.16): shows {@link BuddyAllocator.watermarkBoostFactor} and sets it
 * from a decimal integer from 0 up (`proc_dointvec_minmax()`); `EINVAL` for anything else. A
 * boost already raised stays until kswapd reclaims it.
 *
 * @category Memory and folios
 */
export const pageAllocInitSysctl = (k: Kernel, alloc: BuddyAllocator): void => {
  k.fs.registerSysctl("vm", {
    watermark_boost_factor: procDointvecEntry(
      "watermark_boost_factor",
      k.mem.pageSize,
      () => alloc.watermarkBoostFactor,
      (v) => {
        alloc.watermarkBoostFactor = v;
      },
      { min: 0 },
    ),
  });
};

/** The flags of the model `__alloc_contig_verify_gfp_mask()` refuses, with their names. */
const CONTIG_REFUSED_GFP: readonly (readonly [number, string])[] = [
  [__GFP_NORETRY, "__GFP_NORETRY"],
  [__GFP_HIGH, "__GFP_HIGH"],
  [__GFP_MEMALLOC, "__GFP_MEMALLOC"],
  [__GFP_NOMEMALLOC, "__GFP_NOMEMALLOC"],
];

/**
 * `__alloc_contig_verify_gfp_mask()` (`mm/page_alloc.c`, Linux 6.16): the flags
 * `alloc_contig_range()` migrates with, or `EINVAL` naming the flags it does not take. Placement
 * and mobility hints (`__GFP_THISNODE`, `__GFP_MOVABLE`, `__GFP_RECLAIMABLE`) are ignored: a
 * moved folio may land on another node when the range's node is full. Allowed are the reclaim
 * modifiers and the action modifiers `__GFP_COMP`, `__GFP_RETRY_MAYFAIL`, `__GFP_NOWARN` and
 * `__GFP_ZERO`; anything else (`__GFP_NORETRY`, `__GFP_HIGH`, `__GFP_MEMALLOC`,
 * `__GFP_NOMEMALLOC`, or bits outside `__GFP_BITS_MASK`) is `EINVAL`. The migration flags are the
 * reclaim modifiers, `__GFP_RETRY_MAYFAIL` and `__GFP_NOWARN` given, plus
 * `__GFP_MOVABLE | __GFP_RETRY_MAYFAIL`.
 */
const allocContigVerifyGfpMask = (gfp: number): number | ErrnoError => {
  const invalid = checkGfpMask(gfp);
  if (invalid) return invalid;
  const mask = gfp & ~(__GFP_RECLAIMABLE | __GFP_THISNODE | __GFP_MOVABLE);
  const refused =
    mask & ~(__GFP_RECLAIM | __GFP_COMP | __GFP_RETRY_MAYFAIL | __GFP_NOWARN | __GFP_ZERO);
  if (refused) {
    const names = CONTIG_REFUSED_GFP.filter(([flag]) => refused & flag).map(([, name]) => name);
    return errno("EINVAL", `alloc_contig_range: gfp flags not allowed: ${names.join(" | ")}`);
  }
  return (
    (mask & (__GFP_RECLAIM | __GFP_RETRY_MAYFAIL | __GFP_NOWARN)) |
    __GFP_MOVABLE |
    __GFP_RETRY_MAYFAIL
  );
};

/** Why `alloc_contig_range()` gave up with `EINTR`: which fatal signal it found. */
const fatalSignalWhy = (k: Kernel): string =>
  k.state !== "running"
    ? "a fatal signal: the kernel is shutting down"
    : "a fatal signal: SIGKILL is pending for the caller";

/** A failed `alloc_contig_range()` step's negative errno as the model's error. */
const contigError = (rc: number, what: string): ErrnoError =>
  errno(errnoName(rc) ?? "EBUSY", `alloc_contig_range: ${what}`);

/**
 * `alloc_contig_range()` (`mm/page_alloc.c`, Linux 6.16): makes `[start, start + nrPages)` of one
 * node an allocated block of `order` (`nrPages` is `1 << order`, `start` aligned to it):
 *
 * -1. checks the range, with nothing changed: `EINVAL` for an order that is no whole number, a
 *    folio (`__GFP_COMP`) above {@link maxFolioOrder} or not aligned to its size, a `start` with
 *    no memory behind it, or a range that leaves `start`'s node;
 * 0. checks `gfp` (`__alloc_contig_verify_gfp_mask()`): `EINVAL`, naming the flags, for
 *    `__GFP_NORETRY`, `__GFP_HIGH`, `__GFP_MEMALLOC`, `__GFP_NOMEMALLOC` or bits outside
 *    `__GFP_BITS_MASK`, with nothing changed; the placement hints are ignored;
 * 1. isolates the range's pageblocks (`start_isolate_page_range()` without `MEMORY_OFFLINE`):
 *    `EBUSY` when one is isolated already or holds a page `has_unmovable_pages()` cannot move
 *    (kernel memory, a reserved, hwpoisoned or `PageOffline` page);
 * 2. moves everything out (`__alloc_contig_migrate_range()`): batches of up to
 *    `COMPACT_CLUSTER_MAX` pages, each isolated by `isolate_migratepages_range()` from where the
 *    last one stopped, pageblock by pageblock, its clean page cache freed
 *    (`reclaim_clean_pages_from_list()`), the rest given to `migrate_pages()` with
 *    `alloc_migration_target()` on the range's node, `MIGRATE_SYNC`, `MR_CONTIG_RANGE`; what a
 *    round leaves on the list is tried again, and the fifth failed round in a row stops the
 *    scan (`-EBUSY`, left for step 3 to report); `-ENOMEM` from `migrate_pages()` fails at once, and
 *    so does a fatal signal (`EINTR`: a `SIGKILL` pending for `current`, the kernel shutting
 *    down), looked for before each batch and
 *    every `COMPACT_CLUSTER_MAX` PFNs the scan passes.
 *    It moves LRU folios, `movable_ops` (balloon) pages, hugetlb
 *    folios in use (to a free huge page of the node, or a temporary one); a free hugetlb folio is
 *    replaced by a fresh huge page of its node and dissolved, and so is a migrated one's source
 *    that went back to its pool (`replace_free_hugepage_folios()`), so every pool keeps its
 *    per-node counts. Each replacement's allocation reclaims and compacts on that node when its
 *    first tries fail (`allocPagesSlowpath()` with `__GFP_THISNODE | __GFP_RETRY_MAYFAIL`), the
 *    scan waiting at the folio. A gigantic hugetlb folio in the range, or no replacement page
 *    even then, is `ENOMEM`;
 * 3. checks every page is free (`test_pages_isolated()`, `EBUSY` otherwise: a pinned folio),
 *    takes them, and gives the pageblocks back their movable type.
 *
 * On failure the range's pageblocks are movable again; what moved stays moved. The migration
 * destinations and replacement huge pages are allocated in `current`, the calling task (null: a
 * kernel thread of the range's node).
 *
 * @category Memory and folios
 */
export const allocContigRange = (
  k: Kernel,
  start: number,
  order: number,
  gfp: number,
  current: AllocContext | null = null,
): Effect.Effect<number, ErrnoError> =>
  Effect.gen(function* () {
    const bad = contigRangeError(k, start, order, gfp);
    if (bad) return yield* Effect.fail(bad);
    const nr = 2 ** order;
    const end = start + nr;
    const nid = k.mem.pfnToNid(start);
    const pa = k.pageAlloc;
    const ccGfp = allocContigVerifyGfpMask(gfp);
    if (typeof ccGfp !== "number") return yield* Effect.fail(ccGfp);
    const busy = startIsolatePageRange(k, start, end, 0);
    if (busy) return yield* Effect.fail(contigError(-ERRNO.EBUSY, busy.message));
    const restore = () => undoIsolatePageRange(k, start, end);
    const target = allocMigrationTarget(k, nid, {
      gfp: ccGfp,
      reason: MR_CONTIG_RANGE,
      current,
    });
    const list = new FolioList(k.memmap.lru);
    const cc = allocContigCompactControl(k, nid, list, current);
    // __alloc_contig_migrate_range(): a batch of up to COMPACT_CLUSTER_MAX pages at a time,
    // isolated from where the last one stopped and migrated until the range is scanned and the
    // list empty.
    let ret = 0;
    let what = "";
    try {
      for (let pfn = start, tries = 0; pfn < end || !list.isEmpty; ) {
        // fatal_signal_pending(): SIGKILL pending for the caller, or a kernel powering off, which
        // has sent every process its fatal signal. (No yield here: callers run it synchronously,
        // as the boot-time gigantic pool does.)
        if (k.state !== "running" || fatalSignalPending(current)) {
          ret = -ERRNO.EINTR;
          what = fatalSignalWhy(k);
          break;
        }
        if (list.isEmpty) {
          cc.nrMigratepages = 0;
          ret = yield* isolateMigratepagesRange(k, cc, pfn, end);
          what = ret === -ERRNO.EINTR ? fatalSignalWhy(k) : "a hugetlb folio cannot be replaced";
          if (ret) break;
          pfn = cc.migratePfn;
          tries = 0;
        } else if (++tries === CONTIG_MIGRATE_TRIES) {
          ret = -ERRNO.EBUSY;
          break;
        }
        // Clean page cache is freed rather than moved.
        const r = yield* Effect.exit(
          Effect.flatMap(reclaimCleanPagesFromList(k, nid, list, current), (reclaimed) => {
            cc.nrMigratepages -= reclaimed;
            return migratePages(k, list, target, null, MIGRATE_SYNC, MR_CONTIG_RANGE);
          }),
        );
        if (r._tag === "Failure") {
          putbackMovablePages(k, list);
          restore();
          return yield* Effect.failCause(r.cause);
        }
        ret = r.value.rc;
        what = "no page to migrate to";
        // migrate_pages() gives up at once on -ENOMEM; so does the range.
        if (ret === -ERRNO.ENOMEM) break;
      }
    } finally {
      putbackMovablePages(k, list);
      list.release();
    }
    // -EBUSY goes on: test_pages_isolated() names the page in the way.
    if (ret < 0 && ret !== -ERRNO.EBUSY) {
      restore();
      return yield* Effect.fail(contigError(ret, what));
    }
    const replaced = yield* replaceFreeHugepageFolios(k, start, end, current);
    if (replaced) {
      restore();
      return yield* Effect.fail(contigError(replaced, "a free hugetlb folio cannot be replaced"));
    }
    const pfn = testPagesIsolated(k, start, end, 0);
    if (pfn >= 0) {
      restore();
      return yield* Effect.fail(contigError(-ERRNO.EBUSY, `pfn ${pfn} is still in use`));
    }
    const m = k.memmap;
    for (let pfn = start; pfn < end; ) {
      const o = m.order[pfn]!;
      pa.isolateFreePage(pfn, o);
      pfn += 2 ** o;
    }
    restore();
    pa.prepNewPage(start, order, gfp);
    return start;
  });

/** `EINVAL` from `what` for an order that is no whole number of at least 0, or null. */
const contigOrderError = (what: string, order: number): ErrnoError | null =>
  Number.isInteger(order) && order >= 0
    ? null
    : errno("EINVAL", `${what}: order ${order} is not a whole number of at least 0`);

/**
 * Why `alloc_contig_range()` cannot take `[start, start + 2^order)` at all, or null: an order that
 * is no whole number, a folio (`__GFP_COMP`) above `MAX_FOLIO_ORDER` or not aligned to its size
 * (the kernel's own `-EINVAL`s), a start with no memory behind it, or a range that leaves its zone.
 */
const contigRangeError = (
  k: Kernel,
  start: number,
  order: number,
  gfp: number,
): ErrnoError | null => {
  const what = "alloc_contig_range";
  const badOrder = contigOrderError(what, order);
  if (badOrder) return badOrder;
  if (gfp & __GFP_COMP && order > maxFolioOrder(k)) {
    return errno(
      "EINVAL",
      `${what}: order ${order} is above MAX_FOLIO_ORDER ${maxFolioOrder(k)}: a folio may not span memory sections`,
    );
  }
  if (!k.mem.pfnValid(start))
    return errno("EINVAL", `${what}: pfn ${start} has no memory behind it`);
  const nr = 2 ** order;
  if (gfp & __GFP_COMP && start % nr !== 0)
    return errno("EINVAL", `${what}: pfn ${start} is not aligned to a folio of order ${order}`);
  const zone = k.pageAlloc.zones[k.mem.pfnToNid(start)]!;
  if (start + nr > zone.endPfn) {
    return errno(
      "EINVAL",
      `${what}: pfns ${start}-${start + nr - 1} reach past node ${zone.nid}'s last pfn ${zone.endPfn - 1}`,
    );
  }
  return null;
};

/**
 * `MAX_FOLIO_ORDER` (`include/linux/mmzone.h`), the largest folio the kernel makes: the PUD order,
 * or the order of a memory section when that is smaller, as in a kernel with `SPARSEMEM` and no
 * `SPARSEMEM_VMEMMAP`, where a folio's `struct page`s (and, in the model, its bytes, one buffer
 * per section) may not span sections. `alloc_contig_range()` refuses a larger folio (`__GFP_COMP`)
 * with `EINVAL`, so `alloc_contig_pages()`, and with it a gigantic hugetlb page, finds none; a
 * range of single pages of any order is still had.
 *
 * @category Memory and folios
 *
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { Kernel, maxFolioOrder } from "@migrate-offload/core";
 *
 * const k = await Effect.runPromise(Kernel.boot({ nodes: ["256M"], sectionSize: "128M" }));
 * console.log(k.pudOrder, maxFolioOrder(k)); // 18 15: no 1 GiB folio in 128 MiB sections
 * await Effect.runPromise(k.shutdown());
 * ```
 */
export const maxFolioOrder = (k: Kernel): number => Math.min(k.pudOrder, k.mem.pfnSectionShift);

/**
 * `pfn_range_valid_contig()` (`mm/page_alloc.c`, Linux 6.16): whether `alloc_contig_pages()`
 * tries `[start, end)` at all: not when a page in it is reserved or belongs to a hugetlb folio
 * (free or in use: hugetlb pages are left where they are, since 6.3). Anything else (kernel
 * memory, a pinned folio) is for `alloc_contig_range()` to find out.
 */
const pfnRangeValidContig = (k: Kernel, start: number, end: number): boolean => {
  const m = k.memmap;
  for (let pfn = start; pfn < end; pfn++) {
    if (m.flags[pfn]! & PG_buddy) {
      pfn += 2 ** m.order[pfn]! - 1;
      continue;
    }
    if (m.flags[pfn]! & PG_reserved || m.test(m.folioOf(pfn), PG_hugetlb)) return false;
  }
  return true;
};

/**
 * `alloc_contig_pages()` (`mm/page_alloc.c`), as `folio_alloc_gigantic()` uses it: a folio of
 * `order` above `MAX_PAGE_ORDER`, from the first naturally aligned range of the nodes an
 * allocation from `nid` may use (`__GFP_THISNODE`: `nid` alone) that holds no reserved page and no
 * hugetlb folio (`pfn_range_valid_contig()`) and that {@link allocContigRange} can clear. -1 when
 * no range can be had. `current` is the task it runs in (see {@link allocContigRange}).
 *
 * @category Memory and folios
 */
export const allocContigPages = (
  k: Kernel,
  order: number,
  gfp: number,
  nid: number,
  current: AllocContext | null = null,
): Effect.Effect<number, ErrnoError> =>
  Effect.gen(function* () {
    const badOrder = contigOrderError("alloc_contig_pages", order);
    if (badOrder) return yield* Effect.fail(badOrder);
    if (!Number.isInteger(nid) || nid < 0 || nid >= k.mem.nodes.length) {
      return yield* Effect.fail(
        errno(
          "EINVAL",
          `alloc_contig_pages: node ${nid} does not exist (${k.mem.nodes.length} nodes)`,
        ),
      );
    }
    // Every range of a larger folio is refused (alloc_contig_range()'s EINVAL): none is tried.
    if (gfp & __GFP_COMP && order > maxFolioOrder(k)) return -1;
    const nr = 2 ** order;
    const nodes = gfp & __GFP_THISNODE ? [nid] : (k.pageAlloc.zonelists[nid] ?? []);
    for (const node of nodes) {
      const zone = k.pageAlloc.zones[node]!;
      for (let pfn = Math.ceil(zone.startPfn / nr) * nr; pfn + nr <= zone.endPfn; pfn += nr) {
        if (!pfnRangeValidContig(k, pfn, pfn + nr)) continue;
        const got = yield* Effect.exit(allocContigRange(k, pfn, order, gfp, current));
        if (got._tag === "Success") return got.value;
      }
    }
    return -1;
  });
