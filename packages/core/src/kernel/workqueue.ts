/**
 * The kernel's workqueue for work outside any system call.
 *
 * Models `system_wq` (`kernel/workqueue.c`, Linux 6.16) as the model uses it: `delayed_fput()`
 * (`fs/file_table.c`), a shmem object's release that no task can run, and the exit work of an
 * OOM victim (`exit_task_work()`), which on Linux the victim runs itself and here runs beside
 * the kill. Each runs in a fiber the kernel tracks; kernel shutdown flushes the queue
 * (`flush_workqueue()`), waiting for work asleep in `folio_lock()` as Linux's uninterruptible
 * sleep would, so none of it touches the memory map after the kernel has gone.
 *
 * @module
 */
import { Effect, Fiber } from "effect";
import type { Kernel } from "../include/kernel";
import type { Workqueue } from "../include/workqueue";

/**
 * `alloc_workqueue()` (`kernel/workqueue.c`, Linux 6.16): a {@link Workqueue} named `name`,
 * registered with `k` as a device whose shutdown flushes it.
 *
 * @category Kernel
 */
export class KernelWorkqueue implements Workqueue {
  private readonly running = new Map<Fiber.Fiber<void, never>, string>();

  constructor(
    k: Kernel,
    readonly name: string,
  ) {
    k.registerDevice({ name: `workqueue ${name}`, shutdown: () => this.flush() });
  }

  queue(label: string, work: Effect.Effect<void>): void {
    let fiber: Fiber.Fiber<void, never> | null = null;
    let ended = false;
    const end = Effect.sync(() => {
      ended = true;
      if (fiber) this.running.delete(fiber);
    });
    fiber = Effect.runFork(Effect.ensuring(Effect.uninterruptible(work), end));
    if (!ended) this.running.set(fiber, label);
  }

  pending(): readonly string[] {
    return [...this.running.values()];
  }

  flush(): Effect.Effect<void> {
    return Effect.uninterruptible(
      Effect.suspend(() => {
        const fibers = [...this.running.keys()];
        if (fibers.length === 0) return Effect.void;
        // Work queued meanwhile (a release that queues another) is waited for too.
        return Effect.andThen(Fiber.awaitAll(fibers), this.flush());
      }),
    );
  }
}
