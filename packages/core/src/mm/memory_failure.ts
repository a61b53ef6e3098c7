/**
 * Hardware memory errors.
 *
 * Models the marking half of `mm/memory-failure.c`: `memory_failure()` sets `PG_hwpoison` on the
 * page (and `PG_has_hwpoisoned` on its large folio) and counts it in `num_poisoned_pages`.
 * Accessing a poisoned page fails with `EHWPOISON` (the kernel sends `SIGBUS`), a
 * machine-check-safe copy from it fails instead of returning garbage, and freeing it keeps it
 * out of the allocator. `unpoison_memory()` clears the mark, as the hwpoison debugfs file does.
 *
 * @module
 */
import { type ErrnoError, errno } from "../errno";
import type { Kernel } from "../include/kernel";
import { PG_buddy, PG_has_hwpoisoned, PG_head, PG_hwpoison } from "../include/page_flags";

/** `memory_failure(pfn)`: marks a page as having a hardware error. */
export const memoryFailure = (k: Kernel, pfn: number): 0 | ErrnoError => {
  if (!k.mem.pfnValid(pfn)) return errno("ENXIO", `pfn ${pfn} has no memory behind it`);
  const m = k.memmap;
  if (m.test(pfn, PG_hwpoison)) return errno("EHWPOISON", `pfn ${pfn} is already poisoned`);
  if (m.test(pfn, PG_buddy) || (m.refcount[m.folioOf(pfn)] === 0 && m.compoundHead[pfn] === 0)) {
    return errno("EBUSY", `pfn ${pfn} is free memory; only pages in use are modelled`);
  }
  m.set(pfn, PG_hwpoison);
  const head = m.folioOf(pfn);
  if (m.test(head, PG_head)) m.set(head, PG_has_hwpoisoned);
  k.numPoisonedPages++;
  return 0;
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
