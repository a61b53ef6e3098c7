/**
 * Devices a kernel must stop when it shuts down.
 *
 * Models what `device_shutdown()` (`drivers/base/core.c`) needs of `struct device`
 * (`include/linux/device.h`): a name and a shutdown callback, called in the reverse order of
 * registration when the machine goes down (`kernel_power_off()`, `kernel/reboot.c`).
 *
 * @module
 */
import type { Effect } from "effect";
import type { ErrnoError } from "../errno";

/**
 * A device of a kernel, as shutdown sees it. Models `struct device` with `->shutdown()`
 * (`include/linux/device.h`).
 *
 * @category Kernel
 */
export interface Device {
  /** The device's name, as `dev_name()` gives it; shutdown errors name it. */
  readonly name: string;
  /**
   * Stops the device: its engines, threads and timers, and every reference it holds to the
   * kernel's memory. Fails with an errno error when something could not be stopped.
   */
  readonly shutdown: () => Effect.Effect<void, ErrnoError>;
}

/**
 * Where a kernel is in its life: running, panicked (halted by `panic()`, `kernel/panic.c`:
 * it takes no more calls, and waits to be shut down), shutting down, or shut down;
 * `system_state` (`SYSTEM_RUNNING`, `SYSTEM_POWER_OFF`, `include/linux/kernel.h`) with
 * `panic_in_progress()` (`include/linux/panic.h`) as the model keeps them.
 *
 * @category Kernel
 */
export type KernelState = "running" | "panicked" | "stopping" | "down";
