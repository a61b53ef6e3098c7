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
