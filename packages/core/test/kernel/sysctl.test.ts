// Integer sysctl writes, as proc_dointvec_minmax() and proc_doulongvec_minmax() parse them
// (kernel/sysctl.c, Linux 6.16: proc_get_long(), TMPBUFLEN 22, proc_wspace_sep[]), with the
// values the kernel gives; expectations from tools/testing/selftests/sysctl/sysctl.sh
// (run_limit_digit, run_wideint_tests) and LTP testcases/commands/sysctl/sysctl02.sh.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrnoError, type Kernel, procDointvecMinmax, procDoulongvecMinmax } from "../../src/index";
import { boot, expectErrno, run } from "../../src/testing/index";

const PAGE = 4096;
const bytes = (s: string) => new TextEncoder().encode(s).length;
/** max_map_count's parse: proc_dointvec_minmax(), extra1 = SYSCTL_ZERO, no extra2. */
const mapCount = (s: string, count = bytes(s)) =>
  procDointvecMinmax("max_map_count", s, count, PAGE, 0);
/** proc_dointvec(): no bounds. */
const intvec = (s: string) => procDointvecMinmax("compact_memory", s, bytes(s), PAGE);
/** nr_hugepages' parse: proc_doulongvec_minmax() with no extra1/extra2. */
const ulong = (s: string) => procDoulongvecMinmax("nr_hugepages", s, bytes(s), PAGE);
const errnoOf = (v: unknown) => (v instanceof ErrnoError ? v.errno : v);

describe("procDointvecMinmax: proc_get_long() and do_proc_dointvec_minmax_conv()", () => {
  it("reads base 0 (strtoul_lenient(), _parse_integer_fixup_radix()): 0x10 is 16, 010 is 8", () => {
    expect(mapCount("0x10")).toEqual({ value: 16, consumed: 4 });
    expect(mapCount("0X1f\n")).toEqual({ value: 31, consumed: 5 });
    expect(mapCount("010")).toEqual({ value: 8, consumed: 3 });
    expect(mapCount("0")).toEqual({ value: 0, consumed: 1 });
    expect(mapCount("65530\n")).toEqual({ value: 65530, consumed: 6 });
    // "0x" with no hex digit is base 8: "0" is read, then "x" is no separator.
    for (const bad of ["0x", "0x\n", "0xg", "08", "09\n", "1.5"])
      expect(errnoOf(mapCount(bad))).toBe("EINVAL");
  });

  it("refuses a leading + (isdigit() after the optional -) and what is no number", () => {
    for (const bad of ["+1", "+0x10", "abc", "-", "-\n", "--1", "- 1", "x1"]) {
      expect(errnoOf(mapCount(bad))).toBe("EINVAL");
    }
  });

  it("skips leading isspace() bytes, \\r \\v \\f included; only blanks is EINVAL", () => {
    expect(mapCount(" \t\n\v\f\r7")).toEqual({ value: 7, consumed: 7 });
    for (const bad of [" ", "\n", " \t \n"]) expect(errnoOf(mapCount(bad))).toBe("EINVAL");
  });

  it("takes space, tab or newline after the number (proc_wspace_sep[]), nothing else", () => {
    for (const bad of ["8x", "1a", "1,2", "1\r", "1\v", "0x10g", "1-"]) {
      expect(errnoOf(mapCount(bad))).toBe("EINVAL");
    }
  });

  it("stops at the first number: blanks after it are consumed, the rest is a short write", () => {
    expect(mapCount("1 2")).toEqual({ value: 1, consumed: 2 });
    expect(mapCount("1\n2\n")).toEqual({ value: 1, consumed: 2 });
    expect(mapCount("1\t \n x")).toEqual({ value: 1, consumed: 5 });
    expect(mapCount("3 garbage")).toEqual({ value: 3, consumed: 2 });
    // UTF-8 bytes are counted, not characters.
    expect(mapCount("1 é")).toEqual({ value: 1, consumed: 2 });
  });

  it("reads a NUL as the end of the text: after the number it is no separator", () => {
    // "1\0x" (3 bytes; the store's text stops at the NUL).
    expect(errnoOf(mapCount("1", 3))).toBe("EINVAL");
    // "1\n\0": the newline is consumed, the NUL and what follows are not.
    expect(mapCount("1\n", 4)).toEqual({ value: 1, consumed: 2 });
  });

  it("is EINVAL on overflow or a number of 21 characters (TMPBUFLEN - 1), never ERANGE", () => {
    expect(errnoOf(mapCount("18446744073709551616"))).toBe("EINVAL"); // 2^64
    expect(errnoOf(mapCount("99999999999999999999"))).toBe("EINVAL");
    const zeros20 = "0".repeat(19);
    expect(mapCount(`${zeros20}1`)).toEqual({ value: 1, consumed: 20 }); // 20 characters, octal
    expect(errnoOf(mapCount(`${zeros20}01`))).toBe("EINVAL"); // 21 characters
    expect(errnoOf(mapCount(`${zeros20}01\n`))).toBe("EINVAL");
    expect(mapCount(`   ${zeros20}1\n`)).toEqual({ value: 1, consumed: 24 }); // blanks do not count
    // The sign counts: "-" and 19 digits fit, "-" and 20 do not (proc_dointvec(), no bounds).
    expect(intvec(`-${"0".repeat(18)}1`)).toEqual({ value: -1, consumed: 20 });
    expect(errnoOf(intvec(`-${"0".repeat(19)}1`))).toBe("EINVAL");
  });

  it("converts as do_proc_dointvec_conv(): INT_MAX and -(INT_MAX + 1); past them EINVAL", () => {
    // sysctl.sh run_wideint_tests: INT_MAX works, INT_MAX + 1 fails, negatives work.
    expect(intvec("2147483647")).toEqual({ value: 2147483647, consumed: 10 });
    expect(errnoOf(intvec("2147483648"))).toBe("EINVAL");
    expect(intvec("-2147483648")).toEqual({ value: -2147483648, consumed: 11 });
    expect(errnoOf(intvec("-2147483649"))).toBe("EINVAL");
    expect(intvec("-0x10")).toEqual({ value: -16, consumed: 5 });
    expect(intvec("-0")).toEqual({ value: 0, consumed: 2 });
  });

  it("checks extra1/extra2 after the conversion: outside is EINVAL; -0 is 0, within min 0", () => {
    expect(mapCount("-0")).toEqual({ value: 0, consumed: 2 });
    expect(Object.is(run0(mapCount("-0")), 0)).toBe(true);
    expect(errnoOf(mapCount("-1"))).toBe("EINVAL");
    const proactiveness = (s: string) =>
      procDointvecMinmax("compaction_proactiveness", s, bytes(s), PAGE, 0, 100);
    expect(proactiveness("0x64")).toEqual({ value: 100, consumed: 4 });
    expect(errnoOf(proactiveness("101"))).toBe("EINVAL");
    const e = proactiveness("101");
    expect(e instanceof ErrnoError && e.message).toMatch(
      /compaction_proactiveness: "101" is outside 0\.\.100/,
    );
  });

  it("parses at most PAGE_SIZE - 1 bytes (sysctl.sh run_limit_digit)", () => {
    // PAGE_SIZE - 2 blanks and a digit fit; PAGE_SIZE - 1 blanks leave the digit out.
    expect(mapCount(`${" ".repeat(PAGE - 2)}3`)).toEqual({ value: 3, consumed: PAGE - 1 });
    expect(errnoOf(mapCount(`${" ".repeat(PAGE - 1)}4`))).toBe("EINVAL");
    // The selftest's own write: 511 blanks, a digit and a newline through dd's 512-byte block.
    expect(mapCount(`${" ".repeat(511)}3`)).toEqual({ value: 3, consumed: 512 });
    expect(errnoOf(mapCount(" ".repeat(512)))).toBe("EINVAL");
    // *lenp -= left, left counted from PAGE_SIZE - 1: a PAGE_SIZE write counts one byte more.
    expect(mapCount(`1 ${"x".repeat(PAGE - 2)}`)).toEqual({ value: 1, consumed: 3 });
  });

  it("reads any in-range value however it is written, and consumes what proc_get_long() does", () => {
    const blank = fc.constantFrom(" ", "\t", "\n", "\v", "\f", "\r");
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0x7fff_ffff }),
        fc.constantFrom(10, 16, 8),
        fc.array(blank, { maxLength: 4 }),
        fc.array(fc.constantFrom(" ", "\t", "\n"), { maxLength: 3 }),
        fc.constantFrom("", "x", "2 3", "é"),
        (v, base, lead, trail, rest) => {
          const digits =
            base === 16 ? `0x${v.toString(16)}` : base === 8 ? `0${v.toString(8)}` : `${v}`;
          const sep = rest && trail.length === 0 ? [" "] : trail;
          const text = `${lead.join("")}${digits}${sep.join("")}${rest}`;
          expect(mapCount(text)).toEqual({ value: v, consumed: bytes(text) - bytes(rest) });
        },
      ),
    );
  });
});

describe("procDoulongvecMinmax: __do_proc_doulongvec_minmax()", () => {
  it("takes the whole 64 bits and no more (LTP sysctl02.sh): 2^64 - 1, 2^63; 2^64 is EINVAL", () => {
    expect(ulong("18446744073709551615")).toEqual({ value: 2n ** 64n - 1n, consumed: 20 });
    expect(ulong("9223372036854775808\n")).toEqual({ value: 2n ** 63n, consumed: 20 });
    expect(errnoOf(ulong("18446744073709551616"))).toBe("EINVAL");
    expect(ulong("0xffffffffffffffff")).toEqual({ value: 2n ** 64n - 1n, consumed: 18 });
    expect(errnoOf(ulong("0x10000000000000000"))).toBe("EINVAL");
  });

  it("refuses any negative, -0 included, and a leading +", () => {
    for (const bad of ["-1", "-0", "-0\n", "+1", "- 1"]) expect(errnoOf(ulong(bad))).toBe("EINVAL");
  });

  it("parses as proc_dointvec does otherwise: base 0, blanks, a short write", () => {
    expect(ulong(" 0x2\n")).toEqual({ value: 2n, consumed: 5 });
    expect(ulong("2 pages")).toEqual({ value: 2n, consumed: 2 });
    for (const bad of ["many", "2pages", " ", "\n"]) expect(errnoOf(ulong(bad))).toBe("EINVAL");
  });

  it("checks extra1 and extra2", () => {
    expect(errnoOf(procDoulongvecMinmax("x", "5", 1, PAGE, 6n))).toBe("EINVAL");
    expect(errnoOf(procDoulongvecMinmax("x", "5", 1, PAGE, 0n, 4n))).toBe("EINVAL");
    expect(procDoulongvecMinmax("x", "5", 1, PAGE, 5n, 5n)).toEqual({ value: 5n, consumed: 1 });
  });
});

describe("the /proc/sys files parse through them, and write() returns the bytes consumed", () => {
  const value = (k: Kernel, path: string) => run(k.fs.read(path)).trim();

  it("max_map_count (proc_dointvec_minmax): 0x10, a short write, a NUL, and failures keep it", () => {
    const k = boot();
    const file = "/proc/sys/vm/max_map_count";
    expect(run(k.fs.write(file, "0x10\n"))).toBe(5);
    expect(k.maxMapCount).toBe(16);
    expect(run(k.fs.write(file, " 010 20"))).toBe(5);
    expect(value(k, file)).toBe("8");
    for (const bad of ["+9", "9\0", "18446744073709551616", " \n", "2147483648"]) {
      expectErrno(k.fs.write(file, bad), "EINVAL");
    }
    expect(k.maxMapCount).toBe(8);
    // An empty write: `!*lenp` in __do_proc_dointvec(), 0 bytes and nothing changed.
    expect(run(k.fs.write(file, ""))).toBe(0);
    expect(k.maxMapCount).toBe(8);
  });

  it("nr_hugepages and nr_overcommit_hugepages (hugetlb_sysctl_handler(): proc_doulongvec_minmax)", () => {
    const k = boot();
    expect(run(k.fs.write("/proc/sys/vm/nr_hugepages", "0x2 and more"))).toBe(4);
    expect(value(k, "/proc/sys/vm/nr_hugepages")).toBe("2");
    for (const bad of ["+1", "-0", "18446744073709551616", "1x"]) {
      expectErrno(k.fs.write("/proc/sys/vm/nr_hugepages", bad), "EINVAL");
    }
    expect(value(k, "/proc/sys/vm/nr_hugepages")).toBe("2");
    expect(run(k.fs.write("/proc/sys/vm/nr_overcommit_hugepages", "010\n"))).toBe(4);
    expect(value(k, "/proc/sys/vm/nr_overcommit_hugepages")).toBe("8");
    // sysfs stays kstrtoul() in base 10: no hex, and ERANGE past 64 bits.
    const sysfs = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_overcommit_hugepages";
    expectErrno(k.fs.write(sysfs, "0x2"), "EINVAL");
    expectErrno(k.fs.write(sysfs, "18446744073709551616"), "ERANGE");
  });

  it("the other vm and kernel files: 0x hex and short writes, every refusal EINVAL", () => {
    const k = boot();
    expect(run(k.fs.write("/proc/sys/vm/extfrag_threshold", "0x1f4 1"))).toBe(6);
    expect(value(k, "/proc/sys/vm/extfrag_threshold")).toBe("500");
    expect(run(k.fs.write("/proc/sys/vm/compaction_proactiveness", "\t012\n"))).toBe(5);
    expect(value(k, "/proc/sys/vm/compaction_proactiveness")).toBe("10");
    expectErrno(k.fs.write("/proc/sys/vm/compaction_proactiveness", "+5"), "EINVAL");
    // sysctl_compaction_handler(): proc_dointvec(), then 1 only; "0x1" is 1.
    expect(run(k.fs.write("/proc/sys/vm/compact_memory", "0x1 2"))).toBe(4);
    expectErrno(k.fs.write("/proc/sys/vm/compact_memory", "99999999999999999999"), "EINVAL");
    expect(run(k.fs.write("/proc/sys/kernel/numa_balancing_promote_rate_limit_MBps", "0x10"))).toBe(
      4,
    );
    expect(value(k, "/proc/sys/kernel/numa_balancing_promote_rate_limit_MBps")).toBe("16");
    run(k.shutdown());
  });
});

/** The value of a successful parse (for Object.is checks). */
function run0(v: { value: number } | null | ErrnoError): number {
  if (v instanceof ErrnoError || v === null) throw new Error(`no value: ${v}`);
  return v.value;
}
