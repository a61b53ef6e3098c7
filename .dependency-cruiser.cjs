/**
 * Import rules: no cycles anywhere (type imports included), the packages form a stack
 * (core ← dcbm, mtcopy, testkit ← bench), and inside core each layer imports only layers below it:
 * errno and lib/ ← include/ ← mm/, kernel/, fs/, drivers/ ← init/ ← the entry points.
 */
const SRC = "^packages/core/src/";
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "An import cycle, type imports included.",
      from: {},
      to: { circular: true },
    },
    {
      name: "core-ground-floor",
      severity: "error",
      comment: "errno and lib/ import nothing else in core.",
      from: { path: `${SRC}(errno\\.ts|lib/)` },
      to: { path: SRC, pathNot: `${SRC}(errno\\.ts|lib/)` },
    },
    {
      name: "core-include-imports-nothing-above",
      severity: "error",
      comment: "include/ declares the machine's types and imports only lib/, errno and include/.",
      from: { path: `${SRC}include/` },
      to: { path: SRC, pathNot: `${SRC}(errno\\.ts|lib/|include/)` },
    },
    {
      name: "core-subsystems-below-boot",
      severity: "error",
      comment:
        "mm/, kernel/, fs/ and drivers/ never import boot or an entry point (testing/ included).",
      from: { path: `${SRC}(mm|kernel|fs|drivers)/` },
      to: { path: `${SRC}(init/|index\\.ts|testing/|fp-ts\\.ts|promise\\.ts)` },
    },
    {
      name: "core-boot-below-entry",
      severity: "error",
      comment: "init/ never imports an entry point.",
      from: { path: `${SRC}init/` },
      to: { path: `${SRC}(index\\.ts|testing/)` },
    },
    {
      name: "core-imports-no-package",
      severity: "error",
      comment: "core is the bottom of the stack.",
      from: { path: "^packages/core/" },
      to: { path: "^packages/(dcbm|mtcopy|testkit|bench)/" },
    },
    {
      name: "plugins-import-core-only",
      severity: "error",
      comment: "dcbm, mtcopy and testkit build on core alone, never on each other or on bench.",
      from: { path: "^packages/(dcbm|mtcopy|testkit)/src/" },
      to: { path: "^packages/(dcbm|mtcopy|testkit|bench)/", pathNot: "^packages/$1/" },
    },
    {
      name: "fp-ts-only-through-its-entry",
      severity: "error",
      comment:
        "fp-ts is an optional peer of core: only src/fp-ts.ts (the ./fp-ts entry) imports it, so the other entries load without it.",
      from: { path: "^packages/[^/]+/src/", pathNot: "^packages/core/src/fp-ts\\.ts$" },
      to: { path: "(^|/)fp-ts([/@]|\\.ts$)" },
    },
    {
      name: "no-deep-imports",
      severity: "error",
      comment: "Another package is reached through its entry points, never its internal files.",
      from: { path: "^packages/([^/]+)/" },
      to: {
        path: "^packages/([^/]+)/src/",
        pathNot: [
          "^packages/$1/",
          "^packages/[^/]+/src/(index|testing|testing/index|fp-ts|promise)\\.ts$",
        ],
      },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)dist/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      conditionNames: ["@migrate-offload/source", "import", "types", "default"],
      exportsFields: ["exports"],
      mainFields: ["module", "main", "types"],
    },
  },
};
