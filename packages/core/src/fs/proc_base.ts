/**
 * The per-process directories of `/proc`.
 *
 * Models the `/proc/<pid>` entries of `fs/proc/base.c` (Linux 6.16) that the model has: the OOM
 * killer's `oom_score` and `oom_score_adj`. A process's directory is made with it and goes when it
 * exits (`proc_flush_pid()`, `kernel/exit.ts`).
 *
 * @module
 */
import { Effect } from "effect";
import { type ErrnoError, errno } from "../errno";
import { CAP_SYS_RESOURCE } from "../include/capability";
import type { Kernel } from "../include/kernel";
import { SUID_DUMP_USER } from "../include/mm_types";
import { OOM_SCORE_ADJ_MAX, OOM_SCORE_ADJ_MIN } from "../include/oom";
import type { TaskStruct } from "../include/sched";
import { kstrtoint } from "../lib/kstrtox";
import { oomBadness, oomTotalPages } from "../mm/oom_kill";

/** `PROC_NUMBUF` (`fs/proc/base.c`): the buffer a number written to a `/proc/<pid>` file fits. */
const PROC_NUMBUF = 13;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/**
 * `proc_oom_score()` (`fs/proc/base.c`, Linux 6.16): the task's `oom_badness()` scaled to
 * 0..2000, `(1000 + badness × 1000 / totalpages) × 2 / 3` in integer arithmetic, over all memory
 * (`totalram_pages() + total_swap_pages`); 0 for a task that is no candidate (`OOM_SCORE_ADJ_MIN`,
 * a kernel thread).
 *
 * @category Processes
 */
export const procOomScore = (k: Kernel, task: TaskStruct): number => {
  const totalpages = oomTotalPages(k);
  const badness = oomBadness(k, task, totalpages);
  if (badness === null) return 0;
  return Math.trunc(((1000 + Math.trunc((badness * 1000) / totalpages)) * 2) / 3);
};

/**
 * The owner of a `/proc/<pid>` file (`task_dump_owner()`, `fs/proc/base.c`): the task's effective
 * uid and gid while its address space is dumpable (`SUID_DUMP_USER`), else root's.
 */
const taskDumpOwner = (task: TaskStruct): { uid: number; gid: number } =>
  task.mm && task.mm.dumpable === SUID_DUMP_USER
    ? { uid: task.cred.euid, gid: task.cred.egid }
    : { uid: 0, gid: 0 };

/**
 * `oom_score_adj_write()` with `__set_oom_adj()` (`fs/proc/base.c`, Linux 6.16), as `writer`
 * writes `text` (`count` bytes) to `task`'s `oom_score_adj`: the first `PROC_NUMBUF - 1` bytes,
 * stripped of white space, parsed by `kstrtoint()` (base 0; its `EINVAL` or `ERANGE`); `EINVAL`
 * outside -1000..1000; `EACCES` below the task's `oom_score_adj_min` unless the writer has
 * `CAP_SYS_RESOURCE`, which also makes the value the new minimum (who may open the file at all is
 * `generic_permission()`'s, before this). An empty write parses nothing: `EINVAL`. A write by no
 * task of the model is the kernel's own, with every capability. Returns the bytes consumed (at
 * most `PROC_NUMBUF - 1`).
 */
const oomScoreAdjWrite = (
  task: TaskStruct,
  text: string,
  count: number,
  writer: TaskStruct | null,
): number | Effect.Effect<number, ErrnoError> => {
  const path = `/proc/${task.pid}/oom_score_adj`;
  const fail = (name: "EACCES" | "EINVAL", why: string) =>
    Effect.fail(errno(name, `${path}: ${why}`));
  const n = Math.min(count, PROC_NUMBUF - 1);
  // strstrip(): leading and trailing white space (isspace()) goes.
  const buffer = fromUtf8
    .decode(utf8.encode(text).subarray(0, n))
    .replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, "");
  const value = kstrtoint(buffer, 0);
  if (typeof value !== "number") return Effect.fail(value);
  if (value < OOM_SCORE_ADJ_MIN || value > OOM_SCORE_ADJ_MAX)
    return fail("EINVAL", `${value} is outside ${OOM_SCORE_ADJ_MIN}..${OOM_SCORE_ADJ_MAX}`);
  const privileged = !writer || writer.capable(CAP_SYS_RESOURCE);
  if (value < task.oomScoreAdjMin && !privileged)
    return fail(
      "EACCES",
      `${value} is below oom_score_adj_min ${task.oomScoreAdjMin}, and CAP_SYS_RESOURCE is missing`,
    );
  task.oomScoreAdj = value;
  if (privileged) task.oomScoreAdjMin = value;
  return n;
};

/**
 * Creates `/proc/<pid>` for `task` (`proc_pid_lookup()`, `fs/proc/base.c`): `oom_score` (0444,
 * {@link procOomScore} and a newline) and `oom_score_adj` (0644: the value and a newline; written
 * as `oom_score_adj_write()` does: a decimal, hex or octal integer in -1000..1000, `EINVAL`
 * otherwise, empty included, `EACCES` for a value below the task's `oom_score_adj_min` without
 * `CAP_SYS_RESOURCE`). Both files are owned by the task's user (`task_dump_owner()`), so another
 * user's writer without `CAP_DAC_OVERRIDE` gets `EACCES` (`generic_permission()`).
 *
 * @category sysfs and procfs
 */
export const procPidCreate = (k: Kernel, task: TaskStruct): void => {
  const owner = () => taskDumpOwner(task);
  k.fs.addAttributes(`/proc/${task.pid}`, {
    oom_score: { mode: 0o444, owner, show: () => `${procOomScore(k, task)}\n` },
    oom_score_adj: {
      mode: 0o644,
      owner,
      procWrite: true,
      show: () => `${task.oomScoreAdj}\n`,
      store: (text, count, writer) => oomScoreAdjWrite(task, text, count, writer),
    },
  });
};
