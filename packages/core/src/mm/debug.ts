/**
 * Whole-kernel consistency checks.
 *
 * Models the assertions of `CONFIG_DEBUG_VM` (`mm/debug.c`, `VM_BUG_ON_FOLIO`, the page-table
 * checker `mm/page_table_check.c`) as one sweep that reports every violation it finds instead of
 * stopping at the first. Property tests call it after every step: page tables (huge PMDs
 * included), mapcounts (per page, entire and large, and the MM id slots), references, the reverse map, the page cache, the
 * buddy free lists and the balloons' lists must all agree.
 *
 * @module
 */
import type { Kernel } from "../include/kernel";
import { type MmStruct, VM_HUGETLB, type Vma } from "../include/mm_types";
import { MIGRATE_HIGHATOMIC } from "../include/mmzone";
import {
  PG_buddy,
  PG_head,
  PG_hugetlb,
  PG_lru,
  PG_movable_ops,
  PG_movable_ops_isolated,
  PG_offline,
  PG_partially_mapped,
} from "../include/page_flags";
import {
  isHwpoisonEntry,
  isMigrationEntry,
  ptePfn,
  ptePresent,
  pteSpecial,
} from "../include/pgtable";
import { rmapWalkPmds, rmapWalkSlots } from "./rmap";

/** The mapping counts of {@link checkKernelConsistency}, by memmap, reused by its next call. */
const mappingCounts = new WeakMap<
  Kernel["memmap"],
  { readonly mapcounts: Int32Array; readonly entireMapcounts: Int32Array }
>();

/**
 * Every live address space, each with how a report names it: the processes' own (`pid N`), and
 * those whose process has exited while another task's call still holds them (`get_task_mm()`),
 * found through the VMAs the reverse map knows (`mm N`).
 */
const liveMms = (k: Kernel): Map<MmStruct, string> => {
  const mms = new Map<MmStruct, string>();
  for (const task of k.tasks.values()) if (task.mm) mms.set(task.mm, `pid ${task.pid}`);
  const add = (vma: Vma) => {
    if (!mms.has(vma.mm)) mms.set(vma.mm, `mm ${vma.mm.id}`);
  };
  for (const anonVma of k.anonVmas.values()) for (const vma of anonVma.vmas) add(vma);
  for (const mapping of k.addressSpaces.values()) for (const vma of mapping.iMmap) add(vma);
  return mms;
};

/** What one sweep of {@link checkKernelConsistency} gathers and reports into. */
interface Sweep {
  readonly k: Kernel;
  readonly m: Kernel["memmap"];
  readonly problems: string[];
  /** PTEs found mapping each page, by PFN. */
  readonly mapcounts: Int32Array;
  /** Huge PMDs or PUDs found mapping each folio, by head PFN. */
  readonly entireMapcounts: Int32Array;
  /**
   * The address spaces mapping each large (not hugetlb) folio, by head PFN, with the entries each
   * maps it by.
   */
  readonly mmsOfFolio: Map<number, Map<number, number>>;
  /** Every live address space, with how a report names it. */
  readonly mms: Map<MmStruct, string>;
  /** The head whose reverse-map slots {@link Sweep.reached} holds; -1 for none. */
  walked: number;
  /** The slots the reverse map reaches for the folio {@link Sweep.walked}, by VMA. */
  reached: Map<Vma, Set<number>>;
}

/** Reports one violation; a sweep keeps the first 50. */
const report = (s: Sweep, msg: string): void => {
  if (s.problems.length < 50) s.problems.push(msg);
};

/** Counts an entry of `mmId`'s address space mapping the large (not hugetlb) folio at `head`. */
const mappedBy = (s: Sweep, head: number, mmId: number): void => {
  const m = s.m;
  if (m.folioOrder(head) === 0 || m.test(head, PG_hugetlb)) return;
  const mms = s.mmsOfFolio.get(head);
  if (mms) mms.set(mmId, (mms.get(mmId) ?? 0) + 1);
  else s.mmsOfFolio.set(head, new Map([[mmId, 1]]));
};

/**
 * Whether the reverse map reaches `slot` of `vma` for the folio at `head`. A large folio's PTEs
 * come one after another, so its walk is made once rather than once per PTE.
 */
const rmapReaches = (s: Sweep, head: number, vma: Vma, slot: number): boolean => {
  if (head !== s.walked) {
    const m = s.m;
    const reached = new Map<Vma, Set<number>>();
    s.walked = head;
    s.reached = reached;
    rmapWalkSlots(s.k, m.mapping[head]!, m.index[head]!, m.folioNrPages(head), (v, slot) => {
      const slots = reached.get(v);
      if (slots) slots.add(slot);
      else reached.set(v, new Set([slot]));
    });
  }
  return s.reached.get(vma)?.has(slot) ?? false;
};

/**
 * Huge PMDs of `vma`: each covers an aligned PMD range of its VMA with no PTE and no PTE table
 * under it, and maps the head of a live PMD-sized folio the reverse map finds.
 */
const checkHugePmds = (s: Sweep, mm: MmStruct, owner: string, vma: Vma): void => {
  const { k, m } = s;
  const pmdNr = 1 << k.pmdOrder;
  for (const [haddr, pmd] of vma.pmds) {
    const where = `${owner} pmd 0x${haddr.toString(16)}`;
    const first = (haddr - vma.start) / k.mem.pageSize;
    if (haddr % (pmdNr * k.mem.pageSize) !== 0) {
      report(s, `${where}: not PMD aligned`);
      continue;
    }
    if (first < 0 || first + pmdNr > vma.nrPages) {
      report(s, `${where}: reaches outside its VMA`);
      continue;
    }
    if (anyEntry(vma.ptes, first, first + pmdNr)) report(s, `${where}: PTEs under a huge PMD`);
    if (mm.pteTables.has(haddr)) report(s, `${where}: a huge PMD over a PTE table`);
    // A poisoned hugetlb page's entry names a page that left the pool.
    if (isHwpoisonEntry(pmd)) continue;
    const head = ptePfn(pmd);
    if (m.compoundHead[head] !== 0 || m.folioOrder(head) !== k.pmdOrder) {
      report(s, `${where}: names pfn ${head}, not the head of a PMD-sized folio`);
      continue;
    }
    if (pteSpecial(pmd)) {
      if (head !== k.hugeZero.pfn)
        report(s, `${where}: special PMD to pfn ${head}, not the huge zero folio`);
      else if (!mm.hugeZeroPage)
        report(s, `${where}: maps the huge zero folio without holding it (MMF_HUGE_ZERO_PAGE)`);
      continue;
    }
    if (isMigrationEntry(pmd)) continue;
    if (m.test(head, PG_buddy) || m.refcount[head]! <= 0) {
      report(s, `${where}: maps pfn ${head}, which is free`);
      continue;
    }
    s.entireMapcounts[head]!++;
    mappedBy(s, head, mm.id);
    let found = false;
    rmapWalkPmds(k, m.mapping[head]!, m.index[head]!, pmdNr, (v, a) => {
      if (v === vma && a === haddr) found = true;
    });
    if (!found) report(s, `${where}: pfn ${head} is mapped but the reverse map cannot find it`);
  }
};

/**
 * Huge PUDs of `vma` (1 GiB hugetlb pages): aligned inside their VMA, naming a live PUD-sized
 * folio the reverse map finds.
 */
const checkHugePuds = (s: Sweep, owner: string, vma: Vma): void => {
  const { k, m } = s;
  const pudNr = 1 << k.pudOrder;
  for (const [haddr, pud] of vma.puds) {
    const where = `${owner} pud 0x${haddr.toString(16)}`;
    const first = (haddr - vma.start) / k.mem.pageSize;
    if (haddr % (pudNr * k.mem.pageSize) !== 0 || first < 0 || first + pudNr > vma.nrPages) {
      report(s, `${where}: not a PUD-aligned range of its VMA`);
      continue;
    }
    if (!ptePresent(pud)) continue;
    const head = ptePfn(pud);
    if (m.compoundHead[head] !== 0 || m.folioOrder(head) !== k.pudOrder) {
      report(s, `${where}: names pfn ${head}, not the head of a PUD-sized folio`);
      continue;
    }
    s.entireMapcounts[head]!++;
    let found = false;
    rmapWalkPmds(k, m.mapping[head]!, m.index[head]!, pudNr, (v, a) => {
      if (v === vma && a === haddr) found = true;
    });
    if (!found) report(s, `${where}: pfn ${head} is mapped but the reverse map cannot find it`);
  }
};

/** Whether any of `entries[from..to)` is not none (a loop, not a callback made for each PMD). */
const anyEntry = (entries: ArrayLike<number>, from: number, to: number): boolean => {
  for (let i = from; i < to; i++) if (entries[i] !== 0) return true;
  return false;
};

/**
 * Where a PTE's report points: its owner and address, formatted only for a report (most PTEs have
 * none). A function of the module, not a closure made for each PTE.
 */
const pteWhere = (owner: string, addr: number): string => `${owner} addr 0x${addr.toString(16)}`;

/**
 * The PTEs of `vma`: every PTE that is not none lies under a PTE table, and every present PTE
 * maps a live page the reverse map finds.
 */
const checkPtes = (s: Sweep, mm: MmStruct, owner: string, vma: Vma): void => {
  const { k, m, mapcounts } = s;
  const pageSize = k.mem.pageSize;
  const pmdBytes = (1 << k.pmdOrder) * pageSize;
  const ptes = vma.ptes;
  for (let slot = 0; slot < vma.nrPages; slot++) {
    const pte = ptes[slot]!;
    if (pte === 0) continue;
    const addr = vma.start + slot * pageSize;
    if (!mm.pteTables.has(addr - (addr % pmdBytes)))
      report(s, `${pteWhere(owner, addr)}: a PTE with no PTE table (pmd_none())`);
    if (isMigrationEntry(pte) || isHwpoisonEntry(pte)) continue;
    const page = ptePfn(pte);
    if (pteSpecial(pte)) {
      if (page !== k.zeroPfn)
        report(s, `${pteWhere(owner, addr)}: special PTE to pfn ${page}, not the zero page`);
      continue;
    }
    const head = m.folioOf(page);
    if (m.test(head, PG_buddy) || m.refcount[head]! <= 0) {
      report(s, `${pteWhere(owner, addr)}: maps pfn ${page}, which is free`);
      continue;
    }
    mapcounts[page]!++;
    mappedBy(s, head, mm.id);
    if (!rmapReaches(s, head, vma, slot))
      report(
        s,
        `${pteWhere(owner, addr)}: pfn ${page} is mapped but the reverse map cannot find it`,
      );
  }
};

/**
 * PTE tables: free_pgtables() leaves one only in a PMD range some VMA still reaches, and never
 * in a hugetlb VMA's.
 */
const checkPteTables = (s: Sweep): void => {
  const pmdBytes = (1 << s.k.pmdOrder) * s.k.mem.pageSize;
  for (const [mm, owner] of s.mms) {
    for (const haddr of mm.pteTables) {
      const vma = mm.findVmaIntersection(haddr, haddr + pmdBytes);
      if (!vma) report(s, `${owner} PTE table 0x${haddr.toString(16)}: no VMA reaches it`);
      else if (vma.flags & VM_HUGETLB)
        report(s, `${owner} PTE table 0x${haddr.toString(16)}: in a hugetlb VMA`);
    }
  }
};

/** The page cache's references to each folio, by head PFN; each entry names its own folio. */
const pageCacheRefs = (s: Sweep): Map<number, number> => {
  const m = s.m;
  const cacheRefs = new Map<number, number>();
  for (const mapping of s.k.addressSpaces.values()) {
    for (const [pgoff, head] of mapping.pages) {
      cacheRefs.set(head, (cacheRefs.get(head) ?? 0) + 1);
      if (m.mapping[head] !== mapping.id)
        report(s, `page cache ${mapping.name}@${pgoff}: folio ${head} has another mapping`);
      const index = m.index[head]!;
      if (pgoff < index || pgoff >= index + m.folioNrPages(head)) {
        report(
          s,
          `page cache ${mapping.name}@${pgoff}: folio ${head} covers ${index}+${m.folioNrPages(head)}`,
        );
      }
    }
  }
  return cacheRefs;
};

/** A free block of `nr` pages from `pfn`: no page of it mapped, by count or by entry found. */
const checkFreeBlock = (s: Sweep, pfn: number, nr: number): void => {
  const { m, mapcounts, entireMapcounts } = s;
  const mapcount = m.mapcount;
  const entireMapcount = m.entireMapcount;
  const largeMapcount = m.largeMapcount;
  // Every count zero, nearly always: one pass over the block, then one per page only for a block
  // where some count is not.
  let any = 0;
  for (let p = pfn; p < pfn + nr; p++)
    any |=
      mapcount[p]! | mapcounts[p]! | entireMapcount[p]! | entireMapcounts[p]! | largeMapcount[p]!;
  if (any === 0) return;
  for (let p = pfn; p < pfn + nr; p++) {
    if (mapcount[p] !== 0 || mapcounts[p] !== 0) report(s, `free pfn ${p} is mapped`);
    if (entireMapcount[p] !== 0 || entireMapcounts[p] !== 0)
      report(s, `free pfn ${p} has an entire mapcount`);
    if (largeMapcount[p] !== 0) report(s, `free pfn ${p} has a large mapcount`);
  }
};

/** What the sweep of the zones counted. */
interface ZoneCounts {
  /** Pages in free blocks. */
  freeSeen: number;
  /** Hugetlb folios by order, then by node. */
  readonly hugeHeads: Map<number, number[]>;
  /** Anonymous large folios (not hugetlb) by order, which each size's `nr_anon` must count. */
  readonly anonFolios: number[];
  /** Of those, the ones marked partially mapped, which `nr_anon_partially_mapped` must count. */
  readonly partiallyMapped: number[];
}

/**
 * A folio in use at `head`: mapcounts equal the entries counted, references cover mappings and
 * the page cache, and PG_lru means it is on a list.
 */
const checkFolio = (s: Sweep, head: number, nr: number, cacheRefs: Map<number, number>): void => {
  const { m, mapcounts } = s;
  const entire = s.entireMapcounts[head]!;
  if (m.entireMapcount[head] !== entire) {
    report(s, `folio ${head}: entire mapcount ${m.entireMapcount[head]} but ${entire} PMDs map it`);
  }
  for (let i = 1; i < nr; i++) {
    if (m.entireMapcount[head + i] !== 0)
      report(s, `pfn ${head + i}: a tail page with an entire mapcount`);
  }
  let sum = entire;
  for (let i = 0; i < nr; i++) {
    const expected = mapcounts[head + i]!;
    if (m.mapcount[head + i] !== expected) {
      report(s, `pfn ${head + i}: mapcount ${m.mapcount[head + i]} but ${expected} PTEs map it`);
    }
    sum += expected;
    if (i > 0 && m.largeMapcount[head + i] !== 0)
      report(s, `pfn ${head + i}: a tail page with a large mapcount`);
  }
  // folio->_large_mapcount: every entry mapping a large folio; a small one keeps none.
  const large = m.test(head, PG_head) ? sum : 0;
  if (m.largeMapcount[head] !== large)
    report(s, `folio ${head}: large mapcount ${m.largeMapcount[head]} but ${large} expected`);
  const minRefs = sum + (cacheRefs.get(head) ?? 0);
  if (m.refcount[head]! < minRefs && !(m.refcount[head] === 0 && minRefs === 0)) {
    report(
      s,
      `folio ${head}: refcount ${m.refcount[head]} below its ${minRefs} mappings and cache entries`,
    );
  }
  if (m.test(head, PG_lru) && !m.lru.isLinked(head))
    report(s, `folio ${head}: PG_lru but on no list`);
};

/** struct page, zone by zone: free blocks unmapped, and every folio in use consistent. */
const checkZones = (s: Sweep, cacheRefs: Map<number, number>): ZoneCounts => {
  const { k, m } = s;
  const counts: ZoneCounts = {
    freeSeen: 0,
    hugeHeads: new Map(),
    anonFolios: new Array<number>(k.pmdOrder + 1).fill(0),
    partiallyMapped: new Array<number>(k.pmdOrder + 1).fill(0),
  };
  for (const zone of k.pageAlloc.zones) {
    for (let pfn = zone.startPfn; pfn < zone.endPfn; ) {
      if (m.test(pfn, PG_buddy)) {
        const nr = 1 << m.order[pfn]!;
        counts.freeSeen += nr;
        checkFreeBlock(s, pfn, nr);
        pfn += nr;
        continue;
      }
      if (m.compoundHead[pfn] !== 0) {
        pfn++;
        continue;
      }
      const head = pfn;
      const nr = m.folioNrPages(head);
      if (nr > 1 && m.mapping[head]! < 0 && !m.test(head, PG_hugetlb)) {
        counts.anonFolios[m.folioOrder(head)]!++;
        if (m.test(head, PG_partially_mapped)) counts.partiallyMapped[m.folioOrder(head)]!++;
      }
      if (m.test(head, PG_hugetlb)) {
        const order = m.folioOrder(head);
        if (!counts.hugeHeads.has(order))
          counts.hugeHeads.set(order, new Array<number>(k.mem.nodes.length).fill(0));
        counts.hugeHeads.get(order)![zone.nid]!++;
      }
      checkFolio(s, head, nr, cacheRefs);
      pfn += nr;
    }
  }
  return counts;
};

/**
 * A large folio's MM id slots: kept only while it is mapped, and its "maybe mapped shared" bit
 * set whenever more than one mm maps it (folio_maybe_mapped_shared() has no false negative).
 */
const checkMmIdSlots = (s: Sweep): void => {
  const m = s.m;
  const { mmId, mmIdMapcount, mmIdsShared } = m;
  for (let pfn = 0; pfn < m.nrPfns; pfn++) {
    if ((mmId[pfn]! | mmIdMapcount[pfn]! | mmIdsShared[pfn]!) === 0) continue;
    const head = m.folioOf(pfn);
    const slot = pfn - head;
    if (
      slot > 1 ||
      (slot === 1 && m.mmIdsShared[pfn] !== 0) ||
      m.folioOrder(head) === 0 ||
      m.test(head, PG_hugetlb) ||
      m.folioMapcount(head) === 0
    )
      report(s, `folio ${head}: MM id slots kept for a small, hugetlb or unmapped folio`);
  }
};

/**
 * A slot's count never exceeds the entries its mm maps the folio by (mappings an mm added before
 * it had a slot are dropped from it too), and a folio not maybe mapped shared has one slot
 * holding every mapping.
 */
const checkMmIdCounts = (s: Sweep): void => {
  const m = s.m;
  for (const [head, mms] of s.mmsOfFolio) {
    if (mms.size > 1 && !m.folioMmIdsShared(head))
      report(s, `folio ${head}: mapped by ${mms.size} mms but not maybe mapped shared`);
    for (const slot of [head, head + 1]) {
      const id = m.mmId[slot]!;
      if (id !== 0 && !(m.mmIdMapcount[slot]! > 0 && m.mmIdMapcount[slot]! <= (mms.get(id) ?? 0)))
        report(
          s,
          `folio ${head}: MM id slot ${slot - head} counts ${m.mmIdMapcount[slot]} for mm ${id}, which maps it ${mms.get(id) ?? 0} times`,
        );
    }
    const total = m.folioMapcount(head);
    if (
      !m.folioMmIdsShared(head) &&
      m.mmIdMapcount[head] !== total &&
      m.mmIdMapcount[head + 1] !== total
    )
      report(
        s,
        `folio ${head}: not maybe mapped shared, but no MM id slot holds its ${total} mappings`,
      );
  }
};

/** Each mTHP size's `nr_anon` and `nr_anon_partially_mapped` count the folios the sweep found. */
const checkMthpStats = (s: Sweep, counts: ZoneCounts): void => {
  const k = s.k;
  for (let order = 1; order <= k.pmdOrder; order++) {
    const counted = k.thp.mthpStat(order, "nr_anon");
    if (counted !== counts.anonFolios[order])
      report(
        s,
        `${k.thp.sizeName(order)}/stats/nr_anon is ${counted}, but ${counts.anonFolios[order]} anonymous folios of that size exist`,
      );
    const marked = k.thp.mthpStat(order, "nr_anon_partially_mapped");
    if (marked !== counts.partiallyMapped[order])
      report(
        s,
        `${k.thp.sizeName(order)}/stats/nr_anon_partially_mapped is ${marked}, but ${counts.partiallyMapped[order]} folios of that size are marked partially mapped`,
      );
  }
};

/** The buddy free lists: each block where and what its list says, and every count right. */
const checkFreeLists = (s: Sweep, freeSeen: number): void => {
  const m = s.m;
  const zones = s.k.pageAlloc.zones;
  const freeCounted = zones.reduce((sum, z) => sum + z.freePages, 0);
  if (freeSeen !== freeCounted)
    report(s, `buddy: ${freeSeen} free pages on the lists, ${freeCounted} counted`);
  for (const zone of zones) {
    let pages = 0;
    // Loops, not callbacks made for each zone checked: V8 keeps a function's optimized code only
    // while a closure of it lives, and compiled such callbacks again after each collection.
    for (let order = 0; order < zone.freeArea.length; order++) {
      const lists = zone.freeArea[order]!;
      let blocks = 0;
      for (let mt = 0; mt < lists.length; mt++) {
        const list = lists[mt]!;
        let typed = 0;
        for (const pfn of list) {
          blocks++;
          typed++;
          pages += 1 << order;
          if (!m.test(pfn, PG_buddy) || m.order[pfn] !== order)
            report(
              s,
              `node ${zone.nid}: pfn ${pfn} on free list ${order} is not a free block of that order`,
            );
          if (zone.pageblockMigratetype(pfn) !== mt)
            report(
              s,
              `node ${zone.nid}: pfn ${pfn} on the type ${mt} list of order ${order} is in a pageblock of type ${zone.pageblockMigratetype(pfn)}`,
            );
        }
        if (typed !== zone.nrFreeByType[order]![mt])
          report(
            s,
            `node ${zone.nid}: free_area[${order}].free_list[${mt}] has ${typed} blocks, ${zone.nrFreeByType[order]![mt]} counted`,
          );
      }
      if (blocks !== zone.nrFree[order])
        report(
          s,
          `node ${zone.nid}: free_area[${order}] has ${blocks} blocks, nr_free says ${zone.nrFree[order]}`,
        );
    }
    if (pages !== zone.freePages)
      report(
        s,
        `node ${zone.nid}: free lists hold ${pages} pages, freePages says ${zone.freePages}`,
      );
    // nr_free_highatomic counts the pages on the highatomic lists (account_freepages()).
    let highatomicFree = 0;
    for (let order = 0; order < zone.nrFreeByType.length; order++)
      highatomicFree += zone.nrFreeByType[order]![MIGRATE_HIGHATOMIC]! << order;
    if (highatomicFree !== zone.nrFreeHighatomic)
      report(
        s,
        `node ${zone.nid}: highatomic lists hold ${highatomicFree} pages, nr_free_highatomic says ${zone.nrFreeHighatomic}`,
      );
  }
};

/**
 * The hugetlb pools: free lists match their counts, node counts add up to the global ones, and
 * every hugetlb folio is counted on its node in the pool of its size.
 */
const checkHugetlbPools = (s: Sweep, hugeHeads: Map<number, number[]>): void => {
  const { k, m } = s;
  const sum = (a: readonly number[]) => a.reduce((total, n) => total + n, 0);
  for (const h of k.hstates) {
    const name = `hugetlb ${h.name}`;
    h.hugepageFreelists.forEach((list, nid) => {
      let n = 0;
      for (const head of list) {
        n++;
        if (!m.test(head, PG_hugetlb) || m.refcount[head] !== 0 || m.folioOrder(head) !== h.order)
          report(s, `${name}: pfn ${head} on node ${nid}'s free list is not a free huge page`);
        if (k.mem.pfnToNid(head) !== nid)
          report(s, `${name}: pfn ${head} on node ${nid}'s free list`);
      }
      if (n !== h.freeHugePagesNode[nid])
        report(
          s,
          `${name}: node ${nid} has ${n} free huge pages, ${h.freeHugePagesNode[nid]} counted`,
        );
      const heads = hugeHeads.get(h.order)?.[nid] ?? 0;
      if (heads !== h.nrHugePagesNode[nid])
        report(
          s,
          `${name}: node ${nid} has ${heads} huge pages, ${h.nrHugePagesNode[nid]} counted`,
        );
    });
    if (sum(h.nrHugePagesNode) !== h.nrHugePages || sum(h.freeHugePagesNode) !== h.freeHugePages)
      report(s, `${name}: the node counts do not add up to nr_hugepages and free_hugepages`);
    if (sum(h.surplusHugePagesNode) !== h.surplusHugePages)
      report(s, `${name}: the node counts do not add up to surplus_hugepages`);
    // resv_huge_pages may be below 0 by the reservations of folios still to be freed with
    // HPG_restore_reserve (their owner restored them, then returned them at munmap()).
    if (h.resvHugePages > h.freeHugePages || h.resvHugePages + h.restoreReserve.size < 0)
      report(s, `${name}: ${h.resvHugePages} reserved but ${h.freeHugePages} free`);
  }
};

/** Balloons: listed pages are balloon pages of that device; isolated ones are counted. */
const checkBalloons = (s: Sweep): void => {
  const { k, m } = s;
  for (const b of k.balloonDevices.values()) {
    for (const page of b.pages) {
      if (!m.test(page, PG_offline) || !m.test(page, PG_movable_ops) || m.private[page] !== b.id)
        report(s, `balloon ${b.id}: pfn ${page} on its list is not one of its pages`);
      if (m.test(page, PG_movable_ops_isolated))
        report(s, `balloon ${b.id}: pfn ${page} is on its list and isolated`);
      if (m.refcount[page]! < 1) report(s, `balloon ${b.id}: pfn ${page} has no reference`);
    }
  }
  // Isolated pages are counted for the devices' isolated_pages: with no device there is nothing
  // to count them for.
  if (k.balloonDevices.size === 0) return;
  const isolated = new Map<number, number>();
  const flags = m.flags;
  const priv = m.private;
  for (let pfn = 0; pfn < m.nrPfns; pfn++) {
    if (flags[pfn]! & PG_movable_ops_isolated && priv[pfn] !== 0)
      isolated.set(priv[pfn]!, (isolated.get(priv[pfn]!) ?? 0) + 1);
  }
  for (const b of k.balloonDevices.values()) {
    if ((isolated.get(b.id) ?? 0) !== b.isolatedPages)
      report(
        s,
        `balloon ${b.id}: isolated_pages ${b.isolatedPages}, ${isolated.get(b.id) ?? 0} pages isolated`,
      );
  }
};

/**
 * Checks that the kernel's memory metadata is consistent; returns one line per violation, empty
 * when all is well. O(memory): for tests, not for hot paths.
 *
 * No single kernel symbol: it gathers the `CONFIG_DEBUG_VM` assertions (`VM_BUG_ON_FOLIO()`,
 * `include/linux/mmdebug.h`; `dump_page()`, `mm/debug.c`) and the page-table checker
 * (`mm/page_table_check.c`) into one sweep.
 *
 * @category Testing
 */
export const checkKernelConsistency = (k: Kernel): string[] => {
  const m = k.memmap;
  // PTEs (mapcounts) and huge PMDs or PUDs (entireMapcounts) found mapping each page, by PFN:
  // typed arrays, as every free page is looked up in them, kept with the kernel's memmap for its
  // next check.
  let counts = mappingCounts.get(m);
  if (!counts) {
    counts = { mapcounts: new Int32Array(m.nrPfns), entireMapcounts: new Int32Array(m.nrPfns) };
    mappingCounts.set(m, counts);
  }
  counts.mapcounts.fill(0);
  counts.entireMapcounts.fill(0);
  const s: Sweep = {
    k,
    m,
    problems: [],
    mapcounts: counts.mapcounts,
    entireMapcounts: counts.entireMapcounts,
    mmsOfFolio: new Map(),
    mms: liveMms(k),
    walked: -1,
    reached: new Map(),
  };

  // Page tables: every huge PMD covers an aligned PMD range of its VMA with no PTE and no PTE
  // table under it and maps the head of a live PMD-sized folio, every PTE that is not none lies
  // under a PTE table, and every present PTE maps a live page; the reverse map finds each.
  for (const [mm, owner] of s.mms) {
    for (const vma of mm.vmas) {
      checkHugePmds(s, mm, owner, vma);
      checkHugePuds(s, owner, vma);
      checkPtes(s, mm, owner, vma);
    }
  }
  checkPteTables(s);

  // The huge zero folio: huge_zero_refcount is the address spaces holding it plus the shrinker's.
  const zeroHolders = new Set([...s.mms.keys()].filter((mm) => mm.hugeZeroPage));
  const zeroRefs = k.hugeZero.pfn >= 0 ? zeroHolders.size + 1 : 0;
  if (k.hugeZero.refcount !== zeroRefs)
    report(s, `huge zero folio: refcount ${k.hugeZero.refcount} but ${zeroRefs} expected`);

  // struct page: mapcounts equal the PTEs counted; references cover mappings and the page cache.
  const zoneCounts = checkZones(s, pageCacheRefs(s));
  checkMmIdSlots(s);
  checkMmIdCounts(s);
  checkMthpStats(s, zoneCounts);
  checkFreeLists(s, zoneCounts.freeSeen);
  checkHugetlbPools(s, zoneCounts.hugeHeads);
  checkBalloons(s);
  for (const bad of k.badPages) report(s, `bad page pfn ${bad.pfn}: ${bad.reason}`);
  return s.problems;
};
