// Shared by the connect-es tests: the servers scripts/ci/connect-es started
// (named by environment variables), clients built the way a connect-es user
// builds them, the echo input, and the counts each case prints.

import http from "node:http";
import { after } from "node:test";
import { create, createRegistry } from "@bufbuild/protobuf";
import { anyPack, anyUnpack, StringValueSchema } from "@bufbuild/protobuf/wkt";
import { ConnectError, createClient } from "@connectrpc/connect";
import { compressionGzip, createConnectTransport } from "@connectrpc/connect-node";
import { CallSchema } from "../gen/dispatch/sdk/v1/call_pb.js";
import { DispatchService } from "../gen/dispatch/sdk/v1/dispatch_pb.js";
import { FunctionService, RunRequestSchema } from "../gen/dispatch/sdk/v1/function_pb.js";

/** Calls per case; the HTTP/1.1 EPIPE showed in some runs only, so never fewer than 30. */
export const ITERATIONS = Math.max(30, Number(process.env.CONNECT_ES_ITERATIONS ?? 30));

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run the suite through scripts/ci/connect-es`);
  }
  return value;
}

/** The scheduler (`dispatch scheduler`) and its API key. */
export const SCHEDULER_URL = required("CONNECT_ES_SCHEDULER_URL");
export const API_KEY = required("CONNECT_ES_API_KEY");
/** `dispatch serve` verifying the scheduler's signatures. */
export const SIGNED_ENDPOINT_URL = required("CONNECT_ES_SIGNED_ENDPOINT_URL");
/** `dispatch serve` on loopback with no verification key, so unsigned calls reach its functions. */
export const OPEN_ENDPOINT_URL = required("CONNECT_ES_OPEN_ENDPOINT_URL");

export const VERSIONS = ["1.1", "2"];
export const FORMATS = [
  { name: "binary", useBinaryFormat: true },
  { name: "JSON", useBinaryFormat: false },
];

/** The `Any` type the tests send: resolvable in JSON on both sides. */
const registry = createRegistry(StringValueSchema);

/**
 * An HTTP/1.1 agent with one kept-alive connection at most, so that every
 * call of a client goes over the same connection unless the server closes
 * it; `opened` counts the connections it had to open.
 */
export function oneConnectionAgent() {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  agent.opened = 0;
  const createConnection = agent.createConnection.bind(agent);
  agent.createConnection = (...args) => {
    agent.opened += 1;
    return createConnection(...args);
  };
  return agent;
}

/**
 * Records, per call, the Content-Encoding the client sent and the one the
 * server answered with (connect-es sets the request's after compressing).
 */
export function encodingRecorder() {
  const seen = [];
  const interceptor = (next) => async (req) => {
    const res = await next(req);
    seen.push({
      sent: req.header.get("content-encoding"),
      received: res.header.get("content-encoding"),
      acceptEncoding: res.header.get("accept-encoding"),
    });
    return res;
  };
  return { seen, interceptor };
}

/**
 * A connect-node transport to `baseUrl`. `gzip`: send gzip (for bodies over
 * `compressMinBytes`) and accept it; `agent`: an HTTP/1.1 agent to share
 * with another client (by default, one of its own).
 */
export function transport(baseUrl, { httpVersion, useBinaryFormat, gzip = false, interceptors = [], agent: shared }) {
  const agent = httpVersion === "1.1" ? (shared ?? oneConnectionAgent()) : undefined;
  const options = {
    baseUrl,
    httpVersion,
    useBinaryFormat,
    jsonOptions: { registry },
    interceptors,
    ...(agent ? { nodeOptions: { agent } } : {}),
    ...(gzip
      ? { sendCompression: compressionGzip, acceptCompression: [compressionGzip], compressMinBytes: 16 }
      : { acceptCompression: [] }),
  };
  return { transport: createConnectTransport(options), agent };
}

export function dispatchClient({ baseUrl = SCHEDULER_URL, ...options }) {
  const made = transport(baseUrl, options);
  return { client: createClient(DispatchService, made.transport), agent: made.agent };
}

export function functionClient(baseUrl, options) {
  const made = transport(baseUrl, options);
  return { client: createClient(FunctionService, made.transport), agent: made.agent };
}

/** Header options of a call with the right API key. */
export const AUTHORIZED = { headers: { authorization: `Bearer ${API_KEY}` } };

/** A text of exactly `bytes` bytes, different for each `seed`. */
export function text(seed, bytes) {
  const head = `call ${seed}:`;
  return head + "x".repeat(Math.max(0, bytes - head.length));
}

export function stringAny(value) {
  return anyPack(StringValueSchema, create(StringValueSchema, { value }));
}

export function unpackString(any) {
  const unpacked = any && anyUnpack(any, StringValueSchema);
  return unpacked ? unpacked.value : undefined;
}

/** A Call of `fn` at `endpoint` with a string input. */
export function call(endpoint, fn, value) {
  return create(CallSchema, { endpoint, function: fn, input: stringAny(value) });
}

/** A RunRequest of `fn` with a string input, as the scheduler would send it unsigned. */
export function runRequest(fn, value, dispatchId = "connect-es-test") {
  return create(RunRequestSchema, {
    function: fn,
    dispatchId,
    rootDispatchId: dispatchId,
    directive: { case: "input", value: stringAny(value) },
  });
}

/** Awaits `promise` and returns the ConnectError it rejects with; fails if it resolves. */
export async function refusal(promise) {
  try {
    await promise;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("the call succeeded but should have been refused");
}

/** The scheduler's record of run `id` once it is done (its own wait route). */
export async function outcome(id) {
  for (let round = 0; round < 4; round += 1) {
    const response = await fetch(`${SCHEDULER_URL}/_dispatch/v1/runs/${encodeURIComponent(id)}?wait_ms=30000`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    if (response.status !== 200) {
      throw new Error(`GET runs/${id}: HTTP ${response.status}: ${await response.text()}`);
    }
    const run = await response.json();
    if (run.done) {
      return run;
    }
  }
  throw new Error(`run ${id} was not done after two minutes`);
}

const counts = [];

/** Counts calls of one case; printed when the test file ends. */
export function counter(name) {
  const entry = { name, calls: 0, agent: undefined };
  counts.push(entry);
  return entry;
}

after(() => {
  for (const { name, calls, agent } of counts) {
    const connections = agent ? `, ${agent.opened} HTTP/1.1 connection(s) opened` : "";
    console.log(`connect-es: ${name}: ${calls} calls as expected${connections}`);
  }
});
