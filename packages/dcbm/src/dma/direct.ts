/**
 * The direct mapping: DMA without an IOMMU.
 *
 * Models `kernel/dma/direct.c` and `include/linux/dma-direct.h` for a device no IOMMU translates
 * for (none is present, or it is in an identity domain, `iommu=pt`): a bus address is the
 * physical address (`phys_to_dma()`; no DMA offset, no memory encryption, no bounce buffering
 * here), and mapping a scatter-gather table gives every entry its own DMA segment, whatever its
 * length and whatever its neighbours: `dma_direct_map_sg()` neither merges nor splits, so
 * `nents` equals `orig_nents`. The device then reaches all of memory.
 *
 * @module
 */
import type { DmaMappingDevice } from "./dma_mapping_h";
import type { SgTable } from "./scatterlist";

/**
 * `phys_to_dma()` (`include/linux/dma-direct.h`): the bus address of a physical byte address, the
 * same number here.
 *
 * @category DMA mapping
 */
export const physToDma = (phys: number): number => phys;

/**
 * `dma_to_phys()` (`include/linux/dma-direct.h`): the physical byte address a device reaches at a
 * bus address, the same number here.
 *
 * @category DMA mapping
 */
export const dmaToPhys = (addr: number): number => addr;

/**
 * `dma_direct_map_sg()` (`kernel/dma/direct.c`): one DMA segment per entry, at its physical
 * address and of its length. Returns the number of segments, `orig_nents`.
 *
 * @category DMA mapping
 */
export const dmaDirectMapSg = (dev: DmaMappingDevice, sgt: SgTable): number => {
  for (let i = 0; i < sgt.origNents; i++) {
    sgt.dmaAddress[i] = physToDma(sgt.pfn[i]! * dev.pageSize + sgt.offset[i]!);
    sgt.dmaLength[i] = sgt.length[i]!;
  }
  return sgt.origNents;
};
