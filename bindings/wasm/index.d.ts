// TypeScript declarations of the npm package `dispatch-core`: every name its
// entries (`dispatch-core`, `dispatch-core/node`, `dispatch-core/workerd`)
// export. test/exports.test.js checks that this file and the entry export
// the same names.

/** A header list: `[name, value]` pairs (names may repeat), a `Headers`, a
 * `Map`, or a plain object (an array value gives one line per element). */
export type HeadersLike =
  | ReadonlyArray<readonly [string, string]>
  | Headers
  | Map<string, string>
  | Record<string, string | number | ReadonlyArray<string>>;

/** A body: bytes as they are, an `ArrayBuffer` or a view, a string as UTF-8,
 * nothing as no bytes. */
export type BodyLike = Uint8Array | ArrayBuffer | ArrayBufferView | string | null | undefined;

/** The parts of an HTTP request the package reads. `url` is absolute
 * (`scheme://authority/path?query`). */
export interface RequestLike {
  method: string;
  url: string | URL;
  headers?: HeadersLike;
  body?: BodyLike;
}

/** Unix seconds, or a `Date`. */
export type Time = number | Date;

/** The verdict of a request that verified (the frozen `VERIFIED`). */
export interface Verified {
  readonly ok: true;
}

/** A refusal: the answer to send. A verdict, never an exception. */
export interface Refusal {
  readonly ok: false;
  /** The HTTP status: 401 (missing or malformed signature), 403 (one that
   * does not hold), or the Run RPC's 400, 404, 405, 408, 413, 415, 500, 504. */
  status: number;
  /** The Connect code's name, such as `"permission_denied"`. */
  code: ConnectCodeName;
  /** A stable kebab-case name of the reason, such as `"digest-mismatch"`. */
  reason: string;
  /** A human-readable message (also in `body`). */
  message: string;
  /** The Connect JSON error body, for `Content-Type: application/json`. */
  body: Uint8Array;
  /** The one extra header to send (`Allow`, `Accept-Post`,
   * `Accept-Encoding`) as `[name, value]`, or `null`. */
  header: [string, string] | null;
}

/** `{ok: true}` or a refusal. */
export type Verdict = Verified | Refusal;

/** The names of the 16 Connect codes. */
export type ConnectCodeName =
  | "canceled"
  | "unknown"
  | "invalid_argument"
  | "deadline_exceeded"
  | "not_found"
  | "already_exists"
  | "permission_denied"
  | "resource_exhausted"
  | "failed_precondition"
  | "aborted"
  | "out_of_range"
  | "unimplemented"
  | "internal"
  | "unavailable"
  | "data_loss"
  | "unauthenticated";

/** One Connect code. */
export interface ConnectCode {
  name: ConnectCodeName;
  grpcNumber: number;
  httpStatus: number;
}

/** One `dispatch.sdk.v1.Status`. */
export interface Status {
  /** Such as `"STATUS_OK"`. */
  name: string;
  number: number;
  /** Whether the scheduler retries a call that ends so. */
  temporary: boolean;
}

/** A `google.protobuf.Any`. */
export interface Any {
  typeUrl: string;
  value: Uint8Array;
}

/** A `google.protobuf.Timestamp` or `Duration`. */
export interface SecondsNanos {
  seconds: bigint;
  nanos: number;
}

/** A `Duration` as a plain object takes it in: seconds as a `BigInt` or a
 * safe integer `Number`. */
export interface DurationInput {
  seconds?: bigint | number;
  nanos?: number;
}

/** A 64-bit integer field as read from JavaScript. */
export type Int64Input = bigint | number;

/** A `dispatch.sdk.v1.Error`. */
export interface ErrorMessage {
  type: string;
  message: string;
  value: Uint8Array;
  traceback: Uint8Array;
}

/** A `dispatch.sdk.v1.CallResult`. */
export interface CallResult {
  correlationId: bigint;
  output?: Any;
  error?: ErrorMessage;
  dispatchId: string;
}

/** A `dispatch.sdk.v1.Call`. */
export interface Call {
  correlationId: bigint;
  endpoint: string;
  function: string;
  input?: Any;
  expiration?: SecondsNanos;
  version: string;
}

/** A `dispatch.sdk.v1.PollResult`. */
export interface PollResult {
  coroutineState?: Uint8Array;
  typedCoroutineState?: Any;
  results: CallResult[];
  error?: ErrorMessage;
}

/** A `dispatch.sdk.v1.RunRequest` as a plain object: `input` to start the
 * function, `pollResult` to resume it. */
export interface RunRequest {
  function: string;
  dispatchId: string;
  parentDispatchId: string;
  rootDispatchId: string;
  creationTime?: SecondsNanos;
  expirationTime?: SecondsNanos;
  input?: Any;
  pollResult?: PollResult;
}

/** A `dispatch.sdk.v1.Exit`. */
export interface Exit {
  result?: CallResult;
  tailCall?: Call;
}

/** A `dispatch.sdk.v1.Poll`. */
export interface Poll {
  coroutineState?: Uint8Array;
  typedCoroutineState?: Any;
  calls: Call[];
  maxWait?: SecondsNanos;
  maxResults: number;
  minResults: number;
}

/** A `dispatch.sdk.v1.RunResponse` as `decodeRunResponse` gives it. */
export interface RunResponse {
  status: number;
  exit?: Exit;
  poll?: Poll;
}

/** An `ErrorMessage` as a plain object takes it in (absent fields empty). */
export interface ErrorInput {
  type?: string;
  message?: string;
  value?: Uint8Array;
  traceback?: Uint8Array;
}

/** A `CallResult` as a plain object takes it in. */
export interface CallResultInput {
  correlationId?: Int64Input;
  output?: Any | null;
  error?: ErrorInput | null;
  dispatchId?: string;
}

/** A `Call` as a plain object takes it in. */
export interface CallInput {
  correlationId?: Int64Input;
  endpoint?: string;
  function?: string;
  input?: Any | null;
  expiration?: DurationInput | null;
  version?: string;
}

/** A `Poll` as a plain object takes it in (one of the two states at most). */
export interface PollInput {
  coroutineState?: Uint8Array | null;
  typedCoroutineState?: Any | null;
  calls?: CallInput[];
  maxWait?: DurationInput | null;
  maxResults?: number;
  minResults?: number;
}

/** A `RunResponse` as a function returns it: `status` a number or a
 * `STATUS_*` name, and `exit` or `poll` (one at most). */
export interface RunResponseInput {
  status?: number | string;
  exit?: { result?: CallResultInput | null; tailCall?: CallInput | null } | null;
  poll?: PollInput | null;
}

/** A value `packValue` packs and `unpackValue` gives back. */
export type PackableValue = null | undefined | boolean | number | bigint | string | Uint8Array;

/** A value `unpackValue` gives: the wrappers' values (64-bit integers as
 * `BigInt`), `null` for `Empty`, JSON-like values for `Value`, `Struct`,
 * `ListValue`, `{seconds, nanos}` for `Timestamp` and `Duration`, and the
 * `Any` itself for any other type. */
export type UnpackedValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | SecondsNanos
  | Any
  | JsonLike;

/** A JSON-like value (`google.protobuf.Value`). */
export type JsonLike = null | boolean | number | string | JsonLike[] | { [name: string]: JsonLike };

/** An Ed25519 public key that verifies Dispatch request signatures. */
export class VerificationKey {
  private constructor();
  /** The key from its 32 raw bytes; throws `InvalidKey` otherwise. */
  static fromBytes(raw: Uint8Array): VerificationKey;
  /** The 32 raw bytes. */
  raw(): Uint8Array;
  /** The standard padded base64 of the 32 bytes. */
  base64(): string;
  /** The key as a PEM `PUBLIC KEY` block. */
  pem(): string;
  /** Whether `other` is the same key. */
  equals(other: VerificationKey): boolean;
  /** Frees the wasm memory now (otherwise the garbage collector does). */
  free(): void;
}

/** An Ed25519 private key that signs requests as the Dispatch scheduler does. */
export class SigningKey {
  private constructor();
  /** The public key that verifies this key's signatures. */
  verificationKey(): VerificationKey;
  /** The key as a PEM `PRIVATE KEY` block (PKCS#8). */
  pem(): string;
  free(): void;
}

/** The error thrown for a key text the core refused. */
export interface InvalidKey extends Error {
  name: "InvalidKey";
  /** A kebab-case name of the reason, such as `"wrong-length"`. */
  reason: string;
}

/**
 * Reads a verification key in any form `DISPATCH_VERIFICATION_KEY` takes: a
 * PEM `PUBLIC KEY` block or the standard padded base64 of the 32 bytes.
 * `undefined` for an empty or all-space text; throws `InvalidKey` otherwise.
 */
export function parseVerificationKey(text: string): VerificationKey | undefined;

/** Reads a signing key: a PEM `PRIVATE KEY` block or the base64 of the
 * 32-byte seed; throws `InvalidKey` otherwise. */
export function parseSigningKey(text: string): SigningKey;

/** Options of `verifyRequest`. */
export interface VerifyOptions {
  /** The time to verify at (default: now, read in JavaScript). */
  now?: Time;
  /** The most seconds since the signature's `created` (default 300). */
  maxAge?: number;
  /** The clock skew allowed, in seconds (default 5). */
  skew?: number;
}

/** Verifies a signed request per the project's policy; a verdict, never an
 * exception (throws only for arguments of the wrong type). */
export function verifyRequest(request: RequestLike, key: VerificationKey, options?: VerifyOptions): Verdict;

/** Options of `signRequest`. */
export interface SignOptions {
  /** The signature's `created` (default: now). */
  created?: Time;
  /** The five components in another order (default: the scheduler's). */
  components?: string[];
}

/** The three headers `signRequest` adds. */
export interface SignatureHeaders {
  "Content-Digest": string;
  "Signature-Input": string;
  Signature: string;
}

/** Signs a request exactly as the Dispatch scheduler does. */
export function signRequest(request: RequestLike, key: SigningKey, options?: SignOptions): SignatureHeaders;

/** The `Content-Digest` value of `body`: `sha-512=:<base64>:`. */
export function contentDigest(body: Uint8Array): string;

/** Checks a `Content-Digest` value against a body: `{ok: true}` or the
 * refusal (401 malformed, 403 another body). */
export function checkContentDigest(header: string, body: BodyLike): Verdict;

/** The verdict of a request that verified. */
export const VERIFIED: Verified;

/** `/dispatch.sdk.v1.FunctionService/Run`. */
export const RUN_PATH: "/dispatch.sdk.v1.FunctionService/Run";

/** Header lines as `[name0, value0, name1, value1, ...]`. */
export function flattenHeaders(headers: HeadersLike | null | undefined): string[];

/** A body as bytes. */
export function bodyBytes(body: BodyLike): Uint8Array;

/** The 16 Connect codes in gRPC number order. */
export function connectCodes(): ConnectCode[];

/** The Connect error body `{"code","message"}` as bytes. */
export function errorJson(code: ConnectCodeName, message?: string): Uint8Array;

/** How a Connect client classifies a unary response: `null` for a success,
 * else `{code, message}`. */
export function classifyResponse(
  status: number,
  contentType: string | null | undefined,
  body: BodyLike,
  requestContentType?: string,
): { code: ConnectCodeName; message: string } | null;

/** The Connect code a client infers from an HTTP status alone. */
export function codeFromHttpStatus(status: number): ConnectCodeName;

/** The HTTP status a Connect server answers `code` with. */
export function codeHttpStatus(code: ConnectCodeName): number;

/** The gRPC number of `code`. */
export function codeGrpcNumber(code: ConnectCodeName): number;

/** Every `dispatch.sdk.v1.Status`. */
export function statuses(): Status[];

/** The status of an outbound HTTP call from its response status. */
export function statusFromHttpStatus(status: number): Status;

/** The status of a failed Connect call from its code name. */
export function statusFromConnectCode(code: ConnectCodeName): Status;

/** The status of a number or a `STATUS_*` name; `undefined` for neither. */
export function status(numberOrName: number | string): Status | undefined;

/** A `Response` for a refusal: its status, `Content-Type:
 * application/json`, its extra header, its body. */
export function refusalResponse(refusal: Refusal): Response;

/** The `Any` of a JavaScript value, packed as dispatch-py packs it. */
export function packValue(value: PackableValue): Any;

/** The JavaScript value of an `Any`. */
export function unpackValue(any: Any): UnpackedValue;

/** The binary protobuf of a `RunResponse` (a plain object or its bytes). */
export function encodeRunResponse(response: RunResponseInput | Uint8Array): Uint8Array;

/** A `RunResponse`'s binary protobuf as a plain object. */
export function decodeRunResponse(bytes: Uint8Array): RunResponse;

/** A `RunRequest`'s binary protobuf as a plain object. */
export function decodeRunRequest(bytes: Uint8Array): RunRequest;

/** Decodes `data` as the message `messageType` (a full name such as
 * `dispatch.sdk.v1.RunRequest`) and encodes it again. */
export function reencodeMessage(messageType: string, data: Uint8Array): Uint8Array;

/** A Run request whose head passed: feed it the body, then `finish`. */
export class RunExchange {
  private constructor();
  /** The next body chunk: `undefined`, or the 413 refusal. */
  update(chunk: Uint8Array): Refusal | undefined;
  /** Ends the body: a `RunCall`, or the refusal (403 another body, 400 not
   * a `RunRequest`). */
  finish(): RunCall | Refusal;
  /** `Connect-Timeout-Ms`, or `undefined` for no limit. */
  readonly timeoutMs: number | undefined;
  free(): void;
}

/** What `encodeResponse` gives: the answer's status, content type and body. */
export interface RunAnswer {
  status: number;
  contentType: string;
  body: Uint8Array;
  /** The function's response was invalid and became its
   * `STATUS_INVALID_RESPONSE` failure. */
  outputReplaced: boolean;
}

/** A Run request the core accepted. */
export class RunCall {
  private constructor();
  readonly function: string;
  readonly dispatchId: string;
  /** Whether it resumes a suspended function (a poll result). */
  readonly isPollResult: boolean;
  readonly contentType: string;
  readonly timeoutMs: number | undefined;
  /** The request body as received. */
  requestBytes(): Uint8Array;
  /** The `RunRequest` as a plain object. */
  request(): RunRequest;
  /** `undefined` when `registered`, else the 404 refusal. */
  checkFunction(registered: boolean): Refusal | undefined;
  /** The 500 refusal for a function that threw. */
  crashed(): Refusal;
  /** The 504 refusal for a function past the request's timeout. */
  deadlineExceeded(): Refusal;
  /** The answer for the function's `RunResponse`. */
  encodeResponse(response: RunResponseInput | Uint8Array): RunAnswer;
  free(): void;
}

/** Options of `RunRpc`. */
export interface RunRpcOptions {
  /** Verify every request with this key (or its text); none: no verification. */
  verificationKey?: VerificationKey | string | null;
  /** The body limit in bytes (default 16 MB). */
  bodyLimit?: number;
  maxAge?: number;
  skew?: number;
}

/** Options of `RunRpc.checkHead` and `checkRequest`. */
export interface NowOption {
  /** The time to verify at (default: now, read in JavaScript). */
  now?: Time;
}

/** Options of `RunRpc.handle`. */
export interface HandleOptions extends NowOption {
  /** Told of a function that threw (answered with 500). */
  onError?: (error: unknown, call: RunCall) => void;
  /** Told of a function whose response was invalid. */
  onInvalidOutput?: (call: RunCall, response: RunResponseInput | Uint8Array) => void;
}

/** A function `RunRpc.handle` runs: the request as a plain object and the
 * call; it returns the `RunResponse` (a plain object or its bytes). */
export type DispatchFunction = (
  request: RunRequest,
  call: RunCall,
) => RunResponseInput | Uint8Array | Promise<RunResponseInput | Uint8Array>;

/** The Run RPC as the core decides it. */
export class RunRpc {
  constructor(options?: RunRpcOptions);
  /** Whether requests are verified. */
  readonly verifies: boolean;
  /** The body limit, in bytes. */
  readonly bodyLimit: number;
  /** The head: `{ok: true, exchange}` or the refusal. */
  checkHead(
    request: { method: string; url: string | URL; headers?: HeadersLike },
    options?: NowOption,
  ): { ok: true; exchange: RunExchange } | Refusal;
  /** The head and the whole body: `{ok: true, call}` or the refusal. */
  checkRequest(request: RequestLike, options?: NowOption): { ok: true; call: RunCall } | Refusal;
  /** Serves one fetch-style `Request` with `functions` by name. */
  handle(request: Request, functions: Record<string, DispatchFunction>, options?: HandleOptions): Promise<Response>;
}
