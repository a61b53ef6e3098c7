/**
 * Memory tiering workloads: a process with a hot set and a cold set on a machine of DRAM nodes and
 * a slow tier (a CXL node without CPUs), driven through reclaim's demotion (`MR_DEMOTION`: direct
 * reclaim and `kswapd`, `mm/vmscan.c`) and NUMA balancing's promotion (`MR_NUMA_MISPLACED`:
 * hint faults in memory tiering mode, `kernel/sched/fair.c`, `mm/migrate.c`), with time advanced
 * by `TestClock` alone. The `demotion`, `promotion` and `tiering` entries of
 * {@link MIGRATION_CALLERS} drive them ({@link driveTiering}).
 *
 * Every step runs alone, so that a run with an offloaded migrator (whose copies wait on threads
 * or a DMA engine) meets the same memory at each step as the serial run: direct reclaim runs in
 * the faulting task with no daemon started; `kswapd` is started once one write has left the node
 * under its low watermark and left to reclaim while the task waits for it to sleep, then
 * stopped (`kswapd_stop()`); the NUMA
 * scanner marks pages only when the clock reaches a scan, and the task's hint faults promote
 * while nothing else runs. The daemons run on the `TestClock`; the task's own steps run on the
 * live clock, and while `kswapd` reclaims the test clock follows the live one, so that a copy
 * engine's deadline (dcbm's `wait_for_completion_timeout()` on the caller's clock) passes for an
 * injected hang wherever the batch was.
 *
 * @module
 */
import {
  type ErrnoError,
  type Kernel,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MPOL_BIND,
  MPOL_DEFAULT,
  type SignalError,
  type Task,
  WMARK_HIGH,
  WMARK_LOW,
} from "@migrate-offload/core";
import { Duration, Effect } from "effect";
import { TestClock } from "effect/testing";
import fc from "fast-check";
import { pfnAt, scenarioRegionBytes } from "./pages";

/**
 * What a tiering workload does: its sets, how far it pushes the top-tier node, and how NUMA
 * balancing sees it. Sizes are in 4 KiB base pages.
 *
 * @category Generators
 */
export interface TieringWorkload {
  /** Pages of the cold set: written first, then left alone until the promotion phase warms some. */
  readonly coldPages: number;
  /** Pages of the hot set: written after the cold set, and read again between every step. */
  readonly hotPages: number;
  /**
   * Pages written past the free pages of the pressured node (the scratch set, written after the
   * hot set, `chunkPages` at a time with the hot set read between chunks): what direct reclaim
   * must make room for.
   */
  readonly pressurePages: number;
  /** Pages of the scratch set per write. */
  readonly chunkPages: number;
  /**
   * Whether `kswapd` runs after direct reclaim: started once a write has left the node under its
   * low watermark, it demotes until the node is above its high watermark.
   */
  readonly kswapd: boolean;
  /** `numa_balancing_promote_rate_limit_MBps`, or null for the default (65536). */
  readonly rateLimitMBps: number | null;
  /** The debugfs `hot_threshold_ms`, or null for the default (1000). */
  readonly hotThresholdMs: number | null;
  /**
   * One entry per scan period of the promotion phase: once the scan has marked the slow tier's
   * pages, the process waits this many milliseconds (under the 1000 ms period) and then reads its
   * hot set and the warm part of its cold set.
   */
  readonly delaysMs: readonly number[];
  /** Pages at the start of the cold set that turn hot in the promotion phase. */
  readonly warmPages: number;
}

/**
 * The phases a {@link driveTiering} runs: `"demotion"` (direct reclaim, then `kswapd` when the
 * workload asks), `"promotion"` (the sets placed on the slow tier by `MPOL_BIND`, then NUMA
 * balancing in memory tiering mode), or `"tiering"` (demotion, then the scratch set freed and
 * promotion of what turned hot).
 *
 * @category Generators
 */
export type TieringPhases = "demotion" | "promotion" | "tiering";

/**
 * Tiering workloads: up to 2048 cold pages, up to 256 hot ones, a push of up to 1024 pages past
 * the node's free memory, `kswapd` most of the time, and one to three scan periods with a low
 * rate limit or hot threshold some of the time. Shrinks towards small sets, no `kswapd`, the
 * defaults and one period read at once.
 *
 * @category Generators
 */
export const tieringWorkloadArb: fc.Arbitrary<TieringWorkload> = fc
  .record({
    coldPages: fc.integer({ min: 1, max: 2048 }),
    hotPages: fc.integer({ min: 1, max: 256 }),
    pressurePages: fc.integer({ min: 1, max: 1024 }),
    chunkPages: fc.constantFrom(64, 1, 512),
    kswapd: fc.oneof(
      { weight: 1, arbitrary: fc.constant(false) },
      { weight: 3, arbitrary: fc.constant(true) },
    ),
    rateLimitMBps: fc.option(fc.constantFrom(1, 2), { nil: null }),
    hotThresholdMs: fc.option(fc.constantFrom(500, 100), { nil: null }),
    delaysMs: fc.array(fc.constantFrom(0, 1, 200, 600, 999), { minLength: 1, maxLength: 3 }),
    warmPages: fc.nat({ max: 1024 }),
  })
  .map((w) => ({ ...w, warmPages: Math.min(w.warmPages, w.coldPages) }));

/** The byte tags of the workload's sets (`scenarioRegionBytes`' region), apart from a scenario's. */
const COLD = 100;
const HOT = 101;
const SCRATCH = 102;

/**
 * The `/proc/vmstat` counters of reclaim, demotion and NUMA balancing (`mm/vmscan.c`,
 * `kernel/sched/fair.c`, `mm/migrate.c`) the tiering callers compare between the serial and
 * offloaded runs: `pgdemote_*`, `pgpromote_*`, `numa_*`, `pgscan_*`, `pgsteal_*`, the LRU's
 * `pgactivate` / `pgdeactivate` / `pgrefill`, `allocstall_normal` and `pageoutrun`. Not kswapd's
 * `*_wmark_hit_quickly`: they say whether a 100 ms nap ended by itself or by a wake-up, and while
 * kswapd reclaims the test clock follows the live one (so that a DMA deadline can pass), so they
 * measure how long the copies took in real time, which the offloaded run may not match.
 *
 * @category Oracle
 */
export const TIERING_COUNTERS = [
  "pgdemote_kswapd",
  "pgdemote_direct",
  "pgpromote_success",
  "pgpromote_candidate",
  "numa_pte_updates",
  "numa_hint_faults",
  "numa_hint_faults_local",
  "numa_pages_migrated",
  "pgscan_kswapd",
  "pgscan_direct",
  "pgscan_anon",
  "pgscan_file",
  "pgsteal_kswapd",
  "pgsteal_direct",
  "pgsteal_anon",
  "pgsteal_file",
  "pgactivate",
  "pgdeactivate",
  "pgrefill",
  "allocstall_normal",
  "pageoutrun",
] as const;

/** One set of the workload: where it is mapped, its pages, its byte tag. */
interface WorkloadSet {
  readonly name: string;
  readonly addr: number;
  readonly pages: number;
  readonly tag: number;
  /** Mapped until the end (false once the workload unmapped it). */
  mapped: boolean;
}

/**
 * What {@link driveTiering} observed: for each set, the node of every page as runs (`"1x512,0x64"`:
 * 512 pages on node 1, then 64 on node 0; -1 for a page not present), and the pages the
 * promotion phase found on the top tier after each period.
 *
 * @category Oracle
 */
export interface TieringResult {
  readonly nodes: Readonly<Record<string, string>>;
  readonly promotedByPeriod: readonly number[];
}

/** The nodes of a run of pages as runs of one node: `"1x512,0x64"`. */
const nodeRuns = (nodes: readonly number[]): string => {
  const runs: string[] = [];
  for (let i = 0; i < nodes.length; ) {
    let j = i + 1;
    while (j < nodes.length && nodes[j] === nodes[i]) j++;
    runs.push(`${nodes[i]}x${j - i}`);
    i = j;
  }
  return runs.join(",");
};

/** The node of every page of a set, from the page table (no fault). */
const setNodes = (k: Kernel, task: Task, set: WorkloadSet): number[] =>
  Array.from({ length: set.pages }, (_, i) => {
    const pfn = pfnAt(task, set.addr + i * k.mem.pageSize);
    return pfn < 0 ? -1 : k.mem.pfnToNid(pfn);
  });

/**
 * Each set's bytes, read from the page frames its page table maps (no fault, so that the check
 * migrates nothing): one line per set with a page that differs or is gone.
 */
const checkSets = (k: Kernel, task: Task, sets: readonly WorkloadSet[]): string[] => {
  const problems: string[] = [];
  const page = k.mem.pageSize;
  for (const set of sets) {
    if (!set.mapped) continue;
    const want = scenarioRegionBytes(set.tag, 0, set.pages, page);
    for (let i = 0; i < set.pages; i++) {
      const pfn = pfnAt(task, set.addr + i * page);
      const got = pfn < 0 ? null : k.mem.bytes(pfn);
      if (got && Buffer.from(got).equals(Buffer.from(want.buffer, i * page, page))) continue;
      problems.push(
        `tiering ${set.name} set page ${i}: ${got ? "bytes differ" : "not present"} after the call`,
      );
      break;
    }
  }
  return problems;
};

/** A step of the task, on the live clock (see the module's description). */
const live = <A, E extends ErrnoError | SignalError>(
  step: Effect.Effect<A, E>,
): Effect.Effect<A, E> => TestClock.withLive(step);

/** Maps and writes a set of `pages` pages (base pages: `MADV_NOHUGEPAGE`). */
const writeSet = (
  task: Task,
  name: string,
  pages: number,
  tag: number,
  chunk = pages,
  between: Effect.Effect<unknown, ErrnoError | SignalError> = Effect.void,
): Effect.Effect<WorkloadSet, ErrnoError | SignalError> =>
  Effect.gen(function* () {
    const size = task.kernel.mem.pageSize;
    const addr = yield* task.mmap(pages * size, {
      flags: MAP_PRIVATE | MAP_ANONYMOUS,
      hugepage: false,
    });
    for (let first = 0; first < pages; first += chunk) {
      const n = Math.min(chunk, pages - first);
      yield* live(task.write(addr + first * size, scenarioRegionBytes(tag, first, n, size)));
      yield* live(between);
    }
    return { name, addr, pages, tag, mapped: true };
  });

/** The first node that is not top tier: the slow tier demotion fills. */
const slowNode = (k: Kernel): number => {
  const nid = k.mem.nodes.find(
    (n) => n.presentPages > 0 && !k.memoryTiers.nodeIsToptier(n.nid),
  )?.nid;
  if (nid === undefined) throw new RangeError("the machine has no slow memory tier");
  return nid;
};

/**
 * Waits until node `nid`'s `kswapd` sleeps, yielding to the event loop; while it reclaims, the
 * test clock follows the live one (see the module's description). Nothing else uses the test
 * clock meanwhile: the daemon's nap starts only once it sleeps.
 */
const kswapdSettled = (k: Kernel, nid: number): Effect.Effect<void> =>
  Effect.gen(function* () {
    let since = Date.now();
    while (!k.kswapd.sleeping(nid)) {
      yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)));
      if (k.kswapd.sleeping(nid)) return;
      const now = Date.now();
      if (now - since >= 10) {
        yield* TestClock.adjust(Duration.millis(now - since));
        since = now;
      }
    }
  });

/**
 * Waits until node `nid`'s `kswapd`, just started, has reclaimed and sleeps: `kswapd()` tries to
 * sleep first, and a node under its high watermark keeps it awake (`prepare_kswapd_sleep()`,
 * `mm/vmscan.c`), so it reclaims at once (`balance_pgdat()`, counted in `pageoutrun`). Until its
 * fiber first runs it reads as asleep, so the wait is for its first `pageoutrun` (one more than
 * `pageoutrun`) and then for its sleep ({@link kswapdSettled}). A daemon started on a balanced
 * node naps without reclaiming: nothing to wait for.
 */
const kswapdStarted = (k: Kernel, nid: number, pageoutrun: number): Effect.Effect<void> =>
  Effect.gen(function* () {
    const zone = k.pageAlloc.zones[nid]!;
    if (k.pageAlloc.zoneWatermarkOk(nid, 0, zone.wmarkPages(WMARK_HIGH))) return;
    while (k.vmstat.get("pageoutrun") === pageoutrun)
      yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)));
    yield* kswapdSettled(k, nid);
  });

/**
 * Leaves node `nid` under its low watermark with one write (pages written from the free ones down
 * to one under the mark, with no daemon yet to wake, so no reclaim of any kind runs while the
 * write allocates), then starts `kswapd`, which finds the node short of its high watermark and
 * reclaims at once ({@link kswapdStarted}); waits until the daemon sleeps for good (each nap of
 * 100 ms passed on the clock), and stops it. Returns the set it wrote. Started only once the
 * write is done, the daemon meets the same node in every run, however the run's fibers are
 * scheduled: a daemon woken by the write's last allocation would reclaim beside the rest of that
 * allocation.
 */
const kswapdPhase = (k: Kernel, task: Task, nid: number) =>
  Effect.gen(function* () {
    const zone = k.pageAlloc.zones[nid]!;
    const low = zone.watermark[WMARK_LOW]!;
    const wake = yield* writeSet(task, "wake", Math.max(1, zone.freePages - low + 1), SCRATCH + 1);
    const pageoutrun = k.vmstat.get("pageoutrun");
    yield* k.kswapd.run();
    const settle = Effect.gen(function* () {
      yield* kswapdStarted(k, nid, pageoutrun);
      // balance_pgdat(), the 100 ms nap, and balance_pgdat() again while the nap ends
      // unbalanced: each step runs alone. After MAX_RECLAIM_RETRIES (16) runs without progress
      // the node is given up, so twenty rounds see it asleep for good.
      for (let round = 0; round < 20; round++) {
        yield* kswapdSettled(k, nid);
        yield* TestClock.adjust(Duration.millis(100));
      }
      yield* kswapdSettled(k, nid);
      return wake;
    });
    // Stopped however the phase ends, so that no daemon runs beside the oracle's checks.
    return yield* Effect.ensuring(settle, k.kswapd.stop());
  });

/**
 * Promotion: NUMA balancing in memory tiering mode (`numa_balancing` 2) with the workload's rate
 * limit and hot threshold, the scanner started on the clock, and one scan period per entry of
 * `delaysMs`: the clock reaches the scan, the process waits the delay, then reads `read` (its hint
 * faults promote what is hot, within the rate limit). Returns the pages of `read` on a top-tier
 * node after each period.
 */
const promotionPhase = (
  k: Kernel,
  task: Task,
  w: TieringWorkload,
  read: ReadonlyArray<{ readonly set: WorkloadSet; readonly pages: number }>,
) =>
  Effect.gen(function* () {
    const debugfs = "/sys/kernel/debug/sched/numa_balancing";
    yield* live(task.setMempolicy(MPOL_DEFAULT, []));
    yield* k.fs.write("/proc/sys/kernel/numa_balancing", "2");
    if (w.rateLimitMBps !== null)
      yield* k.fs.write(
        "/proc/sys/kernel/numa_balancing_promote_rate_limit_MBps",
        `${w.rateLimitMBps}`,
      );
    if (w.hotThresholdMs !== null)
      yield* k.fs.write(`${debugfs}/hot_threshold_ms`, `${w.hotThresholdMs}`);
    const delay = k.numaBalancing.scanDelayMs;
    const period = k.numaBalancing.scanPeriodMinMs;
    yield* k.numaBalancing.run();
    const promoted: number[] = [];
    let waited = 0;
    for (const [i, d] of w.delaysMs.entries()) {
      // The scan of period i runs when the clock reaches scan_delay_ms + i periods.
      yield* TestClock.adjust(Duration.millis((i === 0 ? delay : period) - waited + d));
      waited = d;
      for (const { set, pages } of read) {
        if (pages > 0) yield* live(task.read(set.addr, pages * k.mem.pageSize));
      }
      promoted.push(
        read.reduce(
          (sum, { set, pages }) =>
            sum +
            setNodes(k, task, set)
              .slice(0, pages)
              .filter((nid) => nid >= 0 && k.memoryTiers.nodeIsToptier(nid)).length,
          0,
        ),
      );
    }
    return promoted;
  });

/**
 * Drives a tiering workload on `task`, pressing node `nid` (a top-tier node), and observes it:
 * the node of every page of its sets, the promotions of each scan period, and its own promises
 * (every byte of every set intact, read from the frames). Runs on a `TestClock` of its own;
 * `kswapd` is stopped when it returns, the NUMA scanner sleeps until the clock moves (it never
 * does again). Fails with the error a step failed with.
 *
 * @category Oracle
 */
export const driveTiering = (
  k: Kernel,
  task: Task,
  nid: number,
  phases: TieringPhases,
  w: TieringWorkload,
): Effect.Effect<
  { readonly result: TieringResult; readonly problems: string[] },
  ErrnoError | SignalError
> =>
  Effect.gen(function* () {
    const slow = slowNode(k);
    const sets: WorkloadSet[] = [];
    let promotedByPeriod: number[] = [];
    if (phases === "promotion") {
      // The sets start on the slow tier, as a process bound there (numactl --membind) leaves them.
      yield* live(task.setMempolicy(MPOL_BIND, [slow]));
      const cold = yield* writeSet(task, "cold", w.coldPages, COLD);
      const hot = yield* writeSet(task, "hot", w.hotPages, HOT);
      sets.push(cold, hot);
      promotedByPeriod = yield* promotionPhase(k, task, w, [
        { set: hot, pages: hot.pages },
        { set: cold, pages: w.warmPages },
      ]);
    } else {
      // Memory of node nid alone: its direct reclaim must demote to make room.
      yield* live(task.setMempolicy(MPOL_BIND, [nid]));
      yield* k.fs.write("/sys/kernel/mm/numa/demotion_enabled", "1");
      const cold = yield* writeSet(task, "cold", w.coldPages, COLD);
      const hot = yield* writeSet(task, "hot", w.hotPages, HOT);
      const readHot = task.read(hot.addr, hot.pages * k.mem.pageSize);
      const push = k.pageAlloc.zones[nid]!.freePages + w.pressurePages;
      let scratch = yield* writeSet(task, "scratch", push, SCRATCH, w.chunkPages, readHot);
      sets.push(cold, hot, scratch);
      if (w.kswapd) {
        // Direct reclaim stops once the fault's page fits above the min watermark, so the node
        // may be left under its low watermark, where any allocation reclaims directly again. The
        // scratch set's newest pages go back first, until one allocation can cross the low
        // watermark and leave the rest to kswapd.
        const zone = k.pageAlloc.zones[nid]!;
        const page = k.mem.pageSize;
        let kept = scratch.pages;
        while (kept > 0 && zone.freePages <= zone.watermark[WMARK_LOW]!) {
          const n = Math.min(kept, zone.watermark[WMARK_LOW]! + 1 - zone.freePages);
          kept -= n;
          yield* live(task.munmap(scratch.addr + kept * page, n * page));
        }
        const trimmed = { ...scratch, pages: kept };
        sets[sets.indexOf(scratch)] = trimmed;
        scratch = trimmed;
        sets.push(yield* kswapdPhase(k, task, nid));
      }
      if (phases === "tiering") {
        // The scratch set is done with: its DRAM is room for promotion.
        yield* live(task.munmap(scratch.addr, scratch.pages * k.mem.pageSize));
        scratch.mapped = false;
        promotedByPeriod = yield* promotionPhase(k, task, w, [
          { set: hot, pages: hot.pages },
          { set: cold, pages: w.warmPages },
        ]);
      }
    }
    const nodes = Object.fromEntries(
      sets.filter((s) => s.mapped).map((s) => [s.name, nodeRuns(setNodes(k, task, s))]),
    );
    return { result: { nodes, promotedByPeriod }, problems: checkSets(k, task, sets) };
  }).pipe(Effect.provide(TestClock.layer()));
