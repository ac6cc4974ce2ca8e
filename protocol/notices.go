package protocol

import "encoding/json"

// Server-side tags and system notices (docs/operations.md, "Tags and
// system notices"): the admin API's bodies. A notice reaches each user of
// its audience as a content message from SystemSender in the user's system
// conversation (ConvSystem), with Social.Notice set to the notice's id.

// UserTags is a user's tags, key → value.
type UserTags struct {
	User string            `json:"user"`
	Tags map[string]string `json:"tags"`
}

// TagsUpdate changes some of a user's tags (PATCH): Set adds or replaces
// keys, then Delete removes keys.
type TagsUpdate struct {
	Set    map[string]string `json:"set,omitempty"`
	Delete []string          `json:"delete,omitempty"`
}

// TagsImport changes the tags of many users at once (the admin API's bulk
// import, and `parley tags import`). Each entry sets the keys it names;
// an empty value deletes the key. With Replace, each user's tags become
// exactly the entry's (empty values left out). With CreateUsers, a user
// that does not exist is created (without a password, as users of an
// external identity provider are); otherwise it fails its entry.
type TagsImport struct {
	Users       []UserTags `json:"users"`
	Replace     bool       `json:"replace,omitempty"`
	CreateUsers bool       `json:"create_users,omitempty"`
}

// TagsImportResult counts what an import did; Failed lists the entries
// that changed nothing, by index in the request.
type TagsImportResult struct {
	Changed   int                 `json:"changed"`
	Unchanged int                 `json:"unchanged"`
	Created   int                 `json:"created"`
	Failed    []TagsImportFailure `json:"failed"`
}

// TagsImportFailure is an entry of an import that failed.
type TagsImportFailure struct {
	Index int    `json:"index"`
	User  string `json:"user"`
	Error string `json:"error"`
}

// Audience is how many users a tag expression matches now.
type Audience struct {
	// To is the expression in its canonical form.
	To      string `json:"to"`
	Matched int64  `json:"matched"`
	// Values are the tag values it addresses (MQTT's IMS/System/<value>).
	Values []string `json:"values"`
}

// NoticeRequest sends a system notice to the users whose tags match To:
// "region=beijing", "region=hangzhou AND plan=pro", "NOT plan=free",
// "(a=1 OR b=2) AND c=3", or "*" for every user.
type NoticeRequest struct {
	To          string          `json:"to"`
	ContentType string          `json:"content_type,omitempty"`
	Body        string          `json:"body,omitempty"`
	Payload     json.RawMessage `json:"payload,omitempty"`
}

// States of a Notice.
const (
	NoticeSending   = "sending"
	NoticeDone      = "done"
	NoticeCancelled = "cancelled"
)

// Notice is a system notice and its progress.
type Notice struct {
	ID string `json:"id"`
	// To is the audience's expression, in canonical form; Values the tag
	// values it addresses.
	To          string          `json:"to"`
	Values      []string        `json:"values"`
	ContentType string          `json:"content_type"`
	Body        string          `json:"body,omitempty"`
	Payload     json.RawMessage `json:"payload,omitempty"`
	CreatedBy   string          `json:"created_by,omitempty"`
	CreatedAt   int64           `json:"created_at"`
	// State is NoticeSending, NoticeDone or NoticeCancelled.
	State string `json:"state"`
	// Matched is the size of the audience (-1 until it is counted, as
	// sending starts); Stored the copies stored so far; Skipped, once
	// done, the users of the audience deleted before their turn;
	// Delivered the users who had a connected device when their copy
	// was stored, to which it was sent at once (the others get it when
	// they connect and resume).
	Matched   int64 `json:"matched"`
	Stored    int64 `json:"stored"`
	Skipped   int64 `json:"skipped"`
	Delivered int64 `json:"delivered"`
	// FinishedAt is when it was done or cancelled (Unix ms).
	FinishedAt int64 `json:"finished_at,omitempty"`
}

// NoticeList is a page of notices, newest first; Next, if set, is the
// before parameter of the next page.
type NoticeList struct {
	Notices []Notice `json:"notices"`
	Next    string   `json:"next,omitempty"`
}
