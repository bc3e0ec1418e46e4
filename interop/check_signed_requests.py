"""Check (a): requests signed by dispatch-py's own `sign_request` are accepted
by our endpoint (`dispatch serve`), and tampered ones are refused.

usage: check_signed_requests.py ENDPOINT_URL PRIVATE_KEY_PEM OTHER_PRIVATE_KEY_PEM

ENDPOINT_URL runs `dispatch serve` with DISPATCH_VERIFICATION_KEY set to the
public half of PRIVATE_KEY_PEM (written by `dispatch keygen`, so loading it
here also checks our PKCS#8 PEM against `cryptography`).
"""

import sys
import urllib.error
import urllib.request
from datetime import datetime

from google.protobuf import any_pb2, wrappers_pb2
from http_message_signatures.structures import CaseInsensitiveDict

from dispatch.sdk.v1 import function_pb2, status_pb2
from dispatch.signature import private_key_from_pem, sign_request
from dispatch.signature.request import Request

endpoint, key_path, other_key_path = sys.argv[1:4]
url = endpoint.rstrip("/") + "/dispatch.sdk.v1.FunctionService/Run"
key = private_key_from_pem(open(key_path).read())
other_key = private_key_from_pem(open(other_key_path).read())

failures = []


def check(name, ok, detail=""):
    print(f"  {'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}")
    if not ok:
        failures.append(name)


def run_request(name):
    value = any_pb2.Any()
    value.Pack(wrappers_pb2.StringValue(value=name))
    return function_pb2.RunRequest(
        function="greet", dispatch_id=f"py-signed-{name}", input=value
    ).SerializeToString()


def signed(body, signing_key):
    request = Request(
        method="POST",
        url=url,
        headers=CaseInsensitiveDict({"Content-Type": "application/proto"}),
        body=body,
    )
    sign_request(request, signing_key, datetime.now())
    return dict(request.headers)


def post(headers, body):
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("Content-Type"), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type"), error.read()


print("(a) dispatch-py sign_request -> our endpoint")

body = run_request("python")
headers = signed(body, key)
status, content_type, answer = post(headers, body)
check("a request signed by dispatch-py is accepted (200)", status == 200, f"{status} {answer!r}")
if status == 200:
    response = function_pb2.RunResponse.FromString(answer)
    output = wrappers_pb2.StringValue()
    response.exit.result.output.Unpack(output)
    check(
        "the function ran and answered",
        response.status == status_pb2.STATUS_OK and output.value == "Hello, python!",
        str(response),
    )

tampered = bytearray(body)
tampered[-1] ^= 1
status, content_type, answer = post(headers, bytes(tampered))
check("a tampered body is refused with 403", status == 403, f"{status} {answer!r}")
check("the refusal is Connect JSON permission_denied",
      content_type == "application/json" and b'"code":"permission_denied"' in answer, repr(answer))

moved = dict(headers)
status, _, answer = post({**moved, "Content-Type": "application/json"}, body)
check("a changed covered header is refused", status in (401, 403), f"{status} {answer!r}")

status, _, answer = post(signed(body, other_key), body)
check("a request signed with another key is refused with 403", status == 403, f"{status} {answer!r}")

status, _, answer = post({"Content-Type": "application/proto"}, body)
check("an unsigned request is refused with 401", status == 401, f"{status} {answer!r}")

if failures:
    print(f"(a) FAILED: {len(failures)} check(s)")
    sys.exit(1)
print("(a) passed")
