/**
 * The sysfs and procfs trees: directories (kobjects) holding attribute files.
 *
 * Models `fs/kernfs/`, `fs/sysfs/` and `lib/kobject.c` as user space sees them. An attribute has
 * a `show` that returns text ending in a newline and a `store` that returns the number of bytes
 * it consumed or a negative errno, exactly as `struct kobj_attribute` callbacks do. Reading a
 * write-only file fails with `EACCES`, as does writing a read-only one; a missing path is
 * `ENOENT`; a directory is `EISDIR`.
 *
 * @module
 */

import { Effect } from "effect";
import { type ErrnoError, errno, errnoName, isErrnoError, syscall } from "../errno";
import { type Attribute, type KernfsRoot, KObject } from "../include/kernfs";
import type { TaskStruct } from "../include/sched";
import { fatalSignalPending, killedError } from "../include/signal";
import { callEffect, formatThrown, formatValue, isCallbackBug } from "../lib/bug";
import { simpleAttrWrite } from "./libfs";
import { genericPermission } from "./namei";
import { sysctlPerm } from "./proc_sysctl";

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/**
 * What `kernfs_fop_write_iter()` (`fs/kernfs/file.c`) makes of a write before `sysfs_kf_write()`
 * (`fs/sysfs/file.c`) hands it to a store: the text's UTF-8 bytes, cut to `pageSize` (`len =
 * min(len, PAGE_SIZE)`, a sysfs file having no `atomic_write_len`), copied and NUL-terminated
 * (`buf[len] = '\0'`). `count` is that byte count; `text` is the buffer as the C string every
 * store parses it as (`kstrto*()`, `sysfs_streq()`): the bytes up to the first NUL. With an
 * infinite `pageSize` it is `proc_sys_call_handler()`'s copy (`fs/proc/proc_sysctl.c`): every
 * byte written, NUL-terminated.
 */
const kernelBuffer = (text: string, pageSize: number): { text: string; count: number } => {
  const bytes = utf8.encode(text);
  const count = Math.min(bytes.length, pageSize);
  const nul = bytes.subarray(0, count).indexOf(0);
  return { text: fromUtf8.decode(bytes.subarray(0, nul < 0 ? count : nul)), count };
};

const split = (path: string): string[] => path.split("/").filter((p) => p.length > 0);

/** `EFAULT`: an argument the kernel cannot read, as `copy_from_user()` fails on a bad pointer. */
const badPointer = (what: string, value: unknown): ErrnoError =>
  errno("EFAULT", `the ${what} must be a string, not ${formatValue(value)}`);

/**
 * A write's arguments as the kernel meets them before any file's code runs: `EFAULT` for a path
 * or text that is not a string (a bad buffer), `ESRCH` for a writer that has exited or has
 * `SIGKILL` pending; null when they are good.
 */
const writeArgs = (path: string, text: string, current: TaskStruct | null): ErrnoError | null => {
  if (typeof path !== "string") return badPointer("path", path);
  if (typeof text !== "string") return badPointer("text", text);
  if (current?.exited) return errno("ESRCH", `${path}: the writing task ${current.pid} has exited`);
  // A writer with SIGKILL pending is inside another call of its own, dying: it writes nothing.
  if (current && fatalSignalPending(current)) return killedError(current);
  return null;
};

/** The byte count or negative errno a `store` returned, or `EIO` for anything else. */
const storeResult = (path: string, value: unknown): Effect.Effect<number, ErrnoError> =>
  typeof value === "number" && Number.isInteger(value)
    ? Effect.succeed(value)
    : Effect.fail(
        errno(
          "EIO",
          `${path}: store returned ${formatValue(value)}, not a byte count or a negative errno`,
        ),
      );

/**
 * Runs a `store`, the driver's code, as a boundary: one that throws, returns something that is
 * neither a number nor an Effect, or whose Effect dies or fails with anything but an errno error
 * fails the write with `EIO`, naming what it did. An errno error it fails with on purpose (the
 * file a copy thread could not start from, say) reaches the writer as it is. `text` and `count`
 * are the buffer and byte count `sysfs_kf_write()` (`fs/sysfs/file.c`) passes to `->store()`.
 */
const callStore = (
  path: string,
  store: NonNullable<Attribute["store"]>,
  text: string,
  count: number,
  current: TaskStruct | null,
): Effect.Effect<number, ErrnoError> =>
  Effect.suspend(() => {
    let result: unknown;
    try {
      result = store(text, count, current);
    } catch (thrown) {
      return Effect.fail(errno("EIO", `${path}: store threw ${formatThrown(thrown)}`));
    }
    if (!Effect.isEffect(result)) return storeResult(path, result);
    return callEffect("store", () => result).pipe(
      Effect.mapError((error) =>
        isErrnoError(error)
          ? error
          : errno(
              "EIO",
              `${path}: ${isCallbackBug(error) ? error.reason : `store's Effect failed with ${formatThrown(error)}`}`,
            ),
      ),
      Effect.flatMap((value) => storeResult(path, value)),
    );
  });

/**
 * One kernel's pseudo filesystems, rooted at `/` with `/sys` and `/proc` beneath. Each kernel has
 * its own; two kernels never see each other's files. Models kernfs (`fs/kernfs/dir.c`,
 * `fs/kernfs/file.c`) with sysfs (`fs/sysfs/`) and the kobject calls of `lib/kobject.c`.
 *
 * @category sysfs and procfs
 */
export class KernFs implements KernfsRoot {
  /** The root directory. */
  readonly root = new KObject("", null);

  /**
   * @param enter wraps each user-space operation (`read`, `write`, `list`) as a system call of the
   *   kernel the tree belongs to, so that it counts in flight and fails once the kernel has shut
   *   down; by default the operation just runs.
   * @param pageSize the kernel's `PAGE_SIZE`: the most bytes a write hands a store
   *   (`kernfs_fop_write_iter()`, `fs/kernfs/file.c`); 4096 by default.
   * @param kmallocMaxSize `KMALLOC_MAX_SIZE` in bytes (`include/linux/slab.h`: `PAGE_SIZE <<
   *   MAX_PAGE_ORDER`): a write to `/proc/sys` of this many bytes or more is refused with `ENOMEM`
   *   (`proc_sys_call_handler()` cannot allocate its copy); 4 MiB by default.
   */
  constructor(
    private readonly enter: <A>(
      op: string,
      effect: Effect.Effect<A, ErrnoError>,
    ) => Effect.Effect<A, ErrnoError> = (_op, effect) => effect,
    readonly pageSize = 4096,
    readonly kmallocMaxSize = 4096 << 10,
  ) {}

  /** Removes everything below the root (at kernel shutdown). */
  clear(): void {
    this.root.children.clear();
    this.root.attributes.clear();
  }

  private lookupDir(parts: readonly string[]): KObject | undefined {
    let dir: KObject | undefined = this.root;
    for (const part of parts) {
      dir = dir.children.get(part);
      if (!dir) return undefined;
    }
    return dir;
  }

  /** The attribute file `parts` names: in the directory of all but the last part; none for `/`. */
  private lookupFile(parts: readonly string[]): Attribute | undefined {
    const name = parts.at(-1);
    return name === undefined
      ? undefined
      : this.lookupDir(parts.slice(0, -1))?.attributes.get(name);
  }

  /**
   * Creates a directory and any missing parents (`kobject_create_and_add()`, `lib/kobject.c`);
   * returns it.
   */
  mkdir(path: string): KObject {
    let dir = this.root;
    for (const part of split(path)) {
      let child = dir.children.get(part);
      if (!child) {
        child = new KObject(part, dir);
        dir.children.set(part, child);
      }
      dir = child;
    }
    return dir;
  }

  /**
   * Adds attribute files to a directory, creating it if needed (`sysfs_create_group()`,
   * `fs/sysfs/group.c`).
   */
  addAttributes(dirPath: string, attributes: Record<string, Attribute>): KObject {
    const dir = this.mkdir(dirPath);
    for (const [name, attr] of Object.entries(attributes)) dir.attributes.set(name, attr);
    return dir;
  }

  /**
   * Adds a sysctl table (`register_sysctl()`, `fs/proc/proc_sysctl.c`): each entry becomes a file
   * of `/proc/sys/<path>` marked as a table entry (`sysctl: true`), which {@link KernFs.read} and
   * {@link KernFs.write} then treat as `proc_sys_call_handler()` does.
   */
  registerSysctl(path: string, table: Record<string, Attribute>): KObject {
    const entries: Record<string, Attribute> = {};
    for (const [name, attr] of Object.entries(table)) entries[name] = { ...attr, sysctl: true };
    return this.addAttributes(`/proc/sys/${path}`, entries);
  }

  /**
   * Removes a directory and everything below it (`kobject_put()` of the last reference,
   * `lib/kobject.c`).
   */
  remove(path: string): boolean {
    const dir = this.lookupDir(split(path));
    if (!dir?.parent) return false;
    return dir.parent.children.delete(dir.name);
  }

  /** True when `path` names a file or directory. */
  exists(path: string): boolean {
    const parts = split(path);
    return this.lookupDir(parts) !== undefined || this.lookupFile(parts) !== undefined;
  }

  /**
   * Names in a directory, subdirectories and files together, sorted: `open(path, O_RDONLY |
   * O_DIRECTORY)` then `getdents64()` (`kernfs_fop_readdir()`, `fs/kernfs/dir.c`), as `ls` lists
   * it. The open checks what Linux 6.16's does (`fs/namei.c`): the search bit of each directory
   * on the way (`may_lookup()`: `MAY_EXEC`), then `may_open()`'s `MAY_READ` on the directory
   * itself; both by `generic_permission()` on the root-owned inode against `current` (the bits of
   * its class, else `CAP_DAC_OVERRIDE` or `CAP_DAC_READ_SEARCH`). So a user lists neither
   * debugfs's 0700 root nor anything below it. `EACCES` names the directory refused; `current`
   * null or left out is a listing by no task of the model, which is root's.
   */
  list(path: string, current: TaskStruct | null = null): Effect.Effect<string[], ErrnoError> {
    return this.enter(
      "readdir",
      syscall(() => {
        if (typeof path !== "string") return badPointer("path", path);
        const parts = split(path);
        const dir = this.lookupDir(parts);
        if (!dir) return this.missing(path, "list");
        const denied =
          this.mayLookup(parts, current) ??
          genericPermission(dir.path || "/", dir.mode, "read", current);
        if (denied) return denied;
        return [...dir.children.keys(), ...dir.attributes.keys()].sort();
      }),
    );
  }

  private missing(path: string, op: string): ErrnoError {
    if (op === "list" && this.lookupFile(split(path))) {
      return errno("ENOTDIR", `${path}: not a directory`);
    }
    return errno("ENOENT", `${path}: no such file or directory`);
  }

  /**
   * `may_lookup()` (`fs/namei.c`) for each directory a walk to the file `parts` names passes:
   * `generic_permission()` with `MAY_EXEC` on the root-owned directory (`KObject.mode`), so a
   * task that may not search debugfs's 0700 mount root reaches none of its files. Null when
   * every step is allowed.
   */
  private mayLookup(parts: readonly string[], current: TaskStruct | null): ErrnoError | null {
    let dir: KObject | undefined = this.root;
    for (const part of parts.slice(0, -1)) {
      dir = dir.children.get(part)!;
      const denied = genericPermission(dir.path, dir.mode, "search", current);
      if (denied) return denied;
    }
    return null;
  }

  /**
   * The file at `path`, if its `show` (for a read) or `store` (for a write) may be called by
   * `current`: by `generic_permission()` on the root-owned inode (`genericPermission()`,
   * `fs/namei.c`: the bits of the task's class, or `CAP_DAC_OVERRIDE` / `CAP_DAC_READ_SEARCH`),
   * then by `kernfs_fop_open()`'s test that the mode grants the access to someone and the file
   * has the handler (`fs/kernfs/file.c`); or for a `/proc/sys` table entry by `sysctlPerm()`
   * (`proc_sys_permission()`, `fs/proc/proc_sysctl.c`).
   */
  private lookupHandler(
    path: string,
    handler: "show" | "store",
    current: TaskStruct | null,
  ): Attribute | ErrnoError {
    const parts = split(path);
    const op = handler === "show" ? "read" : "write";
    if (this.lookupDir(parts)) return errno("EISDIR", `${path}: is a directory`);
    const attr = this.lookupFile(parts);
    if (!attr) return this.missing(path, op);
    const walk = this.mayLookup(parts, current);
    if (walk) return walk;
    const call = attr[handler];
    if (attr.sysctl && call) return sysctlPerm(path, attr.mode, op, current) ?? attr;
    // may_open(): generic_permission() first, then kernfs_fop_open()'s own test.
    const denied = genericPermission(path, attr.mode, op, current, attr.owner?.());
    if (denied) return denied;
    if (!(attr.mode & (handler === "show" ? 0o444 : 0o222)) || !call)
      return errno("EACCES", `${path}: permission denied (${op})`);
    return attr;
  }

  /**
   * Reads a file: the attribute's `show` text (`kernfs_fop_read_iter()`, `fs/kernfs/file.c`).
   * `EFAULT` for a path that is not a string; `EIO` when `show` throws or returns something that
   * is not a string. A `/proc/sys` table entry is read as `proc_sys_call_handler()`
   * (`fs/proc/proc_sysctl.c`) reads it: `EACCES` unless the reader's effective ids allow it by the
   * file's mode (`sysctl_perm()` with `MAY_READ`, root held to the owner's bits). `current` is
   * the reading task; null for a read by no task of the model, which is root's.
   */
  read(path: string, current: TaskStruct | null = null): Effect.Effect<string, ErrnoError> {
    return this.enter(
      "read",
      syscall(() => {
        if (typeof path !== "string") return badPointer("path", path);
        const attr = this.lookupHandler(path, "show", current);
        if (attr instanceof Error) return attr;
        let text: unknown;
        try {
          text = attr.show!();
        } catch (thrown) {
          return errno("EIO", `${path}: show threw ${formatThrown(thrown)}`);
        }
        if (typeof text === "string") return text;
        return errno("EIO", `${path}: show returned ${formatValue(text)}, not text`);
      }),
    );
  }

  /**
   * Writes a file: the attribute's `store` (`kernfs_fop_write_iter()`, `fs/kernfs/file.c`, then
   * `sysfs_kf_write()`, `fs/sysfs/file.c`). A `/proc/sys` table entry is written as
   * `proc_sys_call_handler()` (`fs/proc/proc_sysctl.c`) writes it instead: `EACCES` unless the
   * writer's effective ids allow it by the file's mode (`sysctl_perm()`, root held to the owner's
   * bits), the whole byte count reaches the store (no cut to `pageSize`), and an empty write
   * calls it too. The text is written as UTF-8 bytes; at most
   * `pageSize` of them reach the store, NUL-terminated, so a store parses the bytes before the
   * first NUL and is told the whole count. A zero-length write to a sysfs file succeeds with 0
   * without calling the store. Succeeds with the byte count the store returned, or fails with the errno it returned,
   * naming the file and the value. `EFAULT` for a path or text that is not a string, as a write
   * from a bad buffer is; a broken store is `EIO` (see `callStore`). `ENOENT`, `EISDIR` and
   * `EACCES` come first, as `open()` gives them, even for a zero-length write. `current` is the
   * writing task, which the store runs in; `ESRCH` when it has exited or has `SIGKILL` pending.
   */
  write(
    path: string,
    text: string,
    current: TaskStruct | null = null,
  ): Effect.Effect<number, ErrnoError> {
    const attr = typeof path === "string" ? this.lookupFile(split(path)) : undefined;
    if (attr?.set && !this.lookupDir(split(path))) {
      return this.enter("write", this.simpleAttrStore(path, attr, text, current));
    }
    return this.enter("write", this.store(path, text, current));
  }

  /**
   * A write to a debugfs attribute file (`debugfs_attr_write()`, `fs/debugfs/file.c`): not the
   * sysfs path, but `simple_attr_write()` ({@link simpleAttrWrite}), so an empty write is
   * `EINVAL` and a long one is parsed from its first 23 bytes and counted whole. `EFAULT`,
   * `ESRCH` and `EACCES` as for any write.
   */
  private simpleAttrStore(
    path: string,
    attr: Attribute,
    text: string,
    current: TaskStruct | null,
  ): Effect.Effect<number, ErrnoError> {
    return syscall(() => {
      const bad = writeArgs(path, text, current);
      if (bad) return bad;
      const denied =
        this.mayLookup(split(path), current) ??
        genericPermission(path, attr.mode, "write", current, attr.owner?.());
      if (denied) return denied;
      if (!(attr.mode & 0o222)) return errno("EACCES", `${path}: permission denied (write)`);
      return simpleAttrWrite(path, attr.set!, text);
    });
  }

  /**
   * A write through a store: sysfs's (`kernfs_fop_write_iter()`, `sysfs_kf_write()`), or for a
   * `/proc/sys` table entry `proc_sys_call_handler()` (`fs/proc/proc_sysctl.c`), whose handler is
   * the store: the writer must pass `sysctlPerm()` (`EACCES`), and the store is given the whole
   * count, not cut to `PAGE_SIZE`, and is called for an empty write too; so is a procfs file's
   * `proc_write` (`Attribute.procWrite`, `proc_reg_write()`).
   */
  private store(
    path: string,
    text: string,
    current: TaskStruct | null,
  ): Effect.Effect<number, ErrnoError> {
    return syscall(
      () => writeArgs(path, text, current) ?? this.lookupHandler(path, "store", current),
    ).pipe(
      Effect.flatMap((attr) => {
        const sysctl = attr.sysctl === true;
        const whole = sysctl || attr.procWrite === true;
        const buf = kernelBuffer(text, whole ? Number.POSITIVE_INFINITY : this.pageSize);
        // proc_sys_call_handler(): "don't even try if the size is too large".
        if (sysctl && buf.count >= this.kmallocMaxSize) {
          return Effect.fail(
            errno(
              "ENOMEM",
              `${path}: a write of ${buf.count} bytes is KMALLOC_MAX_SIZE (${this.kmallocMaxSize}) or more`,
            ),
          );
        }
        // sysfs_kf_write(): `if (!count) return 0;`, before the store.
        if (buf.count === 0 && !whole) return Effect.succeed(0);
        return callStore(path, attr.store!, buf.text, buf.count, current).pipe(
          Effect.flatMap((result) => {
            if (result >= 0) return Effect.succeed(result);
            const name = errnoName(result) ?? "EINVAL";
            return Effect.fail(
              errno(name, `${path}: cannot write ${JSON.stringify(buf.text)} (${name})`),
            );
          }),
        );
      }),
    );
  }
}
