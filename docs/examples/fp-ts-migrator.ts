/**
 * A migrator written in fp-ts, and a program in fp-ts that loads it and moves 1 MiB with it
 * (`docs/fp-ts.md`). It runs in plain Node as an ES module because every fp-ts import names a
 * module file of `fp-ts/lib/` with its `.js`: fp-ts 2 has no `exports` map, so `fp-ts/TaskEither`
 * (a directory) fails in Node's ES module loader with `ERR_UNSUPPORTED_DIR_IMPORT`, and the
 * barrel `fp-ts` loads every module of fp-ts for the few functions used here.
 */
import {
  batchPairs,
  ERRNO,
  type ErrnoError,
  folioMarkContentCopied,
  folioMcCopy,
  Kernel,
  type Migrator,
  MPOL_MF_MOVE,
  type SignalError,
} from "@migrate-offload/core";
import {
  migratorFromTaskEither,
  registerMigrator,
  taskEitherOf,
  unregisterMigrator,
} from "@migrate-offload/core/fp-ts";
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import * as TE from "fp-ts/lib/TaskEither.js";

/**
 * Copies a batch folio by folio and marks each copy; a poisoned source stops the batch with
 * `-EIO`, and the folios left unmarked take the kernel's own copy.
 */
export const orderedCopyMigrator = (kernel: Kernel): Migrator =>
  migratorFromTaskEither({
    name: "fp_ordered",
    owner: null,
    shouldBatch: () => true,
    offloadCopy: (dst, src) =>
      pipe(
        batchPairs(dst, src),
        E.traverseArray(([d, s]) =>
          folioMcCopy(kernel, d, s) === 0
            ? E.right(folioMarkContentCopied(kernel, d))
            : E.left(-ERRNO.EIO),
        ),
        E.map(() => undefined),
        TE.fromEither,
      ),
  });

const SIZE = 1 << 20;

/** Boots a machine, registers the migrator, moves 1 MiB to node 1 and checks every byte. */
export const fpTsMigration = pipe(
  taskEitherOf(Kernel.boot({ nodes: ["64M", "64M"] })),
  TE.bindTo("kernel"),
  TE.let("migrator", ({ kernel }) => orderedCopyMigrator(kernel)),
  TE.tap(({ kernel, migrator }) => registerMigrator(kernel, migrator)),
  TE.bind("proc", ({ kernel }) => taskEitherOf(kernel.createProcess({ node: 0 }))),
  TE.bind("addr", ({ proc }) => taskEitherOf(proc.mmap(SIZE))),
  TE.tap(({ proc, addr }) => taskEitherOf(proc.write(addr, new Uint8Array(SIZE).fill(42)))),
  TE.bindW("moved", ({ proc, addr }) => {
    const pages = Array.from({ length: SIZE / 4096 }, (_, i) => addr + i * 4096);
    return taskEitherOf(
      proc.movePages(
        0,
        pages,
        pages.map(() => 1),
        MPOL_MF_MOVE,
      ),
    );
  }),
  TE.bind("bytes", ({ proc, addr }) => taskEitherOf(proc.read(addr, SIZE))),
  TE.let("copied", ({ kernel, migrator }) => kernel.migrateOffload.counters(migrator.name)),
  TE.tap(({ kernel, migrator }) => unregisterMigrator(kernel, migrator)),
  TE.tap(({ kernel }) => taskEitherOf(kernel.shutdown())),
  TE.map(({ moved, bytes, copied }) => ({
    rc: moved.rc,
    onNode1: moved.status.every((node) => node === 1),
    intact: bytes.every((b) => b === 42),
    foliosCopied: copied?.foliosCopied,
  })),
) satisfies TE.TaskEither<ErrnoError | SignalError, unknown>;
