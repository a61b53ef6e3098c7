// Every `@example` block of the API reference (the TSDoc of packages/*/src) is a complete
// program: this extracts each one into a file of its own, type-checks them all against the
// workspace's sources as a user's project would see the packages, and runs each.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { inspect } from "node:util";
import ts from "typescript";
import { afterAll, describe, expect, it, vi } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));
/** Where the extracted examples go: inside the repository, so that the packages resolve. */
const out = join(root, "docs", ".api-examples");

interface Example {
  /** `packages/core/src/init/main.ts:504`: the file and line of its `@example` tag. */
  readonly where: string;
  readonly code: string;
  readonly file: string;
}

/** Every `.ts` file under `dir`. */
const sources = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });

/** The `ts` code blocks that follow an `@example` tag in the doc comments of `path`. */
const examplesOf = (path: string): Array<{ line: number; code: string }> => {
  const text = readFileSync(path, "utf8");
  const found: Array<{ line: number; code: string }> = [];
  for (const comment of text.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
    const lines = comment[0].split("\n").map((l) => l.replace(/^\s*\*( |$)/, ""));
    const first = text.slice(0, comment.index).split("\n").length;
    lines.forEach((line, i) => {
      if (line.trim() !== "@example") return;
      const open = lines.findIndex((l, j) => j > i && l.trim().startsWith("```"));
      const close = lines.findIndex((l, j) => j > open && l.trim() === "```");
      expect(lines[open]?.trim(), `${path}:${first + i}: an @example is a \`\`\`ts block`).toBe(
        "```ts",
      );
      found.push({ line: first + i, code: lines.slice(open + 1, close).join("\n") });
    });
  }
  return found;
};

const packages = join(root, "packages");
const examples: Example[] = readdirSync(packages)
  .flatMap((name) => sources(join(packages, name, "src")))
  .sort()
  .flatMap((path) =>
    examplesOf(path).map(({ line, code }, n) => {
      const where = `${relative(root, path)}:${line}`;
      const name = `${relative(packages, path).replace(/\.ts$/, "").replace(/[/\\]/g, "__")}__${n}.ts`;
      return { where, code, file: join(out, name) };
    }),
  );

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const example of examples) writeFileSync(example.file, `${example.code}\n`);
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe("the @example blocks of the API reference", () => {
  it("cover the main entry points", () => {
    const shown = examples.map((e) => e.code).join("\n");
    for (const call of [
      "Kernel.make(",
      "Kernel.boot(",
      ".createProcess(",
      ".mmap(",
      ".movePages(",
      "migratePages(",
      "migrateOffload.register(",
      "mtcopyDriver(",
      "dcbmDriver(",
      "verifyMigrator(",
      "conformanceProperty(",
      "isolateFoliosToList(",
    ])
      expect(shown, call).toContain(call);
  });

  it("type-check as a project that depends on the packages would", () => {
    const config = ts.readConfigFile(join(root, "tsconfig.base.json"), ts.sys.readFile);
    const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
    const program = ts.createProgram(
      examples.map((e) => e.file),
      { ...options, noEmit: true, declaration: false, sourceMap: false },
    );
    // Only the examples' own diagnostics: `tsc -b` checks the packages' sources.
    const diagnostics = [
      ...program.getOptionsDiagnostics(),
      ...program.getGlobalDiagnostics(),
      ...examples.flatMap((e) => {
        const file = program.getSourceFile(e.file);
        return file
          ? [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)]
          : [];
      }),
    ];
    const errors = diagnostics.map((d) => {
      const text = ts.flattenDiagnosticMessageText(d.messageText, "\n");
      if (!d.file || d.start === undefined) return text;
      const { line } = d.file.getLineAndCharacterOfPosition(d.start);
      const example = examples.find((e) => e.file === d.file!.fileName);
      return `${example?.where ?? relative(root, d.file.fileName)} (example line ${line + 1}): ${text}`;
    });
    expect(errors).toEqual([]);
  }, 120_000);

  for (const example of examples) {
    it(`runs: ${example.where}`, async () => {
      // The examples print what they show; keep that out of the test output.
      const printed: unknown[][] = [];
      const log = vi.spyOn(console, "log").mockImplementation((...args) => {
        printed.push(args);
      });
      try {
        await import(pathToFileURL(example.file).href);
      } finally {
        log.mockRestore();
      }
      if (process.env.SHOW_EXAMPLE_OUTPUT) console.log(example.where, printed);
      // Each `console.log(x); // value` says what it prints: the comment starts with the value.
      const said = example.code
        .split("\n")
        .filter((line) => /^\s*console\.log\(/.test(line))
        .map((line) => /;\s*\/\/\s*(.*)$/.exec(line)?.[1] ?? null);
      // Where a console.log runs inside a callback, the order printed is not the order written:
      // compare only examples whose every console.log printed once, in order.
      if (printed.length !== said.length) return;
      said.forEach((comment, i) => {
        if (comment === null) return;
        const shown = printed[i]!.map((value) =>
          inspect(value, { breakLength: Number.POSITIVE_INFINITY }),
        ).join(" ");
        const plain = (text: string) => text.replaceAll("'", '"').replace(/\s+/g, " ");
        expect(
          plain(comment).startsWith(plain(shown)),
          `${example.where}: printed ${shown}, the comment says ${comment}`,
        ).toBe(true);
      });
    }, 60_000);
  }
});
