"""Our scheduler's wait route (GET /_dispatch/v1/runs/<id>, not part of the
Dispatch protocol), as the interop checks read it. Environment:
DISPATCH_API_URL (our scheduler) and DISPATCH_API_KEY (its key)."""

import base64
import json
import os
import pickle
import time
import urllib.request

API_URL = os.environ["DISPATCH_API_URL"].rstrip("/")
API_KEY = os.environ["DISPATCH_API_KEY"]


def outcome(dispatch_id, api_url=API_URL, limit=90):
    """The run as our scheduler's wait route reports it, once done."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        request = urllib.request.Request(
            f"{api_url}/_dispatch/v1/runs/{dispatch_id}?wait_ms=10000",
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            info = json.loads(response.read())
        if info.get("done"):
            return info
    raise TimeoutError(f"run {dispatch_id} not done after {limit} s")


def value_of(info):
    """The Python value of a run's output: unpickled, or a wrapper's value."""
    output = (info.get("result") or {}).get("output") or {}
    if "pickledValue" in output:
        return pickle.loads(base64.b64decode(output["pickledValue"]))
    return output.get("value")
