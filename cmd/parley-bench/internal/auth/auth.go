package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// External signs application tokens (HS256) that a server started with
// PARLEY_AUTH_EXTERNAL_HMAC_SECRET accepts; the user is created on first use.
type External struct{ Secret []byte }

// NewExternal makes an External with a fresh random secret.
func NewExternal() (*External, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return &External{Secret: []byte(hex.EncodeToString(b))}, nil
}

// Env is what the server needs to accept the tokens.
func (a *External) Env() []string {
	return []string{"PARLEY_AUTH_EXTERNAL_HMAC_SECRET=" + string(a.Secret)}
}

// Token returns a token for user on device, valid for ttl.
func (a *External) Token(user, device string, ttl time.Duration) (string, error) {
	now := time.Now()
	return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": user, "dev": device, "iat": now.Unix(), "exp": now.Add(ttl).Unix(),
	}).SignedString(a.Secret)
}

// CLITokens creates users with "BIN user add" and access tokens with
// "BIN token" in dataDir (no server running), workers processes at a time.
// It returns the token of each user, bound to device.
func CLITokens(bin, dataDir string, users []string, device string, workers int) (map[string]string, error) {
	password := "loadtest-" + hex.EncodeToString([]byte(time.Now().Format("150405")))
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), "PARLEY_LOG_LEVEL=warn")
		out, err := cmd.Output()
		if err != nil {
			msg := ""
			if ee, ok := err.(*exec.ExitError); ok {
				msg = strings.TrimSpace(string(ee.Stderr))
			}
			return "", fmt.Errorf("%s %s: %v %s", filepath.Base(bin), strings.Join(args[:2], " "), err, msg)
		}
		return strings.TrimSpace(string(out)), nil
	}
	// The first user alone: it creates the database and the signing key.
	if _, err := run("user", "add", users[0], "--password", password, "--data-dir", dataDir); err != nil {
		return nil, err
	}
	tokens := make(map[string]string, len(users))
	var mu sync.Mutex
	var firstErr error
	jobs := make(chan string)
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range jobs {
				var err error
				if u != users[0] {
					_, err = run("user", "add", u, "--password", password, "--data-dir", dataDir)
				}
				var tok string
				if err == nil {
					tok, err = run("token", u, "--device", device, "--ttl", "2h", "--data-dir", dataDir)
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				tokens[u] = tok
				mu.Unlock()
			}
		}()
	}
	for _, u := range users {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed {
			break
		}
		jobs <- u
	}
	close(jobs)
	wg.Wait()
	return tokens, firstErr
}
