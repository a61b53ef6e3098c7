/**
 * The DMA-API glue to the IOMMU: mapping a scatter-gather table through an IOMMU domain.
 *
 * Models `iommu_dma_map_sg()`, `__finalise_sg()` and `iommu_dma_unmap_sg()` of
 * `drivers/iommu/dma-iommu.c`:
 *
 * - Every entry is widened to whole IOVA granules (its offset into its first granule is kept
 *   aside) and the entries are laid out back to back in **one** IOVA range for the whole table,
 *   one allocation, in list order. An entry that would cross a multiple of the device's segment
 *   boundary (`dma_get_seg_boundary()`) starts at that boundary instead; the gap before it is
 *   padding.
 * - The IOMMU then maps each entry's granules at its place in the range, so the device sees the
 *   table as one run of IOVA space, whatever the physical layout of the entries.
 * - `__finalise_sg()` walks the entries and concatenates each one onto the DMA segment before it
 *   when that segment ended exactly at the entry's start (the previous entry filled its last
 *   granule, no padding), the entry starts on a granule and not on a segment boundary, and the
 *   segment would not grow past `dma_get_max_seg_size()`. An entry is never split: one longer than
 *   the maximum starts a segment as long as itself. The kernel assumes no entry is longer than
 *   the maximum, and compares in `unsigned int`: after such an entry `max_len - cur_len` wraps,
 *   so the entries after it concatenate onto its segment until a segment boundary, an entry that
 *   does not start or end on a granule, or about 4 GiB in all stops them. The model keeps that
 *   arithmetic.
 *
 * So `nents` depends only on the entries' lengths and offsets and on the device's limits, never on
 * where the memory is: two tables whose entries have the same lengths map to the same segments.
 *
 * @module
 */
import { ERRNO } from "@migrate-offload/core";
import { type DmaMappingDevice, dmaGetMaxSegSize, dmaGetSegBoundary } from "./dma_mapping_h";
import { type DmaDataDirection, IOVA_SLOT_BYTES, type IommuDomain } from "./iommu";
import type { SgTable } from "./scatterlist";

/**
 * `iommu_dma_map_sg()` (`drivers/iommu/dma-iommu.c`): maps the table through `domain` for `dev`
 * in `direction` and fills its DMA segments (see the module). Returns the number of segments, or
 * `-ENOMEM`, with nothing mapped, when the IOVA space has no room for the range
 * (`iommu_dma_alloc_iova()` fails).
 *
 * The padding before an entry moved to a segment boundary is left unmapped here; Linux maps it
 * as an extension of the entry before. Either way no segment covers it.
 *
 * @category DMA mapping
 */
export const iommuDmaMapSg = (
  dev: DmaMappingDevice,
  domain: IommuDomain,
  sgt: SgTable,
  direction: DmaDataDirection,
): number => {
  const l = layOut(dev, domain, sgt);
  const mapping = domain.map(l.at, l.phys, l.mapped, sgt.origNents, l.iovaLen, direction);
  if (!mapping) return -ERRNO.ENOMEM;
  return finaliseSg(dev, sgt, mapping.iova, l.at, l.iovaOff);
};

/**
 * The DMA segments {@link iommuDmaMapSg} would give the table, with nothing mapped: the same
 * IOVA layout and the same `__finalise_sg()` walk (`drivers/iommu/dma-iommu.c`), at the start of
 * an IOVA range as the allocator places one (aligned to its slot, {@link IOVA_SLOT_BYTES}), so
 * the count is the one a mapping gives. Fills the table's DMA segments as a mapping would, but
 * leaves `nents` at 0: the table is not mapped, and the device can reach none of it. Returns the
 * number of segments.
 *
 * @category DMA mapping
 */
export const iommuDmaSgSegments = (
  dev: DmaMappingDevice,
  domain: IommuDomain,
  sgt: SgTable,
): number => {
  const l = layOut(dev, domain, sgt);
  return finaliseSg(dev, sgt, IOVA_SLOT_BYTES, l.at, l.iovaOff);
};

/**
 * The IOVA layout of `iommu_dma_map_sg()` (`drivers/iommu/dma-iommu.c`): each entry widened to
 * whole granules, back to back, moved to the next segment boundary when it would cross one.
 * Returns each entry's offset in the range (`at`, one more for its end), its offset into its
 * first granule, the physical start of its first granule, the bytes mapped for it, and the
 * range's length.
 */
const layOut = (dev: DmaMappingDevice, domain: IommuDomain, sgt: SgTable) => {
  const n = sgt.origNents;
  const granule = domain.granule;
  const boundary = dmaGetSegBoundary(dev) + 1;
  // Each entry's place in the range, its offset into its first granule (`s_iova_off`), and the
  // granules mapped for it.
  const at = new Float64Array(n + 1);
  const iovaOff = new Float64Array(n);
  const phys = new Float64Array(n);
  const mapped = new Float64Array(n);
  let iovaLen = 0;
  for (let i = 0; i < n; i++) {
    const start = sgt.pfn[i]! * dev.pageSize + sgt.offset[i]!;
    const off = start % granule;
    const len = Math.ceil((sgt.length[i]! + off) / granule) * granule;
    const pad = (boundary - (iovaLen % boundary)) % boundary;
    if (pad > 0 && pad < len - 1) iovaLen += pad;
    at[i] = iovaLen;
    iovaOff[i] = off;
    phys[i] = start - off;
    mapped[i] = len;
    iovaLen += len;
  }
  at[n] = iovaLen;
  return { at, iovaOff, phys, mapped, iovaLen };
};

/**
 * `__finalise_sg()` (`drivers/iommu/dma-iommu.c`): concatenates the entries laid out at `at` (IOVA
 * offsets from `dmaAddr`, one more for the end of the range) into DMA segments. Returns their
 * number.
 */
const finaliseSg = (
  dev: DmaMappingDevice,
  sgt: SgTable,
  dmaAddr: number,
  at: Float64Array,
  iovaOff: Float64Array,
): number => {
  const boundary = dmaGetSegBoundary(dev) + 1;
  const maxLen = dmaGetMaxSegSize(dev);
  let count = 0;
  let curLen = 0;
  for (let i = 0; i < sgt.origNents; i++) {
    const sIova = dmaAddr + at[i]!;
    const sOff = iovaOff[i]!;
    const sLength = sgt.length[i]!;
    // `max_len - cur_len` is unsigned int arithmetic: it wraps to about 4 GiB once a segment
    // already holds more than `max_len` bytes (an entry longer than the maximum), and the
    // entries after it concatenate onto it as long as nothing else stops them.
    if (curLen > 0 && sOff === 0 && sIova % boundary !== 0 && (maxLen - curLen) >>> 0 >= sLength) {
      curLen = (curLen + sLength) >>> 0;
    } else {
      count++;
      curLen = sLength;
      sgt.dmaAddress[count - 1] = sIova + sOff;
    }
    sgt.dmaLength[count - 1] = curLen;
    // An entry that ends short of its last granule, or before padding, ends its segment.
    if (sOff + sLength < at[i + 1]! - at[i]!) curLen = 0;
  }
  sgt.dmaAddress.fill(0, count);
  sgt.dmaLength.fill(0, count);
  return count;
};

/**
 * `iommu_dma_unmap_sg()` (`drivers/iommu/dma-iommu.c`): unmaps the table's one IOVA range, found
 * from its first DMA segment, and gives the range back. The table must be mapped through
 * `domain`.
 *
 * @category DMA mapping
 */
export const iommuDmaUnmapSg = (domain: IommuDomain, sgt: SgTable): void => {
  const mapping = domain.find(sgt.dmaAddress[0]!);
  if (!mapping) throw new Error("iommu_dma_unmap_sg: the table is not mapped in this domain");
  domain.unmap(mapping);
};
