/*
 * The C ABI from C: RFC 9421 B.2.6, a request signed as the scheduler signs
 * (one-shot, streamed, and through the Run RPC), tampered requests, the error
 * paths (NULL pointers, bad keys, bad lengths, bad state) and, run under
 * valgrind by scripts/ci/ffi, that nothing leaks.
 *
 *   cc -std=c11 -Wall -Wextra -Werror -I bindings/c/include bindings/c/tests/smoke.c \
 *      target/release/libdispatch_ffi.a -lpthread -ldl -lm -o /tmp/dispatch-smoke
 *   valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=all /tmp/dispatch-smoke
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"

static int passed, failed;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (cond) {                                                            \
            passed++;                                                          \
        } else {                                                               \
            failed++;                                                          \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
        }                                                                      \
    } while (0)

static DispatchStr str(const char *text) {
    DispatchStr s = {(const uint8_t *)text, strlen(text)};
    return s;
}

static DispatchBytes bytes_of(const void *data, size_t len) {
    DispatchBytes b = {(const uint8_t *)data, len};
    return b;
}

static int str_is(DispatchStr s, const char *text) {
    return s.len == strlen(text) && (s.len == 0 || memcmp(s.ptr, text, s.len) == 0);
}

static int buffer_is(DispatchBuffer b, const char *text) {
    return b.len == strlen(text) && (b.len == 0 || memcmp(b.data, text, b.len) == 0);
}

static DispatchHeader header(const char *name, const char *value) {
    DispatchHeader h = {str(name), bytes_of(value, strlen(value))};
    return h;
}

/* A request from its parts, with `n` header lines. */
static DispatchRequest request(const char *method, const char *url,
                               const DispatchHeader *headers, size_t n) {
    DispatchUrl parts;
    DispatchRequest r;
    memset(&r, 0, sizeof r);
    if (dispatch_url_split(str(url), &parts, NULL) != DISPATCH_RESULT_OK) {
        fprintf(stderr, "cannot split %s\n", url);
        exit(2);
    }
    r.method = str(method);
    r.scheme = parts.scheme;
    r.authority = parts.authority;
    r.path = parts.path;
    r.query = parts.query;
    r.has_query = parts.has_query;
    r.headers = headers;
    r.headers_len = n;
    return r;
}

/* RFC 9421 B.2.6, exactly as published: a valid Ed25519 signature, which the
 * Dispatch policy refuses (401, its keyid is not "default"). */
static void rfc9421_b26(void) {
    const char *body = "{\"hello\": \"world\"}";
    DispatchHeader headers[] = {
        header("Host", "example.com"),
        header("Date", "Tue, 20 Apr 2021 02:07:55 GMT"),
        header("Content-Type", "application/json"),
        header("Content-Digest",
               "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"),
        header("Content-Length", "18"),
        header("Signature-Input",
               "sig-b26=(\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" "
               "\"content-length\");created=1618884473;keyid=\"test-key-ed25519\""),
        header("Signature",
               "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:"),
    };
    DispatchRequest r = request("POST", "https://example.com/foo?param=Value&Pet=dog",
                                headers, sizeof headers / sizeof headers[0]);
    DispatchVerificationKey *key = NULL, *from_pem = NULL;
    DispatchSigningKey *private_key = NULL;
    DispatchVerificationKey *derived = NULL;
    DispatchRefusal refusal;
    DispatchError error;
    uint8_t raw[32], raw_pem[32], raw_derived[32];

    CHECK(str_is(r.path, "/foo") && r.has_query && str_is(r.query, "param=Value&Pet=dog"));
    CHECK(dispatch_verification_key_parse(str("JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs="),
                                          &key, &error) == DISPATCH_RESULT_OK);
    CHECK(dispatch_verification_key_parse(
              str("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=\n"
                  "-----END PUBLIC KEY-----\n"),
              &from_pem, NULL) == DISPATCH_RESULT_OK);
    CHECK(dispatch_verification_key_raw(key, raw, NULL) == DISPATCH_RESULT_OK);
    CHECK(dispatch_verification_key_raw(from_pem, raw_pem, NULL) == DISPATCH_RESULT_OK);
    CHECK(memcmp(raw, raw_pem, 32) == 0);
    /* The published private key is the public key's pair. */
    CHECK(dispatch_signing_key_parse(str("n4Ni+HpISpVObnQMW0wOhCKROaIKqKtW/2ZYb2p9KcU="),
                                     &private_key, NULL) == DISPATCH_RESULT_OK);
    CHECK(dispatch_signing_key_verification_key(private_key, &derived, NULL) == DISPATCH_RESULT_OK);
    CHECK(dispatch_verification_key_raw(derived, raw_derived, NULL) == DISPATCH_RESULT_OK);
    CHECK(memcmp(raw, raw_derived, 32) == 0);

    CHECK(dispatch_verify_request(&r, (const uint8_t *)body, strlen(body), key, 1618884483, NULL,
                                  &refusal, &error) == DISPATCH_RESULT_REFUSED);
    CHECK(error.result == DISPATCH_RESULT_REFUSED && error.message_len > 0);
    CHECK(refusal.http_status == 401 && refusal.code == 16);
    CHECK(str_is(refusal.code_name, "unauthenticated"));
    CHECK(str_is(refusal.reason, "unknown-keyid"));
    CHECK(refusal.body_len > 0 &&
          memcmp(refusal.body, "{\"code\":\"unauthenticated\",\"message\":\"", 37) == 0);
    /* The digest the published request carries is the body's. */
    CHECK(dispatch_content_digest_check(headers[3].value, bytes_of(body, strlen(body)), &refusal,
                                        NULL) == DISPATCH_RESULT_OK);

    dispatch_verification_key_free(key);
    dispatch_verification_key_free(from_pem);
    dispatch_verification_key_free(derived);
    dispatch_signing_key_free(private_key);
}

/* RunRequest{function: "greet", input: Any{}, dispatch_id: "d-1"}, binary protobuf. */
static const uint8_t RUN_REQUEST[] = {0x0a, 0x05, 'g', 'r', 'e', 'e', 't', 0x12, 0x00,
                                      0x22, 0x03, 'd',  '-', '1'};
#define RUN_URL "https://my-app.example.com/dispatch.sdk.v1.FunctionService/Run"
#define CREATED 1700000000

/* Copies a buffer into a NUL-terminated string (for building headers). */
static char *text_of(DispatchBuffer b) {
    char *text = malloc(b.len + 1);
    if (text == NULL) exit(2);
    memcpy(text, b.data, b.len);
    text[b.len] = 0;
    return text;
}

static void signed_as_the_scheduler(void) {
    DispatchSigningKey *private_key = NULL;
    DispatchVerificationKey *key = NULL;
    DispatchSignedHeaders signed_headers;
    DispatchRefusal refusal;
    DispatchError error;
    DispatchHeader unsigned_headers[] = {header("Content-Type", "application/proto")};
    DispatchRequest r = request("POST", RUN_URL, unsigned_headers, 1);
    uint8_t tampered[sizeof RUN_REQUEST];

    CHECK(dispatch_signing_key_parse(str("QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI="),
                                     &private_key, &error) == DISPATCH_RESULT_OK);
    CHECK(dispatch_signing_key_verification_key(private_key, &key, NULL) == DISPATCH_RESULT_OK);
    CHECK(dispatch_sign_request(&r, RUN_REQUEST, sizeof RUN_REQUEST, private_key, CREATED, NULL, 0,
                                &signed_headers, &error) == DISPATCH_RESULT_OK);
    CHECK(signed_headers.signature_input.len > 0 &&
          memcmp(signed_headers.signature_input.data,
                 "dispatch=(\"@method\" \"@path\" \"@authority\" \"content-type\" "
                 "\"content-digest\");created=1700000000;keyid=\"default\";alg=\"ed25519\"",
                 signed_headers.signature_input.len) == 0);
    CHECK(signed_headers.signature.len == strlen("dispatch=::") + 88);

    {
        char *digest = text_of(signed_headers.content_digest);
        char *input = text_of(signed_headers.signature_input);
        char *signature = text_of(signed_headers.signature);
        DispatchHeader headers[] = {
            header("Content-Type", "application/proto"),
            header("Content-Digest", digest),
            header("Signature-Input", input),
            header("Signature", signature),
        };
        DispatchRequest sr = request("POST", RUN_URL, headers, 4);
        DispatchRequest moved = request("POST", "https://my-app.example.com/elsewhere", headers, 4);
        DispatchBodyVerifier *verifier = NULL;
        DispatchContentDigest *hasher = NULL;
        DispatchBuffer ours = {NULL, 0};
        DispatchPolicy policy;
        size_t i;

        /* One shot, at the signing time and within the policy's age. */
        CHECK(dispatch_verify_request(&sr, RUN_REQUEST, sizeof RUN_REQUEST, key, CREATED, NULL,
                                      &refusal, &error) == DISPATCH_RESULT_OK);
        CHECK(error.result == DISPATCH_RESULT_OK && refusal.http_status == 0);
        CHECK(dispatch_policy_default(&policy, NULL) == DISPATCH_RESULT_OK);
        CHECK(policy.max_age_s == 300 && policy.max_clock_skew_s == 5);
        CHECK(dispatch_verify_request(&sr, RUN_REQUEST, sizeof RUN_REQUEST, key, CREATED + 300,
                                      &policy, &refusal, NULL) == DISPATCH_RESULT_OK);
        CHECK(dispatch_verify_request(&sr, RUN_REQUEST, sizeof RUN_REQUEST, key, CREATED + 400,
                                      &policy, &refusal, NULL) == DISPATCH_RESULT_REFUSED);
        CHECK(refusal.http_status == 403 && str_is(refusal.reason, "expired"));

        /* Streamed: headers, then the body a byte at a time. */
        CHECK(dispatch_verify_headers(&sr, key, CREATED, NULL, &verifier, &refusal, NULL) ==
              DISPATCH_RESULT_OK);
        for (i = 0; i < sizeof RUN_REQUEST; i++)
            CHECK(dispatch_body_verifier_update(verifier, RUN_REQUEST + i, 1, NULL) ==
                  DISPATCH_RESULT_OK);
        CHECK(dispatch_body_verifier_finish(verifier, &refusal, NULL) == DISPATCH_RESULT_OK);

        /* Tampered: a changed body byte, streamed and whole; another path. */
        memcpy(tampered, RUN_REQUEST, sizeof RUN_REQUEST);
        tampered[3] ^= 1;
        CHECK(dispatch_verify_request(&sr, tampered, sizeof tampered, key, CREATED, NULL, &refusal,
                                      NULL) == DISPATCH_RESULT_REFUSED);
        CHECK(refusal.http_status == 403 && str_is(refusal.reason, "digest-mismatch"));
        CHECK(str_is(refusal.code_name, "permission_denied") && refusal.code == 7);
        CHECK(dispatch_verify_headers(&sr, key, CREATED, NULL, &verifier, &refusal, NULL) ==
              DISPATCH_RESULT_OK);
        CHECK(dispatch_body_verifier_update(verifier, tampered, sizeof tampered, NULL) ==
              DISPATCH_RESULT_OK);
        CHECK(dispatch_body_verifier_finish(verifier, &refusal, NULL) == DISPATCH_RESULT_REFUSED);
        CHECK(refusal.http_status == 403 && str_is(refusal.reason, "digest-mismatch"));
        CHECK(dispatch_verify_request(&moved, RUN_REQUEST, sizeof RUN_REQUEST, key, CREATED, NULL,
                                      &refusal, NULL) == DISPATCH_RESULT_REFUSED);
        CHECK(refusal.http_status == 403 && str_is(refusal.reason, "signature-mismatch"));
        /* A verifier abandoned half-way is freed. */
        CHECK(dispatch_verify_headers(&sr, key, CREATED, NULL, &verifier, &refusal, NULL) ==
              DISPATCH_RESULT_OK);
        CHECK(dispatch_body_verifier_free(verifier) == DISPATCH_RESULT_OK);

        /* Content-Digest, incrementally: the signer's. */
        CHECK(dispatch_content_digest_new(&hasher, NULL) == DISPATCH_RESULT_OK);
        CHECK(dispatch_content_digest_update(hasher, RUN_REQUEST, 5, NULL) == DISPATCH_RESULT_OK);
        CHECK(dispatch_content_digest_update(hasher, RUN_REQUEST + 5, sizeof RUN_REQUEST - 5,
                                             NULL) == DISPATCH_RESULT_OK);
        CHECK(dispatch_content_digest_finish(hasher, &ours, NULL) == DISPATCH_RESULT_OK);
        CHECK(buffer_is(ours, digest));
        dispatch_buffer_free(&ours);
        CHECK(ours.data == NULL && ours.len == 0);
        CHECK(dispatch_buffer_free(&ours) == DISPATCH_RESULT_OK); /* harmless twice */
        CHECK(dispatch_content_digest_new(&hasher, NULL) == DISPATCH_RESULT_OK);
        CHECK(dispatch_content_digest_free(hasher) == DISPATCH_RESULT_OK);

        /* The Run RPC, with the key: head, body in two chunks, request, answer. */
        {
            DispatchRunRpc *rpc = NULL;
            DispatchRunExchange *exchange = NULL;
            DispatchRunHead head;
            DispatchRunCall call;
            DispatchRunAnswer answer;
            /* RunResponse{status: STATUS_OK (1), exit: Exit{result: CallResult{}}} */
            const uint8_t response[] = {0x08, 0x01, 0x12, 0x02, 0x0a, 0x00};
            /* RunResponse{poll: Poll{}}: a poll without max_wait is invalid. */
            const uint8_t invalid[] = {0x1a, 0x00};

            CHECK(dispatch_run_rpc_new(key, 0, NULL, &rpc, NULL) == DISPATCH_RESULT_OK);
            CHECK(dispatch_run_check_head(rpc, &sr, CREATED, &head, &exchange, &refusal, &error) ==
                  DISPATCH_RESULT_OK);
            CHECK(str_is(head.content_type, "application/proto") && !head.has_timeout);
            /* Out of order: no response before the request is accepted. */
            CHECK(dispatch_run_encode_response(exchange, response, sizeof response, &answer,
                                               &error) == DISPATCH_RESULT_BAD_STATE);
            CHECK(dispatch_run_exchange_update(exchange, RUN_REQUEST, 4, &refusal, NULL) ==
                  DISPATCH_RESULT_OK);
            CHECK(dispatch_run_exchange_update(exchange, RUN_REQUEST + 4, sizeof RUN_REQUEST - 4,
                                               &refusal, NULL) == DISPATCH_RESULT_OK);
            CHECK(dispatch_run_exchange_finish(exchange, &call, &refusal, &error) ==
                  DISPATCH_RESULT_OK);
            CHECK(str_is(call.function, "greet") && str_is(call.dispatch_id, "d-1"));
            CHECK(!call.is_poll_result && call.run_request.len == sizeof RUN_REQUEST);
            CHECK(dispatch_run_check_function(exchange, true, &refusal, NULL) == DISPATCH_RESULT_OK);
            CHECK(dispatch_run_check_function(exchange, false, &refusal, NULL) ==
                  DISPATCH_RESULT_REFUSED);
            CHECK(refusal.http_status == 404 && str_is(refusal.reason, "unknown-function"));
            CHECK(refusal.body_len == strlen("{\"code\":\"not_found\",\"message\":\"function \\\"greet\\\" does not exist\"}"));
            CHECK(dispatch_run_encode_response(exchange, response, sizeof response, &answer,
                                               NULL) == DISPATCH_RESULT_OK);
            CHECK(answer.http_status == 200 && !answer.output_replaced);
            CHECK(str_is(answer.content_type, "application/proto"));
            CHECK(answer.body.len == sizeof response &&
                  memcmp(answer.body.data, response, sizeof response) == 0);
            dispatch_run_answer_free(&answer);
            CHECK(answer.body.data == NULL);
            CHECK(dispatch_run_encode_response(exchange, invalid, sizeof invalid, &answer, NULL) ==
                  DISPATCH_RESULT_OK);
            CHECK(answer.http_status == 200 && answer.output_replaced && answer.body.len > 0);
            dispatch_run_answer_free(&answer);
            /* Not a RunResponse at all. */
            CHECK(dispatch_run_encode_response(exchange, (const uint8_t *)"\xff", 1, &answer,
                                               NULL) == DISPATCH_RESULT_INVALID_ARGUMENT);
            dispatch_run_exchange_free(exchange);

            /* The tampered body through the Run RPC: refused at the end of the body. */
            CHECK(dispatch_run_check_head(rpc, &sr, CREATED, &head, &exchange, &refusal, NULL) ==
                  DISPATCH_RESULT_OK);
            CHECK(dispatch_run_exchange_update(exchange, tampered, sizeof tampered, &refusal,
                                               NULL) == DISPATCH_RESULT_OK);
            CHECK(dispatch_run_exchange_finish(exchange, &call, &refusal, NULL) ==
                  DISPATCH_RESULT_REFUSED);
            CHECK(refusal.http_status == 403 && str_is(refusal.reason, "digest-mismatch"));
            CHECK(dispatch_run_exchange_finish(exchange, &call, &refusal, NULL) ==
                  DISPATCH_RESULT_BAD_STATE);
            dispatch_run_exchange_free(exchange);

            /* Unsigned, to an RPC with a key: 401 before any body. */
            CHECK(dispatch_run_check_head(rpc, &r, CREATED, &head, &exchange, &refusal, NULL) ==
                  DISPATCH_RESULT_REFUSED);
            CHECK(exchange == NULL && refusal.http_status == 401);
            dispatch_run_rpc_free(rpc);
        }

        free(digest);
        free(input);
        free(signature);
    }

    dispatch_signed_headers_free(&signed_headers);
    CHECK(signed_headers.signature.data == NULL);
    dispatch_signed_headers_free(&signed_headers); /* harmless twice */
    dispatch_verification_key_free(key);
    dispatch_signing_key_free(private_key);
}

static void the_run_rpc_without_a_key(void) {
    DispatchRunRpc *rpc = NULL;
    DispatchRunExchange *exchange = NULL;
    DispatchRunHead head;
    DispatchRefusal refusal;
    DispatchHeader json[] = {header("Content-Type", "application/json")};
    DispatchHeader proto[] = {header("Content-Type", "application/proto"),
                              header("Connect-Timeout-Ms", "1500")};
    DispatchRequest as_json = request("POST", RUN_URL, json, 1);
    DispatchRequest as_get = request("GET", RUN_URL, proto, 2);
    DispatchRequest small = request("POST", RUN_URL, proto, 2);

    CHECK(dispatch_run_rpc_new(NULL, 8, NULL, &rpc, NULL) == DISPATCH_RESULT_OK);
    /* JSON is not offered by this library: 415, naming what is. */
    CHECK(dispatch_run_check_head(rpc, &as_json, 0, &head, &exchange, &refusal, NULL) ==
          DISPATCH_RESULT_REFUSED);
    CHECK(refusal.http_status == 415 && str_is(refusal.header_name, "accept-post") &&
          str_is(refusal.header_value, "application/proto"));
    CHECK(dispatch_run_check_head(rpc, &as_get, 0, &head, &exchange, &refusal, NULL) ==
          DISPATCH_RESULT_REFUSED);
    CHECK(refusal.http_status == 405 && str_is(refusal.header_name, "allow"));
    CHECK(dispatch_run_check_head(rpc, &small, 0, &head, &exchange, &refusal, NULL) ==
          DISPATCH_RESULT_OK);
    CHECK(head.has_timeout && head.timeout_ms == 1500);
    /* An 8-byte limit: the 14-byte body is refused as it arrives. */
    CHECK(dispatch_run_exchange_update(exchange, RUN_REQUEST, sizeof RUN_REQUEST, &refusal,
                                       NULL) == DISPATCH_RESULT_REFUSED);
    CHECK(refusal.http_status == 413 && str_is(refusal.reason, "body-too-large"));
    CHECK(dispatch_run_exchange_update(exchange, RUN_REQUEST, 1, &refusal, NULL) ==
          DISPATCH_RESULT_BAD_STATE);
    dispatch_run_exchange_free(exchange);
    dispatch_run_rpc_free(rpc);
}

static void connect_and_status(void) {
    uint32_t code = 99;
    uint16_t status = 0;
    int32_t dispatch_status = 0;
    bool temporary = false;
    DispatchStr name;
    DispatchBuffer json = {NULL, 0}, message = {NULL, 0};

    CHECK(dispatch_connect_code_from_name(str("not_found"), &code, NULL) == DISPATCH_RESULT_OK);
    CHECK(code == 5);
    CHECK(dispatch_connect_code_http_status(code, &status, NULL) == DISPATCH_RESULT_OK);
    CHECK(status == 404);
    CHECK(dispatch_connect_code_from_http_status(404, &code, NULL) == DISPATCH_RESULT_OK);
    CHECK(code == 12);
    CHECK(dispatch_connect_code_name(code, &name, NULL) == DISPATCH_RESULT_OK);
    CHECK(str_is(name, "unimplemented"));
    CHECK(dispatch_connect_code_name(0, &name, NULL) == DISPATCH_RESULT_INVALID_ARGUMENT);
    CHECK(dispatch_connect_code_name(17, &name, NULL) == DISPATCH_RESULT_INVALID_ARGUMENT);
    CHECK(dispatch_connect_code_from_name(str("nope"), &code, NULL) ==
          DISPATCH_RESULT_INVALID_ARGUMENT);
    CHECK(dispatch_status_from_http_status(503, &dispatch_status, NULL) == DISPATCH_RESULT_OK);
    CHECK(dispatch_status_describe(dispatch_status, &name, &temporary, NULL) == DISPATCH_RESULT_OK);
    CHECK(temporary && name.len > 0);
    CHECK(dispatch_status_from_connect_code(3, &dispatch_status, NULL) == DISPATCH_RESULT_OK);
    CHECK(dispatch_status_describe(dispatch_status, NULL, &temporary, NULL) == DISPATCH_RESULT_OK);
    CHECK(!temporary);
    CHECK(dispatch_status_describe(-1, &name, NULL, NULL) == DISPATCH_RESULT_INVALID_ARGUMENT);

    CHECK(dispatch_connect_error_json(14, str("try \"later\""), &json, NULL) == DISPATCH_RESULT_OK);
    CHECK(buffer_is(json, "{\"code\":\"unavailable\",\"message\":\"try \\\"later\\\"\"}"));
    CHECK(dispatch_connect_error_parse(bytes_of(json.data, json.len), &code, &message, NULL) ==
          DISPATCH_RESULT_OK);
    CHECK(code == 14 && buffer_is(message, "try \"later\""));
    dispatch_buffer_free(&message);
    CHECK(dispatch_connect_classify_response(503, str("application/json"),
                                             bytes_of(json.data, json.len),
                                             str("application/proto"), &code, &message, NULL) ==
          DISPATCH_RESULT_OK);
    CHECK(code == 14 && buffer_is(message, "try \"later\""));
    dispatch_buffer_free(&message);
    CHECK(dispatch_connect_classify_response(200, str("application/proto"), bytes_of("", 0),
                                             str("application/proto"), &code, &message, NULL) ==
          DISPATCH_RESULT_OK);
    CHECK(code == 0 && message.len == 0);
    CHECK(dispatch_connect_error_parse(bytes_of("{", 1), &code, &message, NULL) ==
          DISPATCH_RESULT_INVALID_ARGUMENT);
    dispatch_buffer_free(&json);

    CHECK(dispatch_message_reencode(str("dispatch.sdk.v1.RunRequest"),
                                    bytes_of(RUN_REQUEST, sizeof RUN_REQUEST), &json, NULL) ==
          DISPATCH_RESULT_OK);
    CHECK(json.len == sizeof RUN_REQUEST && memcmp(json.data, RUN_REQUEST, json.len) == 0);
    dispatch_buffer_free(&json);
    CHECK(dispatch_message_reencode(str("dispatch.sdk.v1.Nope"), bytes_of("", 0), &json, NULL) ==
          DISPATCH_RESULT_INVALID_ARGUMENT);
}

static void error_paths(void) {
    DispatchVerificationKey *key = (DispatchVerificationKey *)1;
    DispatchSigningKey *private_key = (DispatchSigningKey *)1;
    DispatchRefusal refusal;
    DispatchError error;
    DispatchSignedHeaders signed_headers;
    DispatchHeader headers[] = {header("Content-Type", "application/proto")};
    DispatchRequest r = request("POST", RUN_URL, headers, 1);
    DispatchRequest bad = r;
    DispatchHeader bad_header = {{NULL, 3}, {NULL, 0}};
    DispatchUrl parts;
    const uint8_t not_utf8[] = {0xff, 0xfe};
    const uint8_t short_raw[31] = {0};
    DispatchBuffer text = {NULL, 0};

    /* Keys: a bad text, an empty one ("no key"), a wrong length, a private key given. */
    CHECK(dispatch_verification_key_parse(str("not a key"), &key, &error) ==
          DISPATCH_RESULT_INVALID_KEY);
    CHECK(key == NULL && error.result == DISPATCH_RESULT_INVALID_KEY && error.message_len > 0);
    key = (DispatchVerificationKey *)1;
    CHECK(dispatch_verification_key_parse(str("  "), &key, NULL) == DISPATCH_RESULT_NO_KEY);
    CHECK(key == NULL);
    CHECK(dispatch_verification_key_from_raw(bytes_of(short_raw, sizeof short_raw), &key, NULL) ==
          DISPATCH_RESULT_INVALID_KEY);
    CHECK(dispatch_verification_key_parse(
              str("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n"
                  "-----END PRIVATE KEY-----\n"),
              &key, NULL) == DISPATCH_RESULT_INVALID_KEY);
    CHECK(dispatch_signing_key_parse(str(""), &private_key, NULL) == DISPATCH_RESULT_INVALID_KEY);
    CHECK(private_key == NULL);
    /* Text is pointer and length: a NUL inside is a byte like another. */
    CHECK(dispatch_verification_key_parse((DispatchStr){(const uint8_t *)"JrQL\0", 5}, &key,
                                          NULL) == DISPATCH_RESULT_INVALID_KEY);

    /* NULL pointers, NULL with a length, lengths too large, text not UTF-8. */
    CHECK(dispatch_verification_key_parse(str("x"), NULL, &error) == DISPATCH_RESULT_NULL_POINTER);
    CHECK(error.result == DISPATCH_RESULT_NULL_POINTER);
    CHECK(dispatch_verification_key_parse((DispatchStr){NULL, 4}, &key, NULL) ==
          DISPATCH_RESULT_NULL_POINTER);
    CHECK(dispatch_verification_key_parse((DispatchStr){(const uint8_t *)"x", SIZE_MAX}, &key,
                                          NULL) == DISPATCH_RESULT_INVALID_ARGUMENT);
    CHECK(dispatch_verification_key_parse((DispatchStr){not_utf8, 2}, &key, NULL) ==
          DISPATCH_RESULT_INVALID_ARGUMENT);
    CHECK(dispatch_verify_request(NULL, NULL, 0, NULL, 0, NULL, &refusal, &error) ==
          DISPATCH_RESULT_NULL_POINTER);
    CHECK(dispatch_verify_request(&r, NULL, 5, NULL, 0, NULL, &refusal, NULL) ==
          DISPATCH_RESULT_NULL_POINTER);
    CHECK(dispatch_verify_request(&r, NULL, 0, NULL, 0, NULL, &refusal, NULL) ==
          DISPATCH_RESULT_NULL_POINTER); /* no key */
    CHECK(dispatch_verify_request(&r, NULL, 0, NULL, 0, NULL, NULL, NULL) ==
          DISPATCH_RESULT_NULL_POINTER); /* no refusal record */
    bad.headers = &bad_header;
    CHECK(dispatch_sign_request(&bad, NULL, 0, NULL, 0, NULL, 0, &signed_headers, &error) ==
          DISPATCH_RESULT_NULL_POINTER);
    CHECK(signed_headers.signature.data == NULL);
    bad = r;
    bad.headers_len = SIZE_MAX / 2;
    {
        DispatchBodyVerifier *verifier = (DispatchBodyVerifier *)1;
        CHECK(dispatch_verify_headers(&bad, NULL, 0, NULL, &verifier, &refusal, NULL) ==
              DISPATCH_RESULT_INVALID_ARGUMENT);
        CHECK(verifier == NULL);
        CHECK(dispatch_verify_headers(&r, NULL, 0, NULL, NULL, &refusal, NULL) ==
              DISPATCH_RESULT_NULL_POINTER);
    }
    CHECK(dispatch_url_split(str("no-scheme/path"), &parts, &error) ==
          DISPATCH_RESULT_INVALID_ARGUMENT);
    CHECK(dispatch_verification_key_raw(NULL, NULL, NULL) == DISPATCH_RESULT_NULL_POINTER);
    CHECK(dispatch_verification_key_text(NULL, false, &text, NULL) == DISPATCH_RESULT_NULL_POINTER);
    CHECK(dispatch_body_verifier_update(NULL, NULL, 0, NULL) == DISPATCH_RESULT_NULL_POINTER);
    CHECK(dispatch_body_verifier_finish(NULL, &refusal, NULL) == DISPATCH_RESULT_NULL_POINTER);
    CHECK(dispatch_content_digest_finish(NULL, &text, NULL) == DISPATCH_RESULT_NULL_POINTER);
    CHECK(dispatch_run_check_head(NULL, &r, 0, NULL, NULL, NULL, NULL) ==
          DISPATCH_RESULT_NULL_POINTER);

    /* A signed request with a text that cannot be signed (no Content-Type). */
    CHECK(dispatch_signing_key_parse(str("QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI="),
                                     &private_key, NULL) == DISPATCH_RESULT_OK);
    bad = r;
    bad.headers_len = 0;
    CHECK(dispatch_sign_request(&bad, NULL, 0, private_key, 0, NULL, 0, &signed_headers, &error) ==
          DISPATCH_RESULT_SIGN_FAILED);
    CHECK(error.message_len > 0);
    bad.method = (DispatchStr){not_utf8, 2};
    bad.headers_len = 1;
    CHECK(dispatch_sign_request(&bad, NULL, 0, private_key, 0, NULL, 0, &signed_headers, NULL) ==
          DISPATCH_RESULT_INVALID_ARGUMENT);
    dispatch_signing_key_free(private_key);

    /* Every free function takes NULL. */
    CHECK(dispatch_verification_key_free(NULL) == DISPATCH_RESULT_OK);
    CHECK(dispatch_signing_key_free(NULL) == DISPATCH_RESULT_OK);
    CHECK(dispatch_body_verifier_free(NULL) == DISPATCH_RESULT_OK);
    CHECK(dispatch_content_digest_free(NULL) == DISPATCH_RESULT_OK);
    CHECK(dispatch_run_rpc_free(NULL) == DISPATCH_RESULT_OK);
    CHECK(dispatch_run_exchange_free(NULL) == DISPATCH_RESULT_OK);
    CHECK(dispatch_buffer_free(NULL) == DISPATCH_RESULT_OK);
    CHECK(dispatch_signed_headers_free(NULL) == DISPATCH_RESULT_OK);
    CHECK(dispatch_run_answer_free(NULL) == DISPATCH_RESULT_OK);
}

int main(void) {
    rfc9421_b26();
    signed_as_the_scheduler();
    the_run_rpc_without_a_key();
    connect_and_status();
    error_paths();
    printf("c smoke: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
