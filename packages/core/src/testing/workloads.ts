/**
 * Workloads that fragment a node the way a long-running machine does, for compaction tests.
 *
 * Not a kernel interface: a test set-up built only from the kernel's public calls. Two processes
 * bound to a node fault order-0 pages in turn, so their pages interleave frame by frame; kernel
 * allocations without `__GFP_MOVABLE` (`GFP_KERNEL`) come in between, and optionally page-cache
 * pages of a shared file mapping; then one process exits. What is left: free memory scattered in
 * single pages between movable folios compaction can move, and unmovable pages it cannot, with
 * no free block near `pageblock_order`, as `/proc/buddyinfo` shows a fragmented node.
 *
 * @module
 */
import { Effect } from "effect";
import type { ErrnoError, SignalError } from "../errno";
import type { Folio } from "../include/folio";
import type { File } from "../include/fs";
import { __GFP_THISNODE, GFP_KERNEL } from "../include/gfp";
import type { Kernel, Task } from "../include/kernel";
import { MPOL_BIND } from "../include/mempolicy";
import {
  MADV_NOHUGEPAGE,
  MADV_RANDOM,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
} from "../include/mman";
import { WMARK_MIN } from "../include/mmzone";
import { pattern, sameBytes } from "./fixtures";

/**
 * What {@link fragmentNode} is asked for.
 *
 * @category Testing
 */
export interface FragmentNodeOptions {
  /** The node to fragment. */
  readonly nid: number;
  /** A kernel page (`GFP_KERNEL`, unmovable) after every this many movable pages; 0 for none. */
  readonly unmovableEvery?: number;
  /** Every this many of the keeper's pages is a page-cache page of a shared file; 0 for none. */
  readonly pageCacheEvery?: number;
  /**
   * Pages left free above the node's min watermark before the second process exits (at most one
   * small block); 16. Allocations stop at the min watermark (`ALLOC_WMARK_MIN`), so the pages
   * below it stay free too.
   */
  readonly reserve?: number;
  /** The seed of the keeper's bytes ({@link pattern}); 1. */
  readonly seed?: number;
}

/**
 * A node {@link fragmentNode} fragmented: the process whose pages stayed, the kernel pages, and
 * how to check and undo it.
 *
 * @category Testing
 */
export interface FragmentedNode {
  /** The process whose anonymous pages stayed, bound to the node. */
  readonly keeper: Task;
  /** Where its anonymous memory is mapped, and how long it is. */
  readonly addr: number;
  readonly bytes: number;
  /** The shared file mapping holding the page-cache pages (0 bytes without them). */
  readonly cacheAddr: number;
  readonly cacheBytes: number;
  /** The unmovable kernel pages, in allocation order. */
  readonly unmovable: readonly Folio[];
  /** True while the keeper's anonymous and page-cache bytes are what it wrote. */
  intact(): Effect.Effect<boolean, ErrnoError | SignalError>;
  /** Ends the keeper, drops its file's page cache and frees the kernel pages. */
  release(): Effect.Effect<void, ErrnoError>;
}

/**
 * Fragments node `nid`: two processes bound to it (`MPOL_BIND`) write order-0 pages in turn
 * until only `reserve` pages above the min watermark are free, with a `GFP_KERNEL` page every `unmovableEvery` pages
 * and, every `pageCacheEvery` pages, a page of a shared file mapping instead of anonymous
 * memory (all `MADV_NOHUGEPAGE`, so order-0 whatever the THP setting, and the file mapping
 * `MADV_RANDOM`, so each write reads in its one page, none ahead); then the second process
 * exits. Afterwards half the node is free in single pages. Fails
 * with the errno of the first call that failed.
 *
 * @category Testing
 *
 * @example
 * ```ts
 * import { Kernel } from "@migrate-offload/core";
 * import { fragmentNode } from "@migrate-offload/core/testing";
 * import { Effect } from "effect";
 *
 * const orders = await Effect.runPromise(
 *   Effect.scoped(
 *     Effect.gen(function* () {
 *       const kernel = yield* Kernel.make({ nodes: ["64M", "64M"] });
 *       const frag = yield* fragmentNode(kernel, { nid: 1, unmovableEvery: 512 });
 *       const before = kernel.pageAlloc.largestFreeOrder(1); // below 9: no THP fits
 *       yield* kernel.fs.write("/proc/sys/vm/compact_memory", "1");
 *       const after = kernel.pageAlloc.largestFreeOrder(1); // compaction freed whole blocks
 *       yield* frag.release();
 *       return { thpFitsBefore: before >= 9, thpFitsAfter: after >= 9 };
 *     }),
 *   ),
 * );
 * console.log(orders); // { thpFitsBefore: false, thpFitsAfter: true }
 * ```
 */
export const fragmentNode = (
  k: Kernel,
  options: FragmentNodeOptions,
): Effect.Effect<FragmentedNode, ErrnoError | SignalError> =>
  Effect.gen(function* () {
    const { nid } = options;
    const unmovableEvery = options.unmovableEvery ?? 0;
    const cacheEvery = options.pageCacheEvery ?? 0;
    const reserve = options.reserve ?? 16;
    const seed = options.seed ?? 1;
    const ps = k.mem.pageSize;
    // What allocations may take: down to the min watermark (__alloc_pages_slowpath()).
    const free =
      k.pageAlloc.nodeFreePages(nid) - (k.pageAlloc.zones[nid]?.watermark[WMARK_MIN] ?? 0);
    const perPair = 2 + (unmovableEvery ? 1 / unmovableEvery : 0);
    const pairs = Math.max(0, Math.floor((free - reserve) / perPair));
    const cachePages = cacheEvery ? Math.floor(pairs / cacheEvery) : 0;
    const anonPages = pairs - cachePages;
    const keeper = yield* k.createProcess({ node: nid, name: "keeper" });
    const churn = yield* k.createProcess({ node: nid, name: "churn" });
    yield* keeper.setMempolicy(MPOL_BIND, [nid]);
    yield* churn.setMempolicy(MPOL_BIND, [nid]);
    const addr = yield* keeper.mmap(Math.max(anonPages, 1) * ps, {
      flags: MAP_PRIVATE | MAP_ANONYMOUS,
    });
    let file: File | null = null;
    let cacheAddr = 0;
    if (cachePages > 0) {
      file = yield* k.createFile(`fragment-node${nid}-${keeper.pid}`);
      yield* file.truncate(cachePages * ps);
      cacheAddr = yield* keeper.mmap(cachePages * ps, { flags: MAP_SHARED, file });
    }
    const churnAddr = yield* churn.mmap(Math.max(pairs, 1) * ps, {
      flags: MAP_PRIVATE | MAP_ANONYMOUS,
    });
    // Order-0 pages only, whatever the THP setting: what interleaves them frame by frame.
    yield* keeper.madvise(addr, Math.max(anonPages, 1) * ps, MADV_NOHUGEPAGE);
    if (cachePages > 0) {
      yield* keeper.madvise(cacheAddr, cachePages * ps, MADV_NOHUGEPAGE);
      // VM_RAND_READ: each write faults in its one page, no readahead window.
      yield* keeper.madvise(cacheAddr, cachePages * ps, MADV_RANDOM);
    }
    yield* churn.madvise(churnAddr, Math.max(pairs, 1) * ps, MADV_NOHUGEPAGE);
    const anon = pattern(anonPages * ps, seed);
    const cache = pattern(cachePages * ps, seed + 1);
    const filler = new Uint8Array(ps).fill(0x5a);
    const unmovable: Folio[] = [];
    let a = 0;
    let c = 0;
    for (let i = 0; i < pairs; i++) {
      if (cacheEvery && i % cacheEvery === cacheEvery - 1 && c < cachePages) {
        yield* keeper.write(cacheAddr + c * ps, cache.subarray(c * ps, (c + 1) * ps));
        c++;
      } else {
        yield* keeper.write(addr + a * ps, anon.subarray(a * ps, (a + 1) * ps));
        a++;
      }
      yield* churn.write(churnAddr + i * ps, filler);
      if (unmovableEvery && i % unmovableEvery === unmovableEvery - 1) {
        unmovable.push(yield* k.allocFolio(nid, 0, GFP_KERNEL | __GFP_THISNODE));
      }
    }
    yield* churn.exit();
    const bytes = anonPages * ps;
    const cacheBytes = cachePages * ps;
    return {
      keeper,
      addr,
      bytes,
      cacheAddr,
      cacheBytes,
      unmovable,
      intact: () =>
        Effect.gen(function* () {
          const got = yield* keeper.read(addr, bytes);
          if (!sameBytes(got, anon)) return false;
          if (cacheBytes === 0) return true;
          return sameBytes(yield* keeper.read(cacheAddr, cacheBytes), cache);
        }),
      release: () =>
        Effect.gen(function* () {
          yield* keeper.exit();
          // Its page-cache pages outlive the keeper in the file's cache, as a file's do.
          if (file) yield* file.truncate();
          for (const folio of unmovable) k.folioPut(folio);
          unmovable.length = 0;
        }),
    };
  });

/**
 * Gives node 0's free memory to `cached` clean page-cache pages (a file of that many pages,
 * mapped shared and read through by a new process, then unmapped when `unmap` is set), then to
 * kernel allocations: `GFP_KERNEL`'s first tries until they fail, which leaves the node at its
 * min watermark with only that page cache for direct reclaim to free (nothing with `cached` 0).
 * For a one-node kernel.
 *
 * @category Testing
 */
export const fillNodeToMin = (
  k: Kernel,
  cached: number,
  unmap = false,
): Effect.Effect<void, ErrnoError | SignalError> =>
  Effect.gen(function* () {
    if (cached) {
      const page = k.mem.pageSize;
      const q = yield* k.createProcess();
      const file = yield* k.createFile("cache");
      yield* file.truncate(cached * page);
      const c = yield* q.mmap(cached * page, { flags: MAP_SHARED, prot: PROT_READ, file });
      yield* q.read(c, cached * page);
      if (unmap) yield* q.munmap(c, cached * page);
    }
    while (k.pageAlloc.allocPages(0, 0, GFP_KERNEL) >= 0);
  });
