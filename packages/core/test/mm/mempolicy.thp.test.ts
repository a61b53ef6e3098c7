// alloc_pages_mpol() (mm/mempolicy.c, Linux 6.16): a PMD-sized folio at a VMA or shmem index,
// under a policy that is not interleave and allows the node it prefers, is first allocated on
// that node alone (__GFP_THISNODE | __GFP_NORETRY); only an allocation that may reclaim directly
// (GFP_TRANSHUGE: MADV_HUGEPAGE under defrag=madvise) then tries the other nodes.
import { describe, expect, it } from "vitest";
import type { Kernel, Task } from "../../src/include/kernel";
import {
  __GFP_DIRECT_RECLAIM,
  __GFP_NORETRY,
  __GFP_THISNODE,
  allocPagesMpolRequests,
  GFP_TRANSHUGE,
  GFP_TRANSHUGE_LIGHT,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  MPOL_BIND,
  MPOL_DEFAULT,
  MPOL_INTERLEAVE,
  MPOL_MF_MOVE,
  MPOL_PREFERRED,
  NO_INTERLEAVE_INDEX,
} from "../../src/index";
import { boot, expectConsistent, folioAt, run, runP } from "../../src/testing/index";

const MiB = 2 ** 20;
const THP = "/sys/kernel/mm/transparent_hugepage";

const delta = (k: Kernel) => {
  const before = k.vmstat.snapshot();
  return (item: string) => k.vmstat.get(item) - before[item]!;
};

/** A 2 MiB-aligned address in a new 4 MiB anonymous mapping of `p`. */
const alignedRange = (p: Task, hugepage: boolean, shared = false): number => {
  const flags = (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS;
  const addr = run(p.mmap(4 * MiB, hugepage ? { flags, hugepage } : { flags }));
  return Math.ceil(addr / (2 * MiB)) * 2 * MiB;
};

/** A kernel with THP always on whose node 0 has no free order-9 block (unmovable order-8 holes). */
const fragmentedNode0 = () => {
  const k = boot({ thp: { enabled: "always" } });
  const frag = k.pageAlloc.fragment(0, 8);
  expect(k.pageAlloc.largestFreeOrder(0)).toBeLessThan(9);
  expect(k.pageAlloc.largestFreeOrder(1)).toBeGreaterThanOrEqual(9);
  return { k, frag };
};

describe("alloc_pages_mpol(): a PMD THP tries the local node first (mm/mempolicy.c, Linux 6.16)", () => {
  it("plans __GFP_THISNODE | __GFP_NORETRY on the policy's node, then the normal allocation only with __GFP_DIRECT_RECLAIM", () => {
    const dist = (a: number, b: number) => (a === b ? 10 : 20);
    const light = allocPagesMpolRequests(null, 0, 0, 9, GFP_TRANSHUGE_LIGHT, dist, 9);
    expect(light).toEqual([
      {
        nid: 0,
        order: 9,
        gfp: GFP_TRANSHUGE_LIGHT | __GFP_THISNODE | __GFP_NORETRY,
        nodemask: null,
      },
    ]);
    const full = allocPagesMpolRequests(null, 0, 0, 9, GFP_TRANSHUGE, dist, 9);
    expect(full.map((r) => [r.nid, r.gfp, r.nodemask])).toEqual([
      [0, GFP_TRANSHUGE | __GFP_THISNODE | __GFP_NORETRY, null],
      [0, GFP_TRANSHUGE, null],
    ]);
    expect(full[1]!.gfp & __GFP_DIRECT_RECLAIM).toBe(__GFP_DIRECT_RECLAIM);
    // MPOL_PREFERRED: the preferred node is the one tried alone.
    const pref = allocPagesMpolRequests(
      { mode: MPOL_PREFERRED, nodes: [1] },
      0,
      0,
      9,
      GFP_TRANSHUGE_LIGHT,
      dist,
      9,
    );
    expect(pref.map((r) => r.nid)).toEqual([1]);
    // Not a PMD order, alloc_pages() (NO_INTERLEAVE_INDEX), interleave, or a bind mask without
    // the local node: the normal allocation alone.
    for (const [policy, ilx, order] of [
      [null, 0, 4],
      [null, NO_INTERLEAVE_INDEX, 9],
      [{ mode: MPOL_INTERLEAVE, nodes: [0, 1] }, 0, 9],
      [{ mode: MPOL_BIND, nodes: [1] }, 0, 9],
    ] as const) {
      const reqs = allocPagesMpolRequests(policy, 0, ilx, order, GFP_TRANSHUGE_LIGHT, dist, 9);
      expect(reqs).toHaveLength(1);
      expect(reqs[0]!.gfp).toBe(GFP_TRANSHUGE_LIGHT);
    }
  });

  it("without MADV_HUGEPAGE (GFP_TRANSHUGE_LIGHT) a fault on a fragmented node falls back to a base page there", () => {
    const { k, frag } = fragmentedNode0();
    const p = run(k.createProcess({ node: 0 }));
    const addr = alignedRange(p, false);
    const d = delta(k);
    run(p.write(addr, new Uint8Array(4096).fill(1)));
    expect(d("thp_fault_alloc")).toBe(0);
    expect(d("thp_fault_fallback")).toBe(1);
    expect(d("compact_stall")).toBe(0);
    const f = folioAt(p, addr);
    expect(f.order).toBe(0);
    expect(f.nid).toBe(0);
    frag.release();
    expectConsistent(k);
  });

  // __GFP_THISNODE | __GFP_NORETRY on node 0: async compaction, direct reclaim, async compaction
  // again, each compaction a stall that failed. Then the normal allocation: its first tries find
  // node 1's free block; when node 1 has none either, its slow path runs over both nodes (async,
  // reclaim, sync-light) and the fault falls back to a base page on node 0.
  it.each([
    ["node 0 is compacted first, then node 1 gives the THP", [0], 2, 1, 1, [9, 1]],
    [
      "no node has a block: the normal slow path runs too, then it falls back",
      [0, 1],
      4,
      2,
      0,
      [0, 0],
    ],
  ] as const)(
    "with MADV_HUGEPAGE (GFP_TRANSHUGE): %s",
    async (_, fragmented, stalls, reclaims, thp, where) => {
      const k = boot({ thp: { enabled: "always" } });
      const frags = fragmented.map((nid) => k.pageAlloc.fragment(nid, 8));
      // Let compaction run on a node the fragmentation index calls short of memory.
      run(k.fs.write("/proc/sys/vm/extfrag_threshold", "0"));
      const p = run(k.createProcess({ node: 0 }));
      const addr = alignedRange(p, true);
      const d = delta(k);
      await runP(p.write(addr, new Uint8Array(4096).fill(2)));
      expect(d("compact_stall")).toBe(stalls);
      expect(d("compact_fail")).toBe(stalls);
      expect(d("compact_success")).toBe(0);
      expect(d("allocstall_normal")).toBe(reclaims);
      expect(d("thp_fault_alloc")).toBe(thp);
      expect(d("thp_fault_fallback")).toBe(1 - thp);
      const f = folioAt(p, addr);
      expect([f.order, f.nid]).toEqual(where);
      for (const frag of frags) frag.release();
      expectConsistent(k);
    },
  );

  it("MPOL_INTERLEAVE makes no local-first try: the THP comes from the next node", () => {
    const { k, frag } = fragmentedNode0();
    const p = run(k.createProcess({ node: 0 }));
    run(p.setMempolicy(MPOL_INTERLEAVE, [0]));
    const addr = alignedRange(p, false);
    const d = delta(k);
    run(p.write(addr, new Uint8Array(4096).fill(4)));
    expect(d("thp_fault_alloc")).toBe(1);
    expect(d("thp_fault_fallback")).toBe(0);
    const f = folioAt(p, addr);
    expect(f.order).toBe(9);
    expect(f.nid).toBe(1);
    frag.release();
    expectConsistent(k);
  });

  it("MPOL_BIND without the local node makes no local-first try; with it, the fault stays on the local node", () => {
    const { k, frag } = fragmentedNode0();
    const p = run(k.createProcess({ node: 0 }));
    run(p.setMempolicy(MPOL_BIND, [1]));
    const remote = alignedRange(p, false);
    const d = delta(k);
    run(p.write(remote, new Uint8Array(4096).fill(5)));
    expect(d("thp_fault_alloc")).toBe(1);
    expect(folioAt(p, remote).nid).toBe(1);
    // Node 0 bound too: node 0 alone first, and without __GFP_DIRECT_RECLAIM that is all.
    run(p.setMempolicy(MPOL_BIND, [0, 1]));
    const local = alignedRange(p, false);
    run(p.write(local, new Uint8Array(4096).fill(6)));
    expect(d("thp_fault_alloc")).toBe(1);
    expect(d("thp_fault_fallback")).toBe(1);
    const f = folioAt(p, local);
    expect(f.order).toBe(0);
    expect(f.nid).toBe(0);
    frag.release();
    expectConsistent(k);
  });

  it("with a free block on the local node the THP is local, as before", () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess({ node: 0 }));
    const addr = alignedRange(p, false);
    const d = delta(k);
    run(p.write(addr, new Uint8Array(4096).fill(7)));
    expect(d("thp_fault_alloc")).toBe(1);
    expect(d("compact_stall")).toBe(0);
    const f = folioAt(p, addr);
    expect(f.order).toBe(9);
    expect(f.nid).toBe(0);
    expectConsistent(k);
  });

  it("shmem_alloc_folio() goes through it too: a shmem THP falls back on the fragmented local node", () => {
    const { k, frag } = fragmentedNode0();
    run(k.fs.write(`${THP}/shmem_enabled`, "always"));
    const p = run(k.createProcess({ node: 0 }));
    const addr = alignedRange(p, false, true);
    const d = delta(k);
    run(p.write(addr, new Uint8Array(4096).fill(8)));
    expect(d("thp_file_alloc")).toBe(0);
    expect(d("thp_file_fallback")).toBe(1);
    const f = folioAt(p, addr);
    expect(f.order).toBe(0);
    expect(f.nid).toBe(0);
    frag.release();
    expectConsistent(k);
  });
  it("a shmem THP with MADV_HUGEPAGE takes the slow path as an anonymous one does: node 0 compacted first, then node 1", async () => {
    const { k, frag } = fragmentedNode0();
    run(k.fs.write(`${THP}/shmem_enabled`, "always"));
    run(k.fs.write("/proc/sys/vm/extfrag_threshold", "0"));
    const p = run(k.createProcess({ node: 0 }));
    const addr = alignedRange(p, true, true);
    const d = delta(k);
    // shmem_alloc_folio() with vma_thp_gfp_mask()'s GFP_TRANSHUGE: __GFP_THISNODE |
    // __GFP_NORETRY on node 0 (async compaction, direct reclaim, async compaction), then the normal
    // allocation's first tries take node 1's block.
    await runP(p.write(addr, new Uint8Array(4096).fill(8)));
    expect(d("compact_stall")).toBe(2);
    expect(d("compact_fail")).toBe(2);
    expect(d("allocstall_normal")).toBe(1);
    expect(d("thp_file_alloc")).toBe(1);
    expect(d("thp_file_fallback")).toBe(0);
    const f = folioAt(p, addr);
    expect([f.order, f.nid]).toEqual([9, 1]);
    frag.release();
    expectConsistent(k);
  });

  it("alloc_migration_target_by_mpol() goes through it too: mbind() compacts the preferred node alone first, then takes node 1", async () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess({ node: 0 }));
    run(p.setMempolicy(MPOL_BIND, [1]));
    const addr = alignedRange(p, false);
    run(p.write(addr, new Uint8Array(4096).fill(9)));
    const src = folioAt(p, addr);
    expect([src.order, src.nid]).toEqual([9, 1]);
    run(p.setMempolicy(MPOL_DEFAULT, []));
    const frag = k.pageAlloc.fragment(0, 8);
    run(k.fs.write("/proc/sys/vm/extfrag_threshold", "0"));
    const d = delta(k);
    // GFP_TRANSHUGE: node 0 alone (__GFP_THISNODE | __GFP_NORETRY: async compaction, reclaim,
    // async compaction), then the normal allocation's first tries take a block of node 1.
    await runP(p.mbind(addr, 2 * MiB, MPOL_PREFERRED, [0], MPOL_MF_MOVE));
    expect(d("compact_stall")).toBe(2);
    expect(d("compact_fail")).toBe(2);
    expect(d("allocstall_normal")).toBe(1);
    expect(d("thp_migration_success")).toBe(1);
    const dst = folioAt(p, addr);
    expect(dst.pfn).not.toBe(src.pfn);
    expect([dst.order, dst.nid]).toEqual([9, 1]);
    expect([...run(p.read(addr, 4096))].every((b) => b === 9)).toBe(true);
    frag.release();
    expectConsistent(k);
  });
});
