import { Effect } from "effect";
import * as E from "fp-ts/lib/Either.js";
import * as TE from "fp-ts/lib/TaskEither.js";
import { describe, expect, it } from "vitest";
import {
  loadModule,
  migratorFromTaskEither,
  registerMigrator,
  sysfsRead,
  sysfsWrite,
  taskEitherOf,
  unloadModule,
  unregisterMigrator,
} from "../src/fp-ts";
import { ERRNO, type ErrnoError, migrateFoliosMcCopy } from "../src/index";
import { boot } from "../src/testing/index";

const CONTROL = "/sys/kernel/mm/migration/offload_migrator";
const left = <A>(result: E.Either<ErrnoError, A>): string | undefined =>
  E.isLeft(result) ? result.left.errno : undefined;

describe("@migrate-offload/core/fp-ts", () => {
  it("registers, switches and unregisters a TaskEither migrator through the TaskEither views", async () => {
    const k = boot();
    const make = (name: string) =>
      migratorFromTaskEither({
        name,
        owner: null,
        offloadCopy: (dst, src) =>
          migrateFoliosMcCopy(k, dst, src) === 0 ? TE.right(undefined) : TE.left(-ERRNO.EIO),
      });
    const first = make("fp_first");
    const second = make("fp_second");
    expect(await registerMigrator(k, first)()).toEqual(E.right(undefined));
    expect(await sysfsRead(k, CONTROL)()).toEqual(E.right("none [fp_first]\n"));
    // migrate_offload_register() while another is active: -EBUSY.
    expect(left(await registerMigrator(k, second)())).toBe("EBUSY");
    // Only the active migrator may unregister: -EINVAL.
    expect(left(await unregisterMigrator(k, second)())).toBe("EINVAL");
    expect(await unregisterMigrator(k, first)()).toEqual(E.right(undefined));
    expect(await sysfsRead(k, CONTROL)()).toEqual(E.right("[none] fp_first\n"));
    // A name no provider has: -EINVAL, and the control is unchanged.
    expect(left(await sysfsWrite(k, CONTROL, "nosuch")())).toBe("EINVAL");
  });

  it("loads and unloads a module; delete_module() of one not loaded is ENOENT", async () => {
    const k = boot();
    const loaded = await loadModule(k, { name: "fp_mod", init: () => Effect.void })();
    expect(E.isRight(loaded) && loaded.right.name).toBe("fp_mod");
    // init_module() of a name already loaded: -EEXIST (kernel/module/main.c).
    expect(left(await loadModule(k, { name: "fp_mod", init: () => Effect.void })())).toBe("EEXIST");
    expect(await unloadModule(k, "fp_mod")()).toEqual(E.right(undefined));
    expect(left(await unloadModule(k, "fp_mod")())).toBe("ENOENT");
  });

  it("taskEitherOf gives Right for a value, Left for an errno, and rejects for a defect", async () => {
    const k = boot();
    const proc = await taskEitherOf(k.createProcess())();
    if (E.isLeft(proc)) throw proc.left;
    expect(left(await taskEitherOf(proc.right.mmap(0))())).toBe("EINVAL");
    const bug = new TypeError("a bug");
    await expect(taskEitherOf(Effect.die(bug))()).rejects.toBe(bug);
  });
});
