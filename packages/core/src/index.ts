/**
 * `@migrate-offload/core`: a model of the Linux kernel's memory management and page migration,
 * over real memory.
 *
 * Start with {@link Kernel.make}. The source tree reads like the kernel's: `include/` declares the
 * machine's types (as `include/linux/` does), `init/` boots, `mm/` holds one file per
 * `mm/*.c` concept, `kernel/` processes, modules, SRCU and the copy engine, `fs/` sysfs and
 * procfs, `lib/` helpers. The exports below are grouped by the kernel header they model.
 * Conformance contracts, fault-injection hooks and test fixtures are in
 * `@migrate-offload/core/testing`.
 *
 * @packageDocumentation
 */

// drivers/base/memory.c
export { MEMORY_SYSFS_ROOT } from "./drivers/base/memory";
// drivers/virtio/virtio_balloon.c
export {
  VIRTIO_BALLOON_ARRAY_PFNS_MAX,
  VirtioBalloon,
  type VirtioBalloonOptions,
} from "./drivers/virtio/virtio_balloon";
// Errors: include/uapi/asm-generic/errno-base.h, errno.h; signal.h, siginfo.h
export {
  ERRNO,
  ErrnoError,
  type ErrnoName,
  errno,
  errnoName,
  isErrnoError,
  isSignalError,
  SI_CODE,
  SIGNO,
  type SiCodeName,
  SignalError,
  type SignalName,
  syscall,
} from "./errno";
// fs/libfs.c, include/linux/debugfs.h, fs/debugfs/file.c
export { debugfsAttribute, debugfsCreateU32, debugfsInit } from "./fs/debugfs";
// fs/fs-writeback.c (the bdi writeback worker), mm/page-writeback.c (its sysctls)
export { BdiWritebackState, writebackInitSysctl } from "./fs/fs_writeback";
// fs/kernfs
export { KernFs } from "./fs/kernfs";
export { SIMPLE_ATTR_BUF_SIZE, simpleAttrWrite } from "./fs/libfs";
// fs/proc/base.c
export { procOomScore } from "./fs/proc_base";
// include/linux/fs.h (a_ops->read_folio, ->writepages), drivers/block/brd.c (brd_pages)
// include/linux/backing-dev-defs.h, mm/page-writeback.c
export {
  type BdiWriteback,
  DIRTY_EXPIRE_CENTISECS,
  DIRTY_WRITEBACK_CENTISECS,
  type WbReason,
} from "./include/backing_dev";
export { BackingStore } from "./include/backing_store";
// include/linux/balloon.h
export type { BalloonDevInfo, BalloonMigratepage } from "./include/balloon";
// include/linux/capability.h
export {
  CAP_DAC_OVERRIDE,
  CAP_DAC_READ_SEARCH,
  CAP_FULL_SET,
  CAP_IPC_LOCK,
  CAP_LAST_CAP,
  CAP_SETGID,
  CAP_SETUID,
  CAP_SYS_ADMIN,
  CAP_SYS_NICE,
  CAP_SYS_PTRACE,
  CAP_SYS_RAWIO,
  CAP_SYS_RESOURCE,
} from "./include/capability";
// include/linux/compaction.h
export {
  COMPACT_CLUSTER_MAX,
  COMPACT_MAX_DEFER_SHIFT,
  COMPACTION_STATUS_NAMES,
  type Compaction,
  CompactPriority,
  CompactResult,
  compactGap,
  type DirectCompact,
  HPAGE_FRAG_CHECK_INTERVAL_MSEC,
  PAGE_ALLOC_COSTLY_ORDER,
} from "./include/compaction";
// include/linux/cred.h
export type { Cred } from "./include/cred";
// include/linux/device.h
export type { Device, KernelState } from "./include/device";
// include/linux/mm.h (struct folio accessors)
export { Folio } from "./include/folio";
// include/linux/fs.h
export type { File, MmapFile } from "./include/fs";
// include/linux/gfp_types.h
export {
  __GFP_BITS_MASK,
  __GFP_COMP,
  __GFP_DIRECT_RECLAIM,
  __GFP_HIGH,
  __GFP_KSWAPD_RECLAIM,
  __GFP_MEMALLOC,
  __GFP_MOVABLE,
  __GFP_NOMEMALLOC,
  __GFP_NORETRY,
  __GFP_NOWARN,
  __GFP_RECLAIM,
  __GFP_RECLAIMABLE,
  __GFP_RETRY_MAYFAIL,
  __GFP_THISNODE,
  __GFP_ZERO,
  checkGfpMask,
  GFP_ATOMIC,
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
  GFP_KERNEL_RECLAIMABLE,
  GFP_NOWAIT,
  GFP_TRANSHUGE,
  GFP_TRANSHUGE_LIGHT,
  GFP_USER,
  gfpMigratetype,
} from "./include/gfp";
// include/linux/huge_mm.h
export {
  HugeZeroFolio,
  MTHP_STAT_ITEMS,
  type MthpMode,
  type MthpStatItem,
  type ShmemHuge,
  type ShmemMthpMode,
  type ThpMode,
  ThpSettings,
} from "./include/huge_mm";
// include/linux/hugetlb.h
export { type Hstate, type HugetlbReplacement, HugetlbResvMap } from "./include/hugetlb";
// The machine: include/linux/sched.h, init/main.c
export type {
  BadPage,
  Kernel as KernelInterface,
  KernelConfig,
  Task,
} from "./include/kernel";
// include/linux/kobject.h, include/linux/kernfs.h
export { type Attribute, type KernfsRoot, KObject, STORE_EINVAL } from "./include/kernfs";
// include/linux/mm_types.h (struct page); include/linux/mm.h (the last cpupid)
export {
  cpuPidToCpupid,
  cpupidPidUnset,
  cpupidToNid,
  cpupidValid,
  folioXchgLastCpupid,
  LAST__PID_MASK,
  LAST__PID_SHIFT,
  MemMap,
  pageCpupidResetLast,
} from "./include/mem_map";
// include/linux/memory.h, include/linux/memory_hotplug.h (MMOP_*)
export {
  MEM_GOING_OFFLINE,
  MEM_OFFLINE,
  MEM_ONLINE,
  type MemoryBlock,
  MMOP_OFFLINE,
  MMOP_ONLINE,
  MMOP_ONLINE_KERNEL,
  MMOP_ONLINE_MOVABLE,
  ONLINE_TYPE_TO_STR,
} from "./include/memory";
// include/linux/memory-tiers.h
export {
  MEMTIER_ADISTANCE_DRAM,
  MEMTIER_CHUNK_BITS,
  MEMTIER_CHUNK_SIZE,
  MEMTIER_DEFAULT_DAX_ADISTANCE,
  type MemoryTier,
  type MemoryTiers,
} from "./include/memory_tiers";
// include/uapi/linux/mempolicy.h, include/linux/mempolicy.h
export {
  type AllocTarget,
  allocPagesMpolRequests,
  type Mempolicy,
  type MempolicyMode,
  MPOL_BIND,
  MPOL_DEFAULT,
  MPOL_F_ADDR,
  MPOL_F_MEMS_ALLOWED,
  MPOL_F_NODE,
  MPOL_F_NUMA_BALANCING,
  MPOL_F_RELATIVE_NODES,
  MPOL_F_STATIC_NODES,
  MPOL_INTERLEAVE,
  MPOL_LOCAL,
  MPOL_MF_LAZY,
  MPOL_MF_MOVE,
  MPOL_MF_MOVE_ALL,
  MPOL_MF_STRICT,
  MPOL_MF_VALID,
  MPOL_MODE_FLAGS,
  MPOL_PREFERRED,
  mpolEqual,
  NO_INTERLEAVE_INDEX,
  policyMbindNodemask,
  policyTarget,
} from "./include/mempolicy";
// include/linux/migrate.h
export {
  type FreeFolioFn,
  type MigratePagesResult,
  type MigratePagesStats,
  MOVE_PAGES_STATUS_UNWRITTEN,
  type MovableOperations,
  type MovePagesResult,
  type MovePagesStatus,
  type NewFolioFn,
  newMigratePagesStats,
} from "./include/migrate";
// include/linux/migrate_copy_offload.h (the series)
export {
  type BatchCopier,
  type BatchOutcome,
  type CopyBatch,
  type CopyInterposer,
  MIGRATE_REASONS_ALL,
  MIGRATOR_NAME_LEN,
  type MigrateOffload,
  type Migrator,
  type OffloadCopy,
  type OffloadCounters,
} from "./include/migrate_copy_offload";
// include/linux/migrate_mode.h
export {
  isMigrateReason,
  MIGRATE_ASYNC,
  MIGRATE_MODE_NAMES,
  MIGRATE_REASON_NAMES,
  MIGRATE_SYNC,
  MIGRATE_SYNC_LIGHT,
  type MigrateMode,
  type MigrateReason,
  MR_COMPACTION,
  MR_CONTIG_RANGE,
  MR_DAMON,
  MR_DEMOTION,
  MR_LONGTERM_PIN,
  MR_MEMORY_FAILURE,
  MR_MEMORY_HOTPLUG,
  MR_MEMPOLICY_MBIND,
  MR_NUMA_MISPLACED,
  MR_SYSCALL,
  MR_TYPES,
} from "./include/migrate_mode";
// include/linux/mm_types.h (mm_struct, vm_area_struct), include/linux/rmap.h (anon_vma),
// include/linux/fs.h (address_space), include/linux/mm.h (VM_* flags, DEFAULT_MAX_MAP_COUNT)
export {
  AddressSpace,
  AnonVma,
  DEFAULT_MAX_MAP_COUNT,
  FileRaState,
  MMAP_MIN_ADDR,
  MmStruct,
  SUID_DUMP_DISABLE,
  SUID_DUMP_ROOT,
  SUID_DUMP_USER,
  VM_ACCOUNT,
  VM_DONTCOPY,
  VM_DONTDUMP,
  VM_DONTEXPAND,
  VM_EXEC,
  VM_GROWSDOWN,
  VM_HUGEPAGE,
  VM_HUGETLB,
  VM_LOCKED,
  VM_LOCKED_MASK,
  VM_LOCKONFAULT,
  VM_NOHUGEPAGE,
  VM_NORESERVE,
  VM_PFNMAP,
  VM_RAND_READ,
  VM_READ,
  VM_SEQ_READ,
  VM_SHARED,
  VM_SPECIAL,
  VM_WIPEONFORK,
  VM_WRITE,
  Vma,
} from "./include/mm_types";
// include/uapi/asm-generic/mman-common.h
export {
  MADV_DOFORK,
  MADV_DONTFORK,
  MADV_DONTNEED,
  MADV_DONTNEED_LOCKED,
  MADV_HUGEPAGE,
  MADV_KEEPONFORK,
  MADV_NOHUGEPAGE,
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_SOFT_OFFLINE,
  MADV_WILLNEED,
  MADV_WIPEONFORK,
  MAP_32BIT,
  MAP_ANONYMOUS,
  MAP_DROPPABLE,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_GROWSDOWN,
  MAP_HUGE_1GB,
  MAP_HUGE_2MB,
  MAP_HUGE_MASK,
  MAP_HUGE_SHIFT,
  MAP_HUGETLB,
  MAP_LOCKED,
  MAP_NONBLOCK,
  MAP_NORESERVE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_SHARED_VALIDATE,
  MAP_STACK,
  MAP_TYPE,
  MCL_CURRENT,
  MCL_FUTURE,
  MCL_ONFAULT,
  MLOCK_ONFAULT,
  OVERCOMMIT_ALWAYS,
  OVERCOMMIT_GUESS,
  OVERCOMMIT_NEVER,
  PROT_EXEC,
  PROT_GROWSDOWN,
  PROT_GROWSUP,
  PROT_READ,
  PROT_SEM,
  PROT_WRITE,
} from "./include/mman";
// include/linux/mmap_lock.h
export {
  mmapReadLocked,
  mmapReadTrylock,
  mmapReadUnlock,
  mmapWriteLocked,
  withMmapLockKillable,
  withMmapReadLock,
  withMmapWriteLock,
} from "./include/mmap_lock";
// include/linux/mmzone.h
export {
  type AllocContext,
  type AllocRequest,
  type BadPageHandler,
  type CaptureControl,
  type Fragmentation,
  type MemoryRegion,
  MIGRATE_HIGHATOMIC,
  MIGRATE_ISOLATE,
  MIGRATE_MOVABLE,
  MIGRATE_PCPTYPES,
  MIGRATE_RECLAIMABLE,
  MIGRATE_TYPES,
  MIGRATE_UNMOVABLE,
  MIGRATETYPE_NAMES,
  type MigrateType,
  type NodeSpan,
  type PageAllocator,
  PhysicalMemory,
  type SlowpathResult,
  WMARK_HIGH,
  WMARK_LOW,
  WMARK_MIN,
  WMARK_PROMO,
  Zone,
} from "./include/mmzone";
// include/linux/module.h
export {
  Module,
  type ModuleDefinition,
  type ModuleNotifier,
  type ModuleState,
} from "./include/module";
// include/linux/sched/sysctl.h, include/linux/sched/numa_balancing.h
export {
  NUMA_BALANCING_DISABLED,
  NUMA_BALANCING_MEMORY_TIERING,
  NUMA_BALANCING_NORMAL,
  type NumaBalancing,
} from "./include/numa_balancing";
// include/linux/oom.h, include/uapi/linux/oom.h
export {
  MAX_OOM_REAP_RETRIES,
  OOM_REAP_RETRY_DELAY,
  OOM_REAPER_DELAY,
  OOM_SCORE_ADJ_MAX,
  OOM_SCORE_ADJ_MIN,
  OomConstraint,
  type OomControl,
  type OomReaper,
} from "./include/oom";
// arch/x86/include/asm/page_64_types.h, processor.h
export { TASK_SIZE, TASK_SIZE_MAX } from "./include/page_64_types";
// include/linux/page-flags.h
export {
  FOLIO_CONTENT_COPIED,
  formatPageFlags,
  MAGIC_HWPOISON,
  PAGE_FLAG_NAMES,
  PG_active,
  PG_buddy,
  PG_dirty,
  PG_has_hwpoisoned,
  PG_head,
  PG_hugetlb,
  PG_hugetlb_migratable,
  PG_hwpoison,
  PG_locked,
  PG_lru,
  PG_mlocked,
  PG_movable_ops,
  PG_movable_ops_isolated,
  PG_offline,
  PG_partially_mapped,
  PG_private,
  PG_readahead,
  PG_reclaim,
  PG_referenced,
  PG_reserved,
  PG_swapbacked,
  PG_unevictable,
  PG_uptodate,
  PG_writeback,
} from "./include/page_flags";
// include/linux/pagemap.h
export { FolioWaitQueue } from "./include/pagemap";
// include/linux/pagevec.h
export { PAGEVEC_SIZE } from "./include/pagevec";
// include/linux/panic.h
export { isKernelPanic, KernelPanic, panicText, stopIfPanicked } from "./include/panic";
// include/linux/pgtable.h, arch/x86/include/asm/pgtable_types.h
export {
  isHwpoisonEntry,
  isMigrationEntry,
  mkHwpoisonEntry,
  mkMigrationEntry,
  mkPte,
  PTE_DIRTY,
  PTE_MAX_PFN,
  PTE_MIGRATION,
  PTE_PFN_SHIFT,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_SPECIAL,
  PTE_WRITE,
  PTE_YOUNG,
  pteDirty,
  pteNone,
  ptePfn,
  ptePresent,
  pteProtnone,
  pteSpecial,
  pteWrite,
  pteYoung,
} from "./include/pgtable";
// include/uapi/linux/resource.h, include/uapi/asm-generic/resource.h
export { MLOCK_LIMIT, RLIM_INFINITY } from "./include/resource";
// include/linux/rwsem.h
export { type KillableSleeper, MAX_READERS_WAKEUP, RwSemaphore } from "./include/rwsem";
// include/linux/sched.h
export {
  isGlobalInit,
  type MigrationAccounting,
  type MmapOptions,
  memallocNoreclaimRestore,
  memallocNoreclaimSave,
  PF_KSWAPD,
  PF_KTHREAD,
  PF_MEMALLOC,
  PR_GET_DUMPABLE,
  PR_SET_DUMPABLE,
  type TaskOptions,
  type TaskStruct,
  withMemallocNoreclaim,
} from "./include/sched";
// include/linux/sched/signal.h, include/uapi/asm-generic/signal.h
export {
  fatalSignalPending,
  forceSigFault,
  forceSigMceerr,
  SIGBUS,
  SIGKILL,
  SIGSEGV,
  type SignalTarget,
} from "./include/signal";
// include/linux/srcu.h
export type { SrcuStruct } from "./include/srcu";
// include/linux/swap.h
export {
  type HugetlbActive,
  type IsolationList,
  type Kswapd,
  LRU_ACTIVE_ANON,
  LRU_ACTIVE_FILE,
  LRU_INACTIVE_ANON,
  LRU_INACTIVE_FILE,
  LRU_UNEVICTABLE,
  type Lru,
  NR_LRU_LISTS,
} from "./include/swap";
// arch/x86/include/asm/tlbflush.h
export { TLB_ENTRIES, Tlb, TlbFlushBatch } from "./include/tlbflush";
// include/trace/events/migrate.h, include/trace/events/thp.h, include/trace/events/compaction.h,
// include/trace/events/memory-failure.h, include/trace/events/page_isolation.h,
// include/trace/events/kmem.h, include/trace/events/vmscan.h
export {
  type CopyWorkerEvent,
  type MemoryFailureEvent,
  type MigrationPmd,
  type MmCompactionEvent,
  type MmMigrateOffload,
  type MmMigrateOffloadDecision,
  type MmMigratePages,
  type MmMigratePagesStart,
  type MmPageAllocExtfrag,
  type MmVmscanLruShrinkInactive,
  type OomReapingEvent,
  type RemoveMigrationPte,
  type SetMigrationPte,
  type TestPagesIsolatedEvent,
  type TraceEvent,
  Tracepoints,
} from "./include/trace";
// include/linux/vm_event_item.h, include/linux/vmstat.h
export { VM_EVENT_ITEMS, type VmEventItem, VmStat, vmEventIndex } from "./include/vmstat";
export type { Workqueue } from "./include/workqueue";
// init/main.c
export { Kernel } from "./init/main";
// kernel/: copy threads, modules, SRCU
export {
  CopyEngine,
  type CopyEngineOptions,
  type WorkerFault,
} from "./kernel/copy_engine";
// kernel/fork.c: the users count of an address space
export { getTaskMm, mmput } from "./kernel/fork";
export {
  defineMigratorModule,
  type MigratorModule,
  type MigratorModuleDriver,
  type ReasonMaskFile,
} from "./kernel/migrator_module";
export { modulePut, registerModuleNotifier, tryModuleGet } from "./kernel/module";
// kernel/ptrace.c, include/linux/ptrace.h
export {
  PTRACE_MODE_ATTACH,
  PTRACE_MODE_FSCREDS,
  PTRACE_MODE_NOAUDIT,
  PTRACE_MODE_READ,
  PTRACE_MODE_READ_FSCREDS,
  PTRACE_MODE_READ_REALCREDS,
  PTRACE_MODE_REALCREDS,
  ptraceMayAccess,
} from "./kernel/ptrace";
export { Srcu } from "./kernel/srcu";
export {
  procDointvecEntry,
  procDointvecMinmax,
  procDoulongvecEntry,
  procDoulongvecMinmax,
  type SysctlEntryOptions,
  type SysctlWrite,
} from "./kernel/sysctl";
// lib/
export { colouredArray, L1_CACHE_BYTES } from "./lib/cache";
export { parseSize, type Size } from "./lib/cmdline";
export {
  kstrtobool,
  kstrtoint,
  kstrtouint,
  kstrtoull,
  sysfsStreq,
} from "./lib/kstrtox";
export { FolioList, ListSpace } from "./lib/list";
// lib/maple_tree.c, include/linux/maple_tree.h
export { type MapleGap, type MapleRange, MapleTree } from "./lib/maple_tree";
export { formatNodeList } from "./lib/nodemask";
export { LOCAL_DISTANCE, MAX_NUMNODES, NUMA_NO_NODE, REMOTE_DISTANCE } from "./lib/numa";
export { type PooledSection, SECTION_POOL_CHUNK, SectionPool } from "./lib/section_pool";
export {
  BALLOON_GFP,
  balloonDevinfoInit,
  balloonInit,
  balloonPageAlloc,
  balloonPageDequeue,
  balloonPageEnqueue,
  balloonPageListDequeue,
  balloonPageListEnqueue,
} from "./mm/balloon";
// mm/
export {
  allocContigCompactControl,
  allocPagesDirectCompact,
  type CompactControl,
  type CompactZoneOptions,
  type CompactZoneResult,
  compactionSuitable,
  compactionZonelistSuitable,
  compactNode,
  compactNodes,
  compactZone,
  extfragForOrder,
  fragmentationIndex,
  fragmentationScoreNode,
  fragmentationScoreWmark,
  isolateMigratepagesRange,
  MAX_COMPACT_RETRIES,
  resetIsolationSuitable,
  shouldCompactRetry,
  tryToCompactPages,
} from "./mm/compaction";
export { copyMcPages, folioCopy, folioMcCopy } from "./mm/copy_mc";
export {
  doAsyncMmapReadahead,
  doSyncMmapReadahead,
  filemapFault,
  MMAP_LOTSAMISS,
} from "./mm/filemap_fault";
export {
  allocHugetlbFolioNodemask,
  allocHugetlbFolioNodemaskSlowpath,
  dissolveFreeHugetlbFolio,
  folioHstate,
  htlbAllocMask,
  hugetlbReplacementRelease,
  hugetlbReplacementSlowpath,
  newHugetlbReplacement,
  replaceFreeHugepageFolios,
} from "./mm/hugetlb";
export { folioWalkEntry } from "./mm/memory";
export { MF_SW_SIMULATED } from "./mm/memory_failure";
export {
  doMigrateRange,
  nodesWithMemory,
  offlinePages,
  onlinePages,
  pfnToOnlinePage,
  scanMovablePages,
} from "./mm/memory_hotplug";
// mm/mempolicy.c
export { allocMigrationTargetByMpol } from "./mm/mempolicy";
export {
  allocTargetSlowpath,
  batchPairs,
  folioExpectedRefCount,
  folioMarkContentCopied,
  isolateFolioToList,
  type MigratePagesOptions,
  migrateFoliosMcCopy,
  migratePages,
  migratePagesBatch,
  NR_MAX_MIGRATE_ASYNC_RETRY,
  NR_MAX_MIGRATE_PAGES_RETRY,
  NR_MAX_MIGRATE_SYNC_RETRY,
  putbackMovablePages,
} from "./mm/migrate";
// the copy step's cost model, for the migrators' adaptive policies (beyond the series)
export {
  type CalibrateOptions,
  type CopyCostProfile,
  type CopyOffload,
  calibrateCopyCost,
  calibratedLaneGbps,
  counterAttribute,
  cpuCopyNs,
  type DmaDescriptorCount,
  dmaCopyNs,
  migrateKernelNs,
  type OffloadDecision,
  OffloadPolicy,
  offloadDecision,
  parseCopyCostProfile,
  threadCopyNs,
} from "./mm/migrate_copy_cost";
export {
  type OffloadBasis,
  OffloadLearner,
  type OffloadLearnerOptions,
  offloadClassOf,
} from "./mm/migrate_copy_learn";
export {
  formatReasonMask,
  migratorFromPromise,
  parseReasonMask,
} from "./mm/migrate_copy_offload";
export { migrateMisplacedFolio, migrateMisplacedFolioPrepare } from "./mm/migrate_misplaced";
export {
  isolateMovableOpsPage,
  migrateMovableOpsPage,
  pageHasMovableOps,
  putbackMovableOpsPage,
  setMovableOps,
} from "./mm/migrate_movable_ops";
export {
  canDoMlock,
  doMlockCheckLimit,
  mlockFolio,
  mlockFutureOk,
  mmLockedVm,
  munlockFolio,
  nrMlock,
} from "./mm/mlock";
export {
  allocMigrationTarget,
  isolateFoliosToList,
  type MigrationTargetControl,
} from "./mm/move_pages";
export { changeProtNuma } from "./mm/mprotect";
// mm/oom_kill.c, and get_mm_rss() of include/linux/mm.h
export {
  constrainedAlloc,
  getMmRss,
  oomBadness,
  oomInitSysctl,
  oomKillProcess,
  oomTotalPages,
  outOfMemory,
  selectBadProcess,
} from "./mm/oom_kill";
// mm/page_alloc.c and the ALLOC_* flags of mm/internal.h
export {
  ALLOC_CPUSET,
  ALLOC_HIGHATOMIC,
  ALLOC_KSWAPD,
  ALLOC_MIN_RESERVE,
  ALLOC_NO_WATERMARKS,
  ALLOC_NON_BLOCK,
  ALLOC_OOM,
  ALLOC_RESERVES,
  ALLOC_WMARK_HIGH,
  ALLOC_WMARK_LOW,
  ALLOC_WMARK_MASK,
  ALLOC_WMARK_MIN,
  allocContigPages,
  allocContigRange,
  allocPagesSlowpath,
  gfpPfmemallocFlags,
  gfpToAllocFlags,
  maxFolioOrder,
  WATERMARK_BOOST_FACTOR,
} from "./mm/page_alloc";
export {
  hasUnmovablePages,
  MEMORY_OFFLINE,
  startIsolatePageRange,
  testPagesIsolated,
  undoIsolatePageRange,
} from "./mm/page_isolation";
export {
  defineReadahead,
  doPageCacheRa,
  forcePageCacheRa,
  forcePageCacheReadahead,
  getInitRaSize,
  getNextRaSize,
  pageCacheAsyncRa,
  pageCacheRaOrder,
  pageCacheRaUnbounded,
  pageCacheSyncRa,
  READAHEAD_GFP_MASK,
  type ReadaheadControl,
} from "./mm/readahead";
export { folioReferenced } from "./mm/rmap";
export { folioGet, folioLruList, folioPut } from "./mm/swap";
// mm/util.c: the overcommit policy
export {
  utilInitSysctl,
  vmCommitLimit,
  vmMemoryCommitted,
} from "./mm/util";
export {
  allocNodes,
  canDemote,
  DEF_PRIORITY,
  performReclaim,
  reclaimCleanPagesFromList,
  SWAP_CLUSTER_MAX,
  shouldReclaimRetry,
  tryToFreePages,
  zoneReclaimablePages,
} from "./mm/vmscan";
