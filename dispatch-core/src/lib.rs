//! The sans-IO core of the Dispatch protocol.
//!
//! Everything here is a pure function of its inputs: no sockets, no clock (the
//! time is a parameter), no environment, and no heap on the verification path.
//! It builds with `#![no_std]`; the `alloc` feature (on by default) adds the
//! generated messages, their validation and the `Any` helpers.
//!
//! | module | what |
//! |---|---|
//! | [`sfv`] | RFC 8941 structured fields: the one parser and serializer |
//! | [`signature`] | RFC 9421 request view, signature base, verification policy, signing |
//! | [`digest`] | RFC 9530 `Content-Digest`, incremental |
//! | [`key`] | Ed25519 public and private key parsing |
//! | [`connect`] | Connect codes, HTTP tables both ways, error JSON, unary rules |
//! | [`run`] | the Run RPC as a sans-IO handler: head, body, request, response, one [`Refusal`](run::Refusal) |
//! | [`status`] | `Status` classification and mappings |
//! | `validate` | the protocol's validation rules, in code (`alloc`) |
//! | `any` | packing and unpacking `google.protobuf.Any` values (`alloc`) |
//! | `journal` | durable functions by replay: the journal and its sans-IO engine (`alloc`) |
//!
//! # Public surface
//!
//! Every public item, one line each (with the `alloc` feature; the table is
//! generated from the docs and checked in CI):
//! <!-- public-surface: begin (scripts/public-surface writes this table) -->
//!
//! | item | kind | what |
//! |---|---|---|
//! | [`any::AnyError`] | enum | Why an `Any` could not be unpacked |
//! | [`any::AnyMessage`] | trait | A protobuf message that knows its fully-qualified name, so it can be packed into and unpacked from an `Any` |
//! | [`any::AnyValue`] | enum | A value as dispatch-py packs it into an `Any`, or any other packed message, carried through unchanged |
//! | [`any::DISPATCH_TYPE_URL_PREFIX`] | const | Type URL prefix dispatch-py uses for `dispatch.sdk.*` messages |
//! | [`any::GOOGLE_TYPE_URL_PREFIX`] | const | Type URL prefix of well-known and foreign types |
//! | [`any::holds`] | fn | Whether the `Any` holds a `M` (by the type URL's last segment) |
//! | [`any::pack`] | fn | Packs a message |
//! | [`any::pack_named`] | fn | Packs an arbitrary encoded message under `full_name` (prefix chosen by `type_url_prefix`) |
//! | [`any::type_name`] | fn | The full type name of a type URL: the part after the last `/` |
//! | [`any::type_url`] | fn | The type URL a message of this full name is packed with |
//! | [`any::type_url_prefix`] | fn | The type URL prefix a message of this full name is packed with |
//! | [`any::unpack`] | fn | Unpacks a `M`: the type URL must name `M` (any prefix) and the payload must decode |
//! | [`connect::ACCEPT_ENCODING_HEADER`] | const | `Accept-Encoding` header name |
//! | [`connect::CONTENT_ENCODING_HEADER`] | const | `Content-Encoding` header name |
//! | [`connect::CONTENT_TYPE_HEADER`] | const | `Content-Type` header name (lower case, as HTTP/2 sends it) |
//! | [`connect::CONTENT_TYPE_JSON`] | const | Content type of proto3 JSON bodies, and of every error body |
//! | [`connect::CONTENT_TYPE_PROTO`] | const | Content type of binary protobuf bodies |
//! | [`connect::Code`] | enum | A Connect error code: the 16 codes of the protocol (gRPC numbers 1..=16) |
//! | [`connect::CodeSource`] | enum | Where a failed response's code came from |
//! | [`connect::Codec`] | enum | The two codecs of the Connect unary protocol that Dispatch uses |
//! | [`connect::DETAIL_TYPE_CAPACITY`] | const | Capacity of a decoded detail's `type` (a fully-qualified protobuf name) |
//! | [`connect::DISPATCH_PATH`] | const | Path of the `DispatchService.Dispatch` RPC (after any routing prefix) |
//! | [`connect::DecodeError`] | enum | Why an error body could not be decoded as a Connect error |
//! | [`connect::DecodedDetail`] | struct | A detail decoded from an error body |
//! | [`connect::DecodedError`] | struct | A Connect error JSON body, decoded |
//! | [`connect::Detail`] | struct | One entry of an error's `details`: a protobuf message, by full name |
//! | [`connect::EncodeError`] | enum | The error JSON did not fit in the output buffer |
//! | [`connect::ErrorBody`] | struct | A Connect error to send: the body of a non-200 unary response |
//! | [`connect::MAX_DETAILS`] | const | How many `details` entries `decode_error_json` keeps; later ones are counted |
//! | [`connect::MAX_JSON_DEPTH`] | const | How deeply arrays and objects may nest inside the error body (the values skipped, `debug` say, included); deeper is `DecodeError::Malformed` |
//! | [`connect::MAX_TIMEOUT_MS`] | const | The largest `Connect-Timeout-Ms` value (10 ASCII digits) |
//! | [`connect::PROTOCOL_VERSION`] | const | The only `Connect-Protocol-Version` value there is |
//! | [`connect::PROTOCOL_VERSION_HEADER`] | const | `Connect-Protocol-Version` header name |
//! | [`connect::ProtocolVersionError`] | enum | A `Connect-Protocol-Version` header a server does not accept |
//! | [`connect::RUN_PATH`] | const | Path of the `FunctionService.Run` RPC (after any routing prefix) |
//! | [`connect::ResponseError`] | struct | A unary response that is not a success, as a client surfaces it |
//! | [`connect::TIMEOUT_HEADER`] | const | `Connect-Timeout-Ms` header name |
//! | [`connect::TimeoutError`] | enum | A malformed `Connect-Timeout-Ms` header |
//! | [`connect::check_protocol_version`] | fn | Checks a request's `Connect-Protocol-Version` header (`None` when absent) |
//! | [`connect::check_response_encoding`] | fn | Checks a response's `Content-Encoding` (`None` when absent) against the encodings the client can undo; `identity` is always accepted |
//! | [`connect::classify_response`] | fn | Classifies a unary response from its HTTP status, `Content-Type` (`""` when absent) and body, for a request sent with `request_codec` (docs/protocol/connect.md) |
//! | [`connect::decode_error_json`] | fn | Decodes a Connect error JSON body |
//! | [`connect::format_timeout_ms`] | fn | Formats a timeout for `Connect-Timeout-Ms`, clamped to `MAX_TIMEOUT_MS` |
//! | [`connect::is_json_content_type`] | fn | Whether an error response's `Content-Type` is JSON (`application/json`, optionally with `; charset=utf-8`), the only type whose body is read as a Connect error |
//! | [`connect::parse_timeout_ms`] | fn | Parses `Connect-Timeout-Ms`: 1 to 10 ASCII digits, in milliseconds |
//! | [`digest::Algorithm`] | enum | A digest algorithm this crate computes |
//! | [`digest::ContentDigest`] | struct | An incremental digest of a body, for one algorithm |
//! | [`digest::Digest`] | struct | A computed digest |
//! | [`digest::DigestError`] | enum | Why a `Content-Digest` check failed |
//! | [`digest::ExpectedDigest`] | struct | The digest a `Content-Digest` header states, for the algorithm we check |
//! | [`digest::MAX_HEADER_VALUE_LEN`] | const | The longest `Content-Digest` value `write_header_value` produces |
//! | [`digest::check`] | fn | Checks a whole `body` against a `Content-Digest` header value |
//! | [`digest::write_header_value`] | fn | Renders `<alg>=:<base64>:` for `digest` into `out` (which needs `MAX_HEADER_VALUE_LEN` bytes for sha-512), returning the text |
//! | [`gzip::GzipError`] | enum | Why a body is not one well-formed gzip member within the limit |
//! | [`gzip::compress`] | fn | `data` as one gzip member: a 10-byte header (no name, no time, "unknown" OS), the deflate stream at level 6, and the CRC-32 and length |
//! | [`gzip::inflate`] | fn | Inflates `body`, one gzip member, into at most `limit` bytes |
//! | [`journal::CallAnswer`] | struct | The result of a finished call, borrowed from the journal |
//! | [`journal::Choice`] | enum | What a choice among operations chose |
//! | [`journal::DEFAULT_MAX_WAIT_SECS`] | const | How long a poll waits for results when no sleep sets its `max_wait` (dispatch-go's default): after it, the function runs again and polls again for the calls still out |
//! | [`journal::Divergence`] | enum | How a replay departed from its journal: the first operation that differs |
//! | [`journal::Entry`] | crate | One operation of a journal, `dispatch.journal.v1.Entry` (generated) |
//! | [`journal::EntryKind`] | crate | What an entry's operation is, `dispatch.journal.v1.EntryKind` (generated) |
//! | [`journal::JOURNAL_FULL_NAME`] | const | The full protobuf name of the journal; its `Any` type URL is `type.googleapis.com/dispatch.journal.v1.Journal` |
//! | [`journal::JOURNAL_VERSION`] | const | The journal format this engine reads and writes (`Journal.version`) |
//! | [`journal::Journal`] | crate | The journal message, `dispatch.journal.v1.Journal` (generated) |
//! | [`journal::JournalError`] | enum | Why a run's journal could not be read or extended |
//! | [`journal::MAX_ENTRIES`] | const | The most entries a journal may hold: a run that would record one more fails with `STATUS_PERMANENT_ERROR` (`JournalError::Full`) |
//! | [`journal::MAX_FUNCTIONS`] | const | The most distinct function names a journal may hold |
//! | [`journal::Operation`] | enum | One operation of a durable function, as a divergence names it |
//! | [`journal::Replay`] | struct | One run of a durable function: the journal it resumes from, the operations the function makes in this run, and the answer to the run |
//! | [`journal::SelectRule`] | enum | Which operand a choice among operations waits for |
//! | [`journal::Seq`] | struct | An operation's sequence number: its position in the journal plus one, which is also the `correlation_id` of the call it made |
//! | [`journal::decode_journal`] | fn | Decodes a journal and checks it: its version, its bounds (`MAX_ENTRIES`, `MAX_FUNCTIONS`), and that every entry is of a known kind and refers to a function it names |
//! | [`journal::fingerprint`] | fn | FNV-1a, 32 bits, over the concatenation of `parts`: the fingerprint an entry keeps of what its operation was asked (`Entry.fingerprint`) |
//! | [`key::KeyError`] | enum | Why a key text was refused |
//! | [`key::MAX_KEY_TEXT_LEN`] | const | The longest key text accepted, in bytes, surrounding whitespace included |
//! | [`key::PRIVATE_KEY_PEM_LEN`] | const | Length of a private key rendered as PEM by `write_private_key_pem` (LF line ends, final LF included) |
//! | [`key::PUBLIC_KEY_BASE64_LEN`] | const | Length of a public key rendered as base64 by `write_public_key_base64` |
//! | [`key::PUBLIC_KEY_PEM_LEN`] | const | Length of a public key rendered as PEM by `write_public_key_pem` (LF line ends, final LF included) |
//! | [`key::parse_public_key`] | fn | Reads an Ed25519 public key: a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) block or the standard padded base64 of the 32 raw bytes |
//! | [`key::parse_signing_key`] | fn | Reads an Ed25519 private key for signing: a PEM `PRIVATE KEY` (PKCS#8) block or the standard padded base64 of the 32-byte seed |
//! | [`key::parse_verification_key`] | fn | Reads a configured verification key, from an argument or from `DISPATCH_VERIFICATION_KEY` alike |
//! | [`key::public_key_from_bytes`] | fn | Reads an Ed25519 public key from its 32 raw bytes (what `cryptography`'s `Ed25519PublicKey.public_bytes_raw()` and Go's `ed25519.PublicKey` hold), with the same checks as `parse_public_key`: a valid curve point of full order |
//! | [`key::write_private_key_pem`] | fn | Writes `key` as a PEM PKCS#8 (v1, seed only) block (`PRIVATE_KEY_PEM_LEN` bytes, LF line ends, final LF included), the form OpenSSL writes |
//! | [`key::write_public_key_base64`] | fn | Writes `key` as the standard padded base64 of its 32 bytes (`PUBLIC_KEY_BASE64_LEN` characters, no line end) |
//! | [`key::write_public_key_pem`] | fn | Writes `key` as a PEM SubjectPublicKeyInfo block (`PUBLIC_KEY_PEM_LEN` bytes, LF line ends, final LF included) |
//! | [`proto`] | crate | The generated protocol messages (`dispatch-proto`), re-exported |
//! | [`run::BodyCheck`] | struct | Counts a request body against its limit as it streams in and, when the request's signature headers were verified, hashes it for the `Content-Digest` check |
//! | [`run::COMPRESS_MIN_BYTES`] | const | The smallest response body `RunRpc::compress_response` compresses: below it, gzip's 18 bytes of framing and the CPU cost outweigh what is saved |
//! | [`run::ContentEncoding`] | enum | The `Content-Encoding` of an accepted request body |
//! | [`run::DEFAULT_BODY_LIMIT`] | const | The default body limit: 16 MB, as dispatch-py |
//! | [`run::GRPC_CONTENT_TYPE`] | const | The content type of gRPC responses |
//! | [`run::GRPC_ENCODING_HEADER`] | const | The `grpc-encoding` request header |
//! | [`run::GRPC_FRAME_PREFIX_LEN`] | const | The length of the prefix before each gRPC message: a compressed flag and a big-endian `u32` length |
//! | [`run::GRPC_TIMEOUT_HEADER`] | const | The `grpc-timeout` request header |
//! | [`run::JsonCodec`] | trait | A proto3 JSON mapping of the Run RPC's two messages, which a host that has one lends to the handler (`RunRpc::with_json`); the core itself has none (it needs a type registry for the `Any` payloads) |
//! | [`run::MAX_JSON_LEN`] | const | A buffer large enough for the JSON body of any `Refusal`: the longest message escaped (six bytes per byte at worst) and the frame around it |
//! | [`run::MAX_MESSAGE_LEN`] | const | The longest message a `Refusal` writes, in bytes, before JSON escaping, for messages that quote what the request sent (a path, a method, a function name): the quoted part is cut so that the whole fits |
//! | [`run::Refusal`] | enum | Why the Run RPC was refused before, or instead of, a function's answer |
//! | [`run::ResponseHead`] | struct | The head of a Run response the core wrote |
//! | [`run::RunHead`] | struct | What the head of an accepted Run request tells the rest of the exchange |
//! | [`run::RunRpc`] | struct | The Run RPC's settings: the body limit, and the JSON codec a host lends (without one, only `application/proto` is offered) |
//! | [`run::accepts_gzip`] | fn | Whether the request's `Accept-Encoding` (every field line) accepts gzip: `gzip`, `x-gzip` or `*` with a quality other than zero (RFC 9110 section 12.5.3) |
//! | [`run::check_content_encoding`] | fn | The request's `Content-Encoding` (every field line): none or `identity`, or `gzip` (`x-gzip`) where `gzip` is true; anything else, or gzip applied twice, is `Refusal::UnsupportedEncoding` (HTTP 501, with the `Accept-Encoding` the server takes) |
//! | [`run::check_content_length`] | fn | Checks `Content-Length` (when present: one decimal number, at most `limit`) and returns it; the part of step 1 a generic verifying layer shares with the Run RPC |
//! | [`run::check_function`] | fn | Step 4: the host's answer to "is this function registered", as the refusal when it is not (`Refusal::UnknownFunction`, 404) |
//! | [`run::check_request`] | fn | Step 3's checks of a decoded request: it names a function (`Refusal::MissingFunction`) and carries an input or a poll result (`Refusal::MissingDirective`) |
//! | [`run::error_response`] | fn | The `RunResponse` of a function that failed: `status`, and an `Exit` whose result holds the error's type and message |
//! | [`run::grpc_frame_prefix`] | fn | The prefix of an uncompressed gRPC message of `length` bytes; `None` past `u32::MAX` |
//! | [`run::grpc_message`] | fn | The one message of a unary gRPC request body: a 5-byte prefix (compressed flag 0, big-endian length) and exactly that many bytes |
//! | [`run::is_grpc_content_type`] | fn | Whether a content type is gRPC with the proto codec: `application/grpc` or `application/grpc+proto` (case-insensitive, parameters allowed) |
//! | [`run::parse_grpc_timeout`] | fn | Parses a `grpc-timeout` value: 1 to 8 ASCII digits and a unit, `H` (hours), `M` (minutes), `S` (seconds), `m` (milliseconds), `u` (microseconds) or `n` (nanoseconds) |
//! | [`sfv::BareItem`] | enum | A bare item: the value of an item or of a parameter |
//! | [`sfv::ByteSequence`] | struct | A Byte Sequence, borrowed as its (validated, padded, canonical) base64 text |
//! | [`sfv::Decimal`] | struct | A Decimal, held exactly as thousandths (RFC 8941 allows 3 fractional digits) |
//! | [`sfv::Dictionary`] | struct | A dictionary, with RFC 8941's duplicate rule applied on reading |
//! | [`sfv::Error`] | enum | Why a field value is not a valid structured field (or is beyond our bounds) |
//! | [`sfv::InnerList`] | struct | An inner list: items in parentheses, with parameters |
//! | [`sfv::Item`] | struct | An item: a bare item with its parameters |
//! | [`sfv::MAX_INNER_LIST_ITEMS`] | const | The most items an inner list may have |
//! | [`sfv::MAX_INPUT_LEN`] | const | The longest field value accepted, in bytes |
//! | [`sfv::MAX_MEMBERS`] | const | The most members (counting repeated keys) a dictionary may have |
//! | [`sfv::MAX_PARAMETERS`] | const | The most parameters (counting repeated keys) one item or inner list may have |
//! | [`sfv::Member`] | enum | A dictionary member value |
//! | [`sfv::Parameters`] | struct | Parameters, in order, with RFC 8941's duplicate rule applied on reading |
//! | [`sfv::SfString`] | struct | A String, borrowed |
//! | [`sfv::SliceWriter`] | struct | A `core::fmt::Write` into a fixed byte slice; writing past its end fails |
//! | [`sfv::Token`] | struct | A Token, borrowed |
//! | [`sfv::write_bare_item`] | fn | Writes a bare item in canonical form |
//! | [`sfv::write_key`] | fn | Writes a key, checking it is a valid key |
//! | [`sfv::write_parameter`] | fn | Writes one parameter: `;key` for a true Boolean, else `;key=value` |
//! | [`sfv::write_to`] | fn | Serializes `value` in canonical form into `buf`, returning the text, or `None` if it does not fit |
//! | [`signature::ALG`] | const | The only algorithm the policy accepts |
//! | [`signature::BaseError`] | enum | Why a signature base could not be built |
//! | [`signature::BorrowedRequest`] | struct | A request made of borrowed parts: the simplest `RequestView` |
//! | [`signature::DEFAULT_BASE_CAPACITY`] | const | The default capacity for a signature base, in bytes |
//! | [`signature::KEYID`] | const | The only key id the policy accepts |
//! | [`signature::LABEL`] | const | The label the scheduler signs with |
//! | [`signature::Malformed`] | enum | What was wrong with a malformed header, for diagnostics |
//! | [`signature::Policy`] | struct | The time rules: clock skew and maximum age, in seconds |
//! | [`signature::REQUIRED_COMPONENTS`] | const | The components a signature must cover, in the scheduler's order |
//! | [`signature::RequestView`] | trait | A read-only view of an HTTP request, for any HTTP stack |
//! | [`signature::SIGNING_BUFFER_LEN`] | const | A buffer size that fits the headers and base of an ordinary request |
//! | [`signature::SignError`] | enum | Why signing failed |
//! | [`signature::SignatureSpec`] | struct | What to sign: the label, the covered components in order, and the signature parameters in order |
//! | [`signature::SignedHeaders`] | struct | The headers a signer adds, and the signature base it signed; all borrowed from the caller's buffer |
//! | [`signature::VerifiedHeaders`] | struct | A request whose headers passed every check; only the body digest remains |
//! | [`signature::VerifyError`] | enum | Why a request's signature was refused |
//! | [`signature::nth_field_line`] | fn | The `index`-th field line named `name` (case-insensitively) of a list of `(name, value)` pairs in the order received: the one way a `RequestView` over such a list answers `field_line` |
//! | [`signature::sign_in_order`] | fn | `sign_request` with another order of covered components (dispatch-py signs in a per-process order) |
//! | [`signature::sign_request`] | fn | Signs `req` with `body` exactly as the Dispatch scheduler does: label `dispatch`, components `("@method" "@path" "@authority" "content-type" "content-digest")`, parameters `;created=<created>;keyid="default";alg="ed25519"`, and a sha-512 `Content-Digest` of `body` (which replaces any `Content-Digest` of `req`) |
//! | [`signature::sign_with`] | fn | Signs `req` as `spec` says, adding a sha-512 `Content-Digest` of `body` (replacing any `Content-Digest` of `req`) |
//! | [`signature::verify`] | fn | Verifies a whole request: headers, signature and body digest |
//! | [`signature::verify_headers`] | fn | Runs policy steps 1 to 6 and parses `Content-Digest` (the first part of step 7), building the signature base in a stack buffer of `DEFAULT_BASE_CAPACITY` bytes |
//! | [`signature::verify_headers_with_buffer`] | fn | `verify_headers` with a caller's buffer for the signature base; a base that does not fit is refused as `VerifyError::SignatureBaseUnbuildable` |
//! | [`signature::write_signature_base`] | fn | Writes the signature base for the component list and parameters of `signature_params` (a parsed `Signature-Input` member) into `out`, returning it |
//! | [`status::Retry`] | enum | Whether the scheduler retries a run that ended with a status |
//! | [`status::Status`] | enum | A run's status: the same values as `dispatch.sdk.v1.Status` |
//! | [`status::UnknownStatus`] | struct | A protobuf status number that is not a known `Status` value |
//! | [`validate::ENDPOINT_PREFIXES`] | const | The endpoint prefixes a `DispatchRequest` accepts |
//! | [`validate::Field`] | enum | A field that carries a rule |
//! | [`validate::FieldPath`] | struct | Where a violation is: a field within a (possibly nested) message |
//! | [`validate::Parent`] | enum | The message a field belongs to, relative to the validated message |
//! | [`validate::RESULTS_RANGE`] | const | The smallest and largest `Poll.min_results` / `Poll.max_results` |
//! | [`validate::ValidationError`] | struct | A validation failure: which field, and which rule |
//! | [`validate::Violation`] | enum | The rule a field breaks |
//! | [`validate::is_absolute_uri`] | fn | Whether `text` is an absolute URI per RFC 3986: `scheme ":" hier-part [ "?" query ] [ "#" fragment ]`, ASCII only, with well-formed percent escapes, and when there is an authority a valid host (reg-name or bracketed IP literal) and numeric port |
//! | [`validate::is_valid_function_name`] | fn | Whether `name` matches `^[a-zA-Z_][a-zA-Z0-9_<>.]*$` (so is non-empty) |
//! | [`validate::validate_call`] | fn | Checks a `Call`: `function` required and matching its pattern, `endpoint` an absolute URI when set, `expiration` at least 0 s when set |
//! | [`validate::validate_dispatch_request`] | fn | Checks a `DispatchRequest`: every call as `validate_call`, with a non-empty endpoint starting `http://`, `https://`, `bridge://` or `arn:aws:lambda` |
//! | [`validate::validate_exit`] | fn | Checks an `Exit`: `result` set; a `tail_call` as `validate_call` |
//! | [`validate::validate_poll`] | fn | Checks a `Poll`: its calls as `validate_call`; `max_wait` set and at least 1 s; `max_results` and `min_results` set (non-zero) and in 1..=1000 |
//! | [`validate::validate_run_response`] | fn | Checks a `RunResponse`'s directive: an `exit` as `validate_exit`, a `poll` as `validate_poll` |
//!
//! <!-- public-surface: end -->
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod connect;
pub mod digest;
pub mod key;
pub mod run;
pub mod sfv;
pub mod signature;
pub mod status;

mod quote;

#[cfg(feature = "alloc")]
pub mod any;
#[cfg(feature = "gzip")]
pub mod gzip;
#[cfg(feature = "alloc")]
pub mod journal;
#[cfg(feature = "alloc")]
pub mod validate;

/// The generated protocol messages (`dispatch-proto`), re-exported.
#[cfg(feature = "alloc")]
pub use dispatch_proto as proto;
