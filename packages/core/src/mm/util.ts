/**
 * Allocations the host may refuse.
 *
 * Models `kvmalloc()` (`mm/util.c`): a large allocation that can fail, whose callers turn the
 * failure into `-ENOMEM` and change nothing. The model's large allocations are `ArrayBuffer`s,
 * `SharedArrayBuffer`s and typed arrays; the host refuses them with a `RangeError`, either because
 * it has no memory for them ("Array buffer allocation failed") or because they are longer than a
 * buffer can be ("Invalid array buffer length", "Invalid typed array length").
 *
 * @module
 */

/**
 * True when `error` is the host refusing a buffer or typed-array allocation: the `RangeError`
 * V8 throws for a buffer it cannot allocate or a length it cannot represent. Any other error is a
 * bug and must not be mistaken for `-ENOMEM`. Models the `NULL` return of `kvmalloc()`
 * (`mm/util.c`).
 */
export const isAllocationFailure = (error: unknown): boolean =>
  error instanceof RangeError &&
  /allocation failed|invalid (typed )?array( buffer)? length|array buffer.*length/i.test(
    error.message,
  );

/**
 * Runs an allocation and returns what it made, or `null` when the host refused it (see
 * {@link isAllocationFailure}); any other exception propagates. Models `kvmalloc()`
 * (`mm/util.c`), whose `NULL` the caller turns into `-ENOMEM` before changing anything.
 *
 * @example
 * ```ts
 * const ptes = kvmalloc(() => new Uint32Array(nrPages));
 * if (!ptes) return errno("ENOMEM", "no memory for the page table");
 * ```
 */
export const kvmalloc = <T>(allocate: () => T): T | null => {
  try {
    return allocate();
  } catch (error) {
    if (isAllocationFailure(error)) return null;
    throw error;
  }
};
