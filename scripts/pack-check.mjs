#!/usr/bin/env node
// Checks that the published packages install and work in a real app (docs/packaging.md). Packs
// each publishable package with `pnpm pack` (and checks that `npm pack` refuses), then, in a
// scratch project outside the workspace that pins another effect 4.x than the workspace's:
//
// - the tarballs install with one copy of effect (a peer dependency) and type-check under
//   NodeNext, the main entry and ./promise load without fp-ts installed;
// - ES modules only: `require()` works from CommonJS, a CommonJS and an ES module script in one
//   process share one `Kernel` class and one `ErrnoError`, and a CommonJS TypeScript project
//   type-checks and runs with the documented settings;
// - docs/examples/promise-door.ts and, once fp-ts is installed, docs/examples/fp-ts-migrator.ts
//   run with plain `node` (their types stripped, their imports untouched);
// - a program bundled with esbuild offloads when it ships the copy thread (docs/bundling.md).
//
// Run after `pnpm build`; `pnpm run pack-check` does both.
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const pnpm = process.env.npm_execpath?.includes("pnpm")
  ? [process.execPath, process.env.npm_execpath]
  : ["pnpm"];
const sh = (cmd, args, cwd, env = process.env) =>
  execFileSync(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });
/** Runs a command that must fail; returns its stderr and stdout. */
const fails = (cmd, args, cwd, env = process.env) => {
  try {
    execFileSync(cmd, args, { cwd, env, stdio: "pipe", encoding: "utf8" });
  } catch (error) {
    return `${error.stderr}${error.stdout}`;
  }
  throw new Error(`${cmd} ${args.join(" ")} succeeded, and should not have`);
};
// npm reads npm_config_* variables as its own settings: those pnpm sets for its own use go.
const npmEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    ([key]) =>
      !/^npm_config_(user_agent|verify_deps_before_run|npm_globalconfig|_jsr_registry)$/i.test(key),
  ),
);
const npm = (args, cwd) => sh("npm", args, cwd, npmEnv);
const tsc = join(root, "node_modules/typescript/bin/tsc");
const esbuild = join(root, "node_modules/.bin/esbuild");
const ENGINES = "^20.19.0 || >=22.12.0";

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

// npm would ship the workspace: ranges as they are: the prepack guard stops it (docs/releasing.md).
const npmRefused = fails("npm", ["pack", "--dry-run"], join(root, "packages/dcbm"), npmEnv);
if (!/refusing to pack with npm\/.*workspace:/s.test(npmRefused)) {
  throw new Error(`npm pack was not refused with the guard's message: ${npmRefused}`);
}
console.log("npm pack refused: it would ship workspace: ranges");

// The packages whose tests need more than their main entry ship it as `./testing`.
const withTesting = ["@migrate-offload/core", "@migrate-offload/dcbm", "@migrate-offload/mtcopy"];
const coreEntries = ["promise", "fp-ts"];

for (const file of files) {
  const listing = sh("tar", ["-tzf", file]);
  const manifest = JSON.parse(sh("tar", ["-xzOf", file, "package/package.json"]));
  const name = manifest.name;
  const entries = ["index"];
  if (withTesting.includes(name)) {
    if (!manifest.exports?.["./testing"]) {
      throw new Error(`${name}: the published exports map has no ./testing`);
    }
    entries.push("testing");
  }
  if (name === "@migrate-offload/core") entries.push(...coreEntries);
  for (const required of [
    "package/LICENSE",
    "package/README.md",
    ...entries.flatMap((entry) => ["js", "d.ts"].map((ext) => `package/dist/${entry}.${ext}`)),
  ]) {
    if (!listing.includes(required)) throw new Error(`${file} lacks ${required}`);
  }
  if (listing.includes("package/src/")) throw new Error(`${file} ships its sources`);
  // ES modules only: one copy of each module in a process, whichever way it is loaded.
  if (/\.(cjs|d\.cts)\n/.test(listing)) throw new Error(`${file} ships a CommonJS build`);
  if (/"(require|import|module)"/.test(JSON.stringify(manifest.exports))) {
    throw new Error(`${name}: the exports map has per-format conditions; ESM only needs default`);
  }
  if (JSON.stringify(manifest.exports).includes("@migrate-offload/source")) {
    throw new Error(`${name}: the published exports map still names the source condition`);
  }
  const ranges = { ...manifest.dependencies, ...manifest.peerDependencies };
  if (JSON.stringify(ranges).includes("workspace:")) {
    throw new Error(`${name}: workspace: range left in the published manifest`);
  }
  // One copy of effect and of core in an app: they are peers, never dependencies.
  for (const peer of ["effect", ...(name === "@migrate-offload/core" ? [] : [withTesting[0]])]) {
    if (manifest.dependencies?.[peer] || !manifest.peerDependencies?.[peer]) {
      throw new Error(`${name}: ${peer} must be a peer dependency, not a dependency`);
    }
  }
  if (name === "@migrate-offload/core" && !manifest.peerDependenciesMeta?.["fp-ts"]?.optional) {
    throw new Error(`${name}: fp-ts must be an optional peer dependency`);
  }
  if (manifest.engines?.node !== ENGINES) {
    throw new Error(`${name}: engines.node is ${manifest.engines?.node}, not ${ENGINES}`);
  }
  const readme = sh("tar", ["-xzOf", file, "package/README.md"]);
  if (
    !readme.includes(`npm install `) ||
    !new RegExp(`npm install (--save-dev )?${name} `).test(readme)
  )
    throw new Error(`${name}: README has no install line`);
  if (/\]\((?!https:\/\/)[^)]*\)/.test(readme)) {
    throw new Error(`${name}: README has a relative link, broken on the registry page`);
  }
}

// The app pins an effect 4 other than the workspace's: the newest other 4.x release.
const workspaceEffect = JSON.parse(
  readFileSync(join(root, "node_modules/effect/package.json"), "utf8"),
).version;
const pinned = JSON.parse(npm(["view", "effect", "versions", "--json"], root))
  .filter((v) => /^4\.\d+\.\d+$/.test(v) && v !== workspaceEffect)
  .at(-1);
if (!pinned) throw new Error("no other effect 4.x release to pin");
const app = join(scratch, "app");
mkdirSync(app);
writeFileSync(
  join(app, "package.json"),
  JSON.stringify({
    name: "pack-check",
    private: true,
    version: "0.0.0",
    dependencies: { effect: pinned },
  }),
);
npm(["install", "--no-audit", "--no-fund", "--loglevel=error", ...files], app);

/** Every installed copy of a package: `dir → version`. */
const copiesOf = (pkg) => {
  const found = [];
  const walk = (dir) => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir)) {
      const at = join(dir, entry);
      if (entry.startsWith("@")) walk(at);
      else {
        const manifest = join(at, "package.json");
        if (existsSync(manifest) && JSON.parse(readFileSync(manifest, "utf8")).name === pkg) {
          found.push(`${at} ${JSON.parse(readFileSync(manifest, "utf8")).version}`);
        }
        walk(join(at, "node_modules"));
      }
    }
  };
  walk(join(app, "node_modules"));
  return found;
};
for (const [pkg, version] of [
  ["effect", pinned],
  ["@migrate-offload/core", null],
]) {
  const copies = copiesOf(pkg);
  if (copies.length !== 1 || (version && !copies[0].endsWith(` ${version}`))) {
    throw new Error(`${pkg}: expected one copy${version ? ` (${version})` : ""}: ${copies}`);
  }
}
console.log(
  `the app pins effect ${pinned} (the workspace has ${workspaceEffect}): one copy installed\n` +
    npm(["ls", "effect"], app).trim(),
);
if (copiesOf("fp-ts").length > 0) throw new Error("fp-ts was installed, and is an optional peer");
const expectations = {
  "@migrate-offload/core": "Kernel",
  "@migrate-offload/core/testing": "checkKernelConsistency",
  "@migrate-offload/core/promise": "run",
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
// The main entry, ./testing and ./promise load without fp-ts; ./fp-ts is checked once it is in.
packages.push("@migrate-offload/core/promise");
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
  await Effect.runPromise(k2.shutdown());
  for (const [subject, name] of [
    [${dcbmTesting}.dcbmConformanceSubject({ channels: 1, engines: 1 }), "DCBM"],
    [${mtcopyTesting}.mtcopyConformanceSubject({ threads: 1 }), "CPU_MT_COPY"],
  ]) {
    const k3 = Effect.runSync(Kernel.boot({ nodes: ["16M", "16M"] }));
    await Effect.runPromise(subject.load(k3));
    const active = Effect.runSync(k3.fs.read("/sys/kernel/mm/migration/offload_migrator"));
    if (!active.includes(\`[\${name}]\`)) throw new Error(\`\${subject.name}: not active: \${active}\`);
    await Effect.runPromise(subject.unload(k3));
    await Effect.runPromise(k3.shutdown());
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
// kswapd and kcompactd run from boot: a kernel left up keeps the process alive.
await Effect.runPromise(k.shutdown());
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
  await Effect.runPromise(k.shutdown());
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
console.log(sh(process.execPath, ["check.mjs"], app).trim());
console.log(sh(process.execPath, ["check.cjs"], app).trim());

// One module instance, whichever way it is loaded: a CommonJS script requires core, an ES module
// imports it, in one process; the class, and the errors of one side checked by the other, agree.
writeFileSync(
  join(app, "side.mjs"),
  `export * as core from "@migrate-offload/core";\nexport { run } from "@migrate-offload/core/promise";\n`,
);
writeFileSync(
  join(app, "dual.cjs"),
  `const core = require("@migrate-offload/core");
const { Effect } = require("effect");
import("./side.mjs").then(async (side) => {
  if (side.core.Kernel !== core.Kernel) throw new Error("two Kernel objects: require and import differ");
  if (side.core.ErrnoError !== core.ErrnoError) throw new Error("two ErrnoError classes");
  const kernel = Effect.runSync(core.Kernel.boot({ nodes: ["16M"] }));
  const proc = Effect.runSync(kernel.createProcess());
  const error = await side.run(proc.mmap(0)).then(() => null, (e) => e);
  if (!side.core.isErrnoError(error) || !core.isErrnoError(error) || !(error instanceof core.ErrnoError))
    throw new Error("an errno error of one side is not one for the other: " + error);
  if (error.errno !== "EINVAL") throw new Error("mmap of 0 bytes: " + error.errno);
  const fromCjs = Effect.runSync(Effect.flip(core.Kernel.boot({ nodes: [] })));
  if (!side.core.isErrnoError(fromCjs)) throw new Error("isErrnoError from import rejects a required error");
  Effect.runSync(kernel.shutdown());
  console.log("require and import share one module: one Kernel, isErrnoError works across");
}).catch((e) => { console.error(e); process.exit(1); });
`,
);
console.log(sh(process.execPath, ["dual.cjs"], app).trim());

// Types: an ES module project under NodeNext, with the app's own effect (the pinned one).
const typecheck = (args) =>
  sh(
    process.execPath,
    [
      tsc,
      "--strict",
      "--skipLibCheck",
      "false",
      "--types",
      "node",
      "--typeRoots",
      join(root, "node_modules/@types"),
      ...args,
    ],
    app,
  );
typecheck(["--noEmit", "--module", "nodenext", "check.mts"]);
console.log(`types ok for an ES module app under nodenext, with effect ${pinned}`);

// A CommonJS TypeScript project, with the settings docs/packaging.md gives: "module": "nodenext"
// (TypeScript 5.8 and later type require() of an ES module as Node 20.19 runs it). It compiles
// to require() calls, and runs.
const cjsProject = join(app, "cjs");
mkdirSync(cjsProject);
writeFileSync(join(cjsProject, "package.json"), JSON.stringify({ type: "commonjs" }));
writeFileSync(
  join(cjsProject, "main.ts"),
  `import { Kernel, isErrnoError } from "@migrate-offload/core";
import { boot, run } from "@migrate-offload/core/promise";
import { mtcopyDriver } from "@migrate-offload/mtcopy";
import { dcbmConformanceSubject } from "@migrate-offload/dcbm/testing";
import { Effect } from "effect";

void dcbmConformanceSubject;
const main = async (): Promise<void> => {
  const kernel: Kernel = await boot({ nodes: ["16M", "16M"] });
  await run(kernel.loadModule(mtcopyDriver(kernel, { threads: 1 }).module));
  const error = await run(kernel.unloadModule("nosuch")).then(() => null, (e: unknown) => e);
  if (!isErrnoError(error) || error.errno !== "ENOENT") throw new Error("delete_module: " + String(error));
  Effect.runSync(Effect.void);
  await run(kernel.shutdown());
  console.log("a CommonJS TypeScript project type-checks under nodenext, compiles to require(), runs");
};
main().catch((e: unknown) => { console.error(e); process.exit(1); });
`,
);
typecheck(["--module", "nodenext", "--outDir", "cjs/out", "cjs/main.ts"]);
if (
  !readFileSync(join(cjsProject, "out/main.js"), "utf8").includes(
    'require("@migrate-offload/core")',
  )
) {
  throw new Error("the CommonJS project did not compile to require()");
}
console.log(sh(process.execPath, ["cjs/out/main.js"], app).trim());
typecheck(["--noEmit", "--module", "node20", "cjs/main.ts"]);
console.log('the CommonJS project type-checks under "module": "node20" too');
// Under "node16" TypeScript refuses to require an ES module (TS1479), as docs/packaging.md says.
writeFileSync(
  join(cjsProject, "node16.ts"),
  `import { Kernel } from "@migrate-offload/core";\nvoid Kernel;\n`,
);
if (
  !fails(process.execPath, [tsc, "--noEmit", "--module", "node16", "cjs/node16.ts"], app).includes(
    "TS1479",
  )
) {
  throw new Error("node16: expected TS1479");
}
console.log('"module": "node16" gets TS1479, as documented');

/** A docs/examples file with its types stripped and its imports kept, run with plain node. */
const example = (name, call, expected) => {
  sh(
    esbuild,
    [
      `${join(root, "docs/examples", name)}.ts`,
      "--format=esm",
      "--log-level=warning",
      `--outfile=${name}.mjs`,
    ],
    app,
  );
  writeFileSync(
    join(app, `run-${name}.mjs`),
    `import * as m from "./${name}.mjs";\nconsole.log(JSON.stringify(await ${call}));\n`,
  );
  const got = sh(process.execPath, [`run-${name}.mjs`], app).trim();
  if (got !== JSON.stringify(expected))
    throw new Error(`${name}: ${got}, expected ${JSON.stringify(expected)}`);
  console.log(`docs/examples/${name}.ts runs with node from the tarballs: ${got}`);
};
example("promise-door", "m.promiseDoor()", {
  onNode1: true,
  intact: true,
  failed: "EINVAL",
  batchesOffloaded: 1,
});

// Each package README stands alone on the registry page: its examples run as they are shown.
for (const dir of ["core", "dcbm", "mtcopy"]) {
  const readme = readFileSync(join(root, "packages", dir, "README.md"), "utf8");
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map(([, body]) => body);
  if (blocks.length === 0) throw new Error(`packages/${dir}/README.md: no example`);
  for (const [i, body] of blocks.entries()) {
    const file = `readme-${dir}-${i}`;
    writeFileSync(join(app, `${file}.ts`), body);
    sh(
      esbuild,
      [`${file}.ts`, "--format=esm", "--log-level=warning", `--outfile=${file}.mjs`],
      app,
    );
    sh(process.execPath, [`${file}.mjs`], app);
  }
  console.log(`packages/${dir}/README.md: ${blocks.length} example(s) run from the tarballs`);
}

// ./fp-ts without fp-ts says what is missing; with it, the fp-ts example runs in plain Node.
const noFpTs = fails(
  process.execPath,
  ["--input-type=module", "-e", 'import "@migrate-offload/core/fp-ts";'],
  app,
);
if (!/ERR_MODULE_NOT_FOUND[\s\S]*fp-ts|Cannot find (package|module) 'fp-ts/.test(noFpTs)) {
  throw new Error(`./fp-ts without fp-ts: ${noFpTs}`);
}
const fpTs = JSON.parse(
  readFileSync(join(root, "node_modules/fp-ts/package.json"), "utf8"),
).version;
npm(["install", "--no-audit", "--no-fund", "--loglevel=error", `fp-ts@${fpTs}`], app);
example("fp-ts-migrator", "m.fpTsMigration()", {
  _tag: "Right",
  right: { rc: 0, onNode1: true, intact: true, foliosCopied: 256 },
});
// Why the example names module files: a directory import fails in Node's ES module loader.
const dirImport = fails(
  process.execPath,
  ["--input-type=module", "-e", 'import "fp-ts/TaskEither";'],
  app,
);
if (!dirImport.includes("ERR_UNSUPPORTED_DIR_IMPORT"))
  throw new Error(`fp-ts/TaskEither: ${dirImport}`);
console.log(
  'import "fp-ts/TaskEither" fails in plain Node with ERR_UNSUPPORTED_DIR_IMPORT, as docs/fp-ts.md says',
);

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
