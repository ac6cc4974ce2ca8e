package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// Observability: an end-to-end run logged at debug level carries a request
// id on every HTTP request line and never contains a password, an access or
// refresh token, or a message body.
func TestLogsCarryRequestIDsAndNoSecrets(t *testing.T) {
	t.Parallel()
	s, logs := startServerWithLog(t, nil)
	ctx := ctxT(t)
	const password = "pw-Secret-7f3a9c-dont-log-me"
	const body = "body-Secret-51e2b8-dont-log-me"
	api := &parley.API{BaseURL: s.URL}
	for _, u := range []string{"alice", "bob"} {
		if _, err := api.Register(ctx, u, password, ""); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := api.Login(ctx, "alice", password, "phone")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.Login(ctx, "alice", "wrong-"+password, "phone"); err == nil {
		t.Fatal("wrong password accepted")
	}
	next, err := api.Refresh(ctx, tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := parley.Dial(ctx, parley.Options{URL: s.URL, Token: next.AccessToken})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	if _, err := alice.Send(ctx, parley.SendOptions{To: "bob", Body: body, Payload: []byte(`{"secret":"` + body + `"}`)}); err != nil {
		t.Fatal(err)
	}
	http := &parley.API{BaseURL: s.URL, Token: next.AccessToken}
	ack, err := http.Send(ctx, "", parley.SendOptions{To: "bob", Body: body + "-http"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := http.Send(ctx, ack.Conv, parley.SendOptions{Body: strings.Repeat("x", 70_000)}); !isCode(err, protocol.CodeTooLarge) {
		t.Fatalf("oversized send: %v", err)
	}
	recv(t, alice, 2, 5*time.Second)
	alice.Close()
	s.stop()

	out := logs.String()
	for what, secret := range map[string]string{
		"password": password, "access token": tok.AccessToken, "refreshed access token": next.AccessToken,
		"refresh token": tok.RefreshToken, "rotated refresh token": next.RefreshToken, "message body": body,
		"token signature": tok.AccessToken[strings.LastIndexByte(tok.AccessToken, '.')+1:],
	} {
		if strings.Contains(out, secret) {
			t.Errorf("the log contains the %s", what)
		}
	}
	lines := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, `msg="http request"`) {
			lines++
			if !strings.Contains(line, "request_id=") || !strings.Contains(line, "status=") {
				t.Errorf("request line without id or status: %s", line)
			}
		}
	}
	if lines < 6 {
		t.Fatalf("%d request lines logged, want one per HTTP request:\n%s", lines, out)
	}
}
