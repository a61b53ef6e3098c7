/**
 * Loadable modules as the rest of the kernel sees them.
 *
 * Models `struct module` and `enum module_state` (`include/linux/module.h`) and what a driver
 * provides with `module_init()` / `module_exit()`. Loading and unloading are `kernel/module.ts`.
 *
 * @module
 */
import type { Effect } from "effect";
import type { ErrnoError } from "../errno";

/** `enum module_state`. */
export type ModuleState = "coming" | "live" | "going" | "unloaded";

/** What a driver provides to be loadable (its `module_init` / `module_exit`). */
export interface ModuleDefinition {
  /** The module name (`KBUILD_MODNAME`). */
  readonly name: string;
  /** `module_init()`: sets the driver up; failing makes the load fail. */
  readonly init?: (module: Module) => Effect.Effect<void, ErrnoError>;
  /** `module_exit()`: tears the driver down. */
  readonly exit?: (module: Module) => Effect.Effect<void>;
}

/**
 * A callback on the module notifier chain: a `struct notifier_block` on `module_notify_list`
 * (`register_module_notifier()`, `kernel/module/main.c`). The kernel calls the chain with
 * `"going"` after a module's exit has run and after its init failed, before the module is freed,
 * so that a subsystem can drop what the module left registered with it.
 */
export type ModuleNotifier = (state: ModuleState, module: Module) => Effect.Effect<void>;

/** A loaded module. Models `struct module`. */
export class Module {
  /** `module->state`. */
  state: ModuleState = "coming";
  /** The module reference count (`module_refcount`). */
  refcnt = 0;
  constructor(
    /** What the driver provided. */
    readonly definition: ModuleDefinition,
  ) {}

  /** The module name. */
  get name(): string {
    return this.definition.name;
  }

  /** `/sys/module/<name>`. */
  get sysfsDir(): string {
    return `/sys/module/${this.name}`;
  }
}
