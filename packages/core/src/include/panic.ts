/**
 * A kernel panic, as the code that panics and the calls it ends see it.
 *
 * Models `panic()` of `include/linux/panic.h` (`kernel/panic.c`, Linux 6.16): the kernel stops for
 * good, printing `Kernel panic - not syncing: <message>`; `panic()` never returns. Inside the
 * model the panic travels as an Effect defect, a {@link KernelPanic}, so that no kernel code can
 * take it for an error it handles (an allocation's `ENOMEM`, a shutdown's `ESHUTDOWN`): each step
 * of the panicking call unwinds, running only its finalizers. `Kernel.panic()` (`init/main.ts`)
 * raises it; the system call it ends fails, at its boundary (`Kernel.call()`), with `ESHUTDOWN`
 * naming the panic, and so does every call after it.
 *
 * @module
 */
import { Effect } from "effect";

/**
 * `panic()`'s message as the console shows it (`pr_emerg("Kernel panic - not syncing: %s\n")`,
 * `kernel/panic.c`): the message, its one trailing newline dropped, after that prefix.
 *
 * @category Kernel
 */
export const panicText = (message: string): string =>
  `Kernel panic - not syncing: ${message.endsWith("\n") ? message.slice(0, -1) : message}`;

/**
 * The defect a kernel panic unwinds its call with: `panic()` (`kernel/panic.c`, Linux 6.16), which
 * never returns. `message` is what `panic()` was given, its trailing newline dropped (as
 * `vpanic()` drops it); `text` is the console line. Code that runs a kernel internal outside a
 * system call (`allocPagesSlowpath()`, `outOfMemory()` called directly) sees it as the Effect's
 * defect; a system call sees `ESHUTDOWN` instead.
 *
 * @category Kernel
 */
export class KernelPanic {
  /** Discriminates a panic from other defects. */
  readonly _tag = "KernelPanic";
  /** `panic()`'s message, without its trailing newline: `"System is deadlocked on memory"`. */
  readonly message: string;
  constructor(message: string) {
    this.message = message.endsWith("\n") ? message.slice(0, -1) : message;
  }
  /** The console line: `Kernel panic - not syncing: System is deadlocked on memory`. */
  get text(): string {
    return panicText(this.message);
  }
}

/**
 * True for a {@link KernelPanic}: the defect of a call the kernel panicked in.
 *
 * @category Kernel
 */
export const isKernelPanic = (value: unknown): value is KernelPanic => value instanceof KernelPanic;

/**
 * A step's look for a panic after it was suspended: `smp_send_stop()` (`panic()`,
 * `kernel/panic.c`, Linux 6.16) stops every other CPU where it is, so nothing the kernel was
 * doing elsewhere goes on once the kernel has panicked. In the model the other CPUs' work is the
 * other fibers, which can only be suspended (waiting for a folio, a copy, a lock, a timer, or
 * yielding in the allocator's slow path) while the panicking one runs: each wait that resumes
 * after a panic ends here with the panic's {@link KernelPanic}, running only finalizers (locks
 * and references given back), as the panicking call does. `k` is the kernel, by its panic
 * message (`Kernel.panicked`, null while it runs).
 *
 * @category Kernel
 */
export const stopIfPanicked = (k: { readonly panicked: string | null }): Effect.Effect<void> =>
  Effect.suspend(() =>
    k.panicked === null ? Effect.void : Effect.die(new KernelPanic(k.panicked)),
  );
