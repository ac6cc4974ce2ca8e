package protocol

import "encoding/json"

// Client operations (the "op" of a client frame).
const (
	OpHello    = "hello"
	OpSend     = "send"
	OpAck      = "ack"
	OpRead     = "read"
	OpTyping   = "typing"
	OpResume   = "resume"
	OpHistory  = "history"
	OpEdit     = "edit"
	OpDelete   = "delete"
	OpConvs    = "convs"
	OpMembers  = "members"
	OpPresence = "presence"
	OpPing     = "ping"
)

// Server frame types (the "type" of a server frame).
const (
	TypeOK       = "ok"
	TypeError    = "error"
	TypeAck      = "ack"
	TypeMsg      = "msg"
	TypePage     = "page"
	TypeReceipt  = "receipt"
	TypeRead     = "read"
	TypeTyping   = "typing"
	TypePresence = "presence"
	TypeHistory  = "history"
	TypeConvs    = "convs"
	TypeMembers  = "members"
	TypeResumed  = "resumed"
	TypePong     = "pong"
)

// Request is a client frame. ID, when set, is echoed in the reply. The fields
// used depend on Op; unknown fields are ignored.
type Request struct {
	ID string `json:"id,omitempty"`
	Op string `json:"op"`

	// hello
	Version int    `json:"version,omitempty"`
	Token   string `json:"token,omitempty"`
	Device  string `json:"device,omitempty"`

	// send, edit, delete, ack, read, typing, history, members
	Conv        string          `json:"conv,omitempty"`
	To          string          `json:"to,omitempty"`
	ClientMsgID string          `json:"client_msg_id,omitempty"`
	ContentType string          `json:"content_type,omitempty"`
	Body        string          `json:"body,omitempty"`
	Payload     json.RawMessage `json:"payload,omitempty"`
	Encrypted   bool            `json:"encrypted,omitempty"`
	Seq         uint64          `json:"seq,omitempty"`
	Target      uint64          `json:"target,omitempty"`

	// history: at most one of Before and After (nil: not given, so
	// "after":0 pages from the start); Limit ≤ 300.
	Before *uint64 `json:"before,omitempty"`
	After  *uint64 `json:"after,omitempty"`
	Limit  int     `json:"limit,omitempty"`

	// resume: optional positions that override the server's, by conversation.
	Positions map[string]uint64 `json:"positions,omitempty"`

	// convs: paging cursor; presence: users to query.
	Cursor string   `json:"cursor,omitempty"`
	Users  []string `json:"users,omitempty"`

	// Data holds the arguments of the ops of the social graph (friends,
	// blocks, follows, moments, broadcasts, settings): a JSON object whose
	// fields each of those ops documents (docs/protocol.md §4.2).
	Data json.RawMessage `json:"data,omitempty"`
}

// Frame is a server frame. Data holds the payload named by Type.
type Frame struct {
	ID    string          `json:"id,omitempty"`
	Type  string          `json:"type"`
	Data  json.RawMessage `json:"data,omitempty"`
	Error *Error          `json:"error,omitempty"`
}

// Hello is the data of the reply to a hello frame.
type Hello struct {
	User    string `json:"user"`
	Device  string `json:"device"`
	Version int    `json:"version"`
	// Server is the server's build version.
	Server string `json:"server,omitempty"`
	// MaxFrameBytes is the largest frame the server will ever send on this
	// connection; a client's read limit must be at least this.
	MaxFrameBytes int `json:"max_frame_bytes,omitempty"`
}

// Resumed is the data of the frame that ends a resume stream.
type Resumed struct {
	// Conversations is how many conversations had something to resume.
	Conversations int `json:"conversations"`
	// Messages is how many messages were sent in the resume stream.
	Messages int `json:"messages"`
}

// Marshal encodes a server frame with the given payload. It panics only if v
// cannot be encoded as JSON, which is a programming error for protocol types.
func Marshal(id, typ string, v any) []byte {
	f := Frame{ID: id, Type: typ}
	if v != nil {
		data, err := json.Marshal(v)
		if err != nil {
			panic("protocol: cannot encode " + typ + ": " + err.Error())
		}
		f.Data = data
	}
	out, err := json.Marshal(f)
	if err != nil {
		panic("protocol: cannot encode frame: " + err.Error())
	}
	return out
}

// MarshalError encodes an error frame.
func MarshalError(id string, e *Error) []byte {
	out, err := json.Marshal(Frame{ID: id, Type: TypeError, Error: e})
	if err != nil {
		panic("protocol: cannot encode error frame: " + err.Error())
	}
	return out
}
