/**
 * The memory-mapping ABI: protection bits, mapping flags and advice.
 *
 * Models `include/uapi/asm-generic/mman-common.h`, `include/uapi/asm-generic/mman.h` and
 * `include/uapi/linux/mman.h`.
 *
 * @module
 */

/**
 * `PROT_READ` (`include/uapi/asm-generic/mman-common.h`): the mapping may be read.
 *
 * @category Address spaces
 */
export const PROT_READ = 0x1;
/**
 * `PROT_WRITE` (`include/uapi/asm-generic/mman-common.h`): the mapping may be written.
 *
 * @category Address spaces
 */
export const PROT_WRITE = 0x2;
/**
 * `PROT_EXEC` (`include/uapi/asm-generic/mman-common.h`): the mapping may be executed; its VMA
 * gets `VM_EXEC` (the model runs no code, but the VMA counts as accessible).
 *
 * @category Address spaces
 */
export const PROT_EXEC = 0x4;
/**
 * `PROT_SEM` (`include/uapi/asm-generic/mman-common.h`): the page may be used for atomic
 * operations. `mprotect()` accepts it (`arch_validate_prot()`, `include/linux/mman.h`) and, as on
 * x86-64, it sets no VMA flag; `mmap()` ignores it, as it ignores every bit but `PROT_READ`,
 * `PROT_WRITE` and `PROT_EXEC` (`calc_vm_prot_bits()`).
 *
 * @category Address spaces
 */
export const PROT_SEM = 0x8;
/**
 * `PROT_GROWSDOWN` (`include/uapi/asm-generic/mman-common.h`): `mprotect()` of a range in a
 * `VM_GROWSDOWN` VMA extends the range down to the VMA's start (`EINVAL` for any other VMA).
 * `mmap()` ignores it (`MAP_GROWSDOWN` makes a stack).
 *
 * @category Address spaces
 */
export const PROT_GROWSDOWN = 0x0100_0000;
/**
 * `PROT_GROWSUP` (`include/uapi/asm-generic/mman-common.h`): `mprotect()` up to the end of a
 * `VM_GROWSUP` VMA; x86-64 has none, so it is `EINVAL` where the range starts in a VMA.
 * `mmap()` ignores it.
 *
 * @category Address spaces
 */
export const PROT_GROWSUP = 0x0200_0000;
/**
 * `MAP_SHARED` (`include/uapi/linux/mman.h`): writes are shared with every mapper.
 *
 * @category Address spaces
 */
export const MAP_SHARED = 0x01;
/**
 * `MAP_PRIVATE` (`include/uapi/linux/mman.h`): a copy-on-write mapping.
 *
 * @category Address spaces
 */
export const MAP_PRIVATE = 0x02;
/**
 * `MAP_SHARED_VALIDATE` (`include/uapi/linux/mman.h`): {@link MAP_SHARED} that checks its other
 * flags. For a file (an anonymous hugetlb mapping counts as one: it is backed by a hugetlbfs file)
 * `mmap()` fails with `EOPNOTSUPP` when any flag lies outside `LEGACY_MAP_MASK`
 * (`include/linux/mman.h`; the model's files support no `MAP_SYNC`), where plain `MAP_SHARED`
 * drops such flags; an anonymous mapping of this type is `EINVAL` (`do_mmap()`, `mm/mmap.c`,
 * Linux 6.16).
 *
 * @category Address spaces
 */
export const MAP_SHARED_VALIDATE = 0x03;
/**
 * `MAP_DROPPABLE` (`include/uapi/linux/mman.h`, Linux 6.11 on): a private anonymous mapping whose
 * pages reclaim may drop under memory pressure, dirty or not and without swap; the next touch
 * reads zeroes (`VM_DROPPABLE`, which x86-64 has; `do_mmap()`, `mm/mmap.c`, Linux 6.16). It also
 * gets `VM_NORESERVE` (no commit charge), `VM_WIPEONFORK` (a fork child's copy starts empty) and
 * `VM_DONTDUMP`, and `mlock()` leaves it unlocked. With `MAP_LOCKED`, `MAP_HUGETLB` or
 * `MAP_GROWSDOWN`, and for a file, it is `EINVAL`.
 *
 * @category Address spaces
 */
export const MAP_DROPPABLE = 0x08;
/**
 * `MAP_TYPE` (`include/uapi/linux/mman.h`): the bits of the flags that name the mapping's type,
 * one of {@link MAP_SHARED}, {@link MAP_PRIVATE}, {@link MAP_SHARED_VALIDATE} and
 * {@link MAP_DROPPABLE}; any other value is `EINVAL`.
 *
 * @category Address spaces
 */
export const MAP_TYPE = 0x0f;
/**
 * `MAP_GROWSDOWN` (`include/uapi/asm-generic/mman.h`, x86's `asm/mman.h`): a stack-like private
 * anonymous mapping (`VM_GROWSDOWN`, `calc_vm_flag_bits()`, `mm/mmap.c`, Linux 6.16) that a
 * fault below it grows down to the faulting page, as far as the stack rlimit and the
 * `stack_guard_gap` to the mapping below allow (`expand_downwards()`, `mm/vma.c`). A shared or
 * file mapping with it is `EINVAL`; so is a hugetlb one (a hugetlbfs file).
 *
 * @category Address spaces
 */
export const MAP_GROWSDOWN = 0x0100;
/**
 * `MAP_FIXED` (`include/uapi/asm-generic/mman-common.h`): map at exactly the given address,
 * unmapping whatever was there.
 *
 * @category Address spaces
 */
export const MAP_FIXED = 0x10;
/**
 * `MAP_FIXED_NOREPLACE` (`include/uapi/asm-generic/mman-common.h`): map at exactly the given
 * address, failing with `EEXIST` where anything is mapped already.
 *
 * @category Address spaces
 */
export const MAP_FIXED_NOREPLACE = 0x100000;
/**
 * `MAP_ANONYMOUS` (`include/uapi/asm-generic/mman-common.h`): no file behind the mapping.
 *
 * @category Address spaces
 */
export const MAP_ANONYMOUS = 0x20;
/**
 * `MAP_32BIT` (x86's `arch/x86/include/uapi/asm/mman.h`): place the mapping in the first 2 GiB, for
 * code of the small memory model. `arch_get_unmapped_area_topdown()`
 * (`arch/x86/kernel/sys_x86_64.c`, Linux 6.16) then searches bottom-up (`arch_get_unmapped_area()`)
 * in `[0x40000000, 0x80000000)` (`find_start_end()`; the model has no `PF_RANDOMIZE`, so the base is
 * not randomized): a free hint that ends by 2 GiB is taken, else the lowest free range there; none
 * is `ENOMEM`. THP, shmem and hugetlb alignment apply inside that window. With `MAP_FIXED` the
 * address asked for wins.
 *
 * @example
 * ```ts
 * import { Kernel, MAP_32BIT, MAP_ANONYMOUS, MAP_PRIVATE } from "@migrate-offload/core";
 * import { Effect } from "effect";
 *
 * await Effect.runPromise(
 *   Effect.scoped(
 *     Effect.gen(function* () {
 *       const kernel = yield* Kernel.make({ nodes: ["64M"] });
 *       const proc = yield* kernel.createProcess();
 *       const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT;
 *       const addr = yield* proc.mmap(4096, { flags });
 *       console.log(addr === 0x40000000); // true
 *     }),
 *   ),
 * );
 * ```
 *
 * @category Address spaces
 */
export const MAP_32BIT = 0x40;
/**
 * `MAP_POPULATE` (`include/uapi/asm-generic/mman.h`): fault every page in now.
 *
 * @category Address spaces
 */
export const MAP_POPULATE = 0x8000;
/**
 * `MAP_NORESERVE` (`include/uapi/asm-generic/mman.h`): no swap space or huge pages are reserved
 * for the mapping (`VM_NORESERVE`, `do_mmap()`, `mm/mmap.c`): it is not charged to the
 * commitment (`accountable_mapping()`), unless the overcommit mode is {@link OVERCOMMIT_NEVER},
 * which ignores the flag but for hugetlb; and a hugetlb mapping takes no reservation
 * (`hugetlb_reserve_pages()`), so a fault that then finds no free huge page gets `SIGBUS`.
 *
 * @category Address spaces
 */
export const MAP_NORESERVE = 0x4000;
/**
 * `MAP_LOCKED` (`include/uapi/asm-generic/mman.h`): the mapping is mlocked as it is made
 * (`VM_LOCKED`, `calc_vm_flag_bits()`, `mm/mmap.c`) and populated (`do_mmap()`'s `*populate`,
 * errors ignored); a hugetlb mapping is populated but not `VM_LOCKED` (`__mmap_region()` clears
 * `VM_LOCKED_MASK` for `VM_SPECIAL` and hugetlb VMAs).
 *
 * @category Address spaces
 */
export const MAP_LOCKED = 0x2000;
/**
 * `MCL_CURRENT` (`include/uapi/asm-generic/mman.h`): `mlockall()` locks every mapping the
 * address space has now.
 *
 * @category Address spaces
 */
export const MCL_CURRENT = 1;
/**
 * `MCL_FUTURE` (`include/uapi/asm-generic/mman.h`): `mlockall()` locks every mapping made from
 * now on, and the growth of a locked stack (`mm->def_flags` gets `VM_LOCKED`).
 *
 * @category Address spaces
 */
export const MCL_FUTURE = 2;
/**
 * `MCL_ONFAULT` (`include/uapi/asm-generic/mman.h`): with {@link MCL_CURRENT} or
 * {@link MCL_FUTURE}, pages are locked as they are faulted in (`VM_LOCKONFAULT`), not populated
 * ahead. Alone it is `EINVAL`.
 *
 * @category Address spaces
 */
export const MCL_ONFAULT = 4;
/**
 * `MLOCK_ONFAULT` (`include/uapi/asm-generic/mman-common.h`): the one flag of `mlock2()`: lock
 * the range's pages as they are faulted in (`VM_LOCKONFAULT`), not populated ahead.
 *
 * @category Address spaces
 */
export const MLOCK_ONFAULT = 1;
/**
 * `MAP_NONBLOCK` (`include/uapi/asm-generic/mman.h`): with `MAP_POPULATE`, populate nothing
 * (`do_mmap()` populates only when `(flags & (MAP_POPULATE | MAP_NONBLOCK)) == MAP_POPULATE`).
 *
 * @category Address spaces
 */
export const MAP_NONBLOCK = 0x10000;
/**
 * `MAP_STACK` (`include/uapi/asm-generic/mman.h`): a stack; since Linux 6.7 it maps as
 * `VM_NOHUGEPAGE` (`calc_vm_flag_bits()`, `mm/mmap.c`), so no THP backs it.
 *
 * @category Address spaces
 */
export const MAP_STACK = 0x20000;
/**
 * `MAP_HUGETLB` (`include/uapi/asm-generic/mman.h`): back the mapping with hugetlb folios, of the
 * default huge page size unless `MAP_HUGE_*` names another.
 *
 * @category Address spaces
 */
export const MAP_HUGETLB = 0x40000;
/**
 * `MAP_HUGE_SHIFT` (`include/uapi/asm-generic/hugetlb_encode.h`, `HUGETLB_FLAG_ENCODE_SHIFT`):
 * with `MAP_HUGETLB`, bits 26 to 31 of the flags hold the base-2 log of the huge page size; 0
 * asks for the default size.
 *
 * @category Address spaces
 */
export const MAP_HUGE_SHIFT = 26;
/**
 * `MAP_HUGE_MASK` (`include/uapi/asm-generic/hugetlb_encode.h`, `HUGETLB_FLAG_ENCODE_MASK`): the
 * size bits above {@link MAP_HUGE_SHIFT}.
 *
 * @category Address spaces
 */
export const MAP_HUGE_MASK = 0x3f;
/**
 * `MAP_HUGE_2MB` (`include/uapi/linux/mman.h`, `HUGETLB_FLAG_ENCODE_2MB`): 2 MiB huge pages.
 *
 * @category Address spaces
 */
export const MAP_HUGE_2MB = 21 << MAP_HUGE_SHIFT;
/**
 * `MAP_HUGE_1GB` (`include/uapi/linux/mman.h`, `HUGETLB_FLAG_ENCODE_1GB`): 1 GiB huge pages.
 *
 * @category Address spaces
 */
export const MAP_HUGE_1GB = 30 << MAP_HUGE_SHIFT;

/**
 * `MADV_NORMAL` (`include/uapi/asm-generic/mman-common.h`): no special treatment; clears
 * `VM_RAND_READ` and `VM_SEQ_READ`, so a file fault reads around itself again.
 *
 * @category Address spaces
 */
export const MADV_NORMAL = 0;
/**
 * `MADV_RANDOM` (`include/uapi/asm-generic/mman-common.h`): expect random page references; sets
 * `VM_RAND_READ`, so a file fault reads only the page it needs.
 *
 * @category Address spaces
 */
export const MADV_RANDOM = 1;
/**
 * `MADV_SEQUENTIAL` (`include/uapi/asm-generic/mman-common.h`): expect sequential page
 * references; sets `VM_SEQ_READ`, so a file fault reads ahead as a sequential `read()` does.
 *
 * @category Address spaces
 */
export const MADV_SEQUENTIAL = 2;
/**
 * `MADV_WILLNEED` (`include/uapi/asm-generic/mman-common.h`): the range will be needed soon; a
 * file mapping's pages are read into the page cache now (`force_page_cache_readahead()`).
 *
 * @category Address spaces
 */
export const MADV_WILLNEED = 3;
/**
 * `MADV_DONTNEED` (`include/uapi/asm-generic/mman-common.h`): the range's pages are not needed;
 * they are unmapped, and a later access faults in zeros (private anonymous memory) or the page
 * cache's page.
 *
 * @category Address spaces
 */
export const MADV_DONTNEED = 4;
/**
 * `MADV_DONTNEED_LOCKED` (`include/uapi/asm-generic/mman-common.h`, Linux 5.18 on):
 * {@link MADV_DONTNEED} that also zaps the pages of mlocked (`VM_LOCKED`) VMAs, which stay locked:
 * their next fault maps an mlocked page.
 *
 * @category Address spaces
 */
export const MADV_DONTNEED_LOCKED = 24;
/**
 * `MADV_DONTFORK` (`include/uapi/asm-generic/mman-common.h`): leave the range out of a `fork()`
 * child; sets `VM_DONTCOPY`, so the child has a hole there.
 *
 * @category Address spaces
 */
export const MADV_DONTFORK = 10;
/**
 * `MADV_DOFORK` (`include/uapi/asm-generic/mman-common.h`): undo {@link MADV_DONTFORK}; clears
 * `VM_DONTCOPY`, so a `fork()` child gets the range again.
 *
 * @category Address spaces
 */
export const MADV_DOFORK = 11;
/**
 * `MADV_WIPEONFORK` (`include/uapi/asm-generic/mman-common.h`, Linux 4.14 on): a `fork()`
 * child's copy of the range starts empty and reads zeroes; sets `VM_WIPEONFORK`. Private
 * anonymous memory only: `EINVAL` for a file, shared or hugetlb mapping.
 *
 * @category Address spaces
 */
export const MADV_WIPEONFORK = 18;
/**
 * `MADV_KEEPONFORK` (`include/uapi/asm-generic/mman-common.h`, Linux 4.14 on): undo
 * {@link MADV_WIPEONFORK}; clears `VM_WIPEONFORK`. `EINVAL` for a `MAP_DROPPABLE` mapping,
 * whose flag `mmap()` set.
 *
 * @category Address spaces
 */
export const MADV_KEEPONFORK = 19;
/**
 * `MADV_HUGEPAGE` (`include/uapi/asm-generic/mman-common.h`): worth backing with huge pages.
 *
 * @category Address spaces
 */
export const MADV_HUGEPAGE = 14;
/**
 * `MADV_NOHUGEPAGE` (`include/uapi/asm-generic/mman-common.h`): not worth backing with huge pages.
 *
 * @category Address spaces
 */
export const MADV_NOHUGEPAGE = 15;
/**
 * `MADV_SOFT_OFFLINE` (`include/uapi/asm-generic/mman-common.h`): soft-offline the pages of the
 * range (migrate their contents away and take them out of use); needs `CAP_SYS_ADMIN`.
 *
 * @category Address spaces
 */
export const MADV_SOFT_OFFLINE = 101;
/**
 * `OVERCOMMIT_GUESS` (`include/uapi/linux/mman.h`): the default overcommit mode
 * (`/proc/sys/vm/overcommit_memory` 0). `__vm_enough_memory()` (`mm/util.c`) refuses only a
 * single request of more pages than RAM and swap hold; the commitment is counted all the same.
 *
 * @category Address spaces
 */
export const OVERCOMMIT_GUESS = 0;
/**
 * `OVERCOMMIT_ALWAYS` (`include/uapi/linux/mman.h`): overcommit mode 1; every request is
 * granted.
 *
 * @category Address spaces
 */
export const OVERCOMMIT_ALWAYS = 1;
/**
 * `OVERCOMMIT_NEVER` (`include/uapi/linux/mman.h`): overcommit mode 2, strict accounting; a
 * request is granted only while the commitment, with it, stays below the commit limit
 * (`vm_commit_limit()`, `mm/util.c`) less the admin and user reserves, and `MAP_NORESERVE` is not
 * honoured (`do_mmap()`, `mm/mmap.c`).
 *
 * @category Address spaces
 */
export const OVERCOMMIT_NEVER = 2;
