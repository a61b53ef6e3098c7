import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { File } from "../../src/include/fs";
import type { Kernel, Task } from "../../src/include/kernel";
import {
  GFP_KERNEL,
  MADV_DONTNEED,
  MADV_RANDOM,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  MPOL_BIND,
  tryToFreePages,
} from "../../src/index";
import { shrinkHugeZeroFolioScan } from "../../src/mm/huge_memory";
import { boot, expectBytes, expectConsistent, pattern, run } from "../../src/testing/index";

const PAGE = 4096;

type Kind = "anon" | "shared" | "file-shared" | "file-private";

/** What a region of a process maps, in the model. */
interface Region {
  start: number;
  pages: number;
  kind: Kind;
  /** Key of the shared object (shmem object or file) for shared and file kinds. */
  object: string;
  pgoff: number;
}

/** The model: what every byte should read as. Pages never written read as zeros. */
interface ModelProcess {
  task: Task;
  regions: Region[];
  /** Private pages by virtual page number. */
  privatePages: Map<number, Uint8Array>;
}

class Model {
  readonly procs: ModelProcess[] = [];
  readonly objects = new Map<string, Map<number, Uint8Array>>();
  nextObject = 0;

  pageOf(proc: ModelProcess, region: Region, vpn: number, forWrite: boolean): Uint8Array {
    const pgoff = region.pgoff + (vpn - region.start / PAGE);
    const shared = this.objects.get(region.object);
    if (
      region.kind === "anon" ||
      (region.kind === "file-private" && (forWrite || proc.privatePages.has(vpn)))
    ) {
      let page = proc.privatePages.get(vpn);
      if (!page) {
        page =
          region.kind === "file-private"
            ? new Uint8Array(shared?.get(pgoff) ?? new Uint8Array(PAGE))
            : new Uint8Array(PAGE);
        if (forWrite) proc.privatePages.set(vpn, page);
      }
      return page;
    }
    let page = shared!.get(pgoff);
    if (!page) {
      page = new Uint8Array(PAGE);
      if (forWrite) shared!.set(pgoff, page);
    }
    return page;
  }
}

const op = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("mmap" as const),
      proc: fc.nat(),
      kind: fc.constantFrom<Kind>("anon", "shared", "file-shared", "file-private"),
      pages: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.constant(512), fc.constant(1024)),
      hugepage: fc.option(fc.boolean(), { nil: undefined }),
      bind: fc.option(fc.nat(1), { nil: undefined }),
      fileOffset: fc.nat(8),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant("write" as const),
      proc: fc.nat(),
      region: fc.nat(),
      offset: fc.oneof(fc.integer({ min: 0, max: 6 * PAGE }), fc.nat()),
      length: fc.integer({ min: 1, max: 3 * PAGE }),
      seed: fc.nat(255),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("fork" as const), proc: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant("munmap" as const),
      proc: fc.nat(),
      region: fc.nat(),
      from: fc.nat(),
      pages: fc.integer({ min: 1, max: 8 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("exit" as const), proc: fc.nat() }) },
);

/**
 * Steps on the life cycle of pages after they are mapped: `madvise(MADV_DONTNEED)` of part of a
 * region, writeback (left in flight or ended) and `fsync()` of a file, truncation of a file,
 * direct reclaim of a node, and a write of a whole region (memory pressure, OOM kills).
 */
const lifeOp = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("dontneed" as const),
      proc: fc.nat(),
      region: fc.nat(),
      from: fc.nat(),
      pages: fc.oneof(fc.integer({ min: 1, max: 16 }), fc.constant(256), fc.constant(512)),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant("writeback" as const),
      file: fc.nat(1),
      pgoff: fc.nat(48),
      end: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("fsync" as const), file: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("truncate" as const), file: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("reclaim" as const), nid: fc.nat(1) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("fill" as const),
      proc: fc.nat(),
      region: fc.nat(),
      seed: fc.nat(255),
    }),
  },
);

type Op =
  | (typeof op extends fc.Arbitrary<infer T> ? T : never)
  | (typeof lifeOp extends fc.Arbitrary<infer T> ? T : never);

/** The private pages of `proc` in `[from, from + pages)` of `region` are gone. */
const dropPrivate = (proc: ModelProcess, region: Region, from: number, pages: number): void => {
  for (let vpn = region.start / PAGE + from; vpn < region.start / PAGE + from + pages; vpn++)
    proc.privatePages.delete(vpn);
};

const apply = (k: Kernel, model: Model, files: File[], o: Op) => {
  switch (o.t) {
    case "writeback": {
      const file = files[o.file]!;
      if (file.startWriteback(o.pgoff) && o.end) expect(file.endWriteback(o.pgoff)).toBe(true);
      return;
    }
    case "fsync":
      run(files[o.file]!.fsync());
      return;
    case "truncate": {
      // truncate_pagecache() unmaps private copies too (unmap_mapping_range() with even_cows).
      // Cut to nothing and grown back (ftruncate() twice): the mappings stay within i_size and
      // read the hole's zeros.
      const file = files[o.file]!;
      const size = file.size;
      run(file.truncate());
      run(file.truncate(size));
      const object = `file:${file.name}`;
      model.objects.get(object)?.clear();
      for (const proc of model.procs)
        for (const region of proc.regions)
          if (region.object === object) dropPrivate(proc, region, 0, region.pages);
      return;
    }
    case "reclaim":
      run(tryToFreePages(k, GFP_KERNEL, 0, o.nid, null));
      return;
  }
  if (model.procs.length === 0) return;
  const proc = model.procs[o.proc % model.procs.length]!;
  const p = proc.task;
  switch (o.t) {
    case "mmap": {
      const kind = o.kind;
      const file = files[o.proc % files.length]!;
      const flags =
        kind === "anon"
          ? MAP_PRIVATE | MAP_ANONYMOUS
          : kind === "shared"
            ? MAP_SHARED | MAP_ANONYMOUS
            : kind === "file-shared"
              ? MAP_SHARED
              : MAP_PRIVATE;
      const isFile = kind.startsWith("file");
      // ftruncate(): the file covers what is mapped, as a fault past i_size gets SIGBUS.
      const end = (o.fileOffset + o.pages) * PAGE;
      if (isFile && file.size < end) run(file.truncate(end));
      const start = run(
        p.mmap(o.pages * PAGE, {
          flags,
          file: isFile ? file : undefined,
          offset: isFile ? o.fileOffset * PAGE : 0,
          hugepage: o.hugepage,
        }),
      );
      if (o.bind !== undefined) run(p.mbind(start, o.pages * PAGE, MPOL_BIND, [o.bind]));
      const object = isFile
        ? `file:${file.name}`
        : kind === "shared"
          ? `shm:${model.nextObject++}`
          : "";
      if (object && !model.objects.has(object)) model.objects.set(object, new Map());
      proc.regions.push({ start, pages: o.pages, kind, object, pgoff: isFile ? o.fileOffset : 0 });
      return;
    }
    case "write":
    case "fill": {
      if (proc.regions.length === 0) return;
      const region = proc.regions[o.region % proc.regions.length]!;
      const bytes = region.pages * PAGE;
      const offset = o.t === "fill" ? 0 : o.offset % bytes;
      const length = o.t === "fill" ? bytes : Math.min(o.length, bytes - offset);
      const data = pattern(length, o.seed);
      run(p.write(region.start + offset, data));
      for (let done = 0; done < length; ) {
        const at = region.start + offset + done;
        const vpn = Math.floor(at / PAGE);
        const within = at - vpn * PAGE;
        const n = Math.min(PAGE - within, length - done);
        model.pageOf(proc, region, vpn, true).set(data.subarray(done, done + n), within);
        done += n;
      }
      return;
    }
    case "fork": {
      if (model.procs.length >= 4) return;
      const child = run(p.fork());
      const privatePages = new Map<number, Uint8Array>();
      for (const [vpn, page] of proc.privatePages) privatePages.set(vpn, new Uint8Array(page));
      model.procs.push({ task: child, regions: proc.regions.map((r) => ({ ...r })), privatePages });
      return;
    }
    case "munmap": {
      if (proc.regions.length === 0) return;
      const i = o.region % proc.regions.length;
      const region = proc.regions[i]!;
      const from = o.from % region.pages;
      const pages = Math.min(o.pages, region.pages - from);
      run(p.munmap(region.start + from * PAGE, pages * PAGE));
      const parts: Region[] = [];
      if (from > 0) parts.push({ ...region, pages: from });
      if (from + pages < region.pages) {
        parts.push({
          ...region,
          start: region.start + (from + pages) * PAGE,
          pages: region.pages - from - pages,
          pgoff: region.pgoff + from + pages,
        });
      }
      proc.regions.splice(i, 1, ...parts);
      dropPrivate(proc, region, from, pages);
      return;
    }
    case "dontneed": {
      // madvise_dontneed_free(): private pages are gone (zeros, or the file's page again); shared
      // ones come back from shmem, the page cache or the file's storage.
      if (proc.regions.length === 0) return;
      const region = proc.regions[o.region % proc.regions.length]!;
      const from = o.from % region.pages;
      const pages = Math.min(o.pages, region.pages - from);
      run(p.madvise(region.start + from * PAGE, pages * PAGE, MADV_DONTNEED));
      dropPrivate(proc, region, from, pages);
      return;
    }
    case "exit": {
      run(p.exit());
      model.procs.splice(model.procs.indexOf(proc), 1);
      return;
    }
  }
};

/**
 * Reads every page of every region back. A read of a page never faulted in allocates it (a shmem
 * or page-cache page), and in a small machine that allocation can fail: such a page is `ENOMEM`
 * (the kernel's out-of-memory fault) and is skipped; every page that can be read must hold what
 * was written.
 */
const checkContents = (model: Model) => {
  procs: for (const proc of model.procs) {
    for (const region of proc.regions) {
      for (let i = 0; i < region.pages; i++) {
        // A read's allocation may have made the OOM killer kill this process: nothing to read.
        if (proc.task.exited) continue procs;
        let actual: Uint8Array;
        try {
          actual = run(proc.task.read(region.start + i * PAGE, PAGE));
        } catch (error) {
          expect((error as { errno?: string }).errno).toBe(proc.task.exited ? "ESRCH" : "ENOMEM");
          continue;
        }
        expectBytes(actual, model.pageOf(proc, region, region.start / PAGE + i, false));
      }
    }
  }
};

/**
 * One run of the address-space property on two nodes of `nodeSize`: two processes, each starting
 * with one mapping of each kind (`anonPages` pages for the anonymous one), take `ops`; the
 * kernel stays consistent after every step, every byte reads back as the model says, and
 * everything is freed at the end. The kernel runs no daemon (`daemons: "on-demand"`): every
 * step is a synchronous call, and a call cannot sleep on a folio lock that a daemon woken by
 * reclaim (the flusher in the middle of a writeback batch) holds across a reschedule; the steps
 * themselves write back, sync, reclaim and truncate. A step may run out of memory (`ENOMEM` ends the run), and a
 * fault may make the OOM killer kill a process: the model forgets it, and a step it was taking
 * fails with `ESRCH`.
 */
const addressSpaces =
  (nodeSize: "4M" | "16M", anonPages: number) =>
  (ops: Op[], thp: string, mthp: boolean, shmem: string, useZeroPage: boolean): void => {
    const k = boot({
      nodes: [nodeSize, nodeSize],
      daemons: "on-demand",
      thp: {
        enabled: thp as "always",
        sizes: mthp ? { "16kB": "always", "64kB": "madvise" } : {},
      },
    });
    // shmem_enabled: PMD-size shmem folios, mapped by huge PMDs where aligned (do_set_pmd()).
    run(k.fs.write("/sys/kernel/mm/transparent_hugepage/shmem_enabled", shmem));
    run(k.fs.write("/sys/kernel/mm/transparent_hugepage/use_zero_page", useZeroPage ? "1" : "0"));
    const free = k.pageAlloc.totalFreePages();
    const files = [run(k.createFile("a")), run(k.createFile("b"))];
    const model = new Model();
    model.procs.push({
      task: run(k.createProcess({ node: 0 })),
      regions: [],
      privatePages: new Map(),
    });
    model.procs.push({
      task: run(k.createProcess({ node: 1 })),
      regions: [],
      privatePages: new Map(),
    });
    // Every process starts with one mapping of each kind, so that random steps meet them.
    for (const proc of [0, 1]) {
      for (const kind of ["anon", "shared", "file-shared", "file-private"] as const) {
        apply(k, model, files, {
          t: "mmap",
          proc,
          kind,
          pages: kind === "anon" ? anonPages : 8,
          hugepage: true,
          bind: undefined,
          fileOffset: 0,
        });
      }
    }
    let failed = false;
    for (const o of ops) {
      try {
        apply(k, model, files, o);
      } catch (error) {
        // Memory can run out in a small machine, or the OOM killer pick the caller. The step may
        // have written part of its bytes: the model no longer knows the contents.
        const name = (error as { errno?: string }).errno;
        if (name !== "ENOMEM") {
          expect(name).toBe("ESRCH");
          expect(model.procs.some((proc) => proc.task.exited)).toBe(true);
        }
        failed = true;
      }
      for (const proc of model.procs.filter((proc) => proc.task.exited))
        model.procs.splice(model.procs.indexOf(proc), 1);
      expectConsistent(k);
      if (failed) break;
    }
    if (!failed) checkContents(model);
    for (const proc of model.procs) if (!proc.task.exited) run(proc.task.exit());
    for (const file of files) run(file.truncate());
    expectConsistent(k);
    // The huge zero folio that reads mapped outlives its users until its shrinker runs
    // (shrink_huge_zero_folio_scan(), mm/huge_memory.c).
    const zeroPages = k.hugeZero.pfn >= 0 ? 512 : 0;
    expect(shrinkHugeZeroFolioScan(k)).toBe(zeroPages);
    expect(k.pageAlloc.totalFreePages()).toBe(free);
    expect(k.anonVmas.size).toBe(0);
  };

const thpSettings = [
  fc.constantFrom("always", "madvise", "never"),
  fc.boolean(),
  fc.constantFrom("never", "advise", "always"),
  fc.boolean(),
] as const;

describe("address spaces (property)", () => {
  it("reads back every byte written through any mapping; page tables, rmap and counts stay consistent; nothing leaks", () => {
    fc.assert(
      fc.property(
        fc.array(op, { minLength: 1, maxLength: 30 }),
        ...thpSettings,
        addressSpaces("16M", 1024),
      ),
      { numRuns: 80 },
    );
  }, 60_000);

  // madvise_dontneed_free() (mm/madvise.c), writeback and fsync() (mm/page-writeback.c,
  // fs/sync.c), truncate_pagecache() (mm/truncate.c), try_to_free_pages() (mm/vmscan.c) and the
  // OOM killer (mm/oom_kill.c) of Linux 6.16, on nodes small enough for it to run.
  it("the same with MADV_DONTNEED, writeback, fsync, truncation, reclaim and OOM kills on small nodes", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof({ weight: 3, arbitrary: op }, { weight: 2, arbitrary: lifeOp }), {
          minLength: 1,
          maxLength: 40,
        }),
        ...thpSettings,
        addressSpaces("4M", 256),
      ),
      { numRuns: 80 },
    );
  }, 120_000);
});

// do_fault_around() → filemap_map_pages() (mm/memory.c, mm/filemap.c, Linux 6.16): a read fault
// maps the cached pages of a window of fault_around_pages PTEs, and its own page. The window
// starts at the fault_around_pages-aligned address below the fault, or at the VMA's start when
// that is later, and ends fault_around_pages on or at the VMA's end or the end of the PTE table
// (the PMD range) of the fault, whichever comes first.
describe("fault-around (property)", () => {
  it("maps the cached pages of the window, within the VMA and the PMD range, and nothing else", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 299 }), { maxLength: 300 }),
        fc.constantFrom(0, 4096, 8192, 12288, 65536, 200_000, 2 * 2 ** 20),
        fc.integer({ min: 0, max: 49 }),
        fc.integer({ min: 0, max: 600 }),
        fc.integer({ min: 1, max: 250 }),
        fc.integer({ min: 0, max: 249 }),
        (cached, bytes, offset, pad, len, at) => {
          const k = boot();
          run(k.fs.write("/sys/kernel/debug/fault_around_bytes", String(bytes)));
          const n = k.faultAroundPages;
          const file = run(k.createFile("data"));
          const w = run(k.createProcess());
          run(file.truncate(300 * PAGE));
          const wAddr = run(w.mmap(300 * PAGE, { flags: MAP_SHARED, file }));
          // MADV_RANDOM: each write fault caches its one page, no readahead.
          run(w.madvise(wAddr, 300 * PAGE, MADV_RANDOM));
          for (const i of cached) run(w.write(wAddr + i * PAGE, new Uint8Array([1])));
          const r = run(k.createProcess());
          if (pad > 0) run(r.mmap(pad * PAGE, { flags: MAP_PRIVATE | MAP_ANONYMOUS }));
          const addr = run(r.mmap(len * PAGE, { flags: MAP_PRIVATE, file, offset: offset * PAGE }));
          // No readahead for the reader either: a miss would read around itself, drop mmap_lock
          // and retry, and the retry's window would map what that read (readahead.test.ts).
          run(r.madvise(addr, len * PAGE, MADV_RANDOM));
          const slot = at % len;
          run(r.read(addr + slot * PAGE, 1));
          const start = addr / PAGE;
          const vpn = start + slot;
          const from = Math.max(vpn - (vpn % n), start);
          const cachedSet = new Set(cached);
          const expected: number[] = [];
          for (let v = start; v < start + len; v++) {
            const inWindow = v >= from && v < from + n;
            const inPmd = Math.floor(v / 512) === Math.floor(vpn / 512);
            const filePage = offset + (v - start);
            if (v === vpn || (inWindow && inPmd && cachedSet.has(filePage)))
              expected.push(v - start);
          }
          const vma = r.mm!.findVma(addr)!;
          const mapped = [...vma.ptes.keys()].filter((i) => vma.ptes[i] !== 0);
          expect(mapped).toEqual(expected);
          expectConsistent(k);
          run(r.exit());
          run(w.exit());
        },
      ),
      { numRuns: 60 },
    );
  }, 120_000);
});
