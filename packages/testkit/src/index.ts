/**
 * `@migrate-offload/testkit`: property-based conformance testing for migrators.
 *
 * Not yet implemented: the package exists so that its name and place in the workspace are
 * fixed. It will depend on `@migrate-offload/core` and fast-check.
 *
 * @packageDocumentation
 */

/** The version of the conformance suite's scenario format. */
export const TESTKIT_FORMAT_VERSION = 1;
