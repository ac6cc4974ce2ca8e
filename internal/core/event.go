package core

import (
	"encoding/json"
	"sync"

	"github.com/parley-im/parley/protocol"
)

// Event is one thing to write to a connection: a message, a receipt, a reply.
// An event fanned out to many connections is shared by all of them; its
// payload is encoded once, and each wire form is encoded once (Encoded).
// Events are immutable once enqueued.
type Event struct {
	// Type is the protocol frame type (protocol.TypeMsg, ...).
	Type string
	// ID is the request id of a reply; empty for pushes.
	ID string
	// Conv and Seq identify a message event (Type msg); Conv is also set on
	// conversation-scoped transient events such as typing.
	Conv string
	Seq  uint64
	// Msg is the message of a msg event.
	Msg *protocol.Message
	// Data is the payload of any other event.
	Data any
	// Err is set on an error reply.
	Err *protocol.Error

	once    sync.Once
	payload json.RawMessage

	mu    sync.Mutex
	forms map[string][]byte
}

// internal event types, never written to a connection.
const (
	typeResume = "_resume"
)

// NewMessageEvent returns the event of a stored message.
func NewMessageEvent(m *protocol.Message) *Event {
	return &Event{Type: protocol.TypeMsg, Conv: m.Conv, Seq: m.Seq, Msg: m}
}

func newMessageEventRaw(m *protocol.Message, raw json.RawMessage) *Event {
	ev := NewMessageEvent(m)
	ev.once.Do(func() { ev.payload = raw })
	return ev
}

// Payload returns the JSON encoding of the event's payload (the message, or
// Data), computed once.
func (e *Event) Payload() json.RawMessage {
	e.once.Do(func() {
		var v any = e.Data
		if e.Msg != nil {
			v = e.Msg
		}
		if v == nil {
			return
		}
		b, err := json.Marshal(v)
		if err != nil {
			panic("core: cannot encode " + e.Type + " payload: " + err.Error())
		}
		e.payload = b
	})
	return e.payload
}

// Encoded returns the event in a wire form, encoding it with enc the first
// time a form is asked for. Gateways name their form ("ws-json", ...).
func (e *Event) Encoded(form string, enc func(*Event) []byte) []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	if b, ok := e.forms[form]; ok {
		return b
	}
	b := enc(e)
	if e.forms == nil {
		e.forms = make(map[string][]byte, 1)
	}
	e.forms[form] = b
	return b
}

// size estimates the bytes an event holds in an outbound queue.
func (e *Event) size() int {
	if e.Msg != nil {
		return 128 + len(e.Msg.Body) + len(e.Msg.Payload)
	}
	return 128
}
