package core

import (
	"encoding/json"
	"fmt"
	"strconv"
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
	msgs    []json.RawMessage // of a page: each message's encoding, within payload
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
		if p, ok := e.Data.(*protocol.Page); ok && e.Msg == nil {
			e.payload, e.msgs, e.encErr = encodePage(p)
			return
		}
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

// MessagePayloads returns, for an event whose Data is a *protocol.Page,
// the JSON encoding of each of its messages, in order: each message is
// encoded once, and the page's payload is made of these same bytes, so a
// gateway that writes messages one by one (MQTT) encodes none again. nil
// for other events, or if the page cannot be encoded. The slices must not
// be modified.
func (e *Event) MessagePayloads() []json.RawMessage {
	_ = e.Encode()
	return e.msgs
}

// encodePage encodes p as json.Marshal would, from the encoding of each of
// its messages, which it also returns. It writes the fields of
// protocol.Page itself (TestEncodePageIsMarshal keeps them in step).
func encodePage(p *protocol.Page) (json.RawMessage, []json.RawMessage, error) {
	msgs := make([]json.RawMessage, len(p.Messages))
	n := 64 + len(p.Conv)
	for i := range p.Messages {
		b, err := json.Marshal(&p.Messages[i])
		if err != nil {
			return nil, nil, fmt.Errorf("encode page message %d: %w", p.Messages[i].Seq, err)
		}
		msgs[i] = b
		n += len(b) + 1
	}
	conv, err := json.Marshal(p.Conv)
	if err != nil {
		return nil, nil, fmt.Errorf("encode page: %w", err)
	}
	b := make([]byte, 0, n+len(conv))
	b = append(b, `{"conv":`...)
	b = append(b, conv...)
	b = append(b, `,"messages":`...)
	starts := make([]int, len(msgs))
	if p.Messages == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, m := range msgs {
			if i > 0 {
				b = append(b, ',')
			}
			starts[i] = len(b)
			b = append(b, m...)
		}
		b = append(b, ']')
	}
	if p.StartSeq != 0 {
		b = append(b, `,"start_seq":`...)
		b = strconv.AppendUint(b, p.StartSeq, 10)
	}
	if p.More {
		b = append(b, `,"more":true`...)
	}
	b = append(b, '}')
	for i, start := range starts {
		// The page's bytes hold the messages: keep those, not a copy.
		msgs[i] = b[start : start+len(msgs[i]) : start+len(msgs[i])]
	}
	return b, msgs, nil
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
