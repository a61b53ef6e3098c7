import { DCBM_TIMEOUT_MS } from "@migrate-offload/dcbm";
import { dcbmConformanceSubject } from "@migrate-offload/dcbm/testing";
import { mtcopyConformanceSubject } from "@migrate-offload/mtcopy/testing";
import type { MigratorSubject } from "@migrate-offload/testkit";

/**
 * The drivers as the throughput experiments load them: with the drivers' own 10 s deadlines, not
 * the conformance subjects' short hang deadlines, which a batch of gigabytes would overrun (and
 * fall back to the CPU copy, measuring the wrong copier).
 */
const MTCOPY_DEADLINE_MS = 10_000;

/** mtcopy with `threads` copy threads. */
export const mtcopyCopier = (threads: number): MigratorSubject =>
  mtcopyConformanceSubject({ threads, deadlineMs: MTCOPY_DEADLINE_MS });

/** dcbm over a 16-channel DMA device, using `nrDmaChan` of them. */
export const dcbmCopier = (nrDmaChan: number): MigratorSubject =>
  dcbmConformanceSubject({ channels: 16 }, { nrDmaChan, timeoutMs: DCBM_TIMEOUT_MS });
