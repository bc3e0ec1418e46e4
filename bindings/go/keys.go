package dispatch

/*
#include "dispatch.h"
*/
import "C"

import "unsafe"

// VerificationKey is an Ed25519 public key that verifies request
// signatures. Safe for concurrent use; Close frees it.
type VerificationKey struct{ h *C.DispatchVerificationKey }

// SigningKey is an Ed25519 private key that signs requests as the
// scheduler does. Safe for concurrent use; Close frees it.
type SigningKey struct{ h *C.DispatchSigningKey }

// ParseVerificationKey reads a key in any form DISPATCH_VERIFICATION_KEY
// takes (PEM, or base64 of the 32 raw bytes); ErrNoKey for a blank text.
func ParseVerificationKey(text string) (*VerificationKey, error) {
	var a arena
	defer a.free()
	var c call
	var h *C.DispatchVerificationKey
	if err := c.result(C.dispatch_verification_key_parse(a.str(text), &h, &c.err)); err != nil {
		return nil, err
	}
	return &VerificationKey{h}, nil
}

// VerificationKeyFromRaw makes a key from its 32 raw bytes.
func VerificationKeyFromRaw(raw []byte) (*VerificationKey, error) {
	var a arena
	defer a.free()
	var c call
	var h *C.DispatchVerificationKey
	if err := c.result(C.dispatch_verification_key_from_raw(a.bytes(raw), &h, &c.err)); err != nil {
		return nil, err
	}
	return &VerificationKey{h}, nil
}

// Raw is the key's 32 bytes.
func (k *VerificationKey) Raw() []byte {
	var raw [32]byte
	C.dispatch_verification_key_raw(k.h, (*C.uint8_t)(unsafe.Pointer(&raw[0])), nil)
	return raw[:]
}

func (k *VerificationKey) text(pem bool) string {
	var out C.DispatchBuffer
	var c call
	if err := c.result(C.dispatch_verification_key_text(k.h, C.bool(pem), &out, &c.err)); err != nil {
		return ""
	}
	return string(take(&out))
}

// Base64 is the key as the standard padded base64 of its 32 bytes.
func (k *VerificationKey) Base64() string { return k.text(false) }

// PEM is the key as a PEM PUBLIC KEY block.
func (k *VerificationKey) PEM() string { return k.text(true) }

// Close frees the key.
func (k *VerificationKey) Close() {
	C.dispatch_verification_key_free(k.h)
	k.h = nil
}

// ParseSigningKey reads a PEM PRIVATE KEY block or the base64 of a 32-byte seed.
func ParseSigningKey(text string) (*SigningKey, error) {
	var a arena
	defer a.free()
	var c call
	var h *C.DispatchSigningKey
	if err := c.result(C.dispatch_signing_key_parse(a.str(text), &h, &c.err)); err != nil {
		return nil, err
	}
	return &SigningKey{h}, nil
}

// VerificationKey is the public key of this signing key.
func (k *SigningKey) VerificationKey() (*VerificationKey, error) {
	var c call
	var h *C.DispatchVerificationKey
	if err := c.result(C.dispatch_signing_key_verification_key(k.h, &h, &c.err)); err != nil {
		return nil, err
	}
	return &VerificationKey{h}, nil
}

// Close frees the key.
func (k *SigningKey) Close() {
	C.dispatch_signing_key_free(k.h)
	k.h = nil
}
