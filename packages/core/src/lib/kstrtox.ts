/**
 * String-to-number parsing with the kernel's rules, used by every sysfs `store`.
 *
 * Models `lib/kstrtox.c`: `kstrtobool`, `kstrtouint`, `kstrtoint` and `kstrtoull`. Like the kernel,
 * a single trailing newline is accepted (what `echo` writes), a leading `+` is accepted, a leading
 * `-` is not for unsigned parsers, base 0 auto-detects `0x` (hex) and `0` (octal), junk gives
 * `EINVAL` and overflow gives `ERANGE`.
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

/** Parses an unsigned value of at most `max`; shared by the sized parsers below. */
const parseUnsigned = (
  what: string,
  input: string,
  base: number,
  max: bigint,
): bigint | ErrnoError => {
  let s = input.startsWith("+") ? input.slice(1) : input;
  if (base === 0) {
    if (s[0] === "0") base = s[1]?.toLowerCase() === "x" && isHexDigit(s[2]) ? 16 : 8;
    else base = 10;
  }
  if (base === 16 && s[0] === "0" && s[1]?.toLowerCase() === "x") s = s.slice(2);
  let value = 0n;
  let consumed = 0;
  const bigBase = BigInt(base);
  while (consumed < s.length) {
    const digit = digitValue(s[consumed]!);
    if (digit >= base) break;
    value = value * bigBase + BigInt(digit);
    consumed++;
  }
  if (consumed === 0) return errno("EINVAL", `${what}: ${JSON.stringify(input)} is not a number`);
  let rest = s.slice(consumed);
  if (rest.startsWith("\n")) rest = rest.slice(1);
  if (rest.length > 0) {
    return errno("EINVAL", `${what}: trailing characters in ${JSON.stringify(input)}`);
  }
  if (value > max) return errno("ERANGE", `${what}: ${JSON.stringify(input)} is out of range`);
  return value;
};

/**
 * Models `kstrtoull()` (`lib/kstrtox.c`): an unsigned 64-bit value, as a bigint.
 *
 * @category sysfs and procfs
 */
export const kstrtoull = (s: string, base = 0): bigint | ErrnoError =>
  parseUnsigned("kstrtoull", s, base, 0xffff_ffff_ffff_ffffn);

/** Models `kstrtouint()` (`lib/kstrtox.c`): an unsigned 32-bit value. @category sysfs and procfs */
export const kstrtouint = (s: string, base = 0): number | ErrnoError => {
  const v = parseUnsigned("kstrtouint", s, base, 0xffff_ffffn);
  return typeof v === "bigint" ? Number(v) : v;
};

/**
 * Models `kstrtoint()` (`lib/kstrtox.c`): a signed 32-bit value; a leading `-` is allowed.
 *
 * @category sysfs and procfs
 */
export const kstrtoint = (s: string, base = 0): number | ErrnoError => {
  const negative = s.startsWith("-");
  const v = parseUnsigned("kstrtoint", negative ? s.slice(1) : s, base, 0x8000_0000n);
  if (typeof v !== "bigint") return v;
  if (!negative && v > 0x7fff_ffffn) {
    return errno("ERANGE", `kstrtoint: ${JSON.stringify(s)} is out of range`);
  }
  return negative ? -Number(v) : Number(v);
};

/**
 * Models `kstrtobool()` (`lib/kstrtox.c`): the first character decides. `y Y t T 1 e E` (and `on`)
 * are true; `n N f F 0 d D` (and `off`) are false; anything else is `EINVAL`. The rest of the
 * string is ignored, as in the kernel, so `"yes"` and `"1\n"` are both true.
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
