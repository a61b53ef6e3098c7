import { Effect } from "effect";
import { TestClock } from "effect/testing";
import { describe, expect, it } from "vitest";
import {
  __GFP_THISNODE,
  cpuPidToCpupid,
  type Folio,
  GFP_KERNEL,
  type Kernel,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MEMTIER_DEFAULT_DAX_ADISTANCE,
  MPOL_BIND,
  MPOL_DEFAULT,
  MR_COMPACTION,
  MR_NUMA_MISPLACED,
  type Task,
  WMARK_HIGH,
  WMARK_PROMO,
} from "../../../src/index";
import { deferredSplitScan } from "../../../src/mm/huge_memory";
import {
  boot,
  expectConsistent,
  expectErrno,
  folioAt,
  pattern,
  recordingMigrator,
  run,
  runP,
  sameBytes,
  waitUntil,
} from "../../../src/testing/index";

const PAGE = 4096;
const debugfs = "/sys/kernel/debug/sched/numa_balancing";

/** A 32 MiB DRAM node 0 and a 64 MiB CXL node 1. */
const tiered = (): Kernel =>
  boot({ nodes: ["32M", { memory: "64M", adistance: MEMTIER_DEFAULT_DAX_ADISTANCE }] });

/**
 * `n` pages written by a task of node `taskNid` but placed on node `memNid` (`MPOL_BIND`), then
 * left to the default policy.
 */
const placed = (
  k: Kernel,
  taskNid: number,
  memNid: number,
  n: number,
  seed: number,
): { p: Task; addr: number } => {
  const p = run(k.createProcess({ node: taskNid }));
  run(p.setMempolicy(MPOL_BIND, [memNid]));
  const addr = run(p.mmap(n * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
  run(p.write(addr, pattern(n * PAGE, seed)));
  run(p.setMempolicy(MPOL_DEFAULT, []));
  return { p, addr };
};

/** `n` pages written by a task of node 0 but placed on node 1, the slow tier of {@link tiered}. */
const onSlowTier = (k: Kernel, n: number, seed: number) => placed(k, 0, 1, n, seed);

const nodesOf = (p: Task, addr: number, n: number): number[] =>
  Array.from({ length: n }, (_, i) => run(p.nodeOf(addr + i * PAGE)));
const on = (nodes: number[], nid: number) => nodes.filter((n) => n === nid).length;
const count = (k: Kernel, name: string) => k.vmstat.get(name);

describe("NUMA balancing files", () => {
  it("numa_balancing takes 0..4 (sysctl_numa_balancing, SYSCTL_FOUR); the rate limit 0 and up", () => {
    const k = tiered();
    const file = "/proc/sys/kernel/numa_balancing";
    expect(run(k.fs.read(file))).toBe("0\n");
    for (const v of ["1", "2", "3", "4\n", "0"]) {
      run(k.fs.write(file, v));
      expect(run(k.fs.read(file))).toBe(`${v.trim()}\n`);
    }
    for (const bad of ["5", "-1", "two", ""]) {
      if (bad) expectErrno(k.fs.write(file, bad), "EINVAL");
    }
    expect(run(k.fs.read(file))).toBe("0\n");
    const rate = "/proc/sys/kernel/numa_balancing_promote_rate_limit_MBps";
    expect(run(k.fs.read(rate))).toBe("65536\n");
    run(k.fs.write(rate, "0"));
    expectErrno(k.fs.write(rate, "-1"), "EINVAL");
    expect(run(k.fs.read(rate))).toBe("0\n");
    run(k.shutdown());
  });

  it("debugfs tunables have the kernel's defaults and parse as debugfs u32 files", () => {
    const k = tiered();
    const read = (name: string) => run(k.fs.read(`${debugfs}/${name}`));
    expect(
      [
        "scan_delay_ms",
        "scan_period_min_ms",
        "scan_period_max_ms",
        "scan_size_mb",
        "hot_threshold_ms",
      ].map(read),
    ).toEqual(["1000\n", "1000\n", "60000\n", "256\n", "1000\n"]);
    run(k.fs.write(`${debugfs}/hot_threshold_ms`, "0x200"));
    expect(read("hot_threshold_ms")).toBe("512\n");
    expectErrno(k.fs.write(`${debugfs}/scan_size_mb`, "big"), "EINVAL");
    expect(read("scan_size_mb")).toBe("256\n");
    // debugfs_u32_set() through simple_attr_write() (fs/libfs.c): kstrtoull() takes no leading
    // space and nothing at all (an empty write is EINVAL, not sysfs's 0); a value past 32 bits
    // keeps its low 32 (*(u32 *)data = val).
    for (const bad of [" 512", "512 ", ""])
      expectErrno(k.fs.write(`${debugfs}/scan_size_mb`, bad), "EINVAL");
    run(k.fs.write(`${debugfs}/scan_size_mb`, "0x100000200\n"));
    expect(read("scan_size_mb")).toBe("512\n");
    run(k.shutdown());
  });
});

describe("memory tiering promotion (NUMA_BALANCING_MEMORY_TIERING)", () => {
  it("marks slow-tier pages PROT_NONE, and promotes each hot one on its hint fault (do_numa_page)", async () => {
    const k = tiered();
    run(k.fs.write("/proc/sys/kernel/numa_balancing", "2"));
    const n = 512;
    const { p, addr } = onSlowTier(k, n, 1);
    const fast = run(p.mmap(64 * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    run(p.write(fast, pattern(64 * PAGE, 2))); // on node 0: top tier, never scanned in mode 2
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* k.numaBalancing.run();
        expectErrno(k.numaBalancing.run(), "EBUSY");
        yield* TestClock.adjust("999 millis");
        expect(k.vmstat.get("numa_pte_updates")).toBe(0); // scan_delay_ms not over yet
        yield* TestClock.adjust("1 millis");
        expect(k.vmstat.get("numa_pte_updates")).toBe(n);
        // Touched at once: hint-fault latency 0, under hot_threshold_ms.
        expect(sameBytes(yield* p.read(addr, n * PAGE), pattern(n * PAGE, 1))).toBe(true);
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expect(on(nodesOf(p, addr, n), 0)).toBe(n);
    expect(count(k, "numa_hint_faults")).toBe(n);
    expect(count(k, "numa_hint_faults_local")).toBe(0);
    expect(count(k, "pgpromote_candidate")).toBe(n);
    expect(count(k, "pgpromote_success")).toBe(n);
    expect(count(k, "numa_pages_migrated")).toBe(n);
    expect(count(k, "pgmigrate_success")).toBe(n);
    expect(sameBytes(run(p.read(addr, n * PAGE)), pattern(n * PAGE, 1))).toBe(true);
    expect(sameBytes(run(p.read(fast, 64 * PAGE)), pattern(64 * PAGE, 2))).toBe(true);
    await runP(k.shutdown());
    expect(k.numaBalancing.running).toBe(false);
  });

  it("promotes at most numa_balancing_promote_rate_limit_MBps per second (numa_promotion_rate_limit)", async () => {
    const k = tiered();
    run(k.fs.write("/proc/sys/kernel/numa_balancing", "2"));
    run(k.fs.write("/proc/sys/kernel/numa_balancing_promote_rate_limit_MBps", "1"));
    run(k.fs.write(`${debugfs}/scan_delay_ms`, "5000"));
    const n = 600;
    const { p, addr } = onSlowTier(k, n, 3);
    const seen = await Effect.runPromise(
      Effect.gen(function* () {
        yield* k.numaBalancing.run();
        yield* TestClock.adjust("5000 millis"); // first scan
        yield* p.read(addr, n * PAGE);
        const first = on(nodesOf(p, addr, n), 0);
        yield* TestClock.adjust("1000 millis"); // second scan of what is left on node 1
        yield* TestClock.adjust("1 millis"); // a new one-second window
        yield* p.read(addr, n * PAGE);
        const second = on(nodesOf(p, addr, n), 0) - first;
        return { first, second };
      }).pipe(Effect.provide(TestClock.layer())),
    );
    // 1 MB/s of 4 KiB pages: 256 pages a second.
    expect(seen).toEqual({ first: 256, second: 256 });
    expect(count(k, "pgpromote_success")).toBe(512);
    // Every hot fault was a candidate: 600 in the first second, the 344 left in the second.
    expect(count(k, "pgpromote_candidate")).toBe(600 + 344);
    expect(sameBytes(run(p.read(addr, n * PAGE)), pattern(n * PAGE, 3))).toBe(true);
    await runP(k.shutdown());
  });

  it("promotes at once, counting no candidate, while the top tier has 1 GiB free above its promo watermark (pgdat_free_space_enough)", () => {
    // A 2 GiB DRAM node: enough_wmark = max(1 GiB, present pages / 16) = 262144 pages.
    const k = boot({ nodes: ["2G", { memory: "64M", adistance: MEMTIER_DEFAULT_DAX_ADISTANCE }] });
    run(k.fs.write("/proc/sys/kernel/numa_balancing", "2"));
    // No promotion at all through the rate limit.
    run(k.fs.write("/proc/sys/kernel/numa_balancing_promote_rate_limit_MBps", "0"));
    const { p, addr } = onSlowTier(k, 2, 12);
    const zone = k.pageAlloc.zones[0]!;
    const mark = zone.watermark[WMARK_PROMO]! + Math.max(2 ** 18, zone.presentPages >> 4);
    expect(mark).toBe(zone.watermark[WMARK_PROMO]! + 262144);
    // Kernel memory fills node 0 down to exactly the mark: not enough (free must exceed it).
    const held: Folio[] = [];
    while (zone.freePages - mark >= 1024)
      held.push(run(k.allocFolio(0, 10, GFP_KERNEL | __GFP_THISNODE)));
    while (zone.freePages > mark) held.push(run(k.allocFolio(0, 0, GFP_KERNEL | __GFP_THISNODE)));
    expect(zone.freePages).toBe(mark);
    expect(k.numaBalancing.taskNumaWork(p)).toBe(2);
    run(p.read(addr, 1)); // hot (latency 0), but over the rate limit: stays, a candidate
    // folioAt() reads the PTE without faulting (p.nodeOf() would fault on the second page).
    const nids = () => [addr, addr + PAGE].map((a) => k.mem.pfnToNid(folioAt(p, a).pfn));
    expect(nids()).toEqual([1, 1]);
    expect(count(k, "pgpromote_candidate")).toBe(1);
    // One page more free: enough. Promoted without the threshold or the rate limit, and not
    // counted as a candidate (Linux 6.16 has no pgpromote_candidate_nrl yet).
    k.folioPut(held.pop()!);
    expect(zone.freePages).toBe(mark + 1);
    run(p.read(addr + PAGE, 1));
    expect(nids()).toEqual([1, 0]);
    expect(count(k, "pgpromote_candidate")).toBe(1);
    expect(count(k, "pgpromote_success")).toBe(1);
    expect(sameBytes(run(p.read(addr, 2 * PAGE)), pattern(2 * PAGE, 12))).toBe(true);
    for (const folio of held) k.folioPut(folio);
    run(k.shutdown());
  });

  it("leaves a page whose fault came hot_threshold_ms or later after its scan (numa_hint_fault_latency)", async () => {
    const k = tiered();
    run(k.fs.write("/proc/sys/kernel/numa_balancing", "2"));
    run(k.fs.write(`${debugfs}/hot_threshold_ms`, "500"));
    const n = 16;
    const { p, addr } = onSlowTier(k, n, 4);
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* k.numaBalancing.run();
        yield* TestClock.adjust("1000 millis"); // scanned at 1000
        yield* TestClock.adjust("500 millis");
        yield* p.read(addr, n * PAGE); // latency 500: not hot
        expect(on(nodesOf(p, addr, n), 0)).toBe(0);
        expect(k.vmstat.get("numa_hint_faults")).toBe(n);
        expect(k.vmstat.get("pgpromote_candidate")).toBe(0);
        yield* TestClock.adjust("500 millis"); // scanned again at 2000
        yield* TestClock.adjust("499 millis");
        yield* p.read(addr, n * PAGE); // latency 499: hot
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expect(on(nodesOf(p, addr, n), 0)).toBe(n);
    expect(count(k, "pgpromote_success")).toBe(n);
    await runP(k.shutdown());
  });

  it("wakes the top tier's kswapd when it lacks room, which demotes to the promo watermark (migrate_misplaced_folio_prepare)", async () => {
    // kswapd starts when the test says (kswapd.run()), once the top tier is full.
    const k = boot({
      daemons: "on-demand",
      nodes: ["16M", { memory: "64M", adistance: MEMTIER_DEFAULT_DAX_ADISTANCE }],
    });
    run(k.fs.write("/sys/kernel/mm/numa/demotion_enabled", "1"));
    const zone = k.pageAlloc.zones[0]!;
    const n = 8;
    const { p, addr } = onSlowTier(k, n, 7);
    // Cold memory fills node 0 to one page above its high watermark: balanced for kswapd, but
    // short of the high watermark plus a page that a promotion needs (migrate_balanced_pgdat()).
    const filler = run(k.createProcess({ node: 0 }));
    run(filler.setMempolicy(MPOL_BIND, [0]));
    const cold = zone.freePages - zone.watermark[WMARK_HIGH]! - 1;
    const coldAddr = run(filler.mmap(cold * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    run(filler.write(coldAddr, pattern(cold * PAGE, 8)));
    const seen = await Effect.runPromise(
      Effect.gen(function* () {
        yield* k.kswapd.run();
        yield* TestClock.adjust("1000 millis"); // kswapd naps, then sleeps: node 0 is balanced
        expect(k.vmstat.get("pageoutrun")).toBe(0);
        yield* k.fs.write("/proc/sys/kernel/numa_balancing", "2");
        yield* k.numaBalancing.run();
        yield* TestClock.adjust("1000 millis");
        yield* p.read(addr, n * PAGE); // hot, but the first fault finds no room: kswapd is woken
        const first = on(nodesOf(p, addr, n), 0);
        expect(k.vmstat.get("pgpromote_candidate")).toBe(n);
        // In tiering mode kswapd balances to the promo watermark (pgdat_balanced()).
        // kswapd runs beside the task: it demotes cold pages until node 0 is above the promo
        // watermark (pgdat_balanced() in tiering mode), and the faults after it find room.
        yield* waitUntil(() => k.vmstat.get("pgdemote_kswapd") > 0);
        yield* TestClock.adjust("1000 millis"); // the next scan
        yield* p.read(addr, n * PAGE);
        return { first, after: on(nodesOf(p, addr, n), 0) };
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expect(seen.first).toBeLessThan(n);
    expect(seen.after).toBe(n);
    expect(count(k, "pageoutrun")).toBeGreaterThan(0);
    expect(count(k, "pgdemote_kswapd")).toBeGreaterThan(0);
    expect(count(k, "pgpromote_success")).toBe(n);
    expect(sameBytes(run(p.read(addr, n * PAGE)), pattern(n * PAGE, 7))).toBe(true);
    expect(sameBytes(run(filler.read(coldAddr, cold * PAGE)), pattern(cold * PAGE, 8))).toBe(true);
    await runP(k.shutdown());
    expect(k.kswapd.running).toBe(false);
    expect(k.numaBalancing.running).toBe(false);
  });

  it("a migrator sees promotion's batches when its reason mask includes numa_misplaced, and not otherwise", async () => {
    for (const mask of [1 << MR_NUMA_MISPLACED, 1 << MR_COMPACTION]) {
      const k = tiered();
      run(k.fs.write("/proc/sys/kernel/numa_balancing", "2"));
      const recorder = recordingMigrator(k);
      run(k.migrateOffload.register(recorder.migrator, mask));
      const { p, addr } = onSlowTier(k, 32, 5);
      await Effect.runPromise(
        Effect.gen(function* () {
          yield* k.numaBalancing.run();
          yield* TestClock.adjust("1000 millis");
          yield* p.read(addr, 32 * PAGE);
        }).pipe(Effect.provide(TestClock.layer())),
      );
      expect(count(k, "pgpromote_success")).toBe(32);
      if (mask === 1 << MR_NUMA_MISPLACED) {
        expect(new Set(recorder.reasons)).toEqual(new Set([MR_NUMA_MISPLACED]));
        expect(recorder.copies()).toBe(32);
        // migrate_misplaced_folio() runs in the faulting task's context: each of the 32
        // promotions (one folio a batch) is an offloaded batch charged to that task.
        expect(p.migration.offloadBatches).toBe(32);
      } else {
        expect(recorder.reasons).toEqual([]);
        expect(recorder.copies()).toBe(0);
        expect(p.migration.offloadBatches).toBe(0);
      }
      expect(sameBytes(run(p.read(addr, 32 * PAGE)), pattern(32 * PAGE, 5))).toBe(true);
      await runP(k.shutdown());
    }
  });
});

describe("NUMA balancing between DRAM nodes (NUMA_BALANCING_NORMAL)", () => {
  it("moves a page to the node of the task that faults on it, never counting a promotion", async () => {
    const k = boot(); // two 64 MiB DRAM nodes
    run(k.fs.write("/proc/sys/kernel/numa_balancing", "1"));
    const p = run(k.createProcess({ node: 0 }));
    run(p.setMempolicy(MPOL_BIND, [1]));
    const addr = run(p.mmap(8 * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
    run(p.write(addr, pattern(8 * PAGE, 6)));
    run(p.setMempolicy(MPOL_DEFAULT, []));
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* k.numaBalancing.run();
        yield* TestClock.adjust("1000 millis");
        yield* p.read(addr, 8 * PAGE);
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expect(on(nodesOf(p, addr, 8), 0)).toBe(8);
    expect(count(k, "numa_pte_updates")).toBe(8);
    expect(count(k, "numa_pages_migrated")).toBe(8);
    expect(count(k, "pgpromote_success")).toBe(0);
    expect(count(k, "pgpromote_candidate")).toBe(0);
    await runP(k.shutdown());
  });

  it("leaves a slow-tier page on its first hint fault, which only records the faulting CPU, and moves it on the second (should_numa_migrate_memory: !cpupid_valid(last_cpupid))", async () => {
    const k = tiered();
    run(k.fs.write("/proc/sys/kernel/numa_balancing", "1"));
    const n = 8;
    const { p, addr } = onSlowTier(k, n, 9);
    const seen = await Effect.runPromise(
      Effect.gen(function* () {
        yield* k.numaBalancing.run();
        yield* TestClock.adjust("1000 millis"); // the first scan
        yield* p.read(addr, n * PAGE);
        const first = on(nodesOf(p, addr, n), 0);
        yield* TestClock.adjust("1000 millis"); // the second scan
        yield* p.read(addr, n * PAGE);
        return { first, second: on(nodesOf(p, addr, n), 0) };
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expect(seen).toEqual({ first: 0, second: n });
    expect(count(k, "numa_hint_faults")).toBe(2 * n);
    expect(count(k, "numa_pages_migrated")).toBe(n);
    // Not memory tiering mode: no candidate, no promotion counted, though the page went up a tier.
    expect(count(k, "pgpromote_candidate")).toBe(0);
    expect(count(k, "pgpromote_success")).toBe(0);
    expect(sameBytes(run(p.read(addr, n * PAGE)), pattern(n * PAGE, 9))).toBe(true);
    await runP(k.shutdown());
  });
});

// The folio's last cpupid (page->_last_cpupid, include/linux/mm.h; Linux 6.16): what
// should_numa_migrate_memory() compares a hinting fault with. It lives in the page, so it goes
// where the page goes: reset by free_pages_prepare() (page_cpupid_reset_last()), handed to the
// new folio by folio_migrate_flags() (mm/migrate.c), to every new folio by
// __split_folio_to_order() (mm/huge_memory.c).
describe("the last cpupid (page->_last_cpupid)", () => {
  /** A hinting fault by `p` on `addr` now: its scan, then an access. */
  const hintFault = (k: Kernel, p: Task, addr: number) => {
    expect(k.numaBalancing.taskNumaWork(p)).toBeGreaterThan(0);
    run(p.read(addr, 1));
  };

  it("migration hands it to the new folio and resets the old page's (folio_migrate_flags())", () => {
    const k = boot(); // two 64 MiB DRAM nodes
    run(k.fs.write("/proc/sys/kernel/numa_balancing", "1"));
    const { p, addr } = placed(k, 0, 1, 1, 3);
    const old = folioAt(p, addr).pfn;
    expect(k.memmap.lastCpupid[old]).toBe(-1);
    // The first fault (cpupid_pid_unset(last_cpupid)) moves it to the task's node at once.
    hintFault(k, p, addr);
    expect(count(k, "numa_pages_migrated")).toBe(1);
    const now = folioAt(p, addr).pfn;
    expect(k.mem.pfnToNid(now)).toBe(0);
    expect(k.memmap.lastCpupid[now]).toBe(cpuPidToCpupid(0, p.pid));
    expect(k.memmap.lastCpupid[old]).toBe(-1);
    expect(sameBytes(run(p.read(addr, PAGE)), pattern(PAGE, 3))).toBe(true);
    expectConsistent(k);
  });

  // task_numa_work() (kernel/sched/fair.c, Linux 6.16) scans only when mmap_read_trylock() gets
  // the address space's lock: a writer holding it (or waiting for it) skips this round.
  it("task_numa_work() scans nothing while the mmap_lock is held for writing (mmap_read_trylock())", () => {
    const k = tiered();
    run(k.fs.write("/proc/sys/kernel/numa_balancing", "2"));
    const { p } = onSlowTier(k, 1, 8);
    const lock = p.mm!.mmapLock;
    expect(lock.tryWrite()).toBe(true);
    expect(k.numaBalancing.taskNumaWork(p)).toBe(0);
    lock.releaseWrite();
    expect(k.numaBalancing.taskNumaWork(p)).toBe(1);
    expect([lock.readers, lock.writer]).toEqual([0, false]);
    expectConsistent(k);
  });

  it("in memory tiering mode it holds a slow-tier page's scan time, which a promotion does not carry up", () => {
    const k = tiered();
    run(k.fs.write("/proc/sys/kernel/numa_balancing", "2"));
    const { p, addr } = onSlowTier(k, 1, 7);
    const old = folioAt(p, addr).pfn;
    // No scanner clock here: the scan is at time 0 (folio_xchg_access_time()).
    expect(k.numaBalancing.taskNumaWork(p)).toBe(1);
    expect(k.memmap.lastCpupid[old]).toBe(0);
    run(p.read(addr, 1));
    expect(count(k, "pgpromote_success")).toBe(1);
    const now = folioAt(p, addr).pfn;
    expect(k.mem.pfnToNid(now)).toBe(0);
    // folio_migrate_flags(): across tiers in memory tiering mode the new folio starts reset.
    expect(k.memmap.lastCpupid[now]).toBe(-1);
    expect(k.memmap.lastCpupid[old]).toBe(-1);
    expectConsistent(k);
  });

  it("a freed page forgets it (page_cpupid_reset_last()): its next owner's first fault moves it", () => {
    const k = boot();
    run(k.fs.write("/proc/sys/kernel/numa_balancing", "1"));
    // A task of node 0 faults on its page of node 0: the fault is recorded, nothing moves.
    const { p, addr: a } = placed(k, 0, 0, 1, 4);
    const pfn = folioAt(p, a).pfn;
    hintFault(k, p, a);
    expect(count(k, "numa_pages_migrated")).toBe(0);
    expect(k.memmap.lastCpupid[pfn]).toBe(cpuPidToCpupid(0, p.pid));
    run(p.munmap(a, PAGE));
    expect(k.memmap.lastCpupid[pfn]).toBe(-1);
    // The page's next owner, a task of node 1, gets it from node 0 and faults on it: with no
    // fault recorded it moves to node 1 at once (the stale node 0 would have kept it there).
    const { p: q, addr: b } = placed(k, 1, 0, 1, 5);
    expect(folioAt(q, b).pfn).toBe(pfn);
    hintFault(k, q, b);
    expect(count(k, "numa_pages_migrated")).toBe(1);
    expect(run(q.nodeOf(b))).toBe(1);
    expect(k.memmap.lastCpupid[folioAt(q, b).pfn]).toBe(cpuPidToCpupid(1, q.pid));
    expect(sameBytes(run(q.read(b, PAGE)), pattern(PAGE, 5))).toBe(true);
    expectConsistent(k);
  });

  it("a split hands the large folio's to every page (__split_folio_to_order()); the pages it frees forget it", () => {
    // 64 KiB folios, mapped by PTEs: NUMA balancing scans them (a huge PMD it does not).
    const k = boot({ thp: { enabled: "never", sizes: { "64kB": "always" } } });
    run(k.fs.write("/proc/sys/kernel/numa_balancing", "1"));
    const p = run(k.createProcess({ node: 0 }));
    run(p.setMempolicy(MPOL_BIND, [0]));
    // A 64 KiB-aligned hint, free, is used (arch_get_unmapped_area_topdown()): the top-down
    // layout's first range, mmap_base - 64 KiB = 0x7ffff7fef000, is not aligned for the folio.
    const addr = run(p.mmap(16 * PAGE, { addr: 0x7fff_0000_0000 }));
    expect(addr).toBe(0x7fff_0000_0000);
    run(p.write(addr, pattern(16 * PAGE, 6)));
    run(p.setMempolicy(MPOL_DEFAULT, []));
    const head = folioAt(p, addr).pfn;
    expect(k.memmap.folioOrder(head)).toBe(4);
    hintFault(k, p, addr);
    expect(count(k, "numa_pages_migrated")).toBe(0);
    const cpupid = cpuPidToCpupid(0, p.pid);
    expect(k.memmap.lastCpupid[head]).toBe(cpupid);
    // A partial munmap queues the folio for a deferred split; the shrinker splits it.
    run(p.munmap(addr + 4 * PAGE, 4 * PAGE));
    expect(deferredSplitScan(k, 0)).toBe(1);
    expect(k.memmap.folioOrder(head)).toBe(0);
    const fields = Array.from({ length: 16 }, (_, i) => k.memmap.lastCpupid[head + i]);
    expect(fields).toEqual([
      ...Array(4).fill(cpupid),
      ...Array(4).fill(-1),
      ...Array(8).fill(cpupid),
    ]);
    expectConsistent(k);
  });
});
