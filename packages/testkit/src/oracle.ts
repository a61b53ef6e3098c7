/**
 * The "run, then check everything" oracle for a migration scenario.
 *
 * {@link runMigrationScenario} builds a fresh kernel from a {@link MigrationScenario}, records
 * what every page holds, runs the `move_pages(2)` call, then checks every observable promise:
 * each page reads back exactly the bytes it held, each page lives where its status says, the
 * counters add up, the kernel's metadata is consistent, and after teardown the allocator's free
 * counts balance. It returns an {@link Observation} of the run, so two runs (say, serial and
 * offloaded) can be compared.
 *
 * @module
 */
import {
  CAP_SYS_NICE,
  checkKernelConsistency,
  type File,
  Kernel,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  MPOL_MF_MOVE,
  MPOL_MF_MOVE_ALL,
  ptePfn,
  ptePresent,
  type Task,
  type TraceEvent,
} from "@migrate-offload/core";
import { Effect } from "effect";
import type { MigrationScenario, PageRef, RegionKind } from "./workload";

/** Everything observable about one run, in a form that compares with `toEqual`. */
export interface Observation {
  /** `move_pages` return value. */
  readonly rc: number;
  /** `move_pages` statuses. */
  readonly status: readonly number[];
  /** Node of every mapped page of every region after the call (-1 when not present). */
  readonly nodes: readonly (readonly number[])[];
  /** `/proc/vmstat` migration counters added by the call. */
  readonly vmstat: Readonly<Record<string, number>>;
  /** Free base pages per node after the call. */
  readonly freePages: readonly number[];
}

/** What went wrong, if anything: one line per broken promise. */
export interface ScenarioReport {
  readonly observation: Observation;
  readonly problems: readonly string[];
}

const PAGE = 4096;
const COUNTERS = [
  "pgmigrate_success",
  "pgmigrate_fail",
  "thp_migration_success",
  "thp_migration_fail",
  "thp_migration_split",
];

/** The bytes the workload writes to page `page` of region `region`. */
export const scenarioPageBytes = (region: number, page: number): Uint8Array => {
  const out = new Uint8Array(PAGE);
  for (let i = 0; i < PAGE; i += 4) {
    out[i] = region + 1;
    out[i + 1] = page & 0xff;
    out[i + 2] = (page >> 8) & 0xff;
    out[i + 3] = (i >> 2) & 0xff;
  }
  return out;
};

const flagsOf = (kind: RegionKind): number =>
  kind === "anon"
    ? MAP_PRIVATE | MAP_ANONYMOUS
    : kind === "shared"
      ? MAP_SHARED | MAP_ANONYMOUS
      : kind === "file-shared"
        ? MAP_SHARED
        : MAP_PRIVATE;

const pfnAt = (task: Task, addr: number): number => {
  const vma = task.mm!.findVma(addr);
  if (!vma) return -1;
  const pte = vma.ptes[(addr - vma.start) / PAGE]!;
  return ptePresent(pte) ? ptePfn(pte) : -1;
};

/** Options of {@link runMigrationScenario}. */
export interface ScenarioOptions {
  /**
   * Runs on the fresh kernel before anything else: load a driver, register a migrator. Without
   * it the scenario takes the serial path.
   */
  readonly prepare?: (kernel: Kernel) => Effect.Effect<void, unknown>;
  /** Runs after the checks: unload a driver, stop its threads. */
  readonly cleanup?: (kernel: Kernel) => Effect.Effect<void, unknown>;
}

/** Builds the scenario's kernel and process, runs its `move_pages` call, and checks everything. */
export const runMigrationScenario = (
  scenario: MigrationScenario,
  options: ScenarioOptions = {},
): Effect.Effect<ScenarioReport, unknown> =>
  Effect.gen(function* () {
    const problems: string[] = [];
    const kernel = yield* Kernel.make({
      nodes: scenario.nodesMiB.map((m) => m * 2 ** 20),
      thp: {
        enabled: scenario.thp,
        sizes: scenario.mthp ? { "16kB": "always", "64kB": "madvise" } : {},
      },
    });
    const k = kernel;
    if (options.prepare) yield* options.prepare(k);
    const initialFree = k.pageAlloc.totalFreePages();
    const proc = yield* k.createProcess({
      node: 0,
      capabilities: scenario.moveAll ? [CAP_SYS_NICE] : [],
    });
    const file: File = yield* k.createFile("scenario.dat");
    if (scenario.fs !== "migrate_folio") {
      file.mapping.migrateFolio = false;
      file.mapping.writepage =
        scenario.fs === "writeback-ok"
          ? "ok"
          : scenario.fs === "writeback-error"
            ? "error"
            : "none";
    }
    // Regions: file regions take consecutive, disjoint parts of the one file.
    const starts: number[] = [];
    const expected: Array<Array<Uint8Array | null>> = [];
    let fileOffset = 0;
    for (const [r, spec] of scenario.regions.entries()) {
      const isFile = spec.kind.startsWith("file");
      const addr = yield* proc.mmap(spec.pages * PAGE, {
        flags: flagsOf(spec.kind),
        file: isFile ? file : undefined,
        offset: isFile ? fileOffset * PAGE : 0,
        hugepage: spec.hugepage,
      });
      if (isFile) fileOffset += spec.pages;
      starts.push(addr);
      const contents: Array<Uint8Array | null> = [];
      for (let i = 0; i < spec.pages; i++) {
        if (i < spec.written) {
          const bytes = scenarioPageBytes(r, i);
          yield* proc.write(addr + i * PAGE, bytes);
          contents.push(bytes);
        } else contents.push(null);
      }
      for (let i = 0; i < spec.read; i++) yield* proc.read(addr + i * PAGE, 1);
      expected.push(contents);
    }
    const child = scenario.fork ? yield* proc.fork() : null;
    const addrOf = (ref: PageRef) => starts[ref.region]! + ref.page * PAGE;
    const pins: number[] = [];
    for (const ref of scenario.pins) {
      const pfn = pfnAt(proc, addrOf(ref));
      if (pfn < 0 || pfn === k.zeroPfn) continue;
      const head = k.memmap.folioOf(pfn);
      k.memmap.refcount[head]!++;
      pins.push(head);
    }
    const poisoned = new Set<string>();
    for (const ref of scenario.poison) {
      const pfn = pfnAt(proc, addrOf(ref));
      if (pfn < 0 || pfn === k.zeroPfn) continue;
      if (Effect.runSyncExit(k.memoryFailure(pfn))._tag === "Success")
        poisoned.add(`${ref.region}:${ref.page}`);
    }

    const fragmentation =
      scenario.fragmentOrder === undefined ? null : yield* k.fragment(1, scenario.fragmentOrder);
    const before = Object.fromEntries(COUNTERS.map((c) => [c, k.vmstat.get(c)]));
    const nodesBefore = scenario.entries.map((e) => {
      const pfn = pfnAt(proc, addrOf(e));
      return pfn < 0 ? -1 : k.mem.pfnToNid(pfn);
    });
    // A status is true when it is written; a later entry for the same folio may move it again.
    const foliosBefore = scenario.entries.map((e) => {
      const pfn = pfnAt(proc, addrOf(e));
      return pfn < 0 ? -1 - scenario.entries.indexOf(e) : k.memmap.folioOf(pfn);
    });
    const lastForFolio = (i: number) => foliosBefore.lastIndexOf(foliosBefore[i]!) === i;
    const events: TraceEvent[] = [];
    const unsubscribe = k.trace.subscribe((e) => events.push(e));
    const { rc, status } = yield* proc.movePages(
      0,
      scenario.entries.map(addrOf),
      scenario.entries.map((e) => e.node),
      scenario.moveAll ? MPOL_MF_MOVE_ALL : MPOL_MF_MOVE,
    );
    unsubscribe();

    // Each page lives where its status says; failed pages did not move.
    const failures = [-11, -16, -12, -5, -22, -133];
    scenario.entries.forEach((e, i) => {
      if (!lastForFolio(i)) return;
      const s = status[i]!;
      const pfn = pfnAt(proc, addrOf(e));
      const node = pfn < 0 ? -1 : k.mem.pfnToNid(pfn);
      if (s >= 0 && node !== s)
        problems.push(
          `entry ${i} (${e.region}:${e.page}): status ${s} but the page is on node ${node}`,
        );
      if (failures.includes(s) && s !== -16 && node !== nodesBefore[i]) {
        problems.push(
          `entry ${i}: status ${s} but the page moved from node ${nodesBefore[i]} to ${node}`,
        );
      }
    });
    const notMigrated = status.filter((s) => failures.includes(s) && s !== -16).length;
    if (rc < notMigrated)
      problems.push(`move_pages returned ${rc}, but ${notMigrated} pages failed to migrate`);

    // Counters add up: /proc/vmstat moved by what the trace events reported.
    const delta = Object.fromEntries(COUNTERS.map((c) => [c, k.vmstat.get(c) - before[c]!]));
    const traced = events.filter((e) => e.event === "mm_migrate_pages");
    const sum = (f: (e: Extract<TraceEvent, { event: "mm_migrate_pages" }>) => number) =>
      traced.reduce((s, e) => s + (e.event === "mm_migrate_pages" ? f(e) : 0), 0);
    if (delta.pgmigrate_success !== sum((e) => e.succeeded))
      problems.push(
        `pgmigrate_success +${delta.pgmigrate_success}, traced ${sum((e) => e.succeeded)}`,
      );
    if (delta.pgmigrate_fail !== sum((e) => e.failed))
      problems.push(`pgmigrate_fail +${delta.pgmigrate_fail}, traced ${sum((e) => e.failed)}`);
    const movedEntries = status.filter((s, i) => s >= 0 && s !== nodesBefore[i]).length;
    if (movedEntries > 0 && delta.pgmigrate_success === 0)
      problems.push(`${movedEntries} entries moved but pgmigrate_success did not change`);

    // Every byte reads back, through the parent and the child, except poisoned pages.
    for (const [r, spec] of scenario.regions.entries()) {
      for (const task of child ? [proc, child] : [proc]) {
        for (let i = 0; i < spec.pages; i++) {
          if (poisoned.has(`${r}:${i}`)) continue;
          const got = yield* task.read(starts[r]! + i * PAGE, PAGE);
          const want = expected[r]![i] ?? new Uint8Array(PAGE);
          if (!Buffer.from(got).equals(Buffer.from(want))) {
            problems.push(`pid ${task.pid} region ${r} page ${i}: bytes differ after move_pages`);
            break;
          }
        }
      }
    }
    problems.push(...checkKernelConsistency(k));
    const observation: Observation = {
      rc,
      status: [...status],
      nodes: scenario.regions.map((spec, r) =>
        Array.from({ length: spec.pages }, (_, i) => {
          const pfn = pfnAt(proc, starts[r]! + i * PAGE);
          return pfn < 0 ? -1 : k.mem.pfnToNid(pfn);
        }),
      ),
      vmstat: delta,
      freePages: k.pageAlloc.zones.map((z) => z.freePages),
    };

    // Teardown: nothing leaked, nothing freed twice.
    fragmentation?.release();
    for (const head of pins) k.memmap.refcount[head]!--;
    if (child) yield* child.exit();
    yield* proc.exit();
    file.truncate();
    const outOfService = k.pageAlloc.zones.reduce((s, z) => s + z.poisonedPages, 0);
    const free = k.pageAlloc.totalFreePages();
    if (free + outOfService !== initialFree) {
      problems.push(
        `after teardown ${free} pages are free and ${outOfService} poisoned, of ${initialFree}: ${initialFree - free - outOfService} leaked`,
      );
    }
    problems.push(...checkKernelConsistency(k));
    if (options.cleanup) yield* options.cleanup(k);
    return { observation, problems };
  });
