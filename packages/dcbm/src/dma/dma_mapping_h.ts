/**
 * What the DMA mapping API knows of a device: whether an IOMMU translates for it, and its
 * segment limits.
 *
 * Models the parts of `include/linux/dma-mapping.h` and `include/linux/device.h` that
 * `dma_map_sgtable()` reads: `struct device_dma_parameters` (`dev->dma_parms`), with
 * `dma_get_max_seg_size()` and `dma_get_seg_boundary()` and their defaults, and the choice
 * between the direct mapping (`kernel/dma/direct.c`) and the IOMMU (`drivers/iommu/dma-iommu.c`)
 * that `dma_map_direct()` (`kernel/dma/mapping.c`) makes.
 *
 * @module
 */
import type { IommuDomain } from "./iommu";

/**
 * `struct device_dma_parameters` (`include/linux/device.h`): the limits a device puts on one DMA
 * segment. `pci_device_add()` (`drivers/pci/probe.c`) gives every PCI device 65536 and
 * `0xffffffff`; a driver may change them with `dma_set_max_seg_size()` and
 * `dma_set_seg_boundary()`.
 *
 * @category DMA mapping
 */
export interface DeviceDmaParameters {
  /** `max_segment_size`: the longest DMA segment a mapping may merge entries into, in bytes. */
  readonly maxSegmentSize: number;
  /**
   * `segment_boundary_mask`: a DMA segment never crosses a multiple of `mask + 1` bytes; `mask + 1`
   * is a power of two.
   */
  readonly segmentBoundaryMask: number;
}

/**
 * What the mapping API of `kernel/dma/mapping.c` needs of a `struct device`: the IOMMU domain that
 * translates for it (null: none, so `dma_map_direct()` is true and mapping is direct), its
 * `dma_parms`, and the base page size.
 *
 * @category DMA mapping
 */
export interface DmaMappingDevice {
  /** The IOMMU domain of the device's DMA ops (`iommu_dma_ops`), or null for dma-direct. */
  readonly iommu: IommuDomain | null;
  /** `dev->dma_parms`, or null for a device that has none. */
  readonly dmaParms: DeviceDmaParameters | null;
  /** The kernel's base page size. */
  readonly pageSize: number;
}

/**
 * `SZ_64K`: what `dma_get_max_seg_size()` (`include/linux/dma-mapping.h`) answers for a device
 * without `dma_parms`, and the `max_segment_size` `pci_device_add()` (`drivers/pci/probe.c`)
 * gives every PCI device.
 *
 * @category DMA mapping
 */
export const DMA_DEFAULT_MAX_SEG_SIZE = 65536;

/**
 * The `segment_boundary_mask` `pci_device_add()` (`drivers/pci/probe.c`) gives every PCI device:
 * no DMA segment crosses a 4 GiB line.
 *
 * @category DMA mapping
 */
export const PCI_DEFAULT_SEG_BOUNDARY_MASK = 0xffffffff;

/**
 * `ULONG_MAX`, what `dma_get_seg_boundary()` (`include/linux/dma-mapping.h`) answers for a device
 * without `dma_parms`: no boundary. As a JavaScript number it is `2 ** 64`, one more than the
 * kernel's value; only `mask + 1` is ever used, and that is exact.
 *
 * @category DMA mapping
 */
export const DMA_NO_SEG_BOUNDARY = 2 ** 64 - 1;

/**
 * `dma_get_max_seg_size()` (`include/linux/dma-mapping.h`): the device's `max_segment_size`, or
 * 64 KiB when it has no `dma_parms` (or left it 0).
 *
 * @category DMA mapping
 */
export const dmaGetMaxSegSize = (dev: DmaMappingDevice): number =>
  dev.dmaParms?.maxSegmentSize || DMA_DEFAULT_MAX_SEG_SIZE;

/**
 * `dma_get_seg_boundary()` (`include/linux/dma-mapping.h`): the device's `segment_boundary_mask`,
 * or {@link DMA_NO_SEG_BOUNDARY} when it has no `dma_parms` (or left it 0).
 *
 * @category DMA mapping
 */
export const dmaGetSegBoundary = (dev: DmaMappingDevice): number =>
  dev.dmaParms?.segmentBoundaryMask || DMA_NO_SEG_BOUNDARY;
