/**
 * Memory offlining and onlining: the `MR_MEMORY_HOTPLUG` caller of `migrate_pages()`.
 *
 * Models `mm/memory_hotplug.c` as Linux 6.16 has it: `offline_pages()` isolates a range's
 * pageblocks (`mm/page_isolation.ts`), migrates every movable folio out of it
 * (`scan_movable_pages()`, `do_migrate_range()`: LRU folios, THPs, hugetlb folios in use and
 * `movable_ops` pages such as a balloon's, `MIGRATE_SYNC`, `MR_MEMORY_HOTPLUG`, to other nodes
 * when there are any), retries until every page is free (`test_pages_isolated()`), then takes
 * the free pages out of the allocator (`__offline_isolated_pages()`) and the zone's managed and
 * present pages. `online_pages()` gives them back. The sysfs files that start both are
 * `drivers/base/memory.ts`.
 *
 * @module
 */
import { Effect } from "effect";
import { type ErrnoError, errno } from "../errno";
import { __GFP_MOVABLE, __GFP_RETRY_MAYFAIL, GFP_KERNEL } from "../include/gfp";
import type { Kernel } from "../include/kernel";
import { MEM_OFFLINE, MEM_ONLINE } from "../include/memory";
import { MIGRATE_SYNC, MR_MEMORY_HOTPLUG } from "../include/migrate_mode";
import type { AllocContext } from "../include/mmzone";
import {
  PG_buddy,
  PG_has_hwpoisoned,
  PG_hugetlb,
  PG_hugetlb_migratable,
  PG_hwpoison,
  PG_lru,
  PG_movable_ops,
  PG_reserved,
} from "../include/page_flags";
import { stopIfPanicked } from "../include/panic";
import { fatalSignalPending } from "../include/signal";
import { FolioList } from "../lib/list";
import { dissolveFreeHugetlbFolio } from "./hugetlb";
import { unmapPoisonedFolio } from "./memory_failure";
import { memtierHotplugCallback } from "./memory_tiers";
import { isolateFolioToList, migratePages, putbackMovablePages } from "./migrate";
import { allocMigrationTarget } from "./move_pages";
import {
  MEMORY_OFFLINE,
  startIsolatePageRange,
  testPagesIsolated,
  undoIsolatePageRange,
} from "./page_isolation";
import { reserveMemNotifier } from "./util";

/** `[mem 0x…-0x…]`, the range as the kernel's messages print it (`%#010llx`). */
const memRange = (k: Kernel, start: number, end: number): string => {
  const hex = (n: number) => `0x${n.toString(16).padStart(8, "0")}`;
  return `[mem ${hex(start * k.mem.pageSize)}-${hex(end * k.mem.pageSize - 1)}]`;
};

/**
 * The checks `offline_pages()` and `online_pages()` make first: a range of whole sections
 * (`EINVAL` otherwise) on one node with no hole in it (`EINVAL`, "memory holes").
 */
const checkRange = (k: Kernel, what: string, start: number, nrPages: number): ErrnoError | null => {
  const pps = k.mem.pagesPerSection;
  if (!Number.isInteger(start) || !Number.isInteger(nrPages) || nrPages <= 0)
    return errno("EINVAL", `${what}: bad range (pfn ${start}, ${nrPages} pages)`);
  if (start % pps !== 0 || nrPages % pps !== 0)
    return errno("EINVAL", `${what}: pfn ${start} + ${nrPages} pages is not whole sections`);
  const end = start + nrPages;
  for (let pfn = start; pfn < end; pfn += pps) {
    if (!k.mem.pfnValid(pfn) || !k.mem.pfnValid(pfn + pps - 1))
      return errno("EINVAL", `${what} ${memRange(k, start, end)} failed due to memory holes`);
    if (k.mem.pfnToNid(pfn) !== k.mem.pfnToNid(start))
      return errno("EINVAL", `${what} ${memRange(k, start, end)} failed due to multizone range`);
  }
  return null;
};

/**
 * The nodes with memory (`node_states[N_MEMORY]`): those whose zone still has present pages
 * ({@link Kernel.nodesWithMemory}).
 *
 * @category Memory hotplug
 */
export const nodesWithMemory = (k: Kernel): number[] => k.nodesWithMemory();

/**
 * `pfn_to_online_page()` (`mm/memory_hotplug.c`): `pfn` when it is a valid page of an online
 * section, null when there is no page or its section is offline (the section's memory block is
 * `MEM_OFFLINE`: `offline_pages()` took it out, `offline_mem_sections()`). Walkers of physical
 * memory use it to pass over offline memory, whose `struct page` holds nothing to read.
 *
 * @category Memory hotplug
 */
export const pfnToOnlinePage = (k: Kernel, pfn: number): number | null => {
  if (!k.mem.pfnValid(pfn)) return null;
  const block = k.memoryBlocks.find((b) => pfn >= b.startPfn && pfn < b.startPfn + b.nrPages);
  return block && block.state === MEM_OFFLINE ? null : pfn;
};

/**
 * `scan_movable_pages()` (`mm/memory_hotplug.c`): the first PFN of `[start, end)` holding a
 * folio `do_migrate_range()` can move (on the LRU, a `movable_ops` page, or a hugetlb folio in
 * use), or -1 (the kernel's `-ENOENT`).
 *
 * @category Memory hotplug
 */
export const scanMovablePages = (k: Kernel, start: number, end: number): number => {
  const m = k.memmap;
  for (let pfn = start; pfn < end; pfn++) {
    const flags = m.flags[pfn]!;
    if (flags & (PG_buddy | PG_reserved)) {
      if (flags & PG_buddy) pfn += 2 ** m.order[pfn]! - 1;
      continue;
    }
    const head = m.folioOf(pfn);
    const headFlags = m.flags[head]!;
    if (headFlags & PG_lru || headFlags & PG_movable_ops) return pfn;
    if (headFlags & PG_hugetlb) {
      if (headFlags & PG_hugetlb_migratable) return pfn;
      pfn = head + m.folioNrPages(head) - 1;
    }
  }
  return -1;
};

/**
 * `do_migrate_range()` (`mm/memory_hotplug.c`): isolates every movable folio of `[start, end)`
 * (`isolate_folio_to_list()`; pages being freed are skipped, a base page with an unhandled
 * error is taken off the LRU for good and unmapped, `unmap_poisoned_folio()`, instead, and a large
 * folio with one is left alone) and migrates
 * them in one `migrate_pages()` call: `MIGRATE_SYNC`, `MR_MEMORY_HOTPLUG`, with
 * `alloc_migration_target()` over every node with memory but the range's own, which is used only
 * when it is the last node with memory, with `GFP_KERNEL | __GFP_MOVABLE | __GFP_RETRY_MAYFAIL`
 * (Linux 6.16: no `__GFP_THISNODE`, and reclaim retried while it makes progress, no OOM killer). What does not move is put back, to be found again by the
 * next scan. The destinations are allocated in `current`, the task offlining the memory (null:
 * a kernel thread of the range's node).
 *
 * @category Memory hotplug
 */
export const doMigrateRange = (
  k: Kernel,
  start: number,
  end: number,
  current: AllocContext | null = null,
): Effect.Effect<void, ErrnoError> =>
  Effect.gen(function* () {
    const m = k.memmap;
    const list = new FolioList(m.lru);
    try {
      for (let pfn = start; pfn < end; pfn++) {
        const flags = m.flags[pfn]!;
        if (flags & PG_buddy) {
          pfn += 2 ** m.order[pfn]! - 1;
          continue;
        }
        if (flags & PG_reserved) continue;
        const head = m.folioOf(pfn);
        if (m.refcount[head] === 0) continue;
        if (flags & PG_hwpoison || m.flags[head]! & PG_has_hwpoisoned) {
          // A folio with a poisoned page is not migrated. A large one (hugetlb aside) is left
          // alone, as Linux's stable kernels leave it ("unmap_poisoned_folio() cannot handle large
          // folios in all cases yet"): its other pages keep the offline retrying until a fatal
          // signal. A base page leaves the LRU with the isolation's reference, which is never
          // dropped, and its mappings become hwpoison entries, so the next scan passes it by and
          // test_pages_isolated() skips it.
          const large = m.folioNrPages(head) > 1 && !m.test(head, PG_hugetlb);
          if (!large && m.testAndClear(head, PG_lru)) {
            m.lru.del(head);
            m.refcount[head]!++;
          }
          if (!large) unmapPoisonedFolio(k, head);
          pfn = Math.max(pfn, head + m.folioNrPages(head) - 1);
          continue;
        }
        if (m.flags[head]! & (PG_lru | PG_movable_ops | PG_hugetlb_migratable))
          isolateFolioToList(k, head, list);
        pfn = Math.max(pfn, head + m.folioNrPages(head) - 1);
      }
      if (list.isEmpty) return;
      const nid = k.mem.pfnToNid(start);
      // Another node if there is one; this node only when it is the last with memory.
      const others = nodesWithMemory(k).filter((n) => n !== nid);
      const nmask = others.length > 0 ? others : [nid];
      yield* migratePages(
        k,
        list,
        allocMigrationTarget(k, nid, {
          gfp: GFP_KERNEL | __GFP_MOVABLE | __GFP_RETRY_MAYFAIL,
          nmask,
          reason: MR_MEMORY_HOTPLUG,
          current,
        }),
        null,
        MIGRATE_SYNC,
        MR_MEMORY_HOTPLUG,
      );
    } finally {
      putbackMovablePages(k, list);
      list.release();
    }
  });

/**
 * `offline_pages()` (`mm/memory_hotplug.c`): takes `[start, start + nrPages)` (whole sections of
 * one node) out of service.
 *
 * 1. Isolates the range's pageblocks (`start_isolate_page_range()`): `EBUSY` when one holds an
 *    unmovable page (kernel memory, a reserved page) or is isolated already; nothing changed.
 * 2. Until no movable folio is left (`scan_movable_pages()`), migrates them out
 *    ({@link doMigrateRange}); then checks every page is free (`test_pages_isolated()`) and
 *    starts over if not. Like the kernel it retries for as long as it takes: a folio that never
 *    migrates (one with an extra reference) keeps it going until the caller is interrupted, the
 *    model's fatal signal (`EINTR`, "signal backoff"): the fiber's interruption is checked
 *    between passes, never inside a migration. A kernel shutting down is the other fatal signal
 *    (power-off kills every process): the next pass fails with `EINTR`, so shutdown, which
 *    waits for calls in flight, is not held up by it.
 * 3. Takes the free pages out of the allocator (`__offline_isolated_pages()`), and out of the
 *    zone's managed and present pages (`adjust_managed_page_count()`,
 *    `adjust_present_page_count()`): `MemTotal` shrinks by the range. When that was the node's
 *    last memory, the node's `kcompactd` and `kswapd` end (`kcompactd_stop()`, `kswapd_stop()`:
 *    each daemon is woken and waited for), and the node leaves N_MEMORY and its memory tier
 *    (`memtier_hotplug_callback()`, `mm/memory_tiers.ts`).
 *
 * Once the pages are taken (step 3) the rest runs uninterruptibly, so an interruption cannot
 * leave the node's daemons half stopped or its memory tier unnotified.
 *
 * On any failure or interruption the pageblocks go back to movable
 * (`undo_isolate_page_range()`): every page is usable again, and what moved stays moved, on
 * other memory. Returns the pages taken out.
 *
 * This is what writing `offline` to a block's `state` runs; the block's state is the driver's
 * (`drivers/base/memory.ts`), so a direct call leaves `state` reading `online`, as a direct
 * `offline_pages()` from a driver would. Offline memory through sysfs unless managing the blocks
 * yourself. `current` is the task it runs in (the writer of `state`), which allocates the
 * migration destinations; null for a kernel thread of the range's node.
 *
 * @category Memory hotplug
 */
export const offlinePages = (
  k: Kernel,
  start: number,
  nrPages: number,
  current: AllocContext | null = null,
): Effect.Effect<number, ErrnoError> =>
  Effect.suspend(() => {
    const bad = checkRange(k, "memory offlining", start, nrPages);
    if (bad) return Effect.fail(bad);
    const end = start + nrPages;
    const failed = (reason: string) =>
      `memory offlining ${memRange(k, start, end)} failed due to ${reason}`;
    const isolated = startIsolatePageRange(k, start, end, MEMORY_OFFLINE);
    if (isolated)
      return Effect.fail(
        errno("EBUSY", `${failed("failure to isolate range")}: ${isolated.message}`),
      );
    const migrateAll = Effect.gen(function* () {
      for (;;) {
        for (let pfn = start; ; ) {
          // cond_resched() and fatal_signal_pending(): the fiber may be interrupted here; the
          // writing task may have been sent SIGKILL (the OOM killer's), and a kernel powering
          // off has sent every process its fatal signal (SIGKILL at shutdown).
          yield* Effect.yieldNow;
          yield* stopIfPanicked(k);
          if (k.state !== "running")
            return yield* Effect.fail(
              errno("EINTR", failed("signal backoff: the kernel is shutting down")),
            );
          if (fatalSignalPending(current))
            return yield* Effect.fail(
              errno("EINTR", failed("signal backoff: SIGKILL is pending for the writer")),
            );
          pfn = scanMovablePages(k, pfn, end);
          if (pfn < 0) break;
          yield* Effect.uninterruptible(doMigrateRange(k, pfn, end, current));
        }
        // dissolve_free_hugetlb_folios(): the pool's free huge pages in the range (a migrated
        // hugetlb folio's source goes back to the pool) become buddy pages; one in use fails it.
        for (let pfn = start; pfn < end; pfn++) {
          const head = k.memmap.folioOf(pfn);
          if (!k.memmap.test(head, PG_hugetlb)) continue;
          if (dissolveFreeHugetlbFolio(k, head) < 0) {
            return yield* Effect.fail(errno("EBUSY", failed("failure to dissolve huge pages")));
          }
          pfn = head + k.memmap.folioNrPages(head) - 1;
        }
        if (testPagesIsolated(k, start, end, MEMORY_OFFLINE) < 0) return;
      }
    });
    return migrateAll.pipe(
      Effect.onExit((exit) =>
        Effect.sync(() => {
          if (exit._tag === "Failure") undoIsolatePageRange(k, start, end);
        }),
      ),
      Effect.flatMap(() => {
        const nid = k.mem.pfnToNid(start);
        const zone = k.pageAlloc.zones[nid]!;
        const taken = k.pageAlloc.offlineIsolatedPages(start, end);
        zone.managedPages -= taken;
        zone.presentPages -= nrPages;
        // memory_notify(MEM_OFFLINE)'s reserve_mem_notifier() (the free memory is what the
        // daemons' stop below leaves it).
        reserveMemNotifier(k, false);
        if (zone.presentPages > 0) return Effect.succeed(taken);
        // status_change_nid: the node lost N_MEMORY. Its daemons end (kcompactd_stop(),
        // kswapd_stop()), then memory_notify(MEM_OFFLINE): past the commit, no signal stops it.
        return Effect.uninterruptible(
          Effect.andThen(
            Effect.andThen(k.compaction.stopNode(nid), k.kswapd.stopNode(nid)),
            Effect.sync(() => {
              memtierHotplugCallback(k, MEM_OFFLINE, nid);
              return taken;
            }),
          ),
        );
      }),
    );
  });

/**
 * `online_pages()` (`mm/memory_hotplug.c`): gives an offline range (whole sections of one node)
 * back to the allocator: every page but a hwpoisoned one is freed into the still isolated
 * pageblocks (`online_pages_range()`, `generic_online_page()`, `__free_pages_core()`: reserved
 * cleared, managed pages counted back), the zone's present pages grow, and the pageblocks become
 * movable (`undo_isolate_page_range()`). The node's daemons start if it has none
 * (`kswapd_run()`, `kcompactd_run()`: while the daemons run, {@link Kswapd.runNode}), and a node
 * that had no memory before joins N_MEMORY and its memory tier again
 * (`memtier_hotplug_callback()`). The model has one zone per node, so the range goes back
 * into that zone whatever the online type asked (`zone_for_pfn_range()` is not modelled).
 * `EINVAL` for a range that is not whole sections of one node, or that is not offline.
 *
 * @category Memory hotplug
 */
export const onlinePages = (
  k: Kernel,
  start: number,
  nrPages: number,
): Effect.Effect<number, ErrnoError> =>
  Effect.suspend(() => {
    const bad = checkRange(k, "memory onlining", start, nrPages);
    if (bad) return Effect.fail(bad);
    const end = start + nrPages;
    const m = k.memmap;
    for (let pfn = start; pfn < end; pfn++) {
      // Offline pages are reserved and free; a hwpoisoned page stayed as it was, held or not.
      if (m.flags[pfn]! & PG_hwpoison) continue;
      if (!(m.flags[pfn]! & PG_reserved) || m.refcount[pfn] !== 0)
        return Effect.fail(
          errno("EINVAL", `memory onlining ${memRange(k, start, end)}: pfn ${pfn} is not offline`),
        );
    }
    const pa = k.pageAlloc;
    const nid = k.mem.pfnToNid(start);
    const zone = pa.zones[nid]!;
    // status_change_nid: the node had no memory before this range (node_states_check_changes_online()).
    const statusChange = !k.nodeHasMemory(nid);
    const chunk = 2 ** pa.maxOrder;
    let freed = 0;
    for (let pfn = start; pfn < end; pfn += chunk) {
      const n = Math.min(chunk, end - pfn);
      const poisoned = m.flags.subarray(pfn, pfn + n).some((f) => (f & PG_hwpoison) !== 0);
      if (!poisoned && n === chunk) {
        for (let i = 0; i < n; i++) m.flags[pfn + i] = 0;
        pa.freePages(pfn, pa.maxOrder);
        freed += n;
        continue;
      }
      for (let p = pfn; p < pfn + n; p++) {
        if (m.flags[p]! & PG_hwpoison) continue;
        m.flags[p] = 0;
        pa.freePages(p, 0);
        freed++;
      }
    }
    zone.managedPages += freed;
    zone.presentPages += nrPages;
    undoIsolatePageRange(k, start, end);
    // kswapd_run() and kcompactd_run() (each nothing when the node has its daemon), then
    // memory_notify(MEM_ONLINE): past the commit, no signal stops it.
    return Effect.uninterruptible(
      Effect.andThen(
        Effect.andThen(k.kswapd.runNode(nid), k.compaction.runNode(nid)),
        Effect.sync(() => {
          if (statusChange) memtierHotplugCallback(k, MEM_ONLINE, nid);
          reserveMemNotifier(k, true);
          return freed;
        }),
      ),
    );
  });
