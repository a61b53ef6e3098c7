#!/usr/bin/env node
// Checks that the published packages really install: packs each publishable package with
// `pnpm pack`, installs the tarballs into a scratch project outside the workspace, then imports
// every package from ESM and from CommonJS, and type-checks an import of each under NodeNext
// resolution. Run after `pnpm build`.
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
/** Every subpath a package publishes besides its root (`./testing`, say), as `name/sub`. */
const subpaths = [];
console.log(`packed ${files.length}: ${readdirSync(tarballs).join(", ")}`);

for (const file of files) {
  const listing = sh("tar", ["-tzf", file]);
  for (const required of [
    "package/LICENSE",
    "package/README.md",
    "package/dist/index.js",
    "package/dist/index.cjs",
    "package/dist/index.d.ts",
    "package/dist/index.d.cts",
  ]) {
    if (!listing.includes(required)) throw new Error(`${file} lacks ${required}`);
  }
  if (listing.includes("package/src/")) throw new Error(`${file} ships its sources`);
  const manifest = JSON.parse(sh("tar", ["-xzOf", file, "package/package.json"]));
  if (JSON.stringify(manifest.exports).includes("@migrate-offload/source")) {
    throw new Error(`${manifest.name}: the published exports map still names the source condition`);
  }
  for (const key of Object.keys(manifest.exports ?? {})) {
    if (key === "." || key === "./package.json") continue;
    subpaths.push(`${manifest.name}${key.slice(1)}`);
    for (const ext of ["js", "cjs", "d.ts", "d.cts"]) {
      const target = `package/dist${key.slice(1)}.${ext}`;
      if (!listing.includes(target)) throw new Error(`${file} lacks ${target} for ${key}`);
    }
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
  "@migrate-offload/dcbm": "DCBM_MODULE_NAME",
  "@migrate-offload/mtcopy": "MTCOPY_MIGRATOR_NAME",
  "@migrate-offload/testkit": "TESTKIT_FORMAT_VERSION",
};
const esm = packages
  .map(
    (name) =>
      `import * as m${packages.indexOf(name)} from "${name}";\nif (!m${packages.indexOf(name)}.${expectations[name]}) throw new Error("${name}: no ${expectations[name]}");`,
  )
  .join("\n");
const esmSubpaths = subpaths
  .map(
    (name, i) =>
      `import * as s${i} from "${name}";\nif (Object.keys(s${i}).length === 0) throw new Error("${name} exports nothing");`,
  )
  .join("\n");
writeFileSync(
  join(app, "check.mjs"),
  `${esm}
${esmSubpaths}
import { Effect } from "effect";
const k = Effect.runSync(m${packages.indexOf("@migrate-offload/core")}.Kernel.make({ nodes: ["16M", "16M"] }));
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
console.log("ESM import ok, copy workers ok:", ${JSON.stringify(packages)}.join(", "));
`,
);
writeFileSync(
  join(app, "check.cjs"),
  `${packages.map((name) => `if (!require("${name}").${expectations[name]}) throw new Error("${name}: no ${expectations[name]}");`).join("\n")}
const { Effect } = require("effect");
const { Kernel } = require("@migrate-offload/core");
const k = Effect.runSync(Kernel.make({ nodes: ["16M"] }));
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
  console.log("CJS copy workers ok");
})().catch((e) => { console.error(e); process.exit(1); });
${subpaths.map((name) => `if (Object.keys(require("${name}")).length === 0) throw new Error("${name} exports nothing");`).join("\n")}
console.log("CJS require ok:", ${JSON.stringify([...packages, ...subpaths])}.join(", "));
`,
);
writeFileSync(
  join(app, "check.mts"),
  `${packages.map((name, i) => `import * as t${i} from "${name}";\nvoid t${i}.${expectations[name]};`).join("\n")}
${subpaths.map((name, i) => `import * as u${i} from "${name}";\nvoid u${i};`).join("\n")}
import { Effect } from "effect";
const kernel: t${packages.indexOf("@migrate-offload/core")}.Kernel = Effect.runSync(t${packages.indexOf("@migrate-offload/core")}.Kernel.make({ nodes: ["16M"] }));
void kernel;
`,
);
writeFileSync(
  join(app, "check.cts"),
  `import core = require("@migrate-offload/core");\nconst k: core.Kernel | undefined = undefined;\nvoid k;\n`,
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
rmSync(scratch, { recursive: true, force: true });
