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

/**
 * `enum module_state` (`include/linux/module.h`): `MODULE_STATE_COMING`, `_LIVE`, `_GOING`, and
 * the model's `"unloaded"` for a module whose memory Linux would have freed.
 *
 * @category Modules
 */
export type ModuleState = "coming" | "live" | "going" | "unloaded";

/**
 * What a driver provides to be loadable: its `module_init()` / `module_exit()` functions
 * (`include/linux/module.h`) and its name.
 *
 * @category Modules
 */
export interface ModuleDefinition {
  /** The module name (`KBUILD_MODNAME`). */
  readonly name: string;
  /**
   * `module_init()` (`include/linux/module.h`): sets the driver up; failing makes the load fail.
   */
  readonly init?: (module: Module) => Effect.Effect<void, ErrnoError>;
  /** `module_exit()` (`include/linux/module.h`): tears the driver down. */
  readonly exit?: (module: Module) => Effect.Effect<void>;
}

/**
 * A callback on the module notifier chain: a `struct notifier_block` on `module_notify_list`
 * (`register_module_notifier()`, `kernel/module/main.c`). The kernel calls the chain with
 * `"going"` after a module's exit has run and after its init failed, before the module is freed,
 * so that a subsystem can drop what the module left registered with it.
 *
 * @category Modules
 */
export type ModuleNotifier = (state: ModuleState, module: Module) => Effect.Effect<void>;

/**
 * A loaded module. Models `struct module` (`include/linux/module.h`).
 *
 * @category Modules
 */
export class Module {
  /** `module->state`. */
  state: ModuleState = "coming";
  /** The module reference count (`module_refcount()`, `kernel/module/main.c`). */
  refcnt = 0;
  constructor(
    /** What the driver provided. */
    readonly definition: ModuleDefinition,
  ) {}

  /** The module name. */
  get name(): string {
    return this.definition.name;
  }

  /** `/sys/module/<name>` (`mod_sysfs_setup()`, `kernel/module/sysfs.c`). */
  get sysfsDir(): string {
    return `/sys/module/${this.name}`;
  }
}
