/**
 * `@migrate-offload/mtcopy`: the multi-threaded CPU copy migrator.
 *
 * Not yet implemented: the package exists so that its name and place in the workspace are
 * fixed. It will depend on `@migrate-offload/core` alone.
 *
 * @packageDocumentation
 */

/** The migrator's name (`CPU_MT_COPY` in the driver). */
export const MTCOPY_MIGRATOR_NAME = "CPU_MT_COPY";
