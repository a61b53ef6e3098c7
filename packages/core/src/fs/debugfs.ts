/**
 * debugfs attribute files.
 *
 * Models `DEFINE_DEBUGFS_ATTRIBUTE()` (`include/linux/debugfs.h`) and `debugfs_create_u32()`
 * (`fs/debugfs/file.c`, Linux 6.16): a file that shows one number (`"%llu\n"`) and is written
 * through `debugfs_attr_write()` → `simple_attr_write()` (`fs/libfs.c`, {@link simpleAttrWrite}),
 * not through the sysfs write path.
 *
 * @module
 */
import type { ErrnoError } from "../errno";
import type { Attribute, KernfsRoot } from "../include/kernfs";

/**
 * `DEBUGFS_DEFAULT_MODE` (`fs/debugfs/inode.c`, Linux 6.16): the mode of debugfs's root
 * directory, 0700, so only root (or a task with `CAP_DAC_READ_SEARCH` or `CAP_DAC_OVERRIDE`) can
 * walk into it, whatever its files' own modes say.
 */
const DEBUGFS_DEFAULT_MODE = 0o700;

/**
 * Mounts debugfs at `/sys/kernel/debug` (`debugfs_init()` with the mount point sysfs makes,
 * `fs/debugfs/inode.c`): the directory, root-owned, with mode `DEBUGFS_DEFAULT_MODE` (0700).
 *
 * @category sysfs and procfs
 */
export const debugfsInit = (fs: KernfsRoot): void => {
  fs.mkdir("/sys/kernel/debug").mode = DEBUGFS_DEFAULT_MODE;
};

/**
 * `DEFINE_DEBUGFS_ATTRIBUTE(fops, get, set, "%llu\n")` as `debugfs_create_file_unsafe()` creates
 * it with mode 0644: reading shows `get()`; a write is parsed by `simple_attr_write()`
 * ({@link simpleAttrWrite}) and handed to `set`, which returns 0 or the errno of a value it
 * refuses, changing nothing then.
 *
 * @category sysfs and procfs
 */
export const debugfsAttribute = (
  get: () => number | bigint,
  set: (val: bigint) => 0 | ErrnoError,
): Attribute => ({ mode: 0o644, show: () => `${get()}\n`, set });

/**
 * `debugfs_create_u32()` (`fs/debugfs/file.c`) with mode 0644: a {@link debugfsAttribute} whose
 * `set` (`debugfs_u32_set()`) keeps any `kstrtoull()` value, cut to its low 32 bits.
 *
 * @category sysfs and procfs
 */
export const debugfsCreateU32 = (get: () => number, set: (val: number) => void): Attribute =>
  debugfsAttribute(get, (val) => {
    set(Number(val & 0xffff_ffffn));
    return 0;
  });
