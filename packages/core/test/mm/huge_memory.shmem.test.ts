import { describe, expect, it } from "vitest";
import type { Kernel, Task } from "../../src/include/kernel";
import type { TraceEvent } from "../../src/include/trace";
import {
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
  pteDirty,
  ptePfn,
  ptePresent,
  pteWrite,
} from "../../src/index";
import {
  boot,
  expectBytes,
  expectConsistent,
  folioAt,
  pattern,
  pteAt,
  run,
  runP,
} from "../../src/testing/index";

const MiB = 2 ** 20;
const PAGE = 4096;
const THP = "/sys/kernel/mm/transparent_hugepage";

const vmaAt = (task: Task, addr: number) => task.mm!.findVma(addr)!;

/** A kernel whose shmem gets PMD-size folios (`shmem_enabled` "always"). */
const shmemKernel = (): Kernel => {
  const k = boot();
  run(k.fs.write(`${THP}/shmem_enabled`, "always"));
  return k;
};

/** A shared anonymous (shmem) mapping of `bytes`, filled with `pattern(bytes, seed)`. */
const mapShmem = (task: Task, bytes: number, seed: number, prot?: number): number => {
  const addr = run(task.mmap(bytes, { flags: MAP_SHARED | MAP_ANONYMOUS }));
  run(task.write(addr, pattern(bytes, seed)));
  if (prot !== undefined) run(task.mprotect(addr, bytes, prot));
  return addr;
};

/** Counts the trace events by name while `body` runs. */
const countEvents = async (k: Kernel, body: () => Promise<unknown>) => {
  const counts: Record<string, number> = {};
  const off = k.trace.subscribe((e: TraceEvent) => {
    counts[e.event] = (counts[e.event] ?? 0) + 1;
  });
  try {
    await body();
  } finally {
    off();
  }
  return (name: string) => counts[name] ?? 0;
};

describe("PMD-mapped shmem THPs", () => {
  // finish_fault() / filemap_map_pages() -> do_set_pmd() (mm/memory.c, Linux 6.16): a PMD-size
  // shmem folio in a suitably aligned VMA is mapped by one huge PMD, writable in a shared writable
  // mapping and dirty after a write; folio_add_file_rmap_pmd() takes the entire mapcount and a
  // reference; thp_file_mapped counts it.
  it("maps a PMD-size shmem folio with one huge PMD (do_set_pmd)", () => {
    const k = shmemKernel();
    const p = run(k.createProcess());
    const addr = run(p.mmap(4 * MiB, { flags: MAP_SHARED | MAP_ANONYMOUS }));
    run(p.write(addr + 5000, new Uint8Array([9])));
    const vma = vmaAt(p, addr);
    expect([...vma.pmds.keys()]).toEqual([addr]);
    expect(vma.ptes.every((pte) => pte === 0)).toBe(true);
    const pmd = vma.pmds.get(addr)!;
    expect(pteWrite(pmd) && pteDirty(pmd)).toBe(true);
    const folio = folioAt(p, addr + 5000);
    expect(folio.pfn).toBe(ptePfn(pmd));
    expect(folio.order).toBe(9);
    expect(folio.anon).toBe(false);
    expect(folio.entireMapcount).toBe(1);
    expect(folio.mapcount).toBe(1);
    // One reference for the PMD and one per page-cache entry (512).
    expect(folio.refcount).toBe(513);
    expect(k.vmstat.get("thp_file_alloc")).toBe(1);
    expect(k.vmstat.get("thp_file_mapped")).toBe(1);
    // Every page of the range is mapped now: no further fault for them.
    const faults = k.vmstat.get("pgfault");
    run(p.write(addr + 511 * PAGE, new Uint8Array([8])));
    expect(k.vmstat.get("pgfault")).toBe(faults);
    expect(k.mem.bytes(folio.pfn + 511)[0]).toBe(8);
    // The second PMD range is a second folio and a second PMD.
    run(p.read(addr + 3 * MiB, 1));
    expect(vma.pmds.size).toBe(2);
    expect(pteWrite(vma.pmds.get(addr + 2 * MiB)!)).toBe(true);
    expect(k.vmstat.get("thp_file_mapped")).toBe(2);
    expectConsistent(k);
  });

  // do_set_pmd() maps with vma->vm_page_prot: read-only in a read-only mapping.
  it("maps read-only where the mapping is read-only", () => {
    const k = shmemKernel();
    const p = run(k.createProcess());
    const addr = run(p.mmap(2 * MiB, { flags: MAP_SHARED | MAP_ANONYMOUS, prot: PROT_READ }));
    expectBytes(run(p.read(addr, PAGE)), new Uint8Array(PAGE));
    const pmd = vmaAt(p, addr).pmds.get(addr)!;
    expect(pteWrite(pmd)).toBe(false);
    expect(pteDirty(pmd)).toBe(false);
    expect(k.vmstat.get("thp_file_mapped")).toBe(1);
    expectConsistent(k);
  });

  // copy_huge_pmd() skips a VMA that is not anonymous ("can be re-fill on fault"): the child
  // gets no PMD and faults the folio in with its own (another entire mapcount).
  // vma_thp_disabled(): with MADV_NOHUGEPAGE do_set_pmd() refuses and the page is PTE-mapped.
  it("is not copied at fork: the child refaults it, by PMD, or by PTE under MADV_NOHUGEPAGE", () => {
    const k = shmemKernel();
    const p = run(k.createProcess());
    const addr = mapShmem(p, 2 * MiB, 1);
    const head = folioAt(p, addr).pfn;
    const c = run(p.fork());
    expect(vmaAt(c, addr).pmds.size).toBe(0);
    expect(k.folio(head).entireMapcount).toBe(1);
    expectConsistent(k);
    expectBytes(
      run(c.read(addr + 7 * PAGE, PAGE)),
      pattern(2 * MiB, 1).subarray(7 * PAGE, 8 * PAGE),
    );
    expect(ptePfn(vmaAt(c, addr).pmds.get(addr)!)).toBe(head);
    expect(k.folio(head).entireMapcount).toBe(2);
    expect(k.vmstat.get("thp_file_mapped")).toBe(2);
    const d = run(p.fork());
    run(d.madvise(addr, 2 * MiB, MADV_NOHUGEPAGE));
    run(d.read(addr + 7 * PAGE, 1));
    expect(vmaAt(d, addr).pmds.size).toBe(0);
    expect(ptePfn(pteAt(d, addr + 7 * PAGE))).toBe(head + 7);
    expect(k.memmap.mapcount[head + 7]).toBe(1);
    expect(k.folio(head).mapcount).toBe(3);
    expect(k.vmstat.get("thp_file_mapped")).toBe(2);
    run(c.exit());
    run(d.exit());
    expect(k.folio(head).entireMapcount).toBe(1);
    expectConsistent(k);
  });

  // __split_huge_pmd_locked() (mm/huge_memory.c, Linux 6.16) for a VMA that is not anonymous:
  // the PMD is zapped (counted as thp_split_pmd); the folio stays whole in the page cache and
  // faults map its pages again by PTE where no PMD fits.
  it("zaps the PMD on a partial munmap; the folio stays whole in the page cache", () => {
    const k = shmemKernel();
    const p = run(k.createProcess());
    const addr = mapShmem(p, 2 * MiB, 2);
    const head = folioAt(p, addr).pfn;
    run(p.munmap(addr + 100 * PAGE, PAGE));
    expect(k.vmstat.get("thp_split_pmd")).toBe(1);
    expect(vmaAt(p, addr).pmds.size).toBe(0);
    const folio = k.folio(head);
    expect(folio.order).toBe(9);
    expect(folio.entireMapcount).toBe(0);
    expect(folio.mapcount).toBe(0);
    expect(folio.refcount).toBe(512);
    expect(vmaAt(p, addr).ptes.every((pte) => pte === 0)).toBe(true);
    expectConsistent(k);
    const expected = pattern(2 * MiB, 2);
    expectBytes(run(p.read(addr, 100 * PAGE)), expected.subarray(0, 100 * PAGE));
    expectBytes(run(p.read(addr + 101 * PAGE, 411 * PAGE)), expected.subarray(101 * PAGE));
    expect(ptePresent(pteAt(p, addr + 3 * PAGE))).toBe(true);
    expect(ptePfn(pteAt(p, addr + 3 * PAGE))).toBe(head + 3);
    expect(k.folio(head).mapcount).toBe(511);
    expect(k.vmstat.get("thp_file_mapped")).toBe(1);
    expectConsistent(k);
  });

  // change_huge_pmd() write-protects a whole PMD in place; a cut through it zaps it. A write to
  // the write-protected PMD of a shared mapping: wp_huge_pmd() splits (zaps) it, and
  // do_shared_fault() -> finish_fault() -> do_set_pmd() maps it again, writable and dirty.
  it("write-protects a whole PMD in place, zaps it on a partial mprotect, and refaults it on a write", () => {
    const k = shmemKernel();
    const p = run(k.createProcess());
    const addr = mapShmem(p, 4 * MiB, 3);
    run(p.mprotect(addr, 2 * MiB, PROT_READ));
    expect(k.vmstat.get("thp_split_pmd")).toBe(0);
    expect(pteWrite(vmaAt(p, addr).pmds.get(addr)!)).toBe(false);
    run(p.mprotect(addr, 2 * MiB, PROT_READ | PROT_WRITE));
    run(p.write(addr + 9 * PAGE, new Uint8Array([5])));
    expect(k.vmstat.get("thp_split_pmd")).toBe(1);
    const pmd = vmaAt(p, addr).pmds.get(addr)!;
    expect(pteWrite(pmd) && pteDirty(pmd)).toBe(true);
    expect(k.vmstat.get("thp_file_mapped")).toBe(3);
    run(p.mprotect(addr + 3 * MiB, PAGE, PROT_READ));
    expect(k.vmstat.get("thp_split_pmd")).toBe(2);
    expect(vmaAt(p, addr + 2 * MiB).pmds.size).toBe(0);
    const expected = pattern(4 * MiB, 3);
    expected[9 * PAGE] = 5;
    expectBytes(run(p.read(addr, 4 * MiB)), expected);
    expectConsistent(k);
  });

  // try_to_migrate_one() -> set_pmd_migration_entry() works for file folios too, and
  // remove_migration_pmd() maps the new folio with folio_add_file_rmap_pmd(); the page cache
  // then names the new folio (__folio_migrate_mapping()).
  it("migrates a PMD-mapped shmem THP through one PMD migration entry", async () => {
    const k = shmemKernel();
    const p = run(k.createProcess());
    const addr = mapShmem(p, 2 * MiB, 4);
    const src = folioAt(p, addr).pfn;
    const events = await countEvents(k, () => runP(p.movePages(0, [addr + 7 * PAGE], [1])));
    expect(events("set_migration_pmd")).toBe(1);
    expect(events("remove_migration_pmd")).toBe(1);
    expect(events("set_migration_pte")).toBe(0);
    expect(k.vmstat.get("thp_migration_success")).toBe(1);
    expect(k.vmstat.get("pgmigrate_success")).toBe(512);
    const dst = folioAt(p, addr);
    expect(dst.pfn).not.toBe(src);
    expect(dst.nid).toBe(1);
    expect(dst.order).toBe(9);
    expect(dst.entireMapcount).toBe(1);
    expect(dst.refcount).toBe(513);
    const vma = vmaAt(p, addr);
    expect(vma.mapping!.pages.get(vma.pgoff)).toBe(dst.pfn);
    expectBytes(run(p.read(addr, 2 * MiB)), pattern(2 * MiB, 4));
    expectConsistent(k);
  });
});
