"""A dispatch-py 0.8.0 endpoint serving functions.py, configured like any
dispatch-py application: DISPATCH_ENDPOINT_URL, DISPATCH_ENDPOINT_ADDR,
DISPATCH_VERIFICATION_KEY (our scheduler's public key), DISPATCH_API_KEY and
DISPATCH_API_URL (our scheduler)."""

import logging

import dispatch

import functions  # noqa: F401  (registers the functions)

logging.basicConfig(level=logging.INFO, format="py-endpoint: %(levelname)s %(message)s")
dispatch.run_forever()
