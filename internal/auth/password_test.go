package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestPasswordRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		password string
	}{
		{"ascii", "correct horse battery staple"},
		{"empty", ""},
		{"unicode", "пароль-密码-🔑"},
		{"long", strings.Repeat("x", 1024)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hash, err := HashPassword(tt.password)
			if err != nil {
				t.Fatalf("HashPassword: %v", err)
			}
			if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
				t.Errorf("hash %q is not a PHC argon2id string with the expected parameters", hash)
			}
			if strings.Contains(hash, tt.password) && tt.password != "" {
				t.Errorf("hash contains the password")
			}
			if !CheckPassword(hash, tt.password) {
				t.Errorf("CheckPassword(hash, %q) = false, want true", tt.password)
			}
			if CheckPassword(hash, tt.password+"x") {
				t.Errorf("CheckPassword accepted a wrong password")
			}
		})
	}
}

func TestHashPasswordSalted(t *testing.T) {
	t.Parallel()
	a, err := HashPassword("same")
	if err != nil {
		t.Fatal(err)
	}
	b, err := HashPassword("same")
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatalf("two hashes of one password are equal (%q): the salt is not random", a)
	}
	if !CheckPassword(a, "same") || !CheckPassword(b, "same") {
		t.Fatal("a salted hash does not verify")
	}
}

func TestCheckPasswordWrong(t *testing.T) {
	t.Parallel()
	hash, err := HashPassword("secret")
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"", "Secret", "secret ", " secret", "secre", "secret\x00"} {
		if CheckPassword(hash, pw) {
			t.Errorf("CheckPassword(hash of %q, %q) = true", "secret", pw)
		}
	}
}

func TestCheckPasswordEmptyHash(t *testing.T) {
	t.Parallel()
	for _, pw := range []string{"", "anything", "parley-timing-equalizer"} {
		if CheckPassword("", pw) {
			t.Errorf("CheckPassword(\"\", %q) = true; a user without a password must never log in", pw)
		}
	}
}

func TestVerifyMalformedHash(t *testing.T) {
	t.Parallel()
	good, err := HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$") // "", argon2id, v=19, m=..., salt, key
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	tests := []struct {
		name string
		hash string
	}{
		{"plain text", "pw"},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"too few parts", strings.Join(parts[:5], "$")},
		{"too many parts", good + "$extra"},
		{"argon2i", with(1, "argon2i")},
		{"argon2d", with(1, "argon2d")},
		{"wrong version", with(2, "v=16")},
		{"version not a number", with(2, "v=x")},
		{"params missing", with(3, "")},
		{"params garbage", with(3, "m=a,t=b,p=c")},
		{"parallelism overflows uint8", with(3, "m=19456,t=2,p=256")},
		{"zero rounds", with(3, "m=19456,t=0,p=1")},
		{"zero parallelism", with(3, "m=19456,t=2,p=0")},
		{"salt not base64", with(4, "!!!")},
		{"key not base64", with(5, "!!!")},
		{"empty key", with(5, "")},
		{"padded base64 key", with(5, parts[5]+"==")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ok bool
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("verify(%q) panicked: %v", tt.hash, r)
					}
				}()
				ok, err = verify(tt.hash, "pw")
			}()
			if ok || !errors.Is(err, ErrBadHash) {
				t.Errorf("verify(%q) = %v, %v; want false, ErrBadHash", tt.hash, ok, err)
			}
			if CheckPassword(tt.hash, "pw") {
				t.Errorf("CheckPassword(%q) = true", tt.hash)
			}
		})
	}
}
