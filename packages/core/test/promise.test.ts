import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { ErrnoError, MPOL_MF_MOVE } from "../src/index";
import { boot, run } from "../src/promise";

describe("@migrate-offload/core/promise", () => {
  it("boots, maps, writes, moves pages and reads back with async/await", async () => {
    const kernel = await boot({ nodes: ["64M", "64M"] });
    const proc = await run(kernel.createProcess({ node: 0 }));
    const addr = await run(proc.mmap(64 << 10));
    await run(proc.write(addr, new Uint8Array(64 << 10).fill(7)));
    const pages = Array.from({ length: 16 }, (_, i) => addr + i * 4096);
    const { rc, status } = await run(
      proc.movePages(
        0,
        pages,
        pages.map(() => 1),
        MPOL_MF_MOVE,
      ),
    );
    // move_pages(2) (mm/migrate.c): 0, and each status entry the node the page is on now.
    expect(rc).toBe(0);
    expect([...status]).toEqual(pages.map(() => 1));
    expect((await run(proc.read(addr, 64 << 10))).every((b) => b === 7)).toBe(true);
    await run(kernel.shutdown());
  });

  it("rejects with the call's own ErrnoError, not a wrapper (mmap of 0 bytes is EINVAL, mm/mmap.c)", async () => {
    const kernel = await boot({ nodes: ["64M"] });
    const proc = await run(kernel.createProcess());
    const error = await run(proc.mmap(0)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ErrnoError);
    expect(error).toMatchObject({ errno: "EINVAL", code: -22 });
    await run(kernel.shutdown());
  });

  it("boot rejects a config with no nodes with EINVAL", async () => {
    const error = await boot({ nodes: [] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ErrnoError);
    expect((error as ErrnoError).errno).toBe("EINVAL");
  });

  it("a defect rejects with what was thrown", async () => {
    const bug = new TypeError("a bug");
    await expect(run(Effect.die(bug))).rejects.toBe(bug);
  });
});
