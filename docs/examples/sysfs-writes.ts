import { Kernel } from "@migrate-offload/core";
import { mtcopyDriver } from "@migrate-offload/mtcopy";
import { Effect } from "effect";

/** Writes to mtcopy's control files: what each write answers, and what the file reads after. */
export const sysfsWrites = Effect.gen(function* () {
  const kernel = yield* Kernel.boot({ nodes: ["64M", "64M"] });
  yield* kernel.loadModule(mtcopyDriver(kernel).module);
  const answers: string[] = [];
  for (const value of ["8", "0x10\n", "0", "65", "eight", "auto"]) {
    const result = yield* Effect.result(kernel.fs.write("/sys/kernel/cpu_mt/threads", value));
    const after = (yield* kernel.fs.read("/sys/kernel/cpu_mt/threads")).trim();
    const answer = result._tag === "Success" ? "ok" : result.failure.errno;
    answers.push(`${JSON.stringify(value)} → ${answer}, reads ${after}`);
  }
  yield* kernel.unloadModule("mtcopy");
  return answers;
});
