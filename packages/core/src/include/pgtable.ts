/**
 * Page-table entries.
 *
 * Models the PTE encoding of `include/linux/pgtable.h` and the migration swap entries of
 * `include/linux/swapops.h`. An entry is a 32-bit word: the PFN above seven flag bits. A present
 * entry maps a page; a migration entry is not present and names the page being migrated, with
 * the write permission it must get back (`make_writable_migration_entry`) and the young and dirty
 * bits the mapping had (`make_migration_entry_young()`, `make_migration_entry_dirty()`). A huge PMD
 * (`Vma.pmds`) uses the same encoding and names its folio's head: present, it maps the whole
 * PMD-size folio (`pmd_trans_huge()`); not present, it is a PMD migration entry
 * (`is_pmd_migration_entry()`).
 *
 * @module
 */

/**
 * `_PAGE_PRESENT` (`arch/x86/include/asm/pgtable_types.h`): the entry maps a page.
 *
 * @category Page tables
 */
export const PTE_PRESENT = 1 << 0;
/**
 * `_PAGE_RW` (`arch/x86/include/asm/pgtable_types.h`): writes are allowed (a migration entry keeps
 * it as "writable migration entry").
 *
 * @category Page tables
 */
export const PTE_WRITE = 1 << 1;
/**
 * A migration entry (`SWP_MIGRATION_READ` / `SWP_MIGRATION_WRITE`, `include/linux/swap.h`): not
 * present.
 *
 * @category Page tables
 */
export const PTE_MIGRATION = 1 << 2;
/**
 * `_PAGE_DIRTY` (`arch/x86/include/asm/pgtable_types.h`): the page was written through this entry.
 *
 * @category Page tables
 */
export const PTE_DIRTY = 1 << 3;
/**
 * `_PAGE_SPECIAL` (`arch/x86/include/asm/pgtable_types.h`): a page with no rmap and no refcount,
 * the shared zero page.
 *
 * @category Page tables
 */
export const PTE_SPECIAL = 1 << 4;
/**
 * `_PAGE_ACCESSED` (`arch/x86/include/asm/pgtable_types.h`), the young bit: the page was accessed
 * through this entry since the bit was last cleared. The model's loads and stores set it when they
 * walk the page table to fill the TLB, as the MMU does; reclaim's `folio_referenced()`
 * (`mm/rmap.c`) reads and clears it, flushing the TLB entry so that the next access sets it again.
 *
 * @category Page tables
 */
export const PTE_YOUNG = 1 << 5;
/**
 * `_PAGE_PROTNONE` (`arch/x86/include/asm/pgtable_types.h`): a NUMA hinting entry. The page stays
 * mapped (`pte_present()` is true) but any access faults (`pte_protnone()`), so that NUMA
 * balancing learns who uses it (`change_prot_numa()`, `do_numa_page()`).
 *
 * @category Page tables
 */
export const PTE_PROTNONE = 1 << 6;
/**
 * Bits below the PFN in the model's 32-bit entry, where x86's `pte_pfn()`
 * (`arch/x86/include/asm/pgtable.h`) shifts by `PAGE_SHIFT`.
 *
 * @category Page tables
 */
export const PTE_PFN_SHIFT = 7;
/**
 * The largest PFN the model's 32-bit entry can hold; x86 bounds it with `PTE_PFN_MASK`
 * (`arch/x86/include/asm/pgtable_types.h`).
 *
 * @category Page tables
 */
export const PTE_MAX_PFN = 2 ** (32 - PTE_PFN_SHIFT) - 1;

/**
 * `pfn_pte()` (`arch/x86/include/asm/pgtable.h`): a present entry for `pfn` with the given
 * permission bits.
 *
 * @category Page tables
 */
export const mkPte = (pfn: number, bits: number): number =>
  ((pfn << PTE_PFN_SHIFT) | bits | PTE_PRESENT) >>> 0;

/**
 * `make_{readable,writable}_migration_entry()` (`include/linux/swapops.h`): a migration entry for
 * `pfn`, made young and dirty (`make_migration_entry_young()`, `make_migration_entry_dirty()`)
 * when the mapping it replaces was, as x86 keeps them (`migration_entry_supports_ad()` is true).
 * The entry carries them in {@link PTE_YOUNG} and {@link PTE_DIRTY}; {@link pteYoung} and
 * {@link pteDirty} read them back (`is_migration_entry_young()`, `is_migration_entry_dirty()`).
 *
 * @category Page tables
 */
export const mkMigrationEntry = (
  pfn: number,
  writable: boolean,
  young: boolean,
  dirty: boolean,
): number =>
  ((pfn << PTE_PFN_SHIFT) |
    PTE_MIGRATION |
    (writable ? PTE_WRITE : 0) |
    (young ? PTE_YOUNG : 0) |
    (dirty ? PTE_DIRTY : 0)) >>>
  0;

/**
 * `pte_pfn()` (`arch/x86/include/asm/pgtable.h`) / `swp_offset_pfn()` (`include/linux/swapops.h`):
 * the PFN an entry names.
 *
 * @category Page tables
 */
export const ptePfn = (pte: number): number => pte >>> PTE_PFN_SHIFT;
/** `pte_none()` (`arch/x86/include/asm/pgtable.h`): the entry is empty. @category Page tables */
export const pteNone = (pte: number): boolean => pte === 0;
/**
 * `pte_present()` (`arch/x86/include/asm/pgtable.h`): the entry maps a page.
 *
 * @category Page tables
 */
export const ptePresent = (pte: number): boolean => (pte & PTE_PRESENT) !== 0;
/**
 * `make_hwpoison_entry()` (`include/linux/swapops.h`): the non-present entry that
 * `try_to_unmap(TTU_HWPOISON)` leaves where a poisoned page was mapped. A later access through it
 * gets `SIGBUS` with `BUS_MCEERR_AR` (`do_swap_page()` → `VM_FAULT_HWPOISON`, `mm/memory.c`).
 * Encoded as a non-present entry with the {@link PTE_SPECIAL} bit and the page's PFN.
 *
 * @category Page tables
 */
export const mkHwpoisonEntry = (pfn: number): number =>
  ((pfn << PTE_PFN_SHIFT) | PTE_SPECIAL) >>> 0;
/**
 * `is_hwpoison_entry()` (`include/linux/swapops.h`): the entry marks an unmapped poisoned page.
 *
 * @category Page tables
 */
export const isHwpoisonEntry = (pte: number): boolean =>
  (pte & (PTE_PRESENT | PTE_MIGRATION | PTE_SPECIAL)) === PTE_SPECIAL;
/**
 * `is_migration_entry()` (`include/linux/swapops.h`): the entry names a page under migration.
 *
 * @category Page tables
 */
export const isMigrationEntry = (pte: number): boolean => (pte & PTE_MIGRATION) !== 0;
/**
 * `pte_write()` (`arch/x86/include/asm/pgtable.h`) / `is_writable_migration_entry()`
 * (`include/linux/swapops.h`): writes are allowed.
 *
 * @category Page tables
 */
export const pteWrite = (pte: number): boolean => (pte & PTE_WRITE) !== 0;
/**
 * `pte_dirty()` (`arch/x86/include/asm/pgtable.h`) / `is_migration_entry_dirty()`
 * (`include/linux/swapops.h`): the page was written through the entry.
 *
 * @category Page tables
 */
export const pteDirty = (pte: number): boolean => (pte & PTE_DIRTY) !== 0;
/**
 * `pte_special()` (`arch/x86/include/asm/pgtable.h`): the entry maps a page with no `struct page`
 * bookkeeping.
 *
 * @category Page tables
 */
export const pteSpecial = (pte: number): boolean => (pte & PTE_SPECIAL) !== 0;

/**
 * `pte_young()` (`arch/x86/include/asm/pgtable.h`) / `is_migration_entry_young()`
 * (`include/linux/swapops.h`): the accessed bit is set.
 *
 * @category Page tables
 */
export const pteYoung = (pte: number): boolean => (pte & PTE_YOUNG) !== 0;

/**
 * `pte_protnone()` (`arch/x86/include/asm/pgtable.h`): a NUMA hinting entry, present but not
 * accessible.
 *
 * @category Page tables
 */
export const pteProtnone = (pte: number): boolean => (pte & PTE_PROTNONE) !== 0;
