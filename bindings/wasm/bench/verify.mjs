// Verifying the signed 1 KiB Run request (the fixture of dispatch-core's
// `verify` benchmark: seed 0x42 x 32, the same body, URL, content type and
// `created`) through the package in Node, against the floor a JavaScript
// user has without it: node:crypto's own Ed25519 verify of the same
// signature base plus SHA-512 of the same body. Both are measured in this
// one run, interleaved: each round times a short batch of each (alternating
// which goes first), and the figure is the median of the per-round ratios,
// which holds up when other processes load the machine.
//
//     node bench/verify.mjs [--seconds 5] [--native]
//
// --native also runs the native core's figure in the same run
// (`cargo bench -p dispatch-core --bench verify` in its interleaved mode,
// at the repository root; its first build takes minutes) and prints it
// beside. The target: the package at most 3 times the floor.
import { createHash, createPublicKey, verify as edVerify } from "node:crypto";
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as dc from "dispatch-core";

const args = process.argv.slice(2);
const seconds = Number(args[args.indexOf("--seconds") + 1] ?? 5) || 5;
const native = args.includes("--native");

const URL_ = "https://my-app.example.com/dispatch.sdk.v1.FunctionService/Run";
const CREATED = 1_764_000_000;
const body = new Uint8Array(1024);
for (let i = 0; i < body.length; i++) body[i] = Number((BigInt(i) * 2654435761n & 0xffffffffn) >> 24n);

const signingKey = dc.parseSigningKey(Buffer.alloc(32, 0x42).toString("base64"));
const key = signingKey.verificationKey();
const unsigned = { method: "POST", url: URL_, headers: [["Content-Type", "application/proto"]], body };
const signed = dc.signRequest(unsigned, signingKey, { created: CREATED });
const request = { ...unsigned, headers: [...unsigned.headers, ...Object.entries(signed)] };
const options = { now: CREATED };

// The floor's inputs: the signature base (RFC 9421 section 2.5), the raw
// signature, the key as a KeyObject, all made before the clock starts.
const params = signed["Signature-Input"].slice(signed["Signature-Input"].indexOf("=") + 1);
const base = Buffer.from([
  `"@method": POST`,
  `"@path": /dispatch.sdk.v1.FunctionService/Run`,
  `"@authority": my-app.example.com`,
  `"content-type": application/proto`,
  `"content-digest": ${signed["Content-Digest"]}`,
  `"@signature-params": ${params}`,
].join("\n"));
const signature = Buffer.from(signed.Signature.split(":")[1], "base64");
const publicKey = createPublicKey(key.pem());
const digest = Buffer.from(signed["Content-Digest"].split(":")[1], "base64");

function floor(bodyBytes) {
  const hash = createHash("sha512").update(bodyBytes).digest();
  return hash.equals(digest) && edVerify(null, base, publicKey, signature);
}
function ours(req) {
  return dc.verifyRequest(req, key, options).ok;
}

// Both accept the request and refuse another body, before anything is timed.
const tampered = new Uint8Array(body);
tampered[0] ^= 1;
if (!ours(request) || !floor(body)) throw new Error("the signed request does not verify");
if (ours({ ...request, body: tampered }) || floor(tampered)) throw new Error("a tampered body verified");

function batch(fn, input, n) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) if (!fn(input)) throw new Error("refused");
  return Number(process.hrtime.bigint() - start) / n;
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

// Warm up, then batches of about 2 ms each.
for (let i = 0; i < 300; i++) {
  ours(request);
  floor(body);
}
const sizes = [ours, floor].map((fn, i) => Math.max(3, Math.round(2e6 / batch(fn, i ? body : request, 50))));
const samples = { ours: [], floor: [] };
const end = Date.now() + seconds * 1000;
for (let round = 0; Date.now() < end; round++) {
  const order = round % 2 ? ["floor", "ours"] : ["ours", "floor"];
  for (const name of order) {
    samples[name].push(name === "ours" ? batch(ours, request, sizes[0]) : batch(floor, body, sizes[1]));
  }
}
const rounds = samples.ours.length;
const ratio = median(samples.ours.map((t, i) => t / samples.floor[i]));
const us = (ns) => (ns / 1000).toFixed(2);

console.log(`node ${process.version}, ${rounds} interleaved rounds in ${seconds} s`);
console.log(`package verifyRequest (wasm):                 median ${us(median(samples.ours))} µs`);
console.log(`floor: node:crypto Ed25519 verify + SHA-512:   median ${us(median(samples.floor))} µs`);
console.log(`ratio package / floor (median of per-round ratios): ${ratio.toFixed(3)} (target at most 3)`);

if (native) {
  const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
  console.log("native core: cargo bench -p dispatch-core --bench verify (VERIFY_BENCH_INTERLEAVED=300:2000)");
  const out = execFileSync(process.env.CARGO ?? "cargo", ["bench", "-p", "dispatch-core", "--bench", "verify"], {
    cwd: repo,
    env: { ...process.env, VERIFY_BENCH_INTERLEAVED: "300:2000" },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const line = (op) => new RegExp(`^${op.replace("/", "\\/")}\\s+p10\\s+\\d+\\s+median\\s+(\\d+)`, "m").exec(out)?.[1];
  for (const l of out.split("\n")) if (/^(ours\/full |baseline\/dalek_verify_strict_plus_sha512|ratio ours\/full)/.test(l)) console.log(`  native: ${l.trim()}`);
  const core = Number(line("ours/full"));
  const dalek = Number(line("baseline/dalek_verify_strict_plus_sha512"));
  if (!core) throw new Error(`no ours/full line in the native benchmark's output:\n${out}`);
  console.log(`native core signature::verify (ours/full):    median ${us(core)} µs`);
  if (dalek) console.log(`native baseline (dalek verify_strict + sha2 SHA-512): median ${us(dalek)} µs`);
  console.log(`ratio package / native core: ${(median(samples.ours) / core).toFixed(2)}`);
}
if (ratio > 3) {
  console.log("OVER TARGET: the package takes more than 3 times the floor");
  process.exitCode = 1;
}
