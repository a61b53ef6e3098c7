// Compaction's page capture (Linux 6.16): compact_zone_order() (mm/compaction.c) puts a struct
// capture_control on the compacting task (current->capture_control); __free_one_page()
// (mm/page_alloc.c) hands a block of the order freed by that task in that zone to it
// (task_capc(), compaction_capture()); compact_zone() stops with COMPACT_SUCCESS once capc->page
// is set; __alloc_pages_direct_compact() takes the captured page first (prep_new_page()).
// kcompactd, compact_node() and proactive compaction run compact_zone(cc, NULL).
import { Effect, Exit } from "effect";
import { TestClock } from "effect/testing";
import { describe, expect, it } from "vitest";
import {
  __GFP_COMP,
  __GFP_THISNODE,
  ALLOC_NO_WATERMARKS,
  ALLOC_WMARK_MIN,
  type AllocContext,
  allocPagesDirectCompact,
  CompactPriority,
  CompactResult,
  compactNode,
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
  type Kernel,
  MIGRATE_MOVABLE,
  MIGRATE_UNMOVABLE,
  type TraceEvent,
} from "../../src/index";
import {
  boot,
  bootNoProactive,
  expectConsistent,
  fragmentNode,
  run,
  runP,
  waitUntil,
} from "../../src/testing/index";

const MOVABLE = GFP_HIGHUSER_MOVABLE | __GFP_COMP;

const record = (k: Kernel): TraceEvent[] => {
  const events: TraceEvent[] = [];
  k.trace.subscribe((e) => events.push(e));
  return events;
};

const delta = (k: Kernel) => {
  const before = k.vmstat.snapshot();
  return (item: string) => k.vmstat.get(item) - before[item]!;
};

/** One direct compaction on node 1 alone, by `current`, as the slow path runs it. */
const direct = (
  k: Kernel,
  gfp: number,
  order: number,
  prio: CompactPriority,
  current: AllocContext | null,
) => runP(allocPagesDirectCompact(k, gfp, order, 1, [1], prio, current, ALLOC_WMARK_MIN));

/**
 * When node 1's compaction ends (`mm_compaction_end`, still inside `compact_zone()`), another
 * task takes every free block of `order` on the node, as one running on another CPU may between
 * compaction and the caller's allocation. Returns the blocks it took.
 */
const stealAtEnd = (k: Kernel, order: number): number[] => {
  const stolen: number[] = [];
  k.trace.subscribe((e) => {
    if (e.event !== "mm_compaction_end" || e.nid !== 1) return;
    for (;;) {
      const pfn = k.pageAlloc.getPageFromFreelist(1, order, MOVABLE, ALLOC_NO_WATERMARKS, [1]);
      if (pfn < 0) break;
      stolen.push(pfn);
    }
  });
  return stolen;
};

describe("direct compaction captures the block its migrations free (compaction_capture())", () => {
  // fragmentNode(): node 1 in single pages, a GFP_KERNEL page every 256; the pageblocks without
  // one can be emptied. The task's own migrations free their sources in its context, so the
  // last one to empty a movable pageblock hands the order-9 block to it: MIGRATE_MOVABLE for a
  // movable request, so no extfrag event.
  it("a task's direct compaction gets the pageblock its migration emptied, and no other task can take it first", async () => {
    const k = bootNoProactive();
    const frag = await runP(fragmentNode(k, { nid: 1, unmovableEvery: 256 }));
    const proc = await runP(k.createProcess({ node: 1 }));
    const events = record(k);
    const stolen = stealAtEnd(k, 9);
    const d = delta(k);
    const { page, result } = await direct(k, MOVABLE, 9, CompactPriority.ASYNC, proc);
    expect(result).toBe(CompactResult.SUCCESS);
    expect(page).toBeGreaterThanOrEqual(0);
    expect(page % 512).toBe(0);
    expect(k.mem.pfnToNid(page)).toBe(1);
    expect(stolen).not.toContain(page);
    // compact_zone() stopped on capc->page: COMPACT_SUCCESS at mm_compaction_end, after a
    // compact_finished() that said go on.
    const end = events.filter((e) => e.event === "mm_compaction_end");
    expect(end).toHaveLength(1);
    expect(end[0]).toMatchObject({ status: "success" });
    expect(events.filter((e) => e.event === "mm_compaction_finished").at(-1)).toMatchObject({
      ret: "continue",
    });
    expect(events.some((e) => e.event === "mm_page_alloc_extfrag")).toBe(false);
    // COMPACTSTALL and COMPACTSUCCESS; the captured page came from no free list (rmqueue() never
    // ran for it): only what the other task took counts as pgalloc_normal.
    expect([d("compact_stall"), d("compact_success"), d("compact_fail")]).toEqual([1, 1, 0]);
    expect(d("pgalloc_normal")).toBe(stolen.length * 512);
    expect(k.memmap.refcount[page]).toBe(1);
    k.folioPut(k.folio(page));
    for (const pfn of stolen) k.folioPut(k.folio(pfn));
    expect(await runP(frag.intact())).toBe(true);
    await runP(frag.release());
    expectConsistent(k);
  });

  // task_capc(): !(current->flags & PF_KTHREAD). A kernel thread compacting directly leaves the
  // block on the free list, where __compact_finished() finds it (COMPACT_SUCCESS) and the other
  // task takes it before get_page_from_freelist() looks: compact_fail.
  it("a kernel thread's direct compaction captures nothing: the block it frees goes to the free list, and the other task takes it", async () => {
    for (const kthread of [null, "kworker"] as const) {
      const k = bootNoProactive();
      const frag = await runP(fragmentNode(k, { nid: 1, unmovableEvery: 256 }));
      const current = kthread ? await runP(k.createKernelThread(kthread)) : null;
      const events = record(k);
      const stolen = stealAtEnd(k, 9);
      const d = delta(k);
      const { page, result } = await direct(k, MOVABLE, 9, CompactPriority.ASYNC, current);
      expect(result).toBe(CompactResult.SUCCESS);
      expect(page).toBe(-1);
      expect(stolen.length).toBeGreaterThan(0);
      expect(events.filter((e) => e.event === "mm_compaction_finished").at(-1)).toMatchObject({
        ret: "success",
      });
      expect([d("compact_stall"), d("compact_success"), d("compact_fail")]).toEqual([1, 0, 1]);
      for (const pfn of stolen) k.folioPut(k.folio(pfn));
      await runP(frag.release());
      expectConsistent(k);
    }
  });
});

/**
 * Two 16 MiB nodes. Before node 1 is fragmented (every free block above order 3 taken and
 * pinned: compaction runs there and finds nothing to migrate), a task holds blocks it will free
 * while a compaction runs: an order-9 `GFP_KERNEL` block (an unmovable pageblock) on node 1, one
 * on node 0, and two order-8 buddies of a movable pageblock on node 1.
 */
const held = () => {
  // No daemon from boot: the kcompactd test starts it itself, and the others count what the
  // task's own compaction did.
  const k = boot({ nodes: ["16M", "16M"], daemons: "on-demand" });
  const pa = k.pageAlloc;
  const thisNode = (nid: number, order: number, gfp: number) =>
    pa.allocPages(nid, order, gfp | __GFP_COMP | __GFP_THISNODE, [nid]);
  const unmovable9 = thisNode(1, 9, GFP_KERNEL);
  const node0 = thisNode(0, 9, GFP_KERNEL);
  const movable8 = thisNode(1, 8, GFP_HIGHUSER_MOVABLE);
  const buddy8 = thisNode(1, 8, GFP_HIGHUSER_MOVABLE);
  const frag = run(k.fragment(1, 3));
  return { k, frag, unmovable9, node0, movable8, buddy8 };
};

/**
 * At node 1's next `mm_compaction_begin`, in the compacting task's own context, puts the folio
 * at `pfn` (its last reference).
 */
const freeAtBegin = (k: Kernel, pfn: number) => {
  let done = false;
  k.trace.subscribe((e) => {
    if (done || e.event !== "mm_compaction_begin" || e.nid !== 1) return;
    done = true;
    k.folioPut(k.folio(pfn));
  });
};

describe("what is captured: task_capc() and compaction_capture()", () => {
  it("the blocks are as the tests need them", () => {
    const { k, frag, unmovable9, node0, movable8, buddy8 } = held();
    const zone = k.pageAlloc.zones[1]!;
    expect(k.mem.pfnToNid(unmovable9)).toBe(1);
    expect(zone.pageblockMigratetype(unmovable9)).toBe(MIGRATE_UNMOVABLE);
    expect(k.mem.pfnToNid(node0)).toBe(0);
    expect(zone.pageblockMigratetype(movable8)).toBe(MIGRATE_MOVABLE);
    expect(movable8 ^ 256).toBe(buddy8);
    expect(k.pageAlloc.largestFreeOrder(1)).toBe(3);
    frag.release();
  });

  // compaction_capture(): the order is the compaction's and at pageblock_order the block's type
  // does not matter; an unmovable block for a movable request is traced as a fallback
  // (mm_page_alloc_extfrag, Linux 6.15+: change_ownership false, the block stays unmovable).
  // The run found nothing to migrate and ended COMPACT_PARTIAL_SKIPPED (node 1's
  // compact_init_migrate_pfn is a new zone's 0, so the run is not a whole-zone one), but
  // compact_zone_order()
  // returns COMPACT_SUCCESS for a captured page, and try_to_compact_pages() defers nothing.
  it("a block of the order freed in the zone by the compacting task is captured, whatever the run did", async () => {
    const { k, frag, unmovable9 } = held();
    const proc = await runP(k.createProcess({ node: 1 }));
    const events = record(k);
    freeAtBegin(k, unmovable9);
    const d = delta(k);
    const { page, result } = await direct(k, MOVABLE, 9, CompactPriority.SYNC_LIGHT, proc);
    expect([page, result]).toEqual([unmovable9, CompactResult.SUCCESS]);
    expect(events.find((e) => e.event === "mm_compaction_end")).toMatchObject({
      status: "partial_skipped",
    });
    expect(events.filter((e) => e.event === "mm_page_alloc_extfrag")).toEqual([
      {
        event: "mm_page_alloc_extfrag",
        pfn: unmovable9,
        allocOrder: 9,
        fallbackOrder: 9,
        allocMigratetype: MIGRATE_MOVABLE,
        fallbackMigratetype: MIGRATE_UNMOVABLE,
        changeOwnership: false,
      },
    ]);
    expect([d("compact_success"), d("compact_fail"), d("pgalloc_normal")]).toEqual([1, 0, 0]);
    expect(k.pageAlloc.zones[1]!.compactDeferShift).toBe(0);
    // The scanners met (compact_blockskip_flush set for kswapd), but the allocation got its page:
    // __alloc_pages_direct_compact() clears it again.
    expect(k.pageAlloc.zones[1]!.compactBlockskipFlush).toBe(false);
    k.folioPut(k.folio(page));
    frag.release();
    expectConsistent(k);
  });

  // current->capture_control is the task's own: a free another task makes meanwhile goes to the
  // free list, where __compact_finished() finds a block the allocation could take (a fallback:
  // COMPACT_SUCCESS), and the allocation takes it from there (rmqueue(): pgalloc_normal 512).
  it("a block another task frees meanwhile is not captured", async () => {
    const { k, frag, unmovable9 } = held();
    const proc = await runP(k.createProcess({ node: 1 }));
    const events = record(k);
    k.trace.subscribe((e) => {
      if (e.event === "mm_compaction_begin" && e.nid === 1) {
        Effect.runSync(Effect.sync(() => k.folioPut(k.folio(unmovable9))));
      }
    });
    const d = delta(k);
    const { page, result } = await direct(k, MOVABLE, 9, CompactPriority.SYNC_LIGHT, proc);
    expect([page, result]).toEqual([unmovable9, CompactResult.SUCCESS]);
    expect(events.find((e) => e.event === "mm_compaction_end")).toMatchObject({
      status: "success",
    });
    expect(d("pgalloc_normal")).toBe(512);
    k.folioPut(k.folio(page));
    frag.release();
    expectConsistent(k);
  });

  // Linux's compact_zone_order() cannot fail; the model's run can die (a defect) or be
  // interrupted, and then hands its capture to no one: the block goes back to the free lists.
  it("a run that dies after its capture gives the block back to the free lists", async () => {
    const { k, frag, unmovable9 } = held();
    const proc = await runP(k.createProcess({ node: 1 }));
    freeAtBegin(k, unmovable9);
    let thrown = false;
    k.trace.subscribe((e) => {
      if (thrown || e.event !== "mm_compaction_isolate_migratepages") return;
      thrown = true;
      throw new Error("the run dies");
    });
    const exit = await Effect.runPromiseExit(
      allocPagesDirectCompact(k, MOVABLE, 9, 1, [1], CompactPriority.SYNC_LIGHT, proc, 0),
    );
    expect([thrown, Exit.isFailure(exit)]).toEqual([true, true]);
    const list = k.pageAlloc.zones[1]!.freeArea[9]![MIGRATE_UNMOVABLE]!;
    expect([...list].includes(unmovable9)).toBe(true);
    frag.release();
    expectConsistent(k);
  });

  // task_capc(): capc->cc->zone == zone; compaction_capture(): order == capc->cc->order.
  it("a block of another zone, or of another order, is not captured", async () => {
    const { k, frag, node0, movable8 } = held();
    const proc = await runP(k.createProcess({ node: 1 }));
    const free9 = () => k.pageAlloc.zones[0]!.nrFree[9]!;
    const before = free9();
    freeAtBegin(k, node0);
    const other = await direct(k, MOVABLE, 9, CompactPriority.SYNC_LIGHT, proc);
    // Partly skipped: not a whole-zone run while node 1's compact_init_migrate_pfn is 0.
    expect([other.page, other.result]).toEqual([-1, CompactResult.PARTIAL_SKIPPED]);
    expect(free9()).toBe(before + 1);
    // The scanners met and no page came: kswapd is to clear the skip hints when it next sleeps.
    expect(k.pageAlloc.zones[1]!.compactBlockskipFlush).toBe(true);
    // The order-8 block cannot merge (its buddy is held): it stays order 8, not the 9 asked for.
    const d = delta(k);
    freeAtBegin(k, movable8);
    const wrongOrder = await direct(k, MOVABLE, 9, CompactPriority.SYNC_FULL, proc);
    expect([wrongOrder.page, wrongOrder.result]).toEqual([-1, CompactResult.COMPLETE]);
    expect(d("compact_fail")).toBe(1);
    expect([...k.pageAlloc.zones[1]!.freeArea[8]![MIGRATE_MOVABLE]!].includes(movable8)).toBe(true);
    frag.release();
    expectConsistent(k);
  });

  // compaction_capture(): below pageblock_order a movable pageblock's block goes only to a
  // movable request.
  it("below pageblock_order a movable block is captured for a movable request only", async () => {
    for (const [gfp, captured] of [
      [GFP_KERNEL | __GFP_COMP, false],
      [MOVABLE, true],
    ] as const) {
      const { k, frag, movable8 } = held();
      const proc = await runP(k.createProcess({ node: 1 }));
      freeAtBegin(k, movable8);
      const d = delta(k);
      const { page, result } = await direct(k, gfp, 8, CompactPriority.SYNC_FULL, proc);
      // Captured or not, the block is the allocation's: not captured, it went to the free list,
      // where __compact_finished() saw it (a fallback the unmovable request may take) and
      // get_page_from_freelist() took it (pgalloc_normal 256).
      expect([page, result]).toEqual([movable8, CompactResult.SUCCESS]);
      expect(d("pgalloc_normal")).toBe(captured ? 0 : 256);
      k.folioPut(k.folio(page));
      frag.release();
      expectConsistent(k);
    }
  });
});

describe("only direct compaction captures (compact_zone(cc, NULL) elsewhere)", () => {
  it("compact_node() and proactive compaction, even run by a task, leave a freed block on the free list", async () => {
    for (const proactive of [false, true]) {
      const { k, frag, unmovable9 } = held();
      freeAtBegin(k, unmovable9);
      await runP(compactNode(k, 1, proactive));
      expect([...k.pageAlloc.zones[1]!.freeArea[9]![MIGRATE_UNMOVABLE]!].includes(unmovable9)).toBe(
        true,
      );
      frag.release();
      expectConsistent(k);
    }
  });

  it("kcompactd leaves a block freed in its run on the free list", async () => {
    const { k, frag, unmovable9 } = held();
    freeAtBegin(k, unmovable9);
    await Effect.runPromise(
      Effect.gen(function* () {
        run(k.fs.write("/proc/sys/vm/compaction_proactiveness", "0"));
        yield* k.compaction.run();
        k.compaction.wakeup(1, 9);
        yield* waitUntil(() => k.vmstat.get("compact_daemon_wake") === 1);
        yield* waitUntil(() => k.pageAlloc.largestFreeOrder(1) === 9);
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expect([...k.pageAlloc.zones[1]!.freeArea[9]![MIGRATE_UNMOVABLE]!].includes(unmovable9)).toBe(
      true,
    );
    frag.release();
    await runP(k.shutdown());
    expectConsistent(k);
  });
});
