// The package's main entry (what `import "dispatch-core"` resolves to on
// Node) exports every name index.d.ts declares, and nothing it does not.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as dc from "dispatch-core";
import * as node from "dispatch-core/node";

const declarations = readFileSync(new URL("../index.d.ts", import.meta.url), "utf8");
// Values only: functions, classes and constants (types exist only in TypeScript).
const declared = [...declarations.matchAll(/^export (?:declare )?(?:function|class|const) ([A-Za-z_$][\w$]*)/gm)]
  .map((m) => m[1]);
const unique = [...new Set(declared)].sort();

test("index.d.ts declares each value once", () => {
  assert.equal(unique.length, declared.length);
  assert.ok(unique.length >= 30, `only ${unique.length} names declared`);
});

test("the main entry exports exactly the declared names", () => {
  assert.deepEqual(Object.keys(dc).sort(), unique);
});

test("the node entry is the main entry", () => {
  assert.deepEqual(Object.keys(node).sort(), unique);
  for (const name of unique) assert.equal(node[name], dc[name], name);
});

test("package.json points every entry's types at index.d.ts", () => {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  assert.equal(pkg.types, "./index.d.ts");
  for (const [entry, conditions] of Object.entries(pkg.exports)) {
    assert.equal(conditions.types, "./index.d.ts", entry);
  }
  assert.ok(pkg.files.includes("index.d.ts"));
});

test("classes are classes and functions are functions", () => {
  for (const m of declarations.matchAll(/^export (?:declare )?(function|class|const) ([A-Za-z_$][\w$]*)/gm)) {
    const [, kind, name] = m;
    if (kind === "const") assert.notEqual(typeof dc[name], "function", name);
    else assert.equal(typeof dc[name], "function", name);
  }
});
