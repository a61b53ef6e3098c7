/**
 * Address spaces and their regions.
 *
 * Models `struct mm_struct` and `struct vm_area_struct` (`include/linux/mm_types.h`). A VMA
 * covers `[start, end)`, page aligned, and holds its own page table: one PTE per page, so a PTE is
 * found from an address with one subtraction, and the huge PMD entries that map a whole
 * PMD-sized, PMD-aligned range with one entry (a PMD-mapped THP), by that range's address. What backs the VMA is either anonymous memory,
 * reached through its `anon_vma` chain, or an {@link AddressSpace}: a file's page cache or a
 * shared anonymous (shmem) object.
 *
 * @module
 */
import { MapleTree } from "../lib/maple_tree";
import type { BackingStore } from "./backing_store";
import type { Hstate, HugetlbResvMap } from "./hugetlb";
import type { Mempolicy } from "./mempolicy";
import { RwSemaphore } from "./rwsem";
import { Tlb } from "./tlbflush";

/**
 * `mmap_min_addr` (`include/linux/mm.h`, `security/min_addr.c`) at its default,
 * `CONFIG_DEFAULT_MMAP_MIN_ADDR` = 65536: no mapping starts below it.
 *
 * @category Address spaces
 */
export const MMAP_MIN_ADDR = 0x1_0000;

/**
 * `DEFAULT_MAX_MAP_COUNT` (`include/linux/mm.h`, Linux 6.16): 65530, `USHRT_MAX` less
 * `MAPCOUNT_ELF_CORE_MARGIN` (5), the most VMAs an address space may hold at boot
 * (`sysctl_max_map_count`, `/proc/sys/vm/max_map_count`).
 *
 * @category Address spaces
 */
export const DEFAULT_MAX_MAP_COUNT = 65535 - 5;

/**
 * `VM_FAULT_RETRY` (`include/linux/mm_types.h`): the fault stopped to let its caller do something
 * that may wait (here, the allocator's slow path: direct reclaim and compaction) and must be
 * repeated.
 *
 * @category Address spaces
 */
export const VM_FAULT_RETRY = 0x400;

/** `VM_READ` (`include/linux/mm.h`): the area may be read. @category Address spaces */
export const VM_READ = 0x1;
/** `VM_WRITE` (`include/linux/mm.h`): the area may be written. @category Address spaces */
export const VM_WRITE = 0x2;
/**
 * `VM_EXEC` (`include/linux/mm.h`): the area may be executed (`PROT_EXEC`). The model runs no
 * code: the flag only makes the VMA accessible (`vma_is_accessible()`) and keeps it from merging
 * with a VMA without it.
 *
 * @category Address spaces
 */
export const VM_EXEC = 0x4;
/** `VM_SHARED` (`include/linux/mm.h`): writes are seen by every mapper. @category Address spaces */
export const VM_SHARED = 0x8;
/**
 * `VM_GROWSDOWN` (`include/linux/mm.h`): a stack that a fault just below it extends
 * (`expand_downwards()`, `mm/vma.c`, Linux 6.16); `mmap(MAP_GROWSDOWN)` sets it. Free-range
 * searches keep `stack_guard_gap` below such a VMA (`vm_start_gap()`).
 *
 * @category Address spaces
 */
export const VM_GROWSDOWN = 0x100;
/** `VM_LOCKED` (`include/linux/mm.h`): mlocked. @category Address spaces */
export const VM_LOCKED = 0x2000;
/**
 * `VM_SEQ_READ` (`include/linux/mm.h`): `madvise(MADV_SEQUENTIAL)` was given; a file fault that
 * misses the page cache reads ahead as a sequential read does (`page_cache_sync_ra()`) instead of
 * around itself (`do_sync_mmap_readahead()`, `mm/filemap.c`, Linux 6.16).
 *
 * @category Address spaces
 */
export const VM_SEQ_READ = 0x8000;
/**
 * `VM_RAND_READ` (`include/linux/mm.h`): `madvise(MADV_RANDOM)` was given; a file fault reads
 * only the page it needs, with no readahead (`do_sync_mmap_readahead()`,
 * `do_async_mmap_readahead()`, `mm/filemap.c`, Linux 6.16).
 *
 * @category Address spaces
 */
export const VM_RAND_READ = 0x1_0000;
/**
 * `VM_DONTCOPY` (`include/linux/mm.h`): `fork()` leaves the VMA out of the child's address space
 * (`dup_mmap()`, `mm/mmap.c`, Linux 6.16), which has a hole there; `madvise(MADV_DONTFORK)` sets
 * it and `MADV_DOFORK` clears it.
 *
 * @category Address spaces
 */
export const VM_DONTCOPY = 0x2_0000;
/**
 * `VM_LOCKONFAULT` (`include/linux/mm.h`, Linux 6.16), set with {@link VM_LOCKED} by
 * `mlock2(MLOCK_ONFAULT)` and `mlockall(MCL_ONFAULT)`: the VMA's pages are mlocked as they are
 * faulted in, not populated ahead (`populate_vma_page_range()`, `mm/gup.c`, does nothing for it).
 *
 * @category Address spaces
 */
export const VM_LOCKONFAULT = 0x8_0000;
/**
 * `VM_LOCKED_MASK` (`include/linux/mm.h`): {@link VM_LOCKED} and {@link VM_LOCKONFAULT}, the
 * bits `mlock()`, `munlock()` and `mlockall()` replace together and `fork()` does not copy.
 *
 * @category Address spaces
 */
export const VM_LOCKED_MASK = VM_LOCKED | VM_LOCKONFAULT;
/**
 * `VM_DONTEXPAND` (`include/linux/mm.h`): the area may not grow (`mremap()`); set on every hugetlb
 * mapping (`hugetlbfs_file_mmap()`, `fs/hugetlbfs/inode.c`), so it is part of {@link VM_SPECIAL}.
 *
 * @category Address spaces
 */
export const VM_DONTEXPAND = 0x4_0000;
/**
 * `VM_PFNMAP` (`include/linux/mm.h`): the VMA maps raw page frames with no `struct page` behind
 * them (`remap_pfn_range()`), which the `oom_reaper` leaves alone (`__oom_reap_task_mm()`,
 * `mm/oom_kill.c`). The model maps no such memory, so no VMA has it.
 *
 * @category Address spaces
 */
export const VM_PFNMAP = 0x400;
/**
 * `VM_SPECIAL` (`include/linux/mm.h`): `VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP`
 * (`0x4000 | 0x40000 | 0x400 | 0x10000000`), the flags of a VMA that is never merged with a
 * neighbour (`vma_merge_new_range()`, `vma_merge_existing_range()`, `mm/vma.c`). Of the four, the
 * model sets only {@link VM_DONTEXPAND}, on hugetlb VMAs.
 *
 * @category Address spaces
 */
export const VM_SPECIAL = 0x4000 | VM_DONTEXPAND | VM_PFNMAP | 0x1000_0000;
/**
 * `VM_ACCOUNT` (`include/linux/mm.h`): the VMA's pages are charged to the commitment
 * (`vm_committed_as`, `mm/util.c`). `mmap()` sets it on a private writable mapping that is not
 * `VM_NORESERVE` (`accountable_mapping()`, `mm/vma.c`, Linux 6.16), and `mprotect()` on a private
 * VMA it makes writable for the first time (`mprotect_fixup()`); `mprotect()` clears it, giving
 * the charge back, on a private anonymous VMA made read-only before any page was written (no
 * anon_vma yet). Unmapping the VMA, or the address space's end, gives its pages back; `fork()`
 * charges the child's copy again (`dup_mmap()`).
 *
 * @category Address spaces
 */
export const VM_ACCOUNT = 0x10_0000;
/**
 * `VM_NORESERVE` (`include/linux/mm.h`): the mapping reserves nothing. `mmap(MAP_NORESERVE)` sets
 * it (`do_mmap()`, `mm/mmap.c`, Linux 6.16) unless the overcommit mode is `OVERCOMMIT_NEVER`
 * (`/proc/sys/vm/overcommit_memory` is not 2), and always for hugetlb: the mapping is not charged to the
 * commitment (`accountable_mapping()`, `shmem_acct_size()`, and `mprotect()` making it writable),
 * and a hugetlb one takes no huge page reservation (`hugetlb_reserve_pages()`).
 *
 * @category Address spaces
 */
export const VM_NORESERVE = 0x20_0000;
/** `VM_HUGETLB` (`include/linux/mm.h`): backed by hugetlb folios. @category Address spaces */
export const VM_HUGETLB = 0x40_0000;
/**
 * `VM_WIPEONFORK` (`include/linux/mm.h`): a fork child's copy of the VMA starts empty, with no
 * anon_vma and no page copied (`dup_mmap()`, `mm/mmap.c`, Linux 6.16), so it reads zeroes; the
 * copy keeps the flag. `mmap(MAP_DROPPABLE)` sets it, and on a private anonymous VMA
 * `madvise(MADV_WIPEONFORK)` sets it and `MADV_KEEPONFORK` clears it.
 *
 * @category Address spaces
 */
export const VM_WIPEONFORK = 0x200_0000;
/**
 * `VM_DONTDUMP` (`include/linux/mm.h`): left out of a core dump; `mmap(MAP_DROPPABLE)` sets it
 * (the model writes no core dumps).
 *
 * @category Address spaces
 */
export const VM_DONTDUMP = 0x400_0000;
/** `VM_HUGEPAGE` (`include/linux/mm.h`): `MADV_HUGEPAGE` was given. @category Address spaces */
export const VM_HUGEPAGE = 0x2000_0000;
/** `VM_NOHUGEPAGE` (`include/linux/mm.h`): `MADV_NOHUGEPAGE` was given. @category Address spaces */
export const VM_NOHUGEPAGE = 0x4000_0000;

/**
 * The anonymous-memory reverse map of a family of VMAs. Models `struct anon_vma`
 * (`include/linux/rmap.h`): every VMA that may map a folio of this anon_vma is in {@link vmas},
 * so the rmap walk (`mm/rmap.c`) finds all its mappings.
 *
 * @category Address spaces
 */
export class AnonVma {
  /** VMAs linked to this anon_vma through their `anon_vma_chain`. */
  readonly vmas = new Set<Vma>();
  constructor(readonly id: number) {}
}

/**
 * The readahead state of an open file. Models `struct file_ra_state` (`include/linux/fs.h`,
 * Linux 6.16), which `file_ra_state_init()` (`mm/readahead.c`) starts with the backing device's
 * `ra_pages` and `prev_pos` -1. The fields describe the last readahead: `size` pages from `start`,
 * of which the last `asyncSize` were read ahead of need, the first of those marked
 * `PG_readahead`. Counts are in pages.
 *
 * @category Address spaces
 */
export class FileRaState {
  /** `start`: the first page offset of the last readahead window. */
  start = 0;
  /** `size`: the pages of the last readahead window. */
  size = 0;
  /**
   * `async_size`: how many pages of the window were read ahead of need; the first of them
   * carries `PG_readahead`, whose fault starts the next readahead.
   */
  asyncSize = 0;
  /**
   * `mmap_miss`: how many more mmap faults missed the page cache than hit it, saturating at
   * `MMAP_LOTSAMISS * 10`; above `MMAP_LOTSAMISS` (100) a fault stops reading around itself.
   */
  mmapMiss = 0;
  /**
   * `prev_pos`: the byte after the last `read()`, -1 for none. The model has no `read()`, so it
   * stays -1 (`mmap` faults leave it alone in Linux too).
   */
  prevPos = -1;
  constructor(
    /** `ra_pages`: the most pages one readahead reads (`VM_READAHEAD_PAGES` by default). */
    public raPages: number,
  ) {}
}

/**
 * A page cache: the folios of a file or of a shared anonymous object, by page offset. Models
 * `struct address_space` (`include/linux/fs.h`) with its `i_pages` xarray and its `i_mmap` tree
 * of mapping VMAs.
 *
 * @category Address spaces
 */
export class AddressSpace {
  /** Head PFN of the folio that holds each cached page offset (`i_pages`). */
  readonly pages = new Map<number, number>();
  /** The VMAs that map this address space (`i_mmap`). */
  readonly iMmap = new Set<Vma>();
  /** Cached folios (`nrpages` counts pages; this counts folios). */
  nrFolios = 0;
  /** VMAs of a shmem object that still map it; the object is freed when the last one goes. */
  users = 0;
  /**
   * Whether the filesystem has `a_ops->migrate_folio`, which moves dirty folios as they are.
   * Without it, migration goes through `fallback_migrate_folio()` (`mm/migrate.c`), which cannot
   * move a dirty folio (`EBUSY`; Linux 6.16 removed the `writeout()` through `->writepage` that
   * older kernels tried in `MIGRATE_SYNC`).
   */
  migrateFolio = true;
  /**
   * Write-back errors recorded on the file (`mapping->wb_err`, an `errseq_t`, `lib/errseq.c`):
   * `mapping_set_error(mapping, -EIO)` advances it, and each open file reports `EIO` once from
   * `fsync()` for errors since it last looked (`file_check_and_advance_wb_err()`).
   */
  wbErrSeq = 0;
  /**
   * When the file last went from clean to dirty (`inode->dirtied_when` with `I_DIRTY_PAGES`,
   * `__mark_inode_dirty()`, `fs/fs-writeback.c`), in milliseconds of the flusher's clock; null
   * while the flusher holds it clean. The periodic writeback writes a file once this is
   * `dirty_expire_centisecs` old.
   */
  dirtiedWhen: number | null = null;
  /**
   * The file's size in bytes (`inode->i_size`, `i_size_read()`): the length of the mapping that
   * created a shmem object (`shmem_zero_setup()`); for a regular file 0 at creation and what
   * `ftruncate()` last set (`File.truncate()`). A fault on a page at or past
   * `DIV_ROUND_UP(size, PAGE_SIZE)` gets `SIGBUS` (`filemap_fault()`, `shmem_fault()`).
   */
  size = 0;
  /**
   * `shmem_inode_info.flags` (`include/linux/shmem_fs.h`) of a shmem object: `VM_NORESERVE` when
   * it was made without a commit charge for its size (`shmem_zero_setup()` of a `VM_NORESERVE`
   * mapping), its pages then charged one by one as they are allocated
   * (`shmem_inode_acct_blocks()`, {@link AddressSpace.shmemAlloced}); else 0, and its size is
   * charged to the commitment until the object is evicted (`shmem_acct_size()`,
   * `shmem_unacct_size()`, `mm/shmem.c`).
   */
  shmemFlags = 0;
  /**
   * `shmem_inode_info.alloced` (`include/linux/shmem_fs.h`) of a shmem object: the pages it has
   * allocated and counted so far (`shmem_recalc_inode()`, `mm/shmem_acct.ts`); those a
   * `VM_NORESERVE` object counts are committed, one by one. 0 for a regular file.
   */
  shmemAlloced = 0;
  /**
   * The reservations of a hugetlbfs inode (`inode->i_mapping->i_private_data`, `mm/hugetlb.c`):
   * the huge page indices shared mappings reserved, faulted or not; null for any other address
   * space.
   */
  hugetlbResv: HugetlbResvMap | null = null;
  /**
   * The readahead state of the file's `struct file` (`file->f_ra`): the model opens each file
   * once, so every mapping of it shares this one. Null until a fault or `MADV_WILLNEED` first
   * reads ahead (`fileRaState()`, `mm/readahead.ts`, sets it up); never used for shmem, whose
   * faults read nothing ahead.
   */
  ra: FileRaState | null = null;
  constructor(
    readonly id: number,
    readonly name: string,
    /** True for shared anonymous memory (shmem), false for a regular file. */
    readonly shmem: boolean,
    /**
     * The file's contents on its storage, which a page-cache miss reads
     * (`a_ops->read_folio()`) and writeback writes; null for memory no device holds (shmem, an
     * anonymous hugetlbfs file), whose pages exist only in the page cache.
     */
    readonly backing: BackingStore | null = null,
  ) {}
}

/**
 * A virtual memory area. Models `struct vm_area_struct` (`include/linux/mm_types.h`).
 *
 * @category Address spaces
 */
export class Vma {
  /** The page table of this area: one PTE per page (see `pgtable.ts`). */
  ptes: Uint32Array;
  /**
   * The huge PMD entries of this area (`pmd_trans_huge()` or a PMD migration entry,
   * `include/linux/huge_mm.h`, `include/linux/swapops.h`), by the PMD-aligned address each maps,
   * in the PTE encoding of `pgtable.ts` naming the folio's head. The PTEs under one are 0: a PMD
   * that maps a page has no PTE table below it.
   */
  pmds = new Map<number, number>();
  /** The anon_vma new anonymous folios of this VMA belong to (`vma->anon_vma`). */
  anonVma: AnonVma | null = null;
  /** Every anon_vma this VMA is linked into (`vma->anon_vma_chain`). */
  anonVmaChain: AnonVma[] = [];
  /** The VMA's memory policy (`vma->vm_policy`), or null for the task's. */
  policy: Mempolicy | null = null;
  /**
   * The reservations of a private hugetlb mapping's owner (`vma_resv_map()` with
   * `HPAGE_RESV_OWNER`, `mm/hugetlb.c`); null for any other VMA, a forked child's included.
   */
  hugetlbResv: HugetlbResvMap | null = null;
  /**
   * `HPAGE_RESV_UNMAPPED` (`mm/hugetlb.c`): the owner of this private hugetlb mapping took a page
   * back from it (`unmap_ref_private()`) when a copy-on-write found the pool empty; a later fault
   * on a page that is not mapped fails (`SIGBUS`).
   */
  hugetlbResvUnmapped = false;
  /**
   * The huge page pool of a hugetlb VMA (`hstate_vma()`, `include/linux/hugetlb.h`): its pages'
   * size; null for any other VMA.
   */
  hstate: Hstate | null = null;
  /**
   * The huge PUD entries of a hugetlb VMA of PUD-sized pages (1 GiB with 4 KiB pages), by the
   * PUD-aligned address each maps, in the encoding of {@link Vma.pmds}; the PMDs and PTEs under
   * one are empty.
   */
  puds = new Map<number, number>();
  /**
   * `VM_DROPPABLE` (`include/linux/mm.h`, Linux 6.16: bit 40 of `vm_flags` on 64-bit, kept here
   * beside {@link Vma.flags}, whose bitwise operations are 32 bits wide): a `MAP_DROPPABLE`
   * mapping. Its anonymous folios are not swap-backed (`folio_add_new_anon_rmap()`), so they sit
   * on the file LRU lists, and reclaim drops them, dirty or not, without swap
   * (`try_to_unmap_one()`); the next touch faults in a zeroed page. `mlock()` leaves the VMA
   * alone (`mlock_fixup()`), and a VMA merges only with another of the same kind.
   */
  droppable = false;

  constructor(
    readonly mm: MmStruct,
    public start: number,
    public end: number,
    public flags: number,
    /** Offset of `start` in the backing object, in pages (`vm_pgoff`). */
    public pgoff: number,
    /** The backing page cache, or null for private anonymous memory. */
    readonly mapping: AddressSpace | null,
    /** The page table; a new, empty one when not given. */
    ptes: Uint32Array | number,
  ) {
    this.ptes = typeof ptes === "number" ? new Uint32Array(ptes) : ptes;
  }

  /** Pages the area spans. */
  get nrPages(): number {
    return this.ptes.length;
  }

  /** True for private anonymous memory (`vma_is_anonymous()`, `include/linux/mm.h`). */
  get isAnonymous(): boolean {
    return this.mapping === null;
  }
}

/**
 * `SUID_DUMP_DISABLE` (`include/linux/sched/coredump.h`): the address space is not dumpable; only
 * a task with `CAP_SYS_PTRACE` may inspect it. What `commit_creds()` sets when a task's effective
 * ids change (the `fs.suid_dumpable` default, 0).
 *
 * @category Address spaces
 */
export const SUID_DUMP_DISABLE = 0;
/**
 * `SUID_DUMP_USER` (`include/linux/sched/coredump.h`): dumpable, the default of a new address
 * space; `ptrace_may_access()` then needs only matching ids.
 *
 * @category Address spaces
 */
export const SUID_DUMP_USER = 1;
/**
 * `SUID_DUMP_ROOT` (`include/linux/sched/coredump.h`): dumpable by root only (`fs.suid_dumpable`
 * 2); `ptrace_may_access()` treats it as not dumpable.
 *
 * @category Address spaces
 */
export const SUID_DUMP_ROOT = 2;

/**
 * An address space. Models `struct mm_struct` (`include/linux/mm_types.h`).
 *
 * @category Address spaces
 */
export class MmStruct {
  /**
   * The dumpable mode (`get_dumpable()`, the `MMF_DUMPABLE` bits of `mm->flags`):
   * {@link SUID_DUMP_USER} for a new address space, kept across `fork()`, cleared to
   * {@link SUID_DUMP_DISABLE} when the owner's effective ids change, set by
   * `prctl(PR_SET_DUMPABLE)`.
   */
  dumpable = SUID_DUMP_USER;
  /**
   * `MMF_HUGE_ZERO_PAGE` of `mm->flags`: this address space holds a reference to the huge zero
   * folio (`mm_get_huge_zero_folio()`, `mm/huge_memory.c`), put when it is torn down
   * (`mm_put_huge_zero_folio()`).
   */
  hugeZeroPage = false;
  /**
   * `mm->mm_users` (`include/linux/mm_types.h`): the users of this address space, in references.
   * 1 for a new address space (its task's, `mm_init()`); `get_task_mm()` takes one for a caller
   * that works on another task's memory (`move_pages(2)`, `migrate_pages(2)`) and `mmput()`
   * (`kernel/fork.ts`) drops it. The last `mmput()` tears the address space down (`exit_mmap()`),
   * so a task's exit (`exit_mm()`) frees its memory only once no such caller holds it.
   */
  mmUsers = 1;
  /**
   * `MMF_OOM_SKIP` of `mm->flags`: the OOM killer passes this address space's victim over, as
   * there is nothing more to free from it. Set when `exit_mmap()` has unmapped everything and
   * when the `oom_reaper` is done with it (`oom_reap_task()`, `mm/oom_kill.c`).
   */
  oomSkip = false;
  /**
   * `MMF_OOM_REAP_QUEUED` of `mm->flags`: `queue_oom_reaper()` (`mm/oom_kill.c`) has armed the
   * `oom_reaper`'s timer for this address space, so it is not armed twice.
   */
  oomReapQueued = false;
  /**
   * `mm->mmap_lock` (`include/linux/mm_types.h`, Linux 6.16): the read/write semaphore that
   * guards the VMAs. Taken through `include/mmap_lock.ts` (`mmap_read_lock()`,
   * `mmap_write_lock()`, `mmap_read_trylock()`) by the system calls and faults, and tried by the
   * `oom_reaper`, which gives up on an address space whose lock it cannot get.
   */
  readonly mmapLock = new RwSemaphore();
  /**
   * `mm->def_flags` (`include/linux/mm_types.h`): VMA flags every new mapping of this address
   * space gets (`do_mmap()`, `mm/mmap.c`, Linux 6.16): {@link VM_LOCKED}, with
   * {@link VM_LOCKONFAULT} for `MCL_ONFAULT`, after `mlockall(MCL_FUTURE)`
   * (`apply_mlockall_flags()`, `mm/mlock.c`); `munlockall()` and an `mlockall()` without
   * `MCL_FUTURE` clear them. 0 for a new address space, and after `fork()` (`mm_init()` keeps only
   * `VM_INIT_DEF_MASK`, `VM_NOHUGEPAGE`, which the model never puts here).
   */
  defFlags = 0;
  /**
   * The VMAs by address (`mm->mm_mt`), in a {@link MapleTree}: found, inserted and removed, and
   * the free gaps between them searched, in O(log n).
   */
  readonly mt = new MapleTree<Vma>();
  private listed: Vma[] = [];
  private listedGeneration = -1;
  /** This address space's TLB. */
  readonly tlb = new Tlb();
  /**
   * The PTE tables of this address space's page table, by the PMD-aligned address of the range
   * each serves: a PMD here points to a PTE table (`pmd_present()`, not `pmd_trans_huge()`); any
   * other PMD of a range without a huge entry ({@link Vma.pmds}) is none (`pmd_none()`,
   * `include/linux/pgtable.h`). The PTEs themselves live in each VMA's flat table
   * ({@link Vma.ptes}); this is the level above them, one per address space as on Linux, so the
   * VMAs that meet in one PMD range share it. A table is allocated when a PTE is first installed
   * in its range (`pte_alloc()`, `pmd_install()`, `mm/memory.c`) or a huge PMD is split into PTEs
   * (`__split_huge_pmd_locked()`), copied by `fork()` (`copy_pte_range()`), and freed only by
   * `free_pgtables()` at `munmap()` (`freePgtables`) and `exit()`: a range whose PTEs were all
   * zapped keeps its table, and a huge PMD (a THP fault, the huge zero folio, `do_set_pmd()`) is
   * installed only where the PMD is none.
   */
  readonly pteTables = new Set<number>();
  constructor(
    readonly id: number,
    /**
     * `mm->mmap_base` (`arch_pick_mmap_layout()`, `arch/x86/mm/mmap.c`): the top of the
     * top-down search for a free range, below the stack's rlimit and guard gap; a new mapping
     * goes into the highest free range under it.
     */
    public mmapBase: number,
    /**
     * `mm->mmap_legacy_base`: `TASK_UNMAPPED_BASE`, where the bottom-up search starts when
     * nothing fits below `mmapBase`.
     */
    public mmapLegacyBase: number,
  ) {}

  /**
   * Every VMA in address order (`for_each_vma()`); a copy made once per change of the tree, so
   * reading it costs O(n) after each mapping change. The kernel paths that touch one VMA use
   * {@link MmStruct.findVma}, {@link MmStruct.findVmaIntersection} and the tree instead.
   */
  get vmas(): readonly Vma[] {
    if (this.listedGeneration !== this.mt.generation) {
      this.listed = this.mt.toArray();
      this.listedGeneration = this.mt.generation;
    }
    return this.listed;
  }

  /** How many VMAs the address space holds (`mm->map_count`). */
  get mapCount(): number {
    return this.mt.size;
  }

  /** The VMA containing `addr`, or undefined (`vma_lookup()`, `include/linux/mm.h`). */
  findVma(addr: number): Vma | undefined {
    return this.mt.load(addr);
  }

  /** Inserts a VMA (`vma_link()`, `mm/vma.c`); it must not overlap another. */
  insertVma(vma: Vma): void {
    this.mt.insert(vma);
  }

  /** Removes a VMA from the address space's tree (`vma_iter_clear()`, `mm/vma.c`). */
  removeVma(vma: Vma): void {
    this.mt.erase(vma);
  }

  /**
   * `vma_set_range()` and `vma_iter_store()` (`mm/vma.h`): gives a linked VMA new bounds (its
   * `vm_pgoff` is the caller's), which must not reach over another VMA.
   */
  vmaSetRange(vma: Vma, start: number, end: number): void {
    vma.start = start;
    vma.end = end;
    this.mt.adjust(vma);
  }

  /** The VMA just below `vma`, touching it or not (`vma_prev()`), or undefined. */
  vmaPrev(vma: Vma): Vma | undefined {
    return this.mt.prev(vma);
  }

  /** The VMA just above `vma`, touching it or not (`vma_next()`), or undefined. */
  vmaNext(vma: Vma): Vma | undefined {
    return this.mt.next(vma);
  }

  /**
   * The first VMA that overlaps `[start, end)`, or undefined (`find_vma_intersection()`,
   * `mm/mmap.c`).
   */
  findVmaIntersection(start: number, end: number): Vma | undefined {
    return this.mt.find(start, end);
  }

  /** VMAs overlapping `[start, end)`, in address order. */
  vmasIn(start: number, end: number): Vma[] {
    return this.mt.range(start, end);
  }
}
