/**
 * The memory-mapping ABI: protection bits, mapping flags and advice.
 *
 * Models `include/uapi/asm-generic/mman-common.h` and `include/uapi/linux/mman.h`.
 *
 * @module
 */

/** `PROT_READ`. */
export const PROT_READ = 0x1;
/** `PROT_WRITE`. */
export const PROT_WRITE = 0x2;
/** `PROT_EXEC` (accepted, not modelled). */
export const PROT_EXEC = 0x4;
/** `MAP_SHARED`. */
export const MAP_SHARED = 0x01;
/** `MAP_PRIVATE`. */
export const MAP_PRIVATE = 0x02;
/** `MAP_ANONYMOUS`. */
export const MAP_ANONYMOUS = 0x20;
/** `MAP_POPULATE`: fault every page in now. */
export const MAP_POPULATE = 0x8000;
/** `MAP_HUGETLB`: back the mapping with PMD-sized hugetlb folios. */
export const MAP_HUGETLB = 0x40000;

/** `MADV_HUGEPAGE`. */
export const MADV_HUGEPAGE = 14;
/** `MADV_NOHUGEPAGE`. */
export const MADV_NOHUGEPAGE = 15;
