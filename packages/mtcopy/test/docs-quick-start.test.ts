import { readFileSync } from "node:fs";
import { Effect } from "effect";
import { expect, it } from "vitest";
import { quickStart } from "../../../docs/examples/quick-start";

const docs = new URL("../../../docs/", import.meta.url);

it("the quick start of docs/quick-start.md moves both huge pages to node 1 with mtcopy, intact", async () => {
  expect(await Effect.runPromise(quickStart)).toEqual({ rc: 0, status: [1, 1], intact: true });
});

it("docs/quick-start.md shows the example file as it is", () => {
  const page = readFileSync(new URL("quick-start.md", docs), "utf8");
  const block = /```ts\n([\s\S]*?)```/.exec(page)?.[1] ?? "";
  const shown = block
    .split("\n")
    .filter((line) => line !== "" && !line.startsWith("// Effect.runPromise"));
  const source = readFileSync(new URL("examples/quick-start.ts", docs), "utf8")
    .split("\n")
    .filter((line) => line !== "" && !line.startsWith("/**"));
  expect(shown).toEqual(source);
});
