/**
 * Changing the protection of a range of memory.
 *
 * Models `mm/mprotect.c`: `do_mprotect_pkey()` checks the call and the range, `mprotect_fixup()`
 * sets the VMAs' flags through `vma_modify_flags()` (`mm/vma.c`), which merges the range into a
 * neighbour that then matches or splits the VMAs at the range's ends (splitting a huge PMD a cut
 * goes through, as `vma_adjust_trans_huge()` does), and `change_protection()` write-protects
 * the entries of a range that loses `PROT_WRITE`: PTEs, whole huge PMDs (`change_huge_pmd()`) and
 * writable migration entries, which become readable ones. A range that gains `PROT_WRITE` keeps
 * its entries read-only; the next write faults and reuses or copies the page. `change_prot_numa()`
 * marks entries for NUMA balancing's hinting faults.
 *
 * @module
 */
import { type ErrnoError, errno } from "../errno";
import type { Kernel, Task } from "../include/kernel";
import {
  VM_ACCOUNT,
  VM_EXEC,
  VM_GROWSDOWN,
  VM_HUGETLB,
  VM_NORESERVE,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
  type Vma,
} from "../include/mm_types";
import {
  PROT_EXEC,
  PROT_GROWSDOWN,
  PROT_GROWSUP,
  PROT_READ,
  PROT_SEM,
  PROT_WRITE,
} from "../include/mman";
import {
  isMigrationEntry,
  PTE_PROTNONE,
  PTE_WRITE,
  ptePfn,
  ptePresent,
  pteProtnone,
  pteSpecial,
} from "../include/pgtable";
import { hpagePmdSize } from "./huge_memory";
import { calcVmProtBits, pageRange, vmaModify, walkVmaRange } from "./mmap";
import { securityVmEnoughMemoryMm, vmUnacctMemory } from "./util";

const hex = (n: number): string => `0x${n.toString(16)}`;

/**
 * `change_protection()` without `PROT_WRITE` (`mm/mprotect.c`): clears the write bit of every
 * present entry of `vma`, huge PMDs whole (`change_huge_pmd()`), and turns writable migration
 * entries into readable ones (`make_readable_migration_entry()`), so the page comes back
 * read-only.
 */
const writeProtectVma = (vma: Vma): void => {
  const protect = (entry: number) =>
    (ptePresent(entry) || isMigrationEntry(entry)) && entry & PTE_WRITE
      ? (entry & ~PTE_WRITE) >>> 0
      : entry;
  for (const [haddr, pmd] of vma.pmds) vma.pmds.set(haddr, protect(pmd));
  for (const [haddr, pud] of vma.puds) vma.puds.set(haddr, protect(pud));
  for (let slot = 0; slot < vma.nrPages; slot++) vma.ptes[slot] = protect(vma.ptes[slot]!);
};

/**
 * `mprotect()` (`do_mprotect_pkey()`, `mm/mprotect.c`, Linux 6.16): sets the protection of every
 * page of `[start, start + length)` to `prot` (`PROT_READ`, `PROT_WRITE`, `PROT_EXEC`, or 0 for
 * `PROT_NONE`; `PROT_SEM` is accepted and changes nothing). First, changing nothing and in the
 * kernel's order: `EINVAL` for an unaligned `start` or a length that is no integer; 0 for a zero
 * length, whatever `prot` is; `ENOMEM` for a negative length (a `size_t` that wraps past the top);
 * `EINVAL` for unknown `prot` bits (`arch_validate_prot()`), a negative `prot` or one past 32 bits
 * among them. Then it walks the VMAs of the range in order ({@link walkVmaRange}), and
 * `mprotect_fixup()` changes each that needs it, so an error leaves the VMAs before it changed,
 * as Linux does: `ENOMEM` at the first hole (a range whose start is not mapped changes nothing;
 * a range that reaches past `TASK_SIZE` changes the VMAs below it and fails at the hole there),
 * `ENOMEM` where the overcommit policy refuses the charge of a private VMA that becomes writable
 * for the first time (`security_vm_enough_memory_mm()`; the VMA then gets `VM_ACCOUNT`; a private
 * anonymous VMA made read-only before any page of it was written, with no anon_vma, loses it
 * and gives the charge back), and `EINVAL` where the range would cut a hugetlb VMA inside a huge page (`hugetlb_vm_op_split()`, when `vma_modify_flags()` splits it):
 * a start inside a huge page leaves that VMA whole, while an end inside one comes after the split
 * at an allowed start, which stays ({@link vmaModify}). A split is also refused, with `ENOMEM`
 * at the same point, once the address space holds `sysctl_max_map_count` VMAs (`split_vma()`).
 *
 * `PROT_GROWSDOWN` moves the range's start down to that of the first VMA it meets, which must be
 * `VM_GROWSDOWN` (`EINVAL` otherwise; `ENOMEM` when the range meets none); `PROT_GROWSUP` is
 * `EINVAL` where the range starts in a VMA (x86-64 has no `VM_GROWSUP`); both at once are
 * `EINVAL` before anything else is checked.
 */
export const doMprotect = (
  k: Kernel,
  task: Task,
  start: number,
  length: number,
  prot: number,
): 0 | ErrnoError => {
  // The order of do_mprotect_pkey()'s checks: both grows flags, the start, a zero length (done),
  // the end (a length that wraps past the top of the address space), then the prot bits.
  const grows = Number.isInteger(prot) ? prot & (PROT_GROWSDOWN | PROT_GROWSUP) : 0;
  if (grows === (PROT_GROWSDOWN | PROT_GROWSUP)) {
    return errno("EINVAL", "mprotect: PROT_GROWSDOWN and PROT_GROWSUP together");
  }
  // A negative length stands for a size_t past the top: start + PAGE_ALIGN(len) wraps below start.
  const wraps = Number.isSafeInteger(length) && length < 0;
  const range = pageRange(k, "mprotect", start, wraps ? 0 : length, true);
  if (range instanceof Error) return range;
  if (wraps) {
    return errno("ENOMEM", `mprotect: length ${length} wraps past the top of the address space`);
  }
  const { end } = range;
  if (end === start) return 0;
  // prot is an unsigned long: a negative number or one past 32 bits has bits that `&` would drop.
  const known = PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM;
  if (!Number.isInteger(prot) || prot < 0 || prot > 0xffffffff || prot & ~grows & ~known) {
    return errno(
      "EINVAL",
      `mprotect: unknown prot bits ${typeof prot === "number" ? hex(prot) : prot}`,
    );
  }
  const mm = task.mm!;
  let first = start;
  if (grows) {
    const vma = mm.findVmaIntersection(start, end);
    if (!vma) return errno("ENOMEM", `mprotect: ${hex(start)}-${hex(end)} is not mapped`);
    if (grows === PROT_GROWSDOWN) {
      first = vma.start;
      if (!(vma.flags & VM_GROWSDOWN)) {
        return errno("EINVAL", `mprotect: PROT_GROWSDOWN of a VMA that does not grow down`);
      }
    } else if (vma.start <= start) {
      return errno("EINVAL", "mprotect: PROT_GROWSUP of a VMA that does not grow up");
    }
  }
  const newFlags = calcVmProtBits(prot);
  const result = walkVmaRange(mm, first, end, "stop", (vma, from, to) => {
    const oldflags = vma.flags;
    let flags = (oldflags & ~(VM_READ | VM_WRITE | VM_EXEC)) | newFlags;
    // mprotect_fixup(): a VMA that keeps its flags is left as it is.
    if (flags === oldflags) return 0;
    const nrpages = (to - from) / k.mem.pageSize;
    let charged = 0;
    if (flags & VM_WRITE) {
      // Private memory that becomes writable for the first time is charged now, unless it is
      // VM_NORESERVE (hugetlb has its reservations).
      if (!(oldflags & (VM_ACCOUNT | VM_WRITE | VM_HUGETLB | VM_SHARED | VM_NORESERVE))) {
        charged = nrpages;
        const refused = securityVmEnoughMemoryMm(k, task, mm, charged);
        if (refused) return refused;
        flags |= VM_ACCOUNT;
      }
    } else if (oldflags & VM_ACCOUNT && vma.isAnonymous && !vma.anonVma) {
      // Private anonymous memory never written (no anon_vma yet) gives its charge back.
      flags &= ~VM_ACCOUNT;
    }
    const piece = vmaModify(
      k,
      vma,
      from,
      to,
      flags,
      vma.policy,
      flags & VM_WRITE ? undefined : writeProtectVma,
    );
    if (piece instanceof Error) {
      vmUnacctMemory(k, charged);
      return errno(piece.errno, `mprotect: ${piece.message}`);
    }
    if (oldflags & VM_ACCOUNT && !(flags & VM_ACCOUNT)) vmUnacctMemory(k, nrpages);
    return 0;
  });
  // tlb_finish_mmu(): what changed before an error is flushed too.
  mm.tlb.flushAll();
  return result;
};

/**
 * `change_prot_numa()` (`mm/mprotect.c`, `change_pte_range()` with `MM_CP_PROT_NUMA`): turns the
 * present PTEs of `vma` in `[start, end)` into NUMA hinting entries (`PTE_PROTNONE`), flushing
 * each translation, so the next access faults (`do_numa_page()`). Skipped, as the kernel skips
 * them: the zero page and other special entries, entries already `PROT_NONE`, hugetlb and
 * PMD-mapped memory (whose `change_huge_pmd()` path the model does not take), and, in memory
 * tiering mode without `NUMA_BALANCING_NORMAL`, pages on top-tier nodes, which have nowhere to be
 * promoted to. For a slow-tier page in tiering mode it records the scan time
 * (`folio_xchg_access_time()`) through `recordScan`. Returns the PTEs updated
 * (`numa_pte_updates`).
 *
 * @category NUMA balancing
 */
export const changeProtNuma = (
  k: Kernel,
  vma: Vma,
  start: number,
  end: number,
  skipToptier: boolean,
  recordScan: (head: number) => void,
): number => {
  if (vma.flags & VM_HUGETLB) return 0;
  const pageSize = k.mem.pageSize;
  const pmdSize = hpagePmdSize(k);
  let updated = 0;
  for (let addr = Math.max(start, vma.start); addr < Math.min(end, vma.end); addr += pageSize) {
    if (vma.pmds.has(addr - (addr % pmdSize))) continue;
    const slot = (addr - vma.start) / pageSize;
    const pte = vma.ptes[slot]!;
    if (!ptePresent(pte) || pteSpecial(pte) || pteProtnone(pte)) continue;
    const head = k.memmap.folioOf(ptePfn(pte));
    if (skipToptier && k.memoryTiers.nodeIsToptier(k.mem.pfnToNid(head))) continue;
    recordScan(head);
    vma.ptes[slot] = pte | PTE_PROTNONE;
    vma.mm.tlb.flushPage(addr / pageSize);
    updated++;
  }
  return updated;
};
