package protocol

import "encoding/json"

// Broadcasts (docs/protocol.md, Broadcasts): one request sends a message to
// many users, each of whom gets it as an ordinary message from the sender
// in their direct conversation, with its own seq; the recipients are a
// saved broadcast list of the sender's or a list in the request. WebSocket
// ops, whose arguments are in the request's data object, and the types of
// their replies.
const (
	// OpBroadcast sends one message to many (data: a BroadcastRequest);
	// the reply is a TypeBroadcast.
	OpBroadcast = "broadcast"
	// OpBroadcastLists pages the user's lists (data.after, data.limit);
	// the reply is a TypeBroadcastLists.
	OpBroadcastLists = "broadcast_lists"
	// OpBroadcastList reads one list (data.list); the reply is a
	// TypeBroadcastList.
	OpBroadcastList = "broadcast_list"
	// OpBroadcastListCreate creates a list (data: a
	// BroadcastListCreate); the reply is a TypeBroadcastList.
	OpBroadcastListCreate = "broadcast_list_create"
	// OpBroadcastListRename renames a list (data.list, data.name); the
	// reply is a TypeBroadcastList.
	OpBroadcastListRename = "broadcast_list_rename"
	// OpBroadcastListChange adds and removes members (data.list,
	// data.add, data.remove); the reply is a TypeBroadcastList.
	OpBroadcastListChange = "broadcast_list_change"
	// OpBroadcastListMembers pages a list's members (data.list,
	// data.after, data.limit); the reply is a TypeBroadcastListMembers.
	OpBroadcastListMembers = "broadcast_list_members"
	// OpBroadcastListDelete deletes a list (data.list); the reply is ok.
	OpBroadcastListDelete = "broadcast_list_delete"
)

// Replies of the broadcast ops.
const (
	// TypeBroadcast is the reply to OpBroadcast: a BroadcastResult.
	TypeBroadcast = "broadcast"
	// TypeBroadcastLists is a BroadcastListPage.
	TypeBroadcastLists = "broadcast_lists"
	// TypeBroadcastList is a BroadcastList.
	TypeBroadcastList = "broadcast_list"
	// TypeBroadcastListMembers is a BroadcastMemberPage.
	TypeBroadcastListMembers = "broadcast_list_members"
)

// BroadcastRequest is one message to many users: the data of OpBroadcast
// and the body of POST /v1/broadcasts. Exactly one of List and To names
// the recipients.
type BroadcastRequest struct {
	// List is the id of one of the sender's broadcast lists.
	List string `json:"list,omitempty"`
	// To lists the recipients' user ids (repeats count once).
	To []string `json:"to,omitempty"`
	// ClientMsgID is the broadcast's idempotency key (required): a retry
	// with it stores no copy twice. The copy to user U is stored with the
	// client message id "<ClientMsgID>/<U>".
	ClientMsgID string          `json:"client_msg_id"`
	ContentType string          `json:"content_type,omitempty"`
	Body        string          `json:"body,omitempty"`
	Payload     json.RawMessage `json:"payload,omitempty"`
	Encrypted   bool            `json:"encrypted,omitempty"`
}

// BroadcastResult is the answer to a broadcast: one result per recipient.
type BroadcastResult struct {
	ClientMsgID string `json:"client_msg_id"`
	// List is the list the broadcast went to, if it went to one.
	List string `json:"list,omitempty"`
	// Sent counts the recipients that have their copy (an Ack), Stored
	// those of them whose copy this request stored (the others' were
	// stored by an earlier attempt with the same client_msg_id), Skipped
	// the recipients without a copy (an Error).
	Sent    int `json:"sent"`
	Stored  int `json:"stored"`
	Skipped int `json:"skipped"`
	// Results has one entry per recipient, in the order of To (repeats
	// left out) or, for a list, of user id.
	Results []BroadcastCopy `json:"results"`
}

// BroadcastCopy is what became of one recipient of a broadcast: the
// acknowledgement of the copy in the direct conversation with them, or
// why they were skipped.
type BroadcastCopy struct {
	User  string `json:"user"`
	Ack   *Ack   `json:"ack,omitempty"`
	Error *Error `json:"error,omitempty"`
}

// BroadcastList is one of a user's saved broadcast lists.
type BroadcastList struct {
	// ID names the list among its owner's lists (1–64 characters, safe in
	// MQTT topics: IMS/<self>/Broadcast/<id>).
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// Members is how many users the list holds.
	Members int `json:"members"`
	// Created and Updated are Unix ms: when the list was made, and last
	// renamed or changed.
	Created int64 `json:"created"`
	Updated int64 `json:"updated"`
}

// BroadcastListCreate creates a broadcast list: the data of
// OpBroadcastListCreate and the body of POST /v1/broadcast-lists.
type BroadcastListCreate struct {
	// List is the new list's id; empty: the server picks one.
	List    string   `json:"list,omitempty"`
	Name    string   `json:"name,omitempty"`
	Members []string `json:"members,omitempty"`
}

// BroadcastListChange adds users to a list and removes others: the data of
// OpBroadcastListChange (with list) and the body of POST
// /v1/broadcast-lists/{list}/members.
type BroadcastListChange struct {
	Add    []string `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
}

// BroadcastListPage is a page of a user's lists, ordered by id.
type BroadcastListPage struct {
	Lists []BroadcastList `json:"lists"`
	// Next, when set, is the after of the next page.
	Next string `json:"next,omitempty"`
}

// BroadcastMemberPage is a page of a list's members, ordered by user id.
type BroadcastMemberPage struct {
	Members []string `json:"members"`
	// Next, when set, is the after of the next page.
	Next string `json:"next,omitempty"`
}
