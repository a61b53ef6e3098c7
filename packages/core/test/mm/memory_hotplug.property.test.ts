/**
 * offline_pages() / online_pages() (mm/memory_hotplug.c) under a random workload: whatever
 * processes map (anonymous memory, THPs, shared file pages), any sequence of block offlines and
 * onlines keeps the kernel consistent and every byte as written. A block goes offline, or fails
 * with EBUSY when it holds an unmovable page (the zero page's block), and then is left as it was.
 */
import { Effect } from "effect";
import { TestClock } from "effect/testing";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type File,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  MEM_OFFLINE,
  MEM_ONLINE,
  MIGRATE_ISOLATE,
  MPOL_BIND,
  type Task,
} from "../../src/index";
import { boot, expectConsistent, pattern, run, runP, sameBytes } from "../../src/testing/index";

const PAGE = 4096;
const ROOT = "/sys/devices/system/memory";

type Step =
  | { op: "map"; node: number; pages: number; kind: "anon" | "thp" | "file"; seed: number }
  | { op: "offline"; block: number }
  | { op: "online"; block: number }
  | { op: "unmap" };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    op: fc.constant("map" as const),
    node: fc.integer({ min: 0, max: 1 }),
    pages: fc.integer({ min: 1, max: 768 }),
    kind: fc.constantFrom("anon" as const, "thp" as const, "file" as const),
    seed: fc.integer({ min: 1, max: 1000 }),
  }),
  fc.record({ op: fc.constant("offline" as const), block: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant("online" as const), block: fc.integer({ min: 0, max: 7 }) }),
  fc.constant({ op: "unmap" as const }),
);

interface Mapping {
  task: Task;
  addr: number;
  bytes: number;
  seed: number;
}

describe("memory offlining, property", () => {
  it("any offline/online sequence over any workload keeps the kernel consistent and every byte", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 12 }), async (steps) => {
        const k = boot({ nodes: ["64M", "64M"], sectionSize: "16M", thp: { enabled: "always" } });
        const mappings: Mapping[] = [];
        let file: File | null = null;
        let mapped = 0;
        for (const s of steps) {
          if (s.op === "map") {
            // At most 24 MiB in use, at most three of eight blocks offline: the migrations of
            // an offline always find room, so offline_pages() never retries forever.
            if (mapped + s.pages > 6144) continue;
            const task = run(k.createProcess({ node: s.node }));
            run(task.setMempolicy(MPOL_BIND, [s.node]));
            const bytes = s.pages * PAGE;
            let addr: number;
            if (s.kind === "file") {
              file ??= run(k.createFile("data"));
              // ftruncate(): grown to what is mapped, as a fault past i_size gets SIGBUS.
              run(file.truncate((mapped + s.pages) * PAGE));
              addr = run(task.mmap(bytes, { flags: MAP_SHARED, file, offset: mapped * PAGE }));
            } else {
              addr = run(
                task.mmap(bytes, {
                  flags: MAP_PRIVATE | MAP_ANONYMOUS,
                  hugepage: s.kind === "thp",
                }),
              );
            }
            run(task.write(addr, pattern(bytes, s.seed)));
            mappings.push({ task, addr, bytes, seed: s.seed });
            mapped += s.pages;
          } else if (s.op === "unmap") {
            const m = mappings.shift();
            if (m) run(m.task.exit());
          } else if (s.op === "offline") {
            const block = k.memoryBlocks[s.block]!;
            const offline = k.memoryBlocks.filter((b) => b.state === MEM_OFFLINE).length;
            if (block.state !== MEM_ONLINE || offline >= 3) continue;
            const free = k.pageAlloc.totalFreePages();
            const result = await runP(
              Effect.result(k.fs.write(`${ROOT}/memory${s.block}/state`, "offline")),
            );
            if (result._tag === "Failure") {
              expect(result.failure.errno).toBe("EBUSY");
              expect(block.state).toBe(MEM_ONLINE);
              expect(k.pageAlloc.totalFreePages()).toBe(free);
            } else {
              expect(block.state).toBe(MEM_OFFLINE);
              expect(k.pageAlloc.zones[block.nid]!.pageblockType.includes(MIGRATE_ISOLATE)).toBe(
                true,
              );
            }
          } else {
            const block = k.memoryBlocks[s.block]!;
            if (block.state !== MEM_OFFLINE) continue;
            await runP(k.fs.write(`${ROOT}/memory${s.block}/online`, "1"));
            expect(block.state).toBe(MEM_ONLINE);
          }
          expectConsistent(k);
          for (const m of mappings)
            expect(sameBytes(run(m.task.read(m.addr, m.bytes)), pattern(m.bytes, m.seed))).toBe(
              true,
            );
        }
        // Online again, the machine has all its memory back.
        for (const b of k.memoryBlocks)
          if (b.state === MEM_OFFLINE) await runP(k.fs.write(`${ROOT}/memory${b.id}/online`, "1"));
        const managed = k.pageAlloc.zones.reduce((n, z) => n + z.managedPages, 0);
        expect(managed).toBe(2 * 16384);
        await runP(k.shutdown());
      }),
      { numRuns: 25 },
    );
  }, 120_000);

  // offline_pages() / online_pages() (mm/memory_hotplug.c, Linux 6.16): kcompactd_stop() and
  // kswapd_stop() when a node loses N_MEMORY, kswapd_run() and kcompactd_run() when memory comes
  // online. Whatever the order of offlines, onlines and wake-ups, a node has its daemons exactly
  // while it has memory, an idle one sleeps, a wake-up of a node without them starts nothing, and
  // shutdown ends them all.
  it("any offline/online sequence keeps one kswapd and one kcompactd per node with memory", async () => {
    type Op = { op: "offline" | "online"; block: number } | { op: "wake"; order: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        op: fc.constantFrom("offline" as const, "online" as const),
        block: fc.integer({ min: 4, max: 7 }),
      }),
      fc.record({ op: fc.constant("wake" as const), order: fc.integer({ min: 0, max: 9 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 16 }), async (ops) => {
        // The daemons start where the sequence says (run()), after its set-up.
        const k = boot({ daemons: "on-demand", nodes: ["64M", "64M"], sectionSize: "16M" });
        await runP(
          Effect.gen(function* () {
            yield* k.kswapd.run();
            yield* k.compaction.run();
            const idle = k.vmstat.snapshot();
            for (const o of ops) {
              if (o.op === "wake") {
                k.kswapd.wakeup(1, o.order);
                k.compaction.wakeup(1, o.order);
                yield* TestClock.adjust("1 second");
              } else {
                const block = k.memoryBlocks[o.block]!;
                const want = o.op === "offline" ? MEM_ONLINE : MEM_OFFLINE;
                if (block.state !== want) continue;
                yield* k.fs.write(`${ROOT}/memory${o.block}/state`, o.op);
              }
              for (const nid of [0, 1]) {
                const has = k.nodeHasMemory(nid);
                expect([k.kswapd.hasDaemon(nid), k.compaction.hasDaemon(nid)]).toEqual([has, has]);
                expect(k.kswapd.sleeping(nid)).toBe(has);
              }
            }
            // Nothing to reclaim on an idle machine: no daemon ran a reclaim pass.
            expect(k.vmstat.get("pageoutrun")).toBe(idle.pageoutrun ?? 0);
          }).pipe(Effect.provide(TestClock.layer())),
        );
        expectConsistent(k);
        await runP(k.shutdown());
        expect([k.kswapd.running, k.compaction.running]).toEqual([false, false]);
        expect([0, 1].map((nid) => k.kswapd.hasDaemon(nid) || k.compaction.hasDaemon(nid))).toEqual(
          [false, false],
        );
      }),
      { numRuns: 25 },
    );
  }, 120_000);
});
