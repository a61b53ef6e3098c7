import { Effect } from "effect";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Kernel } from "../../src/index";
import { parseSize } from "../../src/lib/cmdline";
import { boot, expectErrno, run } from "../../src/testing/index";

describe("Kernel.make", () => {
  it("rejects bad configs with EINVAL naming the problem", () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ nodes: [] }, /1\.\.64 nodes/],
      [{ nodes: ["64M"], pageSize: 8192 }, /pageSize 8192/],
      [{ nodes: ["64M", 5000] }, /node 1: 5000 bytes is not a multiple/],
      [{ nodes: ["lots"] }, /node 0: bad size/],
      [{ nodes: [0, 0] }, /no node has memory/],
      [{ nodes: ["64M"], sectionSize: "1M" }, /sectionSize/],
      [{ nodes: ["64M", "64M"], distances: [[10, 20]] }, /2x2 matrix/],
      [
        {
          nodes: ["64M", "64M"],
          distances: [
            [10, 5],
            [5, 10],
          ],
        },
        /matrix/,
      ],
      [{ nodes: ["64M"], thp: { sizes: { "8kB": "always" } } }, /not an mTHP size/],
      [{ nodes: ["64M"], thp: { sizes: { "64kB": "sometimes" } } }, /bad mode/],
      [{ nodes: ["64M"], thp: { enabled: "maybe" } }, /thp.enabled/],
      [{ nodes: Array(65).fill("4M") }, /1\.\.64 nodes/],
      [{ nodes: ["64M"], daemons: "always" }, /daemons "always" is not "boot" or "on-demand"/],
    ];
    for (const [config, message] of bad) {
      const error = expectErrno(Kernel.boot(config as never), "EINVAL");
      expect(error.message).toMatch(message);
    }
  });

  it('by default and with daemons: "boot", starts kcompactd and kswapd on every node with memory, as kcompactd_init() and kswapd_init() do (Linux 6.16)', () => {
    for (const config of [{}, { daemons: "boot" as const }]) {
      const k = boot({ nodes: ["64M", 0, "64M"], ...config });
      expect([k.kswapd.running, k.compaction.running]).toEqual([true, true]);
      // A memoryless node gets none (kswapd_run() and kcompactd_run() only for N_MEMORY nodes).
      expect([0, 1, 2].map((nid) => k.kswapd.hasDaemon(nid))).toEqual([true, false, true]);
      expect([0, 1, 2].map((nid) => k.compaction.hasDaemon(nid))).toEqual([true, false, true]);
      // They run already: a second start is refused.
      expect(expectErrno(k.kswapd.run(), "EBUSY").message).toMatch(/kswapd runs already/);
      expect(expectErrno(k.compaction.run(), "EBUSY").message).toMatch(/kcompactd runs already/);
      run(k.shutdown());
    }
  });

  it('boots with no daemon with daemons: "on-demand" (the model\'s own setting); run() starts them', () => {
    const k = boot({ daemons: "on-demand" });
    expect([k.kswapd.running, k.compaction.running]).toEqual([false, false]);
    expect([k.kswapd.hasDaemon(0), k.compaction.hasDaemon(0)]).toEqual([false, false]);
    run(k.compaction.run());
    run(k.kswapd.run());
    expect([k.kswapd.hasDaemon(0), k.compaction.hasDaemon(0)]).toEqual([true, true]);
    run(k.shutdown());
  });

  it("answers node_distance from the matrix, and past it as x86 does: local to itself, remote to others", () => {
    const k = boot({
      nodes: ["4M", "4M"],
      distances: [
        [10, 31],
        [31, 10],
      ],
    });
    expect([k.distance(0, 1), k.distance(1, 1)]).toEqual([31, 10]);
    expect([k.distance(0, 2), k.distance(5, 5), k.distance(-1, 0)]).toEqual([20, 10, 20]);
  });

  it("rejects a missing or malformed config with EINVAL, not an exception", () => {
    const bad: Array<[unknown, RegExp]> = [
      [undefined, /config must be an object/],
      [null, /config must be an object/],
      [5, /config must be an object/],
      ["64M", /config must be an object/],
      [["64M"], /config must be an object/],
      [{}, /1\.\.64 nodes/],
      [{ nodes: "64M" }, /1\.\.64 nodes/],
      [{ nodes: [null] }, /node 0: bad size/],
      [{ nodes: [{}] }, /node 0: bad size/],
      [{ nodes: [Symbol("x")] }, /node 0: bad size/],
      [{ nodes: ["64M"], distances: 10 }, /distances must be/],
      [{ nodes: ["64M"], distances: [10] }, /distances must be/],
      [{ nodes: ["64M"], thp: "always" }, /thp must be an object/],
      [{ nodes: ["64M"], thp: { sizes: "64kB" } }, /thp.sizes must map/],
      [{ nodes: ["64M"], sectionSize: {} }, /bad size/],
    ];
    for (const [config, message] of bad) {
      const error = expectErrno(Kernel.boot(config as never), "EINVAL");
      expect(error.message).toMatch(message);
    }
  });

  describe("when the host cannot allocate", () => {
    afterEach(() => {
      vi.unstubAllGlobals();
    });

    it("fails with ENOMEM instead of the host's RangeError, and the next boot works", () => {
      const Real = globalThis.SharedArrayBuffer;
      let attempts = 0;
      // The host refuses every buffer over 64 MiB, as it refuses one larger than it can commit.
      class Refusing extends Real {
        constructor(length: number) {
          attempts++;
          if (length > 64 * 2 ** 20) throw new RangeError("Array buffer allocation failed");
          super(length);
        }
      }
      vi.stubGlobal("SharedArrayBuffer", Refusing);
      const error = expectErrno(
        Kernel.boot({ nodes: ["64M", "256M"], sectionSize: "256M" }),
        "ENOMEM",
      );
      expect(error.message).toMatch(/cannot allocate 335544320 bytes/);
      expect(attempts).toBeGreaterThan(0);
      vi.unstubAllGlobals();
      const k = run(Kernel.boot({ nodes: ["64M", "256M"], sectionSize: "256M" }));
      expect(k.pageAlloc.totalFreePages()).toBe((320 * 2 ** 20) / 4096 - 1);
    });

    it("lets any other exception through: only an allocation failure is ENOMEM", () => {
      class Broken {
        constructor() {
          throw new TypeError("not an allocation failure");
        }
      }
      vi.stubGlobal("SharedArrayBuffer", Broken);
      expect(() => Effect.runSync(Kernel.boot({ nodes: ["16M"] }))).toThrow(/not an allocation/);
    });
  });

  it("parses sizes as memparse does", () => {
    expect(parseSize("4K")).toBe(4096);
    expect(parseSize("2G")).toBe(2 ** 31);
    expect(parseSize("64KiB")).toBe(65536);
    expect(parseSize(12288)).toBe(12288);
  });

  it("gives each node real SharedArrayBuffer memory in sections, with PFNs mapping to node and offset", () => {
    const k = boot({ nodes: ["3G", "64M", 0], sectionSize: "1G" });
    expect(k.mem.sections).toHaveLength(4);
    expect(k.mem.sections.every((s) => s instanceof SharedArrayBuffer)).toBe(true);
    expect(k.mem.nodes.map((n) => n.startPfn)).toEqual([0, 3 * 262144, 4 * 262144]);
    const pfn = 262144 + 5;
    expect(k.mem.pfnToNid(pfn)).toBe(0);
    expect(k.mem.region(pfn)).toEqual({
      buffer: k.mem.sections[1],
      byteOffset: 5 * 4096,
      byteLength: 4096,
    });
    expect(k.mem.pfnToNid(3 * 262144 + 1)).toBe(1);
    expect(k.mem.pfnValid(3 * 262144 + 16384)).toBe(false);
    expect(k.nodeHasMemory(2)).toBe(false);
    expect(k.nodeExists(2)).toBe(true);
    // node_states[N_MEMORY]: the memoryless node 2 is not in it.
    expect(k.nodesWithMemory()).toEqual([0, 1]);
  });

  it("keeps struct page metadata within 64 bytes per base page", () => {
    const k = boot({ nodes: ["64M", "64M"] });
    expect(k.memmap.bytesPerPage).toBeLessThanOrEqual(64);
    expect(k.memmap.totalBytes / k.mem.maxPfn).toBeLessThanOrEqual(64);
  });

  it("supports 64 KiB base pages with their PMD and mTHP orders", () => {
    const k = boot({
      nodes: ["1G", "1G"],
      pageSize: 65536,
      thp: { sizes: { "2048kB": "always" } },
    });
    expect(k.pmdOrder).toBe(13);
    expect(k.thp.allowableOrders(0)).toEqual([5]);
    const p = run(k.createProcess());
    const addr = run(p.mmap(4 << 20));
    run(p.write(addr, new Uint8Array([1])));
    const pte = k.tasks.get(p.pid)!.mm!.vmas[0]!.ptes[0]!;
    expect(k.folio(pte >>> 5).size).toBe(2 << 20);
  });

  it("runs two kernels side by side without interference", () => {
    const a = boot();
    const b = boot();
    const pa = run(a.createProcess());
    const pb = run(b.createProcess());
    expect(pa.pid).toBe(pb.pid);
    const addrA = run(pa.mmap(8192));
    const addrB = run(pb.mmap(8192));
    expect(addrA).toBe(addrB);
    run(pa.write(addrA, new Uint8Array([1, 2, 3])));
    run(pb.write(addrB, new Uint8Array([9, 9, 9])));
    expect([...run(pa.read(addrA, 3))]).toEqual([1, 2, 3]);
    expect([...run(pb.read(addrB, 3))]).toEqual([9, 9, 9]);
    run(a.fs.write("/sys/kernel/mm/transparent_hugepage/enabled", "never"));
    expect(run(b.fs.read("/sys/kernel/mm/transparent_hugepage/enabled"))).toBe(
      "always [madvise] never\n",
    );
    expect(a.mem.sections[0]).not.toBe(b.mem.sections[0]);
  });

  it("costs no resident memory for untouched nodes beyond what the OS commits on touch", () => {
    const before = process.memoryUsage().rss;
    const k = boot({ nodes: ["2G", "2G"] });
    const after = process.memoryUsage().rss;
    // 4 GiB of node memory and 64 MiB of metadata arrays: only the touched parts are resident.
    expect(after - before).toBeLessThan(256 * 2 ** 20);
    expect(k.mem.sections.reduce((s, b) => s + (b?.byteLength ?? 0), 0)).toBe(4 * 2 ** 30);
  });
});
