/**
 * What the offload experiments share: a kernel whose faults allocate folios of one size, a
 * populated mapping, a migrator loaded as its module, and timed ping-pong `move_pages` calls.
 */
import { Kernel, type KernelConfig, type MthpMode } from "@migrate-offload/core";
import { Effect } from "effect";
import { pingPongMovePages } from "./pingpong";
import { type Summary, summarize } from "./report";

/** The THP settings that make every fault in an aligned mapping allocate folios of `order`. */
export const thpFor = (order: number, pmdOrder = 9): KernelConfig["thp"] => {
  if (order === 0) return { enabled: "never" };
  const sizes: Record<string, MthpMode> = {};
  sizes[`${(4096 << order) / 1024}kB`] = "always";
  if (order !== pmdOrder) sizes[`${(4096 << pmdOrder) / 1024}kB`] = "never";
  return { enabled: "never", sizes };
};

/** How to run one offload measurement. */
export interface OffloadRun<A> {
  readonly folioBytes: number;
  readonly total: number;
  readonly runs: number;
  /** Loads and switches on the migrator under test; absent for the serial path. */
  readonly load?: (kernel: Kernel) => Effect.Effect<void, unknown>;
  /** Reads what the experiment wants to know, after the timed calls. */
  readonly inspect: (kernel: Kernel) => A;
  /** Switches the migrator off and unloads it. */
  readonly unload?: (kernel: Kernel) => Effect.Effect<void, unknown>;
}

/**
 * Boots a kernel sized for `total` bytes per node, with batches of up to `HPAGE_PUD_NR` pages
 * (the series' patch 6), fills a mapping with a per-page pattern, ping-pongs it between the nodes
 * and checks every byte afterwards.
 */
export const measureOffload = <A>(
  run: OffloadRun<A>,
): Effect.Effect<{ gbps: Summary; intact: boolean; inspected: A }, unknown> =>
  Effect.gen(function* () {
    const { folioBytes, total } = run;
    const kernel = yield* Kernel.make({
      nodes: [total + (64 << 20), total + (64 << 20)],
      thp: thpFor(Math.log2(folioBytes / 4096)),
    });
    kernel.migration.nrMaxBatchedMigration = 1 << 18;
    if (run.load) yield* run.load(kernel);
    const proc = yield* kernel.createProcess();
    const addr = yield* proc.mmap(total);
    const pattern = new Uint8Array(total);
    for (let i = 0; i < total; i += 4096) pattern.fill((i >>> 12) & 0xff, i, i + 4096);
    yield* proc.write(addr, pattern);
    const rates = yield* pingPongMovePages(proc, addr, total, folioBytes, run.runs);
    const back = yield* proc.read(addr, total);
    const intact = Buffer.from(back).equals(Buffer.from(pattern));
    const inspected = run.inspect(kernel);
    if (run.unload) yield* run.unload(kernel);
    return { gbps: summarize(rates), intact, inspected };
  });
