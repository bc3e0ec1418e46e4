// The entry for Node and bundlers: the .wasm is read from the file next to
// this module (Node), or fetched by URL where there is no file system (a
// bundler rewrites the URL to its asset), then compiled once at import.
import init, { initSync } from "./dispatch_core_wasm.js";

const wasmUrl = new URL("./dispatch_core_wasm_bg.wasm", import.meta.url);
if (wasmUrl.protocol === "file:") {
  const { readFileSync } = await import("node:fs");
  initSync({ module: readFileSync(wasmUrl) });
} else {
  await init({ module_or_path: wasmUrl });
}

export * from "./api.js";
