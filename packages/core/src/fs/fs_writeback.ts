/**
 * The flusher: background writeback of dirty file pages.
 *
 * Models the bdi writeback worker of `fs/fs-writeback.c` (Linux 6.16) for the model's one
 * `backing_dev_info`, which every regular file's storage shares: `wb_workfn()` and
 * `wb_do_writeback()` with `wb_check_start_all()` (the writeback of every dirty page that reclaim
 * asks for, `wakeup_flusher_threads(WB_REASON_VMSCAN)`) and `wb_check_old_data_flush()` (the
 * periodic writeback, every `dirty_writeback_centisecs`, of the files dirty for longer than
 * `dirty_expire_centisecs`), `wb_writeback()` with `queue_io()` choosing the files dirtied before
 * the work's cut-off, `writeback_single_inode()` writing each through `write_cache_pages()`
 * (`WB_SYNC_NONE`, `mm/page_writeback.ts`) and `requeue_inode()` taking a file off the dirty
 * list once it is clean; `__mark_inode_dirty()` and `wb_wakeup_delayed()` arm the worker when a
 * file goes dirty; and the `/proc/sys/vm` files `dirty_writeback_centisecs` and
 * `dirty_expire_centisecs` (`mm/page-writeback.c`). The worker is a daemon fiber on Effect's
 * `Clock`: asleep with no timer while nothing is dirty, so an idle kernel keeps no timer alive.
 *
 * Not modelled: the dirty limits and background writeback over the background threshold
 * (`wb_check_background_flush()`, `balance_dirty_pages()`), `nr_to_write` chunks (each file is
 * written whole), the writeback of inode metadata and `dirtytime`.
 *
 * @module
 */
import { Clock, Deferred, Duration, Effect } from "effect";
import { type ErrnoError, errno } from "../errno";
import {
  type BdiWriteback,
  DIRTY_EXPIRE_CENTISECS,
  DIRTY_WRITEBACK_CENTISECS,
  type WbReason,
} from "../include/backing_dev";
import type { Kernel } from "../include/kernel";
import type { AddressSpace } from "../include/mm_types";
import { PG_dirty } from "../include/page_flags";
import { type KthreadSlot, kthreadRun, kthreadStop, kthreadsInterrupt } from "../kernel/kthread";
import { procDointvecEntry, procDointvecMinmax } from "../kernel/sysctl";
import { mappingFolios } from "../mm/filemap";
import { writeCachePages } from "../mm/page_writeback";

/** `mapping_tagged(mapping, PAGECACHE_TAG_DIRTY)`: some cached folio of the file is dirty. */
const mappingDirty = (k: Kernel, mapping: AddressSpace): boolean => {
  for (const head of mappingFolios(mapping)) if (k.memmap.test(head, PG_dirty)) return true;
  return false;
};

/**
 * A kernel's flusher ({@link BdiWriteback}): `bdi->wb` of the files' one `backing_dev_info` and
 * its worker.
 *
 * @category Reclaim
 */
export class BdiWritebackState implements BdiWriteback {
  dirtyWritebackCentisecs = DIRTY_WRITEBACK_CENTISECS;
  dirtyExpireCentisecs = DIRTY_EXPIRE_CENTISECS;
  readonly dirtyInodes = new Set<AddressSpace>();
  /** The worker's thread. */
  private readonly slot: KthreadSlot = { fiber: null, stopping: false };
  private enabled = false;
  /** The clock of the fiber that started the worker: the model's `jiffies` for writeback. */
  private clock: Clock.Clock | null = null;
  /** `WB_start_all` (`wb->state`): a writeback of every dirty page is asked for. */
  private startAll = false;
  /** When the delayed work (`wb->dwork`) is due, in ms; null when it is not queued. */
  private dueAt: number | null = null;
  /** `wb->last_old_flush`: when the last periodic writeback ran, in ms. */
  private lastOldFlush = 0;
  /** The worker sleeps, waiting for {@link wait} or its timer. */
  private waiting = false;
  private wait = Deferred.makeUnsafe<void>();
  private unregister: (() => void) | null = null;
  /** What the worker died of, if it did, until kernel shutdown. */
  private readonly failures: string[] = [];

  constructor(private readonly k: Kernel) {}

  get running(): boolean {
    return this.enabled;
  }

  /** `jiffies` in ms: the worker's clock, or 0 before it first ran. */
  private now(): number {
    return this.clock?.currentTimeMillisUnsafe() ?? 0;
  }

  /** `dirty_writeback_interval` in ms; 0 when periodic writeback is off. */
  private intervalMs(): number {
    return (this.dirtyWritebackCentisecs >>> 0) * 10;
  }

  /** Wakes the worker so that it looks at its work and its timer again. */
  private kick(): void {
    if (!this.waiting) return;
    this.waiting = false;
    Deferred.doneUnsafe(this.wait, Effect.void);
  }

  sleeping(): boolean {
    return this.slot.fiber !== null && this.waiting;
  }

  /**
   * `wb_wakeup_delayed()` (`fs/fs-writeback.c`): queues the worker's run in
   * `dirty_writeback_centisecs`, unless it is queued already or the interval is 0.
   */
  private wakeupDelayed(): void {
    const interval = this.intervalMs();
    if (!this.enabled || interval === 0 || this.dueAt !== null) return;
    this.dueAt = this.now() + interval;
    this.kick();
  }

  markInodeDirty(mapping: AddressSpace): void {
    if (!mapping.backing || mapping.dirtiedWhen !== null) return;
    mapping.dirtiedWhen = this.now();
    const first = this.dirtyInodes.size === 0;
    this.dirtyInodes.add(mapping);
    if (first) this.wakeupDelayed();
  }

  inodeSynced(mapping: AddressSpace): void {
    if (!this.dirtyInodes.has(mapping) || mappingDirty(this.k, mapping)) return;
    this.dirtyInodes.delete(mapping);
    mapping.dirtiedWhen = null;
  }

  wakeupFlusherThreads(_reason: WbReason): void {
    // __wakeup_flusher_threads_bdi(): only a bdi with dirty I/O; wb_start_writeback(): once.
    if (!this.enabled || this.dirtyInodes.size === 0 || this.startAll) return;
    this.startAll = true;
    // wb_wakeup(): the delayed work runs now.
    this.dueAt = this.now();
    this.kick();
  }

  /**
   * `wb_writeback()` (`fs/fs-writeback.c`, Linux 6.16) with `queue_io()`: writes back each file
   * dirtied at or before `dirtiedBefore` (oldest first), whole, with `WB_SYNC_NONE`; then
   * `requeue_inode()`: a file left clean leaves the dirty list (`inode_cleaned`), one dirtied
   * again meanwhile goes back to its tail (`redirty_tail_locked()`, stamped now when it would
   * otherwise be older than the file before it).
   */
  private wbWriteback(dirtiedBefore: number): Effect.Effect<void> {
    const self = this;
    const k = this.k;
    return Effect.gen(function* () {
      const io = [...self.dirtyInodes].filter((m) => m.dirtiedWhen! <= dirtiedBefore);
      for (const mapping of io) {
        yield* writeCachePages(k, mapping, "none");
        self.dirtyInodes.delete(mapping);
        if (!mappingDirty(k, mapping)) {
          mapping.dirtiedWhen = null;
          continue;
        }
        const tail = [...self.dirtyInodes].at(-1);
        if (tail && mapping.dirtiedWhen! < tail.dirtiedWhen!) mapping.dirtiedWhen = self.now();
        self.dirtyInodes.add(mapping);
      }
    });
  }

  /**
   * `wb_do_writeback()` (`fs/fs-writeback.c`, Linux 6.16): the writeback of everything asked for
   * by reclaim (`wb_check_start_all()`: every file dirtied before now), then the periodic one
   * when `dirty_writeback_centisecs` have passed since the last (`wb_check_old_data_flush()`:
   * the files dirtied `dirty_expire_centisecs` ago or more).
   */
  private doWriteback(): Effect.Effect<void> {
    const self = this;
    return Effect.gen(function* () {
      if (self.startAll) {
        self.startAll = false;
        yield* self.wbWriteback(self.now());
      }
      const interval = self.intervalMs();
      if (interval === 0) return;
      const now = self.now();
      if (now < self.lastOldFlush + interval) return;
      self.lastOldFlush = now;
      if (self.dirtyInodes.size === 0) return;
      yield* self.wbWriteback(now - self.dirtyExpireCentisecs * 10);
    });
  }

  /** Sleeps until kicked, or for `ms` milliseconds when not null. */
  private sleep(ms: number | null): Effect.Effect<void> {
    this.waiting = true;
    const woken = Deferred.await(this.wait);
    const waited =
      ms === null
        ? woken
        : woken.pipe(
            Effect.timeoutOrElse({ duration: Duration.millis(ms), orElse: () => Effect.void }),
          );
    return Effect.map(waited, () => {
      this.waiting = false;
      this.wait = Deferred.makeUnsafe<void>();
    });
  }

  /**
   * `wb_workfn()` (`fs/fs-writeback.c`, Linux 6.16): the worker's loop. It sleeps until its
   * delayed work is due (a wake-up by reclaim makes it due now; with nothing dirty it sleeps with
   * no timer), then writes back ({@link doWriteback}) and, while some file is still dirty, queues
   * its next run `dirty_writeback_centisecs` later (`wb_wakeup_delayed()`).
   */
  private daemon(): Effect.Effect<void, ErrnoError> {
    const self = this;
    const k = this.k;
    return Effect.gen(function* () {
      for (;;) {
        if (k.state !== "running" || self.slot.stopping) return;
        const due = self.dueAt;
        const left = due === null ? null : due - self.now();
        if (left === null || left > 0) {
          yield* self.sleep(left);
          continue;
        }
        self.dueAt = null;
        yield* k.call("wb_workfn", self.doWriteback());
        if (self.dirtyInodes.size > 0) self.wakeupDelayed();
      }
    });
  }

  run(): Effect.Effect<void, ErrnoError> {
    const self = this;
    const k = this.k;
    return k.call(
      "bdi_writeback_run",
      Effect.gen(function* () {
        if (self.enabled) return yield* Effect.fail(errno("EBUSY", "the flusher runs already"));
        self.clock = yield* Clock.clockWith((clock) => Effect.succeed(clock));
        self.enabled = true;
        self.lastOldFlush = self.now();
        self.dueAt = null;
        self.waiting = false;
        self.wait = Deferred.makeUnsafe<void>();
        // Files dirtied before the worker ran are stamped with the time it starts.
        for (const mapping of self.dirtyInodes) mapping.dirtiedWhen = self.now();
        if (self.dirtyInodes.size > 0) self.wakeupDelayed();
        yield* kthreadRun(self.slot, self.daemon(), (failure) => {
          self.failures.push(`flush died: ${failure}`);
        });
        self.unregister ??= k.registerDevice({
          name: "flush",
          shutdown: () =>
            Effect.suspend(() => {
              self.enabled = false;
              const died = self.failures.splice(0);
              return Effect.andThen(
                kthreadsInterrupt([self.slot]),
                died.length === 0 ? Effect.void : Effect.fail(errno("EBUSY", died.join("; "))),
              );
            }),
        });
      }),
    );
  }

  stop(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (!this.enabled) return Effect.void;
      this.enabled = false;
      return Effect.ensuring(
        kthreadStop(
          this.slot,
          () => this.kick(),
          () => {
            this.waiting = false;
            this.dueAt = null;
            this.startAll = false;
            this.wait = Deferred.makeUnsafe<void>();
          },
        ),
        Effect.sync(() => {
          if (this.failures.length > 0) return;
          this.unregister?.();
          this.unregister = null;
        }),
      );
    });
  }
}

/**
 * Creates the flusher's files of `/proc/sys/vm` (`vm_page_writeback_sysctls[]`,
 * `mm/page-writeback.c`, Linux 6.16), both 0644 and read as a decimal line:
 * `dirty_writeback_centisecs` (default 500), any `int` (`proc_dointvec()`; the kernel keeps it
 * in an `unsigned int`, so a negative value is a very long period), whose write of a new value
 * other than 0 wakes the flusher (`dirty_writeback_centisecs_handler()`:
 * `wakeup_flusher_threads(WB_REASON_PERIODIC)`, so that the change takes effect at once); and
 * `dirty_expire_centisecs` (default 3000), an `int` from 0 up (`proc_dointvec_minmax()` with
 * `SYSCTL_ZERO`). `EINVAL` for anything else, the value unchanged.
 *
 * @category Reclaim
 */
export const writebackInitSysctl = (k: Kernel, wb: BdiWriteback): void => {
  const pageSize = k.mem.pageSize;
  k.fs.registerSysctl("vm", {
    dirty_writeback_centisecs: {
      mode: 0o644,
      show: () => `${wb.dirtyWritebackCentisecs}\n`,
      store: (text, count) => {
        const v = procDointvecMinmax("dirty_writeback_centisecs", text, count, pageSize);
        if (v instanceof Error) return v;
        if (!v) return 0;
        const old = wb.dirtyWritebackCentisecs;
        wb.dirtyWritebackCentisecs = v.value;
        if (v.value !== 0 && v.value !== old) wb.wakeupFlusherThreads("periodic");
        return v.consumed;
      },
    },
    dirty_expire_centisecs: procDointvecEntry(
      "dirty_expire_centisecs",
      pageSize,
      () => wb.dirtyExpireCentisecs,
      (v) => {
        wb.dirtyExpireCentisecs = v;
      },
      { min: 0 },
    ),
  });
};
