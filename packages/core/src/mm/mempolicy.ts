/**
 * NUMA memory policy: the system calls that set and read it.
 *
 * Models `mm/mempolicy.c`: a policy belongs to a VMA (`mbind`) or to a task
 * (`set_mempolicy`), and picks the node, and the nodes allowed, for each new folio
 * (`policy_nodemask`). Without a policy a folio goes to the faulting task's local node and falls
 * back to the others by distance.
 *
 * @module
 */
import { type ErrnoError, errno } from "../errno";
import type { Kernel, Task } from "../include/kernel";
import {
  type Mempolicy,
  type MempolicyMode,
  MPOL_BIND,
  MPOL_DEFAULT,
  MPOL_F_ADDR,
  MPOL_F_NODE,
  MPOL_INTERLEAVE,
  MPOL_LOCAL,
  MPOL_PREFERRED,
} from "../include/mempolicy";
import { translate } from "./memory";
import { pageRange, vmasForRange } from "./mmap";

/** Checks a policy's nodes against the machine; returns the policy or why it is invalid. */
export const makeMempolicy = (
  k: Kernel,
  mode: number,
  nodes: readonly number[],
): Mempolicy | null | ErrnoError => {
  if (![MPOL_DEFAULT, MPOL_PREFERRED, MPOL_BIND, MPOL_INTERLEAVE, MPOL_LOCAL].includes(mode)) {
    return errno("EINVAL", `unknown memory policy mode ${mode}`);
  }
  // get_nodes(): a nodemask that cannot be read from the caller is EFAULT.
  if (!Array.isArray(nodes)) return errno("EFAULT", "the nodemask is not a list of nodes");
  if (mode === MPOL_DEFAULT || mode === MPOL_LOCAL) {
    if (nodes.length > 0) return errno("EINVAL", "MPOL_DEFAULT and MPOL_LOCAL take no nodes");
    return mode === MPOL_DEFAULT ? null : { mode: MPOL_LOCAL, nodes: [] };
  }
  for (const nid of nodes) {
    if (!Number.isInteger(nid) || nid < 0 || nid >= k.mem.nodes.length) {
      return errno("EINVAL", `node ${nid} does not exist`);
    }
  }
  const withMemory = [...new Set(nodes)]
    .filter((nid) => k.mem.nodes[nid]!.presentPages > 0)
    .sort((a, b) => a - b);
  if (withMemory.length === 0) return errno("EINVAL", "the nodemask has no node with memory");
  return { mode: mode as MempolicyMode, nodes: withMemory };
};

/** `mbind()` without page movement: sets the policy of every VMA in `[start, start + length)`. */
export const doMbind = (
  k: Kernel,
  task: Task,
  start: number,
  length: number,
  mode: number,
  nodes: readonly number[],
): 0 | ErrnoError => {
  const range = pageRange(k, "mbind", start, length, true);
  if (range instanceof Error) return range;
  const policy = makeMempolicy(k, mode, nodes);
  if (policy instanceof Error) return policy;
  const end = range.end;
  if (end === start) return 0;
  const vmas = vmasForRange(k, task.mm!, start, end, "EFAULT");
  if (!Array.isArray(vmas)) return vmas;
  for (const vma of vmas) vma.policy = policy;
  return 0;
};

/**
 * `get_mempolicy()`. With `MPOL_F_NODE | MPOL_F_ADDR` it returns the node of the page at `addr`,
 * faulting it in first as the kernel does; with `MPOL_F_ADDR` the policy of the VMA at `addr`;
 * with no flags the task's policy.
 */
export const doGetMempolicy = (
  k: Kernel,
  task: Task,
  flags: number,
  addr: number,
): number | Mempolicy | ErrnoError => {
  const mode = flags & (MPOL_F_NODE | MPOL_F_ADDR);
  if (flags & ~(MPOL_F_NODE | MPOL_F_ADDR))
    return errno("EINVAL", `unknown get_mempolicy flags ${flags}`);
  if (mode === 0) return task.policy ?? { mode: MPOL_DEFAULT, nodes: [] };
  if (mode === MPOL_F_NODE)
    return errno("EINVAL", "MPOL_F_NODE without MPOL_F_ADDR needs MPOL_INTERLEAVE");
  const vma = Number.isSafeInteger(addr) ? task.mm!.findVma(addr) : undefined;
  if (!vma) return errno("EFAULT", `address ${addr} is not mapped`);
  if (mode === MPOL_F_ADDR) return vma.policy ?? { mode: MPOL_DEFAULT, nodes: [] };
  const pfn = translate(k, task, Math.floor(addr / k.mem.pageSize), false);
  if (typeof pfn !== "number") return pfn;
  return k.mem.pfnToNid(pfn < 0 ? -pfn - 1 : pfn);
};
