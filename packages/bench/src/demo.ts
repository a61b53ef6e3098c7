/**
 * The demo: boot a two-node machine, fault memory in through a process, and show where it lives.
 */
import {
  folioWalkEntry,
  Kernel,
  type KernelConfig,
  MAP_SHARED,
  MPOL_BIND,
  ptePfn,
  ptePresent,
  pteSpecial,
  type Task,
} from "@migrate-offload/core";
import { checkKernelConsistency } from "@migrate-offload/core/testing";
import { Effect } from "effect";
import { formatBytes, markdownTable } from "./report";

/** One mapping of the demo process, and where its pages ended up. */
export interface RegionReport {
  readonly name: string;
  readonly address: number;
  readonly bytes: number;
  /** Folios by size, as `{ "2 MiB": 2, "4 KiB": 3 }`. */
  readonly folios: Record<string, number>;
  /** Resident bytes by node. */
  readonly nodes: Record<number, number>;
  /** Whether every byte written read back unchanged. */
  readonly intact: boolean;
}

/** What the demo found. */
export interface DemoReport {
  readonly config: KernelConfig;
  /** Where each mapping lives after faulting it in. */
  readonly regions: readonly RegionReport[];
  /** Where each mapping lives after `move_pages()` moved everything to node 1. */
  readonly moved: readonly RegionReport[];
  /** `move_pages` return value and how many entries reported node 1. */
  readonly movePages: { readonly rc: number; readonly entries: number; readonly onNode1: number };
  readonly freeBytesByNode: readonly number[];
  readonly vmstat: Record<string, number>;
  readonly consistency: readonly string[];
}

const fill = (length: number, seed: number): Uint8Array => {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 7 + seed) & 0xff;
  return bytes;
};

/** Walks the page table of the region at `address` and tallies folio sizes and nodes. */
const residency = (p: Task, address: number) => {
  const k = p.kernel;
  const vma = p.mm!.findVma(address)!;
  const folios: Record<string, number> = {};
  const nodes: Record<number, number> = {};
  const seen = new Set<number>();
  for (let slot = 0; slot < vma.nrPages; slot++) {
    const pte = folioWalkEntry(k, vma, slot);
    if (!ptePresent(pte) || pteSpecial(pte)) continue;
    const folio = k.folio(ptePfn(pte));
    nodes[folio.nid] = (nodes[folio.nid] ?? 0) + k.mem.pageSize;
    if (seen.has(folio.pfn)) continue;
    seen.add(folio.pfn);
    const size = formatBytes(folio.size);
    folios[size] = (folios[size] ?? 0) + 1;
  }
  return { folios, nodes };
};

/** Runs the demo on a machine of two nodes of `nodeBytes` each. */
export const runDemo = (nodeBytes = 512 * 2 ** 20): Effect.Effect<DemoReport, unknown> =>
  Effect.gen(function* () {
    const config: KernelConfig = {
      nodes: [nodeBytes, nodeBytes],
      thp: { enabled: "madvise", sizes: { "64kB": "always" } },
    };
    const kernel = yield* Kernel.boot(config);
    const proc = yield* kernel.createProcess({ name: "demo", node: 0 });
    const file = yield* kernel.createFile("demo.dat");
    const MiB = 2 ** 20;
    yield* file.truncate(MiB); // ftruncate(): the file mapping below faults within i_size
    const plans: Array<{
      name: string;
      map: Effect.Effect<number, unknown>;
      bytes: number;
      bind?: number;
    }> = [
      { name: "anon, MADV_HUGEPAGE", map: proc.mmap(8 * MiB, { hugepage: true }), bytes: 8 * MiB },
      { name: "anon, 64 KiB mTHP", map: proc.mmap(2 * MiB), bytes: 2 * MiB },
      {
        name: "anon, bound to node 1",
        map: proc.mmap(4 * MiB, { hugepage: true }),
        bytes: 4 * MiB,
        bind: 1,
      },
      { name: "file, MAP_SHARED", map: proc.mmap(MiB, { flags: MAP_SHARED, file }), bytes: MiB },
    ];
    const regions: RegionReport[] = [];
    const placed: Array<{ name: string; address: number; bytes: number; data: Uint8Array }> = [];
    for (const [i, plan] of plans.entries()) {
      const address = yield* plan.map;
      if (plan.bind !== undefined) yield* proc.mbind(address, plan.bytes, MPOL_BIND, [plan.bind]);
      const data = fill(plan.bytes, i);
      yield* proc.write(address, data);
      placed.push({ name: plan.name, address, bytes: plan.bytes, data });
    }
    const check = (p: (typeof placed)[number]) =>
      Effect.map(proc.read(p.address, p.bytes), (back) => ({
        name: p.name,
        address: p.address,
        bytes: p.bytes,
        intact: Buffer.from(back).equals(Buffer.from(p.data)),
        ...residency(proc, p.address),
      }));
    for (const p of placed) regions.push(yield* check(p));
    // Move every page to node 1 with move_pages(2), one address per base page.
    const pageSize = kernel.mem.pageSize;
    const pages = placed.flatMap((p) =>
      Array.from({ length: p.bytes / pageSize }, (_, i) => p.address + i * pageSize),
    );
    const moved = yield* proc.movePages(
      0,
      pages,
      pages.map(() => 1),
    );
    const after: RegionReport[] = [];
    for (const p of placed) after.push(yield* check(p));
    const vmstat = kernel.vmstat.snapshot();
    const report = {
      config,
      regions,
      moved: after,
      movePages: {
        rc: moved.rc,
        entries: pages.length,
        onNode1: moved.status.filter((s) => s === 1).length,
      },
      freeBytesByNode: kernel.pageAlloc.zones.map((z) => z.freePages * kernel.mem.pageSize),
      vmstat,
      consistency: checkKernelConsistency(kernel),
    };
    // The kernel booted its kswapd and kcompactd (as Linux does); shutdown ends them.
    yield* kernel.shutdown();
    return report;
  });

const regionRows = (regions: readonly RegionReport[]) =>
  regions.map((r) => [
    r.name,
    `0x${r.address.toString(16)}`,
    formatBytes(r.bytes),
    Object.entries(r.folios)
      .map(([size, n]) => `${n} × ${size}`)
      .join(", "),
    Object.entries(r.nodes)
      .map(([nid, bytes]) => `node ${nid}: ${formatBytes(bytes)}`)
      .join(", "),
    r.intact ? "yes" : "NO",
  ]);

/** The demo report as text. */
export const formatDemo = (report: DemoReport): string => {
  const header = ["mapping", "address", "size", "folios", "where it lives", "bytes intact"];
  const nodes = report.freeBytesByNode
    .map((free, nid) => `node ${nid}: ${formatBytes(free)} free`)
    .join(", ");
  const events = [
    "pgfault",
    "thp_fault_alloc",
    "pgmigrate_success",
    "pgmigrate_fail",
    "thp_migration_success",
  ]
    .map((name) => `${name} ${report.vmstat[name]}`)
    .join(", ");
  const mp = report.movePages;
  return [
    `A machine of ${report.config.nodes.length} NUMA nodes, ${report.config.nodes.map((n) => formatBytes(Number(n))).join(" + ")}; one process on node 0.`,
    "",
    "After faulting the memory in:",
    "",
    markdownTable(header, regionRows(report.regions)),
    "",
    `move_pages(0, ${mp.entries} pages, all to node 1, MPOL_MF_MOVE) returned ${mp.rc}; ${mp.onNode1} entries report node 1, the rest -EBUSY for addresses inside a large folio already queued.`,
    "",
    markdownTable(header, regionRows(report.moved)),
    "",
    nodes,
    `/proc/vmstat: ${events}`,
    report.consistency.length === 0
      ? "Kernel metadata consistent."
      : `INCONSISTENT:\n${report.consistency.join("\n")}`,
  ].join("\n");
};
