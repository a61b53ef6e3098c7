/**
 * The IOMMU in front of a DMA device: I/O virtual addresses, mappings, translation and faults.
 *
 * Models an IOMMU domain (`struct iommu_domain`, `include/linux/iommu.h`) with the IOVA allocator
 * of `drivers/iommu/iova.c`, as the DMA-API layer of `drivers/iommu/dma-iommu.c`
 * (`dma_iommu.ts`) drives them for a memcpy engine:
 *
 * - Each mapping takes one IOVA range (`alloc_iova_fast()`) and maps extents of physical memory
 *   into it at the offsets the caller laid out. Here every mapping gets a slot of its own,
 *   {@link IOVA_SLOT_BYTES} wide and aligned to its width, so translation is a division and a
 *   binary search, with no per-page table. When every slot is taken, the IOVA space is exhausted.
 * - The device reaches memory only through live mappings, in the direction they were made
 *   (`DMA_TO_DEVICE` is read-only to it, `DMA_FROM_DEVICE` write-only). Any other access is an
 *   IOMMU fault: it is counted, the descriptor fails, and no byte moves.
 *
 * How a scatter-gather table is laid out in its range, and merged into DMA segments, is the
 * DMA-API layer's business (`iommu_dma_map_sg()`, `dma_iommu.ts`).
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
 * (`drivers/iommu/iova.c`), one slot a mapping. A slot starts at a multiple of its width, as
 * `alloc_iova_fast()` aligns a range to its size rounded up to a power of two.
 *
 * @category IOMMU
 */
export const IOVA_SLOT_BYTES = 2 ** 40;
const MAX_SLOTS = 2 ** 12 - 1;

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
    /** Bytes of the range, padding between extents included. */
    readonly size: number,
    /** The direction the device may use it in. */
    readonly direction: DmaDataDirection,
    /** IOVA offset of each extent from `iova`, ascending. */
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
 * (`include/linux/iommu.h`) with its IOVA domain (`struct iova_domain`, `drivers/iommu/iova.c`)
 * and its granule, the smallest page it maps.
 *
 * @category IOMMU
 */
export class IommuDomain {
  private readonly slots: (IommuMapping | undefined)[] = [];
  private readonly freeSlots: number[] = [];
  /** IOMMU faults taken: accesses outside every mapping or against its direction. */
  faults = 0;
  /** Live mappings. */
  mappings = 0;
  /** After a successful {@link translate}: bytes contiguous in both spaces from that address. */
  run = 0;

  constructor(
    /**
     * `iovad->granule`: the smallest page the domain maps, in bytes (the lowest bit of its
     * `pgsize_bitmap`); IOVA ranges and extents are multiples of it.
     */
    readonly granule: number,
  ) {}

  /**
   * Maps `count` extents (a physical byte address and a length each, multiples of the granule)
   * at the given offsets of a fresh IOVA range of `size` bytes. Returns null, mapping nothing,
   * when the IOVA space is exhausted (`alloc_iova_fast()` fails: `-ENOMEM` to the caller).
   */
  map(
    extentIova: Float64Array,
    phys: Float64Array,
    length: Float64Array,
    count: number,
    size: number,
    direction: DmaDataDirection,
  ): IommuMapping | null {
    if (size > IOVA_SLOT_BYTES) return null;
    const slot = this.freeSlots.pop() ?? (this.slots.length < MAX_SLOTS ? this.slots.length : -1);
    if (slot < 0) return null;
    const mapping = new IommuMapping(
      (slot + 1) * IOVA_SLOT_BYTES,
      size,
      direction,
      extentIova.slice(0, count),
      phys.slice(0, count),
      length.slice(0, count),
      slot,
    );
    this.slots[slot] = mapping;
    this.mappings++;
    return mapping;
  }

  /**
   * The live mapping whose range holds `iova`, or undefined.
   */
  find(iova: number): IommuMapping | undefined {
    const slot = Math.floor(iova / IOVA_SLOT_BYTES) - 1;
    const mapping = slot >= 0 ? this.slots[slot] : undefined;
    return mapping && iova - mapping.iova < mapping.size ? mapping : undefined;
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
   * when no live mapping allows the access (padding between extents included).
   */
  translate(iova: number, write: boolean): number {
    const mapping = this.find(iova);
    const allowed =
      mapping !== undefined &&
      (mapping.direction === DMA_BIDIRECTIONAL ||
        mapping.direction === (write ? DMA_FROM_DEVICE : DMA_TO_DEVICE));
    if (!allowed) {
      this.faults++;
      return -1;
    }
    const at = iova - mapping.iova;
    const starts = mapping.extentIova;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= at) lo = mid;
      else hi = mid - 1;
    }
    const into = at - starts[lo]!;
    if (into < 0 || into >= mapping.extentLength[lo]!) {
      this.faults++;
      return -1;
    }
    this.run = mapping.extentLength[lo]! - into;
    return mapping.extentPhys[lo]! + into;
  }
}
