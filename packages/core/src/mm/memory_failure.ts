/**
 * Hardware memory errors.
 *
 * Models `memory_failure()` of `mm/memory-failure.c` (Linux 6.13 and later): a page with an
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
 *   freed and dissolved, its good pages going back to the allocator.
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
import { type ErrnoError, errno } from "../errno";
import type { Kernel } from "../include/kernel";
import {
  PG_buddy,
  PG_dirty,
  PG_has_hwpoisoned,
  PG_head,
  PG_hugetlb,
  PG_hwpoison,
  PG_lru,
  PG_mlocked,
  PG_writeback,
} from "../include/page_flags";
import type { MemoryFailureEvent } from "../include/trace";
import { filemapRemoveFolio, folioLock, folioUnlock } from "./filemap";
import { splitLruFolio } from "./huge_memory";
import { folioMkclean, TTU_HWPOISON, tryToUnmap } from "./rmap";
import { folioPut } from "./swap";

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

/** A page in use is one with references, or a page of a folio that has them. */
const inUse = (k: Kernel, pfn: number): boolean => {
  const m = k.memmap;
  return m.refcount[m.folioOf(pfn)]! > 0;
};

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
 * `hwpoison_user_mappings()`: unmaps the folio everywhere. A clean file page whose data the file
 * still has is unmapped plainly; otherwise (anonymous, dirty, shmem) each mapping of the poisoned
 * page becomes a hwpoison entry. A dirty PTE makes the folio dirty first. False when a mapping
 * remains.
 */
const hwpoisonUserMappings = (k: Kernel, head: number): boolean => {
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
  tryToUnmap(k, head, ttu);
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
  m.clear(page, PG_mlocked);
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
 * `me_huge_page()` on an unmapped hugetlb folio holding our reference: an anonymous one is freed
 * and dissolved into the buddy allocator, its poisoned pages kept out (`__page_handle_poison()`);
 * one someone else still holds is "failed".
 */
const meHugePage = (k: Kernel, head: number): MfResult => {
  const m = k.memmap;
  if (m.refcount[head]! - 1 > 0) return "MF_FAILED";
  folioPut(k, head);
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
 * already poisoned or a large folio that cannot be split, and `EBUSY` when the page could not be
 * handled (ignored or failed); the page stays poisoned and counted in every case but `ENXIO`.
 */
export const memoryFailure = (k: Kernel, pfn: number): Effect.Effect<void, ErrnoError> =>
  Effect.gen(function* () {
    if (!k.mem.pfnValid(pfn)) return yield* errno("ENXIO", `pfn ${pfn} has no memory behind it`);
    const m = k.memmap;
    if (m.test(pfn, PG_hwpoison)) {
      actionResult(k, pfn, "MF_MSG_ALREADY_POISONED", "MF_FAILED");
      return yield* errno("EHWPOISON", `pfn ${pfn} is already poisoned`);
    }
    setHwpoison(k, pfn);
    if (!inUse(k, pfn)) {
      // get_hwpoison_page() found no user: a free buddy page is taken off the free lists.
      if (k.pageAlloc.takePageOffBuddy(pfn))
        return yield* result(actionResult(k, pfn, "MF_MSG_BUDDY", "MF_RECOVERED"));
      return yield* result(actionResult(k, pfn, "MF_MSG_GET_HWPOISON", "MF_IGNORED"));
    }
    let head = m.folioOf(pfn);
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
      return yield* result(actionResult(k, pfn, "MF_MSG_HUGE", meHugePage(k, head)));
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
    if (!hwpoisonUserMappings(k, head)) {
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

/** `unpoison_memory(pfn)`: clears a page's poison mark. */
export const unpoisonMemory = (k: Kernel, pfn: number): 0 | ErrnoError => {
  if (!k.mem.pfnValid(pfn)) return errno("ENXIO", `pfn ${pfn} has no memory behind it`);
  const m = k.memmap;
  if (!m.test(pfn, PG_hwpoison)) return errno("EINVAL", `pfn ${pfn} is not poisoned`);
  if (m.test(pfn, PG_buddy) || (m.refcount[m.folioOf(pfn)] === 0 && m.compoundHead[pfn] === 0)) {
    return errno("EBUSY", `pfn ${pfn} was taken out of service when it was freed`);
  }
  m.clear(pfn, PG_hwpoison);
  const head = m.folioOf(pfn);
  const nr = m.folioNrPages(head);
  let any = false;
  for (let i = 0; i < nr; i++) any ||= m.test(head + i, PG_hwpoison);
  if (!any) m.clear(head, PG_has_hwpoisoned);
  k.numPoisonedPages--;
  return 0;
};
