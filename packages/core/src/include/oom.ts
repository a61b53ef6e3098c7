/**
 * What the OOM killer's callers see: its score bounds, the constraint of an allocation that ran
 * out of memory, the control block one call of the killer works on, and the `oom_reaper`'s
 * interface.
 *
 * Models `include/uapi/linux/oom.h` (`OOM_SCORE_ADJ_MIN`, `OOM_SCORE_ADJ_MAX`) and
 * `include/linux/oom.h` (`enum oom_constraint`, `struct oom_control`), with `OOM_REAPER_DELAY`
 * of `mm/oom_kill.c`. The killer and the reaper themselves are `mm/oom_kill.ts`.
 *
 * @module
 */
import type { Effect } from "effect";
import type { TaskStruct } from "./sched";

/**
 * `OOM_SCORE_ADJ_MIN` (`include/uapi/linux/oom.h`): the lowest `oom_score_adj`; a process with it
 * is never chosen by the OOM killer (`oom_badness()` returns `LONG_MIN` for it).
 *
 * @category Processes
 */
export const OOM_SCORE_ADJ_MIN = -1000;

/**
 * `OOM_SCORE_ADJ_MAX` (`include/uapi/linux/oom.h`): the highest `oom_score_adj`, which adds the
 * whole of `totalpages` to a process's badness.
 *
 * @category Processes
 */
export const OOM_SCORE_ADJ_MAX = 1000;

/**
 * `enum oom_constraint` (`include/linux/oom.h`, Linux 6.16): what limited the allocation that
 * ran out of memory, as `constrained_alloc()` (`mm/oom_kill.c`) finds it.
 *
 * @category Memory and folios
 */
export const OomConstraint = {
  /** `CONSTRAINT_NONE`: every node with memory was allowed. */
  NONE: 0,
  /** `CONSTRAINT_CPUSET`: the allocating task's cpuset kept it off some node. */
  CPUSET: 1,
  /** `CONSTRAINT_MEMORY_POLICY`: a memory policy's node mask left some node with memory out. */
  MEMORY_POLICY: 2,
  /** `CONSTRAINT_MEMCG`: a memory cgroup's limit (the model has no memory cgroups). */
  MEMCG: 3,
} as const;

/**
 * One of the {@link OomConstraint} values (`enum oom_constraint`, `include/linux/oom.h`).
 *
 * @category Memory and folios
 */
export type OomConstraint = (typeof OomConstraint)[keyof typeof OomConstraint];

/**
 * `struct oom_control` (`include/linux/oom.h`, Linux 6.16): one call of `out_of_memory()`. The
 * allocation's node mask (null for none; `out_of_memory()` drops it unless the constraint is
 * {@link OomConstraint.MEMORY_POLICY}), gfp flags and order; then what the killer works out:
 * `totalpages` (the pages the allocation could have had, which `oom_score_adj` is scaled by),
 * the constraint, and the task chosen with its badness points. There is no memory cgroup
 * (`memcg`), and no sysrq-triggered call (order -1).
 *
 * @category Memory and folios
 */
export interface OomControl {
  /** The allocation's node mask (`oc->nodemask`); null for none. */
  nodemask: readonly number[] | null;
  /** The allocation's gfp flags (`oc->gfp_mask`). */
  readonly gfpMask: number;
  /** The allocation's order (`oc->order`). */
  readonly order: number;
  /** Pages the allocation could have had (`oc->totalpages`), set by `constrained_alloc()`. */
  totalpages: number;
  /** What limited the allocation (`oc->constraint`). */
  constraint: OomConstraint;
  /** The task `select_bad_process()` chose (`oc->chosen`); null while none is. */
  chosen: TaskStruct | null;
  /** The chosen task's `oom_badness()` (`oc->chosen_points`). */
  chosenPoints: number;
}

/**
 * `OOM_REAPER_DELAY` (`mm/oom_kill.c`, Linux 6.16): `2 * HZ`, 2000 ms. How long
 * `queue_oom_reaper()` gives an OOM victim to free its memory by exiting before the `oom_reaper`
 * takes its private memory.
 *
 * @category Memory and folios
 */
export const OOM_REAPER_DELAY = 2000;

/**
 * `MAX_OOM_REAP_RETRIES` (`mm/oom_kill.c`, Linux 6.16): 10. How many times `oom_reap_task()`
 * tries a victim's address space (`oom_reap_task_mm()`, which fails while it cannot take the
 * `mmap_lock` for reading) before it gives up on it: `oom_reaper: unable to reap pid`, and
 * `MMF_OOM_SKIP` is set all the same so that the OOM killer can move on.
 *
 * @category Memory and folios
 */
export const MAX_OOM_REAP_RETRIES = 10;

/**
 * The sleep between two of `oom_reap_task()`'s tries (`schedule_timeout_idle(HZ/10)`,
 * `mm/oom_kill.c`, Linux 6.16): `HZ / 10`, 100 ms.
 *
 * @category Memory and folios
 */
export const OOM_REAP_RETRY_DELAY = 100;

/**
 * The `oom_reaper` (`mm/oom_kill.c`, Linux 6.16): the daemon that takes the private memory of an
 * OOM victim whose address space outlives its exit (another task's `move_pages(2)` or
 * `migrate_pages(2)` holds it, `get_task_mm()`), so that the OOM killer can move on. The thread
 * starts at boot (`oom_init()`, a `subsys_initcall`) and sleeps on its wait queue until a victim
 * is handed to it; each timer is a fiber forked by the kill that queues its victim, on that
 * fiber's `Clock` (`TestClock` in tests), and the thread's sleeps between tries of that victim
 * run on the same `Clock`. Kernel shutdown ends them.
 *
 * @category Memory and folios
 */
export interface OomReaper {
  /**
   * `queue_oom_reaper()`: arms a timer of {@link OOM_REAPER_DELAY} for the victim `task`'s
   * address space (`signal->oom_mm`), once per address space (`MMF_OOM_REAP_QUEUED`). When it
   * fires (`wake_oom_reaper()`) and the address space has no `MMF_OOM_SKIP` yet, the daemon reaps
   * it: every page of its private VMAs (anonymous, or a file's private mapping) is unmapped and
   * freed unless something else holds it, hugetlb and `VM_PFNMAP` VMAs and shared mappings
   * staying as they are (`__oom_reap_task_mm()`), then `MMF_OOM_SKIP` is set (`oom_reap_task()`).
   * A try that cannot take the `mmap_lock` for reading is retried {@link OOM_REAP_RETRY_DELAY}
   * later, {@link MAX_OOM_REAP_RETRIES} tries in all; then the daemon gives up on the address
   * space, setting `MMF_OOM_SKIP` without reaping it.
   * An address space `exit_mmap()` already tore down arms nothing: its timer would find
   * `MMF_OOM_SKIP` and do nothing.
   */
  queue(task: TaskStruct): Effect.Effect<void>;
  /**
   * The OOM victims queued and not yet done with: their timer pending, or waiting for the daemon
   * (`oom_reaper_list`). Each has `SIGKILL` pending or has exited; `select_bad_process()` still
   * sees one that has exited (on Linux a victim stays in the process list until its parent reaps
   * it, which the model's processes, with no parents, never are) and stops the selection while its address space lacks `MMF_OOM_SKIP`.
   */
  readonly victims: ReadonlySet<TaskStruct>;
  /**
   * `oom_init()`: starts the `oom_reaper` thread, which boot does for every kernel; no-op when it
   * runs already.
   */
  start(): Effect.Effect<void>;
  /** Whether the `oom_reaper` thread runs: from boot until kernel shutdown. */
  readonly running: boolean;
  /**
   * The victims the thread gave up on after {@link MAX_OOM_REAP_RETRIES} tries, as
   * `"<pid> (<comm>)"`, in order: what Linux prints as `oom_reaper: unable to reap pid:<pid>
   * (<comm>)`.
   */
  readonly unableToReap: readonly string[];
}
