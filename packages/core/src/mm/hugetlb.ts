/**
 * The hugetlb pool.
 *
 * Models `mm/hugetlb.c` (Linux 6.16) for the PMD-sized huge pages (`default_hstate`,
 * 2 MiB with 4 KiB pages). Huge pages are taken from the buddy allocator ahead of use and kept in
 * per-node free lists:
 *
 * - **Pool size**: writing `/proc/sys/vm/nr_hugepages` or a `nr_hugepages` file of
 *   `/sys/kernel/mm/hugepages/hugepages-<size>kB/` (or a node's) runs `set_max_huge_pages()`:
 *   growing allocates fresh huge pages node by node, round-robin over the nodes allowed
 *   (`for_each_node_mask_to_alloc`), each with `__GFP_THISNODE` and direct compaction when no
 *   free block of the order is left; a node that failed once is asked with `__GFP_NORETRY` for the
 *   rest of the write. Shrinking frees free huge pages round-robin (`for_each_node_mask_to_free`)
 *   and turns pages in use into surplus ones that leave when freed. Reading gives what was
 *   achieved.
 * - **Reservations**: a private `MAP_HUGETLB` mapping reserves its huge pages at `mmap()`
 *   (`hugetlb_reserve_pages()`, `hugetlb_acct_memory()`); a mapping the pool cannot cover fails
 *   with `ENOMEM`. A fault consumes its page's reservation; unmapping returns what was not used.
 * - **Overcommit**: with `nr_overcommit_hugepages` above 0, reservations and faults may allocate
 *   surplus huge pages beyond the pool, freed again when their last user goes.
 * - **Migration**: a hugetlb folio's destination is a free huge page of the target node
 *   (`alloc_hugetlb_folio_nodemask()`), or a fresh temporary one when none is free; after the
 *   move the source goes back to its node's free list, or, when it became the temporary one, to
 *   the buddy allocator (`move_hugetlb_state()`).
 * - **Dissolving**: a free huge page can be broken up into base pages again
 *   (`dissolve_free_hugetlb_folio()`), as soft offline does.
 *
 * Gigantic pages (the PUD size) and hugetlbfs files are not modelled.
 *
 * @module
 */
import { Effect } from "effect";
import { ERRNO, type ErrnoError, errno } from "../errno";
import type { DirectCompact } from "../include/compaction";
import {
  __GFP_COMP,
  __GFP_NORETRY,
  __GFP_NOWARN,
  __GFP_RETRY_MAYFAIL,
  __GFP_THISNODE,
  GFP_HIGHUSER_MOVABLE,
} from "../include/gfp";
import type { Hstate } from "../include/hugetlb";
import { HugetlbResvMap } from "../include/hugetlb";
import type { Kernel } from "../include/kernel";
import type { KObject } from "../include/kernfs";
import {
  type MigrateReason,
  MR_MEMORY_FAILURE,
  MR_MEMORY_HOTPLUG,
  MR_MEMPOLICY_MBIND,
  MR_SYSCALL,
} from "../include/migrate_mode";
import type { Vma } from "../include/mm_types";
import { PG_has_hwpoisoned, PG_head, PG_hugetlb, PG_hwpoison } from "../include/page_flags";
import { kstrtoull } from "../lib/kstrtox";
import { FolioList } from "../lib/list";
import { directCompact } from "./compaction";

/** `NUMA_NO_NODE` (`include/linux/numa.h`): a request for no particular node. */
const NUMA_NO_NODE = -1;

/**
 * `htlb_alloc_mask()` (`include/linux/hugetlb.h`): huge pages are movable
 * (`hugepage_movable_supported()`), so they come from movable pageblocks with reclaim allowed.
 */
const htlbAllocMask = (): number => GFP_HIGHUSER_MOVABLE;

/** The flags a free pool page keeps: it stays a compound hugetlb folio. */
const POOL_FLAGS = PG_head | PG_hugetlb | PG_hwpoison;

/**
 * The pool of one huge page size: `struct hstate` and the calls on it (`mm/hugetlb.c`). Counts are
 * in huge pages; node arrays are indexed by node id.
 *
 * @category Hugetlb
 */
export class HugetlbPool implements Hstate {
  readonly order: number;
  readonly name: string;
  nrHugePages = 0;
  freeHugePages = 0;
  resvHugePages = 0;
  surplusHugePages = 0;
  nrOvercommitHugePages = 0;
  /** `max_huge_pages`: the persistent size last asked for and achieved. */
  maxHugePages = 0;
  readonly nrHugePagesNode: number[];
  readonly freeHugePagesNode: number[];
  readonly surplusHugePagesNode: number[];
  readonly hugepageFreelists: FolioList[];
  /** `next_nid_to_alloc` and `next_nid_to_free`: the round-robin cursors. */
  private nextNidToAlloc = 0;
  private nextNidToFree = 0;
  /** Folios with `HPG_temporary`: allocated for a migration, outside the pool's counts. */
  private readonly temporary = new Set<number>();

  constructor(private readonly k: Kernel) {
    this.order = k.pmdOrder;
    this.name = `hugepages-${(k.mem.pageSize * 2 ** this.order) / 1024}kB`;
    const nodes = k.mem.nodes.length;
    this.nrHugePagesNode = new Array<number>(nodes).fill(0);
    this.freeHugePagesNode = new Array<number>(nodes).fill(0);
    this.surplusHugePagesNode = new Array<number>(nodes).fill(0);
    this.hugepageFreelists = k.mem.nodes.map(() => new FolioList(k.memmap.lru));
  }

  /** `persistent_huge_pages()`: the pool without its surplus. */
  get persistentHugePages(): number {
    return this.nrHugePages - this.surplusHugePages;
  }

  /** `available_huge_pages()`: free huge pages nobody has reserved. */
  get availableHugePages(): number {
    return this.freeHugePages - this.resvHugePages;
  }

  /** Huge page size in bytes (`huge_page_size()`). */
  get size(): number {
    return this.k.mem.pageSize * 2 ** this.order;
  }

  /** True when `head` is a free page of the pool (`folio_test_hugetlb_freed()`). */
  isFree(head: number): boolean {
    const m = this.k.memmap;
    return m.test(head, PG_hugetlb) && m.refcount[head] === 0 && m.lru.isLinked(head);
  }

  /** `enqueue_hugetlb_folio()`: onto its node's free list. */
  private enqueue(head: number): void {
    const nid = this.k.mem.pfnToNid(head);
    this.hugepageFreelists[nid]!.addTail(head);
    this.freeHugePages++;
    this.freeHugePagesNode[nid]!++;
  }

  /**
   * `dequeue_hugetlb_folio_node_exact()`: the first free huge page of `nid` without a poisoned
   * page, with one reference, or -1.
   */
  private dequeueNodeExact(nid: number): number {
    const m = this.k.memmap;
    for (const head of this.hugepageFreelists[nid] ?? []) {
      if (m.test(head, PG_has_hwpoisoned)) continue;
      this.hugepageFreelists[nid]!.del(head);
      this.freeHugePages--;
      this.freeHugePagesNode[nid]!--;
      m.refcount[head] = 1;
      return head;
    }
    return -1;
  }

  /**
   * `dequeue_hugetlb_folio_nodemask()`: a free huge page from `nid`'s zonelist restricted to
   * `nodemask`, or from `nid` alone with `__GFP_THISNODE`; -1 when none.
   */
  dequeueNodemask(nid: number, nodemask: readonly number[] | null, gfp: number): number {
    const from = nid === NUMA_NO_NODE ? 0 : nid;
    const nodes =
      gfp & __GFP_THISNODE
        ? [from]
        : (this.k.pageAlloc.zonelists[from] ?? []).filter((n) => !nodemask || nodemask.includes(n));
    for (const node of nodes) {
      const head = this.dequeueNodeExact(node);
      if (head >= 0) return head;
    }
    return -1;
  }

  /**
   * `alloc_fresh_hugetlb_folio()`: a huge page from the buddy allocator, counted in the pool
   * (`account_new_hugetlb_folio()`), with one reference; -1 when the allocator has none.
   */
  allocFresh(nid: number, gfp: number, nodemask: readonly number[] | null): number {
    const k = this.k;
    const from = nid === NUMA_NO_NODE ? 0 : nid;
    const head = k.pageAlloc.allocPages(from, this.order, gfp | __GFP_COMP, nodemask);
    if (head < 0) return -1;
    this.prepNew(head);
    return head;
  }

  /** `init_new_hugetlb_folio()` and `account_new_hugetlb_folio()` on a fresh compound block. */
  private prepNew(head: number): void {
    this.k.memmap.set(head, PG_hugetlb);
    this.nrHugePages++;
    this.nrHugePagesNode[this.k.mem.pfnToNid(head)]!++;
  }

  /**
   * `remove_hugetlb_folio()`: takes a folio out of the pool's counts (and off the free list when
   * it is there); with `adjustSurplus` it was a surplus page.
   */
  private remove(head: number, adjustSurplus: boolean): void {
    const nid = this.k.mem.pfnToNid(head);
    if (this.isFree(head)) {
      this.hugepageFreelists[nid]!.del(head);
      this.freeHugePages--;
      this.freeHugePagesNode[nid]!--;
    }
    if (adjustSurplus) {
      this.surplusHugePages--;
      this.surplusHugePagesNode[nid]!--;
    }
    this.nrHugePages--;
    this.nrHugePagesNode[nid]!--;
  }

  /** `update_and_free_hugetlb_folio()`: no longer hugetlb, back to the buddy allocator. */
  private updateAndFree(head: number): void {
    const m = this.k.memmap;
    m.clear(head, PG_hugetlb);
    m.refcount[head] = 0;
    this.temporary.delete(head);
    this.k.pageAlloc.freePages(head, this.order);
  }

  freeHugeFolio(head: number): void {
    const k = this.k;
    const m = k.memmap;
    const nid = k.mem.pfnToNid(head);
    // What __folio_put() and free_huge_folio() clear: the mapping, index and page flags.
    if (m.mapping[head]! < 0) m.mapping[head] = 0;
    m.index[head] = 0;
    m.flags[head]! &= POOL_FLAGS | PG_has_hwpoisoned;
    if (this.temporary.has(head)) {
      // Not counted as surplus; nr_huge_pages counted it since its allocation.
      this.remove(head, false);
      this.updateAndFree(head);
    } else if (this.surplusHugePagesNode[nid]! > 0) {
      this.remove(head, true);
      this.updateAndFree(head);
    } else if (m.test(head, PG_has_hwpoisoned)) {
      // A folio memory_failure() poisoned is dissolved at once (__page_handle_poison()), its
      // good pages going back to the buddy allocator, the poisoned ones kept out.
      this.remove(head, false);
      this.maxHugePages--;
      this.updateAndFree(head);
    } else {
      this.enqueue(head);
    }
  }

  moveHugetlbState(src: number, dst: number): void {
    if (!this.temporary.has(dst)) return;
    this.temporary.delete(dst);
    this.temporary.add(src);
    const oldNid = this.k.mem.pfnToNid(src);
    const newNid = this.k.mem.pfnToNid(dst);
    if (oldNid === newNid) return;
    if (this.surplusHugePagesNode[oldNid]! > 0) {
      this.surplusHugePagesNode[oldNid]!--;
      this.surplusHugePagesNode[newNid]!++;
    }
  }

  /** Marks a folio `HPG_temporary` (`folio_set_hugetlb_temporary()`). */
  setTemporary(head: number): void {
    this.temporary.add(head);
  }

  /**
   * `hstate_next_node_to_alloc()` / `hstate_next_node_to_free()`: the node under a cursor (moved
   * into `nodes` if outside it), and the cursor advanced to the next node of `nodes`.
   */
  private nextNode(cursor: "alloc" | "free", nodes: readonly number[]): number {
    const at = cursor === "alloc" ? this.nextNidToAlloc : this.nextNidToFree;
    const nid = nodes.includes(at) ? at : (nodes.find((n) => n > at) ?? nodes[0]!);
    const next = nodes.find((n) => n > nid) ?? nodes[0]!;
    if (cursor === "alloc") this.nextNidToAlloc = next;
    else this.nextNidToFree = next;
    return nid;
  }

  /**
   * `alloc_pool_huge_folio()`: one fresh huge page for the pool, on the first node of `nodes`
   * (round-robin from the alloc cursor) that has one, with `__GFP_THISNODE`. Each node's
   * allocation compacts directly when no free block of the order is left (the allocator's slow
   * path for a costly order); with `__GFP_NORETRY` (a node that failed before, in `noretry`) it
   * stops after the asynchronous try. The page is freed into the pool. False when no node had
   * one.
   */
  allocPoolHugeFolio(
    nodes: readonly number[],
    noretry: Set<number>,
  ): Effect.Effect<boolean, ErrnoError> {
    const self = this;
    return Effect.gen(function* () {
      for (let i = 0; i < nodes.length; i++) {
        const nid = self.nextNode("alloc", nodes);
        // alloc_buddy_hugetlb_folio(): __GFP_RETRY_MAYFAIL, or __GFP_NORETRY for a node that
        // failed already in this request (node_alloc_noretry).
        const gfp =
          htlbAllocMask() |
          __GFP_THISNODE |
          __GFP_COMP |
          __GFP_NOWARN |
          (noretry.has(nid) ? __GFP_NORETRY : __GFP_RETRY_MAYFAIL);
        let head = self.k.pageAlloc.allocPages(nid, self.order, gfp);
        if (head < 0) {
          const dc: DirectCompact = {
            request: { nid, order: self.order, gfp, nodemask: null },
            tried: false,
            reclaimTried: false,
            page: -1,
            misplaced: null,
          };
          yield* directCompact(self.k, dc);
          head = dc.page;
        }
        if (head < 0) {
          noretry.add(nid);
          continue;
        }
        noretry.delete(nid);
        self.prepNew(head);
        self.k.memmap.refcount[head] = 0;
        self.freeHugeFolio(head);
        return true;
      }
      return false;
    });
  }

  /**
   * `adjust_pool_surplus()`: turns one pool page of `nodes` into a surplus one (`delta` 1, on a
   * node with pages that are not all surplus, by the free cursor) or one surplus page back into
   * a persistent one (`delta` -1, by the alloc cursor). False when no node qualifies.
   */
  private adjustPoolSurplus(nodes: readonly number[], delta: 1 | -1): boolean {
    for (let i = 0; i < nodes.length; i++) {
      const nid = this.nextNode(delta < 0 ? "alloc" : "free", nodes);
      const ok =
        delta < 0
          ? this.surplusHugePagesNode[nid]! > 0
          : this.surplusHugePagesNode[nid]! < this.nrHugePagesNode[nid]!;
      if (!ok) continue;
      this.surplusHugePages += delta;
      this.surplusHugePagesNode[nid]! += delta;
      return true;
    }
    return false;
  }

  /**
   * `remove_pool_hugetlb_folio()`: takes one free huge page off a node of `nodes` (by the free
   * cursor), only from a node with surplus pages when `acctSurplus`; -1 when none.
   */
  private removePoolHugetlbFolio(nodes: readonly number[], acctSurplus: boolean): number {
    for (let i = 0; i < nodes.length; i++) {
      const nid = this.nextNode("free", nodes);
      if (acctSurplus && this.surplusHugePagesNode[nid] === 0) continue;
      const head = this.hugepageFreelists[nid]!.first;
      if (head < 0) continue;
      this.remove(head, acctSurplus);
      return head;
    }
    return -1;
  }

  /**
   * `dissolve_free_hugetlb_folio()`: see {@link dissolveFreeHugetlbFolio}; `head` is a folio's
   * head.
   */
  dissolveFree(head: number): number {
    const m = this.k.memmap;
    if (!m.test(head, PG_hugetlb)) return 0;
    if (!this.isFree(head) || this.availableHugePages <= 0) return -ERRNO.EBUSY;
    this.remove(head, this.surplusHugePagesNode[this.k.mem.pfnToNid(head)]! > 0);
    this.maxHugePages--;
    this.updateAndFree(head);
    return 0;
  }

  /**
   * `set_max_huge_pages()`: resizes the persistent pool to `count` huge pages, or, for one node
   * (`nid`), to `count` on that node with the other nodes unchanged. Growing first turns surplus
   * pages into persistent ones, then allocates round-robin over the nodes until `count` or until
   * no node has a huge page left; shrinking never goes below the pages in use and reserved: it
   * frees free pages and turns the rest into surplus pages.
   */
  setMaxHugePages(count: number, nid: number): Effect.Effect<void, ErrnoError> {
    const self = this;
    return Effect.gen(function* () {
      const k = self.k;
      if (nid !== NUMA_NO_NODE) {
        // The node's count becomes `count`; the rest of the pool stays as it is.
        const old = count;
        count +=
          self.persistentHugePages - (self.nrHugePagesNode[nid]! - self.surplusHugePagesNode[nid]!);
        if (count < old) count = Number.MAX_SAFE_INTEGER;
      }
      const nodes =
        nid === NUMA_NO_NODE
          ? k.mem.nodes.filter((n) => n.presentPages > 0).map((n) => n.nid)
          : [nid];
      while (self.surplusHugePages && count > self.persistentHugePages) {
        if (!self.adjustPoolSurplus(nodes, -1)) break;
      }
      const noretry = new Set<number>();
      while (count > self.persistentHugePages) {
        if (!(yield* self.allocPoolHugeFolio(nodes, noretry))) break;
      }
      const minCount = Math.max(count, self.resvHugePages + self.nrHugePages - self.freeHugePages);
      while (minCount < self.persistentHugePages) {
        const head = self.removePoolHugetlbFolio(nodes, false);
        if (head < 0) break;
        self.updateAndFree(head);
      }
      while (count < self.persistentHugePages) {
        if (!self.adjustPoolSurplus(nodes, 1)) break;
      }
      self.maxHugePages = self.persistentHugePages;
    });
  }

  /**
   * `alloc_surplus_hugetlb_folio()`: a fresh huge page counted as surplus, when
   * `nr_overcommit_hugepages` allows one more; -1 otherwise.
   */
  allocSurplus(nid: number, nodemask: readonly number[] | null): number {
    if (this.surplusHugePages >= this.nrOvercommitHugePages) return -1;
    const head = this.allocFresh(nid, htlbAllocMask(), nodemask);
    if (head < 0) return -1;
    this.surplusHugePages++;
    this.surplusHugePagesNode[this.k.mem.pfnToNid(head)]!++;
    return head;
  }

  /**
   * `gather_surplus_pages()`: makes room for `delta` more reservations, allocating surplus pages
   * into the pool for what the free pages do not cover. `ENOMEM`, with nothing changed, when
   * overcommit or the allocator refuses.
   */
  private gatherSurplusPages(delta: number, nid: number): 0 | ErrnoError {
    const needed = this.resvHugePages + delta - this.freeHugePages;
    if (needed <= 0) {
      this.resvHugePages += delta;
      return 0;
    }
    const got: number[] = [];
    for (let i = 0; i < needed; i++) {
      const head = this.allocSurplus(nid, null);
      if (head < 0) break;
      got.push(head);
    }
    // The fresh pages (each with its reference) join the free lists; free_huge_folio() sends
    // surplus ones back to the buddy allocator when the request fails.
    if (got.length < needed) {
      for (const head of got) {
        this.k.memmap.refcount[head] = 0;
        this.freeHugeFolio(head);
      }
      return errno(
        "ENOMEM",
        `hugetlb: ${delta} huge pages to reserve, ${this.availableHugePages} free and ` +
          `unreserved, and no more surplus pages (nr_overcommit_hugepages ${this.nrOvercommitHugePages})`,
      );
    }
    this.resvHugePages += delta;
    for (const head of got) {
      this.k.memmap.refcount[head] = 0;
      this.enqueue(head);
    }
    return 0;
  }

  /**
   * `return_unused_surplus_pages()`: drops `unused` reservations and frees as many free surplus
   * pages as that leaves unneeded.
   */
  private returnUnusedSurplusPages(unused: number): void {
    this.resvHugePages -= unused;
    const all = this.k.mem.nodes.map((n) => n.nid);
    for (let n = Math.min(unused, this.surplusHugePages); n > 0; n--) {
      const head = this.removePoolHugetlbFolio(all, true);
      if (head < 0) return;
      this.updateAndFree(head);
    }
  }

  /**
   * `hugetlb_acct_memory()`: reserves `delta` huge pages (positive) or returns them (negative).
   * `ENOMEM` when the pool (with overcommit) cannot cover a reservation, or when more is
   * reserved than the free pages of the nodes hold (`allowed_mems_nr()`).
   */
  acctMemory(delta: number, nid: number): 0 | ErrnoError {
    if (delta > 0) {
      const gathered = this.gatherSurplusPages(delta, nid);
      if (gathered !== 0) return gathered;
      const allowed = this.freeHugePagesNode.reduce((s, n) => s + n, 0);
      if (delta > allowed) {
        this.returnUnusedSurplusPages(delta);
        return errno("ENOMEM", `hugetlb: ${delta} huge pages to reserve, ${allowed} free`);
      }
    }
    if (delta < 0) this.returnUnusedSurplusPages(-delta);
    return 0;
  }
}

/** The pool of a kernel, as `mm/hugetlb.ts` built it. */
const poolOf = (k: Kernel): HugetlbPool => k.hstate as HugetlbPool;

/** `vma_hugecache_offset()`: the huge page index of `slot` of a hugetlb VMA. */
const hugeIndex = (k: Kernel, vma: Vma, slot: number): number =>
  Math.floor((vma.pgoff + slot) / 2 ** k.hstate.order);

/**
 * `hugetlb_reserve_pages()` (`mm/hugetlb.c`) for a private hugetlb mapping: reserves one huge
 * page per huge page of `vma` (`hugetlb_acct_memory()`), records them in a new reservation map
 * owned by the VMA, and fails with `ENOMEM`, reserving nothing, when the pool cannot cover them.
 * `nid` is the node surplus pages are allocated on (`numa_mem_id()`).
 *
 * @category Hugetlb
 */
export const hugetlbReservePages = (k: Kernel, vma: Vma, nid: number): 0 | ErrnoError => {
  const chg = vma.nrPages / 2 ** k.hstate.order;
  const rc = poolOf(k).acctMemory(chg, nid);
  if (rc !== 0) return rc;
  const map = new HugetlbResvMap();
  const first = hugeIndex(k, vma, 0);
  for (let i = 0; i < chg; i++) map.reserved.add(first + i);
  vma.hugetlbResv = map;
  return 0;
};

/**
 * `hugetlb_vm_op_close()` (`mm/hugetlb.c`): a VMA owning reservations goes away; the ones in its
 * range that no fault consumed are returned (`hugetlb_acct_memory()` with a negative count).
 *
 * @category Hugetlb
 */
export const hugetlbVmOpClose = (k: Kernel, vma: Vma): void => {
  const map = vma.hugetlbResv;
  if (!map) return;
  const first = hugeIndex(k, vma, 0);
  const last = hugeIndex(k, vma, vma.nrPages);
  let unused = 0;
  for (let i = first; i < last; i++) if (map.reserved.delete(i)) unused++;
  vma.hugetlbResv = null;
  if (unused) poolOf(k).acctMemory(-unused, NUMA_NO_NODE);
};

/**
 * `alloc_hugetlb_folio()` (`mm/hugetlb.c`) for a fault at `slot` of a private hugetlb VMA: a
 * reserved page is dequeued from the pool (nearest node first from `nid`, within `nodemask`) and
 * its reservation consumed; an unreserved one only if a free page is not promised to anyone, or
 * as a surplus page when overcommit allows. The folio is zeroed (`folio_zero_user()`) and has one
 * reference. -1 when there is none.
 *
 * @category Hugetlb
 */
export const allocHugetlbFolio = (
  k: Kernel,
  vma: Vma,
  slot: number,
  nid: number,
  nodemask: readonly number[] | null,
): number => {
  const pool = poolOf(k);
  const idx = hugeIndex(k, vma, slot);
  const reserved = vma.hugetlbResv?.reserved.has(idx) === true;
  let head = -1;
  if (reserved || pool.availableHugePages > 0) {
    head = pool.dequeueNodemask(nid, nodemask, htlbAllocMask());
    if (head >= 0 && reserved) {
      pool.resvHugePages--;
      vma.hugetlbResv!.reserved.delete(idx);
    }
  }
  if (head < 0) head = pool.allocSurplus(nid, nodemask);
  if (head < 0) return -1;
  k.mem.clearPages(head, 2 ** pool.order);
  return head;
};

/**
 * `htlb_allow_alloc_fallback()` (`mm/hugetlb.c`): the reasons whose migration may take a fresh
 * huge page from another node than the one asked for (memory offlining, memory failure, the
 * system calls); the others keep the per-node pool intact with `__GFP_THISNODE`.
 */
const htlbAllowAllocFallback = (reason: MigrateReason): boolean =>
  reason === MR_MEMORY_HOTPLUG ||
  reason === MR_MEMORY_FAILURE ||
  reason === MR_SYSCALL ||
  reason === MR_MEMPOLICY_MBIND;

/**
 * `alloc_hugetlb_folio_nodemask()` (`mm/hugetlb.c`), as `alloc_migration_target()` calls it for a
 * hugetlb source: a free huge page nobody has reserved, from `nid` (only, with `__GFP_THISNODE`;
 * else nearest first within `nodemask`); when there is none, a fresh temporary huge page from the
 * buddy allocator (`alloc_migrate_hugetlb_folio()`), on `nid` only unless `reason` allows a
 * fallback. Returns the head with one reference, or -1.
 *
 * @category Hugetlb
 */
export const allocHugetlbFolioNodemask = (
  k: Kernel,
  nid: number,
  nodemask: readonly number[] | null,
  gfp: number,
  reason: MigrateReason,
): number => {
  const pool = poolOf(k);
  // htlb_modify_alloc_mask(): the pool's mask, with the caller's __GFP_THISNODE and __GFP_NOWARN.
  const mask = htlbAllocMask() | (gfp & (__GFP_THISNODE | __GFP_NOWARN));
  if (pool.availableHugePages > 0) {
    const head = pool.dequeueNodemask(nid, nodemask, mask);
    if (head >= 0) return head;
  }
  const fresh = htlbAllowAllocFallback(reason) ? mask : mask | __GFP_THISNODE;
  const head = pool.allocFresh(nid, fresh, nodemask);
  if (head < 0) return -1;
  pool.setTemporary(head);
  return head;
};

/**
 * `dissolve_free_hugetlb_folio()` (`mm/hugetlb.c`): breaks the free huge page holding `pfn` up
 * into base pages for the buddy allocator, shrinking the pool by one. 0 when done or when `pfn`
 * is not in a hugetlb folio; `-EBUSY` when the folio is in use, or when every free page is
 * reserved (`available_huge_pages()` is 0).
 *
 * @category Hugetlb
 */
export const dissolveFreeHugetlbFolio = (k: Kernel, pfn: number): number =>
  poolOf(k).dissolveFree(k.memmap.folioOf(pfn));

/**
 * `hugetlb_report_meminfo()` (`mm/hugetlb.c`): the hugetlb lines of `/proc/meminfo`.
 *
 * @category Hugetlb
 */
export const hugetlbReportMeminfo = (k: Kernel): string => {
  const h = k.hstate;
  const sizeKb = (k.mem.pageSize * 2 ** h.order) / 1024;
  const n = (v: number) => v.toString().padStart(5);
  return (
    `HugePages_Total:   ${n(h.nrHugePages)}\n` +
    `HugePages_Free:    ${n(h.freeHugePages)}\n` +
    `HugePages_Rsvd:    ${n(h.resvHugePages)}\n` +
    `HugePages_Surp:    ${n(h.surplusHugePages)}\n` +
    `Hugepagesize:   ${sizeKb.toString().padStart(8)} kB\n` +
    `Hugetlb:        ${(sizeKb * h.nrHugePages).toString().padStart(8)} kB\n`
  );
};

/**
 * `hugetlb_report_node_meminfo()` (`mm/hugetlb.c`): the hugetlb lines of a node's `meminfo`.
 *
 * @category Hugetlb
 */
export const hugetlbReportNodeMeminfo = (k: Kernel, nid: number): string => {
  const h = k.hstate;
  const n = (v: number) => v.toString().padStart(5);
  return (
    `Node ${nid} HugePages_Total: ${n(h.nrHugePagesNode[nid]!)}\n` +
    `Node ${nid} HugePages_Free:  ${n(h.freeHugePagesNode[nid]!)}\n` +
    `Node ${nid} HugePages_Surp:  ${n(h.surplusHugePagesNode[nid]!)}\n`
  );
};

/**
 * Parses a count written to a pool file: `kstrtoul()` in base 10 for sysfs, base 0 after blanks
 * for the sysctl (as `proc_doulongvec_minmax()` parses). `EINVAL` for what is not a number,
 * `ERANGE` past 64 bits; a count past what a double holds exactly is clamped to the largest.
 */
const parseCount = (text: string, sysctl: boolean): number | ErrnoError => {
  const v = kstrtoull(sysctl ? text.trim() : text, sysctl ? 0 : 10);
  if (typeof v !== "bigint") return v;
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
};

/** `__nr_hugepages_store_common()`: parses a count and resizes the pool (or one node's part). */
const nrHugepagesStore =
  (k: Kernel, nid: number, sysctl: boolean) =>
  (text: string, count: number): number | Effect.Effect<number, ErrnoError> => {
    const n = parseCount(text, sysctl);
    if (typeof n !== "number") return n;
    return Effect.as(poolOf(k).setMaxHugePages(n, nid), count);
  };

/** The `nr_hugepages` and `nr_overcommit_hugepages` files of the whole pool. */
const poolAttributes = (k: Kernel, sysctl: boolean) => {
  const h = poolOf(k);
  return {
    nr_hugepages: {
      mode: 0o644,
      show: () => `${h.nrHugePages}\n`,
      store: nrHugepagesStore(k, NUMA_NO_NODE, sysctl),
    },
    nr_overcommit_hugepages: {
      mode: 0o644,
      show: () => `${h.nrOvercommitHugePages}\n`,
      // nr_overcommit_hugepages_store(): the limit is set.
      store: (text: string, count: number): number | ErrnoError => {
        const n = parseCount(text, sysctl);
        if (typeof n !== "number") return n;
        h.nrOvercommitHugePages = n;
        return count;
      },
    },
  };
};

/**
 * Creates the pool's files, as `hugetlb_init()`, `hugetlb_sysfs_init()`,
 * `hugetlb_register_all_nodes()` and `hugetlb_sysctl_init()` (`mm/hugetlb.c`) do:
 *
 * - `/proc/sys/vm/nr_hugepages` and `/proc/sys/vm/nr_overcommit_hugepages` (0644);
 * - `/sys/kernel/mm/hugepages/hugepages-<size>kB/` with `nr_hugepages`,
 *   `nr_overcommit_hugepages` (0644), `free_hugepages`, `resv_hugepages` and
 *   `surplus_hugepages` (0444);
 * - `/sys/devices/system/node/node<N>/hugepages/hugepages-<size>kB/` with `nr_hugepages` (0644),
 *   `free_hugepages` and `surplus_hugepages` (0444).
 *
 * @category Hugetlb
 */
export const hugetlbSysfsInit = (k: Kernel): KObject => {
  const h = poolOf(k);
  const show = (value: () => number) => ({ mode: 0o444, show: () => `${value()}\n` });
  k.fs.addAttributes("/proc/sys/vm", poolAttributes(k, true));
  for (const node of k.mem.nodes) {
    const nid = node.nid;
    k.fs.addAttributes(`/sys/devices/system/node/node${nid}/hugepages/${h.name}`, {
      nr_hugepages: {
        mode: 0o644,
        show: () => `${h.nrHugePagesNode[nid]}\n`,
        store: nrHugepagesStore(k, nid, false),
      },
      free_hugepages: show(() => h.freeHugePagesNode[nid]!),
      surplus_hugepages: show(() => h.surplusHugePagesNode[nid]!),
    });
  }
  return k.fs.addAttributes(`/sys/kernel/mm/hugepages/${h.name}`, {
    ...poolAttributes(k, false),
    free_hugepages: show(() => h.freeHugePages),
    resv_hugepages: show(() => h.resvHugePages),
    surplus_hugepages: show(() => h.surplusHugePages),
  });
};
