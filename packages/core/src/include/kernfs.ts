/**
 * The sysfs and procfs trees as the rest of the kernel sees them: attributes, directories and
 * the operations on the tree.
 *
 * Models `include/linux/kobject.h` (`struct kobject`, `struct kobj_attribute`) and
 * `include/linux/kernfs.h` (`struct kernfs_root`, defined in `fs/kernfs/kernfs-internal.h`). The
 * tree itself is `fs/kernfs.ts`.
 *
 * @module
 */
import type { Effect } from "effect";
import { ERRNO, type ErrnoError } from "../errno";
import type { TaskStruct } from "./sched";

/**
 * A sysfs attribute. Models `struct kobj_attribute` (`include/linux/kobject.h`).
 *
 * @category sysfs and procfs
 */
export interface Attribute {
  /** File mode bits; `0o444` read-only, `0o644` read-write, `0o200` write-only. */
  readonly mode: number;
  /**
   * Models `show()` of `struct kobj_attribute` (`include/linux/kobject.h`): the file's text, ending
   * in a newline.
   */
  readonly show?: () => string;
  /**
   * Models `store()` of `struct kobj_attribute` (`include/linux/kobject.h`), as
   * `sysfs_kf_write()` (`fs/sysfs/file.c`) calls it: `text` is the written buffer as a C string
   * (the UTF-8 bytes before the first NUL, at most `PAGE_SIZE` of them), `count` the bytes
   * written (never 0: an empty write does not reach the store). Under `/proc/sys` it is the
   * table entry's `proc_handler`, as `proc_sys_call_handler()` (`fs/proc/proc_sysctl.c`) calls
   * it: `text` is the whole write up to its first NUL, `count` every byte written, 0 included. `current` is the writing task,
   * which the store runs in (its CPU's node is where the allocations it makes count as local,
   * `zone_statistics()`), or null for a write made by no task of the model. It returns `count`
   * when it consumed the write, or a negative errno. It must change nothing when it fails. A
   * store that must sleep (one that waits for a grace period, say) returns an Effect of the same.
   */
  readonly store?: (
    text: string,
    count: number,
    current: TaskStruct | null,
  ) => number | Effect.Effect<number, ErrnoError>;
  /**
   * Models `set()` of `struct simple_attr` (`fs/libfs.c`), for a debugfs attribute file
   * (`DEFINE_DEBUGFS_ATTRIBUTE()`, `include/linux/debugfs.h`): a file that has it is written
   * through `simple_attr_write()` (`simpleAttrWrite`, `fs/libfs.ts`), which parses the value and
   * passes it here, instead of through `store`. It returns 0, or the errno of a value it refuses,
   * changing nothing then.
   */
  readonly set?: (val: bigint) => 0 | ErrnoError;
  /**
   * True for a `/proc/sys` table entry (`struct ctl_table`, `include/linux/sysctl.h`): set by
   * {@link KernfsRoot.registerSysctl} when the file is registered, not by its owner. Such a file is
   * read and written as `proc_sys_call_handler()` (`fs/proc/proc_sysctl.c`) does: who may is
   * decided by `sysctl_perm()`, and `store` is the entry's `proc_handler`.
   */
  readonly sysctl?: boolean;
  /**
   * The owner of the file's inode (`inode->i_uid`, `inode->i_gid`) as it is now; root's (0, 0)
   * when absent, as for every sysfs, debugfs and `/proc/sys` file. A `/proc/<pid>` file is its
   * task's (`task_dump_owner()`, `fs/proc/base.c`). `generic_permission()` holds an opener with
   * this uid to the owner's bits and one with this gid to the group's.
   */
  readonly owner?: () => { readonly uid: number; readonly gid: number };
  /**
   * True for a procfs file written through its `proc_write` (`proc_reg_write()`,
   * `fs/proc/inode.c`) rather than sysfs's path: `store` is given the whole write, not cut to
   * `PAGE_SIZE`, and is called for an empty write too (the handler decides what 0 bytes mean).
   */
  readonly procWrite?: boolean;
}

/**
 * A directory of the tree. Models `struct kobject` (`include/linux/kobject.h`) and its
 * `struct kernfs_node` (`include/linux/kernfs.h`).
 *
 * @category sysfs and procfs
 */
export class KObject {
  /** Subdirectories by name. */
  readonly children = new Map<string, KObject>();
  /** Attribute files by name. */
  readonly attributes = new Map<string, Attribute>();
  /**
   * The directory's permission bits (`kernfs_node` mode; root-owned): 0755, as sysfs makes its
   * directories, unless a filesystem's mount root says otherwise (debugfs's 0700). A path walk
   * through it needs search permission (`may_lookup()`, `fs/namei.c`).
   */
  mode = 0o755;
  constructor(
    readonly name: string,
    readonly parent: KObject | null,
  ) {}

  /** The absolute path of this directory. */
  get path(): string {
    if (!this.parent) return "";
    return `${this.parent.path}/${this.name}`;
  }
}

/**
 * The operations on one kernel's sysfs and procfs tree. Models `struct kernfs_root`
 * (`fs/kernfs/kernfs-internal.h`, opaque in `include/linux/kernfs.h`) with the calls drivers make
 * on it (`sysfs_create_group()`, `kobject_del()`) and the ones user space makes (`open`, `read`,
 * `write`, `readdir`). The tree is `KernFs` (`fs/kernfs.ts`).
 *
 * @category sysfs and procfs
 */
export interface KernfsRoot {
  /** The root directory. */
  readonly root: KObject;
  /**
   * Creates a directory and any missing parents (`kobject_create_and_add()`, `lib/kobject.c`);
   * returns it.
   */
  mkdir(path: string): KObject;
  /**
   * Adds attribute files to a directory, creating it if needed (`sysfs_create_group()`,
   * `fs/sysfs/group.c`).
   */
  addAttributes(dirPath: string, attributes: Record<string, Attribute>): KObject;
  /**
   * Adds a sysctl table (`register_sysctl()`, `fs/proc/proc_sysctl.c`): each entry becomes a file
   * of `/proc/sys/<path>` (`path` as `"vm"` or `"kernel"`) marked as a table entry
   * ({@link Attribute.sysctl}); returns the directory.
   */
  registerSysctl(path: string, table: Record<string, Attribute>): KObject;
  /**
   * Removes a file or a directory with everything below it (`kobject_del()`, `lib/kobject.c`);
   * false if missing.
   */
  remove(path: string): boolean;
  /** Whether a file or directory exists. */
  exists(path: string): boolean;
  /**
   * The names in a directory, sorted (`open()` of the directory and `readdir`, through
   * `kernfs_fop_readdir()`, `fs/kernfs/dir.c`); `ENOENT` or `ENOTDIR`, or `EACCES` when
   * `current` may not search a directory on the way (`may_lookup()`, `MAY_EXEC`) or read the
   * directory itself (`may_open()`, `MAY_READ`), by `generic_permission()` (`fs/namei.c`,
   * Linux 6.16). `current` null or left out: a listing by no task of the model (root's).
   */
  list(path: string, current?: TaskStruct | null): Effect.Effect<string[], ErrnoError>;
  /**
   * Reads a file (`show`, through `kernfs_fop_read_iter()`, `fs/kernfs/file.c`); `ENOENT`, `EISDIR`
   * or `EACCES`. `current` is the reading task, whose effective ids a `/proc/sys` file's mode is
   * checked against (`sysctl_perm()`); null or left out for a read by no task of the model (root's).
   */
  read(path: string, current?: TaskStruct | null): Effect.Effect<string, ErrnoError>;
  /**
   * Writes a file (`store`, through `kernfs_fop_write_iter()`, `fs/kernfs/file.c`): the bytes
   * consumed, or the store's errno as a typed error; `ENOENT`, `EISDIR` or `EACCES` before any
   * store runs. `current` is the writing task (`current` of the `write()` system call), which the
   * store runs in; null or left out for a write by no task of the model (the store then
   * allocates as a kernel thread of the node it prefers does).
   */
  write(path: string, text: string, current?: TaskStruct | null): Effect.Effect<number, ErrnoError>;
}

/**
 * The `store` return for a rejected value: `-EINVAL`, as a `kobj_attribute` store
 * (`include/linux/kobject.h`) returns it. A named constant of the model; the kernel writes
 * `return -EINVAL;` (`include/uapi/asm-generic/errno-base.h`).
 *
 * @category sysfs and procfs
 */
export const STORE_EINVAL = -ERRNO.EINVAL;
