package core

import (
	"encoding/json"
	"fmt"
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
	encErr  error

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

// Encode encodes the event's payload (the message, or Data) once and
// returns the error of that encoding. The core encodes every event before
// it queues or writes it and drops, with a log line, one that cannot be
// encoded, so gateways only ever see encoded events.
func (e *Event) Encode() error {
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
			e.encErr = fmt.Errorf("encode %s payload: %w", e.Type, err)
			return
		}
		e.payload = b
	})
	return e.encErr
}

// Payload returns the JSON encoding of the event's payload, computed once
// (see Encode); nil if there is none or it cannot be encoded.
func (e *Event) Payload() json.RawMessage {
	_ = e.Encode()
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

// eventOverhead is what a queued event holds besides its payload: the
// Event itself and the frame around the payload.
const eventOverhead = 256

// size is the bytes an event holds in an outbound queue: its encoded
// payload, its error and request id, and the frame around them.
func (e *Event) size() int {
	_ = e.Encode()
	n := eventOverhead + len(e.payload) + len(e.ID)
	if e.Err != nil {
		n += len(e.Err.Message)
	}
	return n
}
