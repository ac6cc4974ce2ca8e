package ws

import (
	"encoding/json"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
)

// form names this gateway's wire form in the core's per-event cache.
const form = "ws-json"

// encode renders an event as a JSON frame. The payload is the core's
// once-encoded bytes, so a message fanned out to many connections is
// encoded once.
func encode(ev *core.Event) []byte {
	if ev.Err != nil {
		return protocol.MarshalError(ev.ID, ev.Err)
	}
	payload := ev.Payload()
	b := make([]byte, 0, 32+len(ev.ID)+len(payload))
	b = append(b, '{')
	if ev.ID != "" {
		id, _ := json.Marshal(ev.ID)
		b = append(b, `"id":`...)
		b = append(b, id...)
		b = append(b, ',')
	}
	b = append(b, `"type":"`...)
	b = append(b, ev.Type...) // types are fixed ASCII identifiers
	b = append(b, '"')
	if len(payload) > 0 {
		b = append(b, `,"data":`...)
		b = append(b, payload...)
	}
	return append(b, '}')
}

// frameFor returns the encoded frame of ev, shared by every connection it is
// written to.
func frameFor(ev *core.Event) []byte { return ev.Encoded(form, encode) }
