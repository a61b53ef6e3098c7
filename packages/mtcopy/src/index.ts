/**
 * `@migrate-offload/mtcopy`: the multi-threaded CPU copy migrator, `CPU_MT_COPY`, over real
 * worker threads, with the padata-style chunked job helper it balances mixed folio sizes with.
 *
 * @packageDocumentation
 */

export * from "./conformance";
export * from "./mtcopy";
export * from "./padata";
