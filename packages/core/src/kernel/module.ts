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
 * @module
 */
import { Cause, Effect } from "effect";
import { type ErrnoError, errno } from "../errno";
import type { Kernel } from "../include/kernel";
import { Module, type ModuleDefinition } from "../include/module";

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

/** `init_module()`: loads a module and runs its init. `EEXIST` if one of that name is loaded. */
export const loadModule = (
  k: Kernel,
  definition: ModuleDefinition,
): Effect.Effect<Module, ErrnoError> =>
  Effect.suspend(() => {
    if (!/^[A-Za-z0-9_-]{1,55}$/.test(definition.name)) {
      return Effect.fail(errno("EINVAL", `bad module name ${JSON.stringify(definition.name)}`));
    }
    if (k.modules.has(definition.name)) {
      return Effect.fail(errno("EEXIST", `module ${definition.name} is already loaded`));
    }
    const module = new Module(definition);
    k.modules.set(module.name, module);
    k.fs.addAttributes(module.sysfsDir, {
      refcnt: { mode: 0o444, show: () => `${module.refcnt}\n` },
      initstate: { mode: 0o444, show: () => `${module.state}\n` },
    });
    const init = definition.init?.(module) ?? Effect.void;
    return init.pipe(
      Effect.map(() => {
        module.state = "live";
        return module;
      }),
      Effect.tapError(() =>
        Effect.sync(() => {
          module.state = "unloaded";
          k.modules.delete(module.name);
          k.fs.remove(module.sysfsDir);
        }),
      ),
    );
  });

/**
 * `delete_module()`: unloads a module. `ENOENT` if it is not loaded, `EBUSY` while it is pinned
 * or still initialising; otherwise it is marked going, its exit runs, and its sysfs directory goes.
 */
export const unloadModule = (k: Kernel, name: string): Effect.Effect<void, ErrnoError> =>
  Effect.suspend(() => {
    const module = k.modules.get(name);
    if (!module) return Effect.fail(errno("ENOENT", `module ${name} is not loaded`));
    if (module.state !== "live")
      return Effect.fail(errno("EBUSY", `module ${name} is ${module.state}`));
    if (module.refcnt > 0)
      return Effect.fail(errno("EBUSY", `module ${name} is in use (refcnt ${module.refcnt})`));
    module.state = "going";
    return (module.definition.exit?.(module) ?? Effect.void).pipe(
      Effect.ensuring(
        Effect.sync(() => {
          module.state = "unloaded";
          k.modules.delete(name);
          k.fs.remove(module.sysfsDir);
        }),
      ),
    );
  });

/**
 * Unloads every module at shutdown, the last loaded first, as the machine going down takes its
 * drivers with it: each live module is marked going and its exit runs whatever its reference
 * count (nothing can call into it any more). Returns the names of the modules whose exit failed
 * or died, with why; each is unloaded all the same.
 */
export const unloadModulesAtShutdown = (k: Kernel): Effect.Effect<string[]> =>
  Effect.gen(function* () {
    const failures: string[] = [];
    for (const module of [...k.modules.values()].reverse()) {
      if (module.state === "live") {
        module.state = "going";
        const exit = yield* Effect.exit(
          Effect.suspend(() => module.definition.exit?.(module) ?? Effect.void),
        );
        if (exit._tag === "Failure")
          failures.push(`module ${module.name}: ${Cause.pretty(exit.cause)}`);
      }
      module.state = "unloaded";
      k.modules.delete(module.name);
      k.fs.remove(module.sysfsDir);
    }
    return failures;
  });
