#include <stdio.h>
#include <string.h>
#include "dispatch.h"

static DispatchStr s(const char *t) { return (DispatchStr){(const uint8_t *)t, strlen(t)}; }

int main(void) {
    const char *body = "\x0a\x05greet\x12\x00"; /* RunRequest{function: "greet", input: {}} */
    size_t body_len = 9;
    DispatchSigningKey *signer = NULL;
    DispatchVerificationKey *key = NULL;
    DispatchSignedHeaders sig;
    DispatchRefusal refusal;
    DispatchUrl url;
    dispatch_url_split(s("https://app.example.com/dispatch.sdk.v1.FunctionService/Run"), &url, NULL);
    DispatchHeader lines[4] = {{s("Content-Type"), {(const uint8_t *)"application/proto", 17}}};
    DispatchRequest req = {s("POST"), url.scheme, url.authority, url.path, url.query,
                           url.has_query, lines, 1};

    /* Sign as the scheduler does, then verify as an endpoint does. */
    dispatch_signing_key_parse(s("QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI="), &signer, NULL);
    dispatch_signing_key_verification_key(signer, &key, NULL);
    dispatch_sign_request(&req, (const uint8_t *)body, body_len, signer, 1700000000, NULL, 0, &sig, NULL);
    lines[1] = (DispatchHeader){s("Content-Digest"), {sig.content_digest.data, sig.content_digest.len}};
    lines[2] = (DispatchHeader){s("Signature-Input"), {sig.signature_input.data, sig.signature_input.len}};
    lines[3] = (DispatchHeader){s("Signature"), {sig.signature.data, sig.signature.len}};
    req.headers_len = 4;
    DispatchResult rc = dispatch_verify_request(&req, (const uint8_t *)body, body_len, key,
                                                1700000000, NULL, &refusal, NULL);
    if (rc == DISPATCH_RESULT_OK) printf("verified\n");
    /* A changed body: 403 digest-mismatch, with the Connect JSON to send. */
    rc = dispatch_verify_request(&req, (const uint8_t *)"x", 1, key, 1700000000, NULL, &refusal, NULL);
    if (rc == DISPATCH_RESULT_REFUSED)
        printf("%u %.*s\n", refusal.http_status, (int)refusal.body_len, (const char *)refusal.body);

    dispatch_signed_headers_free(&sig);
    dispatch_verification_key_free(key);
    dispatch_signing_key_free(signer);
    return 0;
}
