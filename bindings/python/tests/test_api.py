"""The Python API itself: request forms, exceptions, keys, times, threads and
the Run RPC."""

import dataclasses
import datetime
import json
import pickle
import threading
from typing import Any

import pytest
from dispatch.sdk.v1 import call_pb2 as call_pb
from dispatch.sdk.v1 import exit_pb2 as exit_pb
from dispatch.sdk.v1 import function_pb2 as function_pb
from dispatch.sdk.v1 import poll_pb2 as poll_pb
from google.protobuf import any_pb2, wrappers_pb2

import dispatch_core

SEED = "n4Ni+HpISpVObnQMW0wOhCKROaIKqKtW/2ZYb2p9KcU="  # RFC 9421 B.1.4
PUBLIC = "JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs="
URL = "https://my-app.example.com/dispatch.sdk.v1.FunctionService/Run"
NOW = 1_718_236_800


@dataclasses.dataclass
class Request:
    method: str
    url: Any
    headers: Any
    body: Any


def run_request_body(function="greet"):
    """A RunRequest with an (empty) input, in binary protobuf."""
    return function_pb.RunRequest(function=function, input=any_pb2.Any()).SerializeToString()


def returned(text):
    """A RunResponse that returns `text`."""
    output = any_pb2.Any()
    output.Pack(wrappers_pb2.StringValue(value=text))
    result = call_pb.CallResult(output=output)
    return function_pb.RunResponse(status=1, exit=exit_pb.Exit(result=result))


def signed(body=b"\x0a\x03add", created=NOW, url=URL):
    key = dispatch_core.parse_signing_key(SEED)
    unsigned = Request("POST", url, [("Content-Type", "application/proto")], body)
    headers = dispatch_core.sign_request(unsigned, key, created)
    return Request("POST", url, unsigned.headers + list(headers.items()), body)


def verification_key():
    return dispatch_core.parse_verification_key(PUBLIC)


def test_signing_matches_the_scheduler_form():
    request = signed()
    headers = dict(request.headers)
    assert headers["Signature-Input"] == (
        'dispatch=("@method" "@path" "@authority" "content-type" "content-digest")'
        f';created={NOW};keyid="default";alg="ed25519"'
    )
    assert headers["Content-Digest"] == dispatch_core.content_digest(request.body)
    assert headers["Signature"].startswith("dispatch=:") and headers["Signature"].endswith(":")


def test_request_forms():
    request = signed()
    key = verification_key()
    dispatch_core.verify_request(request, key, now=NOW)
    # A mapping, bytes values, a bytearray or str body, a URL object with str().
    as_mapping = dataclasses.replace(request, headers=dict(request.headers))
    dispatch_core.verify_request(as_mapping, key, now=NOW)
    as_bytes = dataclasses.replace(
        request, headers=[(n.encode(), v.encode()) for n, v in request.headers]
    )
    dispatch_core.verify_request(as_bytes, key, now=NOW)
    as_bytearray = dataclasses.replace(request, body=bytearray(request.body))
    dispatch_core.verify_request(as_bytearray, key, now=NOW)
    as_memoryview = dataclasses.replace(request, body=memoryview(request.body))
    dispatch_core.verify_request(as_memoryview, key, now=NOW)

    class Url:
        def __str__(self):
            return URL

    dispatch_core.verify_request(dataclasses.replace(request, url=Url()), key, now=NOW)
    text_body = signed(body="hello")
    dispatch_core.verify_request(text_body, key, now=NOW)
    # A repeated Content-Type is joined, and no longer what was signed.
    repeated = dataclasses.replace(
        request, headers=request.headers + [("content-type", "application/json")]
    )
    with pytest.raises(dispatch_core.PermissionDenied):
        dispatch_core.verify_request(repeated, key, now=NOW)


def test_bad_request_objects():
    key = verification_key()
    with pytest.raises(AttributeError):
        dispatch_core.verify_request(object(), key, now=NOW)
    with pytest.raises(TypeError):
        dispatch_core.verify_request(Request(1, URL, [], b""), key, now=NOW)
    with pytest.raises(TypeError):
        dispatch_core.verify_request(Request("POST", URL, [1, 2], b""), key, now=NOW)
    with pytest.raises(TypeError):
        dispatch_core.verify_request(Request("POST", URL, [], 12), key, now=NOW)
    with pytest.raises(ValueError, match="absolute URL"):
        dispatch_core.verify_request(Request("POST", "/run", [], b""), key, now=NOW)


def test_refusals_carry_the_answer():
    key = verification_key()
    with pytest.raises(dispatch_core.Unauthenticated) as missing:
        dispatch_core.verify_request(Request("POST", URL, [], b""), key, now=NOW)
    refused = missing.value
    assert isinstance(refused, dispatch_core.VerificationError)
    assert isinstance(refused, dispatch_core.Refusal)
    assert (refused.status, refused.code, refused.reason) == (
        401,
        "unauthenticated",
        "missing-signature-input",
    )
    assert json.loads(refused.body) == {"code": "unauthenticated", "message": refused.message}
    assert str(refused) == refused.message
    copy = pickle.loads(pickle.dumps(refused))
    assert (type(copy), copy.reason, copy.body) == (type(refused), refused.reason, refused.body)

    tampered = dataclasses.replace(signed(), body=b"other")
    with pytest.raises(dispatch_core.PermissionDenied) as mismatch:
        dispatch_core.verify_request(tampered, key, now=NOW)
    assert (mismatch.value.status, mismatch.value.reason) == (403, "digest-mismatch")


def test_times_and_durations():
    request = signed()
    key = verification_key()
    at = datetime.datetime.fromtimestamp(NOW + 10, datetime.timezone.utc)
    dispatch_core.verify_request(request, key, now=at)
    dispatch_core.verify_request(request, key, now=NOW + 305.9)
    with pytest.raises(dispatch_core.PermissionDenied) as late:
        dispatch_core.verify_request(request, key, now=NOW + 306)
    assert late.value.reason == "expired"
    dispatch_core.verify_request(request, key, now=NOW + 600, max_age=datetime.timedelta(minutes=10))
    with pytest.raises(dispatch_core.PermissionDenied) as early:
        dispatch_core.verify_request(request, key, now=NOW - 6)
    assert early.value.reason == "created-in-future"
    dispatch_core.verify_request(request, key, now=NOW - 6, skew=6)
    with pytest.raises(ValueError):
        dispatch_core.verify_request(request, key, now=NOW, max_age=-1)
    with pytest.raises(TypeError):
        dispatch_core.verify_request(request, key, now="now")
    # No `now`: the system clock, long past NOW.
    with pytest.raises(dispatch_core.PermissionDenied):
        dispatch_core.verify_request(request, key)


def test_keys():
    private = dispatch_core.parse_signing_key(SEED)
    public = private.verification_key()
    assert public == verification_key()
    assert hash(public) == hash(verification_key())
    assert dispatch_core.parse_signing_key(private.pem()).verification_key() == public
    assert dispatch_core.parse_verification_key(public.pem().replace("\n", "\\n")) == public
    assert dispatch_core.parse_verification_key(PUBLIC.encode()) == public
    assert dispatch_core.VerificationKey.from_bytes(public.raw()) == public
    assert SEED not in repr(private) and PUBLIC in repr(private)
    assert dispatch_core.parse_verification_key("  ") is None
    with pytest.raises(dispatch_core.InvalidKey) as wrong:
        dispatch_core.parse_verification_key(SEED[:-4] + "AA==")
    assert isinstance(wrong.value, ValueError)
    with pytest.raises(dispatch_core.InvalidKey) as private_given:
        dispatch_core.parse_verification_key(private.pem())
    assert private_given.value.reason == "private-key-given"
    with pytest.raises(dispatch_core.InvalidKey) as short:
        dispatch_core.VerificationKey.from_bytes(b"\x01" * 31)
    assert short.value.reason == "wrong-length"
    with pytest.raises(dispatch_core.InvalidKey) as weak:
        dispatch_core.VerificationKey.from_bytes(b"\x01" + b"\x00" * 31)
    assert weak.value.reason == "weak-key"
    with pytest.raises(dispatch_core.InvalidKey):
        dispatch_core.parse_signing_key("")


def test_verification_from_eight_threads():
    key = verification_key()
    good = [signed(body=bytes([i]) * (64 + i)) for i in range(16)]
    bad = [dataclasses.replace(r, body=r.body + b"!") for r in good]
    start = threading.Barrier(8)
    errors = []

    def work():
        start.wait()
        try:
            for _ in range(50):
                for request in good:
                    dispatch_core.verify_request(request, key, now=NOW)
                for request in bad:
                    try:
                        dispatch_core.verify_request(request, key, now=NOW)
                    except dispatch_core.PermissionDenied as refused:
                        assert refused.reason == "digest-mismatch"
                    else:
                        raise AssertionError("a tampered request verified")
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_connect_and_status():
    assert dispatch_core.code_http_status("not_found") == 404
    assert dispatch_core.code_from_http_status(503) == "unavailable"
    assert len(dispatch_core.connect_codes()) == 16
    body = dispatch_core.error_json("internal", 'say "hi"\n')
    assert json.loads(body) == {"code": "internal", "message": 'say "hi"\n'}
    with pytest.raises(ValueError):
        dispatch_core.error_json("nope", "")
    assert dispatch_core.classify_response(200, "application/proto", b"") is None
    assert dispatch_core.classify_response(429, "text/plain", b"slow down") == (
        "unavailable",
        "",
    )
    assert dispatch_core.Status.THROTTLED.temporary
    assert not dispatch_core.Status.PERMISSION_DENIED.temporary
    assert dispatch_core.status_from_http_status(408) is dispatch_core.Status.TIMEOUT
    assert dispatch_core.status_from_connect_code("resource_exhausted") is dispatch_core.Status.THROTTLED


def test_run_rpc():
    key = verification_key()
    rpc = dispatch_core.RunRpc(verification_key=key)
    assert rpc.verifies and rpc.body_limit == dispatch_core.DEFAULT_BODY_LIMIT
    request = signed(body=run_request_body("greet"))
    call = rpc.check_request(request, now=NOW)
    assert (call.function, call.content_type, call.timeout) == ("greet", "application/proto", None)
    assert call.body == request.body and not call.is_poll_result
    rpc.check_function(call, True)
    with pytest.raises(dispatch_core.Refusal) as unknown:
        rpc.check_function(call, False)
    assert (unknown.value.status, unknown.value.code, unknown.value.reason) == (
        404,
        "not_found",
        "unknown-function",
    )
    assert not isinstance(unknown.value, dispatch_core.VerificationError)
    response = returned("hi").SerializeToString()
    answer = rpc.encode_response(call, response)
    assert (answer.status, answer.content_type, answer.output_replaced) == (
        200,
        "application/proto",
        False,
    )
    assert answer.body == response
    # A poll without max_wait is invalid: replaced by the function's failure.
    invalid = function_pb.RunResponse(status=1, poll=poll_pb.Poll())
    replaced = rpc.encode_response(call, invalid.SerializeToString())
    assert replaced.output_replaced
    sent = function_pb.RunResponse.FromString(replaced.body)
    assert sent.status == dispatch_core.Status.INVALID_RESPONSE
    with pytest.raises(ValueError):
        rpc.encode_response(call, b"\xff")

    with pytest.raises(dispatch_core.Unauthenticated):
        rpc.check_request(Request("POST", URL, [("Content-Type", "application/proto")], b""), now=NOW)
    with pytest.raises(dispatch_core.PermissionDenied):
        rpc.check_request(dataclasses.replace(request, body=run_request_body("other")), now=NOW)
    with pytest.raises(dispatch_core.Refusal) as method:
        rpc.check_request(dataclasses.replace(request, method="GET"), now=NOW)
    assert (method.value.status, method.value.header) == (405, ("allow", "POST"))
    json_request = Request("POST", URL, [("Content-Type", "application/json")], b"{}")
    with pytest.raises(dispatch_core.Refusal) as media:
        dispatch_core.RunRpc().check_request(json_request)
    assert (media.value.status, media.value.header) == (415, ("accept-post", "application/proto"))
    small = dispatch_core.RunRpc(body_limit=4)
    plain = Request("POST", URL, [("Content-Type", "application/proto")], run_request_body())
    with pytest.raises(dispatch_core.Refusal) as large:
        small.check_request(plain)
    assert (large.value.status, large.value.reason) == (413, "body-too-large")
    with pytest.raises(dispatch_core.Refusal) as no_function:
        nameless = function_pb.RunRequest(input=any_pb2.Any()).SerializeToString()
        dispatch_core.RunRpc().check_request(dataclasses.replace(plain, body=nameless))
    assert (no_function.value.status, no_function.value.reason) == (400, "missing-function")
    with pytest.raises(dispatch_core.Refusal) as path:
        dispatch_core.RunRpc().check_request(dataclasses.replace(plain, url=URL + "x"))
    assert path.value.status == 404
    timed = dataclasses.replace(plain, headers=plain.headers + [("Connect-Timeout-Ms", "1500")])
    assert dispatch_core.RunRpc().check_request(timed).timeout == 1.5
