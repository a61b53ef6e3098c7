/**
 * `@migrate-offload/dcbm/testing`: what only tests and conformance runs need of dcbm.
 *
 * - {@link dcbmConformanceSubject}: dcbm on a DMA device of its own, as a subject for
 *   `@migrate-offload/testkit`.
 * - DMA fault injection in the manner of `lib/fault-inject.c`: {@link dmaInjectFault} arms a
 *   {@link DmaFault} on a device, {@link dmaReleaseStalled} lets what a `hang` held run.
 *
 * @packageDocumentation
 */

// insmod / rmmod of drivers/migrate_offload/dcbm/dcbm.c, for @migrate-offload/testkit.
export {
  DCBM_CONFORMANCE_TIMEOUT_MS,
  DCBM_DMA_FAULTS,
  dcbmConformanceSubject,
} from "./conformance";

// lib/fault-inject.c: faults armed on a DMA device, fired at the should_fail() sites.
export {
  type DmaFault,
  type DmaFaultKind,
  dmaClearFaults,
  dmaInjectFault,
  dmaReleaseStalled,
} from "./dma/fault_inject";
