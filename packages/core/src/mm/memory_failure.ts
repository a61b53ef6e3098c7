/**
 * Hardware memory errors.
 *
 * Models `memory_failure()` of `mm/memory-failure.c` (Linux 6.16): a page with an
 * uncorrected error is marked `PG_hwpoison`, counted in `num_poisoned_pages`, and then handled by
 * its state, each outcome reported through `action_result()` (the `memory_failure_event`
 * tracepoint, the per-node `memory_failure/` counters):
 *
 * - a free page in the buddy allocator is taken out of it (`take_page_off_buddy()`): "free buddy
 *   page", recovered;
 * - a page in use that is not on the LRU (a kernel allocation, the zero page, a folio isolated for
 *   migration, a `movable_ops` page) cannot be handled (`get_hwpoison_page()` fails): "get
 *   hwpoison page", ignored, `EBUSY`;
 * - a large folio on the LRU is split first; one that cannot be split (pinned) stays whole:
 *   "unsplit thp", failed, `EHWPOISON`;
 * - an LRU page is unmapped from every process (`hwpoison_user_mappings()`): where its data
 *   could be lost (anonymous, dirty, shmem) each PTE becomes a hwpoison entry and a later access
 *   gets `EHWPOISON` (`SIGBUS` with `BUS_MCEERR_AR`); a clean file page is just unmapped. Then the
 *   `error_states[]` table picks the action by the page's flags (`identify_page_state()`):
 *   dirty or clean, mlocked or not. `me_pagecache_dirty()` records `EIO` on the file
 *   (`mapping_set_error()`, reported once by `fsync()`); `me_pagecache_clean()` truncates the
 *   page from its file (a shmem page stays cached, poisoned) and an anonymous page is left to be
 *   freed; a page someone else still holds is "failed".
 * - a hugetlb folio is unmapped whole with hwpoison entries (`me_huge_page()`): anonymous, it is
 *   freed and dissolved, its good pages going back to the allocator; in a hugetlbfs file's page
 *   cache it stays there, poisoned, and a later fault on it gets `EHWPOISON`;
 * - a free huge page of a pool is dissolved and the poisoned page taken off the buddy allocator
 *   (`__page_handle_poison()`): "free huge page", recovered; failed when it cannot be dissolved
 *   (every free huge page is reserved), when it stays in its pool, poisoned, never handed out.
 *
 * Processes are killed late, as with `vm.memory_failure_early_kill` 0: none is signalled until it
 * touches the page. There is no swap, so the swap-cache states never occur.
 * {@link injectMemoryError} plants an error that `memory_failure()` has not yet handled, as a
 * machine-check-safe copy meets it. `unpoison_memory()` clears a mark, as the hwpoison debugfs
 * file does.
 *
 * @module
 */
import { Effect } from "effect";
import { ERRNO, type ErrnoError, errno, errnoName, syscall } from "../errno";
import { __GFP_MOVABLE, __GFP_RETRY_MAYFAIL, GFP_USER } from "../include/gfp";
import type { Kernel } from "../include/kernel";
import { MIGRATE_SYNC, MR_MEMORY_FAILURE } from "../include/migrate_mode";
import type { AllocContext } from "../include/mmzone";
import {
  MAGIC_HWPOISON,
  PG_buddy,
  PG_dirty,
  PG_has_hwpoisoned,
  PG_head,
  PG_hugetlb,
  PG_hugetlb_migratable,
  PG_hwpoison,
  PG_lru,
  PG_mlocked,
  PG_offline,
  PG_reserved,
  PG_unevictable,
  PG_writeback,
} from "../include/page_flags";
import type { MemoryFailureEvent } from "../include/trace";
import { kstrtoull } from "../lib/kstrtox";
import { FolioList } from "../lib/list";
import { filemapRemoveFolio, folioLock, folioUnlock } from "./filemap";
import { deferredSplitFolio, splitLruFolio } from "./huge_memory";
import { dissolveFreeHugetlbFolio } from "./hugetlb";
import { isolateFolioToList, migratePages, putbackMovablePages } from "./migrate";
import { pageHasMovableOps } from "./migrate_movable_ops";
import { allocMigrationTarget } from "./move_pages";
import { folioMkclean, TTU_HWPOISON, tryToUnmap } from "./rmap";
import { folioGet, folioPut } from "./swap";

/**
 * `enum mf_result` (`include/linux/mm.h`): what became of a poisoned page. Ignored: nothing could
 * be done; failed: it could not be isolated; delayed: it will be dealt with later; recovered: it
 * is out of service and no data was lost that a process will not be told about.
 *
 * @category Memory and folios
 */
export type MfResult = MemoryFailureEvent["result"];

/**
 * `enum mf_action_page_type` (`include/linux/mm.h`): the state a poisoned page was found in, the
 * `type` of `memory_failure_event`. The model reaches the ones named here.
 *
 * @category Memory and folios
 */
export type MfActionPageType =
  | "MF_MSG_HUGE"
  | "MF_MSG_FREE_HUGE"
  | "MF_MSG_GET_HWPOISON"
  | "MF_MSG_UNMAP_FAILED"
  | "MF_MSG_DIRTY_MLOCKED_LRU"
  | "MF_MSG_CLEAN_MLOCKED_LRU"
  | "MF_MSG_DIRTY_LRU"
  | "MF_MSG_CLEAN_LRU"
  | "MF_MSG_TRUNCATED_LRU"
  | "MF_MSG_BUDDY"
  | "MF_MSG_UNSPLIT_THP"
  | "MF_MSG_ALREADY_POISONED"
  | "MF_MSG_UNKNOWN";

/** The `memory_failure_stats` field each result counts in. */
const MF_STAT = {
  MF_IGNORED: "ignored",
  MF_FAILED: "failed",
  MF_DELAYED: "delayed",
  MF_RECOVERED: "recovered",
} as const;

/** A typed error for a negative errno code. */
const errnoOf = (code: number, message: string): ErrnoError =>
  errno(errnoName(-code) ?? "EIO", message);

/** A page in use is one with references, or a page of a folio that has them. */
const inUse = (k: Kernel, pfn: number): boolean => {
  const m = k.memmap;
  return m.refcount[m.folioOf(pfn)]! > 0;
};

/**
 * `folio_test_hugetlb_freed()`: the hugetlb folio `head` is a free page of its pool, on a free
 * list with no reference.
 */
const hugetlbFreed = (k: Kernel, head: number): boolean =>
  k.memmap.refcount[head] === 0 && k.memmap.lru.isLinked(head);

/**
 * `action_result()`: reports the outcome (the `memory_failure_event` tracepoint) and, unless the
 * page was already poisoned, counts it in the node's `memory_failure/` statistics
 * (`update_per_node_mf_stats()`). 0 when recovered or delayed, else `EBUSY`.
 */
const actionResult = (
  k: Kernel,
  pfn: number,
  type: MfActionPageType,
  result: MfResult,
): 0 | ErrnoError => {
  if (k.trace.enabled) k.trace.emit({ event: "memory_failure_event", pfn, type, result });
  if (type !== "MF_MSG_ALREADY_POISONED") {
    const stats = k.pageAlloc.zones[k.mem.pfnToNid(pfn)]!.mfStats;
    stats.total++;
    stats[MF_STAT[result]]++;
  }
  if (result === "MF_RECOVERED" || result === "MF_DELAYED") return 0;
  return errno("EBUSY", `memory_failure: pfn ${pfn}: ${type}: ${result}`);
};

/** Marks `pfn` poisoned and counts it (`SetPageHWPoison`, `num_poisoned_pages_inc()`). */
const setHwpoison = (k: Kernel, pfn: number): void => {
  const m = k.memmap;
  m.set(pfn, PG_hwpoison);
  const head = m.folioOf(pfn);
  if (m.test(head, PG_head)) m.set(head, PG_has_hwpoisoned);
  k.numPoisonedPages++;
};

/**
 * Plants an uncorrected error in the page at `pfn` that the kernel has not handled yet: the page
 * is marked `PG_hwpoison` (and its folio `PG_has_hwpoisoned`) and counted, and nothing else
 * changes, so a process reading it gets `EHWPOISON` and a machine-check-safe copy from it fails,
 * as the hardware reports the error when the bytes are consumed. No kernel symbol: the state
 * between the error and `memory_failure()`. `ENXIO` outside memory, `EHWPOISON` when already
 * poisoned, `EBUSY` for a free page (the allocator would hand it out).
 */
export const injectMemoryError = (k: Kernel, pfn: number): 0 | ErrnoError => {
  if (!k.mem.pfnValid(pfn)) return errno("ENXIO", `pfn ${pfn} has no memory behind it`);
  if (k.memmap.test(pfn, PG_hwpoison)) return errno("EHWPOISON", `pfn ${pfn} is already poisoned`);
  if (!inUse(k, pfn)) return errno("EBUSY", `pfn ${pfn} is free memory`);
  setHwpoison(k, pfn);
  return 0;
};

/**
 * `unmap_poisoned_folio()` (`mm/memory-failure.c`), the unmapping of `hwpoison_user_mappings()`
 * and of memory offlining's `do_migrate_range()`: unmaps the folio of `head` everywhere. A clean
 * file page whose data the file still has is unmapped plainly; otherwise (anonymous, dirty,
 * shmem) each mapping of the poisoned page becomes a hwpoison entry. A dirty PTE makes the folio
 * dirty first. False when a mapping remains.
 *
 * @category Memory and folios
 */
export const unmapPoisonedFolio = (k: Kernel, head: number): boolean => {
  const m = k.memmap;
  if (m.folioMapcount(head) === 0) return true;
  let ttu = TTU_HWPOISON;
  const mapping = m.mapping[head]!;
  const file = mapping > 0 ? k.addressSpaces.get(mapping) : undefined;
  // mapping_can_writeback(): a regular file; shmem has no writeback.
  if (!m.test(head, PG_dirty) && file && !file.shmem) {
    if (folioMkclean(k, head)) m.set(head, PG_dirty);
    else ttu = 0; // "corrupted page was clean: dropped without side effects"
  }
  // try_to_unmap_one() removes PTEs one at a time (a partially mapped folio is queued).
  if (tryToUnmap(k, head, ttu)) deferredSplitFolio(k, head, true);
  return m.folioMapcount(head) === 0;
};

/**
 * The `error_states[]` entries an LRU page can match (`identify_page_state()`): mlocked or
 * unevictable before plain LRU, dirty before clean.
 */
const identifyPageState = (flags: number): MfActionPageType => {
  const dirty = (flags & PG_dirty) !== 0;
  if (flags & PG_mlocked) return dirty ? "MF_MSG_DIRTY_MLOCKED_LRU" : "MF_MSG_CLEAN_MLOCKED_LRU";
  return dirty ? "MF_MSG_DIRTY_LRU" : "MF_MSG_CLEAN_LRU";
};

/**
 * `me_pagecache_dirty()` / `me_pagecache_clean()` on an unmapped order-0 LRU page that holds our
 * reference: off the LRU (`delete_from_lru_cache()`), `EIO` recorded on a dirty file, the page
 * truncated from a regular file (a shmem page is kept, `shmem_error_remove_folio()`), and
 * "failed" when someone else still holds it (`has_extra_refcount()`).
 */
const mePagecache = (k: Kernel, page: number, dirty: boolean): MfResult => {
  const m = k.memmap;
  if (m.testAndClear(page, PG_lru)) m.lru.del(page);
  m.clear(page, PG_mlocked | PG_unevictable);
  const mapping = m.mapping[page]!;
  if (mapping < 0 || mapping === 0) {
    // An anonymous page: the only reference left should be ours.
    return m.refcount[page]! - 1 > 0 ? "MF_FAILED" : "MF_RECOVERED";
  }
  const file = k.addressSpaces.get(mapping)!;
  if (dirty) file.wbErrSeq++; // mapping_set_error(mapping, -EIO)
  if (file.shmem) return m.refcount[page]! - 1 - 1 > 0 ? "MF_FAILED" : "MF_RECOVERED";
  filemapRemoveFolio(k, file, page);
  return m.refcount[page]! - 1 > 0 ? "MF_FAILED" : "MF_RECOVERED";
};

/**
 * `me_huge_page()` on an unmapped hugetlb folio holding our reference, the page `pfn` poisoned.
 * In a hugetlbfs file's page cache (`truncate_error_folio()`: `hugetlbfs_error_remove_folio()`
 * removes nothing, `filemap_release_folio()` has nothing to release) the folio stays cached,
 * poisoned, and keeps our reference; "failed" when anyone holds it beyond the cache and us
 * (`has_extra_refcount()` with `extra_pins`). An anonymous one has our reference put, which frees
 * the folio and dissolves it into the buddy allocator, its poisoned pages kept out
 * (`__page_handle_poison()`), and the poisoned page is held for good (`page_ref_inc()`). "Failed"
 * when someone else still holds the folio, which then cannot be dissolved.
 */
const meHugePage = (k: Kernel, pfn: number, head: number): MfResult => {
  const m = k.memmap;
  if (m.mapping[head]! > 0) {
    return m.refcount[head]! - 1 - m.folioNrPages(head) > 0 ? "MF_FAILED" : "MF_RECOVERED";
  }
  folioPut(k, head);
  if (dissolveFreeHugetlbFolio(k, pfn) !== 0) return "MF_FAILED";
  k.memmap.refcount[pfn]!++;
  return "MF_RECOVERED";
};

/**
 * `memory_failure(pfn, 0)` (`mm/memory-failure.c`, Linux 6.16): handles an uncorrected error in
 * the page at `pfn`, as the module comment describes. It sleeps where the kernel does, holding
 * its reference (`get_hwpoison_page()`) so that the folio stays: in `folio_lock()` before
 * `hwpoison_filter()`, in the `lock_page()` of `try_to_split_thp_page()`, in `folio_lock()`
 * before the page's flags are read, and in `folio_wait_writeback()` before the mappings are torn
 * down; a hugetlb folio is locked too (`try_memory_failure_hugetlb()`). The page is unlocked when
 * it has been dealt with. Fails with `ENXIO` for a PFN with no memory, `EHWPOISON` for a page
 * already poisoned, for any page of a hugetlb folio already poisoned (the page is then marked and
 * counted, `folio_set_hugetlb_hwpoison()`, but not handled), or for a large folio that cannot be
 * split, and `EBUSY` when the page could not be
 * handled (ignored or failed); the page stays poisoned and counted in every case but `ENXIO`.
 * It cannot be interrupted (its sleeps are `TASK_UNINTERRUPTIBLE`): an interrupt waits for its
 * end, so no lock or reference is left behind. Past the PFN check it runs under `mf_mutex`, after
 * any memory failure or soft offline that came first.
 */
export const memoryFailure = (k: Kernel, pfn: number, flags = 0): Effect.Effect<void, ErrnoError> =>
  Effect.suspend(() => {
    // A hardware error (not MF_SW_SIMULATED) disables unpoison_memory() for good.
    if (!(flags & MF_SW_SIMULATED)) k.hwMemoryFailure = true;
    return k.mem.pfnValid(pfn)
      ? Effect.uninterruptible(k.mfMutex.withPermits(1)(memoryFailureLocked(k, pfn)))
      : Effect.fail(errno("ENXIO", `pfn ${pfn} has no memory behind it`));
  });

/**
 * `MF_SW_SIMULATED` (`enum mf_flags`, `include/linux/mm.h`): the error is injected by software
 * (`MADV_HWPOISON`, the hwpoison debugfs `corrupt-pfn`), not reported by the hardware, so it
 * leaves `unpoison_memory()` working. A flag of `memory_failure()` (`Kernel.memoryFailure()`).
 *
 * @category Memory and folios
 */
export const MF_SW_SIMULATED = 1 << 5;

/** {@link memoryFailure}'s body, run under `mf_mutex` (`Kernel.mfMutex`). */
const memoryFailureLocked = (k: Kernel, pfn: number): Effect.Effect<void, ErrnoError> =>
  Effect.gen(function* () {
    const m = k.memmap;
    if (m.test(pfn, PG_hwpoison)) {
      actionResult(k, pfn, "MF_MSG_ALREADY_POISONED", "MF_FAILED");
      return yield* errno("EHWPOISON", `pfn ${pfn} is already poisoned`);
    }
    let head = m.folioOf(pfn);
    if (m.test(head, PG_hugetlb) && m.test(head, PG_has_hwpoisoned)) {
      // folio_set_hugetlb_hwpoison() finds the folio poisoned by an earlier error: this page is
      // recorded (its raw_hwp_list entry, PG_hwpoison in the model) and counted, and
      // try_memory_failure_hugetlb() reports it already poisoned without handling it again.
      m.set(pfn, PG_hwpoison);
      k.numPoisonedPages++;
      actionResult(k, pfn, "MF_MSG_ALREADY_POISONED", "MF_FAILED");
      return yield* errno("EHWPOISON", `pfn ${pfn}: its huge page is already poisoned`);
    }
    if (m.test(head, PG_hugetlb) && hugetlbFreed(k, head)) {
      // try_memory_failure_hugetlb() on a free huge page (folio_test_hugetlb_freed()): dissolved,
      // the poisoned page taken off the buddy allocator and held for good.
      if (pageHandlePoison(k, pfn, true, false))
        return yield* result(actionResult(k, pfn, "MF_MSG_FREE_HUGE", "MF_RECOVERED"));
      // It stays in its pool, poisoned: dequeue_hugetlb_folio_node_exact() skips it.
      setHwpoison(k, pfn);
      return yield* result(actionResult(k, pfn, "MF_MSG_FREE_HUGE", "MF_FAILED"));
    }
    setHwpoison(k, pfn);
    if (!inUse(k, pfn)) {
      // get_hwpoison_page() found no user: a free buddy page is taken off the free lists.
      if (k.pageAlloc.takePageOffBuddy(pfn))
        return yield* result(actionResult(k, pfn, "MF_MSG_BUDDY", "MF_RECOVERED"));
      return yield* result(actionResult(k, pfn, "MF_MSG_GET_HWPOISON", "MF_IGNORED"));
    }
    if (m.test(head, PG_hugetlb)) {
      // try_memory_failure_hugetlb(): under the folio lock, the whole folio is unmapped with
      // hwpoison entries.
      m.refcount[head]!++;
      yield* folioLock(k, head);
      tryToUnmap(k, head, TTU_HWPOISON);
      folioUnlock(k, head);
      if (m.folioMapcount(head) > 0) {
        m.refcount[head]!--;
        return yield* result(actionResult(k, pfn, "MF_MSG_UNMAP_FAILED", "MF_FAILED"));
      }
      return yield* result(actionResult(k, pfn, "MF_MSG_HUGE", meHugePage(k, pfn, head)));
    }
    // HWPoisonHandlable(): only LRU pages (and free ones, above) can be handled.
    if (!m.test(head, PG_lru))
      return yield* result(actionResult(k, pfn, "MF_MSG_GET_HWPOISON", "MF_IGNORED"));
    m.refcount[head]!++; // get_hwpoison_page()'s reference, held across every sleep below
    // folio_lock() around hwpoison_filter(), which filters nothing here.
    yield* folioLock(k, head);
    folioUnlock(k, head);
    if (m.folioOrder(head) > 0) {
      // try_to_split_thp_page(): lock_page(), split to order 0, unlock every page.
      yield* folioLock(k, head);
      const split = splitLruFolio(k, head, pfn);
      if (split !== 0) {
        folioUnlock(k, head);
        folioPut(k, head);
        actionResult(k, pfn, "MF_MSG_UNSPLIT_THP", "MF_FAILED");
        return yield* errno(
          "EHWPOISON",
          `memory_failure: pfn ${pfn}: its large folio could not be split`,
        );
      }
      head = pfn;
    }
    yield* folioLock(k, head);
    // The flags as they are now: unmapping clears PG_mlocked.
    const flags = m.flags[head]!;
    if (!(flags & PG_lru) && !(flags & PG_writeback)) {
      // Isolated while we slept: identify_page_state() with the saved flags, no unmapping.
      return yield* result(identifyAndAct(k, pfn, head, flags));
    }
    // folio_wait_writeback(), still holding the lock.
    yield* k.folioWaiters.waitBit(head, PG_writeback);
    if (!unmapPoisonedFolio(k, head)) {
      folioUnlock(k, head);
      folioPut(k, head);
      return yield* result(actionResult(k, pfn, "MF_MSG_UNMAP_FAILED", "MF_FAILED"));
    }
    if (m.test(head, PG_lru) && m.mapping[head] === 0) {
      // Torn down by someone else (truncated) while we slept.
      folioUnlock(k, head);
      folioPut(k, head);
      return yield* result(actionResult(k, pfn, "MF_MSG_TRUNCATED_LRU", "MF_IGNORED"));
    }
    return yield* result(identifyAndAct(k, pfn, head, flags));
  });

/** An `actionResult()` outcome as an Effect: success, or the failure it names. */
const result = (r: 0 | ErrnoError): Effect.Effect<void, ErrnoError> =>
  r === 0 ? Effect.void : Effect.fail(r);

/**
 * `identify_page_state()` and its `page_action()` on a locked order-0 page holding our reference:
 * the `error_states[]` entry by the current flags and the saved ones (dirty before clean, mlocked
 * before plain LRU; a page on no LRU and not mlocked is `MF_MSG_UNKNOWN`, `me_unknown()`), its
 * action, then the unlock and our reference put.
 */
const identifyAndAct = (k: Kernel, pfn: number, head: number, saved: number): 0 | ErrnoError => {
  const m = k.memmap;
  const flags = m.flags[head]! | (saved & (PG_dirty | PG_mlocked | PG_lru));
  if (!(flags & (PG_lru | PG_mlocked))) {
    folioUnlock(k, head);
    folioPut(k, head);
    return actionResult(k, pfn, "MF_MSG_UNKNOWN", "MF_IGNORED");
  }
  const type = identifyPageState(flags);
  const res = mePagecache(k, head, (flags & PG_dirty) !== 0);
  folioUnlock(k, head);
  folioPut(k, head);
  return actionResult(k, pfn, type, res);
};

/**
 * `unpoison_memory(pfn)`: clears a page's poison mark. `EOPNOTSUPP` once the kernel has handled a
 * hardware memory error ({@link memoryFailure} without {@link MF_SW_SIMULATED}: Linux 6.16's
 * `hw_memory_failure`) and for the huge zero folio. `EBUSY` while someone else holds the folio
 * (a second reference), maps it, or it belongs to a file. A page memory failure took out of the
 * allocator (`PageHWPoisonTakenOff()`, held by its one reference or by none) is given back to it
 * (`put_page_back_buddy()`); a page in use by one reference has it taken for the poison's and is
 * freed (`folio_put()` twice); a reserved or offline page is refused (`EBUSY`). A page of a
 * hugetlb folio clears every poisoned page of the folio and uncounts them all
 * (`folio_free_raw_hwp()`, Linux 6.16). `ENXIO` for a PFN with no memory. Past the PFN check it
 * runs under `mf_mutex` (Linux 6.16): it waits for a memory failure or soft offline in progress
 * (asleep in `folio_lock()`, say) to end, uninterruptibly, as `mutex_lock()` sleeps.
 */
export const unpoisonMemory = (k: Kernel, pfn: number): Effect.Effect<void, ErrnoError> =>
  Effect.suspend(() =>
    k.mem.pfnValid(pfn)
      ? Effect.uninterruptible(
          k.mfMutex.withPermits(1)(syscall(() => unpoisonMemoryLocked(k, pfn)).pipe(Effect.asVoid)),
        )
      : Effect.fail(errno("ENXIO", `pfn ${pfn} has no memory behind it`)),
  );

/** {@link unpoisonMemory}'s body past the PFN check, run under `mf_mutex` (`Kernel.mfMutex`). */
const unpoisonMemoryLocked = (k: Kernel, pfn: number): 0 | ErrnoError => {
  const m = k.memmap;
  if (k.hwMemoryFailure)
    return errno("EOPNOTSUPP", `pfn ${pfn}: unpoison is disabled after a hardware memory failure`);
  if (m.folioOf(pfn) === k.hugeZero.pfn && k.hugeZero.pfn >= 0)
    return errno("EOPNOTSUPP", `pfn ${pfn}: the huge zero folio is not unpoisoned`);
  if (!m.test(pfn, PG_hwpoison)) return errno("EBUSY", `pfn ${pfn} was already unpoisoned`);
  const head = m.folioOf(pfn);
  if (m.refcount[head]! > 1) return errno("EBUSY", `pfn ${pfn}: someone grabs the hwpoison page`);
  if (m.flags[head]! & (PG_reserved | PG_offline))
    return errno("EBUSY", `pfn ${pfn}: a reserved or offline page is not unpoisoned`);
  if (m.folioMapcount(head) > 0)
    return errno("EBUSY", `pfn ${pfn}: someone maps the hwpoison page`);
  if (m.mapping[head] !== 0)
    return errno("EBUSY", `pfn ${pfn}: the hwpoison page has non-NULL mapping`);
  if (m.private[pfn] === MAGIC_HWPOISON) {
    if (!k.pageAlloc.putPageBackBuddy(pfn)) return errno("EBUSY", `pfn ${pfn} is still held`);
    k.numPoisonedPages--;
    return 0;
  }
  // get_hwpoison_page(MF_UNPOISON) > 0: the page is in use by its one reference, which is taken
  // for the poison's own; both are put and the folio is freed.
  const held = m.refcount[head] === 1;
  const nr = m.folioNrPages(head);
  if (m.test(head, PG_hugetlb)) {
    // folio_free_raw_hwp(folio, false): every raw error recorded for the huge page is dropped
    // and uncounted, whichever of its pages was named, and the folio's hwpoison flag cleared.
    let count = 0;
    for (let i = 0; i < nr; i++) {
      if (!m.test(head + i, PG_hwpoison)) continue;
      m.clear(head + i, PG_hwpoison);
      count++;
    }
    m.clear(head, PG_has_hwpoisoned);
    k.numPoisonedPages -= count;
    if (held) folioPut(k, head);
    return 0;
  }
  m.clear(pfn, PG_hwpoison);
  let any = false;
  for (let i = 0; i < nr; i++) any ||= m.test(head + i, PG_hwpoison);
  if (!any) m.clear(head, PG_has_hwpoisoned);
  k.numPoisonedPages--;
  if (held) folioPut(k, head);
  return 0;
};

/**
 * `is_free_buddy_page()` (`mm/page_alloc.c`): whether `pfn` lies in a free block of the buddy
 * allocator.
 */
const isFreeBuddyPage = (k: Kernel, pfn: number): boolean => {
  const m = k.memmap;
  for (let order = 0; order <= k.pageAlloc.maxOrder; order++) {
    const start = pfn & ~(2 ** order - 1);
    if (m.flags[start]! & PG_buddy && m.order[start]! >= order) return true;
  }
  return false;
};

/**
 * `HWPoisonHandlable()` with `MF_SOFT_OFFLINE`: an LRU page, a free buddy page, or a page with
 * `movable_operations`.
 */
const hwpoisonHandlable = (k: Kernel, pfn: number): boolean =>
  k.memmap.test(k.memmap.folioOf(pfn), PG_lru) ||
  isFreeBuddyPage(k, pfn) ||
  pageHasMovableOps(k, k.memmap.folioOf(pfn));

/**
 * `get_any_page()` with `MF_SOFT_OFFLINE` (`mm/memory-failure.c`, Linux 6.16): 1 for a page in use
 * that soft offline can handle, with a reference on its folio for the caller: taken here
 * (`__get_hwpoison_page()`'s `folio_try_get()`, or `get_hwpoison_hugetlb_folio()`'s for a
 * migratable hugetlb folio), or, with `countIncreased` (`MF_COUNT_INCREASED`, as `madvise()` calls
 * it), the caller's own, for any hugetlb page or handlable page. 0 for a free page (in the buddy
 * allocator, or a free huge page of the pool); `-EIO` for a page it cannot handle ("unhandlable
 * page": kernel memory, the zero page, a folio isolated for migration), and for a hugetlb folio
 * isolated for migration when the count was not raised. An unhandlable page puts the caller's
 * reference and is looked at again without it. No reference is held but for 1.
 */
const getAnyPage = (k: Kernel, pfn: number, countIncreased: boolean): number => {
  const m = k.memmap;
  const head = m.folioOf(pfn);
  const hugetlb = m.test(head, PG_hugetlb);
  if (countIncreased) {
    if (hugetlb || hwpoisonHandlable(k, pfn)) return 1;
    folioPut(k, head);
    return getAnyPage(k, pfn, false);
  }
  if (hugetlb) {
    // get_hwpoison_hugetlb_folio(): free in the pool, migratable (a reference taken), or busy.
    if (hugetlbFreed(k, head)) return 0;
    if (!m.test(head, PG_hugetlb_migratable)) return -ERRNO.EIO;
    folioGet(k, head);
    return 1;
  }
  if (!hwpoisonHandlable(k, pfn)) return -ERRNO.EIO;
  if (m.refcount[head]! > 0) {
    folioGet(k, head);
    return 1;
  }
  return isFreeBuddyPage(k, pfn) ? 0 : -ERRNO.EIO;
};

/**
 * `page_handle_poison()`: takes the page out of use for good. For a free page or a hugetlb page
 * (`hugepageOrFreepage`), its free huge page is dissolved and the page taken off the buddy
 * allocator first (`__page_handle_poison()`), false when that fails; a base page just migrated
 * keeps the isolation reference `migrate_pages()` left it (`MR_MEMORY_FAILURE`), which `release`
 * drops. Then `PG_hwpoison` is set, one reference taken for good, and `num_poisoned_pages`
 * counted.
 */
const pageHandlePoison = (
  k: Kernel,
  pfn: number,
  hugepageOrFreepage: boolean,
  release: boolean,
): boolean => {
  const m = k.memmap;
  if (hugepageOrFreepage) {
    if (dissolveFreeHugetlbFolio(k, pfn) !== 0) return false;
    if (!k.pageAlloc.takePageOffBuddy(pfn)) return false;
  }
  m.set(pfn, PG_hwpoison);
  // put_page(): a poisoned order-0 page never reaches the free lists (free_pages_prepare()).
  if (release) folioPut(k, pfn);
  m.refcount[pfn]!++;
  k.numPoisonedPages++;
  return true;
};

/**
 * `mapping_evict_folio()` as `soft_offline_in_use_page()` tries it first: a clean, unmapped page
 * of a regular file that nobody holds beyond the page cache and the caller is dropped from its
 * page cache, its data left to the file, which the next fault reads again. True when it was; the
 * page is then held by the reference `get_any_page()` took, which `page_handle_poison()` drops,
 * and never freed meanwhile.
 */
const mappingEvictFolio = (k: Kernel, head: number): boolean => {
  const m = k.memmap;
  const mapping = m.mapping[head]!;
  if (mapping <= 0 || m.test(head, PG_dirty) || m.folioMapcount(head) > 0) return false;
  const file = k.addressSpaces.get(mapping);
  // shmem has no backing store to read the page back from.
  if (!file || file.shmem || m.refcount[head]! > m.folioNrPages(head) + 1) return false;
  filemapRemoveFolio(k, file, head);
  return true;
};

/**
 * `soft_offline_in_use_page()`: a page in use is emptied and taken out of use. A THP is split
 * first (`EBUSY` when it cannot be); then it locks the folio (`folio_lock()`: asleep in its turn
 * behind the lock's holder and the lockers queued before it, holding `get_any_page()`'s
 * reference) and, under the lock, any but a hugetlb page waits for its writeback to end
 * (`folio_wait_writeback()`, Linux 6.16), and a clean unmapped page-cache page is just dropped
 * ("invalidated"); the lock is dropped before the rest. Anything else is isolated (`EBUSY` when
 * it cannot be: already isolated by a migration) and migrated away with
 * `alloc_migration_target()` on any node (the page's own first), `MIGRATE_SYNC`, `MR_MEMORY_FAILURE`, then poisoned (`page_handle_poison()`); a hugetlb
 * page is migrated, freed back to its pool and dissolved. A failed migration is `EBUSY` (or the
 * negative errno `migrate_pages()` returned). The destination is allocated in `current` (null: a
 * kernel thread of the page's node).
 */
const softOfflineInUsePage = (
  k: Kernel,
  pfn: number,
  current: AllocContext | null,
): Effect.Effect<void, ErrnoError> =>
  Effect.gen(function* () {
    const m = k.memmap;
    let head = m.folioOf(pfn);
    const huge = m.test(head, PG_hugetlb);
    const at = `soft offline: pfn ${pfn}`;
    if (!huge && m.folioOrder(head) > 0) {
      // try_to_split_thp_page(page, true): lock_page(), split_huge_page(), unlock_page(); the
      // reference stays with the page, or is put when the split fails.
      yield* folioLock(k, head);
      if (splitLruFolio(k, head, pfn) !== 0) {
        folioUnlock(k, head);
        folioPut(k, head);
        return yield* Effect.fail(errno("EBUSY", `${at}: thp split failed`));
      }
      head = pfn;
    }
    // folio_lock(), holding the page: it sleeps in its turn behind whoever holds the lock or
    // sleeps for it first, and the unlock hands the lock over. Then, for any but a hugetlb folio,
    // folio_wait_writeback() under the lock, so a page cache page written back meanwhile may be
    // dropped below rather than migrated.
    yield* folioLock(k, head);
    while (!huge && m.test(head, PG_writeback)) {
      yield* k.folioWaiters.waitBit(head, PG_writeback);
    }
    if (m.test(pfn, PG_hwpoison)) {
      folioUnlock(k, head);
      folioPut(k, head); // "page already poisoned"
      return;
    }
    const invalidated = !huge && m.test(head, PG_lru) && mappingEvictFolio(k, head);
    folioUnlock(k, head);
    if (invalidated) {
      // "invalidated": the page cache's reference is gone; the page is held and poisoned.
      pageHandlePoison(k, pfn, false, true);
      return;
    }
    const list = new FolioList(m.lru);
    try {
      // An isolated folio holds the isolation's reference: get_any_page()'s is put either way.
      const isolated = isolateFolioToList(k, head, list);
      folioPut(k, head);
      if (!isolated) {
        return yield* Effect.fail(
          errno("EBUSY", `${at}: ${huge ? "hugepage" : "page"} isolation failed`),
        );
      }
      const { rc } = yield* migratePages(
        k,
        list,
        allocMigrationTarget(k, -1, {
          gfp: GFP_USER | __GFP_MOVABLE | __GFP_RETRY_MAYFAIL,
          reason: MR_MEMORY_FAILURE,
          current,
        }),
        null,
        MIGRATE_SYNC,
        MR_MEMORY_FAILURE,
      );
      if (rc === 0) {
        if (!pageHandlePoison(k, pfn, huge, !huge))
          return yield* Effect.fail(errno("EBUSY", `${at}: the old page could not be poisoned`));
        return;
      }
      putbackMovablePages(k, list);
      return yield* Effect.fail(
        rc > 0
          ? errno("EBUSY", `${at}: ${huge ? "hugepage" : "page"} migration failed`)
          : errnoOf(rc, `${at}: ${huge ? "hugepage" : "page"} migration failed`),
      );
    } finally {
      list.release();
    }
  });

/**
 * `soft_offline_page(pfn, flags)` (`mm/memory-failure.c`): takes a page that is still good but
 * suspect (corrected errors) out of use without losing its contents. A free page is taken off
 * the buddy allocator (a free huge page is dissolved first); a page in use is migrated away
 * (see {@link softOfflineInUsePage}) and the old page poisoned. Either way the page ends with
 * `PG_hwpoison` and one reference that is never dropped, and counts in `num_poisoned_pages`;
 * nothing counts in the `memory_failure/` statistics, which only `memory_failure()` keeps.
 * `countIncreased` is `MF_COUNT_INCREASED`: the caller (`madvise()`) holds the page, so a hugetlb
 * folio isolated by a migration gets as far as isolation (`EBUSY`). `current` is the task it runs
 * in, which allocates the destination (`madvise()`'s caller, the writer of the sysfs file); null
 * for a kernel thread of the page's node.
 *
 * Succeeds at once for a page already poisoned ("page already poisoned"). Fails with `ENXIO` for
 * a PFN with no memory, `EIO` for a page it cannot handle (kernel memory, the zero page, a page
 * isolated by someone else), and `EBUSY` when the page could not be isolated, migrated, or taken
 * off the free lists. It cannot be interrupted (its sleeps are `TASK_UNINTERRUPTIBLE`): an
 * interrupt waits for its end, so no lock or reference is left behind. Past the PFN check it runs
 * under `mf_mutex`, after any memory failure or soft offline that came first.
 *
 * @category Memory and folios
 */
export const softOfflinePage = (
  k: Kernel,
  pfn: number,
  countIncreased = false,
  current: AllocContext | null = null,
): Effect.Effect<void, ErrnoError> =>
  Effect.suspend(() => {
    if (!k.mem.pfnValid(pfn)) return Effect.fail(errno("ENXIO", `pfn ${pfn} has no memory`));
    return Effect.uninterruptible(
      k.mfMutex.withPermits(1)(softOfflinePageLocked(k, pfn, countIncreased, current)),
    );
  });

/** {@link softOfflinePage}'s body past the PFN check, run under `mf_mutex` (`Kernel.mfMutex`). */
const softOfflinePageLocked = (
  k: Kernel,
  pfn: number,
  countIncreased: boolean,
  current: AllocContext | null,
): Effect.Effect<void, ErrnoError> =>
  Effect.suspend(() => {
    if (k.memmap.test(pfn, PG_hwpoison)) {
      // "page already poisoned": put_ref_page() drops the caller's reference.
      if (countIncreased) folioPut(k, k.memmap.folioOf(pfn));
      return Effect.void;
    }
    for (let tryAgain = true; ; tryAgain = false) {
      const ret = getAnyPage(k, pfn, countIncreased);
      if (ret > 0) return softOfflineInUsePage(k, pfn, current);
      if (ret < 0) return Effect.fail(errnoOf(ret, `soft offline: pfn ${pfn}: unhandlable page`));
      if (pageHandlePoison(k, pfn, true, false)) return Effect.void;
      if (!tryAgain) {
        return Effect.fail(errno("EBUSY", `soft offline: pfn ${pfn}: free page not taken off`));
      }
      countIncreased = false;
    }
  });

/**
 * Creates `/sys/devices/system/memory/soft_offline_page` (0200, root only): writing a physical
 * address (`kstrtoull()`, base 0; anything else is `EINVAL`) soft-offlines the page holding it
 * (`soft_offline_page_store()`, `drivers/base/memory.c`) and returns the bytes written, or the
 * error of {@link softOfflinePage}. Only this one attribute is added to the directory; the memory
 * block devices beside it are another file's.
 *
 * @category Memory and folios
 */
export const softOfflineInitSysfs = (k: Kernel): void => {
  k.fs.addAttributes("/sys/devices/system/memory", {
    soft_offline_page: {
      mode: 0o200,
      store: (text, count, current) => {
        const addr = kstrtoull(text, 0);
        if (typeof addr !== "bigint")
          return errno("EINVAL", `soft_offline_page: ${JSON.stringify(text)} is not an address`);
        const pfn = addr / BigInt(k.mem.pageSize);
        if (pfn > BigInt(Number.MAX_SAFE_INTEGER))
          return errno("ENXIO", `soft_offline_page: address ${addr} has no memory`);
        return Effect.as(softOfflinePage(k, Number(pfn), false, current), count);
      },
    },
  });
};
