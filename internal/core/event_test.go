package core

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/parley-im/parley/protocol"
)

// countingPayload counts how often it is encoded.
type countingPayload struct {
	n *atomic.Int32
}

func (c countingPayload) MarshalJSON() ([]byte, error) {
	c.n.Add(1)
	return []byte(`{"counted":true}`), nil
}

func TestEventPayload(t *testing.T) {
	t.Parallel()
	msg := &protocol.Message{Conv: "g_a", Seq: 3, ID: "m1", From: "alice", Kind: protocol.KindMessage, Body: "hi"}
	msgJSON, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ev   *Event
		want string
	}{
		{"message", NewMessageEvent(msg), string(msgJSON)},
		{"message wins over data", &Event{Type: protocol.TypeMsg, Msg: msg, Data: "ignored"}, string(msgJSON)},
		{"data", &Event{Type: protocol.TypeReceipt, Data: &protocol.Receipt{Conv: "d_x", User: "bob", Read: 2}}, `{"conv":"d_x","user":"bob","read":2}`},
		{"no payload", &Event{Type: protocol.TypeOK, ID: "1"}, ""},
		{"raw message", newMessageEventRaw(msg, json.RawMessage(`{"pre":"encoded"}`)), `{"pre":"encoded"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := string(tt.ev.Payload()); got != tt.want {
				t.Errorf("Payload() = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestNewMessageEvent(t *testing.T) {
	t.Parallel()
	m := &protocol.Message{Conv: "g_a", Seq: 42}
	ev := NewMessageEvent(m)
	if ev.Type != protocol.TypeMsg || ev.Conv != "g_a" || ev.Seq != 42 || ev.Msg != m {
		t.Errorf("NewMessageEvent = %+v", ev)
	}
}

// TestEventPayloadOnce: an event fanned out to many connections is encoded
// once, however many goroutines ask at the same time.
func TestEventPayloadOnce(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	ev := &Event{Type: protocol.TypePresence, Data: countingPayload{&n}}
	var wg sync.WaitGroup
	results := make([][]byte, 32)
	for i := range results {
		wg.Go(func() { results[i] = ev.Payload() })
	}
	wg.Wait()
	if got := n.Load(); got != 1 {
		t.Errorf("payload encoded %d times, want 1", got)
	}
	for i, r := range results {
		if string(r) != `{"counted":true}` {
			t.Errorf("goroutine %d got %s", i, r)
		}
	}
}

// TestEventEncodedOncePerForm: each wire form is encoded once, concurrently,
// and the encoder may use Payload (as the gateways do) without deadlock.
func TestEventEncodedOncePerForm(t *testing.T) {
	t.Parallel()
	var payloads, jsonForm, otherForm atomic.Int32
	ev := &Event{Type: protocol.TypeTyping, Data: countingPayload{&payloads}}
	encJSON := func(e *Event) []byte {
		jsonForm.Add(1)
		return append([]byte(`{"type":"typing","data":`), append(e.Payload(), '}')...)
	}
	encOther := func(e *Event) []byte {
		otherForm.Add(1)
		return []byte("other:" + e.Type)
	}
	var wg sync.WaitGroup
	got := make([][]byte, 64)
	for i := range got {
		wg.Go(func() {
			if i%2 == 0 {
				got[i] = ev.Encoded("json", encJSON)
			} else {
				got[i] = ev.Encoded("other", encOther)
			}
		})
	}
	wg.Wait()
	if jsonForm.Load() != 1 || otherForm.Load() != 1 || payloads.Load() != 1 {
		t.Errorf("encoded json %d, other %d, payload %d times; want once each", jsonForm.Load(), otherForm.Load(), payloads.Load())
	}
	for i, b := range got {
		want := `{"type":"typing","data":{"counted":true}}`
		if i%2 == 1 {
			want = "other:typing"
		}
		if string(b) != want {
			t.Errorf("goroutine %d got %s, want %s", i, b, want)
		}
	}
	// The cached bytes are shared: the same slice is handed to everyone.
	if a, b := ev.Encoded("json", encJSON), ev.Encoded("json", encJSON); !bytes.Equal(a, b) || &a[0] != &b[0] {
		t.Error("Encoded returned different buffers for one form")
	}
}

func TestEventSize(t *testing.T) {
	t.Parallel()
	small := &Event{Type: protocol.TypeOK}
	big := NewMessageEvent(&protocol.Message{Body: string(make([]byte, 1000)), Payload: json.RawMessage(`[1,2,3]`)})
	if small.size() <= 0 {
		t.Errorf("size of an empty event = %d, want > 0", small.size())
	}
	if big.size() < 1000+7 {
		t.Errorf("size of a 1000-byte message = %d, want it to count body and payload", big.size())
	}
}

// TestEventSizeCountsEveryPayload: replies (history pages, member and
// conversation lists) count by their encoded size like messages, so they
// cannot grow a queue past outbound_queue_bytes.
func TestEventSizeCountsEveryPayload(t *testing.T) {
	t.Parallel()
	msgs := make([]protocol.Message, 300)
	for i := range msgs {
		msgs[i] = protocol.Message{Conv: "d_x", Seq: uint64(i + 1), Body: strings.Repeat("<", 1000)}
	}
	for _, ev := range []*Event{
		{Type: protocol.TypeHistory, ID: "h", Data: &protocol.Page{Conv: "d_x", Messages: msgs}},
		{Type: protocol.TypeMembers, ID: "m", Data: make([]protocol.Member, 3000)},
		{Type: protocol.TypeConvs, ID: "c", Data: &protocol.ConversationList{Conversations: make([]protocol.Conversation, 300)}},
	} {
		b, err := json.Marshal(ev.Data)
		if err != nil {
			t.Fatal(err)
		}
		if got := ev.size(); got < len(b) {
			t.Errorf("%s: size %d, below its encoding's %d bytes", ev.Type, got, len(b))
		}
	}
}

// TestEncodeErrorIsReturned: a payload that cannot be encoded is an error,
// not a panic in the goroutine that asked.
func TestEncodeErrorIsReturned(t *testing.T) {
	t.Parallel()
	ev := NewMessageEvent(&protocol.Message{Conv: "d_x", Seq: 1, Payload: json.RawMessage(`{not json`)})
	if err := ev.Encode(); err == nil {
		t.Fatal("Encode of an invalid payload: no error")
	}
	if ev.Payload() != nil {
		t.Fatal("Payload of an unencodable event is not nil")
	}
}
