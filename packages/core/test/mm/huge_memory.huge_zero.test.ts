import { describe, expect, it } from "vitest";
import type { Kernel, Task } from "../../src/include/kernel";
import {
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MPOL_MF_MOVE,
  PROT_READ,
  ptePfn,
  ptePresent,
  pteSpecial,
  pteWrite,
} from "../../src/index";
import {
  isHugeZeroPmd,
  shrinkHugeZeroFolioCount,
  shrinkHugeZeroFolioScan,
} from "../../src/mm/huge_memory";
import {
  boot,
  expectBytes,
  expectConsistent,
  expectErrno,
  folioAt,
  pteAt,
  run,
  runP,
} from "../../src/testing/index";

const MiB = 2 ** 20;
const PAGE = 4096;
const THP = "/sys/kernel/mm/transparent_hugepage";
const EFAULT = 14;

const vmaAt = (task: Task, addr: number) => task.mm!.findVma(addr)!;

/** A private anonymous mapping of `bytes` (PMD-aligned when it holds a PMD). */
const mapAnon = (task: Task, bytes: number, hugepage?: boolean): number =>
  run(task.mmap(bytes, { flags: MAP_PRIVATE | MAP_ANONYMOUS, hugepage }));

/** Takes memory on every node so that no free block of more than `order` is left. */
const fragmentAll = (k: Kernel, order: number) =>
  k.mem.nodes.map((_, nid) => run(k.fragment(nid, order)));

describe("the huge zero folio", () => {
  // do_huge_pmd_anonymous_page() (mm/huge_memory.c, Linux 6.16): a read fault where a PMD THP is
  // allowed maps the huge zero folio with a huge PMD (set_huge_zero_folio()), allocated once
  // (get_huge_zero_folio(): thp_zero_page_alloc), shared by every address space, and counted
  // neither as a THP fault nor in any mapcount.
  it("maps a read fault in a THP-eligible VMA with one huge PMD of the huge zero folio, shared by every mm", () => {
    const k = boot({ thp: { enabled: "always" } });
    expect(run(k.fs.read(`${THP}/use_zero_page`))).toBe("1\n");
    const p = run(k.createProcess());
    const addr = mapAnon(p, 2 * MiB);
    expectBytes(run(p.read(addr + 300 * PAGE, 2 * PAGE)), new Uint8Array(2 * PAGE));
    const pmd = vmaAt(p, addr).pmds.get(addr)!;
    expect(isHugeZeroPmd(k, pmd)).toBe(true);
    expect(pteWrite(pmd)).toBe(false);
    const zero = k.folio(ptePfn(pmd));
    expect(zero.pfn).toBe(k.hugeZero.pfn);
    expect(zero.order).toBe(9);
    expect(zero.entireMapcount).toBe(0);
    expect(zero.mapcount).toBe(0);
    expect(vmaAt(p, addr).ptes.every((pte) => pte === 0)).toBe(true);
    // The page at the address's offset in the folio, as folio_walk_start() sees it.
    expect(ptePfn(pteAt(p, addr + 300 * PAGE))).toBe(zero.pfn + 300);
    expect(k.vmstat.get("thp_zero_page_alloc")).toBe(1);
    expect(k.vmstat.get("thp_fault_alloc")).toBe(0);
    // huge_zero_refcount: this mm's reference (MMF_HUGE_ZERO_PAGE) and the shrinker's.
    expect(p.mm!.hugeZeroPage).toBe(true);
    expect(k.hugeZero.refcount).toBe(2);
    // A second mm takes a reference to the same folio; nothing is allocated again.
    const q = run(k.createProcess());
    const other = mapAnon(q, 4 * MiB);
    run(q.read(other + 3 * MiB, 1));
    expect(ptePfn(vmaAt(q, other).pmds.get(other + 2 * MiB)!)).toBe(zero.pfn);
    expect(k.vmstat.get("thp_zero_page_alloc")).toBe(1);
    expect(k.hugeZero.refcount).toBe(3);
    // More reads in the same mm take nothing more.
    run(q.read(other, 1));
    expect(k.hugeZero.refcount).toBe(3);
    expectConsistent(k);
  });

  it("maps the 4 KiB zero page where no PMD THP is allowed or fits", () => {
    const k = boot({ thp: { enabled: "madvise" } });
    const p = run(k.createProcess());
    // thp_vma_allowable_order(): "madvise" without MADV_HUGEPAGE allows no PMD THP.
    const plain = mapAnon(p, 2 * MiB);
    run(p.read(plain, 1));
    expect(vmaAt(p, plain).pmds.size).toBe(0);
    expect(ptePfn(pteAt(p, plain))).toBe(k.zeroPfn);
    // thp_vma_suitable_order(): a VMA smaller than a PMD.
    const small = mapAnon(p, MiB, true);
    run(p.read(small, 1));
    expect(vmaAt(p, small).pmds.size).toBe(0);
    expect(ptePfn(pteAt(p, small))).toBe(k.zeroPfn);
    // With MADV_HUGEPAGE the PMD-size range gets the huge zero folio.
    const advised = mapAnon(p, 2 * MiB, true);
    run(p.read(advised, 1));
    expect(isHugeZeroPmd(k, vmaAt(p, advised).pmds.get(advised)!)).toBe(true);
    expect(k.vmstat.get("thp_zero_page_alloc")).toBe(1);
    expectConsistent(k);
  });

  // single_hugepage_flag_store() (mm/huge_memory.c): kstrtoul() base 10, whose error it returns,
  // and EINVAL above 1; the show is "%d\n".
  it("parses use_zero_page as the kernel's store does", () => {
    const k = boot();
    const file = `${THP}/use_zero_page`;
    for (const bad of ["2", "-1", "yes", " 1", "0x1", "1 "])
      expectErrno(k.fs.write(file, bad), "EINVAL");
    expectErrno(k.fs.write(file, "18446744073709551616"), "ERANGE");
    expect(run(k.fs.read(file))).toBe("1\n");
    run(k.fs.write(file, "0\n"));
    expect(run(k.fs.read(file))).toBe("0\n");
    expect(k.thp.useZeroPage).toBe(false);
    run(k.fs.write(file, "+01"));
    expect(run(k.fs.read(file))).toBe("1\n");
  });

  // do_huge_pmd_anonymous_page() with use_zero_page 0: a read fault allocates and maps a PMD THP
  // as a write does (thp_fault_alloc); it falls back to the 4 KiB zero page, not to an mTHP.
  it("allocates a PMD THP for a read fault when use_zero_page is 0", () => {
    const k = boot({ thp: { enabled: "always", sizes: { "64kB": "always" } } });
    run(k.fs.write(`${THP}/use_zero_page`, "0"));
    const p = run(k.createProcess());
    const addr = mapAnon(p, 2 * MiB);
    expectBytes(run(p.read(addr, PAGE)), new Uint8Array(PAGE));
    const folio = folioAt(p, addr);
    expect(folio.order).toBe(9);
    expect(folio.anon).toBe(true);
    expect(folio.entireMapcount).toBe(1);
    expect(pteWrite(vmaAt(p, addr).pmds.get(addr)!)).toBe(true);
    expect(k.vmstat.get("thp_fault_alloc")).toBe(1);
    expect(k.vmstat.get("thp_zero_page_alloc")).toBe(0);
    expect(k.hugeZero.pfn).toBe(-1);
    // No PMD block left: the read falls back (thp_fault_fallback) to the zero page.
    const held = fragmentAll(k, 8);
    const other = mapAnon(p, 2 * MiB);
    run(p.read(other + 70 * PAGE, 1));
    expect(k.vmstat.get("thp_fault_fallback")).toBe(1);
    expect(ptePfn(pteAt(p, other + 70 * PAGE))).toBe(k.zeroPfn);
    for (const f of held) f.release();
    expectConsistent(k);
  });

  // get_huge_zero_folio(): thp_zero_page_alloc_failed when no PMD block can be had;
  // do_huge_pmd_anonymous_page() then counts thp_fault_fallback and the fault maps the zero page.
  it("counts thp_zero_page_alloc_failed and maps the 4 KiB zero page when the folio cannot be allocated", () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const held = fragmentAll(k, 8);
    const addr = mapAnon(p, 2 * MiB);
    run(p.read(addr, 1));
    expect(k.vmstat.get("thp_zero_page_alloc_failed")).toBe(1);
    expect(k.vmstat.get("thp_zero_page_alloc")).toBe(0);
    expect(k.vmstat.get("thp_fault_fallback")).toBe(1);
    expect(vmaAt(p, addr).pmds.size).toBe(0);
    expect(ptePfn(pteAt(p, addr))).toBe(k.zeroPfn);
    expect(p.mm!.hugeZeroPage).toBe(false);
    for (const f of held) f.release();
    expectConsistent(k);
  });

  // do_huge_zero_wp_pmd() (mm/huge_memory.c, Linux 6.13+): a write to the huge zero PMD gets a
  // PMD THP of its own, mapped writable in the PMD's place (thp_fault_alloc); nothing is split.
  it("replaces the huge zero PMD by a new PMD THP on a write", () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapAnon(p, 2 * MiB);
    run(p.read(addr, 1));
    const zero = k.hugeZero.pfn;
    run(p.write(addr + 5 * PAGE + 1, new Uint8Array([7])));
    const pmd = vmaAt(p, addr).pmds.get(addr)!;
    expect(isHugeZeroPmd(k, pmd)).toBe(false);
    expect(pteWrite(pmd)).toBe(true);
    const folio = folioAt(p, addr);
    expect(folio.order).toBe(9);
    expect(folio.anon).toBe(true);
    expect(folio.entireMapcount).toBe(1);
    expect(k.vmstat.get("thp_fault_alloc")).toBe(1);
    expect(k.vmstat.get("thp_split_pmd")).toBe(0);
    const expected = new Uint8Array(2 * MiB);
    expected[5 * PAGE + 1] = 7;
    expectBytes(run(p.read(addr, 2 * MiB)), expected);
    // The huge zero folio is untouched, and the mm keeps its reference until it goes.
    expect(k.mem.bytes(zero + 5)[1]).toBe(0);
    expect(k.hugeZero.refcount).toBe(2);
    expectConsistent(k);
  });

  // do_huge_pmd_wp_page(): when do_huge_zero_wp_pmd() gets no THP (thp_fault_fallback), the PMD
  // is split (__split_huge_zero_page_pmd(): 512 read-only PTEs of the zero page, thp_split_pmd)
  // and do_wp_page() copies the one page.
  it("splits the huge zero PMD into zero-page PTEs and copies one page when no THP can be had", () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapAnon(p, 2 * MiB);
    run(p.read(addr, 1));
    const held = fragmentAll(k, 8);
    run(p.write(addr + 9 * PAGE, new Uint8Array([3])));
    expect(k.vmstat.get("thp_fault_fallback")).toBe(1);
    expect(k.vmstat.get("thp_split_pmd")).toBe(1);
    const vma = vmaAt(p, addr);
    expect(vma.pmds.size).toBe(0);
    let zeroPtes = 0;
    for (let i = 0; i < 512; i++) {
      const pte = vma.ptes[i]!;
      if (ptePresent(pte) && pteSpecial(pte) && ptePfn(pte) === k.zeroPfn && !pteWrite(pte))
        zeroPtes++;
    }
    expect(zeroPtes).toBe(511);
    const page = folioAt(p, addr + 9 * PAGE);
    expect(page.order).toBe(0);
    expect(page.anon).toBe(true);
    expect(pteWrite(pteAt(p, addr + 9 * PAGE))).toBe(true);
    const expected = new Uint8Array(2 * MiB);
    expected[9 * PAGE] = 3;
    expectBytes(run(p.read(addr, 2 * MiB)), expected);
    for (const f of held) f.release();
    expectConsistent(k);
  });

  // add_folio_for_migration() / do_pages_stat_array() (mm/migrate.c, Linux 6.16): the huge zero
  // folio is is_huge_zero_folio(), -EFAULT in the status; nothing migrates it.
  it("is -EFAULT to move_pages and never moves", async () => {
    const k = boot({ thp: { enabled: "always" } });
    const p = run(k.createProcess());
    const addr = mapAnon(p, 2 * MiB);
    run(p.read(addr, 1));
    const zero = k.hugeZero.pfn;
    const stat = await runP(p.movePages(0, [addr, addr + 100 * PAGE], null));
    expect([...stat.status]).toEqual([-EFAULT, -EFAULT]);
    const moved = await runP(p.movePages(0, [addr + 7 * PAGE], [1], MPOL_MF_MOVE));
    expect([...moved.status]).toEqual([-EFAULT]);
    expect(k.vmstat.get("pgmigrate_success")).toBe(0);
    expect(k.hugeZero.pfn).toBe(zero);
    expect(ptePfn(vmaAt(p, addr).pmds.get(addr)!)).toBe(zero);
    expectConsistent(k);
  });

  // copy_huge_pmd(): a fork copies the huge zero PMD and takes the child's reference
  // (mm_get_huge_zero_folio()); __mmput() puts each (mm_put_huge_zero_folio()), and the shrinker
  // frees the folio once only its own reference is left (shrink_huge_zero_folio_count/_scan()).
  it("is shared at fork, put at exit, and freed by its shrinker once unused", () => {
    const k = boot({ thp: { enabled: "always" } });
    const free = k.pageAlloc.totalFreePages();
    const p = run(k.createProcess());
    const addr = mapAnon(p, 2 * MiB);
    run(p.read(addr, 1));
    const c = run(p.fork());
    expect(isHugeZeroPmd(k, vmaAt(c, addr).pmds.get(addr)!)).toBe(true);
    expect(c.mm!.hugeZeroPage).toBe(true);
    expect(k.hugeZero.refcount).toBe(3);
    // The child's write gets its own THP; the parent still maps the huge zero folio.
    run(c.write(addr, new Uint8Array([1])));
    expect(isHugeZeroPmd(k, vmaAt(p, addr).pmds.get(addr)!)).toBe(true);
    expect(run(p.read(addr, 1))[0]).toBe(0);
    expectConsistent(k);
    expect(shrinkHugeZeroFolioCount(k)).toBe(0);
    expect(shrinkHugeZeroFolioScan(k)).toBe(0);
    run(c.exit());
    expect(k.hugeZero.refcount).toBe(2);
    run(p.exit());
    expect(k.hugeZero.refcount).toBe(1);
    expectConsistent(k);
    expect(shrinkHugeZeroFolioCount(k)).toBe(512);
    expect(shrinkHugeZeroFolioScan(k)).toBe(512);
    expect(k.hugeZero.pfn).toBe(-1);
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    // The next user allocates it again.
    const q = run(k.createProcess());
    run(q.read(mapAnon(q, 2 * MiB), 1));
    expect(k.vmstat.get("thp_zero_page_alloc")).toBe(2);
    expectConsistent(k);
  });

  // __split_huge_pmd() from vma_adjust_trans_huge() and zap_pmd_range(): a cut or a partial unmap
  // turns the huge zero PMD into zero-page PTEs; a whole one is just cleared (zap_huge_pmd()).
  it("splits into zero-page PTEs on a partial munmap or mprotect, and zaps whole", () => {
    const k = boot({ thp: { enabled: "always", sizes: {} } });
    const p = run(k.createProcess());
    const addr = mapAnon(p, 6 * MiB);
    for (let at = addr; at < addr + 6 * MiB; at += 2 * MiB) run(p.read(at, 1));
    expect(vmaAt(p, addr).pmds.size).toBe(3);
    run(p.munmap(addr + 10 * PAGE, PAGE));
    expect(k.vmstat.get("thp_split_pmd")).toBe(1);
    expect(ptePfn(pteAt(p, addr + 11 * PAGE))).toBe(k.zeroPfn);
    run(p.mprotect(addr + 2 * MiB, 4 * PAGE, PROT_READ));
    expect(k.vmstat.get("thp_split_pmd")).toBe(2);
    expect(ptePfn(pteAt(p, addr + 2 * MiB + 5 * PAGE))).toBe(k.zeroPfn);
    run(p.munmap(addr + 4 * MiB, 2 * MiB));
    expect(k.vmstat.get("thp_split_pmd")).toBe(2);
    expectBytes(
      run(p.read(addr + 11 * PAGE, 4 * MiB - 11 * PAGE)),
      new Uint8Array(4 * MiB - 11 * PAGE),
    );
    expect(k.hugeZero.refcount).toBe(2);
    expectConsistent(k);
  });

  it("gives a MADV_HUGEPAGE range the huge zero folio too", () => {
    const k = boot({ thp: { enabled: "madvise" } });
    const p = run(k.createProcess());
    const addr = mapAnon(p, 2 * MiB);
    run(p.madvise(addr, 2 * MiB, MADV_HUGEPAGE));
    run(p.read(addr, 1));
    expect(isHugeZeroPmd(k, vmaAt(p, addr).pmds.get(addr)!)).toBe(true);
    expectConsistent(k);
  });
});
