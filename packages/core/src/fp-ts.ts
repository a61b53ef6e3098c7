/**
 * `@migrate-offload/core/fp-ts`: interop for migrator authors who write in fp-ts.
 *
 * - {@link migratorFromTaskEither} builds a migrator whose `offloadCopy` is a `TaskEither`.
 * - {@link taskEitherOf} is the `TaskEither` view of any kernel call, and
 *   {@link registerMigrator}, {@link unregisterMigrator}, {@link loadModule},
 *   {@link unloadModule}, {@link sysfsRead} and {@link sysfsWrite} are the views of the calls a
 *   migrator author makes most. `Left` is the call's `ErrnoError`.
 *
 * fp-ts is an optional peer dependency: only this entry imports it, and the main entry
 * (`@migrate-offload/core`) never does. It imports fp-ts by module file
 * (`fp-ts/lib/Either.js`), never through the barrel (`fp-ts`, which loads every module of
 * fp-ts) nor by directory (`fp-ts/Either`): fp-ts 2 has no `exports` map, so Node's ES
 * module loader refuses a directory import (`ERR_UNSUPPORTED_DIR_IMPORT`), and its `es6/` files
 * import their siblings without a file extension, which the ES module loader cannot resolve
 * either. The CommonJS files of `fp-ts/lib/` load everywhere: from ES modules (Node reads their
 * named exports), from CommonJS and in bundlers. Write your own fp-ts imports the same way.
 *
 * @packageDocumentation
 */
import { Effect } from "effect";
import * as E from "fp-ts/lib/Either.js";
import type { TaskEither } from "fp-ts/lib/TaskEither.js";
import { ERRNO, type ErrnoError, type SignalError } from "./errno";
import type { Kernel } from "./include/kernel";
import type { Migrator } from "./include/migrate_copy_offload";
import type { Module, ModuleDefinition } from "./include/module";
import type { TaskStruct } from "./include/sched";
import type { FolioList } from "./lib/list";

/**
 * Adapts an fp-ts `offloadCopy` returning a `TaskEither`: `Right` is success, `Left(errno)` a
 * failure (a negative errno; `-EOPNOTSUPP` declines). A rejected task is `-EIO`. An SDK helper
 * with no kernel symbol: it builds the `offload_copy` callback of `struct migrator`
 * (`include/linux/migrate_copy_offload.h`) from fp-ts code.
 *
 * @example
 * ```ts
 * import { ERRNO, Kernel, migrateFoliosMcCopy } from "@migrate-offload/core";
 * import { migratorFromTaskEither } from "@migrate-offload/core/fp-ts";
 * import { Effect } from "effect";
 * import * as TE from "fp-ts/lib/TaskEither.js"; // by file: fp-ts has no exports map
 *
 * const kernel = await Effect.runPromise(Kernel.boot({ nodes: ["16M", "16M"] }));
 * const migrator = migratorFromTaskEither({
 *   name: "fp_copy",
 *   owner: null,
 *   offloadCopy: (dst, src) =>
 *     migrateFoliosMcCopy(kernel, dst, src) === 0 ? TE.right(undefined) : TE.left(-ERRNO.EIO),
 * });
 * await Effect.runPromise(kernel.migrateOffload.register(migrator));
 * console.log(kernel.migrateOffload.activeName); // "fp_copy"
 * await Effect.runPromise(kernel.shutdown());
 * ```
 * @category Copy offload
 */
export const migratorFromTaskEither = (
  spec: Omit<Migrator, "offloadCopy"> & {
    readonly offloadCopy: (
      dst: FolioList,
      src: FolioList,
      count: number,
    ) => TaskEither<number, void>;
  },
): Migrator => ({
  ...spec,
  offloadCopy: (dst, src, count) =>
    Effect.tryPromise({
      try: () => spec.offloadCopy(dst, src, count)(),
      catch: () => -ERRNO.EIO,
    }).pipe(
      Effect.map((result) => (E.isLeft(result) ? -Math.abs(result.left) : 0)),
      Effect.orElseSucceed(() => -ERRNO.EIO),
    ),
});

/**
 * The `TaskEither` view of a kernel call: running the task performs the call and resolves with
 * `Right(value)`, or `Left(error)` with the call's {@link ErrnoError} (a {@link SignalError} for an
 * access that faulted). A defect (a bug, not an
 * errno) rejects the task's promise, as fp-ts leaves an unexpected throw. An SDK helper with no
 * kernel symbol.
 *
 * @example
 * ```ts
 * import { Kernel } from "@migrate-offload/core";
 * import { taskEitherOf } from "@migrate-offload/core/fp-ts";
 * import { Effect } from "effect";
 * import * as E from "fp-ts/lib/Either.js";
 *
 * const kernel = await Effect.runPromise(Kernel.boot({ nodes: ["16M"] }));
 * const proc = await taskEitherOf(kernel.createProcess())(); // Right(task)
 * console.log(E.isRight(proc)); // true
 * const bad = await taskEitherOf(kernel.createProcess({ node: 7 }))(); // no node 7
 * console.log(E.isLeft(bad)); // true
 * await Effect.runPromise(kernel.shutdown());
 * ```
 * @category Copy offload
 */
export const taskEitherOf =
  <A, Err extends ErrnoError | SignalError = ErrnoError>(
    call: Effect.Effect<A, Err>,
  ): TaskEither<Err, A> =>
  () =>
    Effect.runPromise(
      Effect.match(call, {
        onFailure: (error): E.Either<Err, A> => E.left(error),
        onSuccess: (value): E.Either<Err, A> => E.right(value),
      }),
    );

/**
 * `migrate_offload_register()` (`mm/migrate_copy_offload.c`) as a `TaskEither`: makes `m` the
 * active migrator for the reasons of `reasonMask` (all by default). `Left` with `EINVAL`,
 * `EBUSY` or `ENODEV`, as `kernel.migrateOffload.register` fails.
 *
 * @category Copy offload
 */
export const registerMigrator = (
  kernel: Kernel,
  m: Migrator,
  reasonMask?: number,
): TaskEither<ErrnoError, void> => taskEitherOf(kernel.migrateOffload.register(m, reasonMask));

/**
 * `migrate_offload_unregister()` (`mm/migrate_copy_offload.c`) as a `TaskEither`: stops the
 * active migrator `m` once no call into it is in flight.
 *
 * @category Copy offload
 */
export const unregisterMigrator = (kernel: Kernel, m: Migrator): TaskEither<ErrnoError, void> =>
  taskEitherOf(kernel.migrateOffload.unregister(m));

/**
 * `init_module(2)` (`kernel/module/main.c`) as a `TaskEither`: loads a module and runs its
 * `init`; `Left` with init's errno, `EEXIST` for a name already loaded.
 *
 * @category Copy offload
 */
export const loadModule = (
  kernel: Kernel,
  definition: ModuleDefinition,
): TaskEither<ErrnoError, Module> => taskEitherOf(kernel.loadModule(definition));

/**
 * `delete_module(2)` (`kernel/module/main.c`) as a `TaskEither`: runs a module's `exit` and
 * frees it; `Left` with `ENOENT` for no such module, `EBUSY` while it is in use.
 *
 * @category Copy offload
 */
export const unloadModule = (kernel: Kernel, name: string): TaskEither<ErrnoError, void> =>
  taskEitherOf(kernel.unloadModule(name));

/**
 * A `read(2)` of a sysfs file (`sysfs_kf_seq_show()`, `fs/sysfs/file.c`) as a `TaskEither`:
 * `Right` with the file's text.
 *
 * @category Copy offload
 */
export const sysfsRead = (kernel: Kernel, path: string): TaskEither<ErrnoError, string> =>
  taskEitherOf(kernel.fs.read(path));

/**
 * A `write(2)` to a sysfs file (`sysfs_kf_write()`, `fs/sysfs/file.c`) as a `TaskEither`:
 * `Right` with the bytes taken, `Left` with the errno the file's `store` returns. `current` is the
 * writing task, as for `KernfsRoot.write`.
 *
 * @category Copy offload
 */
export const sysfsWrite = (
  kernel: Kernel,
  path: string,
  text: string,
  current: TaskStruct | null = null,
): TaskEither<ErrnoError, number> => taskEitherOf(kernel.fs.write(path, text, current));
