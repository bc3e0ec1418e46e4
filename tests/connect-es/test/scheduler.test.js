// DispatchService/Dispatch on `dispatch scheduler`, driven by connect-node
// over HTTP/1.1 and HTTP/2 (h2c), in binary and JSON: valid dispatches, and
// refusals interleaved with valid calls on one kept-alive client.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import {
  API_KEY,
  AUTHORIZED,
  FORMATS,
  ITERATIONS,
  SCHEDULER_URL,
  SIGNED_ENDPOINT_URL,
  VERSIONS,
  call,
  counter,
  dispatchClient,
  functionClient,
  outcome,
  refusal,
  runRequest,
  text,
} from "./support.js";

for (const httpVersion of VERSIONS) {
  for (const format of FORMATS) {
    const options = { httpVersion, useBinaryFormat: format.useBinaryFormat };
    describe(`scheduler, HTTP/${httpVersion}, ${format.name}`, () => {
      test(`${ITERATIONS} valid dispatches succeed and each run ends STATUS_OK`, async () => {
        const { client, agent } = dispatchClient(options);
        const count = counter(`scheduler HTTP/${httpVersion} ${format.name}: valid dispatches`);
        count.agent = agent;
        const sent = new Map();
        for (let i = 0; i < ITERATIONS; i += 1) {
          // Sizes from a few bytes to 64 KiB, so some bodies take several writes.
          const value = text(`${httpVersion}-${format.name}-${i}`, (i * 2203) % 65536);
          const response = await client.dispatch({ calls: [call(SIGNED_ENDPOINT_URL, "echo", value)] }, AUTHORIZED);
          assert.equal(response.dispatchIds.length, 1);
          assert.ok(!sent.has(response.dispatchIds[0]), "dispatch ids are unique");
          sent.set(response.dispatchIds[0], value);
          count.calls += 1;
        }
        // Each run went to the verifying endpoint, signed, and came back.
        for (const [id, value] of sent) {
          const run = await outcome(id);
          assert.equal(run.status, "STATUS_OK", JSON.stringify(run));
          assert.equal(run.result.output.value, value);
        }
      });

      test(`${ITERATIONS} calls of a procedure the scheduler does not serve are unimplemented, each followed by a valid call`, async () => {
        const { client, agent } = dispatchClient(options);
        // FunctionService/Run sent to the scheduler, over the same connection.
        const { client: wrong } = functionClient(SCHEDULER_URL, { ...options, agent });
        const count = counter(`scheduler HTTP/${httpVersion} ${format.name}: unknown procedure interleaved with valid calls`);
        count.agent = agent;
        for (let i = 0; i < ITERATIONS; i += 1) {
          const error = await refusal(wrong.run(runRequest("echo", text(i, 256 * 1024)), AUTHORIZED));
          assert.equal(error.code, Code.Unimplemented, error.message);
          count.calls += 1;
          const response = await client.dispatch({ calls: [call(SIGNED_ENDPOINT_URL, "echo", `after ${i}`)] }, AUTHORIZED);
          assert.equal(response.dispatchIds.length, 1);
          count.calls += 1;
        }
      });

      test(`${ITERATIONS} rounds of refusals, each followed by a valid call on the same client`, async () => {
        const { client, agent } = dispatchClient(options);
        const count = counter(`scheduler HTTP/${httpVersion} ${format.name}: refusals interleaved with valid calls`);
        count.agent = agent;
        // Big bodies: a server that refused from the headers and closed
        // would break the client mid-write (the EPIPE of issue 16).
        const big = () => ({ calls: [call(SIGNED_ENDPOINT_URL, "echo", text("refused", 256 * 1024))] });
        const valid = async (label, headers = AUTHORIZED) => {
          const response = await client.dispatch({ calls: [call(SIGNED_ENDPOINT_URL, "echo", label)] }, headers);
          assert.equal(response.dispatchIds.length, 1, label);
          count.calls += 1;
        };
        for (let i = 0; i < ITERATIONS; i += 1) {
          const missing = await refusal(client.dispatch(big()));
          assert.equal(missing.code, Code.Unauthenticated, `missing key: ${missing.message}`);
          assert.match(missing.rawMessage, /missing Authorization/);
          count.calls += 1;
          await valid(`after missing key ${i}`);

          const wrong = await refusal(client.dispatch(big(), { headers: { authorization: `Bearer not-${API_KEY}` } }));
          assert.equal(wrong.code, Code.Unauthenticated, `wrong key: ${wrong.message}`);
          assert.match(wrong.rawMessage, /invalid API key/);
          count.calls += 1;
          // The scheme in lower case is as good (RFC 9110 11.1).
          await valid(`after wrong key ${i}`, { headers: { authorization: `bearer ${API_KEY}` } });

          const notBearer = await refusal(client.dispatch(big(), { headers: { authorization: `Basic ${API_KEY}` } }));
          assert.equal(notBearer.code, Code.Unauthenticated, `not Bearer: ${notBearer.message}`);
          count.calls += 1;
          await valid(`after a Basic authorization ${i}`);

          // A call with no function breaks a protocol rule: invalid_argument.
          const invalid = await refusal(client.dispatch({ calls: [call(SIGNED_ENDPOINT_URL, "", "x")] }, AUTHORIZED));
          assert.equal(invalid.code, Code.InvalidArgument, `bad call: ${invalid.message}`);
          count.calls += 1;
          await valid(`after a bad call ${i}`);

          const notUrl = await refusal(client.dispatch({ calls: [call("not a url", "echo", "x")] }, AUTHORIZED));
          assert.equal(notUrl.code, Code.InvalidArgument, `bad endpoint: ${notUrl.message}`);
          count.calls += 1;
          await valid(`after a bad endpoint ${i}`);
        }
      });
    });
  }
}
