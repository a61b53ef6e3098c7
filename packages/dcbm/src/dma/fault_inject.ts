/**
 * Fault injection for DMA devices, for tests.
 *
 * Models the fault-injection framework of `lib/fault-inject.c` as the DMA path uses it: a test
 * arms faults on a device ({@link dmaInjectFault}, the framework's `struct fault_attr` with its
 * `space` of occurrences to let pass), and each step that can fail asks {@link dmaShouldFail}
 * (`should_fail()`) whether this occurrence is the one. Faults that play out later, once a
 * descriptor runs, are recorded against the descriptor here, not on it: the device asks
 * {@link dmaTxFault} when it runs one.
 *
 * @module
 */
import type { DmaAsyncTxDescriptor, DmaDeviceOps } from "./dmaengine_h";

/**
 * A step of the DMA path a fault can be injected at (see {@link DmaFault}): a `should_fail()` site
 * (`lib/fault-inject.c`).
 *
 * @category Fault injection
 */
export type DmaFaultKind = "request" | "prep" | "submit" | "hang" | "worker" | "completion";

/**
 * A fault to inject: it fires on the `after`-th next occurrence of its step (0: the next one).
 * - `request`: `dma_request_chan_by_mask()` finds no channel (`ENODEV`);
 * - `prep`: `device_prep_dma_memcpy()` returns null;
 * - `submit`: `tx_submit()` returns `-EIO`;
 * - `hang`: the submitted descriptor never completes (until {@link dmaReleaseStalled}); on an
 *   in-order device it holds up its channel;
 * - `worker`: the engine thread that runs the descriptor dies mid-chunk;
 * - `completion`: the descriptor completes with a device error (`DMA_TRANS_WRITE_FAILED`).
 *
 * Models a `struct fault_attr` (`lib/fault-inject.c`) armed for one failure, its `space` the
 * occurrences let pass.
 *
 * @category Fault injection
 */
export interface DmaFault {
  /** The step that fails. */
  readonly kind: DmaFaultKind;
  /** Occurrences of that step to let pass first (default 0). */
  readonly after?: number;
}

/**
 * A fault a submitted descriptor carries until it runs: a `should_fail()` (`lib/fault-inject.c`)
 * decision taken at `tx_submit` and played out later.
 *
 * @category Fault injection
 */
export type DmaTxFault = "hang" | "worker" | "completion";

/** The faults armed on one device. Models `struct fault_attr`. */
interface DmaFaultAttr {
  armed: Array<{ readonly kind: DmaFaultKind; countdown: number }>;
  /** The device's own way of letting descriptors held by `hang` run. */
  releaseStalled: (() => void) | null;
}

const attrs = new WeakMap<DmaDeviceOps, DmaFaultAttr>();
const txFaults = new WeakMap<DmaAsyncTxDescriptor, DmaTxFault>();

const attrOf = (device: DmaDeviceOps): DmaFaultAttr => {
  let attr = attrs.get(device);
  if (!attr) {
    attr = { armed: [], releaseStalled: null };
    attrs.set(device, attr);
  }
  return attr;
};

/**
 * Arms a fault on the device (see {@link DmaFault}), as writing a fault attribute's `times` and
 * `space` does for `lib/fault-inject.c`.
 *
 * @category Fault injection
 */
export const dmaInjectFault = (device: DmaDeviceOps, fault: DmaFault): void => {
  attrOf(device).armed.push({ kind: fault.kind, countdown: fault.after ?? 0 });
};

/**
 * Disarms every fault of the device not yet fired, as setting a fault attribute's `times` to 0 does
 * (`lib/fault-inject.c`).
 *
 * @category Fault injection
 */
export const dmaClearFaults = (device: DmaDeviceOps): void => {
  attrOf(device).armed = [];
};

/**
 * Lets the descriptors a `hang` fault holds on the device run after all, in their channels'
 * order, as if the stuck engine recovered: it undoes the `should_fail()` (`lib/fault-inject.c`)
 * decision their `tx_submit` took.
 *
 * @category Fault injection
 */
export const dmaReleaseStalled = (device: DmaDeviceOps): void => {
  attrs.get(device)?.releaseStalled?.();
};

/**
 * For a device: how {@link dmaReleaseStalled} lets its stalled descriptors run. A device that
 * honours `hang` sets it once, when it is built.
 *
 * Models the provider half of a `lib/fault-inject.c` site: the device says how it recovers.
 *
 * @category Fault injection
 */
export const dmaFaultSetReleaseStalled = (device: DmaDeviceOps, release: () => void): void => {
  attrOf(device).releaseStalled = release;
};

/**
 * `should_fail()`: whether this occurrence of `kind` on the device is the one an armed fault
 * waits for. Each call counts as one occurrence; a fault fires once.
 *
 * Models `should_fail()` (`lib/fault-inject.c`).
 *
 * @category Fault injection
 */
export const dmaShouldFail = (device: DmaDeviceOps, kind: DmaFaultKind): boolean => {
  const attr = attrs.get(device);
  if (!attr || attr.armed.length === 0) return false;
  let fired = false;
  attr.armed = attr.armed.filter((f) => {
    if (f.kind !== kind) return true;
    if (f.countdown === 0) {
      fired = true;
      return false;
    }
    f.countdown--;
    return true;
  });
  return fired;
};

/**
 * For a device's `tx_submit`: the descriptor was submitted, one occurrence each of `hang`,
 * `worker` and `completion`; the first that fires is recorded against it.
 *
 * Models the `should_fail()` (`lib/fault-inject.c`) sites of a provider's `tx_submit`
 * (`include/linux/dmaengine.h`).
 *
 * @category Fault injection
 */
export const dmaFaultSubmitted = (device: DmaDeviceOps, tx: DmaAsyncTxDescriptor): void => {
  for (const kind of ["hang", "worker", "completion"] as const) {
    if (dmaShouldFail(device, kind)) {
      txFaults.set(tx, kind);
      return;
    }
  }
};

/**
 * The fault recorded against a submitted descriptor, if any: the `should_fail()`
 * (`lib/fault-inject.c`) decision of its `tx_submit`.
 *
 * @category Fault injection
 */
export const dmaTxFault = (tx: DmaAsyncTxDescriptor): DmaTxFault | undefined => txFaults.get(tx);

/**
 * Forgets the descriptor's fault once the device has played it out: the `should_fail()`
 * (`lib/fault-inject.c`) decision is spent.
 *
 * @category Fault injection
 */
export const dmaTxFaultClear = (tx: DmaAsyncTxDescriptor): void => {
  txFaults.delete(tx);
};
