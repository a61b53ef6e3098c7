import {
  type Kernel,
  MIGRATE_REASONS_ALL,
  type Migrator,
  type ModuleDefinition,
  MPOL_BIND,
  MR_COMPACTION,
  migrateFoliosMcCopy,
} from "@migrate-offload/core";
import { Effect } from "effect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type CallerArgs,
  conformanceProperty,
  diffObservations,
  forgetfulCopyModule,
  MIGRATION_CALLERS,
  type MigrationScenario,
  MigratorConformanceError,
  moduleSubject,
  reverseCopyModule,
  runMigrationScenario,
  serialCopyModule,
  verifyMigrator,
} from "../src/index";
import { callerScenario } from "./scenarios";

/** Runs per subject in CI; `pnpm run conformance` raises it. */
const RUNS = Number(process.env.CONFORMANCE_RUNS ?? 24);

/** A small anonymous workload on node 0 of two 16 MiB nodes, and a caller request. */
const scenario = (
  caller: string,
  fragment: { unmovableEvery: number; pageCacheEvery: number } | null,
  args?: CallerArgs,
  nid = 0,
): MigrationScenario =>
  callerScenario({ syscall: "caller", caller, nid, fragment, ...(args ? { args } : {}) });

const run = (s: MigrationScenario, prepare?: (k: Kernel) => Effect.Effect<void, unknown>) =>
  Effect.runPromise(runMigrationScenario(s, prepare ? { prepare } : {}));

/** Loads the kernel's own batch copy as the active migrator. */
const serialCopy = moduleSubject(serialCopyModule, "serial_copy");

describe("the caller table", () => {
  it("lists every caller of migrate_pages() the model has, with its reason", () => {
    expect(MIGRATION_CALLERS.map((c) => [c.name, c.reason])).toEqual([
      ["compact_memory", 0], // MR_COMPACTION (include/linux/migrate_mode.h)
      ["node_compact", 0],
      ["thp_fault", 0],
      ["alloc_contig_pages", 6], // MR_CONTIG_RANGE
      ["demotion", 8], // MR_DEMOTION
      ["promotion", 5], // MR_NUMA_MISPLACED
      ["tiering", 8], // then MR_NUMA_MISPLACED
      ["soft_offline", 1], // MR_MEMORY_FAILURE
      ["memory_offline", 2], // MR_MEMORY_HOTPLUG
      ["mbind", 4], // MR_MEMPOLICY_MBIND
      ["migrate_pages", 3], // MR_SYSCALL
      ["hugetlb_move", 3],
    ]);
  });
});

describe("the oracle drives each caller and observes it", () => {
  it("compact_memory on a fragmented node: compaction migrates for MR_COMPACTION and frees whole order-10 blocks (mm/compaction.c compact_nodes())", async () => {
    const { observation: o, problems } = await run(
      scenario("compact_memory", { unmovableEvery: 0, pageCacheEvery: 0 }),
    );
    expect(problems).toEqual([]);
    expect(o.rc).toBe(0);
    expect(o.vmstat.compact_isolated).toBeGreaterThan(0);
    expect(o.vmstat.pgmigrate_success).toBeGreaterThan(0);
    // Every page migrated was traced for the compaction reason, and for no other.
    expect(Object.keys(o.reasons ?? {})).toEqual(["compaction"]);
    expect(o.reasons?.compaction?.succeeded).toBe(o.vmstat.pgmigrate_success);
    // buddyinfo of node 0 afterwards: whole MAX_PAGE_ORDER blocks again.
    const buddy = o.caller?.result as number[][];
    expect(buddy[0]![10]).toBeGreaterThan(0);
  }, 60_000);

  it("a THP fault on a fragmented node compacts directly: compact_stall and compact_success, then thp_fault_alloc (mm/page_alloc.c __alloc_pages_direct_compact())", async () => {
    const { observation: o, problems } = await run(
      scenario("thp_fault", { unmovableEvery: 64, pageCacheEvery: 8 }),
    );
    expect(problems).toEqual([]);
    // Node 0 starts at PFN 0 and no compaction ran there before: its cached scanner positions
    // are a new zone's 0 (Linux 6.16's zeroed struct zone), which compact_zone() keeps as they
    // lie inside the zone, so the slow path's first (async) compaction finds the scanners met at
    // once: COMPACT_COMPLETE, compact_fail. That meeting reset them to the zone's ends, and the
    // sync-light compaction after direct reclaim gets the page.
    expect(o.vmstat).toMatchObject({
      compact_stall: 2,
      compact_success: 1,
      compact_fail: 1,
      thp_fault_alloc: 1,
      thp_fault_fallback: 0,
    });
    expect(o.reasons?.compaction?.succeeded).toBeGreaterThan(0);
  }, 60_000);

  it("alloc_contig_pages takes a free MAX_PAGE_ORDER + 1 range, and on a fragmented node migrates for MR_CONTIG_RANGE to get one", async () => {
    const free = await run(scenario("alloc_contig_pages", null));
    expect(free.problems).toEqual([]);
    expect(free.observation.rc).toBe(0);
    // Naturally aligned to its order (11: 2048 pages of 4 KiB).
    const { pfn } = free.observation.caller!.result as { pfn: number };
    expect(pfn % 2048).toBe(0);
    const fragmented = await run(
      scenario("alloc_contig_pages", { unmovableEvery: 0, pageCacheEvery: 0 }),
    );
    expect(fragmented.problems).toEqual([]);
    // fragmentNode() stops at the min watermark (as __alloc_pages() does), so one 2048-page
    // range's movable pages fit in the other's free pages: the range is vacated and taken.
    expect(fragmented.observation.rc).toBe(0);
    expect(fragmented.observation.reasons?.contig_range?.succeeded).toBeGreaterThan(0);
  }, 60_000);

  it("compaction is deterministic: with the batch copy every page ends in the same frame as on the serial path", async () => {
    for (const caller of ["compact_memory", "node_compact", "thp_fault"]) {
      const s = scenario(caller, { unmovableEvery: 64, pageCacheEvery: 8 });
      const serial = await run(s);
      const batched = await run(s, serialCopy.load);
      expect(serial.observation.vmstat.pgmigrate_success).toBeGreaterThan(0);
      expect(diffObservations(serial.observation, batched.observation)).toEqual([]);
      expect(batched.observation.caller?.pfns).toEqual(serial.observation.caller?.pfns);
    }
  }, 120_000);

  it("reports a caller's difference: another frame for a page, another result", () => {
    const s = {
      rc: 0,
      status: [],
      nodes: [],
      childNodes: null,
      vmstat: {},
      stats: {
        nrSucceeded: 0,
        nrFailedPages: 0,
        nrThpSucceeded: 0,
        nrThpFailed: 0,
        nrThpSplit: 0,
        nrSplit: 0,
      },
      freePages: [],
      balloon: null,
      reasons: { compaction: { succeeded: 2, failed: 0 } },
      caller: { name: "compact_memory", result: [[1]], pfns: [[10, 11]] },
    };
    const o = {
      ...s,
      reasons: { compaction: { succeeded: 1, failed: 1 } },
      caller: { name: "compact_memory", result: [[2]], pfns: [[10, 12]] },
    };
    expect(diffObservations(s, o)).toEqual([
      'mm_migrate_pages for compaction: {"succeeded":2,"failed":0} → {"succeeded":1,"failed":1}',
      "compact_memory result: [[1]] → [[2]]",
      "pfn of region 0 pages 1: 11 → 12",
    ]);
  });
});

describe("verifyMigrator under every caller", () => {
  for (const [name, subject] of [
    ["serial_copy", serialCopy],
    ["reverse_copy", moduleSubject(reverseCopyModule, "reverse_copy")],
  ] as const) {
    it(`${name}: every caller, every injected fault, ends as the serial path does`, async () => {
      const conformance = conformanceProperty(subject, {
        scenarios: { callers: true, callersOnly: true },
      });
      const seen = new Set<string>();
      const property = fc.asyncProperty(...conformance.arbitraries, (s, plan) => {
        if (s.request.syscall === "caller") seen.add(s.request.caller);
        return conformance.check(s, plan);
      });
      // Seed 1: its 24 cases draw every one of the twelve callers.
      await fc.assert(property, { numRuns: RUNS, seed: 1 });
      expect([...seen].sort()).toEqual(MIGRATION_CALLERS.map((c) => c.name).sort());
      expect(conformance.coverage().marked).toBeGreaterThan(0);
    }, 300_000);
  }

  it("catches the forgetful migrator under compaction alone", async () => {
    const failure = await verifyMigrator(forgetfulCopyModule, {
      numRuns: 20,
      seed: 3,
      faults: [],
      scenarios: { callers: ["compact_memory", "node_compact"], callersOnly: true },
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(MigratorConformanceError);
    const error = failure as MigratorConformanceError;
    expect(error.counterexample?.[0].request.syscall).toBe("caller");
    // The copy audit sees the destination it marked but did not copy.
    expect(error.message).toMatch(/request: (compact_memory|node_compact) on node/);
  }, 120_000);
});

/** A migrator with a reason mask that copies as the kernel does and counts the batches it gets. */
const recordingModule =
  (mask: number, seen: { batches: number; reasons?: Set<number> }) =>
  (kernel: Kernel): ModuleDefinition => {
    let migrator: Migrator;
    return {
      name: "recording",
      init: (module) => {
        migrator = {
          name: "recording",
          owner: module,
          shouldBatch: (reason) => {
            seen.reasons?.add(reason);
            return true;
          },
          offloadCopy: (dst, src) =>
            Effect.sync(() => {
              seen.batches++;
              return migrateFoliosMcCopy(kernel, dst, src);
            }),
        };
        return kernel.migrateOffload.addProvider(migrator, mask);
      },
      exit: () => Effect.ignore(kernel.migrateOffload.removeProvider(migrator)),
    };
  };

describe("a migrator's reason mask, through the testkit", () => {
  const compaction = {
    callers: ["compact_memory", "node_compact", "thp_fault"],
    callersOnly: true,
  };
  it("a mask with compaction is offered compaction's batches (mm/migrate.c: the reason is in the migrator's mask)", async () => {
    const seen = { batches: 0 };
    const report = await verifyMigrator(
      moduleSubject(recordingModule(1 << MR_COMPACTION, seen), "recording"),
      { numRuns: 8, seed: 4, faults: [], scenarios: compaction },
    );
    expect(report.compared).toBe(8);
    expect(seen.batches).toBeGreaterThan(0);
    expect(report.batches).toBe(seen.batches);
  }, 120_000);

  it("a mask without compaction is offered none of them, and compaction still ends as on the serial path", async () => {
    const seen = { batches: 0 };
    const report = await verifyMigrator(
      moduleSubject(
        recordingModule(MIGRATE_REASONS_ALL & ~(1 << MR_COMPACTION), seen),
        "recording",
      ),
      { numRuns: 8, seed: 4, faults: [], scenarios: compaction },
    );
    expect(report.compared).toBe(8);
    expect(seen.batches).toBe(0);
    expect(report.batches).toBe(0);
  }, 120_000);
});

/** The callers of the kernel's other migration paths: soft offline, offlining, mbind, migrate_pages(2), hugetlb. */
const OTHER_CALLERS = ["soft_offline", "memory_offline", "mbind", "migrate_pages", "hugetlb_move"];

/** {@link scenario} on a 16 MiB and a 32 MiB node, with some of the workload's parts changed. */
const onTwoNodes = (
  caller: string,
  args: CallerArgs | undefined,
  nid: number,
  parts: Partial<MigrationScenario> = {},
): MigrationScenario => ({
  ...scenario(caller, null, args, nid),
  nodesMiB: [16, 32],
  entries: [
    { region: 0, page: 0, node: 0 },
    { region: 0, page: 5, node: 0 },
  ],
  ...parts,
});

const hugetlbRegion = {
  kind: "hugetlb" as const,
  pages: 512,
  hugepage: undefined,
  written: 512,
  read: 0,
  mlocked: false,
};

describe("the oracle drives the other callers and observes them", () => {
  for (const door of ["madvise", "sysfs"]) {
    it(`soft_offline through ${door}: each entry's page migrates for MR_MEMORY_FAILURE, its own node first, and HardwareCorrupted counts it (mm/memory-failure.c soft_offline_page())`, async () => {
      const { observation: o, problems } = await run(onTwoNodes("soft_offline", { door }, 0));
      expect(problems).toEqual([]);
      expect(o.rc).toBe(0);
      // Two pages migrated and poisoned: num_poisoned_pages 2, 8 kB (fs/proc/meminfo.c).
      expect(o.caller?.result).toEqual({ rcs: [0, 0], hardwareCorrupted: 8 });
      expect(o.reasons).toEqual({ memory_failure: { succeeded: 2, failed: 0 } });
      expect(o.status).toEqual([0, 0]);
    }, 60_000);
  }

  it("memory_offline of the block holding the workload: every page goes to the other node for MR_MEMORY_HOTPLUG, MemTotal loses the block, online gives it back (mm/memory_hotplug.c offline_pages())", async () => {
    const { observation: o, problems } = await run(
      onTwoNodes("memory_offline", { block: "entry" }, 0),
    );
    expect(problems).toEqual([]);
    expect(o.rc).toBe(0);
    // 48 MiB less one 2 MiB block: 47104 kB while offline; online_store() returns 0.
    expect(o.caller?.result).toMatchObject({ online: 0, offlineMemTotal: 47104 });
    expect(o.reasons).toEqual({ memory_hotplug: { succeeded: 32, failed: 0 } });
    expect(o.nodes[0]).toEqual(Array(32).fill(1));
  }, 60_000);

  it("memory_offline: EINTR once a pinned page can never move (the fatal signal), EBUSY for the block of the zero page (has_unmovable_pages())", async () => {
    const pinned = await run(
      onTwoNodes("memory_offline", { block: "entry" }, 0, { pins: [{ region: 0, page: 3 }] }),
    );
    expect(pinned.problems).toEqual([]);
    expect(pinned.observation.rc).toBe(-4);
    expect(pinned.observation.reasons?.memory_hotplug?.succeeded).toBe(31);
    expect(pinned.observation.caller?.result).toMatchObject({ online: null });
    // Node 0's last 2 MiB block holds the zero page, a reserved page.
    const zeroPage = await run(onTwoNodes("memory_offline", { block: "node" }, 0));
    expect(zeroPage.problems).toEqual([]);
    expect(zeroPage.observation.rc).toBe(-16);
    expect(zeroPage.observation.reasons).toEqual({});
  }, 60_000);

  it("memory_offline of a block with an unhandled memory error: the page is unmapped and kept, the rest moves, the block goes offline (do_migrate_range())", async () => {
    const { observation: o, problems } = await run(
      onTwoNodes("memory_offline", { block: "entry" }, 0, { poison: [{ region: 0, page: 3 }] }),
    );
    expect(problems).toEqual([]);
    expect(o.rc).toBe(0);
    expect(o.reasons).toEqual({ memory_hotplug: { succeeded: 31, failed: 0 } });
    expect(o.nodes[0]![3]).toBe(-1);
  }, 60_000);

  it("mbind with MPOL_MF_MOVE | MPOL_MF_STRICT moves the region to the bound node for MR_MEMPOLICY_MBIND, and EIO when a pinned page stays (mm/mempolicy.c do_mbind())", async () => {
    const moved = await run(onTwoNodes("mbind", { mode: "bind", flags: "MOVE|STRICT" }, 1));
    expect(moved.problems).toEqual([]);
    expect(moved.observation.rc).toBe(0);
    expect(moved.observation.caller?.result).toEqual({ mode: MPOL_BIND, nodes: [1] });
    expect(moved.observation.reasons).toEqual({ mempolicy_mbind: { succeeded: 32, failed: 0 } });
    expect(moved.observation.nodes[0]).toEqual(Array(32).fill(1));
    const pinned = await run(
      onTwoNodes("mbind", { mode: "bind", flags: "MOVE|STRICT" }, 1, {
        pins: [{ region: 0, page: 3 }],
      }),
    );
    expect(pinned.problems).toEqual([]);
    expect(pinned.observation.rc).toBe(-5);
    expect(pinned.observation.reasons?.mempolicy_mbind?.succeeded).toBe(31);
  }, 60_000);

  it("mbind moves a MAP_HUGETLB region's huge page into the bound node's pool (alloc_migration_target_by_mpol())", async () => {
    const { observation: o, problems } = await run(
      onTwoNodes("mbind", { mode: "bind", flags: "MOVE" }, 1, {
        regions: [hugetlbRegion],
        entries: [{ region: 0, page: 0, node: 0 }],
      }),
    );
    expect(problems).toEqual([]);
    expect(o.rc).toBe(0);
    expect(o.reasons).toEqual({ mempolicy_mbind: { succeeded: 512, failed: 0 } });
    expect(o.nodes[0]).toEqual(Array(512).fill(1));
  }, 60_000);

  it("migrate_pages(2) away from node 0 moves every page of the process to node 1 for MR_SYSCALL, and returns 0 folios left (mm/mempolicy.c kernel_migrate_pages())", async () => {
    const { observation: o, problems } = await run(
      onTwoNodes("migrate_pages", { to: "away", capSysNice: false }, 0),
    );
    expect(problems).toEqual([]);
    expect(o.rc).toBe(0);
    expect(o.reasons).toEqual({ syscall_or_cpuset: { succeeded: 32, failed: 0 } });
    expect(o.nodes[0]).toEqual(Array(32).fill(1));
  }, 60_000);

  it("hugetlb_move: the huge page's destination is node 1's free pool page and its source goes back to node 0's pool (alloc_hugetlb_folio_nodemask())", async () => {
    const { observation: o, problems } = await run(onTwoNodes("hugetlb_move", undefined, 1));
    expect(problems).toEqual([]);
    expect(o.rc).toBe(0);
    // Each node's [nr_hugepages, free_hugepages, surplus_hugepages].
    expect(o.caller?.result).toEqual({
      status: 1,
      intact: true,
      grown: [
        [1, 1, 0],
        [1, 1, 0],
      ],
      pools: [
        [1, 1, 0],
        [1, 0, 0],
      ],
    });
    expect(o.reasons).toEqual({ syscall_or_cpuset: { succeeded: 512, failed: 0 } });
  }, 60_000);

  it("each of them ends with the batch copy as on the serial path, every page in the same frame", async () => {
    for (const s of [
      onTwoNodes("soft_offline", { door: "madvise" }, 0),
      onTwoNodes("memory_offline", { block: "entry" }, 0),
      onTwoNodes("mbind", { mode: "interleave", flags: "MOVE_ALL" }, 1, { fork: true }),
      onTwoNodes("migrate_pages", { to: "away", capSysNice: true }, 0, { fork: true }),
      onTwoNodes("hugetlb_move", undefined, 1),
    ]) {
      const serial = await run(s);
      const batched = await run(s, serialCopy.load);
      const name = (s.request as { caller: string }).caller;
      expect(serial.observation.vmstat.pgmigrate_success, name).toBeGreaterThan(0);
      expect(batched.problems, name).toEqual([]);
      expect(diffObservations(serial.observation, batched.observation)).toEqual([]);
      expect(batched.observation.caller?.pfns).toEqual(serial.observation.caller?.pfns);
    }
  }, 120_000);
});

describe("verifyMigrator under each of the other callers", () => {
  for (const name of OTHER_CALLERS) {
    const scenarios = { callers: [name], callersOnly: true };
    const reason = MIGRATION_CALLERS.find((c) => c.name === name)!.reason;
    it(`${name}: the serial path's batch copy, with the caller's reason in its mask, is offered its batches and ends as the serial path does`, async () => {
      const seen = { batches: 0, reasons: new Set<number>() };
      const report = await verifyMigrator(
        moduleSubject(recordingModule(MIGRATE_REASONS_ALL, seen), "recording"),
        { numRuns: 6, seed: 4, faults: [], scenarios },
      );
      expect(report.compared + report.checkedAlone).toBe(6);
      expect(report.batches).toBe(seen.batches);
      // The migrator is asked about the caller's calls. (Hugetlb folios then migrate one by
      // one, never in a batch: the batches of hugetlb_move's cases are the direct compaction of
      // the pool's growth.)
      expect(seen.reasons.has(reason)).toBe(true);
    }, 120_000);

    it(`${name}: a migrator whose mask leaves its reason out is offered none of its batches`, async () => {
      const seen = { batches: 0, reasons: new Set<number>() };
      const report = await verifyMigrator(
        moduleSubject(recordingModule(MIGRATE_REASONS_ALL & ~(1 << reason), seen), "recording"),
        { numRuns: 6, seed: 4, faults: [], scenarios },
      );
      expect(report.compared + report.checkedAlone).toBe(6);
      expect(seen.reasons.has(reason)).toBe(false);
      // Hugetlb folios migrate one by one, never in a batch; a fresh huge page for them (the
      // pool's growth in hugetlb_move's cases, a migration destination from the buddy allocator,
      // alloc_migrate_hugetlb_folio(), in migrate_pages(2)'s) may compact directly first: those
      // are the only batches such a caller's cases offer.
      if (name === "hugetlb_move" || name === "migrate_pages")
        expect([...seen.reasons].every((r) => r === MR_COMPACTION)).toBe(true);
      else expect(seen.batches).toBe(0);
    }, 120_000);

    if (name === "hugetlb_move") continue;
    it(`${name}: catches the forgetful migrator`, async () => {
      // No shrinking: the first failing case names the caller already.
      const failure = await verifyMigrator(forgetfulCopyModule, {
        numRuns: 20,
        seed: 3,
        faults: [],
        scenarios,
        endOnFailure: true,
      }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(failure).toBeInstanceOf(MigratorConformanceError);
      expect((failure as MigratorConformanceError).message).toContain(`request: ${name}`);
    }, 120_000);
  }
});
