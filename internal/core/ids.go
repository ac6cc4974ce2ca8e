package core

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// MaxIDLen is the longest user, device or conversation id.
const MaxIDLen = 64

// reserved names the MQTT topic scheme uses; no user id may take them.
var reserved = map[string]bool{
	"p2p": true, "system": true, "broadcast": true, "inbox": true, "ims": true,
	"admin": true, "me": true, "all": true, "parley": true,
}

// ValidateUserID reports why id cannot be a user id, or nil. User ids are
// 1–64 characters, safe in topics (no '/', '+', '#', '$', whitespace, control
// characters), not reserved, and do not start with "g_", "d_" or "s_"
// (DESIGN.md §2.9).
func ValidateUserID(id string) error {
	if err := validateName("user", id); err != nil {
		return err
	}
	if reserved[strings.ToLower(id)] {
		return badField("user", "%q is a reserved name", id)
	}
	if ConvKind(id) != "" {
		return badField("user", "user ids may not start with g_, d_ or s_")
	}
	return nil
}

// ValidateDeviceID reports why id cannot be a device id, or nil.
func ValidateDeviceID(id string) error { return validateName("device", id) }

func validateName(field, id string) error {
	if id == "" {
		return badField(field, "is empty")
	}
	if len(id) > MaxIDLen {
		return badField(field, "is longer than %d bytes", MaxIDLen)
	}
	if !utf8.ValidString(id) {
		return badField(field, "is not valid UTF-8")
	}
	if id == "." || id == ".." {
		return badField(field, "%q is not allowed (it is a path segment)", id)
	}
	for _, r := range id {
		if r == '/' || r == '+' || r == '#' || r == '$' || r == '@' || unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError ||
			unicode.Is(unicode.Cf, r) {
			return badField(field, "contains %q, which is not allowed", r)
		}
	}
	return nil
}

// Conversation ids start with the kind of conversation they name.
const (
	groupPrefix  = "g_"
	directPrefix = "d_"
)

// ConvKind returns the kind of conversation an id names, by its prefix
// alone: protocol.ConvGroup for "g_", protocol.ConvDirect for "d_",
// protocol.ConvSystem for "s_" (store.SystemConvID), and "" for any other
// string (which no conversation has, and no user may take).
// It says nothing about the rest of the id: ValidateConvID checks that.
// Every test of a conversation id's kind goes through it.
func ConvKind(id string) string {
	switch {
	case strings.HasPrefix(id, groupPrefix):
		return protocol.ConvGroup
	case strings.HasPrefix(id, directPrefix):
		return protocol.ConvDirect
	case strings.HasPrefix(id, store.SystemConvPrefix):
		return protocol.ConvSystem
	}
	return ""
}

// ValidateConvID checks the syntax of a conversation id from a client.
func ValidateConvID(id string) error {
	if id == "" {
		return badField("conv", "is empty")
	}
	if len(id) > MaxIDLen || ConvKind(id) == "" {
		return badField("conv", "is not a conversation id")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return badField("conv", "is not a conversation id")
		}
	}
	return nil
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// DirectID is the id of the direct conversation of a and b: the same for
// (a, b) and (b, a), derived so that two nodes creating it at once agree.
func DirectID(a, b string) string {
	if a > b {
		a, b = b, a
	}
	sum := sha256.Sum256([]byte(a + "\x00" + b))
	return directPrefix + idEncoding.EncodeToString(sum[:15])
}

// SystemID is the id of user's system conversation (protocol.ConvSystem).
func SystemID(user string) string { return store.SystemConvID(user) }

// NewGroupID returns a fresh random group id.
func NewGroupID() string {
	var b [15]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("core: crypto/rand failed: " + err.Error())
	}
	return groupPrefix + idEncoding.EncodeToString(b[:])
}
