/**
 * Page faults and memory access through page tables.
 *
 * Models `mm/memory.c`: `handle_mm_fault()` with its anonymous (`do_anonymous_page`), file and
 * shmem (`do_read_fault`, `do_shared_fault`, `do_cow_fault`) and write-protect (`do_wp_page`)
 * paths, and `zap_pte_range()`. A first read of untouched private anonymous memory maps the
 * shared zero page; a first write allocates a folio whose size follows the VMA's THP orders where
 * the range is aligned, falling back to smaller orders as `alloc_anon_folio()` does. New folios
 * are placed by the NUMA policy.
 *
 * A PMD-sized THP of a private anonymous VMA is mapped by one huge PMD
 * (`do_huge_pmd_anonymous_page()`, `mm/huge_memory.c`) where the VMA holds the whole aligned range
 * and nothing is mapped in it yet; a read fault there maps the huge zero folio with a huge PMD
 * while `use_zero_page` is set. A PMD-size file or shmem folio is mapped by one huge PMD where the
 * VMA is suitably aligned (`do_set_pmd()`). Smaller mTHPs and folios are mapped by PTEs: a
 * shmem fault maps the whole folio where it fits (`finish_fault()`), and a read fault on a file
 * or shmem VMA first maps the cached pages around it (`do_fault_around()`, `fault_around_bytes`). A
 * hugetlb VMA's faults are `hugetlb_fault()`'s (`mm/hugetlb.ts`), which maps huge entries only.
 * A write to a write-protected huge PMD reuses the folio when this mm alone holds it, else splits
 * the PMD and copies the one page (`do_huge_pmd_wp_page()`); one to the huge zero folio gets a
 * THP of its own, or falls back to PTEs; in a file VMA the PMD is zapped and the fault handled at
 * the PTE level (`wp_huge_pmd()`).
 *
 * Accesses go through the address space's TLB, then the page table: a huge PMD gives the page at
 * the address's offset in its folio. One that meets a migration entry, of a PTE or a PMD, reports
 * the folio to wait for, as `migration_entry_wait()` and `pmd_migration_entry_wait()` do; the
 * caller waits until that folio is unlocked and retries.
 *
 * @module
 */
import { type ErrnoError, errno, SignalError } from "../errno";
import { debugfsAttribute } from "../fs/debugfs";
import { type DirectCompact, directCompactFaultDone } from "../include/compaction";
import {
  __GFP_COMP,
  __GFP_DIRECT_RECLAIM,
  __GFP_ZERO,
  GFP_HIGHUSER_MOVABLE,
  GFP_TRANSHUGE,
  GFP_TRANSHUGE_LIGHT,
} from "../include/gfp";
import type { Kernel, Task } from "../include/kernel";
import {
  allocPagesMpolRequests,
  NO_INTERLEAVE_INDEX,
  taskPolicyRequests,
} from "../include/mempolicy";
import {
  type MmStruct,
  VM_FAULT_RETRY,
  VM_GROWSDOWN,
  VM_HUGEPAGE,
  VM_HUGETLB,
  VM_LOCKED,
  VM_NOHUGEPAGE,
  VM_SHARED,
  VM_WRITE,
  type Vma,
} from "../include/mm_types";
import type { AllocRequest } from "../include/mmzone";
import { TASK_SIZE } from "../include/page_64_types";
import { PG_hugetlb, PG_hwpoison, PG_swapbacked, PG_uptodate } from "../include/page_flags";
import {
  isHwpoisonEntry,
  isMigrationEntry,
  mkPte,
  PTE_DIRTY,
  PTE_PFN_SHIFT,
  PTE_PROTNONE,
  PTE_SPECIAL,
  PTE_WRITE,
  PTE_YOUNG,
  pteDirty,
  ptePfn,
  ptePresent,
  pteProtnone,
  pteSpecial,
  pteWrite,
  pteYoung,
} from "../include/pgtable";
import { forceSigFault, forceSigMceerr } from "../include/signal";
import {
  filemapAddFolio,
  filemapGetFolio,
  filemapMapPages,
  filemapMaxIndex,
  folioMarkDirty,
  folioUnlock,
  type MapPagesFault,
} from "./filemap";
import { filemapFault } from "./filemap_fault";
import {
  deferredSplitFolio,
  folioRemoveRmapDeferred,
  hpagePmdSize,
  isHugeZeroPmd,
  mmGetHugeZeroFolio,
  splitHugePmd,
  zapHugePmd,
} from "./huge_memory";
import { hugeEntries, hugetlbFault, unmapHugepageRange } from "./hugetlb";
import { migrateMisplacedFolioPrepare } from "./migrate_misplaced";
import { mlockNewFolio, mlockVmaFolio, munlockVmaFolio } from "./mlock";
import { anonVmaPrepare, folioMappings } from "./rmap";
import { shmemInodeAcctBlocks, shmemRecalcInode } from "./shmem_acct";
import { folioPut } from "./swap";
import { expandDownwards, STK_LIM, vmaIsAccessible } from "./vma";

/**
 * The entry that maps one page of a VMA: its PTE, or a huge PMD or PUD narrowed to the page (the same
 * bits, naming the page at its offset in the folio), or 0. Models the lookup of
 * `folio_walk_start()` (`mm/memory.c`), which stops at whichever level maps the page. `slot` is
 * the page's index in the VMA.
 *
 * @category Page tables
 */
export const folioWalkEntry = (k: Kernel, vma: Vma, slot: number): number => {
  // A 1 GiB hugetlb page's huge PUD (huge_pte_offset() stopping at the PUD), then a huge PMD.
  const huge =
    hugeEntryAt(k, vma.puds, k.pudOrder, vma, slot) ??
    hugeEntryAt(k, vma.pmds, k.pmdOrder, vma, slot);
  return huge ?? vma.ptes[slot]!;
};

/** The entry of `entries` (huge entries of `order`) that maps page `slot`, narrowed to it. */
const hugeEntryAt = (
  k: Kernel,
  entries: ReadonlyMap<number, number>,
  order: number,
  vma: Vma,
  slot: number,
): number | undefined => {
  if (entries.size === 0) return undefined;
  const vpn = vma.start / k.mem.pageSize + slot;
  // 1 << order, not 2 ** order: a power is a floating-point call on every page move_pages() looks up.
  const offset = vpn % (1 << order);
  const entry = entries.get((vpn - offset) * k.mem.pageSize);
  return entry === undefined ? undefined : (entry + offset * 2 ** PTE_PFN_SHIFT) >>> 0;
};

/** The PMD-aligned address of the huge PMD range that holds `addr`. */
const pmdAddress = (k: Kernel, addr: number): number => addr - (addr % hpagePmdSize(k));

/**
 * `pmd_none()` (`include/linux/pgtable.h`) of the PMD at `haddr` (PMD-aligned) of `vma`'s address
 * space: no huge PMD there and no PTE table under it ({@link MmStruct.pteTables}).
 */
const pmdNone = (vma: Vma, haddr: number): boolean =>
  !vma.pmds.has(haddr) && !vma.mm.pteTables.has(haddr);

/**
 * `pte_alloc()` / `pmd_install()` (`mm/memory.c`): the PMD range that holds page `slot` of `vma`
 * gets its PTE table, if it has none yet.
 */
const pteAlloc = (k: Kernel, vma: Vma, slot: number): void => {
  vma.mm.pteTables.add(pmdAddress(k, vma.start + slot * k.mem.pageSize));
};

/**
 * `free_pgd_range()` (`mm/memory.c`, Linux 6.16) as it reaches the PTE tables: frees the PTE
 * table of every PMD range that `[addr, end)` touches, but for the first when its range starts
 * below `floor` and the last when it reaches the PMD range of `ceiling` (0: no ceiling,
 * `USER_PGTABLES_CEILING`), where a VMA outside the range may still use the table.
 */
const freePgdRange = (
  k: Kernel,
  mm: MmStruct,
  addr: number,
  end: number,
  floor: number,
  ceiling: number,
): void => {
  const size = hpagePmdSize(k);
  let from = pmdAddress(k, addr);
  if (from < floor) from += size;
  let to = end;
  if (ceiling !== 0) {
    const top = pmdAddress(k, ceiling);
    if (top === 0) return;
    if (to - 1 > top - 1) to -= size;
  }
  if (from > to - 1) return;
  // Deleting the entry just visited is safe while a Set is iterated.
  for (const haddr of mm.pteTables) if (haddr >= from && haddr < to) mm.pteTables.delete(haddr);
};

/**
 * `free_pgtables()` (`mm/memory.c`, Linux 6.16): after `munmap()` zapped `vmas` (the VMAs it
 * removes, in address order), frees the PTE tables no VMA needs any more. VMAs less than a PMD
 * apart are gathered into one `free_pgd_range()` call; a hugetlb VMA gets its own
 * (`hugetlb_free_pgd_range()`, the same on x86). `floor` is the end of the VMA below the range
 * (`prev->vm_end`, or `FIRST_USER_ADDRESS`, 0), `ceiling` the start of the VMA above it
 * (`next->vm_start`, or 0 for `USER_PGTABLES_CEILING`): a PTE table whose PMD range reaches one of
 * them stays, even when every PTE in it is none.
 */
export const freePgtables = (
  k: Kernel,
  mm: MmStruct,
  vmas: readonly Vma[],
  floor: number,
  ceiling: number,
): void => {
  const size = hpagePmdSize(k);
  for (let i = 0; i < vmas.length; ) {
    const addr = vmas[i]!.start;
    let last = vmas[i]!;
    i++;
    if (!(last.flags & VM_HUGETLB)) {
      while (
        i < vmas.length &&
        vmas[i]!.start <= last.end + size &&
        !(vmas[i]!.flags & VM_HUGETLB)
      ) {
        last = vmas[i]!;
        i++;
      }
    }
    freePgdRange(k, mm, addr, last.end, floor, i < vmas.length ? vmas[i]!.start : ceiling);
  }
};

/**
 * `vma_thp_gfp_mask()` (`mm/huge_memory.c`) under the default `defrag` setting, `madvise`: a
 * THP for a `MADV_HUGEPAGE` VMA may compact directly (`GFP_TRANSHUGE`), any other asks only the
 * free lists (`GFP_TRANSHUGE_LIGHT`).
 */
const vmaThpGfpMask = (vma: Vma): number =>
  vma.flags & VM_HUGEPAGE ? GFP_TRANSHUGE : GFP_TRANSHUGE_LIGHT;

/**
 * The allocations of `alloc_pages_mpol()` (`reqs`, from `allocPagesMpolRequests()`,
 * `include/mempolicy.ts`) for a fault, each a `__alloc_pages()`: takes the block the slow path got
 * for this allocation's order (`dc.page`, allocated with these flags right after), or the first
 * tries' (fast path, min watermark, reserves). When those fail and the request may reclaim
 * directly, the slow path's blocking steps follow (`allocPagesSlowpath()`: reclaim and compaction
 * as the gfp flags, the order and the task's `PF_MEMALLOC` decide, for any order): with `dc`, the
 * fault asks for them instead, once per order and request (`dc.tried`), filling `dc.request` and
 * returning -1 (the caller returns `VM_FAULT_RETRY`, runs the slow path and faults again). A
 * local-node-first request whose slow path failed is done for this fault (`dc.thisNode`): the
 * retried fault goes on to the next request. Without `dc` only the first tries run, request after
 * request. `task` is the allocating task (`current`). Returns the head PFN, or -1.
 */
const faultAllocPages = (
  k: Kernel,
  task: Task,
  reqs: readonly AllocRequest[],
  dc?: DirectCompact,
): number => {
  const order = reqs[0]!.order;
  const bit = 1 << order;
  let head = -1;
  if (dc && dc.page >= 0 && k.memmap.folioOrder(dc.page) === order) {
    // Allocated with this gfp (zeroed) by the slow path.
    head = dc.page;
    dc.page = -1;
  } else {
    let i = 0;
    if (dc && reqs.length > 1) {
      // The local-node-first request's slow path ran in this fault and got nothing.
      if (!(dc.thisNode & bit) && dc.tried & bit) {
        dc.thisNode |= bit;
        dc.tried &= ~bit;
      }
      if (dc.thisNode & bit) i = 1;
    }
    for (; i < reqs.length && head < 0; i++) {
      const req = reqs[i]!;
      head = k.pageAlloc.allocPages(req.nid, order, req.gfp, req.nodemask, task);
      if (head < 0 && dc && req.gfp & __GFP_DIRECT_RECLAIM && !(dc.tried & bit)) {
        dc.request = k.pageAlloc.slowpathRequest(req);
        return -1;
      }
    }
  }
  // The fault has its folio: the next fault of the access may take the slow path again, for any
  // order. (Cleared only then: each retry starts again from the largest order, and an order tried
  // once falls back at once, so a fault runs the slow path at most once per order and request.)
  if (dc && head >= 0) directCompactFaultDone(dc);
  return head;
};

/**
 * Allocates a folio for a fault at `slot` of `vma`, trying `orders` (largest first) and placing
 * it by NUMA policy. Returns the head PFN, or -1 when every order failed. Counts THP successes
 * and fallbacks in `/proc/vmstat` (PMD size) and in the per-size mTHP statistics, but for a shmem
 * folio's success, which `doFault` counts once the folio's pages are committed.
 *
 * With `dc`, an allocation that may reclaim directly and fails asks for the slow path instead
 * of falling back: it fills `dc.request` and returns -1 without counting anything; the fault
 * then returns `VM_FAULT_RETRY`. The retried fault takes the page the slow path got
 * (`dc.page`), or falls back to the next order, as `alloc_anon_folio()` does (`mm/memory.c`):
 * each order is tried, and counted as allocated or fallen back, once per fault.
 *
 * The folio is zeroed (`__GFP_ZERO`) unless `zero` is false: a page-cache folio the file's read
 * fills whole (`filemap_alloc_folio()` asks for no zeroing; `->read_folio()` writes every byte,
 * zeros for a hole). A regular file's page-cache folio (`pageCache`) is placed by the task's
 * policy, never the VMA's (`filemap_alloc_folio()` → `alloc_pages()`, `NO_INTERLEAVE_INDEX`);
 * an anonymous or shmem folio by the VMA's (`vma_alloc_folio()`, `shmem_alloc_folio()`).
 */
const allocFaultFolio = (
  k: Kernel,
  task: Task,
  vma: Vma,
  pgoff: number,
  orders: readonly number[],
  dc?: DirectCompact,
  zero = true,
  pageCache = false,
): number => {
  for (const order of orders) {
    // An order whose slow path failed before a smaller one was tried fell back (and was counted)
    // on an earlier retry of this fault: Linux tries it no more (`next_order()`).
    if (dc && dc.tried & (1 << order) && dc.tried & ((1 << order) - 1)) continue;
    const gfp =
      (order > 0 ? vmaThpGfpMask(vma) : GFP_HIGHUSER_MOVABLE) |
      (zero ? __GFP_ZERO : 0) |
      (order > 0 ? __GFP_COMP : 0);
    // vma_alloc_folio() / shmem_alloc_folio() → alloc_pages_mpol() at the folio's index.
    const reqs = allocPagesMpolRequests(
      pageCache ? task.policy : (vma.policy ?? task.policy),
      task.nid,
      pageCache ? NO_INTERLEAVE_INDEX : Math.floor(pgoff / 2 ** order),
      order,
      gfp,
      k.distance,
      k.pmdOrder,
    );
    const head = faultAllocPages(k, task, reqs, dc);
    if (dc?.request) return -1;
    if (order > 0 && vma.mapping?.shmem) {
      // shmem_alloc_and_add_folio() (`mm/shmem.c`): thp_file_fallback for the PMD size,
      // shmem_fallback in every size's stats; a folio allocated is counted by the caller once
      // its pages are committed (`doFault()`).
      if (head < 0) {
        if (order === k.pmdOrder) k.vmstat.count("thp_file_fallback");
        k.thp.countMthpStat(order, "shmem_fallback");
      }
    } else if (order > 0) {
      // A PMD THP counts in /proc/vmstat and its size's stats (`__do_huge_pmd_anonymous_page()`,
      // `mm/huge_memory.c`); a smaller mTHP only in its size's (`alloc_anon_folio()`,
      // `mm/memory.c`).
      if (order === k.pmdOrder)
        k.vmstat.count(head >= 0 ? "thp_fault_alloc" : "thp_fault_fallback");
      k.thp.countMthpStat(order, head >= 0 ? "anon_fault_alloc" : "anon_fault_fallback");
    }
    if (head >= 0) return head;
  }
  return -1;
};

/** The first slot of the naturally aligned run of `1 << order` pages around `slot`, if it fits. */
const alignedRun = (
  k: Kernel,
  vma: Vma,
  slot: number,
  order: number,
  pgoffAligned: boolean,
): number => {
  const nr = 2 ** order;
  const vpn = vma.start / k.mem.pageSize + slot;
  const first = slot - (vpn % nr);
  if (first < 0 || first + nr > vma.nrPages) return -1;
  if (pgoffAligned && (vma.pgoff + first) % nr !== 0) return -1;
  for (let i = first; i < first + nr; i++) if (vma.ptes[i] !== 0) return -1;
  return first;
};

/**
 * Sets a new anonymous folio's flags and puts it on the LRU (`folio_add_lru_vma()`, `mm/swap.c`):
 * in a `VM_LOCKED` VMA it is mlocked and goes on the unevictable list, whatever its size
 * (`mlock_new_folio()`, `mm/mlock.c`).
 */
const prepNewFolio = (k: Kernel, vma: Vma, head: number, flags: number): void => {
  k.memmap.set(head, flags | PG_uptodate);
  if (vma.flags & VM_LOCKED) mlockNewFolio(k, head);
  else k.lru.folioAddLru(head);
};

/**
 * Maps `nr` pages of a folio from `slot`, taking a mapcount and a reference for each. The PTEs
 * are young: x86's `vm_page_prot` carries `_PAGE_ACCESSED` (`protection_map[]`,
 * `arch/x86/include/asm/pgtable_types.h`), so `mk_pte()` in `do_anonymous_page()`,
 * `wp_page_copy()` and `set_pte_range()` makes an accessed entry, fault-around's prefaulted
 * pages included (`arch_wants_old_prefaulted_pte()` is false on x86).
 */
const mapPages = (
  k: Kernel,
  vma: Vma,
  slot: number,
  page: number,
  nr: number,
  bits: number,
): void => {
  const m = k.memmap;
  pteAlloc(k, vma, slot);
  for (let i = 0; i < nr; i++) {
    vma.ptes[slot + i] = mkPte(page + i, bits | PTE_YOUNG);
    m.mapcount[page + i]!++;
  }
  m.folioAddLargeMapcount(m.folioOf(page), nr, vma.mm.id);
  m.refcount[m.folioOf(page)]! += nr;
};

/**
 * `set_pte_range()` with `folio_add_file_rmap_ptes()` (`mm/memory.c`, `mm/rmap.c`, Linux 6.16):
 * maps `nr` pages of a page-cache folio ({@link mapPages}), then `__folio_add_file_rmap()` mlocks
 * a small folio mapped into a `VM_LOCKED` VMA (`mlock_vma_folio()`), whether the fault found it
 * cached or just read it.
 */
const mapFilePages = (...args: Parameters<typeof mapPages>): void => {
  mapPages(...args);
  const [k, vma, , page] = args;
  mlockVmaFolio(k, vma, k.memmap.folioOf(page));
};

/**
 * `folio_add_new_anon_rmap()` (`mm/rmap.c`, Linux 6.16): makes a fresh folio anonymous memory of
 * this VMA at `slot`, swap-backed unless the VMA is `VM_DROPPABLE` ({@link Vma.droppable}), whose
 * folios reclaim drops instead of swapping (and which therefore go on the file LRU lists). A
 * large folio counts in its size's `nr_anon`.
 */
const newAnonRmap = (k: Kernel, vma: Vma, head: number, slot: number): void => {
  k.memmap.mapping[head] = -anonVmaPrepare(k, vma).id;
  k.memmap.index[head] = vma.pgoff + slot;
  if (!vma.droppable) k.memmap.set(head, PG_swapbacked);
  k.thp.modMthpStat(k.memmap.folioOrder(head), "nr_anon", 1);
};

const noMemory = (k: Kernel, vma: Vma, slot: number): ErrnoError =>
  errno("ENOMEM", `no memory for a fault at 0x${(vma.start + slot * k.mem.pageSize).toString(16)}`);

/**
 * `map_anon_folio_pmd()` (`mm/huge_memory.c`): maps a new anonymous PMD-size folio at `haddr`
 * with one huge PMD, young as `mk_huge_pmd()` makes it from x86's `vm_page_prot`, which takes the
 * folio's entire mapcount and one reference. Queuing it on the deferred split queue is its
 * caller's: in Linux 6.16 only `__do_huge_pmd_anonymous_page()` does
 * (`deferred_split_folio(folio, false)`, 6.12+); the huge zero folio's write fault
 * (`do_huge_zero_wp_pmd()`) does not (it does since commit 2a1351cd4176, after 6.16).
 */
const mapAnonFolioPmd = (k: Kernel, vma: Vma, haddr: number, head: number, bits: number) => {
  vma.pmds.set(haddr, mkPte(head, bits | PTE_YOUNG));
  k.memmap.entireMapcount[head]!++;
  k.memmap.folioAddLargeMapcount(head, 1, vma.mm.id);
  k.memmap.refcount[head]!++;
};

/**
 * `do_anonymous_page()` and `do_huge_pmd_anonymous_page()` (`mm/huge_memory.c`, Linux 6.16). A
 * read where a PMD THP is allowed and fits maps the huge zero folio with a read-only huge PMD
 * while `use_zero_page` is set (falling back to the zero page, counted in `thp_fault_fallback`,
 * when it cannot be allocated), and allocates a PMD THP like a write when it is not; any other
 * read maps the zero page. A PMD THP or the huge zero folio is tried only where the PMD is none
 * (`__handle_mm_fault()` calls `create_huge_pmd()` only then): a PTE table left in the range,
 * even with every PTE none, sends the fault to the PTE level. There `do_anonymous_page()`
 * allocates the range's PTE table (`pte_alloc()`) before its folio, so a fault that falls back
 * from the PMD size leaves the table even when it then fails.
 */
const doAnonymousPage = (
  k: Kernel,
  task: Task,
  vma: Vma,
  slot: number,
  write: boolean,
  dc?: DirectCompact,
): ErrnoError | 0 | typeof VM_FAULT_RETRY => {
  let orders: number[];
  const none = pmdNone(vma, pmdAddress(k, vma.start + slot * k.mem.pageSize));
  if (write) {
    orders = [...k.thp.allowableOrders(vma.flags), 0];
    if (!none) orders = orders.filter((order) => order !== k.pmdOrder);
  } else {
    const first =
      none && k.thp.allowableOrders(vma.flags).includes(k.pmdOrder)
        ? alignedRun(k, vma, slot, k.pmdOrder, false)
        : -1;
    if (first >= 0 && k.thp.useZeroPage) {
      anonVmaPrepare(k, vma); // vmf_anon_prepare()
      // get_huge_zero_folio() allocates with GFP_TRANSHUGE: direct compaction first, as any
      // THP allocation that may reclaim directly. It is folio_alloc(): the task's policy at no
      // interleave index, so no local-node-first try.
      const zero = mmGetHugeZeroFolio(k, vma.mm, (gfp, order) => {
        const reqs = taskPolicyRequests(task, order, gfp, k.distance, k.pmdOrder);
        const pfn = faultAllocPages(k, task, reqs, dc);
        return dc?.request ? null : pfn;
      });
      if (zero === null) return VM_FAULT_RETRY;
      if (zero >= 0) {
        vma.pmds.set(vma.start + first * k.mem.pageSize, mkPte(zero, PTE_SPECIAL | PTE_YOUNG));
        return 0;
      }
      k.vmstat.count("thp_fault_fallback");
    }
    orders = first >= 0 && !k.thp.useZeroPage ? [k.pmdOrder] : [];
  }
  for (const order of orders) {
    const first = order === 0 ? slot : alignedRun(k, vma, slot, order, false);
    if (first < 0) continue;
    // handle_pte_fault() → do_anonymous_page(): the PTE table comes first.
    if (order !== k.pmdOrder) pteAlloc(k, vma, slot);
    const head = allocFaultFolio(k, task, vma, vma.pgoff + first, [order], dc);
    if (dc?.request) return VM_FAULT_RETRY;
    if (head < 0) continue;
    k.memmap.refcount[head] = 0;
    newAnonRmap(k, vma, head, first);
    prepNewFolio(k, vma, head, 0);
    const bits = vma.flags & VM_WRITE ? PTE_WRITE | PTE_DIRTY : 0;
    if (order === k.pmdOrder) {
      // do_huge_pmd_anonymous_page(): one huge PMD, one entire mapcount, one reference, and
      // the new THP queued for the underused-THP split.
      mapAnonFolioPmd(k, vma, vma.start + first * k.mem.pageSize, head, bits);
      deferredSplitFolio(k, head, false);
      return 0;
    }
    mapPages(k, vma, first, head, 2 ** order, bits);
    return 0;
  }
  pteAlloc(k, vma, slot);
  if (!write) {
    vma.ptes[slot] = mkPte(k.zeroPfn, PTE_SPECIAL | PTE_YOUNG);
    return 0;
  }
  return noMemory(k, vma, slot);
};

/**
 * Copies one page into a new anonymous order-0 folio mapped writable at `slot` (`wp_page_copy()`,
 * `mm/memory.c`, Linux 6.16). `folio_prealloc()` asks for a zeroed page (`__GFP_ZERO`) only when
 * the source is the zero page, and then copies nothing; any other source is copied whole
 * (`__wp_page_copy_user()`) into a page allocated without `__GFP_ZERO`. With `dc`, an allocation
 * whose first tries fail asks for the slow path and the fault returns `VM_FAULT_RETRY` (see
 * {@link allocFaultFolio}); without it a failure is `VM_FAULT_OOM`.
 */
const cowPage = (
  k: Kernel,
  task: Task,
  vma: Vma,
  slot: number,
  srcPage: number,
  dc?: DirectCompact,
): ErrnoError | 0 | typeof VM_FAULT_RETRY => {
  if (k.memmap.test(srcPage, PG_hwpoison)) {
    return errno("EHWPOISON", `copy-on-write of a poisoned page (pfn ${srcPage})`);
  }
  const pfnIsZero = srcPage === k.zeroPfn;
  const head = allocFaultFolio(k, task, vma, vma.pgoff + slot, [0], dc, pfnIsZero);
  // wp_page_copy()'s allocation takes the slow path (reclaim, the OOM killer) as any fault's.
  if (dc?.request) return VM_FAULT_RETRY;
  if (head < 0) return noMemory(k, vma, slot);
  if (!pfnIsZero) k.mem.copyPages(head, srcPage, 1);
  k.memmap.refcount[head] = 0;
  newAnonRmap(k, vma, head, slot);
  prepNewFolio(k, vma, head, 0);
  const old = vma.ptes[slot]!;
  vma.ptes[slot] = 0;
  mapPages(k, vma, slot, head, 1, PTE_WRITE | PTE_DIRTY);
  vma.mm.tlb.flushPage(vma.start / k.mem.pageSize + slot);
  if (ptePresent(old) && !pteSpecial(old)) {
    const src = k.memmap.folioOf(srcPage);
    k.memmap.mapcount[srcPage]!--;
    k.memmap.folioSubLargeMapcount(src, 1, vma.mm.id);
    folioRemoveRmapDeferred(k, src);
    munlockVmaFolio(k, vma, src);
    folioPut(k, src);
  }
  k.vmstat.count("cow_fault");
  return 0;
};

/**
 * `fault_around_pages` at boot (`mm/memory.c`): `rounddown_pow_of_two(65536) >> PAGE_SHIFT`,
 * 16 with 4 KiB pages, 4 with 16 KiB, 1 (no fault-around) with 64 KiB.
 *
 * @category Page tables
 */
export const faultAroundPagesDefault = (pageSize: number): number => Math.max(1, 65536 / pageSize);

/**
 * Creates `/sys/kernel/debug/fault_around_bytes` (`fault_around_debugfs()`, `mm/memory.c`,
 * Linux 6.16): a debugfs attribute (`DEFINE_DEBUGFS_ATTRIBUTE()`, `debugfsAttribute`), 0644,
 * shows `fault_around_pages << PAGE_SHIFT` (`"%llu\n"`). A write is parsed as
 * `simple_attr_write()` (`fs/libfs.c`) does: at most its first 23 bytes, `kstrtoull()` base 0
 * (one trailing newline allowed; `EINVAL` for junk or an empty write, `ERANGE` past 64 bits); then
 * `fault_around_bytes_set()`: `EINVAL` when `val / PAGE_SIZE` exceeds `PTRS_PER_PTE` (the pages of
 * one PTE table, `2 ** pmdOrder`), else `fault_around_pages` becomes
 * `rounddown_pow_of_two(max(val, PAGE_SIZE)) >> PAGE_SHIFT`.
 *
 * @category Page tables
 */
export const faultAroundDebugfs = (k: Kernel): void => {
  const pageSize = BigInt(k.mem.pageSize);
  k.fs.addAttributes("/sys/kernel/debug", {
    fault_around_bytes: debugfsAttribute(
      () => k.faultAroundPages * k.mem.pageSize,
      (val) => {
        const ptrsPerPte = 2n ** BigInt(k.pmdOrder);
        if (val / pageSize > ptrsPerPte) {
          return errno(
            "EINVAL",
            `fault_around_bytes: ${val} is more than PTRS_PER_PTE (${ptrsPerPte}) pages`,
          );
        }
        const bytes = val > pageSize ? val : pageSize;
        // rounddown_pow_of_two(): the highest set bit.
        k.faultAroundPages = Number((1n << BigInt(bytes.toString(2).length - 1)) / pageSize);
        return 0;
      },
    ),
  });
};

/**
 * `should_fault_around()` (`mm/memory.c`, Linux 6.16): every file and shmem VMA of the model has
 * `vm_ops->map_pages` (`filemap_map_pages()`) and none is armed by userfaultfd, so a read fault
 * maps around unless `fault_around_pages` is 1.
 */
const shouldFaultAround = (k: Kernel): boolean => k.faultAroundPages > 1;

/**
 * `do_fault_around()` (`mm/memory.c`, Linux 6.16): maps, through {@link filemapMapPages}, the
 * cached pages of a window of `fault_around_pages` PTEs that starts at the
 * `fault_around_pages`-aligned address below the fault at `slot`, or at the VMA's start when that
 * is later, and is cut at the VMA's end and at the end of the PTE table (`PTRS_PER_PTE` entries,
 * one PMD range) that holds the fault. True when the faulting page was mapped.
 */
const doFaultAround = (k: Kernel, vma: Vma, slot: number, bits: number): boolean => {
  const nrPages = k.faultAroundPages;
  const ptrsPerPte = 1 << k.pmdOrder;
  const pteOff = (vma.start / k.mem.pageSize + slot) % ptrsPerPte;
  const vmaOff = slot;
  const fromPte = Math.max(pteOff - (pteOff % nrPages), pteOff - Math.min(pteOff, vmaOff));
  const toPte = Math.min(fromPte + nrPages, ptrsPerPte, pteOff + vma.nrPages - vmaOff) - 1;
  const pgoff = vma.pgoff + slot;
  return filemapMapPages(
    k,
    new FaultAround(k, vma, slot, bits),
    pgoff + fromPte - pteOff,
    pgoff + toPte - pteOff,
  );
};

/**
 * The `vm_fault` of {@link doFaultAround}: the fault's VMA, slot and PTE bits, with the helpers
 * that fill its entries as methods (one shape for every fault, no closures made for each).
 */
class FaultAround implements MapPagesFault {
  constructor(
    private readonly k: Kernel,
    readonly vma: Vma,
    readonly slot: number,
    private readonly bits: number,
  ) {}

  setPmd(head: number): boolean {
    return doSetPmd(this.k, this.vma, this.slot, head, this.bits);
  }

  setPteRange(first: number, page: number, nr: number): void {
    mapFilePages(this.k, this.vma, first, page, nr, this.bits);
  }
}

/**
 * `finish_fault()` (`mm/memory.c`, Linux 6.16) after `do_set_pmd()` declined: maps the page at
 * `slot` by a PTE, or the whole large folio that holds it where the VMA is anonymous shmem (every
 * shmem object of the model is, `vma_is_anon_shmem()`), no userfaultfd is armed, the folio lies
 * within the VMA and within the PTE table of the fault, and every PTE of its range is none (else
 * the fault falls back to the one page).
 */
const finishFault = (k: Kernel, vma: Vma, slot: number, page: number, bits: number): void => {
  const m = k.memmap;
  const head = m.folioOf(page);
  const nr = m.folioNrPages(head);
  if (nr > 1 && vma.mapping!.shmem) {
    const idx = page - head;
    const pteOff = (vma.start / k.mem.pageSize + slot) % (1 << k.pmdOrder);
    const fits =
      slot >= idx &&
      slot + (nr - idx) <= vma.nrPages &&
      pteOff >= idx &&
      pteOff + (nr - idx) <= 1 << k.pmdOrder;
    // pte_range_none(): a mapped PTE in the range makes it fall back to the one page.
    if (fits && vma.ptes.subarray(slot - idx, slot - idx + nr).every((pte) => pte === 0)) {
      mapFilePages(k, vma, slot - idx, head, nr, bits);
      return;
    }
  }
  mapFilePages(k, vma, slot, page, 1, bits);
};

/**
 * `VM_FAULT_SIGBUS` for a fault at or past the end of the file: `filemap_fault()`'s
 * `index >= max_idx` (`mm/filemap.c`, Linux 6.16) and `shmem_fault()`'s `-EINVAL` from
 * `shmem_get_folio_gfp()` (`mm/shmem.c`), which `vmf_error()` makes `VM_FAULT_SIGBUS`. x86's
 * `do_user_addr_fault()` sends `SIGBUS` with `BUS_ADRERR` (`do_sigbus()`, `arch/x86/mm/fault.c`,
 * {@link userFaultError}); the fault returns `EFAULT`, the errno `vm_fault_to_errno()` gives it
 * where the fault becomes a system call's result (`get_user_pages()`), its message naming the
 * signal, as a hugetlb fault that gets no page does.
 */
const sigbusPastEof = (k: Kernel, vma: Vma, slot: number): ErrnoError => {
  const mapping = vma.mapping!;
  return errno(
    "EFAULT",
    `fault at 0x${(vma.start + slot * k.mem.pageSize).toString(16)}: page ${vma.pgoff + slot} of ${mapping.name} is past its end (i_size ${mapping.size}); SIGBUS BUS_ADRERR`,
  );
};

/**
 * `do_read_fault` / `do_shared_fault` / `do_cow_fault`: a fault on a file or shmem VMA. A read
 * fault first maps the cached pages around it ({@link doFaultAround}) and is done if that mapped
 * its own page; a page at or past the end of the file (`i_size`) then gets `SIGBUS`
 * ({@link sigbusPastEof}), as `->fault()` returns it for any fault there. A regular file's page
 * comes from `filemap_fault()` ({@link filemapFault}: readahead, then the folio locked and
 * referenced), and is mapped; the folio is then unlocked and the fault's reference dropped. When
 * another task holds the folio locked, the fault returns `-(pfn + 1)` for the caller to wait for
 * it and fault again. A shmem page's folio is found, or allocated (zeroed), and
 * {@link finishFault} maps it. With `dc`, a folio of any order the page cache cannot get from the
 * first tries asks for the slow path (`VM_FAULT_RETRY`), as `shmem_alloc_folio()`'s allocation
 * runs it for each order the gfp flags allow before `shmem_get_folio_gfp()` falls back to the
 * next, and `filemap_fault()`'s allocation of the faulting page.
 */
const doFault = (
  k: Kernel,
  task: Task,
  vma: Vma,
  slot: number,
  write: boolean,
  dc?: DirectCompact,
): ErrnoError | number => {
  const mapping = vma.mapping!;
  const pgoff = vma.pgoff + slot;
  const shared = (vma.flags & VM_SHARED) !== 0;
  const protBits = shared && vma.flags & VM_WRITE ? PTE_WRITE : 0;
  if (dc?.readahead) {
    // This fault's readahead stopped for the slow path: it reads on first, as it would have
    // before the fault went on in Linux.
    const rest = dc.readahead;
    dc.readahead = null;
    rest();
    if (dc.request) return VM_FAULT_RETRY;
  }
  // do_read_fault(): map_pages first, ->fault() only if that did not map the page.
  if (!write && shouldFaultAround(k) && doFaultAround(k, vma, slot, protBits)) return 0;
  if (pgoff >= filemapMaxIndex(k, mapping)) return sigbusPastEof(k, vma, slot);
  if (!mapping.shmem) {
    // filemap_fault(); the model's files are those of a filesystem without large folio support
    // (mapping_large_folio_support() false): order 0 only.
    const head = filemapFault(
      k,
      task,
      vma,
      pgoff,
      (at) => allocFaultFolio(k, task, vma, at, [0], dc, false, true),
      dc,
    );
    if (head === "retry") return VM_FAULT_RETRY;
    if (head === null) return noMemory(k, vma, slot);
    if (head < 0) return head;
    // The fault has its folio, cached or allocated: the next fault starts afresh.
    if (dc) directCompactFaultDone(dc);
    const ret = finishFileFault(k, task, vma, slot, head, write, protBits, dc);
    folioUnlock(k, head);
    folioPut(k, head);
    return ret;
  }
  let head = filemapGetFolio(mapping, pgoff);
  if (head < 0) {
    // shmem_fault(): the orders shmem_allowable_huge_orders() allows.
    const orders = k.thp.shmemAllowableOrders(
      vma.flags,
      pgoff,
      Math.ceil(mapping.size / k.mem.pageSize),
    );
    let refused: ErrnoError | null = null;
    for (const order of [...orders, 0]) {
      // A large folio whose pages were refused sends shmem_get_folio_gfp() to order 0 directly.
      if (refused && order > 0) continue;
      const nr = 2 ** order;
      const first = order === 0 ? slot : alignedRun(k, vma, slot, order, true);
      if (first < 0) continue;
      const start = vma.pgoff + first;
      let cached = false;
      for (let p = start; p < start + nr && !cached; p++) cached = mapping.pages.has(p);
      if (cached) continue;
      // shmem_get_folio_gfp() clears a folio that is not uptodate.
      head = allocFaultFolio(k, task, vma, start, [order], dc, true);
      if (dc?.request) return VM_FAULT_RETRY;
      refused = null;
      if (head < 0) continue;
      // shmem_alloc_and_add_folio(): a VM_NORESERVE object commits the folio's pages; when the
      // policy refuses them, the pages the object lost are given back and the charge tried once
      // more. Refused again, the folio goes (-ENOSPC): a large one falls back to order 0, with
      // neither its allocation nor a fallback counted.
      refused = shmemInodeAcctBlocks(k, task, mapping, nr);
      if (refused) {
        shmemRecalcInode(k, mapping, 0);
        refused = shmemInodeAcctBlocks(k, task, mapping, nr);
      }
      if (refused) {
        folioPut(k, head);
        head = -1;
        continue;
      }
      filemapAddFolio(k, mapping, head, start);
      k.memmap.refcount[head]!--;
      shmemRecalcInode(k, mapping, nr);
      // shmem_get_folio_gfp(): thp_file_alloc for the PMD size, shmem_alloc in every large
      // size's stats.
      if (order === k.pmdOrder) k.vmstat.count("thp_file_alloc");
      if (order > 0) k.thp.countMthpStat(order, "shmem_alloc");
      break;
    }
    // shmem_fault(): vmf_error(-ENOSPC) is VM_FAULT_SIGBUS.
    if (refused) {
      const at = (vma.start + slot * k.mem.pageSize).toString(16);
      return errno("EFAULT", `fault at 0x${at}: ${refused.message}; SIGBUS BUS_ADRERR`);
    }
    if (head < 0) return noMemory(k, vma, slot);
  }
  return finishFileFault(k, task, vma, slot, head, write, protBits, dc);
};

/**
 * The end of {@link doFault} once `->fault()` gave the page-cache folio `head` holding the
 * faulting page: a write to a private mapping copies the page (`do_cow_fault()`); otherwise the
 * folio is mapped (dirtied for a write), by a huge PMD where {@link doSetPmd} may, else by
 * {@link finishFault}.
 */
const finishFileFault = (
  k: Kernel,
  task: Task,
  vma: Vma,
  slot: number,
  head: number,
  write: boolean,
  protBits: number,
  dc?: DirectCompact,
): ErrnoError | 0 | typeof VM_FAULT_RETRY => {
  const page = head + (vma.pgoff + slot - k.memmap.index[head]!);
  if (write && !(vma.flags & VM_SHARED)) return cowPage(k, task, vma, slot, page, dc);
  let bits = protBits;
  if (write) {
    bits |= PTE_DIRTY;
    folioMarkDirty(k, head);
  }
  if (doSetPmd(k, vma, slot, head, bits)) return 0;
  finishFault(k, vma, slot, page, bits);
  return 0;
};

/**
 * `do_set_pmd()` (`mm/memory.c`, Linux 6.16), which `finish_fault()` and `filemap_map_pages()`
 * (`filemap_map_pmd()`) try first: maps a PMD-size page-cache folio with one huge PMD, writable as
 * the VMA's protection allows (a shared writable mapping) and dirty for a write fault. It takes
 * the folio's entire mapcount and one reference (`folio_add_file_rmap_pmd()`), and counts
 * `thp_file_mapped`. Refused (false, the fault maps a PTE) for a smaller folio, a VMA with
 * `VM_NOHUGEPAGE` (`vma_thp_disabled()`), one that does not hold the whole PMD range around the
 * fault or whose start is not PMD-aligned against its file offset (`thp_vma_suitable_order()`),
 * and where the PMD is not none: a PTE table is there, even one whose PTEs are all none.
 */
const doSetPmd = (k: Kernel, vma: Vma, slot: number, head: number, bits: number): boolean => {
  const m = k.memmap;
  if (m.folioOrder(head) !== k.pmdOrder || m.test(head, PG_hugetlb)) return false;
  if (vma.flags & VM_NOHUGEPAGE) return false;
  const nr = 1 << k.pmdOrder;
  if ((vma.start / k.mem.pageSize - vma.pgoff) % nr !== 0) return false;
  const first = alignedRun(k, vma, slot, k.pmdOrder, true);
  if (first < 0) return false;
  const haddr = vma.start + first * k.mem.pageSize;
  if (!pmdNone(vma, haddr)) return false;
  vma.pmds.set(haddr, mkPte(head, bits | PTE_YOUNG));
  m.entireMapcount[head]!++;
  m.folioAddLargeMapcount(head, 1, vma.mm.id);
  m.refcount[head]!++;
  k.vmstat.count("thp_file_mapped");
  return true;
};

/**
 * Whether a write fault may reuse an anonymous folio in place (`wp_can_reuse_anon_folio()`,
 * `mm/memory.c`): no reference beyond its mappings, and every mapping in this mm.
 */
const canReuseAnonFolio = (k: Kernel, vma: Vma, head: number): boolean => {
  const m = k.memmap;
  return (
    m.mapping[head]! < 0 &&
    m.refcount[head] === m.folioMapcount(head) &&
    folioMappings(k, head).every((mapping) => mapping.vma.mm === vma.mm)
  );
};

/**
 * `wp_huge_pmd()` (`mm/memory.c`) and `do_huge_pmd_wp_page()` (`mm/huge_memory.c`, Linux 6.16): a
 * write to a write-protected huge PMD. In a file or shmem VMA the PMD is split, which zaps it, and
 * the fault is handled at the PTE level (copy-on-write of the one page for a private mapping). On
 * the huge zero folio, a PMD THP is allocated and mapped writable in its place
 * (`do_huge_zero_wp_pmd()`, counted as `thp_fault_alloc`); when none can be had (counted as
 * `thp_fault_fallback`) the PMD is split into zero-page PTEs and the one page copied. Otherwise
 * the PMD becomes writable when the folio can be reused, or is split (`__split_huge_pmd()`) and
 * the fault falls back to the PTE, which copies the one page.
 */
const doHugePmdWpPage = (
  k: Kernel,
  task: Task,
  vma: Vma,
  haddr: number,
  slot: number,
  dc?: DirectCompact,
): ErrnoError | number => {
  const pmd = vma.pmds.get(haddr)!;
  if (vma.mapping) {
    splitHugePmd(k, vma, haddr);
    return doFault(k, task, vma, slot, true, dc);
  }
  if (isHugeZeroPmd(k, pmd)) {
    const first = (haddr - vma.start) / k.mem.pageSize;
    const head = allocFaultFolio(k, task, vma, vma.pgoff + first, [k.pmdOrder], dc);
    if (dc?.request) return VM_FAULT_RETRY;
    if (head >= 0) {
      k.memmap.refcount[head] = 0;
      newAnonRmap(k, vma, head, first);
      prepNewFolio(k, vma, head, 0);
      vma.pmds.delete(haddr);
      vma.mm.tlb.flushRange(haddr / k.mem.pageSize, 1 << k.pmdOrder);
      mapAnonFolioPmd(k, vma, haddr, head, PTE_WRITE | PTE_DIRTY);
      return 0;
    }
    splitHugePmd(k, vma, haddr);
    return doWpPage(k, task, vma, slot);
  }
  if (canReuseAnonFolio(k, vma, ptePfn(pmd))) {
    vma.pmds.set(haddr, (pmd | PTE_YOUNG | PTE_WRITE | PTE_DIRTY) >>> 0);
    vma.mm.tlb.flushRange(haddr / k.mem.pageSize, 1 << k.pmdOrder);
    return 0;
  }
  splitHugePmd(k, vma, haddr);
  return doWpPage(k, task, vma, slot);
};

/** `do_wp_page()`: a write to a present, write-protected PTE in a writable VMA. */
const doWpPage = (
  k: Kernel,
  task: Task,
  vma: Vma,
  slot: number,
  dc?: DirectCompact,
): ErrnoError | 0 | typeof VM_FAULT_RETRY => {
  const pte = vma.ptes[slot]!;
  const m = k.memmap;
  if (pteSpecial(pte)) return cowPage(k, task, vma, slot, k.zeroPfn, dc);
  const page = ptePfn(pte);
  const head = m.folioOf(page);
  const vpn = vma.start / k.mem.pageSize + slot;
  const reuse = vma.flags & VM_SHARED || canReuseAnonFolio(k, vma, head);
  if (!reuse) return cowPage(k, task, vma, slot, page, dc);
  vma.ptes[slot] = pte | PTE_YOUNG | PTE_WRITE | PTE_DIRTY;
  if (m.mapping[head]! > 0) folioMarkDirty(k, head);
  vma.mm.tlb.flushPage(vpn);
  return 0;
};

/**
 * `do_numa_page()` (`mm/memory.c`): a fault on a NUMA hinting entry. Counts `numa_hint_faults`
 * (and `numa_hint_faults_local` when the page is on the faulting task's node), makes the entry
 * accessible again (the kernel does so after deciding, the model first: nothing else runs in
 * between), and asks NUMA balancing where the folio belongs (`numa_migrate_check()`). A folio to
 * move is isolated (`migrate_misplaced_folio_prepare()`) and handed to the caller in
 * {@link DirectCompact.misplaced}, and the fault returns `VM_FAULT_RETRY`; without `dc` it only
 * restores the entry.
 */
const doNumaPage = (
  k: Kernel,
  task: Task,
  vma: Vma,
  slot: number,
  dc?: DirectCompact,
): 0 | typeof VM_FAULT_RETRY => {
  const pte = vma.ptes[slot]!;
  vma.ptes[slot] = (pte & ~PTE_PROTNONE) | PTE_YOUNG;
  const head = k.memmap.folioOf(ptePfn(pte));
  k.vmstat.count("numa_hint_faults");
  if (k.mem.pfnToNid(head) === task.nid) k.vmstat.count("numa_hint_faults_local");
  const target = k.numaBalancing.migrateCheck(task, vma, head);
  if (target < 0 || !dc) return 0;
  if (!migrateMisplacedFolioPrepare(k, head, target)) return 0;
  dc.misplaced = { folio: head, nid: target };
  return VM_FAULT_RETRY;
};

/**
 * `handle_mm_fault()` for the page at `slot` of `vma`. With `dc`, a fault that allocates may
 * stop with `VM_FAULT_RETRY` to ask for the allocator's slow path (see {@link DirectCompact}).
 * For a `VM_DROPPABLE` VMA Linux 6.16 clears `VM_FAULT_OOM` (the fault is retried without
 * `pagefault_out_of_memory()`'s warning) and allocates with `__GFP_NOWARN`
 * (`vma_alloc_folio_noprof()`); the allocator's own OOM kill is unchanged. The model prints
 * neither warning, so a droppable fault that finds no memory ends as any other does: `ENOMEM`
 * (`VM_FAULT_OOM`), which the task's own access retries ({@link userFaultError}). Errors are the
 * errnos `vm_fault_to_errno()` gives the `VM_FAULT_*` codes: `ENOMEM` for `VM_FAULT_OOM`,
 * `EFAULT` for `VM_FAULT_SIGBUS`, `EHWPOISON` for `VM_FAULT_HWPOISON(_LARGE)`. A file fault that
 * finds its folio locked by another task returns `-(pfn + 1)` for its folio's head `pfn`: the
 * caller waits for it to be unlocked and faults again (`VM_FAULT_RETRY` from
 * `lock_folio_maybe_drop_mmap()`).
 */
export const handleMmFault = (
  k: Kernel,
  task: Task,
  vma: Vma,
  slot: number,
  write: boolean,
  dc?: DirectCompact,
): ErrnoError | number => {
  const ret = handleMmFaultOnce(k, task, vma, slot, write, dc);
  // mm_account_fault(): a fault that ends in VM_FAULT_RETRY (a folio lock to wait for, a lock
  // dropped to read ahead) is counted when its retry completes, and so is one the model stops for
  // the allocator's slow path, which Linux runs inside it; a NUMA move ends the fault.
  const retry = ret === VM_FAULT_RETRY ? !dc?.misplaced : typeof ret === "number" && ret < 0;
  if (!retry) k.vmstat.count("pgfault");
  return ret;
};

/** {@link handleMmFault} without its accounting. */
const handleMmFaultOnce = (
  k: Kernel,
  task: Task,
  vma: Vma,
  slot: number,
  write: boolean,
  dc?: DirectCompact,
): ErrnoError | number => {
  // A hugetlb VMA maps its pages by huge entries only (hugetlb_fault()).
  if (vma.flags & VM_HUGETLB) return hugetlbFault(k, task, vma, slot, write, dc);
  const haddr = pmdAddress(k, vma.start + slot * k.mem.pageSize);
  const pmd = vma.pmds.get(haddr);
  if (pmd !== undefined && ptePresent(pmd))
    return write ? doHugePmdWpPage(k, task, vma, haddr, slot, dc) : 0;
  const pte = vma.ptes[slot]!;
  if (ptePresent(pte) && pteProtnone(pte)) return doNumaPage(k, task, vma, slot, dc);
  if (ptePresent(pte)) return write ? doWpPage(k, task, vma, slot, dc) : 0;
  if (isHwpoisonEntry(pte)) {
    // do_swap_page(): VM_FAULT_HWPOISON, which the arch fault handler turns into SIGBUS with
    // BUS_MCEERR_AR and the faulting address.
    const addr = vma.start + slot * k.mem.pageSize;
    return errno(
      "EHWPOISON",
      `address 0x${addr.toString(16)}: the poisoned page (pfn ${ptePfn(pte)}) was unmapped; SIGBUS BUS_MCEERR_AR`,
    );
  }
  if (vma.mapping) return doFault(k, task, vma, slot, write, dc);
  return doAnonymousPage(k, task, vma, slot, write, dc);
};

/**
 * What the MMU does on a page walk that fills the TLB: sets the accessed (young) bit of the entry
 * that maps `slot`, a huge PMD or a PTE, and for a write its dirty bit and a file folio's.
 */
const markAccessed = (k: Kernel, vma: Vma, slot: number, write: boolean): void => {
  const addr = vma.start + slot * k.mem.pageSize;
  const entries = vma.flags & VM_HUGETLB ? hugeEntries(k, vma) : vma.pmds;
  const haddr = vma.flags & VM_HUGETLB ? addr - (addr % vma.hstate!.size) : pmdAddress(k, addr);
  const pmd = entries.get(haddr);
  const bits = PTE_YOUNG | (write ? PTE_DIRTY : 0);
  let pfn: number;
  if (pmd !== undefined) {
    entries.set(haddr, (pmd | bits) >>> 0);
    pfn = ptePfn(pmd);
  } else {
    vma.ptes[slot] = vma.ptes[slot]! | bits;
    pfn = ptePfn(vma.ptes[slot]!);
  }
  const head = k.memmap.folioOf(pfn);
  if (write && k.memmap.mapping[head]! > 0) folioMarkDirty(k, head);
};

/**
 * Whether a fault of a VMA with `flags` is allowed, as x86's `access_error()`
 * (`arch/x86/mm/fault.c`, Linux 6.16) decides: a write needs `VM_WRITE`; a read needs the VMA to
 * be accessible at all (`vma_is_accessible()`: `VM_READ`, `VM_WRITE` or `VM_EXEC`), since x86
 * page tables without protection keys cannot deny a read where they allow a write or an execute.
 */
export const vmaAccessAllowed = (flags: number, write: boolean): boolean =>
  write ? (flags & VM_WRITE) !== 0 : vmaIsAccessible(flags);

/**
 * Translates a virtual page for an access, faulting it in if needed. Returns the PFN to access,
 * an error, or `-(pfn + 1)` when the page is under migration and the access must wait for the
 * folio of `pfn`.
 */
export function translate(k: Kernel, task: Task, vpn: number, write: boolean): number | ErrnoError;
export function translate(
  k: Kernel,
  task: Task,
  vpn: number,
  write: boolean,
  dc: DirectCompact,
): number | ErrnoError | typeof VM_FAULT_RETRY_ACCESS;
export function translate(
  k: Kernel,
  task: Task,
  vpn: number,
  write: boolean,
  dc?: DirectCompact,
): number | ErrnoError | typeof VM_FAULT_RETRY_ACCESS {
  const mm = task.mm!;
  const cached = mm.tlb.lookup(vpn);
  if (cached !== undefined && (!write || (pteWrite(cached) && pteDirty(cached))))
    return ptePfn(cached);
  const addr = vpn * k.mem.pageSize;
  for (let attempt = 0; attempt < 3; attempt++) {
    const vma = mm.findVma(addr);
    if (!vma) return errno("EFAULT", `address 0x${addr.toString(16)} is not mapped`);
    if (!vmaAccessAllowed(vma.flags, write)) {
      return errno(
        "EFAULT",
        `address 0x${addr.toString(16)} is not ${write ? "writable" : "accessible"}`,
      );
    }
    const slot = vpn - vma.start / k.mem.pageSize;
    const pte = folioWalkEntry(k, vma, slot);
    if (isMigrationEntry(pte)) {
      // do_swap_page() → migration_entry_wait(): a fault that returns 0 once the wait is over.
      k.vmstat.count("pgfault");
      return -(ptePfn(pte) + 1);
    }
    if (ptePresent(pte) && !pteProtnone(pte) && (!write || pteWrite(pte))) {
      if (!pteYoung(pte) || (write && !pteDirty(pte))) markAccessed(k, vma, slot, write);
      mm.tlb.fill(vpn, pte | PTE_YOUNG | (write ? PTE_DIRTY : 0));
      // The page is mapped: its fault, if it had one, is over.
      if (dc) directCompactFaultDone(dc);
      return ptePfn(pte);
    }
    const fault = handleMmFault(k, task, vma, slot, write, dc);
    if (fault === VM_FAULT_RETRY) {
      // A fault that dropped mmap_lock (fpin) is retried at once with FAULT_FLAG_TRIED; one that
      // waits for the slow path or a NUMA move returns for its caller to do that first.
      if (dc?.request || dc?.misplaced) return VM_FAULT_RETRY_ACCESS;
      continue;
    }
    // A negative fault is a locked page-cache folio to wait for, as a migration entry is.
    if (fault !== 0) return fault;
  }
  return errno("EFAULT", `fault at 0x${addr.toString(16)} did not resolve`);
}

/** What {@link translate} returns for a fault that stopped with `VM_FAULT_RETRY`. */
export const VM_FAULT_RETRY_ACCESS: unique symbol = Symbol("VM_FAULT_RETRY");

/**
 * Checks an access's arguments before any byte moves: `EFAULT` for an address that is not a user
 * address or a range that reaches past `TASK_SIZE` (`access_ok()`,
 * `arch/x86/include/asm/uaccess_64.h`); `EINVAL` for a length that is not a byte count. Null when
 * the access may go ahead. Whether each page is mapped is found out page by page, at the fault
 * ({@link translate}).
 */
export const checkAccess = (addr: number, length: number): ErrnoError | null => {
  if (!Number.isSafeInteger(addr) || addr < 0) return errno("EFAULT", `bad address ${addr}`);
  if (!Number.isSafeInteger(length) || length < 0) return errno("EINVAL", `bad length ${length}`);
  if (addr + length > TASK_SIZE) {
    return errno(
      "EFAULT",
      `0x${addr.toString(16)}+${length} reaches past TASK_SIZE 0x${TASK_SIZE.toString(16)}`,
    );
  }
  return null;
};

/**
 * The bytes from `addr`, at most `length`, that lie in VMAs a read (or a write) may access
 * ({@link vmaAccessAllowed}) without a gap: how far an access can get before it faults with
 * `EFAULT`. A hole below a `VM_GROWSDOWN` VMA counts as that VMA's, however far below it starts
 * (the access may end before it), since the fault there may grow it: `find_vma()` in
 * {@link lockMmAndFindVma} finds the first VMA above the address. Not below `RLIMIT_STACK`
 * ({@link STK_LIM}) from the VMA's end, which no growth reaches.
 */
export const accessExtent = (
  mm: MmStruct,
  addr: number,
  length: number,
  write: boolean,
): number => {
  let at = addr;
  while (at < addr + length) {
    let vma = mm.findVma(at);
    if (!vma) {
      const next = mm.findVmaIntersection(at, TASK_SIZE);
      // No stack grows past RLIMIT_STACK (acct_stack_growth()): the fault there is SIGSEGV.
      if (!next || !(next.flags & VM_GROWSDOWN) || next.end - at > STK_LIM) break;
      vma = next;
    }
    if (!vmaAccessAllowed(vma.flags, write)) break;
    at = vma.end;
  }
  return Math.min(at, addr + length) - addr;
};

/**
 * `lock_mm_and_find_vma()` (`mm/memory.c`, Linux 6.16), which x86's `do_user_addr_fault()`
 * (`arch/x86/mm/fault.c`) runs for a fault of the task's own access at `addr`: the VMA that holds
 * it; else, when the first VMA above it is `VM_GROWSDOWN`, that VMA grown down to it
 * (`expand_stack_locked()` → `expand_downwards()`, {@link expandDownwards}). Any other address,
 * and a growth `expand_downwards()` refuses, is `bad_area_nosemaphore()`: `SIGSEGV` with
 * `SEGV_MAPERR` forced on the task ({@link forceSigFault}), returned with a message naming the
 * cause. Only the task's own loads and stores grow a stack; `get_user_pages()` and
 * `__mm_populate()` do not (`gup_vma_lookup()`).
 */
export const lockMmAndFindVma = (k: Kernel, task: Task, addr: number): Vma | SignalError => {
  const mm = task.mm!;
  const vma = mm.findVma(addr) ?? mm.findVmaIntersection(addr, TASK_SIZE);
  if (vma && vma.start <= addr) return vma;
  // The address as a message names it, made only for a fault that fails: nearly every fault
  // finds its VMA.
  const at = `address 0x${addr.toString(16)}`;
  const mapErr = (why: string): SignalError =>
    forceSigFault(task, "SIGSEGV", "SEGV_MAPERR", addr, `${why}; SIGSEGV SEGV_MAPERR`);
  if (!vma) return mapErr(`${at} is not mapped`);
  if (!(vma.flags & VM_GROWSDOWN)) return mapErr(`${at} is not mapped`);
  const grown = expandDownwards(k, task, vma, addr);
  if (grown !== 0) {
    return mapErr(
      `${at} is not mapped: the stack at 0x${vma.start.toString(16)} cannot grow to it: ${grown.errno}, ${grown.message}`,
    );
  }
  return vma;
};

/**
 * The end of x86's `do_user_addr_fault()` (`arch/x86/mm/fault.c`, Linux 6.16) for a fault of the
 * task's own access at `addr` that `handle_mm_fault()` failed with `err`, the errno
 * `vm_fault_to_errno()` gives its `VM_FAULT_*` code (`include/linux/mm.h`): `ENOMEM`
 * (`VM_FAULT_OOM`) becomes `"oom"`, for `pagefault_out_of_memory()` and a retry of the fault
 * ({@link AccessProgress.oom}); `EHWPOISON` (`VM_FAULT_HWPOISON`, or `VM_FAULT_HWPOISON_LARGE` in
 * a hugetlb VMA) is `do_sigbus()`'s `force_sig_mceerr(BUS_MCEERR_AR)` with `si_addr_lsb`
 * `PAGE_SHIFT` (the huge page's shift); `EFAULT` (`VM_FAULT_SIGBUS`) is `do_sigbus()`'s
 * `force_sig_fault(SIGBUS, BUS_ADRERR)`. The signal is forced on `task` and returned, its message
 * `err`'s. Any other error (a killed task's `ESRCH`) is returned as it is.
 */
export const userFaultError = (
  k: Kernel,
  task: Task,
  addr: number,
  err: ErrnoError,
): SignalError | ErrnoError | "oom" => {
  switch (err.errno) {
    case "ENOMEM":
      return "oom";
    case "EHWPOISON":
      return forceSigMceerr(task, addr, hwpoisonLsb(k, task, addr), err.message);
    case "EFAULT":
      return forceSigFault(task, "SIGBUS", "BUS_ADRERR", addr, err.message);
    default:
      return err;
  }
};

/**
 * The `si_addr_lsb` of a `BUS_MCEERR_AR` at `addr`: `PAGE_SHIFT`, or in a hugetlb VMA the shift of
 * its huge page (`hstate_index_to_shift()` of `VM_FAULT_HWPOISON_LARGE`'s index).
 */
const hwpoisonLsb = (k: Kernel, task: Task, addr: number): number => {
  const hstate = task.mm?.findVma(addr)?.hstate;
  return k.mem.pageShift + (hstate ? hstate.order : 0);
};

/**
 * How far an access got: bytes done, and why it stopped early. `E` is the error that may end it:
 * an {@link ErrnoError}, or for the task's own access also a {@link SignalError}.
 */
export interface AccessProgress<E = ErrnoError> {
  /** Bytes transferred. */
  done: number;
  /** The folio to wait for before continuing, or -1. */
  waitPfn: number;
  /** The error that ended the access, or null. */
  error: E | null;
  /**
   * A fault of the task's own access ended with `VM_FAULT_OOM`: `pagefault_out_of_memory()` runs
   * and the fault is retried (x86's `do_user_addr_fault()`). Only {@link accessVm} sets it.
   */
  oom: boolean;
  /** The slow path an allocation of a fault asked for before it falls back (see {@link DirectCompact}). */
  readonly compact: DirectCompact;
}

/**
 * Copies between `buf` and the task's memory at `addr`, page by page through the page tables.
 * Stops at a migration entry (reporting the folio to wait for) or an error; `done` says how far
 * it got, so the caller can resume. These are the task's own loads and stores, whose faults x86's
 * `do_user_addr_fault()` (`arch/x86/mm/fault.c`, Linux 6.16) handles: a fault below a
 * `VM_GROWSDOWN` VMA grows it ({@link lockMmAndFindVma}); an address no VMA maps forces `SIGSEGV`
 * with `SEGV_MAPERR`, one its VMA does not allow (`access_error()`, {@link vmaAccessAllowed})
 * `SIGSEGV` with `SEGV_ACCERR`, a fault `handle_mm_fault()` fails `SIGBUS`, or asks for a retry
 * after `VM_FAULT_OOM` ({@link userFaultError}). A load or store that reaches a poisoned page
 * still mapped is the machine check's `SIGBUS` with `BUS_MCEERR_AR` (`kill_me_maybe()`,
 * `arch/x86/kernel/cpu/mce/core.c`, then `memory_failure()`'s `kill_accessing_process()`),
 * `si_addr_lsb` `PAGE_SHIFT` (a hugetlb page's shift), `si_addr` the start of that page.
 */
export const accessVm = (
  k: Kernel,
  task: Task,
  addr: number,
  buf: Uint8Array,
  write: boolean,
  progress: AccessProgress<ErrnoError | SignalError>,
): void => {
  const pageSize = k.mem.pageSize;
  const len = buf.length;
  while (progress.done < len) {
    const at = addr + progress.done;
    const vpn = Math.floor(at / pageSize);
    const offset = at - vpn * pageSize;
    const n = Math.min(pageSize - offset, len - progress.done);
    // A TLB miss (or a store the cached entry does not allow) faults: the page tables are walked
    // from the VMA, which a fault below a stack grows first, and access_error() checks it.
    const cached = task.mm!.tlb.lookup(vpn);
    if (cached === undefined || (write && !(pteWrite(cached) && pteDirty(cached)))) {
      const vma = lockMmAndFindVma(k, task, at);
      if (vma instanceof SignalError) {
        progress.error = vma;
        return;
      }
      if (!vmaAccessAllowed(vma.flags, write)) {
        // bad_area_access_error()
        progress.error = forceSigFault(
          task,
          "SIGSEGV",
          "SEGV_ACCERR",
          at,
          `address 0x${at.toString(16)} is not ${write ? "writable" : "accessible"}; SIGSEGV SEGV_ACCERR`,
        );
        return;
      }
    }
    const pfn = translate(k, task, vpn, write, progress.compact);
    if (pfn === VM_FAULT_RETRY_ACCESS) return;
    if (typeof pfn !== "number") {
      const fault = userFaultError(k, task, at, pfn);
      if (fault === "oom") progress.oom = true;
      else progress.error = fault;
      return;
    }
    if (pfn < 0) {
      progress.waitPfn = k.memmap.folioOf(-pfn - 1);
      return;
    }
    if (k.memmap.test(pfn, PG_hwpoison)) {
      // memory_failure(MF_ACTION_REQUIRED) finds the page poisoned already and signals the
      // address of the entry that maps it (kill_accessing_process(): the page's, or a hugetlb
      // page's start), not the byte the load or store reached.
      const lsb = hwpoisonLsb(k, task, at);
      const granule = 2 ** lsb;
      progress.error = forceSigMceerr(
        task,
        at - (at % granule),
        lsb,
        `address 0x${at.toString(16)} is in a poisoned page; SIGBUS BUS_MCEERR_AR`,
      );
      return;
    }
    const section = k.mem.sectionBytes[pfn >>> k.mem.pfnSectionShift]!;
    const base = k.mem.byteOffset(pfn) + offset;
    if (write) section.set(buf.subarray(progress.done, progress.done + n), base);
    else buf.set(section.subarray(base, base + n), progress.done);
    progress.done += n;
  }
};

/**
 * `zap_page_range_single_batched()` (`mm/memory.c`, Linux 6.16) with `details->reclaim_pt`, as
 * `madvise(MADV_DONTNEED)` calls it: zaps slots `[from, to)` of `vma` ({@link zapPteRange}), then,
 * as `CONFIG_PT_RECLAIM` does on x86_64 (`select ARCH_SUPPORTS_PT_RECLAIM if X86_64`, default y,
 * Linux 6.14 on), frees the PTE table of every PMD range the zap covered whole
 * (`reclaim_pt_is_enabled()`: `end - start >= PMD_SIZE` in `zap_pte_range()`), all of whose PTEs
 * it left none (`try_get_and_clear_pmd()` / `try_to_free_pte()`, `mm/pt_reclaim.c`), so that range's
 * PMD is none again. A table the zap covered in part stays. A hugetlb VMA has no PTE tables.
 */
export const zapPageRangeSingle = (k: Kernel, vma: Vma, from: number, to: number): void => {
  zapPteRange(k, vma, from, to);
  if (vma.flags & VM_HUGETLB) return;
  const size = hpagePmdSize(k);
  const lo = vma.start + from * k.mem.pageSize;
  const hi = vma.start + to * k.mem.pageSize;
  for (const haddr of vma.mm.pteTables)
    if (haddr >= lo && haddr + size <= hi) vma.mm.pteTables.delete(haddr);
};

/**
 * `zap_pmd_range()` / `zap_pte_range()`: clears the entries of slots `[from, to)`, flushes the
 * TLB, then drops each mapped page's mapcount and reference. A huge PMD wholly inside the range is
 * zapped whole (`zap_huge_pmd()`); one the range covers in part is split first
 * (`__split_huge_pmd()`) and its PTEs zapped. Migration entries are just cleared: the migration
 * that owns the folio finds no mapping to restore. PTE tables stay (`MmStruct.pteTables`): only
 * `free_pgtables()` ({@link freePgtables}) and {@link zapPageRangeSingle} free them.
 */
export const zapPteRange = (k: Kernel, vma: Vma, from: number, to: number): void => {
  // unmap_single_vma(): a hugetlb VMA's huge entries go by __unmap_hugepage_range().
  if (vma.flags & VM_HUGETLB) {
    unmapHugepageRange(k, vma, from, to);
    return;
  }
  const m = k.memmap;
  const puts: number[] = [];
  const nr = 1 << k.pmdOrder;
  for (const haddr of [...vma.pmds.keys()]) {
    const first = (haddr - vma.start) / k.mem.pageSize;
    if (first + nr <= from || first >= to) continue;
    if (first >= from && first + nr <= to) {
      const head = zapHugePmd(k, vma, haddr);
      if (head >= 0) puts.push(head);
    } else {
      splitHugePmd(k, vma, haddr);
    }
  }
  for (let slot = from; slot < to; slot++) {
    const pte = vma.ptes[slot]!;
    if (pte === 0) continue;
    vma.ptes[slot] = 0;
    if (!ptePresent(pte) || pteSpecial(pte)) continue;
    const page = ptePfn(pte);
    const head = m.folioOf(page);
    m.mapcount[page]!--;
    m.folioSubLargeMapcount(head, 1, vma.mm.id);
    if (pteDirty(pte) && m.mapping[head]! > 0) folioMarkDirty(k, head);
    puts.push(head);
  }
  // __folio_remove_rmap(): a large anonymous folio this zap left partially mapped is queued
  // for the deferred split; munlock_vma_folio() munlocks a folio unmapped from a locked VMA.
  for (const head of new Set(puts)) {
    folioRemoveRmapDeferred(k, head);
    munlockVmaFolio(k, vma, head);
  }
  vma.mm.tlb.flushAll();
  for (const head of puts) folioPut(k, head);
};
