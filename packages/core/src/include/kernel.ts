/**
 * The machine: one kernel and the tasks that run on it.
 *
 * The model has no globals: what Linux keeps in global variables (the page allocator, the LRU,
 * `/proc/vmstat`, the module list, the process table, the copy-offload registry) hangs off one
 * {@link Kernel} value, so any number of kernels run side by side in one process without seeing
 * each other. This header declares that value and binds a {@link Task} to the kernel it runs on.
 * Booting one is `init/main.ts` (`start_kernel()`); every piece it holds is declared in its own
 * header beside this one.
 *
 * @module
 */

import type { Effect, Semaphore } from "effect";
import type { ErrnoError } from "../errno";
import type { Size } from "../lib/cmdline";
import type { SectionPool } from "../lib/section_pool";
import type { BdiWriteback } from "./backing_dev";
import type { BalloonDevInfo } from "./balloon";
import type { Compaction } from "./compaction";
import type { Device, KernelState } from "./device";
import type { Folio } from "./folio";
import type { File } from "./fs";
import type { HugeZeroFolio, MthpMode, ThpMode, ThpSettings } from "./huge_mm";
import type { Hstate } from "./hugetlb";
import type { KernfsRoot } from "./kernfs";
import type { MemMap } from "./mem_map";
import type { MemoryBlock } from "./memory";
import type { MemoryTiers } from "./memory_tiers";
import type { MovableOperations } from "./migrate";
import type { MigrateOffload } from "./migrate_copy_offload";
import type { AddressSpace, AnonVma, MmStruct } from "./mm_types";
import type {
  AllocContext,
  AllocRequest,
  Fragmentation,
  PageAllocator,
  PhysicalMemory,
  SlowpathResult,
} from "./mmzone";
import type { Module, ModuleDefinition, ModuleNotifier } from "./module";
import type { NumaBalancing } from "./numa_balancing";
import type { OomReaper } from "./oom";
import type { FolioWaitQueue } from "./pagemap";
import type { KernelPanic } from "./panic";
import type { TaskOptions, TaskStruct } from "./sched";
import type { HugetlbActive, Kswapd, Lru } from "./swap";
import type { Tracepoints } from "./trace";
import type { VmStat } from "./vmstat";
import type { Workqueue } from "./workqueue";

/**
 * The machine to boot: what firmware tells the kernel, and the boot command line's THP switches.
 * The input of `start_kernel()` (`init/main.c`): the NUMA memory map and ACPI SLIT distances the
 * firmware reports, `PAGE_SIZE`, and `transparent_hugepage=` (`mm/huge_memory.c`).
 *
 * @category Kernel
 */
export interface KernelConfig {
  /**
   * Memory of each NUMA node, node 0 first. A node of size 0 is memoryless. A node given as an
   * object may name its memory type by its abstract distance (`adistance`, see
   * `mm/memory-tiers.c`): a non-negative integer below 2^31, such as
   * `MEMTIER_DEFAULT_DAX_ADISTANCE` for CXL or persistent memory onlined by dax kmem. Such a node
   * is a memory-only device, with no CPUs (not `N_CPU`); a node without `adistance` is DRAM
   * (`MEMTIER_ADISTANCE_DRAM`) with CPUs.
   */
  readonly nodes: ReadonlyArray<Size | { readonly memory: Size; readonly adistance?: number }>;
  /**
   * Base page size (`PAGE_SIZE`: `arch/x86/include/asm/page_types.h`, arm64's `page-def.h`): 4 KiB
   * (default), 16 KiB or 64 KiB.
   */
  readonly pageSize?: number;
  /**
   * Bytes per memory section (`SECTION_SIZE_BITS`, `arch/x86/include/asm/sparsemem.h`); default 1
   * GiB.
   */
  readonly sectionSize?: Size;
  /** THP policy at boot: the global mode and per-size mTHP modes keyed like `"64kB"`. */
  readonly thp?: {
    readonly enabled?: ThpMode;
    readonly sizes?: Readonly<Record<string, MthpMode>>;
  };
  /**
   * Node distance matrix (`node_distance()`, `include/linux/topology.h`; the ACPI SLIT); default 10
   * local, 20 remote.
   */
  readonly distances?: ReadonlyArray<ReadonlyArray<number>>;
  /**
   * `stack_guard_gap=` on the boot command line (`cmdline_parse_stack_guard_gap()`,
   * `mm/mmap.c`, Linux 6.16): the gap, in pages, a growing stack keeps from the mapping below it
   * and free-range searches keep below a stack; default 256. A non-negative integer.
   */
  readonly stackGuardGap?: number;
  /**
   * When the memory daemons start: `"boot"` (default), as Linux 6.16 starts them:
   * `kcompactd` (`kcompactd_init()`, `mm/compaction.c`) then `kswapd` (`kswapd_init()`,
   * `mm/vmscan.c`) on every node with memory, then the flusher (the bdi writeback worker,
   * `fs/fs-writeback.c`), before `Kernel.boot` returns, on the `Clock` of the
   * fiber that boots the kernel (`TestClock` in tests). `"on-demand"` is the model's own setting,
   * with no Linux counterpart: none runs until `kernel.compaction.run()`, `kernel.kswapd.run()`
   * and `kernel.writeback.run()`,
   * for a test or benchmark that wants no background reclaim, writeback or compaction it did not ask for
   * (and so no watermark boost, `boost_watermark()`, `mm/page_alloc.c`), or that starts them on
   * a clock of its own. Either way hotplug then starts and stops them with a node's memory, and a
   * `run()` while they run fails with `EBUSY`.
   */
  readonly daemons?: "boot" | "on-demand";
  /**
   * Where the section buffers come from and go back to at shutdown (a host-side pool, not a
   * firmware input): a harness that boots many kernels one after another saves allocating and
   * clearing their memory each time. Default: a fresh buffer per section, left to the garbage
   * collector at shutdown.
   */
  readonly sectionPool?: SectionPool;
}

/**
 * A page that a free refused (`bad_page()`, `mm/page_alloc.c`), for tests and reports.
 *
 * @category Kernel
 */
export interface BadPage {
  /** The page's PFN. */
  readonly pfn: number;
  /** Why it could not be freed, as `bad_page()` prints it. */
  readonly reason: string;
}

/**
 * A process on a kernel: the {@link TaskStruct} with the kernel it runs on. What
 * `Kernel.createProcess` and `fork()` return. Models `struct task_struct`
 * (`include/linux/sched.h`); the kernel it runs on is implicit in Linux.
 *
 * @category Processes
 */
export interface Task extends TaskStruct {
  /** The kernel the process runs on. */
  readonly kernel: Kernel;
  /** `fork()` (`kernel/fork.c`): a child with a copy-on-write copy of this address space. */
  fork(options?: TaskOptions): Effect.Effect<Task, ErrnoError>;
}

/**
 * One simulated machine. `Kernel.make(config)` (`init/main.ts`) boots one: NUMA nodes with real
 * memory, `struct page` metadata, the buddy allocator, the zero page, the LRU, `/proc/vmstat`,
 * the THP policy, the copy-offload registry and the sysfs and procfs trees.
 *
 * Models the machine-wide state that `start_kernel()` (`init/main.c`) sets up and Linux keeps in
 * global variables; here it is one value per kernel.
 *
 * @category Kernel
 *
 * @example
 * ```ts
 * import { Kernel } from "@migrate-offload/core";
 * import { Effect } from "effect";
 *
 * const text = await Effect.runPromise(
 *   Effect.scoped(
 *     Effect.gen(function* () {
 *       const kernel = yield* Kernel.make({ nodes: ["64M", "64M"] });
 *       return yield* kernel.fs.read("/sys/devices/system/node/has_memory");
 *     }),
 *   ),
 * );
 * console.log(text); // "0-1\n"
 * ```
 */
export interface Kernel {
  /** Physical memory: nodes, sections and their buffers (`mm/sparse.c`). */
  readonly mem: PhysicalMemory;
  /** `struct page` for every PFN (`mem_map`; `struct page` is in `include/linux/mm_types.h`). */
  readonly memmap: MemMap;
  /** The page allocator (`mm/page_alloc.c`). */
  readonly pageAlloc: PageAllocator;
  /**
   * The memory blocks, one per present section, in section order (`memory_blocks`,
   * `drivers/base/memory.c`); each is `/sys/devices/system/memory/memory<id>`.
   */
  readonly memoryBlocks: readonly MemoryBlock[];
  /** Compaction's tunables and daemons (`mm/compaction.c`). */
  readonly compaction: Compaction;
  /** The memory tiers and demotion targets (`mm/memory-tiers.c`). */
  readonly memoryTiers: MemoryTiers;
  /** The per-node `kswapd` daemons of reclaim (`mm/vmscan.c`). */
  readonly kswapd: Kswapd;
  /**
   * The flusher: the writeback of the files' one `backing_dev_info` and its worker
   * (`fs/fs-writeback.c`).
   */
  readonly writeback: BdiWriteback;
  /** The `oom_reaper` daemon and its timers (`mm/oom_kill.c`). */
  readonly oomReaper: OomReaper;
  /**
   * `system_wq` (`kernel/workqueue.c`): work outside any call (`delayed_fput()`, an OOM
   * victim's exit work), which shutdown waits for.
   */
  readonly systemWq: Workqueue;
  /** Automatic NUMA balancing and memory tiering promotion (`kernel/sched/fair.c`). */
  readonly numaBalancing: NumaBalancing;
  /** The LRU lists (`struct lruvec`, `include/linux/mmzone.h`). */
  readonly lru: Lru;
  /**
   * The deferred split queue (`deferred_split_queue`, `mm/huge_memory.c`, one per node in Linux,
   * `pgdat->deferred_split_queue`): head PFNs of partially mapped anonymous large folios, in the
   * order they were queued, waiting for the shrinker (`deferredSplitScan`) to split them.
   */
  readonly deferredSplitQueue: Set<number>;
  /**
   * Each shrinker's `nr_deferred` (`struct shrinker`, `include/linux/shrinker.h`; kept by
   * `xchg_nr_deferred()` and `add_nr_deferred()`, `mm/shrinker.c`), keyed by the shrinker (a
   * `Shrinker` of `include/shrinker.ts`, typed `object` here as that header imports this one):
   * per node, the objects a `do_shrink_slab()` pass should have scanned and did not, carried to
   * the shrinker's next pass on that node. Empty at boot; a shrinker's entry, one count per node,
   * is made on its first pass. Linux keeps it in the shrinker; the model's shrinkers are shared
   * by every kernel, so each kernel keeps its own here.
   */
  readonly shrinkerNrDeferred: Map<object, number[]>;
  /** The active hugetlb folios (`hstate->hugepage_activelist`, `include/linux/hugetlb.h`). */
  readonly hugetlbActive: HugetlbActive;
  /** The hugetlb pool of the PMD size (`default_hstate`, `mm/hugetlb.c`). */
  readonly hstate: Hstate;
  /**
   * Every hugetlb pool, smallest size first (`hstates[]`, `mm/hugetlb.c`): the PMD size, and with
   * 4 KiB pages the PUD size (1 GiB, x86-64's gigantic pages).
   */
  readonly hstates: readonly Hstate[];
  /** Tracepoints (`include/trace/events/migrate.h`). */
  readonly trace: Tracepoints;
  /** Loaded modules by name (`modules` list, `kernel/module/main.c`). */
  readonly modules: Map<string, Module>;
  /** The module notifier chain (`module_notify_list`, `kernel/module/main.c`). */
  readonly moduleNotifyList: Set<ModuleNotifier>;
  /** The copy-offload registry and the batch-copy dispatch (`mm/migrate_copy_offload.c`). */
  readonly migrateOffload: MigrateOffload;
  /** `/proc/vmstat` (`mm/vmstat.c`). */
  readonly vmstat: VmStat;
  /**
   * The `movable_operations` of each page type that has them, keyed by the page-type flag
   * (`offline_movable_ops` / `zsmalloc_movable_ops`, set by `set_movable_ops()`, `mm/migrate.c`).
   */
  readonly movableOps: Map<number, MovableOperations>;
  /** Balloon devices by the id their pages keep in `page->private` (`mm/balloon.c`). */
  readonly balloonDevices: Map<number, BalloonDevInfo>;
  /** The sysfs and procfs trees (`fs/kernfs/`). */
  readonly fs: KernfsRoot;
  /** THP policy (`mm/huge_memory.c`). */
  readonly thp: ThpSettings;
  /** Waiters on folio locks and writeback (`folio_wait_table`, `mm/filemap.c`). */
  readonly folioWaiters: FolioWaitQueue;
  /**
   * The PMD order (`HPAGE_PMD_ORDER`, `include/linux/huge_mm.h`): 9 with 4 KiB pages, 13 with 64
   * KiB pages.
   */
  readonly pmdOrder: number;
  /** The PUD order (`HPAGE_PUD_ORDER`, `include/linux/huge_mm.h`): 18 with 4 KiB pages. */
  readonly pudOrder: number;
  /**
   * `NR_MAX_BATCHED_MIGRATION` (`mm/migrate.c`): base pages per `migrate_pages_batch()` call.
   * `HPAGE_PMD_NR` by default; the series raises it to `HPAGE_PUD_NR` so that several THPs share
   * a batch.
   */
  nrMaxBatchedMigration: number;
  /**
   * `fault_around_pages` (`mm/memory.c`): the pages around a read fault on a file or shmem mapping
   * that `do_fault_around()` maps from the page cache, a power of two from 1 (no fault-around)
   * to `PTRS_PER_PTE`; 65536 bytes' worth at boot (16 with 4 KiB pages, 1 with 64 KiB).
   * `/sys/kernel/debug/fault_around_bytes` sets it.
   */
  faultAroundPages: number;
  /**
   * `sysctl_max_map_count` (`mm/mmap.c`, Linux 6.16): the most VMAs one address space may hold,
   * `DEFAULT_MAX_MAP_COUNT` (65530) at boot. `do_mmap()` refuses a new mapping with `ENOMEM` once
   * the count is past it, and a VMA split (`split_vma()`, `vms_gather_munmap_vmas()`) once the
   * count has reached it. `/proc/sys/vm/max_map_count` sets it.
   */
  maxMapCount: number;
  /**
   * `sysctl_overcommit_memory` (`mm/util.c`, Linux 6.16): the overcommit mode,
   * `OVERCOMMIT_GUESS` (0) at boot, `OVERCOMMIT_ALWAYS` (1) or `OVERCOMMIT_NEVER` (2); what
   * `__vm_enough_memory()` grants (`vmEnoughMemory`). `/proc/sys/vm/overcommit_memory` sets it.
   */
  overcommitMemory: number;
  /**
   * `sysctl_overcommit_ratio` (`mm/util.c`): the percentage of RAM, less the hugetlb pools, that
   * `vm_commit_limit()` allows while {@link Kernel.overcommitKbytes} is 0; 50 at boot, any `int`.
   * Writing `/proc/sys/vm/overcommit_ratio` sets it and zeroes `overcommitKbytes`.
   */
  overcommitRatio: number;
  /**
   * `sysctl_overcommit_kbytes` (`mm/util.c`): the commit limit in KiB, in place of the ratio when
   * not 0; 0 at boot, an `unsigned long`. Writing `/proc/sys/vm/overcommit_kbytes` sets it and
   * zeroes {@link Kernel.overcommitRatio}.
   */
  overcommitKbytes: bigint;
  /**
   * `sysctl_user_reserve_kbytes` (`mm/util.c`, set at boot by `init_user_reserve()`,
   * `mm/mmap.c`): in `OVERCOMMIT_NEVER`, a request leaves up to this much (in KiB, and at most
   * 1/32 of the address space's `total_vm`) of the commit limit unused. At boot the smaller of
   * 1/32 of the free memory and 128 MiB; `/proc/sys/vm/user_reserve_kbytes` sets it.
   */
  userReserveKbytes: bigint;
  /**
   * `sysctl_admin_reserve_kbytes` (`mm/util.c`, set at boot by `init_admin_reserve()`,
   * `mm/mmap.c`): in `OVERCOMMIT_NEVER`, the KiB of the commit limit only a task with
   * `CAP_SYS_ADMIN` may commit. At boot the smaller of 1/32 of the free memory and 8 MiB;
   * `/proc/sys/vm/admin_reserve_kbytes` sets it.
   */
  adminReserveKbytes: bigint;
  /**
   * `vm_committed_as` (`mm/util.c`): the pages committed, as `Committed_AS` of `/proc/meminfo`
   * shows them: every `VM_ACCOUNT` VMA's pages, every shmem object's size not made
   * `VM_NORESERVE` (and the pages a `VM_NORESERVE` one holds), and every stack growth (`vm_acct_memory()`, `vm_unacct_memory()`).
   */
  vmCommittedAs: number;
  /**
   * `sysctl_panic_on_oom` (`mm/oom_kill.c`, Linux 6.16): 0 at boot. With 1 the OOM killer panics
   * the kernel instead of killing for an allocation no memory policy constrains
   * (`CONSTRAINT_NONE`), with 2 for every allocation (`check_panic_on_oom()`).
   * `/proc/sys/vm/panic_on_oom` sets it (0..2).
   */
  panicOnOom: number;
  /**
   * `sysctl_oom_kill_allocating_task` (`mm/oom_kill.c`, Linux 6.16): 0 at boot. When not 0 the
   * OOM killer kills the allocating process, if it may be killed, instead of the one with the
   * highest `oom_badness()`. `/proc/sys/vm/oom_kill_allocating_task` sets it (any `int`).
   */
  oomKillAllocatingTask: number;
  /**
   * `stack_guard_gap` (`mm/mmap.c`, Linux 6.16), in bytes: 256 pages unless the boot command line
   * gave `stack_guard_gap=` ({@link KernelConfig.stackGuardGap}). A `VM_GROWSDOWN` VMA grows no
   * closer than this to an accessible VMA below it (`expand_downwards()`), and a new mapping is
   * placed no closer than this below one (`vm_start_gap()`); `mmap_base` leaves it below the
   * stack rlimit (`mmap_base()`, `arch/x86/mm/mmap.c`).
   */
  readonly stackGuardGap: number;
  /** The shared zero page (`ZERO_PAGE(0)`, `arch/x86/include/asm/pgtable.h`). */
  readonly zeroPfn: number;
  /** The huge zero folio, allocated on first use (`huge_zero_folio`, `mm/huge_memory.c`). */
  readonly hugeZero: HugeZeroFolio;
  /** Live anon_vmas by id. */
  readonly anonVmas: Map<number, AnonVma>;
  /** Live address spaces (files and shmem objects) by id. */
  readonly addressSpaces: Map<number, AddressSpace>;
  /**
   * Processes by pid (`init_task.tasks`, `init/init_task.c`). Boot starts the first, the init
   * process (`kernel_init()` → `run_init_process()`, `init/main.c`): pid 1, named `init`, root's,
   * with an empty address space; the OOM killer never kills it (`is_global_init()`), and its
   * `exit()` panics the kernel. Every process created later has a higher pid.
   */
  readonly tasks: Map<number, Task>;
  /** Files by name. */
  readonly files: Map<string, File>;
  /** Pages that a free refused, in order. */
  readonly badPages: BadPage[];
  /**
   * Pages inflated into balloons (`NR_BALLOON_PAGES`, a node stat summed, Linux 6.15+):
   * `nr_balloon_pages` in `/proc/vmstat`, `Balloon:` in `/proc/meminfo`. Raised by
   * `balloon_page_enqueue()`, lowered by `balloon_page_list_dequeue()`; a migration leaves it as
   * it is, as `balloon_page_migrate()` does.
   */
  nrBalloonPages: number;
  /** Pages marked hwpoisoned (`num_poisoned_pages`, `mm/memory-failure.c`). */
  numPoisonedPages: number;
  /**
   * `hw_memory_failure` (`mm/memory-failure.c`, Linux 6.16): false at boot, true for good once
   * `memory_failure()` has handled an error the hardware reported (its flags without
   * `MF_SW_SIMULATED`); from then on `unpoison_memory()` refuses every page with `EOPNOTSUPP`.
   */
  hwMemoryFailure: boolean;
  /**
   * `mf_mutex` (`mm/memory-failure.c`, Linux 6.16): a mutex (one permit), held by
   * `memory_failure()` and `soft_offline_page()` from their first look at the page to their end,
   * sleeps included, so one handles a page only after the other is done with it;
   * `unpoison_memory()` takes it too. Waiters take it in the order they came.
   */
  readonly mfMutex: Semaphore.Semaphore;

  /** Distance between two nodes (`node_distance()`, `include/linux/topology.h`). */
  readonly distance: (from: number, to: number) => number;
  /** A fresh id for an anon_vma or address space. */
  nextId(): number;
  /** Records a page a free refused (`bad_page()`, `mm/page_alloc.c`). */
  reportBadPage(pfn: number, reason: string): void;
  /** True when `nid` names a node of this machine. */
  nodeExists(nid: number): boolean;
  /**
   * True when `nid` names a node with memory (`node_state(nid, N_MEMORY)`,
   * `include/linux/nodemask.h`): its zone has present pages. Offlining a node's last present
   * page clears the state (`node_states_clear_node()`, `mm/memory_hotplug.c`); onlining sets it
   * again (`node_states_set_node()`).
   */
  nodeHasMemory(nid: number): boolean;
  /**
   * The nodes with memory (`node_states[N_MEMORY]`, `include/linux/nodemask.h`), in node order:
   * those for which {@link Kernel.nodeHasMemory} holds.
   */
  nodesWithMemory(): number[];
  /**
   * A handle on the folio that contains `pfn` (`page_folio(pfn_to_page(pfn))`,
   * `include/linux/page-flags.h`).
   */
  folio(pfn: number): Folio;
  /**
   * Adds a task to the process table (`copy_process()`, `kernel/fork.c`); used by process
   * creation and fork. `EINVAL` for a missing node, a bad uid, name or capability list, or
   * `memsAllowed` naming a node without memory; `ENOSPC` for empty `memsAllowed`, as a cpuset
   * with no mems cannot hold a task (`cpuset_can_attach()`, `kernel/cgroup/cpuset.c`). `copyMm`,
   * when given, fills the new task's address space first (`copy_mm()`, fork's `dup_mmap()`): an
   * error it returns is the call's, with no task added and, as `alloc_pid()` comes after
   * `copy_mm()`, no pid taken.
   */
  addTask(options: TaskOptions, copyMm?: (mm: MmStruct) => 0 | ErrnoError): Task | ErrnoError;
  /**
   * Creates a user process with an empty address space: what `kernel_clone()` (`kernel/fork.c`)
   * followed by `execve()` (`fs/exec.c`) leaves, a task with a fresh `mm_struct` and no mappings.
   * `EINVAL` for a missing node, a bad uid or an empty cpuset.
   *
   * @example
   * ```ts
   * import { CAP_SYS_NICE, Kernel } from "@migrate-offload/core";
   * import { Effect } from "effect";
   *
   * await Effect.runPromise(
   *   Effect.scoped(
   *     Effect.gen(function* () {
   *       const kernel = yield* Kernel.make({ nodes: ["64M", "64M"] });
   *       const app = yield* kernel.createProcess({ node: 0, name: "app", uid: 1000 });
   *       const admin = yield* kernel.createProcess({ uid: 1000, capabilities: [CAP_SYS_NICE] });
   *       console.log(app.capable(CAP_SYS_NICE)); // false: not root, no capabilities given
   *       console.log(admin.capable(CAP_SYS_NICE)); // true: it may use MPOL_MF_MOVE_ALL
   *     }),
   *   ),
   * );
   * ```
   */
  createProcess(options?: TaskOptions): Effect.Effect<Task, ErrnoError>;
  /**
   * Creates a kernel thread: a task with no address space and {@link PF_KTHREAD} in its flags
   * (`kthread_create()`, `kernel/kthread.c`).
   */
  createKernelThread(name: string): Effect.Effect<Task, ErrnoError>;
  /** The task with this pid, if it exists (`find_task_by_vpid()`, `kernel/pid.c`). */
  findTask(pid: number): Task | undefined;
  /**
   * Creates an empty file that processes can map (`creat()`): its size (`i_size`) is 0 until
   * `File.truncate()` sets it, and a fault on a page past its end gets `SIGBUS`. `EEXIST` if the
   * name is taken, `EINVAL` for a name that is not a non-empty string.
   */
  createFile(name: string): Effect.Effect<File, ErrnoError>;
  /**
   * The blocking steps of `__alloc_pages_slowpath()` (`mm/page_alloc.c`, Linux 6.16) for `req`,
   * after `PageAllocator.allocPages()` gave nothing: `allocPagesSlowpath()` (`mm/page_alloc.ts`)
   * on this kernel, for callers whose module the page allocator's reaches (migration targets,
   * demotion, the hugetlb pool). `current` is the allocating task (null: a kernel thread of
   * `req.nid`): its `PF_MEMALLOC` is set while it reclaims or compacts, as
   * `memalloc_noreclaim_save()` does.
   */
  allocPagesSlowpath(
    req: AllocRequest,
    current?: AllocContext | null,
  ): Effect.Effect<SlowpathResult, ErrnoError>;
  /**
   * `folio_alloc()` (`mm/mempolicy.c`) on a node: a folio of 2^order pages with one reference.
   * `gfp` says what kind of memory it is: without `__GFP_MOVABLE` (`GFP_KERNEL`, the default 0)
   * it is unmovable kernel memory, placed in `MIGRATE_UNMOVABLE` pageblocks (taking from others
   * as `__rmqueue_claim()` and `__rmqueue_steal()` do), which compaction cannot move: the way
   * to fragment a node as kernel allocations do. Orders above `MAX_PAGE_ORDER` up to the PUD order come from
   * `alloc_contig_pages()` (`folio_alloc_gigantic()`), which migrates what is in the way
   * (`MR_CONTIG_RANGE`). `EINVAL` for a node that does not exist, an order outside 0..PUD order
   * or a `gfp` that is not a mask of the flags `__GFP_BITS_MASK` covers;
   * `ENOMEM` when no block of that order can be had (on that node, with `__GFP_THISNODE`), after
   * the slow path's direct reclaim and compaction when `gfp` has `__GFP_DIRECT_RECLAIM`
   * (`allocPagesSlowpath()`, whose OOM killer, for an order up to 3 without `__GFP_NORETRY`,
   * `__GFP_RETRY_MAYFAIL` or `__GFP_THISNODE`, kills a process first, and panics the kernel when
   * none can be killed: the call then fails with `ESHUTDOWN` naming the panic).
   * `current` is the task the allocation is made in: its `PF_MEMALLOC` and the node of its CPU,
   * which `numa_local` and `numa_other` count against (`zone_statistics()`); null or left out for
   * a kernel thread running on node `nid`. `ESRCH` when that task has exited or has `SIGKILL`
   * pending.
   */
  allocFolio(
    nid: number,
    order: number,
    gfp?: number,
    current?: TaskStruct | null,
  ): Effect.Effect<Folio, ErrnoError>;
  /**
   * `folio_put()` (`include/linux/mm.h`): drops a reference; the last frees the folio
   * (`__folio_put()`, `mm/swap.c`).
   */
  folioPut(folio: Folio): void;
  /**
   * Fragments a node so that no free block is larger than `order` (see `PageAllocator.fragment`).
   * A test set-up with no kernel symbol: it pins blocks of the buddy allocator (`mm/page_alloc.c`)
   * as a long-running, fragmenting workload would.
   */
  fragment(nid: number, order: number): Effect.Effect<Fragmentation, ErrnoError>;
  /**
   * `init_module()` (`kernel/module/main.c`): loads a module and runs its init.
   *
   * @example
   * ```ts
   * import { Kernel, type ModuleDefinition } from "@migrate-offload/core";
   * import { Effect } from "effect";
   *
   * // A module whose init and exit only say that they ran.
   * const hello: ModuleDefinition = {
   *   name: "hello",
   *   init: () => Effect.sync(() => console.log("hello: init")),
   *   exit: () => Effect.sync(() => console.log("hello: exit")),
   * };
   * await Effect.runPromise(
   *   Effect.scoped(
   *     Effect.gen(function* () {
   *       const kernel = yield* Kernel.make({ nodes: ["64M"] });
   *       const module = yield* kernel.loadModule(hello); // "hello: init"
   *       console.log(module.name, [...kernel.modules.keys()]); // hello [ "hello" ]
   *       yield* kernel.unloadModule("hello"); // "hello: exit"
   *     }),
   *   ),
   * );
   * ```
   */
  loadModule(definition: ModuleDefinition): Effect.Effect<Module, ErrnoError>;
  /** `delete_module()` (`kernel/module/main.c`): unloads a module; `EBUSY` while pinned. */
  unloadModule(name: string): Effect.Effect<void, ErrnoError>;
  /**
   * `memory_failure(pfn, flags)` (`mm/memory-failure.c`): handles an uncorrected memory error in
   * the page at `pfn` by its state. `flags` 0 (the default) is an error the hardware reported,
   * after which `unpoisonMemory()` is refused (`EOPNOTSUPP`) for good; `MF_SW_SIMULATED` is one
   * software injected (`MADV_HWPOISON`, the hwpoison debugfs), which leaves unpoison working. A free page leaves the allocator; an anonymous or dirty page is
   * unmapped from every process, whose later access is `SIGBUS` with `BUS_MCEERR_AR` (a
   * `SignalError`, which kills it); a clean file page is dropped from its file, a dirty one too with `EIO` for
   * the next `fsync()`; a large folio is split first. Fails with `ENXIO` for no memory,
   * `EHWPOISON` when already poisoned or the large folio cannot be split, and `EBUSY` when the
   * page could not be handled (a kernel page, a folio under migration). See
   * `mm/memory_failure.ts` for every state.
   *
   * @example
   * ```ts
   * import { Kernel } from "@migrate-offload/core";
   * import { folioAt } from "@migrate-offload/core/testing";
   * import { Effect } from "effect";
   *
   * const kernel = await Effect.runPromise(Kernel.boot({ nodes: ["16M"] }));
   * const signal = await Effect.runPromise(
   *   Effect.gen(function* () {
   *     const proc = yield* kernel.createProcess();
   *     const addr = yield* proc.mmap(4096);
   *     yield* proc.write(addr, new Uint8Array([1])); // an anonymous page, mapped once
   *     yield* kernel.memoryFailure(folioAt(proc, addr).pfn); // unmapped: a hwpoison entry
   *     const err = yield* Effect.flip(proc.read(addr, 1));
   *     return err._tag === "SignalError" ? `${err.signal} ${err.reason}` : err.errno;
   *   }),
   * );
   * console.log(signal); // "SIGBUS BUS_MCEERR_AR": the process died of it
   * await Effect.runPromise(kernel.shutdown());
   * ```
   */
  memoryFailure(pfn: number, flags?: number): Effect.Effect<void, ErrnoError>;
  /**
   * Plants an uncorrected error the kernel has not handled yet: the page at `pfn` is marked
   * poisoned and counted, and nothing else changes, so reads of it are `SIGBUS` and a
   * machine-check-safe copy from it (a migration) fails. No kernel symbol: the state between the
   * hardware error and `memory_failure()`. `ENXIO` outside memory, `EHWPOISON` when already
   * poisoned, `EBUSY` for a free page.
   */
  injectMemoryError(pfn: number): Effect.Effect<void, ErrnoError>;
  /**
   * `soft_offline_page(pfn, 0)` (`mm/memory-failure.c`): takes a suspect page out of use without
   * losing its contents: a free page leaves the buddy allocator, a page in use is migrated away
   * (`MR_MEMORY_FAILURE`) and the old one poisoned; a hugetlb page is migrated and its old huge
   * page dissolved. Counts in `num_poisoned_pages`. Succeeds at once for a poisoned page; `ENXIO`
   * for no memory, `EIO` for a page it cannot handle, `EBUSY` when it could not isolate, migrate
   * or take the page. What writing `/sys/devices/system/memory/soft_offline_page` runs.
   * `current` is the task it runs in, which allocates the destination (where it counts
   * `numa_local` or `numa_other`); null or left out for a kernel thread of the page's node.
   * `ESRCH` when that task has exited or has `SIGKILL` pending.
   */
  softOfflinePage(pfn: number, current?: TaskStruct | null): Effect.Effect<void, ErrnoError>;
  /**
   * `unpoison_memory()` (`mm/memory-failure.c`): clears the mark again. `EBUSY` for a page that
   * is not poisoned, reserved or offline, or that someone else holds, maps or caches; `ENXIO`
   * for a PFN without memory. A page in use by its one reference is freed: Linux takes that
   * reference for the poison's. It waits for a memory failure or soft offline in progress to end
   * (`mf_mutex`).
   */
  unpoisonMemory(pfn: number): Effect.Effect<void, ErrnoError>;

  /**
   * Running, panicked ({@link Kernel.panic}: no new calls are taken), shutting down (no new calls
   * are taken), or shut down.
   */
  readonly state: KernelState;
  /**
   * The message of the `panic()` that halted this kernel (its trailing newline dropped, as the
   * console shows it after `Kernel panic - not syncing: `), or null while it never panicked. It
   * stays through shutdown.
   */
  readonly panicked: string | null;
  /**
   * `panic()` (`kernel/panic.c`, Linux 6.16): halts the kernel for good. The first panic sets
   * {@link Kernel.state} to `"panicked"` and keeps `message` in {@link Kernel.panicked} (a later
   * one, as `panic_try_start()` lets only one CPU panic, changes nothing); the daemons stop at
   * their next check of the state, and every call from then on fails with `ESHUTDOWN` naming the
   * panic. The Effect never succeeds: it dies with a {@link KernelPanic}, which no kernel code
   * handles, so the calling code unwinds through its finalizers alone; the system call it is
   * part of fails with `ESHUTDOWN` naming the panic ({@link Kernel.call}). As `smp_send_stop()`
   * halts the other CPUs, every other fiber of the kernel (a call in flight, a daemon, the
   * `oom_reaper`) stops at its next yield point (a folio wait, a copy's end, an `mmap_lock` sleep,
   * the allocator's `cond_resched()`), dying with the same {@link KernelPanic} and changing
   * nothing more; a call so stopped fails with that `ESHUTDOWN` too. {@link Kernel.shutdown} still powers the machine off and
   * releases everything. The model has no `panic_timeout` reboot and no kdump: the kernel stays
   * halted (`panic_timeout` 0, the default).
   */
  panic(message: string): Effect.Effect<never>;
  /**
   * Runs `effect` as a system call of this kernel: while the kernel is running it is counted in
   * flight, so that shutdown waits for it; once shutdown has begun it fails with `ESHUTDOWN`
   * without running, and so it does once the kernel has panicked, naming the panic. A call
   * (not made from inside another) that was in flight when the kernel panicked fails with that
   * `ESHUTDOWN` when it returns, whatever it did meanwhile: on Linux it never returns. Every call
   * of the public API goes through here. `current` is the task
   * making the call (a process's system call), or null for a call no task makes (a sysfs write,
   * a daemon's pass). Before a task's call returns (one not made from inside another), the work
   * queued on that task runs (`resume_user_mode_work()` → `task_work_run()`,
   * {@link TaskStruct.taskWorks}), unless the kernel has panicked; no other task's work is run
   * or waited for.
   */
  call<A, E>(
    name: string,
    effect: Effect.Effect<A, E>,
    current?: TaskStruct | null,
  ): Effect.Effect<A, E | ErrnoError>;
  /**
   * Registers a device that shutdown must stop (`device_register()`, `drivers/base/core.c`);
   * returns the function that unregisters it again (`device_unregister()`).
   */
  registerDevice(device: Device): () => void;
  /**
   * Shuts the kernel down (`kernel_power_off()`, `kernel/reboot.c`): new calls fail with
   * `ESHUTDOWN`; calls in flight are waited for; copy offload is switched off; modules are
   * unloaded in the reverse order of loading, running their exit functions; devices (DMA
   * engines, copy threads) are stopped in the reverse order of registration; processes, files,
   * sysfs and procfs, trace subscribers and every reference to the node memory are dropped.
   * Calling it again does nothing. A kernel that panicked ({@link Kernel.panic}) is shut down the
   * same way, once the calls in flight at the panic have returned. Fails with `EBUSY`, after finishing every other step, when a
   * module's exit or a device's shutdown failed, naming each.
   *
   * @example
   * ```ts
   * import { Kernel } from "@migrate-offload/core";
   * import { Effect } from "effect";
   *
   * await Effect.runPromise(
   *   Effect.gen(function* () {
   *     const kernel = yield* Kernel.boot({ nodes: ["64M", "64M"] });
   *     const proc = yield* kernel.createProcess();
   *     yield* proc.mmap(4096);
   *     yield* kernel.shutdown();
   *     console.log(kernel.state); // "down"
   *   }),
   * );
   * ```
   */
  shutdown(): Effect.Effect<void, ErrnoError>;
  /**
   * `await using kernel = ...`: shuts the kernel down when the block ends (see
   * {@link Kernel.shutdown}); rejects with the shutdown's error.
   */
  [Symbol.asyncDispose](): Promise<void>;
}
