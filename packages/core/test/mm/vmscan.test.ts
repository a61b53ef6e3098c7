import { Effect } from "effect";
import { TestClock } from "effect/testing";
import { describe, expect, it } from "vitest";
import {
  GFP_KERNEL,
  type Kernel,
  LRU_INACTIVE_FILE,
  MADV_NOHUGEPAGE,
  MADV_RANDOM,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  MEMTIER_DEFAULT_DAX_ADISTANCE,
  MPOL_BIND,
  MR_COMPACTION,
  MR_DEMOTION,
  PF_MEMALLOC,
  PG_active,
  PG_reclaim,
  PROT_READ,
  type Task,
  tryToFreePages,
  WMARK_HIGH,
  WMARK_LOW,
  WMARK_MIN,
} from "../../src/index";
import {
  boot,
  expectConsistent,
  expectErrno,
  folioAt,
  gatedMigrator,
  pattern,
  recordingMigrator,
  run,
  runP,
  sameBytes,
  waitUntil,
} from "../../src/testing/index";

const PAGE = 4096;
/**
 * A 16 MiB DRAM node 0 and a 64 MiB CXL node 1 (dax kmem's abstract distance), with no daemon
 * until a test starts kswapd (`kswapd.run()`): the others count direct reclaim alone.
 */
const tiered = (): Kernel =>
  boot({
    daemons: "on-demand",
    nodes: ["16M", { memory: "64M", adistance: MEMTIER_DEFAULT_DAX_ADISTANCE }],
  });

/**
 * A process of 8 resident pages on node 0, for the OOM killer: where reclaim frees nothing, an
 * allocation at the system level that finds no process to kill panics the kernel
 * (out_of_memory(), Linux 6.16), so a test that fills node 0 past what reclaim can free gives it
 * this one, and stops once it is killed.
 */
const oomVictim = (k: Kernel): Task => {
  const v = run(k.createProcess({ node: 0, name: "victim" }));
  const at = run(v.mmap(8 * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
  run(v.write(at, pattern(8 * PAGE, 99)));
  return v;
};

/** A process whose memory may only come from node 0 (MPOL_BIND), so node 0 must make room. */
const boundToDram = (k: Kernel): Task => {
  const p = run(k.createProcess({ node: 0 }));
  run(p.setMempolicy(MPOL_BIND, [0]));
  return p;
};

const nodesOf = (p: Task, addr: number, n: number): number[] =>
  Array.from({ length: n }, (_, i) => run(p.nodeOf(addr + i * PAGE)));

const count = (k: Kernel, name: string) => k.vmstat.get(name);

/**
 * Starts kswapd, leaves node 0 just under its low watermark with `p`'s anonymous memory, and
 * returns once kswapd brought it above the high one and went to sleep (its nap over, on a
 * `TestClock`).
 */
const kswapdBalances = (k: Kernel, p: Task): Promise<void> => {
  const zone = k.pageAlloc.zones[0]!;
  return Effect.runPromise(
    Effect.gen(function* () {
      yield* k.kswapd.run();
      const n = zone.freePages - zone.watermark[WMARK_LOW]! + 1;
      const a = yield* p.mmap(n * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS });
      yield* p.write(a, pattern(n * PAGE, 1));
      yield* waitUntil(() => zone.freePages > zone.wmarkPages(WMARK_HIGH));
      yield* TestClock.adjust("10000 millis");
    }).pipe(Effect.provide(TestClock.layer())),
  );
};

describe("direct reclaim (try_to_free_pages)", () => {
  it("demotes the oldest anonymous pages to the slow tier first, with every byte intact (demote_folio_list)", async () => {
    const k = tiered();
    run(k.fs.write("/sys/kernel/mm/numa/demotion_enabled", "1"));
    const p = boundToDram(k);
    const n = 5000; // more than node 0 holds (4096 pages)
    const addr = run(p.mmap(n * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    await runP(p.write(addr, pattern(n * PAGE, 1)));
    const nodes = nodesOf(p, addr, n);
    const demoted = nodes.filter((nid) => nid === 1).length;
    // The LRU's tail is the oldest: the pages demoted are exactly the first ones written.
    expect(demoted).toBeGreaterThan(n - 4096);
    expect(nodes.slice(0, demoted).every((nid) => nid === 1)).toBe(true);
    expect(nodes.slice(demoted).every((nid) => nid === 0)).toBe(true);
    expect(sameBytes(run(p.read(addr, n * PAGE)), pattern(n * PAGE, 1))).toBe(true);
    // Demoted pages count as reclaimed (shrink_folio_list adds demote_folio_list's result).
    expect(count(k, "pgdemote_direct")).toBe(demoted);
    expect(count(k, "pgsteal_direct")).toBe(demoted);
    expect(count(k, "pgsteal_anon")).toBe(demoted);
    expect(count(k, "pgmigrate_success")).toBe(demoted);
    expect(count(k, "pgdemote_kswapd")).toBe(0);
    expect(count(k, "pgscan_direct")).toBe(count(k, "pgscan_anon"));
    expect(count(k, "pgscan_file")).toBe(0);
    expect(count(k, "allocstall_normal")).toBeGreaterThan(0);
    // Each page was young from its fault when reclaim first met it: that earned it PG_referenced
    // and another trip around the inactive list, not activation (folio_check_references()). Used
    // once, never activated, never deactivated.
    expect(count(k, "pgactivate")).toBe(0);
    expect(count(k, "pgdeactivate")).toBe(0);
    expectConsistent(k);
    await runP(k.shutdown());
  });

  it("keeps anonymous pages with no demotion target (no swap): reclaim frees nothing, the OOM killer ends another process, nothing of p's lost", async () => {
    const k = tiered(); // demotion_enabled stays false
    const p = boundToDram(k);
    // OOM_SCORE_ADJ_MIN: the OOM killer (out_of_memory()) passes over p and ends the victim.
    run(k.fs.write(`/proc/${p.pid}/oom_score_adj`, "-1000"));
    const victim = oomVictim(k);
    const n = 5000;
    const addr = run(p.mmap(n * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    let written = 0;
    for (; written < n && !victim.exited; written++) {
      const r = await runP(Effect.exit(p.write(addr + written * PAGE, pattern(PAGE, written))));
      if (r._tag === "Failure") break;
    }
    expect(victim.exited).toBe(true);
    expect(count(k, "oom_kill")).toBe(1);
    expect(written).toBeLessThan(4096);
    expect(written).toBeGreaterThan(4000);
    for (let i = 0; i < written; i++) {
      expect(sameBytes(run(p.read(addr + i * PAGE, PAGE)), pattern(PAGE, i))).toBe(true);
    }
    expect(count(k, "pgmigrate_success")).toBe(0);
    expect(count(k, "pgsteal_direct")).toBe(0);
    // get_scan_count(): anon lists are not scanned when anon pages cannot leave.
    expect(count(k, "pgscan_anon")).toBe(0);
    expect(count(k, "allocstall_normal")).toBeGreaterThan(0);
    await runP(k.shutdown());
  });

  // shrink_node_memcgs() → shrink_slab() → do_shrink_slab() (mm/vmscan.c, mm/shrinker.c, Linux
  // 6.16) runs the deferred split shrinker (deferred_split_count/deferred_split_scan,
  // mm/huge_memory.c, DEFAULT_SEEKS 2). With one queued folio, delta = (1 >> priority) * 4 / 2 is
  // 0 down to priority 1, and 2 at priority 0: total_scan = min(2, 2 * 1) = 2 >= freeable, so
  // one scan_objects call of nr_to_scan 2 (slabs_scanned 2) splits the folio and frees its
  // unmapped pages, which the fault then gets.
  it("splits a partially unmapped THP with the deferred split shrinker at priority 0 and frees its unmapped pages (shrink_slab)", async () => {
    const k = boot({
      nodes: ["16M", { memory: "64M", adistance: MEMTIER_DEFAULT_DAX_ADISTANCE }],
      thp: { enabled: "madvise" },
    }); // demotion_enabled stays false: anonymous LRU pages cannot leave node 0
    const p = boundToDram(k);
    // OOM_SCORE_ADJ_MIN: the last fault's OOM killer passes over p and ends the victim.
    run(k.fs.write(`/proc/${p.pid}/oom_score_adj`, "-1000"));
    const victim = oomVictim(k);
    const thp = run(p.mmap(4 << 20, { flags: MAP_PRIVATE | MAP_ANONYMOUS, hugepage: true }));
    const huge = Math.ceil(thp / (2 << 20)) * (2 << 20);
    await runP(p.write(huge, pattern(2 << 20, 7)));
    const head = folioAt(p, huge).pfn;
    expect(k.memmap.folioOrder(head)).toBe(9);
    // Zap the second half: the folio stays whole, partially mapped, on the deferred split queue.
    run(p.munmap(huge + (1 << 20), 1 << 20));
    expect(count(k, "thp_deferred_split_page")).toBe(1);
    expect(k.deferredSplitQueue.has(head)).toBe(true);
    // Fill node 0: the fault that finds no free page reclaims directly.
    const zone = k.pageAlloc.zones[0]!;
    const free = zone.freePages;
    const fill = free + 300;
    const addr = run(p.mmap(fill * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    let written = 0;
    for (; written < fill && !victim.exited; written++) {
      const r = await runP(Effect.exit(p.write(addr + written * PAGE, pattern(PAGE, written))));
      if (r._tag === "Failure") break;
    }
    expect([victim.exited, count(k, "oom_kill")]).toEqual([true, 1]);
    // The first stall split the folio (thp_split_page), freeing its 256 unmapped pages, and the
    // faults went on into them.
    expect(count(k, "thp_split_page")).toBe(1);
    expect(count(k, "slabs_scanned")).toBe(2);
    expect(k.deferredSplitQueue.size).toBe(0);
    expect(k.memmap.folioOrder(head)).toBe(0);
    // Exactly the free pages above the min watermark and the 256 the split freed; then the
    // allocator refuses to go under the min watermark, and the fault that found nothing more to
    // reclaim got one of the pages the OOM killer's victim left.
    expect(written).toBe(free - zone.watermark[WMARK_MIN]! + 256 + 1);
    expect(count(k, "allocstall_normal")).toBeGreaterThan(0);
    expect(sameBytes(run(p.read(huge, 1 << 20)), pattern(2 << 20, 7).subarray(0, 1 << 20))).toBe(
      true,
    );
    for (let i = 0; i < written; i++) {
      expect(sameBytes(run(p.read(addr + i * PAGE, PAGE)), pattern(PAGE, i))).toBe(true);
    }
    expectConsistent(k);
    await runP(k.shutdown());
  });

  it("reclaims with PF_MEMALLOC on the faulting task, restored after; its demotions count numa_other against its node (__perform_reclaim(), zone_statistics())", async () => {
    const k = tiered();
    run(k.fs.write("/sys/kernel/mm/numa/demotion_enabled", "1"));
    const p = boundToDram(k);
    // memalloc_noreclaim_save() around try_to_free_pages(): every demotion runs inside it.
    const memallocWhileDemoting: number[] = [];
    k.trace.subscribe((e) => {
      if (e.event === "mm_migrate_pages_start" && e.reason === MR_DEMOTION)
        memallocWhileDemoting.push(p.flags & PF_MEMALLOC);
    });
    const other = count(k, "numa_other");
    const n = 5000; // more than node 0 holds (4096 pages)
    const addr = run(p.mmap(n * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    await runP(p.write(addr, pattern(n * PAGE, 2)));
    const demoted = count(k, "pgdemote_direct");
    expect(demoted).toBeGreaterThan(n - 4096);
    expect(memallocWhileDemoting.length).toBeGreaterThan(0);
    expect(memallocWhileDemoting.every((flag) => flag === PF_MEMALLOC)).toBe(true);
    expect(p.flags & PF_MEMALLOC).toBe(0);
    // Each demoted page's destination is on node 1 and the reclaiming task's CPU on node 0; the
    // faults themselves are local.
    expect(count(k, "numa_other") - other).toBe(demoted);
    expect(count(k, "numa_hit") + count(k, "numa_miss")).toBe(
      count(k, "numa_local") + count(k, "numa_other"),
    );
    expect(sameBytes(run(p.read(addr, n * PAGE)), pattern(n * PAGE, 2))).toBe(true);
    expectConsistent(k);
    await runP(k.shutdown());
  });

  it("evicts clean page cache and keeps dirty page cache (shrink_folio_list, __remove_mapping)", async () => {
    const k = tiered();
    const p = boundToDram(k);
    const clean = run(k.createFile("clean"));
    const dirty = run(k.createFile("dirty"));
    run(clean.truncate(1000 * PAGE));
    const c = run(p.mmap(1000 * PAGE, { flags: MAP_SHARED, prot: PROT_READ, file: clean }));
    run(dirty.truncate(100 * PAGE));
    const d = run(p.mmap(100 * PAGE, { flags: MAP_SHARED, file: dirty }));
    run(p.read(c, 1000 * PAGE)); // cached, clean
    run(p.write(d, pattern(100 * PAGE, 7))); // cached, dirty
    expect(clean.mapping.nrFolios).toBe(1000);
    const n = 3500;
    const a = run(p.mmap(n * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    await runP(p.write(a, pattern(n * PAGE, 2)));
    expect(clean.mapping.nrFolios).toBeLessThan(1000);
    const evicted = 1000 - clean.mapping.nrFolios;
    expect(count(k, "pgsteal_file")).toBe(evicted);
    expect(count(k, "pgsteal_direct")).toBe(evicted);
    expect(count(k, "pgscan_anon")).toBe(0);
    expect(dirty.mapping.nrFolios).toBe(100);
    expect(sameBytes(run(p.read(d, 100 * PAGE)), pattern(100 * PAGE, 7))).toBe(true);
    expect(sameBytes(run(p.read(a, n * PAGE)), pattern(n * PAGE, 2))).toBe(true);
    // An evicted clean page reads back as it was: zeros, from the file.
    expect(run(p.read(c, 1000 * PAGE)).every((b) => b === 0)).toBe(true);
    expectConsistent(k);
    await runP(k.shutdown());
  });

  // A file page written, written back (fsync: folio_mkclean() cleans and write-protects its PTEs)
  // and evicted by reclaim is read again from the file on the next fault (filemap_fault() →
  // filemap_read_folio()): the bytes written come back, not zeros.
  it("rereads written-back file pages it evicted: the bytes written come back (__remove_mapping, filemap_read_folio)", async () => {
    const k = tiered();
    const p = boundToDram(k);
    const file = run(k.createFile("written"));
    run(file.truncate(1000 * PAGE));
    const f = run(p.mmap(1000 * PAGE, { flags: MAP_SHARED, file }));
    run(p.write(f, pattern(1000 * PAGE, 11)));
    run(file.fsync());
    expect(file.mapping.backing!.nrPages).toBe(1000);
    const n = 3500;
    const a = run(p.mmap(n * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    await runP(p.write(a, pattern(n * PAGE, 2)));
    expect(file.mapping.nrFolios).toBeLessThan(1000);
    expect(count(k, "pgsteal_file")).toBe(1000 - file.mapping.nrFolios);
    expect(sameBytes(run(p.read(f, 1000 * PAGE)), pattern(1000 * PAGE, 11))).toBe(true);
    expectConsistent(k);
    await runP(k.shutdown());
  });

  it("keeps pages in use on DRAM: their accessed bits activate them (folio_check_references)", async () => {
    const k = tiered();
    run(k.fs.write("/sys/kernel/mm/numa/demotion_enabled", "1"));
    const p = boundToDram(k);
    // Enough to make node 0 reclaim once, so that what follows sees an aged LRU.
    const old = run(p.mmap(4200 * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    await runP(p.write(old, pattern(4200 * PAGE, 8)));
    const hot = run(p.mmap(64 * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    run(p.write(hot, pattern(64 * PAGE, 3)));
    const chunk = 64;
    const chunks = 80;
    const cold = run(p.mmap(chunks * chunk * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    for (let i = 0; i < chunks; i++) {
      await runP(p.write(cold + i * chunk * PAGE, pattern(chunk * PAGE, 100 + i)));
      run(p.read(hot, 64 * PAGE)); // in use
    }
    expect(count(k, "pgdemote_direct")).toBeGreaterThan(0);
    expect(nodesOf(p, hot, 64).every((nid) => nid === 0)).toBe(true);
    // Referenced again after their first trip: activated (every hot page, at least once).
    expect(count(k, "pgactivate")).toBeGreaterThanOrEqual(64);
    expect(nodesOf(p, cold, 64).every((nid) => nid === 1)).toBe(true);
    expect(sameBytes(run(p.read(hot, 64 * PAGE)), pattern(64 * PAGE, 3))).toBe(true);
    await runP(k.shutdown());
  });

  it("a migrator sees demotion's batches when its reason mask includes demotion, and not otherwise", async () => {
    for (const mask of [1 << MR_DEMOTION, 1 << MR_COMPACTION]) {
      const k = tiered();
      run(k.fs.write("/sys/kernel/mm/numa/demotion_enabled", "1"));
      const recorder = recordingMigrator(k);
      run(k.migrateOffload.register(recorder.migrator, mask));
      const p = boundToDram(k);
      const n = 4500;
      const addr = run(p.mmap(n * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
      await runP(p.write(addr, pattern(n * PAGE, 4)));
      expect(count(k, "pgdemote_direct")).toBeGreaterThan(0);
      if (mask === 1 << MR_DEMOTION) {
        expect(new Set(recorder.reasons)).toEqual(new Set([MR_DEMOTION]));
        expect(recorder.copies()).toBeGreaterThan(0);
      } else {
        expect(recorder.reasons).toEqual([]);
        expect(recorder.copies()).toBe(0);
      }
      expect(sameBytes(run(p.read(addr, n * PAGE)), pattern(n * PAGE, 4))).toBe(true);
      await runP(k.shutdown());
    }
  });
});

describe("kswapd", () => {
  it("wakes below the low watermark, demotes until the high watermark, naps, and stops at shutdown (balance_pgdat)", async () => {
    const k = tiered();
    // No watermark boost (watermark_boost_factor 0): the fill below falls back into a pageblock
    // of another type, whose boost (512 pages, more than node 0's watermarks) would move the marks
    // this test follows; page_alloc_boost.test.ts tests the boost.
    run(k.fs.write("/proc/sys/vm/watermark_boost_factor", "0"));
    run(k.fs.write("/sys/kernel/mm/numa/demotion_enabled", "1"));
    const zone = k.pageAlloc.zones[0]!;
    // min_free_kbytes = int_sqrt(80 MiB in KiB * 16) = 1144 KiB: 286 pages, 57 of them node 0's.
    expect(k.pageAlloc.minFreeKbytes).toBe(1144);
    expect(zone.watermark.slice(0, 3)).toEqual([57, 71, 85]);
    // Bound to node 0: under the default policy the fast path would pass node 0 over at its low
    // watermark for node 1 (get_page_from_freelist()) and kswapd would not be woken.
    const p = run(k.createProcess({ node: 0 }));
    run(p.setMempolicy(MPOL_BIND, [0]));
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        yield* k.kswapd.run();
        expect(k.kswapd.running).toBe(true);
        expectErrno(k.kswapd.run(), "EBUSY");
        // Leave node 0 just under its low watermark.
        const n = zone.freePages - zone.watermark[WMARK_LOW]! + 1;
        const addr = yield* p.mmap(n * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS });
        yield* p.write(addr, pattern(n * PAGE, 5));
        expect(zone.freePages).toBeLessThan(zone.watermark[WMARK_LOW]!);
        yield* waitUntil(() => zone.freePages >= zone.watermark[WMARK_HIGH]!);
        const during = k.vmstat.snapshot();
        // Balanced: a 100 ms nap, then sleep. Nothing more runs however long it sleeps.
        yield* TestClock.adjust("10000 millis");
        return { addr, n, during, after: k.vmstat.snapshot() };
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expect(result.after).toEqual(result.during);
    const demoted = count(k, "pgdemote_kswapd");
    expect(demoted).toBeGreaterThan(0);
    expect(count(k, "pgsteal_kswapd")).toBe(demoted);
    expect(count(k, "pgscan_kswapd")).toBeGreaterThanOrEqual(demoted);
    expect(count(k, "pgdemote_direct")).toBe(0);
    expect(count(k, "allocstall_normal")).toBe(0);
    // Each balance_pgdat() run followed a look at the node that found it short of its high
    // watermark (kswapd_try_to_sleep()'s counters); the first scan of pages young from their
    // fault only marks them PG_referenced, so the first run may fall short.
    expect(count(k, "pageoutrun")).toBeGreaterThanOrEqual(1);
    expect(count(k, "pageoutrun")).toBe(
      count(k, "kswapd_high_wmark_hit_quickly") + count(k, "kswapd_low_wmark_hit_quickly"),
    );
    const nodes = nodesOf(p, result.addr, result.n);
    expect(nodes.slice(0, demoted).every((nid) => nid === 1)).toBe(true);
    expect(sameBytes(run(p.read(result.addr, result.n * PAGE)), pattern(result.n * PAGE, 5))).toBe(
      true,
    );
    await runP(k.shutdown());
    expect(k.kswapd.running).toBe(false);
  });

  it("a daemon started on a node under its high watermark reclaims at once, awake: a wake-up meanwhile finds no sleeper (kswapd_try_to_sleep(): prepare_kswapd_sleep() false; wakeup_kswapd(): waitqueue_active())", async () => {
    const k = tiered();
    run(k.fs.write("/proc/sys/vm/watermark_boost_factor", "0"));
    run(k.fs.write("/sys/kernel/mm/numa/demotion_enabled", "1"));
    const zone = k.pageAlloc.zones[0]!;
    // Demotion's copies wait at a gate: the daemon's balance_pgdat() is held mid-run.
    const gate = gatedMigrator(k, null);
    run(k.migrateOffload.register(gate.migrator, 1 << MR_DEMOTION));
    const p = boundToDram(k);
    // Node 0 one page above its low watermark, short of its high one, before kswapd runs.
    const n = zone.freePages - zone.watermark[WMARK_LOW]! - 1;
    const addr = run(p.mmap(n * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    await runP(p.write(addr, pattern(n * PAGE, 6)));
    expect(zone.freePages).toBe(zone.watermark[WMARK_LOW]! + 1);
    const during = await Effect.runPromise(
      Effect.gen(function* () {
        yield* k.kswapd.run();
        yield* waitUntil(gate.copying);
        const sleeping = k.kswapd.sleeping(0);
        // Ignored: the daemon is at work, not on its wait queue.
        k.kswapd.wakeup(0, 0);
        gate.open();
        yield* waitUntil(() => k.kswapd.sleeping(0));
        yield* TestClock.adjust("10000 millis");
        return sleeping;
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expect(during).toBe(false);
    expect(zone.freePages).toBeGreaterThanOrEqual(zone.watermark[WMARK_HIGH]!);
    expect(count(k, "pgdemote_kswapd")).toBeGreaterThan(0);
    // Each balance_pgdat() followed a look that found the node short of its high watermark at
    // once (kswapd_high_wmark_hit_quickly); none followed a wake-up during a nap.
    expect(count(k, "kswapd_low_wmark_hit_quickly")).toBe(0);
    expect(count(k, "pageoutrun")).toBe(count(k, "kswapd_high_wmark_hit_quickly"));
    expect(sameBytes(run(p.read(addr, n * PAGE)), pattern(n * PAGE, 6))).toBe(true);
    await runP(k.shutdown());
  });

  it("kswapd_stop() ends the daemons once they sleep; a later wake-up finds none, and run() starts them again", async () => {
    const k = tiered();
    // No watermark boost (watermark_boost_factor 0): the fill below falls back into a pageblock
    // of another type, whose boost (512 pages, more than node 0's watermarks) would move the marks
    // this test follows; page_alloc_boost.test.ts tests the boost.
    run(k.fs.write("/proc/sys/vm/watermark_boost_factor", "0"));
    run(k.fs.write("/sys/kernel/mm/numa/demotion_enabled", "1"));
    const zone = k.pageAlloc.zones[0]!;
    // Bound to node 0: with the default policy an allocation under node 0's low watermark would
    // go to node 1 without waking kswapd (get_page_from_freelist() walks the zonelist first).
    const p = boundToDram(k);
    const seen = await Effect.runPromise(
      Effect.gen(function* () {
        expect(k.kswapd.sleeping(0)).toBe(false); // no daemon yet
        yield* k.kswapd.stop(); // nothing to stop
        yield* k.kswapd.run();
        expect(k.kswapd.sleeping(0)).toBe(true); // asleep from the start
        const n = zone.freePages - zone.watermark[WMARK_LOW]! + 1;
        const addr = yield* p.mmap(n * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS });
        yield* p.write(addr, pattern(n * PAGE, 7)); // under the low watermark: woken
        expect(k.kswapd.sleeping(0)).toBe(false);
        yield* waitUntil(() => k.kswapd.sleeping(0)); // balanced, napping
        yield* TestClock.adjust("100 millis"); // the nap is over: asleep until woken
        const balanced = k.vmstat.snapshot();
        yield* k.kswapd.stop();
        expect(k.kswapd.running).toBe(false);
        expect(k.kswapd.sleeping(0)).toBe(false);
        // Under the low watermark again, with no daemon to wake: nothing is reclaimed.
        const more = zone.freePages - zone.watermark[WMARK_LOW]! + 1;
        const addr2 = yield* p.mmap(more * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS });
        yield* p.write(addr2, pattern(more * PAGE, 8));
        yield* TestClock.adjust("10000 millis");
        const stopped = k.vmstat.snapshot();
        // Started again, the next allocation under the low watermark wakes it.
        yield* k.kswapd.run();
        const addr3 = yield* p.mmap(PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS });
        yield* p.write(addr3, pattern(PAGE, 9));
        yield* waitUntil(() => k.kswapd.sleeping(0));
        return { balanced, stopped, again: k.vmstat.snapshot(), addr, n, addr2, more };
      }).pipe(Effect.provide(TestClock.layer())),
    );
    const demoted = (s: Record<string, number>) => s.pgdemote_kswapd ?? 0;
    expect(demoted(seen.balanced)).toBeGreaterThan(0);
    // Stopped in its sleep: no count of a wake during a nap, no reclaim afterwards.
    expect(seen.stopped.pgdemote_kswapd).toBe(seen.balanced.pgdemote_kswapd);
    expect(seen.stopped.pageoutrun).toBe(seen.balanced.pageoutrun);
    expect(seen.stopped.kswapd_low_wmark_hit_quickly).toBe(
      seen.balanced.kswapd_low_wmark_hit_quickly,
    );
    expect(zone.freePages).toBeGreaterThanOrEqual(zone.watermark[WMARK_HIGH]!);
    expect(demoted(seen.again)).toBeGreaterThan(demoted(seen.stopped));
    expect(sameBytes(run(p.read(seen.addr, seen.n * PAGE)), pattern(seen.n * PAGE, 7))).toBe(true);
    expect(sameBytes(run(p.read(seen.addr2, seen.more * PAGE)), pattern(seen.more * PAGE, 8))).toBe(
      true,
    );
    expectConsistent(k);
    await runP(k.shutdown());
    expect(k.kswapd.running).toBe(false);
  });

  // demote_folio_list() (mm/vmscan.c, Linux 6.16) allocates with GFP_NOWAIT among its flags:
  // __GFP_KSWAPD_RECLAIM, so a demotion target left under its low watermark wakes its kswapd
  // (wake_all_kswapds() in the slow path), which reclaims there in turn.
  it("demotion that leaves the target under its low watermark wakes the target's kswapd (GFP_NOWAIT in demote_folio_list())", async () => {
    const k = tiered();
    run(k.fs.write("/sys/kernel/mm/numa/demotion_enabled", "1"));
    const cxl = k.pageAlloc.zones[1]!;
    // min_free_kbytes 1144 KiB: 286 pages, 228 of them node 1's; the step is 228 / 4 = 57.
    expect(cxl.watermark.slice(0, 3)).toEqual([228, 285, 342]);
    // Node 1: 512 pages of clean, unmapped page cache (what its kswapd can free: its anonymous
    // memory has nowhere to go), and anonymous memory up to 64 pages above its low watermark.
    const q = run(k.createProcess({ node: 1 }));
    run(q.setMempolicy(MPOL_BIND, [1]));
    const file = run(k.createFile("cache"));
    run(file.truncate(512 * PAGE));
    const cache = run(q.mmap(512 * PAGE, { flags: MAP_SHARED, prot: PROT_READ, file }));
    run(q.madvise(cache, 512 * PAGE, MADV_NOHUGEPAGE));
    run(q.read(cache, 512 * PAGE));
    run(q.munmap(cache, 512 * PAGE));
    const fill = cxl.freePages - (cxl.watermark[WMARK_LOW]! + 64);
    const f = run(q.mmap(fill * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    run(q.madvise(f, fill * PAGE, MADV_NOHUGEPAGE));
    await runP(q.write(f, pattern(fill * PAGE, 2)));
    expect(cxl.freePages).toBe(349);
    const p = boundToDram(k);
    const n = 4200; // more than node 0 holds: direct reclaim demotes to node 1
    const addr = run(p.mmap(n * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* k.kswapd.run();
        // Both nodes are balanced: each daemon naps, then sleeps until woken.
        yield* TestClock.adjust("1000 millis");
        yield* p.write(addr, pattern(n * PAGE, 3));
        yield* waitUntil(() => k.kswapd.sleeping(0) && k.kswapd.sleeping(1));
        yield* TestClock.adjust("10000 millis");
        yield* waitUntil(() => k.kswapd.sleeping(0) && k.kswapd.sleeping(1));
      }).pipe(Effect.provide(TestClock.layer())),
    );
    // Node 1's kswapd ran: it alone could evict node 1's page cache (direct reclaim for a task
    // bound to node 0 shrinks node 0 only, and node 0 has no page cache).
    expect(count(k, "pgdemote_direct") + count(k, "pgdemote_kswapd")).toBeGreaterThan(64);
    expect(count(k, "pgsteal_file")).toBeGreaterThan(0);
    expect(file.mapping.nrFolios).toBe(512 - count(k, "pgsteal_file"));
    expect(count(k, "pgsteal_kswapd")).toBe(count(k, "pgdemote_kswapd") + count(k, "pgsteal_file"));
    expect(count(k, "pgsteal_direct")).toBe(count(k, "pgdemote_direct"));
    expect(cxl.freePages).toBeGreaterThan(cxl.watermark[WMARK_LOW]!);
    expect(sameBytes(run(p.read(addr, n * PAGE)), pattern(n * PAGE, 3))).toBe(true);
    expect(sameBytes(run(q.read(f, fill * PAGE)), pattern(fill * PAGE, 2))).toBe(true);
    expectConsistent(k);
    await runP(k.shutdown());
  });

  it("stays asleep without demotion targets for anonymous memory, and gives a hopeless node up (kswapd_failures)", async () => {
    const k = tiered(); // demotion disabled: nothing on node 0 can go anywhere
    // No watermark boost (watermark_boost_factor 0): the fill below falls back into a pageblock
    // of another type, whose boost (512 pages, more than node 0's watermarks) would move the marks
    // this test follows; page_alloc_boost.test.ts tests the boost.
    run(k.fs.write("/proc/sys/vm/watermark_boost_factor", "0"));
    const zone = k.pageAlloc.zones[0]!;
    const p = run(k.createProcess({ node: 0 }));
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* k.kswapd.run();
        const n = zone.freePages - zone.watermark[WMARK_LOW]! + 1;
        const addr = yield* p.mmap(n * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS });
        yield* p.write(addr, pattern(n * PAGE, 6));
        yield* waitUntil(() => k.vmstat.get("pageoutrun") >= 16);
        yield* TestClock.adjust("10000 millis");
      }).pipe(Effect.provide(TestClock.layer())),
    );
    // MAX_RECLAIM_RETRIES runs that reclaimed nothing, then kswapd rests.
    expect(count(k, "pageoutrun")).toBe(16);
    expect(count(k, "pgsteal_kswapd")).toBe(0);
    await runP(k.shutdown());
    expect(k.kswapd.running).toBe(false);
  });

  it("holds its priority while a pass scans nr_to_reclaim and reclaims something (balance_pgdat(), kswapd_shrink_node(), Linux 6.16)", async () => {
    const k = boot({ daemons: "on-demand", nodes: ["16M"] });
    // No watermark boost: the anonymous fill must leave the watermarks where they are.
    run(k.fs.write("/proc/sys/vm/watermark_boost_factor", "0"));
    const zone = k.pageAlloc.zones[0]!;
    const p = run(k.createProcess({ node: 0 }));
    // 2400 pages of page cache, one clean page in every 32 and the rest dirty (which reclaim marks
    // PG_reclaim and activates: a pass that isolates a clean one too does not flag the node
    // PGDAT_DIRTY, so kswapd writes nothing back), unmapped, oldest first in that order.
    const groups = 75;
    const dirty = run(k.createFile("dirty"));
    const clean = run(k.createFile("clean"));
    run(dirty.truncate(groups * 31 * PAGE));
    const d = run(p.mmap(groups * 31 * PAGE, { flags: MAP_SHARED, file: dirty }));
    run(clean.truncate(groups * PAGE));
    const c = run(p.mmap(groups * PAGE, { flags: MAP_SHARED, prot: PROT_READ, file: clean }));
    // MADV_RANDOM: each fault caches its one page (no readahead), keeping that order.
    run(p.madvise(d, groups * 31 * PAGE, MADV_RANDOM));
    run(p.madvise(c, groups * PAGE, MADV_RANDOM));
    for (let g = 0; g < groups; g++) {
      for (let i = 0; i < 31; i++) run(p.write(d + (g * 31 + i) * PAGE, pattern(8, g)));
      run(p.read(c + g * PAGE, 1));
    }
    run(p.munmap(d, groups * 31 * PAGE));
    run(p.munmap(c, groups * PAGE));
    const filePages = dirty.mapping.nrFolios + clean.mapping.nrFolios;
    expect(filePages).toBe(groups * 32);
    const passes: { priority: number; scanned: number; reclaimed: number }[] = [];
    k.trace.subscribe((e) => {
      if (e.event !== "mm_vmscan_lru_shrink_inactive") return;
      const last = passes.at(-1);
      if (last?.priority === e.priority) {
        last.scanned += e.nrScanned;
        last.reclaimed += e.nrReclaimed;
      } else passes.push({ priority: e.priority, scanned: e.nrScanned, reclaimed: e.nrReclaimed });
    });
    // kswapd_shrink_node()'s nr_to_reclaim: max(high_wmark_pages(zone), SWAP_CLUSTER_MAX).
    const nrToReclaim = Math.max(zone.wmarkPages(WMARK_HIGH), 32);
    await kswapdBalances(k, p);
    // One balance_pgdat() run did it all, by kswapd alone.
    expect(count(k, "pageoutrun")).toBe(1);
    expect(count(k, "allocstall_normal")).toBe(0);
    expect(count(k, "pgsteal_kswapd")).toBe(count(k, "pgsteal_file"));
    expect(count(k, "pgsteal_file")).toBe(groups - clean.mapping.nrFolios);
    // From DEF_PRIORITY down one at a time while a pass scans less than nr_to_reclaim...
    const priorities = passes.map((x) => x.priority);
    const held = passes.at(-1)!;
    expect(priorities).toEqual(
      Array.from({ length: priorities.length }, (_, i) => priorities[0]! - i),
    );
    for (const pass of passes.slice(0, -1)) expect(pass.scanned).toBeLessThan(nrToReclaim);
    // ...then held at the first priority whose pass scanned that much (and reclaimed something):
    // more than one pass there, each scanning at most the file LRU >> priority.
    expect(held.priority).toBeGreaterThan(1);
    expect(held.reclaimed).toBeGreaterThan(0);
    expect(held.scanned).toBeGreaterThan(filePages >> held.priority);
    expect(count(k, "pgscan_kswapd")).toBe(passes.reduce((sum, x) => sum + x.scanned, 0));
    await runP(k.shutdown());
  });
});

// Dirty file folios and reclaim (shrink_folio_list(), pageout() and shrink_inactive_list(),
// mm/vmscan.c, Linux 6.16, which no longer calls ->writepage from reclaim; the flusher,
// fs/fs-writeback.c; folio_end_writeback(), mm/filemap.c, and folio_rotate_reclaimable(),
// mm/swap.c).
describe("reclaim and writeback (pageout(), PG_reclaim, the flusher)", () => {
  /** `pages` pages of one file, each written with its own bytes, then unmapped: dirty, cached. */
  const dirtyFile = (k: Kernel, p: Task, pages: number) => {
    const file = run(k.createFile("dirty"));
    run(file.truncate(pages * PAGE));
    const at = run(p.mmap(pages * PAGE, { flags: MAP_SHARED, file }));
    run(p.write(at, pattern(pages * PAGE, 21)));
    run(p.munmap(at, pages * PAGE));
    return file;
  };
  const folios = (file: { folioAt(pgoff: number): { pfn: number } | null }, n: number) =>
    Array.from({ length: n }, (_, i) => file.folioAt(i)?.pfn ?? -1).filter((pfn) => pfn >= 0);

  // Reclaim writes no filesystem folio ("We no longer attempt to writeback filesystem folios
  // here", pageout()). Each dirty one direct reclaim meets is marked PG_reclaim, counted in
  // NR_VMSCAN_IMMEDIATE and activated; with no flusher running, nothing is written.
  it("direct reclaim writes no dirty file folio: it marks each PG_reclaim and activates it (nr_vmscan_immediate_reclaim)", () => {
    const k = boot({ daemons: "on-demand", nodes: ["16M"] });
    const p = run(k.createProcess({ node: 0 }));
    const file = dirtyFile(k, p, 100);
    expect(k.writeback.running).toBe(false);
    const activated = count(k, "pgactivate");
    expect(run(tryToFreePages(k, GFP_KERNEL, 0, 0, null))).toBe(0);
    expect(file.cachedFolios).toBe(100);
    expect(file.mapping.backing!.nrPages).toBe(0);
    expect(count(k, "nr_vmscan_write")).toBe(0);
    expect(count(k, "nr_vmscan_immediate_reclaim")).toBeGreaterThanOrEqual(100);
    expect(count(k, "pgactivate") - activated).toBeGreaterThanOrEqual(100);
    expect(folios(file, 100).every((pfn) => k.memmap.test(pfn, PG_reclaim | PG_active))).toBe(true);
    expectConsistent(k);
  });

  // Reclaim marked the dirty folios PG_reclaim and activated them. The flusher, woken, writes
  // every dirty file back (wb_check_start_all(), write_cache_pages() with WB_SYNC_NONE); each
  // write's end finds its folio PG_reclaim: it moves to the inactive tail, PG_active cleared
  // (folio_rotate_reclaimable(), lru_move_tail(): pgrotated), where the next reclaim frees it,
  // clean, with nothing written by reclaim.
  it("the flusher writes the folios reclaim marked PG_reclaim; their writeback's end rotates them to the inactive tail, and reclaim frees them", async () => {
    const k = boot({ daemons: "on-demand", nodes: ["16M"] });
    const p = run(k.createProcess({ node: 0 }));
    const file = dirtyFile(k, p, 100);
    expect(run(tryToFreePages(k, GFP_KERNEL, 0, 0, null))).toBe(0);
    const pfns = folios(file, 100);
    expect(pfns.every((pfn) => k.memmap.test(pfn, PG_reclaim | PG_active))).toBe(true);
    expect(count(k, "pgrotated")).toBe(0);
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* k.writeback.run();
        k.writeback.wakeupFlusherThreads("vmscan");
        yield* waitUntil(() => k.writeback.dirtyInodes.size === 0 && k.writeback.sleeping());
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expect(file.mapping.backing!.nrPages).toBe(100);
    expect(count(k, "pgrotated")).toBe(100);
    expect(pfns.some((pfn) => k.memmap.test(pfn, PG_reclaim | PG_active))).toBe(false);
    expect(k.lru.lists[0]![LRU_INACTIVE_FILE]!.last).toBe(pfns[99]);
    expect(run(tryToFreePages(k, GFP_KERNEL, 0, 0, null))).toBeGreaterThan(0);
    expect(file.cachedFolios).toBeLessThan(100);
    expect(count(k, "nr_vmscan_write")).toBe(0);
    const at = run(p.mmap(100 * PAGE, { flags: MAP_SHARED, prot: PROT_READ, file }));
    expect(sameBytes(run(p.read(at, 100 * PAGE)), pattern(100 * PAGE, 21))).toBe(true);
    expectConsistent(k);
    await runP(k.shutdown());
  });

  // shrink_inactive_list(): a pass whose folios were all dirty and not queued for I/O
  // (stat.nr_unqueued_dirty == nr_taken) wakes the flusher (wakeup_flusher_threads(
  // WB_REASON_VMSCAN)), which writes the whole file back; kswapd then frees the clean folios.
  it("kswapd writes no dirty file folio: it wakes the flusher, which writes the file back, and frees the clean folios; the file reads them back", async () => {
    const k = boot({ daemons: "on-demand", nodes: ["16M"] });
    run(k.fs.write("/proc/sys/vm/watermark_boost_factor", "0"));
    const p = run(k.createProcess({ node: 0 }));
    const pages = 2400;
    const file = dirtyFile(k, p, pages);
    const shrinks: { nrDirty: number; nrWriteback: number; nrCongested: number }[] = [];
    k.trace.subscribe((e) => {
      if (e.event === "mm_vmscan_lru_shrink_inactive" && e.file) shrinks.push(e);
    });
    await Effect.runPromise(k.writeback.run().pipe(Effect.provide(TestClock.layer())));
    await kswapdBalances(k, p);
    await Effect.runPromise(waitUntil(() => k.writeback.dirtyInodes.size === 0));
    expect(count(k, "nr_vmscan_write")).toBe(0);
    expect(count(k, "allocstall_normal")).toBe(0);
    // The first pass met a dirty folio not yet queued for I/O (stat->nr_dirty, no writeback).
    expect(count(k, "nr_vmscan_immediate_reclaim")).toBeGreaterThan(0);
    expect(shrinks[0]!.nrDirty).toBeGreaterThan(0);
    expect(shrinks[0]!.nrWriteback).toBe(0);
    // The flusher wrote the whole file; kswapd freed clean folios only.
    expect(file.mapping.backing!.nrPages).toBe(pages);
    expect(count(k, "pgsteal_kswapd")).toBeGreaterThan(0);
    expect(file.cachedFolios).toBe(pages - count(k, "pgsteal_kswapd"));
    const at = run(p.mmap(pages * PAGE, { flags: MAP_SHARED, prot: PROT_READ, file }));
    expect(sameBytes(run(p.read(at, pages * PAGE)), pattern(pages * PAGE, 21))).toBe(true);
    expectConsistent(k);
    await runP(k.shutdown());
  });

  // With no flusher, a kswapd pass that took only dirty file folios flags the node PGDAT_DIRTY
  // (sc->nr.unqueued_dirty == sc->nr.file_taken); met again with PG_reclaim, pageout() does not
  // write them either (PAGE_ACTIVATE): they go back active, and kswapd frees nothing of them.
  it("without a flusher, kswapd on a PGDAT_DIRTY node still writes nothing: pageout() activates the folio (PAGE_ACTIVATE)", async () => {
    const k = boot({ daemons: "on-demand", nodes: ["16M"] });
    run(k.fs.write("/proc/sys/vm/watermark_boost_factor", "0"));
    const p = run(k.createProcess({ node: 0 }));
    const pages = 2400;
    const file = dirtyFile(k, p, pages);
    const victim = oomVictim(k);
    const zone = k.pageAlloc.zones[0]!;
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* k.kswapd.run();
        const n = zone.freePages - zone.watermark[WMARK_LOW]! + 1;
        const a = yield* p.mmap(n * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS });
        yield* p.write(a, pattern(n * PAGE, 1));
        yield* waitUntil(() => k.kswapd.failures(0) >= 16 || k.kswapd.sleeping(0));
        yield* TestClock.adjust("10000 millis");
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expect(count(k, "nr_vmscan_write")).toBe(0);
    expect(count(k, "pgsteal_file")).toBe(0);
    expect(file.cachedFolios).toBe(pages);
    expect(file.mapping.backing!.nrPages).toBe(0);
    expect(count(k, "nr_vmscan_immediate_reclaim")).toBeGreaterThanOrEqual(pages);
    expect(k.kswapd.pgdatDirty.has(0)).toBe(true);
    expect(victim.pid).toBeGreaterThan(0);
    expectConsistent(k);
    await runP(k.shutdown());
  });

  // A folio under writeback is not waited for (case 2: global reclaim, writeback_throttling_sane()):
  // it is marked PG_reclaim and activated. folio_end_writeback() then clears the mark and moves it
  // to the tail of the inactive file list, PG_active cleared (folio_rotate_reclaimable(),
  // lru_move_tail(): pgrotated), where the next reclaim frees it.
  it("a folio under writeback is activated with PG_reclaim; its writeback's end rotates it to the inactive tail, and reclaim frees it", () => {
    const k = boot({ daemons: "on-demand", nodes: ["16M"] });
    const p = run(k.createProcess({ node: 0 }));
    const file = dirtyFile(k, p, 64);
    for (let i = 0; i < 64; i++) expect(file.startWriteback(i)).toBe(true);
    const activated = count(k, "pgactivate");
    const stats: { nrDirty: number; nrWriteback: number; nrCongested: number }[] = [];
    k.trace.subscribe((e) => {
      if (e.event === "mm_vmscan_lru_shrink_inactive" && e.file) stats.push(e);
    });
    expect(run(tryToFreePages(k, GFP_KERNEL, 0, 0, null))).toBe(0);
    // struct reclaim_stat: a folio under writeback counts in nr_dirty and nr_writeback each time
    // it is met; met again (aged back to the inactive list at a lower priority), it has
    // PG_reclaim already and counts in nr_congested too.
    const sum = (key: "nrDirty" | "nrWriteback" | "nrCongested") =>
      stats.reduce((n, e) => n + e[key], 0);
    expect(sum("nrWriteback")).toBeGreaterThanOrEqual(64);
    expect(sum("nrDirty")).toBe(sum("nrWriteback"));
    expect(sum("nrCongested")).toBe(sum("nrWriteback") - 64);
    expect(count(k, "pgactivate")).toBeGreaterThan(activated);
    const pfns = folios(file, 64);
    expect(pfns.length).toBe(64);
    expect(pfns.every((pfn) => k.memmap.test(pfn, PG_reclaim))).toBe(true);
    for (let i = 0; i < 64; i++) expect(file.endWriteback(i)).toBe(true);
    expect(count(k, "pgrotated")).toBe(64);
    expect(pfns.some((pfn) => k.memmap.test(pfn, PG_reclaim | PG_active))).toBe(false);
    // The last folio whose writeback ended is at the tail, where reclaim isolates first.
    expect(k.lru.lists[0]![LRU_INACTIVE_FILE]!.last).toBe(pfns[63]);
    expect(run(tryToFreePages(k, GFP_KERNEL, 0, 0, null))).toBeGreaterThan(0);
    expect(file.cachedFolios).toBeLessThan(64);
    expect(count(k, "nr_vmscan_write")).toBe(0);
    const at = run(p.mmap(64 * PAGE, { flags: MAP_SHARED, prot: PROT_READ, file }));
    expect(sameBytes(run(p.read(at, 64 * PAGE)), pattern(64 * PAGE, 21))).toBe(true);
    expectConsistent(k);
  });
});
