/**
 * movable_ops pages through migrate_pages(): mm/migrate.c (isolate_movable_ops_page,
 * migrate_folio_unmap / migrate_folio_move's movable_ops branch, migrate_movable_ops_page,
 * putback_movable_ops_page) with the balloon's movable_operations of mm/balloon.c (Linux 7.0).
 */
import { Effect } from "effect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type BatchCopier,
  balloonDevinfoInit,
  balloonInit,
  balloonPageAlloc,
  balloonPageDequeue,
  balloonPageEnqueue,
  ERRNO,
  folioPut,
  isolateFolioToList,
  isolateMovableOpsPage,
  type Kernel,
  MIGRATE_ASYNC,
  MIGRATE_SYNC,
  MIGRATE_SYNC_LIGHT,
  type MigrateMode,
  MR_COMPACTION,
  MR_MEMORY_HOTPLUG,
  migrateFoliosMcCopy,
  migratePages,
  NR_MAX_MIGRATE_ASYNC_RETRY,
  NR_MAX_MIGRATE_PAGES_RETRY,
  NR_MAX_MIGRATE_SYNC_RETRY,
  PG_hugetlb,
  PG_locked,
  PG_lru,
  PG_movable_ops,
  PG_movable_ops_isolated,
  PG_offline,
  pageHasMovableOps,
  putbackMovablePages,
  setMovableOps,
  VirtioBalloon,
} from "../../src/index";
import { FolioList } from "../../src/lib/list";
import {
  boot,
  expectBytes,
  expectConsistent,
  isolateRange,
  mapPattern,
  pattern,
  run,
} from "../../src/testing/index";

/** Destinations on node `nid`, one base page or a folio of the source's order. */
const toNode =
  (k: Kernel, nid: number) =>
  (src: number): number =>
    k.pageAlloc.allocPages(nid, k.memmap.folioOrder(src), 0x1 | (k.memmap.folioOrder(src) ? 4 : 0));

/** Isolates every page of a balloon onto a new migration list, as compaction does. */
const isolateBalloon = (k: Kernel, pages: number[]): FolioList => {
  const list = new FolioList(k.memmap.lru);
  for (const page of pages) if (isolateMovableOpsPage(k, page, 0)) list.addTail(page);
  return list;
};

const setupBalloon = (n: number) => {
  const k = boot();
  const vb = new VirtioBalloon(k);
  expect(run(vb.fillBalloon(n))).toBe(n);
  return { k, vb, pages: [...vb.vbDevInfo.pages] };
};

/**
 * A one-page balloon whose driver answers `answer()` to every migratepage, migrated to node 1 with
 * MIGRATE_ASYNC / MR_COMPACTION. Checks what every failure leaves: one pgmigrate_fail, no
 * balloon_migrate, the page still isolated on the list and the destination freed; then puts it
 * back (putback_movable_ops_page) and checks the balloon has it again.
 */
const migrateWithDriverAnswer = async (answer: () => number) => {
  const k = boot();
  let calls = 0;
  const b = balloonDevinfoInit(k, () => {
    calls++;
    return answer();
  });
  const page = run(balloonPageAlloc(k));
  balloonPageEnqueue(k, b, page);
  const free1 = k.pageAlloc.zones[1]!.freePages;
  const list = isolateBalloon(k, [page]);
  const errors = new Map<number, number>();
  const r = await Effect.runPromise(
    migratePages(k, list, toNode(k, 1), null, MIGRATE_ASYNC, MR_COMPACTION, { errors }),
  );
  expect(k.vmstat.get("pgmigrate_fail")).toBe(1);
  expect(k.vmstat.get("balloon_migrate")).toBe(0);
  expect([...list]).toEqual([page]);
  expect(k.memmap.test(page, PG_movable_ops_isolated)).toBe(true);
  expect(k.pageAlloc.zones[1]!.freePages).toBe(free1);
  putbackMovablePages(k, list);
  expect([...b.pages]).toEqual([page]);
  expect(b.isolatedPages).toBe(0);
  expect(k.memmap.refcount[page]).toBe(1);
  list.release();
  expectConsistent(k);
  return { calls, errors, page, r };
};

describe("isolate_movable_ops_page()", () => {
  it("isolates a balloon page: owner's list left, PG_movable_ops_isolated, one more reference", () => {
    const { k, vb, pages } = setupBalloon(2);
    const page = pages[0]!;
    expect(pageHasMovableOps(k, page)).toBe(true);
    expect(k.memmap.refcount[page]).toBe(1);
    expect(isolateMovableOpsPage(k, page, 0)).toBe(true);
    expect(k.memmap.refcount[page]).toBe(2);
    expect(k.memmap.test(page, PG_movable_ops_isolated)).toBe(true);
    expect(k.memmap.test(page, PG_locked)).toBe(false);
    expect(vb.vbDevInfo.isolatedPages).toBe(1);
    expect([...vb.vbDevInfo.pages]).toEqual([pages[1]]);
    // Already isolated: "goto out_no_isolated", and the reference taken is dropped again.
    expect(isolateMovableOpsPage(k, page, 0)).toBe(false);
    expect(k.memmap.refcount[page]).toBe(2);
    const list = new FolioList(k.memmap.lru);
    list.addTail(page);
    putbackMovablePages(k, list);
    expect(k.memmap.refcount[page]).toBe(1);
    expect(k.memmap.test(page, PG_movable_ops_isolated)).toBe(false);
    expect(vb.vbDevInfo.isolatedPages).toBe(0);
    expect(vb.vbDevInfo.pages.count()).toBe(2);
    list.release();
    expectConsistent(k);
  });

  it("refuses a free page, an LRU page, a locked page and a page its balloon deflated", () => {
    const { k, vb, pages } = setupBalloon(2);
    const p = run(k.createProcess());
    const addr = mapPattern(p, 4096, 3);
    const lru = isolateRange(p, addr, 4096);
    const anon = lru.first;
    putbackMovablePages(k, lru);
    lru.release();
    expect(k.memmap.test(anon, PG_lru)).toBe(true);
    const free = k.pageAlloc.allocPages(0, 0, 0);
    k.memmap.refcount[free] = 0;
    k.pageAlloc.freePages(free, 0);
    for (const page of [anon, free]) {
      const before = k.memmap.refcount[page];
      expect(isolateMovableOpsPage(k, page, 0)).toBe(false);
      expect(k.memmap.refcount[page]).toBe(before);
    }
    // Locked by someone else: folio_trylock() fails, nothing is taken.
    k.memmap.set(pages[0]!, PG_locked);
    expect(isolateMovableOpsPage(k, pages[0]!, 0)).toBe(false);
    expect(k.memmap.refcount[pages[0]!]).toBe(1);
    k.memmap.clear(pages[0]!, PG_locked);
    // A page dequeued by the driver and not yet freed: still PageOffline and PG_movable_ops
    // (sticky until freed), but page->private is gone, so balloon_page_isolate() refuses.
    const inflated = k.vmstat.get("nr_balloon_pages");
    const deflated = balloonPageDequeue(k, vb.vbDevInfo);
    expect(k.vmstat.get("nr_balloon_pages")).toBe(inflated - 1); // balloon_page_list_dequeue()
    vb.numPages--;
    vb.host.delete(deflated);
    expect(pageHasMovableOps(k, deflated)).toBe(true);
    expect(isolateMovableOpsPage(k, deflated, 0)).toBe(false);
    expect(k.memmap.refcount[deflated]).toBe(1);
    expect(vb.vbDevInfo.isolatedPages).toBe(0);
    folioPut(k, deflated);
    expect(k.memmap.test(deflated, PG_offline | PG_movable_ops)).toBe(false);
    expect(vb.leakBalloon(1)).toBe(1);
    expect(isolateMovableOpsPage(k, pages[0]!, 0)).toBe(false);
    expectConsistent(k);
  });
});

describe("isolate_folio_to_list()", () => {
  it("sends a movable_ops page to isolate_movable_ops_page(), and putback_movable_pages() returns it", () => {
    const { k, vb, pages } = setupBalloon(1);
    const list = new FolioList(k.memmap.lru);
    expect(isolateFolioToList(k, pages[0]!, list)).toBe(true);
    expect([...list]).toEqual(pages);
    expect(k.memmap.test(pages[0]!, PG_movable_ops_isolated)).toBe(true);
    expect(vb.vbDevInfo.isolatedPages).toBe(1);
    expect(isolateFolioToList(k, pages[0]!, list)).toBe(false);
    putbackMovablePages(k, list);
    expect([...vb.vbDevInfo.pages]).toEqual(pages);
    expect(k.memmap.refcount[pages[0]!]).toBe(1);
    list.release();
    expectConsistent(k);
  });
});

describe("set_movable_ops()", () => {
  it("answers -EBUSY for a type that has ops, -EINVAL for a type that cannot have them", () => {
    const k = boot();
    // balloon_init() registered balloon_mops for PGTY_offline at boot.
    expect(balloonInit(k)).toBe(-ERRNO.EBUSY);
    expect(setMovableOps(k, null, PG_hugetlb)).toBe(-ERRNO.EINVAL);
    expect(setMovableOps(k, null, PG_offline)).toBe(0);
    expect(balloonInit(k)).toBe(0);
  });
});

describe("migrate_pages() with movable_ops pages", () => {
  for (const [reason, mode, name] of [
    [MR_COMPACTION, MIGRATE_ASYNC, "MR_COMPACTION, MIGRATE_ASYNC"],
    [MR_COMPACTION, MIGRATE_SYNC_LIGHT, "MR_COMPACTION, MIGRATE_SYNC_LIGHT"],
    [MR_MEMORY_HOTPLUG, MIGRATE_SYNC, "MR_MEMORY_HOTPLUG, MIGRATE_SYNC"],
  ] as const) {
    it(`moves balloon pages through balloon_page_migrate (${name}): pgmigrate_success and balloon_migrate count them`, async () => {
      const { k, vb, pages } = setupBalloon(8);
      for (const page of pages) k.mem.bytes(page).set(pattern(4096, page));
      const free0 = k.pageAlloc.zones[0]!.freePages;
      const free1 = k.pageAlloc.zones[1]!.freePages;
      const list = isolateBalloon(k, pages);
      expect(list.count()).toBe(8);
      const r = await Effect.runPromise(migratePages(k, list, toNode(k, 1), null, mode, reason));
      expect(r.rc).toBe(0);
      expect(r.nrSucceeded).toBe(8);
      expect(list.isEmpty).toBe(true);
      expect(k.vmstat.get("pgmigrate_success")).toBe(8);
      expect(k.vmstat.get("pgmigrate_fail")).toBe(0);
      expect(k.vmstat.get("balloon_migrate")).toBe(8);
      expect(k.vmstat.get("balloon_inflate")).toBe(8);
      expect(k.vmstat.get("balloon_deflate")).toBe(0);
      // NR_BALLOON_PAGES (Linux 6.15+): raised at enqueue, untouched by balloon_page_migrate().
      expect(k.vmstat.get("nr_balloon_pages")).toBe(8);
      expect(run(k.fs.read("/proc/meminfo"))).toContain("Balloon:              32 kB\n");
      // The balloon now holds 8 pages of node 1, and the host was told about each swap.
      const now = [...vb.vbDevInfo.pages];
      expect(now).toHaveLength(8);
      for (const page of now) {
        expect(k.mem.pfnToNid(page)).toBe(1);
        expect(k.memmap.refcount[page]).toBe(1);
        expect(k.memmap.test(page, PG_offline | PG_movable_ops)).toBe(true);
        expect(k.memmap.test(page, PG_movable_ops_isolated | PG_locked | PG_lru)).toBe(false);
        // The balloon core never copies content: the new page is not the old one's bytes.
        expect(k.mem.bytes(page)).not.toEqual(pattern(4096, pages[now.indexOf(page)]!));
      }
      expect(new Set(vb.host)).toEqual(new Set(now));
      expect(vb.vbDevInfo.isolatedPages).toBe(0);
      // The old pages went back to the buddy allocator.
      expect(k.pageAlloc.zones[0]!.freePages).toBe(free0 + 8);
      expect(k.pageAlloc.zones[1]!.freePages).toBe(free1 - 8);
      list.release();
      expectConsistent(k);
    });
  }

  it("retries -EAGAIN (balloon_lock held) NR_MAX_MIGRATE_PAGES_RETRY times, then leaves the page isolated for putback", async () => {
    const { calls, errors, page, r } = await migrateWithDriverAnswer(() => -ERRNO.EAGAIN);
    expect(r.rc).toBe(1);
    expect(calls).toBe(NR_MAX_MIGRATE_PAGES_RETRY);
    expect(errors.get(page)).toBe(-ERRNO.EAGAIN);
  });

  it("a synchronous call tries NR_MAX_MIGRATE_ASYNC_RETRY + NR_MAX_MIGRATE_SYNC_RETRY passes (migrate_pages_sync)", async () => {
    const { k, vb, pages } = setupBalloon(1);
    vb.balloonLocked = true;
    let calls = 0;
    const migratepage = vb.vbDevInfo.migratepage;
    vb.vbDevInfo.migratepage = (b, n, p, m) => {
      calls++;
      return migratepage(b, n, p, m);
    };
    const list = isolateBalloon(k, pages);
    const r = await Effect.runPromise(
      migratePages(k, list, toNode(k, 1), null, MIGRATE_SYNC, MR_MEMORY_HOTPLUG),
    );
    expect(r.rc).toBe(1);
    expect(calls).toBe(NR_MAX_MIGRATE_ASYNC_RETRY + NR_MAX_MIGRATE_SYNC_RETRY);
    putbackMovablePages(k, list);
    vb.balloonLocked = false;
    list.release();
    expectConsistent(k);
  });

  it("a permanent failure (-EBUSY) is not retried: the page goes back, the destination is freed", async () => {
    const { calls, errors, page, r } = await migrateWithDriverAnswer(() => -ERRNO.EBUSY);
    expect(r.rc).toBe(1);
    expect(calls).toBe(1);
    expect(errors.get(page)).toBe(-ERRNO.EBUSY);
  });

  it("a driver callback that throws or answers garbage is a permanent failure, -EIO, and the page goes back", async () => {
    for (const answer of [
      () => {
        throw new Error("broken driver");
      },
      () => 1,
      () => Number.NaN,
    ]) {
      const { calls, errors, page, r } = await migrateWithDriverAnswer(answer);
      expect(r.rc).toBe(1);
      expect(calls).toBe(1);
      expect(errors.get(page)).toBe(-ERRNO.EIO);
    }
  });

  it("an owner whose isolate_page throws refuses the isolation, and nothing is held", () => {
    const { k, pages } = setupBalloon(1);
    const balloonMops = k.movableOps.get(PG_offline)!;
    setMovableOps(k, null, PG_offline);
    setMovableOps(
      k,
      {
        ...balloonMops,
        isolatePage: () => {
          throw new Error("broken owner");
        },
      },
      PG_offline,
    );
    expect(isolateMovableOpsPage(k, pages[0]!, 0)).toBe(false);
    expect(k.memmap.refcount[pages[0]!]).toBe(1);
    expect(k.memmap.test(pages[0]!, PG_locked | PG_movable_ops_isolated)).toBe(false);
    expectConsistent(k);
  });

  it("-ENOENT from the driver: the old page deflated, the new one not inflated (balloon_deflate, both freed)", async () => {
    const k = boot();
    const b = balloonDevinfoInit(k, () => -ERRNO.ENOENT, true);
    const page = run(balloonPageAlloc(k));
    const managed0 = k.pageAlloc.zones[0]!.managedPages;
    balloonPageEnqueue(k, b, page);
    expect(k.pageAlloc.zones[0]!.managedPages).toBe(managed0 - 1);
    const free0 = k.pageAlloc.zones[0]!.freePages;
    const free1 = k.pageAlloc.zones[1]!.freePages;
    const list = isolateBalloon(k, [page]);
    const r = await Effect.runPromise(
      migratePages(k, list, toNode(k, 1), null, MIGRATE_ASYNC, MR_COMPACTION),
    );
    // balloon_page_migrate() returns 0: migration succeeded as far as the core is concerned.
    expect(r.rc).toBe(0);
    expect(k.vmstat.get("pgmigrate_success")).toBe(1);
    expect(k.vmstat.get("balloon_deflate")).toBe(1);
    expect(k.vmstat.get("balloon_migrate")).toBe(0);
    // balloon_page_migrate() does not lower NR_BALLOON_PAGES on this path: it stays 1.
    expect(k.vmstat.get("nr_balloon_pages")).toBe(1);
    expect(b.pages.isEmpty).toBe(true);
    expect(b.isolatedPages).toBe(0);
    expect(k.pageAlloc.zones[0]!.managedPages).toBe(managed0);
    expect(k.pageAlloc.zones[0]!.freePages).toBe(free0 + 1);
    expect(k.pageAlloc.zones[1]!.freePages).toBe(free1);
    list.release();
    expectConsistent(k);
  });

  it("moves a device's managed-page count with the page across zones (adjust_managed_page_count)", async () => {
    const { k, pages } = setupBalloon(3);
    const m0 = k.pageAlloc.zones[0]!.managedPages;
    const m1 = k.pageAlloc.zones[1]!.managedPages;
    const list = isolateBalloon(k, pages);
    await Effect.runPromise(
      migratePages(k, list, toNode(k, 1), null, MIGRATE_ASYNC, MR_COMPACTION),
    );
    expect(k.pageAlloc.zones[0]!.managedPages).toBe(m0 + 3);
    expect(k.pageAlloc.zones[1]!.managedPages).toBe(m1 - 3);
    list.release();
  });

  it("an offload migrator never sees a movable_ops page in a batch (v6: the third batch condition)", async () => {
    const { k, vb, pages } = setupBalloon(6);
    const p = run(k.createProcess());
    const addr = mapPattern(p, 10 * 4096, 5);
    const anon = isolateRange(p, addr, 10 * 4096);
    const anonPfns = [...anon];
    const batched: number[] = [];
    const copier: BatchCopier = {
      shouldBatch: () => true,
      copy: (dst, src, count) =>
        Effect.sync(() => {
          expect(count).toBe(src.count());
          batched.push(...src);
          return migrateFoliosMcCopy(k, dst, src);
        }),
    };
    k.migrateOffload.installCopier(copier);
    // Interleave balloon pages with the LRU folios on one list, as compaction's scan would.
    const list = new FolioList(k.memmap.lru);
    const balloon = isolateBalloon(k, pages);
    while (!anon.isEmpty || !balloon.isEmpty) {
      if (!anon.isEmpty) list.moveTail(anon.first);
      if (!balloon.isEmpty) list.moveTail(balloon.first);
    }
    const r = await Effect.runPromise(
      migratePages(k, list, toNode(k, 1), null, MIGRATE_ASYNC, MR_COMPACTION),
    );
    expect(r.rc).toBe(0);
    expect(r.nrSucceeded).toBe(16);
    expect(new Set(batched)).toEqual(new Set(anonPfns));
    for (const page of pages) expect(batched).not.toContain(page);
    expect(k.vmstat.get("balloon_migrate")).toBe(6);
    expect(vb.vbDevInfo.pages.count()).toBe(6);
    expectBytes(run(p.read(addr, 10 * 4096)), pattern(10 * 4096, 5));
    k.migrateOffload.installCopier(null);
    for (const l of [list, anon, balloon]) l.release();
    expectConsistent(k);
  });

  it("property: any mix of inflation, deflation, busy driver and migration keeps the balloon whole", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("fill" as const), n: fc.integer({ min: 0, max: 6 }) }),
      fc.record({ kind: fc.constant("leak" as const), n: fc.integer({ min: 0, max: 6 }) }),
      fc.record({ kind: fc.constant("lock" as const), on: fc.boolean() }),
      fc.record({
        kind: fc.constant("migrate" as const),
        pick: fc.array(fc.nat(), { maxLength: 6 }),
        nid: fc.integer({ min: 0, max: 1 }),
        mode: fc.constantFrom<MigrateMode>(MIGRATE_ASYNC, MIGRATE_SYNC_LIGHT, MIGRATE_SYNC),
        reason: fc.constantFrom(MR_COMPACTION, MR_MEMORY_HOTPLUG),
      }),
    );
    fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 12 }), async (ops) => {
        const k = boot({ nodes: ["8M", "8M"] });
        const vb = new VirtioBalloon(k);
        const free = () => k.pageAlloc.totalFreePages();
        const before = free();
        let migrated = 0;
        for (const o of ops) {
          if (o.kind === "fill") await Effect.runPromise(vb.fillBalloon(o.n));
          else if (o.kind === "leak") vb.leakBalloon(o.n);
          else if (o.kind === "lock") vb.balloonLocked = o.on;
          else {
            const all = [...vb.vbDevInfo.pages];
            const chosen = [...new Set(o.pick.map((i) => all[i % Math.max(1, all.length)]))];
            const list = isolateBalloon(
              k,
              chosen.filter((x) => x !== undefined),
            );
            const n = list.count();
            const r = await Effect.runPromise(
              migratePages(k, list, toNode(k, o.nid), null, o.mode, o.reason),
            );
            // Each page either moved or stayed on the list; the driver refuses only while locked.
            expect(r.nrSucceeded + list.count()).toBe(n);
            if (!vb.balloonLocked) expect(r.rc).toBe(0);
            else expect(r.rc).toBe(n);
            migrated += r.nrSucceeded;
            putbackMovablePages(k, list);
            list.release();
          }
          const pagesNow = [...vb.vbDevInfo.pages];
          expect(pagesNow).toHaveLength(vb.numPages);
          expect(new Set(vb.host)).toEqual(new Set(pagesNow));
          expect(vb.vbDevInfo.isolatedPages).toBe(0);
          expect(free()).toBe(before - vb.numPages);
          expect(k.vmstat.get("balloon_inflate") - k.vmstat.get("balloon_deflate")).toBe(
            vb.numPages,
          );
          expect(k.vmstat.get("balloon_migrate")).toBe(migrated);
          expect(k.vmstat.get("pgmigrate_success")).toBe(migrated);
          expectConsistent(k);
        }
        vb.leakBalloon(vb.numPages);
        expect(free()).toBe(before);
        await Effect.runPromise(k.shutdown());
      }),
      { numRuns: 40 },
    );
  });
});
