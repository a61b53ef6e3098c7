/**
 * Scatter-gather tables.
 *
 * Models `struct sg_table` and `struct scatterlist` of `include/linux/scatterlist.h` and
 * `lib/scatterlist.c`. A table holds `origNents` CPU segments (a folio, a length and an offset
 * each, set with {@link sgSetFolio}); once mapped for a device it also holds `nents` DMA segments
 * (a bus address and a length each). Behind an IOMMU, `nents` may be smaller than `origNents`:
 * `iommu_dma_map_sg()` concatenates neighbouring entries into one DMA segment. The segments live
 * in typed arrays, so a table of thousands of folios is a handful of allocations.
 *
 * @module
 */
import { type ErrnoError, errno } from "@migrate-offload/core";

/**
 * The most segments one table may hold here: a bound in the manner of `SG_MAX_SINGLE_ALLOC`
 * (`include/linux/scatterlist.h`).
 *
 * @category Scatterlist
 */
export const SG_MAX_ENTRIES = 1 << 22;

/**
 * A scatter-gather table. Models `struct sg_table` and its `struct scatterlist` entries
 * (`include/linux/scatterlist.h`).
 *
 * @category Scatterlist
 */
export class SgTable {
  /** `sg_page()` of each CPU segment: the PFN of the folio it starts in. */
  readonly pfn: Float64Array;
  /** `sg->offset`: the byte offset into that folio. */
  readonly offset: Float64Array;
  /** `sg->length`: bytes in the segment. */
  readonly length: Float64Array;
  /** `sg_dma_address()` of each DMA segment, valid for `[0, nents)` while mapped. */
  readonly dmaAddress: Float64Array;
  /** `sg_dma_len()` of each DMA segment. */
  readonly dmaLength: Float64Array;
  /** `nents`: DMA segments after mapping; 0 while unmapped. */
  nents = 0;

  constructor(
    /** `orig_nents`: the CPU segments. */
    readonly origNents: number,
  ) {
    this.pfn = new Float64Array(origNents);
    this.offset = new Float64Array(origNents);
    this.length = new Float64Array(origNents);
    this.dmaAddress = new Float64Array(origNents);
    this.dmaLength = new Float64Array(origNents);
  }
}

/**
 * `sg_alloc_table()` (`lib/scatterlist.c`): a table of `nents` segments; `EINVAL` for none or too
 * many.
 *
 * @category Scatterlist
 */
export const sgAllocTable = (nents: number): SgTable | ErrnoError => {
  if (!Number.isInteger(nents) || nents <= 0 || nents > SG_MAX_ENTRIES) {
    return errno("EINVAL", `sg_alloc_table: ${nents} entries (1..${SG_MAX_ENTRIES})`);
  }
  return new SgTable(nents);
};

/**
 * `sg_set_folio()` (`include/linux/scatterlist.h`): segment `index` covers `length` bytes of the
 * folio at `pfn`, from `offset`.
 *
 * @category Scatterlist
 */
export const sgSetFolio = (
  sgt: SgTable,
  index: number,
  pfn: number,
  length: number,
  offset = 0,
): void => {
  sgt.pfn[index] = pfn;
  sgt.length[index] = length;
  sgt.offset[index] = offset;
};

/**
 * `sg_free_table()` (`lib/scatterlist.c`): a mapped table must be unmapped first.
 *
 * @category Scatterlist
 */
export const sgFreeTable = (sgt: SgTable): void => {
  if (sgt.nents > 0) throw new Error("sg_free_table on a table that is still DMA-mapped");
  sgt.nents = 0;
};
