package parley

import (
	"context"
	"net/url"
	"time"

	"github.com/parley-im/parley/protocol"
)

// Tags and system notices (docs/operations.md, "Tags and system notices";
// the admin API, so methods of Admin). The server keeps tags per user
// (key → value: region=beijing, plan=pro), and one call sends a notice to
// a tag expression ("region=hangzhou AND plan=pro", "NOT plan=free", "*"
// for every user): each user it matches when the notice is created gets a
// copy in their system conversation, a message from protocol.SystemSender
// whose Social.Notice is the notice's id, live and on resume. The copies
// are stored in the background; Notice and WaitNotice follow the progress.

// UserTags returns user's tags (GET /v1/admin/users/{user}/tags).
func (a *Admin) UserTags(ctx context.Context, user string) (protocol.UserTags, error) {
	var t protocol.UserTags
	err := a.do(ctx, "GET", tagsPath(user), nil, &t)
	return t, err
}

// SetTags replaces all of user's tags with tags (empty: none) and returns
// them (PUT /v1/admin/users/{user}/tags). A notice already created keeps
// its audience.
func (a *Admin) SetTags(ctx context.Context, user string, tags map[string]string) (protocol.UserTags, error) {
	if tags == nil {
		tags = map[string]string{}
	}
	var t protocol.UserTags
	err := a.do(ctx, "PUT", tagsPath(user), map[string]any{"tags": tags}, &t)
	return t, err
}

// UpdateTags sets the keys of u.Set, then deletes those of u.Delete, and
// returns user's tags afterwards (PATCH /v1/admin/users/{user}/tags); the
// other tags stay.
func (a *Admin) UpdateTags(ctx context.Context, user string, u protocol.TagsUpdate) (protocol.UserTags, error) {
	var t protocol.UserTags
	err := a.do(ctx, "PATCH", tagsPath(user), u, &t)
	return t, err
}

// DeleteTag deletes one of user's tags and returns those left (DELETE
// /v1/admin/users/{user}/tags/{key}); a key the user does not have
// changes nothing.
func (a *Admin) DeleteTag(ctx context.Context, user, key string) (protocol.UserTags, error) {
	var t protocol.UserTags
	err := a.do(ctx, "DELETE", tagsPath(user)+"/"+url.PathEscape(key), nil, &t)
	return t, err
}

// ImportTags changes the tags of many users in one request (POST
// /v1/admin/tags): each entry sets the keys it names, an empty value
// deleting the key (imp.Replace: the user's tags become exactly the
// entry's; imp.CreateUsers: a user that does not exist is created, without
// a password). One malformed entry refuses the whole request (400, with
// Field "users[i]") and changes nothing; otherwise an entry that fails
// alone (an unknown user, too many tags) is listed in the result's Failed
// by its index, and the others are applied. A request holds at most
// 10,000 users and limits.max_frame_bytes bytes (73,728 by default; 413
// beyond): split larger imports, or run `parley tags import` on the
// server. Importing the same entries again changes nothing.
func (a *Admin) ImportTags(ctx context.Context, imp protocol.TagsImport) (protocol.TagsImportResult, error) {
	var r protocol.TagsImportResult
	err := a.do(ctx, "POST", "/v1/admin/tags", imp, &r)
	return r, err
}

// Audience returns how many users the tag expression to matches now, and
// to in its canonical form, without sending anything (GET
// /v1/admin/tags/audience). An expression that does not parse is a 400
// whose message names the position.
func (a *Admin) Audience(ctx context.Context, to string) (protocol.Audience, error) {
	var au protocol.Audience
	err := a.do(ctx, "GET", "/v1/admin/tags/audience?"+url.Values{"to": {to}}.Encode(), nil, &au)
	return au, err
}

// SendNotice creates a system notice to the users whose tags match n.To
// (POST /v1/admin/notices) and returns it at once, in state
// protocol.NoticeSending with Matched -1: the audience is counted, and the
// copies stored, in the background (WaitNotice waits for the end). The
// audience is fixed now: users tagged, or created, later do not get it.
//
// A notice has no client id: after an error other than a 4xx it may have
// been created, so look at Notices before sending it again. A refusal by
// notices.per_minute (429, nothing created) is returned, not waited out.
func (a *Admin) SendNotice(ctx context.Context, n protocol.NoticeRequest) (protocol.Notice, error) {
	var out protocol.Notice
	err := a.do(ctx, "POST", "/v1/admin/notices", n, &out)
	return out, err
}

// Notice returns a notice and its progress (GET /v1/admin/notices/{id}).
func (a *Admin) Notice(ctx context.Context, id string) (protocol.Notice, error) {
	var n protocol.Notice
	err := a.do(ctx, "GET", noticePath(id), nil, &n)
	return n, err
}

// Notices returns a page of notices, newest first, after the notice before
// (empty: the newest; a page's Next for the one after it); limit 0 is the
// server's default (20), at most 100 (GET /v1/admin/notices). Next is
// empty on the last page.
func (a *Admin) Notices(ctx context.Context, before string, limit int) (protocol.NoticeList, error) {
	var l protocol.NoticeList
	err := a.do(ctx, "GET", "/v1/admin/notices"+query("before", before, limit), nil, &l)
	return l, err
}

// CancelNotice stops sending a notice and returns it (POST
// /v1/admin/notices/{id}/cancel): the copies stored stay, no more are
// stored. A notice already done or cancelled is returned as it is, so
// check its State.
func (a *Admin) CancelNotice(ctx context.Context, id string) (protocol.Notice, error) {
	var n protocol.Notice
	err := a.do(ctx, "POST", noticePath(id)+"/cancel", nil, &n)
	return n, err
}

// WaitNotice polls a notice every interval (0: a second) until it is no
// longer sending, and returns it: State protocol.NoticeDone (Stored plus
// Skipped is Matched) or protocol.NoticeCancelled. It returns ctx's error
// if ctx ends first, with the notice as last seen.
func (a *Admin) WaitNotice(ctx context.Context, id string, interval time.Duration) (protocol.Notice, error) {
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := a.Notice(ctx, id)
		if err != nil || n.State != protocol.NoticeSending {
			return n, err
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return n, ctx.Err()
		}
	}
}

func tagsPath(user string) string { return "/v1/admin/users/" + url.PathEscape(user) + "/tags" }

func noticePath(id string) string { return "/v1/admin/notices/" + url.PathEscape(id) }
