// FunctionService/Run on `dispatch serve`, driven by connect-node: unsigned
// calls to the verifying endpoint are refused (unauthenticated, HTTP 401),
// many on one kept-alive HTTP/1.1 connection; the scheduler's signed calls
// reach its functions (echo answers, an unknown function is not_found); the
// same functions answer connect-es directly on an endpoint without a key.

import assert from "node:assert/strict";
import http from "node:http";
import { describe, test } from "node:test";
import { toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { RunRequestSchema } from "../gen/dispatch/sdk/v1/function_pb.js";
import { Status } from "../gen/dispatch/sdk/v1/status_pb.js";
import {
  AUTHORIZED,
  FORMATS,
  ITERATIONS,
  OPEN_ENDPOINT_URL,
  SIGNED_ENDPOINT_URL,
  VERSIONS,
  call,
  counter,
  dispatchClient,
  functionClient,
  oneConnectionAgent,
  outcome,
  refusal,
  runRequest,
  text,
  unpackString,
} from "./support.js";

for (const httpVersion of VERSIONS) {
  for (const format of FORMATS) {
    const options = { httpVersion, useBinaryFormat: format.useBinaryFormat };
    describe(`endpoint, HTTP/${httpVersion}, ${format.name}`, () => {
      test(`${ITERATIONS} unsigned calls to the verifying endpoint are refused unauthenticated`, async () => {
        const { client, agent } = functionClient(SIGNED_ENDPOINT_URL, options);
        const count = counter(`endpoint HTTP/${httpVersion} ${format.name}: unsigned calls refused`);
        count.agent = agent;
        for (let i = 0; i < ITERATIONS; i += 1) {
          // Up to 256 KiB, refused from the headers before the body is read.
          const fn = i % 3 === 2 ? "no_such_function" : "echo";
          const error = await refusal(client.run(runRequest(fn, text(i, (i * 9157) % (256 * 1024)))));
          assert.equal(error.code, Code.Unauthenticated, `${fn}: ${error.message}`);
          count.calls += 1;
        }
      });

      test(`${ITERATIONS} calls of a procedure the endpoint does not serve are unimplemented, each followed by echo`, async () => {
        const { client, agent } = functionClient(OPEN_ENDPOINT_URL, options);
        // DispatchService/Dispatch sent to the endpoint, over the same connection.
        const { client: wrong } = dispatchClient({ ...options, agent, baseUrl: OPEN_ENDPOINT_URL });
        const count = counter(`endpoint HTTP/${httpVersion} ${format.name}: unknown procedure interleaved with echo`);
        count.agent = agent;
        for (let i = 0; i < ITERATIONS; i += 1) {
          const error = await refusal(wrong.dispatch({ calls: [call(OPEN_ENDPOINT_URL, "echo", text(i, 256 * 1024))] }));
          assert.equal(error.code, Code.Unimplemented, error.message);
          count.calls += 1;
          const response = await client.run(runRequest("echo", `after ${i}`));
          assert.equal(unpackString(response.directive.value.result.output), `after ${i}`);
          count.calls += 1;
        }
      });

      test(`${ITERATIONS} rounds of echo and an unknown function on the endpoint without a key`, async () => {
        const { client, agent } = functionClient(OPEN_ENDPOINT_URL, options);
        const count = counter(`endpoint HTTP/${httpVersion} ${format.name}: echo and not_found, unverified`);
        count.agent = agent;
        for (let i = 0; i < ITERATIONS; i += 1) {
          const value = text(`echo ${i}`, (i * 2203) % 65536);
          const response = await client.run(runRequest("echo", value));
          assert.equal(response.status, Status.OK);
          assert.equal(response.directive.case, "exit");
          assert.equal(unpackString(response.directive.value.result.output), value);
          count.calls += 1;

          const missing = await refusal(client.run(runRequest("no_such_function", value)));
          assert.equal(missing.code, Code.NotFound, missing.message);
          count.calls += 1;
        }
      });
    });
  }
}

describe("signed calls, sent by the scheduler to the verifying endpoint", () => {
  for (const format of FORMATS) {
    test(`${ITERATIONS} echo calls end STATUS_OK and ${ITERATIONS} unknown-function calls STATUS_NOT_FOUND (${format.name} Dispatch)`, async () => {
      const { client } = dispatchClient({ httpVersion: "1.1", useBinaryFormat: format.useBinaryFormat });
      const count = counter(`signed by the scheduler (${format.name} Dispatch): echo ok, unknown not_found`);
      const runs = [];
      for (let i = 0; i < ITERATIONS; i += 1) {
        const value = `signed ${format.name} ${i}`;
        const response = await client.dispatch(
          {
            calls: [call(SIGNED_ENDPOINT_URL, "echo", value), call(SIGNED_ENDPOINT_URL, "no_such_function", value)],
          },
          AUTHORIZED,
        );
        assert.equal(response.dispatchIds.length, 2);
        runs.push({ echo: response.dispatchIds[0], unknown: response.dispatchIds[1], value });
      }
      for (const { echo, unknown, value } of runs) {
        const echoed = await outcome(echo);
        assert.equal(echoed.status, "STATUS_OK", JSON.stringify(echoed));
        assert.equal(echoed.result.output.value, value);
        count.calls += 1;
        const missing = await outcome(unknown);
        // The signature was accepted (else STATUS_UNAUTHENTICATED); the
        // endpoint then found no such function.
        assert.equal(missing.status, "STATUS_NOT_FOUND", JSON.stringify(missing));
        assert.equal(missing.attempts, 1, "not_found is permanent: one attempt");
        count.calls += 1;
      }
    });
  }
});

// connect-es reports the Connect code, not the HTTP status; the status is
// checked here with node:http on one kept-alive connection, as connect-es
// would send the request.
test(`${ITERATIONS} unsigned posts on one HTTP/1.1 connection are answered 401 with the Connect JSON`, async () => {
  const agent = oneConnectionAgent();
  const count = counter("endpoint HTTP/1.1 raw: unsigned posts answered 401");
  count.agent = agent;
  for (let i = 0; i < ITERATIONS; i += 1) {
    const body = toBinary(RunRequestSchema, runRequest("echo", text(i, 128 * 1024)));
    const { status, json } = await new Promise((resolve, reject) => {
      const request = http.request(
        `${SIGNED_ENDPOINT_URL}/dispatch.sdk.v1.FunctionService/Run`,
        {
          method: "POST",
          agent,
          headers: {
            "content-type": "application/proto",
            "connect-protocol-version": "1",
            "content-length": body.byteLength,
          },
        },
        (response) => {
          const chunks = [];
          response.on("data", (chunk) => chunks.push(chunk));
          response.on("end", () => {
            try {
              resolve({ status: response.statusCode, json: JSON.parse(Buffer.concat(chunks).toString()) });
            } catch (error) {
              reject(error);
            }
          });
          response.on("error", reject);
        },
      );
      request.on("error", reject);
      request.end(body);
    });
    assert.equal(status, 401);
    assert.equal(json.code, "unauthenticated");
    count.calls += 1;
  }
});
