package dispatch

// Every vector under tests/vectors and each DISPATCH_EXTRA_VECTORS directory
// (colon-separated, empty entries ignored), through the C ABI, against the
// project's verdicts (expected_project): the Go port of tests/vector_harness
// as bindings/python/tests/test_vectors.py ports it. A file of an unknown set
// or category, a vector with a field this harness does not know, or one it
// cannot interpret fails; what cannot apply is counted, by kind.

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var notApplicable = map[string]string{
	"json":                            "proto3 JSON forms: the C ABI offers binary protobuf only (no JSON codec)",
	"status_mapping/python_exception": "dispatch-py's mapping of its own exception classes",
	"status_mapping/python_output":    "dispatch-py's mapping of returned Python objects",
}

var requestSets = set("valid-basic", "valid-paths-methods", "valid-authority", "valid-bodies",
	"valid-coverage", "valid-params", "valid-mutations", "tamper", "missing", "malformed",
	"time-window", "params", "duplicate-headers", "rfc9421")

var requestVectorFields = set("id", "set", "category", "description", "tricky", "expected",
	"cross_checks", "agreement", "expected_project", "request", "verification_key", "now",
	"max_age_s", "signing", "signature_base", "rfc9421_conformant_signer", "e2e_aiohttp", "notes",
	"expected_handler_precheck", "always_public", "library_level_verdict")

var digestVectorFields = set("id", "set", "category", "description", "tricky", "body_b64",
	"body_len", "content_digest", "sha256_b64", "sha512_b64", "expected", "cross_checks",
	"agreement", "expected_project")

var messageTypes = map[string]string{
	"status":            "dispatch.sdk.v1.RunResponse",
	"any":               "google.protobuf.Any",
	"error":             "dispatch.sdk.v1.Error",
	"call":              "dispatch.sdk.v1.Call",
	"call_result":       "dispatch.sdk.v1.CallResult",
	"exit":              "dispatch.sdk.v1.Exit",
	"poll":              "dispatch.sdk.v1.Poll",
	"poll_result":       "dispatch.sdk.v1.PollResult",
	"run_request":       "dispatch.sdk.v1.RunRequest",
	"run_response":      "dispatch.sdk.v1.RunResponse",
	"dispatch_request":  "dispatch.sdk.v1.DispatchRequest",
	"dispatch_response": "dispatch.sdk.v1.DispatchResponse",
}

func set(names ...string) map[string]bool {
	out := map[string]bool{}
	for _, n := range names {
		out[n] = true
	}
	return out
}

// tally is what ran, per category, and what could not apply.
type tally struct {
	ran           map[string]int
	notApplicable map[string]int
	// Set by a runner when the vector in hand cannot apply at all: it is
	// counted under notApplicable, not as run.
	vectorNotApplicable bool
}

type obj = map[string]interface{}

// failure is a vector that did not pass.
type failure string

func fail(format string, args ...interface{}) { panic(failure(fmt.Sprintf(format, args...))) }

func expect(ok bool, format string, args ...interface{}) {
	if !ok {
		fail(format, args...)
	}
}

func onlyKnown(o obj, known map[string]bool, where string) {
	var unknown []string
	for k := range o {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	expect(len(unknown) == 0, "%s: unknown fields %v", where, unknown)
}

func field(o obj, name string) interface{} {
	v, ok := o[name]
	expect(ok, "no field %q", name)
	return v
}

func object(v interface{}, what string) obj {
	o, ok := v.(obj)
	expect(ok, "%s is not an object", what)
	return o
}

func str(o obj, name string) string {
	s, ok := field(o, name).(string)
	expect(ok, "%s is not a string", name)
	return s
}

func integer(o obj, name string) int64 {
	n, ok := field(o, name).(json.Number)
	expect(ok, "%s is not a number", name)
	i, err := n.Int64()
	expect(err == nil, "%s is not an integer", name)
	return i
}

func b64(s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	expect(err == nil, "bad base64 %q", s)
	return b
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	expect(err == nil, "bad hex")
	return b
}

func vectorRoots(t *testing.T) []string {
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(here, "..", "..")
	roots := []string{filepath.Join(repo, "tests", "vectors")}
	for _, entry := range filepath.SplitList(os.Getenv("DISPATCH_EXTRA_VECTORS")) {
		if entry == "" {
			continue
		}
		// A relative entry is taken from the repository's root, as
		// tests/vectors.rs takes it, not from this package's folder.
		if !filepath.IsAbs(entry) {
			entry = filepath.Join(repo, entry)
		}
		roots = append(roots, entry)
	}
	return roots
}

func readJSON(path string) (obj, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	var doc obj
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	return doc, nil
}

func TestVectors(t *testing.T) {
	tl := &tally{ran: map[string]int{}, notApplicable: map[string]int{}}
	failures := 0
	for _, root := range vectorRoots(t) {
		info, err := os.Stat(root)
		if err != nil || !info.IsDir() {
			t.Fatalf("vector directory %s does not exist", root)
		}
		found := false
		for _, part := range []string{"messages", "signatures"} {
			files, _ := filepath.Glob(filepath.Join(root, part, "*.json"))
			sort.Strings(files)
			for _, file := range files {
				found = true
				failures += runFile(t, root, part, file, tl)
			}
		}
		if !found {
			t.Errorf("%s holds no messages/ or signatures/ vector files", root)
		}
	}
	var names []string
	total, skipped := 0, 0
	for name, n := range tl.ran {
		names = append(names, name)
		// A name with a space is a further check on vectors counted under
		// their own category (a signed vector reproduced, say), as the
		// JavaScript harness counts them.
		if !strings.Contains(name, " ") {
			total += n
		}
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Printf("  %s: %d\n", name, tl.ran[name])
	}
	var kinds []string
	for kind := range tl.notApplicable {
		kinds = append(kinds, kind)
	}
	sort.Strings(kinds)
	for _, kind := range kinds {
		fmt.Printf("  not applicable: %s: %d (%s)\n", kind, tl.notApplicable[kind], notApplicable[kind])
		skipped += tl.notApplicable[kind]
	}
	fmt.Printf("vectors: %d ran through the C ABI, %d parts not applicable, %d failed\n", total, skipped, failures)
	if total == 0 {
		t.Fatal("no vector ran")
	}
}

func runFile(t *testing.T, root, part, file string, tl *tally) int {
	where := filepath.Join(filepath.Base(root), part, filepath.Base(file))
	doc, err := readJSON(file)
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return 1
	}
	raw, ok := doc["vectors"].([]interface{})
	if !ok {
		t.Errorf("%s: no vectors array", where)
		return 1
	}
	var run func(obj, *tally)
	var fileErr error
	if part == "signatures" {
		run, fileErr = signaturesRunner(doc, file)
	} else {
		run, fileErr = messagesRunner(doc)
	}
	if fileErr != nil {
		t.Errorf("%s: %v", where, fileErr)
		return 1
	}
	failures := 0
	for _, item := range raw {
		vector, ok := item.(obj)
		if !ok {
			t.Errorf("%s: a vector is not an object", where)
			failures++
			continue
		}
		name, _ := doc["set"].(string)
		if part == "messages" {
			name, _ = vector["category"].(string)
		}
		tl.vectorNotApplicable = false
		if why := runOne(run, vector, tl); why != "" {
			id, _ := vector["id"].(string)
			t.Errorf("%s: %s: %s", where, id, why)
			failures++
		}
		if !tl.vectorNotApplicable {
			tl.ran[name]++
		}
	}
	return failures
}

func runOne(run func(obj, *tally), vector obj, tl *tally) (why string) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(failure)
			if !ok {
				panic(r)
			}
			why = string(f)
		}
	}()
	run(vector, tl)
	return ""
}

// ---------------------------------------------------------------------------
// signatures/

func signaturesRunner(doc obj, file string) (func(obj, *tally), error) {
	name, _ := doc["set"].(string)
	switch {
	case name == "verification-keys":
		return func(v obj, _ *tally) { runKeyVector(v) }, nil
	case name == "content-digest":
		return func(v obj, _ *tally) { runDigestVector(v) }, nil
	case requestSets[name]:
		seeds, err := signingSeeds(file)
		if err != nil {
			return nil, err
		}
		return func(v obj, tl *tally) { runRequestVector(v, seeds, tl) }, nil
	}
	return nil, fmt.Errorf("unknown signature vector set %q", name)
}

// signingSeeds maps key names to seeds, from the built-in vectors and
// those next to `file`.
func signingSeeds(file string) (map[string]string, error) {
	seeds := map[string]string{}
	here, _ := os.Getwd()
	for _, dir := range []string{filepath.Join(here, "..", "..", "tests", "vectors", "signatures"), filepath.Dir(file)} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		sort.Strings(files)
		for _, other := range files {
			doc, err := readJSON(other)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", other, err)
			}
			vectors, _ := doc["vectors"].([]interface{})
			for _, item := range vectors {
				v, _ := item.(obj)
				key, _ := v["verification_key"].(obj)
				name, ok1 := key["name"].(string)
				seed, ok2 := key["private_seed_b64"].(string)
				if ok1 && ok2 {
					seeds[name] = seed
				}
			}
		}
	}
	return seeds, nil
}

// checkOutcome compares an outcome with expected_project.
func checkOutcome(expected obj, err error) {
	onlyKnown(expected, set("verdict", "http_status", "code", "reason"), "expected_project")
	verdict := str(expected, "verdict")
	if err == nil {
		expect(verdict == "valid", "expected %v, but it verified", expected["reason"])
		return
	}
	var refused *Refusal
	if !errors.As(err, &refused) {
		fail("not a refusal: %v", err)
	}
	expect(verdict == "invalid", "expected valid, got %s (%s)", refused.Reason, refused.Message)
	got := fmt.Sprintf("%s %d %s", refused.Reason, refused.HTTPStatus, refused.CodeName)
	want := fmt.Sprintf("%s %d %s", str(expected, "reason"), integer(expected, "http_status"), str(expected, "code"))
	expect(got == want, "expected %s, got %s", want, got)
	var body obj
	expect(json.Unmarshal(refused.Body, &body) == nil, "the refusal's body is not JSON")
	expect(body["code"] == refused.CodeName && body["message"] == refused.Message, "bad body %s", refused.Body)
	code, message, perr := ParseErrorJSON(refused.Body)
	expect(perr == nil && code == refused.Code && message == refused.Message, "the body does not read back")
}

func runKeyVector(v obj) {
	source, _ := v["source"].(string)
	expect(source == "argument" || source == "env", "unknown source %q", source)
	expected := object(field(v, "expected_project"), "expected_project")
	want := str(expected, "result")
	key, err := ParseVerificationKey(str(v, "input"))
	switch {
	case errors.Is(err, ErrNoKey):
		expect(want == "none", "expected %s, got no key", want)
		return
	case err != nil:
		var e *Error
		expect(errors.As(err, &e) && e.Result == ResultInvalidKey, "not an invalid key: %v", err)
		expect(want == "error", "expected %s, got %v", want, err)
		return
	}
	defer key.Close()
	expect(want == "ok", "expected %s, got a key", want)
	raw := str(expected, "public_raw_b64")
	expect(key.Base64() == raw, "parsed %s", key.Base64())
	expect(base64.StdEncoding.EncodeToString(key.Raw()) == raw, "raw bytes differ")
	again, err := VerificationKeyFromRaw(key.Raw())
	expect(err == nil && bytes.Equal(again.Raw(), key.Raw()), "from raw differs")
	again.Close()
	fromPEM, err := ParseVerificationKey(key.PEM())
	expect(err == nil && bytes.Equal(fromPEM.Raw(), key.Raw()), "the PEM does not read back")
	fromPEM.Close()
}

func runDigestVector(v obj) {
	onlyKnown(v, digestVectorFields, "vector")
	b := b64(str(v, "body_b64"))
	expect(int64(len(b)) == integer(v, "body_len"), "body_len does not match body_b64")
	ours, err := ContentDigest(b)
	expect(err == nil && ours == "sha-512=:"+str(v, "sha512_b64")+":", "our digest %s", ours)
	half := len(b) / 2
	chunked, _ := ContentDigest(b[:half], b[half:])
	expect(chunked == ours, "the digest in two chunks differs")
	expect(CheckContentDigest(ours, b) == nil, "our own digest does not check")
	expect(CheckContentDigest("sha-256=:"+str(v, "sha256_b64")+":", b) == nil, "sha-256 does not check")
	checkOutcome(object(field(v, "expected_project"), "expected_project"), CheckContentDigest(str(v, "content_digest"), b))
}

func requestOf(v obj) *Request {
	raw := object(field(v, "request"), "request")
	onlyKnown(raw, set("method", "url", "headers", "body_b64", "body_len"), "request")
	lines, ok := field(raw, "headers").([]interface{})
	expect(ok, "request.headers is not an array")
	r := &Request{Method: str(raw, "method"), URL: str(raw, "url")}
	for _, item := range lines {
		pair, ok := item.([]interface{})
		expect(ok && len(pair) == 2, "bad header line %v", item)
		name, ok1 := pair[0].(string)
		value, ok2 := pair[1].(string)
		expect(ok1 && ok2, "bad header line %v", item)
		r.Headers = append(r.Headers, Header{name, value})
	}
	r.Body = b64(str(raw, "body_b64"))
	expect(int64(len(r.Body)) == integer(raw, "body_len"), "body_len does not match body_b64")
	return r
}

func runRequestVector(v obj, seeds map[string]string, tl *tally) {
	onlyKnown(v, requestVectorFields, "vector")
	r := requestOf(v)
	keyFields := object(field(v, "verification_key"), "verification_key")
	onlyKnown(keyFields, set("name", "public_raw_b64", "public_pem", "private_seed_b64", "private_pem"), "verification_key")
	key, err := ParseVerificationKey(str(keyFields, "public_raw_b64"))
	expect(err == nil, "no verification key: %v", err)
	defer key.Close()
	fromPEM, err := ParseVerificationKey(str(keyFields, "public_pem"))
	expect(err == nil && bytes.Equal(fromPEM.Raw(), key.Raw()), "public_pem is another key")
	fromPEM.Close()
	maxAge := integer(v, "max_age_s")
	expect(maxAge >= 0 && maxAge <= 1<<32-1, "max_age_s out of range")
	policy := DefaultPolicy()
	policy.MaxAge = uint32(maxAge)
	now := integer(v, "now")
	expected := object(field(v, "expected_project"), "expected_project")
	got := Verify(r, key, now, &policy)
	// Headers first, then the body in chunks: the same outcome.
	streamed := VerifyStreamed(r, key, now, &policy, 1000)
	expect(fmt.Sprint(got) == fmt.Sprint(streamed), "streamed gave %v, one-shot %v", streamed, got)
	checkOutcome(expected, got)
	// The same request through the Run RPC's head and body steps: the same
	// signature verdict, when the request is otherwise a Run request.
	if signing, ok := v["signing"].(obj); ok {
		expect(v["signature_base"] == signing["signature_base"], "two signature bases")
		reproduceSigning(v, r, signing, seeds, tl)
	} else {
		expect(v["signing"] == nil, "signing is neither null nor an object")
		expect(v["signature_base"] == nil, "an unsigned vector with a signature_base")
		expect(str(expected, "verdict") != "valid", "an unsigned vector is expected valid")
	}
}

// canonical re-serializes an RFC 8941 dictionary's optional whitespace: none
// after "(", ";" and "=", before ")", or around ","; one space elsewhere.
func canonical(text string) string {
	var out strings.Builder
	inString, escaped, pendingSpace := false, false, false
	last := byte(0)
	for i := 0; i < len(text); i++ {
		ch := text[i]
		if inString {
			out.WriteByte(ch)
			if escaped {
				escaped = false
			} else if ch == '\\' {
				escaped = true
			} else if ch == '"' {
				inString = false
			}
			last = ch
			continue
		}
		if ch == ' ' || ch == '\t' {
			pendingSpace = true
			continue
		}
		if pendingSpace && !strings.ContainsRune("(;=,", rune(last)) && !strings.ContainsRune(");=,", rune(ch)) && last != 0 {
			out.WriteByte(' ')
		}
		pendingSpace = false
		out.WriteByte(ch)
		if ch == '"' {
			inString = true
		}
		last = ch
	}
	return out.String()
}

// reproduceSigning: dispatch-py's own signer, given its component order,
// and ours must give the same headers byte for byte for a valid vector.
func reproduceSigning(v obj, r *Request, signing obj, seeds map[string]string, tl *tally) {
	onlyKnown(signing, set("signer", "key", "created", "component_order", "signature_base"), "signing")
	if str(signing, "signer") != "dispatch.signature.sign_request" {
		tl.ran["signed by another signer (verified only)"]++
		return
	}
	seed, ok := seeds[str(signing, "key")]
	expect(ok, "no seed for key %q", str(signing, "key"))
	private, err := ParseSigningKey(seed)
	expect(err == nil, "bad seed: %v", err)
	defer private.Close()
	var order []string
	names, ok := field(signing, "component_order").([]interface{})
	expect(ok, "component_order is not an array")
	for _, n := range names {
		s, ok := n.(string)
		expect(ok, "a component name is not a string")
		order = append(order, s)
	}
	unsigned := &Request{Method: r.Method, URL: r.URL, Body: r.Body}
	sent := map[string]string{}
	for _, h := range r.Headers {
		lower := strings.ToLower(h.Name)
		sent[lower] = h.Value
		if lower != "content-digest" && lower != "signature-input" && lower != "signature" {
			unsigned.Headers = append(unsigned.Headers, h)
		}
	}
	verdict := str(object(v["expected_project"], "expected_project"), "verdict")
	ours, err := Sign(unsigned, private, integer(signing, "created"), order)
	if err != nil {
		var e *Error
		expect(errors.As(err, &e) && e.Result == ResultSignFailed, "not a signing failure: %v", err)
		expect(verdict == "invalid", "cannot sign: %v", err)
		return
	}
	expect(ours.SignatureBase == str(signing, "signature_base") || verdict != "valid", "our signature base differs")
	if verdict != "valid" {
		tl.ran["signed, then changed (not reproduced)"]++
		return
	}
	found := false
	for _, member := range strings.Split(sent["signature"], ",") {
		if strings.TrimSpace(member) == ours.Signature {
			found = true
		}
	}
	expect(found, "our Signature %s", ours.Signature)
	expect(ours.ContentDigest == sent["content-digest"], "our Content-Digest differs")
	expect(canonical(ours.SignatureInput) == canonical(sent["signature-input"]), "our Signature-Input %s differs from %s", ours.SignatureInput, sent["signature-input"])
	tl.ran["signed vectors reproduced byte for byte"]++
}

// ---------------------------------------------------------------------------
// messages/

func messagesRunner(doc obj) (func(obj, *tally), error) {
	category, _ := doc["category"].(string)
	if _, ok := messageTypes[category]; ok {
		return func(v obj, tl *tally) { runMessageVector(category, v, tl) }, nil
	}
	runners := map[string]func(obj, *tally){
		"connect_error":          func(v obj, _ *tally) { runConnectError(v) },
		"connect_http_inference": func(v obj, _ *tally) { runHTTPInference(v) },
		"status_mapping":         runStatusMapping,
		"signature":              func(v obj, _ *tally) { runDispatchPySigning(v) },
		"endpoint_http":          runEndpointHTTP,
		"client_http":            runClientHTTP,
	}
	run, ok := runners[category]
	if !ok {
		return nil, fmt.Errorf("unknown message vector category %q", category)
	}
	return run, nil
}

func reencodes(messageType string, data []byte) {
	again, err := Reencode(messageType, data)
	expect(err == nil, "not a %s: %v", messageType, err)
	expect(bytes.Equal(again, data), "%s re-encodes as %x", messageType, again)
}

func runMessageVector(category string, v obj, tl *tally) {
	messageType := str(v, "message_type")
	expect(messageType == messageTypes[category], "type %s in %s", messageType, category)
	data := unhex(str(v, "binary_hex"))
	if _, ok := v["binary_len"]; ok {
		expect(int64(len(data)) == integer(v, "binary_len"), "binary_len differs")
	}
	reencodes(messageType, data)
	if _, ok := v["json"]; ok {
		tl.notApplicable["json"]++
	}
	switch category {
	case "status":
		number := integer(v, "status_number")
		name, temporary, err := DescribeStatus(int32(number))
		expect(err == nil, "%v", err)
		expect(name == str(v, "status_name"), "name %s", name)
		wantTemporary, ok := field(v, "temporary").(bool)
		expect(ok && temporary == wantTemporary, "temporary is %v", temporary)
		expect(len(data) == 0 || bytes.Equal(data, []byte{0x08, byte(number)}), "not a bare status")
	case "any":
		inner := str(v, "inner_value_hex")
		expect(strings.Contains(hex.EncodeToString(data), inner), "the inner value is not in the Any")
	}
}

func codeNamed(name string) uint32 {
	code, err := CodeFromName(name)
	expect(err == nil, "%v", err)
	return code
}

func runConnectError(v obj) {
	name := str(v, "code")
	code := codeNamed(name)
	expect(int64(code) == integer(v, "code_number"), "gRPC number")
	status, err := CodeHTTPStatus(code)
	expect(err == nil && int64(status) == integer(v, "http_status"), "HTTP status %d", status)
	reverse, _ := CodeName(CodeFromHTTPStatus(status))
	expect(reverse == str(v, "http_status_reverse_inference"), "reverse inference %s", reverse)
	dispatchStatus, err := StatusFromConnectCode(code)
	expect(err == nil, "%v", err)
	statusName, _, _ := DescribeStatus(dispatchStatus)
	expect(statusName == str(v, "go_dispatch_status"), "go_dispatch_status %s", statusName)
	body := object(field(v, "body"), "body")
	message, _ := body["message"].(string)
	if details, _ := body["details"].([]interface{}); len(details) == 0 {
		ours, err := ErrorJSON(code, message)
		expect(err == nil, "%v", err)
		var decoded obj
		expect(json.Unmarshal(ours, &decoded) == nil, "ErrorJSON is not JSON")
		want, _ := json.Marshal(body)
		got, _ := json.Marshal(decoded)
		expect(bytes.Equal(want, got), "ErrorJSON gives %s", ours)
	}
	got, gotMessage, err := ClassifyResponse(status, str(v, "content_type"), []byte(str(v, "body_text")), "application/proto")
	expect(err == nil && got == code && gotMessage == message, "classified as %d %q", got, gotMessage)
}

func runHTTPInference(v obj) {
	code, message, err := ClassifyResponse(int(integer(v, "http_status")), str(v, "content_type"), []byte(str(v, "body_text")), "application/proto")
	expect(err == nil && code != 0, "classified as a success")
	name, _ := CodeName(code)
	expect(name == str(v, "expected_code"), "code %s", name)
	if want, ok := v["expected_message"].(string); ok {
		expect(message == want, "message %q", message)
	}
}

func runStatusMapping(v obj, tl *tally) {
	kind, _ := v["kind"].(string)
	var got int32
	switch kind {
	case "http_status":
		got = StatusFromHTTPStatus(int(integer(v, "input")))
	case "connect_code":
		var err error
		got, err = StatusFromConnectCode(codeNamed(str(v, "input")))
		expect(err == nil, "%v", err)
	default:
		if _, ok := notApplicable["status_mapping/"+kind]; ok {
			tl.notApplicable["status_mapping/"+kind]++
			tl.vectorNotApplicable = true
			return
		}
		fail("kind %q is not understood", kind)
	}
	name, _, _ := DescribeStatus(got)
	expect(name == str(v, "expected_status"), "got %s", name)
}

func runDispatchPySigning(v obj) {
	onlyKnown(v, set("id", "description", "private_key_seed_hex", "public_key_b64", "request",
		"created_unix", "headers_out", "signature_label", "signature_base", "tampered_body_result",
		"category"), "vector")
	private, err := ParseSigningKey(base64.StdEncoding.EncodeToString(unhex(str(v, "private_key_seed_hex"))))
	expect(err == nil, "bad seed: %v", err)
	defer private.Close()
	public, err := ParseVerificationKey(str(v, "public_key_b64"))
	expect(err == nil, "bad public key: %v", err)
	defer public.Close()
	derived, _ := private.VerificationKey()
	expect(bytes.Equal(derived.Raw(), public.Raw()), "public_key_b64 is not the seed's")
	derived.Close()
	raw := object(field(v, "request"), "request")
	onlyKnown(raw, set("method", "url", "headers_in", "body_hex"), "request")
	r := &Request{Method: str(raw, "method"), URL: str(raw, "url"), Body: unhex(str(raw, "body_hex"))}
	headersIn := object(field(raw, "headers_in"), "headers_in")
	var names []string
	for name := range headersIn {
		names = append(names, name)
	}
	sort.Strings(names) // JSON objects are unordered in Go; no name repeats here.
	for _, name := range names {
		value, ok := headersIn[name].(string)
		expect(ok, "a header value is not a string")
		r.Headers = append(r.Headers, Header{name, value})
	}
	out := object(field(v, "headers_out"), "headers_out")
	onlyKnown(out, set("Content-Digest", "Signature-Input", "Signature"), "headers_out")
	expect(str(v, "signature_label") == "dispatch", "not the scheduler's label")
	input := str(out, "Signature-Input")
	open, close := strings.Index(input, "("), strings.Index(input, ")")
	expect(open >= 0 && close > open, "bad Signature-Input")
	order := strings.Split(strings.ReplaceAll(input[open+1:close], `"`, ""), " ")
	created := integer(v, "created_unix")
	ours, err := Sign(r, private, created, order)
	expect(err == nil, "cannot sign: %v", err)
	expect(ours.ContentDigest == str(out, "Content-Digest") && ours.SignatureInput == input &&
		ours.Signature == str(out, "Signature"), "our headers %+v", ours)
	expect(ours.SignatureBase == str(v, "signature_base"), "our signature base differs")
	signed := &Request{Method: r.Method, URL: r.URL, Body: r.Body, Headers: append(append([]Header{}, r.Headers...),
		Header{"Content-Digest", ours.ContentDigest}, Header{"Signature-Input", ours.SignatureInput},
		Header{"Signature", ours.Signature})}
	expect(Verify(signed, public, created, nil) == nil, "our signed request does not verify")
	signed.Body = append(append([]byte{}, r.Body...), 'x')
	var refused *Refusal
	err = Verify(signed, public, created, nil)
	expect(errors.As(err, &refused) && refused.Reason == "digest-mismatch", "a tampered body gave %v", err)
	expect(str(v, "tampered_body_result") != "", "no tampered_body_result")
}

func runEndpointHTTP(v obj, tl *tally) {
	request := object(field(v, "request"), "request")
	// The signed vector records no headers (they varied); its body is proto.
	contentType := "application/proto"
	if headers, ok := request["headers"].(obj); ok {
		if ct, ok := headers["Content-Type"].(string); ok {
			contentType = ct
		}
	}
	b := unhex(str(request, "body_hex"))
	switch contentType {
	case "application/proto":
		reencodes("dispatch.sdk.v1.RunRequest", b)
	case "application/json":
		tl.notApplicable["json"]++
	default:
		fail("request Content-Type %q is not understood", contentType)
	}
	response := object(field(v, "response"), "response")
	status := integer(response, "status")
	if status == 200 {
		if deterministic, _ := v["body_deterministic"].(bool); deterministic {
			reencodes("dispatch.sdk.v1.RunResponse", unhex(str(response, "body_hex")))
		} else {
			tl.notApplicable["json"]++
		}
		return
	}
	code, _, err := ClassifyResponse(int(status), str(response, "content_type"), []byte(str(response, "body_text")), "application/proto")
	expect(err == nil && code != 0, "an error reply classified as a success")
	if want, ok := v["connect_client_code"].(string); ok && want != "" {
		name, _ := CodeName(code)
		expect(name == want, "client code %s", name)
	}
}

func runClientHTTP(v obj, tl *tally) {
	request := object(field(v, "request"), "request")
	sdkHeaders := object(field(request, "sdk_headers"), "sdk_headers")
	expect(sdkHeaders["Content-Type"] == "application/proto", "not proto")
	reencodes("dispatch.sdk.v1.DispatchRequest", unhex(str(request, "body_hex")))
	response := object(field(v, "server_response"), "server_response")
	result := object(field(v, "sdk_result"), "sdk_result")
	status := integer(response, "status")
	if status == 200 {
		reencodes("dispatch.sdk.v1.DispatchResponse", unhex(str(response, "body_hex")))
		_, ok := result["returns"]
		expect(ok, "a 200 reply without ids")
	} else {
		expect(integer(result, "status") == status, "the SDK raised otherwise")
		code, _, err := ClassifyResponse(int(status), str(response, "content_type"), unhex(str(response, "body_hex")), "application/proto")
		expect(err == nil && code != 0, "an error reply classified as a success")
	}
	tl.notApplicable["json"]++
}
