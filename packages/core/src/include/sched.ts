/**
 * Tasks: a process, its credentials and the memory system calls it makes.
 *
 * Models `struct task_struct` (`include/linux/sched.h`) with its credentials
 * (`include/linux/cred.h`) and the system calls of `include/linux/syscalls.h` that reach memory
 * management. The calls themselves are `kernel/task.ts` and the `mm/` files they name.
 *
 * @module
 */
import { type Deferred, Effect } from "effect";
import type { ErrnoError, SignalError } from "../errno";
import type { Cred } from "./cred";
import type { MmapFile } from "./fs";
import type { Mempolicy } from "./mempolicy";
import type { MovePagesResult, MovePagesStatus } from "./migrate";
import type { MmStruct } from "./mm_types";

/**
 * `PR_GET_DUMPABLE` (`include/uapi/linux/prctl.h`): `prctl()` returns the dumpable mode.
 *
 * @category Processes
 */
export const PR_GET_DUMPABLE = 3;
/**
 * `PR_SET_DUMPABLE` (`include/uapi/linux/prctl.h`): `prctl()` sets the dumpable mode to 0
 * (`SUID_DUMP_DISABLE`) or 1 (`SUID_DUMP_USER`).
 *
 * @category Processes
 */
export const PR_SET_DUMPABLE = 4;

/**
 * Copy work charged to the task that initiated it (open question 4 of v3). No kernel symbol:
 * the series leaves open how helper-thread CPU time is charged; this stands where per-task
 * accounting in `struct task_struct` (`include/linux/sched.h`) would.
 *
 * @category Processes
 */
export interface MigrationAccounting {
  /** Offloaded batches this task's migrations started. */
  offloadBatches: number;
  /** Milliseconds those copies took, wall clock. */
  offloadCopyMs: number;
  /**
   * Accesses of this task that met a migration entry and waited for the folio to be mapped
   * again (`migration_entry_wait()`, `mm/migrate.c`); the kernel keeps no such count.
   */
  migrationEntryWaits: number;
}

/**
 * Options of `Task.mmap`: the `prot`, `flags`, `fd` and `offset` arguments of `mmap(2)`
 * (`ksys_mmap_pgoff()`, `mm/mmap.c`), plus an `madvise()` applied at once.
 *
 * @category Processes
 */
export interface MmapOptions {
  /**
   * `addr`: with `MAP_FIXED` or `MAP_FIXED_NOREPLACE`, where the mapping must start (page
   * aligned); otherwise a hint, used when the range there is free. Default 0, no hint.
   */
  readonly addr?: number;
  /**
   * `PROT_*` bits; default read and write. Only `PROT_READ` and `PROT_WRITE` set VMA flags; any
   * other bit (`PROT_SEM`, `PROT_GROWSDOWN`, an unknown one) is ignored, as `do_mmap()` ignores
   * it (`calc_vm_prot_bits()`). `EINVAL` for a value that is not an integer.
   */
  readonly prot?: number;
  /** `MAP_*` flags; default `MAP_PRIVATE | MAP_ANONYMOUS`. */
  readonly flags?: number;
  /** The file to map, for a file mapping. */
  readonly file?: MmapFile;
  /** Byte offset into the file. */
  readonly offset?: number;
  /** Apply `MADV_HUGEPAGE` (true) or `MADV_NOHUGEPAGE` (false) from the start. */
  readonly hugepage?: boolean;
}

/**
 * What a new process is made with: the parts of `struct task_struct` (`include/linux/sched.h`)
 * and `struct cred` (`include/linux/cred.h`) that memory system calls check.
 *
 * @category Processes
 */
export interface TaskOptions {
  /** The command name (`comm`). */
  readonly name?: string;
  /** Real user id. */
  readonly uid?: number;
  /** Effective user id; defaults to `uid`. */
  readonly euid?: number;
  /** Saved set-user-id; defaults to `euid`, as `execve()` leaves it. */
  readonly suid?: number;
  /** Real group id; defaults to `uid` (a user's private group). */
  readonly gid?: number;
  /** Effective group id; defaults to `gid`. */
  readonly egid?: number;
  /** Saved set-group-id; defaults to `egid`. */
  readonly sgid?: number;
  /**
   * Capabilities (`CAP_*` numbers), both permitted and effective. By default a process whose
   * effective uid is 0 holds them all (`CAP_FULL_SET`), as a program run by root does, and any
   * other holds none.
   */
  readonly capabilities?: readonly number[];
  /** The node of the CPU it runs on: its local node. */
  readonly node?: number;
  /** The nodes its cpuset allows (`cpuset.mems`, `kernel/cgroup/cpuset.c`); default all. */
  readonly memsAllowed?: readonly number[];
  /**
   * `RLIMIT_MEMLOCK` in bytes (`signal->rlim[RLIMIT_MEMLOCK].rlim_cur`): a non-negative integer,
   * or `RLIM_INFINITY` for none; default `MLOCK_LIMIT` (8 MiB). See
   * {@link TaskStruct.rlimitMemlock}.
   */
  readonly rlimitMemlock?: number;
}

/**
 * `PF_MEMALLOC` (`include/linux/sched.h`): the task is freeing memory (reclaim, compaction) and
 * may allocate below the watermarks (`ALLOC_NO_WATERMARKS`, `__gfp_pfmemalloc_flags()` in
 * `mm/page_alloc.c`) unless the allocation says `__GFP_NOMEMALLOC`. Set in
 * {@link TaskStruct.flags}, as `memalloc_noreclaim_save()` sets it.
 *
 * @category Processes
 */
export const PF_MEMALLOC = 0x00000800;

/**
 * `PF_KSWAPD` (`include/linux/sched.h`): the task is a node's `kswapd`, which `kswapd()`
 * (`mm/vmscan.c`) sets with {@link PF_MEMALLOC} on itself (`current_is_kswapd()`).
 *
 * @category Processes
 */
export const PF_KSWAPD = 0x00020000;

/**
 * `PF_KTHREAD` (`include/linux/sched.h`): the task is a kernel thread, set by `copy_process()`
 * (`kernel/fork.c`) for one that `kthread_create()` (`kernel/kthread.c`) starts, here
 * `Kernel.createKernelThread()`. `fput()` (`fs/file_table.c`) never queues a release on such a
 * task but hands it to `delayed_fput()`, `get_task_mm()` finds no address space in it, and the
 * OOM killer never picks it (`oom_unkillable_task()`, `mm/oom_kill.c`).
 *
 * @category Processes
 */
export const PF_KTHREAD = 0x00200000;

/**
 * `is_global_init()` (`include/linux/sched.h`, Linux 6.16): whether `task` is the init process of
 * the machine, the one whose thread group id is 1 (`task_tgid_nr(tsk) == 1`). The kernel starts
 * it at boot (`kernel_init()` → `run_init_process()`, `init/main.c`; in the model
 * `Kernel.make()`), so every process made later has a higher pid. The OOM killer never picks it
 * (`oom_unkillable_task()`, `mm/oom_kill.c`), and its exit panics the kernel (`do_exit()`,
 * `kernel/exit.c`: `Attempted to kill init!`).
 *
 * @category Processes
 */
export const isGlobalInit = (task: Pick<TaskStruct, "pid">): boolean => task.pid === 1;

/**
 * `memalloc_noreclaim_save()` (`include/linux/sched/mm.h`): sets {@link PF_MEMALLOC} on `task`,
 * as direct reclaim does for the span of `try_to_free_pages()` (`__perform_reclaim()`,
 * `mm/page_alloc.c`), and returns whether it was set already, for
 * {@link memallocNoreclaimRestore}.
 *
 * @category Processes
 */
export const memallocNoreclaimSave = (task: { flags: number }): number => {
  const old = task.flags & PF_MEMALLOC;
  task.flags |= PF_MEMALLOC;
  return old;
};

/**
 * `memalloc_noreclaim_restore()` (`include/linux/sched/mm.h`): puts {@link PF_MEMALLOC} of `task`
 * back as {@link memallocNoreclaimSave} found it (`flags` is what it returned).
 *
 * @category Processes
 */
export const memallocNoreclaimRestore = (task: { flags: number }, flags: number): void => {
  task.flags = (task.flags & ~PF_MEMALLOC) | flags;
};

/**
 * `effect` between {@link memallocNoreclaimSave} and {@link memallocNoreclaimRestore}
 * (`include/linux/sched/mm.h`), as direct reclaim (`__perform_reclaim()`) and direct compaction
 * (`__alloc_pages_direct_compact()`, `mm/page_alloc.c`) bracket their work: {@link PF_MEMALLOC}
 * is set on `task` when `effect` starts and put back as it was when it ends, whether it succeeds,
 * fails or is interrupted. A null `task` (a kernel thread, whose flags the model does not keep)
 * runs `effect` alone.
 *
 * @example
 * ```ts
 * import { PF_MEMALLOC, withMemallocNoreclaim } from "@migrate-offload/core";
 * import { Effect } from "effect";
 *
 * const task = { flags: 0 };
 * const during = Effect.sync(() => task.flags & PF_MEMALLOC);
 * console.log(Effect.runSync(withMemallocNoreclaim(task, during)) === PF_MEMALLOC); // true
 * console.log(task.flags); // 0
 * ```
 *
 * @category Processes
 */
export const withMemallocNoreclaim = <A, E, R>(
  task: { flags: number } | null,
  effect: Effect.Effect<A, E, R>,
): Effect.Effect<A, E, R> =>
  task === null
    ? effect
    : Effect.suspend(() => {
        const flags = memallocNoreclaimSave(task);
        return Effect.ensuring(
          effect,
          Effect.sync(() => memallocNoreclaimRestore(task, flags)),
        );
      });

/**
 * A process, as `mm/` code sees it. Models `struct task_struct` (`include/linux/sched.h`) and the
 * memory system calls it makes (`include/linux/syscalls.h`); the `Task` of `include/kernel.ts`
 * adds the kernel it runs on. Every call returns
 * an Effect that fails with an `ErrnoError` and changes nothing when its arguments are bad; a
 * call on a task that has exited fails with `ESRCH`, and so does every call of a task killed by
 * `SIGKILL` while it was in flight (`kernel/signal.ts`).
 *
 * @example
 * ```ts
 * import { Kernel } from "@migrate-offload/core";
 * import { Effect } from "effect";
 *
 * await Effect.runPromise(
 *   Effect.scoped(
 *     Effect.gen(function* () {
 *       const kernel = yield* Kernel.make({ nodes: ["64M", "64M"], thp: { enabled: "always" } });
 *       const proc = yield* kernel.createProcess({ node: 0 });
 *       const addr = yield* proc.mmap(2 << 20, { hugepage: true });
 *       yield* proc.write(addr, new Uint8Array([1, 2, 3])); // one 2 MiB folio on node 0
 *       const { status } = yield* proc.movePages(0, [addr], [1]);
 *       console.log([...status]); // [ 1 ]: the folio is on node 1
 *     }),
 *   ),
 * );
 * ```
 *
 * @category Processes
 */
export interface TaskStruct {
  /** Process id. */
  readonly pid: number;
  /** The command name (`comm`). */
  readonly comm: string;
  /**
   * The credentials (`task->cred`, `include/linux/cred.h`): replaced whole by the `set*id()`
   * calls, as `commit_creds()` does.
   */
  readonly cred: Cred;
  /** Real user id (`cred->uid`). */
  readonly uid: number;
  /** Effective user id (`cred->euid`). */
  readonly euid: number;
  /** Effective capabilities (`cred->cap_effective`). */
  readonly capabilities: ReadonlySet<number>;
  /** The local node: where the task's CPU is (`numa_node_id()` while it runs). */
  readonly nid: number;
  /**
   * The per-task flags (`task->flags`, `PF_*` in `include/linux/sched.h`): of them the model
   * reads {@link PF_MEMALLOC} and {@link PF_KTHREAD}. 0 for a new process, {@link PF_KTHREAD}
   * for a kernel thread; `fork()` copies them.
   */
  flags: number;
  /** The address space; null for a kernel thread (`task->mm`). */
  mm: MmStruct | null;
  /** The nodes its cpuset allows (`cpuset_mems_allowed()`, `kernel/cgroup/cpuset.c`). */
  readonly memsAllowed: readonly number[];
  /**
   * The policy set by `set_mempolicy()` (`task->mempolicy`, `mm/mempolicy.c`); null for the
   * default.
   */
  policy: Mempolicy | null;
  /** True once the task has exited. */
  exited: boolean;
  /**
   * A `SIGKILL` is pending (`sigismember(&task->pending.signal, SIGKILL)`, with
   * `SIGNAL_GROUP_EXIT`; `fatal_signal_pending()`, `include/linux/sched/signal.h`): the OOM
   * killer sent it while the task was inside a system call of its own
   * ({@link TaskStruct.inSyscall}), so the task dies when that call looks for it or returns
   * (`get_signal()` → `do_group_exit()`, `kernel/signal.ts`), its call failing with `ESRCH`. A
   * task in user space when the signal comes dies at once. Also set when a forced signal
   * ({@link TaskStruct.forcedSignal}) ends a task with other calls in flight
   * (`do_group_exit()` → `zap_other_threads()`). False for a new process.
   */
  sigkillPending: boolean;
  /**
   * Wakes the task from the killable sleep it is in (`TASK_KILLABLE`, as `signal_wake_up()` does
   * for a fatal signal): the sleep gives up with `EINTR`. Set by the sleep
   * (`mmap_write_lock_killable()`, `mmap_read_lock_killable()`, {@link RwSemaphore}), null
   * while the task sleeps in none.
   */
  wakeKillable: (() => void) | null;
  /**
   * The `SIGSEGV` or `SIGBUS` a fault of the task's own access forced on it
   * (`force_sig_fault()` / `force_sig_mceerr()`, `kernel/signal.c`, Linux 6.16; x86's
   * `do_user_addr_fault()`), with its `siginfo_t`: the task has no handler, so it dies of it when
   * the access returns (`get_signal()` → `do_group_exit()`, `kernel/signal.ts`). Stays after the
   * exit, saying what the task died of. Null for a new process.
   */
  forcedSignal: SignalError | null;
  /**
   * `task->exit_code` (`include/linux/sched.h`) once the task has exited, as `wait()` would
   * report it: 0 for `exit()` (the model's has no status), the signal's number for a task a
   * signal ended (`SIGKILL` 9, `SIGSEGV` 11, `SIGBUS` 7; `do_group_exit(signr)`). No core is
   * dumped (`RLIMIT_CORE` is 0 from boot, `INIT_RLIMITS`), so the `0x80` core bit is never set.
   * Null while the task is alive.
   */
  exitCode: number | null;
  /**
   * The system calls of the task in flight: 0 while it runs in user space, where a `SIGKILL`
   * ends it at once. A nested call (`move_pages()` running `migrate_pages()`) counts once.
   */
  inSyscall: number;
  /**
   * `task->task_works` (`kernel/task_work.c`): work queued for the task's return from its system
   * call (`task_work_add()`): a shmem object's release (`fput()`) that must sleep on a folio's
   * lock. Run, oldest first, when a call the task made returns, and at its exit
   * (`exit_task_work()`), after which it is null (`work_exited`) and takes no more work.
   */
  taskWorks: Array<Effect.Effect<void>> | null;
  /**
   * The run of {@link TaskStruct.taskWorks} in progress (`task_work_run()`), settled when it
   * ends; null while none runs. A second runner waits on it rather than run the queue beside it.
   */
  taskWorkActive: Deferred.Deferred<void> | null;
  /**
   * `signal->oom_score_adj` (`include/linux/sched/signal.h`): added to the task's badness when
   * the OOM killer picks a victim, from `OOM_SCORE_ADJ_MIN` (-1000: never killed) to
   * `OOM_SCORE_ADJ_MAX` (1000), in thousandths of the memory the allocation could have had
   * (`oom_badness()`, `mm/oom_kill.c`). 0 for a new process; `fork()` copies it;
   * `/proc/<pid>/oom_score_adj` sets it.
   */
  oomScoreAdj: number;
  /**
   * `signal->oom_score_adj_min`: the lowest `oom_score_adj` a writer without `CAP_SYS_RESOURCE`
   * may set (`__set_oom_adj()`, `fs/proc/base.c`); a writer with it sets this too. 0 for a new
   * process; `fork()` copies it.
   */
  oomScoreAdjMin: number;
  /**
   * `rlimit(RLIMIT_MEMLOCK)` (`signal->rlim[RLIMIT_MEMLOCK].rlim_cur`,
   * `include/linux/sched/signal.h`): the bytes of `VM_LOCKED` mappings (`mm->locked_vm`) a task
   * without `CAP_IPC_LOCK` may have; 0 forbids it `mlock()` and `MAP_LOCKED` altogether
   * (`can_do_mlock()`, `mm/mlock.c`). `RLIM_INFINITY` for no limit. Given when the task is made
   * (`TaskOptions.rlimitMemlock`, default `MLOCK_LIMIT`, 8 MiB); `fork()` copies it
   * (`copy_signal()`); the model has no `setrlimit()`.
   */
  rlimitMemlock: number;
  /**
   * `tsk_is_oom_victim()` (`include/linux/oom.h`): the OOM killer chose this task
   * (`mark_oom_victim()`, `mm/oom_kill.c`), so it has a `SIGKILL` pending or has exited, or an allocation of the task ran
   * out of memory after its exit (`task_will_free_mem(current)`); an allocation still in flight
   * in it may go below the min watermark (`ALLOC_OOM`). See {@link TaskStruct.oomMm}.
   */
  oomVictim: boolean;
  /**
   * `signal->oom_mm` (`include/linux/sched/signal.h`): the address space the task had when the
   * OOM killer marked it a victim (`mark_oom_victim()`, `mm/oom_kill.c`), kept after its exit
   * cleared {@link TaskStruct.mm}: the `oom_reaper` reaps it, and `select_bad_process()` reads
   * its `MMF_OOM_SKIP` ({@link MmStruct.oomSkip}). Null for a task that is no victim.
   */
  oomMm: MmStruct | null;
  /** Offloaded migration copies this task initiated (charged to it, not to the copier). */
  readonly migration: MigrationAccounting;
  /** `capable()` (`kernel/capability.c`): whether the task has a capability. */
  capable(cap: number): boolean;
  /**
   * `mmap()` (`mm/mmap.c`): maps `length` bytes and returns the address. Private anonymous memory
   * by default; `EINVAL` for a bad length or flags, `EBADF` for a file mapping without a file.
   *
   * @example
   * ```ts
   * import { Kernel, MAP_ANONYMOUS, MAP_SHARED, PROT_READ } from "@migrate-offload/core";
   * import { Effect } from "effect";
   *
   * await Effect.runPromise(
   *   Effect.scoped(
   *     Effect.gen(function* () {
   *       const kernel = yield* Kernel.make({ nodes: ["64M", "64M"] });
   *       const proc = yield* kernel.createProcess({ node: 0 });
   *       const heap = yield* proc.mmap(4 << 20, { hugepage: true }); // private anonymous, THP allowed
   *       const shared = yield* proc.mmap(8192, { flags: MAP_SHARED | MAP_ANONYMOUS });
   *       const file = yield* kernel.createFile("data");
   *       yield* file.truncate(8192); // ftruncate(): a fault past i_size gets SIGBUS
   *       const view = yield* proc.mmap(8192, { flags: MAP_SHARED, file, prot: PROT_READ });
   *       yield* proc.write(heap, new Uint8Array([1, 2, 3])); // faults the first page in
   *       yield* proc.write(shared, new Uint8Array([4]));
   *       console.log(yield* proc.read(view, 2)); // Uint8Array(2) [ 0, 0 ]: a hole reads zeros
   *     }),
   *   ),
   * );
   * ```
   */
  mmap(length: number, options?: MmapOptions): Effect.Effect<number, ErrnoError>;
  /** `munmap()` (`mm/mmap.c`). */
  munmap(addr: number, length: number): Effect.Effect<void, ErrnoError>;
  /**
   * `mprotect()` (`mm/mprotect.c`): sets the protection of a range to `prot` (`PROT_READ`,
   * `PROT_WRITE`, `PROT_EXEC`, or 0; with `PROT_GROWSDOWN`, from the start of the stack VMA the
   * range meets), splitting VMAs, and a huge PMD a cut goes through, at its ends. See
   * `doMprotect` for every rule.
   */
  mprotect(addr: number, length: number, prot: number): Effect.Effect<void, ErrnoError>;
  /**
   * Reads `length` bytes at `addr`: the task's own loads, in address order, through its TLB and
   * page tables, each missing page faulted in (`handle_mm_fault()`, `mm/memory.c`). An access
   * that meets a page under migration waits until the migration finishes. A fault x86's
   * `do_user_addr_fault()` (`arch/x86/mm/fault.c`, Linux 6.16) answers with a signal ends the read
   * with a {@link SignalError}, and the task dies of it (its {@link TaskStruct.exitCode} the
   * signal's number): `SIGSEGV` with `SEGV_MAPERR` at the first address no VMA maps, or
   * `SEGV_ACCERR` at one not mapped readable (the pages before it faulted in); `SIGBUS` with
   * `BUS_ADRERR` for `VM_FAULT_SIGBUS` (a hugetlb fault that gets no huge page, a file page past
   * `i_size`); `SIGBUS` with `BUS_MCEERR_AR` for a poisoned page. A fault whose allocation fails
   * (`VM_FAULT_OOM`) is retried (`pagefault_out_of_memory()`). `EFAULT` at once for a range
   * reaching past `TASK_SIZE` (`access_ok()`), `EINVAL` for a length that is no byte count.
   */
  read(addr: number, length: number): Effect.Effect<Uint8Array, ErrnoError | SignalError>;
  /**
   * Reads `buf.length` bytes at `addr` into `buf`: the loads, faults, signals and errors of
   * {@link Task.read}, into a buffer of the caller's rather than a new one, as `read(2)` fills a
   * user's buffer. Should the read fail, the bytes before the address that faulted are in `buf`.
   * `EFAULT` when `buf` is not a `Uint8Array` or the range reaches past `TASK_SIZE`.
   */
  readInto(addr: number, buf: Uint8Array): Effect.Effect<void, ErrnoError | SignalError>;
  /**
   * Writes `bytes` at `addr`: the task's own stores, in address order, as the loads of
   * {@link Task.read} are. The bytes before the first address not mapped writable are written,
   * and the write fails there with the `SIGSEGV` (`SEGV_MAPERR` or `SEGV_ACCERR`) of
   * `do_user_addr_fault()` the task dies of, as a store sequence on hardware stops at the first
   * faulting store; `SIGBUS` as for {@link Task.read}.
   */
  write(addr: number, bytes: Uint8Array): Effect.Effect<void, ErrnoError | SignalError>;
  /**
   * `mbind(2)` (`do_mbind()`, `mm/mempolicy.c`): sets the NUMA policy of a range (`mode` may carry
   * `MPOL_F_STATIC_NODES` / `MPOL_F_RELATIVE_NODES`). With `flags` `MPOL_MF_MOVE` (pages only this
   * process maps) or `MPOL_MF_MOVE_ALL` (all, needs `CAP_SYS_NICE`, else `EPERM`) it also moves
   * the pages already in the range that are off the policy's nodes, through `migrate_pages()`
   * with `MR_MEMPOLICY_MBIND`; with `MPOL_MF_STRICT` it fails with `EIO` when a page stays off
   * them. See `doMbind` for every rule.
   *
   * @example
   * ```ts
   * import { Kernel, MPOL_BIND, MPOL_MF_MOVE, MPOL_MF_STRICT } from "@migrate-offload/core";
   * import { Effect } from "effect";
   *
   * await Effect.runPromise(
   *   Effect.scoped(
   *     Effect.gen(function* () {
   *       const kernel = yield* Kernel.make({ nodes: ["64M", "64M"] });
   *       const proc = yield* kernel.createProcess({ node: 0 });
   *       const addr = yield* proc.mmap(4 * 4096);
   *       yield* proc.write(addr, new Uint8Array(4 * 4096).fill(3)); // on node 0
   *       yield* proc.mbind(addr, 4 * 4096, MPOL_BIND, [1], MPOL_MF_MOVE | MPOL_MF_STRICT);
   *       console.log(yield* proc.nodeOf(addr)); // 1
   *     }),
   *   ),
   * );
   * ```
   */
  mbind(
    addr: number,
    length: number,
    mode: number,
    nodes: readonly number[],
    flags?: number,
  ): Effect.Effect<void, ErrnoError>;
  /**
   * `set_mempolicy(2)` (`kernel_set_mempolicy()`, `mm/mempolicy.c`): sets the task's default
   * policy; `mode` may carry `MPOL_F_STATIC_NODES` or `MPOL_F_RELATIVE_NODES` (not both: `EINVAL`).
   * The nodes are cut down to the task's cpuset nodes with memory; `EINVAL` when none is left.
   */
  setMempolicy(mode: number, nodes: readonly number[]): Effect.Effect<void, ErrnoError>;
  /**
   * `get_mempolicy()` (`mm/mempolicy.c`): with `MPOL_F_NODE | MPOL_F_ADDR`, the node holding the
   * page at `addr` (faulting it in); with `MPOL_F_ADDR`, that VMA's policy; with 0, the task's;
   * with `MPOL_F_MEMS_ALLOWED`, the cpuset's nodes (as an `MPOL_DEFAULT` policy's nodes).
   */
  getMempolicy(flags: number, addr?: number): Effect.Effect<number | Mempolicy, ErrnoError>;
  /** The node holding the page at `addr`: `get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR)`. */
  nodeOf(addr: number): Effect.Effect<number, ErrnoError>;
  /** `mlock()` (`mm/mlock.c`): locks a range, faulting its pages in and marking them mlocked. */
  mlock(addr: number, length: number): Effect.Effect<void, ErrnoError>;
  /** `munlock()` (`mm/mlock.c`). */
  munlock(addr: number, length: number): Effect.Effect<void, ErrnoError>;
  /**
   * `mlock2()` (`mm/mlock.c`, Linux 6.16): `mlock()` with `flags` 0; with `MLOCK_ONFAULT` the
   * range is locked (`VM_LOCKED | VM_LOCKONFAULT`) and its pages are mlocked as they are faulted
   * in, not populated ahead. `EINVAL` for any other flag bit; otherwise `mlock()`'s errors.
   */
  mlock2(addr: number, length: number, flags: number): Effect.Effect<void, ErrnoError>;
  /**
   * `mlockall()` (`mm/mlock.c`, Linux 6.16): with `MCL_CURRENT` locks every mapping now and
   * faults the address space in (errors ignored); with `MCL_FUTURE` every later mapping, and a
   * locked stack's growth, is locked too (`mm->def_flags`), within `RLIMIT_MEMLOCK`
   * (`mmap()` then fails with `EAGAIN`, a stack's growth with a fault); `MCL_ONFAULT` locks
   * pages as they are faulted in instead. `EINVAL` for flags 0, `MCL_ONFAULT` alone or an unknown
   * bit; `EPERM` when `RLIMIT_MEMLOCK` is 0 without `CAP_IPC_LOCK`; `ENOMEM` for `MCL_CURRENT`
   * when the address space maps more pages than `RLIMIT_MEMLOCK` allows, without
   * `CAP_IPC_LOCK`.
   */
  mlockall(flags: number): Effect.Effect<void, ErrnoError>;
  /**
   * `munlockall()` (`mm/mlock.c`, Linux 6.16): unlocks every mapping and ends `MCL_FUTURE`
   * (clears `mm->def_flags`).
   */
  munlockall(): Effect.Effect<void, ErrnoError>;
  /**
   * `madvise()` (`mm/madvise.c`) with `MADV_HUGEPAGE` or `MADV_NOHUGEPAGE`, `MADV_DONTNEED` (zaps
   * the range's pages and frees the PTE tables it covers whole; in a hugetlb VMA whole huge
   * pages from an aligned start, the end rounded down; `EINVAL` in an mlocked VMA or from inside a
   * huge page; see `madviseDontneed`), `MADV_DONTNEED_LOCKED` (the same, mlocked VMAs included),
   * or `MADV_SOFT_OFFLINE` (`madvise_inject_error()`: needs `CAP_SYS_ADMIN`, `EPERM` otherwise;
   * soft-offlines each page, failing with its `EBUSY` or `EIO`).
   */
  madvise(addr: number, length: number, advice: number): Effect.Effect<void, ErrnoError>;
  /**
   * `move_pages(2)` (`mm/migrate.c`): moves the pages at `pages` of process `pid` (0 for this one)
   * to `nodes`, or with `nodes` null reports where they are. See `doMovePages` for every rule.
   *
   * `status` is the caller's status array (`int *status`), which the call fills as the kernel
   * does: only the entries it reaches, so what it wrote before a failure stays readable there,
   * and entries it never reached keep what they held. Without one the call fills a fresh
   * `Int32Array` whose unreached entries hold `MOVE_PAGES_STATUS_UNWRITTEN`.
   *
   * @example
   * ```ts
   * import { Kernel, MPOL_MF_MOVE } from "@migrate-offload/core";
   * import { Effect, Exit } from "effect";
   *
   * await Effect.runPromise(
   *   Effect.scoped(
   *     Effect.gen(function* () {
   *       const kernel = yield* Kernel.make({ nodes: ["64M", "64M"] });
   *       const proc = yield* kernel.createProcess({ node: 0 });
   *       const addr = yield* proc.mmap(2 * 4096);
   *       yield* proc.write(addr, new Uint8Array(2 * 4096).fill(7)); // fault both pages in on node 0
   *       const { rc, status } = yield* proc.movePages(0, [addr, addr + 4096], [1, 1]);
   *       console.log(rc, [...status]); // 0 [ 1, 1 ]: each page's new node
   *       const where = yield* proc.movePages(0, [addr], null); // nodes null: only ask
   *       console.log([...where.status]); // [ 1 ]
   *       // The caller's own status array: node 7 does not exist, so the call fails with ENODEV
   *       // after the run before it moved (back to node 0), and mine[0] says so.
   *       const mine = new Int32Array([-1, -1]);
   *       const exit = yield* Effect.exit(
   *         proc.movePages(0, [addr, addr + 4096], [0, 7], MPOL_MF_MOVE, mine),
   *       );
   *       console.log(Exit.isFailure(exit), [...mine]); // true [ 0, -1 ]
   *     }),
   *   ),
   * );
   * ```
   */
  movePages<S extends MovePagesStatus = Int32Array>(
    pid: number,
    pages: ArrayLike<number>,
    nodes: ArrayLike<number> | null,
    flags?: number,
    status?: S,
  ): Effect.Effect<MovePagesResult<S>, ErrnoError>;
  /**
   * `migrate_pages(2)` (`kernel_migrate_pages()`, `do_migrate_pages()`, `mm/mempolicy.c`): moves
   * the pages of process `pid` (0 for this one) that are on `oldNodes` to `newNodes`, nodemasks
   * of `maxnode` bits (a null list is an empty mask), pairing the nodes in order, through
   * `migrate_pages()` with `MR_SYSCALL`. Resolves with the number of folios not moved. `EINVAL`
   * for a bad `maxnode` or node, `ESRCH` for no such process, `EPERM` for a process this one may
   * not access or nodes outside its cpuset without `CAP_SYS_NICE`, `EINVAL` when no new node is
   * in this task's cpuset. Shared pages move only with `CAP_SYS_NICE`. See `kernelMigratePages`.
   *
   * @example
   * ```ts
   * import { Kernel } from "@migrate-offload/core";
   * import { Effect } from "effect";
   *
   * await Effect.runPromise(
   *   Effect.scoped(
   *     Effect.gen(function* () {
   *       const kernel = yield* Kernel.make({ nodes: ["64M", "64M"] });
   *       const proc = yield* kernel.createProcess({ node: 0 });
   *       const addr = yield* proc.mmap(8 * 4096);
   *       yield* proc.write(addr, new Uint8Array(8 * 4096).fill(5)); // on node 0
   *       const left = yield* proc.migratePagesSyscall(0, 64, [0], [1]);
   *       console.log(left, yield* proc.nodeOf(addr)); // 0 1
   *     }),
   *   ),
   * );
   * ```
   */
  migratePagesSyscall(
    pid: number,
    maxnode: number,
    oldNodes: readonly number[] | null,
    newNodes: readonly number[] | null,
  ): Effect.Effect<number, ErrnoError>;
  /**
   * `setuid(2)` (`__sys_setuid()`, `kernel/sys.c`). With `CAP_SETUID` sets the real, effective
   * and saved uids; without it sets the effective uid to the real or saved one, else `EPERM`.
   * `EINVAL` for an id that is not valid. Capabilities follow `cap_emulate_setxuid()`
   * (`security/commoncap.c`): losing uid 0 from all three ids clears the permitted and effective
   * sets, an effective uid leaving 0 clears the effective set, one becoming 0 restores it from
   * the permitted set. A change of effective id makes the address space not dumpable
   * (`commit_creds()`, `kernel/cred.c`).
   *
   * @example
   * ```ts
   * import { Kernel, PR_GET_DUMPABLE, PR_SET_DUMPABLE } from "@migrate-offload/core";
   * import { Effect } from "effect";
   *
   * const kernel = await Effect.runPromise(Kernel.boot({ nodes: ["16M"] }));
   * const dumpable = await Effect.runPromise(
   *   Effect.gen(function* () {
   *     const root = yield* kernel.createProcess({ uid: 0 });
   *     const child = yield* root.fork();
   *     yield* child.setuid(65534); // "nobody": no capabilities left, mm no longer dumpable
   *     const after = yield* child.prctl(PR_GET_DUMPABLE);
   *     yield* child.prctl(PR_SET_DUMPABLE, 1);
   *     return [after, yield* child.prctl(PR_GET_DUMPABLE)];
   *   }),
   * );
   * console.log(dumpable); // [ 0, 1 ]
   * await Effect.runPromise(kernel.shutdown());
   * ```
   */
  setuid(uid: number): Effect.Effect<void, ErrnoError>;
  /**
   * `setresuid(2)` (`__sys_setresuid()`, `kernel/sys.c`): -1 leaves an id as it is. Without
   * `CAP_SETUID` each new id must be one of the current real, effective or saved uids, else
   * `EPERM`. `seteuid(e)` is `setresuid(-1, e, -1)`. Capabilities and dumpability change as for
   * {@link setuid}.
   */
  setresuid(ruid: number, euid: number, suid: number): Effect.Effect<void, ErrnoError>;
  /**
   * `setresgid(2)` (`__sys_setresgid()`, `kernel/sys.c`): as {@link setresuid} for group ids,
   * with `CAP_SETGID`; capabilities do not change.
   */
  setresgid(rgid: number, egid: number, sgid: number): Effect.Effect<void, ErrnoError>;
  /**
   * `prctl(2)` (`kernel/sys.c`) with `PR_GET_DUMPABLE` (returns the dumpable mode) or
   * `PR_SET_DUMPABLE` (`arg` 0 or 1, else `EINVAL`; returns 0). Any other option is `EINVAL`.
   */
  prctl(option: number, arg?: number): Effect.Effect<number, ErrnoError>;
  /** `fork()` (`kernel/fork.c`): a child with a copy-on-write copy of this address space. */
  fork(options?: TaskOptions): Effect.Effect<TaskStruct, ErrnoError>;
  /**
   * `exit()` (`kernel/exit.c`): drops the task's reference to its address space (`exit_mm()`),
   * which unmaps everything unless another task's `move_pages()` or `migrate_pages()` still holds
   * it (then that call's `mmput()` does), and leaves the process table.
   */
  exit(): Effect.Effect<void, ErrnoError>;
}
