/**
 * `@migrate-offload/core/promise`: the kernel with `async`/`await`, for code that does not use
 * Effect.
 *
 * A thin layer, not a second API. Every call of the kernel model (`kernel.createProcess()`,
 * `proc.mmap()`, `proc.movePages()`, `kernel.loadModule()`, `kernel.fs.write()`, …) returns an
 * `Effect`: a description of the call that has not happened yet. {@link run} performs one and
 * gives back a `Promise` of its value; {@link boot} boots a kernel the same way. The objects are
 * the main entry's own (`Kernel`, `Task`, `ErrnoError`), so everything the rest of the
 * documentation says about them holds, and code written this way mixes with Effect code.
 *
 * A failed call rejects with the call's own {@link ErrnoError} (`instanceof ErrnoError`, with
 * `errno` and `code`), never with a wrapper around it; a bug in the model (a defect) rejects with
 * the thrown value.
 *
 * ```ts
 * import { MPOL_MF_MOVE } from "@migrate-offload/core";
 * import { boot, run } from "@migrate-offload/core/promise";
 *
 * const kernel = await boot({ nodes: ["64M", "64M"] });
 * const proc = await run(kernel.createProcess({ node: 0 }));
 * const addr = await run(proc.mmap(1 << 20));
 * await run(proc.write(addr, new Uint8Array(1 << 20).fill(7)));
 * const { status } = await run(proc.movePages(0, [addr], [1], MPOL_MF_MOVE));
 * await run(kernel.shutdown());
 * ```
 *
 * @packageDocumentation
 */
import { Cause, Effect, Exit } from "effect";
import type { ErrnoError, SignalError } from "./errno";
import type { KernelConfig } from "./include/kernel";
import { Kernel } from "./init/main";

/**
 * Performs one kernel call and resolves with its value. An SDK helper with no kernel symbol:
 * `Effect.runPromise` with the failure unwrapped, so that a failed call rejects with its
 * {@link ErrnoError} (the errno the kernel returns, e.g. `EINVAL`, and what was wrong), an access
 * that faulted with its {@link SignalError}, and a defect with what was thrown.
 *
 * @example
 * ```ts
 * import type { ErrnoError } from "@migrate-offload/core";
 * import { boot, run } from "@migrate-offload/core/promise";
 *
 * const kernel = await boot({ nodes: ["16M"] });
 * const proc = await run(kernel.createProcess());
 * const errno = await run(proc.mmap(0)).catch((e: ErrnoError) => e.errno);
 * console.log(errno); // "EINVAL"
 * await run(kernel.shutdown());
 * ```
 * @category Promise
 */
export const run = <A, E extends ErrnoError | SignalError>(call: Effect.Effect<A, E>): Promise<A> =>
  Effect.runPromiseExit(call).then((exit) =>
    Exit.isSuccess(exit) ? exit.value : Promise.reject(Cause.squash(exit.cause)),
  );

/**
 * Boots a kernel (`start_kernel()`, `init/main.c`, as {@link Kernel.boot} does): resolves with
 * a {@link Kernel} that lives until `await run(kernel.shutdown())` or the end of an
 * `await using` block. Rejects with `EINVAL` for a malformed config and `ENOMEM` when the host
 * cannot allocate the machine.
 *
 * @category Promise
 */
export const boot = (config: KernelConfig): Promise<Kernel> => run(Kernel.boot(config));
