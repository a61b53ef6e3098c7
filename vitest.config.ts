import { readdirSync } from "node:fs";
import { defineConfig } from "vitest/config";

/** Workspace packages resolve to their TypeScript sources in tests, not to built `dist/`. */
const conditions = ["@migrate-offload/source", "module", "node", "development|production"];

/**
 * One vitest project per package, named after it, and `docs`: the checks of the pages in `docs/`
 * and their examples against the code, in `docs/test/`.
 */
export default defineConfig({
  test: {
    projects: [
      ...readdirSync(new URL("./packages", import.meta.url)).map((name) => ({
        extends: true as const,
        test: { name, root: `packages/${name}`, include: ["test/**/*.test.ts"] },
      })),
      { extends: true, test: { name: "docs", root: "docs", include: ["test/**/*.test.ts"] } },
    ],
    passWithNoTests: false,
  },
  resolve: { conditions },
  ssr: { resolve: { conditions } },
});
