// What an adaptive policy learns from the batches it decided. Every time here is fed, as
// migrate_pages_batch()'s batchDone would report it; nothing is timed.
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { type BatchOutcome, OffloadLearner, offloadClassOf } from "../../src/index";

const KiB = 1024;
const MiB = 1024 * KiB;

const batch = (folios: number, folioBytes: number) => ({
  folios,
  bytes: folios * folioBytes,
  pageSize: 4096,
});

/** How a batch ended: turned down (the CPU's per-folio copy) or offloaded, in `ns`. */
const outcome = (
  b: ReturnType<typeof batch>,
  taken: boolean,
  ns: number,
  copied = taken,
): BatchOutcome => ({ batch: b, batched: taken, copied, ns });

describe("offloadClassOf: folio size and count, each to a power of two", () => {
  it("names 4 KiB × 512, 2 MiB × 1, 2 MiB × 8 and 2 MiB × 12 by their logs", () => {
    expect(offloadClassOf(batch(512, 4 * KiB))).toBe("12:9");
    expect(offloadClassOf(batch(1, 2 * MiB))).toBe("21:0");
    expect(offloadClassOf(batch(8, 2 * MiB))).toBe("21:3");
    // 12 folios round down to the class of 8.
    expect(offloadClassOf(batch(12, 2 * MiB))).toBe("21:3");
  });
});

describe("OffloadLearner: an exploration belongs to its batch", () => {
  it("a batch explored that ends without a copy (no folio unmapped) is no longer in flight", () => {
    const learner = new OffloadLearner({ coldBatches: 0 });
    // Each batch a fresh object, as migrate_pages_batch() makes one per batch.
    const b = () => batch(512, 4 * KiB);
    for (let i = 0; i < 2; i++) {
      const one = b();
      expect(learner.choose(one, false)).toEqual({ taken: false, basis: "model" });
      learner.learn(outcome(one, false, 1e6));
    }
    // The offload tried once, 10 ms against the CPU's 1: 11 - 1 = 10 ms beyond it, far over 1/64
    // of the class's 12 ms, so only the offload's owed second sample lets it be tried again.
    const first = b();
    expect(learner.choose(first, false)).toEqual({ taken: true, basis: "explore" });
    learner.learn(outcome(first, true, 10e6));
    const lost = b();
    expect(learner.choose(lost, false)).toEqual({ taken: true, basis: "explore" });
    // Its folios all failed to unmap: batched, never copied, so it teaches nothing.
    learner.learn(outcome(lost, true, 0.2e6, false));
    expect(learner.estimate(lost)).toMatchObject({ offloadSamples: 1, regretNs: 10e6 });
    // The second sample is still owed: the offload is tried again.
    expect(learner.choose(b(), false)).toEqual({ taken: true, basis: "explore" });
  });
});

describe("OffloadLearner: only the batch an exploration was decided for ends it", () => {
  /** Two CPU batches of 1 ms, so that the next batch explores the offload. */
  const primed = () => {
    const learner = new OffloadLearner({ coldBatches: 0 });
    for (let i = 0; i < 2; i++) {
      const one = batch(512, 4 * KiB);
      learner.choose(one, false);
      learner.learn(outcome(one, false, 1e6));
    }
    return learner;
  };

  it("an interrupted batch teaches nothing, and the exploration decided for it is over", () => {
    const learner = primed();
    const first = batch(512, 4 * KiB);
    expect(learner.choose(first, false)).toEqual({ taken: true, basis: "explore" });
    learner.learn(outcome(first, true, 10e6));
    const cut = batch(512, 4 * KiB);
    expect(learner.choose(cut, false)).toEqual({ taken: true, basis: "explore" });
    // Interrupted after its copy: its time counts for nothing.
    learner.learn({ ...outcome(cut, true, 0.1e6), interrupted: true });
    expect(learner.estimate(cut)).toMatchObject({
      offloadSamples: 1,
      totalNs: 12e6,
      regretNs: 10e6,
    });
    // The offload's second sample is still owed: it is tried again.
    expect(learner.choose(batch(512, 4 * KiB), false)).toEqual({ taken: true, basis: "explore" });
  });

  it("two explorations in flight end each with its own batch, in either order", () => {
    const learner = primed();
    const first = batch(512, 4 * KiB);
    const second = batch(512, 4 * KiB);
    // The offload owes two samples: both batches explore it.
    expect(learner.choose(first, false)).toEqual({ taken: true, basis: "explore" });
    expect(learner.choose(second, false)).toEqual({ taken: true, basis: "explore" });
    learner.learn(outcome(second, true, 3e6));
    // The second's exploration cost beyond the CPU's 1 ms median (the offload's scaled by 1.1).
    expect(learner.estimate(first).regretNs).toBeCloseTo(3e6 * 1.1 - 1e6, 3);
    learner.learn(outcome(first, true, 3e6));
    expect(learner.estimate(first).regretNs).toBeCloseTo(2 * (3e6 * 1.1 - 1e6), 3);
    // Neither is in flight now: a third report of the first is no exploration.
    learner.learn(outcome(first, true, 3e6));
    expect(learner.estimate(first).regretNs).toBeCloseTo(2 * (3e6 * 1.1 - 1e6), 3);
  });

  it("a batch it did not choose for is no exploration, though one is in flight", () => {
    const learner = primed();
    const explored = batch(512, 4 * KiB);
    expect(learner.choose(explored, false)).toEqual({ taken: true, basis: "explore" });
    // Another batch of the class, offloaded by a decision this learner did not make, ends first.
    learner.learn(outcome(batch(512, 4 * KiB), true, 3e6));
    expect(learner.estimate(explored).regretNs).toBe(0);
    learner.learn(outcome(explored, true, 3e6));
    // Only the exploration's cost beyond the CPU's 1 ms median, the offload's scaled by 1.1.
    expect(learner.estimate(explored).regretNs).toBeCloseTo(3e6 * 1.1 - 1e6, 3);
  });
});

describe("OffloadLearner: the model first, then what the class measured", () => {
  it("where the offload pays though the model says no, it tries the offload and then keeps it", () => {
    const learner = new OffloadLearner();
    // 64 MiB of 4 KiB folios a batch: 30 ms by the CPU's per-folio copy, 20 ms offloaded; the
    // first offload starts cold, 100 ms.
    const b = batch(16384, 4 * KiB);
    const steps: Array<[boolean, string]> = [];
    const ns = (taken: boolean) => (taken ? 20e6 : 30e6);
    let cold = true;
    for (let i = 0; i < 8; i++) {
      const c = learner.choose(b, false);
      steps.push([c.taken, c.basis]);
      learner.learn(outcome(b, c.taken, c.taken && cold ? 100e6 : ns(c.taken)));
      if (c.taken) cold = false;
    }
    expect(steps).toEqual([
      // The model's CPU copy twice (minSamples 2), then the offload: three times cold (their time
      // counts, their cost does not), once more; then it is measured cheaper, and kept.
      [false, "model"],
      [false, "model"],
      [true, "explore"],
      [true, "explore"],
      [true, "explore"],
      [true, "explore"],
      [true, "measured"],
      [true, "measured"],
    ]);
    expect(learner.estimate(b)).toMatchObject({
      cpuNsPerByte: 30e6 / b.bytes,
      offloadNsPerByte: 20e6 / b.bytes,
      cpuSamples: 2,
      offloadSamples: 3,
      totalNs: 2 * 30e6 + 100e6 + 5 * 20e6,
      // The first cold offload cost 100 ms, counted with the margin as 110 ms, 80 beyond the CPU's
      // 30; the next, 20 ms (22 with the margin), nothing beyond it.
      regretNs: 100e6 * (1 + 1 / 10) - 30e6,
    });
    // The CPU copy is tried again once 80 ms is at most 1/64 of the class's time: 5120 ms.
    let next = 0;
    while (learner.choose(b, false).basis === "measured") {
      learner.learn(outcome(b, true, 20e6));
      next++;
    }
    // The first batch with 260 ms + next × 20 ms ≥ 64 × 80 ms = 5120 ms: next = 243, or 244 as
    // 100 ms × 1.1 comes out a hair above 110 ms in binary floating point.
    const regret = 100e6 * (1 + 1 / 10) - 30e6;
    expect(next).toBe(Math.ceil((64 * regret - 260e6) / 20e6));
    expect(next).toBeGreaterThanOrEqual(243);
  });

  it("where the offload does not pay (one 2 MiB folio), it tries it five times, then seldom", () => {
    const learner = new OffloadLearner();
    // 150 µs by the CPU, 750 µs offloaded (0.2 × serial, as one DMA channel ran).
    const b = batch(1, 2 * MiB);
    let taken = 0;
    let spent = 0;
    const n = 10_000;
    for (let i = 0; i < n; i++) {
      const c = learner.choose(b, false);
      const ns = c.taken ? 750e3 : 150e3;
      if (c.taken) taken++;
      spent += ns;
      learner.learn(outcome(b, c.taken, ns));
    }
    // Five offloads at first (three cold, two measured), then one whenever what they cost beyond
    // the CPU's 150 µs (with the margin, 825 - 150 = 675 µs each) is within 1/64 of the class's
    // time: at most that, and one.
    expect(taken).toBeGreaterThanOrEqual(5);
    expect(taken).toBeLessThanOrEqual(spent / 64 / 675e3 + 1);
    // At least 1 / (1 + 1/64) of always choosing right (0.984), and so above the 0.95 floor.
    expect((n * 150e3) / spent).toBeGreaterThan(1 / (1 + 1 / 64) - 0.001);
  });

  it("learns nothing from a batch the migrator did not copy, nor from a time that is no time", () => {
    const learner = new OffloadLearner();
    const b = batch(64, 2 * MiB);
    learner.learn(outcome(b, true, 5e6, false));
    learner.learn(outcome(b, false, Number.NaN));
    learner.learn(outcome(b, false, -1));
    expect(learner.estimate(b)).toEqual({
      cpuNsPerByte: null,
      offloadNsPerByte: null,
      cpuSamples: 0,
      offloadSamples: 0,
      totalNs: 0,
      regretNs: 0,
    });
    expect(learner.choose(b, true)).toEqual({ taken: true, basis: "model" });
  });

  it("takes a choice's cost as the median of its last five batches, the lower middle of an even count", () => {
    const learner = new OffloadLearner();
    const b = batch(512, 4 * KiB);
    const cost = (ns: number) => learner.learn(outcome(b, false, ns * b.bytes));
    // 3000 (slow while code warms up), then 1000: the lower middle of two, 1000.
    cost(3000);
    cost(1000);
    expect(learner.estimate(b).cpuNsPerByte).toBe(1000);
    // A stall of 100000 moves it one place: 1000, 3000, 100000: 3000.
    cost(100_000);
    expect(learner.estimate(b).cpuNsPerByte).toBe(3000);
    // 1200, 1100: 1000, 1100, 1200, 3000, 100000: 1200.
    cost(1200);
    cost(1100);
    expect(learner.estimate(b).cpuNsPerByte).toBe(1200);
    // 900 pushes the first, 3000, out: 1000, 1100, 1200, 100000, 900: 1100.
    cost(900);
    expect(learner.estimate(b).cpuNsPerByte).toBe(1100);
    expect(learner.estimate(b).cpuSamples).toBe(6);
  });

  it("prefers the offload only when it measured a tenth cheaper than the CPU copy", () => {
    const b = batch(512, 4 * KiB);
    /** The choices not made to explore, over 200 batches at 1 ms by the CPU, `offloadNs` offloaded. */
    const settled = (offloadNs: number) => {
      const learner = new OffloadLearner();
      const chosen: boolean[] = [];
      for (let i = 0; i < 200; i++) {
        const c = learner.choose(b, false);
        if (c.basis === "measured") chosen.push(c.taken);
        learner.learn(outcome(b, c.taken, c.taken ? offloadNs : 1e6));
      }
      return chosen;
    };
    // 0.95 ms: 1.045 > 1, a near-tie, the CPU copy; 0.9 ms: 0.99 ≤ 1, the offload.
    const nearTie = settled(0.95e6);
    expect(nearTie.length).toBeGreaterThan(0);
    expect(nearTie.every((taken) => !taken)).toBe(true);
    const cheaper = settled(0.9e6);
    expect(cheaper.length).toBeGreaterThan(0);
    expect(cheaper.every((taken) => taken)).toBe(true);
  });

  it("keeps classes apart: what one 2 MiB folio taught says nothing of 64", () => {
    const learner = new OffloadLearner();
    const one = batch(1, 2 * MiB);
    learner.learn(outcome(one, false, 150e3));
    expect(learner.estimate(one).cpuSamples).toBe(1);
    expect(learner.estimate(batch(64, 2 * MiB)).cpuSamples).toBe(0);
    expect(learner.choose(batch(64, 2 * MiB), true)).toEqual({ taken: true, basis: "model" });
  });

  it("keeps classes apart when batches of two shapes alternate, one after the other", () => {
    const learner = new OffloadLearner();
    const one = batch(1, 2 * MiB);
    const many = batch(64, 2 * MiB);
    for (let i = 0; i < 3; i++) {
      learner.learn(outcome(one, false, 150e3));
      learner.learn(outcome(many, false, 9e6));
    }
    learner.learn(outcome(one, false, 150e3));
    // 4 batches of one folio, 3 of 64, each in its own class at its own cost per byte.
    expect(learner.estimate(one)).toMatchObject({ cpuSamples: 4, cpuNsPerByte: 150e3 / (2 * MiB) });
    expect(learner.estimate(many)).toMatchObject({
      cpuSamples: 3,
      cpuNsPerByte: 9e6 / (128 * MiB),
    });
  });

  test.prop([
    fc.double({ min: 1, max: 10_000, noNaN: true }),
    fc.double({ min: 0.1, max: 10, noNaN: true }),
    fc.boolean(),
    fc.integer({ min: 200, max: 3000 }),
  ])(
    "with steady costs, the time is within the share of always choosing right, less the first tries",
    (cpuNs, offloadOverCpu, modelTakes, n) => {
      const learner = new OffloadLearner();
      const b = batch(16, 64 * KiB);
      const offloadNs = cpuNs * offloadOverCpu;
      let spent = 0;
      let cold = true;
      for (let i = 0; i < n; i++) {
        const c = learner.choose(b, modelTakes);
        // The cold first offload costs 10× its steady time.
        const ns = c.taken ? (cold ? 10 * offloadNs : offloadNs) : cpuNs;
        if (c.taken) cold = false;
        spent += ns;
        learner.learn(outcome(b, c.taken, ns));
      }
      // The offload is preferred only when 1/10 cheaper: a near-tie runs the CPU copy.
      const best = Math.min(cpuNs, offloadNs * 1.1);
      const worst = Math.max(cpuNs, offloadNs);
      // Beyond the explorations' share, only the first tries (two by the model's choice, the
      // cold offloads, the first at 10×, two more) and one exploration past the share can cost
      // more.
      expect(spent * (1 - 1 / 64)).toBeLessThanOrEqual(n * best + 24 * worst + 1e-6 * spent);
    },
  );
});
