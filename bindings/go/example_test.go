package dispatch_test

import (
	"errors"
	"fmt"

	dispatch "example.invalid/dispatch-rs/bindings/go"
)

// Sign a Run request as the scheduler does, verify it as an endpoint does,
// and refuse it once its body changed.
func Example() {
	signer, _ := dispatch.ParseSigningKey("QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=")
	defer signer.Close()
	key, _ := signer.VerificationKey()
	defer key.Close()

	req := &dispatch.Request{
		Method:  "POST",
		URL:     "https://app.example.com/dispatch.sdk.v1.FunctionService/Run",
		Headers: []dispatch.Header{{Name: "Content-Type", Value: "application/proto"}},
		Body:    []byte("\x0a\x05greet\x12\x00"), // RunRequest{function: "greet", input: {}}
	}
	signed, err := dispatch.Sign(req, signer, 1700000000, nil)
	if err != nil {
		panic(err)
	}
	req.Headers = append(req.Headers,
		dispatch.Header{Name: "Content-Digest", Value: signed.ContentDigest},
		dispatch.Header{Name: "Signature-Input", Value: signed.SignatureInput},
		dispatch.Header{Name: "Signature", Value: signed.Signature})
	fmt.Println(dispatch.Verify(req, key, 1700000000, nil))

	req.Body = []byte("changed")
	var refused *dispatch.Refusal
	if err := dispatch.Verify(req, key, 1700000000, nil); errors.As(err, &refused) {
		fmt.Println(refused.HTTPStatus, refused.Reason, string(refused.Body))
	}
	// Output:
	// <nil>
	// 403 digest-mismatch {"code":"permission_denied","message":"the body does not match its Content-Digest"}
}
