/**
 * Random migration workloads: the machine, the processes and their mappings, page states, and a
 * `move_pages(2)` request, as fast-check arbitraries that shrink to small readable cases.
 *
 * @module
 */
import fc from "fast-check";

/** How a region is mapped. */
export type RegionKind = "anon" | "shared" | "file-shared" | "file-private";

/** One mapping of the workload's process. */
export interface RegionSpec {
  readonly kind: RegionKind;
  /** Length in base pages. */
  readonly pages: number;
  /** `MADV_HUGEPAGE` (true), `MADV_NOHUGEPAGE` (false), or neither. */
  readonly hugepage: boolean | undefined;
  /** Pages touched with a write (the rest are read or left untouched). */
  readonly written: number;
  /** Pages touched with a read after the writes. */
  readonly read: number;
}

/** A page of a region, by index. */
export interface PageRef {
  readonly region: number;
  readonly page: number;
}

/** One `move_pages` entry: a page and its target node. */
export interface MoveEntry extends PageRef {
  readonly node: number;
}

/** A whole scenario: build it, then run one `move_pages` call. */
export interface MigrationScenario {
  /** Memory of each node, in MiB. */
  readonly nodesMiB: readonly number[];
  readonly thp: "always" | "madvise" | "never";
  /** Turn on 16 KiB and 64 KiB mTHP. */
  readonly mthp: boolean;
  readonly regions: readonly RegionSpec[];
  /** Fork a child after setting up, so private pages are shared copy-on-write. */
  readonly fork: boolean;
  /** Pages that get an extra reference (a pin) before the call. */
  readonly pins: readonly PageRef[];
  /** Pages marked hwpoisoned before the call. */
  readonly poison: readonly PageRef[];
  /** File-system behaviour for dirty file pages (`migrate_folio` or the writeout fallback). */
  readonly fs: "migrate_folio" | "writeback-ok" | "writeback-error" | "no-writeback";
  readonly entries: readonly MoveEntry[];
  /** `MPOL_MF_MOVE_ALL` (with `CAP_SYS_NICE`) rather than `MPOL_MF_MOVE`. */
  readonly moveAll: boolean;
  /**
   * Fragment node 1 before the call so that no free block is larger than this order: large
   * folios then cannot get a destination and are split, or fail with `ENOMEM`.
   */
  readonly fragmentOrder: number | undefined;
}

/** A region of a scenario. */
export const regionArb: fc.Arbitrary<RegionSpec> = fc
  .record({
    kind: fc.constantFrom<RegionKind>("anon", "anon", "shared", "file-shared", "file-private"),
    pages: fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 1, max: 48 }) },
      fc.constantFrom(512, 1024),
    ),
    hugepage: fc.option(fc.boolean(), { nil: undefined }),
    written: fc.nat(),
    read: fc.nat(),
  })
  .map((r) => ({ ...r, written: r.written % (r.pages + 1), read: r.read % (r.pages + 1) }));

/**
 * A scenario: two or three nodes of 16–32 MiB, one to four regions, optional fork, pins and
 * poison, and a request of up to 64 entries. Shrinks towards one small anonymous region.
 */
export const migrationScenarioArb: fc.Arbitrary<MigrationScenario> = fc
  .record({
    nodesMiB: fc.array(fc.constantFrom(16, 32), { minLength: 2, maxLength: 3 }),
    thp: fc.constantFrom("always" as const, "madvise" as const, "never" as const),
    mthp: fc.boolean(),
    regions: fc.array(regionArb, { minLength: 1, maxLength: 4 }),
    fork: fc.boolean(),
    pins: fc.array(fc.record({ region: fc.nat(), page: fc.nat() }), { maxLength: 3 }),
    poison: fc.array(fc.record({ region: fc.nat(), page: fc.nat() }), { maxLength: 2 }),
    fs: fc.constantFrom(
      "migrate_folio" as const,
      "writeback-ok" as const,
      "writeback-error" as const,
      "no-writeback" as const,
    ),
    entries: fc.array(fc.record({ region: fc.nat(), page: fc.nat(), node: fc.nat() }), {
      minLength: 1,
      maxLength: 64,
    }),
    moveAll: fc.boolean(),
    fragmentOrder: fc.option(fc.constantFrom(0, 3, 8), { nil: undefined }),
  })
  .map((s) => {
    const fit = <T extends PageRef>(ref: T): T => {
      const region = ref.region % s.regions.length;
      return { ...ref, region, page: ref.page % s.regions[region]!.pages };
    };
    return {
      ...s,
      pins: s.pins.map(fit),
      poison: s.poison.map(fit),
      entries: s.entries.map((e) => ({ ...fit(e), node: e.node % s.nodesMiB.length })),
    };
  });
