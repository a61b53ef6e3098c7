/**
 * String-to-number parsing with the kernel's rules, used by every sysfs `store`.
 *
 * Models `lib/kstrtox.c`: `kstrtobool`, `kstrtouint`, `kstrtoint` and `kstrtoull`. Like the kernel,
 * a single trailing newline is accepted (what `echo` writes), one leading `+` is accepted, a
 * leading `-` is not for unsigned parsers, base 0 auto-detects `0x` (hex) and `0` (octal), junk
 * gives `EINVAL` and overflow gives `ERANGE` (a 64-bit overflow before any junk after it).
 *
 * @module
 */
import { type ErrnoError, errno } from "../errno";

const digitValue = (c: string): number => {
  const code = c.charCodeAt(0);
  if (code >= 48 && code <= 57) return code - 48;
  const lower = code | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return 99;
};

const isHexDigit = (c: string | undefined): boolean => c !== undefined && digitValue(c) < 16;

const U64_MAX = 0xffff_ffff_ffff_ffffn;

/**
 * Models `_parse_integer_fixup_radix()` (`lib/kstrtox.c`): base 0 becomes 16 when `s` starts with
 * `0x` (or `0X`) and a hex digit, 8 when it starts with another `0`, and 10 otherwise; with base
 * 16 a leading `0x` is skipped. Returns the base and the index in `s` the digits start at.
 */
export const parseIntegerFixupRadix = (
  s: string,
  base: number,
): { readonly base: number; readonly start: number } => {
  if (base === 0) {
    if (s[0] === "0") base = s[1]?.toLowerCase() === "x" && isHexDigit(s[2]) ? 16 : 8;
    else base = 10;
  }
  const prefixed = base === 16 && s[0] === "0" && s[1]?.toLowerCase() === "x";
  return { base, start: prefixed ? 2 : 0 };
};

/**
 * Models `_parse_integer()` (`lib/kstrtox.c`): the digits of `base` in `s` from `start` on, up to
 * the first character that is not one. `consumed` counts them (0: none); `overflow` is
 * `KSTRTOX_OVERFLOW`, the value having passed 64 bits on the way (the digits are still consumed).
 */
export const parseInteger = (
  s: string,
  start: number,
  base: number,
): { readonly value: bigint; readonly consumed: number; readonly overflow: boolean } => {
  let value = 0n;
  let consumed = 0;
  let overflow = false;
  const bigBase = BigInt(base);
  while (start + consumed < s.length) {
    const digit = digitValue(s[start + consumed]!);
    if (digit >= base) break;
    value = value * bigBase + BigInt(digit);
    if (value > U64_MAX) overflow = true;
    consumed++;
  }
  return { value, consumed, overflow };
};

/**
 * `_kstrtoull()` (`lib/kstrtox.c`): no sign; the radix from `_parse_integer_fixup_radix()`, the
 * digits by `_parse_integer()`, which flags an overflow of 64 bits as it goes. That overflow is
 * `ERANGE` before anything else is looked at; no digit is `EINVAL`; then one newline may follow
 * and nothing else.
 */
const parseU64 = (what: string, input: string, s: string, base: number): bigint | ErrnoError => {
  const radix = parseIntegerFixupRadix(s, base);
  const { value, consumed, overflow } = parseInteger(s, radix.start, radix.base);
  if (overflow) return errno("ERANGE", `${what}: ${JSON.stringify(input)} is out of range`);
  if (consumed === 0) return errno("EINVAL", `${what}: ${JSON.stringify(input)} is not a number`);
  let rest = s.slice(radix.start + consumed);
  if (rest.startsWith("\n")) rest = rest.slice(1);
  if (rest.length > 0) {
    return errno("EINVAL", `${what}: trailing characters in ${JSON.stringify(input)}`);
  }
  return value;
};

const outOfRange = (what: string, input: string): ErrnoError =>
  errno("ERANGE", `${what}: ${JSON.stringify(input)} is out of range`);

/** `kstrtoull()` under another name: one leading `+` skipped, then `_kstrtoull()`. */
const parseUnsigned = (what: string, s: string, base: number): bigint | ErrnoError =>
  parseU64(what, s, s[0] === "+" ? s.slice(1) : s, base);

/**
 * `kstrtoll()` (`lib/kstrtox.c`) under another name: a leading `-` and `_kstrtoull()` of the
 * rest (so no second sign), or `kstrtoull()`; `ERANGE` outside the signed 64-bit range.
 */
const parseSigned = (what: string, s: string, base: number): bigint | ErrnoError => {
  if (s[0] === "-") {
    const v = parseU64(what, s, s.slice(1), base);
    if (typeof v !== "bigint") return v;
    if (v > 0x8000_0000_0000_0000n) return outOfRange(what, s);
    return -v;
  }
  const v = parseUnsigned(what, s, base);
  if (typeof v !== "bigint") return v;
  if (v > 0x7fff_ffff_ffff_ffffn) return outOfRange(what, s);
  return v;
};

/**
 * Models `kstrtoull()` (`lib/kstrtox.c`): an unsigned 64-bit value, as a bigint. One leading `+`
 * is skipped; a 64-bit overflow is `ERANGE` even when junk follows it.
 *
 * @category sysfs and procfs
 */
export const kstrtoull = (s: string, base = 0): bigint | ErrnoError =>
  parseUnsigned("kstrtoull", s, base);

/**
 * Models `kstrtouint()` (`lib/kstrtox.c`): `kstrtoull()`, then `ERANGE` past 32 bits.
 *
 * @category sysfs and procfs
 */
export const kstrtouint = (s: string, base = 0): number | ErrnoError => {
  const v = parseUnsigned("kstrtouint", s, base);
  if (typeof v !== "bigint") return v;
  return v > 0xffff_ffffn ? outOfRange("kstrtouint", s) : Number(v);
};

/**
 * Models `kstrtoint()` (`lib/kstrtox.c`): `kstrtoll()`, then `ERANGE` outside the signed 32-bit
 * range. One leading `-` or `+` is allowed, and only in first position.
 *
 * @category sysfs and procfs
 */
export const kstrtoint = (s: string, base = 0): number | ErrnoError => {
  const v = parseSigned("kstrtoint", s, base);
  if (typeof v !== "bigint") return v;
  return v < -0x8000_0000n || v > 0x7fff_ffffn ? outOfRange("kstrtoint", s) : Number(v);
};

/**
 * Models `kstrtobool()` (`lib/kstrtox.c`, as mainline has it since the `true`/`false` and
 * `enabled`/`disabled` letters were added; older trees accept only `y Y 1 n N 0` and `on`/`off`):
 * the first character decides. `y Y t T 1 e E` are true; `n N f F 0 d D` are false; `o` or `O`
 * is decided by the second character, `n`/`N` true (`on`) and `f`/`F` false (`off`); anything
 * else is `EINVAL`. The rest of the string is ignored, as in the kernel, so `"yes"` and `"1\n"`
 * are both true.
 *
 * @category sysfs and procfs
 */
export const kstrtobool = (s: string): boolean | ErrnoError => {
  switch (s[0]) {
    case "y":
    case "Y":
    case "t":
    case "T":
    case "e":
    case "E":
    case "1":
      return true;
    case "n":
    case "N":
    case "f":
    case "F":
    case "d":
    case "D":
    case "0":
      return false;
    case "o":
    case "O":
      if (s[1] === "n" || s[1] === "N") return true;
      if (s[1] === "f" || s[1] === "F") return false;
      break;
  }
  return errno("EINVAL", `kstrtobool: ${JSON.stringify(s)} is not a boolean`);
};

/**
 * Models `sysfs_streq()` (`lib/string.c`): equal, ignoring one trailing newline on either side.
 * Sysfs stores that take a keyword (`always`, `never`, a migrator name) compare with it.
 *
 * @category sysfs and procfs
 */
export const sysfsStreq = (a: string, b: string): boolean =>
  (a.endsWith("\n") ? a.slice(0, -1) : a) === (b.endsWith("\n") ? b.slice(0, -1) : b);
