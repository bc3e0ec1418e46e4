// npm run build: the release .wasm (cargo, wasm32-unknown-unknown), its
// wasm-bindgen glue (target web: ES modules, initSync), wasm-opt -Oz from
// the binaryen package, and the package's own modules, into dist/.
// Warns when the .wasm passes the size budget (test/size.test.js fails).
//
// Environment: CARGO (default cargo), WASM_BINDGEN (default wasm-bindgen,
// which must be the version Cargo.toml pins).
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { homedir } from "node:os";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const budget = 192 * 1024;
const name = "dispatch_core_wasm";

function run(command, args) {
  console.log(`$ ${command} ${args.join(" ")}`);
  execFileSync(command, args, { cwd: root, stdio: "inherit" });
}

const cargo = process.env.CARGO ?? "cargo";
const bindgen = process.env.WASM_BINDGEN ?? "wasm-bindgen";

// wasm-bindgen's glue and the crate's wasm-bindgen must be the same version.
const pinned = /wasm-bindgen = \{ version = "=([0-9.]+)"/.exec(readFileSync(join(root, "Cargo.toml"), "utf8"))?.[1];
const installed = execFileSync(bindgen, ["--version"], { encoding: "utf8" }).trim().split(" ")[1];
if (pinned !== installed) {
  console.error(`${bindgen} is ${installed}, but Cargo.toml pins wasm-bindgen ${pinned}: ` +
    `cargo install --locked wasm-bindgen-cli --version ${pinned}`);
  process.exit(1);
}

// Panic locations name source files: with their prefixes (this checkout,
// cargo's registry) remapped away, the .wasm is the same size wherever the
// checkout and cargo's home are. Arrays in cargo's configuration add up, so
// .cargo/config.toml's flags stay.
const registry = join(process.env.CARGO_HOME ?? join(homedir(), ".cargo"), "registry", "src");
let sources = [];
try {
  sources = readdirSync(registry).map((index) => join(registry, index) + "/");
} catch {
  // No registry checkout (vendored sources): nothing to remap there.
}
const remaps = [...sources, join(root, "..", "..") + "/"].map((prefix) => `--remap-path-prefix=${prefix}=`);

// The size budget is met by the pinned nightly of ./size-toolchain (with
// its rust-src): core and alloc rebuilt for size (-Zbuild-std with
// optimize_for_size), panics that abort where they happen with no location
// kept (nothing here is meant to panic; a panic traps either way). Stable
// builds the same code, about 18 KB larger. DISPATCH_WASM_TOOLCHAIN names
// another toolchain for this build; `stable` forces the stable build.
const sizeToolchain = process.env.DISPATCH_WASM_TOOLCHAIN ?? readFileSync(join(root, "size-toolchain"), "utf8").trim();
function hasRustSrc(toolchain) {
  try {
    const sysroot = execFileSync("rustup", ["run", toolchain, "rustc", "--print", "sysroot"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
    statSync(join(sysroot, "lib", "rustlib", "src", "rust", "library", "core"));
    return true;
  } catch {
    return false;
  }
}
const forSize = sizeToolchain !== "stable" && hasRustSrc(sizeToolchain);
// Its own target directory: the stable checks (clippy, tests) keep theirs.
const targetDir = forSize ? join(root, "target", "size") : join(root, "target");
if (forSize) {
  const flags = [...remaps, "-Zunstable-options", "-Cpanic=immediate-abort", "-Zlocation-detail=none"];
  run("rustup", [
    "run", sizeToolchain, "cargo",
    "build", "--release", "--locked", "--target", "wasm32-unknown-unknown", "--target-dir", targetDir,
    "-Zbuild-std=core,alloc", "-Zbuild-std-features=optimize_for_size",
    "--config", `target.wasm32-unknown-unknown.rustflags=${JSON.stringify(flags)}`,
  ]);
} else {
  if (sizeToolchain !== "stable") {
    console.warn(`${sizeToolchain} with rust-src is not installed: building with stable, which is ` +
      `larger than the size budget (rustup toolchain install ${sizeToolchain} --profile minimal -c rust-src)`);
  }
  run(cargo, [
    "build", "--release", "--locked", "--target", "wasm32-unknown-unknown",
    "--config", `target.wasm32-unknown-unknown.rustflags=${JSON.stringify(remaps)}`,
  ]);
}
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist);
run(bindgen, [
  "--target", "web",
  "--out-dir", dist,
  "--no-typescript",
  join(targetDir, "wasm32-unknown-unknown", "release", `${name}.wasm`),
]);

const wasmFile = join(dist, `${name}_bg.wasm`);
const before = statSync(wasmFile).size;
const wasmOpt = join(root, "node_modules", ".bin", "wasm-opt");
let optimised = false;
try {
  statSync(wasmOpt);
  optimised = true;
} catch {
  console.log("wasm-opt: not installed (npm ci installs binaryen); the .wasm stays as wasm-bindgen wrote it");
}
if (optimised) {
  // The features rustc's wasm32-unknown-unknown enables by default.
  // The module's memory is its own and starts zeroed, and Rust leaves its
  // first KiB unused: two facts wasm-opt may assume (about 1.6 KB less).
  run(wasmOpt, [
    "-Oz",
    "--converge",
    "--zero-filled-memory",
    "--low-memory-unused",
    "--enable-bulk-memory",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-multivalue",
    "--enable-reference-types",
    wasmFile,
    "-o", wasmFile,
  ]);
}

for (const file of readdirSync(join(root, "js"))) {
  if (file.endsWith(".js")) copyFileSync(join(root, "js", file), join(dist, file));
}

const size = statSync(wasmFile).size;
console.log(`${name}_bg.wasm: ${size} bytes (${(size / 1024).toFixed(1)} KiB; ` +
  `${before} before wasm-opt), budget ${budget} bytes`);
if (size > budget) {
  // Reported here; test/size.test.js fails on it.
  console.warn(`WARNING: the .wasm is over its budget of ${budget / 1024} KiB (${size - budget} bytes over)`);
}
