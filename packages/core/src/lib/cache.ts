/**
 * Cache-line placement of the per-PFN metadata arrays.
 *
 * Models `L1_CACHE_BYTES` (`include/linux/cache.h`, `arch/x86/include/asm/cache.h`) and the
 * colouring the SLAB allocator gave its slabs (`colour_off`, `mm/slab.c` until Linux 6.8): objects
 * that would otherwise start at the same offset in their pages start a different number of cache
 * lines in, so that they do not compete for the same cache sets.
 *
 * The kernel's `struct page` keeps a page's fields together in one cache line. The model keeps
 * each field in its own typed array, indexed by PFN ({@link MemMap}); arrays of the same size
 * start page-aligned in the host's memory, so the fields of one page would all fall into the same
 * cache set, and touching a page's metadata would evict itself and the lines of a copy in
 * flight. Starting each array a different number of cache lines into its buffer spreads them over
 * the sets, as the kernel's one line per page does.
 *
 * @module
 */

/**
 * `L1_CACHE_BYTES` (`arch/x86/include/asm/cache.h`, `1 << CONFIG_X86_L1_CACHE_SHIFT`): the cache
 * line of x86-64, in bytes.
 *
 * @category Memory and folios
 */
export const L1_CACHE_BYTES = 64;

/**
 * A zero-filled typed array of `length` elements whose first element sits `colour` cache lines
 * ({@link L1_CACHE_BYTES} each) into its own buffer, a `SharedArrayBuffer` with `shared`. The
 * colouring of SLAB's `colour_off` (`mm/slab.c` until Linux 6.8) applied to a per-PFN array: give
 * each array that is indexed by the same PFN a different colour. The buffer is `colour` lines
 * longer than the array; `byteLength` and indexing are those of a plain array of `length`.
 *
 * @category Memory and folios
 *
 * @example
 * ```ts
 * import { colouredArray } from "@migrate-offload/core";
 *
 * const refcount = colouredArray(Int32Array, 1 << 20, 1);
 * const mapcount = colouredArray(Int32Array, 1 << 20, 2);
 * refcount[7] = 1;
 * mapcount[7] = 1;
 * // refcount[7] and mapcount[7] lie one cache line apart in the cache's sets.
 * console.log(refcount.byteOffset, mapcount.byteOffset, refcount.length); // 64 128 1048576
 * ```
 */
export const colouredArray = <T>(
  ctor: {
    new (buffer: ArrayBufferLike, byteOffset: number, length: number): T;
    readonly BYTES_PER_ELEMENT: number;
  },
  length: number,
  colour: number,
  shared = false,
): T => {
  const offset = colour * L1_CACHE_BYTES;
  const bytes = offset + length * ctor.BYTES_PER_ELEMENT;
  const buffer = shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
  return new ctor(buffer, offset, length);
};
