/**
 * The callers of `migrate_pages()` a workload can migrate through, as one table
 * ({@link MIGRATION_CALLERS}): compaction by `/proc/sys/vm/compact_memory`, by a node's `compact`
 * file and by a THP fault's direct compaction (`MR_COMPACTION`), `alloc_contig_pages()`
 * (`MR_CONTIG_RANGE`), soft offline through both its doors (`MR_MEMORY_FAILURE`), memory
 * offlining and onlining (`MR_MEMORY_HOTPLUG`), `mbind(2)` with `MPOL_MF_MOVE*`
 * (`MR_MEMPOLICY_MBIND`), `migrate_pages(2)` (`MR_SYSCALL`), a hugetlb folio moved into the
 * target node's pool, and memory tiering on a machine with a slow tier: reclaim's demotion
 * (`MR_DEMOTION`), NUMA balancing's promotion (`MR_NUMA_MISPLACED`), and both in turn (see
 * `tiering.ts`). `move_pages(2)` (`MR_SYSCALL`) and a direct `migrate_pages()` of isolated
 * folios for any reason are the scenario's other requests (see `workload.ts`).
 *
 * Each entry says how a scenario sets the caller up (a node fragmented by `fragmentNode`, as a
 * long-running machine's is), how it drives it, and what it observes beyond what every run
 * observes: its `/proc/vmstat` counters and a JSON-comparable result. The oracle runs an entry's
 * `setup` once the workload is built, its `drive` as the scenario's request, and compares the
 * observation of the serial and offloaded runs; a caller added to the kernel joins the workloads
 * by appending one entry here.
 *
 * @module
 */
import {
  __GFP_THISNODE,
  CAP_SYS_ADMIN,
  CAP_SYS_NICE,
  ERRNO,
  type ErrnoError,
  type Folio,
  GFP_HIGHUSER_MOVABLE,
  type Kernel,
  MADV_HUGEPAGE,
  MADV_SOFT_OFFLINE,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MEMORY_SYSFS_ROOT,
  type MigrateReason,
  MPOL_BIND,
  MPOL_F_ADDR,
  MPOL_INTERLEAVE,
  MPOL_MF_MOVE,
  MPOL_MF_MOVE_ALL,
  MPOL_MF_STRICT,
  MPOL_PREFERRED,
  MR_COMPACTION,
  MR_CONTIG_RANGE,
  MR_DEMOTION,
  MR_MEMORY_FAILURE,
  MR_MEMORY_HOTPLUG,
  MR_MEMPOLICY_MBIND,
  MR_NUMA_MISPLACED,
  MR_SYSCALL,
  PG_has_hwpoisoned,
  PG_lru,
  type SignalError,
  type Task,
} from "@migrate-offload/core";
import { type FragmentedNode, fragmentNode } from "@migrate-offload/core/testing";
import { Deferred, Effect } from "effect";
import fc from "fast-check";
import { pfnAt } from "./pages";
import {
  driveTiering,
  TIERING_COUNTERS,
  type TieringPhases,
  type TieringWorkload,
  tieringWorkloadArb,
} from "./tiering";

/**
 * A request through one of {@link MIGRATION_CALLERS}: the caller's name, the node it works on,
 * and how that node is fragmented first (null: left as the workload built it).
 *
 * @category Generators
 */
export interface CallerRequest {
  readonly syscall: "caller";
  /** The {@link MigrationCaller.name} of a {@link MIGRATION_CALLERS} entry. */
  readonly caller: string;
  /** The node the caller compacts or allocates on (fitted to the scenario's nodes). */
  readonly nid: number;
  /**
   * `fragmentNode` on {@link CallerRequest.nid} after the workload is built: a kernel page after
   * every `unmovableEvery` movable ones (0: none), every `pageCacheEvery`-th of the keeper's pages
   * in the page cache (0: none). Null: no fragmentation.
   */
  readonly fragment: { readonly unmovableEvery: number; readonly pageCacheEvery: number } | null;
  /**
   * The workload of a caller on a two-tier machine ({@link MigrationCaller.tiered}): its hot and
   * cold sets, the pressure on node {@link CallerRequest.nid}, and what NUMA balancing does;
   * absent for the other callers.
   */
  readonly tiering?: TieringWorkload;
  /**
   * The caller's own choices, drawn from its {@link MigrationCaller.args} (soft offline's door,
   * `mbind`'s mode and flags...); absent for a caller without any.
   */
  readonly args?: CallerArgs;
}

/**
 * A caller's own choices in a {@link CallerRequest}: names to strings, numbers or booleans, so a
 * report prints them and a replay reads them back.
 *
 * @category Generators
 */
export type CallerArgs = Readonly<Record<string, string | number | boolean>>;

/**
 * The workload a caller acts on, as the oracle built it: each region's start address and length
 * in bytes, and each request entry's region and the address of its page.
 *
 * @category Oracle
 */
export interface CallerWorkload {
  readonly regions: ReadonlyArray<{ readonly start: number; readonly length: number }>;
  readonly entries: ReadonlyArray<{ readonly region: number; readonly addr: number }>;
}

/**
 * A caller set up on a scenario's kernel: what {@link setupCaller} returns, kept until
 * teardown.
 *
 * @category Oracle
 */
export interface CallerRun {
  /** The fragmented node, when the request asked for one. */
  readonly fragmented: FragmentedNode | null;
  /** The workload's regions and entries, for a caller that acts on its pages. */
  readonly workload: CallerWorkload;
  /** Resources the caller's drive took and the teardown gives back (a contiguous folio, say). */
  readonly release: Array<() => Effect.Effect<void, unknown>>;
}

/**
 * What a caller's drive returned: the return value to compare (0 or a negative errno), and a
 * JSON-comparable result of its own (a compaction's free blocks, the contiguous range's PFN).
 *
 * @category Oracle
 */
export interface CallerOutcome {
  readonly rc: number;
  readonly result: unknown;
  /**
   * Promises of the caller's own that broke, one line each (a tiering workload's bytes): the
   * oracle reports them with its own.
   */
  readonly problems?: readonly string[];
}

/**
 * One caller of `migrate_pages()` in the workloads: its name, the reason it migrates for, how a
 * scenario sets it up and drives it, and the counters it observes.
 *
 * @category Oracle
 */
export interface MigrationCaller {
  /** How scenarios and reports name it, e.g. `"compact_memory"`. */
  readonly name: string;
  /** The `MR_*` reason its `migrate_pages()` calls pass. */
  readonly reason: MigrateReason;
  /** What it is in the kernel, for reports and docs. */
  readonly description: string;
  /** `/proc/vmstat` counters it adds to, compared between the serial and offloaded runs. */
  readonly counters: readonly string[];
  /**
   * Whether it needs a machine with a slow memory tier: the scenario's last node is then CXL
   * memory (`MEMTIER_DEFAULT_DAX_ADISTANCE`, no CPUs), and the request carries a
   * {@link CallerRequest.tiering} workload.
   */
  readonly tiered?: boolean;
  /**
   * Its own choices, drawn into {@link CallerRequest.args} (soft offline's door, `mbind`'s mode
   * and flags); none when absent.
   */
  readonly args?: fc.Arbitrary<CallerArgs>;
  /**
   * Capabilities the workload's process needs for the request (`CAP_SYS_ADMIN` for
   * `MADV_SOFT_OFFLINE`, `CAP_SYS_NICE` for `MPOL_MF_MOVE_ALL`); none when absent.
   */
  readonly capabilities?: (request: CallerRequest) => readonly number[];
  /**
   * Boot the scenario's kernel with PMD-sized memory sections (2 MiB with 4 KiB pages), so that
   * every memory block under `/sys/devices/system/memory` is one pageblock and a block can hold
   * the workload's pages without the zero page; otherwise sections are as large as the smallest
   * node.
   */
  readonly pmdSections?: boolean;
  /**
   * Drives the caller on the scenario's kernel once its workload is built: `task` is the
   * workload's process, `run` holds what it set up.
   */
  readonly drive: (
    kernel: Kernel,
    task: Task,
    request: CallerRequest,
    run: CallerRun,
  ) => Effect.Effect<CallerOutcome, unknown>;
}

/**
 * Base pages migrated (`succeeded`) and failed per migration reason (`MIGRATE_REASON_NAMES`),
 * summed over a call's `mm_migrate_pages` events; a reason with no event is absent.
 *
 * @category Oracle
 */
export type ReasonCounts = Readonly<
  Record<string, { readonly succeeded: number; readonly failed: number }>
>;

/**
 * What a request through a caller observed, beyond what every request does: the caller's name,
 * the result its drive returned (free blocks of every order on every node after a compaction,
 * the PFN of a contiguous folio), and the PFN of every page of every region after the call (-1
 * when not present). Compaction is deterministic: the same scanners over the same memory make
 * the same allocations, so the serial and offloaded runs must agree on every PFN.
 *
 * @category Oracle
 */
export interface CallerObservation {
  readonly name: string;
  readonly result: unknown;
  readonly pfns: readonly (readonly number[])[];
}

/**
 * The differences in what callers observed between two runs (serial → other), one line each:
 * the per-reason counts of every run, and a caller's result and page frames.
 *
 * @category Oracle
 */
export const diffCallerObservations = (
  serial: { readonly reasons?: ReasonCounts; readonly caller?: CallerObservation | null },
  other: { readonly reasons?: ReasonCounts; readonly caller?: CallerObservation | null },
): string[] => {
  const lines: string[] = [];
  const show = (v: unknown) => JSON.stringify(v);
  for (const reason of new Set([
    ...Object.keys(serial.reasons ?? {}),
    ...Object.keys(other.reasons ?? {}),
  ])) {
    const a = serial.reasons?.[reason];
    const b = other.reasons?.[reason];
    if (show(a) !== show(b)) lines.push(`mm_migrate_pages for ${reason}: ${show(a)} → ${show(b)}`);
  }
  const a = serial.caller;
  const b = other.caller;
  if (!a || !b) {
    if (a || b) lines.push(`caller: ${a?.name ?? "none"} → ${b?.name ?? "none"}`);
    return lines;
  }
  if (show(a.result) !== show(b.result))
    lines.push(`${a.name} result: ${show(a.result)} → ${show(b.result)}`);
  a.pfns.forEach((pages, r) => {
    const moved = pages.flatMap((pfn, i) => (b.pfns[r]?.[i] === pfn ? [] : [i]));
    if (moved.length)
      lines.push(
        `pfn of region ${r} pages ${moved.slice(0, 8).join(", ")}${moved.length > 8 ? "…" : ""}: ${moved
          .slice(0, 8)
          .map((i) => `${pages[i]} → ${b.pfns[r]?.[i]}`)
          .join(", ")}`,
      );
  });
  return lines;
};

/** Free blocks of each order on each node: `/proc/buddyinfo`'s columns. */
const buddyinfo = (k: Kernel): number[][] => k.pageAlloc.zones.map((z) => [...z.nrFree]);

/**
 * The return value of a call that failed with `e`: its negative errno; for an access that
 * faulted, `128 + signo`, the status a shell reports for a process its signal ended.
 */
const errorRc = (e: ErrnoError | SignalError): number =>
  e._tag === "SignalError" ? 128 + e.signo : e.code;

/** A call's return value: 0, or what it failed with ({@link errorRc}). */
const rcOf = (call: Effect.Effect<unknown, ErrnoError | SignalError>): Effect.Effect<number> =>
  Effect.match(call, { onFailure: errorRc, onSuccess: () => 0 });

/** The return value of a sysfs or procfs write: 0, or its negative errno. */
const writeRc = (k: Kernel, path: string, value: string) => rcOf(k.fs.write(path, value));

/** A caller that compacts by writing a file: the write's rc, and buddyinfo afterwards. */
const compactByWrite =
  (path: (request: CallerRequest) => string) => (k: Kernel, _task: Task, request: CallerRequest) =>
    Effect.map(writeRc(k, path(request), "1"), (rc) => ({ rc, result: buddyinfo(k) }));

const COMPACT_COUNTERS = ["compact_migrate_scanned", "compact_free_scanned", "compact_isolated"];
const THP_FAULT_COUNTERS = [
  ...COMPACT_COUNTERS,
  "compact_stall",
  "compact_fail",
  "compact_success",
  "thp_fault_alloc",
  "thp_fault_fallback",
];

/**
 * A tiering caller: {@link driveTiering} of the request's workload, pressing its node; the rc is
 * 0, or the errno a step of the workload failed with.
 */
const tieringCaller =
  (phases: TieringPhases) =>
  (k: Kernel, task: Task, request: CallerRequest): Effect.Effect<CallerOutcome, unknown> => {
    const workload = request.tiering;
    if (!workload)
      return Effect.die(new RangeError(`the ${phases} caller needs a tiering workload`));
    return Effect.match(driveTiering(k, task, request.nid, phases, workload), {
      onFailure: (e) => ({ rc: errorRc(e), result: null }),
      onSuccess: ({ result, problems }) => ({ rc: 0, result, problems }),
    });
  };

/** One `key: value` line of `/proc/meminfo`, as its number. */
const meminfo = (k: Kernel, key: string): Effect.Effect<number, ErrnoError> =>
  Effect.map(k.fs.read("/proc/meminfo"), (text) =>
    Number(/^\S+:\s+(\d+)/.exec(text.split("\n").find((l) => l.startsWith(`${key}:`)) ?? "")?.[1]),
  );

/** The nodes of the scenario's machine, 0 to N-1. */
const nodeIds = (k: Kernel): number[] => k.pageAlloc.zones.map((_, nid) => nid);

/**
 * Soft offline (`soft_offline_page()`, `MR_MEMORY_FAILURE`) of each entry's page, through either
 * door: `madvise(MADV_SOFT_OFFLINE)` of the page's address by the workload's process (which
 * faults it in, and needs `CAP_SYS_ADMIN`), or a write of its physical address to
 * `/sys/devices/system/memory/soft_offline_page` (an entry with no page present is skipped:
 * null). The result is each entry's return value and `HardwareCorrupted` afterwards.
 */
const softOffline: MigrationCaller = {
  name: "soft_offline",
  reason: MR_MEMORY_FAILURE,
  description:
    "soft_offline_page() of each entry's page, through madvise(MADV_SOFT_OFFLINE) or /sys/devices/system/memory/soft_offline_page: the page migrated to any node (its own first), the old one poisoned, MIGRATE_SYNC",
  counters: [],
  args: fc.record({ door: fc.constantFrom("madvise", "sysfs") }),
  capabilities: () => [CAP_SYS_ADMIN],
  drive: (k, task, request, run) =>
    Effect.gen(function* () {
      const pageSize = k.mem.pageSize;
      const rcs: (number | null)[] = [];
      for (const { addr } of run.workload.entries) {
        if (request.args?.door === "sysfs") {
          const pfn = pfnAt(task, addr);
          rcs.push(
            pfn < 0
              ? null
              : yield* writeRc(
                  k,
                  `${MEMORY_SYSFS_ROOT}/soft_offline_page`,
                  `0x${(pfn * pageSize).toString(16)}`,
                ),
          );
        } else {
          rcs.push(yield* rcOf(task.madvise(addr, pageSize, MADV_SOFT_OFFLINE)));
        }
      }
      const rc = rcs.find((r) => r !== null && r < 0) ?? 0;
      return { rc, result: { rcs, hardwareCorrupted: yield* meminfo(k, "HardwareCorrupted") } };
    }),
};

/**
 * Memory offlining (`offline_pages()`, `MR_MEMORY_HOTPLUG`) of one memory block, then onlining
 * it back: the block of the first entry's page, or the last block of node N (`block: "node"`, or
 * when that page is not present). A block with an unmovable page (the zero page, a kernel page of
 * the fragmented node) fails with `EBUSY`; a block whose folios stop migrating (a pinned one, no
 * memory left elsewhere, a THP with a poisoned page) would retry until a fatal signal, which the
 * drive sends once a pass can change nothing (an `MR_MEMORY_HOTPLUG` `migrate_pages()` that
 * migrated nothing, or `test_pages_isolated` failing twice at one page with nothing migrated
 * between), or at once for a large folio with a poisoned page, which no pass reports: `EINTR`. The result is the block, the offline's
 * and the online's return values, and `MemTotal` while offline.
 */
const memoryOffline: MigrationCaller = {
  name: "memory_offline",
  reason: MR_MEMORY_HOTPLUG,
  description:
    "a write of offline to /sys/devices/system/memory/memory<B>/state (offline_pages(): every folio of the block migrated to the other nodes, MIGRATE_SYNC), then online back",
  counters: [],
  args: fc.record({ block: fc.constantFrom("entry", "node") }),
  pmdSections: true,
  drive: (k, task, request, run) =>
    Effect.gen(function* () {
      const blockPages =
        Number.parseInt((yield* k.fs.read(`${MEMORY_SYSFS_ROOT}/block_size_bytes`)).trim(), 16) /
        k.mem.pageSize;
      const first = run.workload.entries[0];
      const entryPfn = first && request.args?.block !== "node" ? pfnAt(task, first.addr) : -1;
      const zone = k.pageAlloc.zones[request.nid]!;
      const pfn = entryPfn >= 0 ? entryPfn : zone.startPfn + zone.spannedPages - 1;
      const block = Math.floor(pfn / blockPages);
      const state = `${MEMORY_SYSFS_ROOT}/memory${block}/state`;
      // The fatal signal, once offline_pages() can only retry for ever: after a
      // do_migrate_range() that migrated nothing (the next would migrate nothing either), or
      // a second failed test_pages_isolated() at the same page with nothing migrated since.
      const stuck = yield* Deferred.make<number>();
      const signal = () => Deferred.doneUnsafe(stuck, Effect.succeed(-ERRNO.EINTR));
      // A large folio with a poisoned page is found by every scan and never leaves the block,
      // and no pass says so: the signal comes at once.
      const m = k.memmap;
      for (let p = block * blockPages; p < (block + 1) * blockPages; p++) {
        const head = m.folioOf(p);
        if (
          m.refcount[head]! > 0 &&
          m.folioNrPages(head) > 1 &&
          m.test(head, PG_lru) &&
          m.test(head, PG_has_hwpoisoned)
        )
          signal();
      }
      let failedAt = -1;
      const unsubscribe = k.trace.subscribe((e) => {
        if (e.event === "mm_migrate_pages" && e.reason === MR_MEMORY_HOTPLUG) {
          if (e.succeeded === 0) signal();
          failedAt = -1;
        } else if (e.event === "test_pages_isolated" && e.finPfn < e.endPfn) {
          if (failedAt === e.finPfn) signal();
          failedAt = e.finPfn;
        }
      });
      const rc = yield* Effect.raceFirst(writeRc(k, state, "offline"), Deferred.await(stuck)).pipe(
        Effect.ensuring(Effect.sync(unsubscribe)),
      );
      const offlineMemTotal = rc === 0 ? yield* meminfo(k, "MemTotal") : null;
      const online = rc === 0 ? yield* writeRc(k, state, "online") : null;
      return { rc, result: { block, online, offlineMemTotal } };
    }),
};

/** `mbind(2)`'s modes and move flags, by the names a request's args use. */
const MBIND_MODES: Readonly<Record<string, number>> = {
  bind: MPOL_BIND,
  preferred: MPOL_PREFERRED,
  interleave: MPOL_INTERLEAVE,
};
const MBIND_FLAGS: Readonly<Record<string, number>> = {
  MOVE: MPOL_MF_MOVE,
  MOVE_ALL: MPOL_MF_MOVE_ALL,
  "MOVE|STRICT": MPOL_MF_MOVE | MPOL_MF_STRICT,
  "MOVE_ALL|STRICT": MPOL_MF_MOVE_ALL | MPOL_MF_STRICT,
};

/**
 * `mbind(2)` (`do_mbind()`, `MR_MEMPOLICY_MBIND`) of the first entry's whole region with a move
 * flag: `MPOL_BIND` or `MPOL_PREFERRED` to node N, or `MPOL_INTERLEAVE` over every node but node 0
 * (a folio already on one of the policy's nodes stays, `queue_folios_pte_range()`); with
 * `MPOL_MF_MOVE` or `MPOL_MF_MOVE_ALL` (the process then has `CAP_SYS_NICE`), and
 * `MPOL_MF_STRICT` or not. The result is the region's policy read back with `get_mempolicy()`.
 */
const mbindMove: MigrationCaller = {
  name: "mbind",
  reason: MR_MEMPOLICY_MBIND,
  description:
    "mbind(2) of the first entry's region with MPOL_MF_MOVE or MPOL_MF_MOVE_ALL, with or without MPOL_MF_STRICT: its folios moved where the new policy puts them, MIGRATE_SYNC",
  counters: [],
  args: fc.record({
    mode: fc.constantFrom(...Object.keys(MBIND_MODES)),
    flags: fc.constantFrom(...Object.keys(MBIND_FLAGS)),
  }),
  capabilities: (request) =>
    String(request.args?.flags).startsWith("MOVE_ALL") ? [CAP_SYS_NICE] : [],
  drive: (k, task, request, run) =>
    Effect.gen(function* () {
      const region = run.workload.regions[run.workload.entries[0]?.region ?? 0]!;
      const mode = MBIND_MODES[String(request.args?.mode)] ?? MPOL_BIND;
      // Interleaving over every node but node 0, where the workload's process put its pages.
      const nodes = mode === MPOL_INTERLEAVE ? nodeIds(k).filter((n) => n !== 0) : [request.nid];
      const flags = MBIND_FLAGS[String(request.args?.flags)] ?? MPOL_MF_MOVE;
      const rc = yield* rcOf(task.mbind(region.start, region.length, mode, nodes, flags));
      const policy = yield* task.getMempolicy(MPOL_F_ADDR, region.start);
      return { rc, result: policy };
    }),
};

/**
 * `migrate_pages(2)` (`kernel_migrate_pages()`, `MR_SYSCALL`) of the workload's process by
 * itself: every other node to node N (`to: "gather"`), or node N to every other (`"away"`); with
 * `CAP_SYS_NICE` or without, which decides whether shared pages move. Its return value is the
 * number of folios not moved.
 */
const migratePagesSyscall: MigrationCaller = {
  name: "migrate_pages",
  reason: MR_SYSCALL,
  description:
    "migrate_pages(2) of the process, every other node to node N or node N to the others: one migrate_pages() per node pair, MIGRATE_SYNC",
  counters: [],
  args: fc.record({ to: fc.constantFrom("gather", "away"), capSysNice: fc.boolean() }),
  capabilities: (request) => (request.args?.capSysNice ? [CAP_SYS_NICE] : []),
  drive: (k, task, request) =>
    Effect.gen(function* () {
      const others = nodeIds(k).filter((n) => n !== request.nid);
      const [from, to] =
        request.args?.to === "away" ? [[request.nid], others] : [others, [request.nid]];
      const rc = yield* Effect.match(task.migratePagesSyscall(0, 64, from, to), {
        onFailure: (e) => e.code,
        onSuccess: (left) => left,
      });
      return { rc, result: null };
    }),
};

/** The hugetlb pool files of node `nid`, with 2 MiB pages. */
const nodePool = (nid: number, file: string) =>
  `/sys/devices/system/node/node${nid}/hugepages/hugepages-2048kB/${file}`;

/**
 * A hugetlb folio moved into node N's pool: the drive grows the pool by one huge page on node N
 * and one on another node, maps one `MAP_HUGETLB` page bound to that other node, fills it, and
 * moves it to node N with `move_pages(2)` (`MR_SYSCALL`), whose destination is node N's free
 * huge page (`alloc_hugetlb_folio_nodemask()`). Hugetlb folios migrate one by one, never in a
 * batch. The result is the page's status, whether its bytes survived, and each node's pool
 * (`nr_hugepages`, `free_hugepages`, `surplus_hugepages`); teardown unmaps the page and shrinks
 * the pools back.
 */
const hugetlbMove: MigrationCaller = {
  name: "hugetlb_move",
  reason: MR_SYSCALL,
  description:
    "move_pages(2) of a MAP_HUGETLB page to node N, whose pool holds a free huge page: the destination comes from that pool, the source goes back to its own",
  counters: [],
  drive: (k, task, request, run) =>
    Effect.gen(function* () {
      const src = (request.nid + 1) % k.pageAlloc.zones.length;
      const huge = k.mem.pageSize << k.pmdOrder;
      const pools = () =>
        Effect.forEach(nodeIds(k), (nid) =>
          Effect.forEach(["nr_hugepages", "free_hugepages", "surplus_hugepages"], (file) =>
            Effect.map(k.fs.read(nodePool(nid, file)), Number),
          ),
        );
      const before = yield* pools();
      // The scenario's pool has no persistent pages (its hugetlb regions take surplus ones): a
      // node's nr_hugepages counts persistent ones, so one each, and none again at teardown,
      // which frees the free ones and makes the ones still in use surplus.
      for (const nid of new Set([src, request.nid])) {
        yield* k.fs.write(
          nodePool(nid, "nr_hugepages"),
          `${before[nid]![0]! - before[nid]![2]! + 1}`,
        );
      }
      run.release.push(() => k.fs.write("/proc/sys/vm/nr_hugepages", "0"));
      const grown = yield* pools();
      const addr = yield* Effect.match(
        task.mmap(huge, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB }),
        { onFailure: (e) => e.code, onSuccess: (a) => a },
      );
      // A pool that could not grow leaves nothing to reserve: ENOMEM.
      if (addr < 0) return { rc: addr, result: { grown } };
      // A process whose store got SIGBUS (no huge page for its fault) has died: nothing to unmap.
      run.release.unshift(() => (task.exited ? Effect.void : task.munmap(addr, huge)));
      yield* task.mbind(addr, huge, MPOL_BIND, [src]);
      const bytes = new Uint8Array(huge).fill(0x5a);
      const written = yield* rcOf(task.write(addr, bytes));
      if (written !== 0) return { rc: written, result: { grown } };
      const status = new Int32Array(1);
      const rc = yield* Effect.match(
        task.movePages(0, [addr], [request.nid], MPOL_MF_MOVE, status),
        {
          onFailure: (e) => e.code,
          onSuccess: (r) => r.rc,
        },
      );
      const intact = (yield* task.read(addr, huge)).every((b) => b === 0x5a);
      return { rc, result: { status: status[0], intact, grown, pools: yield* pools() } };
    }),
};

/**
 * The callers the workloads drive, one entry each. Append an entry to add a caller: the
 * generators draw it ({@link callerRequestArb}), the oracle sets it up, drives it and compares
 * what it observes.
 *
 * @category Oracle
 */
export const MIGRATION_CALLERS: readonly MigrationCaller[] = [
  {
    name: "compact_memory",
    reason: MR_COMPACTION,
    description:
      "a write of 1 to /proc/sys/vm/compact_memory: compact_nodes(), every node fully, MIGRATE_SYNC",
    counters: COMPACT_COUNTERS,
    drive: compactByWrite(() => "/proc/sys/vm/compact_memory"),
  },
  {
    name: "node_compact",
    reason: MR_COMPACTION,
    description:
      "a write to /sys/devices/system/node/node<N>/compact: compact_node() of one node, MIGRATE_SYNC",
    counters: COMPACT_COUNTERS,
    drive: compactByWrite((r) => `/sys/devices/system/node/node${r.nid}/compact`),
  },
  {
    name: "thp_fault",
    reason: MR_COMPACTION,
    description:
      "a write fault in a MADV_HUGEPAGE VMA bound to the node: direct compaction (async, then sync-light) when no PMD-sized block is free",
    counters: THP_FAULT_COUNTERS,
    drive: (k, task, request) =>
      Effect.gen(function* () {
        const pmd = k.mem.pageSize * 512;
        // A THP fault wants THP on: `never` becomes `madvise`, in both runs alike.
        const thp = "/sys/kernel/mm/transparent_hugepage/enabled";
        if ((yield* k.fs.read(thp)).includes("[never]")) yield* k.fs.write(thp, "madvise");
        yield* task.setMempolicy(MPOL_BIND, [request.nid]);
        const addr = yield* task.mmap(2 * pmd, { flags: MAP_PRIVATE | MAP_ANONYMOUS });
        const aligned = Math.ceil(addr / pmd) * pmd;
        yield* task.madvise(addr, 2 * pmd, MADV_HUGEPAGE);
        const rc = yield* rcOf(task.write(aligned, new Uint8Array([1])));
        return { rc, result: buddyinfo(k) };
      }),
  },
  {
    name: "alloc_contig_pages",
    reason: MR_CONTIG_RANGE,
    description:
      "a folio above MAX_PAGE_ORDER on the node (folio_alloc_gigantic()): alloc_contig_range() migrates what is in the way, MIGRATE_SYNC",
    counters: [],
    drive: (k, _task, request, run) =>
      Effect.gen(function* () {
        const order = k.pageAlloc.maxOrder + 1;
        const got: Folio[] = [];
        const rc = yield* rcOf(
          Effect.map(k.allocFolio(request.nid, order, GFP_HIGHUSER_MOVABLE | __GFP_THISNODE), (f) =>
            got.push(f),
          ),
        );
        const folio = got[0];
        if (!folio) return { rc, result: null };
        run.release.push(() => Effect.sync(() => k.folioPut(folio)));
        return { rc: 0, result: { pfn: folio.pfn, buddyinfo: buddyinfo(k) } };
      }),
  },
  {
    name: "demotion",
    reason: MR_DEMOTION,
    description:
      "a process bound to a DRAM node writes a cold set, a hot set it keeps reading, and more than the node holds: direct reclaim, then kswapd, demote the cold folios to the slow tier (demote_folio_list(), MIGRATE_ASYNC)",
    counters: TIERING_COUNTERS,
    tiered: true,
    drive: tieringCaller("demotion"),
  },
  {
    name: "promotion",
    reason: MR_NUMA_MISPLACED,
    description:
      "a process's sets on the slow tier, NUMA balancing in memory tiering mode: the scan marks them, the hint faults of what the process reads within hot_threshold_ms promote it under the rate limit (migrate_misplaced_folio(), MIGRATE_ASYNC)",
    counters: TIERING_COUNTERS,
    tiered: true,
    drive: tieringCaller("promotion"),
  },
  {
    name: "tiering",
    reason: MR_DEMOTION,
    description:
      "demotion as for the demotion caller, then the scratch memory freed and NUMA balancing in memory tiering mode: what turned hot on the slow tier is promoted (MR_DEMOTION, then MR_NUMA_MISPLACED)",
    counters: TIERING_COUNTERS,
    tiered: true,
    drive: tieringCaller("tiering"),
  },
  softOffline,
  memoryOffline,
  mbindMove,
  migratePagesSyscall,
  hugetlbMove,
];

/**
 * The {@link MIGRATION_CALLERS} entry of a name; throws a `RangeError` for a name the table lacks.
 *
 * @category Oracle
 */
export const migrationCaller = (name: string): MigrationCaller => {
  const caller = MIGRATION_CALLERS.find((c) => c.name === name);
  if (!caller)
    throw new RangeError(
      `no migration caller ${name}; the callers are ${MIGRATION_CALLERS.map((c) => c.name).join(", ")}`,
    );
  return caller;
};

/**
 * A request through one of `callers` (default: every {@link MIGRATION_CALLERS} entry) on node 0
 * mostly, where the workload's pages are, with the node fragmented most of the time. Node
 * numbers are fitted to the scenario by `scenarioArb`.
 *
 * @category Generators
 */
export const callerRequestArb = (
  callers: readonly string[] = MIGRATION_CALLERS.map((c) => c.name),
): fc.Arbitrary<CallerRequest> =>
  fc
    .record({
      syscall: fc.constant("caller" as const),
      caller: fc.constantFrom(...callers.map((c) => migrationCaller(c).name)),
      nid: fc.constantFrom(0, 0, 1),
      fragment: fc.option(
        fc.record({
          unmovableEvery: fc.constantFrom(0, 64, 512),
          pageCacheEvery: fc.constantFrom(0, 8),
        }),
        { nil: null, freq: 4 },
      ),
      tiering: tieringWorkloadArb,
    })
    .map(
      ({ tiering, ...request }): CallerRequest =>
        // A tiering caller presses a node of its own workload's: no fragmenting keeper there.
        migrationCaller(request.caller).tiered ? { ...request, fragment: null, tiering } : request,
    )
    .chain((request) => {
      const args = migrationCaller(request.caller).args;
      return args
        ? args.map((a): CallerRequest => ({ ...request, args: a }))
        : fc.constant(request);
    });

/**
 * Sets a caller request up on a scenario's kernel once its workload is built: fragments the node
 * when asked, and keeps the workload's regions and entries for the drive (none when not given).
 *
 * @category Oracle
 */
export const setupCaller = (
  k: Kernel,
  request: CallerRequest,
  workload: CallerWorkload = { regions: [], entries: [] },
): Effect.Effect<CallerRun, unknown> =>
  Effect.gen(function* () {
    migrationCaller(request.caller);
    const fragmented = request.fragment
      ? yield* fragmentNode(k, { nid: request.nid, ...request.fragment, reserve: 16 })
      : null;
    return { fragmented, workload, release: [] };
  });

/**
 * The promises of a caller run after the call (the fragmenting keeper's bytes intact), one line
 * per broken one, then its teardown: what the drive took is given back, the keeper ends.
 *
 * @category Oracle
 */
export const checkAndReleaseCaller = (
  run: CallerRun,
  problems: string[],
): Effect.Effect<void, unknown> =>
  Effect.gen(function* () {
    if (run.fragmented && !(yield* run.fragmented.intact()))
      problems.push("the fragmenting keeper's bytes differ after the call");
    for (const release of run.release.splice(0)) yield* release();
    if (run.fragmented) yield* run.fragmented.release();
  });
