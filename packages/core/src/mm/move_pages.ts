/**
 * The `move_pages(2)` system call.
 *
 * Models `kernel_move_pages()`, `find_mm_struct()`, `do_pages_move()`,
 * `add_folio_for_migration()`, `move_pages_and_store_status()`, `store_status()` and
 * `do_pages_stat()` from `mm/migrate.c` (Linux 6.16; the shared-folio test behind `-EACCES` is
 * `folio_maybe_mapped_shared()`, Linux 6.15 on).
 *
 * Whole-call errors come in the kernel's order. Before anything is read: `EINVAL` for unknown
 * flags and `EPERM` for `MPOL_MF_MOVE_ALL` without `CAP_SYS_NICE` (`kernel_move_pages()`), then
 * `ESRCH` for no such process, `EPERM` when `ptraceMayAccess(PTRACE_MODE_READ_REALCREDS)` denies
 * (another user's process, or one that is not dumpable, without `CAP_SYS_PTRACE`) and `EINVAL`
 * for a process with no mm (`find_mm_struct()`, which also takes the process's cpuset nodes), then
 * the model's own `EFAULT` for a `pages` that is not an array and `ENOMEM` for more entries than
 * a fresh status array can hold. Met entry by entry in `do_pages_move()`: `EFAULT` for an entry
 * of `pages` or `nodes` that cannot be read, `ENODEV` for a node that does not exist or has no
 * memory, `EACCES` for a node outside the cpuset taken at the start; the run queued before that
 * entry is still migrated (the kernel's `out_flush`), then the call fails. `EFAULT` also when a
 * status cannot be written (an entry past the end of the caller's status array).
 *
 * Each page's status is its node, or a negative errno: `-EFAULT` (no mapping, the zero page or
 * the huge zero folio), `-ENOENT` (not present), `-EACCES` (shared, without `MPOL_MF_MOVE_ALL`),
 * `-EBUSY` (cannot be isolated, for example a second address in a folio already queued). Runs of entries with the
 * same node are migrated together, and a run's statuses are stored only when all of it migrated.
 * When `migrate_pages()` fails pages of a run, the call stops there and returns those failures
 * plus the entries after the run, never attempted; the run's statuses and the later ones are left
 * as they were. When it fails with an errno (`-ENOMEM`), the call fails with it, also leaving the
 * run's statuses as they were. This follows Linux since 4.17 (commit a49bd4d71637, "mm, numa:
 * rework do_pages_move") with commit 5984fabb6e82 ("mm: move_pages: report the number of
 * non-attempted pages", 5.6).
 *
 * @module
 */
import { Effect } from "effect";
import { ERRNO, type ErrnoError, errno, errnoName } from "../errno";
import { CAP_SYS_NICE } from "../include/capability";
import { __GFP_RECLAIM, __GFP_THISNODE, GFP_HIGHUSER_MOVABLE, GFP_TRANSHUGE } from "../include/gfp";
import type { Kernel, Task } from "../include/kernel";
import { MPOL_MF_MOVE, MPOL_MF_MOVE_ALL } from "../include/mempolicy";
import {
  MOVE_PAGES_STATUS_UNWRITTEN,
  type MovePagesResult,
  type MovePagesStatus,
  type NewFolioFn,
} from "../include/migrate";
import { MIGRATE_SYNC, type MigrateReason, MR_SYSCALL } from "../include/migrate_mode";
import type { MmStruct } from "../include/mm_types";
import { mmapReadLocked, mmapReadTrylock, mmapReadUnlock } from "../include/mmap_lock";
import type { AllocContext, AllocRequest } from "../include/mmzone";
import { PG_hugetlb } from "../include/page_flags";
import { isMigrationEntry, ptePfn, ptePresent, pteSpecial } from "../include/pgtable";
import { getTaskMm, mmput } from "../kernel/fork";
import { PTRACE_MODE_READ_REALCREDS, ptraceMayAccess } from "../kernel/ptrace";
import { FolioList } from "../lib/list";
import { MAX_NUMNODES, NUMA_NO_NODE } from "../lib/numa";
import {
  allocHugetlbFolioNodemask,
  allocHugetlbFolioNodemaskSlowpath,
  folioHstate,
} from "./hugetlb";
import { folioWalkEntry } from "./memory";
import {
  allocTargetSlowpath,
  isolateFolioToList,
  migratePages,
  putbackMovablePages,
} from "./migrate";
import { folioMaybeMappedShared } from "./rmap";
import { kvmalloc } from "./util";

/** `DO_PAGES_STAT_CHUNK_NR`: `do_pages_stat()` reads addresses and writes statuses 16 at a time. */
const DO_PAGES_STAT_CHUNK_NR = 16;

/**
 * The page mapped at `addr` of `mm` (`folio_walk_start()` with `FW_ZEROPAGE`): a PFN, or a
 * negative errno: `-EFAULT` without a VMA, `-ENOENT` for a PTE that maps nothing (never faulted
 * in, or taken by the `oom_reaper`) or a page under migration.
 */
const followPage = (k: Kernel, mm: MmStruct, addr: number): number => {
  const vma = mm.findVma(addr);
  if (!vma) return -ERRNO.EFAULT;
  const pte = folioWalkEntry(k, vma, Math.floor((addr - vma.start) / k.mem.pageSize));
  if (!ptePresent(pte) || isMigrationEntry(pte)) return -ERRNO.ENOENT;
  if (pteSpecial(pte)) return -ERRNO.EFAULT;
  return ptePfn(pte);
};

/**
 * The checks `kernel_move_pages()` and `find_mm_struct()` make before anything is read; returns the
 * target task, its cpuset nodes as `find_mm_struct()` takes them (`cpuset_mems_allowed()`) and the
 * number of entries, or the error. `pages` must be array-like, or the model cannot tell how many
 * entries there are (`EFAULT`).
 */
const checkCall = (
  k: Kernel,
  caller: Task,
  pid: number,
  pages: ArrayLike<number>,
  flags: number,
):
  | { readonly target: Task; readonly taskNodes: readonly number[]; readonly nrPages: number }
  | ErrnoError => {
  if (!Number.isInteger(flags) || flags & ~(MPOL_MF_MOVE | MPOL_MF_MOVE_ALL)) {
    return errno("EINVAL", `move_pages: unknown flags ${flags}`);
  }
  if (flags & MPOL_MF_MOVE_ALL && !caller.capable(CAP_SYS_NICE)) {
    return errno("EPERM", "move_pages: MPOL_MF_MOVE_ALL needs CAP_SYS_NICE");
  }
  const target = pid === 0 ? caller : k.findTask(pid);
  if (!target) return errno("ESRCH", `move_pages: no process ${pid}`);
  if (!ptraceMayAccess(caller, target, PTRACE_MODE_READ_REALCREDS)) {
    return errno(
      "EPERM",
      `move_pages: process ${caller.pid} may not move the pages of process ${pid}`,
    );
  }
  const taskNodes = [...target.memsAllowed];
  if (!target.mm) return errno("EINVAL", `move_pages: process ${pid} has no mm`);
  const nrPages = pages?.length;
  if (!Number.isSafeInteger(nrPages) || nrPages < 0) {
    return errno("EFAULT", "move_pages: the pages array is bad");
  }
  return { target, taskNodes, nrPages };
};

/** Whether the caller's status array takes writes at all (a frozen array faults on every one). */
const statusWritable = (status: MovePagesStatus): boolean =>
  status instanceof Int32Array || (Array.isArray(status) && !Object.isFrozen(status));

/**
 * `store_status()`: writes `value` to the `nr` statuses from `start`, in order. 0, or `-EFAULT`
 * at the first entry that cannot be written (past the end of the caller's array); the entries
 * before it stay written, as `put_user()` leaves them.
 */
const storeStatus = (status: MovePagesStatus, start: number, value: number, nr: number): number => {
  if (nr > 0 && !statusWritable(status)) return -ERRNO.EFAULT;
  for (let i = start; i < start + nr; i++) {
    if (i >= status.length) return -ERRNO.EFAULT;
    status[i] = value;
  }
  return 0;
};

const statusFault = (i: number): ErrnoError =>
  errno("EFAULT", `move_pages: status[${i}] cannot be written`);

/**
 * `do_pages_stat()`: the node of each page, `DO_PAGES_STAT_CHUNK_NR` entries at a time. A chunk
 * whose addresses cannot all be read, or whose statuses cannot all be written, ends the call with
 * `EFAULT`; the chunks before it keep their statuses (`do_pages_stat_array()` finds each page with
 * `folio_walk_start()`: `-EFAULT` without a VMA or for the zero page, `-ENOENT` when not present).
 */
const pagesStat = (
  k: Kernel,
  mm: MmStruct,
  nrPages: number,
  pages: ArrayLike<number>,
  status: MovePagesStatus,
): ErrnoError | null => {
  const chunk = new Int32Array(DO_PAGES_STAT_CHUNK_NR);
  for (let start = 0; start < nrPages; start += DO_PAGES_STAT_CHUNK_NR) {
    const chunkNr = Math.min(nrPages - start, DO_PAGES_STAT_CHUNK_NR);
    for (let i = start; i < start + chunkNr; i++) {
      if (!Number.isSafeInteger(pages[i]))
        return errno("EFAULT", `move_pages: pages[${i}] is not an address`);
    }
    for (let j = 0; j < chunkNr; j++) {
      const pfn = followPage(k, mm, pages[start + j]!);
      chunk[j] = pfn < 0 ? pfn : k.mem.pfnToNid(pfn);
    }
    for (let j = 0; j < chunkNr; j++) {
      if (storeStatus(status, start + j, chunk[j]!, 1)) return statusFault(start + j);
    }
  }
  return null;
};

/** The address and node of one `move_pages()` entry, as {@link readEntry} reads them. */
interface MoveEntry {
  addr: number;
  node: number;
}

/**
 * What `do_pages_move()` reads for entry `i` before it queues it: the entry's address and node,
 * into `entry` (one object for the whole call, not one per page), or the whole-call error it
 * meets (`EFAULT` for an entry of `pages` or `nodes` that cannot be read, `ENODEV` for a node that
 * does not exist or has no memory, `EACCES` for one outside `taskNodes`).
 */
const readEntry = (
  k: Kernel,
  target: Task,
  taskNodes: readonly number[],
  pages: ArrayLike<number>,
  nodes: ArrayLike<number>,
  i: number,
  entry: MoveEntry,
): ErrnoError | null => {
  const addr = pages[i]!;
  if (!Number.isSafeInteger(addr))
    return errno("EFAULT", `move_pages: pages[${i}] is not an address`);
  const length = nodes?.length;
  if (!Number.isSafeInteger(length) || i >= length)
    return errno("EFAULT", `move_pages: nodes[${i}] cannot be read`);
  const node = nodes[i]!;
  if (!Number.isInteger(node) || node < 0 || node >= MAX_NUMNODES || !k.nodeHasMemory(node)) {
    return errno("ENODEV", `move_pages: nodes[${i}] = ${node} does not exist or has no memory`);
  }
  if (!taskNodes.includes(node)) {
    return errno("EACCES", `move_pages: node ${node} is not allowed for process ${target.pid}`);
  }
  entry.addr = addr;
  entry.node = node;
  return null;
};

/**
 * `add_folio_for_migration()`: isolates the folio of the page at `addr` onto `list`. Returns 1
 * when queued, 0 when it is already on `node`, or a negative errno for its status: `-EFAULT` (no
 * VMA, or the zero page), `-ENOENT` (not present), `-EACCES` (the folio may be mapped by more
 * than one process, `folio_maybe_mapped_shared()`, without `migrateAll`), `-EBUSY` (cannot be
 * isolated).
 */
const addFolioForMigration = (
  k: Kernel,
  mm: MmStruct,
  addr: number,
  node: number,
  list: FolioList,
  migrateAll: boolean,
): number => {
  const pfn = followPage(k, mm, addr);
  if (pfn < 0) return pfn;
  if (k.mem.pfnToNid(pfn) === node) return 0;
  const head = k.memmap.folioOf(pfn);
  if (!migrateAll && folioMaybeMappedShared(k, head)) return -ERRNO.EACCES;
  return isolateFolioToList(k, head, list) ? 1 : -ERRNO.EBUSY;
};

/**
 * Isolates the folios mapped at the user addresses `addrs` of `task` onto `list`, for a caller
 * of {@link migratePages}: each address is looked up in the task's page table as
 * `add_folio_for_migration()` (`mm/migrate.c`) looks up a `move_pages(2)` page, and its folio is
 * isolated with `isolate_folio_to_list()` (`mm/migrate.c`), as `migrate_folio_add()`
 * (`mm/mempolicy.c`) does for `mbind(2)` and `migrate_pages(2)`. Several addresses in one large
 * folio queue it once. Resolves with the number of folios added; put back what
 * `migratePages()` leaves on the list with {@link putbackMovablePages}.
 *
 * An SDK helper with no kernel symbol of its own. Fails, leaving `list` and every folio as they
 * were, with `EFAULT` for an address no VMA of `task` covers or one that maps the zero page,
 * `ENOENT` for a page not faulted in (or under migration), `EBUSY` for a folio another caller
 * has isolated, and `EINVAL` for a task with no memory (a kernel thread): the page statuses
 * `move_pages(2)` would report for the same addresses.
 *
 * @category Page migration
 *
 * @example
 * ```ts
 * import {
 *   FolioList,
 *   Kernel,
 *   MAP_ANONYMOUS,
 *   MAP_PRIVATE,
 *   MIGRATE_SYNC,
 *   MR_SYSCALL,
 *   allocMigrationTarget,
 *   isolateFoliosToList,
 *   migratePages,
 *   putbackMovablePages,
 * } from "@migrate-offload/core";
 * import { Effect } from "effect";
 *
 * await Effect.runPromise(
 *   Effect.scoped(
 *     Effect.gen(function* () {
 *       const kernel = yield* Kernel.make({ nodes: ["16M", "16M"] });
 *       const proc = yield* kernel.createProcess();
 *       const addr = yield* proc.mmap(2 * 4096, { flags: MAP_PRIVATE | MAP_ANONYMOUS });
 *       yield* proc.write(addr, new Uint8Array(2 * 4096).fill(7));
 *       const list = new FolioList(kernel.memmap.lru);
 *       const queued = yield* isolateFoliosToList(proc, [addr, addr + 4096], list);
 *       const { rc } = yield* migratePages(kernel, list, allocMigrationTarget(kernel, 1), null,
 *         MIGRATE_SYNC, MR_SYSCALL);
 *       putbackMovablePages(kernel, list); // what did not move goes back to the LRU
 *       list.release();
 *       console.log(queued, rc); // 2 0: two folios isolated, none left behind
 *       // An address with nothing mapped fails, and isolates nothing:
 *       const error = yield* Effect.flip(isolateFoliosToList(proc, [0x1000], list));
 *       console.log(error.errno); // "EFAULT"
 *     }),
 *   ),
 * );
 * ```
 */
export const isolateFoliosToList = (
  task: Task,
  addrs: ArrayLike<number>,
  list: FolioList,
): Effect.Effect<number, ErrnoError> =>
  Effect.suspend(() => {
    const k = task.kernel;
    const mm = task.mm;
    if (!mm) return Effect.fail(errno("EINVAL", `process ${task.pid} has no memory`));
    const added = new FolioList(list.space);
    const queued = new Set<number>();
    const fail = (error: ErrnoError) => {
      putbackMovablePages(k, added);
      added.release();
      return Effect.fail(error);
    };
    for (let i = 0; i < addrs.length; i++) {
      const addr = addrs[i]!;
      const at = `address 0x${addr.toString(16)} of process ${task.pid}`;
      const pfn = followPage(k, mm, addr);
      if (pfn === -ERRNO.EFAULT)
        return fail(errno("EFAULT", `${at} is not mapped, or maps the zero page`));
      if (pfn < 0) return fail(errno("ENOENT", `${at} has no page present`));
      const head = k.memmap.folioOf(pfn);
      if (queued.has(head)) continue;
      if (!isolateFolioToList(k, head, added))
        return fail(
          errno(
            "EBUSY",
            `the folio at ${at} is already isolated (by an earlier call, or a migration)`,
          ),
        );
      queued.add(head);
    }
    list.spliceTail(added);
    added.release();
    return Effect.succeed(queued.size);
  });

/**
 * The rest of a `struct migration_target_control` (`mm/internal.h`) beyond its node: the GFP
 * flags, the node mask and the reason, which decides whether a hugetlb destination may come from
 * another node.
 *
 * @category Page migration
 */
export interface MigrationTargetControl {
  /** `gfp_mask`; `GFP_HIGHUSER_MOVABLE | __GFP_THISNODE` (what `move_pages(2)` asks) by default. */
  readonly gfp?: number;
  /**
   * `nmask`: the nodes the folio may go to, nearest to `node` first (memory offlining's
   * `do_migrate_range()`); null for `node` alone.
   */
  readonly nmask?: readonly number[] | null;
  /** `reason`; `MR_SYSCALL` by default. */
  readonly reason?: MigrateReason;
  /**
   * The task the destinations are allocated in (`current`, which Linux reads where the struct
   * does not carry it): the caller of a system call, whose `PF_MEMALLOC` and CPU's node the
   * allocator reads (`numa_local` or `numa_other`, `zone_statistics()`). Null (the default) for a
   * kernel thread of the destination's node.
   */
  readonly current?: AllocContext | null;
}

/**
 * `alloc_migration_target()` (`mm/migrate.c`): the destination allocator callers hand to
 * `migrate_pages()`, with a `migration_target_control` of `node` (-1, `NUMA_NO_NODE`, for the
 * source's own node first) and `mtc` (by default one node and `__GFP_THISNODE`, as
 * `move_pages(2)` asks; with `nmask` the folio may go to any node of the mask). A hugetlb source
 * gets its destination from the hugetlb pool (`alloc_hugetlb_folio_nodemask()`, `mm/hugetlb.c`):
 * a free huge page of the node, or a fresh temporary one (its slow path
 * `allocHugetlbFolioNodemaskSlowpath()`). A large folio's destination is
 * allocated as a THP (`__GFP_RECLAIM` cleared, `GFP_TRANSHUGE` added, Linux 6.16). When the first
 * tries fail, `migrate_pages()` runs the allocation's slow path (`slowpath`: direct reclaim and
 * compaction as its flags allow) before it gives up on the folio. Every allocation is made in
 * `mtc.current`, the migrating task (by default none: a kernel thread of the destination node).
 *
 * @category Page migration
 */
export const allocMigrationTarget = (
  k: Kernel,
  node: number,
  mtc: MigrationTargetControl = {},
): NewFolioFn => {
  const nmask = mtc.nmask ?? null;
  // A node mask lets the folio go to any of its nodes: no __GFP_THISNODE by default then.
  const mtcGfp = mtc.gfp ?? GFP_HIGHUSER_MOVABLE | (nmask ? 0 : __GFP_THISNODE);
  const current = mtc.current ?? null;
  const nidOf = (src: number) => (node < 0 ? k.mem.pfnToNid(src) : node);
  /** A large folio's destination is allocated as a THP: `__GFP_RECLAIM` off, `GFP_TRANSHUGE` on. */
  const reqOf = (src: number): AllocRequest => {
    const order = k.memmap.folioOrder(src);
    const gfp = order > 0 ? (mtcGfp & ~__GFP_RECLAIM) | GFP_TRANSHUGE : mtcGfp;
    return { nid: nidOf(src), order, gfp, nodemask: nmask };
  };
  /** A hugetlb folio's destination, from its pool: the arguments of the first tries and slow path. */
  const hugeArgs = (src: number) =>
    [folioHstate(k, src), nidOf(src), nmask, mtcGfp, mtc.reason ?? MR_SYSCALL, current] as const;
  const target = (src: number): number => {
    if (k.memmap.test(src, PG_hugetlb)) return allocHugetlbFolioNodemask(...hugeArgs(src));
    const { nid, order, gfp } = reqOf(src);
    return k.pageAlloc.allocPages(nid, order, gfp, nmask, current);
  };
  return Object.assign(target, {
    slowpath: (src: number) =>
      k.memmap.test(src, PG_hugetlb)
        ? allocHugetlbFolioNodemaskSlowpath(...hugeArgs(src))
        : allocTargetSlowpath(k, reqOf(src), current),
  });
};

/**
 * `do_pages_move()` (`mm/migrate.c`): entries are queued in runs with the same target node; a run
 * is migrated by one `migrate_pages()` call (`MIGRATE_SYNC`, `MR_SYSCALL`) when the node changes,
 * when an entry is not queued (its status stored first), or at the end. Returns the kernel's
 * return value: 0, or the pages of the failed run not migrated plus the entries not attempted;
 * fails with the whole-call error.
 */
const pagesMove = (
  k: Kernel,
  caller: Task,
  target: Task,
  mm: MmStruct,
  taskNodes: readonly number[],
  nrPages: number,
  pages: ArrayLike<number>,
  nodes: ArrayLike<number>,
  migrateAll: boolean,
  status: MovePagesStatus,
): Effect.Effect<number, ErrnoError> =>
  Effect.gen(function* () {
    const list = new FolioList(k.memmap.lru);
    let current = NUMA_NO_NODE;
    let start = 0;
    /**
     * `move_pages_and_store_status()`: migrates the run `[start, i)` queued for `current`. 0 when
     * it all migrated and its statuses are stored; else the run's failures plus the `nrPages - i`
     * entries not attempted, or a negative errno (`migrate_pages()`'s, or `-EFAULT` when a status
     * cannot be written), with the run's statuses left as they were.
     */
    const moveAndStoreStatus = (i: number) =>
      Effect.gen(function* () {
        if (list.isEmpty) return 0;
        // do_move_pages_to_node()
        const { rc } = yield* migratePages(
          k,
          list,
          allocMigrationTarget(k, current, { current: caller }),
          null,
          MIGRATE_SYNC,
          MR_SYSCALL,
          { caller },
        );
        if (rc !== 0) {
          if (!list.isEmpty) putbackMovablePages(k, list);
          return rc > 0 ? rc + nrPages - i : rc;
        }
        return storeStatus(status, start, current, i - start);
      });
    /** The call's end: its return value, or the error an errno names. */
    const finish = (err: number, at: number): Effect.Effect<number, ErrnoError> => {
      if (err >= 0) return Effect.succeed(err);
      if (err === -ERRNO.EFAULT)
        return Effect.fail(statusFault(statusWritable(status) ? status.length : at));
      return Effect.fail(
        errno(errnoName(err) ?? "EIO", `move_pages: migrate_pages() failed with ${err}`),
      );
    };
    try {
      let i = 0;
      let failure: ErrnoError | null = null;
      const entry: MoveEntry = { addr: 0, node: 0 };
      for (; i < nrPages; i++) {
        const bad = readEntry(k, target, taskNodes, pages, nodes, i, entry);
        if (bad) {
          failure = bad;
          break;
        }
        if (current === NUMA_NO_NODE) {
          current = entry.node;
          start = i;
        } else if (entry.node !== current) {
          const err = yield* moveAndStoreStatus(i);
          if (err) return yield* finish(err, start);
          start = i;
          current = entry.node;
        }
        // add_page_for_migration(): each look-up under mmap_read_lock(), dropped before the
        // run migrates.
        // The lock free (nearly always), the look-up runs in this step, as mmapReadLocked() would
        // run it, without an effect and a closure per entry.
        const addr = entry.addr;
        const node = current;
        let err: number;
        if (mmapReadTrylock(mm)) {
          try {
            err = addFolioForMigration(k, mm, addr, node, list, migrateAll);
          } finally {
            mmapReadUnlock(mm);
          }
        } else
          err = yield* mmapReadLocked(
            mm,
            () => addFolioForMigration(k, mm, addr, node, list, migrateAll),
            k,
          );
        if (err > 0) continue;
        if (storeStatus(status, i, err === 0 ? current : err, 1)) {
          failure = statusFault(i);
          break;
        }
        const flushed = yield* moveAndStoreStatus(i);
        // Entry i is not queued, so it is not among the entries not attempted.
        if (flushed) return yield* finish(flushed > 0 ? flushed - 1 : flushed, start);
        current = NUMA_NO_NODE;
      }
      // out_flush: the queued run still migrates; an error met on the way wins over its result.
      const flushed = yield* moveAndStoreStatus(i);
      if (failure) return yield* Effect.fail(failure);
      return yield* finish(flushed, start);
    } finally {
      list.release();
    }
  });

/**
 * `move_pages(2)` (`kernel_move_pages()`, `mm/migrate.c`): moves (or, with `nodes` null, queries)
 * pages of process `pid` (0: the caller), writing each entry's status into `status`, or into a
 * fresh `Int32Array` filled with {@link MOVE_PAGES_STATUS_UNWRITTEN} when the caller passes none.
 *
 * @category Page migration
 */
export const doMovePages = <S extends MovePagesStatus = Int32Array>(
  k: Kernel,
  caller: Task,
  pid: number,
  pages: ArrayLike<number>,
  nodes: ArrayLike<number> | null,
  flags: number,
  status?: S,
): Effect.Effect<MovePagesResult<S>, ErrnoError> =>
  Effect.suspend(() => {
    const checked = checkCall(k, caller, pid, pages, flags);
    if (checked instanceof Error) return Effect.fail(checked);
    const { target, taskNodes, nrPages } = checked;
    let out: MovePagesStatus | undefined = status;
    if (out === undefined) {
      out = kvmalloc(() => new Int32Array(nrPages).fill(MOVE_PAGES_STATUS_UNWRITTEN)) ?? undefined;
      if (!out)
        return Effect.fail(errno("ENOMEM", `move_pages: no memory for ${nrPages} status entries`));
    }
    const result = out as S;
    // find_mm_struct(): the call works on the address space, held (get_task_mm()) until its end
    // (mmput()), so the target's exit meanwhile leaves it mapped.
    // The reference is taken where no interruption can come between it and its release.
    return Effect.acquireUseRelease(
      Effect.sync(() => getTaskMm(target)),
      (mm): Effect.Effect<{ rc: number; status: S }, ErrnoError> => {
        if (!mm) return Effect.fail(errno("EINVAL", `move_pages: process ${pid} has no mm`));
        if (nodes === null) {
          // do_pages_stat(): the look-ups under mmap_read_lock().
          return Effect.flatMap(
            mmapReadLocked(mm, () => pagesStat(k, mm, nrPages, pages, result), k),
            (failed) => (failed ? Effect.fail(failed) : Effect.succeed({ rc: 0, status: result })),
          );
        }
        return Effect.map(
          pagesMove(
            k,
            caller,
            target,
            mm,
            taskNodes,
            nrPages,
            pages,
            nodes,
            (flags & MPOL_MF_MOVE_ALL) !== 0,
            result,
          ),
          (rc) => ({ rc, status: result }),
        );
      },
      // The caller's mmput(): a shmem object's release is queued on the caller.
      (mm) => Effect.sync(() => mm && mmput(k, mm, caller)),
    );
  });
