// The examples of docs/quick-start.md, docs/concepts.md and docs/sysfs.md: each runs, and each
// page shows its example file as it is; so does docs/conformance.md its snippet test.
import { readFileSync } from "node:fs";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { traceOneMigration } from "../examples/concepts-trace";
import { migrateWithReverseCopy } from "../examples/migrate-with-reverse-copy";
import { quickStart } from "../examples/quick-start";
import { sysfsWrites } from "../examples/sysfs-writes";

const docs = new URL("../", import.meta.url);

/**
 * The first `ts` block of a page (or the first after the text `after`), and the file it shows (a
 * path under `docs/`), without blank lines and doc comments.
 */
const shownAndSource = (page: string, file: string, after = "") => {
  const text = readFileSync(new URL(page, docs), "utf8");
  const from = text.indexOf(after);
  expect(from).toBeGreaterThanOrEqual(0);
  const block = /```ts\n([\s\S]*?)```/.exec(text.slice(from))?.[1] ?? "";
  const shown = block.split("\n").filter((line) => line !== "" && !line.startsWith("// Effect."));
  const source = readFileSync(new URL(file, docs), "utf8")
    .split("\n")
    .filter((line) => line !== "" && !/^\s*(\/\*\*|\*)/.test(line));
  return { text, shown, source };
};

/** The lines of the `text` block that follows `intro` on a page. */
const textBlock = (page: string, intro: string): string[] => {
  const text = readFileSync(new URL(page, docs), "utf8");
  const at = text.indexOf(`${intro}\n\n\`\`\`text\n`);
  expect(at).toBeGreaterThanOrEqual(0);
  const body = text.slice(text.indexOf("```text\n", at) + 8);
  return body.slice(0, body.indexOf("```")).trim().split("\n");
};

describe("docs/quick-start.md", () => {
  it("moves both huge pages to node 1 with mtcopy, intact", async () => {
    expect(await Effect.runPromise(quickStart)).toEqual({ rc: 0, status: [1, 1], intact: true });
  });

  it("shows the example file as it is", () => {
    const { shown, source } = shownAndSource("quick-start.md", "examples/quick-start.ts");
    expect(shown).toEqual(source);
  });
});

describe("docs/concepts.md", () => {
  it("lists the tracepoints one offloaded migration passes, as the page says", async () => {
    const seen = await Effect.runPromise(traceOneMigration);
    const said = textBlock("concepts.md", "It resolves to:").map((line) => {
      const [, event, times] = /^(.*?)\s+(\d+)$/.exec(line)!;
      return [event, Number(times)];
    });
    expect(seen).toEqual(said);
  });

  it("shows the example file as it is", () => {
    const { shown, source } = shownAndSource("concepts.md", "examples/concepts-trace.ts");
    expect(shown).toEqual(source);
  });
});

describe("docs/sysfs.md", () => {
  it("answers each write to mtcopy's threads file as the page says", async () => {
    expect(await Effect.runPromise(sysfsWrites)).toEqual(textBlock("sysfs.md", "It answers:"));
  });

  it("shows the example file as it is", () => {
    const { shown, source } = shownAndSource("sysfs.md", "examples/sysfs-writes.ts");
    expect(shown).toEqual(source);
  });
});

describe("docs/conformance.md", () => {
  it("shows its snippet test as it is", () => {
    const { shown, source } = shownAndSource(
      "conformance.md",
      "test/verify-migrator-snippet.test.ts",
    );
    expect(shown).toEqual(source);
  });
});

describe("docs/writing-a-migrator.md", () => {
  it("migrates isolated folios with the example migrator named for the call: all four copied by it", async () => {
    expect(await Effect.runPromise(migrateWithReverseCopy)).toEqual({
      rc: 0,
      node: 1,
      foliosCopied: 4,
    });
  });

  it("shows the example file as it is", () => {
    const { shown, source } = shownAndSource(
      "writing-a-migrator.md",
      "examples/migrate-with-reverse-copy.ts",
      "## Migrating with it",
    );
    expect(shown).toEqual(source);
  });
});
