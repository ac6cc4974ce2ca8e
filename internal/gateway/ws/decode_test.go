package ws

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/parley-im/parley/protocol"
)

func TestDecodeValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		frame string
		want  protocol.Request
	}{
		{"hello", `{"id":"1","op":"hello","version":1,"token":"tok","device":"phone"}`,
			protocol.Request{ID: "1", Op: protocol.OpHello, Version: 1, Token: "tok", Device: "phone"}},
		{"send", `{"id":"2","op":"send","conv":"g_a","client_msg_id":"c1","body":"hi","content_type":"text/plain","payload":{"k":[1,2]},"encrypted":true}`,
			protocol.Request{ID: "2", Op: protocol.OpSend, Conv: "g_a", ClientMsgID: "c1", Body: "hi", ContentType: "text/plain",
				Payload: json.RawMessage(`{"k":[1,2]}`), Encrypted: true}},
		{"send to user", `{"op":"send","to":"bob","client_msg_id":"c2","body":"yo"}`,
			protocol.Request{Op: protocol.OpSend, To: "bob", ClientMsgID: "c2", Body: "yo"}},
		{"ack without id", `{"op":"ack","conv":"d_x","seq":18446744073709551615}`,
			protocol.Request{Op: protocol.OpAck, Conv: "d_x", Seq: 1<<64 - 1}},
		{"edit", `{"id":"e","op":"edit","conv":"g_a","target":3,"body":"fixed","client_msg_id":"c3"}`,
			protocol.Request{ID: "e", Op: protocol.OpEdit, Conv: "g_a", Target: 3, Body: "fixed", ClientMsgID: "c3"}},
		{"history", `{"id":"h","op":"history","conv":"g_a","before":10,"limit":50}`,
			protocol.Request{ID: "h", Op: protocol.OpHistory, Conv: "g_a", Before: ptr(uint64(10)), Limit: 50}},
		{"resume with positions", `{"id":"r","op":"resume","positions":{"g_a":4,"d_b":0}}`,
			protocol.Request{ID: "r", Op: protocol.OpResume, Positions: map[string]uint64{"g_a": 4, "d_b": 0}}},
		{"presence", `{"id":"p","op":"presence","users":["a","b"]}`,
			protocol.Request{ID: "p", Op: protocol.OpPresence, Users: []string{"a", "b"}}},
		{"convs", `{"id":"c","op":"convs","cursor":"abc","limit":20}`,
			protocol.Request{ID: "c", Op: protocol.OpConvs, Cursor: "abc", Limit: 20}},
		{"unknown op decodes (handle refuses it)", `{"op":"frobnicate"}`, protocol.Request{Op: "frobnicate"}},
		{"unknown fields ignored", `{"op":"ping","id":"7","whatever":{"deep":[1,{"x":null}]},"extra":"x"}`,
			protocol.Request{Op: protocol.OpPing, ID: "7"}},
		{"whitespace around", " \n\t{\"op\":\"ping\"}\r\n ", protocol.Request{Op: protocol.OpPing}},
		{"null fields", `{"op":"ping","id":null,"conv":null,"positions":null}`, protocol.Request{Op: protocol.OpPing}},
		{"escaped strings", `{"op":"send","body":"line\nquote\" \u00e9 \ud83e\udd9c"}`,
			protocol.Request{Op: protocol.OpSend, Body: "line\nquote\" é 🦜"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, perr := decode([]byte(tt.frame))
			if perr != nil {
				t.Fatalf("decode(%s) error %+v", tt.frame, perr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decode(%s)\n got %+v\nwant %+v", tt.frame, got, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		frame string
		field string // the field the error names ("" none)
		id    string // the request id still recovered, for the reply
	}{
		{"empty", ``, "", ""},
		{"truncated object", `{"op":"send","conv":"g_a"`, "", ""},
		{"truncated string", `{"op":"se`, "", ""},
		{"truncated after key", `{"op":`, "", ""},
		{"not JSON", `hello`, "", ""},
		{"trailing garbage", `{"op":"ping"} {"op":"ping"}`, "", ""},
		{"trailing comma", `{"op":"ping",}`, "", ""},
		{"single quotes", `{'op':'ping'}`, "", ""},
		{"null", `null`, "op", ""},
		{"empty object", `{}`, "op", ""},
		{"missing op", `{"id":"5","conv":"g_a"}`, "op", "5"},
		{"empty op", `{"id":"6","op":""}`, "op", "6"},
		{"seq as string", `{"id":"7","op":"ack","conv":"g_a","seq":"abc"}`, "seq", "7"},
		{"seq before id", `{"seq":"abc","id":"8","op":"ack"}`, "seq", "8"},
		{"negative seq", `{"op":"ack","seq":-1}`, "seq", ""},
		{"fractional seq", `{"op":"ack","seq":1.5}`, "seq", ""},
		{"seq overflows uint64", `{"op":"ack","seq":18446744073709551616}`, "seq", ""},
		{"target as bool", `{"op":"edit","target":true}`, "target", ""},
		{"op as number", `{"op":1}`, "op", ""},
		{"id as number", `{"id":5,"op":"ping"}`, "id", ""},
		{"version as string", `{"op":"hello","version":"1"}`, "version", ""},
		{"limit as string", `{"op":"history","limit":"10"}`, "limit", ""},
		{"encrypted as string", `{"op":"send","encrypted":"yes"}`, "encrypted", ""},
		{"users as string", `{"op":"presence","users":"alice"}`, "users", ""},
		{"users of numbers", `{"op":"presence","users":[1]}`, "users", ""},
		{"positions as list", `{"op":"resume","positions":[1]}`, "positions", ""},
		{"position as string", `{"op":"resume","positions":{"g_a":"x"}}`, "positions", ""},
		{"body as object", `{"op":"send","body":{"text":"hi"}}`, "body", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, perr := decode([]byte(tt.frame))
			if perr == nil {
				t.Fatalf("decode(%s) = %+v, want an error", tt.frame, req)
			}
			if perr.Code != protocol.CodeBadRequest || perr.Reason != "bad_request" {
				t.Errorf("error %+v, want 400 bad_request", perr)
			}
			if perr.Field != tt.field {
				t.Errorf("field = %q, want %q (%+v)", perr.Field, tt.field, perr)
			}
			if perr.Message == "" {
				t.Error("empty message")
			}
			if tt.field != "" && !strings.Contains(perr.Message, tt.field) {
				t.Errorf("message %q does not name %q", perr.Message, tt.field)
			}
			if req.ID != tt.id {
				t.Errorf("request id = %q, want %q (the error reply echoes it)", req.ID, tt.id)
			}
		})
	}
}

// TestDecodeNotAnObject: a frame that is valid JSON but not an object is
// refused with a message for the client, not an internal Go type name.
func TestDecodeNotAnObject(t *testing.T) {
	t.Parallel()
	for _, frame := range []string{`[]`, `[{"op":"ping"}]`, `"ping"`, `1`, `true`} {
		_, perr := decode([]byte(frame))
		if perr == nil {
			t.Errorf("decode(%s) succeeded", frame)
			continue
		}
		if perr.Code != protocol.CodeBadRequest {
			t.Errorf("decode(%s) code %d, want 400", frame, perr.Code)
		}
		if strings.Contains(perr.Message, "protocol.") || strings.HasPrefix(perr.Message, " ") {
			t.Errorf("decode(%s) message %q exposes a Go type or has no subject", frame, perr.Message)
		}
	}
}

// seedFrames are real request frames, one per op (also FuzzDecode's seeds).
var seedFrames = []string{
	`{"id":"1","op":"hello","version":1,"token":"eyJhbGciOiJIUzI1NiJ9.e30.sig","device":"phone"}`,
	`{"id":"2","op":"send","conv":"g_abc","client_msg_id":"6f1c0c9e-8f4e-4d0e-9a53-1f2b3c4d5e6f","body":"hello"}`,
	`{"id":"3","op":"send","to":"bob","client_msg_id":"c-2","content_type":"application/json","payload":{"a":1},"encrypted":true}`,
	`{"op":"ack","conv":"d_xyz","seq":42}`,
	`{"id":"4","op":"read","conv":"g_abc","seq":7}`,
	`{"op":"typing","conv":"g_abc"}`,
	`{"id":"5","op":"resume","positions":{"g_abc":3}}`,
	`{"id":"6","op":"history","conv":"g_abc","before":100,"limit":50}`,
	`{"id":"7","op":"edit","conv":"g_abc","target":3,"body":"fixed","client_msg_id":"c-3"}`,
	`{"id":"8","op":"delete","conv":"g_abc","target":3,"client_msg_id":"c-4"}`,
	`{"id":"9","op":"convs","cursor":"","limit":20}`,
	`{"id":"10","op":"members","conv":"g_abc"}`,
	`{"id":"11","op":"presence","users":["alice","bob"]}`,
	`{"id":"12","op":"ping"}`,
	`{"op":"ack","seq":"abc"}`,
	`{"op":"send","conv":"g_a"`,
	`[]`,
	``,
	`{"op":"send","payload":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`,
}

func FuzzDecode(f *testing.F) {
	for _, s := range seedFrames {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, perr := decode(data)
		// The depth-limited decoder the sessions use accepts a subset,
		// with the same result.
		if lreq, lerr := decodeLimited(data, 32); lerr == nil && (perr != nil || !reflect.DeepEqual(lreq, req)) {
			t.Fatalf("decodeLimited(%q) = %+v but decode = %+v, %+v", data, lreq, req, perr)
		} else if lerr != nil && lerr.Code != protocol.CodeBadRequest {
			t.Fatalf("decodeLimited(%q) error %+v, want a 400", data, lerr)
		}
		if perr != nil {
			if perr.Code != protocol.CodeBadRequest || perr.Reason == "" {
				t.Fatalf("decode(%q) error %+v, want a 400 with a reason", data, perr)
			}
			// The error must be writable as a frame.
			var f protocol.Frame
			if err := json.Unmarshal(protocol.MarshalError(req.ID, perr), &f); err != nil {
				t.Fatalf("error frame for %q is not JSON: %v", data, err)
			}
			return
		}
		if req.Op == "" {
			t.Fatalf("decode(%q) succeeded without an op", data)
		}
		// A decoded request round-trips: encode it and decode it again.
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", req, err)
		}
		req2, perr := decode(again)
		if perr != nil {
			t.Fatalf("decode(re-encoded %s) = %+v", again, perr)
		}
		if req2.Op != req.Op || req2.ID != req.ID {
			t.Fatalf("round trip changed op/id: %q/%q -> %q/%q", req.Op, req.ID, req2.Op, req2.ID)
		}
	})
}

// TestDecodeLimitedRefusesDuplicateKeys: a request naming a field twice
// (in any case or escaping) is refused with the field named, so the
// authorization check and the router can never read different values
// (BAD_INPUTS J3); the request id is still echoed when it is unambiguous.
func TestDecodeLimitedRefusesDuplicateKeys(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		frame, field, id string
	}{
		{`{"id":"1","op":"send","to":"alice","to":"mallory","client_msg_id":"c","body":"x"}`, "to", "1"},
		{`{"id":"2","op":"send","to":"alice","TO":"mallory","client_msg_id":"c","body":"x"}`, "to", "2"},
		{`{"id":"3","op":"send","conv":"g_a","c\u006fnv":"g_b","client_msg_id":"c","body":"x"}`, "conv", "3"},
		{`{"id":"4","op":"ack","conv":"g_a","seq":1,"ſeq":99}`, "seq", "4"},
		{`{"op":"ping","op":"send"}`, "op", ""},
		{`{"id":"5","id":"6","op":"ping"}`, "id", "6"},
	} {
		req, perr := decodeLimited([]byte(tc.frame), 32)
		if perr == nil || perr.Code != protocol.CodeBadRequest || perr.Field != tc.field || !strings.Contains(perr.Message, tc.field) {
			t.Errorf("decodeLimited(%s) = %+v, want 400 naming %q", tc.frame, perr, tc.field)
		}
		if req.ID != tc.id {
			t.Errorf("decodeLimited(%s) id %q, want %q", tc.frame, req.ID, tc.id)
		}
	}
	// Repeated keys that are not request fields, and keys repeated inside
	// payload or positions, are not refused.
	for _, frame := range []string{
		`{"op":"ping","x":1,"x":2}`,
		`{"op":"send","payload":{"to":1,"to":2}}`,
		`{"op":"resume","positions":{"g_a":1,"g_a":2}}`,
	} {
		if _, perr := decodeLimited([]byte(frame), 32); perr != nil {
			t.Errorf("decodeLimited(%s) = %+v, want it accepted", frame, perr)
		}
	}
}

func TestRequestFieldsListsEveryKey(t *testing.T) {
	t.Parallel()
	b, _ := json.Marshal(protocol.Request{ID: "x", Op: "x", Version: 1, Token: "x", Device: "x", Conv: "x", To: "x",
		ClientMsgID: "x", ContentType: "x", Body: "x", Payload: json.RawMessage(`1`), Encrypted: true, Seq: 1, Target: 1,
		Before: ptr(uint64(1)), After: ptr(uint64(1)), Limit: 1, Positions: map[string]uint64{"x": 1}, Cursor: "x", Users: []string{"x"},
		Data: json.RawMessage(`{}`)})
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m) != len(requestFields) {
		t.Fatalf("requestFields = %v, the frame has %d keys: %s", requestFields, len(m), b)
	}
	for _, f := range requestFields {
		if _, ok := m[f]; !ok {
			t.Errorf("requestFields has %q, not a key of %s", f, b)
		}
	}
}

func ptr[T any](v T) *T { return &v }
