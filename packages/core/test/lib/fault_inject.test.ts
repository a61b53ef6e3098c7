import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import {
  __GFP_THISNODE,
  type BatchCopier,
  ERRNO,
  type ErrnoError,
  type Migrator,
  MPOL_MF_MOVE,
  migrateFoliosMcCopy,
  type TraceEvent,
} from "../../src/index";
import {
  boot,
  expectBytes,
  expectConsistent,
  mapPattern,
  pattern,
  run,
} from "../../src/testing/index";

const setup = (pages: number) => {
  const k = boot({ thp: { enabled: "never" } });
  const p = run(k.createProcess());
  const addr = mapPattern(p, pages * 4096, 3);
  const addrs = Array.from({ length: pages }, (_, i) => addr + i * 4096);
  const moveAll = (node: number) =>
    p.movePages(
      0,
      addrs,
      addrs.map(() => node),
      MPOL_MF_MOVE,
    );
  const move = (node: number) => Effect.runPromise(moveAll(node));
  /**
   * One `move_pages` call per page, so each is its own `migrate_pages()` call: the page's status,
   * or the call's negative errno (a `migrate_pages()` that fails with `-ENOMEM` fails the call).
   */
  const moveEach = async (node: number) => {
    const status: number[] = [];
    for (const a of addrs) {
      const outcome = Effect.match(p.movePages(0, [a], [node], MPOL_MF_MOVE), {
        onFailure: (e) => -ERRNO[e.errno],
        onSuccess: (r) => r.status[0]!,
      });
      status.push(await Effect.runPromise(outcome));
    }
    return status;
  };
  return { k, p, addr, addrs, move, moveAll, moveEach };
};

describe("fail_page_alloc", () => {
  it("fails the allocations its attributes select, then stops; the calls fail with ENOMEM", async () => {
    const { k, p, addr, addrs, moveAll, moveEach } = setup(6);
    expect(
      k.pageAlloc.failPageAlloc.arm({ times: 2, interval: 2, ignoreGfpReclaim: false }),
    ).toBeNull();
    // Every second destination allocation fails, twice: pages 1 and 3.
    expect(await moveEach(1)).toEqual([1, -12, 1, -12, 1, 1]);
    expect(k.pageAlloc.failPageAlloc.failed).toBe(2);
    expect(k.pageAlloc.failPageAlloc.armed).toBe(false);
    // Within one migrate_pages() call, -ENOMEM for a small folio ends the batch: the folios
    // not yet unmapped are not tried, and move_pages() fails with ENOMEM, as in the kernel
    // (do_pages_move() returns migrate_pages()'s errno). Pages 1 and 3 are on node 0 already;
    // the third allocation, page 4's, fails, so pages 4 and 5 stay on node 1.
    k.pageAlloc.failPageAlloc.arm({ times: 1, interval: 3, ignoreGfpReclaim: false });
    const failed = Effect.match(moveAll(0), { onFailure: (e) => e.errno, onSuccess: () => "ok" });
    expect(await Effect.runPromise(failed)).toBe("ENOMEM");
    expect(addrs.map((a) => run(p.nodeOf(a)))).toEqual([0, 0, 0, 0, 1, 1]);
    expectBytes(run(p.read(addr, 6 * 4096)), pattern(6 * 4096, 3));
    expectConsistent(k);
  });

  it("lets `space` bytes through first and spares orders below min-order", async () => {
    const { k, moveEach } = setup(4);
    k.pageAlloc.failPageAlloc.arm({ times: -1, space: 2 * 4096 + 1, ignoreGfpReclaim: false });
    expect(await moveEach(1)).toEqual([1, 1, -12, -12]);
    // Order-0 destinations are below min-order 1, so none fails.
    k.pageAlloc.failPageAlloc.arm({ times: -1, minOrder: 1, ignoreGfpReclaim: false });
    expect(await moveEach(0)).toEqual([0, 0, 0, 0]);
    expect(k.pageAlloc.failPageAlloc.failed).toBe(0);
    k.pageAlloc.failPageAlloc.arm({ times: 0 });
  });

  // should_fail_alloc_page() (mm/fail_page_alloc.c): with ignore-gfp-wait (Linux's default Y)
  // an allocation with __GFP_DIRECT_RECLAIM never fails and is not counted; one without it is.
  it("with ignore-gfp-wait, its default, spares allocations that may reclaim directly: move_pages()'s destinations and a user fault's", async () => {
    const { k, p, addr, moveEach } = setup(4);
    k.pageAlloc.failPageAlloc.arm({ times: -1 });
    // alloc_migration_target(): GFP_HIGHUSER_MOVABLE | __GFP_RETRY_MAYFAIL, so none fails.
    expect(await moveEach(1)).toEqual([1, 1, 1, 1]);
    // A store's new page (GFP_HIGHUSER_MOVABLE) neither.
    const more = run(p.mmap(4 * 4096));
    run(p.write(more, new Uint8Array(4 * 4096).fill(9)));
    expect(k.pageAlloc.failPageAlloc.failed).toBe(0);
    // An allocation that may not reclaim directly fails.
    expect(k.pageAlloc.allocPages(0, 0, __GFP_THISNODE)).toBe(-1);
    expect(k.pageAlloc.failPageAlloc.failed).toBe(1);
    k.pageAlloc.failPageAlloc.arm({ times: 0 });
    expectBytes(run(p.read(addr, 4 * 4096)), pattern(4 * 4096, 3));
    expectConsistent(k);
  });

  it("rejects attributes out of range with EINVAL and keeps its state", () => {
    const { k } = setup(1);
    for (const bad of [{ times: -2 }, { times: 1, interval: 0 }, { times: 1, space: -1 }]) {
      expect((k.pageAlloc.failPageAlloc.arm(bad) as ErrnoError).errno).toBe("EINVAL");
    }
    expect(k.pageAlloc.failPageAlloc.armed).toBe(false);
  });
});

describe("the copy interposer and the mm_migrate_offload tracepoint", () => {
  it("sees every batch of the active migrator, traces each call, and comes off cleanly", async () => {
    const { k, p, addr, move } = setup(8);
    const migrator: Migrator = {
      name: "plain",
      owner: null,
      shouldBatch: () => true,
      offloadCopy: (dst, src) => Effect.sync(() => migrateFoliosMcCopy(k, dst, src)),
    };
    run(k.migrateOffload.register(migrator));
    const seen: number[] = [];
    const remove = k.migrateOffload.interpose(
      (inner): BatchCopier => ({
        shouldBatch: inner.shouldBatch,
        copy: (dst, src, count, caller) => {
          seen.push(count);
          return inner.copy(dst, src, count, caller);
        },
      }),
    );
    expect(typeof remove).toBe("function");
    expect((k.migrateOffload.interpose((c) => c) as ErrnoError).errno).toBe("EBUSY");
    const events: TraceEvent[] = [];
    const unsubscribe = k.trace.subscribe((e) => events.push(e));
    expect((await move(1)).rc).toBe(0);
    unsubscribe();
    expect(seen).toEqual([8]);
    const calls = events.filter((e) => e.event === "mm_migrate_offload");
    expect(calls.map((e) => e.op)).toEqual(["should_batch", "offload_copy", "offload_copy_done"]);
    expect(calls.every((e) => e.migrator === "plain" && e.owner === null)).toBe(true);
    (remove as () => void)();
    expect(k.migrateOffload.copier).not.toBeNull();
    expect((await move(0)).rc).toBe(0);
    expect(seen).toEqual([8]);
    run(k.migrateOffload.unregister(migrator));
    expectBytes(run(p.read(addr, 8 * 4096)), pattern(8 * 4096, 3));
  });
});
