/**
 * Copy threads: a pool of `worker_threads` that copy between the kernel's shared node buffers.
 *
 * The plumbing that both copy-offload drivers stand on: mtcopy's copy threads and dcbm's DMA
 * channel engines. Each worker (a *lane*) owns a descriptor ring in a `SharedArrayBuffer`: the
 * initiating thread writes (source PFN, destination PFN, offset, length, tag) descriptors into it,
 * bumps the lane's doorbell with `Atomics.store` + `Atomics.notify`, and waits for the lane's
 * completion word, spinning briefly before `Atomics.waitAsync`, so it never blocks its own thread.
 * The worker spins briefly on its doorbell before `Atomics.wait`. No message is posted per batch
 * or per folio, and the rings are allocated once.
 *
 * Copies are machine-check safe: a descriptor whose source range holds a hwpoisoned page is not
 * copied and its tag is marked failed. A worker that throws, exits, or misses the deadline fails
 * every tag it held; it is replaced and the pool stays whole. Models the work items and kworkers
 * of `kernel/workqueue.c` as the seed driver uses them, and the engines behind a `dma_chan`.
 *
 * Threads outlive their engine: when an engine stops, each healthy idle worker is detached from
 * that kernel's memory and kept, and the next engine (of any kernel in the process) takes it
 * instead of starting a thread, as kworkers outlive the work they ran. Starting a thread costs
 * tens of milliseconds; a test suite that boots a kernel per case would spend most of its time
 * there. For the same reason the process keeps one idle worker in reserve: when an engine takes
 * the last one, a new thread starts in the background, as a workqueue's worker pool creates an
 * idle worker before its last one starts working (`may_start_working()`,
 * `maybe_create_worker()` in `kernel/workqueue.c`). A worker that crashes, exits or hangs is then
 * replaced by a thread that is already running, and the copies after it do not wait for one to
 * start.
 *
 * @module
 */
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { Effect, Option } from "effect";
import { type ErrnoError, errno } from "../errno";
import type { Kernel } from "../include/kernel";
import { PG_hwpoison } from "../include/page_flags";

/**
 * The control words of a lane and the width of a descriptor, and the FAULT word's value that
 * detaches a worker from its engine; the worker gets this layout.
 */
const LAYOUT = { DOORBELL: 0, COUNT: 1, DONE: 2, FAULT: 3, PARK: 4, FIELDS: 6, DETACH: 9 } as const;
const { DOORBELL, COUNT, DONE, FAULT, FIELDS, DETACH } = LAYOUT;
const CONTROL_WORDS = 8;

/** Detached workers of stopped engines, idle, for the next engine to take (most recent last). */
const idleWorkers: Worker[] = [];
/** The entry file each worker runs: an idle one only serves an engine of the same entry. */
const workerEntry = new WeakMap<Worker, string>();
/** Workers that have said they are running (their entry loaded). */
const onlineWorkers = new WeakSet<Worker>();
/** Idle workers kept at most; more are stopped. */
const MAX_IDLE_WORKERS = 16;
/** Threads started as the reserve idle worker that have not said they run yet. */
const startingWorkers = new Set<Worker>();

/**
 * Workers the process keeps idle between engines, the reserve one included while it starts. A
 * test hook with no kernel symbol: the idle kworkers a worker pool keeps (`kernel/workqueue.c`),
 * here shared by every kernel of the process.
 *
 * @category Testing
 */
export const idleCopyWorkers = (): number => idleWorkers.length + startingWorkers.size;

/** Every copy thread of the process that has not exited: serving an engine, or idle. */
const liveWorkers = new Set<Worker>();

/**
 * Copy threads of the process that are still running: those serving an engine and those kept
 * idle. With every engine stopped, anything above {@link idleCopyWorkers} is a leaked thread.
 * A test hook with no kernel symbol, as {@link idleCopyWorkers} is.
 *
 * @category Testing
 */
export const liveCopyWorkers = (): number => {
  // A thread that has exited has thread id -1; forget it.
  for (const worker of liveWorkers) if (worker.threadId < 0) liveWorkers.delete(worker);
  return liveWorkers.size;
};

/**
 * Stops every idle copy thread and resolves when they have exited, so that a process can end
 * with no copy thread running (a soak's last step, say). The next engine starts threads afresh.
 * A test hook with no kernel symbol, as {@link idleCopyWorkers} is.
 *
 * @category Testing
 */
export const drainIdleCopyWorkers = (): Promise<void> => {
  const idle = [...idleWorkers.splice(0), ...startingWorkers];
  startingWorkers.clear();
  return Promise.all(idle.map((worker) => worker.terminate())).then(() => undefined);
};

/** A new copy thread running `url`, its engine's layout given; it says "online" once it runs. */
const newWorker = (url: string): Worker => {
  const worker = new Worker(new URL(url), {
    // Plain JavaScript with no imports but node built-ins: it needs none of the loaders (a
    // TypeScript runner, a test runner) the process may have started with, and booting them
    // would take most of a new worker's start-up.
    execArgv: [],
    workerData: { layout: LAYOUT },
  });
  workerEntry.set(worker, url);
  liveWorkers.add(worker);
  return worker;
};

/**
 * Starts a thread running `url` in the background as the reserve idle worker, unless the process
 * keeps an idle worker of that entry already (running or starting) or as many idle workers as it
 * keeps at most. Models `maybe_create_worker()` (`kernel/workqueue.c`): a pool whose last idle
 * worker starts working creates another first. The thread joins the idle workers once it runs; one
 * that fails to start is gone, as an engine would report for its own threads.
 */
const keepReserveWorker = (url: string): void => {
  const entry = (worker: Worker) => workerEntry.get(worker) === url;
  if (idleWorkers.some(entry) || [...startingWorkers].some(entry)) return;
  if (idleWorkers.length + startingWorkers.size >= MAX_IDLE_WORKERS) return;
  const worker = newWorker(url);
  startingWorkers.add(worker);
  // Its first message says it runs. A listener for messages holds the process open (Node refs a
  // worker's port while one is attached), so the listener goes with that message, and the thread
  // is unreferenced only after the listeners are set.
  worker.once("message", (message) => {
    if (message !== "online" || !startingWorkers.delete(worker)) return;
    onlineWorkers.add(worker);
    idleWorkers.push(worker);
  });
  // It belongs to no engine yet: an error there is counted by no one (the engine that takes a
  // worker of the same entry meets the same error with its own), but it exits and leaves.
  worker.on("error", () => {});
  worker.on("exit", () => {
    startingWorkers.delete(worker);
    const at = idleWorkers.indexOf(worker);
    if (at >= 0) idleWorkers.splice(at, 1);
  });
  worker.unref();
};

/**
 * A failure to inject into a worker, for tests: throw, exit, or never finish. No kernel symbol: a
 * kworker (`kernel/workqueue.c`) or DMA channel (`include/linux/dmaengine.h`) that crashes, goes
 * away or hangs.
 *
 * @category Copy engine
 */
export type WorkerFault = "crash" | "exit" | "hang";
const FAULT_CODES: Record<WorkerFault, number> = { crash: 1, exit: 2, hang: 3 };

/**
 * Options of a {@link CopyEngine}: the sizes of its threads and rings. No kernel symbol; they
 * stand where a workqueue's `max_active` (`kernel/workqueue.c`) and a DMA channel's descriptor
 * ring do.
 *
 * @category Copy engine
 */
export interface CopyEngineOptions {
  /** Worker threads. */
  readonly threads: number;
  /** Descriptors one lane holds per round (default 4096). */
  readonly capacity?: number;
  /** Tags one job may use (default 65536): usually one per folio of a batch. */
  readonly maxTags?: number;
  /** Iterations a worker spins on its doorbell before it sleeps (default 20000). */
  readonly workerSpin?: number;
  /**
   * How long a lane may take before its worker is declared hung and replaced (default 10 s): on
   * Effect's `Clock` for {@link CopyEngine.run}, an ordinary timer for
   * {@link CopyEngine.startLane}.
   */
  readonly deadlineMs?: number;
  /**
   * How long a new copy thread may take to say it runs before `ready()` fails with `ETIMEDOUT`
   * (default 10 s, or `deadlineMs` when that is longer). Kept apart from `deadlineMs`: starting a
   * thread loads a module and can take seconds on a loaded machine, while a short hang deadline is
   * what makes fault-injection tests fast.
   */
  readonly startDeadlineMs?: number;
  /**
   * Where the copy thread's entry file is, as a URL or a file path (default: `copy-worker.mjs`
   * beside this module, which the package ships and exports as
   * `@migrate-offload/core/copy-worker.mjs`). A program bundled into one file passes the copy it
   * ships; see `docs/bundling.md`.
   */
  readonly workerUrl?: string | URL;
}

/**
 * The entry file copy threads start from when no `workerUrl` is given: `copy-worker.mjs` beside
 * this module. Resolved when an engine needs it, so that a bundle without `import.meta` (a
 * CommonJS bundle of the ES module build) can still load and pass `workerUrl`.
 */
const defaultWorkerUrl = (): URL | ErrnoError => {
  try {
    return new URL("./copy-worker.mjs", import.meta.url);
  } catch {
    return errno(
      "ENOENT",
      "copy thread entry: this build cannot locate copy-worker.mjs (no import.meta.url); pass workerUrl",
    );
  }
};

interface Lane {
  worker: Worker;
  readonly control: Int32Array;
  readonly slots: Float64Array;
  readonly controlBuffer: SharedArrayBuffer;
  readonly ringBuffer: SharedArrayBuffer;
  /** Descriptors queued for the next round. */
  count: number;
  /** The last doorbell value rung. */
  seq: number;
  /** Called when the worker exits, while a round waits on it. */
  onExit: (() => void) | null;
  /** Ends the round in flight (true: the worker finished it), or null when the lane is idle. */
  settle: ((ok: boolean) => void) | null;
  /** Settles once the lane's worker is running: null, or the error that kept it from starting. */
  online: Promise<ErrnoError | null>;
  /** The round in flight was rung with a `hang` injected: only its deadline ends it. */
  hung: boolean;
}

/**
 * A pool of copy threads over one kernel's memory. The model's plumbing under both copy-offload
 * drivers, with no kernel symbol of its own: it stands where mtcopy's work items and kworkers
 * (`kernel/workqueue.c`) and dcbm's DMA channels (`struct dma_chan`, `include/linux/dmaengine.h`)
 * do.
 *
 * @category Copy engine
 */
export class CopyEngine {
  private readonly lanes: Lane[] = [];
  /** Workers of lanes {@link resize} dropped, until each is detached or stopped. */
  private readonly releasing = new Set<Promise<unknown>>();
  private readonly tags: Int32Array;
  private readonly tagBuffer: SharedArrayBuffer;
  private readonly capacity: number;
  private readonly deadlineMs: number;
  private readonly startDeadlineMs: number;
  private readonly workerSpin: number;
  /** Workers started over the engine's life, replacements included. */
  spawned = 0;
  /** Workers replaced after a crash, an exit or a missed deadline. */
  replaced = 0;
  /** Errors thrown in workers (a crash, or an entry that failed to load); each is traced too. */
  workerErrors = 0;
  /** Workers that exited while serving the engine; each is traced too. */
  workerExits = 0;
  /** The last worker error's message, or null. */
  lastWorkerError: string | null = null;
  private readonly workerUrl: string;
  private closed = false;
  /** Takes the engine off its kernel's device list. */
  private readonly unregister: () => void;

  /**
   * Starts `options.threads` copy threads over `k`'s memory. The engine is one of the kernel's
   * devices: if it is still running when the kernel shuts down, shutdown terminates it. Throws an
   * `ESHUTDOWN` errno error for a kernel that has begun to shut down.
   */
  constructor(
    private readonly k: Kernel,
    options: CopyEngineOptions,
  ) {
    // No thread is started for a kernel that is going away: nothing would stop it.
    if (k.state !== "running") throw errno("ESHUTDOWN", "copy engine: the kernel has shut down");
    this.unregister = k.registerDevice({ name: "copy-engine", shutdown: () => this.terminate() });
    const url = options.workerUrl ?? defaultWorkerUrl();
    if (url instanceof Error) throw url;
    // A file path is taken as well as a URL.
    this.workerUrl = (
      typeof url === "string" && !/^[a-z][a-z0-9+.-]*:/i.test(url)
        ? pathToFileURL(url)
        : new URL(url)
    ).href;
    this.capacity = options.capacity ?? 4096;
    this.deadlineMs = options.deadlineMs ?? 10_000;
    this.startDeadlineMs = options.startDeadlineMs ?? Math.max(this.deadlineMs, 10_000);
    this.workerSpin = options.workerSpin ?? 20_000;
    this.tagBuffer = new SharedArrayBuffer(4 * (options.maxTags ?? 65536));
    this.tags = new Int32Array(this.tagBuffer);
    this.resize(options.threads);
  }

  /** Worker threads in the pool. */
  get threads(): number {
    return this.lanes.length;
  }

  /** Descriptors a lane takes per round. */
  get laneCapacity(): number {
    return this.capacity;
  }

  /** Tags a job may use. */
  get maxTags(): number {
    return this.tags.length;
  }

  /**
   * A worker serving `lane`: an idle one if the process keeps any, else a new thread. Either way
   * it is sent this kernel's buffers by message, so that nothing it was started with pins the
   * memory of a kernel it no longer serves.
   */
  private startWorker(lane: Omit<Lane, "worker" | "onExit"> & Partial<Lane>): Worker {
    const m = this.k.mem;
    const pooled = idleWorkers.findLastIndex((w) => workerEntry.get(w) === this.workerUrl);
    const worker = pooled >= 0 ? idleWorkers.splice(pooled, 1)[0]! : newWorker(this.workerUrl);
    worker.unref();
    worker.removeAllListeners("error").removeAllListeners("exit").removeAllListeners("message");
    worker.postMessage({
      sections: m.sections,
      flags: this.k.memmap.flags.buffer,
      ctrl: lane.controlBuffer,
      ring: lane.ringBuffer,
      tags: this.tagBuffer,
      pageShift: m.pageShift,
      pfnSectionShift: m.pfnSectionShift,
      hwpoison: PG_hwpoison,
      spin: this.workerSpin,
    });
    this.spawned++;
    // Taking an idle worker may have taken the last one: start the reserve.
    if (pooled >= 0) keepReserveWorker(this.workerUrl);
    return worker;
  }

  /**
   * Lets go of `lane`'s worker. A round still in flight ends as failed (its `onDone` runs with
   * false) and the worker is stopped; an idle worker is detached and kept for the next engine,
   * unless the process keeps enough. Resolves when it is done.
   */
  private release(lane: Lane): Promise<unknown> {
    const worker = lane.worker;
    if (lane.settle) {
      lane.settle(false);
      return worker.terminate();
    }
    lane.onExit = null;
    // A new thread says "online" before it serves, but a round's end is seen through shared
    // memory, not the message queue: a thread that has finished a round (its DONE word, zeroed
    // when the lane took it, is set) may have its "online" still unread. It runs; read that
    // first, so that it is detached and kept, not stopped.
    const ran = Atomics.load(lane.control, DONE) !== 0;
    if (ran && !onlineWorkers.has(worker)) return lane.online.then(() => this.detach(lane));
    return this.detach(lane);
  }

  /** {@link release}'s end for a lane with no round in flight: detach its worker, or stop it. */
  private detach(lane: Lane): Promise<unknown> {
    const worker = lane.worker;
    worker.removeAllListeners("error").removeAllListeners("exit").removeAllListeners("message");
    // A worker that never ran, or has exited, is only stopped: it has nothing to detach.
    if (
      idleWorkers.length >= MAX_IDLE_WORKERS ||
      !onlineWorkers.has(worker) ||
      worker.threadId < 0
    ) {
      return worker.terminate();
    }
    // The worker drops every view of this kernel's memory and says so; only then is it idle. It
    // collects the dropped views right after, on its own thread: waiting for that collection
    // (a full garbage collection of the worker, several milliseconds) would hold up every
    // engine's stop. A worker that dies meanwhile is simply gone.
    // Referenced while it detaches, so that a program awaiting this does not exit first.
    worker.ref();
    const detached = new Promise<void>((resolve) => {
      worker.once("message", () => resolve());
      worker.once("exit", () => resolve());
    });
    Atomics.store(lane.control, FAULT, DETACH);
    Atomics.store(lane.control, DOORBELL, ++lane.seq);
    Atomics.notify(lane.control, DOORBELL);
    // An idle worker belongs to no engine: an error there is counted by no one, but it exits
    // and leaves the pool.
    worker.once("error", () => {});
    worker.once("exit", () => {
      const at = idleWorkers.indexOf(worker);
      if (at >= 0) idleWorkers.splice(at, 1);
    });
    return detached.then(() => {
      worker.unref();
      if (worker.threadId >= 0) idleWorkers.push(worker);
    });
  }

  private newLane(): Lane {
    const controlBuffer = new SharedArrayBuffer(4 * CONTROL_WORDS);
    const ringBuffer = new SharedArrayBuffer(8 * FIELDS * this.capacity);
    const partial = {
      control: new Int32Array(controlBuffer),
      slots: new Float64Array(ringBuffer),
      controlBuffer,
      ringBuffer,
      count: 0,
      seq: 0,
    };
    const lane: Lane = {
      ...partial,
      worker: undefined as never,
      onExit: null,
      settle: null,
      online: Promise.resolve(null),
      hung: false,
    };
    this.attach(lane);
    return lane;
  }

  private attach(lane: Lane): void {
    lane.control.fill(0);
    lane.seq = 0;
    lane.worker = this.startWorker(lane);
    const worker = lane.worker;
    let started: (error: ErrnoError | null) => void = () => {};
    if (onlineWorkers.has(worker)) lane.online = Promise.resolve(null);
    else {
      // Referenced until it runs, so that a program awaiting ready() does not exit first.
      worker.ref();
      lane.online = new Promise((resolve) => {
        // A thread that loads but never says it runs is as broken as one that cannot load.
        const deadline = setTimeout(
          () =>
            started(
              errno(
                "ETIMEDOUT",
                `copy thread ${this.workerUrl} did not start within ${this.startDeadlineMs} ms`,
              ),
            ),
          this.startDeadlineMs,
        );
        // The thread holds the process open while it starts; the deadline does not, so that a
        // thread stopped before it ran (its engine stopped, or replaced it) leaves no timer that
        // keeps the process alive for the rest of the deadline.
        deadline.unref();
        started = (error) => {
          clearTimeout(deadline);
          worker.unref();
          started = () => {};
          resolve(error);
        };
      });
    }
    worker.on("message", (message) => {
      if (message !== "online") return;
      onlineWorkers.add(worker);
      started(null);
      // The entry runs: keep an idle worker of it in reserve.
      keepReserveWorker(this.workerUrl);
    });
    worker.on("error", (error) => {
      this.workerErrors++;
      this.lastWorkerError = error.message;
      this.traceWorker(lane, "error", error.message);
      started(this.startFailure(error));
    });
    worker.on("exit", (code) => {
      if (lane.worker !== worker) return;
      this.workerExits++;
      this.traceWorker(lane, "exit", `exit code ${code}`);
      started(
        errno("ENOEXEC", `copy thread ${this.workerUrl} exited with code ${code} before it ran`),
      );
      if (lane.onExit) lane.onExit();
      else if (onlineWorkers.has(worker) && !this.closed && this.lanes.includes(lane)) {
        // It exited between rounds: put a fresh thread in its place now, rather than let the
        // next round ring a dead one and wait out the deadline.
        this.replaced++;
        this.attach(lane);
      }
    });
  }

  /** The typed error for a worker that failed before it was running, naming its entry file. */
  private startFailure(error: Error): ErrnoError {
    const code = (error as { code?: string }).code;
    return code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND"
      ? errno("ENOENT", `copy thread entry ${this.workerUrl} not found: ${error.message}`)
      : errno("ENOEXEC", `copy thread entry ${this.workerUrl} failed to start: ${error.message}`);
  }

  private traceWorker(lane: Lane, what: "error" | "exit", message: string): void {
    if (!this.k.trace.enabled) return;
    this.k.trace.emit({
      event: "copy_worker",
      what,
      lane: this.lanes.indexOf(lane),
      entry: this.workerUrl,
      message,
    });
  }

  /**
   * Completes once every copy thread of the engine is running; fails, naming the entry file, when
   * one could not start (its entry is missing, or failed to load). A driver checks this before it
   * offers the engine: copies must never fall back to the CPU because the threads never ran.
   */
  ready(): Effect.Effect<void, ErrnoError> {
    return Effect.flatMap(
      Effect.promise(() => Promise.all(this.lanes.map((lane) => lane.online))),
      (errors) => {
        const failed = errors.find((error) => error !== null);
        return failed ? Effect.fail(failed) : Effect.void;
      },
    );
  }

  /**
   * Grows or shrinks the pool to `threads` workers (at least 1). A dropped lane's worker is let go
   * in the background; {@link terminate} waits for it.
   */
  resize(threads: number): void {
    while (this.lanes.length < threads) this.lanes.push(this.newLane());
    while (this.lanes.length > Math.max(1, threads)) {
      const released = this.release(this.lanes.pop()!);
      this.releasing.add(released);
      const done = () => this.releasing.delete(released);
      released.then(done, done);
    }
  }

  /** Lane `laneIndex`; a `RangeError` for a lane the engine does not have. */
  private lane(laneIndex: number): Lane {
    const lane = this.lanes[laneIndex];
    if (!lane) {
      throw new RangeError(`copy engine has no lane ${laneIndex}; it has ${this.lanes.length}`);
    }
    return lane;
  }

  /** Starts a job of `nrTags` tags: clears their failure marks and every lane's queue. */
  begin(nrTags: number): void {
    this.tags.fill(0, 0, nrTags);
    for (const lane of this.lanes) lane.count = 0;
  }

  /**
   * Queues a copy of bytes `[offset, offset + length)` of the folio at `srcPfn` to the same place
   * in the folio at `dstPfn`, on lane `laneIndex`, reporting failure under `tag`. When that lane's
   * ring is full the copy is refused: `tag` is marked failed, so that nothing is ever reported
   * copied that was not, and `push` returns false (run the job, clear the queues, queue the rest).
   */
  push(
    laneIndex: number,
    srcPfn: number,
    dstPfn: number,
    offset: number,
    length: number,
    tag: number,
  ): boolean {
    return this.pushCopy(laneIndex, srcPfn, offset, dstPfn, offset, length, tag);
  }

  /**
   * Queues a copy of `length` bytes from byte `srcOffset` of the memory that starts at `srcPfn`
   * to byte `dstOffset` of the memory that starts at `dstPfn`, on lane `laneIndex`. Each range
   * must be physically contiguous and lie within one memory section. A full ring refuses the
   * copy as {@link push} does.
   */
  pushCopy(
    laneIndex: number,
    srcPfn: number,
    srcOffset: number,
    dstPfn: number,
    dstOffset: number,
    length: number,
    tag: number,
  ): boolean {
    const lane = this.lane(laneIndex);
    if (lane.count === this.capacity) {
      Atomics.store(this.tags, tag, 1);
      return false;
    }
    const base = lane.count * FIELDS;
    lane.slots[base] = srcPfn;
    lane.slots[base + 1] = dstPfn;
    lane.slots[base + 2] = srcOffset;
    lane.slots[base + 3] = dstOffset;
    lane.slots[base + 4] = length;
    lane.slots[base + 5] = tag;
    lane.count++;
    return true;
  }

  /** Copies queued on lane `laneIndex` for its next round. */
  queued(laneIndex: number): number {
    return this.lane(laneIndex).count;
  }

  /** True while lane `laneIndex` has a round in flight. */
  busy(laneIndex: number): boolean {
    return this.lane(laneIndex).settle !== null;
  }

  /** Clears the failure marks of tags `[from, from + count)`, for callers that own a tag range. */
  clearTags(from: number, count: number): void {
    this.tags.fill(0, from, from + count);
  }

  /** Empties every lane's queue, keeping the job's tags: for a job run in several rounds. */
  clearQueues(): void {
    for (const lane of this.lanes) lane.count = 0;
  }

  /** True when a copy under `tag` failed (poison, or a worker lost) in the current job. */
  tagFailed(tag: number): boolean {
    return this.tags[tag] !== 0;
  }

  /** Makes lane `laneIndex`'s worker fail on its next round, for tests. */
  inject(laneIndex: number, fault: WorkerFault): void {
    Atomics.store(this.lane(laneIndex).control, FAULT, FAULT_CODES[fault]);
  }

  /**
   * Marks every tag of the lane's round failed and puts a fresh worker in its place, unless the
   * lane has left the engine (it stopped, or shrank past it).
   */
  private replace(lane: Lane): void {
    for (let i = 0; i < lane.count; i++) Atomics.store(this.tags, lane.slots[i * FIELDS + 5]!, 1);
    lane.onExit = null;
    void lane.worker.terminate();
    this.replaced++;
    if (!this.closed && this.lanes.includes(lane)) this.attach(lane);
  }

  /**
   * Rings lane `laneIndex` for the copies queued on it and returns at once; `onDone` runs once,
   * when the worker has finished the round (`true`) or has been replaced after a crash, an exit or
   * a missed deadline (`false`, every tag of the round failed). The lane's queue is empty again
   * before `onDone` runs. A lane runs one round at a time.
   */
  startLane(laneIndex: number, onDone: (ok: boolean) => void): void {
    this.startRound(laneIndex, onDone, true);
  }

  /**
   * {@link startLane}, with the deadline as a timer of its own (`timer`), or none: a caller that
   * keeps the deadline itself ends a round that missed it by settling it as failed.
   */
  private startRound(laneIndex: number, onDone: (ok: boolean) => void, timer: boolean): void {
    const lane = this.lane(laneIndex);
    if (lane.settle) throw new Error(`copy engine lane ${laneIndex} already has a round in flight`);
    const before = lane.seq;
    lane.seq++;
    // The worker reads the FAULT word after the doorbell: a hang stored now is the one it meets.
    lane.hung = Atomics.load(lane.control, FAULT) === FAULT_CODES.hang;
    Atomics.store(lane.control, COUNT, lane.count);
    Atomics.store(lane.control, DOORBELL, lane.seq);
    Atomics.notify(lane.control, DOORBELL);
    let deadline: ReturnType<typeof setTimeout> | undefined;
    const settle = (ok: boolean) => {
      if (lane.settle !== settle) return;
      lane.settle = null;
      lane.hung = false;
      if (deadline !== undefined) clearTimeout(deadline);
      lane.onExit = null;
      if (!ok) this.replace(lane);
      lane.count = 0;
      onDone(ok);
    };
    lane.settle = settle;
    for (let spins = 0; spins < 2000; spins++) {
      if (Atomics.load(lane.control, DONE) !== before) {
        settle(true);
        return;
      }
    }
    lane.onExit = () => settle(false);
    // The deadline is an ordinary timer: it also keeps the process alive while the round runs,
    // which Atomics.waitAsync alone does not (a job's run() sleeps on Effect's Clock instead,
    // whose default sleep is such a timer too).
    if (timer) deadline = setTimeout(() => settle(false), this.deadlineMs);
    const waited = Atomics.waitAsync(lane.control, DONE, before);
    if (!waited.async) settle(true);
    else void waited.value.then(() => settle(true));
  }

  /**
   * Polls lane `laneIndex`: when its worker has finished the round in flight, ends the round now
   * (its `onDone` runs before this returns) rather than when the wake-up arrives. True if a round
   * ended.
   */
  pollLane(laneIndex: number): boolean {
    const lane = this.lane(laneIndex);
    if (!lane.settle || Atomics.load(lane.control, DONE) !== lane.seq) return false;
    lane.settle(true);
    return true;
  }

  /**
   * True while a lane has a round in flight that was rung with a `hang` injected ({@link inject})
   * and no other lane has one: nothing but the deadline can end what the engine is doing. A test
   * hook with no kernel symbol, beside {@link inject}: a harness whose clock it may move skips the
   * wait (`@migrate-offload/testkit`'s conformance runs).
   */
  waitingOnHang(): boolean {
    let hung = false;
    for (const lane of this.lanes) {
      if (!lane.settle) continue;
      if (!lane.hung) return false;
      hung = true;
    }
    return hung;
  }

  /**
   * Rings one lane and completes when it has finished its round, or has been replaced after a
   * crash, an exit or the deadline, which runs on Effect's `Clock` (a run with a clock of its own
   * moves it).
   */
  private ring(laneIndex: number): Effect.Effect<void> {
    return Effect.callback<void>((resume) => {
      this.startRound(laneIndex, () => resume(Effect.void), false);
    }).pipe(
      Effect.timeoutOption(this.deadlineMs),
      // Missed the deadline: the round ends as failed and its worker is replaced.
      Effect.tap((done) =>
        Effect.sync(() => Option.isNone(done) && this.lanes[laneIndex]?.settle?.(false)),
      ),
      Effect.asVoid,
    );
  }

  /**
   * Runs the queued copies on every lane that has some, in parallel, and completes when all
   * have finished. Read the outcome with {@link tagFailed}.
   */
  run(): Effect.Effect<void> {
    return Effect.suspend(() => {
      const busy: number[] = [];
      for (let i = 0; i < this.lanes.length; i++) if (this.lanes[i]!.count > 0) busy.push(i);
      if (busy.length === 0) return Effect.void;
      if (busy.length === 1) return this.ring(busy[0]!);
      return Effect.all(
        busy.map((lane) => this.ring(lane)),
        { concurrency: "unbounded", discard: true },
      );
    });
  }

  /**
   * Stops the engine: rounds in flight end as failed, their workers stopped; idle workers are kept
   * for the next engine. The engine cannot be used afterwards.
   */
  terminate(): Effect.Effect<void> {
    return Effect.promise(async () => {
      this.closed = true;
      this.unregister();
      // With the workers of lanes a resize dropped, still detaching: none may outlive the engine.
      await Promise.all([...this.lanes.map((lane) => this.release(lane)), ...this.releasing]);
      this.lanes.length = 0;
    });
  }
}
