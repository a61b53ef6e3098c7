import { ErrnoError, MPOL_MF_MOVE } from "@migrate-offload/core";
import { boot, run } from "@migrate-offload/core/promise";
import { mtcopyDriver } from "@migrate-offload/mtcopy";

/** Boots a machine, loads mtcopy, moves 1 MiB to node 1 with async/await, and checks it. */
export const promiseDoor = async () => {
  const kernel = await boot({ nodes: ["64M", "64M"] });
  await run(kernel.loadModule(mtcopyDriver(kernel, { threads: 2 }).module));
  await run(kernel.fs.write("/sys/kernel/cpu_mt/offloading", "1"));
  const proc = await run(kernel.createProcess({ node: 0 }));
  const addr = await run(proc.mmap(1 << 20));
  await run(proc.write(addr, new Uint8Array(1 << 20).fill(42)));
  const pages = Array.from({ length: 256 }, (_, i) => addr + i * 4096);
  const { status } = await run(
    proc.movePages(
      0,
      pages,
      pages.map(() => 1),
      MPOL_MF_MOVE,
    ),
  );
  const bytes = await run(proc.read(addr, 1 << 20));
  const failed = await run(proc.mmap(0)).catch((e) => e instanceof ErrnoError && e.errno);
  const { batchesOffloaded } = kernel.migrateOffload.counters("CPU_MT_COPY")!;
  await run(kernel.shutdown());
  return {
    onNode1: status.every((n) => n === 1),
    intact: bytes.every((b) => b === 42),
    failed,
    batchesOffloaded,
  };
};
