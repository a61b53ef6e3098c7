/**
 * Read/write semaphores.
 *
 * Models `struct rw_semaphore` (`include/linux/rwsem.h`, `kernel/locking/rwsem.c`, Linux 6.16):
 * many readers or one writer; a task that cannot have it sleeps on its wait list, in order, until
 * a release hands it over. In the model a sleeper is a suspended fiber, so a semaphore only ever
 * makes a fiber wait where its holder has itself yielded (a wait for a folio, a copy, the
 * allocator's slow path); taken and released within one synchronous step it costs two counter
 * updates. The lock type is small and used by the structures of `include/` (`mm->mmap_lock`,
 * `include/mmap_lock.ts`), so it lives here with its operations.
 *
 * @module
 */
import { Effect } from "effect";
import { type ErrnoError, errno } from "../errno";

/**
 * A task as a killable sleep sees it: whether it has `SIGKILL` pending
 * (`fatal_signal_pending()`), and the hook a fatal signal calls to wake it
 * (`TaskStruct.wakeKillable`).
 *
 * @category Kernel
 */
export interface KillableSleeper {
  /** `SIGKILL` is pending (`fatal_signal_pending()`): a killable sleep does not begin. */
  readonly sigkillPending: boolean;
  /** Set while the task sleeps killably: a fatal signal calls it to end the sleep. */
  wakeKillable: (() => void) | null;
}

/** `-EINTR` of a killable sleep a fatal signal ended. */
const killed = (what: string): ErrnoError =>
  errno("EINTR", `${what}: SIGKILL is pending for the sleeping task`);

/** One sleeper on a semaphore's wait list (`struct rwsem_waiter`). */
interface RwsemWaiter {
  /** `RWSEM_WAITING_FOR_WRITE` (true) or `RWSEM_WAITING_FOR_READ`. */
  readonly write: boolean;
  /** Wakes the sleeper, which then holds the semaphore (the handoff was made for it). */
  readonly wake: () => void;
}

/**
 * `MAX_READERS_WAKEUP` (`kernel/locking/rwsem.c`): the most readers one release wakes, 0x100.
 *
 * @category Kernel
 */
export const MAX_READERS_WAKEUP = 0x100;

/**
 * A read/write semaphore (`struct rw_semaphore`, `include/linux/rwsem.h`, Linux 6.16): held by
 * {@link readers} readers or by one writer ({@link writer}). A reader is admitted while no
 * writer holds it and no one waits (a waiting writer keeps new readers out, as Linux's
 * `RWSEM_FLAG_WAITERS` makes the fast path of `down_read()` fail); otherwise the task queues.
 * A release that leaves it free hands it to the first sleeper: a writer alone, or, when a reader
 * is first, the readers of the whole list together, skipping the writers between them, at most
 * {@link MAX_READERS_WAKEUP} (`rwsem_mark_wake()`, `kernel/locking/rwsem.c`), each woken
 * holding it, so nobody takes it in between. The sleeps are uninterruptible (`down_read()`, `down_write()`): an interrupted
 * fiber leaves the list, or, woken already, releases what was handed to it.
 *
 * @category Kernel
 */
export class RwSemaphore {
  /** Readers holding it (the reader count of `sem->count`). */
  readers = 0;
  /** Whether a writer holds it (`RWSEM_WRITER_LOCKED`). */
  writer = false;
  /** The sleepers, first in first out (`sem->wait_list`). */
  private readonly waiters: RwsemWaiter[] = [];

  /** Whether anyone sleeps on it (`RWSEM_FLAG_WAITERS`). */
  get contended(): boolean {
    return this.waiters.length > 0;
  }

  /** How many sleep on it (the length of `sem->wait_list`). */
  get nrWaiting(): number {
    return this.waiters.length;
  }

  /**
   * `down_read_trylock()`: takes it for reading when no writer holds it and no one waits; true
   * when taken.
   */
  tryRead(): boolean {
    if (this.writer || this.waiters.length > 0) return false;
    this.readers++;
    return true;
  }

  /** `down_write_trylock()`: takes it for writing when nobody holds it; true when taken. */
  tryWrite(): boolean {
    if (this.writer || this.readers > 0 || this.waiters.length > 0) return false;
    this.writer = true;
    return true;
  }

  /** `down_read()`: completes holding it for reading, sleeping while it cannot. */
  read(): Effect.Effect<void> {
    return Effect.suspend(() => (this.tryRead() ? Effect.void : this.sleep(false)));
  }

  /** `down_write()`: completes holding it for writing, sleeping while it cannot. */
  write(): Effect.Effect<void> {
    return Effect.suspend(() => (this.tryWrite() ? Effect.void : this.sleep(true)));
  }

  /**
   * `down_read_killable()` / `down_write_killable()`: as {@link RwSemaphore.read} or
   * {@link RwSemaphore.write}, but a
   * task with `SIGKILL` pending does not sleep, and one that gets it while asleep leaves the wait
   * list: both fail with `EINTR` (`rwsem_down_read_slowpath()` / `rwsem_down_write_slowpath()`
   * with `TASK_KILLABLE`, `kernel/locking/rwsem.c`, Linux 6.16).
   */
  lockKillable(write: boolean, task: KillableSleeper): Effect.Effect<void, ErrnoError> {
    return Effect.suspend(() => {
      if (write ? this.tryWrite() : this.tryRead()) return Effect.void;
      const what = write ? "down_write_killable" : "down_read_killable";
      if (task.sigkillPending) return Effect.fail(killed(what));
      return this.sleep(write, task, what);
    });
  }

  /** `up_read()`: a reader releases it; the last one hands it to the sleepers. */
  releaseRead(): void {
    this.readers--;
    if (this.readers === 0) this.wake();
  }

  /** `up_write()`: the writer releases it and hands it to the sleepers. */
  releaseWrite(): void {
    this.writer = false;
    this.wake();
  }

  /**
   * Queues the caller and suspends it until a release hands the semaphore over; with `task`
   * (a killable sleep), until `task` gets `SIGKILL`, which fails it with `EINTR`.
   */
  private sleep(write: boolean): Effect.Effect<void>;
  private sleep(
    write: boolean,
    task: KillableSleeper,
    what: string,
  ): Effect.Effect<void, ErrnoError>;
  private sleep(
    write: boolean,
    task?: KillableSleeper,
    what = "",
  ): Effect.Effect<void, ErrnoError> {
    return Effect.suspend(() => {
      let owned = false;
      let waiter: RwsemWaiter | null = null;
      const leave = () => {
        const at = this.waiters.indexOf(waiter!);
        if (at >= 0) this.waiters.splice(at, 1);
        // A writer that leaves the head may let readers in behind it.
        if (at === 0 && !this.writer) this.wake();
      };
      const wait = Effect.callback<void, ErrnoError>((resume) => {
        waiter = {
          write,
          wake: () => {
            owned = true;
            if (task) task.wakeKillable = null;
            resume(Effect.void);
          },
        };
        this.waiters.push(waiter);
        if (task)
          task.wakeKillable = () => {
            task.wakeKillable = null;
            leave();
            resume(Effect.fail(killed(what)));
          };
        return Effect.sync(() => {
          if (task) task.wakeKillable = null;
          leave();
        });
      });
      return Effect.onInterrupt(wait, () =>
        Effect.sync(() => {
          if (!owned) return;
          if (write) this.releaseWrite();
          else this.releaseRead();
        }),
      );
    });
  }

  /**
   * `rwsem_wake()`: hands a free semaphore to the writer at the head, or, when a reader is at
   * the head, to every queued reader up to {@link MAX_READERS_WAKEUP}, the writers keeping their
   * places (`rwsem_mark_wake()`).
   */
  private wake(): void {
    if (this.writer) return;
    const first = this.waiters[0];
    if (!first) return;
    if (first.write) {
      if (this.readers > 0) return;
      this.waiters.shift();
      this.writer = true;
      first.wake();
      return;
    }
    // One pass: the readers woken leave the list, everyone else keeps their order.
    const woken: RwsemWaiter[] = [];
    let kept = 0;
    for (const waiter of this.waiters) {
      if (!waiter.write && woken.length < MAX_READERS_WAKEUP) woken.push(waiter);
      else this.waiters[kept++] = waiter;
    }
    this.waiters.length = kept;
    this.readers += woken.length;
    for (const reader of woken) reader.wake();
  }
}
