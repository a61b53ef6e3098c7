/**
 * Full garbage collection on demand, for memory checks.
 *
 * Not a kernel interface: what `echo 3 > /proc/sys/vm/drop_caches` is to a kernel tester, a way
 * to see what is still reachable. It exposes V8's collector without the `--expose-gc` flag, the
 * same way copy threads collect when they detach.
 *
 * @module
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

let gc: (() => void) | null = null;

/**
 * Runs a full, blocking garbage collection of this thread's heap, so that memory nothing
 * references any more (a shut-down kernel's node buffers, say) goes back to the host and weak
 * references to it clear.
 *
 * @example
 * ```ts
 * import { Kernel } from "@migrate-offload/core";
 * import { collectGarbage } from "@migrate-offload/core/testing";
 * import { Effect } from "effect";
 *
 * const kernel = await Effect.runPromise(Kernel.boot({ nodes: ["64M"] }));
 * const ref = new WeakRef(kernel.mem.sections[0]!);
 * await Effect.runPromise(kernel.shutdown());
 * // A WeakRef holds its target until the task that made it ends: let it end.
 * await new Promise((resolve) => setTimeout(resolve, 0));
 * collectGarbage();
 * console.log(ref.deref()); // undefined: shutdown dropped the section and its memory
 * ```
 *
 * @category Testing
 */
export const collectGarbage = (): void => {
  if (!gc) {
    setFlagsFromString("--expose-gc");
    gc = runInNewContext("gc") as () => void;
  }
  gc();
};
