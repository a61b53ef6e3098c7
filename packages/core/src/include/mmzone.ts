/**
 * Physical memory: NUMA nodes made of sections of real `SharedArrayBuffer` bytes.
 *
 * Models SPARSEMEM (`mm/sparse.c`, `include/linux/mmzone.h`): physical memory is cut into
 * fixed-size sections, each node owns a run of sections, and a PFN names a node and a byte
 * offset inside one section's buffer. Each section is its own `SharedArrayBuffer`, allocated
 * zero-filled; the operating system commits its pages only on first touch, so an untouched node of
 * several GiB costs no resident memory. Worker threads can be handed the same buffers and copy
 * between them with nothing but offsets.
 *
 * @module
 */

/** One NUMA node's span of PFNs. Models `pg_data_t`'s `node_start_pfn` / `node_present_pages`. */
export interface NodeSpan {
  /** The node id (`pgdat->node_id`). */
  readonly nid: number;
  /** First PFN of the node (`node_start_pfn`); section aligned. */
  readonly startPfn: number;
  /** Pages of memory the node has (`node_present_pages`); 0 for a memoryless node. */
  readonly presentPages: number;
}

/**
 * A byte range of physical memory that a worker thread can address on its own: the buffer it
 * lives in and where. What `dma_map_*` or a copy thread is handed.
 */
export interface MemoryRegion {
  readonly buffer: SharedArrayBuffer;
  readonly byteOffset: number;
  readonly byteLength: number;
}

/** The machine's physical memory. One per kernel. */
export class PhysicalMemory {
  /** Base page size in bytes (`PAGE_SIZE`). */
  readonly pageSize: number;
  /** log2 of the page size (`PAGE_SHIFT`). */
  readonly pageShift: number;
  /** log2 of the pages per section (`PFN_SECTION_SHIFT`). */
  readonly pfnSectionShift: number;
  /** Pages per section (`PAGES_PER_SECTION`). */
  readonly pagesPerSection: number;
  /** One past the highest PFN (`max_pfn`). */
  readonly maxPfn: number;
  /** The nodes, indexed by node id. */
  readonly nodes: readonly NodeSpan[];
  /** Section buffers by section number (`mem_section`); `undefined` for holes. */
  readonly sections: readonly (SharedArrayBuffer | undefined)[];
  /** Byte views of {@link sections}, for copies on this thread. */
  readonly sectionBytes: readonly (Uint8Array | undefined)[];
  /** Node of each section (`section_to_node_table`); -1 for holes. */
  readonly sectionNid: Int16Array;

  /**
   * @param pageSize base page size in bytes, a power of two
   * @param sectionSize bytes per section, a power of two multiple of the page size
   * @param nodeBytes memory of each node, each a multiple of the page size
   */
  constructor(pageSize: number, sectionSize: number, nodeBytes: readonly number[]) {
    this.pageSize = pageSize;
    this.pageShift = Math.log2(pageSize);
    this.pagesPerSection = sectionSize / pageSize;
    this.pfnSectionShift = Math.log2(this.pagesPerSection);
    const nodes: NodeSpan[] = [];
    const sections: (SharedArrayBuffer | undefined)[] = [];
    const nids: number[] = [];
    for (let nid = 0; nid < nodeBytes.length; nid++) {
      const presentPages = nodeBytes[nid]! / pageSize;
      nodes.push({ nid, startPfn: sections.length * this.pagesPerSection, presentPages });
      for (let left = nodeBytes[nid]!; left > 0; left -= sectionSize) {
        sections.push(new SharedArrayBuffer(Math.min(left, sectionSize)));
        nids.push(nid);
      }
    }
    this.nodes = nodes;
    this.sections = sections;
    this.sectionBytes = sections.map((b) => (b ? new Uint8Array(b) : undefined));
    this.sectionNid = Int16Array.from(nids);
    this.maxPfn = sections.length * this.pagesPerSection;
  }

  /** True when `pfn` has memory behind it (`pfn_valid`). */
  pfnValid(pfn: number): boolean {
    if (!Number.isInteger(pfn) || pfn < 0 || pfn >= this.maxPfn) return false;
    const buf = this.sections[pfn >>> this.pfnSectionShift];
    return (
      buf !== undefined && (pfn & (this.pagesPerSection - 1)) << this.pageShift < buf.byteLength
    );
  }

  /** The node that owns `pfn` (`pfn_to_nid`). `pfn` must be valid. */
  pfnToNid(pfn: number): number {
    return this.sectionNid[pfn >>> this.pfnSectionShift]!;
  }

  /** Byte offset of `pfn` inside its section buffer. */
  byteOffset(pfn: number): number {
    return (pfn & (this.pagesPerSection - 1)) * this.pageSize;
  }

  /** A zero-copy view of `nrPages` pages from `pfn`; the range must not cross a section. */
  bytes(pfn: number, nrPages = 1): Uint8Array {
    const section = this.sectionBytes[pfn >>> this.pfnSectionShift]!;
    const start = this.byteOffset(pfn);
    return section.subarray(start, start + nrPages * this.pageSize);
  }

  /** The same range as {@link bytes}, as a buffer and offsets a worker can use. */
  region(pfn: number, nrPages = 1): MemoryRegion {
    return {
      buffer: this.sections[pfn >>> this.pfnSectionShift]!,
      byteOffset: this.byteOffset(pfn),
      byteLength: nrPages * this.pageSize,
    };
  }

  /** Copies whole pages (`copy_page` over a range). Neither range may cross a section. */
  copyPages(dstPfn: number, srcPfn: number, nrPages: number): void {
    const src = this.sectionBytes[srcPfn >>> this.pfnSectionShift]!;
    const dst = this.sectionBytes[dstPfn >>> this.pfnSectionShift]!;
    const s = this.byteOffset(srcPfn);
    const len = nrPages * this.pageSize;
    if (src === dst) dst.copyWithin(this.byteOffset(dstPfn), s, s + len);
    else dst.set(src.subarray(s, s + len), this.byteOffset(dstPfn));
  }

  /** Zeroes whole pages (`clear_page` over a range). */
  clearPages(pfn: number, nrPages: number): void {
    const section = this.sectionBytes[pfn >>> this.pfnSectionShift]!;
    const start = this.byteOffset(pfn);
    section.fill(0, start, start + nrPages * this.pageSize);
  }
}
