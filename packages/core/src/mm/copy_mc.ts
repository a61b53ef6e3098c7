/**
 * Copying folios, with and without machine-check recovery.
 *
 * Models `copy_mc_to_kernel()` (`include/linux/uaccess.h`) / `copy_mc_highpage()`
 * (`include/linux/highmem.h`) and `folio_mc_copy()` / `folio_copy()` (`mm/util.c`). A
 * machine-check-safe copy stops at the first poisoned source page and reports it, rather than
 * consuming the bad data; the destination keeps the pages copied before it.
 *
 * @module
 */
import { ERRNO } from "../errno";
import type { Kernel } from "../include/kernel";
import { PG_has_hwpoisoned, PG_hwpoison } from "../include/page_flags";

/**
 * Copies `nrPages` pages from `src` to `dst`, stopping before the first poisoned source page.
 * Returns the number of bytes left uncopied: 0 on success (`copy_mc_to_kernel()`'s convention,
 * `arch/x86/lib/copy_mc.c`). Models `copy_mc_highpage()` (`include/linux/highmem.h`) over a run
 * of pages.
 *
 * @category Memory and folios
 */
export const copyMcPages = (k: Kernel, dst: number, src: number, nrPages: number): number => {
  const m = k.memmap;
  let clean = nrPages;
  if (m.test(m.folioOf(src), PG_has_hwpoisoned | PG_hwpoison)) {
    for (let i = 0; i < nrPages; i++) {
      if (m.test(src + i, PG_hwpoison)) {
        clean = i;
        break;
      }
    }
  }
  if (clean > 0) k.mem.copyPages(dst, src, clean);
  return (nrPages - clean) * k.mem.pageSize;
};

/**
 * `folio_mc_copy()` (`mm/util.c`): copies a whole folio; 0 on success or `-EHWPOISON` when a
 * source page is poisoned. Pages before the poisoned one are copied, as the kernel's page-by-page
 * loop leaves them.
 *
 * @category Memory and folios
 */
export const folioMcCopy = (k: Kernel, dst: number, src: number): number =>
  copyMcPages(k, dst, src, k.memmap.folioNrPages(src)) === 0 ? 0 : -ERRNO.EHWPOISON;

/**
 * `folio_copy()` (`mm/util.c`): copies a whole folio with no machine-check recovery.
 *
 * @category Memory and folios
 */
export const folioCopy = (k: Kernel, dst: number, src: number): void => {
  k.mem.copyPages(dst, src, k.memmap.folioNrPages(src));
};
