/**
 * Folio references and the LRU lists.
 *
 * Models `mm/swap.c` (`folio_get`, `folio_put`, `__folio_put`, `folio_add_lru`,
 * `folio_putback_lru`) and `folio_isolate_lru()` from `mm/vmscan.c`. Each node has one `lruvec`:
 * the inactive and active anon and file lists and the unevictable list (`enum lru_list`); a folio
 * on one has `PG_lru` set, and which one follows its flags (`folio_lru_list()`,
 * `include/linux/mm_inline.h`). The LRU holds no reference. Isolating a folio takes it off its
 * list and takes a reference, which is how migration and reclaim hold the folios they work on.
 *
 * @module
 */
import type { Kernel } from "../include/kernel";
import {
  PG_active,
  PG_dirty,
  PG_hugetlb,
  PG_hugetlb_migratable,
  PG_locked,
  PG_lru,
  PG_mlocked,
  PG_partially_mapped,
  PG_swapbacked,
  PG_unevictable,
} from "../include/page_flags";
import {
  type HugetlbActive,
  type IsolationList,
  LRU_ACTIVE_ANON,
  LRU_INACTIVE_ANON,
  LRU_INACTIVE_FILE,
  LRU_UNEVICTABLE,
  type Lru,
  NR_LRU_LISTS,
} from "../include/swap";
import { FolioList } from "../lib/list";

/**
 * Lists that migration isolates folios from. A flag bit says a folio is on one; isolating takes
 * it off with a reference, putting back returns it and drops that reference. The LRU and the
 * hugetlb active list both work this way.
 */
abstract class IsolationLists implements IsolationList {
  constructor(
    protected readonly k: Kernel,
    private readonly flag: number,
  ) {}

  /** The list a folio belongs on. */
  protected abstract listOf(head: number): FolioList;

  /** Puts a folio on its list (`folio_add_lru`, or a new hugetlb folio becoming migratable). */
  add(head: number): void {
    this.k.memmap.set(head, this.flag);
    this.listOf(head).addTail(head);
  }

  /**
   * Takes a folio off its list with a reference (`folio_isolate_lru`, `folio_isolate_hugetlb`).
   * False when it is not on one: already isolated, or never added.
   */
  isolate(head: number): boolean {
    const m = this.k.memmap;
    if (!m.testAndClear(head, this.flag)) return false;
    m.lru.del(head);
    m.refcount[head]!++;
    return true;
  }

  /** Returns an isolated folio and drops the isolation reference (`folio_putback_lru`). */
  putback(head: number): void {
    this.add(head);
    folioPut(this.k, head);
  }
}

/**
 * `folio_lru_list()` (`include/linux/mm_inline.h`): the list a folio belongs on by its flags:
 * unevictable with `PG_unevictable`, else anon (swap-backed) or file, active or inactive.
 *
 * @category Reclaim
 */
export const folioLruList = (flags: number): number => {
  if (flags & PG_unevictable) return LRU_UNEVICTABLE;
  const base = flags & PG_swapbacked ? LRU_INACTIVE_ANON : LRU_INACTIVE_FILE;
  return base + (flags & PG_active ? LRU_ACTIVE_ANON - LRU_INACTIVE_ANON : 0);
};

/** The LRU lists of one kernel: one `lruvec` per node, marked by `PG_lru`. */
export class LruLists extends IsolationLists implements Lru {
  /** Per node, one list per `enum lru_list`. */
  readonly lists: FolioList[][];
  constructor(k: Kernel) {
    super(k, PG_lru);
    this.lists = k.mem.nodes.map(() =>
      Array.from({ length: NR_LRU_LISTS }, () => new FolioList(k.memmap.lru)),
    );
  }

  protected listOf(head: number): FolioList {
    return this.lists[this.k.mem.pfnToNid(head)]![folioLruList(this.k.memmap.flags[head]!)]!;
  }

  /** `lruvec_add_folio()`: at the head of its list, the youngest end. */
  override add(head: number): void {
    this.k.memmap.set(head, PG_lru);
    this.listOf(head).add(head);
  }

  folioAddLru(head: number): void {
    const m = this.k.memmap;
    const nr = m.folioNrPages(head);
    const wasUnevictable = m.testAndClear(head, PG_unevictable);
    if (!m.test(head, PG_mlocked)) {
      if (wasUnevictable) this.k.vmstat.count("unevictable_pgs_rescued", nr);
    } else {
      m.clear(head, PG_active);
      m.set(head, PG_unevictable);
      m.mlockCount[head] = 0;
      if (!wasUnevictable) this.k.vmstat.count("unevictable_pgs_culled", nr);
    }
    this.add(head);
  }

  /** `folio_putback_lru()`: back through {@link folioAddLru}, dropping the isolation reference. */
  override putback(head: number): void {
    this.folioAddLru(head);
    folioPut(this.k, head);
  }

  /** Folios on a node's lists, counted by walking them; 0 for a node that does not exist. */
  count(nid: number): number {
    return this.lists[nid]?.reduce((sum, list) => sum + list.count(), 0) ?? 0;
  }

  size(nid: number, lru: number): number {
    const list = this.lists[nid]?.[lru];
    if (!list) return 0;
    let pages = 0;
    for (const head of list) pages += this.k.memmap.folioNrPages(head);
    return pages;
  }
}

/**
 * `folio_rotate_reclaimable()` and `lru_move_tail()` (`mm/swap.c`, Linux 6.16), which
 * `folio_end_writeback()` runs on a folio reclaim marked `PG_reclaim`: a folio on the LRU that is
 * not locked, dirty or unevictable moves to the tail of its inactive list (`PG_active` cleared),
 * the end reclaim isolates from next, counting `pgrotated`. A folio off the LRU (isolated) stays
 * where it is.
 */
export const folioRotateReclaimable = (k: Kernel, head: number): void => {
  const m = k.memmap;
  if (m.test(head, PG_locked) || m.test(head, PG_dirty) || m.test(head, PG_unevictable)) return;
  if (!m.test(head, PG_lru)) return;
  m.lru.del(head);
  m.clear(head, PG_active);
  k.lru.lists[k.mem.pfnToNid(head)]![folioLruList(m.flags[head]!)]!.addTail(head);
  k.vmstat.count("pgrotated", m.folioNrPages(head));
};

/**
 * The active hugetlb folios (`hstate->hugepage_activelist`), marked by `HPG_migratable`.
 * Hugetlb folios are not on the LRU; migration isolates them from this list instead
 * (`folio_isolate_hugetlb`, `folio_putback_hugetlb`).
 */
export class HugetlbActiveList extends IsolationLists implements HugetlbActive {
  /** The list, linked through `folio->lru`. */
  readonly list: FolioList;
  constructor(k: Kernel) {
    super(k, PG_hugetlb_migratable);
    this.list = new FolioList(k.memmap.lru);
  }

  protected listOf(): FolioList {
    return this.list;
  }
}

/**
 * `folio_get()` (`include/linux/mm.h`): takes a reference.
 *
 * @category Memory and folios
 */
export const folioGet = (k: Kernel, head: number): void => {
  k.memmap.refcount[head]!++;
};

/**
 * `folio_put()` (`include/linux/mm.h`): drops a reference; the last one frees the folio
 * (`__folio_put()`, `mm/swap.c`): off the LRU and the deferred split queue, anonymous mapping
 * cleared, pages back to the buddy allocator, or a hugetlb folio to its pool
 * (`free_huge_folio()`, `mm/hugetlb.c`).
 *
 * @category Memory and folios
 */
export const folioPut = (k: Kernel, head: number): void => {
  const m = k.memmap;
  const ref = --m.refcount[head]!;
  if (ref > 0) return;
  if (ref < 0) {
    m.refcount[head] = 0;
    k.reportBadPage(head, "folio_put on a folio with no references");
    return;
  }
  if (m.testAndClear(head, PG_lru | PG_hugetlb_migratable)) m.lru.del(head);
  // folio_unqueue_deferred_split(): a folio of order 0 or 1 is never queued (no _deferred_list);
  // a queued one leaves the queue no longer partially mapped.
  if (m.folioOrder(head) > 1) {
    k.deferredSplitQueue.delete(head);
    if (m.testAndClear(head, PG_partially_mapped))
      k.thp.modMthpStat(m.folioOrder(head), "nr_anon_partially_mapped", -1);
  }
  // __folio_clear_lru_flags(): the LRU flags go with the folio's last reference; an mlocked
  // folio is munlocked here, counted as unevictable_pgs_cleared (__page_cache_release()).
  m.clear(head, PG_active | PG_unevictable);
  if (m.testAndClear(head, PG_mlocked))
    k.vmstat.count("unevictable_pgs_cleared", m.folioNrPages(head));
  if (m.test(head, PG_hugetlb)) {
    // folio_hstate(): the pool of the folio's size.
    k.hstates.find((h) => h.order === m.folioOrder(head))!.freeHugeFolio(head);
    return;
  }
  k.pageAlloc.freePages(head, m.folioOrder(head));
};

/**
 * Drops the block a slow-path allocation got for a caller that did not take it (`folio_put()`):
 * the page of a `DirectCompact` (a fault's retry, a reservation's `SurplusGather`) or of a
 * `HugetlbReplacement`, once the fault, reservation or scan it was for is over or
 * wants another order. `holder.page` is the block's head pfn, or -1 for none; it is -1 after.
 *
 * @category Memory and folios
 */
export const putSlowpathPage = (k: Kernel, holder: { page: number }): void => {
  if (holder.page >= 0) folioPut(k, holder.page);
  holder.page = -1;
};
