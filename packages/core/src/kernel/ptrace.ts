/**
 * Whether one task may inspect another.
 *
 * Models `ptrace_may_access()` and `__ptrace_may_access()` (`kernel/ptrace.c`) with the
 * `PTRACE_MODE_*` bits of `include/linux/ptrace.h`: the check `move_pages(2)` (`find_mm_struct()`,
 * `mm/migrate.c`) and `migrate_pages(2)` (`kernel_migrate_pages()`, `mm/mempolicy.c`) make with
 * `PTRACE_MODE_READ_REALCREDS` before touching another process's memory. Linux security modules
 * (`security_ptrace_access_check()`: Yama's `ptrace_scope`, SELinux) are out of scope: the check
 * ends where the kernel would ask them.
 *
 * @module
 */
import { CAP_SYS_PTRACE } from "../include/capability";
import { SUID_DUMP_USER } from "../include/mm_types";
import type { TaskStruct } from "../include/sched";

/** `PTRACE_MODE_READ` (`include/linux/ptrace.h`): a read-only inspection. @category Processes */
export const PTRACE_MODE_READ = 0x01;
/** `PTRACE_MODE_ATTACH` (`include/linux/ptrace.h`): an attach, full access. @category Processes */
export const PTRACE_MODE_ATTACH = 0x02;
/** `PTRACE_MODE_NOAUDIT` (`include/linux/ptrace.h`): do not audit a denial. @category Processes */
export const PTRACE_MODE_NOAUDIT = 0x04;
/**
 * `PTRACE_MODE_FSCREDS` (`include/linux/ptrace.h`): compare the caller's filesystem ids.
 *
 * @category Processes
 */
export const PTRACE_MODE_FSCREDS = 0x08;
/**
 * `PTRACE_MODE_REALCREDS` (`include/linux/ptrace.h`): compare the caller's real ids.
 *
 * @category Processes
 */
export const PTRACE_MODE_REALCREDS = 0x10;
/**
 * `PTRACE_MODE_READ_REALCREDS` (`include/linux/ptrace.h`): what `move_pages(2)` and
 * `migrate_pages(2)` ask for.
 *
 * @category Processes
 */
export const PTRACE_MODE_READ_REALCREDS = PTRACE_MODE_READ | PTRACE_MODE_REALCREDS;
/**
 * `PTRACE_MODE_READ_FSCREDS` (`include/linux/ptrace.h`): what `/proc/<pid>/` files ask for.
 *
 * @category Processes
 */
export const PTRACE_MODE_READ_FSCREDS = PTRACE_MODE_READ | PTRACE_MODE_FSCREDS;

/**
 * `ptrace_may_access(task, mode)` (`kernel/ptrace.c`): whether `caller` may inspect `target`.
 * In the order of `__ptrace_may_access()`:
 *
 * 1. `mode` must name exactly one of `PTRACE_MODE_FSCREDS` and `PTRACE_MODE_REALCREDS`, or the
 *    access is denied (the kernel also warns).
 * 2. A task may always inspect its own thread group (here: itself; the model has no threads).
 * 3. The caller's real ids (`REALCREDS`: `uid`, `gid`) or filesystem ids (`FSCREDS`: `fsuid`,
 *    `fsgid`) must equal all three of the target's user ids (`uid`, `euid`, `suid`) and group ids
 *    (`gid`, `egid`, `sgid`), or the caller holds `CAP_SYS_PTRACE` (in the target's user
 *    namespace; the model has one).
 * 4. The target's address space must be dumpable (`get_dumpable(mm) == SUID_DUMP_USER`), or the
 *    caller holds `CAP_SYS_PTRACE`. A kernel thread (no mm) passes.
 *
 * Linux security modules would be asked next; they are out of scope. Returns false for a denial,
 * which the callers turn into `EPERM`.
 *
 * @example
 * ```ts
 * import { Kernel, PTRACE_MODE_READ_REALCREDS, ptraceMayAccess } from "@migrate-offload/core";
 * import { Effect } from "effect";
 *
 * const kernel = await Effect.runPromise(Kernel.boot({ nodes: ["16M"] }));
 * const [alice, bob, root] = await Effect.runPromise(
 *   Effect.all([
 *     kernel.createProcess({ uid: 1000 }),
 *     kernel.createProcess({ uid: 1001 }),
 *     kernel.createProcess({ uid: 0 }),
 *   ]),
 * );
 * console.log(ptraceMayAccess(alice, bob, PTRACE_MODE_READ_REALCREDS)); // false: another user
 * console.log(ptraceMayAccess(root, bob, PTRACE_MODE_READ_REALCREDS)); // true: CAP_SYS_PTRACE
 * await Effect.runPromise(kernel.shutdown());
 * ```
 *
 * @category Processes
 */
export const ptraceMayAccess = (caller: TaskStruct, target: TaskStruct, mode: number): boolean => {
  if (!(mode & PTRACE_MODE_FSCREDS) === !(mode & PTRACE_MODE_REALCREDS)) return false;
  if (caller === target) return true;
  const cred = caller.cred;
  const tcred = target.cred;
  const [callerUid, callerGid] =
    mode & PTRACE_MODE_FSCREDS ? [cred.fsuid, cred.fsgid] : [cred.uid, cred.gid];
  const idsMatch =
    callerUid === tcred.euid &&
    callerUid === tcred.suid &&
    callerUid === tcred.uid &&
    callerGid === tcred.egid &&
    callerGid === tcred.sgid &&
    callerGid === tcred.gid;
  if (!idsMatch && !caller.capable(CAP_SYS_PTRACE)) return false;
  const mm = target.mm;
  return !mm || mm.dumpable === SUID_DUMP_USER || caller.capable(CAP_SYS_PTRACE);
};
