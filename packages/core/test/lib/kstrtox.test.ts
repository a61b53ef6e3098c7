import { describe, expect, it } from "vitest";
import {
  ErrnoError,
  kstrtobool,
  kstrtoint,
  kstrtouint,
  kstrtoull,
  sysfsStreq,
} from "../../src/index";

const errnoOf = (v: unknown) => (v instanceof ErrnoError ? v.errno : v);

describe("kstrtobool", () => {
  it.each(["y", "Y", "yes", "t", "true", "1", "1\n", "on", "ON", "e", "enable"])(
    "%j is true",
    (s) => {
      expect(kstrtobool(s)).toBe(true);
    },
  );
  it.each(["n", "N", "no", "f", "false", "0", "0\n", "off", "Off", "d", "disable"])(
    "%j is false",
    (s) => {
      expect(kstrtobool(s)).toBe(false);
    },
  );
  it.each(["", "2", "x", "o", "oX", " 1", "\n"])("%j is EINVAL", (s) => {
    expect(errnoOf(kstrtobool(s))).toBe("EINVAL");
  });
});

describe("kstrtouint", () => {
  it("parses decimal, hex and octal with base 0, a leading +, and one trailing newline", () => {
    expect(kstrtouint("42")).toBe(42);
    expect(kstrtouint("42\n")).toBe(42);
    expect(kstrtouint("+7")).toBe(7);
    expect(kstrtouint("0x1f")).toBe(31);
    expect(kstrtouint("0X1F")).toBe(31);
    expect(kstrtouint("017")).toBe(15);
    expect(kstrtouint("0")).toBe(0);
    expect(kstrtouint("4294967295")).toBe(0xffffffff);
  });
  it("honours an explicit base", () => {
    expect(kstrtouint("ff", 16)).toBe(255);
    expect(kstrtouint("0xff", 16)).toBe(255);
    expect(kstrtouint("10", 10)).toBe(10);
  });
  it.each(["", "-1", "abc", "1 ", "1\n\n", " 1", "12a", "0x", "0xg", "08", "+", "1.5"])(
    "%j is EINVAL",
    (s) => {
      expect(errnoOf(kstrtouint(s))).toBe("EINVAL");
    },
  );
  it("is ERANGE past 32 bits", () => {
    expect(errnoOf(kstrtouint("4294967296"))).toBe("ERANGE");
    expect(errnoOf(kstrtouint("99999999999999999999999"))).toBe("ERANGE");
  });
});

describe("kstrtoint and kstrtoull", () => {
  it("takes a sign and range-checks 32 bits", () => {
    expect(kstrtoint("-5")).toBe(-5);
    expect(kstrtoint("-2147483648")).toBe(-2147483648);
    expect(errnoOf(kstrtoint("2147483648"))).toBe("ERANGE");
    expect(errnoOf(kstrtoint("-2147483649"))).toBe("ERANGE");
  });
  it("parses 64-bit values exactly", () => {
    expect(kstrtoull("18446744073709551615")).toBe(18446744073709551615n);
    expect(errnoOf(kstrtoull("18446744073709551616"))).toBe("ERANGE");
  });
});

describe("sysfsStreq", () => {
  it("ignores one trailing newline", () => {
    expect(sysfsStreq("always\n", "always")).toBe(true);
    expect(sysfsStreq("always", "always")).toBe(true);
    expect(sysfsStreq("always\n\n", "always")).toBe(false);
    expect(sysfsStreq("alway", "always")).toBe(false);
  });
});

describe("lib/kstrtox.c, value by value", () => {
  it("kstrtobool: the first character, or o/O and the second, decides", () => {
    for (const s of ["On", "oN", "ON\n", "Yx", "Enabled", "T", "1junk"])
      expect(kstrtobool(s), s).toBe(true);
    for (const s of ["oF", "OFF", "of", "No", "D", "F", "0junk"])
      expect(kstrtobool(s), s).toBe(false);
    for (const s of ["+1", "-1", "O", "o\n", "ox", "2", "\u0000", "é"])
      expect(errnoOf(kstrtobool(s)), s).toBe("EINVAL");
  });

  it("kstrtoull: 64 bits, a 64-bit overflow is ERANGE even before junk", () => {
    expect(kstrtoull("0")).toBe(0n);
    expect(kstrtoull("+18446744073709551615\n")).toBe(18446744073709551615n);
    expect(kstrtoull("0xffffffffffffffff")).toBe(18446744073709551615n);
    expect(kstrtoull("01777777777777777777777")).toBe(18446744073709551615n);
    expect(kstrtoull("ffffffffffffffff", 16)).toBe(18446744073709551615n);
    expect(errnoOf(kstrtoull("99999999999999999999x"))).toBe("ERANGE");
    expect(errnoOf(kstrtoull("18446744073709551616\n\n"))).toBe("ERANGE");
    expect(errnoOf(kstrtoull("0x10000000000000000"))).toBe("ERANGE");
    expect(errnoOf(kstrtoull("02000000000000000000000"))).toBe("ERANGE");
    for (const s of [
      "",
      "+",
      "-",
      "-0",
      "++1",
      "+-1",
      "0x",
      "0X",
      "0xz",
      " 1",
      "1 ",
      "1\n\n",
      "1\r",
    ])
      expect(errnoOf(kstrtoull(s)), s).toBe("EINVAL");
  });

  it("kstrtouint: kstrtoull, then ERANGE past 32 bits; junk after a 32-bit overflow is EINVAL", () => {
    expect(kstrtouint("0xffffffff\n")).toBe(0xffffffff);
    expect(kstrtouint("037777777777")).toBe(0xffffffff);
    expect(kstrtouint("0x", 16)).toBeInstanceOf(ErrnoError);
    expect(kstrtouint("12", 8)).toBe(10);
    expect(kstrtouint("0X10", 16)).toBe(16);
    expect(errnoOf(kstrtouint("0x100000000"))).toBe("ERANGE");
    expect(errnoOf(kstrtouint("4294967296x"))).toBe("EINVAL");
    expect(errnoOf(kstrtouint("99999999999999999999x"))).toBe("ERANGE");
    for (const s of ["-", "-0", "+-1", "-+1", "0X", "09", "0x\n"])
      expect(errnoOf(kstrtouint(s)), s).toBe("EINVAL");
  });

  it("kstrtoint: kstrtoll's sign, in first position only, then the 32-bit range", () => {
    expect(kstrtoint("+2147483647")).toBe(2147483647);
    expect(kstrtoint("-0")).toBe(0);
    expect(kstrtoint("-0x80000000\n")).toBe(-2147483648);
    expect(kstrtoint("-010")).toBe(-8);
    expect(kstrtoint("-ff", 16)).toBe(-255);
    for (const s of ["-+1", "+-1", "--1", "++1", "+", "-", "0x", "-0x", " -1", "-1 ", "-1\n\n"])
      expect(errnoOf(kstrtoint(s)), s).toBe("EINVAL");
    expect(errnoOf(kstrtoint("0x80000000"))).toBe("ERANGE");
    expect(errnoOf(kstrtoint("-9223372036854775808"))).toBe("ERANGE");
    expect(errnoOf(kstrtoint("9223372036854775808"))).toBe("ERANGE");
    expect(errnoOf(kstrtoint("-99999999999999999999x"))).toBe("ERANGE");
    expect(errnoOf(kstrtoint("2147483648x"))).toBe("EINVAL");
  });
});
