/**
 * A fuzz of sysfs and procfs writes: every writable file of a kernel with its migrator drivers
 * loaded, written with valid values and junk, interleaved with migrations.
 *
 * User space reaches a sysfs `store` through `write(2)`: `kernfs_fop_write_iter()`
 * (`fs/kernfs/file.c`) copies the text in and calls the file's `write`, which for sysfs is
 * `sysfs_kf_write()` (`fs/sysfs/file.c`), which calls the attribute's `store`. In this model that
 * path is `kernel.fs.write(path, text)`. {@link fuzzSysfsWrites} checks the promises of that path
 * for every writable file it finds: each write ends in success (the byte count) or a typed errno,
 * a refused write changes nothing, migrations keep every byte, and the kernel's metadata is
 * consistent at the end.
 *
 * @module
 */
import {
  type ErrnoError,
  Kernel,
  type KernelConfig,
  type KObject,
  MIGRATE_REASON_NAMES,
  MPOL_MF_MOVE,
  type Task,
} from "@migrate-offload/core";
import {
  checkKernelConsistency,
  type MigratorSubject,
  pattern,
  sameBytes,
} from "@migrate-offload/core/testing";
import { Cause, Effect, Exit } from "effect";
import fc from "fast-check";

/** Options of {@link fuzzSysfsWrites}. @category Sysfs fuzz */
export interface SysfsFuzzOptions {
  /**
   * The drivers to load, in order (`mtcopyConformanceSubject`, `dcbmConformanceSubject`, …). Each
   * subject's load switches its migrator on; before loading the next one the fuzz writes `none` to
   * `/sys/kernel/mm/migration/offload_migrator`, so the last one loaded is active when the writes
   * start. They are unloaded last-first at the end of every run.
   */
  readonly drivers: readonly MigratorSubject[];
  /** Runs of the property, each on a freshly booted kernel; default 200. */
  readonly numRuns?: number;
  /**
   * Writes per run; default 50, so the defaults make 10⁴ writes. Migrations come on top of them,
   * after about one write in eight.
   */
  readonly writesPerRun?: number;
  /** fast-check's seed; by default a fresh one, which the report names. */
  readonly seed?: number;
  /** fast-check's replay path of a failing case (the report's `failure.path`), with its seed. */
  readonly path?: string;
  /** The machine's nodes; default two of 16 MiB. */
  readonly nodes?: KernelConfig["nodes"];
  /**
   * How long a write, a migration or the teardown may take before it counts as a hang; default
   * 10 000 ms. Nothing is timed otherwise.
   */
  readonly hangMs?: number;
  /** Called as each run starts (not while fast-check shrinks a failing case). */
  readonly onRun?: (run: number, of: number) => void;
  /**
   * Which writable files the writes go to (default: every one), for a fuzz aimed at a driver's own
   * files among the kernel's many. The others stay found and checked for changes.
   */
  readonly files?: (path: string) => boolean;
}

/** One step of a run: a write of `value` to `file`, or a migration. @category Sysfs fuzz */
export type SysfsFuzzCommand =
  | { readonly kind: "write"; readonly file: string; readonly value: string }
  | { readonly kind: "migrate" };

/** The writes one file received. @category Sysfs fuzz */
export interface SysfsFuzzFileCount {
  /** Writes made to it. */
  readonly writes: number;
  /** Of those, the ones that succeeded. */
  readonly accepted: number;
  /** Of those, the ones refused with an errno. */
  readonly refused: number;
}

/**
 * A broken promise, as fast-check shrank it: the commands of the smallest failing run it found
 * and what went wrong at the last of them. @category Sysfs fuzz
 */
export interface SysfsFuzzFailure {
  /** What broke: the file, the value and what happened. */
  readonly message: string;
  /** The run's commands, the failing one last. */
  readonly commands: readonly SysfsFuzzCommand[];
  /** The seed and path that replay the shrunk run (`fuzzSysfsWrites({ seed, path, … })`). */
  readonly seed: number;
  /** fast-check's replay path of the shrunk run. */
  readonly path: string | null;
  /** Runs made before the first failure, that one included. */
  readonly runsBeforeFailure: number;
  /** Shrinking steps fast-check took. */
  readonly numShrinks: number;
}

/**
 * Where a file answers a write otherwise than the kernel's write path would, without breaking a
 * promise of the fuzz. None is counted today: the two rules this used to count, an empty write
 * that reached the store (`sysfs_kf_write()`, `fs/sysfs/file.c`, returns 0 for it without calling
 * the store) and a write longer than a page that a store accepted whole
 * (`kernfs_fop_write_iter()`, `fs/kernfs/file.c`, hands a sysfs store at most `PAGE_SIZE`
 * bytes), are now promises the write path keeps and the fuzz fails on. @category Sysfs fuzz
 */
export interface SysfsFuzzDeviation {
  /** Which rule of the kernel's write path. */
  readonly rule: "empty-write" | "page-size";
  /** The file. */
  readonly file: string;
  /** What it did, the first time. */
  readonly what: string;
  /** How many writes did so. */
  readonly count: number;
}

/** What {@link fuzzSysfsWrites} did and found. @category Sysfs fuzz */
export interface SysfsFuzzReport {
  /** fast-check's seed. */
  readonly seed: number;
  /** Runs counted (every run, or those up to and including the first failing one). */
  readonly runs: number;
  /** Every writable file found (sysfs and procfs), sorted. */
  readonly files: readonly string[];
  /** Every file found, writable or not. */
  readonly filesSeen: number;
  /** Writes made. */
  readonly writes: number;
  /** Writes that succeeded with the byte count. */
  readonly accepted: number;
  /** Writes refused, by errno name. */
  readonly refused: Readonly<Record<string, number>>;
  /** The writes by file. */
  readonly byFile: Readonly<Record<string, SysfsFuzzFileCount>>;
  /** Migrations (`move_pages` of the whole region to the other node) made, every byte checked. */
  readonly migrations: number;
  /** Runs whose kernel `checkKernelConsistency()` checked at the end. */
  readonly consistencyChecks: number;
  /** What those checks found; empty when every one was clean. */
  readonly consistency: readonly string[];
  /** Where the write path differs from the kernel's without breaking a promise, by rule and file. */
  readonly deviations: readonly SysfsFuzzDeviation[];
  /** The first broken promise, shrunk; null when every run kept every promise. */
  readonly failure: SysfsFuzzFailure | null;
}

const REGISTRY_SWITCH = "/sys/kernel/mm/migration/offload_migrator";
/** A migration follows a write with probability 1 in this. */
const MIGRATION_EVERY = 8;
const THP_BYTES = 2 << 20;
const SMALL_PAGES = 16;
const PAGE = 4096;

/** A file's text for messages: JSON, cut after 40 characters. */
const show = (value: string): string =>
  value.length <= 40
    ? JSON.stringify(value)
    : `${JSON.stringify(value.slice(0, 40))}… (${value.length} characters)`;

/** What a guarded call came to. */
type Outcome<A> =
  | { readonly kind: "success"; readonly value: A }
  | { readonly kind: "errno"; readonly error: ErrnoError }
  | { readonly kind: "other"; readonly what: string }
  | { readonly kind: "hang" };

/** An outcome other than success, in words. */
const describeOutcome = (outcome: Outcome<unknown>): string => {
  switch (outcome.kind) {
    case "success":
      return "success";
    case "errno":
      return `${outcome.error.errno} (${outcome.error.message})`;
    case "other":
      return outcome.what;
    case "hang":
      return "no end (a hang)";
  }
};

/** Whether `error` is a typed kernel error: an `ErrnoError` with an errno name. */
const isTypedErrno = (error: unknown): error is ErrnoError =>
  typeof error === "object" &&
  error !== null &&
  (error as { _tag?: unknown })._tag === "ErrnoError" &&
  typeof (error as { errno?: unknown }).errno === "string";

/** The `EIO` message of the kernel's sysfs boundary when a store itself broke (`fs/kernfs.ts`). */
const BROKEN_STORE = /: store (threw|returned)|: store's Effect/;

/**
 * Runs a kernel call to its end, or until `hangMs` pass without one; then it interrupts the call,
 * so that the kernel can still be shut down unless the call cannot be interrupted. A store that
 * throws is a defect of the Effect, or (outside it) an exception here: both are `other`.
 */
const guarded = async <A, E>(effect: Effect.Effect<A, E>, hangMs: number): Promise<Outcome<A>> => {
  const abort = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<"hang">((resolve) => {
    timer = setTimeout(() => resolve("hang"), hangMs);
  });
  try {
    const exit = await Promise.race([
      Effect.runPromiseExit(effect, { signal: abort.signal }),
      hang,
    ]);
    if (exit === "hang") {
      abort.abort();
      return { kind: "hang" };
    }
    if (Exit.isSuccess(exit)) return { kind: "success", value: exit.value };
    if (Cause.hasDies(exit.cause))
      return { kind: "other", what: `a defect: ${Cause.pretty(exit.cause)}` };
    const found = Exit.findErrorOption(exit);
    if (found._tag === "Some" && isTypedErrno(found.value))
      return { kind: "errno", error: found.value };
    return { kind: "other", what: `an untyped failure: ${Cause.pretty(exit.cause)}` };
  } catch (error) {
    return { kind: "other", what: `an exception: ${String(error)}` };
  } finally {
    clearTimeout(timer);
  }
};

/** The errno a failed call's exit carries, if it is a typed one. */
const errnoOf = (exit: Exit.Exit<unknown, unknown>): string | undefined => {
  const found = Exit.findErrorOption(exit);
  return found._tag === "Some" && isTypedErrno(found.value) ? found.value.errno : undefined;
};

/** The attribute at `path`, found through the kobject tree from `kernel.fs.root`. */
const attributeAt = (root: KObject, path: string) => {
  const parts = path.split("/").filter((p) => p.length > 0);
  const name = parts.pop();
  let dir: KObject | undefined = root;
  for (const part of parts) dir = dir?.children.get(part);
  return name === undefined ? undefined : dir?.attributes.get(name);
};

/** The files of a kernel's tree, found by `readdir` from `/`. */
interface Tree {
  /** Every file. */
  readonly all: readonly string[];
  /** Files with a write bit in their mode. */
  readonly writable: readonly string[];
  /** Files with a read bit in their mode. */
  readonly readable: readonly string[];
}

/**
 * Walks `kernel.fs` with `list` from `/` (a name that `list` refuses with `ENOTDIR` is a file),
 * and reads each file's mode from its attribute in `kernel.fs.root`.
 */
const discover = (kernel: Kernel): Tree => {
  const all: string[] = [];
  const walk = (dir: string): void => {
    const names = Effect.runSyncExit(kernel.fs.list(dir));
    if (Exit.isFailure(names)) throw new Error(`readdir of ${dir} failed: ${names.cause}`);
    for (const name of names.value) {
      const path = `${dir === "/" ? "" : dir}/${name}`;
      const sub = Effect.runSyncExit(kernel.fs.list(path));
      if (Exit.isSuccess(sub)) walk(path);
      else if (errnoOf(sub) === "ENOTDIR") all.push(path);
      else throw new Error(`readdir of ${path} failed: ${sub.cause}`);
    }
  };
  walk("/");
  all.sort();
  const attr = (path: string) => {
    const found = attributeAt(kernel.fs.root, path);
    if (!found) throw new Error(`${path} is listed but has no attribute in kernel.fs.root`);
    return found;
  };
  return {
    all,
    writable: all.filter((p) => (attr(p).mode & 0o222) !== 0),
    readable: all.filter((p) => (attr(p).mode & 0o444) !== 0),
  };
};

/** Every readable file's text (or `!ERRNO` where the read fails). */
type Snapshot = Map<string, string>;

const snapshot = (kernel: Kernel, files: readonly string[]): Snapshot => {
  const out: Snapshot = new Map();
  for (const file of files) {
    const exit = Effect.runSyncExit(kernel.fs.read(file));
    out.set(file, Exit.isSuccess(exit) ? exit.value : `!${errnoOf(exit)}`);
  }
  return out;
};

/** The files whose text differs between two snapshots, as `file: before → after` lines. */
const changes = (before: Snapshot, after: Snapshot): string[] =>
  [...before.keys()]
    .filter((file) => before.get(file) !== after.get(file))
    .map((file) => `${file}: ${show(before.get(file)!)} → ${show(after.get(file)!)}`);

/** One booted kernel with its drivers and a process whose memory holds the pattern. */
interface World {
  readonly kernel: Kernel;
  readonly proc: Task;
  readonly regions: readonly {
    readonly addr: number;
    readonly bytes: number;
    readonly seed: number;
  }[];
  readonly pages: readonly number[];
  readonly tree: Tree;
  /**
   * Set when a step of the teardown hung: the rest is skipped, and the kernel is left behind
   * (its shutdown would wait for the call).
   */
  hung: boolean;
}

/** A broken promise inside a run. */
class FuzzFailure extends Error {}

const setUp = async (options: SysfsFuzzOptions, hangMs: number): Promise<World> => {
  // No kswapd or kcompactd from boot: they would run on the live clock beside the writes, so a
  // seed would no longer name one run (with them from boot, the fixed-seed fuzz of mtcopy and
  // dcbm hung past 120 s in one run of three under load). Their knobs are written all the same.
  const kernel = await Effect.runPromise(
    Kernel.boot({
      nodes: options.nodes ?? ["16M", "16M"],
      thp: { enabled: "madvise" },
      daemons: "on-demand",
    }),
  );
  try {
    for (const [i, driver] of options.drivers.entries()) {
      if (i > 0) Effect.runSync(kernel.fs.write(REGISTRY_SWITCH, "none"));
      const loaded = await guarded(driver.load(kernel), hangMs);
      if (loaded.kind !== "success")
        throw new Error(`loading ${driver.name} ended in ${describeOutcome(loaded)}`);
    }
    const proc = Effect.runSync(kernel.createProcess({ node: 0 }));
    const regions = [
      { bytes: THP_BYTES, hugepage: true, seed: 1 },
      { bytes: SMALL_PAGES * PAGE, hugepage: false, seed: 2 },
    ].map(({ bytes, hugepage, seed }) => {
      const addr = Effect.runSync(proc.mmap(bytes, { hugepage }));
      Effect.runSync(proc.write(addr, pattern(bytes, seed)));
      return { addr, bytes, seed };
    });
    const pages = regions.flatMap(({ addr, bytes }) =>
      Array.from({ length: bytes / PAGE }, (_, i) => addr + i * PAGE),
    );
    return { kernel, proc, regions, pages, tree: discover(kernel), hung: false };
  } catch (error) {
    await guarded(kernel.shutdown(), hangMs);
    throw error;
  }
};

/** Exits the process, unloads the drivers last-first and shuts the kernel down. */
const tearDown = async (world: World, options: SysfsFuzzOptions, hangMs: number) => {
  const problems: string[] = [];
  const step = async (what: string, effect: Effect.Effect<unknown, unknown>) => {
    const done = await guarded(effect, hangMs);
    if (done.kind === "hang") world.hung = true;
    if (done.kind !== "success") problems.push(`${what} ended in ${describeOutcome(done)}`);
  };
  await step("the process's exit", world.proc.exit());
  if (world.hung) return problems;
  for (const driver of [...options.drivers].reverse()) {
    if (world.hung) break;
    await step(`unloading ${driver.name}`, driver.unload(world.kernel));
  }
  if (!world.hung) await step("shutdown", world.kernel.shutdown());
  return problems;
};

/** What one run did. */
interface Tally {
  writes: number;
  accepted: number;
  refused: Map<string, number>;
  byFile: Map<string, { writes: number; accepted: number; refused: number }>;
  migrations: number;
  consistencyChecks: number;
  consistency: string[];
  deviations: Map<string, SysfsFuzzDeviation>;
}

const newTally = (): Tally => ({
  writes: 0,
  accepted: 0,
  refused: new Map(),
  byFile: new Map(),
  migrations: 0,
  consistencyChecks: 0,
  consistency: [],
  deviations: new Map(),
});

const addTally = (into: Tally, from: Tally): void => {
  into.writes += from.writes;
  into.accepted += from.accepted;
  for (const [errno, n] of from.refused)
    into.refused.set(errno, (into.refused.get(errno) ?? 0) + n);
  for (const [file, c] of from.byFile) {
    const t = into.byFile.get(file) ?? { writes: 0, accepted: 0, refused: 0 };
    into.byFile.set(file, {
      writes: t.writes + c.writes,
      accepted: t.accepted + c.accepted,
      refused: t.refused + c.refused,
    });
  }
  into.migrations += from.migrations;
  into.consistencyChecks += from.consistencyChecks;
  into.consistency.push(...from.consistency);
  for (const [key, d] of from.deviations) {
    const t = into.deviations.get(key);
    into.deviations.set(key, t ? { ...t, count: t.count + d.count } : d);
  }
};

/** One write: success with the byte count or a typed errno; after a refusal, nothing changed. */
const write = async (
  world: World,
  file: string,
  value: string,
  hangMs: number,
  tally: Tally,
): Promise<void> => {
  const { kernel } = world;
  const before = snapshot(kernel, world.tree.readable);
  const done = await guarded(kernel.fs.write(file, value), hangMs);
  const what = `write of ${show(value)} to ${file}`;
  tally.writes++;
  const count = tally.byFile.get(file) ?? { writes: 0, accepted: 0, refused: 0 };
  count.writes++;
  tally.byFile.set(file, count);
  if (done.kind === "hang") throw new FuzzFailure(`${what} did not end within ${hangMs} ms`);
  if (done.kind === "other") throw new FuzzFailure(`${what} ended in ${done.what}`);
  // The kernel contains a store that throws or returns garbage (EIO, naming what it did), but the
  // store is still broken: a driver bug the fuzz is there to find.
  if (done.kind === "errno" && BROKEN_STORE.test(done.error.message)) {
    throw new FuzzFailure(`${what} ended in a defect: the kernel contained ${done.error.message}`);
  }
  // kernfs_fop_write_iter() (fs/kernfs/file.c) hands the store at most PAGE_SIZE of the UTF-8
  // bytes, and sysfs_kf_write() (fs/sysfs/file.c) returns 0 for none without calling it;
  // proc_sys_call_handler() hands its handler the whole count. A debugfs attribute under
  // /sys/kernel/debug (one with `set`) is not kernfs: simple_attr_write() (fs/libfs.c) parses
  // its first 23 bytes, refuses none at all with kstrtoull()'s EINVAL, and on success returns
  // the whole count, past PAGE_SIZE too ("claim we got the whole input").
  const procfs = file.startsWith("/proc/");
  const debugfs = attributeAt(kernel.fs.root, file)?.set !== undefined;
  const sysfs = !procfs && !debugfs;
  const utf8 = new TextEncoder().encode(value).length;
  const bytes = sysfs ? Math.min(utf8, kernel.mem.pageSize) : utf8;
  if (done.kind === "success") {
    // proc_sys_call_handler() (fs/proc/proc_sysctl.c) returns what the handler left in *lenp:
    // proc_dointvec() does not consume what follows the number and its whitespace ("0\n\0"
    // writes 2 of 3 bytes), so a procfs write may be short; a sysfs store returns its count.
    const whole = done.value === bytes;
    const short = procfs && done.value >= 0 && done.value < bytes;
    if (!whole && !short)
      throw new FuzzFailure(`${what} succeeded with ${done.value}, not its ${bytes} bytes`);
    tally.accepted++;
    count.accepted++;
    if (bytes === 0) {
      const changed = changes(before, snapshot(kernel, world.tree.readable));
      if (changed.length > 0)
        throw new FuzzFailure(`${what} was empty but changed ${changed.join("; ")}`);
    }
    return;
  }
  const errno = done.error.errno;
  tally.refused.set(errno, (tally.refused.get(errno) ?? 0) + 1);
  count.refused++;
  // Only kernfs answers an empty write itself (sysfs_kf_write()); procfs hands it to the file's
  // handler, which may refuse it (sysctl_compaction_handler() after a value other than 1), and
  // debugfs to simple_attr_write(), which does.
  if (bytes === 0 && sysfs) throw new FuzzFailure(`${what} was empty but refused with ${errno}`);
  const changed = changes(before, snapshot(kernel, world.tree.readable));
  if (changed.length > 0)
    throw new FuzzFailure(`${what} was refused with ${errno} but changed ${changed.join("; ")}`);
};

/** `move_pages` of every page of the region to the other node; every byte must survive. */
const migrate = async (world: World, hangMs: number, tally: Tally): Promise<void> => {
  const { kernel, proc, pages } = world;
  const nodes = kernel.mem.nodes.length;
  const from = Effect.runSync(proc.nodeOf(pages[0]!));
  const to = (from + 1) % nodes;
  const done = await guarded(
    proc.movePages(
      0,
      pages,
      pages.map(() => to),
      MPOL_MF_MOVE,
    ),
    hangMs,
  );
  if (done.kind === "hang")
    throw new FuzzFailure(`move_pages to node ${to} did not end within ${hangMs} ms`);
  // A write may have left no memory to migrate into (a large nr_hugepages, say): move_pages then
  // fails with ENOMEM as a whole, as do_pages_move() does, and every byte must still be in place.
  const outOfMemory = done.kind === "errno" && done.error.errno === "ENOMEM";
  if (done.kind !== "success" && !outOfMemory)
    throw new FuzzFailure(`move_pages to node ${to} ended in ${describeOutcome(done)}`);
  if (!outOfMemory) tally.migrations++;
  for (const { addr, bytes, seed } of world.regions) {
    const got = Effect.runSync(proc.read(addr, bytes));
    if (!sameBytes(got, pattern(bytes, seed))) {
      const want = pattern(bytes, seed);
      let at = 0;
      while (got[at] === want[at]) at++;
      throw new FuzzFailure(
        `after move_pages to node ${to}, the byte at 0x${(addr + at).toString(16)} reads ${got[at]}, not ${want[at]}`,
      );
    }
  }
};

/** One run: boot, the commands in order, the consistency check, the teardown. */
const runCommands = async (
  commands: readonly SysfsFuzzCommand[],
  options: SysfsFuzzOptions,
  expected: readonly string[],
  hangMs: number,
  tally: Tally,
): Promise<void> => {
  const world = await setUp(options, hangMs);
  let failure: unknown = null;
  try {
    if (world.tree.writable.join() !== expected.join())
      throw new FuzzFailure(
        `this kernel's writable files differ from the first kernel's: ${world.tree.writable.join(", ")}`,
      );
    for (const command of commands) {
      if (command.kind === "write") await write(world, command.file, command.value, hangMs, tally);
      else await migrate(world, hangMs, tally);
    }
    const problems = checkKernelConsistency(world.kernel);
    tally.consistencyChecks++;
    tally.consistency.push(...problems);
    if (problems.length > 0)
      throw new FuzzFailure(`checkKernelConsistency:\n  ${problems.join("\n  ")}`);
  } catch (error) {
    failure = error;
  }
  const problems = await tearDown(world, options, hangMs);
  const down = problems.length > 0 ? `the teardown: ${problems.join("; ")}` : "";
  if (failure instanceof Error && down) throw new FuzzFailure(`${failure.message}\nthen ${down}`);
  if (failure !== null) throw failure;
  if (down) throw new FuzzFailure(down);
};

/** Values that are valid for no file, or that test a parser's edges. */
const JUNK = [
  "",
  " ",
  "\t",
  "\n",
  "\n\n",
  "\r\n",
  "1\r\n",
  "1\n\n",
  " 1",
  "1 ",
  "-+1",
  "+-1",
  "--1",
  "-1",
  "-0",
  "+",
  "-",
  "0x",
  "0x-1",
  "0xg",
  "08",
  "1e3",
  "1.5",
  "NaN",
  "Infinity",
  "4294967295",
  "4294967296",
  "18446744073709551615",
  "18446744073709551616",
  "99999999999999999999999999",
  "-2147483648",
  "\u0000",
  "1\u0000",
  "\ufeff1",
  "ñ",
  "\u0661",
  "\uff11",
  "\u{1d7d9}",
  "\u{1f642}",
  "all,",
  ",all",
  "compaction,,demotion",
  "[always]",
  "always never",
  "none\n\n",
  "auto\n\n",
  "AUTO",
];

const newline = (values: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.tuple(values, fc.constantFrom("", "\n")).map(([v, nl]) => v + nl);

const numbers: fc.Arbitrary<string> = newline(
  fc.oneof(
    fc.integer({ min: 0, max: 70 }).map(String),
    fc.constantFrom("0", "1", "2", "15", "16", "17", "63", "64", "65", "4294967295"),
    fc.integer({ min: 0, max: 70 }).map((n) => `0x${n.toString(16)}`),
    fc.integer({ min: 1, max: 70 }).map((n) => `0${n.toString(8)}`),
    fc.integer({ min: 0, max: 70 }).map((n) => `+${n}`),
  ),
);

const booleans: fc.Arbitrary<string> = newline(
  fc.constantFrom("0", "1", "y", "n", "Y", "N", "on", "off", "yes", "no", "true", "false", "On"),
);

const reasonLists: fc.Arbitrary<string> = newline(
  fc.oneof(
    fc.constantFrom("all", "none"),
    fc.subarray([...MIGRATE_REASON_NAMES], { minLength: 1 }).map((names) => names.join(",")),
    fc.subarray([...MIGRATE_REASON_NAMES], { minLength: 1 }).map((names) => names.join(", ")),
  ),
);

/** The words a file shows, brackets taken off: `always [madvise] never` → its three modes. */
const wordsOf = (text: string): string[] =>
  text
    .trim()
    .split(/\s+/)
    .map((w) => w.replace(/^\[(.*)\]$/, "$1"))
    .filter((w) => w.length > 0);

const isReasonList = (text: string): boolean => {
  const t = text.trim();
  return (
    t === "all" ||
    t === "none" ||
    t.split(",").every((name) => (MIGRATE_REASON_NAMES as readonly string[]).includes(name))
  );
};

/** Values of the type a file shows: numbers, booleans, reason lists or its keywords. */
const ownValues = (text: string): fc.Arbitrary<string> => {
  const t = text.trim();
  if (/^\d+$/.test(t)) return t === "0" || t === "1" ? fc.oneof(numbers, booleans) : numbers;
  if (isReasonList(t)) return reasonLists;
  const words = wordsOf(t);
  return words.length > 0 ? newline(fc.constantFrom(...words)) : fc.constant(t);
};

/**
 * Short strings of any code points. One arbitrary for every file and run: the first time it
 * generates with bias, fast-check maps every one of the unit's 1,114,112 code points back to its
 * index (to tell which of its special strings the unit can make), and keeps that map in the
 * arbitrary; one made per file and run built it again each time.
 */
const binaryStrings = fc.string({ unit: "binary", maxLength: 12 });

const junk = (own: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...JUNK) },
    { weight: 1, arbitrary: binaryStrings },
    { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).map(String) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom("1", "a", " ", "\n", "0", "all,"),
          fc.integer({ min: 4095, max: 8200 }),
        )
        .map(([s, n]) => s.repeat(Math.ceil(n / s.length)).slice(0, n)),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(own, fc.constantFrom(" ", "\t", "x", "\n\n", "\r", "\u0000", ",", "-", "é"))
        .chain(([v, extra]) => fc.constantFrom(v + extra, extra + v)),
    },
  );

/**
 * The write commands: a file chosen uniformly, then a value valid for its type, a value valid for
 * another file (a thread count, a migrator name, `auto`, `none`…) or junk.
 */
const writeArb = (
  world: World,
  files: (path: string) => boolean = () => true,
): fc.Arbitrary<SysfsFuzzCommand> => {
  const texts = snapshot(world.kernel, world.tree.writable);
  const vocabulary = new Set([
    "auto",
    "none",
    "all",
    "0",
    "1",
    "16",
    "64",
    ...MIGRATE_REASON_NAMES,
  ]);
  for (const text of texts.values()) for (const word of wordsOf(text)) vocabulary.add(word);
  const others = newline(fc.constantFrom(...[...vocabulary].sort()));
  const targets = world.tree.writable.filter(files);
  if (targets.length === 0)
    throw new TypeError("fuzzSysfsWrites: `files` selects no writable file");
  return fc.oneof(
    ...targets.map((file) => {
      const own = ownValues(texts.get(file) ?? "");
      return fc
        .oneof(
          { weight: 5, arbitrary: own },
          { weight: 2, arbitrary: others },
          { weight: 3, arbitrary: junk(own) },
        )
        .map((value): SysfsFuzzCommand => ({ kind: "write", file, value }));
    }),
  );
};

/**
 * `arb` whose values also shrink to null: a slot left empty. It never generates null, so a run
 * makes exactly as many writes as it has slots, while a shrunk case keeps only the writes that
 * matter.
 */
class Droppable<T> extends fc.Arbitrary<T | null> {
  constructor(private readonly arb: fc.Arbitrary<T>) {
    super();
  }
  generate(mrng: fc.Random, biasFactor: number | undefined): fc.Value<T | null> {
    return this.arb.generate(mrng, biasFactor);
  }
  canShrinkWithoutContext(value: unknown): value is T | null {
    return value === null || this.arb.canShrinkWithoutContext(value);
  }
  shrink(value: T | null, context: unknown): fc.Stream<fc.Value<T | null>> {
    if (value === null) return fc.Stream.nil();
    return fc.Stream.of<fc.Value<T | null>>(new fc.Value(null, undefined)).join(
      this.arb.shrink(value, context),
    );
  }
}

/**
 * A run's commands: exactly `writes` write slots, each followed by a migration about one time in
 * {@link MIGRATION_EVERY}.
 */
const commandsArb = (
  write: fc.Arbitrary<SysfsFuzzCommand>,
  writes: number,
): fc.Arbitrary<SysfsFuzzCommand[]> =>
  fc
    .array(
      fc.tuple(
        new Droppable(write),
        fc.nat({ max: MIGRATION_EVERY - 1 }).map((n) => n === MIGRATION_EVERY - 1),
      ),
      { minLength: writes, maxLength: writes },
    )
    .map((slots) =>
      slots.flatMap(([w, migrate]): SysfsFuzzCommand[] => [
        ...(w ? [w] : []),
        ...(migrate ? [{ kind: "migrate" } as const] : []),
      ]),
    );

/**
 * Fuzzes every writable sysfs and procfs file of a kernel with `options.drivers` loaded, with
 * fast-check, and reports what it did and any promise broken. Each run boots a fresh kernel
 * (two nodes), loads the drivers, maps 2 MiB of THP-eligible memory and 16 small pages in a
 * process and fills them with a pattern, then makes `writesPerRun` writes, each to a file found
 * by walking `kernel.fs` from `/` (`readdir`, `kernfs_fop_readdir()`, `fs/kernfs/dir.c`; a file
 * is writable when its attribute in `kernel.fs.root` has a write bit in its mode), with a
 * migration of the whole region to the other node after about one write in eight.
 *
 * It checks, for the write path `kernfs_fop_write_iter()` (`fs/kernfs/file.c`) →
 * `sysfs_kf_write()` (`fs/sysfs/file.c`) → the attribute's store:
 *
 * - every write ends in success with its byte count (its UTF-8 bytes, at most `PAGE_SIZE` for
 *   sysfs; a procfs write may count fewer, as `proc_dointvec()` leaves unconsumed what follows a
 *   number and its whitespace; a debugfs attribute under `/sys/kernel/debug` counts them all, as
 *   `simple_attr_write()` does) or a typed `ErrnoError`: a raw exception, a defect, an untyped
 *   failure or a write that never ends (`hangMs`) breaks the promise;
 * - an empty write to a sysfs file succeeds with 0 and changes nothing (procfs hands it to the
 *   file's handler, which may refuse it: `sysctl_compaction_handler()` does after a value other
 *   than 1; debugfs to `simple_attr_write()`, whose `kstrtoull()` refuses it with `EINVAL`;
 *   refused or not, it changes nothing);
 * - a refused write changes nothing: every readable file of the tree reads as it did before it
 *   (a superset of its own directory);
 * - after every migration every byte of the region reads back as written;
 * - at the end of each run `checkKernelConsistency()` (`CONFIG_DEBUG_VM`, `mm/debug.c`) is clean,
 *   and the process exits, the drivers unload and the kernel shuts down.
 *
 * Where the write path answers otherwise than the kernel's without breaking a promise it would
 * count a {@link SysfsFuzzDeviation}; no rule is counted today. The counts cover every run up to and including the first failing
 * one, not the runs fast-check makes while it shrinks it. Resolves with the report either way;
 * rejects only when the first kernel cannot be booted with the drivers.
 *
 * @category Sysfs fuzz
 *
 * @example
 * ```ts
 * import { dcbmConformanceSubject } from "@migrate-offload/dcbm/testing";
 * import { mtcopyConformanceSubject } from "@migrate-offload/mtcopy/testing";
 * import { fuzzSysfsWrites } from "@migrate-offload/testkit";
 *
 * const report = await fuzzSysfsWrites({
 *   drivers: [mtcopyConformanceSubject({ threads: 2 }), dcbmConformanceSubject({ engines: 1 })],
 *   numRuns: 2, // a CI suite runs 200
 *   writesPerRun: 10,
 *   seed: 2088768804, // the same writes every time; leave it out for a fresh seed
 * });
 * console.log(report.failure); // null when every promise held
 * ```
 */
export const fuzzSysfsWrites = async (options: SysfsFuzzOptions): Promise<SysfsFuzzReport> => {
  const numRuns = options.numRuns ?? 200;
  const writesPerRun = options.writesPerRun ?? 50;
  const hangMs = options.hangMs ?? 10_000;
  if (!Number.isInteger(numRuns) || numRuns < 1)
    throw new RangeError(`numRuns must be a positive integer, not ${numRuns}`);
  if (!Number.isInteger(writesPerRun) || writesPerRun < 1)
    throw new RangeError(`writesPerRun must be a positive integer, not ${writesPerRun}`);
  // The first kernel names the files and their types; every run's kernel must have the same.
  const first = await setUp(options, hangMs);
  const tree = first.tree;
  const write = writeArb(first, options.files);
  const firstDown = await tearDown(first, options, hangMs);
  if (firstDown.length > 0) throw new Error(`the first kernel: ${firstDown.join("; ")}`);

  const totals = newTally();
  let runs = 0;
  let runsBeforeFailure = 0;
  let failed = false;
  const details = await fc.check(
    fc.asyncProperty(commandsArb(write, writesPerRun), async (commands) => {
      if (!failed) options.onRun?.(runs, numRuns);
      const tally = newTally();
      try {
        await runCommands(commands, options, tree.writable, hangMs, tally);
      } catch (error) {
        if (!failed) {
          addTally(totals, tally);
          runs++;
          runsBeforeFailure = runs;
          failed = true;
        }
        throw error;
      }
      if (!failed) {
        addTally(totals, tally);
        runs++;
      }
    }),
    { numRuns, seed: options.seed, path: options.path, endOnFailure: false },
  );
  const failure: SysfsFuzzFailure | null = details.failed
    ? {
        message:
          details.errorInstance instanceof Error
            ? details.errorInstance.message
            : String(details.errorInstance),
        commands: (details.counterexample?.[0] ?? []) as SysfsFuzzCommand[],
        seed: details.seed,
        path: details.counterexamplePath,
        runsBeforeFailure,
        numShrinks: details.numShrinks,
      }
    : null;
  return {
    seed: details.seed,
    runs,
    files: tree.writable,
    filesSeen: tree.all.length,
    writes: totals.writes,
    accepted: totals.accepted,
    refused: Object.fromEntries([...totals.refused].sort()),
    byFile: Object.fromEntries(
      tree.writable.map((file) => [
        file,
        totals.byFile.get(file) ?? { writes: 0, accepted: 0, refused: 0 },
      ]),
    ),
    migrations: totals.migrations,
    consistencyChecks: totals.consistencyChecks,
    consistency: totals.consistency,
    deviations: [...totals.deviations.values()].sort(
      (a, b) => a.rule.localeCompare(b.rule) || a.file.localeCompare(b.file),
    ),
    failure,
  };
};

/**
 * A failure as text: what broke, the commands of the shrunk run (writes as `file ← value`), and
 * the options that replay it. @category Sysfs fuzz
 */
export const formatSysfsFuzzFailure = (failure: SysfsFuzzFailure): string =>
  [
    failure.message,
    "",
    `the run, shrunk (${failure.numShrinks} steps):`,
    ...failure.commands.map((c) =>
      c.kind === "write" ? `  ${c.file} ← ${show(c.value)}` : "  move_pages to the other node",
    ),
    "",
    `replay: fuzzSysfsWrites({ …, seed: ${failure.seed}, path: ${JSON.stringify(failure.path)} })`,
  ].join("\n");
