/**
 * The OOM killer.
 *
 * Models `mm/oom_kill.c` (Linux 6.16): when the page allocator's slow path has reclaimed and
 * compacted in vain, `__alloc_pages_may_oom()` calls {@link outOfMemory}, which picks the process
 * whose memory is worth most to free ({@link oomBadness}: its resident pages plus its
 * `oom_score_adj` in thousandths of the memory the allocation could have had) among those that
 * could free memory the allocation may use ({@link constrainedAlloc}), and kills it. The slow path
 * then tries again.
 *
 * A killed process ends at once: the model has no signals to deliver and no `oom_reaper` to wait
 * for, so the victim's address space is torn down and the task leaves the process table
 * (`do_exit()`, `kernel/exit.ts`) inside the kill, and an access it had in flight fails with
 * `ESRCH` when it resumes. The model runs no init process (`is_global_init()`): its pid 1 is the
 * first process created, killable as any other.
 *
 * @module
 */
import { __GFP_THISNODE } from "../include/gfp";
import type { Kernel } from "../include/kernel";
import { MPOL_BIND } from "../include/mempolicy";
import type { MmStruct } from "../include/mm_types";
import type { AllocContext } from "../include/mmzone";
import { OOM_SCORE_ADJ_MIN, OomConstraint, type OomControl } from "../include/oom";
import { isMigrationEntry, ptePresent, pteSpecial } from "../include/pgtable";
import type { TaskStruct } from "../include/sched";
import { doExit } from "../kernel/exit";

/** A mapped entry that counts in `get_mm_rss()`: a page, or a page under migration. */
const countsInRss = (entry: number): boolean =>
  (ptePresent(entry) && !pteSpecial(entry)) || isMigrationEntry(entry);

/**
 * `get_mm_rss()` (`include/linux/mm.h`): the pages an address space has resident, which the
 * kernel keeps in `mm->rss_stat` (`MM_FILEPAGES`, `MM_ANONPAGES`, `MM_SHMEMPAGES`) and the model
 * counts from the page tables: every PTE that maps a page, the zero page aside, and every huge
 * PMD (a PMD's worth of pages); an entry under migration still counts, a hwpoison entry does
 * not. Hugetlb pages are not resident set (`hugetlb_count` holds them apart).
 *
 * @category Memory and folios
 */
export const getMmRss = (k: Kernel, mm: MmStruct): number => {
  let rss = 0;
  for (const vma of mm.vmas) {
    if (vma.hstate) continue;
    for (const pte of vma.ptes) if (countsInRss(pte)) rss++;
    for (const pmd of vma.pmds.values()) if (countsInRss(pmd)) rss += 1 << k.pmdOrder;
  }
  return rss;
};

/**
 * `totalram_pages()` (`include/linux/mm.h`) plus `total_swap_pages`: the memory every allocation
 * could have, which `oom_score_adj` is scaled by and `/proc/<pid>/oom_score` divides by: the
 * managed pages of every zone, in pages. The model has no swap.
 *
 * @category Memory and folios
 */
export const oomTotalPages = (k: Kernel): number =>
  k.pageAlloc.zones.reduce((sum, z) => sum + z.managedPages, 0);

/**
 * `oom_badness()` (`mm/oom_kill.c`, Linux 6.16): how much killing `p` would free, in pages: its
 * resident pages ({@link getMmRss}), swap entries and page-table pages (none in the model, which
 * has no swap and no page-table pages), plus `oom_score_adj` × ⌊`totalpages` / 1000⌋. Null (the
 * kernel's `LONG_MIN`) for a task that is no candidate: a kernel thread, one that has exited, or
 * one whose `oom_score_adj` is `OOM_SCORE_ADJ_MIN`. The result may be 0 or negative, and such a
 * task is still a candidate.
 *
 * For example, 100 resident pages with `oom_score_adj` 500 out of 16384 pages of memory score
 * 100 + 500 × 16 = 8100.
 *
 * @category Memory and folios
 */
export const oomBadness = (k: Kernel, p: TaskStruct, totalpages: number): number | null => {
  // oom_unkillable_task(), find_lock_task_mm(): a kernel thread, or a task without its mm.
  if (!p.mm || p.exited) return null;
  const adj = p.oomScoreAdj;
  if (adj === OOM_SCORE_ADJ_MIN) return null;
  return getMmRss(k, p.mm) + adj * Math.floor(totalpages / 1000);
};

/**
 * `constrained_alloc()` (`mm/oom_kill.c`, Linux 6.16): what kept the allocation of `oc` from
 * memory, and `oc.totalpages`, the pages it could have had: every node's (`totalram_pages()`)
 * under {@link OomConstraint.NONE}; with a node mask that leaves some node with memory out (a
 * memory policy; not for `__GFP_THISNODE`), {@link OomConstraint.MEMORY_POLICY} and the present
 * pages of the mask's nodes. The model's allocator does not keep an allocation to its task's
 * cpuset (`cpuset_zone_allowed()` allows every zone), so {@link OomConstraint.CPUSET} does not
 * arise, and there are no memory cgroups.
 *
 * @category Memory and folios
 */
export const constrainedAlloc = (k: Kernel, oc: OomControl): OomConstraint => {
  oc.totalpages = oomTotalPages(k);
  if (oc.gfpMask & __GFP_THISNODE) return OomConstraint.NONE;
  const mask = oc.nodemask;
  if (mask && !k.mem.nodes.every((n) => !k.nodeHasMemory(n.nid) || mask.includes(n.nid))) {
    oc.totalpages = 0;
    // node_present_pages(): what offlining left present.
    for (const nid of new Set(mask)) oc.totalpages += k.pageAlloc.zones[nid]?.presentPages ?? 0;
    return OomConstraint.MEMORY_POLICY;
  }
  return OomConstraint.NONE;
};

/**
 * `oom_cpuset_eligible()` (`mm/oom_kill.c`): whether `task` may hold memory the allocation could
 * use. Under a memory-policy constraint, unless the task's own policy is `MPOL_BIND` to nodes
 * outside the mask (`mempolicy_in_oom_domain()`, `mm/mempolicy.c`); otherwise when its cpuset
 * shares a node with the allocating task's (`cpuset_mems_allowed_intersects()`; a kernel thread's
 * allows every node).
 */
const oomCpusetEligible = (
  task: TaskStruct,
  oc: OomControl,
  current: AllocContext | null,
): boolean => {
  const mask = oc.nodemask;
  if (mask) {
    const pol = task.policy;
    return !(pol && pol.mode === MPOL_BIND) || pol.nodes.some((nid) => mask.includes(nid));
  }
  const mems = current?.memsAllowed;
  return !mems || task.memsAllowed.some((nid) => mems.includes(nid));
};

/**
 * `select_bad_process()` with `oom_evaluate_task()` (`mm/oom_kill.c`, Linux 6.16): walks the
 * process table in order (`for_each_process()`, by pid) and leaves in `oc.chosen` the candidate
 * with the highest {@link oomBadness}, a later one winning a tie; null when no task is a
 * candidate. Kernel threads and tasks that cannot hold memory the allocation could use
 * (`oom_cpuset_eligible()`) are passed over. (Linux also aborts the scan while an earlier victim
 * is still exiting; the model's victims are gone when the kill returns.)
 *
 * @category Memory and folios
 */
export const selectBadProcess = (
  k: Kernel,
  oc: OomControl,
  current: AllocContext | null = null,
): void => {
  oc.chosen = null;
  oc.chosenPoints = Number.NEGATIVE_INFINITY; // LONG_MIN
  for (const task of k.tasks.values()) {
    if (!task.mm || task.exited) continue; // oom_unkillable_task(): PF_KTHREAD
    if (!oomCpusetEligible(task, oc, current)) continue;
    const points = oomBadness(k, task, oc.totalpages);
    if (points === null || points < oc.chosenPoints) continue;
    oc.chosen = task;
    oc.chosenPoints = points;
  }
};

/**
 * `oom_kill_process()` with `__oom_kill_process()` (`mm/oom_kill.c`, Linux 6.16): counts
 * `oom_kill` in `/proc/vmstat` (`count_vm_event(OOM_KILL)`), marks `oc.chosen` a victim
 * (`mark_oom_victim()`) and ends it: where Linux sends `SIGKILL` and lets the victim's exit and
 * the `oom_reaper` free its memory, the model runs the exit there and then (`do_exit()`), so the
 * memory only it mapped is free when this returns. No-op while nothing is chosen.
 *
 * @category Memory and folios
 */
export const oomKillProcess = (k: Kernel, oc: OomControl): void => {
  const victim = oc.chosen;
  if (!victim || victim.exited) return;
  k.vmstat.count("oom_kill");
  victim.oomVictim = true;
  doExit(k, victim);
};

/**
 * `out_of_memory()` (`mm/oom_kill.c`, Linux 6.16), as `__alloc_pages_may_oom()` calls it for a
 * global (not memory cgroup) allocation: true when it made progress, so the slow path should try
 * again. An allocating task that is already a victim (`task_will_free_mem(current)`) is progress
 * at once; otherwise {@link constrainedAlloc}, {@link selectBadProcess} and
 * {@link oomKillProcess}. False when no process can be killed: Linux then panics ("System is
 * deadlocked on memory"), the model lets the allocation fail. `current` is the allocating task
 * (null: a kernel thread). `vm.panic_on_oom` and `vm.oom_kill_allocating_task` are not modelled
 * (they behave as their default, 0); `oom_notify_list` has no members, and every allocation may
 * enter the file system (`__GFP_FS`).
 *
 * @category Memory and folios
 */
export const outOfMemory = (
  k: Kernel,
  oc: OomControl,
  current: AllocContext | null = null,
): boolean => {
  if (current?.oomVictim) return true;
  oc.constraint = constrainedAlloc(k, oc);
  if (oc.constraint !== OomConstraint.MEMORY_POLICY) oc.nodemask = null;
  selectBadProcess(k, oc, current);
  if (!oc.chosen) return false;
  oomKillProcess(k, oc);
  return true;
};
