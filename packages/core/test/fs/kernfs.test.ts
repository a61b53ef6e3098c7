import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { errno } from "../../src/errno";
import { debugfsAttribute, debugfsCreateU32 } from "../../src/fs/debugfs";
import { KernFs } from "../../src/fs/kernfs";
import { SIMPLE_ATTR_BUF_SIZE } from "../../src/fs/libfs";
import { CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, ERRNO } from "../../src/index";
import { boot, expectErrno, run } from "../../src/testing/index";

describe("sysfs and procfs", () => {
  it("shows THP modes with the current one in brackets and stores with sysfs_streq rules", () => {
    const k = boot();
    const path = "/sys/kernel/mm/transparent_hugepage/enabled";
    expect(run(k.fs.read(path))).toBe("always [madvise] never\n");
    expect(run(k.fs.write(path, "always\n"))).toBe(7);
    expect(run(k.fs.read(path))).toBe("[always] madvise never\n");
    const err = expectErrno(k.fs.write(path, "sometimes"), "EINVAL");
    expect(err.message).toContain(path);
    expect(run(k.fs.read(path))).toBe("[always] madvise never\n");
    const size = "/sys/kernel/mm/transparent_hugepage/hugepages-64kB/enabled";
    expect(run(k.fs.read(size))).toBe("always inherit madvise [never]\n");
    run(k.fs.write(size, "inherit"));
    expect(k.thp.allowableOrders(0)).toEqual([9, 4]);
    expect(run(k.fs.read("/sys/kernel/mm/transparent_hugepage/hugepages-2048kB/enabled"))).toBe(
      "always [inherit] madvise never\n",
    );
  });

  it("fails with ENOENT, EISDIR, ENOTDIR and EACCES as the VFS does", () => {
    const k = boot();
    expectErrno(k.fs.read("/sys/kernel/mm/nope"), "ENOENT");
    expectErrno(k.fs.read("/sys/kernel/mm"), "EISDIR");
    expectErrno(k.fs.write("/proc/vmstat", "1"), "EACCES");
    expectErrno(k.fs.list("/proc/vmstat"), "ENOTDIR");
    expect(run(k.fs.list("/sys/devices/system/node"))).toEqual([
      "has_memory",
      "has_normal_memory",
      "node0",
      "node1",
      "online",
      "possible",
    ]);
  });

  it("describes the nodes", () => {
    const k = boot({ nodes: ["16M", 0, "32M"] });
    expect(run(k.fs.read("/sys/devices/system/node/online"))).toBe("0-2\n");
    expect(run(k.fs.read("/sys/devices/system/node/has_memory"))).toBe("0,2\n");
    expect(run(k.fs.read("/sys/devices/system/node/node2/meminfo"))).toMatch(
      /^Node 2 MemTotal:\s+32768 kB\nNode 2 MemFree:\s+32768 kB/,
    );
    expect(run(k.fs.read("/sys/devices/system/node/node0/distance"))).toBe("10 20 20\n");
    expect(run(k.fs.read("/proc/buddyinfo")).split("\n")).toHaveLength(3);
  });

  it("lists /proc/vmstat as name-value lines, counting faults", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4096));
    run(p.write(addr, new Uint8Array([1])));
    const text = run(k.fs.read("/proc/vmstat"));
    expect(text).toMatch(/^nr_free_pages \d+\n/);
    expect(text).toContain("pgfault 1\n");
    expect(text).toContain("pgmigrate_success 0\n");
    for (const line of text.trimEnd().split("\n")) expect(line).toMatch(/^[a-z_]+ \d+$/);
  });

  it("passes store errors through as negative errnos, and the directory tree can be removed", () => {
    const fs = new KernFs();
    let value = 3;
    fs.addAttributes("/sys/kernel/demo", {
      value: {
        mode: 0o644,
        show: () => `${value}\n`,
        store: (text) => {
          if (text === "busy") return -ERRNO.EBUSY;
          value = Number(text);
          return text.length;
        },
      },
      secret: { mode: 0o200, store: (t) => t.length },
    });
    expectErrno(fs.write("/sys/kernel/demo/value", "busy"), "EBUSY");
    expect(run(fs.read("/sys/kernel/demo/value"))).toBe("3\n");
    run(fs.write("/sys/kernel/demo/value", "5"));
    expect(run(fs.read("/sys/kernel/demo/value"))).toBe("5\n");
    expectErrno(fs.read("/sys/kernel/demo/secret"), "EACCES");
    expect(fs.exists("/")).toBe(true);
    expect(fs.exists("/sys/kernel/demo/secret")).toBe(true);
    expect(fs.remove("/")).toBe(false);
    expect(fs.remove("/sys/kernel/demo")).toBe(true);
    expect(fs.exists("/sys/kernel/demo/value")).toBe(false);
    expect(fs.exists("/sys/kernel")).toBe(true);
  });

  it("writes as kernfs_fop_write_iter() and sysfs_kf_write() do: bytes, cut to a page, NUL-terminated, none for an empty write", () => {
    const fs = new KernFs();
    expect(fs.pageSize).toBe(4096);
    const seen: [string, number][] = [];
    fs.addAttributes("/sys/kernel/demo", {
      echo: {
        mode: 0o644,
        show: () => `${seen.length}\n`,
        store: (text, count) => {
          seen.push([text, count]);
          return count;
        },
      },
      ro: { mode: 0o444, show: () => "1\n" },
    });
    const path = "/sys/kernel/demo/echo";
    expect(run(fs.write(path, ""))).toBe(0);
    expect(seen).toEqual([]);
    expectErrno(fs.write("/sys/kernel/demo/ro", ""), "EACCES");
    expectErrno(fs.write("/sys/kernel/demo/missing", ""), "ENOENT");
    expect(run(fs.write(path, "é\n"))).toBe(3);
    expect(run(fs.write(path, "x".repeat(5000)))).toBe(4096);
    expect(run(fs.write(path, "1\u0000junk\n"))).toBe(7);
    expect(run(fs.write(path, "\u0000"))).toBe(1);
    // 4095 ASCII bytes and the first byte of "é": the store sees the cut bytes as they are.
    expect(run(fs.write(path, `${"y".repeat(4095)}é`))).toBe(4096);
    expect(seen).toEqual([
      ["é\n", 3],
      ["x".repeat(4096), 4096],
      ["1", 7],
      ["", 1],
      [`${"y".repeat(4095)}\ufffd`, 4096],
    ]);
  });

  // debugfs_attr_write() (fs/debugfs/file.c) → simple_attr_write() (fs/libfs.c, Linux 6.16): a
  // 24-byte set_buf, so the first 23 bytes are parsed with kstrtoull() base 0; an empty write
  // parses "" (EINVAL); success claims the whole write; set's errno passes through.
  it("writes a debugfs attribute as simple_attr_write() does, not as sysfs_kf_write()", () => {
    const fs = new KernFs();
    const got: bigint[] = [];
    fs.addAttributes("/sys/kernel/debug/demo", {
      value: debugfsAttribute(
        () => got.at(-1) ?? 0n,
        (val) => {
          if (val === 7n) return errno("EBUSY", "seven is taken");
          got.push(val);
          return 0;
        },
      ),
      u32: debugfsCreateU32(
        () => 0,
        (v) => got.push(BigInt(v)),
      ),
      ro: { mode: 0o444, show: () => "0\n", set: () => 0 },
    });
    const path = "/sys/kernel/debug/demo/value";
    expect(SIMPLE_ATTR_BUF_SIZE).toBe(24);
    expectErrno(fs.write(path, ""), "EINVAL");
    expect(run(fs.write(path, "0x10\n"))).toBe(5);
    expect(run(fs.read(path))).toBe("16\n");
    // 23 bytes parsed: 22 zeros and a 1, then more digits nobody reads.
    expect(run(fs.write(path, `${"0".repeat(22)}1${"9".repeat(5000)}`))).toBe(5023);
    expectErrno(fs.write(path, "x".repeat(5000)), "EINVAL");
    expectErrno(fs.write(path, " 1"), "EINVAL");
    expectErrno(fs.write(path, "18446744073709551616"), "ERANGE");
    expectErrno(fs.write(path, "7"), "EBUSY");
    expectErrno(fs.write("/sys/kernel/debug/demo/ro", "1"), "EACCES");
    expectErrno(fs.write(path, 5 as never), "EFAULT");
    run(fs.write("/sys/kernel/debug/demo/u32", "0x1ffffffff"));
    expect(got).toEqual([16n, 1n, 0xffff_ffffn]);
  });

  it("cuts writes to the kernel's own PAGE_SIZE, and an empty write changes no file", () => {
    const k = boot({ pageSize: 16384 });
    const path = "/sys/kernel/mm/transparent_hugepage/enabled";
    expect(run(k.fs.write(path, ""))).toBe(0);
    expect(run(k.fs.read(path))).toBe("always [madvise] never\n");
    expectErrno(k.fs.write(path, "never\n".padEnd(20000, "\n")), "EINVAL");
    expect(run(k.fs.write(path, "never\u0000".padEnd(20000, "x")))).toBe(16384);
    expect(run(k.fs.read(path))).toBe("always madvise [never]\n");
  });

  it("treats a driver's store and show as a boundary: what they throw or return is EIO, never an exception", () => {
    const fs = new KernFs();
    const store = (result: () => unknown) => ({ mode: 0o644, store: result as never });
    fs.addAttributes("/sys/kernel/bad", {
      throws: store(() => {
        throw new Error("parse bug");
      }),
      undefined: store(() => undefined),
      text: store(() => "3"),
      dies: store(() => Effect.die(new Error("oops"))),
      fails: store(() => Effect.fail("no")),
      garbage: store(() => Effect.succeed("3")),
      show: {
        mode: 0o444,
        show: () => {
          throw new TypeError("no state");
        },
      },
      number: { mode: 0o444, show: () => 5 as never },
    });
    const cases: Array<[string, RegExp]> = [
      ["throws", /store threw Error: parse bug/],
      ["undefined", /store returned undefined, not a byte count/],
      ["text", /store returned "3", not a byte count/],
      ["dies", /store's Effect died with Error: oops/],
      ["fails", /store's Effect failed with "no"/],
      ["garbage", /store returned "3", not a byte count/],
    ];
    for (const [file, message] of cases) {
      const error = expectErrno(fs.write(`/sys/kernel/bad/${file}`, "1"), "EIO");
      expect(error.message).toMatch(message);
      expect(error.message).toContain(`/sys/kernel/bad/${file}`);
    }
    expect(expectErrno(fs.read("/sys/kernel/bad/show"), "EIO").message).toMatch(
      /show threw TypeError: no state/,
    );
    expect(expectErrno(fs.read("/sys/kernel/bad/number"), "EIO").message).toMatch(
      /show returned 5, not text/,
    );
  });

  it("refuses a path or text that is not a string with EFAULT, as a bad user pointer", () => {
    const k = boot();
    const path = "/sys/kernel/mm/transparent_hugepage/enabled";
    expectErrno(k.fs.write(path, 1 as never), "EFAULT");
    expectErrno(k.fs.write(undefined as never, "always"), "EFAULT");
    expectErrno(k.fs.read(null as never), "EFAULT");
    expectErrno(k.fs.list(7 as never), "EFAULT");
    expect(run(k.fs.read(path))).toBe("always [madvise] never\n");
  });
});

// may_open() → generic_permission() (fs/namei.c, Linux 6.16) on a root-owned sysfs or procfs
// inode: the bits of the opener's class, else CAP_DAC_OVERRIDE (any access) or
// CAP_DAC_READ_SEARCH (a read); then kernfs_fop_open()'s own test (fs/kernfs/file.c).
describe("who may open a sysfs or procfs file: generic_permission()", () => {
  const THP = "/sys/kernel/mm/transparent_hugepage/enabled"; // 0644
  const PAGETYPEINFO = "/proc/pagetypeinfo"; // 0400 (mm/vmstat.c, since Linux 5.4)

  it("a user reads a 0644 file but may not write it; /proc/pagetypeinfo (0400) is EACCES to it", () => {
    const k = boot();
    const user = run(k.createProcess({ uid: 1000 }));
    const before = run(k.fs.read(THP));
    expect(run(k.fs.read(THP, user))).toBe(before);
    expect(expectErrno(k.fs.write(THP, "never", user), "EACCES").message).toMatch(/uid 1000/);
    expect(run(k.fs.read(THP))).toBe(before);
    expectErrno(k.fs.read(PAGETYPEINFO, user), "EACCES");
    // Group root is held to the group's bits: r-- of 0644, --- of 0400.
    const groupRoot = run(k.createProcess({ uid: 1000, gid: 0 }));
    expectErrno(k.fs.write(THP, "never", groupRoot), "EACCES");
    expectErrno(k.fs.read(PAGETYPEINFO, groupRoot), "EACCES");
    run(k.shutdown());
  });

  it("CAP_DAC_OVERRIDE lets a user write a 0644 file and read a 0400 one; CAP_DAC_READ_SEARCH only reads", () => {
    const k = boot();
    const override = run(k.createProcess({ uid: 1000, capabilities: [CAP_DAC_OVERRIDE] }));
    expect(run(k.fs.write(THP, "never", override))).toBe(5);
    expect(run(k.fs.read(THP))).toContain("[never]");
    expect(run(k.fs.read(PAGETYPEINFO, override))).toContain("Page block order");
    const search = run(k.createProcess({ uid: 1000, capabilities: [CAP_DAC_READ_SEARCH] }));
    expect(run(k.fs.read(PAGETYPEINFO, search))).toContain("Page block order");
    expectErrno(k.fs.write(THP, "always", search), "EACCES");
    expect(run(k.fs.read(THP))).toContain("[never]");
    run(k.shutdown());
  });

  it("root without CAP_DAC_OVERRIDE is held to the owner's bits; no capability opens a read-only file for writing", () => {
    const k = boot();
    const bare = run(k.createProcess({ uid: 0, capabilities: [] }));
    expect(run(k.fs.read(PAGETYPEINFO, bare))).toContain("Page block order");
    expect(run(k.fs.write(THP, "madvise", bare))).toBe(7);
    // kernfs_fop_open(): a mode with no write bit is EACCES to anyone, root with every capability.
    expectErrno(k.fs.write(PAGETYPEINFO, "1"), "EACCES");
    expectErrno(
      k.fs.write("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "1"),
      "EACCES",
    );
    run(k.shutdown());
  });

  // debugfs's root is DEBUGFS_DEFAULT_MODE 0700 (fs/debugfs/inode.c, Linux 6.16): may_lookup()
  // (fs/namei.c) needs MAY_EXEC on it, which generic_permission() gives the owner, root, and
  // otherwise CAP_DAC_READ_SEARCH or CAP_DAC_OVERRIDE; a 0644 file below it is out of a user's
  // reach.
  it("a user cannot walk into debugfs (0700): its 0644 files are EACCES; CAP_DAC_READ_SEARCH reads them", () => {
    const k = boot();
    const FAULT_AROUND = "/sys/kernel/debug/fault_around_bytes"; // 0644
    const user = run(k.createProcess({ uid: 1000 }));
    expect(expectErrno(k.fs.read(FAULT_AROUND, user), "EACCES").message).toMatch(
      /\/sys\/kernel\/debug: .*search by uid 1000, mode 0700/,
    );
    expectErrno(k.fs.write(FAULT_AROUND, "4096", user), "EACCES");
    expect(k.faultAroundPages).toBe(16);
    const search = run(k.createProcess({ uid: 1000, capabilities: [CAP_DAC_READ_SEARCH] }));
    expect(run(k.fs.read(FAULT_AROUND, search))).toBe("65536\n");
    expectErrno(k.fs.write(FAULT_AROUND, "4096", search), "EACCES");
    const override = run(k.createProcess({ uid: 1000, capabilities: [CAP_DAC_OVERRIDE] }));
    expect(run(k.fs.write(FAULT_AROUND, "4096", override))).toBe(4);
    expect(k.faultAroundPages).toBe(1);
    const bare = run(k.createProcess({ uid: 0, capabilities: [] }));
    expect(run(k.fs.read(FAULT_AROUND, bare))).toBe("4096\n");
    run(k.shutdown());
  });

  // Listing a directory opens it (O_RDONLY | O_DIRECTORY) and reads it: may_lookup() (MAY_EXEC)
  // on each directory on the way, then may_open() → inode_permission(MAY_READ) on the directory
  // itself (fs/namei.c, Linux 6.16). debugfs's root is 0700 (DEBUGFS_DEFAULT_MODE,
  // fs/debugfs/inode.c): a user (uid 1000) neither reads it nor searches it; generic_permission()
  // lets CAP_DAC_READ_SEARCH read and search a directory, and CAP_DAC_OVERRIDE anything; root
  // without capabilities is the owner (rwx).
  it("listing debugfs (0700) is EACCES to a user, below it too; CAP_DAC_READ_SEARCH or CAP_DAC_OVERRIDE lists it", () => {
    const k = boot();
    const DEBUG = "/sys/kernel/debug";
    k.fs.mkdir(`${DEBUG}/demo`);
    const all = run(k.fs.list(DEBUG));
    expect(all).toContain("fault_around_bytes");
    expect(all).toContain("demo");
    const user = run(k.createProcess({ uid: 1000 }));
    expect(expectErrno(k.fs.list(DEBUG, user), "EACCES").message).toMatch(
      /\/sys\/kernel\/debug: .*read by uid 1000, mode 0700/,
    );
    expect(expectErrno(k.fs.list(`${DEBUG}/demo`, user), "EACCES").message).toMatch(
      /\/sys\/kernel\/debug: .*search by uid 1000, mode 0700/,
    );
    // A 0755 directory is r-x to others: the user lists /sys/kernel/mm.
    expect(run(k.fs.list("/sys/kernel/mm", user))).toEqual(run(k.fs.list("/sys/kernel/mm")));
    // Group root is held to the group's bits of 0700: none.
    const groupRoot = run(k.createProcess({ uid: 1000, gid: 0 }));
    expectErrno(k.fs.list(DEBUG, groupRoot), "EACCES");
    for (const cap of [CAP_DAC_READ_SEARCH, CAP_DAC_OVERRIDE]) {
      const p = run(k.createProcess({ uid: 1000, capabilities: [cap] }));
      expect(run(k.fs.list(DEBUG, p))).toEqual(all);
      expect(run(k.fs.list(`${DEBUG}/demo`, p))).toEqual([]);
    }
    const bare = run(k.createProcess({ uid: 0, capabilities: [] }));
    expect(run(k.fs.list(DEBUG, bare))).toEqual(all);
    run(k.shutdown());
  });
});
