package parley

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"

	"github.com/parley-im/parley/protocol"
)

// Follows and moments (docs/protocol.md, Follows and moments). A user
// follows others and posts moments; the followers who may see a moment get
// it live as an Event of type protocol.TypeMoment (Event.Moment) and page
// the merged feed of everyone they follow. Following, posting, comments
// and likes are idempotent where the documentation says so; a refused
// request changes nothing.

// Follow follows user.
func (c *Client) Follow(ctx context.Context, user string) error {
	return c.request(ctx, protocol.Request{Op: protocol.OpFollow, Data: userData(user)}, true, nil)
}

// Unfollow stops following user.
func (c *Client) Unfollow(ctx context.Context, user string) error {
	return c.request(ctx, protocol.Request{Op: protocol.OpUnfollow, Data: userData(user)}, true, nil)
}

// RemoveFollower removes user from the user's followers; with notify, user
// gets an "unsub" entry (protocol.FollowUnsub) in their system
// conversation.
func (c *Client) RemoveFollower(ctx context.Context, user string, notify bool) error {
	data, _ := json.Marshal(struct {
		User   string `json:"user"`
		Notify bool   `json:"notify,omitempty"`
	}{user, notify})
	return c.request(ctx, protocol.Request{Op: protocol.OpRemoveFollower, Data: data}, true, nil)
}

// Followers returns a page of the user's followers, ordered by id, after
// the id after; limit 0 is the server's default.
func (c *Client) Followers(ctx context.Context, after string, limit int) (protocol.FollowList, error) {
	var l protocol.FollowList
	err := c.request(ctx, protocol.Request{Op: protocol.OpFollowers, Data: pageData("", after, limit)}, true, &l)
	return l, err
}

// Following returns a page of the users the user follows, as Followers.
func (c *Client) Following(ctx context.Context, after string, limit int) (protocol.FollowList, error) {
	var l protocol.FollowList
	err := c.request(ctx, protocol.Request{Op: protocol.OpFollowing, Data: pageData("", after, limit)}, true, &l)
	return l, err
}

// PostMoment posts a moment and returns it. Without a ClientMsgID one is
// made, so that the retry after a dropped connection posts it once.
func (c *Client) PostMoment(ctx context.Context, p protocol.MomentPost) (protocol.Moment, error) {
	if p.ClientMsgID == "" {
		p.ClientMsgID = NewClientMsgID()
	}
	data, err := json.Marshal(p)
	if err != nil {
		return protocol.Moment{}, err
	}
	var m protocol.Moment
	err = c.request(ctx, protocol.Request{Op: protocol.OpMomentPost, Data: data}, true, &m)
	return m, err
}

// Moment reads one moment.
func (c *Client) Moment(ctx context.Context, id int64) (protocol.Moment, error) {
	var m protocol.Moment
	err := c.request(ctx, protocol.Request{Op: protocol.OpMomentGet, Data: momentData(id)}, true, &m)
	return m, err
}

// DeleteMoment deletes one of the user's moments.
func (c *Client) DeleteMoment(ctx context.Context, id int64) error {
	return c.request(ctx, protocol.Request{Op: protocol.OpMomentDelete, Data: momentData(id)}, true, nil)
}

// Feed returns a page of the user's feed, newest first, from cursor (empty:
// the newest; a page's Next for the one after it); limit 0 is 20.
func (c *Client) Feed(ctx context.Context, cursor string, limit int) (protocol.MomentPage, error) {
	data, _ := json.Marshal(struct {
		Cursor string `json:"cursor,omitempty"`
		Limit  int    `json:"limit,omitempty"`
	}{cursor, limit})
	var p protocol.MomentPage
	err := c.request(ctx, protocol.Request{Op: protocol.OpMomentFeed, Data: data}, true, &p)
	return p, err
}

// UserMoments returns a page of user's moments that the user may see, as
// Feed pages.
func (c *Client) UserMoments(ctx context.Context, user, cursor string, limit int) (protocol.MomentPage, error) {
	data, _ := json.Marshal(struct {
		User   string `json:"user"`
		Cursor string `json:"cursor,omitempty"`
		Limit  int    `json:"limit,omitempty"`
	}{user, cursor, limit})
	var p protocol.MomentPage
	err := c.request(ctx, protocol.Request{Op: protocol.OpMoments, Data: data}, true, &p)
	return p, err
}

// Comment comments on a moment.
func (c *Client) Comment(ctx context.Context, moment int64, text string) (protocol.MomentComment, error) {
	data, _ := json.Marshal(struct {
		Moment int64  `json:"moment"`
		Text   string `json:"text"`
	}{moment, text})
	var cm protocol.MomentComment
	err := c.request(ctx, protocol.Request{Op: protocol.OpMomentComment, Data: data}, false, &cm)
	return cm, err
}

// DeleteComment deletes a comment of the user's, or one on the user's
// moment.
func (c *Client) DeleteComment(ctx context.Context, moment, comment int64) error {
	data, _ := json.Marshal(struct {
		Moment  int64 `json:"moment"`
		Comment int64 `json:"comment"`
	}{moment, comment})
	return c.request(ctx, protocol.Request{Op: protocol.OpMomentUncomment, Data: data}, true, nil)
}

// Comments returns a page of a moment's comments, oldest first, after the
// comment after (0: the first).
func (c *Client) Comments(ctx context.Context, moment, after int64, limit int) (protocol.MomentCommentPage, error) {
	data, _ := json.Marshal(struct {
		Moment int64 `json:"moment"`
		After  int64 `json:"after,omitempty"`
		Limit  int   `json:"limit,omitempty"`
	}{moment, after, limit})
	var p protocol.MomentCommentPage
	err := c.request(ctx, protocol.Request{Op: protocol.OpMomentComments, Data: data}, true, &p)
	return p, err
}

// Like likes a moment (like false takes the like back).
func (c *Client) Like(ctx context.Context, moment int64, like bool) error {
	data, _ := json.Marshal(struct {
		Moment int64 `json:"moment"`
		Like   bool  `json:"like"`
	}{moment, like})
	return c.request(ctx, protocol.Request{Op: protocol.OpMomentLike, Data: data}, true, nil)
}

// Likes returns a page of a moment's likes, ordered by user id.
func (c *Client) Likes(ctx context.Context, moment int64, after string, limit int) (protocol.MomentLikeList, error) {
	data, _ := json.Marshal(struct {
		Moment int64  `json:"moment"`
		After  string `json:"after,omitempty"`
		Limit  int    `json:"limit,omitempty"`
	}{moment, after, limit})
	var l protocol.MomentLikeList
	err := c.request(ctx, protocol.Request{Op: protocol.OpMomentLikes, Data: data}, true, &l)
	return l, err
}

func momentData(id int64) json.RawMessage {
	return jsonData(struct {
		Moment int64 `json:"moment"`
	}{id})
}

// Follow follows user (POST /v1/follows/{user}).
func (a *API) Follow(ctx context.Context, user string) error {
	return a.do(ctx, "POST", "/v1/follows/"+url.PathEscape(user), nil, nil)
}

// Unfollow stops following user (DELETE /v1/follows/{user}).
func (a *API) Unfollow(ctx context.Context, user string) error {
	return a.do(ctx, "DELETE", "/v1/follows/"+url.PathEscape(user), nil, nil)
}

// RemoveFollower removes user from the user's followers (DELETE
// /v1/followers/{user}), telling them with notify.
func (a *API) RemoveFollower(ctx context.Context, user string, notify bool) error {
	return a.do(ctx, "DELETE", "/v1/followers/"+url.PathEscape(user)+"?notify="+strconv.FormatBool(notify), nil, nil)
}

// Followers returns a page of the user's followers (GET /v1/followers).
func (a *API) Followers(ctx context.Context, after string, limit int) (protocol.FollowList, error) {
	var l protocol.FollowList
	err := a.do(ctx, "GET", "/v1/followers"+query("after", after, limit), nil, &l)
	return l, err
}

// Following returns a page of the users the user follows (GET
// /v1/following).
func (a *API) Following(ctx context.Context, after string, limit int) (protocol.FollowList, error) {
	var l protocol.FollowList
	err := a.do(ctx, "GET", "/v1/following"+query("after", after, limit), nil, &l)
	return l, err
}

// PostMoment posts a moment (POST /v1/moments); without a ClientMsgID one
// is made.
func (a *API) PostMoment(ctx context.Context, p protocol.MomentPost) (protocol.Moment, error) {
	if p.ClientMsgID == "" {
		p.ClientMsgID = NewClientMsgID()
	}
	var m protocol.Moment
	err := a.do(ctx, "POST", "/v1/moments", p, &m)
	return m, err
}

// Moment reads one moment (GET /v1/moments/{id}).
func (a *API) Moment(ctx context.Context, id int64) (protocol.Moment, error) {
	var m protocol.Moment
	err := a.do(ctx, "GET", "/v1/moments/"+strconv.FormatInt(id, 10), nil, &m)
	return m, err
}

// DeleteMoment deletes one of the user's moments (DELETE
// /v1/moments/{id}).
func (a *API) DeleteMoment(ctx context.Context, id int64) error {
	return a.do(ctx, "DELETE", "/v1/moments/"+strconv.FormatInt(id, 10), nil, nil)
}

// Feed returns a page of the user's feed (GET /v1/moments/feed), as
// Client.Feed.
func (a *API) Feed(ctx context.Context, cursor string, limit int) (protocol.MomentPage, error) {
	var p protocol.MomentPage
	err := a.do(ctx, "GET", "/v1/moments/feed"+query("cursor", cursor, limit), nil, &p)
	return p, err
}

// UserMoments returns a page of user's moments (GET
// /v1/users/{user}/moments).
func (a *API) UserMoments(ctx context.Context, user, cursor string, limit int) (protocol.MomentPage, error) {
	var p protocol.MomentPage
	err := a.do(ctx, "GET", "/v1/users/"+url.PathEscape(user)+"/moments"+query("cursor", cursor, limit), nil, &p)
	return p, err
}

// Comment comments on a moment (POST /v1/moments/{id}/comments).
func (a *API) Comment(ctx context.Context, moment int64, text string) (protocol.MomentComment, error) {
	var cm protocol.MomentComment
	err := a.do(ctx, "POST", "/v1/moments/"+strconv.FormatInt(moment, 10)+"/comments", map[string]string{"text": text}, &cm)
	return cm, err
}

// DeleteComment deletes a comment (DELETE
// /v1/moments/{id}/comments/{comment}).
func (a *API) DeleteComment(ctx context.Context, moment, comment int64) error {
	return a.do(ctx, "DELETE", "/v1/moments/"+strconv.FormatInt(moment, 10)+"/comments/"+strconv.FormatInt(comment, 10), nil, nil)
}

// Comments returns a page of a moment's comments (GET
// /v1/moments/{id}/comments).
func (a *API) Comments(ctx context.Context, moment, after int64, limit int) (protocol.MomentCommentPage, error) {
	a0 := ""
	if after > 0 {
		a0 = strconv.FormatInt(after, 10)
	}
	var p protocol.MomentCommentPage
	err := a.do(ctx, "GET", "/v1/moments/"+strconv.FormatInt(moment, 10)+"/comments"+query("after", a0, limit), nil, &p)
	return p, err
}

// Like likes a moment, or takes the like back (PUT or DELETE
// /v1/moments/{id}/like).
func (a *API) Like(ctx context.Context, moment int64, like bool) error {
	method := "PUT"
	if !like {
		method = "DELETE"
	}
	return a.do(ctx, method, "/v1/moments/"+strconv.FormatInt(moment, 10)+"/like", nil, nil)
}

// Likes returns a page of a moment's likes (GET /v1/moments/{id}/likes).
func (a *API) Likes(ctx context.Context, moment int64, after string, limit int) (protocol.MomentLikeList, error) {
	var l protocol.MomentLikeList
	err := a.do(ctx, "GET", "/v1/moments/"+strconv.FormatInt(moment, 10)+"/likes"+query("after", after, limit), nil, &l)
	return l, err
}

// query is "?key=value&limit=n" with the empty ones left out.
func query(key, value string, limit int) string {
	q := url.Values{}
	if value != "" {
		q.Set(key, value)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}
