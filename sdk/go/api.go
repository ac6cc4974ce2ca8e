package parley

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parley-im/parley/protocol"
)

// API calls Parley's HTTP API. Token is the access token (empty for the
// unauthenticated calls: Register, Login, Refresh).
type API struct {
	BaseURL    string // e.g. "http://127.0.0.1:8080"
	Token      string
	HTTPClient *http.Client // nil: http.DefaultClient
}

// Register creates an account (if the server allows self-registration).
func (a *API) Register(ctx context.Context, user, password, displayName string) (protocol.User, error) {
	var u protocol.User
	err := a.do(ctx, "POST", "/v1/register", map[string]string{"user": user, "password": password, "display_name": displayName}, &u)
	return u, err
}

// Login signs in on a device and returns tokens.
func (a *API) Login(ctx context.Context, user, password, device string) (protocol.Tokens, error) {
	var t protocol.Tokens
	err := a.do(ctx, "POST", "/v1/login", map[string]string{"user": user, "password": password, "device": device}, &t)
	return t, err
}

// Refresh exchanges a refresh token for new tokens.
func (a *API) Refresh(ctx context.Context, refreshToken string) (protocol.Tokens, error) {
	var t protocol.Tokens
	err := a.do(ctx, "POST", "/v1/refresh", map[string]string{"refresh_token": refreshToken}, &t)
	return t, err
}

// Logout revokes the session of Token.
func (a *API) Logout(ctx context.Context) error { return a.do(ctx, "POST", "/v1/logout", nil, nil) }

// Direct returns the direct conversation with user, creating it if needed.
func (a *API) Direct(ctx context.Context, user string) (protocol.Conversation, error) {
	var c protocol.Conversation
	err := a.do(ctx, "POST", "/v1/conversations/direct", map[string]string{"user": user}, &c)
	return c, err
}

// CreateGroup creates a group with the given members; the caller is its
// owner. The group starts with one entry, seq 1: a protocol.KindMember
// message with Member.Action protocol.MemberCreated, delivered to every
// member's devices (there is no "added" entry per initial member). Members
// (or Client.Members) lists who is in it.
func (a *API) CreateGroup(ctx context.Context, name string, members ...string) (protocol.Conversation, error) {
	var c protocol.Conversation
	err := a.do(ctx, "POST", "/v1/groups", map[string]any{"name": name, "members": members}, &c)
	return c, err
}

// AddMember adds user to a group.
func (a *API) AddMember(ctx context.Context, conv, user string) (protocol.Ack, error) {
	var ack protocol.Ack
	err := a.do(ctx, "POST", "/v1/conversations/"+url.PathEscape(conv)+"/members", map[string]string{"user": user}, &ack)
	return ack, err
}

// RemoveMember removes user from a group.
func (a *API) RemoveMember(ctx context.Context, conv, user string) (protocol.Ack, error) {
	var ack protocol.Ack
	err := a.do(ctx, "DELETE", "/v1/conversations/"+url.PathEscape(conv)+"/members/"+url.PathEscape(user), nil, &ack)
	return ack, err
}

// Send sends a message over HTTP to conv, or to the direct conversation
// with m.To if conv is empty. An empty m.ClientMsgID is generated; retry
// with the same one after an error. A send refused by the server's rate
// limit (429) stored nothing: Send waits the advised delay and sends again
// with the same client message id, until ctx ends.
func (a *API) Send(ctx context.Context, conv string, m SendOptions) (protocol.Ack, error) {
	if m.ClientMsgID == "" {
		m.ClientMsgID = NewClientMsgID()
	}
	var ack protocol.Ack
	path := "/v1/conversations/" + url.PathEscape(conv) + "/messages"
	if conv == "" {
		path = "/v1/users/" + url.PathEscape(m.To) + "/messages"
	}
	body := map[string]any{"client_msg_id": m.ClientMsgID, "body": m.Body, "content_type": m.ContentType, "encrypted": m.Encrypted}
	if len(m.Payload) > 0 {
		body["payload"] = m.Payload
	}
	for {
		err := a.do(ctx, "POST", path, body, &ack)
		if !waitRateLimited(ctx, err) {
			return ack, err
		}
	}
}

// History pages a conversation over HTTP.
func (a *API) History(ctx context.Context, conv string, h HistoryOptions) (protocol.Page, error) {
	q := url.Values{}
	if h.Before != nil {
		q.Set("before", strconv.FormatUint(*h.Before, 10))
	}
	if h.After != nil {
		q.Set("after", strconv.FormatUint(*h.After, 10))
	}
	if h.Limit > 0 {
		q.Set("limit", strconv.Itoa(h.Limit))
	}
	var p protocol.Page
	err := a.do(ctx, "GET", "/v1/conversations/"+url.PathEscape(conv)+"/messages?"+q.Encode(), nil, &p)
	return p, err
}

// Conversations lists the user's conversations, newest first.
func (a *API) Conversations(ctx context.Context) (protocol.ConversationList, error) {
	var l protocol.ConversationList
	err := a.do(ctx, "GET", "/v1/conversations", nil, &l)
	return l, err
}

// Read marks conv read up to seq.
func (a *API) Read(ctx context.Context, conv string, seq uint64) (protocol.ReadState, error) {
	var st protocol.ReadState
	err := a.do(ctx, "POST", "/v1/conversations/"+url.PathEscape(conv)+"/read", map[string]uint64{"seq": seq}, &st)
	return st, err
}

// Members lists a conversation's members and their positions.
func (a *API) Members(ctx context.Context, conv string) ([]protocol.Member, error) {
	var out struct {
		Members []protocol.Member `json:"members"`
	}
	err := a.do(ctx, "GET", "/v1/conversations/"+url.PathEscape(conv)+"/members", nil, &out)
	return out.Members, err
}

// Devices lists the user's devices.
func (a *API) Devices(ctx context.Context) ([]protocol.Device, error) {
	var out struct {
		Devices []protocol.Device `json:"devices"`
	}
	err := a.do(ctx, "GET", "/v1/devices", nil, &out)
	return out.Devices, err
}

// Presence returns the presence of those of users whose presence the user
// may see (GET /v1/presence), as Client.Presence does: the user, and
// contacts (friends, co-members of small groups) who do not hide it and
// are not blocked either way; the others are left out, unknown users
// included. At most 100 users at once (400 beyond); a query spends the
// user's query budget (429).
func (a *API) Presence(ctx context.Context, users ...string) ([]protocol.Presence, error) {
	path := "/v1/presence"
	if len(users) > 0 {
		path += "?" + url.Values{"users": {strings.Join(users, ",")}}.Encode()
	}
	var out struct {
		Presence []protocol.Presence `json:"presence"`
	}
	err := a.do(ctx, "GET", path, nil, &out)
	return out.Presence, err
}

// RevokeDevice revokes one of the user's devices.
func (a *API) RevokeDevice(ctx context.Context, device string) error {
	return a.do(ctx, "DELETE", "/v1/devices/"+url.PathEscape(device), nil, nil)
}

// do performs a JSON request; an error response becomes a *protocol.Error.
func (a *API) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(a.BaseURL, "/")+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.Token != "" {
		req.Header.Set("Authorization", "Bearer "+a.Token)
	}
	hc := a.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		var eb struct {
			Error *protocol.Error `json:"error"`
		}
		pe := &protocol.Error{Code: resp.StatusCode, Reason: http.StatusText(resp.StatusCode)}
		if json.Unmarshal(data, &eb) == nil && eb.Error != nil {
			pe = eb.Error
		}
		withRetryAfter(pe, resp.Header)
		return pe
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decode response: %w", err)
		}
	}
	return nil
}

// withRetryAfter fills in pe.RetryAfterMS from a Retry-After header (whole
// seconds) on a 429 whose body gave none.
func withRetryAfter(pe *protocol.Error, h http.Header) {
	if pe.Code != protocol.CodeTooMany || pe.RetryAfterMS > 0 {
		return
	}
	if n, err := strconv.Atoi(h.Get("Retry-After")); err == nil && n > 0 {
		pe.RetryAfterMS = int64(n) * 1000
	}
}

// minRateLimitWait is the least a client waits after a 429, whatever it was
// advised.
const minRateLimitWait = 50 * time.Millisecond

// waitRateLimited reports whether err is a refusal by a rate limit (429),
// after waiting the delay the server advised (retry_after_ms); false if it
// is not, or ctx ended first.
func waitRateLimited(ctx context.Context, err error) bool {
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeTooMany {
		return false
	}
	t := time.NewTimer(max(minRateLimitWait, time.Duration(pe.RetryAfterMS)*time.Millisecond))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
