package dispatch

/*
#include "dispatch.h"
*/
import "C"

import "unsafe"

// Verify checks a signed request exactly per the project's policy at
// `now` (Unix seconds); nil, a *Refusal (401 or 403), or an *Error.
// A nil policy is the default one.
func Verify(r *Request, key *VerificationKey, now int64, policy *Policy) error {
	var a arena
	defer a.free()
	cr, err := a.request(r)
	if err != nil {
		return err
	}
	var p *C.DispatchPolicy
	if policy != nil {
		cp := policy.c()
		p = &cp
	}
	ptr, n := body(r.Body)
	var c call
	return c.result(C.dispatch_verify_request(cr, ptr, n, key.h, C.int64_t(now), p, &c.refusal, &c.err))
}

// VerifyStreamed checks the headers first, then the body given in chunks
// of at most `chunk` bytes: the same outcome as Verify.
func VerifyStreamed(r *Request, key *VerificationKey, now int64, policy *Policy, chunk int) error {
	var a arena
	defer a.free()
	cr, err := a.request(r)
	if err != nil {
		return err
	}
	var p *C.DispatchPolicy
	if policy != nil {
		cp := policy.c()
		p = &cp
	}
	var c call
	var v *C.DispatchBodyVerifier
	if err := c.result(C.dispatch_verify_headers(cr, key.h, C.int64_t(now), p, &v, &c.refusal, &c.err)); err != nil {
		return err
	}
	for start := 0; start < len(r.Body); start += chunk {
		end := start + chunk
		if end > len(r.Body) {
			end = len(r.Body)
		}
		ptr, n := body(r.Body[start:end])
		if err := c.result(C.dispatch_body_verifier_update(v, ptr, n, &c.err)); err != nil {
			C.dispatch_body_verifier_free(v)
			return err
		}
	}
	return c.result(C.dispatch_body_verifier_finish(v, &c.refusal, &c.err))
}

// SignedHeaders are the three headers a signer adds, and the base it signed.
type SignedHeaders struct {
	ContentDigest  string
	SignatureInput string
	Signature      string
	SignatureBase  string
}

// Sign signs the request as the scheduler does, at `created`; components
// nil is the scheduler's order, else the same components in that order.
func Sign(r *Request, key *SigningKey, created int64, components []string) (SignedHeaders, error) {
	var a arena
	defer a.free()
	cr, err := a.request(r)
	if err != nil {
		return SignedHeaders{}, err
	}
	var names *C.DispatchStr
	if len(components) > 0 {
		size := int(unsafe.Sizeof(C.DispatchStr{}))
		block := a.alloc(len(components) * size)
		for i, name := range components {
			*(*C.DispatchStr)(unsafe.Add(block, i*size)) = a.str(name)
		}
		names = (*C.DispatchStr)(block)
	}
	ptr, n := body(r.Body)
	var c call
	var out C.DispatchSignedHeaders
	rc := C.dispatch_sign_request(cr, ptr, n, key.h, C.int64_t(created), names, C.size_t(len(components)), &out, &c.err)
	defer C.dispatch_signed_headers_free(&out)
	if err := c.result(rc); err != nil {
		return SignedHeaders{}, err
	}
	return SignedHeaders{
		ContentDigest:  string(goBytes(out.content_digest.data, out.content_digest.len)),
		SignatureInput: string(goBytes(out.signature_input.data, out.signature_input.len)),
		Signature:      string(goBytes(out.signature.data, out.signature.len)),
		SignatureBase:  string(goBytes(out.signature_base.data, out.signature_base.len)),
	}, nil
}

// ContentDigest is the Content-Digest header value of the chunks, hashed
// one after the other: sha-512=:<base64>:.
func ContentDigest(chunks ...[]byte) (string, error) {
	var c call
	var d *C.DispatchContentDigest
	if err := c.result(C.dispatch_content_digest_new(&d, &c.err)); err != nil {
		return "", err
	}
	for _, chunk := range chunks {
		ptr, n := body(chunk)
		if err := c.result(C.dispatch_content_digest_update(d, ptr, n, &c.err)); err != nil {
			C.dispatch_content_digest_free(d)
			return "", err
		}
	}
	var out C.DispatchBuffer
	if err := c.result(C.dispatch_content_digest_finish(d, &out, &c.err)); err != nil {
		return "", err
	}
	return string(take(&out)), nil
}

// CheckContentDigest checks a received Content-Digest value against the
// body: nil, or a *Refusal (401 malformed, 403 digest-mismatch).
func CheckContentDigest(header string, b []byte) error {
	var a arena
	defer a.free()
	var c call
	return c.result(C.dispatch_content_digest_check(a.bytes([]byte(header)), a.bytes(b), &c.refusal, &c.err))
}
