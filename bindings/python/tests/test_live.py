"""dispatch-py 0.8.0's aiohttp endpoint, unpatched and patched with
`dispatch.http.verify_request = dispatch_core.compat.verify_request`, both
live on loopback: requests signed as our scheduler signs, by dispatch-py, and
tampered ones get the same HTTP statuses from both (POLICY_DIFFERENCES lists
where they differ by design). Then our real scheduler (the `dispatch` binary,
DISPATCH_BIN or target/debug/dispatch) runs a Python function on the patched
endpoint, and one of ours signing with another key is refused."""

import asyncio
import base64
import contextlib
import dataclasses
import json
import os
import pathlib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime

import pytest

dispatch_signature = pytest.importorskip("dispatch.signature")
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from dispatch.sdk.v1 import function_pb2 as function_pb
from dispatch.any import marshal_any
from dispatch.proto import Arguments
from http_message_signatures.structures import CaseInsensitiveDict

import dispatch_core
from conftest import REPO

HERE = pathlib.Path(__file__).resolve().parent
RUN = "/dispatch.sdk.v1.FunctionService/Run"
API_KEY = "live-test-key"

#: Cases where the patched endpoint answers otherwise by design, and why.
POLICY_DIFFERENCES = {
    "no keyid": (500, 401, "dispatch-py raises KeyError (500); the policy refuses the unknown key"),
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port, process, name):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not listen on {port}")


@contextlib.contextmanager
def started(args, env, port, name):
    # LIVE_LOG names a file for the servers' output (default: discarded).
    log = open(os.environ.get("LIVE_LOG", os.devnull), "ab")
    process = subprocess.Popen(args, env={**os.environ, **env}, stdout=log, stderr=log)
    try:
        wait_for(port, process, name)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def endpoint(public_b64, patched, api_url="http://127.0.0.1:1"):
    port = free_port()
    env = {
        "DISPATCH_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "DISPATCH_ENDPOINT_ADDR": f"127.0.0.1:{port}",
        "DISPATCH_VERIFICATION_KEY": public_b64,
        "DISPATCH_API_KEY": API_KEY,
        "DISPATCH_API_URL": api_url,
    }
    args = [sys.executable, str(HERE / "live_endpoint.py")] + (["patched"] if patched else [])
    return port, started(args, env, port, "patched endpoint" if patched else "endpoint")


@dataclasses.dataclass
class Request:
    method: str
    url: str
    headers: dict
    body: bytes


def post(port, headers, body):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{RUN}", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def cases(port, core_key, py_key, other_key):
    """(name, headers, body) to send to the endpoint on `port`."""
    url = f"http://127.0.0.1:{port}{RUN}"
    def run_request(function):
        # A fresh dispatch id each: dispatch-py answers 500 to a repeated one.
        return function_pb.RunRequest(
            function=function,
            dispatch_id=uuid.uuid4().hex,
            input=marshal_any(Arguments(("Rust",), {})),
        ).SerializeToString()

    body, unknown, tampered = run_request("greet"), run_request("nope"), run_request("greet")
    body_py = run_request("greet")
    base = {"Content-Type": "application/proto"}

    def ours(payload, key=core_key, created=None):
        headers = dispatch_core.sign_request(Request("POST", url, dict(base), payload), key, created)
        return {**base, **headers}

    def theirs(payload):
        request = dispatch_signature.Request("POST", url, CaseInsensitiveDict(base), payload)
        dispatch_signature.sign_request(request, py_key, datetime.now())
        return dict(request.headers)

    no_keyid = ours(body)
    no_keyid["Signature-Input"] = no_keyid["Signature-Input"].replace(';keyid="default"', "")
    other_keyid = ours(body)
    other_keyid["Signature-Input"] = other_keyid["Signature-Input"].replace('"default"', '"other"')
    return [
        ("signed as our scheduler signs", ours(body), body),
        ("signed by dispatch-py", theirs(body_py), body_py),
        ("signed, unknown function", ours(unknown), unknown),
        ("tampered body", ours(body), tampered),
        ("dispatch-py signed, tampered body", theirs(body), tampered),
        ("another key", ours(body, other_key), body),
        ("no signature", base, body),
        ("expired", ours(body, created=int(time.time()) - 400), body),
        ("created in the future", ours(body, created=int(time.time()) + 60), body),
        ("no keyid", no_keyid, body),
        ("another keyid", other_keyid, body),
    ]


def test_patched_endpoint_answers_as_dispatch_py():
    core_key = dispatch_core.parse_signing_key(base64.b64encode(b"\x07" * 32).decode())
    other_key = dispatch_core.parse_signing_key(base64.b64encode(b"\x09" * 32).decode())
    py_key = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
    public_b64 = core_key.verification_key().base64()
    results = {}
    for patched in (False, True):
        port, server = endpoint(public_b64, patched)
        with server:
            for name, headers, body in cases(port, core_key, py_key, other_key):
                results.setdefault(name, []).append(post(port, headers, body))
    print("statuses (unpatched, patched):", json.dumps(results))
    assert results["signed as our scheduler signs"] == [200, 200]
    assert results["signed by dispatch-py"] == [200, 200]
    assert results["tampered body"] == [403, 403]
    for name, (unpatched, patched) in results.items():
        if name in POLICY_DIFFERENCES:
            want_unpatched, want_patched, _ = POLICY_DIFFERENCES[name]
            assert (unpatched, patched) == (want_unpatched, want_patched), name
        else:
            assert unpatched == patched, f"{name}: unpatched {unpatched}, patched {patched}"


def dispatch_bin():
    path = pathlib.Path(os.environ.get("DISPATCH_BIN", REPO / "target" / "debug" / "dispatch"))
    if not path.is_file():
        pytest.fail(f"the dispatch binary is not at {path} (set DISPATCH_BIN)")
    return str(path)


def outcome(api_url, dispatch_id, limit=60):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        request = urllib.request.Request(
            f"{api_url}/_dispatch/v1/runs/{dispatch_id}?wait_ms=5000",
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            info = json.loads(response.read())
        if info.get("done"):
            return info
    raise TimeoutError(f"run {dispatch_id} not done after {limit} s")


def submit(api_urls, endpoint_url):
    """One call of greet("Rust") through each scheduler's Dispatch RPC, with
    dispatch-py's own client (one event loop: its session is global)."""
    from dispatch.function import Client
    from dispatch.proto import Call

    async def each():
        ids = []
        for api_url in api_urls:
            client = Client(api_key=API_KEY, api_url=api_url)
            call = Call(function="greet", input=Arguments(("Rust",), {}), endpoint=endpoint_url)
            [dispatch_id] = await client.dispatch([call])
            ids.append(dispatch_id)
        return ids

    return asyncio.run(each())


def test_our_scheduler_runs_a_function_on_the_patched_endpoint(tmp_path):
    binary = dispatch_bin()
    keys = {}
    for name in ("scheduler", "other"):
        pem = tmp_path / f"{name}.pem"
        printed = subprocess.run(
            [binary, "keygen", "--private-key", str(pem), "--public-key", str(tmp_path / f"{name}.pub")],
            check=True, capture_output=True, text=True, timeout=60,
        )
        keys[name] = (pem, printed.stdout.strip())
    schedulers = {}
    with contextlib.ExitStack() as stack:
        for name in ("scheduler", "other"):
            port = free_port()
            args = [binary, "scheduler", "--listen", f"127.0.0.1:{port}",
                    "--signing-key", str(keys[name][0]), "--max-attempts", "1",
                    "--db", str(tmp_path / f"{name}.db")]
            stack.enter_context(started(args, {"DISPATCH_API_KEY": API_KEY}, port, name))
            schedulers[name] = f"http://127.0.0.1:{port}"
        port, server = endpoint(keys["scheduler"][1], True, api_url=schedulers["scheduler"])
        stack.enter_context(server)
        endpoint_url = f"http://127.0.0.1:{port}"
        ours, other = submit([schedulers["scheduler"], schedulers["other"]], endpoint_url)
        info = outcome(schedulers["scheduler"], ours)
        assert info.get("status") == "STATUS_OK", json.dumps(info)
        refused = outcome(schedulers["other"], other)
        assert refused.get("status") == "STATUS_PERMISSION_DENIED", refused
