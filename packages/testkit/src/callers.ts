/**
 * The callers of `migrate_pages()` a workload can migrate through, as one table
 * ({@link MIGRATION_CALLERS}): compaction by `/proc/sys/vm/compact_memory`, by a node's `compact`
 * file and by a THP fault's direct compaction (`MR_COMPACTION`), and `alloc_contig_pages()`
 * (`MR_CONTIG_RANGE`), and memory tiering on a machine with a slow tier: reclaim's demotion
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
  type ErrnoError,
  type Folio,
  GFP_HIGHUSER_MOVABLE,
  type Kernel,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  type MigrateReason,
  MPOL_BIND,
  MR_COMPACTION,
  MR_CONTIG_RANGE,
  MR_DEMOTION,
  MR_NUMA_MISPLACED,
  type Task,
} from "@migrate-offload/core";
import { type FragmentedNode, fragmentNode } from "@migrate-offload/core/testing";
import { Effect } from "effect";
import fc from "fast-check";
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

/** A call's return value: 0, or the negative errno it failed with. */
const rcOf = (call: Effect.Effect<unknown, ErrnoError>): Effect.Effect<number> =>
  Effect.match(call, { onFailure: (e) => e.code, onSuccess: () => 0 });

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
      onFailure: (e) => ({ rc: e.code, result: null }),
      onSuccess: ({ result, problems }) => ({ rc: 0, result, problems }),
    });
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
    );

/**
 * Sets a caller request up on a scenario's kernel once its workload is built: fragments the node
 * when asked.
 *
 * @category Oracle
 */
export const setupCaller = (k: Kernel, request: CallerRequest): Effect.Effect<CallerRun, unknown> =>
  Effect.gen(function* () {
    migrationCaller(request.caller);
    const fragmented = request.fragment
      ? yield* fragmentNode(k, { nid: request.nid, ...request.fragment, reserve: 16 })
      : null;
    return { fragmented, release: [] };
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
