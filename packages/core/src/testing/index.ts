/**
 * `@migrate-offload/core/testing`: what tests and test tools need beyond the kernel's own API.
 *
 * - The conformance contract a migrator driver ships ({@link MigratorSubject},
 *   {@link EngineFaults}), which `@migrate-offload/testkit` loads into fresh kernels.
 * - Fault injection: `fail_page_alloc` ({@link FailPageAlloc}, `mm/fail_page_alloc.c`).
 * - Checks: the kernel's own consistency check ({@link checkKernelConsistency},
 *   `CONFIG_DEBUG_VM`) and the idle copy-thread pool ({@link idleCopyWorkers}).
 *
 * @packageDocumentation
 */
export { drainIdleCopyWorkers, idleCopyWorkers, liveCopyWorkers } from "../kernel/copy_engine";
export { FailPageAlloc, type FailPageAllocAttr } from "../lib/fault_inject";
export { checkKernelConsistency } from "../mm/debug";
export type { EngineFaults, MigratorSubject } from "./conformance";
export { collectGarbage } from "./gc";
