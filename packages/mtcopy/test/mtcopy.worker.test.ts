import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { type ErrnoError, Kernel } from "@migrate-offload/core";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { MTCOPY_SYSFS_DIR, mtcopyDriver } from "../src/index";

describe("mtcopy with copy threads that cannot start", () => {
  it("refuses offloading=1 with ENOENT naming the entry file, and stays off", async () => {
    const k = Effect.runSync(Kernel.boot({ nodes: ["16M", "16M"] }));
    const missing = pathToFileURL(join(tmpdir(), "nowhere", "copy-worker.mjs"));
    const driver = mtcopyDriver(k, { threads: 2, workerUrl: missing });
    Effect.runSync(k.loadModule(driver.module));
    const error = (await Effect.runPromise(
      Effect.flip(k.fs.write(`${MTCOPY_SYSFS_DIR}/offloading`, "1")),
    )) as ErrnoError;
    expect(error.errno).toBe("ENOENT");
    expect(error.message).toContain(missing.href);
    expect(k.migrateOffload.activeName).toBeNull();
    expect(Effect.runSync(k.fs.read(`${MTCOPY_SYSFS_DIR}/offloading`))).toBe("0\n");
    expect(driver.engine).toBeNull();
    await Effect.runPromise(k.shutdown());
  });
});
