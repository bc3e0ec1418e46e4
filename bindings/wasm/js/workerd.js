// The entry for Cloudflare Workers (workerd), which compile no WebAssembly
// at run time: the .wasm is imported as a module (the bundler of `wrangler`
// and miniflare's module rules give a WebAssembly.Module) and instantiated.
import { initSync } from "./dispatch_core_wasm.js";
import module from "./dispatch_core_wasm_bg.wasm";

initSync({ module });

export * from "./api.js";
