"""Python Dispatch functions for the interop checks, on dispatch-py's default
registry (DISPATCH_ENDPOINT_URL and DISPATCH_API_KEY must be set before import).

* greet(name): a plain function;
* square(x): a plain function;
* sum_of_squares(n): a durable function that awaits square(1..n) through
  Dispatch (it suspends with a Poll and resumes with a PollResult).
"""

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
