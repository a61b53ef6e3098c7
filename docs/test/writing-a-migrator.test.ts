import type { Kernel } from "@migrate-offload/core";
import { boot, errnoOf, run, runP } from "@migrate-offload/core/testing";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { reverseCopyModule } from "../examples/reverse-copy-migrator";

const withReverseCopy = (kernel: Kernel) =>
  Effect.gen(function* () {
    yield* kernel.loadModule(reverseCopyModule(kernel));
    yield* kernel.fs.write("/sys/kernel/reverse_copy/enabled", "1\n");
  });

describe("the example migrator of docs/writing-a-migrator.md", () => {
  it("is switched on and off through its sysfs files, which parse as the kernel does", async () => {
    const kernel = boot({ nodes: ["16M", "16M"] });
    await runP(withReverseCopy(kernel));
    const read = (f: string) => run(kernel.fs.read(`/sys/kernel/reverse_copy/${f}`));
    expect(read("enabled")).toBe("1\n");
    expect(run(kernel.fs.read("/sys/kernel/mm/migration/offload_migrator"))).toBe(
      "none [reverse_copy]\n",
    );
    // A second 1 is the no-op it is for both drivers, not EBUSY; nothing changes.
    expect(await runP(kernel.fs.write("/sys/kernel/reverse_copy/enabled", "1\n"))).toBe(2);
    expect(read("enabled")).toBe("1\n");
    expect(kernel.modules.get("reverse_copy")?.refcnt).toBe(1);
    expect(await errnoOf(kernel.fs.write("/sys/kernel/reverse_copy/min_batch", "0"))).toBe(
      "EINVAL",
    );
    expect(await errnoOf(kernel.fs.write("/sys/kernel/reverse_copy/min_batch", "x"))).toBe(
      "EINVAL",
    );
    run(kernel.fs.write("/sys/kernel/reverse_copy/min_batch", "0x10\n"));
    expect(read("min_batch")).toBe("16\n");
    expect(await errnoOf(kernel.unloadModule("reverse_copy"))).toBe("EBUSY");
    await runP(kernel.fs.write("/sys/kernel/reverse_copy/enabled", "off"));
    expect(read("enabled")).toBe("0\n");
    // So is a second 0.
    expect(await runP(kernel.fs.write("/sys/kernel/reverse_copy/enabled", "0"))).toBe(1);
    expect(kernel.modules.get("reverse_copy")?.refcnt).toBe(0);
    await runP(kernel.unloadModule("reverse_copy"));
    expect(kernel.fs.exists("/sys/kernel/reverse_copy")).toBe(false);
    expect(kernel.migrateOffload.providerNames).toEqual([]);
  });
});
