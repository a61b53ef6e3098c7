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
import { type ErrnoError, errno, errnoName, syscall } from "../errno";
import { type Attribute, type KernfsRoot, KObject } from "../include/kernfs";
import { callEffect, formatThrown, formatValue, isCallbackBug } from "../lib/bug";

const split = (path: string): string[] => path.split("/").filter((p) => p.length > 0);

/** `EFAULT`: an argument the kernel cannot read, as `copy_from_user()` fails on a bad pointer. */
const badPointer = (what: string, value: unknown): ErrnoError =>
  errno("EFAULT", `the ${what} must be a string, not ${formatValue(value)}`);

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
 * Calls an attribute's `store` as the boundary it is (`sysfs_kf_write()` calling a driver's
 * `store`, `fs/sysfs/file.c`): nothing it throws or returns escapes as anything but an errno.
 */
const callStore = (
  path: string,
  attr: Attribute,
  text: string,
): Effect.Effect<number, ErrnoError> =>
  Effect.suspend(() => {
    let result: unknown;
    try {
      result = attr.store!(text);
    } catch (thrown) {
      return Effect.fail(errno("EIO", `${path}: store threw ${formatThrown(thrown)}`));
    }
    if (!Effect.isEffect(result)) return storeResult(path, result);
    return callEffect("store", () => result).pipe(
      Effect.mapError((error) =>
        errno(
          "EIO",
          `${path}: ${isCallbackBug(error) ? error.reason : `store's Effect failed with ${formatThrown(error)}`}`,
        ),
      ),
      Effect.flatMap((value) => storeResult(path, value)),
    );
  });

/**
 * One kernel's pseudo filesystems, rooted at `/` with `/sys` and `/proc` beneath. Each kernel has
 * its own; two kernels never see each other's files.
 */
export class KernFs implements KernfsRoot {
  /** The root directory. */
  readonly root = new KObject("", null);

  private lookupDir(parts: readonly string[]): KObject | undefined {
    let dir: KObject | undefined = this.root;
    for (const part of parts) {
      dir = dir.children.get(part);
      if (!dir) return undefined;
    }
    return dir;
  }

  /** Creates a directory and any missing parents (`kobject_create_and_add`); returns it. */
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

  /** Adds attribute files to a directory, creating it if needed (`sysfs_create_group`). */
  addAttributes(dirPath: string, attributes: Record<string, Attribute>): KObject {
    const dir = this.mkdir(dirPath);
    for (const [name, attr] of Object.entries(attributes)) dir.attributes.set(name, attr);
    return dir;
  }

  /** Removes a directory and everything below it (`kobject_put` of the last reference). */
  remove(path: string): boolean {
    const parts = split(path);
    const dir = this.lookupDir(parts);
    if (!dir?.parent) return false;
    return dir.parent.children.delete(parts.at(-1)!);
  }

  /** True when `path` names a file or directory. */
  exists(path: string): boolean {
    const parts = split(path);
    if (this.lookupDir(parts)) return true;
    return this.lookupDir(parts.slice(0, -1))?.attributes.has(parts.at(-1)!) ?? false;
  }

  /** Names in a directory, subdirectories and files together, sorted (`readdir`). */
  list(path: string): Effect.Effect<string[], ErrnoError> {
    return syscall(() => {
      if (typeof path !== "string") return badPointer("path", path);
      const dir = this.lookupDir(split(path));
      if (!dir) return this.missing(path, "list");
      return [...dir.children.keys(), ...dir.attributes.keys()].sort();
    });
  }

  private missing(path: string, op: string): ErrnoError {
    const parts = split(path);
    const parent = this.lookupDir(parts.slice(0, -1));
    if (parent?.attributes.has(parts.at(-1)!) && op === "list") {
      return errno("ENOTDIR", `${path}: not a directory`);
    }
    return errno("ENOENT", `${path}: no such file or directory`);
  }

  private lookupAttribute(path: string, op: "read" | "write"): Attribute | ErrnoError {
    const parts = split(path);
    if (this.lookupDir(parts)) return errno("EISDIR", `${path}: is a directory`);
    const attr = this.lookupDir(parts.slice(0, -1))?.attributes.get(parts.at(-1)!);
    if (!attr) return this.missing(path, op);
    const allowed =
      op === "read" ? attr.mode & 0o444 && attr.show : attr.mode & 0o222 && attr.store;
    if (!allowed) return errno("EACCES", `${path}: permission denied (${op})`);
    return attr;
  }

  /**
   * Reads a file: the attribute's `show` text. `EFAULT` for a path that is not a string; `EIO`
   * when `show` throws or returns something that is not a string.
   */
  read(path: string): Effect.Effect<string, ErrnoError> {
    return syscall(() => {
      if (typeof path !== "string") return badPointer("path", path);
      const attr = this.lookupAttribute(path, "read");
      if (attr instanceof Error) return attr;
      let text: unknown;
      try {
        text = attr.show!();
      } catch (thrown) {
        return errno("EIO", `${path}: show threw ${formatThrown(thrown)}`);
      }
      if (typeof text === "string") return text;
      return errno("EIO", `${path}: show returned ${formatValue(text)}, not text`);
    });
  }

  /**
   * Writes a file: the attribute's `store`. Succeeds with the byte count it returned, or fails
   * with the errno it returned, naming the file and the value. `EFAULT` for a path or text that
   * is not a string, as a write from a bad buffer is. The store is the driver's code: one that
   * throws, returns something that is neither a number nor an Effect, or whose Effect fails or
   * dies, fails the write with `EIO`, naming what it did.
   */
  write(path: string, text: string): Effect.Effect<number, ErrnoError> {
    return syscall(() => {
      if (typeof path !== "string") return badPointer("path", path);
      if (typeof text !== "string") return badPointer("text", text);
      return this.lookupAttribute(path, "write");
    }).pipe(
      Effect.flatMap((attr) => callStore(path, attr, text)),
      Effect.flatMap((result) => {
        if (result >= 0) return Effect.succeed(result);
        const name = errnoName(result) ?? "EINVAL";
        return Effect.fail(errno(name, `${path}: cannot write ${JSON.stringify(text)} (${name})`));
      }),
    );
  }
}
