// dma_map_sgtable() (kernel/dma/mapping.c) by Linux's two paths: dma_direct_map_sg()
// (kernel/dma/direct.c), one DMA segment per entry, and iommu_dma_map_sg() + __finalise_sg()
// (drivers/iommu/dma-iommu.c), one IOVA range per table with neighbouring entries concatenated up
// to dma_get_max_seg_size() and never across dma_get_seg_boundary(). The device defaults are a
// PCI device's: max_segment_size 65536 and segment_boundary_mask 0xffffffff (pci_device_add(),
// drivers/pci/probe.c), which PTDMA's probe (drivers/dma/amd/ptdma) keeps.
import { ERRNO, type Kernel } from "@migrate-offload/core";
import { boot, errnoOf, run } from "@migrate-offload/core/testing";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DMA_DEFAULT_MAX_SEG_SIZE,
  DMA_FROM_DEVICE,
  DMA_NO_SEG_BOUNDARY,
  DMA_TO_DEVICE,
  type DmaDataDirection,
  type DmaDevice,
  type DmaDeviceOptions,
  dmaAsyncDeviceRegister,
  dmaGetMaxSegSize,
  dmaGetSegBoundary,
  dmaMapSgtable,
  dmaMapSgtableSegments,
  dmaUnmapSgtable,
  PCI_DEFAULT_SEG_BOUNDARY_MASK,
  type SgTable,
  sgAllocTable,
  sgFreeTable,
  sgSetFolio,
} from "../../src/index";
import { addDevice } from "../helpers";

const KiB = 1024;
const MiB = 2 ** 20;

/** One entry of a table: bytes of the memory at `pfn`, from `offset`. */
interface Entry {
  readonly pfn: number;
  readonly length: number;
  readonly offset?: number;
}

/** Maps `entries` as one table for `device` and returns it, mapped. */
const mapTable = (
  device: DmaDevice,
  entries: readonly Entry[],
  dir: DmaDataDirection = DMA_TO_DEVICE,
): SgTable => {
  const sgt = sgAllocTable(entries.length) as SgTable;
  entries.forEach((e, i) => {
    sgSetFolio(sgt, i, e.pfn, e.length, e.offset ?? 0);
  });
  expect(dmaMapSgtable(device, sgt, dir)).toBe(0);
  return sgt;
};

/** The DMA segments' lengths of `entries` mapped for `device`; unmaps the table again. */
const segments = (device: DmaDevice, entries: readonly Entry[]): number[] => {
  const sgt = mapTable(device, entries);
  const lengths = Array.from(sgt.dmaLength.subarray(0, sgt.nents));
  expect(lengths.reduce((a, b) => a + b, 0)).toBe(entries.reduce((a, e) => a + e.length, 0));
  dmaUnmapSgtable(device, sgt);
  sgFreeTable(sgt);
  return lengths;
};

/** `n` folios of `order`, each from the allocator on its own, wherever it puts them. */
const folios = (kernel: Kernel, n: number, order: number, nid = 0): Entry[] =>
  Array.from({ length: n }, () => {
    const f = run(kernel.allocFolio(nid, order));
    return { pfn: f.pfn, length: 4096 * 2 ** order };
  });

/** The `n` pages of one block of order `order`, in order: physically contiguous. */
const contiguousPages = (kernel: Kernel, order: number): Entry[] => {
  const block = run(kernel.allocFolio(0, order));
  return Array.from({ length: 2 ** order }, (_, i) => ({ pfn: block.pfn + i, length: 4096 }));
};

const devices = (kernel: Kernel, options: DmaDeviceOptions = {}) => ({
  iommu: addDevice(kernel, { channels: 1, engines: 1, ...options }),
  direct: addDevice(kernel, { channels: 1, engines: 1, ...options, iommu: false }),
});

describe("dma_map_sgtable(): a PCI device's limits", () => {
  it("gives a device 65536 and 0xffffffff as pci_device_add() does; without dma_parms, 64 KiB and ULONG_MAX", () => {
    const kernel = boot();
    const { iommu, direct } = devices(kernel);
    for (const d of [iommu, direct]) {
      expect([dmaGetMaxSegSize(d), dmaGetSegBoundary(d)]).toEqual([65536, 0xffffffff]);
    }
    expect(PCI_DEFAULT_SEG_BOUNDARY_MASK).toBe(0xffffffff);
    const bare = { iommu: null, dmaParms: null, pageSize: 4096 };
    expect([dmaGetMaxSegSize(bare), dmaGetSegBoundary(bare)]).toEqual([
      DMA_DEFAULT_MAX_SEG_SIZE,
      DMA_NO_SEG_BOUNDARY,
    ]);
    expect(DMA_DEFAULT_MAX_SEG_SIZE).toBe(64 * KiB);
    expect(iommu.iommu?.granule).toBe(4096);
    expect(direct.iommu).toBeNull();
  });

  it("refuses limits a device cannot have, with EINVAL", async () => {
    const kernel = boot();
    for (const maxSegmentSize of [0, -1, 1.5, 2 ** 32]) {
      expect(
        await errnoOf(dmaAsyncDeviceRegister(kernel, { maxSegmentSize })),
        `${maxSegmentSize}`,
      ).toBe("EINVAL");
    }
    for (const segmentBoundaryMask of [0x1000, 0x7ff, 0, 1.5]) {
      expect(
        await errnoOf(dmaAsyncDeviceRegister(kernel, { segmentBoundaryMask })),
        `${segmentBoundaryMask}`,
      ).toBe("EINVAL");
    }
  });
});

describe("dma_map_sgtable() of 4 KiB folios", () => {
  it("two adjacent 4 KiB pages: one 8 KiB segment behind an IOMMU, two without", () => {
    const kernel = boot();
    const { iommu, direct } = devices(kernel);
    const pair = contiguousPages(kernel, 1);
    expect(segments(iommu, pair)).toEqual([8192]);
    expect(segments(direct, pair)).toEqual([4096, 4096]);
  });

  it("two 4 KiB pages apart, or in reverse order: still one 8 KiB segment behind an IOMMU (IOVA, not physical, contiguity)", () => {
    const kernel = boot();
    const { iommu, direct } = devices(kernel);
    const block = contiguousPages(kernel, 2);
    const apart = [block[0]!, block[2]!];
    const reversed = [block[3]!, block[2]!];
    for (const entries of [apart, reversed, folios(kernel, 2, 0, 1)]) {
      expect(segments(iommu, entries)).toEqual([8192]);
      expect(segments(direct, entries)).toEqual([4096, 4096]);
    }
  });

  it("fills 64 KiB segments: 16 pages to one, 17 to 64 KiB + 4 KiB, 40 to 64 + 64 + 32 KiB; without an IOMMU one each", () => {
    const kernel = boot();
    const { iommu, direct } = devices(kernel);
    expect(segments(iommu, folios(kernel, 16, 0))).toEqual([65536]);
    expect(segments(iommu, folios(kernel, 17, 0))).toEqual([65536, 4096]);
    expect(segments(iommu, folios(kernel, 40, 0))).toEqual([65536, 65536, 32768]);
    expect(segments(direct, folios(kernel, 40, 0))).toEqual(Array(40).fill(4096));
  });
});

describe("dma_map_sgtable() of 64 KiB and 2 MiB folios", () => {
  it("never merges 64 KiB folios at the 64 KiB maximum, contiguous or not", () => {
    const kernel = boot();
    const { iommu, direct } = devices(kernel);
    const block = run(kernel.allocFolio(0, 6));
    const contiguous = [0, 16, 32, 48].map((i) => ({ pfn: block.pfn + i, length: 64 * KiB }));
    for (const entries of [contiguous, folios(kernel, 4, 4, 1)]) {
      expect(segments(iommu, entries)).toEqual(Array(4).fill(65536));
      expect(segments(direct, entries)).toEqual(Array(4).fill(65536));
    }
    // 4 KiB, 64 KiB, 4 KiB: the 64 KiB folio does not fit after 4 KiB, nor 4 KiB after it.
    const mixed = [...folios(kernel, 1, 0), ...folios(kernel, 1, 4), ...folios(kernel, 1, 0)];
    expect(segments(iommu, mixed)).toEqual([4096, 65536, 4096]);
  });

  it("maps a 2 MiB folio to one 2 MiB segment on both paths: neither splits an entry, even past max_segment_size", () => {
    const kernel = boot();
    const { iommu, direct } = devices(kernel);
    const thp = folios(kernel, 1, 9);
    expect(segments(iommu, thp)).toEqual([2 * MiB]);
    expect(segments(direct, thp)).toEqual([2 * MiB]);
  });

  it("concatenates what follows a 2 MiB folio behind an IOMMU: __finalise_sg()'s unsigned max_len - cur_len wraps", () => {
    const kernel = boot();
    const { iommu, direct } = devices(kernel);
    const two = folios(kernel, 2, 9);
    expect(segments(iommu, two)).toEqual([4 * MiB]);
    expect(segments(direct, two)).toEqual([2 * MiB, 2 * MiB]);
    const sandwich = [...folios(kernel, 1, 0), ...folios(kernel, 1, 9), ...folios(kernel, 1, 0)];
    expect(segments(iommu, sandwich)).toEqual([4096, 2 * MiB + 4096]);
    // With max_segment_size 2 MiB a 2 MiB folio fits, fills its segment, and stops the next.
    const raised = addDevice(kernel, { channels: 1, engines: 1, maxSegmentSize: 2 * MiB });
    expect(segments(raised, two)).toEqual([2 * MiB, 2 * MiB]);
    expect(segments(raised, folios(kernel, 512, 0))).toEqual([2 * MiB]);
  });
});

describe("dma_map_sgtable() behind an IOMMU: boundaries, granules, IOVA space", () => {
  it("never lets a segment cross dma_get_seg_boundary(): a 64 KiB boundary cuts, and pads an entry that would cross it", () => {
    const kernel = boot();
    const device = addDevice(kernel, {
      channels: 1,
      engines: 1,
      maxSegmentSize: MiB,
      segmentBoundaryMask: 0xffff,
    });
    expect(segments(device, folios(kernel, 32, 0))).toEqual([65536, 65536]);
    expect(segments(device, folios(kernel, 2, 2))).toEqual([32768]);
    // 48 KiB, then 32 KiB: the second would cross the 64 KiB line, so it starts on it.
    const first = run(kernel.allocFolio(0, 4));
    const second = run(kernel.allocFolio(0, 3));
    const sgt = mapTable(device, [
      { pfn: first.pfn, length: 48 * KiB },
      { pfn: second.pfn, length: 32 * KiB },
    ]);
    expect([sgt.nents, sgt.dmaLength[0], sgt.dmaLength[1]]).toEqual([2, 49152, 32768]);
    expect(sgt.dmaAddress[1]! - sgt.dmaAddress[0]!).toBe(65536);
    const faults = device.iommu!.faults;
    expect(device.iommu!.translate(sgt.dmaAddress[0]! + 49152, false)).toBe(-1);
    expect(device.iommu!.faults).toBe(faults + 1);
    expect(device.iommu!.translate(sgt.dmaAddress[1]!, false)).toBe(second.pfn * 4096);
    dmaUnmapSgtable(device, sgt);
  });

  it("starts a new segment after an entry that ends inside its granule, and at an entry that starts inside one", () => {
    const kernel = boot();
    const device = addDevice(kernel, { channels: 1, engines: 1 });
    const [a, b] = folios(kernel, 2, 0);
    expect(segments(device, [{ ...a!, length: 2048 }, b!])).toEqual([2048, 4096]);
    const sgt = mapTable(device, [a!, { ...b!, offset: 512, length: 1024 }]);
    expect([sgt.nents, sgt.dmaLength[0], sgt.dmaLength[1]]).toEqual([2, 4096, 1024]);
    expect(sgt.dmaAddress[1]! - sgt.dmaAddress[0]!).toBe(4096 + 512);
    expect(device.iommu!.translate(sgt.dmaAddress[1]!, false)).toBe(b!.pfn * 4096 + 512);
    dmaUnmapSgtable(device, sgt);
  });

  it("fails with -ENOMEM, mapping nothing, when the IOVA space is full; dma-direct has none to fill", () => {
    const kernel = boot();
    const { iommu, direct } = devices(kernel);
    const [page] = folios(kernel, 1, 0);
    const live: SgTable[] = [];
    let rc = 0;
    while (rc === 0) {
      const sgt = sgAllocTable(1) as SgTable;
      sgSetFolio(sgt, 0, page!.pfn, 4096);
      rc = dmaMapSgtable(iommu, sgt, DMA_FROM_DEVICE);
      if (rc === 0) live.push(sgt);
      else expect(sgt.nents).toBe(0);
    }
    expect(rc).toBe(-ERRNO.ENOMEM);
    expect(iommu.iommu!.mappings).toBe(live.length);
    expect(segments(direct, [page!])).toEqual([4096]);
    dmaUnmapSgtable(iommu, live.pop()!);
    expect(segments(iommu, [page!])).toEqual([4096]);
    for (const sgt of live) dmaUnmapSgtable(iommu, sgt);
    expect(iommu.iommu!.mappings).toBe(0);
  });

  it("refuses a table already mapped, or with an entry of no bytes, with -EINVAL", () => {
    const kernel = boot();
    const { iommu, direct } = devices(kernel);
    const [page] = folios(kernel, 1, 0);
    for (const device of [iommu, direct]) {
      const sgt = mapTable(device, [page!]);
      expect(dmaMapSgtable(device, sgt, DMA_TO_DEVICE)).toBe(-ERRNO.EINVAL);
      dmaUnmapSgtable(device, sgt);
      const empty = sgAllocTable(1) as SgTable;
      sgSetFolio(empty, 0, page!.pfn, 0);
      expect(dmaMapSgtable(device, empty, DMA_TO_DEVICE)).toBe(-ERRNO.EINVAL);
    }
    expect(iommu.iommu!.mappings).toBe(0);
  });
});

describe("dma_map_sgtable(): what dcbm relies on", () => {
  it("maps a source and a destination of the same folio sizes to the same segments, wherever they are; ⌈n / ⌊64 KiB / s⌋⌉ of them for s ≤ 64 KiB", () => {
    const kernel = boot({ nodes: ["256M", "256M"] });
    const { iommu, direct } = devices(kernel);
    // A channel's tables: n folios of 2^order pages on node 0 (source) and node 1 (destination).
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 48 }),
        fc.constantFrom(0, 1, 2, 3, 4, 9),
        (n, order) => {
          const size = 4096 * 2 ** order;
          const src = folios(kernel, n, order, 0);
          const dst = folios(kernel, n, order, 1);
          const s = segments(iommu, src);
          expect(segments(iommu, dst)).toEqual(s);
          expect(segments(direct, src)).toEqual(Array(n).fill(size));
          if (size <= 64 * KiB) {
            expect(s.length).toBe(Math.ceil(n / Math.floor((64 * KiB) / size)));
          } else expect(s).toEqual([n * size]);
          for (const e of [...src, ...dst]) kernel.folioPut(kernel.folio(e.pfn));
        },
      ),
      { numRuns: 30 },
    );
  });
});

describe("dmaMapSgtableSegments(): the segments dma_map_sgtable() gives, nothing mapped", () => {
  it("counts as the mapping does, for any folio size and count, on both paths", () => {
    const kernel = boot({ nodes: ["256M"] });
    const { iommu, direct } = devices(kernel);
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 48 }),
        fc.constantFrom(0, 1, 2, 3, 4, 5, 9),
        (n, order) => {
          const entries = folios(kernel, n, order);
          const size = 4096 * 2 ** order;
          for (const d of [iommu, direct]) {
            expect(dmaMapSgtableSegments(d, n, size)).toBe(segments(d, entries).length);
          }
          for (const e of entries) kernel.folioPut(kernel.folio(e.pfn));
        },
      ),
      { numRuns: 30 },
    );
    // Counting maps nothing: no IOVA range is left taken.
    expect(iommu.iommu!.mappings).toBe(0);
  });

  it("behind a PCI device's IOMMU: 64 KiB segments below 64 KiB, one per 64 KiB folio, one per table past it (__finalise_sg()'s unsigned wrap)", () => {
    const kernel = boot();
    const { iommu, direct } = devices(kernel);
    // 1 GiB of 4 KiB folios on one channel: 262144 entries, 16 to a 64 KiB segment.
    expect(dmaMapSgtableSegments(iommu, 262144, 4 * KiB)).toBe(16384);
    expect(dmaMapSgtableSegments(iommu, 16, 64 * KiB)).toBe(16);
    // 48 KiB folios: 64 − 48 = 16 KiB left after one, too short for the next.
    expect(dmaMapSgtableSegments(iommu, 8, 48 * KiB)).toBe(8);
    // Past max_segment_size: the first entry's segment is longer than the maximum, so
    // max_len − cur_len wraps in unsigned int and every later entry joins it: 512 × 2 MiB is one.
    expect(dmaMapSgtableSegments(iommu, 512, 2 * MiB)).toBe(1);
    expect(dmaMapSgtableSegments(iommu, 8192, 128 * KiB)).toBe(1);
    // dma-direct: one segment per entry.
    expect(dmaMapSgtableSegments(direct, 512, 2 * MiB)).toBe(512);
  });

  it("refuses a count outside 1..SG_MAX_ENTRIES or a folio that is not whole pages, with -EINVAL", () => {
    const kernel = boot();
    const { iommu } = devices(kernel);
    expect(dmaMapSgtableSegments(iommu, 0, 4096)).toBe(-ERRNO.EINVAL);
    expect(dmaMapSgtableSegments(iommu, 2 ** 22 + 1, 4096)).toBe(-ERRNO.EINVAL);
    expect(dmaMapSgtableSegments(iommu, 1.5, 4096)).toBe(-ERRNO.EINVAL);
    expect(dmaMapSgtableSegments(iommu, 4, 6144)).toBe(-ERRNO.EINVAL);
    expect(dmaMapSgtableSegments(iommu, 4, 0)).toBe(-ERRNO.EINVAL);
  });
});
