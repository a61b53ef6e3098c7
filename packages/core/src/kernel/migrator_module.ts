/**
 * The module skeleton of a copy-offload driver, written once.
 *
 * Models what every migrator driver of the series spells out by hand: `dcbm_init()`,
 * `dcbm_exit()` and `offloading_store()` of `drivers/migrate_offload/dcbm/dcbm.c`, and
 * `cpu_mt_module_init()`, `cpu_mt_module_exit()` and `mt_offloading_set()` of
 * `drivers/migoffcopy/mtcopy/copy_pages.c`. The kernel writes such boilerplate once with
 * `module_driver()` (`include/linux/device/driver.h`), which expands to a driver's
 * `module_init()` / `module_exit()` pair; {@link defineMigratorModule} does the same for a
 * migrator:
 *
 * - **init** creates the driver's control directory (`kobject_create_and_add()`,
 *   `sysfs_create_groups()`) with its `offloading` file, the driver's own files and its reason-mask
 *   file, adds any module parameters under `/sys/module/<name>/parameters/`, and offers the
 *   migrator, owned by the module, to the registry, where `offload_migrator` lists it; when the
 *   registry refuses it (`EEXIST` for a taken name), init removes the directory again and fails;
 * - a write to **`offloading`** takes the driver lock (the seeds' `dcbm_mutex` and
 *   `migratecfg_mutex`) and registers or unregisters the migrator while holding it, so two writes
 *   never interleave. Reading it asks the registry, so it agrees with `offload_migrator` when the
 *   migrator was switched there;
 * - **exit** switches offloading off under the same lock, withdraws the migrator, removes the
 *   directory, and only then runs the driver's own teardown.
 *
 * @module
 */
import { Effect, Semaphore } from "effect";
import type { ErrnoError } from "../errno";
import type { Kernel } from "../include/kernel";
import type { Attribute } from "../include/kernfs";
import type { Migrator } from "../include/migrate_copy_offload";
import type { MigrateReason } from "../include/migrate_mode";
import type { ModuleDefinition } from "../include/module";
import { formatReasonMask, parseReasonMask } from "../mm/migrate_copy_offload";

/**
 * Where a driver keeps its reason mask, and how it starts: a module parameter (`module_param()`,
 * `include/linux/moduleparam.h`), as v6's dcbm `reason_mask`, or a `struct kobj_attribute` of its
 * own directory (`include/linux/kobject.h`).
 *
 * @category Modules
 */
export interface ReasonMaskFile {
  /** The file name, e.g. `reason_mask`. */
  readonly file: string;
  /**
   * `"parameters"` for a module parameter (`module_param()`, under
   * `/sys/module/<name>/parameters/`), `"sysfs"` for a file in the driver's own directory.
   */
  readonly where: "parameters" | "sysfs";
  /** File mode bits. */
  readonly mode: number;
  /** The mask at load: a set of `1 << MR_*` bits. */
  readonly initial: number;
}

/**
 * What a driver gives {@link defineMigratorModule}: its names, its `struct migrator`
 * (`include/linux/migrate_copy_offload.h`) and its files, as a driver hands its
 * `struct device_driver` to `module_driver()` (`include/linux/device/driver.h`).
 *
 * @category Modules
 */
export interface MigratorModuleDriver {
  /** The module name (`KBUILD_MODNAME`). */
  readonly name: string;
  /** The control directory it creates, e.g. `/sys/kernel/dcbm`. */
  readonly sysfsDir: string;
  /** Its `struct migrator`, less the owner, which becomes the module once loaded. */
  readonly migrator: Omit<Migrator, "owner">;
  /** Parses a write to `offloading`: on or off, or why the text is refused. */
  readonly parseOffloading: (text: string) => boolean | ErrnoError;
  /** Its reason-mask file, which {@link MigratorModule.allows} reads. */
  readonly reasonMask: ReasonMaskFile;
  /** Its other files in {@link sysfsDir}, beside `offloading`. */
  readonly attributes?: Readonly<Record<string, Attribute>>;
  /** Its other module parameters. */
  readonly parameters?: Readonly<Record<string, Attribute>>;
  /**
   * Which of its control files (`offloading` and its other files) are also module parameters
   * under `/sys/module/<name>/parameters/`, as the same attributes (`module_param()`,
   * `include/linux/moduleparam.h`), as v6 of the series makes dcbm's.
   */
  readonly controlsAsParameters?: readonly string[];
  /**
   * Runs under the driver lock when a write to `offloading` switches it on, before the migrator
   * is registered: starts what the driver copies with (its copy threads). Its failure refuses the
   * write with that error, and offloading stays off.
   */
  readonly prepare?: () => Effect.Effect<void, ErrnoError>;
  /** Its own teardown, run last at module exit. */
  readonly exit?: () => Effect.Effect<void>;
}

/**
 * A migrator driver's module, as {@link defineMigratorModule} builds it: its `struct module`
 * definition, its migrator, and its driver lock (a `DEFINE_MUTEX()` of `include/linux/mutex.h`).
 *
 * @category Modules
 */
export interface MigratorModule {
  /** The module definition, for `kernel.loadModule`. */
  readonly definition: ModuleDefinition;
  /** The migrator: bound to its module once loaded. */
  readonly migrator: Migrator;
  /** The driver lock that every write to `offloading` and the module exit take. */
  readonly lock: Semaphore.Semaphore;
  /** `offloading`: whether the registry's active migrator is this one. */
  readonly offloading: boolean;
  /** The driver's reason mask, as its reason-mask file shows it. */
  readonly reasonMask: number;
  /** Whether the reason mask allows batches of `reason`. */
  allows(reason: MigrateReason): boolean;
  /**
   * Registers (`true`) or unregisters (`false`) the migrator under the driver lock: 0, or the
   * negative errno the registry refused with. Nothing happens when it is already so.
   */
  setOffloading(on: boolean): Effect.Effect<number, ErrnoError>;
}

/** The state behind one {@link MigratorModule}. */
interface MigratorModuleState {
  readonly kernel: Kernel;
  readonly driver: MigratorModuleDriver;
  readonly lock: Semaphore.Semaphore;
  migrator: Migrator;
  reasonMask: number;
}

const isOffloading = (s: MigratorModuleState): boolean =>
  s.kernel.migrateOffload.activeName === s.migrator.name;

const setOffloading = (s: MigratorModuleState, on: boolean): Effect.Effect<number, ErrnoError> =>
  s.lock.withPermit(
    Effect.suspend(() => {
      if (on === isOffloading(s)) return Effect.succeed(0);
      const registry = s.kernel.migrateOffload;
      const change = on ? registry.register(s.migrator) : registry.unregister(s.migrator);
      const toCode = Effect.match(change, { onFailure: (error) => error.code, onSuccess: () => 0 });
      return on && s.driver.prepare ? Effect.andThen(s.driver.prepare(), toCode) : toCode;
    }),
  );

/** `offloading`: shows 0 or 1, stores through the driver's parser and the driver lock. */
const offloadingAttribute = (s: MigratorModuleState): Attribute => ({
  mode: 0o664,
  show: () => `${isOffloading(s) ? 1 : 0}\n`,
  store: (text, count) => {
    const on = s.driver.parseOffloading(text);
    if (typeof on !== "boolean") return on.code;
    return setOffloading(s, on).pipe(Effect.map((rc) => (rc < 0 ? rc : count)));
  },
});

/** The reason-mask file: reads and writes reason names (`"compaction,demotion"`, `"all"`). */
const reasonMaskAttribute = (s: MigratorModuleState): Attribute => ({
  mode: s.driver.reasonMask.mode,
  show: () => `${formatReasonMask(s.reasonMask)}\n`,
  store: (text, count) => {
    const mask = parseReasonMask(text);
    if (typeof mask !== "number") return mask.code;
    s.reasonMask = mask;
    return count;
  },
});

/**
 * Builds the module of a migrator driver: init, exit, the `offloading` file under the driver
 * lock, and the reason-mask file. Models the `module_init()` / `module_exit()` pair and the
 * `offloading` store that `drivers/migrate_offload/dcbm/dcbm.c` and
 * `drivers/migoffcopy/mtcopy/copy_pages.c` each write by hand, written once as `module_driver()`
 * (`include/linux/device/driver.h`) writes a driver's.
 *
 * @category Modules
 */
export const defineMigratorModule = (
  kernel: Kernel,
  driver: MigratorModuleDriver,
): MigratorModule => {
  const s: MigratorModuleState = {
    kernel,
    driver,
    lock: Semaphore.makeUnsafe(1),
    migrator: { ...driver.migrator, owner: null },
    reasonMask: driver.reasonMask.initial,
  };
  const mask = driver.reasonMask;
  const definition: ModuleDefinition = {
    name: driver.name,
    init: (mod) =>
      Effect.suspend(() => {
        s.migrator = { ...driver.migrator, owner: mod };
        const own = mask.where === "sysfs" ? { [mask.file]: reasonMaskAttribute(s) } : {};
        const offloading = offloadingAttribute(s);
        const controls = { ...driver.attributes, ...own, offloading };
        kernel.fs.addAttributes(driver.sysfsDir, controls);
        const parameters = {
          ...driver.parameters,
          // v6 makes the controls module parameters; the seed's directory keeps the same files.
          ...Object.fromEntries(
            Object.entries(controls).filter(([name]) =>
              driver.controlsAsParameters?.includes(name),
            ),
          ),
          ...(mask.where === "parameters" ? { [mask.file]: reasonMaskAttribute(s) } : {}),
        };
        if (Object.keys(parameters).length > 0)
          kernel.fs.addAttributes(`${mod.sysfsDir}/parameters`, parameters);
        // Its error path removes the directory it made, as dcbm_init() puts its kobject.
        return kernel.migrateOffload
          .addProvider(s.migrator)
          .pipe(Effect.tapError(() => Effect.sync(() => kernel.fs.remove(driver.sysfsDir))));
      }),
    exit: () =>
      Effect.gen(function* () {
        // Switching off registers nothing, so it cannot fail on the driver's side.
        yield* Effect.orDie(setOffloading(s, false));
        yield* Effect.ignore(kernel.migrateOffload.removeProvider(s.migrator));
        kernel.fs.remove(driver.sysfsDir);
        if (driver.exit) yield* driver.exit();
      }),
  };
  return {
    definition,
    lock: s.lock,
    get migrator() {
      return s.migrator;
    },
    get offloading() {
      return isOffloading(s);
    },
    get reasonMask() {
      return s.reasonMask;
    },
    allows: (reason) => (s.reasonMask & (1 << reason)) !== 0,
    setOffloading: (on) => setOffloading(s, on),
  };
};
