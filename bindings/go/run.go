package dispatch

/*
#include "dispatch.h"
*/
import "C"

import "time"

// RunRPC is the Run RPC's settings: the verification key (nil: requests are
// not verified), the body limit and the policy. Safe for concurrent use.
type RunRPC struct{ h *C.DispatchRunRpc }

// NewRunRPC makes the settings; bodyLimit 0 is the default (16 MB), a nil
// policy the default one. The key may be closed afterwards.
func NewRunRPC(key *VerificationKey, bodyLimit int, policy *Policy) (*RunRPC, error) {
	var k *C.DispatchVerificationKey
	if key != nil {
		k = key.h
	}
	var p *C.DispatchPolicy
	if policy != nil {
		cp := policy.c()
		p = &cp
	}
	var c call
	var h *C.DispatchRunRpc
	if err := c.result(C.dispatch_run_rpc_new(k, C.size_t(bodyLimit), p, &h, &c.err)); err != nil {
		return nil, err
	}
	return &RunRPC{h}, nil
}

// Close frees the settings.
func (r *RunRPC) Close() {
	C.dispatch_run_rpc_free(r.h)
	r.h = nil
}

// RunHead is what an accepted head tells the host.
type RunHead struct {
	ContentType string
	Timeout     time.Duration // 0: no deadline from the client
}

// RunExchange is one Run request being handled. One goroutine at a time;
// Close frees it.
type RunExchange struct{ h *C.DispatchRunExchange }

// CheckHead checks the head and, with a key, the signature, at `now`.
// The request's Body is not read: feed it to Update.
func (r *RunRPC) CheckHead(req *Request, now int64) (*RunExchange, RunHead, error) {
	var a arena
	defer a.free()
	cr, err := a.request(req)
	if err != nil {
		return nil, RunHead{}, err
	}
	var c call
	var head C.DispatchRunHead
	var h *C.DispatchRunExchange
	if err := c.result(C.dispatch_run_check_head(r.h, cr, C.int64_t(now), &head, &h, &c.refusal, &c.err)); err != nil {
		return nil, RunHead{}, err
	}
	out := RunHead{ContentType: goString(head.content_type)}
	if head.has_timeout {
		out.Timeout = time.Duration(head.timeout_ms) * time.Millisecond
	}
	return &RunExchange{h}, out, nil
}

// Update feeds the next chunk of the body.
func (e *RunExchange) Update(chunk []byte) error {
	ptr, n := body(chunk)
	var c call
	return c.result(C.dispatch_run_exchange_update(e.h, ptr, n, &c.refusal, &c.err))
}

// RunCall is an accepted Run request.
type RunCall struct {
	Function         string
	DispatchID       string
	ParentDispatchID string
	RootDispatchID   string
	IsPollResult     bool
	RunRequest       []byte // binary protobuf, as received
}

// Finish ends the body and accepts the RunRequest, or refuses it.
func (e *RunExchange) Finish() (RunCall, error) {
	var c call
	var rc C.DispatchRunCall
	if err := c.result(C.dispatch_run_exchange_finish(e.h, &rc, &c.refusal, &c.err)); err != nil {
		return RunCall{}, err
	}
	return RunCall{
		Function:         goString(rc.function),
		DispatchID:       goString(rc.dispatch_id),
		ParentDispatchID: goString(rc.parent_dispatch_id),
		RootDispatchID:   goString(rc.root_dispatch_id),
		IsPollResult:     bool(rc.is_poll_result),
		RunRequest:       goBytes(rc.run_request.ptr, rc.run_request.len),
	}, nil
}

// CheckFunction is the 404 refusal when the function is not registered.
func (e *RunExchange) CheckFunction(registered bool) error {
	var c call
	return c.result(C.dispatch_run_check_function(e.h, C.bool(registered), &c.refusal, &c.err))
}

// RunAnswer is the answer to send for a function's RunResponse.
type RunAnswer struct {
	HTTPStatus     int
	ContentType    string
	OutputReplaced bool
	Body           []byte
}

// EncodeResponse checks the function's RunResponse (binary protobuf) and
// encodes the answer.
func (e *RunExchange) EncodeResponse(response []byte) (RunAnswer, error) {
	ptr, n := body(response)
	var c call
	var out C.DispatchRunAnswer
	rc := C.dispatch_run_encode_response(e.h, ptr, n, &out, &c.err)
	defer C.dispatch_run_answer_free(&out)
	if err := c.result(rc); err != nil {
		return RunAnswer{}, err
	}
	return RunAnswer{
		HTTPStatus:     int(out.http_status),
		ContentType:    goString(out.content_type),
		OutputReplaced: bool(out.output_replaced),
		Body:           goBytes(out.body.data, out.body.len),
	}, nil
}

// Close frees the exchange.
func (e *RunExchange) Close() {
	C.dispatch_run_exchange_free(e.h)
	e.h = nil
}
