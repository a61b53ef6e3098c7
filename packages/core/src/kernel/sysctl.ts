/**
 * Integer sysctls: how a write to a number file of `/proc/sys` is parsed.
 *
 * Models the write side of `proc_dointvec()`, `proc_dointvec_minmax()` and
 * `proc_doulongvec_minmax()` (`kernel/sysctl.c`, Linux 6.16) for a file that holds one value:
 * leading whitespace skipped, one number read by `proc_get_long()` (base 0, an optional `-`,
 * at most 20 characters, then whitespace or the end), the value converted and range checked,
 * trailing whitespace skipped, and what is left after that not consumed (a short write). Every
 * failure is `EINVAL`. The model's writes are all at file position 0 (each opens the file
 * afresh), so `sysctl_writes_strict` (`proc_first_pos_non_zero_ignore()`) never refuses one.
 *
 * @module
 */
import { type ErrnoError, errno } from "../errno";
import type { Attribute } from "../include/kernfs";
import { parseInteger, parseIntegerFixupRadix } from "../lib/kstrtox";

/**
 * A number a write to an integer sysctl parsed to, and the bytes of the write it consumed: what
 * the handler leaves in `*lenp`, and so what `write()` returns (an empty write parses to none,
 * null, and returns 0). Less than the bytes written when
 * something other than whitespace follows the number (`"1 2"` consumes 2 of 3 bytes). As in
 * Linux it is the bytes written less what was left of the first `PAGE_SIZE - 1` of them, so a
 * write of `PAGE_SIZE` bytes counts one more.
 *
 * @category sysfs and procfs
 */
export interface SysctlWrite<T> {
  /** The value parsed, converted and range checked. */
  readonly value: T;
  /** The bytes consumed, from 1 up to the bytes written. */
  readonly consumed: number;
}

/**
 * `TMPBUFLEN` (`kernel/sysctl.c`): `proc_get_long()` copies at most `TMPBUFLEN - 1` (21) bytes, and
 * refuses a number that, with its sign, fills them all.
 */
const TMPBUFLEN = 22;

/** `proc_wspace_sep[]` (`kernel/sysctl.c`): what may follow a number. */
const isWspaceSep = (c: string | undefined): boolean => c === " " || c === "\t" || c === "\n";

/**
 * `isspace()` (`include/linux/ctype.h`, `lib/ctype.c`) of a byte: space, `\t` `\n` `\v` `\f` `\r`,
 * and the Latin-1 no-break space 0xA0.
 */
const isSpace = (c: string | undefined): boolean =>
  c !== undefined && (c === " " || (c >= "\t" && c <= "\r") || c === "\u00a0");

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= "0" && c <= "9";

const utf8 = new TextEncoder();

/**
 * The kernel's copy of the write, one character per byte (`proc_sys_call_handler()`,
 * `fs/proc/proc_sysctl.c`): the text's UTF-8 bytes and, when `count` says the write went on past
 * them (the text stopped at a NUL), the NUL. What lies after a NUL stops every scan, so it is not
 * needed, only counted.
 */
const kernelBytes = (text: string, count: number): string => {
  const bytes = utf8.encode(text);
  let buf = "";
  for (const b of bytes) buf += String.fromCharCode(b);
  return bytes.length < count ? `${buf}\0` : buf;
};

/**
 * `proc_get_long()` (`kernel/sysctl.c`): the number at `buf[p]`, `size` bytes being left. Only
 * the first `TMPBUFLEN - 1` of them are looked at. A `-` (with more after it) makes it negative;
 * then a digit must come, and `strtoul_lenient()` reads base 0 (`0x10` is 16, `010` is 8), a
 * value past 64 bits failing. A number that fills all 21 characters fails (it might go on), and
 * so does one followed by anything but a space, tab or newline. Returns the magnitude, the sign
 * and the characters read, or why it failed.
 */
const procGetLong = (
  buf: string,
  p: number,
  size: number,
): { readonly val: bigint; readonly neg: boolean; readonly len: number } | string => {
  const tmp = buf.slice(p, p + Math.min(size, TMPBUFLEN - 1));
  const neg = tmp[0] === "-" && size > 1;
  const sign = neg ? 1 : 0;
  if (!isDigit(tmp[sign])) return "is not a number";
  const digits = tmp.slice(sign);
  const radix = parseIntegerFixupRadix(digits, 0);
  const { value, consumed, overflow } = parseInteger(digits, radix.start, radix.base);
  if (overflow) return "overflows 64 bits";
  const len = sign + radix.start + consumed;
  if (len === TMPBUFLEN - 1) return `runs to ${TMPBUFLEN - 1} characters`;
  if (len < size && !isWspaceSep(buf[p + len])) return "has characters after the number";
  return { val: value, neg, len };
};

/**
 * `__do_proc_dointvec()` and `__do_proc_doulongvec_minmax()` (`kernel/sysctl.c`) writing one
 * value: at most `PAGE_SIZE - 1` bytes are parsed; whitespace, one number, `conv` of it,
 * whitespace. `conv` returns the value or, as a string, why it is refused. An empty write is
 * null: both return 0 at once for `!*lenp`, leaving the value as it was.
 */
const procDoOneValue = <T extends number | bigint>(
  name: string,
  text: string,
  count: number,
  pageSize: number,
  conv: (neg: boolean, val: bigint) => T | string,
): SysctlWrite<T> | null | ErrnoError => {
  // `!*lenp`: nothing is parsed or stored, and the handler goes on with its data as it was.
  if (count === 0) return null;
  const fail = (why: string) => errno("EINVAL", `${name}: ${JSON.stringify(text)} ${why}`);
  const buf = kernelBytes(text, count);
  let left = Math.min(count, pageSize - 1);
  let p = 0;
  const skipSpaces = () => {
    while (left > 0 && isSpace(buf[p])) {
      p++;
      left--;
    }
  };
  skipSpaces();
  if (left === 0) return fail("holds no number");
  const got = procGetLong(buf, p, left);
  if (typeof got === "string") return fail(got);
  p += got.len;
  left -= got.len;
  const value = conv(got.neg, got.val);
  if (typeof value === "string") return fail(value);
  skipSpaces();
  return { value, consumed: count - left };
};

const INT_MAX = 0x7fff_ffffn;
const ULONG_MAX = 0xffff_ffff_ffff_ffffn;

/**
 * Models the write side of `proc_dointvec_minmax()` (`kernel/sysctl.c`, Linux 6.16) for a file of
 * one `int`, and of `proc_dointvec()` when neither bound is given (`extra1`, `extra2` NULL).
 *
 * `text` and `count` are the write as its store receives them (the bytes before the first NUL,
 * and the bytes written); `pageSize` is `PAGE_SIZE`, past which less one nothing is parsed.
 * Leading whitespace is skipped; the number is read in base 0 (`"0x10"` is 16, `"010"` is 8,
 * `"08"` fails), with an optional `-` and no `+`; it must be at most 20 characters and be
 * followed by a space, tab, newline or the end; a magnitude past `INT_MAX` (`INT_MAX + 1` when
 * negative) or a value outside `[min, max]` fails. Whitespace after it is consumed; anything
 * after that is not (`consumed` is less than `count`). Every failure is `EINVAL`, naming the
 * file and why. An empty write (`count` 0, which `proc_sys_call_handler()` passes on) is null:
 * `__do_proc_dointvec()` returns 0 for `!*lenp` with nothing parsed, and the handler then goes
 * on with the value it holds (the write returns 0).
 *
 * @example
 * ```ts
 * import { procDointvecMinmax } from "@migrate-offload/core";
 *
 * procDointvecMinmax("max_map_count", "0x10\n", 5, 4096, 0); // { value: 16, consumed: 5 }
 * procDointvecMinmax("max_map_count", "1 2", 3, 4096, 0); // { value: 1, consumed: 2 }
 * procDointvecMinmax("max_map_count", "+1", 2, 4096, 0); // EINVAL
 * ```
 * @category sysfs and procfs
 */
export const procDointvecMinmax = (
  name: string,
  text: string,
  count: number,
  pageSize: number,
  min?: number,
  max?: number,
): SysctlWrite<number> | null | ErrnoError =>
  procDoOneValue(name, text, count, pageSize, (neg, val) => {
    if (val > (neg ? INT_MAX + 1n : INT_MAX)) return "is out of int range";
    const v = Number(neg ? -val : val);
    if ((min !== undefined && v < min) || (max !== undefined && v > max)) {
      return `is outside ${min ?? "INT_MIN"}..${max ?? "INT_MAX"}`;
    }
    return v;
  });

/**
 * Models the write side of `proc_doulongvec_minmax()` (`kernel/sysctl.c`, Linux 6.16) for a file
 * of one `unsigned long` (64 bits), as {@link procDointvecMinmax} parses but for the value: a
 * negative number (`"-0"` included) fails, as does one past `ULONG_MAX` or outside `[min, max]`,
 * all `EINVAL`. The value is a bigint; an empty write is null, as there.
 *
 * @example
 * ```ts
 * import { procDoulongvecMinmax } from "@migrate-offload/core";
 *
 * procDoulongvecMinmax("nr_hugepages", "18446744073709551615", 20, 4096); // 2^64 - 1
 * procDoulongvecMinmax("nr_hugepages", "18446744073709551616", 20, 4096); // EINVAL
 * ```
 * @category sysfs and procfs
 */
export const procDoulongvecMinmax = (
  name: string,
  text: string,
  count: number,
  pageSize: number,
  min = 0n,
  max = ULONG_MAX,
): SysctlWrite<bigint> | null | ErrnoError =>
  procDoOneValue(name, text, count, pageSize, (neg, val) => {
    if (neg) return "is negative";
    if (val < min || val > max) return `is outside ${min}..${max}`;
    return val;
  });

/**
 * Options of {@link procDointvecEntry} and {@link procDoulongvecEntry}.
 *
 * @category sysfs and procfs
 */
export interface SysctlEntryOptions<T> {
  /** The least value the file takes (`extra1`); none for `proc_dointvec()`. */
  readonly min?: T;
  /** The greatest value the file takes (`extra2`). */
  readonly max?: T;
  /**
   * Runs after every write that parsed, an empty one included, once the value (if any) is set:
   * what a handler does beside storing it (`overcommit_ratio_handler()` zeroing
   * `overcommit_kbytes`, say).
   */
  readonly written?: () => void;
}

/**
 * A `/proc/sys` file of one `int` (`struct ctl_table` with `proc_dointvec_minmax()`, or
 * `proc_dointvec()` without bounds, `kernel/sysctl.c`), mode 0644, read as a decimal line:
 * `get` gives the value, `set` takes a parsed one ({@link procDointvecMinmax}: a refused write is
 * `EINVAL` and changes nothing; an empty one sets nothing).
 *
 * @example
 * ```ts
 * import { procDointvecEntry } from "@migrate-offload/core";
 *
 * let maxMapCount = 65530;
 * const entry = procDointvecEntry("max_map_count", 4096, () => maxMapCount, (v) => {
 *   maxMapCount = v;
 * }, { min: 0 });
 * entry.store?.("100\n", 4, null); // 4; maxMapCount is 100
 * ```
 * @category sysfs and procfs
 */
export const procDointvecEntry = (
  name: string,
  pageSize: number,
  get: () => number,
  set: (value: number) => void,
  options: SysctlEntryOptions<number> = {},
): Attribute =>
  sysctlEntry(get, set, options.written, (text, count) =>
    procDointvecMinmax(name, text, count, pageSize, options.min, options.max),
  );

/**
 * A `/proc/sys` file of one `unsigned long` (`proc_doulongvec_minmax()`, `kernel/sysctl.c`), as
 * {@link procDointvecEntry} for {@link procDoulongvecMinmax}'s values.
 *
 * @category sysfs and procfs
 */
export const procDoulongvecEntry = (
  name: string,
  pageSize: number,
  get: () => bigint,
  set: (value: bigint) => void,
  options: SysctlEntryOptions<bigint> = {},
): Attribute =>
  sysctlEntry(get, set, options.written, (text, count) =>
    procDoulongvecMinmax(name, text, count, pageSize, options.min, options.max),
  );

/** The 0644 entry both entry makers build around their parser. */
const sysctlEntry = <T>(
  get: () => T,
  set: (value: T) => void,
  written: (() => void) | undefined,
  parse: (text: string, count: number) => SysctlWrite<T> | null | ErrnoError,
): Attribute => ({
  mode: 0o644,
  show: () => `${get()}\n`,
  store: (text, count) => {
    const v = parse(text, count);
    if (v instanceof Error) return v;
    if (v) set(v.value);
    written?.();
    return v?.consumed ?? 0;
  },
});
