/**
 * The error-injection advice of `madvise(2)`.
 *
 * Models `madvise_inject_error()` of `mm/madvise.c` for `MADV_SOFT_OFFLINE`: for each page of
 * the range, the page is looked up as `get_user_pages_fast()` does (faulting it in for reading
 * when absent, waiting when it is under migration), and soft-offlined with `MF_COUNT_INCREASED`
 * (`soft_offline_page()`, `mm/memory_failure.ts`). A hugetlb page is one step of its whole size.
 *
 * @module
 */
import { Effect } from "effect";
import { type ErrnoError, errno } from "../errno";
import { CAP_SYS_ADMIN } from "../include/capability";
import type { Kernel, Task } from "../include/kernel";
import { translate } from "./memory";
import { softOfflinePage } from "./memory_failure";

/**
 * `madvise(addr, length, MADV_SOFT_OFFLINE)` (`do_madvise()` then `madvise_inject_error()`,
 * `mm/madvise.c`): soft-offlines every page of `[addr, addr + length)`, stopping at the first
 * failure. `EINVAL` for an unaligned `addr` or a range that wraps; `EPERM` without
 * `CAP_SYS_ADMIN`; `EFAULT` for an address with nothing mapped; then what `soft_offline_page()`
 * returns (`EBUSY`, `EIO`). A zero length does nothing.
 *
 * @category Memory and folios
 */
export const madviseSoftOffline = (
  k: Kernel,
  task: Task,
  addr: number,
  length: number,
): Effect.Effect<void, ErrnoError> =>
  Effect.gen(function* () {
    const pageSize = k.mem.pageSize;
    if (!Number.isSafeInteger(addr) || addr < 0 || addr % pageSize !== 0)
      return yield* Effect.fail(errno("EINVAL", `madvise: address ${addr} is not page aligned`));
    if (!Number.isSafeInteger(length) || length < 0)
      return yield* Effect.fail(errno("EINVAL", `madvise: length ${length} is not valid`));
    if (length === 0) return;
    if (!task.capable(CAP_SYS_ADMIN))
      return yield* Effect.fail(errno("EPERM", "madvise(MADV_SOFT_OFFLINE) needs CAP_SYS_ADMIN"));
    const end = addr + length;
    for (let start = addr; start < end; ) {
      // get_user_pages_fast(start, 1, 0): a read fault when absent; wait out a migration.
      const pfn = translate(k, task, Math.floor(start / pageSize), false);
      if (typeof pfn !== "number") return yield* Effect.fail(pfn);
      if (pfn < 0) {
        yield* k.folioWaiters.waitUnlocked(k.memmap.folioOf(-pfn - 1));
        continue;
      }
      const size = k.memmap.folioNrPages(k.memmap.folioOf(pfn)) * pageSize;
      yield* softOfflinePage(k, pfn, true, task);
      start += size;
    }
  });
