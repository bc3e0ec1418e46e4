"""Every vector under tests/vectors and each DISPATCH_EXTRA_VECTORS directory,
through the Python API, against the project's verdicts (`expected_project`).

A file of an unknown set or category, a vector with a field this harness does
not know, or a vector it cannot interpret fails. The parts that cannot apply
to this binding are counted, by kind, in NOT_APPLICABLE.
"""

import base64
import dataclasses
import json
from typing import List, Tuple, Union

import http_sfv
import pytest

import dispatch_core
from conftest import vector_roots

#: The parts of vectors this binding cannot run, and why; counted, never
#: silently skipped.
NOT_APPLICABLE = {
    "json": "proto3 JSON forms: the binding offers binary protobuf only (no JSON codec)",
    "status_mapping/python_exception": "dispatch-py's mapping of its own exception classes",
    "status_mapping/python_output": "dispatch-py's mapping of returned Python objects",
}

REQUEST_SETS = {
    "valid-basic",
    "valid-paths-methods",
    "valid-authority",
    "valid-bodies",
    "valid-coverage",
    "valid-params",
    "valid-mutations",
    "tamper",
    "missing",
    "malformed",
    "time-window",
    "params",
    "duplicate-headers",
    "rfc9421",
}

REQUEST_VECTOR_FIELDS = {
    "id", "set", "category", "description", "tricky", "expected", "cross_checks",
    "agreement", "expected_project", "request", "verification_key", "now",
    "max_age_s", "signing", "signature_base", "rfc9421_conformant_signer",
    "e2e_aiohttp", "notes", "expected_handler_precheck", "always_public",
    "library_level_verdict",
}

DIGEST_VECTOR_FIELDS = {
    "id", "set", "category", "description", "tricky", "body_b64", "body_len",
    "content_digest", "sha256_b64", "sha512_b64", "expected", "cross_checks",
    "agreement", "expected_project",
}

MESSAGE_TYPES = {
    "status": "dispatch.sdk.v1.RunResponse",
    "any": "google.protobuf.Any",
    "error": "dispatch.sdk.v1.Error",
    "call": "dispatch.sdk.v1.Call",
    "call_result": "dispatch.sdk.v1.CallResult",
    "exit": "dispatch.sdk.v1.Exit",
    "poll": "dispatch.sdk.v1.Poll",
    "poll_result": "dispatch.sdk.v1.PollResult",
    "run_request": "dispatch.sdk.v1.RunRequest",
    "run_response": "dispatch.sdk.v1.RunResponse",
    "dispatch_request": "dispatch.sdk.v1.DispatchRequest",
    "dispatch_response": "dispatch.sdk.v1.DispatchResponse",
}

SIGNATURE_HEADERS = {"content-digest", "signature-input", "signature"}


@dataclasses.dataclass
class Request:
    """A request as the API takes it: header lines may repeat."""

    method: str
    url: str
    headers: List[Tuple[str, str]]
    body: Union[bytes, str]


class VectorFailure(Exception):
    pass


def expect(condition, why):
    if not condition:
        raise VectorFailure(why)


def only_known(obj, known, where="vector"):
    unknown = set(obj) - set(known)
    expect(not unknown, f"{where}: unknown fields {sorted(unknown)}")


def vector_files():
    files = []
    for root in vector_roots():
        found = False
        for part in ("messages", "signatures"):
            folder = root / part
            if folder.is_dir():
                for path in sorted(folder.glob("*.json")):
                    files.append(pytest.param(part, path, id=f"{root.name}/{part}/{path.name}"))
                    found = True
        if not found:
            files.append(pytest.param("missing", root, id=f"{root}: no vector files"))
    return files


@pytest.mark.parametrize("part,path", vector_files())
def test_vector_file(part, path, tally):
    assert part != "missing", f"{path} holds no messages/ or signatures/ vector files"
    doc = json.loads(path.read_text())
    vectors = doc.get("vectors")
    assert isinstance(vectors, list), f"{path}: no vectors array"
    if part == "signatures":
        run = signatures_runner(doc.get("set", ""), path)
    else:
        run = messages_runner(doc.get("category", ""), path)
    failures = []
    for vector in vectors:
        name = vector.get("category") if part == "messages" else doc["set"]
        tally.vector_not_applicable = False
        try:
            run(vector, tally)
        except VectorFailure as failure:
            failures.append(f"{vector.get('id', '?')}: {failure}")
        if not tally.vector_not_applicable:
            tally.ran[name] += 1
    assert not failures, "\n".join(failures)


# ---------------------------------------------------------------------------
# signatures/


def signatures_runner(set_name, path):
    if set_name == "verification-keys":
        return run_key_vector
    if set_name == "content-digest":
        return run_digest_vector
    if set_name in REQUEST_SETS:
        seeds = signing_seeds(path)
        return lambda vector, tally: run_request_vector(vector, seeds, tally)
    pytest.fail(f"{path}: unknown signature vector set {set_name!r}")


def signing_seeds(path):
    """Key name -> seed, from the built-in vectors and those next to `path`."""
    seeds = {}
    for folder in (vector_roots()[0] / "signatures", path.parent):
        for other in sorted(folder.glob("*.json")):
            for vector in json.loads(other.read_text()).get("vectors", []):
                key = vector.get("verification_key") or {}
                if "name" in key and "private_seed_b64" in key:
                    seeds[key["name"]] = key["private_seed_b64"]
    return seeds


def check_outcome(expected, call):
    """Runs `call` and compares its outcome with `expected_project`."""
    only_known(expected, {"verdict", "http_status", "code", "reason"}, "expected_project")
    try:
        call()
    except dispatch_core.VerificationError as refused:
        expect(expected["verdict"] == "invalid", f"expected valid, got {refused.reason} ({refused})")
        got = (refused.reason, refused.status, refused.code)
        want = (expected["reason"], expected["http_status"], expected["code"])
        expect(got == want, f"expected {want}, got {got}")
        cls = dispatch_core.Unauthenticated if refused.status == 401 else dispatch_core.PermissionDenied
        expect(type(refused) is cls, f"{type(refused).__name__} for status {refused.status}")
        body = json.loads(refused.body)
        expect(body == {"code": refused.code, "message": refused.message}, f"bad body {body}")
        return
    expect(expected["verdict"] == "valid", f"expected {expected.get('reason')}, but it verified")


def run_key_vector(vector, tally):
    expect(vector.get("source") in ("argument", "env"), f"unknown source {vector.get('source')!r}")
    expected = vector["expected_project"]
    try:
        key = dispatch_core.parse_verification_key(vector["input"])
    except dispatch_core.InvalidKey as refused:
        expect(expected["result"] == "error", f"expected {expected['result']}, got {refused.reason}")
        expect(isinstance(refused, ValueError), "InvalidKey is not a ValueError")
        return
    if key is None:
        expect(expected["result"] == "none", f"expected {expected['result']}, got no key")
        return
    expect(expected["result"] == "ok", f"expected {expected['result']}, got a key")
    expect(key.base64() == expected["public_raw_b64"], f"parsed {key.base64()}")
    expect(base64.b64encode(key.raw()).decode() == expected["public_raw_b64"], "raw bytes differ")
    expect(dispatch_core.VerificationKey.from_bytes(key.raw()) == key, "from_bytes differs")
    expect(dispatch_core.parse_verification_key(key.pem()) == key, "pem does not read back")


def run_digest_vector(vector, tally):
    only_known(vector, DIGEST_VECTOR_FIELDS)
    body = base64.b64decode(vector["body_b64"])
    expect(len(body) == vector["body_len"], "body_len does not match body_b64")
    ours = dispatch_core.content_digest(body)
    expect(ours == f"sha-512=:{vector['sha512_b64']}:", f"our digest {ours}")
    dispatch_core.check_content_digest(ours, body)
    dispatch_core.check_content_digest(f"sha-256=:{vector['sha256_b64']}:", body)
    check_outcome(
        vector["expected_project"],
        lambda: dispatch_core.check_content_digest(vector["content_digest"], body),
    )


def request_of(vector):
    raw = vector["request"]
    only_known(raw, {"method", "url", "headers", "body_b64", "body_len"}, "request")
    headers = []
    for line in raw["headers"]:
        expect(
            isinstance(line, list) and len(line) == 2 and all(isinstance(p, str) for p in line),
            f"bad header line {line!r}",
        )
        headers.append((line[0], line[1]))
    body = base64.b64decode(raw["body_b64"])
    expect(len(body) == raw["body_len"], "body_len does not match body_b64")
    return Request(raw["method"], raw["url"], headers, body)


def run_request_vector(vector, seeds, tally):
    only_known(vector, REQUEST_VECTOR_FIELDS)
    request = request_of(vector)
    key_fields = vector["verification_key"]
    only_known(
        key_fields,
        {"name", "public_raw_b64", "public_pem", "private_seed_b64", "private_pem"},
        "verification_key",
    )
    key = dispatch_core.parse_verification_key(key_fields["public_raw_b64"])
    expect(key is not None, "no verification key")
    expect(
        dispatch_core.parse_verification_key(key_fields["public_pem"]) == key,
        "public_pem is another key",
    )
    expected = vector["expected_project"]
    check_outcome(
        expected,
        lambda: dispatch_core.verify_request(
            request, key, now=vector["now"], max_age=vector["max_age_s"]
        ),
    )
    # The same request with its headers as a mapping, when no name repeats.
    names = [name.lower() for name, _ in request.headers]
    if len(set(names)) == len(names):
        as_mapping = dataclasses.replace(request, headers=dict(request.headers))
        check_outcome(
            expected,
            lambda: dispatch_core.verify_request(
                as_mapping, key, now=vector["now"], max_age=vector["max_age_s"]
            ),
        )
    signing = vector["signing"]
    if signing is not None:
        reproduce_signing(vector, request, signing, seeds, tally)


def canonical(dictionary):
    """An RFC 8941 dictionary re-serialized (http_sfv, dispatch-py's parser)."""
    parsed = http_sfv.Dictionary()
    parsed.parse(dictionary.encode())
    return str(parsed)


def reproduce_signing(vector, request, signing, seeds, tally):
    """dispatch-py's own signer: our sign_request, given its component order,
    must give the same headers byte for byte when the vector is valid."""
    only_known(
        signing,
        {"signer", "key", "created", "component_order", "signature_base"},
        "signing",
    )
    expect(signing["signature_base"] == vector["signature_base"], "two signature bases")
    if signing["signer"] != "dispatch.signature.sign_request":
        tally.ran["signed by another signer (verified only)"] += 1
        return
    expect(signing["key"] in seeds, f"no seed for key {signing['key']!r}")
    private = dispatch_core.parse_signing_key(seeds[signing["key"]])
    unsigned = dataclasses.replace(
        request,
        headers=[(n, v) for n, v in request.headers if n.lower() not in SIGNATURE_HEADERS],
    )
    try:
        ours = dispatch_core.sign_request(
            unsigned, private, signing["created"], components=signing["component_order"]
        )
    except dispatch_core.SigningError as failure:
        expect(vector["expected_project"]["verdict"] == "invalid", f"cannot sign: {failure}")
        return
    if vector["expected_project"]["verdict"] != "valid":
        tally.ran["signed, then changed (not reproduced)"] += 1
        return
    sent = {n.lower(): v for n, v in request.headers}
    # The request may carry other members, and non-canonical spacing.
    members = [member.strip() for member in sent["signature"].split(",")]
    expect(ours["Signature"] in members, f"our Signature {ours['Signature']}")
    expect(ours["Content-Digest"] == sent["content-digest"], "our Content-Digest differs")
    expect(
        canonical(ours["Signature-Input"]) == canonical(sent["signature-input"]),
        "our Signature-Input differs",
    )
    tally.ran["signed vectors reproduced byte for byte"] += 1


# ---------------------------------------------------------------------------
# messages/


def messages_runner(category, path):
    if category in MESSAGE_TYPES:
        return lambda vector, tally: run_message_vector(category, vector, tally)
    runners = {
        "connect_error": run_connect_error,
        "connect_http_inference": run_http_inference,
        "status_mapping": run_status_mapping,
        "signature": run_dispatch_py_signing,
        "endpoint_http": run_endpoint_http,
        "client_http": run_client_http,
    }
    if category not in runners:
        pytest.fail(f"{path}: unknown message vector category {category!r}")
    return runners[category]


def reencodes(message_type, data):
    again = dispatch_core.reencode_message(message_type, data)
    expect(again == data, f"{message_type} re-encodes as {again.hex()}")


def run_message_vector(category, vector, tally):
    message_type = vector["message_type"]
    expect(message_type == MESSAGE_TYPES[category], f"type {message_type} in {category}")
    data = bytes.fromhex(vector["binary_hex"])
    expect(len(data) == vector.get("binary_len", len(data)), "binary_len differs")
    reencodes(message_type, data)
    if "json" in vector:
        tally.not_applicable["json"] += 1
    if category == "status":
        status = dispatch_core.Status(vector["status_number"])
        expect(status.wire_name == vector["status_name"], f"{status.wire_name}")
        expect(status.temporary == vector["temporary"], f"temporary is {status.temporary}")
        expect(data == b"" or data == bytes([0x08, vector["status_number"]]), "not a bare status")
    if category == "any":
        inner = bytes.fromhex(vector["inner_value_hex"])
        expect(inner.hex() in data.hex(), "inner value is not in the Any")


def run_connect_error(vector, tally):
    code = vector["code"]
    expect(dispatch_core.code_grpc_number(code) == vector["code_number"], "gRPC number")
    expect(dispatch_core.code_http_status(code) == vector["http_status"], "HTTP status")
    expect(
        dispatch_core.code_from_http_status(vector["http_status"])
        == vector["http_status_reverse_inference"],
        "reverse inference",
    )
    expect(
        dispatch_core.status_from_connect_code(code).wire_name == vector["go_dispatch_status"],
        "go_dispatch_status",
    )
    body = vector["body"]
    message = body.get("message", "")
    if not body.get("details"):
        ours = json.loads(dispatch_core.error_json(code, message))
        expect(ours == body, f"error_json gives {ours}")
    classified = dispatch_core.classify_response(
        vector["http_status"], vector["content_type"], vector["body_text"].encode()
    )
    expect(classified == (code, message), f"classified as {classified}")


def run_http_inference(vector, tally):
    classified = dispatch_core.classify_response(
        vector["http_status"], vector["content_type"], vector["body_text"].encode()
    )
    expect(classified is not None, "classified as a success")
    expect(classified[0] == vector["expected_code"], f"code {classified[0]}")
    if vector.get("expected_message") is not None:
        expect(classified[1] == vector["expected_message"], f"message {classified[1]!r}")


def run_status_mapping(vector, tally):
    kind = vector.get("kind")
    if kind == "http_status":
        got = dispatch_core.status_from_http_status(vector["input"])
    elif kind == "connect_code":
        got = dispatch_core.status_from_connect_code(vector["input"])
    elif f"status_mapping/{kind}" in NOT_APPLICABLE:
        tally.not_applicable[f"status_mapping/{kind}"] += 1
        tally.vector_not_applicable = True
        return
    else:
        raise VectorFailure(f"kind {kind!r} is not understood")
    expect(got.wire_name == vector["expected_status"], f"got {got.wire_name}")


def run_dispatch_py_signing(vector, tally):
    only_known(
        vector,
        {
            "id", "description", "private_key_seed_hex", "public_key_b64", "request",
            "created_unix", "headers_out", "signature_label", "signature_base",
            "tampered_body_result", "category",
        },
    )
    seed = base64.b64encode(bytes.fromhex(vector["private_key_seed_hex"])).decode()
    private = dispatch_core.parse_signing_key(seed)
    public = dispatch_core.parse_verification_key(vector["public_key_b64"])
    expect(private.verification_key() == public, "public_key_b64 is not the seed's")
    raw = vector["request"]
    only_known(raw, {"method", "url", "headers_in", "body_hex"}, "request")
    body = bytes.fromhex(raw["body_hex"])
    request = Request(raw["method"], raw["url"], list(raw["headers_in"].items()), body)
    out = vector["headers_out"]
    only_known(out, {"Content-Digest", "Signature-Input", "Signature"}, "headers_out")
    expect(vector["signature_label"] == "dispatch", "not the scheduler's label")
    order = out["Signature-Input"].split("(", 1)[1].split(")", 1)[0].replace('"', "").split(" ")
    ours = dispatch_core.sign_request(request, private, vector["created_unix"], components=order)
    expect(ours == out, f"our headers {ours}")
    signed = dataclasses.replace(request, headers=request.headers + list(out.items()))
    dispatch_core.verify_request(signed, public, now=vector["created_unix"])
    tampered = dataclasses.replace(signed, body=body + b"x")
    with_refusal = None
    try:
        dispatch_core.verify_request(tampered, public, now=vector["created_unix"])
    except dispatch_core.PermissionDenied as refused:
        with_refusal = refused.reason
    expect(with_refusal == "digest-mismatch", f"a tampered body gave {with_refusal}")


def run_endpoint_http(vector, tally):
    request = vector["request"]
    # The signed vector records no headers (they varied); its body is proto.
    headers = request.get("headers")
    headers = headers if isinstance(headers, dict) else {}
    content_type = headers.get("Content-Type", "application/proto")
    body = bytes.fromhex(request["body_hex"])
    if content_type == "application/proto":
        reencodes("dispatch.sdk.v1.RunRequest", body)
    elif content_type == "application/json":
        tally.not_applicable["json"] += 1
    else:
        raise VectorFailure(f"request Content-Type {content_type!r} is not understood")
    response = vector["response"]
    if response["status"] == 200:
        if vector["body_deterministic"]:
            reencodes("dispatch.sdk.v1.RunResponse", bytes.fromhex(response["body_hex"]))
        else:
            tally.not_applicable["json"] += 1
        return
    classified = dispatch_core.classify_response(
        response["status"], response["content_type"], response["body_text"].encode()
    )
    expect(classified is not None, "an error reply classified as a success")
    if vector.get("connect_client_code"):
        expect(classified[0] == vector["connect_client_code"], f"client code {classified[0]}")


def run_client_http(vector, tally):
    request = vector["request"]
    expect(request["sdk_headers"]["Content-Type"] == "application/proto", "not proto")
    reencodes("dispatch.sdk.v1.DispatchRequest", bytes.fromhex(request["body_hex"]))
    response = vector["server_response"]
    if response["status"] == 200:
        reencodes("dispatch.sdk.v1.DispatchResponse", bytes.fromhex(response["body_hex"]))
        expect("returns" in vector["sdk_result"], "a 200 reply without ids")
    else:
        expect(vector["sdk_result"].get("status") == response["status"], "the SDK raised otherwise")
        classified = dispatch_core.classify_response(
            response["status"], response["content_type"], bytes.fromhex(response["body_hex"])
        )
        expect(classified is not None, "an error reply classified as a success")
    tally.not_applicable["json"] += 1
