package protocol

// Blocking (docs/protocol.md, Blocking): WebSocket ops, whose arguments are
// in the request's data object, and the types of their replies.
const (
	// OpBlock blocks data.user; the reply is ok. Blocking a user one
	// blocks already changes nothing.
	OpBlock = "block"
	// OpUnblock lifts the block of data.user; the reply is ok, also when
	// there was none.
	OpUnblock = "unblock"
	// OpBlocks lists the users one blocks (data.after, data.limit); the
	// reply is a TypeBlocks.
	OpBlocks = "blocks"
)

// TypeBlocks is the reply to OpBlocks: a BlockList.
const TypeBlocks = "blocks"

// Block is one entry of a user's block list.
type Block struct {
	User string `json:"user"`
	// Since is when the block was made (Unix ms).
	Since int64 `json:"since"`
}

// BlockList is a page of the users a user blocks, ordered by user id.
type BlockList struct {
	Blocks []Block `json:"blocks"`
	// Next, when set, is the after of the next page.
	Next string `json:"next,omitempty"`
}
