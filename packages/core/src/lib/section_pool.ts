/**
 * Section buffers kept between kernels: the host memory a kernel booted with a pool takes its
 * sections from and gives back when it shuts down.
 *
 * @module
 */

/**
 * `SharedArrayBuffer`s for memory sections, kept between kernels so that booting one does not
 * allocate and clear its node memory again. A kernel booted with a pool
 * (`KernelConfig.sectionPool`) takes each section buffer of the right size from it, or a new one;
 * at shutdown, when nothing that could still write its memory outlived it, it gives the buffers
 * back with a map of the pages it handed out. The next kernel on a buffer zeroes each of those
 * pages when it first hands it out, so that every page reads as fresh memory would; the pages
 * nobody handed out are still zero. The pool keeps no more than its limits (see the
 * constructor); a buffer over them is left to the garbage collector, as a kernel without a pool
 * leaves all of them.
 *
 * Host-side: Linux has no counterpart, as its memory outlives no boot. What a harness that boots
 * many short-lived kernels (the testkit's conformance runs) uses; memory a pool holds stays in the
 * process until the pool goes.
 *
 * @category Kernel
 *
 * @example
 * ```ts
 * import { Kernel, SectionPool } from "@migrate-offload/core";
 * import { Effect } from "effect";
 *
 * const sectionPool = new SectionPool();
 * const boot = Effect.scoped(Kernel.make({ nodes: ["16M"], sectionSize: "16M", sectionPool }));
 * await Effect.runPromise(boot);
 * console.log(sectionPool.bytes); // 16777216: the node's section, back in the pool
 * await Effect.runPromise(boot); // boots on that buffer
 * ```
 */
export class SectionPool {
  private readonly free = new Map<number, PooledSection[]>();
  private held = 0;

  /**
   * @param maxBytes the most bytes of buffers the pool keeps (default 256 MiB)
   * @param maxBufferBytes the largest buffer it keeps (default 32 MiB): larger ones are cheap to
   *   get anew, as the host maps them from the operating system's zeroed pages (glibc's `malloc()`
   *   does from 32 MiB at the latest)
   */
  constructor(
    readonly maxBytes = 256 * 2 ** 20,
    readonly maxBufferBytes = 32 * 2 ** 20,
  ) {}

  /** Bytes of buffers in the pool now. */
  get bytes(): number {
    return this.held;
  }

  /** Whether the pool would keep a buffer of `byteLength` bytes now. */
  accepts(byteLength: number): boolean {
    return byteLength <= this.maxBufferBytes && this.held + byteLength <= this.maxBytes;
  }

  /** A buffer of `byteLength` bytes from the pool, with its dirty map, or undefined. */
  take(byteLength: number): PooledSection | undefined {
    const section = this.free.get(byteLength)?.pop();
    if (section) this.held -= byteLength;
    return section;
  }

  /**
   * Keeps `buffer` unless the pool would exceed its limits. `dirty` has one entry per
   * {@link SECTION_POOL_CHUNK} bytes of it: 1 where the bytes may not be zero.
   */
  give(buffer: SharedArrayBuffer, dirty: Uint8Array): void {
    if (!this.accepts(buffer.byteLength)) return;
    if (dirty.length !== buffer.byteLength / SECTION_POOL_CHUNK) {
      throw new RangeError(
        `dirty map of ${dirty.length} entries for a buffer of ${buffer.byteLength} bytes`,
      );
    }
    const list = this.free.get(buffer.byteLength);
    if (list) list.push({ buffer, dirty });
    else this.free.set(buffer.byteLength, [{ buffer, dirty }]);
    this.held += buffer.byteLength;
  }

  /** Lets go of every buffer in the pool. */
  clear(): void {
    this.free.clear();
    this.held = 0;
  }
}

/**
 * Bytes per entry of a {@link PooledSection}'s dirty map: the smallest base page size, so that
 * kernels of any page size can share buffers.
 *
 * @category Kernel
 */
export const SECTION_POOL_CHUNK = 4096;

/**
 * A section buffer in a {@link SectionPool}, with what the kernel that gave it back may have
 * written.
 *
 * @category Kernel
 */
export interface PooledSection {
  readonly buffer: SharedArrayBuffer;
  /** One entry per {@link SECTION_POOL_CHUNK} bytes: 1 where the bytes may not be zero. */
  readonly dirty: Uint8Array;
}
