/**
 * Fixtures every package's tests share: boot a kernel, run its calls, fill and check memory,
 * walk a process's page table, and the checks a test makes most often.
 *
 * Not a kernel interface. The checks (`expect…`) throw a plain `Error` whose message says what
 * differed, so that any test runner reports them as failures and the published package needs
 * no test framework at run time.
 *
 * @module
 */
import { Deferred, Effect, Exit } from "effect";
import {
  type ErrnoError,
  type ErrnoName,
  isErrnoError,
  isSignalError,
  type SiCodeName,
  type SignalError,
  type SignalName,
} from "../errno";
import type { Folio } from "../include/folio";
import type { KernelConfig, Kernel as KernelInterface, Task } from "../include/kernel";
import type { MovePagesResult } from "../include/migrate";
import type { Migrator } from "../include/migrate_copy_offload";
import type { MigrateReason } from "../include/migrate_mode";
import { MAP_ANONYMOUS, MAP_PRIVATE } from "../include/mman";
import type { Module } from "../include/module";
import { ptePfn } from "../include/pgtable";
import { Kernel } from "../init/main";
import { FolioList } from "../lib/list";
import { checkKernelConsistency } from "../mm/debug";
import { folioWalkEntry } from "../mm/memory";
import { migrateFoliosMcCopy } from "../mm/migrate";

/**
 * Runs a synchronous kernel call and returns its value; throws what it fails with. A call that
 * has to sleep (on a lock another fiber holds) throws Effect's `AsyncFiberError` instead: with a
 * kernel booted with its daemons (the default), a daemon that a call woke (the flusher woken by
 * reclaim, say) can be rescheduled while it holds a folio lock, and a later call that needs that
 * lock sleeps, as on Linux. Use {@link runP} for such calls, or boot with
 * `daemons: "on-demand"` so that nothing runs beside the test's own calls.
 *
 * @category Testing
 */
export const run = <A, E>(effect: Effect.Effect<A, E>): A => Effect.runSync(effect);

/**
 * Runs a kernel call that may wait (a migration, an unload); rejects with what it fails with.
 *
 * @category Testing
 */
export const runP = <A, E>(effect: Effect.Effect<A, E>): Promise<A> => Effect.runPromise(effect);

/**
 * Boots a kernel: two 64 MiB nodes and the default THP settings, unless `config` says else.
 *
 * @category Testing
 */
export const boot = (config: Partial<KernelConfig> = {}): Kernel =>
  run(Kernel.boot({ nodes: ["64M", "64M"], ...config }));

/**
 * Boots a kernel as {@link boot} does, then turns proactive compaction off by writing 0 to
 * `/proc/sys/vm/compaction_proactiveness` (`compaction_proactiveness_sysctl_handler()`,
 * `mm/compaction.c`), as a kernel tester does before measuring direct compaction. For a test
 * that fragments a node and then checks what direct compaction, an allocation or a scanner run
 * of its own does: the daemons run from boot on the real clock, and every
 * `HPAGE_FRAG_CHECK_INTERVAL_MSEC` (500 ms) `kcompactd` compacts a node whose fragmentation
 * score is above the high watermark (`should_proactive_compact_node()`), which on a loaded
 * machine can happen before the test's own compaction. `kcompactd` and `kswapd` still run and
 * still answer wake-ups (`wakeup_kcompactd()`, `wakeup_kswapd()`). Fails as `boot` does.
 *
 * @category Testing
 */
export const bootNoProactive = (config: Partial<KernelConfig> = {}): Kernel => {
  const kernel = boot(config);
  run(kernel.fs.write("/proc/sys/vm/compaction_proactiveness", "0"));
  return kernel;
};

/**
 * The error name a call fails with (`"EINVAL"`, say); rejects when the call succeeds.
 *
 * @category Testing
 */
export const errnoOf = <A, E>(effect: Effect.Effect<A, E>): Promise<string | undefined> =>
  runP(Effect.flip(effect)).then((error) => (error as { errno?: string }).errno);

/**
 * Runs `effect` synchronously and returns the {@link SignalError} it fails with, checking that it
 * is `signal` with `si_code` `reason`; throws if it succeeds or fails otherwise. For the task's
 * own accesses, which a fault ends with a signal (x86's `do_user_addr_fault()`).
 *
 * @category Testing
 */
export const expectSignal = <A, E>(
  effect: Effect.Effect<A, E>,
  signal: SignalName,
  reason: SiCodeName,
): SignalError => {
  const exit = Effect.runSyncExit(effect);
  if (Exit.isSuccess(exit)) throw new Error(`expected ${signal}, but the call succeeded`);
  const found = Exit.findErrorOption(exit);
  const error = found._tag === "Some" ? found.value : undefined;
  if (!isSignalError(error))
    throw new Error(`expected ${signal}, but the call failed otherwise: ${String(exit.cause)}`);
  if (error.signal !== signal || error.reason !== reason) {
    throw new Error(
      `expected ${signal} ${reason}, but the access got ${error.signal} ${error.reason}: ${error.message}`,
    );
  }
  return error;
};

/**
 * Runs `access` in a child `fork()`ed from `p` and checks that it dies of `signal` with `si_code`
 * `reason` (its exit code the signal's number, out of the process table), as an LTP test forks a
 * child for an access it expects to be killed (`mmap01`'s `SAFE_FORK()` and `WTERMSIG()`), so
 * that `p` lives on. Returns the {@link SignalError} the access failed with.
 *
 * @category Testing
 */
export const expectChildSignal = <A, E>(
  p: Task,
  access: (child: Task) => Effect.Effect<A, E>,
  signal: SignalName,
  reason: SiCodeName,
): SignalError => {
  const child = Effect.runSync(p.fork());
  const error = expectSignal(access(child), signal, reason);
  if (!child.exited || child.exitCode !== error.signo)
    throw new Error(`the child did not die of ${signal} (exit code ${child.exitCode})`);
  return error;
};

/**
 * Runs a synchronous call that must fail with errno `name`, and returns the error; throws when
 * it succeeds or fails otherwise.
 *
 * @category Testing
 */
export const expectErrno = <A, E>(effect: Effect.Effect<A, E>, name: ErrnoName): ErrnoError => {
  const exit = Effect.runSyncExit(effect);
  if (Exit.isSuccess(exit)) throw new Error(`expected ${name}, but the call succeeded`);
  const found = Exit.findErrorOption(exit);
  const error = found._tag === "Some" ? found.value : undefined;
  if (!isErrnoError(error))
    throw new Error(`expected ${name}, but the call failed otherwise: ${String(exit.cause)}`);
  if (error.errno !== name)
    throw new Error(`expected ${name}, but the call failed with ${error.errno}: ${error.message}`);
  return error;
};

/**
 * Throws, listing every problem, unless the kernel's metadata is consistent.
 *
 * @category Testing
 */
export const expectConsistent = (kernel: KernelInterface): void => {
  const problems = checkKernelConsistency(kernel);
  if (problems.length > 0)
    throw new Error(`kernel metadata inconsistent:\n  ${problems.join("\n  ")}`);
};

/**
 * A deterministic byte pattern: neighbouring bytes differ, and each 256-byte piece carries a
 * hash of its index, so a piece or page copied to another offset (or a copy cut short) shows
 * up. Different seeds give different patterns.
 *
 * @category Testing
 */
export const pattern = (length: number, seed: number): Uint8Array => {
  const out = new Uint8Array(length);
  // A plain loop: `Uint8Array.from` with a mapping function takes about a second per 16 MiB.
  for (let piece = 0; piece < length; piece += 256) {
    const salt = (Math.imul(piece >>> 8, 0x9e3779b1) >>> 24) + seed * 7;
    const end = Math.min(length, piece + 256);
    for (let i = piece; i < end; i++) out[i] = (i * 31 + salt) & 0xff;
  }
  return out;
};

/**
 * Byte-for-byte equality, as a boolean, so that a failing check stays short.
 *
 * @category Testing
 */
export const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );

/**
 * Throws, naming the length or the first differing offset, unless the bytes are equal.
 *
 * @category Testing
 */
export const expectBytes = (actual: Uint8Array, expected: Uint8Array): void => {
  if (sameBytes(actual, expected)) return;
  if (actual.length !== expected.length)
    throw new Error(`expected ${expected.length} bytes, got ${actual.length}`);
  let i = 0;
  while (actual[i] === expected[i]) i++;
  throw new Error(`bytes differ at offset ${i}: got ${actual[i]}, expected ${expected[i]}`);
};

/**
 * The page-table entry that maps `addr` in `task`: the raw PTE, or a huge PMD narrowed to the
 * page (`folioWalkEntry`), 0 when nothing is faulted in; throws when no VMA covers `addr`.
 *
 * @category Testing
 */
export const pteAt = (task: Task, addr: number): number => {
  const vma = task.mm?.findVma(addr);
  if (!vma) throw new Error(`no VMA of process ${task.pid} covers ${addr.toString(16)}`);
  return folioWalkEntry(
    task.kernel,
    vma,
    Math.floor((addr - vma.start) / task.kernel.mem.pageSize),
  );
};

/**
 * The folio mapped at `addr` in `task`, found through its page table.
 *
 * @category Testing
 */
export const folioAt = (task: Task, addr: number): Folio =>
  task.kernel.folio(ptePfn(pteAt(task, addr)));

/**
 * Isolates the folios mapped in `[addr, addr + bytes)` of `task` from the LRU onto a new list,
 * as a caller of `migrate_pages()` does; a folio already isolated is left out.
 *
 * @category Testing
 */
export const isolateRange = (task: Task, addr: number, bytes: number): FolioList => {
  const k = task.kernel;
  const list = new FolioList(k.memmap.lru);
  for (let off = 0; off < bytes; off += k.mem.pageSize) {
    const head = k.memmap.folioOf(ptePfn(pteAt(task, addr + off)));
    if (k.lru.isolate(head)) list.addTail(head);
  }
  return list;
};

/**
 * Addresses `step` bytes apart from `addr`, `n` of them: the `pages` of a `move_pages` call.
 *
 * @category Testing
 */
export const pagesOf = (addr: number, n: number, step = 4096): number[] =>
  Array.from({ length: n }, (_, i) => addr + i * step);

/**
 * Maps `bytes` of private anonymous memory in `task` (`hugepage` as `madvise` would say) and
 * writes {@link pattern}`(bytes, seed)` over it; returns the address.
 *
 * @category Testing
 */
export const mapPattern = (task: Task, bytes: number, seed: number, hugepage?: boolean): number => {
  const addr = run(task.mmap(bytes, { flags: MAP_PRIVATE | MAP_ANONYMOUS, hugepage }));
  run(task.write(addr, pattern(bytes, seed)));
  return addr;
};

/**
 * Whether `bytes` at `addr` in `task` still read as {@link pattern}`(bytes, seed)`.
 *
 * @category Testing
 */
export const patternIntact = (task: Task, addr: number, bytes: number, seed: number): boolean =>
  sameBytes(run(task.read(addr, bytes)), pattern(bytes, seed));

/**
 * `move_pages` of every page (`step` apart) of `[addr, addr + bytes)` in `task` to `node`.
 *
 * @category Testing
 */
export const moveRange = (
  task: Task,
  addr: number,
  bytes: number,
  node: number,
  step = 4096,
): Effect.Effect<MovePagesResult, ErrnoError> => {
  const pages = pagesOf(addr, bytes / step, step);
  return task.movePages(
    0,
    pages,
    pages.map(() => node),
  );
};

/**
 * Completes once `predicate` holds, checking again after each turn of the event loop.
 *
 * @category Testing
 */
export const waitUntil = (predicate: () => boolean): Effect.Effect<void> =>
  Effect.promise(
    () =>
      new Promise<void>((resolve) => {
        const check = () => (predicate() ? resolve() : setImmediate(check));
        check();
      }),
  );

/**
 * What a {@link recordingMigrator} saw: the migrator to register, every reason `shouldBatch` was
 * asked about, and how many batches it copied.
 *
 * @category Testing
 */
export interface RecordingMigrator {
  /** The migrator: accepts every batch offered and copies it on the CPU. */
  readonly migrator: Migrator;
  /** The reason of each `shouldBatch` call, in order. */
  readonly reasons: MigrateReason[];
  /** Batches `offloadCopy` copied so far. */
  readonly copies: () => number;
}

/**
 * A migrator that records what the kernel offers it, for tests of which callers' batches reach a
 * migrator under a reason mask. Its `offloadCopy` copies with `migrateFoliosMcCopy`, so every
 * byte arrives as the serial path would have it.
 *
 * @category Testing
 *
 * @example
 * ```ts
 * import { MR_SYSCALL } from "@migrate-offload/core";
 * import { boot, recordingMigrator, run } from "@migrate-offload/core/testing";
 *
 * const kernel = boot();
 * const recorder = recordingMigrator(kernel);
 * run(kernel.migrateOffload.register(recorder.migrator, 1 << MR_SYSCALL));
 * console.log(recorder.reasons); // [] until a move_pages call offers it a batch
 * run(kernel.shutdown());
 * ```
 */
export const recordingMigrator = (
  kernel: KernelInterface,
  name = "recorder",
): RecordingMigrator => {
  const reasons: MigrateReason[] = [];
  let copies = 0;
  const migrator: Migrator = {
    name,
    owner: null,
    shouldBatch: (reason) => {
      reasons.push(reason);
      return true;
    },
    offloadCopy: (dst, src) =>
      Effect.sync(() => {
        copies++;
        return migrateFoliosMcCopy(kernel, dst, src);
      }),
  };
  return { migrator, reasons, copies: () => copies };
};

/**
 * What a {@link gatedMigrator} gives: the migrator to register, whether a copy has started, and
 * the gate that lets it finish.
 *
 * @category Testing
 */
export interface GatedMigrator {
  /** The migrator: accepts every batch offered and copies it on the CPU once the gate opens. */
  readonly migrator: Migrator;
  /** Whether `offloadCopy` has been called: a batch is held mid-copy until {@link open}. */
  readonly copying: () => boolean;
  /** Opens the gate: the copy held and every later one go on. */
  readonly open: () => void;
}

/**
 * A migrator whose copy waits at a gate, for tests of what happens while a migration holds its
 * folios locked and unmapped mid-copy (a truncation, a munmap(), a memory failure meanwhile).
 * Its `offloadCopy` copies with `migrateFoliosMcCopy` once the gate opens.
 *
 * @category Testing
 *
 * @example
 * ```ts
 * import { boot, gatedMigrator, run } from "@migrate-offload/core/testing";
 *
 * const kernel = boot();
 * const gated = gatedMigrator(kernel, run(kernel.loadModule({ name: "gated" })));
 * run(kernel.migrateOffload.register(gated.migrator));
 * // ...start a migration, wait until gated.copying(), act, then:
 * gated.open();
 * run(kernel.shutdown());
 * ```
 */
export const gatedMigrator = (
  kernel: KernelInterface,
  owner: Module | null,
  name = "gated",
): GatedMigrator => {
  const gate = Effect.runSync(Deferred.make<void>());
  let copying = false;
  const migrator: Migrator = {
    name,
    owner,
    shouldBatch: () => true,
    offloadCopy: (dst, src) =>
      Effect.andThen(
        Effect.sync(() => {
          copying = true;
        }),
        Effect.andThen(
          Deferred.await(gate),
          Effect.sync(() => migrateFoliosMcCopy(kernel, dst, src)),
        ),
      ),
  };
  return {
    migrator,
    copying: () => copying,
    open: () => {
      Effect.runSync(Deferred.succeed(gate, undefined));
    },
  };
};
