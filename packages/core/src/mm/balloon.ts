/**
 * The memory balloon core and its page migration.
 *
 * Models `mm/balloon.c` of Linux 7.0 (`mm/balloon_compaction.c` before the "mm: balloon
 * infrastructure cleanups" series, which moved the bookkeeping of a migrated page out of the
 * drivers into `balloon_page_migrate()`). A balloon driver allocates pages from the buddy
 * allocator ({@link balloonPageAlloc}), enqueues them on its device's list
 * ({@link balloonPageEnqueue}: `PGTY_offline`, `PG_movable_ops`, `page->private` naming the
 * device) and hands them to the host; deflating dequeues them ({@link balloonPageDequeue}) for the
 * driver to free. Balloon pages are mapped by nobody and are never on an LRU list: compaction and
 * memory offlining migrate them through the `movable_operations` this file registers for
 * `PGTY_offline` at boot ({@link balloonInit}), whose `migrate_page` calls the driver's
 * `migratepage` and then moves the device's bookkeeping to the new page. The page content is not
 * copied by the core.
 *
 * `/proc/vmstat` counts `balloon_inflate`, `balloon_deflate` and `balloon_migrate`
 * (`BALLOON_INFLATE`, `BALLOON_DEFLATE`, `BALLOON_MIGRATE`, `include/linux/vm_event_item.h`).
 *
 * @module
 */
import { Effect } from "effect";
import { ERRNO, type ErrnoError } from "../errno";
import type { BalloonDevInfo, BalloonMigratepage } from "../include/balloon";
import {
  __GFP_NOMEMALLOC,
  __GFP_NORETRY,
  __GFP_NOWARN,
  GFP_HIGHUSER_MOVABLE,
} from "../include/gfp";
import type { Kernel } from "../include/kernel";
import type { MovableOperations } from "../include/migrate";
import { PG_movable_ops, PG_offline } from "../include/page_flags";
import { FolioList } from "../lib/list";
import { allocTargetSlowpath } from "./migrate";
import { callMigratePage, setMovableOps } from "./migrate_movable_ops";
import { folioGet, folioPut } from "./swap";

/**
 * `balloon_devinfo_init()` (`include/linux/balloon.h`) plus the driver's setting of
 * `migratepage`: a new, empty balloon device of this kernel.
 *
 * @category Memory balloon
 */
export const balloonDevinfoInit = (
  k: Kernel,
  migratepage: BalloonMigratepage,
  adjustManagedPageCount = false,
): BalloonDevInfo => {
  const b: BalloonDevInfo = {
    id: k.nextId(),
    pages: new FolioList(k.memmap.lru),
    isolatedPages: 0,
    migratepage,
    adjustManagedPageCount,
  };
  k.balloonDevices.set(b.id, b);
  return b;
};

/** `balloon_page_device()`: the device a balloon page is inflated in, if any. */
const balloonPageDevice = (k: Kernel, page: number): BalloonDevInfo | undefined => {
  const id = k.memmap.private[page]!;
  return id === 0 ? undefined : k.balloonDevices.get(id);
};

/** `adjust_managed_page_count()` (`mm/page_alloc.c`): the page's zone manages `count` more. */
const adjustManagedPageCount = (k: Kernel, page: number, count: number): void => {
  k.pageAlloc.zones[k.mem.pfnToNid(page)]!.managedPages += count;
};

/** `balloon_page_insert()`: marks the page a balloon page of `b` and lists it. */
const balloonPageInsert = (k: Kernel, b: BalloonDevInfo, page: number): void => {
  k.memmap.set(page, PG_offline | PG_movable_ops);
  k.memmap.private[page] = b.id;
  b.pages.add(page);
};

/**
 * `balloon_page_finalize()`: forgets the device; `PGTY_offline` and `PG_movable_ops` stay until
 * the page is freed.
 */
const balloonPageFinalize = (k: Kernel, page: number): void => {
  k.memmap.private[page] = 0;
};

/**
 * The GFP flags of `balloon_page_alloc()` (`mm/balloon.c`, Linux 7.0, with
 * `CONFIG_BALLOON_MIGRATION`): `GFP_HIGHUSER_MOVABLE | __GFP_NOMEMALLOC | __GFP_NORETRY |
 * __GFP_NOWARN`.
 *
 * @category Memory balloon
 */
export const BALLOON_GFP = GFP_HIGHUSER_MOVABLE | __GFP_NOMEMALLOC | __GFP_NORETRY | __GFP_NOWARN;

/**
 * `balloon_page_alloc()` (`mm/balloon.c`, Linux 7.0): one page for the balloon,
 * `GFP_HIGHUSER_MOVABLE` (balloon migration is configured) with `__GFP_NOMEMALLOC` (never the
 * emergency reserves), `__GFP_NORETRY` and `__GFP_NOWARN` ({@link BALLOON_GFP}), preferring node
 * `nid`. The driver's worker that inflates (`fill_balloon()` on a per-CPU workqueue) runs on a CPU
 * of `nid`, so the allocation counts `numa_local` when it lands there. When the first tries fail,
 * the slow path runs in that worker (a kernel thread of `nid`: `Kernel.allocPagesSlowpath()`):
 * `__GFP_NORETRY` makes it one round, one direct reclaim (an order-0 allocation compacts
 * nothing), and never the OOM killer (Linux 6.16's `__alloc_pages_slowpath()`). The PFN,
 * refcount 1, or -1.
 *
 * @category Memory balloon
 */
export const balloonPageAlloc = (k: Kernel, nid = 0): Effect.Effect<number, ErrnoError> =>
  Effect.suspend(() => {
    const page = k.pageAlloc.allocPages(nid, 0, BALLOON_GFP);
    if (page >= 0) return Effect.succeed(page);
    // BALLOON_GFP may reclaim directly: the slow path is always there.
    return allocTargetSlowpath(k, { nid, order: 0, gfp: BALLOON_GFP, nodemask: null }, null)!;
  });

/**
 * `balloon_page_enqueue()` (`mm/balloon.c`): inflates a page from {@link balloonPageAlloc} into
 * `b`: lists it, takes it out of the zone's managed pages when the device says so, and counts
 * `balloon_inflate` and in `nr_balloon_pages`. The balloon keeps the allocation's reference.
 *
 * @category Memory balloon
 */
export const balloonPageEnqueue = (k: Kernel, b: BalloonDevInfo, page: number): void => {
  balloonPageInsert(k, b, page);
  if (b.adjustManagedPageCount) adjustManagedPageCount(k, page, -1);
  k.vmstat.count("balloon_inflate");
  k.nrBalloonPages++; // inc_node_page_state(page, NR_BALLOON_PAGES)
};

/**
 * `balloon_page_list_enqueue()` (`mm/balloon.c`): enqueues every page of `pages` (taking each off
 * that list); returns how many.
 *
 * @category Memory balloon
 */
export const balloonPageListEnqueue = (k: Kernel, b: BalloonDevInfo, pages: FolioList): number => {
  let n = 0;
  for (const page of pages) {
    pages.del(page);
    balloonPageEnqueue(k, b, page);
    n++;
  }
  return n;
};

/**
 * `balloon_page_list_dequeue()` (`mm/balloon.c`): deflates up to `nReqPages` pages of `b` onto
 * `pages`: each leaves the device (its `page->private` cleared), returns to the managed count when
 * the device says so, and counts `balloon_deflate` (and out of `nr_balloon_pages`). Isolated pages are on no list and cannot be
 * dequeued, so fewer may come back. The driver frees them (`folio_put`).
 *
 * @category Memory balloon
 */
export const balloonPageListDequeue = (
  k: Kernel,
  b: BalloonDevInfo,
  pages: FolioList,
  nReqPages: number,
): number => {
  let n = 0;
  for (const page of b.pages) {
    if (n === nReqPages) break;
    b.pages.del(page);
    if (b.adjustManagedPageCount) adjustManagedPageCount(k, page, 1);
    balloonPageFinalize(k, page);
    k.vmstat.count("balloon_deflate");
    pages.add(page);
    k.nrBalloonPages--; // dec_node_page_state(page, NR_BALLOON_PAGES)
    n++;
  }
  return n;
};

/**
 * `balloon_page_dequeue()` (`mm/balloon.c`): deflates one page of `b`; its PFN, or -1 when the
 * list is empty (every page may be isolated for migration just now).
 *
 * @category Memory balloon
 */
export const balloonPageDequeue = (k: Kernel, b: BalloonDevInfo): number => {
  const pages = new FolioList(k.memmap.lru);
  try {
    if (balloonPageListDequeue(k, b, pages, 1) !== 1) return -1;
    const page = pages.first;
    pages.del(page);
    return page;
  } finally {
    pages.release();
  }
};

/**
 * The balloon's `movable_operations` (`balloon_mops`, `mm/balloon.c`): `balloon_page_isolate()`,
 * `balloon_page_migrate()`, `balloon_page_putback()`.
 */
const balloonMops = (k: Kernel): MovableOperations => ({
  isolatePage: (page) => {
    const b = balloonPageDevice(k, page);
    // Already deflated: no longer the balloon's.
    if (!b) return false;
    b.pages.del(page);
    b.isolatedPages++;
    return true;
  },
  putbackPage: (page) => {
    // Isolated balloon pages cannot be deflated: the device is still there.
    const b = balloonPageDevice(k, page);
    if (!b) return;
    b.pages.add(page);
    b.isolatedPages--;
  },
  migratePage: (newpage, page, mode) => {
    const b = balloonPageDevice(k, page);
    if (!b) return -ERRNO.EAGAIN;
    const rc = callMigratePage(() => b.migratepage(b, newpage, page, mode));
    if (rc < 0 && rc !== -ERRNO.ENOENT) return rc;
    if (rc === 0) {
      folioGet(k, newpage);
      balloonPageInsert(k, b, newpage);
      k.vmstat.count("balloon_migrate");
      if (b.adjustManagedPageCount && k.mem.pfnToNid(page) !== k.mem.pfnToNid(newpage)) {
        adjustManagedPageCount(k, page, 1);
        adjustManagedPageCount(k, newpage, -1);
      }
    } else {
      // The old page was deflated, the new one not inflated.
      k.vmstat.count("balloon_deflate");
      if (b.adjustManagedPageCount) adjustManagedPageCount(k, page, 1);
    }
    b.isolatedPages--;
    balloonPageFinalize(k, page);
    folioPut(k, page);
    return 0;
  },
});

/**
 * `balloon_init()` (`mm/balloon.c`, a `core_initcall`): registers the balloon's
 * `movable_operations` for `PGTY_offline`. Run once at boot; returns `set_movable_ops()`'s value.
 *
 * @category Memory balloon
 */
export const balloonInit = (k: Kernel): number => setMovableOps(k, balloonMops(k), PG_offline);
