package dispatch

/*
#include "dispatch.h"
*/
import "C"

// CodeFromName is the gRPC number of the Connect code named `name`.
func CodeFromName(name string) (uint32, error) {
	var a arena
	defer a.free()
	var c call
	var code C.uint32_t
	err := c.result(C.dispatch_connect_code_from_name(a.str(name), &code, &c.err))
	return uint32(code), err
}

// CodeName is the name of a Connect code.
func CodeName(code uint32) (string, error) {
	var c call
	var name C.DispatchStr
	if err := c.result(C.dispatch_connect_code_name(C.uint32_t(code), &name, &c.err)); err != nil {
		return "", err
	}
	return goString(name), nil
}

// CodeHTTPStatus is the HTTP status a Connect server answers with for code.
func CodeHTTPStatus(code uint32) (int, error) {
	var c call
	var status C.uint16_t
	err := c.result(C.dispatch_connect_code_http_status(C.uint32_t(code), &status, &c.err))
	return int(status), err
}

// CodeFromHTTPStatus is the code a Connect client infers from a status alone.
func CodeFromHTTPStatus(status int) uint32 {
	var code C.uint32_t
	C.dispatch_connect_code_from_http_status(C.uint16_t(status), &code, nil)
	return uint32(code)
}

// StatusFromHTTPStatus is the dispatch.sdk.v1.Status of an HTTP response status.
func StatusFromHTTPStatus(status int) int32 {
	var s C.int32_t
	C.dispatch_status_from_http_status(C.uint16_t(status), &s, nil)
	return int32(s)
}

// StatusFromConnectCode is the dispatch.sdk.v1.Status of a failed Connect call.
func StatusFromConnectCode(code uint32) (int32, error) {
	var c call
	var s C.int32_t
	err := c.result(C.dispatch_status_from_connect_code(C.uint32_t(code), &s, &c.err))
	return int32(s), err
}

// DescribeStatus is a status's wire name and whether it is temporary.
func DescribeStatus(status int32) (name string, temporary bool, err error) {
	var c call
	var n C.DispatchStr
	var t C.bool
	if err := c.result(C.dispatch_status_describe(C.int32_t(status), &n, &t, &c.err)); err != nil {
		return "", false, err
	}
	return goString(n), bool(t), nil
}

// ErrorJSON is the Connect error body {"code":...,"message":...}.
func ErrorJSON(code uint32, message string) ([]byte, error) {
	var a arena
	defer a.free()
	var c call
	var out C.DispatchBuffer
	if err := c.result(C.dispatch_connect_error_json(C.uint32_t(code), a.str(message), &out, &c.err)); err != nil {
		return nil, err
	}
	return take(&out), nil
}

// ParseErrorJSON reads a Connect error body: its code (0 when missing or
// unknown) and message.
func ParseErrorJSON(b []byte) (uint32, string, error) {
	var a arena
	defer a.free()
	var c call
	var code C.uint32_t
	var message C.DispatchBuffer
	if err := c.result(C.dispatch_connect_error_parse(a.bytes(b), &code, &message, &c.err)); err != nil {
		return 0, "", err
	}
	return uint32(code), string(take(&message)), nil
}

// ClassifyResponse is how a Connect client classifies a unary response to a
// request sent in requestContentType: code 0 for a success, else the code
// and the body's message.
func ClassifyResponse(status int, contentType string, b []byte, requestContentType string) (uint32, string, error) {
	var a arena
	defer a.free()
	var c call
	var code C.uint32_t
	var message C.DispatchBuffer
	rc := C.dispatch_connect_classify_response(C.uint16_t(status), a.str(contentType), a.bytes(b),
		a.str(requestContentType), &code, &message, &c.err)
	if err := c.result(rc); err != nil {
		return 0, "", err
	}
	return uint32(code), string(take(&message)), nil
}

// Reencode decodes data as the binary protobuf of messageType (a full
// name, e.g. dispatch.sdk.v1.RunRequest) and encodes it again.
func Reencode(messageType string, data []byte) ([]byte, error) {
	var a arena
	defer a.free()
	var c call
	var out C.DispatchBuffer
	if err := c.result(C.dispatch_message_reencode(a.str(messageType), a.bytes(data), &out, &c.err)); err != nil {
		return nil, err
	}
	return take(&out), nil
}
