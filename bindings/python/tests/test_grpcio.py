"""gRPC served on the endpoint's port, tried with a real gRPC client: grpcio
(pinned in scripts/ci/python) calls `dispatch serve` (DISPATCH_BIN or
target/debug/dispatch), which verifies signatures, over HTTP/2 with
`application/grpc`. A signed request runs the demo `echo`; an unsigned one
is UNAUTHENTICATED, a tampered one PERMISSION_DENIED, an unknown function
NOT_FOUND, each with the refusal's message, as the Connect JSON carries it.

The request is signed as the scheduler signs a gRPC request: the covered
`content-type` is `application/grpc`, `@authority` is the channel's target,
and `Content-Digest` is the SHA-512 of the HTTP body, that is of the framed
message (one flag byte, four length bytes, the message)."""

import base64
import dataclasses
import struct
import uuid

import pytest

import grpc
from dispatch.sdk.v1 import function_pb2 as function_pb
from google.protobuf import any_pb2, wrappers_pb2

import dispatch_core
from test_live import dispatch_bin, free_port, started

RUN = "/dispatch.sdk.v1.FunctionService/Run"


@dataclasses.dataclass
class Request:
    method: str
    url: str
    headers: dict
    body: bytes


def run_request(function, text):
    value = any_pb2.Any()
    value.Pack(wrappers_pb2.StringValue(value=text))
    return function_pb.RunRequest(
        function=function, dispatch_id=uuid.uuid4().hex, input=value
    ).SerializeToString()


def framed(message):
    return b"\x00" + struct.pack(">I", len(message)) + message


def signature_metadata(key, authority, message):
    """The three signature headers for `message` sent over gRPC to `authority`."""
    headers = {"content-type": "application/grpc"}
    request = Request("POST", f"http://{authority}{RUN}", headers, framed(message))
    signed = dispatch_core.sign_request(request, key)
    return [(name.lower(), value) for name, value in signed.items()]


@pytest.fixture(scope="module")
def served():
    """`dispatch serve` with a verification key, and a grpcio channel to it."""
    key = dispatch_core.parse_signing_key(base64.b64encode(b"\x05" * 32).decode())
    port = free_port()
    args = [dispatch_bin(), "serve", "--listen", f"127.0.0.1:{port}",
            "--verification-key", key.verification_key().base64()]
    with started(args, {}, port, "dispatch serve"):
        authority = f"127.0.0.1:{port}"
        with grpc.insecure_channel(authority) as channel:
            # No serializers: the messages go as the bytes given.
            run = channel.unary_unary(RUN)
            yield key, authority, run


def test_a_signed_request_runs_the_function(served):
    key, authority, run = served
    for attempt in range(20):
        message = run_request("echo", f"over grpc {attempt}")
        answer = run(message, metadata=signature_metadata(key, authority, message), timeout=30)
        response = function_pb.RunResponse.FromString(answer)
        assert response.status == 1, response  # STATUS_OK
        output = wrappers_pb2.StringValue()
        assert response.exit.result.output.Unpack(output)
        assert output.value == f"over grpc {attempt}"


def rpc_error(call):
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


def test_an_unsigned_request_is_unauthenticated(served):
    _, _, run = served
    for _ in range(10):
        error = rpc_error(lambda: run(run_request("echo", "x"), timeout=30))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED, error
        assert "signature" in error.details().lower(), error.details()


def test_a_tampered_request_is_permission_denied(served):
    key, authority, run = served
    signed_for = run_request("echo", "what was signed")
    sent = run_request("echo", "what was sent")
    metadata = signature_metadata(key, authority, signed_for)
    error = rpc_error(lambda: run(sent, metadata=metadata, timeout=30))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED, error


def test_an_unknown_function_is_not_found(served):
    key, authority, run = served
    message = run_request("no_such_function", "x")
    metadata = signature_metadata(key, authority, message)
    error = rpc_error(lambda: run(message, metadata=metadata, timeout=30))
    assert error.code() == grpc.StatusCode.NOT_FOUND, error
    assert "no_such_function" in error.details(), error.details()
