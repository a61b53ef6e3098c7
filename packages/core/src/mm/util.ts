/**
 * Allocation and accounting helpers of `mm/util.c`.
 *
 * - `kvmalloc()`: a large allocation that can fail, whose callers turn the failure into
 *   `-ENOMEM` and change nothing. The model's large allocations are `ArrayBuffer`s,
 *   `SharedArrayBuffer`s and typed arrays; the host refuses them with a `RangeError`, either
 *   because it has no memory for them ("Array buffer allocation failed") or because they are
 *   longer than a buffer can be ("Invalid array buffer length", "Invalid typed array length").
 * - `__vm_enough_memory()`: the overcommit check a new private writable or shared anonymous
 *   mapping passes, in the default heuristic mode (`OVERCOMMIT_GUESS`): a single request larger
 *   than all of RAM and swap is refused with `-ENOMEM`, anything else is allowed.
 *
 * @module
 */
import { type ErrnoError, errno } from "../errno";
import type { Kernel } from "../include/kernel";

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
 * For instance:
 *
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

/**
 * `__vm_enough_memory()` (`mm/util.c`) with `vm.overcommit_memory = 0` (`OVERCOMMIT_GUESS`, the
 * default): `ENOMEM` when `pages` is more than all of RAM (`totalram_pages()`, the pages the
 * allocator manages) and swap (this model has none); null otherwise. Nothing is reserved: the
 * heuristic mode only refuses what could never fit.
 */
export const vmEnoughMemory = (k: Kernel, pages: number): ErrnoError | null => {
  const totalram = k.pageAlloc.zones.reduce((sum, zone) => sum + zone.managedPages, 0);
  if (pages <= totalram) return null;
  return errno(
    "ENOMEM",
    `${pages} pages of committed memory exceed the ${totalram} pages of RAM and swap (overcommit heuristic)`,
  );
};
