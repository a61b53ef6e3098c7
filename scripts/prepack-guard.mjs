#!/usr/bin/env node
// The `prepack` script of every published package. Packing is pnpm's job here: `pnpm pack` and
// `pnpm publish` replace the `workspace:` ranges of the manifest with real version ranges, and
// apply `publishConfig`; `npm pack` and `npm publish` ship them as they are, and the tarball
// then cannot install anywhere. This stops npm (or yarn) with a message saying what to run, and
// stops pnpm too when the package has not been built. See docs/releasing.md.
import { existsSync, readFileSync } from "node:fs";

const agent = process.env.npm_config_user_agent ?? "";
const manifest = JSON.parse(readFileSync("package.json", "utf8"));
if (!agent.startsWith("pnpm/")) {
  const by = agent.split(" ")[0] || "a tool that is not pnpm";
  console.error(
    `${manifest.name}: refusing to pack with ${by}. Its package.json names workspace packages as ` +
      `"workspace:" ranges, which only pnpm rewrites to versions when it packs; a tarball made ` +
      `otherwise cannot install. Use \`pnpm pack\` or \`pnpm publish\` (npx -y pnpm@10.34.9 ...), ` +
      `or the release route of docs/releasing.md.`,
  );
  process.exit(1);
}
const missing = Object.values(manifest.publishConfig?.exports ?? {})
  .flatMap((target) => (typeof target === "string" ? [target] : Object.values(target)))
  .filter((file) => file.startsWith("./dist/") && !existsSync(file));
if (missing.length > 0) {
  console.error(
    `${manifest.name}: the build is missing (${missing.join(", ")}): run \`pnpm build\` first.`,
  );
  process.exit(1);
}
