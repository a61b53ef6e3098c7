import {
  type CopyCostProfile,
  type Kernel,
  type MmMigrateOffloadDecision,
  MOVE_PAGES_STATUS_UNWRITTEN,
  parseCopyCostProfile,
} from "@migrate-offload/core";
import {
  boot as bootKernel,
  errnoOf,
  folioAt,
  mapPattern,
  moveRange,
  pattern,
  patternIntact,
  run,
  runP,
  sameBytes,
} from "@migrate-offload/core/testing";
import { Effect, Fiber } from "effect";
import { afterEach, describe, expect, it } from "vitest";
import {
  idleCpusOf,
  MTCOPY_SYSFS_DIR,
  type MtcopyDriver,
  type MtcopyOptions,
  mtcopyDriver,
} from "../src/index";

const MiB = 2 ** 20;

const live: Array<{ kernel: Kernel; driver: MtcopyDriver }> = [];
afterEach(async () => {
  for (const { kernel, driver } of live.splice(0)) await runP(unloadAll(kernel, driver));
});

const unloadAll = (kernel: Kernel, driver: MtcopyDriver) =>
  Effect.gen(function* () {
    if (!kernel.modules.has("mtcopy")) return;
    yield* kernel.fs.write(`${MTCOPY_SYSFS_DIR}/offloading`, "0");
    yield* kernel.unloadModule("mtcopy");
    expect(driver.engine).toBeNull();
  });

const boot = async (
  options: MtcopyOptions = {},
  thp: "always" | "never" = "never",
  mthp = false,
) => {
  const sizes: Record<string, "always"> = mthp ? { "64kB": "always" } : {};
  const kernel = bootKernel({ thp: { enabled: thp, sizes } });
  const driver = mtcopyDriver(kernel, options);
  live.push({ kernel, driver });
  await runP(kernel.loadModule(driver.module));
  return { kernel, driver };
};

/** {@link moveRange}, run to completion. */
const moveAll = (...args: Parameters<typeof moveRange>) => runP(moveRange(...args));

describe("mtcopy: the module and /sys/kernel/cpu_mt", () => {
  it("creates offloading, threads and reasons with the kernel's parsing rules", async () => {
    const { kernel } = await boot();
    const read = (f: string) => run(kernel.fs.read(`${MTCOPY_SYSFS_DIR}/${f}`));
    const write = (f: string, v: string) => runP(kernel.fs.write(`${MTCOPY_SYSFS_DIR}/${f}`, v));
    expect([read("offloading"), read("threads"), read("reasons")]).toEqual(["0\n", "4\n", "all\n"]);
    for (const bad of ["0", "65", "-1", "x", "4 "]) {
      expect(await errnoOf(kernel.fs.write(`${MTCOPY_SYSFS_DIR}/threads`, bad))).toBe("EINVAL");
    }
    // sysfs_kf_write() (fs/sysfs/file.c) returns 0 for an empty write before the store runs.
    expect(await write("threads", "")).toBe(0);
    expect(read("threads")).toBe("4\n");
    // "\0" is one byte whose C string is empty: kstrtouint("") is EINVAL.
    expect(await errnoOf(kernel.fs.write(`${MTCOPY_SYSFS_DIR}/threads`, "\u0000"))).toBe("EINVAL");
    expect(await write("threads", "8\u0000junk")).toBe(6);
    expect(read("threads")).toBe("8\n");
    await write("threads", "4");
    expect(await errnoOf(kernel.fs.write(`${MTCOPY_SYSFS_DIR}/threads`, "99999999999"))).toBe(
      "ERANGE",
    );
    expect(read("threads")).toBe("4\n");
    await write("threads", "0x10\n");
    expect(read("threads")).toBe("16\n");
    await write("threads", "auto");
    expect(read("threads")).toBe("auto\n");
    expect(await errnoOf(kernel.fs.write(`${MTCOPY_SYSFS_DIR}/offloading`, "2"))).toBe("EINVAL");
    expect(await errnoOf(kernel.fs.write(`${MTCOPY_SYSFS_DIR}/offloading`, "yes"))).toBe("EINVAL");
    await write("offloading", "1\n");
    expect(read("offloading")).toBe("1\n");
    expect(run(kernel.fs.read("/sys/kernel/mm/migration/offload_migrator"))).toBe(
      "none [CPU_MT_COPY]\n",
    );
    expect(await errnoOf(kernel.unloadModule("mtcopy"))).toBe("EBUSY");
    await write("reasons", "compaction,syscall_or_cpuset");
    expect(read("reasons")).toBe("compaction,syscall_or_cpuset\n");
    expect(await errnoOf(kernel.fs.write(`${MTCOPY_SYSFS_DIR}/reasons`, "sometimes"))).toBe(
      "EINVAL",
    );
    await write("offloading", "0");
    expect(run(kernel.fs.read("/sys/kernel/mm/migration/offload_migrator"))).toBe(
      "[none] CPU_MT_COPY\n",
    );
  });
});

describe("mtcopy: offloading agrees with offload_migrator", () => {
  it("reads 0 once another migrator or none is switched in, and is then switched off and back cleanly", async () => {
    const { kernel } = await boot({ threads: 2 });
    const offloading = `${MTCOPY_SYSFS_DIR}/offloading`;
    await runP(kernel.fs.write(offloading, "1"));
    await runP(kernel.fs.write("/sys/kernel/mm/migration/offload_migrator", "none"));
    expect(run(kernel.fs.read(offloading))).toBe("0\n");
    await runP(kernel.fs.write(offloading, "0"));
    await runP(kernel.fs.write("/sys/kernel/mm/migration/offload_migrator", "CPU_MT_COPY"));
    expect(run(kernel.fs.read(offloading))).toBe("1\n");
    const proc = run(kernel.createProcess());
    const addr = mapPattern(proc, 16 * 4096, 9);
    expect((await moveAll(proc, addr, 16 * 4096, 1)).rc).toBe(0);
    expect(kernel.migrateOffload.counters("CPU_MT_COPY")!.foliosCopied).toBe(16);
  });
});

describe("mtcopy: the seed's strategies, byte for byte", () => {
  it("splits every folio across the threads when a batch has fewer folios than threads", async () => {
    const { kernel, driver } = await boot({ threads: 4 }, "always");
    await runP(kernel.fs.write(`${MTCOPY_SYSFS_DIR}/offloading`, "1"));
    const proc = run(kernel.createProcess());
    const addr = mapPattern(proc, 4 * MiB, 1, true);
    const r = await moveAll(proc, addr, 4 * MiB, 1, 2 * MiB);
    expect([...r.status]).toEqual([1, 1]);
    expect(patternIntact(proc, addr, 4 * MiB, 1)).toBe(true);
    expect(kernel.migrateOffload.counters("CPU_MT_COPY")).toMatchObject({
      batchesOffloaded: 2,
      foliosCopied: 2,
      foliosFallenBack: 0,
    });
    expect(driver.engine!.threads).toBe(4);
  });

  it("deals whole folios out when a batch has more folios than threads", async () => {
    const { kernel } = await boot({ threads: 3 });
    await runP(kernel.fs.write(`${MTCOPY_SYSFS_DIR}/offloading`, "1"));
    const proc = run(kernel.createProcess());
    const addr = mapPattern(proc, 100 * 4096, 2);
    const r = await moveAll(proc, addr, 100 * 4096, 1);
    expect(r.rc).toBe(0);
    expect(patternIntact(proc, addr, 100 * 4096, 2)).toBe(true);
    expect(kernel.migrateOffload.counters("CPU_MT_COPY")).toMatchObject({
      batchesOffloaded: 1,
      foliosCopied: 100,
      foliosFallenBack: 0,
    });
  });

  it("balances a batch of mixed folio sizes with padata", async () => {
    const { kernel } = await boot({ threads: 2 }, "never", true);
    const proc = run(kernel.createProcess());
    const small = mapPattern(proc, 16 * 4096, 3, false);
    const mthp = mapPattern(proc, 512 * 1024, 4);
    expect(run(kernel.fs.read("/sys/kernel/mm/transparent_hugepage/hugepages-64kB/enabled"))).toBe(
      "[always] inherit madvise never\n",
    );
    await runP(kernel.fs.write(`${MTCOPY_SYSFS_DIR}/offloading`, "1"));
    const pages = [
      ...Array.from({ length: 16 }, (_, i) => small + i * 4096),
      ...Array.from({ length: 8 }, (_, i) => mthp + i * 65536),
    ];
    const r = await runP(
      proc.movePages(
        0,
        pages,
        pages.map(() => 1),
      ),
    );
    expect([...r.status].every((s) => s === 1)).toBe(true);
    expect(patternIntact(proc, small, 16 * 4096, 3)).toBe(true);
    expect(patternIntact(proc, mthp, 512 * 1024, 4)).toBe(true);
    expect(kernel.migrateOffload.counters("CPU_MT_COPY")).toMatchObject({
      batchesOffloaded: 1,
      foliosCopied: 24,
    });
  });
});

describe("mtcopy: batches larger than the rings", () => {
  it("copies a batch in as many rounds as its rings need, and never marks a folio it did not copy", async () => {
    for (const [threads, pages, mthp] of [
      [3, 100, false],
      [2, 5, false],
      [2, 40, true],
    ] as const) {
      const { kernel } = await boot({ threads, ringCapacity: 8 }, "never", mthp);
      await runP(kernel.fs.write(`${MTCOPY_SYSFS_DIR}/offloading`, "1"));
      const proc = run(kernel.createProcess());
      const addr = mapPattern(proc, pages * 4096 * (mthp ? 16 : 1), 10);
      const small = mthp ? mapPattern(proc, 8 * 4096, 11, false) : 0;
      const bytes = pages * 4096 * (mthp ? 16 : 1);
      const step = mthp ? 65536 : 4096;
      const addrs = [
        ...Array.from({ length: bytes / step }, (_, i) => addr + i * step),
        ...(mthp ? Array.from({ length: 8 }, (_, i) => small + i * 4096) : []),
      ];
      const r = await runP(
        proc.movePages(
          0,
          addrs,
          addrs.map(() => 1),
        ),
      );
      expect(r.rc).toBe(0);
      expect(patternIntact(proc, addr, bytes, 10)).toBe(true);
      if (mthp) expect(patternIntact(proc, small, 8 * 4096, 11)).toBe(true);
      const c = kernel.migrateOffload.counters("CPU_MT_COPY")!;
      expect(c.foliosFallenBack).toBe(0);
      expect(c.foliosCopied).toBe(addrs.length);
    }
  });
});

describe("mtcopy: failures", () => {
  it("fails the folio whose chunk meets poison with -EAGAIN; the CPU copy then reports -EHWPOISON", async () => {
    const { kernel } = await boot({ threads: 4 }, "always");
    await runP(kernel.fs.write(`${MTCOPY_SYSFS_DIR}/offloading`, "1"));
    const proc = run(kernel.createProcess());
    const addr = mapPattern(proc, 2 * MiB, 5, true);
    const head = run(proc.movePages(0, [addr], null, 0)).status[0]!;
    expect(head).toBe(0);
    run(kernel.injectMemoryError(folioAt(proc, addr).pfn + 300));
    const r = await moveAll(proc, addr, 2 * MiB, 1, 2 * MiB);
    // The folio fails with -EHWPOISON inside migrate_pages(): do_pages_move() (mm/migrate.c)
    // returns 1 and stores no status of the failed run; the folio stays on node 0.
    expect(r.rc).toBe(1);
    expect([...r.status]).toEqual([MOVE_PAGES_STATUS_UNWRITTEN]);
    expect(run(proc.nodeOf(addr))).toBe(0);
    expect(kernel.migrateOffload.counters("CPU_MT_COPY")!.copyFailures).toBeGreaterThan(0);
    expect(
      sameBytes(run(proc.read(addr, 300 * 4096)), pattern(2 * MiB, 5).subarray(0, 300 * 4096)),
    ).toBe(true);
  });

  for (const fault of ["crash", "exit", "hang"] as const) {
    it(`keeps every byte when a copy thread ${fault === "hang" ? "hangs" : fault === "crash" ? "throws" : "exits"}, and the pool heals`, async () => {
      const { kernel, driver } = await boot({ threads: 2, deadlineMs: 300 });
      await runP(kernel.fs.write(`${MTCOPY_SYSFS_DIR}/offloading`, "1"));
      const proc = run(kernel.createProcess());
      const addr = mapPattern(proc, 64 * 4096, 6);
      driver.engine!.inject(1, fault);
      expect((await moveAll(proc, addr, 64 * 4096, 1)).rc).toBe(0);
      expect(patternIntact(proc, addr, 64 * 4096, 6)).toBe(true);
      expect(kernel.migrateOffload.counters("CPU_MT_COPY")).toMatchObject({
        foliosCopied: 32,
        foliosFallenBack: 32,
        copyFailures: 1,
      });
      expect(driver.engine!.replaced).toBe(1);
      expect((await moveAll(proc, addr, 64 * 4096, 0)).rc).toBe(0);
      expect(kernel.migrateOffload.counters("CPU_MT_COPY")).toMatchObject({
        foliosCopied: 96,
        batchesOffloaded: 1,
      });
    });
  }

  it("can be switched off and unloaded while a copy is in flight; nothing is lost or left running", async () => {
    const { kernel, driver } = await boot({ threads: 2, deadlineMs: 300 });
    await runP(kernel.fs.write(`${MTCOPY_SYSFS_DIR}/offloading`, "1"));
    const proc = run(kernel.createProcess());
    const addr = mapPattern(proc, 32 * 4096, 7);
    driver.engine!.inject(0, "hang");
    const migration = Effect.runFork(Effect.promise(() => moveAll(proc, addr, 32 * 4096, 1)));
    await runP(Effect.yieldNow);
    const off = Effect.runFork(kernel.fs.write(`${MTCOPY_SYSFS_DIR}/offloading`, "0"));
    await runP(Effect.yieldNow);
    expect(off.pollUnsafe()).toBeUndefined();
    expect((await runP(Fiber.join(migration))).rc).toBe(0);
    await runP(Fiber.join(off));
    await runP(kernel.unloadModule("mtcopy"));
    expect(driver.engine).toBeNull();
    expect(patternIntact(proc, addr, 32 * 4096, 7)).toBe(true);
  });
});

describe("mtcopy: concurrency", () => {
  it("migrations running at once share the copy threads and keep every byte", async () => {
    const { kernel } = await boot({ threads: 2 });
    await runP(kernel.fs.write(`${MTCOPY_SYSFS_DIR}/offloading`, "1"));
    const procs = [0, 1, 2].map(() => run(kernel.createProcess()));
    const bytes = 256 * 4096;
    const addrs = procs.map((p, i) => mapPattern(p, bytes, 30 + i));
    const results = await runP(
      Effect.all(
        procs.map((p, i) => Effect.promise(() => moveAll(p, addrs[i]!, bytes, 1))),
        { concurrency: "unbounded" },
      ),
    );
    expect(results.map((r) => r.rc)).toEqual([0, 0, 0]);
    expect(procs.map((p, i) => patternIntact(p, addrs[i]!, bytes, 30 + i))).toEqual([
      true,
      true,
      true,
    ]);
    expect(kernel.migrateOffload.counters("CPU_MT_COPY")).toMatchObject({
      foliosCopied: 768,
      foliosFallenBack: 0,
    });
  });
});

/**
 * A hand-made profile: one thread copies 4 GB/s (4096 B in 1024 ns), a batch's dispatch costs
 * 60 µs, nothing else costs anything. 128 × 4 KiB on the CPU: 131072 ns.
 */
const AUTO_PROFILE: CopyCostProfile = {
  name: "fixed",
  kernel: { callNs: 0, folioNs: 0, pteNs: 0, pmdBytes: 2 * MiB },
  cpu: { threadGbps: 4, memGbps: 100, copyCallNs: 0 },
  threads: { dispatchNs: 60000, threadNs: 0 },
  dma: {
    channels: 16,
    engines: 16,
    chanGbps: 4,
    maxGbps: 64,
    setupNs: 0,
    chanNs: 0,
    folioCpuNs: 0,
    descNs: 0,
    pteNs: 0,
    completionNs: 0,
  },
};

describe("mtcopy: the auto policy (the copy-cost model)", () => {
  it("offloads only when the model predicts the threads finish first; counts and traces each decision", async () => {
    let idle = 0;
    const { kernel, driver } = await boot({
      threads: "auto",
      idleCpus: () => idle,
      costProfile: AUTO_PROFILE,
    });
    await runP(kernel.fs.write(`${MTCOPY_SYSFS_DIR}/offloading`, "1"));
    const events: MmMigrateOffloadDecision[] = [];
    kernel.trace.subscribe((e) => {
      if (e.event === "mm_migrate_offload_decision") events.push(e);
    });
    const read = (f: string) => run(kernel.fs.read(`${MTCOPY_SYSFS_DIR}/${f}`));
    const proc = run(kernel.createProcess());
    const big = mapPattern(proc, 128 * 4096, 8);
    const small = mapPattern(proc, 8 * 4096, 9);
    // No idle CPU: one thread, 60000 + 131072 ns against 131072 on the CPU: declined.
    expect((await moveAll(proc, big, 128 * 4096, 1)).rc).toBe(0);
    // Declined in should_batch, before the batch was formed: offload_copy never ran, so the
    // registry saw no batch (no -EOPNOTSUPP, no folio fallen back); the driver counted it.
    expect(kernel.migrateOffload.counters("CPU_MT_COPY")).toMatchObject({
      batchesDeclined: 0,
      batchesOffloaded: 0,
      foliosFallenBack: 0,
    });
    expect(events[0]).toEqual({
      event: "mm_migrate_offload_decision",
      migrator: "CPU_MT_COPY",
      taken: false,
      folios: 128,
      bytes: 128 * 4096,
      lanes: 1,
      idleCpus: 0,
      cpuNs: 131072,
      offloadNs: 191072,
      initiatorNs: 60000,
      correction: 1,
      basis: "model",
    });
    idle = 3;
    // 8 × 4 KiB on 4 threads: 60000 + 2048 ns against 8192: declined.
    expect((await moveAll(proc, small, 8 * 4096, 1)).rc).toBe(0);
    expect(events[1]).toMatchObject({ taken: false, lanes: 4, cpuNs: 8192, offloadNs: 62048 });
    // 128 × 4 KiB on 4 threads: 60000 + 32 folios × 1024 ns = 92768 against 131072: taken.
    expect((await moveAll(proc, big, 128 * 4096, 0)).rc).toBe(0);
    expect(events[2]).toMatchObject({ taken: true, lanes: 4, offloadNs: 92768 });
    expect(kernel.migrateOffload.counters("CPU_MT_COPY")).toMatchObject({
      batchesDeclined: 0,
      batchesOffloaded: 1,
      foliosCopied: 128,
      foliosFallenBack: 0,
    });
    expect(patternIntact(proc, big, 128 * 4096, 8)).toBe(true);
    expect(patternIntact(proc, small, 8 * 4096, 9)).toBe(true);
    expect([read("batches_taken"), read("batches_declined")]).toEqual(["1\n", "2\n"]);
    expect(driver.policy.declined).toBe(2);
    // Writing a counter resets it, as dcbm's folios_migrated_store() does.
    await runP(kernel.fs.write(`${MTCOPY_SYSFS_DIR}/batches_declined`, "0"));
    expect(read("batches_declined")).toBe("0\n");
  });

  it("learns from whole batches unless the learn option is false (the default learns): each batch turned down is the CPU's", async () => {
    for (const option of [false, true, undefined]) {
      const learn = option ?? true;
      const { kernel, driver } = await boot({
        threads: "auto",
        idleCpus: () => 0,
        costProfile: AUTO_PROFILE,
        ...(option === undefined ? {} : { learn: option }),
      });
      await runP(kernel.fs.write(`${MTCOPY_SYSFS_DIR}/offloading`, "1"));
      // Without learn no batchDone at all: a batch pays nothing to report its end.
      expect(kernel.migrateOffload.copier?.batchDone === undefined).toBe(!learn);
      const proc = run(kernel.createProcess());
      const big = mapPattern(proc, 128 * 4096, 8);
      // 128 × 4 KiB on one thread: declined by the model (above), twice.
      expect((await moveAll(proc, big, 128 * 4096, 1)).rc).toBe(0);
      expect((await moveAll(proc, big, 128 * 4096, 0)).rc).toBe(0);
      const learned = driver.policy.learner.estimate({
        folios: 128,
        bytes: 128 * 4096,
        pageSize: 4096,
      });
      expect(learned.cpuSamples).toBe(learn ? 2 : 0);
      expect(learned.offloadSamples).toBe(0);
      expect(patternIntact(proc, big, 128 * 4096, 8)).toBe(true);
    }
  });

  it("a fixed thread count offloads every batch, as the seed does, and counts no decision", async () => {
    const { kernel } = await boot({ threads: 2, costProfile: AUTO_PROFILE });
    await runP(kernel.fs.write(`${MTCOPY_SYSFS_DIR}/offloading`, "1"));
    const proc = run(kernel.createProcess());
    const small = mapPattern(proc, 8 * 4096, 9);
    expect((await moveAll(proc, small, 8 * 4096, 1)).rc).toBe(0);
    expect(kernel.migrateOffload.counters("CPU_MT_COPY")).toMatchObject({ batchesOffloaded: 1 });
    expect(run(kernel.fs.read(`${MTCOPY_SYSFS_DIR}/batches_declined`))).toBe("0\n");
  });

  it("with no profile, auto calibrates on its copy threads at its first batch and gives back the pages it used", async () => {
    const { kernel, driver } = await boot({ threads: "auto", idleCpus: () => 1 });
    await runP(kernel.fs.write(`${MTCOPY_SYSFS_DIR}/offloading`, "1"));
    const proc = run(kernel.createProcess());
    const addr = mapPattern(proc, 64 * 4096, 5);
    const free = kernel.pageAlloc.nodeFreePages(0);
    expect(driver.policy.costProfile).toBeNull();
    expect((await moveAll(proc, addr, 64 * 4096, 1)).rc).toBe(0);
    const profile = driver.policy.costProfile;
    expect(profile?.name).toBe("calibrated");
    expect(parseCopyCostProfile(JSON.parse(JSON.stringify(profile)))).toEqual(profile);
    expect(driver.policy.taken + driver.policy.declined).toBe(1);
    expect(patternIntact(proc, addr, 64 * 4096, 5)).toBe(true);
    // The 64 pages moved off node 0 came back to it free; calibration's blocks did too.
    expect(kernel.pageAlloc.nodeFreePages(0)).toBe(free + 64);
  });
});

describe("idleCpusOf: the CPUs auto's copy threads may use besides the initiator's", () => {
  it("counts the CPUs other processes leave, this process's own load not among them", () => {
    // 2 CPUs, load 1.6 of which this process makes 1.5: others 0.1, round(2 - 0.1 - 1) = 1.
    expect(idleCpusOf(2, 1.6, 1.5)).toBe(1);
    // The same load made by another process: round(2 - 1.6 - 1) = round(-0.6), none.
    expect(idleCpusOf(2, 1.6, 0)).toBe(0);
    // A CPU others keep busy less than half the time is idle: round(2 - 0.4 - 1) = 1; more, not.
    expect(idleCpusOf(2, 0.4, 0)).toBe(1);
    expect(idleCpusOf(2, 0.6, 0)).toBe(0);
    // A loaded machine (load average 12, this process 1.5): none of 2; of 16, round(4.5) = 5.
    expect(idleCpusOf(2, 12, 1.5)).toBe(0);
    expect(idleCpusOf(16, 12, 1.5)).toBe(5);
    // This process busier than the load average says (it lags a minute): the others count 0,
    // and never more than every CPU but the initiator's.
    expect(idleCpusOf(4, 1, 3)).toBe(3);
    expect(idleCpusOf(1, 0, 0)).toBe(0);
  });
});
