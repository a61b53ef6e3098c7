/**
 * The kernel: one simulated machine.
 *
 * `Kernel.make(config)` boots a machine: NUMA nodes with real memory, `struct page` metadata, the
 * buddy allocator, the zero page, the LRU, `/proc/vmstat`, the THP policy and the sysfs and procfs
 * trees. Every piece of state hangs off the returned value: there are no module-level singletons,
 * and any number of kernels can run side by side in one process without seeing each other.
 * Models boot (`start_kernel()` → `mm_core_init()`, `init/main.c`) and the machine description
 * the kernel gets from firmware (the NUMA nodes and their distances, `SLIT`).
 *
 * @module
 */
import { Effect } from "effect";
import { type ErrnoError, errno, syscall } from "./errno";
import { File } from "./fs/inode";
import { KernFs } from "./fs/kernfs";
import { loadModule, unloadModule } from "./kernel/module";
import type { Module, ModuleDefinition } from "./include/module";
import { Task, type TaskOptions } from "./kernel/task";
import { Tracepoints } from "./include/trace";
import { formatNodeList } from "./lib/nodemask";
import { LOCAL_DISTANCE, MAX_NUMNODES, REMOTE_DISTANCE } from "./lib/numa";
import { FolioWaitQueue } from "./include/pagemap";
import { Folio } from "./include/folio";
import { __GFP_COMP } from "./include/gfp";
import { type MthpMode, type ThpMode, ThpSettings } from "./include/huge_mm";
import { MemMap } from "./include/mem_map";
import { memoryFailure, unpoisonMemory } from "./mm/memory_failure";
import { MigrationControl } from "./mm/migrate";
import { MigrateOffload } from "./mm/migrate_copy_offload";
import { AddressSpace, type AnonVma, MmStruct } from "./include/mm_types";
import type { Fragmentation, PageAllocator } from "./include/mmzone";
import { BuddyAllocator } from "./mm/page_alloc";
import { PG_reserved } from "./include/page_flags";
import { PTE_MAX_PFN } from "./include/pgtable";
import { PhysicalMemory } from "./include/mmzone";
import { folioPut, HugetlbActive, Lru } from "./mm/swap";
import { VmStat } from "./include/vmstat";

/** A size in bytes, or a string such as `"512M"`, `"2G"`, `"64KiB"`. */
export type Size = number | string;

/** The machine to boot. */
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

const UNITS: Record<string, number> = { "": 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** Parses a size: a number of bytes, or `"<n>[K|M|G|T][i][B]"` (`memparse`). */
export const parseSize = (size: Size): number | ErrnoError => {
  if (typeof size === "number") {
    return Number.isSafeInteger(size) && size >= 0 ? size : errno("EINVAL", `bad size ${size}`);
  }
  const match = /^\s*(\d+)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(size);
  if (!match) return errno("EINVAL", `bad size ${JSON.stringify(size)}`);
  return Number(match[1]) * UNITS[match[2]!.toUpperCase()]!;
};

const isPowerOfTwo = (n: number): boolean =>
  Number.isSafeInteger(n) && n > 0 && 2 ** Math.log2(n) === n;

interface BootPlan {
  readonly pageSize: number;
  readonly sectionSize: number;
  readonly nodeBytes: number[];
  readonly pmdOrder: number;
  readonly distances: number[][];
  readonly thpOrders: Map<number, MthpMode>;
}

/** Checks a config completely before anything is allocated. */
const planBoot = (config: KernelConfig): BootPlan | ErrnoError => {
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
  for (const [nid, node] of config.nodes.entries()) {
    const bytes = parseSize(typeof node === "object" ? node.memory : node);
    if (typeof bytes !== "number") return errno("EINVAL", `node ${nid}: ${bytes.message}`);
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
  return { pageSize, sectionSize, nodeBytes, pmdOrder, distances, thpOrders };
};

/** A page that a free refused (`bad_page()`), for tests and reports. */
export interface BadPage {
  readonly pfn: number;
  readonly reason: string;
}

/** One simulated machine. */
export class Kernel {
  /** Physical memory: nodes, sections and their buffers. */
  readonly mem: PhysicalMemory;
  /** `struct page` for every PFN. */
  readonly memmap: MemMap;
  /** The buddy allocator. */
  readonly pageAlloc: PageAllocator;
  /** The LRU lists. */
  readonly lru: Lru;
  /** The active hugetlb folios. */
  readonly hugetlbActive: HugetlbActive;
  /** Migration settings: batch size and the batch copier. */
  readonly migration: MigrationControl;
  /** Tracepoints. */
  readonly trace = new Tracepoints();
  /** Loaded modules by name. */
  readonly modules = new Map<string, Module>();
  /** The copy-offload registry. */
  readonly migrateOffload: MigrateOffload;
  /** `/proc/vmstat`. */
  readonly vmstat: VmStat;
  /** The sysfs and procfs trees. */
  readonly fs = new KernFs();
  /** THP policy. */
  readonly thp: ThpSettings;
  /** Waiters on folio locks. */
  readonly folioWaiters: FolioWaitQueue;
  /** The PMD order (`HPAGE_PMD_ORDER`): 9 with 4 KiB pages, 13 with 64 KiB pages. */
  readonly pmdOrder: number;
  /** The PUD order (`HPAGE_PUD_ORDER`): 18 with 4 KiB pages. */
  readonly pudOrder: number;
  /** The shared zero page (`ZERO_PAGE(0)`). */
  readonly zeroPfn: number;
  /** Live anon_vmas by id. */
  readonly anonVmas = new Map<number, AnonVma>();
  /** Live address spaces (files and shmem objects) by id. */
  readonly addressSpaces = new Map<number, AddressSpace>();
  /** Processes by pid. */
  readonly tasks = new Map<number, Task>();
  /** Files by name. */
  readonly files = new Map<string, File>();
  /** Pages that a free refused, in order. */
  readonly badPages: BadPage[] = [];
  /** Pages marked hwpoisoned (`num_poisoned_pages`). */
  numPoisonedPages = 0;
  private readonly distances: number[][];
  private lastId = 0;
  private lastPid = 0;

  private constructor(plan: BootPlan) {
    this.mem = new PhysicalMemory(plan.pageSize, plan.sectionSize, plan.nodeBytes);
    this.memmap = new MemMap(this.mem.maxPfn);
    this.pmdOrder = plan.pmdOrder;
    this.pudOrder = 2 * plan.pmdOrder;
    this.distances = plan.distances;
    this.pageAlloc = new BuddyAllocator(
      this.mem,
      this.memmap,
      Math.min(this.pudOrder, this.mem.pfnSectionShift),
      this.distance,
      (pfn, reason) => this.reportBadPage(pfn, reason),
    );
    this.lru = new Lru(this);
    this.hugetlbActive = new HugetlbActive(this);
    this.migration = new MigrationControl(2 ** plan.pmdOrder);
    this.folioWaiters = new FolioWaitQueue(this.memmap.flags);
    this.thp = new ThpSettings(plan.pageSize, plan.pmdOrder, "madvise");
    for (const [order, mode] of plan.thpOrders) this.thp.orderModes.set(order, mode);
    this.vmstat = new VmStat([
      ["nr_free_pages", () => this.pageAlloc.totalFreePages()],
      ["nr_poisoned_pages", () => this.numPoisonedPages],
    ]);
    const firstNode = this.mem.nodes.find((n) => n.presentPages > 0)!;
    this.zeroPfn = this.pageAlloc.allocPages(firstNode.nid, 0, 0);
    this.memmap.set(this.zeroPfn, PG_reserved);
    this.createSysfs();
    this.migrateOffload = new MigrateOffload(this);
  }

  /**
   * Boots a kernel. Fails with `EINVAL`, naming the problem, for a bad config: no nodes, a node
   * size that is not a multiple of the page size, an unsupported page size, a bad distance
   * matrix or THP size.
   */
  static make(config: KernelConfig): Effect.Effect<Kernel, ErrnoError> {
    return syscall(() => {
      const plan = planBoot(config);
      if (plan instanceof Error) return plan;
      const kernel = new Kernel(plan);
      if (config.thp?.enabled) kernel.thp.enabled = config.thp.enabled;
      return kernel;
    });
  }

  /** Distance between two nodes (`node_distance`). */
  readonly distance = (from: number, to: number): number => this.distances[from]![to]!;

  /** A fresh id for an anon_vma or address space. */
  nextId(): number {
    return ++this.lastId;
  }

  /** Records a page a free refused (`bad_page()`). */
  reportBadPage(pfn: number, reason: string): void {
    this.badPages.push({ pfn, reason });
  }

  /** True when `nid` names a node of this machine. */
  nodeExists(nid: number): boolean {
    return Number.isInteger(nid) && nid >= 0 && nid < this.mem.nodes.length;
  }

  /** True when `nid` names a node with memory (`node_state(nid, N_MEMORY)`). */
  nodeHasMemory(nid: number): boolean {
    return this.nodeExists(nid) && this.mem.nodes[nid]!.presentPages > 0;
  }

  /** A handle on the folio that contains `pfn`. */
  folio(pfn: number): Folio {
    return new Folio(this, this.memmap.folioOf(pfn));
  }

  /** Adds a task to the process table; used by process creation and fork. */
  addTask(options: TaskOptions): Task | ErrnoError {
    const nid = options.node ?? 0;
    if (!this.nodeExists(nid)) return errno("EINVAL", `node ${nid} does not exist`);
    const uid = options.uid ?? 0;
    const euid = options.euid ?? uid;
    if (!Number.isInteger(uid) || uid < 0 || !Number.isInteger(euid) || euid < 0) {
      return errno("EINVAL", `bad uid ${uid}/${euid}`);
    }
    const memsAllowed = options.memsAllowed ?? this.mem.nodes.map((n) => n.nid);
    if (!memsAllowed.every((n) => this.nodeExists(n))) {
      return errno("EINVAL", `memsAllowed ${memsAllowed} names a missing node`);
    }
    const pid = ++this.lastPid;
    const task = new Task(
      this,
      pid,
      options.name ?? `task${pid}`,
      uid,
      euid,
      new Set(options.capabilities ?? []),
      nid,
      new MmStruct(this.nextId()),
      memsAllowed,
    );
    this.tasks.set(pid, task);
    return task;
  }

  /** Creates a user process with an empty address space. */
  createProcess(options: TaskOptions = {}): Effect.Effect<Task, ErrnoError> {
    return syscall(() => this.addTask(options));
  }

  /** Creates a kernel thread: a task with no address space (`kthread_create`). */
  createKernelThread(name: string): Effect.Effect<Task, ErrnoError> {
    return syscall(() => {
      const task = this.addTask({ name });
      if (task instanceof Error) return task;
      task.mm = null;
      return task;
    });
  }

  /** The task with this pid, if it exists (`find_task_by_vpid`). */
  findTask(pid: number): Task | undefined {
    return this.tasks.get(pid);
  }

  /** Creates an empty file that processes can map. `EEXIST` if the name is taken. */
  createFile(name: string): Effect.Effect<File, ErrnoError> {
    return syscall(() => {
      if (this.files.has(name)) return errno("EEXIST", `file ${JSON.stringify(name)} exists`);
      const mapping = new AddressSpace(this.nextId(), name, false);
      this.addressSpaces.set(mapping.id, mapping);
      const file = new File(this, name, mapping);
      this.files.set(name, file);
      return file;
    });
  }

  private checkAlloc(nid: number, order: number): ErrnoError | null {
    if (!this.nodeExists(nid)) return errno("EINVAL", `node ${nid} does not exist`);
    if (!Number.isInteger(order) || order < 0 || order > this.pageAlloc.maxOrder) {
      return errno("EINVAL", `order ${order} is outside 0..${this.pageAlloc.maxOrder}`);
    }
    return null;
  }

  /**
   * `folio_alloc()` on a node: a folio of 2^order pages with one reference. `ENOMEM` when no
   * block of that order is free (on that node, with `__GFP_THISNODE`).
   */
  allocFolio(nid: number, order: number, gfp = 0): Effect.Effect<Folio, ErrnoError> {
    return syscall(() => {
      const bad = this.checkAlloc(nid, order);
      if (bad) return bad;
      const pfn = this.pageAlloc.allocPages(nid, order, gfp | __GFP_COMP);
      if (pfn < 0) return errno("ENOMEM", `no free block of order ${order} for node ${nid}`);
      return new Folio(this, pfn);
    });
  }

  /** `folio_put()`: drops a reference; the last frees the folio. */
  folioPut(folio: Folio): void {
    folioPut(this, folio.pfn);
  }

  /** Fragments a node so that no free block is larger than `order` (see `PageAllocator.fragment`). */
  fragment(nid: number, order: number): Effect.Effect<Fragmentation, ErrnoError> {
    return syscall(() => this.checkAlloc(nid, order) ?? this.pageAlloc.fragment(nid, order));
  }

  /** `init_module()`: loads a module and runs its init (see `loadModule`). */
  loadModule(definition: ModuleDefinition): Effect.Effect<Module, ErrnoError> {
    return loadModule(this, definition);
  }

  /** `delete_module()`: unloads a module; `EBUSY` while pinned (see `unloadModule`). */
  unloadModule(name: string): Effect.Effect<void, ErrnoError> {
    return unloadModule(this, name);
  }

  /** `memory_failure()`: marks the page at `pfn` hwpoisoned. */
  memoryFailure(pfn: number): Effect.Effect<void, ErrnoError> {
    return syscall(() => memoryFailure(this, pfn)).pipe(Effect.asVoid);
  }

  /** `unpoison_memory()`: clears the mark again. */
  unpoisonMemory(pfn: number): Effect.Effect<void, ErrnoError> {
    return syscall(() => unpoisonMemory(this, pfn)).pipe(Effect.asVoid);
  }

  private createSysfs(): void {
    const thpDirs = this.thp.attributes();
    for (const [dir, attrs] of Object.entries(thpDirs)) {
      this.fs.addAttributes(`/sys/kernel/mm/transparent_hugepage/${dir}`, attrs);
    }
    const all = this.mem.nodes.map((n) => n.nid);
    const withMemory = this.mem.nodes.filter((n) => n.presentPages > 0).map((n) => n.nid);
    const list = (nodes: number[]) => ({ mode: 0o444, show: () => `${formatNodeList(nodes)}\n` });
    this.fs.addAttributes("/sys/devices/system/node", {
      possible: list(all),
      online: list(all),
      has_memory: list(withMemory),
      has_normal_memory: list(withMemory),
    });
    const kb = (pages: number) =>
      `${((pages * this.mem.pageSize) / 1024).toString().padStart(8)} kB`;
    for (const node of this.mem.nodes) {
      const zone = this.pageAlloc.zones[node.nid]!;
      this.fs.addAttributes(`/sys/devices/system/node/node${node.nid}`, {
        meminfo: {
          mode: 0o444,
          show: () =>
            `Node ${node.nid} MemTotal:       ${kb(node.presentPages)}\n` +
            `Node ${node.nid} MemFree:        ${kb(zone.freePages)}\n` +
            `Node ${node.nid} MemUsed:        ${kb(node.presentPages - zone.freePages)}\n`,
        },
        distance: { mode: 0o444, show: () => `${this.distances[node.nid]!.join(" ")}\n` },
      });
    }
    this.fs.addAttributes("/proc", {
      vmstat: { mode: 0o444, show: () => this.vmstat.show() },
      buddyinfo: {
        mode: 0o444,
        show: () =>
          this.pageAlloc.zones
            .filter((z) => z.managedPages > 0)
            .map(
              (z) =>
                `Node ${z.nid}, zone   Normal ${z.nrFree.map((n) => n.toString().padStart(6)).join(" ")}\n`,
            )
            .join(""),
      },
      meminfo: {
        mode: 0o444,
        show: () => {
          const total = this.mem.nodes.reduce((s, n) => s + n.presentPages, 0);
          return (
            `MemTotal:       ${kb(total)}\n` +
            `MemFree:        ${kb(this.pageAlloc.totalFreePages())}\n` +
            `HardwareCorrupted: ${kb(this.numPoisonedPages)}\n`
          );
        },
      },
    });
  }
}
