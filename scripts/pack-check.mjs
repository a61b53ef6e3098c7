#!/usr/bin/env node
// Checks that the published packages really install: packs each publishable package with
// `pnpm pack`, installs the tarballs into a scratch project outside the workspace, then imports
// every package and every `./testing` subpath from ESM and from CommonJS, and type-checks an
// import of each under NodeNext resolution. Run after `pnpm build`.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const pnpm = process.env.npm_execpath?.includes("pnpm")
  ? [process.execPath, process.env.npm_execpath]
  : ["pnpm"];
const sh = (cmd, args, cwd) =>
  execFileSync(cmd, args, { cwd, stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });

const scratch = mkdtempSync(join(tmpdir(), "migrate-offload-pack-"));
const tarballs = join(scratch, "tarballs");
mkdirSync(tarballs);
const packages = [];
for (const dir of readdirSync(join(root, "packages"))) {
  const pkg = JSON.parse(readFileSync(join(root, "packages", dir, "package.json"), "utf8"));
  if (pkg.private) continue;
  sh(
    pnpm[0],
    [...pnpm.slice(1), "pack", "--pack-destination", tarballs],
    join(root, "packages", dir),
  );
  packages.push(pkg.name);
}
const files = readdirSync(tarballs).map((f) => join(tarballs, f));
console.log(`packed ${files.length}: ${readdirSync(tarballs).join(", ")}`);

// The packages whose tests need more than their main entry ship it as `./testing`.
const withTesting = ["@migrate-offload/core", "@migrate-offload/dcbm", "@migrate-offload/mtcopy"];

for (const file of files) {
  const listing = sh("tar", ["-tzf", file]);
  const manifest = JSON.parse(sh("tar", ["-xzOf", file, "package/package.json"]));
  const entries = ["index"];
  if (withTesting.includes(manifest.name)) {
    if (!manifest.exports?.["./testing"]) {
      throw new Error(`${manifest.name}: the published exports map has no ./testing`);
    }
    entries.push("testing");
  }
  for (const required of [
    "package/LICENSE",
    "package/README.md",
    ...entries.flatMap((entry) =>
      ["js", "cjs", "d.ts", "d.cts"].map((ext) => `package/dist/${entry}.${ext}`),
    ),
  ]) {
    if (!listing.includes(required)) throw new Error(`${file} lacks ${required}`);
  }
  if (listing.includes("package/src/")) throw new Error(`${file} ships its sources`);
  if (JSON.stringify(manifest.exports).includes("@migrate-offload/source")) {
    throw new Error(`${manifest.name}: the published exports map still names the source condition`);
  }
  if (JSON.stringify(manifest.dependencies ?? {}).includes("workspace:")) {
    throw new Error(`${manifest.name}: workspace: dependency left in the published manifest`);
  }
}

const app = join(scratch, "app");
mkdirSync(app);
writeFileSync(
  join(app, "package.json"),
  JSON.stringify({ name: "pack-check", private: true, version: "0.0.0" }),
);
sh("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", ...files], app);

const expectations = {
  "@migrate-offload/core": "Kernel",
  "@migrate-offload/core/testing": "checkKernelConsistency",
  "@migrate-offload/dcbm": "DCBM_MODULE_NAME",
  "@migrate-offload/dcbm/testing": "dcbmConformanceSubject",
  "@migrate-offload/mtcopy": "MTCOPY_MIGRATOR_NAME",
  "@migrate-offload/mtcopy/testing": "mtcopyConformanceSubject",
  "@migrate-offload/testkit": "TESTKIT_FORMAT_VERSION",
};
for (const name of withTesting) {
  if (!packages.includes(name)) throw new Error(`${name} was not packed`);
  packages.push(`${name}/testing`);
}
const esm = packages
  .map(
    (name) =>
      `import * as m${packages.indexOf(name)} from "${name}";\nif (!m${packages.indexOf(name)}.${expectations[name]}) throw new Error("${name}: no ${expectations[name]}");`,
  )
  .join("\n");
// The main entry and ./testing share one copy of the driver's modules: a fault armed through
// ./testing reaches a device registered through the main entry, and the conformance subjects
// load and unload the drivers of the main entry.
const sharedState = (dcbm, dcbmTesting, mtcopyTesting) => `{
  const k2 = Effect.runSync(Kernel.boot({ nodes: ["16M", "16M"] }));
  const device = Effect.runSync(${dcbm}.dmaAsyncDeviceRegister(k2, { channels: 1, engines: 1 }));
  ${dcbmTesting}.dmaInjectFault(device, { kind: "request" });
  const mask = ${dcbm}.dmaCapSet(${dcbm}.DMA_MEMCPY);
  if (${dcbm}.dmaRequestChanByMask(k2, mask) instanceof ${dcbm}.DmaChan)
    throw new Error("dcbm/testing: a fault armed there did not reach the device");
  const chan = ${dcbm}.dmaRequestChanByMask(k2, mask);
  if (!(chan instanceof ${dcbm}.DmaChan)) throw new Error("dcbm: no channel after the fault");
  ${dcbm}.dmaReleaseChannel(chan);
  await Effect.runPromise(${dcbm}.dmaAsyncDeviceUnregister(k2, device));
  for (const [subject, name] of [
    [${dcbmTesting}.dcbmConformanceSubject({ channels: 1, engines: 1 }), "DCBM"],
    [${mtcopyTesting}.mtcopyConformanceSubject({ threads: 1 }), "CPU_MT_COPY"],
  ]) {
    const k3 = Effect.runSync(Kernel.boot({ nodes: ["16M", "16M"] }));
    await Effect.runPromise(subject.load(k3));
    const active = Effect.runSync(k3.fs.read("/sys/kernel/mm/migration/offload_migrator"));
    if (!active.includes(\`[\${name}]\`)) throw new Error(\`\${subject.name}: not active: \${active}\`);
    await Effect.runPromise(subject.unload(k3));
  }
}`;
/** The name check.mjs imports a package as. */
const m = (name) => `m${packages.indexOf(name)}`;
writeFileSync(
  join(app, "check.mjs"),
  `${esm}
import { Effect } from "effect";
const k = Effect.runSync(m${packages.indexOf("@migrate-offload/core")}.Kernel.boot({ nodes: ["16M", "16M"] }));
const p = Effect.runSync(k.createProcess());
const a = Effect.runSync(p.mmap(4096));
Effect.runSync(p.write(a, new Uint8Array([42])));
if (Effect.runSync(p.read(a, 1))[0] !== 42) throw new Error("ESM: bytes did not round-trip");
// The copy worker ships with the build and starts from the installed package.
const core = m${packages.indexOf("@migrate-offload/core")};
const engine = new core.CopyEngine(k, { threads: 2 });
const src = Effect.runSync(k.allocFolio(0, 2));
const dst = Effect.runSync(k.allocFolio(1, 2));
src.bytes().fill(7);
engine.begin(2);
engine.push(0, src.pfn, dst.pfn, 0, 8192, 0);
engine.push(1, src.pfn, dst.pfn, 8192, 8192, 1);
await Effect.runPromise(engine.run());
await Effect.runPromise(engine.terminate());
if (!dst.bytes().every((b) => b === 7)) throw new Error("ESM: the copy workers did not copy");
const { Kernel } = core;
${sharedState(m("@migrate-offload/dcbm"), m("@migrate-offload/dcbm/testing"), m("@migrate-offload/mtcopy/testing"))}
console.log("ESM import ok, copy workers ok, ./testing shares the drivers:", ${JSON.stringify(packages)}.join(", "));
`,
);
writeFileSync(
  join(app, "check.cjs"),
  `${packages.map((name) => `if (!require("${name}").${expectations[name]}) throw new Error("${name}: no ${expectations[name]}");`).join("\n")}
const { Effect } = require("effect");
const { Kernel } = require("@migrate-offload/core");
const k = Effect.runSync(Kernel.boot({ nodes: ["16M"] }));
if (k.mem.nodes.length !== 1) throw new Error("CJS: kernel did not boot");
const { CopyEngine } = require("@migrate-offload/core");
(async () => {
  const engine = new CopyEngine(k, { threads: 1 });
  const src = Effect.runSync(k.allocFolio(0, 1));
  const dst = Effect.runSync(k.allocFolio(0, 1));
  src.bytes().fill(9);
  engine.begin(1);
  engine.push(0, src.pfn, dst.pfn, 0, 8192, 0);
  await Effect.runPromise(engine.run());
  await Effect.runPromise(engine.terminate());
  if (!dst.bytes().every((b) => b === 9)) throw new Error("CJS: the copy workers did not copy");
  const dcbm = require("@migrate-offload/dcbm");
  const dcbmTesting = require("@migrate-offload/dcbm/testing");
  const mtcopyTesting = require("@migrate-offload/mtcopy/testing");
  ${sharedState("dcbm", "dcbmTesting", "mtcopyTesting")}
  console.log("CJS copy workers ok, ./testing shares the drivers");
})().catch((e) => { console.error(e); process.exit(1); });
console.log("CJS require ok:", ${JSON.stringify(packages)}.join(", "));
`,
);
writeFileSync(
  join(app, "check.mts"),
  `${packages.map((name, i) => `import * as t${i} from "${name}";\nvoid t${i}.${expectations[name]};`).join("\n")}
import { Effect } from "effect";
const kernel: t${packages.indexOf("@migrate-offload/core")}.Kernel = Effect.runSync(t${packages.indexOf("@migrate-offload/core")}.Kernel.boot({ nodes: ["16M"] }));
void kernel;
// A device of the main entry takes a fault of ./testing.
const device: t${packages.indexOf("@migrate-offload/dcbm")}.DmaDevice | null = null;
const fault: t${packages.indexOf("@migrate-offload/dcbm/testing")}.DmaFault = { kind: "hang", after: 1 };
if (device) t${packages.indexOf("@migrate-offload/dcbm/testing")}.dmaInjectFault(device, fault);
`,
);
writeFileSync(
  join(app, "check.cts"),
  `import core = require("@migrate-offload/core");\nconst k: core.Kernel | undefined = undefined;\nvoid k;\nimport dcbmTesting = require("@migrate-offload/dcbm/testing");\nimport mtcopyTesting = require("@migrate-offload/mtcopy/testing");\nvoid dcbmTesting.dcbmConformanceSubject;\nvoid mtcopyTesting.mtcopyConformanceSubject;\n`,
);
console.log(sh(process.execPath, ["check.mjs"], app).trim());
console.log(sh(process.execPath, ["check.cjs"], app).trim());
sh(
  process.execPath,
  [
    join(root, "node_modules/typescript/bin/tsc"),
    "--noEmit",
    "--strict",
    "--module",
    "nodenext",
    "--moduleResolution",
    "nodenext",
    "--skipLibCheck",
    "false",
    "--types",
    "node",
    "--typeRoots",
    join(root, "node_modules/@types"),
    "check.mts",
    "check.cts",
  ],
  app,
);
console.log("types ok under nodenext resolution (ESM and CJS)");

// A program bundled into one file (docs/bundling.md) offloads when it ships the copy thread's
// entry file and says where it is, and fails loudly at the switch when it does not.
const bundled = `import { Kernel, MPOL_MF_MOVE } from "@migrate-offload/core";
import { MTCOPY_SYSFS_DIR, mtcopyDriver } from "@migrate-offload/mtcopy";
import { Effect } from "effect";
const workerUrl = process.env.WORKER ? new URL(process.env.WORKER, import.meta.url) : undefined;
const program = Effect.gen(function* () {
  const kernel = yield* Kernel.make({ nodes: ["64M", "64M"] });
  yield* kernel.loadModule(mtcopyDriver(kernel, { threads: 2, workerUrl }).module);
  yield* kernel.fs.write(MTCOPY_SYSFS_DIR + "/offloading", "1");
  const proc = yield* kernel.createProcess();
  const addr = yield* proc.mmap(4 << 20);
  const bytes = Uint8Array.from({ length: 4 << 20 }, (_, i) => (i * 7) & 0xff);
  yield* proc.write(addr, bytes);
  const pages = Array.from({ length: 1024 }, (_, i) => addr + i * 4096);
  yield* proc.movePages(0, pages, pages.map(() => 1), MPOL_MF_MOVE);
  const back = yield* proc.read(addr, bytes.length);
  if (!back.every((b, i) => b === bytes[i])) throw new Error("bytes lost");
  const batches = kernel.migrateOffload.counters("CPU_MT_COPY").batchesOffloaded;
  if (batches === 0) throw new Error("no batch was offloaded");
  return batches;
});
Effect.runPromise(Effect.scoped(program)).then(
  (batches) => console.log("bundled program offloaded " + batches + " batches"),
  (error) => {
    console.error(error.errno + ": " + error.message);
    process.exit(3);
  },
);
`;
writeFileSync(join(app, "bundled.mjs"), bundled);
const bundle = (dir) => {
  mkdirSync(join(app, dir, "workers"), { recursive: true });
  sh(
    join(root, "node_modules/.bin/esbuild"),
    [
      "bundled.mjs",
      "--bundle",
      "--platform=node",
      "--format=esm",
      "--log-level=warning",
      `--outfile=${dir}/app.mjs`,
    ],
    app,
  );
  return join(app, dir, "app.mjs");
};
const shipped = bundle("dist-shipped");
writeFileSync(
  join(app, "dist-shipped", "workers", "copy-worker.mjs"),
  readFileSync(join(app, "node_modules/@migrate-offload/core/dist/copy-worker.mjs")),
);
const offloaded = execFileSync(process.execPath, [shipped], {
  cwd: app,
  encoding: "utf8",
  env: { ...process.env, WORKER: "./workers/copy-worker.mjs" },
});
if (!/offloaded [1-9]\d* batches/.test(offloaded)) throw new Error(`bundled: ${offloaded}`);
console.log(offloaded.trim());
const missing = bundle("dist-missing");
let refused = "";
try {
  execFileSync(process.execPath, [missing], { cwd: app, encoding: "utf8", stdio: "pipe" });
} catch (error) {
  refused = String(error.stderr);
}
if (!/^ENOENT: .*copy-worker\.mjs/m.test(refused)) {
  throw new Error(`a bundle without its copy thread did not fail loudly: ${refused}`);
}
console.log(`bundled program without its copy thread refused: ${refused.trim().split("\n")[0]}`);
rmSync(scratch, { recursive: true, force: true });
