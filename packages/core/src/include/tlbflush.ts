/**
 * Translation lookaside buffers and batched flushing.
 *
 * Each address space has a small TLB that caches PTEs as they were when an access walked them.
 * Changing a PTE does not change the cached copy: until the entry is flushed, accesses still
 * reach the old page, as on hardware. Unmapping for migration may defer the flush
 * (`TTU_BATCH_FLUSH`): the address spaces are collected in a {@link TlbFlushBatch} and flushed
 * once, by `try_to_unmap_flush()`, before any page is copied. Models `arch_tlbbatch_*` and
 * `struct tlbflush_unmap_batch` (`include/linux/mm_types_task.h`, used by `mm/rmap.c`).
 *
 * @module
 */

/**
 * How many translations one TLB holds; the oldest is evicted first. A property of the model's
 * hardware, with no kernel symbol (the kernel flushes the TLB through
 * `arch/x86/include/asm/tlbflush.h` but never sizes it).
 *
 * @category Page tables
 */
export const TLB_ENTRIES = 64;

/**
 * One address space's TLB: virtual page number to cached PTE. The hardware the flush calls of
 * (`arch/x86/include/asm/tlbflush.h`) act on; no kernel structure models it.
 *
 * @category Page tables
 */
export class Tlb {
  private readonly entries = new Map<number, number>();
  /** Full flushes so far, for tests and statistics. */
  flushes = 0;

  /** The cached PTE for a virtual page, or undefined (a TLB miss). */
  lookup(vpn: number): number | undefined {
    return this.entries.get(vpn);
  }

  /** Caches a PTE after a page walk. */
  fill(vpn: number, pte: number): void {
    if (this.entries.size >= TLB_ENTRIES && !this.entries.has(vpn)) {
      this.entries.delete(this.entries.keys().next().value!);
    }
    this.entries.set(vpn, pte);
  }

  /** `flush_tlb_page()` (`arch/x86/include/asm/tlbflush.h`): drops one page's translation. */
  flushPage(vpn: number): void {
    this.entries.delete(vpn);
  }

  /**
   * `flush_tlb_range()` (`arch/x86/include/asm/tlbflush.h`), as `flush_pmd_tlb_range()` uses it
   * for a huge PMD: drops the translations of `nr` pages from `vpn`.
   */
  flushRange(vpn: number, nr: number): void {
    if (this.entries.size === 0) return;
    if (nr <= this.entries.size) {
      for (let i = 0; i < nr; i++) this.entries.delete(vpn + i);
      return;
    }
    // A range wider than what the TLB holds (a PMD's 512 pages against at most TLB_ENTRIES): look
    // at each cached translation instead of each page of the range. Deleting the entry just
    // visited is safe in a Map's iteration.
    for (const cached of this.entries.keys()) {
      if (cached >= vpn && cached < vpn + nr) this.entries.delete(cached);
    }
  }

  /**
   * `flush_tlb_mm()` (`arch/x86/include/asm/tlbflush.h`): drops every translation of the address
   * space.
   */
  flushAll(): void {
    this.entries.clear();
    this.flushes++;
  }

  /** Cached translations, for tests. */
  get size(): number {
    return this.entries.size;
  }
}

/**
 * Deferred flushes collected while unmapping a batch. Models `struct tlbflush_unmap_batch`
 * (`include/linux/mm_types_task.h`): {@link add} is `set_tlb_ubc_flush_pending()`, {@link flush}
 * is `try_to_unmap_flush()` (both `mm/rmap.c`).
 *
 * @category Page tables
 */
export class TlbFlushBatch {
  private readonly pending = new Set<Tlb>();

  /**
   * Records that `tlb` holds stale entries that must be flushed before the pages change
   * (`set_tlb_ubc_flush_pending()`, `mm/rmap.c`).
   */
  add(tlb: Tlb): void {
    this.pending.add(tlb);
  }

  /** True when some TLB still holds stale entries. */
  get flushRequired(): boolean {
    return this.pending.size > 0;
  }

  /** Flushes every pending TLB at once (`try_to_unmap_flush()`, `mm/rmap.c`). */
  flush(): void {
    for (const tlb of this.pending) tlb.flushAll();
    this.pending.clear();
  }
}
