/**
 * The OOM killer and the `oom_reaper`.
 *
 * Models `mm/oom_kill.c` (Linux 6.16): when the page allocator's slow path has reclaimed and
 * compacted in vain, `__alloc_pages_may_oom()` calls {@link outOfMemory}, which picks the process
 * whose memory is worth most to free ({@link oomBadness}: its resident pages plus its
 * `oom_score_adj` in thousandths of the memory the allocation could have had) among those that
 * could free memory the allocation may use ({@link constrainedAlloc}), and kills it. The slow path
 * then tries again. When no process can be killed the kernel panics (`System is deadlocked on
 * memory`, `Kernel.panic()`); `vm.panic_on_oom` panics before any kill, and
 * `vm.oom_kill_allocating_task` kills the allocating process instead of choosing
 * ({@link oomInitSysctl}).
 *
 * The victim gets `SIGKILL` (`kernel/signal.ts`). One in user space when it comes dies at once:
 * it runs its exit (`do_exit()`, `kernel/exit.ts`) inside the kill and leaves the process table.
 * One inside a system call of its own dies when that call stops for the signal
 * (`fatal_signal_pending()`) or returns, failing with `ESRCH`. The exit drops the victim's
 * reference to its address space (`exit_mm()`); when that was the last, the memory is free. Until
 * the victim exits, or while another task's `move_pages(2)` or `migrate_pages(2)` holds the
 * address space (`get_task_mm()`) until that call's `mmput()`, the memory stays, and the
 * `oom_reaper` (`OomReaperState`, a thread from boot) takes the private memory
 * {@link OOM_REAPER_DELAY} after the kill, once it gets the address space's `mmap_lock` for
 * reading, or gives up on it after `MAX_OOM_REAP_RETRIES` tries; until one of them sets
 * `MMF_OOM_SKIP`, {@link selectBadProcess} kills no one else. The init process the kernel starts
 * at boot (pid 1, `is_global_init()`) is never killed.
 *
 * @module
 */
import { Clock, Deferred, Duration, Effect, Fiber } from "effect";
import { type ErrnoError, errno } from "../errno";
import { __GFP_THISNODE } from "../include/gfp";
import type { Kernel } from "../include/kernel";
import { MPOL_BIND } from "../include/mempolicy";
import { type MmStruct, VM_HUGETLB, VM_PFNMAP, VM_SHARED } from "../include/mm_types";
import { mmapReadTrylock, mmapReadUnlock } from "../include/mmap_lock";
import type { AllocContext } from "../include/mmzone";
import {
  MAX_OOM_REAP_RETRIES,
  OOM_REAP_RETRY_DELAY,
  OOM_REAPER_DELAY,
  OOM_SCORE_ADJ_MIN,
  OomConstraint,
  type OomControl,
  type OomReaper,
} from "../include/oom";
import { stopIfPanicked } from "../include/panic";
import { isMigrationEntry, ptePresent, pteSpecial } from "../include/pgtable";
import { isGlobalInit, PF_KTHREAD, type TaskStruct } from "../include/sched";
import { fatalSignalPending } from "../include/signal";
import { doSendSigkill } from "../kernel/signal";
import { procDointvecEntry } from "../kernel/sysctl";
import { zapPteRange } from "./memory";

/**
 * `oom_unkillable_task()` (`mm/oom_kill.c`, Linux 6.16): the global init (`is_global_init()`)
 * or a kernel thread (`PF_KTHREAD`), which the OOM killer never takes.
 */
const oomUnkillableTask = (p: TaskStruct): boolean =>
  isGlobalInit(p) || (p.flags & PF_KTHREAD) !== 0;

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
 * kernel's `LONG_MIN`) for a task that is no candidate: the global init, a kernel thread, one
 * that has exited, or one whose `oom_score_adj` is `OOM_SCORE_ADJ_MIN`. The result may be 0 or negative, and such a
 * task is still a candidate.
 *
 * For example, 100 resident pages with `oom_score_adj` 500 out of 16384 pages of memory score
 * 100 + 500 × 16 = 8100.
 *
 * @category Memory and folios
 */
export const oomBadness = (k: Kernel, p: TaskStruct, totalpages: number): number | null => {
  // oom_unkillable_task(): a kernel thread; find_lock_task_mm(): a task without its mm.
  if (oomUnkillableTask(p) || !p.mm || p.exited) return null;
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
 * `oom_evaluate_task()`'s check of an OOM victim (`tsk_is_oom_victim()`): "skip" when its
 * address space has `MMF_OOM_SKIP` (nothing more to free from it), "abort" otherwise (it is still
 * freeing memory, so no other task is killed); "candidate" for a task that is no victim.
 */
const oomVictimState = (task: TaskStruct): "skip" | "abort" | "candidate" => {
  if (!task.oomVictim) return "candidate";
  return task.oomMm?.oomSkip ? "skip" : "abort";
};

/**
 * `select_bad_process()` with `oom_evaluate_task()` (`mm/oom_kill.c`, Linux 6.16): walks the
 * process table in order (`for_each_process()`, by pid) and leaves in `oc.chosen` the candidate
 * with the highest {@link oomBadness}, a later one winning a tie; null when no task is a
 * candidate. Kernel threads and tasks that cannot hold memory the allocation could use
 * (`oom_cpuset_eligible()`) are passed over. An earlier OOM victim whose address space lacks
 * `MMF_OOM_SKIP` (the victims the `oom_reaper` still has, {@link OomReaper.victims}: held by
 * another task's call, not yet reaped) aborts the scan: nothing is chosen and the result is true
 * (the kernel's `oc->chosen = -1`), so {@link outOfMemory} kills no one and the slow path tries
 * again; a victim with `MMF_OOM_SKIP` is passed over. Returns false when the scan was not aborted.
 *
 * @category Memory and folios
 */
export const selectBadProcess = (
  k: Kernel,
  oc: OomControl,
  current: AllocContext | null = null,
): boolean => {
  oc.chosen = null;
  oc.chosenPoints = Number.NEGATIVE_INFINITY; // LONG_MIN
  // The victims come first: an abort discards whatever was chosen, so the order is the same.
  for (const task of [...k.oomReaper.victims, ...k.tasks.values()]) {
    if (oomUnkillableTask(task)) continue;
    if (!task.oomVictim && (!task.mm || task.exited)) continue; // oom_badness(): no mm, LONG_MIN
    if (!oomCpusetEligible(task, oc, current)) continue;
    const victim = oomVictimState(task);
    if (victim === "skip") continue;
    if (victim === "abort") {
      oc.chosen = null;
      return true;
    }
    const points = oomBadness(k, task, oc.totalpages);
    if (points === null || points < oc.chosenPoints) continue;
    oc.chosen = task;
    oc.chosenPoints = points;
  }
  return false;
};

/**
 * `mark_oom_victim()` (`mm/oom_kill.c`, Linux 6.16): marks `task` a victim (`TIF_MEMDIE`,
 * {@link TaskStruct.oomVictim}) and keeps its address space in `signal->oom_mm`
 * ({@link TaskStruct.oomMm}) for the `oom_reaper`. No-op for a task marked already.
 */
const markOomVictim = (task: TaskStruct): void => {
  if (task.oomVictim) return;
  task.oomVictim = true;
  task.oomMm ??= task.mm;
};

/**
 * `oom_kill_process()` with `__oom_kill_process()` (`mm/oom_kill.c`, Linux 6.16): counts
 * `oom_kill` in `/proc/vmstat` (`count_vm_event(OOM_KILL)`), marks `oc.chosen` a victim
 * (`mark_oom_victim()`), sends it `SIGKILL` (`do_send_sig_info()`, `doSendSigkill()` in
 * `kernel/signal.ts`) and queues the `oom_reaper` (`queue_oom_reaper()`,
 * {@link OomReaper.queue}), as no other process shares the address space (`can_oom_reap`).
 * A victim in user space (no system call of its own in flight) dies at once: its exit
 * (`do_exit()`) runs in this call, so the memory only it mapped is free when this returns unless
 * another task's call holds its address space, and its `exit_task_work()` (a shmem object's
 * release that waits on a folio's lock) runs on {@link Kernel.systemWq}, as the victim runs it.
 * A victim inside a call of its own (its fault's slow path, a wait for a page under migration,
 * its `move_pages()`) keeps `SIGKILL` pending and dies when that call stops for it
 * (`fatal_signal_pending()`) or returns; until then its memory stays, unless the `oom_reaper`
 * takes it {@link OOM_REAPER_DELAY} after the kill. No-op while nothing is chosen.
 *
 * @category Memory and folios
 */
export const oomKillProcess = (k: Kernel, oc: OomControl): Effect.Effect<void> =>
  Effect.suspend(() => {
    const victim = oc.chosen;
    if (!victim || victim.exited) return Effect.void;
    k.vmstat.count("oom_kill");
    // Linux sends SIGKILL before it marks the victim; both happen before the victim runs
    // again, and the mark must see the address space a victim in user space drops at once.
    markOomVictim(victim);
    doSendSigkill(k, victim);
    return k.oomReaper.queue(victim);
  });

/**
 * `check_panic_on_oom()` (`mm/oom_kill.c`, Linux 6.16): the panic `vm.panic_on_oom`
 * ({@link Kernel.panicOnOom}) asks for, or null for none: 0 never panics, 1 panics for an
 * unconstrained OOM ({@link OomConstraint.NONE}) only, 2 for every OOM. The message names which:
 * `Out of memory: system-wide panic_on_oom is enabled` (1) or `compulsory` (2). (A sysrq OOM,
 * which never panics, does not arise in the model.)
 */
const checkPanicOnOom = (k: Kernel, oc: OomControl): Effect.Effect<never> | null => {
  if (!k.panicOnOom) return null;
  if (k.panicOnOom !== 2 && oc.constraint !== OomConstraint.NONE) return null;
  const which = k.panicOnOom === 2 ? "compulsory" : "system-wide";
  return k.panic(`Out of memory: ${which} panic_on_oom is enabled\n`);
};

/**
 * The allocating task as the OOM killer reads it (`current`): the process in the process table
 * that `current` is, or null for a kernel thread's allocation (no `current->mm`).
 */
const allocatingProcess = (k: Kernel, current: AllocContext | null): TaskStruct | null => {
  if (!current) return null;
  for (const task of k.tasks.values()) if (task === current) return task;
  return null;
};

/**
 * `out_of_memory()` (`mm/oom_kill.c`, Linux 6.16), as `__alloc_pages_may_oom()` calls it for a
 * global (not memory cgroup) allocation: true when the slow path should try again. An allocating
 * task that is already a victim (`task_will_free_mem(current)`) is progress at once, and so is
 * one that has exited meanwhile, which becomes a victim (`mark_oom_victim()`) so that its next try
 * may take `ALLOC_OOM`, no other process being killed for it. Otherwise, after
 * {@link constrainedAlloc}:
 *
 * 1. `check_panic_on_oom()`: with `vm.panic_on_oom` ({@link Kernel.panicOnOom}) 1 and no
 *    constraint, or 2, the kernel panics ({@link Kernel.panic}): `Out of memory: system-wide
 *    panic_on_oom is enabled` (1), `… compulsory …` (2);
 * 2. with `vm.oom_kill_allocating_task` ({@link Kernel.oomKillAllocatingTask}) set, the
 *    allocating process itself is killed ({@link oomKillProcess}), when it has an address space,
 *    is no kernel thread nor the global init, may hold memory the allocation could use and is
 *    not at `OOM_SCORE_ADJ_MIN`; otherwise
 * 3. {@link selectBadProcess} and {@link oomKillProcess}. An aborted selection (an earlier victim
 *    still freeing its memory) is progress with no kill. When no process can be killed, the
 *    kernel panics: `System is deadlocked on memory`, as Linux bails out of an allocation that
 *    would otherwise loop for ever.
 *
 * A panic never returns: the Effect dies with a `KernelPanic`, and the system call it ends fails
 * with `ESHUTDOWN` naming it. `current` is the allocating task (null: a kernel thread). Linux
 * returns false only while the OOM killer is disabled (`oom_killer_disable()`, for suspend),
 * which the model has not, so the result is never false on a running kernel; `oom_notify_list`
 * has no members, and every allocation may enter the file system (`__GFP_FS`).
 *
 * Fails with `ESHUTDOWN` once the kernel has begun to shut down or has panicked, as its calls
 * do: it kills nobody, and starts no `oom_reaper` that shutdown would no longer stop.
 *
 * @category Memory and folios
 */
export const outOfMemory = (
  k: Kernel,
  oc: OomControl,
  current: AllocContext | null = null,
): Effect.Effect<boolean, ErrnoError> =>
  Effect.suspend((): Effect.Effect<boolean, ErrnoError> => {
    if (k.state !== "running") {
      return Effect.fail(errno("ESHUTDOWN", "out_of_memory: the kernel has shut down"));
    }
    if (current?.oomVictim) return Effect.succeed(true);
    // task_will_free_mem(current): a task that has exited frees its memory itself; it becomes a
    // victim (mark_oom_victim(): ALLOC_OOM on the next try, then the allocation fails), and no
    // one else is killed for it. Its address space is gone, so there is nothing to reap.
    if (current?.exited) {
      current.oomVictim = true;
      return Effect.succeed(true);
    }
    oc.constraint = constrainedAlloc(k, oc);
    if (oc.constraint !== OomConstraint.MEMORY_POLICY) oc.nodemask = null;
    const panicOnOom = checkPanicOnOom(k, oc);
    if (panicOnOom) return panicOnOom;
    const self = allocatingProcess(k, current);
    if (
      k.oomKillAllocatingTask &&
      self?.mm &&
      !oomUnkillableTask(self) &&
      oomCpusetEligible(self, oc, current) &&
      self.oomScoreAdj !== OOM_SCORE_ADJ_MIN
    ) {
      oc.chosen = self;
      return Effect.as(oomKillProcess(k, oc), true);
    }
    if (selectBadProcess(k, oc, current)) return Effect.succeed(true);
    // Found nothing: an allocation at the system level cannot survive this.
    if (!oc.chosen) return k.panic("System is deadlocked on memory\n");
    return Effect.as(oomKillProcess(k, oc), true);
  });

/**
 * `pagefault_out_of_memory()` (`mm/oom_kill.c`, Linux 6.16), which x86's `do_user_addr_fault()`
 * (`arch/x86/mm/fault.c`) calls when a fault of the task's own access ended with `VM_FAULT_OOM`.
 * It runs no OOM killer (not since Linux 5.16, commit 60e2793d440a "mm, oom: do not trigger
 * out_of_memory from the #PF"): the allocation that failed had its own chance at it
 * (`__alloc_pages_may_oom()`). With no memory cgroup OOM to finish
 * (`mem_cgroup_oom_synchronize()`; the model has no memcg), it returns at once for a task with
 * `SIGKILL` pending (commit 0b28179a6138), which dies on its way back to user mode; otherwise it
 * warns (`Huh VM_FAULT_OOM leaked out to the #PF handler. Retrying PF`, rate-limited; the model
 * has no kernel log) and returns, and back in user space the task runs the access again: the
 * fault is retried. Returns true when it is, false when the task dies instead.
 *
 * @category Memory and folios
 */
export const pagefaultOutOfMemory = (task: AllocContext): boolean => !fatalSignalPending(task);

/**
 * Creates the OOM killer's files of `/proc/sys/vm` (`vm_oom_kill_table[]`, registered by
 * `oom_init()`, `mm/oom_kill.c`, Linux 6.16), both 0644 and read as a decimal line:
 * `panic_on_oom` ({@link Kernel.panicOnOom}), an integer 0..2 (`proc_dointvec_minmax()` with
 * `SYSCTL_ZERO`, `SYSCTL_TWO`), and `oom_kill_allocating_task`
 * ({@link Kernel.oomKillAllocatingTask}), any `int` (`proc_dointvec()`). `EINVAL` for anything
 * else, the value unchanged. (`oom_dump_tasks` is left out: the model logs nothing.)
 *
 * @category Memory and folios
 */
export const oomInitSysctl = (k: Kernel): void => {
  const pageSize = k.mem.pageSize;
  k.fs.registerSysctl("vm", {
    panic_on_oom: procDointvecEntry(
      "panic_on_oom",
      pageSize,
      () => k.panicOnOom,
      (v) => {
        k.panicOnOom = v;
      },
      { min: 0, max: 2 },
    ),
    oom_kill_allocating_task: procDointvecEntry(
      "oom_kill_allocating_task",
      pageSize,
      () => k.oomKillAllocatingTask,
      (v) => {
        k.oomKillAllocatingTask = v;
      },
    ),
  });
};

/**
 * `__oom_reap_task_mm()` (`mm/oom_kill.c`, Linux 6.16): unmaps every page of the VMAs of `mm`
 * that only its owner can have wanted, freeing each that nothing else holds
 * (`unmap_page_range()`): anonymous VMAs and private file mappings (their copied-on-write pages
 * and the file pages they map). Hugetlb and `VM_PFNMAP` VMAs and shared mappings (shmem, a
 * file's `MAP_SHARED`) stay; an mlocked VMA is reaped too (since Linux 5.18), its folios
 * munlocked as they are unmapped. The VMAs and their PTE tables stay, so a look-up finds the VMA
 * and a PTE that maps nothing (`move_pages(2)`'s `-ENOENT`). A migration entry is cleared like
 * any other entry: the migration in flight finds no mapping to restore. There are no MMU
 * notifiers to refuse (`mmu_notifier_invalidate_range_start_nonblock()`), so once the
 * `mmap_lock` is held it never fails.
 */
const unmapPrivateVmas = (k: Kernel, mm: MmStruct): void => {
  for (const vma of mm.vmas) {
    if (vma.flags & (VM_HUGETLB | VM_PFNMAP)) continue;
    if (vma.isAnonymous || !(vma.flags & VM_SHARED)) zapPteRange(k, vma, 0, vma.nrPages);
  }
};

/**
 * `oom_reap_task_mm()` (`mm/oom_kill.c`, Linux 6.16): one try at the victim `task`'s address
 * space `mm`. False when its `mmap_lock` cannot be taken for reading (`mmap_read_trylock()`: a
 * writer holds it, or someone waits for it), with a `skip_task_reaping` event; otherwise, under
 * the lock, nothing for an address space `exit_mmap()` tore down (`MMF_OOM_SKIP`,
 * `skip_task_reaping`), or the reap ({@link unmapPrivateVmas}) between `start_task_reaping` and
 * `finish_task_reaping`, and true.
 */
const oomReapTaskMm = (k: Kernel, task: TaskStruct, mm: MmStruct): boolean => {
  if (!mmapReadTrylock(mm)) {
    k.trace.emit({ event: "skip_task_reaping", pid: task.pid });
    return false;
  }
  try {
    if (mm.oomSkip) {
      k.trace.emit({ event: "skip_task_reaping", pid: task.pid });
      return true;
    }
    k.trace.emit({ event: "start_task_reaping", pid: task.pid });
    unmapPrivateVmas(k, mm);
    k.trace.emit({ event: "finish_task_reaping", pid: task.pid });
    return true;
  } finally {
    mmapReadUnlock(mm);
  }
};

/** A victim handed to the `oom_reaper` thread, with the `Clock` its timer ran on. */
interface ReaperWork {
  readonly task: TaskStruct;
  readonly clock: Clock.Clock;
}

/**
 * The `oom_reaper` of `mm/oom_kill.c` (Linux 6.16): the `oom_reaper` thread, a fiber started at
 * boot ({@link OomReaperState.start}, `oom_init()`) that sleeps on its wait queue
 * (`oom_reaper_wait`) until a victim is handed to it, and `queue_oom_reaper()`'s timers, each a
 * fiber that sleeps {@link OOM_REAPER_DELAY} on the `Clock` of the fiber whose kill queued it and
 * then hands the victim to the thread (`oom_reaper_list`, last in first out). The thread reaps the
 * victims one at a time (`oom_reap_task()`): unless `exit_mmap()` set `MMF_OOM_SKIP` meanwhile, it
 * tries {@link oomReapTaskMm} up to {@link MAX_OOM_REAP_RETRIES} times, sleeping
 * {@link OOM_REAP_RETRY_DELAY} (`schedule_timeout_idle(HZ/10)`, on the victim's timer's `Clock`)
 * after each try that could not take the `mmap_lock`; then it sets `MMF_OOM_SKIP`, reaped or not
 * (Linux prints `oom_reaper: unable to reap pid:<pid> (<comm>)` when not, which the model, with
 * no kernel log, keeps in {@link OomReaperState.unableToReap}). Idle, the thread holds no timer,
 * so it keeps no Node.js process alive. Kernel shutdown ends the fibers, once the calls in flight
 * have returned (an allocation among them may be waiting for a reap); a panic stops them at their
 * next step.
 *
 * @category Memory and folios
 */
export class OomReaperState implements OomReaper {
  private readonly queued = new Set<TaskStruct>();
  /** `oom_reaper_list`: victims whose timer fired, for the daemon. */
  private readonly list: ReaperWork[] = [];
  /** The daemon's wait queue (`oom_reaper_wait`). */
  private wait = Deferred.makeUnsafe<void>();
  private daemonFiber: Fiber.Fiber<void, never> | null = null;
  private readonly timers = new Set<Fiber.Fiber<void, never>>();
  /**
   * The victims the thread gave up on (`oom_reaper: unable to reap pid:<pid> (<comm>)`), as
   * `"<pid> (<comm>)"`, in order.
   */
  readonly unableToReap: string[] = [];

  constructor(private readonly k: Kernel) {}

  get victims(): ReadonlySet<TaskStruct> {
    return this.queued;
  }

  /** Whether the `oom_reaper` thread runs (`oom_reaper_th`). */
  get running(): boolean {
    return this.daemonFiber !== null;
  }

  queue(task: TaskStruct): Effect.Effect<void> {
    return Effect.suspend(() => {
      const mm = task.oomMm;
      if (!mm || mm.oomReapQueued) return Effect.void;
      mm.oomReapQueued = true;
      // exit_mmap() ran already: wake_oom_reaper() would find MMF_OOM_SKIP and do nothing.
      if (mm.oomSkip) return Effect.void;
      this.queued.add(task);
      const self = this;
      return Effect.gen(function* () {
        const clock = yield* Clock.clockWith(Effect.succeed);
        const timer: Fiber.Fiber<void, never> = yield* Effect.forkDetach(
          Effect.sleep(Duration.millis(OOM_REAPER_DELAY)).pipe(
            Effect.andThen(Effect.sync(() => self.wakeOomReaper(task, clock))),
            Effect.ensuring(Effect.sync(() => self.timers.delete(timer))),
          ),
        );
        self.timers.add(timer);
      });
    });
  }

  /** `wake_oom_reaper()`: the timer's end; hands the victim to the daemon unless it is done. */
  private wakeOomReaper(task: TaskStruct, clock: Clock.Clock): void {
    // smp_send_stop(): after a panic nothing runs on.
    if (this.k.panicked !== null) return;
    if (task.oomMm!.oomSkip) {
      this.queued.delete(task); // the victim's exit_mmap() freed everything meanwhile
      return;
    }
    this.list.push({ task, clock });
    Deferred.doneUnsafe(this.wait, Effect.void);
  }

  /**
   * `oom_reap_task()`: tries the victim's address space up to {@link MAX_OOM_REAP_RETRIES} times,
   * {@link OOM_REAP_RETRY_DELAY} apart, then sets `MMF_OOM_SKIP` whatever came of it.
   */
  private oomReapTask(task: TaskStruct): Effect.Effect<void> {
    const self = this;
    return Effect.gen(function* () {
      const mm = task.oomMm!;
      let attempts = 0;
      while (attempts++ < MAX_OOM_REAP_RETRIES && !oomReapTaskMm(self.k, task, mm)) {
        yield* Effect.sleep(Duration.millis(OOM_REAP_RETRY_DELAY));
        yield* stopIfPanicked(self.k);
      }
      if (attempts > MAX_OOM_REAP_RETRIES && !mm.oomSkip) {
        self.unableToReap.push(`${task.pid} (${task.comm})`);
      }
      // Reaped, or the lock's holder never let go: hidden from the OOM killer either way.
      mm.oomSkip = true;
      self.queued.delete(task);
    });
  }

  /**
   * `oom_init()` (`mm/oom_kill.c`, Linux 6.16, a `subsys_initcall`): starts the `oom_reaper`
   * thread, which sleeps until a victim is handed to it, and registers its stop (and the
   * timers') at kernel shutdown. Every kernel boots with it, whatever its `daemons`: asleep on
   * its wait queue it changes nothing and holds no timer. No-op when it runs already.
   */
  start(): Effect.Effect<void> {
    const self = this;
    const loop: Effect.Effect<void> = Effect.gen(function* () {
      for (;;) {
        const work = self.list.pop();
        if (!work) {
          yield* Deferred.await(self.wait);
          yield* stopIfPanicked(self.k);
          self.wait = Deferred.makeUnsafe<void>();
          continue;
        }
        // Not a kernel call: an allocation in flight during shutdown may be waiting for this
        // reap, and shutdown waits for that allocation; the fibers end before memory goes.
        yield* Effect.provideService(self.oomReapTask(work.task), Clock.Clock, work.clock);
      }
    });
    return Effect.suspend(() => {
      if (self.daemonFiber) return Effect.void;
      return Effect.map(
        // A panic ends the thread (its defect); nothing waits for it but shutdown.
        Effect.forkDetach(Effect.catchDefect(loop, () => Effect.void)),
        (fiber) => {
          self.daemonFiber = fiber;
          self.k.registerDevice({
            name: "oom_reaper",
            shutdown: () =>
              Effect.suspend(() => {
                const fibers = [fiber, ...self.timers];
                self.timers.clear();
                self.daemonFiber = null;
                return Fiber.interruptAll(fibers);
              }),
          });
        },
      );
    });
  }
}
