/**
 * The conformance contract a migrator driver ships, so the testkit can load it into a fresh
 * kernel, inject faults into its engine and take it out again.
 *
 * Not a kernel interface: it plays the part of the `insmod` / `rmmod` scripts and the
 * fault-injection knobs (`debugfs`) a kernel tester drives a driver with.
 *
 * @module
 */
import type { Effect } from "effect";
import type { Kernel } from "../include/kernel";

/**
 * Engine faults a driver can have injected into its own copy engine, by kind. No kernel symbol:
 * it plays the part of a driver's fault-injection knobs (`lib/fault-inject.c`, under debugfs).
 *
 * @category Testing
 */
export interface EngineFaults {
  /** The kinds it knows, e.g. `"hang"`. */
  readonly kinds: readonly string[];
  /** Injects one into the driver loaded in `kernel`; the next copy meets it. */
  readonly inject: (kernel: Kernel, kind: string) => void;
  /**
   * True while an injected hang is all that holds the driver loaded in `kernel` up: every copy
   * that can finish has, and only the driver's own deadline on Effect's `Clock` ends its wait.
   * A harness that runs the driver on a clock it may move (the testkit's conformance runs) then
   * moves that clock to its next deadline rather than wait it out. Leave it out and every hang
   * waits in real time.
   */
  readonly waitingOnHang?: (kernel: Kernel) => boolean;
}

/**
 * A migrator driver packaged for conformance testing (`@migrate-offload/testkit`): how to put it
 * into a fresh kernel and take it out again, as `insmod` and `rmmod` with its control files do.
 * No kernel symbol: it stands beside `init_module()` / `delete_module()` (`kernel/module/main.c`)
 * and the registration calls of `mm/migrate_copy_offload.c`.
 *
 * @category Testing
 */
export interface MigratorSubject {
  /** What reports call it. */
  readonly name: string;
  /** Loads its module(s) and makes its migrator the active one. */
  readonly load: (kernel: Kernel) => Effect.Effect<void, unknown>;
  /**
   * Switches it off and unloads it. It may check its own resources and fail when one was left
   * behind.
   */
  readonly unload: (kernel: Kernel) => Effect.Effect<void, unknown>;
  /** The engine faults it supports, if any. */
  readonly engineFaults?: EngineFaults;
}
