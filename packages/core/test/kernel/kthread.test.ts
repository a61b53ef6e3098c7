// kthread_run() (include/linux/kthread.h, kernel/kthread.c, Linux 6.16) for the per-node daemons:
// a thread that ends leaves pgdat->kswapd / pgdat->kcompactd empty; one that dies of a fault is
// reported (an oops is printed before make_task_dead(), kernel/exit.c) and claims no live thread.
import { Deferred, Effect, Fiber } from "effect";
import { describe, expect, it } from "vitest";
import { errno } from "../../src/errno";
import { type KthreadSlot, kthreadRun, kthreadStop, NodeKthreads } from "../../src/kernel/kthread";
import { boot, run, runP } from "../../src/testing/index";

const settle = async () => {
  for (let i = 0; i < 5; i++) await runP(Effect.yieldNow);
};

/** A daemon on each of two nodes whose body is `body(nid)`. */
const daemons = (body: (nid: number) => Effect.Effect<void, unknown>) => {
  const k = boot({ nodes: ["16M", "16M"] });
  const slots: KthreadSlot[] = [0, 1].map(() => ({ fiber: null, stopping: false }));
  const threads = new NodeKthreads(k, slots, {
    name: "kdaemon",
    start: body,
    wake: () => {},
    reset: () => {},
  });
  return { k, slots, threads };
};

describe("kthreadRun(): how a daemon thread ends", () => {
  it("a body that fails with an error other than ESHUTDOWN is reported at shutdown and leaves its slot empty", async () => {
    const { k, threads } = daemons((nid) =>
      nid === 1 ? Effect.fail(errno("EIO", "the daemon's scan failed")) : Effect.never,
    );
    run(threads.runAll());
    await settle();
    expect(threads.has(0)).toBe(true);
    expect(threads.has(1)).toBe(false);
    const exit = await runP(Effect.exit(k.shutdown()));
    expect(exit._tag).toBe("Failure");
    const message = JSON.stringify(exit);
    expect(message).toContain("EBUSY");
    expect(message).toContain("kdaemon1 died");
    expect(message).toContain("the daemon's scan failed");
  });

  it("a defect is reported as well, even after the daemons were stopped", async () => {
    const { k, threads } = daemons(() => Effect.die(new Error("bad state")));
    run(threads.runAll());
    await settle();
    expect([threads.has(0), threads.has(1)]).toEqual([false, false]);
    await runP(threads.stopAll());
    const exit = await runP(Effect.exit(k.shutdown()));
    const message = JSON.stringify(exit);
    expect(message).toContain("kdaemon0 died");
    expect(message).toContain("bad state");
  });

  it("a body that ends with ESHUTDOWN ends quietly and leaves its slot empty", async () => {
    const { k, threads } = daemons(() =>
      Effect.fail(errno("ESHUTDOWN", "the kernel has shut down")),
    );
    run(threads.runAll());
    await settle();
    expect([threads.has(0), threads.has(1)]).toEqual([false, false]);
    await runP(k.shutdown());
  });

  it("a start after a death (memory onlined again) runs a new thread in the emptied slot", async () => {
    let starts = 0;
    const { k, threads } = daemons(() => {
      starts++;
      return starts === 1 ? Effect.fail(errno("EIO", "first run failed")) : Effect.never;
    });
    run(threads.runAll());
    await settle();
    expect([threads.has(0), threads.has(1)]).toEqual([false, true]);
    run(threads.runNode(0));
    await settle();
    expect([threads.has(0), threads.has(1)]).toEqual([true, true]);
    expect(starts).toBe(3);
    await expect(runP(k.shutdown())).rejects.toThrow("kdaemon0 died");
  });
});

// kthread_stop() (kernel/kthread.c, Linux 6.16) waits in wait_for_completion(&kthread->exited),
// which no signal ends: the stop returns only once its thread has ended.
describe("kthreadStop(): the wait for the thread's end", () => {
  /** A slot whose thread runs `body(gate)`, and a stop of it forked, counting its resets. */
  const stopping = (
    body: (slot: KthreadSlot, gate: Deferred.Deferred<void>) => Effect.Effect<void>,
  ) => {
    const slot: KthreadSlot = { fiber: null, stopping: false };
    const gate = Deferred.makeUnsafe<void>();
    const resets = { n: 0 };
    run(kthreadRun(slot, body(slot, gate), () => {}));
    const thread = slot.fiber;
    const stop = Effect.runFork(
      kthreadStop(
        slot,
        () => {},
        () => resets.n++,
      ),
    );
    return { slot, gate, resets, thread, stop };
  };

  it("an interrupted stop still waits for the thread, then empties the slot and resets once", async () => {
    const { slot, gate, resets, thread, stop } = stopping((_, gate) => Deferred.await(gate));
    expect(thread).not.toBeNull();
    await settle();
    const interrupted = Effect.runFork(Fiber.interrupt(stop));
    await settle();
    expect(interrupted.pollUnsafe()).toBeUndefined();
    expect(slot.fiber).toBe(thread);
    expect(slot.stopping).toBe(true);
    Deferred.doneUnsafe(gate, Effect.void);
    await runP(Fiber.join(interrupted));
    expect(thread!.pollUnsafe()).toBeDefined();
    expect(slot.fiber).toBeNull();
    expect(slot.stopping).toBe(false);
    expect(resets.n).toBe(1);
  });

  it("a thread started in the slot before the stop returns is left alone", async () => {
    // The old thread's last act starts the next one in the same slot (as a start racing the stop).
    const {
      slot,
      gate,
      resets,
      thread: old,
      stop,
    } = stopping((slot, gate) =>
      Effect.andThen(
        Deferred.await(gate),
        kthreadRun(slot, Effect.never, () => {}),
      ),
    );
    await settle();
    Deferred.doneUnsafe(gate, Effect.void);
    await runP(Fiber.join(stop));
    expect(slot.fiber).not.toBeNull();
    expect(slot.fiber).not.toBe(old);
    expect(slot.stopping).toBe(false);
    expect(resets.n).toBe(0);
    run(Fiber.interrupt(slot.fiber!));
  });
});
