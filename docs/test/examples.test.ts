// The examples of docs/quick-start.md, docs/concepts.md and docs/sysfs.md: each runs, and each
// page shows its example file as it is; so does docs/conformance.md its snippet test.
import { readFileSync } from "node:fs";
import { Effect } from "effect";
import * as E from "fp-ts/lib/Either.js";
import { describe, expect, it } from "vitest";
import { compactionExample } from "../examples/compaction";
import { traceOneMigration } from "../examples/concepts-trace";
import { fpTsMigration } from "../examples/fp-ts-migrator";
import { memoryOffliningExample } from "../examples/memory-offlining";
import { migrateWithReverseCopy } from "../examples/migrate-with-reverse-copy";
import { promiseDoor } from "../examples/promise-door";
import { quickStart } from "../examples/quick-start";
import { sysfsWrites } from "../examples/sysfs-writes";

const docs = new URL("../", import.meta.url);

/**
 * The first `ts` block of a page (a path under `docs/`) that contains `marker`, looking only after
 * the text `after`, and the file it shows, without blank lines and doc comments.
 */
const shownAndSource = (page: string, file: string, marker = "", after = "") => {
  const text = readFileSync(new URL(page, docs), "utf8");
  const from = text.indexOf(after);
  expect(from).toBeGreaterThanOrEqual(0);
  const block =
    [...text.slice(from).matchAll(/```ts\n([\s\S]*?)```/g)].find(([, body]) =>
      body!.includes(marker),
    )?.[1] ?? "";
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

/**
 * The `key: value` lines of the `text` block after `intro` on a page, as an object: numbers as
 * numbers (unless `strings` names the key), `true` as true, the rest as text.
 */
const keyValues = (page: string, intro: string, strings: readonly string[] = []) =>
  Object.fromEntries(
    textBlock(page, intro).map((line) => {
      const [key, value] = [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 2)];
      if (/^\d+$/.test(value) && !strings.includes(key)) return [key, Number(value)];
      return [key, value === "true" ? true : value];
    }),
  );

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
      "",
      "## Migrating with it",
    );
    expect(shown).toEqual(source);
  });
});

describe("docs/callers.md", () => {
  it("fragments node 1, falls back, compacts, and gets a THP, as the page says", async () => {
    const seen = await Effect.runPromise(compactionExample);
    const said = keyValues("callers.md", "It resolves to:");
    expect({ ...seen, before: seen.before?.trimEnd(), after: seen.after?.trimEnd() }).toEqual(said);
  });

  it("shows the example file as it is", () => {
    const { shown, source } = shownAndSource("callers.md", "examples/compaction.ts");
    expect(shown).toEqual(source);
  });

  it("offlines the block a process lives in, refuses the zero page's, and onlines it, as the page says", async () => {
    const seen = await Effect.runPromise(memoryOffliningExample);
    expect(seen).toEqual(keyValues("callers.md", "The offline resolves to:", ["blockSize"]));
  });

  it("shows the memory offlining example as it is", () => {
    const { shown, source } = shownAndSource(
      "callers.md",
      "examples/memory-offlining.ts",
      "memoryOffliningExample",
    );
    expect(shown).toEqual(source);
  });
});

describe("README.md: the Promise door", () => {
  it("boots, loads mtcopy, moves 1 MiB to node 1 and rejects a bad call with its ErrnoError", async () => {
    // mmap(2) of 0 bytes is EINVAL (do_mmap(), mm/mmap.c); 256 pages of 4 KiB in one batch.
    expect(await promiseDoor()).toEqual({
      onNode1: true,
      intact: true,
      failed: "EINVAL",
      batchesOffloaded: 1,
    });
  });

  it("shows the example file as it is", () => {
    const { shown, source } = shownAndSource(
      "../README.md",
      "examples/promise-door.ts",
      "@migrate-offload/core/promise",
    );
    expect(shown).toEqual(source);
  });
});

describe("docs/fp-ts.md", () => {
  it("moves 1 MiB to node 1 with a migrator written in fp-ts, every folio by the migrator", async () => {
    expect(await fpTsMigration()).toEqual(
      E.right({ rc: 0, onNode1: true, intact: true, foliosCopied: 256 }),
    );
  });

  it("imports fp-ts by module file only, as plain Node ES modules need", () => {
    const source = readFileSync(new URL("examples/fp-ts-migrator.ts", docs), "utf8");
    const specifiers = [...source.matchAll(/from "(fp-ts[^"]*)"/g)].map(([, s]) => s!);
    expect(specifiers.length).toBeGreaterThan(0);
    for (const specifier of specifiers) expect(specifier).toMatch(/^fp-ts\/lib\/\w+\.js$/);
  });

  it("shows the example file as it is", () => {
    const { shown, source } = shownAndSource("fp-ts.md", "examples/fp-ts-migrator.ts");
    expect(shown).toEqual(source);
  });
});
