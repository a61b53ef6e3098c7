/**
 * Fault injection for the page allocator.
 *
 * Models `fail_page_alloc` of the kernel's fault-injection framework
 * (`mm/fail_page_alloc.c` over `lib/fault-inject.c`, configured through
 * `/sys/kernel/debug/fail_page_alloc/`): while armed, `__alloc_pages()` fails allocations as the
 * attributes select them. The model is deterministic, so two runs of one workload fail the same
 * allocations: `probability` is not modelled, as if it were 100.
 *
 * @module
 */
import { type ErrnoError, errno } from "../errno";

/**
 * The attributes of `fail_page_alloc` (`struct fault_attr`, `include/linux/fault-inject.h`), as
 * written to its debugfs files (`mm/fail_page_alloc.c`).
 *
 * @category Testing
 */
export interface FailPageAllocAttr {
  /** `times`: how many allocations to fail; -1 for no limit. */
  readonly times: number;
  /** `interval`: fail only every `interval`-th allocation that qualifies; default 1. */
  readonly interval?: number;
  /** `space`: bytes of qualifying allocations to let through before failing; default 0. */
  readonly space?: number;
  /** `min-order`: allocations below this order never fail; default 0. */
  readonly minOrder?: number;
  /**
   * `ignore-gfp-wait` (`fail_page_alloc.ignore_gfp_reclaim`): allocations that may reclaim
   * directly (`__GFP_DIRECT_RECLAIM`: a user fault's, `move_pages()`'s destinations) never fail
   * and are not counted toward `interval` or `space`; default true, as Linux's debugfs file
   * starts `Y`. Set false to fail them too: then a user fault's allocation fails with it, and the
   * fault retries (`VM_FAULT_OOM`, `pagefault_out_of_memory()`) until it is disarmed.
   */
  readonly ignoreGfpReclaim?: boolean;
}

/**
 * One kernel's `fail_page_alloc` state (`mm/fail_page_alloc.c`, over `should_fail()` of
 * `lib/fault-inject.c`).
 *
 * @category Testing
 */
export class FailPageAlloc {
  private times = 0;
  private interval = 1;
  private space = 0;
  private minOrder = 0;
  private ignoreGfpReclaim = true;
  private calls = 0;
  /** Allocations failed since it was last armed. */
  failed = 0;

  constructor(private readonly pageSize: number) {}

  /** Arms it with `attr`, or disarms it with `times: 0`. `EINVAL` for an attribute out of range. */
  arm(attr: FailPageAllocAttr): ErrnoError | null {
    const { times, interval = 1, space = 0, minOrder = 0, ignoreGfpReclaim = true } = attr;
    if (!Number.isInteger(times) || times < -1)
      return errno("EINVAL", `fail_page_alloc: times ${times} must be -1 or at least 0`);
    if (!Number.isInteger(interval) || interval < 1)
      return errno("EINVAL", `fail_page_alloc: interval ${interval} must be at least 1`);
    if (!Number.isSafeInteger(space) || space < 0)
      return errno("EINVAL", `fail_page_alloc: space ${space} must be at least 0`);
    if (!Number.isInteger(minOrder) || minOrder < 0)
      return errno("EINVAL", `fail_page_alloc: min-order ${minOrder} must be at least 0`);
    this.times = times;
    this.interval = interval;
    this.space = space;
    this.minOrder = minOrder;
    this.ignoreGfpReclaim = ignoreGfpReclaim;
    this.calls = 0;
    this.failed = 0;
    return null;
  }

  /** True while allocations may still be failed. */
  get armed(): boolean {
    return this.times !== 0;
  }

  /**
   * `should_fail_alloc_page()` (`mm/page_alloc.c`, through `__should_fail_alloc_page()` of
   * `mm/fail_page_alloc.c`): whether this allocation fails. `directReclaim`: whether its gfp
   * flags have `__GFP_DIRECT_RECLAIM`, which `ignore-gfp-wait` leaves alone.
   */
  shouldFail(order: number, directReclaim: boolean): boolean {
    if (this.times === 0 || order < this.minOrder) return false;
    if (directReclaim && this.ignoreGfpReclaim) return false;
    const size = this.pageSize * 2 ** order;
    if (this.space > size) {
      this.space -= size;
      return false;
    }
    if (this.interval > 1 && ++this.calls % this.interval !== 0) return false;
    if (this.times > 0) this.times--;
    this.failed++;
    return true;
  }
}
