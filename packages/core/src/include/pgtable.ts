/**
 * Page-table entries.
 *
 * Models the PTE encoding of `include/linux/pgtable.h` and the migration swap entries of
 * `include/linux/swapops.h`. An entry is a 32-bit word: the PFN above five flag bits. A present
 * entry maps a page; a migration entry is not present and names the page being migrated, with
 * the write permission it must get back (`make_writable_migration_entry`).
 *
 * @module
 */

/** `_PAGE_PRESENT`: the entry maps a page. */
export const PTE_PRESENT = 1 << 0;
/** `_PAGE_RW`: writes are allowed (a migration entry keeps it as "writable migration entry"). */
export const PTE_WRITE = 1 << 1;
/** A migration entry (`SWP_MIGRATION_READ` / `SWP_MIGRATION_WRITE`): not present. */
export const PTE_MIGRATION = 1 << 2;
/** `_PAGE_DIRTY`: the page was written through this entry. */
export const PTE_DIRTY = 1 << 3;
/** `_PAGE_SPECIAL`: a page with no rmap and no refcount, the shared zero page. */
export const PTE_SPECIAL = 1 << 4;
/** Bits below the PFN. */
export const PTE_PFN_SHIFT = 5;
/** The largest PFN an entry can hold. */
export const PTE_MAX_PFN = 2 ** (32 - PTE_PFN_SHIFT) - 1;

/** `pfn_pte()`: a present entry for `pfn` with the given permission bits. */
export const mkPte = (pfn: number, bits: number): number =>
  ((pfn << PTE_PFN_SHIFT) | bits | PTE_PRESENT) >>> 0;

/** `make_{readable,writable}_migration_entry()`: a migration entry for `pfn`. */
export const mkMigrationEntry = (pfn: number, writable: boolean, dirty: boolean): number =>
  ((pfn << PTE_PFN_SHIFT) |
    PTE_MIGRATION |
    (writable ? PTE_WRITE : 0) |
    (dirty ? PTE_DIRTY : 0)) >>>
  0;

/** `pte_pfn()` / `swp_offset_pfn()`: the PFN an entry names. */
export const ptePfn = (pte: number): number => pte >>> PTE_PFN_SHIFT;
/** `pte_none()`. */
export const pteNone = (pte: number): boolean => pte === 0;
/** `pte_present()`. */
export const ptePresent = (pte: number): boolean => (pte & PTE_PRESENT) !== 0;
/** `is_migration_entry()`. */
export const isMigrationEntry = (pte: number): boolean => (pte & PTE_MIGRATION) !== 0;
/** `pte_write()` / `is_writable_migration_entry()`. */
export const pteWrite = (pte: number): boolean => (pte & PTE_WRITE) !== 0;
/** `pte_dirty()`. */
export const pteDirty = (pte: number): boolean => (pte & PTE_DIRTY) !== 0;
/** `pte_special()`. */
export const pteSpecial = (pte: number): boolean => (pte & PTE_SPECIAL) !== 0;
