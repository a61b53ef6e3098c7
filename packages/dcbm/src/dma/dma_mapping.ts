/**
 * The DMA mapping API for scatter-gather tables.
 *
 * Models `dma_map_sgtable()` / `dma_unmap_sgtable()` of `kernel/dma/mapping.c`: mapping gives a
 * table's entries DMA segments (a bus address and a length each) the device can use, by one of
 * the two paths Linux has, chosen by whether an IOMMU translates for the device
 * (`dma_map_direct()`):
 *
 * - **dma-direct** (`dma_direct_map_sg()`, `direct.ts`): one segment per entry, at its physical
 *   address; `nents` equals `orig_nents`.
 * - **dma-iommu** (`iommu_dma_map_sg()`, `dma_iommu.ts`): one IOVA range for the whole table,
 *   neighbouring entries concatenated into segments up to `dma_get_max_seg_size()` and never
 *   across `dma_get_seg_boundary()`, whatever their physical layout; `nents` can be smaller.
 *
 * @module
 */
import { ERRNO } from "@migrate-offload/core";
import { dmaDirectMapSg } from "./direct";
import { iommuDmaMapSg, iommuDmaSgSegments, iommuDmaUnmapSg } from "./dma_iommu";
import type { DmaMappingDevice } from "./dma_mapping_h";
import type { DmaDataDirection } from "./iommu";
import { SG_MAX_ENTRIES, SgTable, sgSetFolio } from "./scatterlist";

/**
 * `dma_map_sgtable()`: maps the table for `dev` in `direction` and sets `sgt.nents` to the number
 * of DMA segments. Returns 0, `-ENOMEM` when the device's IOMMU has no IOVA space left for the
 * range (nothing then stays mapped), or `-EINVAL` for a table that is already mapped or has an
 * entry of no bytes (a caller's bug, which Linux does not check).
 *
 * Models `dma_map_sgtable()` (`kernel/dma/mapping.c`).
 *
 * @category DMA mapping
 *
 * @example
 * ```ts
 * import { Kernel } from "@migrate-offload/core";
 * import {
 *   DMA_TO_DEVICE,
 *   dmaAsyncDeviceRegister,
 *   dmaMapSgtable,
 *   dmaUnmapSgtable,
 *   SgTable,
 *   sgAllocTable,
 *   sgFreeTable,
 *   sgSetFolio,
 * } from "@migrate-offload/dcbm";
 * import { Effect } from "effect";
 *
 * await Effect.runPromise(
 *   Effect.scoped(
 *     Effect.gen(function* () {
 *       const kernel = yield* Kernel.make({ nodes: ["64M"] });
 *       const a = yield* kernel.allocFolio(0, 0);
 *       const b = yield* kernel.allocFolio(0, 0);
 *       // Two 4 KiB folios, wherever they are: one 8 KiB segment behind an IOMMU, two without.
 *       for (const iommu of [true, false]) {
 *         const device = yield* dmaAsyncDeviceRegister(kernel, { channels: 1, engines: 1, iommu });
 *         const sgt = sgAllocTable(2);
 *         if (!(sgt instanceof SgTable)) return yield* Effect.fail(sgt);
 *         sgSetFolio(sgt, 0, a.pfn, 4096);
 *         sgSetFolio(sgt, 1, b.pfn, 4096);
 *         console.log(dmaMapSgtable(device, sgt, DMA_TO_DEVICE), sgt.nents); // 0 1, then 0 2
 *         dmaUnmapSgtable(device, sgt);
 *         sgFreeTable(sgt);
 *       }
 *     }),
 *   ),
 * ); // shutdown stops both devices' engine threads
 * ```
 */
export const dmaMapSgtable = (
  dev: DmaMappingDevice,
  sgt: SgTable,
  direction: DmaDataDirection,
): number => {
  if (sgt.nents > 0) return -ERRNO.EINVAL;
  for (let i = 0; i < sgt.origNents; i++) if (!(sgt.length[i]! > 0)) return -ERRNO.EINVAL;
  const nents = dev.iommu
    ? iommuDmaMapSg(dev, dev.iommu, sgt, direction)
    : dmaDirectMapSg(dev, sgt);
  if (nents < 0) return nents;
  sgt.nents = nents;
  return 0;
};

/**
 * `dma_unmap_sgtable()` (`kernel/dma/mapping.c`): the device loses access to the table's memory
 * (behind an IOMMU; a direct mapping has nothing to undo), and the table is unmapped. A table
 * that is not mapped is left as it is.
 *
 * @category DMA mapping
 */
export const dmaUnmapSgtable = (dev: DmaMappingDevice, sgt: SgTable): void => {
  if (sgt.nents === 0) return;
  if (dev.iommu) iommuDmaUnmapSg(dev.iommu, sgt);
  sgt.nents = 0;
};

/**
 * The DMA segments `dma_map_sgtable()` gives a table of `folios` whole folios of `folioBytes`
 * each, one `sg_set_folio()` entry a folio, as dcbm builds a channel's table: what dcbm prepares
 * one descriptor each for. It runs the mapping's own arithmetic on a scratch table and maps
 * nothing: `dma_direct_map_sg()` (`kernel/dma/direct.c`) without an IOMMU, one segment per
 * entry; behind one, the IOVA layout and `__finalise_sg()` merging of `iommu_dma_map_sg()`
 * (`drivers/iommu/dma-iommu.c`), which depend only on the entries' lengths and the device's
 * limits. Behind a PCI device's IOMMU (64 KiB segments), 512 folios of 4 KiB give 32 segments,
 * 16 of 64 KiB give 16, and 16 of 2 MiB give 1: `__finalise_sg()` compares in `unsigned int`, so
 * after an entry longer than the maximum the rest concatenate onto it.
 *
 * The copy-cost model takes this as a channel's descriptor count (`CopyOffload`'s `descriptors`,
 * `migrate_copy_cost.ts` of the core).
 *
 * @returns the number of segments; `-EINVAL` for `folios` outside `1..SG_MAX_ENTRIES` or
 *   `folioBytes` not a positive multiple of the device's base page.
 *
 * @category DMA mapping
 */
export const dmaMapSgtableSegments = (
  dev: DmaMappingDevice,
  folios: number,
  folioBytes: number,
): number => {
  if (!Number.isInteger(folios) || folios < 1 || folios > SG_MAX_ENTRIES) return -ERRNO.EINVAL;
  const pages = folioBytes / dev.pageSize;
  if (!Number.isInteger(pages) || pages < 1) return -ERRNO.EINVAL;
  const sgt = new SgTable(folios);
  for (let i = 0; i < folios; i++) sgSetFolio(sgt, i, i * pages, folioBytes);
  return dev.iommu ? iommuDmaSgSegments(dev, dev.iommu, sgt) : dmaDirectMapSg(dev, sgt);
};
