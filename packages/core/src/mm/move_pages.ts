/**
 * The `move_pages(2)` system call.
 *
 * Models `kernel_move_pages()`, `do_pages_move()`, `add_page_for_migration()` and
 * `do_pages_stat()` from `mm/migrate.c`.
 *
 * Whole-call errors come in the kernel's order: `EINVAL` for unknown flags, `EPERM` for
 * `MPOL_MF_MOVE_ALL` without `CAP_SYS_NICE`, `ESRCH` for no such process, `EPERM` when
 * `ptraceMayAccess(PTRACE_MODE_READ_REALCREDS)` denies (another user's process, or one that is not
 * dumpable, without `CAP_SYS_PTRACE`), `EINVAL` for a process with no mm, `EFAULT` for a bad
 * array, `ENOMEM` for more entries than a status array can hold, then `ENODEV` for a node that
 * does not exist or has no memory and `EACCES` for a node outside the process's cpuset. Nodes are
 * all checked before any page moves, so a call that fails changes nothing (Linux moves the
 * entries before the bad one first).
 *
 * Each page's status is its node, or a negative errno: `-EFAULT` (no mapping, or the zero page),
 * `-ENOENT` (not present), `-EACCES` (shared, without `MPOL_MF_MOVE_ALL`), `-EBUSY` (cannot be
 * isolated, for example a second address in a folio already queued), and for pages whose
 * migration failed the errno it failed with: `-ENOMEM` (no memory on the target node),
 * `-EIO`/`-EINVAL` (a dirty file page that could not be written back), `-EBUSY` (writeback),
 * `-EAGAIN` (still pinned after every retry), `-EHWPOISON`. The call returns the number of pages
 * that were queued and not migrated. Linux since 4.17 stops at the first batch with failures and
 * returns that batch's failures plus the entries not yet looked at, leaving their statuses
 * unwritten; here every entry is processed and gets a status, as the man page describes.
 *
 * @module
 */
import { Effect } from "effect";
import { ERRNO, type ErrnoError, errno } from "../errno";
import { CAP_SYS_NICE } from "../include/capability";
import { __GFP_COMP, __GFP_THISNODE, GFP_HIGHUSER_MOVABLE } from "../include/gfp";
import type { Kernel, Task } from "../include/kernel";
import { MPOL_MF_MOVE, MPOL_MF_MOVE_ALL } from "../include/mempolicy";
import type { MovePagesResult, NewFolioFn } from "../include/migrate";
import { MIGRATE_SYNC, type MigrateReason, MR_SYSCALL } from "../include/migrate_mode";
import { PG_hugetlb } from "../include/page_flags";
import { isMigrationEntry, ptePfn, ptePresent, pteSpecial } from "../include/pgtable";
import { PTRACE_MODE_READ_REALCREDS, ptraceMayAccess } from "../kernel/ptrace";
import { FolioList } from "../lib/list";
import { MAX_NUMNODES } from "../lib/numa";
import { allocHugetlbFolioNodemask } from "./hugetlb";
import { folioWalkEntry } from "./memory";
import { isolateFolioToList, migratePages, putbackMovablePages } from "./migrate";
import { kvmalloc } from "./util";

/** The page mapped at `addr` (`follow_page` with `FOLL_DUMP`): a PFN, or a negative errno. */
const followPage = (k: Kernel, task: Task, addr: number): number => {
  const vma = task.mm!.findVma(addr);
  if (!vma) return -ERRNO.EFAULT;
  const pte = folioWalkEntry(k, vma, Math.floor((addr - vma.start) / k.mem.pageSize));
  if (!ptePresent(pte) || isMigrationEntry(pte)) return -ERRNO.ENOENT;
  if (pteSpecial(pte)) return -ERRNO.EFAULT;
  return ptePfn(pte);
};

/**
 * Checks the whole call; returns the target task and the status array to fill, or the error,
 * changing nothing. `ENOMEM` when the host cannot allocate a status array of that many entries.
 */
const checkCall = (
  k: Kernel,
  caller: Task,
  pid: number,
  pages: ArrayLike<number>,
  nodes: ArrayLike<number> | null,
  flags: number,
): { readonly target: Task; readonly status: Int32Array } | ErrnoError => {
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
  if (!target.mm) return errno("EINVAL", `move_pages: process ${pid} has no mm`);
  const count = pages?.length;
  if (!Number.isSafeInteger(count) || count < 0 || (nodes !== null && !(nodes?.length >= count))) {
    return errno("EFAULT", "move_pages: the pages or nodes array is bad");
  }
  const status = kvmalloc(() => new Int32Array(count));
  if (!status) return errno("ENOMEM", `move_pages: no memory for ${count} status entries`);
  for (let i = 0; i < count; i++) {
    if (!Number.isSafeInteger(pages[i]))
      return errno("EFAULT", `move_pages: pages[${i}] is not an address`);
  }
  if (nodes) {
    for (let i = 0; i < count; i++) {
      const node = nodes[i]!;
      if (!Number.isInteger(node) || node < 0 || node >= MAX_NUMNODES || !k.nodeHasMemory(node)) {
        return errno("ENODEV", `move_pages: nodes[${i}] = ${node} does not exist or has no memory`);
      }
      if (!target.memsAllowed.includes(node)) {
        return errno("EACCES", `move_pages: node ${node} is not allowed for process ${target.pid}`);
      }
    }
  }
  return { target, status };
};

/** `do_pages_stat()`: the node of each page. */
const pagesStat = (k: Kernel, target: Task, pages: ArrayLike<number>, status: Int32Array): void => {
  for (let i = 0; i < status.length; i++) {
    const pfn = followPage(k, target, pages[i]!);
    status[i] = pfn < 0 ? pfn : k.mem.pfnToNid(pfn);
  }
};

/**
 * `add_page_for_migration()`: isolates the folio of the page at `addr` onto `list`. Returns 1 when
 * queued, 0 when it is already on `node`, or a negative errno for its status.
 */
const addPageForMigration = (
  k: Kernel,
  target: Task,
  addr: number,
  node: number,
  list: FolioList,
  migrateAll: boolean,
): number => {
  const pfn = followPage(k, target, addr);
  if (pfn < 0) return pfn;
  if (k.mem.pfnToNid(pfn) === node) return 0;
  if (k.memmap.pageMapcount(pfn) > 1 && !migrateAll) return -ERRNO.EACCES;
  return isolateFolioToList(k, k.memmap.folioOf(pfn), list) ? 1 : -ERRNO.EBUSY;
};

/**
 * Isolates the folios mapped at the user addresses `addrs` of `task` onto `list`, for a caller
 * of {@link migratePages}: each address is looked up in the task's page table as
 * `add_page_for_migration()` (`mm/migrate.c`) looks up a `move_pages(2)` page, and its folio is
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
    if (!task.mm) return Effect.fail(errno("EINVAL", `process ${task.pid} has no memory`));
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
      const pfn = followPage(k, task, addr);
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
 * flags and the reason, which decides whether a hugetlb destination may come from another node.
 *
 * @category Page migration
 */
export interface MigrationTargetControl {
  /** `gfp_mask`; `GFP_HIGHUSER_MOVABLE | __GFP_THISNODE` (what `move_pages(2)` asks) by default. */
  readonly gfp?: number;
  /** `reason`; `MR_SYSCALL` by default. */
  readonly reason?: MigrateReason;
}

/**
 * `alloc_migration_target()` (`mm/migrate.c`): the destination allocator callers hand to
 * `migrate_pages()`, with a `migration_target_control` of `node` (-1, `NUMA_NO_NODE`, for the
 * source's own node first) and `mtc` (by default one node and `__GFP_THISNODE`, as
 * `move_pages(2)` asks). A hugetlb source gets its destination from the hugetlb pool
 * (`alloc_hugetlb_folio_nodemask()`, `mm/hugetlb.c`): a free huge page of the node, or a fresh
 * temporary one.
 *
 * @category Page migration
 */
export const allocMigrationTarget =
  (k: Kernel, node: number, mtc: MigrationTargetControl = {}): NewFolioFn =>
  (src: number): number => {
    const gfp = mtc.gfp ?? GFP_HIGHUSER_MOVABLE | __GFP_THISNODE;
    const nid = node < 0 ? k.mem.pfnToNid(src) : node;
    if (k.memmap.test(src, PG_hugetlb)) {
      return allocHugetlbFolioNodemask(k, nid, null, gfp, mtc.reason ?? MR_SYSCALL);
    }
    const order = k.memmap.folioOrder(src);
    return k.pageAlloc.allocPages(nid, order, gfp | (order > 0 ? __GFP_COMP : 0));
  };

/**
 * `do_pages_move()`: runs of consecutive entries with the same target node are queued and
 * migrated as one `migrate_pages()` call, `MIGRATE_SYNC`, `MR_SYSCALL`.
 */
const pagesMove = (
  k: Kernel,
  caller: Task,
  target: Task,
  pages: ArrayLike<number>,
  nodes: ArrayLike<number>,
  migrateAll: boolean,
  status: Int32Array,
) =>
  Effect.gen(function* () {
    const list = new FolioList(k.memmap.lru);
    const queued: number[] = [];
    let notMigrated = 0;
    let current = -1;
    const flush = Effect.gen(function* () {
      if (queued.length === 0) return;
      const errors = new Map<number, number>();
      const { rc } = yield* migratePages(
        k,
        list,
        allocMigrationTarget(k, current),
        null,
        MIGRATE_SYNC,
        MR_SYSCALL,
        { errors, caller },
      );
      if (!list.isEmpty) putbackMovablePages(k, list);
      for (const i of queued) {
        const pfn = followPage(k, target, pages[i]!);
        if (pfn >= 0 && k.mem.pfnToNid(pfn) === current) {
          status[i] = current;
          continue;
        }
        status[i] =
          pfn < 0 ? pfn : (errors.get(k.memmap.folioOf(pfn)) ?? (rc < 0 ? rc : -ERRNO.EAGAIN));
        notMigrated++;
      }
      queued.length = 0;
    });
    try {
      for (let i = 0; i < status.length; i++) {
        const node = nodes[i]!;
        if (node !== current) {
          yield* flush;
          current = node;
        }
        const err = addPageForMigration(k, target, pages[i]!, node, list, migrateAll);
        if (err > 0) {
          queued.push(i);
          continue;
        }
        status[i] = err === 0 ? node : err;
        yield* flush;
      }
      yield* flush;
    } finally {
      list.release();
    }
    return notMigrated;
  });

/** `move_pages(2)`: moves (or, with `nodes` null, queries) pages of process `pid` (0: the caller). */
export const doMovePages = (
  k: Kernel,
  caller: Task,
  pid: number,
  pages: ArrayLike<number>,
  nodes: ArrayLike<number> | null,
  flags: number,
): Effect.Effect<MovePagesResult, ErrnoError> =>
  Effect.suspend(() => {
    const checked = checkCall(k, caller, pid, pages, nodes, flags);
    if (checked instanceof Error) return Effect.fail(checked);
    const { target, status } = checked;
    if (!nodes) {
      pagesStat(k, target, pages, status);
      return Effect.succeed({ rc: 0, status });
    }
    return pagesMove(
      k,
      caller,
      target,
      pages,
      nodes,
      (flags & MPOL_MF_MOVE_ALL) !== 0,
      status,
    ).pipe(Effect.map((rc) => ({ rc, status })));
  });
