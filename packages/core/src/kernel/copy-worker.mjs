// A copy thread of a CopyEngine (copy_engine.ts). Plain JavaScript, so that it runs from the
// sources and from the build alike. It waits on its doorbell, copies the descriptors in its ring
// between the kernel's shared node buffers, and rings back. A descriptor whose source range holds a
// hwpoisoned page is not copied and its tag is marked failed, as copy_mc_to_kernel() would fail.
//
// When its engine stops, a healthy worker is told to detach (FAULT word DETACH, then the
// doorbell): it drops every view of that kernel's memory, says so, collects (see below), and
// waits, idle, for a message with the buffers of its next engine, so that the next kernel need
// not start a thread.
import { GCProfiler, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { parentPort, workerData } from "node:worker_threads";

// A detached worker sits idle, and an idle thread never collects garbage on its own, so the views
// of its last kernel's memory it dropped would keep that memory alive. It collects on detach: the
// young generation (a scavenge, a fraction of a millisecond), which frees the views unless a
// collection promoted them; and the whole heap (several milliseconds) instead when one may have:
// when any collection ran between the worker's last collection and the detach (the views, made
// from the engine's message, live only in that span), which a GCProfiler over that span says, or
// at the MAJOR_EVERY-th detach since the last whole-heap collection, a bound that does not rest on
// that reasoning. A test suite that boots a kernel per case hands the worker an engine per case,
// whose rounds allocate too little to start a collection, and used to pay a whole-heap collection
// every few cases.
setFlagsFromString("--expose-gc");
const collect = runInNewContext("gc");
const MAJOR_EVERY = 64;

// The control words and descriptor width, as copy_engine.ts lays them out and passes them.
const { DOORBELL, COUNT, DONE, FAULT, PARK, FIELDS, DETACH } = workerData.layout;

/** Serves one engine until it detaches this worker. */
const serve = ({
  sections,
  flags,
  ctrl,
  ring,
  tags,
  pageShift,
  pfnSectionShift,
  hwpoison,
  spin,
}) => {
  const pageSize = 2 ** pageShift;
  const pagesPerSection = 2 ** pfnSectionShift;
  const views = sections.map((buffer) => (buffer ? new Uint8Array(buffer) : null));
  const pageFlags = new Uint32Array(flags);
  const control = new Int32Array(ctrl);
  const slots = new Float64Array(ring);
  const failed = new Int32Array(tags);

  const poisoned = (pfn, offset, length) => {
    const first = pfn + Math.floor(offset / pageSize);
    const last = pfn + Math.floor((offset + length - 1) / pageSize);
    for (let p = first; p <= last; p++) if (pageFlags[p] & hwpoison) return true;
    return false;
  };

  // Where byte `offset` of the memory at `pfn` lies: the index of its section and the byte in it.
  // Two numbers, not an object, so that a round allocates nothing but the views it copies through.
  let at = 0;
  const sectionOf = (pfn, offset) => {
    const page = pfn + Math.floor(offset / pageSize);
    at = (page % pagesPerSection) * pageSize + (offset % pageSize);
    return Math.floor(page / pagesPerSection);
  };

  let seen = 0;
  for (;;) {
    for (let spins = 0; Atomics.load(control, DOORBELL) === seen; spins++) {
      if (spins >= spin) {
        Atomics.wait(control, DOORBELL, seen);
        spins = 0;
      }
    }
    seen = Atomics.load(control, DOORBELL);
    const fault = Atomics.load(control, FAULT);
    if (fault === DETACH) return true;
    if (fault === 1) throw new Error("injected copy-worker crash");
    if (fault === 2) process.exit(7);
    if (fault === 3) Atomics.wait(control, PARK, 0);
    const count = Atomics.load(control, COUNT);
    for (let i = 0; i < count; i++) {
      const base = i * FIELDS;
      const src = slots[base];
      const dst = slots[base + 1];
      const srcOffset = slots[base + 2];
      const dstOffset = slots[base + 3];
      const length = slots[base + 4];
      const tag = slots[base + 5];
      if (poisoned(src, srcOffset, length)) {
        Atomics.store(failed, tag, 1);
        continue;
      }
      const from = views[sectionOf(src, srcOffset)];
      const fromAt = at;
      const to = views[sectionOf(dst, dstOffset)];
      to.set(from.subarray(fromAt, fromAt + length), at);
    }
    Atomics.store(control, DONE, seen);
    Atomics.notify(control, DONE);
  }
};

// Every engine, the first included, sends its buffers by message; between engines the worker
// is idle and holds none.
const profiled = () => {
  const profiler = new GCProfiler();
  profiler.start();
  return profiler;
};
/** Records every collection since the worker's last one; null from a detach to that collection. */
let collections = profiled();
let detaches = 0;
parentPort.on("message", (buffers) => {
  // A message read before the last detach's collection ran: that collection runs after this engine.
  collections ??= profiled();
  if (!serve(buffers)) return;
  const collected = collections.stop().statistics.length > 0;
  collections = null;
  // Detached: it holds no view of the last kernel's memory now, so the engine may let go of it at
  // once. The collection that frees that memory runs next, on this thread, once this handler (and
  // the message holding the buffers) is gone; the engine does not wait for it.
  parentPort.postMessage("detached");
  const whole = collected || ++detaches >= MAJOR_EVERY;
  if (whole) detaches = 0;
  setImmediate(() => {
    if (whole) collect();
    else collect({ type: "minor" });
    collections?.stop();
    collections = profiled();
  });
});

// Running: the engine that started this thread may offer it work.
parentPort.postMessage("online");
