"""The exceptions of dispatch_core (re-exported from the package)."""

from typing import Optional, Tuple

__all__ = [
    "Refusal",
    "VerificationError",
    "Unauthenticated",
    "PermissionDenied",
    "InvalidKey",
    "SigningError",
]


class Refusal(Exception):
    """A request the core refused, with the answer to send.

    Attributes:
        status: the HTTP status (401, 403, 404, 413, 415, ...).
        code: the Connect code, e.g. ``"permission_denied"``.
        reason: a stable kebab-case name of the failed check, e.g.
            ``"digest-mismatch"`` (the policy's reason for a signature).
        message: what failed, in plain words.
        header: the one extra response header the status needs, as
            ``(name, value)`` (``Allow``, ``Accept-Post``,
            ``Accept-Encoding``), or ``None``.
        body: the Connect JSON error body, ``{"code":...,"message":...}``,
            to send with ``Content-Type: application/json``.
    """

    status: int
    code: str
    reason: str
    message: str
    header: Optional[Tuple[str, str]]
    body: bytes

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str,
        reason: str,
        header: Optional[Tuple[str, str]] = None,
        body: bytes = b"",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.reason = reason
        self.header = header
        self.body = body

    def __reduce__(self):  # keeps the attributes across pickling
        return (
            _rebuild,
            (type(self), self.message, self.status, self.code, self.reason, self.header, self.body),
        )


def _rebuild(cls, message, status, code, reason, header, body):
    return cls(message, status=status, code=code, reason=reason, header=header, body=body)


class VerificationError(Refusal):
    """A request signature the policy refused (spec signing.md section 8)."""


class Unauthenticated(VerificationError):
    """401 ``unauthenticated``: the signature is missing or malformed."""


class PermissionDenied(VerificationError):
    """403 ``permission_denied``: a well-formed signature that does not hold
    (wrong key or tampered request, expired, created in the future, body
    not matching its Content-Digest)."""


class InvalidKey(ValueError):
    """A key text (or key bytes) the core refused.

    Attributes:
        reason: a kebab-case name of what is wrong, e.g. ``"base64url"``.
        message: what is wrong, in plain words.
    """

    reason: str
    message: str

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason

    def __reduce__(self):
        return (_rebuild_key, (self.message, self.reason))


def _rebuild_key(message, reason):
    return InvalidKey(message, reason=reason)


class SigningError(ValueError):
    """A request that cannot be signed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
