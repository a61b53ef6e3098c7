import { Kernel } from "@migrate-offload/core";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { reverseCopyModule } from "../../../docs/examples/reverse-copy-migrator";

const withReverseCopy = (kernel: Kernel) =>
  Effect.gen(function* () {
    yield* kernel.loadModule(reverseCopyModule(kernel));
    yield* kernel.fs.write("/sys/kernel/reverse_copy/enabled", "1\n");
  });

describe("the example migrator of docs/writing-a-migrator.md", () => {
  it("is switched on and off through its sysfs files, which parse as the kernel does", async () => {
    const kernel = Effect.runSync(Kernel.make({ nodes: ["16M", "16M"] }));
    await Effect.runPromise(withReverseCopy(kernel));
    const read = (f: string) => Effect.runSync(kernel.fs.read(`/sys/kernel/reverse_copy/${f}`));
    expect(read("enabled")).toBe("1\n");
    expect(Effect.runSync(kernel.fs.read("/sys/kernel/mm/migration/offload_migrator"))).toBe(
      "none [reverse_copy]\n",
    );
    // A second 1 is the no-op it is for both drivers, not EBUSY; nothing changes.
    expect(
      await Effect.runPromise(kernel.fs.write("/sys/kernel/reverse_copy/enabled", "1\n")),
    ).toBe(2);
    expect(read("enabled")).toBe("1\n");
    expect(kernel.modules.get("reverse_copy")!.refcnt).toBe(1);
    expect(
      Effect.runSync(Effect.flip(kernel.fs.write("/sys/kernel/reverse_copy/min_batch", "0"))).errno,
    ).toBe("EINVAL");
    expect(
      Effect.runSync(Effect.flip(kernel.fs.write("/sys/kernel/reverse_copy/min_batch", "x"))).errno,
    ).toBe("EINVAL");
    Effect.runSync(kernel.fs.write("/sys/kernel/reverse_copy/min_batch", "0x10\n"));
    expect(read("min_batch")).toBe("16\n");
    expect(Effect.runSync(Effect.flip(kernel.unloadModule("reverse_copy"))).errno).toBe("EBUSY");
    await Effect.runPromise(kernel.fs.write("/sys/kernel/reverse_copy/enabled", "off"));
    expect(read("enabled")).toBe("0\n");
    // So is a second 0.
    expect(await Effect.runPromise(kernel.fs.write("/sys/kernel/reverse_copy/enabled", "0"))).toBe(
      1,
    );
    expect(kernel.modules.get("reverse_copy")!.refcnt).toBe(0);
    await Effect.runPromise(kernel.unloadModule("reverse_copy"));
    expect(kernel.fs.exists("/sys/kernel/reverse_copy")).toBe(false);
    expect(kernel.migrateOffload.providerNames).toEqual([]);
  });
});
