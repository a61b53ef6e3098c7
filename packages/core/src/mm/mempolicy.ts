/**
 * NUMA memory policy: the system calls that set and read it, and the two that move pages by it.
 *
 * Models `mm/mempolicy.c`: a policy belongs to a VMA (`mbind`) or to a task
 * (`set_mempolicy`), and picks the node, and the nodes allowed, for each new folio
 * (`policy_nodemask`). Without a policy a folio goes to the faulting task's local node and falls
 * back to the others by distance.
 *
 * `mbind()` with `MPOL_MF_MOVE` or `MPOL_MF_MOVE_ALL` also moves the pages already in the range
 * that the new policy's nodes do not hold (`do_mbind()`, `queue_pages_range()`), through
 * `migrate_pages()` with `alloc_migration_target_by_mpol()`, `MIGRATE_SYNC` and
 * `MR_MEMPOLICY_MBIND`. `migrate_pages(2)` (`kernel_migrate_pages()`, `do_migrate_pages()`) moves a
 * whole process from one node set to another, node pair by node pair, with `MR_SYSCALL`.
 *
 * Not modelled: `vma_migratable()` is true for every VMA (the model has no `VM_IO`, `VM_PFNMAP`,
 * DAX or zones), KSM, shared (shmem) policies, `MPOL_PREFERRED_MANY` and
 * `MPOL_WEIGHTED_INTERLEAVE` (refused with `EINVAL`), and the task's interleave counter
 * (`il_prev`), so `get_mempolicy(MPOL_F_NODE)` without `MPOL_F_ADDR` is `EINVAL` for every policy.
 *
 * @module
 */
import { Effect } from "effect";
import { type ErrnoError, errno, errnoName } from "../errno";
import { CAP_SYS_NICE } from "../include/capability";
import { __GFP_RETRY_MAYFAIL, GFP_HIGHUSER_MOVABLE, GFP_TRANSHUGE } from "../include/gfp";
import type { Kernel, Task } from "../include/kernel";
import {
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
  MPOL_MF_MOVE,
  MPOL_MF_MOVE_ALL,
  MPOL_MF_STRICT,
  MPOL_MF_VALID,
  MPOL_MODE_FLAGS,
  MPOL_PREFERRED,
  mpolEqual,
  policyTarget,
} from "../include/mempolicy";
import type { NewFolioFn } from "../include/migrate";
import { MIGRATE_SYNC, MR_MEMPOLICY_MBIND, MR_SYSCALL } from "../include/migrate_mode";
import type { MmStruct, Vma } from "../include/mm_types";
import { mmapReadLocked, mmapWriteLocked } from "../include/mmap_lock";
import type { AllocRequest } from "../include/mmzone";
import { TASK_SIZE } from "../include/page_64_types";
import { PG_hugetlb } from "../include/page_flags";
import { isMigrationEntry, ptePfn, ptePresent, pteSpecial } from "../include/pgtable";
import { getTaskMm, mmput } from "../kernel/fork";
import { PTRACE_MODE_READ_REALCREDS, ptraceMayAccess } from "../kernel/ptrace";
import { FolioList } from "../lib/list";
import { MAX_NUMNODES } from "../lib/numa";
import {
  allocHugetlbFolioNodemask,
  allocHugetlbFolioNodemaskSlowpath,
  folioHstate,
  htlbAllocMask,
} from "./hugetlb";
import {
  allocTargetSlowpath,
  isolateFolioToList,
  migratePages,
  putbackMovablePages,
} from "./migrate";
import { pageRange, vmaModify, walkVmaRange } from "./mmap";
import { allocMigrationTarget } from "./move_pages";
import { folioMaybeMappedShared } from "./rmap";

/** `MPOL_MAX` (`include/uapi/linux/mempolicy.h`): one past the last mode Linux knows. */
const MPOL_MAX = 7;
/** The modes the model implements (`MPOL_PREFERRED_MANY`, `MPOL_WEIGHTED_INTERLEAVE` it does not). */
const MODELLED_MODES: readonly number[] = [
  MPOL_DEFAULT,
  MPOL_PREFERRED,
  MPOL_BIND,
  MPOL_INTERLEAVE,
  MPOL_LOCAL,
];
/** `INT_MAX`: `do_migrate_pages()` caps the pages it reports at it. */
const INT_MAX = 2 ** 31 - 1;

const sorted = (nodes: Iterable<number>): number[] => [...new Set(nodes)].sort((a, b) => a - b);

/** A node list for a message: `[0, 1]`. */
const showNodes = (nodes: readonly number[]): string => `[${nodes.join(", ")}]`;

/**
 * `get_nodes()`: the node list a caller passes, read as the kernel reads a user nodemask of
 * `maxnode` bits. With `maxnode` null the list is the whole mask (the `mbind()` and
 * `set_mempolicy()` of this API take no `maxnode`). Nodes at or past `maxnode - 1` are not read;
 * `maxnode - 1` beyond a page of bits (`PAGE_SIZE * BITS_PER_BYTE`; `maxnode` 0 wraps to
 * `ULONG_MAX`) or a node read at or past `MAX_NUMNODES` is `EINVAL`; a null list (a NULL
 * pointer) or `maxnode` 1 is the empty mask; a list that is not an array is `EFAULT`.
 */
const getNodes = (
  k: Kernel,
  call: string,
  nodes: readonly number[] | null,
  maxnode: number | null,
): number[] | ErrnoError => {
  let limit = Number.POSITIVE_INFINITY;
  if (maxnode !== null) {
    // An unsigned long: 0 and anything negative or not an integer are beyond the page of bits.
    const bits = Number.isSafeInteger(maxnode) && maxnode > 0 ? maxnode - 1 : Number.MAX_VALUE;
    if (bits === 0 || nodes === null) return [];
    if (bits > k.mem.pageSize * 8)
      return errno("EINVAL", `${call}: maxnode ${maxnode} is more than a page of bits`);
    limit = bits;
  }
  if (!Array.isArray(nodes)) return errno("EFAULT", `${call}: the nodemask is not a list of nodes`);
  const out: number[] = [];
  for (const nid of nodes) {
    if (!Number.isSafeInteger(nid) || nid < 0)
      return errno("EINVAL", `${call}: ${nid} is not a node number`);
    if (nid >= limit) continue;
    if (nid >= MAX_NUMNODES)
      return errno("EINVAL", `${call}: node ${nid} is not below MAX_NUMNODES (${MAX_NUMNODES})`);
    out.push(nid);
  }
  return sorted(out);
};

/**
 * `sanitize_mpol_flags()`: splits the mode flags off `mode`. `EINVAL` for a mode past `MPOL_MAX`,
 * for `MPOL_F_STATIC_NODES` with `MPOL_F_RELATIVE_NODES`, and for `MPOL_F_NUMA_BALANCING` with a
 * mode other than `MPOL_BIND`.
 */
const sanitizeMpolFlags = (
  call: string,
  mode: number,
): { readonly mode: number; readonly flags: number } | ErrnoError => {
  if (!Number.isSafeInteger(mode) || mode < 0)
    return errno("EINVAL", `${call}: unknown memory policy mode ${mode}`);
  const flags = mode & MPOL_MODE_FLAGS;
  const bare = mode & ~MPOL_MODE_FLAGS;
  if (bare >= MPOL_MAX) return errno("EINVAL", `${call}: unknown memory policy mode ${bare}`);
  if (flags & MPOL_F_STATIC_NODES && flags & MPOL_F_RELATIVE_NODES)
    return errno("EINVAL", `${call}: MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES together`);
  if (flags & MPOL_F_NUMA_BALANCING && bare !== MPOL_BIND)
    return errno("EINVAL", `${call}: MPOL_F_NUMA_BALANCING needs MPOL_BIND`);
  return { mode: bare, flags };
};

/**
 * `mpol_new()` and `mpol_set_nodemask()`: the policy of `mode` over `nodes` for `task`, or null
 * for `MPOL_DEFAULT`. The nodes are cut down to the task's cpuset nodes that have memory (or,
 * with `MPOL_F_RELATIVE_NODES`, mapped onto them); `EINVAL` when none is left, for nodes given to
 * `MPOL_DEFAULT` or `MPOL_LOCAL`, for no nodes with another mode (`MPOL_PREFERRED` with none is
 * local allocation, unless a node flag is set), and for the modes not modelled.
 */
const mpolNew = (
  k: Kernel,
  task: Task,
  call: string,
  mode: number,
  flags: number,
  nodes: readonly number[],
): Mempolicy | null | ErrnoError => {
  const nodeFlags = flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES);
  if (mode === MPOL_DEFAULT) {
    if (nodes.length > 0) return errno("EINVAL", `${call}: MPOL_DEFAULT takes no nodes`);
    return null;
  }
  if (!MODELLED_MODES.includes(mode))
    return errno("EINVAL", `${call}: memory policy mode ${mode} is not modelled`);
  const withFlags = (policy: Mempolicy): Mempolicy =>
    flags ? { ...policy, flags, userNodes: nodes } : policy;
  if (mode === MPOL_LOCAL || (mode === MPOL_PREFERRED && nodes.length === 0)) {
    if (nodeFlags) return errno("EINVAL", `${call}: local allocation takes no MPOL_F_*_NODES flag`);
    if (mode === MPOL_LOCAL && nodes.length > 0)
      return errno("EINVAL", `${call}: MPOL_LOCAL takes no nodes`);
    return withFlags({ mode: MPOL_LOCAL, nodes: [] });
  }
  if (nodes.length === 0) return errno("EINVAL", `${call}: mode ${mode} needs nodes`);
  // mpol_set_nodemask(): against the cpuset's nodes with memory.
  const allowed = sorted(task.memsAllowed.filter((nid) => k.nodeHasMemory(nid)));
  const effective =
    flags & MPOL_F_RELATIVE_NODES
      ? sorted(nodes.map((n) => allowed[n % allowed.length]!))
      : nodes.filter((nid) => allowed.includes(nid));
  if (effective.length === 0)
    return errno(
      "EINVAL",
      `${call}: none of the nodes ${showNodes(nodes)} is an allowed node with memory ${showNodes(allowed)}`,
    );
  return withFlags({
    mode: mode as MempolicyMode,
    nodes: mode === MPOL_PREFERRED ? [effective[0]!] : effective,
  });
};

/**
 * Checks a policy for `task` as `set_mempolicy()` makes it: `mode` may carry the mode flags.
 * Returns the policy (null for `MPOL_DEFAULT`) or why it is invalid.
 */
export const makeMempolicy = (
  k: Kernel,
  task: Task,
  call: string,
  mode: number,
  nodes: readonly number[],
): Mempolicy | null | ErrnoError => {
  const sane = sanitizeMpolFlags(call, mode);
  if (sane instanceof Error) return sane;
  const nmask = getNodes(k, call, nodes, null);
  if (nmask instanceof Error) return nmask;
  return mpolNew(k, task, call, sane.mode, sane.flags, nmask);
};

/** `do_set_mempolicy()` via `kernel_set_mempolicy()`: sets the task's policy. */
export const doSetMempolicy = (
  k: Kernel,
  task: Task,
  mode: number,
  nodes: readonly number[],
): undefined | ErrnoError => {
  const policy = makeMempolicy(k, task, "set_mempolicy", mode, nodes);
  if (policy instanceof Error) return policy;
  task.policy = policy;
  return undefined;
};

/**
 * `migrate_folio_add()`: isolates the folio onto `list` unless it is shared and `flags` lacks
 * `MPOL_MF_MOVE_ALL` (skipping it is no failure). False when it could not be isolated.
 */
const migrateFolioAdd = (k: Kernel, head: number, list: FolioList, flags: number): boolean => {
  if (!(flags & MPOL_MF_MOVE_ALL) && folioMaybeMappedShared(k, head)) return true;
  return isolateFolioToList(k, head, list);
};

/** `strictly_unmovable()`: `MPOL_MF_STRICT` without a move flag, which fails at once with `EIO`. */
const strictlyUnmovable = (flags: number): boolean =>
  (flags & (MPOL_MF_STRICT | MPOL_MF_MOVE | MPOL_MF_MOVE_ALL)) === MPOL_MF_STRICT;

/** `struct queue_pages`. */
interface QueuePages {
  readonly list: FolioList;
  readonly flags: number;
  readonly nodes: readonly number[];
  /** `MPOL_MF_INVERT`: queue the folios off `nodes` (mbind) rather than on them. */
  readonly invert: boolean;
  /** The last large folio met through a PTE (`qp->large`). */
  large: number;
  /** Misplaced folios that could not be queued (`qp->nr_failed`). */
  nrFailed: number;
}

/**
 * One mapped folio met by the walk (`queue_folios_pmd()` and the body of
 * `queue_folios_pte_range()`): queues it when it is misplaced, or counts it failed.
 */
const queueFolio = (k: Kernel, qp: QueuePages, head: number, byPte: boolean): void => {
  const required = qp.nodes.includes(k.mem.pfnToNid(head)) !== qp.invert;
  if (!required) return;
  if (byPte && k.memmap.folioNrPages(head) > 1) {
    // A large folio mapped by many PTEs is queued (or failed) once, at its first one.
    if (head === qp.large) return;
    qp.large = head;
  }
  if (
    !(qp.flags & (MPOL_MF_MOVE | MPOL_MF_MOVE_ALL)) ||
    !migrateFolioAdd(k, head, qp.list, qp.flags)
  )
    qp.nrFailed++;
};

/** Walks `[lo, hi)` of one VMA (`queue_folios_pte_range()` per PMD); false to stop with `EIO`. */
const queueVma = (k: Kernel, qp: QueuePages, vma: Vma, lo: number, hi: number): boolean => {
  const ps = k.mem.pageSize;
  const pmdSize = ps * (1 << k.pmdOrder);
  for (let addr = lo; addr < hi; ) {
    // queue_folios_hugetlb(): a 1 GiB hugetlb page's one huge PUD.
    const pudSize = ps * (1 << k.pudOrder);
    const pud = vma.puds.size ? vma.puds.get(addr - (addr % pudSize)) : undefined;
    if (pud !== undefined) {
      if (isMigrationEntry(pud)) qp.nrFailed++;
      else if (ptePresent(pud)) queueFolio(k, qp, ptePfn(pud), false);
      addr = addr - (addr % pudSize) + pudSize;
      if (qp.nrFailed && strictlyUnmovable(qp.flags)) return false;
      continue;
    }
    const haddr = addr - (addr % pmdSize);
    const pmd = vma.pmds.get(haddr);
    if (pmd !== undefined) {
      if (isMigrationEntry(pmd)) qp.nrFailed++;
      else if (!pteSpecial(pmd)) queueFolio(k, qp, k.memmap.folioOf(ptePfn(pmd)), false);
      addr = haddr + pmdSize;
    } else {
      const pte = vma.ptes[(addr - vma.start) / ps]!;
      addr += ps;
      if (pte === 0) continue;
      if (isMigrationEntry(pte)) qp.nrFailed++;
      // Not present (swapped, poisoned), or the zero page (vm_normal_folio() is NULL).
      else if (ptePresent(pte) && !pteSpecial(pte))
        queueFolio(k, qp, k.memmap.folioOf(ptePfn(pte)), true);
    }
    if (qp.nrFailed && strictlyUnmovable(qp.flags)) return false;
  }
  return true;
};

/**
 * `queue_pages_range()`: walks the VMAs of `[start, end)` and isolates onto `list` the folios
 * whose node is (with `invert`, is not) in `nodes`. Returns the number of such folios that could
 * not be queued (a THP or hugetlb folio counts one), or `EIO` (`MPOL_MF_STRICT` without a move
 * flag found one), or `EFAULT` for a hole in the range (unless `discontigOk`) or a range with no
 * VMA at all. Shared folios are skipped, not failed, without `MPOL_MF_MOVE_ALL`.
 */
const queuePagesRange = (
  k: Kernel,
  mm: MmStruct,
  start: number,
  end: number,
  nodes: readonly number[],
  flags: number,
  list: FolioList,
  invert: boolean,
  discontigOk: boolean,
): number | ErrnoError => {
  const vmas = mm.vmasIn(start, end);
  const range = `0x${start.toString(16)}-0x${end.toString(16)}`;
  if (vmas.length === 0) return errno("EFAULT", `mbind: no VMA in ${range}`);
  if (!discontigOk && start < vmas[0]!.start)
    return errno("EFAULT", `mbind: ${range} is not fully mapped`);
  const qp: QueuePages = { list, flags, nodes, invert, large: -1, nrFailed: 0 };
  for (let i = 0; i < vmas.length; i++) {
    const vma = vmas[i]!;
    const next = vmas[i + 1];
    if (!discontigOk && vma.end < end && (!next || vma.end < next.start))
      return errno("EFAULT", `mbind: ${range} is not fully mapped`);
    // Neither strict checking nor moving: only the range is checked.
    if (!(flags & (MPOL_MF_STRICT | MPOL_MF_MOVE | MPOL_MF_MOVE_ALL))) continue;
    if (!queueVma(k, qp, vma, Math.max(start, vma.start), Math.min(end, vma.end)))
      return errno("EIO", `mbind: a page in ${range} is off the policy's nodes (MPOL_MF_STRICT)`);
  }
  return qp.nrFailed;
};

/**
 * `do_mbind()`'s loop of `mbind_range()` (Linux 6.16): gives each VMA in the range the policy
 * through `vma_modify_policy()`, which merges the range into a neighbour with that policy or
 * splits the VMAs at the range's ends. `EINVAL` for the first VMA it would cut inside a huge page,
 * `ENOMEM` for the first split refused because the address space holds `sysctl_max_map_count`
 * VMAs, the VMAs before it keeping their new policy ({@link walkVmaRange}); holes are passed
 * over. A VMA that has the policy already is left as it is (`mbind_range()`'s `mpol_equal()`).
 */
const mbindRange = (
  k: Kernel,
  mm: MmStruct,
  start: number,
  end: number,
  policy: Mempolicy | null,
): 0 | ErrnoError => {
  const done = walkVmaRange(mm, start, end, "pass", (vma, from, to) => {
    if (mpolEqual(vma.policy, policy)) return 0;
    const piece = vmaModify(k, vma, from, to, vma.flags, policy);
    return piece instanceof Error ? piece : 0;
  });
  return done === 0 ? 0 : errno(done.errno, `mbind: ${done.message}`);
};

/**
 * The allocations `alloc_migration_target_by_mpol()` makes for a folio that is not hugetlb:
 * `alloc_pages_mpol()` at its index (`allocPagesMpolRequests()`), as a THP when large
 * (`GFP_TRANSHUGE`), else with `GFP_HIGHUSER_MOVABLE | __GFP_RETRY_MAYFAIL` (Linux 6.16).
 */
const mpolTargetReqs = (
  k: Kernel,
  task: Task,
  policy: Mempolicy | null,
  src: number,
): readonly AllocRequest[] => {
  const order = k.memmap.folioOrder(src);
  const ilx = Math.floor(k.memmap.index[src]! / 2 ** order);
  const gfp = order > 0 ? GFP_TRANSHUGE : GFP_HIGHUSER_MOVABLE | __GFP_RETRY_MAYFAIL;
  return allocPagesMpolRequests(
    policy ?? task.policy,
    task.nid,
    ilx,
    order,
    gfp,
    k.distance,
    k.pmdOrder,
  );
};

/**
 * `alloc_migration_target_by_mpol()` (`mm/mempolicy.c`): the destination allocator `mbind()`
 * hands to `migrate_pages()`. Each folio goes where `policy` would place a new folio at its
 * index (`policy_nodemask()`: the preferred node, the nearest bound node, or for
 * `MPOL_INTERLEAVE` the node of its interleave index, `folio->index >> order`), from the node of
 * `task`'s CPU; a null policy is `task`'s own, or local allocation. A hugetlb folio's destination
 * comes from the pool (`alloc_hugetlb_folio_nodemask()` with the policy's node and mask), a fresh
 * one through the slow path when the first tries fail. Any
 * other is allocated through `alloc_pages_mpol()` (`allocPagesMpolRequests()`: a PMD-sized THP
 * tries the policy's own node first, `__GFP_THISNODE | __GFP_NORETRY`) with `GFP_TRANSHUGE` when
 * large, `GFP_HIGHUSER_MOVABLE | __GFP_RETRY_MAYFAIL` otherwise (Linux 6.16): the first tries of
 * its first allocation here, and when they fail, the slow path's blocking steps (`slowpath`),
 * followed by the next allocation's first tries and slow path, if any.
 *
 * @category Memory policy
 */
export const allocMigrationTargetByMpol = (
  k: Kernel,
  task: Task,
  policy: Mempolicy | null,
): NewFolioFn => {
  // A hugetlb folio's destination comes from its pool (alloc_hugetlb_folio_nodemask()), at the
  // policy's node for its index (huge_node()), not through alloc_pages_mpol(): the arguments of
  // alloc_hugetlb_folio_nodemask() (first tries) and of its slow path alike.
  const hugeArgs = (src: number) => {
    const order = k.memmap.folioOrder(src);
    const ilx = Math.floor(k.memmap.index[src]! / 2 ** order);
    const { nid, nodemask } = policyTarget(policy ?? task.policy, task.nid, ilx, k.distance);
    const h = folioHstate(k, src);
    return [h, nid, nodemask, htlbAllocMask(h), MR_MEMPOLICY_MBIND, task] as const;
  };
  const target = (src: number): number => {
    if (k.memmap.test(src, PG_hugetlb)) return allocHugetlbFolioNodemask(...hugeArgs(src));
    const req = mpolTargetReqs(k, task, policy, src)[0]!;
    return k.pageAlloc.allocPages(req.nid, req.order, req.gfp, req.nodemask, task);
  };
  /** The rest of `alloc_pages_mpol()` after the first tries of `reqs[i]` failed. */
  const rest = (
    reqs: readonly AllocRequest[],
    i: number,
  ): Effect.Effect<number, ErrnoError> | null => {
    const slow = allocTargetSlowpath(k, reqs[i]!, task);
    const next = reqs[i + 1];
    if (!slow || !next) return slow;
    return Effect.flatMap(slow, (page) => {
      if (page >= 0) return Effect.succeed(page);
      const fast = k.pageAlloc.allocPages(next.nid, next.order, next.gfp, next.nodemask, task);
      return fast >= 0 ? Effect.succeed(fast) : (rest(reqs, i + 1) ?? Effect.succeed(-1));
    });
  };
  return Object.assign(target, {
    slowpath: (src: number) =>
      k.memmap.test(src, PG_hugetlb)
        ? allocHugetlbFolioNodemaskSlowpath(...hugeArgs(src))
        : rest(mpolTargetReqs(k, task, policy, src), 0),
  });
};

/**
 * `mbind(2)` (`kernel_mbind()`, `do_mbind()`): sets the policy of every VMA in
 * `[start, start + length)`, splitting VMAs at its ends, and with `MPOL_MF_MOVE` /
 * `MPOL_MF_MOVE_ALL` moves the pages there that are off the policy's nodes.
 *
 * Errors in Linux's order: `EINVAL` for a bad mode or mode flags, `EFAULT`/`EINVAL` for the
 * nodes, `EINVAL` for flags outside `MPOL_MF_VALID` (`MPOL_MF_LAZY` included), `EPERM` for
 * `MPOL_MF_MOVE_ALL` without `CAP_SYS_NICE`, `EINVAL` for an unaligned start or bad length (a
 * range of length 0 then succeeds), `EINVAL` for the policy (`mpol_new()`), `EFAULT` for a hole
 * (allowed for `MPOL_DEFAULT`), and `EIO` with `MPOL_MF_STRICT`: at once, changing nothing, when
 * there is no move flag and a page is off the nodes; after the policy is set and the pages moved,
 * when a page could not be queued or moved. Without `MPOL_MF_STRICT`, pages that stay put are no
 * error. `MPOL_DEFAULT` drops `MPOL_MF_STRICT`. `EINVAL` from `mbind_range()` where the range
 * would cut a hugetlb VMA inside a huge page, after the folios were queued and the VMAs before it
 * got the policy (with a start inside the page that VMA stays whole; with only the end inside,
 * its split at the start stays): nothing is migrated, the queued folios are put back, and
 * `EIO` replaces the `EINVAL` when `MPOL_MF_STRICT` has folios that could not be queued.
 */
export const doMbind = (
  k: Kernel,
  task: Task,
  start: number,
  length: number,
  mode: number,
  nodes: readonly number[],
  flags: number,
): Effect.Effect<void, ErrnoError> =>
  Effect.suspend(() => {
    const sane = sanitizeMpolFlags("mbind", mode);
    if (sane instanceof Error) return Effect.fail(sane);
    const nmask = getNodes(k, "mbind", nodes, null);
    if (nmask instanceof Error) return Effect.fail(nmask);
    if (!Number.isSafeInteger(flags) || flags < 0 || flags & ~MPOL_MF_VALID)
      return Effect.fail(errno("EINVAL", `mbind: unknown flags ${flags}`));
    if (flags & MPOL_MF_MOVE_ALL && !task.capable(CAP_SYS_NICE))
      return Effect.fail(errno("EPERM", "mbind: MPOL_MF_MOVE_ALL needs CAP_SYS_NICE"));
    const range = pageRange(k, "mbind", start, length, true);
    if (range instanceof Error) return Effect.fail(range);
    const mm = task.mm;
    if (!mm) return Effect.fail(errno("EINVAL", `mbind: process ${task.pid} has no mm`));
    const mflags = sane.mode === MPOL_DEFAULT ? flags & ~MPOL_MF_STRICT : flags;
    const { end } = range;
    if (end === start) return Effect.void;
    const policy = mpolNew(k, task, "mbind", sane.mode, sane.flags, nmask);
    if (policy instanceof Error) return Effect.fail(policy);
    const list = new FolioList(k.memmap.lru);
    return Effect.gen(function* () {
      // The walk and the policy change under mmap_write_lock(); since Linux 6.7 the lock is
      // dropped before the migration ("mempolicy: mmap_lock is not needed while migrating
      // folios").
      const locked = yield* mmapWriteLocked(
        mm,
        () => {
          const queued = queuePagesRange(k, mm, start, end, nmask, mflags, list, true, !policy);
          if (queued instanceof Error) return queued;
          return { queued, modified: mbindRange(k, mm, start, end, policy) };
        },
        k,
      );
      if (locked instanceof Error) return yield* Effect.fail(locked);
      let nrFailed = locked.queued;
      const { modified } = locked;
      if (modified === 0 && !list.isEmpty) {
        const { rc } = yield* migratePages(
          k,
          list,
          allocMigrationTargetByMpol(k, task, policy),
          null,
          MIGRATE_SYNC,
          MR_MEMPOLICY_MBIND,
          { caller: task },
        );
        nrFailed |= rc;
      }
      if (nrFailed && mflags & MPOL_MF_STRICT)
        return yield* Effect.fail(
          errno("EIO", `mbind: ${nrFailed} folios stay off the policy's nodes (MPOL_MF_STRICT)`),
        );
      if (modified !== 0) return yield* Effect.fail(modified);
    }).pipe(
      Effect.ensuring(
        Effect.sync(() => {
          if (!list.isEmpty) putbackMovablePages(k, list);
          list.release();
        }),
      ),
    );
  });

/**
 * `migrate_to_node()`: isolates every folio of `mm` on `source` and migrates them to `dest`
 * (`alloc_migration_target()` with `__GFP_THISNODE`, `MIGRATE_SYNC`, `MR_SYSCALL`). Resolves with
 * the folios not moved (those `migrate_pages()` left plus those that could not be isolated), or a
 * negative errno.
 */
const migrateToNode = (
  k: Kernel,
  caller: Task,
  mm: MmStruct,
  source: number,
  dest: number,
  flags: number,
): Effect.Effect<number, ErrnoError> =>
  Effect.suspend(() => {
    const first = mm.findVmaIntersection(0, TASK_SIZE);
    if (!first) return Effect.succeed(0);
    const list = new FolioList(k.memmap.lru);
    return Effect.gen(function* () {
      // The walk under mmap_read_lock(), dropped before the migration (Linux 6.7 on).
      const nrFailed = yield* mmapReadLocked(
        mm,
        () => queuePagesRange(k, mm, first.start, TASK_SIZE, [source], flags, list, false, true),
        k,
      );
      // With MPOL_MF_DISCONTIG_OK and the whole address space, the walk cannot fail.
      if (nrFailed instanceof Error) return yield* Effect.fail(nrFailed);
      let err = 0;
      if (!list.isEmpty) {
        ({ rc: err } = yield* migratePages(
          k,
          list,
          allocMigrationTarget(k, dest, { current: caller }),
          null,
          MIGRATE_SYNC,
          MR_SYSCALL,
          { caller },
        ));
      }
      return err >= 0 ? err + nrFailed : err;
    }).pipe(
      Effect.ensuring(
        Effect.sync(() => {
          if (!list.isEmpty) putbackMovablePages(k, list);
          list.release();
        }),
      ),
    );
  });

/**
 * `node_remap()` (`bitmap_bitremap()`, `lib/bitmap.c`): the node of `to` at the position `s` has
 * in `from`, modulo the size of `to`.
 */
const nodeRemap = (s: number, from: readonly number[], to: readonly number[]): number => {
  const n = from.indexOf(s);
  return n < 0 || to.length === 0 ? s : to[n % to.length]!;
};

/**
 * `do_migrate_pages()`: moves the pages of `mm` from the nodes `from` to the nodes `to` so as to
 * keep their layout: the `n`-th node of `from` goes to the `n`-th of `to` (modulo its size), and
 * when the two sets differ in size a source node that is also a destination stays. Each step
 * takes a source whose destination is not a source still to move, when there is one, so no page
 * moves twice where that can be avoided. Resolves with the folios not moved (at most `INT_MAX`);
 * fails with the errno a step's `migrate_pages()` returned.
 */
const doMigratePages = (
  k: Kernel,
  caller: Task,
  mm: MmStruct,
  from: readonly number[],
  to: readonly number[],
  flags: number,
): Effect.Effect<number, ErrnoError> =>
  Effect.gen(function* () {
    const tmp = new Set(from);
    let nrFailed = 0;
    while (tmp.size > 0) {
      let source = -1;
      let dest = 0;
      for (const s of sorted(tmp)) {
        if (from.length !== to.length && to.includes(s)) continue;
        const d = nodeRemap(s, from, to);
        if (s === d) continue;
        source = s;
        dest = d;
        if (!tmp.has(dest)) break;
      }
      if (source < 0) break;
      tmp.delete(source);
      const err = yield* migrateToNode(k, caller, mm, source, dest, flags);
      if (err < 0)
        return yield* Effect.fail(
          errno(errnoName(-err) ?? "EIO", `migrate_pages: moving node ${source} to ${dest} failed`),
        );
      nrFailed += err;
    }
    return Math.min(nrFailed, INT_MAX);
  });

/**
 * `migrate_pages(2)` (`kernel_migrate_pages()`, `mm/mempolicy.c`): moves the pages of process
 * `pid` (0: the caller) that are on the nodes `oldNodes` to the nodes `newNodes`, paired as
 * `do_migrate_pages()` pairs them. Both lists are nodemasks of `maxnode` bits. Resolves with the
 * number of folios that could not be moved.
 *
 * Errors in Linux's order: `EINVAL` or `EFAULT` for a nodemask (see `get_nodes()`: `maxnode`
 * past a page of bits, a node at or past `MAX_NUMNODES`), `ESRCH` for no such process, `EPERM`
 * when `ptraceMayAccess(PTRACE_MODE_READ_REALCREDS)` denies, `EPERM` when `newNodes` is not a
 * subset of the target's cpuset nodes and the caller lacks `CAP_SYS_NICE`, `EINVAL` when no node
 * of `newNodes` is in the caller's cpuset, and `EINVAL` for a process with no mm. Shared pages
 * move only for a caller with `CAP_SYS_NICE` (`MPOL_MF_MOVE_ALL`).
 */
export const kernelMigratePages = (
  k: Kernel,
  caller: Task,
  pid: number,
  maxnode: number,
  oldNodes: readonly number[] | null,
  newNodes: readonly number[] | null,
): Effect.Effect<number, ErrnoError> =>
  Effect.suspend(() => {
    const from = getNodes(k, "migrate_pages", oldNodes, maxnode);
    if (from instanceof Error) return Effect.fail(from);
    const wanted = getNodes(k, "migrate_pages", newNodes, maxnode);
    if (wanted instanceof Error) return Effect.fail(wanted);
    const target = pid === 0 ? caller : Number.isSafeInteger(pid) ? k.findTask(pid) : undefined;
    if (!target) return Effect.fail(errno("ESRCH", `migrate_pages: no process ${pid}`));
    if (!ptraceMayAccess(caller, target, PTRACE_MODE_READ_REALCREDS))
      return Effect.fail(
        errno(
          "EPERM",
          `migrate_pages: process ${caller.pid} may not move the pages of process ${target.pid}`,
        ),
      );
    const nice = caller.capable(CAP_SYS_NICE);
    if (!nice && !wanted.every((nid) => target.memsAllowed.includes(nid)))
      return Effect.fail(
        errno(
          "EPERM",
          `migrate_pages: nodes ${showNodes(wanted)} are not all in process ${target.pid}'s cpuset ${showNodes(target.memsAllowed)}, and CAP_SYS_NICE is missing`,
        ),
      );
    const to = wanted.filter((nid) => caller.memsAllowed.includes(nid));
    if (to.length === 0)
      return Effect.fail(
        errno(
          "EINVAL",
          `migrate_pages: no node of ${showNodes(wanted)} is in the caller's cpuset ${showNodes(caller.memsAllowed)}`,
        ),
      );
    // get_task_mm(): the address space is held until mmput(), so the target's exit meanwhile
    // leaves it mapped.
    // Taken where no interruption can come between it and its release.
    return Effect.acquireUseRelease(
      Effect.sync(() => getTaskMm(target)),
      (mm) =>
        mm
          ? doMigratePages(k, caller, mm, from, to, nice ? MPOL_MF_MOVE_ALL : MPOL_MF_MOVE)
          : Effect.fail(errno("EINVAL", `migrate_pages: process ${target.pid} has no mm`)),
      (mm) => Effect.sync(() => mm && mmput(k, mm, caller)),
    );
  });

/**
 * `get_mempolicy()` (`do_get_mempolicy()`). With `MPOL_F_NODE | MPOL_F_ADDR` it asks for the
 * node of the page at `addr` (`lookup_node()`): it returns `{ lookupNode: addr }`, for the caller
 * to fault the page in as `get_user_pages_fast()` does and report its node; with `MPOL_F_ADDR` the policy
 * of the VMA at `addr`; with no flags the task's policy; with `MPOL_F_MEMS_ALLOWED` the nodes of
 * the task's cpuset (as the nodes of an `MPOL_DEFAULT` policy). A policy made with a node flag
 * reports the nodes as they were given. `EINVAL` for unknown flags, `MPOL_F_MEMS_ALLOWED` with
 * another flag, an address without `MPOL_F_ADDR`, and `MPOL_F_NODE` alone; `EFAULT` for an
 * address no VMA maps.
 */
export const doGetMempolicy = (
  task: Task,
  flags: number,
  addr: number,
): Mempolicy | { readonly lookupNode: number } | ErrnoError => {
  const known = MPOL_F_NODE | MPOL_F_ADDR | MPOL_F_MEMS_ALLOWED;
  if (!Number.isSafeInteger(flags) || flags < 0 || flags & ~known)
    return errno("EINVAL", `unknown get_mempolicy flags ${flags}`);
  if (flags & MPOL_F_MEMS_ALLOWED) {
    if (flags & (MPOL_F_NODE | MPOL_F_ADDR))
      return errno("EINVAL", "MPOL_F_MEMS_ALLOWED takes no other flag");
    return { mode: MPOL_DEFAULT, nodes: sorted(task.memsAllowed) };
  }
  const report = (pol: Mempolicy | null): Mempolicy =>
    !pol
      ? { mode: MPOL_DEFAULT, nodes: [] }
      : pol.flags
        ? { mode: pol.mode, nodes: pol.userNodes ?? pol.nodes, flags: pol.flags }
        : pol;
  if (!(flags & MPOL_F_ADDR)) {
    if (addr) return errno("EINVAL", "get_mempolicy: an address needs MPOL_F_ADDR");
    if (flags & MPOL_F_NODE)
      return errno("EINVAL", "MPOL_F_NODE without MPOL_F_ADDR needs MPOL_INTERLEAVE");
    return report(task.policy);
  }
  const vma = Number.isSafeInteger(addr) ? task.mm!.findVma(addr) : undefined;
  if (!vma) return errno("EFAULT", `address ${addr} is not mapped`);
  if (!(flags & MPOL_F_NODE)) return report(vma.policy);
  return { lookupNode: addr };
};
