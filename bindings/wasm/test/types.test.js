// index.d.ts compiles under `tsc --strict` (the pinned typescript), and a
// module using every declared value, the README's Worker among it,
// type-checks against it (test/types/usage.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const tsc = fileURLToPath(new URL("../node_modules/typescript/bin/tsc", import.meta.url));
const project = fileURLToPath(new URL("./types/tsconfig.json", import.meta.url));

test("index.d.ts type-checks, and so does a use of every value", () => {
  try {
    execFileSync(process.execPath, [tsc, "-p", project], { encoding: "utf8", stdio: "pipe" });
  } catch (failure) {
    assert.fail(`tsc found errors:\n${failure.stdout}${failure.stderr}`);
  }
});
