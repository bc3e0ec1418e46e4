// Every vector under tests/vectors and each DISPATCH_EXTRA_VECTORS directory
// (`:`-separated, as tests/vectors.rs reads it) through the JavaScript API,
// against the project's verdicts (`expected_project`). A file of an unknown
// set or category, or a vector this port cannot interpret, fails; the parts
// that cannot apply to this package are counted in NOT_APPLICABLE.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as dc from "dispatch-core";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const roots = [join(repo, "tests", "vectors")];
// A relative entry is taken from the repository's root, as tests/vectors.rs takes it.
for (const entry of (process.env.DISPATCH_EXTRA_VECTORS ?? "").split(":")) if (entry) roots.push(resolve(repo, entry));

const NOT_APPLICABLE = {
  json: "proto3 JSON forms: the package offers binary protobuf only (no JSON codec)",
  "status_mapping/python_exception": "dispatch-py's mapping of its own exception classes",
  "status_mapping/python_output": "dispatch-py's mapping of returned Python objects",
};
const REQUEST_SETS = new Set(["valid-basic", "valid-paths-methods", "valid-authority", "valid-bodies",
  "valid-coverage", "valid-params", "valid-mutations", "tamper", "missing", "malformed", "time-window",
  "params", "duplicate-headers", "rfc9421"]);
const MESSAGE_TYPES = {
  status: "dispatch.sdk.v1.RunResponse", any: "google.protobuf.Any", error: "dispatch.sdk.v1.Error",
  call: "dispatch.sdk.v1.Call", call_result: "dispatch.sdk.v1.CallResult", exit: "dispatch.sdk.v1.Exit",
  poll: "dispatch.sdk.v1.Poll", poll_result: "dispatch.sdk.v1.PollResult",
  run_request: "dispatch.sdk.v1.RunRequest", run_response: "dispatch.sdk.v1.RunResponse",
  dispatch_request: "dispatch.sdk.v1.DispatchRequest", dispatch_response: "dispatch.sdk.v1.DispatchResponse",
};
const FILE_FIELDS = new Set(["schema_version", "category", "split", "set", "meta", "vectors"]);
const SIGNATURE_HEADERS = new Set(["content-digest", "signature-input", "signature"]);

const ran = new Map();
const notApplicable = new Map();
// Set by a runner when the vector in hand cannot apply at all: it is counted
// under notApplicable, not as run.
let vectorNotApplicable = false;
const count = (map, key) => map.set(key, (map.get(key) ?? 0) + 1);

function expect(condition, why) {
  if (!condition) throw new Error(why);
}
function onlyKnown(object, known, where = "vector") {
  const unknown = Object.keys(object).filter((k) => !known.includes(k));
  expect(unknown.length === 0, `${where}: unknown fields ${unknown.join(", ")}`);
}
const b64 = (text) => new Uint8Array(Buffer.from(text, "base64"));
const hex = (text) => new Uint8Array(Buffer.from(text, "hex"));
const toHex = (bytes) => Buffer.from(bytes).toString("hex");
const utf8 = (text) => new TextEncoder().encode(text);

function checkOutcome(expected, verdict) {
  onlyKnown(expected, ["verdict", "http_status", "code", "reason"], "expected_project");
  if (verdict.ok) {
    expect(expected.verdict === "valid", `expected ${expected.reason}, but it verified`);
    return;
  }
  expect(expected.verdict === "invalid", `expected valid, got ${verdict.reason} (${verdict.message})`);
  const got = [verdict.reason, verdict.status, verdict.code].join(" ");
  const want = [expected.reason, expected.http_status, expected.code].join(" ");
  expect(got === want, `expected ${want}, got ${got}`);
  const body = JSON.parse(new TextDecoder().decode(verdict.body));
  expect(body.code === verdict.code && body.message === verdict.message, `bad body ${JSON.stringify(body)}`);
}

function seedsFor(folder) {
  const seeds = {};
  for (const dir of [join(roots[0], "signatures"), folder]) {
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".json")).sort()) {
      for (const v of JSON.parse(readFileSync(join(dir, file), "utf8")).vectors ?? []) {
        const key = v.verification_key ?? {};
        if (key.name && key.private_seed_b64) seeds[key.name] = key.private_seed_b64;
      }
    }
  }
  return seeds;
}

function requestOf(vector) {
  const raw = vector.request;
  onlyKnown(raw, ["method", "url", "headers", "body_b64", "body_len"], "request");
  for (const line of raw.headers) {
    expect(Array.isArray(line) && line.length === 2 && line.every((p) => typeof p === "string"), `bad header line ${JSON.stringify(line)}`);
  }
  const body = b64(raw.body_b64);
  expect(body.length === raw.body_len, "body_len does not match body_b64");
  return { method: raw.method, url: raw.url, headers: raw.headers.map(([n, v]) => [n, v]), body };
}

const REQUEST_FIELDS = ["id", "set", "category", "description", "tricky", "expected", "cross_checks",
  "agreement", "expected_project", "request", "verification_key", "now", "max_age_s", "signing",
  "signature_base", "rfc9421_conformant_signer", "e2e_aiohttp", "notes", "expected_handler_precheck",
  "always_public", "library_level_verdict"];

function runRequestVector(vector, seeds) {
  onlyKnown(vector, REQUEST_FIELDS);
  const request = requestOf(vector);
  const keyFields = vector.verification_key;
  onlyKnown(keyFields, ["name", "public_raw_b64", "public_pem", "private_seed_b64", "private_pem"], "verification_key");
  const key = dc.parseVerificationKey(keyFields.public_raw_b64);
  expect(key, "no verification key");
  expect(dc.parseVerificationKey(keyFields.public_pem).equals(key), "public_pem is another key");
  const options = { now: vector.now, maxAge: vector.max_age_s };
  const expected = vector.expected_project;
  checkOutcome(expected, dc.verifyRequest(request, key, options));
  // The same request as a plain object and as a Headers, when no name repeats.
  const names = request.headers.map(([n]) => n.toLowerCase());
  if (new Set(names).size === names.length) {
    checkOutcome(expected, dc.verifyRequest({ ...request, headers: Object.fromEntries(request.headers) }, key, options));
  }
  // The Run RPC decides the same for the signature (its head check runs first).
  if (expected.verdict === "valid") {
    // Tampered: another body is refused as not the signed one.
    const tampered = dc.verifyRequest({ ...request, body: new Uint8Array([...request.body, 0x78]) }, key, options);
    expect(!tampered.ok && tampered.status === 403 && tampered.reason === "digest-mismatch", `a tampered body gave ${tampered.reason}`);
    const moved = dc.verifyRequest({ ...request, method: request.method.toUpperCase() === "DELETE" ? "PATCH" : "DELETE" }, key, options);
    expect(!moved.ok && moved.status === 403, `another method gave ${moved.reason}`);
    count(ran, "tampered copies refused (403)");
  }
  const signing = vector.signing;
  if (signing == null) return;
  onlyKnown(signing, ["signer", "key", "created", "component_order", "signature_base"], "signing");
  expect(signing.signature_base === vector.signature_base, "two signature bases");
  if (signing.signer !== "dispatch.signature.sign_request") {
    count(ran, "signed by another signer (verified only)");
    return;
  }
  expect(signing.key in seeds, `no seed for key ${signing.key}`);
  const privateKey = dc.parseSigningKey(seeds[signing.key]);
  const unsigned = { ...request, headers: request.headers.filter(([n]) => !SIGNATURE_HEADERS.has(n.toLowerCase())) };
  let ours;
  try {
    ours = dc.signRequest(unsigned, privateKey, { created: signing.created, components: signing.component_order });
  } catch (failure) {
    expect(expected.verdict === "invalid", `cannot sign: ${failure.message}`);
    return;
  }
  if (expected.verdict !== "valid") {
    count(ran, "signed, then changed (not reproduced)");
    return;
  }
  const sent = Object.fromEntries(request.headers.map(([n, v]) => [n.toLowerCase(), v]));
  const members = sent.signature.split(",").map((m) => m.trim());
  expect(members.includes(ours.Signature), `our Signature ${ours.Signature}`);
  expect(ours["Content-Digest"] === sent["content-digest"], "our Content-Digest differs");
  // Same Signature bytes ⇒ same base; its last line is our Signature-Input's list.
  const params = ours["Signature-Input"].slice(ours["Signature-Input"].indexOf("=") + 1);
  expect(vector.signature_base.endsWith(`"@signature-params": ${params}`), "our Signature-Input differs");
  count(ran, "signed vectors reproduced byte for byte");
}

function runKeyVector(vector) {
  expect(["argument", "env"].includes(vector.source), `unknown source ${vector.source}`);
  const expected = vector.expected_project;
  let key;
  try {
    key = dc.parseVerificationKey(vector.input);
  } catch (refused) {
    expect(refused.name === "InvalidKey", `${refused.name}: ${refused.message}`);
    expect(expected.result === "error", `expected ${expected.result}, got ${refused.reason}`);
    return;
  }
  if (key === undefined) {
    expect(expected.result === "none", `expected ${expected.result}, got no key`);
    return;
  }
  expect(expected.result === "ok", `expected ${expected.result}, got a key`);
  expect(key.base64() === expected.public_raw_b64, `parsed ${key.base64()}`);
  expect(Buffer.from(key.raw()).toString("base64") === expected.public_raw_b64, "raw bytes differ");
  expect(dc.VerificationKey.fromBytes(key.raw()).equals(key), "fromBytes differs");
  expect(dc.parseVerificationKey(key.pem()).equals(key), "pem does not read back");
}

function runDigestVector(vector) {
  onlyKnown(vector, ["id", "set", "category", "description", "tricky", "body_b64", "body_len",
    "content_digest", "sha256_b64", "sha512_b64", "expected", "cross_checks", "agreement", "expected_project"]);
  const body = b64(vector.body_b64);
  expect(body.length === vector.body_len, "body_len does not match body_b64");
  const ours = dc.contentDigest(body);
  expect(ours === `sha-512=:${vector.sha512_b64}:`, `our digest ${ours}`);
  expect(dc.checkContentDigest(ours, body).ok, "our digest does not check");
  expect(dc.checkContentDigest(`sha-256=:${vector.sha256_b64}:`, body).ok, "sha-256 does not check");
  checkOutcome(vector.expected_project, dc.checkContentDigest(vector.content_digest, body));
}

function reencodes(type, data) {
  const again = dc.reencodeMessage(type, data);
  expect(toHex(again) === toHex(data), `${type} re-encodes as ${toHex(again)}`);
}

function runMessageVector(category, vector) {
  expect(vector.message_type === MESSAGE_TYPES[category], `type ${vector.message_type} in ${category}`);
  const data = hex(vector.binary_hex);
  expect(data.length === (vector.binary_len ?? data.length), "binary_len differs");
  reencodes(vector.message_type, data);
  if ("json" in vector) count(notApplicable, "json");
  if (category === "status") {
    const status = dc.status(vector.status_number);
    expect(status.name === vector.status_name, status.name);
    expect(status.temporary === vector.temporary, `temporary is ${status.temporary}`);
  }
  if (category === "any") {
    expect(toHex(data).includes(vector.inner_value_hex), "inner value is not in the Any");
  }
  if (category === "run_response") {
    // Through the plain object and back: the same bytes.
    const again = dc.encodeRunResponse(dc.decodeRunResponse(data));
    expect(toHex(again) === toHex(data), "the plain object does not read back");
  }
  if (category === "run_request") {
    const object = dc.decodeRunRequest(data);
    expect(typeof object.function === "string", "no function in the plain object");
  }
}

function runConnectError(vector) {
  onlyKnown(vector, ["id", "category", "description", "code", "code_number", "http_status", "content_type",
    "body", "body_text", "go_dispatch_status", "http_status_reverse_inference"]);
  const code = vector.code;
  expect(dc.codeGrpcNumber(code) === vector.code_number, "gRPC number");
  expect(dc.codeHttpStatus(code) === vector.http_status, "HTTP status");
  expect(dc.codeFromHttpStatus(vector.http_status) === vector.http_status_reverse_inference, "reverse inference");
  expect(dc.statusFromConnectCode(code).name === vector.go_dispatch_status, "go_dispatch_status");
  const message = vector.body.message ?? "";
  if (!vector.body.details?.length) {
    const ours = JSON.parse(new TextDecoder().decode(dc.errorJson(code, message)));
    assert.deepEqual(ours, vector.body);
  }
  const classified = dc.classifyResponse(vector.http_status, vector.content_type, utf8(vector.body_text));
  expect(classified && classified.code === code && classified.message === message, `classified as ${JSON.stringify(classified)}`);
}

function runHttpInference(vector) {
  onlyKnown(vector, ["id", "category", "description", "http_status", "content_type", "body_text", "expected_code", "expected_message"]);
  const classified = dc.classifyResponse(vector.http_status, vector.content_type, utf8(vector.body_text));
  expect(classified, "classified as a success");
  expect(classified.code === vector.expected_code, `code ${classified.code}`);
  if (vector.expected_message != null) expect(classified.message === vector.expected_message, `message ${classified.message}`);
}

function runStatusMapping(vector) {
  onlyKnown(vector, ["id", "category", "description", "kind", "input", "expected_status", "temporary", "source", "mro"]);
  let got;
  if (vector.kind === "http_status") got = dc.statusFromHttpStatus(vector.input);
  else if (vector.kind === "connect_code") got = dc.statusFromConnectCode(vector.input);
  else if (`status_mapping/${vector.kind}` in NOT_APPLICABLE) {
    count(notApplicable, `status_mapping/${vector.kind}`);
    vectorNotApplicable = true;
    return;
  } else throw new Error(`kind ${vector.kind} is not understood`);
  expect(got.name === vector.expected_status, `got ${got.name}`);
  expect(got.temporary === vector.temporary, `temporary is ${got.temporary}`);
}

function runDispatchPySigning(vector) {
  onlyKnown(vector, ["id", "description", "private_key_seed_hex", "public_key_b64", "request", "created_unix",
    "headers_out", "signature_label", "signature_base", "tampered_body_result", "category"]);
  const privateKey = dc.parseSigningKey(Buffer.from(vector.private_key_seed_hex, "hex").toString("base64"));
  const publicKey = dc.parseVerificationKey(vector.public_key_b64);
  expect(privateKey.verificationKey().equals(publicKey), "public_key_b64 is not the seed's");
  const raw = vector.request;
  onlyKnown(raw, ["method", "url", "headers_in", "body_hex"], "request");
  const body = hex(raw.body_hex);
  const request = { method: raw.method, url: raw.url, headers: Object.entries(raw.headers_in), body };
  const out = vector.headers_out;
  onlyKnown(out, ["Content-Digest", "Signature-Input", "Signature"], "headers_out");
  expect(vector.signature_label === "dispatch", "not the scheduler's label");
  const order = out["Signature-Input"].split("(")[1].split(")")[0].replaceAll('"', "").split(" ");
  const ours = dc.signRequest(request, privateKey, { created: vector.created_unix, components: order });
  assert.deepEqual(ours, out);
  const signed = { ...request, headers: [...request.headers, ...Object.entries(out)] };
  expect(dc.verifyRequest(signed, publicKey, { now: vector.created_unix }).ok, "our signature does not verify");
  const tampered = dc.verifyRequest({ ...signed, body: new Uint8Array([...body, 0x78]) }, publicKey, { now: vector.created_unix });
  expect(tampered.status === 403 && tampered.reason === "digest-mismatch", `a tampered body gave ${tampered.reason}`);
}

function runEndpointHttp(vector) {
  const request = vector.request;
  const headers = request.headers && typeof request.headers === "object" ? request.headers : {};
  const contentType = headers["Content-Type"] ?? "application/proto";
  const body = hex(request.body_hex);
  if (contentType === "application/proto") reencodes("dispatch.sdk.v1.RunRequest", body);
  else if (contentType === "application/json") count(notApplicable, "json");
  else throw new Error(`request Content-Type ${contentType} is not understood`);
  const response = vector.response;
  if (response.status === 200) {
    if (vector.body_deterministic) reencodes("dispatch.sdk.v1.RunResponse", hex(response.body_hex));
    else count(notApplicable, "json");
    return;
  }
  const classified = dc.classifyResponse(response.status, response.content_type, utf8(response.body_text));
  expect(classified, "an error reply classified as a success");
  if (vector.connect_client_code) expect(classified.code === vector.connect_client_code, `client code ${classified.code}`);
}

function runClientHttp(vector) {
  const request = vector.request;
  expect(request.sdk_headers["Content-Type"] === "application/proto", "not proto");
  reencodes("dispatch.sdk.v1.DispatchRequest", hex(request.body_hex));
  const response = vector.server_response;
  if (response.status === 200) {
    reencodes("dispatch.sdk.v1.DispatchResponse", hex(response.body_hex));
    expect("returns" in vector.sdk_result, "a 200 reply without ids");
  } else {
    expect(vector.sdk_result.status === response.status, "the SDK raised otherwise");
    const classified = dc.classifyResponse(response.status, response.content_type, hex(response.body_hex));
    expect(classified, "an error reply classified as a success");
  }
  count(notApplicable, "json");
}

function runnerFor(part, doc, folder) {
  if (part === "signatures") {
    if (doc.set === "verification-keys") return runKeyVector;
    if (doc.set === "content-digest") return runDigestVector;
    if (REQUEST_SETS.has(doc.set)) {
      const seeds = seedsFor(folder);
      return (v) => runRequestVector(v, seeds);
    }
    throw new Error(`unknown signature vector set ${doc.set}`);
  }
  if (doc.category in MESSAGE_TYPES) return (v) => runMessageVector(doc.category, v);
  const runners = {
    connect_error: runConnectError, connect_http_inference: runHttpInference, status_mapping: runStatusMapping,
    signature: runDispatchPySigning, endpoint_http: runEndpointHttp, client_http: runClientHttp,
  };
  if (!(doc.category in runners)) throw new Error(`unknown message vector category ${doc.category}`);
  return runners[doc.category];
}

for (const root of roots) {
  let found = false;
  for (const part of ["messages", "signatures"]) {
    const folder = join(root, part);
    if (!existsSync(folder)) continue;
    for (const file of readdirSync(folder).filter((f) => f.endsWith(".json")).sort()) {
      found = true;
      test(`${root}/${part}/${file}`, () => {
        const doc = JSON.parse(readFileSync(join(folder, file), "utf8"));
        const unknown = Object.keys(doc).filter((k) => !FILE_FIELDS.has(k));
        expect(unknown.length === 0, `unknown file-level fields ${unknown}`);
        expect(doc.schema_version === undefined || doc.schema_version === 1, "schema_version is not 1");
        expect(Array.isArray(doc.vectors), "no vectors array");
        const ids = new Set();
        const run = runnerFor(part, doc, folder);
        const failures = [];
        for (const vector of doc.vectors) {
          expect(!ids.has(vector.id), `the id ${vector.id} is not unique`);
          ids.add(vector.id);
          vectorNotApplicable = false;
          try {
            run(vector);
          } catch (failure) {
            failures.push(`${vector.id ?? "?"}: ${failure.message}`);
          }
          if (!vectorNotApplicable) count(ran, part === "messages" ? vector.category : doc.set);
        }
        assert.equal(failures.length, 0, failures.join("\n"));
      });
    }
  }
  if (!found) test(`${root}`, () => assert.fail(`${root} holds no messages/ or signatures/ vector files`));
}

// Registered last, so it runs after every file above: the counts, shown by
// the test reporter (a diagnostic) and on stdout.
test("vector counts", (t) => {
  const lines = [...ran].sort().map(([k, n]) => `  ${k}: ${n}`);
  for (const [k, n] of [...notApplicable].sort()) lines.push(`  not applicable: ${k}: ${n}`);
  const total = [...ran].filter(([k]) => !k.includes(" ")).reduce((a, [, n]) => a + n, 0);
  const na = [...notApplicable.values()].reduce((a, n) => a + n, 0);
  lines.push(`vectors: ${total} ran through the JavaScript API, ${na} parts not applicable, from ${roots.length} director${roots.length === 1 ? "y" : "ies"}`);
  for (const line of lines) t.diagnostic(line);
  console.log(lines.join("\n"));
  assert.ok(total > 0, "no vector ran");
});
