import { describe, expect, it } from "vitest";
import { PROT_READ } from "../../src/index";
import { boot, checkKernelConsistency, folioAt, run } from "../../src/testing/index";

const MiB = 2 ** 20;

/**
 * The whole-kernel sweep the conformance oracle runs after every case: the assertions of
 * CONFIG_DEBUG_VM (mm/debug.c) and the page-table checker (mm/page_table_check.c). Each check is
 * shown to pass on a consistent kernel and to name the one page that breaks it.
 */
describe("checkKernelConsistency (CONFIG_DEBUG_VM, mm/page_table_check.c)", () => {
  /**
   * A PMD-sized THP (512 pages of 4 KiB) mapped by PTEs (an mprotect() of its first half split the
   * huge PMD, `__split_huge_pmd()`) in a process and its forked child.
   */
  const sharedThp = () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = Math.ceil(run(p.mmap(4 * MiB)) / (2 * MiB)) * 2 * MiB;
    run(p.write(addr, new Uint8Array(2 * MiB).fill(5)));
    run(p.mprotect(addr, MiB, PROT_READ));
    const child = run(p.fork());
    const head = folioAt(p, addr).pfn;
    expect(k.memmap.folioNrPages(head)).toBe(512);
    return { k, p, child, addr, head };
  };

  it("finds every PTE of a THP mapped in two processes through the reverse map (rmap_walk())", () => {
    const { k } = sharedThp();
    expect(checkKernelConsistency(k)).toEqual([]);
  });

  it("names the PTE the reverse map cannot reach when the folio's index is off by one page", () => {
    const { k, p, child, addr, head } = sharedThp();
    // The anon_vma walk now covers pages 1..512 of the VMA's range: the head's PTE falls out of
    // it in both processes, and every other PTE is still found.
    k.memmap.index[head]! += 1;
    const lost = checkKernelConsistency(k).filter((l) => l.includes("reverse map cannot find"));
    expect(lost.sort()).toEqual(
      [
        `pid ${p.pid} addr 0x${addr.toString(16)}: pfn ${head} is mapped but the reverse map cannot find it`,
        `pid ${child.pid} addr 0x${addr.toString(16)}: pfn ${head} is mapped but the reverse map cannot find it`,
      ].sort(),
    );
    k.memmap.index[head]! -= 1;
    expect(checkKernelConsistency(k)).toEqual([]);
  });

  it("names a page whose _mapcount disagrees with the PTEs that map it, and a free page that is mapped", () => {
    const { k, head } = sharedThp();
    k.memmap.mapcount[head + 3]!++;
    expect(checkKernelConsistency(k)).toEqual([`pfn ${head + 3}: mapcount 3 but 2 PTEs map it`]);
    k.memmap.mapcount[head + 3]!--;
    const lists = k.pageAlloc.zones[1]!.freeArea.flat();
    const pfn = lists.find((list) => list.first >= 0)!.first;
    k.memmap.mapcount[pfn]! = 1;
    expect(checkKernelConsistency(k)).toEqual([`free pfn ${pfn} is mapped`]);
  });
});
