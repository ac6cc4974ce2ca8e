package parley

import (
	"context"
	"net/url"
	"time"

	"github.com/parley-im/parley/protocol"
)

// Group invitations, invite links and join requests (docs/protocol.md
// 2.11). An invitation, its revocation and answer, a join request and its
// outcome each arrive on every device of the users concerned as an entry
// of their system conversation (kind "invite", with Social naming the
// group), through Messages like any entry; becoming a member is the
// group's "member" entry with action protocol.MemberJoined. The methods
// that change something are not retried after a disconnect (the change
// may have been stored: its entries arrive on the next connection).

// GroupOptions describe a group to create.
type GroupOptions struct {
	Name string `json:"name"`
	// Members are added directly, each as their group_add setting
	// allows (else 403 invite_required).
	Members []string `json:"members,omitempty"`
	// Invite are invited: each becomes a member by accepting.
	Invite []string `json:"invite,omitempty"`
}

// LinkOptions describe an invite link to create.
type LinkOptions struct {
	// ExpiresIn is how long the link works, in whole seconds; 0: a week.
	ExpiresIn time.Duration
	// MaxUses bounds the joins and join requests made with it; 0: none.
	MaxUses int
}

// linkBody is LinkOptions on the wire.
type linkBody struct {
	Conv      string `json:"conv,omitempty"`
	ExpiresIn int64  `json:"expires_in,omitempty"`
	MaxUses   int    `json:"max_uses,omitempty"`
}

func (o LinkOptions) body(conv string) linkBody {
	return linkBody{conv, int64(o.ExpiresIn / time.Second), o.MaxUses}
}

// NewGroup creates a group, adding o.Members and inviting o.Invite; the
// caller is its owner.
func (c *Client) NewGroup(ctx context.Context, o GroupOptions) (protocol.Conversation, error) {
	var conv protocol.Conversation
	err := c.request(ctx, protocol.Request{Op: protocol.OpGroupCreate, Data: jsonData(o)}, false, &conv)
	return conv, err
}

// Invite invites users to the group conv (owners and admins).
func (c *Client) Invite(ctx context.Context, conv string, users ...string) (protocol.InviteResult, error) {
	var r protocol.InviteResult
	err := c.request(ctx, protocol.Request{Op: protocol.OpInvite, Data: jsonData(struct {
		Conv  string   `json:"conv"`
		Users []string `json:"users"`
	}{conv, users})}, false, &r)
	return r, err
}

// AnswerInvite accepts or declines the user's invitation to conv. An
// acceptance returns the acknowledgement of the group's joined entry; a
// decline a zero Ack.
func (c *Client) AnswerInvite(ctx context.Context, conv string, accept bool) (protocol.Ack, error) {
	var ack protocol.Ack
	err := c.request(ctx, protocol.Request{Op: protocol.OpInviteAnswer, Data: jsonData(struct {
		Conv   string `json:"conv"`
		Accept bool   `json:"accept"`
	}{conv, accept})}, false, &ack)
	return ack, err
}

// RevokeInvite withdraws the invitation of user to conv.
func (c *Client) RevokeInvite(ctx context.Context, conv, user string) error {
	return c.request(ctx, protocol.Request{Op: protocol.OpInviteRevoke, Data: convUserData(conv, user)}, false, nil)
}

// Invites returns a page of pending invitations: conv's (owners and
// admins), or with conv empty the user's own.
func (c *Client) Invites(ctx context.Context, conv, after string, limit int) (protocol.InvitationList, error) {
	var l protocol.InvitationList
	err := c.request(ctx, protocol.Request{Op: protocol.OpInvites, Data: convPageData(conv, after, limit)}, true, &l)
	return l, err
}

// CreateLink creates an invite link to conv (owners and admins).
func (c *Client) CreateLink(ctx context.Context, conv string, o LinkOptions) (protocol.InviteLink, error) {
	var l protocol.InviteLink
	err := c.request(ctx, protocol.Request{Op: protocol.OpLinkCreate, Data: jsonData(o.body(conv))}, false, &l)
	return l, err
}

// RevokeLink deletes the link token of conv.
func (c *Client) RevokeLink(ctx context.Context, conv, token string) error {
	return c.request(ctx, protocol.Request{Op: protocol.OpLinkRevoke, Data: jsonData(struct {
		Conv  string `json:"conv"`
		Token string `json:"token"`
	}{conv, token})}, false, nil)
}

// Links lists conv's usable links, newest first.
func (c *Client) Links(ctx context.Context, conv string) (protocol.InviteLinkList, error) {
	var l protocol.InviteLinkList
	err := c.request(ctx, protocol.Request{Op: protocol.OpLinks, Data: convPageData(conv, "", 0)}, true, &l)
	return l, err
}

// Join joins the group of the link token, or asks to (the group's join
// approval): see the result's Status.
func (c *Client) Join(ctx context.Context, token string) (protocol.JoinResult, error) {
	var r protocol.JoinResult
	err := c.request(ctx, protocol.Request{Op: protocol.OpJoin, Data: jsonData(struct {
		Token string `json:"token"`
	}{token})}, false, &r)
	return r, err
}

// JoinRequests returns a page of conv's pending join requests.
func (c *Client) JoinRequests(ctx context.Context, conv, after string, limit int) (protocol.JoinRequestList, error) {
	var l protocol.JoinRequestList
	err := c.request(ctx, protocol.Request{Op: protocol.OpJoinRequests, Data: convPageData(conv, after, limit)}, true, &l)
	return l, err
}

// AnswerJoinRequest approves or denies user's join request to conv. An
// approval returns the acknowledgement of the group's joined entry.
func (c *Client) AnswerJoinRequest(ctx context.Context, conv, user string, approve bool) (protocol.Ack, error) {
	var ack protocol.Ack
	err := c.request(ctx, protocol.Request{Op: protocol.OpJoinAnswer, Data: jsonData(struct {
		Conv    string `json:"conv"`
		User    string `json:"user"`
		Approve bool   `json:"approve"`
	}{conv, user, approve})}, false, &ack)
	return ack, err
}

// GroupSettings returns conv's settings.
func (c *Client) GroupSettings(ctx context.Context, conv string) (protocol.GroupSettings, error) {
	var s protocol.GroupSettings
	err := c.request(ctx, protocol.Request{Op: protocol.OpGroupSettings, Data: convPageData(conv, "", 0)}, true, &s)
	return s, err
}

// SetJoinApproval turns conv's join approval on or off.
func (c *Client) SetJoinApproval(ctx context.Context, conv string, on bool) (protocol.GroupSettings, error) {
	var s protocol.GroupSettings
	err := c.request(ctx, protocol.Request{Op: protocol.OpGroupSettings, Data: jsonData(struct {
		Conv         string `json:"conv"`
		JoinApproval bool   `json:"join_approval"`
	}{conv, on})}, false, &s)
	return s, err
}

func convUserData(conv, user string) []byte {
	return jsonData(struct {
		Conv string `json:"conv"`
		User string `json:"user"`
	}{conv, user})
}

func convPageData(conv, after string, limit int) []byte {
	return jsonData(struct {
		Conv  string `json:"conv,omitempty"`
		After string `json:"after,omitempty"`
		Limit int    `json:"limit,omitempty"`
	}{conv, after, limit})
}

// NewGroup creates a group (POST /v1/groups), as Client.NewGroup does.
func (a *API) NewGroup(ctx context.Context, o GroupOptions) (protocol.Conversation, error) {
	var c protocol.Conversation
	err := a.do(ctx, "POST", "/v1/groups", o, &c)
	return c, err
}

// Invite invites users to conv (POST /v1/conversations/{conv}/invites).
func (a *API) Invite(ctx context.Context, conv string, users ...string) (protocol.InviteResult, error) {
	var r protocol.InviteResult
	err := a.do(ctx, "POST", convPath(conv)+"/invites", map[string][]string{"users": users}, &r)
	return r, err
}

// AnswerInvite accepts or declines the user's invitation to conv
// (POST /v1/invites/{conv}/accept or /decline), as Client.AnswerInvite
// does.
func (a *API) AnswerInvite(ctx context.Context, conv string, accept bool) (protocol.Ack, error) {
	var ack protocol.Ack
	if !accept {
		return ack, a.do(ctx, "POST", "/v1/invites/"+url.PathEscape(conv)+"/decline", nil, nil)
	}
	err := a.do(ctx, "POST", "/v1/invites/"+url.PathEscape(conv)+"/accept", nil, &ack)
	return ack, err
}

// RevokeInvite withdraws user's invitation to conv
// (DELETE /v1/conversations/{conv}/invites/{user}).
func (a *API) RevokeInvite(ctx context.Context, conv, user string) error {
	return a.do(ctx, "DELETE", convPath(conv)+"/invites/"+url.PathEscape(user), nil, nil)
}

// Invites returns a page of pending invitations, conv's or with conv
// empty the user's own (GET /v1/conversations/{conv}/invites, /v1/invites).
func (a *API) Invites(ctx context.Context, conv, after string, limit int) (protocol.InvitationList, error) {
	path := "/v1/invites"
	if conv != "" {
		path = convPath(conv) + "/invites"
	}
	var l protocol.InvitationList
	err := a.do(ctx, "GET", pageQuery(path, "", after, limit), nil, &l)
	return l, err
}

// CreateLink creates an invite link to conv
// (POST /v1/conversations/{conv}/links).
func (a *API) CreateLink(ctx context.Context, conv string, o LinkOptions) (protocol.InviteLink, error) {
	var l protocol.InviteLink
	err := a.do(ctx, "POST", convPath(conv)+"/links", o.body(""), &l)
	return l, err
}

// RevokeLink deletes a link of conv
// (DELETE /v1/conversations/{conv}/links/{token}).
func (a *API) RevokeLink(ctx context.Context, conv, token string) error {
	return a.do(ctx, "DELETE", convPath(conv)+"/links/"+url.PathEscape(token), nil, nil)
}

// Links lists conv's usable links (GET /v1/conversations/{conv}/links).
func (a *API) Links(ctx context.Context, conv string) (protocol.InviteLinkList, error) {
	var l protocol.InviteLinkList
	err := a.do(ctx, "GET", convPath(conv)+"/links", nil, &l)
	return l, err
}

// Join joins the group of a link, or asks to (POST /v1/join/{token}).
func (a *API) Join(ctx context.Context, token string) (protocol.JoinResult, error) {
	var r protocol.JoinResult
	err := a.do(ctx, "POST", "/v1/join/"+url.PathEscape(token), nil, &r)
	return r, err
}

// JoinRequests returns a page of conv's pending join requests
// (GET /v1/conversations/{conv}/join-requests).
func (a *API) JoinRequests(ctx context.Context, conv, after string, limit int) (protocol.JoinRequestList, error) {
	var l protocol.JoinRequestList
	err := a.do(ctx, "GET", pageQuery(convPath(conv)+"/join-requests", "", after, limit), nil, &l)
	return l, err
}

// AnswerJoinRequest approves or denies user's join request to conv
// (POST /v1/conversations/{conv}/join-requests/{user}/approve or /deny).
func (a *API) AnswerJoinRequest(ctx context.Context, conv, user string, approve bool) (protocol.Ack, error) {
	path := convPath(conv) + "/join-requests/" + url.PathEscape(user)
	var ack protocol.Ack
	if !approve {
		return ack, a.do(ctx, "POST", path+"/deny", nil, nil)
	}
	err := a.do(ctx, "POST", path+"/approve", nil, &ack)
	return ack, err
}

// GroupSettings returns conv's settings
// (GET /v1/conversations/{conv}/settings).
func (a *API) GroupSettings(ctx context.Context, conv string) (protocol.GroupSettings, error) {
	var s protocol.GroupSettings
	err := a.do(ctx, "GET", convPath(conv)+"/settings", nil, &s)
	return s, err
}

// SetJoinApproval turns conv's join approval on or off
// (PATCH /v1/conversations/{conv}/settings).
func (a *API) SetJoinApproval(ctx context.Context, conv string, on bool) (protocol.GroupSettings, error) {
	var s protocol.GroupSettings
	err := a.do(ctx, "PATCH", convPath(conv)+"/settings", map[string]bool{"join_approval": on}, &s)
	return s, err
}

func convPath(conv string) string { return "/v1/conversations/" + url.PathEscape(conv) }
