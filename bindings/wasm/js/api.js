// The package's API over the wasm exports (dispatch_core_wasm.js, made by
// wasm-bindgen). Every decision is the core's; this module only shapes
// JavaScript values (headers, bodies, times) for it. It calls no wasm at
// load time: the entry module (node.js or workerd.js) instantiates the
// .wasm first.
import * as wasm from "./dispatch_core_wasm.js";

export {
  VerificationKey,
  SigningKey,
  RunExchange,
  RunCall,
  parseVerificationKey,
  parseSigningKey,
  contentDigest,
  connectCodes,
  statuses,
  packValue,
  unpackValue,
  encodeRunResponse,
  decodeRunResponse,
  decodeRunRequest,
  reencodeMessage,
} from "./dispatch_core_wasm.js";

/** The verdict of a request that verified. */
export const VERIFIED = Object.freeze({ ok: true });

/** The path of the Run RPC. */
export const RUN_PATH = "/dispatch.sdk.v1.FunctionService/Run";

const encoder = new TextEncoder();

/** Unix seconds now: the one place the package reads a clock. */
function unixNow() {
  return Math.floor(Date.now() / 1000);
}

/**
 * Header lines as the wasm takes them, `[name0, value0, name1, ...]`, from
 * an array of `[name, value]` pairs (names may repeat), a `Headers`, a
 * `Map` or a plain object (an array value gives one line per element).
 */
export function flattenHeaders(headers) {
  const flat = [];
  const push = (name, value) => {
    if (typeof name !== "string") throw new TypeError("a header name must be a string");
    flat.push(name, String(value));
  };
  if (headers == null) return flat;
  if (Array.isArray(headers)) {
    for (const line of headers) {
      if (!Array.isArray(line) || line.length !== 2) {
        throw new TypeError("headers as an array must hold [name, value] pairs");
      }
      push(line[0], line[1]);
    }
  } else if (typeof headers.entries === "function" && typeof headers.get === "function") {
    // Headers (which joins repeated names with ", ") and Map.
    for (const [name, value] of headers.entries()) push(name, value);
  } else if (typeof headers === "object") {
    for (const [name, value] of Object.entries(headers)) {
      if (Array.isArray(value)) for (const v of value) push(name, v);
      else push(name, value);
    }
  } else {
    throw new TypeError("headers must be [name, value] pairs, a Headers or a plain object");
  }
  return flat;
}

/** A body as bytes: a Uint8Array as it is, an ArrayBuffer or a view wrapped,
 * a string as UTF-8, nothing as no bytes. */
export function bodyBytes(body) {
  if (body == null) return new Uint8Array(0);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (typeof body === "string") return encoder.encode(body);
  throw new TypeError("body must be a Uint8Array, an ArrayBuffer, a view or a string");
}

function seconds(value, what) {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`${what} must be a number of seconds between 0 and ${0xffffffff}`);
  }
  return Math.floor(value);
}

function when(value, what) {
  if (value === undefined || value === null) return unixNow();
  if (value instanceof Date) return Math.floor(value.getTime() / 1000);
  if (typeof value !== "number") throw new TypeError(`${what} must be Unix seconds or a Date`);
  return value;
}

/**
 * Verifies a signed request per the project's policy: one Ed25519 signature
 * under `keyid="default"` covering `@method @path @authority content-type
 * content-digest`, created within `maxAge` (and `skew`) of `now`, and a
 * `Content-Digest` that matches the body.
 *
 * Returns `{ok: true}`, or `{ok: false, status, code, reason, message,
 * body, header}` (401 for a missing or malformed signature, 403 for one
 * that does not hold; `body` the Connect JSON error). Never throws for a
 * bad request; throws only for arguments of the wrong type.
 */
export function verifyRequest(request, key, options = {}) {
  const { now, maxAge, skew } = options;
  const refused = wasm.verify(
    request.method,
    String(request.url),
    flattenHeaders(request.headers),
    bodyBytes(request.body),
    key,
    when(now, "now"),
    seconds(maxAge, "maxAge"),
    seconds(skew, "skew"),
  );
  return refused === undefined ? VERIFIED : refused;
}

/**
 * Signs a request exactly as the Dispatch scheduler does. Returns the three
 * headers to add: `{"Content-Digest", "Signature-Input", "Signature"}`.
 * `created` is Unix seconds or a Date (default: now); `components` the five
 * components in another order (default: the scheduler's).
 */
export function signRequest(request, key, options = {}) {
  const signed = wasm.sign(
    request.method,
    String(request.url),
    flattenHeaders(request.headers),
    bodyBytes(request.body),
    key,
    when(options.created, "created"),
    options.components,
  );
  return {
    "Content-Digest": signed.contentDigest,
    "Signature-Input": signed.signatureInput,
    Signature: signed.signature,
  };
}

/** Checks a `Content-Digest` value against a body: `{ok: true}` or the
 * refusal (401 malformed, 403 another body). */
export function checkContentDigest(header, body) {
  const refused = wasm.checkContentDigest(header, bodyBytes(body));
  return refused === undefined ? VERIFIED : refused;
}

/** The Connect error body `{"code","message"}` as bytes. */
export function errorJson(code, message = "") {
  return wasm.errorJson(code, message);
}

/** How a Connect client classifies a unary response: `null` for a success,
 * else `{code, message}`. */
export function classifyResponse(status, contentType, body, requestContentType = "application/proto") {
  const error = wasm.classifyResponse(status, contentType ?? "", bodyBytes(body), requestContentType);
  return error === undefined ? null : error;
}

/** The Connect code a client infers from an HTTP status alone. */
export function codeFromHttpStatus(status) {
  return wasm.codeFromHttpStatus(status);
}

function codeNamed(name) {
  const code = wasm.connectCodes().find((c) => c.name === name);
  if (!code) throw new RangeError(`${JSON.stringify(name)} is not a Connect code`);
  return code;
}

/** The HTTP status a Connect server answers `code` with. */
export function codeHttpStatus(code) {
  return codeNamed(code).httpStatus;
}

/** The gRPC number of `code`. */
export function codeGrpcNumber(code) {
  return codeNamed(code).grpcNumber;
}

function statusOf(number) {
  return wasm.statuses().find((s) => s.number === number);
}

/** The status (`{name, number, temporary}`) of an outbound HTTP call from
 * its response status. */
export function statusFromHttpStatus(status) {
  return statusOf(wasm.statusFromHttpStatus(status));
}

/** The status (`{name, number, temporary}`) of a failed Connect call from
 * its code name. */
export function statusFromConnectCode(code) {
  return statusOf(wasm.statusFromConnectCode(code));
}

/** The status `{name, number, temporary}` of a number or a `STATUS_*` name;
 * `undefined` for neither. */
export function status(numberOrName) {
  return wasm.statuses().find((s) => s.number === numberOrName || s.name === numberOrName);
}

/** A Response for a refusal object: its status, `Content-Type:
 * application/json`, its extra header, its body. */
export function refusalResponse(refusal) {
  const headers = { "content-type": "application/json" };
  if (refusal.header) headers[refusal.header[0]] = refusal.header[1];
  return new Response(refusal.body, { status: refusal.status, headers });
}

/**
 * The Run RPC as the core decides it. Build one per endpoint:
 *
 *     const rpc = new RunRpc({ verificationKey, bodyLimit, maxAge, skew });
 *
 * `verificationKey` a VerificationKey (or its text; `undefined`: requests
 * are not verified). Then either the steps (`checkHead`, then the
 * exchange's `update` and `finish`, the call's `checkFunction` and
 * `encodeResponse`), or `handle(request, functions)` for a fetch-style
 * `Request`.
 */
export class RunRpc {
  #rpc;

  constructor(options = {}) {
    let key = options.verificationKey;
    if (typeof key === "string") key = wasm.parseVerificationKey(key);
    this.#rpc = new wasm.RunRpc(
      key ?? undefined,
      options.bodyLimit,
      seconds(options.maxAge, "maxAge"),
      seconds(options.skew, "skew"),
    );
  }

  /** Whether requests are verified. */
  get verifies() {
    return this.#rpc.verifies;
  }

  /** The body limit, in bytes. */
  get bodyLimit() {
    return this.#rpc.bodyLimit;
  }

  /**
   * The head (`{method, url, headers}`): path, method, Connect headers,
   * content type (`application/proto`; JSON is refused with 415), timeout,
   * length, and with a key the signature headers at `now` (Unix seconds,
   * default now). Returns `{ok: true, exchange}` or the refusal.
   */
  checkHead(request, options = {}) {
    const result = this.#rpc.checkHead(
      request.method,
      String(request.url),
      flattenHeaders(request.headers),
      when(options.now, "now"),
    );
    return result instanceof wasm.RunExchange ? { ok: true, exchange: result } : result;
  }

  /**
   * The head, then the whole body (`request.body`, bytes): `{ok: true,
   * call}` (a RunCall) or the refusal.
   */
  checkRequest(request, options = {}) {
    const head = this.checkHead(request, options);
    if (!head.ok) return head;
    const { exchange } = head;
    try {
      const tooLarge = exchange.update(bodyBytes(request.body));
      if (tooLarge !== undefined) return tooLarge;
      const call = exchange.finish();
      return call instanceof wasm.RunCall ? { ok: true, call } : call;
    } finally {
      exchange.free();
    }
  }

  /**
   * Serves one fetch-style `Request` (Workers, Deno, Bun, Node's fetch
   * types): verify, read the body under the limit, decode, run
   * `functions[call.function](input, call)` (async allowed; it returns a
   * RunResponse plain object or its bytes), encode. A function that throws
   * is answered with the core's 500; past the request's timeout, 504.
   */
  async handle(request, functions, options = {}) {
    const head = this.checkHead(
      { method: request.method, url: request.url, headers: request.headers },
      options,
    );
    if (!head.ok) return refusalResponse(head);
    const { exchange } = head;
    let call;
    try {
      if (request.body) {
        const reader = request.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          const tooLarge = exchange.update(value);
          if (tooLarge !== undefined) {
            await reader.cancel().catch(() => {});
            return refusalResponse(tooLarge);
          }
        }
      }
      call = exchange.finish();
    } finally {
      exchange.free();
    }
    if (!(call instanceof wasm.RunCall)) return refusalResponse(call);
    try {
      const fn = Object.hasOwn(functions, call.function) ? functions[call.function] : undefined;
      const unknown = call.checkFunction(typeof fn === "function");
      if (unknown !== undefined) return refusalResponse(unknown);
      let response;
      try {
        response = await withTimeout(fn(call.request(), call), call.timeoutMs);
      } catch (error) {
        if (error === TIMED_OUT) return refusalResponse(call.deadlineExceeded());
        options.onError?.(error, call);
        return refusalResponse(call.crashed());
      }
      const answer = call.encodeResponse(response);
      if (answer.outputReplaced) options.onInvalidOutput?.(call, response);
      return new Response(answer.body, {
        status: answer.status,
        headers: { "content-type": answer.contentType },
      });
    } finally {
      call.free();
    }
  }
}

const TIMED_OUT = Symbol("timed out");

function withTimeout(promise, ms) {
  if (ms === undefined) return Promise.resolve(promise);
  let timer;
  return Promise.race([
    Promise.resolve(promise),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(TIMED_OUT), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
