/**
 * Mlocked folios.
 *
 * Models the folio side of `mm/mlock.c` (Linux 6.16): `mlock_folio()` and `munlock_folio()`, which
 * set or clear `PG_mlocked` and move a folio on the LRU between its evictable list and the
 * unevictable one (`__mlock_folio()`, `__munlock_folio()`); `mlock_vma_folio()`
 * (`mm/internal.h`), which the reverse map calls when it maps a folio into a `VM_LOCKED` VMA; and
 * `mlock_vma_pages_range()` / `mlock_pte_range()`, which `mlock()` and `munlock()` run over the
 * pages a VMA already maps. The system calls themselves (`apply_vma_lock_flags()`, `do_mlock()`)
 * are `applyVmaLockFlags()` in `mm/mmap.ts`, beside the other walks that change VMAs.
 *
 * The model keeps no `mlock_count`: a folio is mlocked or not, and `munlock()` of any VMA that
 * maps it makes it evictable again.
 *
 * @module
 */
import type { Kernel } from "../include/kernel";
import { VM_LOCKED, type Vma } from "../include/mm_types";
import { PG_active, PG_lru, PG_mlocked } from "../include/page_flags";
import { ptePfn, ptePresent, pteSpecial } from "../include/pgtable";

/** Moves a folio on the LRU to the list its flags now name (`lruvec_del_folio()` + `lruvec_add_folio()`). */
const relru = (k: Kernel, head: number): void => {
  if (!k.memmap.test(head, PG_lru)) return;
  k.memmap.lru.del(head);
  k.lru.add(head);
};

/**
 * `mlock_folio()` and `__mlock_folio()` (`mm/mlock.c`, Linux 6.16): marks the folio `PG_mlocked`
 * and, when it is on an evictable LRU list, moves it to the unevictable one, no longer active. A
 * folio off the LRU (isolated) goes to the unevictable list when it is put back.
 */
export const mlockFolio = (k: Kernel, head: number): void => {
  const m = k.memmap;
  if (m.test(head, PG_mlocked)) return;
  m.set(head, PG_mlocked);
  if (m.test(head, PG_lru)) m.clear(head, PG_active);
  relru(k, head);
};

/**
 * `munlock_folio()` and `__munlock_folio()` (`mm/mlock.c`, Linux 6.16): clears `PG_mlocked` and
 * moves a folio on the unevictable list back to its evictable list (inactive).
 */
export const munlockFolio = (k: Kernel, head: number): void => {
  if (!k.memmap.testAndClear(head, PG_mlocked)) return;
  relru(k, head);
};

/**
 * `mlock_vma_folio()` (`mm/internal.h`, Linux 6.16) as `__folio_add_anon_rmap()` and
 * `__folio_add_file_rmap()` (`mm/rmap.c`) call it after mapping a folio into `vma`: mlocks a
 * small folio mapped into a `VM_LOCKED` VMA ({@link mlockFolio}). A large folio is left alone
 * there, since the rmap cannot tell whether the VMA maps it whole; `mlock()` and reclaim deal with
 * it.
 */
export const mlockVmaFolio = (k: Kernel, vma: Vma, head: number): void => {
  if (vma.flags & VM_LOCKED && k.memmap.folioOrder(head) === 0) mlockFolio(k, head);
};

/**
 * `mlock_vma_pages_range()` and `mlock_pte_range()` (`mm/mlock.c`, Linux 6.16): after
 * `mlock_fixup()` set or cleared `VM_LOCKED` on `vma`, mlocks ({@link mlockFolio}) or munlocks
 * ({@link munlockFolio}) every folio it maps in `[start, end)` (bytes): a folio mapped by a huge
 * PMD (not the huge zero folio); a small folio by its PTE; a large folio mapped by PTEs, when
 * mlocking, only where all its pages lie in `[start, end)` and are mapped there in order
 * (`allow_mlock_munlock()`, `folio_within_range()`), and when munlocking wherever a page of it is
 * mapped. The zero page is skipped. A hugetlb VMA never gets here (`mlock_fixup()` leaves it).
 */
export const mlockVmaPagesRange = (k: Kernel, vma: Vma, start: number, end: number): void => {
  const m = k.memmap;
  const lock = (vma.flags & VM_LOCKED) !== 0;
  const apply = (head: number) => (lock ? mlockFolio(k, head) : munlockFolio(k, head));
  const pageSize = k.mem.pageSize;
  const pmdSize = pageSize * 2 ** k.pmdOrder;
  for (const [haddr, pmd] of vma.pmds) {
    if (haddr < end && haddr + pmdSize > start && ptePresent(pmd) && !pteSpecial(pmd))
      apply(ptePfn(pmd));
  }
  const first = (start - vma.start) / pageSize;
  const last = (end - vma.start) / pageSize;
  for (let slot = first; slot < last; slot++) {
    const pte = vma.ptes[slot]!;
    if (!ptePresent(pte) || pteSpecial(pte)) continue;
    const page = ptePfn(pte);
    const head = m.folioOf(page);
    const nr = m.folioNrPages(head);
    if (nr === 1 || !lock) {
      apply(head);
      continue;
    }
    // A large folio to mlock: once, at its first page, if every page of it is mapped here in order.
    if (page !== head || slot + nr > last) continue;
    let whole = true;
    for (let i = 1; i < nr && whole; i++) {
      const next = vma.ptes[slot + i]!;
      whole = ptePresent(next) && ptePfn(next) === head + i;
    }
    if (whole) apply(head);
  }
};
