"""Dispatch request verification and signing at Rust speed.

The Python face of dispatch-core, the sans-IO Rust core of the Dispatch
protocol: every rule (signature policy, digests, keys, Connect codes and
error bodies, Status classification, the Run RPC's decisions) is the core's;
this package only converts Python values to its inputs and its answers to
Python values and exceptions.

Verifying a request signed by the Dispatch scheduler::

    import dispatch_core
    key = dispatch_core.parse_verification_key(os.environ["DISPATCH_VERIFICATION_KEY"])
    dispatch_core.verify_request(request, key)   # raises VerificationError

``request`` is any object with ``method``, ``url``, ``headers`` (a mapping
or a list of pairs) and ``body``; dispatch-py's ``dispatch.signature.Request``
is one. To speed up an existing dispatch-py endpoint with no other change::

    import dispatch.http, dispatch_core.compat
    dispatch.http.verify_request = dispatch_core.compat.verify_request
"""

import enum as _enum

from . import _native
from ._errors import (
    InvalidKey,
    PermissionDenied,
    Refusal,
    SigningError,
    Unauthenticated,
    VerificationError,
)
from ._native import (
    DEFAULT_BODY_LIMIT,
    REQUIRED_COMPONENTS,
    RUN_PATH,
    RunAnswer,
    RunCall,
    RunRpc,
    SigningKey,
    VerificationKey,
    check_content_digest,
    classify_response,
    code_from_http_status,
    code_grpc_number,
    code_http_status,
    connect_codes,
    content_digest,
    error_json,
    parse_signing_key,
    parse_verification_key,
    reencode_message,
    sign_request,
    verify_request,
)

__all__ = [
    "DEFAULT_BODY_LIMIT",
    "REQUIRED_COMPONENTS",
    "RUN_PATH",
    "InvalidKey",
    "PermissionDenied",
    "Refusal",
    "RunAnswer",
    "RunCall",
    "RunRpc",
    "SigningError",
    "SigningKey",
    "Status",
    "Unauthenticated",
    "VerificationError",
    "VerificationKey",
    "check_content_digest",
    "classify_response",
    "code_from_http_status",
    "code_grpc_number",
    "code_http_status",
    "connect_codes",
    "content_digest",
    "error_json",
    "parse_signing_key",
    "parse_verification_key",
    "reencode_message",
    "sign_request",
    "status_from_connect_code",
    "status_from_http_status",
    "verify_request",
]

_STATUS_TABLE = _native.status_table()


class Status(_enum.IntEnum):
    """``dispatch.sdk.v1.Status``, numbered as on the wire; ``temporary``
    says whether the scheduler retries a call that ends so."""

    _ignore_ = ["_wire", "_number", "_retried"]
    for _wire, _number, _retried in _STATUS_TABLE:
        locals()[_wire[len("STATUS_"):]] = _number

    @property
    def temporary(self) -> bool:
        """Whether the scheduler retries a call that ends with this status."""
        return _TEMPORARY[self.value]

    @property
    def wire_name(self) -> str:
        """The protobuf enum name, e.g. ``STATUS_THROTTLED``."""
        return "STATUS_" + self.name


_TEMPORARY = {number: temporary for _, number, temporary in _STATUS_TABLE}


def status_from_http_status(status: int) -> Status:
    """The Status of an outbound HTTP call from its response status (the
    table dispatch-py and dispatch-go share)."""
    return Status(_native.status_from_http_status(status))


def status_from_connect_code(code: str) -> Status:
    """The Status of a failed Connect call from its code name."""
    return Status(_native.status_from_connect_code(code))
