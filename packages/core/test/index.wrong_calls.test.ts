// Every wrong call to the public API, with the errno and message it fails with. The table in
// docs/reliability.md ("Wrong calls to the public API") is rendered from this list: the test
// fails when the page and the code disagree. `UPDATE_DOCS=1` rewrites the page's table.
import { readFileSync, writeFileSync } from "node:fs";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { CAP_SYS_NICE, CAP_SYS_PTRACE } from "../src/include/capability";
import type { Task } from "../src/include/kernel";
import { TASK_SIZE } from "../src/include/page_64_types";
import {
  __GFP_THISNODE,
  type ErrnoError,
  type ErrnoName,
  type File,
  Kernel,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_HUGE_SHIFT,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_SHARED_VALIDATE,
  type Migrator,
  MPOL_BIND,
  MPOL_DEFAULT,
  MPOL_F_MEMS_ALLOWED,
  MPOL_F_NODE,
  MPOL_F_NUMA_BALANCING,
  MPOL_F_RELATIVE_NODES,
  MPOL_F_STATIC_NODES,
  MPOL_INTERLEAVE,
  MPOL_MF_LAZY,
  MPOL_MF_MOVE,
  MPOL_MF_MOVE_ALL,
  MPOL_MF_STRICT,
  PROT_READ,
  type SignalError,
} from "../src/index";
import { boot, expectErrno, run } from "../src/testing/index";

const PAGE = 4096;
const MIGRATION = "/sys/kernel/mm/migration";
const THP = "/sys/kernel/mm/transparent_hugepage";

/** What each call runs against: a fresh two-node kernel, a process with one written page. */
interface World {
  readonly k: Kernel;
  /** The caller: uid 1000, one mapped and written page at `addr`. */
  readonly p: Task;
  readonly addr: number;
  /** Another user's process. */
  readonly other: Task;
  /** A process that has exited. */
  readonly dead: Task;
  readonly file: File;
}

const world = (): World => {
  const k = boot({ nodes: ["64M", "64M", 0] });
  const p = run(k.createProcess({ uid: 1000 }));
  const addr = run(p.mmap(2 * PAGE, { hugepage: false }));
  run(p.write(addr, new Uint8Array([1])));
  const other = run(k.createProcess({ uid: 2000 }));
  const dead = run(k.createProcess({ uid: 1000 }));
  run(dead.exit());
  const file = run(k.createFile("data"));
  return { k, p, addr, other, dead, file };
};

interface WrongCall {
  /** The call as written, against the names of {@link World}. */
  readonly call: string;
  readonly errno: ErrnoName;
  readonly run: (w: World) => Effect.Effect<unknown, ErrnoError | SignalError>;
}

const groups: ReadonlyArray<readonly [string, readonly WrongCall[]]> = [
  [
    "Booting: `Kernel.boot`",
    [
      { call: "Kernel.boot()", errno: "EINVAL", run: () => Kernel.boot(undefined as never) },
      { call: 'Kernel.boot("64M")', errno: "EINVAL", run: () => Kernel.boot("64M" as never) },
      {
        call: "Kernel.boot({ nodes: [] })",
        errno: "EINVAL",
        run: () => Kernel.boot({ nodes: [] }),
      },
      {
        call: 'Kernel.boot({ nodes: ["64M"], pageSize: 8192 })',
        errno: "EINVAL",
        run: () => Kernel.boot({ nodes: ["64M"], pageSize: 8192 }),
      },
      {
        call: 'Kernel.boot({ nodes: ["lots"] })',
        errno: "EINVAL",
        run: () => Kernel.boot({ nodes: ["lots"] }),
      },
      {
        call: 'Kernel.boot({ nodes: ["64M", 5000] })',
        errno: "EINVAL",
        run: () => Kernel.boot({ nodes: ["64M", 5000] }),
      },
      {
        call: 'Kernel.boot({ nodes: ["64M", "64M"], distances: [[10, 20]] })',
        errno: "EINVAL",
        run: () => Kernel.boot({ nodes: ["64M", "64M"], distances: [[10, 20]] }),
      },
      {
        call: 'Kernel.boot({ nodes: ["64M"], thp: "always" })',
        errno: "EINVAL",
        run: () => Kernel.boot({ nodes: ["64M"], thp: "always" as never }),
      },
      {
        call: 'Kernel.boot({ nodes: ["512G"] })',
        errno: "EINVAL",
        run: () => Kernel.boot({ nodes: ["512G"] }),
      },
      {
        call: 'Kernel.boot({ nodes: ["64M", { memory: "64M", adistance: -1 }] })',
        errno: "EINVAL",
        run: () => Kernel.boot({ nodes: ["64M", { memory: "64M", adistance: -1 }] }),
      },
    ],
  ],
  [
    "Processes",
    [
      {
        call: "k.createProcess({ memsAllowed: [] })",
        errno: "ENOSPC",
        run: ({ k }) => k.createProcess({ memsAllowed: [] }),
      },
      {
        call: "k.createProcess({ memsAllowed: [2] })  // node 2 has no memory",
        errno: "EINVAL",
        run: ({ k }) => k.createProcess({ memsAllowed: [2] }),
      },
      {
        call: "k.createProcess({ node: 7 })",
        errno: "EINVAL",
        run: ({ k }) => k.createProcess({ node: 7 }),
      },
      {
        call: "k.createProcess({ uid: -1 })",
        errno: "EINVAL",
        run: ({ k }) => k.createProcess({ uid: -1 }),
      },
      {
        call: "k.createProcess(null)",
        errno: "EINVAL",
        run: ({ k }) => k.createProcess(null as never),
      },
      {
        call: 'k.createFile("data")  // taken',
        errno: "EEXIST",
        run: ({ k }) => k.createFile("data"),
      },
      { call: 'k.createFile("")', errno: "EINVAL", run: ({ k }) => k.createFile("") },
      { call: "dead.exit()", errno: "ESRCH", run: ({ dead }) => dead.exit() },
      {
        call: "dead.setMempolicy(MPOL_BIND, [1])",
        errno: "ESRCH",
        run: ({ dead }) => dead.setMempolicy(MPOL_BIND, [1]),
      },
      {
        call: "dead.movePages(p.pid, [addr], [1])",
        errno: "ESRCH",
        run: ({ dead, p, addr }) => dead.movePages(p.pid, [addr], [1]),
      },
      { call: "dead.mmap(4096)", errno: "ESRCH", run: ({ dead }) => dead.mmap(PAGE) },
      { call: "dead.fork()", errno: "ESRCH", run: ({ dead }) => dead.fork() },
      { call: "p.fork(null)", errno: "EINVAL", run: ({ p }) => p.fork(null as never) },
      { call: 'p.fork("x")', errno: "EINVAL", run: ({ p }) => p.fork("x" as never) },
    ],
  ],
  [
    "Mappings",
    [
      { call: "p.mmap(0)", errno: "EINVAL", run: ({ p }) => p.mmap(0) },
      { call: "p.mmap(1.5)", errno: "EINVAL", run: ({ p }) => p.mmap(1.5) },
      {
        call: "p.mmap(4096, { flags: MAP_ANONYMOUS })",
        errno: "EINVAL",
        run: ({ p }) => p.mmap(PAGE, { flags: MAP_ANONYMOUS }),
      },
      {
        call: "p.mmap(4096, { flags: MAP_SHARED_VALIDATE | MAP_ANONYMOUS })",
        errno: "EINVAL",
        run: ({ p }) => p.mmap(PAGE, { flags: MAP_SHARED_VALIDATE | MAP_ANONYMOUS }),
      },
      {
        call: "p.mmap(4096, { flags: MAP_SHARED_VALIDATE | 0x1000000, file })",
        errno: "EOPNOTSUPP",
        run: ({ p, file }) => p.mmap(PAGE, { flags: MAP_SHARED_VALIDATE | 0x1000000, file }),
      },
      {
        call: "p.mmap(4096, null)",
        errno: "EINVAL",
        run: ({ p }) => p.mmap(PAGE, null as never),
      },
      {
        call: 'p.mmap(4096, { hugepage: "yes" })',
        errno: "EINVAL",
        run: ({ p }) => p.mmap(PAGE, { hugepage: "yes" as never }),
      },
      {
        call: 'p.mmap(4096, { prot: "rw" })',
        errno: "EINVAL",
        run: ({ p }) => p.mmap(PAGE, { prot: "rw" as never }),
      },
      {
        call: "p.mmap(4096, { flags: MAP_PRIVATE })",
        errno: "EBADF",
        run: ({ p }) => p.mmap(PAGE, { flags: MAP_PRIVATE }),
      },
      {
        call: "p.mmap(4096, { flags: MAP_SHARED, file, offset: 100 })",
        errno: "EINVAL",
        run: ({ p, file }) => p.mmap(PAGE, { flags: MAP_SHARED, file, offset: 100 }),
      },
      {
        call: "p.mmap(4096, { flags: MAP_SHARED, file, offset: 2 ** 53 - 4096 })",
        errno: "EOVERFLOW",
        run: ({ p, file }) => p.mmap(PAGE, { flags: MAP_SHARED, file, offset: 2 ** 53 - PAGE }),
      },
      {
        // ksys_mmap_pgoff(): MAP_HUGETLB of a file that is not on hugetlbfs.
        call: "p.mmap(4096, { flags: MAP_SHARED | MAP_HUGETLB, file })",
        errno: "EINVAL",
        run: ({ p, file }) => p.mmap(PAGE, { flags: MAP_SHARED | MAP_HUGETLB, file }),
      },
      {
        // hstate_sizelog(): no 16 MiB huge page size on x86-64.
        call: "p.mmap(4096, { flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (24 << MAP_HUGE_SHIFT) })",
        errno: "EINVAL",
        run: ({ p }) =>
          p.mmap(PAGE, {
            flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (24 << MAP_HUGE_SHIFT),
          }),
      },
      { call: "p.mmap(2 ** 47)", errno: "ENOMEM", run: ({ p }) => p.mmap(2 ** 47) },
      { call: "p.mmap(2 ** 42)", errno: "ENOMEM", run: ({ p }) => p.mmap(2 ** 42) },
      {
        call: "p.mmap(2 ** 46, { prot: PROT_READ })",
        errno: "ENOMEM",
        run: ({ p }) => p.mmap(2 ** 46, { prot: PROT_READ }),
      },
      {
        call: "p.munmap(addr + 1, 4096)",
        errno: "EINVAL",
        run: ({ p, addr }) => p.munmap(addr + 1, PAGE),
      },
      { call: "p.munmap(addr, 0)", errno: "EINVAL", run: ({ p, addr }) => p.munmap(addr, 0) },
      {
        call: "p.munmap(addr, 2 ** 47)",
        errno: "EINVAL",
        run: ({ p, addr }) => p.munmap(addr, 2 ** 47),
      },
      {
        call: "p.mprotect(addr + 1, 4096, PROT_READ)",
        errno: "EINVAL",
        run: ({ p, addr }) => p.mprotect(addr + 1, PAGE, PROT_READ),
      },
      {
        call: "p.mprotect(addr, 4096, 0x10)",
        errno: "EINVAL",
        run: ({ p, addr }) => p.mprotect(addr, PAGE, 0x10),
      },
      // A range from a mapped start into a hole (past TASK_SIZE too) is ENOMEM only after the
      // VMAs before the hole changed (do_mprotect_pkey()), so it is no wrong call of this table.
      {
        call: "p.mprotect(addr, -4096, PROT_READ)",
        errno: "ENOMEM",
        run: ({ p, addr }) => p.mprotect(addr, -PAGE, PROT_READ),
      },
      {
        call: "p.mprotect(addr + 2 ** 46, 4096, PROT_READ)",
        errno: "ENOMEM",
        run: ({ p, addr }) => p.mprotect(addr + 2 ** 46, PAGE, PROT_READ),
      },
      {
        call: "p.mlock(addr + 2 ** 46, 4096)",
        errno: "ENOMEM",
        run: ({ p, addr }) => p.mlock(addr + 2 ** 46, PAGE),
      },
      {
        call: "p.madvise(addr, 4096, 99)",
        errno: "EINVAL",
        run: ({ p, addr }) => p.madvise(addr, PAGE, 99),
      },
      {
        call: "p.madvise(addr + 1, 4096, MADV_HUGEPAGE)",
        errno: "EINVAL",
        run: ({ p, addr }) => p.madvise(addr + 1, PAGE, MADV_HUGEPAGE),
      },
      {
        call: "p.madvise(addr + 2 ** 46, 4096, MADV_HUGEPAGE)",
        errno: "ENOMEM",
        run: ({ p, addr }) => p.madvise(addr + 2 ** 46, PAGE, MADV_HUGEPAGE),
      },
    ],
  ],
  [
    "Memory policy",
    [
      {
        call: "p.mbind(addr, 4096, 42, [0])",
        errno: "EINVAL",
        run: ({ p, addr }) => p.mbind(addr, PAGE, 42, [0]),
      },
      {
        call: "p.mbind(addr, 4096, MPOL_BIND, [5])",
        errno: "EINVAL",
        run: ({ p, addr }) => p.mbind(addr, PAGE, MPOL_BIND, [5]),
      },
      {
        call: "p.mbind(addr, 4096, MPOL_BIND, [2])  // no memory",
        errno: "EINVAL",
        run: ({ p, addr }) => p.mbind(addr, PAGE, MPOL_BIND, [2]),
      },
      {
        call: "p.mbind(addr, 4096, MPOL_DEFAULT, [0])",
        errno: "EINVAL",
        run: ({ p, addr }) => p.mbind(addr, PAGE, MPOL_DEFAULT, [0]),
      },
      {
        call: "p.mbind(addr, 2 ** 46, MPOL_BIND, [1])",
        errno: "EFAULT",
        run: ({ p, addr }) => p.mbind(addr, 2 ** 46, MPOL_BIND, [1]),
      },
      {
        call: "p.mbind(addr, 4096, MPOL_BIND | MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES, [1])",
        errno: "EINVAL",
        run: ({ p, addr }) =>
          p.mbind(addr, PAGE, MPOL_BIND | MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES, [1]),
      },
      {
        call: "p.mbind(addr, 4096, MPOL_BIND, [1], MPOL_MF_LAZY)",
        errno: "EINVAL",
        run: ({ p, addr }) => p.mbind(addr, PAGE, MPOL_BIND, [1], MPOL_MF_LAZY),
      },
      {
        call: "p.mbind(addr, 4096, MPOL_BIND, [1], MPOL_MF_MOVE_ALL)",
        errno: "EPERM",
        run: ({ p, addr }) => p.mbind(addr, PAGE, MPOL_BIND, [1], MPOL_MF_MOVE_ALL),
      },
      {
        call: "p.mbind(addr, 4096, MPOL_BIND, [1], MPOL_MF_STRICT)  // the page is on node 0",
        errno: "EIO",
        run: ({ p, addr }) => p.mbind(addr, PAGE, MPOL_BIND, [1], MPOL_MF_STRICT),
      },
      {
        call: "p.setMempolicy(MPOL_BIND, 1)",
        errno: "EFAULT",
        run: ({ p }) => p.setMempolicy(MPOL_BIND, 1 as never),
      },
      {
        call: "p.setMempolicy(MPOL_INTERLEAVE | MPOL_F_NUMA_BALANCING, [0])",
        errno: "EINVAL",
        run: ({ p }) => p.setMempolicy(MPOL_INTERLEAVE | MPOL_F_NUMA_BALANCING, [0]),
      },
      { call: "p.getMempolicy(64)", errno: "EINVAL", run: ({ p }) => p.getMempolicy(64) },
      {
        call: "p.getMempolicy(MPOL_F_NODE)",
        errno: "EINVAL",
        run: ({ p }) => p.getMempolicy(MPOL_F_NODE),
      },
      {
        call: "p.getMempolicy(MPOL_F_MEMS_ALLOWED | MPOL_F_NODE)",
        errno: "EINVAL",
        run: ({ p }) => p.getMempolicy(MPOL_F_MEMS_ALLOWED | MPOL_F_NODE),
      },
      {
        call: "p.migratePagesSyscall(0, -1, [0], [1])",
        errno: "EINVAL",
        run: ({ p }) => p.migratePagesSyscall(0, -1, [0], [1]),
      },
      {
        call: "p.migratePagesSyscall(0, 128, [0], [64])",
        errno: "EINVAL",
        run: ({ p }) => p.migratePagesSyscall(0, 128, [0], [64]),
      },
      {
        call: "p.migratePagesSyscall(0, 64, 1, [1])",
        errno: "EFAULT",
        run: ({ p }) => p.migratePagesSyscall(0, 64, 1 as never, [1]),
      },
      {
        call: "p.migratePagesSyscall(999, 64, [0], [1])",
        errno: "ESRCH",
        run: ({ p }) => p.migratePagesSyscall(999, 64, [0], [1]),
      },
      {
        call: "p.migratePagesSyscall(other.pid, 64, [0], [1])",
        errno: "EPERM",
        run: ({ p, other }) => p.migratePagesSyscall(other.pid, 64, [0], [1]),
      },
      {
        call: "p.migratePagesSyscall(0, 64, [0], [2])  // outside its cpuset, no CAP_SYS_NICE",
        errno: "EPERM",
        run: ({ p }) => p.migratePagesSyscall(0, 64, [0], [2]),
      },
    ],
  ],
  [
    "Reading and writing memory",
    [
      { call: "p.read(addr, -1)", errno: "EINVAL", run: ({ p, addr }) => p.read(addr, -1) },
      { call: "p.read(-5, 1)", errno: "EFAULT", run: ({ p }) => p.read(-5, 1) },
      {
        call: "p.read(addr, 2 ** 40)",
        errno: "EFAULT",
        run: ({ p, addr }) => p.read(addr, 2 ** 40),
      },
      {
        call: "p.read(TASK_SIZE - 4096, 8192)",
        errno: "EFAULT",
        run: ({ p }) => p.read(TASK_SIZE - PAGE, 2 * PAGE),
      },
      {
        call: "p.read(big, 2 ** 33)  // big = p.mmap(2 ** 33, { prot: PROT_READ })",
        errno: "ENOMEM",
        run: ({ p }) => p.read(run(p.mmap(2 ** 33, { prot: PROT_READ })), 2 ** 33),
      },
      {
        call: 'p.write(addr, "text")',
        errno: "EFAULT",
        run: ({ p, addr }) => p.write(addr, "text" as never),
      },
      {
        call: "p.readInto(addr, [0, 0])",
        errno: "EFAULT",
        run: ({ p, addr }) => p.readInto(addr, [0, 0] as never),
      },
      {
        call: "p.readInto(TASK_SIZE - 4096, new Uint8Array(8192))",
        errno: "EFAULT",
        run: ({ p }) => p.readInto(TASK_SIZE - 4096, new Uint8Array(8192)),
      },
    ],
  ],
  [
    "`move_pages`",
    [
      {
        call: "p.movePages(0, [addr], [1], 0x8)",
        errno: "EINVAL",
        run: ({ p, addr }) => p.movePages(0, [addr], [1], 0x8),
      },
      {
        call: "p.movePages(0, [addr], [1], MPOL_MF_MOVE_ALL)",
        errno: "EPERM",
        run: ({ p, addr }) => p.movePages(0, [addr], [1], MPOL_MF_MOVE_ALL),
      },
      {
        call: "p.movePages(999, [addr], [1])",
        errno: "ESRCH",
        run: ({ p, addr }) => p.movePages(999, [addr], [1]),
      },
      {
        call: "p.movePages(other.pid, [addr], [1])",
        errno: "EPERM",
        run: ({ p, other, addr }) => p.movePages(other.pid, [addr], [1]),
      },
      {
        call: 'p.movePages(kthread.pid, [addr], [1])  // kthread = k.createKernelThread("kt")',
        errno: "EINVAL",
        run: ({ k, addr }) => {
          const kt = run(k.createKernelThread("kt"));
          const root = run(k.createProcess({ capabilities: [CAP_SYS_NICE, CAP_SYS_PTRACE] }));
          return root.movePages(kt.pid, [addr], [1]);
        },
      },
      {
        call: "p.movePages(0, [addr], [])",
        errno: "EFAULT",
        run: ({ p, addr }) => p.movePages(0, [addr], []),
      },
      {
        call: "p.movePages(0, [addr], [0], MPOL_MF_MOVE, new Int32Array(0))",
        errno: "EFAULT",
        run: ({ p, addr }) => p.movePages(0, [addr], [0], MPOL_MF_MOVE, new Int32Array(0)),
      },
      {
        call: 'p.movePages(0, ["x"], null)',
        errno: "EFAULT",
        run: ({ p }) => p.movePages(0, ["x" as never], null),
      },
      {
        call: "p.movePages(0, { length: 2 ** 33 }, null)",
        errno: "ENOMEM",
        run: ({ p }) => p.movePages(0, { length: 2 ** 33 }, null),
      },
      {
        call: "p.movePages(0, [addr], [2])  // no memory",
        errno: "ENODEV",
        run: ({ p, addr }) => p.movePages(0, [addr], [2]),
      },
      {
        call: "p.movePages(0, [addr], [64])",
        errno: "ENODEV",
        run: ({ p, addr }) => p.movePages(0, [addr], [64]),
      },
      {
        call: "q.movePages(0, [a], [1])  // q = createProcess({ memsAllowed: [0] })",
        errno: "EACCES",
        run: ({ k }) => {
          const q = run(k.createProcess({ memsAllowed: [0] }));
          const a = run(q.mmap(PAGE));
          run(q.write(a, new Uint8Array([1])));
          return q.movePages(0, [a], [1]);
        },
      },
    ],
  ],
  [
    "Modules and migrators",
    [
      { call: "k.loadModule(null)", errno: "EINVAL", run: ({ k }) => k.loadModule(null as never) },
      {
        call: 'k.loadModule({ name: "has space" })',
        errno: "EINVAL",
        run: ({ k }) => k.loadModule({ name: "has space" }),
      },
      {
        call: 'k.loadModule({ name: "m", init: 5 })',
        errno: "EINVAL",
        run: ({ k }) => k.loadModule({ name: "m", init: 5 as never }),
      },
      {
        call: 'k.loadModule({ name: "m" })  // twice',
        errno: "EEXIST",
        run: ({ k }) => {
          run(k.loadModule({ name: "m" }));
          return k.loadModule({ name: "m" });
        },
      },
      {
        call: 'k.loadModule({ name: "m", init: () => { throw new Error("probe") } })',
        errno: "EIO",
        run: ({ k }) =>
          k.loadModule({
            name: "m",
            init: () => {
              throw new Error("probe");
            },
          }),
      },
      {
        call: 'k.loadModule({ name: "m", init: () => undefined })',
        errno: "EIO",
        run: ({ k }) => k.loadModule({ name: "m", init: () => undefined as never }),
      },
      { call: 'k.unloadModule("nope")', errno: "ENOENT", run: ({ k }) => k.unloadModule("nope") },
      {
        call: 'k.unloadModule("m")  // its migrator is active',
        errno: "EBUSY",
        run: ({ k }) => {
          const module = run(k.loadModule({ name: "m" }));
          run(k.migrateOffload.register({ ...migrator("m"), owner: module }));
          return k.unloadModule("m");
        },
      },
      {
        call: "k.migrateOffload.register(b)  // a is active",
        errno: "EBUSY",
        run: ({ k }) => {
          run(k.migrateOffload.register(migrator("a")));
          return k.migrateOffload.register(migrator("b"));
        },
      },
      {
        call: 'k.migrateOffload.register({ name: "x", owner: null })',
        errno: "EINVAL",
        run: ({ k }) => k.migrateOffload.register({ name: "x", owner: null } as never),
      },
      {
        call: 'k.migrateOffload.register({ ...m, name: "none" })',
        errno: "EINVAL",
        run: ({ k }) =>
          k.migrateOffload.register({
            name: "none",
            owner: null,
            offloadCopy: () => null as never,
          }),
      },
      {
        call: "k.migrateOffload.unregister(m)  // not active",
        errno: "EINVAL",
        run: ({ k }) =>
          k.migrateOffload.unregister({ name: "m", owner: null, offloadCopy: () => null as never }),
      },
      {
        call: "k.migrateOffload.setReasonMask(1 << 12)",
        errno: "EINVAL",
        run: ({ k }) => k.migrateOffload.setReasonMask(1 << 12),
      },
    ],
  ],
  [
    "Physical memory",
    [
      { call: "k.allocFolio(9, 0)", errno: "EINVAL", run: ({ k }) => k.allocFolio(9, 0) },
      { call: "k.allocFolio(0, 40)", errno: "EINVAL", run: ({ k }) => k.allocFolio(0, 40) },
      {
        call: "k.allocFolio(0, 0, Number.NaN)",
        errno: "EINVAL",
        run: ({ k }) => k.allocFolio(0, 0, Number.NaN),
      },
      {
        call: "k.allocFolio(0, 0, 1 << 20)  // outside __GFP_BITS_MASK",
        errno: "EINVAL",
        run: ({ k }) => k.allocFolio(0, 0, 1 << 20),
      },
      {
        call: "k.allocFolio(2, 0, __GFP_THISNODE)  // node 2 has no memory",
        errno: "ENOMEM",
        run: ({ k }) => k.allocFolio(2, 0, __GFP_THISNODE),
      },
      { call: "k.memoryFailure(-1)", errno: "ENXIO", run: ({ k }) => k.memoryFailure(-1) },
      { call: "k.unpoisonMemory(100)", errno: "EBUSY", run: ({ k }) => k.unpoisonMemory(100) },
    ],
  ],
  [
    "sysfs and procfs",
    [
      {
        call: 'k.fs.read("/sys/kernel/mm/nope")',
        errno: "ENOENT",
        run: ({ k }) => k.fs.read("/sys/kernel/mm/nope"),
      },
      {
        call: 'k.fs.read("/sys/kernel/mm")',
        errno: "EISDIR",
        run: ({ k }) => k.fs.read("/sys/kernel/mm"),
      },
      {
        call: 'k.fs.list("/proc/vmstat")',
        errno: "ENOTDIR",
        run: ({ k }) => k.fs.list("/proc/vmstat"),
      },
      {
        call: 'k.fs.write("/proc/vmstat", "1")',
        errno: "EACCES",
        run: ({ k }) => k.fs.write("/proc/vmstat", "1"),
      },
      { call: "k.fs.read(7)", errno: "EFAULT", run: ({ k }) => k.fs.read(7 as never) },
      {
        call: `k.fs.write("${THP}/enabled", 1)`,
        errno: "EFAULT",
        run: ({ k }) => k.fs.write(`${THP}/enabled`, 1 as never),
      },
      {
        call: `k.fs.write("${THP}/enabled", "sometimes")`,
        errno: "EINVAL",
        run: ({ k }) => k.fs.write(`${THP}/enabled`, "sometimes"),
      },
      {
        call: `k.fs.write("${MIGRATION}/offload_migrator", "bogus")`,
        errno: "EINVAL",
        run: ({ k }) => k.fs.write(`${MIGRATION}/offload_migrator`, "bogus"),
      },
      {
        call: `k.fs.write("${MIGRATION}/offload_reasons", "compaction,bogus")`,
        errno: "EINVAL",
        run: ({ k }) => k.fs.write(`${MIGRATION}/offload_reasons`, "compaction,bogus"),
      },
      {
        call: `k.fs.write("${MIGRATION}/offload_reasons", "all")  // none active`,
        errno: "ENODEV",
        run: ({ k }) => k.fs.write(`${MIGRATION}/offload_reasons`, "all"),
      },
      {
        call: "k.fs.write(file, text)  // its store throws",
        errno: "EIO",
        run: ({ k }) => {
          k.fs.addAttributes("/sys/kernel/demo", {
            value: {
              mode: 0o644,
              store: () => {
                throw new Error("parse bug");
              },
            },
          });
          return k.fs.write("/sys/kernel/demo/value", "1");
        },
      },
    ],
  ],
];

/** A migrator that copies nothing itself: every batch is declined. */
function migrator(name: string): Migrator {
  return { name, owner: null, shouldBatch: () => true, offloadCopy: () => Effect.succeed(-95) };
}

/** A table cell: pipes escaped, as the page writes them. */
const cell = (text: string): string => text.replaceAll("|", "\\|");

/** The tables the page shows, one per group, rendered from the calls' actual errors. */
const render = (results: ReadonlyArray<readonly [string, ReadonlyArray<[WrongCall, string]>]>) =>
  results
    .map(([group, rows]) =>
      [
        `### ${group}`,
        "",
        "| call | errno | message |",
        "| --- | --- | --- |",
        ...rows.map(
          ([c, message]) => `| \`${cell(c.call)}\` | \`${c.errno}\` | ${cell(message)} |`,
        ),
      ].join("\n"),
    )
    .join("\n\n");

/**
 * A section's lines with table cells trimmed and rule rows shortened, so that the comparison
 * ignores the column padding the formatter adds to the page.
 */
const normalize = (text: string): string[] =>
  text
    .trim()
    .split("\n")
    .map((line) =>
      line.startsWith("|")
        ? line
            .split(/(?<!\\)\|/)
            .map((c) => c.trim())
            .map((c) => (/^-+$/.test(c) ? "---" : c))
            .join("|")
        : line.trim(),
    );

const PAGE_URL = new URL("../../../docs/reliability.md", import.meta.url);
const BEGIN =
  "<!-- wrong-calls:begin (generated by packages/core/test/index.wrong_calls.test.ts) -->";
const END = "<!-- wrong-calls:end -->";

describe("wrong calls to the public API", () => {
  it("each fails with the kernel's errno and changes nothing, as docs/reliability.md lists it", () => {
    const results = groups.map(
      ([group, calls]) =>
        [
          group,
          calls.map((c): [WrongCall, string] => {
            const w = world();
            const vmas = w.p.mm!.vmas.map((v) => [v, v.start, v.end, v.flags] as const);
            const error = expectErrno(c.run(w), c.errno);
            // Nothing of the caller's changed: its mappings, its page and its policy.
            for (const [v, start, end, flags] of vmas) {
              expect(w.p.mm!.vmas).toContain(v);
              expect([v.start, v.end, v.flags]).toEqual([start, end, flags]);
            }
            expect(run(w.p.read(w.addr, 1))[0]).toBe(1);
            expect(w.p.policy).toBeNull();
            return [c, error.message];
          }),
        ] as const,
    );
    const table = `\n\n${render(results)}\n\n`;
    const section = (page: string): string => {
      const begin = page.indexOf(BEGIN);
      const end = page.indexOf(END);
      expect(begin).toBeGreaterThan(0);
      expect(end).toBeGreaterThan(begin);
      return page.slice(begin + BEGIN.length, end);
    };
    if (process.env.UPDATE_DOCS === "1") {
      const page = readFileSync(PAGE_URL, "utf8");
      writeFileSync(PAGE_URL, page.replace(BEGIN + section(page) + END, BEGIN + table + END));
    }
    expect(normalize(section(readFileSync(PAGE_URL, "utf8")))).toEqual(normalize(table));
    // A kernel booted per wrong call, about 200 of them: a budget for a loaded 2-core machine.
  }, 60_000);
});
