// Type-checked by test/types.test.js (tsc --noEmit): the README's Worker
// and a use of every declared value, against index.d.ts. Never run.
import * as dc from "../../index.js";
import {
  RunRpc,
  RUN_PATH,
  packValue,
  unpackValue,
  type RunRequest,
  type RunResponseInput,
  type Verdict,
} from "../../index.js";

interface Env {
  DISPATCH_VERIFICATION_KEY: string;
}

let rpc: RunRpc | undefined;

const functions = {
  double(request: RunRequest): RunResponseInput {
    const n = request.input ? unpackValue(request.input) : null;
    if (typeof n !== "bigint") return { status: "STATUS_INVALID_ARGUMENT" };
    return { status: "STATUS_OK", exit: { result: { output: packValue(n * 2n) } } };
  },
};

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    rpc ??= new RunRpc({ verificationKey: env.DISPATCH_VERIFICATION_KEY });
    if (new URL(request.url).pathname !== RUN_PATH) return new Response("not found", { status: 404 });
    return rpc.handle(request, functions);
  },
};

export function everyValue(body: Uint8Array): void {
  const key = dc.parseVerificationKey("MCowBQYDK2VwAyEA") ?? dc.VerificationKey.fromBytes(new Uint8Array(32));
  const signing: dc.SigningKey = dc.parseSigningKey("");
  const request = { method: "POST", url: "https://x.example/", headers: [["Content-Type", "application/proto"]] as const, body };
  const headers: dc.SignatureHeaders = dc.signRequest(request, signing, { created: new Date() });
  const verdict: Verdict = dc.verifyRequest({ ...request, headers: { ...headers } }, key, { now: 0, maxAge: 300, skew: 5 });
  if (!verdict.ok) {
    const status: number = verdict.status;
    const refused: Response = dc.refusalResponse(verdict);
    void status, refused;
  }
  const same: boolean = dc.VERIFIED.ok && key.equals(signing.verificationKey());
  const text: string = dc.contentDigest(body) + key.base64() + key.pem() + signing.pem();
  const checked: Verdict = dc.checkContentDigest(text, body);
  const flat: string[] = dc.flattenHeaders(new Headers());
  const bytes: Uint8Array = dc.bodyBytes("x");
  const codes: dc.ConnectCode[] = dc.connectCodes();
  const json: Uint8Array = dc.errorJson("not_found", "no");
  const classified = dc.classifyResponse(404, "application/json", json);
  const code: dc.ConnectCodeName = classified?.code ?? dc.codeFromHttpStatus(404);
  const numbers: number = dc.codeHttpStatus(code) + dc.codeGrpcNumber(code);
  const statuses: dc.Status[] = dc.statuses();
  const s1: dc.Status = dc.statusFromHttpStatus(503);
  const s2: dc.Status = dc.statusFromConnectCode("unavailable");
  const s3: dc.Status | undefined = dc.status("STATUS_OK");
  const any: dc.Any = dc.packValue(1n);
  const value: dc.UnpackedValue = dc.unpackValue(any);
  const encoded: Uint8Array = dc.encodeRunResponse({ status: 0, poll: { calls: [{ function: "f", input: any }], maxWait: { seconds: 1 } } });
  const decoded: dc.RunResponse = dc.decodeRunResponse(encoded);
  const runRequest: dc.RunRequest = dc.decodeRunRequest(body);
  const again: Uint8Array = dc.reencodeMessage("dispatch.sdk.v1.RunRequest", body);
  const server = new dc.RunRpc({ bodyLimit: 1024 });
  const head = server.checkHead({ method: "POST", url: new URL("https://x.example" + dc.RUN_PATH) });
  if (head.ok) {
    const exchange: dc.RunExchange = head.exchange;
    const tooLarge: dc.Refusal | undefined = exchange.update(body);
    const finished = exchange.finish();
    if (finished instanceof dc.RunCall) {
      const answer: dc.RunAnswer = finished.encodeResponse(encoded);
      const refusal: dc.Refusal | undefined = finished.checkFunction(true);
      void answer, refusal, finished.crashed(), finished.deadlineExceeded(), finished.request(), finished.requestBytes();
    }
    void tooLarge;
  }
  const whole = server.checkRequest({ ...request, url: "https://x.example" + dc.RUN_PATH });
  if (whole.ok) whole.call.free();
  void same, checked, flat, bytes, codes, numbers, statuses, s1, s2, s3, value, decoded, runRequest, again, server.verifies, server.bodyLimit;
}
