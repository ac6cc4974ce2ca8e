package store

import (
	"crypto/sha256"
	"encoding/base32"
)

// SystemConvPrefix starts the id of every system conversation
// (protocol.ConvSystem); no user id may start with it.
const SystemConvPrefix = "s_"

var systemIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// SystemConvID is the id of user's system conversation: derived from the
// user id alone, so that every node and every backend agree on it without
// a lookup. Backends create the conversation, with the user as its only
// member, in the transaction of the first entry written to it.
func SystemConvID(user string) string {
	sum := sha256.Sum256([]byte("system\x00" + user))
	return SystemConvPrefix + systemIDEncoding.EncodeToString(sum[:15])
}

// SystemEntry is an entry the server writes into User's system
// conversation. Append's Conv is ignored (the backend sets it to
// SystemConvID(User)) and no member check applies; the Sender is the user
// who acted (or protocol.SystemSender). Kind is protocol.KindFriend,
// KindInvite, KindFollow (with Social set), or KindMessage (a notice).
type SystemEntry struct {
	User string
	Append
}
