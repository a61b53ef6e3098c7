/**
 * NUMA memory policy: the modes, flags and the policy itself.
 *
 * Models `include/uapi/linux/mempolicy.h` (the `MPOL_*` modes and flags) and `struct mempolicy`
 * (`include/linux/mempolicy.h`), and how a policy picks the node of a new folio
 * (`policy_nodemask()`, `mm/mempolicy.c`), which every fault asks. The system calls that set and
 * read policies are in `mm/mempolicy.ts`.
 *
 * @module
 */
import { __GFP_DIRECT_RECLAIM, __GFP_NORETRY, __GFP_THISNODE } from "./gfp";
import type { AllocRequest } from "./mmzone";

/**
 * `MPOL_DEFAULT` (`include/uapi/linux/mempolicy.h`): the task's policy, or local allocation.
 *
 * @category Memory policy
 */
export const MPOL_DEFAULT = 0;
/**
 * `MPOL_PREFERRED` (`include/uapi/linux/mempolicy.h`): the given node first, then fallback.
 *
 * @category Memory policy
 */
export const MPOL_PREFERRED = 1;
/** `MPOL_BIND` (`include/uapi/linux/mempolicy.h`): only the given nodes. @category Memory policy */
export const MPOL_BIND = 2;
/**
 * `MPOL_INTERLEAVE` (`include/uapi/linux/mempolicy.h`): spread page by page over the given nodes.
 *
 * @category Memory policy
 */
export const MPOL_INTERLEAVE = 3;
/**
 * `MPOL_LOCAL` (`include/uapi/linux/mempolicy.h`): the faulting CPU's node.
 *
 * @category Memory policy
 */
export const MPOL_LOCAL = 4;

/**
 * `MPOL_F_NODE` (`include/uapi/linux/mempolicy.h`), a `get_mempolicy()` flag: return a node id
 * rather than a policy.
 *
 * @category Memory policy
 */
export const MPOL_F_NODE = 1 << 0;
/**
 * `MPOL_F_ADDR` (`include/uapi/linux/mempolicy.h`), a `get_mempolicy()` flag: look up the policy
 * (or node) of an address.
 *
 * @category Memory policy
 */
export const MPOL_F_ADDR = 1 << 1;

/**
 * `MPOL_F_MEMS_ALLOWED` (`include/uapi/linux/mempolicy.h`), a `get_mempolicy()` flag: return the
 * nodes the task's cpuset allows (`cpuset_current_mems_allowed`).
 *
 * @category Memory policy
 */
export const MPOL_F_MEMS_ALLOWED = 1 << 2;

/**
 * `MPOL_F_STATIC_NODES` (`include/uapi/linux/mempolicy.h`), a mode flag of `set_mempolicy()` and
 * `mbind()` (or'ed into the mode): the nodes are physical node ids, kept as given
 * (`w.user_nodemask`) when the cpuset changes.
 *
 * @category Memory policy
 */
export const MPOL_F_STATIC_NODES = 1 << 15;
/**
 * `MPOL_F_RELATIVE_NODES` (`include/uapi/linux/mempolicy.h`), a mode flag: the nodes are
 * positions in the task's allowed nodes (node `n` of the mask is the `n`-th allowed node, modulo
 * their number: `mpol_relative_nodemask()`, `mm/mempolicy.c`).
 *
 * @category Memory policy
 */
export const MPOL_F_RELATIVE_NODES = 1 << 14;
/**
 * `MPOL_F_NUMA_BALANCING` (`include/uapi/linux/mempolicy.h`), a mode flag: let NUMA balancing
 * move pages within an `MPOL_BIND` policy's nodes. Accepted with `MPOL_BIND` only; NUMA balancing
 * is not modelled, so it changes nothing else.
 *
 * @category Memory policy
 */
export const MPOL_F_NUMA_BALANCING = 1 << 13;
/**
 * `MPOL_MODE_FLAGS` (`include/uapi/linux/mempolicy.h`): the mode flags a mode may carry.
 *
 * @category Memory policy
 */
export const MPOL_MODE_FLAGS = MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES | MPOL_F_NUMA_BALANCING;

/**
 * `MPOL_MF_STRICT` (`include/uapi/linux/mempolicy.h`), an `mbind()` flag: fail with `EIO` if
 * existing pages do not follow the policy (and, with a move flag, could not be moved).
 *
 * @category Memory policy
 */
export const MPOL_MF_STRICT = 1 << 0;
/**
 * `MPOL_MF_MOVE` (`include/uapi/linux/mempolicy.h`), an `mbind()`/`move_pages()` flag: move pages
 * mapped only by this process.
 *
 * @category Memory policy
 */
export const MPOL_MF_MOVE = 1 << 1;
/**
 * `MPOL_MF_MOVE_ALL` (`include/uapi/linux/mempolicy.h`), an `mbind()`/`move_pages()` flag: move
 * every page, shared ones too; needs `CAP_SYS_NICE`.
 *
 * @category Memory policy
 */
export const MPOL_MF_MOVE_ALL = 1 << 2;
/**
 * `MPOL_MF_LAZY` (`include/uapi/linux/mempolicy.h`): lazy migration on fault, which Linux no
 * longer supports: outside `MPOL_MF_VALID`, so `mbind()` refuses it with `EINVAL`.
 *
 * @category Memory policy
 */
export const MPOL_MF_LAZY = 1 << 3;
/**
 * `MPOL_MF_VALID` (`include/uapi/linux/mempolicy.h`): the flags `mbind()` accepts.
 *
 * @category Memory policy
 */
export const MPOL_MF_VALID = MPOL_MF_STRICT | MPOL_MF_MOVE | MPOL_MF_MOVE_ALL;

/**
 * A memory policy mode (`enum mempolicy_mode`, `include/uapi/linux/mempolicy.h`).
 *
 * @category Memory policy
 */
export type MempolicyMode =
  | typeof MPOL_DEFAULT
  | typeof MPOL_PREFERRED
  | typeof MPOL_BIND
  | typeof MPOL_INTERLEAVE
  | typeof MPOL_LOCAL;

/**
 * A memory policy. Models `struct mempolicy` (`include/linux/mempolicy.h`).
 *
 * @category Memory policy
 */
export interface Mempolicy {
  /** The mode (`mempolicy->mode`). */
  readonly mode: MempolicyMode;
  /** The policy's nodes, sorted; empty for default and local. */
  readonly nodes: readonly number[];
  /**
   * The mode flags it was made with (`mempolicy->flags & MPOL_MODE_FLAGS`:
   * {@link MPOL_F_STATIC_NODES}, {@link MPOL_F_RELATIVE_NODES}, {@link MPOL_F_NUMA_BALANCING});
   * absent for none.
   */
  readonly flags?: number;
  /**
   * The nodes as the caller gave them (`mempolicy->w.user_nodemask`), kept when a node flag is set;
   * `get_mempolicy()` reports these then.
   */
  readonly userNodes?: readonly number[];
}

/**
 * `mpol_equal()` (`mm/mempolicy.c`, `__mpol_equal()`): whether two policies are the same (mode,
 * mode flags and the nodes as given); null is the default policy. What `mbind()` compares to skip
 * a VMA that has the policy already, and what VMA merging (`is_mergeable_vma()`, `mm/vma.c`)
 * needs of neighbours.
 *
 * @category Memory policy
 */
export const mpolEqual = (a: Mempolicy | null, b: Mempolicy | null): boolean =>
  a === b ||
  (a !== null &&
    b !== null &&
    a.mode === b.mode &&
    (a.flags ?? 0) === (b.flags ?? 0) &&
    String(a.userNodes ?? a.nodes) === String(b.userNodes ?? b.nodes));

/**
 * Where one allocation should go: the first node to try and the nodes allowed (null: any). The
 * pair `policy_nodemask()` (`mm/mempolicy.c`) hands the page allocator: the preferred `nid` it
 * sets and the nodemask it returns.
 *
 * @category Memory policy
 */
export interface AllocTarget {
  /** The node to try first (the preferred `nid`). */
  readonly nid: number;
  /** The nodes allowed, or null for any (a NULL nodemask). */
  readonly nodemask: readonly number[] | null;
}

/**
 * The node and nodemask for a new folio at page offset `ilx` under `policy`, for a task on node
 * `localNid`. Models `policy_nodemask()` with `interleave_nid()` (`mm/mempolicy.c`).
 *
 * @category Memory policy
 */
export const policyTarget = (
  policy: Mempolicy | null,
  localNid: number,
  ilx: number,
  distance: (a: number, b: number) => number,
): AllocTarget => {
  if (!policy) return { nid: localNid, nodemask: null };
  // A policy with no nodes starts at the local node: MPOL_PREFERRED with an empty mask is local
  // allocation in the kernel; MPOL_BIND to no node then allows none (`set_mempolicy` refuses both).
  switch (policy.mode) {
    case MPOL_PREFERRED:
      return { nid: policy.nodes[0] ?? localNid, nodemask: null };
    case MPOL_BIND: {
      const nearest = [...policy.nodes].sort(
        (a, b) => distance(localNid, a) - distance(localNid, b) || a - b,
      )[0];
      return { nid: nearest ?? localNid, nodemask: policy.nodes };
    }
    case MPOL_INTERLEAVE:
      return { nid: policy.nodes[ilx % policy.nodes.length] ?? localNid, nodemask: null };
    default:
      return { nid: localNid, nodemask: null };
  }
};

/**
 * `NO_INTERLEAVE_INDEX` (`include/linux/mempolicy.h`): the interleave index of an allocation made
 * by `alloc_pages()` / `folio_alloc()` (the task's policy, no VMA offset), as opposed to a VMA or
 * shmem allocation at a page offset.
 *
 * @category Memory policy
 */
export const NO_INTERLEAVE_INDEX = -1;

/**
 * The page allocations `alloc_pages_mpol()` (`mm/mempolicy.c`, Linux 6.16) makes for one folio of
 * `order` under `policy` (null: local allocation) for a task on node `localNid`, at interleave
 * index `ilx` (a page offset in units of the folio, or {@link NO_INTERLEAVE_INDEX}), with `gfp`;
 * each is one `__alloc_pages()`: its first tries, then its slow path when `gfp` may reclaim
 * directly. The caller makes them in order and stops at the first that gets a block.
 *
 * Usually one: the node and nodemask of {@link policyTarget}. A PMD-sized folio (`order` equal to
 * `pmdOrder`, `HPAGE_PMD_ORDER`) at a real interleave index under a policy other than
 * `MPOL_INTERLEAVE` whose nodemask is absent or holds the policy's node (the preferred node, else
 * `localNid`) is first tried on that node alone, `gfp | __GFP_THISNODE | __GFP_NORETRY` (compact,
 * do not retry), as remote memory would cost the THP its gain; when that fails, the normal
 * allocation follows only if `gfp` has `__GFP_DIRECT_RECLAIM` (`defrag` `always`, or a
 * `MADV_HUGEPAGE` VMA under `madvise`): otherwise the caller falls back to smaller folios on the
 * local node.
 *
 * @example
 * ```ts
 * import { allocPagesMpolRequests, GFP_TRANSHUGE_LIGHT } from "@migrate-offload/core";
 *
 * // A THP fault without MADV_HUGEPAGE on node 0: node 0 only, no remote fallback.
 * const reqs = allocPagesMpolRequests(null, 0, 0, 9, GFP_TRANSHUGE_LIGHT, () => 10, 9);
 * console.log(reqs.length, reqs[0]!.nid); // 1 0
 * ```
 *
 * @category Memory policy
 */
export const allocPagesMpolRequests = (
  policy: Mempolicy | null,
  localNid: number,
  ilx: number,
  order: number,
  gfp: number,
  distance: (a: number, b: number) => number,
  pmdOrder: number,
): readonly AllocRequest[] => {
  const target = policyTarget(policy, localNid, ilx === NO_INTERLEAVE_INDEX ? 0 : ilx, distance);
  const normal: AllocRequest = { nid: target.nid, order, gfp, nodemask: target.nodemask };
  if (order !== pmdOrder || ilx === NO_INTERLEAVE_INDEX || policy?.mode === MPOL_INTERLEAVE) {
    return [normal];
  }
  // policy_nodemask()'s nid: with a nodemask (MPOL_BIND) the local node, else the target's.
  const nid = target.nodemask ? localNid : target.nid;
  if (target.nodemask && !target.nodemask.includes(nid)) return [normal];
  const local: AllocRequest = {
    nid,
    order,
    gfp: gfp | __GFP_THISNODE | __GFP_NORETRY,
    nodemask: null,
  };
  return gfp & __GFP_DIRECT_RECLAIM ? [local, normal] : [local];
};

/**
 * `policy_mbind_nodemask()` (`mm/mempolicy.c`, Linux 6.16): the nodes of a task's own policy
 * (`get_task_policy(current)`, set by `set_mempolicy()`; not a VMA's) when it is `MPOL_BIND` and
 * shares a node with the task's cpuset (`memsAllowed`); null otherwise. hugetlb reservations
 * allocate surplus pages only there and count only those nodes' free huge pages
 * (`gather_surplus_pages()`, `allowed_mems_nr()`, `mm/hugetlb.c`).
 *
 * @category Memory policy
 */
export const policyMbindNodemask = (
  policy: Mempolicy | null,
  memsAllowed: readonly number[],
): readonly number[] | null =>
  policy?.mode === MPOL_BIND && policy.nodes.some((n) => memsAllowed.includes(n))
    ? policy.nodes
    : null;

/**
 * The allocations of `folio_alloc()` / `alloc_pages_noprof()` in a task (`mm/mempolicy.c`,
 * Linux 6.16): {@link allocPagesMpolRequests} with the task's own policy
 * (`get_task_policy(current)`), from the node of its CPU, at `NO_INTERLEAVE_INDEX`, so with no
 * local-node-first try for a PMD-sized folio. What the page cache and the huge zero folio
 * allocate with.
 *
 * @category Memory policy
 */
export const taskPolicyRequests = (
  task: { readonly policy: Mempolicy | null; readonly nid: number },
  order: number,
  gfp: number,
  distance: (a: number, b: number) => number,
  pmdOrder: number,
): readonly AllocRequest[] =>
  allocPagesMpolRequests(
    task.policy,
    task.nid,
    NO_INTERLEAVE_INDEX,
    order,
    gfp,
    distance,
    pmdOrder,
  );
