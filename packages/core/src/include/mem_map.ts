/**
 * `struct page` as a structure of typed arrays, indexed by PFN.
 *
 * Models `mem_map` / `struct page` (`include/linux/mm_types.h`). There is no JS object per page:
 * each field is one typed array over every PFN, so a machine with millions of pages costs a fixed
 * number of allocations, and fields that are never written are never committed by the OS.
 *
 * | field | array | kernel field |
 * | --- | --- | --- |
 * | flags | `Uint32Array` (shared with copy workers) | `page->flags` |
 * | refcount | `Int32Array` | `page->_refcount` |
 * | mapcount | `Int32Array` | `page->_mapcount` + 1 (per page: PTEs that map it) |
 * | entire mapcount | `Int32Array` | `folio->_entire_mapcount` + 1 (at the head: PMDs that map the folio) |
 * | compound head | `Int32Array` | `page->compound_head` (head PFN + 1 on tail pages, else 0) |
 * | order | `Uint8Array` | `folio->_flags_1` order byte / buddy order in `page_private` |
 * | private | `Uint32Array` | `page->private` |
 * | mapping | `Int32Array` | `page->mapping` (address_space id, or minus an anon_vma id) |
 * | index | `Float64Array` | `page->index` (page offset in file or anon_vma; an `unsigned long`) |
 * | last cpupid | `Float64Array` | `page->_last_cpupid` (NUMA balancing; -1 when reset) |
 * | lru links | 2 × `Int32Array` | `page->lru` (see {@link ListSpace}) |
 *
 * That is 53 bytes per base page, under the 64 bytes of the kernel's own `struct page`. The index
 * is a double because the page offset of anonymous memory is its virtual page number, which for a
 * user address up to `TASK_SIZE` (2^47) needs 35 bits with 4 KiB pages: a double holds every
 * integer to 2^53 exactly.
 *
 * @module
 */
import { colouredArray } from "../lib/cache";
import { ListSpace } from "../lib/list";
import { PG_head, PG_hugetlb } from "./page_flags";

/**
 * The per-page metadata of one kernel. Models `mem_map`, the array of `struct page`
 * (`include/linux/mm_types.h`; allocated per section by `mm/sparse.c`).
 *
 * @category Memory and folios
 */
export class MemMap {
  /** `page->flags`. */
  readonly flags: Uint32Array;
  /** `page->_refcount`. */
  readonly refcount: Int32Array;
  /** Per page: the number of page-table entries that map it (`page->_mapcount + 1`). */
  readonly mapcount: Int32Array;
  /**
   * Per folio, at its head: the PMD entries that map the whole folio (`folio->_entire_mapcount +
   * 1`, `include/linux/mm_types.h`); a PMD mapping takes no per-page mapcount.
   */
  readonly entireMapcount: Int32Array;
  /** On tail pages, the head PFN plus one (`page->compound_head`); 0 elsewhere. */
  readonly compoundHead: Int32Array;
  /** On a folio's head page, its order; on a free buddy block's first page, the block's order. */
  readonly order: Uint8Array;
  /** `page->private`. */
  readonly private: Uint32Array;
  /** `folio->mapping`: an address_space id (> 0), minus an anon_vma id (< 0), or 0. */
  readonly mapping: Int32Array;
  /** `folio->index`: the page offset of the head in its file, or in its anon_vma's space. */
  readonly index: Float64Array;
  /**
   * `page->_last_cpupid` (`LAST_CPUPID` in `page->flags`, `include/linux/mm.h`): NUMA balancing's
   * record of a folio's last hinting fault, at the head: a cpupid (see {@link cpuPidToCpupid}),
   * or, for a slow-tier folio in memory tiering mode, the time in ms of its last scan or fault
   * (`folio_xchg_access_time()`). -1 when reset (`page_cpupid_reset_last()`): at boot and when
   * the page is freed. Migration hands it to the new folio, a split to every new folio.
   */
  readonly lastCpupid: Float64Array;
  /** `page->lru`: the links of every folio list and the buddy free lists. */
  readonly lru: ListSpace;
  /**
   * `folio->mlock_count` (`include/linux/mm_types.h`), at the head of a folio on the unevictable
   * list: how many times it is mlocked, about one per `VM_LOCKED` VMA mapping it. The kernel keeps
   * it in the slot of `lru.prev`, so it costs no bytes of its own and {@link bytesPerPage} does not
   * count it. Set and read by `mm/mlock.ts`.
   */
  readonly mlockCount: Int32Array;
  /**
   * Per large folio, at its head: every page-table entry that maps it (`folio->_large_mapcount` +
   * 1, `include/linux/mm_types.h`, Linux 6.16), a PMD or PUD counting one and each PTE one, hugetlb
   * folios included: the sum of its entire mapcount and its pages' mapcounts, kept as they change
   * so that {@link MemMap.folioMapcount} is one read. 0 on small folios, whose mapcount is their
   * page's. The kernel keeps it in the first tail page; it is per folio, and
   * {@link bytesPerPage} does not count it. Changed only by {@link MemMap.folioAddLargeMapcount},
   * {@link MemMap.folioSubLargeMapcount} and {@link MemMap.folioResetMmIds}, and by hugetlb's rmap
   * (`hugetlb_add_file_rmap()`, `hugetlb_remove_rmap()`), which counts its entries beside the
   * entire mapcount.
   */
  readonly largeMapcount: Int32Array;
  /**
   * A large (not hugetlb) folio's two MM id slots (`folio->_mm_id[2]`, `include/linux/mm_types.h`,
   * Linux 6.16 with `CONFIG_MM_ID`): slot `i` of the folio at `head` is `mmId[head + i]`, the
   * owning `mm`'s id (`mm->mm_id`; 0 is `MM_ID_DUMMY`, a free slot). A large folio has at least
   * two pages, so its slots lie in its own PFNs, as the kernel keeps them in its first tail page.
   * An unmapped folio's slots are free, as `prep_compound_head()` leaves a new one. Changed only by
   * {@link MemMap.folioAddLargeMapcount}, {@link MemMap.folioSubLargeMapcount} and
   * {@link MemMap.folioResetMmIds}; not counted in {@link bytesPerPage}.
   */
  readonly mmId: Int32Array;
  /**
   * `folio->_mm_id_mapcount[2]` (the kernel's value plus one): the entries of slot `i`'s `mm`
   * mapping the folio at `head`, at `head + i` as {@link MemMap.mmId}. Changed only by the same
   * helpers.
   */
  readonly mmIdMapcount: Int32Array;
  /**
   * `FOLIO_MM_IDS_SHARED_BIT` of `folio->_mm_ids`, at the head: 1 when the folio "may be mapped
   * shared". Read through {@link MemMap.folioMmIdsShared}; changed only by the same helpers.
   */
  readonly mmIdsShared: Uint8Array;

  constructor(readonly nrPfns: number) {
    // Each array a different number of cache lines into its buffer (lib/cache.ts): one page's
    // fields fall into different cache sets, as the kernel's struct page keeps them in one line.
    // Shared, so that copy workers can see PG_hwpoison and copy machine-check safely; colour 0,
    // as the workers view the whole buffer from its start.
    this.flags = colouredArray(Uint32Array, nrPfns, 0, true);
    this.refcount = colouredArray(Int32Array, nrPfns, 1);
    this.mapcount = colouredArray(Int32Array, nrPfns, 2);
    this.entireMapcount = colouredArray(Int32Array, nrPfns, 3);
    this.compoundHead = colouredArray(Int32Array, nrPfns, 4);
    this.order = colouredArray(Uint8Array, nrPfns, 5);
    this.private = colouredArray(Uint32Array, nrPfns, 6);
    this.mapping = colouredArray(Int32Array, nrPfns, 7);
    this.index = colouredArray(Float64Array, nrPfns, 8);
    this.lastCpupid = colouredArray(Float64Array, nrPfns, 9).fill(-1);
    this.lru = new ListSpace(nrPfns, 10);
    this.mlockCount = new Int32Array(nrPfns);
    this.largeMapcount = new Int32Array(nrPfns);
    this.mmId = new Int32Array(nrPfns);
    this.mmIdMapcount = new Int32Array(nrPfns);
    this.mmIdsShared = new Uint8Array(nrPfns);
  }

  /**
   * Bytes of metadata per base page: every per-PFN array. The list heads above the PFNs and the
   * section tables are per list and per section, not per page, and are not counted.
   */
  get bytesPerPage(): number {
    return (
      this.flags.BYTES_PER_ELEMENT +
      this.refcount.BYTES_PER_ELEMENT +
      this.mapcount.BYTES_PER_ELEMENT +
      this.entireMapcount.BYTES_PER_ELEMENT +
      this.compoundHead.BYTES_PER_ELEMENT +
      this.order.BYTES_PER_ELEMENT +
      this.private.BYTES_PER_ELEMENT +
      this.mapping.BYTES_PER_ELEMENT +
      this.index.BYTES_PER_ELEMENT +
      this.lastCpupid.BYTES_PER_ELEMENT +
      ListSpace.BYTES_PER_PFN
    );
  }

  /** Total bytes of all metadata arrays, list heads included. */
  get totalBytes(): number {
    return (
      this.flags.byteLength +
      this.refcount.byteLength +
      this.mapcount.byteLength +
      this.entireMapcount.byteLength +
      this.compoundHead.byteLength +
      this.order.byteLength +
      this.private.byteLength +
      this.mapping.byteLength +
      this.index.byteLength +
      this.lastCpupid.byteLength +
      this.lru.next.byteLength +
      this.lru.prev.byteLength
    );
  }

  /**
   * The head PFN of the folio that contains `pfn` (`page_folio()`, `include/linux/page-flags.h`).
   */
  folioOf(pfn: number): number {
    const head = this.compoundHead[pfn]!;
    return head === 0 ? pfn : head - 1;
  }

  /** The folio's order (`folio_order()`, `include/linux/mm.h`); 0 for a small folio. */
  folioOrder(head: number): number {
    return this.flags[head]! & PG_head ? this.order[head]! : 0;
  }

  /** The folio's number of base pages (`folio_nr_pages()`, `include/linux/mm.h`). */
  folioNrPages(head: number): number {
    return this.flags[head]! & PG_head ? 1 << this.order[head]! : 1;
  }

  /**
   * Every page-table entry that maps the folio (`folio_mapcount()`, `include/linux/mm.h`): its
   * PMD mappings, one each, plus the PTEs that map any of its pages, one each. For a large folio
   * that is its `folio->_large_mapcount` ({@link MemMap.largeMapcount}), one read; for a small one
   * its page's mapcount.
   */
  folioMapcount(head: number): number {
    return this.flags[head]! & PG_head ? this.largeMapcount[head]! : this.mapcount[head]!;
  }

  /**
   * `folio_add_return_large_mapcount()` (`include/linux/rmap.h`, Linux 6.16), called after the
   * mapcounts took `diff` new entries (PTEs or one PMD) of the `mm` with id `mmId` (> 0): the
   * folio's large mapcount takes them; an `mm` that holds a slot counts them there; else it takes
   * the first free slot, and sets the "maybe mapped shared" bit unless these are the folio's only
   * mappings (always for slot 1); with no free slot the bit stays as it is (set, since two other
   * MMs hold the slots). Nothing for a small folio; a hugetlb folio counts the entries and keeps no
   * slots (`hugetlb_add_file_rmap()`). O(1).
   */
  folioAddLargeMapcount(head: number, diff: number, mmId: number): void {
    const flags = this.flags[head]!;
    if (!(flags & PG_head)) return;
    const total = this.largeMapcount[head]! + diff;
    this.largeMapcount[head] = total;
    if (flags & PG_hugetlb) return;
    const ids = this.mmId;
    const slot = ids[head] === mmId ? head : ids[head + 1] === mmId ? head + 1 : -1;
    if (slot !== -1) this.mmIdMapcount[slot]! += diff;
    else if (ids[head] === 0) {
      ids[head] = mmId;
      this.mmIdMapcount[head] = diff;
      if (total !== diff) this.mmIdsShared[head] = 1;
    } else if (ids[head + 1] === 0) {
      ids[head + 1] = mmId;
      this.mmIdMapcount[head + 1] = diff;
      this.mmIdsShared[head] = 1;
    }
  }

  /**
   * `folio_sub_return_large_mapcount()` (`include/linux/rmap.h`, Linux 6.16), called after the
   * mapcounts lost `diff` entries of the `mm` with id `mmId`: the folio's large mapcount drops
   * them; a slot of that `mm` drops them and is done unless it is left with none (or fewer, as
   * mappings added while no slot was free can make it), which frees it; then, or when the `mm`
   * holds no slot, the "maybe mapped shared" bit is cleared if one slot holds every mapping left
   * (both free when none is left). Nothing for a small folio; a hugetlb folio only drops the
   * entries (`hugetlb_remove_rmap()`). O(1).
   */
  folioSubLargeMapcount(head: number, diff: number, mmId: number): void {
    const flags = this.flags[head]!;
    if (!(flags & PG_head)) return;
    const left = this.largeMapcount[head]! - diff;
    this.largeMapcount[head] = left;
    if (flags & PG_hugetlb) return;
    const ids = this.mmId;
    const counts = this.mmIdMapcount;
    if (ids[head] === 0 && ids[head + 1] === 0 && this.mmIdsShared[head] === 0) return;
    const slot = ids[head] === mmId ? head : ids[head + 1] === mmId ? head + 1 : -1;
    if (slot !== -1) {
      counts[slot]! -= diff;
      if (counts[slot]! > 0) return;
      counts[slot] = 0;
      ids[slot] = 0;
    }
    if (counts[head] === left || counts[head + 1] === left) this.mmIdsShared[head] = 0;
    if (left === 0) this.folioResetMmIds(head);
  }

  /**
   * Zeroes the large mapcount of the large folio at `head`, frees both its MM id slots and clears
   * its "maybe mapped shared" bit, as `prep_compound_head()` (`mm/internal.h`) leaves a new large
   * folio: for a folio that no longer keeps them (unmapped, or split into small folios, whose
   * mappings then count on their own pages).
   */
  folioResetMmIds(head: number): void {
    this.largeMapcount[head] = 0;
    this.mmId[head] = 0;
    this.mmIdMapcount[head] = 0;
    this.mmIdsShared[head] = 0;
    this.mmId[head + 1] = 0;
    this.mmIdMapcount[head + 1] = 0;
  }

  /**
   * The "maybe mapped shared" bit of a large folio (`FOLIO_MM_IDS_SHARED_BIT`,
   * `include/linux/mm_types.h`): set once its mappings belonged to more than one `mm`, cleared
   * only when one slot again holds them all (see {@link MemMap.folioSubLargeMapcount}).
   */
  folioMmIdsShared(head: number): boolean {
    return this.mmIdsShared[head] === 1;
  }

  /**
   * The PMD entries that map the whole folio (`folio_entire_mapcount()`, `include/linux/mm.h`).
   */
  folioEntireMapcount(head: number): number {
    return this.entireMapcount[head]!;
  }

  /**
   * The entries that map one page (`page_mapcount()` of the kernels that had it,
   * `include/linux/mm.h`): the PTEs that map it plus the PMDs that map its whole folio.
   */
  pageMapcount(pfn: number): number {
    return this.mapcount[pfn]! + this.entireMapcount[this.folioOf(pfn)]!;
  }

  /** True when any page of the folio is mapped (`folio_mapped()`, `include/linux/mm.h`). */
  folioMapped(head: number): boolean {
    return this.folioMapcount(head) > 0;
  }

  /**
   * Tests flag bits on a page (`PageX()` / `folio_test_x()` on the head,
   * `include/linux/page-flags.h`).
   */
  test(pfn: number, flag: number): boolean {
    return (this.flags[pfn]! & flag) !== 0;
  }

  /** Sets flag bits (`folio_set_x()`, `include/linux/page-flags.h`). */
  set(pfn: number, flag: number): void {
    this.flags[pfn]! |= flag;
  }

  /** Clears flag bits (`folio_clear_x()`, `include/linux/page-flags.h`). */
  clear(pfn: number, flag: number): void {
    this.flags[pfn]! &= ~flag;
  }

  /**
   * Clears the bits and says whether any was set (`folio_test_clear_x()`,
   * `include/linux/page-flags.h`).
   */
  testAndClear(pfn: number, flag: number): boolean {
    const was = (this.flags[pfn]! & flag) !== 0;
    this.flags[pfn]! &= ~flag;
    return was;
  }
}

/**
 * `LAST__PID_SHIFT` (`include/linux/page-flags-layout.h`): 8, the low bits of a cpupid that hold
 * the faulting task's pid (its low 8 bits).
 *
 * @category NUMA balancing
 */
export const LAST__PID_SHIFT = 8;

/**
 * `LAST__PID_MASK` (`include/linux/page-flags-layout.h`): `(1 << LAST__PID_SHIFT) - 1`.
 *
 * @category NUMA balancing
 */
export const LAST__PID_MASK = (1 << LAST__PID_SHIFT) - 1;

/**
 * `cpu_pid_to_cpupid()` (`include/linux/mm.h`): the cpupid NUMA balancing records for a hinting
 * fault by task `pid`. The model's tasks run on a node, not a CPU: the CPU bits hold the node
 * (`nid`), so that {@link cpupidToNid} gives back what `cpu_to_node(cpupid_to_cpu())` gives.
 *
 * @category NUMA balancing
 */
export const cpuPidToCpupid = (nid: number, pid: number): number =>
  nid * 2 ** LAST__PID_SHIFT + (pid & LAST__PID_MASK);

/**
 * `cpupid_to_nid()` (`include/linux/mm.h`): the node of a cpupid's CPU; -1 for a reset one.
 *
 * @category NUMA balancing
 */
export const cpupidToNid = (cpupid: number): number =>
  cpupid < 0 ? -1 : Math.floor(cpupid / 2 ** LAST__PID_SHIFT);

/**
 * `cpupid_pid_unset()` (`include/linux/mm.h`): the pid bits are all ones, as
 * `page_cpupid_reset_last()` leaves them: no fault was recorded.
 *
 * @category NUMA balancing
 */
export const cpupidPidUnset = (cpupid: number): boolean =>
  (cpupid & LAST__PID_MASK) === (-1 & LAST__PID_MASK);

/**
 * `cpupid_valid()` (`include/linux/mm.h`): the CPU bits name a CPU (here a node), which a reset
 * cpupid's all-ones bits do not.
 *
 * @category NUMA balancing
 */
export const cpupidValid = (cpupid: number): boolean => cpupid >= 0;

/**
 * `folio_xchg_last_cpupid()` (`include/linux/mm.h`): stores `cpupid` (or an access time) in the
 * folio's head and returns what was there.
 *
 * @category NUMA balancing
 */
export const folioXchgLastCpupid = (m: MemMap, head: number, cpupid: number): number => {
  const last = m.lastCpupid[head]!;
  m.lastCpupid[head] = cpupid;
  return last;
};

/**
 * `page_cpupid_reset_last()` (`include/linux/mm.h`): forgets the page's last fault (-1).
 *
 * @category NUMA balancing
 */
export const pageCpupidResetLast = (m: MemMap, pfn: number): void => {
  m.lastCpupid[pfn] = -1;
};
