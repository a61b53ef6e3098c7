/**
 * The stress mode: ping-pong migration under concurrent readers and writers.
 *
 * In the style of the kernel's migration selftest (`tools/testing/selftests/mm/migration.c`):
 * while memory is migrated back and forth between two nodes with the migrator under test (whose
 * copy engine runs on real worker threads), writer fibers keep rewriting pages and reader fibers
 * keep checking them. An access that meets a migration entry waits until the folio is mapped
 * again (`migration_entry_wait()`), so a reader must never see a torn page or an older value than
 * it saw before, and no write may be lost.
 *
 * @module
 */
import { Kernel, type Task } from "@migrate-offload/core";
import { checkKernelConsistency, shrinkHugeZeroFolioScan } from "@migrate-offload/core/testing";
import { Effect } from "effect";
import type { MigratorSubject } from "./conformance";

/** Options of {@link stressMigrator}. @category Stress */
export interface StressOptions {
  /** Migrations of the whole working set, alternating between node 1 and node 0; default 16. */
  readonly rounds?: number;
  /** Writer fibers, each owning every `writers`-th page; default 2. */
  readonly writers?: number;
  /** Reader fibers; default 2. */
  readonly readers?: number;
  /** Base pages backed by transparent huge pages (a multiple of 512); default 1024. */
  readonly hugePages?: number;
  /** Base pages of 4 KiB folios; default 64. */
  readonly smallPages?: number;
}

/** What a stress run did. @category Stress */
export interface StressReport {
  /** Migrations of the whole working set made. */
  readonly rounds: number;
  /** Page writes and page reads made while migrations ran. */
  readonly writes: number;
  /** Page reads made while migrations ran. */
  readonly reads: number;
  /** Of those, the accesses that met a migration entry and waited for the folio. */
  readonly waits: number;
  /**
   * Entries whose status named the target node, over all rounds. The entry right after a large
   * folio's first page reads `-EBUSY`, as in the kernel (its folio is isolated already).
   */
  readonly pagesMigrated: number;
}

const PAGE = 4096;

/** A page's contents: one 32-bit word repeated, naming the page and its write sequence. */
const pageWord = (page: number, seq: number): number => ((page << 16) | (seq & 0xffff)) >>> 0;

const fillPage = (word: number): Uint8Array => {
  const out = new Uint32Array(PAGE / 4);
  out.fill(word);
  return new Uint8Array(out.buffer);
};

/** The one word a page holds throughout, or null when its words differ (a torn page). */
const uniformWord = (bytes: Uint8Array): number | null => {
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const first = words[0]!;
  for (let i = 1; i < words.length; i++) if (words[i] !== first) return null;
  return first;
};

/**
 * Runs the stress mode against `subject`. Resolves with what it did; rejects with every broken
 * promise it saw (a torn or stale read, a lost write, a failed migration, inconsistent metadata,
 * a leak).
 *
 * Checks what the kernel's migration selftest (`tools/testing/selftests/mm/migration.c`) checks:
 * an access that meets a migration entry waits (`migration_entry_wait()`) and then sees whole,
 * current data.
 *
 * @category Stress
 */
export const stressMigrator = (
  subject: MigratorSubject,
  options: StressOptions = {},
): Promise<StressReport> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const rounds = options.rounds ?? 16;
      const nWriters = options.writers ?? 2;
      const nReaders = options.readers ?? 2;
      const hugePages = options.hugePages ?? 1024;
      const smallPages = options.smallPages ?? 64;
      const k = yield* Kernel.boot({ nodes: ["64M", "64M"], thp: { enabled: "madvise" } });
      yield* subject.load(k);
      const initialFree = k.pageAlloc.totalFreePages();
      const proc: Task = yield* k.createProcess({ node: 0 });
      const huge = yield* proc.mmap(hugePages * PAGE, { hugepage: true });
      const small = yield* proc.mmap(smallPages * PAGE, { hugepage: false });
      const addrs = [
        ...Array.from({ length: hugePages }, (_, i) => huge + i * PAGE),
        ...Array.from({ length: smallPages }, (_, i) => small + i * PAGE),
      ];
      const seq = addrs.map(() => 0);
      for (const [p, addr] of addrs.entries()) yield* proc.write(addr, fillPage(pageWord(p, 0)));
      const problems: string[] = [];
      const seen = addrs.map(() => 0);
      let done = false;
      let writes = 0;
      let reads = 0;
      let pagesMigrated = 0;

      const writer = (w: number) =>
        Effect.gen(function* () {
          for (let p = w; !done; p = p + nWriters < addrs.length ? p + nWriters : w) {
            seq[p] = (seq[p]! + 1) & 0xffff;
            yield* proc.write(addrs[p]!, fillPage(pageWord(p, seq[p]!)));
            writes++;
            yield* Effect.yieldNow;
          }
        });
      const reader = (r: number) =>
        Effect.gen(function* () {
          for (let i = r * 7919; !done; i += 7919) {
            const p = i % addrs.length;
            const word = uniformWord(yield* proc.read(addrs[p]!, PAGE));
            reads++;
            if (word === null) problems.push(`page ${p}: a torn read`);
            else if (word >>> 16 !== p)
              problems.push(`page ${p}: holds page ${word >>> 16}'s data`);
            else if ((word & 0xffff) < seen[p]! && seen[p]! - (word & 0xffff) < 0x8000)
              problems.push(`page ${p}: read write ${word & 0xffff} after write ${seen[p]}`);
            else seen[p] = word & 0xffff;
            yield* Effect.yieldNow;
          }
        });
      const migrator = Effect.gen(function* () {
        for (let round = 0; round < rounds; round++) {
          const node = (round + 1) % 2;
          const { rc, status } = yield* proc.movePages(
            0,
            addrs,
            addrs.map(() => node),
          );
          if (rc !== 0) problems.push(`round ${round}: move_pages returned ${rc}`);
          pagesMigrated += status.filter((s) => s === node).length;
          yield* Effect.yieldNow;
        }
        done = true;
      });
      yield* Effect.all(
        [
          migrator,
          ...Array.from({ length: nWriters }, (_, w) => writer(w)),
          ...Array.from({ length: nReaders }, (_, r) => reader(r)),
        ],
        { concurrency: "unbounded", discard: true },
      );

      // Every page holds its last write, on the node of the last round.
      const lastNode = rounds % 2 === 1 ? 1 : 0;
      for (const [p, addr] of addrs.entries()) {
        const word = uniformWord(yield* proc.read(addr, PAGE));
        if (word !== pageWord(p, seq[p]!)) {
          problems.push(
            `page ${p}: lost a write (holds ${word}, last wrote ${pageWord(p, seq[p]!)})`,
          );
          break;
        }
        if (rounds > 0 && (yield* proc.nodeOf(addr)) !== lastNode) {
          problems.push(`page ${p}: not on node ${lastNode} after the last round`);
          break;
        }
      }
      problems.push(...checkKernelConsistency(k));
      yield* proc.exit();
      // The huge zero folio that reads mapped stays until its shrinker runs, as on Linux.
      shrinkHugeZeroFolioScan(k);
      const free = k.pageAlloc.totalFreePages();
      if (free !== initialFree) problems.push(`${initialFree - free} pages leaked`);
      yield* subject.unload(k);
      yield* k.shutdown();
      if (problems.length) {
        const shown = problems.slice(0, 20);
        return yield* Effect.die(
          new Error(
            `${subject.name} under stress:\n  ${shown.join("\n  ")}${problems.length > 20 ? `\n  … and ${problems.length - 20} more` : ""}`,
          ),
        );
      }
      return { rounds, writes, reads, waits: proc.migration.migrationEntryWaits, pagesMigrated };
    }),
  );
