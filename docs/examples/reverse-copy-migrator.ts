/**
 * The migrator of `docs/writing-a-migrator.md`: it ships in `@migrate-offload/testkit`, whose
 * `src/examples.ts` holds its source; this file imports it from there as a user would.
 */
export { reverseCopyModule } from "@migrate-offload/testkit";
