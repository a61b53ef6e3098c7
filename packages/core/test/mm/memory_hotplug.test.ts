/**
 * Memory offlining and onlining through /sys/devices/system/memory (drivers/base/memory.c,
 * mm/memory_hotplug.c offline_pages()/online_pages(), mm/page_isolation.c), with the behaviours
 * tools/testing/selftests/memory-hotplug/mem-on-off-test.sh expects: a block with only movable
 * memory goes offline and comes back online; one with unmovable memory stays online.
 */
import { Effect, Fiber } from "effect";
import { TestClock } from "effect/testing";
import { describe, expect, it } from "vitest";
import {
  __GFP_THISNODE,
  allocContigRange,
  CAP_SYS_ADMIN,
  constrainedAlloc,
  GFP_KERNEL,
  type Kernel,
  MADV_SOFT_OFFLINE,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MIGRATE_ISOLATE,
  MIGRATE_SYNC,
  MPOL_BIND,
  MR_MEMORY_HOTPLUG,
  MR_SYSCALL,
  OomConstraint,
  offlinePages,
  oomTotalPages,
  PG_buddy,
  PG_hugetlb,
  PG_hwpoison,
  PG_lru,
  PG_reserved,
  type TraceEvent,
  VirtioBalloon,
  WMARK_LOW,
} from "../../src/index";
import { doSendSigkill } from "../../src/kernel/signal";
import {
  boot,
  errnoOf,
  expectConsistent,
  folioAt,
  fragmentNode,
  mapPattern,
  pattern,
  patternIntact,
  recordingMigrator,
  run,
  runP,
  waitUntil,
} from "../../src/testing/index";

const MiB = 2 ** 20;
const ROOT = "/sys/devices/system/memory";
/**
 * Two 64 MiB nodes in 16 MiB sections: memory0-3 on node 0, memory4-7 on node 1; no daemon until
 * a test starts them (`kswapd.run()`, `compaction.run()`) where it means to.
 */
const bootBlocks = (config: Parameters<typeof boot>[0] = {}) =>
  boot({ daemons: "on-demand", nodes: ["64M", "64M"], sectionSize: "16M", ...config });
const read = (k: Kernel, path: string) => run(k.fs.read(path));
const write = (k: Kernel, path: string, text: string) => runP(k.fs.write(path, text));
const blockOf = (k: Kernel, pfn: number) => Math.floor(pfn / k.mem.pagesPerSection);
const blockPfns = (k: Kernel, id: number) => {
  const start = id * k.mem.pagesPerSection;
  return Array.from({ length: k.mem.pagesPerSection }, (_, i) => start + i);
};
/** Pages of a block in use: neither free in the buddy allocator nor offline. */
const usedPages = (k: Kernel, id: number) => {
  let used = 0;
  const end = (id + 1) * k.mem.pagesPerSection;
  for (let p = id * k.mem.pagesPerSection; p < end; p++) {
    const flags = k.memmap.flags[p]!;
    if (flags & PG_buddy) p += 2 ** k.memmap.order[p]! - 1;
    else if (!(flags & PG_reserved)) used++;
  }
  return used;
};
const memTotalKb = (text: string) => Number(/MemTotal:\s+(\d+) kB/.exec(text)![1]);
const record = (k: Kernel): TraceEvent[] => {
  const events: TraceEvent[] = [];
  k.trace.subscribe((e) => events.push(e));
  return events;
};

describe("/sys/devices/system/memory (drivers/base/memory.c)", () => {
  it("has block_size_bytes in hex and one memory<N> per section, all online", () => {
    const k = bootBlocks();
    // block_size_bytes_show(): "%lx"; memory_block_size_bytes() is the section size here.
    expect(read(k, `${ROOT}/block_size_bytes`)).toBe("1000000\n");
    // Beside the blocks: soft_offline_page (drivers/base/memory.c's memory_root_attrs).
    expect(run(k.fs.list(ROOT))).toEqual([
      "block_size_bytes",
      ...[0, 1, 2, 3, 4, 5, 6, 7].map((n) => `memory${n}`),
      "soft_offline_page",
    ]);
    expect(run(k.fs.list(`${ROOT}/memory5`))).toEqual([
      "online",
      "phys_device",
      "phys_index",
      "removable",
      "state",
      "valid_zones",
    ]);
    expect(read(k, `${ROOT}/memory5/state`)).toBe("online\n");
    expect(read(k, `${ROOT}/memory5/online`)).toBe("1\n");
    // phys_index_show(): "%08lx" of the block id.
    expect(read(k, `${ROOT}/memory5/phys_index`)).toBe("00000005\n");
    expect(read(k, `${ROOT}/memory5/phys_device`)).toBe("0\n");
    expect(read(k, `${ROOT}/memory5/removable`)).toBe("1\n");
    expect(read(k, `${ROOT}/memory5/valid_zones`)).toBe("Normal\n");
    expect(k.memoryBlocks.map((b) => b.nid)).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
  });

  it("the default 1 GiB section makes each 64 MiB node one block with a hole: EINVAL, memory holes", async () => {
    const k = boot();
    expect(read(k, `${ROOT}/block_size_bytes`)).toBe("40000000\n");
    expect(run(k.fs.list(ROOT))).toEqual([
      "block_size_bytes",
      "memory0",
      "memory1",
      "soft_offline_page",
    ]);
    expect(await errnoOf(k.fs.write(`${ROOT}/memory1/state`, "offline"))).toBe("EINVAL");
    expect(read(k, `${ROOT}/memory1/state`)).toBe("online\n");
  });

  it("parses writes as state_store() and online_store() do", async () => {
    const k = bootBlocks();
    const state = `${ROOT}/memory6/state`;
    const online = `${ROOT}/memory6/online`;
    // mhp_online_type_from_str(): sysfs_streq() against the four words.
    expect(await errnoOf(k.fs.write(state, "0"))).toBe("EINVAL");
    expect(await errnoOf(k.fs.write(state, "Online"))).toBe("EINVAL");
    // Already online: device_online() returns 1, which state_store() turns into EINVAL...
    expect(await errnoOf(k.fs.write(state, "online"))).toBe("EINVAL");
    // ...and online_store() into success.
    expect(await write(k, online, "1")).toBe(1);
    expect(await errnoOf(k.fs.write(online, "maybe"))).toBe("EINVAL");
    expect(await write(k, state, "offline\n")).toBe(8);
    expect(read(k, state)).toBe("offline\n");
    expect(read(k, online)).toBe("0\n");
    expect(await errnoOf(k.fs.write(state, "offline"))).toBe("EINVAL");
    expect(await write(k, online, "0")).toBe(1);
    for (const word of ["online_movable", "online_kernel", "online"]) {
      expect(await write(k, state, word)).toBe(word.length);
      expect(read(k, state)).toBe("online\n");
      expect(await write(k, online, "n")).toBe(1);
      expect(read(k, state)).toBe("offline\n");
    }
    expect(await write(k, online, "y")).toBe(1);
    expect(read(k, online)).toBe("1\n");
    expectConsistent(k);
  });
});

describe("offline_pages() (mm/memory_hotplug.c)", () => {
  it("migrates anonymous memory, page cache, a THP and balloon pages out with MR_MEMORY_HOTPLUG; the block's memory is gone", async () => {
    const k = bootBlocks({ thp: { enabled: "always" } });
    const frag = await runP(fragmentNode(k, { nid: 1, pageCacheEvery: 8 }));
    const proc = run(k.createProcess({ node: 1 }));
    run(proc.setMempolicy(MPOL_BIND, [1]));
    const thp = mapPattern(proc, 2 * MiB, 7, true);
    const thpHead = folioAt(proc, thp).pfn;
    expect(k.memmap.folioOrder(thpHead)).toBe(9);
    const balloon = new VirtioBalloon(k, { nid: 1 });
    run(balloon.fillBalloon(256));
    const id = blockOf(k, thpHead);
    expect(k.memoryBlocks[id]!.nid).toBe(1);
    const used = usedPages(k, id);
    expect(used).toBeGreaterThan(512);
    const free0 = k.pageAlloc.nodeFreePages(0);
    const free1 = k.pageAlloc.nodeFreePages(1);
    const total = memTotalKb(read(k, "/proc/meminfo"));
    const migrated = k.vmstat.get("pgmigrate_success");
    const events = record(k);

    expect(await write(k, `${ROOT}/memory${id}/state`, "offline")).toBe(7);

    expect(read(k, `${ROOT}/memory${id}/state`)).toBe("offline\n");
    expect(read(k, `${ROOT}/memory${id}/online`)).toBe("0\n");
    // Every page of the block is out of the allocator (__offline_isolated_pages()).
    expect(blockPfns(k, id).every((p) => k.memmap.flags[p] === PG_reserved)).toBe(true);
    // Every byte kept, the THP still one PMD-mapped folio, now on node 0: do_migrate_range()
    // sends folios to the other nodes with memory, whatever the task's mempolicy.
    expect(await runP(frag.intact())).toBe(true);
    expect(patternIntact(proc, thp, 2 * MiB, 7)).toBe(true);
    expect(run(proc.nodeOf(thp))).toBe(0);
    expect(k.memmap.folioOrder(folioAt(proc, thp).pfn)).toBe(9);
    expect(balloon.numPages).toBe(256);
    for (const page of balloon.vbDevInfo.pages) expect(blockOf(k, page)).not.toBe(id);
    // What was in use moved to node 0; node 1 lost the block's free pages with the block.
    expect(k.pageAlloc.nodeFreePages(0)).toBe(free0 - used);
    expect(k.pageAlloc.nodeFreePages(1)).toBe(free1 - (4096 - used));
    expect(k.vmstat.get("pgmigrate_success") - migrated).toBe(used);
    // MemTotal (totalram_pages) and the node's MemTotal shrink by the block: 16 MiB.
    expect(memTotalKb(read(k, "/proc/meminfo"))).toBe(total - 16384);
    expect(memTotalKb(read(k, "/sys/devices/system/node/node1/meminfo"))).toBe(65536 - 16384);
    expect(k.pageAlloc.zones[1]!.presentPages).toBe(3 * 4096);
    // Every batch went through migrate_pages() as MR_MEMORY_HOTPLUG, MIGRATE_SYNC.
    const calls = events.flatMap((e) => (e.event === "mm_migrate_pages" ? [e] : []));
    expect(calls.length).toBeGreaterThan(0);
    for (const e of calls) expect([e.reason, e.mode]).toEqual([MR_MEMORY_HOTPLUG, MIGRATE_SYNC]);
    expectConsistent(k);

    // online_pages(): the memory comes back.
    expect(await write(k, `${ROOT}/memory${id}/state`, "online")).toBe(6);
    expect(read(k, `${ROOT}/memory${id}/state`)).toBe("online\n");
    expect(memTotalKb(read(k, "/proc/meminfo"))).toBe(total);
    expect(k.pageAlloc.nodeFreePages(1)).toBe(free1 + used);
    expect(k.pageAlloc.zones[1]!.pageblockType.every((t) => t !== MIGRATE_ISOLATE)).toBe(true);
    expect(await runP(frag.intact())).toBe(true);
    expectConsistent(k);
    await runP(frag.release());
  });

  it("offlining a node's last block clears N_MEMORY (node_states_clear_node()); onlining one sets it again (node_states_set_node())", async () => {
    const k = bootBlocks();
    const proc = run(k.createProcess({ node: 0 }));
    const addr = run(proc.mmap(4 * k.mem.pageSize, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    run(proc.write(addr, new Uint8Array([1])));
    const oc = (nodemask: number[]) => ({
      nodemask,
      gfpMask: GFP_KERNEL,
      order: 0,
      totalpages: 0,
      constraint: OomConstraint.NONE,
      chosen: null,
      chosenPoints: 0,
    });
    for (const id of [4, 5, 6]) await write(k, `${ROOT}/memory${id}/state`, "offline");
    // Three of four blocks offline: node 1 still has present pages, so it keeps N_MEMORY.
    expect(read(k, "/sys/devices/system/node/has_memory")).toBe("0-1\n");
    await write(k, `${ROOT}/memory7/state`, "offline");
    expect(k.pageAlloc.zones[1]!.presentPages).toBe(0);
    expect(k.nodeHasMemory(1)).toBe(false);
    expect(read(k, "/sys/devices/system/node/has_memory")).toBe("0\n");
    expect(read(k, "/sys/devices/system/node/has_normal_memory")).toBe("0\n");
    // do_pages_move(): a node without N_MEMORY fails the whole call with -ENODEV.
    expect(await errnoOf(proc.movePages(0, [addr], [1]))).toBe("ENODEV");
    expect(run(proc.nodeOf(addr))).toBe(0);
    // mpol_set_nodemask(): the nodes and'ed with N_MEMORY leave none, -EINVAL.
    expect(await errnoOf(proc.setMempolicy(MPOL_BIND, [1]))).toBe("EINVAL");
    expect(await errnoOf(proc.mbind(addr, 4 * k.mem.pageSize, MPOL_BIND, [1]))).toBe("EINVAL");
    // A task created now gets the top cpuset's mems, N_MEMORY: node 0 only.
    expect(run(k.createProcess({})).memsAllowed).toEqual([0]);
    expect(await errnoOf(k.createProcess({ memsAllowed: [1] }))).toBe("EINVAL");
    // constrained_alloc(): a mask holding every N_MEMORY node is no constraint.
    const only0 = oc([0]);
    expect(constrainedAlloc(k, only0)).toBe(OomConstraint.NONE);
    expect(only0.totalpages).toBe(oomTotalPages(k));

    await write(k, `${ROOT}/memory7/state`, "online");
    expect(k.nodeHasMemory(1)).toBe(true);
    expect(read(k, "/sys/devices/system/node/has_memory")).toBe("0-1\n");
    expect((await runP(proc.movePages(0, [addr], [1]))).status[0]).toBe(1);
    run(proc.setMempolicy(MPOL_BIND, [1]));
    // node_present_pages() of the mask: node 1's one online block.
    const only1 = oc([1]);
    expect(constrainedAlloc(k, only1)).toBe(OomConstraint.MEMORY_POLICY);
    expect(only1.totalpages).toBe(4096);
    expectConsistent(k);
  });

  // offline_pages() (mm/memory_hotplug.c, Linux 6.16): when the node loses N_MEMORY
  // (status_change_nid), kcompactd_stop() and kswapd_stop() end its daemons and clear
  // pgdat->kcompactd and pgdat->kswapd; a wakeup_kswapd() then returns at managed_zone() and a
  // wakeup_kcompactd() at wq_has_sleeper(). online_pages() calls kswapd_run() and kcompactd_run(),
  // which start them again, kswapd asleep until an allocation leaves the node under its low
  // watermark.
  it("offlining a node's last block stops its kswapd and kcompactd (kswapd_stop(), kcompactd_stop()); onlining a block starts them (kswapd_run(), kcompactd_run())", async () => {
    const k = bootBlocks();
    const proc = run(k.createProcess({ node: 1 }));
    run(proc.setMempolicy(MPOL_BIND, [1]));
    const events = record(k);
    const daemons = () =>
      [0, 1].map((nid) => [k.kswapd.hasDaemon(nid), k.compaction.hasDaemon(nid)]);
    const seen = await Effect.runPromise(
      Effect.gen(function* () {
        yield* k.kswapd.run();
        yield* k.compaction.run();
        expect(daemons()).toEqual([
          [true, true],
          [true, true],
        ]);
        for (const id of [4, 5, 6]) yield* k.fs.write(`${ROOT}/memory${id}/state`, "offline");
        expect(daemons()[1]).toEqual([true, true]); // node 1 still has memory
        expect(k.kswapd.sleeping(1)).toBe(true);
        yield* k.fs.write(`${ROOT}/memory7/state`, "offline");
        expect(daemons()).toEqual([
          [true, true],
          [false, false],
        ]);
        expect(k.kswapd.running && k.compaction.running).toBe(true);
        expect(k.kswapd.sleeping(1)).toBe(false);
        // Wake-ups to the node without daemons are passed over: nothing runs, nothing counts.
        const offline = k.vmstat.snapshot();
        events.length = 0;
        k.kswapd.wakeup(1, 0);
        k.compaction.wakeup(1, 9);
        yield* TestClock.adjust("10 seconds");
        const idle = k.vmstat.snapshot();
        const wakes = events.filter((e) => e.event === "mm_compaction_wakeup_kcompactd").length;
        yield* k.fs.write(`${ROOT}/memory7/state`, "online");
        expect(daemons()[1]).toEqual([true, true]);
        expect(k.kswapd.sleeping(1)).toBe(true); // asleep from the start
        // Under node 1's low watermark: the new daemon is woken and balances the node.
        const zone = k.pageAlloc.zones[1]!;
        const n = zone.freePages - zone.watermark[WMARK_LOW]! + 1;
        const addr = yield* proc.mmap(n * k.mem.pageSize, { flags: MAP_PRIVATE | MAP_ANONYMOUS });
        yield* proc.write(addr, pattern(n * k.mem.pageSize, 3));
        yield* waitUntil(() => k.vmstat.get("pageoutrun") > idle.pageoutrun!);
        return { offline, idle, wakes, addr, n };
      }).pipe(Effect.provide(TestClock.layer())),
    );
    for (const counter of ["pageoutrun", "compact_daemon_wake", "kswapd_low_wmark_hit_quickly"])
      expect(seen.idle[counter]).toBe(seen.offline[counter]);
    expect(seen.wakes).toBe(0);
    expect(patternIntact(proc, seen.addr, seen.n * k.mem.pageSize, 3)).toBe(true);
    expectConsistent(k);
    await runP(k.shutdown());
    expect(k.kswapd.running || k.compaction.running).toBe(false);
    expect(daemons()).toEqual([
      [false, false],
      [false, false],
    ]);
  });

  // offline_pages() (mm/memory_hotplug.c, Linux 6.16): once the pages are taken, nothing checks
  // for a signal: kcompactd_stop() and kswapd_stop() wait uninterruptibly (kthread_stop()), and
  // memory_notify(MEM_OFFLINE) runs. An interruption arriving then does not skip either.
  it("an interruption after the pages are taken still stops both daemons and leaves the node's memory tier", async () => {
    const k = bootBlocks();
    const tier = "/sys/devices/virtual/memory_tiering/memory_tier4/nodelist";
    const daemons = () => [k.kswapd.hasDaemon(1), k.compaction.hasDaemon(1)];
    // The signal arrives as kcompactd_stop() begins, past the commit: the real stop still runs.
    let offline: Fiber.Fiber<number, unknown> | null = null;
    const stopNode = k.compaction.stopNode.bind(k.compaction);
    k.compaction.stopNode = (nid) =>
      Effect.andThen(
        Effect.sync(() => Effect.runFork(Fiber.interrupt(offline!))),
        stopNode(nid),
      );
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* k.kswapd.run();
        yield* k.compaction.run();
        for (const id of [4, 5, 6]) yield* k.fs.write(`${ROOT}/memory${id}/state`, "offline");
        const start = 7 * k.mem.pagesPerSection;
        offline = yield* Effect.forkChild(offlinePages(k, start, k.mem.pagesPerSection));
        yield* Fiber.await(offline);
        expect(k.pageAlloc.zones[1]!.presentPages).toBe(0);
        expect(daemons()).toEqual([false, false]);
        expect(run(k.fs.read(tier))).toBe("0\n");
      }).pipe(Effect.provide(TestClock.layer())),
    );
    await runP(k.shutdown());
  });

  // kswapd_run() and kcompactd_run() start a daemon for a node with memory (N_MEMORY) as it is when
  // they run: a node offlined before has none until online_pages() starts it.
  it("daemons started while a node has no memory leave it out; onlining its memory starts them", async () => {
    const k = bootBlocks();
    for (const id of [4, 5, 6, 7]) await write(k, `${ROOT}/memory${id}/state`, "offline");
    await runP(
      Effect.gen(function* () {
        yield* k.kswapd.run();
        yield* k.compaction.run();
        expect([k.kswapd.hasDaemon(1), k.compaction.hasDaemon(1)]).toEqual([false, false]);
        expect([k.kswapd.hasDaemon(0), k.compaction.hasDaemon(0)]).toEqual([true, true]);
        yield* k.fs.write(`${ROOT}/memory5/state`, "online");
        expect([k.kswapd.hasDaemon(1), k.compaction.hasDaemon(1)]).toEqual([true, true]);
        expect(k.kswapd.sleeping(1)).toBe(true);
        // A second block of the same node starts nothing more (pgdat->kswapd is set).
        yield* k.fs.write(`${ROOT}/memory6/state`, "online");
        expect(k.kswapd.hasDaemon(1)).toBe(true);
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expectConsistent(k);
    await runP(k.shutdown());
  });

  // reserve_mem_notifier() (mm/mmap.c, Linux 6.16), on memory_notify(MEM_OFFLINE) and
  // memory_notify(MEM_ONLINE): init_user_reserve() and init_admin_reserve() run again,
  // min(free kB / 32, cap), for a reserve past the free memory when a block goes offline, and for
  // one above 0 and below its cap (128 MiB, 8 MiB) when a block comes online.
  it("reserve_mem_notifier(): offlining recomputes a reserve past the free memory, onlining one below its cap", async () => {
    const k = bootBlocks();
    const vm = "/proc/sys/vm";
    const freeKb = () => Number(/MemFree:\s+(\d+) kB/.exec(read(k, "/proc/meminfo"))![1]);
    const reserves = () => [
      read(k, `${vm}/user_reserve_kbytes`),
      read(k, `${vm}/admin_reserve_kbytes`),
    ];
    expect(freeKb()).toBe(131068);
    expect(reserves()).toEqual(["4095\n", "4095\n"]);
    run(k.fs.write(`${vm}/user_reserve_kbytes`, "200000"));
    run(k.fs.write(`${vm}/admin_reserve_kbytes`, "9000"));
    await write(k, `${ROOT}/memory7/state`, "offline");
    // 114684 kB free: the user reserve is more, the admin reserve less, than that.
    expect(freeKb()).toBe(131068 - 16384);
    expect(reserves()).toEqual([`${Math.floor(114684 / 32)}\n`, "9000\n"]);
    // The user reserve (3583 kB) is below its cap: computed again; the admin one is past its own.
    await write(k, `${ROOT}/memory7/state`, "online");
    expect(reserves()).toEqual(["4095\n", "9000\n"]);
    run(k.fs.write(`${vm}/user_reserve_kbytes`, "0"));
    await write(k, `${ROOT}/memory7/state`, "offline");
    await write(k, `${ROOT}/memory7/state`, "online");
    // A reserve of 0 is the operator's: neither notification touches it.
    expect(reserves()).toEqual(["0\n", "9000\n"]);
  });

  it("/proc/pagetypeinfo counts no pageblock of an offline block: pagetypeinfo_showblockcount_print() skips pfns pfn_to_online_page() finds offline (mm/vmstat.c)", async () => {
    const k = bootBlocks();
    const blockCounts = (nid: number) =>
      read(k, "/proc/pagetypeinfo")
        .split("Number of blocks type")[1]!
        .split("\n")
        .find((line) => line.startsWith(`Node ${nid}, zone`))!
        .split(/\s+/)
        .slice(4, 9)
        .map(Number);
    // Unmovable, Movable, Reclaimable, HighAtomic, Isolate: 64 MiB of 2 MiB pageblocks.
    expect(blockCounts(1)).toEqual([0, 32, 0, 0, 0]);
    await write(k, `${ROOT}/memory5/state`, "offline");
    // The block's 8 pageblocks stay MIGRATE_ISOLATE in the zone, but its section is offline.
    expect(k.pageAlloc.zones[1]!.pageblockType.filter((t) => t === MIGRATE_ISOLATE).length).toBe(8);
    expect(blockCounts(1)).toEqual([0, 24, 0, 0, 0]);
    await write(k, `${ROOT}/memory5/state`, "online");
    expect(blockCounts(1)).toEqual([0, 32, 0, 0, 0]);
    expectConsistent(k);
  });

  it("migrates hugetlb folios in use (isolate_hugetlb()), which stay hugetlb folios", async () => {
    const k = bootBlocks();
    // The pool starts empty, as the kernel's: two huge pages on node 1 and two on node 0 for the
    // migration targets (nr_hugepages spreads round-robin).
    await write(k, "/proc/sys/vm/nr_hugepages", "4");
    const proc = run(k.createProcess({ node: 1 }));
    run(proc.setMempolicy(MPOL_BIND, [1]));
    const addr = run(proc.mmap(4 * MiB, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }));
    run(proc.write(addr, pattern(4 * MiB, 11)));
    const head = folioAt(proc, addr).pfn;
    expect(k.memmap.test(head, PG_hugetlb)).toBe(true);
    const id = blockOf(k, head);
    await write(k, `${ROOT}/memory${id}/state`, "offline");
    expect(patternIntact(proc, addr, 4 * MiB, 11)).toBe(true);
    for (const at of [addr, addr + 2 * MiB]) {
      const moved = folioAt(proc, at).pfn;
      expect(blockOf(k, moved)).not.toBe(id);
      expect(k.memmap.test(moved, PG_hugetlb)).toBe(true);
      expect(k.memmap.folioOrder(moved)).toBe(9);
    }
    expect(run(proc.nodeOf(addr))).toBe(0);
    expectConsistent(k);
  });

  it("a block with an unmovable kernel page stays online: EBUSY, nothing moved, nothing isolated", async () => {
    const k = bootBlocks();
    const frag = await runP(fragmentNode(k, { nid: 1 }));
    const kernelPage = run(k.allocFolio(1, 0, GFP_KERNEL | __GFP_THISNODE));
    const id = blockOf(k, kernelPage.pfn);
    const flags = k.memmap.flags.slice(id * 4096, (id + 1) * 4096);
    const free = k.pageAlloc.totalFreePages();
    const pagetypes = read(k, "/proc/pagetypeinfo");
    const meminfo = read(k, "/proc/meminfo");
    expect(await errnoOf(k.fs.write(`${ROOT}/memory${id}/state`, "offline"))).toBe("EBUSY");
    expect(await errnoOf(k.fs.write(`${ROOT}/memory${id}/online`, "0"))).toBe("EBUSY");
    expect(read(k, `${ROOT}/memory${id}/state`)).toBe("online\n");
    expect(k.vmstat.get("pgmigrate_success")).toBe(0);
    expect(k.memmap.flags.slice(id * 4096, (id + 1) * 4096)).toEqual(flags);
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    expect(read(k, "/proc/pagetypeinfo")).toBe(pagetypes);
    expect(read(k, "/proc/meminfo")).toBe(meminfo);
    expect(await runP(frag.intact())).toBe(true);
    expectConsistent(k);
  });

  it("the block holding the zero page (a reserved page) cannot go offline: EBUSY", async () => {
    const k = bootBlocks();
    const id = blockOf(k, k.zeroPfn);
    const error = await runP(Effect.flip(k.fs.write(`${ROOT}/memory${id}/state`, "offline")));
    expect(error.errno).toBe("EBUSY");
    expect(error.message).toContain("failure to isolate range");
    expect(read(k, `${ROOT}/memory${id}/state`)).toBe("online\n");
  });

  it("with one node, the pages go to another block of the same node", async () => {
    const k = boot({ nodes: ["64M"], sectionSize: "16M" });
    const proc = run(k.createProcess({ node: 0 }));
    // 20 MiB cannot all fit in the 16 MiB block the zero page is in.
    const addr = mapPattern(proc, 20 * MiB, 3);
    const last = addr + 20 * MiB - 4096;
    const id = blockOf(k, folioAt(proc, last).pfn);
    expect(id).not.toBe(blockOf(k, k.zeroPfn));
    await write(k, `${ROOT}/memory${id}/state`, "offline");
    expect(patternIntact(proc, addr, 20 * MiB, 3)).toBe(true);
    expect(run(proc.nodeOf(last))).toBe(0);
    expect(blockOf(k, folioAt(proc, last).pfn)).not.toBe(id);
    expectConsistent(k);
  });

  it("a page that never migrates keeps it retrying until a fatal signal; then nothing is lost", async () => {
    const k = bootBlocks();
    const proc = run(k.createProcess({ node: 1 }));
    run(proc.setMempolicy(MPOL_BIND, [1]));
    const addr = mapPattern(proc, 64 * 4096, 5);
    const pinned = folioAt(proc, addr).pfn;
    k.memmap.refcount[pinned]!++; // an extra reference: migrate_folio() says -EAGAIN forever
    const id = blockOf(k, pinned);
    const free = k.pageAlloc.totalFreePages();
    const fiber = Effect.runFork(k.fs.write(`${ROOT}/memory${id}/state`, "offline"));
    await runP(
      Effect.gen(function* () {
        while (k.vmstat.get("pgmigrate_fail") < 20) yield* Effect.yieldNow;
      }),
    );
    expect(read(k, `${ROOT}/memory${id}/state`)).toBe("going-offline\n");
    // The block's pageblocks are isolated: alloc_contig_range() cannot take them meanwhile.
    expect(await errnoOf(allocContigRange(k, id * 4096, 12, GFP_KERNEL))).toBe("EBUSY");
    expect(k.pageAlloc.zones[1]!.pageblockType.includes(MIGRATE_ISOLATE)).toBe(true);
    await runP(Fiber.interrupt(fiber));
    expect(read(k, `${ROOT}/memory${id}/state`)).toBe("online\n");
    expect(k.pageAlloc.zones[1]!.pageblockType.every((t) => t !== MIGRATE_ISOLATE)).toBe(true);
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    expect(patternIntact(proc, addr, 64 * 4096, 5)).toBe(true);
    expect(k.memmap.folioOf(folioAt(proc, addr).pfn)).toBe(pinned);
    k.memmap.refcount[pinned]!--;
    expectConsistent(k);
  });

  it("a block with a soft-offlined page goes offline and comes back online: test_pages_isolated() skips a hwpoisoned page in MEMORY_OFFLINE mode whatever its count (mm/page_isolation.c)", async () => {
    const k = bootBlocks();
    const proc = run(k.createProcess({ node: 1, capabilities: [CAP_SYS_ADMIN] }));
    run(proc.setMempolicy(MPOL_BIND, [1]));
    const addr = mapPattern(proc, 64 * 4096, 5);
    const bad = folioAt(proc, addr + 4096).pfn;
    run(proc.madvise(addr + 4096, 4096, MADV_SOFT_OFFLINE));
    // soft_offline_page() keeps the old page poisoned with one reference for good.
    expect(k.memmap.flags[bad]! & PG_hwpoison).toBe(PG_hwpoison);
    expect(k.memmap.refcount[bad]).toBe(1);
    const id = blockOf(k, folioAt(proc, addr).pfn);
    expect(blockOf(k, bad)).toBe(id);
    const total = memTotalKb(read(k, "/proc/meminfo"));
    // Before, the held page failed test_pages_isolated() on every pass: offlining never ended.
    expect(await write(k, `${ROOT}/memory${id}/state`, "offline")).toBe(7);
    expect(read(k, `${ROOT}/memory${id}/state`)).toBe("offline\n");
    expect(k.memmap.refcount[bad]).toBe(1);
    expect(patternIntact(proc, addr, 64 * 4096, 5)).toBe(true);
    expect(run(proc.nodeOf(addr))).toBe(0);
    // online_pages() gives back every page but the poisoned one, which stays as it was.
    expect(await write(k, `${ROOT}/memory${id}/state`, "online")).toBe(6);
    expect(read(k, `${ROOT}/memory${id}/state`)).toBe("online\n");
    expect(memTotalKb(read(k, "/proc/meminfo"))).toBe(total);
    expect(k.memmap.flags[bad]! & PG_hwpoison).toBe(PG_hwpoison);
    expect(k.memmap.refcount[bad]).toBe(1);
    expectConsistent(k);
  });

  it("a page with an error memory_failure() has not handled yet is taken off the LRU and unmapped, not migrated, and the block still goes offline (do_migrate_range(), unmap_poisoned_folio())", async () => {
    const k = bootBlocks();
    const proc = run(k.createProcess({ node: 1 }));
    run(proc.setMempolicy(MPOL_BIND, [1]));
    const addr = mapPattern(proc, 64 * 4096, 5);
    const bad = folioAt(proc, addr + 4096).pfn;
    run(k.injectMemoryError(bad));
    expect(k.memmap.flags[bad]! & PG_lru).toBe(PG_lru);
    const id = blockOf(k, bad);
    const events = record(k);
    expect(await write(k, `${ROOT}/memory${id}/state`, "offline")).toBe(7);
    expect(read(k, `${ROOT}/memory${id}/state`)).toBe("offline\n");
    // Off the LRU with the isolation's reference for good; its mapping a hwpoison entry.
    expect(k.memmap.flags[bad]! & (PG_lru | PG_hwpoison)).toBe(PG_hwpoison);
    expect(k.memmap.refcount[bad]).toBe(1);
    expect(k.memmap.folioMapcount(bad)).toBe(0);
    // The other 63 pages moved; test_pages_isolated passed the block on its first check.
    expect(patternIntact(proc, addr, 4096, 5)).toBe(true);
    expect(k.vmstat.get("pgmigrate_success")).toBe(63);
    const checks = events.flatMap((e) => (e.event === "test_pages_isolated" ? [e] : []));
    expect(checks).toEqual([
      {
        event: "test_pages_isolated",
        startPfn: id * 4096,
        endPfn: (id + 1) * 4096,
        finPfn: (id + 1) * 4096,
      },
    ]);
    expect(await write(k, `${ROOT}/memory${id}/state`, "online")).toBe(6);
    // The poisoned page's mapping is a hwpoison entry: a load there is SIGBUS, BUS_MCEERR_AR.
    const e = await runP(Effect.flip(proc.read(addr + 4096, 4096)));
    expect(e).toMatchObject({ signal: "SIGBUS", reason: "BUS_MCEERR_AR", addr: addr + 4096 });
    expect(proc.exitCode).toBe(7);
    expectConsistent(k);
  });

  it("a THP with an unhandled memory error is left alone, so the offline retries until a fatal signal, and nothing leaks (Linux stable's do_migrate_range(): large folios are not unmapped)", async () => {
    const k = bootBlocks({ thp: { enabled: "always" } });
    const proc = run(k.createProcess({ node: 1 }));
    run(proc.setMempolicy(MPOL_BIND, [1]));
    const thp = mapPattern(proc, 2 * MiB, 9, true);
    const head = folioAt(proc, thp).pfn;
    expect(k.memmap.folioOrder(head)).toBe(9);
    run(k.injectMemoryError(head + 1));
    const id = blockOf(k, head);
    const free = k.pageAlloc.totalFreePages();
    const events = record(k);
    const fiber = Effect.runFork(k.fs.write(`${ROOT}/memory${id}/state`, "offline"));
    // scan_movable_pages() finds the THP on every pass and do_migrate_range() leaves it: no
    // migration, no test_pages_isolated(), until the signal.
    await runP(
      Effect.gen(function* () {
        for (let i = 0; i < 100; i++) yield* Effect.yieldNow;
      }),
    );
    expect(read(k, `${ROOT}/memory${id}/state`)).toBe("going-offline\n");
    expect(events.filter((e) => e.event !== "memory_failure_event")).toEqual([]);
    await runP(Fiber.interrupt(fiber));
    expect(read(k, `${ROOT}/memory${id}/state`)).toBe("online\n");
    expect(k.memmap.flags[head]! & PG_lru).toBe(PG_lru);
    expect(folioAt(proc, thp).pfn).toBe(head);
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    expectConsistent(k);
  });

  // offline_pages() (mm/memory_hotplug.c, Linux 6.16) checks fatal_signal_pending() on every
  // pass of its migration loop: "signal backoff", -EINTR, the range given back.
  it("SIGKILL for the writing task ends a stuck offline with EINTR; the block stays online and nothing is lost", async () => {
    const k = bootBlocks();
    const proc = run(k.createProcess({ node: 1 }));
    run(proc.setMempolicy(MPOL_BIND, [1]));
    const addr = mapPattern(proc, 64 * 4096, 5);
    const pinned = folioAt(proc, addr).pfn;
    k.memmap.refcount[pinned]!++; // migrate_folio() says -EAGAIN forever
    const id = blockOf(k, pinned);
    const free = k.pageAlloc.totalFreePages();
    const writer = run(k.createProcess({ node: 0 }));
    const fiber = Effect.runFork(k.fs.write(`${ROOT}/memory${id}/state`, "offline", writer));
    await runP(
      Effect.gen(function* () {
        while (k.vmstat.get("pgmigrate_fail") < 5) yield* Effect.yieldNow;
      }),
    );
    doSendSigkill(k, writer);
    const error = await runP(Effect.flip(Fiber.join(fiber)));
    expect(error.errno).toBe("EINTR");
    expect(error.message).toContain("signal backoff");
    expect(read(k, `${ROOT}/memory${id}/state`)).toBe("online\n");
    expect(k.pageAlloc.zones[1]!.pageblockType.every((t) => t !== MIGRATE_ISOLATE)).toBe(true);
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    expect(patternIntact(proc, addr, 64 * 4096, 5)).toBe(true);
    k.memmap.refcount[pinned]!--;
    expectConsistent(k);
  });

  it("shutting down is the fatal signal a stuck offline waits for: the write fails with EINTR and shutdown completes", async () => {
    const k = bootBlocks();
    const proc = run(k.createProcess({ node: 1 }));
    run(proc.setMempolicy(MPOL_BIND, [1]));
    const addr = mapPattern(proc, 64 * 4096, 5);
    const pinned = folioAt(proc, addr).pfn;
    k.memmap.refcount[pinned]!++; // migrate_folio() says -EAGAIN forever, through shutdown
    const id = blockOf(k, pinned);
    const fiber = Effect.runFork(k.fs.write(`${ROOT}/memory${id}/state`, "offline"));
    await runP(
      Effect.gen(function* () {
        while (k.vmstat.get("pgmigrate_fail") < 5) yield* Effect.yieldNow;
      }),
    );
    await runP(k.shutdown());
    expect(k.state).toBe("down");
    expect(await errnoOf(Fiber.join(fiber))).toBe("EINTR");
  });

  it("a migrator sees the offline batches only when its reason mask includes memory_hotplug", async () => {
    for (const mask of [1 << MR_MEMORY_HOTPLUG, 1 << MR_SYSCALL]) {
      const k = bootBlocks();
      const { migrator, reasons, copies } = recordingMigrator(k);
      run(k.migrateOffload.register(migrator, mask));
      const proc = run(k.createProcess({ node: 1 }));
      const addr = run(proc.mmap(8 * MiB, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
      run(proc.write(addr, new Uint8Array(8 * MiB).fill(0x42)));
      const id = blockOf(k, folioAt(proc, addr).pfn);
      await write(k, `${ROOT}/memory${id}/state`, "offline");
      expect(k.vmstat.get("pgmigrate_success")).toBeGreaterThan(0);
      if (mask === 1 << MR_MEMORY_HOTPLUG) {
        expect(new Set(reasons)).toEqual(new Set([MR_MEMORY_HOTPLUG]));
        expect(copies()).toBeGreaterThan(0);
      } else {
        expect(reasons).toEqual([]);
        expect(copies()).toBe(0);
      }
      expect(run(proc.read(addr, 8 * MiB)).every((b) => b === 0x42)).toBe(true);
      await runP(k.shutdown());
    }
  });
});
