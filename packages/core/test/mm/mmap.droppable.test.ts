// MAP_DROPPABLE as Linux 6.16 has it on x86-64 (VM_DROPPABLE, bit 40 of vm_flags): do_mmap()'s
// rules (mm/mmap.c), folio_add_new_anon_rmap() leaving the folios not swap-backed and
// try_to_unmap_one()'s discard of them, dirty or not (mm/rmap.c), shrink_folio_list() freeing
// them without swap (mm/vmscan.c), dup_mmap()'s VM_WIPEONFORK (kernel/fork.c) and mlock_fixup()
// leaving the VMA unlocked (mm/mlock.c). The reclaim test is tools/testing/selftests/mm/
// droppable.c: fill a droppable mapping, let a forked child allocate until the parent sees a
// page of it read back as zeroes.
import { describe, expect, it } from "vitest";
import {
  isHwpoisonEntry,
  LRU_INACTIVE_FILE,
  MAP_ANONYMOUS,
  MAP_DROPPABLE,
  MAP_FIXED,
  MAP_GROWSDOWN,
  MAP_LOCKED,
  MAP_PRIVATE,
  MPOL_MF_MOVE,
  PG_dirty,
  PG_lru,
  PG_swapbacked,
  putbackMovablePages,
  reclaimCleanPagesFromList,
  type TraceEvent,
  VM_DONTDUMP,
  VM_LOCKED,
  VM_NORESERVE,
  VM_READ,
  VM_WIPEONFORK,
  VM_WRITE,
} from "../../src/index";
import {
  boot,
  expectConsistent,
  expectErrno,
  expectSignal,
  folioAt,
  isolateRange,
  pteAt,
  run,
  runP,
} from "../../src/testing/index";

const PAGE = 4096;
/** droppable.c maps with exactly these flags: no MAP_PRIVATE, the type is MAP_DROPPABLE. */
const DROPPABLE = MAP_ANONYMOUS | MAP_DROPPABLE;
const fill = (bytes: number, value: number) => new Uint8Array(bytes).fill(value);

describe("mmap(MAP_DROPPABLE): do_mmap() (mm/mmap.c, Linux 6.16)", () => {
  it("makes a private VM_DROPPABLE VMA with VM_NORESERVE, VM_WIPEONFORK and VM_DONTDUMP", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4 * PAGE, { flags: DROPPABLE }));
    const vma = p.mm!.findVma(addr)!;
    expect(vma.droppable).toBe(true);
    expect(vma.flags).toBe(VM_READ | VM_WRITE | VM_NORESERVE | VM_WIPEONFORK | VM_DONTDUMP);
    expect(vma.mapping).toBeNull();
  });

  it("EINVAL with MAP_LOCKED or MAP_GROWSDOWN (a locked or stack area makes no sense droppable)", () => {
    const k = boot();
    const p = run(k.createProcess());
    expectErrno(p.mmap(PAGE, { flags: DROPPABLE | MAP_LOCKED }), "EINVAL");
    expectErrno(p.mmap(PAGE, { flags: DROPPABLE | MAP_GROWSDOWN }), "EINVAL");
    expect(p.mm!.vmas).toHaveLength(0);
  });

  it("charges no commit (VM_NORESERVE): larger than RAM is mapped where a private writable mapping is ENOMEM", () => {
    const k = boot({ nodes: ["64M"] });
    const p = run(k.createProcess());
    const big = 2 * 64 * 2 ** 20;
    expectErrno(p.mmap(big, { flags: MAP_PRIVATE | MAP_ANONYMOUS }), "ENOMEM");
    const addr = run(p.mmap(big, { flags: DROPPABLE }));
    expect(p.mm!.findVma(addr)!.end - addr).toBe(big);
  });

  it("its folios are not swap-backed and go on the file LRU (folio_add_new_anon_rmap())", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(PAGE, { flags: DROPPABLE, hugepage: false }));
    const files = k.lru.size(p.nid, LRU_INACTIVE_FILE);
    run(p.write(addr, fill(PAGE, 0x41)));
    const folio = folioAt(p, addr);
    expect(folio.anon).toBe(true);
    expect(folio.flags & PG_swapbacked).toBe(0);
    expect(folio.flags & PG_lru).toBe(PG_lru);
    expect(k.lru.size(folio.nid, LRU_INACTIVE_FILE)).toBe(files + 1);
    // An ordinary private page stays swap-backed, on the anon list.
    const other = run(p.mmap(PAGE, { hugepage: false }));
    run(p.write(other, fill(PAGE, 1)));
    expect(folioAt(p, other).flags & PG_swapbacked).toBe(PG_swapbacked);
  });

  it("two adjacent droppable mappings merge; a droppable one never joins an ordinary one", () => {
    const k = boot();
    const p = run(k.createProcess());
    const base = 0x2000_0000;
    run(p.mmap(PAGE, { addr: base, flags: MAP_FIXED | DROPPABLE }));
    run(p.mmap(PAGE, { addr: base + PAGE, flags: MAP_FIXED | DROPPABLE }));
    expect(p.mm!.vmas.map((v) => [v.start, v.end])).toEqual([[base, base + 2 * PAGE]]);
    run(p.mmap(PAGE, { addr: base + 2 * PAGE, flags: MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS }));
    expect(p.mm!.vmas).toHaveLength(2);
  });

  it("a fork child's copy is wiped (VM_WIPEONFORK): it reads zeroes, the parent keeps its bytes", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4 * PAGE, { flags: DROPPABLE, hugepage: false }));
    run(p.write(addr, fill(4 * PAGE, 0x41)));
    const child = run(p.fork());
    const copy = child.mm!.findVma(addr)!;
    expect([copy.droppable, copy.anonVma, copy.flags & VM_WIPEONFORK]).toEqual([
      true,
      null,
      VM_WIPEONFORK,
    ]);
    expect(run(child.read(addr, 4 * PAGE)).every((b) => b === 0)).toBe(true);
    run(child.write(addr, fill(PAGE, 0x42)));
    expect(run(p.read(addr, 4 * PAGE)).every((b) => b === 0x41)).toBe(true);
    expectConsistent(k);
  });

  it("mlock() leaves it unlocked (mlock_fixup()): no VM_LOCKED, nothing mlocked", async () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4 * PAGE, { flags: DROPPABLE, hugepage: false }));
    const before = k.vmstat.get("nr_mlock");
    await runP(p.mlock(addr, 4 * PAGE));
    expect(p.mm!.findVma(addr)!.flags & VM_LOCKED).toBe(0);
    expect(k.vmstat.get("nr_mlock")).toBe(before);
    expect(folioAt(p, addr).mlocked).toBe(false);
  });
});

describe("reclaim drops droppable pages without swap (selftests/mm/droppable.c)", () => {
  for (const hugepage of [false, true]) {
    it(`a forked child's allocations make a page of the parent's ${hugepage ? "THP-backed " : ""}mapping read zeroes; no OOM kill`, async () => {
      // One 16 MiB node, no swap: anonymous memory cannot be reclaimed, droppable memory can.
      const k = boot({ nodes: ["16M"], thp: { enabled: "madvise" } });
      const p = run(k.createProcess({ name: "parent" }));
      const size = 8 * 2 ** 20; // droppable.c maps 128 MiB of a larger machine
      const alloc = run(p.mmap(size, { flags: DROPPABLE, hugepage }));
      await runP(p.write(alloc, fill(size, 0x41)));
      expect(folioAt(p, alloc).nrPages).toBe(hugepage ? 512 : 1);
      const firsts = async () => {
        const out: number[] = [];
        for (let at = alloc; at < alloc + size; at += PAGE) out.push(run(p.read(at, 1))[0]!);
        return out;
      };
      expect((await firsts()).every((b) => b === 0x41)).toBe(true);
      const oomBefore = k.vmstat.get("oom_kill");
      const child = run(p.fork());
      // The child allocates page after page (`*(char *)malloc(page_size) = 'B'` in a loop) until
      // the parent finds a page dropped.
      let dropped = false;
      for (let round = 0; round < 64 && !dropped; round++) {
        const more = run(child.mmap(64 * PAGE, { hugepage: false }));
        await runP(child.write(more, fill(64 * PAGE, 0x42)));
        dropped = (await firsts()).includes(0);
      }
      expect(dropped).toBe(true);
      expect(k.vmstat.get("oom_kill")).toBe(oomBefore);
      expect([p.exited, child.exited]).toEqual([false, false]);
      // A dropped page's next touch faults in a zeroed page; the rest still read 'A'.
      const bytes = run(p.read(alloc, size));
      for (let at = 0; at < size; at += PAGE) {
        const page = bytes.subarray(at, at + PAGE);
        expect(page.every((b) => b === 0) || page.every((b) => b === 0x41)).toBe(true);
      }
      expectConsistent(k);
    });
  }

  it("a folio someone else holds a reference to stays mapped (try_to_unmap_one(): ref_count != 1 + map_count)", async () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4 * PAGE, { flags: DROPPABLE, hugepage: false }));
    await runP(p.write(addr, fill(4 * PAGE, 0x41)));
    const pinned = folioAt(p, addr + PAGE).pfn;
    k.memmap.refcount[pinned]!++; // a reference beyond the mapping and the isolation: a pin
    // Their PTEs are dirty, their folios not yet: reclaim_clean_pages_from_list() takes them all.
    const list = isolateRange(p, addr, 4 * PAGE);
    await runP(reclaimCleanPagesFromList(k, 0, list));
    putbackMovablePages(k, list);
    expect(folioAt(p, addr + PAGE).pfn).toBe(pinned);
    const bytes = run(p.read(addr, 4 * PAGE));
    expect([0, 1, 2, 3].map((i) => bytes[i * PAGE])).toEqual([0, 0x41, 0, 0]);
    k.memmap.refcount[pinned]!--;
    expectConsistent(k);
  });
});

// A droppable folio is an anonymous folio that is not swap-backed: migration keeps it so
// (__folio_migrate_mapping() sets PG_swapbacked on the new folio only when the old one had it),
// and memory_failure() handles it as any dirty anonymous page.
describe("migration and memory failure of droppable folios", () => {
  for (const hugepage of [false, true]) {
    it(`move_pages() of a ${hugepage ? "PMD THP" : "page"} keeps it droppable on the new node's file LRU, dirty, so reclaim_clean_pages_from_list() leaves it`, async () => {
      const k = boot({ thp: { enabled: "madvise" } });
      const p = run(k.createProcess());
      const size = hugepage ? 2 ** 21 : 4 * PAGE;
      const nr = hugepage ? 512 : 1;
      const addr = run(p.mmap(size, { flags: DROPPABLE, hugepage }));
      await runP(p.write(addr, fill(size, 0x41)));
      const files = k.lru.size(1, LRU_INACTIVE_FILE);
      const { status } = await runP(p.movePages(0, [addr], [1], MPOL_MF_MOVE));
      expect(status[0]).toBe(1);
      const moved = folioAt(p, addr);
      expect([moved.nid, moved.nrPages, moved.anon]).toEqual([1, nr, true]);
      expect(moved.flags & (PG_swapbacked | PG_lru)).toBe(PG_lru);
      expect(k.lru.size(1, LRU_INACTIVE_FILE)).toBe(files + nr);
      // try_to_migrate_one() moved the PTE's dirty bit to the folio; folio_migrate_flags() kept it.
      expect(moved.flags & PG_dirty).toBe(PG_dirty);
      expectConsistent(k);
      // reclaim_clean_pages_from_list() takes no dirty folio; the pages not moved have only
      // dirty PTEs, so it takes and drops them.
      const list = isolateRange(p, addr, size);
      await runP(reclaimCleanPagesFromList(k, 0, list));
      putbackMovablePages(k, list);
      expect(folioAt(p, addr).pfn).toBe(moved.pfn);
      const bytes = run(p.read(addr, size));
      expect(bytes.subarray(0, hugepage ? size : PAGE).every((b) => b === 0x41)).toBe(true);
      if (!hugepage) expect(bytes.subarray(PAGE).every((b) => b === 0)).toBe(true);
      expectConsistent(k);
    });
  }

  it("memory_failure() of a droppable page: MF_MSG_DIRTY_LRU, MF_RECOVERED, a hwpoison entry (hwpoison_user_mappings())", () => {
    const k = boot();
    const seen: TraceEvent[] = [];
    k.trace.subscribe((e) => {
      if (e.event === "memory_failure_event") seen.push(e);
    });
    const p = run(k.createProcess());
    const addr = run(p.mmap(4 * PAGE, { flags: DROPPABLE, hugepage: false }));
    run(p.write(addr, fill(4 * PAGE, 0x41)));
    const pfn = folioAt(p, addr + PAGE).pfn;
    run(k.memoryFailure(pfn));
    expect(seen).toEqual([
      { event: "memory_failure_event", pfn, type: "MF_MSG_DIRTY_LRU", result: "MF_RECOVERED" },
    ]);
    expect(isHwpoisonEntry(pteAt(p, addr + PAGE))).toBe(true);
    expect(run(p.read(addr, PAGE)).every((b) => b === 0x41)).toBe(true);
    expectSignal(p.read(addr + PAGE, 1), "SIGBUS", "BUS_MCEERR_AR");
    expectConsistent(k);
  });
});
