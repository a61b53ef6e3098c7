/**
 * What an adaptive offload policy learns from the batches it decided: per class of batch (folio
 * size and folio count, each to a power of two), what a byte really cost when the batch was
 * turned down (the per-folio CPU copy, as with no migrator) and when it was offloaded (the batch
 * flow with the migrator's copy), each the median of its last batches' wall times that
 * `migrate_pages_batch()` reports (`BatchOutcome`). Once a class has both, the cheaper choice wins;
 * the other is tried again only while what trying it cost beyond the cheaper choice stays within
 * a small share of the class's time, so that learning costs a policy at most about that share
 * against always choosing right.
 *
 * The series leaves "when does offload pay" open (v3 cover letter; Zi Yan's TODO 3, "a runtime
 * check to decide when to use multi-threaded folio copy"); the copy-cost model
 * (`migrate_copy_cost.ts`) predicts the copy step alone, and this learns the whole batch, where a
 * copy made folio by folio between each folio's other steps can cost more than the model's
 * bandwidth says. Nothing here reads a clock: the times are what it is told.
 *
 * @module
 */
import type { BatchOutcome, CopyBatch } from "../include/migrate_copy_offload";
import type { MmMigrateOffloadDecision } from "../include/trace";

/**
 * Why a policy chose as it did: `model`, the copy-cost model's prediction (nothing measured yet
 * for the batch's class); `measured`, the cheaper of what the class's batches cost each way;
 * `explore`, the other choice, tried to learn (or learn again) what it costs. The
 * `mm_migrate_offload_decision` event's `basis`.
 *
 * @category Copy offload
 */
export type OffloadBasis = MmMigrateOffloadDecision["basis"];

/**
 * Options of {@link OffloadLearner}.
 *
 * @category Copy offload
 */
export interface OffloadLearnerOptions {
  /**
   * The most of a class's batch time that trying the costlier choice may cost beyond the cheaper
   * one, a fraction (default 1/64): the policy is then at most about that much slower than one
   * that always chose right. Above 0 and below 1.
   */
  readonly share?: number;
  /**
   * The batches of each choice whose median is its cost (default 5): the newest, so that the
   * first batches, slow while code warms up, age out. A whole number, at least 1.
   */
  readonly window?: number;
  /**
   * Batches of each choice a class measures before it exploits, whatever they cost (default 2),
   * so that one noisy batch does not settle a class for good.
   */
  readonly minSamples?: number;
  /**
   * Offloaded batches, the first the learner is told of, whose cost it does not learn (default
   * 3): they start cold (copy threads waking, their code not yet compiled: a copy thread is a
   * worker of its own, which compiles its code for itself). A whole number, at least 0.
   */
  readonly coldBatches?: number;
  /**
   * How much cheaper the offload must measure to be preferred, a fraction (default 1/10): a
   * near-tie goes to the CPU copy, the choice that is never slower than today, since one noisy
   * median must not move a class to the offload. At least 0.
   */
  readonly margin?: number;
}

/** One choice's record in one class: its latest costs per byte and the batches it learned from. */
interface ArmState {
  /**
   * The newest costs per byte, ns, at most `window` of them: once full, the oldest is overwritten
   * in place (at `oldest`), so a cost coming in moves no other.
   */
  readonly recent: number[];
  /** Where in a full `recent` the oldest cost is, the next to be overwritten. */
  oldest: number;
  /**
   * The median of `recent` ({@link medianOf}), kept as each cost comes in: a class's choice reads
   * it for every batch, and a median taken there would sort a copy of `recent` each time.
   */
  cost: number;
  samples: number;
  /** Explorations of this choice decided and not yet reported. */
  exploring: number;
}

/** One class's record. */
interface ClassState {
  readonly cpu: ArmState;
  readonly offload: ArmState;
  /** Wall time of every batch of the class it was told of, ns. */
  totalNs: number;
  /** What the explorations cost beyond the cheaper choice's median, ns. */
  regretNs: number;
}

/** The model's two choices, shared: {@link OffloadLearner.choose} with nothing learned. */
const MODEL_TAKES = Object.freeze({ taken: true, basis: "model" as const });
const MODEL_DECLINES = Object.freeze({ taken: false, basis: "model" as const });

const newArm = (): ArmState => ({ recent: [], oldest: 0, cost: 0, samples: 0, exploring: 0 });

/** Scratch for {@link medianOf}: the costs in order, grown to the largest window seen. */
let ordered: number[] = [];

/**
 * The median of `recent`, the lower middle of an even count, 0 when empty: an insertion sort
 * into a reused array (a window holds a handful of costs), so a batch allocates nothing for it.
 */
const medianOf = (recent: readonly number[]): number => {
  const n = recent.length;
  if (n === 0) return 0;
  if (ordered.length < n) ordered = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    const x = recent[i]!;
    let j = i;
    for (; j > 0 && ordered[j - 1]! > x; j--) ordered[j] = ordered[j - 1]!;
    ordered[j] = x;
  }
  return ordered[(n - 1) >> 1]!;
};

/** A choice's cost per byte: the median of its recent batches, the lower middle of an even count. */
const costOf = (a: ArmState): number => a.cost;

/**
 * The class of a batch: its folio size and its folio count, each rounded to a power of two, as
 * `"<log2 folio bytes>:<log2 folios>"`. For instance, 512 folios of 4 KiB are `"12:9"`, one 2 MiB
 * folio `"21:0"`, eight `"21:3"`.
 *
 * @category Copy offload
 */
export const offloadClassOf = (batch: CopyBatch): string => {
  const folios = Math.max(1, batch.folios);
  return `${Math.round(Math.log2(Math.max(1, batch.bytes / folios)))}:${Math.floor(Math.log2(folios))}`;
};

/**
 * What an adaptive policy learned, per class of batch ({@link offloadClassOf}): the cost per byte
 * of each choice, the median of its last `window` (5) batches, and what trying the costlier choice
 * cost beyond the cheaper one. A median, as the throughput experiments compare (a copier's median
 * over the serial path's): a stall moves it by one place, a choice whose times spread more is not
 * favoured, and the first batches, slow while code warms up, age out.
 *
 * The choice for a batch ({@link choose}): the cheaper one, by what the class measured once it
 * measured both (the offload only when it measured `margin`, 1/10, cheaper), else the model's; but once the cheaper has `minSamples` batches, the other is
 * tried (`explore`) until it has as many, and after that whenever what the explorations cost
 * beyond the cheaper choice's median is at most `share` of the class's time. A choice that costs
 * `r` times the better one is thus tried about once every `(r - 1) / share` batches of the better
 * one (often when the two are close, which keeps both medians fresh), and the class runs at least
 * about `1 / (1 + share)` times as fast as always choosing right, on what it measured. The first
 * offloaded batches the learner is told of (`coldBatches`, 3) start cold (copy threads waking,
 * their code not yet compiled): their time counts, their cost per byte does not.
 *
 * @example
 * ```ts
 * import { OffloadLearner } from "@migrate-offload/core";
 *
 * const learner = new OffloadLearner();
 * const batch = { folios: 512, bytes: 512 * 4096, pageSize: 4096 };
 * // Nothing measured: the model's choice.
 * console.log(learner.choose(batch, false)); // { taken: false, basis: "model" }
 * // Two batches by the CPU's per-folio copy, 2 ms each.
 * learner.learn({ batch, batched: false, copied: false, ns: 2e6 });
 * learner.learn({ batch, batched: false, copied: false, ns: 2e6 });
 * // Now the offload is tried.
 * console.log(learner.choose(batch, false)); // { taken: true, basis: "explore" }
 * ```
 *
 * @category Copy offload
 */
export class OffloadLearner {
  private readonly classes = new Map<string, ClassState>();
  private readonly share: number;
  private readonly window: number;
  private readonly minSamples: number;
  private readonly coldBatches: number;
  private readonly margin: number;
  /** Offloaded batches reported so far, up to `coldBatches`. */
  private offloaded = 0;
  /** The choice each batch decided to explore is exploring, by the batch object, until reported. */
  private readonly explorations = new WeakMap<CopyBatch, ArmState>();
  /**
   * Explorations decided and not yet reported, over every class: while there are none, a batch's
   * end looks nothing up in {@link explorations}.
   */
  private exploringNow = 0;

  /** @param options - see {@link OffloadLearnerOptions}; a value out of range takes the default. */
  constructor(options: OffloadLearnerOptions = {}) {
    const { share, window, minSamples, coldBatches, margin } = options;
    this.share = share !== undefined && share > 0 && share < 1 ? share : 1 / 64;
    this.window = window !== undefined && Number.isInteger(window) && window >= 1 ? window : 5;
    this.minSamples =
      minSamples !== undefined && Number.isInteger(minSamples) && minSamples >= 1 ? minSamples : 2;
    this.coldBatches =
      coldBatches !== undefined && Number.isInteger(coldBatches) && coldBatches >= 0
        ? coldBatches
        : 3;
    this.margin = margin !== undefined && margin >= 0 && Number.isFinite(margin) ? margin : 1 / 10;
  }

  /** The last batch shape {@link classOf} keyed, and its key. */
  private lastClass = { folios: -1, bytes: -1, key: "" };

  /**
   * {@link offloadClassOf}, remembering the last shape's key: a run of batches of one shape, each
   * chosen for and then learned from, builds its key once.
   */
  private classOf(batch: CopyBatch): string {
    const last = this.lastClass;
    if (batch.folios !== last.folios || batch.bytes !== last.bytes)
      this.lastClass = { folios: batch.folios, bytes: batch.bytes, key: offloadClassOf(batch) };
    return this.lastClass.key;
  }

  /**
   * Chooses for one batch: `taken` true to offload it, false for the CPU copy, with the
   * {@link OffloadBasis} of the choice. `modelTakes` is the copy-cost model's choice, used while
   * the class has measured nothing. An exploration is remembered, by the `batch` object, until
   * that batch is reported ({@link learn}), so that what it cost beyond the cheaper choice counts
   * against the share.
   */
  choose(
    batch: CopyBatch,
    modelTakes: boolean,
  ): { readonly taken: boolean; readonly basis: OffloadBasis } {
    // Nothing learned at all (a policy without `batchDone`): the model's choice, with no class
    // key to build, so that a declined batch costs the policy no allocation.
    if (this.classes.size === 0) return modelTakes ? MODEL_TAKES : MODEL_DECLINES;
    const s = this.classes.get(this.classOf(batch));
    if (!s) return { taken: modelTakes, basis: "model" };
    // The cheaper choice: by what the class measured when it measured both (the offload by the
    // margin), else the model's.
    const measured = s.cpu.samples > 0 && s.offload.samples > 0;
    const cheaper = measured
      ? costOf(s.offload) * (1 + this.margin) <= costOf(s.cpu)
        ? s.offload
        : s.cpu
      : modelTakes
        ? s.offload
        : s.cpu;
    const other = cheaper === s.offload ? s.cpu : s.offload;
    // Each choice owes its first samples (one in flight counts), the cheaper first; then the
    // other is tried while the share allows.
    const owed = (a: ArmState) => a.samples + a.exploring < this.minSamples;
    if (!owed(cheaper) && (owed(other) || s.regretNs <= this.share * s.totalNs)) {
      other.exploring++;
      // The count is of entries in the map: a batch chosen for again replaces its entry.
      if (!this.explorations.has(batch)) this.exploringNow++;
      this.explorations.set(batch, other);
      return { taken: other === s.offload, basis: "explore" };
    }
    return { taken: cheaper === s.offload, basis: measured ? "measured" : "model" };
  }

  /**
   * Learns from how a batch ended: a batch turned down in `shouldBatch` (`batched` false) is the
   * CPU's, one the migrator copied (`copied`) the offload's; a batch that went through the batch
   * flow and was not copied by the migrator (declined in `offloadCopy`, a failed copy, or every
   * folio failed to unmap and nothing reached `offloadCopy`) is neither, and teaches nothing; an
   * exploration decided for it ({@link choose}, by the same `batch` object) is over all the same.
   * An `interrupted` batch teaches nothing either, and its exploration is over too. Only the
   * batch an exploration was decided for ends it. Times that are not finite or below 0 are
   * ignored.
   */
  learn(outcome: BatchOutcome): void {
    const { batch, batched, copied, ns } = outcome;
    // Only the batch an exploration was decided for ends it: a batch it did not choose for
    // (another learner's, or one decided before this class had a record) is no exploration.
    const explored = this.exploringNow > 0 ? this.explorations.get(batch) : undefined;
    if (explored) {
      this.explorations.delete(batch);
      explored.exploring--;
      this.exploringNow--;
    }
    if (outcome.interrupted) return;
    if (!(ns >= 0 && Number.isFinite(ns)) || batch.bytes <= 0) return;
    if (batched && !copied) return;
    const key = this.classOf(batch);
    let s = this.classes.get(key);
    if (!s) {
      s = { cpu: newArm(), offload: newArm(), totalNs: 0, regretNs: 0 };
      this.classes.set(key, s);
    }
    const arm = batched ? s.offload : s.cpu;
    const base = batched ? s.cpu : s.offload;
    s.totalNs += ns;
    if (explored === arm) {
      // An exploration costs what it took beyond the other choice's median (all of it while
      // the other is unmeasured).
      // An offload within the margin of the CPU's median counts as costing more, as it is chosen.
      const scaled = batched ? ns * (1 + this.margin) : ns;
      s.regretNs += Math.max(0, scaled - (base.samples > 0 ? costOf(base) * batch.bytes : 0));
    }
    if (batched && this.offloaded < this.coldBatches) {
      this.offloaded++;
      return;
    }
    const cost = ns / batch.bytes;
    if (arm.recent.length < this.window) arm.recent.push(cost);
    else {
      arm.recent[arm.oldest] = cost;
      arm.oldest = (arm.oldest + 1) % this.window;
    }
    arm.cost = medianOf(arm.recent);
    arm.samples++;
  }

  /**
   * What the learner holds for a batch's class: each choice's median cost per byte (ns, null
   * until measured) and batches measured, the class's time and what its explorations cost beyond
   * the cheaper choice.
   */
  estimate(batch: CopyBatch): {
    readonly cpuNsPerByte: number | null;
    readonly offloadNsPerByte: number | null;
    readonly cpuSamples: number;
    readonly offloadSamples: number;
    readonly totalNs: number;
    readonly regretNs: number;
  } {
    const s = this.classes.get(offloadClassOf(batch));
    return {
      cpuNsPerByte: s && s.cpu.samples > 0 ? costOf(s.cpu) : null,
      offloadNsPerByte: s && s.offload.samples > 0 ? costOf(s.offload) : null,
      cpuSamples: s?.cpu.samples ?? 0,
      offloadSamples: s?.offload.samples ?? 0,
      totalNs: s?.totalNs ?? 0,
      regretNs: s?.regretNs ?? 0,
    };
  }
}
