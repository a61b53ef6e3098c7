/**
 * `@migrate-offload/mtcopy`: the multi-threaded CPU copy migrator, `CPU_MT_COPY`, over real
 * worker threads, with the padata-style chunked job helper it balances mixed folio sizes with.
 *
 * The conformance subject, which only tests need, is in `@migrate-offload/mtcopy/testing`.
 *
 * @packageDocumentation
 */

// drivers/migoffcopy/mtcopy/copy_pages.c: the CPU_MT_COPY migrator module.
export {
  idleCpus,
  idleCpusOf,
  MAX_NUM_COPY_THREADS,
  MTCOPY_MIGRATOR_NAME,
  MTCOPY_MODULE_NAME,
  MTCOPY_SYSFS_DIR,
  type MtcopyDriver,
  type MtcopyOptions,
  mtcopyDriver,
  type ThreadPolicy,
} from "./mtcopy";

// include/linux/padata.h, kernel/padata.c: chunked multithreaded jobs.
export { PADATA_LOAD_BALANCE_FACTOR, type PadataJob, padataDoMultithreaded } from "./padata";
