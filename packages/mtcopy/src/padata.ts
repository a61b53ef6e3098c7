/**
 * Chunked parallel jobs.
 *
 * Models `padata_do_multithreaded()` (`kernel/padata.c`) as the later copy-offload series uses
 * it: a job of `size` units starting at `start` is cut into chunks of at least `minChunk` units,
 * aligned to `align`, spread over at most `maxThreads` threads. padata cuts each thread's share
 * into several chunks (its load-balance factor of 4) that threads take in turn; here the chunks
 * are dealt round-robin, which gives every thread the same amount of work to within one chunk.
 *
 * @module
 */

/**
 * A job for {@link padataDoMultithreaded}. Models `struct padata_mt_job`
 * (`include/linux/padata.h`).
 *
 * @category padata
 */
export interface PadataJob {
  /** First unit. */
  readonly start: number;
  /** Number of units. */
  readonly size: number;
  /** Chunk boundaries fall on multiples of this, counted from `start`. */
  readonly align: number;
  /** The smallest chunk worth a thread. */
  readonly minChunk: number;
  /** The most threads to use. */
  readonly maxThreads: number;
}

/**
 * Chunks per thread: the `load_balance_factor` of `padata_do_multithreaded()` (`kernel/padata.c`).
 *
 * @category padata
 */
export const PADATA_LOAD_BALANCE_FACTOR = 4;

/**
 * Cuts the job into chunks and calls `threadFn(start, end, thread)` for each, `thread` being the
 * index (below the returned count) of the thread the chunk goes to. Returns how many threads the
 * job uses: one when it is smaller than two minimum chunks. Allocates nothing.
 *
 * Models `padata_do_multithreaded()` (`kernel/padata.c`).
 *
 * @category padata
 */
export const padataDoMultithreaded = (
  job: PadataJob,
  threadFn: (start: number, end: number, thread: number) => void,
): number => {
  if (job.size <= 0) return 0;
  const align = Math.max(1, job.align);
  const minChunk = Math.max(align, Math.ceil(job.minChunk / align) * align);
  const threads = Math.max(1, Math.min(job.maxThreads, Math.floor(job.size / minChunk)));
  let chunk = Math.ceil(job.size / (threads * (threads > 1 ? PADATA_LOAD_BALANCE_FACTOR : 1)));
  chunk = Math.max(minChunk, Math.ceil(chunk / align) * align);
  let thread = 0;
  for (let at = 0; at < job.size; at += chunk) {
    threadFn(job.start + at, job.start + Math.min(job.size, at + chunk), thread);
    thread = (thread + 1) % threads;
  }
  return threads;
};
