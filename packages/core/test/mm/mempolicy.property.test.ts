// Property: after any sequence of mbind(MPOL_MF_MOVE) and migrate_pages(2) calls over a random
// set of mappings, the kernel is consistent, every byte reads as written, and every page is on the
// node the call puts it on (do_mbind() with alloc_migration_target_by_mpol(), do_migrate_pages()'s
// node_remap(), mm/mempolicy.c).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  MPOL_BIND,
  MPOL_INTERLEAVE,
  MPOL_MF_MOVE,
  MPOL_MF_STRICT,
  MPOL_PREFERRED,
} from "../../src/index";
import {
  boot,
  expectConsistent,
  mapPattern,
  pagesOf,
  patternIntact,
  run,
  runP,
} from "../../src/testing/index";

const PAGE = 4096;
const NODES = [0, 1, 2];

const nodeSet = fc.subarray(NODES, { minLength: 1 });

const mbindOp = fc.record({
  kind: fc.constant("mbind" as const),
  region: fc.nat(),
  first: fc.nat(),
  count: fc.integer({ min: 1, max: 16 }),
  mode: fc.constantFrom(MPOL_BIND, MPOL_PREFERRED, MPOL_INTERLEAVE),
  nodes: nodeSet,
  strict: fc.boolean(),
});

/** Old and new node sets that do not meet, so no page moves twice and the oracle is node_remap(). */
const migrateOp = fc
  .tuple(nodeSet, nodeSet)
  .filter(([from, to]) => from.every((n) => !to.includes(n)))
  .map(([from, to]) => ({ kind: "migrate" as const, from, to }));

const workload = fc.record({
  regions: fc.array(fc.integer({ min: 1, max: 24 }), { minLength: 1, maxLength: 3 }),
  ops: fc.array(fc.oneof(mbindOp, migrateOp), { minLength: 1, maxLength: 6 }),
});

describe("mbind(MPOL_MF_MOVE) and migrate_pages(2) over random workloads", () => {
  it("keep the kernel consistent and the bytes intact, and leave every page where the call says", async () => {
    await fc.assert(
      fc.asyncProperty(workload, async ({ regions, ops }) => {
        const k = boot({ nodes: ["32M", "32M", "32M"] });
        const p = run(k.createProcess({ node: 0 }));
        const maps = regions.map((pages, i) => ({
          addr: mapPattern(p, pages * PAGE, i + 1),
          pages,
        }));
        // The model: the node of every page, all faulted in on the task's node.
        const where = new Map<number, number>();
        for (const m of maps) for (const a of pagesOf(m.addr, m.pages)) where.set(a, 0);
        for (const op of ops) {
          if (op.kind === "mbind") {
            const m = maps[op.region % maps.length]!;
            const first = op.first % m.pages;
            const count = Math.min(op.count, m.pages - first);
            const start = m.addr + first * PAGE;
            const flags = MPOL_MF_MOVE | (op.strict ? MPOL_MF_STRICT : 0);
            // Every node has room, so every misplaced page moves and STRICT never fails.
            await runP(p.mbind(start, count * PAGE, op.mode, op.nodes, flags));
            for (const a of pagesOf(start, count)) {
              const now = where.get(a)!;
              // Only pages off the nodes given move (MPOL_MF_INVERT over the user's mask).
              if (op.nodes.includes(now)) continue;
              // policy_nodemask(): the preferred (first) node; the bound node nearest the CPU's
              // node 0 (all remote nodes are equally far: the lowest); the interleave index's.
              where.set(
                a,
                op.mode === MPOL_INTERLEAVE
                  ? op.nodes[(a / PAGE) % op.nodes.length]!
                  : op.nodes.includes(0)
                    ? 0
                    : op.nodes[0]!,
              );
            }
          } else {
            expect(await runP(p.migratePagesSyscall(0, 64, op.from, op.to))).toBe(0);
            for (const [a, now] of where) {
              const n = op.from.indexOf(now);
              if (n >= 0) where.set(a, op.to[n % op.to.length]!);
            }
          }
          for (const [a, nid] of where) expect(run(p.nodeOf(a))).toBe(nid);
        }
        maps.forEach((m, i) => {
          expect(patternIntact(p, m.addr, m.pages * PAGE, i + 1)).toBe(true);
        });
        expectConsistent(k);
      }),
      { numRuns: 40 },
    );
  }, 60_000);
});
