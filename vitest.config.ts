import { readdirSync } from "node:fs";
import { defineConfig } from "vitest/config";

/** Workspace packages resolve to their TypeScript sources in tests, not to built `dist/`. */
const conditions = ["@migrate-offload/source", "module", "node", "development|production"];

/** One vitest project per package, named after it. */
export default defineConfig({
  test: {
    projects: readdirSync(new URL("./packages", import.meta.url)).map((name) => ({
      extends: true,
      test: { name, root: `packages/${name}`, include: ["test/**/*.test.ts"] },
    })),
    passWithNoTests: false,
  },
  resolve: { conditions },
  ssr: { resolve: { conditions } },
});
