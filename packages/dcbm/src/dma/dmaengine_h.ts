/**
 * The dmaengine interface: capabilities, channels, descriptors, cookies and completion.
 *
 * Models `include/linux/dmaengine.h`: what clients and providers share (`struct dma_chan`,
 * `struct dma_async_tx_descriptor`, the callbacks of `struct dma_device`, the enums and the cookie
 * type), and the inline calls a client makes on a channel it holds:
 *
 * - A transfer is prepared ({@link dmaenginePrepDmaMemcpy}, which may return null), submitted
 *   ({@link dmaengineSubmit}, which assigns the next cookie or returns a negative errno), and only
 *   starts once the client calls {@link dmaAsyncIssuePending}.
 * - A descriptor prepared with {@link DMA_PREP_INTERRUPT} raises an interrupt when it completes:
 *   the channel's completed descriptors then have their callbacks run, in the order they
 *   completed. Callbacks of descriptors without it run at the next interrupt on the channel or
 *   when the client polls with {@link dmaengineTxStatus}.
 * - A device with the {@link DMA_COMPLETION_NO_ORDER} capability (as Intel DSA has) may complete
 *   a channel's descriptors in any order; its cookies then say nothing about earlier ones, and
 *   {@link dmaengineTxStatus} answers {@link DMA_OUT_OF_ORDER}. Completion is known from each
 *   descriptor's own callback.
 * - {@link dmaengineTerminateSync} drops everything the channel has not started, waits for what
 *   is running to stop, and runs no callback of any of it.
 *
 * Taking a channel and giving it back, and the list of devices, belong to the dmaengine core
 * (`dmaengine.ts`).
 *
 * @module
 */

import type { ErrnoError } from "@migrate-offload/core";
import type { Effect } from "effect";
import type { DmaMappingDevice } from "./dma_mapping_h";

/**
 * `DMA_MEMCPY` of `enum dma_transaction_type` (`include/linux/dmaengine.h`).
 *
 * @category dmaengine interface
 */
export const DMA_MEMCPY = 0;
/**
 * `DMA_INTERRUPT` of `enum dma_transaction_type` (`include/linux/dmaengine.h`).
 *
 * @category dmaengine interface
 */
export const DMA_INTERRUPT = 7;
/**
 * `DMA_PRIVATE` of `enum dma_transaction_type` (`include/linux/dmaengine.h`): set on a device whose
 * channels are taken exclusively.
 *
 * @category dmaengine interface
 */
export const DMA_PRIVATE = 8;
/**
 * `DMA_COMPLETION_NO_ORDER` of `enum dma_transaction_type` (`include/linux/dmaengine.h`):
 * completion order is not guaranteed.
 *
 * @category dmaengine interface
 */
export const DMA_COMPLETION_NO_ORDER = 13;
/**
 * `dma_cap_mask_t` (`include/linux/dmaengine.h`), with one bit per `enum dma_transaction_type`.
 *
 * @category dmaengine interface
 */
export type DmaCapMask = number;

/**
 * `dma_cap_set()` (`include/linux/dmaengine.h`) on a copy: the mask with capability `cap` added.
 *
 * @category dmaengine interface
 */
export const dmaCapSet = (cap: number, mask: DmaCapMask = 0): DmaCapMask => mask | (1 << cap);
/**
 * `dma_has_cap()` (`include/linux/dmaengine.h`): whether the mask holds capability `cap`.
 *
 * @category dmaengine interface
 */
export const dmaHasCap = (cap: number, mask: DmaCapMask): boolean => (mask & (1 << cap)) !== 0;

/**
 * `DMA_PREP_INTERRUPT` of `enum dma_ctrl_flags` (`include/linux/dmaengine.h`): interrupt (run
 * callbacks) on completion.
 *
 * @category dmaengine interface
 */
export const DMA_PREP_INTERRUPT = 1 << 0;
/**
 * `DMA_CTRL_ACK` of `enum dma_ctrl_flags` (`include/linux/dmaengine.h`): the client does not chain
 * on this descriptor.
 *
 * @category dmaengine interface
 */
export const DMA_CTRL_ACK = 1 << 1;

/**
 * `DMA_COMPLETE` of `enum dma_status` (`include/linux/dmaengine.h`).
 *
 * @category dmaengine interface
 */
export const DMA_COMPLETE = 0;
/**
 * `DMA_IN_PROGRESS` of `enum dma_status` (`include/linux/dmaengine.h`).
 *
 * @category dmaengine interface
 */
export const DMA_IN_PROGRESS = 1;
/**
 * `DMA_PAUSED` of `enum dma_status` (`include/linux/dmaengine.h`).
 *
 * @category dmaengine interface
 */
export const DMA_PAUSED = 2;
/**
 * `DMA_ERROR` of `enum dma_status` (`include/linux/dmaengine.h`).
 *
 * @category dmaengine interface
 */
export const DMA_ERROR = 3;
/**
 * `DMA_OUT_OF_ORDER` of `enum dma_status` (`include/linux/dmaengine.h`): the device cannot answer
 * by cookie.
 *
 * @category dmaengine interface
 */
export const DMA_OUT_OF_ORDER = 4;
/**
 * `enum dma_status` (`include/linux/dmaengine.h`).
 *
 * @category dmaengine interface
 */
export type DmaStatus =
  | typeof DMA_COMPLETE
  | typeof DMA_IN_PROGRESS
  | typeof DMA_PAUSED
  | typeof DMA_ERROR
  | typeof DMA_OUT_OF_ORDER;

/**
 * `DMA_TRANS_NOERROR` of `enum dmaengine_tx_result` (`include/linux/dmaengine.h`).
 *
 * @category dmaengine interface
 */
export const DMA_TRANS_NOERROR = 0;
/**
 * `DMA_TRANS_READ_FAILED` of `enum dmaengine_tx_result` (`include/linux/dmaengine.h`): an IOMMU or
 * machine-check fault reading.
 *
 * @category dmaengine interface
 */
export const DMA_TRANS_READ_FAILED = 1;
/**
 * `DMA_TRANS_WRITE_FAILED` of `enum dmaengine_tx_result` (`include/linux/dmaengine.h`).
 *
 * @category dmaengine interface
 */
export const DMA_TRANS_WRITE_FAILED = 2;
/**
 * `DMA_TRANS_ABORTED` of `enum dmaengine_tx_result` (`include/linux/dmaengine.h`): terminated, or
 * its engine died.
 *
 * @category dmaengine interface
 */
export const DMA_TRANS_ABORTED = 3;
/**
 * `enum dmaengine_tx_result` (`include/linux/dmaengine.h`).
 *
 * @category dmaengine interface
 */
export type DmaengineTxResult =
  | typeof DMA_TRANS_NOERROR
  | typeof DMA_TRANS_READ_FAILED
  | typeof DMA_TRANS_WRITE_FAILED
  | typeof DMA_TRANS_ABORTED;

/**
 * `struct dmaengine_result` (`include/linux/dmaengine.h`): what a completion callback is told.
 *
 * @category dmaengine interface
 */
export interface DmaengineResult {
  /** How the transfer ended. */
  readonly result: DmaengineTxResult;
  /** Bytes not transferred. */
  readonly residue: number;
}

/**
 * `dma_cookie_t` (`include/linux/dmaengine.h`): positive for a submitted descriptor, a negative
 * errno for a failed submit.
 *
 * @category dmaengine interface
 */
export type DmaCookie = number;
/**
 * `DMA_MIN_COOKIE` (`include/linux/dmaengine.h`): the first cookie a channel hands out.
 *
 * @category dmaengine interface
 */
export const DMA_MIN_COOKIE = 1;

/**
 * `dma_submit_error()` (`include/linux/dmaengine.h`): the errno of a failed submit, or 0.
 *
 * @category dmaengine interface
 */
export const dmaSubmitError = (cookie: DmaCookie): number => (cookie < 0 ? cookie : 0);

/**
 * A prepared transfer. Models `struct dma_async_tx_descriptor` (`include/linux/dmaengine.h`).
 *
 * @category dmaengine interface
 */
export class DmaAsyncTxDescriptor {
  /** The cookie, once submitted (`-EBUSY` before). */
  cookie: DmaCookie = -16;
  /** `callback_result`: runs on completion, with the result. */
  callback: ((result: DmaengineResult) => void) | null = null;
  /** Set by the device when the transfer ended; null while it has not. */
  result: DmaengineTxResult | null = null;

  constructor(
    /** The channel it was prepared on. */
    readonly chan: DmaChan,
    /** Destination bus address. */
    readonly dst: number,
    /** Source bus address. */
    readonly src: number,
    /** Bytes to copy. */
    readonly len: number,
    /** `enum dma_ctrl_flags`. */
    readonly flags: number,
  ) {}

  /** `tx_submit()`: see {@link dmaengineSubmit}. */
  submit(): DmaCookie {
    return this.chan.device.submit(this);
  }
}

/**
 * What a DMA device driver provides. Models the callbacks of `struct dma_device`; the device also
 * maps memory for its channels (`dmaengine_get_dma_device()`), so it carries what the mapping API
 * reads: its IOMMU domain (or none) and its `dma_parms`.
 *
 * Models `struct dma_device` (`include/linux/dmaengine.h`).
 *
 * @category dmaengine interface
 */
export interface DmaDeviceOps extends DmaMappingDevice {
  /** `dev_name()`, e.g. `dma0`. */
  name: string;
  /** `cap_mask`. */
  readonly capMask: DmaCapMask;
  /** The channels. */
  readonly channels: readonly DmaChan[];
  /**
   * Completes once the device's engines are running; fails, saying why, when they could not
   * start (an engine thread's entry file is missing, say). A client that is about to depend on
   * the device (dcbm switching offloading on) asks first.
   */
  ready(): Effect.Effect<void, ErrnoError>;
  /** `device_prep_dma_memcpy`. */
  prepMemcpy(
    chan: DmaChan,
    dst: number,
    src: number,
    len: number,
    flags: number,
  ): DmaAsyncTxDescriptor | null;
  /** `tx_submit` of its descriptors. */
  submit(tx: DmaAsyncTxDescriptor): DmaCookie;
  /** `device_issue_pending`. */
  issuePending(chan: DmaChan): void;
  /** `device_terminate_all` + `device_synchronize`. */
  terminateSync(chan: DmaChan): Effect.Effect<void>;
  /** `device_tx_status`. */
  txStatus(chan: DmaChan, cookie: DmaCookie): DmaStatus;
  /** `device_free_chan_resources`: forgets the channel's descriptors and cookie history. */
  freeChanResources(chan: DmaChan): void;
}

/**
 * A DMA channel. Models `struct dma_chan` (`include/linux/dmaengine.h`).
 *
 * @category dmaengine interface
 */
export class DmaChan {
  /** `client_count`: 1 while a client holds it. */
  clientCount = 0;
  /** `cookie`: the last cookie handed out. */
  cookie: DmaCookie = DMA_MIN_COOKIE - 1;
  /** `completed_cookie`: every cookie up to this one has completed. */
  completedCookie: DmaCookie = DMA_MIN_COOKIE - 1;
  /** `local->memcpy_count`. */
  memcpyCount = 0;
  /** `local->bytes_transferred`. */
  bytesTransferred = 0;

  constructor(
    /** `device`. */
    readonly device: DmaDeviceOps,
    /** `chan_id`. */
    readonly chanId: number,
  ) {}

  /** The sysfs name, `dma<N>chan<M>`. */
  get name(): string {
    return `${this.device.name}chan${this.chanId}`;
  }
}

/**
 * `dmaengine_get_dma_device()` (`include/linux/dmaengine.h`): the device that maps memory for the
 * channel.
 *
 * @category dmaengine interface
 */
export const dmaengineGetDmaDevice = (chan: DmaChan): DmaDeviceOps => chan.device;

/**
 * `dmaengine_prep_dma_memcpy()` (`include/linux/dmaengine.h`): a descriptor copying `len` bytes, or
 * null if the device refuses.
 *
 * @category dmaengine interface
 */
export const dmaenginePrepDmaMemcpy = (
  chan: DmaChan,
  dst: number,
  src: number,
  len: number,
  flags: number,
): DmaAsyncTxDescriptor | null => chan.device.prepMemcpy(chan, dst, src, len, flags);

/**
 * `dmaengine_submit()` (`include/linux/dmaengine.h`): queues the descriptor on its channel; its
 * cookie, or a negative errno.
 *
 * @category dmaengine interface
 */
export const dmaengineSubmit = (tx: DmaAsyncTxDescriptor): DmaCookie => tx.submit();

/**
 * `dma_async_issue_pending()` (`include/linux/dmaengine.h`): starts the channel's submitted
 * descriptors.
 *
 * @category dmaengine interface
 */
export const dmaAsyncIssuePending = (chan: DmaChan): void => chan.device.issuePending(chan);

/**
 * `dmaengine_terminate_sync()` (`include/linux/dmaengine.h`): aborts the channel's work and waits
 * until nothing of it runs.
 *
 * @category dmaengine interface
 */
export const dmaengineTerminateSync = (chan: DmaChan): Effect.Effect<void> =>
  chan.device.terminateSync(chan);

/**
 * `dmaengine_tx_status()` (`include/linux/dmaengine.h`): polls the device (running due callbacks)
 * and reports on `cookie`.
 *
 * @category dmaengine interface
 */
export const dmaengineTxStatus = (chan: DmaChan, cookie: DmaCookie): DmaStatus =>
  chan.device.txStatus(chan, cookie);

/**
 * `dma_async_is_tx_complete()` (`include/linux/dmaengine.h`): the same as {@link
 * dmaengineTxStatus}.
 *
 * @category dmaengine interface
 */
export const dmaAsyncIsTxComplete = dmaengineTxStatus;
