"""dispatch_core.compat.verify_request against dispatch-py 0.8.0's own
dispatch.signature.verify_request: the same requests (every request vector,
built as dispatch-py's Request) through both, at the vector's time; the same
outcome and exception type, except where the project's policy differs by
design (DESIGNED_DIFFERENCES, each with its reason)."""

import base64
import datetime
import types
from datetime import timedelta

import pytest

cryptography = pytest.importorskip("cryptography")
dispatch_signature = pytest.importorskip("dispatch.signature")

import cryptography.exceptions
import http_message_signatures
import http_message_signatures.signatures as hms_signatures
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from http_message_signatures.structures import CaseInsensitiveDict

import dispatch_core
import dispatch_core.compat
from test_vectors import REQUEST_SETS, json, vector_roots

#: Vectors on which the outcome differs by design, and why.
DESIGNED_DIFFERENCES = {
    "missing-015": "no keyid: dispatch-py raises KeyError (its endpoint answers 500); "
    "the policy refuses an unknown key, a ValueError (401)",
    "rfc9421-003": "a signature that neither covers the required components nor holds: "
    "the policy checks coverage first (ValueError, 401), dispatch-py the signature first "
    "(InvalidSignature, 403)",
    "valid-coverage-008": "a covered header with surrounding spaces signed verbatim: RFC 9421 "
    "section 2.1 trims field values, so the signature does not hold (InvalidSignature)",
    "valid-params-012": "created as a String: RFC 9421 requires an Integer, dispatch-py "
    "coerces it with int(); refused (InvalidSignature, as dispatch-py refuses a bad created)",
}


def request_vectors():
    for root in vector_roots():
        for path in sorted((root / "signatures").glob("*.json")):
            doc = json.loads(path.read_text())
            if doc.get("set") in REQUEST_SETS:
                yield from doc["vectors"]


def outcome(call):
    try:
        call()
    except ValueError:
        return "ValueError"
    except http_message_signatures.InvalidSignature:
        return "InvalidSignature"
    except Exception as other:  # dispatch-py's endpoint answers these with 500
        return f"other:{type(other).__name__}"
    return "valid"


def frozen_datetime(now):
    class Frozen(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls.fromtimestamp(now, tz)

    return types.SimpleNamespace(datetime=Frozen, timedelta=datetime.timedelta)


def dispatch_py_request(vector):
    raw = vector["request"]
    return dispatch_signature.Request(
        method=raw["method"],
        url=raw["url"],
        headers=CaseInsensitiveDict([tuple(line) for line in raw["headers"]]),
        body=base64.b64decode(raw["body_b64"]),
    )


def test_same_outcome_as_dispatch_py(monkeypatch):
    seen = {}
    for vector in request_vectors():
        key = Ed25519PublicKey.from_public_bytes(
            base64.b64decode(vector["verification_key"]["public_raw_b64"])
        )
        max_age = timedelta(seconds=vector["max_age_s"])
        now = vector["now"]
        monkeypatch.setattr(hms_signatures, "datetime", frozen_datetime(now))
        monkeypatch.setattr(dispatch_core.compat, "_now", lambda now=now: now)
        theirs = outcome(
            lambda: dispatch_signature.verify_request(dispatch_py_request(vector), key, max_age)
        )
        ours = outcome(
            lambda: dispatch_core.compat.verify_request(dispatch_py_request(vector), key, max_age)
        )
        if theirs != ours:
            seen[vector["id"]] = f"dispatch-py {theirs}, ours {ours}"
    undocumented = {k: v for k, v in seen.items() if k not in DESIGNED_DIFFERENCES}
    vanished = sorted(set(DESIGNED_DIFFERENCES) - set(seen))
    assert not undocumented, "\n".join(f"{k}: {v}" for k, v in sorted(undocumented.items()))
    assert not vanished, f"listed differences that no longer differ: {vanished}"


def test_types_at_the_boundary():
    vector = next(v for v in request_vectors() if v["expected_project"]["verdict"] == "valid")
    key = Ed25519PublicKey.from_public_bytes(
        base64.b64decode(vector["verification_key"]["public_raw_b64"])
    )
    with pytest.raises(TypeError):
        dispatch_core.compat.verify_request(dispatch_py_request(vector), key, 300)
    with pytest.raises(TypeError):
        dispatch_core.compat.verify_request(
            dispatch_py_request(vector), key.public_bytes_raw(), timedelta(minutes=5)
        )


def test_invalid_signature_is_both_libraries_exception(monkeypatch):
    vector = next(v for v in request_vectors() if v["expected_project"]["verdict"] == "valid")
    key = Ed25519PublicKey.from_public_bytes(
        base64.b64decode(vector["verification_key"]["public_raw_b64"])
    )
    monkeypatch.setattr(dispatch_core.compat, "_now", lambda: vector["now"])
    request = dispatch_py_request(vector)
    request.body = request.body + b"tampered"
    with pytest.raises(cryptography.exceptions.InvalidSignature) as caught:
        dispatch_core.compat.verify_request(request, key, timedelta(seconds=vector["max_age_s"]))
    assert isinstance(caught.value, http_message_signatures.InvalidSignature)
    assert isinstance(caught.value, dispatch_core.compat.InvalidSignature)
