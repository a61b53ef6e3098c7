/**
 * The multi-threaded CPU copy migrator.
 *
 * Models the `mtcopy` driver of the series (the v3 patch, `drivers/migoffcopy/mtcopy`) with Zi
 * Yan's design: a module that, once `offloading` is set, registers the `CPU_MT_COPY` migrator and
 * copies each batch on a pool of copy threads ({@link CopyEngine}, real `worker_threads`).
 *
 * The seed's two strategies:
 * - **fewer folios than threads**: every folio is cut into one equal chunk per thread, so all
 *   threads work on every folio;
 * - **otherwise** whole folios are dealt out, thread `i` taking `n / threads` of them plus one
 *   more when `i < n % threads`.
 * A batch of mixed folio sizes goes through {@link padataDoMultithreaded} instead, which
 * balances bytes, not folios.
 *
 * Failure: a chunk that meets a hwpoisoned page fails its folio; a worker that throws, exits or
 * hangs past the deadline fails the folios it held and is replaced. Any failure makes the batch
 * return `-EAGAIN`, as the seed does; the folios it did not mark are copied again on the CPU,
 * where poison is caught folio by folio.
 *
 * Beyond the seed, answering the review's point that threads slow migration down on a busy
 * machine ("at worst, the same as today") and Zi Yan's TODO 3 (a runtime check for when to use
 * threads): the `auto` thread policy counts idle CPUs from the load average, uses one thread per
 * idle CPU and the initiator's, and offloads a batch only when the copy-cost model
 * (`migrate_copy_cost.ts` of the core) predicts the threads finish no later than the CPU copy;
 * otherwise it declines (`-EOPNOTSUPP`, the CPU copy at no cost). With the `learn` option (on by
 * default), once
 * it has measured batches like it both ways (each batch's wall time, from `batchDone`), it takes
 * the cheaper instead (`OffloadLearner` of the core). Each decision is counted (`batches_taken`,
 * `batches_declined`) and traced (`mm_migrate_offload_decision`).
 *
 * @module
 */
import { availableParallelism, loadavg } from "node:os";
import {
  type Attribute,
  type BatchOutcome,
  type CopyBatch,
  type CopyCostProfile,
  CopyEngine,
  type CopyOffload,
  calibrateCopyCost,
  defineMigratorModule,
  ERRNO,
  errno,
  type FolioList,
  folioMarkContentCopied,
  type Kernel,
  kstrtouint,
  MIGRATE_REASONS_ALL,
  type Migrator,
  type MigratorModule,
  type ModuleDefinition,
  type OffloadDecision,
  OffloadPolicy,
} from "@migrate-offload/core";
import { Effect, Semaphore } from "effect";
import { padataDoMultithreaded } from "./padata";

/**
 * `MAX_NUM_COPY_THREADS` (`drivers/migoffcopy/mtcopy/copy_pages.c`): the most copy threads.
 *
 * @category mtcopy driver
 */
export const MAX_NUM_COPY_THREADS = 64;
/**
 * The migrator's name, as `cpu_migrator` (`drivers/migoffcopy/mtcopy/copy_pages.c`) spells it in
 * its `struct migrator`.
 *
 * @category mtcopy driver
 */
export const MTCOPY_MIGRATOR_NAME = "CPU_MT_COPY";
/**
 * The module name: `KBUILD_MODNAME` of `drivers/migoffcopy/mtcopy/copy_pages.c`.
 *
 * @category mtcopy driver
 */
export const MTCOPY_MODULE_NAME = "mtcopy";
/**
 * The sysfs directory the module creates: `kobject_create_and_add("cpu_mt", kernel_kobj)` in
 * `cpu_mt_module_init()` (`drivers/migoffcopy/mtcopy/copy_pages.c`).
 *
 * @category mtcopy driver
 */
export const MTCOPY_SYSFS_DIR = "/sys/kernel/cpu_mt";

/**
 * How many copy threads to use: a fixed count, the `limit_mt_num` of
 * `drivers/migoffcopy/mtcopy/copy_pages.c`, or (beyond the seed) `auto`, idle CPUs only.
 *
 * @category mtcopy driver
 */
export type ThreadPolicy = number | "auto";

/**
 * Options of {@link mtcopyDriver}: the initial `limit_mt_num` of
 * `drivers/migoffcopy/mtcopy/copy_pages.c`, and the knobs beyond the seed.
 *
 * @category mtcopy driver
 */
export interface MtcopyOptions {
  /** Initial thread policy (default 4, the seed's `limit_mt_num`). */
  readonly threads?: ThreadPolicy;
  /**
   * The copy-cost profile `auto` decides with (a fixed or saved one, see `parseCopyCostProfile`
   * of the core); default: calibrated on the copy threads at the first `auto` batch.
   */
  readonly costProfile?: CopyCostProfile;
  /** How long a copy thread may take per batch before it is replaced (default 10 s). */
  readonly deadlineMs?: number;
  /** Idle CPUs, for `auto`; default: measured from the load average (see {@link idleCpus}). */
  readonly idleCpus?: () => number;
  /**
   * Whether `auto` learns from whole batches (`OffloadLearner` of the core: each batch's wall
   * time, from `batchDone`) and takes the cheaper once measured; default true. False: the
   * copy-cost model alone, which compares copy steps and declines the batches of small folios
   * whose batch flow with copy threads beats the per-folio path although the copy alone does not
   * (docs/benchmarks.md).
   */
  readonly learn?: boolean;
  /** Copies one thread's ring holds per round (default 4096); larger batches run in rounds. */
  readonly ringCapacity?: number;
  /**
   * The copy threads' entry file (default: the one `@migrate-offload/core` ships, as
   * `@migrate-offload/core/copy-worker.mjs`); see `CopyEngineOptions.workerUrl`.
   */
  readonly workerUrl?: string | URL;
}

/**
 * Idle CPUs for copy threads besides the initiating thread's: the machine's `cpus` less what
 * other processes keep busy (the load average `load` less this process's own share `ownLoad`,
 * its threads' CPU time over the same time), less the initiating thread's CPU, to the nearest
 * whole CPU and at least 0. A CPU other processes keep busy less than half the time counts as
 * idle. For instance, 2 CPUs at load average 1.6 of which this process's threads make 1.5: the
 * others 0.1, `round(2 - 0.1 - 1) = 1` idle CPU; at load 12, none.
 *
 * Beyond the seed (Zi Yan's TODO of idle CPUs only): models `num_online_cpus()`
 * (`include/linux/cpumask.h`) less the load average `avenrun` (`kernel/sched/loadavg.c`) that
 * other tasks make.
 *
 * @param cpus - the machine's CPUs, at least 1.
 * @param load - the one-minute load average, which counts this process's runnable threads too.
 * @param ownLoad - this process's threads' CPU time over wall time, averaged as `load` is.
 * @returns whole CPUs, at least 0 and at most `cpus - 1`.
 *
 * @category mtcopy driver
 */
export const idleCpusOf = (cpus: number, load: number, ownLoad: number): number =>
  Math.max(0, Math.min(cpus - 1, Math.round(cpus - Math.max(0, load - ownLoad) - 1)));

/**
 * The last {@link idleCpus} answer and when it was read (`performance.now()`, ms), with this
 * process's CPU time then (µs) and its own load, averaged as the one-minute load average is.
 */
let idleCache = { at: Number.NEGATIVE_INFINITY, idle: 0, cpuUs: 0, ownLoad: 0 };

/** The one-minute load average's time constant, ms (`EXP_1`, `include/linux/sched/loadavg.h`). */
const LOAD_WINDOW_MS = 60_000;

/**
 * CPUs idle enough for copy threads ({@link idleCpusOf}): the machine's CPUs less the one-minute
 * load average that other processes make (the load average less this process's own CPU time
 * over the same time, its copy threads included), less the initiating thread, which is busy
 * migrating. The kernel updates the load average every 5 s (`LOAD_FREQ`,
 * `kernel/sched/loadavg.c`), so the answer is read again at most once a second; a batch pays for
 * no system call. This process's share is averaged as the load average is, over a minute: at the
 * first read, its CPU time since it started over that time.
 *
 * @category mtcopy driver
 */
export const idleCpus = (): number => {
  const now = performance.now();
  if (now - idleCache.at >= 1000) {
    const usage = process.cpuUsage();
    const cpuUs = usage.user + usage.system;
    const first = idleCache.at === Number.NEGATIVE_INFINITY;
    const spanMs = first ? process.uptime() * 1000 : now - idleCache.at;
    const recent = (cpuUs - (first ? 0 : idleCache.cpuUs)) / 1000 / Math.max(1, spanMs);
    const keep = first ? 0 : Math.exp(-spanMs / LOAD_WINDOW_MS);
    const ownLoad = idleCache.ownLoad * keep + recent * (1 - keep);
    idleCache = {
      at: now,
      cpuUs,
      ownLoad,
      idle: idleCpusOf(availableParallelism(), loadavg()[0]!, ownLoad),
    };
  }
  return idleCache.idle;
};

/**
 * A loaded mtcopy driver: the module of `drivers/migoffcopy/mtcopy/copy_pages.c`
 * (`cpu_mt_module_init()` / `cpu_mt_module_exit()`), its `cpu_migrator` and, for tools and tests,
 * its copy engine.
 *
 * @category mtcopy driver
 */
export interface MtcopyDriver {
  /** The module definition, for `kernel.loadModule`. */
  readonly module: ModuleDefinition;
  /** The copy engine, once offloading has started it. */
  readonly engine: CopyEngine | null;
  /** The migrator. */
  readonly migrator: Migrator;
  /** The current thread policy. */
  readonly threads: ThreadPolicy;
  /** `auto`'s policy: its profile and its taken and declined counters. */
  readonly policy: OffloadPolicy;
}

/**
 * Builds the mtcopy driver of `drivers/migoffcopy/mtcopy/copy_pages.c`
 * (`module_init(cpu_mt_module_init)`) for one kernel. Load it with
 * `kernel.loadModule(driver.module)`.
 *
 * @category mtcopy driver
 *
 * @example
 * ```ts
 * import { Kernel } from "@migrate-offload/core";
 * import { mtcopyDriver } from "@migrate-offload/mtcopy";
 * import { Effect } from "effect";
 *
 * await Effect.runPromise(
 *   Effect.scoped(
 *     Effect.gen(function* () {
 *       const kernel = yield* Kernel.make({ nodes: ["64M", "64M"] });
 *       yield* kernel.loadModule(mtcopyDriver(kernel, { threads: 2 }).module); // insmod
 *       yield* kernel.fs.write("/sys/kernel/cpu_mt/offloading", "1"); // registers CPU_MT_COPY
 *       console.log(kernel.migrateOffload.activeName); // "CPU_MT_COPY"
 *       yield* kernel.fs.write("/sys/kernel/cpu_mt/offloading", "0");
 *       yield* kernel.unloadModule("mtcopy"); // rmmod; the copy threads stop
 *     }),
 *   ),
 * );
 * ```
 */
export const mtcopyDriver = (kernel: Kernel, options: MtcopyOptions = {}): MtcopyDriver => {
  const m = kernel.memmap;
  let policy: ThreadPolicy = options.threads ?? 4;
  let engine: CopyEngine | null = null;
  const probe = options.idleCpus ?? idleCpus;
  // One batch at a time owns the copy threads' rings and tags; concurrent migrations queue here.
  const engineLock = Semaphore.makeUnsafe(1);
  // Reused from batch to batch (under the lock): grown only when a batch is larger than any before.
  let srcs = new Int32Array(512);
  let dsts = new Int32Array(512);

  const engineFor = (threads: number): CopyEngine => {
    if (!engine) {
      engine = new CopyEngine(kernel, {
        threads,
        maxTags: 1 << 18,
        deadlineMs: options.deadlineMs,
        capacity: options.ringCapacity,
        workerUrl: options.workerUrl,
      });
    } else if (engine.threads !== threads) engine.resize(threads);
    return engine;
  };

  /** Queues one copy; the engine fails the folio of a copy its ring refuses, and it falls back. */
  const push = (e: CopyEngine, lane: number, i: number, offset: number, length: number): void => {
    e.push(lane, srcs[i]!, dsts[i]!, offset, length, i);
  };

  /**
   * Queues folios `[from, to)` of the batch by the seed's strategies, or padata for mixed sizes.
   * The caller keeps `to - from` small enough for the lanes' rings.
   */
  const queue = (
    e: CopyEngine,
    from: number,
    to: number,
    threads: number,
    folioBytes: number,
    uniform: boolean,
  ): void => {
    const n = to - from;
    if (uniform && n < threads) {
      // Every thread copies a part of every folio.
      const chunk = Math.ceil(folioBytes / threads / 64) * 64;
      for (let i = from; i < to; i++) {
        for (let t = 0, at = 0; at < folioBytes; t++, at += chunk) {
          push(e, t, i, at, Math.min(chunk, folioBytes - at));
        }
      }
      return;
    }
    if (uniform) {
      // Whole folios dealt out: thread t takes n / threads, plus one while t < n % threads.
      const each = Math.floor(n / threads);
      let i = from;
      for (let t = 0; t < threads; t++) {
        for (let j = 0; j < each + (t < n % threads ? 1 : 0); j++, i++)
          push(e, t, i, 0, folioBytes);
      }
      return;
    }
    // Mixed sizes: padata over the pages of the slice, so every thread copies the same bytes.
    let total = 0;
    for (let i = from; i < to; i++) total += m.folioNrPages(srcs[i]!);
    let folio = from;
    let folioStart = 0;
    const pageSize = kernel.mem.pageSize;
    padataDoMultithreaded(
      { start: 0, size: total, align: 1, minChunk: 16, maxThreads: threads },
      (start, end, t) => {
        while (folioStart + m.folioNrPages(srcs[folio]!) <= start) {
          folioStart += m.folioNrPages(srcs[folio++]!);
        }
        for (let at = start; at < end; ) {
          const nr = m.folioNrPages(srcs[folio]!);
          const upto = Math.min(end, folioStart + nr);
          push(e, t, folio, (at - folioStart) * pageSize, (upto - at) * pageSize);
          at = upto;
          if (at === folioStart + nr) folioStart += m.folioNrPages(srcs[folio++]!);
        }
      },
    );
  };

  const offloadPolicy = new OffloadPolicy(
    kernel,
    MTCOPY_MIGRATOR_NAME,
    () => calibrateCopyCost(kernel, engine ? { engine } : {}),
    options.costProfile,
  );

  const migrator: Omit<Migrator, "owner"> = {
    name: MTCOPY_MIGRATOR_NAME,
    // `auto` turns down, before the batch is formed, a batch the model would decline: its folios
    // then take the kernel's per-folio copy with no batch flow at all.
    shouldBatch: (reason, batch) =>
      mod.allows(reason) &&
      (typeof policy === "number" || batch === undefined || offloadPolicy.offers(batch, lanes())),
    offloadCopy: (dst, src, count, batch) =>
      typeof policy === "number"
        ? engineLock.withPermit(copyBatch(dst, src, count, policy, null))
        : decideAuto(dst, src, batch),
    // `auto` with `learn` learns what each batch it decided really cost, whoever copied it.
    // Without `learn` there is no batchDone: no batch pays to report its end.
    ...((options.learn ?? true)
      ? {
          batchDone: (outcome: BatchOutcome) => {
            if (policy === "auto") offloadPolicy.batchDone(outcome);
          },
        }
      : {}),
  };

  /**
   * `auto`'s copy threads: one per idle CPU and the initiator's, if the model says they pay. The
   * same object while the idle count stays the same, so that a run of batches builds it once.
   */
  let lastLanes: Extract<CopyOffload, { readonly kind: "threads" }> | null = null;
  const lanes = (): Extract<CopyOffload, { readonly kind: "threads" }> => {
    const idle = probe();
    if (lastLanes?.idleCpus !== idle) {
      lastLanes = {
        kind: "threads",
        threads: Math.max(1, Math.min(idle + 1, MAX_NUM_COPY_THREADS)),
        idleCpus: idle,
      };
    }
    return lastLanes;
  };

  /**
   * `auto`: decides the batch before it waits for the copy threads, so that a declined batch
   * costs one walk of its list and the model's arithmetic. Only the first decision, which
   * calibrates on the copy threads, takes the lock. `offered` is the batch `shouldBatch` offered,
   * whose decision this copy takes.
   */
  function decideAuto(
    dst: FolioList,
    src: FolioList,
    offered: CopyBatch | undefined,
  ): Effect.Effect<number> {
    return Effect.suspend(() => {
      let n = 0;
      let bytes = 0;
      for (let s = src.first; s >= 0; s = src.next(s)) {
        bytes += m.folioNrPages(s) * kernel.mem.pageSize;
        n++;
      }
      const offload = lanes();
      const now = { folios: n, bytes, pageSize: kernel.mem.pageSize };
      const decide = offloadPolicy.decide(now, offload, offered ?? now);
      return Effect.flatMap(
        offloadPolicy.costProfile ? decide : engineLock.withPermit(decide),
        (d) =>
          d.taken
            ? engineLock.withPermit(copyBatch(dst, src, n, offload.threads, d))
            : Effect.succeed(-ERRNO.EOPNOTSUPP),
      );
    });
  }

  /**
   * Copies one batch on `threads` copy threads; the caller holds `engineLock`. With `auto`'s
   * `decision`, the copy's time is reported to the policy.
   */
  function copyBatch(
    dst: FolioList,
    src: FolioList,
    count: number,
    threads: number,
    decision: OffloadDecision | null,
  ): Effect.Effect<number> {
    return Effect.suspend(() => {
      if (count > srcs.length) {
        srcs = new Int32Array(count * 2);
        dsts = new Int32Array(count * 2);
      }
      let n = 0;
      let uniform = true;
      // Both lists in lockstep with list_next_entry(), into the reused arrays: no allocation per folio.
      for (let s = src.first, d = dst.first; s >= 0; s = src.next(s), d = dst.next(d)) {
        srcs[n] = s;
        dsts[n] = d;
        if (n > 0 && m.folioNrPages(s) !== m.folioNrPages(srcs[0]!)) uniform = false;
        n++;
      }
      if (decision === null) return copyOn(threads, n, uniform);
      const start = performance.now();
      return Effect.tap(copyOn(threads, n, uniform), () =>
        Effect.sync(() => offloadPolicy.observe(decision, (performance.now() - start) * 1e6)),
      );
    });
  }

  /** Copies the `n` folios gathered in `srcs`/`dsts` on `threads` copy threads. */
  function copyOn(threads: number, n: number, uniform: boolean): Effect.Effect<number> {
    return Effect.suspend(() => {
      const e = engineFor(threads);
      e.begin(n);
      // Rounds small enough for the rings: each folio puts at most `threads` copies on a lane.
      const slice = Math.max(1, Math.floor(e.laneCapacity / 2));
      return Effect.gen(function* () {
        for (let from = 0; from < n; from += slice) {
          e.clearQueues();
          queue(
            e,
            from,
            Math.min(n, from + slice),
            threads,
            m.folioNrPages(srcs[0]!) * kernel.mem.pageSize,
            uniform,
          );
          yield* e.run();
        }
        let failed = false;
        for (let i = 0; i < n; i++) {
          if (e.tagFailed(i)) failed = true;
          else folioMarkContentCopied(kernel, dsts[i]!);
        }
        return failed ? -ERRNO.EAGAIN : 0;
      });
    });
  }

  const threadsAttribute: Attribute = {
    mode: 0o664,
    show: () => `${policy}\n`,
    store: (text, count) => {
      if (text === "auto" || text === "auto\n") {
        policy = "auto";
        return count;
      }
      const value = kstrtouint(text);
      if (typeof value !== "number") return value.code;
      if (value < 1 || value > MAX_NUM_COPY_THREADS) return -ERRNO.EINVAL;
      policy = value;
      return count;
    },
  };

  const mod: MigratorModule = defineMigratorModule(kernel, {
    name: MTCOPY_MODULE_NAME,
    sysfsDir: MTCOPY_SYSFS_DIR,
    migrator,
    parseOffloading: (text) => {
      const value = kstrtouint(text);
      if (typeof value !== "number") return value;
      return value > 1 ? errno("EINVAL", `offloading is 0 or 1, not ${value}`) : value === 1;
    },
    reasonMask: { file: "reasons", where: "sysfs", mode: 0o664, initial: MIGRATE_REASONS_ALL },
    attributes: { threads: threadsAttribute, ...offloadPolicy.attributes() },
    // Switching offloading on starts the copy threads, and fails, naming the file, when they
    // cannot start: copies must never quietly fall back because the threads never ran.
    prepare: () => {
      const e = engineFor(
        typeof policy === "number" ? policy : Math.max(1, Math.min(probe(), MAX_NUM_COPY_THREADS)),
      );
      return Effect.tapError(e.ready(), () =>
        Effect.promise(async () => {
          engine = null;
          await Effect.runPromise(e.terminate());
        }),
      );
    },
    exit: () =>
      Effect.gen(function* () {
        if (engine) yield* engine.terminate();
        engine = null;
      }),
  });

  return {
    module: mod.definition,
    get engine() {
      return engine;
    },
    get migrator() {
      return mod.migrator;
    },
    get threads() {
      return policy;
    },
    policy: offloadPolicy,
  };
};
