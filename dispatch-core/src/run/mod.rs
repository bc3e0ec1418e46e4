//! The Run RPC (`POST /dispatch.sdk.v1.FunctionService/Run`) as a sans-IO
//! handler: every decision a function endpoint makes, in the steps a host
//! calls in order. The host moves bytes; the core writes every answer.
//!
//! 1. **Head.** [`RunRpc::check_head`] (Connect) or
//!    [`RunRpc::check_grpc_head`] (gRPC) reads the method, path and headers
//!    through a [`RequestView`](crate::signature::RequestView) and gives the
//!    [`RunHead`] (codec, deadline) or a [`Refusal`].
//! 2. **Signature and body.** With a verification key, the host calls
//!    [`verify_headers`](crate::signature::verify_headers) (its error
//!    converts into a [`Refusal`]), then feeds every body chunk to the
//!    [`BodyCheck`] of [`RunRpc::body_check`] before keeping it, and calls
//!    [`BodyCheck::finish`] at the end (body limit, `Content-Digest`). Over
//!    gRPC, [`grpc_message`] then takes the one message out of its frame.
//! 3. **Request** (`alloc`). [`RunRpc::decode_request`] gives the decoded,
//!    checked `RunRequest`.
//! 4. **Registry.** [`check_function`] turns the host's answer to "is this
//!    function registered" into the 404 refusal.
//! 5. **Response** (`alloc`). The host runs the function (under the
//!    deadline; past it, [`Refusal::DeadlineExceeded`]) and
//!    [`RunRpc::encode_response`] writes the [`ResponseHead`] and body.
//!
//! A refusal at any step is answered with its [`status`](Refusal::status),
//! its [`header`](Refusal::header), `Content-Type: application/json` and the
//! body [`Refusal::write_json`] writes (over gRPC: HTTP 200 and the
//! `grpc-status` [`Code::grpc_number`](crate::connect::Code::grpc_number)
//! with [`Refusal::write_grpc_message`]). Steps 1, 2 and 4 allocate nothing.
//!
//! ```
//! use dispatch_core::connect::Codec;
//! use dispatch_core::proto::sdk::v1::{RunRequest, RunResponse, run_request::Directive};
//! use dispatch_core::run::{check_function, RunRpc, MAX_JSON_LEN};
//! use dispatch_core::signature::BorrowedRequest;
//! use prost::Message;
//!
//! let rpc = RunRpc::new();
//! let body = RunRequest {
//!     function: "greet".into(),
//!     directive: Some(Directive::Input(Default::default())),
//!     ..Default::default()
//! }
//! .encode_to_vec();
//! let url = "http://127.0.0.1:8000/dispatch.sdk.v1.FunctionService/Run";
//! let headers = [("content-type", "application/proto")];
//! let request = BorrowedRequest::from_url("POST", url, &headers).ok_or("bad URL")?;
//!
//! // A refusal borrows the request; a host answers it at once.
//! let head = rpc.check_head(&request).map_err(|refusal| refusal.to_string())?;
//! let mut check = rpc.body_check(None); // no key: the body limit only
//! check.update(&body)?;
//! check.finish()?;
//! let request = rpc.decode_request(head.codec, &body)?;
//! match check_function(&request, request.function == "echo") {
//!     Ok(()) => unreachable!("only echo is registered"),
//!     Err(refusal) => {
//!         let mut json = [0u8; MAX_JSON_LEN];
//!         let n = refusal.write_json(&mut json)?;
//!         assert_eq!(refusal.status(), 404);
//!         assert_eq!(&json[..n], br#"{"code":"not_found","message":"function \"greet\" does not exist"}"#);
//!     }
//! }
//! let mut out = Vec::new();
//! let answer = rpc.encode_response(head.codec, RunResponse::default(), &mut out);
//! assert_eq!(answer.content_type, Codec::Proto.content_type());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

/// The smallest response body [`RunRpc::compress_response`] compresses:
/// below it, gzip's 18 bytes of framing and the CPU cost outweigh what is
/// saved.
pub const COMPRESS_MIN_BYTES: usize = 1024;

mod body;
mod grpc;
mod head;
#[cfg(feature = "alloc")]
mod message;
mod refusal;

pub use body::BodyCheck;
pub use grpc::{
    CONTENT_TYPE as GRPC_CONTENT_TYPE, ENCODING_HEADER as GRPC_ENCODING_HEADER,
    FRAME_PREFIX_LEN as GRPC_FRAME_PREFIX_LEN, TIMEOUT_HEADER as GRPC_TIMEOUT_HEADER,
    frame_prefix as grpc_frame_prefix, is_grpc_content_type, message as grpc_message,
    parse_timeout as parse_grpc_timeout,
};
pub use head::{
    ContentEncoding, RunHead, accepts_gzip, check_content_encoding, check_content_length,
};
#[cfg(feature = "alloc")]
pub use message::{JsonCodec, ResponseHead, check_function, check_request, error_response};
pub use refusal::{MAX_JSON_LEN, MAX_MESSAGE_LEN, Refusal};

use crate::signature::VerifiedHeaders;

/// The default body limit: 16 MB, as dispatch-py.
pub const DEFAULT_BODY_LIMIT: usize = 16_000_000;

/// The Run RPC's settings: the body limit, and the JSON codec a host lends
/// (without one, only `application/proto` is offered). `Copy`; build one
/// per endpoint and share it.
#[derive(Clone, Copy)]
pub struct RunRpc<'j> {
    body_limit: usize,
    gzip: bool,
    #[cfg(feature = "alloc")]
    json: Option<&'j dyn JsonCodec>,
    #[cfg(not(feature = "alloc"))]
    json: core::marker::PhantomData<&'j ()>,
}

impl core::fmt::Debug for RunRpc<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RunRpc")
            .field("body_limit", &self.body_limit)
            .field("json", &self.offers_json())
            .field("gzip", &self.gzip)
            .finish()
    }
}

impl Default for RunRpc<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'j> RunRpc<'j> {
    /// Binary protobuf only, bodies up to [`DEFAULT_BODY_LIMIT`].
    pub const fn new() -> Self {
        RunRpc {
            body_limit: DEFAULT_BODY_LIMIT,
            gzip: false,
            #[cfg(feature = "alloc")]
            json: None,
            #[cfg(not(feature = "alloc"))]
            json: core::marker::PhantomData,
        }
    }

    /// Refuses bodies over `bytes` (413).
    pub const fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Offers `application/json` too, decoded and encoded by `codec`.
    #[cfg(feature = "alloc")]
    pub fn with_json(mut self, codec: &'j dyn JsonCodec) -> Self {
        self.json = Some(codec);
        self
    }

    /// Accepts `Content-Encoding: gzip` over Connect: the host then passes
    /// every body through [`inflate`](Self::inflate) after the body check.
    /// The inflated body counts against the body limit too.
    #[cfg(feature = "gzip")]
    pub const fn accept_gzip(mut self) -> Self {
        self.gzip = true;
        self
    }

    /// Whether `Content-Encoding: gzip` is accepted.
    pub const fn offers_gzip(&self) -> bool {
        self.gzip
    }

    /// Step 2½ (`alloc`): the body as the codec reads it. An identity body
    /// is lent back as it is; a gzip body (only ever in a head of an RPC
    /// that [accepts gzip](Self::accept_gzip)) is inflated within the body
    /// limit: past it, [`Refusal::BodyTooLarge`]; malformed,
    /// [`Refusal::MalformedGzip`].
    ///
    /// ```
    /// use dispatch_core::run::RunRpc;
    /// use dispatch_core::signature::BorrowedRequest;
    ///
    /// # #[cfg(feature = "gzip")] { // gzip bodies are inflated with the `gzip` feature
    /// let url = "http://127.0.0.1:8000/dispatch.sdk.v1.FunctionService/Run";
    /// let headers = [("content-type", "application/proto"), ("content-encoding", "gzip")];
    /// let request = BorrowedRequest::from_url("POST", url, &headers).ok_or("bad URL")?;
    /// let rpc = RunRpc::new().accept_gzip();
    /// let head = rpc.check_head(&request).map_err(|refusal| refusal.to_string())?;
    /// let err = rpc.inflate(&head, b"not gzip").unwrap_err();
    /// assert_eq!(err.status(), 400);
    /// // Without accept_gzip, the head is refused with 501 and Accept-Encoding.
    /// let refusal = RunRpc::new().check_head(&request).unwrap_err();
    /// assert_eq!((refusal.status(), refusal.header()), (501, Some(("accept-encoding", "identity"))));
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "alloc")]
    pub fn inflate<'b>(
        &self,
        head: &RunHead,
        body: &'b [u8],
    ) -> Result<alloc::borrow::Cow<'b, [u8]>, Refusal<'static>> {
        match head.encoding {
            ContentEncoding::Identity => Ok(alloc::borrow::Cow::Borrowed(body)),
            #[cfg(feature = "gzip")]
            ContentEncoding::Gzip if self.gzip => match crate::gzip::inflate(body, self.body_limit)
            {
                Ok(inflated) => Ok(alloc::borrow::Cow::Owned(inflated)),
                Err(crate::gzip::GzipError::TooLarge { limit }) => {
                    Err(Refusal::BodyTooLarge { limit })
                }
                Err(error) => Err(Refusal::MalformedGzip {
                    why: error.message(),
                }),
            },
            // A head this RPC did not accept: refused as check_head would.
            _ => Err(Refusal::UnsupportedEncoding { gzip: self.gzip }),
        }
    }

    /// Step 4½ (`alloc`): compresses an encoded Connect response body when
    /// the client accepts gzip ([`RunHead::accepts_gzip`]) and it is at
    /// least [`COMPRESS_MIN_BYTES`] long; returns the `Content-Encoding`
    /// the host then sends, or `None` for a body left as it is. Never for
    /// gRPC (its heads never accept gzip) or error bodies.
    ///
    /// ```
    /// use dispatch_core::run::{RunRpc, COMPRESS_MIN_BYTES};
    /// use dispatch_core::signature::BorrowedRequest;
    /// # #[cfg(feature = "gzip")] { // responses are compressed with the `gzip` feature
    /// let url = "http://127.0.0.1:8000/dispatch.sdk.v1.FunctionService/Run";
    /// let headers = [("content-type", "application/proto"), ("accept-encoding", "gzip")];
    /// let request = BorrowedRequest::from_url("POST", url, &headers).ok_or("bad URL")?;
    /// let rpc = RunRpc::new().accept_gzip();
    /// let head = rpc.check_head(&request).map_err(|refusal| refusal.to_string())?;
    /// let mut body = vec![0u8; COMPRESS_MIN_BYTES];
    /// assert_eq!(rpc.compress_response(&head, &mut body), Some("gzip"));
    /// assert!(body.len() < COMPRESS_MIN_BYTES);
    /// let mut small = vec![0u8; 10];
    /// assert_eq!(rpc.compress_response(&head, &mut small), None);
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "alloc")]
    pub fn compress_response(
        &self,
        head: &RunHead,
        body: &mut alloc::vec::Vec<u8>,
    ) -> Option<&'static str> {
        #[cfg(feature = "gzip")]
        if self.gzip && head.accepts_gzip && body.len() >= COMPRESS_MIN_BYTES {
            *body = crate::gzip::compress(body);
            return Some("gzip");
        }
        let _ = (head, body);
        None
    }

    /// The body limit, in bytes.
    pub const fn limit(&self) -> usize {
        self.body_limit
    }

    /// Whether `application/json` is offered.
    pub const fn offers_json(&self) -> bool {
        #[cfg(feature = "alloc")]
        {
            self.json.is_some()
        }
        #[cfg(not(feature = "alloc"))]
        {
            false
        }
    }

    /// Step 2: a [`BodyCheck`] under this RPC's limit, hashing the body for
    /// `verified`'s `Content-Digest` when the signature headers passed.
    pub fn body_check(&self, verified: Option<VerifiedHeaders>) -> BodyCheck {
        BodyCheck::new(self.body_limit, verified)
    }
}
