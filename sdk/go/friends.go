package parley

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"

	"github.com/parley-im/parley/protocol"
)

// Friends (docs/protocol.md 2.14). A request, its answer, its withdrawal
// and the end of a friendship each arrive on every device of both users
// as an entry of their system conversation (kind "friend", with Social
// naming the other user), through Messages like any entry. The methods
// that change something are not retried after a disconnect (a request may
// have been stored: its entry arrives on the next connection); a refusal
// by the friend request limit (429) is returned, not waited out, since the
// wait is counted in minutes.

// SettingsUpdate changes the settings whose field is not nil.
type SettingsUpdate struct {
	// Inbound is protocol.InboundAnyone or protocol.InboundFriends.
	Inbound        *string `json:"inbound,omitempty"`
	PresenceHidden *bool   `json:"presence_hidden,omitempty"`
	// GroupAdd is protocol.GroupAddAnyone or protocol.GroupAddFriends:
	// who may add the user to a group directly (invites.go).
	GroupAdd *string `json:"group_add,omitempty"`
}

// RequestFriend asks user to be friends, with an optional text (at most
// protocol.FriendTextMax bytes). The status is FriendPending, or
// FriendFriends if user had asked first (this accepted it).
func (c *Client) RequestFriend(ctx context.Context, user, text string) (protocol.FriendStatus, error) {
	var st protocol.FriendStatus
	err := c.request(ctx, protocol.Request{Op: protocol.OpFriendRequest, Data: jsonData(struct {
		User string `json:"user"`
		Text string `json:"text,omitempty"`
	}{user, text})}, false, &st)
	return st, err
}

// AnswerFriend accepts or declines user's pending request.
func (c *Client) AnswerFriend(ctx context.Context, user string, accept bool) (protocol.FriendStatus, error) {
	var st protocol.FriendStatus
	err := c.request(ctx, protocol.Request{Op: protocol.OpFriendAnswer, Data: jsonData(struct {
		User   string `json:"user"`
		Accept bool   `json:"accept"`
	}{user, accept})}, false, &st)
	return st, err
}

// WithdrawFriend withdraws the user's pending request to user.
func (c *Client) WithdrawFriend(ctx context.Context, user string) error {
	return c.request(ctx, protocol.Request{Op: protocol.OpFriendWithdraw, Data: userData(user)}, false, nil)
}

// Unfriend ends the friendship with user.
func (c *Client) Unfriend(ctx context.Context, user string) error {
	return c.request(ctx, protocol.Request{Op: protocol.OpUnfriend, Data: userData(user)}, false, nil)
}

// Friends returns a page of the user's friends ordered by id, after the id
// after (empty: the first page; a page's Next for the one after it);
// limit 0 is the server's maximum (500).
func (c *Client) Friends(ctx context.Context, after string, limit int) (protocol.FriendList, error) {
	var l protocol.FriendList
	err := c.request(ctx, protocol.Request{Op: protocol.OpFriends, Data: pageData("", after, limit)}, true, &l)
	return l, err
}

// FriendRequests returns a page of the pending requests to the user
// (incoming) or the user's own, ordered by the other user's id.
func (c *Client) FriendRequests(ctx context.Context, incoming bool, after string, limit int) (protocol.PendingFriendList, error) {
	var l protocol.PendingFriendList
	err := c.request(ctx, protocol.Request{Op: protocol.OpFriendRequests, Data: pageData(direction(incoming), after, limit)}, true, &l)
	return l, err
}

// Settings returns the user's settings.
func (c *Client) Settings(ctx context.Context) (protocol.Settings, error) {
	var s protocol.Settings
	err := c.request(ctx, protocol.Request{Op: protocol.OpSettings}, true, &s)
	return s, err
}

// UpdateSettings changes the settings u sets and returns them all.
func (c *Client) UpdateSettings(ctx context.Context, u SettingsUpdate) (protocol.Settings, error) {
	var s protocol.Settings
	err := c.request(ctx, protocol.Request{Op: protocol.OpSettings, Data: jsonData(u)}, true, &s)
	return s, err
}

func jsonData(v any) json.RawMessage {
	data, _ := json.Marshal(v)
	return data
}

func userData(user string) json.RawMessage {
	return jsonData(struct {
		User string `json:"user"`
	}{user})
}

func pageData(direction, after string, limit int) json.RawMessage {
	return jsonData(struct {
		Direction string `json:"direction,omitempty"`
		After     string `json:"after,omitempty"`
		Limit     int    `json:"limit,omitempty"`
	}{direction, after, limit})
}

func direction(incoming bool) string {
	if incoming {
		return "in"
	}
	return "out"
}

// RequestFriend asks user to be friends (POST /v1/friends/requests), as
// Client.RequestFriend does.
func (a *API) RequestFriend(ctx context.Context, user, text string) (protocol.FriendStatus, error) {
	var st protocol.FriendStatus
	err := a.do(ctx, "POST", "/v1/friends/requests", map[string]string{"user": user, "text": text}, &st)
	return st, err
}

// AnswerFriend accepts or declines user's pending request
// (POST /v1/friends/requests/{user}/accept or /decline).
func (a *API) AnswerFriend(ctx context.Context, user string, accept bool) (protocol.FriendStatus, error) {
	what := "/decline"
	if accept {
		what = "/accept"
	}
	var st protocol.FriendStatus
	err := a.do(ctx, "POST", "/v1/friends/requests/"+url.PathEscape(user)+what, nil, &st)
	return st, err
}

// WithdrawFriend withdraws the pending request to user
// (DELETE /v1/friends/requests/{user}).
func (a *API) WithdrawFriend(ctx context.Context, user string) error {
	return a.do(ctx, "DELETE", "/v1/friends/requests/"+url.PathEscape(user), nil, nil)
}

// Unfriend ends the friendship with user (DELETE /v1/friends/{user}).
func (a *API) Unfriend(ctx context.Context, user string) error {
	return a.do(ctx, "DELETE", "/v1/friends/"+url.PathEscape(user), nil, nil)
}

// Friends returns a page of the user's friends (GET /v1/friends).
func (a *API) Friends(ctx context.Context, after string, limit int) (protocol.FriendList, error) {
	var l protocol.FriendList
	err := a.do(ctx, "GET", pageQuery("/v1/friends", "", after, limit), nil, &l)
	return l, err
}

// FriendRequests returns a page of pending requests
// (GET /v1/friends/requests?direction=in|out).
func (a *API) FriendRequests(ctx context.Context, incoming bool, after string, limit int) (protocol.PendingFriendList, error) {
	var l protocol.PendingFriendList
	err := a.do(ctx, "GET", pageQuery("/v1/friends/requests", direction(incoming), after, limit), nil, &l)
	return l, err
}

// Settings returns the user's settings (GET /v1/me/settings).
func (a *API) Settings(ctx context.Context) (protocol.Settings, error) {
	var s protocol.Settings
	err := a.do(ctx, "GET", "/v1/me/settings", nil, &s)
	return s, err
}

// UpdateSettings changes the user's settings (PATCH /v1/me/settings).
func (a *API) UpdateSettings(ctx context.Context, u SettingsUpdate) (protocol.Settings, error) {
	var s protocol.Settings
	err := a.do(ctx, "PATCH", "/v1/me/settings", u, &s)
	return s, err
}

func pageQuery(path, direction, after string, limit int) string {
	q := url.Values{}
	if direction != "" {
		q.Set("direction", direction)
	}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return path
}
