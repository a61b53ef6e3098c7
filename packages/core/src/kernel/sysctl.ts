/**
 * Integer sysctls.
 *
 * Models `proc_dointvec_minmax()` (`kernel/sysctl.c`): the parse every bounded integer file of
 * `/proc/sys` shares.
 *
 * @module
 */
import { type ErrnoError, errno } from "../errno";
import { kstrtoint } from "../lib/kstrtox";

/**
 * `proc_dointvec_minmax()` (`kernel/sysctl.c`): parses a decimal integer (surrounding blanks and
 * one newline allowed) and checks it is in `[min, max]`; `EINVAL`, naming the file, otherwise.
 *
 * @category sysfs and procfs
 */
export const procDointvecMinmax = (
  name: string,
  text: string,
  min: number,
  max: number,
): number | ErrnoError => {
  const v = kstrtoint(text.trim(), 10);
  if (v instanceof Error)
    return errno("EINVAL", `${name}: ${JSON.stringify(text)} is not an integer`);
  if (v < min || v > max) return errno("EINVAL", `${name}: ${v} is outside ${min}..${max}`);
  return v;
};
