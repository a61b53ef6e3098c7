/**
 * The memory files of `/proc`.
 *
 * Models `/proc/meminfo` (`fs/proc/meminfo.c`), `/proc/vmstat`, `/proc/buddyinfo` and
 * `/proc/pagetypeinfo` (`mm/vmstat.c`).
 *
 * @module
 */
import type { Kernel } from "../include/kernel";
import { MIGRATE_TYPES, MIGRATETYPE_NAMES, type Zone } from "../include/mmzone";
import { LRU_UNEVICTABLE } from "../include/swap";
import { hugetlbReportMeminfo } from "../mm/hugetlb";
import { pfnToOnlinePage } from "../mm/memory_hotplug";
import { vmCommitLimit, vmMemoryCommitted } from "../mm/util";

/** The zone's name as `/proc` prints it, `%8s`: the model's one zone per node is `Normal`. */
const ZONE_NAME = "Normal".padStart(8);

/**
 * `/proc/buddyinfo` (`frag_show_print()`, `mm/vmstat.c`): per zone, `Node N, zone   Normal `
 * then the free blocks of each order, each `%6lu `.
 */
const buddyinfo = (zones: readonly Zone[]): string =>
  zones
    .map(
      (z) =>
        `Node ${z.nid}, zone ${ZONE_NAME} ${z.nrFree.map((n) => `${n.toString().padStart(6)} `).join("")}\n`,
    )
    .join("");

/**
 * `/proc/pagetypeinfo` (`pagetypeinfo_show()`, `mm/vmstat.c`): the pageblock order, then free
 * blocks per order and migrate type (`pagetypeinfo_showfree_print()`, counts above 100000 shown
 * as `>100000`), then pageblocks per type (`pagetypeinfo_showblockcount_print()`, online
 * sections only: `pfn_to_online_page()`).
 */
const pagetypeinfo = (k: Kernel): string => {
  const zones = k.pageAlloc.zones.filter((z) => z.managedPages > 0);
  const orders = k.pageAlloc.maxOrder + 1;
  let out = `Page block order: ${k.pageAlloc.pageblockOrder}\n`;
  out += `Pages per block:  ${2 ** k.pageAlloc.pageblockOrder}\n\n`;
  out += `${"Free pages count per migrate type at order".padEnd(43)} `;
  for (let o = 0; o < orders; o++) out += `${o.toString().padStart(6)} `;
  out += "\n";
  for (const z of zones) {
    for (let mt = 0; mt < MIGRATE_TYPES; mt++) {
      out += `Node ${z.nid.toString().padStart(4)}, zone ${ZONE_NAME}, type ${MIGRATETYPE_NAMES[mt]!.padStart(12)} `;
      for (let o = 0; o < orders; o++) {
        const n = z.nrFreeByType[o]![mt]!;
        out +=
          n >= 100000 ? `>${(100000).toString().padStart(6)} ` : `${n.toString().padStart(6)} `;
      }
      out += "\n";
    }
  }
  out += `\n${"Number of blocks type ".padEnd(23)}`;
  for (let mt = 0; mt < MIGRATE_TYPES; mt++) out += `${MIGRATETYPE_NAMES[mt]!.padStart(12)} `;
  out += "\n";
  for (const z of zones) {
    // pagetypeinfo_showblockcount_print(): offline sections' pageblocks are not counted.
    const count = new Array<number>(MIGRATE_TYPES).fill(0);
    const perBlock = 2 ** k.pageAlloc.pageblockOrder;
    z.pageblockType.forEach((mt, i) => {
      if (pfnToOnlinePage(k, z.startPfn + i * perBlock) !== null) count[mt]!++;
    });
    out += `Node ${z.nid}, zone ${ZONE_NAME} ${count.map((c) => `${c.toString().padStart(12)} `).join("")}\n`;
  }
  return out;
};

/**
 * A count of pages as `/proc/meminfo` prints it: kibibytes, right-aligned in eight columns, then
 * ` kB` (`show_val_kb()`, `fs/proc/meminfo.c`).
 */
export const showValKb = (k: Kernel, pages: number): string =>
  `${((pages * k.mem.pageSize) / 1024).toString().padStart(8)} kB`;

/** Creates `/proc/vmstat`, `/proc/buddyinfo` and `/proc/meminfo` (`proc_*_init()`). */
export const createProcFiles = (k: Kernel): void => {
  k.fs.addAttributes("/proc", {
    vmstat: { mode: 0o444, show: () => k.vmstat.show() },
    buddyinfo: {
      mode: 0o444,
      show: () => buddyinfo(k.pageAlloc.zones.filter((z) => z.managedPages > 0)),
    },
    pagetypeinfo: { mode: 0o400, show: () => pagetypeinfo(k) },
    meminfo: {
      mode: 0o444,
      show: () => {
        // si_meminfo(): totalram_pages(), the managed pages of every zone.
        const total = k.pageAlloc.zones.reduce((s, z) => s + z.managedPages, 0);
        // The pages on every node's unevictable LRU list (pages[LRU_UNEVICTABLE]).
        let unevictable = 0;
        for (let nid = 0; nid < k.lru.lists.length; nid++)
          unevictable += k.lru.size(nid, LRU_UNEVICTABLE);
        return (
          `MemTotal:       ${showValKb(k, total)}\n` +
          `MemFree:        ${showValKb(k, k.pageAlloc.totalFreePages())}\n` +
          `Unevictable:    ${showValKb(k, unevictable)}\n` +
          `Mlocked:        ${showValKb(k, k.vmstat.get("nr_mlock"))}\n` +
          // vm_commit_limit() is an unsigned long, shifted to KiB as one (wrapping at 64 bits).
          `CommitLimit:    ${BigInt.asUintN(64, vmCommitLimit(k) * BigInt(k.mem.pageSize / 1024))
            .toString()
            .padStart(8)} kB\n` +
          `Committed_AS:   ${showValKb(k, vmMemoryCommitted(k))}\n` +
          // meminfo_proc_show() prints this one with its own "%5lu kB", not show_val_kb().
          `HardwareCorrupted: ${((k.numPoisonedPages * k.mem.pageSize) / 1024).toString().padStart(5)} kB\n` +
          `Balloon:        ${showValKb(k, k.nrBalloonPages)}\n` +
          hugetlbReportMeminfo(k)
        );
      },
    },
  });
};
