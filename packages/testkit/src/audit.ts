/**
 * The copy audit: a probe around every batch copy that checks a migrator's own promises and
 * injects the faults of a {@link FaultPlan}.
 *
 * Installed with `kernel.migrateOffload.interpose`, it sees each batch exactly as
 * `migrate_pages_batch()` hands it to the migrator. Before the copy no destination may carry
 * `FOLIO_CONTENT_COPIED`; after it, every destination the migrator marked must hold its source's
 * bytes. Destinations left unmarked fall back to the CPU copy, which the oracle's byte checks then
 * cover.
 *
 * @module
 */
import {
  type BatchCopier,
  batchPairs,
  ERRNO,
  FOLIO_CONTENT_COPIED,
  type Kernel,
} from "@migrate-offload/core";
import { Effect } from "effect";
import fc from "fast-check";

/**
 * Faults the audit injects into any migrator, at the batch boundary: the failure modes the
 * series' fallback must absorb (an `offload_copy` that fails, one that breaks off midway, one
 * that declines with `-EOPNOTSUPP`).
 *
 * @category Audit
 */
export type MigratorFaultKind = "copy-failure" | "partial-copy" | "decline";

/** Every {@link MigratorFaultKind}. @category Audit */
export const MIGRATOR_FAULT_KINDS: readonly MigratorFaultKind[] = [
  "copy-failure",
  "partial-copy",
  "decline",
];

/**
 * One injected fault: which kind, and at which batch offered to the migrator (0 first).
 *
 * - `copy-failure`: the batch fails with `-EIO` before the migrator sees it;
 * - `partial-copy`: the migrator copies, then the second half of what it marked is unmarked and
 *   the batch fails with `-EIO`, as a copy that broke off midway;
 * - `decline`: the batch is declined with `-EOPNOTSUPP`;
 * - any other kind is an engine fault the subject injects itself, just before the batch.
 *
 * @category Audit
 */
export interface FaultPlan {
  readonly kind: string;
  readonly batch: number;
}

/**
 * A fault plan over `kinds`, or none (one case in six); shrinks to no fault, then to the first
 * batch. Most plans hit the first batch, because most workloads offer the migrator one or two
 * batches: a plan for a batch that never comes injects nothing.
 *
 * @category Audit
 */
export const faultPlanArb = (kinds: readonly string[]): fc.Arbitrary<FaultPlan | null> =>
  kinds.length === 0
    ? fc.constant(null)
    : fc.option(
        fc.record({
          kind: fc.constantFrom(...kinds),
          batch: fc.oneof(
            { arbitrary: fc.constant(0), weight: 3 },
            { arbitrary: fc.nat({ max: 3 }), weight: 1 },
          ),
        }),
        { nil: null, freq: 6 },
      );

/**
 * What the audit saw over one run: batches offered, destinations marked `FOLIO_CONTENT_COPIED`
 * or left to the CPU fallback, the fault injected, and every broken promise.
 *
 * @category Audit
 */
export interface CopyAudit {
  /** Batches offered to the migrator. */
  batches: number;
  /** Destinations the migrator marked content-copied (after any injected fault). */
  marked: number;
  /** Destinations left unmarked, which fell back to the CPU copy. */
  fellBack: number;
  /** The fault injected, if its batch came. */
  injected: string | null;
  /** Broken promises, one line each. */
  readonly problems: string[];
}

/** A fresh, empty {@link CopyAudit}. @category Audit */
export const newCopyAudit = (): CopyAudit => ({
  batches: 0,
  marked: 0,
  fellBack: 0,
  injected: null,
  problems: [],
});

const firstDifference = (a: Uint8Array, b: Uint8Array): number => {
  if (Buffer.from(a.buffer, a.byteOffset, a.length).equals(b)) return -1;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
};

/**
 * The interposer that audits every batch of `kernel` into `audit`, injecting `plan`'s fault.
 * `injectEngineFault` receives a plan whose kind is not a {@link MigratorFaultKind}.
 *
 * Checks the series' copy contract on every batch: no destination arrives already marked
 * `FOLIO_CONTENT_COPIED`, and every destination the migrator marks holds its source's bytes.
 * Install it with `kernel.migrateOffload.interpose`.
 *
 * @category Audit
 */
export const auditCopies =
  (
    kernel: Kernel,
    audit: CopyAudit,
    plan: FaultPlan | null = null,
    injectEngineFault?: (kind: string) => void,
  ) =>
  (inner: BatchCopier): BatchCopier => ({
    shouldBatch: inner.shouldBatch,
    copy: (dst, src, count, caller) =>
      Effect.gen(function* () {
        const m = kernel.memmap;
        const batch = audit.batches++;
        const pairs = batchPairs(dst, src);
        const fault = plan && plan.batch === batch ? plan.kind : null;
        if (fault) audit.injected = fault;
        if (pairs.length !== count)
          audit.problems.push(`batch ${batch}: count ${count} but ${pairs.length} folios listed`);
        for (const [i, [d]] of pairs.entries()) {
          if (m.test(d, FOLIO_CONTENT_COPIED))
            audit.problems.push(`batch ${batch}: destination ${i} marked before the copy`);
        }
        if (fault === "copy-failure") return -ERRNO.EIO;
        if (fault === "decline") return -ERRNO.EOPNOTSUPP;
        if (fault && fault !== "partial-copy") injectEngineFault?.(fault);
        let rc = yield* inner.copy(dst, src, count, caller);
        if (fault === "partial-copy") {
          const marked = pairs.filter(([d]) => m.test(d, FOLIO_CONTENT_COPIED));
          for (const [d] of marked.slice(Math.floor(marked.length / 2))) {
            m.flags[d]! &= ~FOLIO_CONTENT_COPIED;
          }
          if (rc === 0) rc = -ERRNO.EIO;
        }
        for (const [i, [d, s]] of pairs.entries()) {
          if (!m.test(d, FOLIO_CONTENT_COPIED)) {
            audit.fellBack++;
            continue;
          }
          audit.marked++;
          const nr = m.folioNrPages(s);
          const at = firstDifference(kernel.mem.bytes(d, nr), kernel.mem.bytes(s, nr));
          if (at >= 0) {
            audit.problems.push(
              `batch ${batch}: folio ${i} of ${count} (${nr} pages) is marked content-copied, but its byte ${at} differs from the source's`,
            );
          }
        }
        return rc;
      }),
  });
