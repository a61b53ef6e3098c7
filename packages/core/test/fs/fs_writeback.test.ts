// The flusher (the bdi writeback worker, fs/fs-writeback.c, Linux 6.16): its periodic writeback
// every dirty_writeback_centisecs (default 500, mm/page-writeback.c) of the files dirty for
// dirty_expire_centisecs (default 3000) or more, its writeback of everything when woken
// (wakeup_flusher_threads()), and the two /proc/sys/vm files (Documentation/admin-guide/sysctl/
// vm.rst; dirty_writeback_centisecs_handler(), proc_dointvec_minmax() with SYSCTL_ZERO).
import { Effect } from "effect";
import { TestClock } from "effect/testing";
import { describe, expect, it } from "vitest";
import type { File } from "../../src/include/fs";
import type { Kernel, Task } from "../../src/include/kernel";
import {
  DIRTY_EXPIRE_CENTISECS,
  DIRTY_WRITEBACK_CENTISECS,
  MAP_SHARED,
  PG_dirty,
} from "../../src/index";
import { boot, expectConsistent, expectErrno, pattern, run, runP } from "../../src/testing/index";

const PAGE = 4096;

/** `pages` pages of a new file `name`, written through a shared mapping: dirty, cached. */
const dirtyFile = (k: Kernel, p: Task, name: string, pages: number): File => {
  const file = run(k.createFile(name));
  run(file.truncate(pages * PAGE));
  const at = run(p.mmap(pages * PAGE, { flags: MAP_SHARED, file }));
  run(p.write(at, pattern(pages * PAGE, 5)));
  run(p.munmap(at, pages * PAGE));
  return file;
};

const dirtyPages = (k: Kernel, file: File): number => {
  let n = 0;
  for (const head of new Set(file.mapping.pages.values())) if (k.memmap.test(head, PG_dirty)) n++;
  return n;
};

/** Moves the test clock on by `ms` and lets the flusher run what fell due. */
const advance = (ms: number) =>
  Effect.gen(function* () {
    yield* TestClock.adjust(`${ms} millis`);
    for (let i = 0; i < 20; i++) yield* Effect.yieldNow;
  });

describe("the flusher (wb_workfn())", () => {
  it("has the kernel's defaults: dirty_writeback_centisecs 500, dirty_expire_centisecs 3000", () => {
    const k = boot({ daemons: "on-demand" });
    expect(DIRTY_WRITEBACK_CENTISECS).toBe(500);
    expect(DIRTY_EXPIRE_CENTISECS).toBe(3000);
    expect(run(k.fs.read("/proc/sys/vm/dirty_writeback_centisecs"))).toBe("500\n");
    expect(run(k.fs.read("/proc/sys/vm/dirty_expire_centisecs"))).toBe("3000\n");
    run(k.shutdown());
  });

  // dirty_expire_centisecs: proc_dointvec_minmax() with extra1 = SYSCTL_ZERO; a write outside
  // is EINVAL and changes nothing. dirty_writeback_centisecs: proc_dointvec(), any int.
  it("parses its sysctls as proc_dointvec() does: dirty_expire_centisecs refuses a negative value", () => {
    const k = boot({ daemons: "on-demand" });
    expectErrno(k.fs.write("/proc/sys/vm/dirty_expire_centisecs", "-1"), "EINVAL");
    expectErrno(k.fs.write("/proc/sys/vm/dirty_expire_centisecs", "abc"), "EINVAL");
    expect(run(k.fs.read("/proc/sys/vm/dirty_expire_centisecs"))).toBe("3000\n");
    expect(run(k.fs.write("/proc/sys/vm/dirty_expire_centisecs", "0x10\n"))).toBe(5);
    expect(k.writeback.dirtyExpireCentisecs).toBe(16);
    expect(run(k.fs.write("/proc/sys/vm/dirty_writeback_centisecs", "0"))).toBe(1);
    expect(run(k.fs.read("/proc/sys/vm/dirty_writeback_centisecs"))).toBe("0\n");
    expectErrno(k.fs.write("/proc/sys/vm/dirty_writeback_centisecs", "1x"), "EINVAL");
    expect(run(k.fs.read("/proc/sys/vm/dirty_writeback_centisecs"))).toBe("0\n");
    run(k.shutdown());
  });

  // __mark_inode_dirty() stamps dirtied_when and arms the worker dirty_writeback_centisecs later
  // (wb_wakeup_delayed()); each run writes the files dirtied at least dirty_expire_centisecs ago
  // (wb_check_old_data_flush(): for_kupdate, older_than_this = jiffies - 30 s) and rearms while
  // some file is dirty. A file dirtied at 0 is written by the run at 30 s, not the one at 25 s.
  it("writes a dirty file back once its data is dirty_expire_centisecs old, at a dirty_writeback_centisecs tick, then sleeps with no timer", async () => {
    const k = boot({ daemons: "on-demand", nodes: ["64M"] });
    const p = run(k.createProcess({ node: 0 }));
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* k.writeback.run();
        expect(k.writeback.running).toBe(true);
        const file = dirtyFile(k, p, "old", 64);
        expect(file.mapping.dirtiedWhen).toBe(0);
        expect([...k.writeback.dirtyInodes]).toEqual([file.mapping]);
        yield* advance(25_000);
        expect(dirtyPages(k, file)).toBe(64);
        expect(file.mapping.backing!.nrPages).toBe(0);
        // A second file dirtied at 25 s is not yet old at 30 s.
        const young = dirtyFile(k, p, "young", 8);
        expect(young.mapping.dirtiedWhen).toBe(25_000);
        yield* advance(4_999);
        expect(file.mapping.backing!.nrPages).toBe(0);
        yield* advance(1);
        expect(dirtyPages(k, file)).toBe(0);
        expect(file.mapping.backing!.nrPages).toBe(64);
        expect(file.mapping.dirtiedWhen).toBe(null);
        expect(dirtyPages(k, young)).toBe(8);
        // ... but at 55 s it is: the ticks go on at 5 s while a file is dirty.
        yield* advance(25_000);
        expect(dirtyPages(k, young)).toBe(0);
        expect(k.writeback.dirtyInodes.size).toBe(0);
        expect(k.writeback.sleeping()).toBe(true);
        // No writeback by reclaim, and none of the bytes lost.
        expect(k.vmstat.get("nr_vmscan_write")).toBe(0);
        const at = run(p.mmap(64 * PAGE, { flags: MAP_SHARED, file }));
        run(file.truncate(64 * PAGE));
        expect(run(p.read(at, 64 * PAGE))).toEqual(pattern(64 * PAGE, 5));
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expectConsistent(k);
    await runP(k.shutdown());
    expect(k.writeback.running).toBe(false);
  });

  // dirty_writeback_centisecs = 0 turns the periodic writeback off (wb_wakeup_delayed() and
  // wb_check_old_data_flush() do nothing); writing a new value other than 0 wakes the flusher
  // (dirty_writeback_centisecs_handler(): wakeup_flusher_threads(WB_REASON_PERIODIC)), which
  // writes every dirty file back at once (wb_check_start_all()).
  it("dirty_writeback_centisecs 0 stops the periodic writeback; writing 500 again wakes the flusher, which writes everything", async () => {
    const k = boot({ daemons: "on-demand", nodes: ["64M"] });
    const p = run(k.createProcess({ node: 0 }));
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* k.writeback.run();
        run(k.fs.write("/proc/sys/vm/dirty_writeback_centisecs", "0"));
        const file = dirtyFile(k, p, "f", 16);
        yield* advance(120_000);
        expect(dirtyPages(k, file)).toBe(16);
        expect(k.writeback.sleeping()).toBe(true);
        run(k.fs.write("/proc/sys/vm/dirty_writeback_centisecs", "500"));
        yield* advance(0);
        expect(dirtyPages(k, file)).toBe(0);
        expect(file.mapping.backing!.nrPages).toBe(16);
      }).pipe(Effect.provide(TestClock.layer())),
    );
    await runP(k.shutdown());
  });

  // A kernel booted with daemons: "on-demand" has no flusher until run(); a second run() is
  // EBUSY, as for kswapd; stop() ends it and the dirty data stays dirty; shmem has no writeback
  // (noop_backing_dev_info): it never goes on the dirty list.
  it("runs only when started on an on-demand kernel, once (EBUSY), stops, and never lists shmem", async () => {
    const k = boot({ daemons: "on-demand", nodes: ["64M"] });
    expect(k.writeback.running).toBe(false);
    const p = run(k.createProcess({ node: 0 }));
    const file = dirtyFile(k, p, "f", 4);
    k.writeback.wakeupFlusherThreads("vmscan");
    expect(dirtyPages(k, file)).toBe(4);
    const shm = run(p.mmap(4 * PAGE, { flags: MAP_SHARED | 0x20 }));
    run(p.write(shm, pattern(4 * PAGE, 1)));
    expect([...k.writeback.dirtyInodes]).toEqual([file.mapping]);
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* k.writeback.run();
        expect(yield* Effect.flip(k.writeback.run())).toMatchObject({ errno: "EBUSY" });
        yield* k.writeback.stop();
        expect(k.writeback.running).toBe(false);
        yield* advance(60_000);
        expect(dirtyPages(k, file)).toBe(4);
      }).pipe(Effect.provide(TestClock.layer())),
    );
    await runP(k.shutdown());
  });

  // generic_file_fsync() → sync_inode_metadata() → writeback_single_inode(): a file fsync left
  // clean loses I_DIRTY_PAGES and leaves the dirty list; with none left the flusher sleeps with
  // no timer.
  it("fsync() of the last dirty file takes it off the dirty list: the flusher sleeps with no timer", async () => {
    const k = boot({ daemons: "on-demand", nodes: ["64M"] });
    const p = run(k.createProcess({ node: 0 }));
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* k.writeback.run();
        const file = dirtyFile(k, p, "f", 4);
        expect(k.writeback.dirtyInodes.has(file.mapping)).toBe(true);
        yield* file.fsync();
        expect(k.writeback.dirtyInodes.size).toBe(0);
        expect(file.mapping.dirtiedWhen).toBe(null);
        expect(file.mapping.backing!.nrPages).toBe(4);
        // Dirtied again, it is stamped again.
        yield* advance(7_000);
        const again = dirtyFile(k, p, "g", 1);
        expect(again.mapping.dirtiedWhen).toBe(7_000);
      }).pipe(Effect.provide(TestClock.layer())),
    );
    await runP(k.shutdown());
  });

  it("starts at boot by default, and kernel shutdown stops it", async () => {
    const k = boot({ nodes: ["64M"] });
    expect(k.writeback.running).toBe(true);
    await runP(k.shutdown());
    expect(k.writeback.running).toBe(false);
  });
});
