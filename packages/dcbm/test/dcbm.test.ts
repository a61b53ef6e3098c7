import {
  type CopyCostProfile,
  ERRNO,
  type Kernel,
  MIGRATE_REASONS_ALL,
  type MmMigrateOffloadDecision,
  MOVE_PAGES_STATUS_UNWRITTEN,
  MPOL_BIND,
  MR_COMPACTION,
  MR_TYPES,
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
  waitUntil,
} from "@migrate-offload/core/testing";
import { Effect, Fiber } from "effect";
import { TestClock } from "effect/testing";
import { describe, expect, it } from "vitest";
import {
  DCBM_SYSFS_DIR,
  type DcbmOptions,
  DMA_TO_DEVICE,
  type DmaDevice,
  type DmaDeviceOptions,
  dcbmDriver,
  dmaMapSgtable,
  dmaUnmapSgtable,
  type SgTable,
  sgAllocTable,
  sgSetFolio,
} from "../src/index";
import { type DmaFault, dmaInjectFault, dmaReleaseStalled } from "../src/testing";
import { addDevice } from "./helpers";

const MiB = 2 ** 20;
const MIGRATOR = "/sys/kernel/mm/migration/offload_migrator";

const boot = async (
  device: DmaDeviceOptions = {},
  options: DcbmOptions = {},
  thp: "always" | "never" = "never",
) => {
  const kernel = bootKernel({ thp: { enabled: thp } });
  const dma = addDevice(kernel, device);
  const driver = dcbmDriver(kernel, options);
  await runP(kernel.loadModule(driver.module));
  return { kernel, dma, driver };
};

const write = (kernel: Kernel, file: string, value: string) =>
  runP(kernel.fs.write(`${DCBM_SYSFS_DIR}/${file}`, value));
const read = (kernel: Kernel, file: string) => run(kernel.fs.read(`${DCBM_SYSFS_DIR}/${file}`));

/** Nothing of the device is left held: channels, mappings, running or stalled work. */
const expectIdle = (dma: DmaDevice) => {
  expect({
    channels: dma.channelsInUse,
    mappings: dma.iommu?.mappings ?? 0,
    chunks: dma.chunksInFlight,
    stalled: dma.stalledDescriptors,
  }).toEqual({ channels: 0, mappings: 0, chunks: 0, stalled: 0 });
};

const settle = () => Effect.promise(() => new Promise((r) => setTimeout(r, 20)));

describe("dcbm: the module and /sys/kernel/dcbm", () => {
  it("makes its controls module parameters too (v6), the same files as the seed's directory", async () => {
    const { kernel } = await boot();
    const params = "/sys/module/dcbm/parameters";
    expect(run(kernel.fs.list(params))).toEqual([
      "folios_failures",
      "folios_migrated",
      "nr_dma_chan",
      "offloading",
      "reason_mask",
    ]);
    run(kernel.fs.write(`${params}/nr_dma_chan`, "4"));
    expect(read(kernel, "nr_dma_chan")).toBe("4\n");
    await runP(kernel.fs.write(`${DCBM_SYSFS_DIR}/offloading`, "1"));
    expect(run(kernel.fs.read(`${params}/offloading`))).toBe("1\n");
    run(kernel.fs.write(`${params}/reason_mask`, String(1 << MR_COMPACTION)));
    expect(run(kernel.fs.read(`${params}/reason_mask`))).toBe("compaction\n");
    await runP(kernel.fs.write(`${params}/offloading`, "0"));
    expect(read(kernel, "offloading")).toBe("0\n");
  });

  it("creates its control files with the kernel's parsing rules", async () => {
    const { kernel, driver } = await boot();
    expect(
      ["offloading", "nr_dma_chan", "folios_migrated", "folios_failures", "completion"].map((f) =>
        read(kernel, f),
      ),
    ).toEqual(["0\n", "1\n", "0\n", "0\n", "[interrupt] polling\n"]);
    for (const bad of ["0", "17", "-1", "x", "\u0000", "4 "]) {
      expect(await errnoOf(kernel.fs.write(`${DCBM_SYSFS_DIR}/nr_dma_chan`, bad)), bad).toBe(
        "EINVAL",
      );
    }
    for (const file of ["nr_dma_chan", "offloading"])
      expect(await runP(kernel.fs.write(`${DCBM_SYSFS_DIR}/${file}`, "")), file).toBe(0);
    expect([read(kernel, "nr_dma_chan"), read(kernel, "offloading")]).toEqual(["1\n", "0\n"]);
    expect(await errnoOf(kernel.fs.write(`${DCBM_SYSFS_DIR}/nr_dma_chan`, "4294967296"))).toBe(
      "ERANGE",
    );
    await write(kernel, "nr_dma_chan", "0x10\n");
    expect(read(kernel, "nr_dma_chan")).toBe("16\n");
    for (const bad of ["2", "maybe", "\u0000"]) {
      expect(await errnoOf(kernel.fs.write(`${DCBM_SYSFS_DIR}/offloading`, bad)), bad).toBe(
        "EINVAL",
      );
    }
    expect(await errnoOf(kernel.fs.write(`${DCBM_SYSFS_DIR}/completion`, "sometimes"))).toBe(
      "EINVAL",
    );
    await write(kernel, "completion", "polling\n");
    expect(read(kernel, "completion")).toBe("interrupt [polling]\n");
    expect(run(kernel.fs.read(MIGRATOR))).toBe("[none] DCBM\n");
    await write(kernel, "offloading", "y");
    expect(read(kernel, "offloading")).toBe("1\n");
    expect(driver.offloading).toBe(true);
    expect(run(kernel.fs.read(MIGRATOR))).toBe("none [DCBM]\n");
    await write(kernel, "offloading", "1");
    expect(await errnoOf(kernel.unloadModule("dcbm"))).toBe("EBUSY");
    const param = "/sys/module/dcbm/parameters/reason_mask";
    expect(run(kernel.fs.read(param))).toBe(
      "compaction,syscall_or_cpuset,numa_misplaced,demotion\n",
    );
    expect(await errnoOf(kernel.fs.write(param, "whenever"))).toBe("EINVAL");
    await runP(kernel.fs.write(param, "demotion"));
    expect(run(kernel.fs.read(param))).toBe("demotion\n");
    await write(kernel, "offloading", "off");
    expect(run(kernel.fs.read(MIGRATOR))).toBe("[none] DCBM\n");
    await runP(kernel.unloadModule("dcbm"));
    expect(kernel.fs.exists(DCBM_SYSFS_DIR)).toBe(false);
    expect(kernel.fs.exists("/sys/module/dcbm")).toBe(false);
  });

  it("offers only the seed's reasons, narrowed by the registry's and its own reason mask", async () => {
    const { kernel, driver } = await boot({ channels: 2, engines: 1 });
    const should = (reason: number) => driver.migrator.shouldBatch!(reason as never);
    // MR_COMPACTION 0, MR_SYSCALL 3, MR_NUMA_MISPLACED 5, MR_DEMOTION 8; not MR_MEMORY_FAILURE 1.
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8].map(should)).toEqual([
      true,
      false,
      false,
      true,
      false,
      true,
      false,
      false,
      true,
    ]);
    await write(kernel, "offloading", "1");
    await runP(kernel.fs.write("/sys/kernel/mm/migration/offload_reasons", "demotion"));
    const proc = run(kernel.createProcess());
    const addr = mapPattern(proc, 16 * 4096, 3);
    expect((await runP(moveRange(proc, addr, 16 * 4096, 1))).rc).toBe(0);
    expect(driver.foliosMigrated).toBe(0);
    await runP(kernel.fs.write("/sys/kernel/mm/migration/offload_reasons", "all"));
    expect((await runP(moveRange(proc, addr, 16 * 4096, 0))).rc).toBe(0);
    expect(driver.foliosMigrated).toBe(16);
    expect(patternIntact(proc, addr, 16 * 4096, 3)).toBe(true);
  });
});

describe("dcbm: v6's every reason, one write away", () => {
  it("takes `all` (or the raw mask of every MR_* bit) in reason_mask and then batches every reason", async () => {
    const { kernel, driver } = await boot({ channels: 2, engines: 1 });
    const should = (reason: number) => driver.migrator.shouldBatch!(reason as never);
    const param = "/sys/module/dcbm/parameters/reason_mask";
    // v6 registers dcbm with every reason allowed; the default stays the seed's four.
    await runP(kernel.fs.write(param, "all"));
    const every = Array.from({ length: MR_TYPES }, (_, r) => r);
    expect(every.map(should)).toEqual(every.map(() => true));
    const all = run(kernel.fs.read(param));
    await runP(kernel.fs.write(param, "none"));
    expect(every.some(should)).toBe(false);
    await runP(kernel.fs.write(param, String(MIGRATE_REASONS_ALL)));
    expect(run(kernel.fs.read(param))).toBe(all);
    expect(every.map(should)).toEqual(every.map(() => true));
  });
});

describe("dcbm: offloading agrees with offload_migrator", () => {
  it("reads 0 once another migrator or none is switched in, and is then switched off and back cleanly", async () => {
    const { kernel } = await boot({ channels: 2 });
    await write(kernel, "offloading", "1");
    await runP(kernel.fs.write("/sys/kernel/mm/migration/offload_migrator", "none"));
    expect(read(kernel, "offloading")).toBe("0\n");
    await write(kernel, "offloading", "0");
    await runP(kernel.fs.write("/sys/kernel/mm/migration/offload_migrator", "DCBM"));
    expect(read(kernel, "offloading")).toBe("1\n");
    const proc = run(kernel.createProcess());
    const addr = mapPattern(proc, 16 * 4096, 9);
    expect((await runP(moveRange(proc, addr, 16 * 4096, 1))).rc).toBe(0);
    expect(read(kernel, "folios_migrated")).toBe("16\n");
    await write(kernel, "offloading", "0");
    await runP(kernel.unloadModule("dcbm"));
  });
});

describe("dcbm: copies", () => {
  it("spreads a batch over min(nr_dma_chan, nr_folios, 16) channels by the seed's split", async () => {
    const { kernel, dma, driver } = await boot({ channels: 16, engines: 2 });
    await write(kernel, "nr_dma_chan", "3");
    await write(kernel, "offloading", "1");
    const proc = run(kernel.createProcess());
    const addr = mapPattern(proc, 10 * 4096, 4);
    const r = await runP(moveRange(proc, addr, 10 * 4096, 1));
    expect([...r.status]).toEqual(Array(10).fill(1));
    expect(patternIntact(proc, addr, 10 * 4096, 4)).toBe(true);
    // Folios [0,3), [3,6), [6,10).
    expect(dma.channels.slice(0, 4).map((c) => c.bytesTransferred / 4096)).toEqual([3, 3, 4, 0]);
    expect([read(kernel, "folios_migrated"), read(kernel, "folios_failures")]).toEqual([
      "10\n",
      "0\n",
    ]);
    expect(kernel.migrateOffload.counters("DCBM")).toMatchObject({
      batchesOffloaded: 1,
      foliosCopied: 10,
      foliosFallenBack: 0,
    });
    // Two folios, sixteen channels wanted: two used.
    await write(kernel, "nr_dma_chan", "16");
    const two = mapPattern(proc, 2 * 4096, 5);
    expect((await runP(moveRange(proc, two, 2 * 4096, 1))).rc).toBe(0);
    expect(dma.channels.filter((c) => c.bytesTransferred > 0).length).toBe(3);
    expect(driver.foliosMigrated).toBe(12);
    // sysfs_kf_write() (fs/sysfs/file.c) returns 0 for an empty write before the store runs.
    expect(await runP(kernel.fs.write(`${DCBM_SYSFS_DIR}/folios_migrated`, ""))).toBe(0);
    expect(read(kernel, "folios_migrated")).toBe("12\n");
    await write(kernel, "folios_migrated", "0");
    expect(read(kernel, "folios_migrated")).toBe("0\n");
    expectIdle(dma);
  });

  it("moves THPs byte for byte over many channels, with interrupts or by polling", async () => {
    for (const completion of ["interrupt", "polling"] as const) {
      const { kernel, dma, driver } = await boot(
        { channels: 16, engines: 2, chunkBytes: MiB },
        { nrDmaChan: 8, completion },
        "always",
      );
      await write(kernel, "offloading", "1");
      const proc = run(kernel.createProcess());
      const addr = mapPattern(proc, 16 * MiB, 6, true);
      const r = await runP(moveRange(proc, addr, 16 * MiB, 1, 2 * MiB));
      expect([...r.status]).toEqual(Array(8).fill(1));
      expect(patternIntact(proc, addr, 16 * MiB, 6)).toBe(true);
      expect(driver.foliosMigrated).toBe(8);
      if (completion === "polling") expect(dma.interrupts).toBe(0);
      else expect(dma.interrupts).toBeGreaterThan(0);
      expectIdle(dma);
    }
  });

  it("prepares a descriptor per mapped segment: 16 folios of 4 KiB to one behind an IOMMU, whatever their layout; one each without", async () => {
    // dma_map_sgtable() of a channel's 32 folios: iommu_dma_map_sg() (drivers/iommu/dma-iommu.c)
    // concatenates them into two 64 KiB segments (dma_get_max_seg_size() of a PCI device);
    // dma_direct_map_sg() (kernel/dma/direct.c) gives each its own.
    for (const [iommu, descriptors] of [
      [true, 4],
      [false, 64],
    ] as const) {
      const { kernel, dma, driver } = await boot(
        { channels: 4, engines: 2, iommu },
        { nrDmaChan: 2 },
      );
      const proc = run(kernel.createProcess());
      const addr = mapPattern(proc, 64 * 4096, 7);
      // Destinations come from a node where no two free pages are neighbours.
      run(kernel.fragment(1, 0));
      await write(kernel, "offloading", "1");
      const r = await runP(moveRange(proc, addr, 64 * 4096, 1));
      expect(r.rc).toBe(0);
      expect(dma.channels.reduce((n, c) => n + c.memcpyCount, 0)).toBe(descriptors);
      expect(dma.channels.reduce((n, c) => n + c.bytesTransferred, 0)).toBe(64 * 4096);
      expect(patternIntact(proc, addr, 64 * 4096, 7)).toBe(true);
      expect(driver.foliosMigrated).toBe(64);
      expect(driver.foliosFailures).toBe(0);
      expectIdle(dma);
    }
  });

  it("never splits a 2 MiB folio: one 2 MiB descriptor per THP batch; with the series' PUD-sized batches, one per channel behind an IOMMU", async () => {
    // migrate_pages() (mm/migrate.c) ends a batch once it holds NR_MAX_BATCHED_MIGRATION pages,
    // HPAGE_PMD_NR by default: each THP is a batch of its own. The series raises it to
    // HPAGE_PUD_NR; then a channel maps its four THPs in one table, and __finalise_sg()
    // (drivers/iommu/dma-iommu.c) concatenates what follows an entry longer than the 64 KiB
    // maximum (its unsigned max_len - cur_len wraps): one 8 MiB segment. dma-direct: four.
    for (const [iommu, pudBatches, descriptors] of [
      [true, false, 4],
      [false, false, 4],
      [true, true, 1],
      [false, true, 4],
    ] as const) {
      const { kernel, dma, driver } = await boot(
        { channels: 1, engines: 1, iommu },
        { nrDmaChan: 1 },
        "always",
      );
      if (pudBatches) kernel.nrMaxBatchedMigration = 2 ** kernel.pudOrder;
      await write(kernel, "offloading", "1");
      const proc = run(kernel.createProcess());
      const addr = mapPattern(proc, 8 * MiB, 14, true);
      const r = await runP(moveRange(proc, addr, 8 * MiB, 1, 2 * MiB));
      expect([...r.status]).toEqual(Array(4).fill(1));
      expect(dma.channels[0]!.memcpyCount, `${iommu} ${pudBatches}`).toBe(descriptors);
      expect(dma.channels[0]!.bytesTransferred).toBe(8 * MiB);
      expect(patternIntact(proc, addr, 8 * MiB, 14)).toBe(true);
      expect(driver.foliosMigrated).toBe(4);
      expectIdle(dma);
    }
  });

  it("never reports a batch done before every descriptor completed on an out-of-order device", async () => {
    const { kernel, dma, driver } = await boot(
      { channels: 2, engines: 2, outOfOrder: true, chunkBytes: 4096, iommu: false },
      { nrDmaChan: 1 },
    );
    await write(kernel, "offloading", "1");
    const proc = run(kernel.createProcess());
    const addr = mapPattern(proc, 8 * 4096, 8);
    dmaInjectFault(dma, { kind: "hang", after: 0 });
    const migration = Effect.runFork(moveRange(proc, addr, 8 * 4096, 1));
    await runP(waitUntil(() => dma.stalledDescriptors === 1 && dma.chunksInFlight === 0));
    await runP(settle());
    // The last descriptor (with the interrupt) and all but the first completed: not done yet.
    expect(migration.pollUnsafe()).toBeUndefined();
    dmaReleaseStalled(dma);
    const r = await runP(Fiber.join(migration));
    expect(r.rc).toBe(0);
    expect(driver.foliosMigrated).toBe(8);
    expect(driver.foliosFailures).toBe(0);
    expect(patternIntact(proc, addr, 8 * 4096, 8)).toBe(true);
    expectIdle(dma);
  });
});

describe("dcbm: failures fall back to the CPU, losing nothing and leaking nothing", () => {
  const cases: Array<{ fault: DmaFault; migrated: number; why: number }> = [
    // Four channels of four folios each; the fault hits one step.
    { fault: { kind: "request" }, migrated: 0, why: -ERRNO.ENODEV },
    { fault: { kind: "prep", after: 5 }, migrated: 12, why: -ERRNO.EIO },
    { fault: { kind: "submit", after: 9 }, migrated: 12, why: -ERRNO.EIO },
    { fault: { kind: "worker", after: 2 }, migrated: -1, why: -ERRNO.EIO },
    { fault: { kind: "completion", after: 14 }, migrated: 15, why: -ERRNO.EIO },
  ];
  for (const { fault, migrated } of cases) {
    it(`${fault.kind}${fault.after ? ` (after ${fault.after})` : ""}`, async () => {
      const { kernel, dma, driver } = await boot(
        { channels: 4, engines: 2, chunkBytes: 4096, iommu: false },
        { nrDmaChan: 4 },
      );
      await write(kernel, "offloading", "1");
      const proc = run(kernel.createProcess());
      const addr = mapPattern(proc, 16 * 4096, 9);
      const spawned = dma.enginesSpawned;
      dmaInjectFault(dma, fault);
      const r = await runP(moveRange(proc, addr, 16 * 4096, 1));
      expect([...r.status]).toEqual(Array(16).fill(1));
      expect(patternIntact(proc, addr, 16 * 4096, 9)).toBe(true);
      if (migrated >= 0) expect(driver.foliosMigrated).toBe(migrated);
      else expect(driver.foliosMigrated).toBeLessThan(16);
      expect(driver.foliosMigrated + driver.foliosFailures).toBe(16);
      expect(kernel.migrateOffload.counters("DCBM")).toMatchObject({
        copyFailures: 1,
        foliosCopied: driver.foliosMigrated,
        foliosFallenBack: driver.foliosFailures,
      });
      expect(dma.engines).toBe(2);
      expect(dma.enginesSpawned).toBe(spawned + (fault.kind === "worker" ? 1 : 0));
      expectIdle(dma);
    });
  }

  it("a full IOVA space fails a channel's dma_map_sgtable() with -ENOMEM: its folios fall back and count as failures", async () => {
    const { kernel, dma, driver } = await boot({ channels: 2, engines: 1 }, { nrDmaChan: 2 });
    await write(kernel, "offloading", "1");
    const proc = run(kernel.createProcess());
    const addr = mapPattern(proc, 8 * 4096, 13);
    // Fill the device's IOVA space, then free room for three ranges: channel 0's source and
    // destination and channel 1's source. Channel 1's destination finds none.
    const page = run(kernel.allocFolio(0, 0));
    const fillers: SgTable[] = [];
    for (;;) {
      const sgt = sgAllocTable(1) as SgTable;
      sgSetFolio(sgt, 0, page.pfn, 4096);
      if (dmaMapSgtable(dma, sgt, DMA_TO_DEVICE) !== 0) break;
      fillers.push(sgt);
    }
    for (const sgt of fillers.splice(0, 3)) dmaUnmapSgtable(dma, sgt);
    const r = await runP(moveRange(proc, addr, 8 * 4096, 1));
    expect([...r.status]).toEqual(Array(8).fill(1));
    expect(patternIntact(proc, addr, 8 * 4096, 13)).toBe(true);
    // setup_sg_tables() failed for channel 1 only: its four folios took the CPU copy.
    expect([driver.foliosMigrated, driver.foliosFailures]).toEqual([4, 4]);
    expect(kernel.migrateOffload.counters("DCBM")).toMatchObject({
      copyFailures: 1,
      foliosCopied: 4,
      foliosFallenBack: 4,
    });
    expect(dma.iommu!.mappings).toBe(fillers.length);
    for (const sgt of fillers) dmaUnmapSgtable(dma, sgt);
    expectIdle(dma);
  });

  it("poison in a source fails that folio's descriptor; the CPU copy then reports -EHWPOISON", async () => {
    const { kernel, dma, driver } = await boot(
      { channels: 2, engines: 1 },
      { nrDmaChan: 2 },
      "always",
    );
    await write(kernel, "offloading", "1");
    const proc = run(kernel.createProcess());
    const addr = mapPattern(proc, 4 * MiB, 10, true);
    const head = run(proc.movePages(0, [addr], null, 0)).status[0]!;
    expect(head).toBe(0);
    run(kernel.injectMemoryError(folioAt(proc, addr).pfn + 300));
    const r = await runP(moveRange(proc, addr, 4 * MiB, 1, 2 * MiB));
    // The run of both folios fails one (-EHWPOISON inside migrate_pages()): do_pages_move()
    // (mm/migrate.c) returns 1 and stores no status of the run; the other folio moved.
    expect(r.rc).toBe(1);
    expect([...r.status]).toEqual([MOVE_PAGES_STATUS_UNWRITTEN, MOVE_PAGES_STATUS_UNWRITTEN]);
    expect([run(proc.nodeOf(addr)), run(proc.nodeOf(addr + 2 * MiB))]).toEqual([0, 1]);
    // The poisoned folio is offered again on the retry pass, and fails again.
    expect(driver.foliosMigrated).toBe(1);
    expect(driver.foliosFailures).toBeGreaterThanOrEqual(1);
    expect(kernel.migrateOffload.counters("DCBM")).toMatchObject({
      foliosCopied: 1,
      foliosFallenBack: driver.foliosFailures,
    });
    expect(
      sameBytes(run(proc.read(addr + 2 * MiB, 2 * MiB)), pattern(4 * MiB, 10).subarray(2 * MiB)),
    ).toBe(true);
    expectIdle(dma);
  });

  it("times out after 10 s on Effect's clock when a descriptor never completes", async () => {
    const { kernel, dma, driver } = await boot(
      { channels: 2, engines: 1, chunkBytes: 4096, iommu: false },
      { nrDmaChan: 2 },
    );
    await write(kernel, "offloading", "1");
    const proc = run(kernel.createProcess());
    const addr = mapPattern(proc, 8 * 4096, 11);
    dmaInjectFault(dma, { kind: "hang", after: 1 });
    const result = await runP(
      Effect.gen(function* () {
        const fiber = yield* Effect.forkChild(moveRange(proc, addr, 8 * 4096, 1));
        yield* waitUntil(() => dma.stalledDescriptors === 1 && dma.chunksInFlight === 0);
        yield* TestClock.adjust("9999 millis");
        yield* settle();
        const early = fiber.pollUnsafe();
        yield* TestClock.adjust("1 millis");
        return { early, r: yield* Fiber.join(fiber) };
      }).pipe(Effect.provide(TestClock.layer())),
    );
    expect(result.early).toBeUndefined();
    expect(result.r.rc).toBe(0);
    expect(patternIntact(proc, addr, 8 * 4096, 11)).toBe(true);
    // Channel 0 held folios 0-3 and its second descriptor hung, holding up the two after it:
    // folio 0 and channel 1's four were copied, folios 1-3 fell back.
    expect(driver.foliosMigrated).toBe(5);
    expect(driver.foliosFailures).toBe(3);
    expect(kernel.migrateOffload.counters("DCBM")!.copyFailures).toBe(1);
    expectIdle(dma);
  });
});

describe("dcbm: concurrency", () => {
  it("migrations running at once share the device; the counters stay exact", async () => {
    const { kernel, dma, driver } = await boot({ channels: 16, engines: 2 }, { nrDmaChan: 12 });
    await write(kernel, "offloading", "1");
    const procs = [0, 1, 2].map(() => run(kernel.createProcess()));
    const addrs = procs.map((p, i) => mapPattern(p, 64 * 4096, 20 + i));
    const results = await runP(
      Effect.all(
        procs.map((p, i) => moveRange(p, addrs[i]!, 64 * 4096, 1)),
        { concurrency: "unbounded" },
      ),
    );
    expect(results.map((r) => r.rc)).toEqual([0, 0, 0]);
    expect(procs.map((p, i) => patternIntact(p, addrs[i]!, 64 * 4096, 20 + i))).toEqual([
      true,
      true,
      true,
    ]);
    expect(driver.foliosMigrated + driver.foliosFailures).toBe(192);
    const c = kernel.migrateOffload.counters("DCBM")!;
    expect(c.foliosCopied).toBe(driver.foliosMigrated);
    expect(c.foliosFallenBack).toBe(driver.foliosFailures);
    expect(dma.channels.reduce((n, ch) => n + ch.bytesTransferred, 0)).toBe(
      driver.foliosMigrated * 4096,
    );
    expectIdle(dma);
  });

  it("switching offloading off waits for DMA in flight; then the module can go", async () => {
    const { kernel, dma, driver } = await boot({
      channels: 2,
      engines: 1,
      chunkBytes: 4096,
      iommu: false,
    });
    await write(kernel, "offloading", "1");
    const proc = run(kernel.createProcess());
    const addr = mapPattern(proc, 8 * 4096, 12);
    dmaInjectFault(dma, { kind: "hang", after: 3 });
    const migration = Effect.runFork(moveRange(proc, addr, 8 * 4096, 1));
    await runP(waitUntil(() => dma.stalledDescriptors === 1));
    const off = Effect.runFork(kernel.fs.write(`${DCBM_SYSFS_DIR}/offloading`, "0"));
    await runP(settle());
    expect(off.pollUnsafe()).toBeUndefined();
    expect(await errnoOf(kernel.unloadModule("dcbm"))).toBe("EBUSY");
    dmaReleaseStalled(dma);
    expect((await runP(Fiber.join(migration))).rc).toBe(0);
    await runP(Fiber.join(off));
    expect(driver.offloading).toBe(false);
    await runP(kernel.unloadModule("dcbm"));
    expect(patternIntact(proc, addr, 8 * 4096, 12)).toBe(true);
    expect(driver.foliosMigrated).toBe(8);
    expectIdle(dma);
  });
});

/**
 * Hand-made profiles: the CPU copies 4 GB/s with 100 ns per folio call; the DMA costs 5 µs per
 * batch, 1 µs per channel, 200 ns per folio on the CPU, 300 ns per descriptor and 10 µs to learn
 * of completion. `slow` channels copy 4 GB/s each, `fast` ones 64.
 */
const dmaProfile = (chanGbps: number): CopyCostProfile => ({
  name: `fixed, ${chanGbps} GB/s channels`,
  kernel: { callNs: 0, folioNs: 0, pteNs: 0, pmdBytes: 2 * MiB },
  cpu: { threadGbps: 4, memGbps: 10, copyCallNs: 100 },
  threads: { dispatchNs: 0, threadNs: 0 },
  dma: {
    channels: 16,
    engines: 16,
    chanGbps,
    maxGbps: 16 * chanGbps,
    setupNs: 5000,
    chanNs: 1000,
    folioCpuNs: 200,
    descNs: 300,
    pteNs: 0,
    completionNs: 10000,
  },
});

describe("dcbm: the adaptive policy (the copy-cost model)", () => {
  it("policy parses always or adaptive, as completion does; always is the seed's and decides nothing", async () => {
    const { kernel } = await boot({}, { costProfile: dmaProfile(4) });
    expect(read(kernel, "policy")).toBe("[always] adaptive\n");
    for (const bad of ["sometimes", "adaptive2", "\u0000", "1"]) {
      expect(await errnoOf(kernel.fs.write(`${DCBM_SYSFS_DIR}/policy`, bad)), bad).toBe("EINVAL");
    }
    expect(read(kernel, "policy")).toBe("[always] adaptive\n");
    await write(kernel, "offloading", "1");
    const proc = run(kernel.createProcess());
    const addr = mapPattern(proc, 128 * 4096, 3);
    expect((await runP(moveRange(proc, addr, 128 * 4096, 1))).rc).toBe(0);
    expect([read(kernel, "folios_migrated"), read(kernel, "batches_taken")]).toEqual([
      "128\n",
      "0\n",
    ]);
    await write(kernel, "policy", "adaptive\n");
    expect(read(kernel, "policy")).toBe("always [adaptive]\n");
  });

  it("learns from whole batches by default, and not with learn false (no batchDone then)", async () => {
    for (const option of [undefined, true, false]) {
      const { kernel } = await boot(
        {},
        {
          policy: "adaptive",
          costProfile: dmaProfile(4),
          ...(option === undefined ? {} : { learn: option }),
        },
      );
      await write(kernel, "offloading", "1");
      expect(kernel.migrateOffload.copier?.batchDone === undefined).toBe(option === false);
    }
  });

  it("declines 4 KiB folios on one slow channel and takes them on four fast ones; counts and traces each", async () => {
    const { kernel, dma, driver } = await boot(
      {},
      { policy: "adaptive", costProfile: dmaProfile(4) },
    );
    await write(kernel, "offloading", "1");
    const events: MmMigrateOffloadDecision[] = [];
    kernel.trace.subscribe((e) => {
      if (e.event === "mm_migrate_offload_decision") events.push(e);
    });
    const proc = run(kernel.createProcess());
    const addr = mapPattern(proc, 128 * 4096, 4);
    // CPU: 128·100 + 524288/4 = 143872 ns. One channel: 5000 + 1000 + 128·200 on the CPU; on the
    // channel, the descriptors dcbm's dma_map_sgtable() gives behind the device's IOMMU (128 × 4 KiB
    // merged into 8 segments of 64 KiB, __finalise_sg()) at 300 and 128 folios at 1024; 10000 to
    // complete: 31600 + 2400 + 131072 + 10000 = 175072 ns. Declined.
    expect((await runP(moveRange(proc, addr, 128 * 4096, 1))).rc).toBe(0);
    expect(events).toEqual([
      {
        event: "mm_migrate_offload_decision",
        migrator: "DCBM",
        taken: false,
        folios: 128,
        bytes: 128 * 4096,
        lanes: 1,
        idleCpus: 0,
        cpuNs: 143872,
        offloadNs: 175072,
        initiatorNs: 31600,
        correction: 1,
        basis: "model",
      },
    ]);
    // Declined in should_batch, before the batch was formed: offload_copy never ran, so the
    // registry saw no batch at all (no -EOPNOTSUPP, no folio fallen back); the driver counted it.
    expect(kernel.migrateOffload.counters("DCBM")).toMatchObject({
      batchesDeclined: 0,
      batchesOffloaded: 0,
      foliosFallenBack: 0,
    });
    // A decline is no failure: the CPU copied the batch, folios_failures stays 0.
    expect([read(kernel, "batches_declined"), read(kernel, "folios_failures")]).toEqual([
      "1\n",
      "0\n",
    ]);
    expect(patternIntact(proc, addr, 128 * 4096, 4)).toBe(true);
    expectIdle(dma);
    // The same batch with a fast profile on 4 channels: 5000 + 4000 + 25600, then 32 folios of
    // 64 ns in 2 descriptors of 64 KiB at 300, then 10000: 47248 ns. Taken.
    const fast = await boot({}, { policy: "adaptive", costProfile: dmaProfile(64), nrDmaChan: 4 });
    await write(fast.kernel, "offloading", "1");
    const fastEvents: MmMigrateOffloadDecision[] = [];
    fast.kernel.trace.subscribe((e) => {
      if (e.event === "mm_migrate_offload_decision") fastEvents.push(e);
    });
    const p2 = run(fast.kernel.createProcess());
    const a2 = mapPattern(p2, 128 * 4096, 6);
    expect((await runP(moveRange(p2, a2, 128 * 4096, 1))).rc).toBe(0);
    expect(fastEvents[0]).toMatchObject({ taken: true, lanes: 4, offloadNs: 47248 });
    expect([read(fast.kernel, "batches_taken"), read(fast.kernel, "folios_migrated")]).toEqual([
      "1\n",
      "128\n",
    ]);
    expect(patternIntact(p2, a2, 128 * 4096, 6)).toBe(true);
    expect(driver.offloadPolicy.declined).toBe(1);
    await write(kernel, "batches_declined", "x");
    expect(read(kernel, "batches_declined")).toBe("0\n");
    expectIdle(fast.dma);
  });
});

describe("dcbm: memory offlining (MR_MEMORY_HOTPLUG)", () => {
  it("copies none of an offline's batches with its default reason mask, and all of them once memory_hotplug is added", async () => {
    const kernel = bootKernel({ sectionSize: "16M" });
    addDevice(kernel, { channels: 2 });
    const driver = dcbmDriver(kernel);
    await runP(kernel.loadModule(driver.module));
    await write(kernel, "offloading", "1");
    const param = "/sys/module/dcbm/parameters/reason_mask";
    // DCBM_DEFAULT_REASONS: syscall, compaction, demotion, NUMA balancing; not memory_hotplug.
    expect(run(kernel.fs.read(param))).not.toContain("memory_hotplug");
    const offlineBlockOf = async (seed: number) => {
      const proc = run(kernel.createProcess({ node: 1 }));
      run(proc.setMempolicy(MPOL_BIND, [1]));
      const addr = mapPattern(proc, 4 * MiB, seed);
      const block = Math.floor(folioAt(proc, addr).pfn / kernel.mem.pagesPerSection);
      const moved = kernel.vmstat.get("pgmigrate_success");
      await runP(kernel.fs.write(`/sys/devices/system/memory/memory${block}/state`, "offline"));
      expect(patternIntact(proc, addr, 4 * MiB, seed)).toBe(true);
      await runP(kernel.fs.write(`/sys/devices/system/memory/memory${block}/online`, "1"));
      return kernel.vmstat.get("pgmigrate_success") - moved;
    };
    expect(await offlineBlockOf(1)).toBe(1024);
    expect(driver.foliosMigrated).toBe(0);
    await runP(
      kernel.fs.write(param, "compaction,syscall_or_cpuset,numa_misplaced,demotion,memory_hotplug"),
    );
    expect(await offlineBlockOf(2)).toBe(1024);
    expect(driver.foliosMigrated).toBe(1024);
    await write(kernel, "offloading", "0");
    await runP(kernel.unloadModule("dcbm"));
  });
});
