"""Speed of dispatch_core against dispatch-py 0.8.0, both measured in this run.

usage: python bench/bench.py [--seconds S] [--skip-endpoint]

1. verify: dispatch-py's `dispatch.signature.verify_request`, then
   `dispatch_core.verify_request` and `dispatch_core.compat.verify_request`,
   on the same signed request with a 1 KiB body, in one thread; microseconds
   per verification and the ratios.
2. endpoint: dispatch-py's aiohttp endpoint (`dispatch.run_forever()`),
   unpatched and then with the one-line patch, pinned to CPU 0; a closed loop
   of 16 keep-alive HTTP/1.1 connections from this process, pinned to CPU 1,
   each sending the next signed Run request as soon as the previous answer
   arrives. Requests are signed beforehand (each with its own dispatch id,
   since dispatch-py answers 500 to a repeated one); signed requests per
   second, and the ratio. Every answer must be 200. Beside the rate, the
   server's own CPU time per request (user + system, from /proc): on a busy
   machine the rate also measures the load generator's share of its core,
   while CPU time per request is the server's cost alone, and its inverse is
   the rate the server would reach on a core of its own.

Only 127.0.0.1 is a target; the servers are stopped by their process ids;
every phase is bounded in time.
"""

import argparse
import asyncio
import base64
import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from dispatch.any import marshal_any
from dispatch.proto import Arguments
from dispatch.sdk.v1 import function_pb2 as function_pb
from http_message_signatures.structures import CaseInsensitiveDict

import dispatch.signature as dispatch_signature
import dispatch_core
import dispatch_core.compat

HERE = os.path.dirname(os.path.abspath(__file__))
ENDPOINT = os.path.join(HERE, "..", "tests", "live_endpoint.py")
RUN = "/dispatch.sdk.v1.FunctionService/Run"
SEED = b"\x5a" * 32
CONNECTIONS = 16


def timed(call, seconds):
    """Calls per second of `call`, over about `seconds` (after a warm-up)."""
    for _ in range(50):
        call()
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(100):
            call()
        count += 100
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def bench_verify(seconds):
    private = Ed25519PrivateKey.from_private_bytes(SEED)
    public = private.public_key()
    body = bytes(range(256)) * 4  # 1 KiB
    url = f"https://my-app.example.com{RUN}"
    request = dispatch_signature.Request(
        "POST", url, CaseInsensitiveDict({"Content-Type": "application/proto"}), body
    )
    dispatch_signature.sign_request(request, private, datetime.now())
    core_key = dispatch_core.parse_signing_key(base64.b64encode(SEED).decode()).verification_key()
    max_age = timedelta(minutes=5)

    theirs = timed(lambda: dispatch_signature.verify_request(request, public, max_age), seconds)
    ours = timed(lambda: dispatch_core.verify_request(request, core_key), seconds)
    compat = timed(lambda: dispatch_core.compat.verify_request(request, public, max_age), seconds)
    print("verify, signed request with a 1 KiB body, one thread:")
    print(f"  dispatch-py verify_request:          {1e6 / theirs:8.1f} us")
    print(f"  dispatch_core.verify_request:        {1e6 / ours:8.1f} us  ({ours / theirs:.1f}x)")
    print(f"  dispatch_core.compat.verify_request: {1e6 / compat:8.1f} us  ({compat / theirs:.1f}x)")
    return theirs, ours, compat


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_endpoint(port, patched):
    key = dispatch_core.parse_signing_key(base64.b64encode(SEED).decode())
    env = {
        **os.environ,
        "DISPATCH_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "DISPATCH_ENDPOINT_ADDR": f"127.0.0.1:{port}",
        "DISPATCH_VERIFICATION_KEY": key.verification_key().base64(),
        "DISPATCH_API_KEY": "bench",
        "DISPATCH_API_URL": "http://127.0.0.1:1",
    }
    args = [sys.executable, ENDPOINT] + (["patched"] if patched else [])
    process = subprocess.Popen(
        args,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: os.sched_setaffinity(0, {0}),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the endpoint exited")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("the endpoint did not listen")


def signed_requests(port, count):
    """`count` raw HTTP/1.1 requests, signed now, each with its own dispatch id."""
    key = dispatch_core.parse_signing_key(base64.b64encode(SEED).decode())
    url = f"http://127.0.0.1:{port}{RUN}"
    created = int(time.time())
    raw = []
    for _ in range(count):
        body = function_pb.RunRequest(
            function="greet",
            dispatch_id=uuid.uuid4().hex,
            input=marshal_any(Arguments(("bench",), {})),
        ).SerializeToString()
        headers = {"Content-Type": "application/proto"}
        request = dispatch_signature.Request("POST", url, headers, body)
        headers.update(dispatch_core.sign_request(request, key, created))
        head = f"POST {RUN} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        head += f"Content-Length: {len(body)}\r\n\r\n"
        raw.append(head.encode() + body)
    return raw


def cpu_seconds(pid):
    """User + system CPU time of process `pid` so far, in seconds (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def closed_loop(port, requests, seconds, server_pid):
    """Signed requests answered per second by the server on `port`, and the
    server's CPU seconds per answered request."""
    queue = iter(requests)
    answered, failures = [0], [0]
    measuring = [False]
    stop = time.monotonic() + 1 + seconds

    async def connection():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < stop:
                request = next(queue, None)
                if request is None:
                    raise RuntimeError("ran out of signed requests: raise the count")
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                if measuring[0]:
                    answered[0] += 1
                    failures[0] += status != 200
        finally:
            writer.close()

    tasks = [asyncio.ensure_future(connection()) for _ in range(CONNECTIONS)]
    await asyncio.sleep(1)  # warm-up
    measuring[0] = True
    start, cpu_start = time.monotonic(), cpu_seconds(server_pid)
    await asyncio.gather(*tasks)
    elapsed, cpu = time.monotonic() - start, cpu_seconds(server_pid) - cpu_start
    return answered[0] / elapsed, cpu / max(answered[0], 1), failures[0]


def bench_endpoint(seconds):
    os.sched_setaffinity(0, {1})
    rates, costs = {}, {}
    for patched in (False, True):
        port = free_port()
        # Enough for the fastest rate seen here, with room to spare.
        requests = signed_requests(port, int((seconds + 1) * 12000))
        process = start_endpoint(port, patched)
        try:
            rate, cost, failures = asyncio.run(closed_loop(port, requests, seconds, process.pid))
        finally:
            process.terminate()
            process.wait(timeout=10)
        if failures:
            raise SystemExit(f"{failures} answers were not 200")
        rates[patched], costs[patched] = rate, cost
    print(f"endpoint, dispatch-py aiohttp on CPU 0, {CONNECTIONS} connections from CPU 1:")
    for patched, name in ((False, "unpatched:"), (True, "patched (one line):")):
        print(f"  {name:<30}{rates[patched]:8.0f} signed requests/s, "
              f"server CPU {costs[patched] * 1e6:6.1f} us/request")
    print(f"  ratio: {rates[True] / rates[False]:.2f}x the rate, "
          f"{costs[False] / costs[True]:.2f}x less server CPU per request")
    return rates


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--skip-endpoint", action="store_true")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, cpus {os.cpu_count()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    bench_verify(min(args.seconds, 3.0))
    if not args.skip_endpoint:
        if len(os.sched_getaffinity(0)) < 2:
            print("endpoint: SKIPPED: needs two CPUs (server and load generator apart)")
        else:
            bench_endpoint(args.seconds)


if __name__ == "__main__":
    main()
