/**
 * Migrating a misplaced folio: NUMA balancing's caller of `migrate_pages()`.
 *
 * Models the NUMA balancing part of `mm/migrate.c`: `migrate_misplaced_folio_prepare()` (the
 * target node must stay above its high watermark, else in memory tiering mode it wakes the node's
 * kswapd to make room and refuses; then the folio is isolated from the LRU) and
 * `migrate_misplaced_folio()` (`migrate_pages()` with `alloc_misplaced_dst_folio()`,
 * `MIGRATE_ASYNC` and `MR_NUMA_MISPLACED`, counting `numa_pages_migrated`, and `pgpromote_success`
 * for a promotion from a slow tier to the top tier).
 *
 * @module
 */
import { Effect } from "effect";
import type { ErrnoError } from "../errno";
import {
  __GFP_COMP,
  __GFP_NOWARN,
  __GFP_RECLAIM,
  __GFP_THISNODE,
  GFP_HIGHUSER_MOVABLE,
} from "../include/gfp";
import type { Kernel, Task } from "../include/kernel";
import { MIGRATE_ASYNC, MR_NUMA_MISPLACED } from "../include/migrate_mode";
import { WMARK_HIGH } from "../include/mmzone";
import { NUMA_BALANCING_MEMORY_TIERING } from "../include/numa_balancing";
import { PG_hugetlb } from "../include/page_flags";
import { FolioList } from "../lib/list";
import { migratePages, putbackMovablePages } from "./migrate";

/**
 * `migrate_misplaced_folio_prepare()` (`mm/migrate.c`): whether the folio `head` may move to
 * `nid` now. The node must keep its high watermark plus the folio's pages free
 * (`migrate_balanced_pgdat()`); when it would not, memory tiering mode wakes its kswapd
 * (`wakeup_kswapd()`, which there balances to `WMARK_PROMO`) and the promotion waits for a later
 * fault. A folio that may move is isolated from the LRU (with the isolation reference) and true is
 * returned; false leaves it as it was.
 *
 * @category NUMA balancing
 */
export const migrateMisplacedFolioPrepare = (k: Kernel, head: number, nid: number): boolean => {
  const m = k.memmap;
  const nr = m.folioNrPages(head);
  const zone = k.pageAlloc.zones[nid];
  if (!zone || m.test(head, PG_hugetlb)) return false;
  if (!k.pageAlloc.zoneWatermarkOk(nid, 0, zone.wmarkPages(WMARK_HIGH) + nr)) {
    if (k.numaBalancing.mode & NUMA_BALANCING_MEMORY_TIERING && zone.managedPages > 0) {
      k.kswapd.wakeup(nid, m.folioOrder(head));
    }
    return false;
  }
  return k.lru.isolate(head);
};

/**
 * `alloc_misplaced_dst_folio()` (`mm/migrate.c`): a destination on `nid` alone, without reclaim
 * or warnings, allocated by `caller` (the hint-faulting task) when there is one.
 */
const allocMisplacedDstFolio =
  (k: Kernel, nid: number, caller: Task | null) =>
  (src: number): number => {
    const order = k.memmap.folioOrder(src);
    const gfp =
      ((GFP_HIGHUSER_MOVABLE | __GFP_THISNODE | __GFP_NOWARN) & ~__GFP_RECLAIM) |
      (order > 0 ? __GFP_COMP : 0);
    return k.pageAlloc.allocPages(nid, order, gfp, null, caller);
  };

/**
 * `migrate_misplaced_folio()` (`mm/migrate.c`): migrates the folio `head`, isolated by
 * {@link migrateMisplacedFolioPrepare}, to `nid` (`MIGRATE_ASYNC`, `MR_NUMA_MISPLACED`) and puts
 * it back when it did not move. Counts `numa_pages_migrated`, and `pgpromote_success` when memory
 * tiering mode moved it from a slow tier to the top tier. Resolves to true when it moved.
 * `caller` is the task whose hint fault asked for it (the kernel runs it in that task's context,
 * `current`): offloaded copy time is charged to it (`Task.migration`).
 *
 * @category NUMA balancing
 */
export const migrateMisplacedFolio = (
  k: Kernel,
  head: number,
  nid: number,
  caller?: Task,
): Effect.Effect<boolean, ErrnoError> =>
  Effect.gen(function* () {
    const srcNid = k.mem.pfnToNid(head);
    const list = new FolioList(k.memmap.lru);
    list.addTail(head);
    try {
      const { nrSucceeded } = yield* migratePages(
        k,
        list,
        allocMisplacedDstFolio(k, nid, caller ?? null),
        null,
        MIGRATE_ASYNC,
        MR_NUMA_MISPLACED,
        caller ? { caller } : {},
      );
      if (nrSucceeded === 0) return false;
      k.vmstat.count("numa_pages_migrated", nrSucceeded);
      if (
        k.numaBalancing.mode & NUMA_BALANCING_MEMORY_TIERING &&
        !k.memoryTiers.nodeIsToptier(srcNid) &&
        k.memoryTiers.nodeIsToptier(nid)
      ) {
        k.vmstat.count("pgpromote_success", nrSucceeded);
      }
      return true;
    } finally {
      if (!list.isEmpty) putbackMovablePages(k, list);
      list.release();
    }
  });
