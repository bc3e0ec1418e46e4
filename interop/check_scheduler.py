"""Checks (b), (c) and (d): our scheduler with a dispatch-py endpoint and
dispatch-py's client.

usage: check_scheduler.py [OTHER_SCHEDULER_URL]

Environment: DISPATCH_API_URL (our scheduler), DISPATCH_API_KEY (its key),
DISPATCH_ENDPOINT_URL (the dispatch-py endpoint, verifying our scheduler's
signatures with DISPATCH_VERIFICATION_KEY). OTHER_SCHEDULER_URL, if given,
is a scheduler of ours signing with another key (same API key): the
dispatch-py endpoint must refuse its requests.

(b) requests signed by our scheduler are accepted by the dispatch-py endpoint
    and run a Python function;
(c) our scheduler drives a Python durable function that awaits other calls
    (poll and resume) to completion;
(d) dispatch-py's client, pointed at our scheduler with DISPATCH_API_URL,
    submits calls (one, and a batch) and gets ids back; a wrong key is refused.
The outcomes are read through our scheduler's own wait route
(GET /_dispatch/v1/runs/<id>, not part of the protocol).
"""

import asyncio
import os
import sys

import dispatch
from dispatch.function import Client

import functions
from wait_route import outcome, value_of

API_URL = os.environ["DISPATCH_API_URL"].rstrip("/")
API_KEY = os.environ["DISPATCH_API_KEY"]
OTHER = sys.argv[1].rstrip("/") if len(sys.argv) > 1 else None

failures = []


def check(name, ok, detail=""):
    print(f"  {'ok  ' if ok else 'FAIL'} {name}{': ' + str(detail) if detail and not ok else ''}")
    if not ok:
        failures.append(name)


async def main():
    print("(d) dispatch-py's client -> our scheduler")
    greet_id = await functions.greet.dispatch("Rust")
    check("Function.dispatch returns an id", isinstance(greet_id, str) and greet_id != "", greet_id)
    batch = dispatch.batch()
    batch.add(functions.square, 7).add(functions.square, 8)
    batch_ids = await batch.dispatch()
    check("Batch.dispatch returns one id per call", len(batch_ids) == 2 and len(set(batch_ids)) == 2, batch_ids)
    try:
        await Client(api_key="not-the-key", api_url=API_URL).dispatch(
            [functions.greet.build_call("nobody")]
        )
        check("a wrong API key is refused", False, "no error")
    except PermissionError:
        check("a wrong API key is refused (PermissionError)", True)
    sum_id = await functions.sum_of_squares.dispatch(4)

    print("(b) our scheduler's signed requests -> dispatch-py endpoint")
    info = outcome(greet_id)
    check("greet ran in Python with STATUS_OK", info.get("status") == "STATUS_OK", info)
    check("its output came back", value_of(info) == "Hello, Rust, from Python!", value_of(info))
    squares = [value_of(outcome(i)) for i in batch_ids]
    check("the batch ran", [str(v) for v in squares] == ["49", "64"], squares)
    if OTHER:
        other_client = Client(api_key=API_KEY, api_url=OTHER)
        [other_id] = await other_client.dispatch([functions.greet.build_call("intruder")])
        info = outcome(other_id, api_url=OTHER)
        check(
            "requests signed with another key are refused by dispatch-py (PERMISSION_DENIED)",
            info.get("status") == "STATUS_PERMISSION_DENIED",
            info,
        )

    print("(c) our scheduler drives a Python durable function (poll and resume)")
    info = outcome(sum_id)
    check("sum_of_squares(4) ended STATUS_OK", info.get("status") == "STATUS_OK", info)
    check("sum_of_squares(4) == 30", str(value_of(info)) == "30", value_of(info))
    check("it was resumed at least once", info.get("attempts", 0) >= 2, info.get("attempts"))


asyncio.run(main())
if failures:
    print(f"(b)-(d) FAILED: {len(failures)} check(s)")
    sys.exit(1)
print("(b), (c), (d) passed")
