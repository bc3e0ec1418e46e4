// The Worker test/worker.test.js runs in workerd (miniflare): the Run RPC
// on the package's Workers build, with two small JavaScript functions.
// `double(n)` answers at once; `sumOfDoubles(n)` calls `double(1..n)` on
// this same Worker, suspends (its state, n, travels in the poll), and when
// the scheduler resumes it with the results, returns their sum.
import { RunRpc, RUN_PATH, packValue, unpackValue } from "../../dist/workerd.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function exit(value) {
  return { status: "STATUS_OK", exit: { result: { output: packValue(value) } } };
}

function failure(status, message) {
  return { status, exit: { result: { error: { type: "ValueError", message } } } };
}

function functions(endpoint) {
  return {
    double(request) {
      const n = unpackValue(request.input);
      if (typeof n !== "bigint") return failure("STATUS_INVALID_ARGUMENT", "double takes an integer");
      return exit(n * 2n);
    },
    sumOfDoubles(request) {
      if (request.input) {
        const n = unpackValue(request.input);
        if (typeof n !== "bigint" || n < 1n || n > 10n) {
          return failure("STATUS_INVALID_ARGUMENT", "sumOfDoubles takes 1 to 10");
        }
        const calls = [];
        for (let i = 1n; i <= n; i++) {
          calls.push({ correlationId: i, endpoint, function: "double", input: packValue(i) });
        }
        return {
          status: "STATUS_OK",
          poll: {
            coroutineState: encoder.encode(JSON.stringify({ n: Number(n) })),
            calls,
            minResults: Number(n),
            maxResults: Number(n),
            maxWait: { seconds: 60 },
          },
        };
      }
      const { coroutineState, results } = request.pollResult;
      const { n } = JSON.parse(decoder.decode(coroutineState));
      if (results.length !== n) return failure("STATUS_TEMPORARY_ERROR", `resumed with ${results.length} of ${n} results`);
      let sum = 0n;
      for (const result of results) {
        if (result.error) return failure("STATUS_TEMPORARY_ERROR", result.error.message);
        sum += unpackValue(result.output);
      }
      return exit(sum);
    },
  };
}

let rpc;

export default {
  async fetch(request, env) {
    // Built on the first request: the key comes from the Worker's bindings.
    rpc ??= new RunRpc({ verificationKey: env.DISPATCH_VERIFICATION_KEY });
    const url = new URL(request.url);
    if (url.pathname === "/health") return new Response("ok");
    if (url.pathname !== RUN_PATH) return new Response("not found", { status: 404 });
    return rpc.handle(request, functions(url.origin));
  },
};
