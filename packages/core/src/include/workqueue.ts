/**
 * Work a kernel runs outside any system call.
 *
 * Models the part of `include/linux/workqueue.h` the model needs: `system_wq`, onto which
 * `schedule_work()` queues, and `flush_workqueue()`.
 *
 * @module
 */
import type { Effect } from "effect";

/**
 * A kernel's workqueue (`struct workqueue_struct`, `include/linux/workqueue.h`, Linux 6.16):
 * work queued on it runs in a fiber of its own that the kernel tracks, so shutdown waits for it
 * ({@link Workqueue.flush}) before the memory it may touch goes.
 *
 * @category Kernel
 */
export interface Workqueue {
  /** The workqueue's name (`system_wq`'s is "events"). */
  readonly name: string;
  /**
   * `queue_work()` (`kernel/workqueue.c`): runs `work` now, in a fiber of its own, without
   * waiting for it; `label` names it while it runs ({@link Workqueue.pending}).
   */
  queue(label: string, work: Effect.Effect<void>): void;
  /** The labels of the work still running, oldest first. */
  pending(): readonly string[];
  /**
   * `flush_workqueue()` (`kernel/workqueue.c`): waits, uninterruptibly, until no work queued
   * before or during the flush still runs.
   */
  flush(): Effect.Effect<void>;
}
