/**
 * Folio references and the LRU lists.
 *
 * Models `mm/swap.c` (`folio_get`, `folio_put`, `__folio_put`, `folio_add_lru`,
 * `folio_putback_lru`) and `folio_isolate_lru()` from `mm/vmscan.c`. Each node has one LRU list;
 * a folio on it has `PG_lru` set. The LRU holds no reference. Isolating a folio takes it off the
 * list and takes a reference, which is how migration holds the folios it works on.
 *
 * @module
 */
import type { Kernel } from "../kernel";
import { FolioList } from "../lib/list";
import { PG_hugetlb_migratable, PG_lru, PG_mlocked } from "./page_flags";

/** The LRU lists of one kernel, one per node (`lruvec`). */
export class Lru {
  /** One list per node. */
  readonly lists: FolioList[];
  constructor(private readonly k: Kernel) {
    this.lists = k.mem.nodes.map(() => new FolioList(k.memmap.lru));
  }

  /** `folio_add_lru()`: puts a new folio on its node's LRU. */
  add(head: number): void {
    const m = this.k.memmap;
    m.set(head, PG_lru);
    this.lists[this.k.mem.pfnToNid(head)]!.addTail(head);
  }

  /**
   * `folio_isolate_lru()`: takes a folio off the LRU and takes a reference. False when the folio
   * is not on an LRU (already isolated, or never added).
   */
  isolate(head: number): boolean {
    const m = this.k.memmap;
    if (!m.testAndClear(head, PG_lru)) return false;
    m.lru.del(head);
    m.refcount[head]!++;
    return true;
  }

  /** `folio_putback_lru()`: returns an isolated folio to the LRU and drops the isolation reference. */
  putback(head: number): void {
    this.add(head);
    folioPut(this.k, head);
  }

  /** Folios on a node's LRU, counted by walking it. */
  count(nid: number): number {
    return this.lists[nid]!.count();
  }
}

/**
 * The active hugetlb folios (`hstate->hugepage_activelist`). Hugetlb folios are not on the LRU;
 * migration isolates them from this list instead (`isolate_hugetlb`).
 */
export class HugetlbActive {
  /** The list, linked through `folio->lru`. */
  readonly list: FolioList;
  constructor(private readonly k: Kernel) {
    this.list = new FolioList(k.memmap.lru);
  }

  /** Adds a new hugetlb folio, migratable. */
  add(head: number): void {
    this.k.memmap.set(head, PG_hugetlb_migratable);
    this.list.addTail(head);
  }

  /** `isolate_hugetlb()`: takes a migratable folio off the list with a reference. */
  isolate(head: number): boolean {
    const m = this.k.memmap;
    if (!m.testAndClear(head, PG_hugetlb_migratable)) return false;
    m.lru.del(head);
    m.refcount[head]!++;
    return true;
  }

  /** `folio_putback_hugetlb()`: returns an isolated folio and drops the isolation reference. */
  putback(head: number): void {
    this.add(head);
    folioPut(this.k, head);
  }
}

/** `folio_get()`: takes a reference. */
export const folioGet = (k: Kernel, head: number): void => {
  k.memmap.refcount[head]!++;
};

/**
 * `folio_put()`: drops a reference; the last one frees the folio (`__folio_put`): off the LRU,
 * anonymous mapping cleared, pages back to the buddy allocator.
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
  m.clear(head, PG_mlocked);
  if (m.mapping[head]! < 0) m.mapping[head] = 0;
  k.pageAlloc.freePages(head, m.folioOrder(head));
};
