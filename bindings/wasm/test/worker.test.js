// The package in the real Workers runtime: workerd, through miniflare, runs
// test/worker/worker.js on the Workers build (the .wasm imported as a
// module). Our own `dispatch scheduler` signs every Run request; the Worker
// verifies it with the scheduler's public key. `dispatch run` drives a call
// that polls (it calls `double` three times on the Worker) and resumes, to
// its outcome. A request signed by `dispatch sign` is served; tampered
// copies of it are refused with 403, an unsigned one with 401.
//
// The `dispatch` binary: DISPATCH_BIN, else target/debug/dispatch at the
// repository root (`cargo build -p dispatch-cli`). Without it the test
// fails, unless DISPATCH_SKIP_WORKER_TEST=1, which skips it with the reason.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createInterface } from "node:readline";
import { Miniflare } from "miniflare";
import * as dc from "dispatch-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const repo = join(root, "..", "..");
const bin = process.env.DISPATCH_BIN ?? join(repo, "target", "debug", "dispatch");
const skip = process.env.DISPATCH_SKIP_WORKER_TEST === "1";
const missing = !existsSync(bin);
const options = skip
  ? { skip: "DISPATCH_SKIP_WORKER_TEST=1" }
  : {};
const run = promisify(execFile);
const API_KEY = "worker-test-api-key";

let dir;
let mf;
let workerUrl;
let scheduler;
let schedulerUrl;
let publicKey;

/** Starts `dispatch scheduler` and resolves with its URL, read from the
 * line it prints on stderr. */
function startScheduler(signingKeyFile) {
  const child = spawn(bin, ["scheduler", "--memory", "--listen", "127.0.0.1:0", "--signing-key", signingKeyFile], {
    env: { ...process.env, DISPATCH_API_KEY: API_KEY, RUST_LOG: "warn" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const seen = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the scheduler printed no address in 30 s:\n${seen.join("\n")}`)), 30_000);
    child.on("exit", (code) => reject(new Error(`the scheduler exited (${code}):\n${seen.join("\n")}`)));
    createInterface({ input: child.stderr }).on("line", (line) => {
      seen.push(line);
      const m = /^dispatch scheduler on (\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1] });
      }
    });
  });
}

/** The binary protobuf of a RunRequest `{function, input}` (fields 1, 2),
 * built here so the test does not lean on the package to make its input. */
function runRequestBytes(fn, any) {
  const utf8 = (s) => new TextEncoder().encode(s);
  const field = (number, bytes) => {
    const out = [(number << 3) | 2];
    let n = bytes.length;
    while (n >= 0x80) {
      out.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    out.push(n);
    return [...out, ...bytes];
  };
  const inner = [...field(1, utf8(any.typeUrl)), ...field(2, any.value)];
  return new Uint8Array([...field(1, utf8(fn)), ...field(2, inner)]);
}

/** A Run request for the Worker, signed by `dispatch sign` with the
 * scheduler's key: `{url, headers, body}`. */
async function signedByDispatch(body, created) {
  const url = new URL(dc.RUN_PATH, workerUrl);
  const head = [
    `POST ${url.pathname} HTTP/1.1`,
    `Host: ${url.host}`,
    "Content-Type: application/proto",
    "Connect-Protocol-Version: 1",
    `Content-Length: ${body.length}`,
    "",
    "",
  ].join("\r\n");
  const file = join(dir, "request.http");
  writeFileSync(file, Buffer.concat([Buffer.from(head), body]));
  const { stdout } = await run(bin, ["sign", "--signing-key", join(dir, "private.pem"),
    ...(created ? ["--created", String(created)] : []), file], { encoding: "buffer" });
  const end = stdout.indexOf("\r\n\r\n");
  assert.ok(end > 0, "dispatch sign printed no request head");
  const lines = stdout.subarray(0, end).toString("latin1").split("\r\n").slice(1);
  const headers = lines.map((line) => {
    const colon = line.indexOf(":");
    return [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
  });
  assert.deepEqual(Buffer.from(stdout.subarray(end + 4)), Buffer.from(body), "dispatch sign changed the body");
  return { url: url.href, headers, body };
}

async function post({ url, headers, body }) {
  // Content-Length is fetch's own to set.
  const sent = headers.filter(([n]) => n.toLowerCase() !== "content-length" && n.toLowerCase() !== "host");
  return fetch(url, { method: "POST", headers: sent, body });
}

before(async () => {
  if (skip) return;
  if (missing) {
    throw new Error(`the dispatch binary is missing at ${bin}: build it with \`cargo build -p dispatch-cli\` ` +
      "at the repository root (or set DISPATCH_BIN), or set DISPATCH_SKIP_WORKER_TEST=1 to skip this test");
  }
  dir = mkdtempSync(join(tmpdir(), "dispatch-worker-test-"));
  const { stdout } = await run(bin, ["keygen", "--private-key", join(dir, "private.pem"),
    "--public-key", join(dir, "public.pem")]);
  publicKey = stdout.trim();
  assert.ok(dc.parseVerificationKey(publicKey), "keygen printed no public key");

  const dist = join(root, "dist");
  mf = new Miniflare({
    modules: [
      { type: "ESModule", path: join(here, "worker", "worker.js") },
      { type: "ESModule", path: join(dist, "workerd.js") },
      { type: "ESModule", path: join(dist, "api.js") },
      { type: "ESModule", path: join(dist, "dispatch_core_wasm.js") },
      { type: "CompiledWasm", path: join(dist, "dispatch_core_wasm_bg.wasm") },
    ],
    modulesRoot: root,
    compatibilityDate: "2025-11-01",
    bindings: { DISPATCH_VERIFICATION_KEY: publicKey },
    host: "127.0.0.1",
    port: 0,
  });
  workerUrl = (await mf.ready).href;
  ({ child: scheduler, url: schedulerUrl } = await startScheduler(join(dir, "private.pem")));
});

after(async () => {
  scheduler?.kill();
  await mf?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("the Worker is up on the Workers build", options, async () => {
  const response = await fetch(new URL("/health", workerUrl));
  assert.equal(await response.text(), "ok");
});

test("a call that polls and resumes, run by dispatch scheduler to completion", options, async () => {
  const { stdout, stderr } = await run(bin, ["run", "--scheduler", schedulerUrl, "--api-key", API_KEY,
    "--endpoint", workerUrl, "--timeout", "120", "sumOfDoubles", "3"], { timeout: 150_000 }).catch((e) => {
    throw new Error(`dispatch run failed (${e.code}): ${e.stderr}\n${e.stdout}`);
  });
  const outcome = JSON.parse(stdout);
  assert.equal(outcome.status, "STATUS_OK", stdout);
  assert.equal(outcome.done, true);
  // Two Run requests: the first call (answered with a poll), the resumption.
  assert.equal(outcome.attempts, 2, stdout);
  assert.equal(outcome.endpoint, workerUrl);
  // 2 + 4 + 6, an Int64Value (proto3 JSON writes 64-bit integers as strings).
  assert.deepEqual(outcome.result.output, { "@type": "type.googleapis.com/google.protobuf.Int64Value", value: "12" });
  assert.match(stderr, /ended with STATUS_OK/);
});

test("a request dispatch sign signed is served; tampered copies get 403, an unsigned one 401", options, async () => {
  const body = runRequestBytes("double", dc.packValue(21));
  const signed = await signedByDispatch(body);

  const served = await post(signed);
  assert.equal(served.status, 200, await served.clone().text());
  assert.equal(served.headers.get("content-type"), "application/proto");
  const response = dc.decodeRunResponse(new Uint8Array(await served.arrayBuffer()));
  assert.equal(response.status, dc.status("STATUS_OK").number);
  assert.equal(dc.unpackValue(response.exit.result.output), 42n);

  const refusals = [
    ["another body", { ...signed, body: runRequestBytes("double", dc.packValue(22)) }, 403, "digest-mismatch"],
    ["another signature", {
      ...signed,
      headers: signed.headers.map(([n, v]) => [n, n.toLowerCase() === "signature" ? v.replace(/:(.)/, (_, c) => `:${c === "A" ? "B" : "A"}`) : v]),
    }, 403, null],
    ["signed long ago", await signedByDispatch(body, 1_000_000_000), null, null],
  ];
  for (const [what, request, want, reason] of refusals) {
    const answer = await post(request);
    const error = await answer.json();
    if (want) assert.equal(answer.status, want, `${what}: ${JSON.stringify(error)}`);
    else assert.ok([401, 403].includes(answer.status), `${what}: ${answer.status} ${JSON.stringify(error)}`);
    assert.equal(answer.headers.get("content-type"), "application/json");
    if (answer.status === 403) assert.equal(error.code, "permission_denied", what);
    if (reason) assert.match(error.message, /digest|body/i, what);
  }

  const unsigned = await post({ ...signed, headers: signed.headers.filter(([n]) => !/^(signature|signature-input)$/i.test(n)) });
  assert.equal(unsigned.status, 401);
  assert.equal((await unsigned.json()).code, "unauthenticated");
});
