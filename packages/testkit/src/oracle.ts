/**
 * The "run, then check everything" oracle for a migration scenario.
 *
 * {@link runMigrationScenario} builds a fresh kernel from a {@link MigrationScenario}, records
 * what every page holds, runs the request (`move_pages(2)` or `migrate_pages()`), then checks
 * every observable promise: each page reads back exactly the bytes it held through every mapping,
 * each page lives where its status says, the counters add up, the kernel's metadata is
 * consistent, no content-copied marker outlives the call, and after teardown the allocator's free
 * counts balance. It returns an {@link Observation} of the run, so two runs (say, serial and
 * offloaded) can be compared with {@link diffObservations}.
 *
 * @module
 */
import {
  allocMigrationTarget,
  type BalloonDevInfo,
  balloonDevinfoInit,
  balloonPageAlloc,
  balloonPageDequeue,
  balloonPageEnqueue,
  CAP_SYS_NICE,
  ERRNO,
  type ErrnoError,
  type File,
  FOLIO_CONTENT_COPIED,
  FolioList,
  folioPut,
  isolateFolioToList,
  Kernel,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  MEMTIER_DEFAULT_DAX_ADISTANCE,
  MIGRATE_REASON_NAMES,
  type MigrateMode,
  type MigratePagesStats,
  type MigrateReason,
  MOVE_PAGES_STATUS_UNWRITTEN,
  MPOL_MF_MOVE,
  MPOL_MF_MOVE_ALL,
  MR_MEMORY_FAILURE,
  migratePages,
  newMigratePagesStats,
  PG_hugetlb_migratable,
  PG_lru,
  putbackMovablePages,
  RLIM_INFINITY,
  type SectionPool,
  type Task,
  type TraceEvent,
  VirtioBalloon,
} from "@migrate-offload/core";
import { checkKernelConsistency, shrinkHugeZeroFolioScan } from "@migrate-offload/core/testing";
import { Effect, type Scope } from "effect";
import {
  type CallerObservation,
  type CallerRun,
  checkAndReleaseCaller,
  migrationCaller,
  type ReasonCounts,
  setupCaller,
} from "./callers";
import { pfnAt, scenarioPageBytes, scenarioRegionBytes } from "./pages";
import type { BalloonSpec, MigrationScenario, PageRef, RegionKind } from "./workload";

export { scenarioPageBytes } from "./pages";

/**
 * Everything observable about one run, in a form that compares with `toEqual`: what
 * `move_pages(2)` or `migrate_pages()` returned, where every page ended up, the `/proc/vmstat`
 * and `migrate_pages_stats` counts, and free memory per node.
 *
 * @category Oracle
 */
export interface Observation {
  /**
   * The request's return value: `move_pages` or `migrate_pages()`. A `move_pages` that fails as a
   * whole (`-ENOMEM` from `migrate_pages()`) gives its negative errno.
   */
  readonly rc: number;
  /**
   * One status per entry. For `move_pages`, the call's status array, also when the call failed;
   * an entry it never wrote holds `MOVE_PAGES_STATUS_UNWRITTEN`. For `migrate_pages()`, the
   * node the page is on after a successful migration, the errno its folio failed with, `-ENOENT`
   * for a page with no folio to isolate, or `-EBUSY` for one that could not be isolated.
   */
  readonly status: readonly number[];
  /** Node of every page of every region after the call, through the parent (-1 when not present). */
  readonly nodes: readonly (readonly number[])[];
  /** The same through the forked child, or null without one. */
  readonly childNodes: readonly (readonly number[])[] | null;
  /** `/proc/vmstat` migration counters added by the call. */
  readonly vmstat: Readonly<Record<string, number>>;
  /** The call's `migrate_pages_stats`, summed over its `migrate_pages()` calls (trace events). */
  readonly stats: Readonly<MigratePagesStats>;
  /** Free base pages per node after the call. */
  readonly freePages: readonly number[];
  /** The scenario's balloon after the call, or null without one. */
  readonly balloon: BalloonObservation | null;
  /**
   * Base pages migrated and failed per reason (`MIGRATE_REASON_NAMES`), from the call's
   * `mm_migrate_pages` events; a reason with no event is absent.
   */
  readonly reasons?: ReasonCounts;
  /** What a request through one of `callers.ts`'s callers observed; null for other requests. */
  readonly caller?: CallerObservation | null;
}

/**
 * The balloon after the call: the outcome of each of its entries and where its pages are.
 *
 * @category Oracle
 */
export interface BalloonObservation {
  /**
   * One per balloon entry of a `migrate_pages()` request: the node the page was migrated to, the
   * errno it failed with, its node when it was not reached, or null when the entry isolated
   * nothing (another entry took the page); empty for `move_pages(2)`.
   */
  readonly status: readonly (number | null)[];
  /** The node of every page on the balloon's list, sorted. */
  readonly nodes: readonly number[];
  /** Pages still isolated (`isolated_pages`): 0 once everything is put back. */
  readonly isolated: number;
}

/** What went wrong, if anything: one line per broken promise. @category Oracle */
export interface ScenarioReport {
  readonly observation: Observation;
  readonly problems: readonly string[];
}

const COUNTERS = [
  "pgmigrate_success",
  "pgmigrate_fail",
  "thp_migration_success",
  "thp_migration_fail",
  "thp_migration_split",
  "balloon_inflate",
  "balloon_deflate",
  "balloon_migrate",
];

/** The scenario's balloon: its device, its driver when it is a virtio balloon, its pages. */
interface ScenarioBalloon {
  readonly b: BalloonDevInfo;
  readonly vb: VirtioBalloon | null;
  /** The page of each balloon index, as inflated. */
  readonly pages: readonly number[];
}

/** What an owner that keeps data writes into its balloon page `index`. */
const balloonPageBytes = (index: number, pageSize: number): Uint8Array =>
  scenarioPageBytes(200, index, pageSize);

/**
 * Inflates the scenario's balloon on node 0: a virtio balloon, or an owner that keeps data in its
 * pages and copies it to the new page in its `migratepage`.
 */
const inflateBalloon = (k: Kernel, spec: BalloonSpec): Effect.Effect<ScenarioBalloon, ErrnoError> =>
  Effect.gen(function* () {
    if (!spec.ownerCopies) {
      const vb = new VirtioBalloon(k);
      yield* vb.fillBalloon(spec.pages);
      // list_add() puts each page at the front: the first inflated is the last on the list.
      return { b: vb.vbDevInfo, vb, pages: [...vb.vbDevInfo.pages].reverse() };
    }
    const b = balloonDevinfoInit(k, (_b, newpage, page) => {
      k.mem.copyPages(newpage, page, 1);
      return 0;
    });
    const pages: number[] = [];
    for (let i = 0; i < spec.pages; i++) {
      const page = yield* balloonPageAlloc(k, 0);
      if (page < 0) break;
      k.mem.bytes(page).set(balloonPageBytes(i, k.mem.pageSize));
      balloonPageEnqueue(k, b, page);
      pages.push(page);
    }
    return { b, vb: null, pages };
  });

/** Deflates every page of the balloon and frees it, as a driver's removal does. */
const deflateBalloon = (k: Kernel, balloon: ScenarioBalloon): void => {
  if (balloon.vb) {
    while (balloon.vb.leakBalloon(balloon.vb.numPages) > 0);
    return;
  }
  for (
    let page = balloonPageDequeue(k, balloon.b);
    page >= 0;
    page = balloonPageDequeue(k, balloon.b)
  )
    folioPut(k, page);
};

/** The balloon's promises after the call: whole, nothing isolated, the owner's bytes intact. */
const checkBalloon = (k: Kernel, balloon: ScenarioBalloon, problems: string[]): void => {
  const { b, vb } = balloon;
  const listed = [...b.pages];
  if (b.isolatedPages !== 0) problems.push(`balloon: ${b.isolatedPages} pages still isolated`);
  if (listed.length !== balloon.pages.length)
    problems.push(`balloon: ${listed.length} pages listed, ${balloon.pages.length} inflated`);
  if (vb) {
    const host = [...vb.host].sort((x, y) => x - y);
    if (JSON.stringify(host) !== JSON.stringify([...listed].sort((x, y) => x - y)))
      problems.push("balloon: the host's pages are not the balloon's list");
    return;
  }
  const seen = new Set<number>();
  for (const page of listed) {
    const bytes = k.mem.bytes(page);
    const index = bytes[1]! | (bytes[2]! << 8);
    if (
      seen.has(index) ||
      !Buffer.from(bytes).equals(Buffer.from(balloonPageBytes(index, k.mem.pageSize)))
    ) {
      problems.push(`balloon: pfn ${page} does not hold one of the owner's pages`);
      return;
    }
    seen.add(index);
  }
};

const flagsOf = (kind: RegionKind): number =>
  kind === "anon"
    ? MAP_PRIVATE | MAP_ANONYMOUS
    : kind === "hugetlb"
      ? MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB
      : kind === "shared"
        ? MAP_SHARED | MAP_ANONYMOUS
        : kind === "file-shared"
          ? MAP_SHARED
          : MAP_PRIVATE;

/** Every page a scenario refers to: its request's entries, pins, poisoned and written-back pages. */
const scenarioRefs = (scenario: MigrationScenario): PageRef[] => [
  ...scenario.entries,
  ...scenario.pins,
  ...scenario.poison,
  ...scenario.writeback,
];

const sumStats = (events: readonly TraceEvent[]): MigratePagesStats => {
  const stats = newMigratePagesStats();
  for (const e of events) {
    if (e.event !== "mm_migrate_pages") continue;
    stats.nrSucceeded += e.succeeded;
    stats.nrFailedPages += e.failed;
    stats.nrThpSucceeded += e.thpSucceeded;
    stats.nrThpFailed += e.thpFailed;
    stats.nrThpSplit += e.thpSplit;
    stats.nrSplit += e.largeSplit;
  }
  return stats;
};

/** Pages migrated and failed per reason, from `mm_migrate_pages` events. */
const reasonCounts = (events: readonly TraceEvent[]): ReasonCounts => {
  const out: Record<string, { succeeded: number; failed: number }> = {};
  for (const e of events) {
    if (e.event !== "mm_migrate_pages") continue;
    const name = MIGRATE_REASON_NAMES[e.reason]!;
    const c = out[name] ?? { succeeded: 0, failed: 0 };
    out[name] = c;
    c.succeeded += e.succeeded;
    c.failed += e.failed;
  }
  return out;
};

/**
 * What each region's written pages hold, end to end, by scenario: made once for the two runs of a
 * case, which write and compare the same bytes and never change them.
 */
const regionBytes = new WeakMap<MigrationScenario, Uint8Array[]>();

/** The bytes region `r` of `scenario` writes to its written pages ({@link scenarioRegionBytes}). */
const regionContents = (scenario: MigrationScenario, r: number): Uint8Array => {
  let regions = regionBytes.get(scenario);
  if (!regions) {
    regions = [];
    regionBytes.set(scenario, regions);
  }
  const spec = scenario.regions[r]!;
  regions[r] ??= scenarioRegionBytes(r, 0, spec.written, scenario.pageSize);
  return regions[r];
};

/**
 * Buffers the oracle reads pages into, kept between runs so that a read faults in no fresh host
 * memory and leaves no buffer for the collector: a run takes one for its reads and gives it back
 * when they are done. The two runs of a case go side by side, so each has its own. At most
 * {@link READ_BUFFERS_KEPT} are kept, none over {@link READ_BUFFER_MAX} bytes (a region is at most
 * 4 MiB).
 */
const readBuffers: Uint8Array[] = [];
const READ_BUFFERS_KEPT = 4;
const READ_BUFFER_MAX = 8 * 2 ** 20;

/** A buffer of at least `bytes` bytes, kept or new (a power of two, at least 64 KiB). */
const takeReadBuffer = (bytes: number): Uint8Array => {
  const kept = readBuffers.findIndex((buf) => buf.length >= bytes);
  if (kept >= 0) return readBuffers.splice(kept, 1)[0]!;
  return new Uint8Array(Math.max(2 ** 16, 2 ** Math.ceil(Math.log2(Math.max(bytes, 1)))));
};

/** Gives back a buffer from {@link takeReadBuffer} for the next run's reads. */
const giveReadBuffer = (buf: Uint8Array): void => {
  if (buf.length <= READ_BUFFER_MAX && readBuffers.length < READ_BUFFERS_KEPT)
    readBuffers.push(buf);
};

/**
 * The first PFN whose flags carry `FOLIO_CONTENT_COPIED`, or -1: a loop of its own, which V8
 * optimizes, where the scenario's generator runs it unoptimized.
 */
const firstContentCopied = (k: Kernel): number => {
  const flags = k.memmap.flags;
  for (let pfn = 0; pfn < flags.length; pfn++) if (flags[pfn]! & FOLIO_CONTENT_COPIED) return pfn;
  return -1;
};

/** Options of {@link runMigrationScenario}. @category Oracle */
export interface ScenarioOptions {
  /**
   * Runs on the fresh kernel before anything else: load a driver, register a migrator. Without
   * it the scenario takes the serial path.
   */
  readonly prepare?: (kernel: Kernel) => Effect.Effect<void, unknown>;
  /** Runs just before the request, once the workload is built: install probes, inject faults. */
  readonly beforeCall?: (kernel: Kernel) => Effect.Effect<void, unknown>;
  /** Runs after the checks: unload a driver, stop its threads. */
  readonly cleanup?: (kernel: Kernel) => Effect.Effect<void, unknown>;
  /**
   * Section buffers to boot the kernel on and give back at its shutdown (`KernelConfig`'s
   * `sectionPool`), for a harness that runs many scenarios; default: fresh memory.
   */
  readonly sectionPool?: SectionPool;
}

/**
 * Builds the scenario's kernel and process, runs its request, and checks everything: every page
 * reads back its bytes through every mapping, lives where its status says, the counters add up,
 * the kernel's metadata is consistent, no `FOLIO_CONTENT_COPIED` marker outlives the call, and
 * teardown returns every page to the allocator. The kernel boots with `daemons: "on-demand"`: no
 * `kswapd` or `kcompactd` runs unless the scenario starts it, so that an offloaded and a serial
 * run of one scenario can be compared page by page.
 *
 * @category Oracle
 */
export const runMigrationScenario = (
  scenario: MigrationScenario,
  options: ScenarioOptions = {},
): Effect.Effect<ScenarioReport, unknown> => {
  let kernel: Kernel | null = null;
  // The scenario's kernel lives for this call: it is shut down when the call ends, however it ends.
  return Effect.map(
    Effect.scoped(
      runScenarioOnFreshKernel(scenario, options, (k) => {
        kernel = k;
      }),
    ),
    (report) => {
      // Once shut down, no daemon of the kernel runs on: kswapd and the NUMA scanner are gone.
      const k = kernel as Kernel | null;
      const left = [
        ...(k?.kswapd.running ? ["kswapd"] : []),
        ...(k?.numaBalancing.running ? ["the NUMA balancing scanner"] : []),
      ];
      if (left.length === 0) return report;
      return {
        ...report,
        problems: [...report.problems, `${left.join(" and ")} still running after shutdown`],
      };
    },
  );
};

/**
 * Poisons the pages `scenario.poison` names (`k.injectMemoryError()`), and returns, per region,
 * the pages that were. The zero page and the huge zero folio back every mapping that reads them,
 * so an error there is no page of the region's own: they are left unpoisoned. A function of its
 * own, as are {@link regionNodes} and {@link observeBalloon}: the paths only some scenarios take
 * deoptimize a small function, not the scenario's generator, which V8 takes long to compile.
 */
const poisonPages = (
  k: Kernel,
  proc: Task,
  scenario: MigrationScenario,
  addrOf: (ref: PageRef) => number,
): Set<number>[] => {
  const poisoned = scenario.regions.map(() => new Set<number>());
  for (const ref of scenario.poison) {
    const pfn = pfnAt(proc, addrOf(ref));
    const hugeZero = k.hugeZero.pfn;
    if (pfn < 0 || pfn === k.zeroPfn) continue;
    if (hugeZero >= 0 && pfn >= hugeZero && pfn < hugeZero + (1 << k.pmdOrder)) continue;
    if (Effect.runSyncExit(k.injectMemoryError(pfn))._tag === "Success")
      poisoned[ref.region]!.add(ref.page);
  }
  return poisoned;
};

/** The node of every page of every region through `task`'s page tables (-1 where none). */
const regionNodes = (
  k: Kernel,
  task: Task,
  scenario: MigrationScenario,
  starts: readonly number[],
): number[][] => {
  // Loops, not callbacks made for each call, whose optimized code V8 would drop at the next
  // whole-heap collection and compile again.
  const nodes: number[][] = [];
  for (let r = 0; r < scenario.regions.length; r++) {
    const row: number[] = [];
    for (let i = 0; i < scenario.regions[r]!.pages; i++) {
      const pfn = pfnAt(task, starts[r]! + i * scenario.pageSize);
      row.push(pfn < 0 ? -1 : k.mem.pfnToNid(pfn));
    }
    nodes.push(row);
  }
  return nodes;
};

/** Free base pages per node ({@link Observation.freePages}). */
const zoneFreePages = (k: Kernel): number[] => {
  const free: number[] = [];
  for (const zone of k.pageAlloc.zones) free.push(zone.freePages);
  return free;
};

/** The balloon after the call: the statuses of its pages' moves, their nodes, the isolated count. */
const observeBalloon = (
  k: Kernel,
  balloon: ScenarioBalloon,
  status: readonly (number | null)[],
): BalloonObservation => ({
  status,
  nodes: [...balloon.b.pages].map((p) => k.mem.pfnToNid(p)).sort((x, y) => x - y),
  isolated: balloon.b.isolatedPages,
});

const runScenarioOnFreshKernel = (
  scenario: MigrationScenario,
  options: ScenarioOptions,
  booted: (kernel: Kernel) => void,
): Effect.Effect<ScenarioReport, unknown, Scope.Scope> =>
  Effect.gen(() => scenarioRun(scenario, options, booted));

/**
 * The body of {@link runScenarioOnFreshKernel}: a generator function of the module, not one made
 * for each run, as V8 keeps a function's optimized code only while some closure of it lives. V8
 * takes about half a second to compile this long function, so the paths only some scenarios take
 * are in functions of their own ({@link poisonPages}, {@link observeBalloon}, …): a
 * deoptimization there compiles a small function again, not this one.
 */
function* scenarioRun(
  scenario: MigrationScenario,
  options: ScenarioOptions,
  booted: (kernel: Kernel) => void,
) {
  const outside = scenarioRefs(scenario).find(
    (ref) =>
      !Number.isInteger(ref.page) ||
      ref.page < 0 ||
      ref.page >= (scenario.regions[ref.region]?.pages ?? 0),
  );
  if (outside) {
    return yield* Effect.fail(
      new RangeError(
        `scenario refers to page ${outside.page} of region ${outside.region}; it has ${scenario.regions.length} regions`,
      ),
    );
  }
  const problems: string[] = [];
  const PAGE = scenario.pageSize;
  const request = scenario.request;
  const caller = request.syscall === "caller" ? migrationCaller(request.caller) : null;
  const k = yield* Kernel.make({
    // No daemon runs unless the scenario starts it: a kswapd or kcompactd woken in the
    // background would move pages while the request runs, at times that differ between an
    // offloaded and a serial run, and the two could not be compared page by page.
    daemons: "on-demand",
    pageSize: PAGE,
    nodes: scenario.nodesMiB.map((m, nid) =>
      scenario.slowTier && nid === scenario.nodesMiB.length - 1
        ? { memory: m * 2 ** 20, adistance: MEMTIER_DEFAULT_DAX_ADISTANCE }
        : m * 2 ** 20,
    ),
    // Sections of the smallest node's size (the per-PFN metadata covers the nodes and no
    // more), or of a PMD for a caller that offlines memory blocks.
    sectionSize: caller?.pmdSections
      ? PAGE * (PAGE / 8)
      : Math.max(PAGE * (PAGE / 8), Math.min(...scenario.nodesMiB) * 2 ** 20),
    sectionPool: options.sectionPool,
    thp: {
      enabled: scenario.thp,
      sizes: scenario.mthp
        ? { [`${(PAGE * 4) / 1024}kB`]: "always", [`${(PAGE * 16) / 1024}kB`]: "madvise" }
        : {},
    },
  });
  booted(k);
  if (options.prepare) yield* options.prepare(k);
  // Hugetlb regions take surplus huge pages (overcommit), which go back to the buddy allocator
  // when the regions do, so the pool is empty again at the end. A forked child holds no
  // reservations (they stay with the mapping's owner), so its faults need as many again.
  const hugePages =
    scenario.regions
      .filter((r) => r.kind === "hugetlb")
      .reduce((s, r) => s + Math.ceil(r.pages / 2 ** k.pmdOrder), 0) * (scenario.fork ? 2 : 1);
  if (hugePages > 0) yield* k.fs.write("/proc/sys/vm/nr_overcommit_hugepages", `${hugePages}`);
  const initialFree = k.pageAlloc.totalFreePages();
  const proc = yield* k.createProcess({
    node: 0,
    // The scenarios mlock whole regions: the process runs as under `ulimit -l unlimited`.
    rlimitMemlock: RLIM_INFINITY,
    capabilities:
      request.syscall === "move_pages" && request.moveAll
        ? [CAP_SYS_NICE]
        : request.syscall === "caller"
          ? (caller?.capabilities?.(request) ?? [])
          : [],
  });
  const file: File = yield* k.createFile("scenario.dat");
  if (scenario.fs !== "migrate_folio") file.mapping.migrateFolio = false;
  // ftruncate(): sized to hold every file region, as a fault past i_size gets SIGBUS.
  const filePages = scenario.regions
    .filter((spec) => spec.kind.startsWith("file"))
    .reduce((sum, spec) => sum + spec.pages, 0);
  yield* file.truncate(filePages * PAGE);
  // Regions: file regions take consecutive, disjoint parts of the one file.
  const starts: number[] = [];
  const fileStarts: number[] = [];
  // What each region's written pages hold, end to end; the pages after them read as zeroes.
  const expected: Uint8Array[] = [];
  let fileOffset = 0;
  // What the run reads, the workload's reads here and every page after the call, goes into one
  // buffer of the largest region's size.
  const readBuf = takeReadBuffer(Math.max(...scenario.regions.map((spec) => spec.pages)) * PAGE);
  for (const [r, spec] of scenario.regions.entries()) {
    const isFile = spec.kind.startsWith("file");
    const addr = yield* proc.mmap(spec.pages * PAGE, {
      flags: flagsOf(spec.kind),
      file: isFile ? file : undefined,
      offset: isFile ? fileOffset * PAGE : 0,
      hugepage: spec.kind === "hugetlb" ? undefined : spec.hugepage,
    });
    fileStarts.push(isFile ? fileOffset : -1);
    if (isFile) fileOffset += spec.pages;
    starts.push(addr);
    // One write over the written pages and one read over the read ones: each faults its pages
    // in one by one, in order, as a write or a read of each page would.
    const contents = regionContents(scenario, r);
    if (spec.written > 0) yield* proc.write(addr, contents);
    if (spec.read > 0) yield* proc.readInto(addr, readBuf.subarray(0, spec.read * PAGE));
    if (spec.mlocked) yield* proc.mlock(addr, spec.pages * PAGE);
    expected.push(contents);
  }
  const child = scenario.fork ? yield* proc.fork() : null;
  // Every reference names a region the scenario has: checked before the kernel booted.
  const addrOf = (ref: PageRef) => starts[ref.region]! + ref.page * PAGE;
  const headAt = (ref: PageRef): number => {
    const pfn = pfnAt(proc, addrOf(ref));
    return pfn < 0 || pfn === k.zeroPfn ? -1 : k.memmap.folioOf(pfn);
  };
  const pins: number[] = [];
  for (const ref of scenario.pins) {
    const head = headAt(ref);
    if (head < 0) continue;
    k.memmap.refcount[head]!++;
    pins.push(head);
  }
  const poisoned = poisonPages(k, proc, scenario, addrOf);
  const writeback: number[] = [];
  for (const ref of scenario.writeback) {
    const pgoff = fileStarts[ref.region]!;
    if (pgoff >= 0 && file.startWriteback(pgoff + ref.page)) writeback.push(pgoff + ref.page);
  }
  const endWriteback = () => {
    for (const pgoff of writeback.splice(0)) file.endWriteback(pgoff);
  };

  const balloon = scenario.balloon ? yield* inflateBalloon(k, scenario.balloon) : null;
  const fragmentation =
    scenario.fragmentOrder === undefined ? null : yield* k.fragment(1, scenario.fragmentOrder);
  const callerRun: CallerRun | null =
    request.syscall === "caller"
      ? yield* setupCaller(k, request, {
          regions: scenario.regions.map((spec, r) => ({
            start: starts[r]!,
            length: spec.pages * PAGE,
          })),
          entries: scenario.entries.map((e) => ({ region: e.region, addr: addrOf(e) })),
        })
      : null;
  const counters = caller ? [...COUNTERS, ...caller.counters] : COUNTERS;
  const before = Object.fromEntries(counters.map((c) => [c, k.vmstat.get(c)]));
  const nodesBefore = scenario.entries.map((e) => {
    const pfn = pfnAt(proc, addrOf(e));
    return pfn < 0 ? -1 : k.mem.pfnToNid(pfn);
  });
  // A status is true when it is written; a later entry for the same folio may move it again.
  const foliosBefore = scenario.entries.map((e, i) => {
    const pfn = pfnAt(proc, addrOf(e));
    return pfn < 0 ? -1 - i : k.memmap.folioOf(pfn);
  });
  const lastForFolio = (i: number) => foliosBefore.lastIndexOf(foliosBefore[i]!) === i;
  const firstForFolio = (i: number) => foliosBefore.indexOf(foliosBefore[i]!) === i;
  const events: TraceEvent[] = [];
  const unsubscribe = k.trace.subscribe((e) => events.push(e));
  if (options.beforeCall) yield* options.beforeCall(k);
  if (scenario.allocFailure) {
    // A system call's destinations (alloc_migration_target()) may reclaim directly, so they
    // fail only with ignore-gfp-wait off. A caller runs its process's faults meanwhile (the
    // tiering workloads' stores, a THP fault), which would then fail and retry forever, as
    // Linux's would: it keeps Linux's default, and its allocations that may not reclaim
    // directly fail (demotion's and promotion's destinations, a THP fault's first try).
    const bad = k.pageAlloc.failPageAlloc.arm({
      ignoreGfpReclaim: request.syscall === "caller",
      ...scenario.allocFailure,
    });
    if (bad) return yield* Effect.fail(bad);
  }
  // Writeback completes when a synchronous migration waits for it, and not before: the passes
  // that meet it first, and the allocations they make, are the same whatever else the event
  // loop runs meanwhile (an offloaded copy, say). The other modes fail such a folio with
  // -EBUSY, and its writeback completes after the call.
  let polling = writeback.length > 0;
  const completeWaitedWriteback = () => {
    if (!polling) return;
    for (let i = writeback.length - 1; i >= 0; i--) {
      const folio = file.folioAt(writeback[i]!);
      if (folio && k.folioWaiters.waiting(folio.pfn) > 0) {
        file.endWriteback(writeback[i]!);
        writeback.splice(i, 1);
      }
    }
    if (writeback.length) setImmediate(completeWaitedWriteback);
  };
  completeWaitedWriteback();
  let callerResult: unknown = null;
  const { rc, status, balloonStatus, balloonMoved } =
    request.syscall === "caller"
      ? yield* Effect.map(
          caller!.drive(k, proc, request, callerRun!),
          ({ rc, result, problems: own }) => {
            callerResult = result;
            problems.push(...(own ?? []));
            // Each entry's status is its page's node after the call (or -ENOENT).
            const status = scenario.entries.map((e) => {
              const pfn = pfnAt(proc, addrOf(e));
              return pfn < 0 ? -ERRNO.ENOENT : k.mem.pfnToNid(pfn);
            });
            // A balloon page the caller migrated is on the balloon's list in a new page.
            const moved = balloon
              ? [...balloon.b.pages].filter((p) => !balloon.pages.includes(p)).length
              : 0;
            return { rc, status, balloonStatus: [], balloonMoved: moved };
          },
        )
      : request.syscall === "move_pages"
        ? {
            ...(yield* movePagesOutcome(
              proc,
              scenario.entries.map(addrOf),
              scenario.entries.map((e) => e.node),
              request.moveAll ? MPOL_MF_MOVE_ALL : MPOL_MF_MOVE,
            )),
            balloonStatus: [],
            balloonMoved: 0,
          }
        : yield* migrateEntries(k, proc, scenario, addrOf, request.mode, request.reason, balloon);
  k.pageAlloc.failPageAlloc.arm({ times: 0 });
  polling = false;
  endWriteback();
  unsubscribe();

  // Each page lives where its status says; failed pages did not move. A move_pages status
  // that was never written holds MOVE_PAGES_STATUS_UNWRITTEN and says nothing.
  const failures = [-11, -16, -12, -5, -22, -133];
  scenario.entries.forEach((e, i) => {
    if (!lastForFolio(i)) return;
    const s = status[i]!;
    const pfn = pfnAt(proc, addrOf(e));
    const node = pfn < 0 ? -1 : k.mem.pfnToNid(pfn);
    // A zero-filled page of a THP the migration split is mapped to the shared zero page and
    // freed (try_to_map_unused_to_zeropage(), Linux 6.12+) while its run still migrates whole:
    // do_pages_move() stores the run's node for it, as for the rest of the run.
    if (s >= 0 && node !== s && pfn !== k.zeroPfn)
      problems.push(
        `entry ${i} (${e.region}:${e.page}): status ${s} but the page is on node ${node}`,
      );
    // Where an earlier entry named the same folio, it may have moved before this one failed.
    if (failures.includes(s) && s !== -16 && firstForFolio(i) && node !== nodesBefore[i]) {
      problems.push(
        `entry ${i}: status ${s} but the page moved from node ${nodesBefore[i]} to ${node}`,
      );
    }
  });
  if (request.syscall === "move_pages") {
    // do_pages_move(): a run that all migrated is stored; one with failures stops the call, and
    // rc counts its failures (at least one) plus the entries after it, none of them stored.
    // The only whole-call error a scenario can meet is migrate_pages()'s -ENOMEM.
    const unwritten = status.filter((s) => s === MOVE_PAGES_STATUS_UNWRITTEN).length;
    if (rc < 0 && rc !== -ERRNO.ENOMEM) problems.push(`move_pages failed with ${rc}`);
    if (rc === 0 && unwritten > 0)
      problems.push(`move_pages returned 0, but ${unwritten} statuses were not written`);
    if (rc > 0 && rc > unwritten)
      problems.push(`move_pages returned ${rc}, but only ${unwritten} statuses were not written`);
    const stray = status.find((s) => failures.includes(s) && s !== -16);
    if (stray !== undefined) problems.push(`move_pages wrote status ${stray}, a migration failure`);
  }

  // Counters add up: /proc/vmstat moved by what the trace events reported.
  const delta = Object.fromEntries(counters.map((c) => [c, k.vmstat.get(c) - before[c]!]));
  const stats = sumStats(events);
  if (delta.pgmigrate_success !== stats.nrSucceeded)
    problems.push(`pgmigrate_success +${delta.pgmigrate_success}, traced ${stats.nrSucceeded}`);
  if (delta.pgmigrate_fail !== stats.nrFailedPages)
    problems.push(`pgmigrate_fail +${delta.pgmigrate_fail}, traced ${stats.nrFailedPages}`);
  // A page that was not present before did not move: a caller may fault it in (soft offline's
  // madvise door does).
  const movedEntries = status.filter(
    (s, i) => s >= 0 && nodesBefore[i]! >= 0 && s !== nodesBefore[i],
  ).length;
  if (movedEntries > 0 && delta.pgmigrate_success === 0)
    problems.push(`${movedEntries} entries moved but pgmigrate_success did not change`);
  if (balloon) {
    // Every balloon page that left its isolation for a new page was counted by its owner.
    if (delta.balloon_migrate !== balloonMoved)
      problems.push(
        `balloon_migrate +${delta.balloon_migrate}, but ${balloonMoved} balloon pages moved`,
      );
    if (delta.balloon_inflate !== 0 || delta.balloon_deflate !== 0)
      problems.push("the call inflated or deflated the balloon");
    checkBalloon(k, balloon, problems);
  } else if (delta.balloon_migrate !== 0) {
    problems.push(`balloon_migrate +${delta.balloon_migrate} without a balloon`);
  }

  // No content-copied marker outlives the call: the move phase consumes every one.
  const copied = firstContentCopied(k);
  if (copied >= 0) problems.push(`pfn ${copied} still carries FOLIO_CONTENT_COPIED after the call`);

  // Every byte reads back, through the parent and the child, except poisoned pages: one read
  // per run of pages between poisoned ones, compared page by page. A process that died in the
  // call (the OOM killer's victim, or killed by its fault's signal) has no memory left to read:
  // its end is the call's rc, and its pages' status -ENOENT.
  const zeroes = Buffer.alloc(PAGE);
  const alive = (child ? [proc, child] : [proc]).filter((task) => !task.exited);
  for (const [r, spec] of scenario.regions.entries()) {
    const want = expected[r]!;
    for (const task of alive) {
      let differs = false;
      for (let first = 0; first < spec.pages && !differs; ) {
        if (poisoned[r]!.has(first)) {
          first++;
          continue;
        }
        let end = first + 1;
        while (end < spec.pages && !poisoned[r]!.has(end)) end++;
        yield* task.readInto(starts[r]! + first * PAGE, readBuf.subarray(0, (end - first) * PAGE));
        const read = Buffer.from(readBuf.buffer, readBuf.byteOffset, (end - first) * PAGE);
        // The written pages of the run in one comparison, which nearly always finds them all
        // equal; page by page from the first page that may differ.
        const written = Math.min(end, spec.written);
        const from =
          written > first &&
          read.compare(want, first * PAGE, written * PAGE, 0, (written - first) * PAGE) === 0
            ? written
            : first;
        for (let i = from; i < end; i++) {
          // Page i of the read against page i of what was written, or a page of zeroes.
          const at = (i - first) * PAGE;
          const same =
            i < spec.written
              ? read.compare(want, i * PAGE, (i + 1) * PAGE, at, at + PAGE) === 0
              : read.compare(zeroes, 0, PAGE, at, at + PAGE) === 0;
          if (same) continue;
          problems.push(`pid ${task.pid} region ${r} page ${i}: bytes differ after the call`);
          differs = true;
          break;
        }
        first = end;
      }
    }
  }
  giveReadBuffer(readBuf);
  problems.push(...checkKernelConsistency(k));
  const observation: Observation = {
    rc,
    status: [...status],
    nodes: regionNodes(k, proc, scenario, starts),
    childNodes: child ? regionNodes(k, child, scenario, starts) : null,
    vmstat: delta,
    stats,
    freePages: zoneFreePages(k),
    balloon: balloon && observeBalloon(k, balloon, balloonStatus),
    reasons: reasonCounts(events),
    caller:
      request.syscall === "caller"
        ? {
            name: request.caller,
            result: callerResult,
            pfns: scenario.regions.map((spec, r) =>
              Array.from({ length: spec.pages }, (_, i) => pfnAt(proc, starts[r]! + i * PAGE)),
            ),
          }
        : null,
  };
  if (callerRun) yield* checkAndReleaseCaller(callerRun, problems);

  // Teardown: nothing leaked, nothing freed twice.
  fragmentation?.release();
  if (balloon) deflateBalloon(k, balloon);
  // put_page() of each pin: the last reference frees the folio, as when the workload's process
  // died in the call and took its mappings with it.
  for (const head of pins) k.folioPut(k.folio(head));
  if (child && !child.exited) yield* child.exit();
  if (!proc.exited) yield* proc.exit();
  yield* file.truncate();
  // The huge zero folio that reads mapped stays until its shrinker runs, as on Linux.
  shrinkHugeZeroFolioScan(k);
  // Poisoned pages stay out of service, every one num_poisoned_pages counts: freed ones the
  // allocator keeps out, and ones the kernel holds for good (a soft-offlined page; memory
  // offlining's isolation of a page with an unhandled error).
  const outOfService = k.numPoisonedPages;
  // Free huge pages the pools keep are the pools', not leaked: shrinking a pool while some of
  // its pages are in use can leave a free surplus page behind (set_max_huge_pages() counts the
  // pages in use into its floor, and the one it makes surplus may be free), as in Linux.
  const pooled = k.hstates.reduce((n, h) => n + h.freeHugePages * 2 ** h.order, 0);
  const free = k.pageAlloc.totalFreePages();
  if (free + outOfService + pooled !== initialFree) {
    problems.push(
      `after teardown ${free} pages are free, ${outOfService} poisoned and ${pooled} in the hugetlb pool's free huge pages, of ${initialFree}: ${initialFree - free - outOfService - pooled} leaked`,
    );
  }
  problems.push(...checkKernelConsistency(k));
  if (options.cleanup) yield* options.cleanup(k);
  return { observation, problems };
}

/**
 * `move_pages(2)` with a status array of the caller's, initialised to
 * `MOVE_PAGES_STATUS_UNWRITTEN`, as a C caller would pass one: its return value, or the negative
 * errno of a whole-call failure, and the statuses the call wrote either way.
 */
const movePagesOutcome = (
  proc: Task,
  pages: readonly number[],
  nodes: readonly number[],
  flags: number,
): Effect.Effect<{ rc: number; status: Int32Array }> => {
  const status = new Int32Array(pages.length).fill(MOVE_PAGES_STATUS_UNWRITTEN);
  return Effect.match(proc.movePages(0, pages, nodes, flags, status), {
    onFailure: (error) => ({ rc: error.code, status }),
    onSuccess: ({ rc }) => ({ rc, status }),
  });
};

/**
 * A direct `migrate_pages()` of the entries' folios, as a kernel caller (compaction, NUMA
 * balancing, demotion) makes one: isolate each folio once, migrate each to its entry's node,
 * put back what failed. The balloon's entries are isolated too (`isolate_movable_ops_page()`, as
 * compaction's scan does) and go on the same list after the process's folios. Returns the call's
 * `rc`, one status per entry and one per balloon entry.
 */
const migrateEntries = (
  k: Kernel,
  proc: Task,
  scenario: MigrationScenario,
  addrOf: (ref: PageRef) => number,
  mode: MigrateMode,
  reason: MigrateReason,
  balloon: ScenarioBalloon | null,
): Effect.Effect<
  { rc: number; status: number[]; balloonStatus: (number | null)[]; balloonMoved: number },
  unknown
> =>
  Effect.gen(function* () {
    const list = new FolioList(k.memmap.lru);
    const target = new Map<number, number>();
    const status = scenario.entries.map((e) => {
      const pfn = pfnAt(proc, addrOf(e));
      if (pfn < 0 || pfn === k.zeroPfn) return -ERRNO.ENOENT;
      const head = k.memmap.folioOf(pfn);
      if (target.has(head)) return 0;
      if (!isolateFolioToList(k, head, list)) return -ERRNO.EBUSY;
      target.set(head, e.node);
      return 0;
    });
    // Balloon pages: each isolated once (`isolate_folio_to_list()` sends a movable_ops page to
    // `isolate_movable_ops_page()`), and only while it is still the balloon's.
    const balloonSrc = (balloon ? (scenario.balloon?.entries ?? []) : []).map((e) => {
      const page = balloon!.pages[e.page] ?? -1;
      if (page < 0 || target.has(page) || !isolateFolioToList(k, page, list)) return -1;
      target.set(page, e.node);
      return page;
    });
    // Each destination on its entry's node; a split folio's pieces follow their original folio.
    const ranges = [...target].map(([head, node]) => [head, k.memmap.folioNrPages(head), node]);
    const nodeOf = (src: number): number =>
      ranges.find(([head, nr]) => src >= head! && src < head! + nr!)?.[2] ?? 0;
    const errors = new Map<number, number>();
    const { rc } = yield* migratePages(
      k,
      list,
      (src) => allocMigrationTarget(k, nodeOf(src))(src),
      null,
      mode,
      reason,
      { errors, caller: proc },
    );
    // A balloon page left on the list was not migrated; its status is its node, or its errno.
    const notMoved = new Set(list);
    const balloonMoved = balloonSrc.filter((page) => page >= 0 && !notMoved.has(page)).length;
    const balloonStatus = balloonSrc.map((page, i) => {
      if (page < 0) return null;
      return (
        errors.get(page) ??
        (notMoved.has(page) ? k.mem.pfnToNid(page) : scenario.balloon!.entries[i]!.node)
      );
    });
    putbackMovablePages(k, list);
    list.release();
    // MR_MEMORY_FAILURE leaves each migrated source to its caller (`page_handle_poison()` in
    // soft offlining), which here releases it: the source's last reference is the isolation's.
    if (reason === MR_MEMORY_FAILURE) {
      const m = k.memmap;
      for (const [head, nr] of ranges) {
        for (let pfn = head!; pfn < head! + nr!; pfn += m.folioNrPages(pfn)) {
          if (m.folioOf(pfn) !== pfn || m.refcount[pfn] !== 1 || m.folioMapcount(pfn) !== 0)
            continue;
          // Still on a list (the LRU, hugetlb's, a balloon's): put back, not migrated.
          if (m.test(pfn, PG_lru) || m.test(pfn, PG_hugetlb_migratable) || m.lru.isLinked(pfn))
            continue;
          folioPut(k, pfn);
        }
      }
    }
    scenario.entries.forEach((e, i) => {
      if (status[i]! < 0) return;
      const pfn = pfnAt(proc, addrOf(e));
      const head = pfn < 0 ? -1 : k.memmap.folioOf(pfn);
      status[i] = errors.get(head) ?? (pfn < 0 ? -ERRNO.ENOENT : k.mem.pfnToNid(pfn));
    });
    return { rc, status, balloonStatus, balloonMoved };
  });
