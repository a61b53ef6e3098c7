/**
 * The address-space lock.
 *
 * Models `include/linux/mmap_lock.h` (Linux 6.16): `mm->mmap_lock`, a read/write semaphore
 * ({@link RwSemaphore}), taken for reading by what only looks at or faults in the VMAs (a fault's
 * `lock_mm_and_find_vma()`, `__mm_populate()`, `get_mempolicy()`, `move_pages(2)`'s walk,
 * `migrate_pages(2)`, `madvise()` advice in read mode) and for writing by what changes them
 * (`mmap()`, `munmap()`, `mprotect()`, `mbind()`, `mlock()` and friends, `fork()`'s
 * `dup_mmap()`); the `oom_reaper` only tries it (`mmap_read_trylock()`).
 *
 * @module
 */
import { Effect } from "effect";
import type { ErrnoError } from "../errno";
import type { MmStruct } from "./mm_types";
import { stopIfPanicked } from "./panic";
import type { KillableSleeper } from "./rwsem";

/**
 * `mmap_read_trylock()` (`include/linux/mmap_lock.h`): takes `mm->mmap_lock` for reading when
 * no writer holds it and no one waits for it; true when taken.
 *
 * @category Address spaces
 */
export const mmapReadTrylock = (mm: MmStruct): boolean => mm.mmapLock.tryRead();

/**
 * `mmap_read_unlock()` (`include/linux/mmap_lock.h`).
 *
 * @category Address spaces
 */
export const mmapReadUnlock = (mm: MmStruct): void => mm.mmapLock.releaseRead();

/**
 * Runs `body` holding `mm->mmap_lock` for reading: `mmap_read_lock()` before, `mmap_read_unlock()`
 * after, however `body` ends (`include/linux/mmap_lock.h`). The lock is taken at once when it
 * is free; otherwise the fiber sleeps until a release hands it over.
 *
 * @category Address spaces
 */
export const withMmapReadLock = <A, E, R>(
  mm: MmStruct,
  body: Effect.Effect<A, E, R>,
): Effect.Effect<A, E, R> => withMmapLock(mm, false, mm.mmapLock.read(), body);

/**
 * Runs `body` holding `mm->mmap_lock` (for writing when `write`): taken at once when it is free,
 * else by `sleep` (a plain or killable sleep for it); released however `body` ends.
 */
const withMmapLock = <A, E, R, E2>(
  mm: MmStruct,
  write: boolean,
  sleep: Effect.Effect<void, E2>,
  body: Effect.Effect<A, E, R>,
): Effect.Effect<A, E | E2, R> =>
  Effect.uninterruptibleMask((restore) => {
    const lock = mm.mmapLock;
    const release = Effect.sync(() => (write ? lock.releaseWrite() : lock.releaseRead()));
    // Free: taken in this step, no interruption between it and the release's registration.
    if (write ? lock.tryWrite() : lock.tryRead()) return Effect.ensuring(restore(body), release);
    return Effect.acquireUseRelease(
      sleep,
      () => restore(body),
      () => release,
    );
  });

/**
 * Runs `body` holding `mm->mmap_lock` for writing: `mmap_write_lock()` before,
 * `mmap_write_unlock()` after, however `body` ends (`include/linux/mmap_lock.h`).
 *
 * @category Address spaces
 */
export const withMmapWriteLock = <A, E, R>(
  mm: MmStruct,
  body: Effect.Effect<A, E, R>,
): Effect.Effect<A, E, R> => withMmapLock(mm, true, mm.mmapLock.write(), body);

/**
 * Runs the synchronous `body` holding `mm->mmap_lock` for reading (`mmap_read_lock()` ...
 * `mmap_read_unlock()`): at once when the lock is free, as most of the model's steps never
 * yield while they hold it; otherwise after the sleep for it, unless the kernel `k` panicked
 * meanwhile (`smp_send_stop()`: the caller dies with the panic, `body` never runs).
 *
 * @category Address spaces
 */
export const mmapReadLocked = <A>(
  mm: MmStruct,
  body: () => A,
  k: { readonly panicked: string | null } = { panicked: null },
): Effect.Effect<A> => mmapLockedSync(mm, false, body, k);

/** {@link mmapReadLocked} and {@link mmapWriteLocked}: `write` picks the mode. */
const mmapLockedSync = <A>(
  mm: MmStruct,
  write: boolean,
  body: () => A,
  k: { readonly panicked: string | null },
): Effect.Effect<A> =>
  Effect.suspend(() => {
    const lock = mm.mmapLock;
    if (write ? lock.tryWrite() : lock.tryRead()) {
      try {
        return Effect.succeed(body());
      } finally {
        if (write) lock.releaseWrite();
        else lock.releaseRead();
      }
    }
    const sleep = write ? lock.write() : lock.read();
    return withMmapLock(mm, write, sleep, Effect.andThen(stopIfPanicked(k), Effect.sync(body)));
  });

/**
 * Runs the synchronous `body` holding `mm->mmap_lock` for writing (`mmap_write_lock()` ...
 * `mmap_write_unlock()`), at once when the lock is free; after a sleep for it, not once the
 * kernel `k` has panicked (see {@link mmapReadLocked}).
 *
 * @category Address spaces
 */
export const mmapWriteLocked = <A>(
  mm: MmStruct,
  body: () => A,
  k: { readonly panicked: string | null } = { panicked: null },
): Effect.Effect<A> => mmapLockedSync(mm, true, body, k);

/**
 * `mmap_write_lock_killable()` / `mmap_read_lock_killable()` (`include/linux/mmap_lock.h`,
 * Linux 6.16) around `body`: as {@link withMmapWriteLock} / {@link withMmapReadLock}, but a
 * `task` that has `SIGKILL` pending, or gets it while it sleeps for the lock, gives up with
 * `EINTR` before `body` runs (`RwSemaphore.lockKillable`). What `mmap()`, `munmap()`,
 * `mprotect()`, `mlock()`, write-mode `madvise()`, `fork()` and a fault's
 * `lock_mm_and_find_vma()` take.
 *
 * @category Address spaces
 */
export const withMmapLockKillable = <A, E, R>(
  mm: MmStruct,
  write: boolean,
  task: KillableSleeper,
  body: Effect.Effect<A, E, R>,
): Effect.Effect<A, E | ErrnoError, R> =>
  withMmapLock(mm, write, mm.mmapLock.lockKillable(write, task), body);
