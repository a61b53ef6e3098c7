/**
 * The memory files of `/proc`.
 *
 * Models `/proc/meminfo` (`fs/proc/meminfo.c`), `/proc/vmstat` and `/proc/buddyinfo`
 * (`mm/vmstat.c`).
 *
 * @module
 */
import type { Kernel } from "../include/kernel";

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
      show: () =>
        k.pageAlloc.zones
          .filter((z) => z.managedPages > 0)
          .map(
            (z) =>
              `Node ${z.nid}, zone   Normal ${z.nrFree.map((n) => n.toString().padStart(6)).join(" ")}\n`,
          )
          .join(""),
    },
    meminfo: {
      mode: 0o444,
      show: () => {
        const total = k.mem.nodes.reduce((s, n) => s + n.presentPages, 0);
        return (
          `MemTotal:       ${showValKb(k, total)}\n` +
          `MemFree:        ${showValKb(k, k.pageAlloc.totalFreePages())}\n` +
          `HardwareCorrupted: ${showValKb(k, k.numPoisonedPages)}\n`
        );
      },
    },
  });
};
