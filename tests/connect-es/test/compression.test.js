// Connect compression with connect-node configured to send gzip (bodies of
// 16 bytes and more) and to accept it: the scheduler's Dispatch route and the
// endpoint's Run route take gzip bodies and answer gzip for bodies of 1 KiB
// and more.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { toBinary, toJsonString } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { DispatchResponseSchema } from "../gen/dispatch/sdk/v1/dispatch_pb.js";
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
  encodingRecorder,
  functionClient,
  outcome,
  refusal,
  runRequest,
  text,
  unpackString,
} from "./support.js";

/** Calls per Dispatch request: enough ids for a response over 1 KiB. */
const BATCH = 64;

for (const httpVersion of VERSIONS) {
  for (const format of FORMATS) {
    describe(`gzip, HTTP/${httpVersion}, ${format.name}`, () => {
      test(`${ITERATIONS} gzip Dispatch requests of ${BATCH} calls, answered in gzip`, async () => {
        const { seen, interceptor } = encodingRecorder();
        const { client, agent } = dispatchClient({
          httpVersion,
          useBinaryFormat: format.useBinaryFormat,
          gzip: true,
          interceptors: [interceptor],
        });
        const count = counter(`gzip scheduler HTTP/${httpVersion} ${format.name}: Dispatch`);
        count.agent = agent;
        let lastIds = [];
        for (let i = 0; i < ITERATIONS; i += 1) {
          const calls = Array.from({ length: BATCH }, (_, n) =>
            call(SIGNED_ENDPOINT_URL, "echo", `gzip ${httpVersion} ${format.name} ${i}.${n}`),
          );
          const response = await client.dispatch({ calls }, AUTHORIZED);
          assert.equal(response.dispatchIds.length, BATCH);
          const size = format.useBinaryFormat
            ? toBinary(DispatchResponseSchema, response).byteLength
            : Buffer.byteLength(toJsonString(DispatchResponseSchema, response));
          assert.ok(size >= 1024, `the response is ${size} bytes, under the 1 KiB the server compresses from`);
          const { sent, received, acceptEncoding } = seen.at(-1);
          assert.equal(sent, "gzip", "connect-es compressed the request");
          assert.equal(received, "gzip", "the scheduler compressed the response");
          assert.match(acceptEncoding ?? "", /gzip/);
          count.calls += 1;
          lastIds = response.dispatchIds;

          // A refused gzip request leaves the client as usable.
          const error = await refusal(client.dispatch({ calls }, { headers: { authorization: "Bearer wrong" } }));
          assert.equal(error.code, Code.Unauthenticated, error.message);
          count.calls += 1;
        }
        // The gzip calls were decoded as sent: the last batch ran through.
        const run = await outcome(lastIds.at(-1));
        assert.equal(run.status, "STATUS_OK", JSON.stringify(run));
        assert.equal(run.result.output.value, `gzip ${httpVersion} ${format.name} ${ITERATIONS - 1}.${BATCH - 1}`);
      });

      test(`${ITERATIONS} gzip Run requests to echo, answered in gzip from 1 KiB`, async () => {
        const { seen, interceptor } = encodingRecorder();
        const { client, agent } = functionClient(OPEN_ENDPOINT_URL, {
          httpVersion,
          useBinaryFormat: format.useBinaryFormat,
          gzip: true,
          interceptors: [interceptor],
        });
        const count = counter(`gzip endpoint HTTP/${httpVersion} ${format.name}: Run echo`);
        count.agent = agent;
        for (let i = 0; i < ITERATIONS; i += 1) {
          // 1.5 KiB to 65 KiB: every response is over the 1 KiB threshold.
          const value = text(`gzip echo ${i}`, 1536 + ((i * 2203) % 65536));
          const response = await client.run(runRequest("echo", value));
          assert.equal(response.status, Status.OK);
          assert.equal(unpackString(response.directive.value.result.output), value);
          const { sent, received } = seen.at(-1);
          assert.equal(sent, "gzip", "connect-es compressed the request");
          assert.equal(received, "gzip", "the endpoint compressed the response");
          count.calls += 1;

          // A small answer is sent as it is.
          const small = await client.run(runRequest("echo", `small ${i}`));
          assert.equal(unpackString(small.directive.value.result.output), `small ${i}`);
          assert.equal(seen.at(-1).received, null, "no gzip under 1 KiB");
          count.calls += 1;
        }
      });

      test(`${ITERATIONS} unsigned gzip Run requests to the verifying endpoint are refused unauthenticated`, async () => {
        const { client, agent } = functionClient(SIGNED_ENDPOINT_URL, {
          httpVersion,
          useBinaryFormat: format.useBinaryFormat,
          gzip: true,
        });
        const count = counter(`gzip endpoint HTTP/${httpVersion} ${format.name}: unsigned refused`);
        count.agent = agent;
        for (let i = 0; i < ITERATIONS; i += 1) {
          const error = await refusal(client.run(runRequest("echo", text(i, 4096 + i * 1024))));
          assert.equal(error.code, Code.Unauthenticated, error.message);
          count.calls += 1;
        }
      });
    });
  }
}
