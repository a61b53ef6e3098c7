/**
 * The large folio mapcounts against a recount from the page tables.
 *
 * Linux 6.16 keeps, per large folio, `folio->_large_mapcount` (every PTE and PMD mapping it),
 * `folio->_entire_mapcount` (the PMDs) and, with `CONFIG_MM_ID`, two MM id slots
 * (`folio->_mm_id[2]`, `folio->_mm_id_mapcount[2]`) and the "maybe mapped shared" bit of
 * `folio->_mm_ids`, changed in O(1) by `folio_add_return_large_mapcount()` /
 * `folio_sub_return_large_mapcount()` (`include/linux/rmap.h`) from `__folio_add_rmap()` /
 * `__folio_remove_rmap()` (`mm/rmap.c`). Random map and unmap steps in several address spaces (fork,
 * exit, munmap, mprotect splitting a PMD, MADV_DONTNEED, faults that map a shmem folio again, COW,
 * move_pages) must leave `folio_mapcount()`, `folio_entire_mapcount()`, every page's mapcount and
 * `folio_maybe_mapped_shared()` what the page tables say.
 */
import { Effect } from "effect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CAP_SYS_NICE } from "../../src/include/capability";
import type { Kernel, Task } from "../../src/include/kernel";
import { isMigrationEntry, ptePfn, ptePresent, pteSpecial } from "../../src/include/pgtable";
import {
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  MPOL_MF_MOVE_ALL,
  PG_buddy,
  PG_head,
  PG_hugetlb,
  PROT_READ,
  PROT_WRITE,
} from "../../src/index";
import { folioMaybeMappedShared } from "../../src/mm/rmap";
import { boot, expectConsistent, pattern, run } from "../../src/testing/index";

const PAGE = 4096;
/** Pages of a PMD. */
const NR = 512;
/** Pages of a region: two PMD ranges, the first mapped by a PMD, the second by PTEs. */
const PAGES = 2 * NR;

/** A process of the run and the pages of each of its two regions it still maps. */
interface Proc {
  task: Task;
  mapped: [boolean[], boolean[]];
}

const range = fc.record({
  region: fc.nat(1),
  from: fc.oneof(fc.nat(PAGES - 1), fc.constant(0), fc.constant(NR)),
  pages: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.constant(NR / 2), fc.constant(NR)),
});

const step = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constant("fork" as const), proc: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("exit" as const), proc: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant("munmap" as const), proc: fc.nat(), range }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant("mprotect" as const), proc: fc.nat(), range }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant("dontneed" as const), proc: fc.nat(), range }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("touch" as const),
      proc: fc.nat(),
      range,
      write: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("move" as const),
      proc: fc.nat(),
      region: fc.nat(1),
      page: fc.nat(PAGES - 1),
    }),
  },
);
type Step = typeof step extends fc.Arbitrary<infer T> ? T : never;

/** What the page tables of every live address space say about each mapped large folio. */
interface Recount {
  entries: number;
  pmds: number;
  mms: Set<number>;
}

const recount = (k: Kernel): { folios: Map<number, Recount>; ptes: Map<number, number> } => {
  const m = k.memmap;
  const folios = new Map<number, Recount>();
  const ptes = new Map<number, number>();
  const of = (head: number, mmId: number): Recount => {
    const r = folios.get(head) ?? { entries: 0, pmds: 0, mms: new Set<number>() };
    folios.set(head, r);
    r.entries++;
    r.mms.add(mmId);
    return r;
  };
  for (const task of k.tasks.values()) {
    const mm = task.mm;
    if (!mm) continue;
    for (const vma of mm.vmas) {
      for (const pmd of vma.pmds.values()) {
        if (!ptePresent(pmd) || pteSpecial(pmd) || isMigrationEntry(pmd)) continue;
        of(ptePfn(pmd), mm.id).pmds++;
      }
      for (const pte of vma.ptes) {
        if (pte === 0 || !ptePresent(pte) || pteSpecial(pte) || isMigrationEntry(pte)) continue;
        const page = ptePfn(pte);
        of(m.folioOf(page), mm.id);
        ptes.set(page, (ptes.get(page) ?? 0) + 1);
      }
    }
  }
  return { folios, ptes };
};

/**
 * Checks every folio's counters against the recount; `exactShared` asks that
 * `folio_maybe_mapped_shared()` be exact, as it is while no more than two address spaces ever
 * map a folio at once (no mapping is then added without an MM id slot).
 */
const checkCounters = (k: Kernel, wasMapped: Set<number>, exactShared: boolean): Set<number> => {
  const m = k.memmap;
  const { folios, ptes } = recount(k);
  for (const [head, r] of folios) {
    expect(m.folioMapcount(head), `folio_mapcount() of ${head}`).toBe(r.entries);
    expect(k.folio(head).mapcount).toBe(r.entries);
    expect(m.folioEntireMapcount(head), `folio_entire_mapcount() of ${head}`).toBe(r.pmds);
    expect(m.folioMapped(head)).toBe(true);
    const nr = m.folioNrPages(head);
    for (let i = 0; i < nr; i++)
      expect(m.pageMapcount(head + i), `mapcount of ${head + i}`).toBe(
        (ptes.get(head + i) ?? 0) + r.pmds,
      );
    const shared = folioMaybeMappedShared(k, head);
    // folio_maybe_mapped_shared() has no false negative, and a folio mapped once is not shared.
    if (r.mms.size > 1) expect(shared, `folio ${head} mapped by ${r.mms.size} mms`).toBe(true);
    if (r.entries === 1) expect(shared).toBe(false);
    const large = m.test(head, PG_head) && !m.test(head, PG_hugetlb);
    if (exactShared && large && r.entries > 1)
      expect(shared, `folio ${head} mapped by ${r.mms.size} mms`).toBe(r.mms.size > 1);
  }
  // A folio unmapped since the last step counts no mapping, unless it was freed or split.
  for (const head of wasMapped) {
    if (folios.has(head) || m.test(head, PG_buddy) || m.compoundHead[head] !== 0) continue;
    expect(m.folioMapcount(head), `folio_mapcount() of unmapped ${head}`).toBe(0);
    expect(m.folioMapped(head)).toBe(false);
  }
  return new Set(folios.keys());
};

const runSteps = async (steps: Step[], maxProcs: number): Promise<void> => {
  const k = boot({ nodes: ["32M", "32M"], thp: { enabled: "always" } });
  run(k.fs.write("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "always"));
  const first = run(k.createProcess({ capabilities: [CAP_SYS_NICE] }));
  // An anonymous THP (forks share it copy-on-write) and a shmem THP (faults map it again).
  const anon = run(first.mmap((PAGES + NR) * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
  const shmem = run(first.mmap((PAGES + NR) * PAGE, { flags: MAP_SHARED | MAP_ANONYMOUS }));
  // Each region from the first PMD boundary of its mapping, two PMD ranges, the second mapped
  // by PTEs.
  const pmd = NR * PAGE;
  const base = [anon, shmem].map((a) => a + ((pmd - (a % pmd)) % pmd));
  for (const [i, a] of base.entries()) {
    run(first.write(a!, pattern(PAGES * PAGE, i + 1)));
    run(first.mprotect(a! + pmd, PAGE, PROT_READ));
    run(first.mprotect(a! + pmd, PAGE, PROT_READ | PROT_WRITE));
    // The shmem PMD was zapped, not split: read faults map its pages again, by PTEs.
    run(first.read(a! + pmd, pmd));
  }
  const procs: Proc[] = [
    { task: first, mapped: [new Array(PAGES).fill(true), new Array(PAGES).fill(true)] },
  ];
  let seen = checkCounters(k, new Set(), maxProcs <= 2);
  for (const s of steps) {
    if (procs.length === 0) break;
    const pi = s.proc % procs.length;
    const p = procs[pi]!;
    const span = (r: { region: number; from: number; pages: number }) => {
      const pages = Math.min(r.pages, PAGES - r.from);
      return { addr: base[r.region]! + r.from * PAGE, len: pages * PAGE, pages };
    };
    /** The range's span when `p` still maps every page of it, else null. */
    const mappedSpan = (p: Proc, r: { region: number; from: number; pages: number }) => {
      const sp = span(r);
      return p.mapped[r.region]!.slice(r.from, r.from + sp.pages).every(Boolean) ? sp : null;
    };
    switch (s.t) {
      case "fork":
        if (procs.length >= maxProcs) continue;
        procs.push({
          task: run(p.task.fork()),
          mapped: [[...p.mapped[0]], [...p.mapped[1]]],
        });
        break;
      case "exit":
        run(p.task.exit());
        procs.splice(pi, 1);
        break;
      case "munmap": {
        const { addr, len, pages } = span(s.range);
        run(p.task.munmap(addr, len));
        p.mapped[s.range.region]!.fill(false, s.range.from, s.range.from + pages);
        break;
      }
      case "mprotect": {
        const sp = mappedSpan(p, s.range);
        if (!sp) continue;
        run(p.task.mprotect(sp.addr, sp.len, PROT_READ));
        run(p.task.mprotect(sp.addr, sp.len, PROT_READ | PROT_WRITE));
        break;
      }
      case "dontneed": {
        const sp = mappedSpan(p, s.range);
        if (!sp) continue;
        run(p.task.madvise(sp.addr, sp.len, MADV_DONTNEED));
        break;
      }
      case "touch": {
        const sp = mappedSpan(p, s.range);
        if (!sp) continue;
        if (s.write) run(p.task.write(sp.addr, new Uint8Array(sp.len).fill(s.range.from & 0xff)));
        else run(p.task.read(sp.addr, sp.len));
        break;
      }
      case "move": {
        if (!p.mapped[s.region]![s.page]) continue;
        const addr = base[s.region]! + s.page * PAGE;
        const node = run(p.task.nodeOf(addr));
        await Effect.runPromise(p.task.movePages(0, [addr], [1 - node], MPOL_MF_MOVE_ALL));
        break;
      }
    }
    expectConsistent(k);
    seen = checkCounters(k, seen, maxProcs <= 2);
  }
};

/** Each property: its name, the most mms alive at once, and its number of runs. */
const properties = [
  [
    "keep folio_mapcount(), the entire and page mapcounts and folio_maybe_mapped_shared() equal to a recount, up to four mms",
    4,
    30,
  ],
  ["make folio_maybe_mapped_shared() exact while no more than two mms map a folio", 2, 20],
] as const;

describe("folio->_large_mapcount and the MM id slots against the page tables (include/linux/rmap.h, Linux 6.16)", () => {
  for (const [name, maxProcs, numRuns] of properties) {
    it(`${name} (property)`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 14 }), (steps) =>
          runSteps(steps, maxProcs),
        ),
        { numRuns },
      );
    }, 120_000);
  }
});
