import { readFileSync } from "node:fs";
import type { Kernel } from "@migrate-offload/core";
import { boot } from "@migrate-offload/core/testing";
import { dcbmConformanceSubject } from "@migrate-offload/dcbm/testing";
import { mtcopyDriver } from "@migrate-offload/mtcopy";
import { Effect, Exit } from "effect";
import { expect, it } from "vitest";
import { reverseCopyModule } from "../examples/reverse-copy-migrator";

/** Every file under `path`, depth first. */
const walk = (kernel: Kernel, path: string): string[] => {
  const names = Effect.runSyncExit(kernel.fs.list(path));
  if (Exit.isFailure(names)) return [path];
  return names.value.flatMap((name) => walk(kernel, `${path === "/" ? "" : path}/${name}`));
};

/** A path as the reference page writes it: instance numbers and sizes as placeholders. */
const generic = (path: string): string =>
  path
    .replace(/\/dma\d+chan\d+\//, "/dma<N>chan<M>/")
    .replace(/\/node\d+\//, "/node<N>/")
    .replace(/\/memory_tier\d+\//, "/memory_tier<N>/")
    .replace(/\/memory\d+\//, "/memory<N>/")
    .replace(/\/hugepages-\d+kB\//, "/hugepages-<size>kB/")
    .replace(/^\/proc\/\d+\//, "/proc/<pid>/")
    .replace(/^\/sys\/module\/[^/]+\/(refcnt|initstate)$/, "/sys/module/<name>/$1");

it("docs/sysfs.md lists every file of a kernel with both drivers and the example loaded", async () => {
  const kernel = boot({ nodes: ["16M", "16M"] });
  const dcbm = dcbmConformanceSubject({ channels: 2, engines: 1 }, {});
  await Effect.runPromise(dcbm.load(kernel));
  await Effect.runPromise(kernel.loadModule(mtcopyDriver(kernel).module));
  await Effect.runPromise(kernel.loadModule(reverseCopyModule(kernel)));
  await Effect.runPromise(kernel.createProcess()); // its /proc/<pid> files
  const page = readFileSync(new URL("../sysfs.md", import.meta.url), "utf8");
  const files = [...new Set(walk(kernel, "/").map(generic))];
  expect(files.length).toBeGreaterThan(25);
  const missing = files.filter((file) => {
    const dir = file.slice(0, file.lastIndexOf("/"));
    const name = file.slice(file.lastIndexOf("/") + 1);
    // A row may name siblings together: `…/possible`, `online`.
    return (
      !page.includes(`\`${file}\``) && !(page.includes(`\`${dir}/`) && page.includes(`\`${name}\``))
    );
  });
  expect(missing).toEqual([]);
  await Effect.runPromise(dcbm.unload(kernel));
}, 60_000);
