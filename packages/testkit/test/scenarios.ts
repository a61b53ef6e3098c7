import type { CallerRequest, MigrationScenario } from "../src/index";

/**
 * A small anonymous workload (one 32-page region, written) on node 0 and a request through a
 * caller; `machine` overrides the two 16 MiB nodes and THP `madvise`.
 */
export const callerScenario = (
  request: CallerRequest,
  machine: Partial<Pick<MigrationScenario, "nodesMiB" | "slowTier" | "thp">> = {},
): MigrationScenario => ({
  pageSize: 4096,
  nodesMiB: [16, 16],
  thp: "madvise",
  mthp: false,
  regions: [{ kind: "anon", pages: 32, hugepage: undefined, written: 32, read: 0, mlocked: false }],
  fork: false,
  pins: [],
  poison: [],
  writeback: [],
  fs: "migrate_folio",
  entries: [{ region: 0, page: 0, node: 0 }],
  request,
  fragmentOrder: undefined,
  allocFailure: undefined,
  balloon: undefined,
  ...machine,
});
