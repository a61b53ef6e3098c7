/**
 * The folio handle.
 *
 * Models `struct folio` (`include/linux/mm_types.h`) and its accessors in `include/linux/mm.h`
 * and `page-flags.h`. A {@link Folio} is a light handle, a machine's memory and a head PFN: making one costs
 * nothing per page, and all state lives in the kernel's {@link MemMap}. The kernel's own loops
 * work on bare head PFNs; handles are for users and tests.
 *
 * @module
 */

import type { MemMap } from "./mem_map";
import type { MemoryRegion, PhysicalMemory } from "./mmzone";
import {
  FOLIO_CONTENT_COPIED,
  formatPageFlags,
  PG_dirty,
  PG_head,
  PG_hugetlb,
  PG_hwpoison,
  PG_locked,
  PG_lru,
  PG_mlocked,
  PG_movable_ops,
  PG_uptodate,
  PG_writeback,
} from "./page_flags";

/**
 * A folio: a power-of-two run of pages with one head. Models `struct folio`
 * (`include/linux/mm_types.h`) and its accessors (`include/linux/mm.h`,
 * `include/linux/page-flags.h`).
 *
 * @category Memory and folios
 */
export class Folio {
  constructor(
    /** The machine whose memory holds it: a kernel, or anything with its memory and `mem_map`. */
    readonly kernel: { readonly mem: PhysicalMemory; readonly memmap: MemMap },
    /** The head PFN (`folio_pfn()`, `include/linux/mm.h`). */
    readonly pfn: number,
  ) {}

  /** The node the folio lives on (`folio_nid()`, `include/linux/mm.h`). */
  get nid(): number {
    return this.kernel.mem.pfnToNid(this.pfn);
  }
  /** `folio_order()` (`include/linux/mm.h`). */
  get order(): number {
    return this.kernel.memmap.folioOrder(this.pfn);
  }
  /** `folio_nr_pages()` (`include/linux/mm.h`). */
  get nrPages(): number {
    return this.kernel.memmap.folioNrPages(this.pfn);
  }
  /** `folio_size()` (`include/linux/mm.h`) in bytes. */
  get size(): number {
    return this.nrPages * this.kernel.mem.pageSize;
  }
  /** `folio_ref_count()` (`include/linux/page_ref.h`). */
  get refcount(): number {
    return this.kernel.memmap.refcount[this.pfn]!;
  }
  /**
   * `folio_mapcount()` (`include/linux/mm.h`): page-table entries mapping any of its pages, a
   * huge PMD counting one.
   */
  get mapcount(): number {
    return this.kernel.memmap.folioMapcount(this.pfn);
  }
  /**
   * `folio_entire_mapcount()` (`include/linux/mm.h`): the huge PMDs that map the whole folio.
   */
  get entireMapcount(): number {
    return this.kernel.memmap.folioEntireMapcount(this.pfn);
  }
  /** The raw flags word (`folio->flags`, `include/linux/mm_types.h`). */
  get flags(): number {
    return this.kernel.memmap.flags[this.pfn]!;
  }
  /** `folio_test_anon()` (`include/linux/page-flags.h`): the mapping names an anon_vma. */
  get anon(): boolean {
    return this.kernel.memmap.mapping[this.pfn]! < 0;
  }
  /** `folio_test_large()` (`include/linux/page-flags.h`). */
  get large(): boolean {
    return this.test(PG_head);
  }
  /** `folio_test_locked()` (`include/linux/page-flags.h`). */
  get locked(): boolean {
    return this.test(PG_locked);
  }
  /** `folio_test_dirty()` (`include/linux/page-flags.h`). */
  get dirty(): boolean {
    return this.test(PG_dirty);
  }
  /** `folio_test_writeback()` (`include/linux/page-flags.h`). */
  get writeback(): boolean {
    return this.test(PG_writeback);
  }
  /** `folio_test_uptodate()` (`include/linux/page-flags.h`). */
  get uptodate(): boolean {
    return this.test(PG_uptodate);
  }
  /** `folio_test_lru()` (`include/linux/page-flags.h`). */
  get lru(): boolean {
    return this.test(PG_lru);
  }
  /** `folio_test_mlocked()` (`include/linux/page-flags.h`). */
  get mlocked(): boolean {
    return this.test(PG_mlocked);
  }
  /** `folio_test_hugetlb()` (`include/linux/page-flags.h`). */
  get hugetlb(): boolean {
    return this.test(PG_hugetlb);
  }
  /**
   * `folio_test_movable_ops()` (`include/linux/page-flags.h`; `__folio_test_movable` in older
   * kernels).
   */
  get movableOps(): boolean {
    return this.test(PG_movable_ops);
  }
  /**
   * The offload marker `FOLIO_CONTENT_COPIED` (the v6 series,
   * `include/linux/migrate_copy_offload.h`).
   */
  get contentCopied(): boolean {
    return this.test(FOLIO_CONTENT_COPIED);
  }
  /**
   * True when any page of the folio is hwpoisoned (`PageHWPoison()`, `include/linux/page-flags.h`).
   */
  get hwpoisoned(): boolean {
    const { memmap } = this.kernel;
    for (let i = 0; i < this.nrPages; i++) if (memmap.test(this.pfn + i, PG_hwpoison)) return true;
    return false;
  }

  /** Tests flag bits on the head (`folio_test_*()`, `include/linux/page-flags.h`). */
  test(flag: number): boolean {
    return this.kernel.memmap.test(this.pfn, flag);
  }
  /** Sets flag bits on the head (`folio_set_*()`, `include/linux/page-flags.h`). */
  set(flag: number): void {
    this.kernel.memmap.set(this.pfn, flag);
  }
  /** Clears flag bits on the head (`folio_clear_*()`, `include/linux/page-flags.h`). */
  clear(flag: number): void {
    this.kernel.memmap.clear(this.pfn, flag);
  }

  /**
   * The folio's bytes as a zero-copy view (`folio_address()` + `folio_size()`,
   * `include/linux/mm.h`).
   */
  bytes(): Uint8Array {
    return this.kernel.mem.bytes(this.pfn, this.nrPages);
  }
  /** The folio's bytes as a buffer and offsets, for a worker thread. */
  region(): MemoryRegion {
    return this.kernel.mem.region(this.pfn, this.nrPages);
  }

  /** A one-line description, as `dump_page()` (`mm/debug.c`) starts. */
  toString(): string {
    return `folio pfn:${this.pfn} nid:${this.nid} order:${this.order} refcount:${this.refcount} mapcount:${this.mapcount} flags:${formatPageFlags(this.flags)}`;
  }
}
