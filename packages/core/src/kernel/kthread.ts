/**
 * Per-node kernel threads as fibers: the parts of `kernel/kthread.c` that the node daemons
 * (`kswapd` in `mm/vmscan.ts`, `kcompactd` in `mm/compaction.ts`) start and stop with.
 *
 * @module
 */
import { Cause, Effect, Fiber } from "effect";
import { type ErrnoError, errno, isErrnoError } from "../errno";
import type { Kernel } from "../include/kernel";
import { isKernelPanic } from "../include/panic";

/**
 * A node's slot for one daemon (`pgdat->kswapd`, `pgdat->kcompactd`): the thread's fiber, null
 * when the node has none, and its `kthread_should_stop()`.
 */
export interface KthreadSlot {
  fiber: Fiber.Fiber<void, never> | null;
  /** `kthread_should_stop()`: set by {@link kthreadStop} until the thread has ended. */
  stopping: boolean;
}

/**
 * `kthread_run()` (`include/linux/kthread.h`): forks `body` as the slot's thread, detached, on the
 * calling fiber's `Clock`. A thread whose body ends (it returns, or the kernel no longer takes
 * its calls: `ESHUTDOWN`) leaves the slot empty. Any other failure of the body, typed or a defect,
 * is the thread's death, as an oops in a kernel thread ends it (`make_task_dead()`,
 * `kernel/exit.c`) after the oops is printed: the slot is emptied too, so that it no longer claims
 * a live thread, and `report` gets the failure's text (`Cause.pretty()`), which the daemon keeps
 * until the kernel shuts down ({@link NodeKthreads}). An interruption ({@link kthreadsInterrupt})
 * reports nothing.
 */
export const kthreadRun = (
  slot: KthreadSlot,
  body: Effect.Effect<void, unknown>,
  report: (failure: string) => void,
): Effect.Effect<void> =>
  Effect.suspend(() => {
    slot.stopping = false;
    let fiber: Fiber.Fiber<void, never> | null = null;
    let ended = false;
    const end = (failure: string | null) =>
      Effect.sync(() => {
        ended = true;
        if (fiber !== null && slot.fiber === fiber) {
          slot.fiber = null;
          slot.stopping = false;
        }
        if (failure !== null) report(failure);
      });
    const thread = Effect.catchCause(Effect.andThen(body, end(null)), (cause) => {
      if (Cause.hasInterruptsOnly(cause)) return Effect.interrupt;
      const error = Cause.squash(cause);
      // A panic stops the thread where it is (smp_send_stop()): no death to report.
      const shutdown = (isErrnoError(error) && error.errno === "ESHUTDOWN") || isKernelPanic(error);
      return end(shutdown ? null : Cause.pretty(cause));
    });
    return Effect.map(Effect.forkDetach(thread), (forked) => {
      fiber = forked;
      // A body that already ended (it failed before the fork returned) claims no slot.
      if (!ended) slot.fiber = forked;
    });
  });

/**
 * `kthread_stop()` (`kernel/kthread.c`): sets the thread's `kthread_should_stop()`, wakes it
 * (`wake`) and waits until it has ended, uninterruptibly (`wait_for_completion()`); then the slot
 * is empty and `reset` clears what the thread waited on, unless a new thread took the slot
 * meanwhile (it is left alone). Nothing when the slot has no thread.
 */
export const kthreadStop = (
  slot: KthreadSlot,
  wake: () => void,
  reset: () => void,
): Effect.Effect<void> =>
  Effect.suspend(() => {
    const fiber = slot.fiber;
    if (!fiber) return Effect.void;
    slot.stopping = true;
    wake();
    // wait_for_completion(&kthread->exited): uninterruptible, so the stop never returns, even
    // interrupted, while its thread still runs; and it empties only its own thread's slot, not
    // one a new thread took meanwhile.
    return Effect.uninterruptible(
      Effect.andThen(
        Fiber.await(fiber),
        Effect.sync(() => {
          if (slot.fiber !== fiber && slot.fiber !== null) return;
          slot.fiber = null;
          slot.stopping = false;
          reset();
        }),
      ),
    );
  });

/**
 * What kernel shutdown does to a kind of daemon: interrupts the thread of every slot and empties
 * the slots.
 */
export const kthreadsInterrupt = (slots: readonly KthreadSlot[]): Effect.Effect<void> =>
  Effect.suspend(() => {
    const fibers: Fiber.Fiber<void, never>[] = [];
    for (const slot of slots) {
      if (slot.fiber) fibers.push(slot.fiber);
      slot.fiber = null;
    }
    return Fiber.interruptAll(fibers);
  });

/**
 * What a kind of per-node daemon does around its threads ({@link NodeKthreads}).
 */
export interface NodeKthreadOps {
  /** The daemon's name (`"kswapd"`): `<name>_run` is the call that starts them all. */
  readonly name: string;
  /** Node `nid`'s thread body, after resetting what a new thread starts from. */
  start(nid: number): Effect.Effect<void, unknown>;
  /** Wakes node `nid`'s thread so that it sees `kthread_should_stop()`. */
  wake(nid: number): void;
  /** Clears what node `nid`'s ended thread waited on. */
  reset(nid: number): void;
}

/**
 * One kind of per-node daemon (`kswapd`, `kcompactd`): a thread per node with memory while the
 * daemons run, which memory hotplug stops and starts node by node (`kswapd_stop(nid)`,
 * `kswapd_run(nid)`). The kernels boot with them ({@link runAll}), unless booted
 * with `daemons: "on-demand"`, and kernel shutdown interrupts them. A thread that dies of a failure ({@link kthreadRun}) leaves
 * its node without a thread (hotplug's next `runNode` starts a new one) and its failure on record:
 * kernel shutdown then fails (`EBUSY`, naming `<name><nid> died: <failure>` under the daemon's
 * device), even after {@link stopAll}.
 */
export class NodeKthreads {
  /** Between {@link runAll} and {@link stopAll} or kernel shutdown. */
  enabled = false;
  private unregister: (() => void) | null = null;
  /** What each thread that died of a failure died of, in order, until kernel shutdown. */
  private readonly failures: string[] = [];

  constructor(
    private readonly k: Kernel,
    private readonly slots: readonly KthreadSlot[],
    private readonly ops: NodeKthreadOps,
  ) {}

  /** Whether node `nid` has its thread (`pgdat->kswapd` is not NULL). */
  has(nid: number): boolean {
    return this.slots[nid]?.fiber != null;
  }

  /** Starts node `nid`'s thread unless it has one; nothing while the daemons do not run. */
  runNode(nid: number): Effect.Effect<void> {
    return Effect.suspend(() => {
      const slot = this.slots[nid];
      if (!this.enabled || !slot || slot.fiber) return Effect.void;
      return kthreadRun(slot, this.ops.start(nid), (failure) => {
        this.failures.push(`${this.ops.name}${nid} died: ${failure}`);
      });
    });
  }

  /** {@link kthreadStop} of node `nid`'s thread. */
  stopNode(nid: number): Effect.Effect<void> {
    const slot = this.slots[nid];
    if (!slot) return Effect.void;
    return kthreadStop(
      slot,
      () => this.ops.wake(nid),
      () => this.ops.reset(nid),
    );
  }

  /**
   * Starts a thread for every node with memory now, and registers their stop at kernel shutdown.
   * `EBUSY` when they run already.
   */
  runAll(): Effect.Effect<void, ErrnoError> {
    const { name } = this.ops;
    return this.k.call(
      `${name}_run`,
      Effect.gen({ self: this }, function* () {
        if (this.enabled) return yield* Effect.fail(errno("EBUSY", `${name} runs already`));
        this.enabled = true;
        for (let nid = 0; nid < this.slots.length; nid++) {
          if (this.k.nodeHasMemory(nid)) yield* this.runNode(nid);
        }
        // Still registered when a stop left a failure to report.
        this.unregister ??= this.k.registerDevice({
          name,
          shutdown: () =>
            Effect.suspend(() => {
              this.enabled = false;
              const died = this.failures.splice(0);
              return Effect.andThen(
                kthreadsInterrupt(this.slots),
                died.length === 0 ? Effect.void : Effect.fail(errno("EBUSY", died.join("; "))),
              );
            }),
        });
      }),
    );
  }

  /**
   * Stops every node's thread, waiting for each; nothing when they do not run. A failure a
   * thread died of stays on record for kernel shutdown.
   */
  stopAll(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (!this.enabled) return Effect.void;
      this.enabled = false;
      return Effect.ensuring(
        Effect.forEach(this.slots, (_, nid) => this.stopNode(nid), {
          concurrency: "unbounded",
          discard: true,
        }),
        Effect.sync(() => {
          if (this.failures.length > 0) return;
          this.unregister?.();
          this.unregister = null;
        }),
      );
    });
  }
}
