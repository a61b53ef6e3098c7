/**
 * Migration of movable_ops pages: non-LRU pages whose owner moves them.
 *
 * Models the movable_ops part of `mm/migrate.c` as of Linux 6.17 and later (David Hildenbrand's
 * "mm/migration: rework movable_ops page migration", and `set_movable_ops()` with the page-type
 * lookup of 6.18): a page is a movable_ops page when it has `PG_movable_ops` and a page type with
 * registered `movable_operations` (`page_has_movable_ops()`; the model has the `PGTY_offline` type
 * of balloon pages). Such a page is never on an LRU list and is never mapped by a process; its
 * owner isolates it (`isolate_page`), moves it (`migrate_page`, which decides whether the content
 * moves: the core never copies it) and takes it back (`putback_page`).
 *
 * `migrate_pages_batch()` (`mm/migrate.ts`) calls {@link migrateMovableOpsPage} in its move phase
 * and `putback_movable_pages()` calls {@link putbackMovableOpsPage}; a caller that migrates such
 * pages (compaction, memory offlining) isolates them with {@link isolateMovableOpsPage} onto the
 * list it hands to `migratePages`. Because the offload batch takes only folios that are not
 * movable_ops (the v6 series' third batch condition), a migrator never sees these pages.
 *
 * @module
 */
import { ERRNO } from "../errno";
import type { Kernel } from "../include/kernel";
import type { MemMap } from "../include/mem_map";
import type { MovableOperations } from "../include/migrate";
import type { MigrateMode } from "../include/migrate_mode";
import { PG_movable_ops, PG_movable_ops_isolated, PG_offline } from "../include/page_flags";
import { folioTrylock, folioUnlock } from "./filemap";
import { folioPut } from "./swap";

/**
 * The page types that may have `movable_operations`: `PGTY_offline` (balloon pages). Linux also
 * has `PGTY_zsmalloc`, which the model does not have.
 */
const MOVABLE_OPS_PAGE_TYPES: readonly number[] = [PG_offline];

/**
 * `set_movable_ops()` (`mm/migrate.c`): registers the `movable_operations` of a page type, or
 * unregisters them with `ops` null. Returns 0, `-EINVAL` for a page type that cannot have
 * movable_ops (only {@link PG_offline} can here), or `-EBUSY` when that type has ops already.
 *
 * @category Page migration
 */
export const setMovableOps = (k: Kernel, ops: MovableOperations | null, type: number): number => {
  if (!MOVABLE_OPS_PAGE_TYPES.includes(type)) return -ERRNO.EINVAL;
  if (ops === null) {
    k.movableOps.delete(type);
    return 0;
  }
  if (k.movableOps.has(type)) return -ERRNO.EBUSY;
  k.movableOps.set(type, ops);
  return 0;
};

/**
 * `page_has_movable_ops()` (`include/linux/page-flags.h`): `PG_movable_ops` together with a page
 * type that has movable_ops. Stays true until the page is freed.
 *
 * @category Page migration
 */
export const pageHasMovableOps = (k: Kernel, page: number): boolean =>
  memmapPageHasMovableOps(k.memmap, page);

/**
 * {@link pageHasMovableOps} on a memory map alone, for the page allocator, which holds no kernel.
 */
export const memmapPageHasMovableOps = (m: MemMap, page: number): boolean => {
  const flags = m.flags[page]!;
  return (flags & PG_movable_ops) !== 0 && MOVABLE_OPS_PAGE_TYPES.some((t) => (flags & t) !== 0);
};

/** An owner's `isolate_page`: anything but `true`, an exception included, refuses. */
const callIsolatePage = (ops: MovableOperations, page: number, mode: number): boolean => {
  try {
    return ops.isolatePage(page, mode) === true;
  } catch {
    return false;
  }
};

/**
 * `page_movable_ops()` (`mm/migrate.c`): the ops registered for the page's type, or undefined
 * when its type has none (they were unregistered).
 */
const pageMovableOps = (k: Kernel, page: number): MovableOperations | undefined => {
  const flags = k.memmap.flags[page]!;
  const type = MOVABLE_OPS_PAGE_TYPES.find((t) => (flags & t) !== 0);
  return type === undefined ? undefined : k.movableOps.get(type);
};

/**
 * Calls an owner's page-migration callback (`migrate_page`, or a balloon driver's `migratepage`)
 * at the boundary where the kernel calls a driver: what it returns if that is 0 or a negative
 * errno; `-EIO`, a permanent failure after which the page is put back, if it throws or returns
 * anything else.
 *
 * @category Page migration
 */
export const callMigratePage = (call: () => number): number => {
  let rc: unknown;
  try {
    rc = call();
  } catch {
    return -ERRNO.EIO;
  }
  return typeof rc === "number" && Number.isSafeInteger(rc) && rc <= 0 ? rc : -ERRNO.EIO;
};

/**
 * `isolate_movable_ops_page()` (`mm/migrate.c`; `isolate_movable_page()` before 6.17): isolates
 * a movable_ops page for migration. Takes a reference (`folio_get_nontail_page()`: none for a free
 * page or a tail page), checks the page has movable_ops, takes the page lock without waiting, and
 * asks the owner (`isolate_page`); then marks it `PG_movable_ops_isolated` and keeps the
 * reference, which migration or {@link putbackMovableOpsPage} drops. False, with nothing held,
 * when any step fails: the page is free, not movable_ops, locked, already isolated, its type's ops
 * are gone, or the owner refused. The caller adds the page to its migration list
 * (`list_add(&page->lru, ...)`, as `isolate_migratepages_block()` does).
 *
 * @category Page migration
 *
 * @example
 * ```ts
 * import {
 *   allocMigrationTarget,
 *   FolioList,
 *   isolateMovableOpsPage,
 *   Kernel,
 *   MIGRATE_ASYNC,
 *   MR_COMPACTION,
 *   migratePages,
 *   putbackMovablePages,
 *   VirtioBalloon,
 * } from "@migrate-offload/core";
 * import { Effect } from "effect";
 *
 * await Effect.runPromise(
 *   Effect.scoped(
 *     Effect.gen(function* () {
 *       const kernel = yield* Kernel.make({ nodes: ["64M", "64M"] });
 *       const vb = new VirtioBalloon(kernel);
 *       yield* vb.fillBalloon(4);
 *       // As compaction does: isolate the balloon's pages onto a migration list.
 *       const list = new FolioList(kernel.memmap.lru);
 *       for (const page of [...vb.vbDevInfo.pages]) {
 *         if (isolateMovableOpsPage(kernel, page, 0)) list.addTail(page);
 *       }
 *       const { rc, nrSucceeded } = yield* migratePages(
 *         kernel,
 *         list,
 *         allocMigrationTarget(kernel, 1),
 *         null,
 *         MIGRATE_ASYNC,
 *         MR_COMPACTION,
 *       );
 *       // rc 0, nrSucceeded 4; /proc/vmstat balloon_migrate 4.
 *       console.log(rc, nrSucceeded, kernel.vmstat.get("balloon_migrate"));
 *       putbackMovablePages(kernel, list);
 *       list.release();
 *     }),
 *   ),
 * );
 * ```
 */
export const isolateMovableOpsPage = (k: Kernel, page: number, mode: number): boolean => {
  const m = k.memmap;
  if (page < 0 || page >= m.nrPfns || m.compoundHead[page] !== 0 || m.refcount[page]! <= 0) {
    return false;
  }
  m.refcount[page]!++;
  if (!pageHasMovableOps(k, page) || !folioTrylock(k, page)) {
    folioPut(k, page);
    return false;
  }
  const ops = pageMovableOps(k, page);
  if (m.test(page, PG_movable_ops_isolated) || !ops || !callIsolatePage(ops, page, mode)) {
    folioUnlock(k, page);
    folioPut(k, page);
    return false;
  }
  m.set(page, PG_movable_ops_isolated);
  folioUnlock(k, page);
  return true;
};

/**
 * `putback_movable_ops_page()` (`mm/migrate.c`; `putback_movable_folio()` before 6.17): gives an
 * isolated movable_ops page back to its owner (`putback_page`) under the page lock, clears
 * `PG_movable_ops_isolated` and drops the isolation reference.
 *
 * @category Page migration
 */
export const putbackMovableOpsPage = (k: Kernel, page: number): void => {
  const locked = folioTrylock(k, page);
  try {
    pageMovableOps(k, page)?.putbackPage(page);
  } catch {
    // A broken owner callback: the page is put back on the core's side all the same.
  }
  k.memmap.clear(page, PG_movable_ops_isolated);
  if (locked) folioUnlock(k, page);
  folioPut(k, page);
};

/**
 * `migrate_movable_ops_page()` (`mm/migrate.c`): migrates an isolated movable_ops page by calling
 * its owner's `migrate_page(dst, src, mode)`, with both pages locked by the caller. On 0 the owner
 * has moved `src` to `dst` and `PG_movable_ops_isolated` is cleared; otherwise nothing changed
 * and the page stays isolated: `-EAGAIN` is retried, another errno puts it back. With the
 * type's ops unregistered since isolation (where Linux would call through a NULL pointer) the
 * model answers `-EAGAIN`.
 *
 * @category Page migration
 */
export const migrateMovableOpsPage = (
  k: Kernel,
  dst: number,
  src: number,
  mode: MigrateMode,
): number => {
  const ops = pageMovableOps(k, src);
  if (!ops) return -ERRNO.EAGAIN;
  const rc = callMigratePage(() => ops.migratePage(dst, src, mode));
  if (rc === 0) k.memmap.clear(src, PG_movable_ops_isolated);
  return rc;
};
