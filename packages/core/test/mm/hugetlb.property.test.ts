// Hugetlb mappings over fork (mm/hugetlb.c, Linux 6.16): whatever the order of mmap, writes,
// fork, madvise(MADV_DONTNEED), munmap and exit, a private mapping's huge pages are each
// process's own after a write (hugetlb_wp() copies them whole) and zeroed after a DONTNEED, a
// shared mapping's are the same pages in every process, kept by a DONTNEED, the page tables and
// pool stay consistent (__unmap_hugepage_range()'s restored reservations included), and when
// every process is gone the pool holds what it held before, nothing reserved, and no page is lost
// to the buddy allocator.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Task } from "../../src/include/kernel";
import {
  type Kernel,
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
} from "../../src/index";
import { boot, expectConsistent, expectErrno, run } from "../../src/testing/index";

const HUGE = 2 * 2 ** 20;
const GLOBAL = "/sys/kernel/mm/hugepages/hugepages-2048kB";

type Step =
  | { op: "mmap"; proc: number; shared: boolean; pages: number }
  | { op: "write"; proc: number; region: number; page: number; value: number }
  | { op: "fork"; proc: number }
  | { op: "munmap"; proc: number; region: number }
  | { op: "dontneed"; proc: number; region: number; page: number }
  | { op: "exit"; proc: number };

/** nr, free, resv and surplus huge pages as sysfs prints them (`%lu`: resv may show wrapped). */
const pool = (k: Kernel): string[] =>
  ["nr_hugepages", "free_hugepages", "resv_hugepages", "surplus_hugepages"].map((f) =>
    run(k.fs.read(`${GLOBAL}/${f}`)).trim(),
  );

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    op: fc.constant("mmap" as const),
    proc: fc.nat(3),
    shared: fc.boolean(),
    pages: fc.integer({ min: 1, max: 2 }),
  }),
  fc.record({
    op: fc.constant("write" as const),
    proc: fc.nat(3),
    region: fc.nat(3),
    page: fc.nat(1),
    value: fc.integer({ min: 1, max: 255 }),
  }),
  fc.record({ op: fc.constant("fork" as const), proc: fc.nat(3) }),
  fc.record({ op: fc.constant("munmap" as const), proc: fc.nat(3), region: fc.nat(3) }),
  fc.record({
    op: fc.constant("dontneed" as const),
    proc: fc.nat(3),
    region: fc.nat(3),
    page: fc.nat(1),
  }),
  fc.record({ op: fc.constant("exit" as const), proc: fc.nat(3) }),
);

/** One mapping of a process, and the first byte of each of its huge pages as it should read. */
interface Region {
  addr: number;
  pages: number;
  /** For a shared mapping, the bytes every process sees; a private one has its own copy. */
  bytes: number[];
  shared: boolean;
}

interface Proc {
  task: Task;
  regions: Region[];
}

describe("hugetlb mappings across fork (property)", () => {
  it("private pages copy on write, shared pages are shared, and the pool gets every page back", () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 14 }), (steps) => {
        const k = boot();
        run(k.fs.write("/proc/sys/vm/nr_hugepages", "4"));
        run(k.fs.write("/proc/sys/vm/nr_overcommit_hugepages", "40"));
        const free = k.pageAlloc.totalFreePages();
        const procs: Proc[] = [{ task: run(k.createProcess()), regions: [] }];
        for (const step of steps) {
          const proc = procs[step.proc % procs.length]!;
          const region = proc.regions.length
            ? proc.regions[("region" in step ? step.region : 0) % proc.regions.length]!
            : undefined;
          if (step.op === "mmap") {
            const flags = (step.shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | MAP_HUGETLB;
            // While a private owner's refault has taken resv_huge_pages below 0,
            // gather_surplus_pages() counts what it needs from the wrapped counter and
            // hugetlb_acct_memory()'s allowed_mems_nr() check then refuses more pages than are
            // free (mm/hugetlb.c, Linux 6.16): ENOMEM, the reservations given back
            // (return_unused_surplus_pages()). Otherwise it succeeds.
            const resv = pool(k)[2];
            if (k.hstate.resvHugePages < 0 && step.pages > k.hstate.freeHugePages) {
              expectErrno(proc.task.mmap(step.pages * HUGE, { flags }), "ENOMEM");
              expect(pool(k)[2]).toBe(resv);
            } else {
              const addr = run(proc.task.mmap(step.pages * HUGE, { flags }));
              const bytes = new Array<number>(step.pages).fill(0);
              proc.regions.push({ addr, pages: step.pages, bytes, shared: step.shared });
            }
          } else if (step.op === "write" && region) {
            const page = step.page % region.pages;
            run(proc.task.write(region.addr + page * HUGE, new Uint8Array([step.value])));
            region.bytes[page] = step.value;
          } else if (step.op === "fork" && procs.length < 4) {
            const child = run(proc.task.fork());
            // A shared region is the same object in both; a private one a copy of the bytes.
            const regions = proc.regions.map((r) => (r.shared ? r : { ...r, bytes: [...r.bytes] }));
            procs.push({ task: child, regions });
          } else if (step.op === "munmap" && region) {
            run(proc.task.munmap(region.addr, region.pages * HUGE));
            proc.regions.splice(proc.regions.indexOf(region), 1);
          } else if (step.op === "dontneed" && region) {
            // A private page is gone (the next read maps a zeroed one); a shared one stays cached.
            const page = step.page % region.pages;
            run(proc.task.madvise(region.addr + page * HUGE, HUGE, MADV_DONTNEED));
            if (!region.shared) region.bytes[page] = 0;
          } else if (step.op === "exit" && procs.length > 1 && proc !== procs[0]) {
            run(proc.task.exit());
            procs.splice(procs.indexOf(proc), 1);
          }
          for (const p of procs) {
            for (const r of p.regions) {
              for (let i = 0; i < r.pages; i++)
                expect(run(p.task.read(r.addr + i * HUGE, 1))[0]).toBe(r.bytes[i]);
            }
          }
          expectConsistent(k);
        }
        for (const p of procs.reverse()) run(p.task.exit());
        expect(pool(k)).toEqual(["4", "4", "0", "0"]);
        expect(k.pageAlloc.totalFreePages()).toBe(free);
        expect(k.addressSpaces.size).toBe(0);
      }),
      {
        numRuns: 60,
        // Copy-on-write after fork, by the child, and a shared page written across fork.
        examples: [
          [
            [
              { op: "mmap", proc: 0, shared: false, pages: 1 },
              { op: "write", proc: 0, region: 0, page: 0, value: 7 },
              { op: "mmap", proc: 0, shared: true, pages: 2 },
              { op: "fork", proc: 0 },
              { op: "write", proc: 1, region: 0, page: 0, value: 9 },
              { op: "write", proc: 1, region: 1, page: 1, value: 5 },
              { op: "exit", proc: 1 },
            ],
          ],
          // The owner's DONTNEED and munmap() of a page its child maps (HPG_restore_reserve).
          [
            [
              { op: "mmap", proc: 0, shared: false, pages: 2 },
              { op: "write", proc: 0, region: 0, page: 1, value: 3 },
              { op: "fork", proc: 0 },
              { op: "dontneed", proc: 0, region: 0, page: 1 },
              { op: "write", proc: 0, region: 0, page: 1, value: 4 },
              { op: "munmap", proc: 0, region: 0 },
              { op: "dontneed", proc: 1, region: 0, page: 1 },
            ],
          ],
        ],
      },
    );
  }, 120_000);
});
