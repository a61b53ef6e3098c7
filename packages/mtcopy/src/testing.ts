/**
 * `@migrate-offload/mtcopy/testing`: what only tests and conformance runs need of mtcopy:
 * {@link mtcopyConformanceSubject}, mtcopy as a subject for `@migrate-offload/testkit`, and the
 * copy-thread faults it injects.
 *
 * @packageDocumentation
 */

// insmod / rmmod of drivers/migoffcopy/mtcopy/copy_pages.c, for @migrate-offload/testkit.
export {
  MTCOPY_CONFORMANCE_DEADLINE_MS,
  MTCOPY_THREAD_FAULTS,
  mtcopyConformanceSubject,
} from "./conformance";
