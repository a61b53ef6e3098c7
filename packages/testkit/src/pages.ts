/**
 * Pages of a workload: the bytes it writes to each page, and where a page of a task lives, read
 * from its page table without faulting.
 *
 * @module
 */
import { folioWalkEntry, ptePfn, ptePresent, type Task } from "@migrate-offload/core";

/** Whether the host stores a word's low byte first, as x86 and arm64 do. */
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/**
 * The bytes the workload writes to page `page` of region `region`, for a base page size.
 *
 * @category Oracle
 */
export const scenarioPageBytes = (region: number, page: number, pageSize = 4096): Uint8Array =>
  scenarioRegionBytes(region, page, 1, pageSize);

/**
 * The bytes the workload writes to `pages` consecutive pages of region `region` from page
 * `first`: {@link scenarioPageBytes} of each, end to end, in one buffer (one write for the run).
 */
export const scenarioRegionBytes = (
  region: number,
  first: number,
  pages: number,
  pageSize: number,
): Uint8Array => {
  const out = new Uint8Array(pages * pageSize);
  // Byte i's last field, (i >> 2) & 0xff, comes round every 1 KiB: a page is its first KiB over
  // and over.
  const block = Math.min(1024, pageSize);
  // The four bytes as one word where the host is little-endian (a quarter of the stores).
  const words = LITTLE_ENDIAN ? new Uint32Array(out.buffer, 0, out.length >> 2) : null;
  for (let p = 0; p < pages; p++) {
    const page = first + p;
    const base = p * pageSize;
    if (words) {
      const tag = ((region + 1) & 0xff) | ((page & 0xff) << 8) | (((page >> 8) & 0xff) << 16);
      for (let j = 0, w = base >> 2; j < block >> 2; j++, w++) words[w] = tag | ((j & 0xff) << 24);
    } else {
      for (let i = 0; i < block; i += 4) {
        out[base + i] = region + 1;
        out[base + i + 1] = page & 0xff;
        out[base + i + 2] = (page >> 8) & 0xff;
        out[base + i + 3] = (i >> 2) & 0xff;
      }
    }
    for (let at = block; at < pageSize; at *= 2)
      out.copyWithin(base + at, base, base + Math.min(at, pageSize - at));
  }
  return out;
};

/**
 * The page frame the page table of `task` maps at `addr` (a huge PMD's subpage too), or -1 when
 * nothing is present there, or the task has no address space any more (it died: a workload's
 * process the OOM killer chose, or one killed by its fault's signal). A walk of the tables, no
 * fault: nothing changes.
 *
 * @category Oracle
 */
export const pfnAt = (task: Task, addr: number): number => {
  const vma = task.mm?.findVma(addr);
  if (!vma) return -1;
  const pte = folioWalkEntry(task.kernel, vma, (addr - vma.start) / task.kernel.mem.pageSize);
  return ptePresent(pte) ? ptePfn(pte) : -1;
};
