/**
 * Loadable modules.
 *
 * Models `kernel/module/main.c` as drivers meet it: loading a module (`init_module`) runs its
 * init function, which usually creates its sysfs directory; the module is then live. Code that
 * calls into a module pins it with `try_module_get()`, which fails once the module is going, and
 * releases it with `module_put()`. Unloading (`delete_module`) fails with `EBUSY` while the
 * module is pinned, otherwise marks it going and runs its exit function. Each loaded module has
 * `/sys/module/<name>/` with `refcnt` and `initstate`.
 *
 * `init` and `exit` are a boundary: the kernel calls the driver's code there, and whatever that
 * code does (throws, returns something that is not an Effect, dies) the module ends in a state
 * the kernel knows. A failed init frees the module as `do_init_module()` does; an exit always
 * completes the unload. Subsystems learn of a module going through the module notifier chain
 * (`register_module_notifier()`), and drop what it left registered with them.
 *
 * @module
 */
import { Cause, Effect, Exit } from "effect";
import { type ErrnoError, errno, isErrnoError } from "../errno";
import type { Kernel } from "../include/kernel";
import { Module, type ModuleDefinition, type ModuleNotifier } from "../include/module";
import { callEffect, formatCause, formatValue } from "../lib/bug";

/**
 * `try_module_get()` (`kernel/module/main.c`): pins a live module; false when it is coming, going
 * or gone.
 *
 * @category Modules
 */
export const tryModuleGet = (module: Module): boolean => {
  if (module.state !== "live") return false;
  module.refcnt++;
  return true;
};

/**
 * `module_put()` (`kernel/module/main.c`): releases a pin.
 *
 * @category Modules
 */
export const modulePut = (module: Module): void => {
  if (module.refcnt <= 0) throw new Error(`module_put on ${module.name} with no references`);
  module.refcnt--;
};

/**
 * `register_module_notifier()` (`kernel/module/main.c`): adds `nb` to the module notifier chain;
 * returns the `unregister_module_notifier()` that takes it off.
 *
 * @category Modules
 */
export const registerModuleNotifier = (k: Kernel, nb: ModuleNotifier): (() => void) => {
  k.moduleNotifyList.add(nb);
  return () => {
    k.moduleNotifyList.delete(nb);
  };
};

/** `blocking_notifier_call_chain(&module_notify_list, MODULE_STATE_GOING, mod)`. */
const notifyGoing = (k: Kernel, module: Module): Effect.Effect<void> =>
  Effect.forEach([...k.moduleNotifyList], (nb) => nb("going", module), { discard: true });

/** `free_module()`: the module leaves the list and sysfs, and is unloaded. */
const freeModule = (k: Kernel, module: Module): void => {
  module.state = "unloaded";
  k.modules.delete(module.name);
  k.fs.remove(module.sysfsDir);
};

/** Checks what `init_module()` is handed before anything is loaded: `EINVAL` if malformed. */
const checkDefinition = (definition: ModuleDefinition): ErrnoError | null => {
  if (typeof definition !== "object" || definition === null) {
    return errno("EINVAL", `a module definition must be an object, not ${formatValue(definition)}`);
  }
  if (typeof definition.name !== "string" || !/^[A-Za-z0-9_-]{1,55}$/.test(definition.name)) {
    return errno("EINVAL", `bad module name ${formatValue(definition.name)}`);
  }
  for (const hook of ["init", "exit"] as const) {
    if (definition[hook] !== undefined && typeof definition[hook] !== "function") {
      return errno("EINVAL", `module ${definition.name}: ${hook} must be a function`);
    }
  }
  return null;
};

/**
 * The errno a failed init makes the load fail with: the `ErrnoError` it failed with, `EINTR` if
 * it was interrupted, `EIO` for a broken init (one that threw, returned no Effect, died, or failed
 * with something that is not an errno).
 */
const initError = (name: string, cause: Cause.Cause<unknown>): ErrnoError => {
  if (Cause.hasInterruptsOnly(cause)) return errno("EINTR", `module ${name}: init was interrupted`);
  const error = Cause.squash(cause);
  if (isErrnoError(error)) return error;
  return errno("EIO", `module ${name}: ${formatCause("init", cause)}`);
};

/**
 * `init_module()`: loads a module and runs its init. `EINVAL` for a malformed definition,
 * `EEXIST` if one of that name is loaded. When init fails, the load fails as `do_init_module()`
 * (`kernel/module/main.c`) does: the module is marked going, the module notifier chain drops
 * what it registered, and it is freed (state `unloaded`, its `/sys/module` directory gone), so the
 * same name loads again. The load fails with init's own errno, or `EIO` for a broken init.
 */
export const loadModule = (
  k: Kernel,
  definition: ModuleDefinition,
): Effect.Effect<Module, ErrnoError> =>
  Effect.suspend(() => {
    const bad = checkDefinition(definition);
    if (bad) return Effect.fail(bad);
    if (k.modules.has(definition.name)) {
      return Effect.fail(errno("EEXIST", `module ${definition.name} is already loaded`));
    }
    const module = new Module(definition);
    k.modules.set(module.name, module);
    k.fs.addAttributes(module.sysfsDir, {
      refcnt: { mode: 0o444, show: () => `${module.refcnt}\n` },
      initstate: { mode: 0o444, show: () => `${module.state}\n` },
    });
    const init = definition.init;
    const call = init ? callEffect("init", () => init(module)) : Effect.void;
    return Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(Effect.exit(restore(call)), (exit) => {
        if (Exit.isSuccess(exit)) {
          module.state = "live";
          return Effect.succeed(module);
        }
        module.state = "going";
        return notifyGoing(k, module).pipe(
          Effect.andThen(Effect.sync(() => freeModule(k, module))),
          Effect.andThen(Effect.fail(initError(module.name, exit.cause))),
        );
      }),
    );
  });

/**
 * `delete_module()`: unloads a module. `ENOENT` if it is not loaded, `EBUSY` while it is pinned
 * or still initialising; otherwise it is marked going, its exit runs, the module notifier chain is
 * told, and the module is freed. An exit that throws, returns no Effect, fails or dies still ends
 * in a completed unload, as `exit` returns nothing the kernel could act on.
 */
export const unloadModule = (k: Kernel, name: string): Effect.Effect<void, ErrnoError> =>
  Effect.suspend(() => {
    const module = k.modules.get(name);
    if (!module) return Effect.fail(errno("ENOENT", `module ${name} is not loaded`));
    if (module.state !== "live")
      return Effect.fail(errno("EBUSY", `module ${name} is ${module.state}`));
    if (module.refcnt > 0)
      return Effect.fail(errno("EBUSY", `module ${name} is in use (refcnt ${module.refcnt})`));
    return Effect.asVoid(exitModule(k, module));
  });

/**
 * The second half of `delete_module()`: marks a live module going, runs its exit behind the
 * callback boundary (nothing it throws or returns escapes), tells the notifier chain and frees
 * the module, whatever the exit did, uninterruptibly. Completes with how the exit ended.
 */
const exitModule = (k: Kernel, module: Module): Effect.Effect<Exit.Exit<unknown, unknown>> =>
  Effect.uninterruptibleMask((restore) => {
    module.state = "going";
    const exit = module.definition.exit;
    const call = exit ? callEffect("exit", () => exit(module)) : Effect.void;
    return Effect.exit(restore(call)).pipe(
      Effect.tap(() => notifyGoing(k, module)),
      Effect.tap(() => Effect.sync(() => freeModule(k, module))),
    );
  });

/**
 * Unloads every module at shutdown, the last loaded first, as the machine going down takes its
 * drivers with it: each live module's exit runs whatever its reference count (nothing can call
 * into it any more). Returns the names of the modules whose exit failed or died, with why; each
 * is unloaded all the same.
 */
export const unloadModulesAtShutdown = (k: Kernel): Effect.Effect<string[]> =>
  Effect.gen(function* () {
    const failures: string[] = [];
    for (const module of [...k.modules.values()].reverse()) {
      if (module.state !== "live") {
        freeModule(k, module);
        continue;
      }
      const ended = yield* exitModule(k, module);
      if (ended._tag === "Failure") {
        failures.push(`module ${module.name}: ${formatCause("exit", ended.cause)}`);
      }
    }
    return failures;
  });
