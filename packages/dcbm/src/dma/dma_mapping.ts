/**
 * The DMA mapping API for scatter-gather tables.
 *
 * Models `dma_map_sgtable()` / `dma_unmap_sgtable()` of `kernel/dma/mapping.c` for a device behind
 * an IOMMU: mapping gives every CPU segment a bus address the device can use, and may merge
 * physically contiguous neighbours into one DMA segment (see {@link IommuDomain}).
 *
 * @module
 */
import { ERRNO } from "@migrate-offload/core";
import type { DmaDataDirection, IommuDomain } from "./iommu";
import type { SgTable } from "./scatterlist";

/**
 * What the mapping API of `kernel/dma/mapping.c` needs of a `struct device`: its IOMMU domain and
 * the base page size.
 *
 * @category DMA mapping
 */
export interface DmaMappingDevice {
  /** The IOMMU domain the device sits behind. */
  readonly iommu: IommuDomain;
  /** The kernel's base page size. */
  readonly pageSize: number;
}

/**
 * `dma_map_sgtable()`: maps the table for `dev` in `direction`. Returns 0, `-EINVAL` when the
 * table is already mapped or a segment is empty or longer than the device's maximum segment
 * size, or `-ENOMEM` when the IOVA space is full. On failure nothing stays mapped.
 *
 * Models `dma_map_sgtable()` (`kernel/dma/mapping.c`).
 *
 * @category DMA mapping
 */
export const dmaMapSgtable = (
  dev: DmaMappingDevice,
  sgt: SgTable,
  direction: DmaDataDirection,
): number => {
  const iommu = dev.iommu;
  if (sgt.mapping) return -ERRNO.EINVAL;
  const n = sgt.origNents;
  const phys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const length = sgt.length[i]!;
    if (!(length > 0) || length > iommu.maxSegmentSize) return -ERRNO.EINVAL;
    phys[i] = sgt.pfn[i]! * dev.pageSize + sgt.offset[i]!;
  }
  const mapping = iommu.map(phys, sgt.length, n, direction);
  if (!mapping) return -ERRNO.ENOMEM;
  // DMA segments: the IOVA layout is contiguous; neighbours merge when physically contiguous too.
  let nents = 0;
  let iova = mapping.iova;
  for (let i = 0; i < n; i++) {
    const length = sgt.length[i]!;
    const last = nents - 1;
    if (
      iommu.merge &&
      nents > 0 &&
      phys[i - 1]! + sgt.length[i - 1]! === phys[i]! &&
      sgt.dmaLength[last]! + length <= iommu.maxSegmentSize
    ) {
      sgt.dmaLength[last] = sgt.dmaLength[last]! + length;
      iommu.merged++;
    } else {
      sgt.dmaAddress[nents] = iova;
      sgt.dmaLength[nents] = length;
      nents++;
    }
    iova += length;
  }
  sgt.nents = nents;
  sgt.mapping = mapping;
  return 0;
};

/**
 * `dma_unmap_sgtable()` (`kernel/dma/mapping.c`): the device loses access to the table's memory.
 *
 * @category DMA mapping
 */
export const dmaUnmapSgtable = (dev: DmaMappingDevice, sgt: SgTable): void => {
  if (!sgt.mapping) return;
  dev.iommu.unmap(sgt.mapping);
  sgt.mapping = null;
  sgt.nents = 0;
};
