import { DCBM_TIMEOUT_MS, type DcbmPolicy } from "@migrate-offload/dcbm";
import { dcbmConformanceSubject } from "@migrate-offload/dcbm/testing";
import { mtcopyConformanceSubject } from "@migrate-offload/mtcopy/testing";
import { type MigratorSubject, moduleSubject, serialCopyModule } from "@migrate-offload/testkit";

/**
 * The drivers as the throughput experiments load them: with the drivers' own 10 s deadlines, not
 * the conformance subjects' short hang deadlines, which a batch of gigabytes would overrun (and
 * fall back to the CPU copy, measuring the wrong copier).
 */
const MTCOPY_DEADLINE_MS = 10_000;

/** mtcopy with `threads` copy threads, or `"auto"`: the adaptive policy. */
export const mtcopyCopier = (threads: number | "auto"): MigratorSubject =>
  mtcopyConformanceSubject({ threads, deadlineMs: MTCOPY_DEADLINE_MS });

/** dcbm over a 16-channel DMA device, using `nrDmaChan` of them, with the seed's or the adaptive policy. */
export const dcbmCopier = (nrDmaChan: number, policy?: DcbmPolicy): MigratorSubject =>
  dcbmConformanceSubject(
    { channels: 16 },
    { nrDmaChan, timeoutMs: DCBM_TIMEOUT_MS, ...(policy ? { policy } : {}) },
  );

/**
 * The kernel's copy on the initiating thread (`serial`: `migrate_folios_mc_copy()` as a migrator,
 * so that its copy time is measured like the others'), mtcopy with `threads` and dcbm with
 * `channels`, named as the tables print them.
 */
export const serialAndDrivers = (
  threads: number,
  channels: number,
): ReadonlyArray<readonly [string, MigratorSubject]> => [
  ["serial", moduleSubject(serialCopyModule, "serial")],
  [`mtcopy ${threads}`, mtcopyCopier(threads)],
  [`dcbm ${channels} ch`, dcbmCopier(channels)],
];
