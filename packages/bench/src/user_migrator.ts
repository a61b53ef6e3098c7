/**
 * A user's migrator, named on the command line (`--migrator <module>`), as a subject the offload
 * experiments measure beside the built-in copiers.
 *
 * The module is a file path (relative to where the command was run, with or without `./`) or a
 * package specifier,
 * optionally followed by `#name` to pick an export. Without `#`, the default export is used, or
 * else the module's one export that is a function. The export is one of:
 *
 * - a function of the kernel returning a module definition (`ModuleDefinition`, as
 *   `docs/examples/reverse-copy-migrator.ts` exports) or the result of core's
 *   `defineMigratorModule` (its `definition` is loaded);
 * - a function of the kernel returning a `Migrator` (something with `offloadCopy`), which is
 *   wrapped in a module that adds it as a provider on init and removes it on exit.
 *
 * The subject loads the module, makes its migrator the active one through
 * `/sys/kernel/mm/migration/offload_migrator`, and unloads it afterwards (the testkit's
 * `moduleSubject`).
 */
import { existsSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Kernel, Migrator, ModuleDefinition } from "@migrate-offload/core";
import { type MigratorSubject, moduleSubject } from "@migrate-offload/testkit";
import { Effect } from "effect";

/** A `--migrator` that cannot be used, and why. */
export class MigratorModuleError extends Error {
  override readonly name = "MigratorModuleError";
}

const isMigrator = (value: unknown): value is Migrator =>
  typeof value === "object" &&
  value !== null &&
  typeof (value as Migrator).offloadCopy === "function" &&
  typeof (value as Migrator).name === "string";

const isDefinition = (value: unknown): value is ModuleDefinition =>
  typeof value === "object" &&
  value !== null &&
  typeof (value as ModuleDefinition).name === "string" &&
  typeof (value as ModuleDefinition).init === "function";

/** A module that adds `migrator` as a provider while it is loaded. */
const providerModule = (kernel: Kernel, migrator: Migrator): ModuleDefinition => {
  let owned: Migrator = migrator;
  return {
    name: migrator.name,
    init: (module) => {
      owned = { ...migrator, owner: module };
      return kernel.migrateOffload.addProvider(owned);
    },
    exit: () => Effect.ignore(kernel.migrateOffload.removeProvider(owned)),
  };
};

/**
 * Turns what the export made for `kernel` into a module definition, or says what it was instead.
 */
const asDefinition = (made: unknown, kernel: Kernel, what: string): ModuleDefinition => {
  if (isDefinition(made)) return made;
  const defined = (made as { definition?: unknown } | null)?.definition;
  if (isDefinition(defined)) return defined;
  if (isMigrator(made)) return providerModule(kernel, made);
  throw new MigratorModuleError(
    `${what} returned neither a module definition (name and init), a defineMigratorModule result nor a Migrator (name and offloadCopy)`,
  );
};

/** The module specifier and export name of a `--migrator` value. */
const split = (specifier: string): { module: string; exportName: string | undefined } => {
  const hash = specifier.lastIndexOf("#");
  return hash > 0
    ? { module: specifier.slice(0, hash), exportName: specifier.slice(hash + 1) }
    : { module: specifier, exportName: undefined };
};

/**
 * Imports `specifier` (a path, resolved against `cwd`, or a package; `#name` picks an export) and
 * returns the subject of the migrator its export makes. Fails with a {@link MigratorModuleError}
 * when the module cannot be imported or exports nothing usable; whether the export makes a
 * usable module shows when it is loaded into the first kernel.
 */
export const loadUserMigrator = async (
  specifier: string,
  cwd: string,
): Promise<MigratorSubject> => {
  const { module, exportName } = split(specifier);
  // A file when it names one (`docs/examples/x.ts` as well as `./x.ts`), else a package.
  const local = module.startsWith(".") || isAbsolute(module) || existsSync(resolve(cwd, module));
  const url = local ? pathToFileURL(resolve(cwd, module)).href : module;
  let exports: Record<string, unknown>;
  try {
    exports = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    throw new MigratorModuleError(
      `--migrator ${specifier}: cannot import it: ${(error as Error).message}`,
    );
  }
  const functions = Object.entries(exports).filter(([, v]) => typeof v === "function");
  const [name, make] =
    exportName !== undefined
      ? [exportName, exports[exportName]]
      : "default" in exports
        ? ["default", exports.default]
        : functions.length === 1
          ? functions[0]!
          : [undefined, undefined];
  if (typeof make !== "function") {
    throw new MigratorModuleError(
      exportName !== undefined
        ? `--migrator ${specifier}: it has no function export ${JSON.stringify(exportName)}`
        : `--migrator ${specifier}: name the export with #name; it has ${functions.length} function exports (${functions.map(([n]) => n).join(", ")}) and no default`,
    );
  }
  const what = `--migrator ${specifier}: ${name}(kernel)`;
  const subject = moduleSubject((kernel) => asDefinition(make(kernel), kernel, what));
  return { ...subject, name: module.replace(/^.*\//, "").replace(/\.[cm]?[jt]s$/, "") };
};
