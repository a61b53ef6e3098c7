/**
 * Booting a kernel.
 *
 * `Kernel.make(config)` boots one machine, as `start_kernel()` and `mm_core_init()`
 * (`init/main.c`) do: it checks the machine description the kernel gets from firmware (the NUMA
 * nodes and their distances, the ACPI `SLIT`) completely before anything is allocated, then lays
 * out physical memory and `struct page`, hands every page to the buddy allocator, takes the zero
 * page, and creates the sysfs and procfs files of the nodes, THP, vmstat and the copy-offload
 * registry. Every piece of state hangs off the returned {@link Kernel}: there are no module-level
 * singletons.
 *
 * @module
 */
import { Cause, Context, Deferred, Effect, type Scope, Semaphore } from "effect";
import { createMemoryBlocks, memoryDevInit } from "../drivers/base/memory";
import { createNodeSysfs } from "../drivers/base/node";
import { type ErrnoError, errno, syscall } from "../errno";
import { debugfsInit } from "../fs/debugfs";
import { BdiWritebackState, writebackInitSysctl } from "../fs/fs_writeback";
import { Inode } from "../fs/inode";
import { KernFs } from "../fs/kernfs";
import { createProcFiles } from "../fs/proc";
import { procPidCreate } from "../fs/proc_base";
import { BackingStore } from "../include/backing_store";
import type { BalloonDevInfo } from "../include/balloon";
import type { Device, KernelState } from "../include/device";
import { Folio } from "../include/folio";
import type { File } from "../include/fs";
import { __GFP_COMP, checkGfpMask } from "../include/gfp";
import { HugeZeroFolio, type MthpMode, ThpSettings } from "../include/huge_mm";
import type { BadPage, KernelConfig, Kernel as KernelInterface, Task } from "../include/kernel";
import { MemMap } from "../include/mem_map";
import type { MemoryBlock } from "../include/memory";
import { MEMTIER_ADISTANCE_DRAM } from "../include/memory_tiers";
import type { MovableOperations } from "../include/migrate";
import { AddressSpace, type AnonVma, DEFAULT_MAX_MAP_COUNT, MmStruct } from "../include/mm_types";
import { OVERCOMMIT_GUESS } from "../include/mman";
import {
  type AllocContext,
  type AllocRequest,
  type Fragmentation,
  PhysicalMemory,
  type SlowpathResult,
  WMARK_HIGH,
  WMARK_PROMO,
} from "../include/mmzone";
import type { Module, ModuleDefinition, ModuleNotifier } from "../include/module";
import { NUMA_BALANCING_MEMORY_TIERING } from "../include/numa_balancing";
import { PG_reserved } from "../include/page_flags";
import { FolioWaitQueue } from "../include/pagemap";
import { KernelPanic, panicText } from "../include/panic";
import { PTE_MAX_PFN } from "../include/pgtable";
import { PF_KTHREAD, type TaskOptions, type TaskStruct } from "../include/sched";
import { fatalSignalPending, killedError } from "../include/signal";
import { Tracepoints } from "../include/trace";
import { VmStat } from "../include/vmstat";
import { loadModule, unloadModule, unloadModulesAtShutdown } from "../kernel/module";
import { NumaBalancingState, numaBalancingInitSysfs } from "../kernel/sched/fair";
import { getSignal } from "../kernel/signal";
import { checkTaskOptions, Process, taskCred } from "../kernel/task";
import { taskWorkRun } from "../kernel/task_work";
import { KernelWorkqueue } from "../kernel/workqueue";
import { formatValue } from "../lib/bug";
import { parseSize, type Size } from "../lib/cmdline";
import { LOCAL_DISTANCE, MAX_NUMNODES, REMOTE_DISTANCE } from "../lib/numa";
import { SectionPool } from "../lib/section_pool";
import { balloonInit } from "../mm/balloon";
import { CompactionState, compactionInitSysfs } from "../mm/compaction";
import { hugepageInitSysfs } from "../mm/huge_memory";
import { HugetlbPool, hugetlbSysfsInit } from "../mm/hugetlb";
import { faultAroundDebugfs, faultAroundPagesDefault } from "../mm/memory";
import {
  injectMemoryError,
  memoryFailure,
  softOfflineInitSysfs,
  softOfflinePage,
  unpoisonMemory,
} from "../mm/memory_failure";
import { MemoryTierState, memoryTierInitSysfs, type NodeMemoryType } from "../mm/memory_tiers";
import { MigrateOffloadRegistry } from "../mm/migrate_copy_offload";
import { nrMlock } from "../mm/mlock";
import { archPickMmapLayout, mmapInitSysctl } from "../mm/mmap";
import { OomReaperState, oomInitSysctl } from "../mm/oom_kill";
import {
  allocContigPages,
  allocPagesSlowpath,
  BuddyAllocator,
  checkAllocArgs,
  pageAllocInitSysctl,
} from "../mm/page_alloc";
import { folioPut, HugetlbActiveList, LruLists } from "../mm/swap";
import { kvmalloc, utilInitSysctl } from "../mm/util";
import { STACK_GUARD_GAP_PAGES } from "../mm/vma";
import { KswapdState } from "../mm/vmscan";

const isPowerOfTwo = (n: number): boolean =>
  Number.isSafeInteger(n) && n > 0 && 2 ** Math.log2(n) === n;

interface BootPlan {
  readonly pageSize: number;
  readonly sectionSize: number;
  readonly nodeBytes: number[];
  readonly pmdOrder: number;
  readonly distances: number[][];
  readonly thpOrders: Map<number, MthpMode>;
  /** Each node's memory type (null for a node with no memory). */
  readonly memtypes: (NodeMemoryType | null)[];
  /** `stack_guard_gap` in bytes. */
  readonly stackGuardGap: number;
  readonly sectionPool: SectionPool | null;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** Checks a config completely before anything is allocated. */
const planBoot = (config: KernelConfig): BootPlan | ErrnoError => {
  if (!isRecord(config)) {
    return errno("EINVAL", `the config must be an object with nodes, not ${formatValue(config)}`);
  }
  const pageSize = config.pageSize ?? 4096;
  if (![4096, 16384, 65536].includes(pageSize)) {
    return errno("EINVAL", `pageSize ${pageSize} is not one of 4096, 16384, 65536`);
  }
  const pmdOrder = Math.log2(pageSize / 8);
  if (
    !Array.isArray(config.nodes) ||
    config.nodes.length === 0 ||
    config.nodes.length > MAX_NUMNODES
  ) {
    return errno("EINVAL", `nodes must list 1..${MAX_NUMNODES} nodes`);
  }
  const nodeBytes: number[] = [];
  const memtypes: (NodeMemoryType | null)[] = [];
  for (const [nid, node] of config.nodes.entries()) {
    const bytes = parseSize(isRecord(node) ? (node.memory as Size) : node);
    if (typeof bytes !== "number") return errno("EINVAL", `node ${nid}: ${bytes.message}`);
    const adistance = isRecord(node) ? node.adistance : undefined;
    if (
      adistance !== undefined &&
      (!Number.isInteger(adistance) ||
        (adistance as number) < 0 ||
        (adistance as number) >= 2 ** 31)
    ) {
      return errno(
        "EINVAL",
        `node ${nid}: adistance ${formatValue(adistance)} is not an integer in 0..2147483647`,
      );
    }
    memtypes.push(
      bytes === 0
        ? null
        : adistance === undefined
          ? { adistance: MEMTIER_ADISTANCE_DRAM, hasCpu: true }
          : { adistance: adistance as number, hasCpu: false },
    );
    if (bytes % pageSize !== 0) {
      return errno(
        "EINVAL",
        `node ${nid}: ${bytes} bytes is not a multiple of the page size ${pageSize}`,
      );
    }
    nodeBytes.push(bytes);
  }
  if (nodeBytes.every((b) => b === 0)) return errno("EINVAL", "no node has memory");
  const sectionSize = parseSize(config.sectionSize ?? 2 ** 30);
  if (typeof sectionSize !== "number") return sectionSize;
  if (!isPowerOfTwo(sectionSize) || sectionSize < pageSize * 2 ** pmdOrder) {
    return errno(
      "EINVAL",
      `sectionSize ${sectionSize} must be a power of two of at least one PMD (${pageSize * 2 ** pmdOrder})`,
    );
  }
  const pfns = nodeBytes.reduce(
    (sum, b) => sum + Math.ceil(b / sectionSize) * (sectionSize / pageSize),
    0,
  );
  if (pfns > PTE_MAX_PFN)
    return errno("EINVAL", `${pfns} page frames exceed the model's limit of ${PTE_MAX_PFN}`);
  const n = nodeBytes.length;
  if (
    config.distances !== undefined &&
    !(Array.isArray(config.distances) && config.distances.every((row) => Array.isArray(row)))
  ) {
    return errno("EINVAL", `distances must be a ${n}x${n} matrix of numbers`);
  }
  if (config.thp !== undefined && !isRecord(config.thp)) {
    return errno("EINVAL", "thp must be an object with enabled and sizes");
  }
  if (config.thp?.sizes !== undefined && !isRecord(config.thp.sizes)) {
    return errno("EINVAL", 'thp.sizes must map sizes such as "64kB" to modes');
  }
  const distances =
    config.distances?.map((row) => [...row]) ??
    Array.from({ length: n }, (_, i) =>
      Array.from({ length: n }, (_, j) => (i === j ? LOCAL_DISTANCE : REMOTE_DISTANCE)),
    );
  const square = distances.length === n && distances.every((row) => row.length === n);
  if (
    !square ||
    distances.some((row, i) =>
      row.some(
        (d, j) =>
          !Number.isInteger(d) || d < LOCAL_DISTANCE || (i === j) !== (d === LOCAL_DISTANCE),
      ),
    )
  ) {
    return errno(
      "EINVAL",
      `distances must be a ${n}x${n} matrix with ${LOCAL_DISTANCE} on the diagonal and more elsewhere`,
    );
  }
  const thpOrders = new Map<number, MthpMode>();
  for (const [name, mode] of Object.entries(config.thp?.sizes ?? {})) {
    const kb = /^(\d+)kB$/.exec(name);
    const order = kb ? Math.log2((Number(kb[1]) * 1024) / pageSize) : Number.NaN;
    if (!Number.isInteger(order) || order < 2 || order > pmdOrder) {
      return errno(
        "EINVAL",
        `thp size ${JSON.stringify(name)} is not an mTHP size for ${pageSize}-byte pages`,
      );
    }
    if (!["always", "inherit", "madvise", "never"].includes(mode)) {
      return errno("EINVAL", `thp size ${name}: bad mode ${JSON.stringify(mode)}`);
    }
    thpOrders.set(order, mode);
  }
  const enabled = config.thp?.enabled;
  if (enabled !== undefined && !["always", "madvise", "never"].includes(enabled)) {
    return errno(
      "EINVAL",
      `thp.enabled ${JSON.stringify(enabled)} is not always, madvise or never`,
    );
  }
  // cmdline_parse_stack_guard_gap(): a count of pages.
  const stackGuardGap = config.stackGuardGap ?? STACK_GUARD_GAP_PAGES;
  if (!Number.isSafeInteger(stackGuardGap) || stackGuardGap < 0) {
    return errno(
      "EINVAL",
      `stackGuardGap ${formatValue(stackGuardGap)} is not a non-negative number of pages`,
    );
  }
  if (config.daemons !== undefined && config.daemons !== "boot" && config.daemons !== "on-demand") {
    return errno("EINVAL", `daemons ${formatValue(config.daemons)} is not "boot" or "on-demand"`);
  }
  if (config.sectionPool !== undefined && !(config.sectionPool instanceof SectionPool)) {
    return errno("EINVAL", "sectionPool must be a SectionPool");
  }
  return {
    pageSize,
    sectionSize,
    nodeBytes,
    pmdOrder,
    distances,
    thpOrders,
    memtypes,
    stackGuardGap: stackGuardGap * pageSize,
    sectionPool: config.sectionPool ?? null,
  };
};

/** The kernels whose calls the running fiber is inside (shutdown must not wait for itself). */
const InKernelCall = Context.Reference<ReadonlySet<KernelInterface>>(
  "migrate-offload/InKernelCall",
  { defaultValue: () => new Set() },
);

/** Whether a call failed with the signal its own fault forced on `task`. */
const forcedHere = <E>(task: TaskStruct | null, cause: Cause.Cause<E>): boolean => {
  const error = Cause.findErrorOption(cause);
  return task !== null && error._tag === "Some" && error.value === task.forcedSignal;
};

/** The kernel a {@link Kernel.make} call boots; every other file sees it as a {@link Kernel}. */
class Machine implements KernelInterface {
  readonly mem: PhysicalMemory;
  readonly memmap: MemMap;
  readonly pageAlloc: BuddyAllocator;
  readonly memoryBlocks: readonly MemoryBlock[];
  readonly lru: LruLists;
  readonly hugetlbActive: HugetlbActiveList;
  readonly hstate: HugetlbPool;
  readonly hstates: readonly HugetlbPool[];
  readonly trace = new Tracepoints();
  readonly modules = new Map<string, Module>();
  readonly moduleNotifyList = new Set<ModuleNotifier>();
  readonly migrateOffload: MigrateOffloadRegistry;
  readonly compaction: CompactionState;
  readonly memoryTiers: MemoryTierState;
  readonly kswapd: KswapdState;
  readonly writeback: BdiWritebackState;
  readonly oomReaper: OomReaperState;
  readonly systemWq: KernelWorkqueue;
  readonly numaBalancing: NumaBalancingState;
  readonly vmstat: VmStat;
  readonly movableOps = new Map<number, MovableOperations>();
  readonly balloonDevices = new Map<number, BalloonDevInfo>();
  readonly fs: KernFs;
  readonly thp: ThpSettings;
  readonly deferredSplitQueue = new Set<number>();
  readonly shrinkerNrDeferred = new Map<object, number[]>();
  readonly folioWaiters: FolioWaitQueue;
  readonly pmdOrder: number;
  readonly pudOrder: number;
  nrMaxBatchedMigration: number;
  faultAroundPages: number;
  maxMapCount = DEFAULT_MAX_MAP_COUNT;
  overcommitMemory = OVERCOMMIT_GUESS;
  overcommitRatio = 50;
  overcommitKbytes = 0n;
  userReserveKbytes = 0n;
  adminReserveKbytes = 0n;
  vmCommittedAs = 0;
  panicOnOom = 0;
  oomKillAllocatingTask = 0;
  readonly stackGuardGap: number;
  readonly zeroPfn: number;
  readonly hugeZero = new HugeZeroFolio();
  readonly anonVmas = new Map<number, AnonVma>();
  readonly addressSpaces = new Map<number, AddressSpace>();
  readonly tasks = new Map<number, Task>();
  readonly files = new Map<string, File>();
  readonly badPages: BadPage[] = [];
  numPoisonedPages = 0;
  hwMemoryFailure = false;
  readonly mfMutex = Semaphore.makeUnsafe(1);
  nrBalloonPages = 0;
  state: KernelState = "running";
  panicked: string | null = null;
  private readonly distances: number[][];
  private lastId = 0;
  private lastPid = 0;
  /** System calls in flight; shutdown waits until none is. */
  private inFlight = 0;
  /** Resumes shutdown once the last call in flight has returned. */
  private drained: (() => void) | null = null;
  /** Registered devices, in registration order. */
  private readonly devices: Device[] = [];
  /** Settles when the shutdown that began has finished: every later call waits on it. */
  private readonly poweredOff = Deferred.makeUnsafe<ErrnoError | null>();

  /** `start_kernel()` → `mm_core_init()`, from a plan that is known to be good. */
  constructor(plan: BootPlan) {
    this.mem = new PhysicalMemory(
      plan.pageSize,
      plan.sectionSize,
      plan.nodeBytes,
      plan.sectionPool,
    );
    this.memmap = new MemMap(this.mem.maxPfn);
    this.pmdOrder = plan.pmdOrder;
    this.pudOrder = 2 * plan.pmdOrder;
    this.nrMaxBatchedMigration = 2 ** plan.pmdOrder;
    this.faultAroundPages = faultAroundPagesDefault(plan.pageSize);
    this.stackGuardGap = plan.stackGuardGap;
    this.distances = plan.distances;
    // MAX_PAGE_ORDER: ARCH_FORCE_MAX_ORDER (arch/arm64/Kconfig: 13 with 64 KiB pages, 11 with
    // 16 KiB; x86-64's 10 otherwise), no larger than a section (include/linux/mmzone.h).
    const maxOrder = Math.min(
      { 4096: 10, 16384: 11, 65536: 13 }[plan.pageSize] ?? 10,
      this.mem.pfnSectionShift,
    );
    // KMALLOC_MAX_SIZE (include/linux/slab.h): the largest kmalloc(), PAGE_SIZE << MAX_PAGE_ORDER.
    this.fs = new KernFs(
      (op, effect) => this.call(op, effect),
      plan.pageSize,
      plan.pageSize << maxOrder,
    );
    debugfsInit(this.fs);
    this.thp = new ThpSettings(plan.pageSize, plan.pmdOrder, "madvise");
    for (const [order, mode] of plan.thpOrders) this.thp.orderModes.set(order, mode);
    this.pageAlloc = new BuddyAllocator(
      this.mem,
      this.memmap,
      maxOrder,
      // pageblock_order (include/linux/pageblock-flags.h): the PMD order, at most MAX_PAGE_ORDER.
      Math.min(plan.pmdOrder, maxOrder),
      this.distance,
      (pfn, reason) => this.reportBadPage(pfn, reason),
      this.thp,
    );
    // Registered first, so flushed last: after every other device has stopped.
    this.systemWq = new KernelWorkqueue(this, "events");
    this.memoryBlocks = createMemoryBlocks(this);
    this.lru = new LruLists(this);
    this.hugetlbActive = new HugetlbActiveList(this);
    // hugetlb_add_hstate(): the PMD size (HPAGE_SHIFT), and x86-64's PUD size with gbpages.
    this.hstate = new HugetlbPool(this, plan.pmdOrder, allocContigPages);
    this.hstates =
      plan.pageSize === 4096
        ? [this.hstate, new HugetlbPool(this, this.pudOrder, allocContigPages)]
        : [this.hstate];
    this.folioWaiters = new FolioWaitQueue(this.memmap.flags, this);
    this.vmstat = new VmStat([
      ["nr_free_pages", () => this.pageAlloc.totalFreePages()],
      ["nr_mlock", () => nrMlock(this)],
      ["nr_poisoned_pages", () => this.numPoisonedPages],
      ["nr_balloon_pages", () => this.nrBalloonPages],
    ]);
    this.pageAlloc.countVmEvent = (index, delta) => this.vmstat.countIndex(index, delta);
    const firstNode = this.mem.nodes.find((n) => n.presentPages > 0)!;
    this.zeroPfn = this.pageAlloc.allocPages(firstNode.nid, 0, 0);
    this.memmap.set(this.zeroPfn, PG_reserved);
    hugepageInitSysfs(this);
    createNodeSysfs(this);
    memoryDevInit(this);
    hugetlbSysfsInit(this);
    softOfflineInitSysfs(this);
    faultAroundDebugfs(this);
    mmapInitSysctl(this);
    utilInitSysctl(this);
    pageAllocInitSysctl(this, this.pageAlloc);
    createProcFiles(this);
    this.compaction = new CompactionState(this);
    compactionInitSysfs(this, this.compaction);
    this.memoryTiers = new MemoryTierState(plan.memtypes, this.distance);
    memoryTierInitSysfs(this, this.memoryTiers);
    this.kswapd = new KswapdState(this);
    this.writeback = new BdiWritebackState(this);
    writebackInitSysctl(this, this.writeback);
    this.oomReaper = new OomReaperState(this);
    oomInitSysctl(this);
    this.pageAlloc.wakeupKswapd = (nid, order) => this.kswapd.wakeup(nid, order);
    this.pageAlloc.kswapdRunning = () => this.kswapd.running;
    this.pageAlloc.trace = this.trace;
    this.numaBalancing = new NumaBalancingState(this);
    numaBalancingInitSysfs(this, this.numaBalancing);
    // pgdat_balanced(): in memory tiering mode kswapd balances to the promo watermark.
    this.kswapd.balanceMark = () =>
      this.numaBalancing.mode & NUMA_BALANCING_MEMORY_TIERING ? WMARK_PROMO : WMARK_HIGH;
    this.migrateOffload = new MigrateOffloadRegistry(this);
    balloonInit(this);
    // kernel_init() → run_init_process(): the first process, pid 1 (is_global_init()), root's,
    // with an address space of its own and nothing mapped.
    const init = this.addTask({ name: "init" });
    if (init instanceof Error) throw init; // a node 0, no options: nothing to refuse
  }

  /**
   * `node_distance()`: from the distance matrix; a node outside it is local to itself and remote
   * to every other, as x86's `__node_distance()` answers past `numa_distance_cnt`.
   */
  readonly distance = (from: number, to: number): number =>
    this.distances[from]?.[to] ?? (from === to ? LOCAL_DISTANCE : REMOTE_DISTANCE);

  call<A, E>(
    name: string,
    effect: Effect.Effect<A, E>,
    current: TaskStruct | null = null,
  ): Effect.Effect<A, E | ErrnoError> {
    return Effect.flatMap(
      Effect.service(InKernelCall),
      (inside): Effect.Effect<A, E | ErrnoError> => {
        if (this.state !== "running") return Effect.fail(this.halted(name));
        // The task's own call (not one nested in another: move_pages calling migrate_pages).
        const task = inside.has(this) ? null : current;
        // A task with SIGKILL pending is inside another call, dying: it makes no more.
        if (task && fatalSignalPending(task) && !task.exited) {
          return Effect.fail(killedError(task));
        }
        // A call of a task that has exited fails on its own (ESRCH); only a live one is killed.
        const live = task !== null && !task.exited;
        this.inFlight++;
        if (task) task.inSyscall++;
        // A nested call (move_pages calling migrate_pages) is already marked: nothing to add.
        const marked = inside.has(this)
          ? effect
          : Effect.provideService(effect, InKernelCall, new Set([...inside, this]));
        // On the way back to user mode (exit_to_user_mode_loop()): a SIGKILL sent meanwhile, or
        // the SIGSEGV / SIGBUS a fault forced, ends the task once its last call is out
        // (get_signal()), then the work queued on it runs
        // (task_work_run(); exit_task_work() for a task that exited), before the call counts as
        // returned. A kernel that panicked meanwhile never returns to user mode: no signal is
        // taken and no task work runs.
        const returned = Effect.sync(() => {
          if (--this.inFlight === 0) this.drained?.();
        });
        const ran = Effect.ensuring(
          marked,
          !task
            ? returned
            : Effect.ensuring(
                Effect.suspend(() => {
                  task.inSyscall--;
                  if (this.panicked !== null) return Effect.void;
                  return Effect.flatMap(getSignal(this, task), () => taskWorkRun(task));
                }),
                returned,
              ),
        );
        if (inside.has(this)) return ran;
        // The call began on a running kernel: a panic since (this call's, or another's while
        // this one was in flight) is the end of it, whatever it did meanwhile. A task killed
        // by SIGKILL meanwhile never sees what its call did: the call fails with ESRCH. The
        // access whose fault forced the signal the task dies of fails with that signal.
        return Effect.matchCauseEffect(ran, {
          onFailure: (cause): Effect.Effect<A, E | ErrnoError> =>
            (!Cause.hasInterruptsOnly(cause) &&
              this.callOutcome(name, live ? task : null, forcedHere(task, cause))) ||
            Effect.failCause(cause),
          onSuccess: (value): Effect.Effect<A, E | ErrnoError> =>
            this.callOutcome(name, live ? task : null, false) ?? Effect.succeed(value),
        });
      },
    );
  }

  /**
   * How a call of {@link Machine.call} that returned ends instead, or null when it ends as it
   * returned: with `ESHUTDOWN` after a panic, or with the `ESRCH` of a task (`live`, the caller
   * still alive when the call began, else null) killed meanwhile, unless `signalled` (the call
   * failed with the signal its own fault forced). A method, not a closure made for each call.
   */
  private callOutcome(
    name: string,
    live: TaskStruct | null,
    signalled: boolean,
  ): Effect.Effect<never, ErrnoError> | null {
    if (this.panicked !== null) return Effect.fail(this.halted(name));
    return live && fatalSignalPending(live) && !signalled ? Effect.fail(killedError(live)) : null;
  }

  /**
   * The `ESHUTDOWN` of a call the kernel no longer takes: naming the panic that halted it
   * (`Kernel panic - not syncing: …`), or saying it has shut down.
   */
  private halted(name: string): ErrnoError {
    return errno(
      "ESHUTDOWN",
      this.panicked === null
        ? `${name}: the kernel has shut down`
        : `${name}: ${panicText(this.panicked)}`,
    );
  }

  panic(message: string): Effect.Effect<never> {
    return Effect.suspend(() => {
      const panic = new KernelPanic(message);
      // panic_try_start(): only the first panic halts the kernel; a later one stops where it is.
      this.panicked ??= panic.message;
      if (this.state === "running") this.state = "panicked";
      return Effect.die(panic);
    });
  }

  registerDevice(device: Device): () => void {
    this.devices.push(device);
    return () => {
      const at = this.devices.indexOf(device);
      if (at >= 0) this.devices.splice(at, 1);
    };
  }

  shutdown(): Effect.Effect<void, ErrnoError> {
    return Effect.flatMap(Effect.service(InKernelCall), (inside) => {
      // From inside one of this kernel's own calls (a sysfs store, a module's exit, a migrator's
      // copy, or shutdown itself) it would wait for the call it is part of: refuse at once.
      if (inside.has(this)) {
        return Effect.fail(
          errno("EDEADLK", "shutdown from inside a call of this kernel would wait for itself"),
        );
      }
      // The first call powers off, in its own fiber (synchronously when nothing it stops needs to
      // wait); a call made meanwhile or later waits for that one.
      const done =
        this.state === "running" || this.state === "panicked"
          ? Effect.tap(
              Effect.provideService(this.powerOff(), InKernelCall, new Set([...inside, this])),
              (error) => Deferred.succeed(this.poweredOff, error),
            )
          : Deferred.await(this.poweredOff);
      return Effect.flatMap(done, (error) => (error ? Effect.fail(error) : Effect.void));
    });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return Effect.runPromise(this.shutdown());
  }

  /** `kernel_power_off()`: every step of {@link shutdown}, once; the error names what failed. */
  private powerOff(): Effect.Effect<ErrnoError | null> {
    const self = this;
    return Effect.gen(function* () {
      self.state = "stopping";
      if (self.inFlight > 0) {
        yield* Effect.callback<void>((resume) => {
          self.drained = () => resume(Effect.void);
        });
      }
      const failures: string[] = [];
      const off = yield* Effect.exit(self.migrateOffload.switchTo("none"));
      if (off._tag === "Failure") failures.push(`copy offload: ${Cause.pretty(off.cause)}`);
      failures.push(...(yield* unloadModulesAtShutdown(self)));
      for (const device of self.devices.splice(0).reverse()) {
        const stopped = yield* Effect.exit(Effect.suspend(() => device.shutdown()));
        if (stopped._tag === "Failure") {
          failures.push(`device ${device.name}: ${Cause.pretty(stopped.cause)}`);
        }
      }
      self.trace.clear();
      self.fs.clear();
      self.tasks.clear();
      self.files.clear();
      self.anonVmas.clear();
      self.addressSpaces.clear();
      self.balloonDevices.clear();
      // Memory goes back to a section pool only when everything that could write it stopped.
      self.mem.release(failures.length === 0);
      self.state = "down";
      return failures.length === 0
        ? null
        : errno("EBUSY", `shutdown could not stop everything: ${failures.join("; ")}`);
    });
  }

  nextId(): number {
    return ++this.lastId;
  }

  reportBadPage(pfn: number, reason: string): void {
    this.badPages.push({ pfn, reason });
  }

  nodeExists(nid: number): boolean {
    return Number.isInteger(nid) && nid >= 0 && nid < this.mem.nodes.length;
  }

  nodeHasMemory(nid: number): boolean {
    // N_MEMORY follows the zone's present pages: offline_pages() clears it with the last present
    // page (node_states_clear_node()), online_pages() sets it again (node_states_set_node()).
    return this.nodeExists(nid) && this.pageAlloc.zones[nid]!.presentPages > 0;
  }

  nodesWithMemory(): number[] {
    return this.mem.nodes.map((n) => n.nid).filter((nid) => this.nodeHasMemory(nid));
  }

  folio(pfn: number): Folio {
    return new Folio(this, this.memmap.folioOf(pfn));
  }

  addTask(options: TaskOptions, copyMm?: (mm: MmStruct) => 0 | ErrnoError): Task | ErrnoError {
    const bad = checkTaskOptions(this, options);
    if (bad) return bad;
    const nid = options.node ?? 0;
    // The top cpuset's mems are the nodes with memory (`node_states[N_MEMORY]`).
    const memsAllowed = options.memsAllowed ?? this.nodesWithMemory();
    const layout = archPickMmapLayout(this.mem.pageSize, this.stackGuardGap);
    const mm = new MmStruct(this.nextId(), layout.mmapBase, layout.mmapLegacyBase);
    // copy_process(): copy_mm() runs before alloc_pid(), so a failed copy takes no pid.
    const copied = copyMm?.(mm) ?? 0;
    if (copied !== 0) return copied;
    const pid = ++this.lastPid;
    const task = new Process(
      this,
      pid,
      options.name ?? `task${pid}`,
      taskCred(options),
      nid,
      mm,
      memsAllowed,
    );
    if (options.rlimitMemlock !== undefined) task.rlimitMemlock = options.rlimitMemlock;
    this.tasks.set(pid, task);
    procPidCreate(this, task);
    return task;
  }

  createProcess(options: TaskOptions = {}): Effect.Effect<Task, ErrnoError> {
    return this.call(
      "clone",
      syscall(() => this.addTask(options)),
    );
  }

  createKernelThread(name: string): Effect.Effect<Task, ErrnoError> {
    return this.call(
      "kthread_create",
      syscall(() => {
        const task = this.addTask({ name });
        if (task instanceof Error) return task;
        // copy_process() (kernel/fork.c) marks a kthread_create() thread PF_KTHREAD, with no mm.
        task.mm = null;
        task.flags |= PF_KTHREAD;
        return task;
      }),
    );
  }

  findTask(pid: number): Task | undefined {
    return this.tasks.get(pid);
  }

  createFile(name: string): Effect.Effect<File, ErrnoError> {
    return this.call(
      "creat",
      syscall(() => {
        if (typeof name !== "string" || name.length === 0)
          return errno(
            "EINVAL",
            `a file name must be a non-empty string, not ${formatValue(name)}`,
          );
        if (this.files.has(name)) return errno("EEXIST", `file ${JSON.stringify(name)} exists`);
        const mapping = new AddressSpace(
          this.nextId(),
          name,
          false,
          new BackingStore(this.mem.pageSize),
        );
        this.addressSpaces.set(mapping.id, mapping);
        const file = new Inode(this, name, mapping);
        this.files.set(name, file);
        return file;
      }),
    );
  }

  private checkAlloc(nid: number, order: number, max = this.pageAlloc.maxOrder): ErrnoError | null {
    return checkAllocArgs(this, nid, order, max);
  }

  allocPagesSlowpath(
    req: AllocRequest,
    current: AllocContext | null = null,
  ): Effect.Effect<SlowpathResult, ErrnoError> {
    return allocPagesSlowpath(this, req, current);
  }

  allocFolio(
    nid: number,
    order: number,
    gfp = 0,
    current: TaskStruct | null = null,
  ): Effect.Effect<Folio, ErrnoError> {
    // Up to MAX_FOLIO_ORDER, the PUD order: above MAX_PAGE_ORDER from alloc_contig_pages(), as
    // folio_alloc_gigantic() (include/linux/gfp.h) allocates.
    return this.call(
      "folio_alloc",
      Effect.gen({ self: this }, function* () {
        const bad =
          this.checkAlloc(nid, order, this.pudOrder) ??
          checkGfpMask(gfp) ??
          (current?.exited
            ? errno("ESRCH", `folio_alloc: task ${current.pid} has exited`)
            : null) ??
          (current && fatalSignalPending(current) ? killedError(current) : null);
        if (bad) return yield* Effect.fail(bad);
        let pfn =
          order > this.pageAlloc.maxOrder
            ? yield* allocContigPages(this, order, gfp | __GFP_COMP, nid, current)
            : this.pageAlloc.allocPages(nid, order, gfp | __GFP_COMP, null, current);
        if (pfn < 0 && order <= this.pageAlloc.maxOrder) {
          // __alloc_pages_slowpath(): reclaim and compaction, as the gfp flags allow.
          const req = this.pageAlloc.slowpathRequest({
            nid,
            order,
            gfp: gfp | __GFP_COMP,
            nodemask: null,
          });
          pfn = (yield* allocPagesSlowpath(this, req, current)).page;
        }
        if (pfn < 0) {
          return yield* Effect.fail(
            errno("ENOMEM", `no free block of order ${order} for node ${nid}`),
          );
        }
        return new Folio(this, pfn);
      }),
    );
  }

  folioPut(folio: Folio): void {
    // After shutdown there is nothing to put back: the memory map belongs to no running kernel;
    // after a panic nothing runs.
    if (this.state !== "running") throw this.halted("folio_put");
    folioPut(this, folio.pfn);
  }

  fragment(nid: number, order: number): Effect.Effect<Fragmentation, ErrnoError> {
    return this.call(
      "fragment",
      syscall(() => this.checkAlloc(nid, order) ?? this.pageAlloc.fragment(nid, order)),
    );
  }

  loadModule(definition: ModuleDefinition): Effect.Effect<Module, ErrnoError> {
    return this.call("init_module", loadModule(this, definition));
  }

  unloadModule(name: string): Effect.Effect<void, ErrnoError> {
    return this.call("delete_module", unloadModule(this, name));
  }

  memoryFailure(pfn: number, flags = 0): Effect.Effect<void, ErrnoError> {
    return this.call(
      "memory_failure",
      Effect.suspend(() => memoryFailure(this, pfn, flags)),
    );
  }

  softOfflinePage(pfn: number, current: TaskStruct | null = null): Effect.Effect<void, ErrnoError> {
    return this.call(
      "soft_offline_page",
      Effect.suspend(() =>
        current?.exited
          ? Effect.fail(errno("ESRCH", `soft_offline_page: task ${current.pid} has exited`))
          : current && fatalSignalPending(current)
            ? Effect.fail(killedError(current))
            : softOfflinePage(this, pfn, false, current),
      ),
    );
  }

  injectMemoryError(pfn: number): Effect.Effect<void, ErrnoError> {
    return this.call(
      "inject_memory_error",
      syscall(() => injectMemoryError(this, pfn)).pipe(Effect.asVoid),
    );
  }

  unpoisonMemory(pfn: number): Effect.Effect<void, ErrnoError> {
    return this.call("unpoison_memory", unpoisonMemory(this, pfn));
  }
}

/**
 * One simulated machine: a {@link KernelInterface}, booted with {@link Kernel.make} or
 * {@link Kernel.boot}. The
 * machine-wide state `start_kernel()` (`init/main.c`) sets up, as one value.
 *
 * @category Kernel
 */
export type Kernel = KernelInterface;

/**
 * Boots kernels. The model's entry point, with no kernel symbol of its own: {@link Kernel.make}
 * stands where `start_kernel()` (`init/main.c`) does.
 *
 * @category Kernel
 */
export const Kernel = {
  /**
   * Boots a kernel for the current scope (`start_kernel()`, `init/main.c`), and shuts it down
   * when the scope closes (see {@link KernelInterface.shutdown}). Fails with `EINVAL`, naming
   * the problem, for a bad config, as {@link Kernel.boot} does.
   *
   * @example
   * ```ts
   * import { Kernel } from "@migrate-offload/core";
   * import { Effect } from "effect";
   *
   * const node = await Effect.runPromise(
   *   Effect.scoped(
   *     Effect.gen(function* () {
   *       const kernel = yield* Kernel.make({ nodes: ["64M", "64M"] });
   *       const proc = yield* kernel.createProcess({ node: 1 });
   *       const addr = yield* proc.mmap(4096);
   *       yield* proc.write(addr, new Uint8Array([1])); // faults the page in on the task's node
   *       return yield* proc.nodeOf(addr);
   *     }),
   *   ),
   * ); // the kernel has shut down by the time the promise resolves
   * console.log(node); // 1
   * ```
   */
  make(config: KernelConfig): Effect.Effect<Kernel, ErrnoError, Scope.Scope> {
    return Effect.acquireRelease(Kernel.boot(config), (kernel) => Effect.orDie(kernel.shutdown()));
  },
  /**
   * Boots a kernel that lives until its {@link KernelInterface.shutdown} (`start_kernel()`,
   * `init/main.c`): for code that holds a kernel outside a scope, or with `await using`. Fails
   * with `EINVAL`, naming the problem, for a bad config: no config or one that is not an object,
   * no nodes, a node size that is not a multiple of the page size, an unsupported page size, a bad
   * distance matrix or THP size, a `daemons` value other than `"boot"` or `"on-demand"`. Fails
   * with `ENOMEM` when the host cannot allocate the machine's memory or its `struct page` arrays, as `memblock` allocations fail at boot; nothing of the
   * half-built machine stays reachable.
   *
   * @example
   * ```ts
   * import { Kernel } from "@migrate-offload/core";
   * import { Effect } from "effect";
   *
   * const kernel = await Effect.runPromise(
   *   Kernel.boot({ nodes: ["64M", "64M"], thp: { enabled: "always" } }),
   * );
   * const thp = await Effect.runPromise(
   *   kernel.fs.read("/sys/kernel/mm/transparent_hugepage/enabled"),
   * );
   * console.log(thp); // "[always] madvise never\n"
   * await Effect.runPromise(kernel.shutdown());
   * ```
   */
  boot(config: KernelConfig): Effect.Effect<Kernel, ErrnoError> {
    const booted = syscall(() => {
      const plan = planBoot(config);
      if (plan instanceof Error) return plan;
      const kernel = kvmalloc(() => new Machine(plan));
      if (!kernel) {
        const bytes = plan.nodeBytes.reduce((sum, b) => sum + b, 0);
        return errno("ENOMEM", `the host cannot allocate ${bytes} bytes of node memory`);
      }
      if (config.thp?.enabled) kernel.thp.enabled = config.thp.enabled;
      return kernel;
    });
    // do_initcalls(): oom_init() is a subsys_initcall ahead of kcompactd_init() (mm/Makefile
    // links oom_kill.o before compaction.o). The oom_reaper starts on every kernel: asleep on
    // its wait queue until a victim comes, it changes nothing and holds no timer.
    const withReaper = Effect.tap(booted, (kernel) => kernel.oomReaper.start());
    // The model's "on-demand" kernels start their daemons at kswapd.run() / compaction.run() /
    // writeback.run().
    if (config?.daemons === "on-demand") return withReaper;
    // kcompactd_init() is a subsys_initcall, kswapd_init() a module_init, so kcompactd starts
    // first; then the flusher, which sleeps until a file is dirtied. None can fail on a fresh
    // kernel (EBUSY needs a second run()).
    return Effect.flatMap(withReaper, (kernel) =>
      kernel.compaction
        .run()
        .pipe(
          Effect.andThen(kernel.kswapd.run()),
          Effect.andThen(kernel.writeback.run()),
          Effect.as(kernel),
        ),
    );
  },
};
