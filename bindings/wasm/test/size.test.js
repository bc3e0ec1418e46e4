// The size budget (README): the largest .wasm the package ships is at most
// 192 KiB. `npm run build` warns past it too; this keeps the check in the
// test run, over every .wasm in dist/.
//
// DISPATCH_WASM_SIZE_KNOWN_OVER=<reason> turns a failure of the budget into
// a skip that prints the reason and the size (.ci/run sets it while issue 13
// is open, so that every other test of the package still gates); a .wasm
// within the budget is asserted as always.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, statSync } from "node:fs";

const budget = 192 * 1024;
const dist = new URL("../dist/", import.meta.url);
const shipped = readdirSync(dist).filter((f) => f.endsWith(".wasm"));
const knownOver = process.env.DISPATCH_WASM_SIZE_KNOWN_OVER;

test("the package ships a .wasm", () => {
  assert.ok(shipped.length > 0, "dist/ holds no .wasm: run `npm run build`");
});

for (const file of shipped) {
  const size = statSync(new URL(file, dist)).size;
  const over = size > budget;
  const skip = over && knownOver ? `KNOWN OVER BUDGET by ${size - budget} bytes: ${knownOver}` : false;
  test(`${file} is at most 192 KiB (${size} bytes, ${(size / 1024).toFixed(1)} KiB)`, { skip }, () => {
    assert.ok(!over, `${size} bytes > ${budget}`);
  });
}
