/**
 * The hugetlb pools and the hugetlb fault.
 *
 * Models `mm/hugetlb.c` (Linux 6.16) with one pool per huge page size (`hstates[]`): the PMD size
 * (`default_hstate`, 2 MiB with 4 KiB pages) and, with 4 KiB pages, x86-64's gigantic PUD size
 * (1 GiB). Huge pages are taken from the buddy allocator (gigantic ones from
 * `alloc_contig_pages()`) ahead of use and kept in per-node free lists:
 *
 * - **Pool size**: writing `/proc/sys/vm/nr_hugepages` or a `nr_hugepages` file of
 *   `/sys/kernel/mm/hugepages/hugepages-<size>kB/` (or a node's) runs `set_max_huge_pages()`:
 *   growing allocates fresh huge pages node by node, round-robin over the nodes allowed
 *   (`for_each_node_mask_to_alloc`), each with `__GFP_THISNODE` and direct compaction when no
 *   free block of the order is left; a node that failed once is asked with `__GFP_NORETRY` for the
 *   rest of the write. Shrinking frees free huge pages round-robin (`for_each_node_mask_to_free`)
 *   and turns pages in use into surplus ones that leave when freed. Reading gives what was
 *   achieved.
 * - **Reservations**: a `MAP_HUGETLB` mapping reserves its huge pages at `mmap()`
 *   (`hugetlb_reserve_pages()`, `hugetlb_acct_memory()`); a mapping the pool cannot cover fails
 *   with `ENOMEM`. A private mapping's reservations belong to its VMA: a fault consumes its page's,
 *   unmapping returns what was not used. A shared mapping's are its file's (the region map), and
 *   go with the file.
 * - **Faults**: a hugetlb VMA maps each huge page by one huge entry, a PMD or a PUD
 *   (`hugetlb_fault()`, `hugetlb_no_page()`); a write to a private page that another process
 *   also maps copies it whole (`hugetlb_wp()`).
 * - **Overcommit**: with `nr_overcommit_hugepages` above 0, reservations and faults may allocate
 *   surplus huge pages beyond the pool, freed again when their last user goes.
 * - **Migration**: a hugetlb folio's destination is a free huge page of the target node
 *   (`alloc_hugetlb_folio_nodemask()`), or a fresh temporary one when none is free; after the
 *   move the source goes back to its node's free list, or, when it became the temporary one, to
 *   the buddy allocator (`move_hugetlb_state()`).
 * - **Dissolving**: a free huge page can be broken up into base pages again
 *   (`dissolve_free_hugetlb_folio()`), as soft offline does.
 *
 * Gigantic pages are never surplus and never allocated for a migration (Linux 6.16). There is no
 * hugetlbfs to mount: shared mappings use the kernel's own unlinked file.
 *
 * @module
 */
import { Effect } from "effect";
import { ERRNO, type ErrnoError, errno } from "../errno";
import {
  type DirectCompact,
  directCompactFaultDone,
  newDirectCompact,
} from "../include/compaction";
import {
  __GFP_COMP,
  __GFP_NORETRY,
  __GFP_NOWARN,
  __GFP_RETRY_MAYFAIL,
  __GFP_THISNODE,
  GFP_HIGHUSER_MOVABLE,
  GFP_USER,
} from "../include/gfp";
import type { Hstate, HugetlbReplacement } from "../include/hugetlb";
import { HugetlbResvMap } from "../include/hugetlb";
import type { Kernel, Task } from "../include/kernel";
import { policyMbindNodemask, policyTarget } from "../include/mempolicy";
import {
  type MigrateReason,
  MR_MEMORY_FAILURE,
  MR_MEMORY_HOTPLUG,
  MR_MEMPOLICY_MBIND,
  MR_SYSCALL,
} from "../include/migrate_mode";
import { VM_FAULT_RETRY, VM_SHARED, VM_WRITE, type Vma } from "../include/mm_types";
import { type AllocContext, type AllocRequest, MIGRATE_ISOLATE } from "../include/mmzone";
import {
  PG_dirty,
  PG_has_hwpoisoned,
  PG_head,
  PG_hugetlb,
  PG_hwpoison,
  PG_swapbacked,
  PG_uptodate,
} from "../include/page_flags";
import {
  isHwpoisonEntry,
  mkPte,
  PTE_DIRTY,
  PTE_WRITE,
  PTE_YOUNG,
  pteDirty,
  ptePfn,
  ptePresent,
  pteWrite,
} from "../include/pgtable";
import type { TaskStruct } from "../include/sched";
import { procDoulongvecMinmax } from "../kernel/sysctl";
import { kstrtoull } from "../lib/kstrtox";
import { FolioList } from "../lib/list";
import { NUMA_NO_NODE } from "../lib/numa";
import { addToPageCache, filemapGetFolio, filemapRemoveFolio, mappingFolios } from "./filemap";
import { allocTargetSlowpath } from "./migrate";
import { anonVmaPrepare, rmapWalkPmds } from "./rmap";
import { folioPut, putSlowpathPage } from "./swap";

/**
 * `htlb_alloc_mask()` (`include/linux/hugetlb.h`, Linux 6.16): `__GFP_COMP | __GFP_NOWARN` with
 * `GFP_HIGHUSER_MOVABLE` when the pool's pages are movable (`hugepage_movable_supported()`: every
 * size but a gigantic one), `GFP_HIGHUSER` (here `GFP_USER`: the model has no highmem) for a
 * gigantic pool.
 *
 * @category Hugetlb
 */
export const htlbAllocMask = (h: Hstate): number =>
  __GFP_COMP | __GFP_NOWARN | ((h as HugetlbPool).gigantic ? GFP_USER : GFP_HIGHUSER_MOVABLE);

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
  /**
   * `nr_overcommit_huge_pages` as the unsigned long it is: `hugetlb_overcommit_handler()` stores
   * what was written (up to 2^64 - 1) and shows it back as written.
   */
  private overcommitLimit = 0n;
  /** `nr_overcommit_huge_pages`, past `Number.MAX_SAFE_INTEGER` read as that (no pool is as big). */
  get nrOvercommitHugePages(): number {
    const max = BigInt(Number.MAX_SAFE_INTEGER);
    return Number(this.overcommitLimit > max ? max : this.overcommitLimit);
  }
  /** The exact limit, as the pool's `nr_overcommit_hugepages` files show it. */
  get nrOvercommitHugePagesExact(): bigint {
    return this.overcommitLimit;
  }
  /** Sets the limit (`nr_overcommit_hugepages_store()`, `hugetlb_overcommit_handler()`). */
  setNrOvercommitHugePages(limit: bigint): void {
    this.overcommitLimit = limit;
  }
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
  readonly restoreReserve = new Set<number>();

  /**
   * @param order - `huge_page_order()`.
   * @param allocContigPages - `alloc_contig_pages()` (`mm/page_alloc.ts`), which gigantic pages
   *   come from; handed in by the boot code, as the page allocator's module reaches migration and
   *   through it this one.
   */
  constructor(
    private readonly k: Kernel,
    order: number,
    private readonly allocContigPages: (
      k: Kernel,
      order: number,
      gfp: number,
      nid: number,
      current: AllocContext | null,
    ) => Effect.Effect<number, ErrnoError>,
  ) {
    this.order = order;
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

  /**
   * `hstate_is_gigantic()`: huge pages above `MAX_PAGE_ORDER`, which the buddy allocator cannot
   * give; they come from `alloc_contig_pages()` (`alloc_gigantic_folio()`), are never surplus and
   * never allocated fresh for a migration (Linux 6.16).
   */
  get gigantic(): boolean {
    return this.order > this.k.pageAlloc.maxOrder;
  }

  /** True when `head` is a free page of the pool (`folio_test_hugetlb_freed()`). */
  isFree(head: number): boolean {
    const m = this.k.memmap;
    return m.test(head, PG_hugetlb) && m.refcount[head] === 0 && m.lru.isLinked(head);
  }

  /**
   * `enqueue_hugetlb_folio()` (Linux 6.16): at the head of its node's free list (`list_move()`),
   * so the huge page freed last is the first one dequeued.
   */
  private enqueue(head: number): void {
    const nid = this.k.mem.pfnToNid(head);
    this.hugepageFreelists[nid]!.add(head);
    this.freeHugePages++;
    this.freeHugePagesNode[nid]!++;
  }

  /**
   * `dequeue_hugetlb_folio_node_exact()` (Linux 6.16): the first free huge page of `nid` from the
   * head of its free list (the most recently freed) without a poisoned page and not in an
   * isolated pageblock (`is_migrate_isolate_page()`: a range `alloc_contig_range()` or memory
   * offlining is clearing), with one reference, or -1.
   */
  private dequeueNodeExact(nid: number): number {
    const m = this.k.memmap;
    const zone = this.k.pageAlloc.zones[nid];
    for (const head of this.hugepageFreelists[nid] ?? []) {
      if (m.test(head, PG_has_hwpoisoned)) continue;
      if (zone?.pageblockMigratetype(head) === MIGRATE_ISOLATE) continue;
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
   * `nodemask`, or from `nid` alone with `__GFP_THISNODE`; -1 when none. `nid` is a node: every
   * caller resolves the preferred node first (`huge_node()`, `alloc_migration_target()`).
   */
  dequeueNodemask(nid: number, nodemask: readonly number[] | null, gfp: number): number {
    const nodes =
      gfp & __GFP_THISNODE
        ? [nid]
        : (this.k.pageAlloc.zonelists[nid] ?? []).filter((n) => !nodemask || nodemask.includes(n));
    for (const node of nodes) {
      const head = this.dequeueNodeExact(node);
      if (head >= 0) return head;
    }
    return -1;
  }

  /**
   * The allocation `alloc_buddy_hugetlb_folio()` (`mm/hugetlb.c`, Linux 6.16) makes for a huge
   * page with the caller's `gfp`: `__GFP_COMP | __GFP_NOWARN` added, and `__GFP_RETRY_MAYFAIL`
   * (it always tries hard outside a pool resize's loop); `nid` `NUMA_NO_NODE` is the node
   * `current` runs on (`numa_mem_id()`).
   */
  private buddyReq(
    nid: number,
    gfp: number,
    nodemask: readonly number[] | null,
    current: AllocContext | null,
  ): AllocRequest {
    const from = nid === NUMA_NO_NODE ? current!.nid : nid;
    const mask = gfp | __GFP_COMP | __GFP_NOWARN | __GFP_RETRY_MAYFAIL;
    return { nid: from, order: this.order, gfp: mask, nodemask };
  }

  /**
   * `alloc_fresh_hugetlb_folio()`: a huge page from the buddy allocator's first tries
   * ({@link HugetlbPool.buddyReq}'s flags), counted in the pool (`account_new_hugetlb_folio()`),
   * with one reference; -1 when they have none ({@link HugetlbPool.allocFreshSlowpath} gives
   * the rest of the allocation). `current` is the task it is allocated in (null: a kernel thread
   * of `nid`). `nid` `NUMA_NO_NODE` prefers the node `current` runs on, as
   * `gather_surplus_pages()` asks; a kernel thread asks for a node.
   */
  allocFresh(
    nid: number,
    gfp: number,
    nodemask: readonly number[] | null,
    current: AllocContext | null = null,
  ): number {
    if (this.gigantic) return -1;
    return this.allocBuddy(this.buddyReq(nid, gfp, nodemask, current), current);
  }

  /** The first tries of a {@link HugetlbPool.buddyReq} request; the page counted in the pool. */
  private allocBuddy(req: AllocRequest, current: AllocContext | null): number {
    const head = this.k.pageAlloc.allocPages(req.nid, req.order, req.gfp, req.nodemask, current);
    if (head >= 0) this.prepNew(head);
    return head;
  }

  /**
   * The rest of {@link HugetlbPool.allocFresh}'s allocation once its first tries failed:
   * `__alloc_pages_slowpath()`'s blocking steps (`Kernel.allocPagesSlowpath()`) with the same
   * request, as `__alloc_frozen_pages()` runs them in `alloc_buddy_hugetlb_folio()` (nothing when
   * those first tries failed by fault injection: `PageAllocator.slowpathRequest()`); the page
   * they got is counted in the pool with one reference, or -1. Null when the allocation may not
   * block (no `__GFP_DIRECT_RECLAIM`) or the pool is gigantic.
   */
  allocFreshSlowpath(
    nid: number,
    gfp: number,
    nodemask: readonly number[] | null,
    current: AllocContext | null = null,
  ): Effect.Effect<number, ErrnoError> | null {
    if (this.gigantic) return null;
    const slow = allocTargetSlowpath(this.k, this.buddyReq(nid, gfp, nodemask, current), current);
    return (
      slow &&
      Effect.map(slow, (page) => {
        if (page >= 0) this.prepNew(page);
        return page;
      })
    );
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
    if (this.restoreReserve.delete(head)) this.resvHugePages++;
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

  isolateOrDissolveHugeFolio(
    head: number,
    list: FolioList,
    current: AllocContext | null = null,
    rep?: HugetlbReplacement,
  ): number | null {
    // The folio the scan stopped at: its alloc_and_dissolve_hugetlb_folio() goes on.
    if (rep && rep.folio === head)
      return this.allocAndDissolveHugetlbFolio(head, list, current, rep);
    if (!this.k.memmap.test(head, PG_hugetlb)) return 0;
    // A gigantic page cannot be replaced from the buddy allocator (alloc_contig_range() would
    // recurse): -ENOMEM, which makes the caller give up at once.
    if (this.gigantic) return -ERRNO.ENOMEM;
    if (this.k.memmap.refcount[head]! > 0) return this.isolate(head, list);
    return this.allocAndDissolveHugetlbFolio(head, list, current, rep);
  }

  allocAndDissolveHugetlbFolio(
    head: number,
    list: FolioList,
    current: AllocContext | null = null,
    rep?: HugetlbReplacement,
  ): number | null {
    const k = this.k;
    const m = k.memmap;
    // The page the slow path got for this folio, if the call stopped for it (its retry).
    let fresh = -1;
    const resumed = rep !== undefined && rep.folio === head;
    if (resumed) {
      fresh = rep.page;
      rep.folio = -1;
      rep.page = -1;
    }
    // Freed or taken from under the allocation: the new page goes back (free_new).
    const freeNew = (rc: number): number => {
      if (fresh >= 0) folioPut(k, fresh);
      return rc;
    };
    if (!m.test(head, PG_hugetlb)) return freeNew(0);
    if (m.refcount[head]! > 0) return freeNew(this.isolate(head, list));
    if (this.gigantic) return -ERRNO.ENOMEM;
    if (!resumed) {
      // alloc_buddy_hugetlb_folio() with __GFP_THISNODE: the per-node pool stays as it was. The
      // range being cleared is isolated, so the new page comes from outside it.
      const req = this.buddyReq(
        k.mem.pfnToNid(head),
        htlbAllocMask(this) | __GFP_THISNODE,
        null,
        current,
      );
      fresh = k.pageAlloc.allocPages(req.nid, req.order, req.gfp, null, current);
      if (fresh < 0 && rep) {
        // The rest of the same __alloc_pages(): its slow path, run by the scan's caller.
        rep.request = k.pageAlloc.slowpathRequest(req);
        rep.folio = head;
        return null;
      }
    }
    if (fresh < 0) return -ERRNO.ENOMEM;
    // remove_hugetlb_folio(), then __prep_account_new_huge_page() and enqueue_hugetlb_folio() for
    // the new page: nr_hugepages and free_hugepages, per node too, end where they were.
    this.remove(head, false);
    this.prepNew(fresh);
    m.refcount[fresh] = 0;
    this.enqueue(fresh);
    this.updateAndFree(head);
    return 0;
  }

  /** `folio_isolate_hugetlb()` onto `list`: 0, or `-EBUSY` when it is not migratable now. */
  private isolate(head: number, list: FolioList): number {
    if (!this.k.hugetlbActive.isolate(head)) return -ERRNO.EBUSY;
    list.addTail(head);
    return 0;
  }

  /** Marks a folio `HPG_temporary` (`folio_set_hugetlb_temporary()`). */
  setTemporary(head: number): void {
    this.temporary.add(head);
  }

  /** Marks a folio `HPG_restore_reserve` (`folio_set_hugetlb_restore_reserve()`). */
  setRestoreReserve(head: number): void {
    this.restoreReserve.add(head);
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
   * allocation goes through the allocator's slow path for a costly order when no free block of
   * the order is left (`allocPagesSlowpath()`: asynchronous compaction, direct reclaim, compaction
   * again, those two retried while `__GFP_RETRY_MAYFAIL`'s `should_reclaim_retry()` or
   * `should_compact_retry()` allows); with `__GFP_NORETRY` (a node that failed before, in `noretry`) it stops after the
   * asynchronous try when that was skipped, and compacts only asynchronously. The page is freed
   * into the pool. False when no node had one. It allocates, reclaims and compacts in `current`,
   * the task resizing the pool (null: a kernel thread of the node).
   */
  allocPoolHugeFolio(
    nodes: readonly number[],
    noretry: Set<number>,
    current: TaskStruct | null = null,
  ): Effect.Effect<boolean, ErrnoError> {
    const self = this;
    return Effect.gen(function* () {
      for (let i = 0; i < nodes.length; i++) {
        const nid = self.nextNode("alloc", nodes);
        // alloc_buddy_hugetlb_folio(): __GFP_RETRY_MAYFAIL, or __GFP_NORETRY for a node that
        // failed already in this request (node_alloc_noretry). alloc_gigantic_folio() adds
        // neither: alloc_contig_range() refuses __GFP_NORETRY.
        const gfp =
          htlbAllocMask(self) |
          __GFP_THISNODE |
          (self.gigantic ? 0 : noretry.has(nid) ? __GFP_NORETRY : __GFP_RETRY_MAYFAIL);
        // alloc_gigantic_folio(): a gigantic page from alloc_contig_pages(), which migrates what
        // is in the way.
        let head = self.gigantic
          ? yield* Effect.orElseSucceed(
              self.allocContigPages(self.k, self.order, gfp, nid, current),
              () => -1,
            )
          : self.k.pageAlloc.allocPages(nid, self.order, gfp, null, current);
        if (head < 0 && !self.gigantic) {
          const req = { nid, order: self.order, gfp, nodemask: null };
          const slow = yield* self.k.allocPagesSlowpath(
            self.k.pageAlloc.slowpathRequest(req),
            current,
          );
          head = slow.page;
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
   * pages into persistent ones, then allocates round-robin over the nodes (without `nid`: those
   * with memory now, `N_MEMORY`, a node whose memory is all offline left out) until `count` or until
   * no node has a huge page left; shrinking never goes below the pages in use and reserved: it
   * frees free pages and turns the rest into surplus pages. `current` is the task resizing it,
   * the writer of `nr_hugepages`, which allocates the new pages.
   */
  setMaxHugePages(
    count: number,
    nid: number,
    current: TaskStruct | null = null,
  ): Effect.Effect<void, ErrnoError> {
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
      // __nr_hugepages_store_common(): every node with memory now (N_MEMORY), or the one node.
      const nodes = nid === NUMA_NO_NODE ? k.nodesWithMemory() : [nid];
      while (self.surplusHugePages && count > self.persistentHugePages) {
        if (!self.adjustPoolSurplus(nodes, -1)) break;
      }
      const noretry = new Set<number>();
      while (count > self.persistentHugePages) {
        if (!(yield* self.allocPoolHugeFolio(nodes, noretry, current))) break;
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
   * `nr_overcommit_hugepages` allows one more; -1 otherwise. `current` is the task it is
   * allocated in (null: a kernel thread of `nid`). With `dc` (a fault, or a reservation at
   * `mmap()`), the allocation is whole, as in Linux: when its first tries fail and its order has
   * not been through the slow path since `dc.tried` was cleared, it fills `dc.request` and gives
   * -1 (a fault returns `VM_FAULT_RETRY`, a reservation {@link SurplusGather}'s retry; the
   * caller runs `__alloc_pages_slowpath()` with `__GFP_RETRY_MAYFAIL` and calls again); the retry
   * takes the page the slow path got (`dc.page`). Without `dc`, only the first tries.
   */
  allocSurplus(
    nid: number,
    nodemask: readonly number[] | null,
    current: AllocContext | null = null,
    dc?: DirectCompact,
  ): number {
    if (this.gigantic || BigInt(this.surplusHugePages) >= this.overcommitLimit) return -1;
    let head: number;
    if (dc && dc.page >= 0 && this.k.memmap.folioOrder(dc.page) === this.order) {
      // Allocated with this request by the slow path.
      head = dc.page;
      dc.page = -1;
      this.prepNew(head);
    } else {
      // allocFresh()'s first tries, with the request kept for the slow path.
      const req = this.buddyReq(nid, htlbAllocMask(this), nodemask, current);
      head = this.allocBuddy(req, current);
      if (head < 0 && dc && !(dc.tried & (1 << this.order))) {
        dc.request = this.k.pageAlloc.slowpathRequest(req);
        return -1;
      }
    }
    if (head < 0) return -1;
    this.surplusHugePages++;
    this.surplusHugePagesNode[this.k.mem.pfnToNid(head)]!++;
    return head;
  }

  /**
   * `gather_surplus_pages()` (`mm/hugetlb.c`, Linux 6.16): makes room for `delta` more
   * reservations, allocating surplus pages into the pool for what the free pages do not cover:
   * in `current`, from `NUMA_NO_NODE` (its own node first), on the nodes of its cpuset, narrowed
   * to its `MPOL_BIND` policy's ({@link policyMbindNodemask}). `ENOMEM`, with nothing changed,
   * when overcommit or the allocator refuses. With `gather`, each page's allocation is whole
   * (`htlb_alloc_mask()` with `__GFP_RETRY_MAYFAIL`: reclaim and compaction retried while they
   * make progress): when a page's first tries fail, the pages got so far stay in
   * `gather.surplus` (counted as surplus, as Linux's `surplus_list`), `gather.request` is filled
   * and null is returned; the caller runs the slow path and calls again, which counts them as
   * allocated and recomputes what is needed, as Linux does after retaking `hugetlb_lock`.
   */
  private gatherSurplusPages(
    delta: number,
    current: TaskStruct,
    gather?: SurplusGather,
  ): 0 | ErrnoError | null {
    const got = gather?.surplus ?? [];
    const needed = this.resvHugePages + delta - this.freeHugePages;
    if (needed <= 0 && got.length === 0) {
      this.resvHugePages += delta;
      return 0;
    }
    const mbind = policyMbindNodemask(current.policy, current.memsAllowed);
    const allowed = current.memsAllowed.filter((n) => !mbind || mbind.includes(n));
    while (got.length < needed) {
      const head = this.allocSurplus(NUMA_NO_NODE, allowed, current, gather);
      if (head < 0) break;
      got.push(head);
      // The next page may take the slow path again.
      if (gather) gather.tried = 0;
    }
    if (gather?.request) return null;
    // The fresh pages (each with its reference) join the free lists, as many as needed;
    // free_huge_folio() sends the other surplus ones back to the buddy allocator.
    const ok = got.length >= needed;
    const heads = got.splice(0);
    for (const [i, head] of heads.entries()) {
      this.k.memmap.refcount[head] = 0;
      if (ok && i < needed) this.enqueue(head);
      else this.freeHugeFolio(head);
    }
    if (!ok) {
      return errno(
        "ENOMEM",
        `hugetlb: ${delta} huge pages to reserve, ${this.availableHugePages} free and ` +
          `unreserved, and no more surplus pages (nr_overcommit_hugepages ${this.overcommitLimit})`,
      );
    }
    this.resvHugePages += delta;
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
   * `hugetlb_acct_memory()` with a positive `delta`: reserves `delta` huge pages for `current`,
   * the task mapping them. `ENOMEM` when the pool (with overcommit) cannot cover them, or when
   * more is reserved than the free huge pages of the nodes `current` may use hold
   * (`allowed_mems_nr()`: its cpuset's, narrowed to its `MPOL_BIND` policy's). Null when a
   * surplus page of `gather` needs the slow path first (see `gatherSurplusPages`).
   */
  acctMemory(delta: number, current: TaskStruct, gather?: SurplusGather): 0 | ErrnoError | null {
    const gathered = this.gatherSurplusPages(delta, current, gather);
    if (gathered !== 0) return gathered;
    const mbind = policyMbindNodemask(current.policy, current.memsAllowed);
    let allowed = 0;
    for (const n of current.memsAllowed)
      if (!mbind || mbind.includes(n)) allowed += this.freeHugePagesNode[n] ?? 0;
    if (delta > allowed) {
      this.returnUnusedSurplusPages(delta);
      return errno("ENOMEM", `hugetlb: ${delta} huge pages to reserve, ${allowed} free`);
    }
    return 0;
  }

  /**
   * `hugetlb_acct_memory()` with a negative count: returns `count` reservations
   * (`return_unused_surplus_pages()`).
   */
  unacctMemory(count: number): void {
    this.returnUnusedSurplusPages(count);
  }
}

/**
 * `hstate_sizelog()` (`include/linux/hugetlb.h`): the pool whose huge page size is `2^log` bytes,
 * the default one for `log` 0; null when there is no such size.
 *
 * @category Hugetlb
 */
export const hstateSizelog = (k: Kernel, log: number): Hstate | null =>
  log === 0 ? k.hstate : (k.hstates.find((h) => h.size === 2 ** log) ?? null);

/** The default pool of a kernel, as `mm/hugetlb.ts` built it. */
const poolOf = (k: Kernel): HugetlbPool => k.hstate as HugetlbPool;

/** `hstate_vma()`: the pool of a hugetlb VMA's page size. */
const hstateVma = (k: Kernel, vma: Vma): HugetlbPool => (vma.hstate ?? k.hstate) as HugetlbPool;

/**
 * `folio_hstate()` (`include/linux/hugetlb.h`): the pool of the hugetlb folio `head`'s size.
 *
 * @category Hugetlb
 */
export const folioHstate = (k: Kernel, head: number): Hstate => poolOfFolio(k, head);

/** {@link folioHstate} as this module's pool class. */
const poolOfFolio = (k: Kernel, head: number): HugetlbPool =>
  k.hstates.find((h) => h.order === k.memmap.folioOrder(head)) as HugetlbPool;

/** `vma_hugecache_offset()`: the huge page index of `slot` of a hugetlb VMA. */
const hugeIndex = (k: Kernel, vma: Vma, slot: number): number =>
  Math.floor((vma.pgoff + slot) / 2 ** hstateVma(k, vma).order);

/**
 * The state `gather_surplus_pages()` (`mm/hugetlb.c`, Linux 6.16) keeps while it allocates
 * surplus pages for a reservation with `hugetlb_lock` dropped: its `surplus_list` and the slow
 * path of the page it is allocating. A caller that may block (`mmap()`) passes one to
 * {@link hugetlbReservePages}; when that returns null it runs `request` through
 * `allocPagesSlowpath()`, puts the page it got in `page`, marks the order in `tried`, and calls
 * again, then releases what is left with {@link surplusGatherRelease}.
 *
 * @category Hugetlb
 */
export interface SurplusGather extends DirectCompact {
  /** Surplus pages allocated so far (head pfns), counted in the pool, each with a reference. */
  surplus: number[];
}

/**
 * A fresh {@link SurplusGather}: nothing allocated, no slow path asked for.
 *
 * @category Hugetlb
 */
export const newSurplusGather = (): SurplusGather => ({ ...newDirectCompact(), surplus: [] });

/**
 * Gives back what a {@link SurplusGather} still holds once its caller is done (an error or an
 * interruption between its calls): the surplus pages to the buddy allocator
 * (`free_huge_folio()`), the page the slow path got and no call took (`folio_put()`).
 *
 * @category Hugetlb
 */
export const surplusGatherRelease = (k: Kernel, gather: SurplusGather): void => {
  for (const head of gather.surplus.splice(0)) {
    k.memmap.refcount[head] = 0;
    poolOfFolio(k, head).freeHugeFolio(head);
  }
  putSlowpathPage(k, gather);
};

/**
 * `hugetlb_reserve_pages()` (`mm/hugetlb.c`): reserves the huge pages of a new hugetlb mapping
 * (`hugetlb_acct_memory()`), and fails with `ENOMEM`, reserving nothing, when the pool cannot
 * cover them. A private mapping reserves one huge page per huge page of `vma`, in a new
 * reservation map its VMA owns (`HPAGE_RESV_OWNER`). A shared one reserves only the indices its
 * inode's region map does not hold yet (`region_chg()`), and adds them there (`region_add()`):
 * another mapping of the same pages reserves nothing more. `current` is the task mapping it, in
 * which surplus pages are allocated (`gather_surplus_pages()`: its node first, within its cpuset
 * and `MPOL_BIND` policy). With `gather`, each surplus page's allocation is whole: null, with
 * nothing reserved, when one needs the slow path first (`gather.request`; see
 * {@link SurplusGather}).
 *
 * @category Hugetlb
 */
export const hugetlbReservePages = (
  k: Kernel,
  vma: Vma,
  current: TaskStruct,
  gather?: SurplusGather,
): 0 | ErrnoError | null => {
  const first = hugeIndex(k, vma, 0);
  const last = hugeIndex(k, vma, vma.nrPages);
  const inode = vma.mapping?.hugetlbResv;
  const map = inode ?? new HugetlbResvMap();
  const chg: number[] = [];
  for (let i = first; i < last; i++) if (!map.reserved.has(i)) chg.push(i);
  const rc = chg.length > 0 ? hstateVma(k, vma).acctMemory(chg.length, current, gather) : 0;
  if (rc !== 0) return rc;
  for (const i of chg) map.reserved.add(i);
  if (!inode) vma.hugetlbResv = map;
  return 0;
};

/**
 * `hugetlb_vm_op_close()` (`mm/hugetlb.c`): a VMA owning reservations goes away; the ones in its
 * range that no fault consumed are returned (`hugetlb_acct_memory()` with a negative count). A
 * shared mapping's reservations stay with its inode.
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
  if (unused) hstateVma(k, vma).unacctMemory(unused);
};

/**
 * `remove_inode_hugepages()` and `hugetlb_unreserve_pages()` (`fs/hugetlbfs/inode.c`,
 * `mm/hugetlb.c`) as the last close of an anonymous hugetlbfs file runs them: every huge page of
 * the file leaves the page cache (back to the pool, or to the buddy allocator for a surplus one),
 * and the reservations no fault consumed are returned: the region map's indices less the pages
 * freed. The caller has unmapped them; `vma` is the file's last mapping, which gives its pool.
 *
 * @category Hugetlb
 */
export const hugetlbEvictInode = (k: Kernel, vma: Vma): void => {
  const mapping = vma.mapping;
  const map = mapping?.hugetlbResv;
  if (!map) return;
  let freed = 0;
  for (const head of mappingFolios(mapping!)) {
    filemapRemoveFolio(k, mapping!, head);
    freed++;
  }
  const chg = map.reserved.size;
  map.reserved.clear();
  if (chg - freed) hstateVma(k, vma).unacctMemory(chg - freed);
};

/**
 * `alloc_hugetlb_folio()` (`mm/hugetlb.c`, Linux 6.16) for a fault at `slot` of a hugetlb VMA: a
 * reserved page is dequeued from the pool (nearest node first from `nid`, within `nodemask`), or
 * allocated as a surplus page when overcommit allows if none is free, and either way its
 * reservation is consumed (`resv_huge_pages` drops; a private owner's map forgets the index, a
 * shared inode's keeps it). As in Linux the drop is unconditional: a private owner that zapped a
 * page a forked child still maps has the index reserved again while the old folio holds back its
 * `HPG_restore_reserve` increment, so its next fault there can take `resv_huge_pages` below 0
 * until that folio is freed ({@link unmapHugepageRange}). An unreserved page is dequeued only if a
 * free page is not promised to anyone, else allocated as a surplus page when overcommit allows (a
 * `VM_NORESERVE` mapping's every page; a shared one's index then enters its inode's map,
 * `vma_commit_reservation()`). A private mapping's owner copying a page on write
 * (`cowFromOwner`) never uses a reservation. The folio is zeroed (`folio_zero_user()`) and has
 * one reference. -1 when there is none. A surplus page is allocated in `current`, the faulting
 * task (null: a kernel thread of `nid`); with `dc` its allocation may ask for the slow path
 * (`HugetlbPool.allocSurplus`).
 *
 * @category Hugetlb
 */
export const allocHugetlbFolio = (
  k: Kernel,
  vma: Vma,
  slot: number,
  nid: number,
  nodemask: readonly number[] | null,
  cowFromOwner = false,
  current: AllocContext | null = null,
  dc?: DirectCompact,
): number => {
  const pool = hstateVma(k, vma);
  const idx = hugeIndex(k, vma, slot);
  const shared = vma.mapping?.hugetlbResv ?? null;
  const map = shared ?? vma.hugetlbResv;
  const reserved = !cowFromOwner && map?.reserved.has(idx) === true;
  let head = -1;
  if (reserved || pool.availableHugePages > 0) {
    head = pool.dequeueNodemask(nid, nodemask, htlbAllocMask(pool));
  }
  if (head < 0) head = pool.allocSurplus(nid, nodemask, current, dc);
  if (head < 0) return -1;
  // A reserved fault consumes its reservation whichever way it got its page: a private owner's
  // restored reservation can outnumber the free pages (the folio that gives it back is still
  // mapped by a forked child), and its fault then takes a surplus page.
  if (reserved) {
    pool.resvHugePages--;
    if (!shared) map!.reserved.delete(idx);
  }
  // vma_commit_reservation(): a shared mapping's unreserved page (VM_NORESERVE) enters its
  // inode's region map, so the file's eviction counts it with the pages it frees.
  if (shared && !reserved) shared.reserved.add(idx);
  // The fault has its page: its next allocation may take the slow path again.
  if (dc) directCompactFaultDone(dc);
  k.mem.clearPages(head, 2 ** pool.order);
  return head;
};

/**
 * The entries that map a hugetlb VMA's pages (`huge_pte_offset()`): huge PUDs (`Vma.puds`) for
 * PUD-sized pages, huge PMDs (`Vma.pmds`) otherwise.
 *
 * @category Hugetlb
 */
export const hugeEntries = (k: Kernel, vma: Vma): Map<number, number> =>
  hstateVma(k, vma).order === k.pudOrder ? vma.puds : vma.pmds;

/**
 * `__unmap_hugepage_range()` (`mm/hugetlb.c`, Linux 6.16): clears the huge entries of a hugetlb
 * VMA that lie in its pages `[from, to)` (whole huge pages: a hugetlb VMA is never cut inside one,
 * and `madvise()` rounds its end down), flushes the TLB, then drops each mapped page's entire
 * mapcount and reference, moving the dirty bit to a page-cache folio. Migration and hwpoison
 * entries are just cleared. When the pool has no surplus page, an anonymous page of a private
 * mapping's owner (`__vma_private_lock()`) gets its reservation back: its index is reserved in the
 * owner's map again (`vma_needs_reservation()`, `vma_add_reservation()`) and the folio is marked
 * `HPG_restore_reserve`, so that its free (now, or when its last other mapping goes) raises
 * `resv_huge_pages`; the next fault there takes a reserved page. A shared mapping's page stays in
 * its file's page cache.
 *
 * @category Hugetlb
 */
export const unmapHugepageRange = (k: Kernel, vma: Vma, from: number, to: number): void => {
  const m = k.memmap;
  const pool = hstateVma(k, vma);
  const entries = hugeEntries(k, vma);
  const lo = vma.start + from * k.mem.pageSize;
  const hi = vma.start + to * k.mem.pageSize;
  // A private owner's reservation map, when its zapped anonymous pages restore their reservation
  // (no surplus pages: the frees below come after this loop).
  const owner = vma.flags & VM_SHARED ? null : vma.hugetlbResv;
  const restoreTo = pool.surplusHugePages === 0 ? owner : null;
  const puts: number[] = [];
  for (const [haddr, entry] of [...entries]) {
    if (haddr < lo || haddr >= hi) continue;
    entries.delete(haddr);
    if (!ptePresent(entry)) continue;
    const head = ptePfn(entry);
    m.entireMapcount[head]!--;
    m.largeMapcount[head]!--;
    if (pteDirty(entry) && m.mapping[head]! > 0) m.set(head, PG_dirty);
    if (restoreTo && m.mapping[head]! < 0) {
      pool.setRestoreReserve(head);
      restoreTo.reserved.add(hugeIndex(k, vma, (haddr - vma.start) / k.mem.pageSize));
    }
    puts.push(head);
  }
  vma.mm.tlb.flushAll();
  for (const head of puts) folioPut(k, head);
};

/**
 * `copy_hugetlb_page_range()` (`mm/hugetlb.c`): at `fork()`, the child's hugetlb VMA `dst` gets
 * every huge entry of the parent's `src`. `copy_page_range()` calls it only for a VMA with an
 * anon_vma (`vma_needs_copy()`): a private mapping that faulted; a shared one's child faults its
 * pages in from the hugetlbfs page cache. A private mapping's present entries are write-protected
 * on both sides (copy-on-write, `hugetlb_wp()` copies later), each taking an entire mapcount and a
 * reference; migration and hwpoison entries are copied as they are.
 *
 * @category Hugetlb
 */
export const copyHugetlbPageRange = (k: Kernel, dst: Vma, src: Vma): void => {
  const m = k.memmap;
  const from = hugeEntries(k, src);
  const to = hugeEntries(k, dst);
  const cow = !(src.flags & VM_SHARED);
  for (let [haddr, entry] of from) {
    if (cow && ptePresent(entry)) {
      entry = (entry & ~PTE_WRITE) >>> 0;
      from.set(haddr, entry);
    }
    to.set(haddr, entry);
    if (!ptePresent(entry)) continue;
    const head = ptePfn(entry);
    m.entireMapcount[head]!++;
    m.largeMapcount[head]!++;
    m.refcount[head]!++;
  }
};

/** The address of the huge page that holds page `slot` of a hugetlb VMA (`huge_page_mask()`). */
const hugeAddress = (k: Kernel, vma: Vma, slot: number): number => {
  const addr = vma.start + slot * k.mem.pageSize;
  return addr - (addr % hstateVma(k, vma).size);
};

/**
 * `huge_node()` and `alloc_hugetlb_folio()` for the fault of the huge page at `haddr`: the page
 * is placed by the NUMA policy (the VMA's, else the task's); -1 when there is none.
 */
const hugetlbFaultFolio = (
  k: Kernel,
  task: Task,
  vma: Vma,
  haddr: number,
  cowFromOwner: boolean,
  dc?: DirectCompact,
): number => {
  const first = (haddr - vma.start) / k.mem.pageSize;
  const target = policyTarget(
    vma.policy ?? task.policy,
    task.nid,
    Math.floor((vma.pgoff + first) / 2 ** hstateVma(k, vma).order),
    k.distance,
  );
  return allocHugetlbFolio(k, vma, first, target.nid, target.nodemask, cowFromOwner, task, dc);
};

/**
 * The error of a hugetlb fault that gets no huge page: `alloc_hugetlb_folio()`'s `-ENOSPC` (no
 * reserved or free page and no surplus allowed), which `vmf_error()` turns into
 * `VM_FAULT_SIGBUS`, and `hugetlb_no_page()`'s own `VM_FAULT_SIGBUS` for `HPAGE_RESV_UNMAPPED`.
 * x86's `do_user_addr_fault()` sends `SIGBUS` with `BUS_ADRERR` (`do_sigbus()`,
 * `arch/x86/mm/fault.c`; `userFaultError()`, `mm/memory.ts`); the fault returns `EFAULT`, the
 * errno `vm_fault_to_errno()` (`include/linux/mm.h`) gives `VM_FAULT_SIGBUS` where a fault's
 * result becomes a system call's (`get_user_pages()`), its message naming the signal. Its `-ENOMEM`
 * failures (`VM_FAULT_OOM`: `vma_needs_reservation()`'s region allocation, the memory cgroup
 * charge) do not arise in the model.
 */
const noHugePage = (addr: number, why: string): ErrnoError =>
  errno("EFAULT", `hugetlb fault at 0x${addr.toString(16)}: ${why}; SIGBUS BUS_ADRERR`);

/**
 * Maps the huge page `head` at `haddr` of `vma` with one huge entry (`set_huge_pte_at()`): one
 * entire mapcount (`hugetlb_add_file_rmap()`, `hugetlb_add_new_anon_rmap()`) and one reference.
 * The entry is young, as `make_huge_pte()` makes it (`pte_mkyoung()`).
 */
const setHugePte = (k: Kernel, vma: Vma, haddr: number, head: number, bits: number): void => {
  hugeEntries(k, vma).set(haddr, mkPte(head, bits | PTE_YOUNG));
  k.memmap.entireMapcount[head]!++;
  k.memmap.largeMapcount[head]!++;
  k.memmap.refcount[head]!++;
};

/**
 * The flags every new hugetlb folio gets, and onto the active list (`folio_set_hugetlb_migratable()`).
 * None is mlocked: `mlock_fixup()` never sets `VM_LOCKED` on a hugetlb VMA.
 */
const prepNewHugetlbFolio = (k: Kernel, head: number, flags: number): void => {
  k.memmap.set(head, flags | PG_hugetlb | PG_uptodate);
  k.hugetlbActive.add(head);
};

/** `hugetlb_add_new_anon_rmap()`: makes a fresh huge page anonymous memory of `vma` at `haddr`. */
const hugetlbAddNewAnonRmap = (k: Kernel, vma: Vma, head: number, haddr: number): void => {
  k.memmap.mapping[head] = -anonVmaPrepare(k, vma).id;
  k.memmap.index[head] = vma.pgoff + (haddr - vma.start) / k.mem.pageSize;
};

/**
 * `hugetlb_no_page()` (`mm/hugetlb.c`): the first fault on the huge page at `haddr`. A shared
 * mapping looks in its file's page cache and, on a miss, allocates a huge page and adds it there
 * (`hugetlb_add_to_page_cache()`, which marks it dirty); a private one allocates an anonymous
 * huge page. Either is mapped by one huge entry: writable for a writable shared mapping, and for
 * a write fault of a private one (which would reuse the page it alone maps, `hugetlb_wp()`). A
 * cached folio with a poisoned page is not mapped: `EHWPOISON` (`VM_FAULT_HWPOISON_LARGE`).
 * A private mapping whose owner took its pages back (`HPAGE_RESV_UNMAPPED`), and a fault that
 * gets no page, fail with `VM_FAULT_SIGBUS` ({@link noHugePage}).
 */
const hugetlbNoPage = (
  k: Kernel,
  task: Task,
  vma: Vma,
  haddr: number,
  write: boolean,
  dc?: DirectCompact,
): ErrnoError | 0 | typeof VM_FAULT_RETRY => {
  const m = k.memmap;
  const mapping = vma.mapping;
  if (vma.hugetlbResvUnmapped) {
    return noHugePage(haddr, "the mapping's owner took its pages back (HPAGE_RESV_UNMAPPED)");
  }
  const pgoff = vma.pgoff + (haddr - vma.start) / k.mem.pageSize;
  let head = mapping ? filemapGetFolio(mapping, pgoff) : -1;
  if (head >= 0 && m.test(head, PG_has_hwpoisoned)) {
    // A cached folio memory_failure() poisoned after this mapping was made: no entry to find
    // (VM_FAULT_HWPOISON_LARGE).
    return errno(
      "EHWPOISON",
      `address 0x${haddr.toString(16)}: the huge page in the file's page cache (pfn ${head}) is poisoned; SIGBUS BUS_MCEERR_AR`,
    );
  }
  if (head < 0) {
    head = hugetlbFaultFolio(k, task, vma, haddr, false, dc);
    if (head < 0 && dc?.request) return VM_FAULT_RETRY;
    if (head < 0) return noHugePage(haddr, "no free huge page and no surplus allowed");
    if (mapping) {
      prepNewHugetlbFolio(k, head, PG_dirty);
      addToPageCache(k, mapping, head, pgoff);
      m.refcount[head]!--; // the allocation's reference: the cache holds it now
    } else {
      m.refcount[head] = 0; // the mapping's reference replaces the allocation's
      hugetlbAddNewAnonRmap(k, vma, head, haddr);
      prepNewHugetlbFolio(k, head, PG_swapbacked);
    }
  }
  const writable = mapping ? (vma.flags & VM_WRITE) !== 0 : write;
  setHugePte(k, vma, haddr, head, writable ? PTE_WRITE | PTE_DIRTY : 0);
  return 0;
};

/**
 * `unmap_ref_private()` (`mm/hugetlb.c`): the owner of a private mapping could not get a page to
 * copy `old` into, so the page is taken from every other private mapping of it that holds no
 * reservations (the owner's forked children), which are marked `HPAGE_RESV_UNMAPPED`: their next
 * fault there fails, and the owner keeps the page.
 */
const unmapRefPrivate = (k: Kernel, vma: Vma, old: number, haddr: number): void => {
  const m = k.memmap;
  const puts: number[] = [];
  rmapWalkPmds(k, m.mapping[old]!, m.index[old]!, m.folioNrPages(old), (v, at, entry) => {
    if (v === vma || at !== haddr || v.hugetlbResv || v.flags & VM_SHARED) return;
    if (!ptePresent(entry) || ptePfn(entry) !== old) return;
    hugeEntries(k, v).delete(at);
    m.entireMapcount[old]!--;
    m.largeMapcount[old]!--;
    v.hugetlbResvUnmapped = true;
    v.mm.tlb.flushRange(at / k.mem.pageSize, m.folioNrPages(old));
    puts.push(old);
  });
  for (const head of puts) folioPut(k, head);
};

/**
 * `hugetlb_wp()` (`mm/hugetlb.c`): a write to a write-protected huge entry. A shared mapping's
 * entry becomes writable; an anonymous page only this mapping maps is reused; any other is copied
 * whole into a new huge page (`copy_user_large_folio()`), the old one losing this mapping. When
 * the pool has no page for the copy, the mapping's owner takes the page from the others
 * ({@link unmapRefPrivate}) and reuses it; anyone else fails with `VM_FAULT_SIGBUS`
 * (`vmf_error(-ENOSPC)`, {@link noHugePage}).
 */
const hugetlbWp = (
  k: Kernel,
  task: Task,
  vma: Vma,
  haddr: number,
  dc?: DirectCompact,
): ErrnoError | 0 | typeof VM_FAULT_RETRY => {
  const m = k.memmap;
  const entries = hugeEntries(k, vma);
  const entry = entries.get(haddr)!;
  const old = ptePfn(entry);
  const nr = m.folioNrPages(old);
  const reuse = () => {
    entries.set(haddr, (entry | PTE_YOUNG | PTE_WRITE | PTE_DIRTY) >>> 0);
    vma.mm.tlb.flushRange(haddr / k.mem.pageSize, nr);
    return 0 as const;
  };
  if (vma.flags & VM_SHARED) return reuse();
  if (m.mapping[old]! < 0 && m.folioMapcount(old) === 1) return reuse();
  if (m.test(old, PG_has_hwpoisoned)) {
    return errno("EHWPOISON", `hugetlb copy-on-write of a poisoned huge page (pfn ${old})`);
  }
  const owner = vma.hugetlbResv !== null;
  const head = hugetlbFaultFolio(k, task, vma, haddr, owner, dc);
  if (head < 0 && dc?.request) return VM_FAULT_RETRY;
  if (head < 0) {
    if (owner && m.mapping[old]! < 0) {
      unmapRefPrivate(k, vma, old, haddr);
      if (m.folioMapcount(old) === 1) return reuse();
    }
    return noHugePage(haddr, "no huge page to copy into");
  }
  k.mem.copyPages(head, old, nr);
  m.refcount[head] = 0;
  hugetlbAddNewAnonRmap(k, vma, head, haddr);
  prepNewHugetlbFolio(k, head, PG_swapbacked);
  entries.delete(haddr);
  m.entireMapcount[old]!--;
  m.largeMapcount[old]!--;
  setHugePte(k, vma, haddr, head, PTE_WRITE | PTE_DIRTY);
  vma.mm.tlb.flushRange(haddr / k.mem.pageSize, nr);
  folioPut(k, old);
  return 0;
};

/**
 * `hugetlb_fault()` (`mm/hugetlb.c`): a fault at page `slot` of a hugetlb VMA, which maps its
 * pages by one huge entry each (a huge PMD, or a huge PUD for a 1 GiB page). No entry: {@link hugetlbNoPage}; a
 * hwpoison entry: `EHWPOISON` (`VM_FAULT_HWPOISON_LARGE`, `SIGBUS` with `BUS_MCEERR_AR`); a write
 * to a write-protected one: {@link hugetlbWp}. A migration entry is left to the caller, which
 * waits for the folio (`migration_entry_wait_huge()`). With `dc`, a surplus page's allocation
 * whose first tries fail stops the fault with `VM_FAULT_RETRY` to ask for the slow path (see
 * `DirectCompact`), as a base page's fault does. A fault that gets no huge page is `EFAULT`
 * whose message names `SIGBUS` (`VM_FAULT_SIGBUS`: `SIGBUS` for the task's own access), not
 * `ENOMEM`.
 *
 * @category Hugetlb
 */
export const hugetlbFault = (
  k: Kernel,
  task: Task,
  vma: Vma,
  slot: number,
  write: boolean,
  dc?: DirectCompact,
): ErrnoError | 0 | typeof VM_FAULT_RETRY => {
  const haddr = hugeAddress(k, vma, slot);
  const entry = hugeEntries(k, vma).get(haddr);
  if (entry === undefined) return hugetlbNoPage(k, task, vma, haddr, write, dc);
  if (isHwpoisonEntry(entry)) {
    const addr = vma.start + slot * k.mem.pageSize;
    return errno(
      "EHWPOISON",
      `address 0x${addr.toString(16)}: the poisoned huge page (pfn ${ptePfn(entry)}) was unmapped; SIGBUS BUS_MCEERR_AR`,
    );
  }
  if (!ptePresent(entry)) return 0;
  if (write && !pteWrite(entry)) return hugetlbWp(k, task, vma, haddr, dc);
  return 0;
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
 * The flags `alloc_hugetlb_folio_nodemask()` (`mm/hugetlb.c`) gives a migration's fresh huge
 * page (`alloc_migrate_hugetlb_folio()`) from pool `h`: the pool's mask with the caller's `__GFP_THISNODE` and
 * `__GFP_NOWARN` (`htlb_modify_alloc_mask()`), and `__GFP_THISNODE` unless `reason` allows a
 * fallback (`htlb_allow_alloc_fallback()`).
 */
const migrateFreshGfp = (h: Hstate, gfp: number, reason: MigrateReason): number => {
  const mask = htlbModifyAllocMask(h, gfp);
  return htlbAllowAllocFallback(reason) ? mask : mask | __GFP_THISNODE;
};

/** `htlb_modify_alloc_mask()` (`include/linux/hugetlb.h`): the pool's mask with the caller's
 * `__GFP_THISNODE` and `__GFP_NOWARN`. */
const htlbModifyAllocMask = (h: Hstate, gfp: number): number =>
  htlbAllocMask(h) | (gfp & (__GFP_THISNODE | __GFP_NOWARN));

/**
 * `alloc_hugetlb_folio_nodemask()` (`mm/hugetlb.c`), as `alloc_migration_target()` calls it for a
 * hugetlb source: a free huge page nobody has reserved, from `nid` (only, with `__GFP_THISNODE`;
 * else nearest first within `nodemask`); when there is none, the first tries of a fresh temporary
 * huge page from the buddy allocator (`alloc_migrate_hugetlb_folio()`), on `nid` only unless
 * `reason` allows a fallback, allocated in `current` (the migrating task, or null for a kernel
 * thread of `nid`). Returns the head with one reference, or -1; the fresh page's slow path is
 * {@link allocHugetlbFolioNodemaskSlowpath}.
 *
 * @category Hugetlb
 */
export const allocHugetlbFolioNodemask = (
  h: Hstate,
  nid: number,
  nodemask: readonly number[] | null,
  gfp: number,
  reason: MigrateReason,
  current: AllocContext | null = null,
): number => {
  const pool = h as HugetlbPool;
  if (pool.availableHugePages > 0) {
    const head = pool.dequeueNodemask(nid, nodemask, htlbModifyAllocMask(h, gfp));
    if (head >= 0) return head;
  }
  const head = pool.allocFresh(nid, migrateFreshGfp(pool, gfp, reason), nodemask, current);
  if (head >= 0) pool.setTemporary(head);
  return head;
};

/**
 * The rest of {@link allocHugetlbFolioNodemask}'s fresh temporary huge page once its first tries
 * failed: `__alloc_pages_slowpath()`'s blocking steps for `alloc_migrate_hugetlb_folio()`'s
 * allocation (the pool's `GFP_HIGHUSER_MOVABLE` with `__GFP_COMP | __GFP_NOWARN |
 * __GFP_RETRY_MAYFAIL`: reclaim and compaction retried while they make progress, never the OOM
 * killer), the migration's `NewFolioFn.slowpath`. The head (temporary, one reference) or -1;
 * null for a gigantic pool, which migration never allocates from the buddy allocator.
 *
 * @category Hugetlb
 */
export const allocHugetlbFolioNodemaskSlowpath = (
  h: Hstate,
  nid: number,
  nodemask: readonly number[] | null,
  gfp: number,
  reason: MigrateReason,
  current: AllocContext | null = null,
): Effect.Effect<number, ErrnoError> | null => {
  const pool = h as HugetlbPool;
  const slow = pool.allocFreshSlowpath(nid, migrateFreshGfp(pool, gfp, reason), nodemask, current);
  return (
    slow &&
    Effect.map(slow, (head) => {
      if (head >= 0) pool.setTemporary(head);
      return head;
    })
  );
};

/**
 * A fresh {@link HugetlbReplacement}: no allocation waiting, no page.
 *
 * @category Hugetlb
 */
export const newHugetlbReplacement = (): HugetlbReplacement => ({
  request: null,
  folio: -1,
  page: -1,
});

/**
 * Runs the slow path a {@link HugetlbReplacement} waits for: `__alloc_pages_slowpath()`'s blocking
 * steps (`Kernel.allocPagesSlowpath()`) for `rep.request`, in `current` (null: a kernel thread of
 * the folio's node), the page they got (or -1) put in `rep.page` for the resumed call. An error
 * there would be the model's fault (the request is built from a folio's pool and node, and the
 * slow path fails only on bad arguments): a defect.
 *
 * @category Hugetlb
 */
export const hugetlbReplacementSlowpath = (
  k: Kernel,
  rep: HugetlbReplacement,
  current: AllocContext | null = null,
): Effect.Effect<void> =>
  Effect.suspend(() => {
    const req = rep.request;
    rep.request = null;
    if (!req) return Effect.void;
    return Effect.map(Effect.orDie(k.allocPagesSlowpath(req, current)), ({ page }) => {
      rep.page = page;
    });
  });

/**
 * Gives back the page of a {@link HugetlbReplacement} that no call took (`folio_put()`: the
 * folio it was for is gone from where the scan resumed, or the scan ended first), as
 * `alloc_and_dissolve_hugetlb_folio()` frees its new folio when the old one was freed from under
 * it; the replacement then waits for nothing.
 *
 * @category Hugetlb
 */
export const hugetlbReplacementRelease = (k: Kernel, rep: HugetlbReplacement): void => {
  putSlowpathPage(k, rep);
  rep.request = null;
  rep.folio = -1;
};

/**
 * `replace_free_hugepage_folios()` (`mm/hugetlb.c`, Linux 6.16), as `alloc_contig_range()` calls
 * it after migrating: every free hugetlb folio in `[start, end)` (a migrated folio's source that
 * went back to its pool, say) is replaced by a fresh huge page of its node and dissolved
 * (`alloc_and_dissolve_hugetlb_folio()`), so the pool keeps its size and the range's pages are
 * free. Each replacement is one whole allocation (`htlb_alloc_mask() | __GFP_THISNODE |
 * __GFP_RETRY_MAYFAIL`): when its first tries fail, its slow path reclaims and compacts on the
 * folio's node before the folio is tried again ({@link HugetlbReplacement}). 0, or the first
 * failure's negative errno (`-ENOMEM`: no replacement page). The replacements are allocated in
 * `current`, the task clearing the range (null: a kernel thread of the folio's node).
 *
 * @category Hugetlb
 */
export const replaceFreeHugepageFolios = (
  k: Kernel,
  start: number,
  end: number,
  current: AllocContext | null = null,
): Effect.Effect<number> =>
  Effect.suspend(() => {
    const m = k.memmap;
    const list = new FolioList(m.lru);
    const rep = newHugetlbReplacement();
    const putback = () => {
      for (const folio of list) {
        list.del(folio);
        k.hugetlbActive.putback(folio);
      }
    };
    return Effect.gen(function* () {
      for (let pfn = start; pfn < end; pfn++) {
        const head = m.folioOf(pfn);
        if (!m.test(head, PG_hugetlb)) continue;
        if (m.refcount[head] === 0) {
          const pool = poolOfFolio(k, head);
          let rc = pool.allocAndDissolveHugetlbFolio(head, list, current, rep);
          while (rc === null) {
            yield* hugetlbReplacementSlowpath(k, rep, current);
            rc = pool.allocAndDissolveHugetlbFolio(head, list, current, rep);
          }
          if (rc) return rc;
          putback();
        }
        pfn = head + m.folioNrPages(head) - 1;
      }
      return 0;
    }).pipe(
      Effect.ensuring(
        Effect.sync(() => {
          putback();
          list.release();
          hugetlbReplacementRelease(k, rep);
        }),
      ),
    );
  });

/**
 * `dissolve_free_hugetlb_folio()` (`mm/hugetlb.c`): breaks the free huge page holding `pfn` up
 * into base pages for the buddy allocator, shrinking the pool by one. 0 when done or when `pfn`
 * is not in a hugetlb folio; `-EBUSY` when the folio is in use, or when every free page is
 * reserved (`available_huge_pages()` is 0).
 *
 * @category Hugetlb
 */
export const dissolveFreeHugetlbFolio = (k: Kernel, pfn: number): number => {
  const head = k.memmap.folioOf(pfn);
  return k.memmap.test(head, PG_hugetlb) ? poolOfFolio(k, head).dissolveFree(head) : 0;
};

/** A pool counter as `%lu` prints the unsigned long it is in Linux: below 0 it wraps. */
const ulong = (v: number): string => (v < 0 ? BigInt.asUintN(64, BigInt(v)) : v).toString();

/**
 * `hugetlb_report_meminfo()` (`mm/hugetlb.c`): the hugetlb lines of `/proc/meminfo`. The
 * `HugePages_*` lines and `Hugepagesize` are the default pool's; `Hugetlb` counts the memory of
 * every pool.
 *
 * @category Hugetlb
 */
export const hugetlbReportMeminfo = (k: Kernel): string => {
  const h = k.hstate;
  const sizeKb = (k.mem.pageSize * 2 ** h.order) / 1024;
  const totalKb = k.hstates.reduce((s, p) => s + (p.size / 1024) * p.nrHugePages, 0);
  const n = (v: number) => ulong(v).padStart(5);
  return (
    `HugePages_Total:   ${n(h.nrHugePages)}\n` +
    `HugePages_Free:    ${n(h.freeHugePages)}\n` +
    `HugePages_Rsvd:    ${n(h.resvHugePages)}\n` +
    `HugePages_Surp:    ${n(h.surplusHugePages)}\n` +
    `Hugepagesize:   ${sizeKb.toString().padStart(8)} kB\n` +
    `Hugetlb:        ${totalKb.toString().padStart(8)} kB\n`
  );
};

/**
 * `hugetlb_report_node_meminfo()` (`mm/hugetlb.c`): the hugetlb lines of a node's `meminfo`, the
 * default pool's.
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
 * Parses a count written to a pool file: `kstrtoul()` in base 10 for sysfs (`EINVAL` for what is
 * not a number, `ERANGE` past 64 bits; the whole write consumed), `proc_doulongvec_minmax()` for
 * the sysctl (`pageSize` given; every failure `EINVAL`, and the bytes it consumed are what the
 * write returns). The value is the exact unsigned long, a bigint. An empty
 * write to the sysctl parses to `unchanged` with nothing consumed: `hugetlb_sysctl_handler_common()`
 * and `hugetlb_overcommit_handler()` start from the value the pool holds, and
 * `proc_doulongvec_minmax()` leaves it as it is.
 */
const parseCount = (
  name: string,
  text: string,
  count: number,
  sysctlPageSize: number | null,
  unchanged: bigint,
): { readonly value: bigint; readonly consumed: number } | ErrnoError => {
  if (sysctlPageSize !== null) {
    const v = procDoulongvecMinmax(name, text, count, sysctlPageSize);
    if (v === null) return { value: unchanged, consumed: 0 };
    return v instanceof Error ? v : { value: v.value, consumed: v.consumed };
  }
  const v = kstrtoull(text, 10);
  return typeof v === "bigint" ? { value: v, consumed: count } : v;
};

/** A pool size past what a double holds exactly, clamped to the largest: no pool is as big. */
const clampCount = (v: bigint): number =>
  v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);

/**
 * `__nr_hugepages_store_common()`: parses a count and resizes the pool (or one node's part). The
 * sysctl (`hugetlb_sysctl_handler()`) hands it the bytes `proc_doulongvec_minmax()` consumed.
 */
const nrHugepagesStore =
  (h: HugetlbPool, nid: number, sysctlPageSize: number | null) =>
  (
    text: string,
    count: number,
    current: TaskStruct | null,
  ): number | Effect.Effect<number, ErrnoError> => {
    // An empty sysctl write still resizes, to max_huge_pages (hugetlb_sysctl_handler_common()).
    const n = parseCount("nr_hugepages", text, count, sysctlPageSize, BigInt(h.maxHugePages));
    if (n instanceof Error) return n;
    return Effect.as(h.setMaxHugePages(clampCount(n.value), nid, current), n.consumed);
  };

/**
 * The `nr_hugepages` and `nr_overcommit_hugepages` files of a whole pool; `sysctlPageSize` is
 * `PAGE_SIZE` for the `/proc/sys/vm` pair, null for sysfs.
 */
const poolAttributes = (h: HugetlbPool, sysctlPageSize: number | null) => {
  return {
    nr_hugepages: {
      mode: 0o644,
      show: () => `${h.nrHugePages}\n`,
      store: nrHugepagesStore(h, NUMA_NO_NODE, sysctlPageSize),
    },
    nr_overcommit_hugepages: {
      mode: 0o644,
      show: () => `${h.nrOvercommitHugePagesExact}\n`,
      // nr_overcommit_hugepages_store() and hugetlb_overcommit_handler(): the limit is set; a
      // gigantic pool has none, refused before the parse (Linux 6.16).
      store: (text: string, count: number): number | ErrnoError => {
        if (h.gigantic) return errno("EINVAL", `${h.name}: gigantic pages cannot be overcommitted`);
        const n = parseCount(
          "nr_overcommit_hugepages",
          text,
          count,
          sysctlPageSize,
          h.nrOvercommitHugePagesExact,
        );
        if (n instanceof Error) return n;
        h.setNrOvercommitHugePages(n.value);
        return n.consumed;
      },
    },
  };
};

/**
 * Creates the pools' files, as `hugetlb_init()`, `hugetlb_sysfs_init()`,
 * `hugetlb_register_all_nodes()` and `hugetlb_sysctl_init()` (`mm/hugetlb.c`) do:
 *
 * - `/proc/sys/vm/nr_hugepages` and `/proc/sys/vm/nr_overcommit_hugepages` (0644), the default
 *   pool's;
 * - for each pool, `/sys/kernel/mm/hugepages/hugepages-<size>kB/` with `nr_hugepages`,
 *   `nr_overcommit_hugepages` (0644), `free_hugepages`, `resv_hugepages` and
 *   `surplus_hugepages` (0444);
 * - for each pool and node, `/sys/devices/system/node/node<N>/hugepages/hugepages-<size>kB/` with
 *   `nr_hugepages` (0644), `free_hugepages` and `surplus_hugepages` (0444).
 *
 * @category Hugetlb
 */
export const hugetlbSysfsInit = (k: Kernel): void => {
  const show = (value: () => number) => ({ mode: 0o444, show: () => `${ulong(value())}\n` });
  k.fs.registerSysctl("vm", poolAttributes(poolOf(k), k.mem.pageSize));
  for (const h of k.hstates as readonly HugetlbPool[]) {
    for (const node of k.mem.nodes) {
      const nid = node.nid;
      k.fs.addAttributes(`/sys/devices/system/node/node${nid}/hugepages/${h.name}`, {
        nr_hugepages: {
          mode: 0o644,
          show: () => `${h.nrHugePagesNode[nid]}\n`,
          store: nrHugepagesStore(h, nid, null),
        },
        free_hugepages: show(() => h.freeHugePagesNode[nid]!),
        surplus_hugepages: show(() => h.surplusHugePagesNode[nid]!),
      });
    }
    k.fs.addAttributes(`/sys/kernel/mm/hugepages/${h.name}`, {
      ...poolAttributes(h, null),
      free_hugepages: show(() => h.freeHugePages),
      resv_hugepages: show(() => h.resvHugePages),
      surplus_hugepages: show(() => h.surplusHugePages),
    });
  }
};
