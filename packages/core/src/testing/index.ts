/**
 * `@migrate-offload/core/testing`: what tests and test tools need beyond the kernel's own API.
 *
 * - The conformance contract a migrator driver ships ({@link MigratorSubject},
 *   {@link EngineFaults}), which `@migrate-offload/testkit` loads into fresh kernels.
 * - Fault injection: `fail_page_alloc` ({@link FailPageAlloc}, `mm/fail_page_alloc.c`).
 * - Checks: the kernel's own consistency check ({@link checkKernelConsistency},
 *   `CONFIG_DEBUG_VM`) and the idle copy-thread pool ({@link idleCopyWorkers}).
 * - Fixtures every package's tests share (`./fixtures`): {@link boot} a kernel (with proactive
 *   compaction off: {@link bootNoProactive}), {@link run} its
 *   calls, write and check a {@link pattern}, walk a page table ({@link folioAt},
 *   {@link isolateRange}), and checks that throw plain errors ({@link expectErrno},
 *   {@link expectBytes}, {@link expectConsistent}), so that no test framework is needed to run
 *   them.
 * - Workloads that fragment a node as a long-running machine does ({@link fragmentNode},
 *   `./workloads`): interleaved movable, page-cache and unmovable allocations, for compaction.
 * - The race harness of the copy-offload registry ({@link runRegistryRaces}, `./races`), on
 *   `fc.commands` and `fc.scheduler`: it needs `fast-check`, an optional peer dependency, and
 *   loads it only when called.
 *
 * @packageDocumentation
 */
export { drainIdleCopyWorkers, idleCopyWorkers, liveCopyWorkers } from "../kernel/copy_engine";
export { FailPageAlloc, type FailPageAllocAttr } from "../lib/fault_inject";
export { checkKernelConsistency } from "../mm/debug";
export { shrinkHugeZeroFolioCount, shrinkHugeZeroFolioScan } from "../mm/huge_memory";
export type { EngineFaults, MigratorSubject } from "./conformance";
export {
  boot,
  bootNoProactive,
  errnoOf,
  expectBytes,
  expectChildSignal,
  expectConsistent,
  expectErrno,
  expectSignal,
  folioAt,
  type GatedMigrator,
  gatedMigrator,
  isolateRange,
  mapPattern,
  moveRange,
  pagesOf,
  pattern,
  patternIntact,
  pteAt,
  type RecordingMigrator,
  recordingMigrator,
  run,
  runP,
  sameBytes,
  waitUntil,
} from "./fixtures";
export { collectGarbage } from "./gc";
export {
  expectOutcome,
  type RaceHarness,
  RaceMigrate,
  type RaceModel,
  RaceReasons,
  type RaceRunOptions,
  RaceSwitch,
  type RaceWorld,
  raceOutcome,
  runRegistryRaces,
} from "./races";
export {
  type FragmentedNode,
  type FragmentNodeOptions,
  fillNodeToMin,
  fragmentNode,
} from "./workloads";
