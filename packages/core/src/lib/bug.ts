/**
 * Callbacks that misbehave.
 *
 * Models what `report_bug()` (`lib/bug.c`) does when code the kernel calls into goes wrong: the
 * fault is caught where the kernel called, reported with what went wrong, and the kernel carries
 * on. Here the code is a driver's or a user's JavaScript: a migrator's `offloadCopy`, a module's
 * `init` or `exit`, a sysfs attribute's `store`. Such a callback may throw, return something that
 * is not an Effect, or return an Effect that fails or dies; {@link callEffect} turns each of these
 * into a {@link CallbackBug} naming the callback and what it did, so that the caller can release
 * its locks and answer with the kernel's errno instead of dying with the raw exception.
 *
 * @module
 */
import { Cause, Effect, Fiber } from "effect";

/**
 * A value as a report names it: strings quoted, objects by kind. Models the value formats of
 * `vsprintf()` (`lib/vsprintf.c`) that a bug report prints.
 */
export const formatValue = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "function") return "a function";
  if (typeof value === "symbol") return value.toString();
  if (value !== null && typeof value === "object") {
    return typeof (value as { then?: unknown }).then === "function" ? "a Promise" : "an object";
  }
  return String(value);
};

/**
 * What a callback threw, as `report_bug()` (`lib/bug.c`) prints a fault: an `Error` by name and
 * message, anything else by {@link formatValue}.
 */
export const formatThrown = (thrown: unknown): string =>
  thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : formatValue(thrown);

/**
 * A broken callback: which one, and what it did. Models the report of `report_bug()`
 * (`lib/bug.c`): the callback's name and the fault, in one line.
 */
export class CallbackBug {
  /** Discriminates a bug from the callback's own typed failures. */
  readonly _tag = "CallbackBug";
  constructor(
    /** What went wrong, naming the callback: `offloadCopy threw Error: …`. */
    readonly reason: string,
  ) {}
}

/** True for a {@link CallbackBug}, the report of `report_bug()` (`lib/bug.c`). */
export const isCallbackBug = (value: unknown): value is CallbackBug => value instanceof CallbackBug;

/**
 * Calls a callback that should return an Effect, and runs that Effect, so that no exception and
 * no defect escapes: a synchronous throw, a return value that is not an Effect, and an Effect
 * that dies (even past the handlers of the fiber that runs it, as a generator yielding something
 * that is not an Effect does) each fail with a {@link CallbackBug} naming `name`. The Effect runs
 * in a fiber of its own, which an interruption of the caller interrupts. Its own typed failure
 * passes through unchanged (the caller decides what a failure it does not expect means) and so
 * does an interruption. The success value is not checked. Models the call sites that
 * `report_bug()` (`lib/bug.c`) protects: the fault is reported where the kernel called.
 *
 * For instance:
 *
 * ```ts
 * const run = callEffect("init", () => definition.init(module));
 * ```
 */
export const callEffect = (name: string, call: () => unknown): Effect.Effect<unknown, unknown> =>
  Effect.suspend(() => {
    let started: unknown;
    try {
      started = call();
    } catch (thrown) {
      return Effect.fail(new CallbackBug(`${name} threw ${formatThrown(thrown)}`));
    }
    if (!Effect.isEffect(started)) {
      return Effect.fail(
        new CallbackBug(`${name} returned ${formatValue(started)}, not an Effect`),
      );
    }
    // The type says no requirements; a service it requires but no one provides dies when run.
    const effect = started as Effect.Effect<unknown, unknown>;
    // Some defects (a generator that yields something that is not an Effect) end the fiber that
    // runs them past every handler in it: the callback runs in a fiber of its own, and what is
    // looked at is how that fiber ended. Interrupting the caller interrupts it.
    const own = Effect.flatMap(Effect.forkChild(effect, { startImmediately: true }), (fiber) =>
      Effect.onInterrupt(Fiber.join(fiber), () => Fiber.interrupt(fiber)),
    );
    return Effect.catchDefect(own, (defect) =>
      Effect.fail(new CallbackBug(`${name}'s Effect died with ${formatThrown(defect)}`)),
    );
  });

/**
 * What a callback's failed Effect says, for the report `report_bug()` (`lib/bug.c`) would print:
 * the {@link CallbackBug} reason, an interruption, or the typed failure it failed with.
 */
export const formatCause = (name: string, cause: Cause.Cause<unknown>): string => {
  if (Cause.hasInterruptsOnly(cause)) return `${name}'s Effect was interrupted`;
  const error = Cause.squash(cause);
  if (isCallbackBug(error)) return error.reason;
  return `${name}'s Effect failed with ${formatThrown(error)}`;
};
