/**
 * Automatic NUMA balancing: the scanner that plants NUMA hinting faults, and the decision a fault
 * makes.
 *
 * Models the NUMA balancing part of `kernel/sched/fair.c`. `task_numa_work()` marks the next
 * `scan_size_mb` of a process's memory `PROT_NONE` (`change_prot_numa()`, `mm/mprotect.c`) every
 * scan period, from where the last scan stopped; the model's scheduler tick is one fiber on the
 * `Clock` of the caller of `run()`, which runs every process's `task_numa_work()` each
 * `scan_period_min_ms` (the kernel adapts each task's period between the min and max). A fault on
 * such an entry (`do_numa_page()`, `mm/memory.c`) asks `should_numa_migrate_memory()`: in memory
 * tiering mode a page of a slow tier is promoted at once when the target node has plenty of free
 * memory (`pgdat_free_space_enough()`), else when the fault came within the hot threshold of
 * its scan (`numa_hint_fault_latency()`) and the target node's promotion rate limit allows
 * (`numa_promotion_rate_limit()`, in MB/s of candidates), the threshold adapting to the rate
 * (`numa_promotion_adjust_threshold()`); otherwise the two-stage filter on the folio's last
 * faulting node decides. The files are `/proc/sys/kernel/numa_balancing`,
 * `/proc/sys/kernel/numa_balancing_promote_rate_limit_MBps` and the debugfs tunables under
 * `/sys/kernel/debug/sched/numa_balancing/` (`kernel/sched/debug.c`).
 *
 * @module
 */
import { Clock, Duration, Effect, Fiber } from "effect";
import { type ErrnoError, errno } from "../../errno";
import { debugfsCreateU32 } from "../../fs/debugfs";
import { CAP_SYS_ADMIN } from "../../include/capability";
import type { Kernel } from "../../include/kernel";
import {
  cpuPidToCpupid,
  cpupidPidUnset,
  cpupidToNid,
  cpupidValid,
  folioXchgLastCpupid,
} from "../../include/mem_map";
import { MPOL_DEFAULT } from "../../include/mempolicy";
import { type MmStruct, VM_HUGETLB, VM_READ, VM_WRITE, type Vma } from "../../include/mm_types";
import { mmapReadTrylock, mmapReadUnlock } from "../../include/mmap_lock";
import { WMARK_PROMO } from "../../include/mmzone";
import {
  NUMA_BALANCING_MEMORY_TIERING,
  NUMA_BALANCING_NORMAL,
  type NumaBalancing,
} from "../../include/numa_balancing";
import type { TaskStruct } from "../../include/sched";
import { NUMA_NO_NODE } from "../../lib/numa";
import { hpagePmdSize } from "../../mm/huge_memory";
import { changeProtNuma } from "../../mm/mprotect";
import { vmaIsAccessible } from "../../mm/vma";
import { procDointvecMinmax } from "../sysctl";

/**
 * `NUMA_MIGRATION_ADJUST_STEPS` (`kernel/sched/fair.c`): 16, the steps the hot threshold moves
 * by, between `hot_threshold_ms / 8` and twice `hot_threshold_ms`.
 */
const NUMA_MIGRATION_ADJUST_STEPS = 16;

/** `MSEC_PER_SEC`. */
const MSEC_PER_SEC = 1000;

/** One node's promotion state (`pg_data_t`'s `nbp_rl_*`, `nbp_th_*`, `nbp_threshold`). */
interface PromotionNode {
  /** `PGPROMOTE_CANDIDATE` of the node: pages that passed the hot threshold. */
  candidates: number;
  /** Start of the rate limit's one-second window (`nbp_rl_start`), in ms. */
  rlStart: number;
  /** Candidates when the window began (`nbp_rl_nr_cand`). */
  rlNrCand: number;
  /** Start of the threshold's adjustment period (`nbp_th_start`), in ms. */
  thStart: number;
  /** Candidates when the period began (`nbp_th_nr_cand`). */
  thNrCand: number;
  /** The adapted hot threshold (`nbp_threshold`), ms; 0 until first adjusted. */
  threshold: number;
}

/**
 * A kernel's NUMA balancing (`kernel/sched/fair.c`).
 *
 * @category NUMA balancing
 */
export class NumaBalancingState implements NumaBalancing {
  mode = 0;
  scanDelayMs = 1000;
  scanPeriodMinMs = 1000;
  scanPeriodMaxMs = 60000;
  scanSizeMb = 256;
  hotThresholdMs = MSEC_PER_SEC;
  promoteRateLimitMBps = 65536;
  private fiber: Fiber.Fiber<void, never> | null = null;
  /** The clock of the fiber that started the scanner: the model's `jiffies`. */
  private clock: Clock.Clock | null = null;
  /** `mm->numa_scan_offset`: where each address space's next scan starts. */
  private readonly scanOffset = new WeakMap<MmStruct, number>();
  private readonly nodes: PromotionNode[];

  constructor(private readonly k: Kernel) {
    this.nodes = k.mem.nodes.map(() => ({
      candidates: 0,
      rlStart: 0,
      rlNrCand: 0,
      thStart: 0,
      thNrCand: 0,
      threshold: 0,
    }));
  }

  get running(): boolean {
    return this.fiber !== null;
  }

  /** `jiffies_to_msecs(jiffies)`: the scanner's clock, 0 before it started. */
  private now(): number {
    return this.clock?.currentTimeMillisUnsafe() ?? 0;
  }

  /**
   * `reset_memory_tiering()` (`kernel/sched/core.c`): switching memory tiering on starts every
   * node's threshold period afresh.
   */
  setMode(mode: number): void {
    if (!(this.mode & NUMA_BALANCING_MEMORY_TIERING) && mode & NUMA_BALANCING_MEMORY_TIERING) {
      const now = this.now();
      for (const node of this.nodes) {
        node.threshold = 0;
        node.thStart = now;
        node.thNrCand = node.candidates;
      }
    }
    this.mode = mode;
  }

  /**
   * `vma_migratable()` and the checks of `task_numa_work()`: hugetlb, inaccessible and read-only
   * file VMAs (shared libraries, whose pages are best left where they are) are not scanned.
   */
  private scannable(vma: Vma): boolean {
    if (vma.flags & VM_HUGETLB) return false;
    if (!vmaIsAccessible(vma.flags)) return false;
    return !(vma.mapping && (vma.flags & (VM_READ | VM_WRITE)) === VM_READ);
  }

  taskNumaWork(task: TaskStruct): number {
    const mm = task.mm;
    if (!this.mode || !mm) return 0;
    // task_numa_work() (Linux 6.16): the scan only when mmap_read_trylock() gets the lock.
    if (!mmapReadTrylock(mm)) return 0;
    try {
      return this.scanMm(mm);
    } finally {
      mmapReadUnlock(mm);
    }
  }

  /** The scan of `task_numa_work()` over `mm`, under its `mmap_lock`. */
  private scanMm(mm: MmStruct): number {
    const k = this.k;
    const shift = k.mem.pageShift;
    let pages = this.scanSizeMb * 2 ** (20 - shift);
    if (pages <= 0) return 0;
    let virtpages = pages * 8;
    const pmdSize = hpagePmdSize(k);
    const tiering = (this.mode & NUMA_BALANCING_MEMORY_TIERING) !== 0;
    const skipToptier = tiering && !(this.mode & NUMA_BALANCING_NORMAL);
    const now = this.now();
    // folio_use_access_time(): a slow-tier folio's last-cpupid field keeps its scan time.
    const recordScan = (head: number) => {
      if (tiering && !k.memoryTiers.nodeIsToptier(k.mem.pfnToNid(head))) {
        folioXchgLastCpupid(k.memmap, head, now);
      }
    };
    let start = this.scanOffset.get(mm) ?? 0;
    if (!mm.vmas.some((vma) => vma.end > start)) start = 0;
    let updated = 0;
    for (const vma of mm.vmas) {
      if (vma.end <= start || !this.scannable(vma)) continue;
      start = Math.max(start, vma.start);
      while (start < vma.end) {
        const aligned = Math.ceil((start + pages * k.mem.pageSize) / pmdSize) * pmdSize;
        const end = Math.min(aligned, vma.end);
        const n = changeProtNuma(k, vma, start, end, skipToptier, recordScan);
        updated += n;
        const spanned = (end - start) / k.mem.pageSize;
        if (n > 0) pages -= spanned;
        virtpages -= spanned;
        start = end;
        if (pages <= 0 || virtpages <= 0) {
          this.scanOffset.set(mm, start);
          k.vmstat.count("numa_pte_updates", updated);
          return updated;
        }
      }
    }
    // Past the last VMA: the next scan starts over (reset_ptenuma_scan()).
    this.scanOffset.set(mm, 0);
    k.vmstat.count("numa_pte_updates", updated);
    return updated;
  }

  /**
   * `numa_hint_fault_latency()`: time since the folio's scan, recording this fault's time
   * (`folio_xchg_access_time()`). A reset field (a folio never scanned since it was allocated or
   * moved across tiers) counts from the clock's start.
   */
  private hintFaultLatency(head: number): number {
    const now = this.now();
    const scanned = folioXchgLastCpupid(this.k.memmap, head, now);
    return now - Math.max(0, scanned);
  }

  /**
   * `numa_promotion_rate_limit()`: counts the candidate pages on the target node
   * (`pgpromote_candidate`), and refuses once more than the limit were counted within the current
   * second.
   */
  private promotionRateLimit(nid: number, rateLimit: number, nr: number): boolean {
    const node = this.nodes[nid]!;
    node.candidates += nr;
    this.k.vmstat.count("pgpromote_candidate", nr);
    const now = this.now();
    if (now - node.rlStart > MSEC_PER_SEC) {
      node.rlStart = now;
      node.rlNrCand = node.candidates;
    }
    return node.candidates - node.rlNrCand >= rateLimit;
  }

  /**
   * `numa_promotion_adjust_threshold()`: once per `scan_period_max_ms`, lowers the target node's
   * hot threshold by a step when more candidates came than the rate limit allows for the period
   * (by more than 10%), raises it when fewer came (by more than 10%).
   */
  private promotionAdjustThreshold(nid: number, rateLimit: number, refTh: number): void {
    const node = this.nodes[nid]!;
    const now = this.now();
    const period = this.scanPeriodMaxMs;
    if (now - node.thStart <= period) return;
    node.thStart = now;
    const refCand = Math.floor((rateLimit * period) / MSEC_PER_SEC);
    const diffCand = node.candidates - node.thNrCand;
    const unitTh = Math.floor((refTh * 2) / NUMA_MIGRATION_ADJUST_STEPS);
    let th = node.threshold || refTh;
    if (diffCand > Math.floor((refCand * 11) / 10)) th = Math.max(th - unitTh, unitTh);
    else if (diffCand < Math.floor((refCand * 9) / 10)) th = Math.min(th + unitTh, refTh * 2);
    node.thNrCand = node.candidates;
    node.threshold = th;
  }

  /**
   * `pgdat_free_space_enough()` (`kernel/sched/fair.c`): whether node `nid` has so much free
   * memory that promotion to it need not be rationed: free pages above its promo watermark plus
   * the larger of 1 GiB and a sixteenth of the node's present pages.
   */
  private pgdatFreeSpaceEnough(nid: number): boolean {
    const k = this.k;
    const zone = k.pageAlloc.zones[nid];
    if (!zone || zone.presentPages === 0) return false;
    const enoughWmark = Math.max(2 ** (30 - k.mem.pageShift), Math.floor(zone.presentPages / 16));
    return k.pageAlloc.zoneWatermarkOk(nid, 0, zone.wmarkPages(WMARK_PROMO) + enoughWmark);
  }

  /**
   * `should_numa_migrate_memory()` (Linux 6.16): in memory tiering mode, a slow-tier folio is
   * promoted at once when the target node has plenty of free memory
   * (`pgdat_free_space_enough()`: its hot threshold is reset, no candidate is counted, the
   * folio's access time is left as it was), else when hot and within the rate limit; otherwise
   * the two-stage filter lets a folio follow a task once two faults in a row came from the same
   * node, and a folio of a slow tier never on its first fault.
   */
  private shouldMigrateMemory(
    task: TaskStruct,
    head: number,
    srcNid: number,
    dstNid: number,
  ): boolean {
    const k = this.k;
    if (this.mode & NUMA_BALANCING_MEMORY_TIERING && !k.memoryTiers.nodeIsToptier(srcNid)) {
      if (this.pgdatFreeSpaceEnough(dstNid)) {
        // The workload changed: the hot threshold starts over.
        this.nodes[dstNid]!.threshold = 0;
        return true;
      }
      const defTh = this.hotThresholdMs;
      const rateLimit = this.promoteRateLimitMBps * 2 ** (20 - k.mem.pageShift);
      this.promotionAdjustThreshold(dstNid, rateLimit, defTh);
      const th = this.nodes[dstNid]!.threshold || defTh;
      if (this.hintFaultLatency(head) >= th) return false;
      return !this.promotionRateLimit(dstNid, rateLimit, k.memmap.folioNrPages(head));
    }
    // The folio's last cpupid (page->_last_cpupid): reset when it was freed, handed on by
    // migration and split.
    const last = folioXchgLastCpupid(k.memmap, head, cpuPidToCpupid(dstNid, task.pid));
    // Outside memory tiering mode, a slow-tier folio with no last faulting CPU (its first hint
    // fault) stays: this fault only records one (`!cpupid_valid(last_cpupid)`).
    if (!(this.mode & NUMA_BALANCING_MEMORY_TIERING) && !k.memoryTiers.nodeIsToptier(srcNid)) {
      if (!cpupidValid(last)) return false;
    }
    return cpupidPidUnset(last) || cpupidToNid(last) === dstNid;
  }

  migrateCheck(task: TaskStruct, vma: Vma, head: number): number {
    // mpol_misplaced(): only the default policy (MPOL_F_MOF | MPOL_F_MORON) follows the task.
    const policy = vma.policy ?? task.policy;
    if (policy && policy.mode !== MPOL_DEFAULT) return NUMA_NO_NODE;
    const srcNid = this.k.mem.pfnToNid(head);
    const dstNid = task.nid;
    if (!this.k.nodeHasMemory(dstNid)) return NUMA_NO_NODE;
    if (!this.shouldMigrateMemory(task, head, srcNid, dstNid)) return NUMA_NO_NODE;
    return srcNid === dstNid ? NUMA_NO_NODE : dstNid;
  }

  /** One tick of the scanner: every process's `task_numa_work()`, each address space once. */
  private tick(): void {
    const seen = new Set<MmStruct>();
    for (const task of this.k.tasks.values()) {
      if (!task.mm || seen.has(task.mm)) continue;
      seen.add(task.mm);
      this.taskNumaWork(task);
    }
  }

  run(): Effect.Effect<void, ErrnoError> {
    const self = this;
    return this.k.call(
      "numa_balancing_run",
      Effect.gen(function* () {
        if (self.fiber) return yield* Effect.fail(errno("EBUSY", "NUMA balancing runs already"));
        self.clock = yield* Clock.clockWith((clock) => Effect.succeed(clock));
        const loop = Effect.gen(function* () {
          yield* Effect.sleep(Duration.millis(self.scanDelayMs));
          for (;;) {
            if (self.k.state !== "running") return;
            yield* self.k.call(
              "task_numa_work",
              Effect.sync(() => self.tick()),
            );
            // A period of 0 would spin; the model waits at least 1 ms.
            yield* Effect.sleep(Duration.millis(Math.max(1, self.scanPeriodMinMs)));
          }
        });
        const fiber = yield* Effect.forkDetach(Effect.catch(loop, () => Effect.void));
        self.fiber = fiber;
        self.k.registerDevice({
          name: "numa_balancing",
          shutdown: () =>
            Effect.suspend(() => {
              self.fiber = null;
              return Fiber.interrupt(fiber);
            }),
        });
      }),
    );
  }
}

/**
 * Creates NUMA balancing's files: `/proc/sys/kernel/numa_balancing` (0644, 0..4, written only
 * with `CAP_SYS_ADMIN`, else `EPERM`: `sysctl_numa_balancing()`, `kernel/sched/core.c`), `/proc/sys/kernel/numa_balancing_promote_rate_limit_MBps`
 * (0644, 0 and up, `sched_fair_sysctls[]`), and the debugfs files `scan_delay_ms`,
 * `scan_period_min_ms`, `scan_period_max_ms`, `scan_size_mb` and `hot_threshold_ms` under
 * `/sys/kernel/debug/sched/numa_balancing/` (`kernel/sched/debug.c`).
 *
 * @category NUMA balancing
 */
export const numaBalancingInitSysfs = (k: Kernel, nb: NumaBalancingState): void => {
  k.fs.registerSysctl("kernel", {
    numa_balancing: {
      mode: 0o644,
      show: () => `${nb.mode}\n`,
      store: (text, count, current) => {
        // sysctl_numa_balancing() (kernel/sched/core.c): a writer without CAP_SYS_ADMIN is
        // refused before anything is parsed, even root by its ids.
        if (current && !current.capable(CAP_SYS_ADMIN)) {
          return errno(
            "EPERM",
            `numa_balancing: task ${current.pid} lacks CAP_SYS_ADMIN to change the mode`,
          );
        }
        const v = procDointvecMinmax("numa_balancing", text, count, k.mem.pageSize, 0, 4);
        if (v instanceof Error) return v;
        if (v) nb.setMode(v.value);
        return v?.consumed ?? 0;
      },
    },
    numa_balancing_promote_rate_limit_MBps: {
      mode: 0o644,
      show: () => `${nb.promoteRateLimitMBps}\n`,
      store: (text, count) => {
        const v = procDointvecMinmax(
          "numa_balancing_promote_rate_limit_MBps",
          text,
          count,
          k.mem.pageSize,
          0,
        );
        if (v instanceof Error) return v;
        if (v) nb.promoteRateLimitMBps = v.value;
        return v?.consumed ?? 0;
      },
    },
  });
  k.fs.addAttributes("/sys/kernel/debug/sched/numa_balancing", {
    scan_delay_ms: debugfsCreateU32(
      () => nb.scanDelayMs,
      (v) => {
        nb.scanDelayMs = v;
      },
    ),
    scan_period_min_ms: debugfsCreateU32(
      () => nb.scanPeriodMinMs,
      (v) => {
        nb.scanPeriodMinMs = v;
      },
    ),
    scan_period_max_ms: debugfsCreateU32(
      () => nb.scanPeriodMaxMs,
      (v) => {
        nb.scanPeriodMaxMs = v;
      },
    ),
    scan_size_mb: debugfsCreateU32(
      () => nb.scanSizeMb,
      (v) => {
        nb.scanSizeMb = v;
      },
    ),
    hot_threshold_ms: debugfsCreateU32(
      () => nb.hotThresholdMs,
      (v) => {
        nb.hotThresholdMs = v;
      },
    ),
  });
};
