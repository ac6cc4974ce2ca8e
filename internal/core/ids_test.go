package core

import (
	"errors"
	"strings"
	"testing"

	"github.com/parley-im/parley/protocol"
)

// wantField checks that err is a bad request naming field.
func wantField(t *testing.T, err error, field string) {
	t.Helper()
	if !errors.Is(err, ErrBadRequest) {
		t.Fatalf("error %v is not a bad request", err)
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v is not a *FieldError", err)
	}
	if fe.Field != field {
		t.Errorf("field = %q, want %q", fe.Field, field)
	}
	if fe.Reason == "" {
		t.Error("empty reason")
	}
}

// nameCases are ids judged alike by ValidateUserID and ValidateDeviceID.
var nameCases = []struct {
	name string
	id   string
	ok   bool
}{
	{"lower", "alice", true},
	{"mixed case", "Alice", true},
	{"one char", "a", true},
	{"digits and punctuation", "bob.smith-2_x", true},
	{"64 bytes", strings.Repeat("a", 64), true},
	{"unicode letters", "用户名", true},
	{"accented", "josé", true},
	{"emoji", "🦜", true},
	{"32 two-byte runes (64 bytes)", strings.Repeat("é", 32), true},

	{"empty", "", false},
	{"65 bytes", strings.Repeat("a", 65), false},
	{"33 two-byte runes (66 bytes)", strings.Repeat("é", 33), false},
	{"slash", "a/b", false},
	{"leading slash", "/a", false},
	{"plus", "a+b", false},
	{"hash", "a#", false},
	{"dollar", "$SYS", false},
	{"at", "a@b", false},
	{"mqtt client id separator", "grp@@@dev", false},
	{"space", "a b", false},
	{"leading space", " a", false},
	{"trailing space", "a ", false},
	{"tab", "a\tb", false},
	{"newline", "a\nb", false},
	{"carriage return", "a\r", false},
	{"no-break space", "a\u00a0b", false},
	{"ideographic space", "a\u3000b", false},
	{"line separator", "a\u2028b", false},
	{"NUL", "a\x00b", false},
	{"only NUL", "\x00", false},
	{"DEL", "a\x7f", false},
	{"C1 control", "a\u0085b", false},
	{"escape", "a\x1b[31m", false},
	{"right-to-left override", "abc\u202Egnp.exe", false},
	{"zero-width space", "a\u200bb", false},
	{"zero-width joiner", "a\u200db", false},
	{"byte order mark", "\ufeffa", false},
	{"soft hyphen", "a\u00adb", false},
	{"replacement character", "a\ufffd", false},
	{"invalid UTF-8", "a\xffb", false},
	{"truncated UTF-8", "a\xc3", false},
	{"overlong UTF-8", "\xc0\xaf", false},
	{"UTF-16 surrogate", "\xed\xa0\x80", false},
}

func TestValidateUserID(t *testing.T) {
	t.Parallel()
	tests := append([]struct {
		name string
		id   string
		ok   bool
	}{
		{"reserved p2p", "p2p", false},
		{"reserved System", "System", false},
		{"reserved SYSTEM", "SYSTEM", false},
		{"reserved broadcast", "broadcast", false},
		{"reserved Inbox", "Inbox", false},
		{"reserved IMS", "IMS", false},
		{"reserved admin", "admin", false},
		{"reserved me", "me", false},
		{"reserved all", "all", false},
		{"reserved parley", "Parley", false},
		{"group prefix", "g_abc", false},
		{"bare group prefix", "g_", false},
		{"direct prefix", "d_abc", false},
		{"reserved word inside", "systems", true},
		{"g without underscore", "gabc", true},
		{"d with dash", "d-abc", true},
		{"underscore g later", "ag_b", true},
	}, nameCases...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateUserID(tt.id)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateUserID(%q) = %v, want nil", tt.id, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateUserID(%q) = nil, want an error", tt.id)
			}
			wantField(t, err, "user")
		})
	}
}

func TestValidateDeviceID(t *testing.T) {
	t.Parallel()
	tests := append([]struct {
		name string
		id   string
		ok   bool
	}{
		// Reserved names and prefixes apply to user ids only.
		{"system", "system", true},
		{"g_ prefix", "g_phone", true},
		{"d_ prefix", "d_phone", true},
		{"default", DefaultDevice, true},
	}, nameCases...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateDeviceID(tt.id)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateDeviceID(%q) = %v, want nil", tt.id, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateDeviceID(%q) = nil, want an error", tt.id)
			}
			wantField(t, err, "device")
		})
	}
}

func TestValidateConvID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		id   string
		ok   bool
	}{
		{"direct id", DirectID("alice", "bob"), true},
		{"group id", NewGroupID(), true},
		{"hand-made group", "g_team1", true},
		{"hand-made direct", "d_abc", true},
		{"64 bytes", "g_" + strings.Repeat("a", 62), true},

		{"empty", "", false},
		{"no prefix", "abc", false},
		{"user id", "alice", false},
		{"other prefix", "x_abc", false},
		{"upper-case prefix", "G_abc", false},
		{"upper-case body", "g_ABC", false},
		{"65 bytes", "g_" + strings.Repeat("a", 63), false},
		{"dash", "g_a-b", false},
		{"dot", "g_a.b", false},
		{"slash", "g_a/b", false},
		{"plus", "g_a+b", false},
		{"hash", "g_#", false},
		{"dollar", "g_$", false},
		{"at", "g_a@b", false},
		{"space", "g_a b", false},
		{"NUL", "g_a\x00", false},
		{"control", "g_a\x01", false},
		{"right-to-left override", "g_a\u202e", false},
		{"non-ASCII letter", "g_é", false},
		{"invalid UTF-8", "g_\xff", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateConvID(tt.id)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateConvID(%q) = %v, want nil", tt.id, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateConvID(%q) = nil, want an error", tt.id)
			}
			wantField(t, err, "conv")
		})
	}
}

// idAlphabet is the lower-case base32 alphabet of generated ids.
const idAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

func checkGeneratedID(t *testing.T, id, prefix string) {
	t.Helper()
	if !strings.HasPrefix(id, prefix) || len(id) != len(prefix)+24 {
		t.Fatalf("id %q is not %q followed by 24 characters", id, prefix)
	}
	for _, r := range id[len(prefix):] {
		if !strings.ContainsRune(idAlphabet, r) {
			t.Fatalf("id %q contains %q, outside the base32 alphabet", id, r)
		}
	}
	if err := ValidateConvID(id); err != nil {
		t.Fatalf("ValidateConvID(%q) = %v", id, err)
	}
	if err := ValidateUserID(id); err == nil {
		t.Fatalf("generated conversation id %q is a valid user id", id)
	}
}

func TestDirectID(t *testing.T) {
	t.Parallel()
	pairs := [][2]string{{"alice", "bob"}, {"a", "b"}, {"用户", "bob"}, {"Bob", "bob"}, {strings.Repeat("z", 64), "a"}}
	for _, p := range pairs {
		ab, ba := DirectID(p[0], p[1]), DirectID(p[1], p[0])
		if ab != ba {
			t.Errorf("DirectID(%q, %q) = %q but DirectID(%q, %q) = %q", p[0], p[1], ab, p[1], p[0], ba)
		}
		if again := DirectID(p[0], p[1]); again != ab {
			t.Errorf("DirectID(%q, %q) is not deterministic: %q then %q", p[0], p[1], ab, again)
		}
		checkGeneratedID(t, ab, "d_")
	}
}

// TestDirectIDStable pins the derivation: conversations already stored
// under these ids must be found again by every version and every node.
// The values are sha256(a "\x00" b)[:15] in lower-case base32, a < b.
func TestDirectIDStable(t *testing.T) {
	t.Parallel()
	tests := []struct{ a, b, want string }{
		{"alice", "bob", "d_cqnezuscwz7if3puu6f3iggu"},
		{"a", "bc", "d_ic5vi7mtno6tcmmo4n5mq6m6"},
		{"ab", "c", "d_nqbs4yy5hgqu3bnp67rrsvdk"},
	}
	for _, tt := range tests {
		if got := DirectID(tt.a, tt.b); got != tt.want {
			t.Errorf("DirectID(%q, %q) = %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestDirectIDDistinct(t *testing.T) {
	t.Parallel()
	// Concatenation must not collide: the separator tells "a"+"bc" from "ab"+"c".
	seen := map[string][2]string{}
	users := []string{"a", "ab", "abc", "b", "bc", "c", "alice", "bob", "carol"}
	for i, u := range users {
		for _, v := range users[i+1:] {
			id := DirectID(u, v)
			if prev, dup := seen[id]; dup {
				t.Errorf("DirectID(%q, %q) = DirectID(%q, %q) = %q", u, v, prev[0], prev[1], id)
			}
			seen[id] = [2]string{u, v}
		}
	}
}

func TestNewGroupID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		id := NewGroupID()
		checkGeneratedID(t, id, "g_")
		if seen[id] {
			t.Fatalf("NewGroupID repeated %q", id)
		}
		seen[id] = true
	}
}

func TestConvKind(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]string{
		"g_abc": protocol.ConvGroup, "g_": protocol.ConvGroup, "g_X/#": protocol.ConvGroup,
		"d_abc": protocol.ConvDirect, "d_": protocol.ConvDirect,
		"": "", "g": "", "d": "", "G_abc": "", "D_abc": "", "x_abc": "", "gg_a": "", "alice": "", "_g_a": "",
		NewGroupID(): protocol.ConvGroup, DirectID("a", "b"): protocol.ConvDirect,
	} {
		if got := ConvKind(id); got != want {
			t.Errorf("ConvKind(%q) = %q, want %q", id, got, want)
		}
	}
}
