package core

import (
	"unicode/utf8"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// PageMaxBytes bounds the encoded messages of one resume, gap-repair or
// history page and of one conversation list (DESIGN.md §2.12): a page
// stops before the message that would take it over, but always carries at
// least one, so a message larger than the budget travels alone.
const PageMaxBytes = 1 << 20

// frameOverhead bounds what a frame adds around its largest part: the
// frame's own keys, the request id (at most protocol's id length, escaped),
// the conversation id and the page's other fields.
const frameOverhead = 4 << 10

// messageOverhead bounds the encoded size of a message without its body and
// payload: its keys, numbers and short identifier fields (ids of at most
// 64 characters, a content type of at most 128 bytes, a member change with
// a name of at most 256 bytes), each escaped at worst to six bytes a byte.
const messageOverhead = 8 << 10

// MaxMessageJSON is the largest JSON encoding of one stored message whose
// body and payload together hold at most maxMessageBytes bytes: every byte
// of them may be escaped to six (a control character, or < > & as
// encoding/json escapes them).
func MaxMessageJSON(maxMessageBytes int) int { return 6*maxMessageBytes + messageOverhead }

// MaxFrameBytes is the largest frame (a WebSocket message, an HTTP
// response body) the server ever writes, given the message limit: a full
// page, or one message alone when it is larger, plus the frame around it.
func MaxFrameBytes(maxMessageBytes int) int {
	return max(PageMaxBytes, MaxMessageJSON(maxMessageBytes)) + frameOverhead
}

// messageSize returns an upper bound of m's JSON encoding, close to exact:
// body and payload are measured as encoding/json escapes them, the rest
// by the lengths of its fields.
func messageSize(m *protocol.Message) int {
	n := 160 + jsonStringSize(m.Body) + rawJSONSize(m.Payload) + 6*(len(m.Conv)+len(m.ID)+len(m.From)+len(m.ClientMsgID)+len(m.ContentType))
	if mc := m.Member; mc != nil {
		n += 64 + 6*(len(mc.User)+len(mc.Action)+len(mc.Role)+len(mc.Name))
	}
	return n
}

// summarySize bounds the encoded size of a conversation list entry.
func summarySize(s *store.Summary) int {
	n := 256 + 6*(len(s.ID)+len(s.Name)+len(s.Peer)+len(s.Role)+len(s.Kind))
	if s.Last != nil {
		n += messageSize(s.Last)
	}
	return n
}

// pageBudget returns how many of msgs (at least one, if any) fit in one
// page of at most PageMaxBytes encoded bytes.
func pageBudget(msgs []protocol.Message) int {
	total := 0
	for i := range msgs {
		total += messageSize(&msgs[i]) + 1 // the comma between entries
		if total > PageMaxBytes && i > 0 {
			return i
		}
	}
	return len(msgs)
}

// jsonStringSize is the length of s as encoding/json writes it, quotes
// included, with HTML escaping on (its default).
func jsonStringSize(s string) int {
	n := 2
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			switch {
			case b == '"' || b == '\\' || b == '\n' || b == '\r' || b == '\t':
				n += 2
			case b < 0x20 || b == '<' || b == '>' || b == '&':
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 6 // written as \ufffd
		case r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}

// rawJSONSize bounds the length of raw JSON as encoding/json re-writes it
// (compacted, which never grows it, with < > & and U+2028/U+2029 escaped).
func rawJSONSize(raw []byte) int {
	n := len(raw)
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '<', '>', '&':
			n += 5
		case 0xE2: // U+2028 and U+2029 are E2 80 A8/A9: three bytes become six
			if i+2 < len(raw) && raw[i+1] == 0x80 && (raw[i+2] == 0xA8 || raw[i+2] == 0xA9) {
				n += 3
			}
		}
	}
	return n
}
