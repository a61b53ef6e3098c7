/**
 * The IOMMU in front of a DMA device: I/O virtual addresses, mappings, translation and faults.
 *
 * Models the DMA-API path through `drivers/iommu/dma-iommu.c` (`iommu_dma_map_sg()`,
 * `iommu_dma_unmap_sg()`) and the IOVA allocator of `drivers/iommu/iova.c`, as far as a memcpy
 * engine meets them:
 *
 * - Mapping a table reserves one IOVA range for all of its segments and lays them out back to
 *   back in it. Here every mapping gets a slot of its own, {@link IOVA_SLOT_BYTES} wide, so
 *   translation is a division and a binary search, with no per-page table.
 * - The DMA segments handed back may be fewer than the CPU segments: neighbours that are also
 *   physically contiguous merge into one, up to the device's maximum segment size
 *   (`dma_get_max_seg_size()`), when the domain merges.
 * - The device reaches memory only through live mappings, in the direction they were made
 *   (`DMA_TO_DEVICE` is read-only to it, `DMA_FROM_DEVICE` write-only). Any other access is an
 *   IOMMU fault: it is counted, the descriptor fails, and no byte moves.
 *
 * @module
 */

/**
 * `DMA_BIDIRECTIONAL` of `enum dma_data_direction` (`include/linux/dma-direction.h`).
 *
 * @category IOMMU
 */
export const DMA_BIDIRECTIONAL = 0;
/**
 * `DMA_TO_DEVICE` of `enum dma_data_direction` (`include/linux/dma-direction.h`): the device reads.
 *
 * @category IOMMU
 */
export const DMA_TO_DEVICE = 1;
/**
 * `DMA_FROM_DEVICE` of `enum dma_data_direction` (`include/linux/dma-direction.h`): the device
 * writes.
 *
 * @category IOMMU
 */
export const DMA_FROM_DEVICE = 2;
/**
 * `enum dma_data_direction` (`include/linux/dma-direction.h`).
 *
 * @category IOMMU
 */
export type DmaDataDirection =
  | typeof DMA_BIDIRECTIONAL
  | typeof DMA_TO_DEVICE
  | typeof DMA_FROM_DEVICE;

/**
 * Bytes of IOVA space reserved per mapping: the model's stand-in for `alloc_iova_fast()`
 * (`drivers/iommu/iova.c`), one slot a mapping.
 *
 * @category IOMMU
 */
export const IOVA_SLOT_BYTES = 2 ** 40;
const MAX_SLOTS = 2 ** 12 - 1;

/**
 * Options of an {@link IommuDomain}: whether `iommu_dma_map_sg()` (`drivers/iommu/dma-iommu.c`)
 * merges segments, and `dma_get_max_seg_size()`.
 *
 * @category IOMMU
 */
export interface IommuOptions {
  /** Merge physically contiguous neighbouring segments into one DMA segment (default true). */
  readonly merge?: boolean;
  /** `dma_get_max_seg_size()`: the longest DMA segment (default 64 MiB). */
  readonly maxSegmentSize?: number;
}

/**
 * One live mapping: the extents of a table in IOVA space. Models a `struct iova`
 * (`include/linux/iova.h`) plus its page-table entries.
 *
 * @category IOMMU
 */
export class IommuMapping {
  constructor(
    /** The first IOVA of the range. */
    readonly iova: number,
    /** Bytes mapped. */
    readonly size: number,
    /** The direction the device may use it in. */
    readonly direction: DmaDataDirection,
    /** IOVA offset of each extent, ascending from 0. */
    readonly extentIova: Float64Array,
    /** Physical byte address of each extent. */
    readonly extentPhys: Float64Array,
    /** Bytes in each extent. */
    readonly extentLength: Float64Array,
    /** The slot it holds. */
    readonly slot: number,
  ) {}
}

/**
 * An IOMMU domain: the address space one DMA device sees. Models `struct iommu_domain`
 * (`include/linux/iommu.h`) as `drivers/iommu/dma-iommu.c` maps through it.
 *
 * @category IOMMU
 */
export class IommuDomain {
  private readonly slots: (IommuMapping | undefined)[] = [];
  private readonly freeSlots: number[] = [];
  /** Whether neighbouring physically contiguous segments merge. */
  readonly merge: boolean;
  /** `dma_get_max_seg_size()`. */
  readonly maxSegmentSize: number;
  /** IOMMU faults taken: accesses outside every mapping or against its direction. */
  faults = 0;
  /** Live mappings. */
  mappings = 0;
  /** Segments merged into their neighbour by mappings so far. */
  merged = 0;
  /** After a successful {@link translate}: bytes contiguous in both spaces from that address. */
  run = 0;

  constructor(options: IommuOptions = {}) {
    this.merge = options.merge ?? true;
    this.maxSegmentSize = options.maxSegmentSize ?? 64 * 2 ** 20;
  }

  /**
   * Maps extents (physical address and length each) back to back into a fresh IOVA range.
   * Returns null when the IOVA space is exhausted (`-ENOMEM` to the caller).
   */
  map(
    phys: Float64Array,
    length: Float64Array,
    count: number,
    direction: DmaDataDirection,
  ): IommuMapping | null {
    const slot = this.freeSlots.pop() ?? (this.slots.length < MAX_SLOTS ? this.slots.length : -1);
    if (slot < 0) return null;
    const extentIova = new Float64Array(count);
    let size = 0;
    for (let i = 0; i < count; i++) {
      extentIova[i] = size;
      size += length[i]!;
    }
    const mapping = new IommuMapping(
      (slot + 1) * IOVA_SLOT_BYTES,
      size,
      direction,
      extentIova,
      phys.slice(0, count),
      length.slice(0, count),
      slot,
    );
    this.slots[slot] = mapping;
    this.mappings++;
    return mapping;
  }

  /** Removes a mapping; the device can no longer reach its range. */
  unmap(mapping: IommuMapping): void {
    if (this.slots[mapping.slot] !== mapping) throw new Error("IOMMU: unmap of a dead mapping");
    this.slots[mapping.slot] = undefined;
    this.freeSlots.push(mapping.slot);
    this.mappings--;
  }

  /**
   * Translates a device access at `iova`, for writing or reading, to a physical byte address,
   * and sets {@link run} to the bytes contiguous from there. Returns -1, and counts a fault,
   * when no live mapping allows the access.
   */
  translate(iova: number, write: boolean): number {
    const slot = Math.floor(iova / IOVA_SLOT_BYTES) - 1;
    const mapping = slot >= 0 ? this.slots[slot] : undefined;
    const at = iova - (slot + 1) * IOVA_SLOT_BYTES;
    const allowed =
      mapping !== undefined &&
      (mapping.direction === DMA_BIDIRECTIONAL ||
        mapping.direction === (write ? DMA_FROM_DEVICE : DMA_TO_DEVICE));
    if (!allowed || at < 0 || at >= mapping.size) {
      this.faults++;
      return -1;
    }
    const starts = mapping.extentIova;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= at) lo = mid;
      else hi = mid - 1;
    }
    const into = at - starts[lo]!;
    this.run = mapping.extentLength[lo]! - into;
    return mapping.extentPhys[lo]! + into;
  }
}
