"""A dispatch-py 0.8.0 aiohttp endpoint for test_live.py, configured from
the environment like any dispatch-py application (DISPATCH_ENDPOINT_URL,
DISPATCH_ENDPOINT_ADDR, DISPATCH_VERIFICATION_KEY, DISPATCH_API_KEY,
DISPATCH_API_URL). With the argument `patched`, it first applies the
README's one line."""

import sys

import dispatch
import dispatch.http

if sys.argv[1:] == ["patched"]:
    import dispatch_core.compat

    dispatch.http.verify_request = dispatch_core.compat.verify_request


@dispatch.function
def greet(name: str) -> str:
    return f"Hello, {name}!"


dispatch.run_forever()
