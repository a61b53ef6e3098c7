// A copy thread of a CopyEngine (copy_engine.ts). Plain JavaScript, so that it runs from the
// sources and from the build alike. It waits on its doorbell, copies the descriptors in its ring
// between the kernel's shared node buffers, and rings back. A descriptor whose source range holds a
// hwpoisoned page is not copied and its tag is marked failed, as copy_mc_to_kernel() would fail.
//
// When its engine stops, a healthy worker is told to detach (FAULT word DETACH, then the
// doorbell): it drops every view of that kernel's memory, says so, collects (see below), and
// waits, idle, for a message with the buffers of its next engine, so that the next kernel need
// not start a thread.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { parentPort, workerData } from "node:worker_threads";

// A detached worker sits idle, and an idle thread never collects garbage on its own, so the views
// of its last kernel's memory it dropped would keep that memory alive. It collects on detach: the
// young generation at once (a scavenge, a fraction of a millisecond; views made for an engine that
// served briefly are still there), and the whole heap (several milliseconds) once it has stayed
// idle for IDLE_COLLECT_MS, or at the MAJOR_EVERY-th detach since the last whole-heap collection,
// for views an engine that served long enough had promoted. A test suite that boots a kernel per
// case hands the worker its next engine within milliseconds, and used to pay a whole-heap
// collection per case and thread.
setFlagsFromString("--expose-gc");
const collect = runInNewContext("gc");
const IDLE_COLLECT_MS = 50;
const MAJOR_EVERY = 8;

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

  const where = (pfn, offset) => {
    const at = pfn + Math.floor(offset / pageSize);
    return [
      views[Math.floor(at / pagesPerSection)],
      (at % pagesPerSection) * pageSize + (offset % pageSize),
    ];
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
      const [from, fromAt] = where(src, srcOffset);
      const [to, toAt] = where(dst, dstOffset);
      to.set(from.subarray(fromAt, fromAt + length), toAt);
    }
    Atomics.store(control, DONE, seen);
    Atomics.notify(control, DONE);
  }
};

// Every engine, the first included, sends its buffers by message; between engines the worker
// is idle and holds none.
let idle;
let detaches = 0;
const collectAll = () => {
  idle = undefined;
  detaches = 0;
  collect();
};
parentPort.on("message", (buffers) => {
  clearTimeout(idle);
  idle = undefined;
  if (!serve(buffers)) return;
  // Detached: it holds no view of the last kernel's memory now, so the engine may let go of it at
  // once. The collections that free that memory run next, on this thread, once this handler (and
  // the message holding the buffers) is gone; the engine does not wait for them, and a message
  // from the next engine is read after the scavenge.
  parentPort.postMessage("detached");
  if (++detaches >= MAJOR_EVERY) setImmediate(collectAll);
  else {
    setImmediate(() => collect({ type: "minor" }));
    idle = setTimeout(collectAll, IDLE_COLLECT_MS);
  }
});

// Running: the engine that started this thread may offer it work.
parentPort.postMessage("online");
