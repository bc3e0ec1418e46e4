//! The Run RPC (`POST /dispatch.sdk.v1.FunctionService/Run`) as the core
//! decides it (`dispatch_core::run`), for a Python host that moves the bytes.
//!
//! Binary protobuf only: the core lends no JSON codec of its own, and this
//! binding brings none, so an `application/json` request is refused with 415
//! (`Accept-Post: application/proto`).

use dispatch_core::connect::Codec;
use dispatch_core::proto::sdk::v1 as pb;
use dispatch_core::run::{self, Refusal};
use dispatch_core::signature::{self, Policy};
use prost::Message;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors;
use crate::keys::VerificationKey;
use crate::request::OwnedRequest;
use crate::signing;
use crate::time;

/// The Run RPC's settings: the verification key (`None`: requests are not
/// verified), the body limit, and the signature policy's `max_age` and
/// `skew`. Immutable; build one per endpoint and share it between threads.
#[pyclass(frozen, module = "dispatch_core")]
pub(crate) struct RunRpc {
    key: Option<ed25519_dalek::VerifyingKey>,
    body_limit: usize,
    policy: Policy,
}

/// A Run request the core accepted: its head, signature and body passed,
/// and its body is a `RunRequest` that names a function and carries an input
/// or a poll result.
#[pyclass(frozen, module = "dispatch_core")]
pub(crate) struct RunCall {
    request: pb::RunRequest,
    codec: Codec,
    timeout: Option<f64>,
    body: Py<PyBytes>,
}

/// The answer to send for a function's response: HTTP `status` (200),
/// `content_type` and `body`; `output_replaced` is true when the function's
/// response was invalid and the core replaced it by the function's own
/// `STATUS_INVALID_RESPONSE` failure (worth a log line).
#[pyclass(frozen, get_all, module = "dispatch_core")]
pub(crate) struct RunAnswer {
    status: u16,
    content_type: &'static str,
    body: Py<PyBytes>,
    output_replaced: bool,
}

#[pymethods]
impl RunRpc {
    #[new]
    #[pyo3(signature = (*, verification_key = None, body_limit = run::DEFAULT_BODY_LIMIT, max_age = None, skew = None))]
    fn new(
        verification_key: Option<&VerificationKey>,
        body_limit: usize,
        max_age: Option<&Bound<'_, PyAny>>,
        skew: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let mut policy = Policy::default();
        if let (Some(max_age), Some(skew)) = (max_age, skew) {
            policy = signing::policy(max_age, skew)?;
        } else if let Some(max_age) = max_age {
            policy = policy.with_max_age(time::seconds(max_age, "max_age")?);
        } else if let Some(skew) = skew {
            policy = policy.with_max_clock_skew(time::seconds(skew, "skew")?);
        }
        Ok(RunRpc {
            key: verification_key.map(|k| k.key),
            body_limit,
            policy,
        })
    }

    /// Checks a whole Run request in the core's order: the head (path,
    /// `POST`, protocol version, encoding, content type, timeout, length),
    /// the signature when a key is set, the body (limit, `Content-Digest`),
    /// then the `RunRequest` itself. The GIL is released throughout.
    ///
    /// Returns a `RunCall`. Raises `Refusal` (a signature's is an
    /// `Unauthenticated` or `PermissionDenied`) whose `status`, `header` and
    /// `body` are the answer to send, with `Content-Type: application/json`.
    #[pyo3(signature = (request, *, now = None))]
    fn check_request(
        &self,
        py: Python<'_>,
        request: &Bound<'_, PyAny>,
        now: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<RunCall> {
        let now = time::unix_seconds(now)?;
        let owned = OwnedRequest::extract(request)?;
        let view = owned.view()?;
        let body = &owned.body;
        let decided = py.detach(|| -> Result<_, Refusal<'_>> {
            let rpc = run::RunRpc::new().body_limit(self.body_limit);
            let head = rpc.check_head(&view)?;
            let verified = match &self.key {
                Some(key) => Some(signature::verify_headers(&view, key, now, &self.policy)?),
                None => None,
            };
            let mut check = rpc.body_check(verified);
            check.update(body)?;
            check.finish()?;
            let decoded = rpc.decode_request(head.codec, body)?;
            Ok((head, decoded))
        });
        match decided {
            Ok((head, request)) => Ok(RunCall {
                request,
                codec: head.codec,
                timeout: head.timeout.map(|t| t.as_secs_f64()),
                body: PyBytes::new(py, body).unbind(),
            }),
            Err(refusal) => Err(errors::refusal(py, &refusal)),
        }
    }

    /// Raises the 404 `Refusal` (`not_found`) when `registered` is false:
    /// the host's answer to "is `call.function` registered".
    fn check_function(&self, py: Python<'_>, call: &RunCall, registered: bool) -> PyResult<()> {
        run::check_function(&call.request, registered).map_err(|r| errors::refusal(py, &r))
    }

    /// The answer for a function's `RunResponse` (its binary protobuf, e.g.
    /// `response.SerializeToString()`): the core checks it (an invalid one
    /// becomes the function's `STATUS_INVALID_RESPONSE` failure) and encodes
    /// it in the request's codec. Raises `ValueError` if `response` is not a
    /// `RunResponse` at all.
    fn encode_response(
        &self,
        py: Python<'_>,
        call: &RunCall,
        response: &[u8],
    ) -> PyResult<RunAnswer> {
        let response = pb::RunResponse::decode(response)
            .map_err(|e| PyValueError::new_err(format!("not a RunResponse: {e}")))?;
        let mut out = Vec::new();
        let head = run::RunRpc::new().encode_response(call.codec, response, &mut out);
        Ok(RunAnswer {
            status: head.status,
            content_type: head.content_type,
            body: PyBytes::new(py, &out).unbind(),
            output_replaced: head.output_replaced,
        })
    }

    /// Whether requests are verified (a key was given).
    #[getter]
    fn verifies(&self) -> bool {
        self.key.is_some()
    }

    /// The body limit, in bytes.
    #[getter]
    fn body_limit(&self) -> usize {
        self.body_limit
    }
}

#[pymethods]
impl RunCall {
    /// The function's name.
    #[getter]
    fn function(&self) -> &str {
        &self.request.function
    }

    /// The call's dispatch id.
    #[getter]
    fn dispatch_id(&self) -> &str {
        &self.request.dispatch_id
    }

    /// The dispatch id of the call that made this one (empty at the root).
    #[getter]
    fn parent_dispatch_id(&self) -> &str {
        &self.request.parent_dispatch_id
    }

    /// The dispatch id of the root of this call's tree.
    #[getter]
    fn root_dispatch_id(&self) -> &str {
        &self.request.root_dispatch_id
    }

    /// Whether this call resumes a suspended function (a poll result)
    /// rather than starting it (an input).
    #[getter]
    fn is_poll_result(&self) -> bool {
        matches!(
            self.request.directive,
            Some(pb::run_request::Directive::PollResult(_))
        )
    }

    /// The content type of the request, and of the answer.
    #[getter]
    fn content_type(&self) -> &'static str {
        self.codec.content_type()
    }

    /// How long the function may run, in seconds (`Connect-Timeout-Ms`);
    /// `None` when the client set no limit.
    #[getter]
    fn timeout(&self) -> Option<f64> {
        self.timeout
    }

    /// The request body as received: parse it with your own `RunRequest`
    /// class (`RunRequest.FromString(call.body)`).
    #[getter]
    fn body(&self, py: Python<'_>) -> Py<PyBytes> {
        self.body.clone_ref(py)
    }

    fn __repr__(&self) -> String {
        format!(
            "RunCall(function={:?}, dispatch_id={:?})",
            self.request.function, self.request.dispatch_id
        )
    }
}
