package ws

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
)

// jsonEqual reports whether a and b are the same JSON value.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("not JSON: %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("not JSON: %s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

func TestEncode(t *testing.T) {
	t.Parallel()
	msg := &protocol.Message{Conv: "g_a", Seq: 3, ID: "m3", From: "alice", ClientMsgID: "c3", Kind: protocol.KindMessage,
		ContentType: "text/plain", Body: "hi \"there\" <b>&\u2028</b> 🦜", Payload: json.RawMessage(`{"x":[1,2]}`), Time: 1700000000000}
	member := &protocol.Message{Conv: "g_a", Seq: 4, ID: "m4", From: "alice", Kind: protocol.KindMember,
		Member: &protocol.MemberChange{User: "bob", Action: protocol.MemberAdded, Role: protocol.RoleMember}, Time: 1}
	tests := []struct {
		name string
		ev   *core.Event
		data any // the payload that must come back; nil: no data
	}{
		{"msg", core.NewMessageEvent(msg), msg},
		{"member event", core.NewMessageEvent(member), member},
		{"page", &core.Event{Type: protocol.TypePage, Conv: "g_a", Data: &protocol.Page{Conv: "g_a", Messages: []protocol.Message{*msg, *member}, More: true}},
			&protocol.Page{Conv: "g_a", Messages: []protocol.Message{*msg, *member}, More: true}},
		{"ack", &core.Event{Type: protocol.TypeAck, ID: "r1", Data: &protocol.Ack{Conv: "g_a", Seq: 3, ID: "m3", ClientMsgID: "c3", Time: 5}},
			&protocol.Ack{Conv: "g_a", Seq: 3, ID: "m3", ClientMsgID: "c3", Time: 5}},
		{"duplicate ack", &core.Event{Type: protocol.TypeAck, ID: "r2", Data: &protocol.Ack{Conv: "g_a", Seq: 3, Duplicate: true}},
			&protocol.Ack{Conv: "g_a", Seq: 3, Duplicate: true}},
		{"receipt", &core.Event{Type: protocol.TypeReceipt, Data: &protocol.Receipt{Conv: "d_x", User: "bob", Delivered: 9}},
			&protocol.Receipt{Conv: "d_x", User: "bob", Delivered: 9}},
		{"read", &core.Event{Type: protocol.TypeRead, Data: &protocol.ReadState{Conv: "g_a", Seq: 3, Unread: 1, TotalUnread: 4}},
			&protocol.ReadState{Conv: "g_a", Seq: 3, Unread: 1, TotalUnread: 4}},
		{"typing", &core.Event{Type: protocol.TypeTyping, Conv: "g_a", Data: &protocol.Typing{Conv: "g_a", User: "bob"}},
			&protocol.Typing{Conv: "g_a", User: "bob"}},
		{"presence push", &core.Event{Type: protocol.TypePresence, Data: &protocol.Presence{User: "bob", Online: true}},
			&protocol.Presence{User: "bob", Online: true}},
		{"presence reply", &core.Event{Type: protocol.TypePresence, ID: "p", Data: []protocol.Presence{{User: "a"}, {User: "b", LastSeen: 7}}},
			[]protocol.Presence{{User: "a"}, {User: "b", LastSeen: 7}}},
		{"history", &core.Event{Type: protocol.TypeHistory, ID: "h", Data: &protocol.Page{Conv: "g_a", Messages: []protocol.Message{}, StartSeq: 2}},
			&protocol.Page{Conv: "g_a", Messages: []protocol.Message{}, StartSeq: 2}},
		{"convs", &core.Event{Type: protocol.TypeConvs, ID: "c", Data: &protocol.ConversationList{Conversations: []protocol.Conversation{{ID: "g_a", Kind: protocol.ConvGroup, LastMessage: msg}}, TotalUnread: 2}},
			&protocol.ConversationList{Conversations: []protocol.Conversation{{ID: "g_a", Kind: protocol.ConvGroup, LastMessage: msg}}, TotalUnread: 2}},
		{"members", &core.Event{Type: protocol.TypeMembers, ID: "m", Data: []protocol.Member{{User: "alice", Role: protocol.RoleOwner}}},
			[]protocol.Member{{User: "alice", Role: protocol.RoleOwner}}},
		{"members nil slice", &core.Event{Type: protocol.TypeMembers, ID: "m", Data: []protocol.Member(nil)}, []protocol.Member(nil)},
		{"resumed", &core.Event{Type: protocol.TypeResumed, ID: "r", Data: &protocol.Resumed{Conversations: 2, Messages: 10}},
			&protocol.Resumed{Conversations: 2, Messages: 10}},
		{"hello ok", &core.Event{Type: protocol.TypeOK, ID: "1", Data: &protocol.Hello{User: "alice", Device: "phone", Version: 1}},
			&protocol.Hello{User: "alice", Device: "phone", Version: 1}},
		{"ok without data", &core.Event{Type: protocol.TypeOK, ID: "2"}, nil},
		{"pong", &core.Event{Type: protocol.TypePong, ID: "3"}, nil},
		{"pong without id", &core.Event{Type: protocol.TypePong}, nil},
		{"id that needs escaping", &core.Event{Type: protocol.TypeOK, ID: "a\"b\\c\n</script>\u2028é"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := encode(tt.ev)
			if !json.Valid(b) {
				t.Fatalf("encode produced invalid JSON: %s", b)
			}
			var f protocol.Frame
			if err := json.Unmarshal(b, &f); err != nil {
				t.Fatalf("unmarshal %s: %v", b, err)
			}
			if f.Type != tt.ev.Type || f.ID != tt.ev.ID || f.Error != nil {
				t.Errorf("frame %+v, want type %q id %q and no error", f, tt.ev.Type, tt.ev.ID)
			}
			if tt.data == nil {
				if len(f.Data) != 0 {
					t.Errorf("data = %s, want none", f.Data)
				}
			} else {
				want, err := json.Marshal(tt.data)
				if err != nil {
					t.Fatal(err)
				}
				if !jsonEqual(t, f.Data, want) {
					t.Errorf("data = %s, want %s", f.Data, want)
				}
				// And into the typed payload, as a client reads it.
				got := reflect.New(reflect.TypeOf(tt.data)).Interface()
				if err := json.Unmarshal(f.Data, got); err != nil {
					t.Fatalf("data does not decode into %T: %v", tt.data, err)
				}
				if !reflect.DeepEqual(reflect.ValueOf(got).Elem().Interface(), tt.data) {
					t.Errorf("decoded data %+v, want %+v", reflect.ValueOf(got).Elem().Interface(), tt.data)
				}
			}
			// Same frame as the protocol package's reference encoder.
			var v any
			if tt.data != nil {
				v = tt.data
			}
			if ref := protocol.Marshal(tt.ev.ID, tt.ev.Type, v); !jsonEqual(t, b, ref) {
				t.Errorf("encode = %s\nprotocol.Marshal = %s", b, ref)
			}
		})
	}
}

func TestEncodeError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		id   string
		err  *protocol.Error
	}{
		{"field error", "7", &protocol.Error{Code: protocol.CodeBadRequest, Reason: "bad_request", Field: "seq", Message: "seq must be uint64"}},
		{"no id", "", &protocol.Error{Code: protocol.CodeUnauthorized, Reason: "unauthorized"}},
		{"unavailable", "s1", core.ToProtocol(core.ErrUnavailable)},
		{"unauthorized", "x", core.ToProtocol(core.ErrUnauthorized)},
		{"internal", "y", core.ToProtocol(errSecret)},
		{"message that needs escaping", "z\"", &protocol.Error{Code: 400, Reason: "bad_request", Message: "unknown op \"<\u2028>\""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := &core.Event{Type: protocol.TypeError, ID: tt.id, Err: tt.err}
			b := encode(ev)
			var f protocol.Frame
			if err := json.Unmarshal(b, &f); err != nil {
				t.Fatalf("unmarshal %s: %v", b, err)
			}
			if f.Type != protocol.TypeError || f.ID != tt.id || len(f.Data) != 0 {
				t.Errorf("frame %+v, want an error frame with id %q and no data", f, tt.id)
			}
			if f.Error == nil || *f.Error != *tt.err {
				t.Errorf("error = %+v, want %+v", f.Error, tt.err)
			}
		})
	}
}

var errSecret = jsonErr("sqlite: disk I/O error at /var/lib/parley/parley.db")

type jsonErr string

func (e jsonErr) Error() string { return string(e) }

func TestEncodeInternalErrorLeaksNothing(t *testing.T) {
	t.Parallel()
	b := encode(&core.Event{Type: protocol.TypeError, ID: "1", Err: core.ToProtocol(errSecret)})
	if bytes.Contains(b, []byte("sqlite")) || bytes.Contains(b, []byte("/var/lib")) {
		t.Errorf("error frame leaks internals: %s", b)
	}
}

// TestFrameForSharesEncoding: every connection a message fans out to gets
// the same bytes, encoded once.
func TestFrameForSharesEncoding(t *testing.T) {
	t.Parallel()
	ev := core.NewMessageEvent(&protocol.Message{Conv: "g_a", Seq: 1, ID: "m1", From: "a", Kind: protocol.KindMessage, Body: "x"})
	a, b := frameFor(ev), frameFor(ev)
	if &a[0] != &b[0] {
		t.Error("frameFor encoded the event twice")
	}
	if !bytes.Equal(a, encode(ev)) {
		t.Errorf("frameFor = %s, encode = %s", a, encode(ev))
	}
}
