/**
 * The copy-offload framework as migrators and callers see it.
 *
 * Models `include/linux/migrate_copy_offload.h` of the series: `struct migrator` with its
 * `offload_copy` and `should_batch`, the registration calls, the reason mask, and the batch
 * copier `migrate_pages_batch()` dispatches to. The registry and the dispatch are
 * `mm/migrate_copy_offload.ts`.
 *
 * @module
 */
import type { Effect } from "effect";
import type { ErrnoError } from "../errno";
import type { FolioList } from "../lib/list";
import { type MigrateReason, MR_TYPES } from "./migrate_mode";
import type { Module } from "./module";
import type { TaskStruct } from "./sched";
import type { SrcuStruct } from "./srcu";

/**
 * `MIGRATOR_NAME_LEN` (`include/linux/migrate_copy_offload.h`): the size of `struct migrator`'s
 * `char name[]`, its terminating NUL included, so a name holds at most 31 bytes.
 *
 * @category Copy offload
 */
export const MIGRATOR_NAME_LEN = 32;
/**
 * A reason mask with every `MR_*` bit set: the mask v6's `migrate_offload_register(m, reason_mask)`
 * (`include/linux/migrate_copy_offload.h`) takes for "all". A constant of the model; the series
 * spells it `"all"`.
 *
 * @category Copy offload
 */
export const MIGRATE_REASONS_ALL = (1 << MR_TYPES) - 1;

/**
 * The batch copy of a migrator: the `offload_copy` callback of `struct migrator`
 * (`include/linux/migrate_copy_offload.h`). Completes with 0, a negative errno, or `-EOPNOTSUPP` to
 * decline. Anything else (an exception, a value that is not an Effect, an Effect that fails or
 * dies, a result that is not 0 or a negative errno) is a broken callback, which the kernel treats
 * as a failed copy with `-EIO`, copying the whole batch on the CPU.
 *
 * Beyond the series, `batch` is the very object the migrator's `shouldBatch` was handed for this
 * batch (and its `batchDone` will be), so that a migrator can tie what it decided there to this
 * copy; `undefined` when the caller had none. The series' `offload_copy(dst, src, count)` has no
 * such argument; a migrator that ignores it behaves as the series specifies.
 *
 * @category Copy offload
 */
export type OffloadCopy = (
  dst: FolioList,
  src: FolioList,
  count: number,
  batch?: CopyBatch,
) => Effect.Effect<number>;

/**
 * One batch, as the model sees it: its folios, its bytes, and the base page size. What
 * `migrate_pages_batch()` offers a migrator's `shouldBatch` (the folios it is about to unmap, so
 * at most what the batch will hold), and what the copy-cost model predicts for. A structure of
 * the model with no kernel symbol: the series' `should_batch(reason)` sees the reason only.
 *
 * @category Copy offload
 */
export interface CopyBatch {
  /** Folios in the batch. */
  readonly folios: number;
  /** Bytes in the batch (the folios' sizes added). */
  readonly bytes: number;
  /** The base page size, bytes. */
  readonly pageSize: number;
}

/**
 * How a batch offered to a migrator's `shouldBatch` ended, for its `batchDone`: whether the batch
 * flow ran, whether the migrator's `offloadCopy` copied it, and how long it took. A structure of
 * the model with no kernel symbol: the series gives a migrator no word of a batch's end.
 *
 * @category Copy offload
 */
export interface BatchOutcome {
  /** The batch as `shouldBatch` saw it. */
  readonly batch: CopyBatch;
  /**
   * Whether `shouldBatch` took it: the batch flow ran (unmap every folio, offer the batch, move).
   * False: its folios took the per-folio CPU copy, as with no migrator.
   */
  readonly batched: boolean;
  /** Whether `offloadCopy` was called and completed with 0. */
  readonly copied: boolean;
  /**
   * Wall time from the `shouldBatch` call to the end of `migrate_pages_batch()`'s move passes,
   * ns: the whole batch, kernel work and copy, whoever copied it.
   */
  readonly ns: number;
  /**
   * Whether the batch ended without its result: interrupted (or failed) while it waited or
   * copied, its folios undone. Its time says nothing of what a copy costs; absent means false.
   */
  readonly interrupted?: boolean;
}

/**
 * A copy-offload provider. Models `struct migrator` (`include/linux/migrate_copy_offload.h`).
 *
 * @category Copy offload
 */
export interface Migrator {
  /**
   * Its name, at most `MIGRATOR_NAME_LEN - 1` (31) bytes, as `char name[MIGRATOR_NAME_LEN]` holds
   * it with its terminating NUL; as listed in `offload_migrator`.
   */
  readonly name: string;
  /** `offload_copy`: copies the batch; required. */
  readonly offloadCopy: OffloadCopy;
  /**
   * `should_batch(reason)`: whether to offer batches of a reason; default no. One that throws or
   * returns anything but a boolean means no for that call, and is counted and traced.
   *
   * Beyond the series, `batch` is the batch `migrate_pages_batch()` is about to form (the folios
   * it will try to unmap; the batch can end up smaller, never larger), so that a migrator can
   * turn down a batch it would decline in `offloadCopy` before the batch flow starts: its folios
   * then take the per-folio CPU copy, as with no migrator. `undefined` when the caller has no
   * batch in hand (a tool asking about a reason only).
   */
  readonly shouldBatch?: (reason: MigrateReason, batch?: CopyBatch) => boolean;
  /**
   * Beyond the series: told how each batch it was offered with a `batch` in hand ended, once
   * `migrate_pages_batch()` has moved it (taken or turned down, offloaded or not), so that a
   * policy can learn what each choice really costs. Optional. One that throws is counted
   * (`batchDoneFailures`) and traced (`batch_done_failed`); the batch is done either way.
   *
   * Called once for every such batch, however it ends: one interrupted (or failed) while it
   * waited or copied is reported with `interrupted` set. Not called for a batch `shouldBatch`
   * was asked about without a `batch`, for one asked of another migrator (this one switched to
   * since the batch was formed), nor after this migrator was switched away from before the
   * batch ended. Leave it out when nothing is learned: a migrator without it costs a batch no
   * timing and no report.
   */
  readonly batchDone?: (outcome: BatchOutcome) => void;
  /** `owner`: the module whose code this is, pinned while the migrator is active. */
  readonly owner: Module | null;
}

/**
 * Per-provider counters. Statistics of the model with no kernel symbol: the series keeps such
 * counts in each driver (dcbm's `folios_migrated` and `folios_failures`,
 * `drivers/migrate_offload/dcbm/dcbm.c`).
 *
 * @category Copy offload
 */
export interface OffloadCounters {
  /** Batches the provider copied (returned 0). */
  batchesOffloaded: number;
  /** Folios it marked copied. */
  foliosCopied: number;
  /** Folios of its batches left unmarked, which fell back to the CPU copy. */
  foliosFallenBack: number;
  /** Batches it declined with `-EOPNOTSUPP`. */
  batchesDeclined: number;
  /**
   * Batches whose copy failed: a negative errno other than `-EOPNOTSUPP`, or a broken callback
   * (one that threw, returned no Effect, failed or died, or returned garbage), counted as `-EIO`.
   */
  copyFailures: number;
  /**
   * Calls of `shouldBatch` that threw or returned anything but a boolean; each counted as "do not
   * batch" for that call.
   */
  shouldBatchFailures: number;
  /** Calls of `batchDone` that threw. */
  batchDoneFailures: number;
}

/**
 * A batch copier: what a registered migrator provides to `migrate_pages_batch()`. `shouldBatch`
 * says whether batches of a reason are offered to it; `copy` copies the batch, marking each
 * destination it copied with `FOLIO_CONTENT_COPIED`, and completes with 0 or a negative errno.
 * Unmarked destinations fall back to the per-folio copy.
 *
 * Models the pair of static calls `migrate_pages_batch()` (`mm/migrate.c`) goes through,
 * `migrate_offload_copy` and `migrate_should_batch`, which the registration calls of
 * `mm/migrate_copy_offload.c` point at a migrator.
 *
 * @category Copy offload
 */
export interface BatchCopier {
  /**
   * Models `should_batch(reason)` (`include/linux/migrate_copy_offload.h`): whether batches
   * migrated for `reason` are offered; `batch`, the batch about to be formed, is passed on to the
   * migrator's `shouldBatch` (see {@link Migrator.shouldBatch}).
   */
  readonly shouldBatch: (reason: MigrateReason, batch?: CopyBatch) => boolean;
  /**
   * How a batch `shouldBatch` was asked about with a `batch` ended, passed on to the migrator's
   * `batchDone` (see {@link Migrator.batchDone}). Optional: a copier without it is not told.
   */
  readonly batchDone?: (outcome: BatchOutcome) => void;
  /**
   * Models `offload_copy(dst_list, src_list, count)` (`include/linux/migrate_copy_offload.h`):
   * copies the batch, marking each destination it copied `FOLIO_CONTENT_COPIED`; completes with 0
   * or a negative errno. `batch`, the object `shouldBatch` was asked about, is passed on to the
   * migrator's `offloadCopy` (see {@link OffloadCopy}).
   */
  readonly copy: (
    dst: FolioList,
    src: FolioList,
    count: number,
    caller: TaskStruct | null,
    batch?: CopyBatch,
  ) => Effect.Effect<number>;
}

/**
 * Wraps a batch copier: see {@link MigrateOffload.interpose}. A test hook with no kernel symbol;
 * it stands where a kprobe (`kernel/kprobes.c`) on the migrator's `offload_copy` would.
 *
 * @category Copy offload
 */
export type CopyInterposer = (copier: BatchCopier) => BatchCopier;

/**
 * One kernel's copy-offload registry and batch-copy dispatch (`kernel.migrateOffload`). Models
 * the registration calls of the series (`migrate_offload_register()` / `_unregister()`, v4's
 * `_start()` / `_stop()`), the `/sys/kernel/mm/migration/` control files, and the static calls
 * `migrate_pages_batch()` goes through, all in `mm/migrate_copy_offload.c`
 * (`include/linux/migrate_copy_offload.h`).
 *
 * @category Copy offload
 *
 * @example
 * ```ts
 * import {
 *   Kernel,
 *   MIGRATE_REASONS_ALL,
 *   type Migrator,
 *   migrateFoliosMcCopy,
 * } from "@migrate-offload/core";
 * import { Effect } from "effect";
 *
 * await Effect.runPromise(
 *   Effect.scoped(
 *     Effect.gen(function* () {
 *       const kernel = yield* Kernel.make({ nodes: ["64M", "64M"] });
 *       const migrator: Migrator = {
 *         name: "my_copy",
 *         owner: null,
 *         shouldBatch: () => true,
 *         offloadCopy: (dst, src) => Effect.sync(() => migrateFoliosMcCopy(kernel, dst, src)),
 *       };
 *       yield* kernel.migrateOffload.register(migrator, MIGRATE_REASONS_ALL);
 *       const text = yield* kernel.fs.read("/sys/kernel/mm/migration/offload_migrator");
 *       console.log(text); // "none [my_copy]\n"
 *     }),
 *   ),
 * );
 * ```
 */
export interface MigrateOffload {
  /**
   * The SRCU domain every call into a migrator reads under (`migrate_offload_srcu`,
   * `include/linux/migrate_copy_offload.h`).
   */
  readonly srcu: SrcuStruct;
  /**
   * The batch copier `migrate_pages_batch()` calls: the active migrator under SRCU, as an
   * installed {@link CopyInterposer} sees it; null when no migrator is active, and then nothing
   * is batched.
   */
  readonly copier: BatchCopier | null;
  /** What `migrate_pages_batch()` calls while a migrator is active: reads it under SRCU. */
  readonly dispatcher: BatchCopier;
  /**
   * Points the batch-copy static calls at `copier`, or at nothing (`static_call_update()`,
   * `include/linux/static_call.h`, of `_offload_copy` / `_should_batch`). Activation does this with
   * {@link MigrateOffload.dispatcher}; a test of `migrate_pages_batch()` itself may install a bare
   * copier.
   */
  installCopier(copier: BatchCopier | null): void;
  /** Names of the registered providers, in registration order. */
  readonly providerNames: string[];
  /** The active migrator's name, or null. */
  readonly activeName: string | null;
  /** A provider's counters. */
  counters(name: string): OffloadCounters | undefined;
  /** A provider's reason mask. */
  reasonMask(name: string): number | undefined;
  /**
   * Makes a migrator available without activating it: it is listed in `offload_migrator`, can be
   * switched to there, and callers may name it for their own calls. `EEXIST` for a taken name.
   */
  addProvider(m: Migrator, reasonMask?: number): Effect.Effect<void, ErrnoError>;
  /**
   * Withdraws a provider. `EBUSY` while it is active; otherwise it leaves the list and a grace
   * period passes, so no caller that named it is still inside it.
   */
  removeProvider(m: Migrator): Effect.Effect<void, ErrnoError>;
  /**
   * `migrate_offload_register()` (`mm/migrate_copy_offload.c`): makes `m` the active migrator,
   * registering it as a provider if needed. `reasonMask` replaces its mask when given. `EINVAL`
   * without `offloadCopy`, `EBUSY` while another is active, `ENODEV` when the owner cannot be
   * pinned.
   *
   * @example
   * ```ts
   * import {
   *   Kernel,
   *   MIGRATE_REASONS_ALL,
   *   type Migrator,
   *   migrateFoliosMcCopy,
   * } from "@migrate-offload/core";
   * import { Effect } from "effect";
   *
   * await Effect.runPromise(
   *   Effect.scoped(
   *     Effect.gen(function* () {
   *       const kernel = yield* Kernel.make({ nodes: ["64M", "64M"] });
   *       const migrator: Migrator = {
   *         name: "my_copy",
   *         owner: null, // built in: no module to pin
   *         shouldBatch: () => true,
   *         offloadCopy: (dst, src) => Effect.sync(() => migrateFoliosMcCopy(kernel, dst, src)),
   *       };
   *       yield* kernel.migrateOffload.register(migrator, MIGRATE_REASONS_ALL);
   *       console.log(kernel.migrateOffload.activeName); // "my_copy"
   *       yield* kernel.migrateOffload.unregister(migrator); // waits for calls in flight
   *       console.log(kernel.migrateOffload.activeName); // null
   *     }),
   *   ),
   * );
   * ```
   */
  register(m: Migrator, reasonMask?: number): Effect.Effect<void, ErrnoError>;
  /**
   * `migrate_offload_unregister()` (`mm/migrate_copy_offload.c`): stops the active migrator;
   * `EINVAL` for any other.
   */
  unregister(m: Migrator): Effect.Effect<void, ErrnoError>;
  /**
   * `migrate_offload_start()` (`mm/migrate_copy_offload.c`): the v4 name of
   * {@link MigrateOffload.register}.
   */
  start(m: Migrator, reasonMask?: number): Effect.Effect<void, ErrnoError>;
  /**
   * `migrate_offload_stop()` (`mm/migrate_copy_offload.c`): the v4 name of
   * {@link MigrateOffload.unregister}.
   */
  stop(m: Migrator): Effect.Effect<void, ErrnoError>;
  /**
   * Switches the active migrator to the provider `name`, or to `"none"`: the new one is pinned
   * first, then the old one is unregistered with its grace period, then the new one activated.
   * Nothing changes when the new one cannot be pinned.
   */
  switchTo(name: string): Effect.Effect<void, ErrnoError>;
  /**
   * Sets the reason mask of a provider (the active one by default): v6's
   * `migrate_offload_set_reason_mask()` (`mm/migrate_copy_offload.c`).
   */
  setReasonMask(mask: number, name?: string | null): Effect.Effect<void, ErrnoError>;
  /**
   * The copier for a caller that names provider `name` for its own `migratePages` call (open
   * question 2 of v3), as an installed interposer sees it, or null when no such provider is
   * registered. It reads the provider under SRCU on every call and falls back to the CPU copy
   * once the provider is withdrawn.
   */
  copierFor(name: string): BatchCopier | null;
  /**
   * Installs a probe around the batch-copy step of every migration, of the active migrator and
   * of any migrator a caller names, until the returned function removes it. It models what a
   * kprobe on `offload_copy` or the fault-injection framework gives a kernel tester: conformance
   * checks and injected faults without changing the migrator. One at a time: `EBUSY` otherwise.
   */
  interpose(interposer: CopyInterposer): (() => void) | ErrnoError;
}
