/**
 * Per-node kernel threads as fibers: the parts of `kernel/kthread.c` that the node daemons
 * (`kswapd` in `mm/vmscan.ts`, `kcompactd` in `mm/compaction.ts`) start and stop with.
 *
 * @module
 */
import { Effect, Fiber } from "effect";
import { type ErrnoError, errno } from "../errno";
import type { Kernel } from "../include/kernel";

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
 * calling fiber's `Clock`. A thread ends quietly on an error (the kernel no longer taking calls,
 * `ESHUTDOWN`).
 */
export const kthreadRun = (slot: KthreadSlot, body: Effect.Effect<void, unknown>) =>
  Effect.suspend(() => {
    slot.stopping = false;
    return Effect.map(Effect.forkDetach(Effect.catch(body, () => Effect.void)), (fiber) => {
      slot.fiber = fiber;
    });
  });

/**
 * `kthread_stop()` (`kernel/kthread.c`): sets the thread's `kthread_should_stop()`, wakes it
 * (`wake`) and waits until it has ended; then the slot is empty and `reset` clears what the
 * thread waited on. Nothing when the slot has no thread.
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
    return Effect.ensuring(
      Effect.asVoid(Fiber.await(fiber)),
      Effect.sync(() => {
        slot.fiber = null;
        slot.stopping = false;
        reset();
      }),
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
 * `kswapd_run(nid)`). The model's kernels boot without them: {@link runAll} starts them, and
 * kernel shutdown interrupts them.
 */
export class NodeKthreads {
  /** Between {@link runAll} and {@link stopAll} or kernel shutdown. */
  enabled = false;
  private unregister: (() => void) | null = null;

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
      return kthreadRun(slot, this.ops.start(nid));
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
        this.unregister = this.k.registerDevice({
          name,
          shutdown: () =>
            Effect.suspend(() => {
              this.enabled = false;
              return kthreadsInterrupt(this.slots);
            }),
        });
      }),
    );
  }

  /** Stops every node's thread, waiting for each; nothing when they do not run. */
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
          this.unregister?.();
          this.unregister = null;
        }),
      );
    });
  }
}
