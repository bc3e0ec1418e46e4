"""Check (e): a dispatch-py durable function survives a SIGKILL of our
scheduler midway and a restart on the same SQLite file.

usage: check_restart.py dispatch N   (prints the dispatch id of sum_of_slow_squares(N))
       check_restart.py wait ID N [WHEN]
                                     (waits for it; it must end STATUS_OK with
                                      1 + 4 + ... + N*N; WHEN, in the line it
                                      prints, says what came between, "after
                                      the restart" by default)

Environment: as check_scheduler.py (DISPATCH_API_URL, DISPATCH_API_KEY,
DISPATCH_ENDPOINT_URL). scripts/interop kills and restarts the scheduler
between the two steps.
"""

import asyncio
import sys

import functions
from wait_route import outcome, value_of

if sys.argv[1] == "dispatch":
    print(asyncio.run(functions.sum_of_slow_squares.dispatch(int(sys.argv[2]))))
    sys.exit(0)

dispatch_id, n = sys.argv[2], int(sys.argv[3])
when = sys.argv[4] if len(sys.argv) > 4 else "after the restart"
info = outcome(dispatch_id, limit=120)
expected = sum(i * i for i in range(1, n + 1))
ok = info.get("status") == "STATUS_OK" and str(value_of(info)) == str(expected)
print(f"  {'ok  ' if ok else 'FAIL'} sum_of_slow_squares({n}) == {expected} {when}: {info.get('status')} {value_of(info)!r}, {info.get('attempts')} attempts")
sys.exit(0 if ok else 1)
