// Package dispatch is the Dispatch protocol's core for Go, through the C ABI
// of dispatch-core (bindings/c: libdispatch_ffi.a and include/dispatch.h).
// Every decision is the core's; this package only moves Go values across
// the boundary, with cgo and the standard library.
//
// Build the library first, from the repository root:
//
//	cargo build -p dispatch-ffi --release
//
// The package links target/release/libdispatch_ffi.a statically.
package dispatch

/*
#cgo CFLAGS: -I${SRCDIR}/../c/include
#cgo LDFLAGS: ${SRCDIR}/../../target/release/libdispatch_ffi.a -lpthread -ldl -lm
#include <stdlib.h>
#include <string.h>
#include "dispatch.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// Error is a failure of a call into the library other than a refusal:
// a bad key, an invalid argument, a request that cannot be signed.
type Error struct {
	// Result is the library's DispatchResult.
	Result int
	// Message says why.
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("dispatch: %s (result %d)", e.Message, e.Result) }

// The library's results, for errors.As and comparisons.
const (
	ResultRefused         = int(C.DISPATCH_RESULT_REFUSED)
	ResultInvalidKey      = int(C.DISPATCH_RESULT_INVALID_KEY)
	ResultNoKey           = int(C.DISPATCH_RESULT_NO_KEY)
	ResultNullPointer     = int(C.DISPATCH_RESULT_NULL_POINTER)
	ResultInvalidArgument = int(C.DISPATCH_RESULT_INVALID_ARGUMENT)
	ResultSignFailed      = int(C.DISPATCH_RESULT_SIGN_FAILED)
	ResultBadState        = int(C.DISPATCH_RESULT_BAD_STATE)
	ResultInternal        = int(C.DISPATCH_RESULT_INTERNAL)
)

// ErrNoKey is returned by ParseVerificationKey for an empty or blank text.
var ErrNoKey = errors.New("dispatch: the key text is empty: no key")

// Refusal is the core's refusal of a request: the answer to send.
type Refusal struct {
	HTTPStatus  int
	Code        uint32 // the Connect code's gRPC number
	CodeName    string // "unauthenticated"
	Reason      string // "signature-mismatch"
	HeaderName  string // "allow", "accept-post", "accept-encoding", or ""
	HeaderValue string
	Message     string
	Body        []byte // the Connect error JSON body
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("dispatch: refused %d %s (%s): %s", r.HTTPStatus, r.CodeName, r.Reason, r.Message)
}

// call holds the records a call fills in: its error and its refusal.
type call struct {
	err     C.DispatchError
	refusal C.DispatchRefusal
}

func goString(s C.DispatchStr) string {
	if s.len == 0 {
		return ""
	}
	return C.GoStringN((*C.char)(unsafe.Pointer(s.ptr)), C.int(s.len))
}

func goBytes(p *C.uint8_t, n C.size_t) []byte {
	if n == 0 {
		return []byte{}
	}
	return C.GoBytes(unsafe.Pointer(p), C.int(n))
}

// take copies an owned buffer into Go memory and frees it.
func take(b *C.DispatchBuffer) []byte {
	out := goBytes(b.data, b.len)
	C.dispatch_buffer_free(b)
	return out
}

// result turns a DispatchResult into a Go error.
func (c *call) result(rc C.DispatchResult) error {
	switch int(rc) {
	case 0:
		return nil
	case ResultRefused:
		r := &c.refusal
		return &Refusal{
			HTTPStatus:  int(r.http_status),
			Code:        uint32(r.code),
			CodeName:    goString(r.code_name),
			Reason:      goString(r.reason),
			HeaderName:  goString(r.header_name),
			HeaderValue: goString(r.header_value),
			Message:     string(C.GoBytes(unsafe.Pointer(&r.message[0]), C.int(r.message_len))),
			Body:        C.GoBytes(unsafe.Pointer(&r.body[0]), C.int(r.body_len)),
		}
	case ResultNoKey:
		return ErrNoKey
	default:
		return &Error{
			Result:  int(rc),
			Message: string(C.GoBytes(unsafe.Pointer(&c.err.message[0]), C.int(c.err.message_len))),
		}
	}
}

// arena is C memory for the strings and header lines of one call: cgo
// forbids handing C memory that holds Go pointers, so they are copied.
type arena struct{ blocks []unsafe.Pointer }

func (a *arena) alloc(n int) unsafe.Pointer {
	if n == 0 {
		n = 1
	}
	p := C.malloc(C.size_t(n))
	if p == nil {
		panic("dispatch: out of memory")
	}
	a.blocks = append(a.blocks, p)
	return p
}

func (a *arena) free() {
	for _, p := range a.blocks {
		C.free(p)
	}
	a.blocks = nil
}

func (a *arena) bytes(b []byte) C.DispatchBytes {
	if len(b) == 0 {
		return C.DispatchBytes{}
	}
	p := a.alloc(len(b))
	C.memcpy(p, unsafe.Pointer(&b[0]), C.size_t(len(b)))
	return C.DispatchBytes{ptr: (*C.uint8_t)(p), len: C.size_t(len(b))}
}

func (a *arena) str(s string) C.DispatchStr {
	b := a.bytes([]byte(s))
	return C.DispatchStr{ptr: b.ptr, len: b.len}
}

// body gives C a pointer to a Go byte slice's contents (no Go pointers
// inside, so cgo allows it for the call's duration).
func body(b []byte) (*C.uint8_t, C.size_t) {
	if len(b) == 0 {
		return nil, 0
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0])), C.size_t(len(b))
}

// Header is one header field line; names may repeat.
type Header struct {
	Name  string
	Value string
}

// Request is an HTTP request as the core reads it.
type Request struct {
	Method  string
	URL     string // absolute: scheme://authority/path?query
	Headers []Header
	Body    []byte
}

// cRequest lays the request's head out in C memory.
func (a *arena) request(r *Request) (*C.DispatchRequest, error) {
	cr := (*C.DispatchRequest)(a.alloc(int(unsafe.Sizeof(C.DispatchRequest{}))))
	*cr = C.DispatchRequest{}
	url := a.str(r.URL)
	var parts C.DispatchUrl
	var c call
	if err := c.result(C.dispatch_url_split(url, &parts, &c.err)); err != nil {
		return nil, err
	}
	cr.method = a.str(r.Method)
	cr.scheme = parts.scheme
	cr.authority = parts.authority
	cr.path = parts.path
	cr.query = parts.query
	cr.has_query = parts.has_query
	if n := len(r.Headers); n > 0 {
		size := int(unsafe.Sizeof(C.DispatchHeader{}))
		lines := a.alloc(n * size)
		for i, h := range r.Headers {
			line := (*C.DispatchHeader)(unsafe.Add(lines, i*size))
			line.name = a.str(h.Name)
			line.value = a.bytes([]byte(h.Value))
		}
		cr.headers = (*C.DispatchHeader)(lines)
		cr.headers_len = C.size_t(n)
	}
	return cr, nil
}

// Policy is the signature policy's time rules, in seconds.
type Policy struct {
	MaxAge       uint32
	MaxClockSkew uint32
}

// DefaultPolicy is the core's: 300 s of age, 5 s of skew.
func DefaultPolicy() Policy {
	var p C.DispatchPolicy
	C.dispatch_policy_default(&p, nil)
	return Policy{MaxAge: uint32(p.max_age_s), MaxClockSkew: uint32(p.max_clock_skew_s)}
}

func (p *Policy) c() C.DispatchPolicy {
	return C.DispatchPolicy{max_age_s: C.uint32_t(p.MaxAge), max_clock_skew_s: C.uint32_t(p.MaxClockSkew)}
}
