/**
 * `@migrate-offload/core/testing`: what tests and test tools need beyond the kernel's own API.
 *
 * - The conformance contract a migrator driver ships ({@link MigratorSubject},
 *   {@link EngineFaults}), which `@migrate-offload/testkit` loads into fresh kernels.
 * - Fault injection: `fail_page_alloc` ({@link FailPageAlloc}, `mm/fail_page_alloc.c`).
 * - Checks: the kernel's own consistency check ({@link checkKernelConsistency},
 *   `CONFIG_DEBUG_VM`) and the idle copy-thread pool ({@link idleCopyWorkers}).
 * - Fixtures every package's tests share (`./fixtures`): {@link boot} a kernel, {@link run} its
 *   calls, write and check a {@link pattern}, walk a page table ({@link folioAt},
 *   {@link isolateRange}), and checks that throw plain errors ({@link expectErrno},
 *   {@link expectBytes}, {@link expectConsistent}), so that no test framework is needed to run
 *   them.
 *
 * @packageDocumentation
 */
export { idleCopyWorkers } from "../kernel/copy_engine";
export { FailPageAlloc, type FailPageAllocAttr } from "../lib/fault_inject";
export { checkKernelConsistency } from "../mm/debug";
export type { EngineFaults, MigratorSubject } from "./conformance";
export {
  boot,
  errnoOf,
  expectBytes,
  expectConsistent,
  expectErrno,
  folioAt,
  isolateRange,
  mapPattern,
  moveRange,
  pagesOf,
  pattern,
  patternIntact,
  pteAt,
  run,
  runP,
  sameBytes,
  waitUntil,
} from "./fixtures";
