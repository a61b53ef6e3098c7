import { __GFP_COMP, __GFP_THISNODE, __GFP_ZERO } from "../include/gfp";
import type { MemMap } from "../include/mem_map";
import type {
  BadPageHandler,
  Fragmentation,
  PageAllocator,
  PhysicalMemory,
} from "../include/mmzone";
import { Zone } from "../include/mmzone";
import {
  FOLIO_CONTENT_COPIED,
  PG_buddy,
  PG_has_hwpoisoned,
  PG_head,
  PG_hwpoison,
  PG_locked,
  PG_lru,
  PG_reserved,
  PG_writeback,
} from "../include/page_flags";
import { FailPageAlloc } from "../lib/fault_inject";

/** Flags that must be clear when a page is freed (`PAGE_FLAGS_CHECK_AT_FREE`). */
const FLAGS_CHECK_AT_FREE = PG_locked | PG_lru | PG_writeback | PG_reserved | PG_buddy;

/** The buddy allocator of one kernel: the {@link PageAllocator} every kernel has. */
export class BuddyAllocator implements PageAllocator {
  /** One zone per node, by node id. */
  readonly zones: readonly Zone[];
  /** The largest block order (`MAX_PAGE_ORDER`): a section, capped at the PUD order. */
  readonly maxOrder: number;
  /** Node fallback order for each node (`node_zonelists`): the node first, then by distance. */
  readonly zonelists: readonly (readonly number[])[];
  /** `fail_page_alloc`: injected allocation failures. */
  readonly failPageAlloc: FailPageAlloc;

  constructor(
    private readonly mem: PhysicalMemory,
    private readonly memmap: MemMap,
    maxOrder: number,
    distance: (from: number, to: number) => number,
    private readonly badPage: BadPageHandler,
  ) {
    this.maxOrder = maxOrder;
    this.failPageAlloc = new FailPageAlloc(mem.pageSize);
    this.zones = mem.nodes.map(
      (n) => new Zone(n.nid, n.startPfn, n.startPfn + n.presentPages, memmap, maxOrder),
    );
    const ids = mem.nodes.map((n) => n.nid);
    this.zonelists = ids.map((nid) =>
      [...ids].sort((a, b) => distance(nid, a) - distance(nid, b) || a - b),
    );
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
  }

  private addToFreeList(zone: Zone, pfn: number, order: number): void {
    this.memmap.flags[pfn] = PG_buddy;
    this.memmap.order[pfn] = order;
    zone.freeArea[order]!.add(pfn);
    zone.nrFree[order]!++;
    zone.freePages += 1 << order;
  }

  private delFromFreeList(zone: Zone, pfn: number, order: number): void {
    zone.freeArea[order]!.del(pfn);
    this.memmap.flags[pfn] = 0;
    zone.nrFree[order]!--;
    zone.freePages -= 1 << order;
  }

  /** Takes a block of exactly `order` from one zone (`__rmqueue_smallest` + `expand`); -1 if none. */
  private rmqueue(zone: Zone, order: number): number {
    for (let current = order; current <= this.maxOrder; current++) {
      const pfn = zone.freeArea[current]!.first;
      if (pfn < 0) continue;
      this.delFromFreeList(zone, pfn, current);
      while (current > order) {
        current--;
        this.addToFreeList(zone, pfn + (1 << current), current);
      }
      return pfn;
    }
    return -1;
  }

  /** The nodes an allocation may use, in the order it tries them. */
  private candidates(
    nid: number,
    gfp: number,
    nodemask: readonly number[] | null,
  ): readonly number[] {
    if (gfp & __GFP_THISNODE) return [nid];
    const list = this.zonelists[nid] ?? [];
    return nodemask ? list.filter((n) => nodemask.includes(n)) : list;
  }

  /**
   * Allocates 2^order pages. Models `__alloc_pages(gfp, order, nid, nodemask)`: returns the first
   * PFN with a refcount of one, or -1 (the kernel's `NULL`). With `__GFP_COMP` and an order above
   * 0 the block becomes a large folio. `order` must already be valid; a node that does not exist
   * has nothing to give (-1).
   */
  allocPages(
    nid: number,
    order: number,
    gfp: number,
    nodemask: readonly number[] | null = null,
  ): number {
    if (this.failPageAlloc.armed && this.failPageAlloc.shouldFail(order)) return -1;
    if (gfp & __GFP_THISNODE) return this.allocFromZone(nid, order, gfp);
    for (const candidate of this.candidates(nid, gfp, nodemask)) {
      const pfn = this.allocFromZone(candidate, order, gfp);
      if (pfn >= 0) return pfn;
    }
    return -1;
  }

  private allocFromZone(nid: number, order: number, gfp: number): number {
    const zone = this.zones[nid];
    if (!zone || zone.freePages < 1 << order) return -1;
    const pfn = this.rmqueue(zone, order);
    if (pfn >= 0) this.prepNewPage(pfn, order, gfp);
    return pfn;
  }

  private prepNewPage(pfn: number, order: number, gfp: number): void {
    const m = this.memmap;
    const nr = 1 << order;
    m.refcount[pfn] = 1;
    m.order[pfn] = order;
    if (order > 0 && gfp & __GFP_COMP) {
      m.flags[pfn] = PG_head;
      for (let i = 1; i < nr; i++) m.compoundHead[pfn + i] = pfn + 1;
    }
    if (gfp & __GFP_ZERO) this.mem.clearPages(pfn, nr);
  }

  /** The state check of `free_pages_prepare()`; returns why the page must not be freed, or null. */
  private badReason(pfn: number, isHead: boolean): string | null {
    const m = this.memmap;
    const flags = m.flags[pfn]!;
    if (flags & PG_buddy) return "page is already free (double free)";
    if (m.mapcount[pfn] !== 0) return "nonzero mapcount";
    if (isHead && m.refcount[pfn] !== 0) return "nonzero _refcount";
    if (m.mapping[pfn]! > 0) return "non-NULL mapping";
    if (flags & FLAGS_CHECK_AT_FREE) return "PAGE_FLAGS_CHECK_AT_FREE flag(s) set";
    if (m.lru.isLinked(pfn)) return "still on a list";
    return null;
  }

  /**
   * Frees 2^order pages starting at `pfn` (`__free_pages`): the caller has dropped the last
   * reference. Returns false, and frees nothing, when the pages are in a state that must not be
   * freed; that is reported through the bad-page handler, as `bad_page()` reports and leaks them.
   */
  freePages(pfn: number, order: number): boolean {
    const m = this.memmap;
    const nr = 1 << order;
    for (let i = 0; i < nr; i++) {
      const reason = this.badReason(pfn + i, i === 0);
      if (reason !== null) {
        this.badPage(pfn + i, reason);
        return false;
      }
    }
    const poisoned = m.flags[pfn]! & PG_has_hwpoisoned || m.flags[pfn]! & PG_hwpoison;
    for (let i = 0; i < nr; i++) {
      m.compoundHead[pfn + i] = 0;
      m.mapping[pfn + i] = 0;
      m.index[pfn + i] = 0;
      m.private[pfn + i] = 0;
      m.flags[pfn + i]! &= PG_hwpoison;
    }
    m.flags[pfn]! &= ~(PG_head | FOLIO_CONTENT_COPIED);
    const zone = this.zones[this.mem.pfnToNid(pfn)]!;
    if (!poisoned) {
      this.freeOne(zone, pfn, order);
      return true;
    }
    // A block with a poisoned page: free the good pages one by one, keep the bad ones out.
    for (let i = 0; i < nr; i++) {
      if (m.flags[pfn + i]! & PG_hwpoison) zone.poisonedPages++;
      else this.freeOne(zone, pfn + i, 0);
    }
    return true;
  }

  /**
   * `take_page_off_buddy()` (`mm/page_alloc.c`): removes the free page `pfn` from the buddy
   * allocator for good, splitting the free block that holds it and freeing the rest
   * (`break_down_buddy_pages()`). The page keeps only `PG_hwpoison` and counts in the zone's
   * poisoned pages, as a freed poisoned page does. False when `pfn` is in no free block.
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
      zone.poisonedPages++;
      return true;
    }
    return false;
  }

  /** Puts a block on its free list, merging with free buddies (`__free_one_page`). */
  private freeOne(zone: Zone, pfn: number, order: number): void {
    const m = this.memmap;
    while (order < this.maxOrder) {
      const buddy = pfn ^ (1 << order);
      if (buddy < zone.startPfn || buddy + (1 << order) > zone.endPfn) break;
      if (!(m.flags[buddy]! & PG_buddy) || m.order[buddy] !== order) break;
      this.delFromFreeList(zone, buddy, order);
      pfn = Math.min(pfn, buddy);
      order++;
    }
    this.addToFreeList(zone, pfn, order);
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
    for (let pfn = this.allocPages(nid, order, __GFP_THISNODE); pfn >= 0; ) {
      held.push(pfn);
      pfn = this.allocPages(nid, order, __GFP_THISNODE);
    }
    const pinned = held.filter((pfn) => (pfn >> order) & 1);
    for (const pfn of held) if (!((pfn >> order) & 1)) this.releaseBlock(pfn, order);
    let released = false;
    return {
      nid,
      order,
      pinnedPages: pinned.length << order,
      release: () => {
        if (released) return;
        released = true;
        for (const pfn of pinned) this.releaseBlock(pfn, order);
      },
    };
  }

  private releaseBlock(pfn: number, order: number): void {
    this.memmap.refcount[pfn] = 0;
    this.freePages(pfn, order);
  }
}
