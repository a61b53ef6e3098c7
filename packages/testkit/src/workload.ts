/**
 * Random migration workloads: the machine, the processes and their mappings, page states, a
 * migration request and injected allocation failures, as fast-check arbitraries that shrink to
 * small readable cases.
 *
 * @module
 */
import {
  MIGRATE_ASYNC,
  MIGRATE_MODE_NAMES,
  MIGRATE_REASON_NAMES,
  MIGRATE_SYNC,
  MIGRATE_SYNC_LIGHT,
  type MigrateMode,
  type MigrateReason,
  MR_TYPES,
} from "@migrate-offload/core";
import type { FailPageAllocAttr } from "@migrate-offload/core/testing";
import fc from "fast-check";
import {
  type CallerRequest,
  callerRequestArb,
  MIGRATION_CALLERS,
  migrationCaller,
} from "./callers";

/**
 * How a region is mapped: private or shared anonymous memory, a shared or private file mapping,
 * or `MAP_HUGETLB` (private anonymous hugetlb, 4 KiB base pages only).
 *
 * @category Generators
 */
export type RegionKind = "anon" | "shared" | "file-shared" | "file-private" | "hugetlb";

/** One mapping of the workload's process. @category Generators */
export interface RegionSpec {
  readonly kind: RegionKind;
  /** Length in base pages. */
  readonly pages: number;
  /** `MADV_HUGEPAGE` (true), `MADV_NOHUGEPAGE` (false), or neither. */
  readonly hugepage: boolean | undefined;
  /** Pages touched with a write (the rest are read or left untouched). */
  readonly written: number;
  /** Pages touched with a read after the writes; untouched anonymous pages read as the zero page. */
  readonly read: number;
  /** `mlock()` the whole region after it is populated. */
  readonly mlocked: boolean;
}

/** A page of a region, by index. @category Generators */
export interface PageRef {
  readonly region: number;
  readonly page: number;
}

/** One request entry: a page and its target node. @category Generators */
export interface MoveEntry extends PageRef {
  readonly node: number;
}

/**
 * The migration request: the `move_pages(2)` system call over the entries, a direct
 * `migrate_pages()` of the entries' folios (isolated as a kernel caller isolates them) with a
 * mode and a reason, each folio to its entry's node, or one of the kernel's callers of
 * `migrate_pages()` from the table of `callers.ts` (compaction, `alloc_contig_pages()`...), whose
 * entries are the pages it observes.
 *
 * @category Generators
 */
export type MigrationRequest =
  | { readonly syscall: "move_pages"; readonly moveAll: boolean }
  | {
      readonly syscall: "migrate_pages";
      readonly mode: MigrateMode;
      readonly reason: MigrateReason;
    }
  | CallerRequest;

/**
 * A memory balloon inflated before the call: pages with movable_ops (`PGTY_offline`,
 * `PG_movable_ops`), mapped by nobody, that only a kernel caller of `migrate_pages()` (compaction,
 * memory offlining) can migrate, through the balloon's `movable_operations` (`mm/balloon.c`).
 *
 * @category Generators
 */
export interface BalloonSpec {
  /** Pages inflated before the call. */
  readonly pages: number;
  /**
   * Balloon pages a `migrate_pages()` request also isolates (`isolate_movable_ops_page()`) and
   * migrates, each to its node; `move_pages(2)` cannot reach them and leaves them alone.
   */
  readonly entries: ReadonlyArray<{ readonly page: number; readonly node: number }>;
  /**
   * The owner keeps data in its pages and copies it in its `migratepage` (as zsmalloc's
   * `zs_page_migrate()` copies its objects); otherwise it is a virtio balloon, whose pages' bytes
   * mean nothing and are not copied.
   */
  readonly ownerCopies: boolean;
}

/** A whole scenario: build it, then run one migration request. @category Generators */
export interface MigrationScenario {
  /** Base page size (`PAGE_SIZE`). */
  readonly pageSize: 4096 | 16384 | 65536;
  /** Memory of each node, in MiB. */
  readonly nodesMiB: readonly number[];
  /**
   * The last node is a slow memory tier: CXL memory as the dax kmem driver onlines it
   * (`MEMTIER_DEFAULT_DAX_ADISTANCE`, no CPUs), the demotion target of the others. Absent or
   * false: every node is DRAM. Set for the requests of a tiering caller.
   */
  readonly slowTier?: boolean;
  readonly thp: "always" | "madvise" | "never";
  /** Turn on mTHP of 4 base pages (`always`) and of 16 base pages (`madvise`). */
  readonly mthp: boolean;
  readonly regions: readonly RegionSpec[];
  /** Fork a child after setting up, so private pages are shared copy-on-write. */
  readonly fork: boolean;
  /** Pages that get an extra reference (a pin) before the call. */
  readonly pins: readonly PageRef[];
  /** Pages marked hwpoisoned before the call. */
  readonly poison: readonly PageRef[];
  /** Dirty file pages put under writeback before the call; writeback ends once the call runs. */
  readonly writeback: readonly PageRef[];
  /**
   * Whether the file system has `migrate_folio`; without it dirty file pages cannot migrate
   * (`fallback_migrate_folio()`).
   */
  readonly fs: "migrate_folio" | "no-migrate_folio";
  readonly entries: readonly MoveEntry[];
  readonly request: MigrationRequest;
  /**
   * Fragment node 1 before the call so that no free block is larger than this order: large
   * folios then cannot get a destination and are split, or fail with `ENOMEM`.
   */
  readonly fragmentOrder: number | undefined;
  /** `fail_page_alloc`, armed just before the call: destination allocations that fail. */
  readonly allocFailure: FailPageAllocAttr | undefined;
  /** A balloon of movable_ops pages on node 0, or none. */
  readonly balloon: BalloonSpec | undefined;
}

/** The folio-size and page-state knobs of {@link migrationScenarioArb}. @category Generators */
export interface ScenarioArbOptions {
  /**
   * Base page sizes to draw from; default 4 KiB mostly, with 16 KiB and 64 KiB sometimes.
   */
  readonly pageSizes?: readonly MigrationScenario["pageSize"][];
  /** Region kinds to draw from; default all. */
  readonly kinds?: readonly RegionKind[];
  /** Draw `migrate_pages()` requests as well as `move_pages(2)`; default true. */
  readonly migratePages?: boolean;
  /** Inject `fail_page_alloc` failures and fragmentation; default true. */
  readonly allocFailures?: boolean;
  /** The most entries in one request; default 64. */
  readonly maxEntries?: number;
  /** Inflate a balloon of movable_ops pages, migrated with `migrate_pages()`; default true. */
  readonly balloon?: boolean;
  /**
   * Draw requests through the kernel's callers of `migrate_pages()` too (`callers.ts`'s
   * `MIGRATION_CALLERS`: compaction, `alloc_contig_pages()`...), in about one case in four:
   * true for every caller, or the names of some; default false. Cases of a caller use 4 KiB base
   * pages (a node to fragment stays a few thousand pages).
   */
  readonly callers?: boolean | readonly string[];
  /** With {@link ScenarioArbOptions.callers}: every case's request is through a caller. */
  readonly callersOnly?: boolean;
}

const ALL_KINDS: readonly RegionKind[] = [
  "anon",
  "anon",
  "shared",
  "file-shared",
  "file-private",
  "hugetlb",
];

/** The slow tier of a tiering caller's machine, in MiB: room for what DRAM demotes. */
const SLOW_TIER_MIB = 64;

/** Node sizes in MiB for a base page size: small, but each holds a few PMD-sized folios. */
const nodeSizesFor = (pageSize: number): readonly number[] =>
  pageSize === 4096 ? [16, 32] : pageSize === 16384 ? [64, 128] : [512, 1024];

/**
 * A region of a scenario (4 KiB base pages; {@link migrationScenarioArb} fits it to others).
 *
 * @category Generators
 */
export const regionArb = (kinds: readonly RegionKind[] = ALL_KINDS): fc.Arbitrary<RegionSpec> =>
  fc
    .record({
      kind: fc.constantFrom(...kinds),
      pages: fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: 1, max: 48 }) },
        fc.constantFrom(512, 1024),
      ),
      hugepage: fc.option(fc.boolean(), { nil: undefined }),
      written: fc.nat(),
      read: fc.nat(),
      mlocked: fc.boolean(),
    })
    .map((r) => ({ ...r, written: r.written % (r.pages + 1), read: r.read % (r.pages + 1) }));

/**
 * A migration request: `move_pages(2)` mostly, or `migrate_pages()` with any mode and reason.
 *
 * @category Generators
 */
export const migrationRequestArb = (migratePages = true): fc.Arbitrary<MigrationRequest> => {
  const movePages = fc.record({
    syscall: fc.constant("move_pages" as const),
    moveAll: fc.boolean(),
  });
  if (!migratePages) return movePages;
  return fc.oneof(
    { weight: 3, arbitrary: movePages },
    {
      weight: 2,
      arbitrary: fc.record({
        syscall: fc.constant("migrate_pages" as const),
        mode: fc.constantFrom<MigrateMode>(MIGRATE_ASYNC, MIGRATE_SYNC_LIGHT, MIGRATE_SYNC),
        reason: fc.integer({ min: 0, max: MR_TYPES - 1 }),
      }),
    },
  );
};

/**
 * `fail_page_alloc` settings: fail a few allocations, every one or every few, any order or large
 * only.
 *
 * @category Generators
 */
export const allocFailureArb: fc.Arbitrary<FailPageAllocAttr> = fc.record({
  times: fc.constantFrom(1, 2, 5, -1),
  interval: fc.constantFrom(1, 2, 3),
  minOrder: fc.constantFrom(0, 0, 2),
});

/**
 * A balloon of 1 to 16 pages and up to 16 of them to migrate (page indexes and nodes are fitted to
 * the scenario by {@link scenarioArb}).
 *
 * @category Generators
 */
export const balloonArb: fc.Arbitrary<BalloonSpec> = fc.record({
  pages: fc.integer({ min: 1, max: 16 }),
  entries: fc.array(fc.record({ page: fc.nat(), node: fc.nat() }), { maxLength: 16 }),
  ownerCopies: fc.boolean(),
});

/**
 * A scenario: two or three small nodes, one to four regions of any kind, optional fork, pins,
 * poison, writeback and allocation failures, a balloon of movable_ops pages, and a request of up
 * to 64 entries. Shrinks towards one small anonymous region on 4 KiB pages.
 *
 * @category Generators
 */
export const scenarioArb = (options: ScenarioArbOptions = {}): fc.Arbitrary<MigrationScenario> => {
  const pageSizes = options.pageSizes ?? [4096, 4096, 4096, 4096, 4096, 4096, 16384, 65536];
  const faults = options.allocFailures ?? true;
  const callers =
    options.callers === true
      ? MIGRATION_CALLERS.map((c) => c.name)
      : options.callers === false || options.callers === undefined
        ? []
        : options.callers;
  const refs = (maxLength: number) =>
    fc.array(fc.record({ region: fc.nat(), page: fc.nat() }), { maxLength });
  return fc
    .record({
      pageSize: fc.constantFrom(...pageSizes),
      nodeChoice: fc.array(fc.nat({ max: 1 }), { minLength: 2, maxLength: 3 }),
      thp: fc.constantFrom("always" as const, "madvise" as const, "never" as const),
      mthp: fc.boolean(),
      regions: fc.array(regionArb(options.kinds ?? ALL_KINDS), { minLength: 1, maxLength: 4 }),
      fork: fc.boolean(),
      pins: refs(3),
      poison: refs(2),
      writeback: refs(2),
      fs: fc.constantFrom("migrate_folio" as const, "no-migrate_folio" as const),
      entries: fc.array(fc.record({ region: fc.nat(), page: fc.nat(), node: fc.nat() }), {
        minLength: 1,
        maxLength: options.maxEntries ?? 64,
      }),
      request: migrationRequestArb(options.migratePages ?? true),
      fragmentOrder: faults
        ? fc.option(fc.constantFrom(0, 3, 8), { nil: undefined })
        : fc.constant(undefined),
      allocFailure: faults
        ? fc.option(allocFailureArb, { nil: undefined, freq: 4 })
        : fc.constant(undefined),
      balloon:
        (options.balloon ?? true)
          ? fc.option(balloonArb, { nil: undefined, freq: 3 })
          : fc.constant(undefined),
      // Drawn last, and only when asked, so the other parts draw as they always did.
      ...(callers.length
        ? {
            caller: fc.oneof(
              { weight: options.callersOnly ? 0 : 3, arbitrary: fc.constant(undefined) },
              { weight: 1, arbitrary: callerRequestArb(callers) },
            ),
          }
        : {}),
    })
    .map(({ nodeChoice, caller, ...drawn }): MigrationScenario => {
      const s = { ...drawn, ...(caller ? { request: caller, pageSize: 4096 } : {}) };
      const pageSize = s.pageSize as MigrationScenario["pageSize"];
      const sizes = nodeSizesFor(pageSize);
      // Larger base pages: hugetlb needs PMD-sized folios of 4 KiB pages, and regions stay small.
      const regions = s.regions.map((r) => {
        const kind = r.kind === "hugetlb" && pageSize !== 4096 ? "anon" : r.kind;
        let pages = pageSize === 4096 ? r.pages : Math.max(1, r.pages % 64);
        if (kind === "hugetlb") pages = pages < 512 ? 512 : pages - (pages % 512);
        return {
          ...r,
          kind,
          pages,
          written: Math.min(r.written, pages),
          read: Math.min(r.read, pages),
        };
      });
      const fit = <T extends PageRef>(ref: T): T => {
        const region = ref.region % regions.length;
        return { ...ref, region, page: ref.page % regions[region]!.pages };
      };
      // A tiering caller's machine: the last node is a 64 MiB slow tier, and the caller presses
      // one of the DRAM nodes before it.
      const tiered = s.request.syscall === "caller" && migrationCaller(s.request.caller).tiered;
      const dram = tiered ? nodeChoice.length - 1 : nodeChoice.length;
      const request =
        s.request.syscall === "caller" ? { ...s.request, nid: s.request.nid % dram } : s.request;
      return {
        ...s,
        request,
        pageSize,
        nodesMiB: nodeChoice.map((c, nid) => (nid === dram ? SLOW_TIER_MIB : sizes[c]!)),
        ...(tiered ? { slowTier: true } : {}),
        regions,
        pins: s.pins.map(fit),
        poison: s.poison.map(fit),
        writeback: s.writeback.map(fit),
        entries: s.entries.map((e) => ({ ...fit(e), node: e.node % nodeChoice.length })),
        balloon: s.balloon && {
          ...s.balloon,
          entries: s.balloon.entries.map((e) => ({
            page: e.page % s.balloon!.pages,
            node: e.node % nodeChoice.length,
          })),
        },
      };
    });
};

/**
 * {@link scenarioArb} with its defaults: every kind, state, request and fault.
 *
 * @category Generators
 */
export const migrationScenarioArb: fc.Arbitrary<MigrationScenario> = scenarioArb();

/**
 * A one-line-per-part, human-readable description of a scenario, for failure reports.
 *
 * @category Generators
 */
export const formatScenario = (s: MigrationScenario): string => {
  const refs = (rs: readonly PageRef[]) => rs.map((r) => `${r.region}:${r.page}`).join(" ");
  const lines = [
    `machine: ${s.nodesMiB.length} nodes of ${s.nodesMiB.join(", ")} MiB${s.slowTier ? `, node ${s.nodesMiB.length - 1} a slow tier (CXL)` : ""}, ${s.pageSize / 1024} KiB pages, THP ${s.thp}${s.mthp ? ", mTHP on" : ""}`,
    ...s.regions.map(
      (r, i) =>
        `region ${i}: ${r.kind}, ${r.pages} pages, ${r.written} written, ${r.read} read${r.hugepage === undefined ? "" : r.hugepage ? ", MADV_HUGEPAGE" : ", MADV_NOHUGEPAGE"}${r.mlocked ? ", mlocked" : ""}`,
    ),
  ];
  if (s.fork) lines.push("fork: a child shares the private pages copy-on-write");
  if (s.pins.length) lines.push(`pinned: ${refs(s.pins)}`);
  if (s.poison.length) lines.push(`hwpoisoned: ${refs(s.poison)}`);
  if (s.writeback.length) lines.push(`under writeback: ${refs(s.writeback)}`);
  if (s.fs !== "migrate_folio") lines.push(`file system: ${s.fs}`);
  if (s.fragmentOrder !== undefined)
    lines.push(`node 1 fragmented to order ${s.fragmentOrder} and below`);
  if (s.allocFailure) {
    const a = s.allocFailure;
    lines.push(
      `fail_page_alloc: times ${a.times}, interval ${a.interval ?? 1}, min-order ${a.minOrder ?? 0}`,
    );
  }
  if (s.balloon) {
    const b = s.balloon;
    lines.push(
      `balloon: ${b.pages} pages on node 0, ${b.ownerCopies ? "an owner that copies its pages" : "virtio (content not copied)"}; migrate_pages also takes ${b.entries.map((e) => `${e.page}→${e.node}`).join(" ") || "none"}`,
    );
  }
  const r = s.request;
  if (r.syscall === "caller" && r.tiering) {
    const w = r.tiering;
    lines.push(
      `tiering workload: ${w.coldPages} cold pages, ${w.hotPages} hot, ${w.pressurePages} past node ${r.nid}'s free pages in writes of ${w.chunkPages}${w.kswapd ? ", then kswapd" : ""}; promotion: ${w.warmPages} cold pages turn hot, read ${w.delaysMs.map((d) => `${d} ms`).join(", ")} after each scan, rate limit ${w.rateLimitMBps ?? "default"} MB/s, hot threshold ${w.hotThresholdMs ?? "default"} ms`,
    );
  }
  lines.push(
    r.syscall === "move_pages"
      ? `request: move_pages(${r.moveAll ? "MPOL_MF_MOVE_ALL" : "MPOL_MF_MOVE"})`
      : r.syscall === "migrate_pages"
        ? `request: migrate_pages(${MIGRATE_MODE_NAMES[r.mode]}, ${MIGRATE_REASON_NAMES[r.reason]})`
        : `request: ${r.caller}${r.args ? ` ${JSON.stringify(r.args)}` : ""} on node ${r.nid} (${MIGRATE_REASON_NAMES[migrationCaller(r.caller).reason]}), ${
            r.fragment
              ? `node ${r.nid} fragmented first (a kernel page every ${r.fragment.unmovableEvery || "never"}, page cache every ${r.fragment.pageCacheEvery || "never"})`
              : "no fragmentation"
          }`,
  );
  lines.push(
    `entries (region:page→node): ${s.entries.map((e) => `${e.region}:${e.page}→${e.node}`).join(" ")}`,
  );
  return lines.join("\n");
};
