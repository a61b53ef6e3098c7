/**
 * The memory-model measurement: metadata bytes per base page and the time to boot a kernel.
 */
import { Kernel, type KernelConfig } from "@migrate-offload/core";
import { Effect } from "effect";
import { envelope, formatSummary, markdownTable, type Summary, summarize } from "./report";

/** What the memory-model run measured. */
export interface MemModelResults {
  readonly basePages: number;
  /** Bytes of `struct page` arrays per base page. */
  readonly metadataBytesPerPage: number;
  /** All metadata arrays, list heads included, divided by base pages. */
  readonly metadataBytesPerPageTotal: number;
  /** Milliseconds to boot the kernel, over the runs. */
  readonly bootMs: Summary;
  /** Resident memory added by one boot, in bytes (median). */
  readonly rssDeltaBytes: number;
}

/** Boots the configured kernel `runs` times and measures. */
export const runMemModel = (config: KernelConfig, runs: number) =>
  Effect.sync(() => {
    const times: number[] = [];
    const rss: number[] = [];
    let basePages = 0;
    let perPage = 0;
    let perPageTotal = 0;
    for (let i = 0; i < runs; i++) {
      globalThis.gc?.();
      const before = process.memoryUsage().rss;
      const start = performance.now();
      // The memory model's own cost: no daemon, which would outlive the unreleased kernel.
      const kernel = Effect.runSync(Kernel.boot({ daemons: "on-demand", ...config }));
      times.push(performance.now() - start);
      rss.push(process.memoryUsage().rss - before);
      basePages = kernel.mem.nodes.reduce((s, n) => s + n.presentPages, 0);
      perPage = kernel.memmap.bytesPerPage;
      perPageTotal = kernel.memmap.totalBytes / kernel.mem.maxPfn;
    }
    const results: MemModelResults = {
      basePages,
      metadataBytesPerPage: perPage,
      metadataBytesPerPageTotal: perPageTotal,
      bootMs: summarize(times),
      rssDeltaBytes: summarize(rss).median,
    };
    return envelope("memmodel", { kernel: config, runs }, results);
  });

/** The measurement as a markdown table. */
export const formatMemModel = (r: MemModelResults): string =>
  markdownTable(
    [
      "base pages",
      "struct page bytes/page",
      "all metadata bytes/page",
      "boot ms, median (min–max)",
      "RSS added by boot",
    ],
    [
      [
        String(r.basePages),
        String(r.metadataBytesPerPage),
        r.metadataBytesPerPageTotal.toFixed(2),
        formatSummary(r.bootMs, 1),
        `${(r.rssDeltaBytes / 2 ** 20).toFixed(1)} MiB`,
      ],
    ],
  );
