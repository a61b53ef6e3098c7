/**
 * Processes and their system calls.
 *
 * Implements the {@link Task} of `include/sched.ts`: the memory system calls a process makes
 * (`mmap`, `munmap`, `mprotect`, `mbind`, `set_mempolicy`, `get_mempolicy`, `mlock`, `munlock`, `madvise`,
 * `move_pages`, `migrate_pages`), reads and writes of its memory through its page tables, `fork()`
 * (`kernel/fork.c`), which copies the address space copy-on-write, and `exit()`
 * (`kernel/exit.c`), which tears it down.
 *
 * Every call returns an Effect that fails with an {@link ErrnoError} and changes nothing when its
 * arguments are bad.
 *
 * @module
 */
import { type Deferred, Effect } from "effect";
import { type ErrnoError, errno, type SignalError, syscall } from "../errno";
import { CAP_FULL_SET } from "../include/capability";
import { type DirectCompact, newDirectCompact } from "../include/compaction";
import { type Cred, idValid } from "../include/cred";
import type { Kernel, Task } from "../include/kernel";
import { type Mempolicy, MPOL_F_ADDR, MPOL_F_NODE, MPOL_MF_MOVE } from "../include/mempolicy";
import type { MovePagesResult, MovePagesStatus } from "../include/migrate";
import type { MmStruct, Vma } from "../include/mm_types";
import {
  VM_DONTCOPY,
  VM_HUGEPAGE,
  VM_LOCKED,
  VM_LOCKONFAULT,
  VM_NOHUGEPAGE,
  VM_RAND_READ,
  VM_READ,
  VM_SEQ_READ,
  VM_WIPEONFORK,
} from "../include/mm_types";
import {
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
  MCL_CURRENT,
  MLOCK_ONFAULT,
} from "../include/mman";
import { withMmapLockKillable, withMmapReadLock, withMmapWriteLock } from "../include/mmap_lock";
import type { AllocContext } from "../include/mmzone";
import { TASK_SIZE } from "../include/page_64_types";
import { stopIfPanicked } from "../include/panic";
import { ptePfn, ptePresent, pteProtnone, pteSpecial } from "../include/pgtable";
import { MLOCK_LIMIT, RLIM_INFINITY } from "../include/resource";
import {
  isGlobalInit,
  type MigrationAccounting,
  type MmapOptions,
  type TaskOptions,
} from "../include/sched";
import { fatalSignalPending, killedError } from "../include/signal";
import { formatValue } from "../lib/bug";
import { faultinPage, mmPopulate } from "../mm/gup";
import { newSurplusGather, surplusGatherRelease } from "../mm/hugetlb";
import {
  madviseDontneed,
  madviseKeeponforkRefused,
  madviseSoftOffline,
  madviseWillneed,
  madviseWipeonforkRefused,
} from "../mm/madvise";
import {
  type AccessProgress,
  accessExtent,
  accessVm,
  checkAccess,
  folioWalkEntry,
} from "../mm/memory";
import { doGetMempolicy, doMbind, doSetMempolicy, kernelMigratePages } from "../mm/mempolicy";
import { migrateMisplacedFolio } from "../mm/migrate_misplaced";
import { mlockPosixErrorReturn } from "../mm/mlock";
import {
  applyVmaLockFlags,
  doMlockall,
  doMmap,
  doMunlockall,
  doMunmap,
  dupMmap,
  mmapPopulateLength,
  setVmFlags,
} from "../mm/mmap";
import { doMovePages } from "../mm/move_pages";
import { doMprotect } from "../mm/mprotect";
import { pagefaultOutOfMemory } from "../mm/oom_kill";
import { allocPagesSlowpath } from "../mm/page_alloc";
import { putSlowpathPage } from "../mm/swap";
import { kvmalloc } from "../mm/util";
import { vmaIsAccessible } from "../mm/vma";
import { sysPrctl, sysSetresgid, sysSetresuid, sysSetuid } from "./cred";
import { doExit } from "./exit";

/**
 * Checks the options a task is made with, as `copy_process()` (`kernel/fork.c`) checks its
 * arguments and `cpuset_can_attach()` / `update_nodemask()` (`kernel/cgroup/cpuset.c`) check the
 * cpuset it joins: `EINVAL` for a missing node, a bad uid, name, capability list or
 * `RLIMIT_MEMLOCK`, or mems that
 * name a node without memory (`cpuset.mems` must be a subset of `N_MEMORY`); `ENOSPC` for empty
 * mems, as a cpuset with no mems cannot hold a task.
 */
export const checkTaskOptions = (k: Kernel, options: TaskOptions): ErrnoError | null => {
  if (typeof options !== "object" || options === null)
    return errno("EINVAL", `task options must be an object, not ${formatValue(options)}`);
  const nid = options.node ?? 0;
  if (!k.nodeExists(nid)) return errno("EINVAL", `node ${nid} does not exist`);
  if (options.name !== undefined && typeof options.name !== "string")
    return errno("EINVAL", `the task name must be a string, not ${formatValue(options.name)}`);
  const caps = options.capabilities ?? [];
  if (!Array.isArray(caps) || !caps.every((c) => Number.isInteger(c) && c >= 0 && c < 64))
    return errno("EINVAL", "capabilities must be a list of CAP_* numbers");
  const cred = taskCred(options);
  for (const id of ["uid", "euid", "suid", "gid", "egid", "sgid"] as const) {
    if (!idValid(cred[id])) return errno("EINVAL", `${id} ${cred[id]} is not a valid id`);
  }
  const rlim = options.rlimitMemlock;
  if (rlim !== undefined && !(rlim === RLIM_INFINITY || (Number.isSafeInteger(rlim) && rlim >= 0)))
    return errno(
      "EINVAL",
      `rlimitMemlock must be a non-negative integer or RLIM_INFINITY, not ${formatValue(rlim)}`,
    );
  const mems = options.memsAllowed;
  if (mems === undefined) return null;
  if (!Array.isArray(mems)) return errno("EINVAL", "memsAllowed must be a list of nodes");
  if (mems.length === 0)
    return errno("ENOSPC", "memsAllowed is empty: a cpuset with no mems cannot hold a task");
  if (!mems.every((n) => k.nodeExists(n)))
    return errno("EINVAL", `memsAllowed ${mems} names a missing node`);
  if (!mems.every((n) => k.nodeHasMemory(n)))
    return errno("EINVAL", `memsAllowed ${mems} names a node without memory`);
  return null;
};

/**
 * The credentials a task is made with (`TaskOptions`): saved ids follow the effective ones, and
 * group ids the user id, unless given. Capabilities are both permitted and effective; root holds
 * them all by default, as a process run by root does (`cap_bprm_creds_from_file()`,
 * `security/commoncap.c`).
 */
export const taskCred = (options: TaskOptions): Cred => {
  const uid = options.uid ?? 0;
  const euid = options.euid ?? uid;
  const gid = options.gid ?? uid;
  const egid = options.egid ?? gid;
  const caps = options.capabilities ?? (euid === 0 ? CAP_FULL_SET : []);
  return {
    uid,
    euid,
    suid: options.suid ?? euid,
    fsuid: euid,
    gid,
    egid,
    sgid: options.sgid ?? egid,
    fsgid: egid,
    capPermitted: new Set(caps),
    capEffective: new Set(caps),
  };
};

/**
 * The `madvise()` advice that only sets and clears VMA flags (`madvise_vma_behavior()`,
 * `mm/madvise.c`): per advice, the flags set, the flags cleared, and the check each VMA must
 * pass first (wipe-on-fork for private anonymous memory only; kept on a `VM_DROPPABLE` VMA).
 */
const VM_FLAG_ADVICE = new Map<
  number,
  readonly [set: number, clear: number, refuse?: (vma: Vma) => ErrnoError | null]
>([
  [MADV_NORMAL, [0, VM_RAND_READ | VM_SEQ_READ]],
  [MADV_RANDOM, [VM_RAND_READ, VM_SEQ_READ]],
  [MADV_SEQUENTIAL, [VM_SEQ_READ, VM_RAND_READ]],
  [MADV_HUGEPAGE, [VM_HUGEPAGE, VM_NOHUGEPAGE]],
  [MADV_NOHUGEPAGE, [VM_NOHUGEPAGE, VM_HUGEPAGE]],
  [MADV_DONTFORK, [VM_DONTCOPY, 0]],
  [MADV_DOFORK, [0, VM_DONTCOPY]],
  [MADV_WIPEONFORK, [VM_WIPEONFORK, 0, madviseWipeonforkRefused]],
  [MADV_KEEPONFORK, [0, VM_WIPEONFORK, madviseKeeponforkRefused]],
]);

/**
 * Runs the slow path `dc` asks for, if any (`__alloc_pages_slowpath()` through
 * `allocPagesSlowpath()`, in `current`): takes `dc.request`, marks its order tried, and keeps the
 * page it got (or -1) in `dc.page` for the retried fault or reservation. Null when `dc` asks for
 * none.
 */
const runDirectCompact = (
  k: Kernel,
  dc: DirectCompact,
  current: AllocContext,
): Effect.Effect<void, ErrnoError> | null => {
  const req = dc.request;
  if (!req) return null;
  dc.request = null;
  // A readahead's allocation is not the fault's own: its order stays untried for the fault.
  if (!dc.readahead) dc.tried |= 1 << req.order;
  return Effect.map(allocPagesSlowpath(k, req, current), (r) => {
    dc.page = r.page;
  });
};

/** A fresh {@link AccessProgress}: nothing done, no wait, no error, no slow path asked for. */
const newAccessProgress = <E = ErrnoError>(): AccessProgress<E> => ({
  done: 0,
  waitPfn: -1,
  error: null,
  oom: false,
  compact: newDirectCompact(),
});

/** A process: the {@link Task} a kernel creates. Models `struct task_struct`. */
export class Process implements Task {
  /** `mm->...` policy set by `set_mempolicy` (`task->mempolicy`); null for the default. */
  policy: Mempolicy | null = null;
  /** `task->flags` (`PF_*`, `include/linux/sched.h`). */
  flags = 0;
  /** True once the task has exited. */
  exited = false;
  /** `SIGKILL` pending (`fatal_signal_pending()`): the task dies when its calls return. */
  sigkillPending = false;
  wakeKillable: (() => void) | null = null;
  /** The `SIGSEGV` / `SIGBUS` a fault of its own access forced on it; null for none. */
  forcedSignal: SignalError | null = null;
  /** `task->exit_code` once exited (0 for `exit()`, else the signal); null while alive. */
  exitCode: number | null = null;
  /** The task's own system calls in flight: 0 while it runs in user space. */
  inSyscall = 0;
  /** `task->task_works`: run on the return of the task's calls; null after `exit_task_work()`. */
  taskWorks: Array<Effect.Effect<void>> | null = [];
  /** The `task_work_run()` in progress, which another runner waits for; null while none runs. */
  taskWorkActive: Deferred.Deferred<void> | null = null;
  /** `signal->oom_score_adj`: -1000..1000, 0 for a new process. */
  oomScoreAdj = 0;
  /** `signal->oom_score_adj_min`: the lowest value a writer without `CAP_SYS_RESOURCE` may set. */
  oomScoreAdjMin = 0;
  /** `rlimit(RLIMIT_MEMLOCK)` in bytes: `MLOCK_LIMIT` unless the task was made with another. */
  rlimitMemlock = MLOCK_LIMIT;
  /** `tsk_is_oom_victim()`: the OOM killer ended this task. */
  oomVictim = false;
  /** `signal->oom_mm`: the address space the OOM killer marked, kept past the exit. */
  oomMm: MmStruct | null = null;
  /** Offloaded migration copies this task initiated (charged to it, not to the copier). */
  readonly migration: MigrationAccounting = {
    offloadBatches: 0,
    offloadCopyMs: 0,
    migrationEntryWaits: 0,
  };

  constructor(
    readonly kernel: Kernel,
    /** Process id. */
    readonly pid: number,
    /** The command name (`comm`). */
    readonly comm: string,
    /** The credentials (`task->cred`); replaced whole by `commit_creds()`. */
    public cred: Cred,
    /** The local node: where the task's CPU is. */
    readonly nid: number,
    /** The address space; null for a kernel thread (`task->mm`). */
    public mm: MmStruct | null,
    /** The nodes its cpuset allows (`cpuset_mems_allowed`). */
    readonly memsAllowed: readonly number[],
  ) {}

  /** Real user id (`cred->uid`). */
  get uid(): number {
    return this.cred.uid;
  }

  /** Effective user id (`cred->euid`). */
  get euid(): number {
    return this.cred.euid;
  }

  /** Effective capabilities (`cred->cap_effective`). */
  get capabilities(): ReadonlySet<number> {
    return this.cred.capEffective;
  }

  /** `capable()`: whether the task has a capability. */
  capable(cap: number): boolean {
    return this.cred.capEffective.has(cap);
  }

  /** `setuid(2)` (`kernel/sys.c`). */
  setuid(uid: number): Effect.Effect<void, ErrnoError> {
    return this.call(
      "setuid",
      this.live("setuid", () => sysSetuid(this, uid) || undefined),
    );
  }

  /** `setresuid(2)` (`kernel/sys.c`). */
  setresuid(ruid: number, euid: number, suid: number): Effect.Effect<void, ErrnoError> {
    return this.call(
      "setresuid",
      this.live("setresuid", () => sysSetresuid(this, ruid, euid, suid) || undefined),
    );
  }

  /** `setresgid(2)` (`kernel/sys.c`). */
  setresgid(rgid: number, egid: number, sgid: number): Effect.Effect<void, ErrnoError> {
    return this.call(
      "setresgid",
      this.live("setresgid", () => sysSetresgid(this, rgid, egid, sgid) || undefined),
    );
  }

  /** `prctl(2)` with `PR_GET_DUMPABLE` / `PR_SET_DUMPABLE` (`kernel/sys.c`). */
  prctl(option: number, arg = 0): Effect.Effect<number, ErrnoError> {
    return this.call(
      "prctl",
      this.live("prctl", () => sysPrctl(this, option, arg)),
    );
  }

  /**
   * A system call this task makes ({@link Kernel.call} with the task as `current`): its return
   * runs the work queued on the task (`task_work_run()`).
   */
  private call<A, E>(name: string, effect: Effect.Effect<A, E>): Effect.Effect<A, E | ErrnoError> {
    return this.kernel.call(name, effect, this);
  }

  /** A system call of this task: `ESRCH` once it has exited, as no call of a dead task runs. */
  private live<A>(call: string, body: () => A | ErrnoError): Effect.Effect<A, ErrnoError> {
    return syscall(() =>
      this.exited ? errno("ESRCH", `${call}: process ${this.pid} has exited`) : body(),
    );
  }

  /**
   * Runs `effect` holding this task's `mm->mmap_lock` (`include/mmap_lock.h`), for writing when
   * `write` (`mmap_write_lock()`), else for reading (`mmap_read_lock()`); as it is for a task
   * with no address space.
   */
  private mmapLocked<A, E>(write: boolean, effect: Effect.Effect<A, E>): Effect.Effect<A, E> {
    return Effect.suspend(() => {
      const mm = this.mm;
      if (!mm) return effect;
      // A sleep for the lock that ends after a panic goes no further (smp_send_stop()).
      const body = Effect.andThen(stopIfPanicked(this.kernel), effect);
      return write ? withMmapWriteLock(mm, body) : withMmapReadLock(mm, body);
    });
  }

  /**
   * As {@link mmapLocked}, with `mmap_write_lock_killable()` / `mmap_read_lock_killable()`: a
   * sleep for the lock that `SIGKILL` ends fails with `EINTR`, and the call then dies at its
   * return. The calls that take it so in Linux 6.16: `mmap()`, `munmap()`, `mprotect()`,
   * `mlock()` and its kin, write-mode `madvise()`, `fork()`, and a user access's faults
   * (`lock_mm_and_find_vma()`). With `killable` false it is {@link mmapLocked} (read-mode
   * `madvise()` takes a plain `mmap_read_lock()`).
   */
  private mmapLockedKillable<A, E>(
    write: boolean,
    effect: Effect.Effect<A, E>,
    killable = true,
  ): Effect.Effect<A, E | ErrnoError> {
    return Effect.suspend(() => {
      const mm = this.mm;
      if (!mm || !killable) return this.mmapLocked(write, effect);
      const body = Effect.andThen(stopIfPanicked(this.kernel), effect);
      return withMmapLockKillable(mm, write, this, body);
    });
  }

  private withMm<A>(
    call: string,
    body: (mm: MmStruct) => A | ErrnoError,
  ): Effect.Effect<A, ErrnoError> {
    return this.live(call, () => {
      if (!this.mm)
        return errno("EINVAL", `${call}: process ${this.pid} is a kernel thread with no mm`);
      return body(this.mm);
    });
  }

  /**
   * `mmap()`: maps `length` bytes and returns the address. A hugetlb mapping's surplus pages
   * (`gather_surplus_pages()`) take the whole slow path: each time `doMmap()` stops for one, the
   * slow path runs (`allocPagesSlowpath()`) and the mapping is made again with the pages
   * gathered so far; what is left over goes back at the end. With `MAP_POPULATE` the new range
   * is then faulted in (`mm_populate()` → `__mm_populate(addr, len, 1)`, `mmPopulate`), each
   * fault taking the whole fault path, slow path and migration waits included; a fault that
   * fails leaves the rest of its VMA unpopulated and the call still returns the address, unless
   * the task was killed meanwhile (`ESRCH`).
   */
  mmap(length: number, options: MmapOptions = {}): Effect.Effect<number, ErrnoError> {
    // One gather per run of the call: its state (the pages kept, the orders tried) is this run's.
    const body = Effect.suspend(() => {
      const gather = newSurplusGather();
      const attempt = this.withMm("mmap", () => {
        if (typeof options !== "object" || options === null)
          return errno("EINVAL", `mmap options must be an object, not ${formatValue(options)}`);
        if (options.hugepage !== undefined && typeof options.hugepage !== "boolean")
          return errno(
            "EINVAL",
            `mmap hugepage must be true or false, not ${formatValue(options.hugepage)}`,
          );
        return doMmap(
          this.kernel,
          this,
          length,
          {
            addr: options.addr ?? 0,
            prot: options.prot ?? 0x3,
            flags: options.flags ?? 0x22,
            file: options.file ?? null,
            offset: options.offset ?? 0,
            hugepage: options.hugepage,
          },
          gather,
        );
      });
      const step: Effect.Effect<number, ErrnoError> = Effect.flatMap(attempt, (addr) => {
        if (addr !== null) return Effect.succeed(addr);
        // doMmap() stopped for a surplus page's slow path (it filled in the request).
        return Effect.flatMap(runDirectCompact(this.kernel, gather, this)!, () => step);
      });
      // vm_mmap_pgoff(): do_mmap() under mmap_write_lock(), a surplus page's slow path included;
      // the populate comes after mmap_write_unlock().
      const mapped = this.mmapLockedKillable(
        true,
        step.pipe(Effect.ensuring(Effect.sync(() => surplusGatherRelease(this.kernel, gather)))),
      );
      // mm_populate() → __mm_populate(addr, len, 1) once the mapping is made: a fault's error
      // leaves the rest of its VMA unpopulated and mmap() still succeeds.
      return Effect.flatMap(mapped, (addr) => {
        const flags = options.flags ?? 0x22;
        const hstate = this.mm?.findVma(addr)?.hstate;
        const len = mmapPopulateLength(
          this.kernel,
          length,
          flags,
          hstate ? hstate.size : null,
          this.mm?.defFlags,
        );
        if (!len) return Effect.succeed(addr);
        return Effect.as(this.populate(addr, addr + len, true), addr);
      });
    });
    return this.call("mmap", body);
  }

  /** `munmap()`. */
  munmap(addr: number, length: number): Effect.Effect<void, ErrnoError> {
    return this.call(
      "munmap",
      this.mmapLockedKillable(
        true,
        this.withMm("munmap", () => doMunmap(this.kernel, this, addr, length)),
      ).pipe(Effect.asVoid),
    );
  }

  /** `mprotect()`. */
  mprotect(addr: number, length: number, prot: number): Effect.Effect<void, ErrnoError> {
    return this.call(
      "mprotect",
      this.mmapLockedKillable(
        true,
        this.withMm("mprotect", () => doMprotect(this.kernel, this, addr, length, prot)),
      ).pipe(Effect.asVoid),
    );
  }

  /**
   * The fault loop of a user access or a populate (`handle_mm_fault()`'s callers: the page fault
   * handler, `__get_user_pages()`): runs `step`, which goes on from where `progress` says and
   * stops where a fault wants something that blocks, then does that and runs it again, until
   * `step` stops for none. A misplaced folio is moved (`migrate_misplaced_folio()`), the slow
   * path runs (`__alloc_pages_slowpath()`: reclaim, compaction, the OOM killer), a folio under
   * migration is waited for (`migration_entry_wait()`), a user fault that ended with
   * `VM_FAULT_OOM` is retried after `pagefault_out_of_memory()` ({@link pagefaultOutOfMemory}).
   * Fails with `progress.error` (a {@link SignalError} for a user access the kernel signalled),
   * or with `ESRCH` once the task has been killed meanwhile (an OOM victim never returns to user
   * space), giving back what the slow path got for it.
   */
  private faultLoop<E>(
    progress: AccessProgress<E>,
    step: () => void,
  ): Effect.Effect<void, E | ErrnoError> {
    const loop: Effect.Effect<void, E | ErrnoError> = Effect.suspend(() => {
      if (this.exited || fatalSignalPending(this)) {
        // Exited, or killed (SIGKILL pending: the OOM killer chose this task) while the access
        // waited: it never returns to user space, and what the slow path got for it goes back.
        // A killed task exits when its call returns (get_signal()).
        putSlowpathPage(this.kernel, progress.compact);
        if (fatalSignalPending(this)) return Effect.fail(killedError(this));
        return Effect.fail(errno("ESRCH", `process ${this.pid} has exited`));
      }
      progress.waitPfn = -1;
      step();
      // The retried fault did not take the page compaction or reclaim got (the range changed
      // meanwhile, or it now wants another order): give it back before anything else is asked.
      putSlowpathPage(this.kernel, progress.compact);
      // A readahead left for after the slow path that the retried access did not reach (its
      // page was mapped meanwhile) ends where it stopped.
      if (!progress.compact.request) progress.compact.readahead = null;
      if (progress.compact.misplaced) {
        // do_numa_page() → migrate_misplaced_folio(): move the isolated folio, then access again.
        const { folio, nid } = progress.compact.misplaced;
        progress.compact.misplaced = null;
        return Effect.flatMap(migrateMisplacedFolio(this.kernel, folio, nid, this), () => loop);
      }
      if (progress.error) return Effect.fail(progress.error);
      if (progress.oom) {
        // do_user_addr_fault(): VM_FAULT_OOM from the task's own fault. pagefault_out_of_memory()
        // lets a task with SIGKILL pending die (the loop's next round fails it); any other goes
        // back to user space and runs the access again, from the page that faulted.
        progress.oom = false;
        pagefaultOutOfMemory(this);
        return Effect.flatMap(Effect.yieldNow, () => loop);
      }
      // __alloc_pages_slowpath(): reclaim and compaction as the allocation's flags allow; then
      // fault again with what it got (or fall back: the order is marked tried).
      const slow = runDirectCompact(this.kernel, progress.compact, this);
      if (slow) return Effect.flatMap(slow, () => loop);
      if (progress.waitPfn >= 0) {
        this.migration.migrationEntryWaits++;
        return Effect.flatMap(this.kernel.folioWaiters.waitUnlocked(progress.waitPfn), () => loop);
      }
      return Effect.void;
    });
    return loop;
  }

  private access(
    addr: number,
    buf: Uint8Array,
    write: boolean,
  ): Effect.Effect<Uint8Array, ErrnoError | SignalError> {
    const progress = newAccessProgress<ErrnoError | SignalError>();
    return Effect.as(
      this.faultLoop(progress, () => accessVm(this.kernel, this, addr, buf, write, progress)),
      buf,
    );
  }

  /**
   * `__mm_populate()` of `[start, end)` (`mmPopulate`) through the fault loop, so each fault
   * takes the whole fault path. With `ignoreErrors` a fault's error ends only its VMA's part;
   * a task killed meanwhile still fails with `ESRCH`.
   */
  private populate(
    start: number,
    end: number,
    ignoreErrors: boolean,
  ): Effect.Effect<void, ErrnoError> {
    const progress = newAccessProgress();
    // __mm_populate() takes mmap_read_lock() itself, after the caller's write lock is gone.
    return this.mmapLocked(
      false,
      this.faultLoop(progress, () =>
        mmPopulate(this.kernel, this, start, end, ignoreErrors, progress),
      ),
    );
  }

  /**
   * Reads `length` bytes at `addr` through the page tables, in address order, faulting pages in.
   * An access that meets a page under migration waits until the migration finishes. `EFAULT` for
   * a range past `TASK_SIZE`; `ENOMEM` when the host cannot allocate a buffer for the bytes read.
   * The first address not mapped readable faults: the read fails there with the `SIGSEGV` the
   * task dies of ({@link SignalError}), the pages before it faulted in.
   */
  read(addr: number, length: number): Effect.Effect<Uint8Array, ErrnoError | SignalError> {
    // The faults of the loads: lock_mm_and_find_vma() takes mmap_read_lock() (held here for the
    // whole access, waits for a migration entry and the allocator's slow path included).
    return this.call(
      "read",
      this.mmapLockedKillable(
        false,
        this.withMm("read", () => checkAccess(addr, length) ?? undefined).pipe(
          Effect.flatMap(() => this.readFrom(addr, addr + length, [])),
        ),
      ),
    );
  }

  /**
   * Reads `buf.length` bytes at `addr` into `buf`, with the loads and faults of
   * {@link Process.read}: its buffer is the caller's, so the loads need not stop where the
   * mapping does to size it, and they fault at the first address not mapped readable as
   * {@link Process.read}'s do. `EFAULT` for a `buf` that is no `Uint8Array` or a range past
   * `TASK_SIZE`.
   */
  readInto(addr: number, buf: Uint8Array): Effect.Effect<void, ErrnoError | SignalError> {
    return this.userAccess("read", addr, buf, false, "buffer is");
  }

  /**
   * The loads or stores of {@link Process.readInto} and {@link Process.write} (`name`) between
   * `addr` and `buf`, under `mmap_lock` for read, killable: `EFAULT` for a `buf` that is no
   * `Uint8Array` (`what` names it in the message) or a range past `TASK_SIZE`.
   */
  private userAccess(
    name: "read" | "write",
    addr: number,
    buf: Uint8Array,
    write: boolean,
    what: string,
  ): Effect.Effect<void, ErrnoError | SignalError> {
    return this.call(
      name,
      this.mmapLockedKillable(
        false,
        this.withMm(name, () => {
          if (!(buf instanceof Uint8Array))
            return errno("EFAULT", `${name}: the ${what} not a Uint8Array`);
          return checkAccess(addr, buf.length) ?? buf;
        }).pipe(Effect.flatMap((into) => this.access(addr, into, write))),
      ).pipe(Effect.asVoid),
    );
  }

  /**
   * The loads of {@link Process.read} from `at` to `end`, after the `parts` read before. They
   * reach the first address not mapped readable, faulting pages in on the way, and fault there:
   * a buffer need only hold what comes before it and the byte that faults. Should that byte have
   * been mapped meanwhile, the loads go on past it.
   */
  private readFrom(
    at: number,
    end: number,
    parts: Uint8Array[],
  ): Effect.Effect<Uint8Array, ErrnoError | SignalError> {
    return this.withMm("read", (mm) => {
      const reach = accessExtent(mm, at, end - at, false);
      const n = Math.min(reach + 1, end - at);
      const buf = kvmalloc(() => new Uint8Array(n));
      return buf ?? errno("ENOMEM", `read of ${end - at} bytes: no memory for the buffer`);
    }).pipe(
      Effect.flatMap((buf) => this.access(at, buf, false)),
      Effect.flatMap((buf) => {
        if (at + buf.length < end) return this.readFrom(at + buf.length, end, [...parts, buf]);
        if (parts.length === 0) return Effect.succeed(buf);
        const start = at - parts.reduce((bytes, part) => bytes + part.length, 0);
        const all = kvmalloc(() => new Uint8Array(end - start));
        if (!all) return Effect.fail(errno("ENOMEM", "read: no memory for the buffer"));
        let off = 0;
        for (const part of [...parts, buf]) {
          all.set(part, off);
          off += part.length;
        }
        return Effect.succeed(all);
      }),
    );
  }

  /**
   * Writes `bytes` at `addr` through the page tables, in address order: the bytes before the
   * first page not mapped writable are written, and the write fails there with the `SIGSEGV` the
   * task dies of ({@link SignalError}).
   */
  write(addr: number, bytes: Uint8Array): Effect.Effect<void, ErrnoError | SignalError> {
    return this.userAccess("write", addr, bytes, true, "bytes are");
  }

  /**
   * `mbind()`: sets the NUMA policy of a range, and with `MPOL_MF_MOVE` / `MPOL_MF_MOVE_ALL` moves
   * the pages already there to it. See `doMbind` for every rule.
   */
  mbind(
    addr: number,
    length: number,
    mode: number,
    nodes: readonly number[],
    flags = 0,
  ): Effect.Effect<void, ErrnoError> {
    return this.call(
      "mbind",
      this.withMm("mbind", () => undefined).pipe(
        Effect.flatMap(() => doMbind(this.kernel, this, addr, length, mode, nodes, flags)),
      ),
    );
  }

  /** `set_mempolicy()`: sets the task's default policy (`mode` may carry the mode flags). */
  setMempolicy(mode: number, nodes: readonly number[]): Effect.Effect<void, ErrnoError> {
    return this.call(
      "set_mempolicy",
      this.live("set_mempolicy", () => doSetMempolicy(this.kernel, this, mode, nodes)),
    );
  }

  /**
   * `get_mempolicy()`: with `MPOL_F_NODE | MPOL_F_ADDR`, the node holding the page at `addr`
   * (faulting it in); with `MPOL_F_ADDR`, that VMA's policy; with 0, the task's policy.
   */
  getMempolicy(flags: number, addr = 0): Effect.Effect<number | Mempolicy, ErrnoError> {
    return this.call(
      "get_mempolicy",
      // do_get_mempolicy(): mmap_read_lock() for MPOL_F_ADDR.
      this.mmapLocked(
        false,
        this.withMm("get_mempolicy", () => doGetMempolicy(this, flags, addr)).pipe(
          Effect.flatMap(
            (r): Effect.Effect<number | Mempolicy, ErrnoError> =>
              "lookupNode" in r
                ? Effect.map(this.getUserPageFast(r.lookupNode), (pfn) =>
                    this.kernel.mem.pfnToNid(pfn),
                  )
                : Effect.succeed(r),
          ),
        ),
      ),
    );
  }

  /**
   * `get_user_pages_fast()` of the page at `addr`, read, as a kernel-side look-up makes it
   * (`lookup_node()`, `madvise_inject_error()`): `__get_user_pages()` faults it in with
   * `FAULT_FLAG_ALLOW_RETRY` through the fault loop ({@link faultLoop}: the slow path, migration
   * waits, retries). First the lockless walk (`gup_fast()`): a page mapped by a present entry
   * that a user read may use (`pte_access_permitted()`: not `PROT_NONE`, not a NUMA hinting
   * entry; on x86 a `PROT_WRITE`-only mapping's PTE is readable, `protection_map[VM_WRITE]`),
   * not special (the zero page), is taken as it is, its VMA's flags not looked at. Resolves to its
   * PFN. The slow path fails with `EFAULT` where nothing is mapped, for a VMA without `VM_READ`
   * (`check_vma_flags()` with no `FOLL_FORCE`: a `PROT_WRITE`-only mapping too, whose page is
   * not yet present) and for a poisoned page or a file page past the end (`vm_fault_to_errno()` with no `FOLL_HWPOISON`, which `get_user_pages_fast()` never
   * takes); `ENOMEM` where the fault got no memory.
   */
  private getUserPageFast(addr: number): Effect.Effect<number, ErrnoError> {
    return Effect.suspend(() => {
      const progress = newAccessProgress();
      const pageSize = this.kernel.mem.pageSize;
      let pfn = -1;
      const step = () => {
        const vma = this.mm?.findVma(addr);
        if (vma && vma.start <= addr) {
          const entry = folioWalkEntry(this.kernel, vma, Math.floor((addr - vma.start) / pageSize));
          if (
            ptePresent(entry) &&
            !pteProtnone(entry) &&
            !pteSpecial(entry) &&
            vmaIsAccessible(vma.flags)
          ) {
            pfn = ptePfn(entry);
            return;
          }
        }
        if (vma && vma.start <= addr && !(vma.flags & VM_READ)) {
          progress.error = errno("EFAULT", `address 0x${addr.toString(16)} is not readable`);
          return;
        }
        pfn = faultinPage(this.kernel, this, addr, false, progress) ?? -1;
        const error = progress.error;
        if (error?.errno === "EHWPOISON") progress.error = errno("EFAULT", error.message);
      };
      return Effect.map(this.faultLoop(progress, step), () => pfn);
    });
  }

  /** The node holding the page at `addr`: `get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR)`. */
  nodeOf(addr: number): Effect.Effect<number, ErrnoError> {
    return this.getMempolicy(MPOL_F_NODE | MPOL_F_ADDR, addr) as Effect.Effect<number, ErrnoError>;
  }

  /**
   * `mlock()`: locks a range, mlocking the folios it maps, then faults it in (`__mm_populate()`
   * with errors reported, `mlockPosixErrorReturn` turning them: `EFAULT` is `ENOMEM`, `ENOMEM`
   * is `EAGAIN`). See `applyVmaLockFlags` for every rule.
   */
  mlock(addr: number, length: number): Effect.Effect<void, ErrnoError> {
    return this.doMlock("mlock", addr, length, VM_LOCKED);
  }

  /**
   * `mlock2()`: `mlock()` with `flags` 0; with `MLOCK_ONFAULT` the range is locked
   * (`VM_LOCKED | VM_LOCKONFAULT`) and the folios it maps mlocked, but nothing more is faulted
   * in: each page is mlocked when it is. `EINVAL` for any other flag bit.
   */
  mlock2(addr: number, length: number, flags: number): Effect.Effect<void, ErrnoError> {
    if (!Number.isInteger(flags) || flags & ~MLOCK_ONFAULT) {
      return this.call(
        "mlock2",
        Effect.fail(
          errno("EINVAL", `mlock2: flags ${formatValue(flags)} may only be 0 or MLOCK_ONFAULT`),
        ),
      );
    }
    const vmFlags = VM_LOCKED | (flags & MLOCK_ONFAULT ? VM_LOCKONFAULT : 0);
    return this.doMlock("mlock2", addr, length, vmFlags);
  }

  /** `do_mlock()`: `applyVmaLockFlags`, then `__mm_populate(start, len, 0)`. */
  private doMlock(
    call: string,
    addr: number,
    length: number,
    vmFlags: number,
  ): Effect.Effect<void, ErrnoError> {
    return this.call(
      call,
      this.mmapLockedKillable(
        true,
        this.withMm(call, () => applyVmaLockFlags(this.kernel, this, addr, length, vmFlags)),
      ).pipe(
        // do_mlock() → __mm_populate(start, len, 0), its error turned for POSIX.
        Effect.flatMap(({ start, end }) =>
          Effect.mapError(this.populate(start, end, false), mlockPosixErrorReturn),
        ),
      ),
    );
  }

  /** `munlock()`: unlocks a range and munlocks the folios it maps (`applyVmaLockFlags`). */
  munlock(addr: number, length: number): Effect.Effect<void, ErrnoError> {
    return this.call(
      "munlock",
      this.mmapLockedKillable(
        true,
        this.withMm("munlock", () => applyVmaLockFlags(this.kernel, this, addr, length, 0)),
      ).pipe(Effect.asVoid),
    );
  }

  /**
   * `mlockall()`: see `doMlockall` for the checks and what changes; with `MCL_CURRENT` the whole
   * address space is then faulted in, errors ignored (`mm_populate(0, TASK_SIZE)`).
   */
  mlockall(flags: number): Effect.Effect<void, ErrnoError> {
    return this.call(
      "mlockall",
      this.mmapLockedKillable(
        true,
        this.withMm("mlockall", () => doMlockall(this.kernel, this, flags)),
      ).pipe(
        Effect.flatMap(() =>
          flags & MCL_CURRENT ? this.populate(0, TASK_SIZE, true) : Effect.void,
        ),
      ),
    );
  }

  /** `munlockall()`: unlocks every VMA and clears `mm->def_flags` (`doMunlockall`). */
  munlockall(): Effect.Effect<void, ErrnoError> {
    return this.call(
      "munlockall",
      this.mmapLockedKillable(
        true,
        this.withMm("munlockall", () => doMunlockall(this.kernel, this)),
      ).pipe(Effect.asVoid),
    );
  }

  /**
   * `madvise()` with `MADV_NORMAL`, `MADV_RANDOM`, `MADV_SEQUENTIAL` (the readahead flags
   * `VM_RAND_READ` and `VM_SEQ_READ` of each VMA, `madvise_vma_behavior()`), `MADV_WILLNEED`
   * (`madviseWillneed`), `MADV_DONTNEED`, `MADV_DONTNEED_LOCKED`, `MADV_HUGEPAGE`,
   * `MADV_NOHUGEPAGE`, `MADV_DONTFORK` and `MADV_DOFORK` (`VM_DONTCOPY`), `MADV_WIPEONFORK` and
   * `MADV_KEEPONFORK` (`VM_WIPEONFORK`, with `madviseWipeonforkRefused` and
   * `madviseKeeponforkRefused`), or `MADV_SOFT_OFFLINE`. `MADV_DOFORK`'s `EINVAL` for a `VM_IO`
   * VMA cannot happen: the model maps no I/O memory.
   */
  madvise(addr: number, length: number, advice: number): Effect.Effect<void, ErrnoError> {
    if (advice === MADV_SOFT_OFFLINE) {
      return this.call(
        "madvise",
        this.withMm("madvise", () => undefined).pipe(
          Effect.flatMap(() =>
            madviseSoftOffline(this.kernel, this, addr, length, (at) => this.getUserPageFast(at)),
          ),
        ),
      );
    }
    if (advice === MADV_WILLNEED) {
      // A read-mode madvise: a plain mmap_read_lock(), held across the read and its slow path.
      return this.call(
        "madvise",
        this.mmapLocked(
          false,
          this.withMm("madvise", () => undefined).pipe(
            Effect.flatMap(() => madviseWillneed(this.kernel, this, addr, length)),
          ),
        ),
      );
    }
    // madvise_need_mmap_write(): MADV_DONTNEED, MADV_DONTNEED_LOCKED and MADV_WILLNEED in read
    // mode, the VMA flag changes (MADV_NORMAL, _RANDOM, _SEQUENTIAL, _HUGEPAGE...) in write mode (madvise_lock(), mm/madvise.c); MADV_SOFT_OFFLINE above
    // takes no mmap_lock.
    const write =
      advice !== MADV_DONTNEED && advice !== MADV_DONTNEED_LOCKED && advice !== MADV_WILLNEED;
    return this.call(
      "madvise",
      this.mmapLockedKillable(
        write,
        this.withMm("madvise", () => {
          // The advice that sets and clears VMA flags (madvise_vma_behavior()).
          const flags = VM_FLAG_ADVICE.get(advice);
          if (flags) {
            const [set, clear, refuse] = flags;
            return setVmFlags(this.kernel, this, addr, length, set, clear, refuse);
          }
          if (advice === MADV_DONTNEED || advice === MADV_DONTNEED_LOCKED) {
            const locked = advice === MADV_DONTNEED_LOCKED;
            return madviseDontneed(this.kernel, this, addr, length, locked);
          }
          return errno("EINVAL", `madvise advice ${advice} is not modelled`);
        }),
        write,
      ).pipe(Effect.asVoid),
    );
  }

  /**
   * `move_pages(2)`: moves the pages at `pages` of process `pid` (0 for this one) to `nodes`, or
   * with `nodes` null reports where they are, writing each status into `status` (a fresh array
   * when omitted). See `doMovePages` for every rule.
   */
  movePages<S extends MovePagesStatus = Int32Array>(
    pid: number,
    pages: ArrayLike<number>,
    nodes: ArrayLike<number> | null,
    flags: number = MPOL_MF_MOVE,
    status?: S,
  ): Effect.Effect<MovePagesResult<S>, ErrnoError> {
    return this.call(
      "move_pages",
      this.live("move_pages", () => undefined).pipe(
        Effect.flatMap(() => doMovePages(this.kernel, this, pid, pages, nodes, flags, status)),
      ),
    );
  }

  /**
   * `migrate_pages(2)`: moves the pages of process `pid` (0 for this one) on `oldNodes` to
   * `newNodes`, nodemasks of `maxnode` bits. Resolves with the folios not moved. See
   * `kernelMigratePages` for every rule.
   */
  migratePagesSyscall(
    pid: number,
    maxnode: number,
    oldNodes: readonly number[] | null,
    newNodes: readonly number[] | null,
  ): Effect.Effect<number, ErrnoError> {
    return this.call(
      "migrate_pages",
      this.live("migrate_pages", () => undefined).pipe(
        Effect.flatMap(() =>
          kernelMigratePages(this.kernel, this, pid, maxnode, oldNodes, newNodes),
        ),
      ),
    );
  }

  /** `fork()`: a child with a copy-on-write copy of this address space. */
  fork(options: TaskOptions = {}): Effect.Effect<Task, ErrnoError> {
    // dup_mmap(): mmap_write_lock() of the parent's address space while it is copied.
    return this.call(
      "fork",
      this.mmapLockedKillable(
        true,
        this.withMm("fork", (mm) => {
          if (typeof options !== "object" || options === null)
            return errno("EINVAL", `fork options must be an object, not ${formatValue(options)}`);
          // copy_mm() → dup_mmap() fills the child's address space before alloc_pid(): a
          // refused copy leaves no task and takes no pid.
          const child = this.kernel.addTask(
            {
              name: options.name ?? this.comm,
              node: options.node ?? this.nid,
              memsAllowed: this.memsAllowed,
            },
            (childMm) => dupMmap(this.kernel, mm, childMm, this),
          );
          if (child instanceof Error) return child;
          // copy_creds() (kernel/cred.c): the child shares its parent's credentials.
          (child as Process).cred = this.cred;
          child.policy = this.policy;
          // dup_task_struct() (kernel/fork.c) copies the parent's task flags.
          child.flags = this.flags;
          // copy_signal() (kernel/fork.c): the OOM score adjustment and its floor are inherited.
          child.oomScoreAdj = this.oomScoreAdj;
          child.oomScoreAdjMin = this.oomScoreAdjMin;
          // copy_signal(): the resource limits are inherited.
          child.rlimitMemlock = this.rlimitMemlock;
          return child;
        }),
      ),
    );
  }

  /**
   * `exit()`: drops the address space (`exit_mm()`) and leaves the process table. The global
   * init's exit panics the kernel instead (`do_exit()`, `kernel/exit.c`: `Attempted to kill init!
   * exitcode=0x00000000`, the model's `exit()` having no status), before anything is released.
   */
  exit(): Effect.Effect<void, ErrnoError> {
    return this.call(
      "exit",
      Effect.suspend(() =>
        !this.exited && isGlobalInit(this)
          ? this.kernel.panic("Attempted to kill init! exitcode=0x00000000\n")
          : // exit_task_work(): the work exit_mm() queued (a shmem object's release) runs at the
            // call's return (Kernel.call runs the task's work, closing its queue once it has
            // exited).
            this.live("exit", () => {
              doExit(this.kernel, this, 0);
              return undefined;
            }),
      ),
    );
  }
}
