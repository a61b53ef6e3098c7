/**
 * The copy-offload registry: migrators, the reason policy, SRCU, and the control files.
 *
 * Models `mm/migrate_copy_offload.c` and `include/linux/migrate_copy_offload.h` of the series,
 * as later revisions settled it, and goes beyond where the series left questions open:
 *
 * - A {@link Migrator} (`struct migrator`) has a name, an `offloadCopy` that copies a batch and
 *   marks each destination it copied `FOLIO_CONTENT_COPIED`, an optional `shouldBatch` (default:
 *   no, as in v4) and its owner module. Returning `-EOPNOTSUPP` declines a batch: the folios take
 *   the CPU copy and it is not counted as a failure (v5).
 * - Exactly one migrator is active (`migrate_offload_register()` / `_unregister()`, v4's
 *   `_start()` / `_stop()`): `EINVAL` without `offloadCopy`, `EBUSY` while another is active,
 *   `ENODEV` when the owner cannot be pinned, and only the active one may unregister.
 * - A batch is offloaded only when the registration's reason mask allows the reason and the
 *   migrator's `shouldBatch` agrees. The mask is given at registration, changes at runtime, and
 *   reads and writes as kernel reason names (`"compaction,demotion"`, `"all"`, `"none"`).
 * - Every call into a migrator (`shouldBatch` as well as `offloadCopy`, the race raised in review
 *   of v4) runs inside an SRCU read-side section and finds the migrator there, as the v5 helper
 *   does. Unregistering disables the fast path, restores the default, waits for a grace period
 *   and only then drops the module reference: after it returns the old migrator is never called
 *   again, and its module is never released while a call into it is in flight.
 * - Answering open question 1 of v3, `/sys/kernel/mm/migration/offload_migrator` lists every
 *   registered provider with the active one in brackets, and switching to another name (or
 *   `none`) is atomic. Answering question 2, a caller of `migratePages` may name a provider for
 *   its own call, so *registered* and *active* are distinct. Answering question 4, each provider
 *   counts its batches and folios, and copy time is charged to the task that initiated it.
 *
 * @module
 */
import { Effect, Exit, Semaphore } from "effect";
import { ERRNO, type ErrnoError, errno } from "../errno";
import type { Kernel } from "../include/kernel";
import type { Attribute } from "../include/kernfs";
import type { BatchCopier, BatchOutcome, CopyBatch } from "../include/migrate_copy_offload";
import {
  type CopyInterposer,
  MIGRATE_REASONS_ALL,
  MIGRATOR_NAME_LEN,
  type MigrateOffload,
  type Migrator,
  type OffloadCounters,
} from "../include/migrate_copy_offload";
import { MIGRATE_REASON_NAMES } from "../include/migrate_mode";
import type { Module } from "../include/module";
import { FOLIO_CONTENT_COPIED } from "../include/page_flags";
import { KernelPanic } from "../include/panic";
import type { TaskStruct } from "../include/sched";
import type { MmMigrateOffload } from "../include/trace";
import { modulePut, registerModuleNotifier, tryModuleGet } from "../kernel/module";
import { Srcu } from "../kernel/srcu";
import { callEffect, formatCause, formatThrown, formatValue } from "../lib/bug";
import { kstrtouint } from "../lib/kstrtox";
import type { FolioList } from "../lib/list";
import { migrateFoliosMcCopy } from "./migrate";

interface Provider {
  readonly migrator: Migrator;
  reasonMask: number;
  readonly counters: OffloadCounters;
}

/**
 * Parses a reason mask: `"all"`, `"none"`, comma-separated reason names, or a raw number of
 * `MR_*` bits (decimal, `0x` hex or `0` octal, as `kstrtouint()` reads it), as v6 reads a
 * `reason_mask` control (`mm/migrate_copy_offload.c`); the names are those of `MIGRATE_REASON`
 * (`include/trace/events/migrate.h`). `EINVAL` for an unknown name or a bit that is no reason.
 *
 * @category Copy offload
 */
export const parseReasonMask = (text: string): number | ErrnoError => {
  const value = text.endsWith("\n") ? text.slice(0, -1) : text;
  if (value === "all") return MIGRATE_REASONS_ALL;
  if (value === "none") return 0;
  // v6: a raw number of MR_* bits, as kstrtouint() reads it (0x… and 0… included).
  if (/^[+]?[0-9]/.test(value)) {
    const raw = kstrtouint(value);
    if (typeof raw !== "number") return raw;
    return raw & ~MIGRATE_REASONS_ALL
      ? errno("EINVAL", `reason mask ${raw} is not a set of MR_* bits`)
      : raw;
  }
  let mask = 0;
  for (const name of value.split(",")) {
    const reason = MIGRATE_REASON_NAMES.indexOf(name.trim());
    if (reason < 0) return errno("EINVAL", `unknown migrate reason ${JSON.stringify(name)}`);
    mask |= 1 << reason;
  }
  return mask;
};

/**
 * Prints a reason mask as {@link parseReasonMask} reads it: names, as v6 prints a `reason_mask`
 * control (`mm/migrate_copy_offload.c`).
 *
 * @category Copy offload
 */
export const formatReasonMask = (mask: number): string => {
  if (mask === MIGRATE_REASONS_ALL) return "all";
  if (mask === 0) return "none";
  return MIGRATE_REASON_NAMES.filter((_, reason) => mask & (1 << reason)).join(",");
};

const checkMigrator = (m: Migrator | null | undefined): ErrnoError | null => {
  if (!m || typeof m.offloadCopy !== "function")
    return errno("EINVAL", "a migrator needs an offloadCopy");
  const bytes = Buffer.byteLength(m.name ?? "");
  // `char name[MIGRATOR_NAME_LEN]` holds the terminating NUL too: 31 bytes of name at most.
  if (bytes === 0 || bytes >= MIGRATOR_NAME_LEN || /\s/.test(m.name) || m.name === "none") {
    return errno(
      "EINVAL",
      `migrator name ${JSON.stringify(m.name)} must be 1..${MIGRATOR_NAME_LEN - 1} bytes, no spaces, not "none"`,
    );
  }
  if (m.shouldBatch !== undefined && typeof m.shouldBatch !== "function") {
    return errno("EINVAL", `migrator ${m.name}: shouldBatch must be a function`);
  }
  if (m.batchDone !== undefined && typeof m.batchDone !== "function") {
    return errno("EINVAL", `migrator ${m.name}: batchDone must be a function`);
  }
  return null;
};

/**
 * Adapts a Promise-based `offloadCopy`: it resolves to 0 (or to nothing: an `async` function
 * that ends without `return` copied the batch) or to a negative errno (`-EOPNOTSUPP` declines);
 * a rejection is `-EIO`. Anything else it resolves to (a positive number, a string, `null`) is a
 * broken callback, a copy failure whose marks are not trusted, as for any migrator. An SDK helper
 * with no kernel symbol: it builds the `offload_copy` callback of `struct migrator`
 * (`include/linux/migrate_copy_offload.h`) from async code.
 *
 * @category Copy offload
 *
 * @example
 * ```ts
 * import {
 *   batchPairs,
 *   folioMarkContentCopied,
 *   folioMcCopy,
 *   Kernel,
 *   MIGRATE_REASONS_ALL,
 *   migratorFromPromise,
 * } from "@migrate-offload/core";
 * import { Effect } from "effect";
 *
 * await Effect.runPromise(
 *   Effect.scoped(
 *     Effect.gen(function* () {
 *       const kernel = yield* Kernel.make({ nodes: ["16M", "16M"] });
 *       const migrator = migratorFromPromise({
 *         name: "async_copy",
 *         owner: null,
 *         shouldBatch: () => true,
 *         // Resolving with nothing is success; a folio left unmarked falls back.
 *         offloadCopy: async (dst, src) => {
 *           for (const [d, s] of batchPairs(dst, src))
 *             if (folioMcCopy(kernel, d, s) === 0) folioMarkContentCopied(kernel, d);
 *         },
 *       });
 *       yield* kernel.migrateOffload.register(migrator, MIGRATE_REASONS_ALL);
 *       console.log(kernel.migrateOffload.activeName); // "async_copy"
 *     }),
 *   ),
 * );
 * ```
 */
export const migratorFromPromise = (
  spec: Omit<Migrator, "offloadCopy"> & {
    readonly offloadCopy: (
      dst: FolioList,
      src: FolioList,
      count: number,
      // biome-ignore lint/suspicious/noConfusingVoidType: an `async` function with no `return` is typed Promise<void>
    ) => Promise<number | void>;
  },
): Migrator => ({
  ...spec,
  offloadCopy: (dst, src, count) =>
    Effect.tryPromise({
      try: () => spec.offloadCopy(dst, src, count),
      catch: () => -ERRNO.EIO,
    }).pipe(
      // An async function that ends without `return` resolves to undefined: it succeeded.
      Effect.map((rc) => (rc === undefined ? 0 : rc)),
      Effect.orElseSucceed(() => -ERRNO.EIO),
    ),
});

const traceCall = (
  k: Kernel,
  m: Migrator,
  op: MmMigrateOffload["op"],
  rc: number,
  error: string | null = null,
): void =>
  k.trace.emit({
    event: "mm_migrate_offload",
    op,
    migrator: m.name,
    owner: m.owner?.name ?? null,
    rc,
    ...(error === null ? {} : { error }),
  });

const newCounters = (): OffloadCounters => ({
  batchesOffloaded: 0,
  foliosCopied: 0,
  foliosFallenBack: 0,
  batchesDeclined: 0,
  copyFailures: 0,
  shouldBatchFailures: 0,
  batchDoneFailures: 0,
});

/** `MAX_ERRNO` (`include/linux/err.h`): a negative errno is in `-MAX_ERRNO..-1`. */
const MAX_ERRNO = 4095;

/** How a call into a migrator's `offload_copy` ended: its return value, or why it is broken. */
interface OffloadCopyResult {
  /** 0, a negative errno, or `-EIO` for a broken callback. */
  readonly rc: number;
  /** Why the callback is broken (it threw, returned no Effect, failed, died or returned garbage); or null. */
  readonly error: string | null;
}

/** How an `offloadCopy` ended, checked: 0 or a negative errno, or `-EIO` with why it is broken. */
const offloadCopyResult = (exit: Exit.Exit<unknown, unknown>): OffloadCopyResult => {
  if (Exit.isFailure(exit))
    return { rc: -ERRNO.EIO, error: formatCause("offloadCopy", exit.cause) };
  const rc = exit.value;
  if (typeof rc === "number" && Number.isInteger(rc) && rc <= 0 && rc >= -MAX_ERRNO) {
    return { rc, error: null };
  }
  return {
    rc: -ERRNO.EIO,
    error: `offloadCopy completed with ${formatValue(rc)}, not 0 or a negative errno`,
  };
};

/**
 * The registry and the batch-copy dispatch of one kernel: the {@link MigrateOffload} every
 * kernel has as `kernel.migrateOffload`.
 */
export class MigrateOffloadRegistry implements MigrateOffload {
  /** The SRCU domain every call into a migrator reads under (`migrate_offload_srcu`). */
  readonly srcu = new Srcu();
  private readonly providers = new Map<string, Provider>();
  private active: Provider | null = null;
  private readonly mutex = Semaphore.makeUnsafe(1);
  /** The dispatcher for a migrator with `batchDone`. */
  private readonly toldDispatcher: BatchCopier;
  /** The dispatcher for one without: no `batchDone`, so a batch pays nothing to report its end. */
  private readonly quietDispatcher: BatchCopier;
  /** The static call's target: the dispatcher while a migrator is active, else null. */
  private installed: BatchCopier | null = null;
  /** {@link installed} as the interposer sees it. */
  private seen: BatchCopier | null = null;
  private interposer: CopyInterposer | null = null;

  constructor(private readonly k: Kernel) {
    this.toldDispatcher = this.copierOf(() => this.active, true);
    this.quietDispatcher = this.copierOf(() => this.active, false);
    k.fs.addAttributes("/sys/kernel/mm/migration", this.attributes());
    registerModuleNotifier(k, (state, module) =>
      state === "going" ? this.moduleGoing(module) : Effect.void,
    );
  }

  /**
   * The registry's module notifier: a module going (its exit ran, or its init failed) takes the
   * providers it still owns out of the list, and a grace period passes so that no caller that
   * named one is still inside it, as a subsystem drops a module's registrations in its
   * `MODULE_STATE_GOING` notifier (`static_call_module_notify()`, `kernel/static_call_inline.c`).
   * The active provider is never among them: it pins its module, which cannot go while pinned.
   */
  private moduleGoing(module: Module): Effect.Effect<void> {
    return this.locked(
      Effect.suspend(() => {
        let dropped = 0;
        for (const [name, p] of this.providers) {
          if (p.migrator.owner !== module || p === this.active) continue;
          this.providers.delete(name);
          dropped++;
        }
        return dropped > 0 ? this.srcu.synchronize() : Effect.void;
      }),
    );
  }

  /**
   * What `migrate_pages_batch()` calls while a migrator is active: reads it under SRCU. It has a
   * `batchDone` only when the active migrator has one.
   */
  get dispatcher(): BatchCopier {
    return this.active?.migrator.batchDone ? this.toldDispatcher : this.quietDispatcher;
  }

  /** The batch copier `migrate_pages_batch()` calls; null when no migrator is active. */
  get copier(): BatchCopier | null {
    return this.seen;
  }

  /**
   * Points the batch-copy static calls at `copier`, or at nothing (`static_call_update()` of
   * `_offload_copy` / `_should_batch`). Activation does this with the dispatcher; a test of
   * `migrate_pages_batch()` itself may install a bare copier.
   */
  installCopier(copier: BatchCopier | null): void {
    this.installed = copier;
    this.seen = this.interposed(copier);
  }

  /** Installs a probe around every batch copy; see {@link MigrateOffload.interpose}. */
  interpose(interposer: CopyInterposer): (() => void) | ErrnoError {
    if (this.interposer) return errno("EBUSY", "a copy interposer is already installed");
    this.interposer = interposer;
    this.installCopier(this.installed);
    return () => {
      if (this.interposer !== interposer) return;
      this.interposer = null;
      this.installCopier(this.installed);
    };
  }

  private interposed(copier: BatchCopier | null): BatchCopier | null {
    return copier && this.interposer ? this.interposer(copier) : copier;
  }

  /** Names of the registered providers, in registration order. */
  get providerNames(): string[] {
    return [...this.providers.keys()];
  }

  /** The active migrator's name, or null. */
  get activeName(): string | null {
    return this.active?.migrator.name ?? null;
  }

  /** A provider's counters. */
  counters(name: string): OffloadCounters | undefined {
    return this.providers.get(name)?.counters;
  }

  /** A provider's reason mask. */
  reasonMask(name: string): number | undefined {
    return this.providers.get(name)?.reasonMask;
  }

  /**
   * Makes a migrator available without activating it: it is listed in `offload_migrator`, can be
   * switched to there, and callers may name it for their own calls. `EEXIST` for a taken name.
   */
  addProvider(m: Migrator, reasonMask = MIGRATE_REASONS_ALL): Effect.Effect<void, ErrnoError> {
    return this.locked(
      Effect.suspend(() => {
        const bad =
          this.checkRunning("addProvider") ?? checkMigrator(m) ?? this.checkMask(reasonMask);
        if (bad) return Effect.fail(bad);
        const existing = this.providers.get(m.name);
        if (existing && existing.migrator !== m)
          return Effect.fail(errno("EEXIST", `a migrator named ${m.name} exists`));
        if (!existing)
          this.providers.set(m.name, { migrator: m, reasonMask, counters: newCounters() });
        return Effect.void;
      }),
    );
  }

  /**
   * Withdraws a provider. `EBUSY` while it is active; otherwise it leaves the list and a grace
   * period passes, so no caller that named it is still inside it.
   */
  removeProvider(m: Migrator): Effect.Effect<void, ErrnoError> {
    return this.locked(
      Effect.suspend(() => {
        const p = this.providers.get(m?.name);
        if (!p || p.migrator !== m)
          return Effect.fail(errno("ENOENT", `migrator ${m?.name} is not registered`));
        if (this.active === p) return Effect.fail(errno("EBUSY", `migrator ${m.name} is active`));
        this.providers.delete(m.name);
        return this.srcu.synchronize();
      }),
    );
  }

  /**
   * `migrate_offload_register()`: makes `m` the active migrator, registering it as a provider
   * if needed. `reasonMask` replaces its mask when given.
   */
  register(m: Migrator, reasonMask?: number): Effect.Effect<void, ErrnoError> {
    return this.locked(
      Effect.suspend(() => {
        const down = this.checkRunning("migrate_offload_register");
        return down ? Effect.fail(down) : this.activate(m, reasonMask);
      }),
    );
  }

  /** `migrate_offload_unregister()`: stops the active migrator; `EINVAL` for any other. */
  unregister(m: Migrator): Effect.Effect<void, ErrnoError> {
    return this.locked(
      Effect.suspend(() => {
        if (!this.active || this.active.migrator !== m) {
          return Effect.fail(errno("EINVAL", `migrator ${m?.name} is not the active one`));
        }
        return this.deactivate();
      }),
    );
  }

  /** `migrate_offload_start()`: the v4 name of {@link register}. */
  start(m: Migrator, reasonMask?: number): Effect.Effect<void, ErrnoError> {
    return this.register(m, reasonMask);
  }

  /** `migrate_offload_stop()`: the v4 name of {@link unregister}. */
  stop(m: Migrator): Effect.Effect<void, ErrnoError> {
    return this.unregister(m);
  }

  /**
   * Switches the active migrator to the provider `name`, or to none: the new one is pinned
   * first, then the old one is unregistered with its grace period, then the new one activated.
   * Nothing changes when the new one cannot be pinned.
   */
  switchTo(name: string): Effect.Effect<void, ErrnoError> {
    return this.locked(
      Effect.suspend(() => {
        if (name === "none") return this.active ? this.deactivate() : Effect.void;
        const down = this.checkRunning("offload_migrator");
        if (down) return Effect.fail(down);
        const p = this.providers.get(name);
        if (!p) return Effect.fail(errno("EINVAL", `no migrator named ${JSON.stringify(name)}`));
        if (this.active === p) return Effect.void;
        const owner = p.migrator.owner;
        if (owner && !tryModuleGet(owner))
          return Effect.fail(errno("ENODEV", `module ${owner.name} is going`));
        return (this.active ? this.deactivate() : Effect.void).pipe(
          Effect.tap(() =>
            Effect.sync(() => {
              this.active = p;
              this.installCopier(this.dispatcher);
            }),
          ),
        );
      }),
    );
  }

  /** Sets the reason mask of a provider (the active one by default). */
  setReasonMask(mask: number, name = this.activeName): Effect.Effect<void, ErrnoError> {
    return Effect.suspend(() => {
      const bad = this.checkMask(mask);
      if (bad) return Effect.fail(bad);
      const p = name === null ? undefined : this.providers.get(name);
      if (!p) return Effect.fail(errno("ENODEV", "no migrator to set the reason mask of"));
      p.reasonMask = mask;
      return Effect.void;
    });
  }

  /**
   * The copier for a caller that names provider `name` for its own `migratePages` call (open
   * question 2 of v3), or null when no such provider is registered. It reads the provider under
   * SRCU on every call and falls back to the CPU copy once the provider is withdrawn.
   */
  copierFor(name: string): BatchCopier | null {
    if (!this.providers.has(name)) return null;
    const told = this.providers.get(name)!.migrator.batchDone !== undefined;
    return this.interposed(this.copierOf(() => this.providers.get(name) ?? null, told));
  }

  /** `ESHUTDOWN` once the kernel has begun to shut down: nothing new is offered a migrator. */
  private checkRunning(call: string): ErrnoError | null {
    return this.k.state === "running"
      ? null
      : errno("ESHUTDOWN", `${call}: the kernel has shut down`);
  }

  private checkMask(mask: number): ErrnoError | null {
    return Number.isInteger(mask) && mask >= 0 && mask <= MIGRATE_REASONS_ALL
      ? null
      : errno("EINVAL", `reason mask ${mask} is not a set of MR_* bits`);
  }

  private locked<A, E extends ErrnoError>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> {
    return this.mutex.withPermit(effect);
  }

  private activate(m: Migrator, reasonMask?: number): Effect.Effect<void, ErrnoError> {
    const bad = checkMigrator(m) ?? (reasonMask === undefined ? null : this.checkMask(reasonMask));
    if (bad) return Effect.fail(bad);
    if (this.active)
      return Effect.fail(errno("EBUSY", `migrator ${this.active.migrator.name} is active`));
    const existing = this.providers.get(m.name);
    if (existing && existing.migrator !== m)
      return Effect.fail(errno("EEXIST", `another migrator is named ${m.name}`));
    if (m.owner && !tryModuleGet(m.owner))
      return Effect.fail(errno("ENODEV", `module ${m.owner.name} cannot be pinned`));
    const p = existing ?? { migrator: m, reasonMask: MIGRATE_REASONS_ALL, counters: newCounters() };
    if (reasonMask !== undefined) p.reasonMask = reasonMask;
    this.providers.set(m.name, p);
    this.active = p;
    this.installCopier(this.dispatcher);
    return Effect.void;
  }

  /** Disables the fast path, restores the default, waits a grace period, drops the module. */
  private deactivate(): Effect.Effect<void> {
    const old = this.active!;
    this.installCopier(null);
    this.active = null;
    return this.srcu.synchronize().pipe(
      Effect.tap(() =>
        Effect.sync(() => {
          if (old.migrator.owner) modulePut(old.migrator.owner);
        }),
      ),
    );
  }

  /**
   * A copier that finds its provider with `lookup` inside each SRCU read-side section. The calls
   * into the migrator are a boundary: whatever its callbacks do, the read lock is dropped and
   * `migrate_pages_batch()` gets a well-formed answer.
   *
   * - `shouldBatch` that throws or returns anything but a boolean means "do not batch" for that
   *   call; it is counted (`shouldBatchFailures`) and traced (`should_batch_failed`, with the
   *   reason).
   * - `batchDone` is told of a batch only by the provider `shouldBatch` asked about it, and only
   *   while that provider is still the one looked up: a migrator switched to meanwhile hears
   *   nothing of a batch it did not see formed.
   * - `batchDone` that throws: the batch is done all the same; it is counted
   *   (`batchDoneFailures`) and traced (`batch_done_failed`, with what it threw).
   * - `offloadCopy` that throws, returns something that is not an Effect, returns an Effect that
   *   fails, dies or is interrupted, or completes with anything but 0 or a negative errno is a
   *   broken callback: the copy failed with `-EIO`. Its marks are not trusted: every destination
   *   of the batch is unmarked, so the whole batch takes the CPU copy. It is counted
   *   (`copyFailures`) and traced (`offload_copy_done` with `-EIO` and the reason).
   *
   * `told`: whether the copier has a `batchDone` (its migrator has one).
   */
  private copierOf(lookup: () => Provider | null, told: boolean): BatchCopier {
    const k = this.k;
    const srcu = this.srcu;
    // The provider each batch was formed under, by the batch object: its end is told to that
    // one alone, not to one switched to since. The batch formed last is kept beside the map, and
    // goes into it only when another is formed before its end: batches of one call run one after
    // another, and a lookup in the map for each cost more than the rest of a declined batch's
    // bookkeeping.
    const formedUnder = new WeakMap<CopyBatch, Provider>();
    let lastBatch: CopyBatch | null = null;
    let lastProvider: Provider | null = null;
    const formedAs = (batch: CopyBatch, p: Provider): void => {
      if (lastBatch !== null && lastBatch !== batch) formedUnder.set(lastBatch, lastProvider!);
      lastBatch = batch;
      lastProvider = p;
    };
    const takeFormed = (batch: CopyBatch): Provider | undefined => {
      if (batch === lastBatch) {
        const p = lastProvider!;
        lastBatch = null;
        lastProvider = null;
        return p;
      }
      const p = formedUnder.get(batch);
      if (p) formedUnder.delete(batch);
      return p;
    };
    const batchDone = (outcome: BatchOutcome): void => {
      const formed = takeFormed(outcome.batch);
      if (!formed?.migrator.batchDone) return;
      const idx = srcu.readLock();
      try {
        const p = lookup();
        if (p !== formed || !p.migrator.batchDone) return;
        try {
          p.migrator.batchDone(outcome);
        } catch (error) {
          p.counters.batchDoneFailures++;
          if (k.trace.enabled)
            traceCall(
              k,
              p.migrator,
              "batch_done_failed",
              -ERRNO.EIO,
              `batchDone threw ${formatThrown(error)}`,
            );
        }
      } finally {
        srcu.readUnlock(idx);
      }
    };
    const copier: BatchCopier = {
      shouldBatch: (reason, batch) => {
        const idx = srcu.readLock();
        try {
          const p = lookup();
          if (told && p && batch) formedAs(batch, p);
          if (!p || !(p.reasonMask & (1 << reason))) return false;
          if (k.trace.enabled) traceCall(k, p.migrator, "should_batch", 0);
          if (p.migrator.shouldBatch === undefined) return false;
          let answer: unknown;
          try {
            answer = p.migrator.shouldBatch(reason, batch);
          } catch (error) {
            this.shouldBatchFailed(p, `shouldBatch threw ${formatThrown(error)}`);
            return false;
          }
          if (typeof answer === "boolean") return answer;
          this.shouldBatchFailed(p, `shouldBatch returned ${formatValue(answer)}, not a boolean`);
          return false;
        } finally {
          srcu.readUnlock(idx);
        }
      },
      // No `batchDone` unless the migrator has one: a batch then pays nothing to report its end.
      ...(told ? { batchDone } : {}),
      // One uninterruptible region: the read lock is always dropped, however the copy ends
      // (an error, a crash, an interruption), and the exit is accounted in the same step.
      copy: (dst, src, count, caller, batch) =>
        Effect.uninterruptibleMask((restore) => {
          const idx = srcu.readLock();
          const p = lookup();
          if (!p) {
            // Unregistered since the batch was formed: the default copy, as the static call reverts.
            const rc = migrateFoliosMcCopy(k, dst, src);
            srcu.readUnlock(idx);
            return Effect.succeed(rc);
          }
          const start = caller ? performance.now() : 0;
          if (k.trace.enabled) traceCall(k, p.migrator, "offload_copy", 0);
          const call = callEffect("offloadCopy", () =>
            p.migrator.offloadCopy(dst, src, count, batch),
          );
          return Effect.flatMap(Effect.exit(restore(call)), (exit) => {
            // smp_send_stop(): a copy that completes after a panic leads nowhere; the caller's
            // migration stops with the panic (its finalizers give back what it held).
            if (k.panicked !== null) {
              srcu.readUnlock(idx);
              return Effect.die(new KernelPanic(k.panicked));
            }
            const { rc, error } = offloadCopyResult(exit);
            if (error !== null) {
              // Nothing a broken callback marked is trusted: the CPU copies the whole batch.
              for (const folio of dst) k.memmap.clear(folio, FOLIO_CONTENT_COPIED);
            }
            if (k.trace.enabled) traceCall(k, p.migrator, "offload_copy_done", rc, error);
            srcu.readUnlock(idx);
            this.account(p, dst, rc, caller, caller ? performance.now() - start : 0);
            return Effect.succeed(rc);
          });
        }),
    };
    return copier;
  }

  /** Counts and traces a `shouldBatch` that threw or returned garbage. */
  private shouldBatchFailed(p: Provider, error: string): void {
    p.counters.shouldBatchFailures++;
    if (this.k.trace.enabled)
      traceCall(this.k, p.migrator, "should_batch_failed", -ERRNO.EIO, error);
  }

  private account(
    p: Provider,
    dst: FolioList,
    rc: number,
    caller: TaskStruct | null,
    ms: number,
  ): void {
    const m = this.k.memmap;
    const c = p.counters;
    for (const folio of dst) {
      if (m.test(folio, FOLIO_CONTENT_COPIED)) c.foliosCopied++;
      else c.foliosFallenBack++;
    }
    if (rc === 0) c.batchesOffloaded++;
    else if (rc === -ERRNO.EOPNOTSUPP) c.batchesDeclined++;
    else c.copyFailures++;
    if (caller) {
      caller.migration.offloadBatches++;
      caller.migration.offloadCopyMs += ms;
    }
  }

  private attributes(): Record<string, Attribute> {
    return {
      offload_migrator: {
        mode: 0o644,
        show: () => {
          const names = ["none", ...this.providers.keys()];
          const active = this.activeName ?? "none";
          return `${names.map((n) => (n === active ? `[${n}]` : n)).join(" ")}\n`;
        },
        store: (text, count) => {
          const name = text.endsWith("\n") ? text.slice(0, -1) : text;
          return this.switchTo(name.trim()).pipe(
            Effect.match({ onFailure: (error) => error.code, onSuccess: () => count }),
          );
        },
      },
      offload_reasons: {
        mode: 0o644,
        show: () => `${this.active ? formatReasonMask(this.active.reasonMask) : "none"}\n`,
        store: (text, count) => {
          const mask = parseReasonMask(text);
          if (typeof mask !== "number") return mask.code;
          if (!this.active) return -ERRNO.ENODEV;
          this.active.reasonMask = mask;
          return count;
        },
      },
      offload_stats: {
        mode: 0o444,
        show: () =>
          [...this.providers.entries()]
            .map(
              ([name, p]) =>
                `${name} batches_offloaded ${p.counters.batchesOffloaded} folios_copied ${p.counters.foliosCopied} folios_fallen_back ${p.counters.foliosFallenBack} batches_declined ${p.counters.batchesDeclined} copy_failures ${p.counters.copyFailures} should_batch_failures ${p.counters.shouldBatchFailures} batch_done_failures ${p.counters.batchDoneFailures}\n`,
            )
            .join(""),
      },
    };
  }
}
