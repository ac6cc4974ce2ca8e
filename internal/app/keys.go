package app

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// signingKeyFile is where a generated token signing key is kept.
const signingKeyFile = "signing.key"

// signingKey returns the configured key, or the one generated under the
// data directory (created on first use, readable by the owner only), so
// that the server and the admin CLI sign with the same key.
func signingKey(configured, dataDir string) ([]byte, error) {
	if configured != "" {
		if len(configured) < 32 {
			return nil, errors.New("auth.signing_key must be at least 32 characters")
		}
		return []byte(configured), nil
	}
	path := filepath.Join(dataDir, signingKeyFile)
	raw, err := os.ReadFile(path)
	if err == nil {
		key := strings.TrimSpace(string(raw))
		if len(key) < 32 {
			return nil, fmt.Errorf("signing key %s is too short", path)
		}
		return []byte(key), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	key := hex.EncodeToString(b[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		// Another process created it first: use theirs.
		return signingKey("", dataDir)
	}
	if err != nil {
		return nil, fmt.Errorf("create signing key: %w", err)
	}
	if _, err := f.WriteString(key + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("write signing key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("sync signing key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("close signing key: %w", err)
	}
	return []byte(key), nil
}
