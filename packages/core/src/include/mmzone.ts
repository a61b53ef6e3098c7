/**
 * Physical memory and its zones: NUMA nodes made of sections of real `SharedArrayBuffer` bytes,
 * each node with one zone of free blocks.
 *
 * Models SPARSEMEM (`mm/sparse.c`, `include/linux/mmzone.h`): physical memory is cut into
 * fixed-size sections, each node owns a run of sections, and a PFN names a node and a byte
 * offset inside one section's buffer. Each section is its own `SharedArrayBuffer`, allocated
 * zero-filled; the operating system commits its pages only on first touch, so an untouched node of
 * several GiB costs no resident memory. Worker threads can be handed the same buffers and copy
 * between them with nothing but offsets. `struct zone` and the page allocator's interface are
 * here too; the buddy allocator is `mm/page_alloc.ts`.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { errno } from "../errno";
import type { FailPageAlloc } from "../lib/fault_inject";
import { FolioList } from "../lib/list";
import { SECTION_POOL_CHUNK, type SectionPool } from "../lib/section_pool";
import { memzero } from "../lib/string";
import type { MemMap } from "./mem_map";

/**
 * One NUMA node's span of PFNs. Models `pg_data_t`'s `node_start_pfn` / `node_present_pages`
 * (`struct pglist_data`, `include/linux/mmzone.h`).
 *
 * @category Memory and folios
 */
export interface NodeSpan {
  /** The node id (`pgdat->node_id`). */
  readonly nid: number;
  /** First PFN of the node (`node_start_pfn`); section aligned. */
  readonly startPfn: number;
  /** Pages of memory the node has (`node_present_pages`); 0 for a memoryless node. */
  readonly presentPages: number;
}

/**
 * A byte range of physical memory that a worker thread can address on its own: the buffer it
 * lives in and where. What `dma_map_*` or a copy thread is handed.
 *
 * No kernel symbol: it stands where a DMA address and length do (`dma_map_page()`,
 * `include/linux/dma-mapping.h`), or a kernel virtual address a copy thread reads through.
 *
 * @category Memory and folios
 */
export interface MemoryRegion {
  /** The section buffer the range lives in. */
  readonly buffer: SharedArrayBuffer;
  /** Where the range starts in {@link buffer}. */
  readonly byteOffset: number;
  /** How many bytes the range spans. */
  readonly byteLength: number;
}

/** A page whose bytes are the zeroes its section buffer came with: never handed out since. */
const PAGE_ZERO = 0;
/** A page the allocator handed out since boot: its bytes may have been written. */
const PAGE_HANDED_OUT = 1;
/**
 * A page of a buffer from a {@link SectionPool} that an earlier kernel handed out and this one
 * has not yet: zeroed when this kernel first hands it out, with or without `__GFP_ZERO`.
 */
const PAGE_STALE = 2;

/** Pages per block of `PhysicalMemory`'s handed-out summary, as a shift: 512 pages (2 MiB). */
const HANDED_OUT_BLOCK_SHIFT = 9;

/** Chunks of a section going back to a {@link SectionPool} compared with zeroes at once. */
const ZERO_BLOCK_CHUNKS = 16;
/** What those chunks are compared with. */
const ZERO_BLOCK = Buffer.alloc(ZERO_BLOCK_CHUNKS * SECTION_POOL_CHUNK);

/** Whether the `n` bytes of `bytes` at `at` are all zero (`n` at most {@link ZERO_BLOCK}'s size). */
const isZero = (bytes: Buffer, at: number, n: number): boolean =>
  bytes.compare(ZERO_BLOCK, 0, n, at, at + n) === 0;

/**
 * The machine's physical memory. One per kernel. Models SPARSEMEM's sections (`mem_section`,
 * `include/linux/mmzone.h`, set up by `mm/sparse.c`) with real bytes behind each.
 *
 * @category Memory and folios
 */
export class PhysicalMemory {
  /** Base page size in bytes (`PAGE_SIZE`). */
  readonly pageSize: number;
  /** log2 of the page size (`PAGE_SHIFT`). */
  readonly pageShift: number;
  /** log2 of the pages per section (`PFN_SECTION_SHIFT`). */
  readonly pfnSectionShift: number;
  /** Pages per section (`PAGES_PER_SECTION`). */
  readonly pagesPerSection: number;
  /** One past the highest PFN (`max_pfn`). */
  readonly maxPfn: number;
  /** The nodes, indexed by node id. */
  readonly nodes: readonly NodeSpan[];
  /**
   * Section buffers by section number (`mem_section`); `undefined` for holes. Empty once the
   * kernel has shut down and {@link release}d its memory.
   */
  sections: readonly (SharedArrayBuffer | undefined)[];
  /** Byte views of {@link sections}, for copies on this thread. */
  sectionBytes: readonly (Uint8Array | undefined)[];
  /** Node of each section (`section_to_node_table`); -1 for holes. */
  readonly sectionNid: Int16Array;
  /**
   * What each page's bytes are known to be: {@link PAGE_ZERO}, {@link PAGE_HANDED_OUT} or
   * {@link PAGE_STALE}. Nothing writes a page the allocator has not handed out.
   */
  private readonly pageState: Uint8Array;
  /**
   * A summary of {@link pageState} per block of 2^`HANDED_OUT_BLOCK_SHIFT` pages: 1 once every
   * page of the block is {@link PAGE_HANDED_OUT}, a state no page leaves. An allocation whose
   * blocks are all marked needs no page cleared and no state changed, and is known to without
   * reading each page's state.
   */
  private readonly handedOutBlocks: Uint8Array;
  /** Where the section buffers came from, and go back to at shutdown; null: the host's heap. */
  private readonly pool: SectionPool | null;

  /**
   * Drops every reference to the section buffers, so that the memory goes back to the host once
   * nothing else holds it; part of kernel shutdown. Nothing may touch the memory afterwards.
   * With `reuse` and a {@link SectionPool}, each buffer goes back to the pool instead, with the
   * map of the pages that were handed out (or left stale) in it; pass it only when nothing that
   * may still write the memory (a copy thread, a device) outlived the kernel.
   */
  release(reuse = false): void {
    // Loops and methods rather than callbacks made for each call: V8 keeps a function's
    // optimized code only while a closure of it lives, so a callback made anew for each kernel
    // was compiled again after every whole-heap collection.
    const pool = this.pool;
    if (reuse && pool) {
      for (let nr = 0; nr < this.sections.length; nr++) {
        const buffer = this.sections[nr];
        if (buffer && pool.accepts(buffer.byteLength))
          pool.give(buffer, this.dirtyChunks(nr, buffer));
      }
    }
    this.sections = [];
    this.sectionBytes = [];
  }

  /**
   * The map of section `nr`'s chunks that hold something else than zeroes, for the pool. Of the
   * pages handed out, only those are dirty: many were allocated and never written (a node filled
   * up, or fragmented). Compared a block of 16 chunks at a time, then chunk by chunk in a block
   * that is not all zeroes.
   */
  private dirtyChunks(nr: number, buffer: SharedArrayBuffer): Uint8Array {
    const first = nr * this.pagesPerSection;
    const chunks = this.pageSize / SECTION_POOL_CHUNK;
    const dirty = new Uint8Array(buffer.byteLength / SECTION_POOL_CHUNK);
    const bytes = Buffer.from(buffer);
    for (let b = 0; b < dirty.length; b += ZERO_BLOCK_CHUNKS) {
      const end = Math.min(b + ZERO_BLOCK_CHUNKS, dirty.length);
      let handedOut = false;
      for (let c = b; c < end && !handedOut; c += chunks)
        handedOut = this.pageState[first + c / chunks] !== PAGE_ZERO;
      if (!handedOut || isZero(bytes, b * SECTION_POOL_CHUNK, (end - b) * SECTION_POOL_CHUNK))
        continue;
      for (let c = b; c < end; c++) {
        if (!isZero(bytes, c * SECTION_POOL_CHUNK, SECTION_POOL_CHUNK)) dirty[c] = 1;
      }
    }
    return dirty;
  }

  /**
   * @param pageSize base page size in bytes, a power of two
   * @param sectionSize bytes per section, a power of two multiple of the page size
   * @param nodeBytes memory of each node, each a multiple of the page size
   */
  constructor(
    pageSize: number,
    sectionSize: number,
    nodeBytes: readonly number[],
    pool: SectionPool | null = null,
  ) {
    this.pageSize = pageSize;
    this.pageShift = Math.log2(pageSize);
    this.pagesPerSection = sectionSize / pageSize;
    this.pfnSectionShift = Math.log2(this.pagesPerSection);
    const nodes: NodeSpan[] = [];
    const sections: (SharedArrayBuffer | undefined)[] = [];
    const nids: number[] = [];
    const stale: [first: number, dirty: Uint8Array][] = [];
    for (let nid = 0; nid < nodeBytes.length; nid++) {
      const presentPages = nodeBytes[nid]! / pageSize;
      nodes.push({ nid, startPfn: sections.length * this.pagesPerSection, presentPages });
      for (let left = nodeBytes[nid]!; left > 0; left -= sectionSize) {
        const bytes = Math.min(left, sectionSize);
        const pooled = pool?.take(bytes);
        if (pooled) stale.push([sections.length * this.pagesPerSection, pooled.dirty]);
        sections.push(pooled?.buffer ?? new SharedArrayBuffer(bytes));
        nids.push(nid);
      }
    }
    this.nodes = nodes;
    this.sections = sections;
    this.sectionBytes = sections.map((b) => (b ? new Uint8Array(b) : undefined));
    this.sectionNid = Int16Array.from(nids);
    this.maxPfn = sections.length * this.pagesPerSection;
    this.pageState = new Uint8Array(this.maxPfn);
    this.handedOutBlocks = new Uint8Array(Math.ceil(this.maxPfn / (1 << HANDED_OUT_BLOCK_SHIFT)));
    const chunks = pageSize / SECTION_POOL_CHUNK;
    for (const [first, dirty] of stale) {
      for (let i = dirty.indexOf(1); i >= 0; i = dirty.indexOf(1, i + 1)) {
        this.pageState[first + Math.floor(i / chunks)] = PAGE_STALE;
      }
    }
    this.pool = pool;
  }

  /** True when `pfn` has memory behind it (`pfn_valid()`, `include/linux/mmzone.h`). */
  pfnValid(pfn: number): boolean {
    if (!Number.isInteger(pfn) || pfn < 0 || pfn >= this.maxPfn) return false;
    const buf = this.sections[pfn >>> this.pfnSectionShift];
    return (
      buf !== undefined && (pfn & (this.pagesPerSection - 1)) << this.pageShift < buf.byteLength
    );
  }

  /** The node that owns `pfn` (`pfn_to_nid()`, `include/linux/mmzone.h`). `pfn` must be valid. */
  pfnToNid(pfn: number): number {
    return this.sectionNid[pfn >>> this.pfnSectionShift]!;
  }

  /** Byte offset of `pfn` inside its section buffer. */
  byteOffset(pfn: number): number {
    return (pfn & (this.pagesPerSection - 1)) * this.pageSize;
  }

  /** A zero-copy view of `nrPages` pages from `pfn`; the range must not cross a section. */
  bytes(pfn: number, nrPages = 1): Uint8Array {
    const section = this.sectionAt(pfn);
    const start = this.byteOffset(pfn);
    return section.subarray(start, start + nrPages * this.pageSize);
  }

  /**
   * The bytes of the section holding `pfn`. Throws an errno error, never a `TypeError`: `ESHUTDOWN`
   * once the memory has been {@link release}d, `EFAULT` for a PFN in no section (a hole).
   */
  private sectionAt(pfn: number): Uint8Array {
    const section = this.sectionBytes[pfn >>> this.pfnSectionShift];
    if (section) return section;
    throw this.sections.length === 0
      ? errno("ESHUTDOWN", `pfn ${pfn}: the kernel has shut down and released its memory`)
      : errno("EFAULT", `pfn ${pfn} is in no memory section`);
  }

  /** The same range as {@link bytes}, as a buffer and offsets a worker can use. */
  region(pfn: number, nrPages = 1): MemoryRegion {
    return {
      buffer: this.sectionAt(pfn).buffer as SharedArrayBuffer,
      byteOffset: this.byteOffset(pfn),
      byteLength: nrPages * this.pageSize,
    };
  }

  /**
   * Copies whole pages (`copy_page()`, `arch/x86/lib/copy_page_64.S`, over a range). Neither range
   * may cross a section.
   */
  copyPages(dstPfn: number, srcPfn: number, nrPages: number): void {
    const src = this.sectionAt(srcPfn);
    const dst = this.sectionAt(dstPfn);
    const s = this.byteOffset(srcPfn);
    const len = nrPages * this.pageSize;
    if (src === dst) dst.copyWithin(this.byteOffset(dstPfn), s, s + len);
    else dst.set(src.subarray(s, s + len), this.byteOffset(dstPfn));
  }

  /**
   * Notes that the allocator hands out `nrPages` pages from `pfn` (`post_alloc_hook()`,
   * `mm/page_alloc.c`); with `zero` (`__GFP_ZERO`) it zeroes them first (`clear_page()`), all but
   * the pages never handed out since boot, which still hold the zeroes the kernel booted with.
   * Stale pages are zeroed either way, so that every page starts as it would on fresh memory. The
   * range must not cross a section.
   */
  allocated(pfn: number, nrPages: number, zero: boolean): void {
    const state = this.pageState;
    const end = pfn + nrPages;
    const blocks = this.handedOutBlocks;
    if (!zero) {
      // Every page already handed out (a THP's frame, nearly always): nothing to clear or mark.
      let b = pfn >>> HANDED_OUT_BLOCK_SHIFT;
      const last = (end - 1) >>> HANDED_OUT_BLOCK_SHIFT;
      while (b <= last && blocks[b] === 1) b++;
      if (b > last) return;
    }
    for (let p = pfn; p < end; ) {
      if (state[p] === PAGE_ZERO || (state[p] === PAGE_HANDED_OUT && !zero)) {
        p++;
        continue;
      }
      let last = p + 1;
      while (last < end && (state[last] === PAGE_STALE || (zero && state[last] !== PAGE_ZERO)))
        last++;
      this.clearPages(p, last - p);
      p = last;
    }
    // A loop for a few pages (a 4 KiB folio's one), where TypedArray.fill's call costs more.
    if (nrPages < 64) for (let p = pfn; p < end; p++) state[p] = PAGE_HANDED_OUT;
    else state.fill(PAGE_HANDED_OUT, pfn, end);
    // The blocks the range covers whole are now handed out to the last page.
    const size = 1 << HANDED_OUT_BLOCK_SHIFT;
    for (
      let b = (pfn + size - 1) >>> HANDED_OUT_BLOCK_SHIFT;
      b < end >>> HANDED_OUT_BLOCK_SHIFT;
      b++
    )
      blocks[b] = 1;
  }

  /** Zeroes whole pages (`clear_page()`, `arch/x86/include/asm/page_64.h`, over a range). */
  clearPages(pfn: number, nrPages: number): void {
    const start = this.byteOffset(pfn);
    memzero(this.sectionAt(pfn), start, start + nrPages * this.pageSize);
  }
}

/**
 * `MIGRATE_UNMOVABLE` (`enum migratetype`, `include/linux/mmzone.h`): kernel memory that cannot
 * move; allocations without `__GFP_MOVABLE` or `__GFP_RECLAIMABLE`.
 *
 * @category Memory and folios
 */
export const MIGRATE_UNMOVABLE = 0;
/**
 * `MIGRATE_MOVABLE` (`include/linux/mmzone.h`): user memory and page cache, which migration can
 * move (`__GFP_MOVABLE`). Every pageblock starts movable at boot (`memmap_init_range()`).
 *
 * @category Memory and folios
 */
export const MIGRATE_MOVABLE = 1;
/**
 * `MIGRATE_RECLAIMABLE` (`include/linux/mmzone.h`): kernel memory reclaim can free, such as
 * slab caches of dentries and inodes (`__GFP_RECLAIMABLE`).
 *
 * @category Memory and folios
 */
export const MIGRATE_RECLAIMABLE = 2;
/**
 * `MIGRATE_PCPTYPES` (`include/linux/mmzone.h`): the types with per-CPU lists, which allocations
 * ask for and fall back between.
 *
 * @category Memory and folios
 */
export const MIGRATE_PCPTYPES = 3;
/**
 * `MIGRATE_HIGHATOMIC` (`include/linux/mmzone.h`): pageblocks reserved for high-order atomic
 * allocations (`reserve_highatomic_pageblock()`, `mm/page_alloc.c`); `/proc/pagetypeinfo` shows
 * them.
 *
 * @category Memory and folios
 */
export const MIGRATE_HIGHATOMIC = MIGRATE_PCPTYPES;
/**
 * `MIGRATE_ISOLATE` (`include/linux/mmzone.h`; the model builds without `CONFIG_CMA`, so it
 * follows `MIGRATE_HIGHATOMIC`): pageblocks `alloc_contig_range()` has isolated; nothing is
 * allocated from them.
 *
 * @category Memory and folios
 */
export const MIGRATE_ISOLATE = 4;
/**
 * `MIGRATE_TYPES` (`include/linux/mmzone.h`): the number of migrate types.
 *
 * @category Memory and folios
 */
export const MIGRATE_TYPES = 5;
/**
 * A pageblock's migrate type: one of the `MIGRATE_*` values (`enum migratetype`,
 * `include/linux/mmzone.h`).
 *
 * @category Memory and folios
 */
export type MigrateType = number;
/**
 * `migratetype_names[]` (`mm/page_alloc.c`): each type's name, as `/proc/pagetypeinfo` prints it.
 *
 * @category Memory and folios
 */
export const MIGRATETYPE_NAMES: readonly string[] = [
  "Unmovable",
  "Movable",
  "Reclaimable",
  "HighAtomic",
  "Isolate",
];

/**
 * `enum zone_watermarks` (`include/linux/mmzone.h`): `WMARK_MIN`, `WMARK_LOW`, `WMARK_HIGH` as
 * indexes into {@link Zone.watermark}.
 *
 * @category Memory and folios
 */
export const WMARK_MIN = 0;
/** `WMARK_LOW` (`include/linux/mmzone.h`). @category Memory and folios */
export const WMARK_LOW = 1;
/** `WMARK_HIGH` (`include/linux/mmzone.h`). @category Memory and folios */
export const WMARK_HIGH = 2;
/**
 * `WMARK_PROMO` (`include/linux/mmzone.h`): one more step above the high watermark. In memory
 * tiering mode, promotion wakes kswapd on a top-tier node until it has this much free, to make
 * room for the pages it promotes.
 *
 * @category Memory and folios
 */
export const WMARK_PROMO = 3;

/**
 * The free memory of one node. Models `struct zone` (`include/linux/mmzone.h`): its
 * `free_area[]` with one free list per migrate type, the pageblock migrate types
 * (`pageblock_flags`, `include/linux/pageblock-flags.h`), the watermarks, and where compaction's
 * scanners start (`compact_cached_migrate_pfn` / `compact_cached_free_pfn`).
 *
 * @category Memory and folios
 */
export class Zone {
  /**
   * Free blocks per order and migrate type (`free_area[order].free_list[mt]`). A free block is
   * on the list of its first pageblock's type.
   */
  readonly freeArea: FolioList[][];
  /** Number of free blocks per order (`free_area[order].nr_free`). */
  readonly nrFree: number[];
  /** Number of free blocks per order and migrate type, as `/proc/pagetypeinfo` counts them. */
  readonly nrFreeByType: number[][];
  /** Migrate type of each pageblock, from the zone's start (`get_pageblock_migratetype()`). */
  readonly pageblockType: Uint8Array;
  /** Free base pages (`NR_FREE_PAGES`). */
  freePages = 0;
  /**
   * Pages the allocator manages (`zone_managed_pages()`, `include/linux/mmzone.h`): every page at
   * boot; a balloon's inflation and memory offlining take pages out, onlining gives them back.
   */
  managedPages = 0;
  /**
   * Pages of online memory the zone holds (`zone->present_pages`, `include/linux/mmzone.h`): the
   * node's pages at boot, less the memory blocks offlined since.
   */
  presentPages: number;
  /** Pages taken out of service because they are hwpoisoned. */
  poisonedPages = 0;
  /**
   * Pages in pageblocks reserved for high-order atomic allocations (`zone->nr_reserved_highatomic`,
   * `include/linux/mmzone.h`): grown by `reserve_highatomic_pageblock()`, shrunk by
   * `unreserve_highatomic_pageblock()` (`mm/page_alloc.c`, Linux 6.16).
   */
  nrReservedHighatomic = 0;
  /**
   * Free base pages on the `MIGRATE_HIGHATOMIC` lists (`zone->nr_free_highatomic`, kept by
   * `account_freepages()`, `mm/page_alloc.c`, Linux 6.16): what `__zone_watermark_ok()` leaves
   * out for an allocation without `ALLOC_RESERVES`.
   */
  nrFreeHighatomic = 0;
  /**
   * The min, low, high and promo watermarks in pages (`_watermark[]`, set by
   * `__setup_per_zone_wmarks()`, `mm/page_alloc.c`); index with `WMARK_MIN` / `_LOW` / `_HIGH` /
   * `_PROMO`.
   */
  readonly watermark: [number, number, number, number] = [0, 0, 0, 0];
  /**
   * Pages added to every watermark for now (`zone->watermark_boost`, `include/linux/mmzone.h`):
   * raised by `boost_watermark()` when an allocation falls back into a pageblock of another
   * migrate type, taken back by kswapd once it reclaimed for it (`balance_pgdat()`).
   */
  watermarkBoost = 0;
  /**
   * `ZONE_BOOSTED_WATERMARK` in `zone->flags` (`include/linux/mmzone.h`): the boost was raised by
   * an allocation that may wake kswapd, and `rmqueue()` has not woken it for that yet.
   */
  boostedWatermark = false;
  /**
   * Direct compactions for an order at or above {@link compactOrderFailed} looked at since the
   * last failure (`zone->compact_considered`, `include/linux/mmzone.h`); `compaction_deferred()`
   * (`mm/compaction.c`, Linux 6.16) skips them until it reaches `1 << compactDeferShift`.
   */
  compactConsidered = 0;
  /**
   * How many times in a row compaction failed here, up to `COMPACT_MAX_DEFER_SHIFT` (6)
   * (`zone->compact_defer_shift`): `1 << compactDeferShift` compactions are skipped after one.
   */
  compactDeferShift = 0;
  /**
   * The lowest order compaction failed for (`zone->compact_order_failed`): deferral applies to
   * this order and above. 0 at boot, as Linux leaves it, so the first failure defers every
   * order until a success raises it past its own order.
   */
  compactOrderFailed = 0;
  /**
   * Where compaction's migration scanner starts its next run that does not scan the whole zone
   * (`zone->compact_cached_migrate_pfn[]`, `include/linux/mmzone.h`): index 0 for
   * `MIGRATE_ASYNC`, 1 for the synchronous modes. `update_cached_migrate()` (`mm/compaction.c`,
   * Linux 6.16) moves them up past each pageblock finished, `reset_cached_positions()` back to
   * the zone's start when the scanners meet. 0 in a new zone, as in Linux's zeroed
   * `struct zone`: `compact_zone()` takes that for unset in a zone that does not start at PFN 0.
   */
  readonly compactCachedMigratePfn: [number, number];
  /**
   * Where compaction's free scanner starts its next run that does not scan the whole zone
   * (`zone->compact_cached_free_pfn`): a pageblock's first PFN, moved down by
   * `update_pageblock_skip()` and up again when a run releases free pages above it. 0 in a new
   * zone: in a zone that starts at PFN 0 the first run that uses it finds the scanners met.
   */
  compactCachedFreePfn: number;
  /**
   * The lowest PFN `__reset_isolation_suitable()` found a migration source at
   * (`zone->compact_init_migrate_pfn`): a run that starts at or below it scans the whole zone
   * (`cc->whole_zone`), and its scanners meeting is `COMPACT_COMPLETE`. 0 until the first reset.
   */
  compactInitMigratePfn: number;
  /**
   * The highest PFN `__reset_isolation_suitable()` found a migration target at
   * (`zone->compact_init_free_pfn`): a free scanner at or above it searches the free lists
   * deeper (`fast_isolate_freepages()`). 0 until the first reset.
   */
  compactInitFreePfn: number;
  /**
   * `zone->compact_blockskip_flush`: a direct compaction's scanners met, so the pageblock skip
   * hints are to be cleared when `kswapd` goes to sleep (`reset_isolation_suitable()`) or a
   * deferred compaction restarts (`compaction_restarting()`).
   */
  compactBlockskipFlush = false;
  /**
   * The `PB_migrate_skip` bit of each pageblock, from the zone's start (`pageblock_flags`,
   * `include/linux/pageblock-flags.h`): compaction found nothing to isolate there lately
   * (`get_pageblock_skip()`, `set_pageblock_skip()`, `clear_pageblock_skip()`).
   */
  readonly pageblockSkip: Uint8Array;

  /**
   * `wmark_pages()` (`include/linux/mmzone.h`): watermark `i` (`WMARK_MIN` / `_LOW` / `_HIGH` /
   * `_PROMO`) in pages with the boost added, as `min_wmark_pages()` and the others give it.
   */
  wmarkPages(i: number): number {
    return this.watermark[i]! + this.watermarkBoost;
  }
  /**
   * The node's `memory_failure()` outcomes (`pglist_data->mf_stats`, `struct
   * memory_failure_stats`, `include/linux/mmzone.h`; the model has one zone per node): every
   * handled error and each result, shown in `/sys/devices/system/node/node<N>/memory_failure/`.
   */
  readonly mfStats = { total: 0, ignored: 0, failed: 0, delayed: 0, recovered: 0 };

  constructor(
    readonly nid: number,
    readonly startPfn: number,
    readonly endPfn: number,
    memmap: MemMap,
    maxOrder: number,
    /** `pageblock_order` (`include/linux/pageblock-flags.h`). */
    readonly pageblockOrder: number,
  ) {
    // Loops, not callbacks made for each zone (whose optimized code V8 would drop at the next
    // whole-heap collection and compile again for the next kernel).
    const freeArea: FolioList[][] = [];
    const nrFreeByType: number[][] = [];
    for (let order = 0; order <= maxOrder; order++) {
      const lists: FolioList[] = [];
      for (let mt = 0; mt < MIGRATE_TYPES; mt++) lists.push(new FolioList(memmap.lru));
      freeArea.push(lists);
      nrFreeByType.push(new Array<number>(MIGRATE_TYPES).fill(0));
    }
    this.freeArea = freeArea;
    this.nrFree = new Array<number>(maxOrder + 1).fill(0);
    this.nrFreeByType = nrFreeByType;
    this.presentPages = endPfn - startPfn;
    const blocks = Math.ceil((endPfn - startPfn) / 2 ** pageblockOrder);
    this.pageblockType = new Uint8Array(blocks).fill(MIGRATE_MOVABLE);
    this.pageblockSkip = new Uint8Array(blocks);
    // 0, as in Linux 6.16's zeroed struct zone: nothing sets them before the first compaction.
    this.compactCachedMigratePfn = [0, 0];
    this.compactCachedFreePfn = 0;
    this.compactInitMigratePfn = 0;
    this.compactInitFreePfn = 0;
  }

  /** `get_pageblock_skip()` (`include/linux/pageblock-flags.h`): the skip hint of `pfn`'s pageblock. */
  getPageblockSkip(pfn: number): boolean {
    return this.pageblockSkip[(pfn - this.startPfn) >> this.pageblockOrder] === 1;
  }

  /** `set_pageblock_skip()` (`include/linux/pageblock-flags.h`): marks `pfn`'s pageblock to skip. */
  setPageblockSkip(pfn: number): void {
    this.pageblockSkip[(pfn - this.startPfn) >> this.pageblockOrder] = 1;
  }

  /** `clear_pageblock_skip()` (`include/linux/pageblock-flags.h`): clears `pfn`'s skip hint. */
  clearPageblockSkip(pfn: number): void {
    this.pageblockSkip[(pfn - this.startPfn) >> this.pageblockOrder] = 0;
  }

  /** The migrate type of the pageblock holding `pfn` (`get_pfnblock_migratetype()`). */
  pageblockMigratetype(pfn: number): MigrateType {
    return this.pageblockType[(pfn - this.startPfn) >> this.pageblockOrder]!;
  }

  /** Pages the zone spans (`zone->spanned_pages`). */
  get spannedPages(): number {
    return this.endPfn - this.startPfn;
  }
}

/**
 * A deliberate fragmentation of one node; {@link Fragmentation.release} undoes it. A test set-up
 * with no kernel symbol: free memory of the buddy allocator (`mm/page_alloc.c`) cut up as a
 * long-running workload leaves it, for compaction and THP-fallback tests.
 *
 * @category Memory and folios
 */
export interface Fragmentation {
  /** The node. */
  readonly nid: number;
  /** The order of the blocks that were pinned. */
  readonly order: number;
  /** Base pages held by the fragmentation. */
  readonly pinnedPages: number;
  /** Frees every block the fragmentation holds. Safe to call once. */
  release(): void;
}

/**
 * Called when a free finds a page in a state that must not be freed (`bad_page()`,
 * `mm/page_alloc.c`).
 *
 * @category Memory and folios
 */
export type BadPageHandler = (pfn: number, reason: string) => void;

/**
 * The allocating task as the page allocator reads it (`current` in `mm/page_alloc.c`): its
 * `task->flags` (`PF_MEMALLOC` lets it under the watermarks, `__gfp_pfmemalloc_flags()`) and the
 * node of the CPU it runs on (`numa_node_id()`, which `zone_statistics()` counts `numa_local` or
 * `numa_other` against). A `Task` is one.
 *
 * @category Memory and folios
 */
export interface AllocContext {
  /** `task->flags` (`PF_*`, `include/linux/sched.h`). */
  readonly flags: number;
  /** The node of the CPU the task runs on (`numa_node_id()`). */
  readonly nid: number;
  /**
   * The nodes the task's cpuset allows (`cpuset_mems_allowed()`); absent for a kernel thread,
   * which every node with memory allows. What the OOM killer compares candidates' with
   * (`cpuset_mems_allowed_intersects()`).
   */
  readonly memsAllowed?: readonly number[];
  /**
   * `tsk_is_oom_victim()` (`include/linux/oom.h`): the OOM killer chose the task; its
   * allocations may take `ALLOC_OOM` (`oom_reserves_allowed()`, `mm/page_alloc.c`). Absent:
   * false. `out_of_memory()` (`mm/oom_kill.ts`) sets it for a task that has exited
   * (`mark_oom_victim()`).
   */
  oomVictim?: boolean;
  /**
   * The task has exited while this allocation was in flight (its `exit()` ran meanwhile): what
   * `task_will_free_mem()` (`mm/oom_kill.c`) sees as a task that is exiting, so the OOM killer
   * kills no one else for it. Absent: false.
   */
  readonly exited?: boolean;
  /**
   * A `SIGKILL` is pending for the task (`sigismember(&task->pending.signal, SIGKILL)`,
   * `fatal_signal_pending()`): it dies once what it is doing in the kernel stops, so its slow
   * path retries no compaction (`should_compact_retry()`). Absent: false.
   */
  readonly sigkillPending?: boolean;
}

/**
 * `struct capture_control` (`mm/internal.h`, Linux 6.16): what direct compaction
 * (`compact_zone_order()`, `mm/compaction.c`) leaves on the compacting task
 * (`current->capture_control`) so that a block of the order it compacts for, freed by that task
 * in the zone it compacts, goes to it rather than to the free lists (`compaction_capture()` in
 * `__free_one_page()`, `mm/page_alloc.c`). Set and cleared with
 * {@link PageAllocator.setCaptureControl}.
 *
 * @category Compaction
 */
export interface CaptureControl {
  /**
   * `cc`: what of the compaction's `struct compact_control` the capture reads: its zone, its
   * order and the allocation's pageblock type (`gfp_migratetype()`).
   */
  readonly cc: {
    readonly zone: Zone;
    readonly order: number;
    readonly migratetype: MigrateType;
  };
  /** `page`: the captured block's first PFN; -1 (the kernel's `NULL`) until one is captured. */
  page: number;
}

/**
 * What `__alloc_pages_slowpath()` (`mm/page_alloc.c`) works for: the allocation's preferred node,
 * its order, its GFP flags and its node mask (null for none), as `struct alloc_context` and the
 * slow path's arguments carry them.
 *
 * @category Memory and folios
 */
export interface AllocRequest {
  readonly nid: number;
  readonly order: number;
  readonly gfp: number;
  readonly nodemask: readonly number[] | null;
  /**
   * Whether the first tries of this very allocation (`PageAllocator.allocPages()`) failed by
   * fault injection (`should_fail_alloc_page()`): the slow path then gives up at once, as Linux
   * fails the whole `__alloc_pages()`. `PageAllocator.slowpathRequest()` sets it from
   * `PageAllocator.failedByInjection` right after those tries; left out, false.
   */
  readonly failedByInjection?: boolean;
}

/**
 * How `allocPagesSlowpath()` (`mm/page_alloc.ts`) ended: the block it got, and whether it failed
 * after calling the OOM killer.
 *
 * @category Memory and folios
 */
export interface SlowpathResult {
  /** The first PFN of the block (refcount one), or -1 (the kernel's `NULL`). */
  readonly page: number;
  /**
   * True when the allocation failed after `__alloc_pages_may_oom()` called `out_of_memory()`
   * (`mm/oom_kill.ts`): reclaim and compaction gave up on an order up to
   * `PAGE_ALLOC_COSTLY_ORDER` asked without `__GFP_NORETRY`, `__GFP_RETRY_MAYFAIL` or
   * `__GFP_THISNODE`, the last try at the high watermark failed too, and the allocating task was
   * the OOM killer's victim, whose allocation with `ALLOC_OOM` failed (where no process can be
   * killed the kernel panics instead), or the kernel stopped taking calls meanwhile. A fault then
   * returns `ENOMEM`, as `VM_FAULT_OOM` surfaces.
   */
  readonly outOfMemory: boolean;
}

/**
 * The page allocator of one kernel, as its callers see it. Models the allocation calls of
 * `include/linux/gfp.h` (`__alloc_pages()`, `__free_pages()`) over the zones of
 * `include/linux/mmzone.h`. The buddy allocator behind it is `mm/page_alloc.ts` (the kernel's
 * `mm/page_alloc.c`).
 *
 * @category Memory and folios
 */
export interface PageAllocator {
  /** One zone per node, by node id. */
  readonly zones: readonly Zone[];
  /**
   * The largest block order (`MAX_PAGE_ORDER`, `include/linux/mmzone.h`): the architecture's
   * (`ARCH_FORCE_MAX_ORDER`: 10 with 4 KiB pages, 11 with 16 KiB, 13 with 64 KiB), capped at the
   * section size. Larger folios come from `alloc_contig_pages()`.
   */
  readonly maxOrder: number;
  /**
   * `pageblock_order` (`include/linux/pageblock-flags.h`): the PMD order, capped at `maxOrder`;
   * 9 with 4 KiB pages.
   */
  readonly pageblockOrder: number;
  /** `min_free_kbytes` (`mm/page_alloc.c`): what the zones' min watermarks add up to, in KiB. */
  readonly minFreeKbytes: number;
  /**
   * Node fallback order for each node (`node_zonelists`, `build_zonelists()` in `mm/page_alloc.c`):
   * the node first, then by distance.
   */
  readonly zonelists: readonly (readonly number[])[];
  /** `fail_page_alloc` (`mm/fail_page_alloc.c`): injected allocation failures. */
  readonly failPageAlloc: FailPageAlloc;
  /**
   * Whether the last {@link PageAllocator.allocPages} call failed by fault injection
   * (`should_fail_alloc_page()` in `prepare_alloc_pages()`, `mm/page_alloc.c`): Linux fails the
   * whole `__alloc_pages()` then, so a caller that goes on to the slow path's blocking steps
   * passes it along with its request (`AllocRequest.failedByInjection`, through
   * {@link PageAllocator.slowpathRequest}), which then give up at once.
   */
  readonly failedByInjection: boolean;
  /**
   * The request for `__alloc_pages_slowpath()` (`mm/page_alloc.c`) of an allocation whose first
   * tries ({@link PageAllocator.allocPages}) just failed: `req` with
   * {@link PageAllocator.failedByInjection} as its `AllocRequest.failedByInjection`, so that an
   * injected failure of those tries (`should_fail_alloc_page()`) fails the whole allocation, as
   * Linux's `__alloc_pages()` does. Call it right after those tries, before any other allocation.
   */
  slowpathRequest(req: AllocRequest): AllocRequest;
  /**
   * The nodes an allocation from `nid` with `gfp` and `nodemask` (null: all) may use, in the
   * order it tries them: `for_each_zone_zonelist_nodemask()` over its zonelist
   * (`node_zonelist()`, `mm/page_alloc.c`), one zone per node. `nid` alone with
   * `__GFP_THISNODE`; else {@link PageAllocator.zonelists}`[nid]` (empty for a node that does not
   * exist), kept to the nodes of `nodemask`. Without a node mask the list is the allocator's
   * own, not a copy.
   */
  candidates(nid: number, gfp: number, nodemask: readonly number[] | null): readonly number[];
  /**
   * Allocates 2^order pages. Models `__alloc_pages(gfp, order, nid, nodemask)` (`mm/page_alloc.c`): returns the first
   * PFN with a refcount of one, or -1 (the kernel's `NULL`). With `__GFP_COMP` and an order above
   * 0 the block becomes a large folio. `order` must already be valid; a node that does not exist
   * has nothing to give (-1). `current` is the allocating task (`PF_MEMALLOC` lets its slow path
   * take every free page; its CPU's node decides `numa_local` or `numa_other`); without one the
   * allocation runs on a CPU of `nid`. The slow path's reserves follow `gfp_to_alloc_flags()`
   * (`__GFP_HIGH`, `GFP_ATOMIC`) and `__gfp_pfmemalloc_flags()` (`__GFP_MEMALLOC`,
   * `__GFP_NOMEMALLOC`).
   */
  allocPages(
    nid: number,
    order: number,
    gfp: number,
    nodemask?: readonly number[] | null,
    current?: AllocContext | null,
  ): number;
  /**
   * `get_page_from_freelist()` (`mm/page_alloc.c`) with the allocation flags the caller chose
   * (`ALLOC_*`): a block of `order` from the first node an allocation from `nid` may use (its
   * zonelist; `nid` alone with `__GFP_THISNODE`; those in `nodemask`) whose zone passes the
   * watermark the flags name, or from the first with the block at all under
   * `ALLOC_NO_WATERMARKS`; -1 when none has one. Wakes no kswapd and takes no other step: what
   * the slow path tries after each of its steps.
   */
  getPageFromFreelist(
    nid: number,
    order: number,
    gfp: number,
    allocFlags: number,
    nodemask?: readonly number[] | null,
    current?: AllocContext | null,
  ): number;
  /**
   * Frees 2^order pages at `pfn` (`__free_pages()`, `mm/page_alloc.c`), merging buddies. A page in
   * a state that must not be freed is reported through `bad_page()` (`mm/page_alloc.c`) and kept;
   * false then.
   */
  freePages(pfn: number, order: number): boolean;
  /**
   * Writes `current->capture_control` (`compact_zone_order()`, `mm/compaction.c`, Linux 6.16):
   * `capc` for the task compacting now, null when its compaction is over. The model's `current`
   * in the free path is the running fiber (`Fiber.getCurrent()`), so only the compacting task's
   * own frees (the folios it migrated away, the free pages it gives back) can be captured, never
   * another task's meanwhile. `task` is the compacting task as the allocation has it: null for a
   * kernel thread, which, like a task with `PF_KTHREAD`, never captures (`task_capc()`).
   */
  setCaptureControl(task: AllocContext | null, capc: CaptureControl | null): void;
  /**
   * `post_alloc_hook()` and `prep_compound_page()` (`mm/page_alloc.c`): makes a block taken off
   * the free lists an allocated page of `order` with one reference (a large folio with
   * `__GFP_COMP`, zeroed with `__GFP_ZERO`). `used` false: a block whose holder never reads or
   * writes its bytes (the host-side fragmenter's, {@link PageAllocator.fragment}); its pages
   * are not noted as handed out ({@link PhysicalMemory.allocated}), so they keep what the memory
   * knows of their bytes.
   */
  prepNewPage(pfn: number, order: number, gfp: number, used?: boolean): void;
  /**
   * `free_pages_prepare()` (`mm/page_alloc.c`): checks 2^order pages at `pfn` may be freed and
   * clears what an allocated page carries; false, with the bad page reported, when they must not.
   */
  freePagesPrepare(pfn: number, order: number): boolean;
  /**
   * `__isolate_free_page()` (`mm/page_alloc.c`): takes the free block of `order` at `pfn` off
   * its list unless that would leave the zone under its min watermark; the pages taken, or 0.
   */
  isolateFreePage(pfn: number, order: number): number;
  /**
   * `__zone_watermark_ok()` (`mm/page_alloc.c`): would node `nid`'s zone keep `mark` pages free
   * after an allocation of `order` (with `freePages` free, its own by default), with a free block
   * of that order to give? `allocFlags` (`ALLOC_*`, default 0) lower the mark for the reserves.
   */
  zoneWatermarkOk(
    nid: number,
    order: number,
    mark: number,
    allocFlags?: number,
    freePages?: number,
  ): boolean;
  /**
   * `find_suitable_fallback()` (`mm/page_alloc.c`, Linux 6.16): the first type an allocation of
   * `startType` may take a free block of `order` from on node `nid`, or -1 when none has one;
   * with `claimable`, -2 when the allocation would not try to claim the pageblock of a block of
   * that order (`should_try_claim_block()`).
   */
  findSuitableFallback(
    nid: number,
    order: number,
    startType: MigrateType,
    claimable?: boolean,
  ): MigrateType;
  /**
   * Sets the migrate type of the pageblocks of a range and moves their free blocks to the new
   * type's lists (`set_pageblock_migratetype()`, `move_freepages_block()`, `mm/page_alloc.c`).
   */
  setMigratetype(pfn: number, nrPages: number, mt: MigrateType): void;
  /**
   * `unreserve_highatomic_pageblock()` (`mm/page_alloc.c`, Linux 6.16): gives one
   * `MIGRATE_HIGHATOMIC` pageblock holding a free block back to the migrate type of `gfp`, on the
   * first node an allocation from `nid` may use (its zonelist; `nid` alone with
   * `__GFP_THISNODE`; those in `nodemask`) that has one, and shrinks that zone's
   * `nr_reserved_highatomic`. Without `force` a zone keeps its last reserved pageblock. True when
   * a block was moved.
   */
  unreserveHighatomicPageblock(
    nid: number,
    gfp: number,
    nodemask: readonly number[] | null,
    force: boolean,
  ): boolean;
  /**
   * `take_page_off_buddy()` (`mm/page_alloc.c`): takes the free page `pfn` out of the allocator
   * for good (a poisoned page); false when it is in no free block.
   */
  takePageOffBuddy(pfn: number): boolean;
  /**
   * `put_page_back_buddy()` (`mm/page_alloc.c`): gives a page {@link PageAllocator.takePageOffBuddy} took (or
   * one kept out when it was freed poisoned) back to the allocator, its poison cleared; false
   * when it was not taken off or someone else holds it.
   */
  putPageBackBuddy(pfn: number): boolean;
  /**
   * `__offline_isolated_pages()` (`mm/page_alloc.c`): takes every free block of the isolated
   * range `[start, end)` (one node's) out of the allocator for good, its pages marked reserved, as
   * memory offlining leaves them. Returns the base pages taken.
   */
  offlineIsolatedPages(start: number, end: number): number;
  /** Free base pages on a node (`node_page_state(NR_FREE_PAGES)`, `mm/vmstat.c`); 0 for a node that does not exist. */
  nodeFreePages(nid: number): number;
  /** Free base pages on every node together. */
  totalFreePages(): number;
  /** The largest order with a free block on a node, or -1 when the node has none (or does not exist). */
  largestFreeOrder(nid: number): number;
  /**
   * Fragments a node on purpose: afterwards no free block on it is larger than `order`. About
   * half the node stays free. What compaction tests and the THP fallback need.
   */
  fragment(nid: number, order: number): Fragmentation;
}
