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
import type { Effect } from "effect";
import type { ErrnoError } from "../errno";
import type { Size } from "../lib/cmdline";
import type { Folio } from "./folio";
import type { File } from "./fs";
import type { MthpMode, ThpMode, ThpSettings } from "./huge_mm";
import type { KernfsRoot } from "./kernfs";
import type { MemMap } from "./mem_map";
import type { MigrateOffload } from "./migrate_copy_offload";
import type { AddressSpace, AnonVma } from "./mm_types";
import type { Fragmentation, PageAllocator, PhysicalMemory } from "./mmzone";
import type { Module, ModuleDefinition, ModuleNotifier } from "./module";
import type { FolioWaitQueue } from "./pagemap";
import type { TaskOptions, TaskStruct } from "./sched";
import type { HugetlbActive, Lru } from "./swap";
import type { Tracepoints } from "./trace";
import type { VmStat } from "./vmstat";

/** The machine to boot: what firmware tells the kernel, and the boot command line's THP switches. */
export interface KernelConfig {
  /** Memory of each NUMA node, node 0 first. A node of size 0 is memoryless. */
  readonly nodes: ReadonlyArray<Size | { readonly memory: Size }>;
  /** Base page size (`PAGE_SIZE`): 4 KiB (default), 16 KiB or 64 KiB. */
  readonly pageSize?: number;
  /** Bytes per memory section (`SECTION_SIZE_BITS`); default 1 GiB. */
  readonly sectionSize?: Size;
  /** THP policy at boot: the global mode and per-size mTHP modes keyed like `"64kB"`. */
  readonly thp?: {
    readonly enabled?: ThpMode;
    readonly sizes?: Readonly<Record<string, MthpMode>>;
  };
  /** Node distance matrix (`node_distance`, the ACPI SLIT); default 10 local, 20 remote. */
  readonly distances?: ReadonlyArray<ReadonlyArray<number>>;
}

/** A page that a free refused (`bad_page()`, `mm/page_alloc.c`), for tests and reports. */
export interface BadPage {
  readonly pfn: number;
  readonly reason: string;
}

/**
 * A process on a kernel: the {@link TaskStruct} with the kernel it runs on. What
 * `Kernel.createProcess` and `fork()` return.
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
 * @example
 * ```ts
 * const kernel = yield* Kernel.make({ nodes: ["512M", "512M"] });
 * const proc = yield* kernel.createProcess({ node: 0 });
 * const text = yield* kernel.fs.read("/sys/devices/system/node/has_memory"); // "0-1\n"
 * ```
 */
export interface Kernel {
  /** Physical memory: nodes, sections and their buffers (`mm/sparse.c`). */
  readonly mem: PhysicalMemory;
  /** `struct page` for every PFN (`mem_map`). */
  readonly memmap: MemMap;
  /** The page allocator (`mm/page_alloc.c`). */
  readonly pageAlloc: PageAllocator;
  /** The LRU lists (`lruvec`). */
  readonly lru: Lru;
  /** The active hugetlb folios (`hstate->hugepage_activelist`). */
  readonly hugetlbActive: HugetlbActive;
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
  /** The sysfs and procfs trees (`fs/kernfs/`). */
  readonly fs: KernfsRoot;
  /** THP policy (`mm/huge_memory.c`). */
  readonly thp: ThpSettings;
  /** Waiters on folio locks and writeback (`folio_wait_table`, `mm/filemap.c`). */
  readonly folioWaiters: FolioWaitQueue;
  /** The PMD order (`HPAGE_PMD_ORDER`): 9 with 4 KiB pages, 13 with 64 KiB pages. */
  readonly pmdOrder: number;
  /** The PUD order (`HPAGE_PUD_ORDER`): 18 with 4 KiB pages. */
  readonly pudOrder: number;
  /**
   * `NR_MAX_BATCHED_MIGRATION` (`mm/migrate.c`): base pages per `migrate_pages_batch()` call.
   * `HPAGE_PMD_NR` by default; the series raises it to `HPAGE_PUD_NR` so that several THPs share
   * a batch.
   */
  nrMaxBatchedMigration: number;
  /** The shared zero page (`ZERO_PAGE(0)`). */
  readonly zeroPfn: number;
  /** Live anon_vmas by id. */
  readonly anonVmas: Map<number, AnonVma>;
  /** Live address spaces (files and shmem objects) by id. */
  readonly addressSpaces: Map<number, AddressSpace>;
  /** Processes by pid (`init_task.tasks`). */
  readonly tasks: Map<number, Task>;
  /** Files by name. */
  readonly files: Map<string, File>;
  /** Pages that a free refused, in order. */
  readonly badPages: BadPage[];
  /** Pages marked hwpoisoned (`num_poisoned_pages`). */
  numPoisonedPages: number;

  /** Distance between two nodes (`node_distance`). */
  readonly distance: (from: number, to: number) => number;
  /** A fresh id for an anon_vma or address space. */
  nextId(): number;
  /** Records a page a free refused (`bad_page()`). */
  reportBadPage(pfn: number, reason: string): void;
  /** True when `nid` names a node of this machine. */
  nodeExists(nid: number): boolean;
  /** True when `nid` names a node with memory (`node_state(nid, N_MEMORY)`). */
  nodeHasMemory(nid: number): boolean;
  /** A handle on the folio that contains `pfn` (`page_folio(pfn_to_page(pfn))`). */
  folio(pfn: number): Folio;
  /**
   * Adds a task to the process table (`copy_process()`, `kernel/fork.c`); used by process
   * creation and fork. `EINVAL` for a missing node, a bad uid, name or capability list, or
   * `memsAllowed` naming a node without memory; `ENOSPC` for empty `memsAllowed`, as a cpuset
   * with no mems cannot hold a task (`cpuset_can_attach()`, `kernel/cgroup/cpuset.c`).
   */
  addTask(options: TaskOptions): Task | ErrnoError;
  /**
   * Creates a user process with an empty address space.
   *
   * @example
   * ```ts
   * const proc = yield* kernel.createProcess({ node: 0, name: "app" });
   * ```
   */
  createProcess(options?: TaskOptions): Effect.Effect<Task, ErrnoError>;
  /** Creates a kernel thread: a task with no address space (`kthread_create`, `kernel/kthread.c`). */
  createKernelThread(name: string): Effect.Effect<Task, ErrnoError>;
  /** The task with this pid, if it exists (`find_task_by_vpid`, `kernel/pid.c`). */
  findTask(pid: number): Task | undefined;
  /**
   * Creates an empty file that processes can map. `EEXIST` if the name is taken, `EINVAL` for a
   * name that is not a non-empty string.
   */
  createFile(name: string): Effect.Effect<File, ErrnoError>;
  /**
   * `folio_alloc()` (`mm/mempolicy.c`) on a node: a folio of 2^order pages with one reference.
   * `ENOMEM` when no block of that order is free (on that node, with `__GFP_THISNODE`).
   */
  allocFolio(nid: number, order: number, gfp?: number): Effect.Effect<Folio, ErrnoError>;
  /** `folio_put()` (`mm/swap.c`): drops a reference; the last frees the folio. */
  folioPut(folio: Folio): void;
  /** Fragments a node so that no free block is larger than `order` (see `PageAllocator.fragment`). */
  fragment(nid: number, order: number): Effect.Effect<Fragmentation, ErrnoError>;
  /**
   * `init_module()` (`kernel/module/main.c`): loads a module and runs its init.
   *
   * @example
   * ```ts
   * const driver = mtcopyDriver(kernel, { threads: 2 });
   * yield* kernel.loadModule(driver.module);
   * yield* kernel.fs.write("/sys/kernel/cpu_mt/offloading", "1");
   * ```
   */
  loadModule(definition: ModuleDefinition): Effect.Effect<Module, ErrnoError>;
  /** `delete_module()` (`kernel/module/main.c`): unloads a module; `EBUSY` while pinned. */
  unloadModule(name: string): Effect.Effect<void, ErrnoError>;
  /** `memory_failure()` (`mm/memory-failure.c`): marks the page at `pfn` hwpoisoned. */
  memoryFailure(pfn: number): Effect.Effect<void, ErrnoError>;
  /** `unpoison_memory()` (`mm/memory-failure.c`): clears the mark again. */
  unpoisonMemory(pfn: number): Effect.Effect<void, ErrnoError>;
}
