// The size budget (README): the largest .wasm the package ships is at most
// 192 KiB. `npm run build` fails past it too; this keeps the check in the
// test run, over every .wasm in dist/.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, statSync } from "node:fs";

const budget = 192 * 1024;
const dist = new URL("../dist/", import.meta.url);
const shipped = readdirSync(dist).filter((f) => f.endsWith(".wasm"));

test("the package ships a .wasm", () => {
  assert.ok(shipped.length > 0, "dist/ holds no .wasm: run `npm run build`");
});

for (const file of shipped) {
  const size = statSync(new URL(file, dist)).size;
  test(`${file} is at most 192 KiB (${size} bytes, ${(size / 1024).toFixed(1)} KiB)`, () => {
    assert.ok(size <= budget, `${size} bytes > ${budget}`);
  });
}
