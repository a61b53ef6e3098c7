/**
 * The lists that isolation takes folios from: the LRU and the active hugetlb list.
 *
 * Models the LRU calls of `include/linux/swap.h` (`folio_add_lru()`, `folio_isolate_lru()`,
 * `folio_putback_lru()`) over `struct lruvec` (`include/linux/mmzone.h`), and the hugetlb
 * counterparts of `include/linux/hugetlb.h` (`isolate_hugetlb()`, `folio_putback_hugetlb()`).
 * The lists themselves are `mm/swap.ts`.
 *
 * @module
 */
import type { FolioList } from "../lib/list";

/**
 * A list folios are isolated from for migration and put back on: the LRU calls of
 * `include/linux/swap.h` and their hugetlb counterparts of `include/linux/hugetlb.h`.
 *
 * @category Memory and folios
 */
export interface IsolationList {
  /**
   * Puts a folio on its list (`folio_add_lru()`, `mm/swap.c`, or a new hugetlb folio becoming
   * migratable).
   */
  add(head: number): void;
  /**
   * Takes a folio off its list with a reference (`folio_isolate_lru()`, `mm/vmscan.c`;
   * `isolate_hugetlb()`, `mm/hugetlb.c`).
   * False when it is not on one: already isolated, or never added.
   */
  isolate(head: number): boolean;
  /**
   * Returns an isolated folio and drops the isolation reference (`folio_putback_lru()`,
   * `mm/vmscan.c`).
   */
  putback(head: number): void;
}

/**
 * The LRU lists of one kernel, one per node (`struct lruvec`, `include/linux/mmzone.h`), marked by
 * `PG_lru`.
 *
 * @category Memory and folios
 */
export interface Lru extends IsolationList {
  /** One list per node. */
  readonly lists: readonly FolioList[];
  /** Folios on a node's LRU, counted by walking it; 0 for a node that does not exist. */
  count(nid: number): number;
}

/**
 * The active hugetlb folios (`hstate->hugepage_activelist`, `include/linux/hugetlb.h`), marked
 * by `HPG_migratable`. Hugetlb folios are not on the LRU; migration isolates them from this list
 * instead.
 *
 * @category Memory and folios
 */
export interface HugetlbActive extends IsolationList {
  /** The list, linked through `folio->lru`. */
  readonly list: FolioList;
}
