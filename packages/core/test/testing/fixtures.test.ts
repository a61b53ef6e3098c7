import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { errno } from "../../src/index";
import {
  boot,
  bootNoProactive,
  errnoOf,
  expectBytes,
  expectConsistent,
  expectErrno,
  folioAt,
  isolateRange,
  mapPattern,
  moveRange,
  pagesOf,
  pattern,
  patternIntact,
  pteAt,
  run,
  sameBytes,
  waitUntil,
} from "../../src/testing/index";

describe("the shared test fixtures", () => {
  it("expectErrno returns the error it wanted and throws a plain Error for anything else", () => {
    const einval = Effect.fail(errno("EINVAL", "bad"));
    expect(expectErrno(einval, "EINVAL").message).toBe("bad");
    expect(() => expectErrno(einval, "ENOENT")).toThrow(
      "expected ENOENT, but the call failed with EINVAL: bad",
    );
    expect(() => expectErrno(Effect.succeed(1), "EINVAL")).toThrow(
      "expected EINVAL, but the call succeeded",
    );
    expect(() => expectErrno(Effect.fail("oops"), "EINVAL")).toThrow("failed otherwise");
    expect(() => expectErrno(Effect.die(new Error("boom")), "EINVAL")).toThrow("boom");
  });

  it("bootNoProactive boots as boot does, its daemons running, with compaction_proactiveness 0", () => {
    const k = bootNoProactive({ nodes: ["16M"] });
    expect(k.mem.nodes.length).toBe(1);
    expect(run(k.fs.read("/proc/sys/vm/compaction_proactiveness"))).toBe("0\n");
    // kcompactd and kswapd run from boot: a second run() is EBUSY.
    expectErrno(k.compaction.run(), "EBUSY");
    expectErrno(k.kswapd.run(), "EBUSY");
    run(k.shutdown());
    const plain = boot({ nodes: ["16M"] });
    expect(run(plain.fs.read("/proc/sys/vm/compaction_proactiveness"))).toBe("20\n");
    run(plain.shutdown());
  });

  it("errnoOf resolves to the errno name and rejects when the call succeeds", async () => {
    expect(await errnoOf(Effect.fail(errno("EBUSY", "busy")))).toBe("EBUSY");
    await expect(errnoOf(Effect.succeed(1))).rejects.toBeDefined();
  });

  it("expectBytes names the first differing offset, or the lengths", () => {
    const a = pattern(4096, 1);
    expect(() => expectBytes(a, a.slice())).not.toThrow();
    const b = a.slice();
    b[1000] = (a[1000]! + 1) & 0xff;
    expect(() => expectBytes(b, a)).toThrow(`bytes differ at offset 1000: got ${b[1000]}`);
    expect(() => expectBytes(a.subarray(1), a)).toThrow("expected 4096 bytes, got 4095");
  });

  it("pattern tells seeds, neighbouring bytes and moved pages apart", () => {
    const p = pattern(4 << 20, 3);
    expect(sameBytes(pattern(4 << 20, 3), p)).toBe(true);
    expect(sameBytes(pattern(4096, 4), p.subarray(0, 4096))).toBe(false);
    expect(p.subarray(1, 4096).every((byte, i) => byte !== p[i])).toBe(true);
    // A page read from another offset of the region (256 B to 2 MiB away) differs.
    const page = p.subarray(0, 4096);
    const shifts = [256, 4096, 65536, 1 << 20, 2 << 20];
    expect(shifts.filter((at) => sameBytes(page, p.subarray(at, at + 4096)))).toEqual([]);
  });

  it("maps a pattern, walks the page table to it, isolates it and moves it", async () => {
    const k = boot({ thp: { enabled: "never" } });
    expectConsistent(k);
    const p = run(k.createProcess());
    const addr = mapPattern(p, 4 * 4096, 5);
    expect(patternIntact(p, addr, 4 * 4096, 5)).toBe(true);
    expect(patternIntact(p, addr, 4 * 4096, 6)).toBe(false);
    expect(folioAt(p, addr + 4096).nid).toBe(0);
    expect(pteAt(p, addr)).not.toBe(0);
    expect(() => pteAt(p, addr + 4 * 4096)).toThrow("no VMA");
    expect(pagesOf(addr, 3, 8192)).toEqual([addr, addr + 8192, addr + 16384]);
    const list = isolateRange(p, addr, 4 * 4096);
    expect(list.count()).toBe(4);
    for (const folio of list) {
      list.del(folio);
      k.lru.putback(folio);
    }
    list.release();
    const moved = await Effect.runPromise(moveRange(p, addr, 4 * 4096, 1));
    expect([...moved.status]).toEqual([1, 1, 1, 1]);
    expect(patternIntact(p, addr, 4 * 4096, 5)).toBe(true);
    let checks = 0;
    await Effect.runPromise(waitUntil(() => ++checks === 3));
    expect(checks).toBe(3);
    expectConsistent(k);
  });

  it("expectConsistent lists what the consistency check found", () => {
    const k = boot();
    const p = run(k.createProcess());
    const addr = mapPattern(p, 4096, 1);
    k.memmap.mapcount[folioAt(p, addr).pfn]! += 1;
    expect(() => expectConsistent(k)).toThrow("kernel metadata inconsistent:");
  });
});
