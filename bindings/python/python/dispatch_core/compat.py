"""dispatch-py 0.8.0's ``verify_request``, at its boundary, on the core.

``dispatch_core.compat.verify_request(request, key, max_age)`` takes what
``dispatch.signature.verify_request`` takes (a request object, a
``cryptography`` ``Ed25519PublicKey``, a ``timedelta``) and raises what
dispatch-py's endpoint handler catches:

* ``ValueError`` (dispatch-py answers 401 ``unauthenticated``) where
  dispatch-py raises one: a signature that does not name ``keyid="default"``,
  that does not cover the five required components, or a ``Content-Digest``
  that is malformed or has neither sha-512 nor sha-256;
* :class:`InvalidSignature` (403 ``permission_denied``) for every other
  refusal: missing or malformed signature headers, a bad or expired
  ``created``, a signature or digest that does not match.

:class:`InvalidSignature` subclasses both ``cryptography.exceptions.InvalidSignature``
and ``http_message_signatures.InvalidSignature``: dispatch-py 0.8.0's handler
catches the second, and code written against ``cryptography``'s name catches
the first, so either ``except`` clause sees the refusal.
Which requests are accepted is the core's policy (spec ``signing.md``
section 8), stricter than dispatch-py's in a few documented cases (see the
package README). So an existing dispatch-py endpoint is sped up with one
line, before it serves::

    import dispatch.http, dispatch_core.compat
    dispatch.http.verify_request = dispatch_core.compat.verify_request

Needs ``cryptography`` and ``http-message-signatures`` (dispatch-py's own
dependencies; the ``compat`` extra installs them).
"""

import functools
from datetime import timedelta
from typing import Any, Optional

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
import cryptography.exceptions
import http_message_signatures

from . import _native
from ._errors import VerificationError

__all__ = ["verify_request", "InvalidSignature", "VALUE_ERROR_REASONS"]


class InvalidSignature(
    http_message_signatures.InvalidSignature, cryptography.exceptions.InvalidSignature
):
    """The signature or the digest does not hold (dispatch-py answers 403).

    Both libraries' ``InvalidSignature``, so that dispatch-py's handler and
    code that catches ``cryptography``'s exception both see it."""

#: The policy reasons dispatch-py reports as ``ValueError`` (HTTP 401); every
#: other refusal is an ``InvalidSignature`` (HTTP 403), as in dispatch-py.
VALUE_ERROR_REASONS = frozenset(
    {
        "unknown-keyid",
        "insufficient-coverage",
        "malformed-content-digest",
        "unsupported-digest-algorithm",
    }
)

# dispatch-py's default clock skew (http_message_signatures' max_clock_skew).
_SKEW_SECONDS = 5


def _now() -> Optional[float]:
    # The clock (None: the system's); a test freezes it here, as it freezes
    # dispatch-py's, to compare both at a vector's time.
    return None


@functools.lru_cache(maxsize=16)
def _verification_key(raw: bytes) -> _native.VerificationKey:
    # Decompressing the point costs as much as a third of a verification:
    # an endpoint verifies every request with the same key, so keep it.
    return _native.VerificationKey.from_bytes(raw)


def verify_request(request: Any, key: Ed25519PublicKey, max_age: timedelta) -> None:
    """Verify a request containing an HTTP Message Signature, as
    ``dispatch.signature.verify_request`` does, with the core's policy.

    Args:
        request: the request to verify (``dispatch.signature.Request``, or
            any object with ``method``, ``url``, ``headers`` and ``body``).
        key: the Ed25519 public key to verify the signature with.
        max_age: the maximum age of the signature.

    Raises:
        ValueError: the signature names another key, does not cover the
            required components, or the Content-Digest is unusable.
        InvalidSignature: any other refusal (both
            ``cryptography.exceptions.InvalidSignature`` and
            ``http_message_signatures.InvalidSignature``).
    """
    if not isinstance(key, Ed25519PublicKey):
        raise TypeError(f"key must be an Ed25519PublicKey, not {type(key).__name__}")
    if not isinstance(max_age, timedelta):
        raise TypeError(f"max_age must be a timedelta, not {type(max_age).__name__}")
    native_key = _verification_key(key.public_bytes_raw())
    try:
        _native.verify_request(
            request, native_key, max_age=max_age, skew=_SKEW_SECONDS, now=_now()
        )
    except VerificationError as refused:
        if refused.reason in VALUE_ERROR_REASONS:
            raise ValueError(refused.message) from refused
        raise InvalidSignature(refused.message) from refused
