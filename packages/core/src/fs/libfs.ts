/**
 * The helpers simple filesystems share.
 *
 * Models `simple_attr_write()` of `fs/libfs.c` (Linux 6.16): how a write to a debugfs attribute
 * file (`DEFINE_DEBUGFS_ATTRIBUTE()`, `debugfs_create_u32()`; `debugfs_attr_write()`,
 * `fs/debugfs/file.c`) reaches its `set` callback. Unlike a sysfs write
 * (`sysfs_kf_write()`), an empty write is not skipped, and only a 24-byte buffer's worth is read.
 *
 * @module
 */
import { type ErrnoError, errno } from "../errno";
import { kstrtoull } from "../lib/kstrtox";

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/**
 * The size of `struct simple_attr`'s `set_buf` (`fs/libfs.c`): 24 bytes, "enough to store a u64
 * and \n\0"; a write is cut to one byte less.
 *
 * @category sysfs and procfs
 */
export const SIMPLE_ATTR_BUF_SIZE = 24;

/**
 * `simple_attr_write()` (`fs/libfs.c`, Linux 6.16) for the file `path`: copies at most the first
 * 23 bytes of `text` (its UTF-8 bytes) into the NUL-terminated `set_buf`, parses the C string
 * there with `kstrtoull()` base 0 (one trailing newline allowed; `EINVAL` for junk or nothing at
 * all, so an empty write is `EINVAL`; `ERANGE` past 64 bits), then calls `set` with the value.
 * Returns the whole write's byte count on success ("claim we got the whole input"), however much
 * was parsed, or the errno of the parse or of `set`, which changes nothing when it fails.
 *
 * @category sysfs and procfs
 */
export const simpleAttrWrite = (
  path: string,
  set: (val: bigint) => 0 | ErrnoError,
  text: string,
): number | ErrnoError => {
  const bytes = utf8.encode(text);
  const buf = bytes.subarray(0, Math.min(SIMPLE_ATTR_BUF_SIZE - 1, bytes.length));
  const nul = buf.indexOf(0);
  const str = fromUtf8.decode(nul < 0 ? buf : buf.subarray(0, nul));
  const val = kstrtoull(str);
  if (typeof val !== "bigint") {
    return errno(val.errno, `${path}: cannot write ${JSON.stringify(str)}: ${val.message}`);
  }
  const done = set(val);
  return done === 0 ? bytes.length : done;
};
