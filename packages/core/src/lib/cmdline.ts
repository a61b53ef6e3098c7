/**
 * Parsing sizes given on the command line.
 *
 * Models `memparse()` of `lib/cmdline.c`: a number with an optional binary suffix.
 *
 * @module
 */
import { type ErrnoError, errno } from "../errno";

/**
 * A size in bytes, or a string such as `"512M"`, `"2G"`, `"64KiB"`: what `memparse()`
 * (`lib/cmdline.c`) reads from a boot parameter such as `mem=`.
 *
 * @category Kernel
 */
export type Size = number | string;

const UNITS: Record<string, number> = { "": 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/**
 * Parses a size (`memparse()`, `lib/cmdline.c`): a number of bytes, or `"<n>[K|M|G|T][i][B]"`.
 * `EINVAL` for anything else.
 *
 * @example
 * ```ts
 * import { parseSize } from "@migrate-offload/core";
 *
 * console.log(parseSize("2M")); // 2097152
 * console.log(parseSize("1GiB")); // 1073741824
 * ```
 *
 * @category Kernel
 */
export const parseSize = (size: Size): number | ErrnoError => {
  if (typeof size === "number") {
    return Number.isSafeInteger(size) && size >= 0 ? size : errno("EINVAL", `bad size ${size}`);
  }
  if (typeof size !== "string") return errno("EINVAL", `bad size ${String(size)}`);
  const match = /^\s*(\d+)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(size);
  if (!match) return errno("EINVAL", `bad size ${JSON.stringify(size)}`);
  return Number(match[1]) * UNITS[match[2]!.toUpperCase()]!;
};
