"""Python Dispatch functions for the interop checks, on dispatch-py's default
registry (DISPATCH_ENDPOINT_URL and DISPATCH_API_KEY must be set before import).

* greet(name): a plain function;
* square(x): a plain function;
* sum_of_squares(n): a durable function that awaits square(1..n) through
  Dispatch (it suspends with a Poll and resumes with a PollResult);
* sum_of_slow_squares(n): the same over slow_square(x), which notes each
  delivery in the file INTEROP_MARKS names (if set), so that the restart
  check (e) can tell when the run is midway; there, the first delivery of
  each call takes 3 s and fails temporarily (STATUS_TIMEOUT), the next ones
  return at once.
"""

import os
import threading
import time

import dispatch


@dispatch.function
def greet(name: str) -> str:
    return f"Hello, {name}, from Python!"


@dispatch.function
def square(x: int) -> int:
    return x * x


@dispatch.function
async def sum_of_squares(n: int) -> int:
    values = await dispatch.gather(*[square(i) for i in range(1, n + 1)])
    return sum(values)


_marks_lock = threading.Lock()


@dispatch.function
def slow_square(x: int) -> int:
    marks = os.environ.get("INTEROP_MARKS")
    if marks:
        with _marks_lock:
            with open(marks, "a+") as f:
                f.seek(0)
                first = f"{x}" not in f.read().split()
                f.write(f"{x}\n")
        if first:
            # The first delivery of each call is slow and then fails
            # temporarily (check (e) kills the scheduler meanwhile): never
            # one that returned is delivered again, which dispatch-py 0.8.0
            # answers with a 500 (interop/README.md).
            time.sleep(3)
            raise TimeoutError("slow_square: the first delivery gives up")
    return x * x


@dispatch.function
async def sum_of_slow_squares(n: int) -> int:
    values = await dispatch.gather(*[slow_square(i) for i in range(1, n + 1)])
    return sum(values)
