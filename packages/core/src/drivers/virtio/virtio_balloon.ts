/**
 * The virtio memory balloon driver.
 *
 * Models the balloon part of `drivers/virtio/virtio_balloon.c` (Linux 7.0): `fill_balloon()`
 * inflates pages taken from the buddy allocator into the device's balloon list and tells the host
 * their PFNs; `leak_balloon()` dequeues pages, tells the host and frees them; and
 * `virtballoon_migratepage()`, the device's `migratepage`, tells the host that a new page replaces
 * an old one, giving up with `-EAGAIN` while `balloon_lock` is held by an inflation or deflation.
 * The host's side is the set of PFNs it was told it holds ({@link VirtioBalloon.host}); the
 * virtqueues are not modelled. Like Linux, the driver never copies a balloon page's content: the
 * guest does not use it.
 *
 * @module
 */
import { Effect } from "effect";
import { ERRNO, type ErrnoError } from "../../errno";
import type { BalloonDevInfo } from "../../include/balloon";
import type { Kernel } from "../../include/kernel";
import { FolioList } from "../../lib/list";
import {
  balloonDevinfoInit,
  balloonPageAlloc,
  balloonPageDequeue,
  balloonPageListEnqueue,
} from "../../mm/balloon";
import { folioPut } from "../../mm/swap";

/**
 * `VIRTIO_BALLOON_ARRAY_PFNS_MAX` (`drivers/virtio/virtio_balloon.c`): the most pages one
 * `fill_balloon()` or `leak_balloon()` call moves.
 *
 * @category Memory balloon
 */
export const VIRTIO_BALLOON_ARRAY_PFNS_MAX = 256;

/**
 * Options of a {@link VirtioBalloon}.
 *
 * @category Memory balloon
 */
export interface VirtioBalloonOptions {
  /** The node inflation allocates from first (the allocating CPU's node); 0 by default. */
  readonly nid?: number;
  /**
   * `VIRTIO_BALLOON_F_DEFLATE_ON_OOM` (`include/uapi/linux/virtio_balloon.h`): without it,
   * inflated pages leave the zone's managed pages (`adjust_managed_page_count`). False by default.
   */
  readonly deflateOnOom?: boolean;
}

/**
 * `struct virtio_balloon` (`drivers/virtio/virtio_balloon.c`): one virtio balloon device and its
 * balloon ({@link VirtioBalloon.vbDevInfo}).
 *
 * @category Memory balloon
 *
 * @example
 * ```ts
 * import { Kernel, VirtioBalloon } from "@migrate-offload/core";
 * import { Effect } from "effect";
 *
 * await Effect.runPromise(
 *   Effect.scoped(
 *     Effect.gen(function* () {
 *       const kernel = yield* Kernel.make({ nodes: ["64M"] });
 *       const vb = new VirtioBalloon(kernel);
 *       yield* vb.fillBalloon(8); // 8 pages inflated: /proc/vmstat balloon_inflate 8
 *       vb.leakBalloon(3); // 3 deflated and freed: balloon_deflate 3
 *       console.log(vb.numPages, kernel.vmstat.get("balloon_deflate")); // 5 3
 *     }),
 *   ),
 * );
 * ```
 */
export class VirtioBalloon {
  /** `vb_dev_info`: the balloon core's descriptor of this device. */
  readonly vbDevInfo: BalloonDevInfo;
  /** `num_pages`: pages in the balloon, as the host was told. */
  numPages = 0;
  /** The PFNs the host holds: told inflated (`inflate_vq`) and not yet deflated. */
  readonly host = new Set<number>();
  /**
   * `balloon_lock` held: inflation and deflation hold it; while it is, migration of this
   * balloon's pages answers `-EAGAIN`. Set it to model a concurrent inflation.
   */
  balloonLocked = false;
  private readonly nid: number;

  constructor(
    private readonly k: Kernel,
    options: VirtioBalloonOptions = {},
  ) {
    this.nid = options.nid ?? 0;
    this.vbDevInfo = balloonDevinfoInit(
      k,
      (_b, newpage, page) => this.migratepage(newpage, page),
      !(options.deflateOnOom ?? false),
    );
  }

  /**
   * `fill_balloon()`: inflates up to `num` pages (at most {@link VIRTIO_BALLOON_ARRAY_PFNS_MAX}),
   * stopping at the first page the allocator cannot give ("Out of puff!"), each allocation with
   * its slow path (`balloonPageAlloc()`: one round of reclaim under `__GFP_NORETRY`). The number
   * inflated.
   */
  fillBalloon(num: number): Effect.Effect<number, ErrnoError> {
    const self = this;
    return Effect.gen(function* () {
      const want = Math.min(Math.max(0, Math.trunc(num)), VIRTIO_BALLOON_ARRAY_PFNS_MAX);
      const pages = new FolioList(self.k.memmap.lru);
      try {
        for (let i = 0; i < want; i++) {
          const page = yield* balloonPageAlloc(self.k, self.nid);
          if (page < 0) break;
          pages.addTail(page);
        }
        const pfns = [...pages];
        self.balloonLocked = true;
        const n = balloonPageListEnqueue(self.k, self.vbDevInfo, pages);
        for (const pfn of pfns) self.host.add(pfn);
        self.numPages += n;
        self.balloonLocked = false;
        return n;
      } finally {
        pages.release();
      }
    });
  }

  /**
   * `leak_balloon()`: deflates up to `num` pages (at most {@link VIRTIO_BALLOON_ARRAY_PFNS_MAX}
   * and the balloon's size), tells the host, and frees them (`release_pages_balloon()`). Pages
   * isolated for migration just now cannot be deflated. Returns the number freed.
   */
  leakBalloon(num: number): number {
    const want = Math.min(
      Math.max(0, Math.trunc(num)),
      VIRTIO_BALLOON_ARRAY_PFNS_MAX,
      this.numPages,
    );
    this.balloonLocked = true;
    const freed: number[] = [];
    for (let i = 0; i < want; i++) {
      const page = balloonPageDequeue(this.k, this.vbDevInfo);
      if (page < 0) break;
      freed.push(page);
      this.numPages--;
    }
    for (const pfn of freed) this.host.delete(pfn);
    this.balloonLocked = false;
    for (const pfn of freed) folioPut(this.k, pfn);
    return freed.length;
  }

  /**
   * `virtballoon_migratepage()`: tells the host `newpage` is inflated and `page` deflated; the
   * balloon core then moves the bookkeeping. `-EAGAIN` while `balloon_lock` is held.
   */
  private migratepage(newpage: number, page: number): number {
    if (this.balloonLocked) return -ERRNO.EAGAIN;
    this.host.add(newpage);
    this.host.delete(page);
    return 0;
  }
}
