import { defineConfig } from "vitest/config";

/** One vitest project per package; each package's own config says how it runs. */
export default defineConfig({
  test: {
    projects: ["packages/*"],
  },
});
