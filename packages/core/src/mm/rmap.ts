/**
 * The reverse map: from a folio to every page-table entry that maps it.
 *
 * Models `mm/rmap.c`. A folio keeps no list of its mappings. Its `mapping` names an anon_vma (for
 * anonymous memory) or an address space (for the page cache), its `index` its page offset there,
 * and the walk visits each VMA linked to that anon_vma or address space and computes the one
 * address where the folio can be mapped (`vma_address`), as `rmap_walk_anon()` and
 * `rmap_walk_file()` do.
 *
 * A PMD-sized THP may be mapped by one huge PMD (`Vma.pmds`) instead of PTEs, and a hugetlb page
 * always is, by a huge PMD or, for a 1 GiB page, a huge PUD (`Vma.puds`); the walk finds them as
 * `page_vma_mapped_walk()` (`mm/page_vma_mapped.c`) does, with no PTE.
 *
 * `try_to_migrate()` turns every present mapping into a migration entry: one per PTE, one for a
 * whole huge PMD (`set_pmd_migration_entry()`, `mm/huge_memory.c`); with `TTU_BATCH_FLUSH` the
 * TLB flush of PTEs is deferred to one `try_to_unmap_flush()` for the whole batch.
 * `remove_migration_ptes()` (which lives in `mm/migrate.c`) puts the mappings back, pointing to
 * the new folio, or to the old one when migration is undone; a PMD migration entry becomes a huge
 * PMD again (`remove_migration_pmd()`, `mm/huge_memory.c`). The two PMD steps live here, beside
 * the walk that calls them, so that `huge_memory.ts` can use the walk.
 *
 * @module
 */
import type { Kernel } from "../include/kernel";
import { AnonVma, VM_LOCKED, type Vma } from "../include/mm_types";
import {
  PG_dirty,
  PG_has_hwpoisoned,
  PG_hugetlb,
  PG_hwpoison,
  PG_swapbacked,
} from "../include/page_flags";
import {
  isMigrationEntry,
  mkHwpoisonEntry,
  mkMigrationEntry,
  mkPte,
  PTE_DIRTY,
  PTE_WRITE,
  PTE_YOUNG,
  pteDirty,
  ptePfn,
  ptePresent,
  pteWrite,
  pteYoung,
} from "../include/pgtable";
import type { TlbFlushBatch } from "../include/tlbflush";
import { folioMarkDirty } from "./filemap";
import { mlockFolio, mlockVmaFolio, munlockVmaFolio } from "./mlock";

/** `anon_vma_prepare()` (`mm/rmap.c`): gives the VMA its anon_vma on its first anonymous folio. */
export const anonVmaPrepare = (k: Kernel, vma: Vma): AnonVma => {
  if (vma.anonVma) return vma.anonVma;
  const anonVma = new AnonVma(k.nextId());
  k.anonVmas.set(anonVma.id, anonVma);
  anonVma.vmas.add(vma);
  vma.anonVma = anonVma;
  vma.anonVmaChain.push(anonVma);
  return anonVma;
};

/** `TTU_BATCH_FLUSH`: defer the TLB flush to the caller's {@link TlbFlushBatch}. */
export const TTU_BATCH_FLUSH = 1 << 0;

/**
 * Visits every PTE slot where the folio with this `mapping`/`index` can be mapped: each VMA of the
 * anon_vma or address space, and each of the folio's `nrPages` pages that falls inside it. The
 * visitor gets the VMA, the slot's index in `vma.ptes`, and the page's index in the folio.
 * Models `rmap_walk()`.
 */
export const rmapWalkSlots = (
  k: Kernel,
  mapping: number,
  index: number,
  nrPages: number,
  visit: (vma: Vma, slot: number, page: number) => void,
): void => {
  const vmas = rmapVmas(k, mapping);
  if (!vmas) return;
  for (const vma of vmas) {
    const first = Math.max(index, vma.pgoff);
    const last = Math.min(index + nrPages, vma.pgoff + vma.nrPages);
    for (let pgoff = first; pgoff < last; pgoff++) visit(vma, pgoff - vma.pgoff, pgoff - index);
  }
};

/** The VMAs that may map a folio with this `mapping`: its anon_vma's or its address space's. */
const rmapVmas = (k: Kernel, mapping: number): ReadonlySet<Vma> | undefined =>
  mapping < 0 ? k.anonVmas.get(-mapping)?.vmas : k.addressSpaces.get(mapping)?.iMmap;

/** Whether a folio of `nrPages` can be mapped whole by a huge PMD (or, hugetlb, a huge PUD). */
const hugeMappable = (k: Kernel, nrPages: number): boolean =>
  nrPages === 1 << k.pmdOrder || nrPages === 1 << k.pudOrder;

/**
 * The huge entries that map a folio of `nrPages` whole: huge PMDs for the PMD size, huge PUDs
 * for the PUD size (a hugetlb page), none for any other size.
 */
const hugeMap = (k: Kernel, vma: Vma, nrPages: number): Map<number, number> | null =>
  nrPages === 1 << k.pmdOrder ? vma.pmds : nrPages === 1 << k.pudOrder ? vma.puds : null;

/**
 * Visits every huge PMD entry (present or a migration entry) at the one address where a
 * PMD-sized folio with this `mapping`/`index` can be mapped whole: each VMA of the anon_vma or
 * address space that holds all `nrPages` pages there. The visitor gets the VMA, the PMD-aligned
 * address and the entry, and checks which folio the entry names. A PUD-sized (hugetlb) folio's
 * huge PUD entries are visited the same way. Nothing is visited for a folio of another size.
 * Models the PMD and PUD steps of `page_vma_mapped_walk()` (`mm/page_vma_mapped.c`).
 */
export const rmapWalkPmds = (
  k: Kernel,
  mapping: number,
  index: number,
  nrPages: number,
  visit: (vma: Vma, haddr: number, pmd: number) => void,
): void => {
  if (!hugeMappable(k, nrPages)) return;
  const vmas = rmapVmas(k, mapping);
  if (vmas) walkHugeEntries(k, vmas, index, nrPages, visit);
};

/** {@link rmapWalkPmds} over VMAs its caller has looked up already (one anon_vma lookup a walk). */
const walkHugeEntries = (
  k: Kernel,
  vmas: ReadonlySet<Vma>,
  index: number,
  nrPages: number,
  visit: (vma: Vma, haddr: number, pmd: number) => void,
): void => {
  for (const vma of vmas) {
    const haddr = hugeEntryAddress(k, vma, index, nrPages);
    if (haddr < 0) continue;
    const pmd = hugeMap(k, vma, nrPages)!.get(haddr);
    if (pmd !== undefined) visit(vma, haddr, pmd);
  }
};

/**
 * The address of the huge entry that would map a huge-mappable folio of `nrPages` at page offset
 * `index` whole in `vma`, or -1 when the VMA holds no such entry or not all of the folio's pages.
 */
const hugeEntryAddress = (k: Kernel, vma: Vma, index: number, nrPages: number): number => {
  const map = hugeMap(k, vma, nrPages)!;
  if (map.size === 0 || index < vma.pgoff || index + nrPages > vma.pgoff + vma.nrPages) return -1;
  return vma.start + (index - vma.pgoff) * k.mem.pageSize;
};

/**
 * Whether a huge entry (present, or a migration entry, for any folio) sits where a huge-mappable
 * folio of `nrPages` at `index` would be mapped whole in `vma`. The PTEs under such an entry are
 * all 0 (`Vma.pmds`, `Vma.puds`), so no PTE of the VMA can map a page of the folio there: as
 * `page_vma_mapped_walk()` (`mm/page_vma_mapped.c`) stops at a huge PMD and never reaches a PTE
 * table below it, the PTE walk skips the VMA.
 */
const hugeEntryCovers = (k: Kernel, vma: Vma, index: number, nrPages: number): boolean => {
  const haddr = hugeEntryAddress(k, vma, index, nrPages);
  return haddr >= 0 && hugeMap(k, vma, nrPages)!.has(haddr);
};

/** One place a folio is mapped: the VMA, the virtual address and the page of the folio. */
export interface RmapMapping {
  readonly vma: Vma;
  /** The address of the page, or of the whole folio for a PMD mapping. */
  readonly address: number;
  /** The page of the folio mapped there (0 for a PMD mapping, which maps them all). */
  readonly page: number;
  /** True for a huge PMD that maps the whole folio. */
  readonly pmd: boolean;
}

/** Every present mapping of a folio, found through the reverse map: huge PMDs, then PTEs. */
export const folioMappings = (k: Kernel, head: number): RmapMapping[] => {
  const m = k.memmap;
  const out: RmapMapping[] = [];
  const mapping = m.mapping[head]!;
  const index = m.index[head]!;
  const nr = m.folioNrPages(head);
  rmapWalkPmds(k, mapping, index, nr, (vma, address, pmd) => {
    if (ptePresent(pmd) && ptePfn(pmd) === head) out.push({ vma, address, page: 0, pmd: true });
  });
  rmapWalkSlots(k, mapping, index, nr, (vma, slot, page) => {
    const pte = vma.ptes[slot]!;
    if (ptePresent(pte) && ptePfn(pte) === head + page) {
      out.push({ vma, address: vma.start + slot * k.mem.pageSize, page, pmd: false });
    }
  });
  return out;
};

/**
 * `folio_maybe_mapped_shared()` (`include/linux/mm.h`, Linux 6.16): whether the folio may be
 * mapped by more than one process. A small or hugetlb folio: mapped more than once
 * (`folio_mapcount()`), even twice by one process. A large folio (6.15+ with `CONFIG_MM_ID`,
 * which x86-64 THP kernels have): never when mapped once; else its "maybe mapped shared" bit
 * (`MemMap.folioMmIdsShared()`), exact while at most two address spaces map it, a sticky false
 * positive once a third did (until one `mm` again owns every mapping of it), whatever page the
 * caller looks at. What `move_pages(2)` (`-EACCES` without `MPOL_MF_MOVE_ALL`) and `mbind(2)`
 * (`migrate_folio_add()`) test.
 */
export const folioMaybeMappedShared = (k: Kernel, head: number): boolean => {
  const m = k.memmap;
  if (m.folioOrder(head) === 0 || m.test(head, PG_hugetlb)) return m.folioMapcount(head) > 1;
  return m.folioMmIdsShared(head) && m.folioMapcount(head) > 1;
};

/**
 * `set_pmd_migration_entry()` (`mm/huge_memory.c`): replaces the present huge PMD at `haddr`,
 * which maps the folio `head`, by one migration entry for the folio that keeps its write, young
 * and dirty bits, moves the dirty bit to the folio, drops the entire mapcount and the reference the
 * mapping held, and flushes the PMD's translations at once (`pmdp_invalidate()`; a PMD's flush is
 * never deferred). Emits `set_migration_pmd`.
 */
const setPmdMigrationEntry = (k: Kernel, vma: Vma, haddr: number, pmd: number): void => {
  const m = k.memmap;
  const head = ptePfn(pmd);
  const nr = m.folioNrPages(head);
  const entry = mkMigrationEntry(head, pteWrite(pmd), pteYoung(pmd), pteDirty(pmd));
  hugeMap(k, vma, nr)!.set(haddr, entry);
  if (pteDirty(pmd)) folioMarkDirty(k, head);
  m.entireMapcount[head]!--;
  m.folioSubLargeMapcount(head, 1, vma.mm.id);
  m.refcount[head]!--;
  vma.mm.tlb.flushRange(haddr / k.mem.pageSize, nr);
  if (!k.trace.enabled) return;
  // A hugetlb page's entry is set by try_to_migrate_one() (set_huge_pte_at()), which traces it
  // as a PTE of the folio's order.
  if (m.test(head, PG_hugetlb)) {
    const order = m.folioOrder(head);
    k.trace.emit({ event: "set_migration_pte", address: haddr, pfn: head, order });
  } else k.trace.emit({ event: "set_migration_pmd", address: haddr, pmd: entry });
};

/**
 * `remove_migration_pmd()` (`mm/huge_memory.c`): the PMD migration entry at `haddr` becomes a
 * huge PMD mapping the folio `dst`, writable if the entry was, old unless the entry was young,
 * dirty if the entry was and `dst` still is ({@link restoredBits}); `dst` takes the entire
 * mapcount and a reference. Emits `remove_migration_pmd`.
 */
const removeMigrationPmd = (k: Kernel, vma: Vma, haddr: number, entry: number, dst: number) => {
  const m = k.memmap;
  const pmd = mkPte(dst, restoredBits(k, entry, dst));
  hugeMap(k, vma, m.folioNrPages(dst))!.set(haddr, pmd);
  m.entireMapcount[dst]!++;
  m.folioAddLargeMapcount(dst, 1, vma.mm.id);
  m.refcount[dst]!++;
  if (!k.trace.enabled) return;
  // remove_migration_pte() restores a hugetlb page's entry (set_huge_pte_at()) and traces it.
  if (m.test(dst, PG_hugetlb)) {
    const order = m.folioOrder(dst);
    k.trace.emit({ event: "remove_migration_pte", address: haddr, pfn: dst, order });
  } else k.trace.emit({ event: "remove_migration_pmd", address: haddr, pmd });
};

/**
 * The bits a present entry for the folio `dst` gets back from the migration entry `entry`
 * (`remove_migration_pte()`, `mm/migrate.c`; `remove_migration_pmd()`, `mm/huge_memory.c`): write
 * if the entry was writable; young only if the entry was (`pte_mkold()` unless
 * `is_migration_entry_young()`); dirty if the entry was and the folio is still dirty
 * (`folio_test_dirty()` and `is_migration_entry_dirty()`).
 */
const restoredBits = (k: Kernel, entry: number, dst: number): number =>
  (entry & (PTE_WRITE | PTE_YOUNG)) |
  (pteDirty(entry) && k.memmap.test(dst, PG_dirty) ? PTE_DIRTY : 0);

/**
 * The partially-mapped test of `__folio_remove_rmap()` (`mm/rmap.c`, Linux 6.16) after one PTE
 * of `page` was removed: the page lost its last mapping while another page of the anonymous large
 * folio is still mapped by a PTE (and no huge PMD maps the folio). Hugetlb folios have their own
 * rmap (`hugetlb_remove_rmap()`) and never qualify.
 */
const partiallyMappedAfterPte = (k: Kernel, head: number, page: number): boolean => {
  const m = k.memmap;
  return (
    m.mapcount[page] === 0 &&
    m.mapping[head]! < 0 &&
    m.folioOrder(head) > 0 &&
    !m.test(head, PG_hugetlb) &&
    m.entireMapcount[head] === 0 &&
    m.folioMapped(head)
  );
};

/**
 * `try_to_migrate()`: replaces every present mapping of the folio by a migration entry, drops the
 * mapcount and reference each mapping held, and moves the PTE dirty bit to the folio. A huge PMD
 * becomes one PMD migration entry (`set_pmd_migration_entry()`), flushed at once; each PTE one
 * migration entry (emitting `set_migration_pte`). With {@link TTU_BATCH_FLUSH} the stale TLB
 * entries of PTEs stay until `batch.flush()`; otherwise each is flushed at once. Afterwards the
 * folio is unmapped unless a mapping could not be found.
 *
 * Returns true when the walk left an anonymous large folio partially mapped on the way: it
 * removes PTEs one at a time (`folio_remove_rmap_pte()`), so once a page lost its last mapping
 * while another was still mapped, `__folio_remove_rmap()` queued the folio for deferred split,
 * where it stays after the rest is unmapped. The caller queues it (`deferredSplitFolio()`).
 */
export const tryToMigrate = (
  k: Kernel,
  head: number,
  flags: number,
  batch: TlbFlushBatch | null,
): boolean => {
  const m = k.memmap;
  const vmas = rmapVmas(k, m.mapping[head]!);
  if (!vmas) return false;
  let partial = false;
  const index = m.index[head]!;
  const nr = m.folioNrPages(head);
  // Checked here too, so that a small folio's walk makes no visitor.
  const huge = hugeMappable(k, nr);
  if (huge) {
    walkHugeEntries(k, vmas, index, nr, (vma, haddr, pmd) => {
      if (!ptePresent(pmd) || ptePfn(pmd) !== head) return;
      setPmdMigrationEntry(k, vma, haddr, pmd);
      munlockVmaFolio(k, vma, head);
    });
  }
  const deferFlush = (flags & TTU_BATCH_FLUSH) !== 0 && batch !== null;
  const order = m.folioOrder(head);
  for (const vma of vmas) {
    if (huge && hugeEntryCovers(k, vma, index, nr)) continue;
    const first = Math.max(index, vma.pgoff);
    const last = Math.min(index + nr, vma.pgoff + vma.nrPages);
    const ptes = vma.ptes;
    let unmapped = 0;
    for (let pgoff = first; pgoff < last; pgoff++) {
      const slot = pgoff - vma.pgoff;
      const page = head + pgoff - index;
      const pte = ptes[slot]!;
      if (!ptePresent(pte) || ptePfn(pte) !== page) continue;
      ptes[slot] = mkMigrationEntry(page, pteWrite(pte), pteYoung(pte), pteDirty(pte));
      if (pteDirty(pte)) folioMarkDirty(k, head);
      m.mapcount[page]!--;
      m.folioSubLargeMapcount(head, 1, vma.mm.id);
      partial ||= partiallyMappedAfterPte(k, head, page);
      munlockVmaFolio(k, vma, head);
      unmapped++;
      if (!deferFlush) vma.mm.tlb.flushPage(vma.start / k.mem.pageSize + slot);
      if (k.trace.enabled) {
        const address = vma.start + slot * k.mem.pageSize;
        k.trace.emit({ event: "set_migration_pte", address, pfn: page, order });
      }
    }
    m.refcount[head]! -= unmapped;
    if (unmapped > 0 && deferFlush) batch.add(vma.mm.tlb);
  }
  return partial;
};

/** `TTU_HWPOISON`: leave a hwpoison entry where a poisoned page was mapped. */
export const TTU_HWPOISON = 1 << 1;

/**
 * `try_to_unmap()` (`mm/rmap.c`, `try_to_unmap_one()`): removes every present mapping of the
 * folio, moving the PTE dirty bits to the folio and dropping the mapcount and reference each
 * mapping held, with a TLB flush per entry. With {@link TTU_HWPOISON} a poisoned page's entry
 * becomes a hwpoison entry (for hugetlb, the one huge entry that maps the whole folio), so
 * that a later access gets `SIGBUS`; every other entry is cleared, and a later access faults the
 * page in again. Returns true when the walk left an anonymous large folio partially mapped on the
 * way, as {@link tryToMigrate} does, for the caller to queue it for deferred split.
 *
 * An anonymous folio that is not swap-backed (lazyfree: in the model, a `VM_DROPPABLE` VMA's,
 * {@link Vma.droppable}) is discarded, dirty or not, as Linux 6.16's "MADV_FREE page check" does
 * for a droppable VMA: its entries are cleared, a huge PMD whole
 * (`__discard_anon_folio_pmd_locked()`), so the next touch faults in a zeroed page. When anything
 * but its mappings and the caller's isolation holds a reference (`ref_count != 1 + map_count`:
 * a pin, a migration) it is left mapped.
 */
export const tryToUnmap = (k: Kernel, head: number, flags: number): boolean => {
  const m = k.memmap;
  let partial = false;
  const hugetlb = m.test(head, PG_hugetlb);
  const poisonedFolio = hugetlb && m.test(head, PG_has_hwpoisoned);
  const lazyfree =
    !hugetlb && m.mapping[head]! < 0 && !m.test(head, PG_swapbacked) && !(flags & TTU_HWPOISON);
  if (lazyfree && m.refcount[head] !== 1 + m.folioMapcount(head)) return false;
  // A hugetlb page's one huge entry (huge_ptep_clear_flush()): a hwpoison entry for the whole page.
  rmapWalkPmds(k, m.mapping[head]!, m.index[head]!, m.folioNrPages(head), (vma, haddr, pmd) => {
    if (lazyfree && ptePresent(pmd) && ptePfn(pmd) === head) {
      // unmap_huge_pmd_locked() → __discard_anon_folio_pmd_locked(): the PMD goes whole.
      vma.pmds.delete(haddr);
      if (pteDirty(pmd)) folioMarkDirty(k, head);
      m.entireMapcount[head]!--;
      m.folioSubLargeMapcount(head, 1, vma.mm.id);
      m.refcount[head]!--;
      vma.mm.tlb.flushRange(haddr / k.mem.pageSize, m.folioNrPages(head));
      return;
    }
    if (!hugetlb || !ptePresent(pmd) || ptePfn(pmd) !== head) return;
    const map = hugeMap(k, vma, m.folioNrPages(head))!;
    if (flags & TTU_HWPOISON && poisonedFolio) map.set(haddr, mkHwpoisonEntry(head));
    else map.delete(haddr);
    if (pteDirty(pmd)) folioMarkDirty(k, head);
    m.entireMapcount[head]!--;
    m.largeMapcount[head]!--;
    m.refcount[head]!--;
    vma.mm.tlb.flushRange(haddr / k.mem.pageSize, m.folioNrPages(head));
  });
  let unmapped = 0;
  rmapWalkSlots(k, m.mapping[head]!, m.index[head]!, m.folioNrPages(head), (vma, slot, i) => {
    const pte = vma.ptes[slot]!;
    const page = head + i;
    if (!ptePresent(pte) || ptePfn(pte) !== page) return;
    const poisoned = poisonedFolio || m.test(page, PG_hwpoison);
    vma.ptes[slot] = flags & TTU_HWPOISON && poisoned ? mkHwpoisonEntry(page) : 0;
    if (pteDirty(pte)) folioMarkDirty(k, head);
    m.mapcount[page]!--;
    m.folioSubLargeMapcount(head, 1, vma.mm.id);
    partial ||= partiallyMappedAfterPte(k, head, page);
    munlockVmaFolio(k, vma, head);
    unmapped++;
    vma.mm.tlb.flushPage(vma.start / k.mem.pageSize + slot);
  });
  m.refcount[head]! -= unmapped;
  return partial;
};

/**
 * `folio_mkclean()` (`mm/rmap.c`): write-protects and cleans every PTE mapping the folio; true when
 * one of them was dirty.
 */
export const folioMkclean = (k: Kernel, head: number): boolean => {
  const m = k.memmap;
  let dirty = false;
  rmapWalkSlots(k, m.mapping[head]!, m.index[head]!, m.folioNrPages(head), (vma, slot, i) => {
    const pte = vma.ptes[slot]!;
    if (!ptePresent(pte) || ptePfn(pte) !== head + i) return;
    if (!pteDirty(pte) && !pteWrite(pte)) return;
    dirty ||= pteDirty(pte);
    vma.ptes[slot] = pte & ~(PTE_DIRTY | PTE_WRITE);
    vma.mm.tlb.flushPage(vma.start / k.mem.pageSize + slot);
  });
  return dirty;
};

/**
 * The `VM_LOCKED` step of `folio_referenced_one()` (`mm/rmap.c`, Linux 6.16): whether a
 * `VM_LOCKED` VMA maps the folio so that its missed mlock is restored there: a small folio, one
 * mapped by a huge PMD (or, hugetlb, a huge PUD), or a large folio whose every page the VMA maps by
 * a PTE, in one page table (one PMD range). A walk of the folio's VMAs that allocates nothing, as
 * the kernel's rmap walk meets `VM_LOCKED` VMA by VMA; a large folio that does not lie whole in a
 * VMA (`folio_within_vma()`) is neither PMD-mapped nor wholly PTE-mapped there.
 */
const folioMappedLocked = (k: Kernel, head: number): boolean => {
  const m = k.memmap;
  const vmas = rmapVmas(k, m.mapping[head]!);
  if (!vmas) return false;
  const index = m.index[head]!;
  const nr = m.folioNrPages(head);
  const pageSize = k.mem.pageSize;
  const pmdSize = pageSize * (1 << k.pmdOrder);
  for (const vma of vmas) {
    if (!(vma.flags & VM_LOCKED)) continue;
    if (index < vma.pgoff || index + nr > vma.pgoff + vma.nrPages) continue;
    const slot = index - vma.pgoff;
    const start = vma.start + slot * pageSize;
    const huge = hugeMap(k, vma, nr);
    const pmd = huge !== null && huge.size > 0 ? huge.get(start) : undefined;
    if (pmd !== undefined && ptePresent(pmd) && ptePfn(pmd) === head) return true;
    if (Math.floor(start / pmdSize) !== Math.floor((start + nr * pageSize - 1) / pmdSize)) continue;
    let i = 0;
    while (i < nr && ptePresent(vma.ptes[slot + i]!) && ptePfn(vma.ptes[slot + i]!) === head + i)
      i++;
    if (i === nr) return true;
  }
  return false;
};

/**
 * `folio_referenced()` (`mm/rmap.c`, `folio_referenced_one()`, Linux 6.16): how many of the
 * folio's mappings, huge PMDs and PTEs, have the accessed (young) bit set. It clears each bit it
 * finds and flushes that translation (`ptep_clear_flush_young()`, `pmdp_clear_flush_young()`), so
 * a later access sets it again. Reclaim's aging calls it to tell used folios from idle ones. A
 * folio that a `VM_LOCKED` VMA maps as `folio_referenced_one()` requires (a small folio, a huge
 * PMD, or a large folio whole in the VMA and in one page table) has its missed mlock restored
 * (`mlock_vma_folio()`, moving it to the unevictable list) and the walk stops there with 0, before
 * any bit is cleared; reclaim then keeps the folio (`FOLIOREF_ACTIVATE`).
 *
 * @category Reclaim
 */
export const folioReferenced = (k: Kernel, head: number): number => {
  const m = k.memmap;
  if (folioMappedLocked(k, head)) {
    mlockFolio(k, head);
    return 0;
  }
  const mapping = m.mapping[head]!;
  const index = m.index[head]!;
  const nr = m.folioNrPages(head);
  let referenced = 0;
  rmapWalkPmds(k, mapping, index, nr, (vma, haddr, pmd) => {
    if (!ptePresent(pmd) || ptePfn(pmd) !== head || !pteYoung(pmd)) return;
    hugeMap(k, vma, nr)!.set(haddr, (pmd & ~PTE_YOUNG) >>> 0);
    vma.mm.tlb.flushRange(haddr / k.mem.pageSize, nr);
    referenced++;
  });
  rmapWalkSlots(k, mapping, index, nr, (vma, slot, i) => {
    const pte = vma.ptes[slot]!;
    if (!ptePresent(pte) || ptePfn(pte) !== head + i || !pteYoung(pte)) return;
    vma.ptes[slot] = pte & ~PTE_YOUNG;
    vma.mm.tlb.flushPage(vma.start / k.mem.pageSize + slot);
    referenced++;
  });
  return referenced;
};

/**
 * `remove_migration_ptes()`: every migration entry that names a page of `src` becomes a present
 * PTE for the same page of `dst`, with the write permission and the young and dirty bits the entry
 * kept (a dirty bit only while `dst` is dirty); a PMD migration entry
 * that names `src` becomes a huge PMD mapping `dst` (`remove_migration_pmd()`). `dst` takes the
 * mapcounts and references. `src === dst` undoes a migration. The walk uses `dst`'s mapping and
 * index, which the move copied from `src`, as the kernel walks the new folio. Returns the number
 * of entries restored, a PMD counting one.
 */
export const removeMigrationPtes = (k: Kernel, src: number, dst: number): number => {
  const m = k.memmap;
  const vmas = rmapVmas(k, m.mapping[dst]!);
  if (!vmas) return 0;
  const index = m.index[dst]!;
  const nr = m.folioNrPages(dst);
  let restoredPmds = 0;
  const huge = hugeMappable(k, nr);
  if (huge) {
    walkHugeEntries(k, vmas, index, nr, (vma, haddr, entry) => {
      if (!isMigrationEntry(entry) || ptePfn(entry) !== src) return;
      removeMigrationPmd(k, vma, haddr, entry, dst);
      restoredPmds++;
    });
  }
  let restored = 0;
  for (const vma of vmas) {
    if (huge && hugeEntryCovers(k, vma, index, nr)) continue;
    const first = Math.max(index, vma.pgoff);
    const last = Math.min(index + nr, vma.pgoff + vma.nrPages);
    const ptes = vma.ptes;
    for (let pgoff = first; pgoff < last; pgoff++) {
      const slot = pgoff - vma.pgoff;
      const pte = ptes[slot]!;
      if (!isMigrationEntry(pte) || ptePfn(pte) !== src + pgoff - index) continue;
      ptes[slot] = mkPte(dst + pgoff - index, restoredBits(k, pte, dst));
      m.mapcount[dst + pgoff - index]!++;
      m.folioAddLargeMapcount(dst, 1, vma.mm.id);
      mlockVmaFolio(k, vma, dst);
      restored++;
      if (k.trace.enabled) {
        k.trace.emit({
          event: "remove_migration_pte",
          address: vma.start + slot * k.mem.pageSize,
          pfn: dst + pgoff - index,
          order: m.folioOrder(dst),
        });
      }
    }
  }
  m.refcount[dst]! += restored;
  return restored + restoredPmds;
};
